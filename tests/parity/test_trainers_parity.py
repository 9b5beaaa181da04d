"""Parity of snuggle's trainers with `tokenizers.trainers` (the reference, computed in the same run).

Both sides learn from the same words: the reference pre-tokenizes with its own pre-tokenizer
inside Tokenizer.train_from_iterator; ours gets the word counts of that same pre-tokenizer's
output through train_from_word_counts.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from tokenizers import trainers as ref_trainers

from snuggle.tokenizers.trainers import BpeTrainer, WordLevelTrainer, WordPieceTrainer
from snuggle.tokenizers.unigram_trainer import UnigramTrainer

DATA = "/work/shared/datasets"


def _lines(path: str, n_chars: int) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return f.read(n_chars).splitlines()


def _reference(model, pre_tokenizer, trainer, lines) -> dict:
    tok = Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizer
    tok.train_from_iterator(lines, trainer)
    return json.loads(tok.to_str())["model"]


def _counts(pre_tokenizer, lines) -> Counter:
    counts: Counter = Counter()
    for line in lines:
        counts.update(w for w, _ in pre_tokenizer.pre_tokenize_str(line))
    return counts


# ---------------------------------------------------------------------------------------
# BPE (deterministic in the reference: must be identical, ids and merge order included)
# ---------------------------------------------------------------------------------------
def test_byte_level_bpe_on_the_cs336_corpus():
    lines = _lines(f"{DATA}/bpe_training_reference/corpus.en", 10**9)
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False)
    options = dict(vocab_size=500, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    ref = _reference(models.BPE(), pre, ref_trainers.BpeTrainer(show_progress=False, **options), lines)
    ours = BpeTrainer(show_progress=False, **options).train_from_word_counts(_counts(pre, lines))
    assert list(ours.vocab.items()) == list(ref["vocab"].items())
    assert [list(m) for m in ours.merges] == ref["merges"]


BPE_CASES = [
    dict(vocab_size=3000),
    dict(vocab_size=2000, min_frequency=4, special_tokens=["<unk>", "<pad>"]),
    dict(vocab_size=2000, max_token_length=5),
    dict(vocab_size=1500, limit_alphabet=50, initial_alphabet=["~", "ü"]),
]


@pytest.mark.parametrize("options", BPE_CASES)
def test_bpe_on_tinyshakespeare(options):
    lines = _lines(f"{DATA}/tinyshakespeare/input.txt", 300_000)
    pre = pre_tokenizers.ByteLevel()
    ref = _reference(models.BPE(), pre, ref_trainers.BpeTrainer(show_progress=False, **options), lines)
    ours = BpeTrainer(show_progress=False, **options).train_from_word_counts(_counts(pre, lines))
    assert list(ours.vocab.items()) == list(ref["vocab"].items())
    assert [list(m) for m in ours.merges] == ref["merges"]


def test_bpe_python_merge_loop_on_botchan():
    lines = _lines(f"{DATA}/sentencepiece/botchan.txt", 10**9)
    pre = pre_tokenizers.Whitespace()
    ref = _reference(models.BPE(), pre, ref_trainers.BpeTrainer(vocab_size=2000, show_progress=False), lines)
    trainer = BpeTrainer(vocab_size=2000, show_progress=False)
    trainer.use_python_merge_loop = True
    ours = trainer.train_from_word_counts(_counts(pre, lines))
    assert [list(m) for m in ours.merges] == ref["merges"]
    assert ours.vocab == ref["vocab"]


# ---------------------------------------------------------------------------------------
# Prefix/suffix symbols: the reference numbers them while walking a hash map, so their ids
# change from run to run. We read the order the reference used from its vocab and give it
# to ours; with that order everything else (every id, every merge) must be identical.
# ---------------------------------------------------------------------------------------
def _subword_order(ref_vocab: dict, specials: list[str], prefix: str | None, suffix: str | None) -> list[str]:
    def core(token: str) -> str:
        if prefix and token.startswith(prefix):
            token = token[len(prefix) :]
        if suffix and token.endswith(suffix):
            token = token[: -len(suffix)]
        return token

    order = []
    for token in sorted(ref_vocab, key=ref_vocab.get):
        if token in specials or len(token) == 1:
            continue
        if len(core(token)) != 1:
            break  # first merged token: the initial symbols are over
        order.append(token)
    return order


def test_bpe_with_prefix_and_suffix():
    lines = _lines(f"{DATA}/sentencepiece/botchan.txt", 150_000)
    pre = pre_tokenizers.Whitespace()
    options = dict(vocab_size=2500, continuing_subword_prefix="##", end_of_word_suffix="</w>")
    ref = _reference(models.BPE(), pre, ref_trainers.BpeTrainer(show_progress=False, **options), lines)
    trainer = BpeTrainer(show_progress=False, **options)
    order = _subword_order(ref["vocab"], [], "##", "</w>")
    assert len(order) > 50
    ours = trainer._learn(_counts(pre, lines), subword_order=order)
    assert list(ours.vocab.items()) == list(ref["vocab"].items())
    assert [list(m) for m in ours.merges] == ref["merges"]


def test_wordpiece_trainer():
    lines = _lines(f"{DATA}/tinyshakespeare/input.txt", 300_000)
    pre = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ref = _reference(
        models.WordPiece(unk_token="[UNK]"),
        pre,
        ref_trainers.WordPieceTrainer(vocab_size=3000, special_tokens=specials, show_progress=False),
        lines,
    )
    trainer = WordPieceTrainer(vocab_size=3000, special_tokens=specials, show_progress=False)
    ours = trainer._learn(_counts(pre, lines), subword_order=_subword_order(ref["vocab"], specials, "##", None))
    assert ours.vocab == ref["vocab"]
    # without the hint only the ids of the '##x' symbols (and ties they break) may differ
    plain = trainer.train_from_word_counts(_counts(pre, lines))
    assert len(set(plain.vocab) ^ set(ref["vocab"])) <= 0.01 * len(ref["vocab"])


def test_wordlevel_trainer():
    lines = _lines(f"{DATA}/tinyshakespeare/input.txt", 300_000)
    pre = pre_tokenizers.Whitespace()
    for options in (dict(vocab_size=1000, special_tokens=["[UNK]"]), dict(vocab_size=10**6, min_frequency=3)):
        ref = _reference(
            models.WordLevel(unk_token="[UNK]"), pre, ref_trainers.WordLevelTrainer(show_progress=False, **options), lines
        )
        ours = WordLevelTrainer(show_progress=False, **options).train_from_word_counts(_counts(pre, lines))
        assert ours.vocab == ref["vocab"]


# ---------------------------------------------------------------------------------------
# Unigram: floating point sums in another order and a hash-set walk in the reference's
# finalize (which missing characters get which 1e-4 penalty) allow small score differences.
# ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_unigram_trainer_on_botchan():
    lines = _lines(f"{DATA}/sentencepiece/botchan.txt", 25_000)
    pre = pre_tokenizers.Metaspace()
    options = dict(vocab_size=400, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>")
    ref = _reference(models.Unigram(), pre, ref_trainers.UnigramTrainer(show_progress=False, **options), lines)
    ours = UnigramTrainer(show_progress=False, **options).train_from_word_counts(_counts(pre, lines))
    assert ours.unk_id == ref["unk_id"]
    ref_scores = dict(map(tuple, ref["vocab"]))
    our_scores = dict(ours.vocab)
    assert len(ours.vocab) == len(ref["vocab"])
    assert set(our_scores) == set(ref_scores)
    assert [p for p, _ in ours.vocab[:50]] == [p for p, _ in ref["vocab"][:50]]
    worst = max(abs(our_scores[p] - ref_scores[p]) for p in ref_scores)
    assert worst < 0.01  # the penalty shuffle is n * 1e-4
    close = sum(abs(our_scores[p] - ref_scores[p]) < 1e-9 for p in ref_scores)
    assert close >= 0.97 * len(ref_scores)


def test_unigram_trainer_small():
    lines = _lines(f"{DATA}/sentencepiece/botchan.txt", 6_000)
    pre = pre_tokenizers.Metaspace()
    options = dict(vocab_size=150, special_tokens=["<pad>"], unk_token="<unk>", initial_alphabet=["q"])
    ref = _reference(models.Unigram(), pre, ref_trainers.UnigramTrainer(show_progress=False, **options), lines)
    ours = UnigramTrainer(show_progress=False, **options).train_from_word_counts(_counts(pre, lines))
    assert ours.unk_id == ref["unk_id"] == 0
    ref_scores = dict(map(tuple, ref["vocab"]))
    our_scores = dict(ours.vocab)
    assert set(our_scores) == set(ref_scores) and len(ours.vocab) == len(ref["vocab"])
    assert max(abs(our_scores[p] - ref_scores[p]) for p in ref_scores) < 0.01
