"""Learning-rate schedules, Adafactor, and the Trainer's optimizer/scheduler factory.

Every schedule is a torch LambdaLR whose multiplier is a module-level function bound with
functools.partial, so a scheduler's state_dict (scheduler.pt in a checkpoint) saves and loads.
The multipliers are the reference's (transformers.optimization) to the last floating-point op, so
a run's learning rates are identical.

>>> import torch
>>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
>>> sched = get_scheduler("linear", opt, num_warmup_steps=2, num_training_steps=4)
>>> [sched.lr_lambdas[0](step) for step in range(6)]  # the lr multiplier at each step
[0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
"""

from __future__ import annotations

import math
import re
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

from snuggle.errors import ConfigError
from snuggle.training.trainer_utils import OptimizerNames, SchedulerType
from snuggle.utils.logging import get_logger

logger = get_logger("snuggle.training.optimization")


# ---------------------------------------------------------------------------- lr multipliers
# Each takes the scheduler's step count and returns the factor applied to the base lr.


def _warmup_fraction(step: int, num_warmup_steps: int) -> float:
    return float(step) / float(max(1, num_warmup_steps))


def _constant_lambda(_=None):
    return 1


def _constant_with_warmup_lambda(step: int, *, num_warmup_steps: int):
    if step < num_warmup_steps:
        return float(step) / float(max(1.0, num_warmup_steps))
    return 1.0


def _linear_lambda(step: int, *, num_warmup_steps: int, num_training_steps: int):
    if step < num_warmup_steps:
        return _warmup_fraction(step, num_warmup_steps)
    return max(0.0, float(num_training_steps - step) / float(max(1, num_training_steps - num_warmup_steps)))


def _cosine_lambda(step: int, *, num_warmup_steps: int, num_training_steps: int, num_cycles: float,
                   min_lr_rate: float = 0.0):
    if step < num_warmup_steps:
        return _warmup_fraction(step, num_warmup_steps)
    progress = float(step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
    factor = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
    # with min_lr_rate=0 (plain cosine) the blend is exact: x * 1.0 + 0.0 == x
    factor = factor * (1 - min_lr_rate) + min_lr_rate
    return max(0, factor)


def _cosine_hard_restarts_lambda(step: int, *, num_warmup_steps: int, num_training_steps: int, num_cycles: int):
    if step < num_warmup_steps:
        return _warmup_fraction(step, num_warmup_steps)
    progress = float(step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
    if progress >= 1.0:
        return 0.0
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((float(num_cycles) * progress) % 1.0))))


def _polynomial_lambda(step: int, *, num_warmup_steps: int, num_training_steps: int, lr_end: float, power: float,
                       lr_init: float):
    if step < num_warmup_steps:
        return _warmup_fraction(step, num_warmup_steps)
    if step > num_training_steps:
        return lr_end / lr_init  # LambdaLR multiplies by lr_init again
    remaining = 1 - (step - num_warmup_steps) / (num_training_steps - num_warmup_steps)
    return ((lr_init - lr_end) * remaining**power + lr_end) / lr_init


def _inverse_sqrt_lambda(step: int, *, num_warmup_steps: int, timescale: int):
    if step < num_warmup_steps:
        return _warmup_fraction(step, num_warmup_steps)
    shift = timescale - num_warmup_steps
    return 1.0 / math.sqrt((step + shift) / timescale)


def _wsd_lambda(step: int, *, num_warmup_steps: int, num_stable_steps: int, num_decay_steps: int, warmup_type: str,
                decay_type: str, min_lr_ratio: float, num_cycles: float):
    if step < num_warmup_steps:
        progress = float(step) / float(max(1, num_warmup_steps))
        if warmup_type == "linear":
            factor = progress
        elif warmup_type == "cosine":
            factor = 0.5 * (1.0 - math.cos(math.pi * progress))
        else:  # "1-sqrt"
            factor = 1.0 - math.sqrt(1.0 - progress)
        return max(0.0, factor * (1.0 - min_lr_ratio) + min_lr_ratio)
    if step < num_warmup_steps + num_stable_steps:
        return 1.0
    if step < num_warmup_steps + num_stable_steps + num_decay_steps:
        progress = float(step - num_warmup_steps - num_stable_steps) / float(max(1, num_decay_steps))
        if decay_type == "linear":
            factor = 1.0 - progress
        elif decay_type == "cosine":
            factor = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
        else:  # "1-sqrt"
            factor = 1.0 - math.sqrt(progress)
        return max(0.0, factor * (1.0 - min_lr_ratio) + min_lr_ratio)
    return min_lr_ratio


# ---------------------------------------------------------------------------- schedule constructors


def get_constant_schedule(optimizer: Optimizer, last_epoch: int = -1) -> LambdaLR:
    """The optimizer's lr, unchanged.

    >>> opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    >>> get_constant_schedule(opt).get_last_lr()
    [0.1]
    """
    return LambdaLR(optimizer, _constant_lambda, last_epoch=last_epoch)


def get_constant_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int, last_epoch: int = -1) -> LambdaLR:
    """Linear warmup from 0 over num_warmup_steps, then constant."""
    return LambdaLR(optimizer, partial(_constant_with_warmup_lambda, num_warmup_steps=num_warmup_steps),
                    last_epoch=last_epoch)


def get_linear_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int,
                                    last_epoch: int = -1) -> LambdaLR:
    """Linear warmup, then linear decay to 0 at num_training_steps (the Trainer's default)."""
    fn = partial(_linear_lambda, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps)
    return LambdaLR(optimizer, fn, last_epoch)


def get_cosine_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int,
                                    num_cycles: float = 0.5, last_epoch: int = -1) -> LambdaLR:
    """Linear warmup, then a cosine from 1 to 0 (num_cycles=0.5 is a half wave)."""
    fn = partial(_cosine_lambda, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps,
                 num_cycles=num_cycles)
    return LambdaLR(optimizer, fn, last_epoch)


def get_cosine_with_hard_restarts_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int,
                                                        num_training_steps: int, num_cycles: int = 1,
                                                        last_epoch: int = -1) -> LambdaLR:
    """Linear warmup, then num_cycles cosine decays each restarting at the base lr."""
    fn = partial(_cosine_hard_restarts_lambda, num_warmup_steps=num_warmup_steps,
                 num_training_steps=num_training_steps, num_cycles=num_cycles)
    return LambdaLR(optimizer, fn, last_epoch)


def get_polynomial_decay_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int,
                                              lr_end: float = 1e-7, power: float = 1.0,
                                              last_epoch: int = -1) -> LambdaLR:
    """Linear warmup, then (lr - lr_end) * (1 - progress)**power + lr_end, then lr_end."""
    lr_init = optimizer.defaults["lr"]
    if not lr_init > lr_end:
        raise ConfigError(f"polynomial schedule: lr_end ({lr_end}) must be smaller than the optimizer's lr ({lr_init})")
    fn = partial(_polynomial_lambda, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps,
                 lr_end=lr_end, power=power, lr_init=lr_init)
    return LambdaLR(optimizer, fn, last_epoch)


def get_inverse_sqrt_schedule(optimizer: Optimizer, num_warmup_steps: int, timescale: int | None = None,
                              last_epoch: int = -1) -> LambdaLR:
    """Linear warmup, then lr / sqrt((step + timescale - warmup) / timescale); timescale defaults to warmup or 10k."""
    if timescale is None:
        timescale = num_warmup_steps or 10_000
    fn = partial(_inverse_sqrt_lambda, num_warmup_steps=num_warmup_steps, timescale=timescale)
    return LambdaLR(optimizer, fn, last_epoch=last_epoch)


def get_reduce_on_plateau_schedule(optimizer: Optimizer, **kwargs) -> ReduceLROnPlateau:
    """torch's ReduceLROnPlateau; the Trainer steps it with the eval metric."""
    return ReduceLROnPlateau(optimizer, **kwargs)


def get_cosine_with_min_lr_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int,
                                                num_cycles: float = 0.5, last_epoch: int = -1,
                                                min_lr: float | None = None,
                                                min_lr_rate: float | None = None) -> LambdaLR:
    """Cosine decay that ends at min_lr (absolute) or min_lr_rate * lr instead of 0."""
    if min_lr is not None and min_lr_rate is not None:
        raise ConfigError("cosine_with_min_lr: pass min_lr or min_lr_rate in lr_scheduler_kwargs, not both")
    if min_lr is not None:
        min_lr_rate = min_lr / optimizer.defaults["lr"]
    elif min_lr_rate is None:
        raise ConfigError("cosine_with_min_lr needs min_lr or min_lr_rate in lr_scheduler_kwargs")
    fn = partial(_cosine_lambda, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps,
                 num_cycles=num_cycles, min_lr_rate=min_lr_rate)
    return LambdaLR(optimizer, fn, last_epoch)


def get_wsd_schedule(optimizer: Optimizer, num_warmup_steps: int, num_decay_steps: int,
                     num_training_steps: int | None = None, num_stable_steps: int | None = None,
                     warmup_type: str = "linear", decay_type: str = "cosine", min_lr_ratio: float = 0,
                     num_cycles: float = 0.5, last_epoch: int = -1) -> LambdaLR:
    """Warmup-stable-decay: warmup, a flat stretch, then a decay to min_lr_ratio * lr over num_decay_steps."""
    if num_training_steps is None and num_stable_steps is None:
        raise ConfigError("warmup_stable_decay needs num_training_steps or num_stable_steps")
    for name, kind in (("warmup_type", warmup_type), ("decay_type", decay_type)):
        if kind not in ("linear", "cosine", "1-sqrt"):
            raise ConfigError(f"warmup_stable_decay: {name}={kind!r}; expected 'linear', 'cosine' or '1-sqrt'")
    if num_stable_steps is None:
        num_stable_steps = num_training_steps - num_warmup_steps - num_decay_steps
    elif num_training_steps is not None:
        logger.info("warmup_stable_decay: both num_training_steps and num_stable_steps given; using num_stable_steps")
    fn = partial(_wsd_lambda, num_warmup_steps=num_warmup_steps, num_stable_steps=num_stable_steps,
                 num_decay_steps=num_decay_steps, warmup_type=warmup_type, decay_type=decay_type,
                 min_lr_ratio=min_lr_ratio, num_cycles=num_cycles)
    return LambdaLR(optimizer, fn, last_epoch)


TYPE_TO_SCHEDULER_FUNCTION = {
    SchedulerType.LINEAR: get_linear_schedule_with_warmup,
    SchedulerType.COSINE: get_cosine_schedule_with_warmup,
    SchedulerType.COSINE_WITH_RESTARTS: get_cosine_with_hard_restarts_schedule_with_warmup,
    SchedulerType.POLYNOMIAL: get_polynomial_decay_schedule_with_warmup,
    SchedulerType.CONSTANT: get_constant_schedule,
    SchedulerType.CONSTANT_WITH_WARMUP: get_constant_schedule_with_warmup,
    SchedulerType.INVERSE_SQRT: get_inverse_sqrt_schedule,
    SchedulerType.REDUCE_ON_PLATEAU: get_reduce_on_plateau_schedule,
    SchedulerType.COSINE_WITH_MIN_LR: get_cosine_with_min_lr_schedule_with_warmup,
    SchedulerType.WARMUP_STABLE_DECAY: get_wsd_schedule,
}


def get_scheduler(name: str | SchedulerType, optimizer: Optimizer, num_warmup_steps: int | None = None,
                  num_training_steps: int | None = None, scheduler_specific_kwargs: dict | None = None):
    """Any schedule by its name; scheduler_specific_kwargs go to the schedule (e.g. num_cycles, lr_end, power).

    >>> opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> get_scheduler("cosine", opt, num_warmup_steps=0, num_training_steps=10).get_last_lr()
    [1.0]
    """
    try:
        name = SchedulerType(name)
    except ValueError as e:
        raise ConfigError(f"lr_scheduler_type: {e}") from None
    build = TYPE_TO_SCHEDULER_FUNCTION[name]
    extra = dict(scheduler_specific_kwargs or {})
    if name == SchedulerType.CONSTANT:
        return build(optimizer)
    if name == SchedulerType.REDUCE_ON_PLATEAU:
        return build(optimizer, **extra)
    if num_warmup_steps is None:
        raise ConfigError(f"lr_scheduler_type={name.value!r} needs num_warmup_steps")
    if name == SchedulerType.CONSTANT_WITH_WARMUP:
        return build(optimizer, num_warmup_steps=num_warmup_steps)
    if name == SchedulerType.INVERSE_SQRT:
        return build(optimizer, num_warmup_steps=num_warmup_steps, **extra)
    if name != SchedulerType.WARMUP_STABLE_DECAY and num_training_steps is None:
        raise ConfigError(f"lr_scheduler_type={name.value!r} needs num_training_steps")
    try:
        return build(optimizer, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps, **extra)
    except TypeError as e:
        if "unexpected keyword" not in str(e):
            raise
        raise ConfigError(
            f"lr_scheduler_kwargs {sorted(extra)} do not fit lr_scheduler_type={name.value!r}: {e}") from None


# ---------------------------------------------------------------------------- Adafactor


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern, 2018): Adam-like steps with factored second moments for matrices.

    Same arguments, defaults and update rule as transformers.optimization.Adafactor. With the
    defaults the step size is relative (min(1e-2, 1/sqrt(step))) and scaled by the parameter RMS;
    for an external lr and schedule pass `lr=..., scale_parameter=False, relative_step=False`.

    >>> p = nn.Parameter(torch.ones(2, 3))
    >>> p.grad = torch.full((2, 3), 0.5)
    >>> Adafactor([p], lr=1e-2, relative_step=False, scale_parameter=False).step()
    >>> round(p[0, 0].item(), 4)
    0.99
    """

    def __init__(self, params, lr=None, eps=(1e-30, 1e-3), clip_threshold=1.0, decay_rate=-0.8, beta1=None,
                 weight_decay=0.0, scale_parameter=True, relative_step=True, warmup_init=False):
        if lr is not None and relative_step:
            raise ConfigError("Adafactor: an explicit lr needs relative_step=False (relative_step computes its own lr)")
        if warmup_init and not relative_step:
            raise ConfigError("Adafactor: warmup_init=True needs relative_step=True")
        defaults = {"lr": lr, "eps": eps, "clip_threshold": clip_threshold, "decay_rate": decay_rate, "beta1": beta1,
                    "weight_decay": weight_decay, "scale_parameter": scale_parameter, "relative_step": relative_step,
                    "warmup_init": warmup_init}
        super().__init__(params, defaults)

    @staticmethod
    def _get_lr(group: dict, state: dict) -> float:
        """The step size of this parameter now: relative schedule and RMS scaling applied."""
        step_size = group["lr"]
        if group["relative_step"]:
            floor = 1e-6 * state["step"] if group["warmup_init"] else 1e-2
            step_size = min(floor, 1.0 / math.sqrt(state["step"]))
        scale = max(group["eps"][1], state["RMS"]) if group["scale_parameter"] else 1.0
        return scale * step_size

    @staticmethod
    def _rms(t: torch.Tensor) -> torch.Tensor:
        return t.norm(2) / (t.numel() ** 0.5)

    @staticmethod
    def _approx_sq_grad(row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
        # rank-1 reconstruction of 1/sqrt(E[g^2]) from the row and column means: (..., rows, 1) * (..., 1, cols)
        r = (row / row.mean(dim=-1, keepdim=True)).rsqrt_().unsqueeze(-1)
        c = col.unsqueeze(-2).rsqrt()
        return torch.mul(r, c)

    def _init_state(self, state: dict, grad: torch.Tensor, factored: bool, use_first_moment: bool) -> None:
        state["step"] = 0
        if use_first_moment:
            state["exp_avg"] = torch.zeros_like(grad)
        if factored:
            state["exp_avg_sq_row"] = torch.zeros(grad.shape[:-1]).to(grad)
            state["exp_avg_sq_col"] = torch.zeros(grad.shape[:-2] + grad.shape[-1:]).to(grad)
        else:
            state["exp_avg_sq"] = torch.zeros_like(grad)
        state["RMS"] = 0

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.float() if p.grad.dtype in (torch.float16, torch.bfloat16) else p.grad
                if grad.is_sparse:
                    raise RuntimeError("Adafactor does not support sparse gradients")
                state = self.state[p]
                factored = grad.dim() >= 2
                use_first_moment = group["beta1"] is not None
                if not state:
                    self._init_state(state, grad, factored, use_first_moment)
                else:  # moments follow the grad's device/dtype (e.g. after load_state_dict)
                    for key in ("exp_avg", "exp_avg_sq_row", "exp_avg_sq_col", "exp_avg_sq"):
                        if key in state:
                            state[key] = state[key].to(grad)
                low_precision = p.dtype in (torch.float16, torch.bfloat16)
                p32 = p.float() if low_precision else p

                state["step"] += 1
                state["RMS"] = self._rms(p32)
                lr = self._get_lr(group, state)
                beta2t = 1.0 - math.pow(state["step"], group["decay_rate"])
                update = grad**2 + group["eps"][0]
                if factored:
                    row, col = state["exp_avg_sq_row"], state["exp_avg_sq_col"]
                    row.mul_(beta2t).add_(update.mean(dim=-1), alpha=1.0 - beta2t)
                    col.mul_(beta2t).add_(update.mean(dim=-2), alpha=1.0 - beta2t)
                    update = self._approx_sq_grad(row, col)
                    update.mul_(grad)
                else:
                    sq = state["exp_avg_sq"]
                    sq.mul_(beta2t).add_(update, alpha=1.0 - beta2t)
                    update = sq.rsqrt().mul_(grad)
                # clip the update's RMS to clip_threshold, then scale by the step size
                update.div_((self._rms(update) / group["clip_threshold"]).clamp_(min=1.0))
                update.mul_(lr)
                if use_first_moment:
                    state["exp_avg"].mul_(group["beta1"]).add_(update, alpha=1 - group["beta1"])
                    update = state["exp_avg"]
                if group["weight_decay"] != 0:
                    p32.add_(p32, alpha=-group["weight_decay"] * lr)
                p32.add_(-update)
                if low_precision:
                    p.copy_(p32)
        return loss


def _adafactor_initial_lambda(_step, *, initial_lr: float):
    return initial_lr


class AdafactorSchedule(LambdaLR):
    """A stand-in scheduler for Adafactor with relative_step=True: get_lr() reports the lr Adafactor used.

    >>> p = nn.Parameter(torch.ones(2))
    >>> AdafactorSchedule(Adafactor([p])).get_last_lr()
    [0.0]
    """

    def __init__(self, optimizer: Optimizer, initial_lr: float = 0.0):
        # LambdaLR reads "initial_lr" for base_lrs (Adafactor's lr may be None); remove it afterwards
        for group in optimizer.param_groups:
            group["initial_lr"] = initial_lr
        super().__init__(optimizer, partial(_adafactor_initial_lambda, initial_lr=initial_lr))
        for group in optimizer.param_groups:
            del group["initial_lr"]

    def get_lr(self):
        opt = self.optimizer
        lrs = [opt._get_lr(g, opt.state[g["params"][0]]) for g in opt.param_groups if g["params"][0].grad is not None]
        return lrs or self.base_lrs  # before the first step


def get_adafactor_schedule(optimizer: Optimizer, initial_lr: float = 0.0) -> AdafactorSchedule:
    return AdafactorSchedule(optimizer, initial_lr)


# ---------------------------------------------------------------------------- Trainer factory

ALL_LAYERNORM_LAYERS = [nn.LayerNorm]
# Parameter names that never get weight decay: biases and every norm layer's weights, whatever its class.
NO_DECAY_NAME_PATTERNS = [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]


def get_parameter_names(model: nn.Module, forbidden_layer_types, forbidden_layer_names=None) -> list[str]:
    """Names of the parameters not inside a forbidden layer type and not matching a forbidden name regex.

    >>> m = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
    >>> get_parameter_names(m, [nn.LayerNorm], ["bias"])
    ['0.weight']
    """
    patterns = [re.compile(p) for p in (forbidden_layer_names or [])]
    types = tuple(forbidden_layer_types)
    names: list[str] = []

    def visit(module: nn.Module, prefix: str) -> None:
        for child_name, child in module.named_children():
            if isinstance(child, types):
                continue
            visit(child, f"{prefix}{child_name}.")
        # direct parameters, in registration order after the children's (the reference's order)
        names.extend(prefix + k for k in module._parameters)

    visit(model, "")
    return [n for n in names if not any(p.search(n.lower()) for p in patterns)]


def get_decay_parameter_names(model: nn.Module) -> list[str]:
    """Parameters that get weight decay: everything except biases and LayerNorm/RMSNorm-like weights.

    >>> get_decay_parameter_names(nn.Linear(2, 2))
    ['weight']
    """
    return get_parameter_names(model, ALL_LAYERNORM_LAYERS, NO_DECAY_NAME_PATTERNS)


def _parse_optim_args(text: str | None) -> dict[str, str]:
    """'momentum=0.9, nesterov=True' -> {'momentum': '0.9', 'nesterov': 'True'}."""
    if not text:
        return {}
    out = {}
    for item in text.replace(" ", "").split(","):
        if item.count("=") != 1:
            raise ConfigError(f"optim_args: {item!r} is not key=value (expected e.g. 'momentum=0.9,nesterov=True')")
        key, value = item.split("=")
        out[key] = value
    return out


def _as_bool(text: str) -> bool:
    return text.lower() in ("true", "1", "yes")


def get_optimizer_cls_and_kwargs(args, model: nn.Module | None = None) -> tuple[type, dict[str, Any]]:
    """The optimizer class and its keyword arguments for args.optim (reference's Trainer.get_optimizer_cls_and_kwargs).

    >>> from snuggle.training.training_args import TrainingArguments
    >>> cls, kw = get_optimizer_cls_and_kwargs(TrainingArguments("out", optim="sgd", optim_args="momentum=0.9"))
    >>> cls.__name__, kw
    ('SGD', {'lr': 5e-05, 'momentum': 0.9})
    """
    kwargs: dict[str, Any] = {"lr": args.learning_rate}
    adam = {"betas": (args.adam_beta1, args.adam_beta2), "eps": args.adam_epsilon}
    extra = _parse_optim_args(args.optim_args)
    optim = OptimizerNames(args.optim)

    def take(keys, convert=float):
        for key in keys:
            if key in extra:
                kwargs[key] = convert(extra[key])

    if optim in (OptimizerNames.ADAMW_TORCH, OptimizerNames.ADAMW_TORCH_FUSED):
        kwargs.update(adam)
        if optim == OptimizerNames.ADAMW_TORCH_FUSED:
            kwargs["fused"] = True
        return torch.optim.AdamW, kwargs
    if optim == OptimizerNames.ADAFACTOR:
        kwargs.update(scale_parameter=False, relative_step=False)
        return Adafactor, kwargs
    if optim == OptimizerNames.SGD:
        take(("momentum", "dampening", "weight_decay"))
        take(("nesterov",), _as_bool)
        return torch.optim.SGD, kwargs
    if optim == OptimizerNames.ADAGRAD:
        take(("lr_decay", "weight_decay", "eps"))
        return torch.optim.Adagrad, kwargs
    if optim == OptimizerNames.RMSPROP:
        take(("momentum", "alpha", "eps", "weight_decay"))
        take(("centered",), _as_bool)
        return torch.optim.RMSprop, kwargs
    raise ConfigError(f"optim={optim.value!r} has no optimizer in snuggle")  # pragma: no cover - enum is closed


def create_optimizer(model: nn.Module, args) -> Optimizer:
    """The Trainer's default optimizer: args.optim over two groups, weight decay / no weight decay.

    >>> from snuggle.training.training_args import TrainingArguments
    >>> opt = create_optimizer(nn.Linear(2, 2), TrainingArguments("out", weight_decay=0.01, optim="adamw_torch"))
    >>> [(len(g["params"]), g["weight_decay"]) for g in opt.param_groups]
    [(1, 0.01), (1, 0.0)]
    """
    decay = set(get_decay_parameter_names(model))
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if n in decay], "weight_decay": args.weight_decay},
        {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0},
    ]
    cls, kwargs = get_optimizer_cls_and_kwargs(args, model)
    if kwargs.get("fused"):
        try:
            return cls(groups, **kwargs)
        except RuntimeError as e:  # torch has no fused kernel for this device/dtype
            logger.info(f"optim='adamw_torch_fused' is not available here ({e}); using the unfused AdamW")
            kwargs.pop("fused")
    return cls(groups, **kwargs)


def create_scheduler(args, optimizer: Optimizer, num_training_steps: int):
    """The Trainer's scheduler: args.lr_scheduler_type with warmup from args and args.lr_scheduler_kwargs.

    >>> from snuggle.training.training_args import TrainingArguments
    >>> args = TrainingArguments("out", warmup_steps=0.5, optim="sgd")
    >>> create_scheduler(args, create_optimizer(nn.Linear(2, 2), args), 10).get_last_lr()
    [0.0, 0.0]
    """
    return get_scheduler(args.lr_scheduler_type, optimizer=optimizer,
                         num_warmup_steps=args.get_warmup_steps(num_training_steps),
                         num_training_steps=num_training_steps, scheduler_specific_kwargs=args.lr_scheduler_kwargs)
