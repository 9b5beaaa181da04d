"""Unit tests of snuggle.tokenizers.models on tiny vocabularies: behaviour, edge cases, errors.

Expected values here come from the reference library's documented behaviour (its own
unit tests and docstrings); tests/parity/test_models_parity.py compares with the
reference on real vocabularies.
"""

from __future__ import annotations

import json
import math
import pickle
import random
import time
from collections import Counter

import pytest

from snuggle.errors import TokenizerError, TokenizerFileError
from snuggle.tokenizers import models
from snuggle.tokenizers.models import BPE, Unigram, WordLevel, WordPiece
from snuggle.tokenizers.models.base import as_f32, serde_format_float, serde_parse_float
from snuggle.tokenizers.normalized import Token


def triples(tokens):
    return [(t.id, t.value, t.offsets) for t in tokens]


# --- BPE ----------------------------------------------------------------------------------
UNRELATED_VOCAB = {
    "u": 0, "n": 1, "r": 2, "e": 3, "l": 4, "a": 5, "t": 6, "d": 7, "re": 8, "at": 9, "ed": 10,
    "un": 11, "ated": 12, "rel": 13, "related": 14, "unrelated": 15,
}  # fmt: skip
UNRELATED_MERGES = [("r", "e"), ("a", "t"), ("e", "d"), ("u", "n"), ("at", "ed"), ("re", "l"), ("rel", "ated"), ("un", "related")]


def test_bpe_merges_lowest_rank_first():
    bpe = BPE(UNRELATED_VOCAB, UNRELATED_MERGES)
    assert triples(bpe.tokenize("unrelated")) == [(15, "unrelated", (0, 9))]
    assert triples(bpe.tokenize("related")) == [(14, "related", (0, 7))]
    assert [t.value for t in bpe.tokenize("unreal")] == ["un", "re", "a", "l"]


def test_bpe_rank_beats_position_and_ties_go_left():
    vocab = {"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "aa": 5}
    # "b c" has the better rank, so it wins although "a b" comes first in the word
    bpe = BPE(vocab, [("b", "c"), ("a", "b")])
    assert [t.value for t in bpe.tokenize("abc")] == ["a", "bc"]
    # equal ranks: the leftmost pair merges first
    bpe = BPE(vocab, [("a", "a")])
    assert [t.value for t in bpe.tokenize("aaa")] == ["aa", "a"]
    assert [t.value for t in bpe.tokenize("aaaa")] == ["aa", "aa"]


def test_bpe_merges_given_as_strings_or_pairs():
    a = BPE({"a": 0, "b": 1, "ab": 2}, ["a b"])
    b = BPE({"a": 0, "b": 1, "ab": 2}, [("a", "b")])
    assert a == b and a.merges == [("a", "b")]
    assert a.merge_ranks == {(0, 1): (0, 2)}


def test_bpe_unknown_characters_unfused_and_fused():
    vocab = {"<unk>": 0, "a": 1, "b": 2}
    bpe = BPE(vocab, [], unk_token="<unk>")
    assert triples(bpe.tokenize("c")) == [(0, "<unk>", (0, 1))]
    assert triples(bpe.tokenize("accb")) == [(1, "a", (0, 1)), (0, "<unk>", (1, 2)), (0, "<unk>", (2, 3)), (2, "b", (3, 4))]
    fused = BPE(vocab, [], unk_token="<unk>", fuse_unk=True)
    assert triples(fused.tokenize("cc")) == [(0, "<unk>", (0, 2))]
    assert triples(fused.tokenize("accb")) == [(1, "a", (0, 1)), (0, "<unk>", (1, 3)), (2, "b", (3, 4))]


def test_bpe_without_unk_token_drops_unknown_characters():
    bpe = BPE({"a": 0}, [])
    # dropped characters take no room, so offsets shift left: the reference does the same
    assert triples(bpe.tokenize("xax")) == [(0, "a", (0, 1))]


def test_bpe_unk_token_missing_from_vocab_is_an_error_when_needed():
    bpe = BPE({"a": 0}, [], unk_token="<unk>")
    assert triples(bpe.tokenize("a")) == [(0, "a", (0, 1))]
    with pytest.raises(TokenizerError, match="<unk>"):
        bpe.tokenize("b")


def test_bpe_byte_fallback():
    bpe = BPE({"<unk>": 0, "<0x61>": 1, "<0x0A>": 2}, [], unk_token="<unk>", byte_fallback=True)
    assert triples(bpe.tokenize("c")) == [(0, "<unk>", (0, 1))]  # byte piece <0x63> missing: unk
    assert triples(bpe.tokenize("a")) == [(1, "<0x61>", (0, 1))]
    assert triples(bpe.tokenize("\n")) == [(2, "<0x0A>", (0, 1))]


def test_bpe_byte_fallback_offsets_inside_a_character():
    vocab = {"<unk>": 0, "x": 1, **{f"<0x{b:02X}>": 10 + b for b in range(256)}}
    bpe = BPE(vocab, [], unk_token="<unk>", byte_fallback=True)
    # "é" is two bytes: each byte token spans the whole character (the reference pipeline's offsets)
    assert triples(bpe.tokenize("xé")) == [(1, "x", (0, 1)), (10 + 0xC3, "<0xC3>", (1, 2)), (10 + 0xA9, "<0xA9>", (1, 2))]


def test_bpe_continuing_subword_prefix_and_suffix():
    vocab = {"a": 0, "##b": 1, "##c": 2, "ab": 3, "abc": 4}
    bpe = BPE(vocab, [("a", "##b"), ("ab", "##c")], unk_token="[UNK]", continuing_subword_prefix="##")
    assert triples(bpe.tokenize("ab")) == [(3, "ab", (0, 2))]
    assert triples(bpe.tokenize("abc")) == [(4, "abc", (0, 3))]
    vocab = {"a": 0, "b</w>": 1, "ab</w>": 2, "b": 3}
    bpe = BPE(vocab, [("a", "b</w>")], end_of_word_suffix="</w>")
    assert triples(bpe.tokenize("ab")) == [(2, "ab</w>", (0, 2))]
    assert [t.value for t in bpe.tokenize("abab")] == ["a", "b", "ab</w>"]


def test_bpe_ignore_merges_returns_whole_words():
    vocab = {".:.:": 0, "Ġbelirtilen": 1, ".": 2, ":": 3, "bel": 4, "irtilen": 5, "Ġ": 6, ".:": 7, "belirtilen": 8,
             ".:.": 9, "be": 10, "l": 11, "ir": 12, "ti": 13, "en": 14, "irtil": 15, "irti": 16, "i": 17, "r": 18,
             "t": 19, "b": 20, "e": 21, "n": 22}  # fmt: skip
    merges = [(".", ":"), ("b", "e"), ("be", "l"), ("i", "r"), ("t", "i"), ("ir", "ti"), ("e", "n"), ("irti", "l")]
    bpe = BPE(vocab, merges, ignore_merges=True)
    assert triples(bpe.tokenize(".:.:")) == [(0, ".:.:", (0, 4))]
    assert triples(bpe.tokenize("Ġbelirtilen")) == [(1, "Ġbelirtilen", (0, 11))]
    bpe.ignore_merges = False
    assert [t.value for t in bpe.tokenize(".:.:")] == [".:", ".:"]
    assert [t.value for t in bpe.tokenize("Ġbelirtilen")] == ["Ġ", "bel", "irtil", "en"]


def test_bpe_dropout_extremes_and_seeding():
    bpe = BPE(UNRELATED_VOCAB, UNRELATED_MERGES, dropout=0.0)
    assert [t.value for t in bpe.tokenize("unrelated")] == ["unrelated"]
    bpe.dropout = 1.0
    assert "".join(t.value for t in bpe.tokenize("unrelated")) == "unrelated"
    assert len(bpe.tokenize("unrelated")) == 9
    bpe.dropout = 0.5
    bpe.set_dropout_seed(7)
    first = [triples(bpe.tokenize("unrelated")) for _ in range(20)]
    bpe.set_dropout_seed(7)
    assert [triples(bpe.tokenize("unrelated")) for _ in range(20)] == first
    assert len({tuple(x) for x in first}) > 1  # it really is random
    for toks in first:
        assert "".join(t[1] for t in toks) == "unrelated" and 1 <= len(toks) <= 9


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.5", True])
def test_bpe_invalid_dropout(bad):
    with pytest.raises(TokenizerError, match="dropout"):
        BPE(dropout=bad)


def test_bpe_dropout_is_stored_as_f32_like_the_reference():
    assert BPE(dropout=0.1).to_dict()["dropout"] == 0.1
    assert BPE(dropout=0.123456789).dropout == 0.12345679
    assert as_f32(None) is None


@pytest.mark.parametrize("shuffle_ranks", [False, True])
def test_bpe_merge_strategies_agree_on_random_words(shuffle_ranks):
    """The list scan (short words) and rank buckets (long words) must equal the reference's heap loop."""
    rng = random.Random(0)
    alphabet = "abcde"
    vocab = {c: i for i, c in enumerate(alphabet)}
    merges = []
    tokens = list(alphabet)
    while len(merges) < 80:
        a, b = rng.choice(tokens), rng.choice(tokens)
        if a + b in vocab or len(a + b) > 6:
            continue
        vocab[a + b] = len(vocab)
        tokens.append(a + b)
        merges.append((a, b))
    if shuffle_ranks:  # merges that build on later ones: a merge can create a lower-ranked pair
        rng.shuffle(merges)
    bpe = BPE(vocab, merges, cache_capacity=0)
    for _ in range(300):
        word = "".join(rng.choice(alphabet) for _ in range(rng.randint(2, 120)))
        ids, lens = bpe._initial_symbols(word)
        expected = bpe._merge(list(ids), list(lens))
        assert bpe._merge_short(list(ids), list(lens)) == expected, word
        assert bpe._merge_by_rank(list(ids), list(lens)) == expected, word


def test_bpe_long_word_is_not_quadratic():
    vocab = {"a": 0, "b": 1, "ab": 2, "abab": 3}
    bpe = BPE(vocab, [("a", "b"), ("ab", "ab")])
    start = time.process_time()
    tokens = bpe.tokenize("ab" * 100_000)
    assert time.process_time() - start < 10
    assert len(tokens) == 50_000 and tokens[-1] == Token(3, "abab", (199_996, 200_000))


def test_bpe_cache_respects_capacity_and_setters_clear_it():
    bpe = BPE({"a": 0, "b": 1, "<unk>": 2}, [], cache_capacity=2)
    for w in ("a", "b", "ab", "ba"):
        bpe.tokenize(w)
    assert len(bpe._cache) == 2
    assert triples(bpe.tokenize("ax")) == [(0, "a", (0, 1))]
    bpe.unk_token = "<unk>"
    assert triples(bpe.tokenize("ax")) == [(0, "a", (0, 1)), (2, "<unk>", (1, 2))]
    assert BPE({"a": 0}, [], cache_capacity=0).tokenize("a") and not BPE({"a": 0}, [], cache_capacity=0)._cache


def test_bpe_empty_and_default():
    bpe = BPE()
    assert bpe.tokenize("") == [] and bpe.get_vocab_size() == 0
    assert bpe.to_dict() == {
        "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
        "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
        "vocab": {}, "merges": [],
    }  # fmt: skip


def test_bpe_construction_errors():
    with pytest.raises(TokenizerError, match="both"):
        BPE({"a": 0})
    with pytest.raises(TokenizerFileError, match="'c'"):
        BPE({"a": 0, "b": 1}, [("a", "c")])
    with pytest.raises(TokenizerFileError, match="'ab'"):
        BPE({"a": 0, "b": 1}, [("a", "b")])
    with pytest.raises(TokenizerFileError, match="one space"):
        BPE({"a": 0, "b": 1}, ["a b c"])
    with pytest.raises(TokenizerFileError, match="integer"):
        BPE({"a": -1}, [])
    with pytest.warns(UserWarning, match="foo"):
        BPE(foo=1)


def test_bpe_vocab_ids_and_lookups():
    bpe = BPE({"a": 0, "b": 1, "ab": 5}, [("a", "b")])
    assert bpe.token_to_id("ab") == 5 and bpe.token_to_id("zz") is None
    assert bpe.id_to_token(5) == "ab" and bpe.id_to_token(3) is None
    assert bpe.get_vocab() == {"a": 0, "b": 1, "ab": 5}
    assert bpe.vocab_r == {0: "a", 1: "b", 5: "ab"}
    # to_dict orders the vocab by id
    assert list(BPE({"z": 2, "a": 0, "m": 1}, []).to_dict()["vocab"]) == ["a", "m", "z"]


def test_bpe_read_file_with_and_without_version_header(tmp_path):
    (tmp_path / "vocab.json").write_text('{"a": 0, "b": 1, "ab": 2, "c": 3}', encoding="utf-8")
    (tmp_path / "m1.txt").write_text("#version: 0.2\na b\n", encoding="utf-8")
    (tmp_path / "m2.txt").write_text("a b\r\n", encoding="utf-8")
    v1, m1 = BPE.read_file(str(tmp_path / "vocab.json"), str(tmp_path / "m1.txt"))
    v2, m2 = BPE.read_file(str(tmp_path / "vocab.json"), str(tmp_path / "m2.txt"))
    assert v1 == v2 == {"a": 0, "b": 1, "ab": 2, "c": 3}
    assert m1 == m2 == [("a", "b")]
    bpe = BPE.from_file(str(tmp_path / "vocab.json"), str(tmp_path / "m1.txt"), unk_token="c")
    assert bpe.unk_token == "c" and bpe.tokenize("ab")[0].value == "ab"
    assert BPE(str(tmp_path / "vocab.json"), str(tmp_path / "m1.txt")) == BPE(v1, m1)


def test_bpe_read_file_errors_name_file_and_line(tmp_path):
    (tmp_path / "vocab.json").write_text('{"a": 0, "b": 1, "ab": 2}', encoding="utf-8")
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\nb\n", encoding="utf-8")
    with pytest.raises(TokenizerFileError) as err:
        BPE.read_file(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    assert "merges.txt" in str(err.value) and "line 3" in str(err.value)
    with pytest.raises(TokenizerFileError, match="not found"):
        BPE.read_file(str(tmp_path / "nope.json"), str(tmp_path / "merges.txt"))
    (tmp_path / "bad.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(TokenizerFileError, match="bad.json"):
        BPE.read_file(str(tmp_path / "bad.json"), str(tmp_path / "merges.txt"))
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(TokenizerFileError, match="broken.json"):
        BPE.read_file(str(tmp_path / "broken.json"), str(tmp_path / "merges.txt"))


def test_bpe_save_and_reload(tmp_path):
    bpe = BPE({"a": 0, "b": 1, "ab": 2, "a b": 3}, [("a", "b")], unk_token="a")
    paths = bpe.save(str(tmp_path))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["vocab.json", "merges.txt"]
    assert (tmp_path / "vocab.json").read_text(encoding="utf-8") == '{"a":0,"b":1,"ab":2,"a b":3}'
    assert (tmp_path / "merges.txt").read_text(encoding="utf-8") == "#version: 0.2\na b\n"
    named = bpe.save(str(tmp_path), "pre")
    assert named[0].endswith("pre-vocab.json") and named[1].endswith("pre-merges.txt")
    assert BPE.from_file(*paths).merge_ranks == bpe.merge_ranks
    with pytest.raises(TokenizerError, match="does not exist"):
        bpe.save(str(tmp_path / "missing"))


def test_bpe_from_dict_round_trip_and_pickle():
    d = {
        "type": "BPE", "dropout": 0.25, "unk_token": "<unk>", "continuing_subword_prefix": "##",
        "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": True,
        "vocab": {"<unk>": 0, "a": 1, "##b": 2, "ab": 3}, "merges": [["a", "##b"]],
    }  # fmt: skip
    bpe = models.from_dict(d)
    assert isinstance(bpe, BPE) and bpe.to_dict() == d and list(bpe.to_dict()) == list(d)
    legacy = dict(d, merges=["a ##b"])
    assert models.from_dict(legacy) == bpe
    clone = pickle.loads(pickle.dumps(bpe))
    assert clone == bpe and clone.merge_ranks == bpe.merge_ranks
    assert "BPE(" in repr(bpe) and "unk_token='<unk>'" in repr(bpe)


def test_bpe_from_dict_errors():
    with pytest.raises(TokenizerFileError, match="vocab.*merges"):
        models.from_dict({"type": "BPE", "vocab": {}})
    with pytest.raises(TokenizerFileError, match="dropout"):
        models.from_dict({"type": "BPE", "vocab": {}, "merges": [], "dropout": 2})
    with pytest.raises(TokenizerFileError, match="fuse_unk"):
        models.from_dict({"type": "BPE", "vocab": {}, "merges": [], "fuse_unk": "yes"})
    with pytest.raises(TokenizerFileError, match=r"merges\[0\]"):
        models.from_dict({"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "z"]]})


# --- models.from_dict ---------------------------------------------------------------------
def test_from_dict_dispatch_and_errors():
    assert models.from_dict(None) is None
    with pytest.raises(TokenizerFileError, match="BPE, WordPiece, WordLevel, Unigram"):
        models.from_dict({"type": "Foo"})
    with pytest.raises(TokenizerFileError, match="fit none"):
        models.from_dict({"vocab": {"a": 0}})
    # files written before "type" existed: the fields tell the model
    assert isinstance(models.from_dict({"vocab": {"a": 0}, "merges": []}), BPE)
    assert isinstance(models.from_dict({"vocab": [["a", 0.0]]}), Unigram)
    assert isinstance(models.from_dict({"vocab": {"a": 0}, "unk_token": "a"}), WordLevel)
    wp = {"vocab": {"a": 0}, "unk_token": "a", "continuing_subword_prefix": "#", "max_input_chars_per_word": 5}
    assert isinstance(models.from_dict(wp), WordPiece)


# --- WordPiece ----------------------------------------------------------------------------
def test_wordpiece_greedy_longest_match():
    wp = WordPiece({"un": 0, "##aff": 1, "##able": 2, "[UNK]": 3, "u": 4, "##n": 5, "##a": 6})
    assert triples(wp.tokenize("unaffable")) == [(0, "un", (0, 2)), (1, "##aff", (2, 5)), (2, "##able", (5, 9))]
    assert triples(wp.tokenize("una")) == [(0, "un", (0, 2)), (6, "##a", (2, 3))]
    assert triples(wp.tokenize("unx")) == [(3, "[UNK]", (0, 3))]  # any failure: the whole word is unk
    assert wp.tokenize("") == []


def test_wordpiece_max_input_chars_and_missing_unk():
    wp = WordPiece({"a": 0, "##a": 1, "[UNK]": 2}, max_input_chars_per_word=3)
    assert [t.value for t in wp.tokenize("aaa")] == ["a", "##a", "##a"]
    assert triples(wp.tokenize("aaaa")) == [(2, "[UNK]", (0, 4))]
    with pytest.raises(TokenizerError, match=r"\[UNK\]"):
        WordPiece({"a": 0}).tokenize("b")


def test_wordpiece_non_ascii_and_custom_prefix():
    wp = WordPiece({"é": 0, "@@t": 1, "<u>": 2}, unk_token="<u>", continuing_subword_prefix="@@")
    assert triples(wp.tokenize("ét")) == [(0, "é", (0, 1)), (1, "@@t", (1, 2))]


def test_wordpiece_read_file_and_save(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\na  \nb\r\n\n c\na\n", encoding="utf-8")
    vocab = WordPiece.read_file(str(tmp_path / "vocab.txt"))
    assert vocab == {"[PAD]": 0, "b": 2, "": 3, " c": 4, "a": 5}  # trailing space stripped, last duplicate wins
    wp = WordPiece.from_file(str(tmp_path / "vocab.txt"), unk_token="[PAD]")
    assert wp.unk_token == "[PAD]"
    (path,) = WordPiece({"b": 1, "a": 0, "c": 3}).save(str(tmp_path), "x")
    assert path.endswith("x-vocab.txt")
    assert (tmp_path / "x-vocab.txt").read_text(encoding="utf-8") == "a\nb\nc\n"
    with pytest.raises(TokenizerFileError, match="not found"):
        WordPiece.read_file(str(tmp_path / "none.txt"))


def test_wordpiece_from_bpe_and_dict_round_trip():
    bpe = BPE({"a": 0, "##b": 1, "ab": 2}, [("a", "##b")], continuing_subword_prefix="##")
    wp = WordPiece.from_bpe(bpe)
    assert wp.get_vocab() == bpe.get_vocab() and wp.continuing_subword_prefix == "##"
    d = wp.to_dict()
    assert list(d) == ["type", "unk_token", "continuing_subword_prefix", "max_input_chars_per_word", "vocab"]
    assert models.from_dict(d) == wp and pickle.loads(pickle.dumps(wp)) == wp
    with pytest.raises(TokenizerFileError, match="max_input_chars_per_word"):
        models.from_dict({"type": "WordPiece", "vocab": {}, "unk_token": "a", "continuing_subword_prefix": "#"})


# --- WordLevel ----------------------------------------------------------------------------
def test_wordlevel_lookup_and_unk():
    wl = WordLevel({"hello": 0, "<unk>": 1, "": 2}, unk_token="<unk>")
    assert triples(wl.tokenize("hello")) == [(0, "hello", (0, 5))]
    assert triples(wl.tokenize("héllo")) == [(1, "<unk>", (0, 5))]
    assert triples(wl.tokenize("")) == [(2, "", (0, 0))]
    with pytest.raises(TokenizerError, match="<unk>"):
        WordLevel({"a": 0}).tokenize("b")
    assert WordLevel().to_dict() == {"type": "WordLevel", "vocab": {}, "unk_token": "<unk>"}


def test_wordlevel_files_and_dict(tmp_path):
    wl = WordLevel({"b": 1, "a": 0}, unk_token="a")
    (path,) = wl.save(str(tmp_path))
    assert (tmp_path / "vocab.json").read_text(encoding="utf-8") == '{"a":0,"b":1}'
    assert WordLevel.from_file(path, unk_token="a") == wl
    assert models.from_dict(wl.to_dict()) == wl and pickle.loads(pickle.dumps(wl)) == wl
    with pytest.raises(TokenizerFileError, match="unk_token"):
        models.from_dict({"type": "WordLevel", "vocab": {}})
    (tmp_path / "bad.json").write_text('{"a": 1.5}', encoding="utf-8")
    with pytest.raises(TokenizerFileError, match="bad.json"):
        WordLevel.read_file(str(tmp_path / "bad.json"))


# --- Unigram ------------------------------------------------------------------------------
ABCD = [("<unk>", 0.0), ("a", 0.0), ("b", 0.0), ("c", 0.0), ("d", 0.0), ("cd", 1.0), ("ab", 2.0), ("abc", 5.0), ("abcd", 10.0)]


def test_unigram_best_segmentation_and_fused_unknowns():
    u = Unigram(ABCD, unk_id=0)
    assert u.encode("abcdacdxx") == ["abcd", "a", "cd", "xx"]
    assert triples(u.tokenize("abcdacdxx")) == [(8, "abcd", (0, 4)), (1, "a", (4, 5)), (5, "cd", (5, 7)), (0, "xx", (7, 9))]
    assert u.tokenize("") == []


def test_unigram_scores_pick_the_path():
    u = Unigram([("<unk>", 0.0), ("a", -1.0), ("b", -1.0), ("ab", -3.0)], unk_id=0)
    assert u.encode("ab") == ["a", "b"]  # -2 beats -3
    u = Unigram([("<unk>", 0.0), ("a", -1.0), ("b", -1.0), ("ab", -2.0)], unk_id=0)
    assert u.encode("ab") == ["ab"]  # a tie keeps the earliest-starting last piece


def test_unigram_unknown_character_scores_min_minus_ten():
    # min score is -12 ("xa"), so an unknown "x" scores -22. The path unk("x") + "a" beats
    # the single piece "xa" (-12) exactly when "a" scores more than +10.
    assert Unigram([("<unk>", 0.0), ("xa", -12.0), ("a", 9.5)], unk_id=0).encode("xa") == ["xa"]
    assert Unigram([("<unk>", 0.0), ("xa", -12.0), ("a", 10.5)], unk_id=0).encode("xa") == ["x", "a"]
    assert Unigram([("<unk>", 0.0), ("xa", -12.0), ("a", 9.5)], unk_id=0).min_score == -12.0


def test_unigram_byte_fallback_pieces_share_the_offsets():
    vocab = [("<unk>", 0.0), ("a", -1.0)] + [(f"<0x{b:02X}>", -5.0) for b in range(256)]
    u = Unigram(vocab, unk_id=0, byte_fallback=True)
    assert triples(u.tokenize("aé")) == [(1, "a", (0, 1)), (2 + 0xC3, "<0xC3>", (1, 2)), (2 + 0xA9, "<0xA9>", (1, 2))]
    # byte pieces missing: plain unk with the original text as value
    u = Unigram([("<unk>", 0.0), ("a", -1.0)], unk_id=0, byte_fallback=True)
    assert triples(u.tokenize("aé")) == [(1, "a", (0, 1)), (0, "é", (1, 2))]


def test_unigram_missing_unk_id():
    u = Unigram([("a", -1.0)])
    assert u.unk_id is None and [t.value for t in u.tokenize("aa")] == ["a", "a"]
    with pytest.raises(TokenizerError, match="unk_id"):
        u.tokenize("ab")


def test_unigram_construction_rules_and_errors():
    default = Unigram()
    assert default.vocab == [("<unk>", 0.0)] and default.unk_id == 0
    with pytest.raises(TokenizerError, match="both"):
        Unigram(unk_id=0)
    with pytest.raises(TokenizerError, match="not in the vocabulary"):
        Unigram([("a", 0.0)], unk_id=3)
    with pytest.raises(TokenizerError, match="empty"):
        Unigram([], unk_id=0)
    with pytest.raises(TokenizerFileError, match="score"):
        Unigram([("a", "high")])
    with pytest.raises(TokenizerFileError, match="unk_id"):
        models.from_dict({"type": "Unigram", "vocab": [["a", 0.0]], "unk_id": 1.0})
    assert Unigram([]).min_score == float("inf")


def test_unigram_lookups_and_duplicates():
    u = Unigram([("a", 0.0), ("b", -1.0), ("a", -2.0)])
    assert u.token_to_id("a") == 2  # a repeated piece maps to its last id
    assert u.id_to_token(0) == "a" and u.id_to_token(3) is None and u.id_to_token(-1) is None
    assert u.get_vocab_size() == 3 and u.get_vocab() == {"a": 2, "b": 1}


def test_unigram_dict_save_and_pickle(tmp_path):
    u = Unigram([("<unk>", 0.0), ("a", -1e-05), ("b", -2.5)], unk_id=0, byte_fallback=True)
    d = u.to_dict()
    assert d == {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a", -1e-05], ["b", -2.5]], "byte_fallback": True}
    assert models.from_dict(d) == u and pickle.loads(pickle.dumps(u)) == u
    (path,) = u.save(str(tmp_path), "m")
    assert path.endswith("m-unigram.json")
    text = (tmp_path / "m-unigram.json").read_text(encoding="utf-8")
    assert '"a",\n      -0.00001\n' in text
    assert json.loads(text) == d


def test_unigram_long_input_is_linear():
    u = Unigram([("<unk>", 0.0)] + [("ab" * k, -float(k)) for k in range(1, 9)], unk_id=0)
    start = time.process_time()
    pieces = u.encode("ab" * 50_000 + "zz")
    assert time.process_time() - start < 10
    assert "".join(pieces) == "ab" * 50_000 + "zz" and pieces[-1] == "zz"


# --- JSON number helpers ------------------------------------------------------------------
def test_serde_float_helpers():
    assert serde_parse_float("-7.3896660804748535") == -7.389666080474853
    assert serde_parse_float("0.5") == 0.5 and serde_parse_float("1e3") == 1000.0
    assert serde_parse_float("-0.0") == 0.0
    assert serde_format_float(1e-05) == "0.00001"
    assert serde_format_float(1.25e-7) == "1.25e-7"
    assert serde_format_float(1e16) == "1e+16" and serde_format_float(1e15) == "1000000000000000.0"
    assert serde_format_float(-2.5) == "-2.5"


def test_get_trainer_matches_the_model_kind():
    assert type(BPE().get_trainer()).__name__ == "BpeTrainer"
    assert type(WordPiece().get_trainer()).__name__ == "WordPieceTrainer"
    assert type(WordLevel().get_trainer()).__name__ == "WordLevelTrainer"
    assert type(Unigram().get_trainer()).__name__ == "UnigramTrainer"


# --- Unigram sampling (subword regularization) ---------------------------------------------
SAMPLING_VOCAB = [("<unk>", 0.0), ("a", -1.0), ("b", -1.2), ("ab", -1.5), ("ba", -1.7), ("aba", -2.6)]


def segmentation_probabilities(word: str, vocab, alpha: float) -> dict[tuple[str, ...], float]:
    """Brute force: every segmentation into vocab pieces, weighted exp(alpha * score)."""
    scores = dict(vocab)
    weights: dict[tuple[str, ...], float] = {}

    def walk(rest: str, pieces: tuple[str, ...], total: float) -> None:
        if not rest:
            weights[pieces] = math.exp(alpha * total)
            return
        for end in range(1, len(rest) + 1):
            if rest[:end] in scores:
                walk(rest[end:], pieces + (rest[:end],), total + scores[rest[:end]])

    walk(word, (), 0.0)
    z = sum(weights.values())
    return {k: v / z for k, v in weights.items()}


def test_unigram_sampling_follows_the_path_distribution():
    u = Unigram(SAMPLING_VOCAB, unk_id=0, alpha=0.7)
    u.set_sampling_seed(1)
    draws = 4000
    counts = Counter(tuple(u.encode("ababa")) for _ in range(draws))
    expected = segmentation_probabilities("ababa", SAMPLING_VOCAB, 0.7)
    assert set(counts) <= set(expected)
    for seg, p in expected.items():
        assert abs(counts[seg] / draws - p) < 0.03, seg


def test_unigram_nbest_sampling_and_switches():
    u = Unigram(SAMPLING_VOCAB, unk_id=0, alpha=0.5, nbest_size=2)
    u.set_sampling_seed(0)
    seen = {tuple(u.encode("abab")) for _ in range(200)}
    probs = segmentation_probabilities("abab", SAMPLING_VOCAB, 1.0)
    top2 = set(sorted(probs, key=probs.get, reverse=True)[:2])
    assert seen == top2
    best = tuple(Unigram(SAMPLING_VOCAB, unk_id=0).encode("abab"))
    assert {tuple(Unigram(SAMPLING_VOCAB, unk_id=0, alpha=0.5, nbest_size=1).encode("abab")) for _ in range(50)} == {best}
    assert {tuple(Unigram(SAMPLING_VOCAB, unk_id=0, alpha=0.0).encode("abab")) for _ in range(50)} == {best}
    # unknown characters are fused while sampling too
    assert {tuple(Unigram(SAMPLING_VOCAB, unk_id=0, alpha=0.5).encode("xxaxx")) for _ in range(50)} == {("xx", "a", "xx")}
    with pytest.raises(TokenizerError, match="nbest_size"):
        Unigram(SAMPLING_VOCAB, unk_id=0, nbest_size=-1)


def test_unigram_sampling_seed_is_reproducible():
    u = Unigram(SAMPLING_VOCAB, unk_id=0, alpha=0.3)
    u.set_sampling_seed(5)
    first = [u.encode("abababab") for _ in range(30)]
    u.set_sampling_seed(5)
    assert [u.encode("abababab") for _ in range(30)] == first
    assert all("".join(p) == "abababab" for p in first)
