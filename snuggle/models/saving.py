"""save_pretrained: config.json, generation_config.json and the weights in the reference's folder format.

Tied weights are stored once (the source, e.g. the input embedding; the tied lm_head is dropped as the
reference does). Every file is written under a temporary name and renamed when complete.

>>> # model.save_pretrained("out", max_shard_size="200MB")
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch

from snuggle.errors import ModelError
from snuggle.models.weights import save_state_dict
from snuggle.utils.atomic import atomic_write_text

GENERATION_CONFIG_NAME = "generation_config.json"


def state_dict_for_saving(model, state_dict: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The model's tensors minus tied targets that share the source's memory and `_keys_to_ignore_on_save`."""
    if state_dict is None:
        state_dict = model.state_dict()
    state_dict = dict(state_dict)
    for target, source in model.get_expanded_tied_weights_keys().items():
        if target in state_dict and source in state_dict:
            a, b = state_dict[target], state_dict[source]
            if a.device.type == "meta" or a.data_ptr() == b.data_ptr():
                del state_dict[target]
    for key in list(getattr(model, "_keys_to_ignore_on_save", None) or ()):
        state_dict.pop(key, None)
    meta = [k for k, v in state_dict.items() if v.device.type == "meta"]
    if meta:
        raise ModelError(f"save_pretrained: weights still on the meta device (never loaded): {', '.join(meta[:10])}")
    return state_dict


def save_model(
    model,
    save_directory: str | os.PathLike,
    is_main_process: bool = True,
    state_dict: dict[str, torch.Tensor] | None = None,
    max_shard_size: int | str = "50GB",
    safe_serialization: bool = True,
    variant: str | None = None,
    push_to_hub: bool = False,
    **kwargs: Any,
) -> None:
    """The body of PreTrainedModel.save_pretrained."""
    save_directory = os.fspath(save_directory)
    if os.path.isfile(save_directory):
        raise ModelError(f"save_pretrained: {save_directory} is a file; pass a directory")
    push_kwargs = None
    if push_to_hub:
        from snuggle.hub.push import split_push_kwargs

        push_kwargs = split_push_kwargs(kwargs)
    if not is_main_process:
        return
    os.makedirs(save_directory, exist_ok=True)
    tensors = state_dict_for_saving(model, state_dict)
    save_state_dict(tensors, save_directory, max_shard_size=max_shard_size,
                    safe_serialization=safe_serialization, variant=variant)

    config = model.config
    config.architectures = [type(model).__name__]
    config.dtype = model.dtype
    config.save_pretrained(save_directory)
    save_generation_config(model.generation_config, save_directory)
    if push_kwargs is not None:
        from snuggle.hub.push import push_saved_directory

        push_saved_directory(model, save_directory, **push_kwargs)


def save_generation_config(generation_config: Any, save_directory: str) -> None:
    """Write generation_config.json from a dict, or from an object with save_pretrained / to_dict."""
    if generation_config is None:
        return
    if hasattr(generation_config, "save_pretrained"):
        generation_config.save_pretrained(save_directory)
        return
    data = generation_config.to_dict() if hasattr(generation_config, "to_dict") else generation_config
    if not isinstance(data, dict):
        raise ModelError(f"model.generation_config must be a dict or a GenerationConfig, got {type(data).__name__}")
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    atomic_write_text(os.path.join(save_directory, GENERATION_CONFIG_NAME), text)
