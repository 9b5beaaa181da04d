"""TrainingArguments: every knob of a Trainer run in one dataclass, with the reference's names and defaults.

The field names and defaults follow transformers 5.x (`warmup_steps` is an int or, below 1, a ratio
of the total steps; `report_to` defaults to "none"); a few 4.x names that scripts still pass are
kept (`evaluation_strategy`, `no_cuda` as aliases; `warmup_ratio`, `logging_dir`,
`overwrite_output_dir`, `group_by_length`, `save_safetensors`, `past_index` as fields).
Everything is checked once in `__post_init__`: an unknown keyword is a TypeError naming the
closest field, a contradiction is a ConfigError naming both arguments and the fix.

Importing this module does not import torch; `device`, `world_size` and friends import it lazily.

>>> args = TrainingArguments("out", eval_strategy="steps", eval_steps=50, warmup_steps=0.1)
>>> args.eval_strategy, args.get_warmup_steps(1000), args.report_to
(<IntervalStrategy.STEPS: 'steps'>, 100, [])
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib.util
import json
import logging
import math
import os
from dataclasses import dataclass, field, fields
from datetime import timedelta
from enum import Enum
from typing import Any

from snuggle.errors import ConfigError
from snuggle.training.trainer_utils import (
    HubStrategy,
    IntervalStrategy,
    OptimizerNames,
    SaveStrategy,
    SchedulerType,
)
from snuggle.utils.logging import get_logger

logger = get_logger("snuggle.training.training_args")

# "passive" keeps whatever level the snuggle logger already has (the reference's convention).
trainer_log_levels = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50, "passive": -1}

# report_to values we can serve (snuggle.training.integrations); "all" means every installed one.
SUPPORTED_REPORT_TO = ("jsonl", "tensorboard")

# Old keyword -> current field. Accepted with one info line, like the reference did while deprecating.
_RENAMED_KWARGS = {"evaluation_strategy": "eval_strategy", "no_cuda": "use_cpu"}

# Fields that may be given as a JSON string ('{"num_cycles": 2}'), e.g. from a command line.
_DICT_FIELDS = (
    "lr_scheduler_kwargs",
    "fsdp_config",
    "accelerator_config",
    "deepspeed",
    "activation_checkpointing_kwargs",
    "gradient_checkpointing_kwargs",
)

_DEBUG_OPTIONS = ("underflow_overflow", "tpu_metrics_debug")


def _default_optim() -> str:
    # The reference picks the fused AdamW from torch 2.8 on; read the version without importing torch.
    try:
        from importlib.metadata import version

        major, minor = (int(x) for x in version("torch").split(".")[:2])
        return "adamw_torch_fused" if (major, minor) >= (2, 8) else "adamw_torch"
    except Exception:  # torch missing or an odd version string: the safe choice
        return "adamw_torch"


def default_logdir(output_dir: str) -> str:
    """<output_dir>/runs/<Mon DD_HH-MM-SS>_<host>, the reference's TensorBoard folder shape."""
    import socket
    from datetime import datetime

    return os.path.join(output_dir, "runs", datetime.now().strftime("%b%d_%H-%M-%S") + "_" + socket.gethostname())


class ParallelMode(Enum):
    NOT_PARALLEL = "not_parallel"
    NOT_DISTRIBUTED = "not_distributed"
    DISTRIBUTED = "distributed"


class _CheckedKwargs(type):
    """Metaclass that vets constructor keywords before the dataclass __init__ sees them.

    It maps the old names to the new ones and turns an unknown keyword into a TypeError that names
    the closest field. A metaclass (not an __init__ wrapper) so subclass dataclasses get it too.
    """

    def __call__(cls, *args, **kwargs):
        names = {f.name for f in fields(cls) if f.init} if dataclasses.is_dataclass(cls) else set()
        for old, new in _RENAMED_KWARGS.items():
            if old in kwargs and old not in names:
                value = kwargs.pop(old)
                if new in kwargs and kwargs[new] != value:
                    raise ConfigError(
                        f"{old}={value!r} and {new}={kwargs[new]!r} disagree; {old} is the old name of {new}: "
                        f"pass only {new}"
                    )
                logger.info(f"`{old}` is the old name of `{new}`; using {new}={value!r}")
                kwargs[new] = value
        unknown = [k for k in kwargs if k not in names]
        if unknown and names:
            name = unknown[0]
            close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"{cls.__name__} got an unknown argument {name!r}{hint}")
        return super().__call__(*args, **kwargs)


def _parse_json_dict(name: str, value: Any) -> Any:
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            loaded = json.loads(value)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{name}: not valid JSON ({e}): {value!r}") from None
        return {k: _from_cli_string(v) for k, v in loaded.items()}
    return value


def _from_cli_string(value: Any) -> Any:
    # '{"a": "true", "b": "3"}' from a shell means booleans and numbers, as in the reference.
    if not isinstance(value, str):
        return value
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _check_steps(name: str, value: float | None, strategy_active: bool) -> float | int | None:
    """`*_steps`: a positive int, or a float in (0, 1) meaning a fraction of the total steps."""
    if value is None or not strategy_active:
        return value
    if value <= 0:
        raise ConfigError(f"{name} must be > 0 (an int, or a float in (0, 1) for a fraction of the run), got {value}")
    if value > 1:
        if value != int(value):
            raise ConfigError(f"{name} must be an integer when larger than 1, got {value}")
        return int(value)
    return value


@dataclass
class TrainingArguments(metaclass=_CheckedKwargs):
    """The arguments of a Trainer run (the reference's names and defaults).

    >>> TrainingArguments("out", per_device_train_batch_size=16).train_batch_size
    16
    """

    # --- output
    output_dir: str | None = None
    overwrite_output_dir: bool = False
    # --- duration and batch size
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    num_train_epochs: float = 3.0
    max_steps: int = -1
    gradient_accumulation_steps: int = 1
    auto_find_batch_size: bool = False
    # --- learning rate, schedule, optimizer
    learning_rate: float = 5e-5
    lr_scheduler_type: SchedulerType | str = "linear"
    lr_scheduler_kwargs: dict | str | None = None
    warmup_steps: float = 0
    warmup_ratio: float | None = None
    optim: OptimizerNames | str = field(default_factory=_default_optim)
    optim_args: str | None = None
    optim_target_modules: None | str | list[str] = None
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    label_smoothing_factor: float = 0.0
    average_tokens_across_devices: bool = True
    # --- precision, memory, compilation
    bf16: bool = False
    fp16: bool = False
    bf16_full_eval: bool = False
    fp16_full_eval: bool = False
    tf32: bool | None = None
    activation_checkpointing: bool | None = None
    activation_checkpointing_kwargs: dict | str | None = None
    gradient_checkpointing: bool | None = None
    gradient_checkpointing_kwargs: dict | str | None = None
    torch_compile: bool = False
    torch_compile_backend: str | None = None
    torch_compile_mode: str | None = None
    use_liger_kernel: bool = False
    use_cache: bool = False
    neftune_noise_alpha: float | None = None
    torch_empty_cache_steps: int | None = None
    # --- logging
    logging_dir: str | None = None
    logging_strategy: IntervalStrategy | str = "steps"
    logging_steps: float = 500
    logging_first_step: bool = False
    log_on_each_node: bool = True
    logging_nan_inf_filter: bool = True
    include_num_input_tokens_seen: str | bool = "no"
    log_level: str = "passive"
    log_level_replica: str = "warning"
    disable_tqdm: bool | None = None
    report_to: None | str | list[str] = "none"
    run_name: str | None = None
    # --- evaluation
    eval_strategy: IntervalStrategy | str = "no"
    eval_steps: float | None = None
    eval_delay: float = 0
    prediction_loss_only: bool = False
    eval_on_start: bool = False
    eval_do_concat_batches: bool = True
    eval_use_gather_object: bool = False
    eval_accumulation_steps: int | None = None
    include_for_metrics: list[str] = field(default_factory=list)
    batch_eval_metrics: bool = False
    # --- checkpoints
    save_only_model: bool = False
    save_strategy: SaveStrategy | str = "steps"
    save_steps: float = 500
    save_on_each_node: bool = False
    save_total_limit: int | None = None
    save_safetensors: bool = True
    # --- hub
    push_to_hub: bool = False
    hub_token: str | None = None
    hub_private_repo: bool | None = None
    hub_model_id: str | None = None
    hub_strategy: HubStrategy | str = "every_save"
    hub_always_push: bool = False
    hub_revision: str | None = None
    # --- best model
    load_best_model_at_end: bool = False
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None
    # --- resuming and reproducibility
    ignore_data_skip: bool = False
    restore_callback_states_from_checkpoint: bool = False
    full_determinism: bool = False
    seed: int = 42
    data_seed: int | None = None
    # --- hardware and distribution
    use_cpu: bool = False
    accelerator_config: dict | str | None = None
    ddp_find_unused_parameters: bool | None = None
    ddp_bucket_cap_mb: int | None = None
    ddp_broadcast_buffers: bool | None = None
    ddp_static_graph: bool | None = None
    ddp_backend: str | None = None
    ddp_timeout: int = 1800
    fsdp: str | bool | list | None = None
    fsdp_config: dict | str | None = None
    deepspeed: dict | str | None = None
    local_rank: int = -1
    # --- data loading
    dataloader_drop_last: bool = False
    dataloader_num_workers: int = 0
    dataloader_pin_memory: bool = True
    dataloader_persistent_workers: bool = False
    dataloader_prefetch_factor: int | None = None
    dataloader_multiprocessing_context: str | None = None
    remove_unused_columns: bool = True
    label_names: list[str] | None = None
    train_sampling_strategy: str = "random"
    group_by_length: bool = False
    length_column_name: str = "length"
    past_index: int = -1
    # --- debugging and script flags
    debug: str | list[str] = ""
    skip_memory_metrics: bool = True
    do_train: bool = False
    do_eval: bool = False
    do_predict: bool = False
    resume_from_checkpoint: str | None = None

    # ------------------------------------------------------------------ normalisation
    def __post_init__(self):
        if self.output_dir is None:
            self.output_dir = "trainer_output"
            logger.info("no output_dir given; using 'trainer_output'")
        self.output_dir = os.path.expanduser(os.fspath(self.output_dir))
        if self.logging_dir is None:
            self.logging_dir = default_logdir(self.output_dir)
        self.logging_dir = os.path.expanduser(os.fspath(self.logging_dir))

        for name in _DICT_FIELDS:
            setattr(self, name, _parse_json_dict(name, getattr(self, name)))
        if isinstance(self.lr_scheduler_kwargs, str):
            raise ConfigError(
                f"lr_scheduler_kwargs must be a dict or a JSON object string, got {self.lr_scheduler_kwargs!r}")

        # gradient_checkpointing* are the older names of activation_checkpointing*; keep both in step.
        for old, new in (("gradient_checkpointing", "activation_checkpointing"),
                         ("gradient_checkpointing_kwargs", "activation_checkpointing_kwargs")):
            if getattr(self, new) is None and getattr(self, old) is not None:
                setattr(self, new, getattr(self, old))
            setattr(self, old, getattr(self, new))
        if self.activation_checkpointing is None:
            self.activation_checkpointing = self.gradient_checkpointing = False

        if self.disable_tqdm is None:
            self.disable_tqdm = logger.getEffectiveLevel() > logging.WARNING
        if isinstance(self.include_num_input_tokens_seen, bool):
            self.include_num_input_tokens_seen = "all" if self.include_num_input_tokens_seen else "no"

        self.eval_strategy = self._enum("eval_strategy", IntervalStrategy)
        self.logging_strategy = self._enum("logging_strategy", IntervalStrategy)
        self.save_strategy = self._enum("save_strategy", SaveStrategy)
        self.hub_strategy = self._enum("hub_strategy", HubStrategy)
        self.lr_scheduler_type = self._enum("lr_scheduler_type", SchedulerType)
        self.optim = self._enum("optim", OptimizerNames)

        if isinstance(self.debug, str):
            self.debug = self.debug.split()
        self.debug = list(self.debug or [])
        for option in self.debug:
            if str(option) not in _DEBUG_OPTIONS:
                raise ConfigError(f"debug: unknown option {option!r}; expected some of {', '.join(_DEBUG_OPTIONS)}")

        if self.group_by_length:
            if self.train_sampling_strategy not in ("random", "group_by_length"):
                raise ConfigError(f"group_by_length=True conflicts with train_sampling_strategy="
                                  f"{self.train_sampling_strategy!r}; pass only train_sampling_strategy")
            self.train_sampling_strategy = "group_by_length"
        elif self.train_sampling_strategy == "group_by_length":
            self.group_by_length = True

        if self.do_eval is False and self.eval_strategy != IntervalStrategy.NO:
            self.do_eval = True
        if self.eval_strategy == IntervalStrategy.STEPS and not self.eval_steps:
            if self.logging_steps and self.logging_steps > 0:
                logger.info(f"eval_steps not set; using logging_steps={self.logging_steps}")
                self.eval_steps = self.logging_steps
            else:
                raise ConfigError("eval_strategy='steps' needs a non-zero eval_steps (or logging_steps)")

        if (self.load_best_model_at_end or self.lr_scheduler_type == SchedulerType.REDUCE_ON_PLATEAU) and (
            self.metric_for_best_model is None
        ):
            self.metric_for_best_model = "loss"
        if self.greater_is_better is None and self.metric_for_best_model is not None:
            self.greater_is_better = not self.metric_for_best_model.endswith("loss")

        self.report_to = self._normalise_report_to(self.report_to)
        self._validate()

        self.mixed_precision = "fp16" if self.fp16 else "bf16" if self.bf16 else os.environ.get(
            "ACCELERATE_MIXED_PRECISION", "no")
        if (self.torch_compile_mode is not None or self.torch_compile_backend is not None) and not self.torch_compile:
            self.torch_compile = True
        if self.torch_compile and self.torch_compile_backend is None:
            self.torch_compile_backend = "inductor"
        if self.use_cpu:
            self.dataloader_pin_memory = False
        if not self.fsdp:
            self.fsdp = None
        elif isinstance(self.fsdp_config, str):
            with open(self.fsdp_config, encoding="utf-8") as f:
                self.fsdp_config = json.load(f)
        if self.fsdp and isinstance(self.fsdp_config, dict):
            # "fsdp_"-prefixed keys are the older spelling of the same options
            self.fsdp_config = {(k[5:] if k.startswith("fsdp_") else k): v for k, v in self.fsdp_config.items()}

    def _enum(self, name: str, enum_cls):
        try:
            return enum_cls(getattr(self, name))
        except ValueError as e:
            raise ConfigError(f"{name}: {e}") from None

    @staticmethod
    def _normalise_report_to(report_to) -> list[str]:
        if report_to is None or report_to == "none" or report_to == ["none"]:
            return []
        if report_to == "all" or report_to == ["all"]:
            found = ["jsonl"]
            if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
                found.append("tensorboard")
            return found
        names = [report_to] if isinstance(report_to, str) else list(report_to)
        for name in names:
            if name not in SUPPORTED_REPORT_TO:
                raise ConfigError(
                    f"report_to: {name!r} is not an integration snuggle has; use some of "
                    f"{', '.join(SUPPORTED_REPORT_TO)}, 'all' or 'none'"
                )
        return names

    def _validate(self) -> None:
        """Every check that needs more than one field, or a range; raise ConfigError naming the fields."""
        positive_ints = ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        non_negative = ("learning_rate", "weight_decay", "adam_epsilon", "max_grad_norm", "num_train_epochs",
                        "eval_delay", "dataloader_num_workers")
        for name in non_negative:
            value = getattr(self, name)
            if value is None or value < 0:
                raise ConfigError(f"{name} must be >= 0, got {value!r}")
        for name in ("adam_beta1", "adam_beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.label_smoothing_factor < 1.0:
            raise ConfigError(f"label_smoothing_factor must be in [0, 1), got {self.label_smoothing_factor}")
        if not isinstance(self.max_steps, int) or self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError(
                f"max_steps must be a positive integer, or -1 to use num_train_epochs; got {self.max_steps!r}")
        for name in ("save_total_limit", "eval_accumulation_steps", "torch_empty_cache_steps"):
            value = getattr(self, name)
            floor = 0 if name == "save_total_limit" else 1
            if value is not None and (not isinstance(value, int) or value < floor):
                raise ConfigError(f"{name} must be None or an integer >= {floor}, got {value!r}")

        # warmup: warmup_steps >= 1 is a step count, below 1 a fraction; warmup_ratio is the 4.x spelling
        if self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.warmup_steps > 1 and self.warmup_steps != int(self.warmup_steps):
            raise ConfigError(
                f"warmup_steps must be an integer when larger than 1 (or a fraction below 1), got {self.warmup_steps}")
        if self.warmup_ratio is not None:
            if not 0.0 <= self.warmup_ratio <= 1.0:
                raise ConfigError(f"warmup_ratio must be in [0, 1], got {self.warmup_ratio}")
            if self.warmup_steps > 0 and self.warmup_ratio > 0:
                raise ConfigError(f"warmup_steps={self.warmup_steps} and warmup_ratio={self.warmup_ratio} both set; "
                                  "pass one (warmup_steps below 1 is also read as a ratio)")

        if self.logging_strategy == IntervalStrategy.STEPS and not self.logging_steps:
            raise ConfigError("logging_strategy='steps' needs a non-zero logging_steps")
        self.logging_steps = _check_steps("logging_steps", self.logging_steps,
                                          self.logging_strategy == IntervalStrategy.STEPS)
        self.eval_steps = _check_steps("eval_steps", self.eval_steps, self.eval_strategy == IntervalStrategy.STEPS)
        self.save_steps = _check_steps("save_steps", self.save_steps, self.save_strategy == SaveStrategy.STEPS)

        evaluating = self.eval_strategy != IntervalStrategy.NO
        if self.load_best_model_at_end:
            if not evaluating:
                raise ConfigError(
                    "load_best_model_at_end=True needs evaluation: set eval_strategy to 'steps' or 'epoch'")
            if self.save_strategy != SaveStrategy.BEST:
                if self.eval_strategy.value != self.save_strategy.value:
                    raise ConfigError(
                        "load_best_model_at_end=True needs save_strategy to match eval_strategy "
                        "(or save_strategy='best'); "
                        f"got eval_strategy={self.eval_strategy.value!r}, save_strategy={self.save_strategy.value!r}"
                    )
                steps = self.eval_strategy == IntervalStrategy.STEPS
                if steps and not self._is_multiple(self.save_steps, self.eval_steps):
                    raise ConfigError(
                        f"load_best_model_at_end=True needs save_steps ({self.save_steps}) to be a round multiple of "
                        f"eval_steps ({self.eval_steps}), so every checkpoint has an evaluation"
                    )
        if self.save_strategy == SaveStrategy.BEST and not evaluating:
            raise ConfigError("save_strategy='best' needs evaluation: set eval_strategy to 'steps' or 'epoch'")
        if self.metric_for_best_model is not None and not evaluating:
            raise ConfigError(f"metric_for_best_model={self.metric_for_best_model!r} needs evaluation: "
                              "set eval_strategy to 'steps' or 'epoch', or drop metric_for_best_model")
        if self.lr_scheduler_type == SchedulerType.REDUCE_ON_PLATEAU and not evaluating:
            raise ConfigError("lr_scheduler_type='reduce_lr_on_plateau' steps on the eval metric: set eval_strategy")

        if self.fp16 and self.bf16:
            raise ConfigError("fp16=True and bf16=True: pick at most one mixed precision")
        if self.fp16_full_eval and self.bf16_full_eval:
            raise ConfigError("fp16_full_eval=True and bf16_full_eval=True: pick at most one")
        if (self.fp16 or self.fp16_full_eval) and not self._cuda_usable():
            raise ConfigError("fp16 mixed precision needs a CUDA GPU; on CPU use bf16=True (torch.autocast with "
                              "bfloat16) or neither")
        if self.tf32 and not self._cuda_usable():
            raise ConfigError("tf32=True needs an Ampere-or-newer CUDA GPU; leave tf32 unset on CPU")
        if self.deepspeed:
            raise ConfigError("deepspeed is not supported by snuggle; use fsdp (torch FSDP) or plain DDP")
        if self.use_liger_kernel:
            raise ConfigError("use_liger_kernel=True is not supported by snuggle; drop it")

        if self.dataloader_num_workers == 0 and self.dataloader_prefetch_factor is not None:
            raise ConfigError("dataloader_prefetch_factor only applies with worker processes: "
                              "set dataloader_num_workers > 0 or drop dataloader_prefetch_factor")
        if self.include_num_input_tokens_seen not in ("all", "non_padding", "no"):
            raise ConfigError("include_num_input_tokens_seen must be 'all', 'non_padding', 'no' or a bool, "
                              f"got {self.include_num_input_tokens_seen!r}")
        for name in ("log_level", "log_level_replica"):
            if getattr(self, name) not in trainer_log_levels:
                raise ConfigError(f"{name} must be one of {', '.join(trainer_log_levels)}, got {getattr(self, name)!r}")
        if self.train_sampling_strategy not in ("random", "sequential", "group_by_length", "batch_rebalance"):
            raise ConfigError("train_sampling_strategy must be 'random', 'sequential', 'group_by_length' or "
                              f"'batch_rebalance', got {self.train_sampling_strategy!r}")
        if self.ddp_backend not in (None, "gloo", "nccl", "mpi", "xccl", "hccl", "cncl", "mccl"):
            raise ConfigError(f"ddp_backend must be one of gloo, nccl, mpi, ..., got {self.ddp_backend!r}")

    @staticmethod
    def _is_multiple(save_steps, eval_steps) -> bool:
        if save_steps >= 1 and eval_steps >= 1:
            return save_steps % eval_steps == 0
        if (save_steps < 1) != (eval_steps < 1):
            return False  # a ratio and a step count cannot be promised to line up
        scale = 1_000_000  # compare fractions in integers: 0.3 % 0.1 is not 0 in floating point
        return round(save_steps * scale) % round(eval_steps * scale) == 0

    def _cuda_usable(self) -> bool:
        if self.use_cpu:
            return False
        import torch

        return torch.cuda.is_available()

    # ------------------------------------------------------------------ derived values
    @property
    def train_batch_size(self) -> int:
        """Samples per forward pass in this process: per_device_train_batch_size * max(1, n_gpu)."""
        return self.per_device_train_batch_size * max(1, self.n_gpu)

    @property
    def eval_batch_size(self) -> int:
        return self.per_device_eval_batch_size * max(1, self.n_gpu)

    @property
    def ddp_timeout_delta(self) -> timedelta:
        return timedelta(seconds=self.ddp_timeout)

    @property
    def distributed_state(self):
        """The process-wide snuggle.accelerate PartialState (initialises torch.distributed under torchrun)."""
        from snuggle.accelerate.state import PartialState

        return PartialState(cpu=self.use_cpu, backend=self.ddp_backend, timeout=self.ddp_timeout_delta)

    @property
    def device(self):
        """torch.device of this process: cuda:<local_rank> when CUDA is usable, else cpu."""
        import torch

        if self.use_cpu or not torch.cuda.is_available():
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:
                self.distributed_state  # noqa: B018 - joins the process group
            return torch.device("cpu")
        return self.distributed_state.device

    @property
    def n_gpu(self) -> int:
        """GPUs this process drives: 0 on CPU, else 1 (snuggle uses one device per process, no DataParallel)."""
        return 0 if self.device.type == "cpu" else 1

    @property
    def parallel_mode(self) -> ParallelMode:
        return ParallelMode.DISTRIBUTED if self.world_size > 1 else ParallelMode.NOT_PARALLEL

    @property
    def world_size(self) -> int:
        return self.distributed_state.num_processes

    @property
    def process_index(self) -> int:
        return self.distributed_state.process_index

    @property
    def local_process_index(self) -> int:
        return self.distributed_state.local_process_index

    @property
    def should_log(self) -> bool:
        """True on the process that logs: local rank 0 of each node, or global rank 0 (log_on_each_node=False)."""
        return self.local_process_index == 0 if self.log_on_each_node else self.process_index == 0

    @property
    def should_save(self) -> bool:
        """True on the process that writes checkpoints (global rank 0, or each node's rank 0)."""
        return self.local_process_index == 0 if self.save_on_each_node else self.process_index == 0

    @property
    def place_model_on_device(self) -> bool | None:
        return None

    def get_process_log_level(self) -> int:
        """The logging level for this process: log_level on the logging process, log_level_replica elsewhere."""
        main, replica = trainer_log_levels[self.log_level], trainer_log_levels[self.log_level_replica]
        current = logging.getLogger("snuggle").getEffectiveLevel()
        level = main if self.should_log else replica
        return current if level == -1 else level

    @contextlib.contextmanager
    def main_process_first(self, local: bool = True, desc: str = "work"):
        """Run the body on the main process first, the others after it (e.g. a cached dataset.map).

        >>> with TrainingArguments("out").main_process_first(desc="tokenize"):
        ...     pass
        """
        if self.world_size <= 1:
            yield
            return
        import torch.distributed as dist

        state = self.distributed_state
        is_main = state.is_local_main_process if local else state.is_main_process
        if not is_main:
            logger.debug(f"process {self.process_index} waits for the main process to finish {desc}")
            dist.barrier()
        try:
            yield
        finally:
            if is_main:
                dist.barrier()

    def get_warmup_steps(self, num_training_steps: int) -> int:
        """Warmup steps for a run of num_training_steps: warmup_steps if >= 1, else ceil(fraction * total).

        >>> TrainingArguments("out", warmup_steps=0.05).get_warmup_steps(30)
        2
        """
        if self.warmup_steps >= 1:
            return int(self.warmup_steps)
        ratio = self.warmup_steps if self.warmup_steps > 0 else (self.warmup_ratio or 0.0)
        return math.ceil(num_training_steps * ratio)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """The init fields as plain JSON-able values (enums as strings, tokens masked), like the reference."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        for k, v in d.items():
            if isinstance(v, Enum):
                d[k] = v.value
            elif isinstance(v, list) and v and isinstance(v[0], Enum):
                d[k] = [x.value for x in v]
            elif hasattr(v, "to_dict") and not isinstance(v, (dict, list, str)):
                d[k] = v.to_dict()
            if k.endswith("_token"):
                d[k] = f"<{k.upper()}>"
        return d

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_json_file(self, path: str | os.PathLike) -> None:
        """Write to_json_string() to `path` atomically."""
        from snuggle.utils.atomic import atomic_write_text

        atomic_write_text(path, self.to_json_string() + "\n")

    def to_sanitized_dict(self) -> dict[str, Any]:
        """to_dict() plus the derived batch sizes, every value a bool/int/float/str (for TensorBoard hparams)."""
        d = {**self.to_dict(), "train_batch_size": self.train_batch_size, "eval_batch_size": self.eval_batch_size}
        return {k: v if type(v) in (bool, int, float, str) else str(v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any], **overrides):
        """Rebuild from to_dict() output; keys this class does not know are dropped with one warning.

        >>> args = TrainingArguments("out", learning_rate=1e-3)
        >>> TrainingArguments.from_dict(args.to_dict()).learning_rate
        0.001
        """
        names = {f.name for f in fields(cls) if f.init}
        kwargs = {k: v for k, v in {**d, **overrides}.items() if k in names}
        dropped = sorted(set(d) - names - set(_RENAMED_KWARGS))
        if dropped:
            logger.warning(f"{cls.__name__}.from_dict: ignoring fields snuggle does not have: {', '.join(dropped)}")
        for k, v in list(kwargs.items()):
            if k.endswith("_token") and v == f"<{k.upper()}>":
                kwargs[k] = None  # a masked token from to_dict() is no token at all
        if "logging_dir" in kwargs and "output_dir" in overrides and "logging_dir" not in overrides:
            kwargs.pop("logging_dir")  # a new output_dir gets its own default logging_dir
        return cls(**kwargs)

    @classmethod
    def from_json_string(cls, text: str, **overrides):
        return cls.from_dict(json.loads(text), **overrides)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike, **overrides):
        """Read a file written by to_json_file() (or the reference's to_json_string())."""
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f), **overrides)

    from_json = from_json_file

    def __str__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown = {k: f"<{k.upper()}>" if k.endswith("_token") else v for k, v in shown.items()}
        body = "".join(f"{k}={v},\n" for k, v in sorted(shown.items()))
        return f"{type(self).__name__}(\n{body})"

    __repr__ = __str__


@dataclass
class Seq2SeqTrainingArguments(TrainingArguments):
    """TrainingArguments plus the generation settings of a Seq2SeqTrainer evaluation.

    >>> Seq2SeqTrainingArguments("out", predict_with_generate=True, generation_num_beams=4).generation_num_beams
    4
    """

    sortish_sampler: bool = False
    predict_with_generate: bool = False
    generation_max_length: int | None = None
    generation_num_beams: int | None = None
    generation_config: Any = None

    def __post_init__(self):
        super().__post_init__()
        for name in ("generation_max_length", "generation_num_beams"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be None or an integer >= 1, got {value!r}")
