"""Hub API over HTTP: /resolve headers and ranges, tree and paths-info (raw `%2F` paths, pagination,
expand), refs, branches, tags and history (spec §6, §7)."""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import quote

import httpx
import pytest

from tests.hub.server._hubapi import add_files, auth, commit, create_repo, file_line, head, resolve_url


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.fixture(scope="module")
def files_repo(hub_server):
    repo = create_repo(hub_server)
    data = bytes(range(256)) * 40
    files = {"big.bin": data, "dir/a.txt": b"a", "dir/sub/b.txt": b"b", "dir with space/ü #1.txt": b"unicode",
             "empty.txt": b""}
    sha = add_files(hub_server, repo, files)
    return repo, files, sha


def test_resolve_get_and_head_headers(hub_server, files_repo):
    repo, files, sha = files_repo
    url = resolve_url(hub_server, repo, "big.bin")
    data = files["big.bin"]
    for method in ("GET", "HEAD"):
        r = httpx.request(method, url, headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200
        assert r.headers["x-repo-commit"] == sha
        assert r.headers["etag"] == f'"{git_sha1(data)}"'
        assert r.headers["content-length"] == str(len(data))
        assert r.headers["accept-ranges"] == "bytes"
        assert "content-encoding" not in r.headers
        assert "x-xet-hash" not in r.headers and "link" not in r.headers
        assert r.content == (data if method == "GET" else b"")
    assert httpx.get(resolve_url(hub_server, repo, "dir with space/ü #1.txt")).content == b"unicode"
    r = httpx.get(resolve_url(hub_server, repo, "empty.txt"))
    assert r.status_code == 200 and r.content == b"" and r.headers["etag"] == f'"{git_sha1(b"")}"'
    # by commit id and with the ?download=true query the clients add
    r = httpx.get(resolve_url(hub_server, repo, "dir/a.txt", rev=sha), params={"download": "true"})
    assert r.content == b"a" and r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["content-type"] == "text/plain; charset=utf-8" and r.headers["x-content-type-options"] == "nosniff"
    assert httpx.head(url).headers["content-type"] == "application/octet-stream"


def test_resolve_ranges(hub_server, files_repo):
    repo, files, _ = files_repo
    url, data = resolve_url(hub_server, repo, "big.bin"), files["big.bin"]
    r = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{len(data)}" and r.headers["content-length"] == "100"
    assert httpx.get(url, headers={"Range": "bytes=-16"}).content == data[-16:]
    assert httpx.get(url, headers={"Range": f"bytes={len(data) - 3}-"}).content == data[-3:]
    r = httpx.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(data)}"
    r = httpx.head(url, headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and r.headers["content-length"] == "10" and r.content == b""


def test_resolve_errors_carry_codes(hub_server, files_repo):
    repo, _, sha = files_repo
    for method in ("GET", "HEAD"):
        r = httpx.request(method, resolve_url(hub_server, repo, "nope.txt"))
        assert r.status_code == 404 and r.headers["x-error-code"] == "EntryNotFound"
        assert r.headers["x-repo-commit"] == sha
        r = httpx.request(method, resolve_url(hub_server, repo, "dir"))
        assert r.status_code == 404 and r.headers["x-error-code"] == "EntryNotFound"
        r = httpx.request(method, resolve_url(hub_server, repo, "a.txt", rev="nope"))
        assert r.status_code == 404 and r.headers["x-error-code"] == "RevisionNotFound"
        r = httpx.request(method, resolve_url(hub_server, "alice/does-not-exist-xyz", "a.txt"))
        assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"
    e = hub_server.endpoint
    for raw in ("..%2F..%2Fetc%2Fpasswd", "%2E%2E/%2E%2E/etc/passwd", "%2Fetc%2Fpasswd", ".git%2Fconfig",
                "dir%5C..%5Cbig.bin", "a%00b"):
        r = httpx.get(f"{e}/{repo}/resolve/main/{raw}")
        assert 400 <= r.status_code < 500 and b"root:" not in r.content, raw


def test_tree_listing_recursive_expand_and_missing(hub_server, files_repo):
    repo, files, _ = files_repo
    e = hub_server.endpoint
    root = httpx.get(f"{e}/api/models/{repo}/tree/main").json()
    assert [x["path"] for x in root] == sorted(x["path"] for x in root)
    by = {x["path"]: x for x in root}
    assert by["dir"]["type"] == "directory" and by["dir"]["size"] == 0
    assert by["big.bin"] == {"type": "file", "oid": git_sha1(files["big.bin"]), "size": len(files["big.bin"]),
                             "path": "big.bin"}
    sub = httpx.get(f"{e}/api/models/{repo}/tree/main/dir%2Fsub").json()
    assert [x["path"] for x in sub] == ["dir/sub/b.txt"]
    deep = {x["path"] for x in httpx.get(f"{e}/api/models/{repo}/tree/main/dir", params={"recursive": "true"}).json()}
    assert deep == {"dir/a.txt", "dir/sub", "dir/sub/b.txt"}
    exp = httpx.get(f"{e}/api/models/{repo}/tree/main/dir", params={"expand": "true"}).json()
    assert all(x["lastCommit"]["title"] == "test commit" and x["lastCommit"]["date"].endswith("Z") for x in exp)
    r = httpx.get(f"{e}/api/models/{repo}/tree/main/no%2Fsuch")
    assert r.status_code == 404 and r.headers["x-error-code"] == "EntryNotFound"
    r = httpx.get(f"{e}/api/models/{repo}/tree/main/..%2F..%2F..")
    assert 400 <= r.status_code < 500


def _follow_pages(url: str, endpoint: str) -> tuple[list[str], int]:
    paths, pages = [], 0
    while url:
        r = httpx.get(url)
        assert r.status_code == 200, r.text
        pages += 1
        paths += [x["path"] if "path" in x else x["id"] for x in r.json()]
        link = r.headers.get("link")
        url = re.match(r'<([^>]+)>; rel="next"', link).group(1) if link else None
        assert url is None or (url.startswith(endpoint + "/api/") and "limit=" in url)
    return paths, pages


def test_tree_pagination_link_is_absolute(hub_server, files_repo):
    repo, files, _ = files_repo
    e = hub_server.endpoint
    paths, pages = _follow_pages(f"{e}/api/models/{repo}/tree/main/dir?recursive=true&limit=2", e)
    assert pages == 2 and paths == ["dir/a.txt", "dir/sub", "dir/sub/b.txt"]
    history, pages = _follow_pages(f"{e}/api/models/{repo}/commits/main?limit=1", e)
    assert pages == 2 and len(history) == 2


@pytest.mark.slow
def test_tree_pagination_default_page_of_1000(hub_server):
    repo = create_repo(hub_server)
    n = 1003
    r = commit(hub_server, repo, [file_line(f"many/f{i:04d}.txt", b"%d" % i) for i in range(n)])
    assert r.status_code == 200, r.text
    e = hub_server.endpoint
    paths, pages = _follow_pages(f"{e}/api/models/{repo}/tree/main/many?recursive=true&limit=1000", e)
    assert pages == 2 and paths == [f"many/f{i:04d}.txt" for i in range(n)]


def test_paths_info_form_and_json(hub_server, files_repo):
    repo, files, _ = files_repo
    url = f"{hub_server.endpoint}/api/models/{repo}/paths-info/main"
    r = httpx.post(url, data={"paths": ["big.bin", "dir", "missing.txt", "../x"], "expand": "false"})
    assert r.status_code == 200
    assert {x["path"]: x["type"] for x in r.json()} == {"big.bin": "file", "dir": "directory"}
    r = httpx.post(url, json={"paths": ["dir/a.txt"], "expand": True})
    (entry,) = r.json()
    assert entry["oid"] == git_sha1(b"a") and entry["lastCommit"]["id"]


def test_branches_tags_refs_and_commits(hub_server):
    e, tok = hub_server.endpoint, auth(hub_server.token)
    repo = create_repo(hub_server)
    first = add_files(hub_server, repo, {"v.txt": b"v1"}, summary="first")
    assert httpx.post(f"{e}/api/models/{repo}/branch/feat%2Fx", json={}, headers=tok).status_code == 200
    assert httpx.post(f"{e}/api/models/{repo}/branch/feat%2Fx", json={}, headers=tok).status_code == 409
    assert httpx.post(f"{e}/api/models/{repo}/branch/bad..name", json={}, headers=tok).status_code == 400
    r = httpx.post(f"{e}/api/models/{repo}/branch/b2", json={"startingPoint": "nope"}, headers=tok)
    assert r.status_code == 404 and r.headers["x-error-code"] == "RevisionNotFound"
    second = add_files(hub_server, repo, {"v.txt": b"v2"}, summary="second", rev="feat/x")
    assert httpx.get(resolve_url(hub_server, repo, "v.txt", rev="feat/x")).content == b"v2"
    assert httpx.get(resolve_url(hub_server, repo, "v.txt")).content == b"v1"
    assert httpx.post(f"{e}/api/models/{repo}/tag/{first}", json={"tag": "v1.0", "message": "m"}, headers=tok).status_code == 200
    assert httpx.post(f"{e}/api/models/{repo}/tag/main", json={"tag": "v1.0"}, headers=tok).status_code == 409
    refs = httpx.get(f"{e}/api/models/{repo}/refs").json()
    assert {b["name"]: b["targetCommit"] for b in refs["branches"]} == {"main": first, "feat/x": second}
    assert refs["tags"] == [{"name": "v1.0", "ref": "refs/tags/v1.0", "targetCommit": first}]
    hist = httpx.get(f"{e}/api/models/{repo}/commits/feat%2Fx").json()
    assert [c["title"] for c in hist][:2] == ["second", "first"] and hist[0]["id"] == second
    assert hist[0]["authors"][0]["user"] == "alice" and hist[0]["date"].endswith("Z")
    assert httpx.get(f"{e}/api/models/{repo}/commits/v1.0").json()[0]["id"] == first
    # a commit to a tag or a commit id is refused
    for rev in ("v1.0", first):
        r = commit(hub_server, repo, [file_line("t.txt", b"t")], rev=rev)
        assert r.status_code == 400, r.text
    assert httpx.request("DELETE", f"{e}/api/models/{repo}/tag/v1.0", headers=tok).status_code == 200
    assert httpx.request("DELETE", f"{e}/api/models/{repo}/branch/feat%2Fx", headers=tok).status_code == 200
    r = httpx.request("DELETE", f"{e}/api/models/{repo}/branch/feat%2Fx", headers=tok)
    assert r.status_code == 404 and r.headers["x-error-code"] == "RevisionNotFound"
    assert head(hub_server, repo) == first
    assert json.loads(httpx.get(f"{e}/api/models/{repo}/refs").content)["tags"] == []


def test_unencoded_pr_revision_in_resolve(hub_server):
    repo = create_repo(hub_server)
    r = commit(hub_server, repo, [file_line("p.txt", b"p")], params={"create_pr": "1"})
    num = r.json()["pullRequestUrl"].rsplit("/", 1)[1]
    assert httpx.get(f"{hub_server.endpoint}/{repo}/resolve/refs/pr/{num}/p.txt").content == b"p"
    assert httpx.get(resolve_url(hub_server, repo, "p.txt", rev=f"refs/pr/{num}")).content == b"p"
    assert quote("refs/pr/1", safe="") == "refs%2Fpr%2F1"
