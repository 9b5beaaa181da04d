"""generate: argument errors name the argument, warnings come once, streamer calls, the per-step model inputs."""

from __future__ import annotations

import logging

import pytest
import torch

from snuggle.errors import ConfigError, ModelError
from snuggle.generation import GenerationConfig, generate
from snuggle.models import (
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    T5Config,
    T5ForConditionalGeneration,
)

PAD, EOS = 0, 5


@pytest.fixture(scope="module")
def llama():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                         eos_token_id=EOS, pad_token_id=PAD)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def gpt2():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=40, n_embd=16, n_layer=1, n_head=2, n_positions=16,
                                      eos_token_id=EOS, bos_token_id=EOS)).eval()


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def generation_log():
    logger = logging.getLogger("snuggle.generation.utils")
    handler, previous = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(previous)


# --------------------------------------------------------------------------------------------- errors
def test_unknown_keyword_is_named(llama):
    with pytest.raises(ConfigError, match="max_new_tokenz"):
        llama.generate(torch.tensor([[1, 2, 3]]), max_new_tokenz=4)


def test_model_keywords_the_forward_accepts_are_allowed(gpt2):
    ids = torch.tensor([[1, 2, 3]])
    out = gpt2.generate(ids, token_type_ids=torch.zeros_like(ids), max_new_tokens=1, pad_token_id=PAD)
    assert out.shape == (1, 4)


def test_num_return_sequences_larger_than_num_beams_names_both(llama):
    with pytest.raises(ConfigError, match=r"num_return_sequences.*num_beams"):
        llama.generate(torch.tensor([[1, 2, 3]]), num_beams=2, num_return_sequences=3, max_new_tokens=2)


@pytest.mark.parametrize("name,value", [("max_new_tokens", -1), ("max_new_tokens", 0), ("min_new_tokens", -2),
                                        ("temperature", -1.0), ("top_p", 1.5), ("num_beams", 0)])
def test_bad_values_name_the_argument(llama, name, value):
    with pytest.raises(ConfigError, match=name):
        llama.generate(torch.tensor([[1, 2, 3]]), **{name: value, "do_sample": name in ("temperature", "top_p")})


def test_prompt_longer_than_context_names_both_lengths(llama):
    with pytest.raises(ConfigError, match=r"40 tokens.*context of 32"):
        llama.generate(torch.ones(1, 40, dtype=torch.long), max_new_tokens=2)


def test_absolute_positions_cannot_generate_past_the_context(gpt2):
    with pytest.raises(ConfigError, match=r"max_length.*context of 16"):
        gpt2.generate(torch.ones(1, 10, dtype=torch.long), max_new_tokens=10)


def test_prompt_that_fills_max_length_is_an_error(llama):
    with pytest.raises(ConfigError, match="max_length"):
        llama.generate(torch.ones(1, 6, dtype=torch.long), max_length=5)


def test_streamer_with_a_batch_is_an_error(llama):
    with pytest.raises(ConfigError, match="streamer"):
        llama.generate(torch.ones(2, 3, dtype=torch.long), streamer=_RecordingStreamer(), max_new_tokens=2)
    with pytest.raises(ConfigError, match="num_beams"):
        llama.generate(torch.ones(1, 3, dtype=torch.long), streamer=_RecordingStreamer(), num_beams=2,
                       max_new_tokens=2)


def test_stop_strings_without_tokenizer_names_tokenizer(llama):
    with pytest.raises(ConfigError, match="tokenizer"):
        llama.generate(torch.ones(1, 3, dtype=torch.long), stop_strings=["\n"], max_new_tokens=2)


def test_unsupported_cache_implementation(llama):
    with pytest.raises(ConfigError, match="cache_implementation"):
        llama.generate(torch.ones(1, 3, dtype=torch.long), cache_implementation="paged", max_new_tokens=2)


def test_encoder_decoder_without_start_token():
    model = T5ForConditionalGeneration(T5Config(vocab_size=20, d_model=8, d_kv=4, d_ff=8, num_layers=1,
                                                num_heads=2, eos_token_id=1, pad_token_id=None)).eval()
    model.config.bos_token_id = None
    with pytest.raises(ConfigError, match="decoder_start_token_id"):
        model.generate(torch.tensor([[3, 4, 1]]), max_new_tokens=2)


# ------------------------------------------------------------------------------------- GenerationMixin
def test_generate_method_only_on_models_that_can_generate(llama):
    assert LlamaForCausalLM.can_generate() and T5ForConditionalGeneration.can_generate()
    assert not BertModel.can_generate()
    bert = BertModel(BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=8))
    with pytest.raises(ModelError, match="BertModel"):
        bert.generate(torch.tensor([[1, 2]]))


# ----------------------------------------------------------------------------------------- warnings
def test_right_padding_warns_once(llama, generation_log):
    from snuggle.utils import logging as snuggle_logging

    snuggle_logging._warned.difference_update({m for m in snuggle_logging._warned if "right padding" in m})
    ids = torch.tensor([[1, 2, 3], [4, 5, PAD]])
    mask = (ids != PAD).long()
    for _ in range(3):
        llama.generate(ids, attention_mask=mask, max_new_tokens=2)
    warnings = [r for r in generation_log if r.levelno == logging.WARNING and "right padding" in r.getMessage()]
    assert len(warnings) == 1


def test_pad_from_eos_is_one_info_line_and_nothing_else(gpt2, generation_log):
    from snuggle.generation import prepare as utils

    utils._pad_info_logged.discard(EOS)
    ids = torch.tensor([[1, 2, 3], [4, 6, 7]])
    for _ in range(3):
        gpt2.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=3)
    assert [r.levelno for r in generation_log] == [logging.INFO]
    assert "pad_token_id" in generation_log[0].getMessage()


# ----------------------------------------------------------------------------------------- streamer
class _RecordingStreamer:
    def __init__(self):
        self.calls = []

    def put(self, value):
        self.calls.append(("put", value.clone()))

    def end(self):
        self.calls.append(("end", None))


def test_streamer_gets_prompt_then_each_token_then_end(llama):
    streamer = _RecordingStreamer()
    ids = torch.tensor([[1, 2, 3]])
    out = llama.generate(ids, streamer=streamer, max_new_tokens=4, eos_token_id=None)
    assert [kind for kind, _ in streamer.calls] == ["put"] * 5 + ["end"]
    assert streamer.calls[0][1].tolist() == ids.tolist()
    assert [v.tolist() for _, v in streamer.calls[1:5]] == [[t] for t in out[0, 3:].tolist()]


# ------------------------------------------------------------------------------------- decode loop
def _capture_forward_kwargs(model):
    calls = []
    handle = model.register_forward_pre_hook(lambda module, args, kwargs: calls.append(kwargs), with_kwargs=True)
    return calls, handle


def test_unpadded_batch_takes_the_mask_free_path(llama):
    calls, handle = _capture_forward_kwargs(llama)
    try:
        llama.generate(torch.tensor([[1, 2, 3], [4, 6, 7]]), attention_mask=torch.ones(2, 3, dtype=torch.long),
                       max_new_tokens=4, eos_token_id=None)
    finally:
        handle.remove()
    assert len(calls) == 4  # prefill + 3 decode steps (the 4th token needs no forward)
    assert all(c.get("attention_mask") is None for c in calls)
    assert [tuple(c["input_ids"].shape) for c in calls] == [(2, 3), (2, 1), (2, 1), (2, 1)]
    # nothing padded: the model's default positions (the cache length on), no position tensor per step
    assert all("position_ids" not in c for c in calls)
    assert all(c["logits_to_keep"] == 1 for c in calls)


def test_left_padded_batch_positions_count_real_tokens(llama):
    calls, handle = _capture_forward_kwargs(llama)
    ids = torch.tensor([[PAD, PAD, 1], [4, 6, 7]])
    try:
        llama.generate(ids, attention_mask=(ids != PAD).long(), max_new_tokens=3, eos_token_id=None)
    finally:
        handle.remove()
    assert calls[0]["position_ids"].tolist() == [[0, 0, 0], [0, 1, 2]]
    assert calls[1]["position_ids"].tolist() == [[1], [3]]
    assert calls[2]["attention_mask"].tolist() == [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]


def test_finished_rows_get_pad_and_generation_stops_when_all_finished(llama):
    ids = torch.tensor([[1, 2, 3], [4, 6, 7]])
    free = llama.generate(ids, max_new_tokens=6, eos_token_id=None, pad_token_id=PAD)
    eos = int(free[0, 4])  # row 0's second new token becomes the eos
    out = llama.generate(ids, max_new_tokens=6, eos_token_id=eos, pad_token_id=39)
    row0 = out[0, 3:].tolist()
    assert row0[1] == eos and all(t == 39 for t in row0[2:])
    both = llama.generate(ids, max_new_tokens=6, eos_token_id=[eos, int(free[1, 3])], pad_token_id=39)
    assert both.shape[1] <= 5  # both rows hit an eos by the second token: the loop stopped early


def test_generation_config_json_defaults_then_user_config_then_kwargs(llama):
    llama.generation_config = {"max_new_tokens": 2, "eos_token_id": None, "pad_token_id": PAD, "num_beams": 1}
    try:
        ids = torch.tensor([[1, 2, 3]])
        assert llama.generate(ids).shape == (1, 5)  # model default
        assert llama.generate(ids, generation_config=GenerationConfig(max_new_tokens=3)).shape == (1, 6)  # user
        assert llama.generate(ids, generation_config=GenerationConfig(max_new_tokens=3),
                              max_new_tokens=4).shape == (1, 7)  # kwargs
    finally:
        llama.generation_config = None


def test_function_form_and_return_dict_keys(llama):
    out = generate(llama, torch.tensor([[1, 2, 3]]), max_new_tokens=2, return_dict_in_generate=True,
                   output_scores=True, eos_token_id=None)
    assert list(out.keys()) == ["sequences", "scores", "past_key_values"]
    assert out["cache"] is out.past_key_values and len(out.scores) == 2


def test_tokenizer_output_or_1d_ids_get_a_hint(llama):
    ids = torch.tensor([[1, 2, 3]])
    with pytest.raises(ConfigError, match=r"\*\*inputs"):
        llama.generate({"input_ids": ids, "attention_mask": torch.ones_like(ids)}, max_new_tokens=2)
    with pytest.raises(ConfigError, match=r"unsqueeze\(0\)"):
        llama.generate(ids[0], max_new_tokens=2)
