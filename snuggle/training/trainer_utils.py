"""Small shared types of the Trainer: strategies, outputs, seeding, checkpoint discovery.

The names and fields are the reference's (transformers.trainer_utils), so user code that
imports them keeps working:

>>> from snuggle.training.trainer_utils import IntervalStrategy, get_last_checkpoint
>>> IntervalStrategy("steps")
<IntervalStrategy.STEPS: 'steps'>
"""

from __future__ import annotations

import os
import re
from enum import Enum
from typing import Any, NamedTuple

PREFIX_CHECKPOINT_DIR = "checkpoint"
_RE_CHECKPOINT = re.compile(r"^" + PREFIX_CHECKPOINT_DIR + r"\-(\d+)$")

# File names inside checkpoint-N/ (the reference's layout).
TRAINING_ARGS_NAME = "training_args.bin"
TRAINER_STATE_NAME = "trainer_state.json"
OPTIMIZER_NAME = "optimizer.pt"
SCHEDULER_NAME = "scheduler.pt"
SCALER_NAME = "scaler.pt"
RNG_STATE_NAME = "rng_state"  # rng_state.pth, or rng_state_{rank}.pth under several processes


class ExplicitEnum(str, Enum):
    """An Enum whose unknown values fail with the list of valid ones."""

    @classmethod
    def _missing_(cls, value: Any):
        valid = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"{value!r} is not a valid {cls.__name__}; expected one of {valid}")

    def __str__(self) -> str:
        return str(self.value)


class IntervalStrategy(ExplicitEnum):
    NO = "no"
    STEPS = "steps"
    EPOCH = "epoch"


class SaveStrategy(ExplicitEnum):
    NO = "no"
    STEPS = "steps"
    EPOCH = "epoch"
    BEST = "best"


class SchedulerType(ExplicitEnum):
    LINEAR = "linear"
    COSINE = "cosine"
    COSINE_WITH_RESTARTS = "cosine_with_restarts"
    POLYNOMIAL = "polynomial"
    CONSTANT = "constant"
    CONSTANT_WITH_WARMUP = "constant_with_warmup"
    INVERSE_SQRT = "inverse_sqrt"
    REDUCE_ON_PLATEAU = "reduce_lr_on_plateau"
    COSINE_WITH_MIN_LR = "cosine_with_min_lr"
    WARMUP_STABLE_DECAY = "warmup_stable_decay"


class OptimizerNames(ExplicitEnum):
    ADAMW_TORCH = "adamw_torch"
    ADAMW_TORCH_FUSED = "adamw_torch_fused"
    ADAFACTOR = "adafactor"
    SGD = "sgd"
    ADAGRAD = "adagrad"
    RMSPROP = "rmsprop"


class EvalPrediction:
    """What `compute_metrics` receives: predictions and label_ids (numpy arrays or tuples of them).

    Unpacks like the reference's: `preds, labels = eval_pred`.
    """

    def __init__(self, predictions, label_ids, inputs=None, losses=None):
        self.predictions = predictions
        self.label_ids = label_ids
        self.inputs = inputs
        self.losses = losses
        self._items = (predictions, label_ids) + tuple(x for x in (inputs, losses) if x is not None)

    def __iter__(self):
        return iter(self._items)

    def __getitem__(self, idx):
        return self._items[idx]

    def __len__(self) -> int:
        return len(self._items)


class EvalLoopOutput(NamedTuple):
    predictions: Any
    label_ids: Any
    metrics: dict[str, float] | None
    num_samples: int | None


class PredictionOutput(NamedTuple):
    predictions: Any
    label_ids: Any
    metrics: dict[str, float] | None


class TrainOutput(NamedTuple):
    global_step: int
    training_loss: float
    metrics: dict[str, float]


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (all devices) in one call (snuggle.accelerate.utils.set_seed).

    >>> set_seed(42)
    """
    from snuggle.accelerate.utils import set_seed as seed_everything

    seed_everything(seed, deterministic=deterministic)


def enable_full_determinism(seed: int) -> None:
    """set_seed plus deterministic torch kernels (slower; for bit-exact reruns)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    set_seed(seed, deterministic=True)


def checkpoint_step(name: str) -> int | None:
    """The step number of a `checkpoint-N` folder name, or None.

    >>> checkpoint_step("checkpoint-500"), checkpoint_step("runs")
    (500, None)
    """
    m = _RE_CHECKPOINT.match(os.path.basename(os.path.normpath(name)))
    return int(m.group(1)) if m else None


def sorted_checkpoints(output_dir: str | os.PathLike) -> list[str]:
    """The complete `checkpoint-N` folders of output_dir, oldest (lowest N) first.

    A folder counts as complete when it holds trainer_state.json, which the Trainer writes
    last and atomically; a crash mid-save leaves no such folder behind.
    """
    if not os.path.isdir(output_dir):
        return []
    found = []
    for entry in os.listdir(output_dir):
        step = checkpoint_step(entry)
        path = os.path.join(output_dir, entry)
        if step is not None and os.path.isdir(path) and os.path.isfile(os.path.join(path, TRAINER_STATE_NAME)):
            found.append((step, path))
    return [p for _, p in sorted(found)]


def get_last_checkpoint(folder: str | os.PathLike) -> str | None:
    """The newest complete checkpoint-N folder in `folder`, or None (the reference's helper).

    >>> get_last_checkpoint("/nonexistent") is None
    True
    """
    found = sorted_checkpoints(folder)
    return found[-1] if found else None


def denumpify_detensorize(metrics: Any) -> Any:
    """Turn numpy scalars / 0-d tensors inside a metrics structure into Python numbers."""
    if isinstance(metrics, (list, tuple)):
        return type(metrics)(denumpify_detensorize(m) for m in metrics)
    if isinstance(metrics, dict):
        return type(metrics)({k: denumpify_detensorize(v) for k, v in metrics.items()})
    kind = type(metrics).__module__.split(".")[0]
    if kind == "numpy" and getattr(metrics, "size", 2) == 1:
        return metrics.item()
    if kind == "torch" and hasattr(metrics, "numel") and metrics.numel() == 1:
        return metrics.item()
    return metrics


class HubStrategy(ExplicitEnum):
    """What the Trainer pushes to the Hub and when (TrainingArguments.hub_strategy)."""

    END = "end"
    EVERY_SAVE = "every_save"
    CHECKPOINT = "checkpoint"
    ALL_CHECKPOINTS = "all_checkpoints"
