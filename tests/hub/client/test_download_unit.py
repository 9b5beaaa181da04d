"""hf_hub_download / snapshot_download against an in-memory Hub (httpx.MockTransport): cache layout, refs,
.no_exist, offline, errors, resume, local_dir. The same behaviours against the real server (and the reference
client's cache) are in test_download_server.py."""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.hub.client._fake_hub import FakeHub, git_blob_oid, install

SMALL = b'{"model_type": "bert"}\n'
BIG = bytes(range(256)) * 20  # 5120 bytes: served as LFS (sha256 ETag)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    fake = FakeHub()
    install(monkeypatch, fake)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return fake


def _files():
    return {"config.json": SMALL, "model.bin": BIG, "sub/extra.txt": b"hello\n"}


def test_cache_layout_refs_and_symlinks(hub, tmp_path):
    from snuggle.hub import hf_hub_download

    commit = hub.add_repo("alice/tiny", _files())
    cache = tmp_path / "cache"
    path = hf_hub_download("alice/tiny", "model.bin", cache_dir=cache)
    storage = cache / "models--alice--tiny"
    sha = hashlib.sha256(BIG).hexdigest()
    assert path == str(storage / "snapshots" / commit / "model.bin")
    assert os.readlink(path) == f"../../blobs/{sha}"
    assert (storage / "blobs" / sha).read_bytes() == BIG
    assert (storage / "refs" / "main").read_text() == commit  # no newline, like the reference
    nested = hf_hub_download("alice/tiny", "extra.txt", subfolder="sub", cache_dir=cache)
    assert os.readlink(nested) == f"../../../blobs/{git_blob_oid(b'hello' + bytes([10]))}"
    assert (cache / ".locks" / "models--alice--tiny" / f"{sha}.lock").exists()
    assert (cache / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    # a commit-hash revision already cached: no request at all
    before = len(hub.requests)
    assert hf_hub_download("alice/tiny", "model.bin", cache_dir=cache, revision=commit) == path
    assert len(hub.requests) == before


def test_no_exist_marker_and_errors(hub, tmp_path):
    from snuggle.hub import (
        EntryNotFoundError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
        hf_hub_download,
        try_to_load_from_cache,
    )
    from snuggle.hub.cache import _CACHED_NO_EXIST

    commit = hub.add_repo("alice/tiny", _files())
    cache = tmp_path / "cache"
    with pytest.raises(RemoteEntryNotFoundError) as info:
        hf_hub_download("alice/tiny", "missing.json", cache_dir=cache)
    assert isinstance(info.value, EntryNotFoundError)
    assert (cache / "models--alice--tiny" / ".no_exist" / commit / "missing.json").is_file()
    assert try_to_load_from_cache("alice/tiny", "missing.json", cache_dir=cache) is _CACHED_NO_EXIST
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("alice/tiny", "config.json", revision="nope", cache_dir=cache)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("alice/none", "config.json", cache_dir=cache)
    with pytest.raises(ValueError, match="Invalid repo type"):
        hf_hub_download("alice/tiny", "config.json", repo_type="kernelz", cache_dir=cache)


def test_offline_serves_cache_without_any_request(hub, tmp_path, monkeypatch):
    from snuggle.hub import LocalEntryNotFoundError, hf_hub_download, snapshot_download

    hub.add_repo("alice/tiny", _files())
    cache = tmp_path / "cache"
    online = hf_hub_download("alice/tiny", "config.json", cache_dir=cache)
    n = len(hub.requests)
    assert hf_hub_download("alice/tiny", "config.json", cache_dir=cache, local_files_only=True) == online
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hf_hub_download("alice/tiny", "config.json", cache_dir=cache) == online
    with pytest.raises(LocalEntryNotFoundError, match="HF_HUB_OFFLINE"):
        hf_hub_download("alice/tiny", "model.bin", cache_dir=cache)
    with pytest.raises(LocalEntryNotFoundError):
        snapshot_download("alice/other", cache_dir=cache)
    # a snapshot folder known from refs/ is returned offline
    assert snapshot_download("alice/tiny", cache_dir=cache) == os.path.dirname(online)
    assert len(hub.requests) == n
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(LocalEntryNotFoundError, match="local_files_only"):
        hf_hub_download("alice/tiny", "model.bin", cache_dir=cache, local_files_only=True)
    assert len(hub.requests) == n


def test_branch_moves_new_commit(hub, tmp_path):
    from snuggle.hub import hf_hub_download, try_to_load_from_cache

    first = hub.add_repo("alice/tiny", {"config.json": b"1"})
    cache = tmp_path / "cache"
    p1 = hf_hub_download("alice/tiny", "config.json", cache_dir=cache)
    second = hub.add_repo("alice/tiny", {"config.json": b"22"})
    p2 = hf_hub_download("alice/tiny", "config.json", cache_dir=cache)
    assert first in p1 and second in p2 and open(p2, "rb").read() == b"22"
    assert try_to_load_from_cache("alice/tiny", "config.json", cache_dir=cache) == p2
    assert try_to_load_from_cache("alice/tiny", "config.json", cache_dir=cache, revision=first) == p1


def test_resume_after_dropped_connection_uses_range(hub, tmp_path, monkeypatch):
    from snuggle.hub import download, hf_hub_download

    monkeypatch.setattr(download.time, "sleep", lambda s: None)
    hub.add_repo("alice/tiny", _files())
    hub.fail_after_bytes = 1000
    path = hf_hub_download("alice/tiny", "model.bin", cache_dir=tmp_path / "cache")
    assert open(path, "rb").read() == BIG
    gets = [h for m, u, h in hub.requests if m == "GET" and u.endswith("model.bin")]
    assert gets[-1].get("range") == "bytes=1000-"


def test_resume_from_incomplete_file_left_by_a_crash(hub, tmp_path):
    from snuggle.hub import hf_hub_download

    hub.add_repo("alice/tiny", _files())
    cache = tmp_path / "cache"
    blobs = cache / "models--alice--tiny" / "blobs"
    blobs.mkdir(parents=True)
    sha = hashlib.sha256(BIG).hexdigest()
    (blobs / f"{sha}.incomplete").write_bytes(BIG[:3000])
    path = hf_hub_download("alice/tiny", "model.bin", cache_dir=cache)
    assert open(path, "rb").read() == BIG
    gets = [h for m, u, h in hub.requests if m == "GET"]
    assert [h.get("range") for h in gets] == ["bytes=3000-"]
    assert not (blobs / f"{sha}.incomplete").exists()


def test_snapshot_download_patterns_tree_cache_and_threads(hub, tmp_path, monkeypatch):
    from snuggle.hub import snapshot_download
    from snuggle.hub.cache import read_tree_cache

    commit = hub.add_repo("alice/tiny", _files())
    cache = tmp_path / "cache"
    folder = snapshot_download("alice/tiny", cache_dir=cache, allow_patterns=["*.json", "sub/"], max_workers=4)
    assert sorted(str(p.relative_to(folder)) for p in __import__("pathlib").Path(folder).rglob("*")
                  if p.is_file()) == ["config.json", "sub/extra.txt"]
    tree = read_tree_cache(str(cache / "models--alice--tiny"), commit)
    assert tree["model.bin"].lfs_sha256 == hashlib.sha256(BIG).hexdigest()
    # offline with a cached listing: asking for files that were never downloaded is an IncompleteSnapshotError
    from snuggle.hub import IncompleteSnapshotError

    with pytest.raises(IncompleteSnapshotError, match="model.bin"):
        snapshot_download("alice/tiny", cache_dir=cache, local_files_only=True)
    assert snapshot_download("alice/tiny", cache_dir=cache, local_files_only=True, allow_patterns="*.json") == folder
    full = snapshot_download("alice/tiny", cache_dir=cache)
    assert open(os.path.join(full, "model.bin"), "rb").read() == BIG


def test_local_dir_mode_metadata(hub, tmp_path):
    from snuggle.hub import hf_hub_download, snapshot_download

    commit = hub.add_repo("alice/tiny", _files())
    local = tmp_path / "local"
    path = hf_hub_download("alice/tiny", "sub/extra.txt", local_dir=local)
    assert path == str(local / "sub" / "extra.txt") and not os.path.islink(path)
    meta = (local / ".cache" / "huggingface" / "download" / "sub" / "extra.txt.metadata").read_text().splitlines()
    assert meta[:2] == [commit, git_blob_oid(b"hello\n")]
    assert (local / ".cache" / "huggingface" / ".gitignore").read_text() == "*"
    n = len(hub.requests)
    hf_hub_download("alice/tiny", "sub/extra.txt", local_dir=local, revision=commit)
    assert len(hub.requests) == n  # commit + metadata match: no request
    out = snapshot_download("alice/tiny", local_dir=local)
    assert open(os.path.join(out, "model.bin"), "rb").read() == BIG


def test_token_sent_only_to_endpoint(hub, tmp_path):
    from snuggle.hub import RepositoryNotFoundError, hf_hub_download

    hub.add_repo("alice/secret", _files())
    hub.repos[("model", "alice/secret")].private_token = "hf_secret"
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("alice/secret", "config.json", cache_dir=tmp_path / "c")
    path = hf_hub_download("alice/secret", "config.json", cache_dir=tmp_path / "c", token="hf_secret")
    assert open(path, "rb").read() == SMALL


def test_dataset_repo_prefix(hub, tmp_path):
    from snuggle.hub import hf_hub_download, hf_hub_url

    hub.add_repo("alice/data", {"data/train.csv": b"a\n1\n"}, repo_type="dataset")
    path = hf_hub_download("alice/data", "data/train.csv", repo_type="dataset", cache_dir=tmp_path / "c")
    assert "/datasets--alice--data/snapshots/" in path
    assert hf_hub_url("alice/data", "data/train.csv", repo_type="dataset").startswith(f"{hub.endpoint}/datasets/")


def test_dry_run_downloads_nothing(hub, tmp_path):
    from snuggle.hub import hf_hub_download, snapshot_download
    from snuggle.hub.download import DryRunFileInfo

    commit = hub.add_repo("alice/tiny", _files())
    cache = tmp_path / "cache"
    info = hf_hub_download("alice/tiny", "model.bin", cache_dir=cache, dry_run=True)
    assert isinstance(info, DryRunFileInfo)
    assert (info.commit_hash, info.file_size, info.is_cached, info.will_download) == (commit, len(BIG), False, True)
    assert not (cache / "models--alice--tiny" / "blobs").exists()
    hf_hub_download("alice/tiny", "model.bin", cache_dir=cache)
    again = hf_hub_download("alice/tiny", "model.bin", cache_dir=cache, dry_run=True, revision=commit)
    assert (again.is_cached, again.will_download) == (True, False)
    infos = snapshot_download("alice/tiny", cache_dir=cache, dry_run=True)
    assert sorted((i.filename, i.is_cached) for i in infos) == [
        ("config.json", False), ("model.bin", True), ("sub/extra.txt", False)]
    local = hf_hub_download("alice/tiny", "config.json", local_dir=tmp_path / "local", dry_run=True)
    assert local.will_download and not (tmp_path / "local" / "config.json").exists()


def test_progress_bars_follow_the_environment(hub, tmp_path, monkeypatch, capsys):
    from snuggle.hub import hf_hub_download

    hub.add_repo("alice/tiny", _files())
    hf_hub_download("alice/tiny", "model.bin", cache_dir=tmp_path / "quiet")
    assert "model.bin" not in capsys.readouterr().err  # HF_HUB_DISABLE_PROGRESS_BARS=1 (fixture)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "0")
    monkeypatch.delenv("SNUGGLE_DISABLE_PROGRESS_BARS", raising=False)  # the suite's own switch (tests/conftest.py)
    hf_hub_download("alice/tiny", "model.bin", cache_dir=tmp_path / "loud")
    assert "model.bin" in capsys.readouterr().err


def test_lfs_redirect_to_other_origin_drops_the_token(hub, tmp_path):
    from snuggle.hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    hub.cdn = "http://cdn.other"
    hub.add_repo("alice/tiny", _files())
    meta = get_hf_file_metadata(hf_hub_url("alice/tiny", "model.bin"), token="hf_secret")
    assert meta.location.startswith("http://cdn.other/") and meta.size == len(BIG)  # HEAD stops at the redirect
    path = hf_hub_download("alice/tiny", "model.bin", cache_dir=tmp_path / "c", token="hf_secret")
    assert open(path, "rb").read() == BIG
    cdn = [h for m, u, h in hub.requests if u.startswith("http://cdn.other")]
    hub_calls = [h for m, u, h in hub.requests if u.startswith(hub.endpoint)]
    assert cdn and all("authorization" not in h for h in cdn)
    assert all(h.get("authorization") == "Bearer hf_secret" for h in hub_calls)


def test_snapshot_with_duplicate_contents_shares_one_blob(hub, tmp_path):
    from snuggle.hub import snapshot_download

    same = b"identical\n" * 50
    hub.add_repo("alice/dups", {f"f{i}.txt": same for i in range(6)} | {"empty1": b"", "empty2": b""})
    folder = snapshot_download("alice/dups", cache_dir=tmp_path / "c", max_workers=6)
    assert all(open(os.path.join(folder, f"f{i}.txt"), "rb").read() == same for i in range(6))
    assert open(os.path.join(folder, "empty2"), "rb").read() == b""
    assert len(os.listdir(tmp_path / "c" / "models--alice--dups" / "blobs")) == 2
