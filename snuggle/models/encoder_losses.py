"""Losses of the encoder task heads, with the reference's rules written once.

>>> import torch
>>> from types import SimpleNamespace
>>> config = SimpleNamespace(num_labels=1, problem_type=None)
>>> float(sequence_classification_loss(torch.tensor([[0.5]]), torch.tensor([1.5]), config))
1.0
>>> config.problem_type
'regression'
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from snuggle.errors import ModelError

PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")


def infer_problem_type(num_labels: int, labels: torch.Tensor) -> str:
    """1 label -> regression; integer labels -> single-label; anything else (floats) -> multi-label."""
    if num_labels == 1:
        return "regression"
    if labels.dtype in (torch.long, torch.int):
        return "single_label_classification"
    return "multi_label_classification"


def sequence_classification_loss(logits, labels, config):
    """MSE, cross-entropy or BCE-with-logits according to `config.problem_type`.

    When `problem_type` is unset it is inferred from the first labels seen and stored on the
    config (so it is saved with the model), exactly as transformers does.
    """
    num_labels = config.num_labels
    labels = labels.to(logits.device)
    if config.problem_type is None:
        config.problem_type = infer_problem_type(num_labels, labels)
    problem_type = config.problem_type
    if problem_type == "regression":
        if num_labels == 1:
            return F.mse_loss(logits.squeeze(), labels.squeeze())
        return F.mse_loss(logits, labels)
    if problem_type == "single_label_classification":
        return F.cross_entropy(logits.view(-1, num_labels), labels.view(-1))
    if problem_type == "multi_label_classification":
        return F.binary_cross_entropy_with_logits(logits, labels)
    raise ModelError(f"config.problem_type={problem_type!r} is not one of {', '.join(PROBLEM_TYPES)}")


def question_answering_loss(start_logits, end_logits, start_positions, end_positions):
    """Mean of start and end cross-entropies; positions outside the sequence are ignored.

    Returns None unless both position tensors are given.
    """
    if start_positions is None or end_positions is None:
        return None
    if start_positions.dim() > 1:
        start_positions = start_positions.squeeze(-1)
    if end_positions.dim() > 1:
        end_positions = end_positions.squeeze(-1)
    # positions past the end are clamped to seq_len and then ignored, as in the reference
    ignored_index = start_logits.size(1)
    start_positions = start_positions.to(start_logits.device).clamp(0, ignored_index)
    end_positions = end_positions.to(end_logits.device).clamp(0, ignored_index)
    start_loss = F.cross_entropy(start_logits, start_positions, ignore_index=ignored_index)
    end_loss = F.cross_entropy(end_logits, end_positions, ignore_index=ignored_index)
    return (start_loss + end_loss) / 2
