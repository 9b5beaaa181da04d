"""snuggle.training.integrations: report_to resolution, the JSON-lines logger, TensorBoard event files
(read back with tensorboard's EventAccumulator and compared with the reference callback's)."""

from __future__ import annotations

import importlib.util
import json
import types

import pytest

from snuggle.errors import ConfigError, MissingDependencyError
from snuggle.training import integrations as integ
from snuggle.training.trainer_callback import CallbackHandler, DefaultFlowCallback, TrainerControl, TrainerState


def make_args(tmp_path, **kw):
    values = dict(output_dir=str(tmp_path / "out"), logging_dir=None)
    values.update(kw)
    return types.SimpleNamespace(**values)


# --------------------------------------------------------------------------------------------- report_to


def test_report_to_resolution():
    get = integ.get_reporting_integration_callbacks
    assert get(None) == [] and get("none") == [] and get([]) == [] and get(["none"]) == []
    assert get("jsonl") == [integ.JsonlLoggerCallback]
    assert get(["tensorboard", "jsonl"]) == [integ.TensorBoardCallback, integ.JsonlLoggerCallback]
    everything = get("all")
    assert everything[0] is integ.JsonlLoggerCallback
    assert (integ.TensorBoardCallback in everything) == integ.is_tensorboard_available()
    assert get(["all", "jsonl"]) == everything  # no duplicate logger


def test_report_to_unknown_lists_supported():
    with pytest.raises(ConfigError) as err:
        integ.get_reporting_integration_callbacks(["jsonl", "tensorbord"])
    message = str(err.value)
    assert "'tensorbord'" in message
    for name in ("'none'", "'all'", "'jsonl'", "'tensorboard'"):
        assert name in message


@pytest.mark.parametrize("name", ["wandb", "mlflow", "comet_ml"])
def test_report_to_external_explains_custom_callback(name):
    with pytest.raises(ConfigError) as err:
        integ.get_reporting_integration_callbacks(name)
    message = str(err.value)
    assert f"report_to={name!r} is not built into snuggle" in message
    assert "TrainerCallback" in message and "on_log" in message and "callbacks=[" in message


# --------------------------------------------------------------------------------------------- jsonl


def test_jsonl_one_line_per_log_flushed(tmp_path):
    np = pytest.importorskip("numpy")
    args = make_args(tmp_path)
    handler = CallbackHandler([DefaultFlowCallback, integ.JsonlLoggerCallback], None, None, None, None)
    state, control = TrainerState(), TrainerControl()
    handler.on_train_begin(args, state, control)
    path = tmp_path / "out" / "log_history.jsonl"
    for step in (1, 2, 3):
        state.global_step, state.epoch = step, step / 4
        handler.on_log(args, state, control, logs={"loss": 1.0 / step, "learning_rate": np.float64(1e-3)})
        # Readable while training runs: every line is complete when on_log returns.
        lines = path.read_text().splitlines()
        assert len(lines) == step
    handler.on_log(args, state, control, logs={"eval_loss": 0.5, "eval_accuracy": np.float32(0.75)})
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[0] == {"step": 1, "epoch": 0.25, "loss": 1.0, "learning_rate": 1e-3}
    assert records[-1] == {"step": 3, "epoch": 0.75, "eval_loss": 0.5, "eval_accuracy": 0.75}
    assert list(records[1])[:2] == ["step", "epoch"]


def test_jsonl_uses_output_dir_and_main_process_only(tmp_path):
    # logging_dir is per run (runs/<time>_<host>); the JSONL log stays in output_dir so a resume finds it
    args = make_args(tmp_path, logging_dir=str(tmp_path / "logs"))
    cb = integ.JsonlLoggerCallback()
    cb.on_log(args, TrainerState(global_step=1, is_world_process_zero=False), None, logs={"loss": 1.0})
    assert not (tmp_path / "out" / "log_history.jsonl").exists()
    cb.on_log(args, TrainerState(global_step=1), None, logs={"loss": 1.0})
    assert not (tmp_path / "logs").exists()
    assert (tmp_path / "out" / "log_history.jsonl").read_text() == '{"step": 1, "epoch": 0, "loss": 1.0}\n'
    with pytest.raises(ConfigError, match="output_dir"):
        cb.on_log(types.SimpleNamespace(output_dir=None), TrainerState(), None, logs={"loss": 1.0})


def test_jsonl_resume_drops_lines_after_checkpoint(tmp_path):
    args = make_args(tmp_path)
    cb = integ.JsonlLoggerCallback()
    for step in range(1, 8):
        cb.on_log(args, TrainerState(global_step=step), None, logs={"loss": float(step)})
    path = tmp_path / "out" / "log_history.jsonl"
    with open(path, "a") as f:
        f.write('{"step": 8, "lo')  # the crash cut this line short
    # Resume from checkpoint-5: steps 6, 7 and the torn line go; new lines follow step 5.
    cb.on_train_begin(args, TrainerState(global_step=5), None)
    cb.on_log(args, TrainerState(global_step=6), None, logs={"loss": 60.0})
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["step"], r["loss"]) for r in records] == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 5.0), (6, 60.0)]
    # A fresh run (step 0) appends.
    cb.on_train_begin(args, TrainerState(global_step=0), None)
    assert len(path.read_text().splitlines()) == 6


# --------------------------------------------------------------------------------------------- tensorboard


def test_tensorboard_missing_dependency(monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *a, **k):
        return None if name in ("tensorboard", "tensorboardX") else real_find_spec(name, *a, **k)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert not integ.is_tensorboard_available()
    assert integ.get_reporting_integration_callbacks("all") == [integ.JsonlLoggerCallback]
    with pytest.raises(MissingDependencyError, match=r"pip install snuggle\[tensorboard\]"):
        integ.TensorBoardCallback()
    # An explicit writer needs no package.
    assert integ.TensorBoardCallback(tb_writer=object()).tb_writer is not None


def test_rewrite_logs_matches_reference():
    pytest.importorskip("transformers")
    from transformers.integrations.integration_utils import rewrite_logs

    logs = {"loss": 1.0, "eval_loss": 2.0, "test_f1": 0.5, "evaluation": 3, "epoch": 1.0}
    assert integ.rewrite_logs(logs) == rewrite_logs(logs)


def drive_tensorboard(cb, args, model=None):
    state, control = TrainerState(), TrainerControl()
    cb.on_train_begin(args, state, control, model=model)
    for step in (2, 4, 6):
        state.global_step, state.epoch = step, step / 6
        cb.on_log(args, state, control, logs={"loss": 1.0 / step, "learning_rate": 1e-3 * step, "epoch": state.epoch})
    cb.on_log(args, state, control, logs={"eval_loss": 0.25, "eval_accuracy": 0.875, "note": "hello"})
    cb.on_train_end(args, state, control)


def read_events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    scalars = {tag: [(e.step, round(e.value, 6)) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    texts = {tag: acc.Tensors(tag)[0].tensor_proto.string_val[0].decode() for tag in acc.Tags()["tensors"]}
    return scalars, texts


def test_tensorboard_events_match_reference(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    transformers = pytest.importorskip("transformers")
    from transformers.integrations.integration_utils import TensorBoardCallback as RefTensorBoardCallback

    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "ref_tb"))
    ref_args = transformers.TrainingArguments(output_dir=str(tmp_path / "ref"), report_to="none")
    drive_tensorboard(RefTensorBoardCallback(), ref_args)
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR")

    config = types.SimpleNamespace(to_json_string=lambda: '{"hidden_size": 8}')
    args = make_args(tmp_path, logging_dir=str(tmp_path / "tb"))
    drive_tensorboard(integ.TensorBoardCallback(), args, model=types.SimpleNamespace(config=config))

    ours, theirs = read_events(tmp_path / "tb"), read_events(tmp_path / "ref_tb")
    assert ours[0] == theirs[0]
    assert ours[0]["train/loss"] == [(2, 0.5), (4, 0.25), (6, round(1 / 6, 6))]
    assert ours[0]["eval/accuracy"] == [(6, 0.875)]
    assert set(ours[1]) == {"args/text_summary", "model_config/text_summary", "train/note/text_summary"}
    assert json.loads(ours[1]["args/text_summary"])["logging_dir"] == str(tmp_path / "tb")
    assert ours[1]["train/note/text_summary"] == "hello"


def test_tensorboard_default_folder_and_rank(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    args = make_args(tmp_path)
    other_rank = integ.TensorBoardCallback()
    other_rank.on_train_begin(args, TrainerState(is_world_process_zero=False), TrainerControl())
    other_rank.on_log(args, TrainerState(is_world_process_zero=False), TrainerControl(), logs={"loss": 1.0})
    assert other_rank.tb_writer is None and not (tmp_path / "out").exists()

    cb = integ.TensorBoardCallback()
    drive_tensorboard(cb, args)
    runs = list((tmp_path / "out" / "runs").iterdir())
    assert len(runs) == 1 and cb.logging_dir == str(runs[0])
    assert read_events(runs[0])[0]["train/loss"][0] == (2, 0.5)


def test_tensorboardx_fallback(tmp_path, monkeypatch):
    """Without tensorboard, tensorboardX's SummaryWriter is used (a stand-in module here)."""
    import sys

    written = []

    class FakeWriter:
        def __init__(self, log_dir):
            self.log_dir = log_dir

        def add_text(self, tag, text, step=None):
            written.append(("text", tag, step))

        def add_scalar(self, tag, value, step):
            written.append(("scalar", tag, value, step))

        def flush(self):
            pass

        def close(self):
            written.append(("close",))

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *a, **k):
        if name == "tensorboard":
            return None
        if name == "tensorboardX":
            return object()
        return real_find_spec(name, *a, **k)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setitem(sys.modules, "tensorboardX", types.SimpleNamespace(SummaryWriter=FakeWriter))
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    cb = integ.TensorBoardCallback()
    args = make_args(tmp_path, logging_dir=str(tmp_path / "tbx"))
    cb.on_train_begin(args, TrainerState(), TrainerControl())
    assert isinstance(cb.tb_writer, FakeWriter) and cb.tb_writer.log_dir == str(tmp_path / "tbx")
    cb.on_log(args, TrainerState(global_step=3), TrainerControl(), logs={"loss": 0.5, "eval_loss": 0.25,
                                                                         "skip": [1, 2]})
    cb.on_train_end(args, TrainerState(), TrainerControl())
    assert written == [("text", "args", None), ("scalar", "train/loss", 0.5, 3), ("scalar", "eval/loss", 0.25, 3),
                       ("close",)]
