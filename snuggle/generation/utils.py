"""`generate`: greedy and sampling decoding with a KV cache (prefill the prompt, then one token per step).

Left-padded batches work as in transformers: positions count only real tokens
(`attention_mask.cumsum(-1) - 1`), and the mask grows by one column per generated token. Sequences
that hit an eos token keep receiving `pad_token_id` until every row is done or max_length is reached.

>>> out = generate(model, input_ids, max_new_tokens=8)          # doctest: +SKIP
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import torch

from snuggle.errors import ConfigError
from snuggle.generation.configuration import GenerationConfig
from snuggle.generation.logits_process import LogitsProcessorList, build_logits_processor
from snuggle.generation.stopping_criteria import EosTokenCriteria, MaxLengthCriteria, StoppingCriteriaList

logger = logging.getLogger(__name__)


@dataclass
class GenerateDecoderOnlyOutput:
    """What generate returns with return_dict_in_generate=True."""

    sequences: torch.LongTensor
    scores: tuple[torch.Tensor, ...] | None = None
    logits: tuple[torch.Tensor, ...] | None = None
    past_key_values: object | None = None

    def __getitem__(self, key):
        return getattr(self, key)


def _prepare_config(model, generation_config: GenerationConfig | None, kwargs: dict) -> tuple[GenerationConfig, dict]:
    """Model defaults (generation_config.json or config.json), then the caller's config, then kwargs."""
    if generation_config is None:
        base = getattr(model, "generation_config", None)
        if isinstance(base, dict):
            base = GenerationConfig.from_dict(base)
        if base is None:
            base = GenerationConfig.from_model_config(model.config)
        generation_config = base
    config = copy.deepcopy(generation_config)
    model_kwargs = config.update(**kwargs)
    return config.resolved(), model_kwargs


def _as_list(token_ids) -> list[int] | None:
    if token_ids is None:
        return None
    if isinstance(token_ids, torch.Tensor):
        return token_ids.flatten().tolist()
    return [token_ids] if isinstance(token_ids, int) else list(token_ids)


@torch.no_grad()
def generate(
    model,
    input_ids: torch.LongTensor,
    attention_mask: torch.Tensor | None = None,
    generation_config: GenerationConfig | None = None,
    logits_processor: LogitsProcessorList | None = None,
    stopping_criteria: StoppingCriteriaList | None = None,
    **kwargs,
):
    """Greedy (do_sample=False) or sampled continuation of `input_ids` (batch, seq), left-padded.

    Returns the sequences (prompt + new tokens), or a GenerateDecoderOnlyOutput when
    return_dict_in_generate=True (with `scores` when output_scores, `logits` when output_logits).
    """
    config, model_kwargs = _prepare_config(model, generation_config, kwargs)
    if model_kwargs:
        raise ConfigError(f"generate: unknown arguments {sorted(model_kwargs)}; expected GenerationConfig attributes")
    if config.num_beams != 1:
        raise ConfigError(f"generate: `num_beams`={config.num_beams} is not supported yet; use num_beams=1")
    batch, prompt_length = input_ids.shape
    eos = _as_list(config.eos_token_id)
    pad = config.pad_token_id
    if pad is None and eos:
        logger.info("Setting pad_token_id to eos_token_id %s for open-ended generation.", eos[0])
        pad = eos[0]
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    max_length = config.max_length if config.max_new_tokens is None else prompt_length + config.max_new_tokens

    processors = build_logits_processor(config, prompt_length, eos)
    processors.extend(logits_processor or [])
    criteria = StoppingCriteriaList([MaxLengthCriteria(max_length)])
    if eos:
        criteria.append(EosTokenCriteria(eos))
    criteria.extend(stopping_criteria or [])

    if config.num_return_sequences > 1:
        input_ids = input_ids.repeat_interleave(config.num_return_sequences, dim=0)
        attention_mask = attention_mask.repeat_interleave(config.num_return_sequences, dim=0)
        batch = input_ids.shape[0]

    from snuggle.models.cache import DynamicCache

    cache = DynamicCache()
    scores, raw_logits = [], []
    unfinished = torch.ones(batch, dtype=torch.bool, device=input_ids.device)
    step_ids = input_ids
    while input_ids.shape[-1] < max_length:
        # Positions count real tokens only, so left padding does not shift them (pads get position 1).
        position_ids = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 1)
        position_ids = position_ids[:, -step_ids.shape[-1]:]
        outputs = model(
            input_ids=step_ids, attention_mask=attention_mask, position_ids=position_ids,
            past_key_values=cache, use_cache=True,
        )
        cache = outputs.past_key_values
        logits = outputs.logits[:, -1, :].to(torch.float32)
        next_scores = processors(input_ids, logits)
        if config.output_scores:
            scores.append(next_scores)
        if config.output_logits:
            raw_logits.append(logits)
        if config.do_sample:
            next_tokens = torch.multinomial(torch.softmax(next_scores, dim=-1), num_samples=1).squeeze(1)
        else:
            next_tokens = torch.argmax(next_scores, dim=-1)
        if pad is not None:
            next_tokens = torch.where(unfinished, next_tokens, torch.full_like(next_tokens, pad))
        elif eos:
            pass
        input_ids = torch.cat([input_ids, next_tokens[:, None]], dim=-1)
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((batch, 1))], dim=-1)
        step_ids = next_tokens[:, None]
        unfinished = unfinished & ~criteria(input_ids, next_scores)
        if not bool(unfinished.any()):
            break

    if config.return_dict_in_generate:
        return GenerateDecoderOnlyOutput(
            sequences=input_ids,
            scores=tuple(scores) if config.output_scores else None,
            logits=tuple(raw_logits) if config.output_logits else None,
            past_key_values=cache,
        )
    return input_ids
