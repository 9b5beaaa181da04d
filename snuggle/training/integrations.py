"""Where the Trainer's logs go besides the console: `report_to` names -> callback classes.

Built in: "jsonl" (JsonlLoggerCallback, no dependency) and "tensorboard" (TensorBoardCallback,
needs `pip install snuggle[tensorboard]` or tensorboardX). Third-party trackers (wandb, mlflow, ...)
are not built in: write a TrainerCallback with an `on_log` and pass it as `Trainer(callbacks=[...])`.

>>> get_reporting_integration_callbacks(["jsonl"])
[<class 'snuggle.training.integrations.JsonlLoggerCallback'>]
>>> get_reporting_integration_callbacks("none")
[]
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime
from typing import Any

from snuggle.accelerate.tracking import is_tensorboard_available, summary_writer_class
from snuggle.errors import ConfigError, MissingDependencyError
from snuggle.training.trainer_callback import TrainerCallback, _json_default
from snuggle.utils.atomic import atomic_write_text
from snuggle.utils.logging import get_logger, warn_once

logger = get_logger(__name__)

LOG_HISTORY_JSONL = "log_history.jsonl"

# The reference's other report_to names; they are recognised only to explain how to get the same result.
EXTERNAL_INTEGRATIONS = (
    "azure_ml",
    "clearml",
    "codecarbon",
    "comet_ml",
    "dagshub",
    "dvclive",
    "flyte",
    "kubeflow",
    "mlflow",
    "neptune",
    "swanlab",
    "trackio",
    "wandb",
)


def rewrite_logs(logs: dict) -> dict:
    """Group log keys for TensorBoard: eval_x -> eval/x, test_x -> test/x, everything else -> train/x.

    >>> rewrite_logs({"loss": 1.0, "eval_loss": 2.0, "test_f1": 0.5})
    {'train/loss': 1.0, 'eval/loss': 2.0, 'test/f1': 0.5}
    """
    out = {}
    for key, value in logs.items():
        if key.startswith("eval_"):
            out["eval/" + key[len("eval_") :]] = value
        elif key.startswith("test_"):
            out["test/" + key[len("test_") :]] = value
        else:
            out["train/" + key] = value
    return out


def default_logdir() -> str:
    """runs/<Mon DD_HH-MM-SS>_<host> (PyTorch's and the reference's default run folder)."""
    return os.path.join("runs", datetime.now().strftime("%b%d_%H-%M-%S") + "_" + socket.gethostname())


def _args_json(args: Any) -> str:
    if hasattr(args, "to_json_string"):
        return args.to_json_string()
    return json.dumps(vars(args), indent=2, sort_keys=True, default=str)


def _output_dir(args: Any) -> str:
    """args.output_dir: the run's folder, the same across a resume (logging_dir defaults to a new
    runs/<time>_<host> folder per run, so a log that must survive a resume cannot live there)."""
    folder = getattr(args, "output_dir", None)
    if not folder:
        raise ConfigError("report_to='jsonl' needs a folder for its log: set TrainingArguments.output_dir")
    return os.fspath(folder)


class TensorBoardCallback(TrainerCallback):
    """Write the Trainer's logs as TensorBoard scalars (and strings as text).

    The folder is $TENSORBOARD_LOGGING_DIR, else `args.logging_dir`, else
    `<output_dir>/runs/<time>_<host>` (the reference's default). On train begin the arguments (and the
    model config, if any) are written as text, like the reference.

    >>> cb = TensorBoardCallback()  # doctest: +SKIP
    """

    def __init__(self, tb_writer=None):
        self.tb_writer = tb_writer
        self._SummaryWriter = None
        if tb_writer is None:
            self._SummaryWriter = self._find_summary_writer()
        self.logging_dir = os.getenv("TENSORBOARD_LOGGING_DIR") or None
        if self.logging_dir is not None:
            self.logging_dir = os.path.expanduser(self.logging_dir)

    @staticmethod
    def _find_summary_writer():
        writer_class = summary_writer_class()
        if writer_class is not None:
            return writer_class
        raise MissingDependencyError(
            'report_to="tensorboard" needs tensorboard: pip install snuggle[tensorboard] (or tensorboardX), '
            'or use report_to="jsonl" which needs nothing'
        )

    def _resolve_logging_dir(self, args: Any, state: Any) -> str:
        if state.is_hyper_param_search and state.trial_name is not None:
            # One folder per trial so runs do not overwrite each other's curves.
            return os.path.join(args.output_dir, default_logdir(), state.trial_name)
        if self.logging_dir is not None:
            return self.logging_dir
        return getattr(args, "logging_dir", None) or os.path.join(args.output_dir, default_logdir())

    def _init_summary_writer(self, args: Any, state: Any) -> None:
        self.logging_dir = self._resolve_logging_dir(args, state)
        if self._SummaryWriter is not None:
            self.tb_writer = self._SummaryWriter(log_dir=self.logging_dir)

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        if self.tb_writer is None:
            self._init_summary_writer(args, state)
        if self.tb_writer is None:
            return
        self.tb_writer.add_text("args", _args_json(args))
        config = getattr(kwargs.get("model"), "config", None)
        if config is not None and hasattr(config, "to_json_string"):
            self.tb_writer.add_text("model_config", config.to_json_string())

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        if self.tb_writer is None:
            self._init_summary_writer(args, state)
        if self.tb_writer is None:
            return
        for key, value in rewrite_logs(logs).items():
            if isinstance(value, (int, float)):
                self.tb_writer.add_scalar(key, value, state.global_step)
            elif isinstance(value, str):
                self.tb_writer.add_text(key, value, state.global_step)
            else:
                warn_once(
                    logger,
                    f"TensorBoardCallback: log {key!r} is a {type(value).__name__}, not a number or a string; "
                    "it is not written to TensorBoard",
                )
        self.tb_writer.flush()

    def on_train_end(self, args, state, control, **kwargs):
        if self.tb_writer is not None:
            self.tb_writer.close()
            self.tb_writer = None


class JsonlLoggerCallback(TrainerCallback):
    """Append one JSON object per `on_log` to `<output_dir>/log_history.jsonl`:
    {"step": global_step, "epoch": epoch, **logs}. Each line is flushed as it is written, so the file
    can be followed during training; only the main process writes.

    On resume (training starting at step N > 0), lines from the interrupted run with a step above N
    are dropped first, so the file matches what a straight run would have written.

    >>> import tempfile, types
    >>> from snuggle.training.trainer_callback import TrainerState
    >>> args = types.SimpleNamespace(output_dir=tempfile.mkdtemp(), logging_dir=None)
    >>> cb = JsonlLoggerCallback()
    >>> cb.on_log(args, TrainerState(global_step=5, epoch=0.5), None, logs={"loss": 0.25})
    >>> open(cb.path(args)).read()
    '{"step": 5, "epoch": 0.5, "loss": 0.25}\\n'
    """

    def __init__(self, filename: str = LOG_HISTORY_JSONL):
        self.filename = filename

    def path(self, args: Any) -> str:
        return os.path.join(_output_dir(args), self.filename)

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or state.global_step <= 0:
            return
        path = self.path(args)
        if not os.path.exists(path):
            return
        kept = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by the crash we are resuming from
                if isinstance(record, dict) and (record.get("step") or 0) <= state.global_step:
                    kept.append(line if line.endswith("\n") else line + "\n")
        atomic_write_text(path, "".join(kept))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or logs is None:
            return
        record = {"step": state.global_step, "epoch": state.epoch, **logs}
        line = json.dumps(record, ensure_ascii=False, default=_json_default) + "\n"
        path = self.path(args)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()


INTEGRATION_TO_CALLBACK: dict[str, type[TrainerCallback]] = {
    "jsonl": JsonlLoggerCallback,
    "tensorboard": TensorBoardCallback,
}


def get_available_reporting_integrations() -> list[str]:
    """The report_to names usable here: "jsonl" always, "tensorboard" when it is installed."""
    names = ["jsonl"]
    if is_tensorboard_available():
        names.append("tensorboard")
    return names


def get_reporting_integration_callbacks(report_to: str | list[str] | None) -> list[type[TrainerCallback]]:
    """Callback classes for `report_to` ("none", "all", "jsonl", "tensorboard", or a list of them).

    >>> get_reporting_integration_callbacks(["jsonl", "none"])
    [<class 'snuggle.training.integrations.JsonlLoggerCallback'>]
    """
    if report_to is None:
        return []
    names = [report_to] if isinstance(report_to, str) else list(report_to)
    supported = ", ".join(repr(n) for n in ("none", "all", *INTEGRATION_TO_CALLBACK))
    resolved: list[str] = []
    for name in names:
        if name == "none":
            continue
        if name == "all":
            resolved.extend(get_available_reporting_integrations())
        elif name in INTEGRATION_TO_CALLBACK:
            resolved.append(name)
        elif name in EXTERNAL_INTEGRATIONS:
            raise ConfigError(
                f"report_to={name!r} is not built into snuggle (supported: {supported}). To send logs to "
                f"{name}, subclass snuggle.training.TrainerCallback, call the {name} client in on_log(args, state, "
                "control, logs=None, **kwargs), and pass an instance as Trainer(callbacks=[MyCallback()])"
            )
        else:
            raise ConfigError(f"report_to: unknown integration {name!r}; supported: {supported}")
    # "all" next to an explicit name must not attach the same logger twice.
    unique = list(dict.fromkeys(resolved))
    return [INTEGRATION_TO_CALLBACK[name] for name in unique]
