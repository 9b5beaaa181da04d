"""Under torchrun (2 processes): PartialState and the collective operations. Prints `ops OK <rank>`.
ddp_script.py imports it first, so one launch checks both."""

import os
import sys
import time

import torch

from snuggle.accelerate import PartialState
from snuggle.accelerate.operations import (
    broadcast, broadcast_object_list, gather, gather_object, pad_across_processes, reduce,
)

torch.set_num_threads(1)
state = PartialState()
rank, world = state.process_index, state.num_processes
assert world == 2 and state.use_distributed and state.backend == "gloo", state
assert str(state.distributed_type) == "MULTI_CPU"
assert PartialState() is not state and PartialState().process_index == rank  # shared state

# gather: dim 0 concatenation in rank order; 0-d tensors become vectors; nested structures
assert gather(torch.tensor([rank, rank])).tolist() == [0, 0, 1, 1]
assert gather(torch.tensor(float(rank))).tolist() == [0.0, 1.0]
out = gather({"a": torch.tensor([rank]), "b": [torch.tensor([[rank * 10]])]})
assert out["a"].tolist() == [0, 1] and out["b"][0].tolist() == [[0], [10]]
# gather_object: lists concatenated, other objects one per process
assert gather_object([f"r{rank}"] * (rank + 1)) == ["r0", "r1", "r1"]
assert gather_object({"rank": rank}) == [{"rank": 0}, {"rank": 1}]
# reduce
assert reduce(torch.tensor([1.0 + rank]), "sum").tolist() == [3.0]
assert reduce(torch.tensor([1.0 + rank]), "mean").tolist() == [1.5]
x = torch.tensor([1.0 + rank])
reduce(x, "sum")
assert x.tolist() == [1.0 + rank]  # input untouched
# broadcast
assert broadcast(torch.tensor([rank + 5])).tolist() == [5]
assert broadcast(torch.tensor([rank + 5]), from_process=1).tolist() == [6]
assert broadcast_object_list([rank, "x" * rank], from_process=1) == [1, "x"]
# pad_across_processes: ragged second dim
t = torch.ones(2, 2 + rank)
p = pad_across_processes(t, dim=1, pad_index=-1)
assert p.shape == (2, 3), p.shape
if rank == 0:
    assert p[:, 2].tolist() == [-1, -1]
pf = pad_across_processes(t, dim=1, pad_index=-1, pad_first=True)
if rank == 0:
    assert pf[:, 0].tolist() == [-1, -1] and pf[:, 1:].tolist() == [[1, 1], [1, 1]]
assert gather(p).shape == (4, 3)
assert pad_across_processes(torch.tensor(3.0)).tolist() == 3.0  # 0-d: unchanged

# split_between_processes: contiguous shares, first processes get the extras
with state.split_between_processes(list(range(5))) as part:
    assert part == ([0, 1, 2] if rank == 0 else [3, 4]), part
with state.split_between_processes(list(range(3)), apply_padding=True) as part:
    assert part == ([0, 1] if rank == 0 else [2, 2]), part
with state.split_between_processes({"x": torch.arange(4), "y": ["a", "b", "c", "d"]}) as part:
    assert part["x"].tolist() == [2 * rank, 2 * rank + 1]
    assert part["y"] == [["a", "b"], ["c", "d"]][rank]

# main_process_first: rank 0 finishes the block (writes the marker) before rank 1 enters it
marker = os.path.join(sys.argv[1], "main_first.txt")
with state.main_process_first():
    if rank == 0:
        time.sleep(0.3)
        with open(marker, "w") as f:
            f.write("done")
    else:
        assert os.path.exists(marker), "rank 1 entered main_process_first before rank 0 left it"


@state.on_main_process
def main_only():
    return "ran"


assert main_only() == ("ran" if rank == 0 else None)
state.wait_for_everyone()
print(f"ops OK {rank}", flush=True)
if __name__ == "__main__":
    state.destroy_process_group()
