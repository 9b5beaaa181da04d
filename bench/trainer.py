"""Trainer benchmark: snuggle.Trainer vs transformers.Trainer, the same fine-tuning job in one run.

MiniLM (all-MiniLM-L6-v2 + a seeded 2-label head, the folder bench/pipelines.py builds) as a sequence
classifier, SST-2 sentences padded/truncated to 64 tokens, batch 32, AdamW (each library's default
optimizer), fp32. Each library trains `--warmup` steps, then `--steps` timed steps (timed from the end
of the last warmup step to the end of the last step, by a callback, so set-up is excluded). The runs
alternate between the libraries `--repeat` times and the best run of each counts.

Prints `trainer_minilm_seq64_b32: snuggle/reference = X` (samples/s ratio, goal >= 1.2) and the torch
thread count; `--ddp` adds a 2-process torchrun throughput line for snuggle. Two data sets:
- `trainer_minilm_seq64_b32`: SST-2 sentences tokenized with padding="max_length" (64): most columns
  are padding, which snuggle's Trainer cuts before the forward (trim_padding) and the reference computes;
- `trainer_minilm_seq64_b32_dense`: 64 real tokens per row: nothing to cut, the two loops run the same
  model ops (measured op for op with torch.profiler), so this ratio shows the loop overhead only (~1.0).

    .venv/bin/python bench/trainer.py [--steps 30] [--warmup 3] [--repeat 2] [--ddp]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("SNUGGLE_DISABLE_PROGRESS_BARS", "1")
for key, value in (("HF_HUB_OFFLINE", "1"), ("HF_HUB_DISABLE_TELEMETRY", "1"), ("HF_UPDATE_DOWNLOAD_COUNTS", "0"),
                   ("DISABLE_SAFETENSORS_CONVERSION", "1")):
    os.environ.setdefault(key, value)
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipelines import clf_folder, sentences  # noqa: E402

SEQ, BATCH = 64, 32


def rows(n: int, dense: bool = False) -> list[dict]:
    """n tokenized SST-2 sentences (padded to SEQ) with alternating labels, as plain python lists;
    `dense`: SEQ real tokens per row instead (seeded random ids, no padding)."""
    if dense:
        import torch

        g = torch.Generator().manual_seed(0)
        ids = torch.randint(1000, 30000, (n, SEQ), generator=g).tolist()
        return [{"input_ids": x, "attention_mask": [1] * SEQ, "label": i % 2} for i, x in enumerate(ids)]
    from snuggle import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(clf_folder())
    texts = sentences(512)
    enc = tok(texts, padding="max_length", truncation=True, max_length=SEQ)
    data = [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i], "label": i % 2}
            for i in range(len(texts))]
    return (data * (n // len(data) + 1))[:n]


def make_timer(base):
    class StepTimer(base):
        """Wall time between the end of step `start` and the end of step `stop`."""

        def __init__(self, start: int, stop: int):
            self.start, self.stop, self.t0, self.elapsed = start, stop, None, None

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == self.start:
                self.t0 = time.perf_counter()
            elif state.global_step == self.stop:
                self.elapsed = time.perf_counter() - self.t0

    return StepTimer


def run(lib: str, data: list[dict], warmup: int, steps: int, out: str) -> float:
    """Samples per second of `steps` timed optimizer steps."""
    import torch

    if lib == "snuggle":
        from snuggle.models import AutoModelForSequenceClassification
        from snuggle.training.trainer import Trainer
        from snuggle.training.trainer_callback import TrainerCallback
        from snuggle.training.training_args import TrainingArguments
    else:
        from transformers import (AutoModelForSequenceClassification, Trainer, TrainerCallback,
                                  TrainingArguments)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(clf_folder(), num_labels=2)
    args = TrainingArguments(output_dir=out, per_device_train_batch_size=BATCH, max_steps=warmup + steps,
                             learning_rate=2e-5, logging_steps=10, save_strategy="no", report_to="none",
                             disable_tqdm=True, seed=0, use_cpu=True, dataloader_num_workers=0)
    timer = make_timer(TrainerCallback)(warmup, warmup + steps)
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[timer])
    trainer.train()
    return steps * BATCH / timer.elapsed


DDP_SCRIPT = """
import json, os, sys, time
sys.path.insert(0, {root!r})
import torch
from bench.trainer import rows, make_timer, BATCH
from snuggle.models import AutoModelForSequenceClassification
from snuggle.training.trainer import Trainer
from snuggle.training.trainer_callback import TrainerCallback
from snuggle.training.training_args import TrainingArguments
from bench.pipelines import clf_folder
torch.manual_seed(0)
model = AutoModelForSequenceClassification.from_pretrained(clf_folder(), num_labels=2)
args = TrainingArguments(output_dir={out!r}, per_device_train_batch_size=BATCH // 2, max_steps={total},
                         learning_rate=2e-5, logging_steps=10, save_strategy="no", report_to="none",
                         disable_tqdm=True, seed=0, use_cpu=True)
timer = make_timer(TrainerCallback)({warmup}, {total})
trainer = Trainer(model=model, args=args, train_dataset=rows({n}), callbacks=[timer])
trainer.train()
if trainer.is_world_process_zero():
    print(json.dumps({{"samples_per_second": {steps} * BATCH / timer.elapsed}}))
"""


def run_ddp(warmup: int, steps: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "ddp_bench.py"
        script.write_text(DDP_SCRIPT.format(root=str(ROOT), out=tmp, total=warmup + steps, warmup=warmup,
                                            steps=steps, n=(warmup + steps) * BATCH))
        torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
        with socket.socket() as probe:  # a free port: torchrun's workers cannot rendezvous on port 0
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        proc = subprocess.run([torchrun, "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port",
                               str(port), str(script)], capture_output=True, text=True, env=env, timeout=1800)
        if proc.returncode != 0:
            sys.exit(proc.stderr[-3000:])
        line = [x for x in proc.stdout.splitlines() if x.startswith("{")][-1]
        return json.loads(line)["samples_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--ddp", action="store_true", help="also time 2-process torchrun DDP (snuggle)")
    opts = parser.parse_args()
    import torch

    print(f"threads: {torch.get_num_threads()}")
    cases = (("trainer_minilm_seq64_b32", False), ("trainer_minilm_seq64_b32_dense", True))
    for name, dense in cases:
        data = rows((opts.warmup + opts.steps) * BATCH, dense=dense)
        best = {"snuggle": 0.0, "reference": 0.0}
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(opts.repeat):
                order = ("reference", "snuggle") if r % 2 == 0 else ("snuggle", "reference")
                for lib in order:
                    gc.collect()
                    sps = run(lib, data, opts.warmup, opts.steps, os.path.join(tmp, lib))
                    best[lib] = max(best[lib], sps)
                    print(f"  {name} run {r + 1} {lib}: {sps:.1f} samples/s", flush=True)
        print(f"{name} samples/s: snuggle {best['snuggle']:.1f}, reference {best['reference']:.1f}")
        print(f"{name}: snuggle/reference = {best['snuggle'] / best['reference']:.2f}", flush=True)
    if opts.ddp:
        ddp = run_ddp(opts.warmup, opts.steps)
        print(f"trainer_minilm_seq64_b32_ddp2 (snuggle, 2 processes x 1 thread, global batch {BATCH}): "
              f"{ddp:.1f} samples/s")


if __name__ == "__main__":
    main()
