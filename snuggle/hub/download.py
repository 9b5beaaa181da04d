"""`hf_hub_download`: one repo file into the HF cache (or a local folder), as huggingface_hub does it.

The steps, for `hf_hub_download("user/repo", "config.json")`:
1. A commit-hash revision whose file is already in snapshots/ returns at once (no request).
2. HEAD /user/repo/resolve/<rev>/config.json -> X-Repo-Commit (the commit), ETag / X-Linked-Etag (the blob
   name), Content-Length / X-Linked-Size. A 404 EntryNotFound is remembered under .no_exist/<commit>/.
3. If the HEAD cannot be made (offline, `local_files_only`, network down, server error, no access), the
   file is served from the cache: refs/<rev> -> snapshots/<commit>/<file>; otherwise the matching error
   is raised (LocalEntryNotFoundError, or the server's RepositoryNotFoundError / 401).
4. Otherwise, under the lock .locks/<repo>/<etag>.lock, the blob is downloaded to blobs/<etag>.incomplete
   and renamed to blobs/<etag>; snapshots/<commit>/config.json becomes a relative symlink to it and
   refs/<rev> records the commit.

Interrupted downloads resume: the `.incomplete` file stays on disk and the next attempt (this process after
a dropped connection, or a later one after a crash) asks only for the missing bytes with `Range: bytes=N-`.
The lock is the reference client's, so both clients can download into one cache at the same time.

>>> hf_hub_url("julien-c/EsperBERTo-small", "pytorch_model.bin", endpoint="https://huggingface.co")
'https://huggingface.co/julien-c/EsperBERTo-small/resolve/main/pytorch_model.bin'
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NoReturn
from urllib.parse import quote, urljoin

from snuggle.hub import cache as hub_cache
from snuggle.hub.cache import REGEX_COMMIT_HASH, REGEX_SHA256, WeakFileLock
from snuggle.utils.logging import get_logger

logger = get_logger(__name__)

HEADER_X_REPO_COMMIT = "X-Repo-Commit"
HEADER_X_LINKED_ETAG = "X-Linked-Etag"
HEADER_X_LINKED_SIZE = "X-Linked-Size"
DEFAULT_ETAG_TIMEOUT = 10
ETAG_RETRY_TIMEOUT = 60  # the second metadata attempt, when nothing is cached
MAX_DOWNLOAD_RETRIES = 5  # resumptions after a dropped connection, reset whenever bytes arrive
_RETRY_STATUSES = (408, 429, 500, 502, 503, 504)


@dataclass(frozen=True)
class HfFileMetadata:
    """What a HEAD on /resolve says about a file: its commit, ETag, final location and size."""

    commit_hash: str | None
    etag: str | None
    location: str
    size: int | None
    xet_file_data: Any = None


@dataclass
class DryRunFileInfo:
    """What `hf_hub_download(..., dry_run=True)` would do: the file's commit, size, path and whether it
    is already cached (then nothing would be downloaded unless `force_download`)."""

    commit_hash: str
    file_size: int | None
    filename: str
    local_path: str
    is_cached: bool
    will_download: bool


def _endpoint(endpoint: str | None) -> str:
    from snuggle.hub import constants

    return (endpoint or constants.endpoint()).rstrip("/")


def hf_hub_url(repo_id: str, filename: str, *, subfolder: str | None = None, repo_type: str | None = None,
               revision: str | None = None, endpoint: str | None = None) -> str:
    """The /resolve URL of a file: `{endpoint}/{prefix}{repo_id}/resolve/{revision}/{filename}`.

    The revision is one URL segment (`/` encoded); the file path keeps its `/`.

    >>> hf_hub_url("a/b", "x y.txt", repo_type="dataset", revision="refs/pr/1", endpoint="http://h")
    'http://h/datasets/a/b/resolve/refs%2Fpr%2F1/x%20y.txt'
    """
    if subfolder:
        filename = f"{subfolder}/{filename}"
    repo_type = hub_cache.check_repo_type(repo_type)
    prefix = {"dataset": "datasets/", "space": "spaces/"}.get(repo_type, "")
    revision = revision or "main"
    return f"{_endpoint(endpoint)}/{prefix}{repo_id}/resolve/{quote(revision, safe='')}/{quote(filename)}"


def _normalize_etag(etag: str | None) -> str | None:
    """'W/"abc"' or '"abc"' -> 'abc' (usable as a file name)."""
    if etag is None:
        return None
    return etag.lstrip("W/").strip('"')


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _same_origin(a: str, b: str) -> bool:
    from snuggle.hub.http import is_endpoint_url

    return is_endpoint_url(a, b)


def _request_headers(headers: dict | None, library_name=None, library_version=None, user_agent=None) -> dict:
    from snuggle.hub import http

    result = {"user-agent": http.user_agent(library_name, library_version, user_agent)}
    result.update(headers or {})
    return result


def get_hf_file_metadata(url: str, token: bool | str | None = None, timeout: float | None = None,
                         library_name: str | None = None, library_version: str | None = None,
                         user_agent: dict | str | None = None, headers: dict[str, str] | None = None,
                         endpoint: str | None = None, retry_on_errors: bool = False) -> HfFileMetadata:
    """HEAD a /resolve URL and read its metadata (same-origin redirects followed, others stopped at).

    >>> get_hf_file_metadata(hf_hub_url("user/repo", "config.json")).etag   # doctest: +SKIP
    'a3f1...'
    """
    from snuggle.hub import constants, http

    request_headers = _request_headers(headers, library_name, library_version, user_agent)
    request_headers["Accept-Encoding"] = "identity"  # Content-Length must be the real size
    endpoint = _endpoint(endpoint)
    timeout = constants.etag_timeout() if timeout is None else timeout
    retry = {"max_retries": 5, "retry_on_status": _RETRY_STATUSES} if retry_on_errors else \
        {"max_retries": 0, "retry_on_status": ()}
    current = url
    for _ in range(http.MAX_REDIRECTS):
        response = http.request("HEAD", current, token=token, endpoint=endpoint, headers=request_headers,
                                follow_redirects=False, raise_for_status=False, timeout=timeout, **retry)
        location = response.headers.get("Location")
        # A redirect to another host (signed storage URL) carries the metadata itself: stop there.
        if response.is_redirect and location and _same_origin(urljoin(current, location), current):
            current = urljoin(current, location)
            continue
        break
    http.hf_raise_for_status(response)
    location = response.headers.get("Location")
    return HfFileMetadata(
        commit_hash=response.headers.get(HEADER_X_REPO_COMMIT),
        etag=_normalize_etag(response.headers.get(HEADER_X_LINKED_ETAG) or response.headers.get("ETag")),
        location=urljoin(current, location) if location else str(response.request.url),
        size=_int_or_none(response.headers.get(HEADER_X_LINKED_SIZE)
                          or (None if response.is_redirect else response.headers.get("Content-Length"))),
    )


def _network_errors() -> tuple[type, ...]:
    import httpx

    return (httpx.ConnectError, httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError)


def http_get(url: str, temp_file: BinaryIO, *, resume_size: int = 0, headers: dict[str, str] | None = None,
             expected_size: int | None = None, displayed_filename: str | None = None, tqdm_class: Any = None,
             token: bool | str | None = None, endpoint: str | None = None, _nb_retries: int = MAX_DOWNLOAD_RETRIES,
             _bar: Any = None) -> None:
    """Stream `url` into `temp_file` (appending from `resume_size` bytes with a Range request).

    A dropped connection resumes from the bytes received so far, up to 5 times in a row; a server that
    ignores Range (200 instead of 206) makes the file start over. The byte count must end at
    `expected_size` (OSError otherwise: "Consistency check failed").
    """
    from snuggle.hub import constants, http
    from snuggle.utils.progress import progress_bar

    if expected_size is not None and resume_size == expected_size:
        return
    request_headers = dict(headers or {})
    request_headers["Accept-Encoding"] = "identity"
    if resume_size > 0:
        request_headers["Range"] = f"bytes={resume_size}-"
    elif expected_size and expected_size > constants.MAX_HTTP_DOWNLOAD_SIZE:
        raise ValueError("The file is too large to be downloaded using the regular download method.")
    received = resume_size
    bar = _bar
    try:
        response = http.request("GET", url, token=token, endpoint=_endpoint(endpoint), headers=request_headers,
                                stream=True, timeout=constants.download_timeout(), retry_on_status=(408, 429))
        try:
            if resume_size > 0 and response.status_code == 200:
                # Range ignored: the body is the whole file again.
                temp_file.seek(max(temp_file.tell() - resume_size, 0))
                temp_file.truncate()
                if bar is not None:
                    bar.update(-resume_size)
                resume_size = received = 0
            total = _total_length(response)
            if expected_size is None:
                expected_size = total
            name = displayed_filename or url
            if len(name) > 40:
                name = f"(…){name[-40:]}"
            if bar is None:
                if tqdm_class is not None:
                    bar = tqdm_class(total=total if total is not None else expected_size, initial=resume_size,
                                     desc=name, unit="B", unit_scale=True, unit_divisor=1024)
                else:
                    bar = progress_bar(total=total if total is not None else expected_size, initial=resume_size,
                                       desc=name, unit="B", unit_scale=True, unit_divisor=1024)
            for chunk in response.iter_bytes():  # as received: a drop loses nothing already read
                if chunk:
                    temp_file.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                    _nb_retries = MAX_DOWNLOAD_RETRIES  # progress was made: the retry budget starts over
        finally:
            response.close()
    except _network_errors() as err:
        if _nb_retries <= 0:
            logger.warning(f"Error while downloading from {url}: {err}\nMax retries exceeded.")
            raise
        logger.warning(f"Error while downloading from {url}: {err}\nTrying to resume download...")
        time.sleep(1)
        temp_file.flush()
        return http_get(url, temp_file, resume_size=received, headers=headers, expected_size=expected_size,
                        displayed_filename=displayed_filename, tqdm_class=tqdm_class, token=token,
                        endpoint=endpoint, _nb_retries=_nb_retries - 1, _bar=bar)
    finally:
        if bar is not None and _bar is None and hasattr(bar, "close"):
            bar.close()
    if expected_size is not None and expected_size != received:
        raise OSError(
            f"Consistency check failed: file should be of size {expected_size} but has size {received} "
            f"({displayed_filename or url}).\nThis is usually due to network issues while downloading the file. "
            "Please retry with `force_download=True`."
        )


def _total_length(response) -> int | None:
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        return None
    content_range = response.headers.get("Content-Range")
    if content_range is not None:
        return int(content_range.rsplit("/")[-1])
    return _int_or_none(response.headers.get("Content-Length"))


def download_to_incomplete_and_move(incomplete_path: Path, destination_path: Path, url: str, *,
                                    headers: dict, expected_size: int | None, filename: str,
                                    force_download: bool, token: Any, endpoint: str | None,
                                    tqdm_class: Any = None) -> None:
    """Download into `incomplete_path` (resuming what is there) and rename it onto `destination_path`.

    The caller holds the file's lock, so no other process writes the same `.incomplete` file.
    """
    from snuggle.hub.cache import chmod_and_move

    if destination_path.exists() and not force_download:
        return
    resume_size = 0
    if incomplete_path.exists():
        resume_size = incomplete_path.stat().st_size
        if force_download or (expected_size is not None and resume_size > expected_size):
            resume_size = 0
    with open(incomplete_path, "ab" if resume_size else "wb") as f:
        if resume_size:
            logger.info(f"Resuming download of '{filename}' at byte {resume_size}")
        http_get(url, f, resume_size=resume_size, headers=headers, expected_size=expected_size,
                 displayed_filename=filename, tqdm_class=tqdm_class, token=token, endpoint=endpoint)
    chmod_and_move(incomplete_path, destination_path)


# -- metadata with fallback ----------------------------------------------------------------------------


def _get_metadata_or_catch_error(*, repo_id: str, filename: str, repo_type: str, revision: str,
                                 endpoint: str | None, etag_timeout: float, headers: dict, token: Any,
                                 local_files_only: bool, storage: str | None = None,
                                 relative_filename: str | None = None, retry_on_errors: bool = False):
    """(url, etag, commit, size, error): the metadata, or the error that prevented getting it.

    Errors that mean "the answer is definitive" (revision or file missing) are raised; those that mean
    "maybe the cache has it" (offline, network, access, server trouble) are returned.
    """
    from snuggle.hub import constants
    from snuggle.hub.errors import (
        FileMetadataError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RevisionNotFoundError,
    )

    if local_files_only:
        return None, None, None, None, OfflineModeIsEnabled(
            f"Cannot access file since 'local_files_only=True' as been set. (repo_id: {repo_id}, "
            f"repo_type: {repo_type}, revision: {revision}, filename: {filename})")
    if constants.is_offline():
        return None, None, None, None, OfflineModeIsEnabled(
            f"Cannot access file since HF_HUB_OFFLINE=1 is set. (repo_id: {repo_id}, repo_type: {repo_type}, "
            f"revision: {revision}, filename: {filename})")
    url = hf_hub_url(repo_id, filename, repo_type=repo_type, revision=revision, endpoint=endpoint)
    try:
        try:
            metadata = get_hf_file_metadata(url, token=token, timeout=etag_timeout, headers=headers,
                                            endpoint=endpoint, retry_on_errors=retry_on_errors)
        except RemoteEntryNotFoundError as err:
            commit = err.response.headers.get(HEADER_X_REPO_COMMIT) if err.response is not None else None
            if storage is not None and relative_filename is not None and commit is not None:
                hub_cache.mark_no_exist(storage, commit, relative_filename)
                hub_cache.cache_commit_hash_for_specific_revision(storage, revision, commit)
            raise
        if metadata.commit_hash is None:
            raise FileMetadataError(
                f"Response from {url} is missing the '{HEADER_X_REPO_COMMIT}' header, so it does not seem to be "
                "served by a Hugging Face Hub endpoint. If HF_ENDPOINT is set, check that it points to a "
                "Hub-compatible endpoint.")
        if metadata.etag is None:
            raise FileMetadataError(
                "Distant resource does not have an ETag, we won't be able to reliably ensure reproducibility.")
        # A redirect target (signed storage URL) is fetched directly; `request` drops the token off-endpoint.
        return metadata.location, metadata.etag, metadata.commit_hash, metadata.size, None
    except (RevisionNotFoundError, RemoteEntryNotFoundError):
        raise
    except (_network_errors() + (OfflineModeIsEnabled, HfHubHTTPError, FileMetadataError)) as err:
        err.__traceback__ = None  # returned, not raised: don't keep the frames alive
        return None, None, None, None, err


def _is_retryable(err: Exception) -> bool:
    from snuggle.hub.errors import HfHubHTTPError

    if isinstance(err, _network_errors()):
        return True
    response = getattr(err, "response", None)
    return isinstance(err, HfHubHTTPError) and response is not None and response.status_code in _RETRY_STATUSES


def _raise_on_head_call_error(err: Exception, force_download: bool, local_files_only: bool) -> NoReturn:
    from snuggle.hub.errors import (
        FileMetadataError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    if force_download:
        if local_files_only:
            raise ValueError("Cannot pass 'force_download=True' and 'local_files_only=True' at the same time.")
        if isinstance(err, OfflineModeIsEnabled):
            raise ValueError("Cannot pass 'force_download=True' when offline mode is enabled.") from err
        raise ValueError("Force download failed due to the above error.") from err
    if local_files_only:
        raise LocalEntryNotFoundError(
            "Cannot find the requested files in the disk cache and outgoing traffic has been disabled. To enable "
            "hf.co look-ups and downloads online, set 'local_files_only' to False.")
    if isinstance(err, OfflineModeIsEnabled):
        raise LocalEntryNotFoundError(
            "Cannot find the requested files in the disk cache and outgoing traffic has been disabled "
            "(HF_HUB_OFFLINE=1). Download the files once with the network on, or unset HF_HUB_OFFLINE.") from err
    if isinstance(err, (RepositoryNotFoundError, GatedRepoError)) or (
            isinstance(err, HfHubHTTPError) and err.response is not None and err.response.status_code == 401):
        raise err
    if isinstance(err, FileMetadataError):
        raise LocalEntryNotFoundError(f"{err} We also cannot find the requested files in the local cache.") from err
    raise LocalEntryNotFoundError(
        "An error happened while trying to locate the file on the Hub and we cannot find the requested files in "
        "the local cache. Please check your connection and try again or make sure your Internet connection is on."
    ) from err


# -- hf_hub_download -------------------------------------------------------------------------------------


def hf_hub_download(repo_id: str, filename: str, *, subfolder: str | None = None, repo_type: str | None = None,
                    revision: str | None = None, library_name: str | None = None,
                    library_version: str | None = None, cache_dir: str | Path | None = None,
                    local_dir: str | Path | None = None, user_agent: dict | str | None = None,
                    force_download: bool = False, etag_timeout: float = DEFAULT_ETAG_TIMEOUT,
                    token: bool | str | None = None, local_files_only: bool = False,
                    headers: dict[str, str] | None = None, endpoint: str | None = None,
                    tqdm_class: Any = None, dry_run: bool = False) -> str | DryRunFileInfo:
    """Download `filename` of `repo_id` (if not cached) and return its local path.

    With `cache_dir` (default `$HF_HUB_CACHE`) the path is snapshots/<commit>/<filename> in the shared cache;
    with `local_dir` the file is placed at `<local_dir>/<filename>` (metadata in `.cache/huggingface/`).
    `dry_run=True` downloads nothing and returns a DryRunFileInfo.

    >>> path = hf_hub_download("user/tiny-model", "config.json", revision="main")   # doctest: +SKIP
    """
    from snuggle.hub import constants

    env_timeout = os.environ.get("HF_HUB_ETAG_TIMEOUT")
    if env_timeout:  # the environment wins over the argument, as in the reference
        etag_timeout = constants.etag_timeout()
    revision = getattr(revision, "resolved", revision) or "main"
    cache_dir = str(Path(cache_dir if cache_dir is not None else hub_cache.default_cache_dir()).expanduser().resolve())
    if subfolder == "":
        subfolder = None
    if subfolder is not None:
        filename = f"{subfolder}/{filename}"
    repo_type = hub_cache.check_repo_type(repo_type)
    request_headers = _request_headers(headers, library_name, library_version, user_agent)
    kwargs = dict(repo_id=repo_id, filename=filename, repo_type=repo_type, revision=revision, endpoint=endpoint,
                  etag_timeout=etag_timeout, headers=request_headers, token=token, cache_dir=cache_dir,
                  force_download=force_download, local_files_only=local_files_only, tqdm_class=tqdm_class,
                  dry_run=dry_run)
    if local_dir is not None:
        return _download_to_local_dir(local_dir=str(Path(local_dir).expanduser().resolve()), **kwargs)
    return _download_to_cache_dir(**kwargs)


def _download_to_cache_dir(*, cache_dir: str, repo_id: str, filename: str, repo_type: str, revision: str,
                           endpoint: str | None, etag_timeout: float, headers: dict, token: Any,
                           local_files_only: bool, force_download: bool, tqdm_class: Any,
                           dry_run: bool = False) -> str | DryRunFileInfo:
    storage = hub_cache.storage_folder(cache_dir, repo_id, repo_type)

    def cached_answer(commit: str, pointer: str) -> str | DryRunFileInfo:
        if dry_run:
            return DryRunFileInfo(commit_hash=commit, file_size=os.path.getsize(pointer), filename=filename,
                                  local_path=pointer, is_cached=True, will_download=force_download)
        return pointer

    hub_cache.validate_relative_filename(filename)
    relative_filename = os.path.join(*filename.split("/"))

    if REGEX_COMMIT_HASH.fullmatch(revision):
        pointer = hub_cache.get_pointer_path(storage, revision, relative_filename)
        if os.path.exists(pointer) and (dry_run or not force_download):
            return cached_answer(revision, pointer)

    url, etag, commit_hash, expected_size, error = _get_metadata_or_catch_error(
        repo_id=repo_id, filename=filename, repo_type=repo_type, revision=revision, endpoint=endpoint,
        etag_timeout=etag_timeout, headers=headers, token=token, local_files_only=local_files_only,
        storage=storage, relative_filename=relative_filename)
    if error is not None:
        if not force_download:
            commit = hub_cache.resolve_cached_commit(storage, revision)
            if commit is not None:
                pointer = hub_cache.get_pointer_path(storage, commit, relative_filename)
                if os.path.exists(pointer):
                    return cached_answer(commit, pointer)
            if _is_retryable(error):
                logger.info("No local file found. Retrying..")
                url, etag, commit_hash, expected_size, error = _get_metadata_or_catch_error(
                    repo_id=repo_id, filename=filename, repo_type=repo_type, revision=revision, endpoint=endpoint,
                    etag_timeout=ETAG_RETRY_TIMEOUT, headers=headers, token=token,
                    local_files_only=local_files_only, storage=storage, relative_filename=relative_filename,
                    retry_on_errors=True)
        if error is not None:
            _raise_on_head_call_error(error, force_download, local_files_only)

    blob_path = os.path.join(storage, "blobs", etag)
    pointer = hub_cache.get_pointer_path(storage, commit_hash, relative_filename)
    if dry_run:
        is_cached = os.path.exists(pointer) or os.path.exists(blob_path)
        return DryRunFileInfo(commit_hash=commit_hash, file_size=expected_size, filename=filename, local_path=pointer,
                              is_cached=is_cached, will_download=force_download or not is_cached)
    if not force_download and os.path.exists(pointer):
        try:
            hub_cache.cache_commit_hash_for_specific_revision(storage, revision, commit_hash)
        except OSError:  # a read-only cache still serves its files
            pass
        return pointer

    os.makedirs(os.path.dirname(blob_path), exist_ok=True)
    os.makedirs(os.path.dirname(pointer), exist_ok=True)
    hub_cache.create_cachedir_tag(Path(cache_dir))
    hub_cache.cache_commit_hash_for_specific_revision(storage, revision, commit_hash)
    lock_path = hub_cache.blob_lock_path(cache_dir, repo_id, repo_type, etag)
    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)

    if not force_download and os.path.exists(blob_path):
        with WeakFileLock(lock_path):
            if not os.path.exists(pointer):
                hub_cache.create_symlink(blob_path, pointer, new_blob=False)
        return pointer

    with WeakFileLock(lock_path):
        download_to_incomplete_and_move(
            Path(blob_path + ".incomplete"), Path(blob_path), url, headers=headers, expected_size=expected_size,
            filename=filename, force_download=force_download, token=token, endpoint=endpoint,
            tqdm_class=tqdm_class)
        if not os.path.exists(pointer):
            hub_cache.create_symlink(blob_path, pointer, new_blob=True)
    return pointer


def _download_to_local_dir(*, local_dir: str, cache_dir: str, repo_id: str, filename: str, repo_type: str,
                           revision: str, endpoint: str | None, etag_timeout: float, headers: dict, token: Any,
                           local_files_only: bool, force_download: bool, tqdm_class: Any,
                           dry_run: bool = False) -> str | DryRunFileInfo:
    import shutil

    from snuggle.hub import local_folder

    local_path = Path(local_dir)
    paths = local_folder.get_local_download_paths(local_path, filename)
    metadata = local_folder.read_download_metadata(local_path, filename)
    def answer(commit: str, size: int | None, is_cached: bool, will_download: bool) -> str | DryRunFileInfo:
        if dry_run:
            return DryRunFileInfo(commit_hash=commit, file_size=size, filename=filename,
                                  local_path=str(paths.file_path), is_cached=is_cached, will_download=will_download)
        return str(paths.file_path)

    if (REGEX_COMMIT_HASH.fullmatch(revision) and paths.file_path.is_file() and metadata is not None
            and metadata.commit_hash == revision and (dry_run or not force_download)):
        return answer(revision, paths.file_path.stat().st_size, True, force_download)

    url, etag, commit_hash, expected_size, error = _get_metadata_or_catch_error(
        repo_id=repo_id, filename=filename, repo_type=repo_type, revision=revision, endpoint=endpoint,
        etag_timeout=etag_timeout, headers=headers, token=token, local_files_only=local_files_only)
    if error is not None:
        if paths.file_path.is_file():
            if dry_run and metadata is not None:
                return answer(metadata.commit_hash, paths.file_path.stat().st_size, True, force_download)
            if not force_download:
                logger.warning("Couldn't access the Hub to check for update but local file already exists. "
                               f"Defaulting to existing file. (error: {error})")
                return str(paths.file_path)
        elif not force_download and _is_retryable(error):
            url, etag, commit_hash, expected_size, error = _get_metadata_or_catch_error(
                repo_id=repo_id, filename=filename, repo_type=repo_type, revision=revision, endpoint=endpoint,
                etag_timeout=ETAG_RETRY_TIMEOUT, headers=headers, token=token,
                local_files_only=local_files_only, retry_on_errors=True)
        if error is not None:
            _raise_on_head_call_error(error, force_download, local_files_only)

    if not force_download and paths.file_path.is_file():
        if metadata is not None and metadata.etag == etag:
            local_folder.write_download_metadata(local_path, filename, commit_hash=commit_hash, etag=etag)
            return answer(commit_hash, expected_size, True, False)
        if metadata is None and REGEX_SHA256.fullmatch(etag):
            # An LFS file without metadata (copied in by hand?): same sha256 means same content.
            if _sha256_of(paths.file_path) == etag:
                local_folder.write_download_metadata(local_path, filename, commit_hash=commit_hash, etag=etag)
                return answer(commit_hash, expected_size, True, False)

    if not force_download:
        cached = hub_cache.try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir, revision=commit_hash,
                                                  repo_type=repo_type)
        if isinstance(cached, str):
            if dry_run:
                return answer(commit_hash, expected_size, True, False)
            with WeakFileLock(paths.lock_path):
                paths.file_path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(cached, paths.file_path)
            local_folder.write_download_metadata(local_path, filename, commit_hash=commit_hash, etag=etag)
            return str(paths.file_path)

    if dry_run:
        return answer(commit_hash, expected_size, paths.file_path.is_file(), True)
    with WeakFileLock(paths.lock_path):
        paths.file_path.unlink(missing_ok=True)
        download_to_incomplete_and_move(
            paths.incomplete_path(etag), paths.file_path, url, headers=headers, expected_size=expected_size,
            filename=filename, force_download=force_download, token=token, endpoint=endpoint,
            tqdm_class=tqdm_class)
    local_folder.write_download_metadata(local_path, filename, commit_hash=commit_hash, etag=etag)
    return str(paths.file_path)


def _sha256_of(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# snapshot_download lives in snuggle.hub.snapshot; re-exported here like huggingface_hub's file_download
from snuggle.hub.snapshot import snapshot_download  # noqa: E402
