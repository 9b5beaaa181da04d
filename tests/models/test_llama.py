"""snuggle.models.llama: incremental decoding, gradient checkpointing, heads, configs (no reference needed)."""

from __future__ import annotations

import pytest
import torch

from snuggle.errors import ModelError
from snuggle.models.cache import DynamicCache
from snuggle.models.llama import (
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForQuestionAnswering,
    LlamaForSequenceClassification,
    LlamaForTokenClassification,
    LlamaModel,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
    causal_lm_loss,
)

TINY = dict(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, pad_token_id=0)

FAMILIES = {
    "llama": (LlamaForCausalLM, LlamaConfig, {}),
    "mistral": (MistralForCausalLM, MistralConfig, {"sliding_window": 4}),
    "qwen2": (Qwen2ForCausalLM, Qwen2Config, {"use_sliding_window": True, "sliding_window": 4, "max_window_layers": 1}),
    "qwen3": (Qwen3ForCausalLM, Qwen3Config, {"head_dim": 8}),
}


def _model(family="llama", implementation="sdpa", **extra):
    torch.manual_seed(0)
    model_class, config_class, family_extra = FAMILIES[family]
    config = config_class(**TINY, **family_extra, **extra, attn_implementation=implementation)
    return model_class(config).eval()


def _ids(batch=2, length=10, seed=1):
    return torch.randint(1, 50, (batch, length), generator=torch.Generator().manual_seed(seed))


# ---- incremental decoding == full forward ----------------------------------------------------------------------
@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_incremental_decoding_equals_full_forward(family, implementation):
    model = _model(family, implementation)
    ids = _ids()
    with torch.no_grad():
        full = model(ids).logits
        prefill = model(ids[:, :6], use_cache=True)
        cache = prefill.past_key_values
        assert isinstance(cache, DynamicCache) and cache.get_seq_length() == 6
        steps = [prefill.logits]
        for t in range(6, 10):
            out = model(ids[:, t : t + 1], past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            steps.append(out.logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_incremental_decoding_with_left_padding(implementation):
    model = _model("mistral", implementation)
    ids = _ids()
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        full = model(ids, attention_mask=mask, position_ids=positions).logits
        out = model(ids[:, :7], attention_mask=mask[:, :7], position_ids=positions[:, :7], use_cache=True)
        steps, cache = [out.logits], out.past_key_values
        for t in range(7, 10):
            out = model(ids[:, t : t + 1], attention_mask=mask[:, : t + 1], position_ids=positions[:, t : t + 1],
                        past_key_values=cache, use_cache=True)
            steps.append(out.logits)
    real = mask.bool()
    torch.testing.assert_close(torch.cat(steps, dim=1)[real], full[real], atol=1e-5, rtol=1e-5)


def test_legacy_tuple_cache_is_accepted():
    model = _model()
    ids = _ids()
    with torch.no_grad():
        full = model(ids).logits
        prefill = model(ids[:, :9], use_cache=True)
        legacy = prefill.past_key_values.to_legacy_cache()
        assert len(legacy) == 2 and legacy[0][0].shape == (2, 2, 9, 8)
        last = model(ids[:, 9:], past_key_values=legacy, use_cache=True).logits
    torch.testing.assert_close(last[:, 0], full[:, 9], atol=1e-5, rtol=1e-5)


def test_eager_equals_sdpa_whole_model():
    ids = _ids()
    mask = torch.ones_like(ids)
    mask[0, :4] = 0
    with torch.no_grad():
        eager = _model("qwen2", "eager")(ids, attention_mask=mask).logits
        sdpa = _model("qwen2", "sdpa")(ids, attention_mask=mask).logits
    torch.testing.assert_close(eager[mask.bool()], sdpa[mask.bool()], atol=1e-5, rtol=1e-5)


def test_packed_rows_equal_separate_sequences():
    model = _model()
    a, b = _ids(1, 4, seed=2), _ids(1, 6, seed=3)
    packed = torch.cat([a, b], dim=1)
    positions = torch.cat([torch.arange(4), torch.arange(6)])[None]
    with torch.no_grad():
        together = model(packed, position_ids=positions).logits
        separate = torch.cat([model(a).logits, model(b).logits], dim=1)
    torch.testing.assert_close(together, separate, atol=1e-5, rtol=1e-5)


# ---- training --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["llama", "qwen3"])
def test_gradient_checkpointing_gives_the_same_gradients(family):
    ids = _ids()
    grads = []
    for checkpointing in (False, True):
        model = _model(family).train()
        model.config.attention_dropout = 0.0
        if checkpointing:
            model.gradient_checkpointing_enable()
            assert model.model.gradient_checkpointing
        loss = model(ids, labels=ids).loss
        loss.backward()
        grads.append({name: p.grad.clone() for name, p in model.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-6, rtol=1e-5, msg=name)


def test_causal_lm_loss_shifts_and_ignores():
    model = _model()
    ids = _ids()
    labels = ids.clone()
    labels[:, :3] = -100
    out = model(ids, labels=labels)
    logits = out.logits[:, :-1].reshape(-1, 50)
    expected = torch.nn.functional.cross_entropy(logits, labels[:, 1:].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(out.loss, expected)
    counted = (labels[:, 1:] != -100).sum()
    summed = causal_lm_loss(out.logits, labels, num_items_in_batch=counted)
    torch.testing.assert_close(summed, expected)


def test_logits_to_keep():
    model = _model()
    ids = _ids()
    with torch.no_grad():
        full = model(ids).logits
        last = model(ids, logits_to_keep=1).logits
        old_name = model(ids, num_logits_to_keep=3).logits
        chosen = model(ids, logits_to_keep=torch.tensor([0, 5])).logits
    assert last.shape == (2, 1, 50)
    torch.testing.assert_close(last, full[:, -1:])
    torch.testing.assert_close(old_name, full[:, -3:])
    torch.testing.assert_close(chosen, full[:, [0, 5]])


def test_hidden_states_and_attentions():
    model = _model()  # sdpa: asking for attentions runs the eager path
    ids = _ids()
    with torch.no_grad():
        out = model(ids, output_hidden_states=True, output_attentions=True)
        base = model.model(ids)
    assert len(out.hidden_states) == 3
    torch.testing.assert_close(out.hidden_states[-1], base.last_hidden_state)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (2, 4, 10, 10)
    torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones(2, 4, 10))
    assert float(out.attentions[0][0, 0].triu(1).abs().sum()) == 0.0  # causal
    tuple_out = model(ids, return_dict=False)
    torch.testing.assert_close(tuple_out[0], out.logits)


# ---- heads -----------------------------------------------------------------------------------------------------
def test_sequence_classification_pools_last_real_token():
    torch.manual_seed(0)
    config = LlamaConfig(**TINY, num_labels=3)
    model = LlamaForSequenceClassification(config).eval()
    ids = _ids()
    ids[0, 7:] = 0  # right padding: last real token at 6
    with torch.no_grad():
        out = model(ids, attention_mask=(ids != 0).long(), labels=torch.tensor([0, 2]))
        per_token = model.score(model.model(ids, attention_mask=(ids != 0).long()).last_hidden_state)
    torch.testing.assert_close(out.logits[0], per_token[0, 6])
    torch.testing.assert_close(out.logits[1], per_token[1, 9])
    assert out.loss is not None and config.problem_type == "single_label_classification"


def test_sequence_classification_without_pad_token_needs_batch_of_one():
    config = LlamaConfig(**{**TINY, "pad_token_id": None})
    model = LlamaForSequenceClassification(config).eval()
    assert model(_ids(1)).logits.shape == (1, 2)
    with pytest.raises(ModelError, match="pad_token_id"):
        model(_ids(2))


def test_token_classification_and_question_answering_shapes_and_losses():
    config = LlamaConfig(**TINY, num_labels=5)
    ids = _ids()
    token = LlamaForTokenClassification(config).eval()
    labels = torch.randint(0, 5, ids.shape)
    labels[:, 0] = -100
    out = token(ids, labels=labels)
    assert out.logits.shape == (2, 10, 5) and torch.isfinite(out.loss)
    qa = LlamaForQuestionAnswering(config).eval()
    assert "transformer.embed_tokens.weight" in qa.state_dict()
    out = qa(ids, start_positions=torch.tensor([1, 2]), end_positions=torch.tensor([3, 40]))
    assert out.start_logits.shape == (2, 10) and torch.isfinite(out.loss)


def test_state_dict_keys_follow_transformers_layout():
    keys = set(_model("qwen3").state_dict())
    assert {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
            "model.layers.1.self_attn.q_norm.weight", "model.layers.0.mlp.gate_proj.weight"} <= keys
    qwen2 = set(_model("qwen2").state_dict())
    assert "model.layers.0.self_attn.q_proj.bias" in qwen2 and "model.layers.0.self_attn.o_proj.bias" not in qwen2
    assert not any("rotary" in key for key in keys)


def test_tied_embeddings():
    model = _model(tie_word_embeddings=True)
    assert model.lm_head.weight is model.model.embed_tokens.weight


def test_base_model_output_and_cache_position():
    model = LlamaModel(LlamaConfig(**TINY)).eval()
    ids = _ids()
    with torch.no_grad():
        full = model(ids).last_hidden_state
        first = model(ids[:, :4], use_cache=True)
        rest = model(ids[:, 4:], past_key_values=first.past_key_values, cache_position=torch.arange(4, 10))
    torch.testing.assert_close(rest.last_hidden_state, full[:, 4:], atol=1e-5, rtol=1e-5)


# ---- configs ---------------------------------------------------------------------------------------------------
def test_family_configs_and_windows():
    qwen2 = Qwen2Config(num_hidden_layers=4, use_sliding_window=True, sliding_window=16, max_window_layers=2)
    assert qwen2.layer_types == ["full_attention"] * 2 + ["sliding_attention"] * 2
    assert [qwen2.layer_sliding_window(i) for i in range(4)] == [None, None, 16, 16]
    assert Qwen2Config(sliding_window=16).sliding_window is None  # off unless use_sliding_window
    assert MistralConfig().layer_sliding_window(0) == 4096
    assert LlamaConfig().layer_sliding_window(0) is None
    assert Qwen3Config().head_dim == 128 and Qwen3Config().use_qk_norm
    assert LlamaConfig(eos_token_id=[1, 2]).eos_token_id == [1, 2]


def test_config_round_trip_keeps_rope_parameters(tmp_path):
    config = LlamaConfig(**TINY, rope_scaling={"type": "linear", "factor": 2.0}, rope_theta=1e6)
    config.save_pretrained(tmp_path)
    loaded = LlamaConfig.from_pretrained(tmp_path)
    assert loaded.rope_parameters == {"rope_type": "linear", "factor": 2.0, "rope_theta": 1e6}
    assert loaded.rope_theta == 1e6


def test_config_errors_name_the_field():
    with pytest.raises(ModelError, match="num_key_value_heads"):
        LlamaConfig(num_attention_heads=4, num_key_value_heads=3)
    with pytest.raises(ModelError, match="hidden_act"):
        LlamaConfig(hidden_act="mystery")
    with pytest.raises(ModelError, match="input_ids"):
        _model()(None)
