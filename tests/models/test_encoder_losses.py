"""Unit tests of snuggle.models.encoder_losses and encoder_attention (no model needed)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from snuggle.errors import ModelError
from snuggle.models.encoder_attention import (
    activation_from_name,
    additive_padding_mask,
    encoder_self_attention,
)
from snuggle.models.encoder_losses import (
    infer_problem_type,
    question_answering_loss,
    sequence_classification_loss,
)


def test_infer_problem_type():
    assert infer_problem_type(1, torch.tensor([1])) == "regression"
    assert infer_problem_type(2, torch.tensor([1], dtype=torch.int32)) == "single_label_classification"
    assert infer_problem_type(2, torch.tensor([[1.0, 0.0]])) == "multi_label_classification"


def test_explicit_problem_type_wins_and_bad_one_is_named():
    logits = torch.tensor([[0.2, -0.3]])
    config = SimpleNamespace(num_labels=2, problem_type="multi_label_classification")
    loss = sequence_classification_loss(logits, torch.tensor([[1.0, 0.0]]), config)
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(logits, torch.tensor([[1.0, 0.0]])))
    with pytest.raises(ModelError, match="problem_type='nonsense'"):
        sequence_classification_loss(logits, torch.tensor([1]), SimpleNamespace(num_labels=2, problem_type="nonsense"))


def test_question_answering_loss_needs_both_positions():
    start = torch.randn(2, 5)
    assert question_answering_loss(start, start, torch.tensor([1, 2]), None) is None
    loss = question_answering_loss(start, start, torch.tensor([[1], [2]]), torch.tensor([[1], [2]]))
    torch.testing.assert_close(loss, F.cross_entropy(start, torch.tensor([1, 2])))


def test_padding_mask_forms():
    assert additive_padding_mask(torch.ones(2, 3, dtype=torch.long), torch.float32, (2, 3)) is None
    mask = additive_padding_mask(torch.tensor([[1, 0]]), torch.float16, (1, 2))
    assert mask.shape == (1, 1, 1, 2) and mask.dtype == torch.float16
    assert mask[0, 0, 0, 1].item() == torch.finfo(torch.float16).min
    four_d = torch.tensor([[[[True, False]]]])
    assert additive_padding_mask(four_d, torch.float32, (1, 2))[0, 0, 0].tolist() == [0.0, torch.finfo().min]


def test_sdpa_and_eager_agree_with_padding():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4) for _ in range(3))
    mask = additive_padding_mask(torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]), torch.float32, (2, 5))
    eager_config = SimpleNamespace(_attn_implementation="eager")
    sdpa_config = SimpleNamespace(_attn_implementation="sdpa")
    eager, weights = encoder_self_attention(q, k, v, mask, config=eager_config, output_attentions=True)
    sdpa, none = encoder_self_attention(q, k, v, mask, config=sdpa_config)
    assert none is None and weights.shape == (2, 3, 5, 5)
    torch.testing.assert_close(sdpa, eager, atol=1e-5, rtol=1e-5)
    with pytest.raises(ModelError, match="attn_implementation"):
        encoder_self_attention(q, k, v, mask, config=SimpleNamespace(_attn_implementation="flash"))


def test_activation_names():
    x = torch.linspace(-3, 3, 7)
    torch.testing.assert_close(activation_from_name("gelu")(x), F.gelu(x))
    torch.testing.assert_close(activation_from_name("gelu_new")(x), F.gelu(x, approximate="tanh"))
    with pytest.raises(ModelError, match="hidden_act='nope'"):
        activation_from_name("nope")
