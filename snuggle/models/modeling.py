"""PreTrainedModel: the base class every snuggle model derives from (the transformers API).

A model subclass sets `config_class` and `base_model_prefix`, builds its modules in `__init__(config)`,
implements `_init_weights(module)` and calls `self.post_init()` last. It then gets from_pretrained /
save_pretrained (reference folder format), weight tying, embedding resizing, parameter counting and
gradient checkpointing.

>>> import torch
>>> from snuggle.models.configuration import PretrainedConfig
>>> class TinyConfig(PretrainedConfig):
...     model_type = "tiny-doc"
...     def __init__(self, vocab_size=10, hidden_size=4, **kwargs):
...         self.vocab_size, self.hidden_size = vocab_size, hidden_size
...         super().__init__(**kwargs)
>>> class TinyModel(PreTrainedModel):
...     config_class = TinyConfig
...     base_model_prefix = "tiny"
...     def __init__(self, config):
...         super().__init__(config)
...         self.embed_tokens = torch.nn.Embedding(config.vocab_size, config.hidden_size)
...         self.post_init()
>>> TinyModel(TinyConfig()).num_parameters()
40

Loading itself lives in snuggle/models/loading.py; file formats in snuggle/models/weights.py.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from snuggle.errors import ModelError
from snuggle.generation.mixin import GenerationMixin
from snuggle.models.configuration import PretrainedConfig
from snuggle.utils.lazy import gc_paused
from snuggle.utils.logging import get_logger

logger = get_logger("snuggle.models.modeling")

ATTN_IMPLEMENTATIONS = ("eager", "sdpa")


class PreTrainedModel(nn.Module, GenerationMixin):
    """Base class of all models: config handling, weight init/tying, loading and saving.

    Class attributes a subclass may set:
      config_class: the PretrainedConfig subclass it takes.
      base_model_prefix: attribute name of the base model inside a model-with-head ("bert", "model").
      _tied_weights_keys: {target_param: source_param} (transformers 5 form) or a list of parameter
        names tied to the input embeddings (older form); applied when config.tie_word_embeddings.
      _no_split_modules, _keys_to_ignore_on_load_missing / _unexpected (regexes), _keys_to_ignore_on_save.
      supports_gradient_checkpointing, main_input_name, _input_embed_layer.
    """

    config_class: type[PretrainedConfig] | None = None
    base_model_prefix: str = ""
    main_input_name: str = "input_ids"
    _input_embed_layer: str = "embed_tokens"
    _no_split_modules: list[str] | None = None
    _tied_weights_keys: dict[str, str] | list[str] | None = None
    _keys_to_ignore_on_load_missing: list[str] | None = None
    _keys_to_ignore_on_load_unexpected: list[str] | None = None
    _keys_to_ignore_on_save: list[str] | None = None
    _keep_in_fp32_modules: list[str] | None = None
    supports_gradient_checkpointing: bool = False
    _supports_sdpa: bool = True

    def __init__(self, config: PretrainedConfig, *inputs: Any, **kwargs: Any) -> None:
        super().__init__()
        if not isinstance(config, PretrainedConfig):
            raise ModelError(
                f"{type(self).__name__}(config): expected a PretrainedConfig instance, got {type(config).__name__}; "
                f"use {type(self).__name__}.from_pretrained(path) to load a checkpoint"
            )
        self.config = config
        self.name_or_path = config.name_or_path
        self.generation_config: Any = None
        self.gradient_checkpointing = False
        config._attn_implementation = self._check_attn_implementation(config._attn_implementation)

    # ----------------------------------------------------------------- attention backend
    @classmethod
    def _check_attn_implementation(cls, requested: str | None) -> str:
        """Default to SDPA; 'eager' is needed for output_attentions (the config switches itself)."""
        if requested is None:
            return "sdpa" if cls._supports_sdpa else "eager"
        if requested not in ATTN_IMPLEMENTATIONS:
            raise ModelError(
                f"attn_implementation={requested!r} is not supported; choose one of {', '.join(ATTN_IMPLEMENTATIONS)}"
            )
        if requested == "sdpa" and not cls._supports_sdpa:
            return "eager"
        return requested

    def set_attn_implementation(self, attn_implementation: str) -> None:
        self.config._attn_implementation = self._check_attn_implementation(attn_implementation)

    # ----------------------------------------------------------------- init and tying
    def post_init(self) -> None:
        """Call at the end of a subclass __init__: initialise every weight, then tie weights."""
        if not getattr(_skip_init, "active", False):
            self.init_weights()
        self.tie_weights()

    def _init_weights(self, module: nn.Module) -> None:
        """transformers' default init: normal(0, initializer_range) for Linear/Embedding, norms to 1/0."""
        std = getattr(self.config, "initializer_range", None) or 0.02
        if isinstance(module, (nn.Linear, nn.Conv1d)):
            module.weight.data.normal_(mean=0.0, std=std)
            if module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.data.normal_(mean=0.0, std=std)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()
        elif "LayerNorm" in type(module).__name__ or "RMSNorm" in type(module).__name__:
            if getattr(module, "weight", None) is not None:
                module.weight.data.fill_(1.0)
            if getattr(module, "bias", None) is not None:
                module.bias.data.zero_()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Apply `_init_weights` to every module (children first, like nn.Module.apply)."""
        self.apply(self._init_weights)

    def get_expanded_tied_weights_keys(self) -> dict[str, str]:
        """{target parameter name: source parameter name} for this model, empty if the config says not to tie."""
        if not getattr(self.config, "tie_word_embeddings", False) or not self._tied_weights_keys:
            return {}
        tied = self._tied_weights_keys
        untied = getattr(self, "_untied_weights", ())  # set by loading when a checkpoint holds both, different
        if isinstance(tied, dict):
            return {t: s for t, s in tied.items() if t not in untied}
        # Older list form: every listed parameter shares the input embedding matrix.
        source = self._input_embeddings_param_name()
        return {name: source for name in tied if name != source and name not in untied} if source else {}

    def _input_embeddings_param_name(self) -> str | None:
        try:
            embeddings = self.get_input_embeddings()
        except NotImplementedError:
            return None
        for name, module in self.named_modules():
            if module is embeddings:
                return f"{name}.weight" if name else "weight"
        return None

    def tie_weights(self) -> None:
        """Make each tied target parameter the very same Parameter object as its source."""
        for target, source in self.get_expanded_tied_weights_keys().items():
            try:
                source_param = self.get_parameter(source)
            except AttributeError:
                raise ModelError(f"{type(self).__name__}._tied_weights_keys: source {source!r} is not a parameter") from None
            parent_name, _, name = target.rpartition(".")
            parent = self.get_submodule(parent_name) if parent_name else self
            setattr(parent, name, source_param)
            # An output layer with a bias must follow the embedding's (possibly resized) vocabulary.
            bias = getattr(parent, "bias", None)
            if isinstance(bias, torch.Tensor) and bias.dim() == 1 and bias.shape[0] != source_param.shape[0] \
                    and bias.device.type != "meta":
                parent.bias = nn.Parameter(nn.functional.pad(bias.data, (0, source_param.shape[0] - bias.shape[0])))
            if hasattr(parent, "out_features"):
                parent.out_features = source_param.shape[0]

    # ----------------------------------------------------------------- embeddings
    @property
    def base_model(self) -> nn.Module:
        return getattr(self, self.base_model_prefix, self) if self.base_model_prefix else self

    def get_input_embeddings(self) -> nn.Module:
        """The token embedding module (looked up as `embed_tokens`, `embeddings.<name>`, or in the base model)."""
        name = self._input_embed_layer
        direct = getattr(self, name, None)
        if isinstance(direct, nn.Module):
            return direct
        for holder_name in ("embeddings", "model"):
            holder = getattr(self, holder_name, None)
            if isinstance(holder, nn.Module) and isinstance(getattr(holder, name, None), nn.Module):
                return getattr(holder, name)
        base = self.base_model
        if base is not self and hasattr(base, "get_input_embeddings"):
            return base.get_input_embeddings()
        raise NotImplementedError(f"{type(self).__name__}: override get_input_embeddings()")

    def set_input_embeddings(self, value: nn.Module) -> None:
        name = self._input_embed_layer
        if isinstance(getattr(self, name, None), nn.Module):
            setattr(self, name, value)
            return
        for holder_name in ("embeddings", "model"):
            holder = getattr(self, holder_name, None)
            if isinstance(holder, nn.Module) and isinstance(getattr(holder, name, None), nn.Module):
                setattr(holder, name, value)
                return
        base = self.base_model
        if base is not self and hasattr(base, "set_input_embeddings"):
            base.set_input_embeddings(value)
            return
        raise NotImplementedError(f"{type(self).__name__}: override set_input_embeddings()")

    def get_output_embeddings(self) -> nn.Module | None:
        return getattr(self, "lm_head", None)

    def set_output_embeddings(self, new_embeddings: nn.Module) -> None:
        if getattr(self, "lm_head", None) is None:
            raise NotImplementedError(f"{type(self).__name__}: override set_output_embeddings()")
        self.lm_head = new_embeddings

    def resize_token_embeddings(
        self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None, mean_resizing: bool = True
    ) -> nn.Embedding:
        """Grow or shrink the vocabulary of the input (and untied output) embeddings; returns the new embedding.

        New rows are sampled from a normal distribution with the old rows' mean and a tiny (1e-9 x) covariance
        when `mean_resizing` (the reference's recipe), else initialised like fresh weights.

        >>> # model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=8)
        """
        from snuggle.models.embedding_resize import resize_model_token_embeddings

        return resize_model_token_embeddings(self, new_num_tokens, pad_to_multiple_of, mean_resizing)

    # ----------------------------------------------------------------- properties
    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        first = None
        for tensor in self.parameters():
            if tensor.is_floating_point():
                return tensor.dtype
            first = first or tensor.dtype
        return first or torch.get_default_dtype()

    @classmethod
    def can_generate(cls) -> bool:
        """True for models that have a `generate()` method or an LM head for next-token prediction."""
        # `generate` itself comes from GenerationMixin for every model; only a class's own override counts.
        own_generate = any("generate" in vars(klass) for klass in cls.__mro__ if klass is not GenerationMixin)
        return own_generate or cls.__name__.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration"))

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Number of parameters (tied ones counted once).

        >>> # model.num_parameters(only_trainable=True)
        """
        skip: set[int] = set()
        if exclude_embeddings:
            skip = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)}
        return sum(
            p.numel() for p in self.parameters()
            if id(p) not in skip and (p.requires_grad or not only_trainable)
        )

    def get_memory_footprint(self, return_buffers: bool = True) -> int:
        size = sum(p.numel() * p.element_size() for p in self.parameters())
        if return_buffers:
            size += sum(b.numel() * b.element_size() for b in self.buffers())
        return size

    # ----------------------------------------------------------------- gradient checkpointing
    @property
    def is_gradient_checkpointing(self) -> bool:
        return any(getattr(m, "gradient_checkpointing", False) for m in self.modules())

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        """Recompute activations in backward to save memory (modules check `self.gradient_checkpointing`).

        `use_reentrant` defaults to False (the non-reentrant torch implementation).
        """
        if not self.supports_gradient_checkpointing:
            raise ModelError(f"{type(self).__name__} does not support gradient checkpointing")
        kwargs = {"use_reentrant": False}
        kwargs.update(gradient_checkpointing_kwargs or {})
        checkpoint_func = functools.partial(torch.utils.checkpoint.checkpoint, **kwargs)
        self._set_gradient_checkpointing(True, checkpoint_func)
        if kwargs["use_reentrant"]:
            # Reentrant checkpointing needs an input that requires grad, or no gradient flows to the layers.
            self.enable_input_require_grads()

    def gradient_checkpointing_disable(self) -> None:
        if self.supports_gradient_checkpointing:
            self._set_gradient_checkpointing(False, None)

    def _set_gradient_checkpointing(self, enable: bool, checkpoint_func: Callable | None) -> None:
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = enable
                module._gradient_checkpointing_func = checkpoint_func

    def enable_input_require_grads(self) -> None:
        def make_output_require_grad(module, inputs, output):
            output.requires_grad_(True)

        self._require_grads_hook = self.get_input_embeddings().register_forward_hook(make_output_require_grad)

    def disable_input_require_grads(self) -> None:
        hook = getattr(self, "_require_grads_hook", None)
        if hook is not None:
            hook.remove()

    # ----------------------------------------------------------------- loading and saving
    @classmethod
    def from_config(cls, config: PretrainedConfig, **kwargs: Any) -> PreTrainedModel:
        """Build a randomly initialised model from a config (AutoModel.from_config uses this)."""
        dtype = kwargs.pop("dtype", kwargs.pop("torch_dtype", None))
        attn = kwargs.pop("attn_implementation", None)
        if attn is not None:
            config._attn_implementation = cls._check_attn_implementation(attn)
        previous = torch.get_default_dtype()
        if isinstance(dtype, str) and dtype != "auto":
            dtype = getattr(torch, dtype)
        try:
            if isinstance(dtype, torch.dtype):
                torch.set_default_dtype(dtype)
            return cls(config, **kwargs)
        finally:
            torch.set_default_dtype(previous)

    @classmethod
    def _from_config(cls, config: PretrainedConfig, **kwargs: Any) -> PreTrainedModel:
        return cls.from_config(config, **kwargs)

    @classmethod
    @gc_paused()
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *model_args: Any, **kwargs: Any):
        """Load config.json + weights from a folder (or Hub id) into this class.

        Keyword arguments: config, dtype/torch_dtype ('auto' | torch dtype | str), device_map (None | 'auto' |
        'cpu' | device | dict), low_cpu_mem_usage, ignore_mismatched_sizes, attn_implementation,
        local_files_only, revision, use_safetensors, gguf_file, output_loading_info; any other keyword
        overrides a config field (e.g. num_labels=3).

        >>> # model = BertForSequenceClassification.from_pretrained("./minilm", num_labels=3)
        """
        from snuggle.models.loading import load_pretrained_model

        return load_pretrained_model(cls, pretrained_model_name_or_path, *model_args, **kwargs)

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        is_main_process: bool = True,
        state_dict: dict[str, torch.Tensor] | None = None,
        max_shard_size: int | str = "50GB",
        safe_serialization: bool = True,
        variant: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Write config.json, generation_config.json (if any) and the weights, atomically.

        Weights go to model.safetensors, or model-0000i-of-0000N.safetensors + model.safetensors.index.json
        when larger than `max_shard_size` (bytes or '200MB'-style strings); tied weights are stored once.

        >>> # model.save_pretrained("out", max_shard_size="200MB")
        """
        from snuggle.models.saving import save_model

        save_model(self, save_directory, is_main_process=is_main_process, state_dict=state_dict,
                   max_shard_size=max_shard_size, safe_serialization=safe_serialization, variant=variant, **kwargs)

    def push_to_hub(self, repo_id: str, **kwargs: Any):
        """Save the model into a temporary folder and commit it to the Hub repo `repo_id` ("Upload model").

        Keyword arguments as snuggle.hub.push.push_to_hub: commit_message, private, token, revision,
        create_pr, max_shard_size, safe_serialization, tags.

        >>> # model.push_to_hub("alice/tiny-bert", private=True)
        """
        from snuggle.hub.push import push_to_hub

        return push_to_hub(self, repo_id, **kwargs)

    def _keys_matching(self, patterns: list[str] | set[str] | None, keys: set[str]) -> set[str]:
        if not patterns:
            return set()
        compiled = [re.compile(p) for p in patterns]
        return {k for k in keys if any(p.search(k) for p in compiled)}


class _SkipInit:
    """Thread-unsafe flag: while active, post_init does not initialise weights (loading fills them)."""

    active = False


_skip_init = _SkipInit()
