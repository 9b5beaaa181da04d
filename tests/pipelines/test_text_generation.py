"""text-generation pipeline on a tiny random Llama with the real GPT-2 tokenizer and a ChatML template.

Expected values come from `model.generate` on the same ids (greedy), so these tests check the pipeline's
plumbing: inputs, chat rendering, output shapes, batching, long prompts and generation defaults.
"""

import pytest
import torch

from snuggle.models import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM
from snuggle.pipelines import PipelineError, pipeline
from snuggle.pipelines.generation_kwargs import (
    TEXT_GENERATION_DEFAULTS,
    resolve_generate_kwargs,
)
from snuggle.tokenizers.pretrained import AutoTokenizer
from tests.conftest import DATASETS
from tests.pipelines.generation_fixtures import one_thread  # noqa: F401 (autouse)

CONTEXT = 96


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_llama_gen")
    tokenizer = AutoTokenizer.from_pretrained(str(DATASETS / "tokenizers" / "gpt2"))
    tokenizer.chat_template = (DATASETS / "chat_templates" / "community-chatml.jinja").read_text()
    tokenizer.save_pretrained(str(path))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=CONTEXT,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def generator(folder):
    return pipeline("text-generation", model=str(folder))


GREEDY = {"max_new_tokens": 5, "do_sample": False}


def _greedy_ids(generator, ids, n=5):
    out = generator.model.generate(input_ids=torch.tensor([ids]), max_new_tokens=n, do_sample=False)
    return out[0, len(ids):].tolist()


def test_string_full_and_new_text(generator):
    prompt = "Once upon a time"
    ids = generator.tokenizer(prompt)["input_ids"]
    new_text = generator.tokenizer.decode(_greedy_ids(generator, ids), skip_special_tokens=True)
    assert generator(prompt, **GREEDY) == [{"generated_text": prompt + new_text}]
    assert generator(prompt, return_full_text=False, **GREEDY) == [{"generated_text": new_text}]
    tensors = generator(prompt, return_tensors=True, **GREEDY)
    assert tensors == [{"generated_token_ids": ids + _greedy_ids(generator, ids)}]


def test_list_of_strings_and_batching(generator):
    prompts = ["Hi", "A much longer prompt with many words", "Mid length one"]
    one_by_one = generator(prompts, **GREEDY)
    assert isinstance(one_by_one, list) and len(one_by_one) == 3
    assert all(isinstance(r, list) and len(r) == 1 for r in one_by_one)
    assert generator(prompts, batch_size=3, **GREEDY) == one_by_one
    assert generator.tokenizer.padding_side == "left"


def test_chat_reply_is_appended(generator):
    chat = [{"role": "user", "content": "What is 2+2?"}]
    rendered = generator.tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_dict=True)
    reply = generator.tokenizer.decode(_greedy_ids(generator, rendered["input_ids"]), skip_special_tokens=True)
    out = generator(chat, **GREEDY)
    assert out == [{"generated_text": chat + [{"role": "assistant", "content": reply}]}]
    assert chat == [{"role": "user", "content": "What is 2+2?"}]  # the caller's list is not modified
    # a list of chats -> one list per chat
    both = generator([chat, chat], **GREEDY)
    assert both == [out, out]


def test_assistant_prefill_is_continued(generator):
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    rendered = generator.tokenizer.apply_chat_template(chat, continue_final_message=True, return_dict=True)
    more = generator.tokenizer.decode(_greedy_ids(generator, rendered["input_ids"]), skip_special_tokens=True)
    out = generator(chat, **GREEDY)[0]["generated_text"]
    assert out == [chat[0], {"role": "assistant", "content": "Hello" + more}]
    # continue_final_message=False starts a new assistant message instead
    out = generator(chat, continue_final_message=False, **GREEDY)[0]["generated_text"]
    assert len(out) == 3 and out[2]["role"] == "assistant"


def test_sampling_returns_num_return_sequences(generator):
    torch.manual_seed(0)
    first = generator("Seed", do_sample=True, num_return_sequences=3, max_new_tokens=4)
    torch.manual_seed(0)
    again = generator("Seed", do_sample=True, num_return_sequences=3, max_new_tokens=4)
    assert len(first) == 3 and first == again
    assert all(r["generated_text"].startswith("Seed") for r in first)


def test_long_prompt_error_names_both_lengths(generator):
    prompt = "word " * 150
    length = len(generator.tokenizer(prompt)["input_ids"])
    with pytest.raises(PipelineError, match=rf"{length} tokens long.*context is {CONTEXT} tokens"):
        generator(prompt, **GREEDY)
    # truncation keeps the first CONTEXT tokens
    out = generator(prompt, truncation=True, return_tensors=True, max_new_tokens=2, do_sample=False)
    assert len(out[0]["generated_token_ids"]) == CONTEXT + 2
    # "hole" keeps the end of the prompt and leaves room for the new tokens
    out = generator(prompt, handle_long_generation="hole", return_tensors=True, **GREEDY)
    assert len(out[0]["generated_token_ids"]) == CONTEXT
    with pytest.raises(PipelineError, match="handle_long_generation"):
        generator("x", handle_long_generation="middle")


def test_bad_inputs_and_arguments(generator):
    with pytest.raises(PipelineError, match="expects a str"):
        generator(42, **GREEDY)
    with pytest.raises(PipelineError, match="mutually exclusive"):
        generator("x", return_full_text=True, return_tensors=True)
    with pytest.raises(PipelineError, match="role"):
        generator([{"role": "user", "content": "hi"}, {"text": "no role"}])


def test_chat_without_template_is_an_error(folder):
    gen = pipeline("text-generation", model=str(folder))
    gen.tokenizer.chat_template = None
    with pytest.raises(PipelineError, match="chat_template"):
        gen([{"role": "user", "content": "hi"}], **GREEDY)


def test_tokenizer_without_pad_batches_with_eos(generator):
    assert generator.tokenizer.pad_token_id is None
    assert generator._pad_values()["input_ids"] == generator.tokenizer.eos_token_id


def test_streamer_and_generate_kwargs_pass_through(generator):
    class Recorder:
        def __init__(self):
            self.calls = []

        def put(self, value):
            self.calls.append(value.tolist())

        def end(self):
            self.calls.append("end")

    streamer = Recorder()
    out = generator("Stream me", streamer=streamer, return_tensors=True, **GREEDY)
    ids = out[0]["generated_token_ids"]
    assert streamer.calls[-1] == "end"
    assert torch.tensor(streamer.calls[0]).flatten().tolist() == ids[:-5]  # the prompt first
    streamed = [t for call in streamer.calls[1:-1] for t in torch.tensor(call).flatten().tolist()]
    assert streamed == ids[-5:]


def test_generation_defaults_layering(generator):
    model = generator.model
    # nothing set: the pipeline's sampling defaults
    assert resolve_generate_kwargs(model, {}, TEXT_GENERATION_DEFAULTS) == TEXT_GENERATION_DEFAULTS
    # greedy: sampling defaults dropped; the user's values win
    assert resolve_generate_kwargs(model, {"do_sample": False, "max_new_tokens": 3}, TEXT_GENERATION_DEFAULTS) == {
        "do_sample": False, "max_new_tokens": 3}
    # a max_length is honoured instead of being overridden by the 256-new-tokens default
    assert "max_new_tokens" not in resolve_generate_kwargs(model, {"max_length": 30}, TEXT_GENERATION_DEFAULTS)
    # the tokenizer's pad id is added when nobody set one
    assert resolve_generate_kwargs(model, {}, TEXT_GENERATION_DEFAULTS, pad_token_id=7)["pad_token_id"] == 7


def test_model_generation_config_beats_pipeline_defaults(folder, tmp_path):
    import json
    import shutil

    shutil.copytree(folder, tmp_path / "m")
    (tmp_path / "m" / "generation_config.json").write_text(json.dumps({"do_sample": False, "max_new_tokens": 3}))
    gen = pipeline("text-generation", model=str(tmp_path / "m"))
    out = gen("Hello", return_tensors=True)  # greedy, 3 tokens, from the model's generation_config.json
    ids = gen.tokenizer("Hello")["input_ids"]
    assert out == [{"generated_token_ids": ids + _greedy_ids(gen, ids, 3)}]


def test_prefix_from_config(folder):
    model = AutoModelForCausalLM.from_pretrained(str(folder))
    model.config.prefix = "In the beginning"
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    gen = pipeline("text-generation", model=model, tokenizer=tokenizer)
    ids = tokenizer("In the beginning" + " there was")["input_ids"]
    new_text = tokenizer.decode(_greedy_ids(gen, ids), skip_special_tokens=True)
    # the prefix conditions the model but is not part of the returned text
    assert gen(" there was", **GREEDY) == [{"generated_text": " there was" + new_text}]


def test_invalid_generation_argument_is_named(generator):
    from snuggle.errors import SnuggleError

    with pytest.raises(SnuggleError, match="top_p"):
        generator("x", do_sample=True, top_p=1.5, max_new_tokens=2)
    with pytest.raises(SnuggleError, match="temperature"):
        generator("x", do_sample=True, temperature=-1.0, max_new_tokens=2)


def test_generators_of_prompts_and_chats_are_lazy(generator):
    chat = [{"role": "user", "content": "Hi"}]
    prompts = generator((p for p in ["a", "b"]), **GREEDY)
    assert not isinstance(prompts, list)
    assert list(prompts) == generator(["a", "b"], **GREEDY)
    chats = generator((c for c in [chat, chat]), **GREEDY)
    assert list(chats) == generator([chat, chat], **GREEDY)


def test_incompatible_models_are_named(folder):
    from snuggle.models import (
        BertConfig,
        BertModel,
        T5Config,
        T5ForConditionalGeneration,
    )
    from snuggle.pipelines import SummarizationPipeline, TextGenerationPipeline

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    t5 = T5ForConditionalGeneration(T5Config(vocab_size=64, d_model=8, d_kv=2, d_ff=16, num_layers=1, num_heads=2))
    with pytest.raises(PipelineError, match="text-generation.*T5ForConditionalGeneration"):
        pipeline("text-generation", model=t5, tokenizer=tokenizer)
    # the classes check too when built directly
    with pytest.raises(PipelineError, match="text-generation.*T5ForConditionalGeneration.*text2text-generation"):
        TextGenerationPipeline(model=t5, tokenizer=tokenizer)
    bert = BertModel(BertConfig(vocab_size=64, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=16))
    with pytest.raises(PipelineError, match="text-generation.*BertModel cannot"):
        TextGenerationPipeline(model=bert, tokenizer=tokenizer)
    llama = AutoModelForCausalLM.from_pretrained(str(folder))
    with pytest.raises(PipelineError, match="summarization.*encoder-decoder.*LlamaForCausalLM"):
        SummarizationPipeline(model=llama, tokenizer=tokenizer, task="summarization")
