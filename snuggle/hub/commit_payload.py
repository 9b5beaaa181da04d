"""The commit request itself: the sources of copied files, the NDJSON body and its POST.

The body is an iterable of byte chunks whose total length is computed before sending (so the request
has a Content-Length, not chunked encoding): header line, then one line per operation. Regular files
become `{"key": "file", ..., "content": "<base64>"}` lines encoded while they are sent, a read chunk at
a time, so a commit never holds a file in memory; copied regular files are first streamed from the
server into a spooled temporary file. LFS files and LFS copies are references by sha256.

>>> body = _CommitBody()
>>> body.add_line("header", {"summary": "s", "description": ""})
>>> body.add_inline_file("a.txt", b"hi", 2)
>>> b"".join(body).splitlines()[1]
b'{"key": "file", "value": {"path": "a.txt", "encoding": "base64", "content": "aGk="}}'
>>> len(b"".join(body)) == body.length
True
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections import defaultdict
from typing import Any, BinaryIO, Iterator, NamedTuple
from urllib.parse import quote

from snuggle.hub.commits import (
    CommitInfo,
    CommitOperation,
    CommitOperationAdd,
    CommitOperationCopy,
    CommitOperationDelete,
    HubConnection,
    _api_url,
)
from snuggle.hub.errors import HFValidationError, HubError
from snuggle.hub.lfs import READ_CHUNK_SIZE, iter_source
from snuggle.utils.logging import get_logger

logger = get_logger(__name__)

FETCH_PATHS_INFO_BATCH_SIZE = 500
COMMIT_PROGRESS_MIN_BYTES = 10 * 1024 * 1024  # below this the commit is quick: no bar
COPY_SPOOL_MAX_MEMORY = 16 * 1024 * 1024  # regular files to copy: in memory up to this, then a temp file


# ---- copies -------------------------------------------------------------------------------------
class _CopySource(NamedTuple):
    src_repo_id: str | None
    src_repo_type: str | None
    path: str
    revision: str | None


def _paths_info(hub: HubConnection, repo_type: str, repo_id: str, revision: str, paths: list[str]) -> list[dict]:
    """Tree entries for `paths` at `revision` (missing paths are simply absent from the answer)."""
    entries: list[dict] = []
    url = _api_url(hub.endpoint, repo_type, repo_id, "paths-info", revision)
    for start in range(0, len(paths), FETCH_PATHS_INFO_BATCH_SIZE):
        batch = paths[start:start + FETCH_PATHS_INFO_BATCH_SIZE]
        response = hub.request("POST", url, data={"paths": batch, "expand": "false"})
        entries.extend(e for e in response.json() if isinstance(e, dict))
    return entries


def _download_to_spool(hub: HubConnection, url: str) -> BinaryIO:
    """Stream a file of the repo into a spooled temp file (memory for small files, disk for big ones)."""
    spool = tempfile.SpooledTemporaryFile(max_size=COPY_SPOOL_MAX_MEMORY)
    response = hub.request("GET", url, stream=True)
    try:
        for chunk in response.iter_bytes():
            spool.write(chunk)
    finally:
        response.close()
    spool.seek(0)
    return spool


def _fetch_files_to_copy(copies: list[CommitOperationCopy], *, hub: HubConnection, repo_type: str, repo_id: str,
                         revision: str) -> dict[_CopySource, Any]:
    """For each copy source: its tree entry (LFS: copied by reference) or its content (regular files)."""
    from snuggle.hub.errors import EntryNotFoundError

    files: dict[_CopySource, Any] = {}
    if not copies:
        return files
    dest_oids = {e["path"]: e.get("oid") for e in _paths_info(hub, repo_type, repo_id, revision,
                                                              [op.path_in_repo for op in copies])
                 if e.get("type") == "file"}
    groups: dict[tuple, list[CommitOperationCopy]] = defaultdict(list)
    for op in copies:
        groups[(op.src_repo_id, op.src_repo_type, op.src_revision)].append(op)
    for (src_repo_id, src_repo_type, src_revision), ops in groups.items():
        cross_repo = src_repo_id is not None
        eff_repo_id, eff_repo_type = src_repo_id or repo_id, src_repo_type or repo_type
        eff_revision = src_revision or ("main" if cross_repo else revision)
        entries = _paths_info(hub, eff_repo_type, eff_repo_id, eff_revision,
                              sorted({op.src_path_in_repo for op in ops}))
        src_oids = {}
        for entry in entries:
            if entry.get("type") != "file":
                raise NotImplementedError(f"Copying a folder is not implemented ('{entry.get('path')}').")
            key = _CopySource(src_repo_id, src_repo_type, entry["path"], src_revision)
            src_oids[entry["path"]] = entry.get("oid")
            if entry.get("lfs"):
                files[key] = entry
            else:
                prefix = "" if eff_repo_type == "model" else f"{eff_repo_type}s/"
                url = (f"{hub.endpoint}/{prefix}{eff_repo_id}/resolve/{quote(eff_revision, safe='')}/"
                       f"{quote(entry['path'])}")
                files[key] = (_download_to_spool(hub, url), int(entry.get("size") or 0))
        for op in ops:
            if _CopySource(src_repo_id, src_repo_type, op.src_path_in_repo, src_revision) not in files:
                where = f" of {eff_repo_type}s/{eff_repo_id}" if cross_repo else ""
                raise EntryNotFoundError(f"Cannot copy {op.src_path_in_repo} at revision {eff_revision}{where}: "
                                         "file is missing on repo.")
            op._dest_oid = dest_oids.get(op.path_in_repo)
            if not cross_repo:
                op._src_oid = src_oids.get(op.src_path_in_repo)
    return files


# ---- the NDJSON body ----------------------------------------------------------------------------
def _json_line(key: str, value: dict) -> bytes:
    return json.dumps({"key": key, "value": value}).encode() + b"\n"


class _CommitBody:
    """The commit's NDJSON lines as an iterable of byte chunks with a known total `length`.

    Regular files become `{"key": "file", "value": {..., "content": "<base64>"}}` lines whose content
    is encoded while it is sent, so the body costs a few chunks of memory whatever the file sizes.
    """

    def __init__(self) -> None:
        self.parts: list[tuple[bytes, Any, int]] = []  # (literal bytes, source to base64 or None, size)
        self.length = 0
        self.inline_bytes = 0
        self.bar = None

    def add_line(self, key: str, value: dict) -> None:
        line = _json_line(key, value)
        self.parts.append((line, None, 0))
        self.length += len(line)

    def add_inline_file(self, path: str, source, size: int) -> None:
        head = b'{"key": "file", "value": {"path": ' + json.dumps(path).encode() + b', "encoding": "base64", '
        self.parts.append((head + b'"content": "', None, 0))
        self.parts.append((b"", source, size))
        self.parts.append((b'"}}\n', None, 0))
        self.length += len(head) + len(b'"content": "') + 4 * ((size + 2) // 3) + len(b'"}}\n')
        self.inline_bytes += size

    def __iter__(self) -> Iterator[bytes]:
        for literal, source, size in self.parts:
            if literal:
                yield literal
            if source is None:
                continue
            sent = 0
            for chunk in iter_source(source, READ_CHUNK_SIZE):
                sent += len(chunk)
                if sent > size:
                    break
                if self.bar is not None:
                    self.bar.update(len(chunk))
                yield base64.b64encode(chunk)
            if sent != size:
                name = source if isinstance(source, str) else "a file object"
                raise HubError(f"{name} changed while it was being uploaded (expected {size} bytes, read "
                               f"{'more' if sent > size else sent}); nothing was committed, retry the upload.")


def _prepare_commit_body(operations: list[CommitOperation], files_to_copy: dict[_CopySource, Any],
                         commit_message: str, commit_description: str, parent_commit: str | None) -> _CommitBody:
    body = _CommitBody()
    header = {"summary": commit_message, "description": commit_description}
    if parent_commit is not None:
        header["parentCommit"] = parent_commit
    body.add_line("header", header)
    ignored = 0
    for op in operations:
        if isinstance(op, CommitOperationAdd):
            if op._should_ignore:
                ignored += 1
            elif op._upload_mode == "regular":
                body.add_inline_file(op.path_in_repo, op.path_or_fileobj, op.upload_info.size)
            elif op._upload_mode == "lfs":
                body.add_line("lfsFile", {"path": op.path_in_repo, "algo": "sha256",
                                          "oid": op.upload_info.sha256.hex(), "size": op.upload_info.size})
            else:
                raise HubError(f"Internal error: no upload mode for '{op.path_in_repo}' (preupload was skipped).")
        elif isinstance(op, CommitOperationDelete):
            body.add_line("deletedFolder" if op.is_folder else "deletedFile", {"path": op.path_in_repo})
        elif isinstance(op, CommitOperationCopy):
            source = files_to_copy[_CopySource(op.src_repo_id, op.src_repo_type, op.src_path_in_repo,
                                               op.src_revision)]
            if isinstance(source, tuple):  # regular file: its content goes inline again
                body.add_inline_file(op.path_in_repo, source[0], source[1])
            else:  # LFS: a reference to the stored object; the server knows its size
                body.add_line("lfsFile", {"path": op.path_in_repo, "algo": "sha256", "oid": source["lfs"]["oid"]})
        else:
            raise HFValidationError(f"Unknown operation to commit: {op!r}")
    if ignored:
        logger.info(f"Skipped {ignored} file(s) in commit (ignored by gitignore file).")
    return body


def _send_commit(body: _CommitBody, *, hub: HubConnection, repo_type: str, repo_id: str, revision: str,
                 create_pr: bool, commit_message: str, commit_description: str) -> CommitInfo:
    import httpx

    from snuggle.utils.progress import progress_bar, progress_disabled

    url = _api_url(hub.endpoint, repo_type, repo_id, "commit", revision)
    headers = {"Content-Type": "application/x-ndjson", "Content-Length": str(body.length)}
    show = body.inline_bytes >= COMMIT_PROGRESS_MIN_BYTES and not progress_disabled()
    # the server hashes and stores the body before answering: allow a long wait for the first byte
    timeout = httpx.Timeout(60.0, read=600.0)
    with progress_bar(total=body.inline_bytes, unit="B", unit_scale=True, unit_divisor=1024,
                      desc="Commit", disable=not show) as bar:
        body.bar = bar
        response = hub.request("POST", url, headers=headers, content=iter(body), timeout=timeout,
                               params={"create_pr": "1"} if create_pr else None, endpoint_name="commit")
    data = response.json()
    return CommitInfo(commit_url=data["commitUrl"], commit_message=commit_message,
                      commit_description=commit_description, oid=data["commitOid"],
                      pr_url=data.get("pullRequestUrl") if create_pr else None, _endpoint=hub.endpoint)
