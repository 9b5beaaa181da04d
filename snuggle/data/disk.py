"""save_to_disk / load_from_disk in the folder layout of the `datasets` library.

A saved `Dataset` is a folder::

    data-00000-of-00002.arrow   Arrow IPC *stream* files, one per contiguous shard of rows
    data-00001-of-00002.arrow
    dataset_info.json           DatasetInfo (features, description, ...), top-level keys sorted
    state.json                  _data_files, _fingerprint, _format_*, _output_all_columns, _split

and a saved `DatasetDict` is a folder with `dataset_dict.json` (`{"splits": [...]}`) and one
such folder per split. Either library loads the other's output.

Differences from the reference, on purpose:
- The whole folder is written to a hidden temporary folder beside the target and swapped in
  at the end, so an existing dataset at the path is replaced only once the new one is
  complete; a crash (even kill -9) mid-save leaves the previous data readable.
- A non-empty folder that is not a saved dataset is never replaced (we refuse instead of
  mixing our files into, or deleting, someone else's folder).
- With `num_proc`, shards are written by threads (pyarrow releases the GIL), not processes.

>>> from snuggle.data import Dataset, load_from_disk   # doctest: +SKIP
>>> Dataset.from_dict({"a": [1, 2]}).save_to_disk("/tmp/ds")   # doctest: +SKIP
>>> load_from_disk("/tmp/ds")["a"]   # doctest: +SKIP
[1, 2]
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from snuggle.errors import DataError
from snuggle.utils.atomic import fsync_path

STATE_JSON = "state.json"
INFO_JSON = "dataset_info.json"
DICT_JSON = "dataset_dict.json"
DEFAULT_MAX_SHARD_SIZE = "500MB"  # the reference's config.MAX_SHARD_SIZE
# Rows per record batch aim at this many bytes: big batches keep loaded tables in few chunks
# (fast downstream ops) while a batch taken through an indices mapping stays small in RAM.
RECORD_BATCH_TARGET_BYTES = 16 * 2**20

_SIZE_UNITS = [  # longest suffixes first; binary units are exact, decimal "b" means bits
    ("PIB", 2**50), ("TIB", 2**40), ("GIB", 2**30), ("MIB", 2**20), ("KIB", 2**10),
    ("PB", 10**15), ("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3),
]


def parse_size(size: int | str) -> int:
    """A size like 500, "500MB", "1GiB" or "8Mb" (bits) in bytes, as the reference reads it.

    >>> parse_size("500MB"), parse_size("1KiB"), parse_size("8kb")
    (500000000, 1024, 1000)
    """
    if isinstance(size, int) and not isinstance(size, bool):
        return size
    if isinstance(size, str):
        upper = size.strip().upper()
        for suffix, factor in _SIZE_UNITS:
            if upper.endswith(suffix) and upper[: -len(suffix)].strip().isdigit():
                value = int(upper[: -len(suffix)]) * factor
                is_bits = suffix in ("PB", "TB", "GB", "MB", "KB") and size.strip().endswith("b")
                return value // 8 if is_bits else value
        if upper.isdigit():
            return int(upper)
    raise DataError(f"max_shard_size={size!r}: expected an int (bytes) or digits followed by a unit like '500MB' or '1GiB'")


def contiguous_shard_bounds(num_rows: int, num_shards: int) -> list[tuple[int, int]]:
    """(start, end) of each contiguous shard, the first `num_rows % num_shards` one row longer
    (the split of `Dataset.shard(contiguous=True)`).

    >>> contiguous_shard_bounds(5, 2)
    [(0, 3), (3, 5)]
    """
    div, mod = divmod(num_rows, num_shards)
    bounds = []
    for index in range(num_shards):
        start = div * index + min(index, mod)
        bounds.append((start, start + div + (1 if index < mod else 0)))
    return bounds


def plan_num_shards(data_nbytes: int, num_rows: int, max_shard_size, num_shards, num_proc) -> int:
    """How many data files save_to_disk writes (the reference's rule)."""
    if max_shard_size is not None and num_shards is not None:
        raise DataError("save_to_disk: pass either max_shard_size or num_shards, not both")
    if num_shards is not None:
        if not isinstance(num_shards, int) or num_shards < 1:
            raise DataError(f"save_to_disk: num_shards must be a positive int, got {num_shards!r}")
        return num_shards
    limit = parse_size(max_shard_size if max_shard_size is not None else DEFAULT_MAX_SHARD_SIZE)
    if limit <= 0:
        raise DataError(f"save_to_disk: max_shard_size must be positive, got {max_shard_size!r}")
    planned = max(int(data_nbytes / limit) + 1, num_proc or 1)
    # a few huge rows: no more shards than rows (but keep one file for an empty dataset)
    return max(1, min(num_rows, planned))


# ----------------------------------------------------------------------------- saving


def save_to_disk(
    dataset_or_dict,
    dataset_path: str | os.PathLike,
    max_shard_size: int | str | None = None,
    num_shards: int | dict[str, int] | None = None,
    num_proc: int | None = None,
    storage_options: dict | None = None,
) -> None:
    """Save a Dataset or DatasetDict to `dataset_path` in the `datasets` folder layout.

    `num_shards` is an int for a Dataset and a `{split: int}` dict for a DatasetDict.
    The folder appears complete or not at all (written beside it, then swapped in).

    >>> ds = Dataset.from_dict({"a": [1, 2, 3]})              # doctest: +SKIP
    >>> save_to_disk(ds, "out/ds", num_shards=2)               # doctest: +SKIP
    >>> sorted(os.listdir("out/ds"))                           # doctest: +SKIP
    ['data-00000-of-00002.arrow', 'data-00001-of-00002.arrow', 'dataset_info.json', 'state.json']
    """
    remote = _remote_filesystem(dataset_path, storage_options)
    if remote is not None:
        fs, remote_path = remote
        import tempfile

        with tempfile.TemporaryDirectory(prefix="snuggle-save-") as local:
            local_path = os.path.join(local, "dataset")
            save_to_disk(dataset_or_dict, local_path, max_shard_size, num_shards, num_proc)
            fs.makedirs(remote_path, exist_ok=True)
            fs.put(local_path.rstrip("/") + "/", remote_path, recursive=True)
        return

    target = os.path.abspath(_local_path(dataset_path))
    is_dict = isinstance(dataset_or_dict, dict)
    datasets = dict(dataset_or_dict) if is_dict else {None: dataset_or_dict}
    if is_dict:
        if num_shards is not None and not isinstance(num_shards, dict):
            raise DataError(
                "DatasetDict.save_to_disk: num_shards must be one int per split, e.g. {'train': 128, 'test': 4}; "
                f"got {num_shards!r}"
            )
        for split in datasets:
            if not isinstance(split, str) or not split or "/" in split or split in (".", ".."):
                raise DataError(f"DatasetDict.save_to_disk: split name {split!r} cannot be a folder name")
    for ds in datasets.values():
        _refuse_overwriting_own_files(ds, target)
    _check_replaceable(target)

    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    _remove_stale_temporaries(parent, os.path.basename(target))
    tmp = os.path.join(parent, f".{os.path.basename(target)}.saving-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.mkdir(tmp)
    try:
        if is_dict:
            for split, ds in datasets.items():
                shards = (num_shards or {}).get(split)
                _write_dataset_folder(ds, os.path.join(tmp, split), max_shard_size, shards, num_proc)
            _write_json(os.path.join(tmp, DICT_JSON), {"splits": list(datasets)}, indent=None)
        else:
            _write_dataset_folder(datasets[None], tmp, max_shard_size, num_shards, num_proc)
        fsync_path(tmp)
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_dataset_folder(ds, folder: str, max_shard_size, num_shards, num_proc) -> None:
    """Write one Dataset's shards, state.json and dataset_info.json into `folder` (created)."""
    import pyarrow as pa

    os.makedirs(folder, exist_ok=True)
    data: pa.Table = ds._data
    indices = ds._indices
    num_rows = len(ds)
    shards = plan_num_shards(data.nbytes, num_rows, max_shard_size, num_shards, num_proc)
    state = _state_for(ds, shards)  # before writing: a non-JSON format kwarg fails fast
    features = ds.features
    schema = data.schema.with_metadata(
        {"huggingface": json.dumps({"info": {"features": features.to_dict()}})} if features is not None else {}
    )
    # Row positions into `data` of the rows to save, in order (None = rows are data's own order).
    positions = None
    if indices is not None:
        positions = indices.column(0).combine_chunks() if indices.num_columns else pa.array([], pa.uint64())
    avg_row_bytes = max(1, data.nbytes // max(1, data.num_rows))
    rows_per_batch = max(1, RECORD_BATCH_TARGET_BYTES // avg_row_bytes)

    def write_shard(job: tuple[int, tuple[int, int]]) -> int:
        index, (start, end) = job
        path = os.path.join(folder, state["_data_files"][index]["filename"])
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            for lo in range(start, end, rows_per_batch):
                hi = min(end, lo + rows_per_batch)
                writer.write_table(_rows(data, positions, lo, hi).replace_schema_metadata(schema.metadata))
            if start == end:  # an empty shard still carries the schema (done by new_stream)
                pass
        fsync_path(path)
        return end - start

    jobs = list(enumerate(contiguous_shard_bounds(num_rows, shards)))
    from snuggle.utils.progress import progress_bar

    with progress_bar(total=num_rows, unit=" examples", desc=f"Saving the dataset ({shards} shards)",
                      disable=None if num_rows > 100_000 else True) as bar:
        if num_proc and num_proc > 1 and shards > 1:
            with ThreadPoolExecutor(max_workers=num_proc) as pool:
                for written in pool.map(write_shard, jobs):
                    bar.update(written)
        else:
            for job in jobs:
                bar.update(write_shard(job))

    _write_json(os.path.join(folder, STATE_JSON), state, indent=2, sort_keys=True)
    info = ds.info.to_dict() if ds.info is not None else {}
    # Only top-level keys are sorted: sorting nested ones would reorder struct fields of features.
    _write_json(os.path.join(folder, INFO_JSON), {key: info[key] for key in sorted(info)}, indent=2)


def _rows(data, positions, lo: int, hi: int):
    """Rows lo..hi of the dataset as a table: a zero-copy slice when they are contiguous in `data`."""
    if positions is None:
        return data.slice(lo, hi - lo)
    import numpy as np

    chunk = positions.slice(lo, hi - lo)
    values = chunk.to_numpy(zero_copy_only=False)
    if len(values) and int(values[-1]) - int(values[0]) == len(values) - 1 and (
        len(values) < 3 or bool(np.all(np.diff(values.astype(np.int64)) == 1))
    ):
        return data.slice(int(values[0]), len(values))  # e.g. select(range(a, b)) or a fresh shard
    return data.take(chunk)


def _state_for(ds, num_shards: int) -> dict[str, Any]:
    """The JSON-serializable state.json of the reference."""
    format_kwargs = dict(ds._format_kwargs or {})
    for key, value in format_kwargs.items():
        try:
            json.dumps(value)
        except TypeError:
            raise DataError(
                f"save_to_disk: format kwarg {key!r}={value!r} is not JSON serializable; "
                "reset the format (ds.reset_format()) or use JSON values before saving"
            ) from None
    columns = ds._format_columns
    return {
        "_data_files": [{"filename": f"data-{i:05d}-of-{num_shards:05d}.arrow"} for i in range(num_shards)],
        "_fingerprint": ds._fingerprint,
        "_format_columns": list(columns) if columns is not None else None,
        "_format_kwargs": format_kwargs,
        "_format_type": ds._format_type,
        "_output_all_columns": bool(ds._output_all_columns),
        "_split": str(ds.split) if ds.split is not None else None,
    }


def _write_json(path: str, obj: Any, indent: int | None, sort_keys: bool = False) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, sort_keys=sort_keys)  # ensure_ascii as the reference
        f.flush()
        os.fsync(f.fileno())


def _refuse_overwriting_own_files(ds, target: str) -> None:
    """A dataset memory-mapped from the folder being replaced cannot be saved over it (as the reference)."""
    real_target = os.path.realpath(target)
    for cache_file in getattr(ds, "cache_files", None) or []:
        folder = os.path.dirname(os.path.realpath(cache_file["filename"]))
        if folder == real_target or folder.startswith(real_target + os.sep):
            raise PermissionError(
                f"Tried to overwrite {target} but a dataset can't overwrite itself: it is memory-mapped from "
                f"{cache_file['filename']}. Save to another folder, or load it with keep_in_memory=True first."
            )


def _check_replaceable(target: str) -> None:
    """Refuse to replace a file, or a non-empty folder that is not a saved dataset."""
    if not os.path.lexists(target):
        return
    if not os.path.isdir(target):
        raise DataError(f"save_to_disk: {target} exists and is not a folder; remove it or choose another path")
    entries = os.listdir(target)
    is_saved_dataset = (STATE_JSON in entries and INFO_JSON in entries) or DICT_JSON in entries
    if entries and not is_saved_dataset:
        raise DataError(
            f"save_to_disk: {target} is a non-empty folder that is not a saved dataset "
            f"(found {sorted(entries)[:5]}); save_to_disk replaces the whole folder, so choose an empty or new path"
        )


def _remove_stale_temporaries(parent: str, name: str) -> None:
    """Delete temporary folders left by an earlier save of `name` whose process is gone (e.g. kill -9)."""
    for prefix in (f".{name}.saving-", f".{name}.replaced-"):
        for entry in os.listdir(parent):
            if not entry.startswith(prefix):
                continue
            pid_text = entry[len(prefix):].split("-", 1)[0]
            if pid_text.isdigit() and not _process_alive(int(pid_text)):
                shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _swap_in(tmp: str, target: str) -> None:
    """Make `tmp` appear at `target`: a plain rename, or an atomic exchange with the old folder."""
    if not os.path.lexists(target):
        os.rename(tmp, target)
        return
    if _rename_exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # now holds the previous dataset
        return
    # No atomic exchange (not Linux, old kernel or filesystem): move the old folder aside first.
    # A crash between the two renames leaves the old data complete in the `.replaced-` folder.
    old = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.replaced-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.rename(target, old)
    os.rename(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def _rename_exchange(a: str, b: str) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False when unsupported."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    # nonzero (EINVAL / ENOSYS / EXDEV...): the caller falls back to two renames
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


# ----------------------------------------------------------------------------- loading


def load_from_disk(dataset_path: str | os.PathLike, keep_in_memory: bool | None = None, storage_options: dict | None = None):
    """Load a Dataset or DatasetDict saved by save_to_disk (by snuggle or by `datasets`).

    Data files are memory-mapped unless `keep_in_memory=True`.

    >>> ds = load_from_disk("out/ds")          # doctest: +SKIP
    >>> ds.num_rows                            # doctest: +SKIP
    3
    """
    remote = _remote_filesystem(dataset_path, storage_options)
    if remote is not None:
        return _load_remote(remote, keep_in_memory)
    path = _local_path(dataset_path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Directory {path} not found")
    if os.path.isfile(os.path.join(path, INFO_JSON)) and os.path.isfile(os.path.join(path, STATE_JSON)):
        return load_dataset_from_disk(path, keep_in_memory)
    if os.path.isfile(os.path.join(path, DICT_JSON)):
        return load_dataset_dict_from_disk(path, keep_in_memory)
    raise FileNotFoundError(
        f"Directory {path} is neither a `Dataset` directory (state.json + dataset_info.json) "
        f"nor a `DatasetDict` directory (dataset_dict.json)."
    )


def load_dataset_from_disk(dataset_path: str | os.PathLike, keep_in_memory: bool | None = None):
    """`Dataset.load_from_disk`: one saved Dataset folder."""
    path = os.path.expanduser(os.fspath(dataset_path))
    state_path, info_path = os.path.join(path, STATE_JSON), os.path.join(path, INFO_JSON)
    missing = [p for p in (info_path, state_path) if not os.path.isfile(p)]
    if missing:
        hint = (
            " It is a saved DatasetDict: use load_from_disk or DatasetDict.load_from_disk."
            if os.path.isfile(os.path.join(path, DICT_JSON))
            else " Expected a folder written by Dataset.save_to_disk."
        )
        raise FileNotFoundError(f"No such file: {' nor '.join(repr(p) for p in missing)}.{hint}")
    state = _read_json(state_path)
    info_dict = _read_json(info_path)
    data_files = state.get("_data_files")
    if not isinstance(data_files, list) or not all(isinstance(f, dict) and "filename" in f for f in data_files):
        raise DataError(f"{state_path}: '_data_files' must be a list of {{'filename': ...}}, found {data_files!r}")
    filenames = [os.path.join(path, f["filename"]) for f in data_files]
    for filename in filenames:
        if not os.path.isfile(filename):
            raise DataError(f"{state_path}: lists data file {filename}, which does not exist")

    from snuggle.data.info import DatasetInfo

    info = DatasetInfo.from_dict(info_dict)
    split = state.get("_split")
    dataset = _open_arrow_files(filenames, info, split, bool(keep_in_memory), state.get("_fingerprint"))
    # Always through set_format, as the reference: the loaded fingerprint is derived from the saved one.
    dataset.set_format(
        type=state.get("_format_type"),
        columns=state.get("_format_columns"),
        output_all_columns=bool(state.get("_output_all_columns", False)),
        **(state.get("_format_kwargs") or {}),
    )
    return dataset


def load_dataset_dict_from_disk(dataset_dict_path: str | os.PathLike, keep_in_memory: bool | None = None):
    """`DatasetDict.load_from_disk`: a folder with dataset_dict.json and one folder per split."""
    from snuggle.data.dataset_dict import DatasetDict

    path = os.path.expanduser(os.fspath(dataset_dict_path))
    dict_path = os.path.join(path, DICT_JSON)
    if not os.path.isfile(dict_path):
        hint = (
            " It is a saved Dataset: use load_from_disk or Dataset.load_from_disk."
            if os.path.isfile(os.path.join(path, STATE_JSON))
            else " Expected a folder written by DatasetDict.save_to_disk."
        )
        raise FileNotFoundError(f"No such file: {dict_path!r}.{hint}")
    splits = _read_json(dict_path).get("splits")
    if not isinstance(splits, list):
        raise DataError(f"{dict_path}: expected {{'splits': [names...]}}, found {splits!r}")
    return DatasetDict({split: load_dataset_from_disk(os.path.join(path, split), keep_in_memory) for split in splits})


def _open_arrow_files(filenames: list[str], info, split, in_memory: bool, fingerprint: str | None):
    """A Dataset over the concatenation of Arrow stream files, memory-mapped unless `in_memory`."""
    import pyarrow as pa

    from snuggle.data.arrow_dataset import Dataset
    from snuggle.data.arrow_files import read_arrow_file
    from snuggle.data.mapped_pages import open_mapped_table

    def read(filename: str) -> pa.Table:
        if in_memory:
            return read_arrow_file(filename, in_memory=True)
        try:  # an mmap whose pages a sequential scan (map/filter) can release from the RSS
            return open_mapped_table(filename)
        except (pa.ArrowInvalid, OSError, ValueError) as error:
            raise DataError(f"{filename}: not a readable Arrow IPC stream file ({error})") from error

    tables = [read(f) for f in filenames]
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return Dataset(table, info=info, split=split, fingerprint=fingerprint, data_files=[] if in_memory else filenames)


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(value, dict):
        raise DataError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value


# ----------------------------------------------------------------------------- remote (fsspec)


def _local_path(dataset_path) -> str:
    text = os.fspath(dataset_path)
    return os.path.expanduser(text.removeprefix("file://"))


def _remote_filesystem(dataset_path, storage_options):
    """(fs, path) for a URI like s3://bucket/x or memory://x (through fsspec); None for a local path."""
    text = os.fspath(dataset_path)
    if "://" not in str(text) or str(text).startswith("file://"):
        return None
    try:
        import fsspec
    except ImportError:
        from snuggle.errors import MissingDependencyError

        raise MissingDependencyError(f"{text}: remote paths need fsspec (pip install fsspec)") from None
    return fsspec.core.url_to_fs(text, **(storage_options or {}))


def _load_remote(remote, keep_in_memory):
    """Copy a remote saved dataset to a local temporary folder, then load it from there."""
    import tempfile

    fs, remote_path = remote
    local = os.path.join(tempfile.mkdtemp(prefix="snuggle-load-"), "dataset")
    fs.get(remote_path.rstrip("/") + "/", local, recursive=True)
    return load_from_disk(local, keep_in_memory=keep_in_memory)
