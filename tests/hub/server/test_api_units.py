"""Unit tests of the Hub HTTP layer's pure pieces: raw-path routing, Range parsing, auth headers,
LFS URL signatures, the incremental NDJSON commit parser, validate-yaml, timestamps."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest

from snuggle.hub.server import ndjson_commit
from snuggle.hub.server.auth_http import token_from_header
from snuggle.hub.server.errors import BadRequest, TooLarge, Unauthorized
from snuggle.hub.server.jsonshapes import iso_z
from snuggle.hub.server.ndjson_commit import StoredContent, decode_base64_stream, iter_commit_lines
from snuggle.hub.server.rawpath import match_route, split_raw_path
from snuggle.hub.server.routes_files import RangeNotSatisfiable, parse_range
from snuggle.hub.server.routes_lfs import check_upload_signature, sign_upload
from snuggle.hub.server.routes_upload import front_matter_errors


def route(method, raw):
    m = match_route(method, split_raw_path(raw))
    return (m.name, m.params) if m else None


# ---- raw path routing (spec §1.3) ----------------------------------------------------------------------


def test_encoded_slash_in_revision_and_tree_path_stays_one_segment():
    name, p = route("GET", b"/api/models/ns/m/tree/feat%2Fx/dir%2Fsub")
    assert name == "tree" and p["rev"] == "feat/x" and p["path"] == "dir/sub"
    assert p["repo_type"] == "model" and p["repo_id"] == "ns/m"


def test_resolve_paths_keep_literal_slashes_and_decode_each_segment():
    name, p = route("HEAD", b"/datasets/ns/d/resolve/refs%2Fpr%2F3/dir%20with%20space/%C3%BCn.txt")
    assert name == "resolve" and p["repo_type"] == "dataset"
    assert p["rev"] == "refs/pr/3" and p["path"] == "dir with space/ün.txt"
    name, p = route("GET", b"/ns/m/resolve/main/a/b.bin")
    assert (name, p["repo_type"], p["path"]) == ("resolve", "model", "a/b.bin")


def test_unencoded_pr_and_convert_revisions_are_accepted():
    assert route("GET", b"/ns/m/resolve/refs/pr/7/file.txt")[1]["rev"] == "refs/pr/7"
    assert route("GET", b"/api/models/ns/m/revision/refs/convert/parquet")[1]["rev"] == "refs/convert/parquet"
    assert route("GET", b"/api/datasets/ns/m/tree/refs/convert/parquet/x")[1]["path"] == "x"


def test_api_routes_and_unknown_api_paths():
    assert route("GET", b"/api/whoami-v2")[0] == "whoami"
    assert route("POST", b"/api/repos/create")[0] == "repo_create"
    assert route("GET", b"/api/spaces")[0] == "list_repos"
    assert route("POST", b"/api/models/ns/m/branch/feat%2Fx")[1]["ref_name"] == "feat/x"
    assert route("DELETE", b"/api/models/ns/m/tag/v1.0")[0] == "tag"
    assert route("GET", b"/api/models/ns/m/discussions/3")[1]["num"] == "3"
    assert route("GET", b"/api/models/ns/m/xet-read-token/main")[0] == "xet_token"
    # unknown /api routes and wrong methods: JSON 404, never the web pages
    assert route("GET", b"/api/collections")[0] == "not_found"
    assert route("GET", b"/api/models/ns/m/commit/main")[0] == "not_found"
    assert route("GET", b"/api/kernels/ns/m")[0] == "not_found"
    # web pages are not ours
    assert route("GET", b"/ns/m") is None
    assert route("GET", b"/ns/m/tree/main/dir") is None
    assert route("GET", b"/") is None


def test_lfs_routes():
    assert route("POST", b"/ns/m.git/info/lfs/objects/batch") == ("lfs_batch", {"repo_type": "model", "repo_id": "ns/m"})
    assert route("POST", b"/datasets/ns/d.git/info/lfs/objects/batch")[1]["repo_type"] == "dataset"
    name, p = route("PUT", b"/spaces/ns/s.git/info/lfs/objects/" + b"a" * 64)
    assert name == "lfs_put" and p["oid"] == "a" * 64 and p["repo_type"] == "space"
    assert route("POST", b"/ns/m.git/info/lfs/objects/verify")[0] == "lfs_verify"
    assert route("GET", b"/ns/m.git/info/lfs/objects/" + b"a" * 64)[0] == "lfs_get"
    assert route("GET", b"/ns/m.git/info/lfs/objects/batch")[0] == "not_found"


def test_split_raw_path_rejects_invalid_utf8():
    with pytest.raises(BadRequest):
        split_raw_path(b"/api/models/ns/%FF/tree/main")


# ---- ranges ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header,expected", [
    ("bytes=0-0", (0, 0)), ("bytes=10-", (10, 99)), ("bytes=-5", (95, 99)), ("bytes=90-500", (90, 99)),
    ("bytes=-500", (0, 99)), (None, None), ("bytes=1-2,5-6", None), ("items=0-1", None), ("bytes=5-2", None),
    ("bytes=abc", None),
])
def test_parse_range(header, expected):
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=150-160", "bytes=-0"])
def test_parse_range_not_satisfiable(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


# ---- auth headers ------------------------------------------------------------------------------------------


def test_token_from_header():
    assert token_from_header("Bearer hf_x") == "hf_x"
    assert token_from_header("bearer   hf_y ") == "hf_y"
    assert token_from_header("Basic " + base64.b64encode(b"git:hf_z").decode()) == "hf_z"
    assert token_from_header(None) is None and token_from_header("") is None
    for bad in ("Bearer", "Token abc", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode()):
        with pytest.raises(Unauthorized):
            token_from_header(bad)


# ---- LFS signatures ----------------------------------------------------------------------------------------


def test_lfs_signature_binds_every_field():
    key = b"s" * 32
    args = ("model", "alice/m", 3, "b" * 64, 10, 1_900_000_000, "alice")
    sig = sign_upload(key, *args)
    assert check_upload_signature(key, *args, sig)
    for i, changed in enumerate(["dataset", "alice/n", 4, "c" * 64, 11, 1_900_000_001, "bob"]):
        other = list(args)
        other[i] = changed
        assert not check_upload_signature(key, *other, sig), f"field {i} is not covered by the signature"
    assert not check_upload_signature(b"t" * 32, *args, sig)
    assert not check_upload_signature(key, *args, "")
    assert not check_upload_signature(key, *args, sig, kind="download")


# ---- NDJSON commit parsing -----------------------------------------------------------------------------------


class FakeStore:
    def __init__(self):
        self.blobs = {}

    def __call__(self, chunks):
        data = b"".join(chunks)
        sha = hashlib.sha256(data).hexdigest()
        self.blobs[sha] = data
        return sha, len(data)


def ndjson(*objs) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


def file_line(path, data: bytes):
    return {"key": "file", "value": {"content": base64.b64encode(data).decode(), "path": path, "encoding": "base64"}}


def split_chunks(body: bytes, size: int):
    return [body[i:i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_commit_lines_store_content_small_and_streamed(monkeypatch, streaming, chunk):
    if streaming:  # every line counts as "long": exercises the streaming JSON reader
        monkeypatch.setattr(ndjson_commit, "SMALL_LINE", 8)
    payload = bytes(range(256)) * 3
    body = ndjson({"key": "header", "value": {"summary": "t \"quoted\" \\ ü", "description": "d"}},
                  file_line("a/b.bin", payload), file_line("empty.txt", b""),
                  {"key": "deletedFile", "value": {"path": "x"}})
    store = FakeStore()
    lines = list(iter_commit_lines(split_chunks(body, chunk), store=store))
    assert [o["key"] for o in lines] == ["header", "file", "file", "deletedFile"]
    assert lines[0]["value"]["summary"] == 't "quoted" \\ ü'
    content = lines[1]["value"]["content"]
    assert isinstance(content, StoredContent) and content.size == len(payload)
    assert store.blobs[content.sha256] == payload
    assert lines[2]["value"]["content"].size == 0
    assert lines[1]["value"]["path"] == "a/b.bin"


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("content", ["***", "YW5vbg", "YQ==YQ==", "YW5v bg=="])
def test_commit_lines_reject_invalid_base64(monkeypatch, streaming, content):
    if streaming:
        monkeypatch.setattr(ndjson_commit, "SMALL_LINE", 8)
    body = (b'{"key": "header", "value": {"summary": "x"}}\n'
            + b'{"key": "file", "value": {"content": "' + content.encode() + b'", "path": "a"}}\n')
    with pytest.raises(BadRequest):
        list(iter_commit_lines([body], store=FakeStore()))


def test_decode_base64_stream_any_split():
    data = bytes(range(200))
    text = base64.b64encode(data)
    for size in (1, 3, 5, 64):
        assert b"".join(decode_base64_stream(split_chunks(text, size))) == data
    with pytest.raises(TooLarge):
        list(decode_base64_stream([text], max_size=100))


@pytest.mark.parametrize("body", [b"not json\n", b"[1, 2]\n", b'{"key": "file", "value": {"content": "YQ==", "path": "a"}} x\n'])
def test_commit_lines_malformed(monkeypatch, body):
    monkeypatch.setattr(ndjson_commit, "SMALL_LINE", 8)
    with pytest.raises(BadRequest):
        list(iter_commit_lines([body], store=FakeStore()))


def test_commit_limits():
    body = ndjson({"key": "header", "value": {"summary": "x"}}, file_line("a", b"z" * 300))
    with pytest.raises(TooLarge):
        list(iter_commit_lines([body], store=FakeStore(), max_body=100))
    with pytest.raises(TooLarge):
        list(iter_commit_lines([body], store=FakeStore(), max_line=200))
    with pytest.raises(TooLarge):
        list(iter_commit_lines([body], store=FakeStore(), max_inline=299))
    assert len(list(iter_commit_lines([body], store=FakeStore(), max_inline=300))) == 2


def test_streamed_line_limit(monkeypatch):
    monkeypatch.setattr(ndjson_commit, "SMALL_LINE", 8)
    body = ndjson({"key": "header", "value": {"summary": "x"}}, file_line("a", b"z" * 3000))
    with pytest.raises(TooLarge):
        list(iter_commit_lines(split_chunks(body, 100), store=FakeStore(), max_line=1000))


# ---- validate-yaml, timestamps -------------------------------------------------------------------------------


def test_front_matter_errors():
    assert front_matter_errors("# no front matter\n") == []
    assert front_matter_errors("---\nlicense: mit\ntags:\n- a\n---\ntext") == []
    assert front_matter_errors("---\n---\n") == []
    assert front_matter_errors("---\nlicense: [unclosed\n  : : :\n---\n# bad\n")
    assert front_matter_errors("---\njust a string\n---\n")


def test_iso_z_always_utc_with_z():
    plus_two = timezone(timedelta(hours=2))
    assert iso_z(datetime(2024, 1, 1, 14, 0, tzinfo=plus_two)) == "2024-01-01T12:00:00.000Z"
    assert iso_z(datetime(2024, 1, 1, 12, 0)) == "2024-01-01T12:00:00.000Z"
    assert iso_z(None) is None


def test_stalled_request_body_times_out(monkeypatch):
    import anyio

    from snuggle.hub.server import context

    async def stalled():
        yield b"first"
        await anyio.sleep(30)
        yield b"never"

    async def read_all():
        stream = stalled().__aiter__()
        got = [await context.next_body_chunk(stream)]
        with pytest.raises(context.RequestTimeout) as e:
            got.append(await context.next_body_chunk(stream))
        assert e.value.status == 408
        return got

    monkeypatch.setattr(context, "BODY_IDLE_TIMEOUT", 0.05)
    assert anyio.run(read_all) == [b"first"]
