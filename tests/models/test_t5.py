"""T5 unit tests: config derivations, relative buckets, RMS norm, shift_right, cached decoding == full forward."""

from __future__ import annotations

import pytest
import torch

from snuggle.errors import ModelError
from snuggle.models.cache import EncoderDecoderCache
from snuggle.models.t5 import (
    T5Config,
    T5EncoderModel,
    T5ForConditionalGeneration,
    T5ForSequenceClassification,
    T5LayerNorm,
    T5Model,
    relative_position_bucket,
)


def tiny_config(**overrides):
    values = {"vocab_size": 40, "d_model": 16, "d_kv": 4, "d_ff": 24, "num_layers": 2, "num_decoder_layers": 3, "num_heads": 4,
                  "relative_attention_num_buckets": 8, "relative_attention_max_distance": 16}
    values.update(overrides)
    return T5Config(**values)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return T5ForConditionalGeneration(tiny_config()).eval()


def test_config_derived_fields_and_aliases(tmp_path):
    config = tiny_config(feed_forward_proj="gated-silu", tie_word_embeddings=False)
    assert (config.is_gated_act, config.dense_act_fn, config.scale_decoder_outputs) == (True, "silu", False)
    assert (config.hidden_size, config.num_attention_heads, config.num_hidden_layers, config.head_dim) == (16, 4, 2, 4)
    # like the reference's T5Config, no decoder_start_token_id is stored; decoding starts from the pad id
    assert getattr(config, "decoder_start_token_id", None) is None and config.pad_token_id == 0
    config.save_pretrained(tmp_path)
    loaded = T5Config.from_pretrained(tmp_path)
    assert (loaded.scale_decoder_outputs, loaded.num_decoder_layers, loaded.is_gated_act) == (False, 3, True)
    with pytest.raises(ModelError, match="feed_forward_proj"):
        T5Config(feed_forward_proj="gelu-gated-x")


def test_relative_buckets_are_exact_near_and_logarithmic_far():
    positions = torch.arange(-40, 41)
    bidirectional = relative_position_bucket(positions, bidirectional=True, num_buckets=32, max_distance=128)
    assert bidirectional[40 - 3] == 3 and bidirectional[40 + 3] == 16 + 3 and bidirectional[40] == 0
    assert int(bidirectional.max()) <= 31
    causal = relative_position_bucket(positions, bidirectional=False, num_buckets=32, max_distance=128)
    assert (causal[41:] == 0).all()  # keys after the query are all one bucket
    assert causal[40 - 15] == 15 and 16 <= int(causal[0]) <= 31
    far = relative_position_bucket(torch.tensor([-1000, -10_000]), bidirectional=False, num_buckets=32)
    assert far.tolist() == [31, 31]


def test_layer_norm_is_rms_without_bias():
    norm = T5LayerNorm(4, eps=0.0)
    x = torch.tensor([[1.0, -1.0, 1.0, -1.0]]) * 3
    torch.testing.assert_close(norm(x), torch.tensor([[1.0, -1.0, 1.0, -1.0]]))
    assert [name for name, _ in norm.named_parameters()] == ["weight"]


def test_shift_right_and_errors(model):
    assert model._shift_right(torch.tensor([[4, 5, -100]])).tolist() == [[0, 4, 5]]
    config = tiny_config()
    config.decoder_start_token_id = 7  # an explicit start token wins over the pad id
    assert T5Model(config)._shift_right(torch.tensor([[4, 5]])).tolist() == [[7, 4]]
    config = tiny_config()
    config.pad_token_id = None  # neither a start token nor a pad id: a clear error
    with pytest.raises(ModelError, match="decoder_start_token_id"):
        T5Model(config)._shift_right(torch.tensor([[1]]))


def test_state_dict_keys_and_tied_embeddings(model):
    keys = set(model.state_dict())
    assert "shared.weight" in keys
    assert "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight" in keys
    assert "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight" not in keys
    assert "decoder.block.2.layer.1.EncDecAttention.q.weight" in keys
    assert "decoder.block.0.layer.2.DenseReluDense.wi.weight" in keys
    assert model.encoder.embed_tokens is model.shared is model.decoder.embed_tokens
    assert model.lm_head.weight is model.shared.weight


def test_cached_decoding_equals_full_forward(model):
    input_ids = torch.tensor([[5, 6, 7, 1], [8, 9, 1, 0]])
    attention_mask = (input_ids != 0).long()
    decoder_ids = torch.tensor([[0, 10, 11, 12], [0, 13, 14, 15]])
    with torch.no_grad():
        full = model(input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids).logits
        encoder_outputs = model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask)
        cache, steps = None, []
        for position in range(decoder_ids.shape[1]):
            out = model(encoder_outputs=encoder_outputs, attention_mask=attention_mask, past_key_values=cache,
                        decoder_input_ids=decoder_ids[:, position:position + 1], use_cache=True)
            cache = out.past_key_values
            steps.append(out.logits)
    assert isinstance(cache, EncoderDecoderCache) and cache.get_seq_length() == 4
    assert all(cache.is_updated.values()) and len(cache.is_updated) == 3
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)
    # the same steps through the transformers-4 tuple format
    legacy = cache.to_legacy_cache()
    assert len(legacy) == 3 and len(legacy[0]) == 4


def test_encoder_padding_does_not_change_real_positions():
    torch.manual_seed(0)
    encoder = T5EncoderModel(tiny_config()).eval()
    with torch.no_grad():
        padded = encoder(torch.tensor([[5, 6, 1, 0, 0]]), attention_mask=torch.tensor([[1, 1, 1, 0, 0]]))
        alone = encoder(torch.tensor([[5, 6, 1]]))
    torch.testing.assert_close(padded.last_hidden_state[:, :3], alone.last_hidden_state, atol=1e-5, rtol=0)


def test_eager_and_sdpa_agree(model):
    input_ids = torch.tensor([[5, 6, 7, 1], [8, 9, 1, 0]])
    mask = (input_ids != 0).long()
    labels = torch.tensor([[10, 11, 1], [12, 1, -100]])
    with torch.no_grad():
        sdpa = model(input_ids, attention_mask=mask, labels=labels)
        eager = model(input_ids, attention_mask=mask, labels=labels, output_attentions=True)
    torch.testing.assert_close(eager.logits, sdpa.logits, atol=1e-5, rtol=0)
    assert len(eager.cross_attentions) == 3 and eager.cross_attentions[0].shape == (2, 4, 3, 4)
    assert float(eager.cross_attentions[0][1, :, :, 3].abs().max()) == 0.0  # padded encoder token unseen


def test_sequence_classification_needs_eos():
    torch.manual_seed(0)
    model = T5ForSequenceClassification(tiny_config(num_labels=3)).eval()
    out = model(torch.tensor([[5, 6, 1], [7, 1, 0]]), labels=torch.tensor([0, 2]))
    assert out.logits.shape == (2, 3) and out.loss.ndim == 0
    with pytest.raises(ModelError, match="eos"):
        model(torch.tensor([[5, 6, 7]]))


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(tiny_config(dropout_rate=0.0)).train()
    inputs = {"input_ids": torch.tensor([[5, 6, 1]]), "labels": torch.tensor([[7, 8, 1]])}
    model(**inputs).loss.backward()
    plain = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.gradient_checkpointing_enable()
    model(**inputs).loss.backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, plain[name], atol=1e-6, rtol=0)


def test_resize_token_embeddings_keeps_everything_tied():
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(tiny_config())
    model.resize_token_embeddings(48)
    assert model.shared.weight.shape == (48, 16)
    assert model.encoder.embed_tokens is model.shared and model.decoder.embed_tokens is model.shared
    assert model.lm_head.weight is model.shared.weight
    assert model(torch.tensor([[47, 1]]), labels=torch.tensor([[47, 1]])).logits.shape == (1, 2, 48)
