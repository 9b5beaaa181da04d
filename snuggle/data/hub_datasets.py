"""`load_dataset("user/name")`: the data files of a Hub dataset repo -> a DatasetBuilder.

The repo is read as `datasets` reads a repo without a loading script:
1. The revision is resolved to a commit (GET /api/datasets/{id}/revision/{rev}: `sha` + every file path);
   offline, refs/<rev> in the Hub cache and the cached listing (or snapshot folder) stand in.
2. README.md's YAML `configs:` picks the files: each config has `config_name`, `data_files` (a path or glob,
   a list, or a list of {split, path}), optionally `data_dir`, `default: true` and builder options (`sep`, ...).
3. Without `configs:` (or with `data_files=` given) the split rules of `snuggle.data.data_files` apply to the
   repo's paths: `data/{split}-00000-of-00001.*`, split-named folders, then split keywords in file names
   (train / validation / test), else everything is "train".
4. Non-streaming: each file goes through `hf_hub_download` into the Hub cache (blobs shared with
   huggingface_hub) and the local builder reads it. `streaming=True`: files are read over HTTP with Range
   requests (`snuggle.hub.remote_file`), nothing is downloaded up front.

>>> builder = load_hub_dataset_builder("alice/reviews")          # doctest: +SKIP
>>> next(iter(builder.as_streaming_dataset(split="train")))      # doctest: +SKIP
{'text': 'great', 'label': 1}
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from snuggle.data.data_files import (
    ALL_EXTENSIONS,
    BUILDER_TO_EXTENSIONS,
    contains_wildcards,
    filter_by_extensions,
    get_data_patterns_in_paths,
    infer_builder,
    resolve_pattern_in_paths,
    sanitize_patterns,
)
from snuggle.data.load import DatasetBuilder
from snuggle.errors import DataError

# YAML config keys that describe the files, not builder options.
_CONFIG_FILE_KEYS = {"config_name", "data_files", "data_dir", "default", "drop_labels", "drop_metadata"}


def load_hub_dataset_builder(repo_id: str, *, revision: str | None = None, name: str | None = None,
                             data_dir: str | None = None, data_files=None, token=None, cache_dir: str | None = None,
                             features=None, **config_kwargs: Any):
    """Resolve a Hub dataset repo to a DatasetBuilder over its data files (see the module docstring)."""
    from snuggle.data.builders import make_config

    commit, listing = _commit_and_listing(repo_id, revision or "main", token)
    paths = sorted(listing)
    yaml_configs = _readme_configs(repo_id, commit, paths, token) if "README.md" in paths else []
    config_name, config = _pick_config(repo_id, yaml_configs, name)
    base = (data_dir if data_dir is not None else config.get("data_dir")) or ""
    if data_files is not None:
        patterns = sanitize_patterns(data_files)
    elif config.get("data_files") is not None:
        patterns = sanitize_patterns(config["data_files"])
    else:
        patterns = get_data_patterns_in_paths(paths, base)
    repo_files = _resolve_patterns(repo_id, patterns, paths, base)
    builder_name, default_kwargs = infer_builder(repo_files, repo_id)
    repo_files = filter_by_extensions(repo_files, BUILDER_TO_EXTENSIONS[builder_name])
    yaml_kwargs = {k: v for k, v in config.items() if k not in _CONFIG_FILE_KEYS}
    if "sep" in default_kwargs and any(k in {**yaml_kwargs, **config_kwargs} for k in ("sep", "delimiter")):
        default_kwargs = {}
    builder_config = make_config(builder_name, **{**default_kwargs, **yaml_kwargs, **config_kwargs,
                                                  "name": config_name, "features": features})
    urls = _register_urls(repo_id, commit, listing, token)
    files = {split: [urls[p] for p in ps] for split, ps in repo_files.items()}
    builder = HubDatasetBuilder(builder_name, repo_id.replace("/", "___"), builder_config, files, cache_dir=cache_dir)
    builder.hub_files = {urls[p]: p for ps in repo_files.values() for p in ps}
    builder.hub_repo = (repo_id, commit, token)
    return builder




class HubDatasetBuilder(DatasetBuilder):
    """A DatasetBuilder whose files are Hub URLs pinned to a commit: streamed as they are, or downloaded
    into the Hub cache by `download_and_prepare` (only when its Arrow cache is not already there)."""

    hub_files: dict = {}  # url -> path in the repo
    hub_repo: tuple = ()  # (repo_id, commit, token)

    def download_and_prepare(self, download_mode=None, num_proc=None, **kwargs: Any) -> None:
        mode = str(getattr(download_mode, "value", download_mode) or "reuse_dataset_if_exists")
        if mode != "force_redownload" and self._is_prepared():
            return super().download_and_prepare(download_mode=download_mode, num_proc=num_proc, **kwargs)
        urls = self.data_files
        local = _download(*self.hub_repo, self.hub_files)
        self.data_files = {split: [local[u] for u in us] for split, us in urls.items()}
        try:
            super().download_and_prepare(download_mode=download_mode, num_proc=num_proc, **kwargs)
        finally:
            self.data_files = urls


# -- the repo at one commit -------------------------------------------------------------------------------


def _commit_and_listing(repo_id: str, revision: str, token) -> tuple[str, dict]:
    """(commit, {path: TreeCacheEntry}) of the repo at `revision`; the listing is cached under trees/."""
    from snuggle.hub import cache, constants, http
    from snuggle.hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    if constants.is_offline():
        return _offline_commit_and_listing(repo_id, revision)
    url = f"{constants.endpoint()}/api/datasets/{repo_id}/revision/{quote(revision, safe='')}"
    try:
        info = http.request("GET", url, token=token, params={"blobs": "true"}).json()
    except RepositoryNotFoundError as err:
        raise DataError(f"Dataset '{repo_id}' doesn't exist on the Hub at {constants.endpoint()} or cannot be "
                        "accessed (a private dataset needs token= or HF_TOKEN)") from err
    except RevisionNotFoundError as err:
        raise DataError(f"Dataset '{repo_id}': revision {revision!r} doesn't exist on the Hub") from err
    listing = {}
    for sibling in info.get("siblings") or []:
        lfs = sibling.get("lfs") or None
        listing[sibling["rfilename"]] = cache.TreeCacheEntry(
            size=sibling.get("size"), blob_id=sibling.get("blobId"),
            lfs_sha256=lfs.get("sha256") if lfs else None, lfs_size=lfs.get("size") if lfs else None)
    commit = info["sha"]
    storage = cache.storage_folder(cache.default_cache_dir(), repo_id, "dataset")
    cache.cache_commit_hash_for_specific_revision(storage, revision, commit)  # offline runs resolve it from refs/
    if all(e.size is not None and e.blob_id for e in listing.values()):
        cache.write_tree_cache(storage, commit, listing)  # lets an offline run list the repo later
    return commit, listing


def _offline_commit_and_listing(repo_id: str, revision: str) -> tuple[str, dict]:
    from snuggle.hub import cache

    storage = cache.storage_folder(cache.default_cache_dir(), repo_id, "dataset")
    commit = cache.resolve_cached_commit(storage, revision)
    snapshot = os.path.join(storage, "snapshots", commit) if commit else None
    if commit is None or not os.path.isdir(snapshot):
        raise DataError(f"Dataset '{repo_id}' (revision {revision!r}) is not in the Hub cache and HF_HUB_OFFLINE=1 "
                        "is set: load it once with the network on, or unset HF_HUB_OFFLINE")
    listing = cache.read_tree_cache(storage, commit)
    if listing is not None:
        return commit, listing
    listing = {}
    for folder, _, names in os.walk(snapshot):
        for n in names:
            full = os.path.join(folder, n)
            rel = os.path.relpath(full, snapshot).replace(os.sep, "/")
            etag = os.path.basename(os.readlink(full)) if os.path.islink(full) else None
            listing[rel] = cache.TreeCacheEntry(size=os.path.getsize(full), blob_id=etag)
    return commit, listing


def _readme_configs(repo_id: str, commit: str, paths: list[str], token) -> list[dict]:
    """The `configs:` list of README.md's YAML front matter ([] when there is none)."""
    import yaml

    from snuggle.hub.download import hf_hub_download

    readme = hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=commit, token=token)
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    if not text.startswith("---"):
        return []
    end = text.find("\n---", 3)
    if end < 0:
        return []
    try:
        meta = yaml.safe_load(text[3:end]) or {}
    except yaml.YAMLError as err:
        raise DataError(f"{repo_id}: README.md has invalid YAML metadata ({err})") from None
    configs = meta.get("configs") if isinstance(meta, dict) else None
    if configs is None:
        return []
    if not isinstance(configs, list) or not all(isinstance(c, dict) and "config_name" in c for c in configs):
        raise DataError(f"{repo_id}: README.md `configs:` must be a list of mappings with a `config_name` each")
    return configs


def _pick_config(repo_id: str, configs: list[dict], name: str | None) -> tuple[str, dict]:
    names = [c["config_name"] for c in configs]
    if name is not None:
        for c in configs:
            if c["config_name"] == name:
                return name, c
        if not configs and name == "default":
            return name, {}
        raise DataError(f"BuilderConfig '{name}' not found for dataset '{repo_id}'. Available: {names or ['default']}")
    if not configs:
        return "default", {}
    defaults = [c for c in configs if c.get("default")] or [c for c in configs if c["config_name"] == "default"]
    if defaults:
        return defaults[0]["config_name"], defaults[0]
    if len(configs) == 1:
        return configs[0]["config_name"], configs[0]
    raise DataError(f"Config name is missing for dataset '{repo_id}'. Please pick one among the available configs: "
                    f"{names}. Example: load_dataset('{repo_id}', '{names[0]}')")


def _resolve_patterns(repo_id: str, patterns: dict[str, list[str]], paths: list[str],
                      base: str) -> dict[str, list[str]]:
    resolved = {}
    for split, split_patterns in patterns.items():
        files: list[str] = []
        for pattern in split_patterns:
            found = resolve_pattern_in_paths(pattern, paths, base, allowed_extensions=ALL_EXTENSIONS)
            if not found and not contains_wildcards(pattern):
                raise DataError(f"Dataset '{repo_id}': data_files[{split!r}]: no file {pattern!r} in the repo"
                                + (f" under {base!r}" if base else ""))
            files += [f for f in found if f not in files]
        if not files:
            raise DataError(f"Dataset '{repo_id}': data_files[{split!r}]: no file matches {split_patterns} in the repo"
                            + (f" under {base!r}" if base else "") + f" with a supported extension {ALL_EXTENSIONS}")
        resolved[split] = files
    return resolved


# -- reading: downloaded or streamed ------------------------------------------------------------------


def _download(repo_id: str, commit: str, token, url_to_path: dict[str, str]) -> dict[str, str]:
    """{url: local path} after fetching each file into the Hub cache (served from it when present)."""
    from snuggle.hub.download import hf_hub_download

    def one(path: str) -> str:
        return hf_hub_download(repo_id, path, repo_type="dataset", revision=commit, token=token)

    urls = list(url_to_path)
    with ThreadPoolExecutor(max_workers=min(8, max(1, len(urls)))) as pool:
        return dict(zip(urls, pool.map(one, [url_to_path[u] for u in urls])))


def _register_urls(repo_id: str, commit: str, listing: dict, token) -> dict[str, str]:
    """{path: /resolve URL pinned to `commit`}; a reader for those URLs is registered with snuggle.data."""
    from snuggle.data.remote_files import register_url_reader
    from snuggle.hub import constants
    from snuggle.hub.download import hf_hub_url
    from snuggle.hub.remote_file import HubFileReader

    endpoint = constants.endpoint()
    urls = {p: hf_hub_url(repo_id, p, repo_type="dataset", revision=commit, endpoint=endpoint) for p in listing}
    reader = HubFileReader(token=token, endpoint=endpoint)
    for path, entry in listing.items():
        # sizes and ETags from the listing: the cache key needs no request per file (and works offline)
        reader.known[urls[path]] = (entry.lfs_size or entry.size, entry.lfs_sha256 or entry.blob_id)
    register_url_reader(f"{endpoint}/datasets/{repo_id}/resolve/{commit}/", reader)
    return urls
