"""Padding and truncation arguments of pretrained tokenizers, and `pad` for already-encoded inputs.

`resolve_strategies` turns the user-facing `padding=` / `truncation=` / `max_length=` values
(True, 'longest', 'max_length', 'only_first', ...) into strategies exactly as transformers
does, including its quirks: `max_length` alone switches truncation on, and a model without a
length limit (model_max_length = VERY_LARGE_INTEGER) silently drops 'max_length' padding and
truncation when no `max_length` is given.

>>> resolve_strategies(False, None, 8, None, 512)
(<PaddingStrategy.DO_NOT_PAD: 'do_not_pad'>, <TruncationStrategy.LONGEST_FIRST: 'longest_first'>, 8)
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Mapping, Sized
from typing import Any

from snuggle.errors import TokenizerError

VERY_LARGE_INTEGER = int(1e30)  # model_max_length of a model without a length limit
LARGE_INTEGER = int(1e20)


class PaddingStrategy(str, enum.Enum):
    LONGEST = "longest"
    MAX_LENGTH = "max_length"
    DO_NOT_PAD = "do_not_pad"


class TruncationStrategy(str, enum.Enum):
    ONLY_FIRST = "only_first"
    ONLY_SECOND = "only_second"
    LONGEST_FIRST = "longest_first"
    DO_NOT_TRUNCATE = "do_not_truncate"


def _enum(cls, value, what: str):
    try:
        return cls(getattr(value, "value", value))
    except ValueError:
        valid = [m.value for m in cls]
        raise TokenizerError(f"{what}={value!r} is not valid; use True, False or one of {valid}") from None


def resolve_strategies(
    padding: Any,
    truncation: Any,
    max_length: int | None,
    pad_to_multiple_of: int | None,
    model_max_length: int,
    verbose: bool = True,
) -> tuple[PaddingStrategy, TruncationStrategy, int | None]:
    """(padding_strategy, truncation_strategy, max_length) for a call's arguments."""
    if max_length is not None and padding is False and truncation is None:
        truncation = "longest_first"  # transformers' backward-compatible behaviour
    if padding is False or padding is None:
        padding_strategy = PaddingStrategy.DO_NOT_PAD
    elif padding is True:
        if verbose and max_length is not None and truncation in (None, False, "do_not_truncate"):
            warnings.warn(
                "`max_length` is ignored when `padding`=`True` and there is no truncation strategy. "
                "To pad to max length, use `padding='max_length'`.",
                stacklevel=3,
            )
        padding_strategy = PaddingStrategy.LONGEST
    else:
        padding_strategy = _enum(PaddingStrategy, padding, "padding")
    if truncation is False or truncation is None:
        truncation_strategy = TruncationStrategy.DO_NOT_TRUNCATE
    elif truncation is True:
        truncation_strategy = TruncationStrategy.LONGEST_FIRST
    else:
        truncation_strategy = _enum(TruncationStrategy, truncation, "truncation")
    if max_length is None:
        if padding_strategy == PaddingStrategy.MAX_LENGTH:
            if model_max_length > LARGE_INTEGER:
                padding_strategy = PaddingStrategy.DO_NOT_PAD
            else:
                max_length = model_max_length
        if truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE:
            if model_max_length > LARGE_INTEGER:
                truncation_strategy = TruncationStrategy.DO_NOT_TRUNCATE
            else:
                max_length = model_max_length
    if (
        truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE
        and padding_strategy != PaddingStrategy.DO_NOT_PAD
        and pad_to_multiple_of is not None
        and max_length is not None
        and max_length % pad_to_multiple_of != 0
    ):
        raise TokenizerError(
            f"truncation length ({max_length}) is not a multiple of pad_to_multiple_of ({pad_to_multiple_of}); "
            "choose a max_length that is a multiple of it"
        )
    return padding_strategy, truncation_strategy, max_length


def _to_python(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") and callable(value.tolist) else value


def _pad_one(
    row: dict[str, Any],
    main_input: str,
    padding_strategy: PaddingStrategy,
    max_length: int | None,
    pad_to_multiple_of: int | None,
    padding_side: str,
    return_attention_mask: bool,
    pad_token_id: int,
    pad_token_type_id: int,
) -> dict[str, Any]:
    ids = row[main_input]
    if padding_strategy == PaddingStrategy.LONGEST:
        max_length = len(ids)
    if max_length is not None and pad_to_multiple_of is not None and max_length % pad_to_multiple_of:
        max_length = (max_length // pad_to_multiple_of + 1) * pad_to_multiple_of
    if return_attention_mask and "attention_mask" not in row:
        row["attention_mask"] = [1] * len(ids)
    if padding_strategy == PaddingStrategy.DO_NOT_PAD or max_length is None or len(ids) == max_length:
        return row
    n = max_length - len(ids)
    if padding_side not in ("left", "right"):
        raise TokenizerError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    fill = {"attention_mask": 0, "token_type_ids": pad_token_type_id, "special_tokens_mask": 1, main_input: pad_token_id}
    for key, value in fill.items():
        if key not in row or (key == "attention_mask" and not return_attention_mask):
            continue
        pad = [value] * n
        row[key] = list(row[key]) + pad if padding_side == "right" else pad + list(row[key])
    return row


def pad_encoded_inputs(
    encoded_inputs: Any,
    *,
    main_input: str,
    padding_strategy: PaddingStrategy,
    max_length: int | None,
    pad_to_multiple_of: int | None,
    padding_side: str,
    return_attention_mask: bool,
    pad_token_id: int,
    pad_token_type_id: int,
) -> tuple[Any, str | None]:
    """Pad a dict of lists / list of dicts; returns (padded dict, tensor type the inputs had or None)."""
    if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], Mapping):
        # a list of examples (e.g. what a DataLoader collates): turn it into a dict of lists
        encoded_inputs = {k: [ex[k] for ex in encoded_inputs] for k in encoded_inputs[0].keys()}
    if not isinstance(encoded_inputs, Mapping):
        raise TokenizerError(f"pad() expects a dict of lists or a list of dicts, got {type(encoded_inputs).__name__}")
    if main_input not in encoded_inputs:
        raise TokenizerError(f"pad() needs the field {main_input!r}; the inputs have {list(encoded_inputs.keys())}")
    data = dict(encoded_inputs)
    required = data[main_input]
    if required is None or (isinstance(required, Sized) and len(required) == 0):
        if return_attention_mask:
            data["attention_mask"] = []
        return encoded_inputs, None
    first = required[0]
    if isinstance(first, (list, tuple)):
        for item in required:
            if len(item):
                first = item[0]
                break
    inferred = None
    if not isinstance(first, (int, list, tuple)):
        kind = type(first).__module__.split(".")[0]
        if kind == "torch":
            inferred = "pt"
        elif kind == "numpy":
            inferred = "np"
        else:
            raise TokenizerError(f"pad() cannot read values of type {type(first).__name__}; use lists, numpy or torch")
        data = {k: _to_python(v) for k, v in data.items()}
        required = data[main_input]
    common = dict(
        main_input=main_input,
        pad_to_multiple_of=pad_to_multiple_of,
        padding_side=padding_side,
        return_attention_mask=return_attention_mask,
        pad_token_id=pad_token_id,
        pad_token_type_id=pad_token_type_id,
    )
    if required and not isinstance(required[0], (list, tuple)):
        return _pad_one(data, padding_strategy=padding_strategy, max_length=max_length, **common), inferred
    batch_size = len(required)
    for k, v in data.items():
        if len(v) != batch_size:
            raise TokenizerError(f"pad(): field {k!r} has {len(v)} rows but {main_input!r} has {batch_size}")
    if padding_strategy == PaddingStrategy.LONGEST:
        max_length = max(len(r) for r in required)
        padding_strategy = PaddingStrategy.MAX_LENGTH
    out: dict[str, list] = {}
    for i in range(batch_size):
        row = _pad_one({k: v[i] for k, v in data.items()}, padding_strategy=padding_strategy, max_length=max_length, **common)
        for k, v in row.items():
            out.setdefault(k, []).append(v)
    return out, inferred
