"""Unit tests for snuggle.tokenizers.processors and template_processing.

Expected values follow the reference library's documented behaviour (its own unit
tests); the parity file checks the same against the live reference.
"""

from __future__ import annotations

import pickle

import pytest

from snuggle.errors import TokenizerError, TokenizerFileError
from snuggle.tokenizers import processors
from snuggle.tokenizers.encoding import Encoding
from snuggle.tokenizers.processors import (
    BertProcessing,
    ByteLevel,
    RobertaProcessing,
    Sequence,
    TemplateProcessing,
    from_dict,
    trim_byte_level_offsets,
)
from snuggle.tokenizers.template_processing import Piece, parse_piece


def hello_there() -> Encoding:
    return Encoding([12, 14], tokens=["Hello", "there"], offsets=[(0, 5), (6, 11)])


def pair_enc() -> Encoding:
    return Encoding([15], tokens=["pair"], offsets=[(0, 4)])


def bert_template() -> TemplateProcessing:
    return TemplateProcessing(
        single=["[CLS]", "$0", "[SEP]"],
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 1), ("[SEP]", 0)],
    )


# ---- template parsing -------------------------------------------------------------------

@pytest.mark.parametrize(
    "text,expected",
    [
        ("$", Piece("Sequence", "A", 0)),
        ("$A", Piece("Sequence", "A", 0)),
        ("$a", Piece("Sequence", "A", 0)),
        ("$B", Piece("Sequence", "B", 0)),
        ("$1", Piece("Sequence", "A", 1)),
        ("$B:2", Piece("Sequence", "B", 2)),
        ("$:1", Piece("Sequence", "A", 1)),
        ("[CLS]", Piece("SpecialToken", "[CLS]", 0)),
        ("[SEP]:1", Piece("SpecialToken", "[SEP]", 1)),
    ],
)
def test_parse_piece(text, expected):
    assert parse_piece(text) == expected


@pytest.mark.parametrize("text", ["$C:1", "$A:", "a:b:c", "$A:x", "$-1", "[SEP]:-1"])
def test_parse_piece_rejects_bad_pieces(text):
    with pytest.raises(TokenizerError, match="Cannot build Piece"):
        parse_piece(text)


def test_template_validation_errors():
    with pytest.raises(TokenizerError, match="must use both sequences"):
        TemplateProcessing(pair="$A [SEP]", special_tokens=[("[SEP]", 1)])
    with pytest.raises(TokenizerError, match=r"Missing SpecialToken\(s\) with id\(s\) `\[X\]`"):
        TemplateProcessing(single="[X] $A")
    with pytest.raises(TokenizerError, match="same length"):
        TemplateProcessing(special_tokens=[{"id": "x", "ids": [1, 2], "tokens": ["a"]}])
    with pytest.raises(TokenizerError, match=r"\(str, int\), \(int, str\) or dict"):
        TemplateProcessing(special_tokens=[("a",)])
    with pytest.raises(TokenizerError, match="str or a list of str"):
        TemplateProcessing(single=3)


def test_template_special_tokens_in_any_form():
    t = TemplateProcessing(
        single="A $A B C",
        special_tokens=[("A", 1), (2, "B"), {"id": "C", "ids": [3, 4], "tokens": ["c1", "c2"]}],
    )
    assert t.num_special_tokens_to_add(False) == 4
    assert t.num_special_tokens_to_add(True) == 0
    out = t.process(pair_enc())
    assert out.ids == [1, 15, 2, 3, 4]
    assert out.tokens == ["A", "pair", "B", "c1", "c2"]
    assert out.special_tokens_mask == [1, 0, 1, 1, 1]


# ---- TemplateProcessing -------------------------------------------------------------------

def test_template_single_and_pair():
    t = bert_template()
    assert (t.num_special_tokens_to_add(False), t.num_special_tokens_to_add(True)) == (2, 3)
    single = t.process(hello_there())
    assert single.ids == [1, 12, 14, 0]
    assert single.type_ids == [0, 0, 0, 0]
    assert single.offsets == [(0, 0), (0, 5), (6, 11), (0, 0)]
    assert single.special_tokens_mask == [1, 0, 0, 1]
    assert single.attention_mask == [1, 1, 1, 1]
    assert single.words == [None, None, None, None]
    assert single.sequence_ranges == {0: (1, 3)}
    assert single.token_to_sequence(2) == 0 and single.token_to_sequence(3) is None

    pair = t.process(hello_there(), pair_enc())
    assert pair.ids == [1, 12, 14, 0, 15, 0]
    assert pair.type_ids == [0, 0, 0, 0, 1, 1]
    assert pair.tokens == ["[CLS]", "Hello", "there", "[SEP]", "pair", "[SEP]"]
    assert pair.offsets == [(0, 0), (0, 5), (6, 11), (0, 0), (0, 4), (0, 0)]
    assert pair.special_tokens_mask == [1, 0, 0, 1, 0, 1]
    assert pair.sequence_ranges == {0: (1, 3), 1: (4, 5)}


def test_template_without_special_tokens():
    out = bert_template().process(hello_there(), pair_enc(), add_special_tokens=False)
    assert out.ids == [12, 14, 15]
    assert out.type_ids == [0, 0, 1]
    assert out.sequence_ranges == {0: (0, 2), 1: (2, 3)}


def test_template_overflowing_gets_the_same_special_tokens():
    enc = hello_there()
    enc.overflowing = [Encoding([13], tokens=["you"], offsets=[(12, 15)])]
    out = bert_template().process(enc)
    assert out.ids == [1, 12, 14, 0]
    assert len(out.overflowing) == 1
    over = out.overflowing[0]
    assert over.ids == [1, 13, 0]
    assert over.tokens == ["[CLS]", "you", "[SEP]"]
    assert over.offsets == [(0, 0), (12, 15), (0, 0)]
    assert over.special_tokens_mask == [1, 0, 1]
    assert over.sequence_ranges == {0: (1, 2)}


def test_pair_with_overflow_on_both_sides_combines_every_window():
    a = hello_there()
    a.overflowing = [Encoding([13], tokens=["you"], offsets=[(12, 15)])]
    b = Encoding([15, 16], tokens=["pair", "with"], offsets=[(0, 4), (5, 9)])
    b.overflowing = [Encoding([17], tokens=["info"], offsets=[(10, 14)])]
    out = bert_template().process(a, b)
    assert out.ids == [1, 12, 14, 0, 15, 16, 0]
    # (A-overflow + B), (A-overflow + B-overflow), (A + B-overflow); the last one keeps
    # its own overflowing windows, as the reference's merge does
    assert [o.tokens for o in out.overflowing] == [
        ["[CLS]", "you", "[SEP]", "pair", "with", "[SEP]"],
        ["[CLS]", "you", "[SEP]", "info", "[SEP]"],
        ["[CLS]", "Hello", "there", "[SEP]", "info", "[SEP]"],
    ]
    assert [o.tokens for o in out.overflowing[2].overflowing] == [["[CLS]", "you", "[SEP]", "info", "[SEP]"]]


def test_process_does_not_modify_its_inputs():
    a, b = hello_there(), pair_enc()
    before = (a.copy(), b.copy())
    bert_template().process(a, b)
    RobertaProcessing().process(a, b)
    assert (a, b) == before


def test_single_template_cannot_use_sequence_b():
    t = TemplateProcessing(single="$B", pair="$A $B")
    with pytest.raises(TokenizerError, match="only one sequence"):
        t.process(hello_there())


# ---- Bert / Roberta / ByteLevel ----------------------------------------------------------

def test_bert_processing():
    p = BertProcessing(("[SEP]", 102), ("[CLS]", 101))
    assert (p.num_special_tokens_to_add(False), p.num_special_tokens_to_add(True)) == (2, 3)
    out = p.process(hello_there(), pair_enc())
    assert out.ids == [101, 12, 14, 102, 15, 102]
    assert out.type_ids == [0, 0, 0, 0, 1, 1]
    assert out.sequence_ranges == {0: (1, 3), 1: (4, 5)}
    plain = p.process(hello_there(), pair_enc(), add_special_tokens=False)
    assert plain.ids == [12, 14, 15] and plain.type_ids == [0, 0, 1]
    assert plain.sequence_ranges == {0: (0, 2), 1: (2, 3)}


def test_roberta_processing():
    p = RobertaProcessing(("</s>", 2), ("<s>", 0))
    assert (p.num_special_tokens_to_add(False), p.num_special_tokens_to_add(True)) == (2, 4)
    out = p.process(hello_there(), pair_enc())
    assert out.ids == [0, 12, 14, 2, 2, 15, 2]
    assert out.type_ids == [0] * 7
    assert out.special_tokens_mask == [1, 0, 0, 1, 1, 0, 1]
    assert out.sequence_ranges == {0: (1, 3), 1: (5, 6)}
    plain = p.process(hello_there(), pair_enc(), add_special_tokens=False)
    assert plain.ids == [12, 14, 15] and plain.type_ids == [0, 0, 0]


def test_byte_level_offset_trimming():
    enc = Encoding(
        [0] * 5,
        tokens=["Ġ", "ĠĠĠĠHelloĠĠ", "ĠĠHello", "HelloĠĠ", "ĠĠĠĠ"],
        offsets=[(0, 1), (0, 11), (11, 18), (18, 25), (25, 29)],
    )
    expected = [(0, 0), (4, 9), (13, 18), (18, 23), (29, 29)]
    assert ByteLevel(trim_offsets=True).process(enc).offsets == expected
    assert Sequence([ByteLevel(trim_offsets=True)]).process(enc).offsets == expected
    pair = ByteLevel(trim_offsets=True).process(enc, enc)
    assert pair.offsets == expected + expected
    assert pair.sequence_ranges == {0: (0, 5), 1: (5, 10)}
    assert ByteLevel(trim_offsets=False).process(enc).offsets == enc.offsets


def test_trim_uses_unicode_white_space_not_str_isspace():
    # U+3000 is White_Space; U+001C is isspace() in Python but not whitespace for Rust
    e = Encoding([1, 2], tokens=["\u3000a", "\x1cb"], offsets=[(5, 7), (7, 9)])
    trim_byte_level_offsets(e, add_prefix_space=False)
    assert e.offsets == [(6, 7), (7, 9)]


def test_bad_special_token_pairs():
    with pytest.raises(TokenizerError, match="sep"):
        BertProcessing(("[SEP]",), ("[CLS]", 101))
    with pytest.raises(TokenizerError, match="cls"):
        RobertaProcessing(("</s>", 2), ("<s>", "0"))
    assert BertProcessing(("a", 1), cls_token=("b", 2)).cls == ("b", 2)


# ---- serialization ----------------------------------------------------------------------

def test_to_dict_layouts():
    assert BertProcessing().to_dict() == {"type": "BertProcessing", "sep": ["[SEP]", 102], "cls": ["[CLS]", 101]}
    assert list(RobertaProcessing().to_dict()) == ["type", "sep", "cls", "trim_offsets", "add_prefix_space"]
    t = TemplateProcessing(single="$A [Z] [A]", special_tokens=[("[Z]", 2), ("[A]", 1)]).to_dict()
    assert list(t["special_tokens"]) == ["[A]", "[Z]"]  # sorted, as the reference writes them
    assert t["single"][0] == {"Sequence": {"id": "A", "type_id": 0}}
    assert t["special_tokens"]["[Z]"] == {"id": "[Z]", "ids": [2], "tokens": ["[Z]"]}


@pytest.mark.parametrize(
    "proc",
    [
        bert_template(),
        BertProcessing(),
        RobertaProcessing(trim_offsets=False),
        ByteLevel(add_prefix_space=False),
        Sequence([ByteLevel(), bert_template()]),
    ],
)
def test_round_trip_pickle_and_equality(proc):
    again = from_dict(proc.to_dict())
    assert again == proc and type(again) is type(proc)
    assert pickle.loads(pickle.dumps(proc)) == proc
    assert repr(proc).startswith(type(proc).__name__ + "(")
    enc = hello_there()
    assert pickle.loads(pickle.dumps(proc)).process(enc) == proc.process(enc)


def test_from_dict_errors_name_the_problem():
    assert from_dict(None) is None
    with pytest.raises(TokenizerFileError, match="unknown post-processor type 'Foo'.*TemplateProcessing"):
        from_dict({"type": "Foo"})
    with pytest.raises(TokenizerFileError, match="missing field 'sep'"):
        from_dict({"type": "BertProcessing", "cls": ["[CLS]", 1]})
    with pytest.raises(TokenizerFileError, match=r"post_processor.processors\[1\]"):
        from_dict({"type": "Sequence", "processors": [{"type": "ByteLevel"}, {"type": "Nope"}]})
    with pytest.raises(TokenizerFileError, match=r"single\[0\]"):
        from_dict({"type": "TemplateProcessing", "single": [{"Sequence": {"id": "C", "type_id": 0}}],
                   "pair": [], "special_tokens": {}})
    with pytest.raises(TokenizerFileError, match="true or false"):
        from_dict({"type": "ByteLevel", "trim_offsets": "yes"})


def test_unvalidated_file_template_fails_only_when_applied():
    t = from_dict({"type": "TemplateProcessing",
                   "single": [{"SpecialToken": {"id": "X", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                   "pair": [{"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {}})
    assert t.num_special_tokens_to_add(False) == 0
    with pytest.raises(TokenizerError, match="special token 'X'"):
        t.process(hello_there())
    assert t.process(hello_there(), add_special_tokens=False).ids == [12, 14]


def test_sequence_indexing():
    s = Sequence([ByteLevel(), BertProcessing()])
    assert isinstance(s[1], BertProcessing) and len(s) == 2
    s[1] = RobertaProcessing()
    assert s.num_special_tokens_to_add(True) == 4
    with pytest.raises(TokenizerError):
        s[0] = "not a processor"
    with pytest.raises(TokenizerError):
        Sequence([ByteLevel(), 3])
    assert processors.TemplateProcessing is TemplateProcessing
