"""Process-wide state of a (possibly distributed) run: PartialState, AcceleratorState, GradientState.

Each class is a "borg" singleton like accelerate's: every instance shares one dict of attributes,
so `PartialState()` anywhere in a program (Trainer, Accelerator, user code) sees the same process
group, device and ranks. The first PartialState() reads the torchrun environment (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) and, when WORLD_SIZE > 1, initialises
torch.distributed with gloo on CPU or nccl on CUDA.

>>> state = PartialState()
>>> state.num_processes, state.process_index, state.is_main_process
(1, 0, True)
>>> with state.split_between_processes([1, 2, 3]) as mine:
...     mine
[1, 2, 3]
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import math
import os
from typing import Any

import torch

from snuggle.accelerate.utils import DistributedType, check_mixed_precision, get_env, str_to_bool
from snuggle.errors import ConfigError
from snuggle.utils.logging import get_logger

logger = get_logger("snuggle.accelerate.state")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer") from None


class PartialState:
    """Ranks, device and process group of this process; identical in every instance.

    Args:
        cpu: force the CPU even when CUDA is available (also `SNUGGLE_USE_CPU=1`).
        backend: torch.distributed backend; default nccl on CUDA, gloo on CPU.
        timeout: a datetime.timedelta for collective operations (default 30 minutes).
    """

    _shared_state: dict[str, Any] = {}

    def __init__(self, cpu: bool = False, **kwargs):
        self.__dict__ = self._shared_state
        if self.initialized:
            return
        env_cpu = get_env("USE_CPU")
        self._cpu = bool(cpu or (env_cpu is not None and str_to_bool(env_cpu)))
        use_cuda = torch.cuda.is_available() and not self._cpu
        world_size = _env_int("WORLD_SIZE", 1)
        rank = _env_int("RANK", 0)
        local_rank = _env_int("LOCAL_RANK", 0)
        dist = torch.distributed
        already = dist.is_available() and dist.is_initialized()
        if world_size > 1 or already:
            if not dist.is_available():
                raise ConfigError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
            backend = kwargs.get("backend") or ("nccl" if use_cuda else "gloo")
            if use_cuda:
                torch.cuda.set_device(local_rank)
            if not already:
                for name in ("MASTER_ADDR", "MASTER_PORT"):
                    if not os.environ.get(name):
                        raise ConfigError(
                            f"WORLD_SIZE={world_size} but {name} is not set; start the script with "
                            "`snuggle launch` or `torchrun`, which set it"
                        )
                timeout = kwargs.get("timeout") or datetime.timedelta(minutes=30)
                init_kwargs = {"backend": backend, "init_method": "env://", "timeout": timeout}
                if use_cuda:
                    # binding the device lets nccl set up its communicator eagerly
                    init_kwargs["device_id"] = torch.device("cuda", local_rank)
                dist.init_process_group(rank=rank, world_size=world_size, **init_kwargs)
            self.backend = dist.get_backend()
            self.num_processes = dist.get_world_size()
            self.process_index = dist.get_rank()
            self.local_process_index = local_rank
            self.distributed_type = DistributedType.MULTI_GPU if use_cuda else DistributedType.MULTI_CPU
        else:
            self.backend = None
            self.num_processes = 1
            self.process_index = 0
            self.local_process_index = 0
            self.distributed_type = DistributedType.NO
        self.device = torch.device("cuda", self.local_process_index) if use_cuda else torch.device("cpu")
        self.debug = bool(get_env("DEBUG_MODE") and str_to_bool(get_env("DEBUG_MODE")))
        self.fork_launched = False

    # ---------------------------------------------------------------- identity
    @property
    def initialized(self) -> bool:
        return "num_processes" in self._shared_state

    @property
    def use_distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.distributed_type != DistributedType.NO and self.num_processes > 1

    @property
    def is_main_process(self) -> bool:
        return self.process_index == 0

    @property
    def is_local_main_process(self) -> bool:
        return self.local_process_index == 0

    @property
    def is_last_process(self) -> bool:
        return self.process_index == self.num_processes - 1

    @property
    def default_device(self) -> torch.device:
        return self.device

    def __repr__(self) -> str:
        return (
            f"Distributed environment: {self.distributed_type}{('  Backend: ' + self.backend) if self.backend else ''}\n"
            f"Num processes: {self.num_processes}\nProcess index: {self.process_index}\n"
            f"Local process index: {self.local_process_index}\nDevice: {self.device}\n"
        )

    # ---------------------------------------------------------------- synchronisation
    def wait_for_everyone(self) -> None:
        """Block until every process reaches this line (a barrier); no-op in a single process."""
        if self.use_distributed:
            torch.distributed.barrier()

    @contextlib.contextmanager
    def _first(self, leader: bool):
        if not leader:
            self.wait_for_everyone()
        yield
        if leader:
            self.wait_for_everyone()

    def main_process_first(self):
        """Context: the main process runs the block first (e.g. to download or cache), then the others."""
        return self._first(self.is_main_process)

    def local_main_process_first(self):
        """Context: the local main process of each machine runs the block first."""
        return self._first(self.is_local_main_process)

    @contextlib.contextmanager
    def split_between_processes(self, inputs, apply_padding: bool = False):
        """Context yielding this process's contiguous share of `inputs` (list, tuple, tensor,
        or dict of those). The first `len % num_processes` processes get one extra item; with
        `apply_padding=True` the shorter shares repeat their last item so all shares have equal
        length (useful before `gather`).

        >>> with PartialState().split_between_processes({"a": [1, 2]}) as part:
        ...     part
        {'a': [1, 2]}
        """
        if self.num_processes == 1:
            yield inputs
            return
        yield _split(inputs, self.num_processes, self.process_index, apply_padding)

    # ---------------------------------------------------------------- decorators
    def on_main_process(self, function):
        """Decorator: run `function` on the main process only (returns None elsewhere)."""
        return self._only_on(function, lambda: self.is_main_process)

    def on_local_main_process(self, function):
        return self._only_on(function, lambda: self.is_local_main_process)

    def on_last_process(self, function):
        return self._only_on(function, lambda: self.is_last_process)

    def on_process(self, function=None, process_index: int | None = None):
        if function is None:
            return functools.partial(self.on_process, process_index=process_index)
        return self._only_on(function, lambda: self.process_index == process_index)

    def on_local_process(self, function=None, local_process_index: int | None = None):
        if function is None:
            return functools.partial(self.on_local_process, local_process_index=local_process_index)
        return self._only_on(function, lambda: self.local_process_index == local_process_index)

    @staticmethod
    def _only_on(function, predicate):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            if predicate():
                return function(*args, **kwargs)
            return None

        return wrapper

    def print(self, *args, **kwargs) -> None:
        """print() on the local main process only."""
        if self.is_local_main_process:
            print(*args, **kwargs)

    # ---------------------------------------------------------------- teardown
    def destroy_process_group(self, group=None) -> None:
        """Tear down the process group this state created (call at the end of a script)."""
        if self.use_distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group(group)

    @classmethod
    def _reset_state(cls) -> None:
        """Forget the shared state (tests); the process group, if any, stays as it is."""
        cls._shared_state.clear()


def _split(inputs, num_processes: int, index: int, apply_padding: bool):
    """This process's share of `inputs` (see PartialState.split_between_processes)."""
    if isinstance(inputs, dict):
        return {k: _split(v, num_processes, index, apply_padding) for k, v in inputs.items()}
    if not isinstance(inputs, (list, tuple, torch.Tensor)):
        raise ConfigError(
            f"split_between_processes got a {type(inputs).__name__}; expected a list, tuple, tensor or a dict of them"
        )
    length = len(inputs)
    per_process, extras = divmod(length, num_processes)
    start = index * per_process + min(index, extras)
    end = start + per_process + (1 if index < extras else 0)
    part = inputs[start:end]
    target = math.ceil(length / num_processes)
    if apply_padding and len(part) < target:
        if len(part) == 0:
            # nothing of our own to repeat: borrow the last item of the whole input
            filler = inputs[-1:]
        else:
            filler = part[-1:]
        missing = target - len(part)
        if isinstance(part, torch.Tensor):
            part = torch.cat([part, filler.repeat(missing, *([1] * (part.dim() - 1)))])
        else:
            part = part + type(part)(list(filler) * missing)
    return part


class GradientState:
    """Shared gradient-accumulation bookkeeping: whether this step syncs/steps (`sync_gradients`),
    whether the active dataloader just yielded its last batch (`end_of_dataloader`) and how many
    samples of that last batch are duplicates (`remainder`)."""

    _shared_state: dict[str, Any] = {}

    def __init__(self, gradient_accumulation_plugin=None):
        self.__dict__ = self._shared_state
        if not self.initialized:
            self.sync_gradients = True
            self.active_dataloader = None
            self.dataloader_references = [None]
            self.plugin_kwargs = {"num_steps": 1, "adjust_scheduler": True, "sync_with_dataloader": True,
                                  "sync_each_batch": False}
            self._is_xla_gradients_synced = False
        if gradient_accumulation_plugin is not None:
            self.plugin_kwargs = gradient_accumulation_plugin.to_kwargs()

    @property
    def initialized(self) -> bool:
        return "sync_gradients" in self._shared_state

    @property
    def num_steps(self) -> int:
        return self.plugin_kwargs.get("num_steps", 1)

    @property
    def adjust_scheduler(self) -> bool:
        return self.plugin_kwargs.get("adjust_scheduler", True)

    @property
    def sync_with_dataloader(self) -> bool:
        return self.plugin_kwargs.get("sync_with_dataloader", True)

    @property
    def sync_each_batch(self) -> bool:
        return self.plugin_kwargs.get("sync_each_batch", False)

    @property
    def end_of_dataloader(self) -> bool:
        return bool(self.active_dataloader is not None and self.active_dataloader.end_of_dataloader)

    @property
    def remainder(self) -> int:
        return -1 if self.active_dataloader is None else self.active_dataloader.remainder

    @property
    def in_dataloader(self) -> bool:
        return self.active_dataloader is not None

    def _set_sync_gradients(self, value: bool) -> None:
        self.sync_gradients = value

    def _add_dataloader(self, dataloader) -> None:
        self.active_dataloader = dataloader
        self.dataloader_references.append(dataloader)

    def _remove_dataloader(self, dataloader) -> None:
        if dataloader in self.dataloader_references:
            self.dataloader_references.remove(dataloader)
        self.active_dataloader = self.dataloader_references[-1]

    @classmethod
    def _reset_state(cls) -> None:
        cls._shared_state.clear()


class AcceleratorState:
    """PartialState plus the run's choices: mixed precision and the FSDP plugin (which turns the
    distributed type into FSDP). Shares PartialState's ranks and device.

    Unlike accelerate, creating a new Accelerator with a different `mixed_precision` in the same
    program replaces these choices instead of raising; the process group is kept either way.
    """

    _shared_state: dict[str, Any] = {}

    def __init__(self, mixed_precision: str | None = None, cpu: bool = False, fsdp_plugin=None,
                 _from_accelerator: bool = False, **kwargs):
        self.__dict__ = self._shared_state
        partial = PartialState(cpu, **kwargs)
        if self.initialized and not _from_accelerator:
            return
        if mixed_precision is None:
            mixed_precision = get_env("MIXED_PRECISION", "no")
        self._mixed_precision = check_mixed_precision(mixed_precision)
        self.fsdp_plugin = None
        self.distributed_type = partial.distributed_type
        use_fsdp_env = get_env("USE_FSDP")
        wants_fsdp = fsdp_plugin is not None or (use_fsdp_env is not None and str_to_bool(use_fsdp_env))
        if wants_fsdp:
            if fsdp_plugin is None:
                from snuggle.accelerate.plugins import FullyShardedDataParallelPlugin

                fsdp_plugin = FullyShardedDataParallelPlugin()
            self.fsdp_plugin = fsdp_plugin
            if partial.use_distributed:
                self.distributed_type = DistributedType.FSDP
            else:
                logger.info("FSDP requested in a single process: running without sharding")
        self._initialized_marker = True

    @property
    def initialized(self) -> bool:
        return "_initialized_marker" in self._shared_state

    @property
    def mixed_precision(self) -> str:
        return self._mixed_precision

    def __getattr__(self, name: str):
        # ranks, device and collectives come from the shared PartialState
        if name.startswith("__") or name in ("_shared_state",):
            raise AttributeError(name)
        return getattr(PartialState(), name)

    @property
    def use_distributed(self) -> bool:
        return PartialState().use_distributed

    def __repr__(self) -> str:
        return repr(PartialState()) + f"Mixed precision type: {self.mixed_precision}\n"

    @classmethod
    def _reset_state(cls, reset_partial_state: bool = False) -> None:
        cls._shared_state.clear()
        if reset_partial_state:
            PartialState._reset_state()
