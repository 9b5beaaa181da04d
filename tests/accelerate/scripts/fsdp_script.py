"""Under torchrun with 2 CPU processes (gloo): Accelerator + FSDP (torch.distributed.fsdp,
use_orig_params) equals the single-process loop; save_model / save_state / load_state work.
argv: <tmp dir> <sharding strategy> [<sharding strategy> ...]"""

import os
import sys

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, os.path.dirname(__file__))
from common import loss_fn, lr_lambda, make_data, make_model, plain_loop  # noqa: E402

from snuggle.accelerate import Accelerator, FullyShardedDataParallelPlugin  # noqa: E402

torch.set_num_threads(1)
tmp = sys.argv[1]
data = make_data(40)


def run(strategy, epochs, acc=None, seed=1, resume_from=None, save_to=None):
    acc = acc or Accelerator(gradient_accumulation_steps=2,
                             fsdp_plugin=FullyShardedDataParallelPlugin(sharding_strategy=strategy))
    assert str(acc.distributed_type) == "FSDP"
    model = make_model(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)  # created before prepare, as people do
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    loader = DataLoader(data, batch_size=4, shuffle=True)
    model, optimizer, loader, scheduler = acc.prepare(model, optimizer, loader, scheduler)
    assert type(model).__name__ == "FullyShardedDataParallel"
    torch.manual_seed(3)
    if resume_from:
        acc.load_state(resume_from)
    for epoch in range(epochs):
        for batch in loader:
            with acc.accumulate(model):
                loss = loss_fn(model, batch)
                acc.backward(loss)
                if acc.sync_gradients:
                    acc.clip_grad_norm_(model.parameters(), 1e6)  # exercises FSDP's clip; never clips here
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
        if save_to and epoch == 0:
            acc.save_state(save_to)
    return acc, model


for strategy in sys.argv[2:]:
    acc, model = run(strategy, epochs=2, save_to=os.path.join(tmp, strategy, "state"))
    full = acc.get_state_dict(model)  # collective; full tensors on the main process
    ref_model, _ = plain_loop(data, 8, 2, 2, lr_lambda, scheduler_steps_per_step=2)
    if acc.is_main_process:
        ref = ref_model.state_dict()
        assert sorted(full) == sorted(ref), sorted(full)
        diff = max((full[k] - ref[k]).abs().max().item() for k in ref)
        assert diff < 1e-5, f"{strategy}: FSDP weights differ from the single-process loop by {diff}"
    acc.save_model(model, os.path.join(tmp, strategy, "model"))
    if acc.is_main_process:
        from safetensors.torch import load_file

        saved = load_file(os.path.join(tmp, strategy, "model", "model.safetensors"))
        assert all(torch.equal(saved[k], full[k]) for k in full)
    # resume: epoch 1 was saved above; loading it and running epoch 2 gives the same weights
    acc2, model2 = run(strategy, epochs=1, seed=99, resume_from=os.path.join(tmp, strategy, "state"))
    resumed = acc2.get_state_dict(model2)
    if acc.is_main_process:
        diff = max((resumed[k] - full[k]).abs().max().item() for k in full)
        assert diff < 1e-6, f"{strategy}: resumed FSDP run differs by {diff}"
    acc2.print(f"{strategy} ok")

acc2.wait_for_everyone()
print(f"OK {acc2.process_index}", flush=True)
acc2.end_training()
