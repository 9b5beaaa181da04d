"""Git object ids: blobs, LFS pointers, trees and commits, byte-exact with `git hash-object`.

Commit ids of the Hub are real git commit ids and folder oids real git tree ids, so a future
`git clone` endpoint could serve the same objects.

>>> git_blob_oid(b"hello\\n")
'ce013625030ba8dba906f756967f9e9ca394464a'
>>> lfs_pointer("0" * 64, 5).decode()
'version https://git-lfs.github.com/spec/v1\\noid sha256:0000000000000000000000000000000000000000000000000000000000000000\\nsize 5\\n'
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Iterable

TREE_MODE = b"40000"
FILE_MODE = b"100644"


def git_blob_oid(data: bytes | tuple[int, Iterable[bytes]]) -> str:
    """sha1("blob <len>\\0" + content) as 40 lowercase hex; `data` is bytes or (size, chunks)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        size, chunks = len(data), (bytes(data),)
    else:
        size, chunks = data
    h = hashlib.sha1(b"blob %d\0" % size)
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        h.update(chunk)
    if seen != size:
        raise ValueError(f"git_blob_oid: declared size {size} but the chunks hold {seen} bytes")
    return h.hexdigest()


def git_blob_oid_of_file(path, size: int | None = None, chunk_size: int = 1 << 20) -> str:
    """git blob oid of a file on disk, read in chunks."""
    import os

    size = os.path.getsize(path) if size is None else size

    def chunks():
        with open(path, "rb") as f:
            while block := f.read(chunk_size):
                yield block

    return git_blob_oid((size, chunks()))


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file text for an object (spec §1.2); its length is `pointerSize`."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def lfs_pointer_oid(sha256: str, size: int) -> tuple[str, int]:
    """(git oid, pointerSize) of the LFS pointer of an object."""
    pointer = lfs_pointer(sha256, size)
    return git_blob_oid(pointer), len(pointer)


def _tree_sort_key(item: tuple[str, bool, str]) -> bytes:
    # git orders tree entries by name bytes, comparing a folder as if its name ended with '/'
    name, is_tree, _ = item
    raw = name.encode("utf-8")
    return raw + b"/" if is_tree else raw


def git_tree_bytes(entries: Iterable[tuple[str, bool, str]]) -> bytes:
    """The body of a git tree object from (name, is_tree, hex oid) entries (any order)."""
    parts = []
    for name, is_tree, oid in sorted(entries, key=_tree_sort_key):
        parts.append((TREE_MODE if is_tree else FILE_MODE) + b" " + name.encode("utf-8") + b"\0" + bytes.fromhex(oid))
    return b"".join(parts)


def git_object_oid(kind: str, body: bytes) -> str:
    """sha1 of "<kind> <len>\\0<body>" (kind: blob, tree, commit)."""
    return hashlib.sha1(b"%s %d\0" % (kind.encode(), len(body)) + body).hexdigest()


def git_tree_oid(entries: Iterable[tuple[str, bool, str]]) -> str:
    """Git tree id of (name, is_tree, oid) entries. The empty tree is 4b825dc6..."""
    return git_object_oid("tree", git_tree_bytes(entries))


def git_commit_bytes(tree: str, parents: Iterable[str], author: str, email: str, when: datetime, message: str) -> bytes:
    """Body of a git commit object (author = committer, UTC, whole seconds)."""
    stamp = int(when.replace(tzinfo=when.tzinfo or timezone.utc).timestamp())
    ident = f"{author} <{email}> {stamp} +0000"
    lines = [f"tree {tree}"] + [f"parent {p}" for p in parents] + [f"author {ident}", f"committer {ident}"]
    if not message.endswith("\n"):
        message += "\n"
    return ("\n".join(lines) + "\n\n" + message).encode("utf-8")


def git_commit_oid(tree: str, parents: Iterable[str], author: str, email: str, when: datetime, message: str) -> str:
    return git_object_oid("commit", git_commit_bytes(tree, parents, author, email, when, message))


def commit_message(title: str, description: str = "") -> str:
    """The git message of a Hub commit: title, blank line, description (when any)."""
    return f"{title}\n\n{description}" if description else title
