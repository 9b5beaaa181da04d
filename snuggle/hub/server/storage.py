"""Content-addressed blob store on the file system: data_dir/blobs/<aa>/<bb>/<sha256>.

Every stored file is named by the sha256 of its bytes, so identical content is stored once. Writes
stream into a temporary file under data_dir/tmp (same file system), hashing as they go; the file is
fsynced and renamed into place only when hash and size check out, so a crash or a rejected upload
never leaves a partial blob under its final name.

>>> import tempfile
>>> store = BlobStore(tempfile.mkdtemp())
>>> sha, size = store.store([b"hello ", b"world"])
>>> size, store.size(sha), store.path(sha).read_bytes()
(11, 11, b'hello world')
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable

from snuggle.hub.server.errors import BadRequest, TooLarge
from snuggle.utils.atomic import fsync_path

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_sha256(value: str) -> str:
    if not isinstance(value, str) or not _SHA256.match(value):
        raise BadRequest(f"Invalid sha256 {value!r}: expected 64 lowercase hex characters")
    return value


class StoredBlob:
    """What store() learned while writing: sha256, size and (when the size was known up front) git oid."""

    __slots__ = ("sha256", "size", "git_oid")

    def __init__(self, sha256: str, size: int, git_oid: str | None):
        self.sha256, self.size, self.git_oid = sha256, size, git_oid


class BlobStore:
    """Blobs under `root/blobs`, temporary files under `root/tmp`."""

    def __init__(self, root: str | os.PathLike, *, sync_dirs: bool = False):
        # The bytes are always fsynced before the rename. fsyncing the folder after every rename costs
        # ~5x the whole write of a small file; journaling file systems (ext4, xfs) commit the rename, in
        # order, no later than the database write that references the blob, so it is off by default.
        self.sync_dirs = sync_dirs
        self.root = Path(root)
        self.blobs_dir = self.root / "blobs"
        self._blobs_str = str(self.blobs_dir)
        self.tmp_dir = self.root / "tmp"
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        """Where the blob with this sha256 lives (whether or not it exists); the key is validated first,
        so no user string ever becomes part of a file system path."""
        return Path(self._path_str(sha256))

    def _path_str(self, sha256: str) -> str:
        check_sha256(sha256)
        return f"{self._blobs_str}/{sha256[:2]}/{sha256[2:4]}/{sha256}"  # plain strings: pathlib is slow here

    def size(self, sha256: str) -> int | None:
        try:
            return os.stat(self._path_str(sha256)).st_size
        except FileNotFoundError:
            return None

    def exists(self, sha256: str) -> bool:
        return self.size(sha256) is not None

    def store(
        self,
        chunks: Iterable[bytes],
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
        max_size: int | None = None,
    ) -> tuple[str, int]:
        """Write `chunks` as one blob; return (sha256, size). See store_detailed()."""
        blob = self.store_detailed(chunks, expected_sha256=expected_sha256, expected_size=expected_size, max_size=max_size)
        return blob.sha256, blob.size

    def store_detailed(
        self,
        chunks: Iterable[bytes],
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
        max_size: int | None = None,
    ) -> StoredBlob:
        """Stream `chunks` into the store. BadRequest if the content does not match `expected_sha256` /
        `expected_size`, TooLarge past `max_size` (or past `expected_size`); nothing is left behind then.
        With `expected_size` known the git blob oid is computed in the same pass."""
        tmp, blob = self._write_temp(chunks, expected_sha256, expected_size, max_size)
        try:
            fsync_path(tmp)
            self._publish(tmp, blob.sha256)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        return blob

    def store_many(self, items: Iterable[tuple], *, sync_threads: int = 8) -> list[StoredBlob]:
        """Store several blobs at once: items are (chunks, expected_sha256, expected_size) as for
        store_detailed(). All-or-nothing for the temporary files: if one fails its checks, none is
        published.

        Every blob is still fsynced before it is renamed into place, but the fsyncs are issued together
        from a few threads once all files are written, so the file system commits them in a handful of
        journal transactions instead of one per blob (a commit of 1000 small files)."""
        written: list[tuple[str, StoredBlob]] = []
        stored: list[StoredBlob] = []
        try:
            for chunks, expected_sha256, expected_size in items:
                written.append(self._write_temp(chunks, expected_sha256, expected_size, None))
            if len(written) > 1 and sync_threads > 1:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(min(sync_threads, len(written)), thread_name_prefix="blob-fsync") as pool:
                    list(pool.map(fsync_path, [tmp for tmp, _ in written]))
            else:
                for tmp, _ in written:
                    fsync_path(tmp)
            for tmp, blob in written:
                self._publish(tmp, blob.sha256)
                stored.append(blob)
        except BaseException:
            for tmp, _ in written[len(stored):]:  # the published ones are no longer temporary files
                _unlink_quietly(tmp)
            raise
        return stored

    def _write_temp(self, chunks, expected_sha256, expected_size, max_size) -> tuple[str, StoredBlob]:
        """Write `chunks` to a temporary file (not yet fsynced), checking hash, size and limits;
        (temporary path, what was written). Nothing is left behind on error."""
        if expected_sha256 is not None:
            check_sha256(expected_sha256)
        if expected_size is not None and max_size is not None and expected_size > max_size:
            raise TooLarge(f"Object of {expected_size} bytes exceeds the limit of {max_size} bytes")
        sha = hashlib.sha256()
        sha1 = hashlib.sha1(b"blob %d\0" % expected_size) if expected_size is not None else None
        size = 0
        fd, tmp = tempfile.mkstemp(prefix="blob-", dir=self.tmp_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    if not chunk:
                        continue
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise TooLarge(f"Object exceeds the limit of {max_size} bytes")
                    if expected_size is not None and size > expected_size:
                        raise BadRequest(f"Object is larger than the declared size of {expected_size} bytes")
                    sha.update(chunk)
                    if sha1 is not None:
                        sha1.update(chunk)
                    f.write(chunk)
            digest = sha.hexdigest()
            if expected_size is not None and size != expected_size:
                raise BadRequest(f"Object size mismatch: declared {expected_size} bytes, received {size}")
            if expected_sha256 is not None and digest != expected_sha256:
                raise BadRequest(f"Object hash mismatch: declared sha256 {expected_sha256}, received {digest}")
        except BaseException:
            _unlink_quietly(tmp)
            raise
        return tmp, StoredBlob(digest, size, sha1.hexdigest() if sha1 is not None else None)

    def _publish(self, tmp: str, digest: str) -> None:
        """Move a checked, fsynced temporary file to its content address (or drop it: already stored)."""
        final = self._path_str(digest)
        if os.path.exists(final):
            os.unlink(tmp)  # deduplicated: identical bytes are already stored
            try:
                os.utime(final)  # fresh again: garbage collection spares blobs stored for a commit in flight
            except FileNotFoundError:
                pass
            return
        try:
            os.replace(tmp, final)
        except FileNotFoundError:  # first blob under this prefix (the temporary file itself is there)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(tmp, final)
        if self.sync_dirs:
            fsync_path(Path(final).parent, quiet=True)

    def store_bytes(self, data: bytes) -> StoredBlob:
        return self.store_detailed([data], expected_size=len(data))

    def iter_blobs(self):
        """(sha256, path, mtime) of every stored blob."""
        for dirpath, _dirs, files in os.walk(self.blobs_dir):
            for name in files:
                if _SHA256.match(name):
                    path = os.path.join(dirpath, name)
                    try:
                        yield name, path, os.stat(path).st_mtime
                    except FileNotFoundError:
                        continue

    def remove_stale_temp_files(self, older_than: float) -> int:
        """Delete temporary files (left by a crash mid-upload) last written before `older_than` (epoch s)."""
        removed = 0
        for entry in os.scandir(self.tmp_dir):
            try:
                if entry.is_file() and entry.stat().st_mtime < older_than:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def read_bytes(self, sha256: str, limit: int | None = None) -> bytes:
        with open(self.path(sha256), "rb") as f:
            return f.read() if limit is None else f.read(limit)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
