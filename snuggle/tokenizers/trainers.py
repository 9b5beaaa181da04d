"""Trainers that learn a vocabulary from a corpus (the `tokenizers.trainers` API).

A trainer is fed the words of a corpus (already normalized and pre-tokenized by the
Tokenizer), counts them, and `train(model)` replaces the model's vocabulary in place and
returns the special tokens the Tokenizer must add.

>>> from snuggle.tokenizers.trainers import BpeTrainer
>>> trainer = BpeTrainer(vocab_size=12, show_progress=False)
>>> result = trainer.train_from_word_counts({"low": 5, "lower": 2, "newest": 6})
>>> result.merges[:3]
[('w', 'e'), ('l', 'o'), ('e', 'we')]

BPE training reproduces the reference library exactly, tie-breaking included: the pair
with the highest count wins, and among equal counts the pair of smallest *ids* (the ids
are given in order: special tokens, alphabet sorted by code point, prefixed/suffixed
characters, then merged tokens in creation order). The merge loop itself lives in
`merge_loop_python` (readable reference) and in the C extension `snuggle.tokenizers._train`
(fast path); a test checks that both give identical merges.
"""

from __future__ import annotations

import heapq
from collections import Counter
from itertools import chain
from typing import Callable, Iterable, Mapping, NamedTuple, Sequence

from snuggle.errors import TokenizerError

try:  # the optional C fast path; absent when the extension was not built
    from snuggle.tokenizers import _train as _train_ext

    _c_merge_loop = getattr(_train_ext, "bpe_merge_loop", None)
except ImportError:  # pragma: no cover - depends on the build
    _c_merge_loop = None

# Rust's usize::MAX stands for "no limit" in the reference; any length is below it.
_NO_LIMIT = 1 << 62


class TrainedVocab(NamedTuple):
    """What a trainer learned: `vocab` (dict token->id, or for Unigram a list of
    (piece, score)), `merges` (BPE only), `unk_id` (Unigram only)."""

    vocab: dict | list
    merges: list | None = None
    unk_id: int | None = None


# --------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------
def _as_added_tokens(tokens: Sequence) -> list:
    """Strings become special AddedTokens, as the reference's Python binding does."""
    from snuggle.tokenizers.added_vocabulary import AddedToken

    out = []
    for t in tokens or []:
        if isinstance(t, str):
            out.append(AddedToken(t, special=True))
        elif isinstance(t, AddedToken):
            out.append(t)
        else:
            raise TokenizerError(f"special_tokens: expected str or AddedToken items, found {type(t).__name__}")
    return out


def _first_chars(alphabet: Iterable[str]) -> list[str]:
    """initial_alphabet keeps only the first character of each string (reference behaviour)."""
    chars = []
    for s in alphabet or []:
        if not isinstance(s, str):
            raise TokenizerError(f"initial_alphabet: expected strings, found {type(s).__name__}")
        if s and s[0] not in chars:
            chars.append(s[0])
    return chars


def _model_type(model) -> str:
    try:
        return model.to_dict()["type"]
    except Exception:  # noqa: BLE001 - any model without to_dict is simply the wrong kind
        return type(model).__name__


class Trainer:
    """Common part of every trainer: word counting, special tokens, progress flag."""

    _model_type = ""

    def __init__(self, show_progress: bool = True, special_tokens: Sequence = ()):
        self.show_progress = bool(show_progress)
        self.special_tokens = special_tokens
        self._words: dict[str, int] = {}

    @property
    def special_tokens(self) -> list:
        return list(self._special_tokens)

    @special_tokens.setter
    def special_tokens(self, tokens: Sequence) -> None:
        self._special_tokens = _as_added_tokens(tokens)

    def feed(self, iterator: Iterable[str], process: Callable[[str], list[str]]) -> None:
        """Count the words of every sequence; `process` normalizes and pre-tokenizes one.

        Like the reference, feeding replaces the previous counts.
        """
        # One Counter call over the chained word lists: the counting loop runs in C.
        self._words = dict(Counter(chain.from_iterable(map(process, iterator))))

    def feed_word_counts(self, counts: dict[str, int]) -> None:
        """Set the word counts directly (what `feed` computes), replacing previous counts."""
        self._words = dict(counts)

    def get_word_count(self) -> int:
        """Number of distinct words seen by the last `feed`."""
        return len(self._words)

    def _check_model(self, model) -> None:
        found = _model_type(model)
        if found != self._model_type:
            raise TokenizerError(f"{type(self).__name__} can only train a {self._model_type} model, got {found}")

    def _progress(self, total: int, desc: str):
        from snuggle.utils.progress import progress_bar

        return progress_bar(total=total, desc=desc, disable=None if self.show_progress else True, leave=False)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._repr_fields().items())
        return f"{type(self).__name__}({fields})"

    def _repr_fields(self) -> dict:
        return {"show_progress": self.show_progress, "special_tokens": [t.content for t in self._special_tokens]}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_special_tokens"] = [t.to_dict() for t in self._special_tokens]
        return state

    def __setstate__(self, state: dict) -> None:
        from snuggle.tokenizers.added_vocabulary import AddedToken

        state = dict(state)
        state["_special_tokens"] = [AddedToken.from_dict(d) for d in state["_special_tokens"]]
        self.__dict__.update(state)


# --------------------------------------------------------------------------------------
# BPE merge loop: readable reference (the C extension implements the same algorithm)
# --------------------------------------------------------------------------------------
def _merge_word(ids: list, lens: list, a: int, b: int, new_id: int, max_len: int) -> list:
    """Merge every non-overlapping (a, b) of one word, left to right, in place.

    Returns the pair-count changes ((left, right), +1/-1). A new pair is only counted
    when the token it would form stays shorter than `max_len` characters (reference rule).
    """
    changes = []
    i = 0
    while i < len(ids):
        if ids[i] == a and i + 1 < len(ids) and ids[i + 1] == b:
            new_len = lens[i] + lens[i + 1]
            if i > 0:
                changes.append(((ids[i - 1], a), -1))
                if lens[i - 1] + new_len < max_len:
                    changes.append(((ids[i - 1], new_id), 1))
            second = ids[i + 1]
            ids[i : i + 2] = [new_id]
            lens[i : i + 2] = [new_len]
            if i < len(ids) - 1:
                changes.append(((second, ids[i + 1]), -1))
                if lens[i + 1] + new_len < max_len:
                    changes.append(((new_id, ids[i + 1]), 1))
        i += 1
    return changes


def merge_loop_python(
    words: list[list[int]],
    counts: list[int],
    id_to_word: list[str],
    word_to_id: dict[str, int],
    vocab_size: int,
    min_frequency: int,
    max_token_length: int | None,
    prefix: str | None,
    on_merge: Callable[[int], None] | None = None,
) -> list[tuple[int, int, int]]:
    """Learn merges until the vocab reaches `vocab_size`; returns [(left_id, right_id, new_id)].

    `words` are lists of symbol ids (modified in place), `id_to_word`/`word_to_id` grow
    with every new token. Heap entries carry the set of words where their pair was seen;
    an entry whose count is stale is pushed back with the current count (lazy update),
    exactly as the reference does, so the merge order and its ties match.
    """
    max_len = _NO_LIMIT if max_token_length is None else max_token_length
    lens = [[1] * len(w) for w in words]
    pair_counts: dict[tuple[int, int], int] = {}
    where: dict[tuple[int, int], list[int]] = {}
    for i, ids in enumerate(words):
        c = counts[i]
        for j in range(len(ids) - 1):
            pair = (ids[j], ids[j + 1])
            pair_counts[pair] = pair_counts.get(pair, 0) + c
            positions = where.get(pair)
            if positions is None:
                where[pair] = [i]
            elif positions[-1] != i:
                positions.append(i)

    # Entry: (-count, left, right, seq, positions): highest count, then smallest pair.
    # seq only orders exact duplicates deterministically (same order as the C path).
    seq = 0
    heap = []
    for pair, positions in where.items():
        if pair_counts[pair] > 0:
            heap.append((-pair_counts[pair], pair[0], pair[1], seq, positions))
            seq += 1
    heapq.heapify(heap)

    merges: list[tuple[int, int, int]] = []
    strip = len(prefix) if prefix else 0
    while len(word_to_id) < vocab_size and heap:
        neg_count, a, b, _, positions = heapq.heappop(heap)
        current = pair_counts[(a, b)]
        if -neg_count != current:
            heapq.heappush(heap, (-current, a, b, seq, positions))
            seq += 1
            continue
        if current < 1 or min_frequency > current:
            break

        part_b = id_to_word[b]
        if prefix and part_b.startswith(prefix):
            part_b = part_b[strip:]
        new_token = id_to_word[a] + part_b
        new_id = word_to_id.get(new_token)
        if new_id is None:
            new_id = len(id_to_word)
            id_to_word.append(new_token)
            word_to_id[new_token] = new_id
        merges.append((a, b, new_id))

        new_where: dict[tuple[int, int], list[int]] = {}
        for i in positions:
            c = counts[i]
            for pair, change in _merge_word(words[i], lens[i], a, b, new_id, max_len):
                pair_counts[pair] = pair_counts.get(pair, 0) + change * c
                if change > 0:
                    where_list = new_where.get(pair)
                    if where_list is None:
                        new_where[pair] = [i]
                    elif where_list[-1] != i:
                        where_list.append(i)
        for pair, where_list in new_where.items():
            count = pair_counts[pair]
            if count > 0:
                heapq.heappush(heap, (-count, pair[0], pair[1], seq, where_list))
                seq += 1
        if on_merge is not None:
            on_merge(1)
    return merges


# --------------------------------------------------------------------------------------
# BPE
# --------------------------------------------------------------------------------------
class BpeTrainer(Trainer):
    """Trainer for a BPE model (same arguments as `tokenizers.trainers.BpeTrainer`).

    >>> t = BpeTrainer(vocab_size=10, special_tokens=["<unk>"], show_progress=False)
    >>> sorted(t.train_from_word_counts({"aaab": 3}).vocab.items(), key=lambda kv: kv[1])
    [('<unk>', 0), ('a', 1), ('b', 2), ('aa', 3), ('ab', 4), ('aaab', 5)]
    """

    _model_type = "BPE"

    def __init__(
        self,
        vocab_size: int = 30000,
        min_frequency: int = 0,
        show_progress: bool = True,
        special_tokens: Sequence = (),
        limit_alphabet: int | None = None,
        initial_alphabet: Sequence[str] = (),
        continuing_subword_prefix: str | None = None,
        end_of_word_suffix: str | None = None,
        max_token_length: int | None = None,
        progress_format: str = "indicatif",
    ):
        super().__init__(show_progress, special_tokens)
        self.vocab_size = int(vocab_size)
        self.min_frequency = int(min_frequency)
        self.limit_alphabet = limit_alphabet
        self.initial_alphabet = initial_alphabet
        self.continuing_subword_prefix = continuing_subword_prefix
        self.end_of_word_suffix = end_of_word_suffix
        self.max_token_length = max_token_length
        self.progress_format = progress_format
        # When True the pure-Python merge loop is used even if the C extension exists.
        self.use_python_merge_loop = False

    @property
    def initial_alphabet(self) -> list[str]:
        return list(self._initial_alphabet)

    @initial_alphabet.setter
    def initial_alphabet(self, alphabet: Sequence[str]) -> None:
        self._initial_alphabet = _first_chars(alphabet)

    def _repr_fields(self) -> dict:
        return {
            "vocab_size": self.vocab_size,
            "min_frequency": self.min_frequency,
            **super()._repr_fields(),
            "limit_alphabet": self.limit_alphabet,
            "initial_alphabet": self.initial_alphabet,
            "continuing_subword_prefix": self.continuing_subword_prefix,
            "end_of_word_suffix": self.end_of_word_suffix,
            "max_token_length": self.max_token_length,
        }

    # -- the three steps before merging --------------------------------------------------
    def _compute_alphabet(self, word_counts: Mapping[str, int]) -> list[str]:
        """Characters kept as initial tokens, sorted by code point.

        `limit_alphabet` drops the rarest characters; `initial_alphabet` characters count as
        infinitely frequent. Ties at the cut are broken by code point (the reference's order
        is unspecified there: it sorts a hash map with an unstable sort).
        """
        # Group words by count so that character counting runs in C over one string per count.
        by_count: dict[int, list[str]] = {}
        for word, count in word_counts.items():
            by_count.setdefault(count, []).append(word)
        alphabet: Counter = Counter()
        for count, words in by_count.items():
            for ch, n in Counter("".join(words)).items():
                alphabet[ch] += n * count
        for ch in self._initial_alphabet:
            alphabet[ch] = _NO_LIMIT
        kept = list(alphabet.items())
        if self.limit_alphabet is not None and len(kept) > self.limit_alphabet:
            kept.sort(key=lambda kv: (kv[1], kv[0]))
            kept = kept[len(kept) - self.limit_alphabet :]
        return sorted(ch for ch, _ in kept)

    def _tokenize_words(self, word_counts, word_to_id, id_to_word, subword_order=None):
        """Split each word into initial symbol ids, adding prefixed/suffixed characters.

        Characters outside the alphabet are dropped. New symbols (e.g. '##a') get ids in
        order of first appearance while walking the words in insertion order; the reference
        walks a hash map here, so its ids for these symbols vary from run to run.
        `subword_order` (tests only) pre-assigns them in a given order.
        """
        prefix, suffix = self.continuing_subword_prefix, self.end_of_word_suffix
        for token in subword_order or ():
            if token not in word_to_id:
                word_to_id[token] = len(id_to_word)
                id_to_word.append(token)
        words, counts = [], []
        lookup = word_to_id.__getitem__
        plain = prefix is None and suffix is None
        for word, count in word_counts.items():
            if plain:  # fast path: every character already has an id
                try:
                    words.append(list(map(lookup, word)))
                    counts.append(count)
                    continue
                except KeyError:
                    pass  # a character outside the alphabet: drop it below
            ids = []
            last = len(word) - 1
            for pos, ch in enumerate(word):
                if ch not in word_to_id:
                    continue
                s = ch
                if prefix is not None and pos > 0:
                    s = prefix + s
                if suffix is not None and pos == last:
                    s = s + suffix
                token_id = word_to_id.get(s)
                if token_id is None:
                    token_id = len(id_to_word)
                    word_to_id[s] = token_id
                    id_to_word.append(s)
                ids.append(token_id)
            words.append(ids)
            counts.append(count)
        return words, counts

    def _learn(self, word_counts: Mapping[str, int], subword_order=None) -> TrainedVocab:
        id_to_word: list[str] = []
        word_to_id: dict[str, int] = {}
        for token in self._special_tokens:
            if token.content not in word_to_id:
                word_to_id[token.content] = len(id_to_word)
                id_to_word.append(token.content)
        for ch in self._compute_alphabet(word_counts):
            if ch not in word_to_id:
                word_to_id[ch] = len(id_to_word)
                id_to_word.append(ch)
        words, counts = self._tokenize_words(word_counts, word_to_id, id_to_word, subword_order)

        loop = merge_loop_python if (self.use_python_merge_loop or _c_merge_loop is None) else _c_merge_loop
        bar = self._progress(max(self.vocab_size - len(word_to_id), 0), "Compute merges")
        try:
            merges = loop(
                words,
                counts,
                id_to_word,
                word_to_id,
                self.vocab_size,
                self.min_frequency,
                self.max_token_length,
                self.continuing_subword_prefix,
                bar.update,
            )
        finally:
            bar.close()
        # A pair merged twice (its token re-created by another pair) keeps its last rank,
        # as the reference's merge map does.
        rank: dict[tuple[int, int], int] = {}
        for i, (a, b, _) in enumerate(merges):
            rank.pop((a, b), None)
            rank[(a, b)] = i
        ordered = sorted(rank.items(), key=lambda kv: kv[1])
        merge_strings = [(id_to_word[a], id_to_word[b]) for (a, b), _ in ordered]
        return TrainedVocab(word_to_id, merge_strings)

    # -- public entry points --------------------------------------------------------------
    def train_from_word_counts(self, word_counts: Mapping[str, int]) -> TrainedVocab:
        """Learn the vocab and merges from {word: count}; also kept for a later `train`."""
        self._words = dict(word_counts)
        return self._learn(self._words)

    def train(self, model) -> list:
        """Replace `model`'s vocab and merges in place; return the special tokens to add."""
        self._check_model(model)
        learned = self._learn(self._words)
        options = model.to_dict()
        model.__init__(
            vocab=learned.vocab,
            merges=learned.merges,
            dropout=options.get("dropout"),
            unk_token=options.get("unk_token"),
            continuing_subword_prefix=self.continuing_subword_prefix,
            end_of_word_suffix=self.end_of_word_suffix,
            fuse_unk=options.get("fuse_unk", False),
            byte_fallback=options.get("byte_fallback", False),
            ignore_merges=options.get("ignore_merges", False),
        )
        return self.special_tokens


class WordPieceTrainer(BpeTrainer):
    """Trainer for a WordPiece model: BPE training with the '##' prefix, then conversion.

    >>> t = WordPieceTrainer(vocab_size=8, show_progress=False)
    >>> sorted(t.train_from_word_counts({"abab": 2}).vocab)
    ['##a', '##ab', '##b', 'a', 'ab', 'abab', 'b']
    """

    _model_type = "WordPiece"

    def __init__(
        self,
        vocab_size: int = 30000,
        min_frequency: int = 0,
        show_progress: bool = True,
        special_tokens: Sequence = (),
        limit_alphabet: int | None = None,
        initial_alphabet: Sequence[str] = (),
        continuing_subword_prefix: str | None = "##",
        end_of_word_suffix: str | None = None,
    ):
        super().__init__(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            show_progress=show_progress,
            special_tokens=special_tokens,
            limit_alphabet=limit_alphabet,
            initial_alphabet=initial_alphabet,
            continuing_subword_prefix=continuing_subword_prefix,
            end_of_word_suffix=end_of_word_suffix,
        )

    def train_from_word_counts(self, word_counts: Mapping[str, int]) -> TrainedVocab:
        """Learn the WordPiece vocab from {word: count} (merges are not part of WordPiece)."""
        return TrainedVocab(super().train_from_word_counts(word_counts).vocab)

    def train(self, model) -> list:
        """Replace the WordPiece model's vocab (and prefix) in place; keep unk_token and
        max_input_chars_per_word, as the reference does."""
        self._check_model(model)
        learned = self._learn(self._words)
        options = model.to_dict()
        prefix = self.continuing_subword_prefix
        model.__init__(
            vocab=learned.vocab,
            unk_token=options.get("unk_token", "[UNK]"),
            max_input_chars_per_word=options.get("max_input_chars_per_word", 100),
            # the reference converts a BPE model: without a trainer prefix it falls back to '##'
            continuing_subword_prefix=prefix if prefix is not None else "##",
        )
        return self.special_tokens


# --------------------------------------------------------------------------------------
# WordLevel
# --------------------------------------------------------------------------------------
class WordLevelTrainer(Trainer):
    """Trainer for a WordLevel model: the most frequent words, ties by word.

    >>> t = WordLevelTrainer(vocab_size=3, special_tokens=["[UNK]"], show_progress=False)
    >>> t.train_from_word_counts({"b": 2, "a": 2, "c": 5}).vocab
    {'[UNK]': 0, 'c': 1, 'a': 2}
    """

    _model_type = "WordLevel"

    def __init__(
        self,
        vocab_size: int = 30000,
        min_frequency: int = 0,
        show_progress: bool = True,
        special_tokens: Sequence = (),
    ):
        super().__init__(show_progress, special_tokens)
        self.vocab_size = int(vocab_size)
        self.min_frequency = int(min_frequency)

    def _repr_fields(self) -> dict:
        return {"vocab_size": self.vocab_size, "min_frequency": self.min_frequency, **super()._repr_fields()}

    def _learn(self, word_counts: Mapping[str, int]) -> TrainedVocab:
        ordered = sorted(word_counts.items(), key=lambda kv: (-kv[1], kv[0]))
        tokens = [t.content for t in self._special_tokens]
        tokens += [w for w, n in ordered if n >= self.min_frequency]
        vocab: dict[str, int] = {}
        for i, token in enumerate(tokens[: self.vocab_size]):
            vocab[token] = i  # a word equal to a special token keeps the later id, as in the reference
        return TrainedVocab(vocab)

    def train_from_word_counts(self, word_counts: Mapping[str, int]) -> TrainedVocab:
        """Learn the vocab from {word: count}; also kept for a later `train`."""
        self._words = dict(word_counts)
        return self._learn(self._words)

    def train(self, model) -> list:
        """Replace the WordLevel model's vocab in place (its unk_token is kept)."""
        self._check_model(model)
        learned = self._learn(self._words)
        options = model.to_dict()
        model.__init__(vocab=learned.vocab, unk_token=options.get("unk_token"))
        return self.special_tokens


def __getattr__(name: str):
    # UnigramTrainer lives in its own module (the EM trainer is long); import it lazily.
    if name == "UnigramTrainer":
        from snuggle.tokenizers.unigram_trainer import UnigramTrainer

        return UnigramTrainer
    raise AttributeError(f"module 'snuggle.tokenizers.trainers' has no attribute {name!r}")


__all__ = ["Trainer", "BpeTrainer", "WordPieceTrainer", "WordLevelTrainer", "UnigramTrainer", "TrainedVocab"]
