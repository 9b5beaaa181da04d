"""Experiment trackers for Accelerator(log_with=...): 'jsonl' (always available: one JSON object
per log() call in <logging_dir>/<project>/log_history.jsonl) and 'tensorboard' (when tensorboard
is installed).

>>> resolve_trackers("jsonl")
['jsonl']
"""

from __future__ import annotations

import json
import os
import time

from snuggle.errors import ConfigError, MissingDependencyError

_KNOWN = ("jsonl", "tensorboard")


def resolve_trackers(log_with) -> list[str]:
    """Normalise log_with (None, a name, 'all', or a list of names) to a list of tracker names."""
    if log_with is None:
        return []
    names = [log_with] if isinstance(log_with, str) else list(log_with)
    if "all" in names:
        return ["jsonl"] + (["tensorboard"] if is_tensorboard_available() else [])
    unknown = [n for n in names if n not in _KNOWN]
    if unknown:
        raise ConfigError(f"log_with: unknown tracker(s) {unknown}; available: {list(_KNOWN)} or 'all'")
    if "tensorboard" in names and not is_tensorboard_available():
        raise MissingDependencyError("log_with='tensorboard' needs the tensorboard package: pip install tensorboard")
    return names


def is_tensorboard_available() -> bool:
    """True when tensorboard (for torch.utils.tensorboard) or tensorboardX can be imported."""
    import importlib.util

    return any(importlib.util.find_spec(name) is not None for name in ("tensorboard", "tensorboardX"))


def summary_writer_class():
    """torch.utils.tensorboard's SummaryWriter when tensorboard is installed, else tensorboardX's; None
    without either. (The Accelerator's tracker and the Trainer's TensorBoardCallback both write with it.)"""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        try:
            from torch.utils.tensorboard import SummaryWriter

            return SummaryWriter
        except ImportError:
            pass
    if importlib.util.find_spec("tensorboardX") is not None:
        from tensorboardX import SummaryWriter

        return SummaryWriter
    return None


class JsonlTracker:
    name = "jsonl"

    def __init__(self, run_name: str, logging_dir: str | None, config: dict | None = None):
        folder = os.path.join(logging_dir or ".", run_name)
        os.makedirs(folder, exist_ok=True)
        self.path = os.path.join(folder, "log_history.jsonl")
        self.tracker = self
        if config:
            with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
                json.dump(config, f, indent=2, default=str)

    def log(self, values: dict, step: int | None = None) -> None:
        record = {"step": step, "time": time.time(), **{k: _plain(v) for k, v in values.items()}}
        with open(self.path, "a", encoding="utf-8") as f:  # append-only: each line is complete
            f.write(json.dumps(record) + "\n")

    def finish(self) -> None:
        pass


class TensorBoardTracker:
    name = "tensorboard"

    def __init__(self, run_name: str, logging_dir: str | None, config: dict | None = None):
        self.tracker = summary_writer_class()(os.path.join(logging_dir or ".", run_name))
        if config:
            self.tracker.add_text("config", json.dumps(config, default=str))

    def log(self, values: dict, step: int | None = None) -> None:
        for key, value in values.items():
            value = _plain(value)
            if isinstance(value, (int, float)):
                self.tracker.add_scalar(key, value, global_step=step)
            elif isinstance(value, str):
                self.tracker.add_text(key, value, global_step=step)
        self.tracker.flush()

    def finish(self) -> None:
        self.tracker.close()


def _plain(value):
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()
    return value


def make_trackers(names: list[str], project_name: str, logging_dir: str | None, config: dict | None,
                  is_main_process: bool = True) -> list:
    if not is_main_process:
        return []
    classes = {"jsonl": JsonlTracker, "tensorboard": TensorBoardTracker}
    return [classes[name](project_name, logging_dir, config) for name in names]
