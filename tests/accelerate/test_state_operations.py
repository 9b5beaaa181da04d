"""PartialState / operations: single-process identities, and the real collectives under torchrun."""

from __future__ import annotations

import pytest
import torch

from snuggle.accelerate import AcceleratorState, DistributedType, PartialState
from snuggle.accelerate.operations import (
    broadcast, broadcast_object_list, concatenate, find_batch_size, gather, gather_object, pad_across_processes,
    recursively_apply, reduce, send_to_device,
)
from snuggle.accelerate.state import _split
from snuggle.errors import ConfigError, TrainingError



def test_single_process_state():
    state = PartialState()
    assert state.num_processes == 1 and state.process_index == 0 and state.local_process_index == 0
    assert state.is_main_process and state.is_local_main_process and state.is_last_process
    assert state.distributed_type == DistributedType.NO and not state.use_distributed
    assert state.device.type in ("cpu", "cuda")
    assert PartialState().__dict__ is state.__dict__
    state.wait_for_everyone()
    with state.main_process_first():
        pass
    assert state.on_main_process(lambda: 7)() == 7


def test_single_process_operations_are_identity():
    t = torch.arange(3.0)
    assert gather(t) is t
    assert gather_object(["a"]) == ["a"]
    assert torch.equal(reduce(t, "mean"), t) and reduce(t, "sum") is not t
    assert torch.equal(reduce(t, "sum", scale=2.0), t * 2)
    assert broadcast(t) is t and broadcast_object_list([1]) == [1]
    assert pad_across_processes(t) is t
    with pytest.raises(TrainingError, match="reduction"):
        reduce(t, "max")
    with pytest.raises(TrainingError, match="type str"):
        recursively_apply(lambda x: x, ["text"], error_on_other_type=True)


def test_split_shares_and_padding():
    assert [_split(list(range(5)), 2, i, False) for i in range(2)] == [[0, 1, 2], [3, 4]]
    assert [_split(list(range(5)), 3, i, True) for i in range(3)] == [[0, 1], [2, 3], [4, 4]]
    parts = [_split(torch.arange(5), 3, i, True) for i in range(3)]
    assert [p.tolist() for p in parts] == [[0, 1], [2, 3], [4, 4]]
    assert _split({"a": (1, 2)}, 2, 1, False) == {"a": (2,)}
    with pytest.raises(ConfigError, match="expected a list"):
        _split(5, 2, 0, False)


def test_helpers():
    batch = {"x": torch.zeros(4, 2), "y": [torch.ones(4)]}
    assert find_batch_size(batch) == 4 and find_batch_size({"s": "text"}) is None
    assert concatenate([batch, batch])["x"].shape == (8, 2)
    assert send_to_device(batch, "cpu")["y"][0].device.type == "cpu"


def test_accelerator_state_mixed_precision():
    assert AcceleratorState(mixed_precision="bf16", _from_accelerator=True).mixed_precision == "bf16"
    assert AcceleratorState().mixed_precision == "bf16"  # shared
    assert AcceleratorState(mixed_precision="no", _from_accelerator=True).mixed_precision == "no"
    assert AcceleratorState().process_index == 0 and AcceleratorState().is_main_process
    with pytest.raises(ConfigError, match="mixed_precision='fp8'"):
        AcceleratorState(mixed_precision="fp8", _from_accelerator=True)

# The 2-process checks of these collectives (scripts/ops_script.py) run inside
# test_distributed.py::test_ddp_via_snuggle_launch, to pay for one torchrun start instead of two.
