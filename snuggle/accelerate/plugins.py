"""Plain dataclasses that configure an Accelerator (accelerate's names and defaults):
GradientAccumulationPlugin, FullyShardedDataParallelPlugin, ProjectConfiguration and the
`kwargs_handlers` (DistributedDataParallelKwargs, GradScalerKwargs, InitProcessGroupKwargs,
AutocastKwargs).

>>> DistributedDataParallelKwargs(find_unused_parameters=True).to_kwargs()
{'find_unused_parameters': True}
>>> GradientAccumulationPlugin(num_steps=4).num_steps
4
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable

from snuggle.errors import ConfigError


class KwargsHandler:
    """Base of the kwargs handlers: `to_kwargs()` gives the fields that differ from the defaults."""

    def to_kwargs(self) -> dict[str, Any]:
        defaults = type(self)()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(defaults, f.name)}


@dataclass
class DistributedDataParallelKwargs(KwargsHandler):
    """Arguments passed to torch.nn.parallel.DistributedDataParallel."""

    dim: int = 0
    broadcast_buffers: bool = True
    bucket_cap_mb: int = 25
    find_unused_parameters: bool = False
    check_reduction: bool = False
    gradient_as_bucket_view: bool = False
    static_graph: bool = False


@dataclass
class GradScalerKwargs(KwargsHandler):
    """Arguments of torch.amp.GradScaler (fp16 on CUDA)."""

    init_scale: float = 65536.0
    growth_factor: float = 2.0
    backoff_factor: float = 0.5
    growth_interval: int = 2000
    enabled: bool = True


@dataclass
class InitProcessGroupKwargs(KwargsHandler):
    """Arguments of torch.distributed.init_process_group (backend, timeout)."""

    backend: str | None = None
    init_method: str | None = None
    timeout: timedelta | None = None


@dataclass
class AutocastKwargs(KwargsHandler):
    """Arguments of torch.autocast used by Accelerator.autocast()."""

    enabled: bool = True
    cache_enabled: bool | None = None


@dataclass
class GradientAccumulationPlugin(KwargsHandler):
    """How gradient accumulation behaves.

    num_steps: batches per optimizer step. adjust_scheduler: advance the wrapped scheduler's step
    count on the skipped steps too. sync_with_dataloader: force a sync (and optimizer step) on the
    last batch of the dataloader. sync_each_batch: all-reduce gradients on every batch (less
    memory, more communication) instead of using DDP's no_sync while accumulating.
    """

    num_steps: int | None = None
    adjust_scheduler: bool = True
    sync_with_dataloader: bool = True
    sync_each_batch: bool = False

    def to_kwargs(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"num_steps": 1 if self.num_steps is None else self.num_steps}


_SHARDING = ("FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD", "HYBRID_SHARD_ZERO2")
_STATE_DICT_TYPES = ("FULL_STATE_DICT", "SHARDED_STATE_DICT")


@dataclass
class FullyShardedDataParallelPlugin:
    """FSDP settings (torch.distributed.fsdp.FullyShardedDataParallel, FSDP1 API).

    sharding_strategy: one of FULL_SHARD, SHARD_GRAD_OP, NO_SHARD, HYBRID_SHARD, HYBRID_SHARD_ZERO2
    (names, numbers 1-5 or the torch enum). auto_wrap_policy: a torch wrap policy callable,
    "transformer_based_wrap" (wraps the classes in transformer_cls_names_to_wrap, default the
    model's `_no_split_modules`), "size_based_wrap" (min_num_params) or None/"no_wrap".
    state_dict_type: FULL_STATE_DICT (gathered on rank 0 for saving) or SHARDED_STATE_DICT.
    """

    sharding_strategy: Any = "FULL_SHARD"
    auto_wrap_policy: Callable | str | None = None
    transformer_cls_names_to_wrap: list[str] | None = None
    min_num_params: int = 100_000_000
    cpu_offload: bool = False
    use_orig_params: bool = True
    sync_module_states: bool = True
    forward_prefetch: bool = False
    limit_all_gathers: bool = True
    state_dict_type: str = "FULL_STATE_DICT"
    mixed_precision_policy: Any = None
    activation_checkpointing: bool = False
    extra_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.sharding_strategy, int):
            if not 1 <= self.sharding_strategy <= len(_SHARDING):
                raise ConfigError(f"FSDP sharding_strategy={self.sharding_strategy}: expected 1-5 or one of {_SHARDING}")
            self.sharding_strategy = _SHARDING[self.sharding_strategy - 1]
        elif isinstance(self.sharding_strategy, str):
            name = self.sharding_strategy.upper()
            if name not in _SHARDING:
                raise ConfigError(f"FSDP sharding_strategy={self.sharding_strategy!r}: expected one of {_SHARDING}")
            self.sharding_strategy = name
        if str(self.state_dict_type).upper() not in _STATE_DICT_TYPES:
            raise ConfigError(f"FSDP state_dict_type={self.state_dict_type!r}: expected one of {_STATE_DICT_TYPES}")
        self.state_dict_type = str(self.state_dict_type).upper()

    def torch_sharding_strategy(self):
        from torch.distributed.fsdp import ShardingStrategy

        if isinstance(self.sharding_strategy, ShardingStrategy):
            return self.sharding_strategy
        return ShardingStrategy[self.sharding_strategy]

    def torch_auto_wrap_policy(self, model):
        """The callable FSDP expects for `auto_wrap_policy`, or None (wrap the whole model as one unit)."""
        import functools

        from torch.distributed.fsdp.wrap import size_based_auto_wrap_policy, transformer_auto_wrap_policy

        policy = self.auto_wrap_policy
        if policy is None or policy == "no_wrap":
            return None
        if callable(policy):
            return policy
        if policy == "size_based_wrap":
            return functools.partial(size_based_auto_wrap_policy, min_num_params=self.min_num_params)
        if policy == "transformer_based_wrap":
            names = self.transformer_cls_names_to_wrap or list(getattr(model, "_no_split_modules", None) or [])
            classes = {type(m) for m in model.modules() if type(m).__name__ in set(names)}
            missing = set(names) - {c.__name__ for c in classes}
            if missing or not classes:
                raise ConfigError(
                    f"FSDP transformer_based_wrap: no module class named {sorted(missing) or names} in the model; "
                    "set transformer_cls_names_to_wrap to class names that occur in it"
                )
            return functools.partial(transformer_auto_wrap_policy, transformer_layer_cls=classes)
        raise ConfigError(
            f"FSDP auto_wrap_policy={policy!r}: expected a callable, 'transformer_based_wrap', 'size_based_wrap' or None"
        )


@dataclass
class ProjectConfiguration:
    """Where save_state writes and how checkpoints are named/rotated.

    With automatic_checkpoint_naming, save_state() writes <project_dir>/checkpoints/checkpoint_<i>
    and keeps at most total_limit of them.
    """

    project_dir: str | None = None
    logging_dir: str | None = None
    automatic_checkpoint_naming: bool = False
    total_limit: int | None = None
    iteration: int = 0
    save_on_each_node: bool = False

    def set_directories(self, project_dir: str | None = None) -> None:
        self.project_dir = project_dir
        if self.logging_dir is None:
            self.logging_dir = project_dir

    def __post_init__(self):
        if self.logging_dir is None:
            self.logging_dir = self.project_dir


@dataclass
class DataLoaderConfiguration:
    """How Accelerator.prepare rebuilds data loaders (accelerate 1.x's DataLoaderConfiguration).

    split_batches: cut each batch into one slice per process (global batch = loader batch size)
    instead of giving each process whole batches (global batch = loader batch size x processes).
    even_batches: complete the last global batch with samples from the start of the data so all
    processes take the same number of steps. non_blocking: asynchronous host-to-device copies.
    """

    split_batches: bool = False
    dispatch_batches: bool | None = None
    even_batches: bool = True
    use_seedable_sampler: bool = False
    non_blocking: bool = False
