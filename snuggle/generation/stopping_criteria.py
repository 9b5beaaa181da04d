"""Stopping criteria: each returns a (batch,) bool tensor, True where that sequence is finished.

>>> import torch
>>> MaxLengthCriteria(max_length=3)(torch.tensor([[1, 2, 3]]), None)
tensor([True])
"""

from __future__ import annotations

import torch

from snuggle.errors import ConfigError


class StoppingCriteria:
    """Base class: `__call__(input_ids, scores) -> BoolTensor (batch,)`."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor | None, **kwargs) -> torch.BoolTensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")


class MaxLengthCriteria(StoppingCriteria):
    """Stop once the sequence (prompt included) reaches `max_length` tokens."""

    def __init__(self, max_length: int, max_position_embeddings: int | None = None) -> None:
        if not isinstance(max_length, int) or max_length <= 0:
            raise ConfigError(f"`max_length` must be a positive integer, but is {max_length!r}")
        self.max_length = max_length
        self.max_position_embeddings = max_position_embeddings

    def __call__(self, input_ids, scores, **kwargs):
        done = input_ids.shape[-1] >= self.max_length
        return torch.full((input_ids.shape[0],), done, device=input_ids.device, dtype=torch.bool)


class EosTokenCriteria(StoppingCriteria):
    """Stop a sequence whose last token is one of the eos ids."""

    def __init__(self, eos_token_id: int | list[int] | torch.Tensor) -> None:
        if not isinstance(eos_token_id, torch.Tensor):
            eos_token_id = torch.tensor([eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id))
        self.eos_token_id = eos_token_id

    def __call__(self, input_ids, scores, **kwargs):
        return torch.isin(input_ids[:, -1], self.eos_token_id.to(input_ids.device))


class StoppingCriteriaList(list):
    """All criteria OR-ed together."""

    def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for criteria in self:
            done = done | criteria(input_ids, scores, **kwargs)
        return done

    @property
    def max_length(self) -> int | None:
        for criteria in self:
            if isinstance(criteria, MaxLengthCriteria):
                return criteria.max_length
        return None
