"""create_commit / upload_* against an in-memory Hub behind httpx.MockTransport: request shapes (preupload
chunks of <= 256, LFS PUT without Authorization, retries, streamed NDJSON), no-op commits, error hints.
The same behaviour against the real server and the reference client is in test_commits_server.py."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import types
from urllib.parse import unquote

import httpx
import pytest

from snuggle.hub import commit_payload, lfs
from snuggle.hub.commits import (CommitInfo, CommitOperationAdd, CommitOperationCopy, CommitOperationDelete,
                                 create_commit)
from snuggle.hub.errors import HfHubHTTPError, HFValidationError, RemoteEntryNotFoundError
from snuggle.hub.upload import upload_file, upload_folder

ENDPOINT = "http://hub.test"
TOKEN = "hf_unit"


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeUploadHub:
    """One model repo 'alice/m' on branch main; files stored as {path: (bytes, is_lfs)}."""

    def __init__(self, lfs_threshold: int = 100, put_failures: int = 0):
        self.lfs_threshold = lfs_threshold
        self.put_failures = put_failures
        self.files: dict[str, tuple[bytes, bool]] = {}
        self.lfs_store: dict[str, bytes] = {}
        self.head = "0" * 40
        self.commits: list[dict] = []
        self.requests: list[tuple[str, str, dict, bytes]] = []
        self.prs = 0

    def oid(self, path):
        data, is_lfs = self.files[path]
        return hashlib.sha256(data).hexdigest() if is_lfs else git_oid(data)

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        self.requests.append((request.method, request.url.path, dict(request.headers), body))
        path = request.url.raw_path.decode().split("?")[0]
        if path == "/api/validate-yaml":
            content = json.loads(body)["content"]
            if content.startswith("---\n") and ": [" in content.split("---")[1]:
                return httpx.Response(400, json={"errors": [{"message": "bad yaml: unclosed ["}], "warnings": []})
            return httpx.Response(200, json={"errors": [], "warnings": []})
        if path.startswith("/api/models/alice/m/preupload/"):
            files = json.loads(body)["files"]
            assert len(files) <= 256
            return httpx.Response(200, json={"commitOid": self.head, "files": [
                {"path": f["path"], "uploadMode": "lfs" if f["size"] > self.lfs_threshold else "regular",
                 "shouldIgnore": f["path"].endswith(".ignored"),
                 "oid": self.oid(f["path"]) if f["path"] in self.files else None} for f in files]})
        if path == "/alice/m.git/info/lfs/objects/batch":
            objects = []
            for obj in json.loads(body)["objects"]:
                if obj["oid"] in self.lfs_store:
                    objects.append(dict(obj))
                else:
                    objects.append({**obj, "actions": {"upload": {"href": f"{ENDPOINT}/lfs-put/{obj['oid']}"},
                                                       "verify": {"href": f"{ENDPOINT}/lfs-verify"}}})
            return httpx.Response(200, json={"transfer": "basic", "objects": objects})
        if path.startswith("/lfs-put/"):
            if self.put_failures:
                self.put_failures -= 1
                return httpx.Response(503, json={"error": "try again"})
            oid = path.rsplit("/", 1)[1]
            assert hashlib.sha256(body).hexdigest() == oid
            self.lfs_store[oid] = body
            return httpx.Response(200)
        if path == "/lfs-verify":
            return httpx.Response(200 if json.loads(body)["oid"] in self.lfs_store else 404, json={})
        if path.startswith("/api/models/alice/m/commit/"):
            return self._commit(request, body)
        if path.startswith("/api/models/alice/m/revision/"):
            return httpx.Response(200, json={"id": "alice/m", "sha": self.head})
        if path.startswith("/api/models/alice/m/paths-info/"):
            form = dict(httpx.QueryParams(body.decode()).multi_items())
            wanted = httpx.QueryParams(body.decode()).get_list("paths")
            assert form["expand"] == "false"
            out = []
            for p in wanted:
                if p in self.files:
                    data, is_lfs = self.files[p]
                    entry = {"type": "file", "path": p, "size": len(data), "oid": git_oid(data)}
                    if is_lfs:
                        entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}
                    out.append(entry)
            return httpx.Response(200, json=out)
        if "/resolve/" in path:
            file_path = unquote(path.split("/resolve/", 1)[1].split("/", 1)[1])
            return httpx.Response(200, content=self.files[file_path][0])
        return httpx.Response(404, json={"error": f"no route {path}"})

    def _commit(self, request, body):
        lines = [json.loads(line) for line in body.decode().splitlines()]
        assert lines[0]["key"] == "header"
        parent = lines[0]["value"].get("parentCommit")
        if parent is not None and parent != self.head:
            return httpx.Response(412, headers={"X-Error-Message": "parent commit mismatch"},
                                  json={"error": "A commit has happened since. Please refresh and try again."})
        files = dict(self.files)
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                files[value["path"]] = (base64.b64decode(value["content"], validate=True), False)
            elif key == "lfsFile":
                if "size" in value:
                    assert len(self.lfs_store[value["oid"]]) == value["size"]
                files[value["path"]] = (self.lfs_store[value["oid"]], True)
            elif key == "deletedFile":
                if value["path"] not in files:
                    return httpx.Response(404, headers={"X-Error-Code": "EntryNotFound"},
                                          json={"error": f"A file with this name doesn't exist: {value['path']}"})
                del files[value["path"]]
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {p: v for p, v in files.items() if not p.startswith(prefix)}
        self.files = files
        self.head = secrets.token_hex(20)
        self.commits.append({"summary": lines[0]["value"]["summary"], "ops": [l["key"] for l in lines[1:]]})
        out = {"success": True, "commitOid": self.head, "commitUrl": f"{ENDPOINT}/alice/m/commit/{self.head}"}
        if request.url.params.get("create_pr") == "1":
            self.prs += 1
            out["pullRequestUrl"] = f"{ENDPOINT}/alice/m/discussions/{self.prs}"
        return httpx.Response(200, json=out)

    def routes(self, method=None):
        return [(m, p) for m, p, _, _ in self.requests if method is None or m == method]


@pytest.fixture
def hub(monkeypatch):
    from snuggle.hub import http

    fake = FakeUploadHub()
    monkeypatch.setattr(http, "_session", httpx.Client(transport=httpx.MockTransport(fake.handler)))
    monkeypatch.setenv("HF_ENDPOINT", ENDPOINT)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(lfs, "RETRY_WAITS", (0.0, 0.0, 0.0, 0.0))
    return fake


@pytest.fixture
def api():
    return types.SimpleNamespace(endpoint=ENDPOINT, token=TOKEN)


def test_operation_validation(tmp_path):
    for bad in ("../x", "a/../../etc/passwd", ".", ".git/config", "a/.cache/x", "a\0b", "a\\b"):
        with pytest.raises(ValueError):
            CommitOperationAdd(bad, b"x")
    assert CommitOperationAdd("/lead.txt", b"x").path_in_repo == "lead.txt"  # the reference strips one '/'
    assert CommitOperationAdd("./dot.txt", b"x").path_in_repo == "dot.txt"
    with pytest.raises(ValueError, match="is not a file"):
        CommitOperationAdd("a.txt", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="binary mode"):
        CommitOperationAdd("a.txt", open(tmp_path.joinpath("t").as_posix(), "w"))
    assert CommitOperationDelete("dir/").is_folder and not CommitOperationDelete("dir").is_folder
    with pytest.raises(ValueError):
        CommitOperationCopy("a", "b", src_repo_id="x/y")


def test_upload_info_matches_reference(tmp_path):
    from huggingface_hub.lfs import UploadInfo as RefUploadInfo
    from huggingface_hub.utils.sha import git_hash

    data = secrets.token_bytes(3000)
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    for ours, ref in [(CommitOperationAdd("f", str(p)).upload_info, RefUploadInfo.from_path(str(p))),
                      (CommitOperationAdd("f", data).upload_info, RefUploadInfo.from_bytes(data)),
                      (CommitOperationAdd("f", open(p, "rb")).upload_info, RefUploadInfo.from_fileobj(open(p, "rb")))]:
        assert (ours.size, ours.sample, ours.sha256) == (ref.size, ref.sample, ref.sha256)
        assert ours.git_oid == git_hash(data)


def test_commit_request_sequence_and_streamed_body(hub, api, tmp_path):
    big = secrets.token_bytes(5000)
    (tmp_path / "big.bin").write_bytes(big)
    small = secrets.token_bytes(99)
    info = create_commit(api, "alice/m", [CommitOperationAdd("w/big.bin", tmp_path / "big.bin"),
                                          CommitOperationAdd("small.txt", small),
                                          CommitOperationAdd("é x.txt", b"")],
                         commit_message="first", commit_description="desc")
    assert isinstance(info, CommitInfo) and str(info) == info.commit_url and info.oid == hub.head
    assert info.pr_url is None and info.repo_url.repo_id == "alice/m"
    assert hub.files == {"w/big.bin": (big, True), "small.txt": (small, False), "é x.txt": (b"", False)}
    assert [p.split("/")[-2] if p.startswith("/api") else p for _, p in hub.routes()] == [
        "preupload", "/alice/m.git/info/lfs/objects/batch", f"/lfs-put/{hashlib.sha256(big).hexdigest()}",
        "/lfs-verify", "commit"]
    for method, path, headers, body in hub.requests:
        # the signed PUT URL authorizes itself: no token travels with the bytes
        assert ("authorization" in headers) == (not path.startswith("/lfs-put/")), path
    commit_headers, commit_body = hub.requests[-1][2], hub.requests[-1][3]
    assert commit_headers["content-type"] == "application/x-ndjson"
    assert int(commit_headers["content-length"]) == len(commit_body)  # exact length computed ahead
    header = json.loads(commit_body.splitlines()[0])
    assert header == {"key": "header", "value": {"summary": "first", "description": "desc"}}


def test_noop_recommit_returns_head_without_commit(hub, api, caplog):
    data = {"a.txt": b"a", "big.bin": b"B" * 500}
    create_commit(api, "alice/m", [CommitOperationAdd(p, d) for p, d in data.items()], commit_message="one")
    head, nb = hub.head, len(hub.commits)
    n_requests = len(hub.requests)
    info = create_commit(api, "alice/m", [CommitOperationAdd(p, d) for p, d in data.items()], commit_message="two")
    assert info.oid == head and len(hub.commits) == nb
    assert info.commit_url == f"{ENDPOINT}/alice/m/commit/{head}"
    # preupload + head lookup only: no LFS batch, no PUT, no commit
    assert [p.split("/")[-2] for _, p in hub.routes()[n_requests:]] == ["preupload", "revision"]
    # a changed file next to an unchanged one: only the changed one is sent
    create_commit(api, "alice/m", [CommitOperationAdd("a.txt", b"a"), CommitOperationAdd("b.txt", b"b")],
                  commit_message="three")
    assert hub.commits[-1]["ops"] == ["file"]


def test_preupload_in_chunks_of_256(hub, api):
    ops = [CommitOperationAdd(f"f/{i}.txt", str(i).encode()) for i in range(600)]
    create_commit(api, "alice/m", ops, commit_message="many")
    sizes = [len(json.loads(b)["files"]) for m, p, h, b in hub.requests if "/preupload/" in p]
    assert sizes == [256, 256, 88]
    assert len(hub.files) == 600 and hub.files["f/599.txt"] == (b"599", False)


def test_lfs_put_retried_then_succeeds(hub, api):
    hub.put_failures = 2
    create_commit(api, "alice/m", [CommitOperationAdd("w.bin", b"W" * 1000)], commit_message="lfs")
    assert [p for m, p in hub.routes("PUT")] == [f"/lfs-put/{hashlib.sha256(b'W' * 1000).hexdigest()}"] * 3
    assert hub.files["w.bin"] == (b"W" * 1000, True)


def test_lfs_put_failure_commits_nothing(hub, api):
    hub.put_failures = 99
    with pytest.raises(HfHubHTTPError, match="w.bin"):
        create_commit(api, "alice/m", [CommitOperationAdd("w.bin", b"W" * 1000)], commit_message="lfs")
    assert hub.commits == [] and "commit" not in [p.split("/")[-2] for _, p in hub.routes()]


def test_same_lfs_content_twice_is_sent_once(hub, api):
    blob = b"Z" * 700
    create_commit(api, "alice/m", [CommitOperationAdd("a.bin", blob), CommitOperationAdd("b.bin", blob)],
                  commit_message="dup")
    assert len(hub.routes("PUT")) == 1 and hub.files["a.bin"] == hub.files["b.bin"] == (blob, True)


def test_parent_commit_412_message(hub, api):
    create_commit(api, "alice/m", [CommitOperationAdd("a.txt", b"1")], commit_message="one")
    stale = hub.head
    create_commit(api, "alice/m", [CommitOperationAdd("a.txt", b"2")], commit_message="two", parent_commit=stale)
    with pytest.raises(HfHubHTTPError, match="moved") as err:
        create_commit(api, "alice/m", [CommitOperationAdd("a.txt", b"3")], commit_message="three",
                      parent_commit=stale)
    assert err.value.response.status_code == 412 and "parent_commit" in str(err.value)
    assert hub.files["a.txt"] == (b"2", False)
    with pytest.raises(ValueError, match="parent_commit"):
        create_commit(api, "alice/m", [CommitOperationAdd("a.txt", b"3")], commit_message="x", parent_commit="zz")
    with pytest.raises(ValueError, match="commit_message"):
        create_commit(api, "alice/m", [CommitOperationAdd("a.txt", b"3")], commit_message="")


def test_delete_hint_and_copies(hub, api):
    create_commit(api, "alice/m", [CommitOperationAdd("d/a.txt", b"aa"), CommitOperationAdd("d/w.bin", b"W" * 300)],
                  commit_message="one")
    with pytest.raises(RemoteEntryNotFoundError, match="trailing '/'"):
        create_commit(api, "alice/m", [CommitOperationDelete("d")], commit_message="del")
    n_puts = len(hub.routes("PUT"))
    create_commit(api, "alice/m", [CommitOperationCopy("d/a.txt", "c/a.txt"), CommitOperationCopy("d/w.bin", "c/w.bin"),
                                   CommitOperationDelete("d/")], commit_message="move")
    assert hub.files == {"c/a.txt": (b"aa", False), "c/w.bin": (b"W" * 300, True)}
    assert len(hub.routes("PUT")) == n_puts  # the LFS copy is a reference, no bytes re-sent
    lines = [json.loads(x) for x in hub.requests[-1][3].splitlines()]
    assert lines[2] == {"key": "lfsFile", "value": {"path": "c/w.bin", "algo": "sha256",
                                                    "oid": hashlib.sha256(b"W" * 300).hexdigest()}}


def test_readme_validated_before_any_upload(hub, api):
    bad = b"---\ntags: [unclosed\n---\n# card\n"
    with pytest.raises(ValueError, match="Invalid metadata in README.md"):
        create_commit(api, "alice/m", [CommitOperationAdd("w.bin", b"W" * 1000), CommitOperationAdd("README.md", bad)],
                      commit_message="card")
    assert [p for _, p in hub.routes()] == ["/api/validate-yaml"]


def test_gitignored_files_are_skipped(hub, api):
    create_commit(api, "alice/m", [CommitOperationAdd("a.ignored", b"x" * 500), CommitOperationAdd("k.txt", b"k")],
                  commit_message="ig")
    assert list(hub.files) == ["k.txt"] and hub.routes("PUT") == []


def test_reused_operation_rejected(hub, api):
    op = CommitOperationAdd("a.txt", b"a")
    create_commit(api, "alice/m", [op], commit_message="one")
    with pytest.raises(ValueError, match="already"):
        create_commit(api, "alice/m", [op], commit_message="again")


def test_run_as_future_and_pr(hub, api):
    future = upload_file(api, path_or_fileobj=b"pr", path_in_repo="pr.txt", repo_id="alice/m", create_pr=True,
                         run_as_future=True)
    info = future.result(timeout=30)
    assert info.pr_num == 1 and info.pr_revision == "refs/pr/1" and info.pr_url.endswith("/discussions/1")
    assert hub.commits[-1]["summary"] == "Upload pr.txt with snuggle"


def test_file_changed_during_upload_aborts(hub, api, tmp_path):
    p = tmp_path / "grow.txt"
    p.write_bytes(b"abc")
    op = CommitOperationAdd("grow.txt", p)
    p.write_bytes(b"abcdef")  # changed after it was measured
    with pytest.raises(Exception, match="changed while"):
        create_commit(api, "alice/m", [op], commit_message="grow")
    assert hub.files == {}


def test_upload_folder_parts_and_resume(hub, api, tmp_path, monkeypatch):
    from snuggle.hub import upload

    monkeypatch.setattr(upload, "MAX_FILES_PER_COMMIT", 3)
    for i in range(7):
        (tmp_path / f"f{i}.txt").write_bytes(b"x%d" % i)
    (tmp_path / "f3.bin").write_bytes(b"W" * 400)  # LFS, in the part that fails
    real_send = commit_payload._send_commit
    calls = []

    def flaky_send(body, **kw):
        calls.append(kw["commit_message"])
        if len(calls) == 2:
            raise httpx.ConnectError("connection lost (test)")
        return real_send(body, **kw)

    monkeypatch.setattr(commit_payload, "_send_commit", flaky_send)
    warned = []
    monkeypatch.setattr(upload.logger, "warning", warned.append)
    with pytest.raises(httpx.ConnectError):
        upload_folder(api, repo_id="alice/m", folder_path=tmp_path, commit_message="up")
    assert len(warned) == 1 and "after 1 of 3 commits; run it again to upload the rest" in warned[0]
    assert [c["summary"] for c in hub.commits] == ["up"] and len(hub.files) == 3
    puts = len(hub.routes("PUT"))
    assert puts == 1
    monkeypatch.setattr(commit_payload, "_send_commit", real_send)
    upload_folder(api, repo_id="alice/m", folder_path=tmp_path, commit_message="up")
    # the re-run sends only what is missing: 5 files, in parts of 3
    assert [c["summary"] for c in hub.commits] == ["up", "up", "up (part 2)"]
    assert sum(len(c["ops"]) for c in hub.commits[1:]) == 5 and len(hub.files) == 8
    assert len(hub.routes("PUT")) == puts  # f3.bin was stored by the interrupted run already


def test_commit_info_fields_match_reference():
    import dataclasses

    from huggingface_hub import CommitInfo as RefCommitInfo

    assert [f.name for f in dataclasses.fields(CommitInfo)] == [f.name for f in dataclasses.fields(RefCommitInfo)]
    args = ("http://h/datasets/alice/d/commit/" + "b" * 40, "m", "d", "b" * 40)
    ours, ref = CommitInfo(*args, _endpoint="http://h"), RefCommitInfo(*args, _endpoint="http://h")
    assert str(ours) == str(ref) and ours.repo_url.repo_type == ref.repo_url.repo_type == "dataset"
    assert ours.repo_url.repo_id == ref.repo_url.repo_id == "alice/d"


def test_client_headers_on_every_hub_request(hub):
    from snuggle.hub import HfApi

    client = HfApi(endpoint=ENDPOINT, token=TOKEN, library_name="mylib", library_version="1.2",
                   headers={"X-Gateway-Key": "k"})
    client.create_commit("alice/m", [CommitOperationAdd("w.bin", b"W" * 500), CommitOperationAdd("a.txt", b"a"),
                                     CommitOperationAdd("README.md", b"# card\n")], commit_message="h")
    client.create_commit("alice/m", [CommitOperationCopy("a.txt", "b.txt")], commit_message="copy")
    routes = set()
    for method, path, headers, _ in hub.requests:
        routes.add("resolve" if "/resolve/" in path else "batch" if path.endswith("/batch")
                   else path.split("/")[-2] if path.startswith("/api/models") else path.split("/")[-1]
                   if path.startswith("/api/") else path.split("/")[1])
        if path.startswith("/lfs-put/"):
            assert "x-gateway-key" not in headers and "authorization" not in headers
        else:
            assert headers["x-gateway-key"] == "k" and headers["authorization"] == f"Bearer {TOKEN}", path
            assert headers["user-agent"].startswith("mylib/1.2;"), path
    assert routes == {"validate-yaml", "preupload", "batch", "lfs-put", "lfs-verify", "commit", "paths-info", "resolve"}


def test_bad_repo_id_or_type_fails_before_any_request(hub, api, tmp_path):
    for kwargs in ({"repo_id": "a/../b"}, {"repo_id": "alice/m", "repo_type": "models"}):
        with pytest.raises(ValueError):
            create_commit(api, operations=[CommitOperationAdd("a.txt", b"a")], commit_message="x", **kwargs)
        with pytest.raises(ValueError):
            upload_folder(api, folder_path=tmp_path, **kwargs)
    assert hub.requests == []
