"""Tensors backed by transparent huge pages (2 MB), for weights the decode kernels stream at every step.

Decoding reads every weight once per token: a stream through hundreds of megabytes. With ordinary 4 KB pages
each 4 KB of it costs a TLB miss and the hardware prefetcher stops at every page boundary; with 2 MB pages
neither happens. On a 2-core Xeon VM a 113 MB packed product, caches cold, streamed at 29 GB/s from huge pages
and 25 GB/s from ordinary ones.

Linux hands out huge pages to anonymous memory when its THP setting is "always", or "madvise" (the usual
default) for memory marked with madvise(MADV_HUGEPAGE) before it is first touched, which torch's allocator does
not do. `empty` takes such memory from anonymous mappings of CHUNK bytes (2 MB aligned), marked and then cut
into tensors; a mapping is unmapped when the last tensor cut from it is freed. Elsewhere (no THP, not Linux,
`SNUGGLE_HUGE_PAGES=0`, or less than half a huge page asked for) `empty` is torch.empty.

>>> import torch
>>> t = empty((3, 4))
>>> tuple(t.shape), t.dtype, t.is_contiguous()
((3, 4), torch.float32, True)
"""

from __future__ import annotations

import functools
import math
import mmap
import threading
import weakref

import torch

from snuggle.utils.env import env_flag

HUGE_PAGE = 2 << 20
CHUNK = 64 << 20  # bytes per mapping: tensors share them, so that a small one does not take a whole huge page

_lock = threading.Lock()
_current: list = [None, 0, 0]  # weak reference to the mapping being cut, its aligned start, bytes used


@functools.cache
def _system_allows() -> bool:
    if not hasattr(mmap, "MADV_HUGEPAGE"):
        return False
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled", encoding="ascii") as setting:
            return "[never]" not in setting.read()
    except OSError:
        return False


def available() -> bool:
    """Whether `empty` can give huge pages here: Linux with THP "always" or "madvise", and not switched off with
    `SNUGGLE_HUGE_PAGES=0`."""
    return env_flag("SNUGGLE_HUGE_PAGES", True) and _system_allows()


def _new_mapping(nbytes: int) -> tuple[mmap.mmap, int]:
    """A marked anonymous mapping with at least `nbytes` after its first 2 MB boundary, and that boundary's offset."""
    mapping = mmap.mmap(-1, nbytes + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    mapping.madvise(mmap.MADV_HUGEPAGE)
    start = torch.frombuffer(mapping, dtype=torch.uint8, count=1).data_ptr()
    return mapping, (-start) % HUGE_PAGE


def empty(shape, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """An uninitialized contiguous CPU tensor, in huge-page memory where `available` (see the module docstring)."""
    shape = tuple(shape)
    itemsize = torch.empty((), dtype=dtype).element_size()
    nbytes = math.prod(shape) * itemsize
    if nbytes < HUGE_PAGE // 2 or not available():
        return torch.empty(shape, dtype=dtype)
    size = -(-nbytes // 64) * 64  # each tensor starts on a cache line
    with _lock:
        mapping = _current[0]() if _current[0] is not None else None
        start, used = _current[1], _current[2]
        if mapping is None or start + used + size > len(mapping):
            mapping, start = _new_mapping(max(CHUNK, -(-size // HUGE_PAGE) * HUGE_PAGE))
            used = 0
        raw = torch.frombuffer(mapping, dtype=torch.uint8, offset=start + used, count=nbytes)
        _current[:] = [weakref.ref(mapping), start, used + size]
    return raw.view(dtype).view(shape)
