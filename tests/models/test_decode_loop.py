"""generate()'s decode steps without module calls (llama_inference.DecodeLoop, LlamaForCausalLM._decode_loop).

Each test runs generate on a tiny random model with the loop and with it refused (`_decode_loop` returning None:
every step through the modules), and compares tokens, scores and the cache the call returns.
"""

from __future__ import annotations

import pytest
import torch

from snuggle.models import llama_inference
from snuggle.models.cache import DynamicCache
from snuggle.models.llama import LlamaConfig, LlamaForCausalLM

pytestmark = pytest.mark.skipif(llama_inference._gemv is None or not hasattr(llama_inference._gemv, "decoder_layers"),
                                reason="the C extension is not built (setup.py build_ext)")


def tiny_model(**overrides):
    torch.manual_seed(0)
    settings = dict(vocab_size=96, hidden_size=64, intermediate_size=80, num_hidden_layers=3, num_attention_heads=6,
                    num_key_value_heads=3, head_dim=16, tie_word_embeddings=True, eos_token_id=2)
    settings.update(overrides)
    return LlamaForCausalLM(LlamaConfig(**settings)).eval()


@pytest.fixture
def loop_steps(monkeypatch):
    """Count the steps the loop took."""
    steps, original = [], llama_inference.DecodeLoop.step

    def counted(self, token_ids):
        logits = original(self, token_ids)
        steps.append(logits is not None)
        return logits

    monkeypatch.setattr(llama_inference.DecodeLoop, "step", counted)
    return steps


def without_loop(monkeypatch):
    monkeypatch.setattr(LlamaForCausalLM, "_decode_loop", lambda self, cache, rows, steps: None)


def generate(model, ids, **kwargs):
    return model.generate(ids, max_new_tokens=10, min_new_tokens=10, do_sample=False, return_dict_in_generate=True,
                          output_scores=True, **kwargs)


def assert_same_cache(ours: DynamicCache, theirs: DynamicCache):
    assert ours.get_seq_length() == theirs.get_seq_length()
    for mine, reference in zip(ours.key_cache + ours.value_cache, theirs.key_cache + theirs.value_cache):
        torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rows", [1, 3])
def test_loop_equals_module_steps(rows, loop_steps, packing, monkeypatch):
    # packing: the layers and the LM head (applied with the final norm inside the layers' C call) read packed
    # copies, or the weights themselves
    model = tiny_model()
    ids = torch.randint(3, 96, (rows, 7), generator=torch.Generator().manual_seed(rows))
    fast = generate(model, ids)
    assert loop_steps == [True] * 9  # 10 new tokens: the prefill gives the first
    without_loop(monkeypatch)
    slow = generate(model, ids)
    assert fast.sequences.tolist() == slow.sequences.tolist()
    for mine, reference in zip(fast.scores, slow.scores):
        torch.testing.assert_close(mine, reference, rtol=1e-4, atol=1e-4)
    assert_same_cache(fast.past_key_values, slow.past_key_values)


def test_the_cache_room_grows_with_the_steps(loop_steps, monkeypatch):
    # room for LOOP_ROOM tokens at a time: a call allowed many tokens holds room for what it reached only
    monkeypatch.setattr(llama_inference.DecodeLoop, "LOOP_ROOM", 4)
    model = tiny_model()
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    fast = generate(model, ids)
    assert loop_steps == [True] * 9
    without_loop(monkeypatch)
    slow = generate(model, ids)
    assert fast.sequences.tolist() == slow.sequences.tolist()
    assert_same_cache(fast.past_key_values, slow.past_key_values)


def test_a_call_stopped_early_holds_room_for_the_tokens_it_reached(monkeypatch):
    from snuggle.generation.stopping_criteria import StoppingCriteria, StoppingCriteriaList

    class AfterSix(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), input_ids.shape[1] >= 5 + 6, dtype=torch.bool)

    monkeypatch.setattr(llama_inference.DecodeLoop, "LOOP_ROOM", 4)
    out = tiny_model().generate(torch.tensor([[5, 6, 7, 8, 9]]), max_new_tokens=5000, do_sample=False,
                                stopping_criteria=StoppingCriteriaList([AfterSix()]), return_dict_in_generate=True)
    assert out.sequences.shape[1] == 11
    cache = out.past_key_values
    assert cache.get_seq_length() == 10
    assert all(buffers[0].shape[2] <= 5 + 2 * 4 for buffers in cache._buffers.values())  # not 5 + 5000


def test_returned_cache_continues_a_generation(loop_steps, monkeypatch):
    model = tiny_model()
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    first = generate(model, ids)
    cache = first.past_key_values
    assert cache.get_seq_length() == first.sequences.shape[1] - 1  # the last token is not in the cache yet
    again = model.generate(first.sequences, past_key_values=cache, max_new_tokens=5, min_new_tokens=5,
                           do_sample=False)
    without_loop(monkeypatch)
    whole = model.generate(ids, max_new_tokens=15, min_new_tokens=15, do_sample=False)
    assert again.tolist() == whole.tolist()


def test_a_step_the_loop_refuses_continues_through_the_modules(monkeypatch):
    model = tiny_model()
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    original, taken = llama_inference.DecodeLoop.step, []

    def refuse_after_four(self, token_ids):
        if len(taken) >= 4:
            return None
        taken.append(1)
        return original(self, token_ids)

    monkeypatch.setattr(llama_inference.DecodeLoop, "step", refuse_after_four)
    mixed = generate(model, ids)
    without_loop(monkeypatch)
    slow = generate(model, ids)
    assert len(taken) == 4
    assert mixed.sequences.tolist() == slow.sequences.tolist()
    assert_same_cache(mixed.past_key_values, slow.past_key_values)


def test_cache_views_are_set_when_a_streamer_raises():
    model = tiny_model()
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    cache = DynamicCache()

    class Stop(Exception):
        pass

    class Streamer:
        count = 0

        def put(self, value):
            self.count += 1
            if self.count == 5:  # the prompt, then 4 tokens: 3 of them went through decode steps
                raise Stop

        def end(self):
            pass

    with pytest.raises(Stop):
        model.generate(ids, past_key_values=cache, max_new_tokens=10, do_sample=False, streamer=Streamer())
    assert cache.get_seq_length() == 5 + 3
    assert all(keys.shape[2] == 8 for keys in cache.key_cache + cache.value_cache)


@pytest.mark.parametrize("kwargs", [
    {"output_hidden_states": True},
    {"output_attentions": True},
    {"attention_mask": torch.tensor([[0, 1, 1, 1, 1]])},  # padding: the steps need a mask
])
def test_the_loop_is_not_used_when_steps_need_more_than_logits(kwargs, loop_steps, monkeypatch):
    model = tiny_model(attn_implementation="eager") if "output_attentions" in kwargs else tiny_model()
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    fast = generate(model, ids, **kwargs)
    assert loop_steps == []
    without_loop(monkeypatch)
    assert fast.sequences.tolist() == generate(model, ids, **kwargs).sequences.tolist()


def test_hooks_and_sliding_windows_refuse_the_loop(loop_steps):
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    model = tiny_model()
    handle = model.lm_head.register_forward_hook(lambda module, args, output: output)
    generate(model, ids)
    handle.remove()
    generate(tiny_model(sliding_window=4), ids)
    assert loop_steps == []
    generate(model, ids)
    assert loop_steps == [True] * 9


def test_the_head_arguments_are_checked():
    gemv = llama_inference._gemv
    with pytest.raises(TypeError, match="11, 18 or 19 arguments"):
        gemv.decoder_layers((), 0, 0, 1, 0, 0, 0, (), 0, 0, 1, 0)
    model = tiny_model()
    ids = torch.tensor([[5, 6, 7]])
    out = model(ids, past_key_values=DynamicCache())
    entries = llama_inference._session_entries(model.model.layers, None)
    plans = tuple(entry.plan for entry in entries)
    cache = out.past_key_values
    slots = tuple(llama_inference._reserve_slot(cache, i, 1, 3, 16, 4, torch.zeros(1, 64)) for i in range(3))
    x, y, logits = torch.zeros(1, 64), torch.zeros(1, 64), torch.zeros(1, 96)
    table = torch.zeros(1, 16)
    norm = model.model.norm.weight
    with pytest.raises(ValueError, match="ldw 10 is too small"):
        gemv.decoder_layers(plans, x.data_ptr(), y.data_ptr(), 1, table.data_ptr(), table.data_ptr(), 0, slots, 0, 0,
                            1, norm.data_ptr(), 1e-5, logits.data_ptr(), 10, 96, False, logits.data_ptr())
    with pytest.raises(ValueError, match="non-null head pointers"):
        gemv.decoder_layers(plans, x.data_ptr(), y.data_ptr(), 1, table.data_ptr(), table.data_ptr(), 0, slots, 0, 0,
                            1, 0, 1e-5, logits.data_ptr(), 96, 96, False, logits.data_ptr())


def test_greedy_steps_with_token_bans_take_the_c_path(monkeypatch):
    # processors that only forbid tokens, applied with C stores on the loop's logits (fast_sampling.greedy_token)
    from snuggle.generation import utils

    calls, original = [], utils.greedy_token
    monkeypatch.setattr(utils, "greedy_token", lambda *args: calls.append(1) or original(*args))
    model = tiny_model()
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    settings = dict(max_new_tokens=10, min_new_tokens=6, suppress_tokens=[7, 11], begin_suppress_tokens=[4],
                    do_sample=False)
    token_steps, step_token = [], llama_inference.DecodeLoop.step_token
    monkeypatch.setattr(llama_inference.DecodeLoop, "step_token",
                        lambda self, token: token_steps.append(token) or step_token(self, token))
    fast = model.generate(ids, **settings)
    assert len(calls) == fast.shape[1] - 5 - 1  # every token after the prefill's
    assert token_steps == fast[0, 5:-1].tolist()  # each step fed its token as an int (no torch op)
    new = fast[0, 5:].tolist()
    assert 2 not in new[:6] and 7 not in new and 11 not in new and new[0] != 4
    without_loop(monkeypatch)
    assert model.generate(ids, **settings).tolist() == fast.tolist()
    scored = model.generate(ids, return_dict_in_generate=True, output_scores=True, **settings)
    assert scored.sequences.tolist() == fast.tolist()


def test_step_token_declines_what_it_cannot_take():
    model = tiny_model()
    cache = DynamicCache()
    with torch.no_grad():
        model(torch.tensor([[5, 6, 7]]), past_key_values=cache)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with model._decode_session(4):
            loop = model._decode_loop(cache, 1, 4)
            assert loop is not None
            assert loop.step_token(96) is None and loop.step_token(-1) is None  # outside the embedding
            assert loop.length == 3
            logits = loop.step_token(8)
            assert logits.shape == (1, 96) and loop.length == 4
            loop.close()
    finally:
        torch.set_num_threads(previous)
    assert cache.get_seq_length() == 4
    with torch.no_grad():
        reference = model(torch.tensor([[5, 6, 7, 8]])).logits[:, -1]
    torch.testing.assert_close(logits, reference, rtol=1e-4, atol=1e-4)
