"""snuggle.hub.auth: token resolution like huggingface_hub, login/logout files shared with it both ways."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import httpx
import pytest

from snuggle.hub import auth, errors, http

ENDPOINT = "http://hub.test"


@pytest.fixture
def home(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE",
                 "HF_HUB_DISABLE_IMPLICIT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", ENDPOINT)
    return tmp_path / "hf"


@pytest.fixture
def whoami_server(monkeypatch):
    """MockTransport answering /api/whoami-v2 for token hf_good only."""
    seen = []

    def handler(request):
        seen.append(request)
        if request.headers.get("authorization") == "Bearer hf_good":
            return httpx.Response(200, json={"type": "user", "name": "alice", "auth": {
                "type": "access_token", "accessToken": {"displayName": "laptop", "role": "write"}}})
        return httpx.Response(401, headers={"X-Error-Message": "Invalid credentials in Authorization header"},
                              json={"error": "Invalid credentials in Authorization header"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    monkeypatch.setattr(http, "_session", client)
    yield seen
    client.close()


def _reference(code: str, home, extra_env: dict | None = None) -> str:
    """Run huggingface_hub in a subprocess (its constants read the environment at import)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH")}
    env.update({"HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1", **(extra_env or {})})
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_token_resolution_order(home, monkeypatch):
    assert auth.get_token() is None
    home.mkdir(parents=True)
    (home / "token").write_text("  hf_file\n")
    assert auth.get_token() == "hf_file"
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_legacy")
    assert auth.get_token() == "hf_legacy"
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    assert auth.get_token() == "hf_env"
    monkeypatch.setenv("HF_TOKEN", "")  # empty env falls through
    assert auth.get_token() == "hf_legacy"
    other = home / "elsewhere"
    other.write_text("hf_path")
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN")
    monkeypatch.setenv("HF_TOKEN_PATH", str(other))
    assert auth.get_token() == "hf_path"


def test_login_validates_and_writes_0600(home, whoami_server):
    auth.login("hf_good")
    token_file = home / "token"
    assert token_file.read_text() == "hf_good"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "stored_tokens").stat().st_mode) == 0o600
    assert auth.get_stored_tokens() == {"laptop": "hf_good"}
    assert auth.get_token() == "hf_good"
    assert whoami_server[0].url.host == "hub.test"
    assert not [p for p in home.iterdir() if p.name.endswith(".tmp")]


def test_login_rejects_invalid_token_and_writes_nothing(home, whoami_server):
    with pytest.raises(errors.HfHubHTTPError, match="Invalid user token"):
        auth.login("hf_bad")
    assert not (home / "token").exists() and not (home / "stored_tokens").exists()


def test_login_offline_saves_without_request(home, monkeypatch, whoami_server):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    auth.login("hf_offline")
    assert auth.get_token() == "hf_offline" and whoami_server == []


def test_reference_reads_our_login(home, whoami_server):
    auth.login("hf_good")
    out = _reference("import json, huggingface_hub as h; from huggingface_hub.utils._auth import get_stored_tokens;"
                     "print(json.dumps([h.get_token(), get_stored_tokens()]))", home)
    assert json.loads(out) == ["hf_good", {"laptop": "hf_good"}]


def test_we_read_reference_login(home):
    _reference("from huggingface_hub.utils._auth import _save_token; "
               "from huggingface_hub._login import _set_active_token; "
               "_save_token(token='hf_ref', token_name='ci'); _set_active_token('ci', add_to_git_credential=False)",
               home)
    assert auth.get_token() == "hf_ref"
    assert auth.get_stored_tokens() == {"ci": "hf_ref"}
    assert stat.S_IMODE((home / "token").stat().st_mode) == 0o600


def test_logout(home, whoami_server, monkeypatch):
    auth.login("hf_good")
    auth._save_token("hf_other", "other")
    auth.logout("laptop")  # the active token's name: file removed, other kept
    assert auth.get_token() is None and auth.get_stored_tokens() == {"other": "hf_other"}
    auth.logout()
    assert not (home / "stored_tokens").exists()
    auth.login("hf_good")
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    with pytest.raises(OSError, match="HF_TOKEN"):
        auth.logout()
    assert not (home / "token").exists()


def test_whoami_needs_a_token(home, whoami_server):
    from snuggle.hub import HfApi

    with pytest.raises(errors.LocalTokenNotFoundError):
        HfApi().whoami()
    with pytest.raises(ValueError):
        HfApi().whoami(token=False)
    assert HfApi(token="hf_good").whoami()["name"] == "alice"
    assert auth.whoami(token="hf_good")["name"] == "alice"
    with pytest.raises(errors.HfHubHTTPError, match="Invalid user token") as info:
        HfApi().whoami(token="hf_bad")
    assert info.value.response.status_code == 401


def test_login_without_token_in_non_tty(home, monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(errors.LocalTokenNotFoundError):
        auth.login()
