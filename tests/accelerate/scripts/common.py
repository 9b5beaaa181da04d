"""Tiny model/data shared by the torchrun test scripts (and the parity test)."""

import torch
from torch.utils.data import DataLoader, TensorDataset


def make_data(n: int = 40, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(n, 1, generator=g))
    return TensorDataset(x, y)


def make_model(seed: int = 1):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def loss_fn(model, batch):
    x, y = batch
    return torch.nn.functional.mse_loss(model(x), y)


def plain_loop(dataset, batch_size, accumulation, epochs, lr_lambda, scheduler_steps_per_step=1, seed=3):
    """The reference: a plain PyTorch loop over the full global batch."""
    model = make_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    torch.manual_seed(seed)
    losses = []
    for _ in range(epochs):
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True)
        for i, batch in enumerate(loader):
            loss = loss_fn(model, batch)
            (loss / accumulation).backward()
            losses.append(loss.item())
            if (i + 1) % accumulation == 0 or i + 1 == len(loader):
                optimizer.step()
                for _ in range(scheduler_steps_per_step):
                    scheduler.step()
                optimizer.zero_grad()
    return model, losses


def lr_lambda(step):
    return 1.0 / (1.0 + 0.1 * step)
