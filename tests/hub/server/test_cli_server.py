"""`snuggle hub` server-side commands: serve flags (--inline-limit, --public-url), user add (token as the
last word, works while the server runs, --org), token add --role, and the client-command delegation."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from snuggle.cli import hub as hub_cli
from snuggle.cli.main import build_parser
from tests.hub.conftest import REPO, start_hub_server
from tests.hub.server._hubapi import auth, commit, create_repo, file_line


def test_parser_defaults_and_sizes():
    args = build_parser().parse_args(["hub", "serve", "--data", "d"])
    assert (args.host, args.port, args.database_url, args.public_url) == ("127.0.0.1", 8080, None, None)
    args = build_parser().parse_args(["hub", "user", "add", "zoe", "--org", "a", "--org", "b", "--data", "d"])
    assert args.name == "zoe" and args.org == ["a", "b"]
    assert hub_cli.parse_size("512MiB") == 512 * 1024 * 1024
    assert hub_cli.parse_size("50GB") == 50 * 10**9
    assert hub_cli.parse_size("1024") == 1024
    with pytest.raises(ValueError):
        hub_cli.parse_size("lots")


def test_user_and_token_add_while_serving(hub_server):
    token = hub_server.add_user("carol", org="acme")
    assert token.startswith("hf_")
    me = httpx.get(f"{hub_server.endpoint}/api/whoami-v2", headers=auth(token)).json()
    assert me["name"] == "carol" and [o["name"] for o in me["orgs"]] == ["acme"]
    assert me["auth"]["accessToken"]["role"] == "write"
    repo = create_repo(hub_server, "org-repo", token=token, org="acme")
    assert repo == "acme/org-repo"
    read = hub_server.add_token("carol", role="read")
    assert httpx.get(f"{hub_server.endpoint}/api/whoami-v2", headers=auth(read)).json()["auth"]["accessToken"]["role"] == "read"
    dup = subprocess.run([sys.executable, "-m", "snuggle.cli.main", "hub", "user", "add", "carol", "--data",
                          str(hub_server.data_dir)], cwd=REPO, capture_output=True, text=True)
    assert dup.returncode != 0 and "carol" in dup.stderr and "hf_" not in dup.stdout + dup.stderr


def test_serve_limits_public_url_and_restart(tmp_path):
    server = start_hub_server(tmp_path / "data", extra_args=["--inline-limit", "1KiB",
                                                             "--public-url", "http://hub.example:1234/prefix"])
    try:
        repo = create_repo(server)
        r = httpx.post(f"{server.endpoint}/api/repos/create", json={"name": "urls"}, headers=auth(server.token))
        assert r.json()["url"] == "http://hub.example:1234/prefix/alice/urls"
        # behind a proxy that keeps the prefix, the API answers under it too
        me = httpx.get(f"{server.endpoint}/prefix/api/whoami-v2", headers=auth(server.token))
        assert me.status_code == 200 and me.json()["name"] == "alice"
        assert httpx.get(f"{server.endpoint}/prefix/api/models/{repo}").json()["id"] == repo
        files = [{"path": "small.txt", "size": 1024, "sample": ""}, {"path": "big.bin", "size": 1025, "sample": ""}]
        modes = httpx.post(f"{server.endpoint}/api/models/{repo}/preupload/main", json={"files": files},
                           headers=auth(server.token)).json()["files"]
        assert [f["uploadMode"] for f in modes] == ["regular", "lfs"]
        r = commit(server, repo, [file_line("big.bin", b"x" * 1025)])
        assert r.status_code == 413 and r.headers["x-error-message"]
        r = commit(server, repo, [file_line("small.txt", b"y" * 1024)])
        assert r.status_code == 200 and r.json()["commitUrl"].startswith("http://hub.example:1234/prefix/alice/")
        server.stop()
        server.start()  # same data dir and port: the repo survived
        assert httpx.get(f"{server.endpoint}/{repo}/resolve/main/small.txt").content == b"y" * 1024
    finally:
        server.stop()


def test_client_commands_delegate_or_explain(monkeypatch, capsys):
    monkeypatch.setattr(hub_cli, "_CLIENT_MODULE", "snuggle.cli._hub_client_missing_for_test")
    args = build_parser().parse_args(["hub", "whoami"])
    assert args.func(args) == 2
    assert "not available" in capsys.readouterr().err
