"""pearsonr / spearmanr (with p-values) against scipy.stats; mse / mae against scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

stats = pytest.importorskip("scipy.stats")
sklearn_metrics = pytest.importorskip("sklearn.metrics")

from snuggle.metrics import load
from snuggle.metrics.correlation import ConstantInputWarning, betainc


def _rel(a, b, rel=1e-9):
    assert a == pytest.approx(float(b), rel=rel, abs=1e-300)


@pytest.mark.parametrize("n", [3, 4, 7, 20, 150, 5000])
def test_pearsonr_with_pvalue(n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=n)
    y = 0.3 * x + rng.normal(size=n)
    res = load("pearsonr").compute(predictions=y, references=x, return_pvalue=True)
    ref = stats.pearsonr(x, y)
    _rel(res["pearsonr"], ref[0], 1e-12)
    _rel(res["p-value"], ref[1])
    assert load("pearsonr").compute(predictions=y, references=x) == {"pearsonr": pytest.approx(float(ref[0]), rel=1e-12)}


@pytest.mark.parametrize("n", [3, 5, 10, 64, 2000])
def test_spearmanr_with_ties_and_pvalue(n):
    rng = np.random.default_rng(7 + n)
    x = rng.integers(0, 6, n).astype(float)
    y = x + rng.integers(0, 4, n)
    if len(set(x)) == 1 or len(set(y)) == 1:
        x[0], y[0] = x[0] + 1, y[0] - 1
    res = load("spearmanr").compute(predictions=y, references=x, return_pvalue=True)
    ref = stats.spearmanr(x, y)
    _rel(res["spearmanr"], ref[0], 1e-12)
    if ref[1] > 1e-300:
        _rel(res["spearmanr_pvalue"], ref[1])


def test_correlation_edge_cases():
    with pytest.warns(ConstantInputWarning):
        assert np.isnan(load("pearsonr").compute(predictions=[1, 1, 1], references=[1, 2, 3])["pearsonr"])
    with pytest.warns(ConstantInputWarning):
        assert np.isnan(load("spearmanr").compute(predictions=[1, 2, 3], references=[4, 4, 4])["spearmanr"])
    r = load("pearsonr").compute(predictions=[2, 1], references=[1, 2], return_pvalue=True)
    assert (r["pearsonr"], r["p-value"]) == (-1.0, 1.0)
    with pytest.raises(ValueError, match="3 predictions and 2 references"):
        load("pearsonr").compute(predictions=[1, 2, 3], references=[1, 2])


def test_betainc_against_scipy():
    special = pytest.importorskip("scipy.special")
    rng = np.random.default_rng(0)
    for _ in range(300):
        a, b = rng.uniform(0.05, 400, 2)
        x = rng.random()
        _rel(betainc(a, b, x), special.betainc(a, b, x), 1e-10) if special.betainc(a, b, x) > 1e-280 else None


def test_glue_stsb_real_scale():
    rng = np.random.default_rng(1)
    labels = rng.uniform(0, 5, 1500).round(1)
    preds = labels + rng.normal(0, 1, 1500)
    res = load("glue", "stsb").compute(predictions=preds, references=labels)
    assert res == {"pearson": pytest.approx(float(stats.pearsonr(preds, labels)[0]), rel=1e-12),
                   "spearmanr": pytest.approx(float(stats.spearmanr(preds, labels)[0]), rel=1e-12)}


@pytest.mark.parametrize("seed", range(3))
def test_mse_mae(seed):
    rng = np.random.default_rng(seed)
    y, p, w = rng.normal(size=40), rng.normal(size=40), rng.random(40)
    for kw in ({}, {"sample_weight": w}):
        assert load("mse").compute(predictions=p, references=y, **kw)["mse"] == pytest.approx(
            sklearn_metrics.mean_squared_error(y, p, **kw), rel=1e-12)
        assert load("mae").compute(predictions=p, references=y, **kw)["mae"] == pytest.approx(
            sklearn_metrics.mean_absolute_error(y, p, **kw), rel=1e-12)
    assert load("mse").compute(predictions=p, references=y, squared=False)["mse"] == pytest.approx(
        sklearn_metrics.root_mean_squared_error(y, p), rel=1e-12)
    Y, P = rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
    mse = load("mse", "multilist")
    for mo in ("raw_values", "uniform_average", [0.2, 0.3, 0.5]):
        np.testing.assert_allclose(mse.compute(predictions=P, references=Y, multioutput=mo)["mse"],
                                   sklearn_metrics.mean_squared_error(Y, P, multioutput=mo), rtol=1e-12)
        np.testing.assert_allclose(load("mae", "multilist").compute(predictions=P, references=Y, multioutput=mo)["mae"],
                                   sklearn_metrics.mean_absolute_error(Y, P, multioutput=mo), rtol=1e-12)
