"""The optimizer and scheduler returned by Accelerator.prepare: they only act on the steps where
gradients are synchronised, so a loop written for one batch per step also does gradient accumulation.

>>> import torch
>>> p = torch.nn.Parameter(torch.ones(1))
>>> opt = AcceleratedOptimizer(torch.optim.SGD([p], lr=1.0))
>>> p.grad = torch.ones(1); opt.step(); p.data
tensor([0.])
"""

from __future__ import annotations

import inspect

import torch

from snuggle.accelerate.state import AcceleratorState, GradientState


class AcceleratedOptimizer(torch.optim.Optimizer):
    """Wraps `optimizer`: step()/zero_grad() run only when GradientState().sync_gradients is True;
    with a GradScaler (fp16 on CUDA) step() unscales, skips on inf/nan and updates the scale."""

    def __init__(self, optimizer: torch.optim.Optimizer, device_placement: bool = True, scaler=None):
        # Deliberately no super().__init__: all optimizer state lives in the wrapped optimizer.
        self.optimizer = optimizer
        self.scaler = scaler
        self.gradient_state = GradientState()
        self.accelerator_state = AcceleratorState()
        self.device_placement = device_placement
        self._is_overflow = False
        if device_placement and optimizer.state:
            # state loaded before prepare(): move it next to the parameters
            state_dict = optimizer.state_dict()
            optimizer.load_state_dict(state_dict)

    # the torch.optim.Optimizer attributes people read, forwarded
    @property
    def state(self):
        return self.optimizer.state

    @state.setter
    def state(self, value):
        self.optimizer.state = value

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @param_groups.setter
    def param_groups(self, value):
        self.optimizer.param_groups = value

    @property
    def defaults(self):
        return self.optimizer.defaults

    @defaults.setter
    def defaults(self, value):
        self.optimizer.defaults = value

    def add_param_group(self, param_group: dict) -> None:
        self.optimizer.add_param_group(param_group)

    def load_state_dict(self, state_dict: dict) -> None:
        self.optimizer.load_state_dict(state_dict)

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def zero_grad(self, set_to_none: bool | None = None) -> None:
        if not self.gradient_state.sync_gradients:
            return  # accumulating: keep the gradients
        if "set_to_none" in inspect.signature(self.optimizer.zero_grad).parameters:
            self.optimizer.zero_grad(set_to_none=True if set_to_none is None else set_to_none)
        else:
            self.optimizer.zero_grad()

    def step(self, closure=None):
        if not self.gradient_state.sync_gradients:
            return None
        if self.scaler is None:
            self._is_overflow = False
            return self.optimizer.step(closure) if closure is not None else self.optimizer.step()
        scale_before = self.scaler.get_scale()
        result = self.scaler.step(self.optimizer, closure) if closure is not None else self.scaler.step(self.optimizer)
        self.scaler.update()
        # GradScaler lowers the scale exactly when it skipped the step because of inf/nan gradients
        self._is_overflow = self.scaler.get_scale() < scale_before
        return result

    def train(self):
        if hasattr(self.optimizer, "train"):
            self.optimizer.train()

    def eval(self):
        if hasattr(self.optimizer, "eval"):
            self.optimizer.eval()

    @property
    def step_was_skipped(self) -> bool:
        """True when the last step() was skipped because of fp16 overflow."""
        return self._is_overflow

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("gradient_state", "accelerator_state")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.gradient_state = GradientState()
        self.accelerator_state = AcceleratorState()

    def __repr__(self) -> str:
        return f"AcceleratedOptimizer({self.optimizer!r})"


class AcceleratedScheduler:
    """Wraps a learning-rate scheduler prepared with its optimizer(s).

    With step_with_optimizer (default) the scheduler advances only when the optimizer really
    stepped; while accumulating it only bumps its step counter (adjust_scheduler). Without
    split_batches each process consumes its own batch, so one training step covers
    `num_processes` loader batches and the scheduler is stepped `num_processes` times
    (accelerate's convention: size the schedule in single-process batches).
    """

    def __init__(self, scheduler, optimizers, step_with_optimizer: bool = True, split_batches: bool = False):
        self.scheduler = scheduler
        self.optimizers = optimizers if isinstance(optimizers, (list, tuple)) else [optimizers]
        self.split_batches = split_batches
        self.step_with_optimizer = step_with_optimizer
        self.gradient_state = GradientState()

    def step(self, *args, **kwargs) -> None:
        if not self.step_with_optimizer:
            self.scheduler.step(*args, **kwargs)
            return
        if not self.gradient_state.sync_gradients:
            if self.gradient_state.adjust_scheduler:
                self.scheduler._step_count += 1
            return
        if any(getattr(opt, "step_was_skipped", False) for opt in self.optimizers):
            return
        repeats = 1 if self.split_batches else AcceleratorState().num_processes
        for _ in range(repeats):
            total = getattr(self.scheduler, "total_steps", None)  # OneCycleLR refuses steps past its end
            if total is None or self.scheduler._step_count <= total:
                self.scheduler.step(*args, **kwargs)

    def get_last_lr(self):
        return self.scheduler.get_last_lr()

    def state_dict(self):
        return self.scheduler.state_dict()

    def load_state_dict(self, state_dict) -> None:
        self.scheduler.load_state_dict(state_dict)

    def get_lr(self):
        return self.scheduler.get_lr()

    def print_lr(self, *args, **kwargs):
        return self.scheduler.print_lr(*args, **kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "scheduler":
            raise AttributeError(name)
        return getattr(self.scheduler, name)
