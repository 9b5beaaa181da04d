"""Logits processors and build_logits_processor: validation names the argument, builder rules, list kwargs.

(Numerical parity with transformers is in tests/parity/test_generation_processors_parity.py.)
"""

import warnings

import pytest
import torch

from snuggle.errors import ConfigError
from snuggle.generation import GenerationConfig
from snuggle.generation import logits_process as lp
from snuggle.generation.logits_process import LogitsProcessorList, build_logits_processor

ENC = torch.tensor([[1, 2, 3]])

BAD = [
    (lambda: lp.TemperatureLogitsWarper(0.0), "temperature"),
    (lambda: lp.TopKLogitsWarper(0), "top_k"),
    (lambda: lp.TopHLogitsWarper(0.0), "top_h"),
    (lambda: lp.TopPLogitsWarper(1.2), "top_p"),
    (lambda: lp.TopPLogitsWarper(0.5, min_tokens_to_keep=0), "min_tokens_to_keep"),
    (lambda: lp.MinPLogitsWarper(-0.1), "min_p"),
    (lambda: lp.TypicalLogitsWarper(1.0), "typical_p"),
    (lambda: lp.EpsilonLogitsWarper(0.0), "epsilon_cutoff"),
    (lambda: lp.EpsilonLogitsWarper(1.0), "epsilon_cutoff"),
    (lambda: lp.EpsilonLogitsWarper(0.1, min_tokens_to_keep=0), "min_tokens_to_keep"),
    (lambda: lp.EtaLogitsWarper(1.5), "eta_cutoff"),
    (lambda: lp.RepetitionPenaltyLogitsProcessor(0.0), "repetition_penalty"),
    (lambda: lp.RepetitionPenaltyLogitsProcessor(1.2, prompt_ignore_length=-1), "prompt_ignore_length"),
    (lambda: lp.RepetitionPenaltyLogitsProcessor(1.2, prompt_ignore_length=torch.zeros(2, 2)), "prompt_ignore_length"),
    (lambda: lp.EncoderRepetitionPenaltyLogitsProcessor(-1.0, ENC), "encoder_repetition_penalty"),
    (lambda: lp.EncoderRepetitionPenaltyLogitsProcessor(1.2, [1, 2]), "encoder_input_ids"),
    (lambda: lp.NoRepeatNGramLogitsProcessor(0), "no_repeat_ngram_size"),
    (lambda: lp.EncoderNoRepeatNGramLogitsProcessor(0, ENC), "encoder_no_repeat_ngram_size"),
    (lambda: lp.NoBadWordsLogitsProcessor([]), "bad_words_ids"),
    (lambda: lp.NoBadWordsLogitsProcessor([[1, -2]]), "bad_words_ids"),
    (lambda: lp.SequenceBiasLogitsProcessor({}), "sequence_bias"),
    (lambda: lp.SequenceBiasLogitsProcessor({(1,): 1}), "sequence_bias"),  # bias must be a float
    (lambda: lp.SequenceBiasLogitsProcessor([[[], 1.0]]), "sequence_bias"),
    (lambda: lp.SequenceBiasLogitsProcessor({1: 1.0}), "sequence_bias"),
    (lambda: lp.MinLengthLogitsProcessor(-1, 2), "min_length"),
    (lambda: lp.MinNewTokensLengthLogitsProcessor(3, -1, 2), "min_new_tokens"),
    (lambda: lp.MinLengthLogitsProcessor(3, [-2]), "eos_token_id"),
    (lambda: lp.SuppressTokensLogitsProcessor(["a"]), "suppress_tokens"),
    (lambda: lp.SuppressTokensAtBeginLogitsProcessor([1], -1), "begin_index"),
    (lambda: lp.ForcedBOSTokenLogitsProcessor(-1), "forced_bos_token_id"),
    (lambda: lp.ForcedEOSTokenLogitsProcessor(10, [-1]), "forced_eos_token_id"),
    (lambda: lp.ForcedEOSTokenLogitsProcessor(10, torch.tensor([1.0])), "forced_eos_token_id"),
    (lambda: lp.ExponentialDecayLengthPenalty((1,), 2, 3), "exponential_decay_length_penalty"),
    (lambda: lp.ExponentialDecayLengthPenalty((1, 1.1), -2, 3), "eos_token_id"),
]


@pytest.mark.parametrize("make,name", BAD, ids=[f"{n}-{i}" for i, (_, n) in enumerate(BAD)])
def test_bad_arguments_raise_config_error_naming_them(make, name):
    with pytest.raises(ConfigError, match=f"`{name}`"):
        make()


def test_sequence_bias_out_of_vocab_named_on_first_call():
    processor = lp.SequenceBiasLogitsProcessor([[[1, 99], 2.0]])
    with pytest.raises(ConfigError, match="sequence_bias.*99"):
        processor(torch.tensor([[1]]), torch.zeros(1, 10))


def test_sequence_bias_applies_only_after_its_prefix():
    processor = lp.SequenceBiasLogitsProcessor({(3,): -1.0, (1, 2, 4): 5.0})
    scores = processor(torch.tensor([[0, 1, 2], [1, 2, 0]]), torch.zeros(2, 6))
    assert scores[0].tolist() == [0, 0, 0, -1, 5, 0]
    assert scores[1].tolist() == [0, 0, 0, -1, 0, 0]


def test_no_repeat_ngram_bans_completions_vectorised():
    input_ids = torch.tensor([[5, 6, 7, 5, 6], [1, 1, 1, 1, 1]])
    scores = lp.NoRepeatNGramLogitsProcessor(3)(input_ids, torch.zeros(2, 10))
    assert torch.isinf(scores[0]).nonzero().flatten().tolist() == [7]   # "5 6" was followed by 7
    assert torch.isinf(scores[1]).nonzero().flatten().tolist() == [1]


def test_logits_processor_list_passes_kwargs_to_processors_that_take_them():
    class AddOffset(lp.LogitsProcessor):
        def __call__(self, input_ids, scores, offset):
            return scores + offset

    processors = lp.LogitsProcessorList([lp.TemperatureLogitsWarper(2.0), AddOffset()])
    out = processors(torch.tensor([[0]]), torch.ones(1, 3), offset=1.0)
    assert out.tolist() == [[1.5, 1.5, 1.5]]
    with pytest.raises(ConfigError, match="offset"):
        processors(torch.tensor([[0]]), torch.ones(1, 3), other=1.0)


# ---- build_logits_processor ---------------------------------------------------------------------

def _names(processors):
    return [type(p).__name__ for p in processors]


def test_normalization_is_last_and_warpers_only_when_sampling():
    config = GenerationConfig(do_sample=True, top_k=4, renormalize_logits=True, repetition_penalty=1.1).resolved()
    names = _names(build_logits_processor(config, 3, [2]))
    assert names == ["RepetitionPenaltyLogitsProcessor", "TopKLogitsWarper", "LogitNormalization"]
    greedy = GenerationConfig(do_sample=False, renormalize_logits=True).resolved()
    assert _names(build_logits_processor(greedy, 3, [2])) == ["LogitNormalization"]


def test_beam_sampling_keeps_one_more_than_the_eos_count():
    config = GenerationConfig(do_sample=True, num_beams=3, top_k=1).resolved()
    (top_k,) = build_logits_processor(config, 3, [2, 5, 9])
    assert top_k.top_k == 4


def test_forced_eos_uses_the_effective_max_length():
    config = GenerationConfig(max_new_tokens=5, forced_eos_token_id=2).resolved()
    (forced,) = build_logits_processor(config, 7, [2])
    assert forced.max_length == 12


def test_encoder_processors_need_encoder_ids():
    config = GenerationConfig(encoder_repetition_penalty=1.5, encoder_no_repeat_ngram_size=2).resolved()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert build_logits_processor(config, 3, [2]) == []
    assert sum("encoder" in str(w.message) for w in caught) == 2
    with_ids = build_logits_processor(config, 3, [2], encoder_input_ids=torch.tensor([[4, 5, 6]]))
    assert _names(with_ids) == ["EncoderRepetitionPenaltyLogitsProcessor", "EncoderNoRepeatNGramLogitsProcessor"]


def test_padding_is_not_penalised():
    config = GenerationConfig(repetition_penalty=2.0).resolved()
    mask = torch.tensor([[0, 0, 1], [1, 1, 1]])
    (penalty,) = build_logits_processor(config, 3, None, attention_mask=mask)
    scores = penalty(torch.tensor([[0, 0, 3], [0, 1, 3]]), torch.ones(2, 5))
    assert scores[0].tolist() == [1, 1, 1, 0.5, 1]      # the pad id 0 of row 0 is left alone
    assert scores[1].tolist() == [0.5, 0.5, 1, 0.5, 1]


@pytest.mark.parametrize("kwargs,name", [(dict(guidance_scale=1.5), "guidance_scale")])
def test_unsupported_features_are_refused_not_ignored(kwargs, name):
    config = GenerationConfig(do_sample=True, **kwargs).resolved()
    with pytest.raises(ConfigError, match=name):
        build_logits_processor(config, 3, [2])


def test_exponential_decay_needs_eos():
    config = GenerationConfig(exponential_decay_length_penalty=(2, 1.1)).resolved()
    with pytest.raises(ConfigError, match="eos_token_id"):
        build_logits_processor(config, 3, None)


def test_custom_processor_replaces_the_built_one_in_place():
    config = GenerationConfig(no_repeat_ngram_size=2, repetition_penalty=1.2, do_sample=True, top_k=3).resolved()
    custom = lp.NoRepeatNGramLogitsProcessor(4)
    extra = lp.SuppressTokensLogitsProcessor([0])
    processors = build_logits_processor(config, 3, [2], logits_processor=[custom, extra])
    assert _names(processors) == ["RepetitionPenaltyLogitsProcessor", "NoRepeatNGramLogitsProcessor",
                                  "SuppressTokensLogitsProcessor", "TopKLogitsWarper"]
    assert processors[1] is custom


def test_processors_keep_the_input_dtype_and_device():
    scores = torch.randn(2, 30, dtype=torch.float64)
    input_ids = torch.randint(0, 30, (2, 6))
    for processor in (lp.EtaLogitsWarper(0.01), lp.EpsilonLogitsWarper(0.01), lp.InfNanRemoveLogitsProcessor(),
                      lp.SequenceBiasLogitsProcessor([[[3], 1.0]]), lp.ExponentialDecayLengthPenalty((0, 1.5), 2, 1)):
        assert processor(input_ids, scores).dtype == torch.float64, type(processor).__name__


def test_top_p_after_top_k_skips_the_full_sort():
    """With only a few finite scores (after top-k) top-p takes the small exact path; with ties it does not."""
    scores = torch.randn(3, 400)
    scores = lp.TopKLogitsWarper(8)(None, scores)
    warper = lp.TopPLogitsWarper(0.8)
    assert warper._after_top_k(scores) is not None
    tied = scores.clone()
    tied[0, tied[0].argmax()] = tied[0].topk(2).values[1]
    assert warper._after_top_k(tied) is None
    assert warper._after_top_k(torch.randn(3, 400)) is None


def test_owned_scores_are_filled_in_place_with_the_same_values():
    # generate's loop owns each step's logits: the eos / suppress processors then write into them (one small op)
    from snuggle.generation.logits_process import (
        MinLengthLogitsProcessor,
        MinNewTokensLengthLogitsProcessor,
        SuppressTokensAtBeginLogitsProcessor,
        SuppressTokensLogitsProcessor,
    )

    ids = torch.tensor([[1, 2, 3]])
    processors = LogitsProcessorList([
        MinLengthLogitsProcessor(5, [3, 40]),  # 40 is outside the vocabulary: ignored, as by __call__
        MinNewTokensLengthLogitsProcessor(2, 3, 7),
        SuppressTokensLogitsProcessor([0, 9]),
        SuppressTokensAtBeginLogitsProcessor([5], 3),
    ])
    for length in (3, 4, 8):  # inside and past the minimum lengths; the first step only for begin-suppression
        scores = torch.randn(2, 12, generator=torch.Generator().manual_seed(length))
        expected = processors(ids[:, :1].expand(2, length), scores)
        owned = scores.clone()
        result = processors._process_owned(ids[:, :1].expand(2, length), owned)
        assert torch.equal(result, expected)
        assert result is owned  # written in place: no new vocabulary-sized tensor


def test_owned_scores_are_not_written_after_a_foreign_processor():
    kept = torch.zeros(1, 12)

    class ReturnsItsOwnTensor:  # not snuggle's: the tensor it returns may be one it keeps
        def __call__(self, input_ids, scores):
            return kept

    from snuggle.generation.logits_process import SuppressTokensLogitsProcessor

    processors = LogitsProcessorList([ReturnsItsOwnTensor(), SuppressTokensLogitsProcessor([4])])
    result = processors._process_owned(torch.tensor([[1]]), torch.randn(1, 12))
    assert result[0, 4] == float("-inf") and kept[0, 4] == 0


def test_generate_min_new_tokens_with_output_logits_keeps_the_raw_logits():
    from snuggle.models.llama import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1, eos_token_id=3)).eval()
    prompt = torch.tensor([[1, 5, 6]])
    out = model.generate(prompt, max_new_tokens=4, min_new_tokens=4, do_sample=False, return_dict_in_generate=True,
                         output_logits=True, output_scores=True)
    for logits, scores in zip(out.logits, out.scores):
        assert torch.isfinite(logits[0, 3])  # the raw logits of eos are left as the model gave them
        assert scores[0, 3] == float("-inf")
    plain = model.generate(prompt, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert plain.tolist() == out.sequences.tolist()
