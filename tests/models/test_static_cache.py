"""StaticCache: the preallocated cache gives the same outputs as DynamicCache (prefill + decode steps) and as the
reference's StaticCache, keeps its buffers in place, and refuses what does not fit."""

from __future__ import annotations

import pytest
import torch
import transformers

from snuggle.errors import ModelError
from snuggle.models import StaticCache
from snuggle.models.cache import Cache, DynamicCache
from snuggle.models.llama import (
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

TINY = {"vocab_size": 61, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64, "pad_token_id": 0}


def _model(config_class=LlamaConfig, model_class=LlamaForCausalLM, **extra):
    torch.manual_seed(0)
    return model_class(config_class(**TINY, **extra)).eval()


def _decode(model, cache, input_ids, attention_mask, steps=5):
    """Prefill then greedy steps, feeding the growing mask; returns the logits of every call."""
    all_logits = []
    with torch.no_grad():
        out = model(input_ids=input_ids, attention_mask=attention_mask, past_key_values=cache, use_cache=True)
        all_logits.append(out.logits)
        for _ in range(steps):
            next_ids = out.logits[:, -1:].argmax(-1)
            attention_mask = torch.cat([attention_mask, torch.ones_like(next_ids)], dim=-1)
            out = model(input_ids=next_ids, attention_mask=attention_mask, past_key_values=out.past_key_values,
                        use_cache=True)
            all_logits.append(out.logits)
    return all_logits


def test_update_returns_the_filled_prefix_in_place():
    cache = StaticCache(config=LlamaConfig(**TINY), max_batch_size=2, max_cache_len=10)
    assert isinstance(cache, Cache) and len(cache) == 2 and cache.get_max_cache_shape() == 10
    keys = torch.randn(2, 2, 3, 8)
    values = torch.randn(2, 2, 3, 8)
    got_keys, got_values = cache.update(keys, values, 0)
    assert got_keys.shape == (2, 2, 3, 8) and torch.equal(got_keys, keys) and torch.equal(got_values, values)
    buffer = cache.key_cache[0]
    more = torch.randn(2, 2, 1, 8)
    got_keys, _ = cache.update(more, more, 0)
    assert cache.key_cache[0] is buffer and buffer.shape == (2, 2, 10, 8)  # no reallocation
    assert torch.equal(got_keys, torch.cat([keys, more], dim=2))
    assert cache.get_seq_length(0) == 4 and cache.get_seq_length(1) == 0
    cache.crop(2)
    assert cache.get_seq_length(0) == 2
    cache.reset()
    assert cache.get_seq_length(0) == 0 and not bool(buffer.any())


def test_cache_position_writes_where_asked():
    cache = StaticCache(config=LlamaConfig(**TINY), max_batch_size=1, max_cache_len=8, dtype=torch.float32,
                        device="cpu")
    assert cache.key_cache[0].shape == (1, 2, 8, 8)  # dtype and device given: allocated up front
    first = torch.ones(1, 2, 2, 8)
    cache.update(first, first, 0, {"cache_position": torch.tensor([0, 1])})
    later = torch.full((1, 2, 1, 8), 3.0)
    keys, _ = cache.update(later, later, 0, {"cache_position": torch.tensor([4])})
    assert cache.get_seq_length(0) == 5 and keys[0, 0, :, 0].tolist() == [1.0, 1.0, 0.0, 0.0, 3.0]


def test_overflow_and_shape_mismatch_are_clear_errors():
    cache = StaticCache(config=LlamaConfig(**TINY), max_batch_size=1, max_cache_len=4)
    with pytest.raises(ModelError, match="max_cache_len=4"):
        cache.update(torch.zeros(1, 2, 5, 8), torch.zeros(1, 2, 5, 8), 0)
    with pytest.raises(ModelError, match="batch <= 1"):
        cache.update(torch.zeros(2, 2, 1, 8), torch.zeros(2, 2, 1, 8), 0)
    with pytest.raises(ModelError, match="config"):
        StaticCache(max_batch_size=1, max_cache_len=4)


@pytest.mark.parametrize("family", ["llama", "qwen2-sliding"])
def test_static_equals_dynamic_prefill_and_decode(family):
    if family == "llama":
        model = _model()
    else:  # biases on q/k/v and a sliding window shorter than the sequence on the second layer
        model = _model(Qwen2Config, Qwen2ForCausalLM, use_sliding_window=True, sliding_window=4, max_window_layers=1)
    input_ids = torch.tensor([[0, 0, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14]])
    attention_mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    dynamic = _decode(model, DynamicCache(), input_ids, attention_mask)
    cache = StaticCache(config=model.config, max_batch_size=2, max_cache_len=16)
    static = _decode(model, cache, input_ids, attention_mask)
    assert cache.get_seq_length() == 6 + 5
    for step, (a, b) in enumerate(zip(dynamic, static)):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5, msg=lambda m, s=step: f"step {s}: {m}")


def test_static_matches_the_reference_static_cache(tmp_path):
    config = transformers.LlamaConfig(**TINY)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(tmp_path)
    reference = transformers.LlamaForCausalLM.from_pretrained(tmp_path).eval()
    mine = LlamaForCausalLM.from_pretrained(tmp_path).eval()
    input_ids = torch.tensor([[3, 4, 5, 6, 7]])
    ref_cache = transformers.StaticCache(config=reference.config, max_cache_len=12)
    my_cache = StaticCache(config=mine.config, max_batch_size=1, max_cache_len=12)
    with torch.no_grad():
        expected = reference(input_ids, past_key_values=ref_cache, use_cache=True,
                             cache_position=torch.arange(5)).logits
        got = mine(input_ids, past_key_values=my_cache, use_cache=True).logits
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
        next_ids = expected[:, -1:].argmax(-1)
        expected = reference(next_ids, past_key_values=ref_cache, use_cache=True,
                             cache_position=torch.tensor([5])).logits
        got = mine(next_ids, past_key_values=my_cache, use_cache=True).logits
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert my_cache.get_seq_length() == ref_cache.get_seq_length() == 6


def test_dynamic_cache_appends_into_buffers_like_concatenation():
    """DynamicCache writes each step into a buffer with spare room; the views equal torch.cat of every step,
    also after the caller crops or reorders the cache."""
    torch.manual_seed(0)
    cache = DynamicCache()
    steps = [torch.randn(2, 2, n, 4) for n in (3, 1, 1, 2)]
    expected = None
    for step in steps:
        keys, values = cache.update(step, step * 2, 0)
        expected = step if expected is None else torch.cat([expected, step], dim=-2)
        assert torch.equal(keys, expected) and torch.equal(values, expected * 2)
    cache.crop(4)
    keys, _ = cache.update(steps[1], steps[1], 0)
    assert torch.equal(keys, torch.cat([expected[:, :, :4], steps[1]], dim=-2))
    cache.reorder_cache(torch.tensor([1, 0]))
    keys, _ = cache.update(steps[2], steps[2], 0)
    reordered = torch.cat([expected[:, :, :4], steps[1]], dim=-2)[[1, 0]]
    assert torch.equal(keys, torch.cat([reordered, steps[2]], dim=-2))
    many = torch.randn(2, 2, DynamicCache.GROWTH + 5, 4)  # more than the spare room: the buffer grows
    keys, _ = cache.update(many, many, 0)
    assert keys.shape[-2] == 6 + DynamicCache.GROWTH + 5 and torch.equal(keys[:, :, -many.shape[-2]:], many)
    assert cache.get_seq_length() == keys.shape[-2]


def test_dynamic_cache_reserve_token_leaves_the_slot_to_the_caller():
    """reserve_token grows each layer by one position like update, without copying the placeholder when the
    buffer has room; the caller's writes into the last position are what the cache then holds."""
    torch.manual_seed(0)
    cache = DynamicCache()
    prompt = torch.randn(2, 3, 4, 8)
    cache.update(prompt, prompt + 1, 0)
    placeholder = torch.zeros(2, 3, 1, 8)
    keys, values = cache.reserve_token(placeholder, placeholder, 0)  # the first append builds the buffer
    assert keys.shape == (2, 3, 5, 8) and torch.equal(keys[:, :, :4], prompt)
    new = torch.randn(2, 3, 1, 8)
    for step in range(3):
        keys, values = cache.reserve_token(placeholder + 7, placeholder + 7, 0)
        assert keys.shape[-2] == 6 + step and cache.get_seq_length() == 6 + step
        keys[:, :, -1:].copy_(new + step)
        values[:, :, -1:].copy_(new - step)
    keys, values = cache.update(new, new, 0)  # later updates keep what the caller wrote
    assert torch.equal(keys[:, :, 5:8], torch.cat([new, new + 1, new + 2], dim=-2))
    assert torch.equal(values[:, :, 7:8], new - 2) and torch.equal(values[:, :, :4], prompt + 1)
    with pytest.raises(ModelError, match="batch and kv_heads must match"):
        cache.reserve_token(torch.zeros(1, 3, 1, 8), torch.zeros(1, 3, 1, 8), 0)
    fresh = DynamicCache()
    keys, _ = fresh.reserve_token(placeholder, placeholder, 1)  # an empty layer stores the placeholder itself
    assert keys is placeholder and fresh.get_seq_length(1) == 1
