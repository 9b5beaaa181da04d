"""The real huggingface_hub client (test oracle) against `snuggle hub serve`: upload, list, download,
metadata, errors, PRs and HfFileSystem ranged reads, with the endpoint passed explicitly."""

from __future__ import annotations

import os
import uuid

import pytest

huggingface_hub = pytest.importorskip("huggingface_hub")


@pytest.fixture
def hf(hub_server, monkeypatch, tmp_path):
    """HfApi for alice; the suite runs with HF_HUB_OFFLINE=1, which the client checks per request."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    api = huggingface_hub.HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    return api


def test_upload_list_download_roundtrip(hf, hub_server, tmp_path):
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfFileSystem, hf_hub_download, snapshot_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    repo_id = f"alice/hfclient-{uuid.uuid4().hex[:8]}"
    url = hf.create_repo(repo_id)
    assert str(url) == f"{hub_server.endpoint}/{repo_id}"
    assert hf.create_repo(repo_id, exist_ok=True).repo_id == repo_id
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "README.md").write_text("---\nlicense: mit\ntags:\n- hfclient\n---\n# card\n")
    (folder / "sub" / "w.bin").write_bytes(os.urandom(100_000))
    (folder / "config.json").write_text('{"a": 1}')
    ci = hf.upload_folder(folder_path=folder, repo_id=repo_id, commit_message="folder")
    assert ci.commit_url == f"{hub_server.endpoint}/{repo_id}/commit/{ci.oid}"
    assert sorted(hf.list_repo_files(repo_id)) == [".gitattributes", "README.md", "config.json", "sub/w.bin"]
    info = hf.model_info(repo_id, files_metadata=True)
    assert info.sha == ci.oid and "hfclient" in info.tags and info.card_data["license"] == "mit"
    # unchanged content is skipped by the client thanks to exact preupload oids
    again = hf.upload_folder(folder_path=folder, repo_id=repo_id, commit_message="same")
    assert again.oid == ci.oid
    cache = tmp_path / "cache"
    path = hf_hub_download(repo_id, "sub/w.bin", endpoint=hub_server.endpoint, token=hub_server.token, cache_dir=cache)
    assert open(path, "rb").read() == (folder / "sub" / "w.bin").read_bytes()
    snap = snapshot_download(repo_id, endpoint=hub_server.endpoint, token=hub_server.token, cache_dir=cache)
    assert os.path.basename(snap) == ci.oid
    assert not hf.verify_repo_checksums(repo_id, cache_dir=cache).mismatches
    hf.create_branch(repo_id, branch="feat/x")
    hf.create_commit(repo_id, [CommitOperationAdd("feat.txt", b"f"), CommitOperationDelete("config.json")],
                     commit_message="on feat", revision="feat/x")
    assert hf.file_exists(repo_id, "feat.txt", revision="feat/x") and not hf.file_exists(repo_id, "feat.txt")
    assert hf.list_repo_commits(repo_id, revision="feat/x")[0].title == "on feat"
    assert [p.path for p in hf.get_paths_info(repo_id, ["sub", "nope"])] == ["sub"]
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "nope.txt", endpoint=hub_server.endpoint, token=hub_server.token, cache_dir=cache)
    with pytest.raises(RevisionNotFoundError):
        hf.model_info(repo_id, revision="nope")
    with pytest.raises(RepositoryNotFoundError):
        hf.model_info(f"alice/missing-{uuid.uuid4().hex[:6]}")
    pr = hf.upload_file(path_or_fileobj=b"pr", path_in_repo="pr.txt", repo_id=repo_id, create_pr=True)
    assert pr.pr_revision == f"refs/pr/{pr.pr_num}" and hf.get_discussion_details(repo_id, pr.pr_num).is_pull_request
    fs = HfFileSystem(endpoint=hub_server.endpoint, token=hub_server.token)
    with fs.open(f"{repo_id}/sub/w.bin", "rb") as f:
        f.seek(5000)
        assert f.read(100) == (folder / "sub" / "w.bin").read_bytes()[5000:5100]
    assert fs.cat(f"{repo_id}@feat%2Fx/feat.txt") == b"f"
    hf.delete_repo(repo_id)
    assert not hf.repo_exists(repo_id)
