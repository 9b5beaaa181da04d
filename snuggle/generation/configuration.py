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
import os
from typing import Any

from snuggle.errors import ConfigError

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
        for name in _FIELDS:
            setattr(self, name, kwargs.pop(name, None))
        self._from_model_config = kwargs.pop("_from_model_config", None)
        self.transformers_version = kwargs.pop("transformers_version", None)
        for key, value in kwargs.items():  # custom entries are kept, as the reference does
            setattr(self, key, value)
        self.validate()

    # ---- validation -------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ConfigError naming the argument for values that cannot work."""

        def bad(name: str, expected: str) -> ConfigError:
            return ConfigError(f"generation config: `{name}` must be {expected}, but is {getattr(self, name)!r}")

        if self.early_stopping not in (None, True, False, "never"):
            raise bad("early_stopping", "a boolean or 'never'")
        if self.max_new_tokens is not None and self.max_new_tokens <= 0:
            raise bad("max_new_tokens", "greater than 0")
        if self.temperature is not None and self.temperature < 0:
            raise bad("temperature", ">= 0 (use do_sample=False for greedy decoding)")
        if self.top_p is not None and not 0.0 <= self.top_p <= 1.0:
            raise bad("top_p", "a float in [0, 1]")
        if self.min_p is not None and not 0.0 <= self.min_p <= 1.0:
            raise bad("min_p", "a float in [0, 1]")
        if self.typical_p is not None and not 0.0 < self.typical_p <= 1.0:
            raise bad("typical_p", "a float in (0, 1]")
        if self.top_k is not None and (not isinstance(self.top_k, int) or self.top_k < 0):
            raise bad("top_k", "a non-negative integer")
        if self.repetition_penalty is not None and self.repetition_penalty <= 0:
            raise bad("repetition_penalty", "a strictly positive float")
        if self.num_beams is not None and self.num_beams < 1:
            raise bad("num_beams", "at least 1")
        if self.num_return_sequences is not None:
            beams = self.num_beams if self.num_beams is not None else 1
            if self.num_return_sequences < 1:
                raise bad("num_return_sequences", "at least 1")
            if not self.do_sample and self.num_return_sequences > beams:
                raise ConfigError(
                    f"generation config: `num_return_sequences` ({self.num_return_sequences}) is larger than "
                    f"`num_beams` ({beams}); greedy/beam search can return at most num_beams sequences. "
                    "Raise num_beams or set do_sample=True."
                )

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
        unused = {}
        for key, value in kwargs.items():
            if hasattr(self, key):
                setattr(self, key, value)
            else:
                unused[key] = value
        self.validate()
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
