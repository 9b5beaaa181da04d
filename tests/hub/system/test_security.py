"""The security rules of spec §12, each with a test, against a running `snuggle hub serve`.

- path traversal ('..', absolute, backslashes, NUL and control characters, percent-encoded variants) rejected
  on upload (commit file / lfsFile / deletedFile / deletedFolder, preupload) and on download (/resolve, tree,
  paths-info), and no file outside the data dir is read or written;
- a private repo is indistinguishable from a missing one for other users and anonymous callers on every route
  (API, LFS, discussions, listings and their counts, web pages);
- tokens are stored hashed (their text is nowhere in the data dir or the database), an invalid token is a 401
  even on public reads;
- size limits are configurable (--inline-limit, --max-file-size -> 413);
- malformed NDJSON, bad base64, unknown keys and bad LFS JSON -> 400 with a message, nothing written.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import httpx
import pytest

from tests.hub.conftest import start_hub_server
from tests.hub.system._hubhttp import (
    Hub, blob_store_files, file_line, header_line, lfs_line, ndjson, raw_request, unique_name,
)

MARKER = b"snuggle-private-marker-" + os.urandom(8).hex().encode()
OUTSIDE = b"snuggle-outside-the-data-dir-" + os.urandom(8).hex().encode()
ESCAPE = "escape-" + os.urandom(4).hex()


# ---------------------------------------------------------------------------------------------------------
# fixtures: one public and one private repo of alice on the session server, a file outside the data dir
# ---------------------------------------------------------------------------------------------------------
class Repos:
    pass


@pytest.fixture(scope="module")
def repos(hub_server):
    """alice's public model (a.txt, sub/b.txt), private model (secret.txt, sub/inner.txt, README with a unique
    tag) and private dataset (data/train.csv); a file next to the data dir that no request may ever read."""
    out = Repos()
    out.server = hub_server
    out.alice = Hub(hub_server.endpoint, hub_server.token)
    out.bob = Hub(hub_server.endpoint, hub_server.token_b)
    out.anon = Hub(hub_server.endpoint)
    out.tag = "tag" + os.urandom(6).hex()
    out.public = out.alice.create_repo(unique_name("sec-public"))
    assert out.alice.commit(out.public, files={"a.txt": b"public a\n", "sub/b.txt": b"public b\n"}).status_code == 200
    out.private = out.alice.create_repo(unique_name("sec-private"), private=True)
    readme = f"---\ntags:\n- {out.tag}\nlicense: mit\n---\n# private card {MARKER.decode()}\n".encode()
    r = out.alice.commit(out.private, files={"secret.txt": MARKER, "sub/inner.txt": MARKER + b"2", "README.md": readme})
    assert r.status_code == 200, r.text
    out.private_sha = out.alice.head(out.private)
    out.dataset = out.alice.create_repo(unique_name("sec-private-ds"), repo_type="dataset", private=True)
    r = out.alice.commit(out.dataset, repo_type="dataset", files={"data/train.csv": b"text\n" + MARKER + b"\n"})
    assert r.status_code == 200, r.text
    out.outside = Path(hub_server.data_dir).parent / "outside.txt"
    out.outside.write_bytes(OUTSIDE)
    yield out
    for hub in (out.alice, out.bob, out.anon):
        hub.close()


def no_escape_files(server) -> None:
    """Nothing named like the escape probe exists anywhere around the data dir, in the repo or in /."""
    roots = [Path(server.data_dir).parent.parent, Path.cwd(), Path("/"), Path("/tmp"), Path("/etc")]
    for root in roots:
        hits = [p for p in root.glob(f"{ESCAPE}*")] + [p for p in root.glob(f"*/{ESCAPE}*")]
        assert not hits, f"a traversal probe wrote outside the repo: {hits}"
    found = [p for p in Path(server.data_dir).parent.parent.rglob(f"*{ESCAPE}*")]
    assert not found, f"a file named after a request path was written: {found}"


# ---------------------------------------------------------------------------------------------------------
# path traversal
# ---------------------------------------------------------------------------------------------------------
BAD_PATHS = [
    f"../{ESCAPE}", f"../../../../{ESCAPE}", f"a/../../{ESCAPE}", "a/..", "..", ".", "./a.txt", "a/./b.txt",
    f"/{ESCAPE}", f"/tmp/{ESCAPE}", f"a\\..\\..\\{ESCAPE}", f"..\\{ESCAPE}", f"\\{ESCAPE}",
    f"a\x00{ESCAPE}", f"{ESCAPE}\x00.txt", f"a\n{ESCAPE}", f"a\x01b", f"a\x7fb",
    "a//b.txt", "", ".git/config", "sub/.git/hooks/pre-commit", "x" * 1025,
]
OPS = ["file", "lfsFile", "deletedFile", "deletedFolder"]


def op_line(op: str, path: str) -> dict:
    if op == "file":
        return file_line(path, b"pwned\n")
    if op == "lfsFile":
        return lfs_line(path, b"pwned\n")
    return {"key": op, "value": {"path": path}}


@pytest.mark.parametrize("op", OPS)
def test_commit_rejects_traversal_paths(repos, op):
    hub, server = repos.alice, repos.server
    head, blobs = hub.head(repos.public), blob_store_files(server.data_dir)
    accepted = []
    for path in BAD_PATHS:
        r = hub.commit(repos.public, lines=[header_line(f"traversal {op}"), op_line(op, path)])
        message = r.headers.get("x-error-message") or r.text
        if r.status_code != 400 or not message:
            accepted.append((path, r.status_code, r.text[:120]))
    assert not accepted, f"{op}: paths not rejected with 400: {accepted}"
    assert hub.head(repos.public) == head
    no_escape_files(server)
    left = set(blob_store_files(server.data_dir)) - set(blobs)
    assert not left, f"{op}: the rejected commits left blobs in the store (content stored before the path check): {left}"


def test_commit_keeps_percent_encoded_names_literal(repos):
    """In the NDJSON body a path is plain text: '%2e%2e/x' is a (strange) file name, never '../x'."""
    hub = repos.alice
    names = [f"%2e%2e/{ESCAPE}-1", f"..%2F{ESCAPE}-2", f"%2F{ESCAPE}-3", f"a%00{ESCAPE}-4", f"..%5C{ESCAPE}-5"]
    for name in names:
        r = hub.commit(repos.public, lines=[header_line("literal"), file_line(name, b"literal\n")])
        assert r.status_code in (200, 400), (name, r.status_code, r.text)
        if r.status_code == 200:
            assert name in hub.files(repos.public), f"{name!r} stored under another name"
            got = hub.download(repos.public, name)
            assert got.status_code == 200 and got.content == b"literal\n"
            r = hub.commit(repos.public, lines=[header_line("cleanup"), {"key": "deletedFile", "value": {"path": name}}])
            assert r.status_code == 200, r.text
    no_escape_files(repos.server)


def test_commit_rejects_traversal_in_revision(repos):
    hub, head = repos.alice, repos.alice.head(repos.public)
    for rev in ("..%2F..%2Fmain", "%2e%2e", "..", "main%00", "refs%2F..%2Fheads%2Fmain"):
        body = ndjson([header_line("rev traversal"), file_line(f"{ESCAPE}.txt", b"x")])
        status, headers, _ = raw_request(hub.endpoint, "POST", f"/api/models/{repos.public}/commit/{rev}",
                                         token=hub.token, body=body,
                                         headers={"Content-Type": "application/x-ndjson"})
        assert status in (400, 404), (rev, status)
    assert hub.head(repos.public) == head
    no_escape_files(repos.server)


def test_preupload_rejects_traversal_paths(repos):
    accepted = []
    for path in BAD_PATHS:
        r = repos.alice.preupload(repos.public, [path])
        if r.status_code != 400:
            accepted.append((path, r.status_code, r.text[:120]))
    assert not accepted, f"preupload paths not rejected with 400: {accepted}"


def _never_leaks(body: bytes, server) -> None:
    secret = (Path(server.data_dir) / "secret").read_bytes()
    assert OUTSIDE not in body and MARKER not in body and b"root:x:0:0" not in body and secret not in body
    assert str(server.data_dir).encode() not in body, "an error body shows a filesystem path"


def test_download_rejects_traversal(repos):
    ep, token, rid = repos.alice.endpoint, repos.alice.token, repos.public
    up = "../" * 8
    probes = [
        f"/{rid}/resolve/main/{up}outside.txt", f"/{rid}/resolve/main/{up}etc/passwd",
        f"/{rid}/resolve/main/..%2F..%2F..%2F..%2F..%2F..%2Foutside.txt",
        f"/{rid}/resolve/main/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/outside.txt",
        f"/{rid}/resolve/main/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        f"/{rid}/resolve/main/..%5C..%5C..%5Csecret", f"/{rid}/resolve/main/sub%5C..%5C..%5Csecret",
        f"/{rid}/resolve/main/a.txt%00.png", f"/{rid}/resolve/main/%00", f"/{rid}/resolve/main//etc/passwd",
        f"/{rid}/resolve/main/%2Fetc%2Fpasswd", f"/{rid}/resolve/main/sub/../a.txt", f"/{rid}/resolve/main/./a.txt",
        f"/{rid}/resolve/..%2F..%2F..%2F/a.txt", f"/{rid}/resolve/%2e%2e/a.txt", f"/{rid}/resolve/main/%252e%252e/a.txt",
        f"/{rid}/resolve/main/.git/config", f"/{rid}/resolve/main/secret", f"/{rid}/resolve/main/hub.db",
        f"/api/models/{rid}/tree/main/..%2F..%2F..", f"/api/models/{rid}/tree/main/%2e%2e",
        f"/api/models/{rid}/tree/main/{up}", f"/api/models/{rid}/tree/..%2Fmain", f"/api/models/{rid}/tree/main/%2Fetc",
        f"/api/models/{rid}/tree/main/sub%2F..%2F..%2F..", f"/api/models/{rid}/tree/main/sub%5C..",
        f"/api/models/{rid}/tree/main/%00",
        f"/{rid}/blob/main/{up}outside.txt", f"/{rid}/blob/main/..%2F..%2F..%2Foutside.txt",
        f"/{rid}/tree/main/..%2F..%2F..", f"/{rid}/../../../../outside.txt",
    ]
    wrong = []
    for path in probes:
        for method in ("GET", "HEAD"):
            status, _, body = raw_request(ep, method, path, token=token)
            _never_leaks(body, repos.server)
            if status not in (400, 404):
                wrong.append((method, path, status))
    assert not wrong, f"traversal lookups answered neither 400 nor 404: {wrong}"
    # control: the same client reads a real file through the same route
    status, _, body = raw_request(ep, "GET", f"/{rid}/resolve/main/sub/b.txt", token=token)
    assert (status, body) == (200, b"public b\n")


def test_paths_info_rejects_traversal(repos):
    hub = repos.alice
    bad = [f"{'../' * 6}outside.txt", "..", "/etc/passwd", "sub/../a.txt", "./a.txt", "sub\\..\\a.txt", "a.txt\x00",
           "%2e%2e/outside.txt", "sub//b.txt"]
    for paths in [bad] + [[p] for p in bad]:
        r = hub.http.post(f"/api/models/{repos.public}/paths-info/main", data={"paths": paths, "expand": "false"})
        _never_leaks(r.content, repos.server)
        assert r.status_code in (200, 400, 404), (paths, r.status_code)
        if r.status_code == 200:
            assert r.json() == [], f"paths-info resolved {paths}: {r.json()}"
    r = hub.http.post(f"/api/models/{repos.public}/paths-info/main", data={"paths": ["a.txt", "sub"]})
    assert sorted(e["path"] for e in r.json()) == ["a.txt", "sub"]  # control


# ---------------------------------------------------------------------------------------------------------
# private repos: every route answers exactly as for a missing repo
# ---------------------------------------------------------------------------------------------------------
def _routes(repo_id: str, sha: str, repo_type: str = "model") -> list[tuple]:
    """(method, path, kwargs) of every API route that names a repo."""
    t = f"/api/{repo_type}s/{repo_id}"
    prefix = "" if repo_type == "model" else f"{repo_type}s/"
    first, folder = ("data/train.csv", "data") if repo_type == "dataset" else ("secret.txt", "sub")
    lfs = {"content": json.dumps({"operation": "download", "transfers": ["basic"], "hash_algo": "sha256",
                                  "objects": [{"oid": hashlib.sha256(MARKER).hexdigest(), "size": len(MARKER)}]}),
           "headers": {"Content-Type": "application/vnd.git-lfs+json", "Accept": "application/vnd.git-lfs+json"}}
    lfs_up = dict(lfs, content=lfs["content"].replace('"download"', '"upload"'))
    commit = ndjson([header_line("intruder"), file_line("intruder.txt", b"x")])
    return [
        ("GET", t, {}), ("GET", f"{t}?blobs=true", {}), ("GET", f"{t}/revision/main", {}),
        ("GET", f"{t}/revision/{sha}", {}), ("GET", f"{t}/tree/main", {}), ("GET", f"{t}/tree/main?recursive=true", {}),
        ("GET", f"{t}/tree/main/{folder}", {}), ("GET", f"{t}/tree/{sha}", {}),
        ("POST", f"{t}/paths-info/main", {"data": {"paths": [first, folder]}}),
        ("GET", f"/{prefix}{repo_id}/resolve/main/{first}", {}), ("HEAD", f"/{prefix}{repo_id}/resolve/main/{first}", {}),
        ("GET", f"/{prefix}{repo_id}/resolve/{sha}/{first}", {}), ("HEAD", f"/{prefix}{repo_id}/resolve/main/nope.txt", {}),
        ("GET", f"/{prefix}{repo_id}/resolve/main/{first}", {"headers": {"Range": "bytes=0-3"}}),
        ("GET", f"{t}/refs", {}), ("GET", f"{t}/refs?include_prs=1", {}), ("GET", f"{t}/commits/main", {}),
        ("GET", f"{t}/commits/{sha}", {}),
        ("POST", f"{t}/preupload/main", {"json": {"files": [{"path": first, "sample": "", "size": 0}]}}),
        ("POST", f"{t}/commit/main", {"content": commit, "headers": {"Content-Type": "application/x-ndjson"}}),
        ("POST", f"/{prefix}{repo_id}.git/info/lfs/objects/batch", lfs),
        ("POST", f"/{prefix}{repo_id}.git/info/lfs/objects/batch", lfs_up),
        ("GET", f"{t}/discussions", {}), ("GET", f"{t}/discussions/1", {}),
        ("POST", f"{t}/discussions", {"json": {"title": "hi", "description": "", "pullRequest": False}}),
        ("POST", f"{t}/branch/intruder", {"json": {}}), ("DELETE", f"{t}/branch/main", {}),
        ("POST", f"{t}/tag/main", {"json": {"tag": "intruder"}}), ("DELETE", f"{t}/tag/v1", {}),
        ("PUT", f"{t}/settings", {"json": {"visibility": "public"}}),
        ("GET", f"{t}/xet-read-token/main", {}),
        ("POST", "/api/repos/move", {"json": {"fromRepo": repo_id, "toRepo": f"bob/{unique_name('stolen')}",
                                               "type": repo_type}}),
        ("DELETE", "/api/repos/delete", {"json": {"name": repo_id.split("/")[1], "organization": "alice",
                                                  "type": repo_type}}),
        ("POST", "/api/repos/create", {"json": {"name": repo_id.split("/")[1], "organization": "alice",
                                                "type": repo_type}}),
    ]


def _normal(body: bytes, name: str) -> bytes:
    return body.replace(name.encode(), b"<name>")


@pytest.mark.parametrize("repo_type", ["model", "dataset"])
def test_private_repo_is_indistinguishable_from_missing(repos, repo_type):
    private = repos.private if repo_type == "model" else repos.dataset
    sha = repos.alice.head(private, repo_type)
    missing = f"alice/{unique_name('never-created')}"
    problems = []
    for who, hub in (("bob", repos.bob), ("anonymous", repos.anon)):
        for (method, path, kw), (_, mpath, mkw) in zip(_routes(private, sha, repo_type),
                                                       _routes(missing, "0" * 40, repo_type)):
            r = hub.http.request(method, path, **kw)
            m = hub.http.request(method, mpath, **mkw)
            body = r.content
            leaks = [s for s in (MARKER, sha.encode(), b"secret.txt", b"inner.txt", repos.tag.encode()) if s in body]
            code = r.headers.get("x-error-code")
            same_as_missing = (r.status_code, _normal(body, private.split("/")[1])) == (
                m.status_code, _normal(m.content, missing.split("/")[1]))
            if leaks:
                problems.append(f"{who} {method} {path}: body leaks {leaks}")
            if r.status_code not in (401, 404) or (r.status_code == 404 and code != "RepoNotFound"):
                # creating a repo in alice's namespace is refused as such; the Xet routes answer 501 for any id
                if not ((path.endswith("/api/repos/create") and r.status_code in (401, 403))
                        or ("xet-" in path and r.status_code == 501 and same_as_missing)):
                    problems.append(f"{who} {method} {path}: {r.status_code} {code} {body[:100]!r}")
            if (r.status_code, code) != (m.status_code, m.headers.get("x-error-code")):
                problems.append(f"{who} {method} {path}: {r.status_code}/{code} but a missing repo gives "
                                f"{m.status_code}/{m.headers.get('x-error-code')}")
            elif _normal(body, private.split("/")[1]) != _normal(m.content, missing.split("/")[1]):
                problems.append(f"{who} {method} {path}: body differs from a missing repo's: {body[:120]!r} vs "
                                f"{m.content[:120]!r}")
    assert not problems, "\n".join(problems)
    # nothing changed, and the owner still sees everything (so the probes above were aimed right)
    assert repos.alice.head(private, repo_type) == sha
    for method, path, kw in _routes(private, sha, repo_type)[:14]:
        r = repos.alice.http.request(method, path, **kw)
        assert r.status_code in (200, 206) or "nope.txt" in path, (method, path, r.status_code, r.text[:200])


def test_inline_private_blob_cannot_be_claimed_by_hash(repos):
    """secret.txt went in inline, but the store keys it by sha256 like an LFS object: bob, knowing the hash,
    can neither commit it as an lfsFile into his own repo nor learn from the LFS batch API that it exists."""
    oid, size = hashlib.sha256(MARKER).hexdigest(), len(MARKER)
    with Hub(repos.server.endpoint, repos.server.token_b) as bob:
        own = bob.create_repo(unique_name("thief"))
        head = bob.head(own)
        r = bob.commit(own, lines=[header_line("claim"), lfs_line("stolen.txt", oid=oid, size=size)])
        assert 400 <= r.status_code < 500, (r.status_code, r.text)
        assert bob.head(own) == head and bob.download(own, "stolen.txt").status_code == 404
        r = bob.lfs_batch(own, [{"oid": oid, "size": size}])
        assert r.status_code == 200 and "upload" in (r.json()["objects"][0].get("actions") or {}), r.text
        r = bob.lfs_batch(own, [{"oid": oid, "size": size}], operation="download")
        obj = (r.json().get("objects") or [{}])[0] if r.status_code == 200 else {}
        assert "download" not in (obj.get("actions") or {}), r.text
        assert MARKER not in r.content


def test_private_repos_absent_from_listings_and_counts(repos):
    def ids(hub: Hub, kind: str, public_only: bool = False, **params) -> list[str]:
        out, url = [], f"/api/{kind}"
        while url:
            r = hub.http.get(url, params=params if url.startswith("/") else None)
            assert r.status_code == 200, (kind, params, r.status_code, r.text[:200])
            out += [item["id"] for item in r.json() if not (public_only and item["private"])]
            url = r.links.get("next", {}).get("url")
        return out

    queries = [{"author": "alice"}, {"search": "sec-private"}, {"search": repos.private.split("/")[1]},
               {"filter": repos.tag}, {"search": "sec", "limit": 1}, {"author": "alice", "sort": "lastModified",
                                                                      "direction": -1}]
    for kind, private in (("models", repos.private), ("datasets", repos.dataset)):
        owner = {json.dumps(q): ids(repos.alice, kind, **q) for q in queries}
        assert private in owner[json.dumps({"author": "alice"})]  # control: the owner sees it
        for hub in (repos.bob, repos.anon):
            for q in queries:
                got = ids(hub, kind, **q)
                assert private not in got, (kind, q)
                # what the owner sees minus every private repo (other tests' private repos of alice too)
                owner_public = set(ids(repos.alice, kind, public_only=True, **q))
                expected = [i for i in owner[json.dumps(q)] if i in owner_public]
                assert sorted(got) == sorted(expected), f"{kind} {q}: listing differs beyond the private repo"


def test_private_repo_invisible_on_web_pages(repos):
    name = repos.private.split("/")[1]
    ds_name = repos.dataset.split("/")[1]
    missing = f"alice/{unique_name('never-created')}"
    pages = [f"/{repos.private}", f"/{repos.private}/tree/main", f"/{repos.private}/tree/main/sub",
             f"/{repos.private}/blob/main/secret.txt", f"/{repos.private}/blob/main/README.md",
             f"/{repos.private}/commits/main", f"/{repos.private}/tree/{repos.private_sha}",
             f"/{repos.private}?revision={repos.private_sha}", f"/datasets/{repos.dataset}",
             f"/datasets/{repos.dataset}/blob/main/data/train.csv", f"/datasets/{repos.dataset}/tree/main/data"]
    # listings and search results: (page, the private names it may show because the query echoes them)
    listings = [("/", ()), (f"/search?q={name}", (name,)), (f"/search?q={repos.tag}", (repos.tag,)), ("/models", ()),
                (f"/models?q={name}", (name,)), (f"/datasets?q={ds_name}", (ds_name,)), ("/alice", ()),
                ("/datasets", ()), (f"/search?q={MARKER.decode()}", (MARKER.decode(),))]
    secrets_ = [MARKER, repos.private_sha.encode(), name.encode(), ds_name.encode(), repos.tag.encode()]
    for hub in (repos.bob, repos.anon):
        missing_page = hub.http.get(f"/{missing}")
        assert missing_page.status_code == 404
        for page in pages:
            r = hub.http.get(page)
            assert r.status_code == 404, (page, r.status_code)
            assert not [s for s in secrets_ if s in r.content], f"{page} leaks private content"
        for page, echoed in listings:
            r = hub.http.get(page)
            assert r.status_code == 200, (page, r.status_code)
            body = r.content
            for query in echoed:  # the same page for a query nothing matches, with that query put back
                other = hub.http.get(page.replace(query, "zzqnothing")).content.replace(b"zzqnothing", query.encode())
                assert body == other, f"{page}: the page differs from the one for a query that matches nothing"
            body = body.replace(b"q=" + b"".join(q.encode() for q in echoed), b"")
            for query in echoed:
                body = body.replace(query.encode(), b"")
            assert not [s for s in secrets_ if s in body], f"{page} shows the private repo"
            assert f"/{repos.private}".encode() not in r.content and f"/{repos.dataset}".encode() not in r.content
    # control: alice sees her private card and file
    assert MARKER in repos.alice.http.get(f"/{repos.private}/blob/main/secret.txt").content
    assert name.encode() in repos.alice.http.get(f"/search?q={name}").content


# ---------------------------------------------------------------------------------------------------------
# tokens
# ---------------------------------------------------------------------------------------------------------
def _files_containing(root: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for path in Path(root).rglob("*"):
        if path.is_file() and path.name != ".test-tokens":  # the test fixture's own copy of the tokens
            data = path.read_bytes()
            hits += [f"{path.relative_to(root)} holds token {n[:6]!r}..." for n in needles if n in data]
    return hits


def test_tokens_are_hashed_at_rest_sqlite(repos):
    server = repos.server
    tokens = [server.token, server.token_b, server.token_read]
    for t in tokens:  # make sure every token went through authentication at least once
        assert Hub(server.endpoint, t).whoami() in ("alice", "bob")
    needles = [t.encode() for t in tokens] + [t[3:].encode() for t in tokens if t.startswith("hf_")]
    assert (Path(server.data_dir) / "hub.db").exists()
    assert not _files_containing(server.data_dir, needles)
    log = server.log_path.read_bytes() if server.log_path else b""
    assert not [n for n in needles if n in log], "the server log contains a token"


def test_tokens_are_hashed_at_rest_postgresql(pg_hub_server, postgres_server):
    import psycopg

    server = pg_hub_server
    tokens = [server.token, server.token_b, server.token_read]
    for t in tokens:
        assert Hub(server.endpoint, t).whoami() in ("alice", "bob")
    with psycopg.connect(postgres_server.dsn(server.pg_database)) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert tables
        dump = "\n".join(str(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'))
    assert "alice" in dump  # control: the dump does hold the users
    assert not [t for t in tokens if t in dump or t[3:] in dump], "a token is stored in clear in PostgreSQL"
    assert not _files_containing(server.data_dir, [t.encode() for t in tokens])


def test_invalid_token_is_401_even_on_public_reads(repos):
    good = repos.server.token
    for bad in ("hf_" + "x" * 34, good[:-1] + ("a" if good[-1] != "a" else "b"), "not-a-token", good + "x"):
        hub = Hub(repos.server.endpoint, bad)
        rid = repos.public
        for method, path in [("GET", f"/api/models/{rid}"), ("GET", f"/api/models/{rid}/tree/main"),
                             ("GET", f"/{rid}/resolve/main/a.txt"), ("HEAD", f"/{rid}/resolve/main/a.txt"),
                             ("GET", "/api/models"), ("GET", f"/api/models?author=alice"),
                             ("GET", f"/api/models/{rid}/refs"), ("GET", f"/api/models/{rid}/commits/main"),
                             ("GET", "/api/whoami-v2"), ("GET", f"/api/models/{repos.private}"),
                             ("GET", f"/{rid}"), ("GET", "/")]:
            r = hub.http.request(method, path)
            assert r.status_code == 401, (bad[:8], method, path, r.status_code)
        r = hub.http.post(f"/api/models/{rid}/paths-info/main", data={"paths": ["a.txt"]})
        assert r.status_code == 401
        hub.close()
    with Hub(repos.server.endpoint) as anon:  # control: the same reads work anonymously
        assert anon.download(repos.public, "a.txt").content == b"public a\n"


# ---------------------------------------------------------------------------------------------------------
# size limits
# ---------------------------------------------------------------------------------------------------------
def test_size_limits_are_configurable(tmp_path):
    inline, max_file = 100_000, 300_000
    server = start_hub_server(tmp_path / "data", extra_args=["--inline-limit", str(inline),
                                                            "--max-file-size", str(max_file)])
    try:
        hub = Hub(server.endpoint, server.token)
        rid = hub.create_repo(unique_name("limits"))
        r = hub.http.post(f"/api/models/{rid}/preupload/main", json={"files": [
            {"path": "small.bin", "sample": "", "size": inline}, {"path": "big.bin", "sample": "", "size": inline + 1}]})
        modes = {f["path"]: f["uploadMode"] for f in r.json()["files"]}
        assert modes == {"small.bin": "regular", "big.bin": "lfs"}, r.text

        head, blobs = hub.head(rid), blob_store_files(server.data_dir)
        r = hub.commit(rid, files={"big.bin": os.urandom(inline + 1)})
        assert r.status_code == 413 and r.headers.get("x-error-message"), (r.status_code, r.text)
        r = hub.commit(rid, files={f"f{i}.bin": os.urandom(inline - 10) for i in range(3)})  # body > 2 x inline
        assert r.status_code == 413 and r.headers.get("x-error-message"), (r.status_code, r.text)
        assert hub.head(rid) == head
        left_behind = set(blob_store_files(server.data_dir)) - set(blobs)

        data = os.urandom(max_file + 1)
        r = hub.lfs_batch(rid, [{"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}])
        obj = (r.json().get("objects") or [{}])[0] if r.status_code == 200 else {}
        # refused as a whole (413) or per object, the git-lfs way (the client shows the object's message)
        assert r.status_code == 413 or (obj.get("error", {}).get("code") in (413, 422) and "actions" not in obj
                                        and obj["error"].get("message")), (r.status_code, r.text)
        ok = os.urandom(max_file)
        hub.lfs_upload(rid, ok)  # exactly the limit is allowed
        r = hub.commit(rid, lines=[header_line("at the limit"), lfs_line("big.bin", ok)])
        assert r.status_code == 200, r.text
        assert hub.download(rid, "big.bin").content == ok
        hub.close()
        assert not left_behind, f"the commits refused with 413 left blobs in the store: {left_behind}"
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------------------
# malformed requests: 400 with a message, nothing written
# ---------------------------------------------------------------------------------------------------------
GOOD = "<a valid file line with fresh content>"
MALFORMED = {
    "not json": [header_line(), b"this is not json"],
    "truncated json": [header_line(), b'{"key": "file", "value": {"path": "x.txt", "content": "eA=='],
    "header missing": [file_line("x.txt", b"x")],
    "header not first": [GOOD, header_line()],
    "two headers": [header_line(), header_line()],
    "empty summary": [header_line(summary="")],
    "unknown key": [header_line(), {"key": "symlink", "value": {"path": "x", "target": "/etc/passwd"}}],
    "value not an object": [header_line(), {"key": "file", "value": "x.txt"}],
    "missing content": [header_line(), {"key": "file", "value": {"path": "x.txt", "encoding": "base64"}}],
    "missing path": [header_line(), {"key": "file", "value": {"content": "eA==", "encoding": "base64"}}],
    "bad base64": [header_line(), {"key": "file", "value": {"path": "x.txt", "content": "!!!!", "encoding": "base64"}}],
    "garbage inside base64": [header_line(),
                              {"key": "file", "value": {"path": "x.txt", "content": "YWJj*ZGVm", "encoding": "base64"}}],
    "bad base64 padding": [header_line(), {"key": "file", "value": {"path": "x.txt", "content": "YWJjZ",
                                                                    "encoding": "base64"}}],
    "unknown encoding": [header_line(), {"key": "file", "value": {"path": "x.txt", "content": "78", "encoding": "hex"}}],
    "valid file then garbage": [header_line(), GOOD, b"{{{"],
    "valid file then bad base64": [header_line(), GOOD,
                                   {"key": "file", "value": {"path": "y.txt", "content": "@@", "encoding": "base64"}}],
    "lfs oid not hex": [header_line(), lfs_line("x.bin", oid="z" * 64, size=3)],
    "lfs oid short": [header_line(), lfs_line("x.bin", oid="ab" * 10, size=3)],
    "lfs size negative": [header_line(), lfs_line("x.bin", oid="ab" * 32, size=-1)],
    "lfs algo": [header_line(), {"key": "lfsFile", "value": {"path": "x.bin", "algo": "md5", "oid": "ab" * 16,
                                                               "size": 3}}],
    "not an object line": [header_line(), b"[1, 2, 3]"],
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_commit_is_400_and_writes_nothing(repos, case):
    hub, server = repos.alice, repos.server
    head, files, blobs = hub.head(repos.public), hub.files(repos.public), blob_store_files(server.data_dir)
    good = file_line("good.txt", b"a valid line before the bad one " + os.urandom(8).hex().encode())
    r = hub.commit(repos.public, lines=[good if line is GOOD else line for line in MALFORMED[case]])
    assert r.status_code == 400, (case, r.status_code, r.text[:200])
    message = r.headers.get("x-error-message") or ""
    assert message and r.json().get("error"), f"{case}: no error message ({r.headers}, {r.text[:200]})"
    assert hub.head(repos.public) == head and hub.files(repos.public) == files
    assert blob_store_files(server.data_dir) == blobs, f"{case}: the rejected commit left blobs behind"


def test_empty_commit_body_is_400(repos):
    r = repos.alice.commit(repos.public, body=b"")
    assert r.status_code == 400 and r.headers.get("x-error-message")


def test_lfs_object_not_uploaded_is_refused(repos):
    head = repos.alice.head(repos.public)
    data = os.urandom(100)
    r = repos.alice.commit(repos.public, lines=[header_line("ghost lfs"), lfs_line("ghost.bin", data)])
    assert r.status_code in (400, 422) and r.headers.get("x-error-message"), (r.status_code, r.text)
    assert repos.alice.head(repos.public) == head


BAD_BATCH = {
    "not json": b"not json at all",
    "json array": b"[]",
    "no objects": json.dumps({"operation": "upload", "transfers": ["basic"]}).encode(),
    "objects not a list": json.dumps({"operation": "upload", "objects": {"oid": "ab" * 32, "size": 1}}).encode(),
    "unknown operation": json.dumps({"operation": "steal", "objects": [{"oid": "ab" * 32, "size": 1}]}).encode(),
    "bad oid": json.dumps({"operation": "upload", "objects": [{"oid": "../../etc/passwd", "size": 1}]}).encode(),
    "bad size": json.dumps({"operation": "upload", "objects": [{"oid": "ab" * 32, "size": "big"}]}).encode(),
    "negative size": json.dumps({"operation": "upload", "objects": [{"oid": "ab" * 32, "size": -5}]}).encode(),
    "hash algo": json.dumps({"operation": "upload", "hash_algo": "md5",
                             "objects": [{"oid": "ab" * 16, "size": 1}]}).encode(),
}


@pytest.mark.parametrize("case", sorted(BAD_BATCH))
def test_malformed_lfs_batch_is_400(repos, case):
    blobs = blob_store_files(repos.server.data_dir)
    r = repos.alice.lfs_batch(repos.public, [], body=BAD_BATCH[case])
    if r.status_code == 200:  # per-object errors are how git-lfs reports a bad object inside a valid request
        objs = r.json().get("objects") or []
        assert objs and all("error" in o and "actions" not in o for o in objs), (case, r.text[:300])
    else:
        assert r.status_code in (400, 422), (case, r.status_code, r.text[:200])
        assert r.headers.get("x-error-message") or r.json().get("message") or r.json().get("error"), r.text
    assert blob_store_files(repos.server.data_dir) == blobs


def test_lfs_put_with_wrong_bytes_is_400_and_discarded(repos):
    data = os.urandom(5000)
    oid = hashlib.sha256(data).hexdigest()
    r = repos.alice.lfs_batch(repos.public, [{"oid": oid, "size": len(data)}])
    href = r.json()["objects"][0]["actions"]["upload"]["href"]
    blobs = blob_store_files(repos.server.data_dir)
    for wrong in (os.urandom(5000), data[:-1], data + b"x"):
        put = httpx.put(href, content=wrong, timeout=30)
        assert put.status_code in (400, 413), put.status_code
    assert blob_store_files(repos.server.data_dir) == blobs
    forged = href.replace(oid, "0" * 64) if oid in href else href + "x"
    assert httpx.put(forged, content=data, timeout=30).status_code in (400, 401, 403, 404)
    assert blob_store_files(repos.server.data_dir) == blobs
