"""Unit tests of snuggle.models.roberta: padding-aware positions and the RoBERTa head layouts."""

from __future__ import annotations

import torch

from snuggle.models.roberta import (
    RobertaConfig,
    RobertaEmbeddings,
    RobertaForMaskedLM,
    RobertaForSequenceClassification,
    RobertaModel,
)


def tiny_config(**overrides):
    settings = {"vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                    "intermediate_size": 37, "max_position_embeddings": 64, "type_vocab_size": 1}
    settings.update(overrides)
    return RobertaConfig(**settings)


def test_defaults_follow_roberta():
    config = RobertaConfig()
    assert (config.model_type, config.pad_token_id, config.bos_token_id, config.eos_token_id) == ("roberta", 1, 0, 2)
    assert config.vocab_size == 50265


def test_position_ids_skip_padding_on_either_side():
    ids = torch.tensor([[1, 1, 0, 7, 2], [0, 7, 2, 1, 1]])
    positions = RobertaEmbeddings.position_ids_from_input_ids(ids, padding_idx=1)
    assert positions.tolist() == [[1, 1, 2, 3, 4], [2, 3, 4, 1, 1]]
    embeds = torch.zeros(2, 3, 4)
    assert RobertaEmbeddings.position_ids_from_inputs_embeds(embeds, padding_idx=1).tolist() == [[2, 3, 4]] * 2


def test_left_padding_gives_the_same_states():
    torch.manual_seed(0)
    model = RobertaModel(tiny_config()).eval()
    plain = torch.tensor([[0, 5, 6, 2]])
    left_padded = torch.tensor([[1, 1, 0, 5, 6, 2]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1]])
    with torch.no_grad():
        expected = model(plain).last_hidden_state
        got = model(left_padded, attention_mask=mask).last_hidden_state[:, 2:]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_head_layouts_and_tying():
    mlm = RobertaForMaskedLM(tiny_config())
    keys = set(mlm.state_dict())
    assert {"lm_head.dense.weight", "lm_head.layer_norm.weight", "lm_head.bias"} <= keys
    assert "roberta.encoder.layer.1.attention.self.value.weight" in keys
    assert mlm.lm_head.decoder.weight is mlm.roberta.embeddings.word_embeddings.weight
    assert mlm.lm_head.decoder.bias is mlm.lm_head.bias
    classifier = RobertaForSequenceClassification(tiny_config(num_labels=3))
    keys = set(classifier.state_dict())
    assert {"classifier.dense.weight", "classifier.out_proj.weight"} <= keys
    assert not any("pooler" in key for key in keys)
    out = classifier(torch.tensor([[0, 5, 2]]), labels=torch.tensor([2]))
    assert out.logits.shape == (1, 3) and classifier.config.problem_type == "single_label_classification"
