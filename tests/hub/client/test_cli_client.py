"""`snuggle hub login|logout|whoami|repo create|upload|download|ls` against the test Hub."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from snuggle.cli.hub_client import main
from snuggle.hub.client import HfApi
from tests.hub.client._push_helpers import REPO, unique


@pytest.fixture
def cli_env(hub_server, tmp_path, monkeypatch):
    """No token in the environment: commands pass --token or rely on `snuggle hub login`."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.chdir(tmp_path)
    return hub_server


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_login_whoami_logout(cli_env, capsys, tmp_path):
    code, _, err = run(capsys, "login", "--token", cli_env.token)
    assert code == 0 and "Login successful as alice" in err
    token_file = tmp_path / "hf-home" / "token"
    assert token_file.read_text().strip() == cli_env.token
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert run(capsys, "whoami")[:2] == (0, "alice\n")
    assert run(capsys, "logout")[0] == 0 and not token_file.exists()
    code, _, err = run(capsys, "whoami")
    assert code == 1 and "error" in err
    code, _, err = run(capsys, "login", "--token", "hf_not_a_token")
    assert code == 1 and "Invalid" in err and not token_file.exists()
    code, _, err = run(capsys, "whoami", "--endpoint", "http://127.0.0.1:9", "--token", cli_env.token)
    assert code == 1 and "cannot reach the Hub at http://127.0.0.1:9" in err


def test_repo_upload_ls_download_round_trip(cli_env, capsys, tmp_path):
    token = ["--token", cli_env.token]
    name = unique("cli")
    repo_id = f"alice/{name}"
    code, out, _ = run(capsys, "repo", "create", name, "--private", *token)
    assert code == 0 and out.strip() == f"{cli_env.endpoint}/{repo_id}"
    assert run(capsys, "repo", "create", name, *token)[0] == 1  # exists
    assert run(capsys, "repo", "create", name, "--exist-ok", *token)[0] == 0

    folder = tmp_path / "upload-me"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"a": 1}')
    (folder / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 100)
    (folder / "notes.log").write_text("skip me")
    code, out, _ = run(capsys, "upload", repo_id, str(folder), "--exclude", "*.log", "--commit-message", "cli folder",
                       *token)
    assert code == 0 and out.startswith(cli_env.endpoint)
    api = HfApi(token=cli_env.token)
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "config.json", "sub/weights.bin"]
    assert api.list_repo_commits(repo_id)[0].title == "cli folder"

    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n# CLI\n")
    assert run(capsys, "upload", repo_id, "README.md", "docs/README.md", "--revision", "dev", *token)[0] == 0
    assert "docs/README.md" in api.list_repo_files(repo_id, revision="dev")
    assert "docs/README.md" not in api.list_repo_files(repo_id)
    assert run(capsys, "upload", repo_id, str(folder), "--include", "config.json", "--delete", "sub/*", *token)[0] == 0
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "config.json"]

    code, out, _ = run(capsys, "ls", repo_id, "-R", "--revision", "dev", *token)
    assert code == 0 and out.split() == [".gitattributes", "config.json", "docs/", "docs/README.md", "sub/",
                                         "sub/weights.bin"]
    assert run(capsys, "ls", repo_id, "docs", "--revision", "dev", *token)[1].split() == ["docs/README.md"]

    code, out, _ = run(capsys, "download", repo_id, "config.json", *token)
    assert code == 0 and Path(out.strip()).read_text() == '{"a": 1}'
    assert "models--alice--" in out  # the HF cache layout
    code, out, _ = run(capsys, "download", repo_id, "--revision", "dev", "--include", "docs/*",
                       "--local-dir", str(tmp_path / "dl"), *token)
    assert code == 0 and Path(out.strip()) == tmp_path / "dl"
    assert (tmp_path / "dl" / "docs" / "README.md").read_text() == "---\nlicense: mit\n---\n# CLI\n"
    assert not (tmp_path / "dl" / "sub").exists()

    code, _, err = run(capsys, "download", repo_id, "missing.txt", *token)
    assert code == 1 and "missing.txt" in err
    code, _, err = run(capsys, "ls", repo_id)  # private repo, no token: indistinguishable from missing
    assert code == 1 and "error" in err
    assert run(capsys, "repo", "delete", repo_id, *token)[0] == 0
    assert not api.repo_exists(repo_id)


def test_dataset_repo_and_snuggle_command(cli_env, tmp_path):
    """Through the real `snuggle hub` entry point (snuggle/cli/hub.py delegates to hub_client.main)."""
    (tmp_path / "train.csv").write_text("text,label\nhi,1\n")
    env = dict(os.environ, HF_TOKEN=cli_env.token, PYTHONDONTWRITEBYTECODE="1")
    name = unique("cli-ds")
    cmd = [sys.executable, "-m", "snuggle.cli.main", "hub"]
    up = subprocess.run(cmd + ["upload", f"alice/{name}", "train.csv", "data/train.csv", "--repo-type", "dataset"],
                        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    ls = subprocess.run(cmd + ["ls", f"alice/{name}", "-R", "--repo-type", "dataset"], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=120)
    assert ls.returncode == 0, ls.stderr
    assert ls.stdout.split() == [".gitattributes", "data/", "data/train.csv"]
    # options before positionals reach the client parser (`snuggle hub whoami --token T`)
    env.pop("HF_TOKEN")
    who = subprocess.run(cmd + ["whoami", "--token", cli_env.token], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert (who.returncode, who.stdout) == (0, "alice\n"), who.stderr
