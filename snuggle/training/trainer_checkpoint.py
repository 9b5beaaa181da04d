"""Checkpoint folders of the Trainer: write atomically, rotate, and read back for a resume.

Layout (the reference's): output_dir/checkpoint-N/ with model.safetensors + config.json (or whatever
`save_pretrained` writes), training_args.bin, optimizer.pt, scheduler.pt, rng_state.pth
(rng_state_{rank}.pth under several processes) and trainer_state.json.

Atomicity: everything goes to output_dir/tmp-checkpoint-N first; the folder is renamed to
checkpoint-N only when complete, so a kill -9 mid-save leaves the previous checkpoints untouched and
no half-written checkpoint-N (a stale tmp folder is removed by the next save). trainer_state.json
is the last file written, and `sorted_checkpoints` only counts folders that have it.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> with checkpoint_writer(d, 3) as tmp:
...     _ = open(os.path.join(tmp, "trainer_state.json"), "w").write("{}")
>>> sorted(os.listdir(d))
['checkpoint-3']
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from snuggle.errors import TrainingError
from snuggle.training.trainer_utils import (
    OPTIMIZER_NAME,
    PREFIX_CHECKPOINT_DIR,
    RNG_STATE_NAME,
    SCHEDULER_NAME,
    TRAINER_STATE_NAME,
    get_last_checkpoint,
    sorted_checkpoints,
)
from snuggle.utils.atomic import fsync_path, replace_dir
from snuggle.utils.logging import get_logger

logger = get_logger(__name__)


def checkpoint_name(step: int) -> str:
    return f"{PREFIX_CHECKPOINT_DIR}-{step}"


def _fsync_tree(path: str) -> None:
    """Flush every file of a folder to disk before it is renamed into place."""
    for root, _, files in os.walk(path):
        for name in files:
            fsync_path(os.path.join(root, name), quiet=True)
        fsync_path(root, quiet=True)


def tmp_checkpoint_dir(output_dir: str, step: int) -> str:
    return os.path.join(output_dir, f"tmp-{checkpoint_name(step)}")


def publish_checkpoint(tmp: str, final: str) -> None:
    """Rename a complete temp folder onto `final` (replacing an older folder of the same step)."""
    _fsync_tree(tmp)
    replace_dir(tmp, final)
    fsync_path(os.path.dirname(final), quiet=True)


@contextlib.contextmanager
def checkpoint_writer(output_dir: str, step: int, publish: bool = True) -> Iterator[str]:
    """Yield a fresh temp folder for checkpoint `step`; rename it to checkpoint-`step` on success.

    On an exception the temp folder is removed and nothing is published.
    """
    os.makedirs(output_dir, exist_ok=True)
    tmp = tmp_checkpoint_dir(output_dir, step)
    shutil.rmtree(tmp, ignore_errors=True)  # left over from a killed save
    os.makedirs(tmp)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if publish:
        publish_checkpoint(tmp, os.path.join(output_dir, checkpoint_name(step)))


# ---------------------------------------------------------------- rng state


def rng_state_file(folder: str, process_index: int = 0, world_size: int = 1) -> str:
    name = f"{RNG_STATE_NAME}.pth" if world_size <= 1 else f"{RNG_STATE_NAME}_{process_index}.pth"
    return os.path.join(folder, name)


def capture_rng_state() -> dict:
    """python / numpy / torch-cpu (and cuda when present) generator states, the reference's keys."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.random.get_rng_state_all()
    return state


def save_rng_state(folder: str, process_index: int = 0, world_size: int = 1) -> None:
    torch.save(capture_rng_state(), rng_state_file(folder, process_index, world_size))


def _load_pickle(path: str):
    """Load a file the Trainer itself wrote (numpy RNG state and argument objects need full unpickling)."""
    return torch.load(path, map_location="cpu", weights_only=False)


def load_rng_state(folder: str, process_index: int = 0, world_size: int = 1) -> bool:
    """Restore the generators saved in `folder`; False (and a log line) when the file is missing."""
    path = rng_state_file(folder, process_index, world_size)
    if not os.path.isfile(path):
        logger.warning(f"{path} not found: random generators are not restored, so a resumed run with dropout "
                       "or random data augmentation will not repeat the uninterrupted run exactly")
        return False
    state = _load_pickle(path)
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.random.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.random.set_rng_state_all(state["cuda"])
    return True


# ---------------------------------------------------------------- optimizer and scheduler


def save_optimizer_and_scheduler(folder: str, optimizer, lr_scheduler) -> None:
    torch.save(optimizer.state_dict(), os.path.join(folder, OPTIMIZER_NAME))
    if lr_scheduler is not None:
        torch.save(lr_scheduler.state_dict(), os.path.join(folder, SCHEDULER_NAME))


def load_optimizer_and_scheduler(folder: str, optimizer, lr_scheduler) -> None:
    optimizer_file = os.path.join(folder, OPTIMIZER_NAME)
    if not os.path.isfile(optimizer_file):
        raise TrainingError(f"{folder}: {OPTIMIZER_NAME} is missing (saved with save_only_model=True?); "
                            "such a checkpoint holds the weights only and cannot resume training")
    optimizer.load_state_dict(torch.load(optimizer_file, map_location="cpu", weights_only=True))
    scheduler_file = os.path.join(folder, SCHEDULER_NAME)
    if lr_scheduler is not None and os.path.isfile(scheduler_file):
        lr_scheduler.load_state_dict(torch.load(scheduler_file, map_location="cpu", weights_only=True))


# ---------------------------------------------------------------- finding and rotating


def resolve_resume_checkpoint(resume_from_checkpoint, output_dir: str) -> str | None:
    """True -> newest complete checkpoint in output_dir; a path -> that folder (checked); else None."""
    if resume_from_checkpoint is None or resume_from_checkpoint is False:
        return None
    if resume_from_checkpoint is True:
        found = get_last_checkpoint(output_dir)
        if found is None:
            raise TrainingError(f"resume_from_checkpoint=True but {output_dir!r} holds no complete checkpoint-N "
                                "folder (one with trainer_state.json); train without resuming, or pass a path")
        return found
    path = os.fspath(resume_from_checkpoint)
    if not os.path.isdir(path):
        raise TrainingError(f"resume_from_checkpoint={path!r} is not a folder; pass a checkpoint-N folder or True")
    if not os.path.isfile(os.path.join(path, TRAINER_STATE_NAME)):
        raise TrainingError(f"{path}: no {TRAINER_STATE_NAME}, so this is not a complete Trainer checkpoint "
                            "(a save killed midway leaves only tmp-checkpoint-N); pick an older checkpoint")
    return path


def checkpoints_to_delete(output_dir: str, save_total_limit: int | None, best_model_checkpoint: str | None) -> list[str]:
    """Oldest checkpoints beyond `save_total_limit`, never the best one (the reference's rule).

    With save_total_limit=1 and a best checkpoint that is not the newest, two are kept so that
    the newest still allows a resume.
    """
    if not save_total_limit or save_total_limit <= 0:
        return []
    ordered = sorted_checkpoints(output_dir)
    if len(ordered) <= save_total_limit:
        return []
    best = str(Path(best_model_checkpoint)) if best_model_checkpoint else None
    ordered = [str(Path(p)) for p in ordered]
    if best in ordered:
        # move the best one towards the end (just before the newest) so it is deleted last
        i = ordered.index(best)
        for j in range(i, len(ordered) - 2):
            ordered[j], ordered[j + 1] = ordered[j + 1], ordered[j]
    limit = save_total_limit
    if best is not None and save_total_limit == 1 and ordered[-1] != best:
        limit = 2
    return ordered[: max(0, len(ordered) - limit)]


def rotate_checkpoints(output_dir: str, save_total_limit: int | None, best_model_checkpoint: str | None) -> None:
    for folder in checkpoints_to_delete(output_dir, save_total_limit, best_model_checkpoint):
        logger.info(f"Deleting older checkpoint {folder} (save_total_limit={save_total_limit})")
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- model weights


def load_model_weights(model, folder: str) -> None:
    """Load the weights `save_pretrained` wrote in `folder` into `model` in place (resume / best model).

    Accepts model.safetensors, a sharded model.safetensors.index.json, or pytorch_model.bin. Tied weights
    stored once are fine; any other missing or unexpected key is an error naming the keys.
    """
    import json

    from snuggle.models.weights import load_state_dict

    single = [os.path.join(folder, n) for n in ("model.safetensors", "pytorch_model.bin")]
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.isfile(single[0]):
        state = load_state_dict(single[0])
    elif os.path.isfile(index):
        with open(index, encoding="utf-8") as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        state = {}
        for name in files:
            state.update(load_state_dict(os.path.join(folder, name)))
    elif os.path.isfile(single[1]):
        state = load_state_dict(single[1])
    else:
        raise TrainingError(f"{folder}: no model.safetensors, model.safetensors.index.json or pytorch_model.bin; "
                            "cannot load the model weights from this checkpoint")
    result = model.load_state_dict(state, strict=False)
    tied = set()
    if hasattr(model, "get_expanded_tied_weights_keys"):
        tied = set(model.get_expanded_tied_weights_keys())
    missing = [k for k in result.missing_keys if k not in tied]
    if missing or result.unexpected_keys:
        raise TrainingError(f"{folder}: weights do not fit {type(model).__name__} (missing: {missing[:5]}, "
                            f"unexpected: {result.unexpected_keys[:5]}); resume with the model the checkpoint was "
                            "trained from")
    if hasattr(model, "tie_weights"):
        model.tie_weights()
