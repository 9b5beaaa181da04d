"""The PostgreSQL test server itself: reachable on loopback only, one fresh database per call."""

from __future__ import annotations

import glob
from pathlib import Path

import psycopg
import pytest


def test_postgres_server_listens_on_loopback_only(postgres_server, postgres_url):
    assert postgres_url == f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/hub"
    with psycopg.connect(postgres_server.dsn("hub")) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        # the unix socket lives in the temporary cluster folder, not in /var/run/postgresql
        assert conn.execute("SHOW unix_socket_directories").fetchone()[0] == str(postgres_server.root)
        assert conn.execute("SELECT current_database()").fetchone()[0] == "hub"


def test_create_database_starts_empty(postgres_server):
    url = postgres_server.create_database("h8_scratch")
    with psycopg.connect(postgres_server.dsn("h8_scratch"), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x int)")
    postgres_server.create_database("h8_scratch")  # again: dropped and re-created
    with psycopg.connect(postgres_server.dsn("h8_scratch")) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
    assert tables == 0 and url.endswith("/h8_scratch")


def test_server_bin_found_outside_path(postgres_server, monkeypatch):  # the fixture installs it if needed
    """Debian keeps initdb/pg_ctl in /usr/lib/postgresql/<version>/bin, not in PATH: found there too."""
    from tests.hub import _postgres

    in_path = _postgres.find_server_bin()
    assert in_path is not None and (in_path / "initdb").exists() and (in_path / "pg_ctl").exists()
    monkeypatch.setenv("PATH", "/nonexistent")
    found = _postgres.find_server_bin()
    if any(Path(p).is_dir() for p in glob.glob("/usr/lib/postgresql/*/bin")):
        assert found is not None and str(found).startswith("/usr/lib/postgresql/")
    else:
        assert found is None


def test_missing_postgres_without_root_fails_clearly(monkeypatch):
    from tests.hub import _postgres

    monkeypatch.setattr(_postgres, "find_server_bin", lambda: None)
    monkeypatch.setattr(_postgres.os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.fail.Exception, match="apt-get install|install the `postgresql` package"):
        _postgres.ensure_server_bin()
