"""Accelerator: one training loop for a single process, DDP (gloo on CPU, nccl on CUDA) and FSDP.

    accelerator = Accelerator(gradient_accumulation_steps=2, mixed_precision="bf16")
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    for batch in loader:
        with accelerator.accumulate(model):
            loss = model(**batch).loss
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step(); scheduler.step(); optimizer.zero_grad()

Run it as `python train.py` or `snuggle launch --nproc_per_node 2 train.py`; same arguments and
behaviour as accelerate 1.x (see docs/training.md for the differences).

>>> accelerator = Accelerator()
>>> accelerator.num_processes, accelerator.is_main_process, accelerator.mixed_precision
(1, True, 'no')
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import shutil
from collections.abc import Mapping

import torch

from snuggle.accelerate import checkpointing as ckpt
from snuggle.accelerate.data_loader import DataLoaderShard, prepare_data_loader, skip_first_batches
from snuggle.accelerate.operations import gather, gather_object, pad_across_processes, recursively_apply, reduce
from snuggle.accelerate.plugins import (
    AutocastKwargs, DataLoaderConfiguration, DistributedDataParallelKwargs, FullyShardedDataParallelPlugin,
    GradientAccumulationPlugin, GradScalerKwargs, InitProcessGroupKwargs, ProjectConfiguration,
)
from snuggle.accelerate.state import AcceleratorState, GradientState, PartialState
from snuggle.accelerate.utils import DistributedType, get_env
from snuggle.accelerate.wrappers import AcceleratedOptimizer, AcceleratedScheduler
from snuggle.errors import ConfigError, TrainingError
from snuggle.utils.logging import get_logger

logger = get_logger("snuggle.accelerate")

_LR_SCHEDULER = getattr(torch.optim.lr_scheduler, "LRScheduler", torch.optim.lr_scheduler._LRScheduler)


class Accelerator:
    """Prepares model/optimizer/data/scheduler for the current run and hides the distributed details.

    Args (accelerate's names): device_placement, split_batches, even_batches (or a
    dataloader_config), mixed_precision ('no' | 'fp16' | 'bf16'; default from SNUGGLE_MIXED_PRECISION
    set by `snuggle launch`), gradient_accumulation_steps (or gradient_accumulation_plugin), cpu,
    fsdp_plugin, step_scheduler_with_optimizer, log_with ('jsonl', 'tensorboard', 'all' or a list),
    project_dir / project_config, kwargs_handlers (DistributedDataParallelKwargs, GradScalerKwargs,
    InitProcessGroupKwargs, AutocastKwargs), rng_types (accepted for compatibility).
    """

    def __init__(self, device_placement: bool = True, split_batches: bool | None = None,
                 mixed_precision: str | None = None, gradient_accumulation_steps: int = 1, cpu: bool = False,
                 dataloader_config: DataLoaderConfiguration | None = None, deepspeed_plugin=None,
                 fsdp_plugin: FullyShardedDataParallelPlugin | None = None, rng_types=None, log_with=None,
                 project_dir: str | os.PathLike | None = None, project_config: ProjectConfiguration | None = None,
                 gradient_accumulation_plugin: GradientAccumulationPlugin | None = None,
                 step_scheduler_with_optimizer: bool = True, kwargs_handlers: list | None = None,
                 even_batches: bool | None = None, dynamo_backend=None, **unsupported):
        if unsupported:
            raise TypeError(f"Accelerator got unexpected or unsupported arguments: {sorted(unsupported)}")
        if deepspeed_plugin is not None:
            raise ConfigError("deepspeed_plugin: DeepSpeed is not supported by snuggle; use fsdp_plugin instead")
        if dynamo_backend not in (None, "no", "NO"):
            raise ConfigError(f"dynamo_backend={dynamo_backend!r}: torch.compile your model yourself before prepare()")

        # kwargs handlers: at most one of each kind
        self.ddp_handler = self.scaler_handler = self.init_handler = self.autocast_handler = None
        for handler in kwargs_handlers or []:
            slot = {DistributedDataParallelKwargs: "ddp_handler", GradScalerKwargs: "scaler_handler",
                    InitProcessGroupKwargs: "init_handler", AutocastKwargs: "autocast_handler"}.get(type(handler))
            if slot is None:
                raise ConfigError(
                    f"kwargs_handlers: {type(handler).__name__} is not supported; expected DistributedDataParallelKwargs, "
                    "GradScalerKwargs, InitProcessGroupKwargs or AutocastKwargs"
                )
            if getattr(self, slot) is not None:
                raise ConfigError(f"kwargs_handlers: more than one {type(handler).__name__}")
            setattr(self, slot, handler)

        init_kwargs = {}
        if self.init_handler is not None:
            init_kwargs = {k: v for k, v in self.init_handler.to_kwargs().items() if k in ("backend", "timeout")}
        if fsdp_plugin is None and get_env("USE_FSDP", "false").lower() in ("1", "true", "yes"):
            fsdp_plugin = FullyShardedDataParallelPlugin(
                sharding_strategy=get_env("FSDP_SHARDING_STRATEGY", "FULL_SHARD"))
        self.state = AcceleratorState(mixed_precision=mixed_precision, cpu=cpu, fsdp_plugin=fsdp_plugin,
                                      _from_accelerator=True, **init_kwargs)
        self.fsdp_plugin = self.state.fsdp_plugin

        # gradient accumulation
        if gradient_accumulation_plugin is not None:
            if gradient_accumulation_steps != 1:
                raise ConfigError(
                    "pass gradient_accumulation_steps or gradient_accumulation_plugin, not both "
                    "(set num_steps on the plugin)"
                )
        else:
            env_steps = get_env("GRADIENT_ACCUMULATION_STEPS")
            if gradient_accumulation_steps == 1 and env_steps is not None:
                gradient_accumulation_steps = int(env_steps)
            gradient_accumulation_plugin = GradientAccumulationPlugin(num_steps=gradient_accumulation_steps)
        steps = gradient_accumulation_plugin.num_steps
        steps = 1 if steps is None else steps
        if not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"gradient_accumulation_steps must be an integer >= 1, got {steps!r}")
        GradientState._reset_state()
        self.gradient_state = GradientState(gradient_accumulation_plugin=gradient_accumulation_plugin)

        # data loaders
        if dataloader_config is None:
            dataloader_config = DataLoaderConfiguration()
        if split_batches is not None:
            dataloader_config.split_batches = split_batches
        if even_batches is not None:
            dataloader_config.even_batches = even_batches
        if dataloader_config.dispatch_batches:
            raise ConfigError("dispatch_batches=True is not supported; every process reads its own share of the data")
        self.dataloader_config = dataloader_config

        # mixed precision
        self.native_amp = self.state.mixed_precision in ("fp16", "bf16")
        if self.state.mixed_precision == "fp16" and self.device.type == "cpu":
            raise ConfigError(
                "mixed_precision='fp16' needs a CUDA device (fp16 autocast with gradient scaling); on CPU use "
                "mixed_precision='bf16'"
            )
        self.scaler = None
        if self.state.mixed_precision == "fp16" and self.distributed_type != DistributedType.FSDP:
            scaler_kwargs = self.scaler_handler.to_kwargs() if self.scaler_handler is not None else {}
            self.scaler = torch.amp.GradScaler(self.device.type, **scaler_kwargs)

        self.device_placement = device_placement
        self.step_scheduler_with_optimizer = step_scheduler_with_optimizer
        self.rng_types = rng_types
        if project_config is None:
            project_config = ProjectConfiguration(project_dir=os.fspath(project_dir) if project_dir else None)
        elif project_dir is not None:
            project_config.set_directories(os.fspath(project_dir))
        self.project_configuration = project_config
        self.step = 0

        self._models: list = []
        self._optimizers: list = []
        self._schedulers: list = []
        self._dataloaders: list = []
        self._custom_objects: list = []

        from snuggle.accelerate.tracking import resolve_trackers

        self.log_with = resolve_trackers(log_with)
        self.trackers: list = []

    # ================================================================ process info
    @property
    def distributed_type(self) -> DistributedType:
        return self.state.distributed_type

    @property
    def num_processes(self) -> int:
        return self.state.num_processes

    @property
    def process_index(self) -> int:
        return self.state.process_index

    @property
    def local_process_index(self) -> int:
        return self.state.local_process_index

    @property
    def device(self) -> torch.device:
        return self.state.device

    @property
    def is_main_process(self) -> bool:
        return self.state.is_main_process

    @property
    def is_local_main_process(self) -> bool:
        return self.state.is_local_main_process

    @property
    def is_last_process(self) -> bool:
        return self.state.is_last_process

    @property
    def use_distributed(self) -> bool:
        return self.state.use_distributed

    @property
    def mixed_precision(self) -> str:
        return self.state.mixed_precision

    @property
    def split_batches(self) -> bool:
        return self.dataloader_config.split_batches

    @property
    def even_batches(self) -> bool:
        return self.dataloader_config.even_batches

    @even_batches.setter
    def even_batches(self, value: bool) -> None:
        self.dataloader_config.even_batches = value

    @property
    def project_dir(self):
        return self.project_configuration.project_dir

    @property
    def logging_dir(self):
        return self.project_configuration.logging_dir

    @property
    def save_iteration(self) -> int:
        return self.project_configuration.iteration

    @property
    def gradient_accumulation_steps(self) -> int:
        return self.gradient_state.num_steps

    @gradient_accumulation_steps.setter
    def gradient_accumulation_steps(self, value: int) -> None:
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"gradient_accumulation_steps must be an integer >= 1, got {value!r}")
        self.gradient_state.plugin_kwargs = {**self.gradient_state.plugin_kwargs, "num_steps": value}

    @property
    def sync_gradients(self) -> bool:
        """True on the batches where gradients are synchronised and the optimizer steps."""
        return self.gradient_state.sync_gradients

    @sync_gradients.setter
    def sync_gradients(self, value: bool) -> None:
        self.gradient_state._set_sync_gradients(value)

    @property
    def optimizer_step_was_skipped(self) -> bool:
        """True when an fp16 overflow made the last optimizer step a no-op."""
        return any(opt.step_was_skipped for opt in self._optimizers)

    # ================================================================ process helpers
    def wait_for_everyone(self) -> None:
        self.state.wait_for_everyone()

    def print(self, *args, **kwargs) -> None:
        """print() once per machine (on the local main process)."""
        PartialState().print(*args, **kwargs)

    def main_process_first(self):
        return PartialState().main_process_first()

    def local_main_process_first(self):
        return PartialState().local_main_process_first()

    def split_between_processes(self, inputs, apply_padding: bool = False):
        return PartialState().split_between_processes(inputs, apply_padding=apply_padding)

    def on_main_process(self, function):
        return PartialState().on_main_process(function)

    def on_local_main_process(self, function):
        return PartialState().on_local_main_process(function)

    def on_last_process(self, function):
        return PartialState().on_last_process(function)

    def on_process(self, function=None, process_index: int | None = None):
        return PartialState().on_process(function, process_index=process_index)

    # ================================================================ prepare
    def prepare(self, *args, device_placement: list[bool] | None = None):
        """Prepare models, optimizers, data loaders and schedulers, in any order; returns them in
        the same order (a single object when given one)."""
        if device_placement is None:
            device_placement = [None] * len(args)
        elif len(device_placement) != len(args):
            raise ConfigError(
                f"device_placement has {len(device_placement)} entries for {len(args)} objects passed to prepare()"
            )
        for i, obj in enumerate(args):
            if not isinstance(obj, (torch.nn.Module, torch.optim.Optimizer, _LR_SCHEDULER,
                                    torch.utils.data.DataLoader)):
                raise TrainingError(
                    f"prepare() argument {i} is a {type(obj).__name__}; expected a torch.nn.Module, "
                    "torch.optim.Optimizer, torch LR scheduler or torch.utils.data.DataLoader"
                )
        # Models first: FSDP replaces parameters, and optimizers must then point at the new ones.
        old_params = {id(obj): list(obj.parameters()) for obj in args if isinstance(obj, torch.nn.Module)}
        result = list(args)
        for i, obj in enumerate(args):
            if isinstance(obj, torch.nn.Module):
                result[i] = self.prepare_model(obj, device_placement=device_placement[i])
            elif isinstance(obj, torch.utils.data.DataLoader):
                result[i] = self.prepare_data_loader(obj, device_placement=device_placement[i])
        for i, obj in enumerate(args):
            if isinstance(obj, torch.nn.Module) and self.distributed_type == DistributedType.FSDP:
                new_params = list(result[i].parameters())
                for other in args:
                    if isinstance(other, torch.optim.Optimizer) and not isinstance(other, AcceleratedOptimizer):
                        _remap_optimizer_params(other, old_params[id(obj)], new_params)
        for i, obj in enumerate(args):
            if isinstance(obj, torch.optim.Optimizer):
                result[i] = self.prepare_optimizer(obj, device_placement=device_placement[i])
        for i, obj in enumerate(args):
            if isinstance(obj, _LR_SCHEDULER):
                result[i] = self.prepare_scheduler(obj)
        return result[0] if len(result) == 1 else tuple(result)

    def prepare_model(self, model: torch.nn.Module, device_placement: bool | None = None,
                      evaluation_mode: bool = False) -> torch.nn.Module:
        """Move `model` to the device, add autocast for mixed precision, wrap it in DDP or FSDP."""
        if device_placement is None:
            device_placement = self.device_placement
        self._models.append(model)
        if device_placement and self.distributed_type != DistributedType.FSDP:
            model = model.to(self.device)
        if self.native_amp and not hasattr(model, "_original_forward"):
            # an instance attribute shadows the class's forward; unwrap_model(keep_fp32_wrapper=False) removes it
            model._original_forward = model.forward
            autocast_kwargs = self.autocast_handler.to_kwargs() if self.autocast_handler else {}
            dtype = torch.bfloat16 if self.mixed_precision == "bf16" else torch.float16
            model.forward = _autocast_forward(model._original_forward, self.device.type, dtype, autocast_kwargs)
        if evaluation_mode or not self.use_distributed:
            pass
        elif self.distributed_type == DistributedType.FSDP:
            model = self._wrap_fsdp(model)
        elif any(p.requires_grad for p in model.parameters()):
            ddp_kwargs = self.ddp_handler.to_kwargs() if self.ddp_handler is not None else {}
            device_ids = [self.local_process_index] if self.device.type == "cuda" else None
            model = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids,
                                                              output_device=device_ids[0] if device_ids else None,
                                                              **ddp_kwargs)
        self._models[-1] = model
        return model

    def _wrap_fsdp(self, model: torch.nn.Module) -> torch.nn.Module:
        from torch.distributed.fsdp import CPUOffload
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        if isinstance(model, FSDP):
            return model
        plugin = self.fsdp_plugin
        kwargs = {
            "sharding_strategy": plugin.torch_sharding_strategy(),
            "auto_wrap_policy": plugin.torch_auto_wrap_policy(model),
            "cpu_offload": CPUOffload(offload_params=bool(plugin.cpu_offload)),
            "use_orig_params": plugin.use_orig_params,
            "sync_module_states": plugin.sync_module_states,
            "forward_prefetch": plugin.forward_prefetch,
            "limit_all_gathers": plugin.limit_all_gathers,
            "device_id": self.device,
            **plugin.extra_kwargs,
        }
        if plugin.sync_module_states and self.device.type == "cpu":
            # FSDP's own sync_module_states only works for GPU tensors: broadcast rank 0's
            # parameters and buffers ourselves so every process starts from the same weights
            with torch.no_grad():
                for tensor in [*model.parameters(), *model.buffers()]:
                    torch.distributed.broadcast(tensor.data, src=0)
            kwargs["sync_module_states"] = False
        if plugin.mixed_precision_policy is not None:
            kwargs["mixed_precision"] = plugin.mixed_precision_policy
        wrapped = FSDP(model, **kwargs)
        if plugin.activation_checkpointing:
            from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import apply_activation_checkpointing

            policy = kwargs["auto_wrap_policy"]
            apply_activation_checkpointing(wrapped, auto_wrap_policy=policy)
        return wrapped

    def prepare_data_loader(self, data_loader, device_placement: bool | None = None) -> DataLoaderShard:
        if device_placement is None:
            device_placement = self.device_placement
        prepared = prepare_data_loader(data_loader, self.device, split_batches=self.split_batches,
                                       put_on_device=device_placement, even_batches=self.even_batches)
        self._dataloaders.append(prepared)
        return prepared

    def prepare_optimizer(self, optimizer: torch.optim.Optimizer, device_placement: bool | None = None):
        if isinstance(optimizer, AcceleratedOptimizer):
            return optimizer
        if device_placement is None:
            device_placement = self.device_placement
        wrapped = AcceleratedOptimizer(optimizer, device_placement=device_placement, scaler=self.scaler)
        self._optimizers.append(wrapped)
        return wrapped

    def prepare_scheduler(self, scheduler):
        if isinstance(scheduler, AcceleratedScheduler):
            return scheduler
        optimizers = [opt for opt in self._optimizers if opt.optimizer is getattr(scheduler, "optimizer", None)]
        if not optimizers:
            optimizers = self._optimizers
        wrapped = AcceleratedScheduler(scheduler, optimizers, step_with_optimizer=self.step_scheduler_with_optimizer,
                                       split_batches=self.split_batches)
        self._schedulers.append(wrapped)
        return wrapped

    # ================================================================ training step
    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        """loss.backward() with the loss divided by gradient_accumulation_steps (and fp16 scaling)."""
        loss = loss / self.gradient_accumulation_steps
        if self.scaler is not None:
            self.scaler.scale(loss).backward(**kwargs)
        else:
            loss.backward(**kwargs)

    def _do_sync(self) -> None:
        if self.gradient_state.sync_with_dataloader and self.gradient_state.end_of_dataloader:
            self.step = 0
            self.gradient_state._set_sync_gradients(True)
        else:
            self.step += 1
            self.gradient_state._set_sync_gradients(self.step % self.gradient_accumulation_steps == 0)

    @contextlib.contextmanager
    def accumulate(self, *models):
        """Context for one batch: decides whether this batch ends an accumulation cycle
        (`sync_gradients`) and, while accumulating under DDP, skips the gradient all-reduce."""
        self._do_sync()
        allow_sync = self.sync_gradients or (self.use_distributed and self.gradient_state.sync_each_batch)
        with contextlib.ExitStack() as stack:
            for model in models:
                stack.enter_context(contextlib.nullcontext() if allow_sync else self.no_sync(model))
            yield

    def no_sync(self, model):
        """DDP/FSDP's no_sync (gradients stay local); a null context in a single process."""
        if self.use_distributed and hasattr(model, "no_sync"):
            return model.no_sync()
        return contextlib.nullcontext()

    def autocast(self, autocast_handler: AutocastKwargs | None = None):
        """torch.autocast for the chosen mixed precision (a null context with mixed_precision='no')."""
        if not self.native_amp:
            return contextlib.nullcontext()
        handler = autocast_handler or self.autocast_handler
        kwargs = handler.to_kwargs() if handler is not None else {}
        dtype = torch.bfloat16 if self.mixed_precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype, **kwargs)

    def unscale_gradients(self, optimizer=None) -> None:
        """Undo the fp16 loss scale on the gradients (before clipping); no-op otherwise."""
        if self.scaler is None:
            return
        optimizers = self._optimizers if optimizer is None else (optimizer if isinstance(optimizer, list) else [optimizer])
        for opt in optimizers:
            inner = opt.optimizer if isinstance(opt, AcceleratedOptimizer) else opt
            self.scaler.unscale_(inner)

    def clip_grad_norm_(self, parameters, max_norm: float, norm_type: float = 2.0):
        """Clip the gradient norm (computed over all shards under FSDP); returns the total norm."""
        parameters = list(parameters)
        if self.distributed_type == DistributedType.FSDP:
            self.unscale_gradients()
            ids = {id(p) for p in parameters}
            for model in self._models:
                if hasattr(model, "clip_grad_norm_") and ids == {id(p) for p in model.parameters()}:
                    return model.clip_grad_norm_(max_norm, norm_type)
        self.unscale_gradients()
        return torch.nn.utils.clip_grad_norm_(parameters, max_norm, norm_type=norm_type)

    def clip_grad_value_(self, parameters, clip_value: float) -> None:
        if self.distributed_type == DistributedType.FSDP:
            raise TrainingError("clip_grad_value_ is not supported with FSDP; use clip_grad_norm_")
        self.unscale_gradients()
        torch.nn.utils.clip_grad_value_(parameters, clip_value)

    # ================================================================ collectives
    def gather(self, tensor):
        return gather(tensor)

    def gather_for_metrics(self, input_data, use_gather_object: bool = False):
        """gather(), then drop the samples `even_batches` duplicated into the last global batch, so
        metrics see each evaluation sample exactly once. Non-tensor data goes through gather_object."""
        try:
            recursively_apply(lambda x: x, input_data, error_on_other_type=True)
            all_tensors = True
        except TrainingError:
            all_tensors = False
        use_gather_object = use_gather_object or not all_tensors
        data = gather_object(input_data) if use_gather_object else gather(input_data)
        state = self.gradient_state
        if not (state.end_of_dataloader and state.remainder > 0) or not self.use_distributed:
            return data
        keep = state.remainder
        if use_gather_object:
            return data[:keep]
        return recursively_apply(lambda t: t[:keep], data)

    def reduce(self, tensor, reduction: str = "sum", scale: float = 1.0):
        return reduce(tensor, reduction=reduction, scale=scale)

    def pad_across_processes(self, tensor, dim: int = 0, pad_index: int = 0, pad_first: bool = False):
        return pad_across_processes(tensor, dim=dim, pad_index=pad_index, pad_first=pad_first)

    # ================================================================ models and state dicts
    def unwrap_model(self, model, keep_fp32_wrapper: bool = True, keep_torch_compile: bool = True):
        """The user's model without DDP/FSDP/compile wrappers (and without the autocast forward
        when keep_fp32_wrapper=False)."""
        inner = model
        while True:
            if isinstance(inner, torch.nn.parallel.DistributedDataParallel):
                inner = inner.module
            elif type(inner).__name__ == "FullyShardedDataParallel" and hasattr(inner, "module"):
                inner = inner.module
            elif hasattr(inner, "_orig_mod") and not keep_torch_compile:
                inner = inner._orig_mod
            else:
                break
        if not keep_fp32_wrapper and hasattr(inner, "_original_forward"):
            del inner.forward  # back to the class's forward
            del inner._original_forward
        return inner

    def get_state_dict(self, model, unwrap: bool = True) -> dict:
        """The full state dict of `model`. Under FSDP this is a collective: call it on every
        process; the full tensors arrive on the main process (others get {})."""
        if self.distributed_type == DistributedType.FSDP and _is_fsdp(model):
            from torch.distributed.fsdp import FullStateDictConfig, StateDictType
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

            # offload_to_cpu on a CPU-only run breaks torch 2.13's FSDP (segfault for the model state,
            # silently wrong optimizer moments): only offload from CUDA
            config = FullStateDictConfig(offload_to_cpu=self.device.type == "cuda", rank0_only=True)
            with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, config):
                return model.state_dict()
        if unwrap:
            model = self.unwrap_model(model)
        return model.state_dict()

    def save_model(self, model, save_directory: str | os.PathLike, max_shard_size: int | str = "10GB",
                   safe_serialization: bool = True) -> None:
        """Write the model's weights (model.safetensors, or shards + model.safetensors.index.json)
        into `save_directory` from the main process."""
        from snuggle.models.weights import save_state_dict

        if os.path.isfile(save_directory):
            raise TrainingError(f"save_model: {save_directory} is a file; expected a folder")
        state_dict = self.get_state_dict(model)
        if self.is_main_process:
            os.makedirs(save_directory, exist_ok=True)
            save_state_dict(state_dict, save_directory, max_shard_size=max_shard_size,
                            safe_serialization=safe_serialization)
        self.wait_for_everyone()

    def register_for_checkpointing(self, *objects) -> None:
        """Also save/restore these objects (anything with state_dict/load_state_dict) in save_state."""
        bad = [type(o).__name__ for o in objects if not (hasattr(o, "state_dict") and hasattr(o, "load_state_dict"))]
        if bad:
            raise TrainingError(
                f"register_for_checkpointing: {bad} lack state_dict()/load_state_dict(); wrap them in an object "
                "that has both"
            )
        self._custom_objects.extend(objects)

    def _optimizer_state(self, optimizer: AcceleratedOptimizer) -> dict:
        if self.distributed_type == DistributedType.FSDP:
            model = next((m for m in self._models if _is_fsdp(m)), None)
            if model is not None:
                from torch.distributed.fsdp import FullOptimStateDictConfig, FullStateDictConfig, StateDictType
                from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

                with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, FullStateDictConfig(),
                                          FullOptimStateDictConfig(offload_to_cpu=self.device.type == "cuda", rank0_only=False)):
                    return FSDP.optim_state_dict(model, optimizer.optimizer)
        return optimizer.state_dict()

    def save_state(self, output_dir: str | os.PathLike | None = None, safe_serialization: bool = True,
                   **save_model_func_kwargs) -> str:
        """Save models, optimizers, schedulers, the fp16 scaler, RNG states and registered objects
        into `output_dir` (atomically); returns the folder."""
        config = self.project_configuration
        if config.automatic_checkpoint_naming:
            if config.project_dir is None:
                raise ConfigError("automatic_checkpoint_naming needs project_dir (ProjectConfiguration)")
            output_dir = os.path.join(config.project_dir, "checkpoints", f"checkpoint_{config.iteration}")
            if self.is_main_process and config.total_limit is not None:
                existing = ckpt.checkpoint_folders(config.project_dir)
                for old in existing[: max(len(existing) + 1 - config.total_limit, 0)]:
                    shutil.rmtree(old, ignore_errors=True)
        if output_dir is None:
            raise ConfigError("save_state: pass output_dir (or set automatic_checkpoint_naming with a project_dir)")
        output_dir = os.fspath(output_dir)
        model_states = [self.get_state_dict(m) for m in self._models]  # collective under FSDP
        optimizer_states = [self._optimizer_state(o) for o in self._optimizers]
        staging = ckpt.begin_save(output_dir)
        if self.is_main_process:
            for i, state in enumerate(model_states):
                ckpt.save_model_weights(state, staging, i, safe_serialization=safe_serialization)
            for i, state in enumerate(optimizer_states):
                ckpt.save_object(state, staging, ckpt.OPTIMIZER_NAME, i)
            for i, scheduler in enumerate(self._schedulers):
                ckpt.save_object(scheduler.state_dict(), staging, ckpt.SCHEDULER_NAME, i)
            if self.scaler is not None:
                ckpt.save_object(self.scaler.state_dict(), staging, "scaler", 0)
            for i, obj in enumerate(self._custom_objects):
                ckpt.save_custom(obj, staging, i)
        ckpt.save_rng(staging, self.step)
        ckpt.finish_save(output_dir)
        config.iteration += 1
        logger.info("saved state to %s", output_dir)
        return output_dir

    def load_state(self, input_dir: str | os.PathLike | None = None, load_kwargs: dict | None = None,
                   **load_model_func_kwargs) -> None:
        """Restore what save_state wrote, into the prepared objects (same order of preparation)."""
        config = self.project_configuration
        if input_dir is None:
            if not (config.automatic_checkpoint_naming and config.project_dir):
                raise ConfigError("load_state: pass input_dir (or set automatic_checkpoint_naming with a project_dir)")
            folders = ckpt.checkpoint_folders(config.project_dir)
            if not folders:
                raise TrainingError(f"load_state: no checkpoint_<i> folder in {config.project_dir}/checkpoints")
            input_dir = folders[-1]
        input_dir = os.fspath(input_dir)
        if not os.path.isdir(input_dir):
            raise TrainingError(f"load_state: {input_dir} is not a folder")
        strict = load_model_func_kwargs.get("strict", True)
        for i, model in enumerate(self._models):
            state = ckpt.load_model_weights(input_dir, i)
            if _is_fsdp(model):
                _load_full_state_into_fsdp(model, state, strict=strict)
            else:
                self.unwrap_model(model).load_state_dict(state, strict=strict)
        for i, optimizer in enumerate(self._optimizers):
            state = ckpt.load_file(os.path.join(input_dir, ckpt.indexed_name(ckpt.OPTIMIZER_NAME, i, "bin")),
                                   load_kwargs)
            fsdp_model = next((m for m in self._models if _is_fsdp(m)), None)
            if fsdp_model is not None:
                from torch.distributed.fsdp import FullOptimStateDictConfig, FullStateDictConfig, StateDictType
                from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

                with FSDP.state_dict_type(fsdp_model, StateDictType.FULL_STATE_DICT, FullStateDictConfig(),
                                          FullOptimStateDictConfig(offload_to_cpu=self.device.type == "cuda", rank0_only=False)):
                    state = FSDP.optim_state_dict_to_load(fsdp_model, optimizer.optimizer, state)
            optimizer.load_state_dict(state)
        for i, scheduler in enumerate(self._schedulers):
            scheduler.load_state_dict(
                ckpt.load_file(os.path.join(input_dir, ckpt.indexed_name(ckpt.SCHEDULER_NAME, i, "bin")), load_kwargs))
        if self.scaler is not None:
            self.scaler.load_state_dict(ckpt.load_file(os.path.join(input_dir, "scaler.bin"), load_kwargs))
        for i, obj in enumerate(self._custom_objects):
            ckpt.load_custom(obj, input_dir, i, load_kwargs)
        step = ckpt.load_rng(input_dir)
        if step is not None:
            self.step = step
        if config.automatic_checkpoint_naming:
            name = os.path.basename(os.path.normpath(input_dir))
            if name.startswith("checkpoint_") and name[len("checkpoint_"):].isdigit():
                config.iteration = int(name[len("checkpoint_"):]) + 1
        self.wait_for_everyone()

    # ================================================================ data helpers
    def skip_first_batches(self, dataloader, num_batches: int = 0):
        return skip_first_batches(dataloader, num_batches)

    # ================================================================ tracking
    def init_trackers(self, project_name: str, config: dict | None = None, init_kwargs: dict | None = None) -> None:
        from snuggle.accelerate.tracking import make_trackers

        self.trackers = make_trackers(self.log_with, project_name, self.logging_dir, config,
                                      is_main_process=self.is_main_process)

    def get_tracker(self, name: str, unwrap: bool = False):
        for tracker in self.trackers:
            if tracker.name == name:
                return tracker.tracker if unwrap else tracker
        raise TrainingError(f"no tracker named {name!r}; initialised: {[t.name for t in self.trackers]}")

    def log(self, values: dict, step: int | None = None, log_kwargs: dict | None = None) -> None:
        """Send `values` to every tracker (main process only)."""
        if not self.is_main_process:
            return
        for tracker in self.trackers:
            tracker.log(values, step=step)

    def end_training(self) -> None:
        """Close trackers and tear down the process group (call once at the end of the script)."""
        for tracker in self.trackers:
            tracker.finish()
        self.trackers = []
        self.wait_for_everyone()
        self.state.destroy_process_group()

    # ================================================================ memory
    def free_memory(self, *objects):
        """Forget the prepared objects, collect garbage and empty the CUDA cache; returns Nones for `objects`."""
        self._models, self._optimizers, self._schedulers, self._dataloaders = [], [], [], []
        self._custom_objects = []
        self.step = 0
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return [None] * len(objects) if len(objects) != 1 else None

    clear = free_memory

    def __repr__(self) -> str:
        return f"Accelerator(\n{self.state!r}gradient_accumulation_steps={self.gradient_accumulation_steps})"


def _is_fsdp(model) -> bool:
    return type(model).__name__ == "FullyShardedDataParallel"


def _load_full_state_into_fsdp(model, state: dict, strict: bool = True) -> None:
    """Load a full (unsharded) state dict into an FSDP model on every process."""
    from torch.distributed.fsdp import FullStateDictConfig, StateDictType
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    # offload_to_cpu=False: on CPU-only runs torch 2.13's "offload" aliases tensors it then reuses
    with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT,
                              FullStateDictConfig(offload_to_cpu=False, rank0_only=False)):
        model.load_state_dict(state, strict=strict)


def _to_fp32(output):
    """Half-precision floating tensors in a model output -> float32 (in place for output objects)."""
    def convert(t: torch.Tensor) -> torch.Tensor:
        return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t

    if isinstance(output, Mapping) and type(output) is not dict:
        for key in list(output.keys()):
            value = output[key]
            output[key] = _to_fp32(value) if not isinstance(value, torch.Tensor) else convert(value)
        return output
    return recursively_apply(convert, output)


def _autocast_forward(forward, device_type: str, dtype, autocast_kwargs: dict):
    """forward under torch.autocast, with half-precision outputs converted back to float32 (so the
    loss and logits the user sees are fp32, as in accelerate)."""
    @functools.wraps(forward)
    def wrapped(*args, **kwargs):
        with torch.autocast(device_type=device_type, dtype=dtype, **autocast_kwargs):
            output = forward(*args, **kwargs)
        return _to_fp32(output)

    return wrapped


def _remap_optimizer_params(optimizer: torch.optim.Optimizer, old: list, new: list) -> None:
    """Point `optimizer` at the parameters FSDP created in place of the originals."""
    if len(old) != len(new):
        raise TrainingError(
            "FSDP changed the number of parameters (use_orig_params=False?): create the optimizer after "
            "model = accelerator.prepare(model), or keep FullyShardedDataParallelPlugin(use_orig_params=True)"
        )
    mapping = {id(o): n for o, n in zip(old, new)}
    for group in optimizer.param_groups:
        group["params"] = [mapping.get(id(p), p) for p in group["params"]]
    if optimizer.state:
        optimizer.state = type(optimizer.state)({mapping.get(id(p), p): s for p, s in optimizer.state.items()})
