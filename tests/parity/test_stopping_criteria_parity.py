"""StopStringCriteria parity with transformers on real tokenizers (GPT-2 byte-level, Llama-2 byte-fallback).

Both criteria see the same token sequences: stop strings split over several tokens, overhanging the
final token, followed by extra tokens, multi-byte characters cut inside a token, and random ids.
"""

import random
import shutil

import pytest
import torch
import transformers
from transformers.generation import stopping_criteria as ref

from snuggle.generation.stopping_criteria import StopStringCriteria
from snuggle.tokenizers.pretrained import AutoTokenizer
from tests.conftest import DATASETS

TOKENIZERS = DATASETS / "tokenizers"
STOP_SETS = [
    ["stop"],
    ["\n\n", "User:", " the"],
    ["é", "日本", "a"],
    ["<|endoftext|>", "ing.", "Stop!"],
]
TEXTS = [
    "We stop here. The stopper was nonstop, stopping.\n\nUser: hi the end",
    "Café é au lait; 日本語 and 日本, the aardvark ate bananas.",
    "Nothing to see... thinking. Stop! <|endoftext|> sing.",
]


@pytest.fixture(scope="module")
def gpt2():
    path = TOKENIZERS / "gpt2"
    return AutoTokenizer.from_pretrained(str(path)), transformers.AutoTokenizer.from_pretrained(str(path))


@pytest.fixture(scope="module")
def llama2(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama2")
    shutil.copy(TOKENIZERS / "llama2" / "tokenizer.model", folder / "tokenizer.model")
    (folder / "tokenizer_config.json").write_text(
        '{"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}'
    )
    return AutoTokenizer.from_pretrained(str(folder)), transformers.AutoTokenizer.from_pretrained(str(folder))


def _sequences(tokenizer, stop_strings, rng: random.Random, count: int) -> list[list[int]]:
    """Token sequences around the stop strings: split into random chunks, cut, overhung, random."""
    vocab_size = len(tokenizer.get_vocab())
    sequences = []
    for _ in range(count):
        kind = rng.randrange(4)
        if kind == 0:  # a stop string cut into random character chunks, each tokenized separately
            stop = rng.choice(stop_strings)
            cuts = sorted(rng.sample(range(1, len(stop)), min(len(stop) - 1, rng.randrange(3)))) if len(stop) > 1 else []
            chunks = [stop[a:b] for a, b in zip([0, *cuts], [*cuts, len(stop)])]
            before, after = rng.choice(["", "x", " so", "la", "\n"]), rng.choice(["", "", "per", "s", " now", "!"])
            chunks = [before + chunks[0], *chunks[1:-1], chunks[-1] + after] if len(chunks) > 1 else [before + chunks[0] + after]
            ids = [i for chunk in chunks for i in tokenizer(chunk, add_special_tokens=False)["input_ids"]]
        elif kind == 1:  # a prefix of a natural text, cut at a random token
            ids = tokenizer(rng.choice(TEXTS), add_special_tokens=False)["input_ids"]
            ids = ids[: rng.randrange(1, len(ids) + 1)]
        elif kind == 2:  # a random text's tokens with a stop string's tokens spliced at the end
            ids = tokenizer(rng.choice(TEXTS), add_special_tokens=False)["input_ids"][: rng.randrange(1, 8)]
            ids += tokenizer(rng.choice(stop_strings), add_special_tokens=False)["input_ids"]
        else:  # random ids (including ones no text produces)
            ids = [rng.randrange(vocab_size) for _ in range(rng.randrange(1, 12))]
        if rng.random() < 0.2:
            ids.append(rng.randrange(vocab_size))  # a trailing token: the match must be gone
        sequences.append(ids)
    return sequences


def _left_pad(sequences, pad_id):
    width = max(len(s) for s in sequences)
    return torch.tensor([[pad_id] * (width - len(s)) + s for s in sequences])


def _check(tokenizers, seed, count=150):
    ours_tok, ref_tok = tokenizers
    rng = random.Random(seed)
    pad = ref_tok.eos_token_id
    positives = 0
    for stop_strings in STOP_SETS:
        ours = StopStringCriteria(tokenizer=ours_tok, stop_strings=stop_strings)
        theirs = ref.StopStringCriteria(tokenizer=ref_tok, stop_strings=stop_strings)
        sequences = _sequences(ref_tok, stop_strings, rng, count)
        input_ids = _left_pad(sequences, pad)
        expected = theirs(input_ids, None)
        got = ours(input_ids, None)
        mismatches = [
            (ref_tok.convert_ids_to_tokens(sequences[i]), bool(expected[i]))
            for i in range(len(sequences)) if bool(got[i]) != bool(expected[i])
        ]
        assert not mismatches, f"{stop_strings}: {mismatches[:5]}"
        positives += int(expected.sum())
        # Row by row (batch of one) gives the same answers.
        for i in range(0, len(sequences), 25):
            one = torch.tensor([sequences[i]])
            assert bool(ours(one, None)[0]) == bool(theirs(one, None)[0])
    assert positives > count // 4  # the sequences do exercise matches, not only non-matches


@pytest.mark.parametrize("seed", [0, 1])
def test_stop_strings_match_reference_gpt2(gpt2, seed):
    _check(gpt2, seed)


@pytest.mark.parametrize("seed", [0, 1])
def test_stop_strings_match_reference_llama2(llama2, seed):
    _check(llama2, seed)


def test_docstring_examples_gpt2(gpt2):
    """The reference's documented positive and negative examples for the stop string "stop"."""
    ours_tok, ref_tok = gpt2
    ours = StopStringCriteria(tokenizer=ours_tok, stop_strings="stop")
    theirs = ref.StopStringCriteria(tokenizer=ref_tok, stop_strings="stop")
    examples = [["st", "op"], ["stop"], ["st", "opera"], ["sto", "pper"], ["las", "topper"], ["s", "to", "pped"],
                ["stop", "at"], ["st", "op", "at"], ["st", "opera", "tion"]]
    vocab = ref_tok.get_vocab()
    present = [pieces for pieces in examples if all(p in vocab for p in pieces)]
    assert len(present) >= 5
    for pieces in present:
        ids = torch.tensor([[vocab[p] for p in pieces]])
        assert bool(ours(ids, None)[0]) == bool(theirs(ids, None)[0]), pieces
