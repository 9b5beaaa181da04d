"""Run the Hub server with uvicorn: `snuggle hub serve` ends here.

    from snuggle.hub.server.config import ServerConfig
    serve(ServerConfig(data_dir=Path("hub-data")), host="127.0.0.1", port=8080)

No compression middleware (spec §1.4: /resolve sizes must be the byte sizes) and no access log (URLs of
signed LFS uploads carry signatures, spec §12).
"""

from __future__ import annotations

from snuggle.utils.logging import get_logger

logger = get_logger(__name__)


def serve(config, *, host: str = "127.0.0.1", port: int = 8080, log_level: str = "warning") -> None:
    """Serve the Hub API for `config` until interrupted (SIGINT/SIGTERM close the backend cleanly)."""
    import uvicorn

    from snuggle.hub.server.app import create_app
    from snuggle.hub.server.backend import HubBackend

    backend = HubBackend(config)
    app = create_app(backend)
    shown = config.public_url or f"http://{host}:{port}"
    print(f"snuggle hub: serving {config.data_dir} at {shown} (HF_ENDPOINT={shown})", flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, server_header=False,
                    timeout_keep_alive=30, h11_max_incomplete_event_size=64 * 1024)
    finally:
        backend.close()
