"""Rendering helpers for the Hub web pages: safe markdown, card metadata tables, sizes, dates, URLs.

A model card is written by whoever can push to the repo, and the page shows it to everybody who can
read it, so the markdown renderer treats it as hostile: raw HTML is shown as text (never parsed), link
and image URLs are kept only for http(s)/mailto/relative targets, and only the tags and attributes
the markdown syntax itself produces survive. The pages add a Content-Security-Policy without any
script source on top (see web.py), so a slip here still would not run a script.

    >>> str(render_markdown("# Hi <script>alert(1)</script>"))
    '<h1 id="hi-scriptalert1script">Hi &lt;script&gt;alert(1)&lt;/script&gt;</h1>'
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import quote, urlsplit

import markdown
import yaml
from markupsafe import Markup
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

# Tags the markdown core + the extensions below produce, and the attributes each may keep.
_ALLOWED_TAGS = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "a", "img", "em", "strong", "code", "pre",
    "blockquote", "hr", "br", "table", "thead", "tbody", "tr", "th", "td", "div", "span", "del",
}
_ALLOWED_ATTRS = {
    "a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}, "code": {"class"},
    "th": {"style"}, "td": {"style"}, **{f"h{i}": {"id"} for i in range(1, 7)},
}
_SAFE_SCHEMES = {"http", "https", "mailto"}
_ALIGN_STYLE = re.compile(r"^text-align: (left|right|center);?$")
_CODE_CLASS = re.compile(r"^language-[A-Za-z0-9_+#.-]{1,40}$")
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")  # browsers strip these inside a scheme ("java\tscript:")
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)(?:\r?\n)?^---[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.MULTILINE)
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
MARKDOWN_EXTENSIONS = ("tables", "fenced_code", "sane_lists", "toc")


def safe_url(value: str, resolve_relative: Callable[[str], str] | None = None) -> str | None:
    """The URL a browser may follow from a card, or None to drop it.

    Absolute http(s)/mailto URLs stay; other schemes (javascript:, data:, vbscript: ...) are dropped;
    relative ones go through `resolve_relative` (e.g. to the repo's blob/resolve URL) when given.

    >>> safe_url("javascript:alert(1)") is None
    True
    >>> safe_url("config.json", lambda p: "/u/m/blob/main/" + p)
    '/u/m/blob/main/config.json'
    """
    # What the browser will see: entities decoded, and the whitespace/control bytes it ignores removed.
    probe = _CONTROL.sub("", html.unescape(value))
    if probe.startswith("//") or probe.startswith("\\"):
        return None  # protocol-relative or backslash tricks: another host (or worse) with our scheme
    try:
        parts = urlsplit(probe)
    except ValueError:
        return None
    if parts.scheme:
        return probe if parts.scheme.lower() in _SAFE_SCHEMES else None
    if ":" in probe.split("/", 1)[0]:
        return None  # not a scheme urlsplit accepts, but a browser might still read it as one
    if probe.startswith(("#", "/", "?")) or resolve_relative is None:
        return probe  # same page / same site
    return resolve_relative(probe)


class _SanitizeTree(Treeprocessor):
    """Last tree pass: drop unknown tags/attributes and unsafe URLs; rewrite relative repo links."""

    def __init__(self, md, link_for: Callable[[str], str] | None, image_for: Callable[[str], str] | None):
        super().__init__(md)
        self.link_for, self.image_for = link_for, image_for

    def run(self, root):
        for elem in root.iter():
            if elem.tag not in _ALLOWED_TAGS:
                elem.tag = "span"
            allowed = _ALLOWED_ATTRS.get(elem.tag, set())
            for key in list(elem.keys()):
                value = elem.get(key) or ""
                if key not in allowed:
                    del elem.attrib[key]
                elif key == "style" and not _ALIGN_STYLE.match(value):
                    del elem.attrib[key]
                elif key == "class" and not _CODE_CLASS.match(value):
                    del elem.attrib[key]
                elif key == "start" and not value.isdigit():
                    del elem.attrib[key]
                elif key in ("href", "src"):
                    url = safe_url(value, self.image_for if key == "src" else self.link_for)
                    if url is None:
                        del elem.attrib[key]
                    else:
                        elem.set(key, url)
            if elem.tag == "a" and elem.get("href", "").startswith(("http:", "https:")):
                elem.set("rel", "nofollow noopener noreferrer")
        return None


class _SafeMarkdown(Extension):
    def __init__(self, link_for=None, image_for=None):
        super().__init__()
        self.link_for, self.image_for = link_for, image_for

    def extendMarkdown(self, md):
        # Raw HTML (blocks and inline tags) is not parsed at all: it stays text and gets escaped.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        # After "unescape" (priority 0) so backslash escapes cannot hide a scheme from the check.
        md.treeprocessors.register(_SanitizeTree(md, self.link_for, self.image_for), "snuggle_sanitize", -10)


def render_markdown(text: str, *, link_for: Callable[[str], str] | None = None,
                    image_for: Callable[[str], str] | None = None) -> Markup:
    """Markdown -> safe HTML (Markup, so templates don't escape it twice).

    `link_for` / `image_for` map a relative link / image path in the card to a URL (the repo's blob
    page / resolve URL); without them relative URLs are kept as written.

    >>> str(render_markdown("[cfg](config.json)", link_for=lambda p: "/u/m/blob/main/" + p))
    '<p><a href="/u/m/blob/main/config.json">cfg</a></p>'
    """
    md = markdown.Markdown(extensions=[*MARKDOWN_EXTENSIONS, _SafeMarkdown(link_for, image_for)],
                           output_format="html")
    return Markup(md.convert(text))


def split_front_matter(text: str) -> tuple[str | None, str]:
    """(YAML front matter or None, body) of a model/dataset card.

    >>> split_front_matter("---\\nlicense: mit\\n---\\n# Title\\n")
    ('license: mit', '# Title\\n')
    """
    match = _FRONT_MATTER.match(text)
    if match is None:
        return None, text
    return match.group(1), text[match.end():]


def parse_front_matter(yaml_text: str | None) -> dict | None:
    """The front matter as a dict, or None when absent or not a YAML mapping (never raises)."""
    if not yaml_text:
        return None
    try:
        data = yaml.safe_load(yaml_text)
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def metadata_rows(data: dict | None, *, repo_url: Callable[[str, str], str] | None = None) -> list[dict]:
    """Rows for the card metadata table: {"key", "kind": "text"|"list"|"yaml", "value", "links"}.

    Scalars are shown as text, lists of scalars as chips, nested structures (model-index ...) as
    YAML. `datasets` / `base_model` entries that look like repo ids link to the repo pages.

    >>> [(r["key"], r["kind"], r["value"]) for r in metadata_rows({"license": "mit", "tags": ["a", 1]})]
    [('license', 'text', 'mit'), ('tags', 'list', ['a', '1'])]
    """
    rows = []
    for key, value in (data or {}).items():
        key = str(key)
        if value is None or isinstance(value, (str, int, float, bool, datetime)):
            items, kind = ["" if value is None else _scalar(value)], "text"
        elif isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
            items, kind = [_scalar(v) for v in value], "list"
        else:
            dumped = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False)
            rows.append({"key": key, "kind": "yaml", "value": dumped.rstrip(), "links": []})
            continue
        links = []
        repo_type = {"datasets": "dataset", "base_model": "model"}.get(key)
        for item in items:
            ok = repo_url is not None and repo_type is not None and _REPO_ID.match(item)
            links.append(repo_url(repo_type, item) if ok else None)
        rows.append({"key": key, "kind": kind, "value": items[0] if kind == "text" else items, "links": links})
    return rows


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def human_size(num: int | None) -> str:
    """Byte count the way the Hub shows it (decimal units).

    >>> human_size(999), human_size(1536), human_size(3 * 10**9)
    ('999 Bytes', '1.54 kB', '3 GB')
    """
    if num is None:
        return ""
    if num < 1000:
        return f"{num} Bytes"
    value = float(num)
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        value /= 1000
        if value < 1000 or unit == "PB":
            return f"{value:.3g} {unit}"
    return f"{num} Bytes"  # unreachable


def format_date(when: datetime | None) -> str:
    """'2024-05-01 12:30 UTC' (naive datetimes are taken as UTC)."""
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def looks_like_text(head: bytes) -> bool:
    """True when the first bytes of a file decode as UTF-8 without NUL (cut multi-byte chars tolerated).

    >>> looks_like_text("héllo".encode()), looks_like_text(b"\\x00\\x01PNG")
    (True, False)
    """
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"


def quote_rev(rev: str) -> str:
    """A revision as one URL path segment ('/' -> %2F), as the clients send it.

    >>> quote_rev("feat/x")
    'feat%2Fx'
    """
    return quote(rev, safe="")


def quote_path(path: str) -> str:
    """A repo file path in a URL: each segment percent-encoded, '/' kept.

    >>> quote_path("dir with space/ün.txt")
    'dir%20with%20space/%C3%BCn.txt'
    """
    return quote(path, safe="/")
