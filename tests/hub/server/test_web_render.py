"""Rendering helpers of the Hub pages: hostile markdown stays inert, front matter, metadata rows, sizes."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from snuggle.hub.server.web_render import (
    human_size, looks_like_text, metadata_rows, parse_front_matter, quote_path, quote_rev, render_markdown,
    safe_url, split_front_matter,
)


class _Collect(HTMLParser):
    """Every (tag, attrs) the browser would build, attribute values decoded as a browser decodes them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def _elements(html: str):
    parser = _Collect()
    parser.feed(str(html))
    parser.close()
    return parser.elements


HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<div onmouseover='alert(1)'>hover</div>",
    "<iframe src='javascript:alert(1)'></iframe>",
    "<svg/onload=alert(1)>",
    "<a href='javascript:alert(1)'>x</a>",
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x]( javascript:alert(1))",
    "[x](java\\script:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript&#x3A;alert(1))",
    "[x](jav&#x09;ascript:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml,<svg onload=alert(1)>)",
    "[ref]: javascript:alert(1)\n\n[x][ref]",
    "<javascript:alert(1)>",
    "[x](//evil.example/path)",
    '[x](http://ok.example "title" onmouseover="alert(1)")',
    "```\n</code></pre><script>alert(1)</script>\n```",
    "`<script>alert(1)</script>`",
    "> <script>alert(1)</script>",
    "* <style>body{display:none}</style>",
    "<!-- comment --><script>alert(1)</script>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<details open ontoggle=alert(1)>",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markdown_renders_inert(source):
    html = render_markdown(source, link_for=lambda p: "/u/m/blob/main/" + p,
                           image_for=lambda p: "/u/m/resolve/main/" + p)
    for tag, attrs in _elements(html):
        assert tag not in {"script", "iframe", "svg", "style", "object", "embed", "form", "input", "details",
                           "div"} or (tag == "div" and not attrs), (tag, html)
        for name, value in attrs.items():
            assert not name.startswith("on"), html
            if name in ("href", "src"):
                v = "".join(value.split()).lower()
                assert v.startswith(("http://", "https://", "mailto:", "/u/m/", "#")), html
                assert not v.startswith("//"), html


def test_markdown_features_and_relative_links():
    html = str(render_markdown(
        "# Title\n\nText with **bold**, `code` and a [link](docs/guide.md#usage).\n\n"
        "![chart](./images/chart.png)\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n```python\nx = 1 < 2\n```\n\n"
        "1. one\n2. two\n\n[abs](https://example.org/x) [mail](mailto:a@b.c) [anchor](#title)\n",
        link_for=lambda p: "/u/m/blob/main/" + p, image_for=lambda p: "/u/m/resolve/main/" + p))
    assert '<h1 id="title">Title</h1>' in html
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert 'href="/u/m/blob/main/docs/guide.md#usage"' in html
    assert 'src="/u/m/resolve/main/./images/chart.png"' in html  # the page cleans the path (web.py)
    assert '<th style="text-align: left;">a</th>' in html and '<td style="text-align: right;">2</td>' in html
    assert '<code class="language-python">x = 1 &lt; 2' in html
    assert "<ol>" in html and "<li>one</li>" in html
    assert 'href="https://example.org/x" rel="nofollow noopener noreferrer"' in html
    assert 'href="mailto:a@b.c"' in html and 'href="#title"' in html


def test_raw_html_is_shown_as_text():
    html = str(render_markdown("Use <b>bold</b> & <i>it</i>"))
    assert html == "<p>Use &lt;b&gt;bold&lt;/b&gt; &amp; &lt;i&gt;it&lt;/i&gt;</p>"


@pytest.mark.parametrize("url,expected", [
    ("https://x.org/a?b=1", "https://x.org/a?b=1"), ("HTTP://X.ORG", "HTTP://X.ORG"), ("mailto:a@b.c", "mailto:a@b.c"),
    ("javascript:alert(1)", None), (" javascript:alert(1)", None), ("java\nscript:alert(1)", None),
    ("&#106;avascript:x", None), ("data:text/html,x", None), ("vbscript:x", None), ("//evil.example", None),
    ("\\\\evil.example", None), ("file:///etc/passwd", None), ("#frag", "#frag"), ("/abs/path", "/abs/path"),
    ("rel/path.md", "R:rel/path.md"),
])
def test_safe_url(url, expected):
    assert safe_url(url, lambda p: "R:" + p) == expected


def test_front_matter_split_and_parse():
    yaml_text, body = split_front_matter("---\nlicense: mit\ntags: [a, b]\n---\n# Card\n")
    assert yaml_text == "license: mit\ntags: [a, b]" and body == "# Card\n"
    assert parse_front_matter(yaml_text) == {"license": "mit", "tags": ["a", "b"]}
    assert split_front_matter("# No metadata\n---\nx: 1\n---\n") == (None, "# No metadata\n---\nx: 1\n---\n")
    assert split_front_matter("---\r\nlicense: mit\r\n---\r\nbody") == ("license: mit", "body")
    assert split_front_matter("---\n---\nbody") == ("", "body")
    assert parse_front_matter("just a string") is None
    assert parse_front_matter("a: [unclosed") is None
    assert parse_front_matter("") is None


def test_metadata_rows_kinds_and_links():
    rows = metadata_rows({"license": "mit", "tags": ["a", 2, True], "datasets": ["alice/sst2", "not an id"],
                          "base_model": "bob/base", "model-index": [{"name": "m", "results": []}],
                          "empty": None, "score": 0.5},
                         repo_url=lambda t, rid: f"<{t}:{rid}>")
    by_key = {r["key"]: r for r in rows}
    assert [r["key"] for r in rows] == ["license", "tags", "datasets", "base_model", "model-index", "empty", "score"]
    assert by_key["license"] == {"key": "license", "kind": "text", "value": "mit", "links": [None]}
    assert by_key["tags"]["kind"] == "list" and by_key["tags"]["value"] == ["a", "2", "true"]
    assert by_key["datasets"]["links"] == ["<dataset:alice/sst2>", None]
    assert by_key["base_model"]["links"] == ["<model:bob/base>"]
    assert by_key["model-index"]["kind"] == "yaml" and "results: []" in by_key["model-index"]["value"]
    assert by_key["empty"]["value"] == "" and by_key["score"]["value"] == "0.5"
    assert metadata_rows(None) == []


def test_small_helpers():
    assert human_size(0) == "0 Bytes" and human_size(1000) == "1 kB" and human_size(123_456_789) == "123 MB"
    assert looks_like_text("ünïcode".encode()[:-1])  # a cut multi-byte character at the end is fine
    assert not looks_like_text(b"\xff\xfe\x00\x01") and not looks_like_text(b"GIF89a\x00")
    assert quote_rev("refs/pr/1") == "refs%2Fpr%2F1" and quote_path("a b/c#d?.txt") == "a%20b/c%23d%3F.txt"
