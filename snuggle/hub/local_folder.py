"""Download metadata for `local_dir=` downloads, in the reference client's `.cache/huggingface` format.

    <local_dir>/
        config.json                                     the file itself (no symlink, no blob store)
        .cache/huggingface/
            .gitignore                                  "*"
            CACHEDIR.TAG
            download/config.json.metadata               "<commit>\\n<etag>\\n<unix time>\\n"
            download/config.json.lock
            download/<b64(sha1(name))>.<etag>.incomplete   a partial download, resumed next time

The metadata says which commit/ETag the file came from, so a later download of the same revision is
a no-op; it is trusted only while the file is not newer than the metadata (an edited file is re-checked).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()); (d / "a.txt").write_text("x")
1
>>> write_download_metadata(d, "a.txt", commit_hash="c" * 40, etag="e")
>>> read_download_metadata(d, "a.txt").etag
'e'
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from snuggle.hub.cache import WeakFileLock, create_cachedir_tag, validate_relative_filename
from snuggle.utils.logging import get_logger

logger = get_logger(__name__)


@dataclass
class LocalDownloadFilePaths:
    """Where one repo file lives in a local dir, and its lock and metadata files."""

    file_path: Path
    lock_path: Path
    metadata_path: Path

    def incomplete_path(self, etag: str) -> Path:
        """The partial-download file: stable per (file, etag), so an interrupted download resumes."""
        return self.metadata_path.parent / f"{_short_hash(self.metadata_path.name)}.{etag}.incomplete"


@dataclass
class LocalDownloadFileMetadata:
    filename: str
    commit_hash: str
    etag: str
    timestamp: float


def huggingface_dir(local_dir: Path) -> Path:
    """<local_dir>/.cache/huggingface, created with its .gitignore and CACHEDIR.TAG."""
    path = Path(local_dir) / ".cache" / "huggingface"
    path.mkdir(exist_ok=True, parents=True)
    create_cachedir_tag(path)
    gitignore = path / ".gitignore"
    if not gitignore.exists():
        lock = path / ".gitignore.lock"
        with contextlib.suppress(OSError, IndexError):
            with WeakFileLock(lock, timeout=0.1):
                gitignore.write_text("*")
        with contextlib.suppress(OSError):
            lock.unlink()
    return path


def get_local_download_paths(local_dir: Path, filename: str) -> LocalDownloadFilePaths:
    """The paths for `filename` (parents created)."""
    validate_relative_filename(filename)
    sanitized = os.path.join(*filename.split("/"))
    file_path = Path(local_dir) / sanitized
    metadata_path = huggingface_dir(Path(local_dir)) / "download" / f"{sanitized}.metadata"
    lock_path = metadata_path.with_suffix(".lock")
    file_path.parent.mkdir(parents=True, exist_ok=True)
    metadata_path.parent.mkdir(parents=True, exist_ok=True)
    return LocalDownloadFilePaths(file_path=file_path, lock_path=lock_path, metadata_path=metadata_path)


def read_download_metadata(local_dir: Path, filename: str) -> LocalDownloadFileMetadata | None:
    """The recorded (commit, etag) of a local file, or None if missing, corrupt or older than the file."""
    paths = get_local_download_paths(Path(local_dir), filename)
    with WeakFileLock(paths.lock_path):
        if not paths.metadata_path.exists():
            return None
        try:
            with paths.metadata_path.open() as f:
                commit_hash = f.readline().strip()
                etag = f.readline().strip()
                timestamp = float(f.readline().strip())
            metadata = LocalDownloadFileMetadata(filename=filename, commit_hash=commit_hash, etag=etag,
                                                 timestamp=timestamp)
        except Exception as err:  # noqa: BLE001 - any garbage in the file means "unknown"
            logger.warning(f"Invalid metadata file {paths.metadata_path}: {err}. Removing it from disk and continue.")
            with contextlib.suppress(OSError):
                paths.metadata_path.unlink()
            return None
        try:
            # 1 s of slack: st_mtime may be coarser than time.time()
            if paths.file_path.stat().st_mtime - 1 <= metadata.timestamp:
                return metadata
            logger.info(f"Ignored metadata for '{filename}' (outdated). Will re-compute hash.")
        except FileNotFoundError:
            return None
    return None


def write_download_metadata(local_dir: Path, filename: str, commit_hash: str, etag: str) -> None:
    paths = get_local_download_paths(Path(local_dir), filename)
    with WeakFileLock(paths.lock_path):
        with paths.metadata_path.open("w") as f:
            f.write(f"{commit_hash}\n{etag}\n{time.time()}\n")


def _short_hash(name: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha1(name.encode()).digest()).decode()
