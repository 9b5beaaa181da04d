"""Refs, history, branches, tags, pull requests and the atomic commit of the Hub backend.

A commit validates every operation first (paths, stored blobs, sizes, LFS usability), then, holding a
per-(repo, ref) lock and one database transaction: reads the head (locking the ref row: other server
processes wait, see `snuggle hub serve --workers`), applies the operations to its tree
(loading only touched folders), writes the new folders and the commit, and moves the ref with a
compare-and-swap (UPDATE ... WHERE target = old head). A lost race retries on top of the new head, or
answers 412 when the caller pinned `parent_commit`.

>>> from snuggle.hub.server.records import AddFile
>>> sha, size = backend.store_blob([b"{}"], expected_size=2)                      # doctest: +SKIP
>>> commit, _ = backend.commit(alice, repo, "main", [AddFile("config.json", sha, size)],
...                            summary="add config")                              # doctest: +SKIP
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import delete, func, select, update

from snuggle.hub.server import db
from snuggle.hub.server.backend_trees import README, TreeBuilder
from snuggle.hub.server.errors import (
    BadRequest,
    Conflict,
    DiscussionNotFound,
    EntryNotFound,
    Forbidden,
    PreconditionFailed,
    RevisionNotFound,
    TooLarge,
    Unprocessable,
)
from snuggle.hub.server.gitobjects import commit_message, git_commit_oid, lfs_pointer_oid
from snuggle.hub.server.paths import is_commit_id, pr_number, validate_folder_path, validate_ref_name, validate_repo_path
from snuggle.hub.server.records import (
    AddFile,
    CommitRecord,
    CopyFile,
    DeleteFile,
    DeleteFolder,
    Discussion,
    RefRecord,
)
from snuggle.hub.server.storage import check_sha256

HEADS, TAGS, PRS = "refs/heads/", "refs/tags/", "refs/pr/"
DEFAULT_BRANCH = "main"
_ABBREV = re.compile(r"^[0-9a-f]{7,39}$")
CAS_ATTEMPTS = 8


class _LostRace(Exception):
    """The ref moved between reading the head and the compare-and-swap."""


class CommitsMixin:
    """resolve_revision, refs, branches/tags, history, discussions and commit() of HubBackend."""

    # -- revisions ---------------------------------------------------------------------------------------
    def _ref_candidates(self, rev: str) -> list[str]:
        # spec §1.3 order: branch, tag, refs/pr/N, refs/heads/b, refs/tags/t
        out = []
        if not rev.startswith("refs/"):
            out += [HEADS + rev, TAGS + rev]
        elif pr_number(rev) is not None or rev.startswith(HEADS) or rev.startswith(TAGS):
            out.append(rev)
        return out

    def _read_refs(self, s, repo_id: int, names: list[str]) -> dict[str, str]:
        if not names:
            return {}
        return dict(s.execute(db.Q_REFS, {"repo_id": repo_id, "names": list(names)}).all())

    def resolve_revision(self, repo, rev: str) -> tuple[CommitRecord, str | None]:
        """(commit, full ref name such as "refs/heads/main" / "refs/tags/v1" / "refs/pr/1", or None for a
        commit id). Order: branch, tag, refs/pr/N, refs/heads/b, refs/tags/t, 40-hex commit id of this repo,
        abbreviated (7+ hex) unique commit id. RevisionNotFound otherwise."""
        if not isinstance(rev, str) or not rev or len(rev) > 600:
            raise RevisionNotFound(f"Invalid rev id: {rev}")
        candidates = self._ref_candidates(rev)
        with self._conn() as s:
            return self._resolve_with_refs(s, repo, rev, candidates, self._read_refs(s, repo.id, candidates))

    def _resolve_with_refs(self, s, repo, rev: str, candidates: list[str], found: dict[str, str]):
        """resolve_revision() once the candidate refs were read (`found`: name -> target)."""
        for name in candidates:
            if name in found:
                commit = self._get_commit(repo.id, found[name], s)
                if commit is not None:
                    return commit, name
        if is_commit_id(rev):
            commit = self._get_commit(repo.id, rev, s)
            if commit is not None:
                return commit, None
        elif _ABBREV.match(rev):
            oids = s.scalars(
                select(db.Commit.oid).where(db.Commit.repo_id == repo.id, db.Commit.oid.startswith(rev)).limit(2)
            ).all()
            if len(oids) == 1:
                return self._get_commit(repo.id, oids[0], s), None
        raise RevisionNotFound(f"Invalid rev id: {rev}")

    def head(self, repo, ref: str) -> str | None:
        """Current target of full ref name `ref` (read fresh), or None."""
        with self._read() as s:
            return self._read_refs(s, repo.id, [ref]).get(ref)

    def list_refs(self, repo, *, include_prs: bool = False) -> dict:
        """{"branches": [RefRecord], "tags": [...], "pull_requests": [...]} sorted by name (PRs by number)."""
        with self._read() as s:
            rows = s.execute(select(db.Ref.name, db.Ref.target).where(db.Ref.repo_id == repo.id)).all()
        out = {"branches": [], "tags": [], "pull_requests": []}
        for name, target in sorted(rows):
            if name.startswith(HEADS):
                out["branches"].append(RefRecord(name[len(HEADS):], name, target))
            elif name.startswith(TAGS):
                out["tags"].append(RefRecord(name[len(TAGS):], name, target))
            elif include_prs and pr_number(name) is not None:
                out["pull_requests"].append(RefRecord(name[len(PRS):], name, target))
        out["pull_requests"].sort(key=lambda r: int(r.name))
        return out

    def list_commits(self, repo, rev: str, *, limit: int | None = None, offset: int = 0) -> list[CommitRecord]:
        """First-parent history from `rev`, newest first (optionally a page of it)."""
        commit, _ = self.resolve_revision(repo, rev)
        out = []
        for i, c in enumerate(self._first_parent_walk(repo.id, commit.oid)):
            if i < offset:
                continue
            if limit is not None and len(out) >= limit:
                break
            out.append(c)
        return out

    def count_commits(self, repo, rev: str) -> int:
        commit, _ = self.resolve_revision(repo, rev)
        return sum(1 for _ in self._first_parent_walk(repo.id, commit.oid))

    # -- branches and tags -------------------------------------------------------------------------------
    def create_branch(self, principal, repo, name: str, *, starting_point: str | None = None) -> RefRecord:
        """New branch at `starting_point` (default: head of main). Conflict if it exists."""
        self._require_write(principal, repo)
        validate_ref_name(name, what="branch name")
        commit, _ = self.resolve_revision(repo, starting_point or DEFAULT_BRANCH)
        ref = HEADS + name
        with self._write(conflict=f"Branch {name!r} already exists") as s:
            if self._read_refs(s, repo.id, [ref]):
                raise Conflict(f"Branch {name!r} already exists")
            s.add(db.Ref(repo_id=repo.id, name=ref, target=commit.oid))
        return RefRecord(name, ref, commit.oid)

    def delete_branch(self, principal, repo, name: str) -> None:
        self._require_write(principal, repo)
        if name == DEFAULT_BRANCH:
            raise Forbidden(f"The default branch {DEFAULT_BRANCH!r} cannot be deleted")
        with self._write() as s:
            done = s.execute(delete(db.Ref).where(db.Ref.repo_id == repo.id, db.Ref.name == HEADS + name)).rowcount
        if not done:
            raise RevisionNotFound(f"Branch not found: {name}")

    def create_tag(self, principal, repo, rev: str, tag: str, *, message: str | None = None) -> RefRecord:
        """Tag the commit `rev` resolves to. Conflict if the tag exists (tags never move)."""
        self._require_write(principal, repo)
        validate_ref_name(tag, what="tag name")
        commit, _ = self.resolve_revision(repo, rev)
        ref = TAGS + tag
        with self._write(conflict=f"Tag {tag!r} already exists") as s:
            if self._read_refs(s, repo.id, [ref]):
                raise Conflict(f"Tag {tag!r} already exists")
            s.add(db.Ref(repo_id=repo.id, name=ref, target=commit.oid, message=message))
        return RefRecord(tag, ref, commit.oid)

    def delete_tag(self, principal, repo, tag: str) -> None:
        self._require_write(principal, repo)
        with self._write() as s:
            done = s.execute(delete(db.Ref).where(db.Ref.repo_id == repo.id, db.Ref.name == TAGS + tag)).rowcount
        if not done:
            raise RevisionNotFound(f"Tag not found: {tag}")

    # -- discussions and pull requests -------------------------------------------------------------------
    @staticmethod
    def _discussion(row) -> Discussion:
        return Discussion(
            num=row.num, title=row.title, status=row.status, is_pull_request=bool(row.is_pull_request),
            author=row.author, created_at=row.created_at,
            reference=f"{PRS}{row.num}" if row.is_pull_request else None, description=row.description or "",
        )

    def _insert_discussion(self, s, principal, repo, title: str, description: str, pull_request: bool, head: str | None):
        num = (s.scalar(select(func.max(db.DiscussionRow.num)).where(db.DiscussionRow.repo_id == repo.id)) or 0) + 1
        row = db.DiscussionRow(repo_id=repo.id, num=num, title=title, description=description or "",
                               status="open", is_pull_request=pull_request, author=principal.user,
                               created_at=datetime.now(timezone.utc))
        s.add(row)
        if pull_request:
            s.add(db.Ref(repo_id=repo.id, name=f"{PRS}{num}", target=head))
        s.flush()
        return row

    def create_discussion(self, principal, repo, *, title: str, description: str = "", pull_request: bool = False) -> Discussion:
        """Open a discussion, or a pull request whose ref refs/pr/N starts at the head of main."""
        self._require_write(principal, repo)
        title = (title or "").strip()
        if not title:
            raise BadRequest("A discussion needs a non-empty title")
        for attempt in range(CAS_ATTEMPTS):
            try:
                with self._write() as s:
                    head = self._read_refs(s, repo.id, [HEADS + DEFAULT_BRANCH]).get(HEADS + DEFAULT_BRANCH)
                    if pull_request and head is None:
                        raise RevisionNotFound(f"Invalid rev id: {DEFAULT_BRANCH}")
                    return self._discussion(self._insert_discussion(s, principal, repo, title, description, pull_request, head))
            except Exception as exc:  # two processes picked the same number (PostgreSQL): take the next one
                if not _is_integrity_error(exc) or attempt == CAS_ATTEMPTS - 1:
                    raise
        raise Conflict("Could not allocate a discussion number, retry")  # pragma: no cover

    def get_discussion(self, principal, repo, num: int) -> Discussion:
        with self._read() as s:
            row = s.get(db.DiscussionRow, (repo.id, int(num)))
            if row is None:
                raise DiscussionNotFound(f"Discussion #{num} not found")
            return self._discussion(row)

    def list_discussions(self, principal, repo) -> list[Discussion]:
        """All discussions and PRs of a repo, newest first."""
        with self._read() as s:
            rows = s.scalars(select(db.DiscussionRow).where(db.DiscussionRow.repo_id == repo.id)
                             .order_by(db.DiscussionRow.num.desc())).all()
            return [self._discussion(r) for r in rows]

    # -- commits -----------------------------------------------------------------------------------------
    def _commit_target(self, repo, revision: str) -> str:
        """Full ref name a commit to `revision` moves: a branch or refs/pr/N; tags and ids -> BadRequest."""
        _, ref = self.resolve_revision(repo, revision)
        if ref is None:
            raise BadRequest(f"Cannot commit to {revision!r}: it is a commit id, not a branch")
        if ref.startswith(TAGS):
            raise BadRequest(f"Cannot commit to {revision!r}: it is a tag, not a branch")
        return ref

    def _prepare_ops(self, principal, repo, operations) -> list:
        """Validate every operation before anything is written; returns ops with blob facts resolved."""
        cfg = self.config
        if len(operations) > cfg.max_commit_files:
            raise TooLarge(f"Too many operations in one commit: {len(operations)} > {cfg.max_commit_files}")
        prepared = []
        git_oids = self.blob_git_oids(op.sha256 for op in operations if isinstance(op, AddFile) and not op.lfs
                                      and isinstance(op.sha256, str) and len(op.sha256) == 64)
        for op in operations:
            if isinstance(op, AddFile):
                path = validate_repo_path(op.path)
                check_sha256(op.sha256)
                stored = self.blob_size(op.sha256)
                if op.lfs:
                    if stored is None:
                        raise Unprocessable(f"LFS object {op.sha256} for {path!r} was not uploaded (or not verified)")
                    if op.size is not None and int(op.size) != stored:
                        raise Unprocessable(f"LFS object {op.sha256} has {stored} bytes, the commit says {op.size}")
                    if stored > cfg.max_file_size:
                        raise TooLarge(f"{path!r} is {stored} bytes; the limit is {cfg.max_file_size}")
                    if not self.lfs_object_usable(principal, repo, op.sha256):
                        raise Unprocessable(f"LFS object {op.sha256} for {path!r} was not uploaded to this repo")
                    oid, _ = lfs_pointer_oid(op.sha256, stored)
                    prepared.append(("add", path, (path, "lfs", oid, stored, op.sha256)))
                else:
                    if stored is None:
                        raise BadRequest(f"Content of {path!r} ({op.sha256}) is not stored")
                    if op.size is not None and int(op.size) != stored:
                        raise BadRequest(f"Content of {path!r} has {stored} bytes, the commit says {op.size}")
                    if stored > cfg.inline_limit:
                        raise TooLarge(f"{path!r} is {stored} bytes; inline files are limited to {cfg.inline_limit}")
                    prepared.append(("add", path, (path, "blob", git_oids[op.sha256], stored, op.sha256)))
            elif isinstance(op, DeleteFile):
                prepared.append(("delete_file", validate_repo_path(op.path), None))
            elif isinstance(op, DeleteFolder):
                prepared.append(("delete_folder", validate_folder_path(op.path), None))
            elif isinstance(op, CopyFile):
                src = validate_repo_path(op.src_path, what="source path")
                dst = validate_repo_path(op.path)
                src_tree = None
                if op.src_revision is not None:
                    src_tree = self.resolve_revision(repo, op.src_revision)[0].tree
                prepared.append(("copy", dst, (src, src_tree)))
            else:
                raise BadRequest(f"Unknown commit operation {type(op).__name__}")
        return prepared

    def commit(self, principal, repo, revision: str, operations: list, *, summary: str, description: str = "",
               parent_commit: str | None = None, create_pr: bool = False) -> tuple[CommitRecord, int | None]:
        """Apply `operations` atomically on top of `revision` (a branch or refs/pr/N); returns the new
        commit and, with create_pr, the number of the pull request opened for it (the branch itself is
        left untouched then). Stale `parent_commit` -> PreconditionFailed; see the module docstring."""
        self._require_write(principal, repo)
        summary = (summary or "").strip()
        if not summary:
            raise BadRequest("The commit summary (title) must not be empty")
        if parent_commit is not None and not is_commit_id(parent_commit):
            raise BadRequest(f"Invalid parentCommit {parent_commit!r}: expected 40 lowercase hex characters")
        target = self._commit_target(repo, revision)
        prepared = self._prepare_ops(principal, repo, operations)
        message = commit_message(summary, description or "")
        with self._ref_lock(repo.id, target):
            for attempt in range(CAS_ATTEMPTS):
                try:
                    return self._commit_once(principal, repo, target, prepared, summary, description or "", message,
                                             parent_commit, create_pr)
                except _LostRace:
                    if parent_commit is not None:
                        raise PreconditionFailed(f"A commit to {revision!r} landed first: parentCommit "
                                                 f"{parent_commit} is not the head any more") from None
                except Exception as exc:
                    if not _is_integrity_error(exc) or attempt == CAS_ATTEMPTS - 1:
                        raise
        raise Conflict(f"Too many concurrent commits to {revision!r}; retry the commit")

    def _commit_once(self, principal, repo, target, prepared, summary, description, message, parent_commit, create_pr):
        with self._write() as s:
            # FOR UPDATE: on PostgreSQL a concurrent commit to this ref from another server process waits
            # here instead of losing the compare-and-swap below (SQLite: BEGIN IMMEDIATE already serialises)
            head = s.execute(select(db.Ref.target).where(db.Ref.repo_id == repo.id, db.Ref.name == target)
                             .with_for_update()).scalar()
            if head is None:
                raise RevisionNotFound(f"Invalid rev id: {target}")
            if parent_commit is not None and head != parent_commit:
                raise PreconditionFailed(f"parentCommit {parent_commit} is not the head of {target} ({head})")
            base = self._get_commit(repo.id, head, s)
            builder = TreeBuilder(base.tree, lambda oid: self._load_tree(oid, s))
            for kind, path, arg in prepared:
                if kind == "add":
                    builder.set_file(path, arg)
                elif kind == "delete_file":
                    builder.delete_file(path)
                elif kind == "delete_folder":
                    builder.delete_folder(path)
                else:
                    src, src_tree = arg
                    item = self._item_at(src_tree, src) if src_tree else self._item_at(base.tree, src)
                    if item is None or item[1] == "tree":
                        raise EntryNotFound(f"Cannot copy {src!r}: no such file at the source revision")
                    builder.set_file(path, item)
            rows: dict[str, str] = {}
            tree = builder.finalize(rows)
            from snuggle.hub.server.backend import insert_ignore

            insert_ignore(s, db.Tree, [{"oid": oid, "entries": text} for oid, text in rows.items()])
            pr_num = None
            if create_pr:
                pr = self._insert_discussion(s, principal, repo, summary, description, True, head)
                pr_num, target = pr.num, f"{PRS}{pr.num}"
            now = datetime.now(timezone.utc).replace(microsecond=0)
            oid = git_commit_oid(tree, [head], principal.user, f"{principal.user}@users.noreply.hub", now, message)
            insert_ignore(s, db.Commit, [{"repo_id": repo.id, "oid": oid, "tree": tree, "parents": head,
                                          "author": principal.user, "title": summary, "message": description,
                                          "created_at": now.replace(tzinfo=None)}])
            moved = s.execute(update(db.Ref).where(db.Ref.repo_id == repo.id, db.Ref.name == target, db.Ref.target == head)
                              .values(target=oid)).rowcount
            if moved != 1:
                raise _LostRace()
            insert_ignore(s, db.RepoObject, [{"repo_id": repo.id, "sha256": sha} for sha in sorted(builder.added)])
            s.execute(update(db.Repo).where(db.Repo.id == repo.id).values(last_modified=now))
            if target == HEADS + DEFAULT_BRANCH:
                old_readme = self._item_at(base.tree, README)
                new_readme = builder.get(README)
                if (old_readme[2] if old_readme else None) != (new_readme[2] if isinstance(new_readme, tuple) else None):
                    self._set_card_tags(s, repo.id, self._card_of_item(new_readme))
        for new_oid, text in rows.items():
            from snuggle.hub.server.backend_trees import decode_tree

            self._tree_cache.put(new_oid, decode_tree(text))
        record = CommitRecord(oid=oid, parents=(head,), author=principal.user, title=summary, message=description,
                              created_at=now, tree=tree)
        self._commit_cache.put((repo.id, oid), record)
        return record, pr_num

    def _card_of_item(self, item) -> dict | None:
        from snuggle.hub.server.backend_trees import MAX_CARD_BYTES, parse_front_matter

        if not isinstance(item, tuple) or item[1] == "tree" or not item[4]:
            return None
        try:
            text = self._store.read_bytes(item[4], limit=MAX_CARD_BYTES).decode("utf-8", "replace")
        except FileNotFoundError:
            return None
        return parse_front_matter(text)


def _is_integrity_error(exc: Exception) -> bool:
    from sqlalchemy.exc import IntegrityError

    return isinstance(exc, IntegrityError)
