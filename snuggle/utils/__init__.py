"""Small shared utilities: logging, progress bars, atomic writes, lazy exports (loaded on first use)."""

from snuggle.utils.lazy import lazy_exports

_NAMES = {
    "atomic_write": "snuggle.utils.atomic",
    "atomic_write_text": "snuggle.utils.atomic",
    "atomic_write_bytes": "snuggle.utils.atomic",
    "atomic_write_json": "snuggle.utils.atomic",
    "get_logger": "snuggle.utils.logging",
    "progress_bar": "snuggle.utils.progress",
    "progress_disabled": "snuggle.utils.progress",
}

__all__ = sorted(_NAMES)

__getattr__, __dir__ = lazy_exports("snuggle.utils", _NAMES, globals())
