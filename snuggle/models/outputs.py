"""Model outputs: dataclasses that also behave like a tuple of their non-None fields and like a dict.

Same field names and order as transformers, so `out.logits`, `out["logits"]`, `out[0]` and
`loss, logits = out[:2]` all work as users expect.

>>> import torch
>>> out = SequenceClassifierOutput(logits=torch.zeros(1, 2))
>>> out[0] is out.logits is out["logits"], list(out.keys()), len(out.to_tuple())
(True, ['logits'], 1)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

import torch

# Old name -> field name. transformers 5 renamed `past_key_values` to `cache` in its outputs;
# our field is `past_key_values` (the name the issue and most user code use) and `cache` reads it.
_ALIASES = {"cache": "past_key_values", "cache_params": "past_key_values"}


class ModelOutput(OrderedDict):
    """Base of all outputs: a dataclass whose non-None fields are also its dict items, in field order."""

    def __post_init__(self) -> None:
        if not is_dataclass(self):
            raise TypeError(f"{type(self).__name__} must be decorated with @dataclass")
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None:
                OrderedDict.__setitem__(self, field.name, value)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return OrderedDict.__getitem__(self, _ALIASES.get(key, key))
        return self.to_tuple()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        key = _ALIASES.get(key, key)
        OrderedDict.__setitem__(self, key, value)
        object.__setattr__(self, key, value)

    def __setattr__(self, name: str, value: Any) -> None:
        name = _ALIASES.get(name, name)
        if value is not None and name in {f.name for f in fields(self)}:
            OrderedDict.__setitem__(self, name, value)
        object.__setattr__(self, name, value)

    def __contains__(self, key: object) -> bool:
        return OrderedDict.__contains__(self, _ALIASES.get(key, key) if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:
        return OrderedDict.get(self, _ALIASES.get(key, key), default)

    @property
    def cache(self) -> Any:
        return getattr(self, "past_key_values", None)

    def __delitem__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__} does not support item deletion")

    def pop(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} does not support pop")

    def setdefault(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} does not support setdefault")

    def update(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__} does not support update")

    def to_tuple(self) -> tuple:
        """The non-None fields, in declaration order."""
        return tuple(OrderedDict.__getitem__(self, k) for k in self.keys())

    def __reduce__(self):
        # Pickle as the dataclass constructor call (OrderedDict's reduce would lose the fields).
        return (type(self), tuple(getattr(self, f.name) for f in fields(self)))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={_short(v)}" for k, v in self.items())
        return f"{type(self).__name__}({inner})"


def _short(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"Tensor(shape={tuple(value.shape)}, dtype={value.dtype})"
    if isinstance(value, tuple):
        return f"tuple(len={len(value)})"
    return repr(value)




@dataclass(repr=False)
class BaseModelOutput(ModelOutput):
    last_hidden_state: torch.FloatTensor | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass(repr=False)
class BaseModelOutputWithPooling(ModelOutput):
    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass(repr=False)
class BaseModelOutputWithPast(ModelOutput):
    last_hidden_state: torch.FloatTensor | None = None
    past_key_values: Any = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass(repr=False)
class BaseModelOutputWithCrossAttentions(ModelOutput):
    last_hidden_state: torch.FloatTensor | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None
    cross_attentions: tuple | None = None


@dataclass(repr=False)
class BaseModelOutputWithPoolingAndCrossAttentions(ModelOutput):
    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    hidden_states: tuple | None = None
    past_key_values: Any = None
    attentions: tuple | None = None
    cross_attentions: tuple | None = None


@dataclass(repr=False)
class BaseModelOutputWithPastAndCrossAttentions(ModelOutput):
    last_hidden_state: torch.FloatTensor | None = None
    past_key_values: Any = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None
    cross_attentions: tuple | None = None


@dataclass(repr=False)
class Seq2SeqModelOutput(ModelOutput):
    last_hidden_state: torch.FloatTensor | None = None
    past_key_values: Any = None
    decoder_hidden_states: tuple | None = None
    decoder_attentions: tuple | None = None
    cross_attentions: tuple | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None
    encoder_hidden_states: tuple | None = None
    encoder_attentions: tuple | None = None


@dataclass(repr=False)
class CausalLMOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass(repr=False)
class CausalLMOutputWithPast(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    past_key_values: Any = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass(repr=False)
class CausalLMOutputWithCrossAttentions(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    past_key_values: Any = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None
    cross_attentions: tuple | None = None


@dataclass(repr=False)
class SequenceClassifierOutputWithPast(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    past_key_values: Any = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass(repr=False)
class MaskedLMOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass(repr=False)
class Seq2SeqLMOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    past_key_values: Any = None
    decoder_hidden_states: tuple | None = None
    decoder_attentions: tuple | None = None
    cross_attentions: tuple | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None
    encoder_hidden_states: tuple | None = None
    encoder_attentions: tuple | None = None


@dataclass(repr=False)
class SequenceClassifierOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass(repr=False)
class Seq2SeqSequenceClassifierOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    past_key_values: Any = None
    decoder_hidden_states: tuple | None = None
    decoder_attentions: tuple | None = None
    cross_attentions: tuple | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None
    encoder_hidden_states: tuple | None = None
    encoder_attentions: tuple | None = None


@dataclass(repr=False)
class TokenClassifierOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass(repr=False)
class QuestionAnsweringModelOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    start_logits: torch.FloatTensor | None = None
    end_logits: torch.FloatTensor | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass(repr=False)
class Seq2SeqQuestionAnsweringModelOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    start_logits: torch.FloatTensor | None = None
    end_logits: torch.FloatTensor | None = None
    past_key_values: Any = None
    decoder_hidden_states: tuple | None = None
    decoder_attentions: tuple | None = None
    cross_attentions: tuple | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None
    encoder_hidden_states: tuple | None = None
    encoder_attentions: tuple | None = None


@dataclass(repr=False)
class MultipleChoiceModelOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None


@dataclass(repr=False)
class NextSentencePredictorOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: tuple | None = None
    attentions: tuple | None = None
