"""HfApi uploads, downloads and discussions: thin methods with huggingface_hub's signatures that pass this
client (endpoint, token, headers) to snuggle.hub.commits, snuggle.hub.upload and snuggle.hub.download,
plus the minimal discussion / pull-request calls.

>>> api = HfApi(endpoint="http://127.0.0.1:8080", token="hf_...")                        # doctest: +SKIP
>>> api.upload_file(path_or_fileobj=b"hi", path_in_repo="hi.txt", repo_id="alice/tiny")  # doctest: +SKIP
>>> api.hf_hub_download("alice/tiny", "hi.txt")                                          # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator

from snuggle.hub import constants
from snuggle.hub.client_base import HfApiBase, call_delegate, check_repo_type, validate_repo_id
from snuggle.hub.client_info import Discussion, DiscussionWithDetails, discussion_event, parse_datetime


class TransferMixin(HfApiBase):
    """create_commit, upload_file / upload_folder, delete_file / files / folder, hf_hub_download,
    snapshot_download, get_hf_file_metadata, and discussions / pull requests."""

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
            return self.run_as_future(call_delegate, commits.create_commit, self, repo_id, operations, **kwargs)
        return call_delegate(commits.create_commit, self, repo_id, operations, **kwargs)

    def preupload_lfs_files(self, repo_id: str, additions: Iterable[Any], *, token: str | bool | None = None,
                            repo_type: str | None = None, revision: str | None = None,
                            create_pr: bool | None = None, num_threads: int = 5, free_memory: bool = True,
                            gitignore_content: str | None = None) -> None:
        """Upload the LFS content of `additions` before a later create_commit."""
        from snuggle.hub import commits

        return call_delegate(commits.preupload_lfs_files, self, repo_id, additions, token=token, repo_type=repo_type,
                     revision=revision, create_pr=create_pr, num_threads=num_threads, free_memory=free_memory,
                     gitignore_content=gitignore_content)

    def _upload_call(self, name: str, run_as_future: bool = False, **kwargs: Any) -> Any:
        from snuggle.hub import upload

        fn = getattr(upload, name)
        if run_as_future:
            return self.run_as_future(call_delegate, fn, self, **kwargs)
        return call_delegate(fn, self, **kwargs)

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

        return call_delegate(download.hf_hub_download, repo_id=repo_id, filename=filename, subfolder=subfolder,
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

        return call_delegate(download.snapshot_download, repo_id=repo_id, repo_type=repo_type, revision=revision,
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

        return call_delegate(download.get_hf_file_metadata, url=url, token=self._token(token), timeout=timeout,
                     library_name=self.library_name, library_version=self.library_version,
                     user_agent=self.user_agent, endpoint=self.endpoint)

    # ---- discussions and pull requests (minimal) ----
    def create_discussion(self, repo_id: str, title: str, *, token: bool | str | None = None,
                          description: str | None = None, repo_type: str | None = None,
                          pull_request: bool = False) -> DiscussionWithDetails:
        """Open a discussion (or a pull request with pull_request=True) and return its details."""
        validate_repo_id(repo_id)
        repo_type = check_repo_type(repo_type)
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
        repo_type = check_repo_type(repo_type)
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
        repo_type = check_repo_type(repo_type)
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
