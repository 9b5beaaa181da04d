"""20 clients committing to one repo at the same moment (spec §12 "Integrity and atomicity").

With `parentCommit` every commit either lands or gets 412 (all 20 start from the same head, so exactly one
can land); without it all 20 land, one on top of the other. Either way the history stays linear: the
first-parent chain of main lists every landed commit exactly once, each landed commit holds its own file
and those of the commits before it, and every landed file reads back with its bytes. Run on SQLite (the
session server) and on PostgreSQL.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from tests.hub.system._hubhttp import Hub, git_blob_oid, unique_name

CLIENTS = 20


def commit_all_at_once(endpoint: str, token: str, repo_id: str, tag: str, parent: str | None) -> list[tuple]:
    """CLIENTS threads, each with its own connection, POST one commit after a barrier.

    Returns (index, path, data, status, commitOid or None, body) per client."""
    barrier = threading.Barrier(CLIENTS)

    def one(i: int):
        path, data = f"{tag}/client-{i:02d}.bin", os.urandom(1000 + i)
        with Hub(endpoint, token) as hub:
            barrier.wait(timeout=60)
            r = hub.commit(repo_id, files={path: data}, parent=parent, summary=f"{tag} {i}")
        oid = r.json().get("commitOid") if r.status_code == 200 else None
        return i, path, data, r.status_code, oid, r.text[:300]

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(CLIENTS)))


def check_history(hub: Hub, repo_id: str, landed: list[tuple], start_head: str) -> None:
    """Linear history over the landed commits; each commit's tree has its file; all files read back."""
    chain = [c["id"] for c in hub.commits(repo_id)]
    assert len(chain) == len(set(chain)), "a commit appears twice in the first-parent history"
    landed_ids = [row[4] for row in landed]
    assert len(set(landed_ids)) == len(landed_ids), "two clients were told the same commit id"
    idx = chain.index(start_head)
    # newest first: everything above start_head is exactly the set of commits that landed in this round
    assert sorted(chain[:idx]) == sorted(landed_ids), (chain[:idx], landed_ids)
    by_id = {row[4]: row for row in landed}
    seen: dict[str, bytes] = {}
    for commit_id in reversed(chain[:idx]):  # oldest first: each commit adds one file on top of the last
        _, path, data, *_ = by_id[commit_id]
        seen[path] = data
        files = hub.files(repo_id, rev=commit_id)
        assert {p: files.get(p) for p in seen} == {p: git_blob_oid(d) for p, d in seen.items()}, (
            f"commit {commit_id} does not hold the files of the commits before it")
    for path, data in seen.items():
        r = hub.download(repo_id, path)
        assert r.status_code == 200 and r.content == data, f"{path}: {r.status_code}"


def run_round(endpoint: str, token: str) -> None:
    with Hub(endpoint, token) as hub:
        repo_id = hub.create_repo(unique_name("concurrency"))
        # with parentCommit: all start from the same head, exactly one may land, the rest get 412
        head0 = hub.head(repo_id)
        results = commit_all_at_once(endpoint, token, repo_id, "with-parent", head0)
        assert {row[3] for row in results} <= {200, 412}, [(r[3], r[5]) for r in results if r[3] not in (200, 412)]
        landed = [row for row in results if row[3] == 200]
        assert len(landed) == 1, f"{len(landed)} commits landed on the same parentCommit"
        check_history(hub, repo_id, landed, head0)
        assert hub.head(repo_id) == landed[0][4]

        # without parentCommit: every commit lands, serialised on top of each other
        head1 = hub.head(repo_id)
        results = commit_all_at_once(endpoint, token, repo_id, "no-parent", None)
        assert [row[3] for row in results] == [200] * CLIENTS, [(r[3], r[5]) for r in results if r[3] != 200]
        check_history(hub, repo_id, results, head1)
        files = hub.files(repo_id)
        assert sum(p.startswith("no-parent/") for p in files) == CLIENTS
        assert sum(p.startswith("with-parent/") for p in files) == 1


def test_concurrent_commits_sqlite(hub_server):
    run_round(hub_server.endpoint, hub_server.token)


def test_concurrent_commits_postgresql(pg_hub_server):
    run_round(pg_hub_server.endpoint, pg_hub_server.token)
