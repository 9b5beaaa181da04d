"""Auto classes: pick the config and model class from config.json's model_type.

Each architecture module calls `register(model_type, ConfigClass, base=Model, causal_lm=..., ...)` when
imported; this module imports an architecture only when its model_type is asked for, so loading a
BERT checkpoint never imports T5. Users add their own classes the transformers way:

>>> from snuggle.models.configuration import PretrainedConfig
>>> class MyConfig(PretrainedConfig):
...     model_type = "my-doc-model"
>>> AutoConfig.register("my-doc-model", MyConfig)
>>> type(AutoConfig.for_model("my-doc-model")).__name__
'MyConfig'
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from snuggle.errors import ModelError
from snuggle.models.configuration import PretrainedConfig

# model_type -> module that defines (and registers) it; imported on first use.
MODEL_TYPE_MODULES: dict[str, str] = {
    "bert": "snuggle.models.bert",
    "distilbert": "snuggle.models.distilbert",
    "roberta": "snuggle.models.roberta",
    "gpt2": "snuggle.models.gpt2",
    "llama": "snuggle.models.llama",
    "mistral": "snuggle.models.llama",
    "qwen2": "snuggle.models.llama",
    "qwen3": "snuggle.models.llama",
    "t5": "snuggle.models.t5",
}

HEADS = (
    "base", "causal_lm", "sequence_classification", "token_classification", "question_answering",
    "masked_lm", "seq2seq_lm", "multiple_choice", "pretraining", "next_sentence_prediction",
)

_CONFIG_CLASSES: dict[str, type[PretrainedConfig]] = {}
_MODEL_CLASSES: dict[str, dict[type, type]] = {head: {} for head in HEADS}

# Keyword arguments of from_pretrained that are about loading, not config fields.
_LOADING_KWARGS = (
    "dtype", "torch_dtype", "device_map", "low_cpu_mem_usage", "ignore_mismatched_sizes", "output_loading_info",
    "use_safetensors", "variant", "state_dict", "gguf_file", "quantization_config", "weights_only",
    "attn_implementation", "offload_folder", "max_memory",
)
_HUB_KWARGS = ("revision", "local_files_only", "subfolder", "cache_dir", "token", "force_download")


def register(model_type: str, config_class: type[PretrainedConfig], exist_ok: bool = True, **heads: type) -> None:
    """Register a config class and its model classes by head name ('base', 'causal_lm', ...).

    >>> # register("bert", BertConfig, base=BertModel, masked_lm=BertForMaskedLM)
    """
    AutoConfig.register(model_type, config_class, exist_ok=exist_ok)
    for head, model_class in heads.items():
        if head not in _MODEL_CLASSES:
            raise ModelError(f"register({model_type!r}): unknown head {head!r}; expected one of {', '.join(HEADS)}")
        _MODEL_CLASSES[head][config_class] = model_class


def supported_model_types() -> list[str]:
    return sorted(set(MODEL_TYPE_MODULES) | set(_CONFIG_CLASSES))


def config_class_for(model_type: str | None, where: str = "config") -> type[PretrainedConfig]:
    """The registered config class of `model_type`, importing its architecture module on first use."""
    if not model_type:
        raise ModelError(
            f"{where}: no 'model_type' field; add one of: {', '.join(supported_model_types())}"
        )
    if model_type not in _CONFIG_CLASSES and model_type in MODEL_TYPE_MODULES:
        _import_architecture(model_type)
    if model_type not in _CONFIG_CLASSES:
        raise ModelError(
            f"{where}: unknown model_type {model_type!r}; supported: {', '.join(supported_model_types())} "
            "(register your own with AutoConfig.register)"
        )
    return _CONFIG_CLASSES[model_type]


def _import_architecture(model_type: str) -> None:
    module = MODEL_TYPE_MODULES[model_type]
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name == module:
            raise ModelError(f"model_type {model_type!r}: its implementation {module} is not available yet") from None
        raise


class AutoConfig:
    """`AutoConfig.from_pretrained(path)` builds the config class named by config.json's model_type."""

    def __init__(self) -> None:
        raise ModelError("AutoConfig is not instantiated; use AutoConfig.from_pretrained(path) or for_model(type)")

    @staticmethod
    def register(model_type: str, config: type[PretrainedConfig], exist_ok: bool = False) -> None:
        """Make `model_type` resolve to `config` (its class attribute model_type must agree)."""
        declared = getattr(config, "model_type", None)
        if declared and declared != model_type:
            raise ModelError(
                f"AutoConfig.register({model_type!r}, {config.__name__}): the class declares model_type {declared!r}; "
                "they must be the same"
            )
        existing = _CONFIG_CLASSES.get(model_type)
        if existing is not None and existing is not config and not exist_ok:
            raise ModelError(f"AutoConfig.register: {model_type!r} is already registered to {existing.__name__}")
        _CONFIG_CLASSES[model_type] = config

    @staticmethod
    def for_model(model_type: str, *args: Any, **kwargs: Any) -> PretrainedConfig:
        return config_class_for(model_type)(*args, **kwargs)

    @staticmethod
    def from_pretrained(pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):
        """Read config.json and build its model_type's config; kwargs override fields.

        >>> # AutoConfig.from_pretrained("./minilm", num_labels=3)
        """
        config_dict, kwargs = PretrainedConfig.get_config_dict(pretrained_model_name_or_path, **kwargs)
        where = os.path.join(os.fspath(pretrained_model_name_or_path), "config.json")
        config_class = config_class_for(config_dict.get("model_type"), where=where)
        kwargs.setdefault("name_or_path", os.fspath(pretrained_model_name_or_path))
        try:
            return config_class.from_dict(config_dict, **kwargs)
        except ModelError as err:
            raise ModelError(f"{where}: {err}") from err

    @staticmethod
    def from_dict(config_dict: dict[str, Any], **kwargs: Any) -> PretrainedConfig:
        return config_class_for(config_dict.get("model_type")).from_dict(config_dict, **kwargs)


class _AutoModel:
    """Shared body of AutoModel*: find the model class for a config, then defer to it."""

    _head = "base"

    def __init__(self) -> None:
        raise ModelError(f"{type(self).__name__} is not instantiated; use from_pretrained(path) or from_config(config)")

    @classmethod
    def register(cls, config_class: type[PretrainedConfig], model_class: type, exist_ok: bool = False) -> None:
        """Make `config_class` map to `model_class` for this Auto class."""
        declared = getattr(model_class, "config_class", None)
        if declared is not None and declared is not config_class:
            raise ModelError(
                f"{cls.__name__}.register: {model_class.__name__}.config_class is {declared.__name__}, "
                f"not {config_class.__name__}; they must match"
            )
        existing = _MODEL_CLASSES[cls._head].get(config_class)
        if existing is not None and existing is not model_class and not exist_ok:
            raise ModelError(f"{cls.__name__}.register: {config_class.__name__} is already mapped to {existing.__name__}")
        _MODEL_CLASSES[cls._head][config_class] = model_class

    @classmethod
    def model_class_for(cls, config: PretrainedConfig) -> type:
        mapping = _MODEL_CLASSES[cls._head]
        model_type = type(config).model_type
        if not any(c in mapping for c in type(config).__mro__) and model_type in MODEL_TYPE_MODULES:
            _import_architecture(model_type)
        for klass in type(config).__mro__:
            if klass in mapping:
                return mapping[klass]
        supported = sorted({c.model_type for c in mapping} | {
            t for t, c in _CONFIG_CLASSES.items() if c in mapping
        })
        raise ModelError(
            f"{cls.__name__}: no model for {type(config).__name__} (model_type {model_type!r}); "
            f"this Auto class supports: {', '.join(supported) or 'nothing registered yet'}"
        )

    @classmethod
    def from_config(cls, config: PretrainedConfig, **kwargs: Any):
        """A randomly initialised model of the right class for `config`."""
        return cls.model_class_for(config).from_config(config, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *model_args: Any, **kwargs: Any):
        """Read config.json, pick the class for its model_type, and load the weights with it.

        >>> # AutoModelForSequenceClassification.from_pretrained("./minilm", num_labels=2)
        """
        hub_kwargs = {k: kwargs.pop(k) for k in _HUB_KWARGS if k in kwargs}
        loading_kwargs = {k: kwargs.pop(k) for k in _LOADING_KWARGS if k in kwargs}
        for key in ("trust_remote_code", "_from_pipeline", "_from_auto"):
            kwargs.pop(key, None)
        config = kwargs.pop("config", None)
        gguf_file = loading_kwargs.get("gguf_file")
        if gguf_file is not None and not isinstance(config, PretrainedConfig):
            # Parse the GGUF once: config and tensors come from the same file.
            from snuggle.models.gguf import load_gguf_checkpoint

            config_dict, state_dict = load_gguf_checkpoint(os.fspath(pretrained_model_name_or_path), gguf_file)
            where = os.path.join(os.fspath(pretrained_model_name_or_path), gguf_file)
            config_class = config_class_for(config_dict.get("model_type"), where=where)
            config, kwargs = config_class.from_dict(
                config_dict, return_unused_kwargs=True, name_or_path=os.fspath(pretrained_model_name_or_path),
                **kwargs,
            )
            loading_kwargs.pop("gguf_file")
            loading_kwargs["state_dict"] = state_dict
        elif not isinstance(config, PretrainedConfig):
            source = pretrained_model_name_or_path if config is None else config
            config, kwargs = AutoConfig.from_pretrained(source, return_unused_kwargs=True, **hub_kwargs, **kwargs)
        model_class = cls.model_class_for(config)
        return model_class.from_pretrained(
            pretrained_model_name_or_path, *model_args, config=config, **hub_kwargs, **loading_kwargs, **kwargs
        )


class AutoModel(_AutoModel):
    _head = "base"


class AutoModelForCausalLM(_AutoModel):
    _head = "causal_lm"


class AutoModelForSequenceClassification(_AutoModel):
    _head = "sequence_classification"


class AutoModelForTokenClassification(_AutoModel):
    _head = "token_classification"


class AutoModelForQuestionAnswering(_AutoModel):
    _head = "question_answering"


class AutoModelForMaskedLM(_AutoModel):
    _head = "masked_lm"


class AutoModelForSeq2SeqLM(_AutoModel):
    _head = "seq2seq_lm"


class AutoModelForMultipleChoice(_AutoModel):
    _head = "multiple_choice"


class AutoModelForPreTraining(_AutoModel):
    _head = "pretraining"


class AutoModelForNextSentencePrediction(_AutoModel):
    _head = "next_sentence_prediction"
