"""create_commit: one atomic commit of file additions, deletions and copies, as huggingface_hub makes it.

The request sequence (spec hub-api.md §8):
  1. README.md among the additions -> POST /api/validate-yaml (fail before reading any other file);
  2. POST /api/{type}s/{id}/preupload/{rev}, <= 256 files per call: "regular" or "lfs" for each file,
     and the oid currently at that path (unchanged files are dropped: re-uploading creates no commit);
  3. files answered "lfs" -> LFS batch, PUT to the signed href (no Authorization), verify (lfs.py);
  4. POST /api/{type}s/{id}/commit/{rev}: an NDJSON body streamed line by line, regular files
     base64-encoded chunk by chunk while sending (a file is never held in memory, not even once;
     commit_payload.py builds and sends that body).
The server applies the commit all-or-nothing; an interrupted call leaves the branch as it was.

>>> from snuggle.hub import HfApi                                # doctest: +SKIP
>>> api = HfApi(endpoint="http://127.0.0.1:8080", token="hf_...")   # doctest: +SKIP
>>> info = create_commit(api, "alice/tiny", [
...     CommitOperationAdd("config.json", b'{"a": 1}'),
...     CommitOperationDelete("old/", is_folder=True),
... ], commit_message="Update config")                         # doctest: +SKIP
>>> info.oid                                                   # doctest: +SKIP
'5e2b0c...'
"""

from __future__ import annotations

import base64
import io
import json
import os
import warnings
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Iterable, Iterator, Literal, NamedTuple, Union
from urllib.parse import quote

from snuggle.hub import constants
from snuggle.hub.client_base import check_repo_type, validate_repo_id
from snuggle.hub.errors import HFValidationError, HfHubHTTPError, HubError
from snuggle.hub.lfs import READ_CHUNK_SIZE, UploadInfo, iter_source
from snuggle.utils.logging import get_logger, warn_once

logger = get_logger(__name__)

UploadMode = Literal["lfs", "regular"]
FORBIDDEN_FOLDERS = (".git", ".cache")
UPLOAD_BATCH_MAX_NUM_FILES = 256  # per preupload call (server limit)

_NO_REPO_HINT = ("\nNote: Creating a commit assumes that the repo already exists on the Hub. Please use "
                 "`create_repo` if it's not the case.")
_DELETE_HINT = ("\nMake sure to differentiate file and folder paths in delete operations with a trailing '/' "
                "or using `is_folder=True/False`.")


# ---- operations ---------------------------------------------------------------------------------
def _validate_path_in_repo(path_in_repo: str) -> str:
    """Client-side path checks (the server checks again): relative, no '.'/'..' segments, no .git/.cache."""
    if not isinstance(path_in_repo, str):
        raise HFValidationError(f"`path_in_repo` must be a str, got {type(path_in_repo).__name__}.")
    if path_in_repo.startswith("/"):  # the reference strips one leading '/'
        path_in_repo = path_in_repo[1:]
    parts = path_in_repo.split("/")
    if path_in_repo == "." or ".." in parts or path_in_repo.startswith("/") or "\0" in path_in_repo:
        raise HFValidationError(f"Invalid `path_in_repo` in CommitOperation: '{path_in_repo}' "
                                "(expected a relative path inside the repo, without '..' segments).")
    if "\\" in path_in_repo:  # the Hub refuses them; say so before anything is uploaded
        raise HFValidationError(f"Invalid `path_in_repo` in CommitOperation: '{path_in_repo}' contains a backslash; "
                                "repo paths use '/' as separator and cannot contain '\\'.")
    if path_in_repo.startswith("./"):
        path_in_repo = path_in_repo[2:]
    for forbidden in FORBIDDEN_FOLDERS:
        if forbidden in path_in_repo.split("/"):
            raise HFValidationError(f"Invalid `path_in_repo` in CommitOperation: cannot update files under a "
                                    f"'{forbidden}/' folder (path: '{path_in_repo}').")
    return path_in_repo


@dataclass
class CommitOperationAdd:
    """Upload a file: from a local path, a bytes object or a binary file object with seek()/tell().

    Mutated while committing (upload mode, remote oid); use a new object for each commit.

    >>> op = CommitOperationAdd("dir/hello.txt", b"hello")
    >>> op.path_in_repo, op.upload_info.size
    ('dir/hello.txt', 5)
    """

    path_in_repo: str
    path_or_fileobj: str | Path | bytes | BinaryIO
    upload_info: UploadInfo = field(init=False, repr=False)
    _upload_mode: UploadMode | None = field(init=False, repr=False, default=None)
    _should_ignore: bool | None = field(init=False, repr=False, default=None)
    _remote_oid: str | None = field(init=False, repr=False, default=None)
    _is_uploaded: bool = field(init=False, repr=False, default=False)
    _is_committed: bool = field(init=False, repr=False, default=False)

    def __post_init__(self) -> None:
        self.path_in_repo = _validate_path_in_repo(self.path_in_repo)
        if isinstance(self.path_or_fileobj, Path):
            self.path_or_fileobj = str(self.path_or_fileobj)
        if isinstance(self.path_or_fileobj, str):
            self.path_or_fileobj = os.path.normpath(os.path.expanduser(self.path_or_fileobj))
            if not os.path.isfile(self.path_or_fileobj):
                raise HFValidationError(
                    f"Provided path: '{self.path_or_fileobj}' is not a file on the local file system")
            self.upload_info = UploadInfo.from_path(self.path_or_fileobj)
        elif isinstance(self.path_or_fileobj, bytes):
            self.upload_info = UploadInfo.from_bytes(self.path_or_fileobj)
        elif isinstance(self.path_or_fileobj, io.BufferedIOBase):
            try:
                self.path_or_fileobj.tell()
                self.path_or_fileobj.seek(0, os.SEEK_CUR)
            except (OSError, AttributeError) as exc:
                raise HFValidationError(
                    "path_or_fileobj is a file-like object but does not implement seek() and tell()") from exc
            self.upload_info = UploadInfo.from_fileobj(self.path_or_fileobj)
        else:
            raise HFValidationError(
                "path_or_fileobj must be either an instance of str, bytes or io.BufferedIOBase. If you passed a "
                f"file-like object, make sure it is in binary mode (got {type(self.path_or_fileobj).__name__}).")

    @contextmanager
    def as_file(self, with_tqdm: bool = False) -> Iterator[BinaryIO]:
        """A readable binary file object over the content (a file object is rewound afterwards)."""
        if isinstance(self.path_or_fileobj, str):
            with open(self.path_or_fileobj, "rb") as f:
                yield f
        elif isinstance(self.path_or_fileobj, bytes):
            yield io.BytesIO(self.path_or_fileobj)
        else:
            previous = self.path_or_fileobj.tell()
            yield self.path_or_fileobj
            self.path_or_fileobj.seek(previous, io.SEEK_SET)

    def b64content(self) -> bytes:
        """The whole content, base64-encoded (the commit itself streams instead of calling this)."""
        return b"".join(_b64_chunks(self.path_or_fileobj))

    @property
    def _local_oid(self) -> str | None:
        """What the server would report for this content at this path: sha256 (lfs) or git blob oid."""
        if self._upload_mode is None:
            return None
        if self._upload_mode == "lfs":
            return self.upload_info.sha256.hex()
        return self.upload_info.git_oid


@dataclass
class CommitOperationDelete:
    """Delete a file, or a folder (path ending in '/' or `is_folder=True`).

    >>> CommitOperationDelete("logs/").is_folder
    True
    """

    path_in_repo: str
    is_folder: bool | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        self.path_in_repo = _validate_path_in_repo(self.path_in_repo)
        if self.is_folder == "auto":
            self.is_folder = self.path_in_repo.endswith("/")
        if not isinstance(self.is_folder, bool):
            raise HFValidationError(
                f"Wrong value for `is_folder`. Must be one of [`True`, `False`, `'auto'`]. Got '{self.is_folder}'.")


@dataclass
class CommitOperationCopy:
    """Copy a file inside the repo (or from another repo you can read): LFS files by reference (no bytes
    move), regular files by re-sending the content read from the server.

    >>> CommitOperationCopy("weights.bin", "backup/weights.bin").src_revision is None
    True
    """

    src_path_in_repo: str
    path_in_repo: str
    src_revision: str | None = None
    src_repo_id: str | None = None
    src_repo_type: str | None = None
    _src_oid: str | None = None
    _dest_oid: str | None = None

    def __post_init__(self) -> None:
        self.src_path_in_repo = _validate_path_in_repo(self.src_path_in_repo)
        self.path_in_repo = _validate_path_in_repo(self.path_in_repo)
        if self.src_repo_id is not None and self.src_repo_type is None:
            raise HFValidationError("`src_repo_type` is required when `src_repo_id` is set.")
        if self.src_repo_type is not None and self.src_repo_id is None:
            raise HFValidationError("`src_repo_id` is required when `src_repo_type` is set.")


CommitOperation = Union[CommitOperationAdd, CommitOperationCopy, CommitOperationDelete]


# ---- result -------------------------------------------------------------------------------------
def _repo_url(url: str, endpoint: str | None):
    try:
        from snuggle.hub.client_info import RepoUrl
    except ImportError:  # the client module is optional for this dataclass
        return url
    return RepoUrl(url, endpoint=endpoint)


@dataclass
class CommitInfo(str):
    """What a commit returned; the string value is the commit URL (like the reference).

    >>> info = CommitInfo("http://h/alice/m/commit/" + "a" * 40, "msg", "", "a" * 40, _endpoint="http://h",
    ...                   pr_url="http://h/alice/m/discussions/3")
    >>> info.pr_revision, info.pr_num, str(info.repo_url)
    ('refs/pr/3', 3, 'http://h/alice/m')
    """

    commit_url: str
    commit_message: str
    commit_description: str
    oid: str
    _endpoint: str | None = field(default=None, repr=False)
    pr_url: str | None = None
    repo_url: Any = field(init=False)
    pr_revision: str | None = field(init=False)
    pr_num: int | None = field(init=False)

    def __new__(cls, commit_url: str, *args, **kwargs):
        return str.__new__(cls, commit_url)

    def __reduce__(self):
        return self.__class__, (self.commit_url, self.commit_message, self.commit_description, self.oid,
                                self._endpoint, self.pr_url)

    def __post_init__(self) -> None:
        self.repo_url = _repo_url(self.commit_url.split("/commit/")[0], self._endpoint)
        if self.pr_url is not None:
            marker = "/discussions/"
            num = self.pr_url.rsplit(marker, 1)[-1] if marker in self.pr_url else ""
            if not num.isdigit():
                raise HubError(f"Unexpected answer of the Hub: expected a pull request URL, got '{self.pr_url}'.")
            self.pr_revision, self.pr_num = f"refs/pr/{num}", int(num)
        else:
            self.pr_revision = self.pr_num = None


# ---- helpers shared with upload.py --------------------------------------------------------------
def _endpoint_of(api) -> str:
    return (getattr(api, "endpoint", None) or constants.endpoint()).rstrip("/")


def _token_of(api, token):
    return token if token is not None else getattr(api, "token", None)


class HubConnection(NamedTuple):
    """Where and as whom an upload talks: the client's endpoint, the token to send (None: the saved one)
    and the client's extra headers (user agent, custom `HfApi(headers=...)`)."""

    endpoint: str
    token: Any
    headers: dict

    def request(self, method: str, url: str, *, headers: dict | None = None, **kwargs):
        """snuggle.hub.http.request with this connection (the token goes to the endpoint only)."""
        from snuggle.hub import http

        return http.request(method, url, token=self.token, endpoint=self.endpoint,
                            headers={**self.headers, **(headers or {})}, **kwargs)


def connection(api, token=None) -> HubConnection:
    """The HubConnection of an HfApi (or any object with `endpoint` and `token`) for one call."""
    extra = api._extra_headers() if hasattr(api, "_extra_headers") else {}
    return HubConnection(_endpoint_of(api), _token_of(api, token), dict(extra))


def _api_url(endpoint: str, repo_type: str, repo_id: str, route: str, revision: str) -> str:
    return f"{endpoint}/api/{repo_type}s/{repo_id}/{route}/{quote(revision, safe='')}"


def repo_web_prefix(endpoint: str, repo_type: str) -> str:
    """Base of repo URLs: the endpoint for models, `{endpoint}/datasets` and `{endpoint}/spaces` otherwise."""
    return endpoint if repo_type == "model" else f"{endpoint}/{repo_type}s"


def _b64_chunks(source) -> Iterator[bytes]:
    # READ_CHUNK_SIZE is a multiple of 3: the encoded chunks concatenate into one valid base64 string
    for chunk in iter_source(source, READ_CHUNK_SIZE):
        yield base64.b64encode(chunk)


def validate_yaml(api, content: str, *, repo_type: str | None = None, token=None) -> None:
    """POST the README to /api/validate-yaml: warnings are shown, errors raise before anything is uploaded."""
    from snuggle.hub.errors import BadRequestError

    hub = connection(api, token)
    body = {"content": content, "repoType": repo_type or "model"}
    try:
        response = hub.request("POST", f"{hub.endpoint}/api/validate-yaml", json=body)
    except BadRequestError as exc:
        try:
            errors = exc.response.json().get("errors") or []
        except Exception:
            errors = []
        details = "\n".join(f"- {e.get('message')}" for e in errors if isinstance(e, dict))
        raise HFValidationError(f"Invalid metadata in README.md.\n{details or exc}") from exc
    found = response.json().get("warnings") or []
    message = "\n".join(f"- {w.get('message')}" for w in found if isinstance(w, dict))
    if message:
        warnings.warn(f"Warnings while validating metadata in README.md:\n{message}")


def _warn_on_overwriting_operations(operations: list[CommitOperation]) -> None:
    """Warn when one commit adds a path twice, or adds then deletes it (or a folder holding it)."""
    additions_per_path: dict[str, int] = defaultdict(int)
    for op in operations:
        if isinstance(op, CommitOperationAdd):
            if additions_per_path[op.path_in_repo] > 0:
                warnings.warn(f"About to update multiple times the same file in the same commit: "
                              f"'{op.path_in_repo}'. This can cause undesired inconsistencies in your repo.")
            additions_per_path[op.path_in_repo] += 1
            for parent in PurePosixPath(op.path_in_repo).parents:
                additions_per_path[str(parent)] += 1
        elif isinstance(op, CommitOperationDelete):
            if additions_per_path[str(PurePosixPath(op.path_in_repo))] > 0:
                what = "folder containing files that have" if op.is_folder else "file that have"
                warnings.warn(f"About to delete a {what} just been updated within the same commit: "
                              f"'{op.path_in_repo}'. This can cause undesired inconsistencies in your repo.")


# ---- preupload + LFS ----------------------------------------------------------------------------
def _fetch_upload_modes(additions: list[CommitOperationAdd], *, hub: HubConnection, repo_type: str,
                        repo_id: str, revision: str, create_pr: bool, gitignore_content: str | None) -> None:
    """Ask preupload how to send each file; sets `_upload_mode`, `_should_ignore`, `_remote_oid`."""
    from snuggle.hub import http

    url = _api_url(hub.endpoint, repo_type, repo_id, "preupload", revision)
    for start in range(0, len(additions), UPLOAD_BATCH_MAX_NUM_FILES):
        chunk = additions[start:start + UPLOAD_BATCH_MAX_NUM_FILES]
        payload: dict[str, Any] = {"files": [
            {"path": op.path_in_repo, "sample": base64.b64encode(op.upload_info.sample).decode("ascii"),
             "size": op.upload_info.size} for op in chunk]}
        if gitignore_content is not None:
            payload["gitIgnore"] = gitignore_content
        response = hub.request("POST", url, json=payload, params={"create_pr": "1"} if create_pr else None,
                               retry_on_status=http.RETRY_STATUSES_LISTING)
        answered = {}
        for item in response.json().get("files") or []:
            if not (isinstance(item, dict) and isinstance(item.get("path"), str)
                    and item.get("uploadMode") in ("lfs", "regular")):
                raise HubError(f"Malformed preupload answer from {url}: {item!r}")
            answered[item["path"]] = item
        for op in chunk:
            item = answered.get(op.path_in_repo)
            if item is None:
                raise HubError(f"The preupload answer from {url} does not mention '{op.path_in_repo}'.")
            # empty files cannot go through LFS: always inline, whatever the answer
            op._upload_mode = "regular" if op.upload_info.size == 0 else item["uploadMode"]
            op._should_ignore = bool(item.get("shouldIgnore", False))
            op._remote_oid = item.get("oid")


def _compute_sha256s(additions: list[CommitOperationAdd], num_threads: int) -> None:
    """Hash the files whose sha256 is unknown, in threads (hashlib releases the GIL on big buffers)."""
    todo = [op for op in additions if not op.upload_info.is_hashed]
    if len(todo) > 1 and num_threads > 1:
        with ThreadPoolExecutor(max_workers=min(num_threads, len(todo))) as pool:
            list(pool.map(lambda op: op.upload_info.sha256, todo))


def _upload_lfs_files(additions: list[CommitOperationAdd], *, hub: HubConnection, repo_type: str, repo_id: str,
                      revision: str | None, num_threads: int) -> None:
    """LFS batch per <= 256 objects, then the PUTs (in threads) and verifies for objects not stored yet."""
    from snuggle.hub.lfs import LFS_BATCH_MAX_OBJECTS, lfs_upload, post_lfs_batch_info
    from snuggle.utils.progress import progress_bar

    by_oid: dict[str, list[CommitOperationAdd]] = defaultdict(list)
    for op in additions:
        by_oid[op.upload_info.sha256.hex()].append(op)
    unique = [ops[0] for ops in by_oid.values()]  # same content under two paths: sent once
    to_send: list[tuple[CommitOperationAdd, dict]] = []
    for start in range(0, len(unique), LFS_BATCH_MAX_OBJECTS):
        chunk = unique[start:start + LFS_BATCH_MAX_OBJECTS]
        actions, errors = post_lfs_batch_info(hub, [op.upload_info for op in chunk], repo_type=repo_type,
                                              repo_id=repo_id, revision=revision)
        if errors:
            lines = "\n".join(f"- {by_oid[e['oid']][0].path_in_repo if e['oid'] in by_oid else e['oid']}: "
                              f"{(e.get('error') or {}).get('message')}" for e in errors)
            raise HubError(f"The LFS batch API refused some files:\n{lines}")
        for obj in actions:
            if obj["oid"] not in by_oid:
                raise HubError(f"The LFS batch API answered for an object that was not asked: {obj['oid']}")
            if obj.get("actions"):
                to_send.append((by_oid[obj["oid"]][0], obj))
    if to_send:
        total = sum(op.upload_info.size for op, _ in to_send)
        with progress_bar(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                          desc=f"Upload {len(to_send)} LFS file{'s' if len(to_send) > 1 else ''}") as bar:
            def send(item):
                op, obj = item
                try:
                    lfs_upload(op, obj, hub=hub, bar=bar)
                except HfHubHTTPError as exc:
                    exc.append_to_message(f"\n(while uploading '{op.path_in_repo}' to the LFS storage)")
                    raise

            if len(to_send) == 1 or num_threads <= 1:
                for item in to_send:
                    send(item)
            else:
                pool = ThreadPoolExecutor(max_workers=min(num_threads, len(to_send)))
                try:
                    for future in [pool.submit(send, item) for item in to_send]:
                        future.result()
                finally:  # after a failure, uploads not started yet are dropped
                    pool.shutdown(wait=True, cancel_futures=True)
    for op in additions:
        op._is_uploaded = True


def preupload_lfs_files(api, repo_id: str, additions: Iterable[CommitOperationAdd], *, token=None,
                        repo_type: str | None = None, revision: str | None = None, create_pr: bool | None = None,
                        num_threads: int = 5, free_memory: bool = True, gitignore_content: str | None = None) -> None:
    """Fetch upload modes and push the LFS files now; a later create_commit with the same operations only
    sends the commit. `free_memory` drops the bytes of uploaded LFS additions.

    >>> op = CommitOperationAdd("big.bin", "big.bin")                      # doctest: +SKIP
    >>> preupload_lfs_files(api, "alice/m", [op])                         # doctest: +SKIP
    >>> create_commit(api, "alice/m", [op], commit_message="add big")     # doctest: +SKIP
    """
    from snuggle.hub.errors import RepositoryNotFoundError

    validate_repo_id(repo_id)
    repo_type = check_repo_type(repo_type)
    revision = revision or constants.DEFAULT_REVISION
    hub = connection(api, token)
    additions = list(additions)
    if gitignore_content is None:
        for op in additions:
            if op.path_in_repo == ".gitignore":
                gitignore_content = b"".join(iter_source(op.path_or_fileobj)).decode()
                break
    new = [op for op in additions if not op._is_uploaded]
    unknown = [op for op in new if op._upload_mode is None]
    try:
        if unknown:
            _fetch_upload_modes(unknown, hub=hub, repo_type=repo_type, repo_id=repo_id, revision=revision,
                                create_pr=bool(create_pr), gitignore_content=gitignore_content)
    except RepositoryNotFoundError as exc:
        exc.append_to_message(_NO_REPO_HINT)
        raise
    lfs = [op for op in new if op._upload_mode == "lfs" and not op._should_ignore]
    _compute_sha256s(lfs, num_threads)
    # unchanged LFS files (same sha256 at that path) need no transfer at all
    changed = [op for op in lfs if op._remote_oid is None or op._remote_oid != op.upload_info.sha256.hex()]
    if changed:
        # with create_pr the caller may only be allowed to open PRs: do not name the target branch
        _upload_lfs_files(changed, hub=hub, repo_type=repo_type, repo_id=repo_id,
                          revision=None if create_pr else revision, num_threads=num_threads)
    for op in lfs:
        op._is_uploaded = True
        if free_memory:
            op.path_or_fileobj = b""
            op.upload_info._source = None


# ---- create_commit ------------------------------------------------------------------------------
_background = None


def _run_in_background(api, fn, *args, **kwargs) -> Future:
    """Background jobs run one after the other, in submission order (HfApi.run_as_future when there is one)."""
    global _background
    if hasattr(api, "run_as_future"):
        return api.run_as_future(fn, api, *args, **kwargs)
    if _background is None:
        _background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snuggle-hub-commit")
    return _background.submit(fn, api, *args, **kwargs)


def head_commit_info(api, repo_id: str, *, repo_type: str, revision: str, token, commit_message: str,
                     commit_description: str) -> CommitInfo:
    """CommitInfo of the current head of `revision` (what a commit that changes nothing returns)."""
    from snuggle.hub.errors import RepositoryNotFoundError

    hub = connection(api, token)
    endpoint = hub.endpoint
    try:
        sha = hub.request("GET", _api_url(endpoint, repo_type, repo_id, "revision", revision)).json()["sha"]
    except RepositoryNotFoundError as exc:
        exc.append_to_message(_NO_REPO_HINT)
        raise
    return CommitInfo(commit_url=f"{repo_web_prefix(endpoint, repo_type)}/{repo_id}/commit/{sha}",
                      commit_message=commit_message, commit_description=commit_description, oid=sha,
                      _endpoint=endpoint)


def _is_no_op(op: CommitOperation, deleted: set[str]) -> bool:
    """An addition/copy whose content is already at that path (and not deleted in this same commit)."""
    if any(p in deleted for p in [op.path_in_repo, *map(str, PurePosixPath(op.path_in_repo).parents)]):
        return False
    if isinstance(op, CommitOperationAdd):
        return op._remote_oid is not None and op._remote_oid == op._local_oid
    if isinstance(op, CommitOperationCopy):
        return op._dest_oid is not None and op._dest_oid == op._src_oid
    return False


def create_commit(api, repo_id: str, operations: Iterable[CommitOperation], *, commit_message: str,
                  commit_description: str | None = None, token=None, repo_type: str | None = None,
                  revision: str | None = None, create_pr: bool | None = None, num_threads: int = 5,
                  parent_commit: str | None = None, run_as_future: bool = False) -> CommitInfo | Future:
    """Create one commit on `revision` (default main) with the given operations; see the module docstring.

    `parent_commit`: the commit you expect at the head of `revision`; if the branch moved, the server
    answers 412 and nothing is committed. `create_pr=True` opens a pull request instead of moving the
    branch. Files whose content is already there are dropped; if nothing is left, no commit is made and
    the current head is returned.

    >>> create_commit(api, "alice/tiny", [CommitOperationAdd("a.txt", b"a")], commit_message="add a")  # doctest: +SKIP
    CommitInfo(commit_url='http://127.0.0.1:8080/alice/tiny/commit/...', ...)
    """
    if run_as_future:
        return _run_in_background(api, create_commit, repo_id, operations, commit_message=commit_message,
                                  commit_description=commit_description, token=token, repo_type=repo_type,
                                  revision=revision, create_pr=create_pr, num_threads=num_threads,
                                  parent_commit=parent_commit)
    return _create_commit(api, repo_id, list(operations), commit_message=commit_message,
                          commit_description=commit_description, token=token, repo_type=repo_type,
                          revision=revision, create_pr=create_pr, num_threads=num_threads,
                          parent_commit=parent_commit)


def _create_commit(api, repo_id: str, operations: list[CommitOperation], *, commit_message: str,
                   commit_description: str | None, token, repo_type: str | None, revision: str | None,
                   create_pr: bool | None, num_threads: int, parent_commit: str | None,
                   check_readme: bool = True) -> CommitInfo:
    from snuggle.hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError

    if parent_commit is not None and not constants.REGEX_COMMIT_OID.fullmatch(parent_commit):
        raise HFValidationError(f"`parent_commit` is not a valid commit OID: {parent_commit!r} (expected 5 to 40 "
                                "hexadecimal characters, e.g. the `oid` of a previous CommitInfo).")
    if not commit_message:
        raise HFValidationError("`commit_message` can't be empty, please pass a value.")
    commit_description = commit_description if commit_description is not None else ""
    validate_repo_id(repo_id)
    repo_type = check_repo_type(repo_type)
    revision = revision or constants.DEFAULT_REVISION
    create_pr = bool(create_pr)
    hub = connection(api, token)

    additions = [op for op in operations if isinstance(op, CommitOperationAdd)]
    copies = [op for op in operations if isinstance(op, CommitOperationCopy)]
    nb_deletions = len(operations) - len(additions) - len(copies)
    for op in additions:
        if op._is_committed:
            raise HFValidationError(f"CommitOperationAdd {op} has already being committed and cannot be reused. "
                                    "Please create a new CommitOperationAdd object for a new commit.")
    if repo_type != "dataset":
        for op in additions:
            if op.path_in_repo.endswith((".arrow", ".parquet")):
                warnings.warn(f"It seems that you are about to commit a data file ({op.path_in_repo}) to a "
                              f"{repo_type} repository. You are sure this is intended? If you are trying to upload "
                              "a dataset, please set `repo_type='dataset'`.")
    if check_readme:
        readme = next((op for op in additions if op.path_in_repo == "README.md"), None)
        if readme is not None:
            validate_yaml(api, b"".join(iter_source(readme.path_or_fileobj)).decode(), repo_type=repo_type,
                          token=token)
    _warn_on_overwriting_operations(operations)

    from snuggle.hub import commit_payload

    preupload_lfs_files(api, repo_id, additions, token=token, repo_type=repo_type, revision=revision,
                        create_pr=create_pr, num_threads=num_threads, free_memory=False)
    files_to_copy = commit_payload._fetch_files_to_copy(copies, hub=hub, repo_type=repo_type, repo_id=repo_id,
                                                        revision=revision)
    try:
        deleted = {op.path_in_repo.rstrip("/") for op in operations if isinstance(op, CommitOperationDelete)}
        to_commit = [op for op in operations if not _is_no_op(op, deleted)]
        if len(to_commit) != len(operations):
            logger.info(f"Removing {len(operations) - len(to_commit)} file(s) from commit that have not changed.")
        if not to_commit:
            warn_once(logger, "No files have been modified since last commit. Skipping to prevent empty commit.")
            return head_commit_info(api, repo_id, repo_type=repo_type, revision=revision, token=token,
                                    commit_message=commit_message, commit_description=commit_description)
        body = commit_payload._prepare_commit_body(to_commit, files_to_copy, commit_message, commit_description,
                                                   parent_commit)
        try:
            info = commit_payload._send_commit(body, hub=hub, repo_type=repo_type, repo_id=repo_id,
                                               revision=revision, create_pr=create_pr, commit_message=commit_message,
                                               commit_description=commit_description)
        except RepositoryNotFoundError as exc:
            exc.append_to_message(_NO_REPO_HINT)
            raise
        except RemoteEntryNotFoundError as exc:
            if nb_deletions and "A file with this name doesn't exist" in str(exc):
                exc.append_to_message(_DELETE_HINT)
            raise
        except HfHubHTTPError as exc:
            if getattr(exc.response, "status_code", None) == 412:
                exc.append_to_message(
                    f"\nThe branch '{revision}' moved: its head is no longer the `parent_commit` "
                    f"({parent_commit}) this commit was based on, so nothing was committed. Fetch the new head "
                    "(e.g. `HfApi.repo_info(...).sha`), check that your changes still apply, then retry with that "
                    "`parent_commit` (or without `parent_commit` to commit on top of whatever is there).")
            raise
    finally:
        for source in files_to_copy.values():
            if isinstance(source, tuple):
                source[0].close()
    for op in additions:
        op._is_committed = True
    return info
