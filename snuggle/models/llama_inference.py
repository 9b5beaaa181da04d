"""The inference fast path of the Llama-family decoder layer: fused projections and few ops per layer.

Decoding one token of a small model is dominated by per-op dispatch, not arithmetic: SmolLM2-135M reads
~540 MB of weights per token (~20 ms at DRAM speed) but the module-by-module forward issues ~60 torch ops
per layer (~2 ms per token of pure overhead on this machine's CPUs). Under `torch.no_grad()` /
`torch.inference_mode()` a layer instead runs `fast_layer_forward`, about 14 kernels:

    rms_norm -> linear(qkv) -> rotary on q and k together -> cache update -> sdpa -> addmm(o_proj + residual)
    rms_norm -> linear(gate|up) -> silu * up -> addmm(down_proj + residual)

Fused weights. q/k/v (and gate/up) are concatenated once into one weight, and the original parameters are
then re-pointed (`param.data = fused[rows]`) at row blocks of that weight: no extra memory, the module tree
and state_dict keys do not change, training (the module forward) and optimizer steps (in-place updates) keep
working and write through into the fused weight. If a parameter is later replaced (`.to()`, `param.data =`,
load with assign) its data pointer no longer matches and the fused weight is rebuilt on the next call.

The module forward in llama.py stays the readable reference; tests/models/test_fast_decode.py proves this
path equals it (and transformers).

>>> import torch
>>> from snuggle.models.llama import LlamaConfig, LlamaForCausalLM
>>> model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
...                                      num_attention_heads=4, num_key_value_heads=2)).eval()
>>> with torch.no_grad():
...     fast = model(torch.tensor([[1, 2, 3]])).logits
>>> reference = model(torch.tensor([[1, 2, 3]])).logits            # grad enabled: the module path
>>> bool(torch.allclose(fast, reference, atol=1e-6))
True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as _module_globals

from snuggle.models.attention import rotate_half

# ---------------------------------------------------------------------------------------------------------------
# Fused weights sharing storage with the parameters
# ---------------------------------------------------------------------------------------------------------------
_FUSED_ATTRIBUTE = "_snuggle_fused"


def _is_plain_linear(module) -> bool:
    """An nn.Linear with no hooks: LoRA wrappers, quantized layers or hooked modules keep the module path."""
    return type(module) is nn.Linear and not module._forward_hooks and not module._forward_pre_hooks


def _signature(linears: list[nn.Linear]) -> tuple:
    return tuple(
        (linear.weight.data_ptr(), linear.bias.data_ptr() if linear.bias is not None else None) for linear in linears
    )


def _fuse(linears: list[nn.Linear]) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """Concatenate the linears' weights (and biases) on the output axis and re-point the parameters at row blocks.

    Returns (weight (sum out, in), bias or None), or None when the linears cannot share one weight.
    """
    weights = [linear.weight for linear in linears]
    first = weights[0]
    has_bias = [linear.bias is not None for linear in linears]
    if first.device.type == "meta" or any(has_bias) != all(has_bias):
        return None
    if any(w.dtype != first.dtype or w.device != first.device or w.dim() != 2 or w.shape[1] != first.shape[1]
           for w in weights):
        return None
    # plain tensors (not inference tensors) so the re-pointed parameters still work for training later
    with torch.inference_mode(False), torch.no_grad():
        fused_weight = torch.cat([w.detach() for w in weights], dim=0)
        fused_bias = torch.cat([linear.bias.detach() for linear in linears], dim=0) if has_bias[0] else None
        row = 0
        for linear in linears:
            rows = linear.weight.shape[0]
            linear.weight.data = fused_weight[row:row + rows]
            if fused_bias is not None:
                linear.bias.data = fused_bias[row:row + rows]
            row += rows
    return fused_weight, fused_bias


def fused_linear_weights(owner: nn.Module, linears: list[nn.Linear], name: str):
    """(weight, bias) of the concatenation of `linears`, kept on `owner` and rebuilt when a parameter changed.

    Returns None when the linears cannot be fused (not plain nn.Linear, meta weights, mixed dtypes).
    """
    cached = owner.__dict__.get(_FUSED_ATTRIBUTE)
    if cached is None:
        cached = owner.__dict__[_FUSED_ATTRIBUTE] = {}
    entry = cached.get(name)
    if entry is not None and entry[0] == _signature(linears):
        return entry[1]
    if not all(_is_plain_linear(linear) for linear in linears):
        return None
    fused = _fuse(linears)
    cached[name] = (_signature(linears), fused) if fused is not None else (None, None)
    return fused


# ---------------------------------------------------------------------------------------------------------------
# Eligibility
# ---------------------------------------------------------------------------------------------------------------
def _has_hooks(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


def fast_path_available(layer: nn.Module) -> bool:
    """The layer is the stock Llama-family layer with no hooks anywhere (so skipping __call__ changes nothing)."""
    if _module_globals._global_forward_hooks or _module_globals._global_forward_pre_hooks:
        return False
    attention, mlp = layer.self_attn, layer.mlp
    modules = (layer, attention, mlp, layer.input_layernorm, layer.post_attention_layernorm,
               attention.q_proj, attention.k_proj, attention.v_proj, attention.o_proj,
               mlp.gate_proj, mlp.up_proj, mlp.down_proj)
    if any(_has_hooks(module) for module in modules):
        return False
    if not (_is_plain_linear(attention.o_proj) and _is_plain_linear(mlp.down_proj)):
        return False
    return mlp.act_fn is F.silu or isinstance(mlp.act_fn, nn.SiLU)


# ---------------------------------------------------------------------------------------------------------------
# The layer step
# ---------------------------------------------------------------------------------------------------------------
def rotate_queries_and_keys(query_key: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE on q and k heads at once: query_key (batch, seq, q_heads + kv_heads, head_dim), cos/sin (batch, seq, 1, d).

    The same arithmetic as `apply_rotary_pos_emb` (x * cos + rotate_half(x) * sin), element for element.
    """
    return query_key * cos + rotate_half(query_key) * sin


def _rms_norm(norm: nn.Module, hidden_states: torch.Tensor) -> torch.Tensor:
    # F.rms_norm computes x * rsqrt(mean(x^2) + eps) * weight in float32 like LlamaRMSNorm (bit-identical in fp32)
    if hidden_states.dtype != torch.float32 or norm.weight.dtype != torch.float32:
        return norm(hidden_states)
    return F.rms_norm(hidden_states, norm.weight.shape, norm.weight, norm.variance_epsilon)


def _residual_linear(residual: torch.Tensor, hidden: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """residual + linear(hidden) as one addmm (batch, seq, out)."""
    if linear.bias is not None or residual.dtype != linear.weight.dtype:
        return residual + F.linear(hidden, linear.weight, linear.bias)
    shape = residual.shape
    flat = torch.addmm(residual.reshape(-1, shape[-1]), hidden.reshape(-1, hidden.shape[-1]), linear.weight.t())
    return flat.view(shape)


def fast_layer_forward(
    layer: nn.Module,
    hidden_states: torch.Tensor,
    attention_mask: torch.Tensor | None,
    cos: torch.Tensor,
    sin: torch.Tensor,
    cache,
) -> torch.Tensor | None:
    """One decoder layer without autograd, module calls or per-head ops; None when the layer cannot take it.

    hidden_states (batch, seq, hidden); cos/sin (batch, seq, 1, head_dim) shared by all layers of the step;
    `attention_mask` is the SDPA mask of `causal_attention_mask` (None = causal / attend to everything).
    """
    attention, mlp = layer.self_attn, layer.mlp
    qkv = fused_linear_weights(attention, [attention.q_proj, attention.k_proj, attention.v_proj], "qkv")
    gate_up = fused_linear_weights(mlp, [mlp.gate_proj, mlp.up_proj], "gate_up")
    if qkv is None or gate_up is None:
        return None
    batch, seq_len, _ = hidden_states.shape
    head_dim = attention.head_dim
    q_heads, kv_heads = attention.num_heads, attention.num_key_value_heads

    # attention block: (batch, seq, (q_heads + 2 kv_heads) * head_dim)
    normed = _rms_norm(layer.input_layernorm, hidden_states)
    projected = F.linear(normed, qkv[0], qkv[1])
    query_key_width = (q_heads + kv_heads) * head_dim
    query_key = projected[..., :query_key_width].view(batch, seq_len, q_heads + kv_heads, head_dim)
    value = projected[..., query_key_width:].view(batch, seq_len, kv_heads, head_dim).transpose(1, 2)
    if hasattr(attention, "q_norm"):
        query_key = torch.cat(
            (attention.q_norm(query_key[:, :, :q_heads]), attention.k_norm(query_key[:, :, q_heads:])), dim=2
        )
    query_key = rotate_queries_and_keys(query_key, cos, sin)
    # (batch, heads, seq, head_dim) views
    query = query_key[:, :, :q_heads].transpose(1, 2)
    key = query_key[:, :, q_heads:].transpose(1, 2)
    if cache is not None:
        key, value = cache.update(key, value, attention.layer_idx)

    extra = {}
    if kv_heads != q_heads:
        if attention_mask is None:
            extra["enable_gqa"] = True
        else:
            # the fused CPU kernel takes broadcast kv heads only without a mask
            key = key.repeat_interleave(attention.num_key_value_groups, dim=1)
            value = value.repeat_interleave(attention.num_key_value_groups, dim=1)
    attended = F.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, scale=attention.scaling,
        is_causal=attention_mask is None and seq_len > 1, **extra,
    )
    attended = attended.transpose(1, 2).reshape(batch, seq_len, q_heads * head_dim)
    hidden_states = _residual_linear(hidden_states, attended, attention.o_proj)

    # MLP block: (batch, seq, 2 * intermediate)
    normed = _rms_norm(layer.post_attention_layernorm, hidden_states)
    gate_and_up = F.linear(normed, gate_up[0], gate_up[1])
    intermediate = mlp.gate_proj.weight.shape[0]
    activated = F.silu(gate_and_up[..., :intermediate]) * gate_and_up[..., intermediate:]
    return _residual_linear(hidden_states, activated, mlp.down_proj)
