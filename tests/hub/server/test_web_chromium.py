"""The Hub pages in a real browser: headless Chromium against a real `snuggle hub serve` (the hub_server fixture).

Repos are uploaded through the HTTP API (create + NDJSON commit, spec §4/§8.4) under unique names, so the
session server can be shared with the other Hub tests. `--dump-dom` returns the DOM after the page loaded:
a card's `<script>` or `onerror` handler that ran would have marked <body>; the positive control proves
that Chromium does run scripts in this mode, so the negative checks can fail. Screenshots go to
$SNUGGLE_TEST_ARTIFACTS/hub (default build/test-artifacts/hub/).
"""

from __future__ import annotations

import base64
import json
import re
import struct
import uuid
from urllib.parse import quote

import httpx
import pytest

from tests.hub._chromium import artifacts_dir, dump_dom, dump_dom_and_screenshot, ensure_chromium, screenshot

CARD = """---
license: apache-2.0
language: [en]
tags: [text-classification, chromium-test]
datasets: [alice/some-data]
model-index:
- name: tiny
  results:
  - task: {type: text-classification}
    metrics: [{type: accuracy, value: 0.91}]
---
# Tiny classifier

A tiny **BERT-style** model used by the web-page tests. It was fine-tuned on a small sentiment set.

<script>document.body.setAttribute("data-pwned", "script")</script>
<img src=x onerror="document.body.setAttribute('data-pwned', 'img')">
[a harmless-looking link](javascript:document.body.setAttribute('data-pwned','link'))

## Results

| split | accuracy | f1 |
|:------|---------:|---:|
| dev   | 0.910    | 0.905 |
| test  | 0.897    | 0.893 |

```python
from snuggle import AutoModel
model = AutoModel.from_pretrained("alice/tiny")
```
"""


def _api(hub, method, path, token, headers=None, **kwargs):
    r = httpx.request(method, f"{hub.endpoint}{path}", headers={"Authorization": f"Bearer {token}", **(headers or {})},
                      timeout=60, **kwargs)
    assert r.status_code == 200, f"{method} {path}: {r.status_code} {r.text[:500]}"
    return r


def _upload(hub, token, repo_id, files, *, repo_type="model", private=False, revision="main", summary="Upload"):
    """Create the repo (first time) and commit `files` inline, the way the Python clients do."""
    ns, name = repo_id.split("/")
    if revision == "main":
        _api(hub, "POST", "/api/repos/create", token,
             json={"name": name, "organization": ns, "type": repo_type, "private": private})
    lines = [{"key": "header", "value": {"summary": summary, "description": ""}}]
    for path, data in files.items():
        data = data.encode() if isinstance(data, str) else data
        lines.append({"key": "file", "value": {"path": path, "content": base64.b64encode(data).decode(),
                                                "encoding": "base64"}})
    body = "\n".join(json.dumps(line) for line in lines) + "\n"
    _api(hub, "POST", f"/api/{repo_type}s/{repo_id}/commit/{quote(revision, safe='')}", token,
         headers={"Content-Type": "application/x-ndjson"}, content=body.encode())


@pytest.fixture(scope="module")
def browser():
    return ensure_chromium()


@pytest.fixture(scope="module")
def site(hub_server):
    """Repos for the browser tests: a public model (hostile card, branch feat/x, tag), a private one, a dataset."""
    tag = uuid.uuid4().hex[:8]
    model, secret, data = f"alice/web-{tag}", f"alice/web-secret-{tag}", f"alice/web-data-{tag}"
    token = hub_server.token
    _upload(hub_server, token, model, {
        "README.md": CARD,
        "config.json": json.dumps({"model_type": "bert", "hidden_size": 32, "note": "<b>not bold</b>"}, indent=2),
        "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "WordPiece"}}, indent=2),
        "model.safetensors": bytes(range(256)) * 64,
        "eval/results.txt": "dev accuracy 0.910\ntest accuracy 0.897\n",
    }, summary="Add the tiny classifier")
    _api(hub_server, "POST", f"/api/models/{model}/branch/{quote('feat/x', safe='')}", token, json={})
    _upload(hub_server, token, model, {"only-on-feat.txt": "feature work\n"}, revision="feat/x",
            summary="Start the feature")
    _api(hub_server, "POST", f"/api/models/{model}/tag/main", token, json={"tag": "v1.0"})
    _upload(hub_server, token, secret, {"README.md": "# TOPSECRET model\n"}, private=True)
    _upload(hub_server, token, data, {"README.md": "---\nlicense: mit\n---\n# Sentiment sample\n",
                                      "train.csv": "text,label\ngreat,1\nawful,0\n"}, repo_type="dataset")
    return {"endpoint": hub_server.endpoint, "model": model, "secret": secret, "data": data, "tag": tag}


def _body_tag(dom: str) -> str:
    match = re.search(r"<body[^>]*>", dom)
    assert match, dom[:500]
    return match.group(0)


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    return struct.unpack(">II", head[16:24])


def test_chromium_runs_scripts_positive_control(browser):
    dom = dump_dom(browser, "data:text/html,<body><script>document.body.setAttribute('data-pwned','yes')</script>")
    assert "data-pwned" in _body_tag(dom)


def _check_screenshot(path, min_bytes=10_000):
    assert _png_size(path) == (1280, 900)
    assert path.stat().st_size > min_bytes  # a rendered page, not a blank image


def test_card_renders_in_chromium_and_card_scripts_do_not_run(browser, site):
    shot = artifacts_dir() / "web-card.png"
    dom = dump_dom_and_screenshot(browser, f"{site['endpoint']}/{site['model']}", shot)
    _check_screenshot(shot)
    assert "data-pwned" not in _body_tag(dom)
    assert re.search(r"<h1[^>]*>Tiny classifier</h1>", dom)
    assert "&lt;script&gt;" in dom  # shown as text
    meta = re.search(r'<table class="list meta" id="metadata">(.*?)</table>', dom, re.S).group(1)
    assert "apache-2.0" in meta and "text-classification" in meta and "accuracy" in meta
    assert not re.search(r'href="javascript', dom, re.I)


def test_private_repo_is_the_404_page_in_chromium(browser, site):
    dom = dump_dom(browser, f"{site['endpoint']}/{site['secret']}")
    assert "404" in dom and "TOPSECRET" not in dom


@pytest.mark.slow
def test_search_in_chromium_hides_private_repos(browser, site):
    home = dump_dom(browser, f"{site['endpoint']}/?q={site['tag']}")
    assert site["model"] in home and site["data"] in home and site["secret"] not in home


def test_revision_with_slash_and_switcher_in_chromium(browser, site):
    shot = artifacts_dir() / "web-tree-feat.png"
    dom = dump_dom_and_screenshot(browser, f"{site['endpoint']}/{site['model']}/tree/feat%2Fx", shot)
    _check_screenshot(shot, 5_000)
    assert "only-on-feat.txt" in dom
    assert re.search(r'<strong class="current-rev">feat/x</strong>', dom)
    assert f'href="/{site["model"]}/tree/v1.0"' in dom and f'href="/{site["model"]}/tree/main"' in dom


@pytest.mark.slow
@pytest.mark.parametrize("page,url", [
    ("home", "/"), ("tree", "/{model}/tree/main"), ("blob", "/{model}/blob/main/config.json"),
    ("blob-binary", "/{model}/blob/main/model.safetensors"), ("commits", "/{model}/commits/main"),
    ("dataset", "/datasets/{data}"), ("not-found", "/{secret}"), ("login", "/login"),
])
def test_more_screenshots(browser, site, page, url):
    path = screenshot(browser, site["endpoint"] + url.format(**site), artifacts_dir() / f"web-{page}.png")
    _check_screenshot(path, 5_000)
