"""`scan_cache_dir`: what the HF cache holds (repos, revisions, files, sizes) and how to free space.

Same names and fields as huggingface_hub's cache manager, so code written against it keeps working:

>>> info = scan_cache_dir()                                             # doctest: +SKIP
>>> [(r.repo_id, r.size_on_disk_str) for r in info.repos]               # doctest: +SKIP
[('alice/tiny', '4.2M')]
>>> info.delete_revisions("a" * 40).execute()                           # doctest: +SKIP

Blobs shared by several revisions are counted once and deleted only with the last revision using them;
deletion removes refs and snapshot links before blobs, so an interrupted run never leaves a dangling ref.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from snuggle.hub.errors import CacheNotFound, CorruptedCacheException
from snuggle.utils.logging import get_logger

logger = get_logger(__name__)

FILES_TO_IGNORE = [".DS_Store"]
REPO_TYPES_MAPPING = {"models": "model", "datasets": "dataset", "spaces": "space"}


def _format_size(num: int) -> str:
    """Bytes as '4.2M' (powers of 1000, as the reference prints them)."""
    value = float(num)
    for unit in ["", "K", "M", "G", "T", "P", "E", "Z"]:
        if abs(value) < 1000.0:
            return f"{value:3.1f}{unit}"
        value /= 1000.0
    return f"{value:.1f}Y"


def _format_timesince(ts: float) -> str:
    delta = time.time() - ts
    if delta < 20:
        return "a few seconds ago"
    for label, seconds in (("year", 365 * 86400), ("month", 30 * 86400), ("week", 7 * 86400), ("day", 86400),
                           ("hour", 3600), ("minute", 60), ("second", 1)):
        value = round(delta / seconds)
        if value >= 1 or label == "second":
            return f"{value} {label}{'s' if value > 1 else ''} ago"
    return "now"  # pragma: no cover


@dataclass(frozen=True)
class CachedFileInfo:
    file_name: str
    file_path: Path
    blob_path: Path
    size_on_disk: int
    blob_last_accessed: float
    blob_last_modified: float

    @property
    def blob_last_accessed_str(self) -> str:
        return _format_timesince(self.blob_last_accessed)

    @property
    def blob_last_modified_str(self) -> str:
        return _format_timesince(self.blob_last_modified)

    @property
    def size_on_disk_str(self) -> str:
        return _format_size(self.size_on_disk)


@dataclass(frozen=True)
class CachedRevisionInfo:
    commit_hash: str
    snapshot_path: Path
    size_on_disk: int
    files: frozenset[CachedFileInfo]
    refs: frozenset[str]
    last_modified: float

    @property
    def last_modified_str(self) -> str:
        return _format_timesince(self.last_modified)

    @property
    def size_on_disk_str(self) -> str:
        return _format_size(self.size_on_disk)

    @property
    def nb_files(self) -> int:
        return len(self.files)


@dataclass(frozen=True)
class CachedRepoInfo:
    repo_id: str
    repo_type: str
    repo_path: Path
    size_on_disk: int
    nb_files: int
    revisions: frozenset[CachedRevisionInfo]
    last_accessed: float
    last_modified: float

    @property
    def last_accessed_str(self) -> str:
        return _format_timesince(self.last_accessed)

    @property
    def last_modified_str(self) -> str:
        return _format_timesince(self.last_modified)

    @property
    def size_on_disk_str(self) -> str:
        return _format_size(self.size_on_disk)

    @property
    def cache_id(self) -> str:
        return f"{self.repo_type}/{self.repo_id}"

    @property
    def refs(self) -> dict[str, CachedRevisionInfo]:
        return {ref: revision for revision in self.revisions for ref in revision.refs}


@dataclass(frozen=True)
class DeleteCacheStrategy:
    """What `delete_revisions` would remove; nothing happens until `execute()`."""

    expected_freed_size: int
    blobs: frozenset[Path]
    refs: frozenset[Path]
    repos: frozenset[Path]
    snapshots: frozenset[Path]
    files: frozenset[Path] = frozenset()
    cache_dir: Path | None = None

    @property
    def expected_freed_size_str(self) -> str:
        return _format_size(self.expected_freed_size)

    def execute(self) -> None:
        """Delete, in an order that never leaves a ref or link pointing at a deleted blob."""
        for path in self.files:
            path.unlink(missing_ok=True)
        for kind, paths in (("repo", self.repos), ("snapshot", self.snapshots), ("ref", self.refs),
                            ("blob", self.blobs)):
            for path in paths:
                _try_delete_path(path, kind)
        logger.debug(f"Cache deletion done. Saved {self.expected_freed_size_str}.")


@dataclass(frozen=True)
class CachedIncompleteFileInfo:
    file_path: Path
    size_on_disk: int


@dataclass(frozen=True)
class HFCacheInfo:
    size_on_disk: int
    repos: frozenset[CachedRepoInfo]
    incomplete_files: frozenset[CachedIncompleteFileInfo]
    warnings: list[CorruptedCacheException]
    cache_dir: Path | None = None

    @property
    def size_on_disk_str(self) -> str:
        return _format_size(self.size_on_disk)

    @property
    def incomplete_size_on_disk(self) -> int:
        return sum(f.size_on_disk for f in self.incomplete_files)

    def delete_revisions(self, *revisions: str) -> DeleteCacheStrategy:
        """The deletion plan for these commit hashes (unknown ones are only warned about)."""
        wanted = set(revisions)
        by_repo: dict[CachedRepoInfo, set[CachedRevisionInfo]] = defaultdict(set)
        for repo in self.repos:
            for revision in repo.revisions:
                if revision.commit_hash in wanted:
                    by_repo[repo].add(revision)
                    wanted.discard(revision.commit_hash)
        if wanted:
            logger.warning(f"Revision(s) not found - cannot delete them: {', '.join(sorted(wanted))}")
        blobs, refs, repos, snapshots = set(), set(), set(), set()
        freed: dict[Path, int] = {}
        for repo, doomed in by_repo.items():
            others = repo.revisions - doomed
            if not others:  # the whole repo goes
                repos.add(repo.repo_path)
                for revision in repo.revisions:
                    for f in revision.files:
                        freed[f.blob_path] = f.size_on_disk
                continue
            kept_blobs = {f.blob_path for revision in others for f in revision.files}
            for revision in doomed:
                snapshots.add(revision.snapshot_path)
                refs.update(repo.repo_path / "refs" / ref for ref in revision.refs)
                for f in revision.files:
                    if revision.snapshot_path in f.blob_path.parents:  # a copied file, not a link
                        freed[f.blob_path] = f.size_on_disk
                    elif f.blob_path not in kept_blobs:
                        blobs.add(f.blob_path)
                        freed[f.blob_path] = f.size_on_disk
        return DeleteCacheStrategy(expected_freed_size=sum(freed.values()), blobs=frozenset(blobs),
                                   refs=frozenset(refs), repos=frozenset(repos), snapshots=frozenset(snapshots),
                                   cache_dir=self.cache_dir)


def scan_cache_dir(cache_dir: str | Path | None = None) -> HFCacheInfo:
    """Scan the Hub cache (default `$HF_HUB_CACHE`); a damaged repo folder becomes a warning, not an error."""
    if cache_dir is None:
        from snuggle.hub import constants

        cache_dir = constants.hub_cache()
    cache_dir = Path(cache_dir).expanduser().resolve()
    if not cache_dir.exists():
        raise CacheNotFound(f"Cache directory not found: {cache_dir}. Please use `cache_dir` argument or set "
                            "`HF_HUB_CACHE` environment variable.", cache_dir=cache_dir)
    if cache_dir.is_file():
        raise ValueError(f"Scan cache expects a directory but found a file: {cache_dir}. Please use `cache_dir` "
                         "argument or set `HF_HUB_CACHE` environment variable.")
    repos: set[CachedRepoInfo] = set()
    warnings: list[CorruptedCacheException] = []
    for repo_path in cache_dir.iterdir():
        if repo_path.name in FILES_TO_IGNORE or repo_path.name in (".locks", "CACHEDIR.TAG"):
            continue
        try:
            repos.add(_scan_cached_repo(repo_path))
        except CorruptedCacheException as err:
            warnings.append(err)
    blob_paths = {f.blob_path for repo in repos for revision in repo.revisions for f in revision.files}
    size = sum(p.stat().st_size for p in blob_paths if p.exists())
    incomplete = frozenset(CachedIncompleteFileInfo(file_path=p, size_on_disk=p.stat().st_size)
                           for p in cache_dir.glob("*/blobs/*.incomplete") if p.exists())
    return HFCacheInfo(size_on_disk=size, repos=frozenset(repos), incomplete_files=incomplete, warnings=warnings,
                       cache_dir=cache_dir)


def _scan_cached_repo(repo_path: Path) -> CachedRepoInfo:
    if not repo_path.is_dir():
        raise CorruptedCacheException(f"Repo path is not a directory: {repo_path}")
    if "--" not in repo_path.name:
        raise CorruptedCacheException(f"Repo path is not a valid HuggingFace cache directory: {repo_path}")
    type_prefix, repo_id = repo_path.name.split("--", maxsplit=1)
    repo_id = repo_id.replace("--", "/")
    if type_prefix not in REPO_TYPES_MAPPING:
        raise CorruptedCacheException(
            f"Repo type must be one of {sorted(REPO_TYPES_MAPPING)}, found `{type_prefix}` ({repo_path}).")
    snapshots_path, refs_path = repo_path / "snapshots", repo_path / "refs"
    if not snapshots_path.is_dir():
        raise CorruptedCacheException(f"Snapshots dir doesn't exist in cached repo: {snapshots_path}")
    refs_by_hash: dict[str, set[str]] = defaultdict(set)
    if refs_path.exists():
        if refs_path.is_file():
            raise CorruptedCacheException(f"Refs directory cannot be a file: {refs_path}")
        for ref_path in refs_path.glob("**/*"):
            if ref_path.is_dir() or ref_path.name in FILES_TO_IGNORE:
                continue
            refs_by_hash[ref_path.read_text()].add(ref_path.relative_to(refs_path).as_posix())
    blob_stats: dict[Path, os.stat_result] = {}
    revisions: set[CachedRevisionInfo] = set()
    for revision_path in snapshots_path.iterdir():
        if revision_path.name in FILES_TO_IGNORE:
            continue
        if revision_path.is_file():
            raise CorruptedCacheException(f"Snapshots folder corrupted. Found a file: {revision_path}")
        files = set()
        for file_path in revision_path.glob("**/*"):
            if file_path.is_dir():
                continue
            blob_path = (Path(os.path.abspath(file_path.parent / os.readlink(file_path)))
                         if file_path.is_symlink() else file_path)
            if not blob_path.exists():
                raise CorruptedCacheException(f"Blob missing (broken symlink): {blob_path}")
            stat = blob_stats.setdefault(blob_path, blob_path.stat())
            files.add(CachedFileInfo(file_name=file_path.name, file_path=file_path, blob_path=blob_path,
                                     size_on_disk=stat.st_size, blob_last_accessed=stat.st_atime,
                                     blob_last_modified=stat.st_mtime))
        last_modified = (max(blob_stats[f.blob_path].st_mtime for f in files) if files
                         else revision_path.stat().st_mtime)
        revisions.add(CachedRevisionInfo(
            commit_hash=revision_path.name, snapshot_path=revision_path, files=frozenset(files),
            refs=frozenset(refs_by_hash.pop(revision_path.name, set())),
            size_on_disk=sum(blob_stats[p].st_size for p in {f.blob_path for f in files}),
            last_modified=last_modified))
    if refs_by_hash:
        raise CorruptedCacheException(f"Reference(s) refer to missing commit hashes: {dict(refs_by_hash)} ({repo_path}).")
    if blob_stats:
        last_accessed = max(s.st_atime for s in blob_stats.values())
        last_modified = max(s.st_mtime for s in blob_stats.values())
    else:
        stat = repo_path.stat()
        last_accessed, last_modified = stat.st_atime, stat.st_mtime
    return CachedRepoInfo(repo_id=repo_id, repo_type=REPO_TYPES_MAPPING[type_prefix], repo_path=repo_path,
                          size_on_disk=sum(s.st_size for s in blob_stats.values()), nb_files=len(blob_stats),
                          revisions=frozenset(revisions), last_accessed=last_accessed, last_modified=last_modified)


def _try_delete_path(path: Path, kind: str) -> None:
    try:
        if path.is_file() or path.is_symlink():
            os.remove(path)
        else:
            shutil.rmtree(path)
    except FileNotFoundError:
        logger.warning(f"Couldn't delete {kind}: file not found ({path})")
    except PermissionError:
        logger.warning(f"Couldn't delete {kind}: permission denied ({path})")
