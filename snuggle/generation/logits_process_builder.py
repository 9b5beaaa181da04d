"""build_logits_processor: a GenerationConfig -> the LogitsProcessorList generate applies, in the reference's order.

The order matters (a temperature before top-p changes which tokens survive), so it follows
transformers' `GenerationMixin._get_logits_processor` step by step: sequence bias, encoder
repetition penalty, repetition penalty, n-gram bans, bad words, min length, forced bos/eos,
inf/nan removal, exponential decay, token suppression, then the caller's own processors, then
(only when sampling) the warpers, and LogitNormalization last.

>>> from snuggle.generation import GenerationConfig
>>> config = GenerationConfig(do_sample=True, temperature=0.7, top_p=0.9).resolved()
>>> [type(p).__name__ for p in build_logits_processor(config, prompt_length=5, eos=[2])]
['TemperatureLogitsWarper', 'TopKLogitsWarper', 'TopPLogitsWarper']
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

import torch

from snuggle.errors import ConfigError
from snuggle.generation.logits_process import (
    EncoderNoRepeatNGramLogitsProcessor, EncoderRepetitionPenaltyLogitsProcessor, ExponentialDecayLengthPenalty,
    ForcedBOSTokenLogitsProcessor, ForcedEOSTokenLogitsProcessor, InfNanRemoveLogitsProcessor, LogitNormalization,
    LogitsProcessorList, MinLengthLogitsProcessor, MinNewTokensLengthLogitsProcessor, NoBadWordsLogitsProcessor,
    NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor, SequenceBiasLogitsProcessor,
    SuppressTokensAtBeginLogitsProcessor, SuppressTokensLogitsProcessor,
)
from snuggle.generation.logits_warpers import (
    EpsilonLogitsWarper, EtaLogitsWarper, MinPLogitsWarper, TemperatureLogitsWarper, TopHLogitsWarper,
    TopKLogitsWarper, TopPLogitsWarper, TypicalLogitsWarper,
)

if TYPE_CHECKING:
    from snuggle.generation.configuration import GenerationConfig

logger = logging.getLogger(__name__)

# Reference features we do not implement: refusing beats silently generating something else.
_UNSUPPORTED = {
    "guidance_scale": lambda v: v is not None and v != 1,
    "watermarking_config": lambda v: v is not None,
}


def _eos_list(eos) -> list[int] | None:
    if eos is None:
        return None
    if isinstance(eos, torch.Tensor):
        return eos.flatten().tolist()
    return [eos] if isinstance(eos, int) else list(eos)


def _merge_custom(defaults: LogitsProcessorList, custom) -> LogitsProcessorList:
    """The caller's processors replace a built one of the same class in place; the others go at the end."""
    if not custom:
        return defaults
    merged = LogitsProcessorList()
    for default in defaults:
        replacement = next((c for c in custom if type(c) is type(default)), None)
        if replacement is not None:
            logger.warning(
                "A custom %s was passed to generate, but the generation config also builds one; the custom one is used.",
                type(replacement).__name__,
            )
        merged.append(replacement if replacement is not None else default)
    merged.extend(c for c in custom if not any(c is m for m in merged))
    return merged


def build_logits_processor(
    config: GenerationConfig,
    prompt_length: int,
    eos: int | list[int] | torch.Tensor | None,
    *,
    encoder_input_ids: torch.LongTensor | None = None,
    device: str | torch.device | None = None,
    attention_mask: torch.Tensor | None = None,
    logits_processor: list | None = None,
) -> LogitsProcessorList:
    """The processors (then, when sampling, the warpers) for `config`, in the reference's order.

    prompt_length: length of the (decoder) input ids at the start of generation.
    eos: the eos token id(s) (None when the model has none).
    encoder_input_ids: (batch, seq) encoder input, needed by encoder_repetition_penalty and
        encoder_no_repeat_ngram_size (ignored with a warning when missing, as the reference does).
    attention_mask: the prompt's mask; left padding is excluded from the repetition penalty.
    logits_processor: the caller's own processors, merged in before the warpers.

    >>> from snuggle.generation import GenerationConfig
    >>> config = GenerationConfig(repetition_penalty=1.2, renormalize_logits=True).resolved()
    >>> [type(p).__name__ for p in build_logits_processor(config, 4, eos=None)]
    ['RepetitionPenaltyLogitsProcessor', 'LogitNormalization']
    """
    for name, is_set in _UNSUPPORTED.items():
        if is_set(getattr(config, name, None)):
            raise ConfigError(f"generation config: `{name}` is not supported by snuggle; unset it")
    eos = _eos_list(eos)
    device = device if device is not None else "cpu"
    processors = LogitsProcessorList()

    if config.sequence_bias is not None:
        processors.append(SequenceBiasLogitsProcessor(sequence_bias=config.sequence_bias))

    # A dummy encoder input filled with negative ids (e.g. -100) counts as absent.
    has_encoder_ids = (
        encoder_input_ids is not None and encoder_input_ids.dim() == 2 and not bool((encoder_input_ids < 0).any())
    )
    if config.encoder_repetition_penalty is not None and config.encoder_repetition_penalty != 1.0:
        if has_encoder_ids:
            processors.append(EncoderRepetitionPenaltyLogitsProcessor(config.encoder_repetition_penalty, encoder_input_ids))
        else:
            warnings.warn("`encoder_repetition_penalty` needs the encoder input ids; ignoring it.", UserWarning)
    if config.repetition_penalty is not None and config.repetition_penalty != 1.0:
        # Left padding (the first non-zero mask position of each row) is not "already said".
        padding = (attention_mask != 0).int().argmax(dim=1) if attention_mask is not None else None
        processors.append(RepetitionPenaltyLogitsProcessor(config.repetition_penalty, prompt_ignore_length=padding))
    if config.no_repeat_ngram_size is not None and config.no_repeat_ngram_size > 0:
        processors.append(NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size))
    if config.encoder_no_repeat_ngram_size is not None and config.encoder_no_repeat_ngram_size > 0:
        if has_encoder_ids:
            processors.append(EncoderNoRepeatNGramLogitsProcessor(config.encoder_no_repeat_ngram_size, encoder_input_ids))
        else:
            warnings.warn("`encoder_no_repeat_ngram_size` needs the encoder input ids; ignoring it.", UserWarning)
    if config.bad_words_ids is not None:
        processors.append(NoBadWordsLogitsProcessor(config.bad_words_ids, eos))
    if eos is not None and config.min_length is not None and config.min_length > 0:
        processors.append(MinLengthLogitsProcessor(config.min_length, eos, device=device))
    if eos is not None and config.min_new_tokens is not None and config.min_new_tokens > 0:
        processors.append(MinNewTokensLengthLogitsProcessor(prompt_length, config.min_new_tokens, eos, device=device))
    if config.forced_bos_token_id is not None:
        processors.append(ForcedBOSTokenLogitsProcessor(config.forced_bos_token_id))
    if config.forced_eos_token_id is not None:
        # generate's effective max_length: max_new_tokens, when given, wins over max_length.
        if config.max_new_tokens is not None:
            max_length = prompt_length + config.max_new_tokens
        else:
            max_length = config.max_length if config.max_length is not None else 20
        processors.append(ForcedEOSTokenLogitsProcessor(max_length, config.forced_eos_token_id, device=device))
    if config.remove_invalid_values is True:
        processors.append(InfNanRemoveLogitsProcessor())
    if config.exponential_decay_length_penalty is not None:
        if eos is None:
            raise ConfigError("generation config: `exponential_decay_length_penalty` needs `eos_token_id` to be set")
        processors.append(ExponentialDecayLengthPenalty(config.exponential_decay_length_penalty, eos, prompt_length))
    if config.suppress_tokens is not None:
        processors.append(SuppressTokensLogitsProcessor(config.suppress_tokens, device=device))
    if config.begin_suppress_tokens is not None:
        # With a forced bos after a one-token decoder start, the first free step is one later.
        begin_index = prompt_length
        if prompt_length <= 1 and config.forced_bos_token_id is not None:
            begin_index += 1
        processors.append(SuppressTokensAtBeginLogitsProcessor(config.begin_suppress_tokens, begin_index, device=device))

    processors = _merge_custom(processors, list(logits_processor or []))

    if config.do_sample:
        # Beam sampling keeps enough candidates that a non-eos continuation always survives.
        if config.num_beams is not None and config.num_beams > 1:
            keep = len(eos) + 1 if eos is not None else 2
        else:
            keep = 1
        if config.temperature is not None and config.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(config.temperature))
        if getattr(config, "top_h", None) is not None:
            processors.append(TopHLogitsWarper(top_h=config.top_h))
        if config.top_k is not None and config.top_k != 0:
            processors.append(TopKLogitsWarper(top_k=config.top_k, min_tokens_to_keep=keep))
        if config.top_p is not None and config.top_p < 1.0:
            processors.append(TopPLogitsWarper(top_p=config.top_p, min_tokens_to_keep=keep))
        if config.min_p is not None:
            processors.append(MinPLogitsWarper(min_p=config.min_p, min_tokens_to_keep=keep))
        if config.typical_p is not None and config.typical_p < 1.0:
            processors.append(TypicalLogitsWarper(mass=config.typical_p, min_tokens_to_keep=keep))
        if config.epsilon_cutoff is not None and 0.0 < config.epsilon_cutoff < 1.0:
            processors.append(EpsilonLogitsWarper(epsilon=config.epsilon_cutoff, min_tokens_to_keep=keep))
        if config.eta_cutoff is not None and 0.0 < config.eta_cutoff < 1.0:
            processors.append(EtaLogitsWarper(epsilon=config.eta_cutoff, min_tokens_to_keep=keep, device=device))

    # LogitNormalization is always last, after every other processor and warper.
    if config.renormalize_logits is True:
        processors.append(LogitNormalization())
    return processors
