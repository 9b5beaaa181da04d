"""Plain frozen records the backend hands to the HTTP layer and the web pages (never ORM objects).

>>> op = AddFile("config.json", sha256="ab" * 32, size=2, lfs=False)
>>> op.path
'config.json'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the user, the token's role ("read"|"write"), the user's orgs."""

    user: str
    role: str
    orgs: frozenset = frozenset()
    token_name: str = ""

    def namespaces(self) -> frozenset:
        """Namespaces whose private repos this caller may read: the user's own and its orgs'."""
        return self.orgs | {self.user}


@dataclass(frozen=True)
class RepoRecord:
    """One repository. `gated` is False or "auto"/"manual"; `tags` are the card-derived tags of main."""

    id: int
    repo_type: str
    namespace: str
    name: str
    private: bool
    gated: bool | str
    created_at: datetime
    last_modified: datetime
    author: str
    tags: tuple = ()

    @property
    def repo_id(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class CommitRecord:
    """A commit: 40-hex git commit id, parents (first parent first), author user name, title, message."""

    oid: str
    parents: tuple
    author: str
    title: str
    message: str
    created_at: datetime
    tree: str = ""


@dataclass(frozen=True)
class Entry:
    """A file or folder of a tree. Files: `oid` is the git blob id (of the pointer for LFS files),
    `size` the content size, `sha256` the blob-store key; `lfs` = {"oid", "size", "pointerSize"} for
    LFS files. Folders: `oid` is the git tree id, size 0."""

    path: str
    type: str
    size: int
    oid: str
    lfs: dict | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class RefRecord:
    name: str
    ref: str
    target_commit: str


@dataclass(frozen=True)
class Discussion:
    num: int
    title: str
    status: str
    is_pull_request: bool
    author: str
    created_at: datetime
    reference: str | None = None
    description: str = ""


# ---- commit operations (applied in order to the tree of the head of the target ref) -------------------


@dataclass(frozen=True)
class AddFile:
    """Add or replace `path` with stored blob `sha256`. `lfs` marks an LFS file (needs §12 usability);
    `size` None (LFS copy inside a repo) takes the stored object's size."""

    path: str
    sha256: str
    size: int | None
    lfs: bool = False


@dataclass(frozen=True)
class DeleteFile:
    path: str


@dataclass(frozen=True)
class DeleteFolder:
    path: str


@dataclass(frozen=True)
class CopyFile:
    """Copy `src_path` (at `src_revision` of the same repo, default: the head being committed onto)."""

    src_path: str
    path: str
    src_revision: str | None = None


Op = AddFile | DeleteFile | DeleteFolder | CopyFile

__all__ = [
    "Principal", "RepoRecord", "CommitRecord", "Entry", "RefRecord", "Discussion",
    "AddFile", "DeleteFile", "DeleteFolder", "CopyFile", "Op",
]
