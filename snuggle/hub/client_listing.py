"""HfApi listings: models, datasets and Spaces (generators following the server's Link pages), the file
tree of a repo, paths-info, refs, commit history, branches and tags.

>>> api = HfApi(endpoint="http://127.0.0.1:8080")                       # doctest: +SKIP
>>> [f.path for f in api.list_repo_tree("alice/tiny", recursive=True)]  # doctest: +SKIP
['.gitattributes', 'config.json']
"""

from __future__ import annotations

from itertools import islice
from typing import Any, Iterable, Iterator
from urllib.parse import quote

from snuggle.hub import constants
from snuggle.hub.client_base import HfApiBase, check_repo_type, validate_repo_id
from snuggle.hub.client_info import (
    DatasetInfo,
    GitCommitInfo,
    GitRefInfo,
    GitRefs,
    ModelInfo,
    RepoFile,
    RepoFolder,
    SpaceInfo,
    parse_datetime,
    tree_entry,
)
from snuggle.hub.errors import HfHubHTTPError

_SORT_NAMES = {"last_modified": "lastModified", "trending_score": "trendingScore", "created_at": "createdAt"}


class ListingMixin(HfApiBase):
    """list_models / list_datasets / list_spaces, list_repo_tree / files, get_paths_info, refs, commits,
    branches and tags."""

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
                           ("num_parameters", num_parameters)):
            if value is not None:
                params[key] = value
        if fetch_config:
            params["config"] = True
        if cardData:
            params["cardData"] = True
        return self._list_infos(ModelInfo, "models", params, sort=sort, limit=limit, expand=expand, full=full,
                                token=token)

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
        return self._list_infos(DatasetInfo, "datasets", params, sort=sort, limit=limit, expand=expand, full=full,
                                token=token)

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
        return self._list_infos(SpaceInfo, "spaces", params, sort=sort, limit=limit, expand=expand, full=full,
                                token=token)

    def _list_infos(self, cls: type, plural: str, params: dict, *, sort: str | None, limit: int | None,
                    expand: list[str] | None, full: bool | None, token: bool | str | None) -> Iterator[Any]:
        """The parameters every listing shares, then the pages as `cls` objects (at most `limit`)."""
        if sort is not None:
            params["sort"] = _SORT_NAMES.get(sort, sort)
        if limit is not None:
            params["limit"] = limit
        if expand:
            params["expand"] = expand
        if full:
            params["full"] = True
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
        repo_type = check_repo_type(repo_type)
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
        repo_type = check_repo_type(repo_type)
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
