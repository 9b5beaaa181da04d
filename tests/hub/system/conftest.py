"""Fixtures of the Hub system tests: a PostgreSQL server on loopback (installed and started by the tests).

`postgres_server` (session, in tests/hub/conftest.py) is a running tests.hub._postgres.PostgresServer; `postgres_url` (session) is the
SQLAlchemy URL of one empty database `hub` on it. Tests that need a database of their own call
`postgres_server.create_database(name)`; `pg_hub_server` (session) is a Hub server on PostgreSQL.
"""

from __future__ import annotations

import pytest



@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    return postgres_server.create_database("hub")


@pytest.fixture(scope="session")
def pg_hub_server(postgres_server, tmp_path_factory):
    """A `snuggle hub serve` on PostgreSQL (database `hub_system`), users as in `hub_server`."""
    from tests.hub.conftest import start_hub_server

    url = postgres_server.create_database("hub_system")
    handle = start_hub_server(tmp_path_factory.mktemp("hub-pg") / "data", database_url=url)
    handle.pg_database = "hub_system"
    try:
        yield handle
    finally:
        handle.stop()
