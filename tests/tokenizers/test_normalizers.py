"""Unit tests for snuggle.tokenizers.normalizers, unicode_align and precompiled."""

from __future__ import annotations

import base64
import json
import struct
import unicodedata

import pytest

from snuggle.errors import TokenizerFileError
from snuggle.tokenizers import normalizers as N
from snuggle.tokenizers.normalized import NormalizedString, Regex
from snuggle.tokenizers.precompiled import PrecompiledCharsmap
from snuggle.tokenizers.unicode_align import compose_changes, decompose_changes, normalization_changes

HARD = ["é", "e\u0301", "a\u0323\u0302x", "한국어", "\u1100\u1161\u11a8", "ﬁ①㍻", "ẛ̣", "q\u0307\u0323", "abc", ""]


def aligned(normalizer, text):
    n = NormalizedString(text)
    normalizer.normalize(n)
    return n.normalized, n.alignments


@pytest.mark.parametrize("form", ["NFC", "NFD", "NFKC", "NFKD"])
def test_unicode_forms_produce_unicodedata_text(form):
    for text in HARD:
        chars = "".join(c for c, _ in normalization_changes(text, form))
        assert chars == unicodedata.normalize(form, text)


@pytest.mark.parametrize("form", ["NFC", "NFD", "NFKC", "NFKD"])
def test_change_stream_accounts_for_length(form):
    # The changes must add up to the length difference, or transform misaligns.
    for text in HARD:
        changes = normalization_changes(text, form)
        assert sum(n for _, n in changes) == len(changes) - len(text)


def test_fast_path_equals_full_algorithm_on_normalized_text():
    # needs_normalization() skips work on already-normalized text: the full algorithm
    # must then give identity alignments.
    for text in ["é 한국어 abc", "ﬁ", "x\u0323\u0301"]:
        for form in ("NFC", "NFKC"):
            norm = unicodedata.normalize(form, text)
            n = NormalizedString(norm)
            n.transform(normalization_changes(norm, form), 0)
            assert n.alignments == [(i, i + 1) for i in range(len(norm))]


def test_decomposition_reorders_marks_with_their_changes():
    # U+1EA5 (a + circumflex + acute, ccc 230 230) then dot below (ccc 220) moves first.
    changes = decompose_changes("\u1ea5\u0323", compat=False)
    assert [c for c, _ in changes] == ["a", "\u0323", "\u0302", "\u0301"]
    assert [n for _, n in changes] == [0, 0, 1, 1]


def test_composition_folds_changes():
    assert compose_changes([("e", 0), ("\u0301", 0)]) == [("\u00e9", -1)]
    assert compose_changes([("e", 0), ("\u0301", 1)]) == [("\u00e9", 0)]


def test_nfc_alignment_of_combining_sequence():
    assert aligned(N.NFC(), "e\u0301x") == ("\u00e9x", [(0, 1), (2, 3)])
    assert aligned(N.NFD(), "\u00e9") == ("e\u0301", [(0, 1), (0, 1)])


def test_lowercase_is_per_char_without_final_sigma():
    assert N.Lowercase().normalize_str("ΟΔΟΣ") == "οδοσ"
    assert aligned(N.Lowercase(), "İ") == ("i\u0307", [(0, 1), (0, 1)])


def test_strip_keeps_information_separators():
    assert N.Strip().normalize_str("\x1c a \u3000") == "\x1c a"
    assert N.Strip(left=False).normalize_str("   ") == ""


def test_bert_normalizer_ascii_fast_path_matches_general_path():
    text = "Hello\tWorld\r\nok\x0bx\x00y"
    n = NormalizedString(text)
    N.BertNormalizer().normalize(n)
    assert n.normalized == "hello world  okxy"
    assert len(n.alignments) == len(n.normalized)
    assert n.alignments[-1] == (len(text) - 1, len(text))


def test_bert_chinese_chars_are_spaced_and_aligned():
    assert aligned(N.BertNormalizer(), "a中b") == ("a 中 b", [(0, 1), (1, 2), (1, 2), (1, 2), (2, 3)])


def test_replace_and_prepend():
    assert N.Replace(Regex(r"\s+"), "_").normalize_str("a  b") == "a_b"
    assert N.Replace("b", "").normalize_str("abc") == "ac"
    assert N.Prepend("▁").normalize_str("") == ""
    assert N.Prepend("▁").normalize_str("hi") == "▁hi"


def test_byte_level_normalizer():
    assert N.ByteLevel().normalize_str("a é") == "aĠÃ©"
    assert len(N.ByteLevel.alphabet()) == 256


def test_from_dict_errors_name_the_problem():
    with pytest.raises(TokenizerFileError, match="unknown normalizer type 'Nope'"):
        N.from_dict({"type": "Nope"})
    with pytest.raises(TokenizerFileError, match="strip_left"):
        N.from_dict({"type": "Strip", "strip_left": "yes"})
    with pytest.raises(TokenizerFileError, match="pattern"):
        N.from_dict({"type": "Replace", "pattern": {"Glob": "*"}, "content": ""})
    with pytest.raises(TokenizerFileError, match="normalizers\\[1\\]"):
        N.from_dict({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Bad"}]})
    assert N.from_dict(None) is None


def test_round_trip_and_sequence_api():
    seq = N.Sequence([N.NFD(), N.StripAccents(), N.BertNormalizer(strip_accents=False)])
    again = N.from_dict(json.loads(json.dumps(seq.to_dict())))
    assert again == seq and len(again) == 3 and isinstance(again[1], N.StripAccents)
    again[1] = N.Lowercase()
    assert again != seq


def _tiny_charsmap(mapping: dict[str, str]) -> bytes:
    """Build a darts-clone double array for single-byte keys (enough to test the parser)."""
    blob = b""
    offsets = {}
    for key, value in mapping.items():
        offsets[key] = len(blob)
        blob += value.encode() + b"\x00"
    # Root at unit 0 with offset 256 (bit 9 clear): children at 256 ^ byte.
    size = 1024
    units = [0] * size
    units[0] = 256 << 10
    for key in mapping:
        b = key.encode()[0]
        child = 256 ^ b
        leaf_offset = 512  # the leaf sits at child ^ 512 (away from the children)
        units[child] = (leaf_offset << 10) | (1 << 8) | b
        units[child ^ leaf_offset] = offsets[key] | (1 << 31)
    trie = struct.pack(f"<{size}I", *units)
    return struct.pack("<I", len(trie)) + trie + blob


def test_precompiled_parser_and_alignment():
    data = _tiny_charsmap({"A": "a", "B": "bb", "C": ""})
    cmap = PrecompiledCharsmap(data)
    assert cmap.transform("A") == "a" and cmap.transform("B") == "bb" and cmap.transform("x") is None
    pre = N.Precompiled(data)
    assert pre.normalize_str("xAByC") == "xabby"
    assert aligned(pre, "AB") == ("abb", [(0, 1), (1, 2), (1, 2)])
    assert N.from_dict(pre.to_dict()) == pre
    assert N.Precompiled(base64.b64encode(data).decode()).normalize_str("A") == "a"


def test_precompiled_rejects_bad_data():
    with pytest.raises(TokenizerFileError, match="precompiled_charsmap"):
        N.Precompiled(b"\x01")
    with pytest.raises(TokenizerFileError, match="trie"):
        N.Precompiled(struct.pack("<I", 4096) + b"\x00" * 8)
    with pytest.raises(TokenizerFileError, match="base64"):
        N.from_dict({"type": "Precompiled", "precompiled_charsmap": "!!!"})
