"""seqeval metric against the seqeval library on CoNLL-2003 tags and random corruptions of them."""

from __future__ import annotations

import random
import warnings

import pytest

seqeval_metrics = pytest.importorskip("seqeval.metrics")
seqeval_scheme = pytest.importorskip("seqeval.scheme")

from snuggle.errors import DataError
from snuggle.metrics import load


def _oracle(refs, preds, **kw):
    """evaluate's seqeval wrapper logic, on the seqeval library."""
    if kw.get("scheme") is not None:
        kw["scheme"] = getattr(seqeval_scheme, kw["scheme"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = seqeval_metrics.classification_report(y_true=refs, y_pred=preds, output_dict=True, **kw)
    report.pop("macro avg")
    report.pop("weighted avg")
    overall = report.pop("micro avg")
    out = {k: {"precision": v["precision"], "recall": v["recall"], "f1": v["f1-score"], "number": v["support"]}
           for k, v in report.items()}
    out.update(overall_precision=overall["precision"], overall_recall=overall["recall"],
               overall_f1=overall["f1-score"], overall_accuracy=seqeval_metrics.accuracy_score(refs, preds))
    return out


def _assert_same(ours, ref):
    assert set(ours) == set(ref)
    for k, v in ref.items():
        if isinstance(v, dict):
            for kk in v:
                assert ours[k][kk] == pytest.approx(float(v[kk]), abs=1e-12), (k, kk)
        else:
            assert ours[k] == pytest.approx(float(v), abs=1e-12), k


def _corrupt(sentences, rate, seed, tagset):
    rng = random.Random(seed)
    return [[rng.choice(tagset) if rng.random() < rate else t for t in s] for s in sentences]


def _compute(refs, preds, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load("seqeval").compute(predictions=preds, references=refs, **kw)


def test_conll_validation_default_mode(conll_tags):
    refs = conll_tags[:1500]
    tagset = sorted({t for s in refs for t in s})
    for seed, rate in ((0, 0.05), (1, 0.3)):
        preds = _corrupt(refs, rate, seed, tagset)
        _assert_same(_compute(refs, preds), _oracle(refs, preds))


def test_conll_strict_iob2(conll_tags):
    refs = conll_tags[:800]
    tagset = sorted({t for s in refs for t in s})
    preds = _corrupt(refs, 0.15, 3, tagset)
    _assert_same(_compute(refs, preds, mode="strict", scheme="IOB2"), _oracle(refs, preds, mode="strict", scheme="IOB2"))
    # scheme auto-detected in strict mode
    _assert_same(_compute(refs, preds, mode="strict"), _oracle(refs, preds, mode="strict"))


@pytest.mark.parametrize("scheme,prefixes", [("IOB1", "IOB"), ("IOB2", "IOB"), ("IOE1", "IOE"), ("IOE2", "IOE"),
                                             ("IOBES", "IOBES"), ("BILOU", "BILOU")])
def test_random_sequences_every_scheme(scheme, prefixes):
    rng = random.Random(hash(scheme) % 1000)
    tags = ["O"] + [f"{p}-{t}" for p in prefixes if p != "O" for t in ("PER", "LOC", "MISC")]
    refs = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(300)]
    preds = [[rng.choice(tags) if rng.random() < 0.4 else t for t in s] for s in refs]
    _assert_same(_compute(refs, preds), _oracle(refs, preds))
    _assert_same(_compute(refs, preds, mode="strict", scheme=scheme), _oracle(refs, preds, mode="strict", scheme=scheme))
    _assert_same(_compute(refs, preds, suffix=False, zero_division=1), _oracle(refs, preds, zero_division=1))


def test_suffix_tags_and_edge_cases():
    refs = [["PER-B", "PER-I", "O", "LOC-B"]]
    preds = [["PER-B", "PER-I", "O", "O"]]
    _assert_same(_compute(refs, preds, suffix=True), _oracle(refs, preds, suffix=True))
    res = _compute([["O", "O"]], [["O", "O"]])
    assert res["overall_f1"] == 0.0 and res["overall_accuracy"] == 1.0
    with pytest.raises(DataError, match="sentence 0 has 1 predicted tags and 2 reference tags"):
        load("seqeval").compute(predictions=[["O"]], references=[["O", "B-PER"]])
    with pytest.raises(DataError, match="scheme"):
        load("seqeval").compute(predictions=[["O"]], references=[["O"]], scheme="IOX")


def test_poseval_against_sklearn_report():
    sk = pytest.importorskip("sklearn.metrics")
    rng = random.Random(0)
    tags = ["NN", "VB", "DT", "JJ", "IN"]
    refs = [[rng.choice(tags) for _ in range(rng.randint(1, 9))] for _ in range(100)]
    preds = [[rng.choice(tags) if rng.random() < 0.3 else t for t in s] for s in refs]
    ours = load("poseval").compute(predictions=preds, references=refs)
    ref = sk.classification_report([t for s in refs for t in s], [t for s in preds for t in s], output_dict=True)
    assert set(ours) == set(ref)
    for k, v in ref.items():
        if isinstance(v, dict):
            for kk in v:
                assert ours[k][kk] == pytest.approx(float(v[kk]), abs=1e-12)
        else:
            assert ours[k] == pytest.approx(v, abs=1e-12)
