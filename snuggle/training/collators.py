"""Data collators: turn a list of tokenized examples into one padded batch of tensors.

Same classes, arguments and outputs as transformers' data collators, on top of our tokenizer layer
(`snuggle.tokenizers.pretrained.PreTrainedTokenizerFast.pad`). torch is imported inside the calls,
so importing this module stays cheap.

- `default_data_collator` / `DefaultDataCollator`: stack equal-length features; 'label'/'label_ids' -> 'labels'.
- `DataCollatorWithPadding`: pad with tokenizer.pad; 'label'/'label_ids' -> 'labels'.
- `DataCollatorForTokenClassification`: also pad per-token labels with -100.
- `DataCollatorForSeq2Seq`: pad inputs, pad 'labels' separately with -100, optional decoder_input_ids.
- `DataCollatorForLanguageModeling`: MLM masking (80% [MASK], 10% random token, 10% kept; labels -100
  elsewhere) or causal LM labels (input_ids with padding -> -100). The random draws are made in the
  same order and shapes as the reference, so one torch seed gives the same masks.

>>> batch = default_data_collator([{"input_ids": [1, 2], "label": 0}, {"input_ids": [3, 4], "label": 1}])
>>> batch["labels"].tolist(), batch["input_ids"].shape
([0, 1], torch.Size([2, 2]))
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from snuggle.errors import TrainingError


def _check_return_tensors(return_tensors: str) -> str:
    if return_tensors not in ("pt", "np"):
        raise TrainingError(f"return_tensors={return_tensors!r} is not supported; use 'pt' (torch) or 'np' (numpy)")
    return return_tensors


def _as_mappings(features: list) -> list:
    if not features:
        raise TrainingError("the collator got an empty list of examples")
    return features if isinstance(features[0], Mapping) else [vars(f) for f in features]


def default_data_collator(features: list, return_tensors: str = "pt") -> dict[str, Any]:
    """Stack features that already have equal lengths into tensors.

    'label' (one number per example) and 'label_ids' (a list per example) become 'labels' (int64 for ints,
    float32 otherwise); keys whose first value is None or a string are left out.
    """
    _check_return_tensors(return_tensors)
    features = _as_mappings(features)
    first = features[0]
    if return_tensors == "np":
        return _numpy_default_collate(features, first)
    import torch

    batch: dict[str, Any] = {}
    if first.get("label") is not None:
        label = first["label"].item() if isinstance(first["label"], torch.Tensor) else first["label"]
        dtype = torch.long if isinstance(label, (int, np.integer)) else torch.float
        batch["labels"] = torch.tensor([f["label"] for f in features], dtype=dtype)
    elif first.get("label_ids") is not None:
        if isinstance(first["label_ids"], torch.Tensor):
            batch["labels"] = torch.stack([f["label_ids"] for f in features])
        else:
            dtype = torch.long if isinstance(first["label_ids"][0], (int, np.integer)) else torch.float
            batch["labels"] = torch.tensor([f["label_ids"] for f in features], dtype=dtype)
    for key, value in first.items():
        if key in ("label", "label_ids") or value is None or isinstance(value, str):
            continue
        try:
            if isinstance(value, torch.Tensor):
                batch[key] = torch.stack([f[key] for f in features])
            elif isinstance(value, np.ndarray):
                batch[key] = torch.from_numpy(np.stack([f[key] for f in features]))
            else:
                batch[key] = torch.tensor([f[key] for f in features])
        except (ValueError, RuntimeError) as e:
            raise TrainingError(
                f"default_data_collator: cannot stack feature {key!r} ({e}); examples of different lengths "
                "need padding: use DataCollatorWithPadding"
            ) from None
    return batch


def _numpy_default_collate(features: list, first: Mapping) -> dict[str, Any]:
    batch: dict[str, Any] = {}
    if first.get("label") is not None:
        label = first["label"].item() if isinstance(first["label"], np.ndarray) else first["label"]
        dtype = np.int64 if isinstance(label, (int, np.integer)) else np.float32
        batch["labels"] = np.array([f["label"] for f in features], dtype=dtype)
    elif first.get("label_ids") is not None:
        if isinstance(first["label_ids"], np.ndarray):
            batch["labels"] = np.stack([f["label_ids"] for f in features])
        else:
            dtype = np.int64 if isinstance(first["label_ids"][0], (int, np.integer)) else np.float32
            batch["labels"] = np.array([f["label_ids"] for f in features], dtype=dtype)
    for key, value in first.items():
        if key in ("label", "label_ids") or value is None or isinstance(value, str):
            continue
        values = [f[key] for f in features]
        batch[key] = np.stack(values) if isinstance(value, np.ndarray) else np.array(values)
    return batch


@dataclass
class DefaultDataCollator:
    """`default_data_collator` as an object with a fixed return_tensors."""

    return_tensors: str = "pt"

    def __call__(self, features: list, return_tensors: str | None = None) -> dict[str, Any]:
        return default_data_collator(features, return_tensors or self.return_tensors)


def _pad(tokenizer, features, padding, max_length, pad_to_multiple_of, return_tensors):
    if not hasattr(tokenizer, "pad"):
        raise TrainingError(f"the collator needs a tokenizer with a .pad() method; got {type(tokenizer).__name__}")
    return tokenizer.pad(
        features, padding=padding, max_length=max_length, pad_to_multiple_of=pad_to_multiple_of,
        return_tensors=return_tensors,
    )


def _rename_labels(batch) -> None:
    for old in ("label", "label_ids"):
        if old in batch:
            batch["labels"] = batch[old]
            del batch[old]


def _no_padding(padding) -> bool:
    return padding is False or str(getattr(padding, "value", padding)) == "do_not_pad"


def _is_max_length(padding) -> bool:
    return str(getattr(padding, "value", padding)) == "max_length"


@dataclass
class DataCollatorWithPadding:
    """Pad a list of tokenized examples with `tokenizer.pad`; 'label'/'label_ids' -> 'labels'."""

    tokenizer: Any
    padding: Any = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    return_tensors: str = "pt"

    def __call__(self, features: list) -> dict[str, Any]:
        batch = _pad(self.tokenizer, features, self.padding, self.max_length, self.pad_to_multiple_of,
                     _check_return_tensors(self.return_tensors))
        _rename_labels(batch)
        return batch


@dataclass
class DataCollatorForTokenClassification:
    """Pad inputs with the tokenizer and per-token labels with `label_pad_token_id` (-100) to the same length."""

    tokenizer: Any
    padding: Any = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = -100
    return_tensors: str = "pt"

    def __call__(self, features: list, return_tensors: str | None = None) -> dict[str, Any]:
        return_tensors = _check_return_tensors(return_tensors or self.return_tensors)
        features = _as_mappings(features)
        label_name = "label" if "label" in features[0] else "labels"
        labels = [f[label_name] for f in features] if label_name in features[0] else None
        inputs = [{k: v for k, v in f.items() if k != label_name} for f in features]
        batch = _pad(self.tokenizer, inputs, self.padding, self.max_length, self.pad_to_multiple_of, return_tensors)
        if labels is None:
            return batch
        seq_len = np.asarray(batch["input_ids"]).shape[1]
        pad_id = self.label_pad_token_id
        rows = []
        for label in labels:
            label = label.tolist() if hasattr(label, "tolist") else list(label)
            fill = [pad_id] * (seq_len - len(label))
            rows.append(label + fill if self.tokenizer.padding_side == "right" else fill + label)
        if return_tensors == "pt":
            import torch

            batch[label_name] = torch.tensor(rows, dtype=torch.int64)
        else:
            batch[label_name] = np.array(rows, dtype=np.int64)
        return batch


@dataclass
class DataCollatorForSeq2Seq:
    """Pad encoder inputs with the tokenizer and 'labels' with `label_pad_token_id`; if `model` has
    `prepare_decoder_input_ids_from_labels`, also build 'decoder_input_ids'."""

    tokenizer: Any
    model: Any | None = None
    padding: Any = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = -100
    return_tensors: str = "pt"

    def __call__(self, features: list, return_tensors: str | None = None) -> dict[str, Any]:
        return_tensors = _check_return_tensors(return_tensors or self.return_tensors)
        features = _as_mappings(features)
        label_name = "label" if "label" in features[0] else "labels"
        labels = [f[label_name] for f in features] if label_name in features[0] else None
        if labels is not None and all(label is None for label in labels):
            labels = None
        inputs = [{k: v for k, v in f.items() if k != label_name} for f in features]
        batch = _pad(self.tokenizer, inputs, self.padding, self.max_length, self.pad_to_multiple_of, return_tensors)
        padded = None
        if labels is not None:
            as_lists = [label.tolist() if hasattr(label, "tolist") else list(label) for label in labels]
            if _no_padding(self.padding):
                padded = as_lists
            else:
                target = self.max_length if _is_max_length(self.padding) and self.max_length is not None else max(
                    len(label) for label in as_lists)
                if self.pad_to_multiple_of is not None:
                    m = self.pad_to_multiple_of
                    target = (target + m - 1) // m * m
                right = self.tokenizer.padding_side == "right"
                padded = []
                for label in as_lists:
                    fill = [self.label_pad_token_id] * (target - len(label))
                    padded.append(label + fill if right else fill + label)
        if padded is not None:
            try:
                if return_tensors == "pt":
                    import torch

                    batch["labels"] = torch.tensor(padded, dtype=torch.int64)
                else:
                    batch["labels"] = np.array(padded, dtype=np.int64)
            except (ValueError, RuntimeError) as e:
                raise TrainingError(f"DataCollatorForSeq2Seq: labels of different lengths with padding=False ({e})") from None
        else:
            batch["labels"] = None
        if labels is not None and self.model is not None and hasattr(self.model, "prepare_decoder_input_ids_from_labels"):
            batch["decoder_input_ids"] = self.model.prepare_decoder_input_ids_from_labels(labels=batch["labels"])
        return batch


def _collate_id_lists(examples: list, tokenizer, pad_to_multiple_of: int | None, return_tensors: str):
    """Stack lists/tensors of token ids into (batch, seq), padding with the tokenizer's pad id if needed."""
    if return_tensors == "pt":
        import torch

        if isinstance(examples[0], (list, tuple, np.ndarray)):
            examples = [torch.tensor(e, dtype=torch.long) for e in examples]
        lengths = [int(x.size(0)) for x in examples]
    else:
        if isinstance(examples[0], (list, tuple)):
            examples = [np.array(e, dtype=np.int64) for e in examples]
        lengths = [len(x) for x in examples]
    longest = max(lengths)
    if len(set(lengths)) == 1 and (pad_to_multiple_of is None or longest % pad_to_multiple_of == 0):
        return torch.stack(examples, dim=0) if return_tensors == "pt" else np.stack(examples, axis=0)
    if tokenizer.pad_token is None:
        raise TrainingError(
            f"the examples have different lengths but the tokenizer ({type(tokenizer).__name__}) has no pad token; "
            "set one, e.g. tokenizer.pad_token = tokenizer.eos_token"
        )
    if pad_to_multiple_of is not None and longest % pad_to_multiple_of:
        longest = (longest // pad_to_multiple_of + 1) * pad_to_multiple_of
    if return_tensors == "pt":
        result = examples[0].new_full([len(examples), longest], tokenizer.pad_token_id)
    else:
        result = np.full((len(examples), longest), tokenizer.pad_token_id, dtype=examples[0].dtype)
    for i, example in enumerate(examples):
        n = lengths[i]
        if tokenizer.padding_side == "right":
            result[i, :n] = example
        else:
            result[i, longest - n:] = example
    return result


@dataclass
class DataCollatorForLanguageModeling:
    """Batches for masked (mlm=True) or causal (mlm=False) language modeling.

    MLM: each non-special token is picked with `mlm_probability`; a picked token becomes [MASK] with
    `mask_replace_prob` (0.8), else a random vocabulary id with `random_replace_prob / (1 - mask_replace_prob)`
    (so 10% overall), else stays; labels hold the original id at picked positions and -100 elsewhere.
    Causal: labels = input_ids with pad positions set to -100.
    `seed` gives the collator its own generator (torch.Generator().manual_seed(seed)), otherwise the global RNG.
    """

    tokenizer: Any
    mlm: bool = True
    whole_word_mask: bool = False
    mlm_probability: float | None = 0.15
    mask_replace_prob: float = 0.8
    random_replace_prob: float = 0.1
    pad_to_multiple_of: int | None = None
    return_tensors: str = "pt"
    seed: int | None = None

    def __post_init__(self):
        _check_return_tensors(self.return_tensors)
        if self.mlm:
            if getattr(self.tokenizer, "mask_token", None) is None:
                raise TrainingError(
                    "This tokenizer does not have a mask token which is necessary for masked language modeling. "
                    "Pass mlm=False to train on causal language modeling instead."
                )
            if self.mlm_probability is None or not 0 <= self.mlm_probability <= 1:
                raise TrainingError(f"mlm_probability should be between 0 and 1; got {self.mlm_probability!r}")
            self.mlm_probability = float(self.mlm_probability)
        if self.whole_word_mask:
            raise TrainingError("whole_word_mask=True is not supported yet; use token-level masking (the default)")
        if not 0 <= self.mask_replace_prob <= 1 or not 0 <= self.random_replace_prob <= 1:
            raise TrainingError("mask_replace_prob and random_replace_prob must each be between 0 and 1")
        if self.mask_replace_prob + self.random_replace_prob > 1:
            raise TrainingError("The sum of mask_replace_prob and random_replace_prob should not exceed 1")
        self.mask_replace_prob = float(self.mask_replace_prob)
        self.random_replace_prob = float(self.random_replace_prob)
        self.generator = None
        self._generator_pid = None

    def _ensure_generator(self, return_tensors: str) -> None:
        if self.seed is None:
            return
        wanted_type = "torch" if return_tensors == "pt" else "numpy"
        current_type = None if self.generator is None else type(self.generator).__module__.split(".")[0]
        if self._generator_pid == os.getpid() and current_type == wanted_type:
            return
        seed = self.seed
        if return_tensors == "pt":
            import torch

            info = torch.utils.data.get_worker_info()
            if info is not None:  # one stream per DataLoader worker
                seed += info.id
            self.generator = torch.Generator().manual_seed(seed)
        else:
            self.generator = np.random.default_rng(seed)
        self._generator_pid = os.getpid()

    def __call__(self, examples: list, return_tensors: str | None = None) -> dict[str, Any]:
        return_tensors = _check_return_tensors(return_tensors or self.return_tensors)
        self._ensure_generator(return_tensors)
        if isinstance(examples[0], Mapping):
            batch = self.tokenizer.pad(examples, return_tensors=return_tensors, pad_to_multiple_of=self.pad_to_multiple_of)
        else:
            batch = {"input_ids": _collate_id_lists(examples, self.tokenizer, self.pad_to_multiple_of, return_tensors)}
        special_tokens_mask = batch.pop("special_tokens_mask", None)
        batch.pop("offset_mapping", None)
        if self.mlm:
            mask_fn = self.torch_mask_tokens if return_tensors == "pt" else self.numpy_mask_tokens
            batch["input_ids"], batch["labels"] = mask_fn(batch["input_ids"], special_tokens_mask)
        else:
            labels = batch["input_ids"].clone() if return_tensors == "pt" else np.copy(batch["input_ids"])
            if self.tokenizer.pad_token_id is not None:
                labels[labels == self.tokenizer.pad_token_id] = -100
            batch["labels"] = labels
        return batch

    def _special_mask(self, labels_list: list, special_tokens_mask):
        if special_tokens_mask is not None:
            return special_tokens_mask
        return [self.tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True) for ids in labels_list]

    def torch_mask_tokens(self, inputs, special_tokens_mask=None):
        """(inputs, labels) after MLM masking; `inputs` is modified in place. Draw order = the reference's."""
        import torch

        labels = inputs.clone()
        probability = torch.full(labels.shape, self.mlm_probability)
        special = self._special_mask(labels.tolist(), special_tokens_mask)
        special = special.bool() if isinstance(special, torch.Tensor) else torch.tensor(special, dtype=torch.bool)
        probability.masked_fill_(special, value=0.0)
        masked = torch.bernoulli(probability, generator=self.generator).bool()
        labels[~masked] = -100
        replaced = torch.bernoulli(torch.full(labels.shape, self.mask_replace_prob), generator=self.generator).bool() & masked
        inputs[replaced] = self.tokenizer.convert_tokens_to_ids(self.tokenizer.mask_token)
        if self.mask_replace_prob == 1 or self.random_replace_prob == 0:
            return inputs, labels
        scaled = self.random_replace_prob / (1 - self.mask_replace_prob)
        randomized = (torch.bernoulli(torch.full(labels.shape, scaled), generator=self.generator).bool()
                      & masked & ~replaced)
        random_words = torch.randint(len(self.tokenizer), labels.shape, dtype=torch.long, generator=self.generator)
        inputs[randomized] = random_words[randomized]
        return inputs, labels

    def numpy_mask_tokens(self, inputs, special_tokens_mask=None):
        """numpy version of `torch_mask_tokens` (same draw order as the reference's numpy path)."""
        rng = self.generator if self.generator is not None else np.random
        labels = np.copy(inputs)
        probability = np.full(labels.shape, self.mlm_probability)
        special = np.asarray(self._special_mask(labels.tolist(), special_tokens_mask)).astype(bool)
        probability[special] = 0
        masked = rng.binomial(1, probability, size=probability.shape).astype(bool)
        labels[~masked] = -100
        replaced = rng.binomial(1, self.mask_replace_prob, size=labels.shape).astype(bool) & masked
        inputs[replaced] = self.tokenizer.mask_token_id
        if self.mask_replace_prob == 1 or self.random_replace_prob == 0:
            return inputs, labels
        scaled = self.random_replace_prob / (1 - self.mask_replace_prob)
        randomized = rng.binomial(1, scaled, size=labels.shape).astype(bool) & masked & ~replaced
        count = int(np.count_nonzero(randomized))
        if self.generator is not None:
            random_words = rng.integers(low=0, high=len(self.tokenizer), size=count, dtype=np.int64)
        else:
            random_words = np.random.randint(low=0, high=len(self.tokenizer), size=count, dtype=np.int64)
        inputs[randomized] = random_words
        return inputs, labels


__all__ = [
    "DataCollatorForLanguageModeling",
    "DataCollatorForSeq2Seq",
    "DataCollatorForTokenClassification",
    "DataCollatorWithPadding",
    "DefaultDataCollator",
    "default_data_collator",
]
