"""Unit tests of snuggle.models.distilbert: config aliases, sinusoidal positions, heads, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from snuggle.errors import ModelError
from snuggle.models.distilbert import (
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertModel,
    sinusoidal_position_table,
)


def tiny_config(**overrides):
    settings = {"vocab_size": 99, "dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 37, "max_position_embeddings": 64}
    settings.update(overrides)
    return DistilBertConfig(**settings)


def test_config_aliases():
    config = tiny_config()
    assert (config.hidden_size, config.num_attention_heads, config.num_hidden_layers) == (32, 4, 2)
    config.hidden_size = 48
    assert config.dim == 48


def test_sinusoidal_table_follows_the_formula():
    table = sinusoidal_position_table(10, 6)
    position, column = 7, 3  # odd column: cos of the angle of pair 1
    assert table[position, column].item() == pytest.approx(math.cos(position / 10000 ** (2 * 1 / 6)), abs=1e-6)
    assert table[position, 2].item() == pytest.approx(math.sin(position / 10000 ** (2 * 1 / 6)), abs=1e-6)
    model = DistilBertModel(tiny_config(sinusoidal_pos_embds=True))
    torch.testing.assert_close(model.embeddings.position_embeddings.weight, sinusoidal_position_table(64, 32))


def test_state_dict_names_and_tying():
    model = DistilBertForMaskedLM(tiny_config())
    keys = set(model.state_dict())
    assert {"distilbert.transformer.layer.1.attention.q_lin.weight", "distilbert.transformer.layer.0.ffn.lin2.bias",
            "distilbert.transformer.layer.0.sa_layer_norm.weight", "vocab_transform.weight",
            "vocab_layer_norm.bias", "vocab_projector.bias"} <= keys
    assert model.vocab_projector.weight is model.distilbert.embeddings.word_embeddings.weight


def test_padding_does_not_change_real_tokens():
    torch.manual_seed(0)
    model = DistilBertModel(tiny_config()).eval()
    with torch.no_grad():
        plain = model(torch.tensor([[5, 6, 7]])).last_hidden_state
        padded = model(torch.tensor([[5, 6, 7, 0]]), attention_mask=torch.tensor([[1, 1, 1, 0]])).last_hidden_state
    torch.testing.assert_close(padded[:, :3], plain, atol=1e-5, rtol=1e-5)


def test_sequence_classification_regression():
    config = tiny_config(num_labels=1)
    model = DistilBertForSequenceClassification(config).eval()
    out = model(torch.tensor([[2, 3], [4, 5]]), labels=torch.tensor([0.5, 1.0]))
    assert config.problem_type == "regression"
    torch.testing.assert_close(out.loss, torch.nn.functional.mse_loss(out.logits.squeeze(), torch.tensor([0.5, 1.0])))


def test_question_answering_needs_two_labels():
    with pytest.raises(ModelError, match="num_labels == 2"):
        DistilBertForQuestionAnswering(tiny_config(num_labels=3))
