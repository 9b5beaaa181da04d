"""Unit tests of snuggle.models.bert: shapes, masks, tying, losses, output flags and bad input."""

from __future__ import annotations

import pytest
import torch

from snuggle.errors import ModelError
from snuggle.models.bert import (
    BertConfig,
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)


def tiny_config(**overrides):
    settings = {"vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                    "intermediate_size": 37, "max_position_embeddings": 64}
    settings.update(overrides)
    return BertConfig(**settings)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return BertModel(tiny_config()).eval()


def test_state_dict_uses_transformers_names():
    keys = set(BertForMaskedLM(tiny_config()).state_dict())
    assert "bert.embeddings.word_embeddings.weight" in keys
    assert "bert.encoder.layer.1.attention.self.query.weight" in keys
    assert "bert.encoder.layer.0.attention.output.LayerNorm.bias" in keys
    assert "bert.encoder.layer.0.intermediate.dense.weight" in keys
    assert "cls.predictions.transform.LayerNorm.weight" in keys
    assert "cls.predictions.bias" in keys
    assert not any(key.endswith("position_ids") for key in keys)  # buffer is not persistent
    assert "bert.pooler.dense.weight" in set(BertForSequenceClassification(tiny_config()).state_dict())
    assert not any("pooler" in key for key in keys)


def test_masked_lm_decoder_is_tied_to_word_embeddings():
    model = BertForMaskedLM(tiny_config())
    decoder = model.get_output_embeddings()
    assert decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert decoder.bias is model.cls.predictions.bias


def test_padding_does_not_change_real_tokens(model):
    ids = torch.tensor([[5, 6, 7, 8]])
    padded = torch.tensor([[5, 6, 7, 8, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        plain = model(ids).last_hidden_state
        with_padding = model(padded, attention_mask=mask).last_hidden_state[:, :4]
    torch.testing.assert_close(with_padding, plain, atol=1e-5, rtol=1e-5)


def test_eager_and_sdpa_agree(model):
    ids = torch.randint(1, 99, (2, 6))
    mask = torch.ones_like(ids)
    mask[0, -2:] = 0
    with torch.no_grad():
        model.config._attn_implementation = "sdpa"
        sdpa = model(ids, attention_mask=mask).last_hidden_state
        model.config._attn_implementation = "eager"
        eager = model(ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(sdpa, eager, atol=1e-5, rtol=1e-5)


def test_attention_maps_ignore_padding_and_sum_to_one(model):
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    out = model(torch.tensor([[2, 3, 4, 0, 0]]), attention_mask=mask, output_attentions=True,
                output_hidden_states=True)
    assert len(out.attentions) == 2 and len(out.hidden_states) == 3
    weights = out.attentions[0]
    assert weights.shape == (1, 4, 5, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, 4, 5))
    assert float(weights[..., 3:].detach().abs().max()) == 0.0
    assert out.hidden_states[-1] is out.last_hidden_state


def test_inputs_embeds_equal_input_ids(model):
    ids = torch.tensor([[4, 9, 2]])
    with torch.no_grad():
        by_ids = model(ids).last_hidden_state
        by_embeds = model(inputs_embeds=model.embeddings.word_embeddings(ids)).last_hidden_state
    torch.testing.assert_close(by_embeds, by_ids)


def test_return_dict_false_gives_tuple(model):
    out = model(torch.tensor([[4, 9, 2]]), return_dict=False)
    assert isinstance(out, tuple) and len(out) == 2 and out[1].shape == (1, 32)


def test_token_type_ids_matter(model):
    ids = torch.tensor([[4, 9, 2]])
    with torch.no_grad():
        a = model(ids).last_hidden_state
        b = model(ids, token_type_ids=torch.tensor([[0, 1, 1]])).last_hidden_state
    assert not torch.allclose(a, b)


@pytest.mark.parametrize(
    "num_labels,labels,problem_type",
    [
        (1, torch.tensor([0.5, -1.0]), "regression"),
        (3, torch.tensor([0, 2]), "single_label_classification"),
        (3, torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]), "multi_label_classification"),
    ],
)
def test_sequence_classification_infers_problem_type(num_labels, labels, problem_type):
    config = tiny_config(num_labels=num_labels)
    model = BertForSequenceClassification(config)
    out = model(torch.tensor([[2, 3, 4], [5, 6, 7]]), labels=labels)
    assert config.problem_type == problem_type
    assert out.logits.shape == (2, num_labels) and out.loss.dim() == 0
    out.loss.backward()
    assert model.classifier.weight.grad is not None


def test_token_classification_ignores_minus_100():
    model = BertForTokenClassification(tiny_config(num_labels=5)).eval()
    ids = torch.tensor([[2, 3, 4]])
    out = model(ids, labels=torch.tensor([[1, -100, 4]]))
    expected = torch.nn.functional.cross_entropy(out.logits[0, [0, 2]], torch.tensor([1, 4]))
    torch.testing.assert_close(out.loss, expected)


def test_question_answering_ignores_positions_past_the_end():
    model = BertForQuestionAnswering(tiny_config()).eval()
    ids = torch.tensor([[2, 3, 4, 5], [6, 7, 8, 9]])
    out = model(ids, start_positions=torch.tensor([1, 0]), end_positions=torch.tensor([99, 2]))
    start_loss = torch.nn.functional.cross_entropy(out.start_logits, torch.tensor([1, 0]))
    end_loss = torch.nn.functional.cross_entropy(out.end_logits[1:], torch.tensor([2]))  # row 0 is ignored
    torch.testing.assert_close(out.loss, (start_loss + end_loss) / 2)
    assert out.start_logits.shape == out.end_logits.shape == (2, 4)


def test_multiple_choice_and_pretraining_shapes():
    choices = BertForMultipleChoice(tiny_config()).eval()
    out = choices(torch.randint(1, 99, (2, 3, 5)), labels=torch.tensor([0, 2]))
    assert out.logits.shape == (2, 3) and out.loss.dim() == 0
    pretraining = BertForPreTraining(tiny_config()).eval()
    out = pretraining(torch.tensor([[2, 3, 4]]), labels=torch.tensor([[-100, 3, -100]]),
                      next_sentence_label=torch.tensor([1]))
    assert out.prediction_logits.shape == (1, 3, 99) and out.seq_relationship_logits.shape == (1, 2)
    assert out.loss.dim() == 0


def test_heads_must_divide_hidden_size():
    with pytest.raises(ModelError, match="num_attention_heads"):
        BertModel(tiny_config(hidden_size=30))


def test_unknown_activation_is_named():
    with pytest.raises(ModelError, match="hidden_act='swishy'"):
        BertModel(tiny_config(hidden_act="swishy"))


def test_cross_attention_is_refused():
    with pytest.raises(ModelError, match="add_cross_attention"):
        BertModel(tiny_config(is_decoder=True, add_cross_attention=True))


def test_bad_inputs_are_reported(model):
    with pytest.raises(ModelError, match="exactly one of input_ids or inputs_embeds"):
        model()
    with pytest.raises(ModelError, match="attention_mask has shape"):
        model(torch.tensor([[1, 2, 3]]), attention_mask=torch.tensor([[1, 1]]))


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=3)
    model = BertForSequenceClassification(config).train()
    inputs = {"input_ids": torch.tensor([[2, 3, 4, 0]]), "attention_mask": torch.tensor([[1, 1, 1, 0]]),
                  "labels": torch.tensor([1])}
    model(**inputs).loss.backward()
    expected = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    model.gradient_checkpointing_enable()
    assert model.bert.encoder.gradient_checkpointing
    model(**inputs).loss.backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, expected[name], msg=lambda m, name=name: f"{name}: {m}")
