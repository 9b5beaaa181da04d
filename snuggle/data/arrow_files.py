"""Reading and writing Arrow IPC *stream* files, the on-disk format of `datasets` caches.

Reading memory-maps the file, so a table larger than RAM costs address space, not memory.
Writing goes to a temporary file beside the target and is renamed into place only when
complete: a crash never leaves a half-written cache file under its final name.

>>> import os, tempfile, pyarrow as pa
>>> path = os.path.join(tempfile.mkdtemp(), "cache-x.arrow")
>>> write_arrow_file(path, [pa.table({"a": [1, 2]})])
2
>>> read_arrow_file(path).to_pydict()
{'a': [1, 2]}
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable

import pyarrow as pa

from snuggle.errors import DataError


def read_arrow_file(path: str, in_memory: bool = False) -> pa.Table:
    """The table in Arrow stream file `path`, memory-mapped (zero copy) unless `in_memory`."""
    try:
        if in_memory:
            with pa.OSFile(path, "rb") as source:
                return pa.ipc.open_stream(source).read_all()
        return pa.ipc.open_stream(pa.memory_map(path)).read_all()
    except FileNotFoundError:
        raise
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(f"{path}: not a readable Arrow IPC stream file ({error})") from error


def write_arrow_file(path: str, tables: Iterable[pa.Table], schema: pa.Schema | None = None) -> int:
    """Write `tables` (same schema) to `path` atomically as one Arrow stream; returns the row count.

    `schema` defaults to the first table's; an empty iterable needs it to write an empty file.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    os.close(fd)
    num_rows = 0
    writer = None
    try:
        with pa.OSFile(tmp, "wb") as sink:
            for table in tables:
                if writer is None:
                    schema = schema if schema is not None else table.schema
                    writer = pa.ipc.new_stream(sink, schema)
                if table.schema != schema:
                    table = table.cast(schema)
                writer.write_table(table)
                num_rows += table.num_rows
            if writer is None:
                if schema is None:
                    raise DataError(f"{path}: nothing to write and no schema given")
                writer = pa.ipc.new_stream(sink, schema)
            writer.close()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return num_rows
