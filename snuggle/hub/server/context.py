"""The per-request context handed to every Hub API handler, and small response helpers.

A handler gets a `Ctx` with the backend, config, decoded route parameters, the authenticated principal
and the base URL the client used (spec §1.1), and returns a Starlette Response.

    def whoami(ctx: Ctx):
        return json_response(ctx.backend.whoami(require_user(ctx.principal)))
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from urllib.parse import quote

import anyio
from starlette.requests import Request
from starlette.responses import Response

from snuggle.hub.server.errors import BadRequest, HubServerError, TooLarge
from snuggle.hub.server.rawpath import PREFIX_OF_TYPE

MAX_JSON_BODY = 32 * 1024 * 1024
# a client that sends nothing for this long in the middle of a request body is cut off (spec §12)
BODY_IDLE_TIMEOUT = float(os.environ.get("SNUGGLE_HUB_BODY_IDLE_TIMEOUT", "120"))


class RequestTimeout(HubServerError):
    """408: the request body stalled (clients retry 408 with backoff)."""

    status = 408


async def next_body_chunk(stream) -> bytes:
    """The next chunk of an async body stream, or RequestTimeout after BODY_IDLE_TIMEOUT seconds of silence."""
    try:
        with anyio.fail_after(BODY_IDLE_TIMEOUT):
            return await stream.__anext__()
    except TimeoutError:
        raise RequestTimeout(f"No request body data received for {BODY_IDLE_TIMEOUT:.0f} seconds") from None


def sync_body_chunks(request):
    """Sync iterator over the request body for a worker thread (each chunk is awaited on the event loop),
    so a streaming handler never holds the whole body."""
    stream = request.stream().__aiter__()
    while True:
        try:
            chunk = anyio.from_thread.run(next_body_chunk, stream)
        except StopAsyncIteration:
            return
        if chunk:
            yield chunk


def json_response(data, status: int = 200, headers: dict | None = None, media_type: str = "application/json"):
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, headers=headers, media_type=media_type)


@dataclass
class Ctx:
    request: Request
    backend: object
    config: object
    params: dict = field(default_factory=dict)
    principal: object | None = None
    body: bytes | None = None  # read before a sync handler runs; None for streaming handlers

    @property
    def base_url(self) -> str:
        """scheme://host[:port][/prefix] as the client sees it: --public-url, else the request's Host."""
        public = getattr(self.config, "public_url", None)
        if public:
            return public.rstrip("/")
        scope = self.request.scope
        host = self.request.headers.get("host")
        if not host:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}".rstrip("/")

    def repo_url(self, repo_type: str, repo_id: str) -> str:
        """{base}/{ns}/{name}, {base}/datasets/{ns}/{name}, {base}/spaces/{ns}/{name} (spec §1.1)."""
        return f"{self.base_url}/{PREFIX_OF_TYPE[repo_type]}{repo_id}"

    def query(self, name: str, default=None):
        return self.request.query_params.get(name, default)

    def query_list(self, name: str) -> list[str]:
        return self.request.query_params.getlist(name) + self.request.query_params.getlist(name + "[]")

    def query_bool(self, name: str, default: bool = False) -> bool:
        value = self.request.query_params.get(name)
        if value is None:
            return default
        return value.strip().lower() in ("1", "true", "yes", "on", "")

    def json(self, *, required: bool = True) -> dict:
        """The request body parsed as a JSON object (400 when malformed)."""
        raw = self.body or b""
        if not raw.strip():
            if required:
                raise BadRequest("Request body must be a JSON object")
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"Request body is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise BadRequest(f"Request body must be a JSON object, got {type(data).__name__}")
        return data


async def read_body(request: Request, limit: int = MAX_JSON_BODY) -> bytes:
    """The whole (small) request body; 413 beyond `limit`."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise TooLarge(f"Request body of {length} bytes exceeds the limit of {limit} bytes for this route")
    chunks, total = [], 0
    stream = request.stream().__aiter__()
    while True:
        try:
            chunk = await next_body_chunk(stream)
        except StopAsyncIteration:
            break
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"Request body exceeds the limit of {limit} bytes for this route")
        chunks.append(chunk)
    return b"".join(chunks)


def quote_path(path: str) -> str:
    """Percent-encode a repo path for a URL, keeping `/` (the /resolve form of spec §1.3)."""
    return quote(path, safe="/")
