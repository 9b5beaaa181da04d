"""snuggle.accelerate: the `accelerate` equivalent. One training script runs in a single process,
under `snuggle launch`/torchrun with DDP (gloo on CPU, nccl on CUDA) or with FSDP.

>>> from snuggle.accelerate import Accelerator          # doctest: +SKIP
>>> accelerator = Accelerator(gradient_accumulation_steps=4)   # doctest: +SKIP
>>> model, optimizer, loader = accelerator.prepare(model, optimizer, loader)   # doctest: +SKIP

Importing this package is cheap (no torch); names load on first access.
"""

from __future__ import annotations

from snuggle.utils.lazy import lazy_exports

_LAZY = {
    "Accelerator": "snuggle.accelerate.accelerator",
    "PartialState": "snuggle.accelerate.state",
    "AcceleratorState": "snuggle.accelerate.state",
    "GradientState": "snuggle.accelerate.state",
    "DistributedType": "snuggle.accelerate.utils",
    "PrecisionType": "snuggle.accelerate.utils",
    "set_seed": "snuggle.accelerate.utils",
    "find_executable_batch_size": "snuggle.accelerate.utils",
    "release_memory": "snuggle.accelerate.utils",
    "skip_first_batches": "snuggle.accelerate.data_loader",
    "prepare_data_loader": "snuggle.accelerate.data_loader",
    "GradientAccumulationPlugin": "snuggle.accelerate.plugins",
    "FullyShardedDataParallelPlugin": "snuggle.accelerate.plugins",
    "DistributedDataParallelKwargs": "snuggle.accelerate.plugins",
    "GradScalerKwargs": "snuggle.accelerate.plugins",
    "InitProcessGroupKwargs": "snuggle.accelerate.plugins",
    "AutocastKwargs": "snuggle.accelerate.plugins",
    "ProjectConfiguration": "snuggle.accelerate.plugins",
    "DataLoaderConfiguration": "snuggle.accelerate.plugins",
    **{name: "snuggle.accelerate.operations" for name in (
        "gather", "gather_object", "reduce", "broadcast", "broadcast_object_list", "pad_across_processes",
        "send_to_device")},
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports("snuggle.accelerate", _LAZY, globals(), submodules={"utils"})
