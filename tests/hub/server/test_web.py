"""The Hub web pages over the real app (create_app) and a real backend, in process (starlette TestClient).

One module-scoped Hub holds:
  alice/tiny-bert   public model: a hostile card (script, img onerror, javascript: links), config.json with
                    markup, a binary file, a nested folder, an LFS file; branch feat/x and tag v1.0
  alice/secret      private model          alice/sst2  public dataset      alice/hidden-ds  private dataset
The pages must render the card safely, list/serve nothing private to anyone but alice, and follow
revisions with '/' (feat%2Fx) exactly like the API does.
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip("fastapi")

from starlette.testclient import TestClient  # noqa: E402

from snuggle.hub.server.records import AddFile  # noqa: E402

CARD = """---
license: apache-2.0
tags:
- text-classification
- tiny
datasets:
- alice/sst2
model-index:
- name: tiny-bert
  results: []
---
# Tiny BERT card

Trained on [SST-2](https://example.org/sst2). See the [config](config.json) and ![plot](images/plot.png).

<script>document.title = "pwned-by-card"</script>
<img src=x onerror="document.title='pwned-img'">
[click me](javascript:alert(1)) and [again](JaVaScRiPt&#58;alert(2))

| metric | value |
|:-------|------:|
| acc    | 0.91  |

```python
print("<b>not bold</b>")
```
"""
FEAT_CARD = "# Feature branch card\n\nOnly on feat/x.\n"
CONFIG = '{"model_type": "bert", "note": "<b>hi</b> & bye"}\n'
BINARY = bytes(range(256)) * 8


def _store(backend, data: bytes) -> tuple[str, int]:
    return backend.store_blob(iter([data]))


def _commit(backend, principal, repo, files: dict, summary: str, revision: str = "main", lfs=()):
    ops = []
    for path, data in files.items():
        data = data.encode() if isinstance(data, str) else data
        sha, size = _store(backend, data)
        if path in lfs:
            backend.record_lfs_upload(principal, repo, sha, size)
        ops.append(AddFile(path, sha, size, lfs=path in lfs))
    commit, _ = backend.commit(principal, repo, revision, ops, summary=summary)
    return commit


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    from snuggle.hub.server.app import create_app
    from snuggle.hub.server.backend import HubBackend
    from snuggle.hub.server.config import ServerConfig

    backend = HubBackend(ServerConfig(data_dir=tmp_path_factory.mktemp("hub-web")))
    backend.add_user("alice")
    backend.add_user("bob")
    tokens = {"alice": backend.create_token("alice"), "bob": backend.create_token("bob"),
              "alice_read": backend.create_token("alice", role="read", name="read")}
    alice = backend.authenticate(tokens["alice"])

    model = backend.create_repo(alice, "model", "alice/tiny-bert")
    _commit(backend, alice, model, {"README.md": CARD, "config.json": CONFIG, "weights.bin": BINARY,
                                    "docs/deep/notes.txt": "nested <notes>\n"}, "Add the tiny model")
    _commit(backend, alice, model, {"big.bin": BINARY * 4}, "Add an LFS file", lfs={"big.bin"})
    backend.create_branch(alice, model, "feat/x")
    _commit(backend, alice, model, {"README.md": FEAT_CARD, "only-on-feat.txt": "feature\n"},
            "Work on the feature", revision="feat/x")
    backend.create_tag(alice, model, "main", "v1.0")

    secret = backend.create_repo(alice, "model", "alice/secret", private=True)
    _commit(backend, alice, secret, {"README.md": "# TOPSECRET card\n", "weights.txt": "TOPSECRET\n"}, "Secret stuff")
    dataset = backend.create_repo(alice, "dataset", "alice/sst2")
    _commit(backend, alice, dataset, {"README.md": "---\nlicense: mit\n---\n# SST-2 subset\n",
                                      "data/train.csv": "text,label\nfine,1\n"}, "Add data")
    backend.create_repo(alice, "dataset", "alice/hidden-ds", private=True)

    app = create_app(backend)
    with TestClient(app) as client:
        yield {"client": client, "backend": backend, "tokens": tokens}
    backend.close()


@pytest.fixture
def client(hub):
    hub["client"].cookies.clear()
    return hub["client"]


def _auth(hub, who="alice"):
    return {"Authorization": f"Bearer {hub['tokens'][who]}"}


def _listed(html: str) -> set[str]:
    """The repo pages a listing links to as cards ('/alice/x', '/datasets/alice/y')."""
    return set(re.findall(r'<a class="card" href="([^"]+)">', html))


# ---- home, search, listings ------------------------------------------------------------------------


def test_home_lists_public_repos_newest_first_and_hides_private(client, hub):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    body = r.text
    assert _listed(body) == {"/alice/tiny-bert", "/datasets/alice/sst2"}
    assert "alice/secret" not in body and "alice/hidden-ds" not in body
    # counts exclude private repos too: 1 public model, 1 public dataset
    assert re.search(r'id="models".*?class="muted count">1<', body, re.S)
    assert re.search(r'id="datasets".*?class="muted count">1<', body, re.S)
    assert _listed(client.get("/", headers=_auth(hub, "bob")).text) == _listed(body)
    everything = {"/alice/tiny-bert", "/alice/secret", "/datasets/alice/sst2", "/datasets/alice/hidden-ds"}
    assert _listed(client.get("/", headers=_auth(hub, "alice_read")).text) == everything
    owner = client.get("/", headers=_auth(hub)).text
    assert _listed(owner) == everything
    assert re.search(r'id="models".*?class="muted count">2<', owner, re.S)


def test_search_filters_and_escapes_the_query(client):
    r = client.get("/search", params={"q": "tiny"})
    assert r.status_code == 200
    assert _listed(r.text) == {"/alice/tiny-bert"}
    assert _listed(client.get("/", params={"q": "SST"}).text) == {"/datasets/alice/sst2"}
    assert _listed(client.get("/", params={"q": "secret"}).text) == set()
    assert "No models match" in client.get("/", params={"q": "secret"}).text
    evil = client.get("/", params={"q": '"><script>alert(1)</script>'}).text
    assert "<script>alert(1)</script>" not in evil and "&lt;script&gt;alert(1)&lt;/script&gt;" in evil


def test_type_listing_and_author_page(client, hub):
    assert _listed(client.get("/models").text) == {"/alice/tiny-bert"}
    assert _listed(client.get("/datasets").text) == {"/datasets/alice/sst2"}
    assert _listed(client.get("/datasets", headers=_auth(hub)).text) == {"/datasets/alice/sst2",
                                                                         "/datasets/alice/hidden-ds"}
    author = client.get("/alice")
    assert author.status_code == 200 and _listed(author.text) == {"/alice/tiny-bert", "/datasets/alice/sst2"}
    # bob has only... nothing public: indistinguishable from an unknown name
    assert client.get("/bob").status_code == 404
    assert client.get("/nobody-here").status_code == 404


# ---- the card ----------------------------------------------------------------------------------------


def test_card_renders_markdown_and_metadata_table(client):
    r = client.get("/alice/tiny-bert")
    assert r.status_code == 200
    html = r.text
    assert re.search(r"<h1[^>]*>Tiny BERT card</h1>", html)
    meta = re.search(r'<table class="list meta" id="metadata">(.*?)</table>', html, re.S).group(1)
    assert "<th>license</th>" in meta and "apache-2.0" in meta
    assert 'class="chip">text-classification<' in meta
    assert 'href="/datasets/alice/sst2"' in meta  # datasets entries link to the dataset page
    assert "results: []" in meta  # nested YAML shown as YAML
    # the front matter is not rendered as markdown
    assert "model-index:" not in html.split('id="card"')[1]
    # markdown table + code block; relative links point into the repo at this revision
    assert '<td style="text-align: right;">0.91</td>' in html
    assert "print(&quot;&lt;b&gt;not bold&lt;/b&gt;&quot;)" in html or 'print("&lt;b&gt;not bold&lt;/b&gt;")' in html
    assert 'href="/alice/tiny-bert/blob/main/config.json"' in html
    assert 'src="/alice/tiny-bert/resolve/main/images/plot.png"' in html
    assert 'rel="nofollow noopener noreferrer"' in html


def test_card_html_is_escaped_not_executed(client):
    html = client.get("/alice/tiny-bert").text
    card = html.split('id="card"', 1)[1]
    assert "<script" not in card and "&lt;script&gt;" in card
    assert "<img src=x" not in card and "onerror" not in re.sub(r"&lt;.*?&gt;", "", card)
    assert "javascript:" not in card.lower().replace("&lt;", "")  # no link keeps a javascript: href
    assert not re.search(r'href="\s*javascript', card, re.I)
    assert "pwned" not in "".join(re.findall(r"<title>(.*?)</title>", html))
    csp = client.get("/alice/tiny-bert").headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp


def test_card_at_another_revision_and_missing_card(client, hub):
    r = client.get("/alice/tiny-bert", params={"revision": "feat/x"})
    assert r.status_code == 200 and "Feature branch card" in r.text and "Tiny BERT card" not in r.text
    assert 'href="/alice/tiny-bert/tree/feat%2Fx"' in r.text  # tabs stay on the revision
    assert client.get("/alice/tiny-bert", params={"revision": "nope"}).status_code == 404
    empty = client.get("/datasets/alice/hidden-ds", headers=_auth(hub))
    assert empty.status_code == 200 and "no card yet" in empty.text


def test_dataset_page(client):
    r = client.get("/datasets/alice/sst2")
    assert r.status_code == 200 and "SST-2 subset" in r.text and "Dataset card" in r.text
    assert 'href="/datasets/alice/sst2/tree/main"' in r.text
    # a dataset is not a model (and vice versa)
    assert client.get("/alice/sst2").status_code == 404
    assert client.get("/datasets/alice/tiny-bert").status_code == 404


# ---- privacy ---------------------------------------------------------------------------------------


PRIVATE_PAGES = ["/alice/secret", "/alice/secret/tree/main", "/alice/secret/blob/main/weights.txt",
                 "/alice/secret/commits/main", "/alice/secret?revision=main", "/datasets/alice/hidden-ds",
                 "/datasets/alice/hidden-ds/tree/main"]


@pytest.mark.parametrize("who", [None, "bob"])
def test_private_repo_pages_look_exactly_like_missing_ones(client, hub, who):
    headers = _auth(hub, who) if who else {}
    missing = client.get("/alice/no-such-repo", headers=headers)
    assert missing.status_code == 404
    for url in PRIVATE_PAGES:
        r = client.get(url, headers=headers)
        assert r.status_code == 404, url
        assert r.text == missing.text, url  # same page, no hint that something is there
        assert "TOPSECRET" not in r.text
    assert "secret" not in client.get("/", headers=headers).text
    assert "hidden-ds" not in client.get("/datasets", headers=headers).text


def test_owner_sees_private_pages_with_header_or_read_token(client, hub):
    for who in ("alice", "alice_read"):
        for url in PRIVATE_PAGES[:4]:
            r = client.get(url, headers=_auth(hub, who))
            assert r.status_code == 200, (url, who)
        assert "TOPSECRET" in client.get("/alice/secret/blob/main/weights.txt", headers=_auth(hub, who)).text
        assert "no-store" in client.get("/alice/secret", headers=_auth(hub, who)).headers["cache-control"]


def test_invalid_token_is_401_never_anonymous(client):
    r = client.get("/alice/tiny-bert", headers={"Authorization": "Bearer hf_not_a_real_token"})
    assert r.status_code == 401 and "Tiny BERT card" not in r.text
    client.cookies.set("hf_token", "hf_stale")
    r = client.get("/")
    assert r.status_code == 401
    assert 'hf_token=""' in r.headers.get("set-cookie", "") or "Max-Age=0" in r.headers.get("set-cookie", "")


# ---- sign in / out ---------------------------------------------------------------------------------


def test_login_sets_httponly_cookie_that_shows_private_repos(client, hub):
    form = client.get("/login")
    assert form.status_code == 200 and 'type="password"' in form.text and 'name="token"' in form.text
    r = client.post("/login", data={"token": hub["tokens"]["alice"], "next": "/alice/secret"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/alice/secret"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("hf_token=") and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    page = client.get("/alice/secret")
    assert page.status_code == 200 and "TOPSECRET card" in page.text and "Sign out" in page.text
    out = client.post("/logout", follow_redirects=False)
    assert out.status_code == 303
    client.cookies.clear()  # the test client does not always drop a cookie deleted for path "/"
    assert client.get("/alice/secret").status_code == 404


def test_login_rejects_bad_tokens_open_redirects_and_cross_site_posts(client, hub):
    bad = client.post("/login", data={"token": "hf_wrong"}, follow_redirects=False)
    assert bad.status_code == 401 and "set-cookie" not in bad.headers and "Unknown, expired" in bad.text
    assert client.post("/login", data={"token": ""}, follow_redirects=False).status_code == 400
    r = client.post("/login", data={"token": hub["tokens"]["bob"], "next": "//evil.example/x"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    client.cookies.clear()
    cross = client.post("/login", data={"token": hub["tokens"]["alice"]}, follow_redirects=False,
                        headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and "set-cookie" not in cross.headers
    cross = client.post("/login", data={"token": hub["tokens"]["alice"]}, follow_redirects=False,
                        headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403


# ---- files, history, revisions ----------------------------------------------------------------------


def test_tree_lists_folders_first_with_sizes_and_links(client):
    r = client.get("/alice/tiny-bert/tree/main")
    assert r.status_code == 200
    rows = re.findall(r'<tr class="(file|directory)">.*?<a href="([^"]+)">([^<]+)</a>', r.text, re.S)
    names = [name for _, _, name in rows]
    assert names[0] == "docs" and set(names) >= {"README.md", "config.json", "weights.bin", "big.bin"}
    assert ("directory", "/alice/tiny-bert/tree/main/docs", "docs") in rows
    assert ("file", "/alice/tiny-bert/blob/main/config.json", "config.json") in rows
    assert 'href="/alice/tiny-bert/resolve/main/weights.bin"' in r.text
    assert "2.05 kB" in r.text  # weights.bin: 2048 bytes
    assert ">LFS<" in r.text  # big.bin is an LFS file
    assert "only-on-feat.txt" not in r.text
    sub = client.get("/alice/tiny-bert/tree/main/docs/deep")
    assert sub.status_code == 200 and "/alice/tiny-bert/blob/main/docs/deep/notes.txt" in sub.text
    assert client.get("/alice/tiny-bert/tree/main/no-such-dir").status_code == 404
    assert client.get("/alice/tiny-bert/tree/main/..%2F..%2Fetc").status_code == 404
    # a file under /tree/ redirects to its file view, a folder under /blob/ to its listing
    assert client.get("/alice/tiny-bert/tree/main/config.json", follow_redirects=False).headers["location"] == \
        "/alice/tiny-bert/blob/main/config.json"
    assert client.get("/alice/tiny-bert/blob/main/docs", follow_redirects=False).headers["location"] == \
        "/alice/tiny-bert/tree/main/docs"


def test_revisions_with_slash_and_switcher_links(client, hub):
    r = client.get("/alice/tiny-bert/tree/feat%2Fx")
    assert r.status_code == 200 and "only-on-feat.txt" in r.text
    assert 'href="/alice/tiny-bert/blob/feat%2Fx/only-on-feat.txt"' in r.text
    switch = re.search(r'<ul class="revs">(.*?)</ul>', r.text, re.S).group(1)
    links = dict((name, href) for href, name in re.findall(r'<a href="([^"]+)"[^>]*><span class="kind">\w+</span>'
                                                           r'([^<]+)</a>', switch))
    assert links == {"main": "/alice/tiny-bert/tree/main", "feat/x": "/alice/tiny-bert/tree/feat%2Fx",
                     "v1.0": "/alice/tiny-bert/tree/v1.0"}
    assert 'class="on" data-kind="branch"><span class="kind">branch</span>feat/x' in switch
    assert '<span class="muted rev-kind">branch:</span> <strong class="current-rev">feat/x</strong>' in r.text
    tagged = client.get(links["v1.0"])
    assert tagged.status_code == 200 and "only-on-feat.txt" not in tagged.text and "big.bin" in tagged.text
    assert '<span class="muted rev-kind">tag:</span> <strong class="current-rev">v1.0</strong>' in tagged.text
    # the switcher on a file view keeps the path
    blob = client.get("/alice/tiny-bert/blob/main/config.json").text
    assert 'href="/alice/tiny-bert/blob/feat%2Fx/config.json"' in blob
    # a full commit id works as a revision, an unknown one is the 404 page
    head = hub["backend"].resolve_revision(hub["backend"].get_repo(None, "model", "alice/tiny-bert"), "feat/x")[0]
    at_commit = client.get(f"/alice/tiny-bert/tree/{head.oid}").text
    assert "only-on-feat.txt" in at_commit and '<span class="muted rev-kind">commit:</span>' in at_commit
    assert client.get("/alice/tiny-bert/tree/no-such-branch").status_code == 404


def test_blob_shows_text_escaped_and_binary_as_download(client, monkeypatch):
    r = client.get("/alice/tiny-bert/blob/main/config.json")
    assert r.status_code == 200
    assert "&lt;b&gt;hi&lt;/b&gt; &amp; bye" in r.text and "<b>hi</b>" not in r.text
    assert 'href="/alice/tiny-bert/resolve/main/config.json"' in r.text
    binary = client.get("/alice/tiny-bert/blob/main/weights.bin")
    assert binary.status_code == 200 and "Binary file" in binary.text and "2.05 kB" in binary.text
    assert 'href="/alice/tiny-bert/resolve/main/weights.bin"' in binary.text
    lfs = client.get("/alice/tiny-bert/blob/main/big.bin").text
    assert "sha256:" in lfs and ">LFS<" in lfs
    from snuggle.hub.server import web

    monkeypatch.setattr(web, "TEXT_PREVIEW_LIMIT", 10)
    large = client.get("/alice/tiny-bert/blob/main/config.json").text
    assert "too large to show" in large and "&lt;b&gt;hi" not in large
    assert client.get("/alice/tiny-bert/blob/main/missing.txt").status_code == 404


def test_commit_history_newest_first_per_revision(client):
    r = client.get("/alice/tiny-bert/commits/main")
    assert r.status_code == 200
    titles = re.findall(r'<strong class="title">([^<]+)</strong>', r.text)
    assert titles[:2] == ["Add an LFS file", "Add the tiny model"] and len(titles) == 3  # + initial commit
    feat = re.findall(r'<strong class="title">([^<]+)</strong>', client.get("/alice/tiny-bert/commits/feat%2Fx").text)
    assert feat[0] == "Work on the feature" and len(feat) == 4


def test_api_and_downloads_are_not_shadowed_by_pages(client):
    api = client.get("/api/models")
    assert api.status_code == 200 and api.headers["content-type"].startswith("application/json")
    assert {m["id"] for m in api.json()} == {"alice/tiny-bert"}
    raw = client.get("/alice/tiny-bert/resolve/main/config.json")
    assert raw.status_code == 200 and raw.text == CONFIG
    assert client.get("/api/no-such-route").headers["content-type"].startswith("application/json")


def test_unknown_pages_are_html_404(client):
    for url in ("/alice/tiny-bert/settings", "/a/b/c/d", "/alice/tiny-bert/blob/main"):
        r = client.get(url)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), url
        assert "404" in r.text


def test_private_files_download_through_raw_with_the_cookie_only(client, hub):
    tree = client.get("/alice/secret/tree/main", headers=_auth(hub)).text
    assert 'href="/alice/secret/raw/main/weights.txt"' in tree  # browsers send no Authorization header
    assert client.get("/alice/secret/raw/main/weights.txt").status_code == 404
    assert client.get("/alice/secret/raw/main/weights.txt", headers=_auth(hub, "bob")).status_code == 404
    client.cookies.set("hf_token", hub["tokens"]["alice_read"])
    r = client.get("/alice/secret/raw/main/weights.txt")
    assert r.status_code == 200 and r.content == b"TOPSECRET\n"
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment") and "sandbox" in r.headers["content-security-policy"]
    assert client.get("/alice/secret/raw/main/nope.txt").status_code == 404
    assert client.get("/alice/secret/raw/main/docs").status_code == 404
    # public repos keep the canonical /resolve link
    assert 'href="/alice/tiny-bert/resolve/main/config.json"' in client.get("/alice/tiny-bert/tree/main").text


def test_large_folders_are_capped(client, monkeypatch):
    from snuggle.hub.server import web

    monkeypatch.setattr(web, "TREE_ROWS_LIMIT", 2)
    r = client.get("/alice/tiny-bert/tree/main")
    assert len(re.findall(r'<tr class="(?:file|directory)">', r.text)) == 2
    assert re.search(r"Showing the first 2 of \d+ entries", r.text)


def test_moved_repo_redirects_only_for_readers(client, hub):
    backend = hub["backend"]
    alice = backend.authenticate(hub["tokens"]["alice"])
    for old, new, private in (("alice/before-move", "alice/after-move", False),
                              ("alice/before-private", "alice/after-private", True)):
        repo = backend.create_repo(alice, "model", old, private=private)
        _commit(backend, alice, repo, {"a.txt": "a\n"}, "Add a")
        backend.move_repo(alice, "model", old, new)
    try:
        r = client.get("/alice/before-move/tree/main", follow_redirects=False)
        assert r.status_code == 302 and r.headers["location"] == "/alice/after-move/tree/main"
        assert client.get("/alice/before-private/tree/main", follow_redirects=False).status_code == 404
        r = client.get("/alice/before-private", headers=_auth(hub), follow_redirects=False)
        assert r.status_code == 302 and r.headers["location"] == "/alice/after-private"
    finally:
        backend.delete_repo(alice, "model", "alice/after-move")
        backend.delete_repo(alice, "model", "alice/after-private")


def test_login_accepts_same_origin_posts_and_the_public_url_behind_a_proxy(client, hub):
    ok = client.post("/login", data={"token": hub["tokens"]["bob"]}, follow_redirects=False,
                     headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 303 and ok.headers["set-cookie"].startswith("hf_token=")
    from types import SimpleNamespace

    from fastapi import FastAPI

    from snuggle.hub.server.web import add_web_routes

    app = FastAPI()
    add_web_routes(app, hub["backend"], SimpleNamespace(public_url="https://hub.example.com"))
    with TestClient(app) as proxied:  # a proxy rewrote Host; the browser's Origin is the public URL
        r = proxied.post("/login", data={"token": hub["tokens"]["bob"]}, follow_redirects=False,
                         headers={"Origin": "https://hub.example.com"})
        assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]
        assert proxied.post("/login", data={"token": hub["tokens"]["bob"]}, follow_redirects=False,
                            headers={"Origin": "https://evil.example"}).status_code == 403
