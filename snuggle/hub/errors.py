"""The huggingface_hub exception names, as subclasses of snuggle.errors.HubError.

Same names and the same builtin bases as huggingface_hub.errors (so `except OSError`, `except ValueError`,
`except FileNotFoundError` catch what they catch there), and every one is also a `SnuggleError`.
One difference: the reference's `HfHubHTTPError` also derives from its HTTP library's `HTTPError`;
ours does not (it keeps `.response`, `.request`, `.request_id` and `.server_message`).

>>> try:
...     raise RepositoryNotFoundError("404 Client Error.\\n\\nRepository Not Found for url: ...")
... except HubError as e:
...     isinstance(e, HfHubHTTPError), isinstance(e, OSError)
(True, True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snuggle.errors import HubError


# ---- cache / local errors ----
class CacheNotFound(HubError):
    """The cache directory does not exist (raised by cache scanning)."""

    def __init__(self, msg: str, cache_dir: str | Path, *args):
        super().__init__(msg, *args)
        self.cache_dir = cache_dir


class CorruptedCacheException(HubError):
    """The cache folder does not have the expected structure."""


class LocalTokenNotFoundError(HubError, EnvironmentError):
    """A token is required (`token=True` or a write call) but none is passed, set or saved."""


class HFValidationError(HubError, ValueError):
    """A repo id, revision or argument is malformed (raised before any request)."""


class HfUriError(HubError, ValueError):
    """A URL returned by the server does not point at the configured endpoint."""

    def __init__(self, uri: str, msg: str):
        super().__init__(f"Invalid URI '{uri}': {msg}")
        self.uri = uri


class FileMetadataError(HubError, OSError):
    """A file's metadata (ETag, commit, size) could not be read from the server's answer."""


class DryRunError(HubError, OSError):
    """A dry-run download could not be completed."""


class RevisionResolutionError(HubError):
    """A revision could not be resolved to a commit hash online nor from the cache."""


# ---- HTTP errors ----
def _request_of(response: Any) -> Any:
    """The request behind `response`, or None (httpx raises RuntimeError when a response has none)."""
    try:
        return response.request if response is not None else None
    except RuntimeError:
        return None


class OfflineModeIsEnabled(HubError, ConnectionError):
    """A request was attempted while `HF_HUB_OFFLINE=1`."""


class HfHubHTTPError(HubError, OSError):
    """Any HTTP error answered by the Hub; the server's message is appended to the text.

    Attributes: `response` (the httpx.Response or None), `request`, `request_id` (from X-Request-Id,
    X-Amzn-Trace-Id or X-Amz-Cf-Id) and `server_message` (X-Error-Message and the JSON `error`).

    >>> e = HfHubHTTPError("409 Client Error.")
    >>> e.append_to_message("\\nThe repo exists.")
    >>> str(e)
    '409 Client Error.\\nThe repo exists.'
    """

    def __init__(self, message: str, *, response: Any = None, server_message: str | None = None):
        headers = getattr(response, "headers", None) or {}
        self.request_id = (
            headers.get("x-request-id") or headers.get("X-Amzn-Trace-Id") or headers.get("x-amz-cf-id")
        )
        self.server_message = server_message
        self.response = response
        self.request = _request_of(response)
        super().__init__(message)

    def append_to_message(self, additional_message: str) -> None:
        """Add text to the message (e.g. a hint) after the error was built."""
        self.args = (self.args[0] + additional_message,) + self.args[1:]

    @classmethod
    def _rebuild(cls, message: str, response: Any, server_message: str | None) -> "HfHubHTTPError":
        return cls(message, response=response, server_message=server_message)

    def __reduce_ex__(self, protocol):
        # keyword-only arguments: teach pickle how to rebuild (errors cross process boundaries in DataLoader etc.)
        return (self.__class__._rebuild, (str(self), self.response, self.server_message), self.__dict__)


class RepositoryNotFoundError(HfHubHTTPError):
    """The repo does not exist, has another type, or is private and the caller may not read it."""

    repo_id: str | None = None
    repo_type: str | None = None


class GatedRepoError(RepositoryNotFoundError):
    """The repo is gated and the caller is not on its access list."""


class DisabledRepoError(HfHubHTTPError):
    """The repo was disabled by its owner."""


class RevisionNotFoundError(HfHubHTTPError):
    """The repo exists but the branch, tag or commit does not."""

    repo_id: str | None = None
    repo_type: str | None = None


class EntryNotFoundError(HubError):
    """A file or folder was not found, on the server (Remote...) or in the cache (Local...)."""


class RemoteEntryNotFoundError(HfHubHTTPError, EntryNotFoundError):
    """The repo and revision exist but the file or folder does not."""

    repo_id: str | None = None
    repo_type: str | None = None


class LocalEntryNotFoundError(FileNotFoundError, EntryNotFoundError):
    """The file is not in the cache and the network is disabled or unreachable."""

    def __init__(self, message: str):
        super().__init__(message)


class IncompleteSnapshotError(LocalEntryNotFoundError):
    """The cached snapshot is known to miss files and the Hub cannot be reached."""

    def __init__(self, message: str, snapshot_path: str):
        super().__init__(message)
        self.snapshot_path = snapshot_path


class BadRequestError(HfHubHTTPError, ValueError):
    """The server answered 400 Bad Request."""


__all__ = [
    "BadRequestError",
    "CacheNotFound",
    "CorruptedCacheException",
    "DisabledRepoError",
    "DryRunError",
    "EntryNotFoundError",
    "FileMetadataError",
    "GatedRepoError",
    "HFValidationError",
    "HfHubHTTPError",
    "HfUriError",
    "IncompleteSnapshotError",
    "LocalEntryNotFoundError",
    "LocalTokenNotFoundError",
    "OfflineModeIsEnabled",
    "RemoteEntryNotFoundError",
    "RepositoryNotFoundError",
    "RevisionNotFoundError",
    "RevisionResolutionError",
]
