"""GPT-2 unit tests: config aliases, Conv1D layout, cache decoding == full forward, masks, heads, errors."""

from __future__ import annotations

import pytest
import torch

from snuggle.errors import ModelError
from snuggle.models.cache import DynamicCache
from snuggle.models.gpt2 import (
    Conv1D,
    GPT2Config,
    GPT2ForQuestionAnswering,
    GPT2ForSequenceClassification,
    GPT2ForTokenClassification,
    GPT2LMHeadModel,
    GPT2Model,
    last_non_pad_token,
    shifted_causal_lm_loss,
)


def tiny_config(**overrides):
    values = {"vocab_size": 40, "n_embd": 16, "n_layer": 2, "n_head": 2, "n_positions": 32, "bos_token_id": 1, "eos_token_id": 2}
    values.update(overrides)
    return GPT2Config(**values)


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    return GPT2LMHeadModel(tiny_config()).eval()


def test_config_aliases_and_round_trip(tmp_path):
    config = tiny_config(hidden_size=24, num_attention_heads=3)
    assert (config.n_embd, config.n_head, config.num_hidden_layers, config.max_position_embeddings) == (24, 3, 2, 32)
    config.save_pretrained(tmp_path)
    loaded = GPT2Config.from_pretrained(tmp_path)
    assert loaded.n_embd == 24 and loaded.model_type == "gpt2"


def test_conv1d_is_a_transposed_linear():
    layer = Conv1D(nf=5, nx=3)
    x = torch.randn(2, 4, 3)
    expected = torch.nn.functional.linear(x, layer.weight.t(), layer.bias)
    torch.testing.assert_close(layer(x), expected)
    assert layer.weight.shape == (3, 5)


def test_state_dict_keys_and_shapes_follow_the_reference_layout(lm):
    state = lm.state_dict()
    assert state["transformer.h.0.attn.c_attn.weight"].shape == (16, 48)
    assert state["transformer.h.1.mlp.c_fc.weight"].shape == (16, 64)
    assert state["transformer.h.1.mlp.c_proj.weight"].shape == (64, 16)
    assert lm.lm_head.weight is lm.transformer.wte.weight


def test_incremental_decoding_equals_full_forward(lm):
    ids = torch.tensor([[3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14]])
    with torch.no_grad():
        full = lm(ids).logits
        out = lm(ids[:, :3], use_cache=True)
        assert isinstance(out.past_key_values, DynamicCache)
        steps = [out.logits]
        for position in range(3, 6):
            out = lm(ids[:, position:position + 1], past_key_values=out.past_key_values, use_cache=True)
            steps.append(out.logits)
        torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)
        assert out.past_key_values.get_seq_length() == 6


def test_legacy_tuple_cache_and_cache_keyword(lm):
    ids = torch.tensor([[3, 4, 5, 6]])
    with torch.no_grad():
        full = lm(ids).logits
        prefix = lm(ids[:, :3], use_cache=True)
        legacy = prefix.past_key_values.to_legacy_cache()
        step = lm(ids[:, 3:], past_key_values=legacy, use_cache=True)
        torch.testing.assert_close(step.logits[:, -1], full[:, -1], atol=1e-5, rtol=0)
        prefix = lm(ids[:, :3], use_cache=True)
        step = lm(ids[:, 3:], cache=prefix.past_key_values)
        torch.testing.assert_close(step.logits[:, -1], full[:, -1], atol=1e-5, rtol=0)


def test_right_padding_does_not_change_real_positions(lm):
    ids = torch.tensor([[3, 4, 5, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    with torch.no_grad():
        padded = lm(ids, attention_mask=mask).logits[:, :3]
        alone = lm(ids[:, :3]).logits
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=0)


def test_eager_and_sdpa_agree_and_eager_returns_attentions():
    torch.manual_seed(0)
    config = tiny_config()
    model = GPT2Model(config).eval()
    ids = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    with torch.no_grad():
        sdpa = model(ids, attention_mask=mask).last_hidden_state
        config._attn_implementation = "eager"
        eager = model(ids, attention_mask=mask, output_attentions=True)
    torch.testing.assert_close(eager.last_hidden_state, sdpa, atol=1e-5, rtol=0)
    assert len(eager.attentions) == 2 and eager.attentions[0].shape == (2, 2, 4, 4)
    assert float(eager.attentions[0][0, 0, 0, 1]) == 0.0  # causal: nothing after the query


def test_shifted_loss_ignores_minus_100_and_supports_num_items():
    logits = torch.randn(1, 4, 7)
    labels = torch.tensor([[1, 2, -100, 3]])
    expected = torch.nn.functional.cross_entropy(logits[0, :3], torch.tensor([2, -100, 3]), ignore_index=-100)
    torch.testing.assert_close(shifted_causal_lm_loss(logits, labels, 7), expected)
    summed = shifted_causal_lm_loss(logits, labels, 7, num_items_in_batch=4)
    torch.testing.assert_close(summed, expected * 2 / 4)


def test_last_non_pad_token_handles_left_and_right_padding():
    ids = torch.tensor([[5, 6, 0, 0], [0, 0, 5, 6]])
    assert last_non_pad_token(ids, 0, 2).tolist() == [1, 3]
    with pytest.raises(ModelError, match="pad_token_id"):
        last_non_pad_token(ids, None, 2)


def test_task_heads_shapes_and_losses():
    torch.manual_seed(0)
    ids = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 9]])
    config = tiny_config(pad_token_id=0, num_labels=3)
    seq = GPT2ForSequenceClassification(config).eval()
    out = seq(ids, labels=torch.tensor([0, 2]))
    assert out.logits.shape == (2, 3) and out.loss.ndim == 0
    assert seq.config.problem_type == "single_label_classification"
    tok = GPT2ForTokenClassification(config).eval()
    assert tok(ids, labels=torch.zeros(2, 4, dtype=torch.long)).logits.shape == (2, 4, 3)
    qa = GPT2ForQuestionAnswering(config).eval()
    out = qa(ids, start_positions=torch.tensor([0, 1]), end_positions=torch.tensor([2, 3]))
    assert out.start_logits.shape == (2, 4) and out.loss.ndim == 0


def test_cross_attention_with_cache_matches_full_forward():
    torch.manual_seed(0)
    model = GPT2LMHeadModel(tiny_config(add_cross_attention=True)).eval()
    ids = torch.tensor([[3, 4, 5, 6]])
    encoder_states = torch.randn(1, 5, 16)
    encoder_mask = torch.tensor([[1, 1, 1, 1, 0]])
    with torch.no_grad():
        full = model(ids, encoder_hidden_states=encoder_states, encoder_attention_mask=encoder_mask).logits
        out = model(ids[:, :2], encoder_hidden_states=encoder_states, encoder_attention_mask=encoder_mask,
                    use_cache=True)
        out = model(ids[:, 2:], past_key_values=out.past_key_values, encoder_hidden_states=encoder_states,
                    encoder_attention_mask=encoder_mask, use_cache=True)
    torch.testing.assert_close(out.logits, full[:, 2:], atol=1e-5, rtol=0)


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    config = tiny_config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(config).train()
    ids = torch.tensor([[3, 4, 5, 6]])
    model(ids, labels=ids).loss.backward()
    plain = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.gradient_checkpointing_enable()
    model(ids, labels=ids).loss.backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, plain[name], atol=1e-6, rtol=0)


def test_bad_inputs_raise_model_errors(lm):
    with pytest.raises(ModelError, match="exactly one"):
        lm()
    with pytest.raises(ModelError, match="divisible"):
        GPT2Model(tiny_config(n_embd=10, n_head=3))
    with pytest.raises(ModelError, match="cross-attention"):
        lm(torch.tensor([[1, 2]]), encoder_hidden_states=torch.zeros(1, 2, 16))
