"""Blob garbage collection: HubBackend.gc_blobs and `snuggle hub gc` (also while a server runs)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import update

from snuggle.hub.server import db
from snuggle.hub.server.backend import HubBackend
from snuggle.hub.server.config import ServerConfig
from snuggle.hub.server.records import AddFile
from tests.hub.conftest import REPO, start_hub_server
from tests.hub.server._hubapi import add_files, auth, commit, create_repo, resolve_url

OLD = time.time() - 2 * 3600


def _age(backend, *shas):
    for sha in shas:
        os.utime(backend.blob_path(sha), (OLD, OLD))


def _age_all(data_dir):
    for root, _dirs, files in os.walk(data_dir / "blobs"):
        for name in files:
            os.utime(os.path.join(root, name), (OLD, OLD))


@pytest.fixture
def hub(tmp_path):
    backend = HubBackend(ServerConfig(data_dir=tmp_path / "hub"))
    backend.add_user("alice")
    alice = backend.authenticate(backend.create_token("alice"))
    yield backend, alice
    backend.close()


def _add(backend, data: bytes, path: str) -> AddFile:
    sha, size = backend.store_blob([data], expected_size=len(data))
    return AddFile(path, sha, size)


def test_deleted_repo_blobs_go_shared_and_young_stay_dry_run_deletes_nothing(hub):
    backend, alice = hub
    keep = backend.create_repo(alice, "model", "alice/keep")
    gone = backend.create_repo(alice, "model", "alice/gone")
    shared, only_gone = _add(backend, b"shared weights", "w.bin"), _add(backend, b"only in the deleted repo", "x.txt")
    backend.commit(alice, keep, "main", [shared], summary="keep")
    backend.commit(alice, gone, "main", [shared, only_gone], summary="gone")
    replaced = _add(backend, b"old version", "v.txt")
    backend.commit(alice, keep, "main", [replaced], summary="v1")
    backend.commit(alice, keep, "main", [_add(backend, b"new version", "v.txt")], summary="v2")
    refused, _ = backend.store_blob([b"staged by a refused commit"])
    backend.delete_repo(alice, "model", "alice/gone")
    _age(backend, shared.sha256, only_gone.sha256, refused, replaced.sha256)
    young, _ = backend.store_blob([b"stored by a commit in flight"])

    dry = backend.gc_blobs(grace_seconds=3600, dry_run=True)
    assert dry["removed_sha256"] == sorted([only_gone.sha256, refused])
    assert dry["bytes_freed"] == len(b"only in the deleted repo") + len(b"staged by a refused commit")
    assert backend.blob_path(only_gone.sha256).exists() and backend.blob_path(refused).exists()

    done = backend.gc_blobs(grace_seconds=3600)
    assert done["removed_sha256"] == dry["removed_sha256"] and done["bytes_freed"] == dry["bytes_freed"]
    assert not backend.blob_path(only_gone.sha256).exists() and not backend.blob_path(refused).exists()
    # shared with a live repo, still in an older commit of a live repo, or young: kept
    for sha in (shared.sha256, replaced.sha256, young):
        assert backend.blob_path(sha).exists()
    commit_v1 = backend.list_commits(keep, "main")[1]
    assert backend.get_entry(keep, commit_v1.oid, "v.txt").sha256 == replaced.sha256
    assert backend.gc_blobs(grace_seconds=3600)["removed"] == 0  # nothing left to do


def test_uncommitted_lfs_upload_survives_its_grace_period_only(hub):
    backend, alice = hub
    repo = backend.create_repo(alice, "model", "alice/lfs")
    sha, size = backend.store_blob([b"big object, uploaded, not committed yet"])
    backend.record_lfs_upload(alice, repo, sha, size)
    _age(backend, sha)  # the file is old (e.g. a deduplicated upload) but the upload record is recent
    assert backend.gc_blobs(grace_seconds=3600)["removed"] == 0
    assert backend.lfs_object_usable(alice, repo, sha)
    with backend._write() as s:  # the upload is now two hours old and was never committed
        s.execute(update(db.LfsUpload).values(created_at=datetime.now(timezone.utc) - timedelta(hours=2)))
    assert backend.gc_blobs(grace_seconds=3600)["removed_sha256"] == [sha]
    assert backend.blob_size(sha) is None and not backend.lfs_object_usable(alice, repo, sha)


def _gc_cli(data_dir, *extra) -> str:
    proc = subprocess.run([sys.executable, "-m", "snuggle.cli.main", "hub", "gc", "--data", str(data_dir), *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _lfs_upload(server, repo, data: bytes) -> str:
    oid = hashlib.sha256(data).hexdigest()
    r = httpx.post(f"{server.endpoint}/{repo}.git/info/lfs/objects/batch",
                   json={"operation": "upload", "transfer": ["basic"], "objects": [{"oid": oid, "size": len(data)}]},
                   headers={**auth(server.token), "Accept": "application/vnd.git-lfs+json"})
    assert r.status_code == 200, r.text
    (obj,) = r.json()["objects"]
    if "actions" in obj:
        assert httpx.put(obj["actions"]["upload"]["href"], content=data).status_code == 200
    return oid


def _lfs_line(path, data):
    return {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": hashlib.sha256(data).hexdigest(),
                                        "size": len(data)}}


def test_gc_cli_while_serving_keeps_commits_working(tmp_path):
    server = start_hub_server(tmp_path / "data")
    try:
        keep, gone = create_repo(server), create_repo(server)
        add_files(server, keep, {"shared.txt": b"shared"})
        add_files(server, gone, {"shared.txt": b"shared", "only.txt": b"only in the deleted repo"})
        old_lfs = os.urandom(2000)
        _lfs_upload(server, keep, old_lfs)  # uploaded long ago, never committed
        r = httpx.request("DELETE", f"{server.endpoint}/api/repos/delete", json={"name": gone.split("/")[1]},
                          headers=auth(server.token))
        assert r.status_code == 200, r.text
        _age_all(server.data_dir)
        backend = HubBackend(ServerConfig(data_dir=server.data_dir))
        try:
            with backend._write() as s:
                s.execute(update(db.LfsUpload).values(created_at=datetime.now(timezone.utc) - timedelta(hours=2)))
        finally:
            backend.close()

        out = _gc_cli(server.data_dir, "--dry-run")
        assert out.startswith("Would remove 2 unreferenced blob(s), ") and f"{2000 + 24} bytes" in out
        # in flight while gc runs: an LFS object uploaded (not committed yet), and the old upload announced
        # again by the batch API (the client will not upload it again)
        fresh_lfs = os.urandom(3000)
        _lfs_upload(server, keep, fresh_lfs)
        _lfs_upload(server, keep, old_lfs)
        out = _gc_cli(server.data_dir)
        assert out.startswith("Removed 1 unreferenced blob(s), 24 bytes")  # only.txt
        r = commit(server, keep, [_lfs_line("fresh.bin", fresh_lfs), _lfs_line("old.bin", old_lfs)])
        assert r.status_code == 200, r.text
        for path, data in (("fresh.bin", fresh_lfs), ("old.bin", old_lfs), ("shared.txt", b"shared")):
            assert httpx.get(resolve_url(server, keep, path), headers=auth(server.token)).content == data
        # a commit of content gc just removed stores it again
        add_files(server, keep, {"again.txt": b"only in the deleted repo"})
        assert httpx.get(resolve_url(server, keep, "again.txt"), headers=auth(server.token)).content == \
            b"only in the deleted repo"
        assert _gc_cli(server.data_dir, "--grace-seconds", "0").startswith("Removed 0 ")
    finally:
        server.stop()


def test_gc_cli_refuses_a_missing_data_dir(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "snuggle.cli.main", "hub", "gc", "--data", str(tmp_path / "nope")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "nope" in proc.stderr and not (tmp_path / "nope").exists()
