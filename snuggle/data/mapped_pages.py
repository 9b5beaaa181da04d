"""Memory-mapped Arrow files whose pages a sequential scan can hand back to the kernel.

Pages of a memory-mapped file that a process has touched count in its RSS (as file-backed
pages) until the kernel needs the memory. A batched map over a 2 GB dataset therefore shows a
2 GB peak RSS although it owns almost nothing. Mapping the file with Python's `mmap` (instead
of `pa.memory_map`) lets us call `madvise(MADV_DONTNEED)` on the part of the file a scan has
already passed: the pages leave our RSS, stay in the page cache, and are transparently read
again if touched later (a read-only shared mapping cannot lose data this way).

>>> import os, tempfile, pyarrow as pa
>>> path = os.path.join(tempfile.mkdtemp(), "x.arrow")
>>> with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, pa.schema([("a", pa.int64())])) as w:
...     w.write_table(pa.table({"a": [1, 2, 3]}))
>>> table = open_mapped_table(path)
>>> release_pages_before(table.slice(2))   # a scan is now at row 2: earlier pages may go
>>> table.column("a").to_pylist()
[1, 2, 3]
"""

from __future__ import annotations

import mmap
import os
import threading
import weakref

import pyarrow as pa

# base address -> (weak ref to the mmap, size) for every file mapped here. The Arrow buffers hold
# the mmap alive; once the last table over it is gone the map is closed and its entry dropped.
_MAPS: dict[int, tuple[weakref.ref, int]] = {}
_LOCK = threading.Lock()


def open_mapped_table(path: str) -> pa.Table:
    """The table of Arrow stream file `path`, zero-copy over a read-only `mmap` we can release from."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return pa.ipc.open_stream(pa.BufferReader(b"")).read_all()  # raises ArrowInvalid, as memory_map would
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    buffer = pa.py_buffer(mapped)  # keeps `mapped` alive as long as any Arrow buffer points into it
    base = buffer.address
    with _LOCK:
        _MAPS[base] = (weakref.ref(mapped, lambda _ref, base=base: _forget(base)), len(mapped))
    return pa.ipc.open_stream(pa.BufferReader(buffer)).read_all()


def _forget(base: int) -> None:
    with _LOCK:
        _MAPS.pop(base, None)


def release_pages_before(table: pa.Table | pa.RecordBatch) -> None:
    """Drop from RSS the mapped pages lying before the first byte `table` uses, in each mapped file.

    Call it in a sequential scan with the batch being processed: everything earlier in the
    file was consumed. Harmless anywhere else (released pages come back on access).
    """
    with _LOCK:
        maps = list(_MAPS.items())
    if not maps:
        return
    lowest: dict[int, int] = {}  # base -> lowest address this batch uses in that mapping
    for address in _buffer_addresses(table):
        for base, (_, size) in maps:
            if base <= address < base + size:
                lowest[base] = min(lowest.get(base, address), address)
                break
    entries = dict(maps)
    for base, address in lowest.items():
        mapped = entries[base][0]()
        length = (address - base) // mmap.PAGESIZE * mmap.PAGESIZE
        if mapped is None or length <= 0 or not hasattr(mapped, "madvise"):
            continue
        try:
            mapped.madvise(mmap.MADV_DONTNEED, 0, length)
        except (OSError, ValueError):  # closed map or advice unsupported: it was only a hint
            pass


def _buffer_addresses(table: pa.Table | pa.RecordBatch):
    """Start addresses of every buffer `table` uses (whole buffers: slices keep their parent's)."""
    for column in table.columns:
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        for chunk in chunks:
            for buffer in chunk.buffers():
                if buffer is not None and buffer.size:
                    yield buffer.address
