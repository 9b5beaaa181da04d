"""HfFileSystem: Hub repositories as an fsspec filesystem (`hf://` paths), as huggingface_hub has it.

Paths name a repository, an optional revision and a path inside it:

    hf://[datasets/|spaces/]<namespace>/<name>[@<revision>]/<path/in/repo>

The `hf://` prefix is optional. A revision with `/` is written URL-encoded (`@feature%2Fx`), except the
special refs `refs/pr/N` and `refs/convert/<name>`, which may be written as they are (the grammar is in
hf_file_system_paths.py). Listings come from the tree API and are kept in `dircache` (call
`invalidate_cache()` after someone else changes the repo); reads are HTTP Range requests of /resolve
through snuggle.hub.http; every write (`put_file`, `pipe_file`, `cp_file`, a file opened "wb" when it
closes, `rm`) is one commit.

fsspec registration: importing this module registers the "hf" protocol with fsspec only when nothing
claims it yet: not when a class is already in `fsspec.registry`, and not when huggingface_hub is
installed (fsspec's built-in table points "hf" at huggingface_hub.HfFileSystem; that one stays). Pass an
HfFileSystem instance (`filesystem=fs`) to libraries that accept one to use snuggle's in every case.

>>> fs = HfFileSystem(endpoint="http://127.0.0.1:8080", token="hf_...")      # doctest: +SKIP
>>> fs.ls("datasets/alice/x/data", detail=False)                              # doctest: +SKIP
['datasets/alice/x/data/train.parquet']
>>> with fs.open("hf://datasets/alice/x@refs%2Fpr%2F1/data/train.parquet") as f:   # doctest: +SKIP
...     head = f.read(4)
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from collections import deque
from typing import Any
from urllib.parse import unquote

import fsspec
from fsspec.callbacks import DEFAULT_CALLBACK
from fsspec.spec import AbstractBufferedFile

from snuggle.hub.errors import (
    EntryNotFoundError,
    HFValidationError,
    HubError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
# HfFileSystemResolvedRepositoryPath and safe_revision are re-exported (the reference module has them)
from snuggle.hub.hf_file_system_paths import (  # noqa: F401
    DEFAULT_REVISION,
    HfFileSystemResolvedPath,
    HfFileSystemResolvedRepositoryPath,
    _raise_file_not_found,
    parse_hf_path,
    safe_revision,
)

def _entry_dict(entry: Any, name: str) -> dict[str, Any]:
    """The dircache / info dict of one RepoFile or RepoFolder (the reference's keys)."""
    if hasattr(entry, "blob_id"):
        return {"name": name, "size": entry.size, "type": "file", "blob_id": entry.blob_id, "lfs": entry.lfs,
                "xet_hash": getattr(entry, "xet_hash", None), "last_commit": entry.last_commit,
                "security": entry.security}
    return {"name": name, "size": 0, "type": "directory", "tree_id": entry.tree_id, "last_commit": entry.last_commit}


class _CachedPerEndpoint(type(fsspec.AbstractFileSystem)):
    """fsspec's instance cache, keyed by the endpoint actually used: HfFileSystem() after HF_ENDPOINT
    changed is a new instance, not the one (and the dircache) of the old endpoint."""

    def __call__(cls, *args, **kwargs):
        if not kwargs.get("endpoint"):
            from snuggle.hub import constants

            kwargs["endpoint"] = constants.endpoint()
        return super().__call__(*args, **kwargs)


class HfFileSystem(fsspec.AbstractFileSystem, metaclass=_CachedPerEndpoint):
    """Hub repositories as a filesystem: `endpoint` (default HF_ENDPOINT) and `token` (str, False for none,
    None for the stored one) as HfApi takes them.

    >>> fs = HfFileSystem(endpoint="http://127.0.0.1:8080", token="hf_...")   # doctest: +SKIP
    >>> fs.glob("alice/tiny/*.json")                                           # doctest: +SKIP
    ['alice/tiny/config.json']
    """

    root_marker = ""
    protocol = "hf"

    def __init__(self, *args, endpoint: str | None = None, token: bool | str | None = None,
                 block_size: int | None = None, expand_info: bool | None = None, **storage_options):
        super().__init__(*args, **storage_options)
        from snuggle.hub import constants
        from snuggle.hub.client import HfApi

        self.endpoint = (endpoint or constants.endpoint()).rstrip("/")
        self.token = token
        self.block_size = block_size
        self.expand_info = expand_info
        self._api = HfApi(endpoint=self.endpoint, token=token)
        # (repo_type, repo_id, revision) -> (exists, error); revision None stands for "the repo exists"
        self._repo_and_revision_exists_cache: dict[tuple, tuple[bool, Exception | None]] = {}
        self.dircache: dict[str, list[dict[str, Any]]] = {}

    # ---- paths ----
    def _repo_and_revision_exist(self, repo_type: str, repo_id: str, revision: str | None):
        key = (repo_type, repo_id, revision)
        if key not in self._repo_and_revision_exists_cache:
            from snuggle.hub import constants

            try:
                self._api.repo_info(repo_id, revision=revision, repo_type=repo_type,
                                    timeout=constants.etag_timeout())
            except (RepositoryNotFoundError, HFValidationError) as e:
                self._repo_and_revision_exists_cache[key] = False, e
                self._repo_and_revision_exists_cache[(repo_type, repo_id, None)] = False, e
            except RevisionNotFoundError as e:
                self._repo_and_revision_exists_cache[key] = False, e
                self._repo_and_revision_exists_cache[(repo_type, repo_id, None)] = True, None
            else:
                self._repo_and_revision_exists_cache[key] = True, None
                self._repo_and_revision_exists_cache[(repo_type, repo_id, None)] = True, None
        return self._repo_and_revision_exists_cache[key]

    def resolve_path(self, path: str, revision: str | None = None) -> HfFileSystemResolvedPath:
        """Split `path` into repo type, repo id, revision and path in repo; FileNotFoundError when the repo
        or revision does not exist (or is private and the token cannot read it).

        >>> HfFileSystem(token=False).resolve_path("datasets/alice/x@v1/a.csv")   # doctest: +SKIP
        HfFileSystemResolvedPath(repo_type='dataset', repo_id='alice/x', revision='v1', path_in_repo='a.csv')
        """
        path = self._strip_protocol(path)
        if not path:
            raise NotImplementedError("Access to repositories lists is not implemented.")
        if path.count("/") == 0:
            raise ValueError(f"Repository id must be 'namespace/name', got '{path}'.")
        repo_type, repo_id, path_revision, path_in_repo, raw = parse_hf_path(path)
        if revision is not None and path_revision is not None and path_revision != revision:
            # e.g. a branch literally named "refs" with a file "pr/1": the caller's revision wins if the
            # first segment after '@' spells it
            raw, _, path_in_repo = path.split("@", 1)[1].partition("/")
            if unquote(raw) != revision:
                raise ValueError(f'Revision specified in path ("{unquote(raw)}") and in `revision` argument '
                                 f'("{revision}") are not the same.')
        revision = revision if revision is not None else path_revision
        exists, err = self._repo_and_revision_exist(repo_type, repo_id, revision)
        if not exists:
            _raise_file_not_found(path, err)
        return HfFileSystemResolvedPath(repo_type, repo_id, revision or DEFAULT_REVISION, path_in_repo,
                                        _raw_revision=raw)

    def invalidate_cache(self, path: str | None = None) -> None:
        """Forget cached listings: all of them, or those of `path` and its parents."""
        if not path:
            self.dircache.clear()
            self._repo_and_revision_exists_cache.clear()
            return
        try:
            resolved = self.resolve_path(path)
        except FileNotFoundError:  # a repo/revision cached as missing: forget the misses
            self._repo_and_revision_exists_cache = {
                k: v for k, v in self._repo_and_revision_exists_cache.items() if v[0]}
            return
        path = resolved.unresolve()
        while path:
            self.dircache.pop(path, None)
            parent = self._parent(path)
            path = parent if parent != path else ""
        if not resolved.path_in_repo:
            self._repo_and_revision_exists_cache.pop((resolved.repo_type, resolved.repo_id, None), None)
            self._repo_and_revision_exists_cache.pop(
                (resolved.repo_type, resolved.repo_id, resolved.revision), None)

    # ---- listing ----
    def ls(self, path: str, detail: bool = True, refresh: bool = False, revision: str | None = None, **kwargs):
        """The entries of a folder (or [the file] for a file path), from `dircache` unless `refresh`."""
        resolved = self.resolve_path(path, revision=revision)
        path = resolved.unresolve()
        try:
            out = self._ls_tree(path, refresh=refresh, revision=revision, **kwargs)
        except EntryNotFoundError:
            if not resolved.path_in_repo:
                _raise_file_not_found(path, None)
            try:
                out = self._ls_tree(self._parent(path), refresh=refresh, revision=revision, **kwargs)
            except EntryNotFoundError:
                out = []
            out = [o for o in out if o["name"] == path]
            if not out:
                _raise_file_not_found(path, None)
        return out if detail else [o["name"] for o in out]

    def _cached_tree(self, path: str, maxdepth: int | None, expand_info: bool) -> list[dict] | None:
        """The listing of `path` down to `maxdepth` from dircache, or None when part of it is missing."""
        if path not in self.dircache:
            return None
        out, todo = [], deque([(1, path)])
        while todo:
            depth, folder = todo.popleft()
            if folder not in self.dircache:
                return None
            for entry in self.dircache[folder]:
                out.append(entry)
                if entry["type"] == "directory" and (maxdepth is None or depth < maxdepth):
                    todo.append((depth + 1, entry["name"]))
        if expand_info and any(o.get("last_commit") is None for o in out):
            return None
        return out

    def _ls_tree(self, path: str, recursive: bool = False, refresh: bool = False, revision: str | None = None,
                 expand_info: bool | None = None, maxdepth: int | None = None) -> list[dict[str, Any]]:
        expand_info = expand_info if expand_info is not None else bool(self.expand_info)
        resolved = self.resolve_path(path, revision=revision)
        path, root = resolved.unresolve(), resolved.root
        if recursive and maxdepth == 1:
            recursive = False  # the direct children only: one non-recursive page
        maxdepth = maxdepth if recursive else 1
        if not refresh:
            cached = self._cached_tree(path, maxdepth, expand_info)
            if cached is not None:
                return cached
        tree = self._api.list_repo_tree(resolved.repo_id, resolved.path_in_repo, recursive=recursive,
                                        expand=expand_info, revision=resolved.revision,
                                        repo_type=resolved.repo_type)
        listings: dict[str, list[dict[str, Any]]] = {path: []}
        out = []
        for entry in tree:
            info = _entry_dict(entry, f"{root}/{entry.path}")
            listings.setdefault(self._parent(info["name"]), []).append(info)
            if recursive and info["type"] == "directory":
                listings.setdefault(info["name"], [])  # listed in full: its (maybe empty) listing is known
            if maxdepth is None or info["name"][len(path):].count("/") <= maxdepth:
                out.append(info)
        # cached only once the listing completed (a failed page leaves the cache as it was)
        self.dircache.update(listings)
        return out

    def walk(self, path: str, *args, **kwargs):
        path = self.resolve_path(path, revision=kwargs.get("revision")).unresolve()
        yield from super().walk(path, *args, **kwargs)

    def glob(self, path: str, maxdepth: int | None = None, **kwargs):
        """Paths matching a glob pattern (`**` spans folders), as fsspec's glob over this filesystem."""
        path = self.resolve_path(path, revision=kwargs.get("revision")).unresolve()
        return super().glob(path, maxdepth=maxdepth, **kwargs)

    def find(self, path: str, maxdepth: int | None = None, withdirs: bool = False, detail: bool = False,
             refresh: bool = False, revision: str | None = None, **kwargs):
        """Every file below `path` (one recursive tree listing), sorted; with `withdirs` the folders too."""
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        resolved = self.resolve_path(path, revision=revision)
        path = resolved.unresolve()
        try:
            out = self._ls_tree(path, recursive=True, refresh=refresh, revision=revision, maxdepth=maxdepth,
                                **kwargs)
        except EntryNotFoundError:  # maybe a file
            try:
                info = self.info(path, revision=revision, **kwargs)
                found = {path: info} if info["type"] == "file" else {}
            except FileNotFoundError:
                found = {}
        else:
            if not withdirs:
                out = [o for o in out if o["type"] != "directory"]
            else:
                info = self.info(path, revision=revision, **kwargs)
                out = [info] + out if info["type"] == "directory" else out
            found = {o["name"]: o for o in out}
        names = sorted(found)
        return {name: found[name] for name in names} if detail else names

    def info(self, path: str, refresh: bool = False, revision: str | None = None, **kwargs) -> dict[str, Any]:
        """name/size/type of a path (+ blob_id, lfs, last_commit, security when it came from a listing)."""
        resolved = self.resolve_path(path, revision=revision)
        path = resolved.unresolve()
        expand_info = kwargs.get("expand_info", bool(self.expand_info))
        if not resolved.path_in_repo:
            out: dict[str, Any] = {"name": path, "size": 0, "type": "directory", "last_commit": None}
            if expand_info:
                from snuggle.hub.client_info import LastCommitInfo

                last = self._api.list_repo_commits(resolved.repo_id, repo_type=resolved.repo_type,
                                                   revision=resolved.revision)[0]
                out.update(tree_id=None, last_commit=LastCommitInfo(oid=last.commit_id, title=last.title,
                                                                    date=last.created_at))
            return out
        found = None
        parent = self._parent(path)
        if not expand_info and parent not in self.dircache:
            self.ls(parent)  # one cheap listing answers this and its siblings
        if parent in self.dircache:
            matches = [o for o in self.dircache[parent] if o["name"] == path]
            if not matches:
                _raise_file_not_found(path, None)
            found = matches[0]
        if refresh or found is None or (expand_info and found.get("last_commit") is None):
            infos = self._api.get_paths_info(resolved.repo_id, resolved.path_in_repo, expand=expand_info,
                                             revision=resolved.revision, repo_type=resolved.repo_type)
            if not infos:
                _raise_file_not_found(path, None)
            found = _entry_dict(infos[0], f"{resolved.root}/{infos[0].path}")
            if not expand_info:
                found = {k: found[k] for k in ("name", "size", "type")}
        return found

    def exists(self, path, **kwargs) -> bool:
        try:
            if kwargs.get("refresh", False):
                self.invalidate_cache(path)
            self.info(path, **kwargs)
            return True
        except (OSError, HubError):
            return False

    def isdir(self, path) -> bool:
        try:
            return self.info(path)["type"] == "directory"
        except (OSError, HubError):
            return False

    def isfile(self, path) -> bool:
        try:
            return self.info(path)["type"] == "file"
        except (OSError, HubError):
            return False

    def modified(self, path: str, **kwargs):
        """The date of the last commit that changed `path`."""
        info = self.info(path, **{**kwargs, "expand_info": True})
        if info.get("last_commit") is None:
            raise NotImplementedError(f"'modified' is not implemented for repository paths like '{path}'")
        return info["last_commit"].date

    def url(self, path: str) -> str:
        """The /resolve URL of a file (/tree for a folder)."""
        from snuggle.hub.download import hf_hub_url

        resolved = self.resolve_path(path)
        url = hf_hub_url(resolved.repo_id, resolved.path_in_repo, repo_type=resolved.repo_type,
                         revision=resolved.revision, endpoint=self.endpoint)
        return url.replace("/resolve/", "/tree/", 1) if self.isdir(path) else url

    # ---- reading ----
    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, revision: str | None = None,
              **kwargs) -> HfFileSystemFile:
        if "a" in mode:
            raise NotImplementedError("Appending to remote files is not yet supported.")
        block_size = block_size if block_size is not None else self.block_size
        if block_size:  # None/0: fsspec's default block (5 MiB), as the reference
            kwargs["block_size"] = block_size
        return HfFileSystemFile(self, path, mode=mode, revision=revision, **kwargs)

    def _get(self, url: str, **kwargs):
        from snuggle.hub import constants, http

        kwargs.setdefault("timeout", constants.download_timeout())
        return http.request("GET", url, token=self.token, endpoint=self.endpoint, **kwargs)

    def get_file(self, rpath, lpath=None, callback=DEFAULT_CALLBACK, outfile=None, **kwargs) -> None:
        """Download one file to `lpath` (written to a temporary name, then renamed) or into `outfile`;
        `callback` sees the size and each chunk."""
        revision = kwargs.get("revision")
        resolved = self.resolve_path(rpath, revision=revision)
        if ".." in resolved.path_in_repo.split("/"):
            raise ValueError(f"{rpath!r}: refusing a path with '..' segments")
        if outfile is None and lpath is None:
            raise ValueError("Either `lpath` or `outfile` must be provided.")
        info = self.info(rpath, revision=revision)
        if outfile is None and info["type"] == "directory":
            os.makedirs(lpath, exist_ok=True)
            return None
        from snuggle.hub.download import hf_hub_url

        url = hf_hub_url(resolved.repo_id, resolved.path_in_repo, repo_type=resolved.repo_type,
                         revision=resolved.revision, endpoint=self.endpoint)
        callback.set_size(info["size"])
        if outfile is not None:
            self._stream_into(url, outfile, callback)
            return None
        lpath = os.fspath(lpath)
        os.makedirs(os.path.dirname(lpath) or os.curdir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".hffs-", suffix=".incomplete", dir=os.path.dirname(lpath) or None)
        try:
            with os.fdopen(fd, "wb") as f:
                self._stream_into(url, f, callback)
            os.replace(tmp, lpath)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def _stream_into(self, url: str, out, callback) -> None:
        response = self._get(url, stream=True, headers={"Accept-Encoding": "identity"})
        try:
            for chunk in response.iter_bytes():
                out.write(chunk)
                callback.relative_update(len(chunk))
        finally:
            response.close()

    # ---- writing: one commit per call ----
    def put_file(self, lpath, rpath, callback=DEFAULT_CALLBACK, mode="overwrite", **kwargs) -> None:
        """Upload local file `lpath` to `rpath` in one commit (`commit_message` / `commit_description` kwargs)."""
        if os.path.isdir(lpath):
            return None  # folders exist on the Hub only through their files
        size = os.path.getsize(lpath)
        callback.set_size(size)
        self._upload(lpath, rpath, **kwargs)
        callback.relative_update(size)

    def pipe_file(self, path, value, mode="overwrite", **kwargs) -> None:
        """Write bytes `value` to `path` in one commit."""
        self._upload(bytes(value), path, **kwargs)

    def _upload(self, data, rpath: str, revision: str | None = None, **kwargs) -> None:
        resolved = self.resolve_path(rpath, revision=revision)
        self._api.upload_file(path_or_fileobj=data, path_in_repo=resolved.path_in_repo, repo_id=resolved.repo_id,
                              repo_type=resolved.repo_type, revision=resolved.revision,
                              commit_message=kwargs.get("commit_message"),
                              commit_description=kwargs.get("commit_description"))
        self.invalidate_cache(resolved.unresolve())

    def _rm(self, path: str, revision: str | None = None, **kwargs) -> None:
        resolved = self.resolve_path(path, revision=revision)
        self._api.delete_file(resolved.path_in_repo, resolved.repo_id, repo_type=resolved.repo_type,
                              revision=resolved.revision, commit_message=kwargs.get("commit_message"),
                              commit_description=kwargs.get("commit_description"))
        self.invalidate_cache(resolved.unresolve())

    def rm(self, path: str, recursive: bool = False, maxdepth: int | None = None, revision: str | None = None,
           **kwargs) -> None:
        """Delete the file(s) at `path` (a folder needs `recursive=True`) in one commit."""
        from snuggle.hub.commits import CommitOperationDelete

        resolved = self.resolve_path(path, revision=revision)
        paths = self.expand_path(path, recursive=recursive, maxdepth=maxdepth, revision=revision)
        operations = [CommitOperationDelete(path_in_repo=self.resolve_path(p, revision=revision).path_in_repo)
                      for p in paths if not self.isdir(p)]
        message = f"Delete {path} " + ("recursively " if recursive else "")
        message += f"up to depth {maxdepth} " if maxdepth is not None else ""
        self._api.create_commit(resolved.repo_id, operations, repo_type=resolved.repo_type,
                                revision=resolved.revision, commit_message=kwargs.get("commit_message", message),
                                commit_description=kwargs.get("commit_description"))
        self.invalidate_cache(resolved.unresolve())

    def cp_file(self, path1: str, path2: str, revision: str | None = None, **kwargs) -> None:
        """Copy a file: a server-side copy within one repo and revision, else read and upload (one commit)."""
        from snuggle.hub.commits import CommitOperationCopy

        src, dst = self.resolve_path(path1, revision=revision), self.resolve_path(path2, revision=revision)
        if (src.repo_type, src.repo_id, src.revision) == (dst.repo_type, dst.repo_id, dst.revision):
            op = CommitOperationCopy(src_path_in_repo=src.path_in_repo, path_in_repo=dst.path_in_repo)
            self._api.create_commit(dst.repo_id, [op], repo_type=dst.repo_type, revision=dst.revision,
                                    commit_message=kwargs.get("commit_message", f"Copy {path1} to {path2}"),
                                    commit_description=kwargs.get("commit_description"))
            self.invalidate_cache(dst.unresolve())
        else:
            self._upload(self.cat_file(path1, revision=revision), path2, **kwargs)

    @property
    def transaction(self):
        raise NotImplementedError("Transactional commits are not supported.")

    def start_transaction(self):
        raise NotImplementedError("Transactional commits are not supported.")


class HfFileSystemFile(AbstractBufferedFile):
    """A Hub file opened through HfFileSystem: "rb" reads blocks with HTTP Range requests, "wb" buffers to a
    temporary file and uploads it (one commit) on close."""

    def __init__(self, fs: HfFileSystem, path: str, revision: str | None = None, **kwargs):
        try:
            self.resolved_path = fs.resolve_path(path, revision=revision)
        except FileNotFoundError as e:
            if "w" in kwargs.get("mode", ""):
                raise FileNotFoundError(
                    f"{e}.\nMake sure the repository and revision exist before writing data.") from e
            raise
        super().__init__(fs, self.resolved_path.unresolve(), **kwargs)
        self.fs: HfFileSystem

    def __del__(self):
        if hasattr(self, "resolved_path"):  # else the constructor failed: nothing to close
            super().__del__()

    def url(self) -> str:
        from snuggle.hub.download import hf_hub_url

        r = self.resolved_path
        return hf_hub_url(r.repo_id, r.path_in_repo, repo_type=r.repo_type, revision=r.revision,
                          endpoint=self.fs.endpoint)

    def _fetch_range(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        response = self.fs._get(self.url(), headers={"Range": f"bytes={start}-{end - 1}",
                                                     "Accept-Encoding": "identity"})
        data = response.content
        if response.status_code == 200:  # Range ignored: cut the slice out of the whole body
            data = data[start:end]
        return data

    def read(self, length=-1):
        # the whole file from the start: one plain GET instead of block after block
        if self.mode == "rb" and (length is None or length < 0) and self.loc == 0:
            out = self.fs._get(self.url(), headers={"Accept-Encoding": "identity"}).content
            self.loc += len(out)
            return out
        return super().read(length)

    def _initiate_upload(self) -> None:
        self.temp_file = tempfile.NamedTemporaryFile(prefix="hffs-", delete=False)

    def _upload_chunk(self, final: bool = False) -> None:
        self.buffer.seek(0)
        self.temp_file.write(self.buffer.read())
        if not final:
            return
        self.temp_file.close()
        try:
            r = self.resolved_path
            self.fs._api.upload_file(path_or_fileobj=self.temp_file.name, path_in_repo=r.path_in_repo,
                                     repo_id=r.repo_id, repo_type=r.repo_type, revision=r.revision,
                                     commit_message=self.kwargs.get("commit_message"),
                                     commit_description=self.kwargs.get("commit_description"))
        finally:
            os.remove(self.temp_file.name)
        self.fs.invalidate_cache(self.resolved_path.unresolve())


# ---- the "hf" protocol and snuggle.data ----
def _huggingface_hub_installed() -> bool:
    # its distribution metadata, not an import attempt: snuggle never imports the reference library
    from importlib import metadata

    try:
        metadata.distribution("huggingface_hub")
        return True
    except metadata.PackageNotFoundError:
        return False


def _should_register_protocol() -> bool:
    """True when nothing claims "hf": no class in fsspec.registry and no huggingface_hub installed."""
    from fsspec.registry import registry

    return "hf" not in registry and not _huggingface_hub_installed()


def register_hf_protocol() -> bool:
    """Register HfFileSystem for "hf://" with fsspec unless something else has it; True if registered."""
    if not _should_register_protocol():
        return False
    fsspec.register_implementation("hf", HfFileSystem, clobber=True)
    return True


register_hf_protocol()


def resolve_hf_data_files(pattern: str, allowed_extensions: list[str] | None = None) -> list[str]:
    """/resolve URLs (pinned to the commit) of the files an `hf://` data file pattern names, for snuggle.data.

    A reader for those URLs is registered with snuggle.data.remote_files (Range reads with the token).
    Raises FileNotFoundError when nothing matches.

    >>> resolve_hf_data_files("hf://datasets/alice/x/data/*.parquet")    # doctest: +SKIP
    ['http://127.0.0.1:8080/datasets/alice/x/resolve/<sha>/data/train.parquet']
    """
    from snuggle.data.remote_files import register_url_reader
    from snuggle.hub.download import hf_hub_url
    from snuggle.hub.remote_file import HubFileReader

    fs = HfFileSystem(skip_instance_cache=True)  # a fresh listing: the repo may have changed since the last call
    resolved = fs.resolve_path(pattern)
    if any(c in resolved.path_in_repo for c in "*?["):  # a wildcard: glob, else one file
        infos = fs.glob(pattern, detail=True)
        files = {name: info for name, info in infos.items() if info["type"] == "file"}
    else:
        files = {resolved.unresolve(): fs.info(pattern)} if fs.isfile(pattern) else {}
    if allowed_extensions is not None:
        allowed = set(allowed_extensions)
        files = {n: i for n, i in files.items()
                 if any("." + s in allowed for s in posixpath.basename(n).split(".")[1:])}
    if not files:
        raise FileNotFoundError(f"Unable to find '{pattern}'")
    commit = fs._api.repo_info(resolved.repo_id, revision=resolved.revision, repo_type=resolved.repo_type).sha
    reader = HubFileReader(token=fs.token, endpoint=fs.endpoint)
    urls = []
    for name in sorted(files):
        path_in_repo = fs.resolve_path(name).path_in_repo
        urls.append(hf_hub_url(resolved.repo_id, path_in_repo, repo_type=resolved.repo_type, revision=commit,
                               endpoint=fs.endpoint))
    prefix = hf_hub_url(resolved.repo_id, "", repo_type=resolved.repo_type, revision=commit, endpoint=fs.endpoint)
    register_url_reader(prefix, reader)
    return urls
