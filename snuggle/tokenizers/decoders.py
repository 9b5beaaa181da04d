"""Decoders: turn a list of token strings back into text, as `tokenizers.decoders`.

Every decoder works on the whole list at once through `decode_chain(tokens) -> tokens`;
`decode` joins the chain's output. Chaining (`Sequence`) feeds one decoder's output list
to the next, so e.g. ByteFallback can rebuild bytes before Metaspace swaps `▁` for spaces.

>>> ByteLevel().decode(["Hello", "Ġworld"])
'Hello world'
>>> Sequence([Replace("▁", " "), ByteFallback(), Fuse(), Strip(" ", 1, 0)]).decode(["▁H", "<0x69>", "▁there"])
'Hi there'
>>> WordPiece().decode(["un", "##aff", "##able", "!"])
'unaffable!'

Each class serializes to the tokenizer.json layout of the reference (`to_dict`), and the
module-level `from_dict` reads it back.
"""

from __future__ import annotations

import re
from itertools import groupby
from typing import Any, Iterable

import regex

from snuggle.tokenizers.component import Component
from snuggle.errors import TokenizerError, TokenizerFileError
from snuggle.tokenizers.normalized import Regex

WHERE = "decoder"


_CHAR_TO_BYTE: dict[str, int] | None = None


def _char_to_byte() -> dict[str, int]:
    """GPT-2 byte-level char -> byte (the inverse of pre_tokenizers.bytes_to_unicode)."""
    global _CHAR_TO_BYTE
    if _CHAR_TO_BYTE is None:
        # imported on first use: the pre-tokenizer module is heavier than this one
        from snuggle.tokenizers.pre_tokenizers import bytes_to_unicode

        _CHAR_TO_BYTE = {ch: b for b, ch in bytes_to_unicode().items()}
    return _CHAR_TO_BYTE


def wordpiece_cleanup(text: str) -> str:
    """Undo the spaces that word-by-word joining puts before punctuation and contractions.

    >>> wordpiece_cleanup("it ' s here , do not go !")
    "it's here, don't go!"
    """
    for dirty, clean in (
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" do not", " don't"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ):
        text = text.replace(dirty, clean)
    return text


def _check_type(value: Any, kind: type | tuple, name: str, cls: str) -> None:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TokenizerError(f"{cls}: `{name}` must be {getattr(kind, '__name__', kind)}, got {value!r}")


def _single_char(value: Any, name: str, cls: str) -> str:
    if not isinstance(value, str) or len(value) != 1:
        raise TokenizerError(f"{cls}: `{name}` must be exactly one character, got {value!r}")
    return value


class Decoder(Component):
    _family_module = "snuggle.tokenizers.decoders"
    """Base class: subclasses implement `decode_chain` and `to_dict`."""

    def decode_chain(self, tokens: list[str]) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, tokens: Iterable[str]) -> str:
        """Decode `tokens` into one string.

        >>> Fuse().decode(["a", "b"])
        'ab'
        """
        return "".join(self.decode_chain(list(tokens)))



class ByteLevel(Decoder):
    """Map GPT-2 byte-level chars back to bytes, then decode UTF-8 (invalid bytes -> U+FFFD).

    A token containing any char outside the byte table (e.g. an added token) keeps its
    own UTF-8 bytes. The whole list becomes one string, since a multi-byte char can be
    split over tokens.

    >>> ByteLevel().decode(["Ġcaf", "Ã©"])
    ' café'
    """

    def __init__(self, add_prefix_space: bool = True, trim_offsets: bool = True, use_regex: bool = True, **kwargs):
        # The fields only matter to the pre-tokenizer/processor of the same name; they are
        # kept so that a tokenizer.json decoder entry round-trips unchanged.
        self.add_prefix_space = bool(add_prefix_space)
        self.trim_offsets = bool(trim_offsets)
        self.use_regex = bool(use_regex)

    def decode_chain(self, tokens: list[str]) -> list[str]:
        table = _char_to_byte()
        out = bytearray()
        for token in tokens:
            try:
                out.extend(table[c] for c in token)
            except KeyError:
                out.extend(token.encode("utf-8"))
        return [out.decode("utf-8", errors="replace")]

    def to_dict(self) -> dict:
        return {
            "type": "ByteLevel",
            "add_prefix_space": self.add_prefix_space,
            "trim_offsets": self.trim_offsets,
            "use_regex": self.use_regex,
        }


class WordPiece(Decoder):
    """Join WordPiece tokens: `prefix`-marked pieces glue to the previous one, others get a space.

    >>> WordPiece().decode(["Hello", ",", "wor", "##ld", "!"])
    'Hello, world!'
    """

    def __init__(self, prefix: str = "##", cleanup: bool = True):
        _check_type(prefix, str, "prefix", "WordPiece")
        self.prefix = prefix
        self.cleanup = bool(cleanup)

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out = []
        for i, token in enumerate(tokens):
            if i != 0:
                if token.startswith(self.prefix):
                    token = token.replace(self.prefix, "", 1)
                else:
                    token = " " + token
            if self.cleanup:
                token = wordpiece_cleanup(token)
            out.append(token)
        return out

    def to_dict(self) -> dict:
        return {"type": "WordPiece", "prefix": self.prefix, "cleanup": self.cleanup}


PREPEND_SCHEMES = ("always", "never", "first")


class Metaspace(Decoder):
    """Turn the `replacement` char (default `▁`) back into spaces.

    With prepend_scheme 'always' or 'first' the pre-tokenizer added a leading `▁`, so every
    replacement char of the first token is dropped instead of becoming a space (this is the
    reference behaviour, which also drops later ones inside that first token).

    >>> Metaspace().decode(["▁Hello", "▁my", "▁friend"])
    'Hello my friend'
    """

    def __init__(self, replacement: str = "▁", prepend_scheme: str = "always", split: bool = True):
        self.replacement = _single_char(replacement, "replacement", "Metaspace")
        if prepend_scheme not in PREPEND_SCHEMES:
            raise TokenizerError(
                f"Metaspace: prepend_scheme must be one of {', '.join(PREPEND_SCHEMES)}, got {prepend_scheme!r}"
            )
        self.prepend_scheme = prepend_scheme
        self.split = bool(split)

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out = []
        for i, token in enumerate(tokens):
            if i == 0 and self.prepend_scheme != "never":
                out.append(token.replace(self.replacement, ""))
            else:
                out.append(token.replace(self.replacement, " "))
        return out

    def to_dict(self) -> dict:
        return {
            "type": "Metaspace",
            "replacement": self.replacement,
            "prepend_scheme": self.prepend_scheme,
            "split": self.split,
        }


class BPEDecoder(Decoder):
    """Replace the end-of-word `suffix` by a space (by nothing on the last token).

    >>> BPEDecoder().decode(["Hello</w>", "world</w>"])
    'Hello world'
    """

    def __init__(self, suffix: str = "</w>"):
        _check_type(suffix, str, "suffix", "BPEDecoder")
        self.suffix = suffix

    def decode_chain(self, tokens: list[str]) -> list[str]:
        last = len(tokens) - 1
        return [t.replace(self.suffix, "" if i == last else " ") for i, t in enumerate(tokens)]

    def to_dict(self) -> dict:
        return {"type": "BPEDecoder", "suffix": self.suffix}


# The reference parses the two chars after "<0x" with Rust's u8::from_str_radix, which
# accepts an optional leading '+' (so "<0x+F>" is byte 0x0F) but no whitespace or '-'.
_BYTE_TOKEN_HEX = re.compile(r"\+?[0-9A-Fa-f]{1,2}")


def _byte_of_token(token: str) -> int | None:
    raw = token.encode("utf-8")
    if len(raw) != 6 or not raw.startswith(b"<0x") or not raw.endswith(b">"):
        return None
    middle = raw[3:5]
    if not middle.isascii():
        return None
    text = middle.decode("ascii")
    if not _BYTE_TOKEN_HEX.fullmatch(text):
        return None
    return int(text, 16)


class ByteFallback(Decoder):
    """Rebuild runs of `<0xXX>` byte tokens into text.

    A run that is valid UTF-8 becomes one token; otherwise each byte of the run becomes
    one U+FFFD, like the reference.

    >>> ByteFallback().decode_chain(["<0xE5>", "<0x8F>", "<0xAB>", "a", "<0xE5>"])
    ['叫', 'a', '�']
    """

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out: list[str] = []
        run = bytearray()

        def flush() -> None:
            if run:
                try:
                    out.append(run.decode("utf-8"))
                except UnicodeDecodeError:
                    out.extend("\ufffd" for _ in run)
                run.clear()

        for token in tokens:
            byte = _byte_of_token(token)
            if byte is not None:
                run.append(byte)
            else:
                flush()
                out.append(token)
        flush()
        return out

    def to_dict(self) -> dict:
        return {"type": "ByteFallback"}


class Fuse(Decoder):
    """Concatenate every token into one.

    >>> Fuse().decode_chain(["Hel", "lo"])
    ['Hello']
    """

    def decode_chain(self, tokens: list[str]) -> list[str]:
        return ["".join(tokens)]

    def to_dict(self) -> dict:
        return {"type": "Fuse"}


class Strip(Decoder):
    """Remove up to `left` leading and `right` trailing `content` chars from each token.

    >>> Strip(content="▁", left=1).decode(["▁Hello", "▁world"])
    'Helloworld'
    """

    def __init__(self, content: str = " ", left: int = 0, right: int = 0):
        self.content = _single_char(content, "content", "Strip")
        _check_type(left, int, "left", "Strip")
        _check_type(right, int, "right", "Strip")
        if left < 0 or right < 0:
            raise TokenizerError(f"Strip: `left` and `right` must be >= 0, got {left} and {right}")
        self.start = left
        self.stop = right

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out = []
        for token in tokens:
            begin = 0
            while begin < min(self.start, len(token)) and token[begin] == self.content:
                begin += 1
            end = len(token)
            # never cut into what the left strip kept (the reference panics there)
            while len(token) - end < self.stop and end > begin and token[end - 1] == self.content:
                end -= 1
            out.append(token[begin:end])
        return out

    def to_dict(self) -> dict:
        return {"type": "Strip", "content": self.content, "start": self.start, "stop": self.stop}


def _pattern_to_json(pattern: str | Regex) -> dict:
    if isinstance(pattern, Regex):
        return {"Regex": pattern.pattern}
    return {"String": pattern}


def _replace_spans(compiled: "regex.Pattern", text: str) -> list[tuple[int, int]]:
    """Non-overlapping match spans with the reference's (Oniguruma) rules for empty matches.

    An empty match right where the previous match ended is rejected and the search moves
    on one char; after an empty match the search also moves on one char. Python's own
    `finditer` differs on both counts.
    """
    spans: list[tuple[int, int]] = []
    pos, last_end = 0, -1
    while pos <= len(text):
        m = compiled.search(text, pos)
        if m is None:
            break
        s, e = m.span()
        if s == e and s == last_end:
            pos = s + 1
            continue
        spans.append((s, e))
        last_end = e
        pos = e + 1 if s == e else e
    return spans


class Replace(Decoder):
    """Replace every match of `pattern` (a literal str or a `Regex`) by `content` in each token.

    >>> Replace("▁", " ").decode(["▁Hello", "▁world"])
    ' Hello world'
    """

    def __init__(self, pattern: str | Regex, content: str):
        if not isinstance(pattern, (str, Regex)):
            raise TokenizerError(f"Replace: `pattern` must be a str or a Regex, got {type(pattern).__name__}")
        _check_type(content, str, "content", "Replace")
        self.pattern = pattern
        self.content = content
        source = pattern.pattern if isinstance(pattern, Regex) else regex.escape(pattern)
        try:
            # Oniguruma (the reference's engine, Ruby syntax) treats ^ and $ as line anchors
            self._compiled = regex.compile(source, regex.MULTILINE)
        except regex.error as e:
            raise TokenizerError(f"Replace: invalid regex {source!r}: {e}") from e

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out = []
        for token in tokens:
            if not token:
                out.append(token)
                continue
            parts, prev = [], 0
            for s, e in _replace_spans(self._compiled, token):
                parts.append(token[prev:s])
                parts.append(self.content)
                prev = e
            parts.append(token[prev:])
            out.append("".join(parts))
        return out

    def to_dict(self) -> dict:
        return {"type": "Replace", "pattern": _pattern_to_json(self.pattern), "content": self.content}


class CTC(Decoder):
    """Collapse a CTC (speech) output: drop repeats and pads, word delimiter -> space.

    The delimiter is only turned into a space when `cleanup` is on (as in the reference).

    >>> CTC().decode(["h", "e", "e", "<pad>", "l", "l", "<pad>", "l", "o", "|", "w", "o"])
    'hello wo'
    """

    def __init__(self, pad_token: str = "<pad>", word_delimiter_token: str = "|", cleanup: bool = True):
        _check_type(pad_token, str, "pad_token", "CTC")
        _check_type(word_delimiter_token, str, "word_delimiter_token", "CTC")
        self.pad_token = pad_token
        self.word_delimiter_token = word_delimiter_token
        self.cleanup = bool(cleanup)

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out = []
        for token, _ in groupby(tokens):
            token = token.replace(self.pad_token, "")
            if self.cleanup:
                token = wordpiece_cleanup(token).replace(self.word_delimiter_token, " ")
            if token:
                out.append(token)
        return out

    def to_dict(self) -> dict:
        return {
            "type": "CTC",
            "pad_token": self.pad_token,
            "word_delimiter_token": self.word_delimiter_token,
            "cleanup": self.cleanup,
        }


class Sequence(Decoder):
    """Apply decoders one after the other, each on the previous one's output list.

    >>> Sequence([Replace("▁", " "), ByteFallback(), Fuse(), Strip(" ", 1, 0)]).decode(["▁a", "<0x21>"])
    'a!'
    """

    def __init__(self, decoders: list[Decoder]):
        decoders = list(decoders)
        for i, d in enumerate(decoders):
            if not isinstance(d, Decoder):
                raise TokenizerError(f"Sequence: decoders[{i}] must be a Decoder, got {type(d).__name__}")
        self.decoders = decoders

    def __getitem__(self, index: int) -> Decoder:
        return self.decoders[index]

    def __setitem__(self, index: int, value: Decoder) -> None:
        if not isinstance(value, Decoder):
            raise TokenizerError(f"Sequence: can only hold Decoders, got {type(value).__name__}")
        self.decoders[index] = value

    def __len__(self) -> int:
        return len(self.decoders)

    def decode_chain(self, tokens: list[str]) -> list[str]:
        for d in self.decoders:
            tokens = d.decode_chain(tokens)
        return tokens

    def to_dict(self) -> dict:
        return {"type": "Sequence", "decoders": [d.to_dict() for d in self.decoders]}

    def __repr__(self) -> str:
        return f"Sequence(decoders=[{', '.join(repr(d) for d in self.decoders)}])"


# ---- tokenizer.json ---------------------------------------------------------------------

def _field(d: dict, key: str, kind: type, where: str, default: Any = ...) -> Any:
    if key not in d:
        if default is ...:
            raise TokenizerFileError(f"missing field {key!r} in {d.get('type')} decoder", where=where)
        return default
    value = d[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TokenizerFileError(
            f"field {key!r} of {d.get('type')} decoder must be {kind.__name__}, found {value!r}", where=where
        )
    return value


def _replace_from_dict(d: dict, where: str) -> Replace:
    pattern = _field(d, "pattern", dict, where)
    if set(pattern) == {"String"} and isinstance(pattern["String"], str):
        pat: str | Regex = pattern["String"]
    elif set(pattern) == {"Regex"} and isinstance(pattern["Regex"], str):
        pat = Regex(pattern["Regex"])
    else:
        raise TokenizerFileError(
            f"Replace decoder pattern must be {{\"String\": ...}} or {{\"Regex\": ...}}, found {pattern!r}", where=where
        )
    return Replace(pat, _field(d, "content", str, where))


def _metaspace_from_dict(d: dict, where: str) -> Metaspace:
    replacement = _field(d, "replacement", str, where)
    if "prepend_scheme" in d:
        scheme = _field(d, "prepend_scheme", str, where)
    else:  # files written before prepend_scheme existed carry add_prefix_space
        scheme = "always" if _field(d, "add_prefix_space", bool, where, True) else "never"
    return Metaspace(replacement, scheme, _field(d, "split", bool, where, True))


_READERS = {
    "ByteLevel": lambda d, w: ByteLevel(
        _field(d, "add_prefix_space", bool, w, True),
        _field(d, "trim_offsets", bool, w, True),
        _field(d, "use_regex", bool, w, True),
    ),
    "WordPiece": lambda d, w: WordPiece(_field(d, "prefix", str, w, "##"), _field(d, "cleanup", bool, w, True)),
    "Metaspace": _metaspace_from_dict,
    "BPEDecoder": lambda d, w: BPEDecoder(_field(d, "suffix", str, w, "</w>")),
    "ByteFallback": lambda d, w: ByteFallback(),
    "Fuse": lambda d, w: Fuse(),
    "Strip": lambda d, w: Strip(
        _field(d, "content", str, w, " "), _field(d, "start", int, w, 0), _field(d, "stop", int, w, 0)
    ),
    "Replace": _replace_from_dict,
    "CTC": lambda d, w: CTC(
        _field(d, "pad_token", str, w, "<pad>"),
        _field(d, "word_delimiter_token", str, w, "|"),
        _field(d, "cleanup", bool, w, True),
    ),
    "Sequence": lambda d, w: Sequence(
        [_from_dict(x, f"{w}.decoders[{i}]") for i, x in enumerate(_field(d, "decoders", list, w))]
    ),
}


def _from_dict(d: Any, where: str) -> Decoder:
    if not isinstance(d, dict):
        raise TokenizerFileError(f"expected a JSON object, found {d!r}", where=where)
    kind = d.get("type")
    reader = _READERS.get(kind)
    if reader is None:
        raise TokenizerFileError(
            f"unknown decoder type {kind!r}; expected one of {', '.join(_READERS)}", where=where
        )
    try:
        return reader(d, where)
    except TokenizerFileError:
        raise
    except TokenizerError as e:
        raise TokenizerFileError(str(e), where=where) from e


def from_dict(d: dict | None) -> Decoder | None:
    """Build a decoder from its tokenizer.json object (None -> None).

    >>> from_dict({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    Strip(content=' ', start=1, stop=0)
    """
    if d is None:
        return None
    return _from_dict(d, WHERE)


__all__ = [
    "Decoder",
    "ByteLevel",
    "WordPiece",
    "Metaspace",
    "BPEDecoder",
    "ByteFallback",
    "Fuse",
    "Strip",
    "Replace",
    "CTC",
    "Sequence",
    "from_dict",
    "wordpiece_cleanup",
]
