"""Dataset.push_to_hub / DatasetDict.push_to_hub: parquet shards + a README.md datasets can read.

    ds.push_to_hub("alice/reviews")                        # split "train" (or ds.split)
    dsd.push_to_hub("alice/reviews", private=True)         # every split, old files of the config replaced
    ds.push_to_hub("alice/reviews", "fr", split="test")    # a second config in data dir "fr/"

Layout, as datasets 5 writes it:
    <data_dir>/<split>-0000i-of-0000n.parquet      data_dir = "data" for config "default", else the config name
    README.md                                      YAML `dataset_info` (features, splits, sizes) and `configs`
                                                   (data_files patterns per split), merged into the existing card
The number of shards is `int(nbytes / max_shard_size) + 1` (max_shard_size "500MB" by default) unless
`num_shards` is given. Parquet files carry the features in their schema metadata, so ClassLabel names and
nested types survive a round trip through either library.

Everything lands in one commit (more than 50 shards: the shards first, in commits of 50) whose parent is
the revision's head read just before; if somebody else commits in between (412/409) the card is merged
again on the new head and the commit retried.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import os
import random
import re
import tempfile
import time
from typing import Any

from snuggle.errors import DataError
from snuggle.utils.logging import get_logger

logger = get_logger(__name__)

REPOCARD_NAME = "README.md"
LEGACY_INFOS_NAME = "dataset_infos.json"
DEFAULT_MAX_SHARD_SIZE = "500MB"
UPLOADS_MAX_NUMBER_PER_COMMIT = 50
_SPLIT_RE = re.compile(r"^\w+(\.\w+)*$")
# shards written by old push_to_hub versions that predate the `configs` field
_LEGACY_SHARD_RE = re.compile(r"^data/(?P<split>\w+(\.\w+)*)-\d{5}-of-\d{5}[^/]*\.[^/]+$")


# ----------------------------------------------------------------------------------------- YAML forms


def features_to_yaml_list(features_dict: dict) -> list:
    """The `dataset_info.features` YAML list from a Features.to_dict() JSON object (datasets' short form:
    `dtype: string`, `list: int32`, `class_label: {names: {'0': neg}}`, `struct: [...]`).

    >>> features_to_yaml_list({"text": {"dtype": "string", "_type": "Value"},
    ...     "ids": {"feature": {"dtype": "int32", "_type": "Value"}, "_type": "List"}})
    [{'name': 'text', 'dtype': 'string'}, {'name': 'ids', 'list': 'int32'}]
    """
    import copy

    return _plain(_to_yaml(copy.deepcopy(features_dict))["struct"])


def _snake(name: str) -> str:
    # "ClassLabel" -> "class_label", "Array2D" -> "array2_d" (the reference's camel-case rule)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _simplify(feature: dict) -> dict:
    for list_type in ("large_list", "list", "sequence"):
        inner = feature.get(list_type)
        if isinstance(inner, dict) and list(inner) == ["dtype"]:
            feature[list_type] = inner["dtype"]
        inner = feature.get(list_type)
        if isinstance(inner, dict) and list(inner) == ["struct"]:
            feature[list_type] = inner["struct"]
    label = feature.get("class_label")
    if isinstance(label, dict) and isinstance(label.get("names"), list):
        # the Hub requires string keys
        label["names"] = {str(i): name for i, name in enumerate(label["names"])}
    return feature


def _to_yaml(obj: Any) -> dict:
    if isinstance(obj, dict):
        kind = obj.pop("_type", None)
        if kind in ("LargeList", "List"):
            inner = obj.pop("feature")
            return _simplify({"large_list" if kind == "LargeList" else "list": _to_yaml(inner), **obj})
        if kind == "Value":
            return obj
        if kind and not obj:
            return {"dtype": _snake(kind)}
        if kind:
            return {"dtype": _simplify({_snake(kind): obj})}
        return {"struct": [{"name": name, **_to_yaml(feature)} for name, feature in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return _simplify({"list": _simplify(_to_yaml(list(obj)[0]))})
    raise DataError(f"features: expected a dict or a list in the features JSON, got {type(obj).__name__}: {obj!r}")


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _sanitize_data_files(data_files: Any) -> dict[str, list[str]]:
    """{split: [patterns]} from a `configs[].data_files` value (string, list, or list of {split, path})."""
    if isinstance(data_files, str):
        return {"train": [data_files]}
    if isinstance(data_files, dict):
        return {str(k): v if isinstance(v, list) else [v] for k, v in data_files.items()}
    if isinstance(data_files, list) and any(isinstance(p, dict) for p in data_files):
        return {str(p["split"]): p["path"] if isinstance(p["path"], list) else [p["path"]] for p in data_files}
    return {"train": list(data_files or [])}


# ----------------------------------------------------------------------------------------- card update


def updated_dataset_card(card_text: str | None, *, config_name: str, splits_info: list[dict], features_yaml: list,
                         data_dir: str, set_default: bool | None, uploaded_sizes: list[int],
                         deleted_sizes: list[int], remove_other_splits: bool, repo_files: list[str]) -> str:
    """README.md after a push of `splits_info` ({name, num_bytes, num_examples}) to `config_name`:
    `dataset_info` and `configs` updated the way datasets 5 does, the rest of the card untouched."""
    from snuggle.hub.card_data import DatasetCardData
    from snuggle.hub.cards import DatasetCard

    card = DatasetCard(card_text) if card_text is not None else None
    data = card.data if card is not None else DatasetCardData()
    infos = _infos_by_config(data.get("dataset_info"))
    configs = {c["config_name"]: {k: v for k, v in c.items() if k != "config_name"}
               for c in (data.get("configs") or []) if isinstance(c, dict) and "config_name" in c}

    existing = infos.get(config_name)
    if existing is not None and not remove_other_splits:
        info = dict(existing)
        splits = [dict(s) for s in info.get("splits") or []]
        for split_info, deleted, uploaded in zip(splits_info, deleted_sizes, uploaded_sizes):
            if any(s.get("name") != split_info["name"] for s in splits) and info.get("features") != features_yaml:
                raise DataError(f"push_to_hub: the features of split {split_info['name']!r} ({features_yaml}) differ "
                                f"from the features of the splits already on the Hub ({info.get('features')}); "
                                "cast the dataset to the same features or push to another config_name")
            old = next((s for s in splits if s.get("name") == split_info["name"]), None)
            if old is not None:
                info["download_size"] = (info.get("download_size") or 0) - deleted
                info["dataset_size"] = (info.get("dataset_size") or 0) - (old.get("num_bytes") or 0)
                splits.remove(old)
            info["download_size"] = (info.get("download_size") or 0) + uploaded
            info["dataset_size"] = (info.get("dataset_size") or 0) + split_info["num_bytes"]
            splits.append(dict(split_info))
        info.update(features=info.get("features", features_yaml), splits=splits)
        new_info = {k: info[k] for k in ("features", "config_name", "splits", "download_size", "dataset_size")
                    if info.get(k) is not None}
    else:
        new_info = {"features": features_yaml, "splits": [dict(s) for s in splits_info],
                    "download_size": sum(uploaded_sizes), "dataset_size": sum(s["num_bytes"] for s in splits_info)}

    # A repo pushed before `configs` existed: describe its shards so they stay loadable.
    legacy_splits = []
    for path in repo_files:
        m = _LEGACY_SHARD_RE.match(path)
        if m and m.group("split") not in legacy_splits:
            legacy_splits.append(m.group("split"))
    if not configs and legacy_splits:
        configs = {"default": {"data_files": [{"split": s, "path": f"data/{s}-*"} for s in legacy_splits]}}

    if config_name in configs and "data_files" in configs[config_name] and not remove_other_splits:
        patterns = _sanitize_data_files(configs[config_name]["data_files"])
    else:
        patterns = {}
    for split_info in splits_info:
        patterns[split_info["name"]] = [f"{data_dir}/{split_info['name']}-*"]
    new_config: dict[str, Any] = {"data_files": [{"split": s, "path": p[0] if len(p) == 1 else p}
                                                 for s, p in patterns.items()]}
    if set_default and config_name != "default":
        current_default = _default_config(configs)
        if current_default == "default":
            raise DataError("There exists a configuration named 'default'. To set a different configuration as "
                            "default, rename the 'default' one first.")
        if current_default:
            configs[current_default] = {k: v for k, v in configs[current_default].items() if k != "default"}
        new_config["default"] = True
    configs[config_name] = new_config

    infos[config_name] = new_info
    if len(infos) == 1:
        only_name, only = next(iter(infos.items()))
        only = {k: v for k, v in only.items() if k != "config_name"}
        data["dataset_info"] = only if only_name == "default" else {"config_name": only_name, **only}
    else:
        data["dataset_info"] = [{"config_name": name, **{k: v for k, v in info.items() if k != "config_name"}}
                                for name, info in sorted(infos.items())]
    data["configs"] = [{"config_name": name, **cfg} for name, cfg in sorted(configs.items())]
    if card is None:
        return str(DatasetCard(f"---\n{data}\n---\n"))
    return str(card)


def _infos_by_config(dataset_info: Any) -> dict[str, dict]:
    if isinstance(dataset_info, dict):
        return {dataset_info.get("config_name", "default"): dict(dataset_info)}
    if isinstance(dataset_info, list):
        return {i.get("config_name", "default"): dict(i) for i in dataset_info if isinstance(i, dict)}
    return {}


def _default_config(configs: dict[str, dict]) -> str | None:
    names = [n for n, c in configs.items() if len(configs) == 1 or n == "default" or c.get("default")]
    if len(names) > 1:
        raise DataError(f"Dataset has several default configs: {names}")
    return names[0] if names else None


# ----------------------------------------------------------------------------------------- shards


def estimate_nbytes(dataset) -> int:
    """Arrow bytes of the rows `dataset` shows (its table's size scaled by the selected rows)."""
    table = dataset._data
    nbytes = table.nbytes
    if getattr(dataset, "_indices", None) is not None and table.num_rows:
        nbytes = nbytes * len(dataset) // table.num_rows
    return nbytes


def write_parquet_shards(dataset, folder: str, *, data_dir: str, split: str, max_shard_size: int | str | None,
                         num_shards: int | None, num_proc: int | None = None) -> tuple[list[tuple[str, str]], dict, int]:
    """Write `dataset` as `<data_dir>/<split>-0000i-of-0000n.parquet` files under `folder`.

    Returns ([(path in repo, local path)], split info {name, num_bytes, num_examples}, bytes written).
    """
    from snuggle.data.disk import parse_size

    nbytes = estimate_nbytes(dataset)
    if num_shards is None:
        limit = parse_size(max_shard_size or DEFAULT_MAX_SHARD_SIZE)
        num_shards = max(int(nbytes / limit) + 1, num_proc or 1)
    files = []
    uploaded = 0
    os.makedirs(os.path.join(folder, data_dir), exist_ok=True)
    for index in range(num_shards):
        shard = dataset.shard(num_shards=num_shards, index=index, contiguous=True)
        path_in_repo = f"{data_dir}/{split}-{index:05d}-of-{num_shards:05d}.parquet"
        local = os.path.join(folder, *path_in_repo.split("/"))
        shard.to_parquet(local)
        uploaded += os.path.getsize(local)
        files.append((path_in_repo, local))
    return files, {"name": split, "num_bytes": nbytes, "num_examples": len(dataset)}, uploaded


# ----------------------------------------------------------------------------------------- push


def _check_args(config_name: str, max_shard_size, num_shards) -> None:
    if config_name == "data":
        raise DataError("push_to_hub: config_name cannot be 'data' (it is the data folder of the default config); "
                        "choose another name")
    if max_shard_size is not None and num_shards is not None:
        raise DataError("push_to_hub: pass either max_shard_size or num_shards, not both")


def _check_split(split: str) -> None:
    if not _SPLIT_RE.match(split):
        raise DataError(f"push_to_hub: split name should match '{_SPLIT_RE.pattern}' but got {split!r}")


def _prepare_repo(api, repo_id: str, private: bool | None, revision: str | None) -> str:
    from snuggle.hub.errors import RepositoryNotFoundError

    try:
        repo_id = api.repo_info(repo_id, repo_type="dataset").id
    except RepositoryNotFoundError:
        repo_id = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True).repo_id
    if revision is not None and not revision.startswith("refs/pr/"):
        api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
    return repo_id


def _repo_files(api, repo_id: str, revision: str, folder: str) -> dict[str, int]:
    """{path: size} of the files directly in `folder` at `revision` (empty when the folder is missing)."""
    from snuggle.hub.errors import EntryNotFoundError

    try:
        entries = api.list_repo_tree(repo_id, path_in_repo=folder, repo_type="dataset", revision=revision)
        return {e.path: getattr(e, "size", 0) or 0 for e in entries if hasattr(e, "size")}
    except EntryNotFoundError:
        return {}


def _read_card(api, repo_id: str, revision: str) -> str | None:
    from snuggle.hub.errors import EntryNotFoundError

    try:
        path = api.hf_hub_download(repo_id=repo_id, filename=REPOCARD_NAME, repo_type="dataset", revision=revision)
    except EntryNotFoundError:
        return None
    with open(path, encoding="utf-8-sig", newline="") as f:
        return f.read()


def _is_retryable(err: Exception) -> bool:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None) in (409, 412)


def _commit_push(api, repo_id: str, *, files: list[tuple[str, str]], card_for, stale_for, commit_message: str | None,
                 commit_description: str | None, revision: str | None, create_pr: bool | None):
    """Commit the shard files plus the card (`card_for(head, repo_files)` -> README text) and the deletions
    (`stale_for(head)` -> paths), retrying on a concurrent commit."""
    from snuggle.hub.commits import CommitOperationAdd, CommitOperationDelete
    from snuggle.hub.errors import HfHubHTTPError

    commit_message = commit_message if commit_message is not None else "Upload dataset"
    additions = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=local) for p, local in files]
    if len(additions) > UPLOADS_MAX_NUMBER_PER_COMMIT:
        parts = math.ceil(len(additions) / UPLOADS_MAX_NUMBER_PER_COMMIT)
        for i in range(parts):
            chunk = additions[i * UPLOADS_MAX_NUMBER_PER_COMMIT:(i + 1) * UPLOADS_MAX_NUMBER_PER_COMMIT]
            api.create_commit(repo_id, operations=chunk, commit_message=f"{commit_message} (part {i:05d}-of-{parts:05d})",
                              commit_description=commit_description, repo_type="dataset", revision=revision,
                              create_pr=create_pr)
        additions = []
    new_paths = {p for p, _ in files}
    for attempt, pause in enumerate(itertools.chain(range(10), itertools.repeat(30)), start=1):
        head = api.repo_info(repo_id, repo_type="dataset", revision=revision).sha
        stale = [p for p in stale_for(head) if p not in new_paths]
        card = card_for(head)
        operations = additions + [CommitOperationAdd(path_in_repo=REPOCARD_NAME, path_or_fileobj=card.encode("utf-8"))]
        operations += [CommitOperationDelete(path_in_repo=p) for p in stale]
        try:
            return api.create_commit(repo_id, operations=operations, commit_message=commit_message,
                                     commit_description=commit_description, repo_type="dataset", revision=revision,
                                     create_pr=create_pr, parent_commit=head)
        except HfHubHTTPError as err:
            if not _is_retryable(err) or attempt >= 20:
                raise
            logger.info(f"push_to_hub: {repo_id} changed during the push ({err}); retrying ({attempt})")
            time.sleep(pause * (1 + random.random()) * 0.1)


def push_dataset_to_hub(dataset, repo_id: str, config_name: str = "default", set_default: bool | None = None,
                        split: str | None = None, data_dir: str | None = None, commit_message: str | None = None,
                        commit_description: str | None = None, private: bool | None = None,
                        token: str | bool | None = None, revision: str | None = None, create_pr: bool | None = False,
                        max_shard_size: int | str | None = None, num_shards: int | None = None,
                        embed_external_files: bool = True, num_proc: int | None = None,
                        endpoint: str | None = None):
    """Dataset.push_to_hub: one split as parquet shards + README.md; returns the CommitInfo.

    >>> # Dataset.from_dict({"text": ["a", "b"]}).push_to_hub("alice/tiny", split="train")
    """
    from snuggle.hub.push import hub_api

    _check_args(config_name, max_shard_size, num_shards)
    split = split if split is not None else (str(dataset.split) if dataset.split is not None else "train")
    _check_split(split)
    data_dir = data_dir or (config_name if config_name != "default" else "data")
    api = hub_api(token, endpoint)
    repo_id = _prepare_repo(api, repo_id, private, revision)
    features_yaml = features_to_yaml_list(dataset.features.to_dict())
    with tempfile.TemporaryDirectory(prefix="snuggle-dataset-push-") as tmp:
        files, split_info, uploaded = write_parquet_shards(dataset, tmp, data_dir=data_dir, split=split,
                                                           max_shard_size=max_shard_size, num_shards=num_shards,
                                                           num_proc=num_proc)
        own_files: dict[str, int] = {}

        def stale_for(head):
            in_dir = _repo_files(api, repo_id, head, data_dir)
            own_files.clear()
            own_files.update({p: s for p, s in in_dir.items()
                              if fnmatch.fnmatchcase(p, f"{data_dir}/{split}-*") and "/" not in p[len(data_dir) + 1:]})
            return list(own_files)

        def card_for(head):
            return updated_dataset_card(_read_card(api, repo_id, head), config_name=config_name,
                                        splits_info=[split_info], features_yaml=features_yaml, data_dir=data_dir,
                                        set_default=set_default, uploaded_sizes=[uploaded],
                                        deleted_sizes=[sum(own_files.values())], remove_other_splits=False,
                                        repo_files=list(_repo_files(api, repo_id, head, "data")))

        return _commit_push(api, repo_id, files=files, card_for=card_for, stale_for=stale_for,
                            commit_message=commit_message, commit_description=commit_description, revision=revision,
                            create_pr=create_pr)


def push_dataset_dict_to_hub(dataset_dict, repo_id: str, config_name: str = "default", set_default: bool | None = None,
                             data_dir: str | None = None, commit_message: str | None = None,
                             commit_description: str | None = None, private: bool | None = None,
                             token: str | bool | None = None, revision: str | None = None,
                             create_pr: bool | None = False, max_shard_size: int | str | None = None,
                             num_shards: dict[str, int] | None = None, embed_external_files: bool = True,
                             num_proc: int | None = None, endpoint: str | None = None):
    """DatasetDict.push_to_hub: every split as parquet shards, the config's other files removed, one
    README.md update; returns the CommitInfo.

    >>> # DatasetDict({"train": train, "test": test}).push_to_hub("alice/tiny")
    """
    from snuggle.hub.push import hub_api

    _check_args(config_name, max_shard_size,
                num_shards if any(v is not None for v in (num_shards or {}).values()) else None)
    for split in dataset_dict:
        _check_split(split)
    data_dir = data_dir or (config_name if config_name != "default" else "data")
    api = hub_api(token, endpoint)
    repo_id = _prepare_repo(api, repo_id, private, revision)
    with tempfile.TemporaryDirectory(prefix="snuggle-dataset-push-") as tmp:
        files, splits_info, uploaded_sizes, features_yaml = [], [], [], None
        for split, dataset in dataset_dict.items():
            split_files, info, uploaded = write_parquet_shards(
                dataset, tmp, data_dir=data_dir, split=split, max_shard_size=max_shard_size,
                num_shards=(num_shards or {}).get(split), num_proc=num_proc)
            files += split_files
            splits_info.append(info)
            uploaded_sizes.append(uploaded)
            features_yaml = features_to_yaml_list(dataset.features.to_dict())

        def stale_for(head):
            return list(_repo_files(api, repo_id, head, data_dir))

        def card_for(head):
            return updated_dataset_card(_read_card(api, repo_id, head), config_name=config_name,
                                        splits_info=splits_info, features_yaml=features_yaml or [], data_dir=data_dir,
                                        set_default=set_default, uploaded_sizes=uploaded_sizes, deleted_sizes=[],
                                        remove_other_splits=True,
                                        repo_files=list(_repo_files(api, repo_id, head, "data")))

        return _commit_push(api, repo_id, files=files, card_for=card_for, stale_for=stale_for,
                            commit_message=commit_message, commit_description=commit_description, revision=revision,
                            create_pr=create_pr)
