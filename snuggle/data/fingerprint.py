"""Fingerprints: stable hashes of datasets, transforms and the Python objects they use.

Every dataset carries a fingerprint (a 16-hex-digit string). A transform derives the new
dataset's fingerprint from the old one, the transform's name and its arguments, so the
same call on the same data gives the same fingerprint in any process and its result can be
reloaded from the cache file `cache-<fingerprint>.arrow`.

Functions are hashed by *content*, not identity: their bytecode, constants and names
(recursively through nested code objects), default arguments, closure cell contents and
the module globals they read. Editing a lambda, a captured variable or a global it uses
therefore changes the hash; recreating the same function in another process does not.
Source positions (file name, line numbers) are left out so moving code does not bust the
cache. Numpy arrays hash by dtype, shape and bytes; pyarrow tables by schema and buffers;
objects with a `_fingerprint` (datasets) by that; anything else through its pickle
protocol (`__reduce_ex__`), with cloudpickle as the last resort.

>>> hash_object(lambda x: x + 1) == hash_object(lambda x: x + 1)
True
>>> hash_object(lambda x: x + 1) == hash_object(lambda x: x + 2)
False
>>> update_fingerprint("0123456789abcdef", "map", {"batched": True}) != "0123456789abcdef"
True
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import secrets
import shutil
import struct
import tempfile
import types
from typing import Any

_CACHING_ENABLED = True
_TEMP_CACHE_DIR: str | None = None


# ---------------------------------------------------------------------------------------
# Caching switch and cache directories
# ---------------------------------------------------------------------------------------


def enable_caching() -> None:
    """Turn the transform cache back on (the default).

    >>> enable_caching(); is_caching_enabled()
    True
    """
    global _CACHING_ENABLED
    _CACHING_ENABLED = True


def disable_caching() -> None:
    """Turn the transform cache off for this session.

    Transforms then get random fingerprints, never reload earlier results, and datasets
    backed by files write their results to a temporary directory removed at exit.

    >>> disable_caching(); is_caching_enabled()
    False
    >>> enable_caching()
    """
    global _CACHING_ENABLED
    _CACHING_ENABLED = False


def is_caching_enabled() -> bool:
    """Whether transforms reuse cache files keyed by fingerprint."""
    return _CACHING_ENABLED


def get_datasets_cache_dir() -> str:
    """The root directory for downloaded/prepared datasets and their caches.

    SNUGGLE_DATASETS_CACHE wins, then HF_DATASETS_CACHE, then ~/.cache/snuggle/datasets.

    >>> isinstance(get_datasets_cache_dir(), str)
    True
    """
    for var in ("SNUGGLE_DATASETS_CACHE", "HF_DATASETS_CACHE"):
        value = os.environ.get(var)
        if value:
            return os.path.expanduser(value)
    base = os.environ.get("SNUGGLE_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "snuggle"
    )
    return os.path.join(base, "datasets")


def get_temporary_cache_files_directory() -> str:
    """A directory for cache files when caching is disabled; deleted when the process exits."""
    global _TEMP_CACHE_DIR
    if _TEMP_CACHE_DIR is None or not os.path.isdir(_TEMP_CACHE_DIR):
        _TEMP_CACHE_DIR = tempfile.mkdtemp(prefix="snuggle-cache-")
        owner_pid = os.getpid()

        def _cleanup(path: str = _TEMP_CACHE_DIR) -> None:
            # forked map workers inherit atexit hooks: only the creating process cleans up
            if os.getpid() == owner_pid:
                shutil.rmtree(path, ignore_errors=True)

        atexit.register(_cleanup)
    return _TEMP_CACHE_DIR


# ---------------------------------------------------------------------------------------
# Fingerprints
# ---------------------------------------------------------------------------------------


def generate_random_fingerprint(nbits: int = 64) -> str:
    """A random fingerprint (hex) for datasets whose content cannot be hashed cheaply.

    >>> len(generate_random_fingerprint())
    16
    """
    return secrets.token_hex(nbits // 8)


def update_fingerprint(fingerprint: str, transform: Any, args: dict) -> str:
    """The fingerprint after applying `transform` (a name or a function) with `args`.

    Argument order does not matter; values are hashed with `hash_object`.

    >>> a = update_fingerprint("abc", "filter", {"x": 1, "y": 2})
    >>> a == update_fingerprint("abc", "filter", {"y": 2, "x": 1})
    True
    """
    hasher = _Hasher()
    try:
        hasher.feed(fingerprint)
        hasher.feed(transform)
        for key in sorted(args):
            hasher.feed(key)
            hasher.feed(args[key])
    except Exception as error:  # e.g. a lock or an open socket among the arguments
        from snuggle.utils.logging import get_logger

        get_logger(__name__).warning(
            "Transform %s could not be hashed (%s: %s); using a random fingerprint, so its "
            "result will not be reused from the cache.",
            getattr(transform, "__name__", transform),
            type(error).__name__,
            error,
        )
        return generate_random_fingerprint()
    return hasher.hexdigest()


def hash_object(obj: Any) -> str:
    """A 16-hex-digit hash of any Python object, stable across processes.

    >>> hash_object({"a": [1, 2.5, "x"]}) == hash_object({"a": [1, 2.5, "x"]})
    True
    """
    hasher = _Hasher()
    hasher.feed(obj)
    return hasher.hexdigest()


def hash_bytes(*chunks: bytes) -> str:
    """The hash of raw bytes, same width as `hash_object`."""
    h = hashlib.blake2b(digest_size=8)
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------
# The traversal
# ---------------------------------------------------------------------------------------

_CODE_FIELDS = (
    "co_argcount",
    "co_posonlyargcount",
    "co_kwonlyargcount",
    "co_nlocals",
    "co_flags",
    "co_names",
    "co_varnames",
    "co_freevars",
    "co_cellvars",
)


class _Hasher:
    """Feeds a canonical, tagged byte encoding of objects into blake2b.

    Objects already seen in this traversal are encoded as a back reference, which makes
    recursive functions and cyclic containers terminate and stay deterministic.
    """

    def __init__(self) -> None:
        self._h = hashlib.blake2b(digest_size=8)
        self._memo: dict[int, int] = {}
        self._keepalive: list[Any] = []  # so ids in the memo cannot be reused mid-traversal

    def hexdigest(self) -> str:
        return self._h.hexdigest()

    def _tag(self, tag: bytes, payload: bytes = b"") -> None:
        self._h.update(tag)
        self._h.update(struct.pack("<Q", len(payload)))
        self._h.update(payload)

    def _str(self, tag: bytes, text: str) -> None:
        self._tag(tag, text.encode("utf-8", "surrogatepass"))

    def feed(self, obj: Any) -> None:
        # scalars: exact type matters (1, 1.0 and True hash differently)
        if obj is None:
            self._tag(b"N")
            return
        t = type(obj)
        if t is bool:
            self._tag(b"B", b"1" if obj else b"0")
            return
        if t is int:
            self._str(b"I", str(obj))
            return
        if t is float:
            self._str(b"F", repr(obj))
            return
        if t is str:
            self._str(b"S", obj)
            return
        if t in (bytes, bytearray):
            self._tag(b"Y", bytes(obj))
            return
        if t is complex:
            self._str(b"C", repr(obj))
            return

        key = id(obj)
        if key in self._memo:
            self._str(b"R", str(self._memo[key]))
            return
        self._memo[key] = len(self._memo)
        self._keepalive.append(obj)

        if t in (list, tuple):
            self._str(b"L" if t is list else b"T", str(len(obj)))
            for item in obj:
                self.feed(item)
            return
        if t is dict:
            self._str(b"D", str(len(obj)))
            for k, v in obj.items():
                self.feed(k)
                self.feed(v)
            return
        if t in (set, frozenset):
            # element order in a set is not stable across processes: sort by element hash
            self._str(b"Z", str(len(obj)))
            for digest in sorted(hash_object(item) for item in obj):
                self._str(b"z", digest)
            return
        if isinstance(obj, types.FunctionType):
            self._feed_function(obj)
            return
        if isinstance(obj, types.CodeType):
            self._feed_code(obj)
            return
        if isinstance(obj, types.MethodType):
            self._tag(b"M")
            self.feed(obj.__func__)
            self.feed(obj.__self__)
            return
        if isinstance(obj, functools.partial):
            self._tag(b"P")
            self.feed(obj.func)
            self.feed(obj.args)
            self.feed(obj.keywords)
            return
        if isinstance(obj, types.ModuleType):
            self._str(b"m", obj.__name__)
            return
        if isinstance(obj, type):
            self._str(b"t", f"{obj.__module__}.{obj.__qualname__}")
            return
        if isinstance(obj, (types.BuiltinFunctionType, types.BuiltinMethodType)):
            owner = getattr(obj, "__self__", None)
            owner_name = owner.__name__ if isinstance(owner, types.ModuleType) else type(owner).__qualname__
            self._str(b"b", f"{owner_name}.{obj.__qualname__}")
            if owner is not None and not isinstance(owner, types.ModuleType):
                self.feed(owner)  # e.g. "abc".startswith bound to its string
            return
        if isinstance(obj, (types.WrapperDescriptorType, types.MethodDescriptorType, types.MethodWrapperType)):
            self._str(b"w", f"{getattr(obj, '__objclass__', type(obj)).__qualname__}.{obj.__name__}")
            return
        if self._feed_special(obj):
            return
        self._feed_reduced(obj)

    # -- functions --------------------------------------------------------------------

    def _feed_function(self, fn: types.FunctionType) -> None:
        self._str(b"f", fn.__name__)
        self._feed_code(fn.__code__)
        self.feed(fn.__defaults__)
        self.feed(fn.__kwdefaults__)
        cells = fn.__closure__ or ()
        self._str(b"c", str(len(cells)))
        for cell in cells:
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell (variable not yet bound)
                self._tag(b"e")
                continue
            self.feed(contents)
        # the globals the function (or any function nested in it) reads, in a stable order
        fn_globals = fn.__globals__
        used = sorted(name for name in _global_names(fn.__code__) if name in fn_globals)
        self._str(b"g", str(len(used)))
        for name in used:
            self._str(b"S", name)
            self.feed(fn_globals[name])

    def _feed_code(self, code: types.CodeType) -> None:
        self._tag(b"K", code.co_code)
        for field in _CODE_FIELDS:
            self.feed(getattr(code, field, None))
        consts = code.co_consts
        self._str(b"k", str(len(consts)))
        for const in consts:
            self.feed(const)

    # -- data objects -----------------------------------------------------------------

    def _feed_special(self, obj: Any) -> bool:
        """Data types with a cheap content hash; False when `obj` is none of them."""
        module = type(obj).__module__ or ""
        fingerprint = getattr(obj, "_fingerprint", None)
        if isinstance(fingerprint, str) and not isinstance(obj, type):
            # a Dataset (or anything fingerprinted): its fingerprint stands for its content
            self._str(b"d", f"{type(obj).__qualname__}:{fingerprint}")
            return True
        if module == "numpy" or module.startswith("numpy."):
            import numpy as np

            if isinstance(obj, np.ndarray):
                if obj.dtype.hasobject:
                    self._str(b"a", f"object{obj.shape}")
                    self.feed(obj.tolist())
                else:
                    self._str(b"a", f"{obj.dtype.str}{obj.shape}")
                    self._tag(b"y", np.ascontiguousarray(obj).tobytes())
                return True
            if isinstance(obj, np.generic):
                self._str(b"a", f"{obj.dtype.str}")
                self._tag(b"y", obj.tobytes())
                return True
            if isinstance(obj, np.dtype):
                self._str(b"a", f"dtype:{obj.str}")
                return True
        if module.startswith("torch") and type(obj).__name__ in ("Tensor", "Parameter"):
            array = obj.detach().cpu()
            self._str(b"x", f"{array.dtype}{tuple(array.shape)}")
            self.feed(array.float().numpy() if str(array.dtype) == "torch.bfloat16" else array.numpy())
            return True
        if module.startswith("pyarrow"):
            return self._feed_arrow(obj)
        return False

    def _feed_arrow(self, obj: Any) -> bool:
        import pyarrow as pa

        if isinstance(obj, (pa.Schema, pa.DataType, pa.Field)):
            self._str(b"p", str(obj))
            if isinstance(obj, pa.Schema) and obj.metadata:
                self.feed(dict(obj.metadata))
            return True
        if isinstance(obj, pa.RecordBatch):
            obj = pa.Table.from_batches([obj])
        if isinstance(obj, pa.Table):
            self._str(b"p", str(obj.schema))
            self._str(b"n", str(obj.num_rows))
            for column in obj.columns:
                self.feed(column)
            return True
        if isinstance(obj, pa.ChunkedArray):
            obj = obj.chunks
            self._str(b"q", str(len(obj)))
            for chunk in obj:
                self.feed(chunk)
            return True
        if isinstance(obj, pa.Array):
            # buffers hold the whole parent array when sliced, so the slice bounds go in too
            self._str(b"r", f"{obj.type}|{obj.offset}|{len(obj)}|{obj.null_count}")
            for buf in obj.buffers():
                if buf is None:
                    self._tag(b"0")
                else:
                    self._tag(b"u", memoryview(buf))
            return True
        if isinstance(obj, pa.Scalar):
            self._str(b"s", str(obj.type))
            self.feed(obj.as_py())
            return True
        return False

    # -- everything else --------------------------------------------------------------

    def _feed_reduced(self, obj: Any) -> None:
        """Hash an arbitrary object through the pickle protocol, recursively."""
        self._str(b"o", f"{type(obj).__module__}.{type(obj).__qualname__}")
        try:
            reduced = obj.__reduce_ex__(4)
        except Exception:
            reduced = None
        if isinstance(reduced, tuple) and reduced:
            parts = list(reduced[:3])
            # list/dict iterators (items 4 and 5) are materialised so they can be hashed
            if len(reduced) > 3 and reduced[3] is not None:
                parts.append(list(reduced[3]))
            if len(reduced) > 4 and reduced[4] is not None:
                parts.append(list(reduced[4]))
            for part in parts:
                self.feed(part)
            return
        if isinstance(reduced, str):  # a global singleton, pickled by name
            self._str(b"S", reduced)
            return
        import cloudpickle

        self._tag(b"Q", cloudpickle.dumps(obj, protocol=4))


def _global_names(code: types.CodeType) -> set[str]:
    """Every name a code object (and the code nested in it) may look up as a global."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names
