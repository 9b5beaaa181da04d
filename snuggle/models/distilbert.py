"""DistilBERT: a 6-layer distilled BERT without token types or pooler.

Module names follow transformers (`distilbert.transformer.layer.N.attention.q_lin`,
`ffn.lin1`, `sa_layer_norm`, `output_layer_norm`, `vocab_transform` / `vocab_layer_norm` /
`vocab_projector` for the masked-LM head, `pre_classifier` + `classifier` for
classification), so checkpoints load in both directions. The config speaks its own
field names (`dim`, `n_layers`, `n_heads`, `hidden_dim`) with the usual aliases.

>>> import torch
>>> config = DistilBertConfig(vocab_size=99, dim=32, n_layers=1, n_heads=4, hidden_dim=37)
>>> DistilBertModel(config).eval()(torch.tensor([[2, 5]])).last_hidden_state.shape
torch.Size([1, 2, 32])
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from snuggle.errors import ModelError
from snuggle.models.bert import (
    check_heads_divide_hidden,
    check_one_input,
    finish,
    flatten_choices,
    init_encoder_weights,
    resolve_output_flags,
    split_start_end,
)
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
from snuggle.models.modeling import PreTrainedModel
from snuggle.models.outputs import (
    BaseModelOutput,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)


class DistilBertConfig(PretrainedConfig):
    """DistilBERT hyper-parameters (`"model_type": "distilbert"`); `hidden_size` reads `dim`.

    >>> DistilBertConfig(dim=64).hidden_size
    64
    """

    model_type = "distilbert"
    attribute_map: ClassVar = {"hidden_size": "dim", "num_attention_heads": "n_heads", "num_hidden_layers": "n_layers"}

    def __init__(
        self,
        vocab_size=30522,
        max_position_embeddings=512,
        sinusoidal_pos_embds=False,
        n_layers=6,
        n_heads=12,
        dim=768,
        hidden_dim=4 * 768,
        dropout=0.1,
        attention_dropout=0.1,
        activation="gelu",
        initializer_range=0.02,
        qa_dropout=0.1,
        seq_classif_dropout=0.2,
        pad_token_id=0,
        eos_token_id=None,
        bos_token_id=None,
        tie_word_embeddings=True,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.max_position_embeddings = max_position_embeddings
        self.sinusoidal_pos_embds = sinusoidal_pos_embds
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.dim = dim
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation = activation
        self.initializer_range = initializer_range
        self.qa_dropout = qa_dropout
        self.seq_classif_dropout = seq_classif_dropout
        super().__init__(
            pad_token_id=pad_token_id,
            eos_token_id=eos_token_id,
            bos_token_id=bos_token_id,
            tie_word_embeddings=tie_word_embeddings,
            **kwargs,
        )


def sinusoidal_position_table(n_positions: int, dim: int) -> torch.Tensor:
    """The fixed sin/cos table: even columns sin(pos / 10000^(2i/dim)), odd columns cos of the same angle.

    >>> sinusoidal_position_table(2, 4)[0].tolist()
    [0.0, 1.0, 0.0, 1.0]
    """
    positions = torch.arange(n_positions, dtype=torch.float64)[:, None]
    pair_index = torch.arange(dim, dtype=torch.float64) // 2
    angles = positions / torch.pow(10000.0, 2 * pair_index / dim)
    table = torch.empty(n_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.float()


class Embeddings(nn.Module):
    """word + absolute position embeddings (learned, or the fixed sinusoid table), LayerNorm, dropout."""

    def __init__(self, config: DistilBertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.dim, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.dim)
        self.LayerNorm = nn.LayerNorm(config.dim, eps=1e-12)
        self.dropout = Dropout(config.dropout)
        self.register_buffer(
            "position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)), persistent=False
        )

    def forward(self, input_ids=None, inputs_embeds=None, position_ids=None):
        if input_ids is not None:
            inputs_embeds = self.word_embeddings(input_ids)  # (batch, seq, dim)
        if position_ids is None:
            position_ids = self.position_ids[:, : inputs_embeds.size(1)]
        embeddings = inputs_embeds + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class DistilBertSelfAttention(nn.Module):
    def __init__(self, config: DistilBertConfig):
        super().__init__()
        self.config = config
        self.n_heads = config.n_heads
        self.attention_head_size = check_heads_divide_hidden(config.dim, config.n_heads, "DistilBertConfig")
        self.q_lin = Linear(config.dim, config.dim)
        self.k_lin = Linear(config.dim, config.dim)
        self.v_lin = Linear(config.dim, config.dim)
        self.out_lin = Linear(config.dim, config.dim)
        self.dropout = Dropout(config.attention_dropout)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        batch_size, seq_length = hidden_states.shape[:2]
        head_shape = (batch_size, seq_length, self.n_heads, self.attention_head_size)
        # (batch, heads, seq, head_dim)
        query = self.q_lin(hidden_states).view(head_shape).transpose(1, 2)
        key = self.k_lin(hidden_states).view(head_shape).transpose(1, 2)
        value = self.v_lin(hidden_states).view(head_shape).transpose(1, 2)
        context, weights = encoder_self_attention(
            query,
            key,
            value,
            attention_mask,
            dropout=self.dropout.p if self.training else 0.0,
            config=self.config,
            output_attentions=output_attentions,
        )
        context = context.transpose(1, 2).reshape(batch_size, seq_length, -1)
        return self.out_lin(context), weights


class FFN(nn.Module):
    def __init__(self, config: DistilBertConfig):
        super().__init__()
        self.dropout = Dropout(config.dropout)
        self.lin1 = Linear(config.dim, config.hidden_dim)
        self.lin2 = Linear(config.hidden_dim, config.dim)
        self.activation = activation_from_name(config.activation, "activation")

    def forward(self, x):
        return self.dropout(self.lin2(self.activation(self.lin1(x))))


class TransformerBlock(nn.Module):
    """attention -> residual + sa_layer_norm -> ffn -> residual + output_layer_norm (post-norm)."""

    def __init__(self, config: DistilBertConfig):
        super().__init__()
        self.attention = DistilBertSelfAttention(config)
        self.sa_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)
        self.ffn = FFN(config)
        self.output_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        attention_output, weights = self.attention(hidden_states, attention_mask, output_attentions)
        attention_output = self.sa_layer_norm(attention_output + hidden_states)
        return self.output_layer_norm(self.ffn(attention_output) + attention_output), weights


class Transformer(nn.Module):
    def __init__(self, config: DistilBertConfig):
        super().__init__()
        self.n_layers = config.n_layers
        self.layer = nn.ModuleList([TransformerBlock(config) for _ in range(config.n_layers)])
        self.gradient_checkpointing = False

    def forward(self, hidden_states, attention_mask=None, output_attentions=False, output_hidden_states=False):
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layer:
            if self.gradient_checkpointing and self.training:
                hidden_states, weights = self._gradient_checkpointing_func(
                    layer.__call__, hidden_states, attention_mask, output_attentions
                )
            else:
                hidden_states, weights = layer(hidden_states, attention_mask, output_attentions)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if output_attentions:
                all_attentions += (weights,)
        return BaseModelOutput(
            last_hidden_state=hidden_states, hidden_states=all_hidden_states, attentions=all_attentions
        )


class DistilBertPreTrainedModel(PreTrainedModel):
    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    supports_gradient_checkpointing = True
    _no_split_modules: ClassVar = ["Embeddings", "TransformerBlock"]
    # checkpoints written before transformers 4.31 saved this buffer; it is rebuilt, not loaded
    _keys_to_ignore_on_load_unexpected: ClassVar = [r"embeddings\.position_ids$"]

    def _init_weights(self, module):
        init_encoder_weights(module, self.config.initializer_range)
        if isinstance(module, Embeddings) and self.config.sinusoidal_pos_embds:
            weight = module.position_embeddings.weight
            with torch.no_grad():
                weight.copy_(sinusoidal_position_table(*weight.shape))


class DistilBertModel(DistilBertPreTrainedModel):
    """Embeddings + transformer: `last_hidden_state` (batch, seq, dim)."""

    def __init__(self, config: DistilBertConfig):
        super().__init__(config)
        self.embeddings = Embeddings(config)
        self.transformer = Transformer(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, new_embeddings):
        self.embeddings.word_embeddings = new_embeddings

    def get_position_embeddings(self):
        return self.embeddings.position_embeddings

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, position_ids=None,
                output_attentions=None, output_hidden_states=None, return_dict=None):
        output_attentions, output_hidden_states, return_dict = resolve_output_flags(
            self.config, output_attentions, output_hidden_states, return_dict
        )
        check_one_input(input_ids, inputs_embeds)
        embeddings = self.embeddings(input_ids, inputs_embeds, position_ids)
        mask = additive_padding_mask(attention_mask, embeddings.dtype, embeddings.shape[:2])
        output = self.transformer(embeddings, mask, output_attentions, output_hidden_states)
        return finish(output, return_dict)


def _run_distilbert(model, input_ids, attention_mask, inputs_embeds, position_ids,
                    output_attentions, output_hidden_states):
    return model.distilbert(
        input_ids, attention_mask, inputs_embeds, position_ids,
        output_attentions, output_hidden_states, return_dict=True,
    )


class DistilBertForMaskedLM(DistilBertPreTrainedModel):
    """vocab_transform -> activation -> vocab_layer_norm -> vocab_projector (tied to the word embeddings)."""

    _tied_weights_keys: ClassVar = {"vocab_projector.weight": "distilbert.embeddings.word_embeddings.weight"}

    def __init__(self, config: DistilBertConfig):
        super().__init__(config)
        self.activation = activation_from_name(config.activation, "activation")
        self.distilbert = DistilBertModel(config)
        self.vocab_transform = Linear(config.dim, config.dim)
        self.vocab_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)
        self.vocab_projector = Linear(config.dim, config.vocab_size)
        self.post_init()

    def get_output_embeddings(self):
        return self.vocab_projector

    def set_output_embeddings(self, new_embeddings):
        self.vocab_projector = new_embeddings

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, position_ids=None,
                output_attentions=None, output_hidden_states=None, return_dict=None):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        outputs = _run_distilbert(self, input_ids, attention_mask, inputs_embeds, position_ids,
                                  output_attentions, output_hidden_states)
        hidden = self.vocab_layer_norm(self.activation(self.vocab_transform(outputs.last_hidden_state)))
        logits = self.vocab_projector(hidden)  # (batch, seq, vocab)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), labels.to(logits.device).view(-1))
        output = MaskedLMOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return finish(output, return_dict)


class DistilBertForSequenceClassification(DistilBertPreTrainedModel):
    """First token -> pre_classifier -> ReLU -> dropout -> classifier; loss by `config.problem_type`."""

    def __init__(self, config: DistilBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.distilbert = DistilBertModel(config)
        self.pre_classifier = Linear(config.dim, config.dim)
        self.classifier = Linear(config.dim, config.num_labels)
        self.dropout = Dropout(config.seq_classif_dropout)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, position_ids=None,
                output_attentions=None, output_hidden_states=None, return_dict=None):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        outputs = _run_distilbert(self, input_ids, attention_mask, inputs_embeds, position_ids,
                                  output_attentions, output_hidden_states)
        pooled = self.dropout(F.relu(self.pre_classifier(outputs.last_hidden_state[:, 0])))
        logits = self.classifier(pooled)
        loss = None if labels is None else sequence_classification_loss(logits, labels, self.config)
        output = SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return finish(output, return_dict)


class DistilBertForQuestionAnswering(DistilBertPreTrainedModel):
    def __init__(self, config: DistilBertConfig):
        super().__init__(config)
        if config.num_labels != 2:
            raise ModelError(
                f"DistilBertForQuestionAnswering needs config.num_labels == 2 (start and end), found {config.num_labels}"
            )
        self.distilbert = DistilBertModel(config)
        self.qa_outputs = Linear(config.dim, config.num_labels)
        self.dropout = Dropout(config.qa_dropout)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, start_positions=None,
                end_positions=None, position_ids=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        outputs = _run_distilbert(self, input_ids, attention_mask, inputs_embeds, position_ids,
                                  output_attentions, output_hidden_states)
        start_logits, end_logits = split_start_end(self.qa_outputs(self.dropout(outputs.last_hidden_state)))
        loss = question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        output = QuestionAnsweringModelOutput(
            loss=loss, start_logits=start_logits, end_logits=end_logits,
            hidden_states=outputs.hidden_states, attentions=outputs.attentions,
        )
        return finish(output, return_dict)


class DistilBertForTokenClassification(DistilBertPreTrainedModel):
    def __init__(self, config: DistilBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.distilbert = DistilBertModel(config)
        self.dropout = Dropout(config.dropout)
        self.classifier = Linear(config.dim, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, position_ids=None,
                output_attentions=None, output_hidden_states=None, return_dict=None):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        outputs = _run_distilbert(self, input_ids, attention_mask, inputs_embeds, position_ids,
                                  output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.to(logits.device).view(-1))
        output = TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return finish(output, return_dict)


class DistilBertForMultipleChoice(DistilBertPreTrainedModel):
    """Inputs (batch, num_choices, seq); first token -> pre_classifier -> ReLU -> dropout -> one score."""

    def __init__(self, config: DistilBertConfig):
        super().__init__(config)
        self.distilbert = DistilBertModel(config)
        self.pre_classifier = Linear(config.dim, config.dim)
        self.classifier = Linear(config.dim, 1)
        self.dropout = Dropout(config.seq_classif_dropout)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, labels=None, position_ids=None,
                output_attentions=None, output_hidden_states=None, return_dict=None):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        input_ids, attention_mask = flatten_choices(input_ids), flatten_choices(attention_mask)
        if inputs_embeds is not None:
            inputs_embeds = inputs_embeds.reshape(-1, *inputs_embeds.shape[-2:])
        outputs = _run_distilbert(self, input_ids, attention_mask, inputs_embeds, position_ids,
                                  output_attentions, output_hidden_states)
        pooled = self.dropout(F.relu(self.pre_classifier(outputs.last_hidden_state[:, 0])))
        logits = self.classifier(pooled).view(-1, num_choices)
        loss = None if labels is None else F.cross_entropy(logits, labels.to(logits.device))
        output = MultipleChoiceModelOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return finish(output, return_dict)


def _register() -> None:
    from snuggle.models.auto import register

    register(
        "distilbert",
        DistilBertConfig,
        base=DistilBertModel,
        sequence_classification=DistilBertForSequenceClassification,
        token_classification=DistilBertForTokenClassification,
        question_answering=DistilBertForQuestionAnswering,
        masked_lm=DistilBertForMaskedLM,
        multiple_choice=DistilBertForMultipleChoice,
    )


_register()
