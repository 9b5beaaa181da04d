"""Bidirectional self-attention for the encoder family (BERT, RoBERTa, DistilBERT).

The backend switch is the one in snuggle/models/attention.py: `"eager"` (matmul + softmax,
can return the attention maps) or `"sdpa"` (torch's fused kernel, the default); asking for
the attention maps forces eager for that call, because SDPA never materialises them.
The padding mask is the additive form the reference uses: 0 where a key may be attended,
the dtype's most negative value where it is padding.

>>> import torch
>>> q = k = v = torch.randn(1, 2, 3, 4)           # (batch, heads, seq, head_dim)
>>> mask = additive_padding_mask(torch.tensor([[1, 1, 0]]), torch.float32, (1, 3))
>>> out, weights = encoder_self_attention(q, k, v, mask, config=None, output_attentions=True)
>>> out.shape, float(weights[0, 0, 0, 2])
(torch.Size([1, 2, 3, 4]), 0.0)
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from snuggle.errors import ModelError
from snuggle.models.attention import (
    attention_implementation,
    boolean_to_additive_mask,
    eager_attention,
)


def additive_padding_mask(attention_mask, dtype, input_shape):
    """(batch, seq) 1 = keep / 0 = pad -> (batch, 1, 1, seq) additive mask; None when nothing is padded.

    A 4D mask passed by the caller is used as given (boolean masks become additive).

    >>> additive_padding_mask(torch.tensor([[1, 0]]), torch.float32, (1, 2))[0, 0, 0].tolist()[0]
    0.0
    """
    if attention_mask is None:
        return None
    if attention_mask.dim() == 4:
        if attention_mask.dtype == torch.bool:
            return boolean_to_additive_mask(attention_mask, dtype)
        return attention_mask.to(dtype)
    if attention_mask.dim() != 2 or tuple(attention_mask.shape) != tuple(input_shape):
        raise ModelError(
            f"attention_mask has shape {tuple(attention_mask.shape)}; expected (batch, seq) = {tuple(input_shape)} "
            "with 1 for tokens to attend and 0 for padding"
        )
    if bool(attention_mask.all()):
        return None  # no padding: let SDPA take its fastest path
    keep = attention_mask[:, None, None, :].to(torch.bool)
    return boolean_to_additive_mask(keep, dtype)


def encoder_self_attention(query, key, value, mask=None, dropout=0.0, config=None, output_attentions=False):
    """Bidirectional attention through the eager/SDPA switch; returns (context, weights or None).

    query/key/value (batch, heads, seq, head_dim); `mask` from `additive_padding_mask`.
    context comes back as (batch, heads, seq, head_dim). The backend is
    `attention_implementation(config, output_attentions)`: asking for weights forces eager.
    """
    scaling = 1.0 / math.sqrt(query.size(-1))
    if attention_implementation(config, output_attentions) == "eager":
        context, weights = eager_attention(query, key, value, mask, scaling, dropout, training=dropout > 0)
        # eager_attention returns (batch, seq, heads, head_dim)
        return context.transpose(1, 2), (weights if output_attentions else None)
    # not attention.sdpa_attention: it reads a missing mask as causal, and encoders see every token
    context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout, scale=scaling)
    return context, None


class _GELUTanh(nn.Module):
    """The tanh approximation written out (transformers' `gelu_new`)."""

    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class _QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


_ACTIVATIONS = {
    "gelu": lambda: nn.GELU(),
    "gelu_new": _GELUTanh,
    "gelu_fast": _GELUTanh,
    "gelu_pytorch_tanh": lambda: nn.GELU(approximate="tanh"),
    "quick_gelu": _QuickGELU,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def activation_from_name(name, field: str = "hidden_act") -> nn.Module:
    """The activation module a config names (e.g. `hidden_act: "gelu"` is the exact erf GELU).

    >>> activation_from_name("relu")
    ReLU()
    """
    if callable(name) and not isinstance(name, str):
        return name
    if name not in _ACTIVATIONS:
        raise ModelError(f"config field {field}={name!r} is not a known activation; use one of {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]()
