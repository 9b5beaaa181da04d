"""HfApi parity against our server: the same calls through snuggle.hub.HfApi and huggingface_hub.HfApi
(both with endpoint=...) give the same dataclass fields, lists and exception classes."""

from __future__ import annotations

import dataclasses
import secrets

import pytest

from snuggle.hub import HfApi
from snuggle.hub import errors as our_errors

huggingface_hub = pytest.importorskip("huggingface_hub")
from huggingface_hub import CommitOperationAdd as RefAdd  # noqa: E402

README = "---\nlicense: mit\ntags:\n- tiny\n- h3test\nlibrary_name: snuggle\n---\n# Tiny\n"


@pytest.fixture(autouse=True)
def _online(monkeypatch):
    # the suite exports HF_HUB_OFFLINE=1; these tests talk to a loopback server only. The reference read the
    # variable at import, so its constant is patched too.
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.fixture(scope="module")
def env(hub_server):
    """(ours, ref, ours_bob, ref_bob, names) with one model repo holding files, refs and history."""
    ours = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    ref = huggingface_hub.HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    ours_bob = HfApi(endpoint=hub_server.endpoint, token=hub_server.token_b)
    ref_bob = huggingface_hub.HfApi(endpoint=hub_server.endpoint, token=hub_server.token_b)
    tag = secrets.token_hex(3)
    names = {"model": f"alice/h3-{tag}-model", "dataset": f"alice/h3-{tag}-data", "private": f"alice/h3-{tag}-priv",
             "tag": tag}
    mp = pytest.MonkeyPatch()  # module scope: the function-scoped `_online` is not active yet
    mp.delenv("HF_HUB_OFFLINE", raising=False)
    mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    try:
        ours.create_repo(names["model"])
        ours.create_repo(names["dataset"], repo_type="dataset")
        ours.create_repo(names["private"], private=True)
        ref.create_commit(names["model"], [
            RefAdd("README.md", README.encode()), RefAdd("a.txt", b"hello"), RefAdd("sub dir/b.txt", b"bee" * 10),
            RefAdd("sub dir/deep/c.json", b'{"c": 1}')], commit_message="add files")
        ref.create_commit(names["model"], [RefAdd("a.txt", b"hello again")], commit_message="second",
                          commit_description="body")
        ref.create_commit(names["dataset"], [RefAdd("data/train.csv", b"x,y\n1,2\n")], commit_message="data",
                          repo_type="dataset")
        yield ours, ref, ours_bob, ref_bob, names
    finally:
        for key in ("model", "dataset", "private"):
            ours.delete_repo(names[key], repo_type="dataset" if key == "dataset" else None, missing_ok=True)
        mp.undo()


def _norm(value):
    """Comparable form of the reference's and our dataclasses / dict records."""
    if hasattr(value, "to_dict") and not isinstance(value, dict):
        return _norm(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _norm(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    return value


def _fields(ref_obj, our_obj, skip=()):
    names = [f.name for f in dataclasses.fields(ref_obj) if f.name not in skip]
    return ({n: _norm(getattr(ref_obj, n)) for n in names}, {n: _norm(getattr(our_obj, n, "MISSING")) for n in names})


def _error_name(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the class name is what we compare
        return type(e).__name__
    return None


def test_whoami(env):
    ours, ref, *_ = env
    assert ours.whoami() == ref.whoami()
    assert _error_name(lambda: HfApi(endpoint=ours.endpoint).whoami(token="hf_wrong")) == _error_name(
        lambda: huggingface_hub.HfApi(endpoint=ours.endpoint).whoami(token="hf_wrong")) == "HfHubHTTPError"


def test_create_repo_results(env):
    ours, ref, _, _, names = env
    for repo_id, repo_type in ((names["model"], None), (names["dataset"], "dataset")):
        a = ours.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
        b = ref.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
        assert str(a) == str(b)
        assert (a.repo_id, a.repo_type, a.namespace, a.repo_name, a.endpoint) == (
            b.repo_id, b.repo_type, b.namespace, b.repo_name, b.endpoint)
    assert _error_name(lambda: ours.create_repo(names["model"])) == _error_name(
        lambda: ref.create_repo(names["model"])) == "HfHubHTTPError"


@pytest.mark.parametrize("files_metadata", [False, True])
def test_model_info_fields(env, files_metadata):
    ours, ref, _, _, names = env
    a = ours.model_info(names["model"], files_metadata=files_metadata)
    b = ref.model_info(names["model"], files_metadata=files_metadata)
    expected, got = _fields(b, a)
    assert got == expected
    assert a.card_data.license == "mit" and "h3test" in a.tags
    assert sorted(s.rfilename for s in a.siblings) == [".gitattributes", "README.md", "a.txt", "sub dir/b.txt",
                                                       "sub dir/deep/c.json"]


def test_info_at_revision_and_dataset(env):
    ours, ref, _, _, names = env
    first = ref.list_repo_commits(names["model"])[-2].commit_id  # "add files"
    for kwargs in ({"revision": first}, {"revision": "main"}):
        assert _fields(ref.model_info(names["model"], **kwargs), ours.model_info(names["model"], **kwargs))[0] == \
            _fields(ref.model_info(names["model"], **kwargs), ours.model_info(names["model"], **kwargs))[1]
    assert ours.model_info(names["model"], revision=first).sha == first
    b = ref.dataset_info(names["dataset"], files_metadata=True)
    a = ours.repo_info(names["dataset"], repo_type="dataset", files_metadata=True)
    expected, got = _fields(b, a)
    assert got == expected


@pytest.mark.parametrize("kwargs", [{}, {"recursive": True}, {"path_in_repo": "sub dir"},
                                    {"path_in_repo": "sub dir", "recursive": True, "expand": True},
                                    {"expand": True}])
def test_list_repo_tree(env, kwargs):
    ours, ref, _, _, names = env
    assert _norm(list(ours.list_repo_tree(names["model"], **kwargs))) == _norm(
        list(ref.list_repo_tree(names["model"], **kwargs)))


def test_files_paths_info_refs_commits(env):
    ours, ref, _, _, names = env
    repo = names["model"]
    assert ours.list_repo_files(repo) == ref.list_repo_files(repo)
    paths = ["a.txt", "sub dir", "missing.bin", "sub dir/deep/c.json"]
    for expand in (False, True):
        key = lambda e: e.path  # noqa: E731 - the server may answer in any order
        assert _norm(sorted(ours.get_paths_info(repo, paths, expand=expand), key=key)) == _norm(
            sorted(ref.get_paths_info(repo, paths, expand=expand), key=key))
    assert _norm(ours.list_repo_commits(repo)) == _norm(ref.list_repo_commits(repo))
    commits = ours.list_repo_commits(repo)
    assert [c.title for c in commits] == ["second", "add files", "initial commit"] and commits[0].message == "body"


def test_branches_tags_and_refs(env):
    ours, ref, _, _, names = env
    repo = names["model"]
    ours.create_branch(repo, branch="feat/x")
    ours.create_branch(repo, branch="feat/x", exist_ok=True)
    ours.create_tag(repo, tag="v1", tag_message="first")
    ours.create_tag(repo, tag="v1", exist_ok=True)
    for include in (False, True):
        assert _norm(ours.list_repo_refs(repo, include_pull_requests=include)) == _norm(
            ref.list_repo_refs(repo, include_pull_requests=include))
    refs = ours.list_repo_refs(repo)
    assert {b.name for b in refs.branches} == {"main", "feat/x"} and [t.name for t in refs.tags] == ["v1"]
    assert _norm(list(ours.list_repo_tree(repo, revision="feat/x"))) == _norm(
        list(ref.list_repo_tree(repo, revision="feat/x")))
    assert ours.revision_exists(repo, "feat/x") and ref.revision_exists(repo, "feat/x")
    for call in (lambda api: api.create_branch(repo, branch="feat/x"),
                 lambda api: api.create_tag(repo, tag="v1"),
                 lambda api: api.delete_branch(repo, branch="nope"),
                 lambda api: api.delete_tag(repo, tag="nope"),
                 lambda api: api.create_branch(repo, branch="x", revision="nope")):
        assert _error_name(lambda: call(ours)) == _error_name(lambda: call(ref)) is not None
    ours.delete_tag(repo, tag="v1")
    ours.delete_branch(repo, branch="feat/x")
    assert _norm(ours.list_repo_refs(repo)) == _norm(ref.list_repo_refs(repo))


def test_exists_checks(env):
    ours, ref, ours_bob, ref_bob, names = env
    cases = [
        ("file_exists", (names["model"], "a.txt"), {}),
        ("file_exists", (names["model"], "sub dir/b.txt"), {}),
        ("file_exists", (names["model"], "nope.txt"), {}),
        ("file_exists", (names["model"], "a.txt"), {"revision": "nope"}),
        ("file_exists", ("alice/does-not-exist", "a.txt"), {}),
        ("file_exists", (names["dataset"], "data/train.csv"), {"repo_type": "dataset"}),
        ("repo_exists", (names["model"],), {}),
        ("repo_exists", (names["model"],), {"repo_type": "dataset"}),
        ("repo_exists", (names["dataset"],), {"repo_type": "dataset"}),
        ("repo_exists", ("alice/does-not-exist",), {}),
        ("revision_exists", (names["model"], "main"), {}),
        ("revision_exists", (names["model"], "nope"), {}),
    ]
    for name, args, kwargs in cases:
        assert getattr(ours, name)(*args, **kwargs) == getattr(ref, name)(*args, **kwargs), (name, args, kwargs)
    for api_ours, api_ref in ((ours, ref), (ours_bob, ref_bob)):
        assert api_ours.repo_exists(names["private"]) == api_ref.repo_exists(names["private"])
        assert api_ours.file_exists(names["private"], ".gitattributes") == api_ref.file_exists(
            names["private"], ".gitattributes")
    assert not ours_bob.repo_exists(names["private"]) and ours.repo_exists(names["private"])


def test_error_classes(env):
    ours, ref, ours_bob, ref_bob, names = env
    repo = names["model"]
    calls = [
        lambda api: api.model_info("alice/does-not-exist"),
        lambda api: api.model_info(repo, revision="nope"),
        lambda api: api.dataset_info(repo),  # wrong type
        lambda api: list(api.list_repo_tree(repo, path_in_repo="nope")),
        lambda api: list(api.list_repo_tree(repo, revision="nope")),
        lambda api: api.list_repo_commits(repo, revision="nope"),
        lambda api: api.get_paths_info(repo, ["a.txt"], revision="nope"),
        lambda api: api.delete_repo("alice/does-not-exist"),
        lambda api: api.list_repo_refs("alice/does-not-exist"),
        lambda api: api.model_info("alice/bad..name"),
    ]
    for i, call in enumerate(calls):
        assert _error_name(lambda: call(ours)) == _error_name(lambda: call(ref)) is not None, i
    bob_calls = [
        lambda api: api.model_info(names["private"]),
        lambda api: list(api.list_repo_tree(names["private"])),
        lambda api: api.update_repo_settings(repo, private=True),  # visible but not writable
        lambda api: api.delete_repo(repo),
        lambda api: api.create_branch(repo, branch="bobs"),
    ]
    for i, call in enumerate(bob_calls):
        assert _error_name(lambda: call(ours_bob)) == _error_name(lambda: call(ref_bob)) is not None, i
    with pytest.raises(our_errors.RepositoryNotFoundError):
        ours_bob.model_info(names["private"])


def test_listings(env):
    ours, ref, ours_bob, ref_bob, names = env
    for kwargs in ({"author": "alice"}, {"search": names["tag"]}, {"author": "alice", "limit": 2},
                   {"filter": "h3test", "author": "alice"}, {"search": names["tag"], "cardData": True},
                   {"author": "alice", "sort": "last_modified"}):
        a, b = list(ours.list_models(**kwargs)), list(ref.list_models(**kwargs))
        assert [m.id for m in a] == [m.id for m in b], kwargs
        assert [_fields(y, x)[1] for x, y in zip(a, b)] == [_fields(y, x)[0] for x, y in zip(a, b)], kwargs
    assert names["model"] in [m.id for m in ours.list_models(search=names["tag"])]
    assert names["private"] in [m.id for m in ours.list_models(search=names["tag"])]
    assert [m.id for m in ours_bob.list_models(search=names["tag"])] == [
        m.id for m in ref_bob.list_models(search=names["tag"])]
    assert names["private"] not in [m.id for m in ours_bob.list_models(search=names["tag"])]
    a, b = list(ours.list_datasets(search=names["tag"])), list(ref.list_datasets(search=names["tag"]))
    assert [d.id for d in a] == [d.id for d in b] == [names["dataset"]]
    assert [_fields(y, x)[1] for x, y in zip(a, b)] == [_fields(y, x)[0] for x, y in zip(a, b)]


def test_visibility_move_and_delete(env):
    ours, ref, ours_bob, ref_bob, names = env
    repo = f"alice/h3-{names['tag']}-moving"
    ours.create_repo(repo)
    ours.update_repo_settings(repo, private=True)
    assert ref.model_info(repo).private is True and not ref_bob.repo_exists(repo)
    ours.update_repo_settings(repo, private=False)
    assert ours_bob.model_info(repo).private is False
    target = repo + "-moved"
    ours.move_repo(repo, target)
    assert ref.model_info(target).id == target
    ours.delete_repo(target)
    assert not ref.repo_exists(target)
    ours.delete_repo(target, missing_ok=True)


def test_pull_requests(env):
    ours, ref, _, _, names = env
    repo = names["model"]
    pr = ours.create_pull_request(repo, "try something", description="desc")
    ref_pr = ref.get_discussion_details(repo, pr.num)
    assert _norm(dataclasses.asdict(pr)) == _norm(dataclasses.asdict(ref_pr))
    assert pr.git_reference == ref_pr.git_reference == f"refs/pr/{pr.num}"
    assert [(d.num, d.title, d.is_pull_request) for d in ours.get_repo_discussions(repo)] == [
        (d.num, d.title, d.is_pull_request) for d in ref.get_repo_discussions(repo)]
    assert ours.model_info(repo, revision=pr.git_reference).sha == ref.model_info(repo, revision=pr.git_reference).sha
    refs = ours.list_repo_refs(repo, include_pull_requests=True)
    assert f"refs/pr/{pr.num}" in [r.ref for r in refs.pull_requests]


def test_delegating_methods_round_trip(env, tmp_path):
    """HfApi's upload/download methods reach snuggle.hub.commits / upload / download with this client's
    endpoint and token; the reference reads what we wrote and vice versa."""
    from snuggle.hub import CommitOperationAdd, CommitOperationDelete

    ours, ref, _, _, names = env
    repo = f"alice/h3-{names['tag']}-rt"
    ours.create_repo(repo, repo_type="dataset")
    try:
        info = ours.upload_file(path_or_fileobj=b"one", path_in_repo="x/one.txt", repo_id=repo, repo_type="dataset")
        assert info.oid == ref.dataset_info(repo).sha and info.repo_url.repo_id == repo
        folder = tmp_path / "folder"
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "two.txt").write_bytes(b"two")
        (folder / "skip.log").write_bytes(b"no")
        ours.upload_folder(repo_id=repo, folder_path=folder, path_in_repo="f", repo_type="dataset",
                           ignore_patterns="*.log")
        future = ours.create_commit(repo, [CommitOperationAdd("three.txt", b"3"), CommitOperationDelete("x/one.txt")],
                                    commit_message="three", repo_type="dataset", run_as_future=True)
        assert future.result(timeout=60).commit_message == "three"
        assert sorted(ref.list_repo_files(repo, repo_type="dataset")) == [".gitattributes", "f/sub/two.txt",
                                                                          "three.txt"]
        ours.delete_folder("f", repo, repo_type="dataset")
        assert not ref.file_exists(repo, "f/sub/two.txt", repo_type="dataset")
        ref.upload_file(path_or_fileobj=b"ref", path_in_repo="r.txt", repo_id=repo, repo_type="dataset")
        path = ours.hf_hub_download(repo, "r.txt", repo_type="dataset", cache_dir=tmp_path / "cache")
        assert open(path, "rb").read() == b"ref"
        snap = ours.snapshot_download(repo, repo_type="dataset", cache_dir=tmp_path / "cache")
        assert sorted(p.name for p in (tmp_path / "cache").glob("datasets--*/snapshots/*/*")) == sorted(
            [".gitattributes", "r.txt", "three.txt"]) and snap.endswith(ref.dataset_info(repo).sha)
        url = f"{ours.endpoint}/datasets/{repo}/resolve/main/r.txt"
        assert ours.get_hf_file_metadata(url=url).commit_hash == ref.get_hf_file_metadata(url=url).commit_hash
    finally:
        ours.delete_repo(repo, repo_type="dataset", missing_ok=True)


def test_tree_pagination(env, monkeypatch):
    """More entries than one expanded tree page (the server sends 50 per page with expand=true)."""
    from snuggle.hub import http

    ours, ref, _, _, names = env
    urls = []
    real_request = http.request
    monkeypatch.setattr(http, "request", lambda method, url, **kw: urls.append(url) or real_request(method, url, **kw))
    repo = f"alice/h3-{names['tag']}-many"
    ours.create_repo(repo)
    try:
        ref.create_commit(repo, [RefAdd(f"many/f{i:03d}.txt", str(i).encode()) for i in range(70)],
                          commit_message="many files")
        ours_tree = list(ours.list_repo_tree(repo, "many", expand=True))
        assert [e.path for e in ours_tree] == [f"many/f{i:03d}.txt" for i in range(70)]
        assert len([u for u in urls if "/tree/" in u]) == 2  # followed the Link to the second page
        assert _norm(ours_tree) == _norm(list(ref.list_repo_tree(repo, "many", expand=True)))
        assert len(ours.list_repo_files(repo)) == 71
    finally:
        ours.delete_repo(repo, missing_ok=True)
