"""Where model files come from: a local folder today, the Hub (through snuggle.hub) once it exists.

One seam, `resolve_model_file`, so loading code never cares whether a name is a folder or a repo id.

>>> import tempfile, os
>>> d = tempfile.mkdtemp(); open(os.path.join(d, "config.json"), "w").write("{}")
2
>>> resolve_model_file(d, "config.json") == os.path.join(d, "config.json")
True
>>> resolve_model_file(d, "model.safetensors", required=False) is None
True
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from snuggle.errors import ModelError


def resolve_model_file(
    name_or_path: str | os.PathLike,
    filename: str,
    revision: str | None = None,
    local_files_only: bool = False,
    subfolder: str = "",
    required: bool = True,
    **hub_kwargs: Any,
) -> str | None:
    """Path of `filename` inside a local folder or a Hub repo; None (or ModelError if required) when absent.

    Hub ids go through `snuggle.hub.hf_hub_download` when that package is installed.
    """
    root = os.fspath(name_or_path)
    if os.path.isdir(root):
        path = os.path.join(root, subfolder, filename) if subfolder else os.path.join(root, filename)
        if os.path.isfile(path):
            return path
        if required:
            raise ModelError(f"{root}: no file named {os.path.join(subfolder, filename)} in this folder")
        return None
    download = _hub_download()
    if download is None or not _looks_like_repo_id(root):
        if required:
            reason = "it is not a Hub repo id either" if download else "downloading from the Hub needs snuggle.hub"
            raise ModelError(f"{root!r} is not a local folder and {reason}")
        return None
    hub_kwargs = {k: v for k, v in hub_kwargs.items() if v is not None}
    try:
        return download(
            root, filename, subfolder=subfolder or None, revision=revision, local_files_only=local_files_only,
            **hub_kwargs,
        )
    except Exception as err:  # the hub raises its own error types; say which file was wanted
        if not required and _is_missing_file_error(err):
            return None
        if required:
            raise ModelError(f"{root}: could not get {filename} from the Hub ({err})") from err
        return None


def _hub_download():
    try:
        hub = importlib.import_module("snuggle.hub")
    except ImportError:
        return None
    return getattr(hub, "hf_hub_download", None)


def _looks_like_repo_id(name: str) -> bool:
    parts = name.split("/")
    return 1 <= len(parts) <= 2 and all(parts) and not name.startswith((".", "~"))


def _is_missing_file_error(err: Exception) -> bool:
    name = type(err).__name__
    return "NotFound" in name or "EntryNotFound" in name or isinstance(err, FileNotFoundError)
