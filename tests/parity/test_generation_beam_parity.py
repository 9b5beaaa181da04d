"""Beam search token-identical to transformers: sequences, sequences_scores, scores, logits and beam_indices."""

import pytest
import torch

from tests.parity.generation_models import (
    CAUSAL_KINDS,
    PAD,
    encoder_batch,
    frequent_token,
    left_padded_batch,
    load_pair,
)

OUTPUT = {"return_dict_in_generate": True, "output_scores": True, "output_logits": True}


def _assert_same_beam_output(expected, got):
    assert type(got).__name__ == type(expected).__name__
    assert got.sequences.tolist() == expected.sequences.tolist()
    torch.testing.assert_close(got.sequences_scores, expected.sequences_scores)
    assert got.beam_indices.tolist() == expected.beam_indices.tolist()
    assert len(got.scores) == len(expected.scores)
    for mine, theirs in zip(got.scores + got.logits, expected.scores + expected.logits):
        torch.testing.assert_close(mine, theirs)


@pytest.mark.parametrize("kind", CAUSAL_KINDS)
def test_beam_search_left_padded_batch_with_eos(kind):
    reference, ours = load_pair(kind)
    input_ids, mask = left_padded_batch()
    eos = frequent_token(reference, input_ids, mask)
    kwargs = dict(num_beams=3, max_new_tokens=10, eos_token_id=eos, pad_token_id=PAD, **OUTPUT)
    expected = reference.generate(input_ids, attention_mask=mask, **kwargs)
    got = ours.generate(input_ids, attention_mask=mask, **kwargs)
    _assert_same_beam_output(expected, got)
    assert type(got).__name__ == "GenerateBeamDecoderOnlyOutput"


@pytest.mark.parametrize("options", [
    {"num_beams": 4, "num_return_sequences": 3, "length_penalty": 0.5},
    {"num_beams": 3, "length_penalty": -1.0, "early_stopping": True},
    {"num_beams": 3, "length_penalty": 2.0, "early_stopping": "never"},
    {"num_beams": 2, "early_stopping": False, "no_repeat_ngram_size": 2},
    {"num_beams": 3, "num_return_sequences": 2, "two_eos": True},
], ids=["nrs3-lp0.5", "early-true", "never", "ngram", "eos-list"])
def test_beam_search_options(options):
    reference, ours = load_pair("llama")
    input_ids, mask = left_padded_batch()
    options = dict(options)
    eos = frequent_token(reference, input_ids, mask, step=2)
    if options.pop("two_eos", False):
        eos = [eos, frequent_token(reference, input_ids, mask, step=4)]
    kwargs = dict(max_new_tokens=9, eos_token_id=eos, pad_token_id=PAD, **options, **OUTPUT)
    expected = reference.generate(input_ids, attention_mask=mask, **kwargs)
    got = ours.generate(input_ids, attention_mask=mask, **kwargs)
    _assert_same_beam_output(expected, got)


@pytest.mark.parametrize("seed", [0, 7])
def test_beam_sampling_seeded(seed):
    reference, ours = load_pair("gpt2")
    input_ids, mask = left_padded_batch()
    kwargs = {"num_beams": 3, "do_sample": True, "top_k": 10, "temperature": 0.9, "max_new_tokens": 8, "pad_token_id": PAD,
                  "num_return_sequences": 2}
    torch.manual_seed(seed)
    expected = reference.generate(input_ids, attention_mask=mask, **kwargs)
    torch.manual_seed(seed)
    got = ours.generate(input_ids, attention_mask=mask, **kwargs)
    assert got.tolist() == expected.tolist()


def test_beam_search_plain_tensor_and_no_eos():
    reference, ours = load_pair("qwen2")
    input_ids = torch.tensor([[3, 4, 5, 6]])
    kwargs = {"num_beams": 2, "max_new_tokens": 6, "eos_token_id": None, "pad_token_id": PAD}
    assert ours.generate(input_ids, **kwargs).tolist() == reference.generate(input_ids, **kwargs).tolist()


def test_t5_beam_search():
    reference, ours = load_pair("t5")
    input_ids, mask = encoder_batch()
    eos = frequent_token(reference, input_ids, mask, step=2)
    for extra in ({"num_beams": 3}, {"num_beams": 4, "num_return_sequences": 2, "length_penalty": 0.7}):
        kwargs = dict(max_new_tokens=8, eos_token_id=eos, **extra, **OUTPUT)
        expected = reference.generate(input_ids, attention_mask=mask, **kwargs)
        got = ours.generate(input_ids, attention_mask=mask, **kwargs)
        _assert_same_beam_output(expected, got)
        assert type(got).__name__ == "GenerateBeamEncoderDecoderOutput"


@pytest.mark.parametrize("extra", [{"num_beams": 3, "num_return_sequences": 2}, {}])
@pytest.mark.parametrize("normalize", [False, True])
def test_compute_transition_scores(extra, normalize):
    reference, ours = load_pair("llama")
    input_ids, mask = left_padded_batch()
    eos = frequent_token(reference, input_ids, mask, step=2)
    kwargs = dict(max_new_tokens=7, eos_token_id=eos, pad_token_id=PAD, **extra, **OUTPUT)
    expected_out = reference.generate(input_ids, attention_mask=mask, **kwargs)
    got_out = ours.generate(input_ids, attention_mask=mask, **kwargs)
    beams = expected_out.get("beam_indices")
    expected = reference.compute_transition_scores(expected_out.sequences, expected_out.scores, beams,
                                                   normalize_logits=normalize)
    got = ours.compute_transition_scores(got_out.sequences, got_out.scores, got_out.get("beam_indices"),
                                         normalize_logits=normalize)
    torch.testing.assert_close(got, expected)
