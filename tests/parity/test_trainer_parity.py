"""snuggle Trainer vs transformers.Trainer: same folder, seed, data and arguments -> same run.

A tiny random Llama saved once; each library loads it with its own classes. fp32, no dropout,
logging_steps=1: per-step loss / learning rate / grad norm and the final weights agree within 1e-4
for 20 steps, with gradient accumulation over rows with uneven label counts, and for every scheduler.
Checkpoints cross over: our trainer_state.json loads in the reference and our checkpoint resumes
in the reference Trainer (and the reference's in ours).
"""

from __future__ import annotations

import os

import pytest
import torch

transformers = pytest.importorskip("transformers")

from snuggle.models.llama import LlamaForCausalLM  # noqa: E402
from snuggle.training.trainer import Trainer  # noqa: E402
from snuggle.training.training_args import TrainingArguments  # noqa: E402
from tests.training.test_trainer import classification_rows, lm_rows, tiny_classifier, tiny_llama  # noqa: E402

torch.set_num_threads(1)
TOL = 1e-4


@pytest.fixture(scope="module")
def llama_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama(seed=11).save_pretrained(str(folder))
    return str(folder)


def common_args(out, **kw) -> dict:
    base = dict(output_dir=str(out), per_device_train_batch_size=2, max_steps=20, learning_rate=5e-3,
                logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True, seed=3, use_cpu=True,
                optim="adamw_torch", weight_decay=0.01, warmup_steps=3, dataloader_num_workers=0)
    base.update(kw)
    return base


def run_ours(folder, rows, out, resume=None, **kw):
    model = LlamaForCausalLM.from_pretrained(folder)
    trainer = Trainer(model, TrainingArguments(**common_args(out, **kw)), train_dataset=rows)
    trainer.train(resume_from_checkpoint=resume)
    return trainer


def run_reference(folder, rows, out, resume=None, **kw):
    model = transformers.LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32)
    trainer = transformers.Trainer(model=model, args=transformers.TrainingArguments(**common_args(out, **kw)),
                                   train_dataset=rows)
    trainer.train(resume_from_checkpoint=resume)
    return trainer


def per_step(log_history, key):
    return [e[key] for e in log_history if "loss" in e]


def assert_same_run(ours, ref):
    for key in ("loss", "learning_rate", "grad_norm", "epoch"):
        a, b = per_step(ours.state.log_history, key), per_step(ref.state.log_history, key)
        assert len(a) == len(b) and a == pytest.approx(b, abs=TOL), key
    theirs = ref.model.state_dict()
    for name, value in ours.model.state_dict().items():
        torch.testing.assert_close(value, theirs[name], atol=TOL, rtol=0, msg=name)


@pytest.mark.parametrize("scheduler", ["linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
                                       "constant_with_warmup", "inverse_sqrt"])
def test_schedulers_match_reference(llama_folder, tmp_path, scheduler):
    rows = lm_rows(16)
    ours = run_ours(llama_folder, rows, tmp_path / "ours", lr_scheduler_type=scheduler)
    ref = run_reference(llama_folder, rows, tmp_path / "ref", lr_scheduler_type=scheduler)
    assert_same_run(ours, ref)


def test_gradient_accumulation_with_uneven_label_counts_matches_reference(llama_folder, tmp_path):
    # 15 rows / batch 2 -> 8 batches per epoch, GA 3 -> updates of 3, 3, 2 batches; labels masked unevenly
    rows = lm_rows(15)
    kw = dict(gradient_accumulation_steps=3, per_device_train_batch_size=2)
    assert_same_run(run_ours(llama_folder, rows, tmp_path / "ours", **kw),
                    run_reference(llama_folder, rows, tmp_path / "ref", **kw))


def test_sequence_classification_matches_reference_without_accumulation(tmp_path):
    folder = str(tmp_path / "clf")
    tiny_classifier(seed=5).save_pretrained(folder)
    rows = classification_rows(12, extra=True)
    kw = common_args(tmp_path / "x", max_steps=8, per_device_train_batch_size=4)
    from snuggle.models.bert import BertForSequenceClassification

    ours = Trainer(BertForSequenceClassification.from_pretrained(folder), TrainingArguments(**kw), train_dataset=rows)
    ours.train()
    ref = transformers.Trainer(model=transformers.BertForSequenceClassification.from_pretrained(folder),
                               args=transformers.TrainingArguments(**kw), train_dataset=rows)
    ref.train()
    assert_same_run(ours, ref)


def test_our_accumulated_classifier_equals_reference_full_batch(tmp_path):
    """The reference's GA bug for models that ignore num_items_in_batch: its GA=2 loss is twice the
    full-batch one. Ours with GA=2 equals the reference with the full batch (GA=1)."""
    folder = str(tmp_path / "clf")
    tiny_classifier(seed=5).save_pretrained(folder)
    rows = classification_rows(12)
    from snuggle.models.bert import BertForSequenceClassification

    ours = Trainer(BertForSequenceClassification.from_pretrained(folder),
                   TrainingArguments(**common_args(tmp_path / "o", max_steps=6, per_device_train_batch_size=2,
                                                   gradient_accumulation_steps=2, optim="sgd")),
                   train_dataset=rows)
    ours.train()
    ref = transformers.Trainer(model=transformers.BertForSequenceClassification.from_pretrained(folder),
                               args=transformers.TrainingArguments(**common_args(
                                   tmp_path / "r", max_steps=6, per_device_train_batch_size=4, optim="sgd")),
                               train_dataset=rows)
    ref.train()
    assert_same_run(ours, ref)


def test_checkpoints_cross_over(llama_folder, tmp_path):
    rows = lm_rows(16)
    save = dict(save_strategy="steps", save_steps=10)
    straight = run_reference(llama_folder, rows, tmp_path / "straight")

    ours = run_ours(llama_folder, rows, tmp_path / "ours", **save)
    checkpoint = str(tmp_path / "ours" / "checkpoint-10")
    state = transformers.TrainerState.load_from_json(os.path.join(checkpoint, "trainer_state.json"))
    assert state.global_step == 10 and len(per_step(state.log_history, "loss")) == 10
    assert per_step(state.log_history, "loss") == per_step(ours.state.log_history, "loss")[:10]

    # the reference resumes from our checkpoint-10 and ends where its own uninterrupted run ends
    resumed_ref = run_reference(llama_folder, rows, tmp_path / "ref_from_ours", resume=checkpoint)
    assert_same_run(resumed_ref, straight)

    # and we resume from the reference's checkpoint-10
    run_reference(llama_folder, rows, tmp_path / "ref", **save)
    resumed_ours = run_ours(llama_folder, rows, tmp_path / "ours_from_ref", resume=str(tmp_path / "ref" / "checkpoint-10"))
    assert_same_run(resumed_ours, straight)
