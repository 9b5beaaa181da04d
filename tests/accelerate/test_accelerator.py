"""Accelerator in a single process: same numbers as a plain PyTorch loop, errors, checkpoints."""

from __future__ import annotations

import json
import os

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from snuggle.accelerate import (
    Accelerator, GradientAccumulationPlugin, ProjectConfiguration, find_executable_batch_size, set_seed,
    skip_first_batches,
)
from snuggle.errors import ConfigError, TrainingError

from .scripts.common import loss_fn, lr_lambda, make_data, make_model, plain_loop


def accelerate_loop(accelerator, dataset, batch_size, epochs, seed=3, clip=None):
    model = make_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    torch.manual_seed(seed)
    losses = []
    for _ in range(epochs):
        for batch in loader:
            with accelerator.accumulate(model):
                loss = loss_fn(model, batch)
                accelerator.backward(loss)
                if clip is not None and accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            losses.append(loss.item())
    return accelerator.unwrap_model(model), losses, scheduler


@pytest.mark.parametrize("accumulation", [1, 3])
def test_loop_equals_plain_pytorch(accumulation):
    data = make_data(22)  # 6 batches of 4 (last one 2): the last accumulation cycle is cut by the data
    model, losses, scheduler = accelerate_loop(Accelerator(gradient_accumulation_steps=accumulation), data, 4, 2)
    ref_model, ref_losses = plain_loop(data, 4, accumulation, 2, lr_lambda)
    assert losses == ref_losses
    for p, q in zip(model.parameters(), ref_model.parameters()):
        assert torch.equal(p, q)
    assert scheduler.scheduler.last_epoch == 2 * -(-6 // accumulation)  # real steps only
    assert scheduler.scheduler._step_count == 1 + 2 * 6  # adjust_scheduler counts the skipped ones too


def test_optimizer_and_scheduler_skip_while_accumulating():
    acc = Accelerator(gradient_accumulation_steps=2)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    model, opt, sched = acc.prepare(model, opt, sched)
    before = model.weight.detach().clone()
    with acc.accumulate(model):
        acc.backward(model(torch.ones(1, 2)).sum())
        assert not acc.sync_gradients
        opt.step(); sched.step(); opt.zero_grad()
    assert torch.equal(model.weight, before) and model.weight.grad is not None  # kept for accumulation
    assert sched.get_last_lr() == [1.0]
    with acc.accumulate(model):
        acc.backward(model(torch.ones(1, 2)).sum())
        assert acc.sync_gradients
        opt.step(); sched.step(); opt.zero_grad()
    assert torch.allclose(model.weight, before - 1.0)  # (1 + 1) / 2 per weight: the loss was divided by 2
    assert model.weight.grad is None and sched.get_last_lr() == [0.5]


def test_bf16_autocast_forward_returns_fp32():
    acc = Accelerator(mixed_precision="bf16")
    model = acc.prepare(torch.nn.Linear(4, 4))
    out = model(torch.randn(2, 4))
    assert out.dtype == torch.float32
    with acc.autocast():
        assert torch.nn.Linear(4, 4)(torch.randn(2, 4)).dtype == torch.bfloat16
    plain = acc.unwrap_model(model, keep_fp32_wrapper=False)
    assert "forward" not in vars(plain)
    Accelerator(mixed_precision="no")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"mixed_precision": "fp8"}, "mixed_precision='fp8'"),
    ({"mixed_precision": "fp16", "cpu": True}, "use mixed_precision='bf16'"),
    ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps must be an integer >= 1"),
    ({"gradient_accumulation_steps": 2, "gradient_accumulation_plugin": GradientAccumulationPlugin(num_steps=2)},
     "not both"),
    ({"log_with": "wandb"}, "unknown tracker"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Accelerator(**kwargs)
    Accelerator(mixed_precision="no")


def test_prepare_rejects_unknown_objects():
    acc = Accelerator()
    with pytest.raises(TrainingError, match=r"argument 1 is a dict; expected a torch.nn.Module"):
        acc.prepare(torch.nn.Linear(1, 1), {"lr": 1})


def test_prepare_keeps_order_and_single_object():
    acc = Accelerator()
    model, loader = torch.nn.Linear(1, 1), DataLoader(list(range(4)), batch_size=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    p_loader, p_opt, p_model = acc.prepare(loader, opt, model)
    assert isinstance(p_loader, DataLoader) and p_opt.optimizer is opt and p_model is model
    assert acc.prepare(torch.nn.Linear(1, 1)).__class__ is torch.nn.Linear


def test_process_helpers_single_process(capsys):
    acc = Accelerator()
    assert (acc.num_processes, acc.process_index, acc.local_process_index) == (1, 0, 0)
    assert acc.is_main_process and acc.is_local_main_process and acc.device.type == "cpu"
    acc.print("hello")
    assert capsys.readouterr().out == "hello\n"
    with acc.split_between_processes([1, 2, 3]) as part:
        assert part == [1, 2, 3]
    with acc.main_process_first(), acc.local_main_process_first():
        pass
    assert acc.on_main_process(lambda: 5)() == 5
    t = torch.arange(3)
    assert torch.equal(acc.gather(t), t) and torch.equal(acc.reduce(t, "sum"), t)
    assert torch.equal(acc.pad_across_processes(t), t)
    loader = acc.prepare(DataLoader(list(range(5)), batch_size=2))
    assert torch.cat([acc.gather_for_metrics(b) for b in loader]).tolist() == [0, 1, 2, 3, 4]
    acc.wait_for_everyone()


def test_skip_first_batches():
    acc = Accelerator()
    loader = acc.prepare(DataLoader(list(range(10)), batch_size=3))
    assert [b.tolist() for b in skip_first_batches(loader, 2)] == [[6, 7, 8], [9]]
    assert [b.tolist() for b in acc.skip_first_batches(DataLoader(list(range(4)), batch_size=2), 1)] == [[2, 3]]


def test_save_state_load_state_resume(tmp_path):
    data = make_data(24)

    def setup(seed):
        acc = Accelerator(gradient_accumulation_steps=2)
        model = make_model(seed)
        opt = torch.optim.AdamW(model.parameters(), lr=0.05)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
        loader = DataLoader(data, batch_size=4, shuffle=True)
        return (acc, *acc.prepare(model, opt, loader, sched))

    def epoch(acc, model, opt, loader, sched):
        for batch in loader:
            with acc.accumulate(model):
                acc.backward(loss_fn(model, batch))
                opt.step(); sched.step(); opt.zero_grad()

    acc, model, opt, loader, sched = setup(1)
    torch.manual_seed(0)
    epoch(acc, model, opt, loader, sched)
    out = acc.save_state(tmp_path / "ckpt")
    assert sorted(os.listdir(out)) == ["model.safetensors", "optimizer.bin", "random_states_0.pkl", "scheduler.bin"]
    epoch(acc, model, opt, loader, sched)

    acc2, model2, opt2, loader2, sched2 = setup(42)
    acc2.load_state(tmp_path / "ckpt")
    epoch(acc2, model2, opt2, loader2, sched2)
    for p, q in zip(model.parameters(), model2.parameters()):
        assert torch.equal(p, q)
    assert sched.get_last_lr() == sched2.get_last_lr()


def test_save_state_is_atomic(tmp_path):
    acc = Accelerator()
    acc.prepare(torch.nn.Linear(2, 2))

    class Broken:
        def state_dict(self):
            raise RuntimeError("disk full")

        def load_state_dict(self, state):
            pass

    acc.save_state(tmp_path / "ckpt")
    before = sorted(os.listdir(tmp_path / "ckpt"))
    acc.register_for_checkpointing(Broken())
    with pytest.raises(RuntimeError, match="disk full"):
        acc.save_state(tmp_path / "ckpt")
    assert sorted(os.listdir(tmp_path / "ckpt")) == before  # the previous checkpoint is untouched
    with pytest.raises(TrainingError, match="lack state_dict"):
        acc.register_for_checkpointing(object())
    with pytest.raises(TrainingError, match="not a folder"):
        acc.load_state(tmp_path / "missing")


def test_automatic_checkpoint_naming_and_total_limit(tmp_path):
    config = ProjectConfiguration(project_dir=str(tmp_path), automatic_checkpoint_naming=True, total_limit=2)
    acc = Accelerator(project_config=config)
    acc.prepare(torch.nn.Linear(2, 2))
    for _ in range(3):
        acc.save_state()
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["checkpoint_1", "checkpoint_2"]
    acc.load_state()
    assert acc.save_iteration == 3


def test_save_model_shards_and_get_state_dict(tmp_path):
    acc = Accelerator()
    model = acc.prepare(torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, 64)))
    acc.save_model(model, tmp_path, max_shard_size="20KB")
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert sorted(set(index["weight_map"].values())) == ["model-00001-of-00002.safetensors",
                                                         "model-00002-of-00002.safetensors"]
    assert sorted(acc.get_state_dict(model)) == sorted(index["weight_map"])


def test_jsonl_tracker(tmp_path):
    acc = Accelerator(log_with="jsonl", project_dir=str(tmp_path))
    acc.init_trackers("run", config={"lr": 0.1})
    acc.log({"loss": torch.tensor(0.5)}, step=3)
    acc.end_training()
    record = json.loads((tmp_path / "run" / "log_history.jsonl").read_text())
    assert record["loss"] == 0.5 and record["step"] == 3


def test_set_seed_and_find_executable_batch_size():
    set_seed(7)
    a = torch.rand(2)
    set_seed(7, device_specific=True)  # process 0: same seed
    assert torch.equal(a, torch.rand(2))
    tried = []

    @find_executable_batch_size(starting_batch_size=16)
    def train(batch_size):
        tried.append(batch_size)
        if batch_size > 4:
            raise RuntimeError("CUDA out of memory. Tried to allocate")
        return batch_size

    assert train() == 4 and tried == [16, 8, 4]
