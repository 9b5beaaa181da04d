"""Turn server errors into the spec's error responses (spec §2).

Every error: status + `X-Error-Code` (when one applies) + `X-Error-Message` + JSON `{"error": message}`.
The clients map these headers to their exception classes, so a 404 without its code is a bug.

>>> from snuggle.hub.server.errors import RepoNotFound
>>> r = error_response(RepoNotFound("Repository not found"))
>>> r.status_code, r.headers["x-error-code"], r.body
(404, 'RepoNotFound', b'{"error":"Repository not found"}')
"""

from __future__ import annotations

import json

from starlette.responses import Response

from snuggle.hub.server.errors import HubServerError, INVALID_CREDENTIALS, Unauthorized
from snuggle.utils.logging import get_logger

logger = get_logger(__name__)

__all__ = ["error_response", "json_error", "internal_error_response", "INVALID_CREDENTIALS"]


def _header_text(message: str) -> str:
    """Header values must be latin-1 and single-line: keep ASCII, replace the rest."""
    text = " ".join(str(message).split())
    # printable ASCII only: h11 refuses control characters (a NUL from a URL would kill the response)
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:500]


def json_error(status: int, message: str, code: str | None = None, headers: dict | None = None,
               extra: dict | None = None) -> Response:
    """An error response with the spec's headers and body (`extra` adds fields next to "error")."""
    h = {"X-Error-Message": _header_text(message)}
    if code:
        h["X-Error-Code"] = code
    if headers:
        h.update(headers)
    body = json.dumps({"error": message, **(extra or {})}, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, headers=h, media_type="application/json")


def error_response(exc: HubServerError, headers: dict | None = None) -> Response:
    """The response for a HubServerError (status, X-Error-Code, X-Error-Message, {"error"})."""
    extra = dict(headers or {})
    if isinstance(exc, Unauthorized):
        # an anonymous caller of a write route is asked to authenticate; Basic lets git-lfs prompt
        extra.setdefault("WWW-Authenticate", 'Bearer realm="snuggle-hub", charset="UTF-8"')
    extra.update(getattr(exc, "headers", None) or {})
    return json_error(exc.status, exc.message, exc.code, extra)


def not_found_response() -> Response:
    """404 JSON for an /api route that does not exist (spec §9.3)."""
    return json_error(404, "Sorry, we can't find the page you are looking for.")


def internal_error_response(exc: BaseException, where: str) -> Response:
    """500 without stack traces or paths in the body (spec §12); the log has the details."""
    logger.error("internal error in %s: %s", where, type(exc).__name__, exc_info=exc)
    return json_error(500, "Internal server error")
