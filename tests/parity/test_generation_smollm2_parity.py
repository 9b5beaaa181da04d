"""SmolLM2-135M-Instruct (fp32): greedy and beam generate token-identical to transformers on chat prompts.

Both libraries load the same safetensors folder (fixture `smollm2_fp32_path`); the prompts go through the
reference tokenizer's chat template, so the two models see the same ids.
"""

import pytest
import torch
import transformers

from snuggle.models import AutoModelForCausalLM, llama_inference

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain photosynthesis in one sentence.",
    "Give me three tips for learning Python.",
    "What is 12 times 7?",
    "Translate 'good morning' into Spanish.",
    "Who wrote Romeo and Juliet?",
    "Describe a cat to someone who has never seen one.",
    "Why is the sky blue?",
    "List the planets of the solar system.",
    "What does a compiler do?",
    "Suggest a name for a bakery.",
    "How do I boil an egg?",
    "What is the difference between weather and climate?",
    "Tell me a short joke.",
    "What is machine learning?",
    "Summarize the plot of Cinderella.",
    "How many legs does a spider have?",
    "What should I pack for a beach trip?",
    "Write one sentence about autumn.",
]
BEAM_PROMPTS = PROMPTS[:4]


@pytest.fixture(scope="module")
def models(smollm2_fp32_path):
    folder = str(smollm2_fp32_path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    reference = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    ours = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    return tokenizer, reference, ours


def _chat_ids(tokenizer, prompt):
    text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)
    return torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])


def _compare(models, prompts, **kwargs):
    tokenizer, reference, ours = models
    for prompt in prompts:
        input_ids = _chat_ids(tokenizer, prompt)
        expected = reference.generate(input_ids, **kwargs)
        got = ours.generate(input_ids, **kwargs)
        assert got.tolist() == expected.tolist(), (prompt, tokenizer.decode(got[0]), tokenizer.decode(expected[0]))


def test_smollm2_greedy_two_prompts(models):
    _compare(models, PROMPTS[:2], max_new_tokens=12, do_sample=False)


@pytest.mark.slow
def test_smollm2_greedy_twenty_prompts(models):
    _compare(models, PROMPTS, max_new_tokens=24, do_sample=False)


def _screened_compare(models, monkeypatch, prompts, max_new_tokens):
    # calls of PACK_MIN_STEPS tokens or more (or SNUGGLE_PACKED_WEIGHTS=1) pick the greedy tokens through the LM
    # head's int8 screen (llama_inference.screen_head): same tokens, only a few logits computed a step
    gemv = llama_inference._gemv
    if gemv is None or not hasattr(gemv, "screen_counts"):
        pytest.skip("the C extension is not built")
    monkeypatch.setenv("SNUGGLE_PACKED_WEIGHTS", "1")
    before = gemv.screen_counts()[0]
    _compare(models, prompts, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens, do_sample=False)
    assert gemv.screen_counts()[0] - before == len(prompts) * (max_new_tokens - 1)


def test_smollm2_greedy_through_the_screen(models, monkeypatch):
    _screened_compare(models, monkeypatch, PROMPTS[2:4], 32)


@pytest.mark.slow
def test_smollm2_greedy_through_the_screen_twenty_prompts_128_tokens(models, monkeypatch):
    _screened_compare(models, monkeypatch, PROMPTS, 128)


@pytest.mark.slow
def test_smollm2_beam_search(models):
    _compare(models, BEAM_PROMPTS, max_new_tokens=24, num_beams=3)


@pytest.mark.slow
def test_smollm2_left_padded_batch(models):
    """Four chat prompts in one left-padded batch, greedy, eos stopping on the shorter answers."""
    tokenizer, reference, ours = models
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                           add_generation_prompt=True) for p in PROMPTS[4:8]]
    tokenizer.padding_side = "left"
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    kwargs = {"max_new_tokens": 24, "do_sample": False}
    expected = reference.generate(**batch, **kwargs)
    got = ours.generate(batch["input_ids"], attention_mask=batch["attention_mask"], **kwargs)
    assert got.tolist() == expected.tolist()


def test_smollm2_stop_strings_with_each_librarys_tokenizer(models, smollm2_fp32_path):
    """stop_strings needs tokenizer=; ours takes snuggle's tokenizer, the reference its own: same tokens."""
    from snuggle import AutoTokenizer

    tokenizer, reference, ours = models
    our_tokenizer = AutoTokenizer.from_pretrained(str(smollm2_fp32_path))
    input_ids = _chat_ids(tokenizer, PROMPTS[0])
    kwargs = {"max_new_tokens": 16, "do_sample": False, "stop_strings": [" is", "."]}
    expected = reference.generate(input_ids, tokenizer=tokenizer, **kwargs)
    got = ours.generate(input_ids, tokenizer=our_tokenizer, **kwargs)
    assert got.tolist() == expected.tolist()
    assert got.shape[1] < input_ids.shape[1] + 16  # a stop string ended generation early
