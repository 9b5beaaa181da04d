"""HTTP for the Hub client: one shared httpx.Client, headers, error mapping, bounded retries.

Privacy rules kept here, in one place:
* The `Authorization` header goes only to the origin (scheme, host, port) of the configured endpoint
  (`endpoint=` argument, else `HF_ENDPOINT`). A redirect to another origin is followed without it.
* No telemetry, no request to any host the caller did not ask for.

Errors: `hf_raise_for_status` maps a failed response to the huggingface_hub exceptions, in the
reference's order: `X-Error-Code` (RevisionNotFound, EntryNotFound, GatedRepo), disabled repo,
RepoNotFound (or 401 on an https repo URL without "Invalid credentials"), then 400, 403, 429, 416 and
anything else as HfHubHTTPError; the server's message (X-Error-Message, JSON `error`) is appended.

Retries: 429 (waiting `Retry-After`, capped) and transient connection failures, a few times; listings
also retry 5xx (pass `retry_on_status`).

>>> r = request("GET", "http://127.0.0.1:8080/api/whoami-v2", token="hf_x")  # doctest: +SKIP
>>> r.json()["name"]  # doctest: +SKIP
'alice'
"""

from __future__ import annotations

import json
import os
import platform
import re
import threading
import time
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import urljoin, urlsplit

from snuggle.hub import constants
from snuggle.hub.auth import get_token_to_send
from snuggle.hub.errors import (
    BadRequestError,
    DisabledRepoError,
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from snuggle.utils.logging import get_logger

if TYPE_CHECKING:  # httpx is imported on the first request, not with snuggle.hub
    import httpx

logger = get_logger("snuggle.hub.http")

MAX_RETRIES = 5  # attempts after the first one
MAX_RETRY_WAIT = 30.0  # seconds; a larger Retry-After is capped (the call still ends in bounded time)
MAX_REDIRECTS = 20
CONNECT_TIMEOUT = 10.0  # seconds
DEFAULT_TIMEOUT = 300.0  # seconds per socket read/write when a call passes no timeout (big commits, slow listings)
RETRY_STATUSES_LISTING = (429, 500, 502, 503, 504)
_IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}

_session = None
_session_lock = threading.Lock()


# ---- session ----
def get_session() -> "httpx.Client":
    """The process-wide httpx.Client (HTTP/1.1 keep-alive, no automatic redirects: we follow them).

    >>> get_session().headers["user-agent"].startswith("snuggle/")  # doctest: +SKIP
    True
    """
    global _session
    if _session is None:
        with _session_lock:
            if _session is None:
                import httpx

                _session = httpx.Client(
                    http1=True,
                    http2=False,
                    follow_redirects=False,
                    # the reference waits forever (timeout=None); we bound each socket wait instead. Downloads
                    # pass their own read timeout (HF_HUB_DOWNLOAD_TIMEOUT / HF_HUB_ETAG_TIMEOUT).
                    timeout=httpx.Timeout(DEFAULT_TIMEOUT, connect=CONNECT_TIMEOUT),
                    limits=httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=30.0),
                    headers={"user-agent": user_agent()},
                )
    return _session


def close_session() -> None:
    """Close the shared client (a new one is made on the next request)."""
    global _session
    with _session_lock:
        if _session is not None:
            try:
                _session.close()
            finally:
                _session = None


def _reset_after_fork() -> None:
    # sockets of the parent must not be shared with a forked child (DataLoader workers, multiprocessing);
    # the lock may have been held by another thread at fork time, so the child gets a fresh one
    global _session, _session_lock
    _session = None
    _session_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


# ---- headers ----
def user_agent(library_name: str | None = None, library_version: str | None = None,
               extra: dict | str | None = None) -> str:
    """'snuggle/<v>; python/<v>' plus the caller's library and extra items (no machine details)."""
    from snuggle import __version__

    parts = []
    if library_name is not None:
        parts.append(f"{library_name}/{library_version}")
    parts += [f"snuggle/{__version__}", f"python/{platform.python_version()}"]
    if isinstance(extra, dict):
        parts += [f"{k}/{v}" for k, v in extra.items()]
    elif isinstance(extra, str):
        parts.append(extra)
    return "; ".join(dict.fromkeys(p.strip() for p in parts))


def build_hf_headers(
    *,
    token: bool | str | None = None,
    library_name: str | None = None,
    library_version: str | None = None,
    user_agent: dict | str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers for a Hub call: user-agent and, when a token applies, `authorization: Bearer ...`.

    `token`: str (use it), True (require the saved one), False (anonymous), None (saved one if any).
    These headers carry the token: send them only to the endpoint (`request()` does that check).

    >>> build_hf_headers(token="hf_abc")["authorization"]
    'Bearer hf_abc'
    >>> "authorization" in build_hf_headers(token=False)
    False
    """
    result = {"user-agent": globals()["user_agent"](library_name, library_version, user_agent)}
    token_to_send = get_token_to_send(token)
    if token_to_send is not None:
        result["authorization"] = f"Bearer {token_to_send}"
    if headers:
        result.update(headers)
    return result


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    return scheme, (parts.hostname or "").lower(), port


def is_endpoint_url(url: str, endpoint: str | None = None) -> bool:
    """True when `url` has the same scheme, host and port as the endpoint (the only place tokens go)."""
    return _origin(url) == _origin(endpoint or constants.endpoint())


# ---- requests ----
def _retry_after_seconds(response: "httpx.Response", attempt: int) -> float:
    value = response.headers.get("Retry-After")
    if value is not None:
        try:
            return min(max(float(value), 0.0), MAX_RETRY_WAIT)
        except ValueError:
            pass
    return min(2.0**attempt, 8.0)


def _rewind(kwargs: dict, position: int | None) -> bool:
    """Make the request body sendable again; False when it cannot be replayed (a generator)."""
    content = kwargs.get("content")
    if content is None or isinstance(content, (bytes, str, bytearray)):
        return True
    if position is not None and hasattr(content, "seek"):
        content.seek(position)
        return True
    return False


def request(
    method: str,
    url: str,
    *,
    token: bool | str | None = None,
    endpoint: str | None = None,
    headers: dict[str, str] | None = None,
    stream: bool = False,
    follow_redirects: bool = True,
    raise_for_status: bool = True,
    retry_on_status: tuple[int, ...] = (429,),
    max_retries: int = MAX_RETRIES,
    endpoint_name: str | None = None,
    **kwargs: Any,
) -> "httpx.Response":
    """Send one Hub request and return the response (mapped errors raised unless raise_for_status=False).

    `token` follows build_hf_headers; it is attached only when `url` is on `endpoint` (default HF_ENDPOINT).
    `stream=True` returns an unread response (use `with` or close it). Other keyword arguments go to
    httpx (`params`, `json`, `data`, `content`, `timeout`, ...).

    >>> request("GET", "http://127.0.0.1:8080/api/models", params={"limit": 2}).json()  # doctest: +SKIP
    [...]
    """
    import httpx

    if constants.is_offline():
        raise OfflineModeIsEnabled(
            f"Cannot reach {url}: offline mode is enabled (HF_HUB_OFFLINE=1). Unset it to use the Hub."
        )
    endpoint = (endpoint or constants.endpoint()).rstrip("/")
    method = method.upper()
    base_headers = {"user-agent": user_agent()}
    if headers:
        base_headers.update({k.lower(): v for k, v in headers.items()})
    # the token is resolved once (it may raise for token=True) and attached per hop
    token_to_send = get_token_to_send(token)
    if "authorization" in base_headers:
        token_to_send = None  # caller-provided header: still only sent to the endpoint (below)
    caller_auth = base_headers.pop("authorization", None)
    content = kwargs.get("content")
    position = content.tell() if hasattr(content, "tell") and hasattr(content, "seek") else None

    session = get_session()
    attempt = 0
    redirects = 0
    while True:
        hop_headers = dict(base_headers)
        if is_endpoint_url(url, endpoint):
            if caller_auth is not None:
                hop_headers["authorization"] = caller_auth
            elif token_to_send is not None:
                hop_headers["authorization"] = f"Bearer {token_to_send}"
        try:
            req = session.build_request(method, url, headers=hop_headers, **kwargs)
            response = session.send(req, stream=stream)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError) as e:
            # nothing was answered: safe to resend when the request never left (connect) or is idempotent;
            # a stale keep-alive socket also shows up as RemoteProtocolError on the next request
            transient = isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout)) or method in _IDEMPOTENT or (
                isinstance(e, httpx.RemoteProtocolError) and "without sending" in str(e))
            if attempt < max_retries and transient and _rewind(kwargs, position):
                attempt += 1
                logger.info(f"{method} {url}: {type(e).__name__} ({e}); retry {attempt}/{max_retries}")
                time.sleep(min(0.25 * 2**attempt, 4.0))
                continue
            raise

        if response.status_code in retry_on_status and attempt < max_retries and _rewind(kwargs, position):
            wait = _retry_after_seconds(response, attempt)
            response.close()
            attempt += 1
            logger.info(f"{method} {url}: {response.status_code}; retry {attempt}/{max_retries} in {wait:.1f}s")
            time.sleep(wait)
            continue

        if follow_redirects and response.is_redirect and "location" in response.headers:
            redirects += 1
            if redirects > MAX_REDIRECTS:
                response.close()
                raise HfHubHTTPError(f"Too many redirects ({MAX_REDIRECTS}) starting from {url}", response=response)
            response.close()
            url = urljoin(str(response.url), response.headers["location"])
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method = "GET"  # the body is not re-sent (browsers and httpx do the same)
                for key in ("content", "data", "json", "files"):
                    kwargs.pop(key, None)
            elif not _rewind(kwargs, position):
                raise HfHubHTTPError(f"{method} {url}: cannot replay a streamed body after a redirect",
                                     response=response)
            continue

        if raise_for_status:
            hf_raise_for_status(response, endpoint_name=endpoint_name)
        return response


def paginate(
    url: str,
    *,
    params: dict | None = None,
    token: bool | str | None = None,
    endpoint: str | None = None,
    headers: dict | None = None,
) -> Iterator[Any]:
    """Yield the items of a JSON-array listing, following `Link: <...>; rel="next"` pages.

    The next-page URL is followed only when it is on the endpoint (never to another host).

    >>> list(paginate("http://127.0.0.1:8080/api/models", params={"author": "alice"}))  # doctest: +SKIP
    """
    endpoint = (endpoint or constants.endpoint()).rstrip("/")
    response = request("GET", url, params=params, token=token, endpoint=endpoint, headers=headers,
                       retry_on_status=RETRY_STATUSES_LISTING)
    yield from response.json()
    while True:
        next_url = (response.links.get("next") or {}).get("url")
        if not next_url:
            return
        next_url = urljoin(str(response.url), next_url)
        if not is_endpoint_url(next_url, endpoint):
            raise HfHubHTTPError(f"The server's next-page link {next_url} is not on the endpoint {endpoint}; "
                                 "refusing to follow it.", response=response)
        response = request("GET", next_url, token=token, endpoint=endpoint, headers=headers,
                           retry_on_status=RETRY_STATUSES_LISTING)
        yield from response.json()


# ---- error mapping ----
_REPO_API_REGEX = re.compile(r"^https://[^/]+(/api/(models|datasets|spaces)/(.+)|/(.+)/resolve/(.+))")
_REPO_FROM_RESOLVE = re.compile(r"^https?://[^/]+/(?:(datasets|spaces)/)?([^/?]+(?:/[^/?]+)?)/resolve/")
_REPO_FROM_API = re.compile(r"^https?://[^/]+/api/(models|datasets|spaces)/([^/?]+)(?:/([^/?]+))?")
_REPO_URL_SUBPATHS = {"resolve", "tree", "blob", "raw", "refs", "commit", "discussions", "settings", "revision",
                      "commits", "paths-info", "preupload", "branch", "tag"}


def _repo_from_url(url: str) -> tuple[str | None, str | None]:
    """(repo_type, repo_id) parsed from an API or /resolve URL, for the error's attributes."""
    match = _REPO_FROM_RESOLVE.search(url)
    if match:
        return constants.REPO_TYPES_MAPPING[match.group(1) or "models"], match.group(2)
    match = _REPO_FROM_API.search(url)
    if not match:
        return None, None
    first, second = match.group(2), match.group(3)
    repo_id = f"{first}/{second}" if second and second not in _REPO_URL_SUBPATHS else first
    return constants.REPO_TYPES_MAPPING.get(match.group(1)), repo_id


_warned_topics: set[str] = set()


def _warn_on_warning_headers(response: "httpx.Response") -> None:
    for value in response.headers.get_list("X-HF-Warning"):
        topic, message = value.split(";", 1) if ";" in value else ("", value)
        topic, message = topic.strip(), message.strip()
        if message and topic not in _warned_topics:
            _warned_topics.add(topic)
            logger.warning(message)


def _server_message(response: "httpx.Response") -> str:
    """X-Error-Message, then the JSON body's `error` / `error_description` / `errors[].message`, deduplicated."""
    messages = []
    header = response.headers.get("X-Error-Message")
    if header is not None:
        messages.append(header)
    try:
        try:
            data = response.json()
        except Exception as e:  # httpx.ResponseNotRead on streams
            if type(e).__name__ != "ResponseNotRead":
                raise
            response.read()
            data = response.json()
        if isinstance(data, dict):
            error, description = data.get("error"), data.get("error_description")
            if error is not None:
                if isinstance(error, list):
                    messages.extend(error)
                elif description is not None:
                    messages.append(f"{error}: {description}")
                else:
                    messages.append(error)
            elif description is not None:
                messages.append(description)
            for item in data.get("errors") or []:
                if isinstance(item, dict) and "message" in item:
                    messages.append(item["message"])
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        content_type = response.headers.get("Content-Type", "")
        if response.text and "html" not in content_type.lower():
            messages.append(response.text)
    cleaned = [str(m).strip() for m in messages if str(m).strip()]
    return "\n".join(dict.fromkeys(cleaned))


def _make(error_type: type, custom_message: str, response: "httpx.Response", **attrs: Any) -> HfHubHTTPError:
    server_message = _server_message(response)
    message = custom_message
    if server_message and server_message.lower() not in custom_message.lower():
        message += ("\n" if "\n\n" in custom_message else "\n\n") + server_message
    for header, label in (("x-request-id", "Request ID"), ("X-Amzn-Trace-Id", "Amzn Trace ID"),
                          ("x-amz-cf-id", "Amz CF ID")):
        value = response.headers.get(header)
        if value:
            if value.lower() not in message.lower():
                note = f" ({label}: {value})"
                cut = message.find("\n")
                message = message + note if cut < 0 else message[:cut] + note + message[cut:]
            break
    err = error_type(message.strip(), response=response, server_message=server_message or None)
    for key, value in attrs.items():
        setattr(err, key, value)
    return err


def hf_raise_for_status(response: "httpx.Response", endpoint_name: str | None = None) -> None:
    """Raise the huggingface_hub exception for a failed response; do nothing for 1xx/2xx/3xx.

    >>> import httpx
    >>> r = httpx.Response(404, headers={"X-Error-Code": "RepoNotFound"},
    ...                    request=httpx.Request("GET", "http://h/api/models/a/b"))
    >>> try: hf_raise_for_status(r)
    ... except RepositoryNotFoundError as e: print(type(e).__name__, e.repo_id)
    RepositoryNotFoundError a/b
    """
    try:
        _warn_on_warning_headers(response)
    except Exception:  # a malformed warning header never hides the real answer
        pass
    status = response.status_code
    if status < 400:
        return
    code = response.headers.get("X-Error-Code")
    error_message = response.headers.get("X-Error-Message")
    try:
        request_url = str(response.request.url)
    except RuntimeError:
        request_url = None
    repo_type, repo_id = _repo_from_url(request_url) if request_url else (None, None)
    url = response.url
    kind = "Client" if status < 500 else "Server"

    if code == "RevisionNotFound":
        raise _make(RevisionNotFoundError, f"{status} Client Error.\n\nRevision Not Found for url: {url}.",
                    response, repo_type=repo_type, repo_id=repo_id)
    if code == "EntryNotFound":
        raise _make(RemoteEntryNotFoundError, f"{status} Client Error.\n\nEntry Not Found for url: {url}.",
                    response, repo_type=repo_type, repo_id=repo_id)
    if code == "GatedRepo":
        raise _make(GatedRepoError, f"{status} Client Error.\n\nCannot access gated repo for url {url}.",
                    response, repo_type=repo_type, repo_id=repo_id)
    if error_message == "Access to this resource is disabled.":
        raise _make(DisabledRepoError, f"{status} Client Error.\n\nCannot access repository for url {url}.\n"
                    "Access to this resource is disabled.", response)
    if code == "RepoNotFound" or (
        status == 401 and error_message != "Invalid credentials in Authorization header"
        and request_url is not None and _REPO_API_REGEX.search(request_url) is not None
    ):
        raise _make(
            RepositoryNotFoundError,
            f"{status} Client Error.\n\nRepository Not Found for url: {url}.\nPlease make sure you specified the "
            "correct `repo_id` and `repo_type`.\nIf you are trying to access a private or gated repo, make sure you "
            "are authenticated and your token has the required permissions.",
            response, repo_type=repo_type, repo_id=repo_id)
    if status == 400:
        prefix = f"\n\nBad request for {endpoint_name} endpoint:" if endpoint_name is not None else "\n\nBad request:"
        raise _make(BadRequestError, prefix, response)
    if status == 403:
        raise _make(HfHubHTTPError, f"\n\n403 Forbidden: {error_message}.\nCannot access content at: {url}.\n"
                    "Make sure your token has the correct permissions.", response)
    if status == 429:
        raise _make(HfHubHTTPError, f"\n\n429 Too Many Requests for url: {url}.", response)
    if status == 416:
        raise _make(HfHubHTTPError, f"{status} Client Error: Requested Range Not Satisfiable for url '{url}'. "
                    f"Requested range: {response.request.headers.get('Range')}. "
                    f"Content-Range: {response.headers.get('Content-Range')}.", response)
    raise _make(HfHubHTTPError, f"{kind} error '{status} {response.reason_phrase}' for url '{url}'", response)
