"""The YAML metadata of a repo card: CardData, ModelCardData, DatasetCardData, SpaceCardData, EvalResult.

A card's metadata is the YAML block at the top of README.md. `CardData` holds it as plain attributes and
behaves like a small dict (get / pop / [] / in / len); `to_dict()` drops the keys set to None and
`to_yaml()` dumps it the way huggingface_hub does (insertion order, unicode kept), so a card edited here
and one edited with the reference produce the same file.

Model cards store evaluation results under `model-index`; `ModelCardData` turns that into a flat list of
`EvalResult` (one per metric) on load and back on dump.

>>> data = ModelCardData(language="en", license="mit", tags=["a", "a", "b"])
>>> data.to_dict()
{'language': 'en', 'license': 'mit', 'tags': ['a', 'b']}
>>> print(data.to_yaml())
language: en
license: mit
tags:
- a
- b
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from snuggle.errors import HubError
from snuggle.utils.logging import get_logger

logger = get_logger(__name__)


class RepoCardError(HubError, ValueError):
    """A card's metadata cannot be used: not a mapping, a malformed model-index, or rejected by the Hub."""


def yaml_dump(data: Any, line_break: str | None = None) -> str:
    """YAML text of `data`: block style, keys in insertion order, non-ASCII kept (as huggingface_hub).

    Tuples become lists and numpy scalars plain numbers, so metrics from a training run can be dumped
    and loaded back with a safe loader.

    >>> yaml_dump({"b": 1, "a": ("x", "é")})
    'b: 1\\na:\\n- x\\n- é\\n'
    """
    import yaml

    return yaml.safe_dump(_plain(data), allow_unicode=True, sort_keys=False, line_break=line_break)


def _plain(value: Any) -> Any:
    """`value` with containers made of dicts/lists and numpy-like scalars turned into Python numbers."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and type(value).__module__.startswith(("numpy", "torch")):
        return value.item()
    return value


# ----------------------------------------------------------------------------------------- eval results


@dataclass
class EvalResult:
    """One metric value of a model on one dataset/task: a flattened `model-index` entry.

    >>> EvalResult(task_type="text-classification", dataset_type="imdb", dataset_name="IMDB",
    ...            metric_type="accuracy", metric_value=0.9).unique_identifier
    ('text-classification', 'imdb', None, None, None)
    """

    task_type: str
    dataset_type: str
    dataset_name: str
    metric_type: str
    metric_value: Any
    task_name: str | None = None
    dataset_config: str | None = None
    dataset_split: str | None = None
    dataset_revision: str | None = None
    dataset_args: dict[str, Any] | None = None
    metric_name: str | None = None
    metric_config: str | None = None
    metric_args: dict[str, Any] | None = None
    verified: bool | None = None
    verify_token: str | None = None
    source_name: str | None = None
    source_url: str | None = None

    @property
    def unique_identifier(self) -> tuple:
        """(task, dataset, config, split, revision): results sharing it go into one model-index entry."""
        return (self.task_type, self.dataset_type, self.dataset_config, self.dataset_split, self.dataset_revision)

    def is_equal_except_value(self, other: EvalResult) -> bool:
        """True when `other` describes the same metric (its value and verify token may differ)."""
        for f in dataclasses.fields(self):
            if f.name in ("metric_value", "verify_token"):
                continue
            if getattr(self, f.name) != getattr(other, f.name):
                return False
        return True

    def __post_init__(self) -> None:
        if self.source_name is not None and self.source_url is None:
            raise RepoCardError("EvalResult: source_name is set but source_url is not; give both or neither")


def model_index_to_eval_results(model_index: list[dict[str, Any]]) -> tuple[str, list[EvalResult]]:
    """(model name, flat list of EvalResult) from a card's `model-index` list.

    >>> name, results = model_index_to_eval_results([{"name": "m", "results": [{"task": {"type": "t"},
    ...     "dataset": {"type": "d", "name": "D"}, "metrics": [{"type": "acc", "value": 1.0}]}]}])
    >>> name, results[0].metric_type, results[0].metric_value
    ('m', 'acc', 1.0)
    """
    if not model_index:
        raise RepoCardError("model-index must be a non-empty list of {name, results} entries")
    name = None
    results: list[EvalResult] = []
    for entry in model_index:
        name = entry["name"]
        for result in entry["results"]:
            task, dataset = result["task"], result["dataset"]
            source = result.get("source") or {}
            for metric in result["metrics"]:
                results.append(EvalResult(
                    task_type=task["type"], dataset_type=dataset["type"], dataset_name=dataset["name"],
                    metric_type=metric["type"], metric_value=metric["value"], task_name=task.get("name"),
                    dataset_config=dataset.get("config"), dataset_split=dataset.get("split"),
                    dataset_revision=dataset.get("revision"), dataset_args=dataset.get("args"),
                    metric_name=metric.get("name"), metric_args=metric.get("args"),
                    metric_config=metric.get("config"), verified=metric.get("verified"),
                    verify_token=metric.get("verifyToken"), source_name=source.get("name"),
                    source_url=source.get("url"),
                ))
    return name, results


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if k is not None and v is not None}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_drop_none(v) for v in obj if v is not None)
    return obj


def eval_results_to_model_index(model_name: str, eval_results: list[EvalResult]) -> list[dict[str, Any]]:
    """The `model-index` list for `eval_results`: one entry per (task, dataset, config, split, revision).

    >>> eval_results_to_model_index("m", [EvalResult("t", "d", "D", "acc", 1.0)])
    [{'name': 'm', 'results': [{'task': {'type': 't'}, 'dataset': {'name': 'D', 'type': 'd'}, 'metrics': [{'type': 'acc', 'value': 1.0}]}]}]
    """
    groups: dict[tuple, list[EvalResult]] = {}
    for result in eval_results:
        groups.setdefault(result.unique_identifier, []).append(result)
    entries = []
    for results in groups.values():
        first = results[0]
        entry: dict[str, Any] = {
            "task": {"type": first.task_type, "name": first.task_name},
            "dataset": {"name": first.dataset_name, "type": first.dataset_type, "config": first.dataset_config,
                        "split": first.dataset_split, "revision": first.dataset_revision,
                        "args": first.dataset_args},
            "metrics": [{"type": r.metric_type, "value": r.metric_value, "name": r.metric_name,
                         "config": r.metric_config, "args": r.metric_args, "verified": r.verified,
                         "verifyToken": r.verify_token} for r in results],
        }
        if first.source_url is not None:
            entry["source"] = {"url": first.source_url}
            if first.source_name is not None:
                entry["source"]["name"] = first.source_name
        entries.append(entry)
    return _drop_none([{"name": model_name, "results": entries}])


def _unique_list(values: Any) -> list | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    out: list = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


# ----------------------------------------------------------------------------------------- card data


class CardData:
    """Metadata of any repo card: attributes that read and write like a dict.

    >>> d = CardData(license="mit", foo=None)
    >>> d["license"], d.get("foo", "default"), "foo" in d, d.to_dict()
    ('mit', 'default', True, {'license': 'mit'})
    """

    def __init__(self, ignore_metadata_errors: bool = False, **kwargs: Any):
        self.__dict__.update(kwargs)

    def to_dict(self) -> dict:
        """The metadata as a dict ready for YAML: keys set to None are left out."""
        data = copy.deepcopy(self.__dict__)
        self._to_dict(data)
        return {k: v for k, v in data.items() if v is not None}

    def _to_dict(self, data: dict) -> None:
        """Subclasses rewrite `data` in place (e.g. eval results -> model-index)."""

    def to_yaml(self, line_break: str | None = None, original_order: list[str] | None = None) -> str:
        """The YAML block (without the `---` fences). `original_order` puts those keys first, as they
        were in the file the card was read from, so a load/save round trip keeps the key order."""
        if original_order:
            listed = [k for k in original_order if k in self.__dict__]
            rest = [k for k in self.__dict__ if k not in set(original_order)]
            self.__dict__ = {k: self.__dict__[k] for k in listed + rest}
        return yaml_dump(self.to_dict(), line_break=line_break).strip()

    def __repr__(self) -> str:
        return repr(self.__dict__)

    def __str__(self) -> str:
        return self.to_yaml()

    def get(self, key: str, default: Any = None) -> Any:
        value = self.__dict__.get(key)
        return default if value is None else value

    def pop(self, key: str, default: Any = None) -> Any:
        return self.__dict__.pop(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.__dict__[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.__dict__[key] = value

    def __contains__(self, key: str) -> bool:
        return key in self.__dict__

    def __len__(self) -> int:
        return len(self.__dict__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CardData) and self.to_dict() == other.to_dict()


class ModelCardData(CardData):
    """Model card metadata: the fields the Hub indexes plus any extra key.

    `eval_results` + `model_name` are written as `model-index`; a card read with `model-index` gets them back.

    >>> d = ModelCardData(model_name="m", eval_results=[EvalResult("t", "d", "D", "acc", 0.5)])
    >>> list(d.to_dict())
    ['model-index']
    """

    def __init__(self, *, base_model: str | list[str] | None = None, datasets: str | list[str] | None = None,
                 eval_results: list[EvalResult] | EvalResult | None = None, language: str | list[str] | None = None,
                 library_name: str | None = None, license: str | None = None, license_name: str | None = None,
                 license_link: str | None = None, metrics: list[str] | None = None, model_name: str | None = None,
                 pipeline_tag: str | None = None, tags: list[str] | None = None,
                 ignore_metadata_errors: bool = False, **kwargs: Any):
        self.base_model = base_model
        self.datasets = datasets
        self.eval_results = eval_results
        self.language = language
        self.library_name = library_name
        self.license = license
        self.license_name = license_name
        self.license_link = license_link
        self.metrics = metrics
        self.model_name = model_name
        self.pipeline_tag = pipeline_tag
        self.tags = _unique_list(tags)

        model_index = kwargs.pop("model-index", None)
        if model_index:
            try:
                self.model_name, self.eval_results = model_index_to_eval_results(model_index)
            except (KeyError, TypeError) as err:
                if not ignore_metadata_errors:
                    raise RepoCardError(
                        f"model-index in the card metadata cannot be parsed ({type(err).__name__}: {err}); each "
                        "entry needs name and results[].task.type / dataset.type / dataset.name / metrics[].type "
                        "/ metrics[].value. Pass ignore_metadata_errors=True to load the card without it") from err
                logger.warning("Invalid model-index in the card metadata; eval results not loaded")
        super().__init__(**kwargs)

        if self.eval_results:
            try:
                self.eval_results = self._checked_eval_results()
            except RepoCardError:
                if not ignore_metadata_errors:
                    raise
                logger.warning("Invalid eval_results in the card metadata; not loaded")

    def _checked_eval_results(self) -> list[EvalResult]:
        results = self.eval_results
        if isinstance(results, EvalResult):
            results = [results]
        if not isinstance(results, list) or not all(isinstance(r, EvalResult) for r in results):
            raise RepoCardError(f"eval_results must be an EvalResult or a list of them; got {type(results).__name__}")
        if self.model_name is None:
            raise RepoCardError("eval_results needs model_name (the name shown in the model-index); set model_name=")
        return results

    def _to_dict(self, data: dict) -> None:
        if self.eval_results is not None:
            data["model-index"] = eval_results_to_model_index(self.model_name, self.eval_results)
            del data["eval_results"], data["model_name"]


class DatasetCardData(CardData):
    """Dataset card metadata (languages, license, task categories, size, ... plus any extra key
    such as `configs` and `dataset_info`, which push_to_hub writes).

    >>> DatasetCardData(license="mit", pretty_name="Toy").to_dict()
    {'license': 'mit', 'pretty_name': 'Toy'}
    """

    def __init__(self, *, language: str | list[str] | None = None, license: str | list[str] | None = None,
                 annotations_creators: str | list[str] | None = None,
                 language_creators: str | list[str] | None = None, multilinguality: str | list[str] | None = None,
                 size_categories: str | list[str] | None = None, source_datasets: list[str] | None = None,
                 task_categories: str | list[str] | None = None, task_ids: str | list[str] | None = None,
                 paperswithcode_id: str | None = None, pretty_name: str | None = None,
                 train_eval_index: dict | None = None, config_names: str | list[str] | None = None,
                 ignore_metadata_errors: bool = False, **kwargs: Any):
        # Attribute order is the YAML key order of a new card; it matches the reference's.
        self.annotations_creators = annotations_creators
        self.language_creators = language_creators
        self.language = language
        self.license = license
        self.multilinguality = multilinguality
        self.size_categories = size_categories
        self.source_datasets = source_datasets
        self.task_categories = task_categories
        self.task_ids = task_ids
        self.paperswithcode_id = paperswithcode_id
        self.pretty_name = pretty_name
        self.config_names = config_names
        self.train_eval_index = train_eval_index or kwargs.pop("train-eval-index", None)
        super().__init__(**kwargs)

    def _to_dict(self, data: dict) -> None:
        data["train-eval-index"] = data.pop("train_eval_index", None)


class SpaceCardData(CardData):
    """Space card metadata (title, sdk, app_file, ...).

    >>> SpaceCardData(title="Demo", sdk="gradio").to_dict()
    {'title': 'Demo', 'sdk': 'gradio'}
    """

    def __init__(self, *, title: str | None = None, sdk: str | None = None, sdk_version: str | None = None,
                 python_version: str | None = None, app_file: str | None = None, app_port: int | None = None,
                 license: str | None = None, duplicated_from: str | None = None, models: list[str] | None = None,
                 datasets: list[str] | None = None, tags: list[str] | None = None,
                 ignore_metadata_errors: bool = False, **kwargs: Any):
        self.title = title
        self.sdk = sdk
        self.sdk_version = sdk_version
        self.python_version = python_version
        self.app_file = app_file
        self.app_port = app_port
        self.license = license
        self.duplicated_from = duplicated_from
        self.models = models
        self.datasets = datasets
        self.tags = _unique_list(tags)
        super().__init__(**kwargs)
