"""The counter-based CPU dropout (snuggle/models/fast_dropout.py + _dropout.c).

It must be a dropout (keep rate 1-p, scale 1/(1-p), independent elements), reproducible from torch's
seed, give the gradient of the mask it applied, not depend on the thread count, and leave training
that uses it (attention probabilities, hidden states, gradient checkpointing) consistent.
"""

from __future__ import annotations

import math

import pytest
import torch

from snuggle.models import fast_dropout as fd

pytestmark = pytest.mark.skipif(fd._ext is None, reason="the _dropout C extension is not built")


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate_and_scale(p):
    n = 1_000_003  # odd: the last element is decided alone, not in a pair
    y = fd.dropout(torch.ones(n), p, training=True)
    kept = y != 0
    values = torch.unique(y).tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / (1 - p))
    rate = kept.double().mean().item()
    assert abs(rate - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)  # within five standard deviations
    # the expectation is preserved
    assert abs(y.double().mean().item() - 1.0) < 5 * math.sqrt(p / (1 - p) / n)


def test_masks_look_independent():
    m = fd.dropout_mask((2_000_000,), 0.5, seed=11) > 0
    a, b = m[:-1].double(), m[1:].double()
    corr = ((a - a.mean()) * (b - b.mean())).mean() / (a.std() * b.std())
    assert abs(corr.item()) < 0.005  # neighbours (same hash and next hash) uncorrelated
    other = fd.dropout_mask((2_000_000,), 0.5, seed=12) > 0
    assert 0.45 < (m == other).double().mean().item() < 0.55  # another seed: another mask


def test_reproducible_from_torch_seed_and_not_from_call_count():
    torch.manual_seed(3)
    a = fd.dropout(torch.ones(10_000), 0.3)
    b = fd.dropout(torch.ones(10_000), 0.3)
    torch.manual_seed(3)
    assert torch.equal(a, fd.dropout(torch.ones(10_000), 0.3))
    assert not torch.equal(a, b)


def test_same_mask_on_one_or_two_threads():
    big = 1 << 20  # above the size where the kernel splits over two threads
    two = fd.dropout_mask((big + 1,), 0.2, seed=5)
    fd._ext.set_max_threads(1)
    try:
        one = fd.dropout_mask((big + 1,), 0.2, seed=5)
    finally:
        fd._ext.set_max_threads(2)
    assert torch.equal(one, two)


def test_apply_equals_input_times_mask_and_gradient_uses_same_mask():
    x = torch.randn(3, 70_001, requires_grad=True)
    torch.manual_seed(0)
    seed = int(torch.randint(0, fd._SEED_BOUND, (1,)).item())
    torch.manual_seed(0)
    y = fd.dropout(x, 0.25)
    mask = fd.dropout_mask(x.shape, 0.25, seed)
    assert torch.equal(y, x.detach() * mask)
    g = torch.randn_like(y)
    y.backward(g)
    assert torch.equal(x.grad, g * mask)


def test_non_contiguous_input_and_inplace_flag():
    x = torch.randn(64, 48).t()  # a transposed view
    torch.manual_seed(1)
    y = fd.dropout(x, 0.5)
    torch.manual_seed(1)
    assert torch.equal(y, fd.dropout(x.contiguous(), 0.5))


def test_falls_back_to_torch_where_the_kernel_does_not_apply(monkeypatch):
    x = torch.ones(1000, dtype=torch.bfloat16)
    torch.manual_seed(0)
    y = fd.dropout(x, 0.5)
    torch.manual_seed(0)
    assert torch.equal(y, torch.nn.functional.dropout(x, 0.5))
    monkeypatch.setenv("SNUGGLE_TORCH_DROPOUT", "1")
    torch.manual_seed(0)
    z = fd.dropout(torch.ones(1000), 0.5)
    torch.manual_seed(0)
    assert torch.equal(z, torch.nn.functional.dropout(torch.ones(1000), 0.5))
    assert torch.equal(fd.dropout(torch.ones(5), 1.0), torch.zeros(5))
    assert fd.dropout(x, 0.5, training=False) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        fd.dropout(torch.ones(3), 1.5)


def test_dropout_module_is_an_nn_dropout():
    m = fd.Dropout(0.2)
    assert isinstance(m, torch.nn.Dropout) and m.p == 0.2 and "p=0.2" in repr(m)
    m.eval()
    x = torch.randn(10)
    assert m(x) is x


def test_sdpa_training_path_equals_eager_attention_with_the_same_seed():
    from snuggle.models.attention import eager_attention, sdpa_attention

    q, k, v = (torch.randn(2, 4, 9, 8, requires_grad=True) for _ in range(3))
    mask = torch.ones(2, 1, 9, 9, dtype=torch.bool)
    mask[1, :, :, 6:] = False
    torch.manual_seed(7)
    out, _ = sdpa_attention(q, k, v, mask, 0.35, dropout=0.2, training=True)
    torch.manual_seed(7)
    ref, _ = eager_attention(q, k, v, mask, 0.35, dropout=0.2, training=True)
    assert torch.equal(out, ref)
    # causal (mask None) in training: the written-out path applies the causal triangle
    torch.manual_seed(8)
    causal, _ = sdpa_attention(q, k, v, None, 0.35, dropout=0.0001, training=True)
    plain, _ = sdpa_attention(q, k, v, None, 0.35, dropout=0.0, training=False)
    assert torch.allclose(causal, plain, atol=1e-2)  # dropout of 1e-4 changes ~nothing


def test_bert_training_step_is_reproducible_and_checkpointing_replays_the_mask():
    from snuggle import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=64, num_labels=2)
    ids = torch.randint(0, 99, (3, 16), generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 1])

    def grads(checkpointing: bool):
        torch.manual_seed(0)
        model = BertForSequenceClassification(config)
        if checkpointing:
            model.gradient_checkpointing_enable()
        model.train()
        torch.manual_seed(123)
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    loss_a, grads_a = grads(False)
    loss_b, grads_b = grads(True)
    assert torch.equal(loss_a, loss_b)
    for a, b in zip(grads_a, grads_b):
        assert torch.allclose(a, b, atol=1e-6)
