"""Under torchrun with 2 processes: Accelerator + DDP equals a single-process loop over the same
global batch; gather_for_metrics drops the duplicated tail; save_state/load_state resumes exactly."""

import os
import sys

import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.dirname(__file__))
import ops_script  # noqa: E402,F401 - runs the PartialState / collective-operation checks first
from common import loss_fn, lr_lambda, make_data, make_model, plain_loop  # noqa: E402

from snuggle.accelerate import Accelerator  # noqa: E402

torch.set_num_threads(1)
tmp = sys.argv[1]
data = make_data(40)


def train(accelerator, model, optimizer, loader, scheduler, epochs, counter=None):
    losses = []
    for _ in range(epochs):
        for batch in loader:
            with accelerator.accumulate(model):
                loss = loss_fn(model, batch)
                accelerator.backward(loss)
                if not accelerator.sync_gradients and counter is None and not losses:
                    # no_sync while accumulating: the two processes hold different gradients
                    g = accelerator.gather(model.module[0].weight.grad.reshape(1, -1))
                    assert not torch.allclose(g[0], g[1]), "gradients were synchronised during accumulation"
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                if counter is not None and accelerator.sync_gradients:
                    counter.steps += 1
            losses.append(accelerator.reduce(loss.detach(), "mean").item())
    return losses


def prepared(accelerator, batch_size, seed=1):
    model = make_model(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    loader = DataLoader(data, batch_size=batch_size, shuffle=True)
    return accelerator.prepare(model, optimizer, loader, scheduler)


def max_diff(a, b):
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


# 1. DDP (whole batches per process) == plain loop with the global batch; the scheduler steps
#    num_processes times per optimizer step (accelerate's convention)
acc = Accelerator(gradient_accumulation_steps=2)
assert acc.num_processes == 2 and str(acc.distributed_type) == "MULTI_CPU"
model, optimizer, loader, scheduler = prepared(acc, batch_size=4)
assert isinstance(model, torch.nn.parallel.DistributedDataParallel)
assert len(loader) == 5
torch.manual_seed(3)
losses = train(acc, model, optimizer, loader, scheduler, epochs=2)
ref_model, ref_losses = plain_loop(data, 8, 2, 2, lr_lambda, scheduler_steps_per_step=2)
diff = max_diff(acc.unwrap_model(model), ref_model)
assert diff < 1e-5, f"DDP weights differ from the single-process loop by {diff}"
assert max(abs(a - b) for a, b in zip(losses, ref_losses)) < 1e-5, (losses, ref_losses)

# 2. split_batches: each process takes half of every batch; the scheduler steps once
acc = Accelerator(gradient_accumulation_steps=2, split_batches=True)
model, optimizer, loader, scheduler = prepared(acc, batch_size=8)
torch.manual_seed(3)
losses = train(acc, model, optimizer, loader, scheduler, epochs=2)
ref_model, ref_losses = plain_loop(data, 8, 2, 2, lr_lambda, scheduler_steps_per_step=1)
diff = max_diff(acc.unwrap_model(model), ref_model)
assert diff < 1e-5, f"split_batches weights differ by {diff}"

# 3. gather_for_metrics: 13 samples in batches of 2 -> the duplicated tail is dropped
#    (whole batches per process: 16 gathered, split batches: 14 gathered; 13 kept either way)
eval_data = TensorDataset(torch.arange(13.0).reshape(13, 1))
for split, gathered_total in ((False, 16), (True, 14)):
    acc = Accelerator(split_batches=split)
    eval_loader = acc.prepare(DataLoader(eval_data, batch_size=2))
    seen, names = [], []
    for (x,) in eval_loader:
        seen.append(acc.gather_for_metrics(x))
        names.extend(acc.gather_for_metrics([f"s{int(v)}" for v in x.flatten().tolist()]))
    assert torch.cat(seen).flatten().tolist() == [float(i) for i in range(13)], seen
    assert names == [f"s{i}" for i in range(13)], names
    plain_gather = [acc.gather(x) for (x,) in eval_loader]
    assert sum(len(t) for t in plain_gather) == gathered_total, [t.shape for t in plain_gather]

# 4. save_state / load_state: epoch 1, save, epoch 2  ==  load, epoch 2
class Counter:
    def __init__(self):
        self.steps = 0

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]


ckpt_dir = os.path.join(tmp, "state")
acc = Accelerator(gradient_accumulation_steps=2)
counter = Counter()
acc.register_for_checkpointing(counter)
model, optimizer, loader, scheduler = prepared(acc, batch_size=4)
torch.manual_seed(5)
train(acc, model, optimizer, loader, scheduler, epochs=1, counter=counter)
acc.save_state(ckpt_dir)
train(acc, model, optimizer, loader, scheduler, epochs=1, counter=counter)
expected_lr = scheduler.get_last_lr()
files = sorted(os.listdir(ckpt_dir))
assert files == ["custom_checkpoint_0.pkl", "model.safetensors", "optimizer.bin", "random_states_0.pkl",
                 "random_states_1.pkl", "scheduler.bin"], files
assert not os.path.exists(ckpt_dir + ".incomplete")

acc2 = Accelerator(gradient_accumulation_steps=2)
counter2 = Counter()
acc2.register_for_checkpointing(counter2)
model2, optimizer2, loader2, scheduler2 = prepared(acc2, batch_size=4, seed=99)
torch.manual_seed(1234)  # overwritten by the saved RNG states
acc2.load_state(ckpt_dir)
assert counter2.steps == 3, counter2.steps
train(acc2, model2, optimizer2, loader2, scheduler2, epochs=1, counter=counter2)
diff = max_diff(acc.unwrap_model(model), acc2.unwrap_model(model2))
assert diff < 1e-6, f"resumed run differs by {diff}"
assert counter2.steps == counter.steps == 6 and scheduler2.get_last_lr() == expected_lr

# 5. save_model: plain keys (no DDP "module." prefix), written once
acc2.save_model(model2, os.path.join(tmp, "model"))
from safetensors.torch import load_file  # noqa: E402

saved = load_file(os.path.join(tmp, "model", "model.safetensors"))
assert sorted(saved) == ["0.bias", "0.weight", "2.bias", "2.weight"], sorted(saved)
assert torch.equal(saved["0.weight"], acc2.unwrap_model(model2)[0].weight.detach())

acc2.wait_for_everyone()
print(f"OK {acc2.process_index}", flush=True)
acc2.end_training()
