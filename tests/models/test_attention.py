"""snuggle.models.attention: eager vs SDPA, masks, RoPE variants (vs the reference's init functions), GQA."""

from __future__ import annotations

import math

import pytest
import torch
import transformers
from transformers import masking_utils, modeling_rope_utils

from snuggle.errors import ModelError
from snuggle.models.attention import (
    RotaryEmbedding,
    apply_rotary_pos_emb,
    attention_implementation,
    causal_attention_mask,
    packed_sequence_ids,
    repeat_kv,
    rope_inverse_frequencies,
    rope_parameters,
    scaled_dot_product_attention,
)
from snuggle.models.llama import LlamaConfig


def _qkv(batch=2, heads=4, kv_heads=2, q_len=6, kv_len=6, dim=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, heads, q_len, dim, generator=generator)
    k = torch.randn(batch, kv_heads, kv_len, dim, generator=generator)
    v = torch.randn(batch, kv_heads, kv_len, dim, generator=generator)
    return q, k, v


def _both(q, k, v, **mask_kwargs):
    outputs = {}
    for implementation in ("eager", "sdpa"):
        mask = causal_attention_mask(implementation=implementation, **mask_kwargs)
        outputs[implementation], _ = scaled_dot_product_attention(
            q, k, v, mask, implementation=implementation, scaling=q.shape[-1] ** -0.5,
            num_key_value_groups=q.shape[1] // k.shape[1],
        )
    return outputs["eager"], outputs["sdpa"]


# ---- eager == sdpa ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kv_heads", [1, 2, 4])
def test_eager_equals_sdpa_causal(kv_heads):
    q, k, v = _qkv(kv_heads=kv_heads)
    eager, sdpa = _both(q, k, v, batch_size=2, query_length=6, key_length=6)
    torch.testing.assert_close(eager, sdpa, atol=1e-5, rtol=1e-5)


def test_eager_equals_sdpa_with_padding_window_and_cache_offset():
    q, k, v = _qkv(q_len=3, kv_len=9)
    padding = torch.ones(2, 9, dtype=torch.long)
    padding[1, :4] = 0  # left padding in row 1
    for window in (None, 4):
        eager, sdpa = _both(
            q, k, v, batch_size=2, query_length=3, key_length=9, query_offset=6, padding_mask=padding,
            sliding_window=window,
        )
        torch.testing.assert_close(eager, sdpa, atol=1e-5, rtol=1e-5)


def test_eager_equals_sdpa_single_query_and_packed_rows():
    q, k, v = _qkv(q_len=1, kv_len=5)
    eager, sdpa = _both(q, k, v, batch_size=2, query_length=1, key_length=5, query_offset=4)
    torch.testing.assert_close(eager, sdpa, atol=1e-5, rtol=1e-5)
    q, k, v = _qkv(q_len=6, kv_len=6)
    ids = packed_sequence_ids(torch.tensor([[0, 1, 2, 0, 1, 2], [0, 1, 2, 3, 4, 5]]))
    eager, sdpa = _both(q, k, v, batch_size=2, query_length=6, key_length=6, sequence_ids=ids)
    torch.testing.assert_close(eager, sdpa, atol=1e-5, rtol=1e-5)


def test_eager_matches_softmax_formula_and_returns_probabilities():
    q, k, v = _qkv(kv_heads=4)
    mask = causal_attention_mask(implementation="eager", batch_size=2, query_length=6, key_length=6)
    out, probs = scaled_dot_product_attention(q, k, v, mask, implementation="eager", scaling=0.25)
    scores = q @ k.transpose(-1, -2) * 0.25
    scores = scores.masked_fill(torch.ones(6, 6, dtype=torch.bool).triu(1), float("-inf"))
    expected = (scores.softmax(-1) @ v).transpose(1, 2)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 4, 6))


def test_unknown_implementation_is_an_error():
    class Config:
        _attn_implementation = "flash_attention_2"

    with pytest.raises(ModelError, match="attn_implementation"):
        attention_implementation(Config())
    with pytest.raises(ModelError):
        scaled_dot_product_attention(*_qkv(), None, implementation="flex", scaling=1.0)


def test_output_attentions_forces_eager():
    class Config:
        _attn_implementation = "sdpa"

    assert attention_implementation(Config()) == "sdpa"
    assert attention_implementation(Config(), output_attentions=True) == "eager"


def test_repeat_kv_is_repeat_interleave():
    x = torch.randn(2, 3, 5, 4)
    torch.testing.assert_close(repeat_kv(x, 4), torch.repeat_interleave(x, 4, dim=1))
    assert repeat_kv(x, 1) is x


# ---- masks -----------------------------------------------------------------------------------------------------
def test_sliding_window_mask_pattern():
    # window 3: each query sees itself and the two previous positions (the reference's documented example)
    mask = causal_attention_mask(implementation="sdpa", batch_size=1, query_length=5, key_length=5, sliding_window=3)
    expected = [
        [1, 0, 0, 0, 0],
        [1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [0, 0, 1, 1, 1],
    ]
    assert mask[0, 0].int().tolist() == expected


def test_sdpa_mask_skipped_only_when_is_causal_suffices():
    kwargs = dict(implementation="sdpa", batch_size=2, query_length=4, key_length=4)
    assert causal_attention_mask(**kwargs) is None
    assert causal_attention_mask(**kwargs, padding_mask=torch.ones(2, 4)) is None
    assert causal_attention_mask(**kwargs, padding_mask=torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])) is not None
    assert causal_attention_mask(**kwargs, sliding_window=2) is not None
    assert causal_attention_mask(**kwargs, sliding_window=8) is None
    eager = causal_attention_mask(implementation="eager", batch_size=2, query_length=4, key_length=4)
    assert eager.dtype == torch.float32 and eager[0, 0, 0, 1] == torch.finfo(torch.float32).min


def _reference_mask(implementation, batch, q_len, kv_len, q_offset, padding, window):
    function = (
        masking_utils.causal_mask_function if window is None
        else masking_utils.sliding_window_causal_mask_function(window)
    )
    maker = masking_utils.sdpa_mask if implementation == "sdpa" else masking_utils.eager_mask
    return maker(
        batch_size=batch, q_length=q_len, kv_length=kv_len, q_offset=q_offset, kv_offset=0,
        mask_function=function, attention_mask=None if padding is None else padding.bool(),
        local_size=window, allow_is_causal_skip=True,
    )


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
@pytest.mark.parametrize("window", [None, 3])
@pytest.mark.parametrize("q_len,kv_len,q_offset", [(5, 5, 0), (2, 7, 5), (1, 7, 6)])
def test_masks_equal_reference(implementation, window, q_len, kv_len, q_offset):
    padding = torch.ones(2, kv_len, dtype=torch.long)
    padding[1, :2] = 0
    for pad in (None, padding):
        ours = causal_attention_mask(
            implementation=implementation, batch_size=2, query_length=q_len, key_length=kv_len,
            query_offset=q_offset, padding_mask=pad, sliding_window=window,
        )
        reference = _reference_mask(implementation, 2, q_len, kv_len, q_offset, pad, window)
        if reference is None or ours is None:
            assert ours is None and reference is None
        else:
            assert torch.equal(ours, reference.expand_as(ours))


def test_packed_sequence_ids_equal_reference():
    positions = torch.tensor([[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 4, 5], [5, 6, 0, 1, 2, 3]])
    ours = packed_sequence_ids(positions)
    reference = masking_utils.find_packed_sequence_indices(positions)
    assert torch.equal(ours, reference)
    assert packed_sequence_ids(torch.arange(6)[None]) is None


def test_bad_padding_mask_shape_is_an_error():
    with pytest.raises(ModelError, match="attention_mask"):
        causal_attention_mask(implementation="sdpa", batch_size=1, query_length=2, key_length=2,
                              padding_mask=torch.ones(1, 1, 2))


# ---- RoPE ------------------------------------------------------------------------------------------------------
ROPE_CASES = {
    "default": None,
    "linear": {"rope_type": "linear", "factor": 4.0},
    "dynamic": {"rope_type": "dynamic", "factor": 2.0},
    "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 64},
}


def _configs(scaling, **extra):
    kwargs = dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                  num_hidden_layers=1, intermediate_size=32, vocab_size=16, rope_theta=5000.0, **extra)
    if scaling is not None:
        kwargs["rope_scaling"] = dict(scaling)
    reference = transformers.LlamaConfig(**kwargs)
    if scaling is not None:
        kwargs["rope_scaling"] = dict(scaling)
    return reference, LlamaConfig(**kwargs)


@pytest.mark.parametrize("rope_type", list(ROPE_CASES))
def test_rope_inverse_frequencies_equal_reference(rope_type):
    reference_config, config = _configs(ROPE_CASES[rope_type])
    assert config.rope_parameters == reference_config.rope_parameters
    if rope_type == "default":
        expected, scale = transformers.models.llama.modeling_llama.LlamaRotaryEmbedding.compute_default_rope_parameters(
            reference_config
        )
    else:
        expected, scale = modeling_rope_utils.ROPE_INIT_FUNCTIONS[rope_type](reference_config, None)
    ours, our_scale = rope_inverse_frequencies(config)
    torch.testing.assert_close(ours, expected, atol=0, rtol=1e-6)
    assert our_scale == scale
    if rope_type == "dynamic":  # longer than max_position_embeddings: theta grows
        expected, _ = modeling_rope_utils.ROPE_INIT_FUNCTIONS["dynamic"](reference_config, None, seq_len=300)
        torch.testing.assert_close(rope_inverse_frequencies(config, seq_len=300)[0], expected, atol=0, rtol=1e-6)


@pytest.mark.parametrize("rope_type", list(ROPE_CASES))
def test_rotary_embedding_equals_reference_module(rope_type):
    reference_config, config = _configs(ROPE_CASES[rope_type])
    reference = transformers.models.llama.modeling_llama.LlamaRotaryEmbedding(reference_config)
    ours = RotaryEmbedding(config)
    x = torch.zeros(1)
    # short, longer than max_position_embeddings (dynamic grows), short again (dynamic resets)
    for length in (10, 200, 300, 20):
        positions = torch.arange(length)[None]
        for a, b in zip(ours(x, positions), reference(x, positions)):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_rope_parameters_from_old_and_new_config_fields():
    class Old:
        rope_theta = 1e6
        rope_scaling = {"type": "linear", "factor": 2.0}
        max_position_embeddings = 16

    assert rope_parameters(Old()) == {"rope_type": "linear", "factor": 2.0, "rope_theta": 1e6}
    config = LlamaConfig(rope_parameters={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                          "high_freq_factor": 4.0}, max_position_embeddings=4096)
    assert config.rope_parameters["original_max_position_embeddings"] == 4096
    assert config.rope_parameters["rope_theta"] == 10000.0
    with pytest.raises(ModelError, match="rope_type"):
        rope_inverse_frequencies(LlamaConfig(rope_scaling={"rope_type": "mystery"}))
    with pytest.raises(ModelError, match="factor"):
        rope_inverse_frequencies(LlamaConfig(rope_scaling={"rope_type": "linear"}))


def test_rotation_preserves_norm_and_relative_angle():
    q = torch.randn(1, 2, 5, 8)
    class Config:
        hidden_size, num_attention_heads, max_position_embeddings = 16, 2, 32

    cos, sin = RotaryEmbedding(Config())(q, torch.arange(5)[None])
    rq, rk = apply_rotary_pos_emb(q, q, cos, sin)
    torch.testing.assert_close(rq.norm(dim=-1), q.norm(dim=-1))
    # position 0 is not rotated
    torch.testing.assert_close(rq[:, :, 0], q[:, :, 0])
    assert math.isclose(float(cos[0, 1, 0]), math.cos(1.0), rel_tol=1e-6)
