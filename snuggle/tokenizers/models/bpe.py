"""Byte-pair encoding: split a word into characters, then apply merges, lowest rank first.

This is the readable reference implementation of `tokenizers.models.BPE`; the C fast
path is tested against it. The merge loop (`_merge`) is the reference's: the word is a
doubly linked list of symbols and a heap of candidate merges keyed by (rank, position),
so a word of n characters costs O(n log n) however long it is. A heap entry is checked
when it is popped: if its pair no longer exists (a neighbour was merged away) it is
dropped. Without dropout two faster equivalents are used (tested to agree with it):
`_merge_short` rescans a list of pair ranks for short words, and `_merge_by_rank`
keeps one heap entry per distinct rank for long ones.

Reference semantics reproduced here, each for a reason the reference had:
- every character becomes one symbol; `continuing_subword_prefix` is glued to every
  character but the first and `end_of_word_suffix` to the last before the vocab lookup;
- an unknown character becomes `unk_token` (consecutive ones fused into one token when
  `fuse_unk`), or with `byte_fallback` one `<0xXX>` token per UTF-8 byte when all of
  those exist; with neither, the character is silently dropped (taking no room in
  the offsets, as in the reference);
- `ignore_merges` returns the whole word as one token when it is in the vocab;
- `dropout` skips each merge with that probability (seedable: `set_dropout_seed`) and
  then bypasses the word cache.

Offsets are character offsets into the word. A `<0xXX>` token that covers only part of a
character gets the offsets the reference reports after its byte->char conversion: the
leading bytes of a character map to an empty span (c, c), the last byte to (c, c + 1).

>>> bpe = BPE({"a": 0, "b": 1, "ab": 2, "<unk>": 3}, [("a", "b")], unk_token="<unk>")
>>> [(t.value, t.offsets) for t in bpe.tokenize("abax")]
[('ab', (0, 2)), ('a', (2, 3)), ('<unk>', (3, 4))]
"""

from __future__ import annotations

import heapq
import os
import random
import warnings
from typing import Iterable

from snuggle.errors import TokenizerError, TokenizerFileError
from snuggle.tokenizers.models.base import (
    CACHE_MAX_WORD_LENGTH,
    DEFAULT_CACHE_CAPACITY,
    Model,
    as_f32,
    check_vocab_dict,
    dumps_compact,
    optional_bool,
    optional_str,
    prefixed_name,
    read_vocab_json,
    reverse_vocab,
    vocab_ordered_by_id,
)
from snuggle.tokenizers.normalized import Token
from snuggle.utils.atomic import atomic_write_text

# "<0x00>" ... "<0xFF>": the byte-fallback piece names (uppercase hex, as SentencePiece writes them).
# Words up to this many symbols use the O(n^2) list scan, which beats the heap there.
SHORT_WORD = 48

BYTE_PIECES = tuple(f"<0x{b:02X}>" for b in range(256))


def parse_merges(merges: Iterable, where: str = "merges", path: str | None = None) -> list[tuple[str, str]]:
    """Accept merges as (a, b) pairs or as "a b" strings (the legacy tokenizer.json form)."""
    out = []
    for i, m in enumerate(merges):
        if isinstance(m, str):
            parts = m.split(" ")
            if len(parts) != 2:
                raise TokenizerFileError(f"merge {m!r} must be two tokens separated by one space", path=path, where=f"{where}[{i}]")
            out.append((parts[0], parts[1]))
        elif isinstance(m, (tuple, list)) and len(m) == 2 and isinstance(m[0], str) and isinstance(m[1], str):
            out.append((m[0], m[1]))
        else:
            raise TokenizerFileError(f"merge must be a pair of strings or an 'a b' string, found {m!r}", path=path, where=f"{where}[{i}]")
    return out


def _cache_clearing_property(name: str, doc: str):
    """A plain attribute whose change empties the word cache (the cached results depend on it)."""

    def get(self):
        return getattr(self, "_" + name)

    def set(self, value):
        setattr(self, "_" + name, value)
        self._cache.clear()

    return property(get, set, doc=doc)


class BPE(Model):
    """Byte-pair encoding model (same constructor as `tokenizers.models.BPE`).

    >>> BPE.from_dict({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}).tokenize("ab")
    [Token(id=2, value='ab', offsets=(0, 2))]
    """

    model_type = "BPE"
    trainer_name = "BpeTrainer"

    unk_token = _cache_clearing_property("unk_token", "Token used for unknown characters (None: drop them).")
    continuing_subword_prefix = _cache_clearing_property("continuing_subword_prefix", "Prefix of non-initial subwords.")
    end_of_word_suffix = _cache_clearing_property("end_of_word_suffix", "Suffix of word-final subwords.")
    fuse_unk = _cache_clearing_property("fuse_unk", "Fuse consecutive unknown characters into one unk token.")
    byte_fallback = _cache_clearing_property("byte_fallback", "Use <0xXX> byte tokens instead of unk.")
    ignore_merges = _cache_clearing_property("ignore_merges", "Return in-vocab words whole, without merging.")

    def __init__(
        self,
        vocab: dict[str, int] | str | None = None,
        merges: list | str | None = None,
        cache_capacity: int | None = None,
        dropout: float | None = None,
        unk_token: str | None = None,
        continuing_subword_prefix: str | None = None,
        end_of_word_suffix: str | None = None,
        fuse_unk: bool | None = None,
        byte_fallback: bool = False,
        ignore_merges: bool = False,
        **kwargs,
    ):
        if kwargs:
            warnings.warn(f"Ignored unknown kwargs option {', '.join(kwargs)}", stacklevel=2)
        if isinstance(vocab, (str, os.PathLike)) and isinstance(merges, (str, os.PathLike)):
            vocab, merges = BPE.read_file(vocab, merges)
        if (vocab is None) != (merges is None):
            raise TokenizerError("BPE: `vocab` and `merges` must be both specified (or neither)")
        self._cache: dict[str, tuple[Token, ...]] = {}
        self.cache_capacity = DEFAULT_CACHE_CAPACITY if cache_capacity is None else int(cache_capacity)
        self.dropout = dropout
        self._rng = random.Random()
        self._unk_token = unk_token
        self._continuing_subword_prefix = continuing_subword_prefix
        self._end_of_word_suffix = end_of_word_suffix
        self._fuse_unk = bool(fuse_unk)
        self._byte_fallback = bool(byte_fallback)
        self._ignore_merges = bool(ignore_merges)
        self._set_vocab_and_merges(vocab or {}, merges or [])

    # --- construction -------------------------------------------------------------------
    def _set_vocab_and_merges(self, vocab: dict[str, int], merges: Iterable, where: str = "") -> None:
        """Build every lookup table; merges whose tokens are not in the vocab are an error."""
        self.vocab = check_vocab_dict(vocab, where + "vocab")
        self.vocab_r = reverse_vocab(self.vocab)
        self.merges = parse_merges(merges, where + "merges")
        prefix_bytes = len((self._continuing_subword_prefix or "").encode("utf-8"))
        # Pair (a, b) is keyed as a * stride + b: int keys hash much faster than tuples.
        stride = (max(self.vocab.values()) + 1) if self.vocab else 1
        pair_rank: dict[int, int] = {}
        new_id_by_rank: list[int] = [0] * len(self.merges)
        for rank, (a, b) in enumerate(self.merges):
            a_id = self.vocab.get(a)
            b_id = self.vocab.get(b)
            # The merged token drops b's continuing-subword prefix (by byte length, as the reference does).
            merged = a + (b.encode("utf-8")[prefix_bytes:].decode("utf-8", "replace") if prefix_bytes else b)
            new_id = self.vocab.get(merged)
            for token, tid in ((a, a_id), (b, b_id), (merged, new_id)):
                if tid is None:
                    raise TokenizerFileError(
                        f"merge {rank} ({a!r}, {b!r}) uses token {token!r}, which is not in the vocab",
                        where=f"{where}merges[{rank}]",
                    )
            pair_rank[a_id * stride + b_id] = rank  # a repeated pair keeps its last rank
            new_id_by_rank[rank] = new_id
        self._stride = stride
        self._pair_rank = pair_rank
        self._new_id_by_rank = new_id_by_rank
        self._merge_ranks = None
        # With one token per id a symbol only ever grows into longer token strings, so a
        # position's pair can never change into another pair making the same token: the
        # reference's stale-entry check (by produced token) then equals a check by rank,
        # and the faster `_merge_short` / `_merge_by_rank` give exactly its results.
        self._ids_unique = len(self.vocab_r) == len(self.vocab)
        self._cache.clear()

    @property
    def merge_ranks(self) -> dict[tuple[int, int], tuple[int, int]]:
        """{(id_a, id_b): (rank, new_id)}: the merge table as the fast path and trainers use it."""
        if self._merge_ranks is None:
            s = self._stride
            self._merge_ranks = {divmod(k, s): (r, self._new_id_by_rank[r]) for k, r in self._pair_rank.items()}
        return self._merge_ranks

    @property
    def dropout(self) -> float | None:
        return self._dropout

    @dropout.setter
    def dropout(self, value: float | None) -> None:
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise TokenizerError(f"BPE: dropout must be between 0 and 1 inclusive, found {value!r}")
            value = as_f32(value)
        self._dropout = value
        if hasattr(self, "_cache"):
            self._cache.clear()

    def set_dropout_seed(self, seed: int | None) -> None:
        """Seed the random generator used by dropout (reproducible BPE-dropout)."""
        self._rng = random.Random(seed)

    def _clear_cache(self) -> None:
        self._cache.clear()

    def _resize_cache(self, capacity: int) -> None:
        self.cache_capacity = int(capacity)
        self._cache.clear()

    # --- tokenization -------------------------------------------------------------------
    def tokenize(self, sequence: str) -> list[Token]:
        """Split one word into tokens; offsets are character offsets into `sequence`."""
        if not sequence:
            return []
        if self._dropout:  # dropout makes results random: no cache, no ignore_merges shortcut
            return self._tokenize_word(sequence)
        if self._ignore_merges:
            tid = self.vocab.get(sequence)
            if tid is not None:
                return [Token(tid, sequence, (0, len(sequence)))]
        hit = self._cache.get(sequence)
        if hit is not None:
            return list(hit)
        tokens = self._tokenize_word(sequence)
        if (
            len(self._cache) < self.cache_capacity
            and len(sequence) < CACHE_MAX_WORD_LENGTH
            and (sequence.isascii() or len(sequence.encode("utf-8")) < CACHE_MAX_WORD_LENGTH)
        ):
            self._cache[sequence] = tuple(tokens)
        return tokens

    def _initial_symbols(self, word: str) -> tuple[list[int], list[int]]:
        """One symbol per character (or unk / byte tokens): parallel lists of ids and char lengths."""
        vocab = self.vocab
        prefix, suffix = self._continuing_subword_prefix, self._end_of_word_suffix
        if prefix is None and suffix is None and not self._byte_fallback:
            found = list(map(vocab.get, word))
            if None not in found:  # the common case: every character is in the vocab
                return found, [1] * len(found)
        ids: list[int] = []
        lens: list[int] = []
        unk_id = None  # a pending unk symbol, not yet appended (so later unknowns can fuse into it)
        unk_len = 0
        last = len(word) - 1
        for i, ch in enumerate(word):
            piece = ch
            if i > 0 and prefix is not None:
                piece = prefix + piece
            if i == last and suffix is not None:
                piece = piece + suffix
            tid = vocab.get(piece)
            if tid is not None:
                if unk_id is not None:
                    ids.append(unk_id)
                    lens.append(unk_len)
                    unk_id = None
                ids.append(tid)
                lens.append(1)
                continue
            if self._byte_fallback:
                byte_ids = [vocab.get(BYTE_PIECES[b]) for b in piece.encode("utf-8")]
                if None not in byte_ids:
                    # Note: like the reference, a pending unk is not flushed before byte tokens.
                    ids.extend(byte_ids)
                    for c in piece:  # the last byte of each character carries its one char of length
                        n = len(c.encode("utf-8"))
                        lens.extend([0] * (n - 1))
                        lens.append(1)
                    continue
            if self._unk_token is None:
                continue  # no unk token: the reference drops the character
            if unk_id is not None:
                if self._fuse_unk:
                    unk_len += 1
                    continue
                ids.append(unk_id)
                lens.append(unk_len)
            unk_id = vocab.get(self._unk_token)
            if unk_id is None:
                raise TokenizerError(f"BPE: unk_token {self._unk_token!r} is not in the vocabulary")
            unk_len = 1
        if unk_id is not None:
            ids.append(unk_id)
            lens.append(unk_len)
        return ids, lens

    def _merge_short(self, ids: list[int], lens: list[int]) -> tuple[list[int], list[int]]:
        """`_merge` for short words without dropout: keep the rank of every adjacent pair in a
        list and merge at the leftmost minimum. Same result as the heap (which also pops the
        lowest (rank, position)), but far less Python overhead when n is small."""
        pair_rank, stride, new_id_by_rank = self._pair_rank, self._stride, self._new_id_by_rank
        no_merge = len(new_id_by_rank)  # larger than every rank
        get = pair_rank.get
        ranks = [get(ids[i] * stride + ids[i + 1], no_merge) for i in range(len(ids) - 1)]
        while ranks:
            rank = min(ranks)
            if rank == no_merge:
                break
            i = ranks.index(rank)
            new_id = new_id_by_rank[rank]
            ids[i] = new_id
            del ids[i + 1]
            lens[i] += lens[i + 1]
            del lens[i + 1]
            del ranks[i]
            if i < len(ranks):
                ranks[i] = get(new_id * stride + ids[i + 1], no_merge)
            if i > 0:
                ranks[i - 1] = get(ids[i - 1] * stride + new_id, no_merge)
        return ids, lens

    def _merge_by_rank(self, ids: list[int], lens: list[int]) -> tuple[list[int], list[int]]:
        """`_merge` for long words without dropout: a heap of distinct ranks, each with the
        list of positions where its pair occurs, processed left to right.

        Same order as the (rank, position) heap: a merge never re-creates its own pair
        (the new token is longer than either half), so positions of rank r only come from
        before r is popped; a merge that creates a *lower* rank interrupts the round.
        """
        n = len(ids)
        pair_rank, stride, new_id_by_rank = self._pair_rank, self._stride, self._new_id_by_rank
        get = pair_rank.get
        pair_keys = [a * stride + b for a, b in zip(ids, ids[1:])]
        buckets: dict[int, list[int]] = {}
        for i, r in enumerate(map(get, pair_keys)):
            if r is not None:
                bucket = buckets.get(r)
                if bucket is None:
                    buckets[r] = [i]
                else:
                    bucket.append(i)
        if not buckets:
            return ids, lens
        ranks = list(buckets)
        heapq.heapify(ranks)
        ids = list(ids)
        lens = list(lens)
        prev = list(range(-1, n - 1))
        nxt = list(range(1, n + 1))  # nxt[i] == n: no next symbol
        pop, push = heapq.heappop, heapq.heappush

        def add(rank: int, pos: int) -> None:
            bucket = buckets.get(rank)
            if bucket is None:
                buckets[rank] = [pos]
                push(ranks, rank)
            else:
                bucket.append(pos)

        while ranks:
            rank = pop(ranks)
            positions = buckets.pop(rank)
            positions.sort()
            new_id = new_id_by_rank[rank]
            for k, pos in enumerate(positions):
                left = ids[pos]
                if left < 0:
                    continue
                right_pos = nxt[pos]
                if right_pos >= n or get(left * stride + ids[right_pos]) != rank:
                    continue  # stale: a neighbour merged since this position was recorded
                ids[pos] = new_id
                lens[pos] += lens[right_pos]
                ids[right_pos] = -1
                after = nxt[right_pos]
                nxt[pos] = after
                lowest = rank
                if after < n:
                    prev[after] = pos
                    r = get(new_id * stride + ids[after])
                    if r is not None:
                        add(r, pos)
                        lowest = min(lowest, r)
                before = prev[pos]
                if before >= 0:
                    r = get(ids[before] * stride + new_id)
                    if r is not None:
                        add(r, before)
                        lowest = min(lowest, r)
                if lowest < rank and k + 1 < len(positions):
                    add(rank, positions[k + 1])  # a better merge appeared: finish this rank later
                    buckets[rank].extend(positions[k + 2 :])
                    break
        out_ids, out_lens = [], []
        i = 0
        while i < n:
            out_ids.append(ids[i])
            out_lens.append(lens[i])
            i = nxt[i]
        return out_ids, out_lens

    def _merge(self, ids: list[int], lens: list[int]) -> tuple[list[int], list[int]]:
        """Apply merges lowest rank first (leftmost on ties) with a heap over a linked list."""
        n = len(ids)
        pair_rank, stride, new_id_by_rank = self._pair_rank, self._stride, self._new_id_by_rank
        # Heap keys are rank * n + position: one int orders by (rank, position).
        pair_keys = [a * stride + b for a, b in zip(ids, ids[1:])]
        heap = [r * n + i for i, r in enumerate(map(pair_rank.get, pair_keys)) if r is not None]
        if not heap:
            return ids, lens
        heapq.heapify(heap)
        ids = list(ids)
        lens = list(lens)
        prev = list(range(-1, n - 1))
        nxt = list(range(1, n + 1))  # nxt[i] == n: no next symbol
        dropout = self._dropout
        rng = self._rng
        skipped: list[int] = []
        pop, push = heapq.heappop, heapq.heappush
        while heap:
            key = pop(heap)
            if dropout:
                if rng.random() < dropout:
                    skipped.append(key)  # dropped for now; back in the heap after the next real merge
                    continue
                for k in skipped:
                    push(heap, k)
                skipped.clear()
            pos = key % n
            rank = key // n
            left = ids[pos]
            if left < 0:
                continue  # this symbol was merged into its left neighbour
            right_pos = nxt[pos]
            if right_pos >= n:
                continue
            new_id = new_id_by_rank[rank]
            # A stale entry: the pair at `pos` changed since it was pushed. Like the reference we
            # compare only the produced token id, not the rank.
            current = pair_rank.get(left * stride + ids[right_pos])
            if current is None or new_id_by_rank[current] != new_id:
                continue
            ids[pos] = new_id
            lens[pos] += lens[right_pos]
            ids[right_pos] = -1
            after = nxt[right_pos]
            nxt[pos] = after
            if after < n:
                prev[after] = pos
                r = pair_rank.get(new_id * stride + ids[after])
                if r is not None:
                    push(heap, r * n + pos)
            before = prev[pos]
            if before >= 0:
                r = pair_rank.get(ids[before] * stride + new_id)
                if r is not None:
                    push(heap, r * n + before)
        out_ids, out_lens = [], []
        i = 0
        while i < n:
            out_ids.append(ids[i])
            out_lens.append(lens[i])
            i = nxt[i]
        return out_ids, out_lens

    def _tokenize_word(self, word: str) -> list[Token]:
        ids, lens = self._initial_symbols(word)
        if len(ids) > 1 and self._pair_rank:
            if self._dropout or not self._ids_unique:
                ids, lens = self._merge(ids, lens)
            elif len(ids) <= SHORT_WORD:
                ids, lens = self._merge_short(ids, lens)
            else:
                ids, lens = self._merge_by_rank(ids, lens)
        vocab_r = self.vocab_r
        tokens = []
        start = 0
        for tid, length in zip(ids, lens):
            end = start + length
            # A byte-fallback token inside a multi-byte char spans that whole char, as the
            # reference's offsets do once mapped back to the input.
            tokens.append(Token(tid, vocab_r[tid], (start, end if length else start + 1)))
            start = end
        return tokens

    # --- files and serialization --------------------------------------------------------
    @staticmethod
    def read_file(vocab: str, merges: str) -> tuple[dict[str, int], list[tuple[str, str]]]:
        """Read vocab.json and merges.txt (with or without a '#version' line).

        >>> # BPE.read_file("vocab.json", "merges.txt") -> ({"a": 0, ...}, [("a", "b"), ...])
        """
        vocab_dict = read_vocab_json(vocab)
        return vocab_dict, read_merges_txt(merges)

    @classmethod
    def from_file(cls, vocab: str, merges: str, **kwargs) -> "BPE":
        """Build a BPE from vocab.json + merges.txt; kwargs as in the constructor."""
        v, m = cls.read_file(vocab, merges)
        return cls(v, m, **kwargs)

    def ordered_merges(self) -> list[tuple[str, str]]:
        """The effective merges in rank order, spelled through the id -> token table."""
        s, vocab_r = self._stride, self.vocab_r
        return [(vocab_r[k // s], vocab_r[k % s]) for k, _ in sorted(self._pair_rank.items(), key=lambda kv: kv[1])]

    def _save_files(self, folder: str, prefix: str | None) -> list[str]:
        vocab_path = prefixed_name(folder, prefix, "vocab.json")
        merges_path = prefixed_name(folder, prefix, "merges.txt")
        atomic_write_text(vocab_path, dumps_compact(vocab_ordered_by_id(self.vocab_r)))
        lines = "".join(f"{a} {b}\n" for a, b in self.ordered_merges())
        atomic_write_text(merges_path, "#version: 0.2\n" + lines)
        return [vocab_path, merges_path]

    def to_dict(self) -> dict:
        return {
            "type": "BPE",
            "dropout": self._dropout,
            "unk_token": self._unk_token,
            "continuing_subword_prefix": self._continuing_subword_prefix,
            "end_of_word_suffix": self._end_of_word_suffix,
            "fuse_unk": self._fuse_unk,
            "byte_fallback": self._byte_fallback,
            "ignore_merges": self._ignore_merges,
            "vocab": vocab_ordered_by_id(self.vocab_r),
            "merges": [list(m) for m in self.ordered_merges()],
        }

    def _extra_state(self) -> dict:
        return {"cache_capacity": self.cache_capacity}

    @classmethod
    def from_dict(cls, d: dict) -> "BPE":
        """Build from the tokenizer.json "model" object (merges as pairs or "a b" strings)."""
        where = "model"
        if "vocab" not in d or "merges" not in d:
            raise TokenizerFileError("a BPE model needs both 'vocab' and 'merges'", where=where)
        dropout = d.get("dropout")
        if dropout is not None and (isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1):
            raise TokenizerFileError(f"'dropout' must be null or a number in [0, 1], found {dropout!r}", where=where)
        merges = d["merges"]
        if not isinstance(merges, list):
            raise TokenizerFileError(f"'merges' must be a list, found {type(merges).__name__}", where=where)
        model = cls(
            dropout=dropout,
            unk_token=optional_str(d, "unk_token", where),
            continuing_subword_prefix=optional_str(d, "continuing_subword_prefix", where),
            end_of_word_suffix=optional_str(d, "end_of_word_suffix", where),
            fuse_unk=optional_bool(d, "fuse_unk", where),
            byte_fallback=optional_bool(d, "byte_fallback", where),
            ignore_merges=optional_bool(d, "ignore_merges", where),
        )
        model._set_vocab_and_merges(check_vocab_dict(d["vocab"], "model.vocab"), merges, where="model.")
        return model


def read_merges_txt(path: str) -> list[tuple[str, str]]:
    """Parse merges.txt: one "a b" per line; lines starting with '#version' are skipped."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        raise TokenizerFileError("merges file not found", path=path) from None
    except UnicodeDecodeError as e:
        raise TokenizerFileError(f"not valid UTF-8: {e}", path=path) from None
    lines = text.split("\n")  # only '\n' separates lines: tokens may contain other line breaks
    if lines and lines[-1] == "":
        lines.pop()
    merges = []
    for lineno, line in enumerate(lines, start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise TokenizerFileError(
                f"expected two tokens separated by one space, found {line!r}", path=path, where=f"line {lineno}"
            )
        merges.append((parts[0], parts[1]))
    return merges
