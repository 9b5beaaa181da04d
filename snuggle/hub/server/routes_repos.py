"""Identity and repository routes: whoami, create/delete/move, settings, repo info, listings (spec §3-§5).

Handlers are synchronous (they run in a worker thread) and take a `Ctx`:

    def whoami(ctx) -> Response      # GET /api/whoami-v2
"""

from __future__ import annotations

from urllib.parse import urlencode

from snuggle.hub.server.auth_http import require_user
from snuggle.hub.server.context import Ctx, json_response
from snuggle.hub.server.errors import BadRequest, Conflict, HubServerError, RepoNotFound
from snuggle.hub.server.http_errors import json_error
from snuggle.hub.server.jsonshapes import repo_info_json, sibling_json
from snuggle.hub.server.paths import split_repo_id

LIST_PAGE_SIZE = 1000
_REPO_TYPES = ("model", "dataset", "space")
# the client's snake_case sort keys and the API's camelCase ones
_SORT_KEYS = {
    "last_modified": "lastModified", "lastModified": "lastModified", "created_at": "createdAt",
    "createdAt": "createdAt", "downloads": "downloads", "likes": "likes", "trending_score": "trendingScore",
    "trendingScore": "trendingScore", "id": "id", "modelId": "id", "name": "id",
}


def whoami(ctx: Ctx):
    """GET /api/whoami-v2 (spec §3)."""
    return json_response(ctx.backend.whoami(require_user(ctx.principal)))


def _repo_type_of(body: dict) -> str:
    repo_type = body.get("type") or "model"
    if repo_type not in _REPO_TYPES:
        raise BadRequest(f"Invalid repo type {repo_type!r}: expected one of {', '.join(_REPO_TYPES)}")
    return repo_type


def _body_repo_id(ctx: Ctx, body: dict) -> str:
    """ns/name from {"name", "organization"} (organization null = the caller's namespace)."""
    name = body.get("name")
    org = body.get("organization")
    if not isinstance(name, str):
        raise BadRequest("Field 'name' (string) is required")
    if org is not None and not isinstance(org, str):
        raise BadRequest("Field 'organization' must be a string or null")
    namespace = org or ctx.principal.user
    repo_id = f"{namespace}/{name}"
    split_repo_id(repo_id)
    return repo_id


def repo_create(ctx: Ctx):
    """POST /api/repos/create (spec §4). 409 when it exists, with `url` (create_repo(exist_ok=True))."""
    require_user(ctx.principal)
    body = ctx.json()
    repo_type = _repo_type_of(body)
    repo_id = _body_repo_id(ctx, body)
    private = body.get("private")
    visibility = body.get("visibility")
    if visibility is not None:
        if visibility not in ("public", "private"):
            raise BadRequest(f"Invalid visibility {visibility!r}: expected 'public' or 'private'")
        private = visibility == "private"
    url = ctx.repo_url(repo_type, repo_id)
    try:
        repo = ctx.backend.create_repo(ctx.principal, repo_type, repo_id, private=bool(private))
    except Conflict as e:
        try:
            ctx.backend.get_repo(ctx.principal, repo_type, repo_id, access="read")
        except HubServerError:
            raise e from None
        return json_error(409, e.message or f"You already created this {repo_type} repo", extra={"url": url})
    return json_response({"url": url, "name": repo.repo_id, "id": f"{repo.repo_type}-{repo.id}"})


def repo_delete(ctx: Ctx):
    """DELETE /api/repos/delete (spec §4)."""
    require_user(ctx.principal)
    body = ctx.json()
    repo_type = _repo_type_of(body)
    try:
        repo_id = _body_repo_id(ctx, body)
    except BadRequest:
        raise RepoNotFound("Repository not found") from None
    ctx.backend.delete_repo(ctx.principal, repo_type, repo_id)
    return json_response({})


def repo_move(ctx: Ctx):
    """POST /api/repos/move {"fromRepo", "toRepo", "type"} (spec §4)."""
    require_user(ctx.principal)
    body = ctx.json()
    repo_type = _repo_type_of(body)
    src, dst = body.get("fromRepo"), body.get("toRepo")
    if not isinstance(src, str) or not isinstance(dst, str):
        raise BadRequest("Fields 'fromRepo' and 'toRepo' (strings 'namespace/name') are required")
    try:
        split_repo_id(src)
    except BadRequest:
        raise RepoNotFound("Repository not found") from None
    split_repo_id(dst)
    repo = ctx.backend.move_repo(ctx.principal, repo_type, src, dst)
    return json_response({"url": ctx.repo_url(repo_type, repo.repo_id), "name": repo.repo_id})


class RepoMoved(HubServerError):
    """307 to the repo's new name (spec §4: a moved repo's old name keeps redirecting reads)."""

    status = 307


def _path_repo(ctx: Ctx, access: str = "read"):
    """The repo named in the URL; a malformed id is just a missing repo (404 RepoNotFound). Reads of a
    moved repo's old name answer 307 with a relative Location (the clients follow same-host redirects)."""
    p = ctx.params
    try:
        split_repo_id(p["repo_id"])
    except BadRequest:
        raise RepoNotFound(f"Repository not found: {p['repo_id']}") from None
    try:
        return ctx.backend.get_repo(ctx.principal, p["repo_type"], p["repo_id"], access=access)
    except RepoNotFound:
        if access != "read" or ctx.request.method not in ("GET", "HEAD"):
            raise
        new_id = ctx.backend.resolve_redirect(ctx.principal, p["repo_type"], p["repo_id"])
        if not new_id or new_id == p["repo_id"]:
            raise
        raw = (ctx.request.scope.get("raw_path") or ctx.request.url.path.encode()).decode("latin-1")
        location = raw.replace(f"/{p['repo_id']}/", f"/{new_id}/", 1) if not raw.endswith(p["repo_id"]) else \
            raw[: -len(p["repo_id"])] + new_id
        if ctx.request.url.query:
            location += "?" + ctx.request.url.query
        err = RepoMoved(f"Repository {p['repo_id']} was moved to {new_id}")
        err.headers = {"Location": location}
        raise err from None


def repo_settings(ctx: Ctx):
    """PUT /api/{type}s/{id}/settings: visibility / private / gated (spec §4)."""
    require_user(ctx.principal)
    body = ctx.json()
    private = body.get("private")
    if private is not None and not isinstance(private, bool):
        raise BadRequest("Field 'private' must be a boolean")
    visibility = body.get("visibility")
    if visibility is not None:
        if visibility not in ("public", "private"):
            raise BadRequest(f"Invalid visibility {visibility!r}: expected 'public' or 'private'")
        private = visibility == "private"
    gated = body.get("gated")
    p = ctx.params
    try:
        split_repo_id(p["repo_id"])
    except BadRequest:
        raise RepoNotFound(f"Repository not found: {p['repo_id']}") from None
    kwargs = {"private": private}
    if gated is not None:
        kwargs["gated"] = gated
    repo = ctx.backend.update_settings(ctx.principal, p["repo_type"], p["repo_id"], **kwargs)
    return json_response({"private": bool(repo.private), "gated": repo.gated or False})


def repo_info(ctx: Ctx):
    """GET /api/{type}s/{id} and /api/{type}s/{id}/revision/{rev} (spec §5)."""
    repo = _path_repo(ctx)
    backend = ctx.backend
    commit, _ = backend.resolve_revision(repo, ctx.params.get("rev") or "main")
    blobs = ctx.query_bool("blobs")
    entries = [e for e in backend.list_tree(repo, commit.oid, "", recursive=True) if e.type == "file"]
    card = backend.card_data(repo, commit.oid)
    info = repo_info_json(repo, commit, url=ctx.repo_url(repo.repo_type, repo.repo_id), card=card,
                          siblings=[sibling_json(e, blobs) for e in entries],
                          used_storage=sum(e.size for e in entries))
    return json_response(info)


def _next_link(ctx: Ctx, **updates) -> str:
    """Absolute URL of this request with query parameters replaced (for `Link: <...>; rel="next"`)."""
    items = [(k, v) for k, v in ctx.request.query_params.multi_items() if k not in updates]
    items += [(k, str(v)) for k, v in updates.items()]
    raw = ctx.request.scope.get("raw_path") or ctx.request.url.path.encode()
    path = raw.decode("latin-1")
    root = ctx.request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    return f"{ctx.base_url}{path}?{urlencode(items)}"


def link_header(url: str) -> dict:
    return {"Link": f'<{url}>; rel="next"'}


def _int_param(ctx: Ctx, name: str, default: int | None) -> int | None:
    value = ctx.query(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        return default


def list_repos(ctx: Ctx):
    """GET /api/models|datasets|spaces with search/author/filter/sort/direction/limit (spec §5)."""
    repo_type = ctx.params["repo_type"]
    limit = _int_param(ctx, "limit", None)
    page_size = LIST_PAGE_SIZE if limit is None or limit <= 0 else min(limit, LIST_PAGE_SIZE)
    offset = max(_int_param(ctx, "cursor", 0) or 0, 0)
    direction = _int_param(ctx, "direction", None)
    sort = _SORT_KEYS.get(ctx.query("sort") or "")
    filters = [f for f in ctx.query_list("filter") if f]
    search = ctx.query("search") or None
    author = ctx.query("author") or None
    repos, total = ctx.backend.list_repos(ctx.principal, repo_type, search=search, author=author, filters=filters,
                                          sort=sort, direction=direction, limit=page_size, offset=offset)
    expand = ctx.query_list("expand")
    want_card = ctx.query_bool("cardData") or ctx.query_bool("full") or "cardData" in expand
    want_siblings = ctx.query_bool("full") or "siblings" in expand
    out = []
    for repo in repos:
        try:
            commit, _ = ctx.backend.resolve_revision(repo, "main")
        except HubServerError:
            commit = None
        card = ctx.backend.card_data(repo, commit.oid) if (want_card and commit is not None) else None
        siblings = None
        if want_siblings and commit is not None:
            files = ctx.backend.list_tree(repo, commit.oid, "", recursive=True)
            siblings = [sibling_json(e, False) for e in files if e.type == "file"]
        out.append(repo_info_json(repo, commit, url=ctx.repo_url(repo.repo_type, repo.repo_id), card=card,
                                  siblings=siblings))
    headers = {}
    if offset + len(repos) < total and repos:
        headers = link_header(_next_link(ctx, cursor=offset + len(repos)))
    return json_response(out, headers=headers)
