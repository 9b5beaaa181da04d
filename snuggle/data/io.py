"""Dataset <-> csv / json / parquet / text files: the readers behind `Dataset.from_csv` & co.
and the writers behind `Dataset.to_csv` / `to_json` / `to_parquet`.

Readers go through the `load_dataset` machinery (same builders, same cache), with the
reference's defaults: a single path or list gives the split "train" (or `split=`), a dict gives
a DatasetDict.

Writers produce what the reference produces, byte for byte where it is deterministic:
- CSV: pandas `to_csv` per batch of 1000 rows, header once, `index=False` by default.
- JSON: pandas `to_json`, `orient="records"` and `lines=True` by default (JSON Lines).
- Parquet: one `pq.ParquetWriter` with the features' schema, row groups of at most ~100 MB,
  content-defined chunking and a page index, as datasets 5.

>>> from snuggle.data.arrow_dataset import Dataset          # doctest: +SKIP
>>> dataset_to_csv(Dataset.from_dict({"a": [1, 2]}), "a.csv")   # doctest: +SKIP
8
"""

from __future__ import annotations

import json
import os
from typing import Any

from snuggle.errors import DataError

DEFAULT_WRITER_BATCH_SIZE = 1000
MAX_ROW_GROUP_BYTES = 100 * 10**6  # "100MB", as the reference
DEFAULT_CDC_OPTIONS = {"min_chunk_size": 256 * 1024, "max_chunk_size": 1024 * 1024, "norm_level": 0}


# ---------------------------------------------------------------------------------- readers


def read_files(builder_name: str, path_or_paths, split=None, features=None, cache_dir=None,
               keep_in_memory: bool = False, streaming: bool = False, num_proc: int | None = None, **kwargs):
    """Load `path_or_paths` with builder `builder_name`; one split unless a dict of splits is given.

    >>> ds = read_files("csv", "train.csv")            # doctest: +SKIP
    """
    from snuggle.data.load import load_dataset_builder

    if isinstance(path_or_paths, dict):
        data_files = {str(k): v for k, v in path_or_paths.items()}
        wanted = split
    else:
        split = str(split) if split else "train"
        data_files = {split: path_or_paths if isinstance(path_or_paths, (list, tuple)) else [path_or_paths]}
        data_files = {split: [os.fspath(p) for p in data_files[split]]}
        wanted = split
    builder = load_dataset_builder(builder_name, data_files=data_files, cache_dir=cache_dir, features=features,
                                   **kwargs)
    if streaming:
        return builder.as_streaming_dataset(split=wanted)
    builder.download_and_prepare(num_proc=num_proc)
    return builder.as_dataset(split=wanted, in_memory=keep_in_memory)


def read_csv(path_or_paths, split=None, features=None, cache_dir=None, keep_in_memory=False, num_proc=None,
             **kwargs):
    """`Dataset.from_csv`: kwargs are the csv builder's (pandas.read_csv) options."""
    return read_files("csv", path_or_paths, split, features, cache_dir, keep_in_memory, num_proc=num_proc, **kwargs)


def read_json(path_or_paths, split=None, features=None, cache_dir=None, keep_in_memory=False, field=None,
              num_proc=None, **kwargs):
    """`Dataset.from_json`: JSON Lines, a JSON array, or the list under `field`."""
    return read_files("json", path_or_paths, split, features, cache_dir, keep_in_memory, num_proc=num_proc,
                      field=field, **kwargs)


def read_parquet(path_or_paths, split=None, features=None, cache_dir=None, keep_in_memory=False, columns=None,
                 num_proc=None, filters=None, **kwargs):
    """`Dataset.from_parquet`: optionally only `columns`, rows matching `filters`."""
    return read_files("parquet", path_or_paths, split, features, cache_dir, keep_in_memory, num_proc=num_proc,
                      columns=columns, filters=filters, **kwargs)


def read_text(path_or_paths, split=None, features=None, cache_dir=None, keep_in_memory=False, num_proc=None,
              keep_linebreaks=False, sample_by="line", **kwargs):
    """`Dataset.from_text`: one row per line / paragraph / document."""
    return read_files("text", path_or_paths, split, features, cache_dir, keep_in_memory, num_proc=num_proc,
                      keep_linebreaks=keep_linebreaks, sample_by=sample_by, **kwargs)


# ---------------------------------------------------------------------------------- writers


def _rows_table(dataset, start: int, stop: int):
    """Rows [start, stop) of `dataset` as a pa.Table, through its indices mapping if any."""
    data = dataset._data
    indices = getattr(dataset, "_indices", None)
    if indices is None:
        return data.slice(start, stop - start)
    positions = indices.column(0).slice(start, stop - start)
    return data.take(positions)


def _open_target(path_or_buf, compression=None):
    """(file object, needs closing) for a path (atomic: temp file + rename) or an open binary buffer."""
    if isinstance(path_or_buf, (str, bytes, os.PathLike)):
        return _AtomicTarget(os.fsdecode(path_or_buf), compression), True
    if compression:
        raise DataError(f"compression={compression!r} is only supported when writing to a path, not to a buffer")
    return path_or_buf, False


class _AtomicTarget:
    """A binary file written beside `path` and renamed onto it on close (optionally compressed)."""

    def __init__(self, path: str, compression=None):
        import tempfile

        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
        raw = os.fdopen(fd, "wb")
        self.raw = raw
        self.file = _compressed(raw, path, compression)

    def write(self, data: bytes) -> int:
        return self.file.write(data)

    def commit(self):
        if self.file is not self.raw:
            self.file.close()
        self.raw.flush()
        os.fsync(self.raw.fileno())
        self.raw.close()
        os.replace(self.tmp, self.path)

    def discard(self):
        import contextlib

        with contextlib.suppress(Exception):
            self.raw.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


def _compressed(raw, path: str, compression):
    if compression == "infer":
        compression = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}.get(os.path.splitext(path)[1])
    if compression is None:
        return raw
    if compression == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0)
    if compression == "bz2":
        import bz2

        return bz2.BZ2File(raw, "wb")
    if compression == "xz":
        import lzma

        return lzma.LZMAFile(raw, "wb")
    raise DataError(f"compression must be one of None, 'infer', 'gzip', 'bz2', 'xz'; got {compression!r}")


def _write_batches(dataset, path_or_buf, batch_size, render, desc, compression=None) -> int:
    from snuggle.utils.progress import progress_bar

    target, owned = _open_target(path_or_buf, compression)
    written = 0
    try:
        num_rows = len(dataset)
        offsets = range(0, num_rows, batch_size) if num_rows else [0]
        for offset in progress_bar(offsets, unit="ba", desc=desc):
            written += target.write(render(offset))
        if owned:
            target.commit()
    except BaseException:
        if owned:
            target.discard()
        raise
    return written


def dataset_to_csv(dataset, path_or_buf, batch_size: int | None = None, num_proc: int | None = None,
                   storage_options: dict | None = None, **to_csv_kwargs) -> int:
    """Write `dataset` as CSV (pandas.to_csv options; header=True, index=False by default); returns bytes written."""
    if num_proc is not None and num_proc <= 0:
        raise DataError(f"num_proc {num_proc} must be an integer > 0")
    batch_size = batch_size or DEFAULT_WRITER_BATCH_SIZE
    to_csv_kwargs.pop("path_or_buf", None)
    header = to_csv_kwargs.pop("header", True)
    index = to_csv_kwargs.pop("index", False)

    def render(offset: int) -> bytes:
        batch = _rows_table(dataset, offset, min(offset + batch_size, len(dataset)))
        text = batch.to_pandas(integer_object_nulls=True).to_csv(
            path_or_buf=None, header=header if offset == 0 else False, index=index, **to_csv_kwargs
        )
        return text.encode("utf-8")

    return _write_batches(dataset, path_or_buf, batch_size, render, "Creating CSV from Arrow format")


def dataset_to_json(dataset, path_or_buf, batch_size: int | None = None, num_proc: int | None = None,
                    storage_options: dict | None = None, **to_json_kwargs) -> int:
    """Write `dataset` as JSON (orient="records", lines=True by default: JSON Lines); returns bytes written."""
    if num_proc is not None and num_proc <= 0:
        raise DataError(f"num_proc {num_proc} must be an integer > 0")
    batch_size = batch_size or DEFAULT_WRITER_BATCH_SIZE
    to_json_kwargs.pop("path_or_buf", None)
    orient = to_json_kwargs.pop("orient", "records")
    lines = to_json_kwargs.pop("lines", orient == "records")
    if "index" not in to_json_kwargs and orient in ("split", "table"):
        to_json_kwargs["index"] = False
    default_compression = "infer" if isinstance(path_or_buf, (str, bytes, os.PathLike)) else None
    compression = to_json_kwargs.pop("compression", default_compression)
    if compression not in (None, "infer", "gzip", "bz2", "xz"):
        raise DataError(f"to_json: compression must be None, 'infer', 'gzip', 'bz2' or 'xz'; got {compression!r}")
    if not lines and batch_size < len(dataset):
        raise DataError(
            f"to_json(lines=False) would write {len(dataset)} rows in batches of {batch_size} as several JSON "
            "documents; pass batch_size >= the number of rows, or lines=True"
        )

    def render(offset: int) -> bytes:
        batch = _rows_table(dataset, offset, min(offset + batch_size, len(dataset)))
        text = batch.to_pandas(integer_object_nulls=True).to_json(
            path_or_buf=None, orient=orient, lines=lines, **to_json_kwargs
        )
        if not text.endswith("\n"):
            text += "\n"
        return text.encode("utf-8")

    if len(dataset) == 0 and lines:
        return _write_batches(dataset, path_or_buf, batch_size, lambda offset: b"", "Creating json from Arrow format",
                              compression)
    return _write_batches(dataset, path_or_buf, batch_size, render, "Creating json from Arrow format", compression)


def _parquet_column_options(schema) -> dict:
    import pyarrow as pa

    def leaves(path: str, t) -> list[str]:
        if isinstance(t, pa.ExtensionType):
            t = t.storage_type
        if pa.types.is_struct(t):
            return [leaf for f in t for leaf in leaves(f"{path}.{f.name}", f.type)]
        if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            return leaves(f"{path}.list.element", t.value_type)
        return [path]

    all_leaves = [leaf for f in schema for leaf in leaves(f.name, f.type)]
    return {"compression": {leaf: "snappy" for leaf in all_leaves}, "use_dictionary": all_leaves,
            "column_encoding": {}}


def dataset_to_parquet(dataset, path_or_buf, batch_size: int | None = None, storage_options: dict | None = None,
                       use_content_defined_chunking: Any = True, write_page_index: bool = True,
                       **parquet_writer_kwargs) -> int:
    """Write `dataset` as Parquet (pyarrow.parquet.ParquetWriter options); returns the Arrow bytes written."""
    import pyarrow.parquet as pq

    from snuggle.utils.progress import progress_bar

    num_rows = len(dataset)
    if not batch_size:
        nbytes = dataset._data.nbytes
        batch_size = max(1, num_rows * MAX_ROW_GROUP_BYTES // nbytes) if nbytes > 0 else 1
    if use_content_defined_chunking is True:
        use_content_defined_chunking = dict(DEFAULT_CDC_OPTIONS)
    parquet_writer_kwargs.pop("path_or_buf", None)
    schema = dataset.features.arrow_schema
    target, owned = _open_target(path_or_buf)
    sink = target.raw if owned else target
    written = 0
    try:
        writer = pq.ParquetWriter(sink, schema=schema, use_content_defined_chunking=use_content_defined_chunking,
                                  write_page_index=write_page_index, **_parquet_column_options(schema),
                                  **parquet_writer_kwargs)
        for offset in progress_bar(range(0, num_rows, batch_size), unit="ba", desc="Creating parquet from Arrow format"):
            batch = _rows_table(dataset, offset, min(offset + batch_size, num_rows))
            writer.write_table(batch)
            written += batch.nbytes
        if use_content_defined_chunking is not False:
            writer.add_key_value_metadata({"content_defined_chunking": json.dumps(use_content_defined_chunking)})
        writer.close()
        if owned:
            target.commit()
    except BaseException:
        if owned:
            target.discard()
        raise
    return written
