"""snuggle.hub.http: error mapping (parity with huggingface_hub's hf_raise_for_status), token only to the
endpoint, redirects, retries, offline mode, Link pagination. All on httpx.MockTransport (no server)."""

from __future__ import annotations

import httpx
import pytest

from snuggle.errors import HubError, SnuggleError
from snuggle.hub import errors, http

ENDPOINT = "http://hub.test"


@pytest.fixture
def mock_session(monkeypatch):
    """Install an httpx.Client on a MockTransport as the shared session; returns a setter for the handler."""
    state = {"handler": None, "requests": []}

    def handler(request: httpx.Request) -> httpx.Response:
        state["requests"].append(request)
        return state["handler"](request)

    client = httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=False)
    monkeypatch.setattr(http, "_session", client)
    monkeypatch.setattr(http.time, "sleep", lambda s: state.setdefault("sleeps", []).append(s))
    monkeypatch.setenv("HF_ENDPOINT", ENDPOINT)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield state
    client.close()


# (status, headers, json body, url) -> expected class name
ERROR_CASES = [
    (404, {"X-Error-Code": "RevisionNotFound", "X-Error-Message": "Invalid rev id: x"}, {"error": "Invalid rev id: x"},
     "http://hub.test/api/models/a/b/revision/x", "RevisionNotFoundError"),
    (404, {"X-Error-Code": "EntryNotFound"}, {"error": "Entry not found"},
     "http://hub.test/a/b/resolve/main/x.bin", "RemoteEntryNotFoundError"),
    (403, {"X-Error-Code": "GatedRepo"}, {"error": "gated"}, "http://hub.test/api/models/a/b", "GatedRepoError"),
    (404, {"X-Error-Code": "RepoNotFound"}, {"error": "Repository not found"},
     "http://hub.test/api/datasets/a/b", "RepositoryNotFoundError"),
    (401, {"X-Error-Code": "RepoNotFound"}, {"error": "Repository not found"},
     "http://hub.test/api/models/a/b/tree/main", "RepositoryNotFoundError"),
    (401, {}, {"error": "Invalid username or password."}, "https://hub.test/api/models/a/b", "RepositoryNotFoundError"),
    (401, {"X-Error-Message": "Invalid credentials in Authorization header"}, {"error": "Invalid credentials"},
     "https://hub.test/api/models/a/b", "HfHubHTTPError"),
    (401, {}, {"error": "nope"}, "http://hub.test/api/models/a/b", "HfHubHTTPError"),  # http: header is the only signal
    (404, {}, {"error": "Not Found"}, "http://hub.test/a/b/resolve/main/x", "HfHubHTTPError"),
    (400, {}, {"error": "bad path"}, "http://hub.test/api/models/a/b/commit/main", "BadRequestError"),
    (403, {"X-Error-Message": "read token"}, {"error": "forbidden"}, "http://hub.test/api/repos/create",
     "HfHubHTTPError"),
    (409, {}, {"error": "You already created this model repo", "url": "x"}, "http://hub.test/api/repos/create",
     "HfHubHTTPError"),
    (412, {}, {"error": "A commit has happened since"}, "http://hub.test/api/models/a/b/commit/main",
     "HfHubHTTPError"),
    (429, {"Retry-After": "1"}, {"error": "slow down"}, "http://hub.test/api/models", "HfHubHTTPError"),
    (500, {}, None, "http://hub.test/api/models", "HfHubHTTPError"),
    (403, {"X-Error-Message": "Access to this resource is disabled."}, {}, "http://hub.test/api/models/a/b",
     "DisabledRepoError"),
]


def _ours(status, headers, body, url):
    kwargs = {"json": body} if body is not None else {"content": b"internal error"}
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", url), **kwargs)


@pytest.mark.parametrize("status,headers,body,url,expected", ERROR_CASES)
def test_error_mapping_matches_reference(status, headers, body, url, expected):
    httpx2 = pytest.importorskip("httpx2")
    from huggingface_hub.utils import hf_raise_for_status as ref_raise

    kwargs = {"json": body} if body is not None else {"content": b"internal error"}
    ref_response = httpx2.Response(status, headers=headers, request=httpx2.Request("GET", url), **kwargs)
    with pytest.raises(Exception) as ref_info:
        ref_raise(ref_response)
    with pytest.raises(errors.HfHubHTTPError) as our_info:
        http.hf_raise_for_status(_ours(status, headers, body, url))
    ours, ref = our_info.value, ref_info.value
    assert type(ours).__name__ == type(ref).__name__ == expected
    assert ours.server_message == ref.server_message
    assert getattr(ours, "repo_id", None) == getattr(ref, "repo_id", None)
    assert getattr(ours, "repo_type", None) == getattr(ref, "repo_type", None)
    # the first line (status and kind) is the same; our generic text omits the reference's MDN link
    assert str(ours).splitlines()[0] == str(ref).splitlines()[0]
    assert isinstance(ours, HubError) and isinstance(ours, SnuggleError) and isinstance(ours, OSError)
    assert ours.response.status_code == status


def test_error_hierarchy_matches_reference():
    import huggingface_hub.errors as ref

    for name in ["RepositoryNotFoundError", "GatedRepoError", "RevisionNotFoundError", "RemoteEntryNotFoundError",
                 "LocalEntryNotFoundError", "EntryNotFoundError", "BadRequestError", "OfflineModeIsEnabled",
                 "LocalTokenNotFoundError", "DisabledRepoError", "IncompleteSnapshotError", "HFValidationError",
                 "HfHubHTTPError"]:
        ours_cls, ref_cls = getattr(errors, name), getattr(ref, name)
        assert issubclass(ours_cls, HubError), name
        for other in ["RepositoryNotFoundError", "HfHubHTTPError", "EntryNotFoundError", "LocalEntryNotFoundError"]:
            assert issubclass(ours_cls, getattr(errors, other)) == issubclass(ref_cls, getattr(ref, other)), (name, other)
        for builtin in (OSError, ValueError, FileNotFoundError, ConnectionError, EnvironmentError):
            assert issubclass(ours_cls, builtin) == issubclass(ref_cls, builtin), (name, builtin)


def test_no_error_for_success_and_redirect():
    for status in (200, 204, 302, 307):
        http.hf_raise_for_status(_ours(status, {}, {}, "http://hub.test/x"))


def test_server_message_and_request_id_in_text():
    r = _ours(404, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "no such repo: a/b",
                    "X-Request-Id": "req-1"}, {"error": "no such repo: a/b"}, "http://hub.test/api/models/a/b")
    with pytest.raises(errors.RepositoryNotFoundError) as info:
        http.hf_raise_for_status(r)
    text = str(info.value)
    assert text.startswith("404 Client Error. (Request ID: req-1)")
    assert text.endswith("permissions.\nno such repo: a/b") and info.value.request_id == "req-1"


def test_error_pickles():
    import pickle

    with pytest.raises(errors.RevisionNotFoundError) as info:
        http.hf_raise_for_status(_ours(404, {"X-Error-Code": "RevisionNotFound"}, {"error": "no rev"},
                                       "http://hub.test/api/models/a/b/revision/x"))
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is errors.RevisionNotFoundError and str(copy) == str(info.value)
    assert copy.server_message == "no rev"


# ---- request(): tokens, redirects, retries ----
def test_token_sent_only_to_endpoint(mock_session):
    mock_session["handler"] = lambda r: httpx.Response(200, json={})
    http.request("GET", f"{ENDPOINT}/api/whoami-v2", token="hf_secret")
    http.request("GET", "http://other.test/file", token="hf_secret")
    http.request("GET", "http://hub.test:8080/file", token="hf_secret")  # another port is another origin
    first, second, third = mock_session["requests"]
    assert first.headers["authorization"] == "Bearer hf_secret"
    assert "authorization" not in second.headers and "authorization" not in third.headers
    assert first.headers["user-agent"].startswith("snuggle/") and "python/" in first.headers["user-agent"]


def test_caller_authorization_header_not_sent_elsewhere(mock_session):
    mock_session["handler"] = lambda r: httpx.Response(200, json={})
    http.request("GET", "http://other.test/x", headers={"Authorization": "Bearer hf_x"})
    assert "authorization" not in mock_session["requests"][0].headers


def test_redirect_across_hosts_drops_token(mock_session):
    def handler(request):
        if request.url.host == "hub.test":
            return httpx.Response(302, headers={"Location": "http://storage.test/blob?sig=1"})
        return httpx.Response(200, content=b"data")

    mock_session["handler"] = handler
    r = http.request("GET", f"{ENDPOINT}/a/b/resolve/main/w.bin", token="hf_secret")
    assert r.content == b"data"
    hub_req, storage_req = mock_session["requests"]
    assert hub_req.headers["authorization"] == "Bearer hf_secret"
    assert "authorization" not in storage_req.headers


def test_relative_redirect_keeps_token_and_method(mock_session):
    def handler(request):
        if request.url.path == "/api/models/old/name":
            return httpx.Response(307, headers={"Location": "/api/models/new/name"})
        return httpx.Response(200, json={"id": "new/name"})

    mock_session["handler"] = handler
    assert http.request("GET", f"{ENDPOINT}/api/models/old/name", token="hf_t").json() == {"id": "new/name"}
    assert all(r.headers["authorization"] == "Bearer hf_t" for r in mock_session["requests"])


def test_retry_429_honours_retry_after(mock_session):
    answers = iter([httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json=[1])])
    mock_session["handler"] = lambda r: next(answers)
    assert http.request("POST", f"{ENDPOINT}/api/x", json={"a": 1}).json() == [1]
    assert mock_session["sleeps"] == [3.0]
    assert [r.content for r in mock_session["requests"]] == [b'{"a":1}', b'{"a":1}']


def test_retry_is_bounded(mock_session):
    mock_session["handler"] = lambda r: httpx.Response(429, headers={"Retry-After": "0"})
    with pytest.raises(errors.HfHubHTTPError) as info:
        http.request("GET", f"{ENDPOINT}/api/models", max_retries=2)
    assert info.value.response.status_code == 429 and len(mock_session["requests"]) == 3


def test_connection_errors_retried_then_raised(mock_session):
    calls = []

    def handler(request):
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"ok": True})

    mock_session["handler"] = handler
    assert http.request("GET", f"{ENDPOINT}/api/whoami-v2").json() == {"ok": True}

    def always(request):
        raise httpx.ConnectError("refused", request=request)

    mock_session["handler"] = always
    with pytest.raises(httpx.ConnectError):
        http.request("GET", f"{ENDPOINT}/api/whoami-v2", max_retries=1)


def test_post_read_error_not_retried(mock_session):
    def handler(request):
        raise httpx.ReadError("reset", request=request)

    mock_session["handler"] = handler
    with pytest.raises(httpx.ReadError):
        http.request("POST", f"{ENDPOINT}/api/models/a/b/commit/main", content=b"x")
    assert len(mock_session["requests"]) == 1


def test_offline_mode_blocks_requests(mock_session, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    mock_session["handler"] = lambda r: httpx.Response(200)
    with pytest.raises(errors.OfflineModeIsEnabled):
        http.request("GET", f"{ENDPOINT}/api/models")
    assert mock_session["requests"] == []


def test_paginate_follows_link_on_endpoint_only(mock_session):
    def handler(request):
        page = int(request.url.params.get("cursor", "0"))
        headers = {"Link": f'<{ENDPOINT}/api/models?cursor={page + 1}>; rel="next"'} if page < 2 else {}
        return httpx.Response(200, json=[page], headers=headers)

    mock_session["handler"] = handler
    assert list(http.paginate(f"{ENDPOINT}/api/models", token="hf_t")) == [0, 1, 2]
    assert all(r.headers["authorization"] == "Bearer hf_t" for r in mock_session["requests"])

    mock_session["handler"] = lambda r: httpx.Response(200, json=[0], headers={
        "Link": '<http://evil.test/api/models?cursor=1>; rel="next"'})
    with pytest.raises(errors.HfHubHTTPError, match="not on the endpoint"):
        list(http.paginate(f"{ENDPOINT}/api/models", token="hf_t"))


def test_build_hf_headers_token_semantics(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_TOKEN_PATH", raising=False)
    assert "authorization" not in http.build_hf_headers()
    with pytest.raises(errors.LocalTokenNotFoundError):
        http.build_hf_headers(token=True)
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    assert http.build_hf_headers()["authorization"] == "Bearer hf_env"
    assert http.build_hf_headers(token=True)["authorization"] == "Bearer hf_env"
    assert "authorization" not in http.build_hf_headers(token=False)
    assert http.build_hf_headers(token="hf_x")["authorization"] == "Bearer hf_x"
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    assert "authorization" not in http.build_hf_headers()
    assert http.build_hf_headers(token=True)["authorization"] == "Bearer hf_env"


def test_import_is_cheap():
    import subprocess
    import sys

    code = ("import sys, snuggle.hub, snuggle.hub.client, snuggle.hub.http; "
            "print('httpx' in sys.modules, 'fastapi' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "False"]


def test_constants_read_at_call_time(monkeypatch, tmp_path):
    from snuggle.hub import constants

    monkeypatch.setenv("HF_ENDPOINT", "http://a.test/")
    assert constants.endpoint() == constants.ENDPOINT == "http://a.test"
    monkeypatch.setenv("HF_ENDPOINT", "http://b.test")
    assert constants.ENDPOINT == "http://b.test"
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_TOKEN_PATH", raising=False)
    assert constants.HF_HUB_CACHE == str(tmp_path / "hub")
    assert constants.token_path() == str(tmp_path / "token")
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "3")
    assert constants.etag_timeout() == 3
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "yes")
    assert constants.progress_bars_disabled() is True


def test_forked_child_gets_its_own_session(mock_session):
    import os

    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    parent = http.get_session()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report whether it still sees the parent's client, then leave at once
        os.write(write, b"1" if http._session is parent else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"0"
    assert http.get_session() is parent
