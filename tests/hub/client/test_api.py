"""HfApi against a scripted Hub on httpx.MockTransport: URLs, parameters, bodies, parsing, error handling.
(Parity with huggingface_hub against the real server is in test_api_parity.py.)"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import httpx
import pytest

from snuggle.hub import HfApi, client, errors, http
from snuggle.hub.client_info import BlobLfsInfo, GitRefInfo, ModelInfo, RepoFile, RepoFolder, RepoUrl

ENDPOINT = "http://hub.test"
SHA = "a" * 40
TS = "2024-05-06T07:08:09.000Z"


class Script:
    """Routes (method, raw path) -> handler; records requests."""

    def __init__(self):
        self.routes = {}
        self.requests: list[httpx.Request] = []

    def on(self, method, path, response=None, **kw):
        self.routes[(method, path)] = response if callable(response) else (
            lambda r: httpx.Response(kw.pop("status", 200), **kw))
        return self

    def __call__(self, request):
        self.requests.append(request)
        key = (request.method, request.url.raw_path.decode().split("?")[0])
        if key not in self.routes:
            return httpx.Response(404, headers={"X-Error-Code": "RepoNotFound"}, json={"error": "no route"})
        return self.routes[key](request)


@pytest.fixture
def hub(monkeypatch):
    script = Script()
    c = httpx.Client(transport=httpx.MockTransport(script))
    monkeypatch.setattr(http, "_session", c)
    monkeypatch.setattr(http.time, "sleep", lambda s: None)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    yield script
    c.close()


@pytest.fixture
def api():
    return HfApi(endpoint=ENDPOINT, token="hf_t")


def test_create_repo_payload_and_url(hub, api):
    hub.on("POST", "/api/repos/create", json={"url": f"{ENDPOINT}/datasets/alice/d", "name": "alice/d"})
    url = api.create_repo("alice/d", repo_type="dataset", private=True)
    assert isinstance(url, RepoUrl) and url == f"{ENDPOINT}/datasets/alice/d"
    assert (url.repo_type, url.repo_id, url.namespace, url.repo_name) == ("dataset", "alice/d", "alice", "d")
    body = json.loads(hub.requests[0].content)
    assert body == {"name": "d", "organization": "alice", "visibility": "private", "type": "dataset"}
    assert hub.requests[0].headers["authorization"] == "Bearer hf_t"


def test_create_repo_exist_ok(hub, api):
    hub.on("POST", "/api/repos/create", status=409, json={"error": "exists", "url": f"{ENDPOINT}/alice/m"})
    with pytest.raises(errors.HfHubHTTPError) as info:
        api.create_repo("alice/m")
    assert info.value.response.status_code == 409
    assert api.create_repo("alice/m", exist_ok=True).repo_id == "alice/m"
    # 403 (namespace not writable) with exist_ok: fine if the repo is readable
    hub.on("POST", "/api/repos/create", status=403, json={"error": "no"})
    hub.on("GET", "/api/models/bob/m", json={"id": "bob/m", "sha": SHA, "private": False, "siblings": []})
    assert api.create_repo("bob/m", exist_ok=True) == f"{ENDPOINT}/bob/m"


def test_create_repo_arguments_checked_before_request(hub, api):
    with pytest.raises(ValueError):
        api.create_repo("alice/s", repo_type="space")  # needs space_sdk
    with pytest.raises(ValueError):
        api.create_repo("alice/x", repo_type="kernelz")
    with pytest.raises(errors.HFValidationError):
        api.create_repo("alice/a--b")
    assert hub.requests == []


def test_delete_repo_missing_ok(hub, api):
    hub.on("DELETE", "/api/repos/delete", status=404, headers={"X-Error-Code": "RepoNotFound"}, json={"error": "x"})
    with pytest.raises(errors.RepositoryNotFoundError):
        api.delete_repo("alice/gone")
    api.delete_repo("alice/gone", missing_ok=True)
    assert json.loads(hub.requests[0].content) == {"name": "gone", "organization": "alice"}


def test_settings_move_visibility(hub, api):
    hub.on("PUT", "/api/datasets/alice/d/settings", json={})
    hub.on("POST", "/api/repos/move", json={})
    api.update_repo_settings("alice/d", repo_type="dataset", private=False, gated="manual")
    assert json.loads(hub.requests[-1].content) == {"gated": "manual", "visibility": "public"}
    api.update_repo_visibility("alice/d", private=True, repo_type="dataset")
    assert json.loads(hub.requests[-1].content) == {"visibility": "private"}
    with pytest.raises(ValueError):
        api.update_repo_settings("alice/d")
    api.move_repo("alice/a", "org/b", repo_type="dataset")
    assert json.loads(hub.requests[-1].content) == {"fromRepo": "alice/a", "toRepo": "org/b", "type": "dataset"}
    with pytest.raises(ValueError):
        api.move_repo("a", "org/b")


def test_model_info_parsing_and_revision_encoding(hub, api):
    body = {"_id": "x", "id": "alice/m", "author": "alice", "sha": SHA, "lastModified": TS, "createdAt": TS,
            "private": False, "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": ["t"],
            "cardData": {"license": "mit", "tags": ["t"]}, "library_name": "snuggle", "usedStorage": 9,
            "siblings": [{"rfilename": "w.bin", "size": 9, "blobId": "b" * 40,
                          "lfs": {"size": 9, "sha256": "c" * 64, "pointerSize": 130}},
                         {"rfilename": "config.json", "size": 2, "blobId": "d" * 40}],
            "newField": 1}
    hub.on("GET", "/api/models/alice/m/revision/feat%2Fx", json=body)
    info = api.model_info("alice/m", revision="feat/x", files_metadata=True)
    assert isinstance(info, ModelInfo) and info.sha == SHA and info.private is False
    assert info.last_modified.year == 2024 and info.last_modified.tzinfo is not None
    assert info.card_data.license == "mit" and info.cardData is info.card_data
    assert info.siblings[0].lfs == BlobLfsInfo(size=9, sha256="c" * 64, pointer_size=130)
    assert info.siblings[1].lfs is None and info.used_storage == 9 and info.newField == 1
    assert dict(hub.requests[0].url.params) == {"blobs": "true"}
    with pytest.raises(ValueError):
        api.model_info("alice/m", expand=["sha"], files_metadata=True)


def test_repo_exists_revision_exists(hub, api):
    hub.on("GET", "/api/datasets/alice/d", json={"id": "alice/d", "sha": SHA, "siblings": []})
    hub.on("GET", "/api/datasets/alice/d/revision/nope", status=404, headers={"X-Error-Code": "RevisionNotFound"},
           json={"error": "x"})
    hub.on("GET", "/api/models/alice/gated", status=403, headers={"X-Error-Code": "GatedRepo"}, json={"error": "g"})
    assert api.repo_exists("alice/d", repo_type="dataset")
    assert not api.repo_exists("alice/d")  # no such model
    assert api.repo_exists("alice/gated")
    assert not api.revision_exists("alice/d", "nope", repo_type="dataset")
    assert not api.revision_exists("alice/zzz", "main", repo_type="dataset")


def test_file_exists(hub, api):
    hub.on("HEAD", "/datasets/alice/d/resolve/main/dir%20x/f.txt", headers={"X-Repo-Commit": SHA, "ETag": '"e"'})
    hub.on("HEAD", "/datasets/alice/d/resolve/main/missing", status=404,
           headers={"X-Error-Code": "EntryNotFound", "X-Repo-Commit": SHA})
    hub.on("HEAD", "/alice/gated/resolve/main/x", status=403, headers={"X-Error-Code": "GatedRepo"})
    hub.on("HEAD", "/alice/m/resolve/v%2F1/x", status=404, headers={"X-Error-Code": "RevisionNotFound"})
    assert api.file_exists("alice/d", "dir x/f.txt", repo_type="dataset")
    assert not api.file_exists("alice/d", "missing", repo_type="dataset")
    assert not api.file_exists("alice/m", "x", revision="v/1")
    with pytest.raises(errors.GatedRepoError):
        api.file_exists("alice/gated", "x")


def test_list_models_pages_params_and_limit(hub, api):
    def page(request):
        cursor = int(request.url.params.get("cursor", 0))
        items = [{"id": f"alice/m{cursor * 2 + i}", "sha": SHA, "private": False} for i in range(2)]
        headers = {"Link": f'<{ENDPOINT}/api/models?author=alice&cursor={cursor + 1}>; rel="next"'} if cursor < 2 else {}
        return httpx.Response(200, json=items, headers=headers)

    hub.on("GET", "/api/models", page)
    gen = api.list_models(author="alice", filter=["a", "b"], sort="last_modified", search="m", cardData=True)
    assert not hub.requests  # a generator: nothing sent yet
    ids = [m.id for m in gen]
    assert ids == [f"alice/m{i}" for i in range(6)]
    first = hub.requests[0].url.params
    assert first.get_list("filter") == ["a", "b"] and first["sort"] == "lastModified" and first["author"] == "alice"
    assert first["search"] == "m" and "cardData" in first
    hub.requests.clear()
    assert len(list(api.list_models(author="alice", limit=3))) == 3
    assert len(hub.requests) == 2  # stops following pages once `limit` items came
    assert all(m.siblings is None for m in api.list_models(author="alice", limit=1))


def test_list_datasets_filters(hub, api):
    hub.on("GET", "/api/datasets", json=[{"id": "alice/d", "sha": SHA, "cardData": {"license": "mit"}}])
    (info,) = list(api.list_datasets(language="en", task_categories=["text-classification"], dataset_name="d"))
    assert info.card_data.license == "mit"
    params = hub.requests[0].url.params
    assert params.get_list("filter") == ["language:en", "task_categories:text-classification"]
    assert params.get_list("search") == ["d"]


def test_list_repo_tree_and_files(hub, api):
    entries = [
        {"type": "file", "oid": "1" * 40, "size": 3, "path": "a.txt"},
        {"type": "directory", "oid": "2" * 40, "size": 0, "path": "sub dir",
         "lastCommit": {"id": SHA, "title": "init", "date": TS}},
        {"type": "file", "oid": "3" * 40, "size": 9, "path": "sub dir/w.bin",
         "lfs": {"oid": "c" * 64, "size": 9, "pointerSize": 130}},
    ]
    hub.on("GET", "/api/models/alice/m/tree/main", json=entries)
    hub.on("GET", "/api/models/alice/m/tree/v1/sub%20dir%2Fnested", json=[])
    tree = list(api.list_repo_tree("alice/m", recursive=True))
    assert isinstance(tree[0], RepoFile) and isinstance(tree[1], RepoFolder)
    assert tree[1].tree_id == "2" * 40 and tree[1].last_commit.title == "init"
    assert tree[2].lfs.sha256 == "c" * 64 and tree[2].lfs["pointer_size"] == 130 and tree[2].blob_id == "3" * 40
    assert hub.requests[0].url.params["recursive"] == "true"
    assert api.list_repo_files("alice/m") == ["a.txt", "sub dir/w.bin"]
    assert list(api.list_repo_tree("alice/m", "sub dir/nested", revision="v1")) == []


def test_get_paths_info_is_form_encoded(hub, api):
    hub.on("POST", "/api/models/alice/m/paths-info/refs%2Fpr%2F1",
           json=[{"type": "file", "oid": "1" * 40, "size": 3, "path": "a.txt"}])
    (entry,) = api.get_paths_info("alice/m", ["a.txt", "nope"], revision="refs/pr/1")
    assert entry.path == "a.txt"
    request = hub.requests[0]
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {"paths": ["a.txt", "nope"], "expand": ["false"]}


def test_refs_and_commits(hub, api):
    hub.on("GET", "/api/models/alice/m/refs", json={
        "branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": SHA}],
        "tags": [{"name": "v1", "ref": "refs/tags/v1", "targetCommit": SHA}], "converts": [],
        "pullRequests": [{"name": "1", "ref": "refs/pr/1", "targetCommit": SHA}]})
    hub.on("GET", "/api/models/alice/m/commits/main", json=[
        {"id": SHA, "title": "second", "message": "", "date": TS, "authors": [{"user": "alice", "avatar": "x"}]},
        {"id": "b" * 40, "title": "initial commit", "message": "", "date": TS, "authors": [{"user": "system"}]}])
    refs = api.list_repo_refs("alice/m")
    assert refs.branches == [GitRefInfo(name="main", ref="refs/heads/main", target_commit=SHA)]
    assert refs.pull_requests is None and refs.converts == []
    assert api.list_repo_refs("alice/m", include_pull_requests=True).pull_requests[0].ref == "refs/pr/1"
    assert hub.requests[-1].url.params["include_prs"] == "1"
    commits = api.list_repo_commits("alice/m")
    assert [c.title for c in commits] == ["second", "initial commit"] and commits[0].authors == ["alice"]
    assert commits[0].created_at.isoformat() == "2024-05-06T07:08:09+00:00"


def test_branches_and_tags(hub, api):
    hub.on("POST", "/api/models/alice/m/branch/feat%2Fx", status=409, json={"error": "exists"})
    hub.on("DELETE", "/api/models/alice/m/branch/feat%2Fx", json={})
    hub.on("POST", "/api/models/alice/m/tag/main", status=409, json={"error": "exists"})
    hub.on("DELETE", "/api/models/alice/m/tag/v1", status=404, headers={"X-Error-Code": "RevisionNotFound"},
           json={"error": "no tag"})
    with pytest.raises(errors.HfHubHTTPError):
        api.create_branch("alice/m", branch="feat/x", revision="v1")
    assert json.loads(hub.requests[-1].content) == {"startingPoint": "v1"}
    api.create_branch("alice/m", branch="feat/x", exist_ok=True)
    api.delete_branch("alice/m", branch="feat/x")
    api.create_tag("alice/m", tag="v1", tag_message="m", exist_ok=True)
    assert json.loads(hub.requests[-1].content) == {"tag": "v1", "message": "m"}
    with pytest.raises(errors.RevisionNotFoundError):
        api.delete_tag("alice/m", tag="v1")


def test_discussions(hub, api):
    detail = {"num": 1, "title": "PR", "status": "open", "isPullRequest": True, "createdAt": TS,
              "author": {"name": "alice"}, "repo": {"name": "alice/m", "type": "model"}, "events": [],
              "changes": {"base": "refs/heads/main", "mergeCommitId": None}, "filesWithConflicts": [], "diff": ""}
    hub.on("POST", "/api/models/alice/m/discussions", json={"num": 1, "pullRequest": True,
                                                            "url": f"{ENDPOINT}/alice/m/discussions/1",
                                                            "reference": "refs/pr/1"})
    hub.on("GET", "/api/models/alice/m/discussions/1", json=detail)
    hub.on("GET", "/api/models/alice/m/discussions", json={
        "discussions": [{k: v for k, v in detail.items() if k not in ("events", "changes", "diff")}],
        "count": 1, "start": 0, "numClosedDiscussions": 0})
    pr = api.create_pull_request("alice/m", "PR")
    assert pr.git_reference == "refs/pr/1" and pr.target_branch == "refs/heads/main"
    assert pr.url == f"{ENDPOINT}/alice/m/discussions/1"
    assert json.loads(hub.requests[0].content)["pullRequest"] is True
    assert [d.num for d in api.get_repo_discussions("alice/m")] == [1]


def test_module_aliases_follow_hf_endpoint(hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://other.test")
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    hub.on("GET", "/api/models/alice/m", json={"id": "alice/m", "sha": SHA, "siblings": []})
    assert client.model_info("alice/m").sha == SHA
    request = hub.requests[0]
    assert request.url.host == "other.test" and request.headers["authorization"] == "Bearer hf_env"
    assert client.api.endpoint == "http://other.test"


def test_per_call_token_and_anonymous(hub):
    hub.on("GET", "/api/models/alice/m", json={"id": "alice/m", "sha": SHA, "siblings": []})
    api = HfApi(endpoint=ENDPOINT, token="hf_default")
    api.model_info("alice/m")
    api.model_info("alice/m", token="hf_call")
    api.model_info("alice/m", token=False)
    auths = [r.headers.get("authorization") for r in hub.requests]
    assert auths == ["Bearer hf_default", "Bearer hf_call", None]


@pytest.mark.parametrize("repo_id", ["a/b", "gpt2", "a/b/c", "a/..b", "a/b--c", "a/b.git", "-a/b", "a/b-", "a/" + "x" * 97,
                                     "a/caf\u00e9"])
def test_validate_repo_id_like_reference(repo_id):
    from huggingface_hub.errors import HFValidationError as RefError
    from huggingface_hub.utils import validate_repo_id as ref_validate

    try:
        ref_validate(repo_id)
        ref_ok = True
    except RefError:
        ref_ok = False
    try:
        client.validate_repo_id(repo_id)
        ours_ok = True
    except errors.HFValidationError:
        ours_ok = False
    assert ours_ok == ref_ok


def test_signatures_match_reference():
    import inspect

    import huggingface_hub

    names = ["whoami", "create_repo", "delete_repo", "move_repo", "update_repo_settings", "repo_info", "model_info",
             "dataset_info", "space_info", "list_models", "list_datasets", "list_spaces", "list_repo_files",
             "list_repo_tree", "list_repo_refs", "list_repo_commits", "file_exists", "repo_exists",
             "revision_exists", "get_paths_info", "create_branch", "delete_branch", "create_tag", "delete_tag",
             "create_discussion", "create_pull_request", "get_repo_discussions", "get_discussion_details",
             "get_full_repo_name", "auth_check", "create_commit", "upload_file", "upload_folder", "delete_file",
             "delete_files", "delete_folder", "hf_hub_download", "snapshot_download", "get_hf_file_metadata",
             "preupload_lfs_files", "__init__"]
    for name in names:
        ours = inspect.signature(getattr(HfApi, name)).parameters
        ref = inspect.signature(getattr(huggingface_hub.HfApi, name)).parameters
        assert list(ours) == list(ref), name
        for key in ref:
            assert ours[key].kind == ref[key].kind, (name, key)
            if key != "timeout":  # the reference's get_hf_file_metadata default is an import-time env value
                assert ours[key].default == ref[key].default, (name, key)


def test_every_export_resolves():
    import snuggle.hub

    for name in snuggle.hub.__all__:
        assert getattr(snuggle.hub, name) is not None, name
    assert snuggle.hub.whoami.__self__ is client.api and snuggle.hub.create_repo.__func__ is HfApi.create_repo


@pytest.mark.parametrize("url,endpoint", [
    ("http://hub.test/alice/m", "http://hub.test"),
    ("http://hub.test/datasets/alice/d", "http://hub.test"),
    ("http://hub.test/spaces/alice/s", "http://hub.test"),
    ("http://hub.test/prefix/alice/m", "http://hub.test/prefix"),
    ("https://huggingface.co/alice/m", "http://hub.test"),  # rewritten onto the custom endpoint
    ("alice/m", "http://hub.test"),
    ("http://other.test/alice/m", "http://hub.test"),
])
def test_repo_url_like_reference(url, endpoint):
    from huggingface_hub import RepoUrl as RefRepoUrl

    def parse(cls):
        try:
            u = cls(url, endpoint=endpoint)
        except ValueError as e:  # HfUriError is a ValueError in both
            return type(e).__name__
        return (str(u), u.endpoint, u.repo_type, u.repo_id, u.namespace, u.repo_name, u.url)

    assert parse(RepoUrl) == parse(RefRepoUrl)


def test_info_classes_parse_like_reference():
    import dataclasses

    import huggingface_hub.hf_api as ref

    data = {"_id": "x", "id": "alice/m", "author": "alice", "sha": SHA, "lastModified": "2024-05-06T07:08:09Z",
            "createdAt": "2024-05-06T07:08:09.123456789Z", "private": True, "gated": "manual", "disabled": False,
            "downloads": 3, "downloadsAllTime": 4, "likes": 1, "tags": ["a"], "library_name": "snuggle",
            "pipeline_tag": "fill-mask", "mask_token": "[MASK]", "trendingScore": 2, "usedStorage": 9,
            "cardData": {"license": "apache-2.0", "language": ["en"]}, "config": {"model_type": "bert"},
            "transformersInfo": {"auto_model": "AutoModel", "processor": "AutoTokenizer"},
            "safetensors": {"parameters": {"F32": 10}, "total": 10}, "spaces": ["s"], "widgetData": [{"text": "x"}],
            "siblings": [{"rfilename": "w.bin", "size": 9, "blobId": "b" * 40,
                          "lfs": {"size": 9, "sha256": "c" * 64, "pointerSize": 130}}],
            "mainSize": 5, "citation": "cite", "description": "d", "paperswithcode_id": "p", "extra": {"k": 1}}
    for ours_cls, ref_cls in ((ModelInfo, ref.ModelInfo), (client.DatasetInfo, ref.DatasetInfo)):
        ours, theirs = ours_cls(**dict(data)), ref_cls(**dict(data))
        for f in dataclasses.fields(ref_cls):
            a, b = getattr(ours, f.name), getattr(theirs, f.name)
            if hasattr(b, "to_dict"):
                a, b = a.to_dict(), b.to_dict()
            elif isinstance(b, dict):  # the reference's dict-dataclasses (SafeTensorsInfo, ...)
                a, b = dict(a), dict(b)
            elif isinstance(b, list) and b and dataclasses.is_dataclass(b[0]):
                a, b = [dataclasses.asdict(x) for x in a], [dataclasses.asdict(x) for x in b]
            assert a == b, (ours_cls.__name__, f.name)
        assert ours.extra == theirs.extra == {"k": 1} and ours.lastModified == theirs.lastModified
