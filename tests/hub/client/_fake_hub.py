"""A tiny in-memory Hub behind httpx.MockTransport, for fast download/cache unit tests.

It answers the routes a download needs (spec §5-§7): repo info with revision, recursive tree, HEAD/GET
/resolve with ETag, X-Repo-Commit, X-Linked-*, Range, and the error codes. Every request is recorded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import unquote

import httpx


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class FakeRepo:
    repo_type: str
    repo_id: str
    commits: dict[str, dict[str, bytes]]  # commit sha -> {path: bytes}
    refs: dict[str, str]  # branch/tag -> commit
    private_token: str | None = None


@dataclass
class FakeHub:
    endpoint: str = "http://hub.test"
    lfs_threshold: int = 1000
    repos: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)
    fail_after_bytes: int | None = None  # cut GET bodies after this many bytes (simulates a dropped connection)
    cdn: str | None = None  # when set, LFS files redirect (302) to this other origin, as huggingface.co does

    def add_repo(self, repo_id: str, files: dict[str, bytes], repo_type: str = "model", commit: str | None = None,
                 branch: str = "main") -> str:
        commit = commit or hashlib.sha1(repr(sorted(files.items())).encode()).hexdigest()
        key = (repo_type, repo_id)
        repo = self.repos.get(key) or FakeRepo(repo_type, repo_id, {}, {})
        repo.commits[commit] = dict(files)
        repo.refs[branch] = commit
        self.repos[key] = repo
        return commit

    def etag(self, data: bytes) -> tuple[str, bool]:
        if len(data) >= self.lfs_threshold:
            return hashlib.sha256(data).hexdigest(), True
        return git_blob_oid(data), False

    # -- routing ------------------------------------------------------------------------------------
    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, str(request.url), dict(request.headers)))
        if self.cdn and str(request.url).startswith(self.cdn):
            data = self._cdn_objects[request.url.path.rsplit("/", 1)[-1]]
            return httpx.Response(200, headers={"Content-Length": str(len(data))}, content=data)
        raw = request.url.raw_path.decode().split("?")[0]
        parts = raw.strip("/").split("/")
        if parts[0] == "api":
            return self._api(request, parts[1:])
        repo_type = "model"
        if parts[0] in ("datasets", "spaces"):
            repo_type = parts[0][:-1]
            parts = parts[1:]
        if len(parts) >= 5 and parts[2] == "resolve":
            repo_id = f"{parts[0]}/{parts[1]}"
            return self._resolve(request, repo_type, repo_id, unquote(parts[3]),
                                 "/".join(unquote(p) for p in parts[4:]))
        return self._error(404, None, "not found")

    def _error(self, status, code, message, headers=None):
        h = {"X-Error-Message": message}
        if code:
            h["X-Error-Code"] = code
        h.update(headers or {})
        return httpx.Response(status, headers=h, json={"error": message})

    def _repo(self, request, repo_type, repo_id):
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            return None
        if repo.private_token is not None:
            if request.headers.get("authorization") != f"Bearer {repo.private_token}":
                return None
        return repo

    def _commit(self, repo, rev):
        if rev in repo.refs:
            return repo.refs[rev]
        if rev in repo.commits:
            return rev
        return None

    def _api(self, request, parts):
        repo_type = {"models": "model", "datasets": "dataset", "spaces": "space"}[parts[0]]
        repo_id = f"{parts[1]}/{parts[2]}"
        repo = self._repo(request, repo_type, repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found")
        rest = parts[3:]
        rev = unquote(rest[1]) if len(rest) > 1 else "main"
        commit = self._commit(repo, rev)
        if commit is None:
            return self._error(404, "RevisionNotFound", "Invalid rev id")
        files = repo.commits[commit]
        if not rest or rest[0] == "revision":
            siblings = []
            for p in sorted(files):
                sibling = {"rfilename": p}
                if request.url.params.get("blobs") == "true":
                    etag, lfs = self.etag(files[p])
                    sibling.update(size=len(files[p]), blobId=git_blob_oid(files[p]))
                    if lfs:
                        sibling["lfs"] = {"sha256": etag, "size": len(files[p]), "pointerSize": 130}
                siblings.append(sibling)
            return httpx.Response(200, json={"id": repo_id, "sha": commit, "private": False, "siblings": siblings})
        if rest[0] == "tree":
            entries, folders = [], set()
            for path in sorted(files):
                data = files[path]
                entry = {"type": "file", "oid": git_blob_oid(data), "size": len(data), "path": path}
                etag, lfs = self.etag(data)
                if lfs:
                    entry["lfs"] = {"oid": etag, "size": len(data), "pointerSize": 130}
                entries.append(entry)
                folders.update("/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1))
            entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": f} for f in sorted(folders)]
            return httpx.Response(200, json=entries)
        return self._error(404, None, "unknown route")

    def _resolve(self, request, repo_type, repo_id, rev, path):
        repo = self._repo(request, repo_type, repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found")
        commit = self._commit(repo, rev)
        if commit is None:
            return self._error(404, "RevisionNotFound", "Invalid rev id")
        files = repo.commits[commit]
        if path not in files:
            return self._error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": commit})
        data = files[path]
        etag, lfs = self.etag(data)
        headers = {"X-Repo-Commit": commit, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if lfs:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
        status, body = 200, data
        rng = request.headers.get("range")
        if rng:
            start, _, end = rng.removeprefix("bytes=").partition("-")
            start = int(start)
            end = int(end) if end else len(data) - 1
            if start >= len(data):
                return httpx.Response(416, headers={"Content-Range": f"bytes */{len(data)}"})
            body = data[start:end + 1]
            status = 206
            headers["Content-Range"] = f"bytes {start}-{start + len(body) - 1}/{len(data)}"
        if lfs and self.cdn:
            self.__dict__.setdefault("_cdn_objects", {})[etag] = data
            headers["Location"] = f"{self.cdn}/objects/{etag}"
            return httpx.Response(302, headers=headers)
        headers["Content-Length"] = str(len(body))
        if request.method == "HEAD":
            return httpx.Response(status, headers=headers)
        if self.fail_after_bytes is not None and request.method == "GET":
            cut = self.fail_after_bytes
            self.fail_after_bytes = None

            def stream():
                yield body[:cut]
                raise httpx.ReadError("connection dropped (fake)")

            return httpx.Response(status, headers=headers, stream=_Stream(stream))
        return httpx.Response(status, headers=headers, content=body)


class _Stream(httpx.SyncByteStream):
    def __init__(self, gen):
        self._gen = gen

    def __iter__(self):
        yield from self._gen()


def install(monkeypatch, hub: FakeHub) -> None:
    """Route snuggle.hub's shared session to `hub` and point HF_ENDPOINT at it."""
    from snuggle.hub import http

    client = httpx.Client(transport=httpx.MockTransport(hub.handler), follow_redirects=False)
    monkeypatch.setattr(http, "_session", client)
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
