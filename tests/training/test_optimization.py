"""Schedules, Adafactor and the Trainer's optimizer factory, against transformers where it has them."""

from __future__ import annotations

import io
import logging

import pytest
import torch
from torch import nn

from snuggle.errors import ConfigError
from snuggle.training import optimization as ours
from snuggle.training.training_args import TrainingArguments


@pytest.fixture(scope="module")
def hf():
    return pytest.importorskip("transformers")


def _opt(lr=1e-3):
    return torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=lr)


def _lrs(scheduler, steps):
    out = []
    for _ in range(steps):
        out.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    return out


SCHEDULES = [
    ("linear", 0, None),
    ("linear", 7, None),
    ("linear", 40, None),  # warmup longer than the run
    ("cosine", 5, None),
    ("cosine", 3, {"num_cycles": 1.5}),
    ("cosine_with_restarts", 4, {"num_cycles": 3}),
    ("polynomial", 6, None),
    ("polynomial", 2, {"lr_end": 1e-5, "power": 2.0}),
    ("constant", 0, None),
    ("constant_with_warmup", 9, None),
    ("inverse_sqrt", 5, None),
    ("inverse_sqrt", 0, {"timescale": 7}),
    ("cosine_with_min_lr", 4, {"min_lr": 1e-5}),
    ("cosine_with_min_lr", 4, {"min_lr_rate": 0.1, "num_cycles": 0.75}),
    ("warmup_stable_decay", 5, {"num_decay_steps": 10}),
    ("warmup_stable_decay", 6, {"num_decay_steps": 8, "warmup_type": "cosine", "decay_type": "1-sqrt",
                                "min_lr_ratio": 0.1}),
    ("warmup_stable_decay", 4, {"num_decay_steps": 8, "warmup_type": "1-sqrt", "decay_type": "linear",
                                "num_stable_steps": 10}),
]


@pytest.mark.parametrize("name, warmup, kwargs", SCHEDULES, ids=[f"{s[0]}-{i}" for i, s in enumerate(SCHEDULES)])
def test_schedule_equals_reference(hf, name, warmup, kwargs):
    from transformers.optimization import get_scheduler as ref_get_scheduler

    total = 30
    mine = ours.get_scheduler(name, _opt(), num_warmup_steps=warmup, num_training_steps=total,
                              scheduler_specific_kwargs=kwargs)
    theirs = ref_get_scheduler(name, _opt(), num_warmup_steps=warmup, num_training_steps=total,
                               scheduler_specific_kwargs=dict(kwargs) if kwargs else None)
    a, b = _lrs(mine, total + 5), _lrs(theirs, total + 5)
    assert a == pytest.approx(b, abs=1e-12, rel=0)
    assert len(set(a)) > 1 or name == "constant"


def test_reduce_on_plateau_equals_reference(hf):
    from transformers.optimization import get_scheduler as ref_get_scheduler

    kwargs = {"factor": 0.5, "patience": 1}
    mine = ours.get_scheduler("reduce_lr_on_plateau", _opt(), scheduler_specific_kwargs=kwargs)
    theirs = ref_get_scheduler("reduce_lr_on_plateau", _opt(), scheduler_specific_kwargs=kwargs)
    for metric in [1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.6, 0.7]:
        mine.step(metric)
        theirs.step(metric)
        assert mine.optimizer.param_groups[0]["lr"] == theirs.optimizer.param_groups[0]["lr"]
    assert mine.optimizer.param_groups[0]["lr"] < 1e-3


@pytest.mark.parametrize("name, kwargs", [("linear", None), ("cosine_with_restarts", {"num_cycles": 2}),
                                          ("polynomial", {"power": 3.0}), ("warmup_stable_decay",
                                                                          {"num_decay_steps": 5})])
def test_scheduler_state_dict_round_trips_through_torch_save(name, kwargs):
    sched = ours.get_scheduler(name, _opt(), num_warmup_steps=3, num_training_steps=20,
                               scheduler_specific_kwargs=kwargs)
    _lrs(sched, 8)
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)  # scheduler.pt: must not hit an unpicklable closure
    buf.seek(0)
    resumed = ours.get_scheduler(name, _opt(), num_warmup_steps=3, num_training_steps=20,
                                 scheduler_specific_kwargs=kwargs)
    resumed.load_state_dict(torch.load(buf, weights_only=False))
    assert _lrs(resumed, 10) == _lrs(sched, 10)


def test_get_scheduler_errors_name_the_problem():
    with pytest.raises(ConfigError, match="lr_scheduler_type"):
        ours.get_scheduler("zigzag", _opt())
    with pytest.raises(ConfigError, match="num_warmup_steps"):
        ours.get_scheduler("linear", _opt(), num_training_steps=10)
    with pytest.raises(ConfigError, match="num_training_steps"):
        ours.get_scheduler("cosine", _opt(), num_warmup_steps=0)
    with pytest.raises(ConfigError, match=r"lr_scheduler_kwargs \['power'\].*cosine"):
        ours.get_scheduler("cosine", _opt(), 0, 10, scheduler_specific_kwargs={"power": 2})
    with pytest.raises(ConfigError, match="lr_end"):
        ours.get_scheduler("polynomial", _opt(lr=1e-8), 0, 10)
    with pytest.raises(ConfigError, match="min_lr"):
        ours.get_scheduler("cosine_with_min_lr", _opt(), 0, 10)
    with pytest.raises(ConfigError, match="warmup_type"):
        ours.get_scheduler("warmup_stable_decay", _opt(), 0, 10, {"num_decay_steps": 2, "warmup_type": "exp"})


def test_create_scheduler_uses_args_warmup_and_kwargs(hf):
    args = TrainingArguments("out", warmup_steps=0.2, lr_scheduler_type="cosine",
                             lr_scheduler_kwargs={"num_cycles": 1.0}, optim="sgd")
    sched = ours.create_scheduler(args, _opt(), num_training_steps=20)
    from transformers.optimization import get_cosine_schedule_with_warmup

    ref = get_cosine_schedule_with_warmup(_opt(), 4, 20, num_cycles=1.0)
    assert _lrs(sched, 22) == pytest.approx(_lrs(ref, 22), abs=1e-12, rel=0)


# ---------------------------------------------------------------------------- Adafactor

ADAFACTOR_CONFIGS = [
    {},
    {"warmup_init": True},
    {"lr": 1e-2, "relative_step": False, "scale_parameter": False},
    {"lr": 1e-2, "relative_step": False, "scale_parameter": True, "beta1": 0.9, "weight_decay": 0.01},
    {"clip_threshold": 0.5, "decay_rate": -0.5, "eps": (1e-20, 1e-2)},
]


def _random_params(seed):
    g = torch.Generator().manual_seed(seed)
    shapes = [(6, 5), (5,), (3, 4, 2), (1, 7)]
    return [nn.Parameter(torch.randn(s, generator=g)) for s in shapes], g


@pytest.mark.parametrize("config", ADAFACTOR_CONFIGS, ids=[str(i) for i in range(len(ADAFACTOR_CONFIGS))])
def test_adafactor_updates_equal_reference(hf, config):
    from transformers.optimization import Adafactor as RefAdafactor
    from transformers.optimization import AdafactorSchedule as RefSchedule

    mine_p, g = _random_params(0)
    ref_p = [nn.Parameter(p.detach().clone()) for p in mine_p]
    initial = [p.detach().clone() for p in mine_p]
    mine, ref = ours.Adafactor(mine_p, **config), RefAdafactor(ref_p, **config)
    # AdafactorSchedule is for relative_step runs only (it sets a fixed lr to initial_lr=0)
    relative = "lr" not in config
    mine_s, ref_s = (ours.AdafactorSchedule(mine), RefSchedule(ref)) if relative else (None, None)
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=g) for p in mine_p]
        for p, q, grad in zip(mine_p, ref_p, grads):
            p.grad, q.grad = grad.clone(), grad.clone()
        mine.step()
        ref.step()
        if not relative:
            continue
        mine_s.step()
        ref_s.step()
        # the lr is a 0-d tensor when scale_parameter multiplies it by the parameter RMS
        assert [float(x) for x in mine_s.get_last_lr()] == pytest.approx([float(x) for x in ref_s.get_last_lr()],
                                                                         rel=1e-12)
    for p, q in zip(mine_p, ref_p):
        torch.testing.assert_close(p, q, rtol=0, atol=0)  # same ops in the same order: bit-equal
    assert all(not torch.equal(p, p0) for p, p0 in zip(mine_p, initial))
    for p, q in zip(mine_p, ref_p):
        for key, value in ref.state[q].items():
            mine_value = mine.state[p][key]
            if torch.is_tensor(value):
                torch.testing.assert_close(mine_value, value, rtol=0, atol=0)
            else:
                assert mine_value == value


def test_adafactor_bf16_params_update_in_fp32_and_state_dict_round_trips():
    p = nn.Parameter(torch.randn(4, 3).to(torch.bfloat16))
    before = p.detach().clone()
    opt = ours.Adafactor([p], lr=0.1, relative_step=False, scale_parameter=False)
    p.grad = torch.ones_like(p)
    opt.step()
    assert p.dtype == torch.bfloat16 and not torch.equal(p, before)
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    again = ours.Adafactor([nn.Parameter(p.detach().clone())], lr=0.1, relative_step=False, scale_parameter=False)
    again.load_state_dict(torch.load(buf, weights_only=False))
    assert again.state_dict()["state"][0]["step"] == 1


def test_adafactor_rejects_contradictory_options():
    params = [nn.Parameter(torch.zeros(2))]
    with pytest.raises(ConfigError, match="relative_step=False"):
        ours.Adafactor(params, lr=1e-3)
    with pytest.raises(ConfigError, match="warmup_init"):
        ours.Adafactor(params, lr=1e-3, relative_step=False, warmup_init=True)


# ---------------------------------------------------------------------------- create_optimizer


def _tiny_bert(hf_side: bool):
    cfg = dict(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
               max_position_embeddings=32, num_labels=3)
    if hf_side:
        import transformers

        return transformers.BertForSequenceClassification(transformers.BertConfig(**cfg))
    from snuggle.models import BertConfig, BertForSequenceClassification

    return BertForSequenceClassification(BertConfig(**cfg))


def _tiny_llama(hf_side: bool):
    cfg = dict(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
               intermediate_size=32, max_position_embeddings=32, tie_word_embeddings=False)
    if hf_side:
        import transformers

        return transformers.LlamaForCausalLM(transformers.LlamaConfig(**cfg))
    from snuggle.models import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(**cfg))


def _group_names(model, optimizer):
    names = {id(p): n for n, p in model.named_parameters()}
    return [(sorted(names[id(p)] for p in g["params"]), g["weight_decay"]) for g in optimizer.param_groups]


@pytest.mark.parametrize("build", [_tiny_bert, _tiny_llama], ids=["bert", "llama"])
def test_weight_decay_groups_equal_reference_trainer(hf, tmp_path, build):
    kwargs = dict(weight_decay=0.05, learning_rate=3e-4, adam_beta2=0.98, adam_epsilon=1e-7, report_to="none")
    ref_model = build(True)
    trainer = hf.Trainer(model=ref_model, args=hf.TrainingArguments(str(tmp_path), **kwargs))
    ref_opt = trainer.create_optimizer()
    model = build(False)
    mine = ours.create_optimizer(model, TrainingArguments(str(tmp_path), **kwargs))
    assert _group_names(model, mine) == _group_names(ref_model, ref_opt)
    assert type(mine) is type(ref_opt)
    assert mine.defaults == ref_opt.defaults
    no_decay = _group_names(model, mine)[1][0]
    assert no_decay and all("bias" in n or "norm" in n.lower() for n in no_decay)


@pytest.mark.parametrize("optim, optim_args", [
    ("adamw_torch", None), ("adamw_torch_fused", None), ("sgd", "momentum=0.9,nesterov=True,dampening=0"),
    ("adafactor", None), ("adagrad", "lr_decay=0.01,eps=1e-9"), ("rmsprop", "alpha=0.95,centered=true,momentum=0.5"),
])
def test_optimizer_class_and_kwargs_equal_reference(hf, optim, optim_args):
    kwargs = dict(optim=optim, optim_args=optim_args, learning_rate=2e-3, weight_decay=0.1, report_to="none")
    ref_cls, ref_kwargs = hf.Trainer.get_optimizer_cls_and_kwargs(hf.TrainingArguments("out", **kwargs))
    cls, got = ours.get_optimizer_cls_and_kwargs(TrainingArguments("out", **kwargs))
    assert got == ref_kwargs
    assert cls.__name__ == ref_cls.__name__
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    opt = ours.create_optimizer(model, TrainingArguments("out", **kwargs))
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    assert [len(g["params"]) for g in opt.param_groups] == [2, 4]


def test_fused_adamw_falls_back_with_one_info_line(monkeypatch, caplog):
    real = torch.optim.AdamW

    class NoFused(real):
        def __init__(self, params, **kw):
            if kw.get("fused"):
                raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of supported devices")
            super().__init__(params, **kw)

    monkeypatch.setattr(torch.optim, "AdamW", NoFused)
    with caplog.at_level(logging.INFO, logger="snuggle"):
        opt = ours.create_optimizer(nn.Linear(2, 2), TrainingArguments("out", optim="adamw_torch_fused"))
    assert isinstance(opt, NoFused) and not opt.defaults.get("fused")
    assert sum("adamw_torch_fused" in r.getMessage() for r in caplog.records) == 1


def test_fused_adamw_is_fused_on_cpu():
    opt = ours.create_optimizer(nn.Linear(2, 2), TrainingArguments("out", optim="adamw_torch_fused"))
    assert opt.defaults["fused"] is True


def test_bad_optim_args_raise():
    with pytest.raises(ConfigError, match="optim_args"):
        ours.create_optimizer(nn.Linear(2, 2), TrainingArguments("out", optim="sgd", optim_args="momentum"))


def test_get_parameter_names_equals_reference(hf):
    from transformers.trainer_pt_utils import get_parameter_names as ref

    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(3))

    model = nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3), nn.Sequential(RMSNorm(), nn.Linear(3, 3)))
    model.register_parameter("top_bias", nn.Parameter(torch.zeros(1)))
    model.register_parameter("scale", nn.Parameter(torch.zeros(1)))
    model.final_norm = RMSNorm()
    model.norm = RMSNorm()
    patterns = ours.NO_DECAY_NAME_PATTERNS
    assert ours.get_parameter_names(model, [nn.LayerNorm], patterns) == ref(model, [nn.LayerNorm], patterns)
    assert ours.get_parameter_names(model, [nn.LayerNorm]) == ref(model, [nn.LayerNorm])
    assert ours.get_decay_parameter_names(model) == hf.Trainer.get_decay_parameter_names(None, model)
