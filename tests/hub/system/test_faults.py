"""The server killed (SIGKILL) in the middle of a large upload (spec §12 "Integrity and atomicity").

Two uploads are cut: a commit whose NDJSON carries a big inline file (killed while the body streams in), and an
LFS PUT to a signed URL (server started with a small inline limit so the file goes through LFS). After a
restart on the same data dir the repo is unchanged (same head, same files), every file in the blob store is a
complete object stored under its own sha256 (a half-written temp file is never reachable), and the same upload
retried succeeds.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

import httpx
import pytest

from tests.hub.conftest import start_hub_server
from tests.hub.system._hubhttp import Hub, blob_store_files, header_line, lfs_line, ndjson, unique_name

MiB = 1024 * 1024
SHA256_NAME = re.compile(r"[0-9a-f]{64}")


def assert_blob_store_sound(data_dir: Path) -> None:
    """Every file in the blob store is named by a sha256 and holds exactly the bytes of that hash."""
    for rel in blob_store_files(data_dir):
        path = Path(data_dir) / "blobs" / rel
        assert SHA256_NAME.fullmatch(path.name), f"non-object file left in the blob store: {rel}"
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(MiB), b""):
                digest.update(chunk)
        assert digest.hexdigest() == path.name, f"blob {rel} does not hold the bytes of its name (half-written?)"


def snapshot(hub: Hub, repo_id: str) -> tuple[str, dict]:
    return hub.head(repo_id), hub.files(repo_id)


def killing_stream(chunks, server, kill_after: int):
    """Yield `chunks`; once `kill_after` bytes went out, SIGKILL the server and keep sending."""
    sent = 0
    for chunk in chunks:
        yield chunk
        sent += len(chunk)
        if sent >= kill_after and server.process is not None:
            server.stop(kill=True)


# default runs use files of 16 MiB (still far more than the socket buffers hold, so the server dies mid-body);
# the slow variants move files of 256 MiB
SIZES = [pytest.param(16 * MiB, id="16MiB"), pytest.param(256 * MiB, id="256MiB", marks=pytest.mark.slow)]


@pytest.mark.parametrize("size", SIZES)
def test_kill_during_inline_commit_leaves_repo_unchanged(tmp_path, size):
    server = start_hub_server(tmp_path / "data")
    try:
        hub = Hub(server.endpoint, server.token)
        repo_id = hub.create_repo(unique_name("fault-inline"))
        assert hub.commit(repo_id, files={"keep.txt": b"before the crash\n"}).status_code == 200
        before = snapshot(hub, repo_id)
        big = os.urandom(size // 3 * 3)

        def body():
            yield ndjson([header_line("big inline file")])
            yield b'{"key": "file", "value": {"path": "big.bin", "encoding": "base64", "content": "'
            for start in range(0, len(big), 3 * MiB):  # multiples of 3 bytes: the base64 pieces concatenate
                yield base64.b64encode(big[start:start + 3 * MiB])
            yield b'"}}\n'

        try:
            r = hub.commit(repo_id, body=killing_stream(body(), server, kill_after=size // 2))
            raise AssertionError(f"the commit finished although the server was killed: {r.status_code}")
        except httpx.TransportError:
            pass
        hub.close()

        server.start()
        hub = Hub(server.endpoint, server.token)
        assert snapshot(hub, repo_id) == before
        assert hub.download(repo_id, "big.bin").status_code == 404
        assert_blob_store_sound(server.data_dir)

        r = hub.commit(repo_id, files={"big.bin": big}, parent=before[0])
        assert r.status_code == 200, r.text
        got = hub.download(repo_id, "big.bin")
        assert got.status_code == 200 and got.content == big
        assert hub.download(repo_id, "keep.txt").content == b"before the crash\n"
        assert_blob_store_sound(server.data_dir)
        hub.close()
    finally:
        server.stop()


@pytest.mark.parametrize("size", SIZES)
def test_kill_during_lfs_put_leaves_repo_unchanged(tmp_path, size):
    server = start_hub_server(tmp_path / "data", extra_args=["--inline-limit", str(1 * MiB)])
    try:
        hub = Hub(server.endpoint, server.token)
        repo_id = hub.create_repo(unique_name("fault-lfs"))
        assert hub.commit(repo_id, files={"keep.txt": b"before the crash\n"}).status_code == 200
        before = snapshot(hub, repo_id)
        big = os.urandom(size)
        oid = hashlib.sha256(big).hexdigest()

        r = hub.http.post(f"/api/models/{repo_id}/preupload/main",
                          json={"files": [{"path": "big.bin", "size": len(big),
                                           "sample": base64.b64encode(big[:512]).decode()}]})
        assert r.status_code == 200 and r.json()["files"][0]["uploadMode"] == "lfs", r.text
        r = hub.lfs_batch(repo_id, [{"oid": oid, "size": len(big)}])
        assert r.status_code == 200, r.text
        href = r.json()["objects"][0]["actions"]["upload"]["href"]

        chunks = (big[i:i + MiB] for i in range(0, len(big), MiB))
        try:
            put = httpx.put(href, content=killing_stream(chunks, server, kill_after=size // 3), timeout=60)
            raise AssertionError(f"the PUT finished although the server was killed: {put.status_code}")
        except httpx.TransportError:
            pass
        hub.close()

        server.start()
        hub = Hub(server.endpoint, server.token)
        assert snapshot(hub, repo_id) == before
        assert_blob_store_sound(server.data_dir)
        assert oid not in {Path(p).name for p in blob_store_files(server.data_dir)}
        # the object is not stored: a new batch asks for the upload again, and committing it is refused
        r = hub.lfs_batch(repo_id, [{"oid": oid, "size": len(big)}])
        assert "upload" in (r.json()["objects"][0].get("actions") or {}), r.text
        r = hub.commit(repo_id, lines=[header_line("lfs before upload"), lfs_line("big.bin", oid=oid, size=len(big))])
        assert r.status_code in (400, 422), r.text
        assert snapshot(hub, repo_id) == before

        hub.lfs_upload(repo_id, big)  # the retry: batch, PUT, verify
        r = hub.commit(repo_id, lines=[header_line("lfs retry", before[0]), lfs_line("big.bin", big)])
        assert r.status_code == 200, r.text
        got = hub.download(repo_id, "big.bin")
        assert got.status_code == 200 and got.headers.get("x-linked-etag", "").strip('"') == oid
        assert got.content == big
        assert_blob_store_sound(server.data_dir)
        hub.close()
    finally:
        server.stop()
