"""`Dataset`: a table of rows backed by a (possibly memory-mapped) pyarrow Table.

A Dataset is `_data` (a `pa.Table`, often memory-mapped from Arrow stream files so a dataset
larger than RAM works) plus an optional indices mapping `_indices` (a one-column uint64 table
"indices": row i of the dataset is row `_indices[i]` of `_data`), its `DatasetInfo` (features,
description, ...), a split name, a fingerprint, and an output format.

Every operation returns a new Dataset with a new fingerprint; the Arrow data is shared, not
copied, unless the operation really changes values. Row selection lives in
`snuggle.data.indices`, column operations in `snuggle.data.column_ops`, output formats in
`snuggle.data.formatting`, map/filter in `snuggle.data.map`.

>>> ds = Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]})
>>> ds
Dataset({
    features: ['text', 'label'],
    num_rows: 3
})
>>> ds[1]
{'text': 'b', 'label': 1}
>>> ds.shuffle(seed=42)["label"]
[0, 1, 0]
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from snuggle.data.arrow_files import read_arrow_file, write_arrow_file
from snuggle.data.column_ops import ColumnOpsMixin
from snuggle.data.features import Features
from snuggle.data.fingerprint import (
    generate_random_fingerprint,
    get_temporary_cache_files_directory,
    hash_object,
    is_caching_enabled,
    update_fingerprint,
)
from snuggle.data.formatting import (
    canonical_format_type,
    format_table,
    iter_python_rows,
    query_table,
)
from snuggle.data.indices import RowSelectionMixin
from snuggle.data.rows_to_arrow import column_to_arrow, generate_tables
from snuggle.errors import DataError, MissingDependencyError

_KEEP = object()  # "same as the source dataset" in Dataset._derive


def _new_info(features=None):
    from snuggle.data.info import DatasetInfo

    info = DatasetInfo()
    info.features = features
    return info


def with_features_metadata(table: pa.Table, features: Features) -> pa.Table:
    """`table` with the features JSON stored in its schema metadata (as `datasets` does)."""
    raw = (table.schema.metadata or {}).get(b"huggingface")
    metadata: dict = {}
    if raw is not None:
        with contextlib.suppress(ValueError):
            metadata = json.loads(raw.decode())
    features = Features({name: features[name] for name in table.column_names})
    metadata.setdefault("info", {})["features"] = features.to_dict()
    return table.replace_schema_metadata({"huggingface": json.dumps(metadata)})


def _same_types(schema: pa.Schema, other: pa.Schema) -> bool:
    return schema.names == other.names and all(a.type == b.type for a, b in zip(schema, other))


def _check_unique_columns(names: list[str]) -> None:
    duplicated = [name for name, count in Counter(names).items() if count > 1]
    if duplicated:
        raise DataError(f"A dataset can't have duplicated columns but columns {duplicated} are duplicated; rename them")


class Dataset(RowSelectionMixin, ColumnOpsMixin):
    """A map-style dataset backed by an Arrow table (see the module docstring)."""

    def __init__(
        self,
        arrow_table: pa.Table,
        info=None,
        split: str | None = None,
        indices_table: pa.Table | None = None,
        fingerprint: str | None = None,
        *,
        data_files: list[str] | None = None,
        indices_files: list[str] | None = None,
    ):
        if not isinstance(arrow_table, pa.Table):
            raise DataError(f"Dataset expects a pyarrow.Table, got {type(arrow_table).__name__}")
        info = copy.deepcopy(info) if info is not None else _new_info()
        self._info = info
        self._split = split
        self._data: pa.Table = arrow_table
        self._indices: pa.Table | None = indices_table
        self._data_files: list[str] = list(data_files or [])  # Arrow files memory-mapped into _data
        self._indices_files: list[str] = list(indices_files or [])
        self._format_type: str | None = None
        self._format_kwargs: dict = {}
        self._format_columns: list | None = None
        self._output_all_columns: bool = False
        self._fingerprint = fingerprint
        _check_unique_columns(arrow_table.column_names)

        metadata_raw = (arrow_table.schema.metadata or {}).get(b"huggingface")
        if metadata_raw is not None and self._fingerprint is None:
            with contextlib.suppress(ValueError, AttributeError):
                self._fingerprint = json.loads(metadata_raw.decode()).get("fingerprint")
        inferred = Features.from_arrow_schema(arrow_table.schema)
        if getattr(info, "features", None) is None:
            info.features = inferred
        else:
            declared = info.features
            missing = [c for c in arrow_table.column_names if c not in declared]
            extra = [c for c in declared if c not in arrow_table.column_names]
            if missing or extra:
                raise DataError(
                    f"The features do not match the table columns: columns {missing} have no feature and "
                    f"features {extra} have no column; pass features for exactly {arrow_table.column_names}"
                )
            declared = Features({name: declared[name] for name in arrow_table.column_names})
            declared = declared.reorder_fields_as(inferred)
            info.features = declared
            if not _same_types(arrow_table.schema, declared.arrow_schema):
                try:
                    self._data = self._data.cast(declared.arrow_schema)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError) as error:
                    raise DataError(
                        f"The features don't match the Arrow data: got {declared} but the table has types "
                        f"{inferred} ({error})"
                    ) from error
        if self._indices is not None and (
            self._indices.num_columns != 1 or not pa.types.is_unsigned_integer(self._indices.column(0).type)
        ):
            raise DataError(f"indices_table must have one unsigned integer column, got schema {self._indices.schema}")
        self._data = with_features_metadata(self._data, info.features)
        if self._fingerprint is None:
            self._fingerprint = self._initial_fingerprint()

    def _initial_fingerprint(self) -> str:
        """File-backed data: a hash of the files (stable across runs); in-memory data: random."""
        if not self._data_files:
            return generate_random_fingerprint()
        stamps = []
        for path in self._data_files + self._indices_files:
            stat = os.stat(path)
            stamps.append((os.path.abspath(path), stat.st_size, stat.st_mtime_ns))
        return hash_object([stamps, self._data.num_rows, self._data.column_names])

    def _derive(
        self,
        data: pa.Table | None = None,
        indices: Any = _KEEP,
        features: Features | None = None,
        fingerprint: str | None = None,
        data_files: list[str] | None = None,
        indices_files: list[str] | None = None,
    ) -> Dataset:
        """A new Dataset sharing this one's info, split and format (format columns follow the columns)."""
        new = Dataset.__new__(type(self))
        new._info = copy.deepcopy(self._info)
        new._split = self._split
        new._data = self._data if data is None else data
        new._indices = self._indices if indices is _KEEP else indices
        new._data_files = list(self._data_files if data_files is None else data_files)
        if indices is _KEEP:
            new._indices_files = list(self._indices_files)
        else:
            new._indices_files = list(indices_files or [])
        if features is not None or data is not None:
            source = features if features is not None else new._info.features
            new._info.features = Features({name: source[name] for name in new._data.column_names})
            new._data = with_features_metadata(new._data, new._info.features)
        new._fingerprint = fingerprint or generate_random_fingerprint()
        new._format_type = self._format_type
        new._format_kwargs = dict(self._format_kwargs)
        new._output_all_columns = self._output_all_columns
        new._format_columns = None
        if self._format_columns is not None:
            # as `datasets`: newly formatted columns = all columns - those left unformatted before
            unformatted = set(self._data.column_names) - set(self._format_columns)
            new._format_columns = sorted(set(new._data.column_names) - unformatted)
        return new

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_file(cls, filename: str, info=None, split: str | None = None, indices_filename: str | None = None,
                  in_memory: bool = False) -> Dataset:
        """A Dataset over an Arrow IPC stream file, memory-mapped (zero copy) unless `in_memory`.

        >>> ds = Dataset.from_file("data-00000-of-00001.arrow")   # doctest: +SKIP
        """
        filename = os.fspath(filename)
        table = read_arrow_file(filename, in_memory=in_memory)
        indices = read_arrow_file(indices_filename, in_memory=in_memory) if indices_filename else None
        return cls(
            table, info=info, split=split, indices_table=indices,
            data_files=[] if in_memory else [filename],
            indices_files=[indices_filename] if indices_filename and not in_memory else [],
        )

    @classmethod
    def from_dict(cls, mapping: dict, features: Features | None = None, info=None, split: str | None = None) -> Dataset:
        """A Dataset from a dict of columns (lists, numpy arrays or Arrow arrays).

        >>> Dataset.from_dict({"a": [1, 2]}).features
        {'a': Value('int64')}
        """
        if info is not None and features is not None and getattr(info, "features", None) not in (None, features):
            raise DataError(f"features and info.features differ:\n{features}\n{info.features}; pass only one")
        features = features if features is not None else getattr(info, "features", None)
        if features is not None:
            features = Features(features)
            missing = [c for c in mapping if c not in features]
            if missing:
                raise DataError(f"from_dict: columns {missing} have no entry in features {list(features)}")
        lengths = {}
        arrays = {}
        for name, column in mapping.items():
            arrays[name] = column_to_arrow(name, column, features)
            lengths[name] = len(arrays[name])
        if len(set(lengths.values())) > 1:
            raise DataError(f"from_dict: columns have different lengths {lengths}; every column needs one value per row")
        table = pa.Table.from_pydict(arrays)
        info = copy.deepcopy(info) if info is not None else _new_info()
        info.features = Features({c: features[c] for c in mapping}) if features is not None else None
        return cls(table, info=info, split=split)

    @classmethod
    def from_list(cls, mapping: list[dict], features: Features | None = None, info=None, split: str | None = None) -> Dataset:
        """A Dataset from a list of row dicts (columns are the keys of the first row, as `datasets`).

        >>> Dataset.from_list([{"a": 1}, {"a": 2}])["a"]
        [1, 2]
        """
        columns = {key: [row.get(key) for row in mapping] for key in mapping[0]} if mapping else {}
        return cls.from_dict(columns, features=features, info=info, split=split)

    @classmethod
    def from_pandas(cls, df, features: Features | None = None, info=None, split: str | None = None,
                    preserve_index: bool | None = None) -> Dataset:
        """A Dataset from a pandas DataFrame (`preserve_index` as in `pyarrow.Table.from_pandas`).

        >>> import pandas as pd
        >>> Dataset.from_pandas(pd.DataFrame({"a": [1, 2]}))["a"]
        [1, 2]
        """
        if info is not None and features is not None and getattr(info, "features", None) not in (None, features):
            raise DataError(f"features and info.features differ:\n{features}\n{info.features}; pass only one")
        features = features if features is not None else getattr(info, "features", None)
        try:
            table = pa.Table.from_pandas(df, preserve_index=preserve_index)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise DataError(f"from_pandas: the DataFrame could not be converted to Arrow: {error}") from error
        table = table.replace_schema_metadata(None)
        if features is not None:
            from snuggle.data.features import cast_table

            table = cast_table(table, Features(features))
        info = copy.deepcopy(info) if info is not None else _new_info()
        info.features = Features(features) if features is not None else None
        return cls(table, info=info, split=split)

    @staticmethod
    def from_generator(generator: Callable, features: Features | None = None, cache_dir: str | None = None,
                       keep_in_memory: bool = False, gen_kwargs: dict | None = None, num_proc: int | None = None,
                       split: str = "train", fingerprint: str | None = None, **kwargs) -> Dataset:
        """A Dataset from a generator function yielding row dicts, written to an Arrow cache file.

        The cache file is keyed by a hash of the generator (code, closures, globals) and
        `gen_kwargs`, so calling again with the same generator reuses it.

        >>> def gen():
        ...     yield {"text": "Good", "label": 0}
        ...     yield {"text": "Bad", "label": 1}
        >>> Dataset.from_generator(gen, keep_in_memory=True)["label"]
        [0, 1]
        """
        gen_kwargs = gen_kwargs or {}
        features = Features(features) if features is not None else None
        if keep_in_memory:
            tables = list(generate_tables(generator, gen_kwargs, features))
            table = pa.concat_tables(tables) if tables else pa.table({})
            return Dataset(table, info=_new_info(features), split=split)
        from snuggle.data.fingerprint import get_datasets_cache_dir

        if fingerprint is None:
            fingerprint = hash_object([generator, gen_kwargs, features.to_dict() if features is not None else None])
        folder = os.path.join(os.path.expanduser(cache_dir) if cache_dir else get_datasets_cache_dir(), "generator",
                              fingerprint)
        path = os.path.join(folder, f"generator-{split}.arrow")
        if not (os.path.exists(path) and is_caching_enabled()):
            schema = features.arrow_schema if features is not None else None
            write_arrow_file(path, generate_tables(generator, gen_kwargs, features), schema=schema)
        ds = Dataset.from_file(path, info=_new_info(features), split=split)
        ds._fingerprint = fingerprint
        return ds

    # ------------------------------------------------------------------ properties

    @property
    def data(self) -> pa.Table:
        return self._data

    @property
    def features(self) -> Features:
        return self._info.features

    @property
    def info(self):
        return self._info

    @property
    def split(self):
        return self._split

    @property
    def cache_files(self) -> list[dict]:
        """The Arrow files backing this dataset, as `[{"filename": path}, ...]`."""
        return [{"filename": path} for path in self._data_files + self._indices_files]

    @property
    def num_rows(self) -> int:
        return self._indices.num_rows if self._indices is not None else self._data.num_rows

    @property
    def num_columns(self) -> int:
        return self._data.num_columns

    @property
    def column_names(self) -> list[str]:
        return self._data.column_names

    @property
    def shape(self) -> tuple[int, int]:
        return (self.num_rows, self._data.num_columns)

    @property
    def format(self) -> dict:
        return {
            "type": self._format_type,
            "format_kwargs": self._format_kwargs,
            "columns": self.column_names if self._format_columns is None else self._format_columns,
            "output_all_columns": self._output_all_columns,
        }

    def __getattr__(self, name: str):
        # DatasetInfo fields read through the dataset (ds.description, ds.builder_name, ...)
        if name in {"builder_name", "citation", "config_name", "dataset_size", "description", "download_checksums",
                    "download_size", "homepage", "license", "size_in_bytes", "supervised_keys", "version"}:
            return getattr(self._info, name, None)
        raise AttributeError(f"'Dataset' object has no attribute {name!r}")

    def __len__(self) -> int:
        return self.num_rows

    def __repr__(self) -> str:
        return f"Dataset({{\n    features: {list(self.features.keys())},\n    num_rows: {self.num_rows}\n}})"

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        return None

    # ------------------------------------------------------------------ access

    def _getitem(self, key, format_type=_KEEP, format_columns=_KEEP, output_all_columns=_KEEP, format_kwargs=_KEEP):
        table = query_table(self._data, key, indices=self._indices)
        return format_table(
            table,
            key,
            self._format_type if format_type is _KEEP else format_type,
            self._format_columns if format_columns is _KEEP else format_columns,
            self._output_all_columns if output_all_columns is _KEEP else output_all_columns,
            self._format_kwargs if format_kwargs is _KEEP else format_kwargs,
        )

    def __getitem__(self, key):
        """Row (int), rows (slice / list / array / range: dict of columns) or column (str: a list).

        >>> Dataset.from_dict({"a": [1, 2, 3]})[-1]
        {'a': 3}
        """
        return self._getitem(key)

    def __getitems__(self, keys: list) -> list:
        """Rows for a torch DataLoader batch sampler: a list of row dicts."""
        batch = self._getitem(keys)
        n = len(keys)
        return [{column: values[i] for column, values in batch.items()} for i in range(n)]

    def _iter_tables(self, batch_size: int, drop_last_batch: bool = False):
        n = self.num_rows
        stop = n - n % batch_size if drop_last_batch else n
        for start in range(0, stop, batch_size):
            yield query_table(self._data, slice(start, min(start + batch_size, n)), indices=self._indices)

    def __iter__(self):
        """Rows one by one, formatted; Arrow data is read 1000 rows at a time."""
        plain = self._format_type is None and self._format_columns is None
        for table in self._iter_tables(1000):
            if plain:
                yield from iter_python_rows(table, batch_size=table.num_rows or 1)
                continue
            for i in range(table.num_rows):
                yield format_table(table.slice(i, 1), 0, self._format_type, self._format_columns,
                                   self._output_all_columns, self._format_kwargs)

    def iter(self, batch_size: int, drop_last_batch: bool = False):
        """Formatted batches of `batch_size` rows (the last one shorter unless `drop_last_batch`).

        >>> [b["a"] for b in Dataset.from_dict({"a": [1, 2, 3]}).iter(batch_size=2)]
        [[1, 2], [3]]
        """
        for table in self._iter_tables(batch_size, drop_last_batch):
            yield format_table(table, range(table.num_rows), self._format_type, self._format_columns,
                               self._output_all_columns, self._format_kwargs)

    # ------------------------------------------------------------------ formats

    def set_format(self, type: str | None = None, columns: list | None = None, output_all_columns: bool = False,
                   **format_kwargs) -> None:
        """Set the output of `__getitem__` / iteration in place: None/'python', 'numpy', 'torch', 'pandas', 'arrow'.

        >>> ds = Dataset.from_dict({"a": [1, 2]})
        >>> ds.set_format("numpy")
        >>> ds["a"]
        array([1, 2])
        """
        format_kwargs.update(format_kwargs.pop("format_kwargs", None) or {})
        type = canonical_format_type(type)
        if type == "torch":
            try:
                import torch  # noqa: F401
            except ImportError as error:
                raise MissingDependencyError("format 'torch' needs PyTorch: pip install torch") from error
        if type == "custom" and not callable(format_kwargs.get("transform")):
            raise DataError("format 'custom' needs a callable transform= (use set_transform)")
        if isinstance(columns, str):
            columns = [columns]
        if columns is not None:
            columns = list(columns)
            missing = [c for c in columns if c not in self._data.column_names]
            if missing:
                raise DataError(
                    f"Columns {missing} not in the dataset. Current columns in the dataset: {self._data.column_names}"
                )
        self._format_type = type
        self._format_kwargs = format_kwargs
        self._format_columns = columns
        self._output_all_columns = output_all_columns
        self._fingerprint = update_fingerprint(
            self._fingerprint, "set_format",
            {"type": type, "columns": columns, "output_all_columns": output_all_columns, **format_kwargs},
        )

    def reset_format(self) -> None:
        """Back to Python objects for every column."""
        self.set_format()

    def set_transform(self, transform: Callable | None, columns: list | None = None,
                      output_all_columns: bool = False) -> None:
        """Format on the fly with `transform(batch_dict) -> dict` (applied when rows are read)."""
        if transform is None:
            self.set_format(None, columns=columns, output_all_columns=output_all_columns)
        else:
            self.set_format("custom", columns=columns, output_all_columns=output_all_columns, transform=transform)

    def with_format(self, type: str | None = None, columns: list | None = None, output_all_columns: bool = False,
                    **format_kwargs) -> Dataset:
        """A copy of the dataset with the given format (the data is shared)."""
        dataset = self._shallow_copy()
        dataset.set_format(type=type, columns=columns, output_all_columns=output_all_columns, **format_kwargs)
        return dataset

    def with_transform(self, transform: Callable | None, columns: list | None = None,
                       output_all_columns: bool = False) -> Dataset:
        """A copy of the dataset formatted on the fly by `transform`."""
        dataset = self._shallow_copy()
        dataset.set_transform(transform, columns=columns, output_all_columns=output_all_columns)
        return dataset

    @contextlib.contextmanager
    def formatted_as(self, type: str | None = None, columns: list | None = None, output_all_columns: bool = False,
                     **format_kwargs):
        """Temporarily set the format inside a `with` block."""
        old = (self._format_type, self._format_columns, self._output_all_columns, dict(self._format_kwargs),
               self._fingerprint)
        try:
            self.set_format(type, columns, output_all_columns, **format_kwargs)
            yield
        finally:
            self._format_type, self._format_columns, self._output_all_columns, self._format_kwargs = old[:4]
            self._fingerprint = old[4]

    def _shallow_copy(self) -> Dataset:
        new = Dataset.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._info = copy.deepcopy(self._info)
        new._format_kwargs = dict(self._format_kwargs)
        new._format_columns = list(self._format_columns) if self._format_columns is not None else None
        new._data_files = list(self._data_files)
        new._indices_files = list(self._indices_files)
        return new

    # ------------------------------------------------------------------ export

    def to_dict(self, batch_size: int | None = None, batched: bool = False):
        """All rows as a dict of columns, or (batched) an iterator of such dicts."""
        if not batched:
            return query_table(self._data, slice(0, len(self)), self._indices).to_pydict()
        batch_size = batch_size or 1000
        return (t.to_pydict() for t in self._iter_tables(batch_size))

    def to_list(self) -> list[dict]:
        """All rows as a list of dicts."""
        return query_table(self._data, slice(0, len(self)), self._indices).to_pylist()

    def to_pandas(self, batch_size: int | None = None, batched: bool = False):
        """All rows as a pandas DataFrame, or (batched) an iterator of DataFrames."""
        if not batched:
            table = self._data if self._indices is None else query_table(self._data, slice(0, len(self)), self._indices)
            return table.to_pandas()
        batch_size = batch_size or 1000
        return (t.to_pandas() for t in self._iter_tables(batch_size))

    def to_iterable_dataset(self, num_shards: int | None = 1):
        """An IterableDataset streaming this dataset's rows in `num_shards` contiguous shards."""
        from snuggle.data.iterable_dataset import dataset_to_iterable_dataset

        return dataset_to_iterable_dataset(self, num_shards=num_shards or 1)

    def to_csv(self, path_or_buf, batch_size: int | None = None, num_proc: int | None = None,
               storage_options: dict | None = None, **to_csv_kwargs) -> int:
        """Write the rows as CSV (pandas.to_csv options); returns the number of bytes written."""
        from snuggle.data.io import dataset_to_csv

        return dataset_to_csv(self, path_or_buf, batch_size=batch_size, num_proc=num_proc,
                              storage_options=storage_options, **to_csv_kwargs)

    def to_json(self, path_or_buf, batch_size: int | None = None, num_proc: int | None = None,
                storage_options: dict | None = None, **to_json_kwargs) -> int:
        """Write the rows as JSON Lines (by default); returns the number of bytes written."""
        from snuggle.data.io import dataset_to_json

        return dataset_to_json(self, path_or_buf, batch_size=batch_size, num_proc=num_proc,
                               storage_options=storage_options, **to_json_kwargs)

    def to_parquet(self, path_or_buf, batch_size: int | None = None, storage_options: dict | None = None,
                   **parquet_writer_kwargs) -> int:
        """Write the rows as Parquet; returns the number of bytes written."""
        from snuggle.data.io import dataset_to_parquet

        return dataset_to_parquet(self, path_or_buf, batch_size=batch_size, storage_options=storage_options,
                                  **parquet_writer_kwargs)

    @staticmethod
    def from_csv(path_or_paths, split=None, features=None, cache_dir=None, keep_in_memory=False, num_proc=None,
                 **kwargs) -> Dataset:
        """Read CSV file(s) into a cached, memory-mapped Dataset (kwargs: pandas.read_csv options)."""
        from snuggle.data.io import read_csv

        return read_csv(path_or_paths, split=split, features=features, cache_dir=cache_dir,
                        keep_in_memory=keep_in_memory, num_proc=num_proc, **kwargs)

    @staticmethod
    def from_json(path_or_paths, split=None, features=None, cache_dir=None, keep_in_memory=False, field=None,
                  num_proc=None, **kwargs) -> Dataset:
        """Read JSON / JSON Lines file(s) (the list under `field` if given)."""
        from snuggle.data.io import read_json

        return read_json(path_or_paths, split=split, features=features, cache_dir=cache_dir,
                         keep_in_memory=keep_in_memory, field=field, num_proc=num_proc, **kwargs)

    @staticmethod
    def from_parquet(path_or_paths, split=None, features=None, cache_dir=None, keep_in_memory=False, columns=None,
                     num_proc=None, **kwargs) -> Dataset:
        """Read Parquet file(s), optionally only `columns`."""
        from snuggle.data.io import read_parquet

        return read_parquet(path_or_paths, split=split, features=features, cache_dir=cache_dir,
                            keep_in_memory=keep_in_memory, columns=columns, num_proc=num_proc, **kwargs)

    @staticmethod
    def from_text(path_or_paths, split=None, features=None, cache_dir=None, keep_in_memory=False, num_proc=None,
                  **kwargs) -> Dataset:
        """Read text file(s): one row per line (sample_by="line"), paragraph or document."""
        from snuggle.data.io import read_text

        return read_text(path_or_paths, split=split, features=features, cache_dir=cache_dir,
                         keep_in_memory=keep_in_memory, num_proc=num_proc, **kwargs)

    # ------------------------------------------------------------------ delegated operations

    def map(self, function: Callable | None = None, *args, **kwargs) -> Dataset:
        """Apply `function` to rows or batches (see snuggle.data.map.dataset_map for the arguments)."""
        from snuggle.data.map import dataset_map

        return dataset_map(self, function, *args, **kwargs)

    def filter(self, function: Callable | None = None, *args, **kwargs) -> Dataset:
        """Keep the rows for which `function` is true (see snuggle.data.map.dataset_filter)."""
        from snuggle.data.map import dataset_filter

        return dataset_filter(self, function, *args, **kwargs)

    def push_to_hub(self, repo_id: str, config_name: str = "default", split: str | None = None, **kwargs):
        """Upload the rows as parquet shards + README.md to the Hub dataset repo `repo_id` (see
        snuggle.hub.dataset_push.push_dataset_to_hub for the keyword arguments)."""
        from snuggle.hub.dataset_push import push_dataset_to_hub

        return push_dataset_to_hub(self, repo_id, config_name=config_name, split=split, **kwargs)

    def save_to_disk(self, dataset_path: str, max_shard_size: int | str | None = None, num_shards: int | None = None,
                     num_proc: int | None = None, storage_options: dict | None = None) -> None:
        """Save in the `datasets` layout (data-*.arrow, dataset_info.json, state.json)."""
        from snuggle.data.disk import save_to_disk

        save_to_disk(self, dataset_path, max_shard_size=max_shard_size, num_shards=num_shards, num_proc=num_proc,
                     storage_options=storage_options)

    @staticmethod
    def load_from_disk(dataset_path: str, keep_in_memory: bool | None = None, storage_options: dict | None = None):
        """Load a folder written by `save_to_disk` (by snuggle or by `datasets`)."""
        from snuggle.data.disk import load_dataset_from_disk

        return load_dataset_from_disk(dataset_path, keep_in_memory=keep_in_memory)

    def cleanup_cache_files(self) -> int:
        """Delete the `cache-*.arrow` files beside this dataset's files, except those in use; returns the count."""
        if not self._data_files:
            return 0
        in_use = {os.path.abspath(p) for p in self._data_files + self._indices_files}
        folder = os.path.dirname(os.path.abspath(self._data_files[0]))
        removed = 0
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if name.startswith("cache-") and name.endswith(".arrow") and path not in in_use:
                os.remove(path)
                removed += 1
        return removed

    def _get_cache_file_path(self, fingerprint: str) -> str:
        """`cache-<fingerprint>.arrow` beside the first backing file (a temporary folder when caching is off)."""
        if is_caching_enabled() and self._data_files:
            folder = os.path.dirname(os.path.abspath(self._data_files[0]))
            return os.path.join(folder, f"cache-{fingerprint}.arrow")
        return os.path.join(get_temporary_cache_files_directory(), f"cache-{generate_random_fingerprint()}.arrow")

