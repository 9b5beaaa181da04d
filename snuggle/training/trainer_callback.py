"""Trainer callbacks: the state, the control switches, the event hooks and the default flow.

The names, fields and events are the reference's (transformers.trainer_callback), so a callback
written for the transformers Trainer works here unchanged, and `trainer_state.json` files are
interchangeable in both directions.

One "step" is one optimizer update: with `gradient_accumulation_steps=n` a step spans n batches.

>>> from snuggle.training.trainer_callback import TrainerCallback, TrainerControl, TrainerState
>>> class StopAtThree(TrainerCallback):
...     def on_step_end(self, args, state, control, **kwargs):
...         if state.global_step >= 3:
...             control.should_training_stop = True
>>> control = TrainerControl()
>>> StopAtThree().on_step_end(None, TrainerState(global_step=3), control)
>>> control.should_training_stop
True
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from typing import Any

from snuggle.errors import ConfigError, FileFormatError, TrainingError
from snuggle.training.trainer_utils import IntervalStrategy, SaveStrategy
from snuggle.utils.atomic import atomic_write_text
from snuggle.utils.logging import get_logger, warn_once

logger = get_logger(__name__)


def _json_default(value: Any) -> Any:
    """Turn numpy / torch scalars (common in metric dicts) into plain Python numbers."""
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (ValueError, RuntimeError):
            pass
    if hasattr(value, "tolist") and callable(value.tolist):
        return value.tolist()
    raise TypeError(f"object of type {type(value).__name__} is not JSON serializable")


# ---------------------------------------------------------------------------------------------
# State


@dataclass
class TrainerState:
    """What the Trainer knows about the run; saved as checkpoint-N/trainer_state.json.

    `epoch` is fractional during training (2.5 = half-way through the third epoch);
    `log_history` holds every dict passed to `Trainer.log` (plus its "step");
    `stateful_callbacks` maps a callback class name to its exported `state()` (a list of them
    when several callbacks of one class are attached).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "trainer_state.json")
    >>> TrainerState(global_step=7, log_history=[{"loss": 0.5, "step": 7}]).save_to_json(path)
    >>> TrainerState.load_from_json(path).global_step
    7
    """

    epoch: float = 0
    global_step: int = 0
    max_steps: int = 0
    logging_steps: int = 500
    eval_steps: int = 500
    save_steps: int = 500
    train_batch_size: int | None = None
    num_train_epochs: int = 0
    num_input_tokens_seen: int = 0
    total_flos: float = 0
    log_history: list[dict[str, float]] = None
    best_metric: float | None = None
    best_global_step: int | None = None
    best_model_checkpoint: str | None = None
    is_local_process_zero: bool = True
    is_world_process_zero: bool = True
    is_hyper_param_search: bool = False
    trial_name: str | None = None
    trial_params: dict[str, str | float | int | bool] | None = None
    stateful_callbacks: list[TrainerCallback] | dict | None = None

    def __post_init__(self):
        if self.log_history is None:
            self.log_history = []
        if self.stateful_callbacks is None:
            self.stateful_callbacks = {}
        elif not isinstance(self.stateful_callbacks, dict):
            # Callback objects given: keep only their exported state (a dict is already that, as
            # read back from a trainer_state.json).
            self.stateful_callbacks = export_callback_states(self.stateful_callbacks)

    def save_to_json(self, json_path: str | os.PathLike) -> None:
        """Write this state to `json_path` atomically (2-space indent, sorted keys, trailing newline:
        the reference's layout)."""
        text = json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True, default=_json_default) + "\n"
        atomic_write_text(json_path, text)

    @classmethod
    def load_from_json(cls, json_path: str | os.PathLike) -> TrainerState:
        """Read a state written by `save_to_json` (ours or the reference's)."""
        json_path = os.fspath(json_path)
        try:
            with open(json_path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as e:
            raise FileFormatError(
                f"not valid JSON ({e}); the checkpoint's trainer state is damaged - resume from an earlier checkpoint",
                path=json_path,
            ) from e
        if not isinstance(data, dict):
            raise FileFormatError(f"expected a JSON object, got {type(data).__name__}", path=json_path)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            # Newer writers may add fields; keep reading what we know rather than refusing to resume.
            warn_once(logger, f"{json_path}: ignoring unknown TrainerState fields {unknown}")
        return cls(**{k: v for k, v in data.items() if k in known})

    def compute_steps(self, args: Any, max_steps: int) -> None:
        """Store absolute logging/eval/save intervals; a value below 1 is a fraction of `max_steps`
        (rounded up), e.g. eval_steps=0.25 with 40 steps -> every 10 steps."""
        for kind in ("logging", "eval", "save"):
            num_steps = getattr(args, f"{kind}_steps", None)
            if num_steps is None:
                continue
            if num_steps < 1:
                num_steps = math.ceil(max_steps * num_steps)
            setattr(self, f"{kind}_steps", num_steps)

    def init_training_references(self, trainer: Any, max_steps: int, num_train_epochs: int, trial: Any) -> None:
        """Record the run's totals and this process's rank flags from `trainer`."""
        hp_name = getattr(trainer, "hp_name", None)
        current_trial = getattr(trainer, "_trial", None)
        if hp_name is not None and current_trial is not None:
            self.trial_name = hp_name(current_trial)
        self.trial_params = None
        if trial is not None:
            # Only plain dict trials are supported (no optuna / ray integration is built in).
            self.trial_params = dict(trial) if isinstance(trial, dict) else None
        self.max_steps = max_steps
        self.num_train_epochs = num_train_epochs
        self.is_local_process_zero = trainer.is_local_process_zero()
        self.is_world_process_zero = trainer.is_world_process_zero()


class ExportableState:
    """Mixin for objects whose state goes into trainer_state.json (`stateful_callbacks`) so a
    resumed run continues where it stopped.

    `state()` returns {"args": constructor kwargs, "attributes": attributes to set afterwards};
    `from_state` rebuilds the object from that dict.
    """

    def state(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement state() to be exported with the trainer state")

    @classmethod
    def from_state(cls, state: dict):
        instance = cls(**state.get("args", {}))
        for name, value in state.get("attributes", {}).items():
            setattr(instance, name, value)
        return instance


def export_callback_states(callbacks: list) -> dict:
    """{class name: state()} for the exportable objects in `callbacks`; several objects of one class
    give a list of states, in order (the reference's `stateful_callbacks` layout)."""
    states: dict[str, Any] = {}
    for cb in callbacks:
        if not isinstance(cb, ExportableState):
            raise TypeError(
                f"stateful_callbacks: {type(cb).__name__} does not inherit ExportableState; "
                "only exportable callbacks can be saved with the trainer state"
            )
        name = type(cb).__name__
        if name in states:
            if not isinstance(states[name], list):
                states[name] = [states[name]]
            states[name].append(cb.state())
        else:
            states[name] = cb.state()
    return states


def restore_callback_states(stored: dict, callbacks: list) -> tuple[list, list[str]]:
    """Rebuild the exportable objects of `callbacks` from `stored` (a TrainerState.stateful_callbacks).

    Returns (new list in the same order, stored class names that matched no callback). Objects of a
    class with several stored states are matched in order; objects without a stored state are kept.

    >>> cb = EarlyStoppingCallback(3)
    >>> cb.early_stopping_patience_counter = 2
    >>> [restored], missing = restore_callback_states(export_callback_states([cb]), [EarlyStoppingCallback(3)])
    >>> restored.early_stopping_patience_counter, missing
    (2, [])
    """
    by_name: dict[str, list[int]] = {}
    for i, cb in enumerate(callbacks):
        if isinstance(cb, ExportableState):
            by_name.setdefault(type(cb).__name__, []).append(i)
    result = list(callbacks)
    missing = []
    for name, data in stored.items():
        if name not in by_name:
            missing.append(name)
            continue
        states = data if isinstance(data, list) else [data]
        for i, cb_state in zip(by_name[name], states):
            result[i] = type(callbacks[i]).from_state(cb_state)
    return result, missing


@dataclass
class TrainerControl(ExportableState):
    """Switches callbacks flip to steer the loop.

    should_training_stop stays set once set; should_epoch_stop is reset at each epoch start;
    should_save / should_evaluate / should_log are reset at each step start.
    """

    should_training_stop: bool = False
    should_epoch_stop: bool = False
    should_save: bool = False
    should_evaluate: bool = False
    should_log: bool = False

    def _new_training(self) -> None:
        self.should_training_stop = False

    def _new_epoch(self) -> None:
        self.should_epoch_stop = False

    def _new_step(self) -> None:
        self.should_save = False
        self.should_evaluate = False
        self.should_log = False

    def state(self) -> dict:
        return {"args": dataclasses.asdict(self), "attributes": {}}


# ---------------------------------------------------------------------------------------------
# Events

EVENTS = (
    "on_init_end",
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_step_begin",
    "on_pre_optimizer_step",
    "on_optimizer_step",
    "on_substep_end",
    "on_step_end",
    "on_evaluate",
    "on_predict",
    "on_save",
    "on_log",
    "on_prediction_step",
    "on_push_begin",
)


class TrainerCallback:
    """Base class for hooks into the training loop; every event is a no-op here.

    Each event receives `args` (TrainingArguments), `state` (TrainerState) and `control`
    (TrainerControl) positionally, and keyword arguments: model, processing_class, optimizer,
    lr_scheduler, train_dataloader, eval_dataloader, plus `metrics` (on_evaluate / on_predict) and
    `logs` (on_log). Change `control` to steer the loop; returning it is optional.

    >>> class PrintLoss(TrainerCallback):
    ...     def on_log(self, args, state, control, logs=None, **kwargs):
    ...         print(logs.get("loss"))
    """

    def on_init_end(self, args, state, control, **kwargs):
        """At the end of Trainer.__init__."""

    def on_train_begin(self, args, state, control, **kwargs):
        """At the beginning of training."""

    def on_train_end(self, args, state, control, **kwargs):
        """At the end of training."""

    def on_epoch_begin(self, args, state, control, **kwargs):
        """At the beginning of an epoch."""

    def on_epoch_end(self, args, state, control, **kwargs):
        """At the end of an epoch."""

    def on_step_begin(self, args, state, control, **kwargs):
        """At the beginning of an optimizer step (before the first of its accumulated batches)."""

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        """After gradient clipping, before optimizer.step() (gradients are available)."""

    def on_optimizer_step(self, args, state, control, **kwargs):
        """After optimizer.step(), before the gradients are zeroed."""

    def on_substep_end(self, args, state, control, **kwargs):
        """After each accumulated batch that does not end a step."""

    def on_step_end(self, args, state, control, **kwargs):
        """At the end of an optimizer step (state.global_step already counts it)."""

    def on_evaluate(self, args, state, control, **kwargs):
        """After an evaluation; `metrics` holds its results."""

    def on_predict(self, args, state, control, metrics, **kwargs):
        """After a successful prediction."""

    def on_save(self, args, state, control, **kwargs):
        """After a checkpoint is saved."""

    def on_log(self, args, state, control, **kwargs):
        """After Trainer.log recorded `logs`."""

    def on_prediction_step(self, args, state, control, **kwargs):
        """After each evaluation / prediction batch."""

    def on_push_begin(self, args, state, control, **kwargs):
        """Before pushing the model to the Hub."""


class CallbackHandler(TrainerCallback):
    """Calls a list of callbacks in order for each event and merges the `control` they return.

    >>> handler = CallbackHandler([DefaultFlowCallback], None, None, None, None)
    >>> handler.callback_list
    'DefaultFlowCallback'
    """

    def __init__(self, callbacks, model, processing_class, optimizer, lr_scheduler):
        self.callbacks: list[TrainerCallback] = []
        for cb in callbacks:
            self.add_callback(cb)
        self.model = model
        self.processing_class = processing_class
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.train_dataloader = None
        self.eval_dataloader = None
        if not any(isinstance(cb, DefaultFlowCallback) for cb in self.callbacks):
            logger.warning(
                "No DefaultFlowCallback among the Trainer callbacks: nothing will decide when to log, evaluate or "
                "save. Add one with trainer.add_callback(DefaultFlowCallback). Current callbacks: "
                + (self.callback_list.replace("\n", ", ") or "(none)")
            )

    def add_callback(self, callback) -> None:
        """Add a callback instance, or a class (instantiated with no arguments)."""
        cb = callback() if isinstance(callback, type) else callback
        if any(type(c) is type(cb) for c in self.callbacks):
            logger.warning(
                f"A {type(cb).__name__} is already among the Trainer callbacks; adding a second one "
                f"(current callbacks: {self.callback_list.replace(chr(10), ', ')})"
            )
        self.callbacks.append(cb)

    def _find(self, callback) -> TrainerCallback | None:
        for cb in self.callbacks:
            if (isinstance(callback, type) and isinstance(cb, callback)) or cb == callback:
                return cb
        return None

    def pop_callback(self, callback) -> TrainerCallback | None:
        """Remove and return the first callback that is `callback` (or an instance of that class);
        None when there is none."""
        cb = self._find(callback)
        if cb is not None:
            self.callbacks.remove(cb)
        return cb

    def remove_callback(self, callback) -> None:
        """Remove the first callback that is `callback` (or an instance of that class). A class with
        no instance attached is ignored; an instance that is not attached is an error."""
        cb = self._find(callback)
        if cb is not None:
            self.callbacks.remove(cb)
        elif not isinstance(callback, type):
            raise ConfigError(
                f"remove_callback: {callback!r} is not among the Trainer callbacks ({self.callback_list or 'none'})"
            )

    @property
    def callback_list(self) -> str:
        return "\n".join(type(cb).__name__ for cb in self.callbacks)

    def call_event(self, event: str, args, state, control, **kwargs):
        for cb in self.callbacks:
            result = getattr(cb, event)(
                args,
                state,
                control,
                model=self.model,
                processing_class=self.processing_class,
                optimizer=self.optimizer,
                lr_scheduler=self.lr_scheduler,
                train_dataloader=self.train_dataloader,
                eval_dataloader=self.eval_dataloader,
                **kwargs,
            )
            # Callbacks that only mutate `control` may return None.
            if result is not None:
                control = result
        return control

    # One method per event; those that begin a phase reset the switches that phase owns.
    def on_init_end(self, args, state, control, **kwargs):
        return self.call_event("on_init_end", args, state, control, **kwargs)

    def on_train_begin(self, args, state, control, **kwargs):
        control.should_training_stop = False
        return self.call_event("on_train_begin", args, state, control, **kwargs)

    def on_train_end(self, args, state, control, **kwargs):
        return self.call_event("on_train_end", args, state, control, **kwargs)

    def on_epoch_begin(self, args, state, control, **kwargs):
        control.should_epoch_stop = False
        return self.call_event("on_epoch_begin", args, state, control, **kwargs)

    def on_epoch_end(self, args, state, control, **kwargs):
        return self.call_event("on_epoch_end", args, state, control, **kwargs)

    def on_step_begin(self, args, state, control, **kwargs):
        control._new_step()
        return self.call_event("on_step_begin", args, state, control, **kwargs)

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        return self.call_event("on_pre_optimizer_step", args, state, control, **kwargs)

    def on_optimizer_step(self, args, state, control, **kwargs):
        return self.call_event("on_optimizer_step", args, state, control, **kwargs)

    def on_substep_end(self, args, state, control, **kwargs):
        return self.call_event("on_substep_end", args, state, control, **kwargs)

    def on_step_end(self, args, state, control, **kwargs):
        return self.call_event("on_step_end", args, state, control, **kwargs)

    def on_evaluate(self, args, state, control, metrics, **kwargs):
        control.should_evaluate = False
        return self.call_event("on_evaluate", args, state, control, metrics=metrics, **kwargs)

    def on_predict(self, args, state, control, metrics, **kwargs):
        return self.call_event("on_predict", args, state, control, metrics=metrics, **kwargs)

    def on_save(self, args, state, control, **kwargs):
        control.should_save = False
        return self.call_event("on_save", args, state, control, **kwargs)

    def on_log(self, args, state, control, logs, **kwargs):
        control.should_log = False
        return self.call_event("on_log", args, state, control, logs=logs, **kwargs)

    def on_prediction_step(self, args, state, control, **kwargs):
        return self.call_event("on_prediction_step", args, state, control, **kwargs)

    def on_push_begin(self, args, state, control, **kwargs):
        return self.call_event("on_push_begin", args, state, control, **kwargs)


# ---------------------------------------------------------------------------------------------
# Built-in callbacks


def _every(step: int, interval: int) -> bool:
    # A zero interval means "never" rather than a ZeroDivisionError.
    return interval > 0 and step % interval == 0


class DefaultFlowCallback(TrainerCallback):
    """Decides when to log, evaluate and save from the `*_strategy` / `*_steps` arguments.

    Steps strategies fire every `state.<kind>_steps` steps; epoch strategies at each epoch end. The
    last step always stops training, saves under save_strategy="steps", and evaluates under
    eval_strategy="steps" unless that step was just evaluated. `eval_delay` postpones evaluation
    (in steps or epochs); `logging_first_step` also logs step 1.
    """

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        steps_eval = args.eval_strategy == IntervalStrategy.STEPS and args.eval_delay <= step
        if step == 1 and args.logging_first_step:
            control.should_log = True
        if args.logging_strategy == IntervalStrategy.STEPS and _every(step, state.logging_steps):
            control.should_log = True
        if steps_eval and _every(step, state.eval_steps):
            control.should_evaluate = True
        if args.save_strategy == SaveStrategy.STEPS and _every(step, state.save_steps):
            control.should_save = True

        if step >= state.max_steps:
            control.should_training_stop = True
            if steps_eval and not _every(step, state.eval_steps):
                control.should_evaluate = True
            if args.save_strategy == SaveStrategy.STEPS:
                control.should_save = True
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if args.logging_strategy == IntervalStrategy.EPOCH:
            control.should_log = True
        if args.eval_strategy == IntervalStrategy.EPOCH and args.eval_delay <= state.epoch:
            control.should_evaluate = True
        if args.save_strategy == SaveStrategy.EPOCH:
            control.should_save = True
        return control


def _has_length(obj: Any) -> bool:
    try:
        return obj is not None and len(obj) is not None
    except TypeError:
        return False


class ProgressCallback(TrainerCallback):
    """tqdm bars for training steps and evaluation batches; logs are written above the bar on the main
    process. Strings longer than `max_str_len` are replaced by a note; floats show 4 significant digits.
    """

    def __init__(self, max_str_len: int = 100):
        self.training_bar = None
        self.prediction_bar = None
        self.max_str_len = max_str_len
        self.current_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        from snuggle.utils.progress import progress_bar

        if state.is_world_process_zero:
            self.training_bar = progress_bar(total=state.max_steps, dynamic_ncols=True)
        # On resume the first update jumps straight to the checkpoint's step.
        self.current_step = 0

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None:
            self.training_bar.update(state.global_step - self.current_step)
            self.current_step = state.global_step

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        from snuggle.utils.progress import progress_bar

        if state.is_world_process_zero and _has_length(eval_dataloader):
            if self.prediction_bar is None:
                self.prediction_bar = progress_bar(
                    total=len(eval_dataloader), leave=self.training_bar is None, dynamic_ncols=True
                )
            self.prediction_bar.update(1)

    def _close_prediction_bar(self, state) -> None:
        if state.is_world_process_zero and self.prediction_bar is not None:
            self.prediction_bar.close()
        self.prediction_bar = None

    def on_evaluate(self, args, state, control, **kwargs):
        self._close_prediction_bar(state)

    def on_predict(self, args, state, control, **kwargs):
        self._close_prediction_bar(state)

    def format_logs(self, logs: dict) -> dict:
        """A display copy of `logs` (the caller's dict is not changed)."""
        shown = {}
        for key, value in logs.items():
            if key == "total_flos":
                continue
            if isinstance(value, str) and len(value) > self.max_str_len:
                shown[key] = (
                    f"[String too long to display, length: {len(value)} > {self.max_str_len}. "
                    "Consider increasing `max_str_len` if needed.]"
                )
            elif isinstance(value, float):
                shown[key] = f"{value:.4g}"
            else:
                shown[key] = value
        return shown

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None and logs is not None:
            from tqdm.auto import tqdm

            tqdm.write(str(self.format_logs(logs)))

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None:
            self.training_bar.close()
        self.training_bar = None


class PrinterCallback(TrainerCallback):
    """Prints each log dict (floats to 4 significant digits, without total_flos) on the local main
    process; the Trainer uses it instead of ProgressCallback when `disable_tqdm=True`."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is None:
            return
        # The reference removes total_flos from the caller's dict; do the same so downstream
        # callbacks see identical logs.
        logs.pop("total_flos", None)
        if state.is_local_process_zero:
            print({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in logs.items()})


class EarlyStoppingCallback(TrainerCallback, ExportableState):
    """Stop training when `metric_for_best_model` fails to improve for `early_stopping_patience`
    evaluations in a row; an improvement must exceed `early_stopping_threshold` (absolute).

    The comparison is against `state.best_metric`, which the Trainer updates after each evaluation
    when `metric_for_best_model` is set. The counter is saved in trainer_state.json
    (stateful_callbacks), so a resumed run keeps its patience.

    >>> cb = EarlyStoppingCallback(early_stopping_patience=2, early_stopping_threshold=0.01)
    >>> cb.state()["attributes"]
    {'early_stopping_patience_counter': 0}
    """

    def __init__(self, early_stopping_patience: int = 1, early_stopping_threshold: float | None = 0.0):
        if not isinstance(early_stopping_patience, int) or early_stopping_patience < 1:
            raise ConfigError(
                f"EarlyStoppingCallback: early_stopping_patience must be an int >= 1, got {early_stopping_patience!r}"
            )
        self.early_stopping_patience = early_stopping_patience
        self.early_stopping_threshold = early_stopping_threshold
        # How many evaluations in a row have not improved on the best metric.
        self.early_stopping_patience_counter = 0

    def check_metric_value(self, args, state, control, metric_value) -> None:
        best = state.best_metric
        if best is None:
            # First evaluation: nothing to compare with yet.
            self.early_stopping_patience_counter = 0
            return
        threshold = self.early_stopping_threshold or 0.0
        improved = metric_value > best if args.greater_is_better else metric_value < best
        if improved and abs(metric_value - best) > threshold:
            self.early_stopping_patience_counter = 0
        else:
            self.early_stopping_patience_counter += 1

    def on_train_begin(self, args, state, control, **kwargs):
        if not getattr(args, "load_best_model_at_end", False):
            logger.warning(
                "EarlyStoppingCallback is used without load_best_model_at_end=True: training stops early, but the "
                "best checkpoint is not loaded at the end."
            )
        if getattr(args, "metric_for_best_model", None) is None:
            raise TrainingError(
                "EarlyStoppingCallback needs TrainingArguments.metric_for_best_model (e.g. 'eval_loss' or "
                "'accuracy') to know which metric to watch; it is None"
            )
        if args.eval_strategy == IntervalStrategy.NO:
            raise TrainingError(
                "EarlyStoppingCallback needs evaluations: set TrainingArguments.eval_strategy to 'steps' or "
                "'epoch' (it is 'no')"
            )

    def on_evaluate(self, args, state, control, metrics, **kwargs):
        name = args.metric_for_best_model
        if not name.startswith("eval_"):
            name = f"eval_{name}"
        value = metrics.get(name)
        if value is None:
            logger.warning(
                f"EarlyStoppingCallback: metric_for_best_model {name!r} is not among the evaluation metrics "
                f"{sorted(metrics)}; early stopping is skipped for this evaluation"
            )
            return
        self.check_metric_value(args, state, control, value)
        if self.early_stopping_patience_counter >= self.early_stopping_patience:
            control.should_training_stop = True

    def state(self) -> dict:
        return {
            "args": {
                "early_stopping_patience": self.early_stopping_patience,
                "early_stopping_threshold": self.early_stopping_threshold,
            },
            "attributes": {"early_stopping_patience_counter": self.early_stopping_patience_counter},
        }
