"""Fixtures of the Hub system tests: a PostgreSQL server on loopback (installed and started by the tests).

`postgres_server` (session) is a running tests.hub._postgres.PostgresServer; `postgres_url` (session) is the
SQLAlchemy URL of one empty database `hub` on it. Tests that need a database of their own call
`postgres_server.create_database(name)`.
"""

from __future__ import annotations

import pytest

from tests.hub._postgres import PostgresServer


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    return postgres_server.create_database("hub")
