"""The Hub server's database: SQLAlchemy 2 tables (portable types: SQLite and PostgreSQL) and the engine.

Git objects are content-addressed: `trees` rows are keyed by their git tree id and shared by every
commit (and repo) that has the same folder; `commits` rows are keyed by (repo, commit id), so a commit
is only reachable inside the repo that made it. Repo row ids are never reused (AUTOINCREMENT on
SQLite, a sequence on PostgreSQL): a deleted-then-recreated repo cannot see the old one's commits.

>>> engine = make_engine("sqlite://")
>>> Base.metadata.create_all(engine)
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    and_,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    bindparam,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive (portable across SQLite/PostgreSQL)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(96), unique=True)
    fullname: Mapped[str | None] = mapped_column(String(256), nullable=True)
    email: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Org(Base):
    __tablename__ = "orgs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(96), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Membership(Base):
    __tablename__ = "memberships"
    org_id: Mapped[int] = mapped_column(ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), default="write")


class Token(Base):
    """An access token; only the sha256 of the secret is stored."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Repo(Base):
    __tablename__ = "repos"
    __table_args__ = (
        UniqueConstraint("repo_type", "namespace", "name", name="uq_repo_id"),
        Index("ix_repos_type_search", "repo_type", "search_key"),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repo_type: Mapped[str] = mapped_column(String(16))
    namespace: Mapped[str] = mapped_column(String(96))
    name: Mapped[str] = mapped_column(String(96))
    search_key: Mapped[str] = mapped_column(String(200))  # lower("ns/name") for case-insensitive search
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    gated: Mapped[str | None] = mapped_column(String(16), nullable=True)
    author: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    card_tags: Mapped[str] = mapped_column(Text, default="[]")  # JSON list, the tags of main's README card


class RepoTag(Base):
    """Card-derived tags of a repo's main branch, one row per tag, for listing filters in one query."""

    __tablename__ = "repo_tags"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(256), primary_key=True, index=True)


class RepoRedirect(Base):
    """Old name of a moved repo -> the repo (reads of the old name redirect)."""

    __tablename__ = "repo_redirects"
    repo_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(96), primary_key=True)
    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))


class Commit(Base):
    __tablename__ = "commits"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    oid: Mapped[str] = mapped_column(String(40), primary_key=True)
    tree: Mapped[str] = mapped_column(String(40))
    parents: Mapped[str] = mapped_column(String(200), default="")  # space-separated, first parent first
    author: Mapped[str] = mapped_column(String(96))
    title: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Ref(Base):
    """A branch (refs/heads/x), tag (refs/tags/x) or pull request (refs/pr/N) of a repo."""

    __tablename__ = "refs"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    target: Mapped[str] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text, nullable=True)


class Tree(Base):
    """A git tree by its id; `entries` is JSON [[name, kind, oid, size, sha256], ...] (kind: tree|blob|lfs)."""

    __tablename__ = "trees"
    oid: Mapped[str] = mapped_column(String(40), primary_key=True)
    entries: Mapped[str] = mapped_column(Text)


class Blob(Base):
    """Facts about a stored blob: size and its git blob id (for regular files)."""

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    git_oid: Mapped[str | None] = mapped_column(String(40), nullable=True)


class RepoObject(Base):
    """Blob sha256 referenced by some commit of a repo (for the LFS usability rule, spec §12)."""

    __tablename__ = "repo_objects"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class LfsUpload(Base):
    """Who uploaded which LFS object to which repo."""

    __tablename__ = "lfs_uploads"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DiscussionRow(Base):
    __tablename__ = "discussions"
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True)
    num: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    is_pull_request: Mapped[bool] = mapped_column(Boolean, default=False)
    author: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ---- hot-path statements, built once (constructing a statement costs more than running it on SQLite) ----

Q_TOKEN = (
    select(Token.token_hash, Token.role, Token.name, Token.revoked, Token.expires_at, User.name.label("user_name"),
           Org.name.label("org_name"))
    .join(User, User.id == Token.user_id)
    .outerjoin(Membership, Membership.user_id == Token.user_id)
    .outerjoin(Org, Org.id == Membership.org_id)
    .where(Token.token_hash == bindparam("digest"))
)
Q_REPO = select(Repo.__table__).where(
    Repo.repo_type == bindparam("repo_type"), Repo.namespace == bindparam("namespace"), Repo.name == bindparam("name")
)
Q_REFS = select(Ref.name, Ref.target).where(Ref.repo_id == bindparam("repo_id"), Ref.name.in_(bindparam("names", expanding=True)))
# a repo and the refs a revision may name, in one round trip (the /resolve hot path); no row: no repo
Q_REPO_REFS = (
    select(Repo.__table__, Ref.name.label("ref_name"), Ref.target.label("ref_target"))
    .select_from(Repo.__table__.outerjoin(
        Ref.__table__, and_(Ref.repo_id == Repo.id, Ref.name.in_(bindparam("names", expanding=True)))))
    .where(Repo.repo_type == bindparam("repo_type"), Repo.namespace == bindparam("namespace"),
           Repo.name == bindparam("name"))
)
Q_COMMIT = select(Commit.__table__).where(Commit.repo_id == bindparam("repo_id"), Commit.oid == bindparam("oid"))
Q_TREE = select(Tree.entries).where(Tree.oid == bindparam("oid"))


def make_engine(url: str, *, pool_size: int = 16) -> Engine:
    """One engine per backend. SQLite: WAL, busy_timeout, foreign keys; connections usable from any
    thread (FastAPI runs handlers in a thread pool)."""
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        kwargs = {"connect_args": {"check_same_thread": False, "timeout": 60}}
        if memory:
            from sqlalchemy.pool import StaticPool

            kwargs["poolclass"] = StaticPool
        else:
            kwargs.update(pool_size=pool_size, max_overflow=2 * pool_size, pool_timeout=60)
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=2 * pool_size, pool_pre_ping=True, pool_timeout=60)


def create_schema(engine: Engine) -> None:
    """Create missing tables (idempotent; two processes starting at once may race, so retry once)."""
    try:
        Base.metadata.create_all(engine)
    except Exception:
        Base.metadata.create_all(engine)
