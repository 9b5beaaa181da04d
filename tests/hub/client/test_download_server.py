"""Downloads against the real snuggle Hub server, side by side with huggingface_hub 2.4.0:

* our cache and the reference's are the same tree (paths, symlink targets, bytes, refs, trees/ listing),
  and either client can fill a cache the other started, in both orders;
* the same exceptions for a missing repo / revision / file;
* a download killed mid-way (SIGKILL of a subprocess) resumes with a Range request;
* two processes downloading the same file at once both get it whole (the shared .locks/ lock).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

huggingface_hub = pytest.importorskip("huggingface_hub")
import huggingface_hub.constants  # noqa: E402  (patched below; not loaded by the lazy package import)

REPO_ROOT = Path(__file__).resolve().parents[3]
BIG_SIZE = 6 * 1024 * 1024


@pytest.fixture(autouse=True)
def _online(monkeypatch, hub_server):
    # the suite exports HF_HUB_OFFLINE=1; these tests talk to a loopback server only (the reference read it at
    # import, so its constant is patched too)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture(scope="module")
def repo(hub_server, tmp_path_factory):
    """A public model repo (files in a sub-folder, a 6 MiB file) with a tag `v1` on its first commit."""
    mp = pytest.MonkeyPatch()
    mp.delenv("HF_HUB_OFFLINE", raising=False)
    mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    ref = huggingface_hub.HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    repo_id = f"alice/h5-dl-{secrets.token_hex(3)}"
    folder = tmp_path_factory.mktemp("upload")
    (folder / "sub").mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}\n')
    (folder / "sub" / "a b.txt").write_text("space in the name\n")
    (folder / "big.bin").write_bytes(os.urandom(BIG_SIZE))
    try:
        ref.create_repo(repo_id)
        ref.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message="files")
        ref.create_tag(repo_id, tag="v1")
        ref.upload_file(repo_id=repo_id, path_or_fileobj=b'{"model_type": "gpt2"}\n', path_in_repo="config.json")
        yield repo_id, folder
    finally:
        ref.delete_repo(repo_id, missing_ok=True)
        mp.undo()


def _tree(root: Path) -> dict:
    """Everything under a cache folder: dirs, symlink targets and file digests."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full))
            elif os.path.isdir(full):
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", hashlib.sha256(Path(full).read_bytes()).hexdigest())
    return out


def _ref_snapshot(repo_id, cache_dir, endpoint, **kw):
    return huggingface_hub.snapshot_download(repo_id, cache_dir=cache_dir, endpoint=endpoint, **kw)


def test_snapshot_cache_identical_to_reference(hub_server, repo, tmp_path):
    from snuggle.hub import snapshot_download

    repo_id, folder = repo
    ours = snapshot_download(repo_id, cache_dir=tmp_path / "ours")
    theirs = _ref_snapshot(repo_id, tmp_path / "ref", hub_server.endpoint)
    assert os.path.relpath(ours, tmp_path / "ours") == os.path.relpath(theirs, tmp_path / "ref")
    tree = _tree(tmp_path / "ours")
    assert tree == _tree(tmp_path / "ref")
    assert Path(ours, "big.bin").read_bytes() == (folder / "big.bin").read_bytes()
    storage = tmp_path / "ours" / f"models--{repo_id.replace('/', '--')}"
    assert (storage / "refs" / "main").read_text() == os.path.basename(ours)
    assert f"{storage.name}/trees/{os.path.basename(ours)}.json" in tree


@pytest.mark.parametrize("first", ["ours", "reference"])
def test_one_cache_shared_both_orders(hub_server, repo, tmp_path, first):
    from snuggle.hub import hf_hub_download, snapshot_download

    repo_id, _ = repo
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    _ref_snapshot(repo_id, alone, hub_server.endpoint, revision="v1")
    _ref_snapshot(repo_id, alone, hub_server.endpoint)
    if first == "ours":
        snapshot_download(repo_id, cache_dir=shared, revision="v1", allow_patterns=["*.json", "sub/*"])
        _ref_snapshot(repo_id, shared, hub_server.endpoint, revision="v1")
        _ref_snapshot(repo_id, shared, hub_server.endpoint)
    else:
        _ref_snapshot(repo_id, shared, hub_server.endpoint, revision="v1", allow_patterns="*.json")
        snapshot_download(repo_id, cache_dir=shared, revision="v1")
        snapshot_download(repo_id, cache_dir=shared)
    assert _tree(shared) == _tree(alone)
    # each client reads the files the other wrote, offline
    ours = hf_hub_download(repo_id, "a b.txt", subfolder="sub", revision="v1", cache_dir=shared,
                           local_files_only=True)
    theirs = huggingface_hub.hf_hub_download(repo_id, "sub/a b.txt", revision="v1", cache_dir=shared,
                                             local_files_only=True)
    assert ours == theirs


def test_hf_hub_download_paths_match_reference(hub_server, repo, tmp_path):
    from snuggle.hub import hf_hub_download, try_to_load_from_cache

    repo_id, _ = repo
    for kwargs in ({"filename": "config.json"}, {"filename": "config.json", "revision": "v1"},
                   {"filename": "a b.txt", "subfolder": "sub"}):
        ours = hf_hub_download(repo_id, cache_dir=tmp_path / "o", **kwargs)
        theirs = huggingface_hub.hf_hub_download(repo_id, cache_dir=tmp_path / "r", endpoint=hub_server.endpoint,
                                                 **kwargs)
        assert os.path.relpath(ours, tmp_path / "o") == os.path.relpath(theirs, tmp_path / "r")
        assert os.readlink(ours) == os.readlink(theirs)
    assert try_to_load_from_cache(repo_id, "config.json", cache_dir=tmp_path / "r") == \
        huggingface_hub.try_to_load_from_cache(repo_id, "config.json", cache_dir=tmp_path / "r")
    assert _tree(tmp_path / "o") == _tree(tmp_path / "r")


def test_errors_match_reference(hub_server, repo, tmp_path):
    from snuggle.hub import hf_hub_download, snapshot_download

    repo_id, _ = repo
    cases = [((f"alice/none-{secrets.token_hex(2)}", "config.json"), {}),
             ((repo_id, "config.json"), {"revision": "no-such-branch"}),
             ((repo_id, "missing.json"), {})]
    for args, kwargs in cases:
        with pytest.raises(Exception) as ours:
            hf_hub_download(*args, cache_dir=tmp_path / "o", **kwargs)
        with pytest.raises(Exception) as theirs:
            huggingface_hub.hf_hub_download(*args, cache_dir=tmp_path / "r", endpoint=hub_server.endpoint, **kwargs)
        assert type(ours.value).__name__ == type(theirs.value).__name__, args
    for kwargs in ({"repo_id": f"alice/none-{secrets.token_hex(2)}"}, {"repo_id": repo_id, "revision": "nope"}):
        with pytest.raises(Exception) as ours:
            snapshot_download(cache_dir=tmp_path / "o", **kwargs)
        with pytest.raises(Exception) as theirs:
            _ref_snapshot(cache_dir=tmp_path / "r", endpoint=hub_server.endpoint, **kwargs)
        assert type(ours.value).__name__ == type(theirs.value).__name__
    assert _tree(tmp_path / "o") == _tree(tmp_path / "r")  # the .no_exist marker included


def test_local_dir_matches_reference(hub_server, repo, tmp_path):
    from snuggle.hub import snapshot_download

    repo_id, _ = repo
    ours = snapshot_download(repo_id, local_dir=tmp_path / "o", allow_patterns=["*.json", "sub/*"])
    theirs = _ref_snapshot(repo_id, None, hub_server.endpoint, local_dir=tmp_path / "r",
                           allow_patterns=["*.json", "sub/*"])
    strip = lambda tree: {k: v for k, v in tree.items() if not k.endswith(".metadata")}  # noqa: E731 (timestamps)
    assert strip(_tree(Path(ours))) == strip(_tree(Path(theirs)))
    meta = Path(ours, ".cache/huggingface/download/config.json.metadata").read_text().splitlines()
    ref_meta = Path(theirs, ".cache/huggingface/download/config.json.metadata").read_text().splitlines()
    assert meta[:2] == ref_meta[:2]


_SLOW_DOWNLOAD = textwrap.dedent("""
    import sys, time, httpx
    # slow the body down so the parent can kill us (or race a second process) mid-file
    original = httpx.Response.iter_bytes
    def slow(self, chunk_size=None):
        for chunk in original(self, chunk_size):
            for i in range(0, len(chunk), 65536):
                time.sleep(0.002)
                yield chunk[i:i + 65536]
    httpx.Response.iter_bytes = slow
    from snuggle.hub import hf_hub_download
    print(hf_hub_download(sys.argv[1], "big.bin", cache_dir=sys.argv[2]), flush=True)
""")


def _spawn(repo_id, cache, endpoint):
    env = dict(os.environ, HF_ENDPOINT=endpoint, HF_HUB_DISABLE_PROGRESS_BARS="1")
    env.pop("HF_HUB_OFFLINE", None)
    return subprocess.Popen([sys.executable, "-c", _SLOW_DOWNLOAD, repo_id, str(cache)], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_download_resumes_with_range(hub_server, repo, tmp_path, monkeypatch):
    from snuggle.hub import hf_hub_download, http

    repo_id, folder = repo
    cache = tmp_path / "cache"
    proc = _spawn(repo_id, cache, hub_server.endpoint)
    blobs = cache / f"models--{repo_id.replace('/', '--')}" / "blobs"
    deadline = time.monotonic() + 60
    partial = []
    while time.monotonic() < deadline and proc.poll() is None:
        partial = [p for p in blobs.glob("*.incomplete")] if blobs.is_dir() else []
        if partial and partial[0].stat().st_size > BIG_SIZE // 4:
            break
        time.sleep(0.02)
    assert partial, f"the download never started: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = partial[0].stat().st_size
    assert 0 < done < BIG_SIZE

    seen = []
    real = http.request

    def spy(method, url, **kw):
        seen.append((method, (kw.get("headers") or {}).get("Range")))
        return real(method, url, **kw)

    monkeypatch.setattr(http, "request", spy)
    path = hf_hub_download(repo_id, "big.bin", cache_dir=cache)
    assert Path(path).read_bytes() == (folder / "big.bin").read_bytes()
    gets = [r for m, r in seen if m == "GET"]
    assert len(gets) == 1 and gets[0] is not None and int(gets[0][len("bytes="):-1]) >= done
    assert not list(blobs.glob("*.incomplete"))


def test_two_processes_same_file(hub_server, repo, tmp_path):
    repo_id, folder = repo
    cache = tmp_path / "cache"
    procs = [_spawn(repo_id, cache, hub_server.endpoint) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    paths = {o[0].strip() for o in outs}
    assert len(paths) == 1
    assert Path(paths.pop()).read_bytes() == (folder / "big.bin").read_bytes()
    storage = cache / f"models--{repo_id.replace('/', '--')}"
    assert len(list((storage / "blobs").iterdir())) == 1  # one blob, no leftover .incomplete
    assert list((cache / ".locks" / storage.name).glob("*.lock"))
