"""text2text-generation, summarization and translation on a tiny random T5 with the Pegasus unigram tokenizer.

Expected values come from `model.generate` on the prefixed input (greedy), so these tests check the pipeline's
plumbing: prefixes and task blocks from config.task_specific_params, output keys and shapes, warnings.
"""

import logging

import pytest
import torch

from snuggle.models import T5Config, T5ForConditionalGeneration
from snuggle.pipelines import PipelineError, pipeline
from snuggle.pipelines.generation_kwargs import (
    TEXT2TEXT_GENERATION_DEFAULTS,
    resolve_generate_kwargs,
)
from snuggle.tokenizers.pretrained import AutoTokenizer
from tests.conftest import DATASETS
from tests.pipelines.generation_fixtures import one_thread  # noqa: F401 (autouse)

TASK_PARAMS = {
    "summarization": {"prefix": "summarize: ", "max_length": 9, "min_length": 3, "no_repeat_ngram_size": 2,
                      "num_beams": 1},
    "translation_en_to_fr": {"prefix": "translate English to French: ", "max_length": 7, "num_beams": 1},
    "translation_en_to_de": {"prefix": "translate English to German: ", "max_length": 6, "num_beams": 1},
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_t5")
    tokenizer = AutoTokenizer.from_pretrained(str(DATASETS / "tokenizers" / "pegasus-unigram"))
    tokenizer.save_pretrained(str(path))
    config = T5Config(vocab_size=len(tokenizer), d_model=16, d_kv=4, d_ff=32, num_layers=2, num_heads=4,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id, task_specific_params=TASK_PARAMS)
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(str(path))
    return path, tokenizer


@pytest.fixture(scope="module")
def make(folder):
    """Pipelines for any task sharing one loaded model and tokenizer (loading is the slow part)."""
    from snuggle.models import AutoModelForSeq2SeqLM

    path, tokenizer = folder  # the Pegasus tokenizer (96k pieces) is loaded once
    model = AutoModelForSeq2SeqLM.from_pretrained(str(path))
    return lambda task: pipeline(task, model=model, tokenizer=tokenizer)


def _expected(pipe, text, prefix="", **kwargs):
    encoded = pipe.tokenizer(prefix + text, return_tensors="pt")
    out = pipe.model.generate(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"], **kwargs)
    return [pipe.tokenizer.decode(ids.tolist(), skip_special_tokens=True) for ids in out]


def test_text2text_output_and_list_flattening(make):
    pipe = make("text2text-generation")
    text = "question: what is 42? context: 42 is the answer"
    expected = _expected(pipe, text, max_new_tokens=6, num_beams=1)
    assert pipe(text, max_new_tokens=6, num_beams=1) == [{"generated_text": expected[0]}]
    # a list of strings gives one dict per string
    both = pipe([text, "translate this"], max_new_tokens=6, num_beams=1)
    assert both[0] == {"generated_text": expected[0]} and set(both[1]) == {"generated_text"}
    assert pipe([text, "translate this"], max_new_tokens=6, num_beams=1, batch_size=2) == both
    ids = pipe(text, max_new_tokens=6, num_beams=1, return_tensors=True)[0]["generated_token_ids"]
    assert pipe.tokenizer.decode(ids.tolist(), skip_special_tokens=True) == expected[0]


def test_num_return_sequences_gives_lists(make):
    pipe = make("text2text-generation")
    torch.manual_seed(0)
    out = pipe(["a", "b"], max_new_tokens=4, do_sample=True, num_return_sequences=2, num_beams=1)
    assert len(out) == 2 and all(len(records) == 2 for records in out)


def test_summarization_uses_prefix_and_task_block(make):
    pipe = make("summarization")
    text = "A long document about cats and dogs living together in one house."
    params = {k: v for k, v in TASK_PARAMS["summarization"].items() if k != "prefix"}
    expected = _expected(pipe, text, "summarize: ", **params)
    assert pipe(text) == [{"summary_text": expected[0]}]
    # the user's keywords beat the task block
    assert pipe(text, max_length=5) == [{"summary_text": _expected(pipe, text, "summarize: ", **{**params,
                                                                                                   "max_length": 5})[0]}]


def test_translation_task_names(make):
    text = "How old are you?"
    fr = make("translation_en_to_fr")
    params = {k: v for k, v in TASK_PARAMS["translation_en_to_fr"].items() if k != "prefix"}
    assert fr(text) == [{"translation_text": _expected(fr, text, "translate English to French: ", **params)[0]}]
    assert fr._preprocess_params == {"src_lang": "en", "tgt_lang": "fr"}
    de = make("translation_en_to_de")
    assert de.prefix == "translate English to German: "
    # plain "translation" picks the model's first translation block, as transformers 4.x did
    first = next(k for k in fr.model.config.task_specific_params if k.startswith("translation"))
    assert make("translation").prefix == TASK_PARAMS[first]["prefix"]
    assert fr(text, src_lang="en", tgt_lang="fr") == fr(text)


def test_length_warnings_once(make, caplog):
    pipe = make("summarization")
    with caplog.at_level(logging.WARNING):
        pipe(["one two three", "one two three"], min_length=8, max_length=4)
    messages = [r.getMessage() for r in caplog.records if "min_length=8" in r.getMessage()]
    assert len(messages) == 1 and "max_length=4" in messages[0]
    translator = make("translation_en_to_fr")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        translator("a rather long sentence that will not fit in seven tokens at all")
    assert any("0.9 * max_length" in r.getMessage() for r in caplog.records)


def test_stop_sequence_becomes_eos(make):
    pipe = make("text2text-generation")
    _, forward, _ = pipe._sanitize_parameters(stop_sequence="hello")
    assert forward["eos_token_id"] == pipe.tokenizer.encode("hello", add_special_tokens=False)[0]


def test_bad_input(make):
    pipe = make("summarization")
    with pytest.raises(PipelineError, match="expects a str"):
        pipe({"text": "x"})


def test_defaults_and_task_block_layering(make):
    pipe = make("summarization")
    # the task block's max_length replaces the 256-new-tokens default; num_beams comes from the block
    kwargs = resolve_generate_kwargs(pipe.model, {}, TEXT2TEXT_GENERATION_DEFAULTS, task_params=pipe.task_params)
    assert "max_new_tokens" not in kwargs and kwargs["num_beams"] == 1 and kwargs["max_length"] == 9
    # without a task block: 256 new tokens and 4 beams
    plain = resolve_generate_kwargs(pipe.model, {}, TEXT2TEXT_GENERATION_DEFAULTS)
    assert plain == {"max_new_tokens": 256, "num_beams": 4}
