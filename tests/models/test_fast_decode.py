"""The inference fast path of Llama-family layers (snuggle/models/llama_inference.py).

Under no_grad a layer runs fused q/k/v and gate/up projections with few ops; these tests prove that path
equals the module path and transformers, that the fused weights share storage with the parameters (no
extra memory, state_dict unchanged, saving still works) and that training after a fused forward is
unaffected (gradients equal a model that never took the fast path; optimizer steps write through).
"""

from __future__ import annotations

import copy

import pytest
import torch
import transformers

import snuggle.models.llama as ours
from snuggle.models.cache import DynamicCache
from snuggle.models.llama_inference import fast_path_available, layer_weights

TINY = {"vocab_size": 61, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64, "pad_token_id": 0}
FAMILIES = {
    "llama": ("Llama", {"attention_bias": True}),
    "mistral": ("Mistral", {"sliding_window": 4}),
    "qwen2": ("Qwen2", {"use_sliding_window": True, "sliding_window": 4, "max_window_layers": 1}),
    "qwen3": ("Qwen3", {"head_dim": 16, "tie_word_embeddings": True}),
}
INPUT_IDS = torch.tensor([[0, 0, 5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16, 17, 18]])
ATTENTION_MASK = torch.tensor([[0, 0, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]])


def _pair(family, tmp_path):
    prefix, extra = FAMILIES[family]
    torch.manual_seed(0)
    getattr(transformers, prefix + "ForCausalLM")(getattr(transformers, prefix + "Config")(**TINY, **extra)) \
        .save_pretrained(tmp_path)
    reference = getattr(transformers, prefix + "ForCausalLM").from_pretrained(tmp_path).eval()
    mine = getattr(ours, prefix + "ForCausalLM").from_pretrained(tmp_path).eval()
    return reference, mine


def _incremental_logits(model, steps=4, cache_class=DynamicCache):
    """Prefill the left-padded batch, then greedy single-token steps; every call's logits."""
    cache, mask, ids, collected = cache_class(), ATTENTION_MASK, INPUT_IDS, []
    for _ in range(steps + 1):
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)[:, -ids.shape[1]:]
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        collected.append(out.logits)
        ids = out.logits[:, -1:].argmax(-1)
        mask = torch.cat([mask, torch.ones_like(ids)], dim=-1)
    return collected


@pytest.mark.parametrize("mkl", [True, False], ids=["mkl", "onednn"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_fused_path_equals_module_path_and_reference(family, mkl, tmp_path, monkeypatch):
    # the prompt's products through MKL (chosen on Intel with AVX-512) or oneDNN (elsewhere)
    import snuggle.models.llama_inference as inference

    monkeypatch.setattr(inference, "mkl_avx512", lambda: mkl)
    reference, mine = _pair(family, tmp_path)
    with torch.no_grad():
        expected = _incremental_logits(reference, cache_class=transformers.DynamicCache)
        fast = _incremental_logits(mine)
    assert mine.model.layers[0].__dict__["_snuggle_fused"][1] is not None  # the fast path really ran
    module_path = _incremental_logits(mine)  # grad enabled: the module forward
    for step, (a, b, c) in enumerate(zip(expected, fast, module_path)):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4, msg=lambda m, s=step: f"fast vs reference {s}: {m}")
        torch.testing.assert_close(b, c.detach(), atol=1e-5, rtol=1e-5, msg=lambda m, s=step: f"fast vs module {s}: {m}")


def test_hidden_states_of_the_fast_path(tmp_path):
    _, mine = _pair("qwen3", tmp_path)
    with torch.no_grad():
        fast = mine(INPUT_IDS, attention_mask=ATTENTION_MASK, output_hidden_states=True)
    module_path = mine(INPUT_IDS, attention_mask=ATTENTION_MASK, output_hidden_states=True)
    assert len(fast.hidden_states) == len(module_path.hidden_states) == 3
    for a, b in zip(fast.hidden_states, module_path.hidden_states):
        torch.testing.assert_close(a, b.detach(), atol=1e-5, rtol=1e-5)


def test_fused_weights_share_storage_and_state_dict_is_unchanged(tmp_path):
    reference, mine = _pair("llama", tmp_path)
    keys_before = list(mine.state_dict())
    values_before = {k: v.clone() for k, v in mine.state_dict().items()}
    with torch.no_grad():
        mine(INPUT_IDS)
    attention = mine.model.layers[0].self_attn
    weights = layer_weights(mine.model.layers[0])
    fused_weight, fused_bias = weights.qkv_weight, weights.qkv_bias
    assert fused_weight.data_ptr() == attention.q_proj.weight.data_ptr()  # views, not copies
    assert attention.k_proj.weight.untyped_storage().data_ptr() == fused_weight.untyped_storage().data_ptr()
    assert fused_bias is not None
    assert list(mine.state_dict()) == keys_before
    for key, value in mine.state_dict().items():
        assert torch.equal(value, values_before[key]), key
    mine.save_pretrained(tmp_path / "saved")
    reloaded = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "saved").eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(INPUT_IDS).logits, reference(INPUT_IDS).logits, atol=1e-5, rtol=1e-5)


def test_training_after_a_fused_forward_is_unaffected(tmp_path):
    _, mine = _pair("qwen2", tmp_path)
    untouched = copy.deepcopy(mine)
    with torch.no_grad():
        mine(INPUT_IDS)  # builds the fused weights and re-points the parameters
    labels = INPUT_IDS.masked_fill(ATTENTION_MASK == 0, -100)
    for model in (mine, untouched):
        model.train()
        model(input_ids=INPUT_IDS, attention_mask=ATTENTION_MASK, labels=labels).loss.backward()
    grads = {name: p.grad for name, p in untouched.named_parameters()}
    for name, parameter in mine.named_parameters():
        torch.testing.assert_close(parameter.grad, grads[name], atol=1e-6, rtol=1e-6, msg=lambda m, n=name: f"{n}: {m}")
    # an optimizer step updates the parameters in place, which the fused weights see
    for model in (mine, untouched):
        torch.optim.SGD(model.parameters(), lr=0.5).step()
        model.eval()
    with torch.no_grad():
        torch.testing.assert_close(mine(INPUT_IDS).logits, untouched(INPUT_IDS).logits, atol=1e-5, rtol=1e-5)


def test_replaced_parameters_rebuild_the_fused_weights(tmp_path):
    _, mine = _pair("llama", tmp_path)
    with torch.no_grad():
        mine(INPUT_IDS)
        attention = mine.model.layers[1].self_attn
        attention.k_proj.weight.data = torch.randn_like(attention.k_proj.weight)  # a new tensor, not in place
        fast = mine(INPUT_IDS).logits
    module_path = mine(INPUT_IDS).logits.detach()
    torch.testing.assert_close(fast, module_path, atol=1e-5, rtol=1e-5)
    mine.to(torch.float64)
    with torch.no_grad():
        fast = mine(INPUT_IDS).logits
    assert fast.dtype == torch.float64
    torch.testing.assert_close(fast, mine(INPUT_IDS).logits.detach(), atol=1e-10, rtol=1e-10)


def test_hooks_keep_the_module_path(tmp_path):
    _, mine = _pair("llama", tmp_path)
    seen = []
    layer = mine.model.layers[0]
    handle = layer.self_attn.q_proj.register_forward_hook(lambda module, args, output: seen.append(output.shape))
    assert not fast_path_available(layer) and fast_path_available(mine.model.layers[1])
    with torch.no_grad():
        mixed = mine(INPUT_IDS, attention_mask=ATTENTION_MASK, output_hidden_states=True)  # layer 0 module, 1 fast
    assert seen == [torch.Size([2, 8, 32])]
    module_path = mine(INPUT_IDS, attention_mask=ATTENTION_MASK, output_hidden_states=True)
    torch.testing.assert_close(mixed.logits, module_path.logits.detach(), atol=1e-5, rtol=1e-5)
    for a, b in zip(mixed.hidden_states, module_path.hidden_states):
        torch.testing.assert_close(a, b.detach(), atol=1e-5, rtol=1e-5)
    handle.remove()
    assert fast_path_available(layer)


def test_inference_mode_then_training(tmp_path):
    """Fused weights built under inference_mode are ordinary tensors: training afterwards still works."""
    _, mine = _pair("llama", tmp_path)
    with torch.inference_mode():
        mine(INPUT_IDS)
    mine.train()
    loss = mine(input_ids=INPUT_IDS, labels=INPUT_IDS).loss
    loss.backward()
    assert mine.model.layers[0].self_attn.q_proj.weight.grad is not None


def test_tied_lm_head_relaid_out_still_tied_and_saves(tmp_path):
    reference, mine = _pair("qwen3", tmp_path)  # tie_word_embeddings=True
    with torch.no_grad():
        got = mine(INPUT_IDS, attention_mask=ATTENTION_MASK).logits
        expected = reference(INPUT_IDS, attention_mask=ATTENTION_MASK).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    head, embedding = mine.lm_head.weight, mine.model.embed_tokens.weight
    assert head is embedding  # still one parameter, whatever layout the decode kernels chose
    mine.save_pretrained(tmp_path / "saved")
    reloaded = transformers.Qwen3ForCausalLM.from_pretrained(tmp_path / "saved").eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(INPUT_IDS).logits, reference(INPUT_IDS).logits, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------------------ rotary table of a call
@pytest.mark.parametrize("rope", [None, {"rope_type": "linear", "factor": 2.0},
                                  {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                   "high_freq_factor": 4.0, "original_max_position_embeddings": 16}])
def test_session_rotary_rows_equal_the_per_step_tables_bit_for_bit(rope):
    from snuggle.models.llama_inference import rotary_tables, session_rotary_rows

    config = ours.LlamaConfig(**{**TINY, "head_dim": 64}, rope_scaling=rope)
    rotary = ours.LlamaModel(config).rotary_emb
    like = torch.zeros(1, 1, config.hidden_size)
    session = {"steps": 40}
    for position in (5, 6, 30, 44, 45, 200):  # 45 is past the first table (5 + 40): it is made again, longer
        cos, signed_sin = session_rotary_rows(session, rotary, like, position)
        expected = rotary_tables(*rotary(like, torch.tensor([[position]])))
        assert cos.shape == expected[0].shape == (1, 1, 1, 64)
        assert torch.equal(cos, expected[0]) and torch.equal(signed_sin, expected[1]), position
    assert session["rotary"][1].shape[1] == 200 + 1 + 40


def test_session_rotary_rows_refuse_dynamic_rope_and_follow_new_frequencies():
    from snuggle.models.llama_inference import session_rotary_rows

    like = torch.zeros(1, 1, TINY["hidden_size"])
    dynamic = ours.LlamaModel(ours.LlamaConfig(**TINY, rope_scaling={"rope_type": "dynamic", "factor": 2.0}))
    assert session_rotary_rows({"steps": 4}, dynamic.rotary_emb, like, 3) is None
    rotary = ours.LlamaModel(ours.LlamaConfig(**TINY)).rotary_emb
    session = {"steps": 4}
    before = session_rotary_rows(session, rotary, like, 3)[0].clone()
    with torch.no_grad():
        rotary.inv_freq.mul_(2)  # an in-place change: the table is made again
    after = session_rotary_rows(session, rotary, like, 3)[0]
    assert not torch.equal(before, after)


def test_generate_with_the_session_table_equals_the_per_step_rotary(tmp_path, monkeypatch):
    import snuggle.models.llama_inference as inference

    reference, mine = _pair("llama", tmp_path)
    ids = torch.tensor([[5, 6, 7, 8]])
    calls, original = [], inference.session_rotary_rows
    monkeypatch.setattr(inference, "session_rotary_rows", lambda *args: calls.append(args[-1]) or original(*args))
    in_loop = mine.generate(ids, max_new_tokens=12, do_sample=False)
    assert calls == [4]  # generate's decode loop (DecodeLoop) reads the call's table once, made for every step
    calls.clear()
    monkeypatch.setattr(type(mine), "_decode_loop", lambda *args: None)  # the module path
    with_table = mine.generate(ids, max_new_tokens=12, do_sample=False)
    assert calls == list(range(4, 15))  # every decode step took its rows from the table
    monkeypatch.setattr(inference, "session_rotary_rows", lambda *args: None)
    per_step = mine.generate(ids, max_new_tokens=12, do_sample=False)
    theirs = reference.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=0)
    assert in_loop.tolist() == with_table.tolist() == per_step.tolist() == theirs.tolist()
