"""PostgreSQL fixtures for the backend tests: one throw-away server per module, a fresh database per test."""

from __future__ import annotations

import itertools

import pytest

from tests.hub._postgres import PostgresServer, find_server_bin

_names = itertools.count()


@pytest.fixture(scope="module")
def pg_server():
    if find_server_bin() is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server):
    return pg_server.create_database(f"backend{next(_names)}")
