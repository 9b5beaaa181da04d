"""preupload's shouldIgnore (spec §8.2): the repo's .gitignore at the revision, or the request's
`gitIgnore` (the .gitignore being committed) instead; the reference huggingface_hub client and
snuggle's client both leave ignored files out of the commit, as on huggingface.co."""

from __future__ import annotations

import httpx
import pytest

from tests.hub.server._hubapi import add_files, auth, create_repo

GITIGNORE = "*.log\n!keep.log\ncache/\n/secret.txt\n"


def _preupload(server, repo, paths, **extra):
    files = [{"path": p, "size": 1, "sample": ""} for p in paths]
    r = httpx.post(f"{server.endpoint}/api/models/{repo}/preupload/main", json={"files": files, **extra},
                   headers=auth(server.token))
    assert r.status_code == 200, r.text
    return {f["path"]: f["shouldIgnore"] for f in r.json()["files"]}


def test_should_ignore_from_repo_gitignore_and_request(hub_server):
    repo = create_repo(hub_server)
    paths = ["a.log", "keep.log", "cache/x.bin", "sub/cache/y", "secret.txt", "sub/secret.txt", "model.bin"]
    assert not any(_preupload(hub_server, repo, paths).values())  # no .gitignore yet
    add_files(hub_server, repo, {".gitignore": GITIGNORE.encode()})
    assert _preupload(hub_server, repo, paths) == {
        "a.log": True, "keep.log": False, "cache/x.bin": True, "sub/cache/y": True, "secret.txt": True,
        "sub/secret.txt": False, "model.bin": False,
    }
    # the .gitignore being committed replaces the repo's
    got = _preupload(hub_server, repo, paths, gitIgnore="*.bin\n")
    assert [p for p, ignored in got.items() if ignored] == ["cache/x.bin", "model.bin"]
    assert not any(_preupload(hub_server, repo, paths, gitIgnore="").values())
    r = httpx.post(f"{hub_server.endpoint}/api/models/{repo}/preupload/main",
                   json={"files": [{"path": "a", "size": 1, "sample": ""}], "gitIgnore": 3}, headers=auth(hub_server.token))
    assert r.status_code == 400 and "gitIgnore" in r.text


def _folder(tmp_path):
    folder = tmp_path / "folder"
    (folder / "cache").mkdir(parents=True)
    (folder / "sub").mkdir()
    (folder / ".gitignore").write_text(GITIGNORE)
    (folder / "run.log").write_text("log")
    (folder / "keep.log").write_text("kept")
    (folder / "cache" / "blob.bin").write_bytes(b"\0" * 100)
    (folder / "secret.txt").write_text("s")
    (folder / "sub" / "secret.txt").write_text("not anchored here")
    (folder / "config.json").write_text("{}")
    return folder


EXPECTED = [".gitattributes", ".gitignore", "config.json", "keep.log", "sub/secret.txt"]


def test_reference_client_upload_folder_skips_ignored_files(hub_server, tmp_path, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    api = huggingface_hub.HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    repo = create_repo(hub_server)
    api.upload_folder(folder_path=_folder(tmp_path), repo_id=repo, commit_message="with .gitignore")
    assert sorted(api.list_repo_files(repo)) == EXPECTED
    # the committed .gitignore now applies to later uploads without one
    api.upload_file(path_or_fileobj=b"late", path_in_repo="late.log", repo_id=repo)
    assert "late.log" not in api.list_repo_files(repo)


def test_snuggle_client_upload_folder_skips_ignored_files(hub_server, tmp_path, monkeypatch):
    from snuggle.hub import HfApi

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    repo = create_repo(hub_server)
    api.upload_folder(folder_path=_folder(tmp_path), repo_id=repo, commit_message="with .gitignore")
    assert sorted(api.list_repo_files(repo)) == EXPECTED
    api.upload_file(path_or_fileobj=b"late", path_in_repo="late.log", repo_id=repo)
    assert "late.log" not in api.list_repo_files(repo)
