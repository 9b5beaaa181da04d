"""The Hugging Face cache layout, byte-for-byte as huggingface_hub writes it, so both clients share one cache.

    <cache>/models--ns--name/                 (datasets--ns--name, spaces--ns--name)
        blobs/<etag>                          file contents, named by ETag (git sha1, or sha256 for LFS files)
        snapshots/<commit>/<path>             relative symlinks to ../../blobs/<etag> (one more ../ per folder)
        refs/<revision>                       the commit a branch or tag pointed to (40 hex, no newline)
        .no_exist/<commit>/<path>             empty marker: the file is known to be absent at that commit
        trees/<commit>.json                   the file listing of a commit (written by snapshot_download)
    <cache>/.locks/models--ns--name/<etag>.lock   one lock per blob, shared with the reference client
    <cache>/CACHEDIR.TAG                      tells backup tools to skip the folder

Everything here works on local files only: no network call ever happens in this module.

>>> repo_folder_name(repo_id="julien-c/EsperBERTo-small", repo_type="model")
'models--julien-c--EsperBERTo-small'
>>> import tempfile
>>> try_to_load_from_cache("user/repo", "config.json", cache_dir=tempfile.mkdtemp()) is None
True
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Iterator

from snuggle.utils.logging import get_logger

logger = get_logger(__name__)

REPO_TYPES = (None, "model", "dataset", "space")
REPO_ID_SEPARATOR = "--"
REGEX_COMMIT_HASH = re.compile(r"[0-9a-f]{40}")
REGEX_SHA256 = re.compile(r"[0-9a-f]{64}")
TREE_CACHE_FORMAT_VERSION = 1
FILELOCK_LOG_EVERY_SECONDS = 10
CACHEDIR_TAG_CONTENT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by huggingface_hub.\n"
    "# For information about cache directory tags, see:\n"
    "#\thttps://bford.info/cachedir/\n"
)


class _CachedNoExist:
    """The type of `_CACHED_NO_EXIST`: 'this file is known not to exist at that commit'."""

    def __repr__(self) -> str:
        return "_CACHED_NO_EXIST"


_CACHED_NO_EXIST = _CachedNoExist()


def default_cache_dir() -> str:
    """$HF_HUB_CACHE, else $HF_HOME/hub (read at call time)."""
    from snuggle.hub import constants

    return str(constants.hub_cache())


def check_repo_type(repo_type: str | None) -> str:
    if repo_type not in REPO_TYPES:
        raise ValueError(f"Invalid repo type: {repo_type}. Accepted repo types are: {list(REPO_TYPES)}")
    return repo_type or "model"


def repo_folder_name(*, repo_id: str, repo_type: str) -> str:
    """The folder of one repo in the cache: `models--ns--name`."""
    return REPO_ID_SEPARATOR.join([f"{repo_type}s", *repo_id.split("/")])


def storage_folder(cache_dir: str, repo_id: str, repo_type: str) -> str:
    return os.path.join(cache_dir, repo_folder_name(repo_id=repo_id, repo_type=repo_type))


def validate_relative_filename(filename: str) -> None:
    """Refuse repo file names that would land outside the target folder (absolute, drive, UNC, `..`).

    >>> validate_relative_filename("../etc/passwd")
    Traceback (most recent call last):
    ValueError: Invalid filename '../etc/passwd': cannot contain a '..' path segment. Please ask the repository owner to rename this file.
    """
    if ".." in filename.replace("\\", "/").split("/"):
        raise ValueError(
            f"Invalid filename '{filename}': cannot contain a '..' path segment. "
            "Please ask the repository owner to rename this file."
        )
    # Checked under POSIX and Windows rules both: a cache written here may be read on the other system.
    for pure in [PurePosixPath(filename), *(PureWindowsPath(part) for part in filename.split("/"))]:
        if pure.drive or pure.root:
            raise ValueError(
                f"Invalid filename '{filename}': cannot be an absolute, drive-relative or UNC path. "
                "Please ask the repository owner to rename this file."
            )


def get_pointer_path(storage: str, revision: str, relative_filename: str) -> str:
    """snapshots/<revision>/<file>, refusing anything that escapes the snapshots folder."""
    snapshots = os.path.join(storage, "snapshots")
    pointer = os.path.join(snapshots, revision, relative_filename)
    if Path(os.path.abspath(snapshots)) not in Path(os.path.abspath(pointer)).parents:
        raise ValueError(
            "Invalid pointer path: cannot create pointer path in snapshot folder if"
            f" `storage_folder='{storage}'`, `revision='{revision}'` and `relative_filename='{relative_filename}'`."
        )
    return pointer


# -- refs -----------------------------------------------------------------------------------------


def read_ref(storage: str, revision: str) -> str | None:
    """The commit recorded for a branch/tag name, or None."""
    path = os.path.join(storage, "refs", revision)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return f.read()


def cache_commit_hash_for_specific_revision(storage: str, revision: str, commit_hash: str) -> None:
    """Write refs/<revision> = commit (no newline), atomically, and only when it changed.

    Skipping unchanged refs keeps read-only caches usable; the tmp-file + rename means a concurrent
    reader never sees an empty ref.
    """
    if revision == commit_hash:
        return
    ref_path = Path(storage) / "refs" / revision
    ref_path.parent.mkdir(parents=True, exist_ok=True)
    if ref_path.exists() and ref_path.read_text() == commit_hash:
        return
    tmp = ref_path.with_name(f"{ref_path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(commit_hash)
    os.replace(tmp, ref_path)


def resolve_cached_commit(storage: str, revision: str) -> str | None:
    """A commit hash stays itself; a branch/tag goes through refs/ (None if never seen)."""
    if REGEX_COMMIT_HASH.fullmatch(revision):
        return revision
    return read_ref(storage, revision)


# -- .no_exist markers ---------------------------------------------------------------------------


def mark_no_exist(storage: str, commit_hash: str, relative_filename: str) -> None:
    """Record that `relative_filename` is absent at `commit_hash` (empty file under .no_exist)."""
    marker = Path(storage) / ".no_exist" / commit_hash / relative_filename
    if marker.exists():
        return
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError as err:  # a read-only cache still works, it just asks again next time
        logger.error(f"Could not cache non-existence of file. Will ignore error and continue. Error: {err}")


def try_to_load_from_cache(
    repo_id: str,
    filename: str,
    cache_dir: str | Path | None = None,
    revision: str | None = None,
    repo_type: str | None = None,
) -> str | _CachedNoExist | None:
    """The cached path of `filename` at `revision`, `_CACHED_NO_EXIST` if known absent, else None.

    Never raises for a missing file and never touches the network; a branch name goes through refs/.

    >>> import tempfile
    >>> try_to_load_from_cache("a/b", "config.json", cache_dir=tempfile.mkdtemp(), revision="main") is None
    True
    """
    revision = revision or "main"
    repo_type = check_repo_type(repo_type)
    validate_relative_filename(filename)
    cache_dir = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
    repo_cache = storage_folder(cache_dir, repo_id, repo_type)
    if not os.path.isdir(repo_cache):
        return None
    revision = read_ref(repo_cache, revision) or revision
    if os.path.isfile(os.path.join(repo_cache, ".no_exist", revision, filename)):
        return _CACHED_NO_EXIST
    snapshots = os.path.join(repo_cache, "snapshots")
    if not os.path.isdir(snapshots) or revision not in os.listdir(snapshots):
        return None
    cached = os.path.join(snapshots, revision, filename)
    return cached if os.path.isfile(cached) else None


# -- symlinks, moves and the cache tag -----------------------------------------------------------


def create_symlink(src: str, dst: str, new_blob: bool = False) -> None:
    """Point `dst` at `src` with a relative symlink (the cache can be moved); copy/move where links fail.

    `new_blob=True` lets a fresh blob be moved instead of copied when symlinks are unavailable.
    """
    with contextlib.suppress(OSError):
        os.remove(dst)
    abs_src = os.path.abspath(os.path.expanduser(src))
    abs_dst = os.path.abspath(os.path.expanduser(dst))
    try:
        relative_src = os.path.relpath(abs_src, os.path.dirname(abs_dst))
    except ValueError:  # different drives on Windows
        relative_src = None
    if not _symlinks_disabled():
        try:
            os.symlink(relative_src or abs_src, abs_dst)
            return
        except FileExistsError:
            # Another process linked the same blob between our remove and symlink: fine if it agrees.
            if os.path.islink(abs_dst) and os.path.realpath(abs_dst) == os.path.realpath(abs_src):
                return
            raise
        except (PermissionError, NotImplementedError, OSError) as err:
            logger.debug(f"symlink {abs_dst} -> {abs_src} failed ({err}); copying instead")
    if new_blob:
        shutil.move(abs_src, abs_dst, copy_function=_copy_no_matter_what)
    else:
        shutil.copyfile(abs_src, abs_dst)


def _symlinks_disabled() -> bool:
    return os.environ.get("HF_HUB_DISABLE_SYMLINKS", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _copy_no_matter_what(src: str, dst: str) -> None:
    try:
        shutil.copy2(src, dst)
    except OSError:  # e.g. a mount that refuses metadata
        shutil.copyfile(src, dst)


def chmod_and_move(src: Path, dst: Path) -> None:
    """Give a downloaded file the folder's default permissions (not mkstemp's 0600), then move it in place.

    The mode is probed by creating a file beside `src`, as the process umask cannot be read thread-safely.
    """
    probe = src.parent / f"tmp_{uuid.uuid4()}"
    try:
        probe.touch()
        os.chmod(src, probe.stat().st_mode & 0o7777)
    except OSError as err:
        logger.warning(f"Could not set the permissions on the file '{src}'. Error: {err}.")
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    if os.path.lexists(dst):
        os.replace(src, dst)  # never write through an existing (possibly shared) symlink
    else:
        shutil.move(str(src), str(dst), copy_function=_copy_no_matter_what)


def create_cachedir_tag(folder: Path | str) -> None:
    tag = Path(folder) / "CACHEDIR.TAG"
    if not tag.exists():
        with contextlib.suppress(OSError):
            tag.write_text(CACHEDIR_TAG_CONTENT)


# -- file locks ----------------------------------------------------------------------------------


@contextlib.contextmanager
def WeakFileLock(lock_file: str | Path, *, timeout: float | None = None) -> Iterator[Any]:  # noqa: N802 - HF name
    """An inter-process lock on `lock_file` (flock through `filelock`), group-writable like the reference's.

    Falls back to a soft (existence-based) lock on file systems without flock; a failed release is
    ignored. Logs every 10 s while waiting; `timeout` (seconds) raises `filelock.Timeout`.
    """
    import time

    from filelock import FileLock, SoftFileLock, Timeout

    lock = FileLock(os.fspath(lock_file), timeout=FILELOCK_LOG_EVERY_SECONDS, mode=0o664)
    start = time.time()
    while True:
        elapsed = time.time() - start
        if timeout is not None and elapsed >= timeout:
            raise Timeout(os.fspath(lock_file))
        wait = min(FILELOCK_LOG_EVERY_SECONDS, timeout - elapsed) if timeout else FILELOCK_LOG_EVERY_SECONDS
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            logger.info(f"Still waiting to acquire lock on {lock_file} (elapsed: {time.time() - start:.1f} seconds)")
        except NotImplementedError as err:
            if "SoftFileLock" not in str(err):
                raise
            lock = SoftFileLock(os.fspath(lock_file), timeout=FILELOCK_LOG_EVERY_SECONDS)
        else:
            break
    try:
        yield lock
    finally:
        try:
            lock.release()
        except OSError:
            with contextlib.suppress(OSError):
                Path(lock_file).unlink()


def blob_lock_path(cache_dir: str, repo_id: str, repo_type: str, etag: str) -> str:
    """<cache>/.locks/<repo folder>/<etag>.lock — the same file the reference client locks."""
    return os.path.join(cache_dir, ".locks", repo_folder_name(repo_id=repo_id, repo_type=repo_type), f"{etag}.lock")


# -- tree listings (trees/<commit>.json) ----------------------------------------------------------


@dataclass(frozen=True)
class TreeCacheEntry:
    """One file of a cached listing: the /tree fields a download needs."""

    size: int
    blob_id: str
    lfs_sha256: str | None = None
    lfs_size: int | None = None
    xet_hash: str | None = None

    def to_json(self) -> dict:
        info: dict = {"size": self.size, "blob_id": self.blob_id}
        if self.lfs_sha256 is not None:
            info["lfs_sha256"] = self.lfs_sha256
            info["lfs_size"] = self.lfs_size
        if self.xet_hash is not None:
            info["xet_hash"] = self.xet_hash
        return info

    @classmethod
    def from_json(cls, info: dict) -> TreeCacheEntry:
        return cls(size=info["size"], blob_id=info["blob_id"], lfs_sha256=info.get("lfs_sha256"),
                   lfs_size=info.get("lfs_size"), xet_hash=info.get("xet_hash"))


def tree_cache_path(tree_cache_folder: str, commit_hash: str) -> str:
    return os.path.join(tree_cache_folder, "trees", f"{commit_hash}.json")


def read_tree_cache(tree_cache_folder: str, commit_hash: str) -> dict[str, TreeCacheEntry] | None:
    """The cached listing of a commit ({path: entry}), or None when absent or unreadable."""
    path = tree_cache_path(tree_cache_folder, commit_hash)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if data.get("format_version") != TREE_CACHE_FORMAT_VERSION:
            return None
        return {p: TreeCacheEntry.from_json(info) for p, info in data["files"].items()}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        logger.warning(f"Ignoring corrupted tree cache file {path}: {err}")
        return None


def write_tree_cache(tree_cache_folder: str, commit_hash: str, entries: dict[str, TreeCacheEntry]) -> None:
    """Write trees/<commit>.json (sorted paths, indent 1: the reference's bytes); failures only warn."""
    path = tree_cache_path(tree_cache_folder, commit_hash)
    data = {"format_version": TREE_CACHE_FORMAT_VERSION,
            "files": {p: entries[p].to_json() for p in sorted(entries)}}
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except OSError as err:
        logger.warning(f"Ignored error while writing tree cache file {path}: {err}")


# -- assets ----------------------------------------------------------------------------------------


def cached_assets_path(library_name: str, namespace: str = "default", subfolder: str = "default",
                       *, assets_dir: str | Path | None = None) -> Path:
    """A folder for a library's own derived files: <HF_ASSETS_CACHE>/<library>/<namespace>/<subfolder>.

    Spaces, "/" and "\\" in the three names become "--" (as in the reference).

    >>> import tempfile
    >>> p = cached_assets_path("snuggle", "x/y", assets_dir=tempfile.mkdtemp())
    >>> p.parent.name, p.name
    ('x--y', 'default')
    """
    if assets_dir is None:
        from snuggle.hub import constants

        assets_dir = constants.assets_cache()
    assets_dir = Path(assets_dir).expanduser().resolve()
    for part in (" ", "/", "\\"):
        library_name = library_name.replace(part, "--")
        namespace = namespace.replace(part, "--")
        subfolder = subfolder.replace(part, "--")
    path = assets_dir / library_name / namespace / subfolder
    try:
        path.mkdir(exist_ok=True, parents=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"Corrupted assets folder: cannot create directory because of an existing file ({path}).")
    return path
