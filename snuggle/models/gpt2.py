"""GPT-2: a decoder-only transformer with learned absolute positions, read top to bottom.

Weights keep the OpenAI "Conv1D" layout the reference uses: `c_attn`, `c_proj` and `c_fc` store
their weight as (in_features, out_features), the transpose of `nn.Linear`. State-dict keys and
shapes are the reference's (`transformer.h.0.attn.c_attn.weight` ...), so checkpoints load both ways.

>>> import torch
>>> config = GPT2Config(vocab_size=10, n_embd=8, n_layer=1, n_head=2, n_positions=16)
>>> model = GPT2LMHeadModel(config).eval()
>>> model(torch.tensor([[1, 2, 3]])).logits.shape
torch.Size([1, 3, 10])
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from snuggle.errors import ModelError
from snuggle.models.attention import (
    attention_implementation,
    boolean_to_additive_mask,
    causal_attention_mask,
    packed_sequence_ids,
    scaled_dot_product_attention,
)
from snuggle.models.auto import register
from snuggle.models.cache import DynamicCache, EncoderDecoderCache, as_cache
from snuggle.models.configuration import PretrainedConfig
from snuggle.models.encoder_attention import activation_from_name
from snuggle.models.encoder_losses import (
    question_answering_loss,
    sequence_classification_loss,
)
from snuggle.models.fast_dropout import Dropout, dropout as fast_dropout
from snuggle.models.fast_linear import linear
from snuggle.models.modeling import PreTrainedModel
from snuggle.models.outputs import (
    BaseModelOutputWithPastAndCrossAttentions,
    CausalLMOutputWithCrossAttentions,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutputWithPast,
    TokenClassifierOutput,
)

# ---------------------------------------------------------------------------------------------------------------------
# config


class GPT2Config(PretrainedConfig):
    """GPT-2 hyper-parameters under their original names (n_embd, n_layer, n_head, n_positions).

    The generic names map onto them: `config.hidden_size` is `config.n_embd`.

    >>> GPT2Config(hidden_size=64, n_head=4).n_embd
    64
    """

    model_type = "gpt2"
    attribute_map: ClassVar = {
        "hidden_size": "n_embd",
        "max_position_embeddings": "n_positions",
        "num_attention_heads": "n_head",
        "num_hidden_layers": "n_layer",
    }
    keys_to_ignore_at_inference: ClassVar = ["past_key_values"]

    def __init__(
        self,
        vocab_size=50257,
        n_positions=1024,
        n_embd=768,
        n_layer=12,
        n_head=12,
        n_inner=None,
        activation_function="gelu_new",
        resid_pdrop=0.1,
        embd_pdrop=0.1,
        attn_pdrop=0.1,
        layer_norm_epsilon=1e-5,
        initializer_range=0.02,
        summary_type="cls_index",
        summary_use_proj=True,
        summary_activation=None,
        summary_proj_to_labels=True,
        summary_first_dropout=0.1,
        scale_attn_weights=True,
        use_cache=True,
        bos_token_id=50256,
        eos_token_id=50256,
        pad_token_id=None,
        scale_attn_by_inverse_layer_idx=False,
        reorder_and_upcast_attn=False,
        add_cross_attention=False,
        tie_word_embeddings=True,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.n_positions = n_positions
        self.n_embd = n_embd
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_inner = n_inner
        self.activation_function = activation_function
        self.resid_pdrop = resid_pdrop
        self.embd_pdrop = embd_pdrop
        self.attn_pdrop = attn_pdrop
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.summary_type = summary_type
        self.summary_use_proj = summary_use_proj
        self.summary_activation = summary_activation
        self.summary_first_dropout = summary_first_dropout
        self.summary_proj_to_labels = summary_proj_to_labels
        self.scale_attn_weights = scale_attn_weights
        self.use_cache = use_cache
        self.scale_attn_by_inverse_layer_idx = scale_attn_by_inverse_layer_idx
        self.reorder_and_upcast_attn = reorder_and_upcast_attn
        self.add_cross_attention = add_cross_attention
        super().__init__(
            bos_token_id=bos_token_id,
            eos_token_id=eos_token_id,
            pad_token_id=pad_token_id,
            tie_word_embeddings=tie_word_embeddings,
            **kwargs,
        )


# ---------------------------------------------------------------------------------------------------------------------
# masks and attention


def encoder_padding_mask(attention_mask, implementation, batch_size, key_length, dtype, device):
    """(batch, encoder tokens) 1/0 mask -> (batch, 1, 1, key) mask for cross-attention; None if nothing is padded.

    Boolean (True = attend) for SDPA, additive (0 / dtype min) for eager, like `causal_attention_mask`.

    >>> encoder_padding_mask(torch.tensor([[1, 0]]), "sdpa", 1, 2, torch.float32, "cpu").tolist()
    [[[[True, False]]]]
    """
    if attention_mask is None:
        return None
    if attention_mask.dim() == 4:
        keep = attention_mask.to(device)
    else:
        if tuple(attention_mask.shape) != (batch_size, key_length):
            raise ModelError(
                f"encoder_attention_mask has shape {tuple(attention_mask.shape)}; expected (batch, encoder tokens) "
                f"= ({batch_size}, {key_length}) with 1 for tokens and 0 for padding"
            )
        if bool(attention_mask.all()):
            return None
        keep = attention_mask.to(device=device, dtype=torch.bool)[:, None, None, :]
    if keep.dtype != torch.bool:
        return keep.to(dtype)  # an explicit additive mask
    return keep if implementation == "sdpa" else boolean_to_additive_mask(keep, dtype)


def upcast_eager_attention(query, key, value, attention_mask, scaling, dropout, training):
    """The reference's `reorder_and_upcast_attn`: scores and softmax in float32 even under half precision."""
    scores = torch.matmul(query.float(), key.float().transpose(-1, -2)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            attention_mask = boolean_to_additive_mask(attention_mask, torch.float32)
        scores = scores + attention_mask.float()
    probs = fast_dropout(F.softmax(scores, dim=-1).to(value.dtype), p=dropout, training=training)
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), probs


def shifted_causal_lm_loss(logits, labels, vocab_size, num_items_in_batch=None, ignore_index=-100):
    """Next-token cross-entropy: position t predicts labels[t + 1]; -100 labels are ignored.

    With `num_items_in_batch` the summed loss is divided by it (correct under gradient accumulation).

    >>> round(float(shifted_causal_lm_loss(torch.zeros(1, 2, 4), torch.tensor([[0, 3]]), 4)), 4)  # log(4)
    1.3863
    """
    logits = logits.float()
    labels = labels.to(logits.device)
    shift_labels = F.pad(labels, (0, 1), value=ignore_index)[..., 1:].contiguous()
    reduction = "sum" if num_items_in_batch is not None else "mean"
    loss = F.cross_entropy(
        logits.reshape(-1, vocab_size), shift_labels.reshape(-1), ignore_index=ignore_index, reduction=reduction
    )
    if num_items_in_batch is not None:
        if torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(loss.device)
        loss = loss / num_items_in_batch
    return loss


def _cross_cache_parts(cache, layer_idx):
    """(self-attention cache, cross-attention cache, cross keys/values already cached?) of any cache object."""
    if isinstance(cache, EncoderDecoderCache):
        return cache.self_attention_cache, cache.cross_attention_cache, cache.is_updated.get(layer_idx, False)
    return cache, None, False


# ---------------------------------------------------------------------------------------------------------------------
# modules


class Conv1D(nn.Module):
    """A linear layer whose weight is stored (in_features, out_features): y = x @ W + b.

    >>> Conv1D(nf=3, nx=2).weight.shape
    torch.Size([2, 3])
    """

    def __init__(self, nf: int, nx: int):
        super().__init__()
        self.nf = nf
        self.nx = nx
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        out_shape = x.shape[:-1] + (self.nf,)
        # F.linear with the transposed (nx, nf) weight is addmm(bias, x, weight); CPU inference goes to oneDNN
        return linear(x.reshape(-1, x.size(-1)), self.weight.t(), self.bias).view(out_shape)

    def extra_repr(self) -> str:
        return f"nf={self.nf}, nx={self.nx}"


class GPT2Attention(nn.Module):
    """Multi-head attention with one fused q/k/v projection (`c_attn`), or cross-attention (`q_attn` + k/v `c_attn`)."""

    def __init__(self, config, is_cross_attention=False, layer_idx=None):
        super().__init__()
        self.config = config
        self.embed_dim = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = self.embed_dim // self.num_heads
        if self.head_dim * self.num_heads != self.embed_dim:
            raise ModelError(
                f"config n_embd={self.embed_dim} must be divisible by n_head={self.num_heads}; change one of them"
            )
        self.is_cross_attention = is_cross_attention
        self.layer_idx = layer_idx
        self.reorder_and_upcast_attn = config.reorder_and_upcast_attn
        self.scaling = self.head_dim**-0.5 if config.scale_attn_weights else 1.0
        if config.scale_attn_by_inverse_layer_idx:
            self.scaling /= float(layer_idx + 1)
        if is_cross_attention:
            self.c_attn = Conv1D(2 * self.embed_dim, self.embed_dim)  # keys and values from the encoder
            self.q_attn = Conv1D(self.embed_dim, self.embed_dim)
        else:
            self.c_attn = Conv1D(3 * self.embed_dim, self.embed_dim)
        self.c_proj = Conv1D(self.embed_dim, self.embed_dim)
        self.attn_dropout = Dropout(config.attn_pdrop)
        self.resid_dropout = Dropout(config.resid_pdrop)

    def _split_heads(self, x):
        # (batch, seq, embed) -> (batch, heads, seq, head_dim)
        return x.view(*x.shape[:-1], -1, self.head_dim).transpose(1, 2)

    def forward(self, hidden_states, cache=None, attention_mask=None, encoder_hidden_states=None,
                output_attentions=False):
        if self.is_cross_attention:
            self_cache, cross_cache, cross_ready = _cross_cache_parts(cache, self.layer_idx)
            query = self._split_heads(self.q_attn(hidden_states))
            if cross_ready:
                key, value = cross_cache[self.layer_idx]
            else:
                key, value = self.c_attn(encoder_hidden_states).split(self.embed_dim, dim=2)
                key, value = self._split_heads(key), self._split_heads(value)
                if cross_cache is not None:
                    key, value = cross_cache.update(key, value, self.layer_idx)
                    cache.is_updated[self.layer_idx] = True
            is_causal = False
        else:
            self_cache, _, _ = _cross_cache_parts(cache, self.layer_idx)
            query, key, value = self.c_attn(hidden_states).split(self.embed_dim, dim=2)
            query, key, value = self._split_heads(query), self._split_heads(key), self._split_heads(value)
            if self_cache is not None:
                key, value = self_cache.update(key, value, self.layer_idx)
            is_causal = True

        implementation = attention_implementation(self.config, output_attentions)
        dropout = self.attn_dropout.p if self.training else 0.0
        if implementation == "eager" and self.reorder_and_upcast_attn:
            context, weights = upcast_eager_attention(
                query, key, value, attention_mask, self.scaling, dropout, self.training
            )
        elif implementation == "sdpa" and not is_causal:
            # cross-attention: SDPA's switch reads a missing mask as "causal", which is wrong here
            context = F.scaled_dot_product_attention(
                query, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=self.scaling
            ).transpose(1, 2)
            weights = None
        else:
            # self-attention masks come from `causal_attention_mask` for the same implementation
            context, weights = scaled_dot_product_attention(
                query, key, value, attention_mask, implementation=implementation, scaling=self.scaling,
                dropout=dropout, training=self.training,
            )
        context = context.reshape(*hidden_states.shape[:-1], -1)
        return self.resid_dropout(self.c_proj(context)), weights


class GPT2MLP(nn.Module):
    def __init__(self, intermediate_size, config):
        super().__init__()
        self.c_fc = Conv1D(intermediate_size, config.hidden_size)
        self.c_proj = Conv1D(config.hidden_size, intermediate_size)
        self.act = activation_from_name(config.activation_function, "activation_function")
        self.dropout = Dropout(config.resid_pdrop)

    def forward(self, hidden_states):
        return self.dropout(self.c_proj(self.act(self.c_fc(hidden_states))))


class GPT2Block(nn.Module):
    """Pre-norm block: x + attn(ln_1(x)), [+ cross-attn(ln_cross_attn(x))], then x + mlp(ln_2(x))."""

    def __init__(self, config, layer_idx=None):
        super().__init__()
        hidden_size = config.hidden_size
        inner_dim = config.n_inner if config.n_inner is not None else 4 * hidden_size
        self.ln_1 = nn.LayerNorm(hidden_size, eps=config.layer_norm_epsilon)
        self.attn = GPT2Attention(config, layer_idx=layer_idx)
        self.ln_2 = nn.LayerNorm(hidden_size, eps=config.layer_norm_epsilon)
        if config.add_cross_attention:
            self.crossattention = GPT2Attention(config, is_cross_attention=True, layer_idx=layer_idx)
            self.ln_cross_attn = nn.LayerNorm(hidden_size, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(inner_dim, config)

    def forward(self, hidden_states, cache=None, attention_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None, output_attentions=False):
        attn_output, self_weights = self.attn(
            self.ln_1(hidden_states), cache=cache, attention_mask=attention_mask, output_attentions=output_attentions
        )
        hidden_states = hidden_states + attn_output
        cross_weights = None
        if encoder_hidden_states is not None:
            if not hasattr(self, "crossattention"):
                raise ModelError(
                    "encoder_hidden_states were passed but this GPT-2 has no cross-attention layers; "
                    "build it with config.add_cross_attention=True"
                )
            cross_output, cross_weights = self.crossattention(
                self.ln_cross_attn(hidden_states), cache=cache, attention_mask=encoder_attention_mask,
                encoder_hidden_states=encoder_hidden_states, output_attentions=output_attentions,
            )
            hidden_states = hidden_states + cross_output
        hidden_states = hidden_states + self.mlp(self.ln_2(hidden_states))
        return hidden_states, self_weights, cross_weights


# ---------------------------------------------------------------------------------------------------------------------
# models


class GPT2PreTrainedModel(PreTrainedModel):
    config_class = GPT2Config
    base_model_prefix = "transformer"
    supports_gradient_checkpointing = True
    _no_split_modules: ClassVar = ["GPT2Block"]
    # old checkpoints stored the causal mask as a buffer; we build masks on the fly
    _keys_to_ignore_on_load_unexpected: ClassVar = [r"attn\.bias$", r"crossattention\.bias$", r"attn\.masked_bias$"]

    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, Conv1D)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        if isinstance(module, (GPT2Attention, GPT2MLP)):
            # GPT-2 paper: residual projections scaled by 1/sqrt(number of residual layers = 2 per block)
            nn.init.normal_(module.c_proj.weight, mean=0.0, std=std / math.sqrt(2 * self.config.n_layer))


def _pop_cache_alias(past_key_values, kwargs):
    # transformers 5 renamed `past_key_values` to `cache`; accept both spellings
    if "cache" in kwargs:
        if past_key_values is not None:
            raise ModelError("pass either past_key_values= or cache=, not both")
        past_key_values = kwargs.pop("cache")
    return past_key_values


class GPT2Model(GPT2PreTrainedModel):
    """The bare GPT-2 stack: token + position embeddings, `n_layer` blocks, final LayerNorm."""

    def __init__(self, config):
        super().__init__(config)
        self.embed_dim = config.hidden_size
        self.wte = nn.Embedding(config.vocab_size, self.embed_dim)
        self.wpe = nn.Embedding(config.max_position_embeddings, self.embed_dim)
        self.drop = Dropout(config.embd_pdrop)
        self.h = nn.ModuleList([GPT2Block(config, layer_idx=i) for i in range(config.num_hidden_layers)])
        self.ln_f = nn.LayerNorm(self.embed_dim, eps=config.layer_norm_epsilon)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self):
        return self.wte

    def set_input_embeddings(self, new_embeddings):
        self.wte = new_embeddings

    def forward(
        self,
        input_ids=None,
        past_key_values=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        use_cache=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        **kwargs,
    ):
        past_key_values = _pop_cache_alias(past_key_values, kwargs)
        config = self.config
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        use_cache = config.use_cache if use_cache is None else use_cache
        if (input_ids is None) == (inputs_embeds is None):
            raise ModelError("pass exactly one of input_ids or inputs_embeds")
        if input_ids is not None:
            input_shape = input_ids.shape
            input_ids = input_ids.view(-1, input_shape[-1])
            inputs_embeds = self.wte(input_ids)
        else:
            input_shape = inputs_embeds.shape[:-1]
        batch_size, seq_length = inputs_embeds.shape[0], inputs_embeds.shape[1]

        if self.gradient_checkpointing and self.training:
            use_cache = False  # recomputation in backward would append to the cache twice
        cache = as_cache(past_key_values)
        if use_cache and cache is None:
            cache = DynamicCache()
        if use_cache and config.add_cross_attention and not isinstance(cache, EncoderDecoderCache):
            cache = EncoderDecoderCache(cache, DynamicCache())
        self_cache = cache.self_attention_cache if isinstance(cache, EncoderDecoderCache) else cache
        past_length = self_cache.get_seq_length() if self_cache is not None else 0

        if position_ids is None:
            position_ids = torch.arange(past_length, past_length + seq_length, device=inputs_embeds.device)[None]
        hidden_states = inputs_embeds + self.wpe(position_ids).to(inputs_embeds.device)
        if token_type_ids is not None:
            # GPT-2 has no segment table: token types are looked up in the token embeddings
            hidden_states = hidden_states + self.wte(token_type_ids.view(-1, input_shape[-1]))
        hidden_states = self.drop(hidden_states)

        dtype, device = hidden_states.dtype, hidden_states.device
        implementation = attention_implementation(config, output_attentions)
        if attention_mask is not None and attention_mask.dim() == 4:
            mask = attention_mask.to(device)  # an explicit 4D mask is used as given
            if implementation == "eager" and mask.dtype == torch.bool:
                mask = boolean_to_additive_mask(mask, dtype)
        else:
            if attention_mask is not None:
                attention_mask = attention_mask.view(batch_size, -1)
            # several sequences packed in one row (position_ids restarting at 0) must not see each other
            sequence_ids = None
            if attention_mask is None and past_length == 0 and position_ids is not None:
                sequence_ids = packed_sequence_ids(position_ids.view(-1, seq_length).expand(batch_size, -1))
            mask = causal_attention_mask(
                implementation=implementation, batch_size=batch_size, query_length=seq_length,
                key_length=past_length + seq_length, query_offset=past_length, padding_mask=attention_mask,
                sequence_ids=sequence_ids, dtype=dtype, device=device,
            )
        encoder_mask = None
        if encoder_hidden_states is not None:
            encoder_mask = encoder_padding_mask(
                encoder_attention_mask, implementation, batch_size, encoder_hidden_states.shape[1], dtype, device
            )

        all_hidden_states = () if output_hidden_states else None
        all_attentions = () if output_attentions else None
        all_cross_attentions = () if output_attentions and config.add_cross_attention else None
        for block in self.h:
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if self.gradient_checkpointing and self.training:
                hidden_states, weights, cross_weights = self._gradient_checkpointing_func(
                    block.__call__, hidden_states, None, mask, encoder_hidden_states, encoder_mask, output_attentions
                )
            else:
                hidden_states, weights, cross_weights = block(
                    hidden_states, cache, mask, encoder_hidden_states, encoder_mask, output_attentions
                )
            if output_attentions:
                all_attentions += (weights,)
                if all_cross_attentions is not None:
                    all_cross_attentions += (cross_weights,)
        hidden_states = self.ln_f(hidden_states).view(*input_shape, -1)
        if output_hidden_states:
            all_hidden_states += (hidden_states,)

        output = BaseModelOutputWithPastAndCrossAttentions(
            last_hidden_state=hidden_states,
            past_key_values=cache if use_cache else None,
            hidden_states=all_hidden_states,
            attentions=all_attentions,
            cross_attentions=all_cross_attentions,
        )
        return output if return_dict is not False else output.to_tuple()


class GPT2LMHeadModel(GPT2PreTrainedModel):
    """GPT-2 with a language-modeling head tied to the token embeddings; `labels` are shifted inside.

    >>> import torch
    >>> model = GPT2LMHeadModel(GPT2Config(vocab_size=10, n_embd=8, n_layer=1, n_head=2)).eval()
    >>> out = model(torch.tensor([[1, 2, 3]]), labels=torch.tensor([[1, 2, 3]]))
    >>> out.loss.shape, model.lm_head.weight is model.transformer.wte.weight
    (torch.Size([]), True)
    """

    _tied_weights_keys: ClassVar = ["lm_head.weight"]

    def __init__(self, config):
        super().__init__(config)
        self.transformer = GPT2Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def forward(
        self,
        input_ids=None,
        past_key_values=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        encoder_hidden_states=None,
        encoder_attention_mask=None,
        labels=None,
        use_cache=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        logits_to_keep=0,
        num_items_in_batch=None,
        **kwargs,
    ):
        past_key_values = _pop_cache_alias(past_key_values, kwargs)
        outputs = self.transformer(
            input_ids,
            past_key_values=past_key_values,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        hidden_states = outputs.last_hidden_state
        # logits_to_keep=k keeps the last k positions (0 = all): generation only needs the last one
        if isinstance(logits_to_keep, int):
            hidden_states = hidden_states[:, -logits_to_keep:, :] if logits_to_keep else hidden_states
        else:
            hidden_states = hidden_states[:, logits_to_keep, :]
        logits = self.lm_head(hidden_states)
        loss = None
        if labels is not None:
            loss = shifted_causal_lm_loss(logits, labels, self.config.vocab_size, num_items_in_batch)
        output = CausalLMOutputWithCrossAttentions(
            loss=loss,
            logits=logits,
            past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            cross_attentions=outputs.cross_attentions,
        )
        return output if return_dict is not False else output.to_tuple()


def last_non_pad_token(input_ids, pad_token_id, batch_size):
    """Index of the rightmost non-pad token per row (handles left and right padding); -1 without pad id.

    >>> last_non_pad_token(torch.tensor([[5, 6, 0, 0], [0, 5, 6, 7]]), 0, 2).tolist()
    [1, 3]
    """
    if pad_token_id is None:
        if batch_size != 1:
            raise ModelError(
                "sequence classification over a batch needs config.pad_token_id to find each row's last token; "
                "set it (for GPT-2 usually to the eos id)"
            )
        return -1
    if input_ids is None:
        return -1  # cannot see padding in inputs_embeds: take the last position, as the reference does
    non_pad = (input_ids != pad_token_id).to(torch.int32)
    positions = torch.arange(input_ids.shape[-1], device=input_ids.device, dtype=torch.int32)
    return (positions * non_pad).argmax(-1)


class GPT2ForSequenceClassification(GPT2PreTrainedModel):
    """Classifies a sequence from the hidden state of its last non-padding token (`score`, no bias)."""

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.transformer = GPT2Model(config)
        self.score = nn.Linear(config.n_embd, self.num_labels, bias=False)
        self.post_init()

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        past_key_values = _pop_cache_alias(past_key_values, kwargs)
        outputs = self.transformer(
            input_ids, past_key_values=past_key_values, attention_mask=attention_mask,
            token_type_ids=token_type_ids, position_ids=position_ids, inputs_embeds=inputs_embeds,
            use_cache=use_cache, output_attentions=output_attentions, output_hidden_states=output_hidden_states,
        )
        logits = self.score(outputs.last_hidden_state)
        batch_size = (input_ids if input_ids is not None else inputs_embeds).shape[0]
        last = last_non_pad_token(input_ids, self.config.pad_token_id, batch_size)
        if torch.is_tensor(last):
            last = last.to(logits.device)
        pooled_logits = logits[torch.arange(batch_size, device=logits.device), last]
        loss = None
        if labels is not None:
            loss = sequence_classification_loss(pooled_logits, labels, self.config)
        output = SequenceClassifierOutputWithPast(
            loss=loss, logits=pooled_logits, past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states, attentions=outputs.attentions,
        )
        return output if return_dict is not False else output.to_tuple()


class GPT2ForTokenClassification(GPT2PreTrainedModel):
    """A linear `classifier` over every position (dropout: classifier_dropout, else hidden_dropout, else 0.1)."""

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.transformer = GPT2Model(config)
        if getattr(config, "classifier_dropout", None) is not None:
            classifier_dropout = config.classifier_dropout
        elif getattr(config, "hidden_dropout", None) is not None:
            classifier_dropout = config.hidden_dropout
        else:
            classifier_dropout = 0.1
        self.dropout = Dropout(classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        past_key_values = _pop_cache_alias(past_key_values, kwargs)
        outputs = self.transformer(
            input_ids, past_key_values=past_key_values, attention_mask=attention_mask,
            token_type_ids=token_type_ids, position_ids=position_ids, inputs_embeds=inputs_embeds,
            use_cache=use_cache, output_attentions=output_attentions, output_hidden_states=output_hidden_states,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.to(logits.device).view(-1))
        output = TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if return_dict is not False else output.to_tuple()


class GPT2ForQuestionAnswering(GPT2PreTrainedModel):
    """Extractive QA: `qa_outputs` gives start and end logits for every position."""

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.transformer = GPT2Model(config)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        outputs = self.transformer(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, position_ids=position_ids,
            inputs_embeds=inputs_embeds, use_cache=False, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )
        logits = self.qa_outputs(outputs.last_hidden_state)
        start_logits, end_logits = (t.squeeze(-1).contiguous() for t in logits.split(1, dim=-1))
        loss = question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        output = QuestionAnsweringModelOutput(
            loss=loss, start_logits=start_logits, end_logits=end_logits,
            hidden_states=outputs.hidden_states, attentions=outputs.attentions,
        )
        return output if return_dict is not False else output.to_tuple()


register(
    "gpt2",
    GPT2Config,
    base=GPT2Model,
    causal_lm=GPT2LMHeadModel,
    sequence_classification=GPT2ForSequenceClassification,
    token_classification=GPT2ForTokenClassification,
    question_answering=GPT2ForQuestionAnswering,
)
