"""How the Trainer feeds data: which columns reach the model, in which order, in which batches.

- `find_labels(model_class)`: the label arguments of a model's forward (labels, start/end_positions, ...).
- `ColumnFilter`: the reference's "drop the columns forward() does not take", except that a column a
  custom data collator or an overridden `compute_loss` reads (its name appears as a string literal in
  their source) is kept, and the drop is logged once with the column names and the reason.
- `EpochBatchSampler`: batches of a seeded permutation (seed + epoch, the permutation the reference's
  seedable sampler draws), optionally sharded across processes the way Accelerate shards them
  (process p takes batches p, p+P, ...), and able to skip the batches already trained on when a run
  resumes, without loading them.

>>> sampler = EpochBatchSampler(num_samples=5, batch_size=2, shuffle=False)
>>> list(sampler)
[[0, 1], [2, 3], [4]]
>>> sampler.skip_batches = 1
>>> list(sampler)
[[2, 3], [4]]
"""

from __future__ import annotations

import ast
import inspect
import math
import textwrap
from collections.abc import Mapping
from typing import Any, Callable, Iterator

from snuggle.errors import DataError
from snuggle.utils.logging import get_logger, warn_once

logger = get_logger(__name__)


def find_labels(model_class: type) -> list[str]:
    """Label arguments of `model_class.forward`, as the reference finds them.

    >>> class M:
    ...     def forward(self, input_ids, labels=None): ...
    >>> find_labels(M)
    ['labels']
    """
    # `shift_labels` (our causal LMs take it explicitly) is an alternative input, not a label column.
    params = [p for p in inspect.signature(model_class.forward).parameters if p != "shift_labels"]
    if "QuestionAnswering" in model_class.__name__:
        return [p for p in params if "label" in p or p in ("start_positions", "end_positions")]
    return [p for p in params if "label" in p]


def forward_parameters(model: Any) -> list[str]:
    """Parameter names of the model's forward (through a DDP / compile wrapper)."""
    inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None) or model
    return list(inspect.signature(inner.forward).parameters)


def string_literals_of(obj: Any) -> set[str]:
    """Every string constant in the source of a function, method or class (empty set if unavailable).

    Used to tell which dataset columns a custom collator or compute_loss reads: `batch["weights"]`
    or `f.pop("weights")` mention the column by name.

    >>> def collate(rows):
    ...     return {"x": [r["text"] for r in rows]}
    >>> sorted(string_literals_of(collate))
    ['text', 'x']
    """
    targets = []
    if inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isclass(obj):
        targets.append(obj)
    elif callable(obj):
        targets.append(type(obj))  # a collator instance: read its class
    elif isinstance(obj, type):
        targets.append(obj)
    found: set[str] = set()
    for target in targets:
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(target)))
        except (OSError, TypeError, SyntaxError, IndentationError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


class ColumnFilter:
    """Decides which dataset columns to drop before collation, and drops them.

    `keep_always` holds columns that must survive whatever the forward signature says (those read by
    a custom collator or compute_loss, found by `string_literals_of`).
    """

    def __init__(self, model: Any, label_names: list[str], keep_always: set[str] | None = None):
        self.model_name = type(getattr(model, "module", model)).__name__
        self.signature = set(forward_parameters(model)) | {"label", "label_ids"} | set(label_names)
        self.keep_always = set(keep_always or ())

    def columns_to_drop(self, column_names: list[str]) -> list[str]:
        return [c for c in column_names if c not in self.signature and c not in self.keep_always]

    def _announce(self, dropped: list[str], description: str, kept: list[str]) -> None:
        if not dropped:
            return
        reason = f"{self.model_name}.forward takes no such argument"
        msg = f"{description} dataset: dropping column(s) {', '.join(dropped)} ({reason})"
        if kept:
            msg += f"; kept {', '.join(kept)} (read by the data collator or compute_loss)"
        msg += ". Pass remove_unused_columns=False to keep every column."
        warn_once(logger, msg)

    def apply(self, dataset: Any, description: str) -> Any:
        """Drop the unused columns of a Dataset-like object (has column_names/remove_columns)."""
        names = getattr(dataset, "column_names", None)
        if not isinstance(names, list) or not hasattr(dataset, "remove_columns"):
            return dataset
        dropped = self.columns_to_drop(names)
        if dropped and len(dropped) == len(names):
            raise DataError(
                f"{description} dataset: none of its columns ({', '.join(names)}) is an argument of "
                f"{self.model_name}.forward ({', '.join(sorted(self.signature))}); tokenize the dataset first, "
                "or pass remove_unused_columns=False with a data_collator that builds the model inputs"
            )
        kept = sorted(c for c in names if c in self.keep_always and c not in self.signature)
        self._announce(dropped, description, kept)
        return dataset.remove_columns(dropped) if dropped else dataset

    def wrap_collator(self, collator: Callable, description: str) -> Callable:
        """For datasets without columns (lists, torch datasets): drop the keys of each row instead."""
        return _DropKeysCollator(collator, self, description)


class _DropKeysCollator:
    """Removes unused keys from every row before the real collator sees them."""

    def __init__(self, collator: Callable, column_filter: ColumnFilter, description: str):
        self.collator = collator
        self.filter = column_filter
        self.description = description

    def __call__(self, features: list) -> Any:
        if features and isinstance(features[0], Mapping):
            dropped = self.filter.columns_to_drop(list(features[0].keys()))
            if dropped:
                self.filter._announce(dropped, self.description, [])
                drop = set(dropped)
                features = [{k: v for k, v in f.items() if k not in drop} for f in features]
        return self.collator(features)


class EpochBatchSampler:
    """Index batches for one epoch: seeded permutation (or in order), sharded, with batches to skip.

    Permutation of epoch e is `torch.randperm(n, generator=manual_seed(seed + e))`, what the reference
    draws through Accelerate's seedable sampler. Under several processes every process builds the same
    batch list and takes every P-th batch starting at its rank; the list is padded from its start to a
    multiple of P batches (and the last batch to full size) so all processes step together.
    """

    def __init__(self, num_samples: int, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, num_processes: int = 1, process_index: int = 0,
                 lengths: list[int] | None = None, length_group_size: int | None = None):
        if lengths is not None and len(lengths) != num_samples:
            raise DataError(f"group_by_length: got {len(lengths)} lengths for {num_samples} rows")
        self.lengths = lengths
        self.length_group_size = length_group_size or batch_size * num_processes
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.num_processes = num_processes
        self.process_index = process_index
        self.epoch = 0
        self.skip_batches = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.num_samples))
        import torch

        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.num_samples, generator=generator).tolist()
        if self.lengths is not None:
            order = length_grouped_order(order, self.lengths, self.length_group_size)
        return order

    def _all_batches(self) -> list[list[int]]:
        order = self._order()
        size = self.batch_size
        batches = [order[i:i + size] for i in range(0, len(order), size)]
        if self.drop_last and batches and len(batches[-1]) < size:
            batches.pop()
        procs = self.num_processes
        if procs > 1 and batches:
            if len(batches[-1]) < size and not self.drop_last:
                batches[-1] = batches[-1] + (order * size)[: size - len(batches[-1])]
            first = 0
            while len(batches) % procs:  # repeat the first batches, as Accelerate's even_batches does
                batches.append(batches[first])
                first += 1
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._all_batches()
        mine = batches[self.process_index::self.num_processes]
        yield from mine[self.skip_batches:]

    def __len__(self) -> int:
        n = self.num_samples // self.batch_size if self.drop_last else math.ceil(self.num_samples / self.batch_size)
        per_process = math.ceil(n / self.num_processes)
        return max(per_process - self.skip_batches, 0)


def length_grouped_order(order: list[int], lengths: list[int], batch_size: int) -> list[int]:
    """The reference's group_by_length order: cut a random order into mega-batches of up to 50 batches,
    sort each by length (longest first), and move the longest row of all to the front (an out-of-memory
    error then shows on the first step, not hours later). Batches hold rows of similar length, so
    dynamic padding adds little.

    >>> length_grouped_order(list(range(8)), [1, 4, 2, 3, 8, 5, 7, 6], batch_size=1)
    [4, 0, 3, 2, 1, 5, 6, 7]
    """
    mult = max(min(len(lengths) // (batch_size * 4), 50), 1)
    size = mult * batch_size
    mega = [sorted(order[i:i + size], key=lambda j: lengths[j], reverse=True) for i in range(0, len(order), size)]
    longest = max(range(len(mega)), key=lambda k: (lengths[mega[k][0]], -k))
    mega[0][0], mega[longest][0] = mega[longest][0], mega[0][0]
    return [i for block in mega for i in block]


def row_lengths(dataset: Any, length_column_name: str) -> list[int]:
    """Token counts per row for group_by_length: the `length_column_name` column when the dataset has
    one (cheap), else len(input_ids) of every row."""
    columns = getattr(dataset, "column_names", None) or []
    if length_column_name in columns:
        return [int(n) for n in dataset[length_column_name]]
    if "input_ids" in columns:
        return [len(ids) for ids in dataset["input_ids"]]
    try:
        return [len(row["input_ids"]) for row in dataset]
    except (KeyError, TypeError) as e:
        raise DataError(
            f"group_by_length needs token counts: add a '{length_column_name}' column (or set "
            f"length_column_name) or an 'input_ids' column to the train dataset"
        ) from e


def collator_keep_columns(data_collator: Callable | None, compute_loss: Callable | None) -> set[str]:
    """Column names a user-supplied collator or compute_loss mentions (kept by ColumnFilter)."""
    keep: set[str] = set()
    for obj in (data_collator, compute_loss):
        if obj is None:
            continue
        module = getattr(obj, "__module__", "") or getattr(type(obj), "__module__", "")
        if module.startswith("snuggle.training.collators"):
            # our collators: only DataCollatorForLanguageModeling reads an extra column
            if type(obj).__name__ == "DataCollatorForLanguageModeling":
                keep.add("special_tokens_mask")
            continue
        keep |= string_literals_of(obj)
    return keep


def check_batch_size(dataset_len: int | None, batch_size: int, description: str, argument: str,
                     drop_last: bool = False) -> None:
    """A batch larger than the whole dataset: tell the user instead of silently training on fewer rows."""
    if dataset_len is not None and dataset_len == 0:
        raise DataError(f"{description} dataset is empty (0 rows); pass a dataset with at least one row")
    if dataset_len is not None and drop_last and batch_size > dataset_len:
        raise DataError(
            f"{argument}={batch_size} is larger than the {description} dataset ({dataset_len} rows) and "
            f"dataloader_drop_last=True drops that only, incomplete batch: there is nothing to iterate; lower "
            f"{argument} to at most {dataset_len} or set dataloader_drop_last=False"
        )
    if dataset_len is not None and batch_size > dataset_len:
        warn_once(
            logger,
            f"{argument}={batch_size} (per process) is larger than the {description} dataset ({dataset_len} rows): "
            f"every batch holds all {dataset_len} rows; lower {argument} to at most {dataset_len} if that is not meant",
        )


# Keys whose axis 1 is the sequence axis in the batches our collators build.
_SEQUENCE_KEYS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "labels", "special_tokens_mask",
                  "inputs_embeds")


def trim_padding_columns(batch: Any) -> Any:
    """Drop the trailing columns that are padding in every row (attention_mask all 0), for training.

    Data padded to a fixed max_length (e.g. tokenizer(..., padding="max_length")) spends most of the
    compute on padding; right-padded columns that no row attends to change neither the loss nor the
    gradients of a masked encoder or causal model, so they are cut before the forward. The batch is
    returned unchanged when that cannot be proven: no 2-D attention_mask, left padding (nothing
    trailing to cut), labels that are not -100 in the cut columns, or another tensor whose axis 1
    has the sequence length (it might not be a sequence axis).

    >>> import torch
    >>> b = {"input_ids": torch.tensor([[5, 6, 0, 0], [7, 0, 0, 0]]),
    ...      "attention_mask": torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]]), "labels": torch.tensor([1, 0])}
    >>> trim_padding_columns(b)["input_ids"].tolist()
    [[5, 6], [7, 0]]
    """
    import torch

    if not isinstance(batch, Mapping):
        return batch
    mask = batch.get("attention_mask")
    if not torch.is_tensor(mask) or mask.dim() != 2:
        return batch
    seq = mask.shape[1]
    used = mask.any(dim=0).nonzero()
    if used.numel() == 0:
        return batch
    keep = int(used[-1]) + 1
    if keep >= seq:
        return batch
    for key, value in batch.items():
        if not torch.is_tensor(value) or value.dim() < 2 or value.shape[1] != seq:
            continue
        if key not in _SEQUENCE_KEYS:
            return batch  # an unknown (batch, seq, ...) tensor: do not guess
        if key == "labels" and bool((value[:, keep:] != -100).any()):
            return batch  # the loss reads labels in the padding: keep everything
    return {k: (v[:, :keep] if k in _SEQUENCE_KEYS and torch.is_tensor(v) and v.dim() >= 2 and v.shape[1] == seq
                else v) for k, v in batch.items()}
