"""Namespaces that collide with the server's own URL prefixes are refused with a clear error."""

from __future__ import annotations

import pytest

from snuggle.hub.server.backend import HubBackend
from snuggle.hub.server.config import ServerConfig
from snuggle.hub.server.errors import BadRequest


@pytest.mark.parametrize("name", ["api", "datasets", "Spaces", "models", "login", "search"])
def test_reserved_user_and_org_names(tmp_path, name):
    backend = HubBackend(ServerConfig(data_dir=tmp_path / "hub"))
    try:
        with pytest.raises(BadRequest, match="reserved"):
            backend.add_user(name)
        backend.add_user("alice")
        with pytest.raises(BadRequest, match="reserved"):
            backend.add_org_member(name, "alice")
    finally:
        backend.close()
