"""Trainer under torchrun: 2-process gloo DDP equals one process with the same global batch."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snuggle.training.trainer import Trainer
from tests.training.test_trainer import args_for, lm_rows, losses, tiny_llama, weights

REPO = Path(__file__).resolve().parents[2]

DDP_SCRIPT = """
import faulthandler, json, os, sys
faulthandler.dump_traceback_later(100, exit=True)  # a hang shows where each rank waits
sys.path.insert(0, {repo!r})
import torch
torch.set_num_threads(1)
from pathlib import Path
from snuggle.training.trainer import Trainer
from tests.training.test_trainer import args_for, lm_rows, tiny_llama

tmp = Path({tmp!r})
args = args_for(tmp, max_steps=4, per_device_train_batch_size=2, per_device_eval_batch_size=2,
                save_strategy="steps", save_steps=4)
trainer = Trainer(tiny_llama(), args, train_dataset=lm_rows(12), eval_dataset=lm_rows(8, seed=3))
trainer.train()
metrics = trainer.evaluate()
preds = trainer.predict(lm_rows(7, seed=3))
if trainer.is_world_process_zero():
    torch.save({{k: v.detach() for k, v in trainer.model.state_dict().items()}}, tmp / "ddp_weights.pt")
    json.dump({{"log_history": trainer.state.log_history, "eval": metrics,
               "pred_shape": list(preds.predictions.shape)}}, open(tmp / "ddp.json", "w"))
"""


@pytest.mark.slow
def test_two_process_ddp_equals_single_process(tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if torchrun is None:
        pytest.skip("torchrun not installed next to this python")
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT.format(repo=str(REPO), tmp=str(tmp_path)))
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", SNUGGLE_DISABLE_PROGRESS_BARS="1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run([torchrun, "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port",
                           str(port), str(script)], env=env, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "ddp.json").read_text())
    # only rank 0 wrote the checkpoint, and the folder is complete
    ckpt = tmp_path / "out" / "checkpoint-4"
    assert {"model.safetensors", "optimizer.pt", "trainer_state.json", "rng_state_0.pth", "rng_state_1.pth"} <= set(
        os.listdir(ckpt))

    single_args = args_for(tmp_path / "single", max_steps=4, per_device_train_batch_size=4,
                           per_device_eval_batch_size=2)
    single = Trainer(tiny_llama(), single_args, train_dataset=lm_rows(12), eval_dataset=lm_rows(8, seed=3))
    single.train()
    assert losses(result["log_history"]) == pytest.approx(losses(single.state.log_history), abs=1e-5)
    ddp_weights = torch.load(tmp_path / "ddp_weights.pt")
    for k, v in weights(single.model).items():
        torch.testing.assert_close(ddp_weights[k], v, atol=1e-5, rtol=1e-4)
    assert result["eval"]["eval_loss"] == pytest.approx(single.evaluate()["eval_loss"], abs=1e-5)
    assert result["pred_shape"][0] == 7
