"""Where model files come from: a local folder, or a Hub repo through snuggle.hub (`hf_hub_download`).

One seam, `resolve_model_file` (one file) / `resolve_model_folder` (a set of files, for tokenizers), so
loading code never cares whether a name is a folder or a repo id. `revision`, `subfolder`, `token`,
`cache_dir`, `local_files_only` and `force_download` go to the Hub client.

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
    if not required and _known_missing(root, filename, subfolder, revision, hub_kwargs.get("cache_dir")):
        return None  # recorded under .no_exist/ by an earlier call: no request needed
    try:
        return download(
            root, filename, subfolder=subfolder or None, revision=revision, local_files_only=local_files_only,
            **hub_kwargs,
        )
    except Exception as err:  # the hub raises its own error types; say which file was wanted
        if not required and _is_missing_file_error(err):
            return None
        raise ModelError(f"{root}: could not get {filename} from the Hub ({err})") from err


def resolve_model_folder(
    name_or_path: str | os.PathLike,
    allow_patterns: list[str],
    revision: str | None = None,
    local_files_only: bool = False,
    subfolder: str = "",
    **hub_kwargs: Any,
) -> str:
    """A local folder holding the files of `name_or_path` that match `allow_patterns` (a folder stays itself).

    For a Hub id the matching files are fetched with `snapshot_download` (one listing, then only those
    files) and the snapshot folder (joined with `subfolder`) is returned: loaders that look for optional
    files by name (tokenizers) then work on it as on any local folder.
    """
    root = os.fspath(name_or_path)
    if os.path.isdir(root) or not _looks_like_repo_id(root):
        return os.path.join(root, subfolder) if subfolder else root
    try:
        hub = importlib.import_module("snuggle.hub")
    except ImportError as err:
        raise ModelError(f"{root!r} is not a local folder and downloading from the Hub needs snuggle.hub") from err
    patterns = [f"{subfolder.strip('/')}/{p}" for p in allow_patterns] if subfolder else list(allow_patterns)
    hub_kwargs = {k: v for k, v in hub_kwargs.items() if v is not None and k in _SNAPSHOT_KEYS}
    try:
        folder = hub.snapshot_download(root, revision=revision, local_files_only=local_files_only,
                                       allow_patterns=patterns, **hub_kwargs)
    except Exception as err:
        raise ModelError(f"{root}: could not get its files from the Hub ({err})") from err
    folder = os.path.join(folder, subfolder) if subfolder else folder
    if not os.path.isdir(folder):
        where = f" in {subfolder!r}" if subfolder else ""
        raise ModelError(f"{root}: the Hub repo has no file matching {list(allow_patterns)}{where}")
    return folder


_SNAPSHOT_KEYS = ("cache_dir", "token", "force_download", "endpoint", "repo_type")


def _known_missing(repo_id: str, filename: str, subfolder: str, revision: str | None, cache_dir: Any) -> bool:
    try:
        cache = importlib.import_module("snuggle.hub.cache")
        path = f"{subfolder.strip('/')}/{filename}" if subfolder else filename
        return cache.try_to_load_from_cache(repo_id, path, cache_dir=cache_dir, revision=revision) is \
            cache._CACHED_NO_EXIST
    except (ImportError, ValueError, OSError):
        return False


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
    """The file is absent (on the server, or offline and not cached): fine for an optional file.

    A missing repo or revision, or an access problem, is not "missing file": it propagates.
    """
    if isinstance(err, FileNotFoundError):  # includes LocalEntryNotFoundError
        return True
    return any(cls.__name__ == "EntryNotFoundError" for cls in type(err).__mro__)
