"""Discussions and pull requests, the minimum `create_pr` needs (spec §9.1, §10).

    POST /api/{type}s/{id}/discussions        {"title", "description", "pullRequest"} -> {"num", "url", ...}
    GET  /api/{type}s/{id}/discussions?p=&type=&status=&author=
    GET  /api/{type}s/{id}/discussions/{num}
"""

from __future__ import annotations

from snuggle.hub.server.auth_http import require_user
from snuggle.hub.server.context import Ctx, json_response
from snuggle.hub.server.errors import BadRequest, EntryNotFound, Forbidden
from snuggle.hub.server.jsonshapes import discussion_json
from snuggle.hub.server.routes_repos import _path_repo

PAGE = 50


def _url(ctx: Ctx, repo, num: int) -> str:
    return f"{ctx.repo_url(repo.repo_type, repo.repo_id)}/discussions/{num}"


def discussions(ctx: Ctx):
    if ctx.request.method == "POST":
        return _create(ctx)
    repo = _path_repo(ctx)
    items = ctx.backend.list_discussions(ctx.principal, repo)
    kind = ctx.query("type") or "all"
    status = ctx.query("status") or "all"
    author = ctx.query("author")
    if kind == "pull_request":
        items = [d for d in items if d.is_pull_request]
    elif kind == "discussion":
        items = [d for d in items if not d.is_pull_request]
    if status == "open":
        items = [d for d in items if d.status in ("open", "draft")]
    elif status == "closed":
        items = [d for d in items if d.status in ("closed", "merged")]
    if author:
        items = [d for d in items if d.author == author]
    items = sorted(items, key=lambda d: d.num, reverse=True)
    try:
        page = max(int(ctx.query("p") or 0), 0)
    except ValueError:
        page = 0
    start = page * PAGE
    chunk = items[start:start + PAGE]
    return json_response({
        "discussions": [discussion_json(d, repo, url=_url(ctx, repo, d.num)) for d in chunk],
        "count": len(items),
        "start": start,
        "numClosedDiscussions": sum(1 for d in items if d.status in ("closed", "merged")),
    })


def _create(ctx: Ctx):
    principal = require_user(ctx.principal)
    repo = _path_repo(ctx)
    if principal.role != "write":
        raise Forbidden("Your token is read-only: a write token is needed to open a discussion")
    body = ctx.json()
    title = body.get("title")
    description = body.get("description") or ""
    if not isinstance(title, str) or not title.strip():
        raise BadRequest("Field 'title' (non-empty string) is required")
    if not isinstance(description, str):
        raise BadRequest("Field 'description' must be a string")
    d = ctx.backend.create_discussion(principal, repo, title=title.strip(), description=description,
                                      pull_request=bool(body.get("pullRequest")))
    return json_response({"num": d.num, "pullRequest": bool(d.is_pull_request), "url": _url(ctx, repo, d.num),
                          "reference": d.reference})


def discussion(ctx: Ctx):
    repo = _path_repo(ctx)
    try:
        num = int(ctx.params["num"])
    except ValueError:
        raise EntryNotFound(f"Discussion {ctx.params['num']!r} not found") from None
    d = ctx.backend.get_discussion(ctx.principal, repo, num)
    return json_response(discussion_json(d, repo, url=_url(ctx, repo, d.num), full=True))
