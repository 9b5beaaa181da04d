"""Git ids of the Hub server against real git: blob/pointer oids, tree ids, commit ids (spec §1.2)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from snuggle.hub.server.backend import HubBackend
from snuggle.hub.server.config import ServerConfig
from snuggle.hub.server.gitobjects import git_blob_oid, git_tree_oid, lfs_pointer, lfs_pointer_oid
from snuggle.hub.server.records import AddFile

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd, *args, input=None, env=None):
    full_env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd), **(env or {})}
    return subprocess.run(["git", *args], cwd=cwd, input=input, env=full_env, check=True,
                          capture_output=True).stdout.decode().strip()


@pytest.mark.parametrize("data", [b"", b"hello\n", bytes(range(256)) * 300, "ünïcode\r\n".encode()])
def test_blob_oid_matches_git_hash_object(tmp_path, data):
    assert git_blob_oid(data) == git(tmp_path, "hash-object", "--stdin", input=data)
    chunks = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    assert git_blob_oid((len(data), iter(chunks))) == git_blob_oid(data)


def test_lfs_pointer_text_and_oid(tmp_path):
    sha = "a" * 64
    pointer = lfs_pointer(sha, 1234)
    assert pointer == b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 1234\n"
    assert lfs_pointer_oid(sha, 1234) == (git(tmp_path, "hash-object", "--stdin", input=pointer), len(pointer))


def test_empty_tree():
    assert git_tree_oid([]) == "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def test_commit_and_tree_ids_match_a_real_git_repository(tmp_path):
    """Build the same content with the backend and with git: tree and commit ids must be equal."""
    backend = HubBackend(ServerConfig(data_dir=tmp_path / "hub"))
    backend.add_user("alice")
    alice = backend.authenticate(backend.create_token("alice"))
    repo = backend.create_repo(alice, "model", "alice/gitcheck")
    initial, _ = backend.resolve_revision(repo, "main")

    big = os.urandom(3000)
    files = {"a-b": b"dash", "a.txt": b"dot", "a/b/c.txt": b"nested\n", "a0": b"zero", "dir with space/ü.txt": b"u"}
    ops = []
    for path, data in files.items():
        sha, size = backend.store_blob([data], expected_size=len(data))
        ops.append(AddFile(path, sha, size))
    big_sha, big_size = backend.store_blob([big])
    backend.record_lfs_upload(alice, repo, big_sha, big_size)
    ops.append(AddFile("weights/model.bin", big_sha, big_size, lfs=True))
    commit, _ = backend.commit(alice, repo, "main", ops, summary="add files", description="several\nlines")

    work = tmp_path / "git"
    work.mkdir()
    git(work, "init", "-q")
    attrs = backend.blob_path(backend.get_entry(repo, initial.oid, ".gitattributes").sha256).read_bytes()
    (work / ".gitattributes").write_bytes(attrs)
    git(work, "add", ".gitattributes")
    tree0 = git(work, "write-tree")
    assert tree0 == initial.tree

    def commit_tree(tree, parent, name, when, *messages):
        stamp = f"@{int(when.timestamp())} +0000"
        env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": f"{name}@hub" if name == "system" else f"{name}@users.noreply.hub",
               "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_DATE": stamp,
               "GIT_COMMITTER_EMAIL": f"{name}@hub" if name == "system" else f"{name}@users.noreply.hub"}
        args = ["commit-tree", tree] + (["-p", parent] if parent else [])
        for m in messages:
            args += ["-m", m]
        return git(work, *args, env=env)

    assert commit_tree(tree0, None, "system", initial.created_at, "initial commit") == initial.oid

    for path, data in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(data)
    (work / "weights").mkdir()
    (work / "weights/model.bin").write_bytes(lfs_pointer(big_sha, big_size))  # git stores the pointer
    git(work, "add", "-A")
    tree1 = git(work, "write-tree")
    assert tree1 == commit.tree
    assert commit_tree(tree1, initial.oid, "alice", commit.created_at, "add files", "several\nlines") == commit.oid
    # folder oids are the git tree ids of the sub-folders
    assert backend.get_entry(repo, commit.oid, "a/b").oid == git(work, "rev-parse", f"{tree1}:a/b")
    assert backend.get_entry(repo, commit.oid, "weights/model.bin").oid == git(work, "rev-parse", f"{tree1}:weights/model.bin")
    backend.close()
