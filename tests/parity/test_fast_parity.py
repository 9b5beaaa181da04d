"""The C byte-level BPE fast path against the reference `tokenizers` library and tiktoken.

Real vocabularies (GPT-2 tokenizer.json, Qwen2 vocab/merges with its pattern and NFC,
Llama 3 tiktoken ranks) on every line of tinyshakespeare and wikitext2 and a few
thousand lines of tinystories: ids, char offsets and word indices must be identical.
"""

from __future__ import annotations

import json
import unicodedata

import pytest
import tiktoken
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

from snuggle.tokenizers.converters import from_tiktoken, load_tiktoken_ranks
from snuggle.tokenizers.fast import LLAMA3_PATTERN, QWEN2_PATTERN, plan_fast_path
from snuggle.tokenizers.models.bpe import BPE
from tests.tokenizers.test_fast import hard_strings

DATA = "/work/shared/datasets"
TOK = f"{DATA}/tokenizers"


def corpus() -> list[str]:
    """Every line of tinyshakespeare and wikitext2, 4000 lines of tinystories, and the
    three files' first paragraphs joined (multi-line texts)."""
    texts = []
    for path, limit in (
        (f"{DATA}/tinyshakespeare/input.txt", None),
        (f"{DATA}/wikitext2/wiki.test.raw", None),
        (f"{DATA}/tinystories/tinystories_train_head_2MiB.txt", 4000),
    ):
        with open(path, encoding="utf-8") as f:
            content = f.read()
        lines = content.splitlines(keepends=True)[:limit]
        texts += [line for line in lines if "<|endoftext|>" not in line]  # added tokens: not this path
        texts += [p for p in content[:200_000].split("\n\n") if "<|endoftext|>" not in p][:300]
    return texts


def assert_same(fast, reference: Tokenizer, texts: list[str]) -> None:
    """encode_batch and encode_full_batch (tokens, and offsets/words shifted by per-text
    bases) against the reference's ids, tokens, offsets and word ids."""
    expected = reference.encode_batch(texts, add_special_tokens=False)
    got = fast.encode_batch(texts)
    char_bases, word_bases = [i % 97 for i in range(len(texts))], [i % 13 for i in range(len(texts))]
    got_full = fast.encode_full_batch(texts, char_bases, word_bases)
    for text, enc, res, full, c, w in zip(texts, expected, got, got_full, char_bases, word_bases):
        if res is None:  # declined: only texts that NFC would change, which the Python path takes
            assert fast.requires_nfc and not unicodedata.is_normalized("NFC", text), repr(text)
            assert full is None
            continue
        assert (res[0], res[1], res[2]) == (enc.ids, enc.offsets, enc.word_ids), repr(text)
        ids, tokens, offsets, words, n_words = full
        assert (ids, tokens) == (enc.ids, enc.tokens), repr(text)
        assert offsets == [(a + c, b + c) for a, b in enc.offsets], repr(text)
        assert words == [x + w for x in enc.word_ids], repr(text)
        assert n_words == len(reference.pre_tokenizer.pre_tokenize_str(text)) if text else n_words == 0


def pipeline_parts(tokenizer_dict: dict):
    return tokenizer_dict.get("normalizer"), tokenizer_dict["pre_tokenizer"]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus()


def gpt2_pair():
    path = f"{TOK}/gpt2/tokenizer.json"
    reference = Tokenizer.from_file(path)
    reference.post_processor = None
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    fast = plan_fast_path(*pipeline_parts(d), BPE.from_dict(d["model"]))
    assert fast is not None
    return fast, reference


def test_gpt2_tokenizer_json(texts):
    fast, reference = gpt2_pair()
    assert_same(fast, reference, texts[::10] + hard_strings(3000, seed=11))


@pytest.mark.slow
def test_gpt2_tokenizer_json_all_lines(texts):
    fast, reference = gpt2_pair()
    assert_same(fast, reference, texts)


def test_gpt2_add_prefix_space(texts):
    path = f"{TOK}/gpt2/tokenizer.json"
    reference = Tokenizer.from_file(path)
    reference.post_processor = None
    reference.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    pre = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    fast = plan_fast_path(None, pre, BPE.from_dict(d["model"]))
    assert_same(fast, reference, texts[::20] + hard_strings(2000, seed=12))


@pytest.mark.slow
def test_qwen2_vocab_merges_with_nfc(texts):
    vocab, merges = f"{TOK}/qwen2/vocab.json", f"{TOK}/qwen2/merges.txt"
    with open(f"{TOK}/qwen2/tokenizer_spec.json", encoding="utf-8") as f:
        assert json.load(f)["pre_tokenizer_regex"] == QWEN2_PATTERN
    reference = Tokenizer(models.BPE.from_file(vocab, merges))
    reference.normalizer = normalizers.NFC()
    reference.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    d = json.loads(reference.to_str())
    fast = plan_fast_path(*pipeline_parts(d), BPE.from_file(vocab, merges))
    assert fast is not None and fast.requires_nfc
    # the llama.cpp Qwen2 test strings too (CJK, emoji, digit runs, whitespace runs)
    with open(f"{DATA}/llamacpp_vocab/ggml-vocab-qwen2.gguf.inp", encoding="utf-8") as f:
        llamacpp = [s for s in f.read().split("\n__ggml_vocab_test__\n") if s]
    assert_same(fast, reference, texts + llamacpp + hard_strings(2000, seed=13))


@pytest.mark.slow
def test_llama3_ranks_against_tiktoken_and_tokenizers(texts):
    model_path = f"{TOK}/llama3/tokenizer.model"
    d = from_tiktoken(model_path)
    reference = Tokenizer.from_str(json.dumps(d))
    reference.post_processor = None
    fast = plan_fast_path(*pipeline_parts(d), BPE.from_dict(d["model"]))
    assert fast is not None
    sample = texts + hard_strings(2000, seed=14)
    assert_same(fast, reference, sample)
    ranks = load_tiktoken_ranks(model_path)
    encoding = tiktoken.Encoding("llama3-ranks", pat_str=LLAMA3_PATTERN, mergeable_ranks=ranks, special_tokens={})
    expected = encoding.encode_ordinary_batch(sample)
    got = fast.encode_batch(sample)
    for text, ids, res in zip(sample, expected, got):
        assert res[0] == ids, repr(text)
