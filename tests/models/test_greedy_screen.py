"""The greedy screen: an int8 copy of the LM head bounds every logit, so a greedy decode step computes only the
few logits that can be the largest (llama_inference.screen_head, screened_head in _decode_layer.c).

The token must always be torch.argmax over the full fp32 logits (after the bans): checked on random heads and
inputs with every kernel set, on exact ties, near ties, bans, and the inputs where the screen gives up (every
logit computed), and through generate() against the steps without the screen.
"""

from __future__ import annotations

import pytest
import torch

from snuggle.models import llama_inference
from snuggle.models.llama import LlamaConfig, LlamaForCausalLM

gemv = llama_inference._gemv
pytestmark = pytest.mark.skipif(gemv is None or not hasattr(gemv, "screen_argmax"),
                                reason="the C extension is not built (setup.py build_ext)")


@pytest.fixture(params=["packed", "input-major"])
def layout(request):
    return request.param


@pytest.fixture
def each_kernel_set():
    """Run the body once per kernel set this CPU has (AVX-512, AVX2, generic), then restore the best."""
    names = gemv.kernel_names()

    def run(body):
        try:
            for name in names:
                gemv.use_kernels(name)
                body(name)
        finally:
            gemv.use_kernels(names[0])

    return run


class Head:
    """A (n, k) head weight laid out for the C kernels, its screen, and the two ways to pick a token."""

    def __init__(self, weight: torch.Tensor, layout: str = "packed"):
        self.weight = weight.contiguous()
        self.n, self.k = weight.shape
        self.packed = layout == "packed"
        # packed panels, or input-major (k, n) rows
        self.laid = llama_inference.pack_panels(self.weight.t()) if self.packed else self.weight.t().contiguous()
        self.screen = llama_inference._build_screen(self.weight)
        assert self.screen is not None

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Every fp32 logit, by the kernel the decode step uses for the full head."""
        out = torch.empty(self.n)
        gemv.gemv(x.data_ptr(), self.laid.data_ptr(), out.data_ptr(), 1, self.k, self.n, self.laid.stride(0), 0,
                  self.packed)
        return out

    def expected(self, x: torch.Tensor, bans=()) -> int:
        logits = self.logits(x)
        for ids in bans:
            logits[ids] = float("-inf")
        return int(torch.argmax(logits))

    def pick(self, x: torch.Tensor, bans=(), threads: int = 2) -> int:
        q, scale, bound = self.screen
        token = torch.full((1,), -7, dtype=torch.int64)
        scratch = torch.empty(self.n)
        screen = (q.data_ptr(), q.stride(0), scale.data_ptr(), bound.data_ptr(),
                  tuple((ids.data_ptr(), ids.numel()) for ids in bans), token.data_ptr())
        chosen = gemv.screen_argmax(x.data_ptr(), self.k, self.laid.data_ptr(), self.laid.stride(0), self.n,
                                    self.packed, scratch.data_ptr(), screen, threads)
        assert chosen == int(token[0])
        return chosen


def counts_since(before):
    return [after - start for start, after in zip(before, gemv.screen_counts())]


def random_head(n=1000, k=72, seed=0):
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(n, k, generator=generator) * 0.05
    weight[:, :3] *= 20  # a few large inputs, as real embeddings have
    weight[17] = 0.0  # a zero row: scale 0
    return weight


def test_the_screened_token_is_the_argmax_of_the_full_logits(layout, each_kernel_set):
    head = Head(random_head(), layout)
    generator = torch.Generator().manual_seed(1)
    inputs = [torch.randn(head.k, generator=generator) * scale for scale in (0.5, 3.0, 40.0) for _ in range(40)]
    bans = [torch.tensor([3, 999, 4], dtype=torch.int64), torch.tensor([12], dtype=torch.int64)]

    def body(name):
        before = gemv.screen_counts()
        for i, x in enumerate(inputs):
            chosen = bans if i % 2 else ()
            assert head.pick(x, chosen, threads=1 + i % 2) == head.expected(x, chosen), (name, i)
        calls, full, candidates = counts_since(before)
        assert calls == len(inputs) and full < len(inputs) // 4  # the screen decides most of them
        assert candidates < 20 * len(inputs)

    each_kernel_set(body)


def test_exact_ties_go_to_the_first_index_as_torch_argmax(layout, each_kernel_set):
    weight = random_head(seed=2)
    weight[5] = torch.randn(weight.shape[1], generator=torch.Generator().manual_seed(2))
    weight[700] = weight[5]  # two equal rows: equal logits for any input
    head = Head(weight, layout)
    x = weight[5].clone()  # makes them the largest

    def body(name):
        assert head.expected(x) == 5 and head.pick(x) == 5, name
        banned = [torch.tensor([5], dtype=torch.int64)]
        assert head.expected(x, banned) == 700 and head.pick(x, banned) == 700, name

    each_kernel_set(body)


def test_near_ties_are_decided_by_the_fp32_logits(layout):
    generator = torch.Generator().manual_seed(3)
    weight = random_head(seed=3)
    head_k = weight.shape[1]
    weight[50] = torch.randn(head_k, generator=generator)
    for row in (100, 300, 640):  # the same direction, apart by less than the screen's error
        weight[row] = weight[50] + torch.randn(head_k, generator=generator) * 1e-6
    head = Head(weight, layout)
    before = gemv.screen_counts()
    for i in range(30):
        x = weight[50] + torch.randn(head_k, generator=generator) * 0.001 * i
        assert head.pick(x) == head.expected(x)
    assert counts_since(before)[2] >= 4 * 30  # the four rows were candidates each time


@pytest.mark.parametrize("case", ["all banned", "zero input", "nan input", "huge input", "inf input"])
def test_where_the_screen_gives_up_every_logit_is_computed(case, layout):
    head = Head(random_head(n=300, seed=4), layout)
    x = torch.randn(head.k, generator=torch.Generator().manual_seed(4))
    bans = ()
    if case == "all banned":
        bans = [torch.arange(head.n, dtype=torch.int64)]
    elif case == "zero input":
        x = torch.zeros(head.k)  # every logit 0: all candidates
    elif case == "nan input":
        x[7] = float("nan")
    elif case == "huge input":
        x *= 1e31
    else:
        x[3] = float("inf")
    before = gemv.screen_counts()
    assert head.pick(x, bans) == head.expected(x, bans)
    assert counts_since(before)[:2] == [1, 1]


def test_the_bound_holds_for_every_column():
    # |fp32 logit - the screen's exact value| <= |x| * bound, with rows of very different ranges
    generator = torch.Generator().manual_seed(5)
    weight = torch.randn(500, 96, generator=generator) * torch.logspace(-4, 2, 500)[:, None]
    weight[::7, 0] *= 1000.0  # rows with one outlier: coarse int8 steps
    head = Head(weight)
    q, scale, bound = head.screen
    q_rows = q.transpose(1, 2).reshape(-1, head.k)[:head.n].double()
    for i in range(20):
        x = torch.randn(head.k, generator=generator) * (10.0 ** (i % 5 - 2))
        exact = (q_rows @ x.double()) * scale.double()
        error = (head.logits(x).double() - exact).abs()
        assert bool((error <= x.double().norm() * bound.double()).all())
    assert float(bound.max()) > 0 and bound[scale == 0].abs().max() == 0 if bool((scale == 0).any()) else True


def test_screen_head_is_made_once_kept_and_refused_for_unsafe_weights(monkeypatch):
    head = torch.nn.Linear(64, 200, bias=False)
    assert llama_inference.screen_head(head, make=False) is None  # not made unless asked
    made = llama_inference.screen_head(head)
    assert made is not None and llama_inference.screen_head(head, make=False) is made
    q, scale, bound = made
    assert q.dtype == torch.int8 and tuple(q.shape) == (4, 64, 64) and bool((q[3, :, 8:] == 0).all())
    with torch.no_grad():
        head.weight.mul_(2.0)  # changed in place: made again
    assert llama_inference.screen_head(head) is not made
    monkeypatch.setenv("SNUGGLE_GREEDY_SCREEN", "0")
    assert llama_inference.screen_head(head) is None
    monkeypatch.delenv("SNUGGLE_GREEDY_SCREEN")
    for bad in (float("nan"), float("inf"), 1e7):
        with torch.no_grad():
            head.weight[3, 5] = bad
        assert llama_inference.screen_head(head) is None, bad


def test_malformed_screens_are_refused():
    head = Head(random_head(n=100, seed=6))
    x, token, scratch = torch.zeros(head.k), torch.zeros(1, dtype=torch.int64), torch.empty(head.n)
    q, scale, bound = head.screen
    base = (q.data_ptr(), q.stride(0), scale.data_ptr(), bound.data_ptr(), (), token.data_ptr())

    def call(screen):
        gemv.screen_argmax(x.data_ptr(), head.k, head.laid.data_ptr(), head.laid.stride(0), head.n, True,
                           scratch.data_ptr(), screen, 2)

    with pytest.raises(TypeError, match="tuple \\(q, ldq, scale, bound, bans, token\\)"):
        call(base[:5])
    with pytest.raises(ValueError, match="non-null pointers"):
        call((0,) + base[1:])
    with pytest.raises(ValueError, match="at most 8"):
        call(base[:4] + (((x.data_ptr(), 0),) * 9,) + base[5:])
    with pytest.raises(TypeError, match="\\(address, count\\)"):
        call(base[:4] + ((1, 2),) + base[5:])
    with pytest.raises(ValueError, match="negative count"):
        call(base[:4] + (((x.data_ptr(), -1),),) + base[5:])


# ------------------------------------------------------------------------------------------------ in generate
def tiny_model(seed=0, **overrides):
    torch.manual_seed(seed)
    settings = dict(vocab_size=300, hidden_size=64, intermediate_size=80, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=16, tie_word_embeddings=False, eos_token_id=2)
    settings.update(overrides)
    model = LlamaForCausalLM(LlamaConfig(**settings)).eval()
    with torch.no_grad():  # a peaked head, as a trained model's: logits far apart
        model.lm_head.weight.mul_(40.0)
    return model


@pytest.mark.parametrize("seed", [0, 1])
def test_generate_through_the_screen_equals_the_steps_without_it(seed, monkeypatch):
    monkeypatch.setenv("SNUGGLE_PACKED_WEIGHTS", "1")  # the screen comes with the packed copies
    model = tiny_model(seed)
    ids = torch.randint(3, 300, (1, 6), generator=torch.Generator().manual_seed(seed))
    settings = dict(max_new_tokens=40, min_new_tokens=20, suppress_tokens=[7, 11], do_sample=False)
    before = gemv.screen_counts()
    screened = model.generate(ids, **settings)
    calls, _, _ = counts_since(before)
    assert calls == screened.shape[1] - ids.shape[1] - 1  # every step after the prefill's token
    monkeypatch.setenv("SNUGGLE_GREEDY_SCREEN", "0")
    before = gemv.screen_counts()
    plain = model.generate(ids, **settings)
    assert counts_since(before)[0] == 0
    assert screened.tolist() == plain.tolist()
    new = screened[0, 6:].tolist()
    assert 7 not in new and 11 not in new and 2 not in new[:20]


def test_the_screen_is_not_used_where_the_logits_are_needed(monkeypatch):
    monkeypatch.setenv("SNUGGLE_PACKED_WEIGHTS", "1")
    model = tiny_model()
    ids = torch.tensor([[5, 6, 7, 8]])
    before = gemv.screen_counts()
    out = model.generate(ids, max_new_tokens=8, do_sample=False, return_dict_in_generate=True, output_scores=True)
    model.generate(ids, max_new_tokens=8, do_sample=True, top_k=5)
    model.generate(ids.repeat(2, 1), max_new_tokens=8, do_sample=False)
    assert counts_since(before)[0] == 0 and len(out.scores) == 8


def test_step_greedy_declines_what_it_cannot_take(monkeypatch):
    from snuggle.models.cache import DynamicCache

    monkeypatch.setenv("SNUGGLE_PACKED_WEIGHTS", "1")
    model = tiny_model()
    cache = DynamicCache()
    with torch.no_grad():
        model(torch.tensor([[5, 6, 7]]), past_key_values=cache)
    out = torch.zeros(4, dtype=torch.int64)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with model._decode_session(4):
            loop = model._decode_loop(cache, 1, 4)
            assert loop.step_greedy(300, [], out.data_ptr()) is None  # outside the embedding
            nine = [(out.data_ptr(), 1)] * 9
            assert loop.step_greedy(8, nine, out.data_ptr()) is None and loop.length == 3  # more than 8 ban lists
            chosen = loop.step_greedy(8, [None, (out.data_ptr(), 0)], out.data_ptr() + 8)
            assert chosen == int(out[1]) and loop.length == 4
            loop.close()
    finally:
        torch.set_num_threads(previous)
    with torch.no_grad():
        reference = model(torch.tensor([[5, 6, 7, 8]])).logits[0, -1]
    assert chosen == int(torch.argmax(reference))
