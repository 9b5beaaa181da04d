"""HubBackend: users, tokens, permissions, repos, commits, trees, revisions (SQLite in tmp_path).

The same tests run against PostgreSQL when a `postgres_url` fixture is available (tests/hub/system);
see test_backend_postgres.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from snuggle.hub.server.backend import HubBackend
from snuggle.hub.server.config import ServerConfig
from snuggle.hub.server.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    Forbidden,
    PreconditionFailed,
    RepoNotFound,
    RevisionNotFound,
    TooLarge,
    Unauthorized,
    Unprocessable,
)
from snuggle.hub.server.records import AddFile, CopyFile, DeleteFile, DeleteFolder


@pytest.fixture
def backend(tmp_path):
    b = HubBackend(ServerConfig(data_dir=tmp_path / "hub"))
    yield b
    b.close()


@pytest.fixture
def world(backend):
    """alice (write + read tokens), bob (write), carol in org acme; alice/pub (public), alice/priv (private)."""
    backend.add_user("alice")
    backend.add_user("bob")
    backend.add_user("carol", orgs=["acme"])
    w = {
        "alice": backend.authenticate(backend.create_token("alice")),
        "alice_read": backend.authenticate(backend.create_token("alice", role="read", name="ro")),
        "bob": backend.authenticate(backend.create_token("bob")),
        "carol": backend.authenticate(backend.create_token("carol")),
    }
    w["pub"] = backend.create_repo(w["alice"], "model", "alice/pub")
    w["priv"] = backend.create_repo(w["alice"], "model", "alice/priv", private=True)
    return w


def add(backend, data: bytes, path: str) -> AddFile:
    sha, size = backend.store_blob([data], expected_size=len(data))
    return AddFile(path, sha, size)


def files_at(backend, repo, rev="main") -> dict[str, bytes]:
    commit, _ = backend.resolve_revision(repo, rev)
    out = {}
    for e in backend.list_tree(repo, commit.oid, recursive=True):
        if e.type == "file":
            out[e.path] = backend.blob_path(e.sha256).read_bytes()
    return out


# ---- users and tokens ----------------------------------------------------------------------------------


def test_tokens_are_hashed_and_roles_kept(backend, world, tmp_path):
    token = backend.create_token("bob", role="read", name="laptop")
    assert token.startswith("hf_") and len(token) >= 30
    p = backend.authenticate(token)
    assert (p.user, p.role, p.token_name) == ("bob", "read", "laptop")
    db_file = tmp_path / "hub" / "hub.db"
    if db_file.exists():  # SQLite: the secret is nowhere in the database file
        assert token.encode() not in db_file.read_bytes()
    assert backend.authenticate(None) is None and backend.authenticate("") is None
    with pytest.raises(Unauthorized):
        backend.authenticate(token + "x")
    backend.revoke_token(token)
    with pytest.raises(Unauthorized):
        backend.authenticate(token)


def test_expired_token_and_whoami(backend, world):
    old = backend.create_token("carol", expires_at=datetime.now(timezone.utc) - timedelta(seconds=1))
    with pytest.raises(Unauthorized):
        backend.authenticate(old)
    body = backend.whoami(world["carol"])
    assert body["type"] == "user" and body["name"] == "carol"
    assert [o["name"] for o in body["orgs"]] == ["acme"]
    assert body["auth"]["accessToken"]["role"] == "write"


def test_duplicate_user_and_org_name(backend, world):
    with pytest.raises(Conflict):
        backend.add_user("alice")
    with pytest.raises(Conflict):
        backend.add_user("acme")
    with pytest.raises(BadRequest):
        backend.add_user("bad name")
    with pytest.raises(BadRequest):
        backend.create_token("nobody")


# ---- visibility and permissions (spec §12) ----------------------------------------------------------------


@pytest.mark.parametrize("who", [None, "bob", "carol"])
def test_private_repo_is_missing_for_others(backend, world, who):
    p = world[who] if who else None
    for access in ("read", "write"):
        with pytest.raises(RepoNotFound):
            backend.get_repo(p, "model", "alice/priv", access=access)
    with pytest.raises(RepoNotFound):
        backend.delete_repo(p, "model", "alice/priv")
    with pytest.raises(RepoNotFound):
        backend.update_settings(p, "model", "alice/priv", private=False)
    repos, total = backend.list_repos(p, "model")
    assert [r.repo_id for r in repos] == ["alice/pub"] and total == 1


def test_write_permission_matrix(backend, world):
    assert backend.get_repo(world["alice"], "model", "alice/priv", access="write").private
    assert backend.get_repo(world["alice_read"], "model", "alice/priv").private  # read token can read
    with pytest.raises(Forbidden):
        backend.get_repo(world["alice_read"], "model", "alice/priv", access="write")
    with pytest.raises(Unauthorized):
        backend.get_repo(None, "model", "alice/pub", access="write")
    with pytest.raises(Forbidden):
        backend.get_repo(world["bob"], "model", "alice/pub", access="write")
    with pytest.raises(Forbidden):
        backend.commit(world["bob"], world["pub"], "main", [add(backend, b"x", "x")], summary="steal")
    with pytest.raises(Unauthorized):
        backend.commit(None, world["pub"], "main", [add(backend, b"x", "x")], summary="anon")
    with pytest.raises(Forbidden):
        backend.create_branch(world["alice_read"], world["pub"], "dev")
    # wrong type is a missing repo
    with pytest.raises(RepoNotFound):
        backend.get_repo(world["alice"], "dataset", "alice/pub")


def test_create_repo_rules(backend, world):
    with pytest.raises(Unauthorized):
        backend.create_repo(None, "model", "alice/new")
    with pytest.raises(Forbidden):
        backend.create_repo(world["alice_read"], "model", "alice/new")
    with pytest.raises(Forbidden):
        backend.create_repo(world["bob"], "model", "alice/new")
    with pytest.raises(Forbidden):
        backend.create_repo(world["bob"], "model", "acme/new")
    with pytest.raises(Conflict):
        backend.create_repo(world["alice"], "model", "alice/pub")
    for bad in ("alice/-x", "alice/a..b", "alice/x.git", "alice", "a/b/c", "alice/a--b", "alice/" + "x" * 97):
        with pytest.raises(BadRequest):
            backend.create_repo(world["alice"], "model", bad)
    org_repo = backend.create_repo(world["carol"], "dataset", "acme/data", private=True)
    assert backend.get_repo(world["carol"], "dataset", "acme/data", access="write").id == org_repo.id
    backend.add_org_member("acme", "bob")
    bob = backend.authenticate(backend.create_token("bob"))
    assert backend.get_repo(bob, "dataset", "acme/data", access="write").repo_id == "acme/data"
    commit, ref = backend.resolve_revision(org_repo, "main")
    assert ref == "refs/heads/main" and commit.title == "initial commit" and commit.author == "system"
    assert [e.path for e in backend.list_tree(org_repo, commit.oid)] == [".gitattributes"]


def test_visibility_switch_applies_at_once(backend, world):
    backend.update_settings(world["alice"], "model", "alice/pub", private=True)
    with pytest.raises(RepoNotFound):
        backend.get_repo(None, "model", "alice/pub")
    assert backend.list_repos(None, "model") == ([], 0)
    backend.update_settings(world["alice"], "model", "alice/pub", private=False)
    assert backend.get_repo(None, "model", "alice/pub").private is False
    with pytest.raises(BadRequest):
        backend.update_settings(world["alice"], "model", "alice/pub", gated="auto")


def test_delete_and_recreate_starts_fresh(backend, world):
    a, repo = world["alice"], world["pub"]
    c1, _ = backend.commit(a, repo, "main", [add(backend, b"secret v1", "s.txt")], summary="v1")
    backend.create_tag(a, repo, "main", "v1")
    backend.delete_repo(a, "model", "alice/pub")
    with pytest.raises(RepoNotFound):
        backend.get_repo(a, "model", "alice/pub")
    fresh = backend.create_repo(a, "model", "alice/pub")
    assert fresh.id != repo.id
    with pytest.raises(RevisionNotFound):
        backend.resolve_revision(fresh, c1.oid)
    with pytest.raises(RevisionNotFound):
        backend.resolve_revision(fresh, "v1")
    assert set(files_at(backend, fresh)) == {".gitattributes"}
    assert len(backend.list_commits(fresh, "main")) == 1


def test_move_repo(backend, world):
    a = world["alice"]
    backend.commit(a, world["pub"], "main", [add(backend, b"moved", "m.txt")], summary="m")
    moved = backend.move_repo(a, "model", "alice/pub", "alice/renamed")
    assert moved.repo_id == "alice/renamed" and moved.id == world["pub"].id
    with pytest.raises(RepoNotFound):
        backend.get_repo(a, "model", "alice/pub")
    assert backend.resolve_redirect(None, "model", "alice/pub") == "alice/renamed"
    assert files_at(backend, moved)["m.txt"] == b"moved"
    with pytest.raises(Conflict):
        backend.move_repo(a, "model", "alice/renamed", "alice/priv")
    with pytest.raises(Forbidden):
        backend.move_repo(a, "model", "alice/renamed", "bob/taken")
    backend.create_repo(a, "model", "alice/pub")  # the old name is free again and no longer redirects
    assert backend.resolve_redirect(None, "model", "alice/pub") is None


# ---- commits -------------------------------------------------------------------------------------------------


def test_commit_add_delete_copy_and_history(backend, world):
    a, repo = world["alice"], world["pub"]
    c1, _ = backend.commit(a, repo, "main", [add(backend, b"one", "dir/one.txt"), add(backend, b"two", "dir/sub/two.txt")],
                           summary="first", description="two files")
    assert c1.title == "first" and c1.message == "two files"
    c2, _ = backend.commit(a, repo, "main", [CopyFile("dir/one.txt", "copy.txt"), DeleteFile("dir/one.txt")], summary="mv")
    assert files_at(backend, repo) == {".gitattributes": files_at(backend, repo)[".gitattributes"],
                                       "copy.txt": b"one", "dir/sub/two.txt": b"two"}
    c3, _ = backend.commit(a, repo, "main", [DeleteFolder("dir/")], summary="rm dir")
    assert "dir" not in {e.path for e in backend.list_tree(repo, c3.oid)}  # emptied folders are pruned
    assert [c.oid for c in backend.list_commits(repo, "main")][:3] == [c3.oid, c2.oid, c1.oid]
    assert backend.list_commits(repo, "main", limit=1, offset=1) == [c2]
    assert files_at(backend, repo, c1.oid)["dir/one.txt"] == b"one"  # old commits stay readable
    with pytest.raises(EntryNotFound, match="A file with this name doesn't exist"):
        backend.commit(a, repo, "main", [DeleteFile("never.txt")], summary="x")
    with pytest.raises(EntryNotFound):
        backend.commit(a, repo, "main", [DeleteFolder("nope/")], summary="x")


def test_commit_is_all_or_nothing(backend, world):
    a, repo = world["alice"], world["pub"]
    head, _ = backend.resolve_revision(repo, "main")
    with pytest.raises(EntryNotFound):
        backend.commit(a, repo, "main", [add(backend, b"ok", "ok.txt"), DeleteFile("missing.txt")], summary="x")
    with pytest.raises(BadRequest):
        backend.commit(a, repo, "main", [add(backend, b"ok", "ok.txt"), AddFile("bad", "0" * 64, 1)], summary="x")
    with pytest.raises(BadRequest):
        backend.commit(a, repo, "main", [add(backend, b"ok", "f"), add(backend, b"x", "f/g")], summary="file as folder")
    assert backend.resolve_revision(repo, "main")[0] == head
    assert backend.count_commits(repo, "main") == 1


@pytest.mark.parametrize("path", ["../x", "a/../x", "/abs", "a\\b", "a\0b", "a//b", "./a", "a/.git/config", ".git",
                                  "", "a/", "x" * 1025, "a\nb"])
def test_commit_rejects_bad_paths(backend, world, path):
    sha, size = backend.store_blob([b"z"], expected_size=1)
    with pytest.raises(BadRequest):
        backend.commit(world["alice"], world["pub"], "main", [AddFile(path, sha, size)], summary="bad")
    if path:  # "" is the root folder for get_entry
        assert backend.get_entry(world["pub"], backend.resolve_revision(world["pub"], "main")[0].oid, path) is None


def test_unicode_and_space_paths_kept_byte_exact(backend, world):
    a, repo = world["alice"], world["pub"]
    c, _ = backend.commit(a, repo, "main", [add(backend, b"u", "dir with space/ünï.txt"), add(backend, b"U", "Dir/A.TXT")],
                          summary="u")
    assert backend.get_entry(repo, c.oid, "dir with space/ünï.txt").size == 1
    assert backend.get_entry(repo, c.oid, "dir/a.txt") is None


def test_parent_commit_precondition(backend, world):
    a, repo = world["alice"], world["pub"]
    head, _ = backend.resolve_revision(repo, "main")
    c1, _ = backend.commit(a, repo, "main", [add(backend, b"1", "f")], summary="one", parent_commit=head.oid)
    with pytest.raises(PreconditionFailed):
        backend.commit(a, repo, "main", [add(backend, b"2", "f")], summary="two", parent_commit=head.oid)
    assert backend.resolve_revision(repo, "main")[0].oid == c1.oid
    with pytest.raises(BadRequest):
        backend.commit(a, repo, "main", [add(backend, b"2", "f")], summary="two", parent_commit="HEAD")


def test_commit_to_tag_or_commit_id_is_rejected(backend, world):
    a, repo = world["alice"], world["pub"]
    head, _ = backend.resolve_revision(repo, "main")
    backend.create_tag(a, repo, "main", "v1")
    for rev in ("v1", head.oid, "refs/tags/v1"):
        with pytest.raises(BadRequest):
            backend.commit(a, repo, rev, [add(backend, b"x", "x")], summary="x")
    with pytest.raises(RevisionNotFound):
        backend.commit(a, repo, "nope", [add(backend, b"x", "x")], summary="x")
    with pytest.raises(BadRequest):
        backend.commit(a, repo, "main", [add(backend, b"x", "x")], summary="  ")


def test_size_limits(tmp_path):
    b = HubBackend(ServerConfig(data_dir=tmp_path / "h", inline_limit=4, max_commit_files=2))
    b.add_user("u")
    u = b.authenticate(b.create_token("u"))
    repo = b.create_repo(u, "model", "u/r")
    with pytest.raises(TooLarge):
        b.commit(u, repo, "main", [add(b, b"12345", "big")], summary="big")
    with pytest.raises(TooLarge):
        b.commit(u, repo, "main", [add(b, b"1", "a"), add(b, b"2", "b"), add(b, b"3", "c")], summary="many")
    b.close()


def test_branches_tags_and_resolution_order(backend, world):
    a, repo = world["alice"], world["pub"]
    base, _ = backend.resolve_revision(repo, "main")
    backend.create_branch(a, repo, "feat/x")
    cx, _ = backend.commit(a, repo, "feat/x", [add(backend, b"x", "x.txt")], summary="on feat/x")
    assert backend.resolve_revision(repo, "main")[0] == base
    assert backend.resolve_revision(repo, "refs/heads/feat/x") == (cx, "refs/heads/feat/x")
    backend.create_tag(a, repo, "feat/x", "v1", message="release")
    # a branch and a tag with the same name: the branch wins; refs/tags/ reaches the tag
    backend.create_branch(a, repo, "v1", starting_point=base.oid)
    assert backend.resolve_revision(repo, "v1") == (base, "refs/heads/v1")
    assert backend.resolve_revision(repo, "refs/tags/v1") == (cx, "refs/tags/v1")
    assert backend.resolve_revision(repo, cx.oid) == (cx, None)
    assert backend.resolve_revision(repo, cx.oid[:10]) == (cx, None)
    refs = backend.list_refs(repo)
    assert [r.name for r in refs["branches"]] == ["feat/x", "main", "v1"]
    assert [(r.name, r.ref, r.target_commit) for r in refs["tags"]] == [("v1", "refs/tags/v1", cx.oid)]
    with pytest.raises(Conflict):
        backend.create_branch(a, repo, "feat/x")
    with pytest.raises(Conflict):
        backend.create_tag(a, repo, "main", "v1")
    with pytest.raises(RevisionNotFound):
        backend.create_branch(a, repo, "y", starting_point="nope")
    for bad in ("refs/heads/x", "a..b", "a b", "x.lock", "x/", "/x", "a~1", "a:b", "a//b", ".hidden", "a@{1}", ""):
        with pytest.raises(BadRequest):
            backend.create_branch(a, repo, bad)
    with pytest.raises(Forbidden):
        backend.delete_branch(a, repo, "main")
    backend.delete_branch(a, repo, "feat/x")
    backend.delete_tag(a, repo, "v1")
    with pytest.raises(RevisionNotFound):
        backend.delete_branch(a, repo, "feat/x")
    with pytest.raises(RevisionNotFound):
        backend.delete_tag(a, repo, "v1")
    with pytest.raises(RevisionNotFound):
        backend.resolve_revision(repo, "refs/tags/v1")
    assert backend.resolve_revision(repo, cx.oid)[0] == cx  # commits stay reachable by id


def test_pull_requests(backend, world):
    a, repo = world["alice"], world["pub"]
    base, _ = backend.resolve_revision(repo, "main")
    c, num = backend.commit(a, repo, "main", [add(backend, b"pr", "pr.txt")], summary="PR commit", create_pr=True)
    assert num == 1
    assert backend.resolve_revision(repo, "main")[0] == base
    assert backend.resolve_revision(repo, "refs/pr/1") == (c, "refs/pr/1")
    c2, none = backend.commit(a, repo, "refs/pr/1", [add(backend, b"more", "more.txt")], summary="more")
    assert none is None and c2.parents == (c.oid,)
    d = backend.get_discussion(a, repo, 1)
    assert d.is_pull_request and d.reference == "refs/pr/1" and d.title == "PR commit" and d.status == "open"
    plain = backend.create_discussion(a, repo, title="question")
    assert plain.num == 2 and plain.reference is None
    assert [x.num for x in backend.list_discussions(a, repo)] == [2, 1]
    prs = backend.list_refs(repo, include_prs=True)["pull_requests"]
    assert [(p.name, p.ref) for p in prs] == [("1", "refs/pr/1")]
    assert backend.list_refs(repo)["pull_requests"] == []


# ---- trees ---------------------------------------------------------------------------------------------------


def test_tree_listing(backend, world):
    a, repo = world["alice"], world["pub"]
    c, _ = backend.commit(a, repo, "main", [add(backend, b"1", "a/b/c.txt"), add(backend, b"2", "a/d.txt"),
                                            add(backend, b"3", "z.txt")], summary="t")
    top = backend.list_tree(repo, c.oid)
    assert [(e.path, e.type) for e in top] == [(".gitattributes", "file"), ("a", "directory"), ("z.txt", "file")]
    assert [e.path for e in backend.list_tree(repo, c.oid, "a")] == ["a/b", "a/d.txt"]
    assert [e.path for e in backend.list_tree(repo, c.oid, "a", recursive=True)] == ["a/b", "a/b/c.txt", "a/d.txt"]
    for missing in ("nope", "z.txt", "a/../z.txt"):
        with pytest.raises(EntryNotFound):
            backend.list_tree(repo, c.oid, missing)
    with pytest.raises(RevisionNotFound):
        backend.list_tree(repo, "0" * 40)
    d = backend.get_entry(repo, c.oid, "a")
    assert d.type == "directory" and d.size == 0 and len(d.oid) == 40


def test_last_commits(backend, world):
    a, repo = world["alice"], world["pub"]
    c1, _ = backend.commit(a, repo, "main", [add(backend, b"1", "a.txt"), add(backend, b"2", "d/b.txt")], summary="1")
    c2, _ = backend.commit(a, repo, "main", [add(backend, b"3", "d/c.txt")], summary="2")
    c3, _ = backend.commit(a, repo, "main", [add(backend, b"1", "a.txt")], summary="same content")  # no change to a.txt
    got = backend.last_commits(repo, c3.oid, ["a.txt", "d", "d/b.txt", "d/c.txt", ".gitattributes", "missing"])
    assert {p: c.title for p, c in got.items()} == {"a.txt": "1", "d": "2", "d/b.txt": "1", "d/c.txt": "2",
                                                    ".gitattributes": "initial commit"}
    assert backend.last_commits(repo, c3.oid, ["a.txt"])["a.txt"] == c1  # cached answer


def test_card_data_and_listing(backend, world):
    a = world["alice"]
    readme = b"---\nlicense: apache-2.0\nlibrary_name: snuggle\ntags:\n- text\n- Tiny\ndatasets: [u/d]\n---\n# Card\n"
    for name in ("alpha-model", "beta-model", "Gamma"):
        repo = backend.create_repo(a, "model", f"alice/{name}")
        if name != "Gamma":
            c, _ = backend.commit(a, repo, "main", [add(backend, readme, "README.md")], summary="card")
            assert backend.card_data(repo, c)["license"] == "apache-2.0"
    repos, total = backend.list_repos(None, "model", filters=["license:apache-2.0", "text"])
    assert total == 2 and {r.repo_id for r in repos} == {"alice/alpha-model", "alice/beta-model"}
    assert "dataset:u/d" in repos[0].tags and "snuggle" in repos[0].tags
    assert backend.list_repos(None, "model", search="GAMMA")[1] == 1
    assert backend.list_repos(None, "model", search="%")[1] == 0
    ids = [r.repo_id for r in backend.list_repos(a, "model", sort="id", direction=-1)[0]]
    assert ids == sorted(ids, reverse=True)
    page, total = backend.list_repos(a, "model", sort="id", limit=2, offset=1)
    assert total == 5 and [r.repo_id for r in page] == sorted(ids)[1:3]
    assert backend.list_repos(a, "model", author="bob") == ([], 0)
    assert backend.list_repos(a, "dataset") == ([], 0)
    first = backend.get_repo(a, "model", "alice/alpha-model")
    backend.commit(a, first, "main", [add(backend, b"# no card\n", "README.md")], summary="drop card")
    assert backend.get_repo(a, "model", "alice/alpha-model").tags == ()


# ---- LFS usability (spec §12) ---------------------------------------------------------------------------------


def test_lfs_object_usable_rule(backend, world):
    a, b = world["alice"], world["bob"]
    secret = b"private weights" * 10
    sha, size = backend.store_blob([secret], expected_size=len(secret))
    backend.record_lfs_upload(a, world["priv"], sha, size)
    assert backend.lfs_object_usable(a, world["priv"], sha)
    c, _ = backend.commit(a, world["priv"], "main", [AddFile("w.bin", sha, size, lfs=True)], summary="w")
    e = backend.get_entry(world["priv"], c.oid, "w.bin")
    assert e.lfs == {"oid": sha, "size": size, "pointerSize": e.lfs["pointerSize"]} and e.size == size
    bob_repo = backend.create_repo(b, "model", "bob/thief")
    assert not backend.lfs_object_usable(b, bob_repo, sha)
    with pytest.raises(Unprocessable):
        backend.commit(b, bob_repo, "main", [AddFile("stolen.bin", sha, size, lfs=True)], summary="steal")
    # alice's object becomes usable by everybody once a public repo references it
    backend.commit(a, world["pub"], "main", [AddFile("w.bin", sha, None, lfs=True)], summary="publish")
    assert backend.lfs_object_usable(b, bob_repo, sha)
    with pytest.raises(Unprocessable):
        backend.commit(a, world["pub"], "main", [AddFile("x.bin", "f" * 64, 3, lfs=True)], summary="missing")
    with pytest.raises(Unprocessable):
        backend.commit(a, world["pub"], "main", [AddFile("x.bin", sha, size + 1, lfs=True)], summary="wrong size")


def test_store_blob_regular_oid_recorded_lazily(backend, world):
    sha, size = backend.store_blob(iter([b"hel", b"lo\n"]))  # size unknown up front
    c, _ = backend.commit(world["alice"], world["pub"], "main", [AddFile("h.txt", sha, size)], summary="h")
    assert backend.get_entry(world["pub"], c.oid, "h.txt").oid == "ce013625030ba8dba906f756967f9e9ca394464a"


# ---- internals -------------------------------------------------------------------------------------------------


def test_unique_violation_becomes_conflict(backend, world):
    """Two PostgreSQL sessions creating one name at once hit the unique key: that must read as 409, not 500."""
    from snuggle.hub.server import db

    with pytest.raises(Conflict, match="taken"):
        with backend._write(conflict="taken") as s:
            s.add(db.User(name="alice"))
    assert backend.user_exists("alice") and not backend.user_exists("nobody")


def test_lru_is_bounded_by_weight():
    from snuggle.hub.server.backend_trees import LRU

    cache = LRU(10, weight=len)
    cache.put("a", "x" * 6)
    cache.put("b", "y" * 3)
    assert cache.get("a") == "x" * 6  # touch a: b is now the oldest
    cache.put("c", "z" * 4)
    assert cache.get("b") is None and cache.get("a") == "x" * 6 and cache.get("c") == "z" * 4


def test_gc_blobs_keeps_referenced_and_recent(backend, world):
    import os
    import time

    a = world["alice"]
    kept, _ = backend.commit(a, world["pub"], "main", [add(backend, b"kept forever", "k.txt")], summary="k")
    gone = backend.create_repo(a, "model", "alice/gone")
    backend.commit(a, gone, "main", [add(backend, b"only in a deleted repo", "g.txt")], summary="g")
    orphan_sha, _ = backend.store_blob([b"rejected upload"])
    recent_sha, _ = backend.store_blob([b"commit in flight"])
    backend.delete_repo(a, "model", "alice/gone")
    old = time.time() - 7200
    for sha in (orphan_sha, add(backend, b"only in a deleted repo", "x").sha256, add(backend, b"kept forever", "x").sha256):
        os.utime(backend.blob_path(sha), (old, old))
    stats = backend.gc_blobs(grace_seconds=3600)
    assert stats["removed"] == 2
    assert not backend.blob_path(orphan_sha).exists() and backend.blob_path(recent_sha).exists()
    assert files_at(backend, world["pub"])["k.txt"] == b"kept forever"
