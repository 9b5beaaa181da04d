"""load / combine / add / add_batch / compute, errors, glue configs, exact_match, and the import policy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import snuggle.metrics as metrics
from snuggle.errors import ConfigError, DataError
from tests.conftest import REPO


def test_load_and_names():
    acc = metrics.load("accuracy")
    assert isinstance(acc, metrics.EvaluationModule) and acc.name == "accuracy"
    assert metrics.Metric is metrics.EvaluationModule
    assert metrics.load("evaluate-metric/f1").name == "f1"
    names = metrics.list_metrics()
    for n in ("accuracy", "precision", "recall", "f1", "matthews_correlation", "pearsonr", "spearmanr", "glue", "squad",
              "squad_v2", "seqeval", "bleu", "sacrebleu", "rouge", "perplexity", "mse", "mae", "exact_match"):
        assert n in names
    assert metrics.list_evaluation_modules(with_details=True)[0]["type"] == "metric"


def test_unknown_metric_lists_builtins_and_refuses_scripts(tmp_path):
    with pytest.raises(ConfigError) as e:
        metrics.load("bertscore")
    msg = str(e.value)
    assert "accuracy" in msg and "rouge" in msg and "never downloads or executes" in msg
    script = tmp_path / "my_metric.py"
    script.write_text("raise SystemExit('executed!')\n")
    with pytest.raises(ConfigError, match="never downloads or executes"):
        metrics.load(str(script))


def test_add_add_batch_compute_accumulate():
    acc = metrics.load("accuracy")
    acc.add_batch(predictions=[0, 1], references=[0, 0])
    acc.add(prediction=1, reference=1)
    # compute() with inputs adds them to what is buffered (as evaluate does), then clears the buffer
    assert acc.compute(predictions=[1], references=[0]) == {"accuracy": 0.5}
    with pytest.raises(DataError, match="nothing to compute"):
        acc.compute()
    acc.add_batch(predictions=np.array([1, 1]), references=np.array([1, 1]))
    assert acc.compute() == {"accuracy": 1.0}


def test_length_mismatch_and_missing_inputs():
    with pytest.raises(DataError, match="3 predictions and 2 references"):
        metrics.load("accuracy").compute(predictions=[0, 1, 1], references=[0, 1])
    with pytest.raises(DataError, match="missing input"):
        metrics.load("accuracy").add_batch(predictions=[0, 1])
    with pytest.raises(DataError, match="nothing to compute"):
        metrics.load("f1").compute(predictions=[], references=[])
    with pytest.raises(TypeError, match="averag"):
        metrics.load("f1").compute(predictions=[0], references=[0], averag="macro")


def test_init_kwargs_become_defaults():
    f1 = metrics.load("f1", average="macro")
    preds, refs = [0, 1, 2, 2], [0, 1, 1, 2]
    assert f1.compute(predictions=preds, references=refs)["f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert f1.compute(predictions=preds, references=refs, average="micro")["f1"] == 0.75
    with pytest.raises(TypeError):
        metrics.load("accuracy", bogus=1)


def test_combine_prefixes_clashing_keys():
    clf = metrics.combine(["accuracy", "f1", "precision", "recall"])
    res = clf.compute(predictions=[0, 1, 0], references=[0, 1, 1])
    assert res == {"accuracy": pytest.approx(2 / 3), "f1": pytest.approx(2 / 3), "precision": 1.0, "recall": 0.5}
    both = metrics.combine([metrics.load("glue", "mrpc"), "accuracy"])
    res = both.compute(predictions=[0, 1], references=[0, 0])
    assert set(res) == {"glue_accuracy", "accuracy_accuracy", "f1"}
    twice = metrics.combine(["accuracy", "accuracy"])
    assert set(twice.compute(predictions=[0], references=[0])) == {"accuracy_0_accuracy", "accuracy_1_accuracy"}
    forced = metrics.combine(["accuracy"], force_prefix=True)
    assert forced.compute(predictions=[0], references=[0]) == {"accuracy_accuracy": 1.0}
    # options go to the metrics that take them; unknown options are an error
    clf = metrics.combine(["accuracy", "f1"])
    clf.add_batch(predictions=[0, 1, 2], references=[0, 2, 2])
    assert clf.compute(average="macro")["f1"] == pytest.approx(metrics.load("f1").compute(
        predictions=[0, 1, 2], references=[0, 2, 2], average="macro")["f1"])
    with pytest.raises(TypeError, match="none of the metrics"):
        clf.compute(predictions=[0], references=[0], avg="macro")


def test_glue_configs():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    refs = rng.integers(0, 2, 200)
    preds = np.where(rng.random(200) < 0.8, refs, 1 - refs)
    for task in ("sst2", "mnli", "mnli_mismatched", "mnli_matched", "qnli", "rte", "wnli", "hans"):
        assert metrics.load("glue", task).compute(predictions=preds, references=refs) == {
            "accuracy": pytest.approx(sk.accuracy_score(refs, preds), rel=1e-15)}
    for task in ("mrpc", "qqp"):
        assert metrics.load("glue", task).compute(predictions=preds, references=refs) == {
            "accuracy": pytest.approx(sk.accuracy_score(refs, preds), rel=1e-15),
            "f1": pytest.approx(sk.f1_score(refs, preds), rel=1e-12)}
    assert metrics.load("glue", "cola").compute(predictions=preds, references=refs) == {
        "matthews_correlation": pytest.approx(sk.matthews_corrcoef(refs, preds), rel=1e-12)}
    with pytest.raises(ConfigError, match="mrpc"):
        metrics.load("glue")
    with pytest.raises(ConfigError, match="expected one of"):
        metrics.load("glue", "sst-2")


def test_exact_match_options():
    em = metrics.load("exact_match")
    refs = ["The cat sat on the mat.", "Theaters are great.", "It's like comparing oranges and apples."]
    preds = ["The cat sat on the mat?", "Theaters are great.", "It's like comparing apples and oranges."]
    assert em.compute(predictions=preds, references=refs)["exact_match"] == pytest.approx(1 / 3)
    assert em.compute(predictions=preds, references=refs, ignore_punctuation=True)["exact_match"] == pytest.approx(2 / 3)
    res = em.compute(predictions=["cat 12", "DOG", "a b"], references=["the cat 3", "dog", "ab"],
                     regexes_to_ignore=["the "], ignore_numbers=True, ignore_case=True)
    assert res["exact_match"] == pytest.approx(2 / 3)  # "cat " == "cat ", "dog" == "dog", "a b" != "ab"
    assert em.compute(predictions=["", "a"], references=["", "a"])["exact_match"] == 1.0
    assert em.compute(predictions=["!"], references=["?"], ignore_punctuation=True)["exact_match"] == 0.0


_BLOCK = r"""
import importlib.abc, sys
BANNED = {"sklearn", "scipy", "sacrebleu", "rouge_score", "seqeval", "nltk", "evaluate", "transformers", "datasets"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BANNED:
            raise ImportError(f"forbidden import of {name!r}")
sys.meta_path.insert(0, Block())
import snuggle.metrics as m
assert "numpy" not in sys.modules, "import snuggle.metrics must stay cheap"
for mod in ["classification", "correlation", "regression", "glue", "squad", "seqeval", "bleu", "rouge", "porter",
            "exact_match", "perplexity", "base", "loading"]:
    __import__(f"snuggle.metrics.{mod}")
for name in m.list_metrics():
    if name != "perplexity":
        m.load(name, "mrpc" if name == "glue" else None)
print("ok")
"""


def test_metrics_never_import_the_oracle_libraries():
    proc = subprocess.run([sys.executable, "-c", _BLOCK], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


def test_the_import_blocker_itself_works():
    code = _BLOCK.replace("import snuggle.metrics as m\n", "import snuggle.metrics as m\nimport sklearn\n", 1)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode != 0 and "forbidden import" in proc.stderr
