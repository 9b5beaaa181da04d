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


class StepRecorder:
    """Collects the per-step attentions / hidden states the caller asked for (output_attentions,
    output_hidden_states with return_dict_in_generate) and hands them to the output class by its field names."""

    def __init__(self, config, state) -> None:
        keep = bool(config.return_dict_in_generate)
        self.output_attentions = keep and bool(config.output_attentions)
        self.output_hidden_states = keep and bool(config.output_hidden_states)
        self.state = state
        self.decoder_attentions = () if self.output_attentions else None
        self.cross_attentions = () if self.output_attentions else None
        self.decoder_hidden = () if self.output_hidden_states else None

    def record(self, outputs) -> None:
        """Keep this step's tensors from the model outputs (a no-op when nothing was asked for)."""
        encoder_decoder = self.state.is_encoder_decoder
        if self.decoder_attentions is not None:
            self.decoder_attentions += (outputs.decoder_attentions if encoder_decoder else outputs.attentions,)
            if encoder_decoder:
                self.cross_attentions += (outputs.cross_attentions,)
        if self.decoder_hidden is not None:
            self.decoder_hidden += (outputs.decoder_hidden_states if encoder_decoder else outputs.hidden_states,)

    def output_fields(self) -> dict:
        """Keyword arguments for the Generate*Output class of this model family."""
        if not self.state.is_encoder_decoder:
            return {"attentions": self.decoder_attentions, "hidden_states": self.decoder_hidden}
        encoder = self.state.encoder_outputs
        return {
            "encoder_attentions": encoder.get("attentions") if self.output_attentions else None,
            "encoder_hidden_states": encoder.get("hidden_states") if self.output_hidden_states else None,
            "decoder_attentions": self.decoder_attentions, "cross_attentions": self.cross_attentions,
            "decoder_hidden_states": self.decoder_hidden,
        }
