"""BatchEncoding: what a pretrained tokenizer's `__call__` returns (as transformers.BatchEncoding).

A dict of model inputs (`input_ids`, `attention_mask`, `token_type_ids`, ...) with
attribute access, plus the per-example `Encoding` objects, which map tokens back to
words and characters. Values are Python lists until `convert_to_tensors("pt" | "np")`
turns them into tensors; torch and numpy are imported only then.

>>> be = BatchEncoding({"input_ids": [[1, 2], [3, 4]]})
>>> be.input_ids
[[1, 2], [3, 4]]
>>> be.convert_to_tensors("np")["input_ids"].shape
(2, 2)
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

from snuggle.errors import TokenizerError


class CharSpan(NamedTuple):
    """Characters [start, end) of the original string."""

    start: int
    end: int


class TokenSpan(NamedTuple):
    """Tokens [start, end) of an encoded sequence."""

    start: int
    end: int


def _is_empty(value: Any) -> bool:
    """True if a (nested) list holds no leaves at all, e.g. [] or [[], []]."""
    if len(value) == 0:
        return True
    if not isinstance(value[0], (list, tuple)):
        return False
    return all(_is_empty(v) for v in value)


def _tensor_converter(tensor_type: str):
    """Return (as_tensor, is_tensor) for 'pt' or 'np' (imports torch / numpy here, not at import)."""
    kind = getattr(tensor_type, "value", tensor_type)
    if kind == "pt":
        import numpy as np
        import torch

        def as_tensor(value):
            if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
                return torch.from_numpy(np.array(value))
            if _is_empty(value):
                return torch.tensor(value, dtype=torch.int64)
            return torch.tensor(value)

        return as_tensor, torch.is_tensor
    if kind == "np":
        import numpy as np

        def as_tensor(value):
            if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple, np.ndarray)):
                if len({len(v) for v in value}) > 1:
                    # ragged rows become a 1-D object array of arrays rather than failing, like the reference
                    rows = np.empty(len(value), dtype=object)
                    rows[:] = [np.asarray(v) for v in value]
                    return rows
            if _is_empty(value):
                return np.asarray(value, dtype=np.int64)
            return np.asarray(value)

        return as_tensor, lambda x: isinstance(x, np.ndarray)
    raise TokenizerError(f"return_tensors must be 'pt', 'np' or None, got {tensor_type!r}")


class BatchEncoding(dict):
    """Model inputs (a dict with attribute access) plus the Encodings behind them.

    `be[int]` returns the `Encoding` of that batch item; `be["input_ids"]` the values.

    >>> be = BatchEncoding({"input_ids": [5, 6]}, n_sequences=1)
    >>> be["input_ids"], be.n_sequences
    ([5, 6], 1)
    """

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        encoding: Any = None,
        tensor_type: str | None = None,
        prepend_batch_axis: bool = False,
        n_sequences: int | None = None,
    ):
        super().__init__(data or {})
        if encoding is not None and not isinstance(encoding, (list, tuple)):
            encoding = [encoding]
        self._encodings = list(encoding) if encoding is not None else None
        if n_sequences is None and self._encodings:
            n_sequences = self._encodings[0].n_sequences
        self._n_sequences = n_sequences
        self.convert_to_tensors(tensor_type=tensor_type, prepend_batch_axis=prepend_batch_axis)

    # ---- dict behaviour ----------------------------------------------------------------
    def __getitem__(self, item):
        if isinstance(item, str):
            return dict.__getitem__(self, item)
        if self._encodings is not None:
            return self._encodings[item]
        if isinstance(item, slice):
            return {k: v[item] for k, v in self.items()}
        raise KeyError(
            f"BatchEncoding key {item!r}: use a str (field), an int (Encoding of a batch item) or a slice"
        )

    def __getattr__(self, item: str):
        if item.startswith("__") or item in ("_encodings", "_n_sequences"):
            raise AttributeError(item)
        try:
            return dict.__getitem__(self, item)
        except KeyError:
            raise AttributeError(f"BatchEncoding has no field {item!r}; fields: {list(self.keys())}") from None

    @property
    def data(self) -> dict:
        """The plain dict of fields (transformers' BatchEncoding is a UserDict with `.data`)."""
        return dict(self)

    def __getstate__(self):
        return {"data": dict(self), "encodings": self._encodings, "n_sequences": self._n_sequences}

    def __setstate__(self, state):
        self.update(state["data"])
        self._encodings = state.get("encodings")
        self._n_sequences = state.get("n_sequences")

    def __reduce__(self):
        return (BatchEncoding, (), self.__getstate__())

    def __repr__(self) -> str:
        return f"BatchEncoding({dict.__repr__(self)})"

    # ---- encodings -----------------------------------------------------------------------
    @property
    def n_sequences(self) -> int | None:
        """1 for single sequences, 2 for pairs, None when unknown."""
        return self._n_sequences

    @property
    def is_fast(self) -> bool:
        return self._encodings is not None

    @property
    def encodings(self) -> list | None:
        """The `Encoding` of every batch item (overflowing windows count as items)."""
        return self._encodings

    def _encoding(self, batch_index: int, what: str):
        if not self._encodings:
            raise TokenizerError(f"BatchEncoding.{what}() needs the encodings, but this BatchEncoding has none")
        return self._encodings[batch_index]

    def tokens(self, batch_index: int = 0) -> list[str]:
        return self._encoding(batch_index, "tokens").tokens

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """Per token: 0 / 1 for the first / second sequence, None for added special tokens."""
        return self._encoding(batch_index, "sequence_ids").sequence_ids

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """Per token: index of the word it came from, None for special tokens and padding."""
        return self._encoding(batch_index, "word_ids").word_ids

    @staticmethod
    def _split(first: int, second: int | None) -> tuple[int, int]:
        return (first, second) if second is not None else (0, first)

    def token_to_sequence(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        b, t = self._split(batch_or_token_index, token_index)
        enc = self._encoding(b, "token_to_sequence")
        return enc.token_to_sequence(t if t >= 0 else len(enc) + t)

    def token_to_word(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        b, t = self._split(batch_or_token_index, token_index)
        enc = self._encoding(b, "token_to_word")
        return enc.token_to_word(t if t >= 0 else len(enc) + t)

    def word_to_tokens(
        self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0
    ) -> TokenSpan | None:
        b, w = self._split(batch_or_word_index, word_index)
        span = self._encoding(b, "word_to_tokens").word_to_tokens(w, sequence_index)
        return TokenSpan(*span) if span is not None else None

    def token_to_chars(self, batch_or_token_index: int, token_index: int | None = None) -> CharSpan | None:
        b, t = self._split(batch_or_token_index, token_index)
        span = self._encoding(b, "token_to_chars").token_to_chars(t)
        return CharSpan(*span) if span is not None else None

    def char_to_token(
        self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0
    ) -> int | None:
        b, c = self._split(batch_or_char_index, char_index)
        return self._encoding(b, "char_to_token").char_to_token(c, sequence_index)

    def word_to_chars(
        self, batch_or_word_index: int, word_index: int | None = None, sequence_index: int = 0
    ) -> CharSpan | None:
        b, w = self._split(batch_or_word_index, word_index)
        span = self._encoding(b, "word_to_chars").word_to_chars(w, sequence_index)
        return CharSpan(*span) if span is not None else None

    def char_to_word(
        self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0
    ) -> int | None:
        b, c = self._split(batch_or_char_index, char_index)
        return self._encoding(b, "char_to_word").char_to_word(c, sequence_index)

    # ---- tensors -------------------------------------------------------------------------
    def convert_to_tensors(self, tensor_type: str | None = None, prepend_batch_axis: bool = False) -> "BatchEncoding":
        """Turn every field into a torch tensor ('pt') or numpy array ('np'), in place.

        >>> BatchEncoding({"input_ids": [1, 2]}).convert_to_tensors("np", prepend_batch_axis=True)["input_ids"].shape
        (1, 2)
        """
        if tensor_type is None:
            return self
        as_tensor, is_tensor = _tensor_converter(tensor_type)
        for key, value in list(self.items()):
            if prepend_batch_axis:
                value = [value]
            if is_tensor(value):
                continue
            try:
                dict.__setitem__(self, key, as_tensor(value))
            except Exception as e:
                raise TokenizerError(
                    f"cannot make a {tensor_type!r} tensor of field {key!r}: its rows have different lengths or "
                    "types; pass padding=True (and truncation=True) so that every row has the same length"
                ) from e
        return self

    def to(self, device, *, non_blocking: bool = False) -> "BatchEncoding":
        """Move every torch tensor to `device` (a str, int or torch.device); other values stay."""
        import torch

        if not isinstance(device, (str, int, torch.device)):
            raise TokenizerError(f"BatchEncoding.to() expects a device (str, int or torch.device), got {device!r}")
        for k, v in list(self.items()):
            if hasattr(v, "to") and callable(v.to):
                dict.__setitem__(self, k, v.to(device=device, non_blocking=non_blocking))
        return self


def stack_fields(rows: Sequence[dict[str, list]]) -> dict[str, list]:
    """[{field: value}, ...] -> {field: [value, ...]} keeping the first row's field order."""
    if not rows:
        return {}
    return {k: [r[k] for r in rows] for k in rows[0]}
