"""snuggle.generation.fast_sampling.multinomial_one equals torch.multinomial(probs, 1) bit for bit, and leaves
torch's generator exactly where torch.multinomial would (so later draws, and seeded runs, are unchanged)."""

from __future__ import annotations

import pytest
import torch

from snuggle.generation import fast_sampling as fs

pytestmark = pytest.mark.skipif(fs._ext is None, reason="the _sample C extension is not built")


def _filtered(rows: int, cols: int, keep: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    probs = (torch.randn(rows, cols, generator=g) * 3).softmax(-1)
    kth = probs.topk(min(keep, cols), dim=-1).values[:, -1:]
    return torch.where(probs >= kth, probs, torch.zeros(()))  # not renormalised: torch does not need it


@pytest.mark.parametrize("rows,cols,keep", [(8, 49152, 50), (1, 7, 3), (3, 1000, 1), (8, 313, 20), (2, 5, 1)])
@pytest.mark.parametrize("offset", [0, 1, 311, 623, 1000])  # where in the mt19937 block the draws start
def test_same_tokens_and_same_stream_afterwards(rows, cols, keep, offset):
    probs = _filtered(rows, cols, keep, seed=rows * cols + offset)
    torch.manual_seed(offset)
    torch.rand(offset)
    expected, after_expected = torch.multinomial(probs, 1), torch.rand(7)
    torch.manual_seed(offset)
    torch.rand(offset)
    got, after_got = fs.multinomial_one(probs), torch.rand(7)
    assert torch.equal(got, expected)
    assert torch.equal(after_got, after_expected)


def test_explicit_generator_and_repeated_draws():
    probs = _filtered(4, 3000, 40, seed=1)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for _ in range(20):
        assert torch.equal(fs.multinomial_one(probs, generator=g1), torch.multinomial(probs, 1, generator=g2))
    assert torch.equal(g1.get_state(), g2.get_state())


def test_falls_back_to_torch(monkeypatch):
    dense = torch.rand(2, 100).softmax(-1)  # nothing filtered: torch's own loop
    torch.manual_seed(0)
    a = fs.multinomial_one(dense)
    torch.manual_seed(0)
    assert torch.equal(a, torch.multinomial(dense, 1))
    for bad in (torch.zeros(2, 10), torch.tensor([[0.5, float("nan")]]), torch.tensor([[0.5, -0.1]]),
                torch.tensor([[0.0, float("inf")]])):
        with pytest.raises(RuntimeError):  # torch's own error for invalid rows
            fs.multinomial_one(bad)
    monkeypatch.setenv("SNUGGLE_TORCH_MULTINOMIAL", "1")
    assert not fs.fast_sampling_available()
    half = _filtered(2, 50, 3, seed=2).to(torch.float64)
    torch.manual_seed(1)
    b = fs.multinomial_one(half)
    torch.manual_seed(1)
    assert torch.equal(b, torch.multinomial(half, 1))


def test_kernel_is_used_for_filtered_rows(monkeypatch):
    calls = []
    real = fs._ext.sample
    monkeypatch.setattr(fs, "_ext", type("Ext", (), {"sample": staticmethod(lambda *a: calls.append(1) or real(*a))}))
    fs.multinomial_one(_filtered(2, 500, 5, seed=3))
    assert calls == [1]
