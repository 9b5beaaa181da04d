"""Hub API over HTTP: identity, repo lifecycle, info, listings with Link pagination, error responses,
private-repo invisibility on every route (spec §2-§5, §9, §12)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.hub.server._hubapi import add_files, auth, commit, create_repo, file_line, head, resolve_url, unique

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_whoami_roles_and_invalid_tokens(hub_server):
    e = hub_server.endpoint
    me = httpx.get(f"{e}/api/whoami-v2", headers=auth(hub_server.token)).json()
    assert me["name"] == "alice" and me["type"] == "user"
    assert me["auth"]["accessToken"]["role"] == "write"
    ro = httpx.get(f"{e}/api/whoami-v2", headers=auth(hub_server.token_read)).json()
    assert ro["name"] == "alice" and ro["auth"]["accessToken"]["role"] == "read"
    r = httpx.get(f"{e}/api/whoami-v2")
    assert r.status_code == 401 and r.json()["error"]
    # an unknown token is 401 everywhere, also on public reads and downloads (never silently anonymous)
    repo = create_repo(hub_server)
    bad = auth("hf_not_a_real_token")
    for url in (f"{e}/api/whoami-v2", f"{e}/api/models/{repo}", f"{e}/api/models", resolve_url(hub_server, repo, ".gitattributes")):
        r = httpx.get(url, headers=bad)
        assert r.status_code == 401, url
        assert r.headers["x-error-message"] == "Invalid credentials in Authorization header"
        assert r.headers["content-type"].startswith("application/json")


def test_create_repo_shapes_and_conflict(hub_server):
    e = hub_server.endpoint
    name = unique("create")
    r = httpx.post(f"{e}/api/repos/create", json={"name": name, "organization": None, "type": "dataset",
                                                  "private": False, "unknownKey": 1}, headers=auth(hub_server.token))
    assert r.status_code == 200, r.text
    assert r.json()["url"] == f"{e}/datasets/alice/{name}" and r.json()["name"] == f"alice/{name}"
    again = httpx.post(f"{e}/api/repos/create", json={"name": name, "type": "dataset"}, headers=auth(hub_server.token))
    assert again.status_code == 409 and again.json()["url"] == f"{e}/datasets/alice/{name}"
    info = httpx.get(f"{e}/api/datasets/alice/{name}").json()
    assert re.fullmatch(r"[0-9a-f]{40}", info["sha"]) and TS.match(info["lastModified"]) and TS.match(info["createdAt"])
    assert [s["rfilename"] for s in info["siblings"]] == [".gitattributes"]
    # wrong type is a missing repo
    r = httpx.get(f"{e}/api/models/alice/{name}")
    assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"
    for bad in ("../x", "a/b", "", "-x", "x" * 97, "a..b"):
        r = httpx.post(f"{e}/api/repos/create", json={"name": bad}, headers=auth(hub_server.token))
        assert r.status_code == 400, bad
    assert httpx.post(f"{e}/api/repos/create", json={"name": unique()}).status_code == 401
    r = httpx.post(f"{e}/api/repos/create", json={"name": unique()}, headers=auth(hub_server.token_read))
    assert r.status_code == 403
    r = httpx.post(f"{e}/api/repos/create", json={"name": unique(), "organization": "bob"}, headers=auth(hub_server.token))
    assert r.status_code == 403


def test_public_url_used_for_absolute_urls(hub_server):
    """Without --public-url, absolute URLs follow the Host the client used."""
    name = unique("host")
    r = httpx.post(f"{hub_server.endpoint}/api/repos/create", json={"name": name},
                   headers={**auth(hub_server.token), "Host": "hub.example:9999"})
    assert r.json()["url"] == f"http://hub.example:9999/alice/{name}"


def test_repo_info_revision_blobs_and_card(hub_server):
    repo = create_repo(hub_server)
    readme = b"---\nlicense: mit\nlibrary_name: snuggle\ntags:\n- unit-tag\n---\n# hi\n"
    first = add_files(hub_server, repo, {"README.md": readme, "w/a.bin": b"abc"})
    add_files(hub_server, repo, {"w/a.bin": b"changed"})
    e = hub_server.endpoint
    info = httpx.get(f"{e}/api/models/{repo}", params={"blobs": "true"}).json()
    assert info["id"] == repo and info["private"] is False and info["author"] == "alice"
    assert "unit-tag" in info["tags"] and "license:mit" in info["tags"]
    assert info["cardData"]["license"] == "mit" and info["library_name"] == "snuggle"
    sib = {s["rfilename"]: s for s in info["siblings"]}
    assert sib["w/a.bin"]["size"] == 7 and re.fullmatch(r"[0-9a-f]{40}", sib["w/a.bin"]["blobId"])
    old = httpx.get(f"{e}/api/models/{repo}/revision/{first}").json()
    assert old["sha"] == first
    r = httpx.get(f"{e}/api/models/{repo}/revision/nope")
    assert r.status_code == 404 and r.headers["x-error-code"] == "RevisionNotFound"


def test_listing_filters_and_absolute_link_pagination(hub_server):
    tag = unique("tag")
    ids = []
    for i in range(3):
        repo = create_repo(hub_server, f"{tag}-{i}")
        add_files(hub_server, repo, {"README.md": f"---\ntags:\n- {tag}\n---\n".encode()})
        ids.append(repo)
    e = hub_server.endpoint
    url, seen = f"{e}/api/models?search={tag}&limit=1&sort=createdAt&direction=-1&unknown=1", []
    while url:
        r = httpx.get(url)
        assert r.status_code == 200
        seen += [m["id"] for m in r.json()]
        link = r.headers.get("link")
        url = re.match(r'<([^>]+)>; rel="next"', link).group(1) if link else None
        if url:
            assert url.startswith(e + "/api/models?") and "search=" in url and "limit=1" in url
    assert seen == ids[::-1]
    filtered = httpx.get(f"{e}/api/models", params={"filter": tag, "author": "alice"}).json()
    assert {m["id"] for m in filtered} == set(ids) and all(m["sha"] for m in filtered)
    assert httpx.get(f"{e}/api/datasets", params={"search": tag}).json() == []
    full = httpx.get(f"{e}/api/models", params={"search": tag, "full": "True"})
    assert all(m["siblings"] and m["cardData"]["tags"] == [tag] for m in full.json())
    # request ids: echoed for log correlation, generated otherwise
    assert full.headers["x-request-id"]
    assert httpx.get(f"{e}/api/models", headers={"X-Amzn-Trace-Id": "trace-1"}).headers["x-request-id"] == "trace-1"


def test_unknown_api_route_is_json_404(hub_server):
    r = httpx.get(f"{hub_server.endpoint}/api/collections/xyz")
    assert r.status_code == 404 and r.json()["error"]
    r = httpx.get(f"{hub_server.endpoint}/api/models/alice/{unique()}/commit/main")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")


def test_xet_token_routes_answer_501(hub_server):
    repo = create_repo(hub_server)
    for kind in ("xet-write-token", "xet-read-token"):
        r = httpx.get(f"{hub_server.endpoint}/api/models/{repo}/{kind}/main", headers=auth(hub_server.token))
        assert r.status_code == 501 and "HF_HUB_DISABLE_XET" in r.json()["error"]


def test_settings_move_delete(hub_server):
    e, tok = hub_server.endpoint, auth(hub_server.token)
    repo = create_repo(hub_server)
    add_files(hub_server, repo, {"f.txt": b"x"})
    assert httpx.put(f"{e}/api/models/{repo}/settings", json={"private": True}, headers=tok).status_code == 200
    assert httpx.get(f"{e}/api/models/{repo}").status_code == 404
    assert httpx.put(f"{e}/api/models/{repo}/settings", json={"visibility": "public"}, headers=tok).status_code == 200
    assert httpx.get(f"{e}/api/models/{repo}").json()["private"] is False
    assert httpx.put(f"{e}/api/models/{repo}/settings", json={"visibility": "x"}, headers=tok).status_code == 400
    new = f"alice/{unique('moved')}"
    r = httpx.post(f"{e}/api/repos/move", json={"fromRepo": repo, "toRepo": new, "type": "model"}, headers=tok)
    assert r.status_code == 200, r.text
    assert httpx.get(resolve_url(hub_server, new, "f.txt")).content == b"x"
    # reads of the old name redirect (relative Location); writes do not
    r = httpx.get(f"{e}/api/models/{repo}", params={"blobs": "true"})
    assert r.status_code == 307 and r.headers["location"] == f"/api/models/{new}?blobs=true"
    assert httpx.get(resolve_url(hub_server, repo, "f.txt"), follow_redirects=True).content == b"x"
    assert commit(hub_server, repo, [file_line("y.txt", b"y")]).status_code == 404
    r = httpx.request("DELETE", f"{e}/api/repos/delete", json={"name": new.split("/")[1], "type": "model"}, headers=tok)
    assert r.status_code == 200
    r = httpx.request("DELETE", f"{e}/api/repos/delete", json={"name": new.split("/")[1], "type": "model"}, headers=tok)
    assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"


PRIVATE_PROBES = [
    ("GET", "/api/models/{repo}", None),
    ("GET", "/api/models/{repo}/revision/main", None),
    ("GET", "/api/models/{repo}/tree/main", None),
    ("GET", "/api/models/{repo}/tree/main/secret", None),
    ("POST", "/api/models/{repo}/paths-info/main", {"data": {"paths": "secret.txt"}}),
    ("GET", "/api/models/{repo}/refs", None),
    ("GET", "/api/models/{repo}/commits/main", None),
    ("GET", "/{repo}/resolve/main/secret.txt", None),
    ("HEAD", "/{repo}/resolve/main/secret.txt", None),
    ("GET", "/api/models/{repo}/discussions", None),
    ("GET", "/api/models/{repo}/discussions/1", None),
    ("POST", "/api/models/{repo}/preupload/main", {"json": {"files": [{"path": "a", "size": 1, "sample": ""}]}}),
    ("POST", "/api/models/{repo}/branch/x", {"json": {}}),
    ("POST", "/api/models/{repo}/discussions", {"json": {"title": "t", "pullRequest": True}}),
    ("PUT", "/api/models/{repo}/settings", {"json": {"private": False}}),
    ("POST", "/{repo}.git/info/lfs/objects/batch", {"json": {"operation": "upload", "objects": [{"oid": "a" * 64, "size": 1}]}}),
]


@pytest.mark.parametrize("who", ["anonymous", "bob"])
def test_private_repo_is_indistinguishable_from_missing(hub_server, who):
    repo = create_repo(hub_server, private=True)
    add_files(hub_server, repo, {"secret.txt": b"hidden-content", "secret/inner.txt": b"hidden"})
    missing = f"alice/{unique('missing')}"
    token = hub_server.token_b if who == "bob" else None
    with httpx.Client(base_url=hub_server.endpoint, headers=auth(token)) as c:
        for method, path, kw in PRIVATE_PROBES:
            got = [c.request(method, path.format(repo=r), **(kw or {})) for r in (repo, missing)]
            for r in got:
                assert b"hidden" not in r.content
                assert r.status_code in (401, 404), (method, path, r.status_code, r.text)
                if r.status_code == 404:
                    assert r.headers.get("x-error-code") == "RepoNotFound", (method, path)
            assert got[0].status_code == got[1].status_code and got[0].content == got[1].content.replace(
                missing.encode(), repo.encode()), (method, path)
        r = commit(hub_server, repo, [file_line("x.txt", b"x")], token=token or "")
        assert r.status_code in (401, 404)
        listed = c.get("/api/models", params={"search": repo.split("/")[1]}).json()
        assert listed == []
    # the owner sees it everywhere
    assert head(hub_server, repo)
    ids = [m["id"] for m in httpx.get(f"{hub_server.endpoint}/api/models", params={"search": repo.split("/")[1]},
                                      headers=auth(hub_server.token)).json()]
    assert ids == [repo]


def test_other_user_and_read_token_cannot_write_visible_repo(hub_server):
    repo = create_repo(hub_server)
    for token in (hub_server.token_b, hub_server.token_read):
        r = commit(hub_server, repo, [file_line("x.txt", b"x")], token=token)
        assert r.status_code == 403, r.text
        r = httpx.post(f"{hub_server.endpoint}/api/models/{repo}/branch/b", json={}, headers=auth(token))
        assert r.status_code == 403
        r = httpx.post(f"{hub_server.endpoint}/{repo}.git/info/lfs/objects/batch", headers=auth(token),
                       json={"operation": "upload", "objects": [{"oid": "a" * 64, "size": 1}]})
        assert r.status_code == 403
    r = commit(hub_server, repo, [file_line("x.txt", b"x")], token="")
    assert r.status_code == 401


def test_discussions_and_pull_requests(hub_server):
    e, tok = hub_server.endpoint, auth(hub_server.token)
    repo = create_repo(hub_server)
    r = httpx.post(f"{e}/api/models/{repo}/discussions", json={"title": "PR", "description": "d", "pullRequest": True},
                   headers=tok)
    assert r.status_code == 200, r.text
    pr = r.json()
    assert pr["pullRequest"] is True and pr["reference"] == f"refs/pr/{pr['num']}"
    assert pr["url"] == f"{e}/{repo}/discussions/{pr['num']}"
    r = commit(hub_server, repo, [file_line("pr.txt", b"pr")], rev=pr["reference"])
    assert r.status_code == 200, r.text
    assert httpx.get(resolve_url(hub_server, repo, "pr.txt", rev=pr["reference"])).content == b"pr"
    assert httpx.get(resolve_url(hub_server, repo, "pr.txt")).status_code == 404
    d = httpx.get(f"{e}/api/models/{repo}/discussions/{pr['num']}").json()
    assert d["isPullRequest"] and d["status"] == "open" and d["author"]["name"] == "alice" and TS.match(d["createdAt"])
    listing = httpx.get(f"{e}/api/models/{repo}/discussions", params={"p": 0}).json()
    assert listing["count"] == 1 and listing["start"] == 0 and listing["discussions"][0]["num"] == pr["num"]
    r = commit(hub_server, repo, [file_line("pr2.txt", b"pr2")], params={"create_pr": "1"})
    body = r.json()
    assert re.fullmatch(rf"{re.escape(e)}/{repo}/discussions/\d+", body["pullRequestUrl"])
    assert body["commitUrl"] == f"{e}/{repo}/commit/{body['commitOid']}"
    refs = httpx.get(f"{e}/api/models/{repo}/refs", params={"include_prs": 1}).json()
    assert len(refs["pullRequests"]) == 2 and refs["converts"] == []
    assert "pullRequests" not in httpx.get(f"{e}/api/models/{repo}/refs").json()
