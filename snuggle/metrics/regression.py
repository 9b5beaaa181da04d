"""Regression metrics: mse and mae (scikit-learn's mean_squared_error / mean_absolute_error).

Config "multilist" takes one vector per example; multioutput picks "uniform_average",
"raw_values" (one score per output) or an array of output weights.

>>> mean_squared_error([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
0.375
"""

from __future__ import annotations

import numpy as np

from snuggle.errors import DataError
from snuggle.metrics.base import EvaluationModule


def _prepare(y_true, y_pred, sample_weight):
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape[0] != y_pred.shape[0]:
        raise DataError(f"got {y_pred.shape[0]} predictions and {y_true.shape[0]} references; they must match")
    if y_true.ndim == 1:
        y_true = y_true[:, None]
    if y_pred.ndim == 1:
        y_pred = y_pred[:, None]
    if y_true.shape[1] != y_pred.shape[1]:
        raise DataError(f"predictions have {y_pred.shape[1]} outputs, references {y_true.shape[1]}")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.shape != (y_true.shape[0],):
            raise DataError(f"sample_weight has {sample_weight.size} entries for {y_true.shape[0]} examples")
    return y_true, y_pred, sample_weight


def _reduce(errors: np.ndarray, multioutput):
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return errors
        if multioutput == "uniform_average":
            return float(np.average(errors))
        raise DataError(f"multioutput={multioutput!r}; expected 'raw_values', 'uniform_average' or weights")
    weights = np.asarray(multioutput, dtype=np.float64)
    if weights.shape != errors.shape:
        raise DataError(f"multioutput weights have {weights.size} entries for {errors.size} outputs")
    return float(np.average(errors, weights=weights))


def mean_squared_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average", squared=True):
    """Mean of squared errors (root of it per output when squared=False)."""
    y_true, y_pred, w = _prepare(y_true, y_pred, sample_weight)
    errors = np.average((y_true - y_pred) ** 2, axis=0, weights=w)
    if not squared:
        errors = np.sqrt(errors)
    return _reduce(errors, multioutput)


def mean_absolute_error(y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"):
    """Mean of absolute errors."""
    y_true, y_pred, w = _prepare(y_true, y_pred, sample_weight)
    errors = np.average(np.abs(y_pred - y_true), axis=0, weights=w)
    return _reduce(errors, multioutput)


class Mse(EvaluationModule):
    """{'mse': mean squared error}."""

    name = "mse"
    description = "Mean squared error between predictions and references."
    config_names = ("default", "multilist")

    def _compute(self, predictions, references, sample_weight=None, multioutput="uniform_average", squared=True):
        return {"mse": mean_squared_error(references, predictions, sample_weight=sample_weight,
                                          multioutput=multioutput, squared=squared)}


class Mae(EvaluationModule):
    """{'mae': mean absolute error}."""

    name = "mae"
    description = "Mean absolute error between predictions and references."
    config_names = ("default", "multilist")

    def _compute(self, predictions, references, sample_weight=None, multioutput="uniform_average"):
        return {"mae": mean_absolute_error(references, predictions, sample_weight=sample_weight,
                                           multioutput=multioutput)}
