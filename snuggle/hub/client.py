"""HfApi: the huggingface_hub client class (repos, infos, listings, refs, discussions) and its
module-level aliases (`create_repo = api.create_repo`, ...).

Names, arguments, defaults, return types and exceptions follow huggingface_hub 2.4.0. Uploads delegate
to snuggle.hub.commits / snuggle.hub.upload and downloads to snuggle.hub.download, passing this
client's endpoint and token. The endpoint is read when a call is made: `HfApi()` follows later
changes of `HF_ENDPOINT`; `HfApi(endpoint=...)` pins it.

>>> api = HfApi(endpoint="http://127.0.0.1:8080", token="hf_...")   # doctest: +SKIP
>>> url = api.create_repo("alice/tiny", exist_ok=True)             # doctest: +SKIP
>>> [f.path for f in api.list_repo_tree("alice/tiny")]            # doctest: +SKIP
['.gitattributes']
"""

from __future__ import annotations

import inspect
import re
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Literal
from urllib.parse import quote

from snuggle.hub import constants
from snuggle.hub.client_info import (
    DatasetInfo,
    Discussion,
    DiscussionWithDetails,
    GitCommitInfo,
    GitRefInfo,
    GitRefs,
    ModelInfo,
    RepoFile,
    RepoFolder,
    RepoUrl,
    SpaceInfo,
    discussion_event,
    parse_datetime,
    repo_url,
    tree_entry,
)
from snuggle.hub.errors import (
    GatedRepoError,
    HFValidationError,
    HfHubHTTPError,
    LocalTokenNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from snuggle.utils.logging import get_logger

logger = get_logger("snuggle.hub.client")

_REPO_ID_REGEX = re.compile(r"(\b[\w\-.]{1,96}\b/)?\b[\w\-.]{1,96}\b", flags=re.ASCII)
_SORT_NAMES = {"last_modified": "lastModified", "trending_score": "trendingScore", "created_at": "createdAt"}


def validate_repo_id(repo_id: Any) -> None:
    """Reject malformed repo ids before any request (HFValidationError), with the reference's rules.

    >>> validate_repo_id("alice/tiny-model")
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


def _check_repo_type(repo_type: str | None) -> str:
    if repo_type not in constants.REPO_TYPES:
        raise ValueError(f"Invalid repo type, must be one of {constants.REPO_TYPES}; got {repo_type!r}")
    return repo_type or constants.REPO_TYPE_MODEL


def _visibility(private: bool | None, visibility: str | None) -> str | None:
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


def _call(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call a delegate, dropping optional keywords it does not take while they are at their default
    (a non-default value for an unsupported option raises instead of being ignored)."""
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        for key in [k for k in kwargs if k not in params]:
            value = kwargs.pop(key)
            if value is not None and value != _OPTIONAL_DEFAULTS.get(key, None):
                raise TypeError(f"{fn.__module__}.{fn.__name__}() does not support {key}={value!r}")
    return fn(*args, **kwargs)


class HfApi:
    """Client of a Hugging Face compatible Hub (huggingface.co or `snuggle hub serve`).

    Args:
        endpoint: base URL; default `HF_ENDPOINT` read at each call (https://huggingface.co when unset).
        token: default token of every call (str, True = require the saved one, False = anonymous,
            None = saved one if any). A per-call `token=` wins.
        library_name, library_version, user_agent: added to the User-Agent header.
        headers: extra headers for every request (sent to the endpoint only).

    >>> HfApi(endpoint="http://127.0.0.1:8080").endpoint
    'http://127.0.0.1:8080'
    """

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

    # ---- identity ----
    def whoami(self, token: bool | str | None = None, *, cache: bool = False) -> dict:
        """The /api/whoami-v2 answer for the token (`name`, `type`, `orgs`, `auth`).

        Raises LocalTokenNotFoundError without a token, HfHubHTTPError("Invalid user token.") on 401.

        >>> HfApi().whoami()["name"]  # doctest: +SKIP
        'alice'
        """
        from snuggle.hub.auth import get_token

        token = self._token(token)
        if token is False:
            raise ValueError("Cannot use `token=False` with `whoami` method as it requires authentication.")
        if token is True or token is None:
            token = get_token()
        if token is None:
            raise LocalTokenNotFoundError(
                "Token is required to call the /whoami-v2 endpoint, but no token found. Pass token='hf_...', set "
                "HF_TOKEN, or log in with `snuggle hub login`.")
        if cache and token in self._whoami_cache:
            return self._whoami_cache[token]
        try:
            output = self._request("GET", f"{self.endpoint}/api/whoami-v2", token=token).json()
        except HfHubHTTPError as e:
            if e.response is not None and e.response.status_code == 401:
                raise HfHubHTTPError("Invalid user token.", response=e.response,
                                     server_message=e.server_message) from e
            raise
        if cache:
            self._whoami_cache[token] = output
        return output

    def get_full_repo_name(self, model_id: str, *, organization: str | None = None,
                           token: bool | str | None = None) -> str:
        """'namespace/name' for `model_id`, asking whoami for the namespace when none is given."""
        if organization is not None:
            return f"{organization}/{model_id}"
        if "/" in model_id:
            return f"{model_id.split('/')[0]}/{model_id}"
        return f"{self.whoami(token=token)['name']}/{model_id}"

    # ---- repo lifecycle ----
    def create_repo(self, repo_id: str, *, token: str | bool | None = None, private: bool | None = None,
                    visibility: str | None = None, repo_type: str | None = None, exist_ok: bool = False,
                    resource_group_id: str | None = None, region: str | None = None, space_sdk: str | None = None,
                    space_hardware: Any = None, space_sleep_time: int | None = None,
                    space_secrets: list[dict[str, str]] | None = None,
                    space_variables: list[dict[str, str]] | None = None, space_volumes: list | None = None,
                    space_template: str | None = None) -> RepoUrl:
        """Create a repo; with exist_ok=True an existing repo is fine. Returns its RepoUrl.

        >>> HfApi().create_repo("alice/tiny", private=True, exist_ok=True).repo_id  # doctest: +SKIP
        'alice/tiny'
        """
        validate_repo_id(repo_id)
        if repo_type not in constants.REPO_TYPES:
            raise ValueError("Invalid repo type")
        organization, name = repo_id.split("/") if "/" in repo_id else (None, repo_id)
        payload: dict[str, Any] = {"name": name, "organization": organization}
        resolved = _visibility(private, visibility)
        if resolved is not None:
            payload["visibility"] = resolved
        if repo_type is not None:
            payload["type"] = repo_type
        if repo_type == constants.REPO_TYPE_SPACE:
            if space_sdk is None:
                raise ValueError(f"No space_sdk provided. `create_repo` expects space_sdk to be one of "
                                 f"{constants.SPACES_SDK_TYPES} when repo_type is 'space'`")
            if space_sdk not in constants.SPACES_SDK_TYPES:
                raise ValueError(f"Invalid space_sdk. Please choose one of {constants.SPACES_SDK_TYPES}.")
            payload["sdk"] = space_sdk
            for key, value in (("hardware", space_hardware), ("sleepTimeSeconds", space_sleep_time),
                               ("secrets", space_secrets), ("variables", space_variables),
                               ("template", space_template)):
                if value is not None:
                    payload[key] = value
        elif space_sdk is not None:
            warnings.warn("Ignoring provided space_sdk because repo_type is not 'space'.")
        if resource_group_id is not None:
            payload["resourceGroupId"] = resource_group_id
        if region is not None:
            payload["region"] = region

        response = self._request("POST", f"{self.endpoint}/api/repos/create", token=token, json=payload,
                                 raise_for_status=False)
        from snuggle.hub.http import hf_raise_for_status

        try:
            hf_raise_for_status(response)
        except HfHubHTTPError as err:
            if exist_ok and response.status_code == 409:
                pass
            elif exist_ok and response.status_code in (401, 402, 403):
                # may not create in this namespace, but the repo may exist and be readable: that is fine
                try:
                    self.repo_info(repo_id=repo_id, repo_type=repo_type, token=token)
                except HfHubHTTPError:
                    raise err from None
                return RepoUrl(repo_url(self.endpoint, repo_id, repo_type), endpoint=self.endpoint)
            else:
                raise
        try:
            url = response.json()["url"]
        except (ValueError, KeyError, TypeError):
            url = repo_url(self.endpoint, repo_id, repo_type)  # an older server's 409 without a body
        return RepoUrl(url, endpoint=self.endpoint)

    def delete_repo(self, repo_id: str, *, token: str | bool | None = None, repo_type: str | None = None,
                    missing_ok: bool = False) -> None:
        """Delete a repo (RepositoryNotFoundError when missing, unless missing_ok=True)."""
        validate_repo_id(repo_id)
        if repo_type not in constants.REPO_TYPES:
            raise ValueError("Invalid repo type")
        organization, name = repo_id.split("/") if "/" in repo_id else (None, repo_id)
        payload: dict[str, Any] = {"name": name, "organization": organization}
        if repo_type is not None:
            payload["type"] = repo_type
        try:
            self._request("DELETE", f"{self.endpoint}/api/repos/delete", token=token, json=payload)
        except RepositoryNotFoundError:
            if not missing_ok:
                raise

    def move_repo(self, from_id: str, to_id: str, *, repo_type: str | None = None,
                  token: str | bool | None = None) -> None:
        """Rename or transfer a repo (`from_id` and `to_id` are 'namespace/name')."""
        for value in (from_id, to_id):
            if len(value.split("/")) != 2:
                raise ValueError(f"Invalid repo_id: {value}. It should have a namespace (:namespace:/:repo_name:)")
            validate_repo_id(value)
        payload = {"fromRepo": from_id, "toRepo": to_id, "type": repo_type or constants.REPO_TYPE_MODEL}
        self._request("POST", f"{self.endpoint}/api/repos/move", token=token, json=payload)

    def update_repo_settings(self, repo_id: str, *, gated: Literal["auto", "manual", False] | None = None,
                             private: bool | None = None, visibility: str | None = None,
                             token: str | bool | None = None, repo_type: str | None = None) -> None:
        """Change visibility (`private=` / `visibility=`) and/or gating of a repo."""
        validate_repo_id(repo_id)
        repo_type = _check_repo_type(repo_type)
        payload: dict[str, Any] = {}
        if gated is not None:
            if gated not in ("auto", "manual", False):
                raise ValueError(f"Invalid gated status, must be one of 'auto', 'manual', or False. Got '{gated}'.")
            payload["gated"] = gated
        resolved = _visibility(private, visibility)
        if resolved is not None:
            payload["visibility"] = resolved
        if not payload:
            raise ValueError("At least one setting must be updated.")
        self._request("PUT", self._api(repo_type, repo_id, "settings"), token=token, json=payload)

    def update_repo_visibility(self, repo_id: str, private: bool = False, *, token: str | bool | None = None,
                               repo_type: str | None = None) -> dict:
        """Older huggingface_hub API (removed in 1.x): same as update_repo_settings(private=...)."""
        self.update_repo_settings(repo_id, private=private, token=token, repo_type=repo_type)
        return {"private": private}

    # ---- infos ----
    def _info(self, cls: type, repo_type: str, repo_id: str, *, revision: str | None, timeout: float | None,
              params: dict, token: bool | str | None) -> Any:
        validate_repo_id(repo_id)
        url = self._api(repo_type, repo_id) if revision is None else self._api(
            repo_type, repo_id, "revision", quote(revision, safe=""))
        kwargs = {"timeout": timeout} if timeout is not None else {}
        data = self._request("GET", url, token=token, params=params, **kwargs).json()
        return cls(**data)

    @staticmethod
    def _info_params(files_metadata: bool, expand: Any, security_status: bool | None = None) -> dict:
        if expand and (security_status or files_metadata):
            raise ValueError("`expand` cannot be used if `securityStatus` or `files_metadata` are set.")
        params: dict[str, Any] = {}
        if security_status:
            params["securityStatus"] = True
        if files_metadata:
            params["blobs"] = True
        if expand:
            params["expand"] = expand
        return params

    def model_info(self, repo_id: str, *, revision: str | None = None, timeout: float | None = None,
                   securityStatus: bool | None = None, files_metadata: bool = False, expand: list[str] | None = None,
                   token: bool | str | None = None) -> ModelInfo:
        """ModelInfo of a model repo at `revision` (sha, siblings, tags, card_data, ...).

        >>> HfApi().model_info("alice/tiny").sha  # doctest: +SKIP
        '3f2a...'
        """
        return self._info(ModelInfo, "model", repo_id, revision=revision, timeout=timeout, token=token,
                          params=self._info_params(files_metadata, expand, securityStatus))

    def dataset_info(self, repo_id: str, *, revision: str | None = None, timeout: float | None = None,
                     files_metadata: bool = False, expand: list[str] | None = None,
                     token: bool | str | None = None) -> DatasetInfo:
        """DatasetInfo of a dataset repo at `revision`."""
        return self._info(DatasetInfo, "dataset", repo_id, revision=revision, timeout=timeout, token=token,
                          params=self._info_params(files_metadata, expand))

    def space_info(self, repo_id: str, *, revision: str | None = None, timeout: float | None = None,
                   files_metadata: bool = False, expand: list[str] | None = None,
                   token: bool | str | None = None) -> SpaceInfo:
        """SpaceInfo of a Space repo at `revision`."""
        return self._info(SpaceInfo, "space", repo_id, revision=revision, timeout=timeout, token=token,
                          params=self._info_params(files_metadata, expand))

    def repo_info(self, repo_id: str, *, revision: str | None = None, repo_type: str | None = None,
                  timeout: float | None = None, files_metadata: bool = False, expand: Any = None,
                  token: bool | str | None = None) -> ModelInfo | DatasetInfo | SpaceInfo:
        """model_info / dataset_info / space_info by `repo_type`."""
        methods = {None: self.model_info, "model": self.model_info, "dataset": self.dataset_info,
                   "space": self.space_info}
        if repo_type not in methods:
            raise ValueError("Unsupported repo type.")
        return methods[repo_type](repo_id, revision=revision, token=token, timeout=timeout, expand=expand,
                                  files_metadata=files_metadata)

    def repo_exists(self, repo_id: str, *, repo_type: str | None = None, token: str | bool | None = None) -> bool:
        """True if the repo exists and the caller may read it (a gated repo counts as existing)."""
        try:
            self.repo_info(repo_id=repo_id, repo_type=repo_type, token=token)
            return True
        except GatedRepoError:
            return True
        except RepositoryNotFoundError:
            return False

    def revision_exists(self, repo_id: str, revision: str, *, repo_type: str | None = None,
                        token: str | bool | None = None) -> bool:
        """True if `revision` (branch, tag, sha, refs/pr/N) exists in a readable repo."""
        try:
            self.repo_info(repo_id=repo_id, revision=revision, repo_type=repo_type, token=token)
            return True
        except (RevisionNotFoundError, RepositoryNotFoundError):
            return False

    def file_exists(self, repo_id: str, filename: str, *, repo_type: str | None = None,
                    revision: str | None = None, token: str | bool | None = None) -> bool:
        """True if `filename` exists at `revision` (HEAD on /resolve); GatedRepoError propagates."""
        validate_repo_id(repo_id)
        repo_type = _check_repo_type(repo_type)
        url = (f"{self.endpoint}/{constants.repo_url_prefix(repo_type)}{repo_id}/resolve/"
               f"{quote(revision or constants.DEFAULT_REVISION, safe='')}/{quote(filename)}")
        try:
            self._request("HEAD", url, token=token, headers={"accept-encoding": "identity"},
                          timeout=constants.etag_timeout())
            return True
        except GatedRepoError:
            raise
        except (RepositoryNotFoundError, RemoteEntryNotFoundError, RevisionNotFoundError):
            return False

    # ---- listings ----
    def list_models(self, *, filter: str | Iterable[str] | None = None, author: str | None = None,
                    apps: str | list[str] | None = None, gated: bool | None = None, inference: str | None = None,
                    inference_provider: Any = None, trained_dataset: str | list[str] | None = None,
                    search: str | None = None, pipeline_tag: str | None = None, num_parameters: str | None = None,
                    emissions_thresholds: tuple[float, float] | None = None, sort: str | None = None,
                    limit: int | None = None, expand: list[str] | None = None, full: bool | None = None,
                    cardData: bool = False, fetch_config: bool = False,
                    token: bool | str | None = None) -> Iterable[ModelInfo]:
        """Models matching the filters, as a generator following the server's pages.

        >>> [m.id for m in HfApi().list_models(author="alice", limit=2)]  # doctest: +SKIP
        ['alice/a', 'alice/b']
        """
        if expand and (full or cardData or fetch_config):
            raise ValueError("`expand` cannot be used if `full`, `cardData` or `fetch_config` are passed.")
        if emissions_thresholds is not None:
            raise ValueError("emissions_thresholds is not supported by snuggle's client.")
        filters = [filter] if isinstance(filter, str) else list(filter or [])
        if trained_dataset:
            names = [trained_dataset] if isinstance(trained_dataset, str) else trained_dataset
            filters += [d if d.startswith("dataset:") else f"dataset:{d}" for d in names]
        params: dict[str, Any] = {}
        if filters:
            params["filter"] = filters
        for key, value in (("author", author), ("pipeline_tag", pipeline_tag), ("search", search)):
            if value:
                params[key] = value
        if apps:
            params["apps"] = [apps] if isinstance(apps, str) else apps
        for key, value in (("gated", gated), ("inference", inference), ("inference_provider", inference_provider),
                           ("num_parameters", num_parameters), ("limit", limit)):
            if value is not None:
                params[key] = value
        if sort is not None:
            params["sort"] = _SORT_NAMES.get(sort, sort)
        if full:
            params["full"] = True
        if fetch_config:
            params["config"] = True
        if cardData:
            params["cardData"] = True
        if expand:
            params["expand"] = expand
        return self._list_infos(ModelInfo, "models", params, limit, token)

    def list_datasets(self, *, filter: str | Iterable[str] | None = None, author: str | None = None,
                      benchmark: Any = None, dataset_name: str | None = None, gated: bool | None = None,
                      language_creators: str | list[str] | None = None, language: str | list[str] | None = None,
                      multilinguality: str | list[str] | None = None, size_categories: str | list[str] | None = None,
                      task_categories: str | list[str] | None = None, task_ids: str | list[str] | None = None,
                      search: str | None = None, sort: str | None = None, limit: int | None = None,
                      expand: list[str] | None = None, full: bool | None = None,
                      token: bool | str | None = None) -> Iterable[DatasetInfo]:
        """Datasets matching the filters, as a generator following the server's pages."""
        if expand and full:
            raise ValueError("`expand` cannot be used if `full` is passed.")
        filters = [filter] if isinstance(filter, str) else list(filter or [])
        for key, value in (("language_creators", language_creators), ("language", language),
                           ("multilinguality", multilinguality), ("size_categories", size_categories),
                           ("task_categories", task_categories), ("task_ids", task_ids)):
            for item in ([value] if isinstance(value, str) else value or []):
                filters.append(item if item.startswith(f"{key}:") else f"{key}:{item}")
        if benchmark is not None:
            filters.append(f"benchmark:{'official' if benchmark is True else benchmark}")
        params: dict[str, Any] = {}
        if filters:
            params["filter"] = filters
        if author:
            params["author"] = author
        if gated is not None:
            params["gated"] = gated
        searches = [s for s in (dataset_name, search) if s]
        if searches:
            params["search"] = searches
        if sort is not None:
            params["sort"] = _SORT_NAMES.get(sort, sort)
        if limit is not None:
            params["limit"] = limit
        if expand:
            params["expand"] = expand
        if full:
            params["full"] = True
        return self._list_infos(DatasetInfo, "datasets", params, limit, token)

    def list_spaces(self, *, filter: str | Iterable[str] | None = None, author: str | None = None,
                    search: str | None = None, datasets: str | Iterable[str] | None = None,
                    models: str | Iterable[str] | None = None, linked: bool = False, sort: str | None = None,
                    limit: int | None = None, expand: list[str] | None = None, full: bool | None = None,
                    token: bool | str | None = None) -> Iterable[SpaceInfo]:
        """Spaces matching the filters, as a generator following the server's pages."""
        if expand and full:
            raise ValueError("`expand` cannot be used if `full` is passed.")
        params: dict[str, Any] = {}
        if filter is not None:
            params["filter"] = filter
        for key, value in (("author", author), ("search", search), ("datasets", datasets), ("models", models)):
            if value is not None:
                params[key] = value
        if linked:
            params["linked"] = True
        if sort is not None:
            params["sort"] = _SORT_NAMES.get(sort, sort)
        if limit is not None:
            params["limit"] = limit
        if expand:
            params["expand"] = expand
        if full:
            params["full"] = True
        return self._list_infos(SpaceInfo, "spaces", params, limit, token)

    def _list_infos(self, cls: type, plural: str, params: dict, limit: int | None,
                    token: bool | str | None) -> Iterator[Any]:
        items = self._paginate(f"{self.endpoint}/api/{plural}", params=params, token=token)
        if limit is not None:
            items = islice(items, limit)
        for item in items:
            item.setdefault("siblings", None)
            yield cls(**item)

    def list_repo_tree(self, repo_id: str, path_in_repo: str | None = None, *, recursive: bool = False,
                       expand: bool = False, revision: str | None = None, repo_type: str | None = None,
                       token: str | bool | None = None) -> Iterable[RepoFile | RepoFolder]:
        """Files and folders under `path_in_repo` (all levels with recursive=True), following pages.

        >>> [e.path for e in HfApi().list_repo_tree("alice/tiny", recursive=True)]  # doctest: +SKIP
        ['.gitattributes', 'config.json', 'sub', 'sub/w.bin']
        """
        validate_repo_id(repo_id)
        repo_type = _check_repo_type(repo_type)
        rev = quote(revision, safe="") if revision is not None else constants.DEFAULT_REVISION
        suffix = "/" + quote(path_in_repo, safe="") if path_in_repo else ""
        url = f"{self._api(repo_type, repo_id, 'tree', rev)}{suffix}"
        for item in self._paginate(url, params={"recursive": recursive, "expand": expand}, token=token):
            yield tree_entry(item)

    def list_repo_files(self, repo_id: str, *, revision: str | None = None, repo_type: str | None = None,
                        token: str | bool | None = None) -> list[str]:
        """Paths of all files of the repo at `revision` (recursive)."""
        return [entry.rfilename for entry in self.list_repo_tree(repo_id, recursive=True, revision=revision,
                                                                 repo_type=repo_type, token=token)
                if isinstance(entry, RepoFile)]

    def get_paths_info(self, repo_id: str, paths: list[str] | str, *, expand: bool = False,
                       revision: str | None = None, repo_type: str | None = None,
                       token: str | bool | None = None) -> list[RepoFile | RepoFolder]:
        """RepoFile/RepoFolder for each of `paths` that exists (missing ones are left out)."""
        validate_repo_id(repo_id)
        repo_type = _check_repo_type(repo_type)
        rev = quote(revision, safe="") if revision is not None else constants.DEFAULT_REVISION
        data = {"paths": paths if isinstance(paths, list) else [paths], "expand": expand}
        response = self._request("POST", self._api(repo_type, repo_id, "paths-info", rev), token=token, data=data)
        return [tree_entry(item) for item in response.json()]

    def list_repo_refs(self, repo_id: str, *, repo_type: str | None = None, include_pull_requests: bool = False,
                       token: str | bool | None = None) -> GitRefs:
        """Branches, tags, converts (and pull requests with include_pull_requests=True)."""
        validate_repo_id(repo_id)
        repo_type = repo_type or constants.REPO_TYPE_MODEL
        data = self._request("GET", self._api(repo_type, repo_id, "refs"), token=token,
                             params={"include_prs": 1} if include_pull_requests else {}).json()

        def refs(items: list[dict]) -> list[GitRefInfo]:
            return [GitRefInfo(name=i["name"], ref=i["ref"], target_commit=i["targetCommit"]) for i in items]

        return GitRefs(branches=refs(data["branches"]), converts=refs(data["converts"]), tags=refs(data["tags"]),
                       pull_requests=refs(data["pullRequests"]) if include_pull_requests else None)

    def list_repo_commits(self, repo_id: str, *, repo_type: str | None = None, token: bool | str | None = None,
                          revision: str | None = None, formatted: bool = False) -> list[GitCommitInfo]:
        """History of `revision` (first parents, newest first)."""
        validate_repo_id(repo_id)
        repo_type = repo_type or constants.REPO_TYPE_MODEL
        rev = quote(revision, safe="") if revision is not None else constants.DEFAULT_REVISION
        items = self._paginate(self._api(repo_type, repo_id, "commits", rev), token=token,
                               params={"expand[]": "formatted"} if formatted else {})
        return [
            GitCommitInfo(commit_id=item["id"], authors=[a["user"] for a in item["authors"]],
                          created_at=parse_datetime(item["date"]), title=item["title"], message=item["message"],
                          formatted_title=(item.get("formatted") or {}).get("title"),
                          formatted_message=(item.get("formatted") or {}).get("message"))
            for item in items
        ]

    # ---- branches and tags ----
    def create_branch(self, repo_id: str, *, branch: str, revision: str | None = None,
                      token: bool | str | None = None, repo_type: str | None = None, exist_ok: bool = False) -> None:
        """Create `branch` at `revision` (default: head of main); exist_ok ignores an existing branch."""
        validate_repo_id(repo_id)
        repo_type = repo_type or constants.REPO_TYPE_MODEL
        payload = {"startingPoint": revision} if revision is not None else {}
        try:
            self._request("POST", self._api(repo_type, repo_id, "branch", quote(branch, safe="")), token=token,
                          json=payload)
        except HfHubHTTPError as e:
            status = e.response.status_code if e.response is not None else None
            if exist_ok and status == 409:
                return
            if exist_ok and status == 403:
                try:
                    if any(b.name == branch for b in self.list_repo_refs(repo_id, repo_type=repo_type,
                                                                         token=token).branches):
                        return
                except HfHubHTTPError:
                    pass
            raise

    def delete_branch(self, repo_id: str, *, branch: str, token: bool | str | None = None,
                      repo_type: str | None = None) -> None:
        """Delete `branch` (RevisionNotFoundError when missing)."""
        validate_repo_id(repo_id)
        repo_type = repo_type or constants.REPO_TYPE_MODEL
        self._request("DELETE", self._api(repo_type, repo_id, "branch", quote(branch, safe="")), token=token)

    def create_tag(self, repo_id: str, *, tag: str, tag_message: str | None = None, revision: str | None = None,
                   token: bool | str | None = None, repo_type: str | None = None, exist_ok: bool = False) -> None:
        """Tag `revision` (default main) as `tag`; exist_ok ignores an existing tag."""
        validate_repo_id(repo_id)
        repo_type = repo_type or constants.REPO_TYPE_MODEL
        rev = quote(revision, safe="") if revision is not None else constants.DEFAULT_REVISION
        payload = {"tag": tag}
        if tag_message is not None:
            payload["message"] = tag_message
        try:
            self._request("POST", self._api(repo_type, repo_id, "tag", rev), token=token, json=payload)
        except HfHubHTTPError as e:
            if not (exist_ok and e.response is not None and e.response.status_code == 409):
                raise

    def delete_tag(self, repo_id: str, *, tag: str, token: bool | str | None = None,
                   repo_type: str | None = None) -> None:
        """Delete `tag` (RevisionNotFoundError when missing)."""
        validate_repo_id(repo_id)
        repo_type = repo_type or constants.REPO_TYPE_MODEL
        self._request("DELETE", self._api(repo_type, repo_id, "tag", quote(tag, safe="")), token=token)

    # ---- discussions and pull requests (minimal) ----
    def create_discussion(self, repo_id: str, title: str, *, token: bool | str | None = None,
                          description: str | None = None, repo_type: str | None = None,
                          pull_request: bool = False) -> DiscussionWithDetails:
        """Open a discussion (or a pull request with pull_request=True) and return its details."""
        validate_repo_id(repo_id)
        repo_type = _check_repo_type(repo_type)
        description = (description or "").strip() or (
            f"{'Pull Request' if pull_request else 'Discussion'} opened with snuggle")
        response = self._request("POST", self._api(repo_type, repo_id, "discussions"), token=token,
                                 json={"title": title.strip(), "description": description,
                                       "pullRequest": pull_request})
        return self.get_discussion_details(repo_id, response.json()["num"], repo_type=repo_type, token=token)

    def create_pull_request(self, repo_id: str, title: str, *, token: bool | str | None = None,
                            description: str | None = None, repo_type: str | None = None) -> DiscussionWithDetails:
        """Open a pull request (a `refs/pr/<n>` ref starting at main)."""
        return self.create_discussion(repo_id, title, token=token, description=description, repo_type=repo_type,
                                      pull_request=True)

    def get_discussion_details(self, repo_id: str, discussion_num: int, *, repo_type: str | None = None,
                               token: bool | str | None = None) -> DiscussionWithDetails:
        """One discussion / pull request with its events (and diff for a PR)."""
        if not isinstance(discussion_num, int) or discussion_num <= 0:
            raise ValueError("Invalid discussion_num, must be a positive integer")
        validate_repo_id(repo_id)
        repo_type = _check_repo_type(repo_type)
        d = self._request("GET", self._api(repo_type, repo_id, "discussions", str(discussion_num)), token=token,
                          params={"diff": "1"}).json()
        is_pr = d["isPullRequest"]
        changes = d.get("changes") or {}
        return DiscussionWithDetails(
            title=d["title"], num=d["num"], author=(d.get("author") or {}).get("name", "deleted"),
            created_at=parse_datetime(d["createdAt"]), status=d["status"], repo_id=d["repo"]["name"],
            repo_type=d["repo"]["type"], is_pull_request=is_pr, endpoint=self.endpoint,
            events=[discussion_event(e) for e in d.get("events") or []],
            conflicting_files=d.get("filesWithConflicts") if is_pr else None,
            target_branch=changes.get("base") if is_pr else None,
            merge_commit_oid=changes.get("mergeCommitId") if is_pr else None, diff=d.get("diff"))

    def get_repo_discussions(self, repo_id: str, *, author: str | None = None, discussion_type: str | None = None,
                             discussion_status: str | None = None, repo_type: str | None = None,
                             token: bool | str | None = None) -> Iterator[Discussion]:
        """Discussions and pull requests of a repo (generator over the `p=` pages)."""
        validate_repo_id(repo_id)
        repo_type = _check_repo_type(repo_type)
        if discussion_type is not None and discussion_type not in constants.DISCUSSION_TYPES:
            raise ValueError(f"Invalid discussion_type, must be one of {constants.DISCUSSION_TYPES}")
        if discussion_status is not None and discussion_status not in constants.DISCUSSION_STATUS:
            raise ValueError(f"Invalid discussion_status, must be one of {constants.DISCUSSION_STATUS}")
        params: dict[str, Any] = {}
        for key, value in (("type", discussion_type), ("status", discussion_status), ("author", author)):
            if value is not None:
                params[key] = value
        page = 0
        while True:
            data = self._request("GET", self._api(repo_type, repo_id, "discussions"), token=token,
                                 params={**params, "p": page}).json()
            items = data["discussions"]
            for d in items:
                yield Discussion(title=d["title"], num=d["num"], author=(d.get("author") or {}).get("name", "deleted"),
                                 created_at=parse_datetime(d["createdAt"]), status=d["status"],
                                 repo_id=d["repo"]["name"], repo_type=d["repo"]["type"],
                                 is_pull_request=d["isPullRequest"], endpoint=self.endpoint)
            if not items or data["start"] + len(items) >= data["count"]:
                return
            page += 1

    def auth_check(self, repo_id: str, *, repo_type: str | None = None, token: bool | str | None = None,
                   write: bool = False) -> None:
        """Raise unless the token may read (or, with write=True, write) the repo.

        Uses repo info for reads; for writes, the token's role from whoami and read access to the repo
        (snuggle's server has no /auth-check route).
        """
        validate_repo_id(repo_id)
        repo_type = _check_repo_type(repo_type)
        self.repo_info(repo_id, repo_type=repo_type, token=token)
        if write:
            role = ((self.whoami(token=token).get("auth") or {}).get("accessToken") or {}).get("role")
            if role not in (None, "write", "admin"):
                raise HfHubHTTPError(f"403 Forbidden: the token's role is '{role}'; writing to {repo_id} needs a "
                                     "write token.")

    # ---- uploads: snuggle.hub.commits / snuggle.hub.upload ----
    def create_commit(self, repo_id: str, operations: Iterable[Any], *, commit_message: str,
                      commit_description: str | None = None, token: str | bool | None = None,
                      repo_type: str | None = None, revision: str | None = None, create_pr: bool | None = None,
                      num_threads: int = 5, parent_commit: str | None = None, run_as_future: bool = False,
                      _hot_reload: bool | None = None) -> Any:
        """Commit `operations` (CommitOperationAdd/Delete/Copy) in one atomic commit; returns CommitInfo."""
        from snuggle.hub import commits

        kwargs = dict(commit_message=commit_message, commit_description=commit_description, token=token,
                      repo_type=repo_type, revision=revision, create_pr=create_pr, num_threads=num_threads,
                      parent_commit=parent_commit)
        if run_as_future:
            return self.run_as_future(_call, commits.create_commit, self, repo_id, operations, **kwargs)
        return _call(commits.create_commit, self, repo_id, operations, **kwargs)

    def preupload_lfs_files(self, repo_id: str, additions: Iterable[Any], *, token: str | bool | None = None,
                            repo_type: str | None = None, revision: str | None = None,
                            create_pr: bool | None = None, num_threads: int = 5, free_memory: bool = True,
                            gitignore_content: str | None = None) -> None:
        """Upload the LFS content of `additions` before a later create_commit."""
        from snuggle.hub import commits

        return _call(commits.preupload_lfs_files, self, repo_id, additions, token=token, repo_type=repo_type,
                     revision=revision, create_pr=create_pr, num_threads=num_threads, free_memory=free_memory,
                     gitignore_content=gitignore_content)

    def _upload_call(self, name: str, run_as_future: bool = False, **kwargs: Any) -> Any:
        from snuggle.hub import upload

        fn = getattr(upload, name)
        if run_as_future:
            return self.run_as_future(_call, fn, self, **kwargs)
        return _call(fn, self, **kwargs)

    def upload_file(self, *, path_or_fileobj: str | Path | bytes | BinaryIO, path_in_repo: str, repo_id: str,
                    token: str | bool | None = None, repo_type: str | None = None, revision: str | None = None,
                    commit_message: str | None = None, commit_description: str | None = None,
                    create_pr: bool | None = None, parent_commit: str | None = None, run_as_future: bool = False,
                    _hot_reload: bool | None = None) -> Any:
        """Upload one file (path, bytes or binary file object) to `path_in_repo`; returns CommitInfo."""
        return self._upload_call("upload_file", run_as_future, path_or_fileobj=path_or_fileobj,
                                 path_in_repo=path_in_repo, repo_id=repo_id, token=token, repo_type=repo_type,
                                 revision=revision, commit_message=commit_message,
                                 commit_description=commit_description, create_pr=create_pr,
                                 parent_commit=parent_commit)

    def upload_folder(self, *, repo_id: str, folder_path: str | Path, path_in_repo: str | None = None,
                      commit_message: str | None = None, commit_description: str | None = None,
                      token: str | bool | None = None, repo_type: str | None = None, revision: str | None = None,
                      create_pr: bool | None = None, parent_commit: str | None = None,
                      allow_patterns: list[str] | str | None = None, ignore_patterns: list[str] | str | None = None,
                      delete_patterns: list[str] | str | None = None, run_as_future: bool = False) -> Any:
        """Upload a local folder (allow/ignore/delete patterns); returns CommitInfo."""
        return self._upload_call("upload_folder", run_as_future, repo_id=repo_id, folder_path=folder_path,
                                 path_in_repo=path_in_repo, commit_message=commit_message,
                                 commit_description=commit_description, token=token, repo_type=repo_type,
                                 revision=revision, create_pr=create_pr, parent_commit=parent_commit,
                                 allow_patterns=allow_patterns, ignore_patterns=ignore_patterns,
                                 delete_patterns=delete_patterns)

    def delete_file(self, path_in_repo: str, repo_id: str, *, token: str | bool | None = None,
                    repo_type: str | None = None, revision: str | None = None, commit_message: str | None = None,
                    commit_description: str | None = None, create_pr: bool | None = None,
                    parent_commit: str | None = None) -> Any:
        """Delete one file in a commit; returns CommitInfo (EntryNotFoundError when missing)."""
        return self._upload_call("delete_file", path_in_repo=path_in_repo, repo_id=repo_id, token=token,
                                 repo_type=repo_type, revision=revision, commit_message=commit_message,
                                 commit_description=commit_description, create_pr=create_pr,
                                 parent_commit=parent_commit)

    def delete_files(self, repo_id: str, delete_patterns: list[str], *, token: bool | str | None = None,
                     repo_type: str | None = None, revision: str | None = None, commit_message: str | None = None,
                     commit_description: str | None = None, create_pr: bool | None = None,
                     parent_commit: str | None = None) -> Any:
        """Delete files and folders matching `delete_patterns` in one commit."""
        return self._upload_call("delete_files", repo_id=repo_id, delete_patterns=delete_patterns, token=token,
                                 repo_type=repo_type, revision=revision, commit_message=commit_message,
                                 commit_description=commit_description, create_pr=create_pr,
                                 parent_commit=parent_commit)

    def delete_folder(self, path_in_repo: str, repo_id: str, *, token: bool | str | None = None,
                      repo_type: str | None = None, revision: str | None = None, commit_message: str | None = None,
                      commit_description: str | None = None, create_pr: bool | None = None,
                      parent_commit: str | None = None) -> Any:
        """Delete a folder and everything under it in one commit."""
        return self._upload_call("delete_folder", path_in_repo=path_in_repo, repo_id=repo_id, token=token,
                                 repo_type=repo_type, revision=revision, commit_message=commit_message,
                                 commit_description=commit_description, create_pr=create_pr,
                                 parent_commit=parent_commit)

    # ---- downloads: snuggle.hub.download ----
    def hf_hub_download(self, repo_id: str, filename: str, *, subfolder: str | None = None,
                        repo_type: str | None = None, revision: str | None = None,
                        cache_dir: str | Path | None = None, local_dir: str | Path | None = None,
                        force_download: bool = False, etag_timeout: float = constants.DEFAULT_ETAG_TIMEOUT,
                        token: bool | str | None = None, local_files_only: bool = False, tqdm_class: Any = None,
                        dry_run: bool = False) -> Any:
        """Download one file into the HF cache (or `local_dir`) and return its path."""
        from snuggle.hub import download

        return _call(download.hf_hub_download, repo_id=repo_id, filename=filename, subfolder=subfolder,
                     repo_type=repo_type, revision=revision, endpoint=self.endpoint,
                     library_name=self.library_name, library_version=self.library_version, cache_dir=cache_dir,
                     local_dir=local_dir, user_agent=self.user_agent, force_download=force_download,
                     etag_timeout=etag_timeout, token=self._token(token), headers=self.headers,
                     local_files_only=local_files_only, tqdm_class=tqdm_class, dry_run=dry_run)

    def snapshot_download(self, repo_id: str, *, repo_type: str | None = None, revision: str | None = None,
                          cache_dir: str | Path | None = None, local_dir: str | Path | None = None,
                          etag_timeout: float = constants.DEFAULT_ETAG_TIMEOUT, force_download: bool = False,
                          token: bool | str | None = None, local_files_only: bool = False,
                          allow_patterns: list[str] | str | None = None,
                          ignore_patterns: list[str] | str | None = None, max_workers: int = 8,
                          tqdm_class: Any = None, dry_run: bool = False) -> Any:
        """Download a whole repo (or the files matching the patterns) and return the snapshot folder."""
        from snuggle.hub import download

        return _call(download.snapshot_download, repo_id=repo_id, repo_type=repo_type, revision=revision,
                     endpoint=self.endpoint, cache_dir=cache_dir, local_dir=local_dir,
                     library_name=self.library_name, library_version=self.library_version,
                     user_agent=self.user_agent, etag_timeout=etag_timeout, force_download=force_download,
                     token=self._token(token), local_files_only=local_files_only, allow_patterns=allow_patterns,
                     ignore_patterns=ignore_patterns, max_workers=max_workers, tqdm_class=tqdm_class,
                     headers=self.headers, dry_run=dry_run)

    def get_hf_file_metadata(self, *, url: str, token: bool | str | None = None,
                             timeout: float | None = constants.DEFAULT_ETAG_TIMEOUT) -> Any:
        """HEAD a /resolve URL: commit hash, etag, location and size (HfFileMetadata)."""
        from snuggle.hub import download

        return _call(download.get_hf_file_metadata, url=url, token=self._token(token), timeout=timeout,
                     library_name=self.library_name, library_version=self.library_version,
                     user_agent=self.user_agent, endpoint=self.endpoint)


# module-level aliases, as huggingface_hub has them (the endpoint is read at each call)
api = HfApi()

whoami = api.whoami
get_full_repo_name = api.get_full_repo_name
create_repo = api.create_repo
delete_repo = api.delete_repo
move_repo = api.move_repo
update_repo_settings = api.update_repo_settings
update_repo_visibility = api.update_repo_visibility
repo_info = api.repo_info
model_info = api.model_info
dataset_info = api.dataset_info
space_info = api.space_info
repo_exists = api.repo_exists
revision_exists = api.revision_exists
file_exists = api.file_exists
list_models = api.list_models
list_datasets = api.list_datasets
list_spaces = api.list_spaces
list_repo_tree = api.list_repo_tree
list_repo_files = api.list_repo_files
get_paths_info = api.get_paths_info
list_repo_refs = api.list_repo_refs
list_repo_commits = api.list_repo_commits
create_branch = api.create_branch
delete_branch = api.delete_branch
create_tag = api.create_tag
delete_tag = api.delete_tag
create_discussion = api.create_discussion
create_pull_request = api.create_pull_request
get_discussion_details = api.get_discussion_details
get_repo_discussions = api.get_repo_discussions
auth_check = api.auth_check
create_commit = api.create_commit
preupload_lfs_files = api.preupload_lfs_files
upload_file = api.upload_file
upload_folder = api.upload_folder
delete_file = api.delete_file
delete_files = api.delete_files
delete_folder = api.delete_folder
