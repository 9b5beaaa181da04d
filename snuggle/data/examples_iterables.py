"""The building blocks of a streaming `IterableDataset`: small iterables of `(key, example)` pairs.

An `IterableDataset` holds one chain of these objects (source -> skip -> shuffle -> map -> ...). Each block:

- iterates examples (`__iter__`, dicts) and, when its input can, Arrow tables (`iter_arrow()`), which keeps
  columnar data columnar until the user sees it;
- knows its shards (`num_shards`) and can keep a subset of them (`shard_data_sources`, used for DataLoader
  workers and nodes) or shuffle their order (`shuffle_data_sources`, numpy Generator, same draws as the reference);
- records its position in a plain dict while it iterates (`_init_state_dict` / `state_dict` /
  `load_state_dict`), so a stream can resume mid-way. The dicts of nested blocks are shared: the parent's state
  contains the child's live state object, and `load_state_dict` updates them in place.

The multi-source blocks (interleave, concatenate) live in `multi_source_iterables.py`, map / filter / formatting
in `mapped_iterables.py`, the shuffle buffer in `shuffling_iterables.py`.

>>> source = ExamplesIterable(lambda n: ((i, {"x": i}) for i in range(n)), {"n": 3})
>>> [example for _, example in TakeExamplesIterable(source, 2)]
[{'x': 0}, {'x': 1}]
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from snuggle.data.sharding import (
    merge_gen_kwargs,
    number_of_shards,
    shuffle_gen_kwargs,
    split_gen_kwargs,
    split_shard_indices,
)

logger = logging.getLogger(__name__)


class DataSourcesShufflingDisallowed(Exception):
    """Raised by skip() / take() blocks: they fix the shard order (shuffling it would change which rows they keep)."""


def table_to_examples(pa_table) -> Iterator[dict]:
    """Python rows of an Arrow table, converted one record batch at a time (bounded memory)."""
    for batch in pa_table.to_batches(max_chunksize=10):
        yield from batch.to_pylist()


def examples_to_batch(examples: list[dict]) -> dict[str, list]:
    """Rows -> columns; columns ordered by first appearance, a row without a column gives None."""
    columns = {column: None for example in examples for column in example}
    return {column: [example.get(column) for example in examples] for column in columns}


def batch_to_examples(batch: dict[str, list]) -> Iterator[dict]:
    """Columns -> rows (the row count is the length of the first column)."""
    if not batch:
        return
    num_rows = len(next(iter(batch.values())))
    for i in range(num_rows):
        yield {column: values[i] for column, values in batch.items()}


def examples_to_tables(iterable, batch_size: int | None, drop_last_batch: bool = False):
    """Group `(key, example)` pairs into `(key, pa.Table)` of `batch_size` rows (all rows if batch_size <= 0)."""
    import pyarrow as pa

    if batch_size is None or batch_size <= 0:
        yield "all", pa.Table.from_pylist([example for _, example in iterable])
        return
    iterator = iter(iterable)
    for key, example in iterator:
        pairs = [(key, example)] + list(islice(iterator, batch_size - 1))
        if drop_last_batch and len(pairs) < batch_size:
            return
        yield "_".join(str(k) for k, _ in pairs), pa.Table.from_pylist([e for _, e in pairs])


def _load_into(live, saved):
    """Copy `saved` into the live state structure `live` in place (keeps nested dicts shared with children)."""
    if saved is not None and isinstance(live, dict):
        for key in saved:
            live[key] = _load_into(live.get(key), saved[key])
        return live
    if saved is not None and isinstance(live, list) and isinstance(saved, list) and len(live) == len(saved):
        for i in range(len(live)):
            live[i] = _load_into(live[i], saved[i])
        return live
    return copy.deepcopy(saved)


class BaseExamplesIterable:
    """One block of a streaming pipeline; see the module docstring for the protocol."""

    def __init__(self) -> None:
        self._state_dict: dict | None = None

    def __iter__(self) -> Iterator[tuple[Any, dict]]:
        raise NotImplementedError(f"{type(self).__name__} does not implement __iter__")

    @property
    def iter_arrow(self) -> Callable[[], Iterator] | None:
        """A callable iterating `(key, pa.Table)` pairs, or None when the data is not Arrow-backed."""
        return None

    @property
    def is_typed(self) -> bool:
        """True when the examples already follow `features` (no need to re-apply them)."""
        return False

    @property
    def features(self):
        return None

    @property
    def num_shards(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not implement num_shards")

    def shuffle_data_sources(self, generator) -> BaseExamplesIterable:
        raise NotImplementedError(f"{type(self).__name__} does not implement shuffle_data_sources")

    def shard_data_sources(self, num_shards: int, index: int, contiguous: bool = True) -> BaseExamplesIterable:
        raise NotImplementedError(f"{type(self).__name__} does not implement shard_data_sources")

    def split_shard_indices_by_worker(self, num_shards: int, index: int, contiguous: bool = True) -> list[int]:
        return split_shard_indices(self.num_shards, num_shards, index, contiguous)

    def _init_state_dict(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} does not implement _init_state_dict")

    def load_state_dict(self, state_dict: dict) -> dict:
        self._init_state_dict()
        return _load_into(self._state_dict, state_dict)

    def state_dict(self) -> dict:
        if self._state_dict is None:
            raise RuntimeError("the state dict is not initialized: call _init_state_dict() first")
        return copy.deepcopy(self._state_dict)


class _WrappingExamplesIterable(BaseExamplesIterable):
    """A block with one input block `ex_iterable`; shard / shuffle requests go to the input, then re-wrap."""

    def __init__(self, ex_iterable: BaseExamplesIterable):
        super().__init__()
        self.ex_iterable = ex_iterable

    @property
    def is_typed(self) -> bool:
        return self.ex_iterable.is_typed

    @property
    def features(self):
        return self.ex_iterable.features

    @property
    def num_shards(self) -> int:
        return self.ex_iterable.num_shards

    def _rewrap(self, ex_iterable: BaseExamplesIterable) -> BaseExamplesIterable:
        new = copy.copy(self)
        new._state_dict = None
        new.ex_iterable = ex_iterable
        return new

    def shuffle_data_sources(self, generator) -> BaseExamplesIterable:
        return self._rewrap(self.ex_iterable.shuffle_data_sources(generator))

    def shard_data_sources(self, num_shards: int, index: int, contiguous: bool = True) -> BaseExamplesIterable:
        return self._rewrap(self.ex_iterable.shard_data_sources(num_shards, index, contiguous=contiguous))


# --------------------------------------------------------------------------- sources


class ExamplesIterable(BaseExamplesIterable):
    """Source block: `generate_examples_fn(**gen_kwargs)` yields `(key, example)`; list values of `kwargs` are shards."""

    def __init__(self, generate_examples_fn: Callable[..., Iterator[tuple[Any, dict]]], kwargs: dict,
                 no_shards: bool = False):
        super().__init__()
        self.generate_examples_fn = generate_examples_fn
        self.kwargs = kwargs
        # True for the part of a worker that was given no shard at all: it iterates nothing.
        self.no_shards = no_shards

    @property
    def num_shards(self) -> int:
        return 0 if self.no_shards else number_of_shards(self.kwargs)

    def _shards(self) -> list[dict]:
        return [] if self.no_shards else split_gen_kwargs(self.kwargs, self.num_shards)

    def _init_state_dict(self) -> dict:
        self._state_dict = {"shard_idx": 0, "shard_example_idx": 0, "type": type(self).__name__}
        return self._state_dict

    def __iter__(self):
        state = self._state_dict
        first_shard = state["shard_idx"] if state else 0
        for gen_kwargs in islice(self._shards(), first_shard, None):
            first_example = state["shard_example_idx"] if state else 0
            for key_example in islice(self.generate_examples_fn(**gen_kwargs), first_example, None):
                if state:
                    state["shard_example_idx"] += 1
                yield key_example
            if state:
                state["shard_idx"] += 1
                state["shard_example_idx"] = 0

    def shuffle_data_sources(self, generator) -> ExamplesIterable:
        return type(self)(
            self.generate_examples_fn, shuffle_gen_kwargs(copy.deepcopy(generator), self.kwargs), self.no_shards
        )

    def shard_data_sources(self, num_shards: int, index: int, contiguous: bool = True) -> ExamplesIterable:
        per_shard = self._shards()
        kept = self.split_shard_indices_by_worker(num_shards, index, contiguous)
        if not kept:
            return type(self)(self.generate_examples_fn, self.kwargs, no_shards=True)
        return type(self)(self.generate_examples_fn, merge_gen_kwargs([per_shard[i] for i in kept]))


class ArrowExamplesIterable(ExamplesIterable):
    """Source block whose function yields `(key, pa.Table)`: iterates tables natively, rows on demand."""

    def __init__(self, generate_tables_fn: Callable[..., Iterator[tuple[Any, Any]]], kwargs: dict,
                 no_shards: bool = False):
        super().__init__(generate_tables_fn, kwargs, no_shards=no_shards)

    @property
    def generate_tables_fn(self):
        return self.generate_examples_fn

    @property
    def iter_arrow(self):
        return self._iter_arrow

    def _iter_arrow(self):
        state = self._state_dict
        first_shard = state["shard_idx"] if state else 0
        for gen_kwargs in islice(self._shards(), first_shard, None):
            rows_to_skip = state["shard_example_idx"] if state else 0
            for key, pa_table in self.generate_tables_fn(**gen_kwargs):
                if rows_to_skip >= len(pa_table):
                    rows_to_skip -= len(pa_table)
                    continue
                if rows_to_skip:
                    pa_table = pa_table.slice(rows_to_skip)
                    rows_to_skip = 0
                if state:
                    state["shard_example_idx"] += len(pa_table)
                yield key, pa_table
            if state:
                state["shard_idx"] += 1
                state["shard_example_idx"] = 0

    def __iter__(self):
        state = self._state_dict
        first_shard = state["shard_idx"] if state else 0
        for gen_kwargs in islice(self._shards(), first_shard, None):
            rows_to_skip = state["shard_example_idx"] if state else 0
            for key, pa_table in self.generate_tables_fn(**gen_kwargs):
                if rows_to_skip >= len(pa_table):
                    rows_to_skip -= len(pa_table)
                    continue
                if rows_to_skip:
                    pa_table = pa_table.slice(rows_to_skip)
                    rows_to_skip = 0
                for example in table_to_examples(pa_table):
                    if state:
                        state["shard_example_idx"] += 1
                    yield key, example
            if state:
                state["shard_idx"] += 1
                state["shard_example_idx"] = 0


# --------------------------------------------------------------------------- re-batching


class RebatchedArrowExamplesIterable(_WrappingExamplesIterable):
    """Re-cut the input's Arrow tables into tables of exactly `batch_size` rows (the last one may be shorter).

    State: the input's state before the table being cut (`previous_state`) and how many of that table's rows
    were already emitted, so a resume re-reads one input table and drops the emitted rows.
    """

    def __init__(self, ex_iterable, batch_size: int | None, drop_last_batch: bool = False,
                 force_convert_to_arrow: bool = False):
        super().__init__(ex_iterable)
        self.batch_size = batch_size
        self.drop_last_batch = drop_last_batch
        self.force_convert_to_arrow = force_convert_to_arrow

    @property
    def iter_arrow(self):
        return self._iter_arrow if (self.ex_iterable.iter_arrow or self.force_convert_to_arrow) else None

    def _init_state_dict(self) -> dict:
        self._state_dict = {
            "examples_iterable": self.ex_iterable._init_state_dict(),
            "previous_state": None,
            "rows_emitted_since_previous_state": 0,
            "batch_idx": 0,
            "type": type(self).__name__,
        }
        return self._state_dict

    def __iter__(self):
        yield from self.ex_iterable

    def _input_tables(self):
        if self.ex_iterable.iter_arrow:
            return self.ex_iterable.iter_arrow()
        return examples_to_tables(self.ex_iterable, batch_size=1)

    def _iter_arrow(self):
        import pyarrow as pa

        state = self._state_dict
        rows_to_skip = 0
        if state and state["previous_state"] is not None:
            self.ex_iterable.load_state_dict(state["previous_state"])
            rows_to_skip = state["rows_emitted_since_previous_state"]
        if self.batch_size is None or self.batch_size <= 0:
            if state and state["batch_idx"] > 0:
                return
            tables = [table for _, table in self._input_tables()]
            if state:
                state["batch_idx"] = 1
            yield "all", pa.concat_tables(tables) if tables else pa.table({})
            return
        snapshot = self.ex_iterable.state_dict() if state else None  # input position before the current table
        emitted_in_table = rows_to_skip
        keys, chunks, buffered = [], [], 0
        for key, table in self._input_tables():
            if rows_to_skip:
                skip = min(rows_to_skip, len(table))
                table = table.slice(skip)
                rows_to_skip -= skip
            offset = 0
            while offset < len(table):
                take = min(self.batch_size - buffered, len(table) - offset)
                keys.append(key)
                chunks.append(table.slice(offset, take))
                buffered += take
                offset += take
                if buffered == self.batch_size:
                    if state:
                        state["batch_idx"] += 1
                        state["previous_state"] = snapshot
                        state["rows_emitted_since_previous_state"] = emitted_in_table + offset
                    yield "_".join(str(k) for k in keys), pa.concat_tables(chunks)
                    keys, chunks, buffered = [], [], 0
            if state:
                snapshot = self.ex_iterable.state_dict()
                emitted_in_table = 0
                if not chunks:
                    # Nothing pending: the next resume can start after this table.
                    state["previous_state"] = snapshot
                    state["rows_emitted_since_previous_state"] = 0
        if chunks and not self.drop_last_batch:
            if state:
                state["batch_idx"] += 1
                state["previous_state"] = snapshot
                state["rows_emitted_since_previous_state"] = 0
            yield "_".join(str(k) for k in keys), pa.concat_tables(chunks)
        elif state:
            state["previous_state"] = self.ex_iterable.state_dict()
            state["rows_emitted_since_previous_state"] = 0


# --------------------------------------------------------------------------- column and row selection


class SelectColumnsIterable(_WrappingExamplesIterable):
    """Keep only `column_names`, in that order."""

    def __init__(self, ex_iterable, column_names: list[str]):
        super().__init__(ex_iterable)
        self.column_names = column_names

    @property
    def iter_arrow(self):
        return self._iter_arrow if self.ex_iterable.iter_arrow else None

    def _init_state_dict(self) -> dict:
        self._state_dict = self.ex_iterable._init_state_dict()
        return self._state_dict

    def __iter__(self):
        for key, example in self.ex_iterable:
            yield key, {column: example[column] for column in self.column_names}

    def _iter_arrow(self):
        for key, pa_table in self.ex_iterable.iter_arrow():
            if len(pa_table) > 0:  # an empty table may lack columns
                yield key, pa_table.select(self.column_names)


class StepExamplesIterable(_WrappingExamplesIterable):
    """Every `step`-th example starting at `offset` (how split_dataset_by_node splits examples between nodes)."""

    def __init__(self, ex_iterable, step: int, offset: int):
        super().__init__(ex_iterable)
        self.step = step
        self.offset = offset

    @property
    def iter_arrow(self):
        return self._iter_arrow if self.ex_iterable.iter_arrow else None

    def _init_state_dict(self) -> dict:
        self._state_dict = {
            "examples_iterable": self.ex_iterable._init_state_dict(),
            "stepped": 0,
            "type": type(self).__name__,
        }
        return self._state_dict

    def __iter__(self):
        # A whole group of `step` examples is read before its kept example is yielded, so the input's state
        # after a yield is the start of the next group: resuming needs no state of our own.
        iterator = iter(self.ex_iterable)
        while True:
            group = list(islice(iterator, self.step))
            if len(group) <= self.offset:
                return
            yield group[self.offset]

    def _iter_arrow(self):
        import pyarrow as pa

        stepped = self._state_dict["stepped"] if self._state_dict else 0
        for key, pa_table in self.ex_iterable.iter_arrow():
            first = (self.offset - stepped) % self.step
            kept = pa_table.take(pa.array(range(first, len(pa_table), self.step), type=pa.int64()))
            stepped = (stepped + len(pa_table)) % self.step
            if self._state_dict:
                self._state_dict["stepped"] = stepped
            yield key, kept


def split_number(num: int, parts: int) -> list[int]:
    """`num` split into `parts` integers differing by at most one, larger first: split_number(5, 2) == [3, 2]."""
    quotient, remainder = divmod(num, parts)
    return [quotient + (i < remainder) for i in range(parts)]


class SkipExamplesIterable(_WrappingExamplesIterable):
    """Drop the first `n` examples. Blocks shard shuffling (it would change which examples are dropped)."""

    def __init__(self, ex_iterable, n: int, block_sources_order_when_shuffling: bool = True,
                 split_when_sharding: bool = True):
        super().__init__(ex_iterable)
        self.n = n
        self.block_sources_order_when_shuffling = block_sources_order_when_shuffling
        self.split_when_sharding = split_when_sharding

    @property
    def iter_arrow(self):
        return self._iter_arrow if self.ex_iterable.iter_arrow else None

    def _init_state_dict(self) -> dict:
        self._state_dict = {
            "skipped": 0,
            "examples_iterable": self.ex_iterable._init_state_dict(),
            "type": type(self).__name__,
        }
        return self._state_dict

    def __iter__(self):
        skipped = self._state_dict["skipped"] if self._state_dict else 0
        for key_example in self.ex_iterable:
            if skipped < self.n:
                skipped += 1
                if self._state_dict:
                    self._state_dict["skipped"] = skipped
                continue
            yield key_example

    def _iter_arrow(self):
        skipped = self._state_dict["skipped"] if self._state_dict else 0
        for key, pa_table in self.ex_iterable.iter_arrow():
            if len(pa_table) == 0:
                continue
            if skipped < self.n:
                drop = min(self.n - skipped, len(pa_table))
                skipped += drop
                if self._state_dict:
                    self._state_dict["skipped"] = skipped
                pa_table = pa_table.slice(drop)
                if len(pa_table) == 0:
                    continue
            yield key, pa_table

    def shuffle_data_sources(self, generator):
        if self.block_sources_order_when_shuffling:
            raise DataSourcesShufflingDisallowed()
        return super().shuffle_data_sources(generator)

    def shard_data_sources(self, num_shards: int, index: int, contiguous: bool = True):
        new = super().shard_data_sources(num_shards, index, contiguous)
        if self.split_when_sharding:
            # With more workers than shards only the first `num_sources` workers get data; they share `n`.
            num_sources = min(num_shards, self.num_shards)
            new.n = split_number(self.n, num_sources)[index] if index < num_sources else 0
        return new


class TakeExamplesIterable(SkipExamplesIterable):
    """Keep only the first `n` examples. Blocks shard shuffling like skip()."""

    def _init_state_dict(self) -> dict:
        self._state_dict = {
            "taken": 0,
            "examples_iterable": self.ex_iterable._init_state_dict(),
            "type": type(self).__name__,
        }
        return self._state_dict

    def __iter__(self):
        taken = self._state_dict["taken"] if self._state_dict else 0
        if taken >= self.n:
            return
        for key_example in self.ex_iterable:
            taken += 1
            if self._state_dict:
                self._state_dict["taken"] = taken
            yield key_example
            if taken >= self.n:
                return

    def _iter_arrow(self):
        taken = self._state_dict["taken"] if self._state_dict else 0
        if taken >= self.n:
            return
        for key, pa_table in self.ex_iterable.iter_arrow():
            if len(pa_table) == 0:
                continue
            pa_table = pa_table.slice(0, self.n - taken)
            taken += len(pa_table)
            if self._state_dict:
                self._state_dict["taken"] = taken
            yield key, pa_table
            if taken >= self.n:
                return


class RepeatExamplesIterable(_WrappingExamplesIterable):
    """Iterate the input `num_times` times (forever if None; an empty input stops)."""

    def __init__(self, ex_iterable, num_times: int | None):
        super().__init__(ex_iterable)
        self.num_times = num_times

    @property
    def iter_arrow(self):
        return self._iter_arrow if self.ex_iterable.iter_arrow else None

    def _init_state_dict(self) -> dict:
        self._state_dict = {
            "repeat_index": 0,
            "examples_iterable": self.ex_iterable._init_state_dict(),
            "type": type(self).__name__,
        }
        return self._state_dict

    def _repeat(self, iterate):
        repeat_index = self._state_dict["repeat_index"] if self._state_dict else 0
        first_pass = True
        while self.num_times is None or repeat_index < max(self.num_times, 0):
            produced = False
            for item in iterate():
                produced = True
                yield item
            # The first pass may resume at the very end of a non-empty input: only a full empty pass stops.
            if self.num_times is None and not produced and not first_pass:
                return
            first_pass = False
            repeat_index += 1
            if self._state_dict:
                self._state_dict["repeat_index"] = repeat_index
                self._state_dict["examples_iterable"] = self.ex_iterable._init_state_dict()

    def __iter__(self):
        return self._repeat(lambda: iter(self.ex_iterable))

    def _iter_arrow(self):
        return self._repeat(self.ex_iterable.iter_arrow)
