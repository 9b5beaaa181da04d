"""Parity with transformers: logits processors on random logits, greedy generate on tiny random models."""

import pytest
import torch
import transformers
from transformers.generation import logits_process as ref

from snuggle.generation import logits_process as ours
from snuggle.generation import generate

VOCAB = 40


def _inputs():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(3, VOCAB, generator=gen) * 3
    input_ids = torch.randint(0, VOCAB, (3, 12), generator=gen)
    input_ids[:, 8:10] = input_ids[:, 2:4]  # repeated bigrams so n-gram bans fire
    return input_ids, scores


PROCESSORS = [
    ("TemperatureLogitsWarper", dict(temperature=0.7)),
    ("TopKLogitsWarper", dict(top_k=5)),
    ("TopPLogitsWarper", dict(top_p=0.8)),
    ("TopPLogitsWarper", dict(top_p=0.3, min_tokens_to_keep=3)),
    ("MinPLogitsWarper", dict(min_p=0.1)),
    ("TypicalLogitsWarper", dict(mass=0.7)),
    ("RepetitionPenaltyLogitsProcessor", dict(penalty=1.3)),
    ("NoRepeatNGramLogitsProcessor", dict(ngram_size=2)),
    ("NoRepeatNGramLogitsProcessor", dict(ngram_size=3)),
    ("NoBadWordsLogitsProcessor", dict(bad_words_ids=[[3], [5, 7], [1, 2, 4]], eos_token_id=3)),
    ("MinNewTokensLengthLogitsProcessor", dict(prompt_length_to_skip=4, min_new_tokens=10, eos_token_id=[2, 6])),
]


@pytest.mark.parametrize("name,kwargs", PROCESSORS)
def test_processor_matches_reference(name, kwargs):
    input_ids, scores = _inputs()
    expected = getattr(ref, name)(**kwargs)(input_ids, scores.clone())
    got = getattr(ours, name)(**kwargs)(input_ids, scores.clone())
    torch.testing.assert_close(got, expected)


def _tiny_llama(path):
    config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, eos_token_id=5, pad_token_id=0)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(path)


def _tiny_gpt2(path):
    config = transformers.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                     eos_token_id=5, bos_token_id=5)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(path)


@pytest.mark.parametrize("build", [_tiny_llama, _tiny_gpt2])
def test_greedy_matches_reference(build, tmp_path):
    from snuggle.models import AutoModelForCausalLM

    build(tmp_path)
    reference = transformers.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path)).eval()
    input_ids = torch.tensor([[0, 0, 7, 8, 9], [11, 12, 13, 14, 15]])
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    kwargs = dict(max_new_tokens=12, do_sample=False, pad_token_id=0)
    expected = reference.generate(input_ids, attention_mask=mask, **kwargs)
    got = generate(model, input_ids, attention_mask=mask, **kwargs)
    assert got.tolist() == expected.tolist()
