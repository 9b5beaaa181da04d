"""TrainingArguments: reference defaults and derived values, checked kwargs, conflicts, serialisation."""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import re
import subprocess
import sys

import pytest

from snuggle.errors import ConfigError
from snuggle.training.trainer_utils import IntervalStrategy, OptimizerNames, SaveStrategy, SchedulerType
from snuggle.training.training_args import Seq2SeqTrainingArguments, TrainingArguments

# Parity: for each combination, every field both classes have must hold the same value after __post_init__.
COMBOS = [
    {},
    {"per_device_train_batch_size": 4, "per_device_eval_batch_size": 16, "gradient_accumulation_steps": 3},
    {"eval_strategy": "steps", "eval_steps": 10, "save_steps": 20, "load_best_model_at_end": True},
    {"eval_strategy": "epoch", "save_strategy": "epoch", "metric_for_best_model": "accuracy"},
    {"eval_strategy": "steps", "logging_steps": 7},  # eval_steps falls back to logging_steps
    {"warmup_steps": 0.1, "lr_scheduler_type": "cosine", "lr_scheduler_kwargs": {"num_cycles": 0.25}},
    {"warmup_steps": 12, "lr_scheduler_type": "polynomial", "lr_scheduler_kwargs": '{"power": 2.0}'},
    {"lr_scheduler_type": "reduce_lr_on_plateau", "eval_strategy": "epoch", "save_strategy": "epoch"},
    {"report_to": "tensorboard", "logging_strategy": "epoch", "logging_first_step": True},
    {"report_to": ["none"], "include_num_input_tokens_seen": True, "use_cpu": True},
    {"optim": "sgd", "optim_args": "momentum=0.9", "weight_decay": 0.01, "max_grad_norm": 0.0},
    {"optim": "adafactor", "learning_rate": 1e-3, "seed": 7, "data_seed": 3},
    {"save_strategy": "no", "save_total_limit": 2, "save_only_model": True, "max_steps": 50},
    {"eval_strategy": "steps", "eval_steps": 0.1, "save_steps": 0.2, "load_best_model_at_end": True,
     "greater_is_better": True, "metric_for_best_model": "f1"},
    {"gradient_checkpointing": True, "gradient_checkpointing_kwargs": {"use_reentrant": False}},
    {"torch_compile_mode": "reduce-overhead", "dataloader_num_workers": 2, "dataloader_prefetch_factor": 4},
    {"hub_token": "secret", "push_to_hub": True, "hub_model_id": "me/model", "hub_strategy": "checkpoint"},
    {"debug": "underflow_overflow", "label_names": ["labels"], "disable_tqdm": True, "eval_on_start": True,
     "eval_strategy": "epoch"},
]

# Reference fields snuggle leaves out on purpose (services or kernels we do not ship).
REFERENCE_ONLY = {
    "project", "trackio_space_id", "trackio_bucket_id", "trackio_static_space_id", "liger_kernel_config",
    "parallelism_config", "enable_jit_checkpoint", "dataloader_in_order",
}


@pytest.fixture(scope="module")
def hf():
    transformers = pytest.importorskip("transformers")
    # The reference derives disable_tqdm from its logger's level; other parity modules set that logger
    # to ERROR at import, so compare at the default level (WARNING) and restore it afterwards.
    level = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_warning()
    yield transformers
    transformers.logging.set_verbosity(level)


def _comparable(value):
    if hasattr(value, "value") and not isinstance(value, (int, float, str)):
        return value.value
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


@pytest.mark.parametrize("kwargs", COMBOS, ids=[str(i) for i in range(len(COMBOS))])
def test_field_values_equal_reference(hf, tmp_path, kwargs):
    ours = TrainingArguments(str(tmp_path), **kwargs)
    theirs = hf.TrainingArguments(str(tmp_path), **kwargs)
    their_fields = {f.name for f in __import__("dataclasses").fields(theirs) if f.init}
    our_fields = {f.name for f in __import__("dataclasses").fields(ours) if f.init}
    assert their_fields - our_fields <= REFERENCE_ONLY, their_fields - our_fields
    skip = {"accelerator_config", "fsdp_config"}  # the reference turns these into plugin objects
    for name in sorted((their_fields & our_fields) - skip):
        assert _comparable(getattr(ours, name)) == _comparable(getattr(theirs, name)), name
    assert ours.train_batch_size == theirs.train_batch_size
    assert ours.eval_batch_size == theirs.eval_batch_size
    assert ours.mixed_precision == theirs.mixed_precision
    for total in (1, 7, 100, 1234):
        assert ours.get_warmup_steps(total) == theirs.get_warmup_steps(total)
    assert ours.world_size == theirs.world_size == 1
    assert ours.process_index == theirs.process_index == 0
    assert (ours.should_log, ours.should_save) == (theirs.should_log, theirs.should_save)
    assert str(ours.device) == str(theirs.device) == "cpu"
    ours_d, theirs_d = ours.to_dict(), theirs.to_dict()
    for name in sorted(set(ours_d) & set(theirs_d) - skip):
        assert ours_d[name] == theirs_d[name], name
    json.loads(ours.to_json_string())


def test_defaults_equal_reference(hf):
    ours, theirs = TrainingArguments(), hf.TrainingArguments()
    assert ours.output_dir == theirs.output_dir == "trainer_output"
    assert ours.optim == OptimizerNames(theirs.optim.value)
    assert ours.report_to == theirs.report_to == []
    assert ours.lr_scheduler_type == SchedulerType.LINEAR and ours.eval_strategy == IntervalStrategy.NO
    assert ours.save_strategy == SaveStrategy.STEPS and ours.logging_steps == 500


def test_logging_dir_default_has_reference_shape(hf, tmp_path):
    from transformers.integrations.integration_utils import default_logdir

    ours = TrainingArguments(str(tmp_path)).logging_dir
    shape = re.compile(r"runs/[A-Z][a-z]{2}\d{2}_\d{2}-\d{2}-\d{2}_(.+)$")
    m_ours, m_ref = shape.search(ours), shape.search(default_logdir())
    assert m_ours and m_ref and m_ours.group(1) == m_ref.group(1)
    assert ours.startswith(str(tmp_path) + os.sep + "runs")
    assert TrainingArguments(str(tmp_path), logging_dir="~/tb").logging_dir == os.path.expanduser("~/tb")


def test_sanitized_dict_equals_reference(hf, tmp_path):
    kwargs = {"eval_strategy": "epoch", "save_strategy": "epoch", "lr_scheduler_kwargs": {"power": 2.0}}
    ours = TrainingArguments(str(tmp_path), **kwargs).to_sanitized_dict()
    theirs = hf.TrainingArguments(str(tmp_path), **kwargs).to_sanitized_dict()
    for name in sorted(set(ours) & set(theirs) - {"accelerator_config", "fsdp_config"}):
        assert ours[name] == theirs[name], name
    assert all(type(v) in (bool, int, float, str) for v in ours.values())


def test_seq2seq_fields_equal_reference(hf, tmp_path):
    kwargs = {"predict_with_generate": True, "generation_max_length": 32, "generation_num_beams": 4,
              "sortish_sampler": True}
    ours = Seq2SeqTrainingArguments(str(tmp_path), **kwargs).to_dict()
    theirs = hf.Seq2SeqTrainingArguments(str(tmp_path), **kwargs).to_dict()
    for name in kwargs:
        assert ours[name] == theirs[name]
    assert ours["generation_config"] is None


# ---------------------------------------------------------------------------- kwargs checking


def test_unknown_kwarg_names_field_and_close_match():
    with pytest.raises(TypeError, match=r"'learning_rat'.*'learning_rate'"):
        TrainingArguments("out", learning_rat=1e-3)
    with pytest.raises(TypeError, match="'zzz_qqq'") as err:
        TrainingArguments("out", zzz_qqq=1)
    assert "did you mean" not in str(err.value)
    with pytest.raises(TypeError, match="'predict_with_generat'.*'predict_with_generate'"):
        Seq2SeqTrainingArguments("out", predict_with_generat=True)


def test_evaluation_strategy_is_the_old_name(caplog):
    with caplog.at_level(logging.INFO, logger="snuggle"):
        args = TrainingArguments("out", evaluation_strategy="epoch", save_strategy="epoch")
    assert args.eval_strategy == IntervalStrategy.EPOCH and args.do_eval
    assert sum("evaluation_strategy" in r.getMessage() for r in caplog.records) == 1
    assert "evaluation_strategy" not in args.to_dict()
    with pytest.raises(ConfigError, match="evaluation_strategy.*eval_strategy"):
        TrainingArguments("out", evaluation_strategy="epoch", eval_strategy="steps")
    assert TrainingArguments("out", no_cuda=True).use_cpu is True


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"eval_strategy": "steps", "save_strategy": "epoch", "load_best_model_at_end": True}, "match eval_strategy"),
        ({"eval_strategy": "steps", "eval_steps": 30, "save_steps": 50, "load_best_model_at_end": True},
         "multiple of eval_steps"),
        ({"eval_strategy": "steps", "eval_steps": 0.1, "save_steps": 50, "load_best_model_at_end": True},
         "multiple"),
        ({"load_best_model_at_end": True, "save_strategy": "no"}, "needs evaluation"),
        ({"fp16": True, "bf16": True}, "at most one"),
        ({"fp16": True, "use_cpu": True}, "bf16=True"),
        ({"metric_for_best_model": "accuracy"}, "metric_for_best_model.*eval_strategy"),
        ({"save_strategy": "best"}, "save_strategy='best' needs evaluation"),
        ({"lr_scheduler_type": "reduce_lr_on_plateau"}, "eval_strategy"),
        ({"warmup_ratio": 1.5}, "warmup_ratio must be in"),
        ({"warmup_ratio": -0.1}, "warmup_ratio must be in"),
        ({"warmup_ratio": 0.1, "warmup_steps": 10}, "both set"),
        ({"warmup_steps": -1}, "warmup_steps must be >= 0"),
        ({"warmup_steps": 10.5}, "warmup_steps must be an integer"),
        ({"learning_rate": -1e-3}, "learning_rate must be >= 0"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"per_device_train_batch_size": 0}, "per_device_train_batch_size"),
        ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps"),
        ({"max_steps": 0}, "max_steps"),
        ({"num_train_epochs": -1}, "num_train_epochs"),
        ({"logging_steps": 0}, "logging_steps"),
        ({"logging_steps": 12.5}, "logging_steps must be an integer"),
        ({"save_total_limit": -2}, "save_total_limit"),
        ({"adam_beta2": 1.0}, "adam_beta2"),
        ({"label_smoothing_factor": 1.0}, "label_smoothing_factor"),
        ({"report_to": "wandb"}, "'wandb'.*jsonl"),
        ({"optim": "adamw_8bit"}, "optim:.*adamw_torch"),
        ({"lr_scheduler_type": "zigzag"}, "lr_scheduler_type"),
        ({"eval_strategy": "sometimes"}, "eval_strategy"),
        ({"dataloader_prefetch_factor": 2}, "dataloader_num_workers"),
        ({"torch_empty_cache_steps": 0}, "torch_empty_cache_steps"),
        ({"include_num_input_tokens_seen": "some"}, "include_num_input_tokens_seen"),
        ({"log_level": "loud"}, "log_level"),
        ({"debug": "everything"}, "debug"),
        ({"deepspeed": {"zero_optimization": {}}}, "deepspeed"),
        ({"group_by_length": True, "train_sampling_strategy": "sequential"}, "group_by_length"),
        ({"lr_scheduler_kwargs": '{"power": '}, "lr_scheduler_kwargs: not valid JSON"),
    ],
)
def test_conflicts_and_bad_values_raise_config_error(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        TrainingArguments("out", **kwargs)


def test_fp16_on_cpu_message_names_the_fix():
    with pytest.raises(ConfigError) as err:
        TrainingArguments("out", fp16=True, use_cpu=True)
    assert "bf16" in str(err.value) and "CPU" in str(err.value)


def test_bf16_on_cpu_is_accepted():
    args = TrainingArguments("out", bf16=True)
    assert args.mixed_precision == "bf16" and str(args.device) == "cpu"


def test_derived_values():
    args = TrainingArguments("out", eval_strategy="steps", logging_steps=25, load_best_model_at_end=True,
                             save_steps=50, group_by_length=True, use_cpu=True, lr_scheduler_kwargs='{"num_cycles": "2"}')
    assert args.eval_steps == 25 and args.metric_for_best_model == "loss" and args.greater_is_better is False
    assert args.train_sampling_strategy == "group_by_length"
    assert args.dataloader_pin_memory is False
    assert args.lr_scheduler_kwargs == {"num_cycles": 2}
    assert TrainingArguments("out", metric_for_best_model="f1", eval_strategy="epoch").greater_is_better is True
    assert TrainingArguments("out", warmup_ratio=0.1).get_warmup_steps(95) == 10
    assert TrainingArguments("out", warmup_steps=3).get_warmup_steps(95) == 3
    assert TrainingArguments("out", report_to="all").report_to[0] == "jsonl"
    assert TrainingArguments("out", gradient_checkpointing=True).activation_checkpointing is True


# ---------------------------------------------------------------------------- serialisation


def test_pickles_and_torch_saves(tmp_path):
    import torch

    args = TrainingArguments(str(tmp_path), eval_strategy="steps", eval_steps=5, save_steps=10,
                             load_best_model_at_end=True, lr_scheduler_kwargs={"num_cycles": 2})
    assert pickle.loads(pickle.dumps(args)) == args
    buf = io.BytesIO()
    torch.save(args, buf)
    buf.seek(0)
    back = torch.load(buf, weights_only=False)
    assert back == args and back.eval_strategy is IntervalStrategy.STEPS and back.device.type == "cpu"
    s2s = Seq2SeqTrainingArguments(str(tmp_path), predict_with_generate=True)
    assert pickle.loads(pickle.dumps(s2s)) == s2s


def test_json_round_trip(tmp_path):
    args = TrainingArguments(str(tmp_path), eval_strategy="epoch", save_strategy="epoch", hub_token="secret",
                             report_to="tensorboard", warmup_steps=0.05, optim="sgd", debug="underflow_overflow")
    path = tmp_path / "args.json"
    args.to_json_file(path)
    text = path.read_text()
    assert "secret" not in text and '"hub_token": "<HUB_TOKEN>"' in text
    back = TrainingArguments.from_json_file(path)
    assert back.hub_token is None
    assert back.to_dict() == args.to_dict()
    assert TrainingArguments.from_json(path) == back
    assert Seq2SeqTrainingArguments.from_json_string(
        Seq2SeqTrainingArguments("o", generation_num_beams=2).to_json_string()).generation_num_beams == 2


def test_from_dict_ignores_unknown_keys_and_reads_reference_json(hf, tmp_path):
    theirs = hf.TrainingArguments(str(tmp_path), eval_strategy="epoch", save_strategy="epoch",
                                  learning_rate=3e-4, warmup_steps=0.1)
    ours = TrainingArguments.from_json_string(theirs.to_json_string())
    assert ours.learning_rate == 3e-4 and ours.eval_strategy == IntervalStrategy.EPOCH
    assert ours.get_warmup_steps(100) == theirs.get_warmup_steps(100)


def test_repr_masks_tokens():
    text = repr(TrainingArguments("out", hub_token="secret"))
    assert "secret" not in text and "hub_token=<HUB_TOKEN>" in text


def test_import_does_not_load_torch():
    code = "import sys, snuggle.training.training_args as m; m.TrainingArguments('o'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_main_process_first_single_process():
    order = []
    with TrainingArguments("out").main_process_first(desc="map"):
        order.append("body")
    assert order == ["body"]
