"""tqdm progress bars that respect SNUGGLE_DISABLE_PROGRESS_BARS (also HF_DATASETS_DISABLE_PROGRESS_BARS).

>>> bar = progress_bar(total=3, disable=True)
>>> bar.update(3); bar.close()
"""

from __future__ import annotations

import os
from typing import Any, Iterable


def progress_disabled() -> bool:
    """True when progress bars are turned off by the environment."""
    for var in ("SNUGGLE_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS", "HF_HUB_DISABLE_PROGRESS_BARS"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    return False


def progress_bar(iterable: Iterable | None = None, *, disable: bool | None = None, **kwargs: Any):
    """A tqdm bar; `disable=None` follows the environment."""
    from tqdm.auto import tqdm

    if disable is None:
        disable = progress_disabled()
    return tqdm(iterable, disable=disable, **kwargs)
