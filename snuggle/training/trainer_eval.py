"""The pieces of the Trainer's evaluation loop that do not need the Trainer.

Predictions of different sequence lengths are concatenated along the batch axis with -100 padding on
the right of the longer axis (the reference's rule), nested tuples/dicts of tensors are handled
everywhere, and `speed_metrics` produces the `<prefix>_runtime / _samples_per_second /
_steps_per_second` entries.

>>> import torch
>>> a, b = torch.zeros(2, 3), torch.ones(1, 5)
>>> pad_and_concatenate(a, b).shape
torch.Size([3, 5])
>>> float(pad_and_concatenate(a, b)[0, 4])
-100.0
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch


def pad_and_concatenate(first, second, padding_index: int = -100):
    """Concatenate two tensors/arrays on axis 0; pad axis 1 with `padding_index` when lengths differ."""
    if isinstance(first, np.ndarray) or isinstance(second, np.ndarray):
        first, second = np.atleast_1d(first), np.atleast_1d(second)
        if first.ndim == 1 or first.shape[1:] == second.shape[1:]:
            return np.concatenate((first, second), axis=0)
        shape = (first.shape[0] + second.shape[0], max(first.shape[1], second.shape[1])) + first.shape[2:]
        out = np.full(shape, padding_index, dtype=np.result_type(first, second))
        out[: first.shape[0], : first.shape[1]] = first
        out[first.shape[0]:, : second.shape[1]] = second
        return out
    first, second = first.reshape(-1) if first.dim() == 0 else first, second.reshape(-1) if second.dim() == 0 else second
    if first.dim() == 1 or first.shape[1:] == second.shape[1:]:
        return torch.cat((first, second), dim=0)
    shape = (first.shape[0] + second.shape[0], max(first.shape[1], second.shape[1])) + tuple(first.shape[2:])
    out = first.new_full(shape, padding_index)
    out[: first.shape[0], : first.shape[1]] = first
    out[first.shape[0]:, : second.shape[1]] = second
    return out


def nested_concat(first, second, padding_index: int = -100):
    """`pad_and_concatenate` through tuples/lists/dicts of the same structure."""
    if first is None:
        return second
    if isinstance(first, (list, tuple)):
        return type(first)(nested_concat(a, b, padding_index) for a, b in zip(first, second))
    if isinstance(first, Mapping):
        return type(first)({k: nested_concat(v, second[k], padding_index) for k, v in first.items()})
    return pad_and_concatenate(first, second, padding_index)


def nested_detach(tensors):
    if isinstance(tensors, (list, tuple)):
        return type(tensors)(nested_detach(t) for t in tensors)
    if isinstance(tensors, Mapping):
        return type(tensors)({k: nested_detach(v) for k, v in tensors.items()})
    return tensors.detach() if isinstance(tensors, torch.Tensor) else tensors


def nested_numpify(tensors):
    """Tensors -> numpy arrays (bf16/fp16 become float32, numpy has no bfloat16)."""
    if isinstance(tensors, (list, tuple)):
        return type(tensors)(nested_numpify(t) for t in tensors)
    if isinstance(tensors, Mapping):
        return type(tensors)({k: nested_numpify(v) for k, v in tensors.items()})
    if isinstance(tensors, torch.Tensor):
        t = tensors.detach().cpu()
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.float()
        return t.numpy()
    return tensors


def nested_truncate(tensors, limit: int):
    """Keep the first `limit` rows (drops the samples repeated to even out processes)."""
    if isinstance(tensors, (list, tuple)):
        return type(tensors)(nested_truncate(t, limit) for t in tensors)
    if isinstance(tensors, Mapping):
        return type(tensors)({k: nested_truncate(v, limit) for k, v in tensors.items()})
    if tensors is None or getattr(tensors, "ndim", 1) == 0:
        return tensors
    return tensors[:limit]


def nested_map(fn, tensors):
    if isinstance(tensors, (list, tuple)):
        return type(tensors)(nested_map(fn, t) for t in tensors)
    if isinstance(tensors, Mapping):
        return type(tensors)({k: nested_map(fn, v) for k, v in tensors.items()})
    return fn(tensors) if isinstance(tensors, torch.Tensor) else tensors


def find_batch_size(inputs) -> int | None:
    """Size of the first axis of the first tensor found in a (nested) batch."""
    if isinstance(inputs, (list, tuple)):
        for t in inputs:
            found = find_batch_size(t)
            if found is not None:
                return found
    elif isinstance(inputs, Mapping):
        for v in inputs.values():
            found = find_batch_size(v)
            if found is not None:
                return found
    elif isinstance(inputs, (torch.Tensor, np.ndarray)):
        return inputs.shape[0] if len(inputs.shape) >= 1 else None
    return None


class PredictionAccumulator:
    """Collects one kind of eval output (losses, predictions or labels) batch after batch.

    Tensors stay as tensors while the loop runs (one pad-and-concatenate per batch would be
    quadratic, so batches are kept in a list) and are padded/concatenated once in `result()`.
    `eval_accumulation_steps` moves the collected part to numpy early to bound memory.
    """

    def __init__(self, padding_index: int = -100, concatenate: bool = True):
        self.padding_index = padding_index
        self.concatenate = concatenate
        self.pending: list = []
        self.arrays = None

    def add(self, tensors) -> None:
        if tensors is not None:
            self.pending.append(tensors)

    def to_numpy(self) -> None:
        """Fold pending tensors into the numpy result (called every eval_accumulation_steps)."""
        if not self.pending:
            return
        if not self.concatenate:
            self.arrays = (self.arrays or []) + [nested_numpify(t) for t in self.pending]
        else:
            joined = self._join(self.pending)
            self.arrays = nested_concat(self.arrays, nested_numpify(joined), self.padding_index)
        self.pending = []

    def _join(self, items: list):
        # Pairwise concatenation in a balanced order keeps the copying at O(n log n).
        while len(items) > 1:
            items = [nested_concat(items[i], items[i + 1], self.padding_index) if i + 1 < len(items) else items[i]
                     for i in range(0, len(items), 2)]
        return items[0]

    def result(self):
        self.to_numpy()
        return self.arrays


def speed_metrics(split: str, start_time: float, num_samples: int | None = None, num_steps: int | None = None,
                  num_tokens: int | None = None) -> dict[str, float]:
    """Runtime and throughput entries, rounded like the reference's.

    >>> sorted(speed_metrics("eval", time.time() - 1.0, num_samples=10))
    ['eval_runtime', 'eval_samples_per_second']
    """
    runtime = time.time() - start_time
    result = {f"{split}_runtime": round(runtime, 4)}
    if runtime == 0:
        return result
    if num_samples is not None:
        result[f"{split}_samples_per_second"] = round(num_samples / runtime, 3)
    if num_steps is not None:
        result[f"{split}_steps_per_second"] = round(num_steps / runtime, 3)
    if num_tokens is not None:
        result[f"{split}_tokens_per_second"] = round(num_tokens / runtime, 3)
    return result


def prefix_metrics(metrics: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Put `<prefix>_` in front of every key that lacks it (the reference's eval naming).

    >>> prefix_metrics({"accuracy": 1.0, "eval_loss": 0.5}, "eval")
    {'eval_accuracy': 1.0, 'eval_loss': 0.5}
    """
    return {(k if k.startswith(f"{prefix}_") else f"{prefix}_{k}"): v for k, v in metrics.items()}


class EvaluationLoop:
    """evaluate / predict / evaluation_loop / prediction_step, mixed into Trainer.

    Uses from the Trainer: args, model, label_names, compute_loss, compute_loss_context_manager,
    compute_metrics, preprocess_logits_for_metrics, callback_handler, state, control, log,
    get_eval_dataloader, get_test_dataloader, _prepare_inputs.
    """

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Loss (+ compute_metrics) on eval_dataset; a dict of datasets gives `<prefix>_<name>_*` keys.

        >>> # trainer.evaluate()["eval_loss"]; trainer.evaluate({"dev": a, "test": b})["eval_test_loss"]
        """
        override = eval_dataset is not None
        dataset = eval_dataset if override else self.eval_dataset
        if isinstance(dataset, dict):
            metrics = {}
            for name, part in dataset.items():
                metrics.update(self.evaluate(part if override else name, ignore_keys, f"{metric_key_prefix}_{name}"))
            return metrics
        dataloader = self.get_eval_dataloader(dataset)
        start = time.time()
        output = self.evaluation_loop(dataloader, "Evaluation",
                                      prediction_loss_only=True if self.compute_metrics is None else None,
                                      ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        total = self.args.eval_batch_size * self.args.world_size
        output.metrics.update(speed_metrics(metric_key_prefix, start, num_samples=output.num_samples,
                                            num_steps=math.ceil(output.num_samples / total)))
        self.log(output.metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, output.metrics)
        return output.metrics

    def predict(self, test_dataset, ignore_keys=None, metric_key_prefix: str = "test"):
        """PredictionOutput(predictions, label_ids, metrics); works without labels (label_ids is None)."""
        from snuggle.training.trainer_utils import PredictionOutput

        dataloader = self.get_test_dataloader(test_dataset)
        start = time.time()
        output = self.evaluation_loop(dataloader, "Prediction", ignore_keys=ignore_keys,
                                      metric_key_prefix=metric_key_prefix)
        total = self.args.eval_batch_size * self.args.world_size
        output.metrics.update(speed_metrics(metric_key_prefix, start, num_samples=output.num_samples,
                                            num_steps=math.ceil(output.num_samples / total)))
        self.control = self.callback_handler.on_predict(self.args, self.state, self.control, output.metrics)
        return PredictionOutput(predictions=output.predictions, label_ids=output.label_ids, metrics=output.metrics)

    def _gather(self, tensors, pad_dim1: bool):
        """Across processes: pad axis 1 to the longest, then gather (identity in one process)."""
        if tensors is None or self.args.world_size <= 1:
            return tensors
        from snuggle.accelerate.operations import gather, pad_across_processes

        def one(t):
            if pad_dim1 and t.dim() > 1:
                t = pad_across_processes(t, dim=1, pad_index=-100)
            return gather(t)

        return nested_map(one, tensors)

    def evaluation_loop(self, dataloader, description: str, prediction_loss_only: bool | None = None,
                        ignore_keys=None, metric_key_prefix: str = "eval"):
        from snuggle.training.trainer_utils import EvalLoopOutput, EvalPrediction, denumpify_detensorize

        args = self.args
        if prediction_loss_only is None:
            prediction_loss_only = args.prediction_loss_only
        model = self.model
        model.eval()
        self.callback_handler.eval_dataloader = dataloader
        concat = args.eval_do_concat_batches
        losses_acc = PredictionAccumulator(-100, concat)
        preds_acc = PredictionAccumulator(-100, concat)
        labels_acc = PredictionAccumulator(-100, concat)
        inputs_acc = PredictionAccumulator(-100, concat)
        want_inputs = "inputs" in (args.include_for_metrics or [])
        want_losses = "loss" in (args.include_for_metrics or [])
        batch_metrics = args.batch_eval_metrics and description != "Prediction"
        metrics = None
        seen_labels = False
        observed = 0
        num_batches = len(dataloader) if hasattr(dataloader, "__len__") else None
        for step, inputs in enumerate(dataloader):
            batch_size = find_batch_size(inputs)
            observed += batch_size or 0
            loss, logits, labels = self.prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
            seen_labels = seen_labels or labels is not None or (
                bool(self.label_names) and all(inputs.get(k) is not None for k in self.label_names))
            if loss is not None:
                losses_acc.add(self._gather(loss.reshape(1).repeat(batch_size or 1), False))
            if want_inputs:
                name = getattr(model, "main_input_name", "input_ids")
                inputs_acc.add(self._gather(inputs.get(name), True))
            labels = self._gather(labels, True) if labels is not None else None
            if logits is not None:
                if args.world_size > 1:
                    from snuggle.accelerate.operations import pad_across_processes

                    logits = nested_map(lambda t: pad_across_processes(t, dim=1, pad_index=-100) if t.dim() > 1
                                        else t, logits)
                if self.preprocess_logits_for_metrics is not None:
                    logits = self.preprocess_logits_for_metrics(logits, labels)
                logits = self._gather(logits, False)
            if batch_metrics:
                if self.compute_metrics is not None and logits is not None and labels is not None:
                    last = num_batches is not None and step == num_batches - 1
                    metrics = self.compute_metrics(EvalPrediction(predictions=logits, label_ids=labels,
                                                                  losses=loss if want_losses else None),
                                                   compute_result=last)
            else:
                preds_acc.add(logits)
                labels_acc.add(labels)
            self.control = self.callback_handler.on_prediction_step(args, self.state, self.control)
            if args.eval_accumulation_steps is not None and (step + 1) % args.eval_accumulation_steps == 0:
                for acc in (losses_acc, preds_acc, labels_acc, inputs_acc):
                    acc.to_numpy()
        dataset = getattr(dataloader, "dataset", None)
        num_samples = len(dataset) if hasattr(dataset, "__len__") else observed
        all_losses, all_preds, all_labels, all_inputs = (
            acc.result() for acc in (losses_acc, preds_acc, labels_acc, inputs_acc))
        if args.world_size > 1 and concat:
            # drop the samples repeated at the end to give every process a full batch
            all_losses, all_preds, all_labels, all_inputs = (
                nested_truncate(x, num_samples) if x is not None else None
                for x in (all_losses, all_preds, all_labels, all_inputs))
        if not seen_labels and description == "Evaluation":
            from snuggle.utils.logging import get_logger, warn_once

            warn_once(get_logger(__name__),
                      f"evaluate(): the evaluation batches have no labels ({', '.join(self.label_names) or 'none'}), "
                      f"so there is no {metric_key_prefix}_loss and compute_metrics is not called; add the label "
                      "column, or use trainer.predict(dataset) to get predictions without labels")
        if batch_metrics:
            metrics = metrics or {}
        elif self.compute_metrics is not None and all_preds is not None and all_labels is not None:
            metrics = self.compute_metrics(EvalPrediction(
                predictions=all_preds, label_ids=all_labels, inputs=all_inputs if want_inputs else None,
                losses=all_losses if want_losses else None))
        metrics = denumpify_detensorize(dict(metrics or {}))
        if isinstance(all_losses, np.ndarray) and all_losses.size:
            metrics[f"{metric_key_prefix}_loss"] = all_losses.mean().item()
        elif isinstance(all_losses, list) and all_losses:
            metrics[f"{metric_key_prefix}_loss"] = np.concatenate(all_losses).mean().item()
        metrics = prefix_metrics(metrics, metric_key_prefix)
        return EvalLoopOutput(predictions=all_preds, label_ids=all_labels, metrics=metrics, num_samples=num_samples)

    def prediction_step(self, model, inputs, prediction_loss_only: bool, ignore_keys=None):
        """(loss, logits, labels) of one batch without gradients; logits is a tuple when the model returns
        several outputs (minus `ignore_keys`, default config.keys_to_ignore_at_inference)."""
        label_names = self.label_names
        has_labels = bool(label_names) and all(inputs.get(k) is not None for k in label_names)
        return_loss = inputs.get("return_loss")
        if return_loss is None:
            return_loss = self.can_return_loss
        loss_without_labels = not label_names and return_loss
        inputs = self._prepare_inputs(inputs)
        if ignore_keys is None:
            config = getattr(model, "config", None)
            ignore_keys = list(getattr(config, "keys_to_ignore_at_inference", None) or ["past_key_values"])
        labels = None
        if has_labels or loss_without_labels:
            labels = nested_detach(tuple(inputs.get(name) for name in label_names))
            labels = labels[0] if len(labels) == 1 else labels
        with torch.no_grad():
            if has_labels or loss_without_labels:
                with self.compute_loss_context_manager():
                    loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
                loss = loss.detach().mean()
                if isinstance(outputs, Mapping):
                    logits = tuple(v for k, v in outputs.items() if k not in ignore_keys + ["loss"])
                else:
                    logits = outputs[1:]
            else:
                loss = None
                with self.compute_loss_context_manager():
                    outputs = model(**inputs)
                if isinstance(outputs, Mapping):
                    logits = tuple(v for k, v in outputs.items() if k not in ignore_keys)
                else:
                    logits = outputs
        if prediction_loss_only:
            return loss, None, None
        logits = nested_detach(logits)
        if isinstance(logits, (tuple, list)) and len(logits) == 1:
            logits = logits[0]
        return loss, logits, labels
