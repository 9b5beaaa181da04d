"""Trainer checkpoints: layout, atomic save (kill -9), rotation with the best kept, exact resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from snuggle.errors import TrainingError
from snuggle.training.trainer import Trainer
from snuggle.training.trainer_utils import get_last_checkpoint
from tests.training.test_trainer import args_for, classification_rows, tiny_classifier, weights

REPO = Path(__file__).resolve().parents[2]
VOLATILE = {"train_runtime", "train_samples_per_second", "train_steps_per_second"}


def comparable(log_history):
    return [{k: v for k, v in e.items() if k not in VOLATILE} for e in log_history]


def test_checkpoint_layout(tmp_path):
    args = args_for(tmp_path, max_steps=4, save_strategy="steps", save_steps=2)
    Trainer(tiny_classifier(), args, train_dataset=classification_rows(12)).train()
    out = Path(args.output_dir)
    assert sorted(os.listdir(out)) == ["checkpoint-2", "checkpoint-4"]
    files = set(os.listdir(out / "checkpoint-4"))
    assert {"model.safetensors", "config.json", "optimizer.pt", "scheduler.pt", "rng_state.pth",
            "trainer_state.json", "training_args.bin"} <= files
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and len([e for e in state["log_history"] if "loss" in e]) == 4


def test_save_model_writes_model_tokenizer_and_args(tmp_path):
    class Tok:
        def save_pretrained(self, path):
            Path(path, "tokenizer.json").write_text("{}")

    trainer = Trainer(tiny_classifier(), args_for(tmp_path), processing_class=Tok())
    trainer.save_model(str(tmp_path / "final"))
    assert {"model.safetensors", "config.json", "tokenizer.json", "training_args.bin"} <= set(
        os.listdir(tmp_path / "final"))
    from snuggle.models.bert import BertForSequenceClassification

    again = BertForSequenceClassification.from_pretrained(str(tmp_path / "final"))
    for k, v in weights(trainer.model).items():
        torch.testing.assert_close(v, weights(again)[k])


def test_rotation_keeps_best_and_load_best_model_at_end(tmp_path):
    scores = iter([0.5, 0.9, 0.1, 0.2, 0.3])
    args = args_for(tmp_path, max_steps=5, eval_strategy="steps", eval_steps=1, save_strategy="steps", save_steps=1,
                    save_total_limit=2, metric_for_best_model="score", greater_is_better=True,
                    load_best_model_at_end=True)
    snapshots = {}

    from snuggle.training.trainer_callback import TrainerCallback

    class Snap(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kw):
            snapshots[state.global_step] = weights(model)

    trainer = Trainer(tiny_classifier(), args, train_dataset=classification_rows(12),
                      eval_dataset=classification_rows(4), compute_metrics=lambda p: {"score": next(scores)},
                      callbacks=[Snap()])
    trainer.train()
    out = Path(args.output_dir)
    assert sorted(os.listdir(out)) == ["checkpoint-2", "checkpoint-5"]
    assert trainer.state.best_model_checkpoint == str(out / "checkpoint-2")
    assert trainer.state.best_metric == 0.9
    for k, v in snapshots[2].items():
        torch.testing.assert_close(weights(trainer.model)[k], v)


@pytest.mark.parametrize("accumulation", [1, 2])
def test_resume_equals_uninterrupted_run(tmp_path, accumulation):
    """20 steps straight == 10 steps, a new process-like Trainer resuming, 10 more (dropout on)."""
    rows = classification_rows(20)
    common = dict(max_steps=20, save_strategy="steps", save_steps=10, gradient_accumulation_steps=accumulation,
                  per_device_train_batch_size=3)

    def model():
        return tiny_classifier(hidden_dropout_prob=0.2)

    straight = Trainer(model(), args_for(tmp_path / "a", **common), train_dataset=rows)
    straight.train()
    first = Trainer(model(), args_for(tmp_path / "b", **common), train_dataset=rows)

    from snuggle.training.trainer_callback import TrainerCallback

    class StopAt10(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 10:
                control.should_training_stop = True
                control.should_save = True

    first.add_callback(StopAt10())
    first.train()
    resumed = Trainer(model(), args_for(tmp_path / "b", **common), train_dataset=rows)
    resumed.train(resume_from_checkpoint=True)
    for k, v in weights(straight.model).items():
        torch.testing.assert_close(weights(resumed.model)[k], v, atol=0, rtol=0)
    assert comparable(resumed.state.log_history) == comparable(straight.state.log_history)


def test_resume_errors(tmp_path):
    trainer = Trainer(tiny_classifier(), args_for(tmp_path, max_steps=1), train_dataset=classification_rows(8))
    with pytest.raises(TrainingError, match="no complete checkpoint"):
        trainer.train(resume_from_checkpoint=True)
    os.makedirs(tmp_path / "half")
    with pytest.raises(TrainingError, match="trainer_state.json"):
        trainer.train(resume_from_checkpoint=str(tmp_path / "half"))


KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {repo!r})
import snuggle.training.trainer_checkpoint as ckpt
from snuggle.training.trainer import Trainer
from tests.training.test_trainer import args_for, classification_rows, tiny_classifier
from pathlib import Path

real = ckpt.save_optimizer_and_scheduler
def dying(folder, optimizer, scheduler):
    real(folder, optimizer, scheduler)
    if folder.endswith("checkpoint-10"):
        os.kill(os.getpid(), signal.SIGKILL)  # mid-save: weights and optimizer written, no state yet
ckpt.save_optimizer_and_scheduler = dying
args = args_for(Path({tmp!r}), max_steps=20, save_strategy="steps", save_steps=5)
Trainer(tiny_classifier(), args, train_dataset=classification_rows(20)).train()
"""


def test_kill_9_during_save_leaves_previous_checkpoint_resumable(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(KILL_SCRIPT.format(repo=str(REPO), tmp=str(tmp_path))))
    env = dict(os.environ, PYTHONPATH=str(REPO), SNUGGLE_DISABLE_PROGRESS_BARS="1")
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    out = tmp_path / "out"
    assert (out / "tmp-checkpoint-10").is_dir() and not (out / "checkpoint-10").exists()
    assert get_last_checkpoint(out) == str(out / "checkpoint-5")

    args = args_for(tmp_path, max_steps=20, save_strategy="steps", save_steps=5)
    resumed = Trainer(tiny_classifier(), args, train_dataset=classification_rows(20))
    resumed.train(resume_from_checkpoint=True)
    assert not (out / "tmp-checkpoint-10").exists() and (out / "checkpoint-20").is_dir()
    straight = Trainer(tiny_classifier(), args_for(tmp_path / "s", max_steps=20), train_dataset=classification_rows(20))
    straight.train()
    for k, v in weights(straight.model).items():
        torch.testing.assert_close(weights(resumed.model)[k], v, atol=0, rtol=0)
