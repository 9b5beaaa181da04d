"""Unit tests for snuggle.tokenizers.pre_tokenizers and unicode_scripts."""

from __future__ import annotations

import pytest

from snuggle.errors import TokenizerFileError
from snuggle.tokenizers import pre_tokenizers as P
from snuggle.tokenizers.normalized import NormalizedString, PreTokenizedString, Regex
from snuggle.tokenizers.unicode_scripts import fixed_script, script_runs


def test_bytes_to_unicode_table():
    table = P.bytes_to_unicode()
    assert len(table) == 256 and len(set(table.values())) == 256
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("!")] == "!"
    assert all(P.UNICODE_TO_BYTE[u] == b for b, u in P.BYTE_TO_UNICODE.items())
    assert P.ByteLevel.alphabet() == sorted(table.values())


def test_byte_level_changes_keep_alignment_per_byte():
    n = NormalizedString("é!")
    n.transform(P.byte_level_changes(n.normalized), 0)
    assert n.normalized == "Ã©!"
    assert n.alignments == [(0, 1), (0, 1), (1, 2)]


def test_byte_level_words_and_prefix_space():
    assert P.ByteLevel().pre_tokenize_str("Hello world") == [("ĠHello", (0, 5)), ("Ġworld", (5, 11))]
    assert P.ByteLevel(add_prefix_space=False, use_regex=False).pre_tokenize_str("a b") == [("aĠb", (0, 3))]
    assert P.ByteLevel().pre_tokenize_str("") == []


def test_whitespace_family():
    assert P.Whitespace().pre_tokenize_str("a, b") == [("a", (0, 1)), (",", (1, 2)), ("b", (3, 4))]
    assert P.WhitespaceSplit().pre_tokenize_str(" a\u3000b\x1c ") == [("a", (1, 2)), ("b\x1c", (3, 5))]
    assert P.BertPreTokenizer().pre_tokenize_str("Hi!¿ok") == [("Hi", (0, 2)), ("!", (2, 3)), ("¿", (3, 4)), ("ok", (4, 6))]


def test_metaspace_prepend_schemes():
    assert P.Metaspace().pre_tokenize_str("a b") == [("▁a", (0, 1)), ("▁b", (1, 3))]
    assert P.Metaspace(prepend_scheme="never").pre_tokenize_str("a b") == [("a", (0, 1)), ("▁b", (1, 3))]
    assert P.Metaspace(split=False).pre_tokenize_str("a b") == [("▁a▁b", (0, 3))]
    # 'first' looks at the split's position in the whole input.
    pre = PreTokenizedString("ab cd")
    pre.split(lambda i, n: [n.slice(0, 2), n.slice(2, 5)])
    P.Metaspace(prepend_scheme="first").pre_tokenize(pre)
    assert [s for s, _, _ in pre.get_splits()] == ["▁ab", "▁cd"]
    pre = PreTokenizedString("ab cd")
    pre.split(lambda i, n: [n.slice(0, 2), n.slice(3, 5)])
    P.Metaspace(prepend_scheme="first").pre_tokenize(pre)
    assert [s for s, _, _ in pre.get_splits()] == ["▁ab", "cd"]
    with pytest.raises(ValueError, match="prepend_scheme"):
        P.Metaspace(prepend_scheme="sometimes")


def test_split_behaviors_and_invert():
    text = "a--b-c"
    assert P.Split("-", "removed").pre_tokenize_str(text) == [("a", (0, 1)), ("b", (3, 4)), ("c", (5, 6))]
    assert [w for w, _ in P.Split("-", "contiguous").pre_tokenize_str(text)] == ["a", "--", "b", "-", "c"]
    assert [w for w, _ in P.Split("-", "merged_with_next").pre_tokenize_str(text)] == ["a", "-", "-b", "-c"]
    assert [w for w, _ in P.Split(Regex("[a-z]"), "removed", invert=True).pre_tokenize_str(text)] == ["a", "b", "c"]
    assert P.Split("-", "MergedWithPrevious").behavior == "merged_with_previous"


def test_digits_punctuation_fixed_length_delimiter():
    assert [w for w, _ in P.Digits().pre_tokenize_str("ab123c4")] == ["ab", "123", "c", "4"]
    assert [w for w, _ in P.Digits(True).pre_tokenize_str("12")] == ["1", "2"]
    assert [w for w, _ in P.Punctuation("removed").pre_tokenize_str("a,b")] == ["a", "b"]
    assert P.FixedLength(2).pre_tokenize_str("abcde") == [("ab", (0, 2)), ("cd", (2, 4)), ("e", (4, 5))]
    assert P.CharDelimiterSplit("x").pre_tokenize_str("axb") == [("a", (0, 1)), ("b", (2, 3))]
    with pytest.raises(ValueError):
        P.CharDelimiterSplit("xy")


def test_unicode_scripts():
    assert fixed_script("か") == "Han" and fixed_script("ー") == "Han" and fixed_script(" ") == "Any"
    assert script_runs("ab1") == [(0, 2, "Latin"), (2, 3, "Common")]
    # Leading spaces are dropped, as in the reference.
    assert P.UnicodeScripts().pre_tokenize_str(" a") == [("a", (1, 2))]


def test_sequence_and_from_dict():
    seq = P.from_dict({"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, {"type": "Digits"}]})
    assert [w for w, _ in seq.pre_tokenize_str("ab12 c")] == ["ab", "12", "c"]
    assert P.from_dict(seq.to_dict()) == seq and len(seq) == 2
    with pytest.raises(TokenizerFileError, match="unknown pre_tokenizer type 'Nope'"):
        P.from_dict({"type": "Nope"})
    with pytest.raises(TokenizerFileError, match="behavior"):
        P.from_dict({"type": "Split", "pattern": {"String": "x"}, "behavior": "Sideways", "invert": False})
    with pytest.raises(TokenizerFileError, match=r"pretokenizers\[0\]"):
        P.from_dict({"type": "Sequence", "pretokenizers": [{"type": "Bad"}]})
    assert P.from_dict(None) is None
