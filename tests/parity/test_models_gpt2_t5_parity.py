"""GPT-2 and T5 against transformers: tiny random checkpoints saved by one library, loaded by the other.

For every head: logits, hidden states, loss and every parameter's gradient equal (fp32, atol 1e-4),
with padding masks, under both attention backends; each library loads the other's save_pretrained
output, single-file and sharded.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
import transformers
from safetensors.torch import save_file

from snuggle.models import gpt2 as snuggle_gpt2
from snuggle.models import t5 as snuggle_t5

ATOL = 1e-4

GPT2_CONFIG = {
    "vocab_size": 61, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
}
T5_CONFIG = {
    "vocab_size": 61, "d_model": 32, "d_kv": 8, "d_ff": 48, "num_layers": 2, "num_decoder_layers": 3, "num_heads": 4,
    "relative_attention_num_buckets": 8, "relative_attention_max_distance": 20, "decoder_start_token_id": 0,
}
T5_V1_1 = dict(T5_CONFIG, feed_forward_proj="gated-gelu", scale_decoder_outputs=False)

# right padding in the second row (0 is the pad id of both configs)
INPUT_IDS = torch.tensor([[5, 6, 7, 8, 9, 10, 1], [11, 12, 13, 1, 0, 0, 0]])
ATTENTION_MASK = (INPUT_IDS != 0).long()
DECODER_IDS = torch.tensor([[0, 14, 15, 16, 17], [0, 18, 19, 0, 0]])
DECODER_MASK = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])


def gpt2_inputs(head):
    inputs = {"input_ids": INPUT_IDS, "attention_mask": ATTENTION_MASK}
    if head == "GPT2LMHeadModel":
        inputs["labels"] = INPUT_IDS.masked_fill(ATTENTION_MASK == 0, -100)
    elif head == "GPT2ForSequenceClassification":
        inputs["labels"] = torch.tensor([2, 0])
    elif head == "GPT2ForTokenClassification":
        inputs["labels"] = torch.tensor([[0, 1, 2, 1, 0, 2, 1]] * 2).masked_fill(ATTENTION_MASK == 0, -100)
    elif head == "GPT2ForQuestionAnswering":
        inputs.update(start_positions=torch.tensor([1, 2]), end_positions=torch.tensor([4, 30]))
    return inputs


def t5_inputs(head):
    inputs = {"input_ids": INPUT_IDS, "attention_mask": ATTENTION_MASK}
    if head == "T5Model":
        inputs.update(decoder_input_ids=DECODER_IDS, decoder_attention_mask=DECODER_MASK)
    elif head == "T5ForConditionalGeneration":
        inputs["labels"] = torch.tensor([[14, 15, 16, 17, 1], [18, 19, 1, -100, -100]])
    elif head == "T5ForSequenceClassification":
        inputs["labels"] = torch.tensor([2, 0])
    elif head == "T5ForTokenClassification":
        inputs["labels"] = torch.tensor([[0, 1, 2, 1, 0, 2, 1]] * 2)
    elif head == "T5ForQuestionAnswering":
        inputs.update(start_positions=torch.tensor([1, 2]), end_positions=torch.tensor([4, 30]))
    return inputs


def assert_outputs_equal(ref_out, our_out):
    """Every tensor (or tuple of tensors) the reference returns must be returned by us, equal within ATOL."""
    compared = 0
    for key, ref_value in ref_out.items():
        if key in ("past_key_values", "cache"):
            continue
        if isinstance(ref_value, tuple) and len(ref_value) == 0:
            continue  # sdpa reference returns no attentions at all
        our_value = our_out[key]
        if torch.is_tensor(ref_value):
            torch.testing.assert_close(our_value, ref_value, atol=ATOL, rtol=0, msg=key)
            compared += 1
        elif isinstance(ref_value, tuple):
            assert len(our_value) == len(ref_value), key
            for index, (ours, ref) in enumerate(zip(our_value, ref_value)):
                torch.testing.assert_close(ours, ref, atol=ATOL, rtol=0, msg=f"{key}[{index}]")
            compared += 1
    assert compared >= 1


def assert_gradients_equal(ref_model, our_model):
    ref_grads = {n: p.grad for n, p in ref_model.named_parameters() if p.grad is not None}
    our_grads = {n: p.grad for n, p in our_model.named_parameters() if p.grad is not None}
    assert set(our_grads) == set(ref_grads)
    for name, grad in ref_grads.items():
        torch.testing.assert_close(our_grads[name], grad, atol=ATOL, rtol=0, msg=name)


def check_head(tmp_path, ref_class, our_class, config, inputs, impl):
    torch.manual_seed(0)
    reference = ref_class(config)
    reference.save_pretrained(tmp_path / "ref")
    reference = ref_class.from_pretrained(tmp_path / "ref", attn_implementation=impl).eval()
    ours = our_class.from_pretrained(tmp_path / "ref", attn_implementation=impl).eval()
    output_attentions = impl == "eager"

    ref_out = reference(**inputs, output_hidden_states=True, output_attentions=output_attentions)
    our_out = ours(**inputs, output_hidden_states=True, output_attentions=output_attentions)
    assert_outputs_equal(ref_out, our_out)
    if ref_out.get("loss") is not None:
        ref_out.loss.backward()
        our_out.loss.backward()
        assert_gradients_equal(reference, ours)

    # the reference loads what we save
    ours.zero_grad()
    ours.save_pretrained(tmp_path / "ours")
    reloaded = ref_class.from_pretrained(tmp_path / "ours", attn_implementation=impl).eval()
    with torch.no_grad():
        assert_outputs_equal(reloaded(**inputs), ours(**inputs))


GPT2_HEADS = [
    "GPT2Model", "GPT2LMHeadModel", "GPT2ForSequenceClassification", "GPT2ForTokenClassification",
    "GPT2ForQuestionAnswering",
]
T5_HEADS = [
    "T5Model", "T5ForConditionalGeneration", "T5EncoderModel", "T5ForSequenceClassification",
    "T5ForTokenClassification", "T5ForQuestionAnswering",
]


# every head with the eager backend (attention maps compared too); the LM heads also with SDPA
GPT2_CASES = [(head, "eager") for head in GPT2_HEADS] + [("GPT2Model", "sdpa"), ("GPT2LMHeadModel", "sdpa")]
T5_CASES = [(head, "eager") for head in T5_HEADS] + [("T5Model", "sdpa"), ("T5ForConditionalGeneration", "sdpa")]


@pytest.mark.parametrize(("head", "impl"), GPT2_CASES)
def test_gpt2_heads_match_reference(tmp_path, head, impl):
    config = transformers.GPT2Config(**GPT2_CONFIG, num_labels=3)
    check_head(tmp_path, getattr(transformers, head), getattr(snuggle_gpt2, head), config, gpt2_inputs(head), impl)


@pytest.mark.parametrize(("head", "impl"), T5_CASES)
def test_t5_heads_match_reference(tmp_path, head, impl):
    config = transformers.T5Config(**T5_CONFIG, num_labels=2 if head == "T5ForQuestionAnswering" else 3)
    check_head(tmp_path, getattr(transformers, head), getattr(snuggle_t5, head), config, t5_inputs(head), impl)


@pytest.mark.parametrize("head", ["T5ForConditionalGeneration", "T5EncoderModel"])
def test_t5_v1_1_gated_gelu_without_rescale(tmp_path, head):
    config = transformers.T5Config(**T5_V1_1)
    check_head(tmp_path, getattr(transformers, head), getattr(snuggle_t5, head), config, t5_inputs(head), "sdpa")


def test_gpt2_variants_scale_by_layer_and_upcast(tmp_path):
    config = transformers.GPT2Config(
        **GPT2_CONFIG, scale_attn_by_inverse_layer_idx=True, reorder_and_upcast_attn=True, n_inner=40,
        activation_function="gelu",
    )
    head = "GPT2LMHeadModel"
    check_head(tmp_path, transformers.GPT2LMHeadModel, snuggle_gpt2.GPT2LMHeadModel, config, gpt2_inputs(head),
               "eager")


def test_gpt2_left_padding_matches_reference_on_real_tokens(tmp_path):
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(transformers.GPT2Config(**GPT2_CONFIG)).save_pretrained(tmp_path)
    reference = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    ours = snuggle_gpt2.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    input_ids = torch.tensor([[0, 0, 5, 6, 7], [8, 9, 10, 11, 12]])
    mask = (input_ids != 0).long()
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        ref_logits = reference(input_ids, attention_mask=mask, position_ids=position_ids).logits
        our_logits = ours(input_ids, attention_mask=mask, position_ids=position_ids).logits
    keep = mask.bool()
    torch.testing.assert_close(our_logits[keep], ref_logits[keep], atol=ATOL, rtol=0)


def test_gpt2_incremental_decoding_matches_reference(tmp_path):
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(transformers.GPT2Config(**GPT2_CONFIG)).save_pretrained(tmp_path)
    reference = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    ours = snuggle_gpt2.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        ref_out = reference(ids[:, :4], use_cache=True)
        our_out = ours(ids[:, :4], use_cache=True)
        for step in (4, 5):
            ref_out = reference(ids[:, step:step + 1], past_key_values=ref_out.past_key_values, use_cache=True)
            our_out = ours(ids[:, step:step + 1], past_key_values=our_out.past_key_values, use_cache=True)
            torch.testing.assert_close(our_out.logits, ref_out.logits, atol=ATOL, rtol=0)


def test_t5_incremental_decoding_matches_reference(tmp_path):
    torch.manual_seed(0)
    transformers.T5ForConditionalGeneration(transformers.T5Config(**T5_CONFIG)).save_pretrained(tmp_path)
    reference = transformers.T5ForConditionalGeneration.from_pretrained(tmp_path).eval()
    ours = snuggle_t5.T5ForConditionalGeneration.from_pretrained(tmp_path).eval()
    decoder_ids = torch.tensor([[0, 14, 15, 16], [0, 18, 19, 20]])
    with torch.no_grad():
        ref_encoder = reference.get_encoder()(input_ids=INPUT_IDS, attention_mask=ATTENTION_MASK)
        our_encoder = ours.get_encoder()(input_ids=INPUT_IDS, attention_mask=ATTENTION_MASK)
        ref_cache = our_cache = None
        for step in range(decoder_ids.shape[1]):
            kwargs = {"attention_mask": ATTENTION_MASK, "decoder_input_ids": decoder_ids[:, step:step + 1], "use_cache": True}
            ref_out = reference(encoder_outputs=ref_encoder, past_key_values=ref_cache, **kwargs)
            our_out = ours(encoder_outputs=our_encoder, past_key_values=our_cache, **kwargs)
            ref_cache, our_cache = ref_out.past_key_values, our_out.past_key_values
            torch.testing.assert_close(our_out.logits, ref_out.logits, atol=ATOL, rtol=0)


@pytest.mark.parametrize("family", ["gpt2", "t5"])
def test_sharded_saves_load_both_ways(tmp_path, family):
    torch.manual_seed(0)
    if family == "gpt2":
        ref_class, our_class = transformers.GPT2LMHeadModel, snuggle_gpt2.GPT2LMHeadModel
        config, inputs = transformers.GPT2Config(**GPT2_CONFIG), gpt2_inputs("GPT2LMHeadModel")
    else:
        ref_class, our_class = transformers.T5ForConditionalGeneration, snuggle_t5.T5ForConditionalGeneration
        config, inputs = transformers.T5Config(**T5_CONFIG), t5_inputs("T5ForConditionalGeneration")
    reference = ref_class(config).eval()
    reference.save_pretrained(tmp_path / "ref", max_shard_size="20KB")
    assert os.path.exists(tmp_path / "ref" / "model.safetensors.index.json")
    ours = our_class.from_pretrained(tmp_path / "ref").eval()
    ours.save_pretrained(tmp_path / "ours", max_shard_size="20KB")
    index = json.loads((tmp_path / "ours" / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    reloaded = ref_class.from_pretrained(tmp_path / "ours").eval()
    with torch.no_grad():
        expected = reference(**inputs)
        assert_outputs_equal(ours(**inputs), expected)
        assert_outputs_equal(reloaded(**inputs), expected)


def test_t5_checkpoint_with_separate_lm_head_loads_untied(tmp_path):
    """FLAN/T5 v1.1 checkpoints store their own lm_head and say tie_word_embeddings: false."""
    torch.manual_seed(0)
    config = transformers.T5Config(**T5_V1_1)
    reference = transformers.T5ForConditionalGeneration(config)
    state = {k: v.clone().contiguous() for k, v in reference.state_dict().items()
             if not k.endswith("embed_tokens.weight")}
    state["lm_head.weight"] = torch.randn_like(state["shared.weight"])
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    config_dict = json.loads(config.to_json_string())
    config_dict.update(tie_word_embeddings=False)
    config_dict.pop("scale_decoder_outputs", None)
    (tmp_path / "config.json").write_text(json.dumps(config_dict))

    reference = transformers.T5ForConditionalGeneration.from_pretrained(tmp_path).eval()
    ours = snuggle_t5.T5ForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert ours.lm_head.weight is not ours.shared.weight
    assert ours.config.scale_decoder_outputs is False
    inputs = t5_inputs("T5ForConditionalGeneration")
    with torch.no_grad():
        assert_outputs_equal(ours(**inputs), reference(**inputs))


def test_t5_reference_save_of_an_untied_model_keeps_its_lm_head(tmp_path):
    """The reference writes tie_word_embeddings: true even for an untied FLAN model, plus its own lm_head."""
    torch.manual_seed(0)
    config = transformers.T5Config(**T5_V1_1)
    reference = transformers.T5ForConditionalGeneration(config)
    reference.save_pretrained(tmp_path / "tied")
    state = {k: v.clone().contiguous() for k, v in reference.state_dict().items()
             if not k.endswith("embed_tokens.weight") and k != "lm_head.weight"}
    state["lm_head.weight"] = torch.randn_like(state["shared.weight"])
    save_file(state, str(tmp_path / "tied" / "model.safetensors"), metadata={"format": "pt"})
    reference = transformers.T5ForConditionalGeneration.from_pretrained(tmp_path / "tied").eval()
    ours = snuggle_t5.T5ForConditionalGeneration.from_pretrained(tmp_path / "tied").eval()
    assert ours.lm_head.weight is not ours.shared.weight
    inputs = t5_inputs("T5ForConditionalGeneration")
    with torch.no_grad():
        assert_outputs_equal(ours(**inputs), reference(**inputs))
