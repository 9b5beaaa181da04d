"""Tree, paths-info, refs, branches, tags and commit history routes (spec §6).

    GET  /api/{type}s/{id}/tree/{rev}[/{path}]?recursive=&expand=&cursor=
    POST /api/{type}s/{id}/paths-info/{rev}          (form-encoded paths=..&paths=..&expand=, or JSON)
    GET  /api/{type}s/{id}/refs[?include_prs=1]
    POST|DELETE /api/{type}s/{id}/branch/{branch}    POST /api/{type}s/{id}/tag/{rev}   DELETE .../tag/{tag}
    GET  /api/{type}s/{id}/commits/{rev}?cursor=
"""

from __future__ import annotations

from urllib.parse import parse_qs

from snuggle.hub.server.auth_http import require_user
from snuggle.hub.server.context import Ctx, json_response
from snuggle.hub.server.errors import BadRequest
from snuggle.hub.server.jsonshapes import commit_json, entry_json, ref_json
from snuggle.hub.server.paths import validate_folder_path, validate_repo_path
from snuggle.hub.server.routes_repos import _int_param, _next_link, _path_repo, link_header

TREE_PAGE = 1000
TREE_PAGE_EXPANDED = 50
COMMITS_PAGE = 100


def _page(ctx: Ctx, items: list, page_size: int) -> tuple[list, dict]:
    """Slice `items` at ?cursor= and return (page, Link header when more follow). `?limit=` lowers the
    page size (the clients never send it; handy for scripts and tests)."""
    limit = _int_param(ctx, "limit", None)
    if limit is not None and limit > 0:
        page_size = min(page_size, limit)
    offset = max(_int_param(ctx, "cursor", 0) or 0, 0)
    page = items[offset:offset + page_size]
    headers = {}
    if offset + page_size < len(items):
        headers = link_header(_next_link(ctx, cursor=offset + page_size))
    return page, headers


def _with_last_commits(ctx: Ctx, repo, commit_oid: str, entries: list, expand: bool) -> list[dict]:
    last = ctx.backend.last_commits(repo, commit_oid, [e.path for e in entries]) if expand and entries else {}
    return [entry_json(e, last.get(e.path)) for e in entries]


def tree(ctx: Ctx):
    """Entries under a folder (recursive or not), stably sorted by path, paginated with Link."""
    repo = _path_repo(ctx)
    commit, _ = ctx.backend.resolve_revision(repo, ctx.params["rev"])
    path = validate_folder_path(ctx.params.get("path", ""))
    recursive = ctx.query_bool("recursive")
    expand = ctx.query_bool("expand")
    entries = ctx.backend.list_tree(repo, commit.oid, path, recursive=recursive)
    page, headers = _page(ctx, entries, TREE_PAGE_EXPANDED if expand else TREE_PAGE)
    return json_response(_with_last_commits(ctx, repo, commit.oid, page, expand), headers=headers)


def _paths_info_body(ctx: Ctx) -> tuple[list[str], bool]:
    raw = ctx.body or b""
    ctype = ctx.request.headers.get("content-type", "")
    if "json" in ctype:
        data = ctx.json(required=False)
        paths = data.get("paths", [])
        expand = data.get("expand", False)
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise BadRequest("Field 'paths' must be a list of strings")
        return paths, expand in (True, "true", "True", 1, "1")
    try:
        form = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise BadRequest("paths-info body is not valid UTF-8") from None
    paths = form.get("paths", []) + form.get("paths[]", [])
    expand = (form.get("expand") or ["false"])[-1].lower() in ("1", "true")
    return paths, expand


def paths_info(ctx: Ctx):
    """Entries for the given paths that exist (files or folders); missing or invalid paths are omitted."""
    repo = _path_repo(ctx)
    commit, _ = ctx.backend.resolve_revision(repo, ctx.params["rev"])
    paths, expand = _paths_info_body(ctx)
    found, seen = [], set()
    for p in paths:
        p = p[:-1] if p.endswith("/") else p
        if p in seen:
            continue
        seen.add(p)
        try:
            validate_repo_path(p)
        except BadRequest:
            continue
        entry = ctx.backend.get_entry(repo, commit.oid, p)
        if entry is not None:
            found.append(entry)
    return json_response(_with_last_commits(ctx, repo, commit.oid, found, expand))


def refs(ctx: Ctx):
    """{"branches", "tags", "converts", ["pullRequests"]}; all three lists always present."""
    repo = _path_repo(ctx)
    include_prs = ctx.query_bool("include_prs")
    listed = ctx.backend.list_refs(repo, include_prs=include_prs)
    out = {
        "branches": [ref_json(r) for r in listed.get("branches", [])],
        "tags": [ref_json(r) for r in listed.get("tags", [])],
        "converts": [],
    }
    if include_prs:
        out["pullRequests"] = [ref_json(r) for r in listed.get("pull_requests", [])]
    return json_response(out)


def branch(ctx: Ctx):
    """POST creates (body {"startingPoint"} optional), DELETE removes a branch."""
    require_user(ctx.principal)
    repo = _path_repo(ctx, access="write")
    name = ctx.params["ref_name"]
    if ctx.request.method == "DELETE":
        ctx.backend.delete_branch(ctx.principal, repo, name)
        return json_response({})
    body = ctx.json(required=False)
    start = body.get("startingPoint")
    if start is not None and not isinstance(start, str):
        raise BadRequest("Field 'startingPoint' must be a string")
    ctx.backend.create_branch(ctx.principal, repo, name, starting_point=start or None)
    return json_response({})


def tag(ctx: Ctx):
    """POST .../tag/{rev} {"tag", "message"} tags `rev`; DELETE .../tag/{tag} removes the tag."""
    require_user(ctx.principal)
    repo = _path_repo(ctx, access="write")
    if ctx.request.method == "DELETE":
        ctx.backend.delete_tag(ctx.principal, repo, ctx.params["ref_name"])
        return json_response({})
    body = ctx.json()
    name = body.get("tag")
    message = body.get("message")
    if not isinstance(name, str) or not name:
        raise BadRequest("Field 'tag' (string) is required")
    if message is not None and not isinstance(message, str):
        raise BadRequest("Field 'message' must be a string")
    ctx.backend.create_tag(ctx.principal, repo, ctx.params["ref_name"], name, message=message)
    return json_response({})


def commits(ctx: Ctx):
    """First-parent history from `rev`, newest first, paginated with Link."""
    repo = _path_repo(ctx)
    limit = _int_param(ctx, "limit", None)
    page_size = min(COMMITS_PAGE, limit) if limit and limit > 0 else COMMITS_PAGE
    offset = max(_int_param(ctx, "cursor", 0) or 0, 0)
    # one extra commit tells whether another page follows
    page = ctx.backend.list_commits(repo, ctx.params["rev"], limit=page_size + 1, offset=offset)
    headers = {}
    if len(page) > page_size:
        page = page[:page_size]
        headers = link_header(_next_link(ctx, cursor=offset + page_size))
    out = []
    formatted = "formatted" in ctx.query_list("expand")
    for c in page:
        item = commit_json(c)
        if formatted:
            item["formatted"] = {"title": _html_escape(c.title), "message": _html_escape(c.message or "")}
        out.append(item)
    return json_response(out, headers=headers)


def _html_escape(text: str) -> str:
    import html

    return html.escape(text)

