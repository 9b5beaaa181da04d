"""The `hf://` path grammar of HfFileSystem: `[datasets/|spaces/]<namespace>/<name>[@<revision>]/<path>`.

The revision after '@' ends at the next '/', so a branch with '/' is written URL-encoded (`@feature%2Fx`);
the special refs `refs/pr/N` and `refs/convert/<name>` may also be written as they are. An '@' after
`namespace/name/` belongs to a file name.

>>> parse_hf_path("datasets/alice/x@refs/pr/1/data/a.csv")
('dataset', 'alice/x', 'refs/pr/1', 'data/a.csv', 'refs/pr/1')
>>> HfFileSystemResolvedPath("model", "alice/m", "feature/x", "w.bin").unresolve()
'alice/m@feature%2Fx/w.bin'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NoReturn
from urllib.parse import quote, unquote

from snuggle.hub.errors import HFValidationError, RepositoryNotFoundError, RevisionNotFoundError

DEFAULT_REVISION = "main"
_TYPE_PREFIXES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIXES = {"dataset": "datasets/", "space": "spaces/"}
# refs/pr/N and refs/convert/<name> contain '/' yet may be written unencoded after '@'
_SPECIAL_REFS = re.compile(r"^refs/(?:convert/[\w.-]+|pr/\d+)")


@dataclass
class HfFileSystemResolvedPath:
    """A parsed `hf://` path: which repo, at which revision, which path inside it.

    >>> p = HfFileSystemResolvedPath("dataset", "alice/x", "refs/pr/1", "data/a.csv")
    >>> p.unresolve()
    'datasets/alice/x@refs/pr/1/data/a.csv'
    """

    repo_type: str
    repo_id: str
    revision: str
    path_in_repo: str
    # the text written after '@' (quoted or not), so unresolve() gives back the user's spelling
    _raw_revision: str | None = field(default=None, repr=False)

    @property
    def root(self) -> str:
        repo_path = _URL_PREFIXES.get(self.repo_type, "") + self.repo_id
        if self._raw_revision:
            return f"{repo_path}@{self._raw_revision}"
        if self.revision != DEFAULT_REVISION:
            return f"{repo_path}@{safe_revision(self.revision)}"
        return repo_path

    @property
    def path(self) -> str:
        return self.path_in_repo

    def unresolve(self) -> str:
        return f"{self.root}/{self.path_in_repo}".rstrip("/")


# huggingface_hub >= 1.x names the repository flavour separately (its base class also covers buckets)
HfFileSystemResolvedRepositoryPath = HfFileSystemResolvedPath


def safe_revision(revision: str) -> str:
    """A revision as one path segment: special refs as they are, anything else URL-encoded."""
    return revision if _SPECIAL_REFS.search(revision) else quote(revision, safe="")


def parse_hf_path(path: str) -> tuple[str, str, str | None, str, str | None]:
    """(repo_type, repo_id, revision or None, path_in_repo, raw revision text) of a path without `hf://`.

    >>> parse_hf_path("datasets/alice/x@refs%2Fpr%2F1/a/b.csv")
    ('dataset', 'alice/x', 'refs/pr/1', 'a/b.csv', 'refs%2Fpr%2F1')
    >>> parse_hf_path("alice/m/file@2.txt")
    ('model', 'alice/m', None, 'file@2.txt', None)
    """
    location = path.strip("/")
    first, _, rest = location.partition("/")
    if first == "buckets":
        raise NotImplementedError(f"{path!r}: buckets are not supported by snuggle.hub; use a model/dataset repo")
    if first in _TYPE_PREFIXES:
        repo_type, location = _TYPE_PREFIXES[first], rest
    elif first in ("model", "dataset", "space") and rest:
        raise ValueError(f"{path!r}: the repo type prefix is plural; did you mean '{first}s/'?")
    else:
        repo_type = "model"
    at = location.find("@")
    if at == -1 or location[:at].count("/") > 1:  # an '@' past 'namespace/name' belongs to a file name
        parts = location.split("/", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise ValueError(f"Repository id must be 'namespace/name', got {location!r} (path {path!r}).")
        return repo_type, f"{parts[0]}/{parts[1]}", None, parts[2] if len(parts) > 2 else "", None
    repo_id, rev_and_path = location[:at], location[at + 1:]
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"Repository id must be 'namespace/name', got {repo_id!r} (path {path!r}).")
    special = _SPECIAL_REFS.search(rev_and_path)
    if special is not None:
        raw = special.group()
        path_in_repo = rev_and_path[len(raw):].removeprefix("/")
    else:
        raw, _, path_in_repo = rev_and_path.partition("/")
    if not raw:
        raise ValueError(f"{path!r}: empty revision after '@'")
    return repo_type, repo_id, unquote(raw), path_in_repo, raw


def _raise_file_not_found(path: str, err: Exception | None) -> NoReturn:
    message = path
    if isinstance(err, RepositoryNotFoundError):
        message = (f"{path} (repository not found). If the repo is private, make sure you are authenticated "
                   "and your token has the required permissions.")
    elif isinstance(err, RevisionNotFoundError):
        message = f"{path} (revision not found)"
    elif isinstance(err, HFValidationError):
        message = f"{path} (invalid repository id)"
    raise FileNotFoundError(message) from err
