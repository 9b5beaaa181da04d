"""The C decoder layers (`_gemv.decoder_layers`, used for decode steps) equal the pure-torch fast path.

Each test runs the same decode step twice on tiny random models: once through the C layer and once with the
extension hidden (llama_inference._gemv = None: the torch ops of `fast_layer_forward`), and compares logits
and the key/value caches. Both kernel sets (every set this CPU runs: AVX-512 / AVX2 / generic C) and both thread counts are covered.
"""

import contextlib

import pytest
import torch

from snuggle.models import llama_inference
from snuggle.models.cache import DynamicCache, StaticCache
from snuggle.models.llama import LlamaConfig, LlamaForCausalLM, Qwen3ForCausalLM
from snuggle.models.llama_configs import Qwen3Config
from tests.models.test_gemv import llama_inference_disabled

_gemv = llama_inference._gemv
pytestmark = pytest.mark.skipif(_gemv is None or not hasattr(_gemv, "decoder_layers"),
                                reason="the C extension is not built (setup.py build_ext)")


@contextlib.contextmanager
def one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)




@pytest.fixture(params=[1, 2])
def threads(request, monkeypatch):
    # 2: the layer uses the worker thread even for tiny weights; 1: only the calling thread
    monkeypatch.setattr(llama_inference, "DECODE_TWO_THREADS_MIN_FLOATS", 0 if request.param == 2 else 1 << 40)
    return request.param


def tiny_model(seed=0, family=(LlamaConfig, LlamaForCausalLM), **overrides):
    torch.manual_seed(seed)
    settings = dict(vocab_size=96, hidden_size=64, intermediate_size=80, num_hidden_layers=2, num_attention_heads=6,
                    num_key_value_heads=2, head_dim=16, tie_word_embeddings=True)
    settings.update(overrides)
    config_class, model_class = family
    model = model_class(config_class(**settings)).eval()
    with torch.no_grad():  # non-trivial norms and biases
        for name, parameter in model.named_parameters():
            if "norm" in name or name.endswith("bias"):
                parameter.add_(torch.randn_like(parameter) * 0.3)
    return model


def decode_step(model, prompt, mask=None, cache=None, steps=2):
    """Prefill `prompt` (torch), then `steps` one-token steps; the logits of every step and the cache."""
    cache = DynamicCache() if cache is None else cache
    logits = []
    with torch.no_grad(), one_torch_thread():
        out = model(prompt, attention_mask=mask, past_key_values=cache)
        token = out.logits[:, -1:].argmax(-1)
        for _ in range(steps):
            if mask is not None:
                mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
            out = model(token, attention_mask=mask, past_key_values=cache)
            logits.append(out.logits)
            token = out.logits[:, -1:].argmax(-1)
    return torch.cat(logits, dim=1), cache


def assert_same_step(model, prompt, mask=None, make_cache=DynamicCache, atol=1e-4):
    fast_logits, fast_cache = decode_step(model, prompt, mask, make_cache())
    with llama_inference_disabled():
        torch_logits, torch_cache = decode_step(model, prompt, mask, make_cache())
    torch.testing.assert_close(fast_logits, torch_logits, rtol=1e-4, atol=atol)
    for layer in range(model.config.num_hidden_layers):
        for fast, reference in zip(fast_cache[layer], torch_cache[layer]):
            torch.testing.assert_close(fast, reference, rtol=1e-4, atol=atol / 10)


@pytest.mark.parametrize("rows", [1, 3, 8, 16])
def test_decoder_layer_equals_torch_path(rows, kernels, threads, packing, route):
    model = tiny_model()
    prompt = torch.randint(0, 96, (rows, 5), generator=torch.Generator().manual_seed(rows))
    assert_same_step(model, prompt)


class _CountingKernels:
    """Stands in for the `_gemv` module and counts the layers run by decoder_layers calls, and the calls."""

    def __init__(self, module):
        self.module, self.layer_calls, self.step_calls = module, 0, 0

    def __getattr__(self, name):
        return getattr(self.module, name)

    def decoder_layers(self, plans, *args):
        self.layer_calls += len(plans)
        self.step_calls += 1
        return self.module.decoder_layers(plans, *args)


@pytest.fixture(params=["all layers", "per layer"])
def route(request, monkeypatch):
    """Run the test with a decode step's layers in one C call, then with one C call per layer (the route a step
    takes when the layers cannot share one call: several masks, hidden states asked for)."""
    if request.param == "per layer":
        monkeypatch.setattr(llama_inference, "decode_layers_step", lambda *args, **kwargs: None)
    return request.param


def test_c_layer_is_used_for_decode_steps_and_its_checks_are_memoized(monkeypatch):
    model = tiny_model()
    counting = _CountingKernels(_gemv)
    monkeypatch.setattr(llama_inference, "_gemv", counting)
    decode_step(model, torch.tensor([[1, 2, 3]]), steps=1)
    assert counting.layer_calls == model.config.num_hidden_layers
    assert all(llama_inference.layer_plan(layer, llama_inference.layer_weights(layer)) is not None
               for layer in model.model.layers)
    checks = []
    real = llama_inference.fast_path_available
    monkeypatch.setattr(llama_inference, "fast_path_available", lambda layer: checks.append(1) or real(layer))
    decode_step(model, torch.tensor([[1, 2, 3]]), steps=3)  # nothing changed: the memo answers
    assert checks == [] and counting.layer_calls == 4 * model.config.num_hidden_layers
    assert counting.step_calls == 4  # every step in one call


def test_decode_memo_sees_hooks_and_replaced_modules(monkeypatch, route):
    model = tiny_model(seed=8)
    prompt = torch.tensor([[4, 5, 6]])
    decode_step(model, prompt)  # memo built
    seen = []
    handle = model.model.layers[1].self_attn.q_proj.register_forward_hook(lambda *args: seen.append(1))
    decode_step(model, prompt, steps=2)
    assert len(seen) == 3  # prefill and both decode steps ran the hooked module
    handle.remove()
    model.model.layers[0].mlp.down_proj = torch.nn.Linear(80, 64, bias=False)
    assert_same_step(model, prompt)  # the new module's weights are used
    counting = _CountingKernels(_gemv)
    monkeypatch.setattr(llama_inference, "_gemv", counting)
    decode_step(model, prompt, steps=1)
    assert counting.layer_calls == model.config.num_hidden_layers  # back on the C layer


def test_biases_and_multi_head_groups(kernels, threads, packing, route):
    model = tiny_model(seed=1, attention_bias=True, mlp_bias=True, num_key_value_heads=3,
                       hidden_size=48, intermediate_size=112)
    assert_same_step(model, torch.randint(0, 96, (4, 6), generator=torch.Generator().manual_seed(0)))


def test_narrow_mlp(kernels, threads, packing, route):
    # the products' widths differ in every order: qkv 160 > hidden 64 > gate|up 32
    model = tiny_model(seed=6, intermediate_size=16, num_key_value_heads=2)
    assert_same_step(model, torch.randint(0, 96, (2, 4), generator=torch.Generator().manual_seed(2)))


def test_padding_mask_and_static_cache(kernels, threads, packing, route):
    model = tiny_model(seed=2, num_key_value_heads=6)  # plain multi-head attention
    prompt = torch.randint(1, 96, (3, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(prompt)
    mask[0, :3] = 0  # left padding
    mask[2, :1] = 0
    assert_same_step(model, prompt, mask)
    assert_same_step(model, prompt, mask, lambda: StaticCache(config=model.config, max_batch_size=3,
                                                              max_cache_len=16))


@pytest.mark.parametrize("kv_heads, head_dim, rows", [(3, 64, 1), (1, 16, 3), (3, 16, 1), (1, 128, 1)])
def test_uneven_attention_items_split_by_positions(kv_heads, head_dim, rows, kernels, threads, packing, route):
    # rows x kv heads odd: on two threads each takes part of every item's positions and the parts are combined;
    # row 0's padding covers the first thread's whole part (its top score is -inf)
    model = tiny_model(seed=7, num_attention_heads=3 * kv_heads, num_key_value_heads=kv_heads, head_dim=head_dim)
    prompt = torch.randint(1, 96, (rows, 37), generator=torch.Generator().manual_seed(4))
    mask = torch.ones_like(prompt)
    mask[0, :30] = 0
    assert_same_step(model, prompt, mask)
    assert_same_step(model, prompt[:, :2])  # a short cache: parts of one or two positions


def test_long_cache_and_generate_tokens_identical():
    model = tiny_model(seed=3)
    prompt = torch.randint(0, 96, (2, 40), generator=torch.Generator().manual_seed(3))
    assert_same_step(model, prompt)
    fast = model.generate(prompt, max_new_tokens=12, do_sample=False)
    with llama_inference_disabled():
        reference = model.generate(prompt, max_new_tokens=12, do_sample=False)
    assert fast.tolist() == reference.tolist()


def test_packing_follows_the_setting(packing):
    model = tiny_model()
    decode_step(model, torch.tensor([[1, 2, 3]]), steps=1)
    for layer in model.model.layers:
        packed = layer.__dict__[llama_inference._PLAN_ATTRIBUTE][3]
        assert (packed is not None) == (packing == "packed")
    head = model.lm_head.__dict__.get(llama_inference._PACKED_HEAD_ATTRIBUTE)
    assert (head is not None and head[1] is not None) == (packing == "packed")
    if packing == "packed":  # the tied head keeps its own (vocab, hidden) layout
        assert model.lm_head.weight.is_contiguous() and model.lm_head.weight is model.model.embed_tokens.weight
    else:  # the head is re-laid out input-major instead
        assert model.lm_head.weight.t().is_contiguous()


def test_packed_copies_follow_in_place_updates(packing, route):
    model = tiny_model(seed=7)
    prompt = torch.tensor([[5, 6, 7], [1, 2, 3]])
    decode_step(model, prompt)  # builds the plans and the packed copies
    with torch.no_grad():  # an optimizer step or load_state_dict writes in place
        model.model.layers[1].self_attn.k_proj.weight.mul_(1.5)
        model.model.layers[0].mlp.down_proj.weight.add_(0.05)
        model.model.embed_tokens.weight.mul_(0.8)  # the tied head
    assert_same_step(model, prompt)
    model.load_state_dict({name: tensor * 1.1 for name, tensor in model.state_dict().items()})
    assert_same_step(model, prompt)


def test_packing_wanted_setting_and_memory_share(monkeypatch):
    import psutil

    class Memory:
        available = 4 * 1000

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory)
    monkeypatch.delenv("SNUGGLE_PACKED_WEIGHTS", raising=False)
    assert llama_inference.packing_wanted(1000) and not llama_inference.packing_wanted(1001)
    monkeypatch.setenv("SNUGGLE_PACKED_WEIGHTS", "1")
    assert llama_inference.packing_wanted(10**12)
    monkeypatch.setenv("SNUGGLE_PACKED_WEIGHTS", "0")
    assert not llama_inference.packing_wanted(1)


def test_replaced_norm_weight_rebuilds_the_plan():
    model = tiny_model(seed=4)
    prompt = torch.tensor([[5, 6, 7]])
    decode_step(model, prompt)  # builds the plans
    layer = model.model.layers[0]
    layer.input_layernorm.weight = torch.nn.Parameter(torch.full_like(layer.input_layernorm.weight, 2.0))
    assert_same_step(model, prompt)


def test_qk_norm_layers_keep_the_torch_ops():
    model = tiny_model(seed=5, family=(Qwen3Config, Qwen3ForCausalLM))
    layer = model.model.layers[0]
    assert llama_inference.layer_plan(layer, llama_inference.layer_weights(layer)) is None
    assert_same_step(model, torch.tensor([[1, 2, 3, 4]]))  # falls back to the torch ops


@pytest.mark.slow
def test_smollm2_decode_steps_equal_torch_path(smollm2_fp32_path):
    from snuggle.models import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(smollm2_fp32_path, dtype=torch.float32).eval()
    prompt = torch.tensor([[1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411]])
    # 30 layers of fp32 with another summation order: logits (magnitude ~20) agree to ~2e-4
    assert_same_step(model, prompt, atol=1e-3)
    batch = torch.cat([prompt, prompt.flip(-1)])
    mask = torch.ones_like(batch)
    mask[1, :5] = 0
    assert_same_step(model, batch, mask, atol=1e-3)
    fast = model.generate(batch, attention_mask=mask, max_new_tokens=24, do_sample=False)
    with llama_inference_disabled():
        reference = model.generate(batch, attention_mask=mask, max_new_tokens=24, do_sample=False)
    assert fast.tolist() == reference.tolist()


def test_generate_checks_the_layers_once_per_call_and_sees_changes_between_calls(monkeypatch):
    model = tiny_model(seed=9)
    prompt = torch.randint(0, 96, (2, 5), generator=torch.Generator().manual_seed(9))
    checks = []
    real = llama_inference._decode_entry
    monkeypatch.setattr(llama_inference, "_decode_entry", lambda *args: checks.append(1) or real(*args))
    model.generate(prompt, max_new_tokens=6, do_sample=False)
    assert len(checks) == model.config.num_hidden_layers  # the first decode step only
    assert model.model.__dict__.get(llama_inference.SESSION_ATTRIBUTE) is None  # the session ended with the call
    with torch.no_grad():  # between calls: an in-place update and a new hook are both seen by the next call
        model.model.layers[0].mlp.up_proj.weight.mul_(1.7)
    seen = []
    model.model.layers[1].mlp.register_forward_pre_hook(lambda *args: seen.append(1))
    fast = model.generate(prompt, max_new_tokens=6, do_sample=False)
    assert len(seen) == 6  # the prefill and the 5 decode steps ran the hooked module
    with llama_inference_disabled():
        reference = model.generate(prompt, max_new_tokens=6, do_sample=False)
    assert fast.tolist() == reference.tolist()


def _packed_layers(model):
    return [(layer.__dict__.get(llama_inference._PLAN_ATTRIBUTE) or (None,) * 4)[3] is not None
            for layer in model.model.layers]


def test_default_packing_waits_for_a_long_generate_call_then_stays(monkeypatch):
    monkeypatch.delenv("SNUGGLE_PACKED_WEIGHTS", raising=False)
    model = tiny_model(seed=10)
    prompt = torch.randint(0, 96, (1, 4), generator=torch.Generator().manual_seed(10))
    short = model.generate(prompt, max_new_tokens=5, do_sample=False)  # not worth packing
    assert _packed_layers(model) == [False, False]
    assert model.lm_head.__dict__.get(llama_inference._PACKED_HEAD_ATTRIBUTE) is None
    long = model.generate(prompt, max_new_tokens=llama_inference.PACK_MIN_STEPS, do_sample=False)
    assert _packed_layers(model) == [True, True]
    assert model.lm_head.__dict__[llama_inference._PACKED_HEAD_ATTRIBUTE][1] is not None
    assert long[:, :short.shape[1]].tolist() == short.tolist()
    again = model.generate(prompt, max_new_tokens=5, do_sample=False)  # the packed copies stay in use
    assert _packed_layers(model) == [True, True] and again.tolist() == short.tolist()
    with llama_inference_disabled():
        reference = model.generate(prompt, max_new_tokens=llama_inference.PACK_MIN_STEPS, do_sample=False)
    assert long.tolist() == reference.tolist()


def test_default_packing_respects_the_memory_share(monkeypatch):
    import psutil

    class Memory:
        available = 1000  # bytes: no copy fits

    monkeypatch.delenv("SNUGGLE_PACKED_WEIGHTS", raising=False)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory)
    model = tiny_model(seed=11)
    prompt = torch.tensor([[3, 4, 5]])
    out = model.generate(prompt, max_new_tokens=llama_inference.PACK_MIN_STEPS, do_sample=False)
    assert _packed_layers(model) == [False, False]
    with llama_inference_disabled():
        assert out.tolist() == model.generate(prompt, max_new_tokens=llama_inference.PACK_MIN_STEPS,
                                              do_sample=False).tolist()
