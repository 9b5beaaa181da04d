"""Read the caller's token from the Authorization header and authenticate it (spec §1.5, §12).

`Bearer <token>` from the Python clients, `Basic base64(user:token)` from git/git-lfs (the password is
the token). A presented token that is unknown, expired or revoked is 401 on every route, never anonymous.

>>> token_from_header("Bearer hf_abc")
'hf_abc'
>>> import base64
>>> token_from_header("Basic " + base64.b64encode(b"alice:hf_xyz").decode())
'hf_xyz'
>>> token_from_header(None) is None
True
"""

from __future__ import annotations

import base64
import binascii

from snuggle.hub.server.errors import INVALID_CREDENTIALS, Unauthorized


def token_from_header(value: str | None) -> str | None:
    """The token in an Authorization header value; None when absent; Unauthorized when malformed."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    scheme, _, credentials = value.partition(" ")
    scheme = scheme.lower()
    credentials = credentials.strip()
    if scheme == "bearer":
        if not credentials:
            raise Unauthorized(INVALID_CREDENTIALS)
        return credentials
    if scheme == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise Unauthorized(INVALID_CREDENTIALS) from None
        _, sep, password = decoded.partition(":")
        if not sep or not password:
            raise Unauthorized(INVALID_CREDENTIALS)
        return password
    raise Unauthorized(INVALID_CREDENTIALS)


def authenticate_request(backend, headers) -> object | None:
    """The Principal of the request (None = anonymous); raises Unauthorized for bad credentials.

    `headers` is any mapping with case-insensitive `.get` (Starlette Headers)."""
    token = token_from_header(headers.get("authorization"))
    if token is None:
        return None
    principal = backend.authenticate(token)
    if principal is None:
        raise Unauthorized(INVALID_CREDENTIALS)
    return principal


def require_user(principal):
    """Routes that need any valid token (whoami, discussions create): anonymous -> 401."""
    if principal is None:
        raise Unauthorized("You must be authenticated to use this route: pass a token (Authorization: Bearer ...)")
    return principal
