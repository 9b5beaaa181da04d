"""Encoding: truncation windows, padding, merging, and the position look-ups."""

from __future__ import annotations

import pytest

from snuggle.errors import TokenizerError
from snuggle.tokenizers.encoding import Encoding


def _enc(n: int, start_word: int = 0) -> Encoding:
    return Encoding.from_items([(i + 10, f"t{i}", (2 * i, 2 * i + 1), start_word + i, 0) for i in range(n)])


def test_truncate_right_with_stride_makes_overlapping_windows():
    e = _enc(5)
    e.truncate(4, stride=2)
    assert e.ids == [10, 11, 12, 13]
    assert [o.ids for o in e.overflowing] == [[12, 13, 14]]


def test_truncate_left():
    e = _enc(5)
    e.truncate(2, direction="left")
    assert e.ids == [13, 14]
    assert [o.ids for o in e.overflowing] == [[11, 12], [10]]


def test_truncate_to_zero_moves_everything_to_overflowing():
    e = _enc(3)
    e.truncate(0)
    assert e.ids == [] and e.overflowing[0].ids == [10, 11, 12]


def test_truncate_stride_too_big_is_a_clear_error():
    with pytest.raises(TokenizerError, match="stride"):
        _enc(5).truncate(2, stride=2)


def test_pad_left_and_right():
    e = _enc(2)
    e.pad(4, direction="left", pad_id=0, pad_token="<pad>")
    assert e.ids == [0, 0, 10, 11]
    assert e.attention_mask == [0, 0, 1, 1]
    assert e.special_tokens_mask == [1, 1, 0, 0]
    assert e.words == [None, None, 0, 1]
    e2 = _enc(2)
    e2.pad(3)
    assert e2.ids == [10, 11, 0] and e2.tokens[-1] == "[PAD]"


def test_merge_with_growing_offsets_and_sequence_ranges():
    a, b = _enc(2), _enc(1)
    a.set_sequence_id(0)
    b.set_sequence_id(1)
    m = Encoding.merge([a, b], growing_offsets=True)
    assert m.offsets == [(0, 1), (2, 3), (3, 4)]
    assert m.sequence_ids == [0, 0, 1]
    assert m.n_sequences == 2


def test_lookups():
    e = Encoding.from_items([(1, "he", (0, 2), 0, 0), (2, "llo", (2, 5), 0, 0), (3, "x", (6, 7), 1, 0)])
    assert e.word_to_tokens(0) == (0, 2)
    assert e.word_to_chars(0) == (0, 5)
    assert e.char_to_token(3) == 1
    assert e.char_to_token(5) is None
    assert e.char_to_word(6) == 1
    assert e.token_to_chars(2) == (6, 7)
    assert e.token_to_word(1) == 0
    assert e.token_to_sequence(0) == 0
    assert e.token_to_sequence(9) is None


def test_matches_reference_truncation_and_padding():
    """Same windows and padding as `tokenizers.Encoding` on a real encoding."""
    from tokenizers import Tokenizer as RefTokenizer
    from tokenizers import models, pre_tokenizers

    ref = RefTokenizer(models.WordLevel({w: i for i, w in enumerate("abcdefg")}, unk_token="a"))
    ref.pre_tokenizer = pre_tokenizers.Whitespace()
    r = ref.encode("a b c d e f g")
    ours = Encoding(list(r.ids), list(r.type_ids), list(r.tokens), list(r.offsets), list(r.word_ids))
    for max_len, stride, direction in [(3, 1, "right"), (3, 0, "left"), (4, 2, "left"), (2, 1, "right")]:
        r2 = ref.encode("a b c d e f g")
        r2.truncate(max_len, stride, direction)
        o2 = ours.copy()
        o2.truncate(max_len, stride, direction)
        assert o2.ids == r2.ids
        assert [o.ids for o in o2.overflowing] == [o.ids for o in r2.overflowing]
        assert [o.offsets for o in o2.overflowing] == [o.offsets for o in r2.overflowing]
        r2.pad(6, direction="left", pad_id=9, pad_token="P")
        o2.pad(6, direction="left", pad_id=9, pad_token="P")
        assert (o2.ids, o2.attention_mask, o2.special_tokens_mask, o2.word_ids) == (
            r2.ids,
            r2.attention_mask,
            r2.special_tokens_mask,
            r2.word_ids,
        )
