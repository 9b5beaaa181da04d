"""The Hub server's web pages: server-rendered HTML (jinja2, no front-end build, no JavaScript).

    add_web_routes(app, backend, config)   # create_app() calls this after the API routes

Pages (models under `/{ns}/{name}`, datasets under `/datasets/{ns}/{name}`, spaces under `/spaces/...`):

    /  and /search?q=          models and datasets, newest first, with a search box
    /models  /datasets         one type, paged (?q=, ?p=)
    /{ns}                      the public repos of a user or organisation
    /{ns}/{name}[?revision=]   the card: README.md rendered + a table of its YAML metadata
    /{ns}/{name}/tree/{rev}/{path}     folder listing      /{ns}/{name}/blob/{rev}/{path}   file view
    /{ns}/{name}/commits/{rev}         history             /{ns}/{name}/raw/{rev}/{path}    download
    /login  /logout                    sign in with a token (HttpOnly cookie)

`{rev}` is one raw path segment with '/' as %2F, like the API (spec §1.3): Starlette decodes %2F before
routing, so pages split `scope["raw_path"]` themselves (snuggle.hub.server.rawpath).

Who sees what: anonymous by default; a token from `Authorization: Bearer` or from the `hf_token`
HttpOnly cookie that /login sets lets owners see their private repos. Everybody else gets the same 404
page for a private repo as for a missing one, and private repos never show up in listings or counts
(the backend's access checks decide, the pages only ask it). A token that is presented but invalid is
a 401 page (never a silent fall-back to anonymous, spec §12); a stale cookie is cleared with it.

Only the web routes read the cookie: the API keeps to the Authorization header, so a cookie never
authorises a write (no CSRF surface). /login and /logout refuse cross-site form posts.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from snuggle.hub.server.auth_http import token_from_header
from snuggle.hub.server.errors import HubServerError, Unauthorized
from snuggle.hub.server.rawpath import PREFIX_OF_TYPE, split_raw_path
from snuggle.hub.server.web_render import (
    format_date, human_size, looks_like_text, metadata_rows, parse_front_matter, quote_path, quote_rev,
    render_markdown, split_front_matter,
)

TEMPLATES = Path(__file__).with_name("templates")
COOKIE = "hf_token"
COOKIE_MAX_AGE = 30 * 24 * 3600
README_LIMIT = 1024 * 1024          # cards larger than this are not rendered (a link to the file instead)
TEXT_PREVIEW_LIMIT = 512 * 1024     # file view shows text files up to this size inline
HOME_LIMIT = 20                     # repos per type on the home page
PAGE_SIZE = 50                      # repos per listing page, commits per history page
TREE_LAST_COMMIT_LIMIT = 200        # ask for last-commit info only for folders this small
TREE_ROWS_LIMIT = 1000              # a folder listing shows at most this many entries
LOGIN_BODY_LIMIT = 16 * 1024
VIEWS = ("tree", "blob", "commits", "raw")
_TYPES_OF_PREFIX = {"datasets": "dataset", "spaces": "space"}
_TYPE_PLURAL = {"model": "models", "dataset": "datasets", "space": "spaces"}
# No script source at all: a card that slipped past the sanitiser still could not run anything.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")


class _Redirect(Exception):
    def __init__(self, url: str):
        self.url = url


class _PageError(Exception):
    """An error page to render (status, short title, explanation)."""

    def __init__(self, status: int, title: str, detail: str = "", clear_cookie: bool = False):
        super().__init__(title)
        self.status, self.title, self.detail, self.clear_cookie = status, title, detail, clear_cookie


NOT_FOUND = (404, "404 – not found",
             "This page does not exist, or it is private and you are not signed in as someone who may see it.")


def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(size=human_size, date=format_date, qrev=quote_rev, qpath=quote_path)
    return env


class WebPages:
    """The page handlers, bound to one backend. Each `page_*` returns (template, context) or raises."""

    def __init__(self, backend, config=None):
        self.backend = backend
        self.config = config
        self.env = _environment()

    # ---- plumbing --------------------------------------------------------------------------------

    def principal(self, request):
        """(Principal or None, came_from_cookie). Raises _PageError(401) for a presented bad token."""
        header = request.headers.get("authorization")
        from_cookie = False
        try:
            token = token_from_header(header)
            if token is None:
                token = request.cookies.get(COOKIE) or None
                from_cookie = token is not None
            if token is None:
                return None, False
            principal = self.backend.authenticate(token)
        except Unauthorized:
            principal = None
        if principal is None:
            raise _PageError(401, "401 – invalid token",
                             "The token you are signed in with is unknown, expired or revoked. Sign in again."
                             if from_cookie else "The token in the Authorization header is unknown, expired or "
                             "revoked.", clear_cookie=from_cookie)
        return principal, from_cookie

    def render(self, request, template: str, context: dict, *, status: int = 200, user=None,
               clear_cookie: bool = False):
        from starlette.responses import HTMLResponse

        base = request.scope.get("root_path", "").rstrip("/")
        ctx = {"base": base, "user": user, "q": "", "title": "Snuggle Hub", **context}
        body = self.env.get_template(template).render(**ctx)
        response = HTMLResponse(body, status_code=status)
        headers = response.headers
        headers["Content-Security-Policy"] = CSP
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["X-Frame-Options"] = "DENY"
        # Pages differ per caller; never let a shared cache hand one user's private page to another.
        headers["Cache-Control"] = "no-store" if user is not None else "no-cache"
        headers["Vary"] = "Authorization, Cookie"
        if clear_cookie:
            response.delete_cookie(COOKIE, path=base or "/")
        return response

    def handle(self, request, page, *args):
        """Run one page handler: authenticate, call it, turn errors and redirects into responses."""
        from starlette.responses import RedirectResponse

        principal = None
        try:
            principal, _ = self.principal(request)
            result = page(request, principal, *args)
            if not isinstance(result, tuple):
                return result  # a ready response (file download)
            template, context = result
            return self.render(request, template, context, user=principal)
        except _Redirect as redirect:
            return RedirectResponse(redirect.url, status_code=302)
        except _PageError as err:
            return self.error_page(request, err.status, err.title, err.detail, user=principal,
                                   clear_cookie=err.clear_cookie)
        except HubServerError as err:
            if err.status in (401, 403, 404):
                # Missing and private look the same: one page, whatever the backend's reason was.
                return self.error_page(request, *NOT_FOUND, user=principal)
            if err.status == 400:
                return self.error_page(request, 400, "400 – bad request", err.message, user=principal)
            return self.error_page(request, err.status, f"{err.status} – error", err.message, user=principal)

    def error_page(self, request, status, title, detail, *, user=None, clear_cookie=False):
        return self.render(request, "error.html", {"status": status, "heading": title, "detail": detail,
                                                   "title": title}, status=status, user=user,
                           clear_cookie=clear_cookie)

    def base(self, request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    def repo_base(self, request, repo_type: str, repo_id: str) -> str:
        return f"{self.base(request)}/{PREFIX_OF_TYPE[repo_type]}{quote_path(repo_id)}"

    # ---- listings ------------------------------------------------------------------------------

    def _list(self, principal, repo_type, *, q=None, author=None, limit=PAGE_SIZE, offset=0):
        repos, total = self.backend.list_repos(principal, repo_type, search=q or None, author=author,
                                               sort="lastModified", direction=-1, limit=limit, offset=offset)
        return list(repos), total

    def page_home(self, request, principal):
        q = request.query_params.get("q", "").strip()
        sections = []
        for repo_type in ("model", "dataset"):
            repos, total = self._list(principal, repo_type, q=q, limit=HOME_LIMIT)
            more = f"{self.base(request)}/{_TYPE_PLURAL[repo_type]}" + (f"?{urlencode({'q': q})}" if q else "")
            sections.append({"type": repo_type, "plural": _TYPE_PLURAL[repo_type], "repos": repos,
                             "total": total, "more": more if total > len(repos) else None})
        return "home.html", {"q": q, "sections": sections, "title": f"{q} – search" if q else "Snuggle Hub"}

    def page_listing(self, request, principal, repo_type: str):
        q = request.query_params.get("q", "").strip()
        page = _page_number(request)
        repos, total = self._list(principal, repo_type, q=q, offset=(page - 1) * PAGE_SIZE)
        return "listing.html", {"q": q, "repo_type": repo_type, "plural": _TYPE_PLURAL[repo_type], "repos": repos,
                                "total": total, "pager": _pager(request, page, total, PAGE_SIZE),
                                "title": _TYPE_PLURAL[repo_type].capitalize()}

    def page_author(self, request, principal, namespace: str):
        sections = []
        for repo_type in ("model", "dataset"):
            repos, total = self._list(principal, repo_type, author=namespace, limit=PAGE_SIZE * 2)
            sections.append({"type": repo_type, "plural": _TYPE_PLURAL[repo_type], "repos": repos,
                             "total": total, "more": None})
        if not any(s["total"] for s in sections):
            raise _PageError(*NOT_FOUND)  # an unknown name and one with only private repos look alike
        return "author.html", {"namespace": namespace, "sections": sections, "title": namespace}

    # ---- one repository ------------------------------------------------------------------------

    def _get_repo(self, request, principal, repo_type, repo_id):
        """The repo, or a redirect to its new name after a move (only for callers who may read it)."""
        from snuggle.hub.server.errors import RepoNotFound

        try:
            return self.backend.get_repo(principal, repo_type, repo_id)
        except RepoNotFound:
            moved = getattr(self.backend, "resolve_redirect", None)
            new_id = moved(principal, repo_type, repo_id) if moved else None
            if not new_id or new_id == repo_id:
                raise
            old_base = self.repo_base(request, repo_type, repo_id)
            raw = request.scope.get("raw_path") or request.url.path.encode()
            tail = raw.decode("latin-1")[len(old_base):] if raw.decode("latin-1").startswith(old_base) else ""
            query = request.url.query
            raise _Redirect(self.repo_base(request, repo_type, new_id) + tail + (f"?{query}" if query else "")) \
                from None

    def _repo_context(self, request, principal, repo_type, repo_id, rev, view, path=""):
        backend = self.backend
        repo = self._get_repo(request, principal, repo_type, repo_id)
        commit, ref_name = backend.resolve_revision(repo, rev)
        refs = backend.list_refs(repo)
        repo_base = self.repo_base(request, repo_type, repo_id)
        switch = []
        for kind in ("branches", "tags"):
            for ref in refs.get(kind, []):
                if view == "card":
                    url = repo_base + ("" if ref.name == "main" else f"?{urlencode({'revision': ref.name})}")
                else:
                    url = f"{repo_base}/{view}/{quote_rev(ref.name)}" + (f"/{quote_path(path)}" if path else "")
                switch.append({"kind": "branch" if kind == "branches" else "tag", "name": ref.name, "url": url,
                               "current": ref.name == rev})
        # /resolve is the canonical download, but browsers send no Authorization header: a private
        # repo's files download through /raw, which accepts the sign-in cookie.
        download_view = "raw" if repo.private else "resolve"
        return {
            "download_view": download_view,
            "repo": repo, "repo_type": repo_type, "repo_id": repo_id, "repo_base": repo_base, "rev": rev,
            "rev_q": quote_rev(rev), "commit": commit, "rev_kind": _rev_kind(ref_name), "switch": switch, "view": view,
            "path": path, "crumbs": _crumbs(repo_base, rev, path), "tags": list(getattr(repo, "tags", ()) or ()),
            "title": f"{repo_id}" + (f" · {path}" if path else ""),
        }

    def _read_blob(self, entry, limit: int) -> bytes | None:
        """Up to `limit` bytes of a file's content, or None when the store has no such blob."""
        if not entry.sha256:
            return None
        try:
            with open(self.backend.blob_path(entry.sha256), "rb") as f:
                return f.read(limit)
        except OSError:
            return None

    def page_card(self, request, principal, repo_type, repo_id):
        rev = request.query_params.get("revision") or "main"
        ctx = self._repo_context(request, principal, repo_type, repo_id, rev, "card")
        repo, commit = ctx["repo"], ctx["commit"]
        readme = self.backend.get_entry(repo, commit.oid, "README.md")
        card_html, metadata, readme_note = None, None, None
        if readme is not None and readme.type == "file":
            data = self._read_blob(readme, README_LIMIT + 1) if readme.size <= README_LIMIT else None
            if data is None:
                readme_note = f"README.md is too large to show here ({human_size(readme.size)})."
            else:
                text = data.decode("utf-8", errors="replace")
                yaml_text, body = split_front_matter(text)
                metadata = self._card_data(repo, commit.oid, yaml_text)
                card_html = render_markdown(body, link_for=self._link_for(ctx), image_for=self._image_for(ctx))
        rows = metadata_rows(metadata, repo_url=lambda t, rid: self.repo_base(request, t, rid))
        ctx.update(card_html=card_html, metadata=rows, readme=readme, readme_note=readme_note)
        return "repo.html", ctx

    def _card_data(self, repo, commit_oid, yaml_text):
        try:
            data = self.backend.card_data(repo, commit_oid)
        except (AttributeError, HubServerError):
            data = None
        return data if isinstance(data, dict) else parse_front_matter(yaml_text)

    @staticmethod
    def _link_for(ctx):
        def link(relative: str) -> str:
            path, frag = _split_fragment(relative)
            clean = _clean_relative(path)
            return f"{ctx['repo_base']}/blob/{ctx['rev_q']}/{quote_path(clean)}{frag}" if clean else ctx["repo_base"]
        return link

    @staticmethod
    def _image_for(ctx):
        def image(relative: str) -> str:
            path, _ = _split_fragment(relative)
            clean = _clean_relative(path)
            return f"{ctx['repo_base']}/{ctx['download_view']}/{ctx['rev_q']}/{quote_path(clean)}" if clean else ""
        return image

    def page_tree(self, request, principal, repo_type, repo_id, rev, path):
        ctx = self._repo_context(request, principal, repo_type, repo_id, rev, "tree", path)
        repo, commit = ctx["repo"], ctx["commit"]
        if path:
            entry = self.backend.get_entry(repo, commit.oid, path)
            if entry is None:
                raise _PageError(*NOT_FOUND)
            if entry.type == "file":
                raise _Redirect(f"{ctx['repo_base']}/blob/{ctx['rev_q']}/{quote_path(path)}")
        all_entries = self.backend.list_tree(repo, commit.oid, path)
        entries = sorted(all_entries, key=lambda e: (e.type != "directory", e.path.lower()))[:TREE_ROWS_LIMIT]
        last = {}
        if 0 < len(entries) <= TREE_LAST_COMMIT_LIMIT:
            try:
                last = self.backend.last_commits(repo, commit.oid, [e.path for e in entries]) or {}
            except (AttributeError, NotImplementedError, HubServerError):
                last = {}
        rows = []
        for e in entries:
            view = "tree" if e.type == "directory" else "blob"
            rows.append({"entry": e, "name": posixpath.basename(e.path), "last": last.get(e.path),
                         "url": f"{ctx['repo_base']}/{view}/{ctx['rev_q']}/{quote_path(e.path)}",
                         "download": None if e.type == "directory" else
                         f"{ctx['repo_base']}/{ctx['download_view']}/{ctx['rev_q']}/{quote_path(e.path)}"})
        ctx.update(rows=rows, total_size=sum(e.size for e in all_entries if e.type == "file"),
                   total_entries=len(all_entries))
        return "tree.html", ctx

    def page_blob(self, request, principal, repo_type, repo_id, rev, path):
        if not path:
            raise _PageError(*NOT_FOUND)
        ctx = self._repo_context(request, principal, repo_type, repo_id, rev, "blob", path)
        entry = self.backend.get_entry(ctx["repo"], ctx["commit"].oid, path)
        if entry is None:
            raise _PageError(*NOT_FOUND)
        if entry.type == "directory":
            raise _Redirect(f"{ctx['repo_base']}/tree/{ctx['rev_q']}/{quote_path(path)}")
        lines, note = None, None
        if entry.size <= TEXT_PREVIEW_LIMIT:
            data = self._read_blob(entry, TEXT_PREVIEW_LIMIT)
            if data is not None and looks_like_text(data[:8192]):
                text = data.decode("utf-8", errors="replace")
                lines = text.splitlines() or [""]
            else:
                note = "Binary file: no preview."
        else:
            note = f"This file is too large to show here ({human_size(entry.size)})."
        ctx.update(entry=entry, lines=lines, note=note,
                   download=f"{ctx['repo_base']}/{ctx['download_view']}/{ctx['rev_q']}/{quote_path(path)}")
        return "blob.html", ctx

    def raw_file(self, request, principal, repo_type, repo_id, rev, path):
        """The file's bytes as a download (never rendered: attachment, octet-stream, sandboxed)."""
        from starlette.responses import FileResponse

        repo = self._get_repo(request, principal, repo_type, repo_id)
        commit, _ = self.backend.resolve_revision(repo, rev)
        entry = self.backend.get_entry(repo, commit.oid, path) if path else None
        if entry is None or entry.type != "file" or not entry.sha256:
            raise _PageError(*NOT_FOUND)
        blob = self.backend.blob_path(entry.sha256)
        if not blob.is_file():
            raise _PageError(*NOT_FOUND)
        response = FileResponse(blob, media_type="application/octet-stream", filename=posixpath.basename(path),
                                content_disposition_type="attachment")
        response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store" if repo.private else "no-cache"
        response.headers["Vary"] = "Authorization, Cookie"
        return response

    def page_commits(self, request, principal, repo_type, repo_id, rev):
        ctx = self._repo_context(request, principal, repo_type, repo_id, rev, "commits")
        commits = self.backend.list_commits(ctx["repo"], rev)
        page = _page_number(request)
        shown = commits[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        ctx.update(commits=shown, total=len(commits), pager=_pager(request, page, len(commits), PAGE_SIZE))
        return "commits.html", ctx

    # ---- dispatch of the path-shaped pages ---------------------------------------------------

    def page_any(self, request, principal):
        """Everything under /{ns}... : parse the raw path, then call the page it names."""
        try:
            segs = split_raw_path(request.scope.get("raw_path") or request.url.path.encode(),
                                  request.scope.get("root_path", ""))
        except HubServerError:
            raise _PageError(*NOT_FOUND) from None
        if not segs or segs[0] == "api":
            raise _PageError(*NOT_FOUND)
        if len(segs) == 1:
            if segs[0] in ("models", "datasets", "spaces"):
                return self.page_listing(request, principal, {"models": "model"}.get(segs[0], segs[0][:-1]))
            return self.page_author(request, principal, segs[0])
        repo_type = "model"
        if segs[0] in _TYPES_OF_PREFIX and len(segs) >= 3:
            repo_type, segs = _TYPES_OF_PREFIX[segs[0]], segs[1:]
        if any(not s for s in segs[:2]):
            raise _PageError(*NOT_FOUND)
        repo_id = f"{segs[0]}/{segs[1]}"
        if len(segs) == 2:
            return self.page_card(request, principal, repo_type, repo_id)
        view, rest = segs[2], segs[3:]
        if view not in VIEWS:
            raise _PageError(*NOT_FOUND)
        if not rest:
            rest = [request.query_params.get("revision") or "main"]
        rev, rest = _take_rev(rest)
        path = "/".join(rest)
        if path and not _plausible_path(path):
            raise _PageError(*NOT_FOUND)
        if view == "tree":
            return self.page_tree(request, principal, repo_type, repo_id, rev, path)
        if view == "blob":
            return self.page_blob(request, principal, repo_type, repo_id, rev, path)
        if view == "raw":
            return self.raw_file(request, principal, repo_type, repo_id, rev, path)
        if path:
            raise _PageError(*NOT_FOUND)
        return self.page_commits(request, principal, repo_type, repo_id, rev)

    # ---- sign in / out ------------------------------------------------------------------------

    async def login(self, request):
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import RedirectResponse

        next_url = _local_next(request.query_params.get("next"), self.base(request))
        if request.method == "GET":
            return await run_in_threadpool(self._login_form, request, next_url, None, 200)
        if not _same_origin(request, getattr(self.config, "public_url", None)):
            return await run_in_threadpool(self.error_page, request, 403, "403 – cross-site request refused",
                                           "Sign in from this site's own login form.")
        body = await _read_limited(request, LOGIN_BODY_LIMIT)
        form = parse_qs(body.decode("utf-8", errors="replace")) if body is not None else {}
        token = (form.get("token") or [""])[0].strip()
        next_url = _local_next((form.get("next") or [next_url])[0], self.base(request))
        if not token:
            return await run_in_threadpool(self._login_form, request, next_url, "Enter a token.", 400)
        try:
            principal = await run_in_threadpool(self.backend.authenticate, token)
        except Unauthorized:
            principal = None
        if principal is None:
            return await run_in_threadpool(self._login_form, request, next_url,
                                           "Unknown, expired or revoked token.", 401)
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(COOKIE, token, max_age=COOKIE_MAX_AGE, path=self.base(request) or "/", httponly=True,
                            samesite="lax", secure=self._https(request))
        response.headers["Cache-Control"] = "no-store"
        return response

    def _https(self, request) -> bool:
        """Mark the cookie Secure when the browser talks HTTPS (directly, or to the public URL of a proxy)."""
        public = getattr(self.config, "public_url", None) or ""
        return request.url.scheme == "https" or public.startswith("https://")

    def _login_form(self, request, next_url, error, status):
        return self.render(request, "login.html", {"next": next_url, "error": error, "title": "Sign in"},
                           status=status)

    async def logout(self, request):
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import RedirectResponse

        if not _same_origin(request, getattr(self.config, "public_url", None)):
            return await run_in_threadpool(self.error_page, request, 403, "403 – cross-site request refused", "")
        response = RedirectResponse((self.base(request) or "") + "/", status_code=303)
        response.delete_cookie(COOKIE, path=self.base(request) or "/")
        return response


# ---- helpers ---------------------------------------------------------------------------------------


def _take_rev(segs: list[str]) -> tuple[str, list[str]]:
    """The revision segment (and the unencoded 3-segment `refs/pr/<n>` form old clients used)."""
    if segs[0] == "refs" and len(segs) >= 3 and segs[1] in ("pr", "convert"):
        return "/".join(segs[:3]), segs[3:]
    return segs[0], segs[1:]


def _rev_kind(ref_name: str | None) -> str:
    """What the switcher calls the current revision, from the full ref name resolve_revision gives."""
    if ref_name is None:
        return "commit"
    for prefix, kind in (("refs/tags/", "tag"), ("refs/pr/", "pull request"), ("refs/heads/", "branch")):
        if ref_name.startswith(prefix):
            return kind
    return "branch"


def _plausible_path(path: str) -> bool:
    """Cheap shape check before asking the backend (which validates for real)."""
    parts = path.split("/")
    return "\x00" not in path and "\\" not in path and all(p not in ("", ".", "..") for p in parts)


def _split_fragment(url: str) -> tuple[str, str]:
    path, sep, frag = url.partition("#")
    path = path.split("?", 1)[0]
    return path, (sep + quote(frag, safe="-_.~!$&'()*+,;=:@/?")) if sep else ""


def _clean_relative(path: str) -> str:
    """A card-relative link as a repo path ('./a/../b.md' -> 'b.md'); '' when it leaves the repo."""
    from urllib.parse import unquote

    clean = posixpath.normpath("/" + unquote(path)).lstrip("/")
    return "" if clean in ("", ".") else clean


def _crumbs(repo_base: str, rev: str, path: str) -> list[dict]:
    crumbs, parts = [], [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        sub = "/".join(parts[: i + 1])
        crumbs.append({"name": part, "url": f"{repo_base}/tree/{quote_rev(rev)}/{quote_path(sub)}"})
    return crumbs


def _page_number(request) -> int:
    try:
        return max(1, min(int(request.query_params.get("p", "1")), 10**6))
    except ValueError:
        return 1


def _pager(request, page: int, total: int, size: int) -> dict:
    pages = max(1, (total + size - 1) // size)

    def url(n):
        params = dict(request.query_params)
        params["p"] = str(n)
        return f"{request.url.path}?{urlencode(params)}"

    return {"page": page, "pages": pages, "prev": url(page - 1) if page > 1 else None,
            "next": url(page + 1) if page < pages else None}


def _local_next(value: str | None, base: str) -> str:
    """Only same-site paths as redirect targets after sign-in (no open redirect via ?next=)."""
    home = (base or "") + "/"
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return home
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 0x20 for c in value):
        return home
    return value


def _same_origin(request, public_url: str | None = None) -> bool:
    """Reject form posts another site made the browser send (Origin / Sec-Fetch-Site). Behind a proxy
    that rewrites Host, the configured public URL is this site's origin."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    ours = {request.headers.get("host", "")} | ({urlsplit(public_url).netloc} if public_url else set())
    return urlsplit(origin).netloc in ours


async def _read_limited(request, limit: int) -> bytes | None:
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            return None
    return data


def add_web_routes(app, backend, config=None) -> WebPages:
    """Register the HTML pages on `app` (after the API routes, which keep precedence)."""
    pages = WebPages(backend, config)

    def route(page, *args):
        def endpoint(request):
            return pages.handle(request, page, *args)
        return endpoint

    app.add_route("/", route(pages.page_home), methods=["GET"], include_in_schema=False)
    app.add_route("/search", route(pages.page_home), methods=["GET"], include_in_schema=False)
    app.add_route("/login", pages.login, methods=["GET", "POST"], include_in_schema=False)
    app.add_route("/logout", pages.logout, methods=["POST"], include_in_schema=False)
    app.add_route("/{rest:path}", route(pages.page_any), methods=["GET"], include_in_schema=False)
    app.state.web_pages = pages
    return pages
