"""RoBERTa: BERT's encoder with padding-aware position ids and its own head layouts.

What differs from BERT (snuggle/models/bert.py supplies the encoder layers and pooler):
- position ids count only real tokens and start at `pad_token_id + 1`; padding keeps
  position `pad_token_id` (fairseq's `make_positions`), so padding never shifts positions;
- the masked-LM head is `lm_head.{dense, layer_norm, decoder, bias}`;
- the sequence-classification head is `classifier.{dense, out_proj}` on the first token
  (no pooler).

>>> import torch
>>> RobertaEmbeddings.position_ids_from_input_ids(torch.tensor([[0, 5, 6, 1, 1]]), padding_idx=1).tolist()
[[2, 3, 4, 1, 1]]
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from snuggle.models.bert import (
    BertConfig,
    BertModel,
    BertPreTrainedModel,
    classifier_dropout_of,
    finish,
    flatten_choices,
    keep_last_positions,
    resolve_output_flags,
    split_start_end,
    warn_if_not_decoder,
)
from snuggle.models.encoder_losses import (
    question_answering_loss,
    sequence_classification_loss,
)
from snuggle.models.fast_dropout import Dropout
from snuggle.models.fast_linear import Linear
from snuggle.models.llama import causal_lm_loss
from snuggle.models.outputs import (
    CausalLMOutputWithCrossAttentions,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)


class RobertaConfig(BertConfig):
    """BERT's fields with RoBERTa's defaults (`"model_type": "roberta"`, pad 1, bos 0, eos 2).

    >>> RobertaConfig().pad_token_id
    1
    """

    model_type = "roberta"

    def __init__(self, vocab_size=50265, pad_token_id=1, bos_token_id=0, eos_token_id=2, **kwargs):
        super().__init__(
            vocab_size=vocab_size, pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
            **kwargs,
        )


class RobertaEmbeddings(nn.Module):
    """word + token type + position embeddings where positions skip padding tokens."""

    def __init__(self, config: RobertaConfig):
        super().__init__()
        self.padding_idx = config.pad_token_id
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)
        self.position_embeddings = nn.Embedding(
            config.max_position_embeddings, config.hidden_size, padding_idx=self.padding_idx
        )

    @staticmethod
    def position_ids_from_input_ids(input_ids, padding_idx, past_length=0):
        """Real tokens get padding_idx+1, padding_idx+2, ... in order; padding tokens get padding_idx.

        A decoder continuing after `past_length` cached tokens counts on from there (as the reference,
        which assumes the cached tokens were all real).
        """
        is_token = input_ids.ne(padding_idx).int()
        return ((torch.cumsum(is_token, dim=1).type_as(is_token) + past_length) * is_token).long() + padding_idx

    @staticmethod
    def position_ids_from_inputs_embeds(inputs_embeds, padding_idx):
        """Without ids padding cannot be seen, so positions are simply sequential from padding_idx+1."""
        batch_size, seq_length = inputs_embeds.shape[:2]
        positions = torch.arange(padding_idx + 1, seq_length + padding_idx + 1, device=inputs_embeds.device)
        return positions.unsqueeze(0).expand(batch_size, seq_length)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None, past_length=0):
        if position_ids is None:
            if input_ids is not None:
                position_ids = self.position_ids_from_input_ids(input_ids, self.padding_idx, past_length)
            else:
                position_ids = self.position_ids_from_inputs_embeds(inputs_embeds, self.padding_idx)
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        batch_size, seq_length = inputs_embeds.shape[:2]
        if token_type_ids is None:
            token_type_ids = torch.zeros((batch_size, seq_length), dtype=torch.long, device=inputs_embeds.device)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


class RobertaLMHead(nn.Module):
    """dense -> gelu -> layer_norm -> decoder (tied to the word embeddings) + bias."""

    def __init__(self, config: RobertaConfig):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = Linear(config.hidden_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        # one tensor under two names, so resizing the vocabulary resizes the bias too
        self.decoder.bias = self.bias

    def forward(self, features):
        return self.decoder(self.layer_norm(F.gelu(self.dense(features))))


class RobertaClassificationHead(nn.Module):
    """First-token hidden state -> dropout -> dense -> tanh -> dropout -> out_proj."""

    def __init__(self, config: RobertaConfig):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.dropout = Dropout(classifier_dropout_of(config))
        self.out_proj = Linear(config.hidden_size, config.num_labels)

    def forward(self, features):
        x = self.dropout(features[:, 0, :])  # the <s> token, RoBERTa's [CLS]
        x = self.dropout(torch.tanh(self.dense(x)))
        return self.out_proj(x)


class RobertaPreTrainedModel(BertPreTrainedModel):
    config_class = RobertaConfig
    base_model_prefix = "roberta"
    _no_split_modules: ClassVar = ["RobertaEmbeddings", "BertLayer"]

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, RobertaLMHead):
            module.bias.data.zero_()


class RobertaModel(RobertaPreTrainedModel, BertModel):
    """RoBERTa embeddings + the BERT encoder and pooler (keys `roberta.encoder.layer.N...`).

    >>> import torch
    >>> config = RobertaConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
    ...                        intermediate_size=37)
    >>> RobertaModel(config).eval()(torch.tensor([[0, 5, 2]])).last_hidden_state.shape
    torch.Size([1, 3, 32])
    """

    embeddings_class = RobertaEmbeddings


def _run_roberta(model, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                 output_attentions, output_hidden_states):
    return model.roberta(
        input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
        output_attentions, output_hidden_states, return_dict=True,
    )


class RobertaForMaskedLM(RobertaPreTrainedModel):
    """RoBERTa + `lm_head`; `labels` (batch, seq) with -100 ignored."""

    _tied_weights_keys: ClassVar = {
        "lm_head.decoder.weight": "roberta.embeddings.word_embeddings.weight",
        "lm_head.decoder.bias": "lm_head.bias",
    }

    def __init__(self, config: RobertaConfig):
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.lm_head = RobertaLMHead(config)
        self.post_init()

    def get_output_embeddings(self):
        return self.lm_head.decoder

    def set_output_embeddings(self, new_embeddings):
        self.lm_head.decoder = new_embeddings
        self.lm_head.bias = new_embeddings.bias

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        outputs = _run_roberta(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                               output_attentions, output_hidden_states)
        logits = self.lm_head(outputs.last_hidden_state)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), labels.to(logits.device).view(-1))
        output = MaskedLMOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return finish(output, return_dict)


class RobertaForCausalLM(RobertaPreTrainedModel):
    """RoBERTa as a causal language model (`config.is_decoder=True`): keys `roberta.*` + `lm_head.*`.

    `labels` (batch, seq) give the next-token loss (shifted inside, -100 ignored); with `use_cache` the
    returned `past_key_values` lets the next call feed only the new tokens.

    >>> import torch
    >>> config = RobertaConfig(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
    ...                        intermediate_size=37, is_decoder=True)
    >>> RobertaForCausalLM(config).eval()(torch.tensor([[0, 5, 6]])).logits.shape
    torch.Size([1, 3, 99])
    """

    _tied_weights_keys: ClassVar = RobertaForMaskedLM._tied_weights_keys

    def __init__(self, config: RobertaConfig):
        super().__init__(config)
        warn_if_not_decoder(config, type(self).__name__)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.lm_head = RobertaLMHead(config)
        self.post_init()

    get_output_embeddings = RobertaForMaskedLM.get_output_embeddings
    set_output_embeddings = RobertaForMaskedLM.set_output_embeddings

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, past_key_values=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, logits_to_keep=0, cache=None, num_items_in_batch=None):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        if labels is not None:
            use_cache = False  # training: nothing will continue from this call, as in the reference
        outputs = self.roberta(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions, output_hidden_states, return_dict=True,
            past_key_values=past_key_values, use_cache=use_cache, cache=cache,
        )
        logits = self.lm_head(keep_last_positions(outputs.last_hidden_state, logits_to_keep))
        loss = None
        if labels is not None:
            loss = causal_lm_loss(logits, labels, num_items_in_batch=num_items_in_batch)
        output = CausalLMOutputWithCrossAttentions(
            loss=loss, logits=logits, past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states, attentions=outputs.attentions,
        )
        return finish(output, return_dict)


class RobertaForSequenceClassification(RobertaPreTrainedModel):
    """RoBERTa + `classifier.{dense,out_proj}`; loss by `config.problem_type` (inferred as in BERT)."""

    def __init__(self, config: RobertaConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.classifier = RobertaClassificationHead(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        outputs = _run_roberta(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                               output_attentions, output_hidden_states)
        logits = self.classifier(outputs.last_hidden_state)
        loss = None if labels is None else sequence_classification_loss(logits, labels, self.config)
        output = SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return finish(output, return_dict)


class RobertaForTokenClassification(RobertaPreTrainedModel):
    def __init__(self, config: RobertaConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.dropout = Dropout(classifier_dropout_of(config))
        self.classifier = Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        outputs = _run_roberta(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                               output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.to(logits.device).view(-1))
        output = TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return finish(output, return_dict)


class RobertaForQuestionAnswering(RobertaPreTrainedModel):
    def __init__(self, config: RobertaConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.qa_outputs = Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        outputs = _run_roberta(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                               output_attentions, output_hidden_states)
        start_logits, end_logits = split_start_end(self.qa_outputs(outputs.last_hidden_state))
        loss = question_answering_loss(start_logits, end_logits, start_positions, end_positions)
        output = QuestionAnsweringModelOutput(
            loss=loss, start_logits=start_logits, end_logits=end_logits,
            hidden_states=outputs.hidden_states, attentions=outputs.attentions,
        )
        return finish(output, return_dict)


class RobertaForMultipleChoice(RobertaPreTrainedModel):
    """Inputs (batch, num_choices, seq); pooled output -> dropout(hidden_dropout_prob) -> one score."""

    def __init__(self, config: RobertaConfig):
        super().__init__(config)
        self.roberta = RobertaModel(config)
        self.dropout = Dropout(config.hidden_dropout_prob)
        self.classifier = Linear(config.hidden_size, 1)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        _, _, return_dict = resolve_output_flags(self.config, output_attentions, output_hidden_states, return_dict)
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        flat = [flatten_choices(t) for t in (input_ids, attention_mask, token_type_ids, position_ids)]
        if inputs_embeds is not None:
            inputs_embeds = inputs_embeds.reshape(-1, *inputs_embeds.shape[-2:])
        outputs = _run_roberta(self, *flat, inputs_embeds, output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(outputs.pooler_output)).view(-1, num_choices)
        loss = None if labels is None else F.cross_entropy(logits, labels.to(logits.device))
        output = MultipleChoiceModelOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return finish(output, return_dict)


def _register() -> None:
    from snuggle.models.auto import register

    register(
        "roberta",
        RobertaConfig,
        base=RobertaModel,
        sequence_classification=RobertaForSequenceClassification,
        token_classification=RobertaForTokenClassification,
        question_answering=RobertaForQuestionAnswering,
        masked_lm=RobertaForMaskedLM,
        causal_lm=RobertaForCausalLM,
        multiple_choice=RobertaForMultipleChoice,
    )


_register()
