"""The JSON shapes of the Hub API (spec §3-§9): records in, plain dicts out.

Field names are the clients' camelCase; timestamps always end in `Z` (the client rejects `+00:00`).

>>> from datetime import datetime, timezone
>>> iso_z(datetime(2024, 5, 1, 12, 0, 3, 250000, tzinfo=timezone.utc))
'2024-05-01T12:00:03.250Z'
>>> from snuggle.hub.server.records import Entry
>>> entry_json(Entry("a/b.txt", "file", 3, "f" * 40))
{'type': 'file', 'oid': 'ffffffffffffffffffffffffffffffffffffffff', 'size': 3, 'path': 'a/b.txt'}
"""

from __future__ import annotations

from datetime import datetime, timezone

from snuggle.hub.server.gitobjects import lfs_pointer_oid


def iso_z(dt: datetime | None) -> str | None:
    """YYYY-MM-DDTHH:MM:SS.fffZ in UTC (naive datetimes are taken as UTC)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def lfs_json(entry, key: str = "oid") -> dict | None:
    """The `lfs` object of an LFS file: `oid` in trees, `sha256` in repo-info siblings (spec §5/§6)."""
    lfs = entry.lfs
    if not lfs:
        return None
    sha = lfs.get("oid") or lfs.get("sha256") or entry.sha256
    size = lfs.get("size", entry.size)
    pointer_size = lfs.get("pointerSize")
    if pointer_size is None:
        pointer_size = lfs_pointer_oid(sha, size)[1]
    return {key: sha, "size": size, "pointerSize": pointer_size}


def last_commit_json(commit) -> dict:
    return {"id": commit.oid, "title": commit.title, "date": iso_z(commit.created_at)}


def entry_json(entry, last_commit=None) -> dict:
    """A tree / paths-info entry (spec §6). No xetHash: Xet is not implemented (§8.6)."""
    if entry.type == "directory":
        out = {"type": "directory", "oid": entry.oid, "size": 0, "path": entry.path}
    else:
        out = {"type": "file", "oid": entry.oid, "size": entry.size, "path": entry.path}
        lfs = lfs_json(entry, "oid")
        if lfs:
            out["lfs"] = lfs
    if last_commit is not None:
        out["lastCommit"] = last_commit_json(last_commit)
    return out


def sibling_json(entry, blobs: bool) -> dict:
    out = {"rfilename": entry.path}
    if blobs:
        out["size"] = entry.size
        out["blobId"] = entry.oid
        lfs = lfs_json(entry, "sha256")
        if lfs:
            out["lfs"] = lfs
    return out


def commit_json(commit, base_avatar: str = "") -> dict:
    """One element of GET .../commits/{rev} (spec §6)."""
    return {
        "id": commit.oid,
        "title": commit.title,
        "message": commit.message or "",
        "date": iso_z(commit.created_at),
        "authors": [{"user": commit.author, "avatar": base_avatar}],
        "parents": list(commit.parents),
    }


def ref_json(ref) -> dict:
    return {"name": ref.name, "ref": ref.ref, "targetCommit": ref.target_commit}


def card_tags(card: dict | None) -> list[str]:
    """Tags derived from README YAML (its `tags`, library_name, license:<id>, dataset:<id>, ...): the same
    list the backend indexes for `filter=` searches."""
    from snuggle.hub.server.backend_trees import card_tags as _backend_card_tags

    return list(_backend_card_tags(card))


def repo_info_json(repo, commit, *, url: str, card: dict | None, siblings: list[dict] | None,
                   used_storage: int | None = None) -> dict:
    """GET /api/{type}s/{id}[/revision/{rev}] and listing items (spec §5)."""
    tags = list(getattr(repo, "tags", ()) or ()) if card is None else card_tags(card)
    out = {
        "_id": f"{repo.repo_type}-{repo.id}",
        "id": repo.repo_id,
        "author": repo.namespace,
        "sha": commit.oid if commit is not None else None,
        "lastModified": iso_z(commit.created_at if commit is not None else repo.last_modified),
        "createdAt": iso_z(repo.created_at),
        "private": bool(repo.private),
        "gated": repo.gated if repo.gated else False,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": tags,
    }
    if card is not None:
        out["cardData"] = card
        for key in ("library_name", "pipeline_tag"):
            if isinstance(card.get(key), str):
                out[key] = card[key]
    if repo.repo_type == "model":
        out["modelId"] = repo.repo_id
    if repo.repo_type == "space":
        sdk = card.get("sdk") if isinstance(card, dict) else None
        if isinstance(sdk, str):
            out["sdk"] = sdk
    if siblings is not None:
        out["siblings"] = siblings
    if used_storage is not None:
        out["usedStorage"] = used_storage
    out["url"] = url
    return out


def discussion_json(d, repo, *, url: str, full: bool = False) -> dict:
    """A discussion / PR (spec §9.1); `full` adds events, changes, diff for GET .../discussions/{n}."""
    out = {
        "num": d.num,
        "title": d.title,
        "status": d.status,
        "isPullRequest": bool(d.is_pull_request),
        "pullRequest": bool(d.is_pull_request),
        "createdAt": iso_z(d.created_at),
        "author": {"name": d.author, "type": "user"},
        "repo": {"name": repo.repo_id, "type": repo.repo_type},
        "numComments": 0,
        "pinned": False,
        "url": url,
        "reference": d.reference,
    }
    if full:
        out["events"] = []
        if d.is_pull_request:
            out["changes"] = {"base": "refs/heads/main", "mergeCommitId": None}
            out["filesWithConflicts"] = []
        out["diff"] = ""
    return out
