"""Raw HTTP helpers for the Hub system tests: the wire protocol of ../shared/specs/hub-api.md, no client library.

The system tests talk to a running `snuggle hub serve` the way any client would, so they build NDJSON commits,
LFS batch requests and (for traversal probes) even request lines by hand:

    hub = Hub(handle.endpoint, handle.token)
    repo = hub.create_repo(unique_name("conc"))
    r = hub.commit(repo, files={"a.txt": b"hi"}, parent=hub.head(repo))
    assert r.status_code == 200
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

LFS_JSON = "application/vnd.git-lfs+json"


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def ndjson(lines: list) -> bytes:
    """Each item a dict (JSON-encoded) or already-encoded bytes/str (sent verbatim, for malformed bodies)."""
    out = []
    for line in lines:
        if isinstance(line, dict):
            out.append(json.dumps(line).encode())
        else:
            out.append(line.encode() if isinstance(line, str) else line)
    return b"\n".join(out) + b"\n"


def header_line(summary: str = "test commit", parent: str | None = None) -> dict:
    value = {"summary": summary, "description": ""}
    if parent is not None:
        value["parentCommit"] = parent
    return {"key": "header", "value": value}


def file_line(path: str, data: bytes) -> dict:
    return {"key": "file", "value": {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"}}


def lfs_line(path: str, data: bytes | None = None, *, oid: str | None = None, size: int | None = None) -> dict:
    value = {"path": path, "algo": "sha256", "oid": oid or hashlib.sha256(data).hexdigest()}
    size = len(data) if size is None and data is not None else size
    if size is not None:
        value["size"] = size
    return {"key": "lfsFile", "value": value}


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def blob_store_files(data_dir: Path) -> dict[str, int]:
    """Every file under data_dir/blobs (relative path -> size): what a commit may have written."""
    root = Path(data_dir) / "blobs"
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


class Hub:
    """A thin httpx wrapper bound to one endpoint and (optionally) one token."""

    def __init__(self, endpoint: str, token: str | None = None, timeout: float = 60.0):
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.endpoint, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- repos -------------------------------------------------------------------------------------------
    def whoami(self) -> str:
        r = self.http.get("/api/whoami-v2")
        r.raise_for_status()
        return r.json()["name"]

    def create_repo(self, name: str, *, repo_type: str = "model", private: bool = False,
                    organization: str | None = None) -> str:
        body = {"name": name, "organization": organization, "type": repo_type,
                "visibility": "private" if private else "public"}
        r = self.http.post("/api/repos/create", json=body)
        assert r.status_code == 200, f"create_repo {name}: {r.status_code} {r.text}"
        return r.json()["name"]

    def info(self, repo_id: str, repo_type: str = "model", rev: str | None = None) -> httpx.Response:
        path = f"/api/{repo_type}s/{repo_id}" + (f"/revision/{quote(rev, safe='')}" if rev else "")
        return self.http.get(path)

    def head(self, repo_id: str, repo_type: str = "model", rev: str = "main") -> str:
        r = self.info(repo_id, repo_type, rev)
        assert r.status_code == 200, f"info {repo_id}@{rev}: {r.status_code} {r.text}"
        return r.json()["sha"]

    def files(self, repo_id: str, repo_type: str = "model", rev: str = "main") -> dict[str, str]:
        """path -> oid of every file at rev (recursive tree, all pages)."""
        url = f"{self.endpoint}/api/{repo_type}s/{repo_id}/tree/{quote(rev, safe='')}?recursive=true"
        out = {}
        while url:
            r = self.http.get(url)
            assert r.status_code == 200, f"tree {repo_id}@{rev}: {r.status_code} {r.text}"
            out.update({e["path"]: e["oid"] for e in r.json() if e["type"] == "file"})
            url = r.links.get("next", {}).get("url")
        return out

    def commits(self, repo_id: str, repo_type: str = "model", rev: str = "main") -> list[dict]:
        url = f"{self.endpoint}/api/{repo_type}s/{repo_id}/commits/{quote(rev, safe='')}"
        out = []
        while url:
            r = self.http.get(url)
            assert r.status_code == 200, f"commits {repo_id}@{rev}: {r.status_code} {r.text}"
            out.extend(r.json())
            url = r.links.get("next", {}).get("url")
        return out

    def download(self, repo_id: str, path: str, repo_type: str = "model", rev: str = "main") -> httpx.Response:
        return self.http.get(self.resolve_url(repo_id, path, repo_type, rev))

    def resolve_url(self, repo_id: str, path: str, repo_type: str = "model", rev: str = "main") -> str:
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        return f"/{prefix}{repo_id}/resolve/{quote(rev, safe='')}/{quote(path)}"

    # -- uploads -----------------------------------------------------------------------------------------
    def commit(self, repo_id: str, *, files: dict[str, bytes] | None = None, parent: str | None = None,
               lines: list | None = None, body=None, repo_type: str = "model", rev: str = "main",
               summary: str = "test commit") -> httpx.Response:
        """POST a commit: `files` as inline file lines after a header, or explicit `lines`, or a raw `body`
        (bytes or an iterator of bytes, streamed)."""
        if body is None:
            if lines is None:
                lines = [header_line(summary, parent)] + [file_line(p, d) for p, d in (files or {}).items()]
            body = ndjson(lines)
        return self.http.post(f"/api/{repo_type}s/{repo_id}/commit/{quote(rev, safe='')}", content=body,
                              headers={"Content-Type": "application/x-ndjson"})

    def preupload(self, repo_id: str, paths: list[str], repo_type: str = "model", rev: str = "main",
                  size: int = 5) -> httpx.Response:
        files = [{"path": p, "sample": base64.b64encode(b"x" * size).decode(), "size": size} for p in paths]
        return self.http.post(f"/api/{repo_type}s/{repo_id}/preupload/{quote(rev, safe='')}", json={"files": files})

    def lfs_batch(self, repo_id: str, objects: list[dict], *, operation: str = "upload", repo_type: str = "model",
                  body=None) -> httpx.Response:
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        if body is None:
            body = json.dumps({"operation": operation, "transfers": ["basic"], "hash_algo": "sha256",
                               "ref": {"name": "main"}, "objects": objects}).encode()
        return self.http.post(f"/{prefix}{repo_id}.git/info/lfs/objects/batch", content=body,
                              headers={"Accept": LFS_JSON, "Content-Type": LFS_JSON})

    def lfs_upload(self, repo_id: str, data: bytes, repo_type: str = "model") -> None:
        """Batch + PUT + verify one object, as the reference client does without Xet."""
        oid = hashlib.sha256(data).hexdigest()
        r = self.lfs_batch(repo_id, [{"oid": oid, "size": len(data)}], repo_type=repo_type)
        assert r.status_code == 200, f"LFS batch: {r.status_code} {r.text}"
        obj = r.json()["objects"][0]
        actions = obj.get("actions") or {}
        if "upload" in actions:
            put = httpx.put(actions["upload"]["href"], content=data, timeout=120)  # no Authorization: signed URL
            assert put.status_code == 200, f"LFS PUT: {put.status_code} {put.text}"
        if "verify" in actions:
            v = self.http.post(actions["verify"]["href"], json={"oid": oid, "size": len(data)})
            assert v.status_code == 200, f"LFS verify: {v.status_code} {v.text}"


def raw_request(endpoint: str, method: str, raw_path: str, *, token: str | None = None, body: bytes | None = None,
                headers: dict | None = None, timeout: float = 30.0) -> tuple[int, dict, bytes]:
    """Send `raw_path` byte-exact (http.client does not normalise '..' or percent-escapes, httpx does)."""
    parts = urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    try:
        conn.putrequest(method, raw_path, skip_accept_encoding=True)
        if body is not None:
            hdrs.setdefault("Content-Length", str(len(body)))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()
