"""Downloads: GET/HEAD /{prefix}{ns}/{name}/resolve/{rev}/{path} (spec §7).

Headers identical for GET and HEAD: X-Repo-Commit, ETag (git oid, or sha256 for LFS files),
X-Linked-Etag/X-Linked-Size for LFS files, Content-Length, Accept-Ranges. Single ranges answer 206,
a start past the end 416. Bytes stream from the blob store in chunks; nothing is compressed.

>>> parse_range("bytes=100-199", 1000), parse_range("bytes=-16", 1000), parse_range("bytes=990-", 1000)
((100, 199), (984, 999), (990, 999))
"""

from __future__ import annotations

import os
from urllib.parse import quote

import anyio
from starlette.concurrency import run_in_threadpool

from snuggle.hub.server.auth_http import authenticate_request
from snuggle.hub.server.backend_trees import NotCached
from snuggle.hub.server.context import Ctx
from snuggle.hub.server.errors import BadRequest, EntryNotFound, HubServerError, RepoNotFound
from snuggle.hub.server.http_errors import json_error
from snuggle.hub.server.paths import validate_repo_path
from snuggle.hub.server.routes_repos import _path_repo

CHUNK = 1 << 20


class RangeNotSatisfiable(HubServerError):
    status = 416


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive byte positions of a single `bytes=` range; None = serve the whole file.

    Multi-range and malformed headers are served whole (allowed by RFC 9110); RangeNotSatisfiable when
    the range starts at or past the end."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, sep, last = spec.strip().partition("-")
    if not sep:
        return None
    first, last = first.strip(), last.strip()
    try:
        if first == "":
            if last == "":
                return None
            n = int(last)
            if n <= 0:
                raise RangeNotSatisfiable(f"Range {header!r} is empty")
            if size == 0:
                raise RangeNotSatisfiable(f"Range {header!r} is not satisfiable for an empty file")
            return max(size - n, 0), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start < 0:
        return None
    if start >= size:
        raise RangeNotSatisfiable(f"Range {header!r} starts at or after the end of the file ({size} bytes)")
    if end < start:
        return None
    return start, min(end, size - 1)


_TEXT_SUFFIXES = {".txt", ".md", ".json", ".jsonl", ".csv", ".tsv", ".py", ".yaml", ".yml", ".jinja", ".toml",
                  ".cfg", ".ini", ".gitattributes", ".gitignore", ".model_card"}


def content_type(path: str) -> str:
    """text/plain for known text files, else application/octet-stream (never text/html or image/svg+xml:
    served from the Hub's own origin they could run scripts).

    >>> content_type("a/README.md"), content_type("model.safetensors"), content_type("x.html")
    ('text/plain; charset=utf-8', 'application/octet-stream', 'application/octet-stream')
    """
    name = path.rsplit("/", 1)[-1].lower()
    suffix = name[name.rfind("."):] if "." in name else ""
    return "text/plain; charset=utf-8" if suffix in _TEXT_SUFFIXES else "application/octet-stream"


def content_disposition(path: str, attachment: bool = False) -> str:
    """RFC 6266 header with an ASCII fallback and the UTF-8 name.

    >>> print(content_disposition("dir/ü 1.txt"))
    inline; filename*=UTF-8''%C3%BC%201.txt; filename="_ 1.txt"
    """
    name = path.rsplit("/", 1)[-1]
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    kind = "attachment" if attachment else "inline"
    return f"{kind}; filename*=UTF-8''{quote(name, safe='')}; filename=\"{ascii_name}\""


class BlobResponse:
    """ASGI response streaming bytes [start, end] of a file (HEAD: headers only)."""

    def __init__(self, path: str, start: int, length: int, status: int, headers: dict):
        self.path, self.start, self.length, self.status = path, start, length, status
        self.headers = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]

    async def __call__(self, scope, receive, send):
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        if scope["method"] == "HEAD" or self.length == 0:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        f = await anyio.to_thread.run_sync(open, self.path, "rb")
        try:
            if self.start:
                await anyio.to_thread.run_sync(f.seek, self.start)
            remaining = self.length
            while remaining > 0:
                chunk = await anyio.to_thread.run_sync(f.read, min(CHUNK, remaining))
                if not chunk:
                    break  # the blob shrank under us: never happens with immutable content-addressed blobs
                remaining -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
            if remaining > 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await anyio.to_thread.run_sync(f.close)


def _lookup(ctx: Ctx, cached_only: bool = False):
    """(repo, commit, entry, blob path) or raise the spec's 404s (EntryNotFound with X-Repo-Commit).
    `cached_only`: NotCached instead of loading folders from the database (see resolve())."""
    p = ctx.params
    ctx.principal = authenticate_request(ctx.backend, ctx.request.headers)
    try:
        repo, commit, _ = ctx.backend.get_repo_at(ctx.principal, p["repo_type"], p["repo_id"], p["rev"])
    except RepoNotFound:
        _path_repo(ctx)  # the old name of a moved repo answers 307 (else RepoNotFound, as above)
        raise
    commit_header = {"X-Repo-Commit": commit.oid}
    path = p["path"]
    try:
        validate_repo_path(path)
    except BadRequest as e:
        e.headers = commit_header
        raise
    entry = ctx.backend.get_entry(repo, commit.oid, path, cached_only=cached_only)
    if entry is None or entry.type != "file":
        err = EntryNotFound(f"Entry not found: {path} at revision {commit.oid}")
        err.headers = commit_header
        raise err
    blob = str(ctx.backend.blob_path(entry.sha256))
    if not os.path.exists(blob):
        # the database knows the file but its bytes are gone: a storage fault, not a client error
        raise FileNotFoundError("blob missing from the blob store")
    return repo, commit, entry, blob


async def resolve(ctx: Ctx):
    """GET/HEAD a file at a revision, with Range support."""
    found = None
    if getattr(ctx.backend, "loop_reads", False):
        # The hot path (a token, repo and ref lookup on SQLite, folders already in memory) runs right here:
        # a worker-thread hop would cost more CPU than the lookup itself. Anything slower goes to a thread.
        try:
            found = _lookup(ctx, cached_only=True)
        except NotCached:
            pass
    repo, commit, entry, blob = found or await run_in_threadpool(_lookup, ctx)
    size = entry.size
    headers = {
        "X-Repo-Commit": commit.oid,
        "Accept-Ranges": "bytes",
        "Content-Type": content_type(entry.path),
        "Content-Disposition": content_disposition(entry.path, attachment=ctx.query_bool("download")),
        # user content is never rendered as HTML/SVG from our origin
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=0, must-revalidate",
    }
    if entry.lfs:
        sha = entry.lfs.get("oid") or entry.sha256
        headers["ETag"] = f'"{sha}"'
        headers["X-Linked-Etag"] = f'"{sha}"'
        headers["X-Linked-Size"] = str(size)
    else:
        headers["ETag"] = f'"{entry.oid}"'
    try:
        rng = parse_range(ctx.request.headers.get("range"), size)
    except RangeNotSatisfiable as e:
        return json_error(416, e.message, headers={**headers, "Content-Range": f"bytes */{size}"})
    if rng is None:
        headers["Content-Length"] = str(size)
        return BlobResponse(blob, 0, size, 200, headers)
    start, end = rng
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    return BlobResponse(blob, start, end - start + 1, 206, headers)
