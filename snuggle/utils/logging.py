"""Logging with one environment variable for the level: SNUGGLE_LOG_LEVEL (default WARNING).

>>> log = get_logger("snuggle.test")
>>> log.name
'snuggle.test'
"""

from __future__ import annotations

import logging
import os

_configured = False


def _configure_root() -> None:
    global _configured
    if _configured:
        return
    _configured = True
    root = logging.getLogger("snuggle")
    level_name = os.environ.get("SNUGGLE_LOG_LEVEL", "WARNING").upper()
    root.setLevel(getattr(logging, level_name, logging.WARNING))
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[snuggle] %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.propagate = False


def get_logger(name: str) -> logging.Logger:
    """Return a logger under the `snuggle` namespace, configured once from the environment."""
    _configure_root()
    if not name.startswith("snuggle"):
        name = f"snuggle.{name}"
    return logging.getLogger(name)


_warned: set[str] = set()


def warn_once(logger: logging.Logger, message: str) -> None:
    """Log `message` as a warning the first time only (per process)."""
    if message in _warned:
        return
    _warned.add(message)
    logger.warning(message)
