"""Accelerator.save_state / load_state files, in accelerate's layout:

    model.safetensors, model_1.safetensors ...      one file per prepared model
    optimizer.bin, optimizer_1.bin ...              optimizer state dicts
    scheduler.bin, scheduler_1.bin ...              scheduler state dicts
    scaler.pt                                       GradScaler (fp16 on CUDA)
    random_states_<process>.pkl                     python/numpy/torch RNG states + step, per process
    custom_checkpoint_<i>.pkl                       objects given to register_for_checkpointing

The folder is written under `<output_dir>.incomplete` and renamed into place once every process
has written its part, so an interrupted save never leaves a half-written checkpoint under the
final name. Reading uses torch.load(weights_only=True): no pickled code runs.

>>> rng = capture_rng_state()
>>> sorted(rng)[:2]
['numpy_random_state', 'python_random_state']
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil

import torch

from snuggle.accelerate.state import PartialState
from snuggle.errors import TrainingError
from snuggle.utils.atomic import replace_dir

MODEL_NAME = "model"
OPTIMIZER_NAME = "optimizer"
SCHEDULER_NAME = "scheduler"
SCALER_NAME = "scaler.pt"
RNG_STATE_NAME = "random_states"
CUSTOM_NAME = "custom_checkpoint"


def indexed_name(stem: str, index: int, ext: str) -> str:
    """'model.safetensors' for the first object, 'model_1.safetensors' for the second...

    >>> indexed_name("optimizer", 1, "bin")
    'optimizer_1.bin'
    """
    return f"{stem}.{ext}" if index == 0 else f"{stem}_{index}.{ext}"


def capture_rng_state(step: int = 0) -> dict:
    """Every RNG state of this process as plain values (loadable with weights_only=True)."""
    state = {"python_random_state": _plain(random.getstate()), "torch_manual_seed": torch.get_rng_state(),
             "step": step}
    try:
        import numpy as np

        name, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy_random_state"] = [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]
    except ImportError:  # pragma: no cover - numpy is a dependency
        state["numpy_random_state"] = None
    if torch.cuda.is_available():
        state["torch_cuda_manual_seed"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> int:
    """Put back what capture_rng_state recorded; returns the recorded step."""
    py = state["python_random_state"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    torch.set_rng_state(state["torch_manual_seed"])
    if state.get("numpy_random_state") is not None:
        import numpy as np

        name, keys, pos, has_gauss, cached = state["numpy_random_state"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "torch_cuda_manual_seed" in state and torch.cuda.is_available():
        with contextlib.suppress(Exception):  # fewer GPUs than when saved: keep the current states
            torch.cuda.set_rng_state_all(state["torch_cuda_manual_seed"])
    return int(state.get("step", 0))


def _plain(value):
    """Tuples -> lists recursively (weights_only unpickling accepts lists and ints)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _save(obj, path: str) -> None:
    torch.save(obj, path)
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def load_file(path: str, load_kwargs: dict | None = None):
    """torch.load with weights_only=True unless the caller overrides it in `load_kwargs`."""
    kwargs = {"map_location": "cpu", "weights_only": True, **(load_kwargs or {})}
    try:
        return torch.load(path, **kwargs)
    except FileNotFoundError:
        raise TrainingError(f"{path}: missing from the checkpoint folder") from None
    except Exception as err:
        if kwargs.get("weights_only"):
            raise TrainingError(
                f"{path}: cannot be loaded with weights_only=True ({err}); if you trust this file, pass "
                "load_kwargs={'weights_only': False} to load_state"
            ) from None
        raise


def staging_dir(output_dir: str) -> str:
    return os.path.abspath(output_dir).rstrip(os.sep) + ".incomplete"


def begin_save(output_dir: str) -> str:
    """Create the staging folder (main process) and wait for it on every process; returns it."""
    state = PartialState()
    staging = staging_dir(output_dir)
    if state.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)  # left over from an interrupted save
        os.makedirs(staging)
    state.wait_for_everyone()
    return staging


def finish_save(output_dir: str) -> None:
    """Every process has written its files: move the staging folder into place (main process)."""
    state = PartialState()
    state.wait_for_everyone()
    if state.is_main_process:
        replace_dir(staging_dir(output_dir), os.path.abspath(output_dir).rstrip(os.sep))
    state.wait_for_everyone()


def save_model_weights(state_dict: dict, folder: str, index: int, safe_serialization: bool = True) -> str:
    """Write one model's weights as model[_i].safetensors (or pytorch_model[_i].bin)."""
    state_dict = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    if safe_serialization:
        from safetensors.torch import save_file

        from snuggle.models.weights import _dedupe_shared

        name = indexed_name(MODEL_NAME, index, "safetensors")
        path = os.path.join(folder, name)
        save_file(_dedupe_shared(state_dict), path, metadata={"format": "pt"})
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    else:
        name = indexed_name("pytorch_model", index, "bin")
        _save(state_dict, os.path.join(folder, name))
    return name


def load_model_weights(folder: str, index: int) -> dict:
    """The state dict saved by save_model_weights (either format)."""
    safe = os.path.join(folder, indexed_name(MODEL_NAME, index, "safetensors"))
    if os.path.exists(safe):
        from snuggle.models.weights import load_state_dict

        return load_state_dict(safe)
    legacy = os.path.join(folder, indexed_name("pytorch_model", index, "bin"))
    if os.path.exists(legacy):
        return load_file(legacy)
    raise TrainingError(
        f"{folder}: no weights for model {index} (expected {os.path.basename(safe)}); was this folder written by "
        "save_state with the same number of prepared models?"
    )


def save_object(obj, folder: str, stem: str, index: int) -> str:
    name = indexed_name(stem, index, "bin")
    _save(obj, os.path.join(folder, name))
    return name


def save_rng(folder: str, step: int) -> None:
    _save(capture_rng_state(step), os.path.join(folder, f"{RNG_STATE_NAME}_{PartialState().process_index}.pkl"))


def load_rng(folder: str) -> int | None:
    """Restore this process's RNG states if the checkpoint has them; returns the saved step."""
    path = os.path.join(folder, f"{RNG_STATE_NAME}_{PartialState().process_index}.pkl")
    if not os.path.exists(path):
        return None
    return restore_rng_state(load_file(path))


def save_custom(obj, folder: str, index: int) -> None:
    if not hasattr(obj, "state_dict"):
        raise TrainingError(f"custom checkpoint object {index} ({type(obj).__name__}) has no state_dict()")
    _save(obj.state_dict(), os.path.join(folder, f"{CUSTOM_NAME}_{index}.pkl"))


def load_custom(obj, folder: str, index: int, load_kwargs: dict | None = None) -> None:
    obj.load_state_dict(load_file(os.path.join(folder, f"{CUSTOM_NAME}_{index}.pkl"), load_kwargs))


def checkpoint_folders(project_dir: str) -> list[str]:
    """<project_dir>/checkpoints/checkpoint_<i> folders, oldest first."""
    root = os.path.join(project_dir, "checkpoints")
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        prefix, _, number = name.rpartition("_")
        if prefix == "checkpoint" and number.isdigit() and os.path.isdir(os.path.join(root, name)):
            found.append((int(number), os.path.join(root, name)))
    return [path for _, path in sorted(found)]
