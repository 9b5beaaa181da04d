"""Turning Arrow rows, columns and batches into Python, NumPy, torch, pandas or Arrow objects.

`Dataset.__getitem__`, `__iter__` and `iter(batch_size)` first cut a small `pa.Table` out of the
dataset (`query_table`, which follows the indices mapping) and then hand it to `format_table`,
which picks the output type from the dataset's format:

- `None` / "python": dicts of Python objects (a column is a list);
- "numpy": integer arrays become int64 and float arrays float32 (as `datasets`), equal-shape
  rows are stacked, ragged ones become object arrays;
- "torch": the same rules with tensors; ragged rows stay a list of tensors, strings stay str;
- "pandas": a DataFrame (row and batch) or a Series (column);
- "arrow": the `pa.Table` itself (a column is a `pa.ChunkedArray`);
- "custom": `set_transform(fn)`: fn receives a batch dict of Python lists.

Heavy libraries (numpy, torch, pandas) are imported only when that format is used.

>>> import pyarrow as pa
>>> t = pa.table({"x": [1, 2, 3]})
>>> format_table(query_table(t, slice(0, 2)), slice(0, 2), "python")
{'x': [1, 2]}
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

import pyarrow as pa

FORMAT_TYPE_ALIASES: dict[str | None, str | None] = {
    None: None, "python": None,
    "numpy": "numpy", "np": "numpy",
    "torch": "torch", "pt": "torch", "pytorch": "torch",
    "pandas": "pandas", "pd": "pandas",
    "arrow": "arrow", "pa": "arrow", "pyarrow": "arrow",
    "custom": "custom",
}


def canonical_format_type(format_type: str | None) -> str | None:
    """Map an alias ('np', 'pt', 'python', ...) to the canonical format name; unknown names raise."""
    if format_type not in FORMAT_TYPE_ALIASES:
        from snuggle.errors import DataError

        known = sorted(k for k in FORMAT_TYPE_ALIASES if k is not None)
        raise DataError(f"Unknown format type {format_type!r}; expected None or one of {known}")
    return FORMAT_TYPE_ALIASES[format_type]


# ----------------------------------------------------------------------------------------------
# Query: key -> small pa.Table (through the indices mapping)
# ----------------------------------------------------------------------------------------------

def key_kind(key: Any) -> str:
    """'row' for an int, 'column' for a str, 'batch' for a slice / range / iterable of ints."""
    if isinstance(key, bool):
        raise TypeError("dataset index must be int, str, slice or collection of int, not bool")
    if isinstance(key, numbers.Integral):
        return "row"
    if isinstance(key, str):
        return "column"
    if isinstance(key, (slice, range, Iterable)):
        return "batch"
    raise TypeError(f"Wrong key type: {key!r} of type {type(key)}. Expected one of int, slice, range, str or Iterable.")


def _check_index(i: int, size: int) -> None:
    if i >= size or i < -size:
        raise IndexError(f"Invalid key: {i} is out of bounds for size {size}")


def _key_to_positions(key: Any, size: int):
    """A batch key -> ('slice', start, length) when contiguous, else ('take', int64 numpy array)."""
    import numpy as np

    if isinstance(key, slice):
        key = range(*key.indices(size))
    if isinstance(key, range):
        if len(key) == 0:
            return ("slice", 0, 0)
        _check_index(key[0], size)
        _check_index(key[-1], size)
        if key.step == 1 and key.start >= 0:
            return ("slice", key.start, len(key))
        positions = np.arange(key.start, key.stop, key.step, dtype=np.int64)
    else:
        if isinstance(key, (pa.Array, pa.ChunkedArray)):
            key = key.to_numpy()
        positions = np.asarray(key if isinstance(key, np.ndarray) else list(key))
        if positions.size == 0:
            return ("slice", 0, 0)
        if positions.dtype == bool or not np.issubdtype(positions.dtype, np.integer):
            raise TypeError(f"Wrong key type: expected integer indices, got an array of dtype {positions.dtype}")
        positions = positions.astype(np.int64, copy=False)
        _check_index(int(positions.max()), size)
        _check_index(int(positions.min()), size)
    return ("take", positions % size if size else positions)


def query_table(table: pa.Table, key: Any, indices: pa.Table | None = None) -> pa.Table:
    """Rows (or one column) of `table` selected by `key`, read through the `indices` mapping if any.

    >>> query_table(pa.table({"x": [5, 6, 7]}), -1).to_pydict()
    {'x': [7]}
    """
    if not isinstance(key, (numbers.Integral, slice, range, str, Iterable)):
        try:
            key = operator.index(key)
        except TypeError:
            key_kind(key)  # raises the TypeError naming the key
    size = indices.num_rows if indices is not None else table.num_rows
    if isinstance(key, str):
        if key not in table.column_names:
            raise KeyError(f"Column {key} not in the dataset. Current columns in the dataset: {table.column_names}")
        column_table = table.select([key])
        if indices is None:
            return column_table
        return column_table.take(indices.column(0))
    if key_kind(key) == "row":
        key = int(key)
        _check_index(key, size)
        key %= size
        if indices is None:
            return table.slice(key, 1)
        return table.slice(indices.column(0)[key].as_py(), 1)
    plan = _key_to_positions(key, size)
    if plan[0] == "slice":
        _, start, length = plan
        if indices is None:
            return table.slice(start, length)
        return table.take(indices.column(0).slice(start, length))
    positions = plan[1]
    if indices is not None:
        return table.take(indices.column(0).take(pa.array(positions)))
    return table.take(pa.array(positions))


# ----------------------------------------------------------------------------------------------
# NumPy / torch conversion (the `datasets` rules, written out)
# ----------------------------------------------------------------------------------------------

def _arrow_column_to_numpy(column: pa.ChunkedArray):
    """One column -> numpy: a stacked array when rows agree in shape, else an object array of rows."""
    import numpy as np

    rows: list = []
    for chunk in column.chunks:
        zero_copy = _is_primitive(chunk.type) and chunk.null_count == 0
        converted = chunk.to_numpy(zero_copy_only=zero_copy)
        if column.num_chunks == 1 and converted.dtype != object:
            return converted
        rows.extend(converted)
    if not rows:
        return np.asarray(rows)
    first_array = next((r for r in rows if isinstance(r, np.ndarray)), None)
    if first_array is not None:
        ragged = any(
            (isinstance(r, np.ndarray) and (r.dtype == object or r.shape != first_array.shape))
            or r is None
            or (isinstance(r, float) and np.isnan(r))
            for r in rows
        )
        if ragged:
            out = np.empty(len(rows), dtype=object)
            out[:] = rows
            return out
    return np.asarray(rows)


def _is_primitive(arrow_type: pa.DataType) -> bool:
    return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_boolean(arrow_type)


class _Tensorizer:
    """Recursive conversion of extracted numpy values to numpy arrays or torch tensors.

    Dicts are walked key by key; lists and object arrays are converted element-wise then
    stacked when every element has the same shape and dtype.
    """

    def __init__(self, kind: str, tensor_kwargs: dict):
        self.kind = kind  # "numpy" | "torch"
        self.kwargs = tensor_kwargs
        if kind == "torch":
            import torch

            self.torch = torch

    def convert(self, value):
        import numpy as np

        if isinstance(value, dict):
            return {k: self.convert(v) for k, v in value.items()}
        if self.kind == "torch" and isinstance(value, self.torch.Tensor):
            return value
        if self.kind == "numpy" and _is_torch_tensor(value):
            return self.convert(value.detach().cpu().numpy()[()])
        if self.kind == "torch" and isinstance(value, np.generic):
            value = np.asarray(value)  # numpy scalars (np.str_ too) go through a 0-d array, as `datasets`
        if isinstance(value, np.ndarray) and value.dtype == object or isinstance(value, (list, tuple)):
            return self.consolidate([self.convert(v) for v in value])
        return self.leaf(value)

    def consolidate(self, items: list):
        import numpy as np

        if self.kind == "torch":
            torch = self.torch
            if items and all(
                isinstance(x, torch.Tensor) and x.shape == items[0].shape and x.dtype == items[0].dtype for x in items
            ):
                return torch.stack(items)
            return items
        if items and all(
            isinstance(x, (np.ndarray, np.number, np.bool_)) and x.shape == items[0].shape and x.dtype == items[0].dtype
            for x in items
        ):
            return np.stack(items)
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out

    def leaf(self, value):
        import numpy as np

        if isinstance(value, (str, bytes, type(None))):
            return value
        is_np = isinstance(value, (np.number, np.ndarray, np.bool_, np.character))
        if is_np and np.issubdtype(value.dtype, np.character):
            return value.tolist() if self.kind == "torch" else value
        if self.kind == "numpy":
            if isinstance(value, np.number):
                return value  # numpy keeps scalars of a row as they are (as `datasets`)
            default = {}
            if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.integer):
                default = {"dtype": np.int64}
            elif isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
                default = {"dtype": np.float32}
            return np.asarray(value, **{**default, **self.kwargs})
        torch = self.torch
        default = {}
        if is_np and np.issubdtype(value.dtype, np.integer):
            default = {"dtype": torch.int64}
            if value.dtype in (np.uint16, np.uint32):
                value = value.astype(np.int64)
        elif is_np and np.issubdtype(value.dtype, np.floating):
            default = {"dtype": torch.float32}
        return torch.tensor(value, **{**default, **self.kwargs})


def _is_torch_tensor(value) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _tensor_batch(table: pa.Table, kind: str, kwargs: dict) -> dict:
    tensorizer = _Tensorizer(kind, kwargs)
    out = {}
    for name in table.column_names:
        converted = tensorizer.convert(_arrow_column_to_numpy(table.column(name)))
        out[name] = tensorizer.consolidate(converted) if isinstance(converted, list) else converted
    return out


def _tensor_row(table: pa.Table, kind: str, kwargs: dict) -> dict:
    tensorizer = _Tensorizer(kind, kwargs)
    return {name: tensorizer.convert(_arrow_column_to_numpy(table.column(name))[0]) for name in table.column_names}


# ----------------------------------------------------------------------------------------------
# One formatter per output type
# ----------------------------------------------------------------------------------------------

def _python_row(table: pa.Table) -> dict:
    return {name: table.column(name)[0].as_py() for name in table.column_names}


def _format_with(table: pa.Table, kind: str, format_type: str | None, format_kwargs: dict):
    """Format `table` as a 'row' (1-row table), 'column' (1-column table) or 'batch'."""
    if format_type is None:
        if kind == "row":
            return _python_row(table)
        if kind == "column":
            return table.column(0).to_pylist()
        return table.to_pydict()
    if format_type == "arrow":
        return table.column(0) if kind == "column" else table
    if format_type in ("numpy", "torch"):
        if kind == "row":
            return _tensor_row(table, format_type, format_kwargs)
        batch = _tensor_batch(table, format_type, format_kwargs)
        return batch[table.column_names[0]] if kind == "column" else batch
    if format_type == "pandas":
        if kind == "row":
            return table.slice(0, 1).to_pandas()
        if kind == "column":
            return table.select([0]).to_pandas()[table.column_names[0]]
        return table.to_pandas()
    if format_type == "custom":
        transform: Callable = format_kwargs["transform"]
        batch = transform(table.to_pydict())
        if kind == "batch":
            return batch
        if not isinstance(batch, Mapping):
            raise TypeError(f"The set_transform function must return a dict of columns, but got {type(batch).__name__}")
        if kind == "column":
            if len(batch) != 1 or table.column_names[0] not in batch:
                raise TypeError(
                    f"Tried to query column {table.column_names[0]!r} but the transform returned columns {list(batch)}"
                )
            return batch[table.column_names[0]]
        try:
            return {k: v[0] for k, v in batch.items()}
        except Exception as exc:
            raise TypeError(
                f"The set_transform function must return a dict of sequences to pick a row from, but got {batch!r}"
            ) from exc
    raise ValueError(f"Unknown format type {format_type!r}")


def format_table(
    table: pa.Table,
    key: Any,
    format_type: str | None = None,
    format_columns: list | None = None,
    output_all_columns: bool = False,
    format_kwargs: dict | None = None,
):
    """Format a queried table for `key` (whose kind decides row / column / batch output).

    Columns outside `format_columns` are dropped, or returned as Python objects when
    `output_all_columns` is set (as `datasets`).
    """
    format_kwargs = format_kwargs or {}
    format_type = FORMAT_TYPE_ALIASES.get(format_type, format_type)
    kind = key_kind(key)
    if format_columns is None:
        return _format_with(table, kind, format_type, format_kwargs)
    if kind == "column":
        if key in format_columns:
            return _format_with(table, kind, format_type, format_kwargs)
        return _format_with(table, kind, None, {})
    formatted_part = table.select([c for c in table.column_names if c in format_columns])
    output = _format_with(formatted_part, kind, format_type, format_kwargs)
    if output_all_columns:
        if not isinstance(output, MutableMapping):
            raise TypeError(
                f"output_all_columns=True needs a dict-like output, but format {format_type!r} gave {type(output).__name__}"
            )
        rest = table.select([c for c in table.column_names if c not in format_columns])
        output.update(_format_with(rest, kind, None, {}))
    return output


def iter_python_rows(table: pa.Table, batch_size: int = 1000):
    """Rows of `table` as Python dicts, converted a batch at a time (the fast path of `__iter__`)."""
    for start in range(0, table.num_rows, batch_size):
        yield from table.slice(start, batch_size).to_pylist()
