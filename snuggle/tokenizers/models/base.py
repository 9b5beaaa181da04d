"""What every tokenization model shares: the `Model` base class and small file/JSON helpers.

A model turns one pre-tokenized word (a `str`) into `Token(id, value, (start, end))`
tuples whose offsets are *character* offsets into that word. Subclasses (BPE,
WordPiece, WordLevel, Unigram) implement `tokenize`, `to_dict` and `from_dict`; this
base gives them equality, repr, pickling and the `save(folder, prefix)` naming rules of
the reference `tokenizers.models.Model`.

>>> from snuggle.tokenizers.models import WordLevel
>>> m = WordLevel({"hi": 0, "<unk>": 1}, unk_token="<unk>")
>>> m.tokenize("hi"), m == WordLevel.from_dict(m.to_dict())
([Token(id=0, value='hi', offsets=(0, 2))], True)
"""

from __future__ import annotations

import json
import os
import re
import struct
import warnings
from typing import Any

from snuggle.errors import TokenizerError, TokenizerFileError
from snuggle.tokenizers.normalized import Token

# The reference caches at most this many words per model (utils/cache.rs DEFAULT_CACHE_CAPACITY)
# and never caches words of MAX_LENGTH bytes or more.
DEFAULT_CACHE_CAPACITY = 10_000
CACHE_MAX_WORD_LENGTH = 256


class Model:
    """Base class of the tokenization models (mirrors `tokenizers.models.Model`)."""

    model_type = "Model"

    # --- the interface every model implements -------------------------------------------
    def tokenize(self, sequence: str) -> list[Token]:
        raise NotImplementedError

    def token_to_id(self, token: str) -> int | None:
        return self.vocab.get(token)

    def id_to_token(self, id: int) -> str | None:
        return self.vocab_r.get(id)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def get_vocab_size(self) -> int:
        return len(self.vocab)

    def to_dict(self) -> dict:
        raise NotImplementedError

    def get_trainer(self):
        """A trainer of the matching kind with default settings (BpeTrainer for BPE, ...)."""
        from snuggle.tokenizers import trainers

        return getattr(trainers, self.trainer_name)()

    trainer_name = "BpeTrainer"

    def save(self, folder: str, prefix: str | None = None, name: str | None = None) -> list[str]:
        """Write the model's own files (vocab.json + merges.txt, vocab.txt, ...) into `folder`.

        `prefix` names the files `{prefix}-vocab.json` etc.; `name` is the old spelling of it.
        Returns the written paths.
        """
        if name is not None:
            warnings.warn("Parameter `name` of Model.save has been renamed `prefix`", DeprecationWarning, stacklevel=2)
            prefix = prefix if prefix is not None else name
        if not os.path.isdir(folder):
            raise TokenizerError(f"Model.save: folder {folder!r} does not exist; create it first")
        return [str(p) for p in self._save_files(os.fspath(folder), prefix)]

    def _save_files(self, folder: str, prefix: str | None) -> list[str]:
        raise NotImplementedError

    # --- shared plumbing -----------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Model):
            return NotImplemented
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    __hash__ = None  # mutable, compared by content

    def __getstate__(self) -> dict:
        return {"model": self.to_dict(), "extra": self._extra_state()}

    def __setstate__(self, state: dict) -> None:
        fresh = type(self).from_dict(state["model"])
        self.__dict__.update(fresh.__dict__)
        for key, value in state.get("extra", {}).items():
            setattr(self, key, value)

    def _extra_state(self) -> dict:
        """Settings that are not part of tokenizer.json but survive pickling."""
        return {}

    def __repr__(self) -> str:
        d = self.to_dict()
        parts = []
        for key, value in d.items():
            if key == "type":
                continue
            if key == "vocab" and len(value) > 8:
                value = f"<{len(value)} entries>"
            elif key == "merges" and len(value) > 8:
                value = f"<{len(value)} merges>"
            parts.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def vocab_ordered_by_id(vocab_r: dict[int, str]) -> dict[str, int]:
    """The vocab as the reference serializes it: tokens in increasing id order.

    Ids that map to no token are skipped (the reference warns about such holes).
    """
    return {vocab_r[i]: i for i in sorted(vocab_r)}


def reverse_vocab(vocab: dict[str, int]) -> dict[int, str]:
    """id -> token; when two tokens share an id the later one wins."""
    return dict(zip(vocab.values(), vocab.keys()))


def check_vocab_dict(vocab: Any, where: str, path: str | None = None) -> dict[str, int]:
    """Validate a {token: id} mapping from a file or a caller; return it as a plain dict."""
    if not isinstance(vocab, dict):
        raise TokenizerFileError(f"expected a JSON object {{token: id}}, found {type(vocab).__name__}", path=path, where=where)
    ids = vocab.values()
    # the common case checked by C loops (set/map/min/max); the item loop below names the first bad entry
    if not vocab or (set(map(type, vocab)) == {str} and set(map(type, ids)) == {int} and min(ids) >= 0
                     and max(ids) <= 0xFFFFFFFF):
        return dict(vocab)
    for token, idx in vocab.items():
        if not isinstance(token, str):
            raise TokenizerFileError(f"token {token!r} is not a string", path=path, where=where)
        if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0 or idx > 0xFFFFFFFF:
            raise TokenizerFileError(
                f"id of token {token!r} must be an integer in [0, 2**32), found {idx!r}", path=path, where=where
            )
    return dict(vocab)


def read_vocab_json(path: str) -> dict[str, int]:
    """Read a vocab.json ({token: id}) with errors naming the file."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise TokenizerFileError("vocabulary file not found", path=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TokenizerFileError(f"not valid UTF-8 JSON: {e}", path=path) from None
    return check_vocab_dict(data, "vocab", path=path)


def dumps_compact(obj: Any) -> str:
    """JSON the way serde_json writes it: no spaces, non-ASCII kept."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def prefixed_name(folder: str, prefix: str | None, name: str) -> str:
    return os.path.join(folder, f"{prefix}-{name}" if prefix else name)


def as_f32(value: float | None) -> float | None:
    """Round a Python float to the nearest f32 and back to its shortest decimal form.

    The reference stores BPE dropout as an f32 and serializes it with the shortest
    digits that round-trip in f32 (0.1 stays 0.1, 0.123456789 becomes 0.12345679).
    """
    if value is None:
        return None
    f32 = struct.unpack("<f", struct.pack("<f", float(value)))[0]
    for digits in range(1, 10):
        text = f"{f32:.{digits}g}"
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == f32:
            return float(text)
    return f32


def optional_str(d: dict, key: str, where: str) -> str | None:
    value = d.get(key)
    if value is not None and not isinstance(value, str):
        raise TokenizerFileError(f"'{key}' must be a string or null, found {value!r}", where=where)
    return value


def optional_bool(d: dict, key: str, where: str, default: bool = False) -> bool:
    if key not in d:
        return default
    value = d[key]
    if not isinstance(value, bool):
        raise TokenizerFileError(f"'{key}' must be true or false, found {value!r}", where=where)
    return value


_U64_MAX = 2**64 - 1
_SIMPLE_NUMBER = re.compile(r"(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d{1,4}))?")
_POW10 = [float(f"1e{k}") for k in range(309)]


def serde_parse_float(text: str) -> float:
    """Parse a JSON number exactly as serde_json (without `float_roundtrip`) does.

    The reference reads tokenizer.json with serde_json's fast float parser, which is not
    correctly rounded: "-7.3896660804748535" becomes -7.389666080474853 there (Python:
    -7.3896660804748535). Unigram scores decide segmentations, so load tokenizer.json
    with `json.loads(text, parse_float=serde_parse_float)` to get the reference's numbers.

    >>> serde_parse_float("-7.3896660804748535")
    -7.389666080474853
    """
    simple = _SIMPLE_NUMBER.fullmatch(text)
    if simple is not None:
        sign, whole, fraction, exp = simple.groups()
        digits = whole + (fraction or "")
        if len(digits.lstrip("0")) <= 19:  # fits the u64 significand: no digit is dropped
            exponent = (int(exp) if exp else 0) - len(fraction or "")
            if -308 <= exponent <= 308:
                value = float(int(digits))
                value = value * _POW10[exponent] if exponent >= 0 else value / _POW10[-exponent]
                if value != float("inf"):
                    return -value if sign else value
    pos = 0
    positive = True
    if text.startswith("-"):
        positive, pos = False, 1
    n = len(text)
    significand = 0
    exponent = 0
    overflowed = False  # once the u64 significand is full, further digits are ignored
    # integer part: digits past u64 range only scale the exponent
    while pos < n and text[pos].isdigit():
        digit = ord(text[pos]) - 48
        if overflowed or significand > _U64_MAX // 10 or (significand == _U64_MAX // 10 and digit > _U64_MAX % 10):
            overflowed = True
            exponent += 1
        else:
            significand = significand * 10 + digit
        pos += 1
    if pos < n and text[pos] == ".":
        pos += 1
        while pos < n and text[pos].isdigit():
            digit = ord(text[pos]) - 48
            if not overflowed and (significand > _U64_MAX // 10 or (significand == _U64_MAX // 10 and digit > _U64_MAX % 10)):
                overflowed = True
            if not overflowed:
                significand = significand * 10 + digit
                exponent -= 1
            pos += 1
    if pos < n and text[pos] in "eE":
        pos += 1
        exp_positive = True
        if pos < n and text[pos] in "+-":
            exp_positive = text[pos] == "+"
            pos += 1
        exp_value = int(text[pos:]) if text[pos:].isdigit() else None
        if exp_value is None:
            return float(text)
        if exp_value > 2**31 - 1:  # serde: exponent overflow -> 0.0 or out of range
            if significand == 0 or not exp_positive:
                return 0.0 if positive else -0.0
            raise ValueError(f"number out of range: {text}")
        exponent = exponent + exp_value if exp_positive else exponent - exp_value
    elif pos != n:
        return float(text)
    value = float(significand)
    while True:
        k = abs(exponent)
        if k < len(_POW10):
            if exponent >= 0:
                value *= _POW10[k]
                if value == float("inf"):
                    raise ValueError(f"number out of range: {text}")
            else:
                value /= _POW10[k]
            break
        if value == 0.0:
            break
        if exponent >= 0:
            raise ValueError(f"number out of range: {text}")
        value /= 1e308
        exponent += 308
    return value if positive else -value


def serde_format_float(x: float) -> str:
    """Format a float as the reference's serde_json writes it.

    Same shortest digits as Python's repr, but plain decimals down to 1e-5 and
    unpadded exponents: 0.00001, 1e-7, 1e+16 (Python: 1e-05, 1e-07, 1e+16).

    >>> serde_format_float(1e-05), serde_format_float(1.25e-07), serde_format_float(-1.5e17)
    ('0.00001', '1.25e-7', '-1.5e+17')
    """
    text = repr(float(x))
    if "e" not in text:
        return text
    mantissa, exp = text.split("e")
    exponent = int(exp)
    if exponent == -5:
        sign = "-" if mantissa.startswith("-") else ""
        digits = mantissa.lstrip("-").replace(".", "")
        return f"{sign}0.0000{digits}"
    return f"{mantissa}e{exponent}" if exponent < 0 else f"{mantissa}e+{exponent}"
