"""Split a request's RAW path into decoded segments and match it to a Hub route (spec §1.3).

Starlette decodes `%2F` before routing, so `feat%2Fx` would become two segments. We route on
`scope["raw_path"]`: split on literal `/`, then percent-decode each segment on its own.

>>> segs = split_raw_path(b"/api/models/ns/m/tree/feat%2Fx/dir%2Fa%20b")
>>> segs
['api', 'models', 'ns', 'm', 'tree', 'feat/x', 'dir/a b']
>>> match_route("GET", segs).name, match_route("GET", segs).params["rev"]
('tree', 'feat/x')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from snuggle.hub.server.errors import BadRequest

REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIXES = {"datasets": "dataset", "spaces": "space"}
PREFIX_OF_TYPE = {"model": "", "dataset": "datasets/", "space": "spaces/"}


@dataclass
class RouteMatch:
    """A matched route: its name and the decoded parameters (repo_type, repo_id, rev, path, ...)."""

    name: str
    params: dict = field(default_factory=dict)


def split_raw_path(raw: bytes, root_path: str = "") -> list[str]:
    """Decoded segments of a raw URL path (query excluded); a trailing `/` gives no empty last segment."""
    if b"?" in raw:
        raw = raw.split(b"?", 1)[0]
    root = root_path.encode()
    if root and raw.startswith(root):
        raw = raw[len(root):]
    parts = raw.split(b"/")
    if parts and parts[0] == b"":
        parts = parts[1:]
    if parts and parts[-1] == b"" and len(parts) > 1:
        parts = parts[:-1]
    out = []
    for p in parts:
        try:
            out.append(unquote_to_bytes(p).decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequest("URL path is not valid UTF-8 after percent-decoding") from None
    return out


def _take_revision(segs: list[str], i: int) -> tuple[str | None, int]:
    """Revision at segs[i]; also the unencoded `refs/pr/<n>` and `refs/convert/<x>` 3-segment forms."""
    if i >= len(segs):
        return None, i
    if segs[i] == "refs" and i + 2 < len(segs) and segs[i + 1] in ("pr", "convert"):
        return "/".join(segs[i:i + 3]), i + 3
    return segs[i], i + 1


# /api/{T}/{ns}/{name}/<action>/... : action -> (route name, allowed methods, shape)
_REPO_ACTIONS = {
    "revision": ("info", ("GET", "HEAD"), "rev"),
    "settings": ("settings", ("PUT",), "none"),
    "tree": ("tree", ("GET",), "rev+path"),
    "paths-info": ("paths_info", ("POST",), "rev"),
    "refs": ("refs", ("GET",), "none"),
    "branch": ("branch", ("POST", "DELETE"), "name"),
    "tag": ("tag", ("POST", "DELETE"), "name"),
    "commits": ("commits", ("GET",), "rev"),
    "preupload": ("preupload", ("POST",), "rev"),
    "commit": ("commit", ("POST",), "rev"),
    "xet-write-token": ("xet_token", ("GET",), "rev"),
    "xet-read-token": ("xet_token", ("GET",), "rev"),
    "discussions": ("discussions", ("GET", "POST"), "optnum"),
}


def _match_api(method: str, segs: list[str]) -> RouteMatch | None:
    n = len(segs)
    if n == 2 and segs[1] == "whoami-v2":
        return RouteMatch("whoami") if method in ("GET", "HEAD") else None
    if n == 2 and segs[1] == "validate-yaml":
        return RouteMatch("validate_yaml") if method == "POST" else None
    if n == 3 and segs[1] == "repos":
        want = {"create": "POST", "delete": "DELETE", "move": "POST"}.get(segs[2])
        return RouteMatch(f"repo_{segs[2]}") if want == method else None
    if n < 2 or segs[1] not in REPO_TYPES:
        return None
    repo_type = REPO_TYPES[segs[1]]
    if n == 2:
        return RouteMatch("list_repos", {"repo_type": repo_type}) if method in ("GET", "HEAD") else None
    if n < 4:
        return None
    params = {"repo_type": repo_type, "repo_id": f"{segs[2]}/{segs[3]}", "ns": segs[2], "name": segs[3]}
    if n == 4:
        return RouteMatch("info", params) if method in ("GET", "HEAD") else None
    spec = _REPO_ACTIONS.get(segs[4])
    if spec is None:
        return None
    name, methods, shape = spec
    if method not in methods:
        return None
    rest = 5
    if shape == "none":
        return RouteMatch(name, params) if n == rest else None
    if shape == "optnum":
        if n == rest:
            return RouteMatch(name, params)
        if n == rest + 1:
            params["num"] = segs[rest]
            return RouteMatch("discussion", params) if method == "GET" else None
        return None
    if shape == "name":
        if n < rest + 1:
            return None
        # names arrive as one encoded segment; tolerate an unencoded slash too
        params["ref_name"] = "/".join(segs[rest:])
        return RouteMatch(name, params)
    rev, i = _take_revision(segs, rest)
    if rev is None:
        return None
    params["rev"] = rev
    if shape == "rev":
        return RouteMatch(name, params) if i == n else None
    params["path"] = "/".join(segs[i:])
    return RouteMatch(name, params)



def _match_files(method: str, segs: list[str]) -> RouteMatch | None:
    repo_type = "model"
    if segs and segs[0] in URL_PREFIXES and len(segs) >= 4 and (segs[3] == "resolve" or segs[2].endswith(".git")):
        repo_type = URL_PREFIXES[segs[0]]
        segs = segs[1:]
    if len(segs) < 3:
        return None
    ns, name = segs[0], segs[1]
    if segs[2] == "resolve" and method in ("GET", "HEAD"):
        rev, i = _take_revision(segs, 3)
        if rev is None or i >= len(segs):
            return None
        return RouteMatch("resolve", {"repo_type": repo_type, "repo_id": f"{ns}/{name}", "rev": rev,
                                      "path": "/".join(segs[i:])})
    if name.endswith(".git") and len(segs) >= 5 and segs[2:5] == ["info", "lfs", "objects"]:
        params = {"repo_type": repo_type, "repo_id": f"{ns}/{name[:-4]}"}
        tail = segs[5:]
        if tail == ["batch"] and method == "POST":
            return RouteMatch("lfs_batch", params)
        if tail == ["verify"] and method == "POST":
            return RouteMatch("lfs_verify", params)
        if len(tail) == 1 and method == "PUT":
            params["oid"] = tail[0]
            return RouteMatch("lfs_put", params)
        if len(tail) == 1 and method in ("GET", "HEAD") and tail[0] not in ("batch", "verify"):
            params["oid"] = tail[0]
            return RouteMatch("lfs_get", params)
        return RouteMatch("not_found", params)
    return None


def match_route(method: str, segs: list[str]) -> RouteMatch | None:
    """The Hub API route for (method, decoded segments), `RouteMatch("not_found")` for unknown `/api/...`
    paths (JSON 404), or None when the path is not ours (web pages take it)."""
    if segs and segs[0] == "api":
        return _match_api(method, segs) or RouteMatch("not_found")
    return _match_files(method, segs)
