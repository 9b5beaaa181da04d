"""Attention building blocks shared by the decoder models: the eager/SDPA switch, masks, RoPE and GQA.

- `attention_implementation(config)` reads `config._attn_implementation` / `attn_implementation`
  ("eager" or "sdpa"; default "sdpa").
- `causal_attention_mask(...)` turns a 2D padding mask (batch, kv_len) of 1/0 into the 4D mask the chosen
  backend wants: a boolean (batch, 1, q, kv) mask for SDPA (True = attend; None when SDPA's own `is_causal`
  is enough) or an additive float mask (0 / dtype min) for eager. Sliding windows and packed sequences
  (position_ids restarting at 0 inside a row) are folded in.
- `RotaryEmbedding` computes cos/sin for the rope types "default", "linear", "dynamic" and "llama3";
  `apply_rotary_pos_emb` rotates queries and keys.
- `scaled_dot_product_attention(...)` is the one switch: eager (explicit softmax, can return the
  attention probabilities) or torch SDPA; grouped-query attention repeats the kv heads (`repeat_kv`).

The eager path is the readable reference; tests prove SDPA equals it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from snuggle.errors import ModelError
from snuggle.models.fast_dropout import dropout as fast_dropout, fast_dropout_available

ATTENTION_IMPLEMENTATIONS = ("eager", "sdpa")
ROPE_TYPES = ("default", "linear", "dynamic", "llama3")
DEFAULT_ROPE_THETA = 10_000.0


# ---------------------------------------------------------------------------------------------------------------
# Backend switch
# ---------------------------------------------------------------------------------------------------------------
def attention_implementation(config, output_attentions: bool = False) -> str:
    """Pick "eager" or "sdpa" from the config; asking for attention probabilities forces "eager".

    SDPA never materialises the probabilities, so `output_attentions=True` runs the eager path (the
    transformers 5 reference instead warns and returns no attentions).

    >>> class C: _attn_implementation = "sdpa"
    >>> attention_implementation(C()), attention_implementation(C(), output_attentions=True)
    ('sdpa', 'eager')
    """
    if output_attentions:
        return "eager"
    chosen = getattr(config, "_attn_implementation", None) or getattr(config, "attn_implementation", None) or "sdpa"
    if isinstance(chosen, dict):  # per-sub-config mapping as transformers allows; "" is the text model
        chosen = chosen.get("", None) or next(iter(chosen.values()), None) or "sdpa"
    if chosen not in ATTENTION_IMPLEMENTATIONS:
        raise ModelError(
            f"attn_implementation: expected one of {', '.join(ATTENTION_IMPLEMENTATIONS)}, found {chosen!r}; "
            "snuggle runs 'eager' (reference) or 'sdpa' (torch.nn.functional.scaled_dot_product_attention)"
        )
    return chosen


def repeat_kv(hidden_states: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Grouped-query attention: (batch, kv_heads, seq, dim) -> (batch, kv_heads * n_rep, seq, dim).

    Each kv head is repeated n_rep times in place (head h of the result uses kv head h // n_rep),
    like `torch.repeat_interleave(x, n_rep, dim=1)`.

    >>> repeat_kv(torch.arange(2.0).view(1, 2, 1, 1), 2).flatten().tolist()
    [0.0, 0.0, 1.0, 1.0]
    """
    if n_rep == 1:
        return hidden_states
    batch, kv_heads, seq_len, head_dim = hidden_states.shape
    expanded = hidden_states[:, :, None, :, :].expand(batch, kv_heads, n_rep, seq_len, head_dim)
    return expanded.reshape(batch, kv_heads * n_rep, seq_len, head_dim)


def eager_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    training: bool = False,
    num_key_value_groups: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference attention. query (b, heads, q, d), key/value (b, kv_heads, kv, d), additive float mask.

    Returns (output (b, q, heads, d), probabilities (b, heads, q, kv)).
    """
    key = repeat_kv(key, num_key_value_groups)
    value = repeat_kv(value, num_key_value_groups)
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            attention_mask = boolean_to_additive_mask(attention_mask, scores.dtype)
        scores = scores + attention_mask
    # softmax in float32 so half-precision scores do not lose the tail of the distribution
    probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    probs = fast_dropout(probs, p=dropout, training=training)
    output = torch.matmul(probs, value)
    return output.transpose(1, 2).contiguous(), probs


def sdpa_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    training: bool = False,
    num_key_value_groups: int = 1,
) -> tuple[torch.Tensor, None]:
    """torch SDPA. A None mask means plain causal attention (`is_causal` when more than one query).

    Training with attention dropout on CPU takes the written-out path with snuggle's counter-based
    dropout instead: torch's SDPA then falls back to its math kernel with the single-threaded Bernoulli
    fill, which cost more than the attention itself (MiniLM, seq 64: ~31 ms vs ~19 ms per layer).
    """
    query_length = query.shape[2]
    if training and dropout > 0.0 and query.device.type == "cpu" and query.dtype == torch.float32 and fast_dropout_available():
        if attention_mask is None and query_length > 1:  # causal, aligned to the last key (True = attend)
            key_length = key.shape[2]
            attention_mask = torch.ones(query_length, key_length, dtype=torch.bool, device=query.device).tril(
                key_length - query_length
            )
        output, _ = eager_attention(query, key, value, attention_mask, scaling, dropout, training, num_key_value_groups)
        return output, None
    extra = {}
    if num_key_value_groups > 1:
        if attention_mask is None:
            extra["enable_gqa"] = True  # the kernel broadcasts kv heads itself, no copy
        else:
            key = repeat_kv(key, num_key_value_groups)
            value = repeat_kv(value, num_key_value_groups)
    is_causal = attention_mask is None and query_length > 1
    if is_causal and key.shape[2] > query_length:
        # SDPA's is_causal aligns the triangle top-left; only reached with q == kv, kept for safety
        raise ModelError("sdpa_attention: a causal mask is required when keys outnumber queries")
    output = F.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask=attention_mask,
        dropout_p=dropout if training else 0.0,
        scale=scaling,
        is_causal=is_causal,
        **extra,
    )
    return output.transpose(1, 2).contiguous(), None


def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    *,
    implementation: str,
    scaling: float,
    dropout: float = 0.0,
    training: bool = False,
    num_key_value_groups: int = 1,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The one attention switch used by every snuggle decoder.

    query (batch, heads, q, head_dim); key/value (batch, kv_heads, kv, head_dim); the mask comes from
    `causal_attention_mask` for the same `implementation`. Returns (output (batch, q, heads, head_dim),
    probabilities or None).

    >>> q = k = v = torch.randn(1, 2, 3, 4)
    >>> out, _ = scaled_dot_product_attention(q, k, v, None, implementation="sdpa", scaling=0.5)
    >>> out.shape
    torch.Size([1, 3, 2, 4])
    """
    if implementation == "eager":
        function = eager_attention
    elif implementation == "sdpa":
        function = sdpa_attention
    else:
        raise ModelError(f"attention implementation: expected 'eager' or 'sdpa', found {implementation!r}")
    return function(query, key, value, attention_mask, scaling, dropout, training, num_key_value_groups)


# ---------------------------------------------------------------------------------------------------------------
# Masks
# ---------------------------------------------------------------------------------------------------------------
def boolean_to_additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """True (attend) -> 0, False (hide) -> the most negative value of `dtype`."""
    return torch.where(mask, torch.zeros((), dtype=dtype, device=mask.device), torch.finfo(dtype).min)


def packed_sequence_ids(position_ids: torch.Tensor | None) -> torch.Tensor | None:
    """Number the sequences packed in each row: positions that do not step by +1 start a new sequence.

    Returns (batch, seq) ids, or None when every row holds a single sequence.

    >>> packed_sequence_ids(torch.tensor([[0, 1, 0, 1, 2]])).tolist()
    [[0, 0, 1, 1, 1]]
    """
    if position_ids is None or position_ids.dim() != 2 or position_ids.shape[1] < 2:
        return None
    previous = position_ids[:, :1] - 1
    steps = torch.diff(position_ids, prepend=previous, dim=-1)
    ids = (steps != 1).cumsum(-1)
    if bool((ids[:, -1] == 0).all()):
        return None
    return ids


def causal_attention_mask(
    *,
    implementation: str,
    batch_size: int,
    query_length: int,
    key_length: int,
    query_offset: int = 0,
    padding_mask: torch.Tensor | None = None,
    sliding_window: int | None = None,
    sequence_ids: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> torch.Tensor | None:
    """Build the 4D mask (batch, 1, query_length, key_length) for causal self-attention.

    Query i sits at absolute position `query_offset + i` (tokens already in the cache come first);
    key j at position j. Key j is visible to query i when j <= i, the padding mask (batch, >= key_length;
    1 = real token) marks j as real, j lies within the last `sliding_window` positions (j > i - window)
    and, for packed rows, both belong to the same sequence (`sequence_ids`, only when nothing is cached).

    For "sdpa" the result is boolean (True = attend) or None when SDPA's `is_causal` gives the same
    thing; for "eager" it is additive (0 / dtype min).

    >>> causal_attention_mask(implementation="sdpa", batch_size=1, query_length=3, key_length=3,
    ...                       padding_mask=torch.tensor([[0, 1, 1]]))[0, 0].int().tolist()
    [[0, 0, 0], [0, 1, 0], [0, 1, 1]]
    """
    if padding_mask is not None:
        if padding_mask.dim() != 2:
            raise ModelError(
                f"attention_mask: expected a 2D (batch, seq) mask of 1/0, found shape {tuple(padding_mask.shape)}"
            )
        padding_mask = padding_mask.to(device=device, dtype=torch.bool)
        if padding_mask.shape[-1] < key_length:
            # positions the mask does not cover are treated as padding, as the reference does
            padding_mask = F.pad(padding_mask, (0, key_length - padding_mask.shape[-1]), value=False)
        padding_mask = padding_mask[:, :key_length]

    if implementation == "sdpa" and sequence_ids is None:
        no_padding = padding_mask is None or bool(padding_mask.all())
        window_hides_nothing = sliding_window is None or key_length < sliding_window
        if no_padding and window_hides_nothing and (query_length == 1 or query_length == key_length):
            return None

    query_positions = torch.arange(query_length, device=device) + query_offset
    key_positions = torch.arange(key_length, device=device)
    allowed = key_positions[None, :] <= query_positions[:, None]  # (q, kv)
    if sliding_window is not None:
        allowed = allowed & (key_positions[None, :] > query_positions[:, None] - sliding_window)
    allowed = allowed[None, None, :, :]  # (1, 1, q, kv)
    if padding_mask is not None:
        allowed = allowed & padding_mask[:, None, None, :]
    if sequence_ids is not None:
        sequence_ids = sequence_ids.to(device)
        if sequence_ids.shape[0] != batch_size:
            sequence_ids = sequence_ids.expand(batch_size, -1)
        same_sequence = sequence_ids[:, :, None] == sequence_ids[:, None, :]  # (b, q, kv) with q == kv
        allowed = allowed & same_sequence[:, None, :, :]
    allowed = allowed.expand(batch_size, 1, query_length, key_length)
    if implementation == "sdpa":
        return allowed
    return boolean_to_additive_mask(allowed, dtype)


# ---------------------------------------------------------------------------------------------------------------
# Rotary position embeddings
# ---------------------------------------------------------------------------------------------------------------
def rope_parameters(config) -> dict:
    """The RoPE settings of a config as one dict, whichever way the config spells them.

    transformers 5 writes `rope_parameters` {"rope_type", "rope_theta", factor...}; older config.json
    files have `rope_theta` at top level and `rope_scaling` {"type"|"rope_type", "factor", ...}.

    >>> class C: rope_theta = 500000.0; rope_scaling = {"type": "linear", "factor": 2.0}
    >>> sorted(rope_parameters(C()).items())
    [('factor', 2.0), ('rope_theta', 500000.0), ('rope_type', 'linear')]
    """
    given = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if not isinstance(given, dict):
        raise ModelError(f"config rope_parameters: expected a dict, found {type(given).__name__}")
    params = {key: value for key, value in given.items() if key != "type"}
    params["rope_type"] = given.get("rope_type", given.get("type", "default"))
    if params.get("rope_theta") is None:
        params["rope_theta"] = getattr(config, "rope_theta", None) or DEFAULT_ROPE_THETA
    if params["rope_type"] == "llama3" and "original_max_position_embeddings" not in params:
        params["original_max_position_embeddings"] = config.max_position_embeddings
    return params


def _rope_head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def _required(params: dict, field: str):
    if params.get(field) is None:
        raise ModelError(
            f"config rope_parameters: rope_type {params['rope_type']!r} needs the field {field!r}, found {params}"
        )
    return params[field]


def rope_inverse_frequencies(config, seq_len: int | None = None, device=None) -> tuple[torch.Tensor, float]:
    """Inverse frequencies (head_dim // 2,) and the cos/sin scale for the config's rope type.

    - default: 1 / theta^(2i/d)
    - linear: default / factor (positions are squeezed by `factor`)
    - dynamic (NTK): theta grows with the sequence once it is longer than max_position_embeddings
    - llama3: long wavelengths divided by factor, short ones kept, a smooth blend in between

    >>> class C: hidden_size = 8; num_attention_heads = 1; max_position_embeddings = 16
    >>> rope_inverse_frequencies(C())[0].tolist()
    [1.0, 0.10000000149011612, 0.009999999776482582, 0.0010000000474974513]
    """
    params = rope_parameters(config)
    rope_type = params["rope_type"]
    if rope_type not in ROPE_TYPES:
        raise ModelError(f"config rope_parameters: rope_type {rope_type!r} is not supported; supported: {ROPE_TYPES}")
    base = float(params["rope_theta"])
    dim = _rope_head_dim(config)
    even = torch.arange(0, dim, 2, dtype=torch.int64).to(device=device, dtype=torch.float)

    if rope_type == "dynamic":
        factor = float(_required(params, "factor"))
        max_positions = config.max_position_embeddings
        seq_len = max_positions if seq_len is None else max(int(seq_len), max_positions)
        base = base * ((factor * seq_len / max_positions) - (factor - 1)) ** (dim / (dim - 2))

    inv_freq = 1.0 / (base ** (even / dim))

    if rope_type == "linear":
        inv_freq = inv_freq / float(_required(params, "factor"))
    elif rope_type == "llama3":
        inv_freq = _llama3_scaled(inv_freq, params)
    return inv_freq, 1.0


def _llama3_scaled(inv_freq: torch.Tensor, params: dict) -> torch.Tensor:
    factor = float(_required(params, "factor"))
    low_freq_factor = float(_required(params, "low_freq_factor"))
    high_freq_factor = float(_required(params, "high_freq_factor"))
    old_context = float(_required(params, "original_max_position_embeddings"))
    low_freq_wavelen = old_context / low_freq_factor
    high_freq_wavelen = old_context / high_freq_factor

    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    # between the two wavelengths: interpolate between scaled and unscaled frequencies
    smooth = (old_context / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    blended = (1 - smooth) * scaled / factor + smooth * scaled
    is_medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
    return torch.where(is_medium, blended, scaled)


class RotaryEmbedding(nn.Module):
    """cos/sin tables for RoPE, computed per forward from position ids (batch, seq).

    For "dynamic" the frequencies are recomputed when a longer sequence arrives and restored once the
    sequences fit the original length again (the reference's stateful behaviour).

    >>> class C: hidden_size = 8; num_attention_heads = 2; max_position_embeddings = 16
    >>> cos, sin = RotaryEmbedding(C())(torch.zeros(1), torch.arange(3)[None])
    >>> cos.shape
    torch.Size([1, 3, 4])
    """

    def __init__(self, config, device=None) -> None:
        super().__init__()
        self.config = config
        self.rope_type = rope_parameters(config)["rope_type"]
        self.original_max_seq_len = config.max_position_embeddings
        self.max_seq_len_cached = config.max_position_embeddings
        inv_freq, self.attention_scaling = rope_inverse_frequencies(config, device=device)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("original_inv_freq", inv_freq.clone(), persistent=False)

    def _update_dynamic_frequencies(self, position_ids: torch.Tensor) -> None:
        seq_len = int(position_ids.max()) + 1
        if seq_len > self.max_seq_len_cached:  # grow
            inv_freq, self.attention_scaling = rope_inverse_frequencies(
                self.config, seq_len=seq_len, device=position_ids.device
            )
            self.register_buffer("inv_freq", inv_freq, persistent=False)
            self.max_seq_len_cached = seq_len
        if seq_len < self.original_max_seq_len and self.max_seq_len_cached > self.original_max_seq_len:  # reset
            self.register_buffer("inv_freq", self.original_inv_freq.to(position_ids.device), persistent=False)
            self.max_seq_len_cached = self.original_max_seq_len

    @torch.no_grad()
    def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (cos, sin), each (batch, seq, head_dim) in x's dtype."""
        if self.rope_type == "dynamic":
            self._update_dynamic_frequencies(position_ids)
        # float32 angles: bf16 positions times frequencies would lose whole rotations
        freqs = position_ids[..., None].float() * self.inv_freq.to(device=x.device, dtype=torch.float)
        angles = torch.cat((freqs, freqs), dim=-1)
        cos = angles.cos() * self.attention_scaling
        sin = angles.sin() * self.attention_scaling
        return cos.to(dtype=x.dtype), sin.to(dtype=x.dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the last axis: the 90-degree turn RoPE pairs dimension i with i + d/2."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary_pos_emb(
    q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, unsqueeze_dim: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate q and k (batch, heads, seq, head_dim) by cos/sin (batch, seq, head_dim).

    >>> q = torch.ones(1, 1, 1, 2)
    >>> apply_rotary_pos_emb(q, q, torch.ones(1, 1, 2), torch.zeros(1, 1, 2))[0].tolist()
    [[[[1.0, 1.0]]]]
    """
    cos = cos.unsqueeze(unsqueeze_dim)
    sin = sin.unsqueeze(unsqueeze_dim)
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
