"""Pipeline: the base class every task (and every user-defined task) subclasses.

A pipeline turns raw inputs into task outputs in four steps, exactly like transformers' `Pipeline`:
`_sanitize_parameters(**kwargs)` splits call/constructor keywords into the three step dicts,
`preprocess(item)` -> model inputs (tensors with a batch dimension of 1), `_forward(batch)` -> model
outputs (run under `torch.inference_mode`), `postprocess(one_output)` -> Python objects (lists of dicts,
scores as Python floats). The base class handles single items, lists, generators and `KeyDataset`
columns, batches `batch_size` preprocessed items by padding them, and moves tensors to the device.

Speed: `preprocess_batch(items)` may tokenize many items in one call (the built-in text tasks do), and a
pipeline whose per-item results do not depend on the other items of a batch sets `batch_by_length = True`:
items are then grouped into batches of similar length inside a window of `batch_size * length_window`
items (less compute spent on padding), and results still come back in input order.

>>> class Shout(Pipeline):                                   # doctest: +SKIP
...     def _sanitize_parameters(self, **kw): return {}, {}, {}
...     def preprocess(self, text): return self.tokenizer(text, return_tensors="pt")
...     def _forward(self, inputs): return self.model(**inputs)
...     def postprocess(self, out): return out["logits"][0].argmax().item()
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Iterable, Iterator

from snuggle.errors import SnuggleError


class PipelineError(SnuggleError, ValueError):
    """A pipeline was asked for something it cannot do (unknown task, bad input, bad argument)."""


class KeyDataset:
    """One column of a dataset, seen as a sequence of items: `pipe(KeyDataset(ds, "text"))`.

    >>> list(KeyDataset([{"text": "a"}, {"text": "b"}], "text"))
    ['a', 'b']
    """

    def __init__(self, dataset, key: str):
        self.dataset = dataset
        self.key = key

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        return self.dataset[i][self.key]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


def _resolve_device(device):
    """Accept what transformers accepts: None, -1 (cpu), an int cuda index, "cpu", "cuda:0", torch.device.

    Anything else, or an accelerator this machine does not have, is a PipelineError naming `device`.
    """
    import torch

    if device is None:
        return None
    if isinstance(device, bool) or not isinstance(device, (int, str, torch.device)):
        raise PipelineError(f"device must be an int, a str like 'cpu' or 'cuda:0', or a torch.device; "
                            f"got {type(device).__name__} {device!r}")
    if isinstance(device, int):
        resolved = torch.device("cpu") if device < 0 else torch.device(f"cuda:{device}")
    elif isinstance(device, str):
        try:
            resolved = torch.device(device)
        except RuntimeError:
            raise PipelineError(f"device {device!r} is not a device torch knows; use 'cpu', 'cuda', 'cuda:0', "
                                f"'mps' or an int (-1 for cpu)") from None
    else:
        resolved = device
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise PipelineError(f"device {device!r} asks for CUDA, which is not available here; use device='cpu' "
                                f"(or -1)")
        if resolved.index is not None and resolved.index >= count:
            raise PipelineError(f"device {device!r}: there are only {count} CUDA device(s)")
    elif resolved.type == "mps":
        backend = getattr(torch.backends, "mps", None)
        if backend is None or not backend.is_available():
            raise PipelineError(f"device {device!r} asks for MPS, which is not available here; use device='cpu'")
    return resolved


def _resolve_dtype(dtype):
    """None, "auto" (keep the model's dtype), a torch.dtype, or a name like "float16" / "torch.bfloat16"."""
    import torch

    if dtype is None or dtype == "auto":
        return None
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str):
        resolved = getattr(torch, dtype.removeprefix("torch."), None)
        if isinstance(resolved, torch.dtype):
            return resolved
    raise PipelineError(f"dtype must be a torch.dtype, 'auto' or a dtype name like 'float16'; got {dtype!r}")


def accepted_keywords(function) -> set[str] | None:
    """Keyword names `function` accepts, or None when it takes **kwargs (anything goes)."""
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                 inspect.Parameter.KEYWORD_ONLY)}


class Pipeline:
    """Base class: subclass it and implement the four steps (see the module docstring)."""

    default_input_names = None
    # True when one item's result does not depend on which other items share its batch (padding is masked
    # out): the base class may then batch items of similar length together (see the module docstring).
    batch_by_length = False
    # items sorted together = batch_size * length_window; bounded so generators stay lazy
    length_window = 16
    # batch size used for a list/iterable when neither the call nor pipeline() gave one. transformers runs
    # one item at a time; a batch_by_length pipeline gets the same results from padded batches, much faster
    default_batch_size = 1

    def __init__(self, model, tokenizer=None, device=None, dtype=None, batch_size=None, task: str = "", **kwargs):
        import torch

        self.task = task
        self.model = model
        self.tokenizer = tokenizer
        dtype = _resolve_dtype(dtype)
        if dtype is not None and hasattr(model, "to"):
            self.model = self.model.to(dtype=dtype)
        resolved = _resolve_device(device)
        if resolved is not None and hasattr(self.model, "to"):
            self.model = self.model.to(resolved)
        self.device = resolved if resolved is not None else getattr(self.model, "device", torch.device("cpu"))
        if hasattr(self.model, "eval"):
            self.model.eval()
        self._batch_size = batch_size
        self._preprocess_params, self._forward_params, self._postprocess_params = self._checked_sanitize(kwargs)

    # ----- the four steps users implement -----------------------------------------------------------------
    def _sanitize_parameters(self, **kwargs):
        """Return (preprocess_params, forward_params, postprocess_params) from the call keywords."""
        raise NotImplementedError(f"{type(self).__name__} must implement _sanitize_parameters")

    def preprocess(self, input_, **preprocess_parameters):
        raise NotImplementedError(f"{type(self).__name__} must implement preprocess")

    def preprocess_batch(self, inputs: list, **preprocess_parameters) -> list:
        """Preprocess several items; the default calls `preprocess` on each. Override it to tokenize a
        whole list in one tokenizer call (one result per item, in order)."""
        return [self.preprocess(x, **preprocess_parameters) for x in inputs]

    def _forward(self, input_tensors, **forward_parameters):
        raise NotImplementedError(f"{type(self).__name__} must implement _forward")

    def postprocess(self, model_outputs, **postprocess_parameters):
        raise NotImplementedError(f"{type(self).__name__} must implement postprocess")

    # ----- plumbing -----------------------------------------------------------------------------------------
    def _checked_sanitize(self, kwargs: dict):
        """`_sanitize_parameters(**kwargs)`, but a keyword it does not take is a PipelineError naming it."""
        accepted = accepted_keywords(self._sanitize_parameters)
        if accepted is not None:
            unknown = sorted(set(kwargs) - accepted)
            if unknown:
                raise PipelineError(f"{type(self).__name__} got unknown keyword argument(s) {unknown}; "
                                    f"it accepts {sorted(accepted)} (and batch_size)")
        return self._sanitize_parameters(**kwargs)

    def _ensure_tensor_on_device(self, inputs, device):
        import torch

        if isinstance(inputs, dict) or (hasattr(inputs, "keys") and hasattr(inputs, "items")):
            # BatchEncoding / ModelOutput become plain dicts: later steps index them by key only
            return {k: self._ensure_tensor_on_device(v, device) for k, v in inputs.items()}
        if isinstance(inputs, list):
            return [self._ensure_tensor_on_device(x, device) for x in inputs]
        if isinstance(inputs, tuple):
            return tuple(self._ensure_tensor_on_device(x, device) for x in inputs)
        if isinstance(inputs, torch.Tensor):
            return inputs.to(device)
        return inputs

    def forward(self, model_inputs, **forward_params):
        import torch

        with torch.inference_mode():
            model_inputs = self._ensure_tensor_on_device(model_inputs, self.device)
            outputs = self._forward(model_inputs, **forward_params)
            return self._ensure_tensor_on_device(outputs, torch.device("cpu"))

    def _pad_values(self) -> dict:
        pad_id = getattr(self.tokenizer, "pad_token_id", None) if self.tokenizer is not None else None
        return {"input_ids": 0 if pad_id is None else pad_id, "attention_mask": 0, "token_type_ids": 0,
                "special_tokens_mask": 1, "p_mask": 1}

    def _collate(self, items: list[dict]) -> dict:
        """Stack per-item model inputs into one batch; 2-D tensors of unequal length are padded on the
        tokenizer's padding side with the pad id (input_ids) or 0."""
        import torch

        if len(items) == 1:
            return dict(items[0])
        side = getattr(self.tokenizer, "padding_side", "right") if self.tokenizer is not None else "right"
        pad_values = self._pad_values()
        batch = {}
        for key in items[0]:
            values = [item[key] for item in items]
            if not isinstance(values[0], torch.Tensor):
                batch[key] = values
                continue
            if values[0].dim() >= 2 and len({v.shape[1] for v in values}) > 1:
                longest = max(v.shape[1] for v in values)
                if key not in pad_values:
                    raise PipelineError(f"cannot pad the batched input {key!r}: no padding value is known for it")
                padded = []
                for v in values:
                    extra = longest - v.shape[1]
                    filler = torch.full((v.shape[0], extra, *v.shape[2:]), pad_values[key], dtype=v.dtype)
                    padded.append(torch.cat([filler, v] if side == "left" else [v, filler], dim=1))
                values = padded
            batch[key] = torch.cat(values, dim=0)
        return batch

    @staticmethod
    def _uncollate(outputs, size: int) -> list:
        """Split batched model outputs back into per-item outputs that keep a batch dimension of 1."""
        import torch

        if size == 1:
            return [outputs]
        keys = list(outputs.keys())
        per_item = []
        for i in range(size):
            item = {}
            for k in keys:
                v = outputs[k]
                if isinstance(v, torch.Tensor):
                    item[k] = v[i : i + 1]
                elif isinstance(v, tuple) and v and isinstance(v[0], torch.Tensor):
                    item[k] = tuple(t[i : i + 1] for t in v)
                elif isinstance(v, list) and len(v) == size:
                    item[k] = v[i]
                else:
                    item[k] = v
            per_item.append(item)
        return per_item

    def _run_chunk(self, items, preprocess_params, forward_params, postprocess_params) -> list:
        prepared = self.preprocess_batch(list(items), **preprocess_params)
        outputs = self.forward(self._collate(prepared), **forward_params)
        return [self.postprocess(o, **postprocess_params) for o in self._uncollate(outputs, len(prepared))]

    @staticmethod
    def _item_length(prepared) -> int:
        ids = prepared.get("input_ids") if hasattr(prepared, "get") else None
        return int(ids.shape[-1]) if hasattr(ids, "shape") and len(ids.shape) else 0

    def _run_by_length(self, items, batch_size, preprocess_params, forward_params, postprocess_params) -> list:
        """Run a window of items in batches of similar length (shortest first); results in input order."""
        prepared = self.preprocess_batch(list(items), **preprocess_params)
        order = sorted(range(len(prepared)), key=lambda i: self._item_length(prepared[i]))  # stable
        results = [None] * len(prepared)
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size]
            outputs = self.forward(self._collate([prepared[i] for i in indices]), **forward_params)
            for i, output in zip(indices, self._uncollate(outputs, len(indices))):
                results[i] = self.postprocess(output, **postprocess_params)
        return results

    def _iterate(self, inputs: Iterable, batch_size: int, params) -> Iterator:
        if self.batch_by_length and batch_size > 1:
            group = batch_size * max(1, self.length_window)

            def run(items):
                return self._run_by_length(items, batch_size, *params)
        else:
            group = batch_size

            def run(items):
                return self._run_chunk(items, *params)
        chunk = []
        for item in inputs:
            chunk.append(item)
            if len(chunk) == group:
                yield from run(chunk)
                chunk = []
        if chunk:
            yield from run(chunk)

    def __call__(self, inputs=None, *args, batch_size=None, **kwargs):
        if args:
            raise PipelineError(f"{type(self).__name__} takes one positional input (a single item, list or "
                                f"iterable); got {1 + len(args)} positional arguments")
        pre, fwd, post = self._checked_sanitize(kwargs)
        params = ({**self._preprocess_params, **pre}, {**self._forward_params, **fwd},
                  {**self._postprocess_params, **post})
        if batch_size is None:
            batch_size = self._batch_size if self._batch_size is not None else self.default_batch_size
        if not isinstance(batch_size, int) or batch_size < 1:
            raise PipelineError(f"batch_size must be a positive int, got {batch_size!r}")
        if isinstance(inputs, (list, tuple)):
            return list(self._iterate(inputs, batch_size, params))
        if isinstance(inputs, (types.GeneratorType, KeyDataset)) or _is_dataset(inputs):
            return self._iterate(inputs, batch_size, params)
        return self._run_chunk([inputs], *params)[0]


def _is_dataset(obj) -> bool:
    """A snuggle (or HF) Dataset / IterableDataset: iterate it lazily, like a generator."""
    name = type(obj).__name__
    return name in ("Dataset", "IterableDataset") and hasattr(obj, "__iter__")
