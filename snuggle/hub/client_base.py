"""Plumbing shared by the parts of HfApi: repo id validation and the base class that knows the endpoint,
the default token and headers, and sends requests through snuggle.hub.http.

>>> validate_repo_id("alice/tiny-model")
>>> HfApiBase(endpoint="http://127.0.0.1:8080/").endpoint
'http://127.0.0.1:8080'
"""

from __future__ import annotations

import inspect
import re
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterator

from snuggle.hub import constants
from snuggle.hub.errors import HFValidationError

_REPO_ID_REGEX = re.compile(r"(\b[\w\-.]{1,96}\b/)?\b[\w\-.]{1,96}\b", flags=re.ASCII)


def validate_repo_id(repo_id: Any) -> None:
    """Reject malformed repo ids before any request (HFValidationError), with the reference's rules.

    >>> validate_repo_id("a/../b")
    Traceback (most recent call last):
    ...
    snuggle.hub.errors.HFValidationError: Repo id must be in the form 'repo_name' or 'namespace/repo_name': 'a/../b'. Use `repo_type` argument if needed.
    """
    if repo_id is None:
        return
    if not isinstance(repo_id, str):
        raise HFValidationError(f"Repo id must be a string, not {type(repo_id)}: '{repo_id}'.")
    if repo_id.count("/") > 1:
        raise HFValidationError("Repo id must be in the form 'repo_name' or 'namespace/repo_name':"
                                f" '{repo_id}'. Use `repo_type` argument if needed.")
    if not _REPO_ID_REGEX.fullmatch(repo_id):
        raise HFValidationError("Repo id must use alphanumeric chars, '-', '_' or '.'. The name cannot start or end "
                                f"with '-' or '.' and the maximum length is 96: '{repo_id}'.")
    if "--" in repo_id or ".." in repo_id:
        raise HFValidationError(f"Cannot have -- or .. in repo_id: '{repo_id}'.")
    if repo_id.endswith(".git"):
        raise HFValidationError(f"Repo_id cannot end by '.git': '{repo_id}'.")


def check_repo_type(repo_type: str | None) -> str:
    """The repo type, 'model' for None; ValueError for anything but model/dataset/space."""
    if repo_type not in constants.REPO_TYPES:
        raise ValueError(f"Invalid repo type, must be one of {constants.REPO_TYPES}; got {repo_type!r}")
    return repo_type or constants.REPO_TYPE_MODEL


def resolve_visibility(private: bool | None, visibility: str | None) -> str | None:
    """'public' / 'private' / None (unchanged) from the `private=` or `visibility=` argument."""
    if private is not None and visibility is not None:
        raise ValueError("Pass either `private` or `visibility`, not both.")
    if visibility is not None:
        if visibility not in ("public", "private"):
            raise ValueError(f"visibility must be 'public' or 'private'; got {visibility!r}")
        return visibility
    if private is None:
        return None
    return "private" if private else "public"


_OPTIONAL_DEFAULTS = {"num_threads": 5, "max_workers": 8, "free_memory": True, "dry_run": False}


def call_delegate(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call a delegate, dropping optional keywords it does not take while they are at their default
    (a non-default value for an unsupported option raises instead of being ignored)."""
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        for key in [k for k in kwargs if k not in params]:
            value = kwargs.pop(key)
            if value is not None and value != _OPTIONAL_DEFAULTS.get(key, None):
                raise TypeError(f"{fn.__module__}.{fn.__name__}() does not support {key}={value!r}")
    return fn(*args, **kwargs)


class HfApiBase:
    """Endpoint, default token and headers of an HfApi, and the request helpers its methods use
    (snuggle.hub.commits / upload / download call `_request` and `_build_hf_headers` too)."""

    def __init__(self, endpoint: str | None = None, token: str | bool | None = None, library_name: str | None = None,
                 library_version: str | None = None, user_agent: dict | str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self._endpoint = endpoint.rstrip("/") if endpoint else None
        self.token = token
        self.library_name = library_name
        self.library_version = library_version
        self.user_agent = user_agent
        self.headers = headers
        self._thread_pool: ThreadPoolExecutor | None = None
        self._whoami_cache: dict[str, dict] = {}

    @property
    def endpoint(self) -> str:
        return self._endpoint or constants.endpoint()

    @endpoint.setter
    def endpoint(self, value: str | None) -> None:
        self._endpoint = value.rstrip("/") if value else None

    # ---- plumbing (also used by snuggle.hub.commits / upload / download) ----
    def _token(self, token: bool | str | None) -> bool | str | None:
        return self.token if token is None else token

    def _build_hf_headers(self, token: bool | str | None = None, library_name: str | None = None,
                          library_version: str | None = None, user_agent: dict | str | None = None) -> dict[str, str]:
        """Headers of the reference (user-agent, authorization); send them only to `self.endpoint`."""
        from snuggle.hub.http import build_hf_headers

        return build_hf_headers(token=self._token(token), library_name=library_name or self.library_name,
                                library_version=library_version or self.library_version,
                                user_agent=user_agent or self.user_agent, headers=self.headers)

    def _extra_headers(self) -> dict[str, str]:
        from snuggle.hub.http import user_agent

        headers = {"user-agent": user_agent(self.library_name, self.library_version, self.user_agent)}
        headers.update(self.headers or {})
        return headers

    def _request(self, method: str, url: str, *, token: bool | str | None = None, **kwargs: Any):
        """http.request against this client's endpoint with its token and headers (errors mapped)."""
        from snuggle.hub import http

        return http.request(method, url, token=self._token(token), endpoint=self.endpoint,
                            headers={**self._extra_headers(), **(kwargs.pop("headers", None) or {})}, **kwargs)

    def _paginate(self, url: str, *, params: dict | None = None, token: bool | str | None = None) -> Iterator[Any]:
        from snuggle.hub import http

        return http.paginate(url, params=params, token=self._token(token), endpoint=self.endpoint,
                             headers=self._extra_headers())

    def _api(self, repo_type: str, repo_id: str, *parts: str) -> str:
        return "/".join([f"{self.endpoint}/api/{repo_type}s/{repo_id}", *parts])

    def run_as_future(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """Run `fn` in this client's background thread (one worker: calls stay ordered)."""
        if self._thread_pool is None:
            self._thread_pool = ThreadPoolExecutor(max_workers=1)
        return self._thread_pool.submit(fn, *args, **kwargs)

