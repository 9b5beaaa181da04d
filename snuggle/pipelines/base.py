"""Pipeline: the base class every task (and every user-defined task) subclasses.

A pipeline turns raw inputs into task outputs in four steps, exactly like transformers' `Pipeline`:
`_sanitize_parameters(**kwargs)` splits call/constructor keywords into the three step dicts,
`preprocess(item)` -> model inputs (tensors with a batch dimension of 1), `_forward(batch)` -> model
outputs (run under `torch.inference_mode`), `postprocess(one_output)` -> Python objects (lists of dicts,
scores as Python floats). The base class handles single items, lists, generators and `KeyDataset`
columns, batches `batch_size` preprocessed items by padding them, and moves tensors to the device.

>>> class Shout(Pipeline):                                   # doctest: +SKIP
...     def _sanitize_parameters(self, **kw): return {}, {}, {}
...     def preprocess(self, text): return self.tokenizer(text, return_tensors="pt")
...     def _forward(self, inputs): return self.model(**inputs)
...     def postprocess(self, out): return out["logits"][0].argmax().item()
"""

from __future__ import annotations

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
    """Accept what transformers accepts: None, -1 (cpu), an int cuda index, "cpu", "cuda:0", torch.device."""
    import torch

    if device is None:
        return None
    if isinstance(device, torch.device):
        return device
    if isinstance(device, int):
        return torch.device("cpu") if device < 0 else torch.device(f"cuda:{device}")
    return torch.device(device)


class Pipeline:
    """Base class: subclass it and implement the four steps (see the module docstring)."""

    default_input_names = None

    def __init__(self, model, tokenizer=None, device=None, dtype=None, batch_size=None, task: str = "", **kwargs):
        import torch

        self.task = task
        self.model = model
        self.tokenizer = tokenizer
        if dtype is not None and hasattr(model, "to"):
            dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
            self.model = self.model.to(dtype=dtype)
        resolved = _resolve_device(device)
        if resolved is not None and hasattr(self.model, "to"):
            self.model = self.model.to(resolved)
        self.device = resolved if resolved is not None else getattr(self.model, "device", torch.device("cpu"))
        if hasattr(self.model, "eval"):
            self.model.eval()
        self._batch_size = batch_size
        self._preprocess_params, self._forward_params, self._postprocess_params = self._sanitize_parameters(**kwargs)

    # ----- the four steps users implement -----------------------------------------------------------------
    def _sanitize_parameters(self, **kwargs):
        """Return (preprocess_params, forward_params, postprocess_params) from the call keywords."""
        raise NotImplementedError(f"{type(self).__name__} must implement _sanitize_parameters")

    def preprocess(self, input_, **preprocess_parameters):
        raise NotImplementedError(f"{type(self).__name__} must implement preprocess")

    def _forward(self, input_tensors, **forward_parameters):
        raise NotImplementedError(f"{type(self).__name__} must implement _forward")

    def postprocess(self, model_outputs, **postprocess_parameters):
        raise NotImplementedError(f"{type(self).__name__} must implement postprocess")

    # ----- plumbing -----------------------------------------------------------------------------------------
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
        for key in items[0].keys():
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
        prepared = [self.preprocess(x, **preprocess_params) for x in items]
        outputs = self.forward(self._collate(prepared), **forward_params)
        return [self.postprocess(o, **postprocess_params) for o in self._uncollate(outputs, len(prepared))]

    def _iterate(self, inputs: Iterable, batch_size: int, params) -> Iterator:
        chunk = []
        for item in inputs:
            chunk.append(item)
            if len(chunk) == batch_size:
                yield from self._run_chunk(chunk, *params)
                chunk = []
        if chunk:
            yield from self._run_chunk(chunk, *params)

    def __call__(self, inputs=None, *args, batch_size=None, **kwargs):
        if args:
            raise PipelineError(f"{type(self).__name__} takes one positional input (a single item, list or "
                                f"iterable); got {1 + len(args)} positional arguments")
        pre, fwd, post = self._sanitize_parameters(**kwargs)
        params = ({**self._preprocess_params, **pre}, {**self._forward_params, **fwd},
                  {**self._postprocess_params, **post})
        if batch_size is None:
            batch_size = self._batch_size if self._batch_size is not None else 1
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
