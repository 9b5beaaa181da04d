"""The metric object: accumulate predictions/references with add / add_batch, then compute().

This mirrors `evaluate.EvaluationModule` / `evaluate.Metric` without its Arrow cache files and
distributed file locks: the buffer lives in memory (gather across processes with
`Accelerator.gather_for_metrics` before adding). A subclass declares its `input_names` and
implements `_compute(predictions, references, **kwargs) -> dict`; options given to
`snuggle.metrics.load(name, **init_kwargs)` become defaults for every compute() call.

>>> from snuggle.metrics import load
>>> acc = load("accuracy")
>>> acc.add_batch(predictions=[0, 1], references=[0, 0])
>>> acc.add(prediction=1, reference=1)
>>> acc.compute()
{'accuracy': 0.6666666666666666}
"""

from __future__ import annotations

import collections
import inspect
import itertools
from typing import Any

from snuggle.errors import ConfigError, DataError


class EvaluationModule:
    """Base class of every built-in metric (the `evaluate.EvaluationModule` equivalent)."""

    name: str = "evaluation_module"
    module_type: str = "metric"
    description: str = ""
    # Column names fed by add/add_batch/compute; perplexity only takes "predictions".
    input_names: tuple[str, ...] = ("predictions", "references")
    # Allowed config names (None: any config name is refused except None/"default").
    config_names: tuple[str, ...] | None = None

    def __init__(self, config_name: str | None = None, **init_kwargs: Any):
        if self.config_names is not None:
            if config_name is None:
                config_name = self.config_names[0] if self.config_names else "default"
            if config_name not in self.config_names:
                raise ConfigError(
                    f"metric {self.name!r}: config_name {config_name!r} is unknown; "
                    f"expected one of {list(self.config_names)}"
                )
        self.config_name = config_name or "default"
        self._check_kwargs(init_kwargs, where="load")
        self.init_kwargs = dict(init_kwargs)
        self._buffer: dict[str, list] = {k: [] for k in self.input_names}

    # ------------------------------------------------------------------ introspection
    def __repr__(self) -> str:
        return f'EvaluationModule(name: "{self.name}", module_type: "{self.module_type}", config: "{self.config_name}")'

    @property
    def features(self) -> list[str]:
        """The input column names (evaluate exposes datasets.Features here)."""
        return list(self.input_names)

    @classmethod
    def _accepted_kwargs(cls) -> tuple[set[str], bool]:
        """(named keyword options of _compute, whether it takes **kwargs)."""
        params = inspect.signature(cls._compute).parameters
        names = {n for n, p in params.items() if n != "self" and n not in cls.input_names}
        var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        names = {n for n in names if params[n].kind is not inspect.Parameter.VAR_KEYWORD}
        return names, var_kw

    @classmethod
    def _check_kwargs(cls, kwargs: dict, where: str) -> None:
        names, var_kw = cls._accepted_kwargs()
        unknown = [k for k in kwargs if k not in names]
        if unknown and not var_kw:
            raise TypeError(
                f"metric {cls.name!r}: {where}() got unexpected option(s) {unknown}; "
                f"accepted options: {sorted(names) or 'none'}"
            )

    # ------------------------------------------------------------------ accumulation
    def _check_batch(self, batch: dict[str, Any]) -> dict[str, list]:
        missing = [k for k in self.input_names if batch.get(k) is None]
        if missing:
            raise DataError(
                f"metric {self.name!r}: missing input(s) {missing}; pass "
                + ", ".join(f"{k}=..." for k in self.input_names)
            )
        columns = {k: _as_list(batch[k], k, self.name) for k in self.input_names}
        lengths = {k: len(v) for k, v in columns.items()}
        if len(set(lengths.values())) > 1:
            detail = " and ".join(f"{len(v)} {k}" for k, v in columns.items())
            raise DataError(
                f"metric {self.name!r}: mismatch in the number of inputs: {detail}; "
                "every prediction needs exactly one reference (entry)"
            )
        return columns

    def add_batch(self, *, predictions=None, references=None, **kwargs: Any) -> None:
        """Buffer a batch of predictions and references for a later compute()."""
        batch = {"predictions": predictions, "references": references, **kwargs}
        extra = [k for k, v in batch.items() if k not in self.input_names and v is not None]
        if extra:
            raise DataError(f"metric {self.name!r}: add_batch() got unexpected input(s) {extra}; inputs are {list(self.input_names)}")
        for k, v in self._check_batch(batch).items():
            self._buffer[k].extend(v)

    def add(self, *, prediction=None, reference=None, **kwargs: Any) -> None:
        """Buffer one prediction and its reference."""
        single = {"predictions": prediction, "references": reference}
        batch = {k: ([single[k]] if single.get(k) is not None else None) for k in self.input_names}
        for k, v in kwargs.items():
            batch[k] = [v] if v is not None else None
        self.add_batch(**batch)

    def compute(self, *, predictions=None, references=None, **kwargs: Any) -> dict | None:
        """Compute the metric over everything added so far plus the given batch, then clear the buffer.

        Options (average=..., return_pvalue=...) override those given to load().
        """
        inputs = {"predictions": predictions, "references": references}
        options = {k: v for k, v in kwargs.items() if k not in self.input_names}
        for k in self.input_names:
            if k in kwargs:
                inputs[k] = kwargs[k]
        given = {k: v for k, v in inputs.items() if v is not None and k in self.input_names}
        stray = [k for k, v in inputs.items() if v is not None and k not in self.input_names]
        if stray:
            raise DataError(f"metric {self.name!r}: compute() got unexpected input(s) {stray}; inputs are {list(self.input_names)}")
        if given:
            self.add_batch(**{k: inputs.get(k) for k in self.input_names})
        self._check_kwargs(options, where="compute")
        data = self._buffer
        self._buffer = {k: [] for k in self.input_names}
        if not data[self.input_names[0]]:
            raise DataError(
                f"metric {self.name!r}: nothing to compute: no {self.input_names[0]} were given; "
                "pass predictions=/references= to compute() or call add_batch() first"
            )
        merged = {**self.init_kwargs, **options}
        return self._compute(**data, **merged)

    def _compute(self, predictions, references, **kwargs) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError


Metric = EvaluationModule  # evaluate.Metric is the metric flavour of EvaluationModule


def _as_list(values: Any, name: str, metric: str) -> list:
    """Inputs may be lists, tuples, numpy arrays or torch tensors; keep rows as python objects."""
    if isinstance(values, (str, bytes, dict)):
        raise DataError(f"metric {metric!r}: {name} must be a list (one entry per example), got a {type(values).__name__}")
    if hasattr(values, "tolist") and not isinstance(values, list):
        # numpy arrays / torch tensors: tolist() keeps python scalars (and nested rows)
        values = values.tolist()
    try:
        return list(values)
    except TypeError:
        raise DataError(f"metric {metric!r}: {name} must be a list, got {type(values).__name__}") from None


class CombinedEvaluations:
    """Several metrics behind one compute/add/add_batch (the result of `combine`).

    >>> from snuggle.metrics import combine
    >>> clf = combine(["accuracy", "f1"])
    >>> clf.compute(predictions=[0, 1, 1], references=[0, 1, 0])
    {'accuracy': 0.6666666666666666, 'f1': 0.6666666666666666}
    """

    def __init__(self, evaluation_modules, force_prefix: bool = False):
        from snuggle.metrics.loading import load

        if isinstance(evaluation_modules, dict):
            names = list(evaluation_modules)
            modules = list(evaluation_modules.values())
        else:
            modules = list(evaluation_modules)
            names = None
        if not modules:
            raise ConfigError("combine(): got no metrics; pass a list of names or metric objects, e.g. ['accuracy', 'f1']")
        self.evaluation_modules = [load(m) if isinstance(m, str) else m for m in modules]
        for m in self.evaluation_modules:
            if not isinstance(m, (EvaluationModule, CombinedEvaluations)):
                raise ConfigError(f"combine(): {m!r} is neither a metric name nor a metric object")
        self.evaluation_module_names = names or [m.name for m in self.evaluation_modules]
        self.force_prefix = force_prefix

    def __repr__(self) -> str:
        return f"CombinedEvaluations({self.evaluation_module_names})"

    def _options_for(self, module, kwargs: dict) -> dict:
        names, var_kw = module._accepted_kwargs()
        return {k: v for k, v in kwargs.items() if var_kw or k in names}

    def _check_options(self, kwargs: dict) -> None:
        # an option no module understands is a typo: say so instead of dropping it silently
        for k in kwargs:
            if not any(k in m._accepted_kwargs()[0] or m._accepted_kwargs()[1] for m in self.evaluation_modules):
                raise TypeError(f"combine({self.evaluation_module_names}): option {k!r} is accepted by none of the metrics")

    def add(self, *, prediction=None, reference=None, **kwargs) -> None:
        for m in self.evaluation_modules:
            m.add(prediction=prediction, reference=reference, **kwargs)

    def add_batch(self, *, predictions=None, references=None, **kwargs) -> None:
        for m in self.evaluation_modules:
            m.add_batch(predictions=predictions, references=references, **kwargs)

    def compute(self, *, predictions=None, references=None, **kwargs) -> dict:
        self._check_options(kwargs)
        results = [
            m.compute(predictions=predictions, references=references, **self._options_for(m, kwargs))
            for m in self.evaluation_modules
        ]
        return self._merge_results(results)

    def _merge_results(self, results: list[dict]) -> dict:
        """Keys unique across metrics stay bare; clashing keys get '<metric>_' (and '<metric>_<i>_'
        when the same metric appears twice), as evaluate does."""
        merged: dict[str, Any] = {}
        keys = list(itertools.chain.from_iterable(r.keys() for r in results))
        duplicate_keys = {k for k, c in collections.Counter(keys).items() if c > 1}
        duplicate_names = [n for n, c in collections.Counter(self.evaluation_module_names).items() if c > 1]
        seen = {n: 0 for n in duplicate_names}
        for name, result in zip(self.evaluation_module_names, results):
            for k, v in result.items():
                if k not in duplicate_keys and not self.force_prefix:
                    merged[k] = v
                elif name in seen:
                    merged[f"{name}_{seen[name]}_{k}"] = v
                else:
                    merged[f"{name}_{k}"] = v
            if name in seen:
                seen[name] += 1
        return merged
