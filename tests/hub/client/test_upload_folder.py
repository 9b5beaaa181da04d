"""upload_folder / delete_files: the file selection equals huggingface_hub's (pattern function and whole
uploads side by side on the test server), no-op re-uploads, multi-part commits with create_pr, and an
interrupted upload that a re-run completes by sending only what is missing."""

from __future__ import annotations

import itertools
import secrets

import pytest

from snuggle.hub import HfApi, upload
from snuggle.hub.snapshot import filter_repo_objects
from snuggle.hub.upload import DEFAULT_IGNORE_PATTERNS

PATHS = ["README.md", "config.json", "model.safetensors", "logs/run1.txt", "logs/deep/run2.txt", "a/logs/x.txt",
         ".git/HEAD", "sub/.git/config", ".cache/huggingface/upload/x.lock", "x/.cache/huggingface/y",
         "data/train.csv", "data/sub/test.csv", "Data/UPPER.CSV", "notes.md", ".hidden", "dir.with.dots/f.txt",
         "win\\style.txt", "ckpt/step-1/weights.bin"]
PATTERNS = [None, "*.md", ["*.json", "*.md"], "logs/", "logs", "logs/*", "*/logs/*", "**/logs/**", "data/*.csv",
            "*.csv", "*.CSV", ".*", "*", "ckpt\\", "ckpt/step-*/", "[a-c]*", "?otes.md", "", "sub/"]


def test_default_ignore_patterns_are_the_references():
    from huggingface_hub.utils._paths import DEFAULT_IGNORE_PATTERNS as REF

    assert DEFAULT_IGNORE_PATTERNS == REF


def test_filter_repo_objects_matches_reference():
    from huggingface_hub.utils import filter_repo_objects as ref_filter

    for allow, ignore in itertools.product(PATTERNS, PATTERNS + [DEFAULT_IGNORE_PATTERNS]):
        ours = list(filter_repo_objects(PATHS, allow_patterns=allow, ignore_patterns=ignore))
        assert ours == list(ref_filter(PATHS, allow_patterns=allow, ignore_patterns=ignore)), (allow, ignore)
    objs = [{"p": p} for p in PATHS]
    assert list(filter_repo_objects(objs, allow_patterns="*.md", key=lambda o: o["p"])) == [{"p": "README.md"},
                                                                                             {"p": "notes.md"}]


# ---- against the server ----
@pytest.fixture(autouse=True)
def _online(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import huggingface_hub.constants as ref_constants

    monkeypatch.setattr(ref_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(ref_constants, "HF_HUB_DISABLE_XET", True)


@pytest.fixture
def api(hub_server):
    return HfApi(endpoint=hub_server.endpoint, token=hub_server.token)


@pytest.fixture
def ref(hub_server):
    import huggingface_hub

    return huggingface_hub.HfApi(endpoint=hub_server.endpoint, token=hub_server.token)


def new_repo(api) -> str:
    repo_id = f"alice/folder-{secrets.token_hex(4)}"
    api.create_repo(repo_id)
    return repo_id


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "folder"
    for path in PATHS:
        if path == "README.md" or "\\" in path:
            continue  # README: validated by the server (covered below); backslashes: refused by the Hub
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f"content of {path}\n".encode())
    return root


@pytest.mark.parametrize("kwargs", [
    {},
    {"allow_patterns": ["*.csv", "logs/"], "ignore_patterns": "*/deep/*"},
    {"ignore_patterns": ["*.txt", ".*"], "path_in_repo": "nested/dir"},
])
def test_folder_selection_matches_reference(api, ref, folder, kwargs):
    ours, theirs = new_repo(api), new_repo(api)
    api.upload_folder(repo_id=ours, folder_path=folder, **kwargs)
    ref.upload_folder(repo_id=theirs, folder_path=folder, **kwargs)
    assert api.list_repo_files(ours) == ref.list_repo_files(theirs)
    assert not any(".git/" in p or ".cache/huggingface" in p for p in api.list_repo_files(ours))
    ours_tree = {e.path: e.blob_id for e in api.list_repo_tree(ours, recursive=True) if hasattr(e, "blob_id")}
    theirs_tree = {e.path: e.blob_id for e in ref.list_repo_tree(theirs, recursive=True) if hasattr(e, "blob_id")}
    assert ours_tree == theirs_tree


def test_delete_patterns_match_reference(api, ref, folder, tmp_path):
    ours, theirs = new_repo(api), new_repo(api)
    for repo_id in (ours, theirs):
        api.upload_folder(repo_id=repo_id, folder_path=folder, path_in_repo="ckpt")
        api.upload_file(path_or_fileobj=b"top", path_in_repo="top.txt", repo_id=repo_id)
    small = tmp_path / "small"
    (small / "logs").mkdir(parents=True)
    (small / "logs" / "new.txt").write_bytes(b"new log")
    (small / "config.json").write_bytes(b"{}")
    kwargs = dict(path_in_repo="ckpt", delete_patterns=["*.txt", "data/", ".gitattributes"])
    info = api.upload_folder(repo_id=ours, folder_path=small, **kwargs)
    ref.upload_folder(repo_id=theirs, folder_path=small, **kwargs)
    files = api.list_repo_files(ours)
    assert files == ref.list_repo_files(theirs)
    # the pattern is relative to path_in_repo: top.txt stays, .gitattributes always stays, new.txt is new
    assert {"top.txt", ".gitattributes", "ckpt/logs/new.txt", "ckpt/config.json"} <= set(files)
    assert not any(p.startswith("ckpt/data/") or (p.endswith(".txt") and p.startswith("ckpt/") and
                                                  p != "ckpt/logs/new.txt") for p in files)
    assert api.list_repo_commits(ours)[0].commit_id == info.oid  # one commit for deletions and additions
    # delete_files at the top level
    api.delete_files(ours, ["ckpt/logs/", "*.json"])
    assert not any(p.startswith("ckpt/logs/") or p.endswith(".json") for p in api.list_repo_files(ours))


def test_reupload_is_noop(api, folder):
    repo_id = new_repo(api)
    first = api.upload_folder(repo_id=repo_id, folder_path=folder)
    n = len(api.list_repo_commits(repo_id))
    again = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="again")
    assert again.oid == first.oid and len(api.list_repo_commits(repo_id)) == n


def test_invalid_readme_fails_before_upload(api, folder):
    repo_id = new_repo(api)
    (folder / "README.md").write_text("---\nlicense: [mit\n---\n")
    head = api.repo_info(repo_id).sha
    with pytest.raises(ValueError, match="Invalid metadata in README.md"):
        api.upload_folder(repo_id=repo_id, folder_path=folder)
    assert api.repo_info(repo_id).sha == head


def test_large_folder_in_parts_onto_one_pr(api, folder, monkeypatch):
    monkeypatch.setattr(upload, "MAX_FILES_PER_COMMIT", 4)
    repo_id = new_repo(api)
    head = api.repo_info(repo_id).sha
    info = api.upload_folder(repo_id=repo_id, folder_path=folder, create_pr=True, commit_message="big")
    assert info.pr_revision is not None and api.repo_info(repo_id).sha == head  # main untouched
    titles = [c.title for c in api.list_repo_commits(repo_id, revision=info.pr_revision)]
    n_parts = -(-len(api.list_repo_files(repo_id, revision=info.pr_revision)[1:]) // 4)
    assert titles[:n_parts] == [f"big (part {i})" for i in range(n_parts, 1, -1)] + ["big"]
    refs = api.list_repo_refs(repo_id, include_pull_requests=True)
    assert [(r.ref, r.target_commit) for r in refs.pull_requests] == [(info.pr_revision, info.oid)]
    with pytest.raises(ValueError, match="create_pr"):
        api.upload_folder(repo_id=repo_id, folder_path=folder, create_pr=True, revision="dev")


def test_interrupted_upload_resumes(api, folder, monkeypatch):
    from snuggle.hub import commit_payload

    monkeypatch.setattr(upload, "MAX_FILES_PER_COMMIT", 5)
    repo_id = new_repo(api)
    real_send, calls = commit_payload._send_commit, []

    def dies_on_second_commit(body, **kw):
        calls.append(kw["commit_message"])
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the second part is on its way
        return real_send(body, **kw)

    monkeypatch.setattr(commit_payload, "_send_commit", dies_on_second_commit)
    with pytest.raises(KeyboardInterrupt):
        api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="up")
    committed = set(api.list_repo_files(repo_id)) - {".gitattributes"}
    assert len(committed) == 5  # the first part landed whole, nothing of the second
    monkeypatch.setattr(commit_payload, "_send_commit", real_send)
    real_prepare, sent = commit_payload._prepare_commit_body, []

    def recording_prepare(operations, *args):
        sent.append(sorted(op.path_in_repo for op in operations))
        return real_prepare(operations, *args)

    monkeypatch.setattr(commit_payload, "_prepare_commit_body", recording_prepare)
    api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="up")
    everything = set(api.list_repo_files(repo_id)) - {".gitattributes"}
    assert len(everything) == len(PATHS) - 2 - 4  # README and win\\style skipped, .git/.cache ignored
    # the re-run committed exactly the missing files, in parts of at most 5
    assert sorted(p for part in sent for p in part) == sorted(everything - committed)
    assert all(len(part) <= 5 for part in sent) and len(sent) == -(-len(everything - committed) // 5)
    titles = [c.title for c in api.list_repo_commits(repo_id)][:len(sent) + 1]
    assert titles == [f"up (part {i})" for i in range(len(sent), 1, -1)] + ["up", "up"]
