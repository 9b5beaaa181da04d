"""snuggle.accelerate vs the reference accelerate library, in one process: the same training
script gives the same losses and weights; the batch-sharding rules give the same batches."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

from snuggle.accelerate import Accelerator as SnuggleAccelerator
from snuggle.accelerate.data_loader import BatchSamplerShard as SnuggleBatchSamplerShard
from tests.accelerate.scripts.common import loss_fn, lr_lambda, make_data, make_model

accelerate = pytest.importorskip("accelerate")


@pytest.fixture(autouse=True)
def _fresh_reference_state():
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def train(accelerator_cls, mixed_precision="no", accumulation=3, epochs=2):
    accelerator = accelerator_cls(gradient_accumulation_steps=accumulation, mixed_precision=mixed_precision, cpu=True)
    model = make_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    loader = DataLoader(make_data(22), batch_size=4, shuffle=True)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    torch.manual_seed(3)
    losses, lrs, syncs = [], [], []
    for _ in range(epochs):
        for batch in loader:
            with accelerator.accumulate(model):
                loss = loss_fn(model, batch)
                accelerator.backward(loss)
                syncs.append(accelerator.sync_gradients)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), 0.5)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            losses.append(loss.item())
            lrs.append(scheduler.get_last_lr()[0])
    weights = {k: v.detach().clone() for k, v in accelerator.unwrap_model(model).state_dict().items()}
    return losses, lrs, syncs, weights


@pytest.mark.parametrize("accumulation", [1, 3])
def test_training_loop_matches_accelerate(accumulation):
    ours = train(SnuggleAccelerator, accumulation=accumulation)
    ref = train(accelerate.Accelerator, accumulation=accumulation)
    assert ours[0] == ref[0]  # losses
    assert ours[1] == ref[1]  # learning rates (scheduler skipping while accumulating)
    assert ours[2] == ref[2]  # sync_gradients pattern, incl. the forced sync at the end of the data
    for key in ref[3]:
        assert torch.equal(ours[3][key], ref[3][key]), key


def test_bf16_autocast_matches_accelerate():
    ours = train(SnuggleAccelerator, mixed_precision="bf16", accumulation=2, epochs=1)
    ref = train(accelerate.Accelerator, mixed_precision="bf16", accumulation=2, epochs=1)
    assert ours[0] == pytest.approx(ref[0], abs=1e-6)
    for key in ref[3]:
        assert torch.allclose(ours[3][key], ref[3][key], atol=1e-6), key


def test_gather_for_metrics_and_backward_scaling_match():
    results = []
    for cls in (SnuggleAccelerator, accelerate.Accelerator):
        acc = cls(gradient_accumulation_steps=4, cpu=True)
        model = acc.prepare(torch.nn.Linear(2, 1, bias=False))
        torch.nn.init.ones_(model.weight)
        acc.backward(model(torch.ones(1, 2)).sum())
        loader = acc.prepare(DataLoader(list(range(7)), batch_size=3))
        gathered = [acc.gather_for_metrics(b).tolist() for b in loader]
        results.append((model.weight.grad.tolist(), gathered))
    assert results[0] == results[1]


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("even", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_sampler_shard_matches_accelerate(split, even, drop_last):
    from accelerate.data_loader import BatchSamplerShard

    for n, batch_size, processes in itertools.product([0, 1, 5, 7, 12, 13, 24], [1, 2, 4], [2, 3]):
        if split and batch_size % processes:
            continue  # both refuse this combination
        sampler = BatchSampler(SequentialSampler(range(n)), batch_size=batch_size, drop_last=drop_last)
        for index in range(processes):
            ours = SnuggleBatchSamplerShard(sampler, processes, index, split_batches=split, even_batches=even)
            ref = BatchSamplerShard(sampler, processes, index, split_batches=split, even_batches=even)
            case = (n, batch_size, processes, index)
            assert list(ours) == list(ref), (case, list(ours), list(ref))
            if even or drop_last:
                assert len(ours) == len(ref), case
