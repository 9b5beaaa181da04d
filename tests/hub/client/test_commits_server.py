"""Uploads against the real snuggle Hub server (hub_server fixture), checked with the reference client:
what we commit, huggingface_hub lists and downloads byte-identical with the same oids, and the other way
round. Also: no-op re-uploads, 412 on a stale parent_commit, create_pr, copies and deletes, README
validation, and the LFS path on a server started with a tiny inline limit."""

from __future__ import annotations

import hashlib
import secrets

import pytest

from snuggle.hub import HfApi
from snuggle.hub.commits import CommitOperationAdd, CommitOperationCopy, CommitOperationDelete
from snuggle.hub.errors import HfHubHTTPError, RemoteEntryNotFoundError


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.fixture(autouse=True)
def _online(monkeypatch):
    # the suite runs with HF_HUB_OFFLINE=1; these tests talk to a loopback server only
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import huggingface_hub.constants as ref_constants

    # the reference read these at import time: patch its module constants instead of the environment
    monkeypatch.setattr(ref_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(ref_constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(ref_constants, "HF_HUB_DISABLE_PROGRESS_BARS", True, raising=False)


def new_repo(api: HfApi, repo_type: str = "model") -> str:
    repo_id = f"alice/up-{secrets.token_hex(4)}"
    api.create_repo(repo_id, repo_type=repo_type)
    return repo_id


def reference(endpoint: str, token: str):
    import huggingface_hub

    return huggingface_hub.HfApi(endpoint=endpoint, token=token)


def assert_reference_sees(ref, repo_id: str, files: dict[str, bytes], tmp_path, repo_type: str = "model",
                          revision: str | None = None, lfs_min: int | None = None) -> None:
    """The reference lists exactly `files` (+ .gitattributes) with the right oids, and downloads the bytes."""
    entries = {e.path: e for e in ref.list_repo_tree(repo_id, recursive=True, repo_type=repo_type, revision=revision)
               if type(e).__name__ == "RepoFile"}
    assert set(entries) - {".gitattributes"} == set(files)
    for path, data in files.items():
        entry = entries[path]
        assert entry.size == len(data)
        if lfs_min is not None and len(data) > lfs_min:
            assert entry.lfs is not None and entry.lfs.sha256 == hashlib.sha256(data).hexdigest()
        else:
            assert entry.lfs is None and entry.blob_id == git_oid(data)
        local = ref.hf_hub_download(repo_id, path, repo_type=repo_type, revision=revision,
                                    cache_dir=tmp_path / "ref-cache")
        with open(local, "rb") as f:
            assert f.read() == data, path


@pytest.fixture
def api(hub_server):
    return HfApi(endpoint=hub_server.endpoint, token=hub_server.token)


@pytest.fixture
def ref(hub_server):
    return reference(hub_server.endpoint, hub_server.token)


def test_our_commit_reference_reads_identical(api, ref, tmp_path):
    repo_id = new_repo(api)
    files = {"config.json": b'{"a": 1}\n', "sub dir/ünï code.txt": "héllo".encode(), "empty.txt": b"",
             "w/weights.bin": secrets.token_bytes(300_000)}
    (tmp_path / "weights.bin").write_bytes(files["w/weights.bin"])
    ops = [CommitOperationAdd(p, d) for p, d in files.items() if p != "w/weights.bin"]
    ops.append(CommitOperationAdd("w/weights.bin", tmp_path / "weights.bin"))
    info = api.create_commit(repo_id, ops, commit_message="add files", commit_description="body")
    assert ref.repo_info(repo_id).sha == info.oid
    commits = ref.list_repo_commits(repo_id)
    assert commits[0].commit_id == info.oid and commits[0].title == "add files" and commits[0].message == "body"
    assert_reference_sees(ref, repo_id, files, tmp_path)


def test_reference_commit_we_read_and_noop(api, ref, tmp_path):
    from huggingface_hub import CommitOperationAdd as RefAdd

    repo_id = new_repo(api)
    files = {"a.txt": b"alpha", "d/b.bin": secrets.token_bytes(5000)}
    ref_info = ref.create_commit(repo_id, [RefAdd(p, d) for p, d in files.items()], commit_message="by reference")
    infos = {e.path: e for e in api.get_paths_info(repo_id, list(files))}
    assert {p: infos[p].blob_id for p in files} == {p: git_oid(d) for p, d in files.items()}
    # the same content again through our client: nothing to commit, the head is returned
    info = api.create_commit(repo_id, [CommitOperationAdd(p, d) for p, d in files.items()], commit_message="again")
    assert info.oid == ref_info.oid and len(api.list_repo_commits(repo_id)) == 2
    # and ours then the reference: the reference's no-op detection agrees with our oids
    ours = api.upload_file(path_or_fileobj=b"gamma", path_in_repo="c.txt", repo_id=repo_id)
    again = ref.upload_file(path_or_fileobj=b"gamma", path_in_repo="c.txt", repo_id=repo_id)
    assert again.oid == ours.oid


def test_stale_parent_commit_412(api, tmp_path):
    repo_id = new_repo(api)
    first = api.upload_file(path_or_fileobj=b"1", path_in_repo="a.txt", repo_id=repo_id)
    second = api.upload_file(path_or_fileobj=b"2", path_in_repo="a.txt", repo_id=repo_id, parent_commit=first.oid)
    with pytest.raises(HfHubHTTPError, match="moved") as err:
        api.upload_file(path_or_fileobj=b"3", path_in_repo="a.txt", repo_id=repo_id, parent_commit=first.oid)
    assert err.value.response.status_code == 412
    assert api.repo_info(repo_id).sha == second.oid


def test_create_pr_leaves_main(api, ref, tmp_path):
    repo_id = new_repo(api)
    base = api.upload_file(path_or_fileobj=b"main", path_in_repo="a.txt", repo_id=repo_id)
    info = api.create_commit(repo_id, [CommitOperationAdd("a.txt", b"proposal"), CommitOperationAdd("b.txt", b"b")],
                             commit_message="proposal", create_pr=True)
    assert info.pr_num is not None and info.pr_revision == f"refs/pr/{info.pr_num}"
    assert api.repo_info(repo_id).sha == base.oid
    refs = ref.list_repo_refs(repo_id, include_pull_requests=True)
    assert [(r.ref, r.target_commit) for r in refs.pull_requests] == [(info.pr_revision, info.oid)]
    assert_reference_sees(ref, repo_id, {"a.txt": b"proposal", "b.txt": b"b"}, tmp_path, revision=info.pr_revision)
    # a second commit onto the PR's ref
    api.upload_file(path_or_fileobj=b"c", path_in_repo="c.txt", repo_id=repo_id, revision=info.pr_revision)
    assert set(api.list_repo_files(repo_id, revision=info.pr_revision)) >= {"a.txt", "b.txt", "c.txt"}


def test_copy_and_delete_operations(api, ref, tmp_path):
    repo_id = new_repo(api, repo_type="dataset")
    api.create_commit(repo_id, [CommitOperationAdd("d/a.txt", b"aa"), CommitOperationAdd("d/b.txt", b"bb"),
                                CommitOperationAdd("keep.txt", b"k")], commit_message="one", repo_type="dataset")
    api.create_commit(repo_id, [CommitOperationCopy("d/a.txt", "e/a.txt"), CommitOperationDelete("d/"),
                                CommitOperationDelete("keep.txt")], commit_message="move", repo_type="dataset")
    assert_reference_sees(ref, repo_id, {"e/a.txt": b"aa"}, tmp_path, repo_type="dataset")
    with pytest.raises(RemoteEntryNotFoundError, match="trailing '/'"):
        api.delete_file("e", repo_id, repo_type="dataset")
    api.delete_folder("e", repo_id, repo_type="dataset")
    assert api.list_repo_files(repo_id, repo_type="dataset") == [".gitattributes"]
    # a copy from an older revision brings back the old content
    v1 = api.upload_file(path_or_fileobj=b"v1", path_in_repo="f.txt", repo_id=repo_id, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"v2", path_in_repo="f.txt", repo_id=repo_id, repo_type="dataset")
    api.create_commit(repo_id, [CommitOperationCopy("f.txt", "old/f.txt", src_revision=v1.oid)],
                      commit_message="restore", repo_type="dataset")
    assert_reference_sees(ref, repo_id, {"f.txt": b"v2", "old/f.txt": b"v1"}, tmp_path, repo_type="dataset")


def test_invalid_readme_metadata_commits_nothing(api, tmp_path):
    repo_id = new_repo(api)
    head = api.repo_info(repo_id).sha
    with pytest.raises(ValueError, match="Invalid metadata in README.md"):
        api.create_commit(repo_id, [CommitOperationAdd("README.md", b"---\ntags: [a, b\n---\n# card\n"),
                                    CommitOperationAdd("x.txt", b"x")], commit_message="card")
    assert api.repo_info(repo_id).sha == head
    api.upload_file(path_or_fileobj=b"---\nlicense: mit\ntags: [a]\n---\n# ok\n", path_in_repo="README.md",
                    repo_id=repo_id)
    assert api.model_info(repo_id).card_data["license"] == "mit"


# ---- the LFS path: a server whose inline limit is 1 kB ----
class InProcessHub:
    """The same app as `snuggle hub serve`, run by uvicorn in a thread of this process: starting it costs
    no subprocesses (start_hub_server spends ~20 s in CLI start-ups on a loaded machine)."""

    def __init__(self, data_dir, **config):
        import socket
        import threading

        import uvicorn

        from snuggle.hub.server.app import create_app
        from snuggle.hub.server.backend import HubBackend
        from snuggle.hub.server.config import ServerConfig

        self.backend = HubBackend(ServerConfig(data_dir=data_dir, **config))
        self.backend.add_user("alice")
        self.token = self.backend.create_token("alice", role="write")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(self.backend), host="127.0.0.1", port=port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the in-process Hub server did not start")
            self.thread.join(0.02)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)
        self.backend.close()


@pytest.fixture(scope="module")
def lfs_server(tmp_path_factory):
    handle = InProcessHub(tmp_path_factory.mktemp("hub-lfs") / "data", inline_limit=1000)
    try:
        yield handle
    finally:
        handle.stop()


def test_lfs_upload_roundtrip_with_reference(lfs_server, tmp_path, monkeypatch):
    from huggingface_hub import CommitOperationAdd as RefAdd

    from snuggle.hub import lfs

    api = HfApi(endpoint=lfs_server.endpoint, token=lfs_server.token)
    ref = reference(lfs_server.endpoint, lfs_server.token)
    puts = []
    real_put = lfs._put_with_retries
    monkeypatch.setattr(lfs, "_put_with_retries", lambda url, op, bar: (puts.append(op.path_in_repo),
                                                                         real_put(url, op, bar))[1])
    repo_id = new_repo(api)
    files = {"big.bin": secrets.token_bytes(50_000), "dir/also big.bin": secrets.token_bytes(2_000),
             "small.txt": b"small", "same.bin": None}
    files["same.bin"] = files["big.bin"]  # same content under two names: one transfer
    api.create_commit(repo_id, [CommitOperationAdd(p, d) for p, d in files.items()], commit_message="lfs")
    assert sorted(puts) == ["big.bin", "dir/also big.bin"]
    assert_reference_sees(ref, repo_id, files, tmp_path, lfs_min=1000)
    # unchanged LFS files: no commit and no transfer
    n_commits = len(api.list_repo_commits(repo_id))
    api.create_commit(repo_id, [CommitOperationAdd(p, d) for p, d in files.items()], commit_message="again")
    assert len(api.list_repo_commits(repo_id)) == n_commits and len(puts) == 2
    # copies of an LFS file are references; the reference sees the same sha256
    api.create_commit(repo_id, [CommitOperationCopy("big.bin", "copy/big.bin")], commit_message="copy")
    assert len(puts) == 2
    assert ref.get_paths_info(repo_id, ["copy/big.bin"])[0].lfs.sha256 == hashlib.sha256(files["big.bin"]).hexdigest()
    # the reference (basic LFS transfer, no Xet) uploads; our client sees the same objects
    blob = secrets.token_bytes(4000)
    ref.create_commit(repo_id, [RefAdd("ref/blob.bin", blob)], commit_message="by reference")
    (entry,) = api.get_paths_info(repo_id, ["ref/blob.bin"])
    assert entry.lfs.sha256 == hashlib.sha256(blob).hexdigest() and entry.size == 4000
    # re-uploading what the reference stored is a no-op for us too
    head = api.repo_info(repo_id).sha
    assert api.upload_file(path_or_fileobj=blob, path_in_repo="ref/blob.bin", repo_id=repo_id).oid == head


def test_big_inline_file_is_streamed_not_buffered(api, tmp_path):
    """A 16 MiB file goes inline (base64 in the NDJSON body) while the client holds only a few chunks:
    the reference builds the whole body in memory (~2.3x the file)."""
    import tracemalloc

    repo_id = new_repo(api)
    data = secrets.token_bytes(16 * 1024 * 1024)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    op = CommitOperationAdd("big.bin", path)
    del data
    tracemalloc.start()
    try:
        info = api.create_commit(repo_id, [op], commit_message="big inline")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB while uploading a 16 MiB file"
    (entry,) = api.get_paths_info(repo_id, ["big.bin"], revision=info.oid)
    assert entry.size == path.stat().st_size and entry.lfs is None
    assert entry.blob_id == git_oid(path.read_bytes())


def test_lfs_dataset_folder_and_pr(lfs_server, tmp_path):
    """Dataset repos use the `datasets/` prefix for the LFS batch URL; a PR gets LFS files too."""
    api = HfApi(endpoint=lfs_server.endpoint, token=lfs_server.token)
    ref = reference(lfs_server.endpoint, lfs_server.token)
    repo_id = new_repo(api, repo_type="dataset")
    files = {"data/train.parquet": secrets.token_bytes(3000), "README.md": b"---\nlicense: mit\n---\n# data\n"}
    for path, data in files.items():
        (tmp_path / "ds" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "ds" / path).write_bytes(data)
    info = api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=tmp_path / "ds", create_pr=True)
    assert_reference_sees(ref, repo_id, files, tmp_path, repo_type="dataset", revision=info.pr_revision,
                          lfs_min=1000)
    assert api.list_repo_files(repo_id, repo_type="dataset") == [".gitattributes"]  # main untouched


def test_commit_errors_name_the_fix(api, hub_server):
    from snuggle.hub.errors import RepositoryNotFoundError

    with pytest.raises(RepositoryNotFoundError, match="create_repo"):
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=f"alice/missing-{secrets.token_hex(4)}")
    repo_id = new_repo(api)
    head = api.repo_info(repo_id).sha
    read_only = HfApi(endpoint=hub_server.endpoint, token=hub_server.token_read)
    with pytest.raises(HfHubHTTPError) as err:
        read_only.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    assert err.value.response.status_code == 403
    other = HfApi(endpoint=hub_server.endpoint, token=hub_server.token_b)
    with pytest.raises(HfHubHTTPError) as err:
        other.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    assert err.value.response.status_code == 403
    assert api.repo_info(repo_id).sha == head
