"""Unit tests for snuggle.tokenizers.decoders.

Expected values follow the reference library's documented behaviour (its own unit
tests); the parity file checks the same against the live reference.
"""

from __future__ import annotations

import pickle

import pytest

from snuggle.errors import TokenizerError, TokenizerFileError
from snuggle.tokenizers import decoders
from snuggle.tokenizers.decoders import (
    CTC,
    BPEDecoder,
    ByteFallback,
    ByteLevel,
    Fuse,
    Metaspace,
    Replace,
    Sequence,
    Strip,
    WordPiece,
    from_dict,
)
from snuggle.tokenizers.normalized import Regex


def test_byte_table_is_the_gpt2_one():
    table = decoders._char_to_byte()
    assert sorted(table.values()) == list(range(256))
    assert table["Ġ"] == ord(" ") and table["Ċ"] == ord("\n") and table["A"] == ord("A") and table["ġ"] == 0x7F


def test_byte_level():
    tokens = ["Hello", "Ġmy", "Ġfriend", ",", "Ġhow", "Ġis", "Ġyour", "Ġday", "Ġgoing", "?"]
    assert ByteLevel().decode_chain(tokens) == ["Hello my friend, how is your day going?"]
    # a char split over tokens is rebuilt; a lone continuation byte becomes U+FFFD
    assert ByteLevel().decode(["ðŁ", "¤", "Ĺ"]) == "🤗"
    assert ByteLevel().decode(["ðŁ", "¤"]) == "\ufffd"
    # tokens with chars outside the byte table keep their own UTF-8 bytes
    assert ByteLevel().decode(["Ġ日本", "Ġok"]) == "Ġ日本 ok"
    assert ByteLevel().decode([]) == ""


def test_wordpiece():
    assert WordPiece(cleanup=False).decode(["##uelo", "Ara", "##új", "##o", "No", "##guera"]) == "##uelo Araújo Noguera"
    # cleanup runs on each token after its space is added, so only patterns inside one
    # token are cleaned (" ." -> "."), never across tokens
    tokens = ["i", "do", "not", "know", "it", "'", "s", "fine", ".", "n't", "'s", " do not"]
    assert WordPiece().decode(tokens) == "i do not know it ' s fine.n't's  don't"
    assert WordPiece(cleanup=False).decode(["a", ".", "b"]) == "a . b"


def test_metaspace_first_token_loses_every_replacement_char():
    assert Metaspace().decode(["▁Hey", "▁friend!"]) == "Hey friend!"
    assert Metaspace().decode_chain(["▁▁a▁b", "▁c▁"]) == ["ab", " c "]
    assert Metaspace(prepend_scheme="first").decode(["▁▁a▁b", "▁c▁"]) == "ab c "
    assert Metaspace(prepend_scheme="never").decode(["▁▁a▁b", "▁c▁"]) == "  a b c "


def test_bpe_decoder():
    assert BPEDecoder().decode_chain(["Hello</w>", "wor", "ld</w>"]) == ["Hello ", "wor", "ld"]
    assert BPEDecoder().decode([]) == ""


def test_byte_fallback():
    d = ByteFallback()
    assert d.decode_chain(["Hey", "friend!"]) == ["Hey", "friend!"]
    assert d.decode_chain(["<0x61>"]) == ["a"]
    assert d.decode_chain(["<0xE5>"]) == ["\ufffd"]
    assert d.decode_chain(["<0xE5>", "<0x8f>"]) == ["\ufffd", "\ufffd"]
    assert d.decode_chain(["<0xE5>", "<0x8f>", "<0xab>", "a"]) == ["叫", "a"]
    assert d.decode_chain(["<0xE5>", "<0x8f>", "a"]) == ["\ufffd", "\ufffd", "a"]
    # Rust's from_str_radix accepts a '+' sign; anything else is not a byte token
    assert d.decode_chain(["<0x+F>", "<0x 1>", "<0xé>", "<0x4>"]) == ["\x0f", "<0x 1>", "<0xé>", "<0x4>"]


def test_fuse_and_sequence():
    assert Fuse().decode_chain([]) == [""]
    llama = Sequence([Replace("▁", " "), ByteFallback(), Fuse(), Strip(" ", 1, 0)])
    assert llama.decode(["▁Hello", "▁", "<0xE4>", "<0xB8>", "<0x96>", "!"]) == "Hello 世!"
    assert Sequence([]).decode_chain(["a", "b"]) == ["a", "b"]


def test_strip():
    assert Strip("H", 1, 0).decode_chain(["Hey", " friend!", "HHH"]) == ["ey", " friend!", "HH"]
    assert Strip("y", 0, 1).decode_chain(["Hey", " friend!"]) == ["He", " friend!"]
    # where the reference panics (strips overlapping or running off the token) we stop
    assert Strip("a", 5, 5).decode_chain(["aaa", "aba", ""]) == ["", "b", ""]


def test_replace():
    assert Replace("▁", " ").decode(["▁Hello", "▁world"]) == " Hello world"
    assert Replace(Regex("a+"), "b").decode_chain(["caaat", ""]) == ["cbt", ""]
    # Oniguruma rules: no empty match right after a match; ^/$ are line anchors
    assert Replace(Regex("a*"), "-").decode(["baab"]) == "-b-b-"
    assert Replace(Regex("^"), ">").decode(["a\nb"]) == ">a\n>b"
    assert Replace("", "-").decode(["ab"]) == "-a-b-"


def test_ctc():
    tokens = "<pad> <pad> h e e l l <pad> l o o o <pad> <pad> | <pad> w o o o r <pad> <pad> l l d <pad>".split(" ")
    assert CTC().decode_chain(tokens) == ["h", "e", "l", "l", "o", " ", "w", "o", "r", "l", "d"]
    # without cleanup the word delimiter stays as it is
    assert CTC(cleanup=False).decode(tokens) == "hello|world"


def test_constructor_errors():
    with pytest.raises(TokenizerError, match="exactly one character"):
        Metaspace(replacement="ab")
    with pytest.raises(TokenizerError, match="prepend_scheme"):
        Metaspace(prepend_scheme="sometimes")
    with pytest.raises(TokenizerError, match="exactly one character"):
        Strip(content="")
    with pytest.raises(TokenizerError, match=">= 0"):
        Strip(" ", -1, 0)
    with pytest.raises(TokenizerError, match="str or a Regex"):
        Replace(3, "x")
    with pytest.raises(TokenizerError, match="invalid regex"):
        Replace(Regex("("), "x")
    with pytest.raises(TokenizerError, match="decoders\\[1\\]"):
        Sequence([Fuse(), "nope"])


def test_from_dict_and_legacy_layouts():
    assert from_dict(None) is None
    legacy = from_dict({"type": "Metaspace", "replacement": "▁", "add_prefix_space": True})
    assert legacy.to_dict() == {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    assert from_dict({"type": "Metaspace", "replacement": "▁", "add_prefix_space": False}).prepend_scheme == "never"
    assert from_dict({"type": "Replace", "pattern": {"Regex": "a+"}, "content": "b"}) == Replace(Regex("a+"), "b")
    with pytest.raises(TokenizerFileError, match="unknown decoder type 'Foo'.*ByteLevel"):
        from_dict({"type": "Foo"})
    with pytest.raises(TokenizerFileError, match="String.*Regex"):
        from_dict({"type": "Replace", "pattern": {"Glob": "*"}, "content": ""})
    with pytest.raises(TokenizerFileError, match=r"decoder.decoders\[0\]"):
        from_dict({"type": "Sequence", "decoders": [{"type": "Strip", "content": "ab", "start": 0, "stop": 0}]})
    with pytest.raises(TokenizerFileError, match="must be int"):
        from_dict({"type": "Strip", "content": " ", "start": "1", "stop": 0})
    with pytest.raises(TokenizerFileError, match="missing field 'replacement'"):
        from_dict({"type": "Metaspace"})


@pytest.mark.parametrize(
    "dec",
    [
        ByteLevel(add_prefix_space=False),
        WordPiece("@@", False),
        Metaspace("_", "first", False),
        BPEDecoder("</end>"),
        ByteFallback(),
        Fuse(),
        Strip("x", 2, 1),
        Replace(Regex(r"\s+"), " "),
        CTC("[PAD]", "/", False),
        Sequence([ByteFallback(), Fuse()]),
    ],
)
def test_round_trip_pickle_equality(dec):
    again = from_dict(dec.to_dict())
    assert again == dec and type(again) is type(dec)
    assert pickle.loads(pickle.dumps(dec)) == dec
    assert repr(dec).startswith(type(dec).__name__ + "(")
    tokens = ["▁a", "<0x41>", "##b", "x", "Ġc</w>"]
    assert pickle.loads(pickle.dumps(dec)).decode(tokens) == dec.decode(tokens)


def test_decode_accepts_any_iterable_and_sequence_indexing():
    assert Fuse().decode(t for t in ("a", "b")) == "ab"
    s = Sequence([Fuse(), Strip()])
    assert isinstance(s[0], Fuse) and len(s) == 2
    s[1] = Replace("a", "b")
    assert s.decode(["a", "a"]) == "bb"
    with pytest.raises(TokenizerError):
        s[0] = "x"
