"""The cache helpers next to huggingface_hub's own on the same folders: try_to_load_from_cache answers,
folder names, filename validation, the tree listing bytes, the file lock (held by one client, it blocks the
other), cached_assets_path."""

from __future__ import annotations

import os

import pytest

huggingface_hub = pytest.importorskip("huggingface_hub")
from huggingface_hub import _tree_cache as ref_tree_cache  # noqa: E402
from huggingface_hub import file_download as ref_fd  # noqa: E402

from snuggle.hub import cache  # noqa: E402

COMMIT_A, COMMIT_B = "a" * 40, "b" * 40


@pytest.fixture
def cache_dir(tmp_path):
    """A hand-made cache: refs/main -> B, snapshots A and B, a .no_exist marker at B."""
    storage = tmp_path / "models--ns--name"
    for commit, files in ((COMMIT_A, ["config.json"]), (COMMIT_B, ["config.json", "sub/x.txt"])):
        for f in files:
            path = storage / "snapshots" / commit / f
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(commit)
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(COMMIT_B)
    (storage / ".no_exist" / COMMIT_B).mkdir(parents=True)
    (storage / ".no_exist" / COMMIT_B / "tokenizer.json").touch()
    return tmp_path


def _norm(value):
    return "NO_EXIST" if value is ref_fd._CACHED_NO_EXIST or value is cache._CACHED_NO_EXIST else value


@pytest.mark.parametrize("repo_id,filename,revision", [
    ("ns/name", "config.json", None), ("ns/name", "config.json", COMMIT_A), ("ns/name", "sub/x.txt", "main"),
    ("ns/name", "sub/x.txt", COMMIT_A), ("ns/name", "tokenizer.json", None), ("ns/name", "tokenizer.json", COMMIT_A),
    ("ns/other", "config.json", None), ("ns/name", "config.json", "v2"),
])
def test_try_to_load_from_cache_parity(cache_dir, repo_id, filename, revision):
    ours = cache.try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir, revision=revision)
    theirs = ref_fd.try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir, revision=revision)
    assert _norm(ours) == _norm(theirs)


@pytest.mark.parametrize("repo_type", ["model", "dataset", "space"])
def test_repo_folder_name(repo_type):
    assert cache.repo_folder_name(repo_id="a-b/c.d", repo_type=repo_type) == \
        ref_fd.repo_folder_name(repo_id="a-b/c.d", repo_type=repo_type)


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd", "C:\\x", "\\\\host\\share\\x", "ok/file.txt",
                                  "a\\..\\b"])
def test_filename_validation_parity(name):
    from huggingface_hub._local_folder import _validate_relative_filename

    def outcome(fn):
        try:
            fn(name)
            return "ok"
        except ValueError as e:
            return str(e)

    assert outcome(cache.validate_relative_filename) == outcome(_validate_relative_filename)


def test_tree_cache_bytes_parity(tmp_path):
    entries = {"b.bin": dict(size=5, blob_id="1" * 40, lfs_sha256="2" * 64, lfs_size=5),
               "a.json": dict(size=2, blob_id="3" * 40)}
    cache.write_tree_cache(str(tmp_path / "o"), COMMIT_A, {k: cache.TreeCacheEntry(**v) for k, v in entries.items()})
    ref_tree_cache.write_tree_cache(str(tmp_path / "r"), COMMIT_A,
                                    {k: ref_tree_cache.TreeCacheEntry(**v) for k, v in entries.items()})
    rel = f"trees/{COMMIT_A}.json"
    assert (tmp_path / "o" / rel).read_bytes() == (tmp_path / "r" / rel).read_bytes()
    assert cache.read_tree_cache(str(tmp_path / "r"), COMMIT_A)["b.bin"].lfs_sha256 == "2" * 64


def test_lock_is_shared_with_the_reference(tmp_path):
    from filelock import Timeout
    from huggingface_hub.utils import WeakFileLock as RefLock

    lock = tmp_path / ".locks" / "models--a--b" / "etag.lock"
    lock.parent.mkdir(parents=True)
    with RefLock(lock):
        with pytest.raises(Timeout):
            with cache.WeakFileLock(lock, timeout=0.2):
                pass
    with cache.WeakFileLock(lock):
        with pytest.raises(Timeout):
            with RefLock(lock, timeout=0.2):
                pass
    with cache.WeakFileLock(lock, timeout=1):  # released: free again
        with pytest.raises(Timeout):
            with RefLock(lock, timeout=0.1):
                pass


def test_cached_assets_path_parity(tmp_path):
    ours = cache.cached_assets_path("my lib", "ns/name", "sub\\x", assets_dir=tmp_path)
    theirs = huggingface_hub.cached_assets_path("my lib", "ns/name", "sub\\x", assets_dir=tmp_path)
    assert ours == theirs and ours.is_dir()


def test_refs_written_atomically_and_only_when_changed(tmp_path):
    cache.cache_commit_hash_for_specific_revision(str(tmp_path), "main", COMMIT_A)
    ref = tmp_path / "refs" / "main"
    mtime = ref.stat().st_mtime_ns
    cache.cache_commit_hash_for_specific_revision(str(tmp_path), "main", COMMIT_A)
    assert ref.stat().st_mtime_ns == mtime and ref.read_text() == COMMIT_A
    cache.cache_commit_hash_for_specific_revision(str(tmp_path), "feat/x", COMMIT_B)  # branch names with '/'
    assert (tmp_path / "refs" / "feat" / "x").read_text() == COMMIT_B
    assert sorted(os.listdir(tmp_path / "refs")) == ["feat", "main"]  # no temp file left behind


def _blobbed_cache(tmp_path):
    """Two revisions sharing one blob, a ref per revision, an orphan .incomplete and a broken repo folder."""
    storage = tmp_path / "models--ns--name"
    blobs = storage / "blobs"
    blobs.mkdir(parents=True)
    (blobs / "shared").write_bytes(b"x" * 10)
    (blobs / "only-a").write_bytes(b"y" * 20)
    (blobs / "only-b").write_bytes(b"z" * 30)
    (blobs / "half.incomplete").write_bytes(b"h" * 5)
    for commit, names in ((COMMIT_A, {"config.json": "shared", "w.bin": "only-a"}),
                          (COMMIT_B, {"config.json": "shared", "sub/w.bin": "only-b"})):
        for rel, blob in names.items():
            link = storage / "snapshots" / commit / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.path.relpath(blobs / blob, link.parent), link)
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(COMMIT_B)
    (storage / "refs" / "v1").write_text(COMMIT_A)
    (tmp_path / "not-a-repo").mkdir()
    return tmp_path


def _summary(info):
    repos = sorted((r.repo_id, r.repo_type, r.size_on_disk, r.nb_files, r.size_on_disk_str,
                    sorted((v.commit_hash, v.size_on_disk, sorted(v.refs), v.nb_files,
                            sorted((f.file_name, str(f.blob_path), f.size_on_disk) for f in v.files))
                           for v in r.revisions)) for r in info.repos)
    return (info.size_on_disk, repos, sorted(str(w) for w in info.warnings),
            sorted((str(f.file_path), f.size_on_disk) for f in info.incomplete_files))


def _plan(strategy):
    return (strategy.expected_freed_size, sorted(map(str, strategy.blobs)), sorted(map(str, strategy.refs)),
            sorted(map(str, strategy.repos)), sorted(map(str, strategy.snapshots)))


def test_scan_cache_dir_parity(tmp_path):
    from snuggle.hub.cache_scan import scan_cache_dir

    root = _blobbed_cache(tmp_path)
    ours, theirs = scan_cache_dir(root), huggingface_hub.scan_cache_dir(root)
    assert _summary(ours) == _summary(theirs)
    for revisions in ([COMMIT_A], [COMMIT_A, COMMIT_B], ["c" * 40]):
        assert _plan(ours.delete_revisions(*revisions)) == _plan(theirs.delete_revisions(*revisions))
    ours.delete_revisions(COMMIT_A).execute()
    after = huggingface_hub.scan_cache_dir(root)  # the reference reads what we left
    assert [sorted(v.commit_hash for v in r.revisions) for r in after.repos] == [[COMMIT_B]]
    assert not (root / "models--ns--name" / "blobs" / "only-a").exists()
    assert (root / "models--ns--name" / "blobs" / "shared").exists()
