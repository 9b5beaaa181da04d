"""upload_file, upload_folder, delete_file, delete_files, delete_folder: the everyday commits, built on
create_commit (commits.py). Each takes the HfApi first; HfApi's methods of the same names call these.

Folder uploads select files with the reference's pattern rules (snapshot.filter_repo_objects): fnmatch-style,
case-sensitive, '*' crosses '/', a pattern ending in '/' means everything under that folder, and
`.git/` and `.cache/huggingface/` are never uploaded. A large folder goes up in several commits
(`<message>`, `<message> (part 2)`, ...) so that an interrupted upload keeps what was committed;
running the same call again sends only what is missing (unchanged files are dropped at preupload,
stored LFS objects are not sent again).

>>> from snuggle.hub import HfApi                                          # doctest: +SKIP
>>> api = HfApi(endpoint="http://127.0.0.1:8080", token="hf_...")             # doctest: +SKIP
>>> upload_folder(api, repo_id="alice/tiny", folder_path="out", ignore_patterns=["*.log", "tmp/"])  # doctest: +SKIP
CommitInfo(commit_url='http://127.0.0.1:8080/alice/tiny/commit/...', ...)
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import BinaryIO

from snuggle.hub import constants
from snuggle.hub.client_base import check_repo_type, validate_repo_id
from snuggle.hub.commits import (
    CommitInfo,
    CommitOperationAdd,
    CommitOperationDelete,
    _create_commit,
    _fetch_upload_modes,
    _is_no_op,
    _run_in_background,
    connection,
    create_commit,
    validate_yaml,
)
from snuggle.hub.errors import HFValidationError
from snuggle.hub.snapshot import filter_repo_objects  # the same pattern rules for downloads and uploads
from snuggle.utils.logging import get_logger

logger = get_logger(__name__)

DEFAULT_IGNORE_PATTERNS = [
    ".git",
    ".git/*",
    "*/.git",
    "**/.git/**",
    ".cache/huggingface",
    ".cache/huggingface/*",
    "*/.cache/huggingface",
    "**/.cache/huggingface/**",
]
# One commit of upload_folder holds at most this many files and this many bytes of inline content
# (the reference's starting batch size and budget); larger folders are committed in parts.
MAX_FILES_PER_COMMIT = 250
MAX_REGULAR_BYTES_PER_COMMIT = 100 * 1024 * 1024


# ---- single files -------------------------------------------------------------------------------
def upload_file(api, *, path_or_fileobj: str | Path | bytes | BinaryIO, path_in_repo: str, repo_id: str, token=None,
                repo_type: str | None = None, revision: str | None = None, commit_message: str | None = None,
                commit_description: str | None = None, create_pr: bool | None = None,
                parent_commit: str | None = None, run_as_future: bool = False) -> CommitInfo | Future:
    """Upload one file (path, bytes or binary file object) to `path_in_repo`.

    >>> upload_file(api, path_or_fileobj=b"hi", path_in_repo="hi.txt", repo_id="alice/tiny")  # doctest: +SKIP
    """
    check_repo_type(repo_type)
    operation = CommitOperationAdd(path_in_repo=path_in_repo, path_or_fileobj=path_or_fileobj)
    message = commit_message if commit_message is not None else f"Upload {path_in_repo} with snuggle"
    return create_commit(api, repo_id, [operation], commit_message=message, commit_description=commit_description,
                         token=token, repo_type=repo_type, revision=revision, create_pr=create_pr,
                         parent_commit=parent_commit, run_as_future=run_as_future)


def delete_file(api, path_in_repo: str, repo_id: str, *, token=None, repo_type: str | None = None,
                revision: str | None = None, commit_message: str | None = None,
                commit_description: str | None = None, create_pr: bool | None = None,
                parent_commit: str | None = None) -> CommitInfo:
    """Delete one file (a missing file raises RemoteEntryNotFoundError; nothing is committed).

    >>> delete_file(api, "hi.txt", "alice/tiny")  # doctest: +SKIP
    """
    message = commit_message if commit_message is not None else f"Delete {path_in_repo} with snuggle"
    return create_commit(api, repo_id, [CommitOperationDelete(path_in_repo=path_in_repo)], commit_message=message,
                         commit_description=commit_description, token=token, repo_type=repo_type,
                         revision=revision, create_pr=create_pr, parent_commit=parent_commit)


def delete_folder(api, path_in_repo: str, repo_id: str, *, token=None, repo_type: str | None = None,
                  revision: str | None = None, commit_message: str | None = None,
                  commit_description: str | None = None, create_pr: bool | None = None,
                  parent_commit: str | None = None) -> CommitInfo:
    """Delete a folder and everything below it.

    >>> delete_folder(api, "logs", "alice/tiny")  # doctest: +SKIP
    """
    message = commit_message if commit_message is not None else f"Delete folder {path_in_repo} with snuggle"
    return create_commit(api, repo_id, [CommitOperationDelete(path_in_repo=path_in_repo, is_folder=True)],
                         commit_message=message, commit_description=commit_description, token=token,
                         repo_type=repo_type, revision=revision, create_pr=create_pr, parent_commit=parent_commit)


def delete_files(api, repo_id: str, delete_patterns: list[str], *, token=None, repo_type: str | None = None,
                 revision: str | None = None, commit_message: str | None = None,
                 commit_description: str | None = None, create_pr: bool | None = None,
                 parent_commit: str | None = None) -> CommitInfo:
    """Delete every file matching one of `delete_patterns` (paths, 'folder/' or wildcards) in one commit;
    `.gitattributes` is always kept.

    >>> delete_files(api, "alice/tiny", ["*.log", "tmp/"])  # doctest: +SKIP
    """
    operations = _prepare_folder_deletions(api, repo_id, repo_type=repo_type, revision=revision, token=token,
                                           path_in_repo="", delete_patterns=delete_patterns)
    message = commit_message if commit_message is not None else f"Delete files {' '.join(delete_patterns)} with snuggle"
    return create_commit(api, repo_id, operations, commit_message=message, commit_description=commit_description,
                         token=token, repo_type=repo_type, revision=revision, create_pr=create_pr,
                         parent_commit=parent_commit)


# ---- folders ------------------------------------------------------------------------------------
def _prepare_folder_deletions(api, repo_id: str, *, repo_type, revision, token, path_in_repo: str,
                              delete_patterns) -> list[CommitOperationDelete]:
    """Delete operations for the remote files under `path_in_repo` matching `delete_patterns`."""
    if delete_patterns is None:
        return []
    filenames = api.list_repo_files(repo_id=repo_id, revision=revision, repo_type=repo_type, token=token)
    if path_in_repo and path_in_repo not in (".", "./"):
        prefix = path_in_repo.strip("/") + "/"
        relpath_to_path = {f[len(prefix):]: f for f in filenames if f.startswith(prefix)}
    else:
        relpath_to_path = {f: f for f in filenames}
    return [CommitOperationDelete(path_in_repo=relpath_to_path[rel], is_folder=False)
            for rel in filter_repo_objects(relpath_to_path, allow_patterns=delete_patterns)
            if relpath_to_path[rel] != ".gitattributes"]


def _prepare_upload_folder_additions(api, folder_path, path_in_repo: str, *, allow_patterns, ignore_patterns,
                                     repo_type, token) -> list[CommitOperationAdd]:
    folder = Path(folder_path).expanduser().resolve()
    if not folder.is_dir():
        raise HFValidationError(f"Provided path: '{folder}' is not a directory (argument `folder_path`).")
    relpath_to_abspath = {p.relative_to(folder).as_posix(): p for p in sorted(folder.glob("**/*")) if p.is_file()}
    selected = list(filter_repo_objects(relpath_to_abspath, allow_patterns=allow_patterns,
                                        ignore_patterns=ignore_patterns))
    prefix = f"{path_in_repo.strip('/')}/" if path_in_repo else ""
    # checked before any file is hashed or sent: a bad card fails the whole upload early
    if "README.md" in selected:
        validate_yaml(api, relpath_to_abspath["README.md"].read_text(encoding="utf8"), repo_type=repo_type,
                      token=token)
    return [CommitOperationAdd(path_or_fileobj=relpath_to_abspath[rel], path_in_repo=prefix + rel)
            for rel in selected]


def _split_into_commits(additions: list[CommitOperationAdd]) -> list[list[CommitOperationAdd]]:
    parts: list[list[CommitOperationAdd]] = [[]]
    inline_bytes = 0
    for op in additions:
        size = op.upload_info.size if op._upload_mode == "regular" else 0
        if parts[-1] and (len(parts[-1]) >= MAX_FILES_PER_COMMIT
                          or inline_bytes + size > MAX_REGULAR_BYTES_PER_COMMIT):
            parts.append([])
            inline_bytes = 0
        parts[-1].append(op)
        inline_bytes += size
    return parts


def upload_folder(api, *, repo_id: str, folder_path: str | Path, path_in_repo: str | None = None,
                  commit_message: str | None = None, commit_description: str | None = None, token=None,
                  repo_type: str | None = None, revision: str | None = None, create_pr: bool | None = None,
                  parent_commit: str | None = None, allow_patterns: list[str] | str | None = None,
                  ignore_patterns: list[str] | str | None = None, delete_patterns: list[str] | str | None = None,
                  run_as_future: bool = False) -> CommitInfo | Future:
    """Upload the files of a local folder (filtered by patterns) under `path_in_repo`; optionally delete
    remote files matching `delete_patterns` (relative to `path_in_repo`) in the same first commit.

    >>> upload_folder(api, repo_id="alice/tiny", folder_path="ckpt", path_in_repo="ckpt",
    ...               delete_patterns="*.bin")                                            # doctest: +SKIP
    """
    if run_as_future:
        return _run_in_background(api, upload_folder, repo_id=repo_id, folder_path=folder_path,
                                  path_in_repo=path_in_repo, commit_message=commit_message,
                                  commit_description=commit_description, token=token, repo_type=repo_type,
                                  revision=revision, create_pr=create_pr, parent_commit=parent_commit,
                                  allow_patterns=allow_patterns, ignore_patterns=ignore_patterns,
                                  delete_patterns=delete_patterns)
    validate_repo_id(repo_id)
    repo_type = check_repo_type(repo_type)
    if create_pr and revision is not None and revision != constants.DEFAULT_REVISION:
        raise HFValidationError(
            f"Cannot use `create_pr=True` with `revision='{revision}'`: pull requests created by `upload_folder` "
            "are always opened against the default branch. Don't set `revision` when `create_pr=True`.")
    path_in_repo = path_in_repo or ""
    ignore = [ignore_patterns] if isinstance(ignore_patterns, str) else list(ignore_patterns or [])
    ignore += DEFAULT_IGNORE_PATTERNS

    deletions = _prepare_folder_deletions(api, repo_id, repo_type=repo_type,
                                          revision=constants.DEFAULT_REVISION if create_pr else revision,
                                          token=token, path_in_repo=path_in_repo, delete_patterns=delete_patterns)
    additions = _prepare_upload_folder_additions(api, folder_path, path_in_repo, allow_patterns=allow_patterns,
                                                 ignore_patterns=ignore, repo_type=repo_type, token=token)
    added = {op.path_in_repo for op in additions}
    deletions = [op for op in deletions if op.path_in_repo not in added]  # overwritten anyway
    commit_message = commit_message or "Upload folder using snuggle"
    common = dict(commit_description=commit_description, token=token, repo_type=repo_type, num_threads=5,
                  check_readme=False)

    if len(additions) <= MAX_FILES_PER_COMMIT and sum(op.upload_info.size for op in additions) \
            <= MAX_REGULAR_BYTES_PER_COMMIT:
        return _create_commit(api, repo_id, [*deletions, *additions], commit_message=commit_message,
                              revision=revision, create_pr=create_pr, parent_commit=parent_commit, **common)

    # Large folder: learn upload modes and remote oids first, drop unchanged files, then commit in parts.
    hub = connection(api, token)
    _fetch_upload_modes(additions, hub=hub, repo_type=repo_type, repo_id=repo_id,
                        revision=revision or constants.DEFAULT_REVISION, create_pr=bool(create_pr),
                        gitignore_content=_gitignore_of(additions))
    remaining = [op for op in additions if not _is_no_op(op, set())]
    if len(remaining) < len(additions):
        logger.info(f"{len(additions) - len(remaining)} file(s) are already up to date on the Hub; not sent again.")
    parts = _split_into_commits(remaining)
    info: CommitInfo | None = None
    pr_url = pr_revision = None
    for number, part in enumerate(parts, start=1):
        first = number == 1
        operations = [*deletions, *part] if first else part
        if not operations:
            continue
        message = commit_message if first else f"{commit_message} (part {number})"
        try:
            info = _create_commit(api, repo_id, operations, commit_message=message, revision=pr_revision or revision,
                                  create_pr=bool(create_pr) and first,
                                  parent_commit=parent_commit if first else None, **common)
        except BaseException:
            if number > 1:  # say how to finish; every committed part is complete and stays
                again = (f'with `revision="{pr_revision}"` (without `create_pr=True`) to finish pull request '
                         f"{pr_url}" if pr_revision else "to upload the rest")
                logger.warning(f"upload_folder stopped after {number - 1} of {len(parts)} commits; run it again "
                               f"{again}: files already on the Hub are not sent twice.")
            raise
        if first and create_pr:  # the next parts go onto the pull request's ref
            pr_url, pr_revision = info.pr_url, info.pr_revision
        logger.info(f"Committed part {number}/{len(parts)} ({len(part)} file(s)): {info.commit_url}")
    if info is None:
        return _create_commit(api, repo_id, list(additions), commit_message=commit_message, revision=revision,
                              create_pr=create_pr, parent_commit=parent_commit, **common)
    if pr_url is not None and info.pr_url is None:
        info = CommitInfo(commit_url=info.commit_url, commit_message=info.commit_message,
                          commit_description=info.commit_description, oid=info.oid, pr_url=pr_url,
                          _endpoint=hub.endpoint)
    return info


def _gitignore_of(additions: list[CommitOperationAdd]) -> str | None:
    for op in additions:
        if op.path_in_repo == ".gitignore":
            with op.as_file() as f:
                return f.read().decode()
    return None
