"""SentencePiece's `precompiled_charsmap`: a darts-clone double-array trie + replacement blob.

Layout (little endian): u32 trie size in bytes, then that many bytes of u32 trie units,
then the "normalized" blob: NUL-terminated UTF-8 replacement strings. A trie lookup of a
UTF-8 key yields a byte offset into the blob; the replacement runs up to the next NUL.

The reference normalizer (`Precompiled`) walks the text grapheme by grapheme: a grapheme
shorter than 6 UTF-8 bytes is looked up whole (the *shortest* key that is a prefix of it
wins, as in the reference's `common_prefix_search(...)[0]`); otherwise, or when there is
no match, each char is looked up on its own. The (char, change) bookkeeping copies the
reference's rule: new chars replace old ones, extra chars are insertions, and a shorter
replacement folds the removal into the last char emitted so far.

>>> cmap = PrecompiledCharsmap.from_base64(SOME_BASE64)  # doctest: +SKIP
>>> cmap.transform("\\uff21")  # doctest: +SKIP
'A'
"""

from __future__ import annotations

import base64
import binascii
import struct

import regex

from snuggle.errors import TokenizerFileError

_GRAPHEMES = regex.compile(r"\X", regex.DOTALL)


class PrecompiledCharsmap:
    """Parsed charsmap with cached lookups."""

    def __init__(self, data: bytes):
        data = bytes(data)
        if len(data) < 4:
            raise TokenizerFileError(
                f"precompiled_charsmap is {len(data)} bytes; expected at least 4 (u32 trie size)",
                where="normalizer.precompiled_charsmap",
            )
        (trie_size,) = struct.unpack_from("<I", data, 0)
        n_units = trie_size // 4
        if 4 + n_units * 4 > len(data) or n_units == 0:
            raise TokenizerFileError(
                f"precompiled_charsmap declares a {trie_size}-byte trie but holds {len(data) - 4} bytes after the header",
                where="normalizer.precompiled_charsmap",
            )
        self.data = data
        self.units = struct.unpack_from(f"<{n_units}I", data, 4)
        blob = data[4 + n_units * 4 :]
        try:
            blob.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TokenizerFileError(
                f"precompiled_charsmap replacement blob is not valid UTF-8 ({e})",
                where="normalizer.precompiled_charsmap",
            ) from e
        self.blob = blob
        self._cache: dict[str, str | None] = {}
        self.root_bytes = self._root_children()

    @classmethod
    def from_base64(cls, text: str) -> "PrecompiledCharsmap":
        try:
            return cls(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError) as e:
            raise TokenizerFileError(
                f"precompiled_charsmap is not valid base64 ({e})", where="normalizer.precompiled_charsmap"
            ) from e

    # ---- darts-clone unit accessors ----------------------------------------------------
    @staticmethod
    def _offset(unit: int) -> int:
        return (unit >> 10) << ((unit & (1 << 9)) >> 6)

    @staticmethod
    def _label(unit: int) -> int:
        return unit & ((1 << 31) | 0xFF)

    @staticmethod
    def _has_leaf(unit: int) -> bool:
        return (unit >> 8) & 1 == 1

    @staticmethod
    def _value(unit: int) -> int:
        return unit & ((1 << 31) - 1)

    def _root_children(self) -> frozenset[int]:
        units = self.units
        base = self._offset(units[0])
        out = set()
        for c in range(1, 256):
            pos = base ^ c
            if pos < len(units) and self._label(units[pos]) == c:
                out.add(c)
        return frozenset(out)

    def common_prefix_search(self, key: bytes) -> list[int]:
        """Blob offsets of every key in the trie that is a prefix of `key` (shortest first)."""
        units = self.units
        n = len(units)
        pos = self._offset(units[0])
        results: list[int] = []
        for c in key:
            if c == 0:
                break
            pos ^= c
            if pos >= n:
                return results
            unit = units[pos]
            if self._label(unit) != c:
                return results
            pos ^= self._offset(unit)
            if self._has_leaf(unit):
                if pos >= n:
                    return results
                results.append(self._value(units[pos]))
        return results

    def _replacement_at(self, index: int) -> str:
        end = self.blob.find(b"\x00", index)
        if end < 0:
            end = len(self.blob)
        return self.blob[index:end].decode("utf-8", errors="replace")

    def transform(self, chunk: str) -> str | None:
        """Replacement for the shortest trie key that prefixes `chunk`, or None."""
        cached = self._cache.get(chunk, False)
        if cached is not False:
            return cached
        key = chunk.encode("utf-8")
        if not key or key[0] not in self.root_bytes:
            result = None
        else:
            found = self.common_prefix_search(key)
            result = self._replacement_at(found[0]) if found else None
        if len(self._cache) < 100_000:
            self._cache[chunk] = result
        return result

    # ---- the normalizer ----------------------------------------------------------------
    def might_change(self, text: str) -> bool:
        """False when no char of `text` can start a trie key (nothing to do)."""
        root = self.root_bytes
        for ch in set(text):
            if ch.encode("utf-8")[0] in root:
                return True
        return False

    def changes(self, text: str) -> list[tuple[str, int]] | None:
        """(char, change) stream as the reference builds it, or None if nothing changes."""
        out: list[tuple[str, int]] = []
        modified = False
        transform = self.transform
        for grapheme in _GRAPHEMES.findall(text):
            if len(grapheme.encode("utf-8")) < 6:
                norm = transform(grapheme)
                if norm is not None:
                    modified = True
                    _push_replacement(out, norm, len(grapheme))
                    continue
            for ch in grapheme:
                norm = transform(ch)
                if norm is None:
                    out.append((ch, 0))
                else:
                    modified = True
                    _push_replacement(out, norm, 1)
        return out if modified else None

    def normalize_text(self, text: str) -> str:
        """Just the normalized string."""
        if not self.might_change(text):
            return text
        changes = self.changes(text)
        return text if changes is None else "".join(c for c, _ in changes)


def _push_replacement(out: list[tuple[str, int]], norm: str, old_count: int) -> None:
    # Every new char "replaces" (change 0); if the replacement is longer, its last `diff`
    # chars are insertions; if shorter, the last char *of the stream so far* (which may
    # belong to an earlier grapheme when `norm` is empty) absorbs the removal.
    diff = len(norm) - old_count
    out.extend((c, 0) for c in norm)
    if diff > 0:
        for i in range(len(out) - diff, len(out)):
            out[i] = (out[i][0], 1)
    elif diff < 0 and out:
        out[-1] = (out[-1][0], out[-1][1] + diff)
