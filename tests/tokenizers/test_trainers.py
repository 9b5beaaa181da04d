"""Unit tests of snuggle.tokenizers.trainers (no reference library; see tests/parity for that)."""

from __future__ import annotations

import math
import pickle
import re
from collections import Counter

import pytest

from snuggle.errors import TokenizerError
from snuggle.tokenizers import trainers
from snuggle.tokenizers.added_vocabulary import AddedToken
from snuggle.tokenizers.trainers import BpeTrainer, WordLevelTrainer, WordPieceTrainer, merge_loop_python
from snuggle.tokenizers.unigram_trainer import UnigramTrainer, digamma, right_maximal_repeats

SHAKESPEARE = "/work/shared/datasets/tinyshakespeare/input.txt"


def _word_counts(n_chars: int = 60_000) -> Counter:
    with open(SHAKESPEARE, encoding="utf-8") as f:
        text = f.read(n_chars)
    # GPT-2-like split: a leading space stays on the word, so tokens get re-created by
    # different pairs (e.g. ' t'+'he' and ' th'+'e'), the case that needs lazy heap entries.
    return Counter(re.findall(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+", text))


def _train(trainer: BpeTrainer, counts, python: bool):
    trainer.use_python_merge_loop = python
    return trainer.train_from_word_counts(counts)


# ---------------------------------------------------------------------------------------
# C fast path == Python reference
# ---------------------------------------------------------------------------------------
def test_c_extension_is_built():
    assert trainers._c_merge_loop is not None, "snuggle.tokenizers._train was not built (setup.py build_ext)"


@pytest.mark.parametrize(
    "options",
    [
        dict(vocab_size=1200),
        dict(vocab_size=900, min_frequency=3, special_tokens=["<s>", "</s>"]),
        dict(vocab_size=900, continuing_subword_prefix="##", end_of_word_suffix="</w>"),
        dict(vocab_size=900, max_token_length=4, limit_alphabet=40),
        dict(vocab_size=900, continuing_subword_prefix="@@", initial_alphabet=["xyz", "é"]),
    ],
)
def test_c_and_python_merge_loops_agree(options):
    counts = _word_counts()
    fast = _train(BpeTrainer(show_progress=False, **options), counts, python=False)
    slow = _train(BpeTrainer(show_progress=False, **options), counts, python=True)
    assert len(fast.merges) > 100
    assert fast.merges == slow.merges
    assert list(fast.vocab.items()) == list(slow.vocab.items())


def test_merge_loops_agree_on_raw_ids():
    words = [[0, 0, 0, 0, 1], [0, 1, 0, 1], [1, 1, 1]]
    counts = [3, 2, 5]

    def run(loop):
        id_to_word, word_to_id = ["a", "b"], {"a": 0, "b": 1}
        merges = loop([list(w) for w in words], counts, id_to_word, word_to_id, 50, 0, None, None, None)
        return merges, id_to_word

    assert run(trainers._c_merge_loop) == run(merge_loop_python)


# ---------------------------------------------------------------------------------------
# BPE semantics
# ---------------------------------------------------------------------------------------
def test_bpe_vocab_layout_specials_then_sorted_alphabet():
    result = BpeTrainer(vocab_size=100, special_tokens=["<pad>", AddedToken("<x>")], show_progress=False)
    vocab = result.train_from_word_counts({"cab": 2, "bad": 1}).vocab
    ordered = sorted(vocab, key=vocab.get)
    assert ordered[:6] == ["<pad>", "<x>", "a", "b", "c", "d"]


def test_bpe_ties_prefer_smallest_ids_not_strings():
    # 'aa' (id 3) sorts before 'b' (id 1) as a string, but the tie goes to the smaller ids
    counts = {"aa": 10, "aax": 3, "bx": 3}
    merges = BpeTrainer(vocab_size=100, show_progress=False).train_from_word_counts(counts).merges
    assert merges == [("a", "a"), ("b", "x"), ("aa", "x")]


def test_bpe_min_frequency_stops_merging():
    merges = BpeTrainer(vocab_size=100, min_frequency=3, show_progress=False).train_from_word_counts(
        {"ab": 3, "cd": 2}
    ).merges
    assert merges == [("a", "b")]


def test_bpe_limit_and_initial_alphabet():
    trainer = BpeTrainer(vocab_size=5, limit_alphabet=2, initial_alphabet=["zebra"], show_progress=False)
    assert trainer.initial_alphabet == ["z"]
    vocab = trainer.train_from_word_counts({"aaab": 1}).vocab
    # 'z' is kept whatever its count, 'a' is the most frequent seen character, 'b' is dropped
    assert sorted(vocab, key=vocab.get)[:2] == ["a", "z"]
    assert "b" not in vocab


def test_bpe_max_token_length():
    vocab = BpeTrainer(vocab_size=100, max_token_length=2, show_progress=False).train_from_word_counts(
        {"abcabc": 5, "abcd": 4}
    ).vocab
    assert max(len(t) for t in vocab) <= 2


def test_bpe_prefix_and_suffix_symbols():
    vocab = BpeTrainer(
        vocab_size=6, continuing_subword_prefix="##", end_of_word_suffix="</w>", show_progress=False
    ).train_from_word_counts({"ab": 1}).vocab
    assert set(vocab) == {"a", "b", "##b</w>", "ab</w>"}


def test_wordpiece_trainer_uses_prefix():
    vocab = WordPieceTrainer(vocab_size=30, show_progress=False).train_from_word_counts({"hug": 3, "hugs": 2}).vocab
    assert "##u" in vocab and "hug" in vocab


def test_wordlevel_order_min_frequency_and_size():
    trainer = WordLevelTrainer(vocab_size=4, min_frequency=2, special_tokens=["[UNK]"], show_progress=False)
    vocab = trainer.train_from_word_counts({"b": 3, "a": 3, "c": 9, "d": 1, "e": 2}).vocab
    assert vocab == {"[UNK]": 0, "c": 1, "a": 2, "b": 3}


# ---------------------------------------------------------------------------------------
# trainer contract: feed / train(model) / errors / pickling
# ---------------------------------------------------------------------------------------
def test_feed_counts_words_and_replaces_previous_counts():
    trainer = BpeTrainer(show_progress=False)
    trainer.feed(["a b a", "b c"], str.split)
    assert trainer._words == {"a": 2, "b": 2, "c": 1}
    trainer.feed(["x"], str.split)
    assert trainer._words == {"x": 1} and trainer.get_word_count() == 1


class _FakeModel:
    """Smallest model honouring the contract train() relies on: to_dict + __init__(**kw)."""

    def __init__(self, type_="BPE", **kwargs):
        self.type_ = type_
        self.kwargs = kwargs

    def to_dict(self):
        return {"type": self.type_, **self.kwargs}


class _FakeBPE(_FakeModel):
    def __init__(self, **kwargs):
        super().__init__("BPE", **kwargs)


def test_train_updates_model_in_place_keeping_its_options():
    model = _FakeBPE(unk_token="<unk>", dropout=0.25, fuse_unk=True, continuing_subword_prefix="@@")
    trainer = BpeTrainer(vocab_size=10, special_tokens=["<unk>"], show_progress=False)
    trainer.feed(["abab"], lambda s: [s])
    special = trainer.train(model)
    assert [t.content for t in special] == ["<unk>"] and special[0].special
    assert model.kwargs["vocab"]["<unk>"] == 0
    assert model.kwargs["merges"][0] == ("a", "b")
    assert model.kwargs["unk_token"] == "<unk>" and model.kwargs["dropout"] == 0.25 and model.kwargs["fuse_unk"]
    assert model.kwargs["continuing_subword_prefix"] is None  # the trainer's prefix wins, as in the reference


def test_train_rejects_the_wrong_model():
    with pytest.raises(TokenizerError, match="can only train a BPE"):
        BpeTrainer(show_progress=False).train(_FakeModel("WordPiece"))
    with pytest.raises(TokenizerError, match="can only train a Unigram"):
        UnigramTrainer(show_progress=False).train(_FakeModel("BPE"))


def test_bad_special_tokens_are_reported():
    with pytest.raises(TokenizerError, match="special_tokens"):
        BpeTrainer(special_tokens=[3])


def test_pickle_and_repr():
    trainer = WordPieceTrainer(vocab_size=77, special_tokens=["[CLS]"], show_progress=False)
    clone = pickle.loads(pickle.dumps(trainer))
    assert clone.vocab_size == 77 and clone.special_tokens[0].content == "[CLS]"
    assert "vocab_size=77" in repr(trainer)


# ---------------------------------------------------------------------------------------
# Unigram
# ---------------------------------------------------------------------------------------
def test_digamma_matches_known_values():
    assert digamma(1.0) == pytest.approx(-0.5772156649, abs=1e-8)
    harmonic_10 = sum(1.0 / k for k in range(1, 11))
    assert digamma(11.0) == pytest.approx(-0.5772156649 + harmonic_10, abs=1e-8)


def test_right_maximal_repeats_are_suffix_tree_nodes():
    # 'ab' occurs 3 times followed by 'c', 'd', end -> node; 'bc' twice, always followed by end -> not a node
    repeats = right_maximal_repeats(["abc", "abd", "ab", "xbc"], max_len=16)
    assert repeats["ab"] == 3
    assert "bc" not in repeats


def test_unigram_seed_pieces_like_the_reference_example():
    # the reference's own unit test: chars by count, then "is " (score 6) and "s " (score 4)
    seeds = UnigramTrainer(show_progress=False)._seed_pieces([("This is a", 1), ("こんにちは友達", 1)])
    assert [p for p, _ in seeds][-2:] == ["is ", "s "]
    # 16 character occurrences + 6 + 4: log(6 / 26), the value in the reference test
    assert seeds[-2][1] == pytest.approx(math.log(6 / 26))


def test_unigram_special_and_unk_placement():
    counts = {"The": 12, "are": 11}
    pieces = UnigramTrainer(special_tokens=["[SEP]", "[CLS]"], unk_token="[UNK]", show_progress=False)
    result = pieces.train_from_word_counts(counts)
    assert [p for p, _ in result.vocab[:3]] == ["[UNK]", "[SEP]", "[CLS]"] and result.unk_id == 0
    result = UnigramTrainer(special_tokens=["[SEP]", "[UNK]"], unk_token="[UNK]", show_progress=False)
    result = result.train_from_word_counts(counts)
    assert [p for p, _ in result.vocab[:2]] == ["[SEP]", "[UNK]"] and result.unk_id == 1
    result = UnigramTrainer(show_progress=False).train_from_word_counts(counts)
    assert result.unk_id is None and result.vocab[0][0] == "e"


def test_unigram_learns_frequent_pieces_and_keeps_all_chars():
    counts = _word_counts(20_000)
    result = UnigramTrainer(vocab_size=300, show_progress=False).train_from_word_counts(counts)
    pieces = [p for p, _ in result.vocab]
    assert len(pieces) == 300
    assert set("".join(counts)) <= set(pieces)
    scores = [s for _, s in result.vocab]
    assert scores == sorted(scores, reverse=True)


def test_empty_corpus_gives_only_special_tokens():
    assert BpeTrainer(special_tokens=["<s>"], show_progress=False).train_from_word_counts({}).vocab == {"<s>": 0}
    result = UnigramTrainer(special_tokens=["<s>"], unk_token="<unk>", show_progress=False).train_from_word_counts({})
    assert result.vocab == [("<unk>", 0.0), ("<s>", 0.0)] and result.unk_id == 0
