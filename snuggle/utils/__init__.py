"""Small shared utilities: logging, progress bars, atomic writes, env and paths."""

from snuggle.utils.atomic import atomic_write, atomic_write_text, atomic_write_json
from snuggle.utils.logging import get_logger
from snuggle.utils.progress import progress_bar, progress_disabled

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "atomic_write_json",
    "get_logger",
    "progress_bar",
    "progress_disabled",
]
