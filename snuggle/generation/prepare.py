"""Steps 1 and 2 of `generate`: resolve the generation config, then prepare everything the decode loop needs.

1. config: the model's generation_config.json (or its config.json) fills what the caller's
   GenerationConfig leaves unset, keyword arguments override both, then the global defaults
   (max_length 20 new tokens, top_k 50, ...). Unknown keywords raise ConfigError, except inputs the
   model's forward accepts (token_type_ids, ...), which go to every forward call.
2. inputs: left-padded batches (positions count real tokens only), an attention mask inferred from
   the pad id when none is given, the encoder run once for encoder-decoder models, rows repeated for
   num_return_sequences / num_beams, a KV cache (dynamic, static, or the caller's), the processors and
   the stopping criteria. All validation happens here, once, so the loop itself checks nothing.

>>> state = prepare_generation(model, input_ids, mask, None, None, None, None, {"max_new_tokens": 4})  # doctest: +SKIP
>>> state.max_length, state.input_ids.shape                                                          # doctest: +SKIP
"""

from __future__ import annotations

import copy
import functools
import inspect
from dataclasses import dataclass
from typing import Any

import torch

from snuggle.errors import ConfigError
from snuggle.generation.configuration import GenerationConfig
from snuggle.generation.logits_process import LogitsProcessorList
from snuggle.generation.stopping_criteria import (
    EosTokenCriteria,
    MaxLengthCriteria,
    StoppingCriteriaList,
)
from snuggle.utils.logging import get_logger, warn_once

# Messages are logged under the name users know from the first version (snuggle.generation.utils).
logger = get_logger("snuggle.generation.utils")

# Keyword arguments `generate` itself consumes (not generation-config attributes, not model inputs).
_GENERATE_ONLY = ("tokenizer", "past_key_values", "cache", "decoder_input_ids", "decoder_attention_mask",
                  "encoder_outputs", "inputs")
STATIC_CACHE_IMPLEMENTATIONS = ("static",)
_pad_info_logged: set[int] = set()


@functools.cache
def _forward_parameters(model_class: type) -> tuple[frozenset, bool]:
    """Names model.forward accepts, and whether it takes **kwargs (cached per class: inspect is slow)."""
    params = inspect.signature(model_class.forward).parameters
    takes_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return frozenset(params), takes_var_kw


def _model_generation_defaults(model) -> GenerationConfig:
    """The model's own defaults: generation_config.json when loaded with one, else its config.json."""
    base = getattr(model, "generation_config", None)
    if isinstance(base, dict):
        base = GenerationConfig.from_dict(base)
    if base is None:
        base = GenerationConfig.from_model_config(model.config)
    return base


def resolve_generation_config(model, generation_config: GenerationConfig | None, kwargs: dict):
    """Model defaults -> caller's config -> kwargs -> global defaults.

    Returns (config, model_kwargs, has_default_max_length, has_default_min_length); model_kwargs are the
    keywords that are not generation attributes (checked against the model's forward by the caller).
    """
    model_defaults = _model_generation_defaults(model)
    has_default_max_length = (
        kwargs.get("max_length") is None
        and (generation_config is None or generation_config.max_length is None)
        and model_defaults.max_length is None
    )
    has_default_min_length = (
        kwargs.get("min_length") is None
        and (generation_config is None or generation_config.min_length is None)
        and model_defaults.min_length is None
    )
    config = copy.deepcopy(generation_config) if generation_config is not None else GenerationConfig()
    for key, value in model_defaults.to_dict().items():
        if value is not None and key != "transformers_version" and getattr(config, key, None) is None:
            setattr(config, key, value)
    model_kwargs = config.update(**kwargs)
    config = config.resolved()
    return config, model_kwargs, has_default_max_length, has_default_min_length


def _check_model_kwargs(model, model_kwargs: dict) -> None:
    """Keywords that are neither generation attributes nor model inputs are typos: name them."""
    accepted, takes_var_kw = _forward_parameters(type(model))
    unknown = sorted(
        key for key, value in model_kwargs.items()
        if value is not None and key not in accepted and key not in _GENERATE_ONLY
        and not (takes_var_kw and key in ("output_attentions", "output_hidden_states"))
    )
    if unknown:
        raise ConfigError(
            f"generate: unknown arguments {unknown}: they are neither GenerationConfig attributes nor inputs of "
            f"{type(model).__name__}.forward (check the spelling)"
        )


def _as_id_list(token_ids) -> list[int] | None:
    if token_ids is None:
        return None
    if isinstance(token_ids, torch.Tensor):
        return token_ids.flatten().tolist()
    return [int(token_ids)] if isinstance(token_ids, int) else [int(t) for t in token_ids]


def _context_length(model) -> int | None:
    config = model.config
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _uses_absolute_positions(model) -> bool:
    """Learned position tables (GPT-2's wpe) cannot go past the context; RoPE models can."""
    return getattr(model.config, "model_type", None) == "gpt2" or hasattr(
        getattr(model, "transformer", None), "wpe"
    )


def _check_non_negative_int(name: str, value) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ConfigError(f"generate: `{name}` must be a non-negative integer, but is {value!r}")


# ------------------------------------------------------------------------------------------------------ 2. inputs
@dataclass
class DecodeState:
    """Everything the decode loops need, prepared once before the first step."""

    model: Any
    config: GenerationConfig
    is_encoder_decoder: bool
    input_ids: torch.LongTensor          # (rows, prompt_len): decoder prompt, already expanded
    prompt_length: int
    max_length: int
    batch_size: int                      # prompts before expansion
    processors: LogitsProcessorList
    criteria: StoppingCriteriaList
    eos: list[int] | None
    pad: int | None
    cache: Any
    past_length: int                     # tokens already in a caller's cache
    attention_mask: torch.Tensor | None  # (rows, prompt_len) decoder mask, None when it is all ones
    position_ids: torch.Tensor | None    # (rows, prompt_len); None when forward takes none or nothing is padded
    encoder_outputs: Any
    encoder_attention_mask: torch.Tensor | None
    extra_kwargs: dict
    keep_last_logits: bool
    streamer: Any
    token_type_ids: torch.Tensor | None = None  # (rows, max_length): the prompt's, then its last value repeated

    def model_inputs(self, ids: torch.Tensor, mask: torch.Tensor | None, positions: torch.Tensor | None,
                     end: int | None = None) -> dict:
        """Keyword arguments of one forward call over `ids`, the tokens just before position `end`."""
        inputs = dict(self.extra_kwargs)
        if self.token_type_ids is not None:
            end = self.prompt_length if end is None else end
            inputs["token_type_ids"] = self.token_type_ids[:, end - ids.shape[1]:end]
        if self.is_encoder_decoder:
            inputs.update(decoder_input_ids=ids, encoder_outputs=self.encoder_outputs,
                          attention_mask=self.encoder_attention_mask)
            if mask is not None:
                inputs["decoder_attention_mask"] = mask
        else:
            inputs["input_ids"] = ids
            if mask is not None:
                inputs["attention_mask"] = mask
            if positions is not None:
                inputs["position_ids"] = positions
        inputs["past_key_values"] = self.cache
        inputs["use_cache"] = self.config.use_cache
        if self.keep_last_logits:
            inputs["logits_to_keep"] = 1
        return inputs

    def step_inputs(self, sequences: torch.Tensor, mask: torch.Tensor | None, next_positions) -> dict:
        """Forward kwargs for one decode step; `sequences` (rows, cur) is everything so far.

        With a cache only the last token is fed; with use_cache=False the whole sequence is run again.
        """
        if self.config.use_cache:
            return self.model_inputs(sequences[:, -1:], mask, next_positions, sequences.shape[1])
        positions = None
        if self.position_ids is not None:
            if mask is None:
                positions = torch.arange(sequences.shape[1], device=sequences.device).expand(sequences.shape[0], -1)
            else:
                positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
        return self.model_inputs(sequences, mask, positions, sequences.shape[1])

    def next_token_logits(self, outputs) -> torch.Tensor:
        """(rows, vocab) float32 logits of the last position: a copy when the logits hold more positions (frees
        the big prefill logits) or another dtype, else the step's own logits."""
        if self.config.use_cache:
            self.cache = outputs.past_key_values
        logits = outputs.logits
        if logits.shape[1] == 1 and logits.dtype == torch.float32:
            return logits[:, -1, :]
        return logits[:, -1, :].to(dtype=torch.float32, copy=True)


def _prepare_attention_mask(input_ids, attention_mask, pad, eos) -> torch.Tensor:
    """The caller's mask, else one inferred from the pad id (only when pad is in the inputs and is not eos)."""
    if attention_mask is not None:
        if attention_mask.dim() != 2 or attention_mask.shape != input_ids.shape:
            raise ConfigError(
                f"generate: `attention_mask` must be 2-D with the shape of input_ids {tuple(input_ids.shape)}, "
                f"found {tuple(attention_mask.shape)}"
            )
        return attention_mask
    if pad is not None and (eos is None or pad not in eos) and bool((input_ids == pad).any()):
        return input_ids.ne(pad).long()
    return torch.ones_like(input_ids)


def _run_encoder(model, input_ids, attention_mask, config: GenerationConfig):
    encoder = model.get_encoder()
    kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
    params = inspect.signature(encoder.forward).parameters
    if "output_attentions" in params:
        kwargs["output_attentions"] = bool(config.output_attentions)
    if "output_hidden_states" in params:
        kwargs["output_hidden_states"] = bool(config.output_hidden_states)
    if "return_dict" in params:
        kwargs["return_dict"] = True
    return encoder(**kwargs)


def _expand_rows(tensor, times: int):
    return tensor.repeat_interleave(times, dim=0) if isinstance(tensor, torch.Tensor) and times > 1 else tensor


def _expand_encoder_outputs(encoder_outputs, times: int):
    """Repeat every tensor field of the encoder output `times` times along the batch (one copy per beam/sample)."""
    if times == 1:
        return encoder_outputs
    expanded = copy.copy(encoder_outputs)
    for key in list(encoder_outputs.keys()):
        value = encoder_outputs[key]
        if isinstance(value, torch.Tensor):
            expanded[key] = value.repeat_interleave(times, dim=0)
    return expanded


def _make_cache(model, config: GenerationConfig, rows: int, max_length: int, is_encoder_decoder: bool):
    from snuggle.models.cache import DynamicCache, EncoderDecoderCache

    implementation = config.cache_implementation
    if implementation is None or implementation == "dynamic":
        cache = DynamicCache()
    elif implementation in STATIC_CACHE_IMPLEMENTATIONS:
        from snuggle.models.cache import StaticCache

        max_cache_len = max(max_length - 1, config.max_cache_len or 0)
        cache = StaticCache(config=model.config, max_batch_size=rows, max_cache_len=max_cache_len,
                            device=model.device, dtype=model.dtype)
        # Cross-attention keys are computed once from the encoder output, so they stay in a DynamicCache.
    else:
        raise ConfigError(
            f"generate: `cache_implementation`={implementation!r} is not supported; use None/'dynamic' or 'static'"
        )
    if is_encoder_decoder:
        cache = EncoderDecoderCache(cache, DynamicCache())
    return cache


def _build_stopping_criteria(config, model, eos, tokenizer, custom) -> StoppingCriteriaList:
    """Max length, max time, stop strings, eos (the reference's order), then the caller's criteria."""
    from snuggle.generation import stopping_criteria as sc

    criteria = StoppingCriteriaList([MaxLengthCriteria(config.max_length, _context_length(model))])
    if config.max_time is not None:
        criteria.append(sc.MaxTimeCriteria(max_time=config.max_time))
    if config.stop_strings is not None:
        if tokenizer is None:
            raise ConfigError(
                "generate: `stop_strings` needs the model's tokenizer; pass it as generate(..., tokenizer=tokenizer)"
            )
        criteria.append(sc.StopStringCriteria(tokenizer=tokenizer, stop_strings=config.stop_strings))
    if eos:
        criteria.append(EosTokenCriteria(eos))
    if not custom:
        return criteria
    merged = StoppingCriteriaList()
    for default in criteria:
        replacement = next((c for c in custom if type(c) is type(default)), None)
        merged.append(replacement if replacement is not None else default)
    merged.extend(c for c in custom if not any(c is m for m in merged))
    return merged


def prepare_generation(model, input_ids, attention_mask, generation_config, logits_processor, stopping_criteria,
                       streamer, kwargs) -> DecodeState:
    """Steps 1 and 2 of generate: a DecodeState ready for the decode loop (see the module docstring)."""
    from snuggle.generation.logits_process_builder import build_logits_processor

    if input_ids is None:
        input_ids = kwargs.pop("inputs", None)
    if kwargs.get("inputs_embeds") is not None:
        raise ConfigError("generate: `inputs_embeds` is not supported; pass `input_ids`")
    kwargs.pop("inputs_embeds", None)
    tokenizer = kwargs.pop("tokenizer", None)
    user_cache = kwargs.pop("past_key_values", None)
    user_cache = kwargs.pop("cache", None) if user_cache is None else user_cache
    config, model_kwargs, has_default_max_length, _ = resolve_generation_config(
        model, generation_config, kwargs
    )
    _check_model_kwargs(model, model_kwargs)
    for name in ("max_new_tokens", "min_new_tokens", "max_length", "min_length"):
        _check_non_negative_int(name, getattr(config, name))
    is_encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
    encoder_outputs = model_kwargs.pop("encoder_outputs", None)
    decoder_input_ids = model_kwargs.pop("decoder_input_ids", None)
    decoder_attention_mask = model_kwargs.pop("decoder_attention_mask", None)

    # special tokens: pad := eos[0] for open-ended generation, said once per process
    eos = _as_id_list(config.eos_token_id)
    pad = config.pad_token_id
    if isinstance(pad, torch.Tensor):
        pad = int(pad.item())
    if pad is None and eos:
        pad = eos[0]
        if pad not in _pad_info_logged:
            _pad_info_logged.add(pad)
            logger.info("Setting pad_token_id to eos_token_id %s for open-ended generation.", pad)

    if input_ids is None:
        if encoder_outputs is not None and is_encoder_decoder:
            input_ids = None
        elif config.bos_token_id is None:
            raise ConfigError("generate: pass `input_ids` (or set bos_token_id to start from a single bos token)")
        else:
            input_ids = torch.full((1, 1), int(config.bos_token_id), dtype=torch.long, device=model.device)
    if input_ids is not None:
        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
            found = tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
            hint = ""
            if hasattr(input_ids, "keys") and "input_ids" in input_ids.keys():
                hint = " (a tokenizer output: unpack it, `model.generate(**inputs, ...)`)"
            elif isinstance(input_ids, torch.Tensor) and input_ids.dim() == 1:
                hint = " (a single sequence: use `ids[None]` or `ids.unsqueeze(0)`)"
            raise ConfigError(f"generate: `input_ids` must be a 2-D LongTensor (batch, seq), found {found}{hint}")
        if input_ids.shape[1] == 0 and not is_encoder_decoder:
            raise ConfigError("generate: `input_ids` is empty (0 tokens); give at least one prompt token")
    batch_size = input_ids.shape[0] if input_ids is not None else encoder_outputs.last_hidden_state.shape[0]
    expand = max(config.num_beams, config.num_return_sequences)
    rows = batch_size * expand

    # encoder-decoder: run the encoder once, decoder starts from decoder_start_token_id
    encoder_attention_mask = None
    encoder_input_ids = None
    if is_encoder_decoder:
        encoder_input_ids = input_ids
        encoder_attention_mask = attention_mask
        if encoder_outputs is None:
            encoder_outputs = _run_encoder(model, input_ids, attention_mask, config)
        start = config.decoder_start_token_id
        if start is None:
            start = config.bos_token_id
        if start is None:
            raise ConfigError(
                "generate: encoder-decoder generation needs `decoder_start_token_id` (or `bos_token_id`) in the "
                "generation config or model config"
            )
        start_ids = torch.full((batch_size, 1), int(start), dtype=torch.long, device=model.device)
        if decoder_input_ids is None:
            decoder_prompt = start_ids
        elif bool((decoder_input_ids[:, 0] != start_ids[:, 0]).all()):
            decoder_prompt = torch.cat([start_ids, decoder_input_ids], dim=-1)
            if decoder_attention_mask is not None:
                decoder_attention_mask = torch.cat(
                    [torch.ones_like(decoder_attention_mask[:, :1]), decoder_attention_mask], dim=-1
                )
        else:
            decoder_prompt = decoder_input_ids
        prompt = decoder_prompt
        mask = decoder_attention_mask
        encoder_outputs = _expand_encoder_outputs(encoder_outputs, expand)
        encoder_attention_mask = _expand_rows(encoder_attention_mask, expand)
    else:
        if batch_size > 1 and pad is not None:
            right_padded = (
                bool((attention_mask[:, -1] == 0).any()) if attention_mask is not None
                else bool((input_ids[:, -1] == pad).any())
            )
            if right_padded:
                warn_once(logger, "generate: right padding detected in a decoder-only batch; results will be wrong. "
                                  "Pad on the left (tokenizer.padding_side = 'left').")
        mask = _prepare_attention_mask(input_ids, attention_mask, pad, eos)
        prompt = input_ids

    prompt = _expand_rows(prompt, expand)
    mask = _expand_rows(mask, expand)
    prompt_length = prompt.shape[1]

    # lengths: max_new_tokens wins; the default is 20 new tokens, capped at the model's context
    context = _context_length(model)
    if config.max_new_tokens is not None:
        if not has_default_max_length:
            logger.info("Both `max_new_tokens` and `max_length` are set; `max_new_tokens` takes precedence.")
        config.max_length = config.max_new_tokens + prompt_length
    elif has_default_max_length:
        config.max_length = config.max_length + prompt_length
        if context is not None:
            config.max_length = min(config.max_length, context)
    if config.min_new_tokens is not None:
        config.min_length = config.min_new_tokens + prompt_length
    if not is_encoder_decoder and context is not None and prompt_length > context:
        raise ConfigError(
            f"generate: the prompt has {prompt_length} tokens, longer than the model's context of {context} tokens "
            "(config.max_position_embeddings); truncate the prompt"
        )
    if prompt_length >= config.max_length:
        name = "decoder_input_ids" if is_encoder_decoder else "input_ids"
        raise ConfigError(
            f"generate: the {name} length {prompt_length} leaves no room to generate: `max_length` is "
            f"{config.max_length}; set `max_new_tokens` instead"
        )
    if not is_encoder_decoder and context is not None and config.max_length > context:
        message = (f"generate: `max_length` {config.max_length} (prompt {prompt_length} + new tokens) exceeds the "
                   f"model's context of {context} tokens")
        if _uses_absolute_positions(model):
            raise ConfigError(message + "; lower max_new_tokens or truncate the prompt")
        warn_once(logger, message + "; outputs past the context may degrade")
    if config.min_new_tokens is not None and config.min_length > config.max_length:
        warn_once(logger, f"generate: `min_new_tokens` ({config.min_new_tokens}) plus the prompt ({prompt_length}) "
                          f"is more than `max_length` ({config.max_length}); generation stops at max_length")

    if streamer is not None and (rows > 1 or config.num_beams > 1):
        raise ConfigError(
            f"generate: a `streamer` needs a single sequence, but batch={batch_size}, num_beams={config.num_beams}, "
            f"num_return_sequences={config.num_return_sequences}"
        )

    # cache
    past_length = 0
    if user_cache is not None:
        if config.cache_implementation is not None:
            raise ConfigError("generate: pass either `past_key_values` or `cache_implementation`, not both")
        from snuggle.models.cache import as_cache

        cache = as_cache(user_cache)
        past_length = cache.get_seq_length()
        if past_length >= prompt_length:
            raise ConfigError(
                f"generate: `past_key_values` already holds {past_length} tokens but input_ids has {prompt_length}; "
                "pass the full sequence (cached prefix + new tokens) as input_ids"
            )
    elif config.use_cache:
        cache = _make_cache(model, config, rows, config.max_length, is_encoder_decoder)
    else:
        cache = None

    accepted, _ = _forward_parameters(type(model))
    position_ids = None
    if not is_encoder_decoder:
        # An all-ones mask carries no information: dropping it lets attention take its fast causal path, and the
        # positions are then the model's default ones (the cache length onwards), which it works out without
        # a position tensor per step.
        if bool((mask == 1).all()):
            mask = None
        elif "position_ids" in accepted and model_kwargs.get("position_ids") is None:
            position_ids = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)

    processors = build_logits_processor(
        config, prompt_length, eos,
        encoder_input_ids=_expand_rows(encoder_input_ids, expand),
        device=prompt.device,
        attention_mask=mask,
        logits_processor=logits_processor,
    )
    criteria = _build_stopping_criteria(config, model, eos, tokenizer, list(stopping_criteria or []))
    extra = {k: v for k, v in model_kwargs.items() if v is not None}
    extra = {k: _expand_rows(v, expand) for k, v in extra.items()}
    token_type_ids = extra.pop("token_type_ids", None)
    if token_type_ids is not None:
        # Like the reference: new tokens get the type of the prompt's last token.
        token_type_ids = torch.cat(
            [token_type_ids, token_type_ids[:, -1:].expand(-1, config.max_length - token_type_ids.shape[1])], dim=-1
        )
    if config.output_attentions:
        extra["output_attentions"] = True
    if config.output_hidden_states:
        extra["output_hidden_states"] = True
    return DecodeState(
        model=model, config=config, is_encoder_decoder=is_encoder_decoder, input_ids=prompt,
        prompt_length=prompt_length, max_length=config.max_length, batch_size=batch_size, processors=processors,
        criteria=criteria, eos=eos, pad=pad, cache=cache, past_length=past_length, attention_mask=mask,
        position_ids=position_ids, encoder_outputs=encoder_outputs, encoder_attention_mask=encoder_attention_mask,
        extra_kwargs=extra, keep_last_logits="logits_to_keep" in accepted, streamer=streamer,
        token_type_ids=token_type_ids,
    )
