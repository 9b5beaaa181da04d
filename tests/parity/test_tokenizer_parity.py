"""Whole-pipeline parity: snuggle.tokenizers.Tokenizer vs tokenizers.Tokenizer on the same tokenizer.json.

Same ids, tokens, offsets, word ids, type ids, special-token masks and decoded text on lines of
the shared corpora and a set of hard strings; same JSON after a load/save round trip.
"""

from __future__ import annotations

import json
import math

import pytest
from tokenizers import Tokenizer as RefTokenizer

from snuggle.tokenizers import Tokenizer
from tests.conftest import DATASETS, minilm_dir
from tests.corpus import HARD_STRINGS, all_inputs

TOKENIZER_FILES = {
    "gpt2": DATASETS / "tokenizers" / "gpt2" / "tokenizer.json",
    "pegasus-unigram": DATASETS / "tokenizers" / "pegasus-unigram" / "tokenizer.json",
    "minilm": None,  # resolved at run time from the installed package
}


def _path(name):
    p = TOKENIZER_FILES[name]
    return p if p is not None else minilm_dir() / "tokenizer.json"


@pytest.fixture(scope="module", params=list(TOKENIZER_FILES))
def pair(request):
    text = _path(request.param).read_text(encoding="utf-8")
    return request.param, Tokenizer.from_str(text), RefTokenizer.from_str(text)


def _fields(e):
    return {
        "ids": list(e.ids),
        "tokens": list(e.tokens),
        "offsets": [tuple(o) for o in e.offsets],
        "word_ids": list(e.word_ids),
        "type_ids": list(e.type_ids),
        "special_tokens_mask": list(e.special_tokens_mask),
        "attention_mask": list(e.attention_mask),
        "sequence_ids": list(e.sequence_ids),
    }


def assert_same_encoding(ours, ref, context=""):
    a, b = _fields(ours), _fields(ref)
    for k in a:
        assert a[k] == b[k], f"{context}: field {k} differs\n ours={a[k][:40]}\n  ref={b[k][:40]}"
    assert len(ours.overflowing) == len(ref.overflowing), context
    for o, r in zip(ours.overflowing, ref.overflowing):
        assert_same_encoding(o, r, context + " (overflowing)")


def same_json(a, b) -> bool:
    """Equal JSON values; floats may differ in the last bit (the reference's JSON float
    parser is not correctly rounded, so it re-serializes some scores one ulp away)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-14, abs_tol=0)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return a == b


def test_json_round_trip_equals_reference(pair):
    name, ours, ref = pair
    assert same_json(json.loads(ours.to_str()), json.loads(ref.to_str())), name
    again = Tokenizer.from_str(ours.to_str(pretty=True))
    assert json.loads(again.to_str()) == json.loads(ours.to_str())
    # numbers are read as the reference reads them: same floats to the bit
    assert json.loads(ours.to_str())["model"]["vocab"] == json.loads(ref.to_str())["model"]["vocab"]


def test_encode_corpus_and_hard_strings(pair):
    name, ours, ref = pair
    for text in all_inputs(150):
        for special in (True, False):
            assert_same_encoding(ours.encode(text, add_special_tokens=special), ref.encode(text, add_special_tokens=special), f"{name} {text[:60]!r}")


def test_decode(pair):
    name, ours, ref = pair
    for text in all_inputs(60):
        ids = ref.encode(text).ids
        for skip in (True, False):
            assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip), f"{name} {text[:60]!r}"


def test_pairs_truncation_padding(pair):
    name, ours, ref = pair
    texts = all_inputs(20)
    for strategy in ("longest_first", "only_first", "only_second"):
        for direction in ("right", "left"):
            for t in (ours, ref):
                t.enable_truncation(24, stride=4, strategy=strategy, direction=direction)
                t.enable_padding(direction="left" if direction == "right" else "right", pad_id=3, pad_token="<pad>", pad_to_multiple_of=8)
            for a, b in zip(texts, texts[7:] + texts[:7]):
                try:
                    r = ref.encode(a, b)
                except BaseException:  # reference refuses (or panics, a BaseException): we must refuse too
                    with pytest.raises(Exception):
                        ours.encode(a, b)
                    continue
                assert_same_encoding(ours.encode(a, b), r, f"{name} {strategy} {direction} {a[:30]!r}|{b[:30]!r}")
    for t in (ours, ref):
        t.no_truncation()
        t.no_padding()


def test_batch_with_padding(pair):
    name, ours, ref = pair
    texts = all_inputs(10)
    for t in (ours, ref):
        t.enable_padding(pad_id=0, pad_token="[PAD]")
    try:
        for o, r in zip(ours.encode_batch(texts), ref.encode_batch(texts)):
            assert_same_encoding(o, r, name)
    finally:
        ours.no_padding()
        ref.no_padding()


def test_pretokenized_input(pair):
    name, ours, ref = pair
    words = ["Hello", "wörld", "!", "  spaced", ""]
    assert_same_encoding(ours.encode(words, is_pretokenized=True), ref.encode(words, is_pretokenized=True), name)


def test_added_tokens_behave_like_reference(pair):
    from tokenizers import AddedToken as RefAdded

    from snuggle.tokenizers import AddedToken

    name, _, _ = pair
    text = _path(name).read_text(encoding="utf-8")
    ours, ref = Tokenizer.from_str(text), RefTokenizer.from_str(text)
    specs = [
        dict(content="[NEW]", special=True),
        dict(content="<mask>", lstrip=True, rstrip=True, special=True),
        dict(content="hello world", normalized=False),
        dict(content="ing", single_word=True),
        dict(content="Yesterday", normalized=True),
    ]
    for spec in specs:
        ours.add_tokens([AddedToken(**spec)])
        ref.add_tokens([RefAdded(**spec)])
    samples = ["[NEW] tokenizing ing <mask> yes", "say hello world <mask>  x", "I saw Yesterday ing", "a[NEW]b"] + HARD_STRINGS[:10]
    for s in samples:
        assert_same_encoding(ours.encode(s), ref.encode(s), f"{name} {s!r}")
        assert ours.decode(ours.encode(s).ids) == ref.decode(ref.encode(s).ids)
    assert same_json(json.loads(ours.to_str()), json.loads(ref.to_str()))
    ours.encode_special_tokens = True
    ref.encode_special_tokens = True
    for s in samples[:3]:
        assert_same_encoding(ours.encode(s), ref.encode(s), f"encode_special_tokens {s!r}")
