"""The Hub server's throughput paths: token cache, one-query /resolve lookup, batched blob writes and
git-id lookups, the ref row lock between processes, `snuggle hub serve --workers`, the bounded
httptools request head. Behaviour only (query counts, results, errors), never timings."""

from __future__ import annotations

import hashlib
import os
import socket
import threading

import httpx
import pytest
from sqlalchemy import event

from snuggle.hub.server import backend_commits
from snuggle.hub.server.backend import HubBackend
from snuggle.hub.server.backend_trees import LRU
from snuggle.hub.server.config import ServerConfig
from snuggle.hub.server.errors import BadRequest, RepoNotFound, RevisionNotFound, Unauthorized
from snuggle.hub.server.records import AddFile
from tests.hub.server._pg import pg_server, pg_url  # noqa: F401  (fixtures)


@pytest.fixture
def backend(tmp_path):
    b = HubBackend(ServerConfig(data_dir=tmp_path / "hub"))
    yield b
    b.close()


class Statements:
    """SQL statements a backend's engine runs while active (an executemany counts once)."""

    def __init__(self, backend):
        self.engine, self.sql = backend._engine, []

    def _record(self, conn, cursor, statement, *args):
        self.sql.append(statement.split()[0].upper())

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)

    def count(self, verb: str) -> int:
        return self.sql.count(verb)


def _world(backend):
    backend.add_user("alice")
    backend.add_user("bob")
    token = backend.create_token("alice")
    alice = backend.authenticate(token)
    repo = backend.create_repo(alice, "model", "alice/r")
    sha, size = backend.store_blob([b"hello"], expected_size=5)
    commit, _ = backend.commit(alice, repo, "main", [AddFile("dir/a.txt", sha, size)], summary="add")
    return token, alice, repo, commit


# ---- token cache ---------------------------------------------------------------------------------------


def test_authentication_is_cached_and_local_changes_apply_at_once(backend):
    token, alice, _, _ = _world(backend)
    with Statements(backend) as st:
        assert backend.authenticate(token) == alice
        assert backend.authenticate(token) == alice
    assert st.count("SELECT") == 0  # cached by _world's authenticate
    backend.add_org_member("acme", "alice")
    assert backend.authenticate(token).orgs == frozenset({"acme"})  # membership change seen at once
    backend.revoke_token(token)
    with pytest.raises(Unauthorized):
        backend.authenticate(token)


def test_auth_cache_zero_and_other_processes(tmp_path):
    """Another process (here: a second backend) revoking a token: seen at once without the cache."""
    config = ServerConfig(data_dir=tmp_path / "hub", auth_cache_seconds=0)
    a, b = HubBackend(config), HubBackend(config)
    try:
        token, *_ = _world(a)
        with Statements(a) as st:
            a.authenticate(token)
            a.authenticate(token)
        assert st.count("SELECT") == 2
        b.revoke_token(token)
        with pytest.raises(Unauthorized):
            a.authenticate(token)
    finally:
        a.close()
        b.close()


def test_auth_cache_bounds(tmp_path):
    from snuggle.errors import ConfigError

    with pytest.raises(ConfigError, match="auth_cache_seconds"):
        ServerConfig(data_dir=tmp_path, auth_cache_seconds=60)


# ---- /resolve lookup -----------------------------------------------------------------------------------


def test_get_repo_at_matches_get_repo_and_resolve_revision(backend):
    _, alice, repo, commit = _world(backend)
    backend.create_tag(alice, repo, "main", "v1")
    backend.create_branch(alice, repo, "dev")
    # the record as it is now (the commit moved last_modified, by a second when it crossed one)
    repo = backend.get_repo(alice, "model", "alice/r")
    for rev in ("main", "v1", "dev", "refs/heads/main", "refs/tags/v1", commit.oid, commit.oid[:10]):
        expected = backend.resolve_revision(repo, rev)
        with Statements(backend) as st:
            got_repo, got_commit, ref = backend.get_repo_at(alice, "model", "alice/r", rev)
        assert (got_repo, got_commit, ref) == (repo, *expected)
        if not rev.startswith(commit.oid[:10]):
            assert st.count("SELECT") == 1  # repo and refs in one query; the commit is cached
    for rev in ("nope", "", "x" * 700, "refs/pr/9"):
        with pytest.raises(RevisionNotFound):
            backend.get_repo_at(alice, "model", "alice/r", rev)
    secret = backend.create_repo(alice, "model", "alice/secret", private=True)
    assert backend.get_repo_at(alice, "model", "alice/secret", "main")[0] == secret
    bob = backend.authenticate(backend.create_token("bob"))
    for who, repo_id, rev in ((bob, "alice/secret", "main"), (None, "alice/secret", "nope"),
                              (alice, "alice/none", "main"), (alice, "not a repo", "main")):
        with pytest.raises(RepoNotFound):  # never a revision error before the repo check
            backend.get_repo_at(who, "model", repo_id, rev)


def test_resolve_runs_with_an_empty_tree_cache(backend):
    """HEAD /resolve reads on the event loop only from cached folders; a cold cache goes to a thread."""
    from starlette.testclient import TestClient

    from snuggle.hub.server.app import create_app

    token, _, _, commit = _world(backend)
    assert backend.loop_reads  # SQLite
    with TestClient(create_app(backend)) as client:
        for fresh in (True, False):
            if fresh:
                backend._tree_cache = LRU(1000, weight=len)
            r = client.head("/alice/r/resolve/main/dir/a.txt", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and r.headers["x-repo-commit"] == commit.oid
            assert r.headers["content-length"] == "5"
        r = client.get("/alice/r/resolve/main/dir/missing.txt")
        assert r.status_code == 404 and r.headers["x-error-code"] == "EntryNotFound"


# ---- batched blob writes and lookups -------------------------------------------------------------------


def test_store_blobs_batches_database_writes_and_git_id_lookups(backend):
    contents = [f"file {i}\n".encode() for i in range(600)]
    items = [([c], hashlib.sha256(c).hexdigest(), len(c)) for c in contents]
    with Statements(backend) as st:
        stored = backend.store_blobs(items)
    assert stored == [(sha, size) for _, sha, size in items]
    assert st.count("INSERT") == 1 and st.count("BEGIN") == 1  # one transaction, one executemany
    for c, (sha, _) in zip(contents, stored):
        assert backend.blob_path(sha).read_bytes() == c
    assert os.listdir(backend.config.tmp_dir) == []
    with Statements(backend) as st:
        oids = backend.blob_git_oids(sha for sha, _ in stored)
    assert st.count("SELECT") == 2  # 500 per query
    from snuggle.hub.server.gitobjects import git_blob_oid

    assert oids == {sha: git_blob_oid(c) for c, (sha, _) in zip(contents, stored)}


def test_store_blobs_is_all_or_nothing(backend):
    good = ([b"good"], hashlib.sha256(b"good").hexdigest(), 4)
    bad = ([b"bad"], "0" * 64, 3)
    with pytest.raises(BadRequest, match="hash mismatch"):
        backend.store_blobs([good, bad])
    assert backend.blob_size(good[1]) is None
    assert os.listdir(backend.config.tmp_dir) == []
    assert backend.store_blobs([good, good]) == [(good[1], 4)] * 2  # duplicates deduplicated


def test_thousand_file_commit_one_git_id_query(backend):
    _, alice, repo, _ = _world(backend)
    items = [([f"{i}".encode()], hashlib.sha256(f"{i}".encode()).hexdigest(), len(f"{i}")) for i in range(1000)]
    stored = backend.store_blobs(items)
    ops = [AddFile(f"d{i % 7}/f{i}.txt", sha, size) for i, (sha, size) in enumerate(stored)]
    with Statements(backend) as st:
        commit, _ = backend.commit(alice, repo, "main", ops, summary="many")
    blob_selects = [s for s in st.sql if s == "SELECT"]
    assert len(blob_selects) <= 8  # a handful of queries, not one per file
    # + 7 folders, .gitattributes, dir and dir/a.txt
    assert len(backend.list_tree(repo, commit.oid, recursive=True)) == 1000 + 7 + 3


# ---- commits from several processes --------------------------------------------------------------------


def _two_process_commits(backends, monkeypatch, n=12):
    lost = []

    class CountingLostRace(backend_commits._LostRace):
        def __init__(self, *args):
            lost.append(1)
            super().__init__(*args)

    monkeypatch.setattr(backend_commits, "_LostRace", CountingLostRace)
    backends[0].add_user("alice")
    alice = backends[0].authenticate(backends[0].create_token("alice"))
    repo = backends[0].create_repo(alice, "model", "alice/race")
    barrier, errors = threading.Barrier(n), []

    def worker(i):
        b = backends[i % len(backends)]
        sha, size = b.store_blob([f"{i}".encode()], expected_size=len(f"{i}"))
        barrier.wait()
        try:
            b.commit(alice, repo, "main", [AddFile(f"f{i}.txt", sha, size)], summary=f"c{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(backends[1].list_commits(repo, "main")) == n + 1
    return lost


def test_commits_from_two_backends_never_lose_the_race_sqlite(tmp_path, monkeypatch):
    backends = [HubBackend(ServerConfig(data_dir=tmp_path / "hub")) for _ in range(2)]
    try:
        assert _two_process_commits(backends, monkeypatch) == []
    finally:
        for b in backends:
            b.close()


def test_commits_from_two_backends_wait_on_the_ref_row_postgres(tmp_path, pg_url, monkeypatch):
    """SELECT ... FOR UPDATE on the ref: a commit from another process waits instead of retrying."""
    backends = [HubBackend(ServerConfig(data_dir=tmp_path / "hub", database_url=pg_url)) for _ in range(2)]
    try:
        assert not backends[0].loop_reads
        assert _two_process_commits(backends, monkeypatch) == []
    finally:
        for b in backends:
            b.close()


# ---- serving -------------------------------------------------------------------------------------------


def _raw_request(port: int, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head)
        out = b""
        while b"\r\n" not in out:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
        return out


def test_request_head_is_bounded(hub_server):
    from snuggle.hub.server.server_main import http_protocol

    try:
        import httptools  # noqa: F401
        assert http_protocol().__name__ == "BoundedHttpToolsProtocol"
    except ImportError:
        assert http_protocol() == "h11"
    port = int(hub_server.endpoint.rsplit(":", 1)[1])
    ok = _raw_request(port, b"GET /api/whoami-v2 HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 8000 + b"\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 401")
    big = b"GET /api/whoami-v2 HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-Pad-%d: %s\r\n" % (i, b"a" * 4000) for i in range(100)) + b"\r\n"
    assert _raw_request(port, big).startswith(b"HTTP/1.1 400")


def test_serve_workers(tmp_path, monkeypatch):
    """`snuggle hub serve --workers 2`: two processes on one port; concurrent commits all land."""
    import psutil

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    from snuggle.hub import CommitOperationAdd, HfApi
    from tests.hub.conftest import start_hub_server

    handle = start_hub_server(tmp_path / "data", extra_args=["--workers", "2"])
    try:
        workers = [p for p in psutil.Process(handle.process.pid).children() if "spawn" in " ".join(p.cmdline())]
        assert len(workers) == 2
        api = HfApi(endpoint=handle.endpoint, token=handle.token)
        api.create_repo("alice/w")
        errors = []

        def commit(i):
            try:
                api.create_commit("alice/w", [CommitOperationAdd(f"f{i}.txt", f"{i}".encode())], commit_message=f"c{i}")
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(repr(exc))

        threads = [threading.Thread(target=commit, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(api.list_repo_files("alice/w")) == sorted([".gitattributes"] + [f"f{i}.txt" for i in range(8)])
        assert len(api.list_repo_commits("alice/w")) == 9
        auth = {"Authorization": f"Bearer {handle.token}"}
        with httpx.Client(headers=auth) as http:
            for i in range(8):  # keep-alive or not, any worker answers the same
                r = http.head(f"{handle.endpoint}/alice/w/resolve/main/f{i}.txt")
                assert r.status_code == 200 and r.headers["content-length"] == str(len(f"{i}"))
    finally:
        handle.stop()
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers)
