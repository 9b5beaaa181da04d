"""Normalizers: the first step of the pipeline, editing a NormalizedString in place.

Same classes, constructor arguments and tokenizer.json objects as `tokenizers.normalizers`.
Every normalizer works on a `NormalizedString` so that offsets map back to the user's
text; `normalize_str` is the convenience form for plain strings.

>>> BertNormalizer().normalize_str("Héllo\\tWORLD")
'hello world'
>>> Sequence([NFKC(), Lowercase()]).normalize_str("ＡＢＣ")
'abc'
>>> from_dict({"type": "Strip", "strip_left": True, "strip_right": False}).normalize_str("  hi  ")
'hi  '
"""

from __future__ import annotations

import base64

from snuggle.tokenizers.component import Component
from snuggle.errors import TokenizerFileError
from snuggle.tokenizers.char_classes import (
    is_chinese_char,
    is_combining_mark,
    is_control,
    is_nonspacing_mark,
    is_whitespace,
)
from snuggle.tokenizers.normalized import NormalizedString, Regex
from snuggle.tokenizers.precompiled import PrecompiledCharsmap

__all__ = [
    "Normalizer",
    "NFC",
    "NFD",
    "NFKC",
    "NFKD",
    "Lowercase",
    "Strip",
    "StripAccents",
    "Replace",
    "Prepend",
    "BertNormalizer",
    "Precompiled",
    "ByteLevel",
    "Nmt",
    "Sequence",
    "from_dict",
    "pattern_to_dict",
    "pattern_from_dict",
]


class Normalizer(Component):
    _family_module = "snuggle.tokenizers.normalizers"
    """Base class: subclasses implement `normalize(NormalizedString)` and `to_dict()`."""

    def normalize(self, normalized: NormalizedString) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def normalize_str(self, sequence: str) -> str:
        """Normalize a plain string.

        >>> Lowercase().normalize_str("ABC")
        'abc'
        """
        n = NormalizedString(sequence)
        self.normalize(n)
        return n.normalized



# ---- unicode normalization forms ----------------------------------------------------------
class NFD(Normalizer):
    """Canonical decomposition."""

    def normalize(self, normalized: NormalizedString) -> None:
        normalized.nfd()


class NFKD(Normalizer):
    """Compatibility decomposition."""

    def normalize(self, normalized: NormalizedString) -> None:
        normalized.nfkd()


class NFC(Normalizer):
    """Canonical decomposition then canonical composition."""

    def normalize(self, normalized: NormalizedString) -> None:
        normalized.nfc()


class NFKC(Normalizer):
    """Compatibility decomposition then canonical composition."""

    def normalize(self, normalized: NormalizedString) -> None:
        normalized.nfkc()


# ---- simple edits -------------------------------------------------------------------------
class Lowercase(Normalizer):
    """Lowercase every char (char by char, as Rust's `char::to_lowercase`)."""

    def normalize(self, normalized: NormalizedString) -> None:
        normalized.lowercase()


class Strip(Normalizer):
    """Remove leading (`left`) and/or trailing (`right`) whitespace."""

    def __init__(self, left: bool = True, right: bool = True):
        self.left = bool(left)
        self.right = bool(right)

    def normalize(self, normalized: NormalizedString) -> None:
        normalized.lrstrip(self.left, self.right)

    def to_dict(self) -> dict:
        return {"type": "Strip", "strip_left": self.left, "strip_right": self.right}


class StripAccents(Normalizer):
    """Remove combining marks (use after NFD/NFKD to strip accents)."""

    def normalize(self, normalized: NormalizedString) -> None:
        text = normalized.normalized
        if text.isascii():
            return
        if any(is_combining_mark(c) for c in set(text)):
            normalized.filter(lambda c: not is_combining_mark(c))


def pattern_to_dict(pattern) -> dict:
    """A str / Regex pattern as tokenizer.json writes it: {"String": ...} or {"Regex": ...}."""
    if isinstance(pattern, Regex):
        return {"Regex": pattern.pattern}
    return {"String": pattern}


def pattern_from_dict(d, where: str):
    """Inverse of `pattern_to_dict` (also accepts a bare string)."""
    if isinstance(d, str):
        return d
    if isinstance(d, dict) and len(d) == 1:
        if "String" in d and isinstance(d["String"], str):
            return d["String"]
        if "Regex" in d and isinstance(d["Regex"], str):
            return Regex(d["Regex"])
    raise TokenizerFileError(f"pattern is {d!r}; expected {{'String': str}} or {{'Regex': str}}", where=where)


def _check_pattern(pattern, owner: str):
    if isinstance(pattern, (str, Regex)):
        return pattern
    raise TypeError(f"{owner}: pattern must be a str or a Regex, got {type(pattern).__name__}")


class Replace(Normalizer):
    """Replace every match of `pattern` (literal str or `Regex`) by `content`."""

    def __init__(self, pattern, content: str):
        self.pattern = _check_pattern(pattern, "Replace")
        self.content = content

    def normalize(self, normalized: NormalizedString) -> None:
        if isinstance(self.pattern, str) and self.pattern not in normalized.normalized:
            return
        normalized.replace(self.pattern, self.content)

    def to_dict(self) -> dict:
        return {"type": "Replace", "pattern": pattern_to_dict(self.pattern), "content": self.content}


class Prepend(Normalizer):
    """Prepend `prepend` to a non-empty string (e.g. '▁' for SentencePiece vocabularies)."""

    def __init__(self, prepend: str = "\u2581"):
        self.prepend = prepend

    def normalize(self, normalized: NormalizedString) -> None:
        if normalized.normalized:
            normalized.prepend(self.prepend)

    def to_dict(self) -> dict:
        return {"type": "Prepend", "prepend": self.prepend}


# ---- BERT ---------------------------------------------------------------------------------
_ASCII_WHITESPACE_TO_SPACE = str.maketrans("\t\n\r", "   ")


def _is_removed_by_clean(c: str) -> bool:
    return c == "\x00" or c == "\ufffd" or is_control(c)


class BertNormalizer(Normalizer):
    """BERT's normalizer: clean control chars, isolate CJK chars, strip accents, lowercase.

    `strip_accents=None` means "follow `lowercase`" (as in the original BERT).
    """

    def __init__(
        self,
        clean_text: bool = True,
        handle_chinese_chars: bool = True,
        strip_accents: bool | None = None,
        lowercase: bool = True,
    ):
        self.clean_text = bool(clean_text)
        self.handle_chinese_chars = bool(handle_chinese_chars)
        self.strip_accents = strip_accents if strip_accents is None else bool(strip_accents)
        self.lowercase = bool(lowercase)

    def normalize(self, normalized: NormalizedString) -> None:
        text = normalized.normalized
        ascii_only = text.isascii()
        if self.clean_text:
            self._clean_text(normalized, ascii_only)
        if self.handle_chinese_chars and not ascii_only:
            self._handle_chinese_chars(normalized)
        strip = self.strip_accents if self.strip_accents is not None else self.lowercase
        if strip and not ascii_only:
            normalized.nfd()
            if any(is_nonspacing_mark(c) for c in set(normalized.normalized)):
                normalized.filter(lambda c: not is_nonspacing_mark(c))
        if self.lowercase:
            normalized.lowercase()

    @staticmethod
    def _clean_text(normalized: NormalizedString, ascii_only: bool) -> None:
        text = normalized.normalized
        if ascii_only:
            if text.isprintable():
                return
            # Only \t \n \r among the non-printables: a same-length mapping keeps alignments.
            mapped = text.translate(_ASCII_WHITESPACE_TO_SPACE)
            if mapped.isprintable():
                normalized.normalized = mapped
                return
        distinct = set(text)
        if any(_is_removed_by_clean(c) for c in distinct):
            normalized.filter(lambda c: not _is_removed_by_clean(c))
        if any(c != " " and is_whitespace(c) for c in distinct):
            normalized.map(lambda c: " " if is_whitespace(c) else c)

    @staticmethod
    def _handle_chinese_chars(normalized: NormalizedString) -> None:
        text = normalized.normalized
        if not any(is_chinese_char(c) for c in set(text)):
            return
        changes: list[tuple[str, int]] = []
        for c in text:
            if is_chinese_char(c):
                changes.extend(((" ", 0), (c, 1), (" ", 1)))
            else:
                changes.append((c, 0))
        normalized.transform(changes, 0)

    def to_dict(self) -> dict:
        return {
            "type": "BertNormalizer",
            "clean_text": self.clean_text,
            "handle_chinese_chars": self.handle_chinese_chars,
            "strip_accents": self.strip_accents,
            "lowercase": self.lowercase,
        }


# ---- SentencePiece ------------------------------------------------------------------------
class Precompiled(Normalizer):
    """SentencePiece's compiled normalization rules (`precompiled_charsmap` bytes)."""

    def __init__(self, precompiled_charsmap):
        if isinstance(precompiled_charsmap, str):
            self.charsmap = PrecompiledCharsmap.from_base64(precompiled_charsmap)
        else:
            self.charsmap = PrecompiledCharsmap(bytes(precompiled_charsmap))

    @property
    def precompiled_charsmap(self) -> bytes:
        return self.charsmap.data

    def normalize(self, normalized: NormalizedString) -> None:
        text = normalized.normalized
        if not self.charsmap.might_change(text):
            return
        changes = self.charsmap.changes(text)
        if changes is not None:
            normalized.transform(changes, 0)

    def normalize_str(self, sequence: str) -> str:
        return self.charsmap.normalize_text(sequence)

    def to_dict(self) -> dict:
        return {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(self.charsmap.data).decode("ascii")}

    def __repr__(self) -> str:
        return f"Precompiled(<{len(self.charsmap.data)} bytes>)"


class Nmt(Normalizer):
    """SentencePiece's NMT cleanup: drop some control chars, map odd spaces to ' '."""

    _REMOVED = frozenset(
        [chr(c) for c in range(0x01, 0x09)] + ["\x0b"] + [chr(c) for c in range(0x0E, 0x20)] + ["\x7f", "\x8f", "\x9f"]
    )
    _TO_SPACE = frozenset(
        ["\t", "\n", "\x0c", "\r", "\u1680", "\u2028", "\u2029", "\u2581", "\ufeff", "\ufffd"]
        + [chr(c) for c in range(0x200B, 0x2010)]
    )

    def normalize(self, normalized: NormalizedString) -> None:
        text = normalized.normalized
        chars = set(text)
        if not chars.isdisjoint(self._REMOVED):
            normalized.filter(lambda c: c not in self._REMOVED)
        if not chars.isdisjoint(self._TO_SPACE):
            to_space = self._TO_SPACE
            normalized.map(lambda c: " " if c in to_space else c)


# ---- byte level ---------------------------------------------------------------------------
class ByteLevel(Normalizer):
    """Replace every byte of the UTF-8 text by its GPT-2 visible char (Ġ for space...)."""

    def normalize(self, normalized: NormalizedString) -> None:
        from snuggle.tokenizers.pre_tokenizers import byte_level_changes, byte_level_translate

        text = normalized.normalized
        if text.isascii():
            normalized.normalized = text.translate(byte_level_translate())
            return
        normalized.transform(byte_level_changes(text), 0)

    @staticmethod
    def alphabet() -> list[str]:
        from snuggle.tokenizers.pre_tokenizers import BYTE_TO_UNICODE

        return sorted(BYTE_TO_UNICODE.values())


# ---- composition --------------------------------------------------------------------------
class Sequence(Normalizer):
    """Apply normalizers one after the other."""

    def __init__(self, normalizers):
        self.normalizers = list(normalizers)
        for i, n in enumerate(self.normalizers):
            if not isinstance(n, Normalizer):
                raise TypeError(f"Sequence: item {i} is {type(n).__name__}, expected a Normalizer")

    def normalize(self, normalized: NormalizedString) -> None:
        for n in self.normalizers:
            n.normalize(normalized)

    def __len__(self) -> int:
        return len(self.normalizers)

    def __getitem__(self, index: int) -> Normalizer:
        return self.normalizers[index]

    def __setitem__(self, index: int, value: Normalizer) -> None:
        self.normalizers[index] = value

    def to_dict(self) -> dict:
        return {"type": "Sequence", "normalizers": [n.to_dict() for n in self.normalizers]}


# ---- tokenizer.json -----------------------------------------------------------------------
def _bool(d: dict, key: str, default, where: str):
    value = d.get(key, default)
    if value is None and default is None:
        return None
    if not isinstance(value, bool):
        raise TokenizerFileError(f"{key} is {value!r}; expected true or false", where=where)
    return value


def _str(d: dict, key: str, where: str, default=None) -> str:
    value = d.get(key, default)
    if not isinstance(value, str):
        raise TokenizerFileError(f"{key} is {value!r}; expected a string", where=where)
    return value


def from_dict(d: dict | None, where: str = "normalizer") -> Normalizer | None:
    """Build a normalizer from its tokenizer.json object (None -> None).

    >>> from_dict({"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"}]})
    Sequence(normalizers=[{'type': 'NFD'}, {'type': 'StripAccents'}])
    """
    if d is None:
        return None
    if not isinstance(d, dict) or not isinstance(d.get("type"), str):
        raise TokenizerFileError(f"expected an object with a string 'type', found {d!r}", where=where)
    kind = d["type"]
    if kind in _SIMPLE:
        return _SIMPLE[kind]()
    if kind == "Strip":
        return Strip(_bool(d, "strip_left", True, where), _bool(d, "strip_right", True, where))
    if kind == "Replace":
        return Replace(pattern_from_dict(d.get("pattern"), f"{where}.pattern"), _str(d, "content", where))
    if kind == "Prepend":
        return Prepend(_str(d, "prepend", where))
    if kind == "BertNormalizer":
        return BertNormalizer(
            clean_text=_bool(d, "clean_text", True, where),
            handle_chinese_chars=_bool(d, "handle_chinese_chars", True, where),
            strip_accents=_bool(d, "strip_accents", None, where),
            lowercase=_bool(d, "lowercase", True, where),
        )
    if kind == "Precompiled":
        charsmap = d.get("precompiled_charsmap")
        if isinstance(charsmap, list):
            return Precompiled(bytes(charsmap))
        return Precompiled(_str(d, "precompiled_charsmap", where))
    if kind == "Sequence":
        items = d.get("normalizers")
        if not isinstance(items, list):
            raise TokenizerFileError(f"normalizers is {items!r}; expected a list", where=where)
        return Sequence([from_dict(item, f"{where}.normalizers[{i}]") for i, item in enumerate(items)])
    valid = sorted(list(_SIMPLE) + ["Strip", "Replace", "Prepend", "BertNormalizer", "Precompiled", "Sequence"])
    raise TokenizerFileError(f"unknown normalizer type {kind!r}; expected one of {', '.join(valid)}", where=where)


_SIMPLE = {
    "NFC": NFC,
    "NFD": NFD,
    "NFKC": NFKC,
    "NFKD": NFKD,
    "Lowercase": Lowercase,
    "StripAccents": StripAccents,
    "ByteLevel": ByteLevel,
    "Nmt": Nmt,
}
