"""resize_token_embeddings: grow or shrink a model's vocabulary after adding tokens.

New rows follow the reference's "mean resizing": they are drawn from a normal distribution with the
old rows' mean and 1e-9 x their covariance (so new tokens start at the average embedding and the
model's next-token distribution barely moves), or set to the mean when the covariance is not
positive definite. With mean_resizing=False they get the model's usual `_init_weights`.

>>> # model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from snuggle.errors import ModelError


def _padded_size(new_num_tokens: int | None, old_num_tokens: int, pad_to_multiple_of: int | None) -> int | None:
    if pad_to_multiple_of is None:
        return new_num_tokens
    if isinstance(pad_to_multiple_of, bool) or not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of <= 0:
        raise ModelError(f"pad_to_multiple_of must be a positive int, got {pad_to_multiple_of!r}")
    size = old_num_tokens if new_num_tokens is None else new_num_tokens
    return math.ceil(size / pad_to_multiple_of) * pad_to_multiple_of


@torch.no_grad()
def mean_init_rows(old_weight: torch.Tensor, new_rows: torch.Tensor) -> None:
    """Fill `new_rows` (added, dim) from N(mean, 1e-9 * cov) of `old_weight` rows, or with the mean."""
    old = old_weight.to(torch.float32)
    mean = old.mean(dim=0)
    centered = old - mean
    covariance = centered.T @ centered / old.shape[0]
    scaled = 1e-9 * covariance
    if bool(torch.distributions.constraints.positive_definite.check(scaled).all()):
        dist = torch.distributions.MultivariateNormal(mean, covariance_matrix=scaled)
        new_rows.copy_(dist.sample((new_rows.shape[0],)).to(new_rows.dtype))
    else:
        new_rows.copy_(mean[None, :].expand_as(new_rows).to(new_rows.dtype))


@torch.no_grad()
def resized_embedding(model, old: nn.Embedding, new_num_tokens: int, mean_resizing: bool) -> nn.Embedding:
    """Resize `old` in place (same module object, new weight) and return it."""
    old_num, dim = old.weight.shape
    fresh = nn.Embedding(new_num_tokens, dim, device=old.weight.device, dtype=old.weight.dtype)
    model._init_weights(fresh)
    added = new_num_tokens - old_num
    if added > 0 and mean_resizing:
        mean_init_rows(old.weight.data, fresh.weight.data[-added:])
    n = min(old_num, new_num_tokens)
    fresh.weight.data[:n] = old.weight.data[:n]
    requires_grad = old.weight.requires_grad
    old.weight = nn.Parameter(fresh.weight.data, requires_grad=requires_grad)
    old.num_embeddings = new_num_tokens
    if old.padding_idx is not None and old.padding_idx >= new_num_tokens:
        old.padding_idx = None
    return old


@torch.no_grad()
def resized_lm_head(model, old: nn.Linear, new_num_tokens: int, mean_resizing: bool) -> nn.Linear:
    """A new Linear with `new_num_tokens` outputs: old rows copied, added rows mean-initialised."""
    old_num, dim = old.weight.shape
    has_bias = old.bias is not None
    fresh = nn.Linear(dim, new_num_tokens, bias=has_bias, device=old.weight.device, dtype=old.weight.dtype)
    model._init_weights(fresh)
    added = new_num_tokens - old_num
    if added > 0 and mean_resizing:
        mean_init_rows(old.weight.data, fresh.weight.data[-added:])
        if has_bias:
            bias = old.bias.data.to(torch.float32)
            fresh.bias.data[-added:] = bias.mean().to(fresh.bias.dtype)
    n = min(old_num, new_num_tokens)
    fresh.weight.data[:n] = old.weight.data[:n]
    if has_bias:
        fresh.bias.data[:n] = old.bias.data[:n]
    fresh.requires_grad_(old.weight.requires_grad)
    return fresh


def resize_model_token_embeddings(model, new_num_tokens, pad_to_multiple_of, mean_resizing):
    """The body of PreTrainedModel.resize_token_embeddings."""
    embeddings = model.get_input_embeddings()
    if not isinstance(embeddings, nn.Embedding):
        raise ModelError(f"{type(model).__name__}: resize_token_embeddings needs an nn.Embedding input layer")
    old_num = embeddings.weight.shape[0]
    new_num = _padded_size(new_num_tokens, old_num, pad_to_multiple_of)
    if new_num is None or new_num == old_num:
        return embeddings
    if new_num <= 0:
        raise ModelError(f"resize_token_embeddings: new_num_tokens must be positive, got {new_num}")
    output = model.get_output_embeddings()
    tied = output is not None and getattr(output, "weight", None) is embeddings.weight
    resized_embedding(model, embeddings, new_num, mean_resizing)
    if output is not None and not tied:
        if isinstance(output, nn.Embedding):
            resized_embedding(model, output, new_num, mean_resizing)
        elif isinstance(output, nn.Linear):
            model.set_output_embeddings(resized_lm_head(model, output, new_num, mean_resizing))
    model.config.get_text_config().vocab_size = new_num
    model.vocab_size = new_num
    model.tie_weights()
    return model.get_input_embeddings()
