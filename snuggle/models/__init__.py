"""snuggle.models: transformers-style configs, models, weights and Auto classes.

>>> from snuggle.models import AutoModelForSequenceClassification   # doctest: +SKIP
>>> model = AutoModelForSequenceClassification.from_pretrained("./minilm", num_labels=2)   # doctest: +SKIP

Names resolve lazily (PEP 562), so `import snuggle.models` does not import torch; each architecture
module is imported only when one of its names is used.
"""

from __future__ import annotations

import importlib

_ARCHITECTURES = {
    "snuggle.models.bert": (
        "BertConfig", "BertModel", "BertForMaskedLM", "BertForSequenceClassification",
        "BertForTokenClassification", "BertForQuestionAnswering", "BertForPreTraining", "BertLMHeadModel",
        "BertForMultipleChoice", "BertForNextSentencePrediction", "BertPreTrainedModel",
    ),
    "snuggle.models.distilbert": (
        "DistilBertConfig", "DistilBertModel", "DistilBertForMaskedLM", "DistilBertForSequenceClassification",
        "DistilBertForTokenClassification", "DistilBertForQuestionAnswering", "DistilBertForMultipleChoice",
        "DistilBertPreTrainedModel",
    ),
    "snuggle.models.roberta": (
        "RobertaConfig", "RobertaModel", "RobertaForMaskedLM", "RobertaForSequenceClassification",
        "RobertaForTokenClassification", "RobertaForQuestionAnswering", "RobertaForCausalLM",
        "RobertaForMultipleChoice", "RobertaPreTrainedModel",
    ),
    "snuggle.models.gpt2": (
        "GPT2Config", "GPT2Model", "GPT2LMHeadModel", "GPT2ForSequenceClassification",
        "GPT2ForTokenClassification", "GPT2ForQuestionAnswering", "GPT2PreTrainedModel",
    ),
    "snuggle.models.llama": (
        "LlamaConfig", "LlamaModel", "LlamaForCausalLM", "LlamaForSequenceClassification",
        "LlamaForTokenClassification", "LlamaForQuestionAnswering", "LlamaPreTrainedModel",
        "MistralConfig", "Qwen2Config", "Qwen3Config",
    ),
    "snuggle.models.t5": (
        "T5Config", "T5Model", "T5ForConditionalGeneration", "T5EncoderModel", "T5PreTrainedModel",
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


def __getattr__(name: str):
    target = _NAMES.get(name)
    if target is None:
        raise AttributeError(f"module 'snuggle.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(target), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
