"""NormalizedString and PreTokenizedString: text that remembers where it came from.

A `NormalizedString` holds the original text, the normalized text, and for every
character of the normalized text the (start, end) character range it came from in the
original. Normalizers edit it through `transform` (and the helpers built on it), so the
alignment survives any edit; pre-tokenizers cut it with `split`. At the end each token's
offsets are mapped back to the user's original string.

All offsets here are *character* offsets (Python string indices), which is what the
Python API of the `tokenizers` library returns.

>>> n = NormalizedString("Héllo")
>>> n.lowercase(); n.get()
'héllo'
>>> [p.get() for p in n.split(" ", "removed")]
['héllo']
>>> pre = PreTokenizedString("Hello world")
>>> pre.split(lambda i, s: s.split(" ", "removed"))
>>> pre.get_splits()
[('Hello', (0, 5), None), ('world', (6, 11), None)]
"""

from __future__ import annotations

from typing import Callable, Iterable, NamedTuple, Sequence

import regex

from snuggle.errors import TokenizerError

Offsets = tuple[int, int]

SPLIT_BEHAVIORS = ("removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous")


class Token(NamedTuple):
    """One token produced by a model: its id, its string value, and (start, end) offsets
    (characters) into the sequence the model was given."""

    id: int
    value: str
    offsets: Offsets


class Regex:
    """A regular expression pattern, as `tokenizers.Regex`: marks a pattern string as a
    regex rather than a literal (Oniguruma syntax; the `regex` module handles `\\p{L}`)."""

    __slots__ = ("pattern", "compiled")

    def __init__(self, pattern: str):
        self.pattern = pattern
        try:
            # The reference's engine (Oniguruma) treats ^ and $ as line anchors.
            self.compiled = regex.compile(pattern, regex.MULTILINE)
        except regex.error as e:
            raise TokenizerError(f"invalid regex {pattern!r}: {e}") from e

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Regex) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)


# A pattern is a literal string, a Regex, a compiled `regex` pattern, or a predicate on one char.
Pattern = "str | Regex | regex.Pattern | Callable[[str], bool]"


def find_matches(pattern, text: str) -> list[tuple[Offsets, bool]]:
    """Cut `text` into consecutive (offsets, is_match) pieces covering it entirely.

    >>> find_matches(" ", "a b")
    [((0, 1), False), ((1, 2), True), ((2, 3), False)]
    """
    if not text:
        return [((0, 0), False)]
    if callable(pattern) and not isinstance(pattern, (str, Regex, regex.Pattern)):
        out: list[tuple[Offsets, bool]] = []
        start = 0
        for i, ch in enumerate(text):
            if pattern(ch):
                if start < i:
                    out.append(((start, i), False))
                out.append(((i, i + 1), True))
                start = i + 1
        if start < len(text):
            out.append(((start, len(text)), False))
        return out
    if isinstance(pattern, str):
        if pattern == "":
            return [((0, len(text)), False)]
        compiled = regex.compile(regex.escape(pattern))
    elif isinstance(pattern, Regex):
        compiled = pattern.compiled
    else:
        compiled = pattern
    out = []
    prev = 0
    for m in compiled.finditer(text):
        s, e = m.span()
        if prev != s:
            out.append(((prev, s), False))
        out.append(((s, e), True))
        prev = e
    if prev != len(text):
        out.append(((prev, len(text)), False))
    return out


def _apply_behavior(matches: list[tuple[Offsets, bool]], behavior: str) -> list[tuple[Offsets, bool]]:
    """Turn (offsets, is_match) pieces into (offsets, remove) pieces for a split behavior."""
    if behavior == "isolated":
        return [(o, False) for o, _ in matches]
    if behavior == "removed":
        return matches
    if behavior == "contiguous":
        out: list[tuple[Offsets, bool]] = []
        prev_match = False
        for (s, e), is_match in matches:
            if is_match and prev_match and out:
                out[-1] = ((out[-1][0][0], e), False)
            else:
                out.append(((s, e), False))
            prev_match = is_match
        return out
    if behavior == "merged_with_previous":
        out = []
        prev_match = False
        for (s, e), is_match in matches:
            if is_match and not prev_match and out:
                out[-1] = ((out[-1][0][0], e), False)
            else:
                out.append(((s, e), False))
            prev_match = is_match
        return out
    if behavior == "merged_with_next":
        out = []
        prev_match = False
        for (s, e), is_match in reversed(matches):
            if is_match and not prev_match and out:
                out[-1] = ((s, out[-1][0][1]), False)
            else:
                out.append(((s, e), False))
            prev_match = is_match
        out.reverse()
        return out
    raise TokenizerError(f"unknown split behavior {behavior!r}; expected one of {', '.join(SPLIT_BEHAVIORS)}")


def normalize_behavior(behavior: str) -> str:
    """Accept 'Removed', 'MergedWithPrevious' (tokenizer.json spelling) or 'merged_with_previous'."""
    b = behavior.strip()
    snake = regex.sub(r"(?<!^)(?=[A-Z])", "_", b).lower()
    if snake not in SPLIT_BEHAVIORS:
        raise TokenizerError(f"unknown split behavior {behavior!r}; expected one of {', '.join(SPLIT_BEHAVIORS)}")
    return snake


def behavior_to_json(behavior: str) -> str:
    """'merged_with_previous' -> 'MergedWithPrevious' (the tokenizer.json spelling)."""
    return "".join(part.capitalize() for part in behavior.split("_"))


class NormalizedString:
    """Original text + normalized text + per-character alignments between them."""

    # `_align` is None while every normalized char still maps to the original char at the
    # same index (the common case: no normalizer, or one that keeps lengths); the per-char
    # list is only built on the first edit that needs it.
    __slots__ = ("original", "normalized", "_align", "original_shift")

    def __init__(self, original: str, normalized: str | None = None, alignments=None, original_shift: int = 0):
        self.original = original
        if normalized is None:
            self.normalized = original
            self._align = None
        else:
            self.normalized = normalized
            self._align = list(alignments) if alignments is not None else []
        self.original_shift = original_shift

    @classmethod
    def _identity(cls, original: str, normalized: str, original_shift: int) -> "NormalizedString":
        n = cls.__new__(cls)
        n.original = original
        n.normalized = normalized
        n._align = None
        n.original_shift = original_shift
        return n

    @property
    def alignments(self) -> list[Offsets]:
        """(start, end) in the original for each normalized char."""
        if self._align is None:
            self._align = [(i, i + 1) for i in range(len(self.normalized))]
        return self._align

    @alignments.setter
    def alignments(self, value: list[Offsets]) -> None:
        self._align = value

    # ---- accessors -------------------------------------------------------------------
    def get(self) -> str:
        return self.normalized

    @property
    def value(self) -> str:  # mirrors tokenizers.NormalizedString.normalized
        return self.normalized

    def get_original(self) -> str:
        return self.original

    def __len__(self) -> int:
        return len(self.normalized)

    def __repr__(self) -> str:
        return f"NormalizedString(original={self.original!r}, normalized={self.normalized!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.normalized == other
        return (
            isinstance(other, NormalizedString)
            and self.original == other.original
            and self.normalized == other.normalized
            and self.alignments == other.alignments
        )

    def is_empty(self) -> bool:
        return not self.normalized

    def offsets_original(self) -> Offsets:
        """(start, end) of this piece's original text in the full input."""
        return (self.original_shift, self.original_shift + len(self.original))

    # ---- offset conversion -----------------------------------------------------------
    def convert_offsets_to_original(self, start: int, end: int) -> Offsets | None:
        """Map a normalized range to the original range it came from (relative)."""
        if start == end:
            return (start, end)
        if start > end:
            return None
        if not self.normalized and start == 0 and end == 0:
            return (0, len(self.original))
        if start < 0 or end > len(self.normalized):
            return None
        if self._align is None:
            return (start, end)
        return (self._align[start][0], self._align[end - 1][1])

    def convert_offsets_to_normalized(self, start: int, end: int) -> Offsets | None:
        """Map an original range to the normalized range it became (relative)."""
        if start == end:
            return (start, end)
        if start > end:
            return None
        if not self.original and start == 0 and end == 0:
            return (0, len(self.normalized))
        first = last = None
        for i, (a, b) in enumerate(self.alignments):
            if end < b:
                break
            if first is None and start <= a and a != b:
                first = i
            if end >= b:
                last = i + 1
        if first is not None and last is None:
            return (first, first)
        if first is None and last is not None:
            return (last, last)
        if first is not None and last is not None:
            return (first, last)
        return None

    def slice(self, start: int, end: int) -> "NormalizedString":
        """The piece of this string covering normalized chars [start, end)."""
        if self._align is None:
            if start > end:
                start = end = 0
            return NormalizedString._identity(self.original[start:end], self.normalized[start:end], self.original_shift + start)
        orig = self.convert_offsets_to_original(start, end)
        if orig is None:
            orig = (0, 0)
        o_start, o_end = orig
        aligns = self.alignments[start:end]
        return NormalizedString(
            self.original[o_start:o_end],
            self.normalized[start:end],
            [(a - o_start, b - o_start) for a, b in aligns],
            self.original_shift + o_start,
        )

    # ---- the one edit primitive ------------------------------------------------------
    def transform(self, changes: Iterable[tuple[str, int]], initial_offset: int = 0) -> None:
        """Replace the whole normalized text with the chars yielded by `changes`.

        Each item is (char, change): change 0 replaces the current char, 1 inserts a new
        char (aligned like the previous one), -N replaces the current char and removes the
        N chars after it. `initial_offset` chars at the very start are removed first.
        """
        self.transform_range(0, len(self.normalized), changes, initial_offset)

    def transform_range(self, start: int, end: int, changes: Iterable[tuple[str, int]], initial_offset: int = 0) -> None:
        """`transform` restricted to normalized chars [start, end)."""
        old_align = self.alignments
        offset = start + initial_offset
        new_chars: list[str] = []
        new_align: list[Offsets] = []
        for ch, change in changes:
            if change > 0:
                align = old_align[offset - 1] if offset >= 1 else (0, 0)
            else:
                align = old_align[offset]
                offset += 1
                if change < 0:
                    offset -= change
            new_chars.append(ch)
            new_align.append(align)
        self.alignments = old_align[:start] + new_align + old_align[end:]
        self.normalized = self.normalized[:start] + "".join(new_chars) + self.normalized[end:]

    # ---- common edits ----------------------------------------------------------------
    def map(self, fn: Callable[[str], str]) -> None:
        """Apply a char -> char function to every normalized char."""
        self.normalized = "".join(fn(c) for c in self.normalized)

    def filter(self, keep: Callable[[str], bool]) -> None:
        """Remove the normalized chars for which `keep(char)` is False."""
        changes: list[tuple[str, int]] = []
        removed = 0
        removed_start = 0
        last: str | None = None
        for c in self.normalized:
            if keep(c):
                if last is not None:
                    changes.append((last, -removed))
                else:
                    removed_start = removed
                last = c
                removed = 0
            else:
                removed += 1
        if last is not None:
            changes.append((last, -removed))
        self.transform(changes, removed_start)

    def lowercase(self) -> None:
        self._case_map(str.lower)

    def uppercase(self) -> None:
        self._case_map(str.upper)

    def _case_map(self, fn: Callable[[str], str]) -> None:
        text = self.normalized
        if fn is str.lower:
            # The reference lowercases char by char (Rust `char::to_lowercase`): no
            # final-sigma rule, and Rust's newer Unicode tables (LOWERCASE_EXCEPTIONS).
            from snuggle.tokenizers.char_classes import LOWERCASE_EXCEPTIONS, lowercase_char

            if not text.isascii() and ("\u03a3" in text or not LOWERCASE_EXCEPTIONS.keys().isdisjoint(text)):
                fn = lowercase_char
        out = fn(text) if fn in (str.lower, str.upper) else "".join(map(fn, text))
        if len(out) == len(text):
            self.normalized = out
            return
        changes: list[tuple[str, int]] = []
        for c in self.normalized:
            mapped = fn(c)
            for i, m in enumerate(mapped):
                changes.append((m, 1 if i > 0 else 0))
            if not mapped:  # pragma: no cover - no char lowercases to nothing
                changes.append((c, 0))
        self.transform(changes, 0)

    def prepend(self, s: str) -> None:
        """Insert `s` before the first char (aligned with the first char)."""
        if not self.normalized or not s:
            return
        first = self.normalized[0]
        changes = [(c, 0 if i == 0 else 1) for i, c in enumerate(s)]
        changes.append((first, 1))
        self.transform_range(0, 1, changes, 0)

    def append(self, s: str) -> None:
        """Insert `s` after the last char (aligned with the last char)."""
        if not self.normalized or not s:
            return
        last = self.normalized[-1]
        n = len(self.normalized)
        changes = [(last, 0)] + [(c, 1) for c in s]
        self.transform_range(n - 1, n, changes, 0)

    def strip(self) -> None:
        self.lrstrip(True, True)

    def lstrip(self) -> None:
        self.lrstrip(True, False)

    def rstrip(self) -> None:
        self.lrstrip(False, True)

    def lrstrip(self, left: bool, right: bool) -> None:
        s = self.normalized
        # Rust's char::is_whitespace: str.strip() minus the separators U+001C..U+001F.
        lead = len(s) - len(s.lstrip(_STRIP_WHITESPACE)) if left else 0
        trail = len(s) - len(s.rstrip(_STRIP_WHITESPACE)) if right else 0
        if lead == 0 and trail == 0:
            return
        if lead == len(s) or trail == len(s):  # all whitespace (either side strips it all)
            self.normalized = ""
            self.alignments = []
            return
        kept = s[lead : len(s) - trail]
        changes = [(c, 0) for c in kept]
        if trail:
            changes[-1] = (kept[-1], -trail)
        self.transform(changes, lead)

    # ---- unicode normalization forms (alignment-aware, see unicode_align.py) ---------------
    def nfd(self) -> None:
        self._unicode_normalize("NFD")

    def nfkd(self) -> None:
        self._unicode_normalize("NFKD")

    def nfc(self) -> None:
        self._unicode_normalize("NFC")

    def nfkc(self) -> None:
        self._unicode_normalize("NFKC")

    def _unicode_normalize(self, form: str) -> None:
        from snuggle.tokenizers.unicode_align import needs_normalization, normalization_changes

        if needs_normalization(self.normalized, form):
            self.transform(normalization_changes(self.normalized, form), 0)

    def replace(self, pattern, content: str) -> None:
        """Replace every match of `pattern` (str or Regex) with `content`.

        As in the reference, the matched chars are removed and each char of `content` is
        inserted with the alignment of the last matched char.
        """
        new_parts: list[str] = []
        new_align: list[Offsets] = []
        text = self.normalized
        for (s, e), is_match in find_matches(pattern, text):
            if not is_match:
                new_parts.append(text[s:e])
                new_align.extend(self.alignments[s:e])
            elif s < e and content:
                new_parts.append(content)
                new_align.extend([self.alignments[e - 1]] * len(content))
        self.normalized = "".join(new_parts)
        self.alignments = new_align

    # ---- splitting -------------------------------------------------------------------
    def split(self, pattern, behavior: str) -> list["NormalizedString"]:
        """Split on `pattern` with a delimiter `behavior` (see SPLIT_BEHAVIORS)."""
        behavior = normalize_behavior(behavior) if behavior not in SPLIT_BEHAVIORS else behavior
        pieces = _apply_behavior(find_matches(pattern, self.normalized), behavior)
        return [self.slice(s, e) for (s, e), remove in pieces if not remove]


# White_Space chars (what Rust's char::is_whitespace accepts), for strip().
_STRIP_WHITESPACE = "\x09\x0a\x0b\x0c\x0d\x20\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


class Split:
    """One piece of a PreTokenizedString: a NormalizedString and, once tokenized, its tokens."""

    __slots__ = ("normalized", "tokens")

    def __init__(self, normalized: NormalizedString, tokens: list[Token] | None = None):
        self.normalized = normalized
        self.tokens = tokens

    def __repr__(self) -> str:
        return f"Split({self.normalized!r}, tokens={self.tokens!r})"


class PreTokenizedString:
    """A sequence being cut into words by pre-tokenizers, each word a NormalizedString."""

    __slots__ = ("original", "splits")

    def __init__(self, original: str | NormalizedString):
        if isinstance(original, NormalizedString):
            self.original = original.original
            self.splits = [Split(original)]
        else:
            self.original = original
            self.splits = [Split(NormalizedString(original))]

    def split(self, fn: Callable[[int, NormalizedString], Sequence[NormalizedString]]) -> None:
        """Replace every not-yet-tokenized split by the pieces `fn(index, split)` returns."""
        new: list[Split] = []
        for i, sp in enumerate(self.splits):
            if sp.tokens is not None:
                new.append(sp)
                continue
            for piece in fn(i, sp.normalized):
                if isinstance(piece, Split):
                    if piece.normalized.normalized:
                        new.append(piece)
                elif piece.normalized:
                    new.append(Split(piece))
        self.splits = new

    def normalize(self, fn: Callable[[NormalizedString], None]) -> None:
        for sp in self.splits:
            if sp.tokens is None:
                fn(sp.normalized)

    def tokenize(self, fn: Callable[[NormalizedString], list[Token]]) -> None:
        for sp in self.splits:
            if sp.tokens is None:
                sp.tokens = fn(sp.normalized)

    def get_splits(self, offset_referential: str = "original", offset_type: str = "char"):
        """[(normalized text, offsets, tokens)] for each split."""
        out = []
        running = 0
        for sp in self.splits:
            n = sp.normalized
            if offset_referential == "original":
                offsets = n.offsets_original()
            else:
                offsets = (running, running + len(n.normalized))
                running += len(n.normalized)
            if offset_type == "byte":
                offsets = _char_to_byte_offsets(self.original, offsets)
            out.append((n.normalized, offsets, sp.tokens))
        return out

    def to_encoding_items(self, word_idx: int | None = None, type_id: int = 0):
        """Yield (id, token, offsets in the original string, word index, type id) per token."""
        for idx, sp in enumerate(self.splits):
            if sp.tokens is None:
                raise TokenizerError("a split has not been tokenized; call PreTokenizedString.tokenize first")
            n = sp.normalized
            shift = n.original_shift
            word = word_idx if word_idx is not None else idx
            for tok in sp.tokens:
                s, e = tok.offsets
                conv = n.convert_offsets_to_original(s, e)
                if conv is not None:
                    s, e = shift + conv[0], shift + conv[1]
                yield tok.id, tok.value, (s, e), word, type_id


def _char_to_byte_offsets(text: str, offsets: Offsets) -> Offsets:
    s, e = offsets
    return (len(text[:s].encode("utf-8")), len(text[:e].encode("utf-8")))
