"""`load(name)` / `combine([...])` / `list_evaluation_modules()`: the evaluate entry points.

Every metric is built in and implemented here; nothing is downloaded and no metric script is
ever executed (evaluate fetches and runs Python files from the Hub, snuggle refuses to).

>>> load("accuracy").compute(predictions=[1, 0], references=[1, 1])
{'accuracy': 0.5}
>>> "glue" in list_metrics()
True
"""

from __future__ import annotations

import importlib
import os

from snuggle.errors import ConfigError

# metric name -> (module, class); modules are imported on first load() only.
_REGISTRY: dict[str, tuple[str, str]] = {
    "accuracy": ("snuggle.metrics.classification", "Accuracy"),
    "precision": ("snuggle.metrics.classification", "Precision"),
    "recall": ("snuggle.metrics.classification", "Recall"),
    "f1": ("snuggle.metrics.classification", "F1"),
    "matthews_correlation": ("snuggle.metrics.classification", "MatthewsCorrelation"),
    "pearsonr": ("snuggle.metrics.correlation", "Pearsonr"),
    "spearmanr": ("snuggle.metrics.correlation", "Spearmanr"),
    "mse": ("snuggle.metrics.regression", "Mse"),
    "mae": ("snuggle.metrics.regression", "Mae"),
    "glue": ("snuggle.metrics.glue", "Glue"),
    "squad": ("snuggle.metrics.squad", "Squad"),
    "squad_v2": ("snuggle.metrics.squad", "SquadV2"),
    "seqeval": ("snuggle.metrics.seqeval", "Seqeval"),
    "poseval": ("snuggle.metrics.seqeval", "Poseval"),
    "bleu": ("snuggle.metrics.bleu", "Bleu"),
    "sacrebleu": ("snuggle.metrics.bleu", "Sacrebleu"),
    "rouge": ("snuggle.metrics.rouge", "Rouge"),
    "exact_match": ("snuggle.metrics.exact_match", "ExactMatch"),
    "perplexity": ("snuggle.metrics.perplexity", "Perplexity"),
}

# Arguments of evaluate.load that only steer its download/cache machinery: accepted and ignored.
_IGNORED_LOAD_ARGS = {"cache_dir", "experiment_id", "keep_in_memory", "download_config", "download_mode",
                      "revision", "trust_remote_code", "storage_options", "hash", "seed", "timeout"}


def _normalise(path: str) -> str:
    name = path.strip().rstrip("/")
    for prefix in ("evaluate-metric/", "metrics/", "metric/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    if name.endswith(".py"):
        name = os.path.basename(name)[:-3]
    return name.lower().replace("-", "_")


def load(path: str, config_name: str | None = None, module_type: str | None = None,
         process_id: int = 0, num_process: int = 1, **init_kwargs):
    """A built-in metric by name (as `evaluate.load`); options become compute() defaults.

    >>> load("glue", "mrpc").compute(predictions=[0, 1], references=[0, 1])
    {'accuracy': 1.0, 'f1': 1.0}
    """
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"load(): path must be a metric name such as 'accuracy', got {path!r}")
    if module_type not in (None, "metric"):
        raise ConfigError(f"load({path!r}): module_type={module_type!r}; snuggle only ships metrics (module_type='metric')")
    if num_process != 1 or process_id != 0:
        raise ConfigError(
            f"load({path!r}): num_process={num_process}, process_id={process_id}; snuggle metrics keep their buffer in "
            "memory: gather predictions on one process (Accelerator.gather_for_metrics) and compute there"
        )
    for k in list(init_kwargs):
        if k in _IGNORED_LOAD_ARGS:
            init_kwargs.pop(k)
    name = _normalise(path)
    entry = _REGISTRY.get(name)
    if entry is None:
        where = " (a local script)" if os.path.exists(path) else ""
        raise ConfigError(
            f"load({path!r}){where}: unknown metric. Built-in metrics: {', '.join(sorted(_REGISTRY))}. "
            "snuggle never downloads or executes metric scripts; write a small function instead "
            "(compute_metrics=...) or subclass snuggle.metrics.EvaluationModule."
        )
    module, cls_name = entry
    cls = getattr(importlib.import_module(module), cls_name)
    return cls(config_name=config_name, **init_kwargs)


def combine(evaluations, force_prefix: bool = False):
    """Several metrics computed together (`evaluate.combine`); names or metric objects, list or dict.

    >>> combine(["accuracy", "recall"]).compute(predictions=[1, 1], references=[1, 0])
    {'accuracy': 0.5, 'recall': 1.0}
    """
    from snuggle.metrics.base import CombinedEvaluations

    return CombinedEvaluations(evaluations, force_prefix=force_prefix)


def list_evaluation_modules(module_type: str | None = None, include_community: bool = True, with_details: bool = False):
    """Names of the built-in metrics (there are no community modules: nothing is fetched)."""
    if module_type not in (None, "metric"):
        return []
    names = sorted(_REGISTRY)
    if with_details:
        return [{"name": n, "type": "metric", "community": False} for n in names]
    return names


def list_metrics() -> list[str]:
    """Names of the built-in metrics."""
    return list_evaluation_modules()
