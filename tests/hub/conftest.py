"""The `hub_server` fixture: a real `snuggle hub serve` subprocess on loopback, shared by every Hub test.

    def test_whoami(hub_server):
        r = httpx.get(f"{hub_server.endpoint}/api/whoami-v2", headers={"Authorization": f"Bearer {hub_server.token}"})
        assert r.json()["name"] == "alice"

The session server has users alice (write token `token`, read token `token_read`) and bob (`token_b`).
`hub_server.add_user("carol", org="acme")` returns a write token for a new user. Tests that need a server of
their own (faults, PostgreSQL, limits) call `start_hub_server(data_dir, ...)` and `stop()` it themselves.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_CLI = [sys.executable, "-m", "snuggle.cli.main", "hub"]
_START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _base_env(env: dict | None) -> dict:
    out = dict(os.environ)
    out.pop("HF_TOKEN", None)
    out.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    # the server never needs more than one thread per math library
    out.setdefault("OMP_NUM_THREADS", "1")
    out.update(env or {})
    return out


def _run_cli(args: list[str], env: dict | None = None) -> str:
    """Run `snuggle hub ARGS` and return its stdout (raises with stderr on failure)."""
    proc = subprocess.run(_CLI + args, cwd=REPO, env=_base_env(env), capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"`snuggle hub {' '.join(args)}` failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
    return proc.stdout


@dataclass
class HubServerHandle:
    """A running (or stopped) `snuggle hub serve` process and the credentials of its users."""

    data_dir: Path
    port: int
    database_url: str | None = None
    env: dict | None = None
    extra_args: list[str] = field(default_factory=list)
    token: str = ""
    token_b: str = ""
    token_read: str = ""
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _db_args(self) -> list[str]:
        return ["--database-url", self.database_url] if self.database_url else []

    def add_user(self, name: str, org: str | None = None) -> str:
        """Create a user (optionally a member of `org`) and return a write token; works while serving."""
        args = ["user", "add", name, "--data", str(self.data_dir), *self._db_args()]
        if org:
            args += ["--org", org]
        return _run_cli(args, self.env).split()[-1]

    def add_token(self, user: str, role: str = "write") -> str:
        out = _run_cli(["token", "add", user, "--role", role, "--data", str(self.data_dir), *self._db_args()], self.env)
        return out.split()[-1]

    def start(self) -> None:
        """Start the server process (same data dir and port) and wait until it answers."""
        if self.process is not None and self.process.poll() is None:
            return
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"
        log = open(self.log_path, "ab")
        cmd = _CLI + ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--data", str(self.data_dir),
                      *self._db_args(), *self.extra_args]
        self.process = subprocess.Popen(cmd, cwd=REPO, env=_base_env(self.env), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + _START_TIMEOUT
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub server exited with {self.process.returncode}:\n{self.log()}")
            try:
                r = httpx.get(f"{self.endpoint}/api/whoami-v2", headers=headers, timeout=5)
                if r.status_code in (200, 401):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"hub server did not answer within {_START_TIMEOUT:.0f}s:\n{self.log()}")

    def stop(self, kill: bool = False) -> None:
        """Stop the server (SIGTERM, or SIGKILL with kill=True, e.g. for crash tests)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)
        self.process = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:] if self.log_path else ""
        except OSError:
            return ""


def _create_test_users(data_dir: Path, database_url: str | None) -> tuple[str, str, str]:
    """alice (write + read token) and bob, created in-process: the same backend calls as
    `snuggle hub user add` / `token add` (tested in test_cli_server.py) without three interpreter start-ups."""
    from snuggle.hub.server.backend import HubBackend
    from snuggle.hub.server.config import ServerConfig

    backend = HubBackend(ServerConfig(data_dir=data_dir, database_url=database_url))
    try:
        backend.add_user("alice")
        backend.add_user("bob")
        return (backend.create_token("alice", role="write", name="write"),
                backend.create_token("bob", role="write", name="write"),
                backend.create_token("alice", role="read", name="read"))
    finally:
        backend.close()


def start_hub_server(data_dir, database_url: str | None = None, port: int | None = None, env: dict | None = None,
                     extra_args: list[str] | None = None) -> HubServerHandle:
    """Create users alice (write + read token) and bob in `data_dir` (once) and start a server on it.

    Calling it again on the same data dir reuses the stored tokens (data_dir/.test-tokens)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = HubServerHandle(data_dir=data_dir, port=port or _free_port(), database_url=database_url, env=env,
                             extra_args=list(extra_args or []))
    saved = data_dir / ".test-tokens"
    if saved.exists():
        handle.token, handle.token_b, handle.token_read = saved.read_text().split()
    else:
        handle.token, handle.token_b, handle.token_read = _create_test_users(data_dir, database_url)
        saved.write_text(f"{handle.token} {handle.token_b} {handle.token_read}\n")
    handle.start()
    return handle


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory):
    handle = start_hub_server(tmp_path_factory.mktemp("hub") / "data")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server on loopback for the whole run (installed with apt-get on a fresh machine)."""
    from tests.hub._postgres import PostgresServer

    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _no_library_offline_switches(monkeypatch):
    """Other test modules export HF_DATASETS_OFFLINE / TRANSFORMERS_OFFLINE at import (their reference libraries
    must not reach the network); the Hub tests run those libraries in subprocesses against the loopback server,
    so the switches must not leak into them. HF_HUB_OFFLINE is handled by each test (snuggle reads it per call)."""
    for name in ("HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
