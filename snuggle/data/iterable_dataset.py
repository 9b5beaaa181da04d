"""`IterableDataset`: a lazily streamed dataset with the `datasets` API (map, filter, shuffle, take, ...).

Nothing is read until you iterate. Each method returns a new dataset whose chain of small iterable blocks
(`examples_iterables.py`, `multi_source_iterables.py`, `mapped_iterables.py`) gets one more block. Shards (the
list values of a generator's `gen_kwargs`, the files of a streamed split) let shuffling reorder sources,
DataLoader workers and nodes read disjoint parts, and `state_dict()` / `load_state_dict()` resume mid-stream.

Shuffling uses the reference's numpy draws (`np.random.default_rng(seed)` for the shard order and the buffer),
so the same seed gives the same order as `datasets`.

>>> def gen(shards):
...     for shard in shards:
...         for i in range(2):
...             yield {"shard": shard, "i": i}
>>> ds = IterableDataset.from_generator(gen, gen_kwargs={"shards": ["a", "b"]})
>>> ds.num_shards
2
>>> [e["shard"] + str(e["i"]) for e in ds.map(lambda e: {"i": e["i"] * 10})]
['a0', 'a10', 'b0', 'b10']
"""

from __future__ import annotations

import copy
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import Any

from snuggle.data.examples_iterables import (
    ArrowExamplesIterable,
    BaseExamplesIterable,
    DataSourcesShufflingDisallowed,
    ExamplesIterable,
    RebatchedArrowExamplesIterable,
    RepeatExamplesIterable,
    SelectColumnsIterable,
    SkipExamplesIterable,
    StepExamplesIterable,
    TakeExamplesIterable,
    examples_to_batch,
)
from snuggle.data.mapped_iterables import (
    FilteredExamplesIterable,
    FormattedExamplesIterable,
    FormattingConfig,
    MappedExamplesIterable,
    format_arrow_batch,
    format_arrow_row,
    tensorize_python,
)
from snuggle.data.sharding import number_of_shards, split_gen_kwargs
from snuggle.data.shuffling_iterables import (
    BufferShuffledExamplesIterable,
    InterleavedShardsExamplesIterable,
    shift_ex_examples_rngs,
)
from snuggle.errors import DataError

logger = logging.getLogger(__name__)

DEFAULT_MAX_BATCH_SIZE = 1000


@dataclass
class DistributedConfig:
    """Which node this dataset is for (set by `split_dataset_by_node`)."""

    rank: int
    world_size: int
    strategy: str = "auto"


def _new_info(features=None):
    from snuggle.data.info import DatasetInfo

    return DatasetInfo(features=features)


def _copy_info(info):
    return copy.deepcopy(info) if info is not None else _new_info()


def _canonical_format(format_type):
    from snuggle.data.formatting import canonical_format_type

    return canonical_format_type(format_type)


def _maybe_add_torch_parent_class(cls) -> None:
    """Make IterableDataset a torch.utils.data.IterableDataset once torch is imported (never import it here)."""
    if "torch" not in sys.modules:
        return
    import torch.utils.data

    if torch.utils.data.IterableDataset not in cls.__mro__:
        cls.__bases__ += (torch.utils.data.IterableDataset,)


def _rename_columns_fn(example: dict, column_mapping: dict[str, str]) -> dict:
    missing = [c for c in column_mapping if c not in example]
    if missing:
        raise DataError(f"rename_columns: columns {missing} are not in the dataset; it has {list(example)}")
    clashing = [c for c in column_mapping.values() if c in example and c not in column_mapping]
    if clashing:
        raise DataError(f"rename_columns: columns {clashing} are already in the dataset")
    return {new: example[old] for old, new in column_mapping.items()}


def _add_column_fn(example: dict, idx: int, name: str, column: list) -> dict:
    if name in example:
        raise DataError(f"add_column: column {name!r} is already in the dataset")
    return {name: column[idx]}


def _batch_fn(example: dict) -> dict:
    return {column: [value] for column, value in example.items()}


def _generate_examples_from_generator(generator: Callable, **gen_kwargs):
    """Call the user generator once per shard, keys (shard index, example index)."""
    shards = split_gen_kwargs(gen_kwargs, max_num_jobs=number_of_shards(gen_kwargs))
    for shard_idx, shard_kwargs in enumerate(shards):
        for example_idx, example in enumerate(generator(**shard_kwargs)):
            yield (shard_idx, example_idx), example


def _generate_tables_from_shards(shards: list, batch_size: int):
    """Arrow tables of `batch_size` rows from map-style Dataset shards (following their indices mapping)."""
    from snuggle.data.formatting import query_table

    for shard_idx, shard in enumerate(shards):
        for start in range(0, len(shard), batch_size):
            key = slice(start, min(start + batch_size, len(shard)))
            yield shard_idx, query_table(shard._data, key, shard._indices)


def dataset_to_iterable_dataset(dataset, num_shards: int = 1) -> IterableDataset:
    """`Dataset.to_iterable_dataset(num_shards)`: stream a map-style dataset in `num_shards` contiguous shards.

    >>> from snuggle.data.arrow_dataset import Dataset        # doctest: +SKIP
    >>> dataset_to_iterable_dataset(Dataset.from_dict({"a": [1, 2, 3]}), num_shards=3).num_shards  # doctest: +SKIP
    3
    """
    if num_shards > len(dataset):
        raise DataError(
            f"to_iterable_dataset: cannot split a dataset of {len(dataset)} rows into num_shards={num_shards} shards"
        )
    if num_shards == 1:
        shards = [dataset]
    else:
        shards = [dataset.shard(num_shards=num_shards, index=i, contiguous=True) for i in range(num_shards)]
    ex_iterable = ArrowExamplesIterable(
        _generate_tables_from_shards, {"shards": shards, "batch_size": DEFAULT_MAX_BATCH_SIZE}
    )
    ds = IterableDataset(ex_iterable, info=_new_info(dataset.features), split=getattr(dataset, "split", None))
    format_type = getattr(dataset, "_format_type", None)
    if format_type:
        ds = ds.with_format(format_type)
    return ds


class IterableColumn:
    """`ds["text"]`: iterate one column (nested: `ds["meta"]["source"]`)."""

    def __init__(self, source, column_name: str):
        self.source = source
        self.column_name = column_name

    def __iter__(self):
        for example in self.source:
            yield example[self.column_name]

    def __getitem__(self, column_name: str) -> IterableColumn:
        return IterableColumn(self, column_name)


class _IterableDatasetBase:
    """Plain base class, so torch's IterableDataset can be added as a second base when torch is loaded."""


class IterableDataset(_IterableDatasetBase):
    """A dataset read lazily from a chain of example iterables (see the module docstring)."""

    def __init__(self, ex_iterable: BaseExamplesIterable, info=None, split=None,
                 formatting: FormattingConfig | None = None, distributed: DistributedConfig | None = None):
        self._info = _copy_info(info)
        self._split = split
        self._ex_iterable = copy.copy(ex_iterable)
        self._formatting = formatting
        self._distributed = distributed
        self._epoch = 0
        self._starting_state_dict: dict | None = None
        self._state_dict: dict | None = None
        self._prepare_ex_iterable_for_iteration()  # sets the state dict, so state_dict() works before iterating
        _maybe_add_torch_parent_class(type(self))

    def _new(self, ex_iterable: BaseExamplesIterable, info=None, formatting="same") -> IterableDataset:
        """A dataset with this one's split, format and distribution on a new chain."""
        return IterableDataset(
            ex_iterable,
            info=self._info if info is None else info,
            split=self._split,
            formatting=self._formatting if formatting == "same" else formatting,
            distributed=copy.deepcopy(self._distributed),
        )

    # ------------------------------------------------------------------ metadata

    @property
    def info(self):
        return self._info

    @property
    def split(self):
        return self._split

    @property
    def features(self):
        return self._info.features

    @property
    def column_names(self) -> list[str] | None:
        """Column names, or None when unknown (e.g. after a map without `features=`)."""
        return None if self.features is None else list(self.features)

    @property
    def num_columns(self) -> int | None:
        return None if self.features is None else len(self.features)

    @property
    def num_shards(self) -> int:
        if self._distributed:
            world_size = self._distributed.world_size
            strategy = self._distributed.strategy
            if strategy == "shards" or (strategy == "auto" and self._ex_iterable.num_shards % world_size == 0):
                return len(self._ex_iterable.split_shard_indices_by_worker(
                    world_size, self._distributed.rank, contiguous=False))
        return self._ex_iterable.num_shards

    @property
    def n_shards(self) -> int:
        return self.num_shards

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Re-seed shuffling for a new epoch (shard order and buffer draws change with the epoch)."""
        if hasattr(self._epoch, "fill_"):  # a shared torch tensor (persistent DataLoader workers)
            self._epoch.fill_(epoch)
        else:
            self._epoch = epoch

    def __repr__(self) -> str:
        features = list(self.features) if self.features is not None else "Unknown"
        return f"IterableDataset({{\n    features: {features},\n    num_shards: {self.num_shards}\n}})"

    def __getstate__(self):
        return self.__dict__

    def __setstate__(self, state):
        self.__dict__ = state
        _maybe_add_torch_parent_class(type(self))

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict:
        """Where the iteration is (after the last example yielded): `{"examples_iterable": ..., "epoch": ...}`.

        Resuming with `load_state_dict` continues with the next example, except that a shuffle buffer's content
        is not saved (it is refilled with new examples).
        """
        return copy.deepcopy(self._state_dict)

    def load_state_dict(self, state_dict: dict) -> None:
        """The next iteration starts after the example at which `state_dict` was taken."""
        self._starting_state_dict = state_dict

    # ------------------------------------------------------------------ iteration

    def _prepare_ex_iterable_for_iteration(self, batch_size: int = 1, drop_last_batch: bool = False):
        ex_iterable = self._ex_iterable
        if self.epoch:
            try:
                import numpy as np

                ex_iterable = ex_iterable.shuffle_data_sources(np.random.default_rng(self.epoch))
            except DataSourcesShufflingDisallowed:
                pass  # skip() / take() keep the shard order fixed across epochs
            ex_iterable = shift_ex_examples_rngs(ex_iterable, self.epoch)
        if self._distributed:
            ex_iterable = self._split_for_node(ex_iterable)
        if ex_iterable.iter_arrow:
            ex_iterable = RebatchedArrowExamplesIterable(ex_iterable, batch_size, drop_last_batch)
        elif self._formatting and self._formatting.is_table:
            ex_iterable = RebatchedArrowExamplesIterable(
                ex_iterable, batch_size, drop_last_batch, force_convert_to_arrow=True
            )
        if self._formatting or (self.features and ex_iterable.features != self.features):
            ex_iterable = FormattedExamplesIterable(ex_iterable, self._formatting, self.features)
        self._state_dict = {"examples_iterable": ex_iterable._init_state_dict(), "epoch": self.epoch}
        if self._starting_state_dict and self.epoch == self._starting_state_dict["epoch"]:
            ex_iterable.load_state_dict(self._starting_state_dict["examples_iterable"])
            self._state_dict["examples_iterable"] = ex_iterable._state_dict
        return ex_iterable

    def _split_for_node(self, ex_iterable):
        rank, world_size = self._distributed.rank, self._distributed.world_size
        strategy = self._distributed.strategy
        if strategy == "shards" and ex_iterable.num_shards < world_size:
            raise DataError(
                f"split_dataset_by_node(strategy='shards'): the dataset has num_shards={ex_iterable.num_shards} "
                f"< world_size={world_size}, so some nodes would get no shard; use strategy='examples'"
            )
        if strategy == "shards" or (strategy == "auto" and ex_iterable.num_shards % world_size == 0):
            return ex_iterable.shard_data_sources(num_shards=world_size, index=rank, contiguous=False)
        return StepExamplesIterable(ex_iterable, step=world_size, offset=rank)

    def _iter_examples(self, ex_iterable):
        if self._formatting and (ex_iterable.iter_arrow or self._formatting.is_table):
            format_type = self._formatting.format_type
            for _, pa_table in ex_iterable.iter_arrow():
                yield format_arrow_row(pa_table, format_type)
            return
        for _, example in ex_iterable:
            yield example

    def __iter__(self) -> Iterator[Any]:
        if "torch" in sys.modules:
            import torch.utils.data

            worker_info = torch.utils.data.get_worker_info()
            if isinstance(self, torch.utils.data.IterableDataset) and worker_info is not None:
                yield from self._iter_pytorch(worker_info)
                return
        yield from self._iter_examples(self._prepare_ex_iterable_for_iteration())

    def _iter_pytorch(self, worker_info):
        """Inside a DataLoader worker: read only this worker's shards (every num_workers-th shard)."""
        ex_iterable = self._prepare_ex_iterable_for_iteration()
        num_workers, worker_id = worker_info.num_workers, worker_info.id
        if ex_iterable.num_shards < num_workers and worker_id == 0:
            logger.warning(
                "Too many DataLoader workers: %d (the dataset has num_shards=%d); %d workers will get no data. "
                "Use more shards (files, or gen_kwargs lists) or fewer workers.",
                num_workers, ex_iterable.num_shards, num_workers - ex_iterable.num_shards,
            )
        if not ex_iterable.split_shard_indices_by_worker(num_workers, worker_id, contiguous=False):
            return
        ex_iterable = ex_iterable.shard_data_sources(num_workers, worker_id, contiguous=False)
        ex_iterable = shift_ex_examples_rngs(ex_iterable, worker_id)
        self._state_dict = {"examples_iterable": ex_iterable._init_state_dict(), "epoch": self.epoch}
        if self._starting_state_dict and self.epoch == self._starting_state_dict["epoch"]:
            ex_iterable.load_state_dict(self._starting_state_dict["examples_iterable"])
            self._state_dict["examples_iterable"] = ex_iterable._state_dict
        yield from self._iter_examples(ex_iterable)

    def iter(self, batch_size: int, drop_last_batch: bool = False) -> Iterator[Any]:
        """Iterate batches (dicts of columns, formatted) of `batch_size` examples.

        >>> ds = IterableDataset.from_generator(lambda: ({"x": i} for i in range(5)))
        >>> list(ds.iter(batch_size=2))
        [{'x': [0, 1]}, {'x': [2, 3]}, {'x': [4]}]
        """
        format_type = self._formatting.format_type if self._formatting else None
        ex_iterable = self._prepare_ex_iterable_for_iteration(batch_size, drop_last_batch)
        if self._formatting and (ex_iterable.iter_arrow or self._formatting.is_table):
            for _, pa_table in ex_iterable.iter_arrow():
                yield format_arrow_batch(pa_table, format_type)
            return
        iterator = iter(ex_iterable)
        for _, example in iterator:
            examples = [example] + [e for _, e in islice(iterator, batch_size - 1)]
            if drop_last_batch and len(examples) < batch_size:
                return
            batch = examples_to_batch(examples)
            if self._formatting and self._formatting.is_tensor:
                batch = tensorize_python(batch, format_type, is_batch=True)
            yield batch

    def __getitem__(self, column_name: str) -> IterableColumn:
        return IterableColumn(self, column_name)

    def _head(self, n: int = 5) -> dict:
        return next(iter(self.iter(batch_size=n)))

    def take_list(self, n: int) -> list:
        return list(self.take(n))

    def to_list(self) -> list:
        """All examples as a list of dicts (reads the whole stream)."""
        return list(self.with_format(None))

    # ------------------------------------------------------------------ constructors

    @staticmethod
    def from_generator(generator: Callable, features=None, gen_kwargs: dict | None = None,
                       split: str = "train") -> IterableDataset:
        """Stream the examples `generator(**gen_kwargs)` yields; list values of `gen_kwargs` are shards.

        >>> def gen(paths):
        ...     for path in paths:
        ...         yield {"path": path}
        >>> IterableDataset.from_generator(gen, gen_kwargs={"paths": ["a", "b", "c"]}).num_shards
        3
        """
        if not callable(generator):
            raise DataError(f"from_generator: generator must be callable, got {type(generator).__name__}")
        gen_kwargs = dict(gen_kwargs or {})
        number_of_shards(gen_kwargs)  # fail now, not at the first iteration, on ambiguous shard lists
        ex_iterable = ExamplesIterable(partial(_generate_examples_from_generator, generator), gen_kwargs)
        return IterableDataset(ex_iterable, info=_new_info(features), split=split)

    @staticmethod
    def from_arrow_tables(generate_tables: Callable, gen_kwargs: dict | None = None, features=None, info=None,
                          split=None) -> IterableDataset:
        """Stream the `(key, pa.Table)` pairs `generate_tables(**gen_kwargs)` yields (list values are shards).

        This is the seam `load_dataset(..., streaming=True)` uses for file builders.
        """
        if info is None:
            info = _new_info(features)
        elif features is not None:
            info = copy.deepcopy(info)
            info.features = features
        return IterableDataset(ArrowExamplesIterable(generate_tables, dict(gen_kwargs or {})), info=info, split=split)

    @classmethod
    def from_dict(cls, mapping: dict, features=None, info=None, split=None, num_shards: int = 1):
        """In-memory columns streamed in `num_shards` shards (via `Dataset.from_dict`)."""
        from snuggle.data.arrow_dataset import Dataset

        ds = Dataset.from_dict(mapping, features=features, info=info, split=split)
        return dataset_to_iterable_dataset(ds, num_shards=num_shards)

    @classmethod
    def from_list(cls, mapping: list[dict], features=None, info=None, split=None, num_shards: int = 1):
        from snuggle.data.arrow_dataset import Dataset

        ds = Dataset.from_list(mapping, features=features, info=info, split=split)
        return dataset_to_iterable_dataset(ds, num_shards=num_shards)

    @classmethod
    def from_pandas(cls, df, features=None, info=None, split=None, preserve_index=None, num_shards: int = 1):
        from snuggle.data.arrow_dataset import Dataset

        ds = Dataset.from_pandas(df, features=features, info=info, split=split, preserve_index=preserve_index)
        return dataset_to_iterable_dataset(ds, num_shards=num_shards)

    # ------------------------------------------------------------------ transforms

    def with_format(self, type: str | None = None) -> IterableDataset:
        """Output format of the examples: None (Python), "numpy", "torch", "arrow" or "pandas"."""
        return self._new(self._ex_iterable, info=copy.deepcopy(self._info),
                         formatting=FormattingConfig(_canonical_format(type)))

    def map(self, function: Callable | None = None, with_indices: bool = False, input_columns=None,
            batched: bool = False, batch_size: int | None = 1000, drop_last_batch: bool = False,
            remove_columns=None, features=None, fn_kwargs: dict | None = None) -> IterableDataset:
        """Apply `function` on the fly (per example, or per batch with `batched=True`).

        The output columns are unknown afterwards (`features` is None) unless `features=` is given.

        >>> ds = IterableDataset.from_generator(lambda: ({"x": i} for i in range(3)))
        >>> [e["y"] for e in ds.map(lambda b: {"y": [v + 1 for v in b["x"]]}, batched=True)]
        [1, 2, 3]
        """
        if isinstance(input_columns, str):
            input_columns = [input_columns]
        if isinstance(remove_columns, str):
            remove_columns = [remove_columns]
        function = function if function is not None else (lambda x: x)
        ex_iterable = self._ex_iterable
        # Apply the declared features first unless the chain already produces them.
        input_features = None if (
            ex_iterable.is_typed and (self.features is None or self.features == ex_iterable.features)
        ) else self.features
        rebatch_size = batch_size if batched else 1
        if self._formatting and self._formatting.is_table:
            ex_iterable = FormattedExamplesIterable(ex_iterable, copy.deepcopy(self._formatting), input_features)
            ex_iterable = RebatchedArrowExamplesIterable(ex_iterable, rebatch_size, drop_last_batch,
                                                         force_convert_to_arrow=True)
        elif self._formatting or input_features:
            if ex_iterable.iter_arrow:
                ex_iterable = RebatchedArrowExamplesIterable(ex_iterable, rebatch_size, drop_last_batch)
            ex_iterable = FormattedExamplesIterable(ex_iterable, copy.deepcopy(self._formatting), input_features,
                                                    force_convert_to_python=True)
        ex_iterable = MappedExamplesIterable(
            ex_iterable, function, with_indices=with_indices, input_columns=input_columns, batched=batched,
            batch_size=batch_size, drop_last_batch=drop_last_batch, remove_columns=remove_columns,
            fn_kwargs=fn_kwargs, formatting=self._formatting, features=features,
        )
        info = copy.deepcopy(self._info)
        info.features = features
        return self._new(ex_iterable, info=info)

    def filter(self, function: Callable | None = None, with_indices: bool = False, input_columns=None,
               batched: bool = False, batch_size: int | None = 1000, fn_kwargs: dict | None = None):
        """Keep the examples for which `function` returns True (a list of bools per batch when `batched`).

        >>> ds = IterableDataset.from_generator(lambda: ({"x": i} for i in range(5)))
        >>> [e["x"] for e in ds.filter(lambda e: e["x"] % 2 == 0)]
        [0, 2, 4]
        """
        if isinstance(input_columns, str):
            input_columns = [input_columns]
        if function is None:
            function = (lambda *args, **kwargs: [True] * len(next(iter(args[0].values())))) if batched else (
                lambda *args, **kwargs: True)
        ex_iterable = self._ex_iterable
        features = ex_iterable.features if ex_iterable.is_typed else self.features
        rebatch_size = batch_size if batched else 1
        if self._formatting and self._formatting.is_table:
            ex_iterable = FormattedExamplesIterable(ex_iterable, copy.deepcopy(self._formatting), features)
            ex_iterable = RebatchedArrowExamplesIterable(ex_iterable, rebatch_size, force_convert_to_arrow=True)
        elif self.features or self._formatting:
            if ex_iterable.iter_arrow:
                # Re-batch first so a non-batched filter never reads a whole table ahead (exact resume).
                ex_iterable = RebatchedArrowExamplesIterable(ex_iterable, rebatch_size)
            ex_iterable = FormattedExamplesIterable(ex_iterable, self._formatting, features)
        ex_iterable = FilteredExamplesIterable(
            ex_iterable, function, with_indices=with_indices, input_columns=input_columns, batched=batched,
            batch_size=batch_size, fn_kwargs=fn_kwargs, formatting=self._formatting,
        )
        return self._new(ex_iterable)

    def shuffle(self, seed: int | None = None, generator=None, buffer_size: int = 1000,
                max_buffer_input_shards: int = 10) -> IterableDataset:
        """Shuffle the shard order and the examples through a buffer of `buffer_size` (reference draws).

        >>> ds = IterableDataset.from_generator(lambda: ({"x": i} for i in range(5)))
        >>> sorted(e["x"] for e in ds.shuffle(seed=42, buffer_size=3))
        [0, 1, 2, 3, 4]
        """
        import numpy as np

        generator = np.random.default_rng(seed) if generator is None else copy.deepcopy(generator)
        ex_iterable = self._ex_iterable
        try:
            ex_iterable = ex_iterable.shuffle_data_sources(generator)
        except DataSourcesShufflingDisallowed:
            max_buffer_input_shards = 1
        if ex_iterable.iter_arrow:
            ex_iterable = RebatchedArrowExamplesIterable(
                ex_iterable, batch_size=max(1, buffer_size // max(1, max_buffer_input_shards))
            )
        if max_buffer_input_shards > 1:
            ex_iterable = InterleavedShardsExamplesIterable(ex_iterable, max_buffer_input_shards)
        ex_iterable = BufferShuffledExamplesIterable(ex_iterable, buffer_size=buffer_size, generator=generator)
        return self._new(ex_iterable, info=copy.deepcopy(self._info))

    def skip(self, n: int) -> IterableDataset:
        """Drop the first `n` examples."""
        return self._new(SkipExamplesIterable(self._ex_iterable, n, split_when_sharding=self._distributed is None),
                         info=copy.deepcopy(self._info))

    def take(self, n: int) -> IterableDataset:
        """Only the first `n` examples.

        >>> list(IterableDataset.from_generator(lambda: ({"x": i} for i in range(5))).take(2))
        [{'x': 0}, {'x': 1}]
        """
        return self._new(TakeExamplesIterable(self._ex_iterable, n, split_when_sharding=self._distributed is None),
                         info=copy.deepcopy(self._info))

    def repeat(self, num_times: int | None) -> IterableDataset:
        """Iterate `num_times` times (forever with None)."""
        return self._new(RepeatExamplesIterable(self._ex_iterable, num_times))

    def shard(self, num_shards: int, index: int, contiguous: bool = True) -> IterableDataset:
        """Keep the `index`-th of `num_shards` groups of shards."""
        return self._new(self._ex_iterable.shard_data_sources(num_shards, index, contiguous=contiguous),
                         info=copy.deepcopy(self._info))

    def _step(self, step: int, offset: int) -> IterableDataset:
        return self._new(StepExamplesIterable(self._ex_iterable, step, offset), info=copy.deepcopy(self._info))

    def add_column(self, name: str, column) -> IterableDataset:
        return self.map(partial(_add_column_fn, name=name, column=column), with_indices=True)

    def rename_column(self, original_column_name: str, new_column_name: str) -> IterableDataset:
        return self.rename_columns({original_column_name: new_column_name})

    def rename_columns(self, column_mapping: dict[str, str]) -> IterableDataset:
        """Rename columns; their features move to the new names."""
        original = self.features.copy() if self.features else None
        ds = self.map(partial(_rename_columns_fn, column_mapping=column_mapping), remove_columns=list(column_mapping))
        if original is not None:
            from snuggle.data.features import Features

            ds._info.features = Features({column_mapping.get(c, c): f for c, f in original.items()})
        return ds

    def remove_columns(self, column_names) -> IterableDataset:
        """Drop columns on the fly."""
        if isinstance(column_names, str):
            column_names = [column_names]
        if self.features is not None:
            missing = [c for c in column_names if c not in self.features]
            if missing:
                raise DataError(f"remove_columns: columns {missing} are not in the dataset; it has {list(self.features)}")
        original = self.features.copy() if self.features else None
        ds = self.map(remove_columns=column_names)
        if original is not None:
            for column in column_names:
                original.pop(column, None)
            ds._info.features = original
        return ds

    def select_columns(self, column_names) -> IterableDataset:
        """Keep only `column_names`, in that order."""
        if isinstance(column_names, str):
            column_names = [column_names]
        info = copy.deepcopy(self._info)
        if self.features is not None:
            missing = [c for c in column_names if c not in self.features]
            if missing:
                raise DataError(f"select_columns: columns {missing} are not in the dataset; it has {list(self.features)}")
            from snuggle.data.features import Features

            info.features = Features({c: self.features[c] for c in column_names})
        return self._new(SelectColumnsIterable(self._ex_iterable, column_names), info=info)

    def cast_column(self, column: str, feature) -> IterableDataset:
        """Declare (and convert on the fly to) a new feature type for `column`."""
        info = copy.deepcopy(self._info)
        if info.features is None:
            raise DataError("cast_column: the features are unknown (e.g. after map); use cast(features) instead")
        info.features[column] = feature
        return self._new(self._ex_iterable, info=info)

    def cast(self, features) -> IterableDataset:
        """Convert the examples on the fly to `features`."""
        info = copy.deepcopy(self._info)
        info.features = features
        return self._new(self._ex_iterable, info=info)

    def batch(self, batch_size: int, drop_last_batch: bool = False) -> IterableDataset:
        """Group examples: each new example is a dict of lists of `batch_size` values.

        >>> ds = IterableDataset.from_generator(lambda: ({"x": i} for i in range(3)))
        >>> list(ds.batch(2))
        [{'x': [0, 1]}, {'x': [2]}]
        """
        features = None
        if self.features:
            from snuggle.data.features import Features, List

            features = Features({column: List(feature) for column, feature in self.features.items()})
        return self.map(_batch_fn, batched=True, batch_size=batch_size, drop_last_batch=drop_last_batch,
                        features=features)

    def _resolve_features(self) -> IterableDataset:
        """This dataset with known features (inferred from the first examples when needed)."""
        if self.features is not None:
            return self
        if self._ex_iterable.is_typed:
            features = self._ex_iterable.features
        else:
            import pyarrow as pa

            from snuggle.data.features import Features

            features = Features.from_arrow_schema(pa.Table.from_pydict(self.with_format(None)._head()).schema)
        info = copy.deepcopy(self._info)
        info.features = features
        return self._new(self._ex_iterable, info=info)


from snuggle.data.iterable_combine import (
    IterableDatasetDict,
    _concatenate_iterable_datasets,
    _interleave_iterable_datasets,
)

__all__ = [
    "DistributedConfig",
    "IterableColumn",
    "IterableDataset",
    "IterableDatasetDict",
    "_concatenate_iterable_datasets",
    "_interleave_iterable_datasets",
    "dataset_to_iterable_dataset",
]
