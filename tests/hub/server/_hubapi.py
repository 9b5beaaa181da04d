"""Raw-HTTP helpers for the Hub API tests (httpx against the `hub_server` fixture)."""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import quote

import httpx

PLURAL = {"model": "models", "dataset": "datasets", "space": "spaces"}


def auth(token) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


def client(server) -> httpx.Client:
    return httpx.Client(base_url=server.endpoint, timeout=60)


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_repo(server, name=None, *, token=None, private=False, repo_type="model", org=None) -> str:
    name = name or unique()
    body = {"name": name, "type": repo_type, "visibility": "private" if private else "public", "organization": org}
    r = httpx.post(f"{server.endpoint}/api/repos/create", json=body, headers=auth(token or server.token))
    assert r.status_code == 200, r.text
    return r.json()["name"]


def file_line(path: str, data: bytes) -> dict:
    return {"key": "file", "value": {"content": base64.b64encode(data).decode(), "path": path, "encoding": "base64"}}


def commit(server, repo_id, ops, *, token=None, rev="main", repo_type="model", summary="test commit",
           parent=None, params=None) -> httpx.Response:
    header = {"summary": summary, "description": ""}
    if parent:
        header["parentCommit"] = parent
    lines = [{"key": "header", "value": header}] + list(ops)
    body = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    url = f"{server.endpoint}/api/{PLURAL[repo_type]}/{repo_id}/commit/{quote(rev, safe='')}"
    return httpx.post(url, content=body, params=params, timeout=120,
                      headers={**auth(server.token if token is None else token), "Content-Type": "application/x-ndjson"})


def add_files(server, repo_id, files: dict, **kw) -> str:
    r = commit(server, repo_id, [file_line(p, d) for p, d in files.items()], **kw)
    assert r.status_code == 200, r.text
    return r.json()["commitOid"]


def head(server, repo_id, rev="main", repo_type="model", token=None) -> str:
    r = httpx.get(f"{server.endpoint}/api/{PLURAL[repo_type]}/{repo_id}/revision/{quote(rev, safe='')}",
                  headers=auth(token or server.token))
    assert r.status_code == 200, r.text
    return r.json()["sha"]


def resolve_url(server, repo_id, path, rev="main", repo_type="model") -> str:
    prefix = "" if repo_type == "model" else f"{PLURAL[repo_type]}/"
    return f"{server.endpoint}/{prefix}{repo_id}/resolve/{quote(rev, safe='')}/{quote(path)}"
