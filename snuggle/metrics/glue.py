"""The GLUE benchmark metric: one config per task, returning the keys evaluate's glue returns.

cola -> matthews_correlation; stsb -> pearson, spearmanr; mrpc, qqp -> accuracy, f1;
sst2, mnli, mnli_matched, mnli_mismatched, qnli, rte, wnli, hans -> accuracy.

>>> from snuggle.metrics import load
>>> load("glue", "sst2").compute(predictions=[0, 1, 1], references=[0, 1, 0])
{'accuracy': 0.6666666666666666}
"""

from __future__ import annotations

import numpy as np

from snuggle.errors import ConfigError
from snuggle.metrics.base import EvaluationModule
from snuggle.metrics.classification import matthews_corrcoef, precision_recall_fscore
from snuggle.metrics.correlation import pearsonr, spearmanr

GLUE_CONFIGS = ("sst2", "mnli", "mnli_mismatched", "mnli_matched", "cola", "stsb", "mrpc", "qqp", "qnli", "rte",
                "wnli", "hans")


def _accuracy(preds: np.ndarray, labels: np.ndarray) -> float:
    return float((preds == labels).mean())


class Glue(EvaluationModule):
    """GLUE task metrics; pick the task with load("glue", "<task>")."""

    name = "glue"
    description = "GLUE benchmark metrics (accuracy, F1, Matthews and Pearson/Spearman correlations per task)."
    config_names = GLUE_CONFIGS

    def __init__(self, config_name: str | None = None, **init_kwargs):
        if config_name is None:
            raise ConfigError(f"load('glue') needs a configuration name (the task), one of {list(GLUE_CONFIGS)}, "
                              "e.g. load('glue', 'mrpc')")
        super().__init__(config_name, **init_kwargs)

    def _compute(self, predictions, references):
        preds, labels = np.asarray(predictions), np.asarray(references)
        task = self.config_name
        if task == "cola":
            return {"matthews_correlation": matthews_corrcoef(labels, preds)}
        if task == "stsb":
            return {"pearson": float(pearsonr(preds, labels)[0]), "spearmanr": float(spearmanr(preds, labels)[0])}
        if task in ("mrpc", "qqp"):
            f1 = precision_recall_fscore(labels, preds, average="binary", warn_for=("f-score",))[2]
            return {"accuracy": _accuracy(preds, labels), "f1": float(f1)}
        return {"accuracy": _accuracy(preds, labels)}
