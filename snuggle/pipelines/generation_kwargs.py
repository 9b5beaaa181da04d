"""What the generative pipelines share: which `generate()` keywords a call uses, and the call itself.

A generative pipeline layers its generation parameters like transformers 5 does:

1. the model's own generation config (generation_config.json, or the generation keys of config.json),
2. for seq2seq tasks, `config.task_specific_params[task]` (T5's "summarize: " block, as transformers 4.x did),
3. the keywords given to `pipeline(...)`, then those given to the call,

and only then fills what nobody set with the pipeline's defaults (text-generation: 256 new tokens, sampling at
temperature 0.7; text2text: 256 new tokens, 4 beams). Sampling defaults are dropped when not sampling, and the
256-new-tokens default is dropped when a `max_length` is set anywhere: transformers 4.x let the default
`max_new_tokens` silently win over a user's `max_length` (huggingface/transformers#40751), we honour the user.

>>> resolve_generate_kwargs(model, {"max_new_tokens": 8}, TEXT_GENERATION_DEFAULTS)   # doctest: +SKIP
{'max_new_tokens': 8, 'do_sample': True, 'temperature': 0.7}
"""

from __future__ import annotations

import logging

from snuggle.pipelines.base import PipelineError

logger = logging.getLogger(__name__)

TEXT_GENERATION_DEFAULTS = {"max_new_tokens": 256, "do_sample": True, "temperature": 0.7}
TEXT2TEXT_GENERATION_DEFAULTS = {"max_new_tokens": 256, "num_beams": 4}

# Pipeline defaults for these only apply when sampling (generate would warn about them otherwise).
_SAMPLING_PARAMS = frozenset(
    {"temperature", "top_k", "top_p", "min_p", "top_h", "typical_p", "epsilon_cutoff", "eta_cutoff"}
)


def _config_as_dict(config) -> dict:
    """The set (non-default) entries of a GenerationConfig, a dict, or None."""
    if config is None:
        return {}
    if isinstance(config, dict):
        data = dict(config)
    elif hasattr(config, "to_diff_dict"):
        data = config.to_diff_dict()
    else:
        data = dict(vars(config))
    data.pop("transformers_version", None)
    data.pop("_from_model_config", None)
    return {k: v for k, v in data.items() if v is not None and not k.startswith("_")}


def model_generation_params(model) -> dict:
    """The generation parameters the model itself sets (generation_config.json or its config.json keys)."""
    config = getattr(model, "generation_config", None)
    if config is not None:
        return _config_as_dict(config)
    from snuggle.generation.configuration import GenerationConfig

    return _config_as_dict(GenerationConfig.from_model_config(model.config))


def resolve_generate_kwargs(model, generate_kwargs: dict, defaults: dict, task_params: dict | None = None,
                            pad_token_id: int | None = None) -> dict:
    """The keywords to pass to `model.generate` for one call (see the module docstring for the layering).

    `generate_kwargs` are the user's (init + call); `task_params` are task_specific_params entries, passed on
    explicitly because generate() would not otherwise see them; `pad_token_id` (the tokenizer's) is added when
    nobody set one.
    """
    kwargs = {**(task_params or {}), **generate_kwargs}
    user_config = kwargs.get("generation_config")
    set_params = {**model_generation_params(model), **_config_as_dict(user_config), **kwargs}
    added = {key: value for key, value in defaults.items()
             if key not in set_params and not (key == "max_new_tokens" and "max_length" in set_params)}
    if not {**set_params, **added}.get("do_sample"):
        added = {key: value for key, value in added.items() if key not in _SAMPLING_PARAMS}
    if pad_token_id is not None and set_params.get("pad_token_id") is None:
        added["pad_token_id"] = pad_token_id
    if user_config is None:
        return {**kwargs, **added}
    # generate() takes parameters either in a config or as keywords; what we add goes into a copy of the config
    import copy

    user_config = copy.deepcopy(user_config)
    user_config.update(**added)
    return {**kwargs, "generation_config": user_config}


def effective_param(model, kwargs: dict, name: str, default=None):
    """The value `generate` will use for `name` given the resolved kwargs (for length checks and warnings)."""
    if name in kwargs:
        return kwargs[name]
    config = kwargs.get("generation_config")
    for source in (_config_as_dict(config), model_generation_params(model)):
        if source.get(name) is not None:
            return source[name]
    return default


def context_length(model) -> int | None:
    """The longest sequence the model's positions cover (None for relative-position models such as T5)."""
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def call_generate(model, input_ids, attention_mask=None, **kwargs):
    """`model.generate(...)`, or the functional `snuggle.generation.generate` for models without the method."""
    generate = getattr(model, "generate", None)
    if callable(generate):
        return generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
    if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
        raise PipelineError(f"{type(model).__name__} has no generate() method; encoder-decoder generation needs "
                            f"model.generate (snuggle.generation.GenerationMixin)")
    from snuggle.generation.utils import generate as functional_generate

    return functional_generate(model, input_ids, attention_mask=attention_mask, **kwargs)


def split_sequences(output, in_batch: int):
    """generate's output -> (sequences (in_batch, per_input, seq), other per-sequence tensors reshaped alike).

    With return_dict_in_generate the extra tensors (scores, logits as tuples over steps) are stacked to
    (in_batch, per_input, steps, ...), as the transformers 5 pipeline does.
    """
    import torch

    if isinstance(output, torch.Tensor):
        sequences, others = output, {}
    else:
        sequences = output["sequences"] if isinstance(output, dict) else output.sequences
        items = output.items() if isinstance(output, dict) else vars(output).items()
        others = {}
        out_batch = sequences.shape[0]
        for key, value in items:
            if key in ("sequences", "past_key_values", "cache") or value is None:
                continue
            if isinstance(value, tuple) and value and isinstance(value[0], torch.Tensor) \
                    and value[0].shape[0] == out_batch:
                value = torch.stack(value).swapaxes(0, 1)
            if isinstance(value, torch.Tensor) and value.shape[0] == out_batch:
                others[key] = value.reshape(in_batch, out_batch // in_batch, *value.shape[1:])
    out_batch = sequences.shape[0]
    return sequences.reshape(in_batch, out_batch // in_batch, *sequences.shape[1:]), others


def check_generative_model(model, task: str, encoder_decoder: bool) -> None:
    """PipelineError naming the task and the model class when the model cannot serve this generative task."""
    name = type(model).__name__
    can_generate = getattr(model, "can_generate", None)
    if callable(can_generate) and not can_generate():
        raise PipelineError(f"{task} needs a model that can generate (a language-modeling head); {name} cannot")
    is_encoder_decoder = bool(getattr(getattr(model, "config", None), "is_encoder_decoder", False))
    if encoder_decoder and not is_encoder_decoder:
        raise PipelineError(f"{task} needs an encoder-decoder (seq2seq) model such as T5ForConditionalGeneration; "
                            f"{name} is decoder-only, use the 'text-generation' task for it")
    if not encoder_decoder and is_encoder_decoder:
        raise PipelineError(f"{task} needs a decoder-only (causal LM) model; {name} is an encoder-decoder model, "
                            f"use 'text2text-generation' (or summarization / translation) for it")


class WarnOnce:
    """Log each distinct warning message once per pipeline (a batch of 1,000 inputs must not print 1,000 times)."""

    def __init__(self, log: logging.Logger | None = None):
        self._seen: set[str] = set()
        self._log = log or logger

    def __call__(self, message: str) -> None:
        if message not in self._seen:
            self._seen.add(message)
            self._log.warning(message)
