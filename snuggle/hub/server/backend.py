"""HubBackend: the storage and data layer behind the Hub HTTP API (plain Python, no HTTP).

Users, orgs and tokens; repos with the spec's visibility and permission rules (§12); listing and
search. Reading trees lives in backend_trees.py, refs/commits/discussions in backend_commits.py, the
content-addressed blob store and LFS upload bookkeeping in backend_blobs.py; HubBackend combines them.

Thread-safe: one SQLAlchemy engine per backend, one short session per call.

>>> import tempfile
>>> backend = HubBackend(ServerConfig(data_dir=tempfile.mkdtemp()))
>>> backend.add_user("alice")
>>> alice = backend.authenticate(backend.create_token("alice"))
>>> repo = backend.create_repo(alice, "model", "alice/tiny")
>>> commit, ref = backend.resolve_revision(repo, "main")
>>> ref, commit.title
('refs/heads/main', 'initial commit')
>>> backend.close()
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import string
import threading
import time
import weakref
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterable

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from snuggle.hub.server import db
from snuggle.hub.server.backend_blobs import BlobsMixin, insert_ignore
from snuggle.hub.server.backend_commits import CommitsMixin
from snuggle.hub.server.backend_trees import TreeReadingMixin, card_tags, encode_tree
from snuggle.hub.server.config import ServerConfig
from snuggle.hub.server.errors import (
    INVALID_CREDENTIALS,
    BadRequest,
    Conflict,
    Forbidden,
    RepoNotFound,
    RevisionNotFound,
    Unauthorized,
)
from snuggle.hub.server.gitobjects import commit_message, git_commit_oid
from snuggle.hub.server.paths import check_repo_part, split_repo_id
from snuggle.hub.server.records import Principal, RepoRecord
from snuggle.hub.server.storage import BlobStore

REPO_TYPES = ("model", "dataset", "space")
TOKEN_PREFIX = "hf_"
_TOKEN_ALPHABET = string.ascii_letters + string.digits
SYSTEM_AUTHOR = "system"

# The .gitattributes of the initial commit: the real Hub's default LFS patterns (spec §4).
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib", "*.lfs.*",
        "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet", "*.pb",
        "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors", "saved_model/**/*", "*.tar.*",
        "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*",
    )
).encode()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def normalize_repo_type(repo_type: str | None) -> str:
    """"model" for None; plural forms accepted ("models" -> "model"); anything else -> RepoNotFound."""
    if repo_type is None:
        return "model"
    rt = repo_type[:-1] if isinstance(repo_type, str) and repo_type.endswith("s") else repo_type
    if rt not in REPO_TYPES:
        raise RepoNotFound(f"Unknown repo type {repo_type!r}")
    return rt


class HubBackend(TreeReadingMixin, CommitsMixin, BlobsMixin):
    """The Hub server's storage layer. See contract: /work/notes/hub/contract.md and spec §12."""

    def __init__(self, config: ServerConfig):
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self._store = BlobStore(config.data_dir)
        self._engine = db.make_engine(config.database_url)
        self._sqlite = self._engine.dialect.name == "sqlite"
        # Indexed point reads of a local SQLite file (WAL: readers never wait for writers) cost ~0.1 ms, less
        # than a hop to a worker thread: the HTTP layer may run them on the event loop (HEAD/GET /resolve).
        # A network database may stall, so its reads stay in worker threads.
        self.loop_reads = self._sqlite
        db.create_schema(self._engine)
        self._init_tree_caches()
        self._locks_guard = threading.Lock()
        self._ref_locks: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        # token sha256 -> (valid until, on the time.monotonic() clock; Principal): ServerConfig.auth_cache_seconds
        self._auth_cache: dict[str, tuple[float, Principal]] = {}
        self._auth_generation = 0  # bumped by every local change to tokens, users or orgs

    def close(self) -> None:
        self._engine.dispose()

    # -- sessions ----------------------------------------------------------------------------------------
    @contextmanager
    def _read(self):
        with Session(self._engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def _conn(self):
        """A plain connection for the hot read paths (no ORM session)."""
        with self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self, conflict: str | None = None):
        """A write transaction. On SQLite it starts with BEGIN IMMEDIATE: the write lock is taken up front
        (waiting up to busy_timeout), so a read-then-write transaction never fails with 'database is
        locked' halfway through. With `conflict`, a unique-key violation (two PostgreSQL sessions creating
        the same name at once) becomes Conflict(conflict)."""
        from sqlalchemy.exc import IntegrityError

        with Session(self._engine, expire_on_commit=False) as session:
            if self._sqlite:
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield session
                session.commit()
            except IntegrityError:
                session.rollback()
                if conflict is None:
                    raise
                raise Conflict(conflict) from None
            except BaseException:
                session.rollback()
                raise

    def _ref_lock(self, repo_id: int, ref: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._ref_locks.get((repo_id, ref))
            if lock is None:
                lock = threading.Lock()
                self._ref_locks[(repo_id, ref)] = lock
            return lock

    # -- users, orgs, tokens -----------------------------------------------------------------------------
    def add_user(self, name: str, *, orgs: Iterable[str] = (), fullname=None, email=None) -> None:
        """Create user `name` (Conflict if the name is taken by a user or org) and add it to `orgs`."""
        check_repo_part(name, what="user name")
        _check_not_reserved(name, "user name")
        with self._write(conflict=f"User {name!r} already exists") as s:
            if s.scalar(select(db.User.id).where(db.User.name == name)) is not None:
                raise Conflict(f"User {name!r} already exists")
            if s.scalar(select(db.Org.id).where(db.Org.name == name)) is not None:
                raise Conflict(f"{name!r} is already the name of an organization")
            s.add(db.User(name=name, fullname=fullname, email=email))
            s.flush()
            for org in orgs:
                self._add_member(s, org, name)

    def add_org_member(self, org: str, user: str) -> None:
        """Add `user` to organization `org` (created if missing) as a writer."""
        with self._write(conflict=f"{user!r} is already a member of {org!r}") as s:
            self._add_member(s, org, user)
        self._forget_principals()

    def _add_member(self, s: Session, org: str, user: str) -> None:
        check_repo_part(org, what="organization name")
        _check_not_reserved(org, "organization name")
        user_id = s.scalar(select(db.User.id).where(db.User.name == user))
        if user_id is None:
            raise BadRequest(f"Unknown user {user!r}: create it first (snuggle hub user add {user})")
        if s.scalar(select(db.User.id).where(db.User.name == org)) is not None:
            raise Conflict(f"{org!r} is a user name, it cannot be an organization")
        org_id = s.scalar(select(db.Org.id).where(db.Org.name == org))
        if org_id is None:
            row = db.Org(name=org)
            s.add(row)
            s.flush()
            org_id = row.id
        if s.get(db.Membership, (org_id, user_id)) is None:
            s.add(db.Membership(org_id=org_id, user_id=user_id, role="write"))

    def create_token(self, user: str, *, role: str = "write", name: str = "default", expires_at=None) -> str:
        """A new token for `user`; the returned string is the only copy of the secret (only its sha256 is
        stored)."""
        if role not in ("read", "write"):
            raise BadRequest(f"Invalid token role {role!r}: expected 'read' or 'write'")
        token = TOKEN_PREFIX + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(34))  # ~202 bits
        with self._write() as s:
            user_id = s.scalar(select(db.User.id).where(db.User.name == user))
            if user_id is None:
                raise BadRequest(f"Unknown user {user!r}: create it first (snuggle hub user add {user})")
            s.add(db.Token(user_id=user_id, token_hash=hash_token(token), role=role, name=name, expires_at=expires_at))
        return token

    def revoke_token(self, token: str) -> None:
        with self._write() as s:
            s.execute(update(db.Token).where(db.Token.token_hash == hash_token(token)).values(revoked=True))
        self._forget_principals()

    def _forget_principals(self) -> None:
        self._auth_generation += 1
        self._auth_cache = {}

    def authenticate(self, token: str | None) -> Principal | None:
        """Principal of a presented token; None when no token; Unauthorized for unknown, expired or revoked
        tokens (never a silent fall-back to anonymous)."""
        if token is None or token == "":
            return None
        digest = hash_token(token)
        hit = self._auth_cache.get(digest)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        generation = self._auth_generation
        with self._conn() as conn:
            rows = conn.execute(db.Q_TOKEN, {"digest": digest}).all()
        if not rows:
            raise Unauthorized(INVALID_CREDENTIALS)
        tok = rows[0]
        # the lookup used the hash index; compare again in constant time so timing says nothing
        if not hmac.compare_digest(tok.token_hash, digest) or tok.revoked:
            raise Unauthorized(INVALID_CREDENTIALS)
        if tok.expires_at is not None and tok.expires_at <= datetime.now(timezone.utc):
            raise Unauthorized(INVALID_CREDENTIALS)
        orgs = [r.org_name for r in rows if r.org_name is not None]
        user = tok.user_name
        principal = Principal(user=user, role=tok.role, orgs=frozenset(orgs), token_name=tok.name)
        self._remember_principal(digest, principal, tok.expires_at, generation)
        return principal

    def _remember_principal(self, digest: str, principal: Principal, expires_at, generation: int) -> None:
        """Reuse a successful lookup for auth_cache_seconds (never past the token's expiry, never when the
        tokens changed locally while it ran). Failed lookups are not cached: nothing to gain from them."""
        ttl = self.config.auth_cache_seconds
        if expires_at is not None:
            ttl = min(ttl, (expires_at - datetime.now(timezone.utc)).total_seconds())
        if ttl <= 0:
            return
        cache = self._auth_cache
        if len(cache) >= 10000:  # bounded: many distinct tokens just start over
            cache = self._auth_cache = {}
        if generation == self._auth_generation:
            cache[digest] = (time.monotonic() + ttl, principal)

    def whoami(self, principal: Principal) -> dict:
        """The /api/whoami-v2 body (spec §3)."""
        if principal is None:
            raise Unauthorized("Authentication required: pass a token")
        with self._read() as s:
            user = s.scalar(select(db.User).where(db.User.name == principal.user))
        return {
            "type": "user",
            "id": str(user.id) if user else principal.user,
            "name": principal.user,
            "fullname": (user.fullname if user and user.fullname else principal.user),
            "email": user.email if user else None,
            "emailVerified": bool(user and user.email),
            "isPro": False,
            "canPay": False,
            "orgs": [{"name": org, "fullname": org, "type": "org", "roleInOrg": "write"} for org in sorted(principal.orgs)],
            "auth": {"type": "access_token", "accessToken": {"displayName": principal.token_name, "role": principal.role}},
        }

    def user_exists(self, name: str) -> bool:
        with self._read() as s:
            return s.scalar(select(db.User.id).where(db.User.name == name)) is not None

    # -- permissions -------------------------------------------------------------------------------------
    @staticmethod
    def can_read(principal: Principal | None, repo: RepoRecord) -> bool:
        return not repo.private or (principal is not None and repo.namespace in principal.namespaces())

    @staticmethod
    def _require_namespace_write(principal: Principal | None, namespace: str) -> None:
        if principal is None:
            raise Unauthorized("Authentication required: this operation needs a write token")
        if principal.role != "write":
            raise Forbidden("This operation needs a write token; the token used is read-only")
        if namespace not in principal.namespaces():
            raise Forbidden(f"You don't have the rights to write to the namespace {namespace!r}")

    def _require_write(self, principal: Principal | None, repo: RepoRecord) -> None:
        if not self.can_read(principal, repo):
            raise RepoNotFound(f"Repository not found: {repo.repo_id}")
        self._require_namespace_write(principal, repo.namespace)

    # -- repos -------------------------------------------------------------------------------------------
    @staticmethod
    def _repo_record(row) -> RepoRecord:
        return RepoRecord(
            id=row.id, repo_type=row.repo_type, namespace=row.namespace, name=row.name, private=bool(row.private),
            gated=row.gated or False, created_at=row.created_at, last_modified=row.last_modified,
            author=row.author, tags=tuple(json.loads(row.card_tags or "[]")),
        )

    def _repo_row(self, s, repo_type: str, namespace: str, name: str):
        """The repo's row (columns as attributes) or None; `s` is a Session or a Connection."""
        return s.execute(db.Q_REPO, {"repo_type": repo_type, "namespace": namespace, "name": name}).first()

    def get_repo(self, principal: Principal | None, repo_type: str, repo_id: str, *, access: str = "read") -> RepoRecord:
        """The repo if `principal` may access it. Missing or private-and-not-yours -> RepoNotFound; for
        access="write": anonymous -> Unauthorized, read token or other namespace -> Forbidden."""
        repo_type = normalize_repo_type(repo_type)
        try:
            namespace, name = split_repo_id(repo_id)
        except BadRequest:
            raise RepoNotFound(f"Repository not found: {repo_id}") from None
        with self._conn() as conn:
            row = self._repo_row(conn, repo_type, namespace, name)
            repo = self._repo_record(row) if row is not None else None
        if repo is None or not self.can_read(principal, repo):
            raise RepoNotFound(f"Repository not found: {repo_id}")
        if access == "write":
            self._require_namespace_write(principal, namespace)
        return repo

    def get_repo_at(self, principal: Principal | None, repo_type: str, repo_id: str, rev: str):
        """get_repo(principal, repo_type, repo_id) then resolve_revision(repo, rev), with the repo and its
        refs read in one query (HEAD/GET /resolve): (repo, commit, ref name or None). Same errors in the
        same order (RepoNotFound before anything about the revision)."""
        repo_type = normalize_repo_type(repo_type)
        try:
            namespace, name = split_repo_id(repo_id)
        except BadRequest:
            raise RepoNotFound(f"Repository not found: {repo_id}") from None
        valid_rev = isinstance(rev, str) and 0 < len(rev) <= 600
        candidates = self._ref_candidates(rev) if valid_rev else []
        with self._conn() as conn:
            rows = conn.execute(db.Q_REPO_REFS, {"repo_type": repo_type, "namespace": namespace, "name": name,
                                                 "names": candidates}).all()
            repo = self._repo_record(rows[0]) if rows else None
            if repo is None or not self.can_read(principal, repo):
                raise RepoNotFound(f"Repository not found: {repo_id}")
            if not valid_rev:
                raise RevisionNotFound(f"Invalid rev id: {rev}")
            found = {row.ref_name: row.ref_target for row in rows if row.ref_name is not None}
            commit, ref = self._resolve_with_refs(conn, repo, rev, candidates, found)
        return repo, commit, ref

    def get_repo_by_row_id(self, row_id: int) -> RepoRecord | None:
        """The repo with internal id `row_id` (no permission check; for internal use such as signed URLs)."""
        with self._read() as s:
            row = s.get(db.Repo, row_id)
            return self._repo_record(row) if row is not None else None

    def resolve_redirect(self, principal: Principal | None, repo_type: str, repo_id: str) -> str | None:
        """Current id of a repo that was moved away from `repo_id`, if the caller may read it; else None."""
        repo_type = normalize_repo_type(repo_type)
        try:
            namespace, name = split_repo_id(repo_id)
        except BadRequest:
            return None
        with self._read() as s:
            row = s.execute(
                select(db.Repo).join(db.RepoRedirect, db.RepoRedirect.repo_id == db.Repo.id).where(
                    db.RepoRedirect.repo_type == repo_type, db.RepoRedirect.namespace == namespace,
                    db.RepoRedirect.name == name,
                )
            ).scalar()
            repo = self._repo_record(row) if row is not None else None
        if repo is None or not self.can_read(principal, repo):
            return None
        return repo.repo_id

    def create_repo(self, principal: Principal | None, repo_type: str, repo_id: str, *, private: bool = False) -> RepoRecord:
        """Create a repo whose main branch holds the initial commit (title 'initial commit', author
        'system', a default .gitattributes). Conflict if it exists."""
        if repo_type not in REPO_TYPES:
            raise BadRequest(f"Invalid repo type {repo_type!r}: expected one of {', '.join(REPO_TYPES)}")
        namespace, name = split_repo_id(repo_id)
        self._require_namespace_write(principal, namespace)
        attrs = self._store_inline(DEFAULT_GITATTRIBUTES)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        with self._write(conflict=f"You already created this {repo_type} repo: {repo_id}") as s:
            if self._repo_row(s, repo_type, namespace, name) is not None:
                raise Conflict(f"You already created this {repo_type} repo: {repo_id}")
            row = db.Repo(
                repo_type=repo_type, namespace=namespace, name=name, search_key=repo_id.lower(), private=bool(private),
                gated=None, author=namespace, created_at=now, last_modified=now, card_tags="[]",
            )
            s.add(row)
            s.flush()
            tree_oid, text = encode_tree({".gitattributes": (".gitattributes", "blob", attrs.git_oid, attrs.size, attrs.sha256)})
            insert_ignore(s, db.Tree, [{"oid": tree_oid, "entries": text}])
            message = commit_message("initial commit")
            oid = git_commit_oid(tree_oid, [], SYSTEM_AUTHOR, f"{SYSTEM_AUTHOR}@hub", now, message)
            s.add(db.Commit(repo_id=row.id, oid=oid, tree=tree_oid, parents="", author=SYSTEM_AUTHOR,
                            title="initial commit", message="", created_at=now))
            s.add(db.Ref(repo_id=row.id, name="refs/heads/main", target=oid))
            insert_ignore(s, db.RepoObject, [{"repo_id": row.id, "sha256": attrs.sha256}])
            # a new repo takes its name back from any redirect left by a move
            s.execute(delete(db.RepoRedirect).where(
                db.RepoRedirect.repo_type == repo_type, db.RepoRedirect.namespace == namespace,
                db.RepoRedirect.name == name,
            ))
            s.flush()
            return self._repo_record(row)

    def delete_repo(self, principal: Principal | None, repo_type: str, repo_id: str) -> None:
        """Delete a repo with its refs, commits, discussions and upload records at once. Blobs stay in
        the store (shared by content) but are unreachable through this repo id, also after re-creation."""
        repo = self.get_repo(principal, repo_type, repo_id, access="write")
        with self._write() as s:
            for model in (db.Ref, db.Commit, db.DiscussionRow, db.LfsUpload, db.RepoObject, db.RepoTag, db.RepoRedirect):
                s.execute(delete(model).where(model.repo_id == repo.id))
            s.execute(delete(db.Repo).where(db.Repo.id == repo.id))

    def move_repo(self, principal: Principal | None, repo_type: str, from_id: str, to_id: str) -> RepoRecord:
        """Rename a repo (write access on the source and on the target namespace; Conflict if the target
        exists). Reads of the old name can be redirected with resolve_redirect()."""
        repo = self.get_repo(principal, repo_type, from_id, access="write")
        namespace, name = split_repo_id(to_id)
        self._require_namespace_write(principal, namespace)
        with self._write(conflict=f"Repository {to_id} already exists") as s:
            if self._repo_row(s, repo.repo_type, namespace, name) is not None:
                raise Conflict(f"Repository {to_id} already exists")
            s.execute(update(db.Repo).where(db.Repo.id == repo.id).values(
                namespace=namespace, name=name, search_key=to_id.lower(), author=namespace,
            ))
            s.execute(delete(db.RepoRedirect).where(
                db.RepoRedirect.repo_type == repo.repo_type, db.RepoRedirect.namespace.in_([repo.namespace, namespace]),
                db.RepoRedirect.name.in_([repo.name, name]),
            ))
            if (repo.namespace, repo.name) != (namespace, name):
                s.add(db.RepoRedirect(repo_type=repo.repo_type, namespace=repo.namespace, name=repo.name, repo_id=repo.id))
            s.flush()
            return self._repo_record(s.get(db.Repo, repo.id))

    def update_settings(self, principal: Principal | None, repo_type: str, repo_id: str, *, private: bool | None = None,
                        gated=None) -> RepoRecord:
        """Change visibility (takes effect at once everywhere). Gating is not implemented: gated=False is
        accepted, "auto"/"manual" -> BadRequest (spec §4 allows rejecting)."""
        repo = self.get_repo(principal, repo_type, repo_id, access="write")
        if gated not in (None, False, "false"):
            raise BadRequest("Gated repos are not supported by this server: use a private repo instead")
        with self._write() as s:
            if private is not None:
                s.execute(update(db.Repo).where(db.Repo.id == repo.id).values(private=bool(private)))
            row = s.get(db.Repo, repo.id)
            if row is None:
                raise RepoNotFound(f"Repository not found: {repo_id}")
            s.flush()
            return self._repo_record(row)

    def list_repos(self, principal: Principal | None, repo_type: str, *, search=None, author=None, filters=(),
                   sort=None, direction=None, limit=None, offset: int = 0) -> tuple[list[RepoRecord], int]:
        """Repos of `repo_type` the caller may read, with the total count (before limit/offset).

        search: case-insensitive substring of "ns/name"; author: exact namespace; filters: each must be
        one of the repo's card tags; sort: lastModified, createdAt, id (downloads/likes/trendingScore
        count as 0: stable id order); direction -1 = descending (default for the time sorts).
        """
        repo_type = normalize_repo_type(repo_type)
        conds = [db.Repo.repo_type == repo_type]
        if principal is None:
            conds.append(db.Repo.private.is_(False))
        else:
            conds.append(or_(db.Repo.private.is_(False), db.Repo.namespace.in_(sorted(principal.namespaces()))))
        if search:
            conds.append(db.Repo.search_key.contains(str(search).lower(), autoescape=True))
        if author:
            conds.append(db.Repo.namespace == author)
        if isinstance(filters, str):
            filters = [filters]
        for tag in filters or ():
            conds.append(exists().where(and_(db.RepoTag.repo_id == db.Repo.id, db.RepoTag.tag == str(tag))))
        columns = {"lastModified": [db.Repo.last_modified], "last_modified": [db.Repo.last_modified],
                   "createdAt": [db.Repo.created_at], "created_at": [db.Repo.created_at],
                   "id": [db.Repo.namespace, db.Repo.name]}.get(sort or "", [])
        if direction in (None, ""):
            descending = bool(columns) and sort not in ("id",)
        else:
            descending = str(direction) == "-1"
        order = [c.desc() if descending else c.asc() for c in columns]
        order.append(db.Repo.id.desc() if descending else db.Repo.id.asc())
        query = select(db.Repo).where(*conds).order_by(*order).offset(max(0, int(offset or 0)))
        if limit is not None:
            query = query.limit(max(0, int(limit)))
        with self._read() as s:
            total = s.scalar(select(func.count()).select_from(db.Repo).where(*conds))
            rows = [self._repo_record(r) for r in s.scalars(query)]
        return rows, int(total or 0)

    def _set_card_tags(self, s: Session, repo_id: int, card: dict | None) -> None:
        tags = card_tags(card)
        s.execute(update(db.Repo).where(db.Repo.id == repo_id).values(card_tags=json.dumps(tags)))
        s.execute(delete(db.RepoTag).where(db.RepoTag.repo_id == repo_id))
        insert_ignore(s, db.RepoTag, [{"repo_id": repo_id, "tag": t[:256]} for t in tags])


# First URL segments the server routes itself: a namespace with one of these names would be unreachable.
RESERVED_NAMESPACES = frozenset({"api", "datasets", "spaces", "models", "login", "logout", "search", "static"})


def _check_not_reserved(name: str, what: str) -> None:
    if name.lower() in RESERVED_NAMESPACES:
        raise BadRequest(f"{what} {name!r} is reserved (it is a URL prefix of the Hub: "
                         f"{', '.join(sorted(RESERVED_NAMESPACES))}); choose another name")
