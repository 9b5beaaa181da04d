"""Small shared pieces of snuggle.accelerate: the distributed/precision enums, environment
variable parsing, seeding and the retry-on-OOM batch size finder.

>>> DistributedType.MULTI_CPU == "MULTI_CPU"
True
>>> parse_flag_from_env("SNUGGLE_SOME_UNSET_FLAG", default=False)
False
"""

from __future__ import annotations

import enum
import functools
import gc
import inspect
import os
import random

from snuggle.errors import ConfigError, TrainingError

# Environment variables written by `snuggle launch` and read by PartialState / AcceleratorState.
# The accelerate names (ACCELERATE_*) are honoured too, as a fallback, so scripts launched by
# `accelerate launch` behave the same.
ENV_PREFIXES = ("SNUGGLE_", "ACCELERATE_")


class DistributedType(str, enum.Enum):
    """How the processes of a run share the work (accelerate's names)."""

    NO = "NO"
    MULTI_CPU = "MULTI_CPU"
    MULTI_GPU = "MULTI_GPU"
    FSDP = "FSDP"
    DEEPSPEED = "DEEPSPEED"

    def __str__(self) -> str:
        return self.value


class PrecisionType(str, enum.Enum):
    """The values `mixed_precision` accepts."""

    NO = "no"
    FP16 = "fp16"
    BF16 = "bf16"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def list(cls) -> list[str]:
        return [m.value for m in cls]


class RNGType(str, enum.Enum):
    TORCH = "torch"
    CUDA = "cuda"
    GENERATOR = "generator"


def get_env(name: str, default: str | None = None) -> str | None:
    """The value of SNUGGLE_<name>, else ACCELERATE_<name>, else `default`.

    >>> get_env("SURELY_NOT_SET", "x")
    'x'
    """
    for prefix in ENV_PREFIXES:
        value = os.environ.get(prefix + name)
        if value is not None and value != "":
            return value
    return default


def str_to_bool(value: str) -> bool:
    """'1'/'true'/'yes'/'on' -> True, '0'/'false'/'no'/'off' -> False (case-insensitive).

    >>> str_to_bool("Yes"), str_to_bool("0")
    (True, False)
    """
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "y", "on"):
        return True
    if lowered in ("0", "false", "no", "n", "off"):
        return False
    raise ConfigError(f"cannot read {value!r} as a boolean; use one of 1/0, true/false, yes/no")


def parse_flag_from_env(key: str, default: bool = False) -> bool:
    """A boolean environment variable (full name), `default` when unset."""
    value = os.environ.get(key)
    return default if value is None or value == "" else str_to_bool(value)


def check_mixed_precision(value) -> str:
    """Normalise `mixed_precision` to 'no' | 'fp16' | 'bf16' or raise a ConfigError naming the choices.

    >>> check_mixed_precision(None), check_mixed_precision("BF16")
    ('no', 'bf16')
    """
    if value is None:
        return "no"
    text = str(value.value if isinstance(value, enum.Enum) else value).lower()
    if text not in PrecisionType.list():
        raise ConfigError(
            f"mixed_precision={value!r} is not supported; expected one of {PrecisionType.list()} "
            "(fp8 is not implemented in snuggle)"
        )
    return text


def set_seed(seed: int, device_specific: bool = False, deterministic: bool = False) -> None:
    """Seed python `random`, numpy and torch (CPU and every CUDA device).

    With `device_specific=True` each process adds its process index to the seed, so processes
    draw different random numbers (e.g. different dropout masks) while staying reproducible.

    >>> set_seed(42)
    """
    if device_specific:
        from snuggle.accelerate.state import PartialState

        seed += PartialState().process_index
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % (2**32))
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    import torch

    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        torch.use_deterministic_algorithms(True)


def release_memory(*objects):
    """Drop references to `objects`, collect garbage and empty the CUDA cache; returns Nones.

    >>> a, b = release_memory([1], [2])
    >>> a is None and b is None
    True
    """
    objects = [None] * len(objects)
    gc.collect()
    _empty_device_cache()
    return objects


def _empty_device_cache() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _is_oom(exc: BaseException) -> bool:
    text = str(exc)
    if len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]
    markers = ("CUDA out of memory", "out of memory", "DefaultCPUAllocator: can't allocate memory",
               "CUBLAS_STATUS_ALLOC_FAILED", "cuDNN error: CUDNN_STATUS_NOT_SUPPORTED")
    return isinstance(exc, (RuntimeError, MemoryError)) and any(m in text for m in markers)


def find_executable_batch_size(function=None, starting_batch_size: int = 128):
    """Decorator: call `function(batch_size, *args)` and halve `batch_size` after each
    out-of-memory error until it runs (accelerate's helper).

    >>> @find_executable_batch_size(starting_batch_size=8)
    ... def train(batch_size):
    ...     if batch_size > 2:
    ...         raise RuntimeError("CUDA out of memory.")
    ...     return batch_size
    >>> train()
    2
    """
    if function is None:
        return functools.partial(find_executable_batch_size, starting_batch_size=starting_batch_size)

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        batch_size = starting_batch_size
        params = list(inspect.signature(function).parameters)
        if len(params) < len(args) + 1:
            raise TypeError(
                f"{function.__name__} takes the batch size as its first argument and gets it from the "
                f"decorator; call it without that argument (got {len(args)} positional arguments)"
            )
        while True:
            if batch_size == 0:
                raise TrainingError("no executable batch size found: reached zero after halving on OOM errors")
            try:
                return function(batch_size, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - we re-raise anything that is not an OOM
                if not _is_oom(exc):
                    raise
                gc.collect()
                _empty_device_cache()
                batch_size //= 2

    return wrapper


# accelerate users import many names from `accelerate.utils`; resolve them lazily from the module
# that defines them, so `from snuggle.accelerate.utils import gather_object` works too.
_FORWARDED = {
    **{name: "snuggle.accelerate.operations" for name in (
        "gather", "gather_object", "reduce", "broadcast", "broadcast_object_list", "pad_across_processes",
        "send_to_device", "recursively_apply", "concatenate", "find_batch_size", "slice_tensors")},
    **{name: "snuggle.accelerate.plugins" for name in (
        "GradientAccumulationPlugin", "FullyShardedDataParallelPlugin", "DistributedDataParallelKwargs",
        "GradScalerKwargs", "InitProcessGroupKwargs", "AutocastKwargs", "ProjectConfiguration",
        "DataLoaderConfiguration")},
    "skip_first_batches": "snuggle.accelerate.data_loader",
}


def __getattr__(name: str):
    module = _FORWARDED.get(name)
    if module is None:
        raise AttributeError(f"module 'snuggle.accelerate.utils' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
