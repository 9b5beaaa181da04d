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

import warnings
from typing import Any, Literal
from urllib.parse import quote

from snuggle.hub import constants
from snuggle.hub.client_base import HfApiBase, check_repo_type, resolve_visibility, validate_repo_id
from snuggle.hub.client_info import DatasetInfo, ModelInfo, RepoUrl, SpaceInfo, repo_url
from snuggle.hub.client_listing import ListingMixin
from snuggle.hub.client_transfer import TransferMixin
from snuggle.hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalTokenNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from snuggle.utils.logging import get_logger

logger = get_logger("snuggle.hub.client")


class HfApi(TransferMixin, ListingMixin, HfApiBase):
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
        resolved = resolve_visibility(private, visibility)
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
        repo_type = check_repo_type(repo_type)
        payload: dict[str, Any] = {}
        if gated is not None:
            if gated not in ("auto", "manual", False):
                raise ValueError(f"Invalid gated status, must be one of 'auto', 'manual', or False. Got '{gated}'.")
            payload["gated"] = gated
        resolved = resolve_visibility(private, visibility)
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
        repo_type = check_repo_type(repo_type)
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

    def auth_check(self, repo_id: str, *, repo_type: str | None = None, token: bool | str | None = None,
                   write: bool = False) -> None:
        """Raise unless the token may read (or, with write=True, write) the repo.

        Uses repo info for reads; for writes, the token's role from whoami and read access to the repo
        (snuggle's server has no /auth-check route).
        """
        validate_repo_id(repo_id)
        repo_type = check_repo_type(repo_type)
        self.repo_info(repo_id, repo_type=repo_type, token=token)
        if write:
            role = ((self.whoami(token=token).get("auth") or {}).get("accessToken") or {}).get("role")
            if role not in (None, "write", "admin"):
                raise HfHubHTTPError(f"403 Forbidden: the token's role is '{role}'; writing to {repo_id} needs a "
                                     "write token.")


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
