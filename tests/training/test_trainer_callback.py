"""snuggle.training.trainer_callback against transformers.trainer_callback (the reference).

The flow tests drive both DefaultFlowCallbacks through the same simulated training loop (same
arguments, same step/epoch sequence, flags reset the way the Trainer resets them) and compare every
decision; early stopping is compared on metric sequences; trainer_state.json is read both ways.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import types

import pytest

from snuggle.errors import ConfigError, FileFormatError, TrainingError
from snuggle.training import trainer_callback as tc

transformers = pytest.importorskip("transformers")
from transformers import trainer_callback as ref  # noqa: E402


def ref_args(tmp_path, **kw):
    return transformers.TrainingArguments(output_dir=str(tmp_path / "ref"), report_to="none", **kw)


# Fields the callbacks read; the stand-in is used until snuggle's TrainingArguments exists.
_FLOW_DEFAULTS = dict(
    logging_strategy="steps",
    logging_steps=500,
    logging_first_step=False,
    eval_strategy="no",
    eval_steps=None,
    eval_delay=0,
    save_strategy="steps",
    save_steps=500,
    load_best_model_at_end=False,
    metric_for_best_model=None,
    greater_is_better=None,
)


def our_args(tmp_path, **kw):
    try:
        from snuggle.training.training_args import TrainingArguments
    except ImportError:
        TrainingArguments = None
    if TrainingArguments is not None:
        return TrainingArguments(output_dir=str(tmp_path / "ours"), report_to="none", **kw)
    values = {**_FLOW_DEFAULTS, **kw}
    if values["eval_steps"] is None:
        values["eval_steps"] = values["logging_steps"]
    if values["greater_is_better"] is None and values["metric_for_best_model"] is not None:
        values["greater_is_better"] = not values["metric_for_best_model"].endswith("loss")
    return types.SimpleNamespace(output_dir=str(tmp_path / "ours"), **values)


@pytest.fixture
def snuggle_log(caplog):
    """Let caplog see snuggle's logger (it does not propagate to the root)."""
    log = logging.getLogger("snuggle")
    log.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="snuggle")
    yield caplog
    log.removeHandler(caplog.handler)


# --------------------------------------------------------------------------------------------- flow


def simulate(mod, args, steps_per_epoch, num_epochs, max_steps, extra_callbacks=(), metrics_for=None):
    """A Trainer-shaped loop with no model: returns every (where, step, log, eval, save, stop) decision."""
    state = mod.TrainerState()
    state.compute_steps(args, max_steps)
    state.max_steps = max_steps
    control = mod.TrainerControl()
    handler = mod.CallbackHandler([mod.DefaultFlowCallback, *extra_callbacks], None, None, None, None)
    trace = []

    def record(where):
        trace.append((where, state.global_step, control.should_log, control.should_evaluate, control.should_save,
                      control.should_training_stop))

    def log_save_evaluate():
        nonlocal control
        if control.should_log:
            control = handler.on_log(args, state, control, logs={"loss": 1.0})
        if control.should_evaluate:
            metrics = metrics_for(state) if metrics_for else {"eval_loss": 1.0}
            control = handler.on_evaluate(args, state, control, metrics=metrics)
        if control.should_save:
            control = handler.on_save(args, state, control)

    control = handler.on_train_begin(args, state, control)
    for epoch in range(num_epochs):
        control = handler.on_epoch_begin(args, state, control)
        for i in range(steps_per_epoch):
            control = handler.on_step_begin(args, state, control)
            state.global_step += 1
            state.epoch = epoch + (i + 1) / steps_per_epoch
            control = handler.on_step_end(args, state, control)
            record("step")
            log_save_evaluate()
            if control.should_epoch_stop or control.should_training_stop:
                break
        control = handler.on_epoch_end(args, state, control)
        record("epoch")
        log_save_evaluate()
        if control.should_training_stop:
            break
    handler.on_train_end(args, state, control)
    return trace


FLOW_CASES = {
    "steps": (dict(logging_steps=5, eval_strategy="steps", eval_steps=10, save_steps=10), 10, 3, 23),
    "steps-end-on-interval": (dict(logging_steps=4, eval_strategy="steps", eval_steps=4, save_steps=8), 8, 2, 16),
    "first-step-and-delay": (
        dict(logging_steps=7, logging_first_step=True, eval_strategy="steps", eval_steps=5, eval_delay=12),
        10, 3, 30,
    ),
    "fractional": (dict(logging_steps=0.1, eval_strategy="steps", eval_steps=0.25, save_steps=0.5), 20, 2, 40),
    "epochs": (dict(logging_strategy="epoch", eval_strategy="epoch", save_strategy="epoch"), 7, 3, 21),
    "epoch-eval-delay": (dict(logging_steps=3, eval_strategy="epoch", eval_delay=2, save_strategy="no"), 5, 4, 20),
    "nothing": (dict(logging_strategy="no", eval_strategy="no", save_strategy="no"), 6, 2, 12),
    "save-best": (
        dict(logging_steps=2, eval_strategy="steps", eval_steps=3, save_strategy="best", metric_for_best_model="loss"),
        5, 2, 10,
    ),
    "max-steps-mid-epoch": (dict(logging_steps=2, eval_strategy="steps", eval_steps=4, save_steps=3), 10, 3, 13),
}


@pytest.mark.parametrize("case", sorted(FLOW_CASES))
def test_default_flow_matches_reference(tmp_path, case):
    kw, steps_per_epoch, num_epochs, max_steps = FLOW_CASES[case]
    expected = simulate(ref, ref_args(tmp_path, **kw), steps_per_epoch, num_epochs, max_steps)
    got = simulate(tc, our_args(tmp_path, **kw), steps_per_epoch, num_epochs, max_steps)
    assert got == expected
    # The case must exercise something: at least one decision other than "stop".
    assert any(any(row[2:5]) for row in got) or case == "nothing"


def test_last_step_saves_and_evaluates_once(tmp_path):
    trace = simulate(tc, our_args(tmp_path, logging_steps=5, eval_strategy="steps", eval_steps=10, save_steps=10),
                     10, 3, 23)
    last = [row for row in trace if row[0] == "step"][-1]
    assert last == ("step", 23, False, True, True, True)
    # Step 20 was an interval step: evaluated and saved there.
    assert ("step", 20, True, True, True, False) in trace


def test_compute_steps_fractions():
    state = tc.TrainerState()
    state.compute_steps(types.SimpleNamespace(logging_steps=0.1, eval_steps=0.25, save_steps=None), 41)
    assert (state.logging_steps, state.eval_steps, state.save_steps) == (5, 11, 500)


# --------------------------------------------------------------------------------------------- control/handler


def test_control_resets_and_state():
    control = tc.TrainerControl(True, True, True, True, True)
    control._new_step()
    assert (control.should_save, control.should_evaluate, control.should_log) == (False, False, False)
    assert control.should_epoch_stop and control.should_training_stop
    control._new_epoch()
    assert not control.should_epoch_stop
    control._new_training()
    assert not control.should_training_stop
    ours = tc.TrainerControl(should_save=True).state()
    assert ours == ref.TrainerControl(should_save=True).state()
    assert tc.TrainerControl.from_state(ours) == tc.TrainerControl(should_save=True)


def test_callback_has_every_reference_event():
    ref_events = {name for name in vars(ref.TrainerCallback) if name.startswith("on_")}
    assert ref_events == set(tc.EVENTS)
    for name in ref_events:
        assert callable(getattr(tc.TrainerCallback, name))
        assert callable(getattr(tc.CallbackHandler, name))


class Recorder(tc.TrainerCallback):
    def __init__(self):
        self.calls = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            def hook(args, state, control, **kwargs):
                self.calls.append((name, sorted(kwargs)))
            return hook
        return object.__getattribute__(self, name)


def test_handler_calls_every_callback_with_kwargs():
    rec1, rec2 = Recorder(), Recorder()
    handler = tc.CallbackHandler([rec1, rec2], "model", "tok", "opt", "sched")
    state, control = tc.TrainerState(), tc.TrainerControl()
    for event in tc.EVENTS:
        extra = {"metrics": {}} if event in ("on_evaluate", "on_predict") else {}
        if event == "on_log":
            extra = {"logs": {}}
        getattr(handler, event)(None, state, control, **extra)
    assert [c[0] for c in rec1.calls] == list(tc.EVENTS)
    assert rec1.calls == rec2.calls
    base = ["eval_dataloader", "lr_scheduler", "model", "optimizer", "processing_class", "train_dataloader"]
    assert dict(rec1.calls)["on_step_end"] == base
    assert dict(rec1.calls)["on_log"] == sorted(base + ["logs"])
    assert dict(rec1.calls)["on_evaluate"] == sorted(base + ["metrics"])


def test_handler_merges_returned_control():
    replacement = tc.TrainerControl(should_training_stop=True)

    class Replace(tc.TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            return replacement

    class SeesReplacement(tc.TrainerCallback):
        seen = None

        def on_step_end(self, args, state, control, **kwargs):
            SeesReplacement.seen = control

    args = types.SimpleNamespace(**{**_FLOW_DEFAULTS, "eval_steps": 500})
    handler = tc.CallbackHandler([tc.DefaultFlowCallback, Replace, SeesReplacement], None, None, None, None)
    out = handler.on_step_end(args, tc.TrainerState(global_step=1, max_steps=9), tc.TrainerControl())
    assert out is replacement and SeesReplacement.seen is replacement


def test_handler_phase_resets():
    handler = tc.CallbackHandler([tc.DefaultFlowCallback], None, None, None, None)
    state = tc.TrainerState()
    control = tc.TrainerControl(True, True, True, True, True)
    control = handler.on_step_begin(None, state, control)
    assert not (control.should_log or control.should_evaluate or control.should_save)
    control = handler.on_epoch_begin(None, state, control)
    assert not control.should_epoch_stop
    control = handler.on_train_begin(None, state, control)
    assert not control.should_training_stop
    control.should_log = control.should_evaluate = control.should_save = True
    handler.on_log(None, state, control, logs={})
    handler.on_evaluate(None, state, control, metrics={})
    handler.on_save(None, state, control)
    assert not (control.should_log or control.should_evaluate or control.should_save)


def test_add_pop_remove(snuggle_log):
    printer = tc.PrinterCallback()
    handler = tc.CallbackHandler([tc.DefaultFlowCallback, printer], None, None, None, None)
    assert handler.callback_list == "DefaultFlowCallback\nPrinterCallback"
    assert not snuggle_log.records
    handler.add_callback(tc.PrinterCallback)
    assert len(snuggle_log.records) == 1 and "already" in snuggle_log.records[0].getMessage()
    handler.add_callback(tc.ProgressCallback())
    assert handler.callback_list.splitlines() == [
        "DefaultFlowCallback", "PrinterCallback", "PrinterCallback", "ProgressCallback"]
    assert handler.pop_callback(printer) is printer
    popped = handler.pop_callback(tc.PrinterCallback)
    assert isinstance(popped, tc.PrinterCallback) and popped is not printer
    assert handler.pop_callback(tc.PrinterCallback) is None
    handler.remove_callback(tc.ProgressCallback)
    handler.remove_callback(tc.ProgressCallback)  # no instance left: ignored, like the reference
    assert handler.callback_list == "DefaultFlowCallback"
    with pytest.raises(ConfigError, match="not among the Trainer callbacks"):
        handler.remove_callback(printer)


def test_handler_without_flow_callback_warns(snuggle_log):
    tc.CallbackHandler([tc.PrinterCallback], None, None, None, None)
    assert "DefaultFlowCallback" in snuggle_log.text


# --------------------------------------------------------------------------------------------- state json


def full_state(mod):
    cb = mod.EarlyStoppingCallback(3, 0.01)
    cb.early_stopping_patience_counter = 2
    return mod.TrainerState(
        epoch=1.5, global_step=30, max_steps=40, logging_steps=5, eval_steps=10, save_steps=10, train_batch_size=8,
        num_train_epochs=2, num_input_tokens_seen=1234, total_flos=5.5e9,
        log_history=[{"loss": 0.7, "grad_norm": 1.25, "learning_rate": 4e-05, "epoch": 0.5, "step": 10},
                     {"eval_loss": 0.6, "eval_accuracy": 0.875, "epoch": 1.0, "step": 20}],
        best_metric=0.6, best_global_step=20, best_model_checkpoint="out/checkpoint-20",
        is_hyper_param_search=False, trial_name=None, trial_params={"lr": 0.001},
        stateful_callbacks=[cb, mod.TrainerControl(should_save=True)],
    )


def test_state_json_identical_to_reference(tmp_path):
    ours, theirs = tmp_path / "ours.json", tmp_path / "ref.json"
    full_state(tc).save_to_json(ours)
    full_state(ref).save_to_json(theirs)
    assert ours.read_text() == theirs.read_text()
    assert ours.read_text().endswith("}\n")


def test_state_json_both_ways(tmp_path):
    ours, theirs = tmp_path / "ours.json", tmp_path / "ref.json"
    full_state(tc).save_to_json(ours)
    full_state(ref).save_to_json(theirs)
    read_by_ref = ref.TrainerState.load_from_json(str(ours))
    read_by_us = tc.TrainerState.load_from_json(theirs)
    assert dataclasses.asdict(read_by_ref) == dataclasses.asdict(full_state(ref))
    assert dataclasses.asdict(read_by_us) == dataclasses.asdict(full_state(tc))
    assert read_by_us.stateful_callbacks["EarlyStoppingCallback"]["attributes"] == {
        "early_stopping_patience_counter": 2}


def test_state_numpy_values_and_atomic(tmp_path, monkeypatch):
    np = pytest.importorskip("numpy")
    path = tmp_path / "trainer_state.json"
    tc.TrainerState(global_step=1).save_to_json(path)
    state = tc.TrainerState(global_step=2, log_history=[{"eval_f1": np.float32(0.5), "step": np.int64(2)}])
    state.save_to_json(path)
    assert json.loads(path.read_text())["log_history"] == [{"eval_f1": 0.5, "step": 2}]

    # A crash while writing leaves the previous file in place.
    bad = tc.TrainerState(global_step=3, log_history=[{"x": object()}])
    with pytest.raises(TypeError):
        bad.save_to_json(path)
    assert json.loads(path.read_text())["global_step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trainer_state.json"]


def test_state_load_errors(tmp_path, snuggle_log):
    path = tmp_path / "trainer_state.json"
    path.write_text("{ not json")
    with pytest.raises(FileFormatError, match="trainer_state.json"):
        tc.TrainerState.load_from_json(path)
    path.write_text("[1, 2]")
    with pytest.raises(FileFormatError, match="JSON object"):
        tc.TrainerState.load_from_json(path)
    path.write_text(json.dumps({"global_step": 4, "a_future_field": 1}))
    assert tc.TrainerState.load_from_json(path).global_step == 4
    assert "a_future_field" in snuggle_log.text


def test_stateful_callbacks_duplicates_and_type_check():
    a, b = tc.EarlyStoppingCallback(1), tc.EarlyStoppingCallback(2)
    b.early_stopping_patience_counter = 1
    state = tc.TrainerState(stateful_callbacks=[a, b])
    expected = ref.TrainerState(stateful_callbacks=[ref.EarlyStoppingCallback(1), ref.EarlyStoppingCallback(2)])
    expected.stateful_callbacks["EarlyStoppingCallback"][1]["attributes"]["early_stopping_patience_counter"] = 1
    assert state.stateful_callbacks == expected.stateful_callbacks
    with pytest.raises(TypeError, match="ExportableState"):
        tc.TrainerState(stateful_callbacks=[tc.PrinterCallback()])

    restored, missing = tc.restore_callback_states(
        {**state.stateful_callbacks, "SomethingElse": {"args": {}, "attributes": {}}},
        [tc.DefaultFlowCallback(), tc.EarlyStoppingCallback(), tc.EarlyStoppingCallback(), tc.TrainerControl()],
    )
    assert missing == ["SomethingElse"]
    assert isinstance(restored[0], tc.DefaultFlowCallback)
    assert [(c.early_stopping_patience, c.early_stopping_patience_counter) for c in restored[1:3]] == [(1, 0), (2, 1)]
    assert restored[3] == tc.TrainerControl()


def test_init_training_references():
    trainer = types.SimpleNamespace(hp_name=None, _trial=None, is_local_process_zero=lambda: True,
                                    is_world_process_zero=lambda: False)
    state = tc.TrainerState()
    state.init_training_references(trainer, 100, 3, None)
    assert (state.max_steps, state.num_train_epochs, state.is_local_process_zero, state.is_world_process_zero) == (
        100, 3, True, False)


# --------------------------------------------------------------------------------------------- early stopping

METRIC_CASES = [
    ("loss", [1.0, 0.9, 0.95, 0.91, 0.92, 0.5], 2, 0.0),
    ("loss", [1.0, 0.9, 0.95, 0.91, 0.92, 0.5], 1, 0.0),
    ("accuracy", [0.5, 0.6, 0.605, 0.62, 0.61, 0.7, 0.7, 0.7], 2, 0.01),
    ("eval_accuracy", [0.5, 0.5, 0.5], 3, 0.0),
    ("loss", [1.0, 0.99, 0.98, 0.97, 0.96], 2, 0.02),
]


def run_early_stopping(mod, args, metric, values, patience, threshold):
    """Feed `values` as successive evaluations; update best_metric as the Trainer does (no threshold)."""
    cb = mod.EarlyStoppingCallback(patience, threshold)
    state, control = mod.TrainerState(), mod.TrainerControl()
    key = metric if metric.startswith("eval_") else f"eval_{metric}"
    cb.on_train_begin(args, state, control)
    trace = []
    for step, value in enumerate(values, 1):
        cb.on_evaluate(args, state, control, metrics={key: value})
        trace.append((step, cb.early_stopping_patience_counter, control.should_training_stop))
        better = state.best_metric is None or (value > state.best_metric if args.greater_is_better
                                               else value < state.best_metric)
        if better:
            state.best_metric = value
        if control.should_training_stop:
            break
    return trace


@pytest.mark.parametrize("metric,values,patience,threshold", METRIC_CASES)
def test_early_stopping_matches_reference(tmp_path, metric, values, patience, threshold):
    kw = dict(eval_strategy="steps", eval_steps=1, save_steps=1, load_best_model_at_end=True,
              metric_for_best_model=metric)
    expected = run_early_stopping(ref, ref_args(tmp_path, **kw), metric, values, patience, threshold)
    got = run_early_stopping(tc, our_args(tmp_path, **kw), metric, values, patience, threshold)
    assert got == expected


def test_early_stopping_requirements(tmp_path, snuggle_log):
    cb = tc.EarlyStoppingCallback()
    state, control = tc.TrainerState(), tc.TrainerControl()
    with pytest.raises(TrainingError, match="metric_for_best_model"):
        cb.on_train_begin(our_args(tmp_path, eval_strategy="steps", eval_steps=5), state, control)
    with pytest.raises(TrainingError, match="eval_strategy"):
        cb.on_train_begin(types.SimpleNamespace(**{**_FLOW_DEFAULTS, "metric_for_best_model": "loss"}), state,
                          control)
    cb.on_train_begin(our_args(tmp_path, eval_strategy="steps", eval_steps=5, metric_for_best_model="loss"),
                      state, control)
    assert "load_best_model_at_end" in snuggle_log.text
    with pytest.raises(ConfigError, match="early_stopping_patience"):
        tc.EarlyStoppingCallback(0)


def test_early_stopping_missing_metric_warns(tmp_path, snuggle_log):
    args = our_args(tmp_path, eval_strategy="steps", eval_steps=5, metric_for_best_model="f1")
    cb, control = tc.EarlyStoppingCallback(), tc.TrainerControl()
    cb.on_evaluate(args, tc.TrainerState(best_metric=0.5), control, metrics={"eval_loss": 1.0})
    assert "eval_f1" in snuggle_log.text and not control.should_training_stop


def test_early_stopping_survives_resume(tmp_path):
    args = our_args(tmp_path, eval_strategy="steps", eval_steps=1, metric_for_best_model="loss")
    cb = tc.EarlyStoppingCallback(early_stopping_patience=3)
    state, control = tc.TrainerState(best_metric=0.5), tc.TrainerControl()
    for value in (0.6, 0.7):
        cb.on_evaluate(args, state, control, metrics={"eval_loss": value})
    state.stateful_callbacks = tc.export_callback_states([cb, control])
    state.save_to_json(tmp_path / "trainer_state.json")

    loaded = tc.TrainerState.load_from_json(tmp_path / "trainer_state.json")
    (resumed, control2), missing = tc.restore_callback_states(
        loaded.stateful_callbacks, [tc.EarlyStoppingCallback(early_stopping_patience=3), tc.TrainerControl()])
    assert missing == [] and resumed.early_stopping_patience_counter == 2
    resumed.on_evaluate(args, loaded, control2, metrics={"eval_loss": 0.8})
    assert control2.should_training_stop
    # The reference reads the same file and rebuilds the same callback.
    ref_state = ref.TrainerState.load_from_json(str(tmp_path / "trainer_state.json"))
    data = ref_state.stateful_callbacks["EarlyStoppingCallback"]
    ref_cb = ref.EarlyStoppingCallback(**data["args"])
    assert ref_cb.early_stopping_patience == 3 and data["attributes"]["early_stopping_patience_counter"] == 2


# --------------------------------------------------------------------------------------------- printing


def drive_logs(mod, logs, is_zero=True, max_str_len=100):
    state = mod.TrainerState(max_steps=4, is_world_process_zero=is_zero, is_local_process_zero=is_zero)
    progress = mod.ProgressCallback(max_str_len=max_str_len)
    control = mod.TrainerControl()
    progress.on_train_begin(None, state, control)
    for step in (1, 2):
        state.global_step = step
        progress.on_step_end(None, state, control)
        progress.on_log(None, state, control, logs=dict(logs))
    progress.on_train_end(None, state, control)
    mod.PrinterCallback().on_log(None, state, control, logs=dict(logs))


LOGS = {"loss": 0.123456789, "learning_rate": 5e-05, "epoch": 0.5, "total_flos": 12.0, "note": "x" * 30, "n": 3}


@pytest.mark.parametrize("max_str_len", [100, 10])
def test_progress_and_printer_output_match_reference(capsys, max_str_len):
    drive_logs(ref, LOGS, max_str_len=max_str_len)
    expected = capsys.readouterr().out
    drive_logs(tc, LOGS, max_str_len=max_str_len)
    got = capsys.readouterr().out
    assert got == expected
    assert "total_flos" not in got and "0.1235" in got
    assert ("String too long" in got) == (max_str_len == 10)


def test_progress_not_main_process_is_silent(capsys):
    drive_logs(tc, LOGS, is_zero=False)
    assert capsys.readouterr().out == ""


def test_progress_bars_count_steps_and_batches(monkeypatch):
    monkeypatch.delenv("SNUGGLE_DISABLE_PROGRESS_BARS", raising=False)
    monkeypatch.delenv("HF_DATASETS_DISABLE_PROGRESS_BARS", raising=False)
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    import io

    from tqdm.auto import tqdm

    cb = tc.ProgressCallback()
    state, control = tc.TrainerState(max_steps=10, global_step=0), tc.TrainerControl()
    cb.on_train_begin(None, state, control)
    cb.training_bar.fp = io.StringIO()
    assert isinstance(cb.training_bar, tqdm) and cb.training_bar.total == 10
    state.global_step = 4  # e.g. resumed from checkpoint-4
    cb.on_step_end(None, state, control)
    assert cb.training_bar.n == 4
    for _ in range(3):
        cb.on_prediction_step(None, state, control, eval_dataloader=[0, 1, 2])
    assert cb.prediction_bar.n == 3 and cb.prediction_bar.total == 3
    cb.on_evaluate(None, state, control, metrics={})
    assert cb.prediction_bar is None
    cb.on_prediction_step(None, state, control, eval_dataloader=iter([1]))  # no length: no bar
    assert cb.prediction_bar is None
    cb.on_train_end(None, state, control)
    assert cb.training_bar is None


def test_printer_does_not_print_on_other_ranks(capsys):
    tc.PrinterCallback().on_log(None, tc.TrainerState(is_local_process_zero=False), None, logs={"loss": 1.0})
    assert capsys.readouterr().out == ""
