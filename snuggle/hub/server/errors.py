"""Exceptions of the Hub server backend; the HTTP layer maps each to the spec's error response.

Every class carries the HTTP `status` and the `X-Error-Code` (`code`, None when the spec has none), so
the route handlers need one generic handler:

>>> err = RepoNotFound("Repository not found: alice/x")
>>> (err.status, err.code, err.message)
(404, 'RepoNotFound', 'Repository not found: alice/x')
"""

from __future__ import annotations

from snuggle.errors import HubError


class HubServerError(HubError):
    """A request the server refuses; `status` is the HTTP status, `code` the X-Error-Code header or None."""

    status: int = 500
    code: str | None = None

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(HubServerError):
    status = 400


class Unauthorized(HubServerError):
    status = 401


class Forbidden(HubServerError):
    status = 403


class RepoNotFound(HubServerError):
    status = 404
    code = "RepoNotFound"


class RevisionNotFound(HubServerError):
    status = 404
    code = "RevisionNotFound"


class EntryNotFound(HubServerError):
    status = 404
    code = "EntryNotFound"


class Conflict(HubServerError):
    status = 409


class PreconditionFailed(HubServerError):
    status = 412


class TooLarge(HubServerError):
    status = 413


class Unprocessable(HubServerError):
    status = 422


class NotImplementedErr(HubServerError):
    status = 501


class DiscussionNotFound(HubServerError):
    status = 404


INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
