"""Concurrent commits: each lands or gets 412, history stays linear, every landed file is readable.

Threads share one backend (per-ref lock + CAS) or use two backends on one SQLite file (two server
processes: only the database's compare-and-swap protects the ref).
"""

from __future__ import annotations

import threading

import pytest

from snuggle.hub.server.backend import HubBackend
from snuggle.hub.server.config import ServerConfig
from snuggle.hub.server.errors import PreconditionFailed
from snuggle.hub.server.records import AddFile
from tests.hub.server._pg import pg_server, pg_url  # noqa: F401  (fixtures)


def _race(backends, principal, repo, n=20):
    head, _ = backends[0].resolve_revision(repo, "main")
    barrier = threading.Barrier(n)
    landed, rejected, errors = {}, [], []

    def worker(i):
        backend = backends[i % len(backends)]
        data = f"file {i}\n".encode()
        sha, size = backend.store_blob([data], expected_size=len(data))
        # even workers pin the head they saw (expect 412 unless first), odd ones commit on top of any head
        parent = head.oid if i % 2 == 0 else None
        barrier.wait()
        try:
            commit, _ = backend.commit(principal, repo, "main", [AddFile(f"f/{i}.txt", sha, size)],
                                       summary=f"commit {i}", parent_commit=parent)
            landed[i] = commit.oid
        except PreconditionFailed:
            rejected.append(i)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(landed) + len(rejected) == n
    # at most one pinned commit can win; every unpinned commit lands
    assert len([i for i in landed if i % 2 == 0]) <= 1
    assert all(i in landed for i in range(1, n, 2))
    history = backends[0].list_commits(repo, "main")
    assert len(history) == len(landed) + 1 and history[-1].oid == head.oid
    for newer, older in zip(history, history[1:]):
        assert newer.parents == (older.oid,)  # linear
    assert {c.oid for c in history[:-1]} == set(landed.values())
    tip = history[0]
    for i in landed:
        entry = backends[0].get_entry(repo, tip.oid, f"f/{i}.txt")
        assert backends[0].blob_path(entry.sha256).read_bytes() == f"file {i}\n".encode()


@pytest.mark.parametrize("instances", [1, 2])
def test_twenty_concurrent_committers(tmp_path, instances):
    config = ServerConfig(data_dir=tmp_path / "hub")
    backends = [HubBackend(config) for _ in range(instances)]
    backends[0].add_user("alice")
    alice = backends[0].authenticate(backends[0].create_token("alice"))
    repo = backends[0].create_repo(alice, "model", "alice/race")
    try:
        _race(backends, alice, repo)
    finally:
        for b in backends:
            b.close()


def test_twenty_concurrent_committers_postgres(tmp_path, pg_url):
    """Two backends on one PostgreSQL database: READ COMMITTED + UPDATE ... WHERE target = old head."""
    backends = [HubBackend(ServerConfig(data_dir=tmp_path / "hub", database_url=pg_url)) for _ in range(2)]
    backends[0].add_user("alice")
    alice = backends[0].authenticate(backends[0].create_token("alice"))
    repo = backends[0].create_repo(alice, "model", "alice/race")
    try:
        _race(backends, alice, repo)
    finally:
        for b in backends:
            b.close()
