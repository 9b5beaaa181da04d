"""snuggle.models: transformers-style configs, models, weights and Auto classes.

>>> from snuggle.models import AutoModelForSequenceClassification   # doctest: +SKIP
>>> model = AutoModelForSequenceClassification.from_pretrained("./minilm", num_labels=2)   # doctest: +SKIP

Names resolve lazily (PEP 562), so `import snuggle.models` does not import torch; each architecture
module is imported only when one of its names is used.
"""

from __future__ import annotations

from snuggle.utils.lazy import lazy_exports

_ARCHITECTURES = {
    "snuggle.models.bert": (
        "BertConfig", "BertModel", "BertForMaskedLM", "BertForSequenceClassification",
        "BertForTokenClassification", "BertForQuestionAnswering", "BertForPreTraining",
        "BertForMultipleChoice", "BertForNextSentencePrediction", "BertPreTrainedModel", "BertLMHeadModel",
    ),
    "snuggle.models.distilbert": (
        "DistilBertConfig", "DistilBertModel", "DistilBertForMaskedLM", "DistilBertForSequenceClassification",
        "DistilBertForTokenClassification", "DistilBertForQuestionAnswering", "DistilBertForMultipleChoice",
        "DistilBertPreTrainedModel",
    ),
    "snuggle.models.roberta": (
        "RobertaConfig", "RobertaModel", "RobertaForMaskedLM", "RobertaForSequenceClassification",
        "RobertaForTokenClassification", "RobertaForQuestionAnswering",
        "RobertaForMultipleChoice", "RobertaPreTrainedModel", "RobertaForCausalLM",
    ),
    "snuggle.models.gpt2": (
        "GPT2Config", "GPT2Model", "GPT2LMHeadModel", "GPT2ForSequenceClassification",
        "GPT2ForTokenClassification", "GPT2ForQuestionAnswering", "GPT2PreTrainedModel", "Conv1D",
    ),
    "snuggle.models.llama": (
        "LlamaModel", "LlamaForCausalLM", "LlamaForSequenceClassification",
        "LlamaForTokenClassification", "LlamaForQuestionAnswering", "LlamaPreTrainedModel", "causal_lm_loss",
        *(
            f"{family}{head}"
            for family in ("Mistral", "Qwen2", "Qwen3")
            for head in ("Model", "ForCausalLM", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering")
        ),
    ),
    "snuggle.models.llama_configs": ("LlamaConfig", "MistralConfig", "Qwen2Config", "Qwen3Config"),
    "snuggle.models.cache": ("DynamicCache", "Cache", "EncoderDecoderCache", "StaticCache"),
    "snuggle.models.t5": (
        "T5Config", "T5Model", "T5ForConditionalGeneration", "T5EncoderModel", "T5PreTrainedModel",
        "T5ForSequenceClassification", "T5ForTokenClassification", "T5ForQuestionAnswering",
    ),
}

_NAMES: dict[str, str] = {
    "PretrainedConfig": "snuggle.models.configuration",
    "PreTrainedConfig": "snuggle.models.configuration",
    "PreTrainedModel": "snuggle.models.modeling",
    "ModelOutput": "snuggle.models.outputs",
    **{
        name: "snuggle.models.auto"
        for name in (
            "AutoConfig", "AutoModel", "AutoModelForCausalLM", "AutoModelForSequenceClassification",
            "AutoModelForTokenClassification", "AutoModelForQuestionAnswering", "AutoModelForMaskedLM",
            "AutoModelForSeq2SeqLM", "AutoModelForMultipleChoice", "AutoModelForPreTraining",
            "AutoModelForNextSentencePrediction",
        )
    },
    **{name: module for module, names in _ARCHITECTURES.items() for name in names},
}

__all__ = sorted(_NAMES)


__getattr__, __dir__ = lazy_exports("snuggle.models", _NAMES, globals())
