"""Run the Hub server with uvicorn: `snuggle hub serve` ends here.

    from snuggle.hub.server.config import ServerConfig
    serve(ServerConfig(data_dir=Path("hub-data")), host="127.0.0.1", port=8080)
    serve(ServerConfig(data_dir=Path("hub-data")), port=8080, workers=4)      # 4 processes, one port

No compression middleware (spec §1.4: /resolve sizes must be the byte sizes) and no access log (URLs of
signed LFS uploads carry signatures, spec §12).

HTTP parsing uses httptools (C, llhttp) when it is installed, else h11 (pure Python, about 0.3 ms more
CPU per request). Either way a request head larger than MAX_REQUEST_HEAD is refused with 400 before
it is buffered whole.

With `workers` > 1, uvicorn forks that many server processes sharing the listening socket. Each one
has its own HubBackend on the same data directory and database; everything they share is made safe
by the database and the file system, not by process memory: commits take the write lock (SQLite
BEGIN IMMEDIATE) or a row lock on the ref (PostgreSQL SELECT ... FOR UPDATE) and move it with a
compare-and-swap; blobs are content-addressed files renamed into place; signed LFS URLs need only
data_dir/secret. Caches hold immutable objects (trees, commits) except the token cache, which a
revocation made through another process reaches within ServerConfig.auth_cache_seconds.
"""

from __future__ import annotations

import json
import os

from snuggle.utils.logging import get_logger

logger = get_logger(__name__)

MAX_REQUEST_HEAD = 64 * 1024  # request line + headers (h11's bound; http_protocol.py has the same)
_CONFIG_ENV = "SNUGGLE_HUB_SERVE_CONFIG"  # how `workers` processes learn the ServerConfig (no secret in it)
_CONFIG_FIELDS = ("data_dir", "database_url", "inline_limit", "max_file_size", "max_commit_files",
                  "max_preupload_files", "public_url", "lfs_url_ttl", "auth_cache_seconds")


def http_protocol():
    """uvicorn's `http` setting: httptools with a bounded request head when installed, else "h11"."""
    try:
        from snuggle.hub.server.http_protocol import BoundedHttpToolsProtocol
    except ImportError:  # httptools missing: h11 bounds the head with h11_max_incomplete_event_size
        return "h11"
    return BoundedHttpToolsProtocol


def _uvicorn_options(host: str, port: int, log_level: str) -> dict:
    return dict(host=host, port=port, log_level=log_level, access_log=False, server_header=False,
                timeout_keep_alive=30, http=http_protocol(), h11_max_incomplete_event_size=MAX_REQUEST_HEAD)


def serve(config, *, host: str = "127.0.0.1", port: int = 8080, log_level: str = "warning", workers: int = 1) -> None:
    """Serve the Hub API for `config` until interrupted (SIGINT/SIGTERM close the backend cleanly);
    `workers` > 1 runs that many processes on one port (see the module docstring)."""
    import uvicorn

    from snuggle.hub.server.app import create_app
    from snuggle.hub.server.backend import HubBackend

    if workers < 1:
        from snuggle.errors import ConfigError

        raise ConfigError(f"serve(workers=...) must be at least 1, got {workers}")
    if workers > 1 and config.database_url in ("sqlite://", "sqlite:///:memory:"):
        from snuggle.errors import ConfigError

        raise ConfigError("serve(workers>1) needs a database shared by the processes, not an in-memory SQLite one")
    shown = config.public_url or f"http://{host}:{port}"
    backend = HubBackend(config)  # creates the schema (and SQLite's WAL mode) before any worker starts
    if workers > 1:
        backend.close()
        _check_secret_on_disk(config)
        os.environ[_CONFIG_ENV] = json.dumps({k: _jsonable(getattr(config, k)) for k in _CONFIG_FIELDS})
        print(f"snuggle hub: serving {config.data_dir} at {shown} with {workers} worker processes "
              f"(HF_ENDPOINT={shown})", flush=True)
        uvicorn.run(f"{__name__}:worker_app", factory=True, workers=workers,
                    **_uvicorn_options(host, port, log_level))
        return
    app = create_app(backend)
    print(f"snuggle hub: serving {config.data_dir} at {shown} (HF_ENDPOINT={shown})", flush=True)
    try:
        uvicorn.run(app, **_uvicorn_options(host, port, log_level))
    finally:
        backend.close()


def worker_app():
    """The app of one `workers` process (uvicorn calls this factory in each child)."""
    from pathlib import Path

    from snuggle.hub.server.app import create_app
    from snuggle.hub.server.config import ServerConfig

    fields = json.loads(os.environ[_CONFIG_ENV])
    fields["data_dir"] = Path(fields["data_dir"])
    return create_app(ServerConfig(**fields))  # the app owns (and closes) its backend


def _jsonable(value):
    return str(value) if isinstance(value, os.PathLike) else value


def _check_secret_on_disk(config) -> None:
    """Worker processes read data_dir/secret; a secret given only in memory cannot reach them."""
    from snuggle.hub.server.config import _load_or_create_secret

    if _load_or_create_secret(config.data_dir) != config.secret:
        from snuggle.errors import ConfigError

        raise ConfigError("serve(workers>1): ServerConfig.secret differs from data_dir/secret, which the worker "
                          "processes use; leave ServerConfig.secret unset or write it to data_dir/secret")
