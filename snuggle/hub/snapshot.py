"""`snapshot_download`: every file of a repo revision into the cache (or a local folder), in parallel.

1. The revision is resolved to a commit (GET /api/{type}s/{id}/revision/{rev} -> `sha`; a 40-hex revision is
   used as is) and the commit's file list is read (GET .../tree/{sha}?recursive=true, all pages), or taken
   from trees/<sha>.json when an earlier snapshot cached it.
2. `allow_patterns` / `ignore_patterns` (fnmatch, `*` crosses folders, a trailing `/` means the folder)
   pick the files; `max_workers` threads call `hf_hub_download(revision=<sha>)` for each.
3. Offline (`local_files_only`, HF_HUB_OFFLINE, network down): refs/<rev> -> snapshots/<sha>, returned when
   it exists and (if its listing is cached) holds every requested file; else LocalEntryNotFoundError.

>>> filter_repo_objects(["a.bin", "b.json", "sub/c.json"], allow_patterns="*.json")
['b.json', 'sub/c.json']
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

from snuggle.hub import cache as hub_cache
from snuggle.hub.cache import REGEX_COMMIT_HASH, TreeCacheEntry
from snuggle.utils.logging import get_logger

logger = get_logger(__name__)

DEFAULT_ETAG_TIMEOUT = 10


def filter_repo_objects(items: Iterable, *, allow_patterns: list[str] | str | None = None,
                        ignore_patterns: list[str] | str | None = None, key=None) -> list:
    """Keep the items whose path matches an allow pattern (if any) and no ignore pattern.

    >>> filter_repo_objects(["a/x.txt", "b/y.txt"], ignore_patterns="a/")
    ['b/y.txt']
    """
    def prepare(patterns):
        if patterns is None:
            return None
        if isinstance(patterns, str):
            patterns = [patterns]
        # a folder pattern ("data/") means everything in it
        patterns = [p.replace("\\", "/") for p in patterns]  # separators first: "ckpt\\" is a folder too
        return [p + ("*" if p.endswith("/") else "") for p in patterns]

    allow, ignore = prepare(allow_patterns), prepare(ignore_patterns)
    key = key or (lambda item: str(item))
    kept = []
    for item in items:
        path = key(item).replace("\\", "/")
        if allow is not None and not any(fnmatchcase(path, p) for p in allow):
            continue
        if ignore is not None and any(fnmatchcase(path, p) for p in ignore):
            continue
        kept.append(item)
    return kept


def _api_url(endpoint: str, repo_type: str, repo_id: str, *parts: str) -> str:
    return "/".join([endpoint, "api", f"{repo_type}s", repo_id, *parts])


def resolve_commit(repo_id: str, revision: str, *, repo_type: str, token: Any = None,
                   endpoint: str | None = None, headers: dict | None = None) -> str:
    """The commit a revision points to on the server (GET /api/{type}s/{id}/revision/{rev})."""
    from snuggle.hub import http
    from snuggle.hub.download import _endpoint

    url = _api_url(_endpoint(endpoint), repo_type, repo_id, "revision", quote(revision, safe=""))
    data = http.request("GET", url, token=token, endpoint=_endpoint(endpoint), headers=headers).json()
    sha = data.get("sha")
    if not sha:
        from snuggle.hub.errors import HubError

        raise HubError(f"{url}: the server's answer has no 'sha' (commit) field")
    return sha


def list_tree_entries(repo_id: str, commit: str, *, repo_type: str, token: Any = None,
                      endpoint: str | None = None, headers: dict | None = None) -> dict[str, TreeCacheEntry]:
    """{path: TreeCacheEntry} for every file of a commit (recursive tree, all pages)."""
    from snuggle.hub import http
    from snuggle.hub.download import _endpoint

    url = _api_url(_endpoint(endpoint), repo_type, repo_id, "tree", quote(commit, safe=""))
    entries = {}
    for item in http.paginate(url, params={"recursive": "true", "expand": "false"}, token=token,
                              endpoint=_endpoint(endpoint), headers=headers):
        if item.get("type") != "file":
            continue
        lfs = item.get("lfs") or None
        entries[item["path"]] = TreeCacheEntry(
            size=item.get("size", 0), blob_id=item.get("oid"),
            lfs_sha256=lfs.get("oid") if lfs else None, lfs_size=lfs.get("size") if lfs else None)
    return entries


def snapshot_download(repo_id: str, *, repo_type: str | None = None, revision: str | None = None,
                      cache_dir: str | Path | None = None, local_dir: str | Path | None = None,
                      library_name: str | None = None, library_version: str | None = None,
                      user_agent: dict | str | None = None, etag_timeout: float = DEFAULT_ETAG_TIMEOUT,
                      force_download: bool = False, token: bool | str | None = None,
                      local_files_only: bool = False, allow_patterns: list[str] | str | None = None,
                      ignore_patterns: list[str] | str | None = None, max_workers: int = 8,
                      tqdm_class: Any = None, headers: dict[str, str] | None = None,
                      endpoint: str | None = None, dry_run: bool = False) -> str | list:
    """Download the files of a repo revision and return the snapshot folder (or `local_dir`).

    `dry_run=True` downloads nothing and returns one DryRunFileInfo per file instead.

    >>> folder = snapshot_download("user/tiny-model", allow_patterns=["*.json"])   # doctest: +SKIP
    """
    import httpx

    from snuggle.hub import constants
    from snuggle.hub.download import _request_headers, hf_hub_download
    from snuggle.hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    cache_dir = str(Path(cache_dir if cache_dir is not None else hub_cache.default_cache_dir()).expanduser().resolve())
    if local_dir is not None:
        local_dir = str(Path(local_dir).expanduser().resolve())
    revision = getattr(revision, "resolved", revision) or "main"
    repo_type = hub_cache.check_repo_type(repo_type)
    storage = hub_cache.storage_folder(cache_dir, repo_id, repo_type)
    tree_folder = os.path.join(local_dir, ".cache", "huggingface") if local_dir is not None else storage
    request_headers = _request_headers(headers, library_name, library_version, user_agent)

    commit = revision if REGEX_COMMIT_HASH.fullmatch(revision) else None
    entries = None
    api_error: Exception | None = None
    if not local_files_only:
        try:
            if constants.is_offline():
                raise OfflineModeIsEnabled("HF_HUB_OFFLINE=1 is set")
            if commit is None:
                commit = resolve_commit(repo_id, revision, repo_type=repo_type, token=token, endpoint=endpoint,
                                        headers=request_headers)
            entries = hub_cache.read_tree_cache(tree_folder, commit)
            if entries is None:
                entries = list_tree_entries(repo_id, commit, repo_type=repo_type, token=token, endpoint=endpoint,
                                            headers=request_headers)
                if not dry_run:
                    hub_cache.write_tree_cache(tree_folder, commit, entries)
        except RevisionNotFoundError:
            raise
        except (httpx.ConnectError, httpx.TimeoutException, OfflineModeIsEnabled, HfHubHTTPError) as err:
            api_error = err

    if entries is None or local_files_only:
        if dry_run:
            from snuggle.hub.errors import DryRunError

            raise DryRunError("Dry run cannot be performed as the repository cannot be accessed. Please check your "
                              "internet connection or authentication token.") from api_error
        if commit is None:
            commit = hub_cache.read_ref(storage, revision)
        if commit is not None and local_dir is None:
            snapshot = os.path.join(storage, "snapshots", commit)
            if os.path.exists(snapshot):
                _raise_if_incomplete(tree_folder, commit, snapshot, allow_patterns, ignore_patterns, repo_id,
                                     revision, api_error)
                return snapshot
        if local_dir is not None and Path(local_dir).is_dir() and any(Path(local_dir).iterdir()):
            if commit is not None:
                _raise_if_incomplete(tree_folder, commit, local_dir, allow_patterns, ignore_patterns, repo_id,
                                     revision, api_error)
            logger.warning(f"Returning existing local_dir `{local_dir}` as remote repo cannot be accessed in "
                           f"`snapshot_download` ({api_error}).")
            return str(Path(local_dir).resolve())
        if local_files_only:
            raise LocalEntryNotFoundError(
                "Cannot find an appropriate cached snapshot folder for the specified revision on the local disk and "
                "outgoing traffic has been disabled. To enable repo look-ups and downloads online, pass "
                "'local_files_only=False' as input.")
        if isinstance(api_error, OfflineModeIsEnabled):
            raise LocalEntryNotFoundError(
                "Cannot find an appropriate cached snapshot folder for the specified revision on the local disk and "
                "outgoing traffic has been disabled. To enable repo look-ups and downloads online, set "
                "'HF_HUB_OFFLINE=0' as environment variable.") from api_error
        if isinstance(api_error, (RepositoryNotFoundError, GatedRepoError)) or (
                isinstance(api_error, HfHubHTTPError) and api_error.response is not None
                and api_error.response.status_code == 401):
            raise api_error
        raise LocalEntryNotFoundError(
            f"Got: {type(api_error).__name__}: {api_error}\nAn error happened while trying to locate the files on "
            "the Hub, and we cannot find the appropriate snapshot folder for the specified revision on the local "
            "disk. Please check your internet connection and try again.") from api_error

    files = filter_repo_objects(entries, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns)
    if entries and not files and (allow_patterns is not None or ignore_patterns is not None):
        logger.warning(f"No files matched allow_patterns={allow_patterns!r}, ignore_patterns={ignore_patterns!r}.")
    try:
        hub_cache.cache_commit_hash_for_specific_revision(storage, revision, commit)
    except OSError as err:
        logger.warning(f"Ignored error while writing commit hash to {os.path.join(storage, 'refs', revision)}: {err}.")

    with _SnapshotProgress(len(files), sum(entries[f].lfs_size or entries[f].size or 0 for f in files),
                           tqdm_class) as progress:
        def one(path: str) -> str:
            result = hf_hub_download(
                repo_id, path, repo_type=repo_type, revision=commit, endpoint=endpoint, cache_dir=cache_dir,
                local_dir=local_dir, library_name=library_name, library_version=library_version,
                user_agent=user_agent, etag_timeout=etag_timeout, force_download=force_download, token=token,
                headers=headers, tqdm_class=progress.bytes_class, dry_run=dry_run)
            progress.file_done()
            return result

        if max_workers <= 1 or len(files) <= 1:
            results = [one(path) for path in files]
        else:
            with ThreadPoolExecutor(max_workers=max_workers) as pool:
                results = list(pool.map(one, files))  # list(): re-raise the first worker error here

    if dry_run:
        return results
    if local_dir is not None:
        return str(os.path.realpath(local_dir))
    return os.path.join(storage, "snapshots", commit)


class _SnapshotProgress:
    """Two bars for a snapshot: files fetched, and bytes received summed over every worker thread."""

    def __init__(self, n_files: int, n_bytes: int, tqdm_class: Any = None):
        from snuggle.utils.progress import progress_bar

        make = tqdm_class or progress_bar
        self._lock = threading.Lock()
        self.files_bar = make(total=n_files, desc=f"Fetching {n_files} files", unit="file")
        self.bytes_bar = make(total=n_bytes, desc="Downloading bytes", unit="B", unit_scale=True, unit_divisor=1024)
        outer = self

        class _Aggregated:
            # handed to http_get as `tqdm_class`: every per-file bar feeds the shared bytes bar
            def __init__(self, *args: Any, **kwargs: Any):
                pass

            def update(self, n: int = 1) -> None:
                with outer._lock:
                    outer.bytes_bar.update(n)

            def close(self) -> None:
                pass

        self.bytes_class = _Aggregated

    def file_done(self) -> None:
        with self._lock:
            self.files_bar.update(1)

    def __enter__(self) -> _SnapshotProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bytes_bar.close()
        self.files_bar.close()


def _raise_if_incomplete(tree_folder: str, commit: str, base_dir: str, allow_patterns, ignore_patterns,
                         repo_id: str, revision: str, api_error: Exception | None) -> None:
    """IncompleteSnapshotError when the cached listing shows requested files missing from `base_dir`."""
    from snuggle.hub.errors import IncompleteSnapshotError

    entries = hub_cache.read_tree_cache(tree_folder, commit)
    if entries is None:
        return  # unknown listing: the folder is returned as it is
    expected = filter_repo_objects(entries, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns)
    missing = [p for p in expected if not os.path.isfile(os.path.join(base_dir, *p.split("/")))]
    if not missing:
        return
    sample = ", ".join(missing[:3]) + (f", ... ({len(missing) - 3} more)" if len(missing) > 3 else "")
    reason = (f"The Hub could not be reached ({type(api_error).__name__}: {api_error})." if api_error is not None
              else "Outgoing traffic is disabled ('local_files_only=True').")
    raise IncompleteSnapshotError(
        f"The cached snapshot for '{repo_id}' (revision '{revision}', commit {commit}) is incomplete: "
        f"{len(missing)} file(s) are missing ({sample}). {reason} Re-run the download with network access "
        "to complete the snapshot.", snapshot_path=base_dir) from api_error
