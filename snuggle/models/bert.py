"""BERT: the bidirectional encoder and its task heads (MiniLM is a small BERT).

Read top to bottom: config, embeddings, one encoder layer (self-attention + feed-forward,
each followed by residual + LayerNorm), the encoder stack, the pooler, the model, then
the heads. Module attribute names follow transformers exactly, so state-dict keys
(`bert.encoder.layer.0.attention.self.query.weight`, `cls.predictions.transform.dense.weight`,
...) load in both directions. RoBERTa and DistilBERT reuse the pieces defined here.

>>> from snuggle.models.bert import BertConfig, BertModel
>>> config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
...                     intermediate_size=37)
>>> model = BertModel(config).eval()
>>> import torch
>>> model(torch.tensor([[2, 5, 7]])).last_hidden_state.shape
torch.Size([1, 3, 32])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from snuggle.errors import ModelError
from snuggle.models.attention import (
    attention_implementation,
    boolean_to_additive_mask,
    causal_attention_mask,
    scaled_dot_product_attention,
)
from snuggle.models.cache import DynamicCache, as_cache
from snuggle.models.configuration import PretrainedConfig
from snuggle.models.encoder_attention import (
    activation_from_name,
    additive_padding_mask,
    encoder_self_attention,
)
from snuggle.models.encoder_losses import (
    question_answering_loss,
    sequence_classification_loss,
)
from snuggle.models.fast_dropout import Dropout
from snuggle.models.fast_linear import Linear
from snuggle.models.llama import causal_lm_loss
from snuggle.models.modeling import PreTrainedModel
from snuggle.models.outputs import (
    BaseModelOutput,
    BaseModelOutputWithPooling,
    BaseModelOutputWithPoolingAndCrossAttentions,
    CausalLMOutputWithCrossAttentions,
    MaskedLMOutput,
    ModelOutput,
    MultipleChoiceModelOutput,
    NextSentencePredictorOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)

# ----------------------------------------------------------------------------- config


class BertConfig(PretrainedConfig):
    """Hyper-parameters of a BERT encoder, as stored in config.json (`"model_type": "bert"`).

    >>> BertConfig(hidden_size=64, num_attention_heads=4).intermediate_size
    3072
    """

    model_type = "bert"

    def __init__(
        self,
        vocab_size=30522,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=512,
        type_vocab_size=2,
        initializer_range=0.02,
        layer_norm_eps=1e-12,
        pad_token_id=0,
        use_cache=True,
        classifier_dropout=None,
        is_decoder=False,
        add_cross_attention=False,
        bos_token_id=None,
        eos_token_id=None,
        tie_word_embeddings=True,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.use_cache = use_cache
        self.classifier_dropout = classifier_dropout
        self.is_decoder = is_decoder
        self.add_cross_attention = add_cross_attention
        super().__init__(
            pad_token_id=pad_token_id,
            bos_token_id=bos_token_id,
            eos_token_id=eos_token_id,
            tie_word_embeddings=tie_word_embeddings,
            **kwargs,
        )


def check_heads_divide_hidden(hidden_size: int, num_heads: int, config_name: str) -> int:
    """Return the per-head width, or fail naming the config fields when heads do not divide it."""
    if num_heads <= 0 or hidden_size % num_heads != 0:
        raise ModelError(
            f"{config_name}: hidden size {hidden_size} must be a multiple of the number of attention heads "
            f"({num_heads}); fix hidden_size or num_attention_heads in config.json"
        )
    return hidden_size // num_heads


def check_no_cross_attention(config: PretrainedConfig, config_name: str) -> None:
    """`is_decoder` (causal self-attention) is supported; cross-attention to an encoder is not, so say so
    instead of silently ignoring the flag."""
    if getattr(config, "add_cross_attention", False):
        raise ModelError(
            f"{config_name}: add_cross_attention=True is not supported by snuggle's BERT-family models "
            "(is_decoder=True alone, a causal decoder without cross-attention, is); set add_cross_attention=False "
            "in config.json, or use an encoder-decoder architecture such as T5"
        )


# ----------------------------------------------------------------------------- embeddings


class BertEmbeddings(nn.Module):
    """word + token type + absolute position embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)
        # not saved in the checkpoint (persistent=False), as in the reference
        self.register_buffer(
            "position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)), persistent=False
        )

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None, past_length=0):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        batch_size, seq_length = inputs_embeds.shape[:2]
        if position_ids is None:
            # tokens already in a decoder's cache come first
            position_ids = self.position_ids[:, past_length : past_length + seq_length]
        if token_type_ids is None:
            token_type_ids = torch.zeros((batch_size, seq_length), dtype=torch.long, device=inputs_embeds.device)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


# ----------------------------------------------------------------------------- one layer


class BertSelfAttention(nn.Module):
    """Multi-head self-attention projections; the attention itself goes through the eager/SDPA switch."""

    def __init__(self, config: BertConfig, layer_idx: int | None = None):
        super().__init__()
        self.config = config
        self.is_decoder = bool(getattr(config, "is_decoder", False))
        self.layer_idx = layer_idx
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = check_heads_divide_hidden(
            config.hidden_size, config.num_attention_heads, type(config).__name__
        )
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = Linear(config.hidden_size, self.all_head_size)
        self.key = Linear(config.hidden_size, self.all_head_size)
        self.value = Linear(config.hidden_size, self.all_head_size)
        self.dropout = Dropout(config.attention_probs_dropout_prob)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False, cache=None, query_length=None):
        # query_length=n: only the first n positions ask (keys/values still cover every token); see
        # BertModel.forward(pooled_output_only=True)
        batch_size, seq_length = hidden_states.shape[:2]
        head_shape = (batch_size, seq_length, self.num_attention_heads, self.attention_head_size)
        queries_from = hidden_states if query_length is None else hidden_states[:, :query_length]
        # (batch, heads, seq, head_dim)
        query = self.query(queries_from).view(batch_size, queries_from.shape[1], *head_shape[2:]).transpose(1, 2)
        key = self.key(hidden_states).view(head_shape).transpose(1, 2)
        value = self.value(hidden_states).view(head_shape).transpose(1, 2)
        if self.is_decoder:
            return self._causal_attention(query, key, value, attention_mask, output_attentions, cache)
        context, weights = encoder_self_attention(
            query,
            key,
            value,
            attention_mask,
            dropout=self.dropout.p if self.training else 0.0,
            config=self.config,
            output_attentions=output_attentions,
        )
        # (batch, heads, seq, head_dim) -> (batch, seq, hidden)
        context = context.transpose(1, 2).reshape(batch_size, queries_from.shape[1], self.all_head_size)
        return context, weights

    def _causal_attention(self, query, key, value, attention_mask, output_attentions, cache):
        """Decoder self-attention: the new keys/values join the cache, the mask comes from `causal_decoder_mask`."""
        batch_size, _, seq_length, _ = query.shape
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)
        context, weights = scaled_dot_product_attention(
            query,
            key,
            value,
            attention_mask,
            implementation=attention_implementation(self.config, output_attentions),
            scaling=self.attention_head_size**-0.5,
            dropout=self.dropout.p,
            training=self.training,
        )
        # (batch, seq, heads, head_dim) -> (batch, seq, hidden)
        context = context.reshape(batch_size, seq_length, self.all_head_size)
        return context, (weights if output_attentions else None)


class BertSelfOutput(nn.Module):
    """Output projection of attention, dropout, residual and LayerNorm (post-norm)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class BertAttention(nn.Module):
    def __init__(self, config: BertConfig, layer_idx: int | None = None):
        super().__init__()
        self.self = BertSelfAttention(config, layer_idx)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False, cache=None, query_length=None):
        context, weights = self.self(hidden_states, attention_mask, output_attentions, cache, query_length)
        residual = hidden_states if query_length is None else hidden_states[:, :query_length]
        return self.output(context, residual), weights


class BertIntermediate(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = activation_from_name(config.hidden_act, "hidden_act")

    def forward(self, hidden_states):
        return self.intermediate_act_fn(self.dense(hidden_states))


class BertOutput(nn.Module):
    """Down projection of the feed-forward block, dropout, residual and LayerNorm."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class BertLayer(nn.Module):
    def __init__(self, config: BertConfig, layer_idx: int | None = None):
        super().__init__()
        self.attention = BertAttention(config, layer_idx)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False, cache=None, query_length=None):
        attention_output, weights = self.attention(hidden_states, attention_mask, output_attentions, cache,
                                                   query_length)
        layer_output = self.output(self.intermediate(attention_output), attention_output)
        return layer_output, weights


class BertEncoder(nn.Module):
    """The layer stack; collects per-layer hidden states and attention maps when asked."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.layer = nn.ModuleList([BertLayer(config, layer_idx) for layer_idx in range(config.num_hidden_layers)])
        self.gradient_checkpointing = False

    def forward(
        self, hidden_states, attention_mask=None, output_attentions=False, output_hidden_states=False, cache=None,
        last_layer_query_length=None,
    ):
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        last = len(self.layer) - 1
        for index, layer in enumerate(self.layer):
            if self.gradient_checkpointing and self.training:
                hidden_states, weights = self._gradient_checkpointing_func(
                    layer.__call__, hidden_states, attention_mask, output_attentions, cache
                )
            elif index == last and last_layer_query_length is not None:
                # only the first positions of the last layer are wanted (the pooler reads position 0)
                hidden_states, weights = layer(hidden_states, attention_mask, output_attentions, cache,
                                               last_layer_query_length)
            else:
                hidden_states, weights = layer(hidden_states, attention_mask, output_attentions, cache)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        return BaseModelOutput(
            last_hidden_state=hidden_states, hidden_states=all_hidden_states, attentions=all_attentions
        )


class BertPooler(nn.Module):
    """tanh(dense(hidden state of the first token)) - the [CLS] summary used by classification."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))


# ----------------------------------------------------------------------------- base model


class BertPreTrainedModel(PreTrainedModel):
    """Weight init and checkpoint layout shared by every BERT model."""

    config_class = BertConfig
    base_model_prefix = "bert"
    supports_gradient_checkpointing = True
    _no_split_modules: ClassVar = ["BertEmbeddings", "BertLayer"]
    # checkpoints written before transformers 4.31 saved this buffer; it is rebuilt, not loaded
    _keys_to_ignore_on_load_unexpected: ClassVar = [r"embeddings\.position_ids$"]

    def _init_weights(self, module):
        init_encoder_weights(module, self.config.initializer_range)
        if isinstance(module, BertLMPredictionHead):
            module.bias.data.zero_()


def init_encoder_weights(module: nn.Module, initializer_range: float) -> None:
    """transformers' BERT-family init: normal(0, initializer_range) weights, zero biases and padding rows."""
    if isinstance(module, nn.Linear):
        module.weight.data.normal_(mean=0.0, std=initializer_range)
        if module.bias is not None:
            module.bias.data.zero_()
    elif isinstance(module, nn.Embedding):
        module.weight.data.normal_(mean=0.0, std=initializer_range)
        if module.padding_idx is not None:
            module.weight.data[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        module.weight.data.fill_(1.0)
        module.bias.data.zero_()


def resolve_output_flags(config, output_attentions, output_hidden_states, return_dict):
    """Fill unset output flags from the config, as transformers does."""
    if output_attentions is None:
        output_attentions = getattr(config, "output_attentions", False)
    if output_hidden_states is None:
        output_hidden_states = getattr(config, "output_hidden_states", False)
    if return_dict is None:
        return_dict = getattr(config, "return_dict", True)
    return bool(output_attentions), bool(output_hidden_states), bool(return_dict)


def check_one_input(input_ids, inputs_embeds) -> None:
    if (input_ids is None) == (inputs_embeds is None):
        raise ModelError("pass exactly one of input_ids or inputs_embeds")


def finish(output: ModelOutput, return_dict: bool):
    """`return_dict=False` gives the tuple of non-None fields, as transformers does."""
    return output if return_dict else output.to_tuple()


class BertModel(BertPreTrainedModel):
    """Embeddings + encoder (+ pooler): `last_hidden_state` (batch, seq, hidden) and `pooler_output`.

    >>> import torch
    >>> config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
    ...                     intermediate_size=37)
    >>> out = BertModel(config).eval()(torch.tensor([[1, 2, 0]]), attention_mask=torch.tensor([[1, 1, 0]]))
    >>> out.pooler_output.shape
    torch.Size([1, 32])
    """

    # RoBERTa swaps in its padding-aware position embeddings; the rest is identical
    embeddings_class = BertEmbeddings

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        check_no_cross_attention(config, type(config).__name__)
        self.embeddings = self.embeddings_class(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        past_key_values=None,
        use_cache=None,
        cache=None,
        pooled_output_only=False,
    ):
        # pooled_output_only=True (inference shortcut for the sequence-classification head): the last layer
        # computes position 0 only, so last_hidden_state has one position; the pooled output is unchanged.
        output_attentions, output_hidden_states, return_dict = resolve_output_flags(
            self.config, output_attentions, output_hidden_states, return_dict
        )
        check_one_input(input_ids, inputs_embeds)
        if not self.config.is_decoder:
            embedding_output = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
            # (batch, seq) 1/0 -> (batch, 1, 1, seq) additive, or None when nothing is padded
            mask = additive_padding_mask(attention_mask, embedding_output.dtype, embedding_output.shape[:2])
            shortcut = pooled_output_only and self.pooler is not None and not output_hidden_states
            encoded = self.encoder(embedding_output, mask, output_attentions, output_hidden_states,
                                   last_layer_query_length=1 if shortcut else None)
            sequence_output = encoded.last_hidden_state
            pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
            output = BaseModelOutputWithPooling(
                last_hidden_state=sequence_output,
                pooler_output=pooled_output,
                hidden_states=encoded.hidden_states,
                attentions=encoded.attentions,
            )
            return finish(output, return_dict)

        # decoder (is_decoder=True): causal self-attention, optionally over cached keys/values
        # (`cache=` is transformers 5's newer name for `past_key_values=`; both are accepted)
        use_cache = getattr(self.config, "use_cache", True) if use_cache is None else use_cache
        if self.gradient_checkpointing and self.training:
            use_cache = False  # recomputing layers would append to the cache twice
        cache = as_cache(past_key_values if past_key_values is not None else cache)
        if use_cache and cache is None:
            cache = DynamicCache()
        past_length = cache.get_seq_length() if cache is not None else 0
        embedding_output = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds, past_length)
        mask = causal_decoder_mask(self.config, attention_mask, embedding_output, past_length, output_attentions)
        encoded = self.encoder(embedding_output, mask, output_attentions, output_hidden_states, cache)
        sequence_output = encoded.last_hidden_state
        pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
        output = BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=sequence_output,
            pooler_output=pooled_output,
            hidden_states=encoded.hidden_states,
            past_key_values=cache if use_cache else None,
            attentions=encoded.attentions,
        )
        return finish(output, return_dict)


def causal_decoder_mask(config, attention_mask, embedding_output, past_length, output_attentions):
    """Causal mask combined with the (batch, past + seq) padding mask, in the form the attention backend wants.

    A 4D mask given by the caller is used as given (boolean True = attend, or additive float).
    """
    implementation = attention_implementation(config, output_attentions)
    batch_size, query_length = embedding_output.shape[:2]
    if attention_mask is not None and attention_mask.dim() == 4:
        if implementation == "eager" and attention_mask.dtype == torch.bool:
            return boolean_to_additive_mask(attention_mask, embedding_output.dtype)
        return attention_mask
    return causal_attention_mask(
        implementation=implementation,
        batch_size=batch_size,
        query_length=query_length,
        key_length=past_length + query_length,
        query_offset=past_length,
        padding_mask=attention_mask,
        dtype=embedding_output.dtype,
        device=embedding_output.device,
    )


# ----------------------------------------------------------------------------- heads


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = activation_from_name(config.hidden_act, "hidden_act")
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states):
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class BertLMPredictionHead(nn.Module):
    """transform, then the vocabulary projection whose weight is tied to the word embeddings.

    The output bias is its own parameter `bias` and `decoder.bias` is the same tensor, so
    resizing the vocabulary resizes both (checkpoints store `cls.predictions.bias`).
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config)
        self.decoder = Linear(config.hidden_size, config.vocab_size, bias=True)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, hidden_states):
        return self.decoder(self.transform(hidden_states))


class BertOnlyMLMHead(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)

    def forward(self, sequence_output):
        return self.predictions(sequence_output)


class BertPreTrainingHeads(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.predictions = BertLMPredictionHead(config)
        self.seq_relationship = Linear(config.hidden_size, 2)

    def forward(self, sequence_output, pooled_output):
        return self.predictions(sequence_output), self.seq_relationship(pooled_output)


class _BertWithMLMHead(BertPreTrainedModel):
    """Shared output-embedding accessors of the heads that end in `cls.predictions`."""

    # {tied parameter: the parameter it shares}, the transformers 5 form
    _tied_weights_keys: ClassVar = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings):
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias


class BertForMaskedLM(_BertWithMLMHead):
    """BERT + masked-LM head; `labels` (batch, seq) with -100 for positions to ignore.

    >>> import torch
    >>> config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
    ...                     intermediate_size=37)
    >>> model = BertForMaskedLM(config).eval()
    >>> model(torch.tensor([[2, 3]]), labels=torch.tensor([[-100, 3]])).logits.shape
    torch.Size([1, 2, 99])
    """

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        outputs = self.bert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions, output_hidden_states, return_dict=True,
        )
        logits = self.cls(outputs.last_hidden_state)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), labels.to(logits.device).view(-1))
        output = MaskedLMOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return finish(output, return_dict)


class BertLMHeadModel(_BertWithMLMHead):
    """BERT as a causal (left-to-right) language model: `config.is_decoder=True`, keys `bert.*` + `cls.predictions.*`.

    `labels` (batch, seq) give the next-token loss (shifted inside, -100 ignored); with `use_cache` the
    returned `past_key_values` (a DynamicCache) lets the next call feed only the new tokens.

    >>> import torch
    >>> config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
    ...                     intermediate_size=37, is_decoder=True)
    >>> model = BertLMHeadModel(config).eval()
    >>> out = model(torch.tensor([[2, 3, 4]]))
    >>> out.logits.shape, out.past_key_values.get_seq_length()
    (torch.Size([1, 3, 99]), 3)
    """

    def __init__(self, config: BertConfig):
        super().__init__(config)
        warn_if_not_decoder(config, type(self).__name__)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        past_key_values=None,
        use_cache=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        logits_to_keep=0,
        cache=None,
        num_items_in_batch=None,
    ):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        if labels is not None:
            use_cache = False  # training: nothing will continue from this call, as in the reference
        outputs = self.bert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions, output_hidden_states, return_dict=True,
            past_key_values=past_key_values, use_cache=use_cache, cache=cache,
        )
        logits = self.cls(keep_last_positions(outputs.last_hidden_state, logits_to_keep))
        loss = None
        if labels is not None:
            loss = causal_lm_loss(logits, labels, num_items_in_batch=num_items_in_batch)
        output = CausalLMOutputWithCrossAttentions(
            loss=loss,
            logits=logits,
            past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return finish(output, return_dict)


def warn_if_not_decoder(config, model_name: str) -> None:
    """A causal-LM head on a bidirectional encoder trains nonsense (each token sees its answer); warn as the reference."""
    if not getattr(config, "is_decoder", False):
        warnings.warn(f"{model_name}: set is_decoder=True in the config to use it as a causal language model", stacklevel=3)


def keep_last_positions(hidden_states, logits_to_keep):
    """`logits_to_keep`: 0 keeps every position, an int n the last n, a 1D tensor those sequence indices."""
    if isinstance(logits_to_keep, int):
        return hidden_states if logits_to_keep == 0 else hidden_states[:, -logits_to_keep:, :]
    return hidden_states[:, logits_to_keep, :]


@dataclass
class BertForPreTrainingOutput(ModelOutput):
    """Masked-LM logits and next-sentence logits; `loss` is their sum when both label sets are given."""

    loss: torch.Tensor | None = None
    prediction_logits: torch.Tensor | None = None
    seq_relationship_logits: torch.Tensor | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


class BertForPreTraining(_BertWithMLMHead):
    """BERT with both pre-training heads: masked LM and next-sentence prediction."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config)
        self.cls = BertPreTrainingHeads(config)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        next_sentence_label=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        outputs = self.bert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions, output_hidden_states, return_dict=True,
        )
        prediction_logits, seq_relationship_logits = self.cls(outputs.last_hidden_state, outputs.pooler_output)
        loss = None
        if labels is not None and next_sentence_label is not None:
            mlm_loss = F.cross_entropy(prediction_logits.view(-1, self.config.vocab_size), labels.view(-1))
            nsp_loss = F.cross_entropy(seq_relationship_logits.view(-1, 2), next_sentence_label.view(-1))
            loss = mlm_loss + nsp_loss
        output = BertForPreTrainingOutput(
            loss=loss,
            prediction_logits=prediction_logits,
            seq_relationship_logits=seq_relationship_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return finish(output, return_dict)


class BertOnlyNSPHead(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.seq_relationship = Linear(config.hidden_size, 2)

    def forward(self, pooled_output):
        return self.seq_relationship(pooled_output)


class BertForNextSentencePrediction(BertPreTrainedModel):
    """Pooled [CLS] -> 2 logits: 0 = sentence B follows A, 1 = B is random."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config)
        self.cls = BertOnlyNSPHead(config)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        outputs = self.bert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions, output_hidden_states, return_dict=True,
        )
        logits = self.cls(outputs.pooler_output)
        loss = None if labels is None else F.cross_entropy(logits.view(-1, 2), labels.to(logits.device).view(-1))
        output = NextSentencePredictorOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return finish(output, return_dict)


def classifier_dropout_of(config) -> float:
    """`classifier_dropout` when set, else `hidden_dropout_prob` (the reference's rule)."""
    dropout = getattr(config, "classifier_dropout", None)
    return config.hidden_dropout_prob if dropout is None else dropout


class BertForSequenceClassification(BertPreTrainedModel):
    """Pooled [CLS] -> dropout -> linear. Loss by `config.problem_type`, inferred on first use
    (1 label: regression; integer labels: single-label; float labels: multi-label).

    >>> import torch
    >>> config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
    ...                     intermediate_size=37, num_labels=3)
    >>> out = BertForSequenceClassification(config)(torch.tensor([[2, 3]]), labels=torch.tensor([1]))
    >>> out.logits.shape, config.problem_type
    (torch.Size([1, 3]), 'single_label_classification')
    """

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config)
        self.dropout = Dropout(classifier_dropout_of(config))
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        output_attentions, output_hidden_states, return_dict = resolve_output_flags(
            self.config, output_attentions, output_hidden_states, return_dict
        )
        # the head reads only the pooled [CLS] state: without gradients, per-layer outputs or attention maps
        # to return, the last layer skips every other position (about 1/7 less compute for a 6-layer model)
        shortcut = not (torch.is_grad_enabled() or output_attentions or output_hidden_states or self.config.is_decoder)
        outputs = self.bert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions, output_hidden_states, return_dict=True, pooled_output_only=shortcut,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = None if labels is None else sequence_classification_loss(logits, labels, self.config)
        output = SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return finish(output, return_dict)


class BertForMultipleChoice(BertPreTrainedModel):
    """Inputs (batch, num_choices, seq); one score per choice from the pooled output."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = BertModel(config)
        self.dropout = Dropout(classifier_dropout_of(config))
        self.classifier = Linear(config.hidden_size, 1)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        flat = [flatten_choices(t) for t in (input_ids, attention_mask, token_type_ids, position_ids)]
        if inputs_embeds is not None:
            inputs_embeds = inputs_embeds.reshape(-1, *inputs_embeds.shape[-2:])
        outputs = self.bert(*flat, inputs_embeds, output_attentions, output_hidden_states, return_dict=True)
        logits = self.classifier(self.dropout(outputs.pooler_output)).view(-1, num_choices)
        loss = None if labels is None else F.cross_entropy(logits, labels.to(logits.device))
        output = MultipleChoiceModelOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return finish(output, return_dict)


def flatten_choices(tensor):
    """(batch, num_choices, seq) -> (batch * num_choices, seq); None stays None."""
    return None if tensor is None else tensor.reshape(-1, tensor.size(-1))


class BertForTokenClassification(BertPreTrainedModel):
    """One label per token (NER, POS); `labels` (batch, seq) with -100 ignored."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = Dropout(classifier_dropout_of(config))
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        outputs = self.bert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions, output_hidden_states, return_dict=True,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.to(logits.device).view(-1))
        output = TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return finish(output, return_dict)


class BertForQuestionAnswering(BertPreTrainedModel):
    """Extractive QA: start and end logits per token; loss from `start_positions` / `end_positions`."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.qa_outputs = Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        token_type_ids=None,
        position_ids=None,
        inputs_embeds=None,
        start_positions=None,
        end_positions=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        outputs = self.bert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions, output_hidden_states, return_dict=True,
        )
        start_logits, end_logits = split_start_end(self.qa_outputs(outputs.last_hidden_state))
        loss = question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        output = QuestionAnsweringModelOutput(
            loss=loss,
            start_logits=start_logits,
            end_logits=end_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return finish(output, return_dict)


def split_start_end(logits):
    """(batch, seq, 2) -> start (batch, seq), end (batch, seq)."""
    start_logits, end_logits = logits.split(1, dim=-1)
    return start_logits.squeeze(-1).contiguous(), end_logits.squeeze(-1).contiguous()


def _register() -> None:
    from snuggle.models.auto import register

    register(
        "bert",
        BertConfig,
        base=BertModel,
        sequence_classification=BertForSequenceClassification,
        token_classification=BertForTokenClassification,
        question_answering=BertForQuestionAnswering,
        masked_lm=BertForMaskedLM,
        causal_lm=BertLMHeadModel,
        pretraining=BertForPreTraining,
        multiple_choice=BertForMultipleChoice,
        next_sentence_prediction=BertForNextSentencePrediction,
    )


_register()
