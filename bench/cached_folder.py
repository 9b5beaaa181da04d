"""Build a model folder once: fill a staging folder, mark it complete, then move it into place.

A half-written folder (interrupted build) never looks complete, so the next run rebuilds it.

>>> folder = cached_folder("/tmp/x", lambda staging: open(f"{staging}/a", "w").close())   # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable

DONE_MARKER = ".complete"


def cached_folder(folder: str, build: Callable[[str], None]) -> str:
    """Return `folder`, first running `build(staging_dir)` and moving the result there when it is missing."""
    if os.path.isfile(os.path.join(folder, DONE_MARKER)):
        return folder
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(folder)}-", dir=parent)
    try:
        build(staging)
        open(os.path.join(staging, DONE_MARKER), "w").close()
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging, ignore_errors=True)
    return folder
