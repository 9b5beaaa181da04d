"""The Hub server's ASGI app: `create_app(config or backend) -> FastAPI`.

    from snuggle.hub.server.app import create_app
    app = create_app(ServerConfig(data_dir=Path("hub-data")))      # uvicorn.run(app, port=8080)

The Hub API routes are dispatched on the RAW path (spec §1.3: `%2F` inside a revision or tree path
must not split it), so they live in one ASGI layer, `HubApiRouter`, in front of FastAPI's own router.
It answers every `/api/...` path (unknown ones with a JSON 404), `/resolve/` downloads and the git-LFS
routes; everything else falls through to FastAPI, where the web pages (snuggle.hub.server.web) are.
Hence the API and downloads always take precedence over page routes such as `/{ns}/{name}/...`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import uuid
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from snuggle.hub.server import routes_discussions, routes_files, routes_lfs, routes_repos, routes_tree, routes_upload
from snuggle.hub.server.auth_http import authenticate_request
from snuggle.hub.server.context import Ctx, read_body
from snuggle.hub.server.errors import BadRequest, HubServerError
from snuggle.hub.server.http_errors import error_response, internal_error_response, json_error, not_found_response
from snuggle.hub.server.rawpath import match_route, split_raw_path
from snuggle.utils.logging import get_logger

logger = get_logger(__name__)

# route name -> (handler, mode). "sync": body read first, then auth + handler run in a worker thread
# (the backend is synchronous). "async": auth in a worker thread, then `await handler(ctx)` (streaming).
# "async-selfauth": the handler authenticates in its own worker-thread call (one thread hop on /resolve).
ROUTES = {
    "whoami": (routes_repos.whoami, "sync"),
    "repo_create": (routes_repos.repo_create, "sync"),
    "repo_delete": (routes_repos.repo_delete, "sync"),
    "repo_move": (routes_repos.repo_move, "sync"),
    "settings": (routes_repos.repo_settings, "sync"),
    "info": (routes_repos.repo_info, "sync"),
    "list_repos": (routes_repos.list_repos, "sync"),
    "tree": (routes_tree.tree, "sync"),
    "paths_info": (routes_tree.paths_info, "sync"),
    "refs": (routes_tree.refs, "sync"),
    "branch": (routes_tree.branch, "sync"),
    "tag": (routes_tree.tag, "sync"),
    "commits": (routes_tree.commits, "sync"),
    "resolve": (routes_files.resolve, "async-selfauth"),
    "validate_yaml": (routes_upload.validate_yaml, "sync"),
    "preupload": (routes_upload.preupload, "sync"),
    "commit": (routes_upload.commit, "async"),
    "xet_token": (routes_upload.xet_token, "sync"),
    "lfs_batch": (routes_lfs.batch, "sync"),
    "lfs_put": (routes_lfs.put_object, "async"),
    "lfs_get": (routes_lfs.get_object, "async"),
    "lfs_verify": (routes_lfs.verify, "sync"),
    "discussions": (routes_discussions.discussions, "sync"),
    "discussion": (routes_discussions.discussion, "sync"),
}


def _send_without_body(send):
    """For HEAD: pass headers (Content-Length included) but drop body bytes."""

    async def wrapped(message):
        if message["type"] == "http.response.body":
            message = {"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)}
            if message["more_body"]:
                return
        await send(message)

    return wrapped


def _request_id(scope) -> bytes:
    """The client's X-Amzn-Trace-Id / X-Request-Id (for log correlation, spec §1.5), else a fresh id."""
    for name, value in scope.get("headers", ()):
        if name in (b"x-amzn-trace-id", b"x-request-id") and 0 < len(value) <= 128 and value.isascii() \
                and all(32 < c < 127 for c in value):
            return value
    return uuid.uuid4().hex.encode()


def _with_request_id(scope, send):
    request_id = _request_id(scope)

    async def wrapped(message):
        if message["type"] == "http.response.start":
            message = dict(message, headers=list(message.get("headers", [])) + [(b"x-request-id", request_id)])
        await send(message)

    return wrapped


class HubApiRouter:
    """ASGI layer that serves the Hub API on raw paths and hands every other path to `app`."""

    def __init__(self, app, backend, config):
        self.app = app
        self.backend = backend
        self.config = config
        # --public-url http://host/hub: requests arrive as /hub/api/...; serve them as if mounted there
        self.prefix = urlsplit(config.public_url).path.rstrip("/") if getattr(config, "public_url", None) else ""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        if self.prefix and not scope.get("root_path") and (raw + b"/").startswith(self.prefix.encode() + b"/"):
            scope = dict(scope, root_path=self.prefix)
        method = scope["method"]
        try:
            segs = split_raw_path(raw, scope.get("root_path", ""))
        except BadRequest as e:
            return await self._respond(error_response(e), scope, receive, send)
        match = match_route(method, segs)
        if match is None:
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        response = await self._handle(match, request)
        await self._respond(response, scope, receive, send)

    async def _respond(self, response, scope, receive, send):
        if scope["method"] == "HEAD":
            send = _send_without_body(send)
        await response(scope, receive, _with_request_id(scope, send))

    async def _handle(self, match, request: Request):
        if match.name == "not_found":
            return not_found_response()
        handler, mode = ROUTES[match.name]
        ctx = Ctx(request=request, backend=self.backend, config=self.config, params=match.params)
        try:
            if mode == "sync":
                if request.method in ("POST", "PUT", "DELETE", "PATCH"):
                    ctx.body = await read_body(request)
                return await run_in_threadpool(self._run_sync, handler, ctx)
            if mode == "async":
                ctx.principal = await run_in_threadpool(authenticate_request, self.backend, request.headers)
            return await handler(ctx)
        except HubServerError as e:
            return error_response(e)
        except ClientDisconnect:
            return json_error(400, "Client disconnected before the request body was complete")
        except Exception as e:  # noqa: BLE001 - never leak a traceback to the client
            return internal_error_response(e, match.name)

    def _run_sync(self, handler, ctx):
        ctx.principal = authenticate_request(self.backend, ctx.request.headers)
        return handler(ctx)


def create_app(config_or_backend):
    """A FastAPI app serving the Hub API for a ServerConfig (a backend is created and closed with the app)
    or for an existing HubBackend (the caller closes it)."""
    from fastapi import FastAPI

    from snuggle.hub.server.config import ServerConfig

    owns_backend = isinstance(config_or_backend, ServerConfig)
    if owns_backend:
        from snuggle.hub.server.backend import HubBackend

        backend = HubBackend(config_or_backend)
    else:
        backend = config_or_backend
    config = backend.config

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        if owns_backend:
            backend.close()

    app = _hub_app_class()(title="snuggle hub", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.backend = backend
    app.state.config = config
    app.hub_router = HubApiRouter(functools.partial(FastAPI.__call__, app), backend=backend, config=config)
    _add_web_pages(app, backend, config)
    return app


@functools.lru_cache(maxsize=None)
def _hub_app_class():
    from fastapi import FastAPI

    class HubApp(FastAPI):
        """FastAPI with HubApiRouter in front of its whole middleware stack: API requests skip the
        stack's per-request work (telemetry checks, body-limit and error wrappers; HubApiRouter
        answers its own errors), about 0.1 ms of CPU per request; other paths go through as usual."""

        hub_router = None

        async def __call__(self, scope, receive, send):
            if self.hub_router is not None and scope["type"] == "http":
                await self.hub_router(scope, receive, send)
            else:
                await super().__call__(scope, receive, send)

    return HubApp


def _add_web_pages(app, backend, config) -> None:
    """The HTML pages (helper module snuggle.hub.server.web) when present."""
    try:
        web = importlib.import_module("snuggle.hub.server.web")
    except ModuleNotFoundError as e:
        if e.name != "snuggle.hub.server.web":
            raise
        return
    web.add_web_routes(app, backend, config)
