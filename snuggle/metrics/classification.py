"""Classification metrics: accuracy, precision, recall, f1, matthews_correlation.

Same numbers, options and zero-division behaviour as scikit-learn (which evaluate's metric
scripts wrap), written with numpy: per-label true-positive / predicted / true counts, then
division with `zero_division` ("warn" -> 0.0 plus an UndefinedMetricWarning, 0, 1 or nan).

>>> precision_recall_fscore([0, 1, 1, 0], [0, 1, 0, 0], average="binary")
(1.0, 0.5, 0.6666666666666666)
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from snuggle.errors import DataError
from snuggle.metrics.base import EvaluationModule

AVERAGES = (None, "micro", "macro", "weighted", "samples", "binary")


class UndefinedMetricWarning(UserWarning):
    """A score is ill-defined (e.g. precision with no predicted positives) and was set by `zero_division`."""


# ---------------------------------------------------------------------------- target checks
def _target_type(y: np.ndarray, name: str) -> str:
    if y.ndim == 2 and y.shape[1] > 1:
        if y.dtype.kind in "biuf" and np.isin(y, (0, 1)).all():
            return "multilabel-indicator"
        raise DataError(f"{name}: 2-D input that is not a 0/1 label-indicator matrix is not supported")
    if y.ndim > 2:
        raise DataError(f"{name}: expected a 1-D list of labels, got shape {y.shape}")
    if y.dtype.kind == "f" and np.any(y != np.round(y)):
        return "continuous"
    return "binary" if len(np.unique(y)) <= 2 else "multiclass"


def check_targets(y_true, y_pred, sample_weight=None) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, Any]:
    """(type, sorted labels present, y_true, y_pred, sample_weight) with sklearn's checks."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred):
        raise DataError(f"got {len(y_pred)} predictions and {len(y_true)} references; they must have the same length")
    if len(y_true) == 0:
        raise DataError("got empty predictions/references; at least one example is required")
    if y_true.ndim == 2 and y_true.shape[1] == 1:
        y_true = y_true[:, 0]
    if y_pred.ndim == 2 and y_pred.shape[1] == 1:
        y_pred = y_pred[:, 0]
    types = {_target_type(y_true, "references"), _target_type(y_pred, "predictions")}
    if types == {"binary", "multiclass"}:
        types = {"multiclass"}
    if len(types) > 1:
        a, b = _target_type(y_true, "references"), _target_type(y_pred, "predictions")
        raise DataError(f"classification metrics can't handle a mix of {a} (references) and {b} (predictions) targets")
    y_type = types.pop()
    if y_type == "continuous":
        raise DataError("classification metrics need discrete labels; got continuous (non-integer float) values")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.shape != (len(y_true),):
            raise DataError(f"sample_weight has {sample_weight.size} entries for {len(y_true)} examples")
    if y_type == "multilabel-indicator":
        if y_true.shape[1] != y_pred.shape[1]:
            raise DataError(f"multilabel targets with {y_true.shape[1]} and {y_pred.shape[1]} columns")
        return y_type, np.arange(y_true.shape[1]), y_true.astype(np.int64), y_pred.astype(np.int64), sample_weight
    if (y_true.dtype.kind in "US") != (y_pred.dtype.kind in "US"):
        raise DataError("mix of string and number labels in predictions/references")
    labels = np.unique(np.concatenate([y_true, y_pred]))
    if y_type == "binary" and len(labels) > 2:
        y_type = "multiclass"
    return y_type, labels, y_true, y_pred, sample_weight


# ---------------------------------------------------------------------------- precision / recall / F
def _resolve_labels(y_type, present, average, labels, pos_label):
    if average not in AVERAGES:
        raise DataError(f"average={average!r}; expected one of {list(AVERAGES)}")
    if average == "binary":
        if y_type == "binary":
            if pos_label not in present.tolist() and len(present) >= 2:
                raise DataError(f"pos_label={pos_label!r} is not a valid label; it should be one of {present.tolist()}")
            return [pos_label]
        options = [a for a in AVERAGES if a != "binary" and not (y_type == "multiclass" and a == "samples")]
        raise DataError(f"target is {y_type} but average='binary'; choose another average, one of {options}")
    if pos_label not in (None, 1):
        warnings.warn(
            f"pos_label (set to {pos_label!r}) is ignored when average != 'binary' (got {average!r}); "
            "use labels=[pos_label] to score a single class",
            UserWarning,
            stacklevel=4,
        )
    return labels


def _label_counts(y_type, present, y_true, y_pred, sample_weight, labels, samplewise):
    """Per-label (tp, predicted, true) sums; `labels` first, in the given order."""
    if labels is None:
        all_labels, n_labels = present, None
    else:
        given = np.asarray(labels)
        n_labels = len(given)
        extra = np.setdiff1d(present, given) if y_type != "multilabel-indicator" else np.array([], dtype=present.dtype)
        all_labels = np.concatenate([given, extra]) if len(extra) else given
    if y_true.ndim == 1:
        if samplewise:
            raise DataError("average='samples' needs multilabel (0/1 indicator matrix) targets")
        sorted_labels = np.unique(all_labels)
        missing = np.setdiff1d(np.concatenate([y_true, y_pred]), sorted_labels)
        if len(missing):
            raise DataError(f"labels {missing.tolist()} are not in labels={list(all_labels)}")
        t = np.searchsorted(sorted_labels, y_true)
        p = np.searchsorted(sorted_labels, y_pred)
        hit = t == p
        w = sample_weight
        k = len(sorted_labels)
        tp = np.bincount(t[hit], weights=None if w is None else w[hit], minlength=k)
        pred = np.bincount(p, weights=w, minlength=k)
        true = np.bincount(t, weights=w, minlength=k)
        idx = np.searchsorted(sorted_labels, all_labels[:n_labels])
        return tp[idx], pred[idx], true[idx]
    # multilabel indicator: columns are the labels
    cols = np.asarray(all_labels[:n_labels], dtype=np.int64)
    if cols.size and (cols.max() >= y_true.shape[1] or cols.min() < 0):
        raise DataError(f"labels {cols.tolist()} out of range for {y_true.shape[1]} indicator columns")
    yt, yp = y_true[:, cols], y_pred[:, cols]
    both = yt & yp
    axis = 1 if samplewise else 0
    if sample_weight is not None and not samplewise:
        w = sample_weight[:, None]
        return (both * w).sum(axis), (yp * w).sum(axis), (yt * w).sum(axis)
    return both.sum(axis), yp.sum(axis), yt.sum(axis)


def _zero_division_value(zero_division) -> float:
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return 0.0
        raise DataError(f"zero_division={zero_division!r}; expected 'warn', 0, 1 or nan")
    if zero_division in (0, 1):
        return float(zero_division)
    if isinstance(zero_division, float) and math.isnan(zero_division):
        return float("nan")
    raise DataError(f"zero_division={zero_division!r}; expected 'warn', 0, 1 or nan")


def _divide(num, den, metric, modifier, average, warn_for, zero_division):
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    mask = den == 0
    result = num / np.where(mask, 1.0, den)
    if not mask.any():
        return result
    result[mask] = _zero_division_value(zero_division)
    if zero_division == "warn" and metric in warn_for:
        axis0, axis1 = ("label", "sample") if average == "samples" else ("sample", "label")
        where = "due to" if result.shape[0] == 1 else f"in {axis1}s with"
        warnings.warn(
            f"{metric.capitalize()} is ill-defined and being set to 0.0 {where} no {modifier} {axis0}s. "
            "Use `zero_division` parameter to control this behavior.",
            UndefinedMetricWarning,
            stacklevel=5,
        )
    return result


def _nan_average(values: np.ndarray, weights=None) -> float:
    if values.shape[0] == 0:
        return float("nan")
    mask = np.isnan(values)
    if mask.all():
        return float("nan")
    if weights is None:
        return float(np.mean(values[~mask]))
    weights = np.asarray(weights, dtype=np.float64)[~mask]
    values = values[~mask]
    if weights.sum() == 0:
        return float(np.mean(values))
    return float(np.average(values, weights=weights))


def precision_recall_fscore(
    references, predictions, *, beta=1.0, labels=None, pos_label=1, average="binary",
    sample_weight=None, zero_division="warn", warn_for=("precision", "recall", "f-score"),
):
    """(precision, recall, f-beta) as sklearn's precision_recall_fscore_support (support dropped).

    Floats when `average` is set, arrays per label when average=None.
    """
    _zero_division_value(zero_division)
    y_type, present, y_true, y_pred, sample_weight = check_targets(references, predictions, sample_weight)
    labels = _resolve_labels(y_type, present, average, labels, pos_label)
    samplewise = average == "samples"
    tp, pred, true = _label_counts(y_type, present, y_true, y_pred, sample_weight, labels, samplewise)
    if average == "micro":
        tp, pred, true = np.array([tp.sum()]), np.array([pred.sum()]), np.array([true.sum()])
    precision = _divide(tp, pred, "precision", "predicted", average, warn_for, zero_division)
    recall = _divide(tp, true, "recall", "true", average, warn_for, zero_division)
    beta2 = beta**2
    if math.isinf(beta):
        f_score = recall
    elif beta == 0:
        f_score = precision
    else:
        denom = beta2 * np.asarray(true, dtype=np.float64) + np.asarray(pred, dtype=np.float64)
        f_score = _divide((1 + beta2) * np.asarray(tp, dtype=np.float64), denom, "f-score", "true nor predicted",
                          average, warn_for, zero_division)
    if average is None:
        return precision, recall, f_score
    weights = true if average == "weighted" else (sample_weight if samplewise else None)
    return _nan_average(precision, weights), _nan_average(recall, weights), _nan_average(f_score, weights)


def accuracy_score(references, predictions, *, normalize=True, sample_weight=None) -> float:
    """Fraction (or weighted count when normalize=False) of exact matches; multilabel rows must match whole."""
    y_type, _, y_true, y_pred, sample_weight = check_targets(references, predictions, sample_weight)
    if y_type == "multilabel-indicator":
        score = (y_true != y_pred).sum(axis=1) == 0
    else:
        score = y_true == y_pred
    if normalize:
        return float(np.average(score, weights=sample_weight))
    if sample_weight is not None:
        return float(np.dot(score, sample_weight))
    return float(score.sum())


def matthews_corrcoef(references, predictions, *, sample_weight=None) -> float:
    """Matthews correlation (multiclass R_K statistic) from the confusion matrix, 0.0 when undefined."""
    y_type, labels, y_true, y_pred, sample_weight = check_targets(references, predictions, sample_weight)
    if y_type not in ("binary", "multiclass"):
        raise DataError(f"matthews_correlation: {y_type} targets are not supported")
    k = len(labels)
    t = np.searchsorted(labels, y_true)
    p = np.searchsorted(labels, y_pred)
    w = np.ones(len(t)) if sample_weight is None else sample_weight
    confusion = np.zeros((k, k), dtype=np.float64)
    np.add.at(confusion, (t, p), w)
    t_sum = confusion.sum(axis=1)
    p_sum = confusion.sum(axis=0)
    n_correct = np.trace(confusion)
    n = p_sum.sum()
    cov_ytyp = n_correct * n - np.dot(t_sum, p_sum)
    cov_ypyp = n**2 - np.dot(p_sum, p_sum)
    cov_ytyt = n**2 - np.dot(t_sum, t_sum)
    denom = cov_ypyp * cov_ytyt
    return 0.0 if denom == 0 else float(cov_ytyp / np.sqrt(denom))


# ---------------------------------------------------------------------------- metric modules
def _as_output(score):
    return float(score) if np.size(score) == 1 else score


class Accuracy(EvaluationModule):
    """{'accuracy': fraction of predictions equal to their reference}."""

    name = "accuracy"
    description = "Proportion of correct predictions among all predictions."
    config_names = ("default", "multilabel")

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        return {"accuracy": accuracy_score(references, predictions, normalize=normalize, sample_weight=sample_weight)}


class _SetWise(EvaluationModule):
    config_names = ("default", "multilabel")
    _key = ""
    _warn_for: tuple[str, ...] = ()

    def _compute(self, predictions, references, labels=None, pos_label=1, average="binary", sample_weight=None,
                 zero_division="warn"):
        p, r, f = precision_recall_fscore(
            references, predictions, labels=labels, pos_label=pos_label, average=average,
            sample_weight=sample_weight, zero_division=zero_division, warn_for=self._warn_for,
        )
        return {self._key: _as_output({"precision": p, "recall": r, "f1": f}[self._key])}


class Precision(_SetWise):
    """{'precision': tp / (tp + fp)} (binary for pos_label, or averaged over labels)."""

    name = "precision"
    description = "Fraction of positive predictions that are correct: tp / (tp + fp)."
    _key = "precision"
    _warn_for = ("precision",)


class Recall(_SetWise):
    """{'recall': tp / (tp + fn)}."""

    name = "recall"
    description = "Fraction of positive references that were predicted: tp / (tp + fn)."
    _key = "recall"
    _warn_for = ("recall",)


class F1(_SetWise):
    """{'f1': harmonic mean of precision and recall}."""

    name = "f1"
    description = "Harmonic mean of precision and recall: 2 * P * R / (P + R)."
    _key = "f1"
    _warn_for = ("f-score",)


class MatthewsCorrelation(EvaluationModule):
    """{'matthews_correlation': MCC in [-1, 1]}."""

    name = "matthews_correlation"
    description = "Matthews correlation coefficient between predicted and reference classes."

    def _compute(self, predictions, references, sample_weight=None):
        return {"matthews_correlation": matthews_corrcoef(references, predictions, sample_weight=sample_weight)}
