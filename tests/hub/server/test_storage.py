"""The content-addressed blob store: layout, hashing while streaming, dedup, limits, nothing left behind."""

from __future__ import annotations

import hashlib
import os

import pytest

from snuggle.hub.server.errors import BadRequest, TooLarge
from snuggle.hub.server.gitobjects import git_blob_oid
from snuggle.hub.server.storage import BlobStore


@pytest.fixture
def store(tmp_path):
    return BlobStore(tmp_path)


def leftovers(store) -> list[str]:
    return os.listdir(store.tmp_dir)


def test_layout_and_dedup(store, tmp_path):
    data = b"x" * 100_000
    sha = hashlib.sha256(data).hexdigest()
    got = store.store_detailed(iter([data[:10], b"", data[10:]]), expected_size=len(data))
    assert (got.sha256, got.size, got.git_oid) == (sha, len(data), git_blob_oid(data))
    path = tmp_path / "blobs" / sha[:2] / sha[2:4] / sha
    assert store.path(sha) == path and path.read_bytes() == data
    inode = path.stat().st_ino
    assert store.store([data], expected_sha256=sha) == (sha, len(data))
    assert path.stat().st_ino == inode  # the stored copy is kept, the duplicate discarded
    assert store.size(sha) == len(data) and store.exists(sha)
    assert leftovers(store) == []


def test_mismatch_and_limits_leave_nothing(store):
    with pytest.raises(BadRequest):
        store.store([b"abc"], expected_sha256="0" * 64)
    with pytest.raises(BadRequest):
        store.store([b"abc"], expected_size=4)
    with pytest.raises(BadRequest):
        store.store([b"abcde"], expected_size=4)
    with pytest.raises(TooLarge):
        store.store([b"ab", b"cd", b"ef"], max_size=5)
    with pytest.raises(TooLarge):
        store.store([b"ab"], expected_size=10, max_size=5)

    def failing():
        yield b"partial"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        store.store(failing())
    assert leftovers(store) == []
    assert not any(files for _, _, files in os.walk(store.blobs_dir))


@pytest.mark.parametrize("key", ["../../etc/passwd", "A" * 64, "0" * 63, "g" * 64, ""])
def test_keys_are_validated_before_touching_paths(store, key):
    with pytest.raises(BadRequest):
        store.path(key)
    with pytest.raises(BadRequest):
        store.store([b"x"], expected_sha256=key)


def test_empty_blob(store):
    sha, size = store.store([])
    assert size == 0 and sha == hashlib.sha256(b"").hexdigest() and store.path(sha).read_bytes() == b""
