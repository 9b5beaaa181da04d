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


@pytest.mark.parametrize("cols", [1, 5, 16, 17, 49152])
def test_argmax_into_equals_torch_argmax(cols):
    generator = torch.Generator().manual_seed(cols)
    cases = [torch.randn(1, cols, generator=generator)]
    tied = torch.randint(0, 3, (1, cols), generator=generator).float()  # many equal maxima: the first wins
    cases.append(tied)
    cases.append(torch.full((1, cols), float("-inf")))
    with_nan = torch.randn(1, cols, generator=generator)
    with_nan[0, cols // 2] = float("nan")  # torch returns the NaN's index
    cases.append(with_nan)
    signed_zeros = torch.zeros(1, cols)
    signed_zeros[0, 0] = -0.0
    cases.append(signed_zeros)
    for scores in cases:
        out = torch.full((3,), -1, dtype=torch.long)
        token = fs.argmax_into(scores, out.data_ptr() + 8)
        assert token == int(torch.argmax(scores, dim=-1)) == int(out[1])
        assert out[0] == -1 and out[2] == -1  # one int64 written, at the address given
    assert fs.argmax_into(torch.randn(2, 4)) is None  # one row only
    assert fs.argmax_into(torch.randn(4, 2)[:, 0].unsqueeze(0)) is None  # a strided row
    assert fs.argmax_into(torch.randn(1, 4, dtype=torch.float64)) is None


def test_fill_ids_equals_index_fill():
    scores = torch.randn(3, 20, generator=torch.Generator().manual_seed(0))
    ids = torch.tensor([0, 7, 19])
    expected = scores.clone().index_fill_(-1, ids, float("-inf"))
    assert fs.fill_ids_(scores, ids, float("-inf"))
    assert torch.equal(scores, expected)
    wide = torch.zeros(2, 30)[:, :20]  # rows 30 apart
    assert fs.fill_ids_(wide, ids, 5.0) and float(wide.sum()) == 2 * 3 * 5.0
    with pytest.raises(IndexError, match="token id 20 is outside the vocabulary"):
        fs.fill_ids_(scores, torch.tensor([20]), 0.0)
    assert not fs.fill_ids_(scores, ids.int(), 0.0)  # int32 ids: the caller uses index_fill_


def test_greedy_generate_writes_the_argmax_token_into_its_buffer(monkeypatch):
    from snuggle.generation import utils
    from snuggle.models.llama import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2, eos_token_id=3)).eval()
    prompt = torch.tensor([[5, 6, 7, 8]])
    calls, original, original_greedy = [], utils.argmax_into, utils.greedy_token
    monkeypatch.setattr(utils, "argmax_into", lambda *args: calls.append(1) or original(*args))
    monkeypatch.setattr(utils, "greedy_token", lambda *args: calls.append(2) or original_greedy(*args))

    class Collect:
        tokens: list = []

        def put(self, value):
            self.tokens.append(value.tolist())

        def end(self):
            pass

    streamer = Collect()
    fast = model.generate(prompt, max_new_tokens=12, do_sample=False, streamer=streamer)
    # the prefill's logits through argmax_into; the decode loop's (no processors here) through greedy_token
    assert calls == [1] + [2] * (fast.shape[1] - 5)
    monkeypatch.setattr(fs, "_ext", None)  # torch's argmax and index_put
    slow = model.generate(prompt, max_new_tokens=12, do_sample=False)
    assert fast.tolist() == slow.tolist()
    assert streamer.tokens[1:] == [[t] for t in fast[0, 4:].tolist()]
