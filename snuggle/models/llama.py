"""Llama-family decoders: Llama, Mistral, Qwen2 and Qwen3 share one implementation.

The four configs differ only in switches the modules read once:
- Mistral: `sliding_window` on every layer;
- Qwen2: biases on q/k/v (not on o_proj) and per-layer sliding windows (`layer_types`);
- Qwen3: an RMSNorm over each head of q and k before RoPE (`q_norm`, `k_norm`);
- Llama: optional `attention_bias` (all four projections) and `mlp_bias`.

State-dict keys equal transformers' (model.embed_tokens.weight, model.layers.N.self_attn.q_proj.weight,
..., model.norm.weight, lm_head.weight), so checkpoints move between the two libraries.

>>> import torch
>>> config = LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
...                      num_attention_heads=4, num_key_value_heads=2)
>>> model = LlamaForCausalLM(config).eval()
>>> model(torch.tensor([[1, 2, 3]])).logits.shape
torch.Size([1, 3, 32])
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn import functional as F

from snuggle.errors import ModelError
from snuggle.models.attention import (
    RotaryEmbedding,
    apply_rotary_pos_emb,
    attention_implementation,
    causal_attention_mask,
    packed_sequence_ids,
    scaled_dot_product_attention,
)
from snuggle.models.cache import Cache, DynamicCache, as_cache
from snuggle.models.encoder_losses import (
    question_answering_loss,
    sequence_classification_loss,
)
from snuggle.models.fast_dropout import Dropout
from snuggle.models.llama_configs import (
    ACTIVATIONS,
    LlamaConfig,
    MistralConfig,
    Qwen2Config,
    Qwen3Config,
)
from snuggle.models import llama_inference
from snuggle.models.llama_inference import (
    fast_layer_forward,
    fast_path_available,
    lm_head_matmul,
    rotary_tables,
    sdpa_additive_mask,
)
from snuggle.models.modeling import PreTrainedModel
from snuggle.models.outputs import (
    BaseModelOutputWithPast,
    CausalLMOutputWithPast,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutputWithPast,
    TokenClassifierOutput,
)
from snuggle.utils.logging import get_logger, warn_once

logger = get_logger("snuggle.models.llama")


# ---------------------------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------------------------
class LlamaRMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight, computed in float32."""

    def __init__(self, hidden_size: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)

    def extra_repr(self) -> str:
        return f"{tuple(self.weight.shape)}, eps={self.variance_epsilon}"


class LlamaMLP(nn.Module):
    """SwiGLU feed-forward: down(act(gate(x)) * up(x))."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        bias = bool(getattr(config, "mlp_bias", False))
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=bias)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=bias)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=bias)
        self.act_fn = ACTIVATIONS[config.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class LlamaAttention(nn.Module):
    """Multi-head attention with RoPE, grouped kv heads, optional q/k norm and sliding window."""

    def __init__(self, config: LlamaConfig, layer_idx: int) -> None:
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.num_heads = config.num_attention_heads
        self.num_key_value_heads = config.num_key_value_heads
        self.num_key_value_groups = self.num_heads // self.num_key_value_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_dropout
        self.sliding_window = config.layer_sliding_window(layer_idx)
        qkv_bias, o_bias = config.qkv_bias, config.o_proj_bias
        self.q_proj = nn.Linear(config.hidden_size, self.num_heads * self.head_dim, bias=qkv_bias)
        self.k_proj = nn.Linear(config.hidden_size, self.num_key_value_heads * self.head_dim, bias=qkv_bias)
        self.v_proj = nn.Linear(config.hidden_size, self.num_key_value_heads * self.head_dim, bias=qkv_bias)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=o_bias)
        if config.use_qk_norm:
            # Qwen3: one RMSNorm over head_dim, shared by all heads, before RoPE
            self.q_norm = LlamaRMSNorm(self.head_dim, eps=config.rms_norm_eps)
            self.k_norm = LlamaRMSNorm(self.head_dim, eps=config.rms_norm_eps)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        attention_mask: torch.Tensor | None,
        cache: Cache | None = None,
        implementation: str = "sdpa",
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, seq_len, _ = hidden_states.shape
        # (batch, seq, heads, head_dim) -> (batch, heads, seq, head_dim)
        query = self.q_proj(hidden_states).view(batch, seq_len, -1, self.head_dim)
        key = self.k_proj(hidden_states).view(batch, seq_len, -1, self.head_dim)
        value = self.v_proj(hidden_states).view(batch, seq_len, -1, self.head_dim).transpose(1, 2)
        if hasattr(self, "q_norm"):
            query, key = self.q_norm(query), self.k_norm(key)
        query, key = query.transpose(1, 2), key.transpose(1, 2)

        cos, sin = position_embeddings
        query, key = apply_rotary_pos_emb(query, key, cos, sin)
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)

        output, weights = scaled_dot_product_attention(
            query,
            key,
            value,
            attention_mask,
            implementation=implementation,
            scaling=self.scaling,
            dropout=self.attention_dropout,
            training=self.training,
            num_key_value_groups=self.num_key_value_groups,
        )
        output = output.reshape(batch, seq_len, -1).contiguous()
        return self.o_proj(output), weights


class LlamaDecoderLayer(nn.Module):
    """Pre-norm block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: LlamaConfig, layer_idx: int) -> None:
        super().__init__()
        self.hidden_size = config.hidden_size
        self.self_attn = LlamaAttention(config, layer_idx)
        self.mlp = LlamaMLP(config)
        self.input_layernorm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_attention_layernorm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        cache: Cache | None = None,
        implementation: str = "sdpa",
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        residual = hidden_states
        attn_output, weights = self.self_attn(
            self.input_layernorm(hidden_states), position_embeddings, attention_mask, cache, implementation
        )
        hidden_states = residual + attn_output
        hidden_states = hidden_states + self.mlp(self.post_attention_layernorm(hidden_states))
        return hidden_states, weights


# ---------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------
class LlamaPreTrainedModel(PreTrainedModel):
    config_class = LlamaConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["LlamaDecoderLayer"]
    _supports_sdpa = True

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(mean=0.0, std=std)
            if module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.data.normal_(mean=0.0, std=std)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()
        elif isinstance(module, LlamaRMSNorm):
            module.weight.data.fill_(1.0)


class LlamaModel(LlamaPreTrainedModel):
    """The decoder stack: embeddings, layers, final norm. Returns BaseModelOutputWithPast."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.vocab_size = config.vocab_size
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        self.layers = nn.ModuleList(LlamaDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config)
        self.gradient_checkpointing = False
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values=None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        cache_position: torch.LongTensor | None = None,
        cache=None,
        **kwargs,
    ):
        config = self.config
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        use_cache = getattr(config, "use_cache", True) if use_cache is None else use_cache
        return_dict = config.return_dict if return_dict is None else return_dict
        if (input_ids is None) == (inputs_embeds is None):
            raise ModelError(f"{type(self).__name__}.forward: pass exactly one of input_ids or inputs_embeds")
        if self.gradient_checkpointing and self.training and use_cache:
            warn_once(logger, "use_cache=True is incompatible with gradient checkpointing; setting use_cache=False")
            use_cache = False

        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        batch_size, query_length = inputs_embeds.shape[:2]

        cache = as_cache(past_key_values if past_key_values is not None else cache)
        if use_cache and cache is None:
            cache = DynamicCache()
        past_length = cache.get_seq_length() if cache is not None else 0
        implementation = attention_implementation(config, output_attentions)
        # Inference (no autograd, eval mode, SDPA): layers take the fused few-op path of llama_inference.py,
        # with the rotary tables and an additive mask built once for all layers.
        fast = not torch.is_grad_enabled() and not self.training and implementation == "sdpa"
        session = self.__dict__.get(llama_inference.SESSION_ATTRIBUTE)  # see LlamaForCausalLM._decode_session
        rope_rows = None  # a decode step at the default position inside generate(): rows of the call's rotary table
        if (fast and session is not None and position_ids is None and cache_position is None and query_length == 1
                and past_length > 0):
            rope_rows = llama_inference.session_rotary_rows(session, self.rotary_emb, inputs_embeds, past_length)
        if position_ids is None and rope_rows is None:
            if cache_position is None:
                cache_position = torch.arange(past_length, past_length + query_length, device=inputs_embeds.device)
            position_ids = cache_position.unsqueeze(0)

        masks = self._attention_masks(
            implementation, attention_mask, inputs_embeds, past_length, position_ids, cache
        )
        position_embeddings = None  # (cos, sin) for the modules' own forward: made when first needed
        if rope_rows is not None:
            cos, signed_sin = rope_rows
        else:
            position_embeddings = self.rotary_emb(inputs_embeds, position_ids)
            if fast:
                cos, signed_sin = rotary_tables(*position_embeddings)
        if fast:
            masks = {window: sdpa_additive_mask(mask, inputs_embeds.dtype) for window, mask in masks.items()}
        decode_step = fast and query_length == 1 and llama_inference.decode_layers_possible()

        hidden_states = inputs_embeds
        all_hidden_states = () if output_hidden_states else None
        all_attentions = () if output_attentions else None
        shape, flat = hidden_states.shape, None  # flat: (batch * seq, hidden) while fast layers follow each other
        layers = self.layers
        if config.num_hidden_layers < len(layers):
            layers = layers[: config.num_hidden_layers]  # slicing builds a new ModuleList: only when needed
        only_mask = next(iter(masks.values())) if len(masks) == 1 else None
        if decode_step and len(masks) == 1 and not output_hidden_states:
            # every layer in one C call; None (nothing done) when a layer cannot take it
            flat = llama_inference.decode_layers_step(layers, hidden_states.reshape(-1, shape[-1]), batch_size,
                                                      only_mask, cos, signed_sin, cache, session)
            if flat is not None:
                layers = ()
        pack = decode_step and bool(layers) and llama_inference.pack_requested(session)
        for layer in layers:
            if output_hidden_states:
                all_hidden_states += (hidden_states if flat is None else flat.view(shape),)
            mask = only_mask if len(masks) == 1 else masks[layer.self_attn.sliding_window]
            if decode_step:  # the C layer, its checks memoized per layer
                source = flat if flat is not None else hidden_states.reshape(-1, shape[-1])
                fast_output = llama_inference.decode_layer_step(layer, source, batch_size, mask, cos, signed_sin,
                                                                cache, pack)
                if fast_output is not None:
                    flat = fast_output
                    continue
            if fast and fast_path_available(layer):
                source = flat if flat is not None else hidden_states.reshape(-1, shape[-1])
                fast_output = fast_layer_forward(layer, source, batch_size, mask, cos, signed_sin, cache)
                if fast_output is not None:
                    flat = fast_output
                    continue
            if flat is not None:
                hidden_states, flat = flat.view(shape), None
            if position_embeddings is None:
                position_ids = torch.arange(past_length, past_length + query_length,
                                            device=inputs_embeds.device).unsqueeze(0)
                position_embeddings = self.rotary_emb(inputs_embeds, position_ids)
            if self.gradient_checkpointing and self.training:
                hidden_states, weights = self._gradient_checkpointing_func(
                    layer.__call__, hidden_states, mask, position_embeddings, None, implementation
                )
            else:
                hidden_states, weights = layer(hidden_states, mask, position_embeddings, cache, implementation)
            if output_attentions:
                all_attentions += (weights,)

        if flat is not None:
            hidden_states = flat.view(shape)
        norm = self.norm
        if (fast and type(norm) is LlamaRMSNorm and not norm._forward_hooks and not norm._forward_pre_hooks
                and not nn.modules.module._global_forward_hooks and not nn.modules.module._global_forward_pre_hooks):
            hidden_states = llama_inference._rms_norm(norm, hidden_states)  # one fused op, as in the fast layers
        else:
            hidden_states = norm(hidden_states)
        if output_hidden_states:
            all_hidden_states += (hidden_states,)

        output = BaseModelOutputWithPast(
            last_hidden_state=hidden_states,
            past_key_values=cache if use_cache else None,
            hidden_states=all_hidden_states,
            attentions=all_attentions,
        )
        return output if return_dict else output.to_tuple()

    def _attention_masks(self, implementation, attention_mask, inputs_embeds, past_length, position_ids, cache):
        """One mask per distinct sliding window among the layers (None = full attention)."""
        batch_size, query_length = inputs_embeds.shape[:2]
        windows = {layer.self_attn.sliding_window for layer in self.layers}
        if attention_mask is not None and attention_mask.dim() == 4:
            # a prepared 4D mask is used as given (boolean True = attend, or additive float)
            if implementation == "eager" and attention_mask.dtype == torch.bool:
                attention_mask = torch.where(
                    attention_mask, 0.0, torch.finfo(inputs_embeds.dtype).min
                ).to(inputs_embeds.dtype)
            return {window: attention_mask for window in windows}
        # Packed rows (several sequences, positions restarting at 0) are detected without a padding mask and before
        # anything is cached. The reference skips detection whenever a cache object exists, which use_cache=True
        # (the default) creates, silently letting packed sequences attend to each other; we do not.
        sequence_ids = None
        if attention_mask is None and past_length == 0 and position_ids is not None:
            sequence_ids = packed_sequence_ids(position_ids.expand(batch_size, -1))
        return {
            window: causal_attention_mask(
                implementation=implementation,
                batch_size=batch_size,
                query_length=query_length,
                key_length=past_length + query_length,
                query_offset=past_length,
                padding_mask=attention_mask,
                sliding_window=window,
                sequence_ids=sequence_ids,
                dtype=inputs_embeds.dtype,
                device=inputs_embeds.device,
            )
            for window in windows
        }


def _lm_head_logits(lm_head: nn.Module, hidden_states: torch.Tensor, session: dict | None = None) -> torch.Tensor:
    """lm_head(hidden_states), through the small-batch C kernel when a decode step has <= 16 rows (the head
    is the largest matrix: ~113 MB per step for SmolLM2); `session`: see LlamaForCausalLM._decode_session."""
    weight = getattr(lm_head, "weight", None)
    if (type(lm_head) is nn.Linear and not lm_head.training and lm_head.bias is None and not lm_head._forward_hooks
            and not lm_head._forward_pre_hooks and not nn.modules.module._global_forward_hooks
            and not nn.modules.module._global_forward_pre_hooks and weight is not None and weight.dim() == 2):
        logits = lm_head_matmul(hidden_states.reshape(-1, hidden_states.shape[-1]), lm_head,
                                llama_inference.pack_requested(session))
        if logits is not None:
            return logits.view(*hidden_states.shape[:-1], weight.shape[0])
    return lm_head(hidden_states)


def _keep_last_positions(hidden_states: torch.Tensor, logits_to_keep) -> torch.Tensor:
    """`logits_to_keep`: 0 keeps all, an int k keeps the last k positions, a 1D tensor keeps those indices."""
    if isinstance(logits_to_keep, int):
        return hidden_states if logits_to_keep == 0 else hidden_states[:, -logits_to_keep:, :]
    return hidden_states[:, logits_to_keep, :]


def causal_lm_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    num_items_in_batch: int | torch.Tensor | None = None,
    ignore_index: int = -100,
    shift_labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Next-token cross-entropy: position t predicts labels[t + 1]; `ignore_index` positions do not count.

    With `num_items_in_batch` the summed loss is divided by it (correct loss under gradient accumulation).

    >>> logits = torch.zeros(1, 3, 4)
    >>> round(float(causal_lm_loss(logits, torch.tensor([[0, 1, -100]]))), 4)  # only t=0 -> label 1 counts
    1.3863
    """
    logits = logits.float()
    if shift_labels is None:
        shift_labels = F.pad(labels, (0, 1), value=ignore_index)[..., 1:]
    logits = logits.reshape(-1, logits.shape[-1])
    shift_labels = shift_labels.reshape(-1).to(logits.device)
    if num_items_in_batch is None:
        return F.cross_entropy(logits, shift_labels, ignore_index=ignore_index)
    loss = F.cross_entropy(logits, shift_labels, ignore_index=ignore_index, reduction="sum")
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(loss.device)
    return loss / num_items_in_batch


class LlamaForCausalLM(LlamaPreTrainedModel):
    """Decoder + `lm_head`; `labels` (batch, seq) give the shifted next-token loss (-100 = ignored)."""

    _tied_weights_keys = ["lm_head.weight"]

    def _single_thread_decode(self, rows: int) -> bool:
        """Whether generate's decode loop should run torch on one thread: the decode steps then use the
        `_gemv` kernel's own two threads (llama_inference.input_major_matmul), which must not compete with
        torch's spinning OpenMP threads."""
        weight = self.lm_head.weight
        return (llama_inference._gemv is not None and rows <= llama_inference.SMALL_MATMUL_MAX_ROWS
                and weight.device.type == "cpu" and weight.dtype == torch.float32 and not self.training)

    @contextlib.contextmanager
    def _decode_session(self, steps: int = 0):
        """generate() decodes inside this (`steps`: the call's most new tokens). The decode steps check the
        layers for the C decode path (modules, hooks, weights) at the first step and reuse that for the call's
        later steps (~5% of a SmolLM2 step otherwise), so a change made to the layers from inside the call (a
        streamer or logits processor) applies from the next call on. A call of at least
        llama_inference.PACK_MIN_STEPS tokens packs the weights (`llama_inference.pack_requested`)."""
        decoder = self.model
        previous = decoder.__dict__.get(llama_inference.SESSION_ATTRIBUTE)
        decoder.__dict__[llama_inference.SESSION_ATTRIBUTE] = {"steps": steps}
        try:
            yield
        finally:
            decoder.__dict__[llama_inference.SESSION_ATTRIBUTE] = previous

    def _decode_loop(self, cache, rows: int, steps: int):
        """generate()'s decode steps without the module calls (llama_inference.DecodeLoop), or None when this
        model is not one they equal: LlamaForCausalLM's and LlamaModel's own forward, a plain embedding, final
        norm and bias-free LM head, no hooks, no attentions or hidden states asked for, SDPA attention, no sliding
        window (one-token steps without padding then need no mask). Call inside `_decode_session`, after the
        prefill, with torch on one thread."""
        decoder, config = self.model, self.config
        embedding, norm, head = decoder.embed_tokens, decoder.norm, self.lm_head
        modules = (self, decoder, embedding, norm, head)
        if (type(self).forward is not LlamaForCausalLM.forward or type(decoder).forward is not LlamaModel.forward
                or type(embedding) is not nn.Embedding or embedding.max_norm is not None
                or type(norm) is not LlamaRMSNorm or type(head) is not nn.Linear or head.bias is not None
                or self.training or any(m._forward_hooks or m._forward_pre_hooks for m in modules)
                or nn.modules.module._global_forward_hooks or nn.modules.module._global_forward_pre_hooks
                or config.output_attentions or config.output_hidden_states
                or attention_implementation(config, False) != "sdpa"
                or config.num_hidden_layers != len(decoder.layers)
                or any(layer.self_attn.sliding_window is not None for layer in decoder.layers)):
            return None
        return llama_inference.decode_loop(embedding.weight, decoder.layers, norm, head, decoder.rotary_emb, cache,
                                           decoder.__dict__.get(llama_inference.SESSION_ATTRIBUTE), rows, steps)

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__(config)
        self.model = LlamaModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    def get_decoder(self) -> LlamaModel:
        return self.model

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values=None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        cache_position: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        num_logits_to_keep: int | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
        shift_labels: torch.Tensor | None = None,
        **kwargs,
    ):
        return_dict = self.config.return_dict if return_dict is None else return_dict
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            cache_position=cache_position,
            **kwargs,
        )
        if num_logits_to_keep is not None:  # the transformers 4.45 name
            logits_to_keep = num_logits_to_keep
        hidden_states = _keep_last_positions(outputs.last_hidden_state, logits_to_keep)
        session = self.model.__dict__.get(llama_inference.SESSION_ATTRIBUTE)
        rows = hidden_states.shape[0] * hidden_states.shape[1]
        if (session is not None and labels is None and torch.get_num_threads() > 1 and not torch.is_grad_enabled()
                and rows <= llama_inference.SMALL_MATMUL_MAX_ROWS and self._single_thread_decode(rows)):
            # generate's prefill (its decode steps run torch on one thread from here on, and generate restores
            # the thread count): the last positions' logits then take the head kernel too (~4 ms for SmolLM2,
            # ~18 ms through torch's two threads)
            torch.set_num_threads(1)
        logits = _lm_head_logits(self.lm_head, hidden_states, session)

        loss = None
        if labels is not None or shift_labels is not None:
            loss = causal_lm_loss(logits, labels, num_items_in_batch, shift_labels=shift_labels)

        output = CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return output if return_dict else output.to_tuple()


class LlamaForSequenceClassification(LlamaPreTrainedModel):
    """Scores every position with `score`, then keeps the last non-pad token of each row.

    The last real token is found from `config.pad_token_id` (the rightmost non-pad position, as the
    reference; with no pad token only batch size 1 is allowed).
    """

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = LlamaModel(config)
        self.score = nn.Linear(config.hidden_size, self.num_labels, bias=False)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values=None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ):
        return_dict = self.config.return_dict if return_dict is None else return_dict
        outputs = self.model(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        logits = self.score(outputs.last_hidden_state)
        batch_size = (input_ids if input_ids is not None else inputs_embeds).shape[0]
        pad_token_id = self.config.pad_token_id
        if pad_token_id is None and batch_size != 1:
            raise ModelError(
                f"{type(self).__name__}: config.pad_token_id is not set, so batches of more than one row cannot be "
                "pooled (the last real token is unknown); set model.config.pad_token_id"
            )
        if pad_token_id is None or input_ids is None:
            if pad_token_id is not None:
                warn_once(logger, f"{type(self).__name__} cannot find padding in inputs_embeds; pooling the last position")
            last_token = -1
        else:
            # rightmost non-pad position; works for left and right padding alike
            not_pad = (input_ids != pad_token_id).to(logits.device, torch.int32)
            positions = torch.arange(input_ids.shape[-1], device=logits.device, dtype=torch.int32)
            last_token = (positions * not_pad).argmax(-1)
        pooled_logits = logits[torch.arange(batch_size, device=logits.device), last_token]

        loss = None
        if labels is not None:
            loss = sequence_classification_loss(pooled_logits, labels, self.config)
        output = SequenceClassifierOutputWithPast(
            loss=loss,
            logits=pooled_logits,
            past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return output if return_dict else output.to_tuple()


class LlamaForTokenClassification(LlamaPreTrainedModel):
    """Per-token labels: dropout then `score` on every hidden state."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.model = LlamaModel(config)
        if getattr(config, "classifier_dropout", None) is not None:
            dropout = config.classifier_dropout
        elif getattr(config, "hidden_dropout", None) is not None:
            dropout = config.hidden_dropout
        else:
            dropout = 0.1
        self.dropout = Dropout(dropout)
        self.score = nn.Linear(config.hidden_size, config.num_labels, bias=getattr(config, "token_classification_bias", True))
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values=None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ):
        return_dict = self.config.return_dict if return_dict is None else return_dict
        outputs = self.model(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        logits = self.score(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits.float().view(-1, self.num_labels), labels.view(-1).to(logits.device), ignore_index=-100
            )
        output = TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if return_dict else output.to_tuple()


class LlamaForQuestionAnswering(LlamaPreTrainedModel):
    """Extractive QA: start/end logits per token from `qa_outputs`."""

    # the reference keeps this historical prefix for Llama/Qwen QA checkpoints (Mistral uses "model")
    base_model_prefix = "transformer"

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__(config)
        # the decoder's attribute name is the prefix of every checkpoint key ("transformer." or "model.")
        setattr(self, self.base_model_prefix, LlamaModel(config))
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.post_init()

    @property
    def decoder(self) -> LlamaModel:
        return getattr(self, self.base_model_prefix)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.decoder.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.decoder.embed_tokens = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values=None,
        inputs_embeds: torch.Tensor | None = None,
        start_positions: torch.LongTensor | None = None,
        end_positions: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ):
        return_dict = self.config.return_dict if return_dict is None else return_dict
        outputs = self.decoder(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        logits = self.qa_outputs(outputs.last_hidden_state)
        start_logits, end_logits = logits.split(1, dim=-1)
        start_logits = start_logits.squeeze(-1).contiguous()
        end_logits = end_logits.squeeze(-1).contiguous()
        loss = question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        output = QuestionAnsweringModelOutput(
            loss=loss,
            start_logits=start_logits,
            end_logits=end_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return output if return_dict else output.to_tuple()


# Mistral / Qwen2 / Qwen3 use the same modules; these names exist so `from snuggle import MistralForCausalLM`
# works and so each family saves its own class name in config.json "architectures".
def _family_class(base: type, name: str, config_class: type, **attributes) -> type:
    namespace = {"config_class": config_class, "__doc__": f"{base.__doc__}\n\n({name}: same modules.)", **attributes}
    return type(name, (base,), namespace)


_CLASS_SUFFIX = {
    "base": "Model",
    "causal_lm": "ForCausalLM",
    "sequence_classification": "ForSequenceClassification",
    "token_classification": "ForTokenClassification",
    "question_answering": "ForQuestionAnswering",
}

MistralModel = _family_class(LlamaModel, "MistralModel", MistralConfig)
MistralForCausalLM = _family_class(LlamaForCausalLM, "MistralForCausalLM", MistralConfig)
MistralForSequenceClassification = _family_class(
    LlamaForSequenceClassification, "MistralForSequenceClassification", MistralConfig
)
MistralForTokenClassification = _family_class(
    LlamaForTokenClassification, "MistralForTokenClassification", MistralConfig
)
MistralForQuestionAnswering = _family_class(
    LlamaForQuestionAnswering, "MistralForQuestionAnswering", MistralConfig, base_model_prefix="model"
)
Qwen2Model = _family_class(LlamaModel, "Qwen2Model", Qwen2Config)
Qwen2ForCausalLM = _family_class(LlamaForCausalLM, "Qwen2ForCausalLM", Qwen2Config)
Qwen2ForSequenceClassification = _family_class(
    LlamaForSequenceClassification, "Qwen2ForSequenceClassification", Qwen2Config
)
Qwen2ForTokenClassification = _family_class(LlamaForTokenClassification, "Qwen2ForTokenClassification", Qwen2Config)
Qwen2ForQuestionAnswering = _family_class(LlamaForQuestionAnswering, "Qwen2ForQuestionAnswering", Qwen2Config)
Qwen3Model = _family_class(LlamaModel, "Qwen3Model", Qwen3Config)
Qwen3ForCausalLM = _family_class(LlamaForCausalLM, "Qwen3ForCausalLM", Qwen3Config)
Qwen3ForSequenceClassification = _family_class(
    LlamaForSequenceClassification, "Qwen3ForSequenceClassification", Qwen3Config
)
Qwen3ForTokenClassification = _family_class(LlamaForTokenClassification, "Qwen3ForTokenClassification", Qwen3Config)
Qwen3ForQuestionAnswering = _family_class(LlamaForQuestionAnswering, "Qwen3ForQuestionAnswering", Qwen3Config)


def _register() -> None:
    from snuggle.models.auto import register

    families = {"llama": ("Llama", LlamaConfig), "mistral": ("Mistral", MistralConfig),
                "qwen2": ("Qwen2", Qwen2Config), "qwen3": ("Qwen3", Qwen3Config)}
    module_names = globals()
    for model_type, (prefix, config_class) in families.items():
        heads = {head: module_names[prefix + suffix] for head, suffix in _CLASS_SUFFIX.items()}
        register(model_type, config_class, **heads)


_register()
