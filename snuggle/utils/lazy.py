"""Lazy package exports (PEP 562): names resolve to their defining module on first access, so
importing a package costs nothing until a name is used.

>>> getattr_, dir_ = lazy_exports("pkg", {"dumps": "json"}, globals())
>>> getattr_("dumps").__name__
'dumps'
"""

from __future__ import annotations

import importlib


def lazy_exports(
    package: str, names: dict[str, str], namespace: dict, submodules: frozenset[str] | set[str] = frozenset()
) -> tuple:
    """(__getattr__, __dir__) for `package`: `names` maps a public name to its module; `submodules`
    are sub-packages importable as attributes. Resolved values are cached in `namespace`."""
    public = sorted(set(names) | set(submodules))

    def __getattr__(name: str):
        if name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            target = names.get(name)
            if target is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            value = getattr(importlib.import_module(target), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return public

    return __getattr__, __dir__
