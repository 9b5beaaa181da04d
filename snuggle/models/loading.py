"""from_pretrained: build the model with its parameters on the meta device, then fill them shard by shard.

Peak memory stays near one copy of the weights: parameters start as shape-only meta tensors, each
checkpoint tensor is read (from an mmap'd safetensors shard), cast once and becomes the parameter.
Only parameters the checkpoint lacks are allocated and initialised (`_init_weights`); one concise
warning lists them and the checkpoint weights that were not used.

>>> # model = BertForSequenceClassification.from_pretrained("./minilm", num_labels=3)
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from snuggle.errors import ModelError
from snuggle.models.configuration import PretrainedConfig
from snuggle.models.hub_files import resolve_model_file
from snuggle.models.modeling import _skip_init
from snuggle.models.weights import CheckpointFiles
from snuggle.utils.logging import get_logger

logger = get_logger("snuggle.models.loading")

GENERATION_CONFIG_NAME = "generation_config.json"
_HUB_KEYS = ("revision", "local_files_only", "subfolder", "cache_dir", "token", "force_download")
_IGNORED_KEYS = (
    "trust_remote_code", "weights_only", "_from_auto", "_from_pipeline", "proxies", "resume_download", "mirror",
    "offload_folder", "offload_state_dict", "disable_mmap", "use_auth_token", "_fast_init", "from_tf", "from_flax",
    "adapter_kwargs", "max_memory", "offload_buffers",
)
# Old checkpoints name LayerNorm parameters gamma/beta.
_LEGACY_RENAMES = ((re.compile(r"\.gamma$"), ".weight"), (re.compile(r"\.beta$"), ".bias"))
_MAX_LISTED = 20


class InMemoryCheckpoint:
    """A state dict already in memory (state_dict= argument or a GGUF import) with CheckpointFiles' interface."""

    def __init__(self, state_dict: dict[str, torch.Tensor], origin: str = "state_dict"):
        self.state_dict = state_dict
        self.files = [origin]

    def keys(self) -> list[str]:
        return list(self.state_dict)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in self.state_dict.items()}

    def first_floating_dtype(self) -> torch.dtype | None:
        return next((v.dtype for v in self.state_dict.values() if v.is_floating_point()), None)

    def iter_tensors(self, wanted: set[str] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
        for key in list(self.state_dict):
            if wanted is None or key in wanted:
                yield key, self.state_dict[key]


@contextlib.contextmanager
def init_empty_weights() -> Iterator[None]:
    """Parameters created inside become meta tensors (no memory, no init cost); buffers stay real.

    Buffers (position ids, RoPE frequencies) are small and usually not in the checkpoint, so they are
    computed as usual.
    """
    original = nn.Module.register_parameter

    def register_meta_parameter(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        original(module, name, param)
        if param is not None and param.device.type != "meta":
            module._parameters[name] = nn.Parameter(param.detach().to("meta"), requires_grad=param.requires_grad)

    # The layers' own reset_parameters() would initialise the (meta) tensors: pointless work that
    # also pulls in torch's meta-kernel machinery (~2 s on the first load). Skip it, as the
    # checkpoint (or _init_weights for missing weights) sets every value anyway.
    skipped = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS if hasattr(nn.init, name)}
    for name in skipped:
        setattr(nn.init, name, _no_init)
    nn.Module.register_parameter = register_meta_parameter
    try:
        yield
    finally:
        nn.Module.register_parameter = original
        for name, fn in skipped.items():
            setattr(nn.init, name, fn)


_INIT_FUNCTIONS = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
)


def _no_init(tensor, *args, **kwargs):
    return tensor


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    previous = torch.get_default_dtype()
    if dtype.is_floating_point:
        torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def resolve_device(device_map: Any) -> torch.device:
    """One device for the whole model: None/'cpu' -> cpu, 'auto' -> first GPU if any, dict -> its single device."""
    if device_map is None:
        return torch.device("cpu")
    if isinstance(device_map, dict):
        devices = {str(v) if not isinstance(v, int) else f"cuda:{v}" for v in device_map.values()}
        if len(devices) != 1:
            raise ModelError(
                f"device_map={device_map!r}: placing parts of a model on different devices is not supported; "
                "use one device (e.g. {'': 'cuda:0'}) or 'auto'"
            )
        device_map = devices.pop()
    if device_map in ("auto", "balanced", "balanced_low_0", "sequential"):
        return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
    if device_map in ("disk", "meta"):
        raise ModelError(f"device_map={device_map!r}: offloading to {device_map} is not supported")
    if isinstance(device_map, int):
        return torch.device("cuda", device_map)
    try:
        return torch.device(device_map)
    except (RuntimeError, TypeError):
        raise ModelError(f"device_map={device_map!r}: expected None, 'auto', 'cpu', a device or a dict") from None


def resolve_dtype(dtype: Any, config: PretrainedConfig, checkpoint: Any) -> torch.dtype:
    """'auto' -> config.dtype, else the checkpoint's first floating dtype; strings -> torch dtypes."""
    if dtype is None or dtype == "auto":
        found = config.dtype if isinstance(config.dtype, torch.dtype) else None
        if found is None and checkpoint is not None:
            found = checkpoint.first_floating_dtype()
        return found or torch.get_default_dtype()
    if isinstance(dtype, str):
        resolved = getattr(torch, dtype, None)
        if not isinstance(resolved, torch.dtype):
            raise ModelError(f"dtype={dtype!r}: expected 'auto', a torch dtype or its name such as 'bfloat16'")
        return resolved
    if isinstance(dtype, torch.dtype):
        return dtype
    raise ModelError(f"dtype={dtype!r}: expected 'auto', a torch dtype or its name such as 'bfloat16'")


def _load_config(cls, name_or_path, config, kwargs, hub_kwargs, gguf_config):
    """(config, model_kwargs): kwargs that are config fields override it, the rest go to the model."""
    config_class = cls.config_class
    if config_class is None:
        raise ModelError(f"{cls.__name__}.config_class is not set; set it to the model's PretrainedConfig subclass")
    if gguf_config is not None and config is None:
        return config_class.from_dict(gguf_config, return_unused_kwargs=True, name_or_path=str(name_or_path), **kwargs)
    if config is None:
        return config_class.from_pretrained(name_or_path, return_unused_kwargs=True, **hub_kwargs, **kwargs)
    if isinstance(config, (str, os.PathLike)):
        return config_class.from_pretrained(config, return_unused_kwargs=True, **hub_kwargs, **kwargs)
    if not isinstance(config, PretrainedConfig):
        raise ModelError(f"config={config!r}: expected a PretrainedConfig, a folder or None")
    config = copy.deepcopy(config)
    model_kwargs = {}
    for key, value in kwargs.items():
        if key == "num_labels" or hasattr(config, key):
            setattr(config, key, value)
        else:
            model_kwargs[key] = value
    return config, model_kwargs


def load_pretrained_model(cls, pretrained_model_name_or_path, *model_args: Any, **kwargs: Any):
    """The body of PreTrainedModel.from_pretrained (see its docstring for the arguments)."""
    name_or_path = os.fspath(pretrained_model_name_or_path) if pretrained_model_name_or_path is not None else None
    config = kwargs.pop("config", None)
    dtype = kwargs.pop("dtype", None)
    torch_dtype = kwargs.pop("torch_dtype", None)
    dtype = dtype if dtype is not None else torch_dtype
    device_map = kwargs.pop("device_map", None)
    kwargs.pop("low_cpu_mem_usage", None)  # always low: the meta-device path is the only path
    ignore_mismatched_sizes = kwargs.pop("ignore_mismatched_sizes", False)
    attn_implementation = kwargs.pop("attn_implementation", None)
    output_loading_info = kwargs.pop("output_loading_info", False)
    use_safetensors = kwargs.pop("use_safetensors", None)
    gguf_file = kwargs.pop("gguf_file", None)
    variant = kwargs.pop("variant", None)
    state_dict = kwargs.pop("state_dict", None)
    if kwargs.pop("quantization_config", None) is not None:
        raise ModelError("from_pretrained: quantization_config is not supported by this loader")
    hub_kwargs = {key: kwargs.pop(key) for key in _HUB_KEYS if key in kwargs}
    for key in _IGNORED_KEYS:
        kwargs.pop(key, None)

    gguf_config = checkpoint = None
    if gguf_file is not None:
        from snuggle.models.gguf import load_gguf_checkpoint

        gguf_config, gguf_state = load_gguf_checkpoint(name_or_path, gguf_file)
        checkpoint = InMemoryCheckpoint(gguf_state, origin=os.path.join(name_or_path or "", gguf_file))
    config, model_kwargs = _load_config(cls, name_or_path, config, kwargs, hub_kwargs, gguf_config)
    config._attn_implementation = cls._check_attn_implementation(attn_implementation or config._attn_implementation)

    if checkpoint is None:
        if state_dict is not None:
            checkpoint = InMemoryCheckpoint(state_dict)
        else:
            if name_or_path is None:
                raise ModelError("from_pretrained(None, ...) needs state_dict=... with the weights")
            checkpoint = CheckpointFiles.find(name_or_path, use_safetensors=use_safetensors, variant=variant,
                                              **hub_kwargs)
    dtype = resolve_dtype(dtype, config, checkpoint)
    config.dtype = dtype
    device = resolve_device(device_map)

    _skip_init.active = True
    try:
        with init_empty_weights(), default_dtype(dtype):
            model = cls(config, *model_args, **model_kwargs)
    finally:
        _skip_init.active = False

    info = _fill_weights(model, checkpoint, dtype, device, ignore_mismatched_sizes, str(name_or_path))
    model.to(device)
    model.eval()
    model.name_or_path = name_or_path or ""
    config.name_or_path = name_or_path or ""
    if device_map is not None:
        model.hf_device_map = {"": str(device)}
    if name_or_path is not None and gguf_file is None:
        model.generation_config = _read_generation_config(name_or_path, hub_kwargs)
    if output_loading_info:
        return model, info
    return model


def _read_generation_config(name_or_path: str, hub_kwargs: dict) -> dict | None:
    """generation_config.json as a dict (the generation package owns the class built from it)."""
    try:
        path = resolve_model_file(name_or_path, GENERATION_CONFIG_NAME, required=False, **hub_kwargs)
    except ModelError:
        return None
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data


def _map_checkpoint_keys(model: nn.Module, checkpoint_keys: list[str], expected: set[str]) -> dict[str, str]:
    """checkpoint key -> model key: legacy gamma/beta names, and the base_model_prefix added or removed."""
    renamed = {}
    for key in checkpoint_keys:
        new = key
        for pattern, replacement in _LEGACY_RENAMES:
            new = pattern.sub(replacement, new)
        renamed[key] = new
    prefix = getattr(model, "base_model_prefix", "")
    if not prefix:
        return renamed
    dotted = prefix + "."
    model_has_prefix = any(k.startswith(dotted) for k in expected)
    checkpoint_has_prefix = any(k.startswith(dotted) for k in renamed.values())
    if model_has_prefix and not checkpoint_has_prefix:
        # A base-model checkpoint loaded into a model with a head: "embeddings.x" -> "bert.embeddings.x".
        return {k: (dotted + v if dotted + v in expected else v) for k, v in renamed.items()}
    if not model_has_prefix and checkpoint_has_prefix:
        # A model-with-head checkpoint loaded into the base model: drop the prefix, the head is unused.
        return {k: (v.removeprefix(dotted)) for k, v in renamed.items()}
    return renamed


def _set_tensor(model: nn.Module, name: str, tensor: torch.Tensor) -> None:
    module_name, _, leaf = name.rpartition(".")
    module = model.get_submodule(module_name) if module_name else model
    if leaf in module._parameters:
        old = module._parameters[leaf]
        module._parameters[leaf] = nn.Parameter(tensor, requires_grad=old.requires_grad if old is not None else True)
    elif leaf in module._buffers:
        module._buffers[leaf] = tensor
    else:
        raise ModelError(f"{type(model).__name__}: {name} is neither a parameter nor a buffer")


def _get_tensor(model: nn.Module, name: str) -> torch.Tensor:
    module_name, _, leaf = name.rpartition(".")
    module = model.get_submodule(module_name) if module_name else model
    if leaf in module._parameters:
        return module._parameters[leaf]
    return module._buffers[leaf]


def _keeps_fp32(model: nn.Module, name: str, dtype: torch.dtype) -> bool:
    keep = getattr(model, "_keep_in_fp32_modules", None)
    if dtype != torch.float16 or not keep:
        return False
    parts = name.split(".")
    return any(module in parts for module in keep)


def _fill_weights(model, checkpoint, dtype, device, ignore_mismatched_sizes, origin) -> dict[str, list]:
    """Copy checkpoint tensors into the meta model; initialise what is missing; tie; report once."""
    model_tensors = model.state_dict(keep_vars=True)
    expected = set(model_tensors)
    param_names = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    tied = model.get_expanded_tied_weights_keys()
    key_map = _map_checkpoint_keys(model, checkpoint.keys(), expected)
    provided = set(key_map.values())
    # A checkpoint that stores only the tied *target* (e.g. lm_head.weight) fills the source with it.
    for target, source in tied.items():
        if target in provided and source not in provided:
            for ckpt_key, model_key in key_map.items():
                if model_key == target:
                    key_map[ckpt_key] = source
            provided = set(key_map.values())

    checkpoint_shapes = checkpoint.shapes()
    mismatched: list[tuple[str, tuple, tuple]] = []
    to_load: dict[str, str] = {}
    unexpected: list[str] = []
    for ckpt_key, model_key in key_map.items():
        if model_key not in expected:
            unexpected.append(ckpt_key)
            continue
        want = tuple(model_tensors[model_key].shape)
        have = checkpoint_shapes[ckpt_key]
        if want != have:
            mismatched.append((model_key, have, want))
            continue
        to_load[ckpt_key] = model_key
    if mismatched and not ignore_mismatched_sizes:
        lines = "\n".join(f"  {k}: checkpoint {list(a)} vs model {list(b)}" for k, a, b in mismatched)
        raise ModelError(
            f"{origin}: {len(mismatched)} weight(s) in the checkpoint do not match {type(model).__name__}'s shapes:\n"
            f"{lines}\nPass ignore_mismatched_sizes=True to initialise them anew instead "
            "(e.g. a classification head with a different num_labels)."
        )

    loaded: set[str] = set()
    for ckpt_key, tensor in checkpoint.iter_tensors(set(to_load)):
        model_key = to_load[ckpt_key]
        current = _get_tensor(model, model_key)
        target_dtype = current.dtype
        if current.is_floating_point() and _keeps_fp32(model, model_key, dtype):
            target_dtype = torch.float32
        if tensor.is_floating_point() and current.is_floating_point() and tensor.dtype != target_dtype:
            tensor = tensor.to(target_dtype)
        tensor = tensor.to(device)
        _set_tensor(model, model_key, tensor)
        loaded.add(model_key)

    # Tied targets are filled by tying, not by the checkpoint.
    tied_targets = {t for t, s in tied.items() if s in loaded}
    if tied and any(t in loaded and s in loaded for t, s in tied.items()):
        _untie_differing(model, tied, loaded)
        tied = model.get_expanded_tied_weights_keys()
        tied_targets = {t for t, s in tied.items() if s in loaded}
    missing_params = sorted(n for n in param_names if n not in loaded and n not in tied_targets)
    _initialise_missing(model, missing_params, dtype, device)
    model.tie_weights()

    missing_report = sorted(set(missing_params) - model._keys_matching(model._keys_to_ignore_on_load_missing,
                                                                        set(missing_params)))
    unexpected_report = sorted(set(unexpected) - model._keys_matching(model._keys_to_ignore_on_load_unexpected,
                                                                       set(unexpected)))
    _warn_once_about_keys(type(model).__name__, origin, missing_report, unexpected_report, mismatched)
    return {
        "missing_keys": missing_report,
        "unexpected_keys": unexpected_report,
        "mismatched_keys": [(k, a, b) for k, a, b in mismatched],
        "error_msgs": [],
    }


def _untie_differing(model, tied: dict[str, str], loaded: set[str]) -> None:
    """Both tied names in the checkpoint with different values: keep both, as the reference does."""
    for target, source in tied.items():
        if target in loaded and source in loaded:
            a, b = _get_tensor(model, target), _get_tensor(model, source)
            if a.shape != b.shape or not torch.equal(a, b):
                logger.warning(
                    "%s: the checkpoint holds different values for tied weights %s and %s; not tying them "
                    "(set tie_word_embeddings=False in the config to silence this)", type(model).__name__, target, source,
                )
                disabled = set(getattr(model, "_untied_weights", ()))
                disabled.add(target)
                model._untied_weights = disabled


@torch.no_grad()
def _initialise_missing(model, missing: list[str], dtype: torch.dtype, device: torch.device) -> None:
    """Allocate the parameters the checkpoint lacked and run `_init_weights` on their modules only."""
    if not missing:
        return
    owners: dict[str, nn.Module] = {}
    for name in missing:
        current = _get_tensor(model, name)
        target_dtype = torch.float32 if _keeps_fp32(model, name, dtype) and current.is_floating_point() else current.dtype
        _set_tensor(model, name, torch.zeros(current.shape, dtype=target_dtype, device=device))
        module_name = name.rpartition(".")[0]
        owners[module_name] = model.get_submodule(module_name) if module_name else model
    missing_set = set(missing)
    for module_name, module in owners.items():
        prefix = f"{module_name}." if module_name else ""
        # _init_weights re-initialises the whole module: keep the values already loaded into it.
        keep = {n: p.detach().clone() for n, p in module.named_parameters(recurse=False)
                if prefix + n not in missing_set and p.device.type != "meta"}
        model._init_weights(module)
        for n, value in keep.items():
            getattr(module, n).data.copy_(value)


def _warn_once_about_keys(class_name, origin, missing, unexpected, mismatched) -> None:
    parts = []
    if missing:
        parts.append(f"newly initialised (not in the checkpoint; train before use): {_short_list(missing)}")
    if mismatched:
        listed = [f"{k} {list(a)}->{list(b)}" for k, a, b in mismatched]
        parts.append(f"re-initialised because of shape mismatch: {_short_list(listed)}")
    if unexpected:
        parts.append(f"checkpoint weights not used: {_short_list(unexpected)}")
    if parts:
        logger.warning("%s from %s: %s", class_name, origin, "; ".join(parts))


def _short_list(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f" ... and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")
