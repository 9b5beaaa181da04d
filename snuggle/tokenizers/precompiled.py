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
import re
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
        self._risky: frozenset[str] | None = None  # built on first might_change() call (see risky_chars)
        self._risky_ascii = None  # compiled class of the risky ASCII chars
        self._risky_ranges: list[tuple[int, int]] = []
        self._children: dict[int, list[int]] | None = None
        self._ascii_table = None  # (1:1 translate table, regex of other risky ASCII chars)

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
    def _walk(self, key: bytes) -> int | None:
        """Trie position after walking all of `key`, or None when the walk falls off."""
        units = self.units
        n = len(units)
        pos = self._offset(units[0])
        for c in key:
            pos ^= c
            if pos >= n or self._label(units[pos]) != c:
                return None
            pos ^= self._offset(units[pos])
        return pos

    def _child_labels(self, pos: int, labels: range) -> list[int]:
        """Labels (within `labels`) of the children of the node whose base is `pos`."""
        if self._children is None:
            # One pass over the units: a unit at q labelled c is a child of the node whose
            # base is q ^ c (darts-clone gives every node its own base). Value units have
            # bit 31 set and are skipped.
            children: dict[int, list[int]] = {}
            for q, unit in enumerate(self.units):
                c = unit & 0xFF
                if c and not unit & 0x80000000:
                    children.setdefault(q ^ c, []).append(c)
            self._children = children
        return [c for c in self._children.get(pos, ()) if c in labels]

    def _chars_under(self, pos: int, prefix: bytes, depth: int) -> list[str]:
        """Complete chars spelled by walking `depth` more UTF-8 continuation bytes from `pos`."""
        if depth == 0:
            return [prefix.decode("utf-8", "surrogatepass")]
        out: list[str] = []
        units = self.units
        for c in self._child_labels(pos, range(0x80, 0xC0)):
            out.extend(self._chars_under(pos ^ c ^ self._offset(units[pos ^ c]), prefix + bytes([c]), depth - 1))
        return out

    def risky_chars(self) -> tuple[frozenset[str], list[tuple[int, int]]]:
        """(chars, code point ranges) covering every char that can make the normalizer change
        a text: chars with a replacement of their own (the shortest-prefix lookup of the char
        alone finds a key) and chars that are the second char of a longer key (a grapheme
        like "A" + U+0301). A text with none of them is left exactly as it is, because every
        lookup (whole grapheme, then char by char) then finds no key.

        A key that ends inside a char's UTF-8 bytes makes that char's whole lead byte range
        risky (never seen in real charsmaps, but kept exact)."""
        units = self.units
        root = self._offset(units[0])
        risky: set[str] = set()
        ranges: list[tuple[int, int]] = []
        first_chars: list[tuple[str, int]] = []  # (char, trie position after it) for chars that start keys
        for b0 in sorted(self.root_bytes):
            if b0 < 0x80:
                first_chars.append((chr(b0), root ^ b0 ^ self._offset(units[root ^ b0])))
                continue
            need = 1 if b0 < 0xE0 else 2 if b0 < 0xF0 else 3
            for ch in self._chars_under(root ^ b0 ^ self._offset(units[root ^ b0]), bytes([b0]), need):
                first_chars.append((ch, self._walk(ch.encode("utf-8", "surrogatepass"))))
        for ch, pos in first_chars:
            if self.transform(ch) is not None:
                risky.add(ch)
            else:
                # a key that stops inside this char (a partial UTF-8 prefix) still matches
                key = ch.encode("utf-8", "surrogatepass")
                if len(key) > 1 and self.common_prefix_search(key):
                    risky.add(ch)
            # second chars of longer keys starting with `ch`
            for b1 in self._child_labels(pos, range(1, 0xF5)):
                if b1 < 0x80:
                    risky.add(chr(b1))
                    continue
                if b1 < 0xC2:
                    continue
                need = 1 if b1 < 0xE0 else 2 if b1 < 0xF0 else 3
                nxt = pos ^ b1 ^ self._offset(units[pos ^ b1])
                if self._has_leaf(units[pos ^ b1]):  # a key ends after a lone lead byte
                    lo = 0x80 if b1 < 0xE0 else 0x800 if b1 < 0xF0 else 0x10000
                    ranges.append((lo, 0x10FFFF))
                    continue
                risky.update(self._chars_under(nxt, bytes([b1]), need))
        return frozenset(risky), ranges

    def normalize_ascii_1to1(self, text: str) -> str | None:
        """The normalized text when that is a char-for-char replacement, else None.

        For ASCII text without "\\r" every grapheme is one char and no longer key can match
        (its second char would be non-ASCII), so normalizing is a per-char table; it is 1:1
        (offsets unchanged) when each risky char present maps to exactly one char.

        >>> cmap.normalize_ascii_1to1("a\\tb")  # doctest: +SKIP
        'a b'
        """
        if not self.might_change(text):
            return text
        if not text.isascii():
            return None
        if self._ascii_table is None:
            table = {}
            for c in self._risky:
                if c.isascii() and c != "\r":
                    norm = self.transform(c)
                    if norm is not None and len(norm) == 1:
                        table[ord(c)] = norm
            rest = "".join(_class_escape(c) for c in sorted(self._risky) if c.isascii() and ord(c) not in table)
            self._ascii_table = (table, re.compile(f"[{rest}]" if rest else r"(?!)"))
        table, rest_re = self._ascii_table
        if rest_re.search(text):
            return None
        return text.translate(table)

    def might_change(self, text: str) -> bool:
        """False when normalizing `text` certainly changes nothing (see risky_chars)."""
        if self._risky is None:
            self._risky, self._risky_ranges = self.risky_chars()
            ascii_body = "".join(_class_escape(c) for c in sorted(self._risky) if c.isascii())
            self._risky_ascii = re.compile(f"[{ascii_body}]" if ascii_body else r"(?!)")
        if text.isascii():
            return self._risky_ascii.search(text) is not None
        if not self._risky.isdisjoint(text):
            return True
        # (a large set of chars is much faster as a set than as a `re` class)
        return any(a <= ord(c) <= b for a, b in self._risky_ranges for c in text)

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


def _class_escape(ch: str) -> str:
    """`ch` written safely inside a `re` character class."""
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\U{ord(ch):08x}"


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
