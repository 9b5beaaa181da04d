"""snuggle.hub.HfFileSystem against the Hub server, next to huggingface_hub.HfFileSystem on the same repos:
listings, infos, globs, bytes and Range reads, revisions (a branch with '/', refs/pr/1), private repos,
writes (one commit each) seen by the reference, pyarrow reading through the filesystem, and
load_dataset with an hf:// data file."""

from __future__ import annotations

import io
import os
import secrets

import pytest

huggingface_hub = pytest.importorskip("huggingface_hub")
import huggingface_hub.constants  # noqa: E402

from snuggle.hub import HfApi, HfFileSystem, HfFileSystemFile, HfFileSystemResolvedPath  # noqa: E402
from snuggle.hub.commits import CommitOperationAdd  # noqa: E402

COMMON_KEYS = ("name", "size", "type", "blob_id", "lfs", "last_commit", "security", "tree_id")
BIG = bytes(range(256)) * 1200  # 307200 bytes: several Range blocks with a small block_size


def _parquet_bytes() -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"x": list(range(100)), "s": [f"r{i}" for i in range(100)]}), buf, row_group_size=25)
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _online(monkeypatch, hub_server):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture(scope="module")
def repo(hub_server):
    """A dataset repo: main with nested files, branch 'feature/x', a PR (refs/pr/1); and a private model repo."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("HF_HUB_OFFLINE", raising=False)
        return _make_repos(hub_server)


def _make_repos(hub_server):
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    name = f"alice/fs-{secrets.token_hex(3)}"
    api.create_repo(name, repo_type="dataset")
    ops = [CommitOperationAdd(p, data) for p, data in [
        ("README.md", b"# fs test\n"), ("a.txt", b"hello world\n"), ("data/train.parquet", _parquet_bytes()),
        ("data/sub/deep.txt", b"deep\n"), ("data/sub/more/x.json", b'{"a": 1}\n'), ("big.bin", BIG)]]
    api.create_commit(name, ops, repo_type="dataset", commit_message="files")
    api.create_branch(name, repo_type="dataset", branch="feature/x")
    api.upload_file(path_or_fileobj=b"on branch\n", path_in_repo="branch.txt", repo_id=name, repo_type="dataset",
                    revision="feature/x")
    api.upload_file(path_or_fileobj=b"in pr\n", path_in_repo="pr.txt", repo_id=name, repo_type="dataset",
                    create_pr=True)
    private = f"alice/fs-private-{secrets.token_hex(3)}"
    api.create_repo(private, private=True)
    api.upload_file(path_or_fileobj=b"secret\n", path_in_repo="s.txt", repo_id=private)
    return name, private


def _ours(hub_server, token="a"):
    return HfFileSystem(endpoint=hub_server.endpoint, token=hub_server.token if token == "a" else token,
                        skip_instance_cache=True)


def _ref(hub_server, token="a"):
    return huggingface_hub.HfFileSystem(endpoint=hub_server.endpoint,
                                        token=hub_server.token if token == "a" else token, skip_instance_cache=True)


def _same(ours: dict, ref: dict) -> None:
    for key in COMMON_KEYS:
        if key in ref or key in ours:
            a, b = ours.get(key), ref.get(key)
            assert (dict(a) if isinstance(a, dict) else a) == (dict(b) if isinstance(b, dict) else b), (key, a, b)


@pytest.mark.parametrize("path", [
    "alice/m", "alice/m/a/b.txt", "datasets/alice/x@v1", "datasets/alice/x@v1/a.csv", "spaces/alice/s@refs/pr/3/app.py",
    "alice/m@refs%2Fpr%2F1/w.bin", "alice/m@feature%2Fx/dir/f", "alice/m/file@2.txt",
    "datasets/alice/x@refs/convert/parquet/d",
    "models/alice/m/x", "alice/m@main",
])
def test_path_grammar_matches_reference(path):
    from huggingface_hub.utils import parse_hf_uri

    from snuggle.hub.hf_file_system_paths import parse_hf_path

    ref = parse_hf_uri("hf://" + path)
    assert parse_hf_path(path)[:4] == (ref.type, ref.id, ref.revision, ref.path_in_repo)


def test_ls_info_match_reference(hub_server, repo):
    name, _ = repo
    ours, ref = _ours(hub_server), _ref(hub_server)
    for path in (f"datasets/{name}", f"hf://datasets/{name}/data", f"datasets/{name}/data/sub"):
        a, b = ours.ls(path), ref.ls(path)
        assert [o["name"] for o in a] == [o["name"] for o in b]
        for x, y in zip(a, b):
            _same(x, y)
        assert ours.ls(path, detail=False) == ref.ls(path, detail=False)
    for path in (f"datasets/{name}/big.bin", f"datasets/{name}/data/sub", f"datasets/{name}", f"datasets/{name}/a.txt"):
        _same(ours.info(path), ref.info(path))
        assert ours.isdir(path) == ref.isdir(path) and ours.isfile(path) == ref.isfile(path)
    # expanded listings (last_commit, security) and a cold-cache info through paths-info
    path = f"datasets/{name}/data"
    a, b = _ours(hub_server).ls(path, expand_info=True), _ref(hub_server).ls(path, expand_info=True)
    assert a[0]["last_commit"] is not None
    for x, y in zip(a, b, strict=True):
        _same(x, y)
    _same(_ours(hub_server).info(f"{path}/train.parquet", expand_info=True),
          _ref(hub_server).info(f"{path}/train.parquet", expand_info=True))
    assert _ours(hub_server).modified(f"{path}/train.parquet") == _ref(hub_server).modified(f"{path}/train.parquet")
    _same(_ours(hub_server).info(f"datasets/{name}/data/train.parquet"),
          _ref(hub_server).info(f"datasets/{name}/data/train.parquet"))
    assert ours.ls(f"datasets/{name}/a.txt", detail=False) == [f"datasets/{name}/a.txt"]
    assert not ours.exists(f"datasets/{name}/nope.txt") and not ref.exists(f"datasets/{name}/nope.txt")
    with pytest.raises(FileNotFoundError):
        ours.info(f"datasets/{name}/nope.txt")
    with pytest.raises(FileNotFoundError):
        ours.ls(f"datasets/{name}/nope")


def test_glob_find_match_reference(hub_server, repo):
    name, _ = repo
    ours, ref = _ours(hub_server), _ref(hub_server)
    for pattern in ("*.txt", "**/*.txt", "data/**", "data/*/*.txt", "**/*.json", "data/sub/*"):
        assert ours.glob(f"datasets/{name}/{pattern}") == ref.glob(f"datasets/{name}/{pattern}"), pattern
    assert ours.glob(f"hf://datasets/{name}/**", maxdepth=2) == ref.glob(f"hf://datasets/{name}/**", maxdepth=2)
    for kwargs in ({}, {"maxdepth": 1}, {"maxdepth": 2}, {"withdirs": True}, {"withdirs": True, "maxdepth": 2}):
        a = _ours(hub_server).find(f"datasets/{name}", **kwargs)
        assert a == _ref(hub_server).find(f"datasets/{name}", **kwargs), kwargs
        assert ours.find(f"datasets/{name}", **kwargs) == a  # from dircache after earlier listings
    assert ours.find(f"datasets/{name}/a.txt") == [f"datasets/{name}/a.txt"]
    a, b = ours.find(f"datasets/{name}/data", detail=True), ref.find(f"datasets/{name}/data", detail=True)
    assert list(a) == list(b)
    for key in a:
        _same(a[key], b[key])
    assert [p for p, _, _ in ours.walk(f"datasets/{name}")] == [p for p, _, _ in ref.walk(f"datasets/{name}")]


def test_reads_and_ranges_match_reference(hub_server, repo, tmp_path):
    name, _ = repo
    ours, ref = _ours(hub_server), _ref(hub_server)
    path = f"datasets/{name}/big.bin"
    assert ours.cat_file(path) == ref.cat_file(path) == BIG
    for start, end in ((0, 10), (1000, 70000), (-100, None), (300000, None), (5, 5)):
        assert ours.cat_file(path, start=start, end=end) == ref.cat_file(path, start=start, end=end) \
            == BIG[start:end]
    with ours.open(path, block_size=64 * 1024) as f:
        assert isinstance(f, HfFileSystemFile) and f.size == len(BIG)
        f.seek(100_000)
        assert f.read(200_000) == BIG[100_000:300_000]
        f.seek(-7, 2)
        assert f.read() == BIG[-7:]
    assert ours.open(path).read() == BIG
    ranges = []
    real_get = ours._get
    ours._get = lambda url, **kw: ranges.append(kw.get("headers", {}).get("Range")) or real_get(url, **kw)
    with ours.open(path, block_size=4096, cache_type="bytes") as f:
        f.seek(250_000)
        assert f.read(10) == BIG[250_000:250_010]
    assert len(ranges) == 1 and ranges[0].startswith("bytes=250000-")  # one Range request, not the file
    calls = []

    class Count(__import__("fsspec").callbacks.Callback):
        def call(self, *args, **kwargs):
            calls.append((self.size, self.value))

    ours.get_file(path, str(tmp_path / "out" / "big.bin"), callback=Count())
    assert (tmp_path / "out" / "big.bin").read_bytes() == BIG
    assert calls and calls[-1] == (len(BIG), len(BIG))
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["big.bin"]  # no temporary file left
    ours.get(f"datasets/{name}/data/sub", str(tmp_path / "sub"), recursive=True)
    assert (tmp_path / "sub" / "more" / "x.json").read_bytes() == b'{"a": 1}\n'


def test_revisions(hub_server, repo):
    name, _ = repo
    ours, ref = _ours(hub_server), _ref(hub_server)
    for root in (f"datasets/{name}@feature%2Fx", f"datasets/{name}@refs/pr/1", f"datasets/{name}@refs%2Fpr%2F1"):
        assert ours.ls(root, detail=False) == ref.ls(root, detail=False)
        assert ours.find(root) == ref.find(root)
    assert ours.cat_file(f"datasets/{name}@feature%2Fx/branch.txt") == b"on branch\n"
    assert ours.cat_file(f"hf://datasets/{name}@refs/pr/1/pr.txt") == b"in pr\n"
    assert ours.cat_file(f"datasets/{name}/branch.txt", revision="feature/x") == b"on branch\n"
    assert not ours.exists(f"datasets/{name}/pr.txt")
    r = ours.resolve_path(f"hf://datasets/{name}@refs%2Fpr%2F1/pr.txt")
    assert isinstance(r, HfFileSystemResolvedPath)
    x = ref.resolve_path(f"hf://datasets/{name}@refs%2Fpr%2F1/pr.txt")
    assert (r.repo_type, r.repo_id, r.revision, r.path_in_repo, r.unresolve()) == \
        (x.repo_type, x.repo_id, x.revision, x.path_in_repo, x.unresolve())
    for path in (f"{name}/x", f"datasets/{name}@nope/a.txt"):
        for fs in (ours, ref):
            with pytest.raises(FileNotFoundError):
                fs.ls(path)
    with pytest.raises(ValueError):
        ours.resolve_path(f"datasets/{name}@v1/a.txt", revision="v2")


def test_private_repo_needs_token(hub_server, repo):
    _, private = repo
    for fs in (_ours(hub_server, token=False), _ref(hub_server, token=False)):
        with pytest.raises(FileNotFoundError, match="repository not found"):
            fs.ls(private)
        assert not fs.exists(f"{private}/s.txt")
    assert _ours(hub_server).cat_file(f"{private}/s.txt") == b"secret\n"
    assert _ours(hub_server, token=hub_server.token_b).exists(f"{private}/s.txt") is False


def test_writes_visible_to_reference(hub_server, repo, tmp_path):
    name, _ = repo
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    ours = _ours(hub_server)
    before = len(api.list_repo_commits(name, repo_type="dataset"))
    ours.ls(f"datasets/{name}")  # fill dircache: the writes must invalidate it
    ours.pipe_file(f"datasets/{name}/w/piped.txt", b"piped")
    (tmp_path / "local.txt").write_bytes(b"put")
    ours.put_file(str(tmp_path / "local.txt"), f"hf://datasets/{name}/w/put.txt")
    with ours.open(f"datasets/{name}/w/opened.bin", "wb", commit_message="write through open") as f:
        f.write(b"x" * 1000)
        f.write(b"y")
    assert ours.cat_file(f"datasets/{name}/w/opened.bin") == b"x" * 1000 + b"y"
    ours.cp_file(f"datasets/{name}/a.txt", f"datasets/{name}/w/copy.txt")
    commits = api.list_repo_commits(name, repo_type="dataset")
    assert len(commits) == before + 4 and commits[0].title.startswith("Copy")
    assert commits[1].title == "write through open"
    ref = _ref(hub_server)
    assert ref.cat_file(f"datasets/{name}/w/piped.txt") == b"piped"
    assert ref.cat_file(f"datasets/{name}/w/put.txt") == b"put"
    assert ref.cat_file(f"datasets/{name}/w/copy.txt") == b"hello world\n"
    assert "w" in [p.rsplit("/", 1)[-1] for p in ours.ls(f"datasets/{name}", detail=False)]
    ours.rm(f"datasets/{name}/w", recursive=True)
    assert len(api.list_repo_commits(name, repo_type="dataset")) == before + 5
    assert not ours.exists(f"datasets/{name}/w/put.txt")
    assert not _ref(hub_server).exists(f"datasets/{name}/w/put.txt")
    with pytest.raises(FileNotFoundError):
        ours.open(f"datasets/alice/missing-{secrets.token_hex(2)}/x.txt", "wb")


def test_pyarrow_reads_through_filesystem(hub_server, repo):
    import pyarrow.parquet as pq

    name, _ = repo
    ours = _ours(hub_server)
    expected = pq.read_table(io.BytesIO(_parquet_bytes()))
    assert pq.read_table(f"datasets/{name}/data/train.parquet", filesystem=ours).equals(expected)
    with ours.open(f"hf://datasets/{name}/data/train.parquet", block_size=4096) as f:
        pf = pq.ParquetFile(f)
        assert pf.metadata.num_row_groups == 4
        assert pf.read_row_group(2).column("x").to_pylist() == list(range(50, 75))
    pandas = pytest.importorskip("pandas")
    with ours.open(f"datasets/{name}/data/train.parquet") as f:
        assert pandas.read_parquet(f)["s"].tolist() == expected.column("s").to_pylist()
    frame = pandas.read_parquet(f"datasets/{name}/data/train.parquet", filesystem=ours)
    assert frame["x"].tolist() == list(range(100))


def test_instances_cached_per_endpoint(hub_server, monkeypatch):
    a = HfFileSystem()
    assert a.endpoint == hub_server.endpoint and HfFileSystem() is a
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    b = HfFileSystem()
    assert b is not a and b.endpoint == "http://127.0.0.1:9"
    assert HfFileSystem(endpoint=hub_server.endpoint) is a
    import pickle

    assert pickle.loads(pickle.dumps(a)).endpoint == hub_server.endpoint


def test_protocol_registration(monkeypatch):
    import sys

    from snuggle.hub import hf_file_system

    reg = sys.modules["fsspec.registry"]

    # huggingface_hub is installed here: its "hf" stays what fsspec resolves
    assert hf_file_system.register_hf_protocol() is False
    import fsspec

    assert fsspec.get_filesystem_class("hf").__module__.startswith("huggingface_hub")
    saved = dict(reg._registry)
    monkeypatch.setattr(reg, "_registry", reg._registry)  # restored below: the dict is shared with fsspec
    monkeypatch.setattr(hf_file_system, "_huggingface_hub_installed", lambda: False)
    try:
        reg._registry.pop("hf", None)
        assert hf_file_system.register_hf_protocol() is True
        assert reg.registry["hf"] is HfFileSystem
        assert hf_file_system.register_hf_protocol() is False  # something (us) is registered: left alone
    finally:
        reg._registry.clear()
        reg._registry.update(saved)


def test_load_dataset_hf_url(hub_server, repo, monkeypatch, tmp_path):
    import snuggle

    name, _ = repo
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SNUGGLE_DISABLE_PROGRESS_BARS", "1")
    ds = snuggle.load_dataset("parquet", data_files=f"hf://datasets/{name}/data/train.parquet", split="train",
                              cache_dir=str(tmp_path / "cache"))
    assert ds["x"] == list(range(100))
    ds = snuggle.load_dataset("parquet", data_files={"train": f"hf://datasets/{name}/data/*.parquet"},
                              split="train", streaming=True)
    assert [r["x"] for r in ds][:3] == [0, 1, 2]
    from snuggle.errors import DataError

    with pytest.raises(DataError, match="no file matches"):
        snuggle.load_dataset("parquet", data_files=f"hf://datasets/{name}/data/nope-*.parquet", split="train",
                             cache_dir=str(tmp_path / "cache"))
    assert os.environ["HF_TOKEN"]
