"""T5: an encoder-decoder transformer with relative position buckets instead of position embeddings.

Read top to bottom: config, RMS layer norm, feed-forward (ReLU or gated), attention with the
relative position bias, the encoder/decoder stack, then the models and heads. State-dict keys are
the reference's (`shared.weight`, `encoder.block.0.layer.0.SelfAttention.q.weight`, ...).

Only the first block of each stack owns a `relative_attention_bias` table; the bias it produces
(one value per head and query/key distance bucket) is reused by every later block of that stack.
Attention scores are not divided by sqrt(d_kv): T5 folds that scale into its initialisation.

>>> import torch
>>> config = T5Config(vocab_size=20, d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2)
>>> model = T5ForConditionalGeneration(config).eval()
>>> model(torch.tensor([[5, 6, 1]]), labels=torch.tensor([[7, 1]])).logits.shape
torch.Size([1, 2, 20])
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from snuggle.errors import ModelError
from snuggle.models.attention import attention_implementation, boolean_to_additive_mask
from snuggle.models.auto import register
from snuggle.models.cache import Cache, DynamicCache, EncoderDecoderCache
from snuggle.models.configuration import PretrainedConfig
from snuggle.models.encoder_attention import activation_from_name
from snuggle.models.encoder_losses import (
    question_answering_loss,
    sequence_classification_loss,
)
from snuggle.models.fast_dropout import Dropout, dropout as fast_dropout
from snuggle.models.fast_linear import Linear
from snuggle.models.modeling import PreTrainedModel
from snuggle.models.outputs import (
    BaseModelOutput,
    BaseModelOutputWithPastAndCrossAttentions,
    Seq2SeqLMOutput,
    Seq2SeqModelOutput,
    Seq2SeqQuestionAnsweringModelOutput,
    Seq2SeqSequenceClassifierOutput,
    TokenClassifierOutput,
)

# ---------------------------------------------------------------------------------------------------------------------
# config


class T5Config(PretrainedConfig):
    """T5 hyper-parameters. `feed_forward_proj` is "relu" (original T5) or "gated-gelu" (T5 v1.1 / FLAN).

    Original T5 ties the LM head to the embeddings and multiplies the decoder output by d_model**-0.5
    before it; v1.1 checkpoints say `tie_word_embeddings: false` and skip the rescale. The rescale is
    kept as `scale_decoder_outputs` (the reference's field) so it survives a save/load round trip.

    >>> c = T5Config(feed_forward_proj="gated-gelu", tie_word_embeddings=False)
    >>> c.is_gated_act, c.dense_act_fn, c.scale_decoder_outputs, c.num_decoder_layers
    (True, 'gelu_new', False, 6)
    """

    model_type = "t5"
    attribute_map: ClassVar = {
        "hidden_size": "d_model",
        "num_attention_heads": "num_heads",
        "num_hidden_layers": "num_layers",
        "head_dim": "d_kv",
    }
    keys_to_ignore_at_inference: ClassVar = ["past_key_values"]

    def __init__(
        self,
        vocab_size=32128,
        d_model=512,
        d_kv=64,
        d_ff=2048,
        num_layers=6,
        num_decoder_layers=None,
        num_heads=8,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        dropout_rate=0.1,
        layer_norm_epsilon=1e-6,
        initializer_factor=1.0,
        feed_forward_proj="relu",
        is_encoder_decoder=True,
        use_cache=True,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=None,
        classifier_dropout=0.0,
        is_decoder=False,
        tie_word_embeddings=True,
        scale_decoder_outputs=None,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.d_kv = d_kv
        self.d_ff = d_ff
        self.num_layers = num_layers
        self.num_decoder_layers = num_decoder_layers if num_decoder_layers is not None else num_layers
        self.num_heads = num_heads
        self.relative_attention_num_buckets = relative_attention_num_buckets
        self.relative_attention_max_distance = relative_attention_max_distance
        self.dropout_rate = dropout_rate
        self.classifier_dropout = classifier_dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_factor = initializer_factor
        self.feed_forward_proj = feed_forward_proj
        self.use_cache = use_cache
        self.is_decoder = is_decoder

        parts = feed_forward_proj.split("-") if isinstance(feed_forward_proj, str) else []
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
            raise ModelError(
                f"T5Config: feed_forward_proj={feed_forward_proj!r} is not valid; use an activation name "
                "('relu') or 'gated-' followed by one ('gated-gelu')"
            )
        # derived fields: recomputed from feed_forward_proj, whatever an old config.json says
        kwargs.pop("dense_act_fn", None)
        kwargs.pop("is_gated_act", None)
        self.is_gated_act = parts[0] == "gated"
        # "gated-gelu" means the tanh approximation, for backward compatibility with the first v1.1 ports
        self.dense_act_fn = "gelu_new" if feed_forward_proj == "gated-gelu" else parts[-1]
        self.scale_decoder_outputs = (
            tie_word_embeddings is not False if scale_decoder_outputs is None else bool(scale_decoder_outputs)
        )
        # T5 starts decoding from the pad token
        if decoder_start_token_id is not None:  # stored only when given, so config.json round-trips as the reference's
            self.decoder_start_token_id = decoder_start_token_id
        super().__init__(
            pad_token_id=pad_token_id,
            eos_token_id=eos_token_id,
            is_encoder_decoder=is_encoder_decoder,
            tie_word_embeddings=tie_word_embeddings,
            **kwargs,
        )


# ---------------------------------------------------------------------------------------------------------------------
# building blocks


class T5LayerNorm(nn.Module):
    """RMS norm without bias or mean subtraction; the variance is computed in float32 for half inputs."""

    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        variance = hidden_states.to(torch.float32).pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        if self.weight.dtype in (torch.float16, torch.bfloat16):
            hidden_states = hidden_states.to(self.weight.dtype)
        return self.weight * hidden_states


def _to_weight_dtype(hidden_states, linear):
    # `wo` may be kept in float32 while the rest runs in half precision (the reference's _keep_in_fp32_modules)
    if hidden_states.dtype != linear.weight.dtype and linear.weight.dtype != torch.int8:
        return hidden_states.to(linear.weight.dtype)
    return hidden_states


class T5DenseActDense(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.wi = Linear(config.d_model, config.d_ff, bias=False)
        self.wo = Linear(config.d_ff, config.d_model, bias=False)
        self.dropout = Dropout(config.dropout_rate)
        self.act = activation_from_name(config.dense_act_fn, "feed_forward_proj")

    def forward(self, hidden_states):
        hidden_states = self.dropout(self.act(self.wi(hidden_states)))
        return self.wo(_to_weight_dtype(hidden_states, self.wo))


class T5DenseGatedActDense(nn.Module):
    """act(wi_0 x) * wi_1 x, then wo."""

    def __init__(self, config):
        super().__init__()
        self.wi_0 = Linear(config.d_model, config.d_ff, bias=False)
        self.wi_1 = Linear(config.d_model, config.d_ff, bias=False)
        self.wo = Linear(config.d_ff, config.d_model, bias=False)
        self.dropout = Dropout(config.dropout_rate)
        self.act = activation_from_name(config.dense_act_fn, "feed_forward_proj")

    def forward(self, hidden_states):
        hidden_states = self.dropout(self.act(self.wi_0(hidden_states)) * self.wi_1(hidden_states))
        return self.wo(_to_weight_dtype(hidden_states, self.wo))


class T5LayerFF(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.DenseReluDense = T5DenseGatedActDense(config) if config.is_gated_act else T5DenseActDense(config)
        self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = Dropout(config.dropout_rate)

    def forward(self, hidden_states):
        return hidden_states + self.dropout(self.DenseReluDense(self.layer_norm(hidden_states)))


def relative_position_bucket(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
    """Map key_pos - query_pos to a bucket: exact buckets for small distances, log-spaced up to max_distance.

    Bidirectional (encoder): half the buckets for keys after the query, half for keys before.
    Causal (decoder): only keys at or before the query count; later ones fall in bucket 0.

    >>> relative_position_bucket(torch.tensor([-3, 0, 3]), bidirectional=True, num_buckets=32).tolist()
    [3, 0, 19]
    >>> relative_position_bucket(torch.tensor([-3, 0, 3]), bidirectional=False, num_buckets=32).tolist()
    [3, 0, 0]
    """
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets = buckets + (relative_position > 0).to(torch.long) * num_buckets
        distance = torch.abs(relative_position)
    else:
        distance = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = distance < max_exact
    # log-spaced buckets between max_exact and max_distance (the float log of 0 is masked by is_small)
    large = max_exact + (
        torch.log(distance.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, distance, large)


class T5Attention(nn.Module):
    """Multi-head attention without score scaling; the first layer of a stack owns the relative bias table."""

    def __init__(self, config, has_relative_attention_bias=False, layer_idx=None, is_decoder=False):
        super().__init__()
        self.is_decoder = is_decoder
        self.has_relative_attention_bias = has_relative_attention_bias
        self.relative_attention_num_buckets = config.relative_attention_num_buckets
        self.relative_attention_max_distance = config.relative_attention_max_distance
        self.d_model = config.d_model
        self.key_value_proj_dim = config.d_kv
        self.n_heads = config.num_heads
        self.dropout = config.dropout_rate
        self.inner_dim = self.n_heads * self.key_value_proj_dim
        self.layer_idx = layer_idx
        self.config = config
        self.q = Linear(self.d_model, self.inner_dim, bias=False)
        self.k = Linear(self.d_model, self.inner_dim, bias=False)
        self.v = Linear(self.d_model, self.inner_dim, bias=False)
        self.o = Linear(self.inner_dim, self.d_model, bias=False)
        if has_relative_attention_bias:
            self.relative_attention_bias = nn.Embedding(self.relative_attention_num_buckets, self.n_heads)

    def compute_bias(self, query_length, key_length, device=None, past_length=0):
        """Relative position bias (1, heads, query, key); queries start at position `past_length`."""
        device = self.relative_attention_bias.weight.device if device is None else device
        query_positions = torch.arange(query_length, dtype=torch.long, device=device)[:, None] + past_length
        key_positions = torch.arange(key_length, dtype=torch.long, device=device)[None, :]
        buckets = relative_position_bucket(
            key_positions - query_positions,
            bidirectional=not self.is_decoder,
            num_buckets=self.relative_attention_num_buckets,
            max_distance=self.relative_attention_max_distance,
        )
        values = self.relative_attention_bias(buckets)  # (query, key, heads)
        return values.permute(2, 0, 1).unsqueeze(0)

    def _shape(self, x):
        # (batch, seq, inner) -> (batch, heads, seq, d_kv)
        return x.view(x.shape[0], -1, self.n_heads, self.key_value_proj_dim).transpose(1, 2)

    def forward(self, hidden_states, bias, key_value_states=None, cache=None, output_attentions=False):
        """`bias` (batch or 1, heads, query, key) is position bias plus additive mask, already combined."""
        batch_size, query_length = hidden_states.shape[:2]
        query = self._shape(self.q(hidden_states))
        is_cross = key_value_states is not None
        if is_cross and isinstance(cache, EncoderDecoderCache) and cache.is_updated.get(self.layer_idx, False):
            key, value = cache.cross_attention_cache[self.layer_idx]  # encoder keys/values, computed on step one
        else:
            source = key_value_states if is_cross else hidden_states
            key, value = self._shape(self.k(source)), self._shape(self.v(source))
            if isinstance(cache, EncoderDecoderCache):
                if is_cross:
                    key, value = cache.cross_attention_cache.update(key, value, self.layer_idx)
                    cache.is_updated[self.layer_idx] = True
                else:
                    key, value = cache.self_attention_cache.update(key, value, self.layer_idx)
            elif cache is not None and not is_cross:
                key, value = cache.update(key, value, self.layer_idx)

        dropout = self.dropout if self.training else 0.0
        if attention_implementation(self.config, output_attentions) == "eager":
            scores = torch.matmul(query, key.transpose(2, 3)) + bias
            weights = fast_dropout(F.softmax(scores.float(), dim=-1).type_as(scores), p=dropout, training=self.training)
            context = torch.matmul(weights, value)
        else:
            # T5 does not scale scores: scale=1.0, and the bias (with the mask folded in) is the additive mask
            context = F.scaled_dot_product_attention(
                query, key, value, attn_mask=bias.to(query.dtype), dropout_p=dropout, scale=1.0
            )
            weights = None
        context = context.transpose(1, 2).reshape(batch_size, query_length, self.inner_dim)
        return self.o(context), (weights if output_attentions else None)


class T5LayerSelfAttention(nn.Module):
    def __init__(self, config, has_relative_attention_bias=False, layer_idx=None, is_decoder=False):
        super().__init__()
        self.SelfAttention = T5Attention(config, has_relative_attention_bias, layer_idx, is_decoder)
        self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = Dropout(config.dropout_rate)

    def forward(self, hidden_states, bias, cache=None, output_attentions=False):
        output, weights = self.SelfAttention(
            self.layer_norm(hidden_states), bias, cache=cache, output_attentions=output_attentions
        )
        return hidden_states + self.dropout(output), weights


class T5LayerCrossAttention(nn.Module):
    def __init__(self, config, layer_idx=None):
        super().__init__()
        self.EncDecAttention = T5Attention(config, False, layer_idx, is_decoder=True)
        self.layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = Dropout(config.dropout_rate)

    def forward(self, hidden_states, key_value_states, bias, cache=None, output_attentions=False):
        output, weights = self.EncDecAttention(
            self.layer_norm(hidden_states), bias, key_value_states=key_value_states, cache=cache,
            output_attentions=output_attentions,
        )
        return hidden_states + self.dropout(output), weights


def _clamp_half(hidden_states):
    # fp16 activations of big T5s overflow; clamp like the reference so fp16 inference stays finite
    if hidden_states.dtype == torch.float16:
        limit = torch.finfo(torch.float16).max - (1000 if bool(torch.isinf(hidden_states).any()) else 0)
        hidden_states = torch.clamp(hidden_states, min=-limit, max=limit)
    return hidden_states


class T5Block(nn.Module):
    """layer[0] self-attention, layer[1] cross-attention (decoder only), layer[-1] feed-forward."""

    def __init__(self, config, has_relative_attention_bias=False, layer_idx=None, is_decoder=False):
        super().__init__()
        self.is_decoder = is_decoder
        self.layer = nn.ModuleList([T5LayerSelfAttention(config, has_relative_attention_bias, layer_idx, is_decoder)])
        if is_decoder:
            self.layer.append(T5LayerCrossAttention(config, layer_idx=layer_idx))
        self.layer.append(T5LayerFF(config))

    def forward(self, hidden_states, self_bias, encoder_hidden_states=None, cross_bias=None, cache=None,
                output_attentions=False):
        hidden_states, self_weights = self.layer[0](hidden_states, self_bias, cache, output_attentions)
        hidden_states = _clamp_half(hidden_states)
        cross_weights = None
        if self.is_decoder and encoder_hidden_states is not None:
            hidden_states, cross_weights = self.layer[1](
                hidden_states, encoder_hidden_states, cross_bias, cache, output_attentions
            )
            hidden_states = _clamp_half(hidden_states)
        hidden_states = _clamp_half(self.layer[-1](hidden_states))
        return hidden_states, self_weights, cross_weights


def _additive_mask(keep, dtype):
    """Boolean keep-mask (batch, 1, query, key) -> 0 / dtype-min additive mask."""
    return boolean_to_additive_mask(keep, dtype)


class T5Stack(nn.Module):
    """The encoder (bidirectional) or decoder (causal + cross-attention) stack over shared embeddings."""

    def __init__(self, config, embed_tokens=None, is_decoder=False, num_layers=None):
        super().__init__()
        self.config = config
        self.is_decoder = is_decoder
        self.embed_tokens = embed_tokens if embed_tokens is not None else nn.Embedding(config.vocab_size,
                                                                                       config.d_model)
        num_layers = config.num_layers if num_layers is None else num_layers
        self.block = nn.ModuleList(
            [T5Block(config, has_relative_attention_bias=i == 0, layer_idx=i, is_decoder=is_decoder)
             for i in range(num_layers)]
        )
        self.final_layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)
        self.dropout = Dropout(config.dropout_rate)
        self.gradient_checkpointing = False

    def set_input_embeddings(self, new_embeddings):
        self.embed_tokens = new_embeddings

    def _self_attention_bias(self, attention_mask, batch_size, query_length, past_length, dtype, device):
        """Relative position bias of block 0 plus the padding (and, in the decoder, causal) mask."""
        key_length = past_length + query_length
        bias = self.block[0].layer[0].SelfAttention.compute_bias(query_length, key_length, device, past_length)
        bias = bias.to(dtype)
        keep = None
        if attention_mask is not None:
            if attention_mask.dim() == 4:
                keep = attention_mask.to(device)
                if keep.dtype != torch.bool:
                    return bias + keep.to(dtype)
            else:
                if attention_mask.shape != (batch_size, key_length):
                    raise ModelError(
                        f"{'decoder_' if self.is_decoder else ''}attention_mask has shape "
                        f"{tuple(attention_mask.shape)}; expected (batch, tokens) = ({batch_size}, {key_length})"
                    )
                keep = attention_mask.to(device=device, dtype=torch.bool)[:, None, None, :]
        if self.is_decoder:
            query_positions = torch.arange(query_length, device=device)[:, None] + past_length
            causal = torch.arange(key_length, device=device)[None, :] <= query_positions
            keep = causal[None, None] if keep is None else keep & causal[None, None]
        if keep is None:
            return bias
        return bias + _additive_mask(keep, dtype)

    def forward(self, input_ids=None, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None,
                inputs_embeds=None, past_key_values=None, use_cache=None, output_attentions=False,
                output_hidden_states=False):
        if (input_ids is None) == (inputs_embeds is None):
            which = "decoder_input_ids or decoder_inputs_embeds" if self.is_decoder else "input_ids or inputs_embeds"
            raise ModelError(f"pass exactly one of {which}")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        batch_size, seq_length = inputs_embeds.shape[:2]
        if use_cache and not self.is_decoder:
            raise ModelError("use_cache=True only applies to the T5 decoder stack")
        if self.gradient_checkpointing and self.training:
            use_cache = False
        cache = past_key_values if self.is_decoder else None
        if self.is_decoder and use_cache and cache is None:
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        past_length = cache.get_seq_length() if cache is not None else 0

        dtype, device = inputs_embeds.dtype, inputs_embeds.device
        self_bias = self._self_attention_bias(attention_mask, batch_size, seq_length, past_length, dtype, device)
        cross_bias = None
        if self.is_decoder and encoder_hidden_states is not None:
            # cross-attention has no relative bias: zeros plus the encoder padding mask
            encoder_length = encoder_hidden_states.shape[1]
            cross_bias = torch.zeros(1, self.config.num_heads, seq_length, encoder_length, dtype=dtype, device=device)
            if encoder_attention_mask is not None:
                if encoder_attention_mask.dim() == 4:
                    keep = encoder_attention_mask.to(device)
                else:
                    keep = encoder_attention_mask.to(device=device, dtype=torch.bool)[:, None, None, :]
                cross_bias = cross_bias + (keep.to(dtype) if keep.dtype != torch.bool else _additive_mask(keep, dtype))

        hidden_states = self.dropout(inputs_embeds)
        all_hidden_states = () if output_hidden_states else None
        all_attentions = () if output_attentions else None
        all_cross_attentions = () if output_attentions and self.is_decoder else None
        for block in self.block:
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if self.gradient_checkpointing and self.training:
                hidden_states, weights, cross_weights = self._gradient_checkpointing_func(
                    block.__call__, hidden_states, self_bias, encoder_hidden_states, cross_bias, None,
                    output_attentions,
                )
            else:
                hidden_states, weights, cross_weights = block(
                    hidden_states, self_bias, encoder_hidden_states, cross_bias, cache, output_attentions
                )
            if output_attentions:
                all_attentions += (weights,)
                if all_cross_attentions is not None:
                    all_cross_attentions += (cross_weights,)
        hidden_states = self.dropout(self.final_layer_norm(hidden_states))
        if output_hidden_states:
            all_hidden_states += (hidden_states,)
        return BaseModelOutputWithPastAndCrossAttentions(
            last_hidden_state=hidden_states,
            past_key_values=cache if use_cache else None,
            hidden_states=all_hidden_states,
            attentions=all_attentions,
            cross_attentions=all_cross_attentions,
        )


# ---------------------------------------------------------------------------------------------------------------------
# models


class T5PreTrainedModel(PreTrainedModel):
    config_class = T5Config
    base_model_prefix = "transformer"
    supports_gradient_checkpointing = True
    _no_split_modules: ClassVar = ["T5Block"]
    _keep_in_fp32_modules: ClassVar = ["wo"]
    # the decoder's cross-attention never had a relative bias; some old checkpoints carry an unused one
    _keys_to_ignore_on_load_unexpected: ClassVar = [r"decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias"]

    def get_expanded_tied_weights_keys(self) -> dict[str, str]:
        # encoder/decoder embeddings are always the shared table; the LM head only when the config ties it
        tied = dict(self._tied_weights_keys or {})
        if not getattr(self.config, "tie_word_embeddings", True):
            tied.pop("lm_head.weight", None)
        # loading found different values for a tied pair in the checkpoint: those stay separate
        for target in getattr(self, "_untied_weights", ()):
            tied.pop(target, None)
        return tied

    def _init_weights(self, module):
        """The reference's T5 init: std scaled by fan-in (d_model**-0.5 ...) times config.initializer_factor."""
        factor = self.config.initializer_factor
        d_model, d_kv, d_ff, n_heads = self.config.d_model, self.config.d_kv, self.config.d_ff, self.config.num_heads
        if isinstance(module, T5LayerNorm):
            module.weight.data.fill_(factor * 1.0)
        elif isinstance(module, (T5Model, T5ForConditionalGeneration, T5EncoderModel, T5ForQuestionAnswering)):
            module.shared.weight.data.normal_(mean=0.0, std=factor * 1.0)
            if getattr(module, "lm_head", None) is not None and not self.config.tie_word_embeddings:
                module.lm_head.weight.data.normal_(mean=0.0, std=factor * 1.0)
            if hasattr(module, "qa_outputs"):
                module.qa_outputs.weight.data.normal_(mean=0.0, std=factor * d_model**-0.5)
                module.qa_outputs.bias.data.zero_()
        elif isinstance(module, T5ForTokenClassification):
            module.classifier.weight.data.normal_(mean=0.0, std=factor * 1.0)
            module.classifier.bias.data.zero_()
        elif isinstance(module, T5ClassificationHead):
            for linear in (module.dense, module.out_proj):
                linear.weight.data.normal_(mean=0.0, std=factor * d_model**-0.5)
                linear.bias.data.zero_()
        elif isinstance(module, T5DenseActDense):
            module.wi.weight.data.normal_(mean=0.0, std=factor * d_model**-0.5)
            module.wo.weight.data.normal_(mean=0.0, std=factor * d_ff**-0.5)
        elif isinstance(module, T5DenseGatedActDense):
            module.wi_0.weight.data.normal_(mean=0.0, std=factor * d_model**-0.5)
            module.wi_1.weight.data.normal_(mean=0.0, std=factor * d_model**-0.5)
            module.wo.weight.data.normal_(mean=0.0, std=factor * d_ff**-0.5)
        elif isinstance(module, T5Attention):
            module.q.weight.data.normal_(mean=0.0, std=factor * (d_model * d_kv) ** -0.5)
            module.k.weight.data.normal_(mean=0.0, std=factor * d_model**-0.5)
            module.v.weight.data.normal_(mean=0.0, std=factor * d_model**-0.5)
            module.o.weight.data.normal_(mean=0.0, std=factor * (n_heads * d_kv) ** -0.5)
            if module.has_relative_attention_bias:
                module.relative_attention_bias.weight.data.normal_(mean=0.0, std=factor * d_model**-0.5)

    def _shift_right(self, input_ids):
        """Decoder inputs from labels: prepend decoder_start_token_id, drop the last token, -100 -> pad.

        >>> model = T5Model(T5Config(vocab_size=10, d_model=8, d_kv=4, d_ff=8, num_layers=1, num_heads=2))
        >>> model._shift_right(torch.tensor([[5, 6, -100]])).tolist()
        [[0, 5, 6]]
        """
        # T5 starts decoding from the pad id when the config does not name a start token
        start = getattr(self.config, "decoder_start_token_id", None)
        if start is None:
            start = self.config.pad_token_id
        pad = self.config.pad_token_id
        if start is None:
            raise ModelError("config.decoder_start_token_id is not set; for T5 it is usually the pad id (0)")
        if pad is None:
            raise ModelError("config.pad_token_id is not set; T5 needs it to replace -100 in shifted labels")
        shifted = input_ids.new_zeros(input_ids.shape)
        shifted[..., 1:] = input_ids[..., :-1].clone()
        shifted[..., 0] = start
        return shifted.masked_fill(shifted == -100, pad)

    def prepare_decoder_input_ids_from_labels(self, labels):
        return self._shift_right(labels)


def _as_encoder_output(encoder_outputs):
    # users pass encoder_outputs back as a ModelOutput or as a plain tuple (last_hidden_state, hidden, attn)
    if encoder_outputs is None or isinstance(encoder_outputs, BaseModelOutput):
        return encoder_outputs
    if hasattr(encoder_outputs, "last_hidden_state"):
        return BaseModelOutput(
            last_hidden_state=encoder_outputs.last_hidden_state,
            hidden_states=getattr(encoder_outputs, "hidden_states", None),
            attentions=getattr(encoder_outputs, "attentions", None),
        )
    return BaseModelOutput(
        last_hidden_state=encoder_outputs[0],
        hidden_states=encoder_outputs[1] if len(encoder_outputs) > 1 else None,
        attentions=encoder_outputs[2] if len(encoder_outputs) > 2 else None,
    )


def _as_seq2seq_cache(past_key_values, kwargs):
    # `cache=` is the transformers 5 spelling; tuples of (self k, self v, cross k, cross v) the transformers 4 one
    if "cache" in kwargs:
        if past_key_values is not None:
            raise ModelError("pass either past_key_values= or cache=, not both")
        past_key_values = kwargs.pop("cache")
    if past_key_values is None or isinstance(past_key_values, EncoderDecoderCache):
        return past_key_values
    if isinstance(past_key_values, Cache):
        return EncoderDecoderCache(past_key_values, DynamicCache())
    if isinstance(past_key_values, (tuple, list)):
        return EncoderDecoderCache.from_legacy_cache(past_key_values)
    raise ModelError(
        f"past_key_values: expected an EncoderDecoderCache or a tuple of per-layer key/value tuples, "
        f"found {type(past_key_values).__name__}"
    )


class _T5EncoderDecoder(T5PreTrainedModel):
    """Shared embeddings + encoder + decoder, and the encode-then-decode forward the seq2seq heads reuse."""

    _tied_weights_keys: ClassVar = {
        "encoder.embed_tokens.weight": "shared.weight",
        "decoder.embed_tokens.weight": "shared.weight",
    }

    def _build_stacks(self, config):
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(config, self.shared, is_decoder=False, num_layers=config.num_layers)
        self.decoder = T5Stack(config, self.shared, is_decoder=True, num_layers=config.num_decoder_layers)

    def get_input_embeddings(self):
        return self.shared

    def set_input_embeddings(self, new_embeddings):
        self.shared = new_embeddings
        self.encoder.set_input_embeddings(new_embeddings)
        self.decoder.set_input_embeddings(new_embeddings)

    def get_encoder(self):
        return self.encoder

    def get_decoder(self):
        return self.decoder

    def _encode_decode(self, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs,
                       past_key_values, inputs_embeds, decoder_inputs_embeds, use_cache, output_attentions,
                       output_hidden_states):
        config = self.config
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        use_cache = config.use_cache if use_cache is None else use_cache
        encoder_outputs = _as_encoder_output(encoder_outputs)
        if encoder_outputs is None:
            encoder_outputs = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
                output_attentions=output_attentions, output_hidden_states=output_hidden_states,
            )
        decoder_outputs = self.decoder(
            input_ids=decoder_input_ids,
            attention_mask=decoder_attention_mask,
            inputs_embeds=decoder_inputs_embeds,
            past_key_values=past_key_values,
            encoder_hidden_states=encoder_outputs.last_hidden_state,
            encoder_attention_mask=attention_mask,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        return encoder_outputs, decoder_outputs

    @staticmethod
    def _seq2seq_fields(encoder_outputs, decoder_outputs):
        return {
            "past_key_values": decoder_outputs.past_key_values,
            "decoder_hidden_states": decoder_outputs.hidden_states,
            "decoder_attentions": decoder_outputs.attentions,
            "cross_attentions": decoder_outputs.cross_attentions,
            "encoder_last_hidden_state": encoder_outputs.last_hidden_state,
            "encoder_hidden_states": encoder_outputs.hidden_states,
            "encoder_attentions": encoder_outputs.attentions,
        }


class T5Model(_T5EncoderDecoder):
    """The bare encoder-decoder: returns the decoder's last hidden state (and the encoder's).

    >>> model = T5Model(T5Config(vocab_size=10, d_model=8, d_kv=4, d_ff=8, num_layers=1, num_heads=2)).eval()
    >>> model(torch.tensor([[3, 4, 1]]), decoder_input_ids=torch.tensor([[0, 3]])).last_hidden_state.shape
    torch.Size([1, 2, 8])
    """

    def __init__(self, config):
        super().__init__(config)
        self._build_stacks(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        past_key_values = _as_seq2seq_cache(past_key_values, kwargs)
        encoder_outputs, decoder_outputs = self._encode_decode(
            input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs, past_key_values,
            inputs_embeds, decoder_inputs_embeds, use_cache, output_attentions, output_hidden_states,
        )
        output = Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state,
            **self._seq2seq_fields(encoder_outputs, decoder_outputs),
        )
        return output if return_dict is not False else output.to_tuple()


class T5ForConditionalGeneration(_T5EncoderDecoder):
    """T5 with its LM head. `labels` alone are enough: decoder inputs are the labels shifted right.

    >>> model = T5ForConditionalGeneration(T5Config(vocab_size=10, d_model=8, d_kv=4, d_ff=8, num_layers=1,
    ...                                              num_heads=2)).eval()
    >>> out = model(torch.tensor([[3, 4, 1]]), labels=torch.tensor([[5, 1]]))
    >>> out.logits.shape, out.loss.shape
    (torch.Size([1, 2, 10]), torch.Size([]))
    """

    _tied_weights_keys: ClassVar = {
        "encoder.embed_tokens.weight": "shared.weight",
        "decoder.embed_tokens.weight": "shared.weight",
        "lm_head.weight": "shared.weight",
    }

    def __init__(self, config):
        super().__init__(config)
        self.model_dim = config.d_model
        self._build_stacks(config)
        self.lm_head = Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None,
                labels=None, use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs):
        past_key_values = _as_seq2seq_cache(past_key_values, kwargs)
        if labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self._shift_right(labels)
        encoder_outputs, decoder_outputs = self._encode_decode(
            input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs, past_key_values,
            inputs_embeds, decoder_inputs_embeds, use_cache, output_attentions, output_hidden_states,
        )
        sequence_output = decoder_outputs.last_hidden_state
        if self.config.scale_decoder_outputs:
            # original T5 ties the head to the embeddings and rescales to keep logits in range
            sequence_output = sequence_output * (self.model_dim**-0.5)
        logits = self.lm_head(sequence_output)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)), labels.to(logits.device).view(-1), ignore_index=-100
            )
        output = Seq2SeqLMOutput(loss=loss, logits=logits, **self._seq2seq_fields(encoder_outputs, decoder_outputs))
        return output if return_dict is not False else output.to_tuple()


class T5EncoderModel(T5PreTrainedModel):
    """Only the encoder (sentence embeddings, classification on top of encoder states)."""

    _tied_weights_keys: ClassVar = {"encoder.embed_tokens.weight": "shared.weight"}
    _keys_to_ignore_on_load_unexpected: ClassVar = [r"^decoder\.", r"^lm_head\."]

    def __init__(self, config):
        super().__init__(config)
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(config, self.shared, is_decoder=False, num_layers=config.num_layers)
        self.post_init()

    def get_input_embeddings(self):
        return self.shared

    def set_input_embeddings(self, new_embeddings):
        self.shared = new_embeddings
        self.encoder.set_input_embeddings(new_embeddings)

    def get_encoder(self):
        return self.encoder

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        config = self.config
        outputs = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
            output_attentions=config.output_attentions if output_attentions is None else output_attentions,
            output_hidden_states=config.output_hidden_states if output_hidden_states is None else output_hidden_states,
        )
        output = BaseModelOutput(
            last_hidden_state=outputs.last_hidden_state, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return output if return_dict is not False else output.to_tuple()


class T5ClassificationHead(nn.Module):
    """dropout -> dense -> tanh -> dropout -> out_proj over one sentence vector."""

    def __init__(self, config):
        super().__init__()
        self.dense = Linear(config.d_model, config.d_model)
        self.dropout = Dropout(p=config.classifier_dropout)
        self.out_proj = Linear(config.d_model, config.num_labels)

    def forward(self, hidden_states):
        hidden_states = torch.tanh(self.dense(self.dropout(hidden_states)))
        return self.out_proj(self.dropout(hidden_states))


class T5ForSequenceClassification(T5PreTrainedModel):
    """Classifies from the decoder state at the last <eos> of the input (decoder fed the shifted input)."""

    _tied_weights_keys: ClassVar = {
        "transformer.encoder.embed_tokens.weight": "transformer.shared.weight",
        "transformer.decoder.embed_tokens.weight": "transformer.shared.weight",
    }

    def __init__(self, config):
        super().__init__(config)
        self.transformer = T5Model(config)
        self.classification_head = T5ClassificationHead(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.transformer.shared

    def set_input_embeddings(self, new_embeddings):
        self.transformer.set_input_embeddings(new_embeddings)

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, inputs_embeds=None, decoder_inputs_embeds=None, labels=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        if labels is not None:
            use_cache = False
        if input_ids is None:
            raise ModelError("T5ForSequenceClassification needs input_ids (it finds the <eos> tokens in them)")
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self._shift_right(input_ids)
        outputs = self.transformer(
            input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask, encoder_outputs=encoder_outputs,
            inputs_embeds=inputs_embeds, decoder_inputs_embeds=decoder_inputs_embeds, use_cache=use_cache,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
        )
        sequence_output = outputs.last_hidden_state
        eos_mask = input_ids.eq(self.config.eos_token_id).to(sequence_output.device)
        eos_counts = eos_mask.sum(1)
        if int(eos_counts.min()) < 1:
            raise ModelError("T5ForSequenceClassification: every input row must contain an <eos> token "
                             f"(config.eos_token_id={self.config.eos_token_id})")
        if bool((eos_counts != eos_counts[0]).any()):
            raise ModelError("T5ForSequenceClassification: all rows must have the same number of <eos> tokens")
        batch_size, _, hidden_size = sequence_output.shape
        sentence = sequence_output[eos_mask, :].view(batch_size, -1, hidden_size)[:, -1, :]
        logits = self.classification_head(sentence)
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        output = Seq2SeqSequenceClassifierOutput(
            loss=loss, logits=logits, past_key_values=outputs.past_key_values,
            decoder_hidden_states=outputs.decoder_hidden_states, decoder_attentions=outputs.decoder_attentions,
            cross_attentions=outputs.cross_attentions, encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states, encoder_attentions=outputs.encoder_attentions,
        )
        return output if return_dict is not False else output.to_tuple()


class T5ForTokenClassification(T5PreTrainedModel):
    """A linear classifier over every encoder position."""

    _tied_weights_keys: ClassVar = {"transformer.encoder.embed_tokens.weight": "transformer.shared.weight"}

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.transformer = T5EncoderModel(config)
        self.dropout = Dropout(config.classifier_dropout)
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def get_input_embeddings(self):
        return self.transformer.shared

    def set_input_embeddings(self, new_embeddings):
        self.transformer.set_input_embeddings(new_embeddings)

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        outputs = self.transformer(
            input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.to(logits.device).view(-1))
        output = TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if return_dict is not False else output.to_tuple()


class T5ForQuestionAnswering(_T5EncoderDecoder):
    """Extractive QA over the decoder states (decoder fed the shifted input, as the reference does)."""

    def __init__(self, config):
        super().__init__(config)
        self.model_dim = config.d_model
        self._build_stacks(config)
        self.num_labels = config.num_labels
        self.qa_outputs = Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, start_positions=None, end_positions=None, inputs_embeds=None,
                decoder_inputs_embeds=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        if start_positions is not None and end_positions is not None:
            use_cache = False
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            if input_ids is None:
                raise ModelError("T5ForQuestionAnswering: pass input_ids, decoder_input_ids or decoder_inputs_embeds")
            decoder_input_ids = self._shift_right(input_ids)
        encoder_outputs, decoder_outputs = self._encode_decode(
            input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, encoder_outputs, None,
            inputs_embeds, decoder_inputs_embeds, use_cache, output_attentions, output_hidden_states,
        )
        logits = self.qa_outputs(decoder_outputs.last_hidden_state)
        start_logits, end_logits = (t.squeeze(-1).contiguous() for t in logits.split(1, dim=-1))
        loss = question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        output = Seq2SeqQuestionAnsweringModelOutput(
            loss=loss, start_logits=start_logits, end_logits=end_logits,
            **self._seq2seq_fields(encoder_outputs, decoder_outputs),
        )
        return output if return_dict is not False else output.to_tuple()


register(
    "t5",
    T5Config,
    base=T5Model,
    seq2seq_lm=T5ForConditionalGeneration,
    sequence_classification=T5ForSequenceClassification,
    token_classification=T5ForTokenClassification,
    question_answering=T5ForQuestionAnswering,
)
