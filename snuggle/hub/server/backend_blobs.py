"""Blobs of the Hub backend: the content-addressed store, the facts the database keeps about each blob
(size, git blob id), LFS upload bookkeeping and garbage collection. Mixed into HubBackend (needs its
_store, _conn/_read/_write and config).

>>> import tempfile
>>> from snuggle.hub.server.backend import HubBackend
>>> backend = HubBackend(ServerConfig(data_dir=tempfile.mkdtemp()))
>>> sha, size = backend.store_blob([b"hello"], expected_size=5)
>>> backend.blob_git_oid(sha)
'b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0'
>>> backend.close()
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from sqlalchemy import bindparam, or_, select, update

from snuggle.hub.server import db
from snuggle.hub.server.config import ServerConfig  # noqa: F401  (doctest)
from snuggle.hub.server.errors import INVALID_CREDENTIALS, BadRequest, Unauthorized
from snuggle.hub.server.records import Principal, RepoRecord
from snuggle.hub.server.storage import check_sha256


def insert_ignore(session, model, rows: list[dict], chunk: int = 2000) -> None:
    """INSERT ... ON CONFLICT DO NOTHING (content-addressed rows written by concurrent commits).

    One statement executed with many parameter sets (SQLAlchemy batches them), not one statement per row.
    """
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(model).on_conflict_do_nothing()
    for start in range(0, len(rows), chunk):
        session.execute(stmt, rows[start : start + chunk])


class BlobsMixin:
    """blob_path / store_blob(s) / blob_git_oid(s) / gc_blobs / LFS upload records of HubBackend."""

    def blob_path(self, sha256: str) -> Path:
        """File of a stored blob (for streaming and Range reads); the key is validated (BadRequest)."""
        return self._store.path(sha256)

    def blob_size(self, sha256: str) -> int | None:
        return self._store.size(sha256)

    def store_blob(self, chunks: Iterable[bytes], *, expected_sha256=None, expected_size=None, max_size=None) -> tuple[str, int]:
        """Stream `chunks` into the blob store; (sha256, size). BadRequest on hash/size mismatch, TooLarge
        over `max_size`; nothing is left behind on error. Pass `expected_size` when known (e.g. decoded
        base64 length): the git blob id is then computed in the same pass instead of at commit time."""
        blob = self._store.store_detailed(chunks, expected_sha256=expected_sha256, expected_size=expected_size, max_size=max_size)
        if blob.git_oid is not None:
            self._remember_blob(blob.sha256, blob.size, blob.git_oid)
        return blob.sha256, blob.size

    def store_blobs(self, items: Iterable[tuple]) -> list[tuple[str, int]]:
        """Store many checked contents at once (a commit's inline files): items are (chunks,
        expected_sha256, expected_size); [(sha256, size)]. Same checks and durability as store_blob() (each
        file is fsynced before it is published), but the fsyncs are issued together and the blobs are
        recorded in one database transaction instead of one each."""
        blobs = self._store.store_many(items)
        self._remember_blobs([(b.sha256, b.size, b.git_oid) for b in blobs])
        return [(b.sha256, b.size) for b in blobs]

    def _store_inline(self, data: bytes):
        blob = self._store.store_bytes(data)
        self._remember_blob(blob.sha256, blob.size, blob.git_oid)
        return blob

    def _remember_blob(self, sha256: str, size: int, git_oid: str | None) -> None:
        self._remember_blobs([(sha256, size, git_oid)])

    def _remember_blobs(self, blobs: list[tuple[str, int, str | None]]) -> None:
        """Record (sha256, size, git oid or None) facts in one transaction; a known git oid fills in a row
        stored earlier without one."""
        rows = {sha: {"sha256": sha, "size": size, "git_oid": oid} for sha, size, oid in blobs}
        if not rows:
            return
        with self._write() as s:
            insert_ignore(s, db.Blob, list(rows.values()))
            fill = [{"b_sha": sha, "b_oid": r["git_oid"]} for sha, r in rows.items() if r["git_oid"] is not None]
            if fill:
                table = db.Blob.__table__
                stmt = (update(table).where(table.c.sha256 == bindparam("b_sha"), table.c.git_oid.is_(None))
                        .values(git_oid=bindparam("b_oid")))
                s.connection().execute(stmt, fill)  # Core executemany: one statement, many parameter sets

    def blob_git_oid(self, sha256: str) -> str | None:
        """Git blob id of a stored blob (computed from the file once and remembered); None if not stored."""
        check_sha256(sha256)
        return self.blob_git_oids([sha256]).get(sha256)

    def blob_git_oids(self, shas: Iterable[str]) -> dict[str, str]:
        """Git blob ids of many stored blobs in one query; blobs whose id is not known yet (stored without
        a declared size) are hashed from their file now and remembered. Missing blobs are left out."""
        from snuggle.hub.server.gitobjects import git_blob_oid_of_file

        wanted = sorted(set(shas))
        known: dict[str, str] = {}
        with self._conn() as conn:
            for start in range(0, len(wanted), 500):
                rows = conn.execute(select(db.Blob.sha256, db.Blob.git_oid).where(db.Blob.sha256.in_(wanted[start : start + 500])))
                known.update({sha: oid for sha, oid in rows if oid})
        fresh = []
        for sha in wanted:
            if sha in known:
                continue
            size = self._store.size(sha)
            if size is None:
                continue
            known[sha] = git_blob_oid_of_file(self._store.path(sha), size)
            fresh.append({"sha256": sha, "size": size, "git_oid": known[sha]})
        if fresh:
            with self._write() as s:
                # rows are only ever written with their git id, so a plain insert-or-ignore is enough
                insert_ignore(s, db.Blob, fresh)
        return known

    def touch_blob(self, sha256: str) -> None:
        """Mark a stored blob as just used (its mtime): garbage collection spares it for its grace period.
        Called when the LFS batch tells a client an object is already there, so the commit that follows
        finds it even if the blob was otherwise unreferenced."""
        import os

        try:
            os.utime(self._store.path(sha256))
        except FileNotFoundError:
            pass

    def gc_blobs(self, *, grace_seconds: float = 3600, dry_run: bool = False) -> dict:
        """Delete blobs no commit of an existing repo references (left by deleted repos, refused commits
        and LFS uploads never committed); safe while servers run on the same data directory.

        Kept: blobs referenced by a commit of an existing repo, LFS objects uploaded to an existing repo
        within `grace_seconds`, and every blob written, deduplicated or reused (touch_blob) within
        `grace_seconds` — a commit in flight stores its contents before it records them. Stale temporary
        files are removed too, and the upload records of removed LFS objects. Returns {"removed",
        "kept", "bytes_freed", "tmp_removed", "removed_sha256"} (with dry_run, what would be removed).

        >>> import tempfile
        >>> from snuggle.hub.server.backend import HubBackend
        >>> backend = HubBackend(ServerConfig(data_dir=tempfile.mkdtemp()))
        >>> sha, _ = backend.store_blob([b"an orphan, but a young one"])
        >>> backend.gc_blobs(grace_seconds=3600)["removed"]
        0
        >>> backend.close()
        """
        import os
        import time

        from sqlalchemy import delete

        now = time.time()
        cutoff = now - grace_seconds
        cutoff_dt = datetime.fromtimestamp(cutoff, timezone.utc).replace(tzinfo=None)
        # the live set is read after the cutoff is fixed: anything a commit records later was stored
        # (so touched) after the cutoff and is spared by its mtime
        with self._conn() as conn:
            live = set(conn.execute(select(db.RepoObject.sha256).distinct()).scalars())
            live.update(conn.execute(select(db.LfsUpload.sha256).where(db.LfsUpload.created_at >= cutoff_dt)
                                     .distinct()).scalars())
        removed: list[str] = []
        kept = freed = 0
        for sha, path, mtime in list(self._store.iter_blobs()):
            if sha in live or mtime >= cutoff:
                kept += 1
                continue
            try:
                st = os.stat(path)
                if st.st_mtime >= cutoff:  # reused since the walk started
                    kept += 1
                    continue
                if not dry_run:
                    os.unlink(path)
                removed.append(sha)
                freed += st.st_size
            except FileNotFoundError:
                continue
        if removed and not dry_run:
            with self._write() as s:
                for start in range(0, len(removed), 500):
                    s.execute(delete(db.LfsUpload).where(db.LfsUpload.sha256.in_(removed[start : start + 500]),
                                                         db.LfsUpload.created_at < cutoff_dt))
        # rows of the blobs table are facts about content (size, git id), still true if it comes back: kept
        tmp_removed = 0 if dry_run else self._store.remove_stale_temp_files(cutoff)
        return {"removed": len(removed), "kept": kept, "bytes_freed": freed, "tmp_removed": tmp_removed,
                "removed_sha256": sorted(removed)}

    def record_lfs_upload(self, principal: Principal, repo: RepoRecord, sha256: str, size: int) -> None:
        """Remember that `principal` uploaded object `sha256` to `repo` (makes it usable there, §12)."""
        check_sha256(sha256)
        with self._write() as s:
            user_id = s.scalar(select(db.User.id).where(db.User.name == principal.user))
            if user_id is None:
                raise Unauthorized(INVALID_CREDENTIALS)
            insert_ignore(s, db.LfsUpload, [{"repo_id": repo.id, "sha256": sha256, "user_id": user_id, "size": int(size),
                                             "created_at": datetime.now(timezone.utc).replace(tzinfo=None)}])

    def lfs_object_usable(self, principal: Principal | None, repo: RepoRecord, sha256: str) -> bool:
        """Spec §12: an lfsFile op (or an 'already stored' batch answer) may use object `sha256` only if the
        caller uploaded it to this repo, or a repo the caller can read already references it."""
        try:
            check_sha256(sha256)
        except BadRequest:
            return False
        with self._read() as s:
            if principal is not None:
                mine = s.scalar(
                    select(db.LfsUpload.sha256).join(db.User, db.User.id == db.LfsUpload.user_id).where(
                        db.LfsUpload.repo_id == repo.id, db.LfsUpload.sha256 == sha256, db.User.name == principal.user,
                    ).limit(1)
                )
                if mine is not None:
                    return True
            readable = db.Repo.private.is_(False)
            if principal is not None:
                readable = or_(readable, db.Repo.namespace.in_(sorted(principal.namespaces())))
            ref = s.scalar(
                select(db.RepoObject.repo_id).join(db.Repo, db.Repo.id == db.RepoObject.repo_id)
                .where(db.RepoObject.sha256 == sha256, readable).limit(1)
            )
            return ref is not None
