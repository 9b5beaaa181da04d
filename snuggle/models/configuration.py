"""PretrainedConfig: a model's hyper-parameters as plain attributes, read from and written to config.json.

Behaviour follows transformers 5 so config.json files move between the two libraries unchanged:
unknown keys are kept and written back, `id2label` keys are ints, `num_labels` is derived from
`id2label`, `torch_dtype` is read as `dtype`, and `to_json_string()` writes only the values that
differ from the base defaults (sorted keys, 2-space indent) plus `model_type` and `transformers_version`.

Subclasses follow the transformers pattern: declare defaults in `__init__`, set attributes, then call
`super().__init__(**kwargs)` last so extra keys (and `attribute_map` aliases) land on the config.

>>> class TinyConfig(PretrainedConfig):
...     model_type = "tiny"
...     def __init__(self, vocab_size=100, hidden_size=16, **kwargs):
...         self.vocab_size = vocab_size
...         self.hidden_size = hidden_size
...         super().__init__(**kwargs)
>>> c = TinyConfig(hidden_size=8, num_labels=3, my_key="kept")
>>> (c.hidden_size, c.num_labels, c.id2label[2], c.my_key)
(8, 3, 'LABEL_2', 'kept')
>>> TinyConfig.from_dict(c.to_dict()) == c
True
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import math
import os
from typing import Any, ClassVar

from snuggle.errors import ModelError
from snuggle.utils.atomic import atomic_write_text
from snuggle.utils.logging import get_logger

logger = get_logger("snuggle.models.configuration")

CONFIG_NAME = "config.json"

# Written as "transformers_version" in configs we create. Both libraries read the key to decide on
# backward-compatibility shims for files written before 5.0, so a fresh snuggle file states the
# format generation it follows; a loaded file keeps the version it came with.
COMPATIBLE_TRANSFORMERS_VERSION = "5.0.0"

PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")

# The base defaults the reference compares against when writing the "diff" config.json:
# a key whose value equals these is not written (except transformers_version / model_type).
_BASE_DEFAULTS: dict[str, Any] = {
    "transformers_version": None,
    "architectures": None,
    "output_hidden_states": False,
    "return_dict": True,
    "dtype": None,
    "chunk_size_feed_forward": 0,
    "is_encoder_decoder": False,
    "id2label": {0: "LABEL_0", 1: "LABEL_1"},
    "label2id": {"LABEL_0": 0, "LABEL_1": 1},
    "problem_type": None,
    "_name_or_path": "",
    "model_type": "",
    "output_attentions": False,
}

# Internal attributes never written to config.json.
_NOT_SERIALIZED = (
    "_attn_implementation_internal",
    "_commit_hash",
    "_generation_params",
    "_auto_class",
    "_is_quantized",
)

# Generation settings that old config.json files carry at top level. The reference drops them from
# the model config (they belong in generation_config.json); we do the same so the files we write
# match, but keep them in `config._generation_params` so a GenerationConfig can be built from them.
GENERATION_PARAMS = (
    "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "temperature", "top_k",
    "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
    "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "epsilon_cutoff",
    "eta_cutoff", "encoder_repetition_penalty", "num_assistant_tokens", "num_assistant_tokens_schedule",
    "assistant_confidence_threshold", "assistant_lookbehind", "target_lookbehind", "diversity_penalty",
    "num_beam_groups",
)

_BASE_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "output_hidden_states": (bool,),
    "return_dict": (bool,),
    "is_encoder_decoder": (bool,),
    "chunk_size_feed_forward": (int,),
    "architectures": (list, tuple),
    "id2label": (dict,),
    "label2id": (dict,),
}


def _type_name(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)


def _value_matches(value: Any, types: tuple[type, ...]) -> bool:
    """True if `value` fits the expected `types` (bool is not an int; an int is a valid float)."""
    if value is None:
        return True
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def _expected_types_from_signature(cls: type) -> dict[str, tuple[type, ...]]:
    """Expected type per field, from the annotations or defaults of every `__init__` in the MRO.

    `hidden_size=768` means hidden_size must be an int; `dropout=0.1` a float; `x=None` anything.
    """
    expected: dict[str, tuple[type, ...]] = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        init = getattr(init, "__wrapped__", init)
        if init is None or klass is object:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            continue
        for name, param in params.items():
            if name == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                continue
            annotation = param.annotation
            if annotation in (int, float, bool, str):
                expected[name] = (annotation,)
            elif param.default is not inspect.Parameter.empty and param.default is not None:
                default_type = type(param.default)
                if default_type in (int, float, bool, str):
                    expected[name] = (default_type,)
                elif default_type in (list, tuple):
                    expected[name] = (list, tuple)
                elif default_type is dict:
                    expected[name] = (dict,)
    return expected


class PretrainedConfig:
    """Base class of every model configuration (the transformers `PretrainedConfig` API).

    Class attributes set by subclasses: `model_type` (key in config.json and the Auto registry),
    `attribute_map` (aliases, e.g. {"hidden_size": "n_embd"}), `sub_configs`.

    >>> c = PretrainedConfig(id2label={"0": "neg", "1": "pos"})
    >>> c.id2label, c.label2id, c.num_labels
    ({0: 'neg', 1: 'pos'}, None, 2)
    """

    model_type: ClassVar[str] = ""
    attribute_map: ClassVar[dict[str, str]] = {}
    sub_configs: ClassVar[dict[str, type]] = {}
    base_config_key: ClassVar[str] = ""
    has_no_defaults_at_init: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Validate field types once, after the outermost __init__ of the concrete class finishes
        # (subclasses may set their attributes before or after calling super().__init__).
        original_init = cls.__dict__.get("__init__")
        if original_init is None:
            def original_init(self, *args, **kw):  # inherit the parent's __init__
                super(cls, self).__init__(*args, **kw)
        original_init = getattr(original_init, "__wrapped__", original_init)

        @functools.wraps(original_init)
        def init_then_validate(self, *args: Any, **kw: Any) -> None:
            original_init(self, *args, **kw)
            if type(self) is cls:
                self.validate()

        cls.__init__ = init_then_validate  # type: ignore[method-assign]

    def __init__(self, **kwargs: Any) -> None:
        # Common attributes (the reference's base fields and their defaults).
        self.transformers_version: str | None = kwargs.pop("transformers_version", None) or COMPATIBLE_TRANSFORMERS_VERSION
        self.architectures: list[str] | None = kwargs.pop("architectures", None)
        self.output_hidden_states: bool = kwargs.pop("output_hidden_states", False)
        self.return_dict: bool = kwargs.pop("return_dict", True)
        torch_dtype = kwargs.pop("torch_dtype", None)
        dtype = kwargs.pop("dtype", None)
        self.dtype = _to_torch_dtype(dtype if dtype is not None else torch_dtype)
        self.chunk_size_feed_forward: int = kwargs.pop("chunk_size_feed_forward", 0)
        self.is_encoder_decoder: bool = kwargs.pop("is_encoder_decoder", False)
        self.problem_type: str | None = kwargs.pop("problem_type", None)

        id2label = kwargs.pop("id2label", None)
        label2id = kwargs.pop("label2id", None)
        num_labels = kwargs.pop("num_labels", None)
        if id2label is None:
            self.id2label: dict[int, str] | None = None
            self.label2id: dict[str, int] | None = None
            self.num_labels = num_labels if num_labels is not None else 2
            if label2id is not None:
                self.label2id = dict(label2id)
        else:
            if not isinstance(id2label, dict):
                raise ModelError(f"config field 'id2label' must be a dict of id -> label, got {type(id2label).__name__}")
            if num_labels is not None and num_labels != len(id2label):
                logger.warning(
                    "num_labels=%s does not match the id2label map of length %s; keeping id2label",
                    num_labels, len(id2label),
                )
            self.id2label = {_label_id(key): value for key, value in id2label.items()}
            # As the reference: label2id is only what the file or caller gave (it is not derived here).
            self.label2id = dict(label2id) if label2id is not None else None

        if self.problem_type == "single_label_classification" and self.num_labels == 1:
            raise ModelError(
                "config: problem_type='single_label_classification' needs num_labels > 1; use num_labels=2 for "
                "binary classification or problem_type='regression' for one output"
            )

        self._name_or_path = str(kwargs.pop("name_or_path", kwargs.pop("_name_or_path", "")))
        kwargs.pop("_commit_hash", None)
        self._output_attentions: bool = kwargs.pop("output_attentions", False)
        self._attn_implementation_internal: str | None = kwargs.pop(
            "attn_implementation", kwargs.pop("_attn_implementation", None)
        )
        kwargs.pop("_attn_implementation_internal", None)

        generation_params = {key: kwargs.pop(key) for key in GENERATION_PARAMS if key in kwargs}
        if generation_params:
            self._generation_params = generation_params

        # Unknown keys are kept as attributes and written back on save.
        for key, value in kwargs.items():
            try:
                setattr(self, key, value)
            except AttributeError as err:
                raise ModelError(f"config: cannot set field {key!r} to {value!r}: {err}") from err

    # ----------------------------------------------------------------- aliases (attribute_map)
    def __setattr__(self, key: str, value: Any) -> None:
        aliases = type(self).attribute_map
        if key in aliases:
            key = aliases[key]
        super().__setattr__(key, value)

    def __getattr__(self, key: str) -> Any:
        # Only called when normal lookup fails: resolve aliases such as hidden_size -> n_embd.
        aliases = type(self).attribute_map
        if key in aliases:
            return getattr(self, aliases[key])
        raise AttributeError(f"{type(self).__name__} has no attribute {key!r}")

    def __delattr__(self, key: str) -> None:
        aliases = type(self).attribute_map
        super().__delattr__(aliases.get(key, key))

    # ----------------------------------------------------------------- derived properties
    @property
    def num_labels(self) -> int | None:
        """Number of labels, derived from `id2label` (setting it rebuilds LABEL_i maps)."""
        return len(self.id2label) if self.id2label is not None else None

    @num_labels.setter
    def num_labels(self, num_labels: int) -> None:
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 0:
            raise ModelError(f"config field 'num_labels' must be a non-negative int, got {num_labels!r}")
        if self.id2label is None or self.num_labels != num_labels:
            self.id2label = {i: f"LABEL_{i}" for i in range(num_labels)}
            self.label2id = {label: i for i, label in self.id2label.items()}

    @property
    def name_or_path(self) -> str:
        return self._name_or_path

    @name_or_path.setter
    def name_or_path(self, value: Any) -> None:
        self._name_or_path = str(value)

    @property
    def output_attentions(self) -> bool:
        return self._output_attentions

    @output_attentions.setter
    def output_attentions(self, value: bool) -> None:
        # Attention weights only exist in the eager path; asking for them picks eager.
        if value and self._attn_implementation_internal in (None, "sdpa"):
            self._attn_implementation_internal = "eager"
        self._output_attentions = value

    @property
    def _attn_implementation(self) -> str | None:
        return self._attn_implementation_internal

    @_attn_implementation.setter
    def _attn_implementation(self, value: str | None) -> None:
        self._attn_implementation_internal = value
        for key in self.sub_configs:
            sub = self.__dict__.get(key)
            if isinstance(sub, PretrainedConfig):
                sub._attn_implementation = value

    @property
    def torch_dtype(self):
        """Old name of `dtype` (still read from and accepted by config.json)."""
        return self.dtype

    @torch_dtype.setter
    def torch_dtype(self, value: Any) -> None:
        self.dtype = _to_torch_dtype(value)

    @property
    def use_return_dict(self) -> bool:
        return self.return_dict

    # ----------------------------------------------------------------- validation
    def validate(self) -> None:
        """Check field types against the defaults declared in `__init__`; raise ModelError naming the field."""
        expected = dict(_BASE_FIELD_TYPES)
        expected.update(_expected_types_from_signature(type(self)))
        for name, types in expected.items():
            try:
                value = getattr(self, name)
            except AttributeError:
                continue
            if not _value_matches(value, types):
                raise ModelError(
                    f"{type(self).__name__}: field {name!r} must be {_type_name(types)}, "
                    f"got {type(value).__name__} {value!r}"
                )
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ModelError(
                f"{type(self).__name__}: field 'problem_type' must be one of {', '.join(PROBLEM_TYPES)} or None, "
                f"got {self.problem_type!r}"
            )

    # ----------------------------------------------------------------- comparison / display
    def __eq__(self, other: object) -> bool:
        return isinstance(other, PretrainedConfig) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"

    def __iter__(self):
        yield from self.__dict__

    def __contains__(self, key: str) -> bool:
        return key in self.__dict__

    def get_text_config(self, decoder: bool | None = None, encoder: bool | None = None) -> PretrainedConfig:
        """The config of the text model (for a composite config, its text sub-config)."""
        for key in ("text_config", "decoder", "text_encoder"):
            sub = self.__dict__.get(key)
            if isinstance(sub, PretrainedConfig):
                return sub
        return self

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """Every attribute as a JSON-ready dict (dtype as a string, tuples as lists, internals dropped).

        >>> PretrainedConfig().to_dict()["return_dict"]
        True
        """
        output = copy.deepcopy(self.__dict__)
        output["model_type"] = type(self).model_type
        if output.get("transformers_version") is None:
            output["transformers_version"] = COMPATIBLE_TRANSFORMERS_VERSION
        for key in _NOT_SERIALIZED:
            output.pop(key, None)
        if "_output_attentions" in output:
            output["output_attentions"] = output.pop("_output_attentions")
        for key, value in list(output.items()):
            if isinstance(value, PretrainedConfig):
                value = value.to_dict()
                value.pop("transformers_version", None)
            output[key] = _jsonable(value)
        return output

    def to_diff_dict(self) -> dict[str, Any]:
        """Only what differs from the base defaults (what config.json holds), plus model_type and version."""
        class_defaults = self._class_defaults()
        result: dict[str, Any] = {}
        for key, value in self.to_dict().items():
            if key == "_name_or_path":
                continue
            if (
                key not in _BASE_DEFAULTS
                or key == "transformers_version"
                or _jsonable(_BASE_DEFAULTS[key]) != value
                or (key in class_defaults and _jsonable(class_defaults[key]) != value)
            ):
                result[key] = value
        return result

    def to_json_string(self, use_diff: bool = True) -> str:
        """config.json text: sorted keys, 2-space indent, trailing newline (the reference's format)."""
        data = self.to_diff_dict() if use_diff else self.to_dict()
        return json.dumps(_encode_special_floats(data), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file_path: str | os.PathLike, use_diff: bool = True) -> None:
        atomic_write_text(json_file_path, self.to_json_string(use_diff=use_diff))

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Write `save_directory/config.json` (atomically).

        >>> import tempfile; d = tempfile.mkdtemp()
        >>> PretrainedConfig(num_labels=3).save_pretrained(d)
        >>> PretrainedConfig.from_pretrained(d).num_labels
        3
        """
        if os.path.isfile(save_directory):
            raise ModelError(f"save_pretrained: {save_directory} is a file; pass a directory")
        os.makedirs(save_directory, exist_ok=True)
        self.to_json_file(os.path.join(save_directory, CONFIG_NAME), use_diff=True)

    def update(self, config_dict: dict[str, Any]) -> None:
        for key, value in config_dict.items():
            setattr(self, key, value)

    def _class_defaults(self) -> dict[str, Any]:
        defaults: dict[str, Any] = {}
        for klass in reversed(type(self).__mro__):
            init = klass.__dict__.get("__init__")
            init = getattr(init, "__wrapped__", init)
            if init is None or klass in (object, PretrainedConfig):
                continue
            try:
                params = inspect.signature(init).parameters
            except (TypeError, ValueError):
                continue
            for name, param in params.items():
                if param.default is not inspect.Parameter.empty and name in _BASE_DEFAULTS:
                    defaults[name] = param.default
        return defaults

    # ----------------------------------------------------------------- loading
    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs: Any):
        """Build a config from a dict (as read from config.json); kwargs override values.

        Returns `(config, unused_kwargs)` when `return_unused_kwargs=True`: kwargs that are not
        fields of the config (the model's own keyword arguments in `from_pretrained`).
        """
        if not isinstance(config_dict, dict):
            raise ModelError(f"config must be a JSON object, got {type(config_dict).__name__}")
        return_unused = kwargs.pop("return_unused_kwargs", False)
        config_dict = dict(config_dict)
        config_dict.pop("model_type", None)
        unused = dict(kwargs)
        for key in ("num_labels", "attn_implementation", "output_attentions", "name_or_path"):
            if key in unused:
                config_dict[key] = unused.pop(key)
        for key in ("dtype", "torch_dtype"):
            if key in unused:
                value = unused.pop(key)
                if value is not None and value != "auto":
                    config_dict.pop("torch_dtype", None)
                    config_dict["dtype"] = value
        if "num_labels" in config_dict and "id2label" in config_dict:
            if config_dict["num_labels"] != len(config_dict["id2label"]):
                # An explicit num_labels override replaces the saved label map (new head size).
                config_dict.pop("id2label")
                config_dict.pop("label2id", None)
        try:
            config = cls(**config_dict)
        except TypeError as err:
            raise ModelError(f"{cls.__name__}: cannot build from config: {err}") from err
        for key in list(unused):
            if hasattr(config, key):
                setattr(config, key, unused.pop(key))
        if return_unused:
            return config, unused
        return config

    @classmethod
    def from_json_file(cls, json_file: str | os.PathLike):
        return cls.from_dict(read_config_dict(json_file))

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):
        """Read config.json from a folder, a file path or (through snuggle.hub) a Hub id.

        Returns `(config_dict, remaining_kwargs)` like the reference.
        """
        from snuggle.models.hub_files import resolve_model_file

        hub_kwargs = {
            "revision": kwargs.pop("revision", None),
            "local_files_only": kwargs.pop("local_files_only", False),
            "subfolder": kwargs.pop("subfolder", ""),
            "cache_dir": kwargs.pop("cache_dir", None),
            "token": kwargs.pop("token", None),
            "force_download": kwargs.pop("force_download", False),
        }
        for key in ("proxies", "resume_download", "use_auth_token", "trust_remote_code", "_from_auto",
                    "_from_pipeline", "user_agent"):
            kwargs.pop(key, None)
        path = os.fspath(pretrained_model_name_or_path)
        if os.path.isfile(path):
            config_file = path
        else:
            config_file = resolve_model_file(path, kwargs.pop("_configuration_file", CONFIG_NAME), **hub_kwargs)
        return read_config_dict(config_file), kwargs

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):
        """Load config.json from a folder (or a Hub id); keyword arguments override fields.

        >>> import tempfile; d = tempfile.mkdtemp()
        >>> PretrainedConfig(foo=1).save_pretrained(d)
        >>> PretrainedConfig.from_pretrained(d, foo=2).foo
        2
        """
        config_dict, kwargs = cls.get_config_dict(pretrained_model_name_or_path, **kwargs)
        expected_type = cls.model_type
        found_type = config_dict.get("model_type")
        if expected_type and found_type and found_type != expected_type:
            logger.warning(
                "%s: config.json has model_type %r but %s expects %r; loading anyway",
                pretrained_model_name_or_path, found_type, cls.__name__, expected_type,
            )
        kwargs.setdefault("name_or_path", os.fspath(pretrained_model_name_or_path))
        try:
            return cls.from_dict(config_dict, **kwargs)
        except ModelError as err:
            raise ModelError(f"{pretrained_model_name_or_path}: {err}") from err


# transformers 5 spells it PreTrainedConfig; both names work.
PreTrainedConfig = PretrainedConfig


def read_config_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a config JSON file; ModelError naming the file on bad JSON or a non-object."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ModelError(f"{path}: config file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return _decode_special_floats(data)


def _label_id(key: Any) -> int:
    try:
        return int(key)
    except (TypeError, ValueError):
        raise ModelError(f"config field 'id2label' keys must be integers, got {key!r}") from None


def _to_torch_dtype(value: Any) -> Any:
    """'float16' -> torch.float16 (torch imported only when a config names a dtype)."""
    if value is None or not isinstance(value, str) or value == "auto":
        return value
    import torch

    name = value.split(".")[-1]
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ModelError(f"config field 'dtype' must name a torch dtype such as 'float32', got {value!r}")
    return dtype


def _jsonable(value: Any) -> Any:
    """Tuples -> lists, torch dtypes -> their short name, recursively."""
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if type(value).__name__ == "dtype" and type(value).__module__ == "torch":
        return str(value).split(".")[-1]
    return value


_FLOAT_TAG = "__float__"


def _encode_special_floats(value: Any) -> Any:
    # JSON has no Infinity/NaN; the reference tags them as {"__float__": "Infinity"}.
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
        return {_FLOAT_TAG: "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, dict):
        return {k: _encode_special_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode_special_floats(v) for v in value]
    return value


def _decode_special_floats(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_FLOAT_TAG} and value[_FLOAT_TAG] in ("Infinity", "-Infinity", "NaN"):
            return float(value[_FLOAT_TAG].replace("Infinity", "inf").replace("NaN", "nan"))
        return {k: _decode_special_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_special_floats(v) for v in value]
    return value
