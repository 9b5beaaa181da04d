"""Encoding: the result of tokenizing one sequence (or a pair), as `tokenizers.Encoding`.

Parallel lists, one entry per token: ids, type_ids, tokens, offsets (character (start,
end) into the input), word ids, special_tokens_mask, attention_mask; plus the
overflowing parts produced by truncation and which token ranges belong to which input
sequence.

>>> e = Encoding.from_items([(5, "hi", (0, 2), 0, 0), (6, "!", (2, 3), 1, 0)])
>>> e.ids, e.tokens, e.offsets
([5, 6], ['hi', '!'], [(0, 2), (2, 3)])
>>> e.pad(4, pad_id=0, pad_token="[PAD]"); e.attention_mask
[1, 1, 0, 0]
"""

from __future__ import annotations

from typing import Iterable

from snuggle.errors import TokenizerError

Offsets = tuple[int, int]


_FIELDS = (
    "ids",
    "type_ids",
    "tokens",
    "offsets",
    "words",
    "special_tokens_mask",
    "attention_mask",
    "overflowing",
    "sequence_ranges",
)


class Encoding:
    """Token ids and everything aligned with them.

    An Encoding made by the C fast path holds its data packed (int32 bytes, which the
    garbage collector never scans) and builds the Python lists on first access, like the
    reference's Rust-backed Encoding does.
    """

    __slots__ = tuple("_" + f for f in _FIELDS) + ("_packed",)

    def __init__(
        self,
        ids: list[int] | None = None,
        type_ids: list[int] | None = None,
        tokens: list[str] | None = None,
        offsets: list[Offsets] | None = None,
        words: list[int | None] | None = None,
        special_tokens_mask: list[int] | None = None,
        attention_mask: list[int] | None = None,
        overflowing: list["Encoding"] | None = None,
        sequence_ranges: dict[int, tuple[int, int]] | None = None,
    ):
        self._packed = None
        self._ids = ids if ids is not None else []
        n = len(self._ids)
        self._type_ids = type_ids if type_ids is not None else [0] * n
        self._tokens = tokens if tokens is not None else [""] * n
        self._offsets = offsets if offsets is not None else [(0, 0)] * n
        self._words = words if words is not None else [None] * n
        self._special_tokens_mask = special_tokens_mask if special_tokens_mask is not None else [0] * n
        self._attention_mask = attention_mask if attention_mask is not None else [1] * n
        self._overflowing = overflowing if overflowing is not None else []
        self._sequence_ranges = sequence_ranges if sequence_ranges is not None else {}

    @classmethod
    def from_packed(cls, ids: bytes, offsets: bytes, words: bytes, type_id: int, unpacker, specials=None) -> "Encoding":
        """An Encoding over native int32 arrays (ids; start, end pairs; word ids), unpacked
        into lists on first access by `unpacker.unpack(ids, offsets, words)`, which returns
        (ids, tokens, offsets, words) lists (the C encoder's `unpack`). `specials`, a
        SpecialTokensAround, adds a post-processor's special tokens around the sequence."""
        e = cls.__new__(cls)
        e._packed = (ids, offsets, words, type_id, unpacker, specials)
        return e

    def with_specials(self, specials: "SpecialTokensAround") -> "Encoding":
        """This (packed, single-sequence) encoding with special tokens around it, still packed."""
        ids, offsets, words, _, unpacker, old = self._packed
        if old is not None:
            raise ValueError("special tokens were already added to this encoding")
        return Encoding.from_packed(ids, offsets, words, specials.type_id, unpacker, specials)

    def _unpack(self) -> None:
        ids_b, offs_b, words_b, type_id, unpacker, sp = self._packed
        ids, tokens, offsets, words = unpacker.unpack(ids_b, offs_b, words_b)
        n = len(ids)
        if sp is None:
            self._ids = ids
            self._tokens = tokens
            self._offsets = offsets
            self._words = words
            self._type_ids = [type_id] * n
            self._special_tokens_mask = [0] * n
            self._attention_mask = [1] * n
            self._sequence_ranges = {}
        else:
            k = len(sp.before_ids)
            self._ids = sp.before_ids + ids + sp.after_ids
            self._tokens = sp.before_tokens + tokens + sp.after_tokens
            self._offsets = sp.before_offsets + offsets + sp.after_offsets
            self._words = sp.before_words + words + sp.after_words
            self._type_ids = sp.before_types + [type_id] * n + sp.after_types
            self._special_tokens_mask = sp.before_ones + [0] * n + sp.after_ones
            self._attention_mask = [1] * (n + k + len(sp.after_ids))
            self._sequence_ranges = {0: (k, k + n)}
        self._overflowing = []
        self._packed = None

    @property
    def ids(self):
        if self._packed is not None:
            self._unpack()
        return self._ids

    @ids.setter
    def ids(self, value) -> None:
        if self._packed is not None:
            self._unpack()
        self._ids = value

    @property
    def type_ids(self):
        if self._packed is not None:
            self._unpack()
        return self._type_ids

    @type_ids.setter
    def type_ids(self, value) -> None:
        if self._packed is not None:
            self._unpack()
        self._type_ids = value

    @property
    def tokens(self):
        if self._packed is not None:
            self._unpack()
        return self._tokens

    @tokens.setter
    def tokens(self, value) -> None:
        if self._packed is not None:
            self._unpack()
        self._tokens = value

    @property
    def offsets(self):
        if self._packed is not None:
            self._unpack()
        return self._offsets

    @offsets.setter
    def offsets(self, value) -> None:
        if self._packed is not None:
            self._unpack()
        self._offsets = value

    @property
    def words(self):
        if self._packed is not None:
            self._unpack()
        return self._words

    @words.setter
    def words(self, value) -> None:
        if self._packed is not None:
            self._unpack()
        self._words = value

    @property
    def special_tokens_mask(self):
        if self._packed is not None:
            self._unpack()
        return self._special_tokens_mask

    @special_tokens_mask.setter
    def special_tokens_mask(self, value) -> None:
        if self._packed is not None:
            self._unpack()
        self._special_tokens_mask = value

    @property
    def attention_mask(self):
        if self._packed is not None:
            self._unpack()
        return self._attention_mask

    @attention_mask.setter
    def attention_mask(self, value) -> None:
        if self._packed is not None:
            self._unpack()
        self._attention_mask = value

    @property
    def overflowing(self):
        if self._packed is not None:
            self._unpack()
        return self._overflowing

    @overflowing.setter
    def overflowing(self, value) -> None:
        if self._packed is not None:
            self._unpack()
        self._overflowing = value

    @property
    def sequence_ranges(self):
        if self._packed is not None:
            self._unpack()
        return self._sequence_ranges

    @sequence_ranges.setter
    def sequence_ranges(self, value) -> None:
        if self._packed is not None:
            self._unpack()
        self._sequence_ranges = value

    @classmethod
    def from_items(cls, items: Iterable[tuple[int, str, Offsets, int | None, int]]) -> "Encoding":
        """Build from (id, token, offsets, word, type_id) tuples (special mask 0, attention 1)."""
        ids, tokens, offsets, words, type_ids = [], [], [], [], []
        for i, t, o, w, ty in items:
            ids.append(i)
            tokens.append(t)
            offsets.append(o)
            words.append(w)
            type_ids.append(ty)
        n = len(ids)
        return cls(ids, type_ids, tokens, offsets, words, [0] * n, [1] * n)

    # ---- python API --------------------------------------------------------------------
    def __len__(self) -> int:
        if self._packed is not None:
            sp = self._packed[5]
            return len(self._packed[0]) // 4 + (0 if sp is None else len(sp.before_ids) + len(sp.after_ids))
        return len(self._ids)

    def __repr__(self) -> str:
        return (
            f"Encoding(num_tokens={len(self)}, attributes=[ids, type_ids, tokens, offsets, "
            f"attention_mask, special_tokens_mask, overflowing])"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Encoding):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in _FIELDS)

    __hash__ = None  # mutable

    def __getstate__(self) -> dict:
        return {k: getattr(self, k) for k in _FIELDS}

    def __setstate__(self, state: dict) -> None:
        self._packed = None
        for k in _FIELDS:
            setattr(self, "_" + k, state[k])

    def copy(self) -> "Encoding":
        return Encoding(
            list(self.ids),
            list(self.type_ids),
            list(self.tokens),
            list(self.offsets),
            list(self.words),
            list(self.special_tokens_mask),
            list(self.attention_mask),
            [o.copy() for o in self.overflowing],
            dict(self.sequence_ranges),
        )

    @property
    def word_ids(self) -> list[int | None]:
        return self.words

    @property
    def n_sequences(self) -> int:
        return len(self.sequence_ranges) or 1

    @property
    def sequence_ids(self) -> list[int | None]:
        if not self.sequence_ranges:
            # no ranges recorded: the whole encoding is sequence 0 (as the reference reports)
            return [0] * len(self.ids)
        seq: list[int | None] = [None] * len(self.ids)
        for sid, (s, e) in self.sequence_ranges.items():
            for i in range(s, e):
                seq[i] = sid
        return seq

    def set_sequence_id(self, sequence_id: int) -> None:
        self.sequence_ranges[sequence_id] = (0, len(self.ids))

    def _sequence_range(self, sequence_id: int) -> tuple[int, int]:
        return self.sequence_ranges.get(sequence_id, (0, len(self.ids)))

    def token_to_sequence(self, token_index: int) -> int | None:
        if token_index >= len(self.ids):
            return None
        if not self.sequence_ranges:
            return 0
        for sid, (s, e) in self.sequence_ranges.items():
            if s <= token_index < e:
                return sid
        return None

    def token_to_chars(self, token_index: int) -> Offsets | None:
        if self.token_to_sequence(token_index) is None:
            return None
        return self.offsets[token_index]

    def token_to_word(self, token_index: int) -> int | None:
        if self.token_to_sequence(token_index) is None:
            return None
        return self.words[token_index]

    def word_to_tokens(self, word_index: int, sequence_index: int = 0) -> tuple[int, int] | None:
        start = end = None
        s, e = self._sequence_range(sequence_index)
        for i in range(s, e):
            if self.words[i] == word_index:
                if start is None or i < start:
                    start = i
                if end is None or i >= end:
                    end = i + 1
        return None if start is None else (start, end)

    def word_to_chars(self, word_index: int, sequence_index: int = 0) -> Offsets | None:
        toks = self.word_to_tokens(word_index, sequence_index)
        if toks is None:
            return None
        s, e = toks
        if e == 0:
            return None
        return (self.offsets[s][0], self.offsets[e - 1][1])

    def char_to_token(self, char_pos: int, sequence_index: int = 0) -> int | None:
        s, e = self._sequence_range(sequence_index)
        for i in range(s, e):
            a, b = self.offsets[i]
            if a <= char_pos < b:
                return i
        return None

    def char_to_word(self, char_pos: int, sequence_index: int = 0) -> int | None:
        tok = self.char_to_token(char_pos, sequence_index)
        return None if tok is None else self.token_to_word(tok)

    # ---- editing -----------------------------------------------------------------------
    def truncate(self, max_length: int, stride: int = 0, direction: str = "right") -> None:
        """Keep `max_length` tokens; the rest go to `overflowing` in windows overlapping by `stride`."""
        n = len(self.ids)
        if max_length >= n:
            return
        if max_length == 0:
            whole = self.copy()
            for k in _FIELDS:
                setattr(self, k, {} if k == "sequence_ranges" else [])
            self.overflowing = [whole]
            return
        if stride >= max_length:
            raise TokenizerError(
                f"truncation stride ({stride}) must be smaller than max_length ({max_length}) "
                "(stride counts the tokens repeated between overflowing windows)"
            )
        self.sequence_ranges = {}
        step = max_length - stride
        ranges: list[tuple[int, int]] = []
        if direction == "right":
            for start in range(0, n, step):
                stop = min(start + max_length, n)
                ranges.append((start, stop))
                if stop == n:
                    break
        elif direction == "left":
            for stop1 in range(n - 1, -1, -step):
                stop = stop1 + 1
                start = max(0, stop - max_length)
                ranges.append((start, stop))
                if start == 0:
                    break
        else:
            raise TokenizerError(f"truncation direction must be 'left' or 'right', got {direction!r}")
        parts = [self._window(s, e) for s, e in ranges]
        first = parts[0]
        first.overflowing = parts[1:]
        for k in _FIELDS:
            setattr(self, k, getattr(first, k))

    def _window(self, s: int, e: int) -> "Encoding":
        return Encoding(
            self.ids[s:e],
            self.type_ids[s:e],
            self.tokens[s:e],
            self.offsets[s:e],
            self.words[s:e],
            self.special_tokens_mask[s:e],
            self.attention_mask[s:e],
            [],
            {},
        )

    def merge_with(self, pair: "Encoding", growing_offsets: bool = False) -> None:
        """Append `pair` to this encoding in place (overflowing parts are combined too)."""
        overflowings: list[Encoding] = []
        for own in self.overflowing:
            n = own.copy()
            n.merge_with(pair.copy(), growing_offsets)
            overflowings.append(n)
            for other in pair.overflowing:
                n = own.copy()
                n.merge_with(other.copy(), growing_offsets)
                overflowings.append(n)
        for other in pair.overflowing:
            n = self.copy()  # keeps its own overflowing parts, as the reference does
            n.merge_with(other.copy(), growing_offsets)
            overflowings.append(n)
        base = len(self.ids)
        for sid, (s, e) in pair.sequence_ranges.items():
            self.sequence_ranges[sid] = (base + s, base + e)
        self.ids = self.ids + pair.ids
        self.type_ids = self.type_ids + pair.type_ids
        self.tokens = self.tokens + pair.tokens
        self.words = self.words + pair.words
        shift = self.offsets[-1][1] if (growing_offsets and self.offsets) else 0
        if shift:
            self.offsets = self.offsets + [(s + shift, e + shift) for s, e in pair.offsets]
        else:
            self.offsets = self.offsets + pair.offsets
        self.special_tokens_mask = self.special_tokens_mask + pair.special_tokens_mask
        self.attention_mask = self.attention_mask + pair.attention_mask
        self.overflowing = overflowings

    @staticmethod
    def merge(encodings: Iterable["Encoding"], growing_offsets: bool = True) -> "Encoding":
        out = Encoding()
        for e in encodings:
            out.merge_with(e, growing_offsets)
        return out

    def pad(
        self,
        length: int,
        direction: str = "right",
        pad_id: int = 0,
        pad_type_id: int = 0,
        pad_token: str = "[PAD]",
    ) -> None:
        """Pad to `length` tokens (overflowing parts too); longer encodings are left as they are."""
        for o in self.overflowing:
            o.pad(length, direction, pad_id, pad_type_id, pad_token)
        n = length - len(self.ids)
        if n <= 0:
            return
        if direction == "left":
            self.ids = [pad_id] * n + self.ids
            self.type_ids = [pad_type_id] * n + self.type_ids
            self.tokens = [pad_token] * n + self.tokens
            self.words = [None] * n + self.words
            self.attention_mask = [0] * n + self.attention_mask
            self.special_tokens_mask = [1] * n + self.special_tokens_mask
            self.offsets = [(0, 0)] * n + self.offsets
            self.sequence_ranges = {k: (s + n, e + n) for k, (s, e) in self.sequence_ranges.items()}
        elif direction == "right":
            self.ids = self.ids + [pad_id] * n
            self.type_ids = self.type_ids + [pad_type_id] * n
            self.tokens = self.tokens + [pad_token] * n
            self.words = self.words + [None] * n
            self.attention_mask = self.attention_mask + [0] * n
            self.special_tokens_mask = self.special_tokens_mask + [1] * n
            self.offsets = self.offsets + [(0, 0)] * n
        else:
            raise TokenizerError(f"padding direction must be 'left' or 'right', got {direction!r}")


class SpecialTokensAround:
    """The special tokens a post-processor puts before and after a single sequence, as
    (id, token, type_id) triples, and the sequence's own type id; lets a packed Encoding
    take them without unpacking (what Tokenizer.post_process uses for the common case)."""

    __slots__ = (
        "before_ids", "before_tokens", "before_types", "after_ids", "after_tokens", "after_types", "type_id",
        "before_offsets", "after_offsets", "before_words", "after_words", "before_ones", "after_ones",
    )

    def __init__(self, before: list[tuple[int, str, int]], after: list[tuple[int, str, int]], type_id: int):
        self.before_ids = [i for i, _, _ in before]
        self.before_tokens = [t for _, t, _ in before]
        self.before_types = [ty for _, _, ty in before]
        self.after_ids = [i for i, _, _ in after]
        self.after_tokens = [t for _, t, _ in after]
        self.after_types = [ty for _, _, ty in after]
        self.type_id = type_id
        self.before_offsets = [(0, 0)] * len(before)
        self.after_offsets = [(0, 0)] * len(after)
        self.before_words = [None] * len(before)
        self.after_words = [None] * len(after)
        self.before_ones = [1] * len(before)
        self.after_ones = [1] * len(after)
