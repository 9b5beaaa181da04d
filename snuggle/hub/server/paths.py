"""Validation of the strings users put into the Hub: file paths, repo ids, branch and tag names.

Everything here raises BadRequest (400) before storage is touched (spec §12, §1.2, §6).

>>> validate_repo_path("models/config.json")
'models/config.json'
>>> validate_repo_path("../etc/passwd")
Traceback (most recent call last):
...
snuggle.hub.server.errors.BadRequest: Invalid path '../etc/passwd': '..' segments are not allowed
"""

from __future__ import annotations

import re

from snuggle.hub.server.errors import BadRequest

MAX_PATH_BYTES = 1024
_REPO_PART = re.compile(r"^[A-Za-z0-9._-]{1,96}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_PR_REF = re.compile(r"^refs/pr/([1-9][0-9]*)$")
_REF_FORBIDDEN = set(" ~^:?*[\\")


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def validate_repo_path(path: str, *, what: str = "path") -> str:
    """Return `path` unchanged if it is a valid file/folder path inside a repo, else raise BadRequest.

    Rules: non-empty UTF-8, ≤ 1024 bytes, no control characters, no leading '/', no backslash, no empty,
    '.', '..' or '.git' segment. Byte-exact: no normalisation, case kept.
    """
    if not isinstance(path, str) or path == "":
        raise BadRequest(f"Invalid {what}: it must be a non-empty string")
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadRequest(f"Invalid {what} {path!r}: not valid UTF-8") from None
    if size > MAX_PATH_BYTES:
        raise BadRequest(f"Invalid {what}: {size} bytes long, the limit is {MAX_PATH_BYTES}")
    if _has_control(path):
        raise BadRequest(f"Invalid {what} {path!r}: control characters (NUL, newline, ...) are not allowed")
    if path.startswith("/"):
        raise BadRequest(f"Invalid {what} {path!r}: absolute paths are not allowed")
    if "\\" in path:
        raise BadRequest(f"Invalid {what} {path!r}: backslashes are not allowed")
    for segment in path.split("/"):
        if segment == "":
            raise BadRequest(f"Invalid {what} {path!r}: empty path segment")
        if segment in (".", ".."):
            raise BadRequest(f"Invalid {what} {path!r}: {segment!r} segments are not allowed")
        if segment == ".git":
            raise BadRequest(f"Invalid {what} {path!r}: '.git' segments are not allowed")
    return path


def validate_folder_path(path: str) -> str:
    """A folder path as sent by deletedFolder / tree lookups: a trailing '/' is dropped, "" is the root."""
    stripped = path[:-1] if path.endswith("/") else path
    if stripped == "":
        return ""
    return validate_repo_path(stripped, what="folder path")


def check_repo_part(part: str, *, what: str) -> str:
    if not isinstance(part, str) or not _REPO_PART.match(part):
        raise BadRequest(f"Invalid {what} {part!r}: use 1-96 characters of A-Z a-z 0-9 . _ -")
    if part[0] in "-." or part[-1] in "-.":
        raise BadRequest(f"Invalid {what} {part!r}: it must not start or end with '-' or '.'")
    if "--" in part or ".." in part:
        raise BadRequest(f"Invalid {what} {part!r}: '--' and '..' are not allowed")
    return part


def split_repo_id(repo_id: str) -> tuple[str, str]:
    """("ns", "name") of a valid "ns/name" repo id (spec §1.2), else BadRequest.

    >>> split_repo_id("alice/my-model")
    ('alice', 'my-model')
    """
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise BadRequest(f"Invalid repo id {repo_id!r}: expected 'namespace/name'")
    namespace, name = repo_id.split("/")
    check_repo_part(namespace, what="namespace")
    check_repo_part(name, what="repo name")
    if name.endswith(".git"):
        raise BadRequest(f"Invalid repo name {name!r}: it must not end with '.git'")
    return namespace, name


def validate_ref_name(name: str, *, what: str = "branch name") -> str:
    """Return `name` if it is a valid branch/tag name by git's ref rules (spec §6), else BadRequest.

    >>> validate_ref_name("feat/x")
    'feat/x'
    """
    bad = None
    if not isinstance(name, str) or not name:
        bad = "it is empty"
    elif len(name.encode("utf-8", "surrogatepass")) > 255:
        bad = "it is longer than 255 bytes"
    elif name.startswith("refs/") or name == "refs":
        bad = "it must not start with 'refs/'"
    elif _has_control(name) or any(c in _REF_FORBIDDEN for c in name):
        bad = "spaces, control characters and ~^:?*[\\ are not allowed"
    elif ".." in name or "@{" in name or name == "@":
        bad = "'..', '@{' and '@' are not allowed"
    elif name.startswith("/") or name.endswith("/") or "//" in name:
        bad = "it must not start or end with '/' or contain '//'"
    elif name.endswith(".") or name.endswith(".lock"):
        bad = "it must not end with '.' or '.lock'"
    elif any(part.startswith(".") or part.endswith(".lock") for part in name.split("/")):
        bad = "no component may start with '.' or end with '.lock'"
    elif name.startswith("-"):
        bad = "it must not start with '-'"
    if bad:
        raise BadRequest(f"Invalid {what} {name!r}: {bad}")
    return name


def is_commit_id(rev: str) -> bool:
    return bool(_HEX40.match(rev))


def pr_number(ref: str) -> int | None:
    """N of "refs/pr/N", else None."""
    m = _PR_REF.match(ref)
    return int(m.group(1)) if m else None
