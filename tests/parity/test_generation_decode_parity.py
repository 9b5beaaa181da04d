"""generate (greedy / sampling, no beams) token-identical to transformers on tiny random models of every family."""

import pytest
import torch

from snuggle.generation import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    generate,
)
from tests.parity.generation_models import (
    CAUSAL_KINDS,
    PAD,
    encoder_batch,
    frequent_token,
    left_padded_batch,
    load_pair,
)


def _same(expected, got):
    assert got.tolist() == expected.tolist()


@pytest.mark.parametrize("kind", CAUSAL_KINDS)
def test_greedy_left_padded_batch_with_eos_stop(kind):
    reference, ours = load_pair(kind)
    input_ids, mask = left_padded_batch()
    eos = frequent_token(reference, input_ids, mask)
    kwargs = {"max_new_tokens": 12, "do_sample": False, "eos_token_id": eos, "pad_token_id": PAD}
    expected = reference.generate(input_ids, attention_mask=mask, **kwargs)
    got = ours.generate(input_ids, attention_mask=mask, **kwargs)
    _same(expected, got)
    assert (got[0, input_ids.shape[1]:] == eos).any()  # eos really stopped row 0, later columns are pad


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_greedy_defaults_from_generation_config_json(kind):
    """No kwargs at all: max_length default (20 new tokens), eos/pad from the saved generation_config.json."""
    reference, ours = load_pair(kind)
    input_ids = torch.tensor([[7, 8, 9, 10]])
    _same(reference.generate(input_ids), ours.generate(input_ids))


def test_greedy_without_attention_mask_infers_it_from_pad():
    reference, ours = load_pair("llama")
    input_ids, _ = left_padded_batch()
    _same(reference.generate(input_ids, max_new_tokens=8, pad_token_id=PAD, eos_token_id=None),
          ours.generate(input_ids, max_new_tokens=8, pad_token_id=PAD, eos_token_id=None))


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
@pytest.mark.parametrize("seed", [0, 1])
def test_seeded_sampling_with_num_return_sequences(kind, seed):
    reference, ours = load_pair(kind)
    input_ids, mask = left_padded_batch()
    kwargs = {"max_new_tokens": 10, "do_sample": True, "num_return_sequences": 3, "top_k": 20, "top_p": 0.9, "temperature": 0.8,
                  "pad_token_id": PAD}
    torch.manual_seed(seed)
    expected = reference.generate(input_ids, attention_mask=mask, **kwargs)
    torch.manual_seed(seed)
    got = ours.generate(input_ids, attention_mask=mask, **kwargs)
    _same(expected, got)
    assert got.shape[0] == 9


def test_return_dict_scores_and_logits():
    reference, ours = load_pair("qwen2")
    input_ids, mask = left_padded_batch()
    kwargs = {"max_new_tokens": 6, "return_dict_in_generate": True, "output_scores": True, "output_logits": True,
                  "repetition_penalty": 1.3, "pad_token_id": PAD}
    expected = reference.generate(input_ids, attention_mask=mask, **kwargs)
    got = ours.generate(input_ids, attention_mask=mask, **kwargs)
    assert type(got).__name__ == type(expected).__name__ == "GenerateDecoderOnlyOutput"
    _same(expected.sequences, got.sequences)
    assert len(got.scores) == len(expected.scores) == len(got.logits) == 6
    for mine, theirs in zip(got.scores + got.logits, expected.scores + expected.logits):
        torch.testing.assert_close(mine, theirs)
    assert got.past_key_values is got["cache"] and got.past_key_values.get_seq_length() == got.sequences.shape[1] - 1


def test_min_new_tokens_and_max_length():
    reference, ours = load_pair("llama")
    input_ids, mask = left_padded_batch()
    eos = frequent_token(reference, input_ids, mask, step=1)
    for kwargs in ({"min_new_tokens": 5, "max_new_tokens": 9}, {"max_length": 13}, {"min_length": 10, "max_length": 14}):
        kwargs.update(eos_token_id=eos, pad_token_id=PAD)
        _same(reference.generate(input_ids, attention_mask=mask, **kwargs),
              ours.generate(input_ids, attention_mask=mask, **kwargs))


class _BanToken(LogitsProcessor):
    def __init__(self, token):
        self.token = token

    def __call__(self, input_ids, scores):
        scores = scores.clone()
        scores[:, self.token] = -float("inf")
        return scores


class _StopAtLength(StoppingCriteria):
    def __init__(self, length):
        self.length = length

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), input_ids.shape[1] >= self.length, dtype=torch.bool)


def test_custom_processors_and_criteria():
    """The caller's processors run after the built-in ones and before the warpers; criteria are OR-ed in."""
    import transformers

    reference, ours = load_pair("llama")
    input_ids, mask = left_padded_batch()
    first = int(reference.generate(input_ids, attention_mask=mask, max_new_tokens=1, pad_token_id=PAD)[0, -1])
    kwargs = {"max_new_tokens": 10, "pad_token_id": PAD, "do_sample": True, "top_k": 5}
    torch.manual_seed(3)
    expected = reference.generate(input_ids, attention_mask=mask, **kwargs,
                                  logits_processor=transformers.LogitsProcessorList([_BanToken(first)]),
                                  stopping_criteria=transformers.StoppingCriteriaList([_StopAtLength(12)]))
    torch.manual_seed(3)
    got = ours.generate(input_ids, attention_mask=mask, **kwargs, logits_processor=LogitsProcessorList([_BanToken(first)]),
                        stopping_criteria=[_StopAtLength(12)])
    _same(expected, got)
    assert got.shape[1] == 12 and first not in got[0, 6:].tolist()


def test_generation_config_object_plus_kwargs():
    reference, ours = load_pair("gpt2")
    import transformers

    input_ids, mask = left_padded_batch()
    expected = reference.generate(input_ids, attention_mask=mask, pad_token_id=PAD,
                                  generation_config=transformers.GenerationConfig(max_new_tokens=7, no_repeat_ngram_size=2))
    got = ours.generate(input_ids, attention_mask=mask, pad_token_id=PAD,
                        generation_config=GenerationConfig(max_new_tokens=7, no_repeat_ngram_size=2))
    _same(expected, got)


def test_continue_from_past_key_values():
    """A cache holding the prompt prefix: generate feeds only the new tokens and returns the cache."""
    import transformers

    reference, ours = load_pair("llama")
    prefix = torch.tensor([[7, 8, 9, 10, 11]])
    full = torch.cat([prefix, torch.tensor([[12, 13]])], dim=-1)
    ref_cache = transformers.DynamicCache(config=reference.config)
    reference(prefix, cache=ref_cache, use_cache=True)
    expected = reference.generate(full, cache=ref_cache, max_new_tokens=8, pad_token_id=PAD,
                                  eos_token_id=None)

    from snuggle.models.cache import DynamicCache

    cache = DynamicCache()
    ours(prefix, past_key_values=cache, use_cache=True)
    out = ours.generate(full, past_key_values=cache, max_new_tokens=8, pad_token_id=PAD, eos_token_id=None,
                        return_dict_in_generate=True)
    _same(expected, out.sequences)
    assert out.past_key_values is cache and cache.get_seq_length() == out.sequences.shape[1] - 1
    # and the same as generating from scratch
    _same(ours.generate(full, max_new_tokens=8, pad_token_id=PAD, eos_token_id=None), out.sequences)


def test_static_cache_matches_dynamic_and_reference():
    reference, ours = load_pair("llama")
    input_ids, mask = left_padded_batch()
    kwargs = {"max_new_tokens": 8, "pad_token_id": PAD, "eos_token_id": None}
    dynamic = ours.generate(input_ids, attention_mask=mask, **kwargs)
    static = ours.generate(input_ids, attention_mask=mask, cache_implementation="static", **kwargs)
    _same(dynamic, static)
    _same(reference.generate(input_ids, attention_mask=mask, **kwargs), static)


# ---------------------------------------------------------------------------------------- encoder-decoder (T5)
def test_t5_greedy_and_return_dict():
    reference, ours = load_pair("t5")
    input_ids, mask = encoder_batch()
    eos = frequent_token(reference, input_ids, mask)
    kwargs = {"max_new_tokens": 10, "eos_token_id": eos, "return_dict_in_generate": True, "output_scores": True}
    expected = reference.generate(input_ids, attention_mask=mask, **kwargs)
    got = ours.generate(input_ids, attention_mask=mask, **kwargs)
    assert type(got).__name__ == "GenerateEncoderDecoderOutput"
    _same(expected.sequences, got.sequences)
    assert got.sequences[0, 0] == PAD  # decoder_start_token_id
    for mine, theirs in zip(got.scores, expected.scores):
        torch.testing.assert_close(mine, theirs)


def test_t5_sampling_seeded():
    reference, ours = load_pair("t5")
    input_ids, mask = encoder_batch()
    kwargs = {"max_new_tokens": 8, "do_sample": True, "num_return_sequences": 2, "top_p": 0.8}
    torch.manual_seed(5)
    expected = reference.generate(input_ids, attention_mask=mask, **kwargs)
    torch.manual_seed(5)
    got = generate(ours, input_ids, attention_mask=mask, **kwargs)
    _same(expected, got)


@pytest.mark.parametrize("kind,extra", [("gpt2", {}), ("llama", {"num_beams": 2}), ("t5", {})])
def test_use_cache_false_reruns_the_whole_sequence(kind, extra):
    reference, ours = load_pair(kind)
    input_ids, mask = encoder_batch() if kind == "t5" else left_padded_batch()
    kwargs = dict(max_new_tokens=6, use_cache=False, pad_token_id=PAD, **extra)
    _same(reference.generate(input_ids, attention_mask=mask, **kwargs),
          ours.generate(input_ids, attention_mask=mask, **kwargs))


@pytest.mark.parametrize("kind,extra", [("llama", {"num_beams": 3}), ("qwen2", {}), ("t5", {}), ("t5", {"num_beams": 2})])
def test_static_cache_for_beams_and_t5(kind, extra):
    reference, ours = load_pair(kind)
    input_ids, mask = encoder_batch() if kind == "t5" else left_padded_batch()
    kwargs = dict(max_new_tokens=7, pad_token_id=PAD, **extra)
    expected = reference.generate(input_ids, attention_mask=mask, **kwargs)
    _same(expected, ours.generate(input_ids, attention_mask=mask, cache_implementation="static", **kwargs))


@pytest.mark.parametrize("extra", [{}, {"num_beams": 2}])
def test_token_type_ids_follow_the_new_tokens(extra):
    """GPT-2 takes token_type_ids: each new token gets the prompt's last type, as in the reference."""
    reference, ours = load_pair("gpt2")
    input_ids, mask = left_padded_batch()
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, -2:] = 3
    kwargs = dict(max_new_tokens=6, pad_token_id=PAD, token_type_ids=token_type_ids, **extra)
    _same(reference.generate(input_ids, attention_mask=mask, **kwargs),
          ours.generate(input_ids, attention_mask=mask, **kwargs))
