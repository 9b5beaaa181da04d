"""Generative pipelines vs the reference, on the same folders.

text-generation: snuggle.pipelines.pipeline and transformers.pipeline load the same tiny random Llama / GPT-2
(real GPT-2 tokenizer + ChatML template) and must give the same outputs for strings, batches, chats, assistant
prefills, return_full_text=False and seeded sampling with num_return_sequences; the slow test does the same for
SmolLM2-135M-Instruct chats. text2text / summarization / translation: transformers 5 has no such pipelines, so
the oracle is transformers' model.generate on the same tiny T5 folder + tokenizer.decode, with the prefix and
task_specific_params block transformers 4.x applied.
"""

import pytest
import torch
import transformers

from snuggle.pipelines import pipeline
from tests.conftest import DATASETS
from tests.pipelines.generation_fixtures import one_thread  # noqa: F401 (autouse)

CHAT = [{"role": "user", "content": "What is the capital of France?"}]
PREFILL = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, I am"}]
GREEDY = {"max_new_tokens": 6, "do_sample": False}


def _save_tokenizer(path):
    tokenizer = transformers.AutoTokenizer.from_pretrained(DATASETS / "tokenizers" / "gpt2")
    tokenizer.chat_template = (DATASETS / "chat_templates" / "community-chatml.jinja").read_text()
    tokenizer.save_pretrained(path)
    return tokenizer


def _tiny_llama(path):
    tokenizer = _save_tokenizer(path)
    config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=128, bos_token_id=tokenizer.bos_token_id,
                                      eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(path)


def _tiny_gpt2(path):
    tokenizer = _save_tokenizer(path)
    config = transformers.GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=128,
                                     bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(path)


@pytest.fixture(scope="module", params=[_tiny_llama, _tiny_gpt2], ids=["llama", "gpt2"])
def generators(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param.__name__)
    request.param(folder)
    ours = pipeline("text-generation", model=str(folder))
    reference = transformers.pipeline("text-generation", model=str(folder))
    # the reference refuses to batch without a pad token and suggests this; we pad with eos on our own
    reference.tokenizer.pad_token = reference.tokenizer.eos_token
    return ours, reference


CASES = [
    ("string", "Once upon a time", {}),
    ("strings", ["Hi", "A much longer prompt than the first"], {}),
    ("batched", ["Hi", "A much longer prompt than the first", "Third"], {"batch_size": 3}),
    ("chat", CHAT, {}),
    ("chats", [CHAT, CHAT + [{"role": "assistant", "content": "Paris"}, {"role": "user", "content": "Sure?"}]], {}),
    ("prefill", PREFILL, {}),
    ("new_text_only", "Once upon a time", {"return_full_text": False}),
    ("tensors", "Once upon a time", {"return_tensors": True}),
    ("max_length", "Once upon a time", {"max_length": 9, "max_new_tokens": None}),
    ("empty_prompt", "", {}),
    ("empty_prompt_tensors", "", {"return_tensors": True}),
]


@pytest.mark.parametrize("name,inputs,kwargs", CASES, ids=[c[0] for c in CASES])
def test_text_generation_matches_reference(generators, name, inputs, kwargs):
    ours, reference = generators
    kwargs = {**GREEDY, **kwargs}
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    assert ours(inputs, **kwargs) == reference(inputs, **kwargs)


def test_seeded_sampling_matches_reference(generators):
    ours, reference = generators
    kwargs = {"do_sample": True, "num_return_sequences": 3, "max_new_tokens": 5, "top_k": 20}
    torch.manual_seed(7)
    expected = reference("Seeded prompt", **kwargs)
    torch.manual_seed(7)
    assert ours("Seeded prompt", **kwargs) == expected


def test_pipeline_defaults_match_reference(generators):
    """No decoding arguments: both sample at temperature 0.7 (the pipelines' default) with the same seed."""
    ours, reference = generators
    torch.manual_seed(11)
    expected = reference("Default parameters", max_new_tokens=5)
    torch.manual_seed(11)
    assert ours("Default parameters", max_new_tokens=5) == expected


def test_stop_sequence_matches_reference(generators):
    ours, reference = generators
    free = ours("Stop here", max_new_tokens=10, do_sample=False, return_full_text=False)[0]["generated_text"]
    stop = free[2:6]  # a string the model is about to produce, that may end mid-token
    kwargs = {"max_new_tokens": 10, "do_sample": False, "stop_sequence": stop}
    got = ours("Stop here", **kwargs)
    assert got == reference("Stop here", **kwargs)
    assert len(got[0]["generated_text"]) < len("Stop here" + free)


def test_scores_passthrough_matches_reference(generators):
    ours, reference = generators
    kwargs = {"max_new_tokens": 3, "do_sample": False, "return_dict_in_generate": True, "output_scores": True}
    got, expected = ours("Scores", **kwargs)[0], reference("Scores", **kwargs)[0]
    assert got.keys() == expected.keys() and got["generated_text"] == expected["generated_text"]
    torch.testing.assert_close(torch.tensor(got["scores"]), torch.tensor(expected["scores"]), rtol=1e-4, atol=1e-4)


# ---- text2text / summarization / translation vs transformers' generate -------------------------------------

TASK_PARAMS = {
    "summarization": {"prefix": "summarize: ", "max_length": 9, "min_length": 3, "no_repeat_ngram_size": 2,
                      "num_beams": 1},
    "translation_en_to_fr": {"prefix": "translate English to French: ", "max_length": 8, "num_beams": 1},
}


@pytest.fixture(scope="module")
def t5(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_t5")
    tokenizer = transformers.AutoTokenizer.from_pretrained(DATASETS / "tokenizers" / "pegasus-unigram")
    tokenizer.save_pretrained(folder)
    config = transformers.T5Config(vocab_size=len(tokenizer), d_model=16, d_kv=4, d_ff=32, num_layers=2,
                                   num_heads=4, pad_token_id=tokenizer.pad_token_id,
                                   eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id,
                                   task_specific_params=TASK_PARAMS)
    torch.manual_seed(0)
    transformers.T5ForConditionalGeneration(config).save_pretrained(folder)
    reference = transformers.T5ForConditionalGeneration.from_pretrained(folder).eval()
    from snuggle.models import AutoModelForSeq2SeqLM
    from snuggle.tokenizers.pretrained import AutoTokenizer

    # our model and tokenizer are loaded from the folder once and shared by the three task pipelines
    model = AutoModelForSeq2SeqLM.from_pretrained(str(folder))
    ours_tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return (lambda task: pipeline(task, model=model, tokenizer=ours_tokenizer)), reference, tokenizer


def _oracle(reference, tokenizer, text, prefix="", **kwargs):
    encoded = tokenizer(prefix + text, return_tensors="pt")
    with torch.no_grad():
        out = reference.generate(**encoded, **kwargs)
    return [tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False) for ids in out]


def _block(task):
    return {k: v for k, v in TASK_PARAMS[task].items() if k != "prefix"}


TEXTS = ["The quick brown fox jumps over the lazy dog.", "How old are you?"]


def test_text2text_matches_generate(t5):
    make, reference, tokenizer = t5
    pipe = make("text2text-generation")
    kwargs = {"max_new_tokens": 7, "num_beams": 1, "no_repeat_ngram_size": 2}
    got = pipe(TEXTS, **kwargs)
    assert got == [{"generated_text": _oracle(reference, tokenizer, t, **kwargs)[0]} for t in TEXTS]
    # batched (right-padded encoder inputs) gives the same
    assert pipe(TEXTS, batch_size=2, **kwargs) == got


def test_text2text_default_beams_match_generate(t5):
    """Without a task block or model setting, text2text uses 4 beams (the transformers 4.x pipeline default)."""
    make, reference, tokenizer = t5
    got = make("text2text-generation")(TEXTS[0], max_new_tokens=5)
    assert got == [{"generated_text": _oracle(reference, tokenizer, TEXTS[0], num_beams=4, max_new_tokens=5)[0]}]


def test_summarization_matches_generate(t5):
    make, reference, tokenizer = t5
    pipe = make("summarization")
    expected = [{"summary_text": _oracle(reference, tokenizer, t, "summarize: ", **_block("summarization"))[0]}
                for t in TEXTS]
    assert pipe(TEXTS) == expected


def test_translation_matches_generate(t5):
    make, reference, tokenizer = t5
    pipe = make("translation_en_to_fr")
    block = _block("translation_en_to_fr")
    prefix = "translate English to French: "
    assert pipe(TEXTS[1]) == [{"translation_text": _oracle(reference, tokenizer, TEXTS[1], prefix, **block)[0]}]
    # num_return_sequences with beams: one list of translations per input
    beams = {"num_beams": 3, "num_return_sequences": 2, "max_new_tokens": 5}
    expected = _oracle(reference, tokenizer, TEXTS[1], prefix, **{**block, **beams})
    assert pipe([TEXTS[1]], **beams) == [[{"translation_text": text} for text in expected]]


# ---- SmolLM2 chat --------------------------------------------------------------------------------------------

SMOL_CHATS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are a terse assistant."}, {"role": "user", "content": "Name three colors."}],
    [{"role": "user", "content": "Write a haiku about the sea."}],
]


@pytest.mark.slow
def test_smollm2_chat_replies_match_reference(smollm2_fp32_path):
    ours = pipeline("text-generation", model=str(smollm2_fp32_path))
    reference = transformers.pipeline("text-generation", model=str(smollm2_fp32_path), dtype=torch.float32)
    for chat in SMOL_CHATS:
        expected = reference(chat, max_new_tokens=32, do_sample=False)
        got = ours(chat, max_new_tokens=32, do_sample=False)
        assert got == expected
        assert got[0]["generated_text"][-1]["role"] == "assistant" and got[0]["generated_text"][-1]["content"]
