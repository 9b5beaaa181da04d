"""Pre-tokenizers: cut the normalized text into words before the model sees it.

Same classes, constructor arguments and tokenizer.json objects as `tokenizers.pre_tokenizers`.
Each works on a `PreTokenizedString` (`pre_tokenize`, in place, offsets tracked);
`pre_tokenize_str` shows the result for a plain string as (word, (start, end)) pairs with
character offsets into the input.

>>> Whitespace().pre_tokenize_str("Hello, world!")
[('Hello', (0, 5)), (',', (5, 6)), ('world', (7, 12)), ('!', (12, 13))]
>>> ByteLevel(add_prefix_space=False).pre_tokenize_str("hi there")
[('hi', (0, 2)), ('Ġthere', (2, 8))]
>>> Metaspace().pre_tokenize_str("Hey friend")
[('▁Hey', (0, 3)), ('▁friend', (3, 10))]
"""

from __future__ import annotations

from functools import lru_cache

import regex

from snuggle.tokenizers.component import Component
from snuggle.errors import TokenizerFileError
from snuggle.tokenizers.char_classes import is_bert_punctuation, is_numeric, is_whitespace
from snuggle.tokenizers.normalized import (
    NormalizedString,
    PreTokenizedString,
    Regex,
    _apply_behavior,
    behavior_to_json,
    find_matches,
    normalize_behavior,
)
from snuggle.tokenizers.normalizers import pattern_from_dict, pattern_to_dict
from snuggle.tokenizers.unicode_scripts import fixed_script

__all__ = [
    "PreTokenizer",
    "ByteLevel",
    "Whitespace",
    "WhitespaceSplit",
    "BertPreTokenizer",
    "Metaspace",
    "Split",
    "Punctuation",
    "Digits",
    "UnicodeScripts",
    "CharDelimiterSplit",
    "FixedLength",
    "Sequence",
    "from_dict",
    "bytes_to_unicode",
    "BYTE_TO_UNICODE",
    "UNICODE_TO_BYTE",
    "GPT2_PATTERN",
    "byte_level_changes",
    "byte_level_translate",
    "split_normalized",
]

# The GPT-2 word-splitting regex (contractions, letters, numbers, other, whitespace).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_GPT2_RE = regex.compile(GPT2_PATTERN)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable char table: printable Latin-1 bytes map to themselves,
    the other 68 bytes to U+0100 and up, in byte order.

    >>> bytes_to_unicode()[32], bytes_to_unicode()[10], bytes_to_unicode()[65]
    ('Ġ', 'Ċ', 'A')
    """
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return dict(sorted(table.items()))


BYTE_TO_UNICODE: dict[int, str] = bytes_to_unicode()
UNICODE_TO_BYTE: dict[str, int] = {u: b for b, u in BYTE_TO_UNICODE.items()}
_BYTE_CHARS = [BYTE_TO_UNICODE[b] for b in range(256)]


@lru_cache(maxsize=1)
def byte_level_translate() -> dict[int, str]:
    """str.translate table for ASCII text (one byte per char, so alignments are unchanged)."""
    return {b: BYTE_TO_UNICODE[b] for b in range(128)}


def byte_level_changes(text: str) -> list[tuple[str, int]]:
    """(char, change) stream replacing each char by the chars of its UTF-8 bytes."""
    out: list[tuple[str, int]] = []
    chars = _BYTE_CHARS
    for ch in text:
        if ch < "\x80":
            out.append((chars[ord(ch)], 0))
            continue
        data = ch.encode("utf-8", errors="surrogatepass")
        out.append((chars[data[0]], 0))
        out.extend((chars[b], 1) for b in data[1:])
    return out


def _byte_level_normalize(n: NormalizedString) -> None:
    text = n.normalized
    if text.isascii():
        n.normalized = text.translate(byte_level_translate())
    else:
        n.transform(byte_level_changes(text), 0)


def split_normalized(n: NormalizedString, pattern, behavior: str, invert: bool = False) -> list[NormalizedString]:
    """Split `n` on `pattern` (str, Regex, compiled regex or char predicate) with a
    delimiter behavior; `invert` swaps what counts as the delimiter."""
    matches = find_matches(pattern, n.normalized)
    if invert:
        matches = [(o, not m) for o, m in matches]
        if behavior == "contiguous":
            # The reference's Contiguous joins any neighbours with the same flag; inverted
            # matches can put two delimiters side by side, so join them first.
            merged: list = []
            for (s, e), m in matches:
                if merged and merged[-1][1] == m:
                    merged[-1] = ((merged[-1][0][0], e), m)
                else:
                    merged.append(((s, e), m))
            matches = merged
    pieces = _apply_behavior(matches, behavior)
    return [n.slice(s, e) for (s, e), remove in pieces if not remove]


def _keep_spans(n: NormalizedString, spans) -> list[NormalizedString]:
    return [n.slice(s, e) for s, e in spans]


class PreTokenizer(Component):
    _family_module = "snuggle.tokenizers.pre_tokenizers"
    """Base class: subclasses implement `pre_tokenize(PreTokenizedString)` and `to_dict()`."""

    def pre_tokenize(self, pretok: PreTokenizedString) -> None:
        pretok.split(self._split)

    def _split(self, index: int, n: NormalizedString) -> list[NormalizedString]:  # pragma: no cover
        raise NotImplementedError

    def pre_tokenize_str(self, sequence: str) -> list[tuple[str, tuple[int, int]]]:
        """Pre-tokenize a plain string: [(word, (start, end))] with char offsets."""
        pretok = PreTokenizedString(sequence)
        self.pre_tokenize(pretok)
        return [(text, offsets) for text, offsets, _ in pretok.get_splits("original", "char")]



# ---- byte level ---------------------------------------------------------------------------
class ByteLevel(PreTokenizer):
    """GPT-2 style: optional leading space, GPT-2 regex split, bytes -> visible chars.

    `trim_offsets` is only used by the ByteLevel post-processor; kept for the JSON.
    """

    def __init__(self, add_prefix_space: bool = True, trim_offsets: bool = True, use_regex: bool = True, **_kwargs):
        self.add_prefix_space = bool(add_prefix_space)
        self.trim_offsets = bool(trim_offsets)
        self.use_regex = bool(use_regex)

    def pre_tokenize(self, pretok: PreTokenizedString) -> None:
        pretok.split(self._split)
        pretok.normalize(_byte_level_normalize)

    def _split(self, index: int, n: NormalizedString) -> list[NormalizedString]:
        if self.add_prefix_space and not n.normalized.startswith(" "):
            n.prepend(" ")
        if not self.use_regex:
            return [n]
        return _keep_spans(n, (m.span() for m in _GPT2_RE.finditer(n.normalized)))

    @staticmethod
    def alphabet() -> list[str]:
        """The 256 chars that stand for bytes."""
        return sorted(BYTE_TO_UNICODE.values())

    def to_dict(self) -> dict:
        return {
            "type": "ByteLevel",
            "add_prefix_space": self.add_prefix_space,
            "trim_offsets": self.trim_offsets,
            "use_regex": self.use_regex,
        }


# ---- whitespace and punctuation -------------------------------------------------------------
_WORDS_RE = regex.compile(r"\w+|[^\w\s]+")
# Rust char::is_whitespace (White_Space); regex's \s would also accept U+001C..U+001F.
_WS_CLASS = "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
_NON_WS_RE = regex.compile(f"[^{_WS_CLASS}]+")
_ASCII_PUNCT_CLASS = r"!-/:-@\[-`{-~"
_BERT_ASCII_RE = regex.compile(f"[^{_WS_CLASS}{_ASCII_PUNCT_CLASS}]+|[{_ASCII_PUNCT_CLASS}]")


class Whitespace(PreTokenizer):
    """Split into runs of word chars and runs of other non-space chars (`\\w+|[^\\w\\s]+`)."""

    def _split(self, index: int, n: NormalizedString) -> list[NormalizedString]:
        return _keep_spans(n, (m.span() for m in _WORDS_RE.finditer(n.normalized)))


class WhitespaceSplit(PreTokenizer):
    """Split on whitespace, dropping it (like str.split())."""

    def _split(self, index: int, n: NormalizedString) -> list[NormalizedString]:
        return _keep_spans(n, (m.span() for m in _NON_WS_RE.finditer(n.normalized)))


def _bert_spans(text: str) -> list[tuple[int, int]]:
    if text.isascii():
        return [m.span() for m in _BERT_ASCII_RE.finditer(text)]
    spans: list[tuple[int, int]] = []
    start = -1
    for i, ch in enumerate(text):
        if is_whitespace(ch):
            if start >= 0:
                spans.append((start, i))
                start = -1
        elif is_bert_punctuation(ch):
            if start >= 0:
                spans.append((start, i))
                start = -1
            spans.append((i, i + 1))
        elif start < 0:
            start = i
    if start >= 0:
        spans.append((start, len(text)))
    return spans


class BertPreTokenizer(PreTokenizer):
    """Split on whitespace (removed) and on each punctuation char (kept alone)."""

    def _split(self, index: int, n: NormalizedString) -> list[NormalizedString]:
        return _keep_spans(n, _bert_spans(n.normalized))


class Punctuation(PreTokenizer):
    """Split on punctuation chars with a delimiter `behavior` (default 'isolated')."""

    def __init__(self, behavior: str = "isolated"):
        self.behavior = normalize_behavior(behavior)

    def _split(self, index: int, n: NormalizedString) -> list[NormalizedString]:
        return split_normalized(n, is_bert_punctuation, self.behavior)

    def to_dict(self) -> dict:
        return {"type": "Punctuation", "behavior": behavior_to_json(self.behavior)}


class Digits(PreTokenizer):
    """Split digits from the rest: runs of digits, or each digit alone."""

    def __init__(self, individual_digits: bool = False):
        self.individual_digits = bool(individual_digits)

    def _split(self, index: int, n: NormalizedString) -> list[NormalizedString]:
        return split_normalized(n, is_numeric, "isolated" if self.individual_digits else "contiguous")

    def to_dict(self) -> dict:
        return {"type": "Digits", "individual_digits": self.individual_digits}


class CharDelimiterSplit(PreTokenizer):
    """Split on one delimiter char, dropping it."""

    def __init__(self, delimiter: str):
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise ValueError(f"CharDelimiterSplit: delimiter must be exactly one char, got {delimiter!r}")
        self.delimiter = delimiter

    def _split(self, index: int, n: NormalizedString) -> list[NormalizedString]:
        return split_normalized(n, self.delimiter, "removed")

    def to_dict(self) -> dict:
        return {"type": "CharDelimiterSplit", "delimiter": self.delimiter}


# ---- SentencePiece style ------------------------------------------------------------------
PREPEND_SCHEMES = ("always", "never", "first")


class Metaspace(PreTokenizer):
    """Replace spaces by `replacement` (▁), maybe prepend one, and split before each ▁.

    prepend_scheme: 'always'; 'never'; 'first' = only on the split that starts the whole
    input (decided from the split's original offset, as the reference does).
    """

    def __init__(self, replacement: str = "\u2581", prepend_scheme: str = "always", split: bool = True):
        if not isinstance(replacement, str) or len(replacement) != 1:
            raise ValueError(f"Metaspace: replacement must be exactly one char, got {replacement!r}")
        if prepend_scheme not in PREPEND_SCHEMES:
            raise ValueError(
                f"Metaspace: prepend_scheme is {prepend_scheme!r}; expected one of {', '.join(PREPEND_SCHEMES)}"
            )
        self.replacement = replacement
        self.prepend_scheme = prepend_scheme
        self.split = bool(split)

    def _split(self, index: int, n: NormalizedString) -> list[NormalizedString]:
        repl = self.replacement
        if " " in n.normalized:
            n.replace(" ", repl)
        if self.prepend_scheme != "never" and not n.normalized.startswith(repl):
            if self.prepend_scheme == "always" or n.original_shift == 0:
                n.prepend(repl)
        if self.split:
            return split_normalized(n, repl, "merged_with_next")
        return [n]

    def to_dict(self) -> dict:
        return {
            "type": "Metaspace",
            "replacement": self.replacement,
            "prepend_scheme": self.prepend_scheme,
            "split": self.split,
        }


class UnicodeScripts(PreTokenizer):
    """Split where the Unicode script changes (kana count as Han; spaces never split)."""

    def _split(self, index: int, n: NormalizedString) -> list[NormalizedString]:
        text = n.normalized
        bounds: list[int] = []
        last = None
        for i, ch in enumerate(text):
            script = fixed_script(ch)
            if script != "Any" and last != "Any" and last != script:
                bounds.append(i)
            if script != "Any":
                last = script
        bounds.append(len(text))
        # As in the reference, text before the first boundary (leading spaces) is dropped.
        return [n.slice(a, b) for a, b in zip(bounds, bounds[1:])]


# ---- generic ------------------------------------------------------------------------------
class Split(PreTokenizer):
    """Split on `pattern` (literal str or `Regex`) with a delimiter `behavior`;
    `invert=True` keeps the matches and treats the rest as delimiters."""

    def __init__(self, pattern, behavior: str, invert: bool = False):
        if not isinstance(pattern, (str, Regex)):
            raise TypeError(f"Split: pattern must be a str or a Regex, got {type(pattern).__name__}")
        self.pattern = pattern
        self.behavior = normalize_behavior(behavior)
        self.invert = bool(invert)

    def _split(self, index: int, n: NormalizedString) -> list[NormalizedString]:
        return split_normalized(n, self.pattern, self.behavior, self.invert)

    def to_dict(self) -> dict:
        return {
            "type": "Split",
            "pattern": pattern_to_dict(self.pattern),
            "behavior": behavior_to_json(self.behavior),
            "invert": self.invert,
        }


class FixedLength(PreTokenizer):
    """Cut the text into chunks of `length` chars."""

    def __init__(self, length: int = 5):
        if not isinstance(length, int) or length <= 0:
            raise ValueError(f"FixedLength: length must be a positive int, got {length!r}")
        self.length = length

    def _split(self, index: int, n: NormalizedString) -> list[NormalizedString]:
        size = len(n.normalized)
        return [n.slice(s, min(s + self.length, size)) for s in range(0, size, self.length)]

    def to_dict(self) -> dict:
        return {"type": "FixedLength", "length": self.length}


class Sequence(PreTokenizer):
    """Apply pre-tokenizers one after the other."""

    def __init__(self, pretokenizers):
        self.pretokenizers = list(pretokenizers)
        for i, p in enumerate(self.pretokenizers):
            if not isinstance(p, PreTokenizer):
                raise TypeError(f"Sequence: item {i} is {type(p).__name__}, expected a PreTokenizer")

    def pre_tokenize(self, pretok: PreTokenizedString) -> None:
        for p in self.pretokenizers:
            p.pre_tokenize(pretok)

    def __len__(self) -> int:
        return len(self.pretokenizers)

    def __getitem__(self, index: int) -> PreTokenizer:
        return self.pretokenizers[index]

    def __setitem__(self, index: int, value: PreTokenizer) -> None:
        self.pretokenizers[index] = value

    def to_dict(self) -> dict:
        return {"type": "Sequence", "pretokenizers": [p.to_dict() for p in self.pretokenizers]}


# ---- tokenizer.json -----------------------------------------------------------------------
def _get(d: dict, key: str, types, default, where: str):
    value = d.get(key, default)
    if not isinstance(value, types):
        raise TokenizerFileError(f"{key} is {value!r}; expected {getattr(types, '__name__', types)}", where=where)
    return value


def _behavior(d: dict, where: str, default=None) -> str:
    value = d.get("behavior", default)
    try:
        return normalize_behavior(value)
    except Exception as e:
        raise TokenizerFileError(f"behavior is {value!r}; {e}", where=where) from e


def from_dict(d: dict | None, where: str = "pre_tokenizer") -> PreTokenizer | None:
    """Build a pre-tokenizer from its tokenizer.json object (None -> None).

    >>> from_dict({"type": "Metaspace", "replacement": "▁", "add_prefix_space": True})
    Metaspace(replacement='▁', prepend_scheme='always', split=True)
    """
    if d is None:
        return None
    if not isinstance(d, dict) or not isinstance(d.get("type"), str):
        raise TokenizerFileError(f"expected an object with a string 'type', found {d!r}", where=where)
    kind = d["type"]
    try:
        if kind in _SIMPLE:
            return _SIMPLE[kind]()
        if kind == "ByteLevel":
            return ByteLevel(
                _get(d, "add_prefix_space", bool, True, where),
                _get(d, "trim_offsets", bool, True, where),
                _get(d, "use_regex", bool, True, where),
            )
        if kind == "Metaspace":
            if "prepend_scheme" in d:
                scheme = _get(d, "prepend_scheme", str, "always", where)
            else:  # files written before prepend_scheme existed
                scheme = "always" if _get(d, "add_prefix_space", bool, True, where) else "never"
            return Metaspace(_get(d, "replacement", str, "\u2581", where), scheme, _get(d, "split", bool, True, where))
        if kind == "Split":
            return Split(
                pattern_from_dict(d.get("pattern"), f"{where}.pattern"),
                _behavior(d, where),
                _get(d, "invert", bool, False, where),
            )
        if kind == "Punctuation":
            return Punctuation(_behavior(d, where, "Isolated"))
        if kind == "Digits":
            return Digits(_get(d, "individual_digits", bool, False, where))
        if kind == "CharDelimiterSplit":
            return CharDelimiterSplit(_get(d, "delimiter", str, None, where))
        if kind == "FixedLength":
            return FixedLength(_get(d, "length", int, 5, where))
        if kind == "Sequence":
            items = _get(d, "pretokenizers", list, None, where)
            return Sequence([from_dict(item, f"{where}.pretokenizers[{i}]") for i, item in enumerate(items)])
    except (ValueError, TypeError) as e:
        if isinstance(e, TokenizerFileError):
            raise
        raise TokenizerFileError(str(e), where=where) from e
    valid = sorted(
        list(_SIMPLE) + ["ByteLevel", "Metaspace", "Split", "Punctuation", "Digits", "CharDelimiterSplit", "FixedLength", "Sequence"]
    )
    raise TokenizerFileError(f"unknown pre_tokenizer type {kind!r}; expected one of {', '.join(valid)}", where=where)


_SIMPLE = {
    "Whitespace": Whitespace,
    "WhitespaceSplit": WhitespaceSplit,
    "BertPreTokenizer": BertPreTokenizer,
    "UnicodeScripts": UnicodeScripts,
}
