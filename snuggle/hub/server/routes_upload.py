"""Upload routes: validate-yaml, preupload, the NDJSON commit, and the Xet token routes (spec §8).

    POST /api/validate-yaml                              {"content", "repoType"} -> {"errors", "warnings"}
    POST /api/{type}s/{id}/preupload/{rev}[?create_pr=1] {"files": [{"path", "sample", "size"}]}
    POST /api/{type}s/{id}/commit/{rev}[?create_pr=1]    NDJSON, streamed into the blob store
    GET  /api/{type}s/{id}/xet-write-token/{rev}         501 (no Xet, §8.3)

Upload mode: "regular" (inline base64) up to `inline_limit`, "lfs" above, never by file type (§8.3).
"""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool

from snuggle.hub.server.auth_http import require_user
from snuggle.hub.server.context import Ctx, json_response, sync_body_chunks
from snuggle.hub.server.errors import (
    BadRequest, Forbidden, NotImplementedErr, PreconditionFailed, TooLarge, Unprocessable,
)
from snuggle.hub.server.gitignore import is_ignored
from snuggle.hub.server.ndjson_commit import StagedContents, StoredContent, iter_commit_lines
from snuggle.hub.server.paths import validate_folder_path, validate_repo_path
from snuggle.hub.server.records import AddFile, DeleteFile, DeleteFolder
from snuggle.hub.server.routes_repos import _path_repo

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*\r?$", re.S | re.M)


# ---- validate-yaml ------------------------------------------------------------------------------------


def front_matter_errors(content: str) -> list[str]:
    """Messages for an invalid README YAML front matter (none when there is no front matter).

    >>> front_matter_errors("---\\nlicense: mit\\n---\\n# hi\\n")
    []
    >>> front_matter_errors("---\\n- a list\\n---\\n")
    ['The YAML metadata must be a mapping (key: value), got list']
    """
    import yaml

    text = content.lstrip("\ufeff")
    m = _FRONT_MATTER.match(text)
    if not m:
        return []
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError as e:
        return [f"Invalid YAML in the README front matter: {' '.join(str(e).split())}"]
    if data is not None and not isinstance(data, dict):
        return [f"The YAML metadata must be a mapping (key: value), got {type(data).__name__}"]
    return []


def validate_yaml(ctx: Ctx):
    """Always answers JSON: the client parses the body before looking at the status (§8.1)."""
    try:
        body = ctx.json()
    except BadRequest as e:
        return json_response({"error": e.message, "errors": [{"message": e.message}], "warnings": []}, status=400)
    content = body.get("content")
    if not isinstance(content, str):
        msg = "Field 'content' (the README.md text) is required"
        return json_response({"error": msg, "errors": [{"message": msg}], "warnings": []}, status=400)
    errors = front_matter_errors(content)
    if errors:
        return json_response({"error": errors[0], "errors": [{"message": m} for m in errors], "warnings": []},
                             status=400)
    return json_response({"errors": [], "warnings": []})


# ---- preupload ----------------------------------------------------------------------------------------


def _upload_repo(ctx: Ctx, create_pr: bool):
    """The target repo of an upload: write access, or (create_pr) read access plus a write token."""
    principal = require_user(ctx.principal)
    if create_pr:
        repo = _path_repo(ctx, access="read")
        if principal.role != "write":
            raise Forbidden("Your token is read-only: a write token is needed to open a pull request")
        return repo
    return _path_repo(ctx, access="write")


_MAX_GITIGNORE = 1 << 20  # a larger .gitignore is read up to this size


def _gitignore_text(ctx: Ctx, repo, commit_oid: str, body: dict) -> str | None:
    """The .gitignore that decides shouldIgnore: the request's `gitIgnore` (the content being
    committed, which replaces the repo's) or else the repo's own `.gitignore` at the revision."""
    given = body.get("gitIgnore")
    if given is not None:
        if not isinstance(given, str):
            raise BadRequest("Field 'gitIgnore' must be a string (the content of the .gitignore being committed)")
        return given
    entry = ctx.backend.get_entry(repo, commit_oid, ".gitignore")
    if entry is None or entry.type != "file" or not entry.sha256:
        return None
    try:
        with open(ctx.backend.blob_path(entry.sha256), "rb") as f:
            return f.read(_MAX_GITIGNORE).decode("utf-8", "replace")
    except FileNotFoundError:
        return None


def preupload(ctx: Ctx):
    """Per file: uploadMode (regular <= inline_limit < lfs), shouldIgnore (git's rules for the
    .gitignore, see gitignore.py), and the current oid at `rev`."""
    create_pr = ctx.query_bool("create_pr")
    repo = _upload_repo(ctx, create_pr)
    commit, _ = ctx.backend.resolve_revision(repo, ctx.params["rev"])
    body = ctx.json()
    files = body.get("files")
    if not isinstance(files, list):
        raise BadRequest("Field 'files' (a list of {path, sample, size}) is required")
    limit = ctx.config.max_preupload_files
    if len(files) > limit:
        raise BadRequest(f"Too many files in one preupload call: {len(files)} (the limit is {limit})")
    gitignore = _gitignore_text(ctx, repo, commit.oid, body)
    out = []
    for item in files:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise BadRequest("Each file needs a 'path' string")
        path = validate_repo_path(item["path"])
        size = item.get("size", 0)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BadRequest(f"File {path!r}: 'size' must be a non-negative integer")
        if size > ctx.config.max_file_size:
            raise TooLarge(f"File {path!r} is {size} bytes; the limit is {ctx.config.max_file_size} bytes")
        entry = ctx.backend.get_entry(repo, commit.oid, path)
        oid = None
        if entry is not None and entry.type == "file":
            oid = (entry.lfs.get("oid") or entry.sha256) if entry.lfs else entry.oid
        out.append({
            "path": path,
            "uploadMode": "lfs" if size > ctx.config.inline_limit else "regular",
            "shouldIgnore": is_ignored(path, gitignore),
            "oid": oid,
        })
    return json_response({"files": out, "commitOid": commit.oid})


# ---- commit -------------------------------------------------------------------------------------------


def _op_from_line(key: str, value: dict):
    if key == "file":
        path = validate_repo_path(value.get("path"), what="file path")
        content = value.get("content")
        if not isinstance(content, StoredContent):
            raise BadRequest(f"File {path!r}: 'content' (base64) is required")
        if value.get("encoding", "base64") not in ("base64", "utf-8", "utf8"):
            raise BadRequest(f"File {path!r}: unsupported encoding {value.get('encoding')!r}")
        return AddFile(path, sha256=content.sha256, size=content.size, lfs=False)
    if key == "lfsFile":
        path = validate_repo_path(value.get("path"), what="file path")
        algo = value.get("algo", "sha256")
        oid = value.get("oid")
        size = value.get("size")
        if algo != "sha256":
            raise BadRequest(f"LFS file {path!r}: unsupported algo {algo!r} (expected 'sha256')")
        if not isinstance(oid, str) or not _SHA256.match(oid):
            raise BadRequest(f"LFS file {path!r}: 'oid' must be 64 lowercase hex characters")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise BadRequest(f"LFS file {path!r}: 'size' must be a non-negative integer")
        return AddFile(path, sha256=oid, size=size, lfs=True)
    if key == "deletedFile":
        return DeleteFile(validate_repo_path(value.get("path"), what="deleted file path"))
    if key == "deletedFolder":
        path = value.get("path")
        if not isinstance(path, str):
            raise BadRequest("deletedFolder: 'path' (string) is required")
        folder = validate_folder_path(path)
        if folder == "":
            raise BadRequest("deletedFolder: deleting the repository root is not allowed")
        return DeleteFolder(folder)
    raise BadRequest(f"Malformed NDJSON: unknown key {key!r} (expected header, file, lfsFile, deletedFile, "
                     "deletedFolder)")


def _parse_commit(ctx: Ctx, store):
    """Read and validate the NDJSON body: (header dict, operations). Inline contents go to `store`
    (a StagedContents) as they arrive; nothing reaches the blob store before the whole body is valid."""
    config = ctx.config
    inline = config.inline_limit
    header, ops = None, []
    for lineno, obj in enumerate(iter_commit_lines(sync_body_chunks(ctx.request), store=store, max_body=2 * inline,
                                                   max_line=inline * 4 // 3 + 64 * 1024, max_inline=inline), 1):
        key, value = obj.get("key"), obj.get("value")
        if not isinstance(key, str) or not isinstance(value, dict):
            raise BadRequest(f"Malformed NDJSON: line {lineno} needs 'key' (string) and 'value' (object)")
        if key == "header":
            if header is not None or lineno != 1:
                raise BadRequest("Malformed NDJSON: the 'header' line must come first, exactly once")
            header = value
            continue
        if header is None:
            raise BadRequest("Malformed NDJSON: the first line must be the 'header'")
        ops.append(_op_from_line(key, value))
        if len(ops) > config.max_commit_files:
            raise TooLarge(f"Too many operations in one commit (the limit is {config.max_commit_files})")
    if header is None:
        raise BadRequest("Malformed NDJSON: empty commit body (the first line must be the 'header')")
    summary = header.get("summary")
    description = header.get("description") or ""
    parent = header.get("parentCommit")
    if not isinstance(summary, str) or not summary.strip():
        raise BadRequest("Commit header: 'summary' must be a non-empty string")
    if not isinstance(description, str):
        raise BadRequest("Commit header: 'description' must be a string")
    if parent is not None and not isinstance(parent, str):
        raise BadRequest("Commit header: 'parentCommit' must be a string")
    return {"summary": summary, "description": description, "parent_commit": parent or None}, ops


def _commit_ref(ctx: Ctx, repo) -> str:
    """Full ref a commit to the URL's revision moves: a branch or
    refs/pr/N; a tag or a commit id is 400, an unknown revision 404 RevisionNotFound."""
    rev = ctx.params["rev"]
    _, ref = ctx.backend.resolve_revision(repo, rev)
    if ref is None or not (ref.startswith("refs/heads/") or ref.startswith("refs/pr/")):
        kind = "a commit id" if ref is None else "a tag"
        raise BadRequest(f"Cannot commit to {rev!r}: it is {kind}, not a branch")
    return ref


def _precheck(ctx: Ctx, repo, ref: str, header: dict, ops: list, create_pr: bool) -> None:
    """Refuse before any staged content reaches the blob store what the backend would refuse anyway:
    a stale parentCommit (412) and LFS objects that are missing, of another size or not the caller's (422).
    The backend checks all of it again atomically."""
    backend = ctx.backend
    parent = header["parent_commit"]
    if parent is not None and not create_pr and backend.head(repo, ref) != parent:
        raise PreconditionFailed(f"parentCommit {parent} is not the head of {ctx.params['rev']!r}")
    for op in ops:
        if isinstance(op, AddFile) and op.lfs:
            stored = backend.blob_size(op.sha256)
            if stored is None or not backend.lfs_object_usable(ctx.principal, repo, op.sha256):
                raise Unprocessable(f"LFS object {op.sha256} for {op.path!r} was not uploaded to this repo "
                                    "(or not verified): upload it through the LFS batch API first")
            if op.size is not None and op.size != stored:
                raise Unprocessable(f"LFS object {op.sha256} has {stored} bytes, the commit says {op.size}")


def _run_commit(ctx: Ctx, create_pr: bool):
    repo = _upload_repo(ctx, create_pr)
    staged = StagedContents(getattr(ctx.config, "tmp_dir", None))
    try:
        # the body is read first even when the revision is wrong: the client then gets the clean error
        # response instead of a connection reset in the middle of its upload
        header, ops = _parse_commit(ctx, staged)
        _precheck(ctx, repo, _commit_ref(ctx, repo), header, ops, create_pr)
        ctx.backend.store_blobs(staged.contents())  # one batch: fsyncs issued together, one DB write
    finally:
        staged.close()
    commit, pr_num = ctx.backend.commit(ctx.principal, repo, ctx.params["rev"], ops, summary=header["summary"],
                                        description=header["description"], parent_commit=header["parent_commit"],
                                        create_pr=create_pr)
    url = ctx.repo_url(repo.repo_type, repo.repo_id)
    out = {"success": True, "commitOid": commit.oid, "commitUrl": f"{url}/commit/{commit.oid}", "hookOutput": ""}
    if pr_num is not None:
        out["pullRequestUrl"] = f"{url}/discussions/{pr_num}"
    return json_response(out)


async def commit(ctx: Ctx):
    """POST .../commit/{rev}: atomic; the body is parsed as it streams in (never held whole in memory)."""
    return await run_in_threadpool(_run_commit, ctx, ctx.query_bool("create_pr"))


def xet_token(ctx: Ctx):
    """501: Xet is not implemented; hf_xet then fails at once with a clear status (§8.3)."""
    raise NotImplementedErr("Xet storage is not supported by this server: files larger than the inline limit "
                            "upload through git-LFS; set HF_HUB_DISABLE_XET=1 in the client's environment")
