"""Whole-pipeline parity for the tokenizers that ship as slow files (vocab.txt, SentencePiece
.model, vocab.json + merges.txt with a tiktoken-style split, tiktoken ranks): the converted
tokenizer.json is loaded by both libraries, and every field of every encoding must agree, as
must decoding. (Whether the conversion itself is right is tested in test_converters_parity.py.)
"""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer as RefTokenizer

from snuggle.tokenizers import Tokenizer, converters
from tests.conftest import DATASETS
from tests.corpus import all_inputs
from tests.parity.test_tokenizer_parity import assert_same_encoding

TOK = DATASETS / "tokenizers"
QWEN_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def bert() -> dict:
    return converters.from_wordpiece_vocab(TOK / "bert-base-uncased" / "vocab.txt")


def llama2() -> dict:
    return converters.from_sentencepiece(TOK / "llama2" / "tokenizer.model")


def qwen2() -> dict:
    d = converters.from_vocab_merges(TOK / "qwen2" / "vocab.json", TOK / "qwen2" / "merges.txt")
    d["normalizer"] = {"type": "NFC"}
    d["pre_tokenizer"] = {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN_PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        ],
    }
    return d


def llama3() -> dict:
    spec = json.loads((TOK / "llama3" / "test_vectors.json").read_text())
    special = spec.get("special_tokens") or {}
    if isinstance(special, list):
        special = {t: 128000 + i for i, t in enumerate(special)}
    return converters.from_tiktoken(TOK / "llama3" / "tokenizer.model", special_tokens=special, bos_token="<|begin_of_text|>")


CASES = {"bert-base-uncased": bert, "llama2": llama2, "qwen2": qwen2, "llama3": llama3}


@pytest.fixture(scope="module", params=list(CASES.values()), ids=list(CASES))
def pair(request):
    text = json.dumps(request.param())
    return Tokenizer.from_str(text), RefTokenizer.from_str(text)


def test_encode_and_decode_match(pair):
    ours, ref = pair
    for text in all_inputs(100):
        for special in (True, False):
            r = ref.encode(text, add_special_tokens=special)
            assert_same_encoding(ours.encode(text, add_special_tokens=special), r, repr(text[:60]))
            assert ours.decode(r.ids) == ref.decode(r.ids), repr(text[:60])
            assert ours.decode(r.ids, skip_special_tokens=False) == ref.decode(r.ids, skip_special_tokens=False)


def test_batch_and_pairs_match(pair):
    ours, ref = pair
    texts = all_inputs(15)
    for o, r in zip(ours.encode_batch(texts), ref.encode_batch(texts)):
        assert_same_encoding(o, r, "batch")
    for a, b in zip(texts, texts[3:]):
        assert_same_encoding(ours.encode(a, b), ref.encode(a, b), f"pair {a[:20]!r}")


def test_json_round_trip(pair):
    ours, ref = pair
    assert json.loads(ours.to_str()) == json.loads(ref.to_str())


def _reference_trained(kind: str) -> str:
    from tokenizers import models, normalizers, pre_tokenizers, trainers

    text = (DATASETS / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[:200_000].splitlines()
    if kind == "bpe":
        tok = RefTokenizer(models.BPE(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=800, special_tokens=["[UNK]", "<s>"], show_progress=False)
    elif kind == "wordpiece":
        tok = RefTokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer()
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.WordPieceTrainer(vocab_size=800, special_tokens=["[UNK]", "[CLS]"], show_progress=False)
    elif kind == "unigram":
        tok = RefTokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=500, special_tokens=["<unk>"], unk_token="<unk>", show_progress=False)
    else:
        tok = RefTokenizer(models.WordLevel(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordLevelTrainer(vocab_size=800, special_tokens=["[UNK]"], show_progress=False)
    tok.train_from_iterator(text, trainer)
    return tok.to_str()


@pytest.mark.parametrize("kind", ["bpe", "wordpiece", "unigram", "wordlevel"])
def test_reference_trained_tokenizers_round_trip_and_encode_alike(kind):
    text = _reference_trained(kind)
    ours, ref = Tokenizer.from_str(text), RefTokenizer.from_str(text)
    assert json.loads(ours.to_str()) == json.loads(ref.to_str())
    assert json.loads(Tokenizer.from_str(ours.to_str(pretty=True)).to_str()) == json.loads(ours.to_str())
    for line in all_inputs(20):
        assert_same_encoding(ours.encode(line), ref.encode(line), f"{kind} {line[:40]!r}")
        assert ours.decode(ref.encode(line).ids) == ref.decode(ref.encode(line).ids)
