"""GenerationConfig: every knob of `generate`, loaded from and saved to generation_config.json.

As in transformers 5, every attribute defaults to None ("unset"); `resolved()` fills the unset ones
with the global defaults (max_length 20, top_k 50, ...). Keeping "unset" distinct from "default" is
what lets a model's generation_config.json, then the user's arguments, override each other cleanly.

>>> config = GenerationConfig(max_new_tokens=8, do_sample=True, top_p=0.9)
>>> config.resolved().top_k
50
"""

from __future__ import annotations

import copy
import json
import logging
import os
from numbers import Integral, Real
from typing import Any

from snuggle.errors import ConfigError
from snuggle.utils.logging import get_logger, warn_once

logger = get_logger(__name__)
_informed: set[str] = set()


def info_once(message: str) -> None:
    """Log `message` at info level the first time only (the details behind a warn_once)."""
    if message not in _informed:
        _informed.add(message)
        logger.info(message)


GENERATION_CONFIG_NAME = "generation_config.json"

# The attributes the reference knows (all default to None); unknown keys are kept as extra attributes.
_FIELDS = (
    "max_length", "max_new_tokens", "min_length", "min_new_tokens", "early_stopping", "max_time", "stop_strings",
    "do_sample", "num_beams", "use_cache", "cache_implementation", "cache_config", "max_cache_len",
    "temperature", "top_k", "top_p", "min_p", "top_h", "typical_p", "epsilon_cutoff", "eta_cutoff",
    "repetition_penalty", "encoder_repetition_penalty", "length_penalty", "no_repeat_ngram_size", "bad_words_ids",
    "renormalize_logits", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "sequence_bias",
    "token_healing", "guidance_scale", "watermarking_config", "num_return_sequences", "output_attentions",
    "output_hidden_states", "output_scores", "output_logits", "return_dict_in_generate", "pad_token_id",
    "bos_token_id", "eos_token_id", "encoder_no_repeat_ngram_size", "decoder_start_token_id",
)

# Values used when neither the model's generation_config.json nor the caller sets an attribute.
DEFAULT_GENERATION_PARAMS: dict[str, Any] = {
    "max_length": 20, "min_length": 0, "do_sample": False, "use_cache": True, "early_stopping": False,
    "num_beams": 1, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "typical_p": 1.0, "repetition_penalty": 1.0,
    "length_penalty": 1.0, "no_repeat_ngram_size": 0, "encoder_no_repeat_ngram_size": 0, "bad_words_ids": None,
    "num_return_sequences": 1, "output_scores": False, "return_dict_in_generate": False,
    "remove_invalid_values": False, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "encoder_repetition_penalty": 1.0,
}

# Model-config keys copied by from_model_config (older checkpoints keep them in config.json).
_MODEL_CONFIG_KEYS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", *DEFAULT_GENERATION_PARAMS)


class GenerationConfig:
    """All generation parameters; unset ones are None until `resolved()`."""

    def __init__(self, **kwargs: Any) -> None:
        user_set_attributes = set(kwargs)
        for name in _FIELDS:
            setattr(self, name, kwargs.pop(name, None))
        self._from_model_config = kwargs.pop("_from_model_config", None)
        self.transformers_version = kwargs.pop("transformers_version", None)
        for key, value in kwargs.items():  # custom entries are kept, as the reference does
            setattr(self, key, value)
        self.validate(user_set_attributes=user_set_attributes)

    # ---- validation -------------------------------------------------------------------------
    def validate(self, strict: bool = False, user_set_attributes: set[str] | None = None) -> None:
        """Raise ConfigError naming the argument for values that cannot work; warn (once) about ignored flags.

        Flags that only matter in another mode (temperature with do_sample=False, length_penalty
        without beams, output_scores without return_dict_in_generate, ...) are "minor issues": one
        warning per distinct message per process, or a ConfigError when `strict`. As in the reference,
        `user_set_attributes` (the keys the caller just set) silences the warning for a flag that was
        only inherited (e.g. from generation_config.json) while the caller set the mode explicitly.
        """
        _check_values(self)
        minor = _minor_issues(self, user_set_attributes)
        if not minor:
            return
        details = "\n".join(f"- `{name}`: {issue}" for name, issue in minor.items())
        if strict:
            raise ConfigError("generation config is inconsistent:\n" + details)
        warn_once(logger, f"The following generation flags are not valid and may be ignored: {list(minor)}. "
                          "Set SNUGGLE_LOG_LEVEL=INFO for more details.")
        if logger.isEnabledFor(logging.INFO):
            info_once(details)

    # ---- defaults and updates ---------------------------------------------------------------
    def resolved(self) -> "GenerationConfig":
        """A copy with unset attributes replaced by the global defaults."""
        out = copy.deepcopy(self)
        for key, value in DEFAULT_GENERATION_PARAMS.items():
            if getattr(out, key, None) is None:
                setattr(out, key, value)
        return out

    def update(self, **kwargs: Any) -> dict[str, Any]:
        """Set the known attributes in kwargs; return the ones that are not generation attributes."""
        unused, updated = {}, set()
        for key, value in kwargs.items():
            if hasattr(self, key):
                setattr(self, key, value)
                updated.add(key)
            else:
                unused[key] = value
        # Only what this call set counts as user-set: inherited defaults do not warn.
        self.validate(user_set_attributes=updated)
        return unused

    # ---- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if not k.startswith("__")}

    def to_diff_dict(self) -> dict[str, Any]:
        """Only the attributes that differ from a fresh GenerationConfig (what the reference writes)."""
        default = GenerationConfig().to_dict()
        return {
            k: v for k, v in self.to_dict().items()
            if k not in default or v != default[k] or k == "transformers_version"
        }

    def to_json_string(self, use_diff: bool = True) -> str:
        data = self.to_diff_dict() if use_diff else self.to_dict()
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs: Any) -> "GenerationConfig":
        return cls(**{**config_dict, **kwargs})

    def save_pretrained(self, save_directory: str | os.PathLike, config_file_name: str | None = None) -> str:
        """Write generation_config.json (only non-default values) into save_directory; return its path."""
        if os.path.isfile(save_directory):
            raise ConfigError(f"save_pretrained: {save_directory} is a file; expected a directory")
        self.validate()
        os.makedirs(save_directory, exist_ok=True)
        path = os.path.join(save_directory, config_file_name or GENERATION_CONFIG_NAME)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(self.to_json_string(use_diff=True))
        return path

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name: str | os.PathLike, config_file_name: str | None = None, **kwargs: Any
    ) -> "GenerationConfig":
        """Read generation_config.json from a folder (or a path to the json file itself)."""
        path = str(pretrained_model_name)
        if os.path.isdir(path):
            path = os.path.join(path, config_file_name or GENERATION_CONFIG_NAME)
        elif not os.path.exists(path):  # a Hub id: fetch generation_config.json through snuggle.hub
            from snuggle.models.hub_files import resolve_model_file

            hub_keys = ("revision", "subfolder", "cache_dir", "token", "local_files_only", "force_download")
            hub_kwargs = {k: kwargs.pop(k) for k in hub_keys if k in kwargs}
            hub_kwargs["subfolder"] = hub_kwargs.get("subfolder") or ""
            path = resolve_model_file(path, config_file_name or GENERATION_CONFIG_NAME, **hub_kwargs)
        if not os.path.isfile(path):
            raise ConfigError(f"{path}: no such file; expected a folder containing {GENERATION_CONFIG_NAME}")
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a JSON object, found {type(data).__name__}")
        return cls.from_dict(data, **kwargs)

    @classmethod
    def from_model_config(cls, model_config: Any) -> "GenerationConfig":
        """Generation attributes found in a model config (object or dict); others stay unset."""
        data = model_config if isinstance(model_config, dict) else model_config.to_dict()
        kept = {k: data[k] for k in _MODEL_CONFIG_KEYS if data.get(k) is not None}
        config = cls(**kept)
        config._from_model_config = True
        return config

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GenerationConfig):
            return NotImplemented
        mine, theirs = self.to_dict(), other.to_dict()
        mine.pop("transformers_version", None), theirs.pop("transformers_version", None)
        return mine == theirs

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string(use_diff=True)}"


# ---- validation rules (module-level so the class stays a plain bag of attributes) ------------------

# The reference's cache implementations (snuggle's generate may support fewer; it says so itself).
CACHE_IMPLEMENTATIONS = (
    "static", "offloaded_static", "sliding_window", "hybrid", "hybrid_chunked", "offloaded_hybrid",
    "offloaded_hybrid_chunked", "dynamic", "offloaded", "quantized", "paged",
)
# Arguments of generate() that people put in the config by mistake.
_GENERATE_ARGUMENTS = ("logits_processor", "stopping_criteria", "prefix_allowed_tokens_fn", "synced_gpus",
                       "assistant_model", "streamer", "negative_prompt_ids", "negative_prompt_attention_mask")
_EXTRA_OUTPUT_FLAGS = ("output_attentions", "output_hidden_states", "output_scores", "output_logits")


def _bad(config: GenerationConfig, name: str, expected: str) -> ConfigError:
    return ConfigError(f"generation config: `{name}` must be {expected}, but is {getattr(config, name)!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _check_values(config: GenerationConfig) -> None:
    """Errors: values no generation mode can use."""
    get = config.__dict__.get
    if get("early_stopping") not in (None, True, False, "never"):
        raise _bad(config, "early_stopping", "a boolean or 'never'")
    # (name, test, expected) for the numeric knobs; None always means "unset".
    rules = (
        ("max_length", lambda v: _is_int(v) and v > 0, "a positive integer"),
        ("max_new_tokens", lambda v: _is_int(v) and v > 0, "an integer greater than 0"),
        ("min_length", lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
        ("min_new_tokens", lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
        ("max_time", lambda v: _is_number(v) and v >= 0, "a non-negative number of seconds"),
        ("temperature", lambda v: _is_number(v) and v >= 0,
         "a number >= 0 (use do_sample=False for greedy decoding)"),
        ("top_k", lambda v: _is_int(v) and v >= 0, "a non-negative integer (0 disables top-k)"),
        ("top_p", lambda v: _is_number(v) and 0.0 <= v <= 1.0, "a float in [0, 1]"),
        ("min_p", lambda v: _is_number(v) and 0.0 <= v <= 1.0, "a float in [0, 1]"),
        ("top_h", lambda v: _is_number(v) and 0.0 < v <= 1.0, "a float in (0, 1]"),
        ("typical_p", lambda v: _is_number(v) and 0.0 < v <= 1.0, "a float in (0, 1]"),
        ("epsilon_cutoff", lambda v: _is_number(v) and 0.0 <= v <= 1.0, "a float in [0, 1] (0 disables it)"),
        ("eta_cutoff", lambda v: _is_number(v) and 0.0 <= v <= 1.0, "a float in [0, 1] (0 disables it)"),
        ("repetition_penalty", lambda v: _is_number(v) and v > 0, "a strictly positive float (1.0 = no penalty)"),
        ("encoder_repetition_penalty", lambda v: _is_number(v) and v > 0,
         "a strictly positive float (1.0 = no penalty)"),
        ("length_penalty", _is_number, "a number"),
        ("no_repeat_ngram_size", lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
        ("encoder_no_repeat_ngram_size", lambda v: _is_int(v) and v >= 0, "a non-negative integer"),
        ("num_beams", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
        ("num_return_sequences", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
        ("forced_bos_token_id", lambda v: _is_int(v) and v >= 0, "a non-negative token id"),
    )
    for name, test, expected in rules:
        value = get(name)
        if value is not None and not test(value):
            raise _bad(config, name, expected)
    bad_words = get("bad_words_ids")
    if bad_words is not None and not (
        isinstance(bad_words, list) and bad_words
        and all(isinstance(w, list) and w and all(_is_int(t) and t >= 0 for t in w) for w in bad_words)
    ):
        raise _bad(config, "bad_words_ids", "a non-empty list of non-empty lists of non-negative token ids")
    decay = get("exponential_decay_length_penalty")
    if decay is not None and not (
        isinstance(decay, (list, tuple)) and len(decay) == 2 and _is_int(decay[0]) and _is_number(decay[1])
    ):
        raise _bad(config, "exponential_decay_length_penalty", "a (start_index: int, decay_factor: float) pair")
    for name in ("suppress_tokens", "begin_suppress_tokens"):
        tokens = get(name)
        if tokens is not None and not (
            isinstance(tokens, (list, tuple)) and all(_is_int(t) and t >= 0 for t in tokens)
        ):
            raise _bad(config, name, "a list of non-negative token ids")
    stop = get("stop_strings")
    if stop is not None and not (
        (isinstance(stop, str) and stop) or (isinstance(stop, list) and stop and all(isinstance(s, str) and s for s in stop))
    ):
        raise _bad(config, "stop_strings", "a non-empty string or a list of non-empty strings")
    cache = get("cache_implementation")
    if cache is not None and cache not in CACHE_IMPLEMENTATIONS:
        raise _bad(config, "cache_implementation", f"one of {list(CACHE_IMPLEMENTATIONS)}")
    # Beams / return sequences: a search cannot return more sequences than it keeps.
    beams, returned = get("num_beams") or 1, get("num_return_sequences") or 1
    if returned > 1:
        if beams == 1 and not get("do_sample"):
            raise ConfigError(
                f"generation config: `num_return_sequences` ({returned}) > 1 needs do_sample=True or "
                f"`num_beams` >= {returned}; greedy search returns a single sequence"
            )
        if beams > 1 and returned > beams:
            raise ConfigError(
                f"generation config: `num_return_sequences` ({returned}) is larger than `num_beams` ({beams}); "
                "beam search can return at most num_beams sequences. Raise num_beams or lower num_return_sequences."
            )
    # Forcing a token that is also suppressed leaves every logit at -inf (nan probabilities).
    suppressed = get("suppress_tokens")
    if suppressed is not None:
        for name in ("forced_bos_token_id", "forced_eos_token_id"):
            forced = get(name)
            if forced is None:
                continue
            forced = {forced} if _is_int(forced) else set(forced)
            if forced and forced <= set(suppressed):
                raise ConfigError(
                    f"generation config: every token of `{name}` ({sorted(forced)}) is also in `suppress_tokens`; "
                    "forcing a suppressed token leaves no possible token. Remove it from one of them "
                    "(use min_new_tokens to prevent an early eos)."
                )
    for name in _GENERATE_ARGUMENTS:
        if name in config.__dict__:
            raise ConfigError(f"`{name}` is not a GenerationConfig attribute; pass it to generate() directly")


def _should_warn(outer: str, inner: str, user_set: set[str] | None) -> bool:
    """Stay quiet only when the caller set the mode (outer) but the flag (inner) was merely inherited."""
    if user_set is None:
        return True
    return not (outer in user_set and inner not in user_set)


def _minor_issues(config: GenerationConfig, user_set: set[str] | None) -> dict[str, str]:
    """{flag: why it is ignored} for flags that only matter in another generation mode."""
    get = config.__dict__.get
    issues: dict[str, str] = {}
    if get("pad_token_id") is not None and _is_int(get("pad_token_id")) and get("pad_token_id") < 0:
        issues["pad_token_id"] = f"`pad_token_id` should be non-negative but is {get('pad_token_id')}"
    if get("do_sample") is not True:
        unused_when_greedy = (
            ("temperature", lambda v: v != 1.0), ("top_p", lambda v: v != 1.0), ("min_p", lambda v: True),
            ("top_h", lambda v: True), ("typical_p", lambda v: v != 1.0), ("top_k", lambda v: v != 50),
            ("epsilon_cutoff", lambda v: v != 0.0), ("eta_cutoff", lambda v: v != 0.0),
        )
        for name, differs in unused_when_greedy:
            value = get(name)
            if value is not None and differs(value) and _should_warn("do_sample", name, user_set):
                issues[name] = (f"`do_sample` is not True, but `{name}` is {value!r}: it is only used when sampling. "
                                f"Set do_sample=True or unset `{name}`.")
    if get("num_beams") in (None, 1):
        for name, differs in (("early_stopping", lambda v: v is not False), ("length_penalty", lambda v: v != 1.0)):
            value = get(name)
            if value is not None and differs(value) and _should_warn("num_beams", name, user_set):
                issues[name] = (f"`num_beams` is {get('num_beams')}, but `{name}` is {value!r}: it is only used by "
                                f"beam search. Set num_beams > 1 or unset `{name}`.")
    if get("return_dict_in_generate") is not True:
        for name in _EXTRA_OUTPUT_FLAGS:
            if get(name) is True:
                issues[name] = f"`{name}` is True but `return_dict_in_generate` is not, so it is ignored"
    if get("use_cache") is False:
        for name in ("cache_implementation", "cache_config"):
            if get(name) is not None:
                issues[name] = f"`use_cache` is False, so `{name}`={get(name)!r} has no effect"
    return issues
