"""Hub API over HTTP: validate-yaml, preupload, NDJSON commits (malformed input, atomicity, streaming of
long lines, parentCommit), and the git-LFS batch / signed PUT / verify flow (spec §8, §12)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from tests.hub.server._hubapi import add_files, auth, commit, create_repo, file_line, head, resolve_url

LFS_HEADERS = {"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"}


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_validate_yaml_always_answers_json(hub_server):
    url = f"{hub_server.endpoint}/api/validate-yaml"
    ok = httpx.post(url, json={"content": "---\nlicense: mit\n---\n# x", "repoType": "model"})
    assert ok.status_code == 200 and ok.json() == {"errors": [], "warnings": []}
    assert httpx.post(url, json={"content": "no front matter"}).status_code == 200
    bad = httpx.post(url, json={"content": "---\nlicense: [unclosed\n  : : :\n---\n", "repoType": "model"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["message"]
    garbage = httpx.post(url, content=b"not json", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 400 and garbage.json()["errors"]


def test_preupload_modes_oids_and_limits(hub_server):
    repo = create_repo(hub_server)
    add_files(hub_server, repo, {"same.txt": b"same"})
    url = f"{hub_server.endpoint}/api/models/{repo}/preupload/main"
    files = [{"path": "same.txt", "size": 4, "sample": base64.b64encode(b"same").decode()},
             {"path": "huge.bin", "size": 600 * 1024 * 1024, "sample": ""}]
    r = httpx.post(url, json={"files": files}, headers=auth(hub_server.token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["commitOid"] == head(hub_server, repo)
    got = {f["path"]: f for f in body["files"]}
    assert got["same.txt"] == {"path": "same.txt", "uploadMode": "regular", "shouldIgnore": False, "oid": git_sha1(b"same")}
    assert got["huge.bin"]["uploadMode"] == "lfs" and got["huge.bin"]["oid"] is None
    many = [{"path": f"f{i}", "size": 1, "sample": ""} for i in range(257)]
    assert httpx.post(url, json={"files": many}, headers=auth(hub_server.token)).status_code == 400
    r = httpx.post(f"{hub_server.endpoint}/api/models/{repo}/preupload/nope", json={"files": files[:1]},
                   headers=auth(hub_server.token))
    assert r.status_code == 404 and r.headers["x-error-code"] == "RevisionNotFound"
    r = httpx.post(url, json={"files": [{"path": "../x", "size": 1, "sample": ""}]}, headers=auth(hub_server.token))
    assert r.status_code == 400


MALFORMED = {
    "not json": b"this is not json\n",
    "no header": b'{"key": "file", "value": {"path": "x.txt", "encoding": "base64", "content": "eA=="}}\n',
    "two headers": b'{"key": "header", "value": {"summary": "x"}}\n{"key": "header", "value": {"summary": "y"}}\n',
    "empty summary": b'{"key": "header", "value": {"summary": ""}}\n',
    "bad base64": b'{"key": "header", "value": {"summary": "x"}}\n'
                  b'{"key": "file", "value": {"path": "x.txt", "encoding": "base64", "content": "eA=*"}}\n',
    "unknown key": b'{"key": "header", "value": {"summary": "x"}}\n{"key": "rmrf", "value": {"path": "x"}}\n',
    "traversal": b'{"key": "header", "value": {"summary": "x"}}\n'
                 b'{"key": "file", "value": {"path": "a/../../x", "encoding": "base64", "content": "eA=="}}\n',
    "backslash": b'{"key": "header", "value": {"summary": "x"}}\n'
                 b'{"key": "file", "value": {"path": "a\\\\b", "encoding": "base64", "content": "eA=="}}\n',
    "bad lfs oid": b'{"key": "header", "value": {"summary": "x"}}\n'
                   b'{"key": "lfsFile", "value": {"path": "a", "algo": "sha256", "oid": "zz", "size": 1}}\n',
    "empty body": b"",
    "valid file then garbage": b'{"key": "header", "value": {"summary": "x"}}\n'
                               + json.dumps(file_line("ok.txt", os.urandom(64))).encode() + b"\n{{{\n",
    "long valid file then bad path": b'{"key": "header", "value": {"summary": "x"}}\n'
                                     + json.dumps(file_line("../x", os.urandom(5 * 1024 * 1024))).encode() + b"\n",
}


def blob_files(server) -> set:
    return {str(p) for p in (server.data_dir / "blobs").rglob("*") if p.is_file()}


def test_malformed_commits_are_400_and_write_nothing(hub_server):
    repo = create_repo(hub_server)
    before, blobs = head(hub_server, repo), blob_files(hub_server)
    for label, body in MALFORMED.items():
        r = httpx.post(f"{hub_server.endpoint}/api/models/{repo}/commit/main", content=body,
                       headers={**auth(hub_server.token), "Content-Type": "application/x-ndjson"})
        assert r.status_code == 400, (label, r.status_code, r.text)
        assert r.json()["error"] and r.headers["x-error-message"]
    assert head(hub_server, repo) == before
    assert blob_files(hub_server) == blobs, "a rejected commit left blobs in the store"
    # control characters in the URL end up in the error message: the response must still be sent
    r = httpx.post(f"{hub_server.endpoint}/api/models/{repo}/commit/main%00", content=MALFORMED["two headers"],
                   headers=auth(hub_server.token))
    assert r.status_code in (400, 404) and r.json()["error"]


def test_commit_semantics(hub_server):
    repo = create_repo(hub_server)
    first = add_files(hub_server, repo, {"a.txt": b"a", "d/b.txt": b"b", "d/c.txt": b"c"})
    r = commit(hub_server, repo, [{"key": "deletedFile", "value": {"path": "nope.txt"}}])
    assert r.status_code == 404 and r.headers["x-error-code"] == "EntryNotFound"
    assert "A file with this name doesn't exist" in r.json()["error"]
    blobs = blob_files(hub_server)
    fresh = os.urandom(32)
    r = commit(hub_server, repo, [file_line("x.txt", fresh)], parent="0" * 40)
    assert r.status_code == 412
    r = commit(hub_server, repo, [file_line("x.txt", fresh), {"key": "lfsFile", "value": {
        "path": "m.bin", "algo": "sha256", "oid": hashlib.sha256(os.urandom(8)).hexdigest(), "size": 3}}])
    assert r.status_code == 422
    assert blob_files(hub_server) == blobs, "refused commits left their inline contents in the blob store"
    r = commit(hub_server, repo, [{"key": "deletedFolder", "value": {"path": "d/"}}, file_line("x.txt", b"x")],
               parent=first, summary="second")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["commitUrl"] == f"{hub_server.endpoint}/{repo}/commit/{body['commitOid']}"
    tree = {e["path"] for e in httpx.get(f"{hub_server.endpoint}/api/models/{repo}/tree/main?recursive=true").json()}
    assert tree == {".gitattributes", "a.txt", "x.txt"}
    assert httpx.get(resolve_url(hub_server, repo, "d/b.txt", rev=first)).content == b"b"
    # an unknown LFS oid fails the whole commit (atomicity)
    r = commit(hub_server, repo, [file_line("ok.txt", b"ok"), {"key": "lfsFile", "value": {
        "path": "m.bin", "algo": "sha256", "oid": hashlib.sha256(os.urandom(8)).hexdigest(), "size": 3}}])
    assert 400 <= r.status_code < 500
    assert head(hub_server, repo) == body["commitOid"]


def test_long_inline_line_streams_into_the_blob_store(hub_server):
    """A 5 MiB file makes a ~6.7 MiB NDJSON line: parsed by the streaming reader, bytes exact."""
    repo = create_repo(hub_server)
    data = os.urandom(5 * 1024 * 1024)
    sha = add_files(hub_server, repo, {"big/x.bin": data, "small.txt": b"s"})
    r = httpx.get(resolve_url(hub_server, repo, "big/x.bin", rev=sha))
    assert r.content == data and r.headers["etag"] == f'"{git_sha1(data)}"'


def _batch(server, repo, objects, token, operation="upload"):
    return httpx.post(f"{server.endpoint}/{repo}.git/info/lfs/objects/batch", headers={**auth(token), **LFS_HEADERS},
                      json={"operation": operation, "transfers": ["basic"], "hash_algo": "sha256",
                            "ref": {"name": "main"}, "objects": objects})


def test_lfs_upload_flow_and_signature_checks(hub_server):
    repo = create_repo(hub_server, private=True)
    data = os.urandom(3000)
    oid, size = hashlib.sha256(data).hexdigest(), len(data)
    r = _batch(hub_server, repo, [{"oid": oid, "size": size}], hub_server.token)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.git-lfs+json")
    (obj,) = r.json()["objects"]
    href = obj["actions"]["upload"]["href"]
    assert href.startswith(hub_server.endpoint + "/") and obj["actions"]["upload"]["expires_in"] <= 3600
    parts = urlsplit(href)
    query = dict(parse_qsl(parts.query))
    bare = f"{parts.scheme}://{parts.netloc}{parts.path}"
    assert httpx.put(bare, content=data).status_code in (401, 403)
    for field, value in (("size", str(size + 1)), ("user", "bob"), ("exp", str(int(query["exp"]) + 1))):
        assert httpx.put(f"{bare}?{urlencode({**query, field: value})}", content=data).status_code == 403, field
    expired = {**query, "exp": "1000"}
    assert httpx.put(f"{bare}?{urlencode(expired)}", content=data).status_code == 403
    assert httpx.put(href, content=os.urandom(size)).status_code == 400  # wrong bytes
    verify = obj["actions"]["verify"]["href"]
    assert httpx.post(verify, json={"oid": oid, "size": size}, headers=auth(hub_server.token)).status_code == 404
    assert httpx.put(href, content=data).status_code == 200
    assert httpx.post(verify, json={"oid": oid, "size": size}, headers=auth(hub_server.token)).status_code == 200
    # now stored: the batch answers without actions
    (again,) = _batch(hub_server, repo, [{"oid": oid, "size": size}], hub_server.token).json()["objects"]
    assert "actions" not in again
    r = commit(hub_server, repo, [{"key": "lfsFile", "value": {"path": "w/model.bin", "algo": "sha256", "oid": oid,
                                                               "size": size}}])
    assert r.status_code == 200, r.text
    h = httpx.head(resolve_url(hub_server, repo, "w/model.bin"), headers=auth(hub_server.token))
    assert h.headers["etag"] == f'"{oid}"' and h.headers["x-linked-etag"] == f'"{oid}"'
    assert h.headers["x-linked-size"] == str(size) and h.headers["content-length"] == str(size)
    got = httpx.get(resolve_url(hub_server, repo, "w/model.bin"), headers={**auth(hub_server.token), "Range": "bytes=10-19"})
    assert got.status_code == 206 and got.content == data[10:20]
    (entry,) = httpx.get(f"{hub_server.endpoint}/api/models/{repo}/tree/main/w", headers=auth(hub_server.token)).json()
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()
    assert entry["lfs"] == {"oid": oid, "size": size, "pointerSize": len(pointer)}
    assert entry["oid"] == git_sha1(pointer) and entry["size"] == size
    info = httpx.get(f"{hub_server.endpoint}/api/models/{repo}", params={"blobs": "true"}, headers=auth(hub_server.token))
    sib = {s["rfilename"]: s for s in info.json()["siblings"]}
    assert sib["w/model.bin"]["lfs"] == {"sha256": oid, "size": size, "pointerSize": len(pointer)}
    # git-lfs download action: a signed GET of the object (Range supported), refused once tampered
    (dl,) = _batch(hub_server, repo, [{"oid": oid, "size": size}], hub_server.token, "download").json()["objects"]
    dl_href = dl["actions"]["download"]["href"]
    assert httpx.get(dl_href).content == data
    assert httpx.get(dl_href, headers={"Range": "bytes=0-4"}).content == data[:5]
    assert httpx.get(dl_href.replace("sig=", "sig=0")).status_code == 403
    (none,) = _batch(hub_server, repo, [{"oid": "c" * 64, "size": 1}], hub_server.token, "download").json()["objects"]
    assert none["error"]["code"] == 404
    # bob, knowing only the hash of alice's private object, gets upload actions (no existence oracle)
    # and cannot commit it
    bob_repo = create_repo(hub_server, token=hub_server.token_b)
    (theirs,) = _batch(hub_server, bob_repo, [{"oid": oid, "size": size}], hub_server.token_b).json()["objects"]
    assert "upload" in theirs["actions"]
    r = commit(hub_server, bob_repo, [{"key": "lfsFile", "value": {"path": "s.bin", "algo": "sha256", "oid": oid,
                                                                   "size": size}}], token=hub_server.token_b)
    assert 400 <= r.status_code < 500


def test_lfs_batch_auth_and_object_errors(hub_server):
    repo = create_repo(hub_server)
    objects = [{"oid": "a" * 64, "size": 1}]
    assert _batch(hub_server, repo, objects, None).status_code == 401
    assert _batch(hub_server, repo, objects, hub_server.token_read).status_code == 403
    r = _batch(hub_server, repo, [{"oid": "XYZ", "size": 1}, {"oid": "b" * 64, "size": 10**15}], hub_server.token)
    assert [o["error"]["code"] for o in r.json()["objects"]] == [422, 422]
    r = httpx.post(f"{hub_server.endpoint}/{repo}.git/info/lfs/objects/batch", headers={**auth(hub_server.token),
                   **LFS_HEADERS}, content=b"{not json")
    assert r.status_code == 400 and json.loads(r.content)["error"]


@pytest.mark.parametrize("kind", ["dataset", "space"])
def test_prefixed_repo_types_upload_and_resolve(hub_server, kind):
    repo = create_repo(hub_server, repo_type=kind)
    add_files(hub_server, repo, {"data/train.csv": b"a,b\n1,2\n"}, repo_type=kind)
    assert httpx.get(resolve_url(hub_server, repo, "data/train.csv", repo_type=kind)).content == b"a,b\n1,2\n"
    r = httpx.get(resolve_url(hub_server, repo, "data/train.csv"))
    assert r.status_code == 404 and r.headers["x-error-code"] == "RepoNotFound"
