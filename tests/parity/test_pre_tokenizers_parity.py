"""Parity of snuggle.tokenizers.pre_tokenizers with the reference `tokenizers` library:
pre_tokenize_str words and offsets, offsets after a normalizer, and tokenizer.json objects."""

from __future__ import annotations

import json
import pickle
import unicodedata

import pytest
import tokenizers
from tokenizers import normalizers as RN
from tokenizers import pre_tokenizers as RP

from snuggle.tokenizers import normalizers as N
from snuggle.tokenizers import pre_tokenizers as P
from snuggle.tokenizers.normalized import PreTokenizedString, Regex
from tests.parity.test_normalizers_parity import DATA, SAMPLES, corpus_lines

RR = tokenizers.Regex
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def pairs():
    out = [
        (P.ByteLevel(), RP.ByteLevel()),
        (P.ByteLevel(add_prefix_space=False), RP.ByteLevel(add_prefix_space=False)),
        (P.ByteLevel(add_prefix_space=False, use_regex=False), RP.ByteLevel(add_prefix_space=False, use_regex=False)),
        (P.ByteLevel(trim_offsets=False), RP.ByteLevel(trim_offsets=False)),
        (P.Whitespace(), RP.Whitespace()),
        (P.WhitespaceSplit(), RP.WhitespaceSplit()),
        (P.BertPreTokenizer(), RP.BertPreTokenizer()),
        (P.Metaspace(), RP.Metaspace()),
        (P.Metaspace(prepend_scheme="never"), RP.Metaspace(prepend_scheme="never")),
        (P.Metaspace(prepend_scheme="first"), RP.Metaspace(prepend_scheme="first")),
        (P.Metaspace(replacement="_", split=False), RP.Metaspace(replacement="_", split=False)),
        (P.UnicodeScripts(), RP.UnicodeScripts()),
        (P.Digits(), RP.Digits()),
        (P.Digits(individual_digits=True), RP.Digits(individual_digits=True)),
        (P.CharDelimiterSplit(" "), RP.CharDelimiterSplit(" ")),
        (P.CharDelimiterSplit("e"), RP.CharDelimiterSplit("e")),
        (P.FixedLength(), RP.FixedLength()),
        (P.FixedLength(length=3), RP.FixedLength(length=3)),
        (P.Sequence([P.WhitespaceSplit(), P.Metaspace()]), RP.Sequence([RP.WhitespaceSplit(), RP.Metaspace()])),
        (P.Sequence([P.Whitespace(), P.Digits(True)]), RP.Sequence([RP.Whitespace(), RP.Digits(True)])),
        (
            P.Sequence([P.Split(Regex(LLAMA3_PATTERN), "isolated"), P.ByteLevel(add_prefix_space=False, use_regex=False)]),
            RP.Sequence([RP.Split(RR(LLAMA3_PATTERN), "isolated"), RP.ByteLevel(add_prefix_space=False, use_regex=False)]),
        ),
        (
            P.Sequence([P.Split(" ", "merged_with_next"), P.Metaspace(prepend_scheme="first")]),
            RP.Sequence([RP.Split(" ", "merged_with_next"), RP.Metaspace(prepend_scheme="first")]),
        ),
    ]
    for behavior in ("removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous"):
        out.append((P.Punctuation(behavior), RP.Punctuation(behavior)))
        for invert in (False, True):
            out.append((P.Split(" ", behavior, invert), RP.Split(" ", behavior, invert)))
            out.append((P.Split(Regex(r"\s+|\d"), behavior, invert), RP.Split(RR(r"\s+|\d"), behavior, invert)))
    return out


PAIRS = pairs()
IDS = [repr(p[0])[:70] for p in PAIRS]


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_pre_tokenize_str_matches_reference(pair):
    ours, ref = pair
    for text in SAMPLES:
        assert ours.pre_tokenize_str(text) == ref.pre_tokenize_str(text), repr(text)


@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_serialization_matches_reference_json(pair):
    ours, ref = pair
    expected = json.loads(ref.__getstate__())
    assert ours.to_dict() == expected
    assert list(ours.to_dict()) == list(expected)
    rebuilt = P.from_dict(expected)
    assert rebuilt == ours and rebuilt.to_dict() == expected
    assert pickle.loads(pickle.dumps(ours)) == ours


def test_byte_level_on_larger_corpus():
    ours, ref = P.ByteLevel(), RP.ByteLevel()
    for text in corpus_lines(400):
        assert ours.pre_tokenize_str(text) == ref.pre_tokenize_str(text)


def test_bert_pre_tokenizer_every_bmp_char():
    """Whitespace/punctuation classification over the whole BMP, in chunks."""
    ours, ref = P.BertPreTokenizer(), RP.BertPreTokenizer()
    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    for i in range(0, len(chars), 2048):
        text = "x".join(chars[i : i + 2048])
        assert ours.pre_tokenize_str(text) == ref.pre_tokenize_str(text), i


def test_unicode_scripts_every_assigned_char():
    ours, ref = P.UnicodeScripts(), RP.UnicodeScripts()
    chars = [chr(c) for c in range(0x30000) if unicodedata.category(chr(c)) not in ("Cn", "Cs")]
    for i in range(0, len(chars), 4096):
        text = "".join(chars[i : i + 4096])
        assert ours.pre_tokenize_str(text) == ref.pre_tokenize_str(text), i


def test_offsets_after_split_with_metaspace_first():
    """'first' prepends only on the split that starts at original offset 0."""
    ours = P.Sequence([P.Split(Regex(r"<sep>"), "removed"), P.Metaspace(prepend_scheme="first")])
    ref = RP.Sequence([RP.Split(RR(r"<sep>"), "removed"), RP.Metaspace(prepend_scheme="first")])
    for text in ["hello<sep>world", "<sep>hello world", "a b<sep> c", ""]:
        assert ours.pre_tokenize_str(text) == ref.pre_tokenize_str(text)


def test_pegasus_pipeline_offsets():
    cfg = json.loads((DATA / "tokenizers/pegasus-unigram/tokenizer.json").read_text())
    norm, pre = N.from_dict(cfg["normalizer"]), P.from_dict(cfg["pre_tokenizer"])
    ref = tokenizers.Tokenizer.from_file(str(DATA / "tokenizers/pegasus-unigram/tokenizer.json"))
    assert pre.to_dict() == json.loads(ref.to_str())["pre_tokenizer"]
    for text in SAMPLES:
        ours = PreTokenizedString(text)
        ours.normalize(norm.normalize)
        pre.pre_tokenize(ours)
        rpre = tokenizers.PreTokenizedString(text)
        rpre.normalize(lambda n: ref.normalizer.normalize(n))
        ref.pre_tokenizer.pre_tokenize(rpre)
        assert [(s, o) for s, o, _ in ours.get_splits("original", "char")] == [
            (s, o) for s, o, _ in rpre.get_splits(offset_referential="original", offset_type="char")
        ], repr(text)


def test_legacy_metaspace_json():
    legacy = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True, "str_rep": "\u2581"}
    ref = RP.Metaspace.__new__(RP.Metaspace)
    ref.__setstate__(json.dumps(legacy).encode())
    assert P.from_dict(legacy).to_dict() == json.loads(ref.__getstate__())
    # The reference refuses add_prefix_space=false without a prepend_scheme; we read it
    # as "never", which is what such old files meant.
    legacy["add_prefix_space"] = False
    with pytest.raises(Exception):
        ref.__setstate__(json.dumps(legacy).encode())
    assert P.from_dict(legacy).prepend_scheme == "never"
