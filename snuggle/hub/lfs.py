"""Large files: what the client knows about a blob before uploading it (UploadInfo), and the git-LFS
batch API with the "basic" transfer (batch -> PUT to a signed URL -> verify).

Files that the preupload call answers `lfs` go through here before the commit; the commit then only
references them by sha256 (`lfsFile` lines). The PUT carries no Authorization header (the URL
authorizes itself), is retried on transient failures, and re-reads the file on every attempt, so a
retry never needs the bytes in memory.

>>> info = UploadInfo.from_bytes(b"hello")
>>> info.size, info.sha256.hex()[:12], info.git_oid[:12]
(5, '2cf24dba5fb0', 'b6fc4c620b67')
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from snuggle.utils.logging import get_logger

if TYPE_CHECKING:
    from snuggle.hub.commits import CommitOperationAdd, HubConnection

logger = get_logger(__name__)

LFS_HEADERS = {"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"}
LFS_BATCH_MAX_OBJECTS = 256  # the server's per-call limit, same as preupload
READ_CHUNK_SIZE = 3 * 256 * 1024  # a multiple of 3: base64 of each chunk concatenates without padding
# PUT / verify retries: statuses worth another attempt, and the waits between attempts (seconds).
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
RETRY_WAITS = (1.0, 2.0, 4.0, 8.0)


# ---- reading a blob ------------------------------------------------------------------------------
def iter_source(source: str | bytes | BinaryIO, chunk_size: int = READ_CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the content of a path, a bytes object or a seekable binary file object (from offset 0).

    >>> b"".join(iter_source(b"abcdef", chunk_size=4))
    b'abcdef'
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start:start + chunk_size])
        return
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            while chunk := f.read(chunk_size):
                yield chunk
        return
    # A file object: read from the start, then put the position back where the caller left it.
    previous = source.tell()
    source.seek(0)
    try:
        while chunk := source.read(chunk_size):
            yield chunk
    finally:
        source.seek(previous)


class UploadInfo:
    """Size, first 512 bytes, sha256 and git blob oid of a blob; the hashes are computed on first use.

    Preupload only needs `size` and `sample`; `sha256` is read when the file goes through LFS, and
    `git_oid` (sha1 of "blob <size>\\0" + content) only to tell an unchanged regular file.

    >>> UploadInfo.from_bytes(b"").git_oid
    'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'
    """

    def __init__(self, size: int, sample: bytes, sha256: bytes | None = None,
                 source: str | bytes | BinaryIO | None = None):
        if sha256 is None and source is None:
            raise ValueError("UploadInfo needs either `sha256` or a `source` to compute it from.")
        self.size = size
        self.sample = sample
        self._sha256 = sha256
        self._git_oid: str | None = None
        self._source = source

    @property
    def sha256(self) -> bytes:
        """Raw sha256 digest (32 bytes) of the content."""
        if self._sha256 is None:
            h = hashlib.sha256()
            for chunk in iter_source(self._source):
                h.update(chunk)
            self._sha256 = h.digest()
        return self._sha256

    @sha256.setter
    def sha256(self, value: bytes) -> None:
        self._sha256 = value

    @property
    def is_hashed(self) -> bool:
        """True once the sha256 is known (reading `sha256` will not touch the file)."""
        return self._sha256 is not None

    @property
    def git_oid(self) -> str:
        """The git blob id of the content: what the server reports as `oid` of a regular file."""
        if self._git_oid is None:
            if self._source is None:
                raise ValueError("the git oid needs the content, which this UploadInfo does not have")
            h = hashlib.sha1(f"blob {self.size}\0".encode())
            for chunk in iter_source(self._source):
                h.update(chunk)
            self._git_oid = h.hexdigest()
        return self._git_oid

    def __repr__(self) -> str:
        digest = self._sha256.hex() if self._sha256 is not None else "<not computed>"
        return f"UploadInfo(size={self.size}, sha256={digest})"

    @classmethod
    def from_path(cls, path: str) -> "UploadInfo":
        with open(path, "rb") as f:
            sample = f.read(512)
        return cls(size=os.path.getsize(path), sample=sample, source=path)

    @classmethod
    def from_bytes(cls, data: bytes) -> "UploadInfo":
        return cls(size=len(data), sample=bytes(data[:512]), source=data)

    @classmethod
    def from_fileobj(cls, fileobj: BinaryIO) -> "UploadInfo":
        previous = fileobj.tell()
        fileobj.seek(0, io.SEEK_END)
        size = fileobj.tell()
        fileobj.seek(0)
        sample = fileobj.read(512)
        fileobj.seek(previous)
        return cls(size=size, sample=sample, source=fileobj)


# ---- the batch API --------------------------------------------------------------------------------
def lfs_batch_url(endpoint: str, repo_type: str, repo_id: str) -> str:
    """`{endpoint}/{prefix}{repo_id}.git/info/lfs/objects/batch` (prefix '', 'datasets/', 'spaces/')."""
    prefix = "" if repo_type in (None, "model") else f"{repo_type}s/"
    return f"{endpoint}/{prefix}{repo_id}.git/info/lfs/objects/batch"


def post_lfs_batch_info(hub: "HubConnection", upload_infos: Iterable[UploadInfo], *, repo_type: str, repo_id: str,
                        revision: str | None = None) -> tuple[list[dict], list[dict]]:
    """Ask the batch API what to do with each object: (objects with or without actions, objects in error).

    An object without `actions` is already stored server side: nothing to send.
    """
    payload: dict[str, Any] = {
        "operation": "upload",
        "transfers": ["basic"],  # we never take multipart: one PUT per object
        "hash_algo": "sha256",
        "objects": [{"oid": info.sha256.hex(), "size": info.size} for info in upload_infos],
    }
    if revision is not None:
        payload["ref"] = {"name": revision}
    response = hub.request("POST", lfs_batch_url(hub.endpoint, repo_type, repo_id), headers=dict(LFS_HEADERS),
                           json=payload, retry_on_status=RETRY_STATUSES)
    objects = response.json().get("objects")
    if not isinstance(objects, list):
        raise ValueError(f"Malformed answer of the LFS batch API at {response.url}: no `objects` list.")
    for obj in objects:
        if not (isinstance(obj, dict) and isinstance(obj.get("oid"), str) and isinstance(obj.get("size"), int)):
            raise ValueError(f"Malformed object in the LFS batch answer: {obj!r} (expected `oid` and `size`).")
    return [o for o in objects if "error" not in o], [o for o in objects if "error" in o]


def _should_retry(attempt: int, response=None, error: Exception | None = None) -> bool:
    if attempt >= len(RETRY_WAITS):
        return False
    if error is not None or (response is not None and response.status_code in RETRY_STATUSES):
        time.sleep(RETRY_WAITS[attempt])
        return True
    return False


def _put_with_retries(url: str, operation: "CommitOperationAdd", bar) -> None:
    """PUT the content to a self-authorizing URL, re-reading it on each attempt."""
    import httpx

    from snuggle.hub import http

    size = operation.upload_info.size
    for attempt in range(len(RETRY_WAITS) + 1):
        sent = 0

        def body() -> Iterator[bytes]:
            nonlocal sent
            for chunk in iter_source(operation.path_or_fileobj):
                sent += len(chunk)
                bar.update(len(chunk))
                yield chunk

        try:
            # Content-Length set explicitly: a plain (not chunked) PUT, as object stores want.
            response = http.get_session().put(url, content=body(), headers={"Content-Length": str(size)})
        except httpx.TransportError as exc:  # reset, timeout: the server kept nothing (PUTs are verified)
            bar.update(-sent)
            if _should_retry(attempt, error=exc):
                logger.warning(f"LFS upload of '{operation.path_in_repo}' failed ({exc!r}); retrying.")
                continue
            raise
        if response.status_code < 400:
            return
        bar.update(-sent)
        if not _should_retry(attempt, response=response):
            http.hf_raise_for_status(response)
        logger.warning(f"LFS upload of '{operation.path_in_repo}' answered {response.status_code}; retrying.")


def lfs_upload(operation: "CommitOperationAdd", batch_action: dict, *, hub: "HubConnection", bar=None) -> None:
    """Upload one object as the batch answer says: PUT (if `actions.upload`), then verify (if asked).

    The PUT goes out without the Authorization header: the href is a signed, expiring URL, and the
    token must not travel to wherever that URL points. `bar` (a tqdm bar counting bytes) is optional.
    """
    from snuggle.utils.progress import progress_bar

    actions = batch_action.get("actions")
    if not actions:
        logger.debug(f"'{operation.path_in_repo}' is already stored upstream; nothing to send")
        return
    upload, verify = actions.get("upload"), actions.get("verify")
    for action in (upload, verify):
        if action is not None and not isinstance(action.get("href"), str):
            raise ValueError(f"Malformed LFS action for '{operation.path_in_repo}': {action!r} has no `href`.")
    if upload is not None:
        if isinstance(upload.get("header"), dict) and "chunk_size" in upload["header"]:
            raise ValueError("The server offered a multipart LFS upload; snuggle asked for (and supports) basic only.")
        if bar is None:
            with progress_bar(total=operation.upload_info.size, unit="B", unit_scale=True, unit_divisor=1024,
                              desc=operation.path_in_repo, leave=False) as own_bar:
                _put_with_retries(upload["href"], operation, own_bar)
        else:
            _put_with_retries(upload["href"], operation, bar)
    if verify is not None:
        hub.request("POST", verify["href"], headers=dict(LFS_HEADERS), retry_on_status=RETRY_STATUSES,
                    json={"oid": operation.upload_info.sha256.hex(), "size": operation.upload_info.size})
