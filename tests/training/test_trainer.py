"""Trainer: training loop, loss normalisation, evaluation, columns, faults (tiny random models, CPU)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from snuggle.errors import DataError, TrainingError
from snuggle.models.bert import BertConfig, BertForSequenceClassification, BertForTokenClassification
from snuggle.models.llama import LlamaForCausalLM
from snuggle.models.llama_configs import LlamaConfig
from snuggle.training.trainer import Trainer
from snuggle.training.training_args import TrainingArguments

torch.set_num_threads(1)


# ------------------------------------------------------------------ shared helpers (other test_trainer_* import them)


def tiny_bert_config(**kw) -> BertConfig:
    base = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=24,
                max_position_embeddings=32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=2)
    base.update(kw)
    return BertConfig(**base)


def tiny_classifier(seed: int = 0, **kw) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    return BertForSequenceClassification(tiny_bert_config(**kw))


def tiny_llama(seed: int = 0, **kw) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    base = dict(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                num_key_value_heads=2, max_position_embeddings=32, tie_word_embeddings=False)
    base.update(kw)
    return LlamaForCausalLM(LlamaConfig(**base))


def classification_rows(n: int = 24, seq: int = 6, seed: int = 0, extra: bool = False) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 50, (n, seq), generator=g).tolist()
    rows = [{"input_ids": x, "attention_mask": [1] * seq, "label": i % 2} for i, x in enumerate(ids)]
    if extra:
        for i, r in enumerate(rows):
            r["text"] = f"row {i}"
    return rows


def lm_rows(n: int = 16, seq: int = 8, seed: int = 0) -> list[dict]:
    """Causal-LM rows with a different number of -100 labels per row (uneven label counts)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        ids = torch.randint(0, 40, (seq,), generator=g).tolist()
        masked = i % (seq - 2)
        rows.append({"input_ids": ids, "attention_mask": [1] * seq, "labels": [-100] * masked + ids[masked:]})
    return rows


def args_for(tmp_path, **kw) -> TrainingArguments:
    base = dict(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, per_device_eval_batch_size=4,
                learning_rate=1e-2, logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
                seed=7, use_cpu=True)
    base.update(kw)
    return TrainingArguments(**base)


class captured_warnings:
    """Collect the messages snuggle's loggers emit (its root logger does not propagate to pytest's caplog);
    forgets earlier warn_once messages so each test sees its own."""

    def __enter__(self):
        from snuggle.utils import logging as snuggle_logging

        snuggle_logging._warned.clear()
        self.messages: list[str] = []
        outer = self

        class Handler(logging.Handler):
            def emit(self, record):
                outer.messages.append(record.getMessage())

        self.handler = Handler(logging.WARNING)
        logging.getLogger("snuggle").addHandler(self.handler)
        return self.messages

    def __exit__(self, *exc):
        logging.getLogger("snuggle").removeHandler(self.handler)
        return False


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def losses(log_history) -> list[float]:
    return [e["loss"] for e in log_history if "loss" in e]


# ------------------------------------------------------------------ training basics


def test_train_returns_output_with_metrics_and_log_history(tmp_path):
    trainer = Trainer(tiny_classifier(), args_for(tmp_path, max_steps=6), train_dataset=classification_rows())
    out = trainer.train()
    assert out.global_step == 6
    for key in ("train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss"):
        assert key in out.metrics
    assert out.metrics["total_flos"] > 0
    logged = losses(trainer.state.log_history)
    assert len(logged) == 6 and all(np.isfinite(logged))
    assert out.training_loss == pytest.approx(np.mean(logged), rel=1e-6)
    assert [e["step"] for e in trainer.state.log_history[:6]] == [1, 2, 3, 4, 5, 6]
    assert logged[-1] < logged[0] + 0.5  # it trains and stays sane


def test_epochs_and_fractional_epoch_values(tmp_path):
    # 10 rows, batch 4 -> 3 batches per epoch; GA 2 -> 2 updates per epoch (the last with one batch)
    args = args_for(tmp_path, num_train_epochs=2, gradient_accumulation_steps=2)
    trainer = Trainer(tiny_classifier(), args, train_dataset=classification_rows(10))
    out = trainer.train()
    assert out.global_step == 4
    epochs = [e["epoch"] for e in trainer.state.log_history if "loss" in e]
    assert epochs == pytest.approx([2 / 3, 1.0, 1 + 2 / 3, 2.0])


def test_gradient_accumulation_equals_full_batch_for_causal_lm(tmp_path):
    """Uneven label counts per row: GA 2 x 2 rows must give the loss and update of one 4-row batch."""
    rows = lm_rows(8)
    full = Trainer(tiny_llama(), args_for(tmp_path, max_steps=2, per_device_train_batch_size=4, optim="sgd",
                                          lr_scheduler_type="constant"), train_dataset=rows)
    full.train()
    accumulated = Trainer(tiny_llama(), args_for(tmp_path, max_steps=2, per_device_train_batch_size=2,
                                                 gradient_accumulation_steps=2, optim="sgd",
                                                 lr_scheduler_type="constant"), train_dataset=rows)
    accumulated.train()
    assert losses(accumulated.state.log_history) == pytest.approx(losses(full.state.log_history), abs=1e-6)
    a, b = weights(full.model), weights(accumulated.model)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)


def test_gradient_accumulation_rescales_models_without_num_items(tmp_path):
    """A token classifier returns a per-batch mean; the Trainer re-weights it by the label counts."""
    g = torch.Generator().manual_seed(1)
    rows = []
    for i in range(8):
        ids = torch.randint(1, 50, (6,), generator=g).tolist()
        labels = [(t % 3) if j < 1 + i % 5 else -100 for j, t in enumerate(ids)]
        rows.append({"input_ids": ids, "attention_mask": [1] * 6, "labels": labels})

    def model():
        torch.manual_seed(3)
        return BertForTokenClassification(tiny_bert_config(num_labels=3))

    common = dict(max_steps=2, optim="sgd", lr_scheduler_type="constant", max_grad_norm=0.0)
    full = Trainer(model(), args_for(tmp_path, per_device_train_batch_size=4, **common), train_dataset=rows)
    full.train()
    acc = Trainer(model(), args_for(tmp_path, per_device_train_batch_size=1, gradient_accumulation_steps=4, **common),
                  train_dataset=rows)
    assert not acc.model_accepts_loss_kwargs
    acc.train()
    assert losses(acc.state.log_history) == pytest.approx(losses(full.state.log_history), abs=1e-6)
    for k, v in weights(full.model).items():
        torch.testing.assert_close(v, weights(acc.model)[k], atol=1e-6, rtol=1e-5)


def test_compute_loss_override_by_subclass(tmp_path):
    calls = []

    class WeightedTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            weight = inputs.pop("weight")
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            loss = (torch.nn.functional.cross_entropy(outputs.logits, labels, reduction="none") * weight).mean()
            calls.append(num_items_in_batch)
            return (loss, outputs) if return_outputs else loss

    rows = classification_rows(8)
    for i, r in enumerate(rows):
        r["weight"] = float(i % 3)
    trainer = WeightedTrainer(tiny_classifier(), args_for(tmp_path, max_steps=2), train_dataset=rows)
    trainer.train()
    assert len(calls) == 2 and int(calls[0]) == 4  # the "weight" column survived column removal
    assert np.isfinite(losses(trainer.state.log_history)).all()


def test_bf16_autocast_and_gradient_checkpointing(tmp_path):
    plain = Trainer(tiny_llama(), args_for(tmp_path, max_steps=2), train_dataset=lm_rows(8))
    plain.train()
    checkpointed = Trainer(tiny_llama(), args_for(tmp_path, max_steps=2, gradient_checkpointing=True),
                           train_dataset=lm_rows(8))
    assert checkpointed.model.is_gradient_checkpointing
    checkpointed.train()
    assert losses(checkpointed.state.log_history) == pytest.approx(losses(plain.state.log_history), abs=1e-5)
    seen = []
    bf16 = Trainer(tiny_llama(), args_for(tmp_path, max_steps=2, bf16=True), train_dataset=lm_rows(8))
    bf16.model.lm_head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    bf16.train()
    assert torch.bfloat16 in seen
    assert losses(bf16.state.log_history) == pytest.approx(losses(plain.state.log_history), abs=0.05)


def test_include_num_input_tokens_seen(tmp_path):
    trainer = Trainer(tiny_classifier(), args_for(tmp_path, max_steps=3, include_num_input_tokens_seen=True),
                      train_dataset=classification_rows(12))
    trainer.train()
    assert trainer.state.num_input_tokens_seen == 3 * 4 * 6
    assert trainer.state.log_history[0]["num_input_tokens_seen"] == 24


# ------------------------------------------------------------------ columns


def test_unused_columns_dropped_with_one_log_line(tmp_path):
    from snuggle.data import Dataset

    rows = classification_rows(8, extra=True)
    ds = Dataset.from_list(rows)
    trainer = Trainer(tiny_classifier(), args_for(tmp_path, max_steps=1), train_dataset=ds)
    with captured_warnings() as messages:
        trainer.train()
    lines = [m for m in messages if "dropping column" in m]
    assert len(lines) == 1 and "text" in lines[0] and "BertForSequenceClassification.forward" in lines[0]


def test_columns_read_by_a_custom_collator_are_kept(tmp_path):
    seen = []

    def collate(rows):
        seen.append(sorted(rows[0]))
        return {"input_ids": torch.tensor([r["input_ids"] for r in rows]),
                "labels": torch.tensor([len(r["text"]) % 2 for r in rows])}

    trainer = Trainer(tiny_classifier(), args_for(tmp_path, max_steps=1), data_collator=collate,
                      train_dataset=classification_rows(8, extra=True))
    trainer.train()
    assert "text" in seen[0]


def test_remove_unused_columns_false_keeps_everything(tmp_path):
    seen = []

    def collate(rows):
        seen.append(set(rows[0]))
        return {"input_ids": torch.tensor([r["input_ids"] for r in rows]), "labels": torch.tensor([0] * len(rows))}

    trainer = Trainer(tiny_classifier(), args_for(tmp_path, max_steps=1, remove_unused_columns=False),
                      data_collator=collate, train_dataset=classification_rows(8, extra=True))
    trainer.train()
    assert {"text", "label", "attention_mask"} <= seen[0]


# ------------------------------------------------------------------ evaluation and prediction


def test_evaluate_metrics_prefix_and_dict_of_datasets(tmp_path):
    got = []

    def compute_metrics(p):
        got.append((p.predictions.shape, p.label_ids.shape))
        return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}

    trainer = Trainer(tiny_classifier(), args_for(tmp_path), compute_metrics=compute_metrics,
                      eval_dataset={"a": classification_rows(6), "b": classification_rows(5, seed=2)})
    metrics = trainer.evaluate()
    for name in ("a", "b"):
        assert {f"eval_{name}_loss", f"eval_{name}_accuracy", f"eval_{name}_runtime"} <= set(metrics)
    assert got == [((6, 2), (6,)), ((5, 2), (5,))]
    single = trainer.evaluate(classification_rows(6), metric_key_prefix="dev")
    assert single["dev_loss"] == pytest.approx(metrics["eval_a_loss"])


def test_eval_loss_is_the_per_sample_mean(tmp_path):
    rows = classification_rows(5)
    trainer = Trainer(tiny_classifier(), args_for(tmp_path, per_device_eval_batch_size=2))
    loss = trainer.evaluate(rows)["eval_loss"]
    model = trainer.model.eval()
    with torch.no_grad():
        out = model(torch.tensor([r["input_ids"] for r in rows]), labels=torch.tensor([r["label"] for r in rows]))
    assert loss == pytest.approx(float(out.loss), abs=1e-6)


def test_predictions_of_different_lengths_are_padded_with_minus_100(tmp_path):
    rows = [{"input_ids": list(range(1, 3 + (i % 3) * 2)), "labels": list(range(1, 3 + (i % 3) * 2))}
            for i in range(5)]
    from snuggle.training.collators import DataCollatorForSeq2Seq

    class PadTok:
        pad_token_id = 0
        padding_side = "right"

        def pad(self, features, padding=True, max_length=None, pad_to_multiple_of=None, return_tensors="pt"):
            n = max(len(f["input_ids"]) for f in features)
            ids = [f["input_ids"] + [0] * (n - len(f["input_ids"])) for f in features]
            return {"input_ids": torch.tensor(ids), "attention_mask": (torch.tensor(ids) != 0).long()}

    seen = []
    trainer = Trainer(tiny_llama(), args_for(tmp_path, per_device_eval_batch_size=2),
                      data_collator=DataCollatorForSeq2Seq(PadTok(), label_pad_token_id=-100),
                      preprocess_logits_for_metrics=lambda logits, labels: (seen.append(1), logits.argmax(-1))[1])
    out = trainer.predict(rows)
    assert out.predictions.shape == (5, 6) and out.label_ids.shape == (5, 6)
    # batch 0 holds rows of length 2 and 4 (padded to 4 by the collator, labels with -100), batch 1 is 6 long:
    # batch 0 is then padded with -100 from 4 to 6 when the batches are concatenated
    assert (out.label_ids[0, 2:] == -100).all() and (out.predictions[:2, 4:] == -100).all()
    assert (out.predictions[0, :4] != -100).all() and (out.predictions[2] != -100).all()
    assert len(seen) == 3 and "test_loss" in out.metrics


def test_evaluate_without_labels_says_so_once_and_predict_still_works(tmp_path):
    rows = [{"input_ids": r["input_ids"]} for r in classification_rows(6)]
    trainer = Trainer(tiny_classifier(), args_for(tmp_path), compute_metrics=lambda p: {"x": 1.0})
    with captured_warnings() as messages:
        metrics = trainer.evaluate(rows)
        trainer.evaluate(rows)
    msgs = [m for m in messages if "have no labels" in m]
    assert len(msgs) == 1 and "predict" in msgs[0]
    assert "eval_loss" not in metrics
    out = trainer.predict(rows)
    assert out.predictions.shape == (6, 2) and out.label_ids is None


# ------------------------------------------------------------------ faults and bad input


def test_nan_loss_stops_with_the_step(tmp_path):
    class Flaky(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        def forward(self, x, labels=None):
            pred = self.linear(x).squeeze(-1)
            return {"loss": ((pred - labels) ** 2).mean(), "logits": pred}

    rows = [{"x": [1.0, float(i)], "labels": 1.0} for i in range(12)]
    rows[9]["x"] = [float("nan"), 1.0]
    args = args_for(tmp_path, max_steps=6, per_device_train_batch_size=2, data_seed=None)
    trainer = Trainer(Flaky(), args, train_dataset=rows)
    order = [b for b in trainer.get_train_dataloader().batch_sampler]
    bad_step = next(i for i, b in enumerate(order) if 9 in b) + 1
    with pytest.raises(TrainingError, match=f"at step {bad_step}"):
        trainer.train()
    assert torch.isfinite(trainer.model.linear.weight).all()  # the NaN step was not applied
    keep_going = Trainer(Flaky(), args, train_dataset=rows, stop_on_nan_loss=False)
    keep_going.train()
    assert np.isfinite(losses(keep_going.state.log_history)).all()  # logging_nan_inf_filter


def test_labels_outside_num_labels(tmp_path):
    rows = classification_rows(8)
    rows[3]["label"] = 5
    trainer = Trainer(tiny_classifier(), args_for(tmp_path, max_steps=2, per_device_train_batch_size=8),
                      train_dataset=rows)
    with pytest.raises(DataError, match=r"labels \[5\] are outside 0..1 .*num_labels=2"):
        trainer.train()


def test_batch_larger_than_dataset(tmp_path):
    with captured_warnings() as messages:
        Trainer(tiny_classifier(), args_for(tmp_path, max_steps=1, per_device_train_batch_size=64),
                train_dataset=classification_rows(5)).train()
    assert any("larger than the train dataset (5 rows)" in m for m in messages)
    trainer = Trainer(tiny_classifier(), args_for(tmp_path, max_steps=1, per_device_train_batch_size=64,
                                                  dataloader_drop_last=True), train_dataset=classification_rows(5))
    with pytest.raises(DataError, match="dataloader_drop_last"):
        trainer.train()


def test_missing_train_dataset_and_push_to_hub(tmp_path):
    with pytest.raises(TrainingError, match="train_dataset"):
        Trainer(tiny_classifier(), args_for(tmp_path)).train()
    try:
        import snuggle.hub  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="issue 8"):
            Trainer(tiny_classifier(), args_for(tmp_path, push_to_hub=True))


# ------------------------------------------------------------------ padding trimming


def test_trim_padding_columns_rules():
    from snuggle.training.trainer_data import trim_padding_columns

    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]])
    ids = torch.tensor([[5, 6, 0, 0], [7, 0, 0, 0]])
    out = trim_padding_columns({"input_ids": ids, "attention_mask": mask, "labels": torch.full((2, 4), -100)})
    assert out["input_ids"].shape == (2, 2) and out["labels"].shape == (2, 2)
    # labels read in the padding, an unknown (batch, seq) tensor, left padding: untouched
    labelled = {"input_ids": ids, "attention_mask": mask, "labels": ids}
    assert trim_padding_columns(labelled)["input_ids"].shape == (2, 4)
    assert trim_padding_columns({"input_ids": ids, "attention_mask": mask, "w": ids.float()})["input_ids"].shape[1] == 4
    left = {"input_ids": ids.flip(1), "attention_mask": mask.flip(1)}
    assert trim_padding_columns(left)["input_ids"].shape == (2, 4)


def test_trimmed_training_equals_untrimmed(tmp_path):
    rows = classification_rows(16, seq=12)
    for i, r in enumerate(rows):  # right padding: 3..8 real tokens, padded to 12
        n = 3 + i % 6
        r["input_ids"] = r["input_ids"][:n] + [0] * (12 - n)
        r["attention_mask"] = [1] * n + [0] * (12 - n)
    runs = []
    for trim in (True, False):
        trainer = Trainer(tiny_classifier(), args_for(tmp_path, max_steps=4), train_dataset=rows, trim_padding=trim)
        assert trainer.trim_padding is trim
        trainer.train()
        runs.append(trainer)
    assert losses(runs[0].state.log_history) == pytest.approx(losses(runs[1].state.log_history), abs=1e-6)
    for k, v in weights(runs[0].model).items():
        torch.testing.assert_close(v, weights(runs[1].model)[k], atol=1e-6, rtol=1e-5)
