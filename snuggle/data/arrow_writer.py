"""ArrowWriter: rows, column batches or tables in, one Arrow IPC stream file out.

The file format is the one `datasets` writes and memory-maps: an Arrow IPC *stream*
whose schema metadata carries `{"huggingface": {"info": {"features": ...}, "fingerprint": ...}}`.
The writer streams to a temporary file beside the target and renames it onto `path` in
`finalize()`, so a crash or kill -9 never leaves a half-written file under the final name
(an earlier file at `path`, e.g. a previous cache, stays intact until the rename).

Column types:
- `features=` given: every batch is encoded (`Features.encode_batch`, e.g. ClassLabel
  strings -> ids) and cast to `features.arrow_schema`.
- otherwise the first batch decides: each column is built with `pa.array`, then
  *tried* as the type in `try_features` (the source dataset's type for a column that a map
  rewrote; silently skipped when the data does not fit, e.g. strings into an int column);
  new `input_ids` / `attention_mask` / `token_type_ids` / `special_tokens_mask` columns
  are narrowed to int32 / int8 when the values fit, as the reference does. Later batches
  are cast to the schema of the first one.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "data.arrow")
>>> w = ArrowWriter(path)
>>> w.write({"text": "a", "label": 0}); w.write_batch({"text": ["b", "c"], "label": [1, 0]})
>>> w.finalize()[0]
3
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any

import numpy as np
import pyarrow as pa

from snuggle.errors import DataError

# Narrower integer types the reference uses for tokenizer outputs (see module docstring).
OPTIMIZED_INT_TYPES = {
    "input_ids": pa.int32(),
    "attention_mask": pa.int8(),
    "special_tokens_mask": pa.int8(),
    "token_type_ids": pa.int8(),
}


class ArrowWriter:
    """Write examples to an Arrow IPC stream file (or to memory when `path` is None).

    Args:
        path: target file; written atomically on `finalize()`. None keeps the record
            batches in memory (`to_table()` after `finalize()`).
        features: a `Features` that fixes the schema (values are encoded and cast to it).
        writer_batch_size: rows per record batch (and per buffered `write()` flush).
        try_features: types to keep for columns whose new values still fit them.
        fingerprint: stored in the schema metadata, as the reference does.
        disable_nullable: declare every field non-nullable.
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        features: Any = None,
        writer_batch_size: int | None = 1000,
        *,
        try_features: Any = None,
        fingerprint: str | None = None,
        disable_nullable: bool = False,
        with_metadata: bool = True,
    ):
        self.path = os.fspath(path) if path is not None else None
        self.writer_batch_size = writer_batch_size or 1000
        self.fingerprint = fingerprint
        self.disable_nullable = disable_nullable
        self.with_metadata = with_metadata
        self._fixed_features = features
        self._try_features = try_features
        self._features = features  # final features, known once the schema is
        self._schema: pa.Schema | None = None
        self._pending_rows: list[dict] = []
        self._batches: list[pa.RecordBatch] = []  # in-memory mode only
        self._sink = None
        self._ipc_writer = None
        self._tmp_path: str | None = None
        self.num_rows = 0
        self.num_bytes = 0
        self._finalized = False
        if features is not None:
            self._set_schema(features.arrow_schema, features)

    # -- public API -------------------------------------------------------------------

    @property
    def features(self):
        """The features of what was written (inferred ones once the first batch is in)."""
        return self._features

    @property
    def schema(self) -> pa.Schema | None:
        return self._schema

    def __len__(self) -> int:
        return self.num_rows + len(self._pending_rows)

    def __enter__(self) -> "ArrowWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()

    def write(self, example: dict) -> None:
        """Buffer one example (a dict column -> value); flushed every writer_batch_size rows."""
        if not isinstance(example, dict):
            raise DataError(f"ArrowWriter.write expects a dict column -> value; got {type(example).__name__}")
        self._pending_rows.append(example)
        if len(self._pending_rows) >= self.writer_batch_size:
            self._flush_rows()

    def write_batch(self, batch: dict) -> None:
        """Write a batch given as a dict column -> list / numpy array / pyarrow array."""
        self._flush_rows()
        self._write_columns(batch)

    def write_table(self, table: pa.Table) -> None:
        """Write a pyarrow Table (cast to the writer's schema once there is one)."""
        self._flush_rows()
        if table.num_rows == 0 and self._schema is not None:
            return
        if self._schema is None:
            self._adopt_first_table(table)
        self._write_conformed(table)

    def finalize(self) -> tuple[int, int]:
        """Flush, close and move the file into place; returns (num_rows, num_bytes)."""
        if self._finalized:
            return self.num_rows, self.num_bytes
        self._flush_rows()
        if self._schema is None:
            self.abort()
            raise DataError(
                "ArrowWriter: nothing was written and no features were given, so the schema is unknown; "
                "pass features= or write at least one example"
            )
        self._open()
        if self._ipc_writer is not None:
            self._ipc_writer.close()
            self._sink.close()
            os.replace(self._tmp_path, self.path)
            self._tmp_path = None
        self._finalized = True
        return self.num_rows, self.num_bytes

    def abort(self) -> None:
        """Stop writing and delete the temporary file; `path` is left untouched."""
        with contextlib.suppress(Exception):
            if self._ipc_writer is not None:
                self._ipc_writer.close()
        with contextlib.suppress(Exception):
            if self._sink is not None:
                self._sink.close()
        if self._tmp_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp_path)
            self._tmp_path = None
        self._finalized = True

    def to_table(self) -> pa.Table:
        """The written rows as one table (in-memory mode, after finalize)."""
        if self.path is not None:
            raise DataError("ArrowWriter.to_table() is for in-memory writers (path=None); read the file instead")
        return pa.Table.from_batches(self._batches, schema=self._schema)

    # -- internals --------------------------------------------------------------------

    def _flush_rows(self) -> None:
        if not self._pending_rows:
            return
        rows, self._pending_rows = self._pending_rows, []
        names: list[str] = list(rows[0])
        seen = set(names)
        for row in rows:
            if len(row) != len(names) or any(key not in seen for key in row):
                for key in row:
                    if key not in seen:
                        seen.add(key)
                        names.append(key)
        # a column a row lacks is None there (the reference raises a KeyError instead)
        columns = {name: [row.get(name) for row in rows] for name in names}
        self._write_columns(columns)

    def _write_columns(self, batch: dict) -> None:
        if not isinstance(batch, dict):
            raise DataError(f"ArrowWriter.write_batch expects a dict column -> values; got {type(batch).__name__}")
        if not batch:
            return
        lengths = {name: _length(values) for name, values in batch.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(
                "columns have different lengths: "
                + ", ".join(f"{name!r}: {n}" for name, n in lengths.items())
                + "; every column of a batch must have one value per row"
            )
        if next(iter(lengths.values())) == 0:
            return
        names = self._ordered_names(list(batch))
        if self._fixed_features is not None:
            self._write_with_features(batch)
            return
        arrays = []
        for name in names:
            target = None
            if self._schema is not None and name in self._schema.names:
                target = self._schema.field(name).type
            arrays.append(self._build_array(name, batch[name], target))
        table = pa.Table.from_arrays(arrays, names=names)
        if self._schema is None:
            self._adopt_first_table(table)
        self._write_conformed(table)

    def _write_with_features(self, batch: dict) -> None:
        """Cast every column to the fixed features (ClassLabel names -> ids etc., via snuggle.data.casting)."""
        from snuggle.data.casting import cast_array_to_feature

        features = self._fixed_features
        missing = [name for name in features if name not in batch]
        extra = [name for name in batch if name not in features]
        if missing or extra:
            raise DataError(
                f"the columns do not match the features: missing {missing}, unexpected {extra} "
                f"(features have {list(features)})"
            )
        arrays = []
        for field, (name, feature) in zip(self._schema, features.items()):
            values = batch[name]
            try:
                array = _to_arrow(values, name, target_hint=field.type)
            except DataError:
                # e.g. mixed str/int label values: let the features encode them one by one
                array = pa.array(features.encode_column(_as_python(values), name), type=field.type)
            if not array.type.equals(field.type):
                array = cast_array_to_feature(array, feature, name)
            arrays.append(array)
        self._write_conformed(pa.Table.from_arrays(arrays, schema=self._schema))

    def _ordered_names(self, names: list[str]) -> list[str]:
        if self._schema is None:
            return names
        present = set(names)
        known = [name for name in self._schema.names if name in present]
        return known + [name for name in names if name not in set(self._schema.names)]

    def _build_array(self, name: str, values: Any, target: pa.DataType | None) -> pa.Array:
        if target is not None:  # schema fixed: the values must fit it
            array = _to_arrow(values, name, target_hint=target)
            return _cast(array, target, name, allow_primitive_to_str=True)
        array = _to_arrow(values, name)
        try_type = self._try_type(name)
        if try_type is not None:
            try:
                return _cast(array, try_type, name, allow_primitive_to_str=False)
            except (DataError, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError):
                return array  # the new values do not fit the old type: keep the inferred one
        optimized = OPTIMIZED_INT_TYPES.get(name)
        if optimized is not None:
            return _narrow_ints(array, optimized)
        return array

    def _try_type(self, name: str) -> pa.DataType | None:
        if self._try_features is None:
            return None
        return _feature_arrow_type(self._try_features, name)

    def _adopt_first_table(self, table: pa.Table) -> None:
        features = _features_from_schema(table.schema)
        if features is not None and self._try_features is not None:
            # keep richer feature objects (ClassLabel names...) where the storage type matches
            for name in list(features):
                if (
                    isinstance(self._try_features, dict)
                    and name in self._try_features
                    and _feature_arrow_type(self._try_features, name) == table.schema.field(name).type
                ):
                    features[name] = self._try_features[name]
        self._set_schema(table.schema, features)

    def _set_schema(self, schema: pa.Schema, features: Any) -> None:
        if self.disable_nullable:
            schema = pa.schema([pa.field(f.name, f.type, nullable=False) for f in schema])
        metadata = {}
        if self.with_metadata:
            meta: dict[str, Any] = {}
            if features is not None and hasattr(features, "to_dict"):
                meta["info"] = {"features": features.to_dict()}
            if self.fingerprint is not None:
                meta["fingerprint"] = self.fingerprint
            if meta:
                metadata = {"huggingface": json.dumps(meta)}
        self._schema = schema.with_metadata(metadata) if metadata else schema.remove_metadata()
        self._features = features

    def _open(self) -> None:
        if self.path is None or self._ipc_writer is not None:
            return
        directory = os.path.dirname(os.path.abspath(self.path)) or "."
        os.makedirs(directory, exist_ok=True)
        fd, self._tmp_path = tempfile.mkstemp(prefix=f".{os.path.basename(self.path)}.", suffix=".tmp", dir=directory)
        os.close(fd)
        self._sink = pa.OSFile(self._tmp_path, "wb")
        self._ipc_writer = pa.ipc.new_stream(self._sink, self._schema)

    def _write_conformed(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if table.schema.names != self._schema.names:
            missing = [n for n in self._schema.names if n not in table.schema.names]
            extra = [n for n in table.schema.names if n not in self._schema.names]
            if missing or extra:
                raise DataError(
                    f"rows do not match the columns written so far: missing {missing}, unexpected {extra} "
                    f"(expected {self._schema.names})"
                )
            table = table.select(self._schema.names)
        if not table.schema.equals(self._schema, check_metadata=False):
            arrays = [
                _cast(column, field.type, field.name, allow_primitive_to_str=True)
                for column, field in zip(table.columns, self._schema)
            ]
            table = pa.Table.from_arrays(arrays, schema=self._schema)
        else:
            table = table.replace_schema_metadata(self._schema.metadata)
        if self.path is None:
            self._batches.extend(table.to_batches(max_chunksize=self.writer_batch_size))
        else:
            self._open()
            self._ipc_writer.write_table(table, max_chunksize=self.writer_batch_size)
        self.num_rows += table.num_rows
        self.num_bytes += table.nbytes


# ---------------------------------------------------------------------------------------
# Python values -> Arrow arrays
# ---------------------------------------------------------------------------------------


def _length(values: Any) -> int:
    if isinstance(values, (pa.Array, pa.ChunkedArray, np.ndarray, list, tuple)):
        return len(values)
    if type(values).__module__.startswith(("torch", "pandas", "polars")):
        return len(values)
    raise DataError(
        f"a batch column must be a list, numpy array, tensor or pyarrow array; got {type(values).__name__}"
    )


def _as_python(values: Any) -> Any:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.to_pylist()
    return values


def _to_numpy_if_tensor(value: Any) -> Any:
    module = type(value).__module__
    if module.startswith("torch"):
        return value.detach().cpu().numpy()
    if module.startswith("pandas"):
        return value.to_numpy()
    return value


def _to_arrow(values: Any, name: str, target_hint: pa.DataType | None = None) -> pa.Array:
    """A column of values (list / numpy / tensor / Arrow) as one pyarrow Array."""
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    values = _to_numpy_if_tensor(values)
    try:
        if isinstance(values, np.ndarray):
            return _numpy_to_arrow(values)
        if isinstance(values, tuple):
            values = list(values)
        first = next((v for v in values if v is not None), None)
        if first is not None and (isinstance(first, np.ndarray) or type(first).__module__.startswith("torch")):
            return _arrays_to_list_array([None if v is None else _to_numpy_if_tensor(v) for v in values])
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as error:
        with contextlib.suppress(Exception):  # tensors / numpy scalars nested in the values
            from snuggle.data.features import cast_to_python_objects

            return pa.array(cast_to_python_objects(values), type=target_hint)
        if target_hint is not None:
            with contextlib.suppress(Exception):
                return pa.array(values, type=target_hint)
        kinds = sorted({type(v).__name__ for v in values}) if isinstance(values, list) else [type(values).__name__]
        raise DataError(
            f"column {name!r}: cannot store the values in Arrow ({error}); the values have the Python "
            f"types {kinds}. A column must hold one type (e.g. all str or all int, lists of one type); "
            "pass features= to say which"
        ) from None


def _numpy_to_arrow(array: np.ndarray) -> pa.Array:
    """n-d numpy -> nested list arrays (as the reference: list<list<...>>, not fixed-size)."""
    if array.ndim <= 1:
        return pa.array(array)
    flat = pa.array(array.reshape(-1))
    out = flat
    for dim in reversed(array.shape[1:]):
        count = len(out) // dim if dim else 0
        offsets = pa.array(np.arange(0, count * dim + 1, dim if dim else 1, dtype=np.int32)[: count + 1])
        out = pa.ListArray.from_arrays(offsets, out)
    return out


def _arrays_to_list_array(arrays: list) -> pa.Array:
    """A list of numpy arrays (one per row, maybe ragged) -> a list array."""
    if all(a is None or a.ndim == 1 for a in arrays):
        present = [a for a in arrays if a is not None]
        values = pa.array(np.concatenate(present)) if present else pa.array([])
        lengths = [0 if a is None else len(a) for a in arrays]
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        mask = pa.array([a is None for a in arrays]) if len(present) != len(arrays) else None
        if offsets[-1] < 2**31:
            return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values, mask=mask)
        return pa.LargeListArray.from_arrays(pa.array(offsets), values, mask=mask)
    return pa.array([None if a is None else a.tolist() for a in arrays])


def _narrow_ints(array: pa.Array, int_type: pa.DataType) -> pa.Array:
    """int64 (or list of, or list of list of) -> `int_type` when every value fits."""
    target = None
    t = array.type
    if pa.types.is_int64(t):
        target = int_type
    elif pa.types.is_list(t) and pa.types.is_int64(t.value_type):
        target = pa.list_(int_type)
    elif pa.types.is_list(t) and pa.types.is_list(t.value_type) and pa.types.is_int64(t.value_type.value_type):
        target = pa.list_(pa.list_(int_type))
    if target is None:
        return array
    try:
        return array.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return array  # out of range: keep int64


def _is_primitive(t: pa.DataType) -> bool:
    return pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _cast(array: Any, target: pa.DataType, name: str, allow_primitive_to_str: bool) -> Any:
    """Cast like the reference's array_cast: never turn numbers into strings when only trying."""
    if array.type == target:
        return array
    if isinstance(target, pa.ExtensionType):
        storage = _cast(array.storage if isinstance(array, pa.ExtensionArray) else array, target.storage_type, name,
                        allow_primitive_to_str)
        return target.wrap_array(storage)
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), type=target)
    if (pa.types.is_string(target) or pa.types.is_large_string(target)) and _is_primitive(array.type):
        if not allow_primitive_to_str:
            raise DataError(f"column {name!r}: not casting {array.type} to {target} while only trying a type")
    if (pa.types.is_integer(target) or pa.types.is_floating(target)) and (
        pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
    ) and not allow_primitive_to_str:
        raise DataError(f"column {name!r}: not parsing strings as {target} while only trying a type")
    try:
        return array.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
        if pa.types.is_struct(array.type) and pa.types.is_struct(target):
            return _cast_struct(array, target, name, allow_primitive_to_str)
        raise DataError(f"column {name!r}: cannot cast {array.type} to {target} ({error})") from None


def _cast_struct(array: Any, target: pa.StructType, name: str, allow_primitive_to_str: bool) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    have = {array.type.field(i).name for i in range(array.type.num_fields)}
    want = {target.field(i).name for i in range(target.num_fields)}
    if have != want:
        raise DataError(f"column {name!r}: struct fields {sorted(have)} do not match the expected {sorted(want)}")
    fields = [target.field(i) for i in range(target.num_fields)]
    children = [_cast(array.field(f.name), f.type, f"{name}.{f.name}", allow_primitive_to_str) for f in fields]
    return pa.StructArray.from_arrays(children, fields=fields, mask=array.is_null())


# ---------------------------------------------------------------------------------------
# Features glue (snuggle.data.features is optional for the writer's own tests)
# ---------------------------------------------------------------------------------------


def _features_from_schema(schema: pa.Schema):
    try:
        from snuggle.data.features import Features
    except ImportError:
        return None
    return Features.from_arrow_schema(schema.remove_metadata())


def _feature_arrow_type(features: Any, name: str) -> pa.DataType | None:
    if isinstance(features, pa.Schema):
        return features.field(name).type if name in features.names else None
    if name not in features:
        return None
    try:
        return features.arrow_schema.field(name).type
    except (KeyError, AttributeError):
        return None
