"""Every test of test_backend.py again on PostgreSQL (a throw-away server on loopback), marked slow.

The concurrency race on PostgreSQL runs by default (test_backend_concurrency.py).
"""

from __future__ import annotations

import pytest

from snuggle.hub.server.backend import HubBackend
from snuggle.hub.server.config import ServerConfig
from tests.hub.server._pg import pg_server, pg_url  # noqa: F401  (fixtures)
from tests.hub.server.test_backend import *  # noqa: F401,F403  (collect the same tests with the fixture below)

pytestmark = pytest.mark.slow


@pytest.fixture
def backend(tmp_path, pg_url):  # overrides test_backend.backend for the tests collected here
    b = HubBackend(ServerConfig(data_dir=tmp_path / "hub", database_url=pg_url))
    yield b
    b.close()
