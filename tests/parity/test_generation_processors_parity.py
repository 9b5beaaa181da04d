"""Parity with transformers: every logits processor on random logits, and build_logits_processor vs
`GenerationMixin._get_logits_processor` (class names in order, and outputs) for many configs.

Every expected value is computed by the reference in the same run, on the same inputs.
"""

import warnings

import pytest
import torch
import transformers
from transformers.generation import logits_process as ref

from snuggle.generation import GenerationConfig
from snuggle.generation import logits_process as ours
from snuggle.generation.logits_process_builder import build_logits_processor

SHAPES = [(1, 7, 1), (3, 40, 12), (4, 1000, 30)]  # (batch, vocab, sequence length)
SEEDS = [0, 1]


def _inputs(batch, vocab, seq, seed, kind="random"):
    """input_ids (batch, seq) with repeated n-grams, scores (batch, vocab) of the given kind."""
    gen = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, min(vocab, 12), (batch, seq), generator=gen)  # small id range: repeats happen
    if seq >= 10:
        input_ids[:, seq - 3:seq - 1] = input_ids[:, 2:4]  # a repeated bigram ending one before the tail
        input_ids[:, -1] = input_ids[:, 2]                  # ... so the tail prefix matches window 2
    scores = torch.randn(batch, vocab, generator=gen) * 3
    if kind == "ties":
        scores = scores.round()  # many equal logits
    elif kind == "neg_inf":
        scores[:, ::3] = -float("inf")  # rows already partly filtered (as after top-k)
    elif kind == "flat":
        scores = torch.zeros(batch, vocab)
    elif kind in ("after_top_k", "after_top_k_ties"):  # what top-p / min-p see after top-k in a sampling chain
        if kind == "after_top_k_ties":
            scores = (scores * 2).round() / 2
        kth = torch.topk(scores, min(10, vocab), dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, -float("inf"))
    return input_ids, scores


def _encoder_ids(batch, vocab, seed):
    gen = torch.Generator().manual_seed(seed + 100)
    return torch.randint(0, min(vocab, 12), (batch, 9), generator=gen)


def _cases(batch, vocab, seq, seed):
    """(class name, constructor kwargs) pairs; kwargs may depend on the shape."""
    enc = _encoder_ids(batch, vocab, seed)
    eos = [1 % vocab, 4 % vocab]
    return [
        # the 11 processors already on main, with the arguments test_generation_parity.py does not cover
        ("TemperatureLogitsWarper", dict(temperature=1.7)),
        ("TopKLogitsWarper", dict(top_k=3, min_tokens_to_keep=5)),
        ("TopKLogitsWarper", dict(top_k=10**6)),
        ("TopPLogitsWarper", dict(top_p=0.95)),
        ("TopPLogitsWarper", dict(top_p=0.0, min_tokens_to_keep=2)),
        ("TopPLogitsWarper", dict(top_p=0.5, min_tokens_to_keep=3)),
        ("TopPLogitsWarper", dict(top_p=0.7, filter_value=-1e4, min_tokens_to_keep=12)),
        ("MinPLogitsWarper", dict(min_p=0.3, min_tokens_to_keep=3)),
        ("MinPLogitsWarper", dict(min_p=1.0)),
        ("TypicalLogitsWarper", dict(mass=0.2, min_tokens_to_keep=2)),
        ("RepetitionPenaltyLogitsProcessor", dict(penalty=0.8)),
        ("RepetitionPenaltyLogitsProcessor", dict(penalty=2.0, prompt_ignore_length=min(3, seq))),
        ("RepetitionPenaltyLogitsProcessor", dict(penalty=1.5, prompt_ignore_length=torch.arange(batch) % (seq + 1))),
        ("NoRepeatNGramLogitsProcessor", dict(ngram_size=1)),
        ("NoRepeatNGramLogitsProcessor", dict(ngram_size=2)),
        ("NoRepeatNGramLogitsProcessor", dict(ngram_size=4)),
        ("NoBadWordsLogitsProcessor", dict(bad_words_ids=[[0], [2, 3], [5, 6, 1]], eos_token_id=[0])),
        ("MinLengthLogitsProcessor", dict(min_length=seq + 1, eos_token_id=eos)),
        ("MinLengthLogitsProcessor", dict(min_length=seq, eos_token_id=eos[0])),
        ("MinNewTokensLengthLogitsProcessor", dict(prompt_length_to_skip=0, min_new_tokens=seq, eos_token_id=eos)),
        # the new ones
        ("TopHLogitsWarper", dict(top_h=0.4)),
        ("TopHLogitsWarper", dict(top_h=1.0)),
        ("EpsilonLogitsWarper", dict(epsilon=0.01)),
        ("EpsilonLogitsWarper", dict(epsilon=0.3, min_tokens_to_keep=3)),
        ("EtaLogitsWarper", dict(epsilon=0.001)),
        ("EtaLogitsWarper", dict(epsilon=0.2, min_tokens_to_keep=2)),
        ("SuppressTokensLogitsProcessor", dict(suppress_tokens=[0, 3, 5, vocab + 7])),
        ("SuppressTokensAtBeginLogitsProcessor", dict(begin_suppress_tokens=[1, 2], begin_index=seq)),
        ("SuppressTokensAtBeginLogitsProcessor", dict(begin_suppress_tokens=[1, 2], begin_index=seq + 1)),
        ("ForcedBOSTokenLogitsProcessor", dict(bos_token_id=vocab - 1)),
        ("ForcedEOSTokenLogitsProcessor", dict(max_length=seq + 1, eos_token_id=eos)),
        ("ForcedEOSTokenLogitsProcessor", dict(max_length=seq + 5, eos_token_id=eos[0])),
        ("SequenceBiasLogitsProcessor", dict(sequence_bias=[[[0], 2.5], [[vocab - 1], -4.0], [[2, 3], 3.0],
                                                            [[4, 2, 3], -1.5], [[1, 3], 0.5]])),
        ("SequenceBiasLogitsProcessor", dict(sequence_bias={(1,): -1.0, (5, 1): 10.0})),
        ("ExponentialDecayLengthPenalty", dict(exponential_decay_length_penalty=(0, 1.3), eos_token_id=eos,
                                               input_ids_seq_length=max(seq - 4, 0))),
        ("ExponentialDecayLengthPenalty", dict(exponential_decay_length_penalty=(2, 0.9), eos_token_id=eos[1],
                                               input_ids_seq_length=0)),
        ("ExponentialDecayLengthPenalty", dict(exponential_decay_length_penalty=(seq, 1.3), eos_token_id=eos,
                                               input_ids_seq_length=0)),
        ("EncoderRepetitionPenaltyLogitsProcessor", dict(penalty=1.4, encoder_input_ids=enc)),
        ("EncoderRepetitionPenaltyLogitsProcessor", dict(penalty=0.7, encoder_input_ids=enc)),
        ("EncoderNoRepeatNGramLogitsProcessor", dict(encoder_ngram_size=1, encoder_input_ids=enc)),
        ("EncoderNoRepeatNGramLogitsProcessor", dict(encoder_ngram_size=2, encoder_input_ids=enc)),
        ("EncoderNoRepeatNGramLogitsProcessor", dict(encoder_ngram_size=3, encoder_input_ids=enc)),
        ("InfNanRemoveLogitsProcessor", dict()),
        ("LogitNormalization", dict()),
    ]


def _copy_kwargs(kwargs):
    return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}


@pytest.mark.parametrize("kind", ["random", "ties", "neg_inf", "flat", "after_top_k", "after_top_k_ties"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_every_processor_matches_reference(shape, kind):
    batch, vocab, seq = shape
    checked = 0
    for seed in SEEDS:
        input_ids, scores = _inputs(batch, vocab, seq, seed, kind)
        for name, kwargs in _cases(batch, vocab, seq, seed):
            theirs = getattr(ref, name)(**_copy_kwargs(kwargs))
            mine = getattr(ours, name)(**_copy_kwargs(kwargs))
            expected = theirs(input_ids.clone(), scores.clone())
            given = scores.clone()
            got = mine(input_ids.clone(), given)
            torch.testing.assert_close(got, expected, equal_nan=True, msg=lambda m: f"{name} {kwargs}: {m}")
            assert torch.equal(given, scores), f"{name} modified its input scores in place"
            # A second call (state prepared on the first) gives the same again.
            torch.testing.assert_close(mine(input_ids.clone(), scores.clone()), expected, equal_nan=True)
            checked += 1
    assert checked == len(SEEDS) * len(_cases(batch, vocab, seq, 0))


def test_inf_nan_remove_on_half_and_special_values():
    scores = torch.tensor([[float("nan"), float("inf"), -float("inf"), 1.5]])
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        expected = ref.InfNanRemoveLogitsProcessor()(None, scores.to(dtype))
        got = ours.InfNanRemoveLogitsProcessor()(None, scores.to(dtype))
        assert torch.equal(got, expected), dtype


def test_encoder_processors_with_beams():
    """Encoder rows are repeated over the hypotheses of each batch row (num_beams per row)."""
    enc = torch.tensor([[1, 2, 3, 1, 2, 4, 0], [5, 5, 6, 7, 5, 6, 0]])
    gen = torch.Generator().manual_seed(3)
    input_ids = torch.tensor([[9, 1], [9, 2], [9, 5], [9, 6], [9, 1], [9, 5]])
    scores = torch.randn(6, 10, generator=gen)
    for name, kwargs in [("EncoderNoRepeatNGramLogitsProcessor", dict(encoder_ngram_size=2)),
                         ("EncoderRepetitionPenaltyLogitsProcessor", dict(penalty=1.3))]:
        key = "encoder_input_ids"
        expected = getattr(ref, name)(**kwargs, **{key: enc})(input_ids, scores.clone())
        got = getattr(ours, name)(**kwargs, **{key: enc})(input_ids, scores.clone())
        torch.testing.assert_close(got, expected)


# ---- build_logits_processor vs _get_logits_processor ---------------------------------------------

VOCAB = 50
EOS = [2, 7]


@pytest.fixture(scope="module")
def reference_model():
    config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1, eos_token_id=EOS, pad_token_id=0)
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval()


CONFIGS = [
    dict(),
    dict(do_sample=True),
    dict(do_sample=True, temperature=0.6, top_k=10, top_p=0.8, min_p=0.05, typical_p=0.9,
         epsilon_cutoff=0.001, eta_cutoff=0.002),
    dict(do_sample=True, num_beams=3, top_k=4, top_p=0.5, renormalize_logits=True),
    dict(do_sample=True, temperature=0.8, top_h=0.6, top_k=30),
    dict(do_sample=True, temperature=1.0, top_k=0, epsilon_cutoff=0.0, eta_cutoff=1.0),
    dict(repetition_penalty=1.3, no_repeat_ngram_size=2, bad_words_ids=[[3], [4, 5], [2]]),
    dict(min_length=30, min_new_tokens=3, max_new_tokens=10),
    dict(sequence_bias=[[[5], -2.0], [[1, 6], 4.0]], remove_invalid_values=True, renormalize_logits=True),
    dict(suppress_tokens=[1, 3], begin_suppress_tokens=[4, 6], forced_eos_token_id=7, max_length=16),
    dict(forced_bos_token_id=9, begin_suppress_tokens=[8], max_length=40),
    dict(exponential_decay_length_penalty=(2, 1.5), forced_eos_token_id=[2, 7], max_new_tokens=3),
    dict(encoder_repetition_penalty=1.7, encoder_no_repeat_ngram_size=2, repetition_penalty=0.9),
    dict(do_sample=True, repetition_penalty=1.2, top_k=5, temperature=2.0, min_new_tokens=2, max_length=25,
         no_repeat_ngram_size=3, renormalize_logits=True, remove_invalid_values=True),
]


def _reference_processors(model, kwargs, prompt, mask, custom):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config, _ = model._prepare_generation_config(None, **kwargs)
        model._prepare_special_tokens(config, True, device="cpu")
        if config.max_new_tokens is not None:  # what generate does before building the processors
            config.max_length = config.max_new_tokens + prompt.shape[1]
        return model._get_logits_processor(
            generation_config=config, input_ids_seq_length=prompt.shape[1], encoder_input_ids=prompt,
            logits_processor=custom, device="cpu", model_kwargs={"attention_mask": mask},
        )


@pytest.mark.parametrize("kwargs", CONFIGS, ids=lambda k: ",".join(k) or "defaults")
@pytest.mark.parametrize("prompt_length", [1, 6])
def test_build_logits_processor_matches_reference(reference_model, kwargs, prompt_length):
    gen = torch.Generator().manual_seed(prompt_length)
    prompt = torch.randint(1, 12, (2, prompt_length), generator=gen)
    mask = torch.ones_like(prompt)
    if prompt_length > 2:
        prompt[0, :2] = 0  # left padding in row 0
        mask[0, :2] = 0
    expected = _reference_processors(reference_model, kwargs, prompt, mask, None)
    config = GenerationConfig(**kwargs).resolved()
    got = build_logits_processor(config, prompt_length, EOS, encoder_input_ids=prompt, attention_mask=mask)
    assert [type(p).__name__ for p in got] == [type(p).__name__ for p in expected]
    # Outputs at several steps of the continuation (length-dependent processors switch on and off).
    input_ids = prompt
    for step in range(6):
        scores = torch.randn(2, VOCAB, generator=gen) * 4
        torch.testing.assert_close(got(input_ids, scores.clone()), expected(input_ids, scores.clone()), equal_nan=True)
        input_ids = torch.cat([input_ids, torch.randint(1, 12, (2, 1), generator=gen)], dim=-1)


def test_custom_processors_are_merged_like_the_reference(reference_model):
    prompt = torch.tensor([[3, 4, 5, 3, 4]])
    mask = torch.ones_like(prompt)
    kwargs = dict(do_sample=True, top_k=5, repetition_penalty=1.2, no_repeat_ngram_size=2)
    expected = _reference_processors(
        reference_model, kwargs, prompt, mask,
        [ref.NoRepeatNGramLogitsProcessor(3), ref.SuppressTokensLogitsProcessor([1])],
    )
    got = build_logits_processor(
        GenerationConfig(**kwargs).resolved(), 5, EOS, attention_mask=mask,
        logits_processor=[ours.NoRepeatNGramLogitsProcessor(3), ours.SuppressTokensLogitsProcessor([1])],
    )
    assert [type(p).__name__ for p in got] == [type(p).__name__ for p in expected]
    assert got[1].ngram_size == expected[1].ngram_size == 3
    scores = torch.randn(1, VOCAB)
    torch.testing.assert_close(got(prompt, scores.clone()), expected(prompt, scores.clone()))
