"""Collective operations over the processes of a run, on tensors or nested lists/tuples/dicts of
tensors. In a single process every one of them returns its input unchanged.

>>> import torch
>>> gather(torch.tensor([1, 2]))
tensor([1, 2])
>>> reduce({"loss": torch.tensor(3.0)}, reduction="mean")
{'loss': tensor(3.)}
>>> pad_across_processes(torch.zeros(2, 3), dim=1).shape
torch.Size([2, 3])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import torch

from snuggle.accelerate.state import PartialState
from snuggle.errors import TrainingError


def _state() -> PartialState:
    return PartialState()


def is_tensor_like(obj) -> bool:
    return isinstance(obj, torch.Tensor)


def recursively_apply(func: Callable, data, *args, test_type: Callable = is_tensor_like,
                      error_on_other_type: bool = False, **kwargs):
    """Apply `func` to every tensor in a nested list/tuple/namedtuple/dict, keeping the structure.

    >>> recursively_apply(lambda t: t * 2, {"a": [torch.tensor(1)]})
    {'a': [tensor(2)]}
    """
    if isinstance(data, (tuple, list)):
        items = [recursively_apply(func, o, *args, test_type=test_type, error_on_other_type=error_on_other_type,
                                   **kwargs) for o in data]
        if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
            return type(data)(*items)
        return type(data)(items)
    if isinstance(data, Mapping):
        return type(data)({k: recursively_apply(func, v, *args, test_type=test_type,
                                                error_on_other_type=error_on_other_type, **kwargs)
                           for k, v in data.items()})
    if test_type(data):
        return func(data, *args, **kwargs)
    if error_on_other_type:
        raise TrainingError(
            f"cannot apply {getattr(func, '__name__', func)} to an object of type {type(data).__name__}; "
            "only tensors and nested lists/tuples/dicts of tensors are supported"
        )
    return data


def send_to_device(data, device, non_blocking: bool = False, skip_keys=None):
    """Move every tensor in `data` (nested structures, BatchEncoding-like mappings) to `device`.

    >>> send_to_device({"x": torch.ones(1)}, "cpu")["x"].device.type
    'cpu'
    """
    skip = set([skip_keys] if isinstance(skip_keys, str) else (skip_keys or ()))
    if isinstance(data, Mapping) and not isinstance(data, dict) and hasattr(data, "to") and not skip:
        # a BatchEncoding-like object knows how to move itself
        try:
            return data.to(device, non_blocking=non_blocking)
        except TypeError:
            return data.to(device)
    if isinstance(data, Mapping) and skip:
        return type(data)({k: v if k in skip else send_to_device(v, device, non_blocking)
                           for k, v in data.items()})
    if isinstance(data, (tuple, list)):
        items = [send_to_device(o, device, non_blocking, skip_keys) for o in data]
        return type(data)(*items) if hasattr(data, "_fields") else type(data)(items)
    if isinstance(data, Mapping):
        return type(data)({k: send_to_device(v, device, non_blocking, skip_keys) for k, v in data.items()})
    if hasattr(data, "to") and isinstance(data, torch.Tensor):
        return data.to(device, non_blocking=non_blocking)
    return data


def _world() -> int:
    state = _state()
    return state.num_processes if state.use_distributed else 1


def gather(tensor):
    """Concatenate `tensor` (or each tensor of a nested structure) from every process along dim 0.
    Tensors must have the same shape on every process (use pad_across_processes first);
    0-d tensors are treated as 1-element vectors.

    >>> gather([torch.tensor(1.0)])
    [tensor(1.)]
    """
    if _world() == 1:
        return tensor

    def _gather_one(t: torch.Tensor) -> torch.Tensor:
        if t.dim() == 0:
            t = t.unsqueeze(0)
        t = t.contiguous()
        out = [torch.empty_like(t) for _ in range(_world())]
        torch.distributed.all_gather(out, t)
        return torch.cat(out, dim=0)

    return recursively_apply(_gather_one, tensor, error_on_other_type=True)


def gather_object(obj: Any):
    """Collect a picklable object from every process. Lists/tuples are concatenated in process
    order (accelerate's behaviour); any other object gives a list with one entry per process.

    >>> gather_object(["a"])
    ['a']
    """
    world = _world()
    if world == 1:
        return obj
    out: list = [None] * world
    torch.distributed.all_gather_object(out, obj)
    if all(isinstance(o, (list, tuple)) for o in out):
        return [x for part in out for x in part]
    return out


def reduce(tensor, reduction: str = "mean", scale: float = 1.0):
    """Sum (`reduction="sum"`) or average (`"mean"`) tensors across processes, times `scale`.
    Returns new tensors; the inputs are not modified.

    >>> reduce(torch.tensor([2.0]), reduction="sum", scale=0.5)
    tensor([1.])
    """
    if reduction not in ("mean", "sum", "none", None):
        raise TrainingError(f"reduce(reduction={reduction!r}): expected 'mean', 'sum' or 'none'")
    world = _world()

    def _reduce_one(t: torch.Tensor) -> torch.Tensor:
        out = t.clone()
        if world > 1 and reduction not in ("none", None):
            torch.distributed.all_reduce(out, op=torch.distributed.ReduceOp.SUM)
            if reduction == "mean":
                out = out / world if not out.is_floating_point() else out.div_(world)
        if scale != 1.0:
            out = out * scale
        return out

    return recursively_apply(_reduce_one, tensor, error_on_other_type=True)


def broadcast(tensor, from_process: int = 0):
    """Every process gets `from_process`'s values (tensors must have the same shape everywhere);
    broadcasts in place and returns the tensor(s).

    >>> broadcast(torch.tensor([5]))
    tensor([5])
    """
    if _world() == 1:
        return tensor

    def _broadcast_one(t: torch.Tensor) -> torch.Tensor:
        torch.distributed.broadcast(t, src=from_process)
        return t

    return recursively_apply(_broadcast_one, tensor, error_on_other_type=True)


def broadcast_object_list(object_list: list, from_process: int = 0) -> list:
    """Replace, in place, the items of `object_list` with those of `from_process`; returns the list.

    >>> broadcast_object_list([1, "a"])
    [1, 'a']
    """
    if _world() > 1:
        torch.distributed.broadcast_object_list(object_list, src=from_process)
    return object_list


def pad_across_processes(tensor, dim: int = 0, pad_index: int = 0, pad_first: bool = False):
    """Pad `tensor` along `dim` with `pad_index` to the largest size any process has, so that it
    can be gathered. Tensors with fewer than `dim + 1` dimensions are returned unchanged.

    >>> pad_across_processes(torch.ones(1, 2), dim=1)
    tensor([[1., 1.]])
    """
    world = _world()

    def _pad_one(t: torch.Tensor) -> torch.Tensor:
        if dim >= t.dim() or dim < -t.dim():
            return t
        d = dim % t.dim()
        if world == 1:
            return t
        size = torch.tensor([t.shape[d]], device=t.device)
        sizes = gather(size)
        max_size = int(sizes.max())
        if max_size == t.shape[d]:
            return t
        new_shape = list(t.shape)
        new_shape[d] = max_size
        out = t.new_full(new_shape, pad_index)
        index = [slice(None)] * t.dim()
        index[d] = slice(max_size - t.shape[d], max_size) if pad_first else slice(0, t.shape[d])
        out[tuple(index)] = t
        return out

    return recursively_apply(_pad_one, tensor, error_on_other_type=True)


def concatenate(data, dim: int = 0):
    """Concatenate a list of (nested structures of) tensors along `dim`, structure-wise.

    >>> concatenate([{"a": torch.ones(1)}, {"a": torch.zeros(1)}])
    {'a': tensor([1., 0.])}
    """
    first = data[0]
    if isinstance(first, (tuple, list)):
        return type(first)(concatenate([d[i] for d in data], dim=dim) for i in range(len(first)))
    if isinstance(first, Mapping):
        return type(first)({k: concatenate([d[k] for d in data], dim=dim) for k in first})
    if not isinstance(first, torch.Tensor):
        raise TrainingError(f"concatenate: expected tensors, got {type(first).__name__}")
    return torch.cat(data, dim=dim)


def find_batch_size(data) -> int | None:
    """The size of the first dimension of the first tensor found in `data` (None if there is none).

    >>> find_batch_size({"x": torch.zeros(4, 2)})
    4
    """
    if isinstance(data, (tuple, list)):
        for o in data:
            size = find_batch_size(o)
            if size is not None:
                return size
        return None
    if isinstance(data, Mapping):
        for v in data.values():
            size = find_batch_size(v)
            if size is not None:
                return size
        return None
    if isinstance(data, torch.Tensor):
        return data.shape[0] if data.dim() > 0 else None
    return None


def slice_tensors(data, tensor_slice):
    """Apply `tensor_slice` (a slice) to every tensor in `data`."""
    return recursively_apply(lambda t: t[tensor_slice], data)
