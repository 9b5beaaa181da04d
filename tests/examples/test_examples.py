"""Each example script runs end to end for a few steps on a small sample, in a subprocess as a user would
run it, and leaves its outputs behind: results.json with metrics in range, the final model folder, the
checkpoints and the JSON-lines log. The full SST-2 runs and the 2-process launch are marked slow."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DATA = Path(os.environ.get("SNUGGLE_DATASETS", ROOT.parent / "shared" / "datasets"))

pytestmark = pytest.mark.skipif(not (DATA / "sst2" / "train.tsv").exists(), reason=f"datasets not found in {DATA}")


def run_example(script: str, tmp_path: Path, *flags: str, launcher: list[str] | None = None,
                timeout: int = 300) -> dict:
    """Run examples/<script> with `flags` (+ --output-dir tmp_path/out); return its results.json."""
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "SNUGGLE_DATASETS": str(DATA), "PYTHONPATH": str(ROOT)}
    cmd = [*(launcher or [sys.executable]), str(EXAMPLES / script), "--output-dir", str(out), *flags]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{script} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    results = json.loads((out / "results.json").read_text())
    results["_out"] = out
    results["_stdout"] = proc.stdout + proc.stderr
    return results


def assert_trainer_outputs(out: Path) -> None:
    """What every Trainer recipe leaves in --output-dir: the final model, a checkpoint, the log."""
    assert (out / "config.json").exists() and (out / "model.safetensors").exists()
    assert (out / "tokenizer.json").exists()
    checkpoints = sorted(out.glob("checkpoint-*"))
    assert checkpoints, f"no checkpoint-N folder in {sorted(p.name for p in out.iterdir())}"
    state = json.loads((checkpoints[-1] / "trainer_state.json").read_text())
    assert state["log_history"] and state["best_metric"] is not None
    logs = list(out.rglob("*.jsonl"))
    assert logs, "report_to=['jsonl'] wrote no log"
    lines = [json.loads(line) for line in logs[0].read_text().splitlines()]
    assert any("loss" in row for row in lines) and any(k.startswith("eval_") for row in lines for k in row)


def test_sst2_few_steps(tmp_path):
    r = run_example("text_classification_sst2.py", tmp_path, "--max-steps", "6", "--max-train-samples", "96",
                    "--max-eval-samples", "48", "--batch-size", "16", "--eval-steps", "3", "--logging-steps", "2",
                    "--max-length", "32")
    assert r["global_step"] == 6 and r["eval_samples"] == 48
    assert 0.0 <= r["eval_accuracy"] <= 1.0 and math.isfinite(r["eval_loss"]) and math.isfinite(r["train_loss"])
    # two labels: the untrained head starts near ln 2 and the loss cannot explode in 6 steps at this lr
    assert r["eval_loss"] < 1.5
    assert_trainer_outputs(r["_out"])


def test_imdb_few_steps(tmp_path):
    r = run_example("text_classification_imdb.py", tmp_path, "--max-steps", "4", "--max-train-samples", "32",
                    "--max-eval-samples", "16", "--batch-size", "8", "--eval-steps", "2", "--logging-steps", "2",
                    "--max-length", "64")
    assert r["global_step"] == 4
    for key in ("eval_accuracy", "test_accuracy"):
        assert 0.0 <= r[key] <= 1.0
    assert math.isfinite(r["test_loss"]) and r["test_loss"] < 1.5
    assert_trainer_outputs(r["_out"])


def test_conll2003_few_steps(tmp_path):
    r = run_example("token_classification_conll2003.py", tmp_path, "--max-steps", "6", "--max-train-samples",
                    "96", "--max-eval-samples", "32", "--batch-size", "16", "--eval-steps", "3",
                    "--logging-steps", "2", "--max-length", "64", "--learning-rate", "3e-4")
    assert r["global_step"] == 6
    for key in ("eval_precision", "eval_recall", "eval_f1", "eval_accuracy"):
        assert 0.0 <= r[key] <= 1.0, key
    # most tokens are O: even a few steps learn that (an untrained 9-way head is near 1/9)
    assert r["eval_accuracy"] > 0.5
    assert_trainer_outputs(r["_out"])


def test_mrpc_few_steps(tmp_path):
    r = run_example("mrpc_glue.py", tmp_path, "--max-steps", "4", "--max-train-samples", "64",
                    "--max-eval-samples", "32", "--batch-size", "16", "--eval-steps", "2", "--logging-steps", "2",
                    "--max-length", "64")
    assert r["global_step"] == 4
    assert 0.0 <= r["eval_accuracy"] <= 1.0 and 0.0 <= r["eval_f1"] <= 1.0
    assert_trainer_outputs(r["_out"])


def test_mrpc_reads_the_bom_header_and_quotes():
    """The TSV header starts with a BOM and sentences hold bare quotes: the recipe's read keeps all rows."""
    from snuggle import load_dataset

    ds = load_dataset("csv", data_files=str(DATA / "mrpc" / "dev.tsv"), delimiter="\t", quoting=3,
                      encoding="utf-8-sig", split="train")
    assert ds.column_names[0] == "Quality" and len(ds) == 408
    assert sum(ds["Quality"]) == 279


def test_clm_accelerate_single_process(tmp_path):
    r = run_example("accelerate_clm_tinyshakespeare.py", tmp_path, "--max-steps", "8", "--max-train-samples",
                    "128", "--max-eval-samples", "16", "--batch-size", "8", "--block-size", "64",
                    "--hidden-size", "64", "--num-layers", "2", "--eval-every", "4")
    assert r["steps"] == 8 and r["num_processes"] == 1 and len(r["history"]) == 2
    assert r["eval_samples_gathered"] == r["eval_blocks"] == 16
    # a uniform guess over the 512-token vocabulary has perplexity 512; 8 steps already beat it clearly
    assert math.isfinite(r["perplexity"]) and r["perplexity"] < 400
    assert r["perplexity"] == pytest.approx(math.exp(r["eval_loss"]), rel=1e-6)
    out = r["_out"]
    assert (out / "model" / "config.json").exists() and (out / "model" / "tokenizer.json").exists()
    assert (out / "state").is_dir() and any((out / "state").iterdir())
    from snuggle import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(out / "model")
    tok = AutoTokenizer.from_pretrained(out / "model")
    assert model.config.vocab_size == len(tok) == 512


@pytest.mark.slow
def test_clm_accelerate_two_processes(tmp_path):
    launcher = [sys.executable, "-c", "from snuggle.cli.main import main; raise SystemExit(main())", "launch",
                "--nproc_per_node", "2"]
    r = run_example("accelerate_clm_tinyshakespeare.py", tmp_path, "--max-steps", "6", "--max-train-samples",
                    "128", "--max-eval-samples", "15", "--batch-size", "4", "--block-size", "64",
                    "--hidden-size", "64", "--num-layers", "2", "--eval-every", "3", launcher=launcher)
    assert r["steps"] == 6 and r["num_processes"] == 2
    assert math.isfinite(r["perplexity"]) and r["perplexity"] < 512
    # 15 eval blocks over 2 processes: the sampler repeats one to even out, gather_for_metrics drops it
    assert r["eval_blocks"] == 15 and r["eval_samples_gathered"] == 15


@pytest.mark.slow
def test_sst2_full_epoch_reaches_88_percent(tmp_path):
    """The issue's target: >= 88% on the 872-row GLUE dev set with the default recipe (one epoch,
    2,105 steps, group_by_length; docs/training.md: 89.8% in 15.6 minutes on 2 idle-ish cores)."""
    r = run_example("text_classification_sst2.py", tmp_path, timeout=3 * 3600)
    assert r["eval_samples"] == 872
    assert r["eval_accuracy"] >= 0.88, r
