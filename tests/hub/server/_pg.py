"""PostgreSQL fixtures for the backend tests: a fresh database per test on the session's server.

The server is tests/hub/conftest.py's `postgres_server` (installed and started by the tests themselves,
never skipped: CI starts on a machine without PostgreSQL).
"""

from __future__ import annotations

import itertools

import pytest

_names = itertools.count()


@pytest.fixture
def pg_server(postgres_server):
    return postgres_server


@pytest.fixture
def pg_url(postgres_server):
    return postgres_server.create_database(f"backend{next(_names)}")
