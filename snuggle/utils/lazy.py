"""Lazy package exports (PEP 562): names resolve to their defining module on first access, so
importing a package costs nothing until a name is used.

>>> getattr_, dir_ = lazy_exports("pkg", {"dumps": "json"}, globals())
>>> getattr_("dumps").__name__
'dumps'
"""

from __future__ import annotations

import atexit
import gc
import importlib
from contextlib import contextmanager

from snuggle.utils.env import env_flag


def lazy_exports(
    package: str, names: dict[str, str], namespace: dict, submodules: frozenset[str] | set[str] = frozenset()
) -> tuple:
    """(__getattr__, __dir__) for `package`: `names` maps a public name to its module; `submodules`
    are sub-packages importable as attributes. Resolved values are cached in `namespace`."""
    public = sorted(set(names) | set(submodules))

    def __getattr__(name: str):
        if name in submodules:
            with gc_paused():
                value = importlib.import_module(f"{package}.{name}")
        else:
            target = names.get(name)
            if target is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            with gc_paused():
                value = getattr(importlib.import_module(target), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return public

    return __getattr__, __dir__


@contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector around a bulk import or load; restored afterwards (also on error).

    Importing torch and building a model or a tokenizer allocate hundreds of thousands of long-lived
    container objects, and every full collection they trigger walks all of them and frees nothing (three
    such passes cost ~0.3 s of a 2 s one-shot pipeline script here). Reference counting still frees
    everything as usual; only the search for reference cycles waits until the block ends. Nested and
    concurrent uses are fine: only the outermost block that found the collector on turns it back on.
    As a decorator, `@gc_paused()` runs every call of the function this way (loaders such as `from_pretrained`).

    >>> with gc_paused():
    ...     gc.isenabled()
    False
    """
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_FAST_EXIT = []


def register_fast_exit() -> bool:
    """At interpreter exit, collect reference cycles once and then freeze the heap (`gc.freeze`), so the
    collections of module teardown no longer walk every object torch created; registered once per process.

    Exiting a process that imported torch costs ~0.7 s here, most of it in the collector's passes over
    torch's ~170,000 objects while the modules are torn down; with this hook ~0.3 s. Everything that is
    garbage when the hook runs is still collected (finalizers included); objects alive then are freed by
    reference counting as usual, and Python never promised to finalize those at exit. The hook runs after
    the atexit handlers registered after `import snuggle`. SNUGGLE_FAST_EXIT=0 turns it off.
    """
    if _FAST_EXIT or not env_flag("SNUGGLE_FAST_EXIT", True):
        return False
    _FAST_EXIT.append(True)
    atexit.register(_collect_then_freeze)
    return True


def _collect_then_freeze() -> None:
    gc.collect()
    gc.freeze()
