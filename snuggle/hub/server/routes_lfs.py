"""git-LFS basic transfer: batch, signed PUT, verify (spec §8.5, §12).

    POST /{prefix}{ns}/{name}.git/info/lfs/objects/batch        (token: write for upload)
    PUT  /{prefix}{ns}/{name}.git/info/lfs/objects/{oid}?size=&exp=&rid=&user=&sig=   (self-authorising)
    POST /{prefix}{ns}/{name}.git/info/lfs/objects/verify       {"oid", "size"}
    GET  /{prefix}{ns}/{name}.git/info/lfs/objects/{oid}?...&sig=  (download action, git-lfs clients)

huggingface_hub PUTs without any Authorization header, so the upload href carries an HMAC-SHA256 over
(repo type, repo id, internal repo id, oid, size, expiry, user), valid at most `lfs_url_ttl` (<= 1 h).
The PUT streams into the blob store, hashing as it writes; the object lands only if sha256 and size match.

>>> key = b"k" * 32
>>> sig = sign_upload(key, "model", "a/b", 7, "0" * 64, 5, 1700000000, "alice")
>>> check_upload_signature(key, "model", "a/b", 7, "0" * 64, 5, 1700000000, "alice", sig)
True
>>> check_upload_signature(key, "model", "a/b", 7, "0" * 64, 6, 1700000000, "alice", sig)
False
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from snuggle.hub.server.auth_http import require_user
from snuggle.hub.server.context import Ctx, json_response, sync_body_chunks
from snuggle.hub.server.errors import BadRequest, EntryNotFound, Forbidden, RepoNotFound
from snuggle.hub.server.http_errors import json_error
from snuggle.hub.server.records import Principal
from snuggle.hub.server.rawpath import PREFIX_OF_TYPE
from snuggle.hub.server.routes_files import BlobResponse, RangeNotSatisfiable, parse_range
from snuggle.hub.server.routes_repos import _path_repo

LFS_JSON = "application/vnd.git-lfs+json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _message(kind, repo_type, repo_id, rid, oid, size, exp, user) -> bytes:
    return "\n".join([f"lfs-{kind}-v1", repo_type, repo_id, str(rid), oid, str(size), str(exp), user]).encode()


def sign_upload(key: bytes, repo_type: str, repo_id: str, rid: int, oid: str, size: int, exp: int, user: str,
                kind: str = "upload") -> str:
    """HMAC-SHA256 (hex) binding an LFS URL to repo, object, size, expiry and user; kind upload|download."""
    return hmac.new(key, _message(kind, repo_type, repo_id, rid, oid, size, exp, user), hashlib.sha256).hexdigest()


def check_upload_signature(key, repo_type, repo_id, rid, oid, size, exp, user, sig: str, kind: str = "upload") -> bool:
    expected = sign_upload(key, repo_type, repo_id, rid, oid, size, exp, user, kind)
    return hmac.compare_digest(expected.encode(), (sig or "").encode())


def _signed_href(ctx: Ctx, repo, oid: str, size: int, kind: str) -> str:
    config = ctx.config
    exp = int(time.time()) + config.lfs_url_ttl
    user = ctx.principal.user if ctx.principal is not None else ""
    sig = sign_upload(config.secret, repo.repo_type, repo.repo_id, repo.id, oid, size, exp, user, kind)
    query = urlencode({"size": size, "exp": exp, "rid": repo.id, "user": user, "sig": sig})
    return f"{_objects_url(ctx, repo)}/{oid}?{query}"


def _lfs_response(data, status: int = 200) -> Response:
    return json_response(data, status=status, media_type=LFS_JSON)


def _objects_url(ctx: Ctx, repo) -> str:
    return f"{ctx.base_url}/{PREFIX_OF_TYPE[repo.repo_type]}{repo.repo_id}.git/info/lfs/objects"


def batch(ctx: Ctx):
    """Answer each object: already usable (no actions), upload+verify actions, or a per-object error."""
    body = ctx.json()
    operation = body.get("operation")
    if operation not in ("upload", "download"):
        raise BadRequest("Field 'operation' must be 'upload' or 'download'")
    objects = body.get("objects")
    if not isinstance(objects, list):
        raise BadRequest("Field 'objects' (a list of {oid, size}) is required")
    if operation == "upload":
        require_user(ctx.principal)
        repo = _path_repo(ctx, access="write")
    else:
        repo = _path_repo(ctx, access="read")
    backend, config = ctx.backend, ctx.config
    out = []
    for obj in objects:
        oid = obj.get("oid") if isinstance(obj, dict) else None
        size = obj.get("size") if isinstance(obj, dict) else None
        if not isinstance(oid, str) or not _SHA256.match(oid) or not isinstance(size, int) or size < 0:
            out.append({"oid": str(oid), "size": size if isinstance(size, int) else 0,
                        "error": {"code": 422, "message": "oid must be 64 lowercase hex and size a non-negative int"}})
            continue
        if size > config.max_file_size:
            out.append({"oid": oid, "size": size,
                        "error": {"code": 422, "message": f"Object larger than the limit of {config.max_file_size} bytes"}})
            continue
        usable = backend.blob_size(oid) == size and backend.lfs_object_usable(ctx.principal, repo, oid)
        if operation == "download":
            if not usable:
                out.append({"oid": oid, "size": size, "error": {"code": 404, "message": "Object does not exist"}})
            else:  # git-lfs clients only: a signed, expiring GET of the object
                href = _signed_href(ctx, repo, oid, size, "download")
                out.append({"oid": oid, "size": size, "authenticated": True,
                            "actions": {"download": {"href": href, "expires_in": config.lfs_url_ttl}}})
            continue
        if usable:
            backend.touch_blob(oid)  # the commit that follows will reference it: spared by gc_blobs for a while
            out.append({"oid": oid, "size": size})
            continue
        out.append({
            "oid": oid, "size": size, "authenticated": True,
            "actions": {
                "upload": {"href": _signed_href(ctx, repo, oid, size, "upload"), "expires_in": config.lfs_url_ttl},
                "verify": {"href": f"{_objects_url(ctx, repo)}/verify", "expires_in": config.lfs_url_ttl},
            },
        })
    return _lfs_response({"transfer": "basic", "hash_algo": "sha256", "objects": out})


def _check_signed(ctx: Ctx, kind: str = "upload") -> tuple[object, str, int, str]:
    """Validate a signed href: (repo, oid, size, principal of the signer) or 403/404."""
    p, q = ctx.params, ctx.request.query_params
    oid = p["oid"]
    try:
        size, exp, rid = int(q.get("size", "")), int(q.get("exp", "")), int(q.get("rid", ""))
    except ValueError:
        raise Forbidden("This upload URL is not signed (or its signature is malformed): ask the LFS batch API "
                        "for a fresh one") from None
    user = q.get("user", "")
    if not check_upload_signature(ctx.config.secret, p["repo_type"], p["repo_id"], rid, oid, size, exp, user,
                                  q.get("sig", ""), kind):
        raise Forbidden("Invalid signature on this upload URL")
    if exp < time.time():
        raise Forbidden("This upload URL has expired: ask the LFS batch API for a fresh one")
    # the signature proves the user had write access to this repo when the URL was issued
    namespace = p["repo_id"].split("/")[0]
    uploader = Principal(user=user, role="write", orgs=frozenset({namespace}), token_name=f"lfs-{kind}-url")
    repo = ctx.backend.get_repo(uploader, p["repo_type"], p["repo_id"], access="read")
    if repo.id != rid:
        raise RepoNotFound("Repository not found (it was deleted or moved since this URL was issued)")
    return repo, oid, size, uploader


def _store_put(ctx: Ctx):
    repo, oid, size, uploader = _check_signed(ctx, "upload")
    length = ctx.request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) != size:
        raise BadRequest(f"Content-Length {length} differs from the object size {size} in the upload URL")
    ctx.backend.store_blob(sync_body_chunks(ctx.request), expected_sha256=oid, expected_size=size,
                           max_size=ctx.config.max_file_size)
    ctx.backend.record_lfs_upload(uploader, repo, oid, size)
    return Response(status_code=200)


async def put_object(ctx: Ctx):
    """PUT raw bytes to a signed href; 200 only if they hash to oid and have the signed size."""
    return await run_in_threadpool(_store_put, ctx)


def _check_get(ctx: Ctx):
    repo, oid, size, _ = _check_signed(ctx, "download")
    blob = str(ctx.backend.blob_path(oid))
    if ctx.backend.blob_size(oid) != size:
        raise EntryNotFound("LFS object not found")
    return blob, oid, size


async def get_object(ctx: Ctx):
    """GET/HEAD a signed download href (git-lfs `download` action), with Range support."""
    blob, oid, size = await run_in_threadpool(_check_get, ctx)
    headers = {"ETag": f'"{oid}"', "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
    try:
        rng = parse_range(ctx.request.headers.get("range"), size)
    except RangeNotSatisfiable as e:
        return json_error(416, e.message, headers={"Content-Range": f"bytes */{size}"})
    if rng is None:
        return BlobResponse(blob, 0, size, 200, {**headers, "Content-Length": str(size)})
    start, end = rng
    return BlobResponse(blob, start, end - start + 1, 206, {**headers, "Content-Length": str(end - start + 1),
                                                           "Content-Range": f"bytes {start}-{end}/{size}"})


def verify(ctx: Ctx):
    """200 if the object is stored with that size and usable by the caller in this repo, else 404."""
    require_user(ctx.principal)
    repo = _path_repo(ctx, access="write")
    body = ctx.json()
    oid, size = body.get("oid"), body.get("size")
    if not isinstance(oid, str) or not _SHA256.match(oid) or not isinstance(size, int):
        raise BadRequest("Body must be {\"oid\": <sha256>, \"size\": <int>}")
    if ctx.backend.blob_size(oid) != size or not ctx.backend.lfs_object_usable(ctx.principal, repo, oid):
        raise EntryNotFound(f"LFS object {oid} of {size} bytes was not uploaded to this repository")
    return _lfs_response({"oid": oid, "size": size})

