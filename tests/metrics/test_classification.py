"""accuracy / precision / recall / f1 / matthews_correlation against scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

sklearn_metrics = pytest.importorskip("sklearn.metrics")

from snuggle.errors import DataError
from snuggle.metrics import load
from snuggle.metrics.classification import UndefinedMetricWarning

AVERAGES = ["binary", "micro", "macro", "weighted", None]


def _close(ours, ref):
    if np.ndim(ref) == 0:
        assert isinstance(ours, float)
        assert ours == pytest.approx(float(ref), rel=1e-12, abs=1e-12, nan_ok=True)
    else:
        np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(ref, dtype=float), rtol=1e-12, atol=1e-12)


def _sk(name, refs, preds, **kw):
    fn = {"precision": sklearn_metrics.precision_score, "recall": sklearn_metrics.recall_score,
          "f1": sklearn_metrics.f1_score}[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(refs, preds, **kw)


def _ours(name, refs, preds, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(name).compute(predictions=preds, references=refs, **kw)[name]


@pytest.mark.parametrize("seed", range(6))
def test_prf_random_binary_and_multiclass(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    k = int(rng.integers(2, 6))
    refs = rng.integers(0, k, n).tolist()
    preds = rng.integers(0, k, n).tolist()
    weights = rng.random(n).tolist()
    for name in ("precision", "recall", "f1"):
        for average in AVERAGES:
            for kw in ({}, {"sample_weight": weights}, {"zero_division": 1}, {"zero_division": 0}):
                try:
                    ref = _sk(name, refs, preds, average=average, **kw)
                except ValueError:
                    with pytest.raises(DataError):
                        _ours(name, refs, preds, average=average, **kw)
                    continue
                _close(_ours(name, refs, preds, average=average, **kw), ref)


def test_prf_labels_pos_label_and_strings():
    refs = ["cat", "dog", "pig", "cat", "dog", "pig", "cow"]
    preds = ["cat", "pig", "dog", "cat", "cat", "dog", "cat"]
    for name in ("precision", "recall", "f1"):
        for average in ("micro", "macro", "weighted", None):
            for labels in (None, ["pig", "dog"], ["cat", "bird"]):
                _close(_ours(name, refs, preds, average=average, labels=labels),
                       _sk(name, refs, preds, average=average, labels=labels))
        _close(_ours(name, ["a", "b", "b"], ["b", "b", "a"], pos_label="a"), _sk(name, ["a", "b", "b"], ["b", "b", "a"], pos_label="a"))
        _close(_ours(name, [0, 1, 1, 0], [1, 1, 0, 0], pos_label=0), _sk(name, [0, 1, 1, 0], [1, 1, 0, 0], pos_label=0))


def test_prf_zero_division_nan_and_warnings():
    refs, preds = [0, 0, 0], [0, 0, 0]
    for name in ("precision", "recall", "f1"):
        _close(_ours(name, refs, preds, zero_division=np.nan), _sk(name, refs, preds, zero_division=np.nan))
    with pytest.warns(UndefinedMetricWarning, match="Precision is ill-defined"):
        assert load("precision").compute(predictions=[0, 0], references=[1, 0])["precision"] == 0.0
    with pytest.warns(UndefinedMetricWarning, match="Recall is ill-defined"):
        load("recall").compute(predictions=[1, 0], references=[0, 0])
    with pytest.warns(UndefinedMetricWarning, match="F-score is ill-defined"):
        load("f1").compute(predictions=[0, 0], references=[0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load("precision").compute(predictions=[0, 0], references=[1, 0], zero_division=0)


def test_prf_multilabel():
    rng = np.random.default_rng(3)
    refs = rng.integers(0, 2, (30, 4))
    preds = rng.integers(0, 2, (30, 4))
    for name in ("precision", "recall", "f1"):
        for average in ("micro", "macro", "weighted", "samples", None):
            ours = _ours(name, refs.tolist(), preds.tolist(), average=average)
            _close(ours, _sk(name, refs, preds, average=average))
    m = load("accuracy", "multilabel")
    assert m.compute(predictions=preds, references=refs)["accuracy"] == pytest.approx(
        sklearn_metrics.accuracy_score(refs, preds), abs=1e-15)


def test_errors_name_the_problem():
    with pytest.raises(DataError, match="multiclass but average='binary'"):
        load("f1").compute(predictions=[0, 1, 2], references=[0, 1, 2])
    with pytest.raises(DataError, match="pos_label=2 is not a valid label"):
        load("precision").compute(predictions=[0, 1], references=[1, 0], pos_label=2)
    with pytest.raises(DataError, match="continuous"):
        load("accuracy").compute(predictions=[0.5, 1.0], references=[0, 1])
    with pytest.raises(DataError, match="average="):
        load("f1").compute(predictions=[0, 1], references=[0, 1], average="mean")


@pytest.mark.parametrize("seed", range(5))
def test_accuracy_and_mcc_random(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 80))
    refs = rng.integers(0, 4, n)
    preds = np.where(rng.random(n) < 0.6, refs, rng.integers(0, 4, n))
    w = rng.random(n)
    for kw in ({}, {"sample_weight": w}):
        for normalize in (True, False):
            ours = load("accuracy").compute(predictions=preds, references=refs, normalize=normalize, **kw)["accuracy"]
            assert ours == pytest.approx(sklearn_metrics.accuracy_score(refs, preds, normalize=normalize, **kw), rel=1e-12)
        ours = load("matthews_correlation").compute(predictions=preds, references=refs, **kw)["matthews_correlation"]
        assert ours == pytest.approx(sklearn_metrics.matthews_corrcoef(refs, preds, **kw), rel=1e-12, abs=1e-15)
    # degenerate: one class only -> 0.0, as sklearn
    assert load("matthews_correlation").compute(predictions=[1, 1], references=[1, 1])["matthews_correlation"] == 0.0


def test_sst2_dev_labels(sst2_labels):
    refs = np.asarray(sst2_labels)
    rng = np.random.default_rng(0)
    preds = np.where(rng.random(len(refs)) < 0.88, refs, 1 - refs)
    for name in ("precision", "recall", "f1"):
        for average in AVERAGES:
            _close(_ours(name, refs, preds, average=average), _sk(name, refs, preds, average=average))
    assert load("accuracy").compute(predictions=preds, references=refs)["accuracy"] == pytest.approx(
        sklearn_metrics.accuracy_score(refs, preds), rel=1e-15)
