"""Reading and building git trees for the Hub backend: entries, listings, last commits, README cards.

Trees and commits are immutable, so they are cached in memory by id (trees by git tree oid, commits by
(repo row id, commit oid)); only refs are read fresh from the database. A tree row holds the entries of
one folder as JSON [[name, kind, oid, size, sha256], ...] with kind "tree", "blob" (regular file, oid =
git blob id) or "lfs" (oid = git id of the pointer, sha256 = object id).

>>> b = TreeBuilder(None, loader=lambda oid: {})
>>> b.set_file("a/b.txt", ("b.txt", "blob", "ce01" * 10, 6, "0" * 64))
>>> sorted(b.root.entries)
['a']
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Callable

from snuggle.hub.server.errors import BadRequest, EntryNotFound, RevisionNotFound
from snuggle.hub.server.gitobjects import git_tree_oid, lfs_pointer
from snuggle.hub.server.paths import validate_repo_path
from snuggle.hub.server.records import CommitRecord, Entry

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
README = "README.md"
MAX_CARD_BYTES = 4 * 1024 * 1024


class NotCached(Exception):
    """A read asked for `cached_only` needed a tree that is not in memory (the caller retries in a worker
    thread, where loading and decoding a large folder cannot stall the event loop)."""


class LRU:
    """A small thread-safe LRU mapping for immutable objects, bounded by total weight (default: count)."""

    def __init__(self, maxsize: int, weight: Callable[[object], int] | None = None):
        self.maxsize = maxsize
        self._weight = weight or (lambda value: 1)
        self._data: OrderedDict = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, key, default=None):
        with self._lock:
            try:
                self._data.move_to_end(key)
                return self._data[key][0]
            except KeyError:
                return default

    def put(self, key, value) -> None:
        w = max(1, self._weight(value))
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._total -= old[1]
            self._data[key] = (value, w)
            self._total += w
            while self._total > self.maxsize and len(self._data) > 1:
                _, (_, ow) = self._data.popitem(last=False)
                self._total -= ow


def entry_record(path: str, item: tuple) -> Entry:
    """The public Entry of a tree item (name, kind, oid, size, sha256) found at `path`."""
    _, kind, oid, size, sha = item
    if kind == "tree":
        return Entry(path=path, type="directory", size=0, oid=oid)
    if kind == "lfs":
        lfs = {"oid": sha, "size": size, "pointerSize": len(lfs_pointer(sha, size))}
        return Entry(path=path, type="file", size=size, oid=oid, lfs=lfs, sha256=sha)
    return Entry(path=path, type="file", size=size, oid=oid, sha256=sha)


def encode_tree(entries: dict[str, tuple]) -> tuple[str, str]:
    """(git tree oid, JSON text) of a folder's items."""
    items = sorted(entries.values(), key=lambda it: it[0])
    oid = git_tree_oid((it[0], it[1] == "tree", it[2]) for it in items)
    return oid, json.dumps([list(it) for it in items], ensure_ascii=False, separators=(",", ":"))


def decode_tree(text: str) -> dict[str, tuple]:
    return {it[0]: tuple(it) for it in json.loads(text)}


class _Node:
    """A folder opened for editing: items are tuples (unchanged) or _Node (opened sub-folders)."""

    __slots__ = ("entries", "oid", "dirty")

    def __init__(self, entries: dict, oid: str | None):
        self.entries, self.oid, self.dirty = dict(entries), oid, False


class TreeBuilder:
    """Applies file operations to a tree, loading only the folders it touches; finalize() writes the new
    folders and returns the new root tree oid (unchanged sub-trees keep their oid and rows)."""

    def __init__(self, root_oid: str | None, loader: Callable[[str], dict]):
        self._load = loader
        self.root = _Node(loader(root_oid) if root_oid else {}, root_oid)
        self.added: set[str] = set()  # sha256 of files added (for the repo's object index)

    def _open(self, parts: list[str], create: bool, path: str) -> _Node | None:
        node = self.root
        for i, part in enumerate(parts):
            item = node.entries.get(part)
            if item is None:
                if not create:
                    return None
                child = _Node({}, None)
                node.entries[part] = child
            elif isinstance(item, _Node):
                child = item
            elif item[1] == "tree":
                child = _Node(self._load(item[2]), item[2])
                node.entries[part] = child
            else:
                if not create:
                    return None
                raise BadRequest(f"Cannot write {path!r}: {'/'.join(parts[: i + 1])!r} is a file, not a folder")
            node = child
        return node

    def _mark(self, parts: list[str]) -> None:
        node = self.root
        node.dirty = True
        for part in parts:
            node = node.entries[part]
            node.dirty = True

    def get(self, path: str) -> tuple | None:
        """The item at `path` (tuple for files and unopened folders, _Node for opened folders) or None."""
        parts = path.split("/")
        parent = self._open(parts[:-1], False, path)
        return None if parent is None else parent.entries.get(parts[-1])

    def set_file(self, path: str, item: tuple) -> None:
        parts = path.split("/")
        parent = self._open(parts[:-1], True, path)
        old = parent.entries.get(parts[-1])
        if isinstance(old, _Node) or (old is not None and old[1] == "tree"):
            raise BadRequest(f"Cannot write file {path!r}: a folder with this name exists")
        parent.entries[parts[-1]] = (parts[-1],) + tuple(item[1:])
        self._mark(parts[:-1])
        if item[4]:
            self.added.add(item[4])

    def delete_file(self, path: str) -> None:
        parts = path.split("/")
        parent = self._open(parts[:-1], False, path)
        old = None if parent is None else parent.entries.get(parts[-1])
        if old is None or isinstance(old, _Node) or old[1] == "tree":
            raise EntryNotFound(f"A file with this name doesn't exist: {path}")
        del parent.entries[parts[-1]]
        self._mark(parts[:-1])
        self._prune(parts[:-1])

    def delete_folder(self, path: str) -> None:
        if path == "":
            if not self.root.entries:
                raise EntryNotFound("A folder with this name doesn't exist: /")
            self.root.entries.clear()
            self.root.dirty = True
            return
        parts = path.split("/")
        parent = self._open(parts[:-1], False, path)
        old = None if parent is None else parent.entries.get(parts[-1])
        if old is None or (not isinstance(old, _Node) and old[1] != "tree"):
            raise EntryNotFound(f"A folder with this name doesn't exist: {path}")
        del parent.entries[parts[-1]]
        self._mark(parts[:-1])
        self._prune(parts[:-1])

    def _prune(self, parts: list[str]) -> None:
        # git has no empty folders: drop folders emptied by a delete, bottom-up
        while parts:
            chain = [self.root]
            for part in parts:
                chain.append(chain[-1].entries[part])
            if chain[-1].entries:
                return
            del chain[-2].entries[parts[-1]]
            parts = parts[:-1]

    def finalize(self, rows: dict[str, str]) -> str:
        """Root tree oid after the edits; new folder rows go into `rows` (oid -> JSON)."""
        return self._finalize(self.root, rows)

    def _finalize(self, node: _Node, rows: dict[str, str]) -> str:
        if not node.dirty and node.oid is not None:
            return node.oid
        flat = {}
        for name, item in node.entries.items():
            if isinstance(item, _Node):
                flat[name] = (name, "tree", self._finalize(item, rows), 0, None)
            else:
                flat[name] = item
        oid, text = encode_tree(flat)
        rows[oid] = text
        node.oid, node.dirty = oid, False
        return oid


class TreeReadingMixin:
    """get_entry / list_tree / last_commits / card_data of HubBackend (needs _read(), caches)."""

    def _init_tree_caches(self) -> None:
        self._tree_cache = LRU(1_000_000, weight=len)  # bounded by the number of entries held (~200 MB)
        self._commit_cache = LRU(50000)
        self._last_commit_cache = LRU(200000)
        self._card_cache = LRU(2000)

    # -- immutable objects -----------------------------------------------------------------------------
    def _load_tree(self, oid: str, session=None) -> dict[str, tuple]:
        cached = self._tree_cache.get(oid)
        if cached is not None:
            return cached
        from snuggle.hub.server import db

        if session is None:
            with self._conn() as conn:
                text = conn.execute(db.Q_TREE, {"oid": oid}).scalar()
        else:
            text = session.execute(db.Q_TREE, {"oid": oid}).scalar()
        if text is None:
            if oid == EMPTY_TREE:
                return {}
            raise RuntimeError(f"tree {oid} is missing from the database")
        entries = decode_tree(text)
        self._tree_cache.put(oid, entries)
        return entries

    def _commit_from_row(self, row) -> CommitRecord:
        return CommitRecord(
            oid=row.oid, parents=tuple(row.parents.split()) if row.parents else (), author=row.author,
            title=row.title, message=row.message, created_at=row.created_at, tree=row.tree,
        )

    def _get_commit(self, repo_id: int, oid: str, session=None) -> CommitRecord | None:
        key = (repo_id, oid)
        rec = self._commit_cache.get(key)
        if rec is not None:
            return rec
        from snuggle.hub.server import db

        if session is None:
            with self._conn() as conn:
                row = conn.execute(db.Q_COMMIT, {"repo_id": repo_id, "oid": oid}).first()
        else:
            row = session.execute(db.Q_COMMIT, {"repo_id": repo_id, "oid": oid}).first()
        if row is None:
            return None
        rec = self._commit_from_row(row)
        self._commit_cache.put(key, rec)
        return rec

    def _require_commit(self, repo, commit_oid: str) -> CommitRecord:
        commit = self._get_commit(repo.id, commit_oid) if isinstance(commit_oid, str) else None
        if commit is None:
            raise RevisionNotFound(f"Invalid rev id: {commit_oid}")
        return commit

    def _prefetch_commits(self, repo_id: int) -> None:
        from sqlalchemy import select

        from snuggle.hub.server import db

        with self._read() as s:
            for row in s.scalars(select(db.Commit).where(db.Commit.repo_id == repo_id)):
                self._commit_cache.put((repo_id, row.oid), self._commit_from_row(row))

    def _first_parent_walk(self, repo_id: int, start: str):
        """Yield commits from `start` along first parents (newest first)."""
        oid, prefetched = start, False
        while oid:
            commit = self._get_commit(repo_id, oid) if prefetched else self._commit_cache.get((repo_id, oid))
            if commit is None and not prefetched:
                self._prefetch_commits(repo_id)  # one query instead of one per commit
                prefetched = True
                commit = self._get_commit(repo_id, oid)
            if commit is None:
                return
            yield commit
            oid = commit.parents[0] if commit.parents else None

    def _cached_tree(self, oid: str) -> dict[str, tuple]:
        entries = self._tree_cache.get(oid)
        if entries is None:
            raise NotCached(oid)
        return entries

    def _item_at(self, tree_oid: str, path: str, cached_only: bool = False) -> tuple | None:
        if path == "":
            return ("", "tree", tree_oid, 0, None)
        load = self._cached_tree if cached_only else self._load_tree
        entries = load(tree_oid)
        parts = path.split("/")
        for part in parts[:-1]:
            item = entries.get(part)
            if item is None or item[1] != "tree":
                return None
            entries = load(item[2])
        return entries.get(parts[-1])

    # -- public reading API ------------------------------------------------------------------------------
    def get_entry(self, repo, commit_oid: str, path: str, *, cached_only: bool = False) -> Entry | None:
        """The file or folder at `path` in commit `commit_oid` of `repo`, or None (also for invalid paths).
        `cached_only`: raise NotCached instead of loading a folder from the database.

        >>> entry = backend.get_entry(repo, commit.oid, "config.json")   # doctest: +SKIP
        """
        commit = self._require_commit(repo, commit_oid)
        path = path.rstrip("/") if path not in ("", "/") else ""
        if path:
            try:
                validate_repo_path(path)
            except BadRequest:
                return None
        item = self._item_at(commit.tree, path, cached_only)
        return None if item is None else entry_record(path, item)

    def list_tree(self, repo, commit_oid: str, path: str = "", *, recursive: bool = False) -> list[Entry]:
        """Entries under folder `path` ("" = root), sorted by path; the whole sub-tree when `recursive`
        (folders included). EntryNotFound if `path` is not a folder."""
        commit = self._require_commit(repo, commit_oid)
        path = path.strip("/") if path else ""
        if path:
            try:
                validate_repo_path(path)
            except BadRequest:
                raise EntryNotFound(f"Entry not found: {path}") from None
        item = self._item_at(commit.tree, path)
        if item is None or item[1] != "tree":
            raise EntryNotFound(f"Folder not found: {path}" if path else "Folder not found")
        out: list[Entry] = []
        stack = [(path, item[2])]
        while stack:
            folder, oid = stack.pop()
            for name, child in self._load_tree(oid).items():
                child_path = f"{folder}/{name}" if folder else name
                out.append(entry_record(child_path, child))
                if recursive and child[1] == "tree":
                    stack.append((child_path, child[2]))
        out.sort(key=lambda e: e.path)
        return out

    def last_commits(self, repo, commit_oid: str, paths: list[str]) -> dict[str, CommitRecord]:
        """For each path present at `commit_oid`: the newest first-parent ancestor commit that changed it."""
        self._require_commit(repo, commit_oid)
        result: dict[str, CommitRecord] = {}
        pending = []
        for path in dict.fromkeys(paths):
            hit = self._last_commit_cache.get((repo.id, commit_oid, path))
            if hit is not None:
                found = self._get_commit(repo.id, hit)
                if found is not None:
                    result[path] = found
                    continue
            pending.append(path)
        if not pending:
            return result
        walk = self._first_parent_walk(repo.id, commit_oid)
        commit = next(walk, None)
        current = {p: self._item_at(commit.tree, p) for p in pending}
        pending = [p for p in pending if current[p] is not None]
        while pending and commit is not None:
            parent = next(walk, None)
            if parent is not None and parent.tree == commit.tree:
                commit = parent
                continue
            still = []
            for p in pending:
                before = self._item_at(parent.tree, p) if parent is not None else None
                if before is None or before[1] != current[p][1] or before[2] != current[p][2]:
                    result[p] = commit
                    self._last_commit_cache.put((repo.id, commit_oid, p), commit.oid)
                else:
                    still.append(p)
            pending, commit = still, parent
        return result

    def card_data(self, repo, commit) -> dict | None:
        """Parsed YAML front matter of README.md at `commit` (CommitRecord or oid); None without one."""
        oid = commit.oid if isinstance(commit, CommitRecord) else commit
        entry = self.get_entry(repo, oid, README)
        if entry is None or entry.type != "file" or entry.sha256 is None:
            return None
        cached = self._card_cache.get(entry.sha256, False)
        if cached is not False:
            return cached
        try:
            text = self._store.read_bytes(entry.sha256, limit=MAX_CARD_BYTES).decode("utf-8", "replace")
        except FileNotFoundError:
            return None
        data = parse_front_matter(text)
        self._card_cache.put(entry.sha256, data)
        return data


def parse_front_matter(text: str) -> dict | None:
    """The YAML mapping between a leading '---' line and the next '---' line, or None.

    >>> parse_front_matter("---\\nlicense: mit\\ntags: [a]\\n---\\n# Model")
    {'license': 'mit', 'tags': ['a']}
    """
    import yaml

    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    if not lines or lines[0].rstrip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].rstrip() == "---":
            try:
                data = yaml.safe_load("\n".join(lines[1:i]))
            except yaml.YAMLError:
                return None
            if data is None:
                return {}
            return data if isinstance(data, dict) else None
    return None


def card_tags(data: dict | None) -> list[str]:
    """Listing tags derived from card metadata: `tags`, library_name, pipeline_tag, languages,
    license:<id>, dataset:<id>, base_model:<id> (order kept, duplicates dropped).

    >>> card_tags({"tags": ["text"], "library_name": "snuggle", "license": "mit", "datasets": ["a/b"]})
    ['text', 'snuggle', 'license:mit', 'dataset:a/b']
    """
    if not data:
        return []
    out: dict[str, None] = {}

    def as_list(value):
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    def add(value, prefix=""):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
            out[prefix + str(value).strip()] = None

    for tag in as_list(data.get("tags")):
        add(tag)
    add(data.get("library_name"))
    add(data.get("pipeline_tag"))
    for lang in as_list(data.get("language")):
        add(lang)
    for lic in as_list(data.get("license")):
        add(lic, "license:")
    for ds in as_list(data.get("datasets")):
        add(ds, "dataset:")
    for base in as_list(data.get("base_model")):
        add(base, "base_model:")
    return list(out)
