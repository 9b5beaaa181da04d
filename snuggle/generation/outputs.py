"""What `generate` returns with return_dict_in_generate=True: one dataclass per decoding family.

Same names and fields as transformers, plus `past_key_values` (transformers 5 calls it `cache`; both
`out.cache` and `out["cache"]` read it). They behave like dicts of their non-None fields.

>>> GenerateDecoderOnlyOutput(sequences=torch.tensor([[1, 2]])).keys()
odict_keys(['sequences'])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from snuggle.models.outputs import ModelOutput


@dataclass
class GenerateDecoderOnlyOutput(ModelOutput):
    """generate(..., return_dict_in_generate=True) for decoder-only models without beams.

    scores: processed scores per step, each (batch, vocab), when output_scores.
    logits: raw logits per step, each (batch, vocab), when output_logits.
    past_key_values: the cache after generation (also readable as `out.cache`, the transformers 5 name).
    """

    sequences: torch.LongTensor = None
    scores: tuple[torch.Tensor, ...] | None = None
    logits: tuple[torch.Tensor, ...] | None = None
    attentions: tuple | None = None
    hidden_states: tuple | None = None
    past_key_values: Any = None


@dataclass
class GenerateEncoderDecoderOutput(ModelOutput):
    """generate(..., return_dict_in_generate=True) for encoder-decoder models without beams."""

    sequences: torch.LongTensor = None
    scores: tuple[torch.Tensor, ...] | None = None
    logits: tuple[torch.Tensor, ...] | None = None
    encoder_attentions: tuple | None = None
    encoder_hidden_states: tuple | None = None
    decoder_attentions: tuple | None = None
    cross_attentions: tuple | None = None
    decoder_hidden_states: tuple | None = None
    past_key_values: Any = None


@dataclass
class GenerateBeamDecoderOnlyOutput(ModelOutput):
    """Beam search output: best `num_return_sequences` per prompt, their scores and per-step beam indices.

    sequences_scores: (batch*num_return_sequences,) length-penalised sum of log-probs, when output_scores.
    scores: per-step log-probs after the processors, each (batch*num_beams, vocab), when output_scores.
    beam_indices: (batch*num_return_sequences, generated) the flat beam each token came from (-1 = none).
    """

    sequences: torch.LongTensor = None
    sequences_scores: torch.Tensor | None = None
    scores: tuple[torch.Tensor, ...] | None = None
    logits: tuple[torch.Tensor, ...] | None = None
    beam_indices: torch.LongTensor | None = None
    attentions: tuple | None = None
    hidden_states: tuple | None = None
    past_key_values: Any = None


@dataclass
class GenerateBeamEncoderDecoderOutput(ModelOutput):
    """Beam search output for encoder-decoder models (fields as GenerateBeamDecoderOnlyOutput)."""

    sequences: torch.LongTensor = None
    sequences_scores: torch.Tensor | None = None
    scores: tuple[torch.Tensor, ...] | None = None
    logits: tuple[torch.Tensor, ...] | None = None
    beam_indices: torch.LongTensor | None = None
    encoder_attentions: tuple | None = None
    encoder_hidden_states: tuple | None = None
    decoder_attentions: tuple | None = None
    cross_attentions: tuple | None = None
    decoder_hidden_states: tuple | None = None
    past_key_values: Any = None
