"""Evaluation metrics (the `evaluate` equivalent): `snuggle.metrics.load("accuracy")`.

All metrics are built in and computed with numpy (perplexity with torch); nothing is downloaded
and no metric script is executed. Importing this package is cheap: each metric family is
imported on first use.

>>> import snuggle.metrics as metrics
>>> metrics.load("f1").compute(predictions=[0, 1, 1], references=[0, 1, 0])
{'f1': 0.6666666666666666}
"""

from __future__ import annotations

from snuggle.utils.lazy import lazy_exports

_LAZY = {
    "load": "snuggle.metrics.loading",
    "combine": "snuggle.metrics.loading",
    "list_evaluation_modules": "snuggle.metrics.loading",
    "list_metrics": "snuggle.metrics.loading",
    "EvaluationModule": "snuggle.metrics.base",
    "Metric": "snuggle.metrics.base",
    "CombinedEvaluations": "snuggle.metrics.base",
    "UndefinedMetricWarning": "snuggle.metrics.classification",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports("snuggle.metrics", _LAZY, globals())
