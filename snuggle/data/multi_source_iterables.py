"""Streaming blocks with several inputs: interleave (cycling or random) and concatenate (rows or columns).

They follow the protocol of `examples_iterables.BaseExamplesIterable`. The interleaving blocks read one example
ahead from each source to know when it is exhausted, so their saved state rewinds each source by that one
prefetched example (`previous_states`).

>>> from snuggle.data.examples_iterables import ExamplesIterable
>>> def numbers(start, n):
...     for i in range(n):
...         yield i, {"x": start + i}
>>> a, b = ExamplesIterable(numbers, {"start": 0, "n": 3}), ExamplesIterable(numbers, {"start": 10, "n": 2})
>>> [e["x"] for _, e in CyclingMultiSourcesExamplesIterable([a, b])]
[0, 10, 1, 11]
"""

from __future__ import annotations

import copy
from collections import Counter
from itertools import count, cycle, islice

from snuggle.data.examples_iterables import (
    BaseExamplesIterable,
    RebatchedArrowExamplesIterable,
)
from snuggle.errors import DataError

STOPPING_STRATEGIES = ("first_exhausted", "all_exhausted", "all_exhausted_without_replacement")
_EXHAUSTED = object()


class CyclingMultiSourcesExamplesIterable(BaseExamplesIterable):
    """Take one example from each source in turn.

    stopping_strategy: "first_exhausted" stops when any source ends; "all_exhausted" restarts ended sources until
    every source has ended at least once; "all_exhausted_without_replacement" skips ended sources until all ended.
    """

    def __init__(self, ex_iterables: list[BaseExamplesIterable], stopping_strategy: str = "first_exhausted"):
        super().__init__()
        if stopping_strategy not in STOPPING_STRATEGIES:
            raise DataError(f"stopping_strategy is {stopping_strategy!r}; expected one of {list(STOPPING_STRATEGIES)}")
        self.ex_iterables = ex_iterables
        self.stopping_strategy = stopping_strategy

    @property
    def is_typed(self):
        return self.ex_iterables[0].is_typed if self.ex_iterables else False

    @property
    def features(self):
        return self.ex_iterables[0].features if self.ex_iterables else None

    @property
    def iter_arrow(self):
        if self.ex_iterables and all(child.iter_arrow for child in self.ex_iterables):
            return self._iter_arrow
        return None

    @property
    def num_shards(self) -> int:
        return min(child.num_shards for child in self.ex_iterables) if self.ex_iterables else 0

    def _stop(self, is_exhausted: list[bool]) -> bool:
        if self.stopping_strategy == "first_exhausted":
            return any(is_exhausted)
        return all(is_exhausted)

    def _init_state_dict(self) -> dict:
        for child in self.ex_iterables:
            child._init_state_dict()
        self._state_dict = {
            "ex_iterable_idx": 0,
            "previous_states": [None] * len(self.ex_iterables),
            "is_exhausted": [False] * len(self.ex_iterables),
            "type": type(self).__name__,
        }
        return self._state_dict

    def _source_indices(self):
        """Infinite sequence of source indices; the state holds the index that comes next."""
        state = self._state_dict
        current = state["ex_iterable_idx"] if state else 0
        for following in islice(cycle(range(len(self.ex_iterables))), current + 1, None):
            if state:
                state["ex_iterable_idx"] = following
            yield current
            current = following

    def __iter__(self):
        return self._interleave(iter)

    def _iter_arrow(self):
        return self._interleave(lambda child: child.iter_arrow())

    def _interleave(self, open_source):
        num_sources = len(self.ex_iterables)
        if num_sources == 0:
            return
        state = self._state_dict
        if state:
            for i, saved in enumerate(state["previous_states"]):
                if saved is not None:
                    self.ex_iterables[i].load_state_dict(saved)
        iterators = [open_source(child) for child in self.ex_iterables]
        pending = [None] * num_sources  # the prefetched next item of each source (None: not fetched yet)
        is_exhausted = list(state["is_exhausted"]) if state else [False] * num_sources

        def fetch(i):
            # Remember where source i was before this item: resuming there re-reads the prefetched item.
            if state:
                state["previous_states"][i] = self.ex_iterables[i].state_dict()
            return next(iterators[i], _EXHAUSTED)

        for i in self._source_indices():
            if self._stop(is_exhausted):
                return
            if is_exhausted[i] and self.stopping_strategy == "all_exhausted_without_replacement":
                continue
            if pending[i] is None:
                pending[i] = fetch(i)
            result = pending[i]
            pending[i] = fetch(i)
            if pending[i] is _EXHAUSTED:
                is_exhausted[i] = True
                if state:
                    state["is_exhausted"][i] = True
                if self.stopping_strategy != "all_exhausted_without_replacement":
                    # Restart the source in case the stopping criterion is not met yet.
                    if state:
                        self.ex_iterables[i]._init_state_dict()
                        state["previous_states"][i] = None
                    iterators[i] = open_source(self.ex_iterables[i])
                    pending[i] = None
            if result is not _EXHAUSTED:
                yield result

    def shuffle_data_sources(self, generator):
        return CyclingMultiSourcesExamplesIterable(
            [child.shuffle_data_sources(generator) for child in self.ex_iterables], self.stopping_strategy
        )

    def _sharded_children(self, num_shards: int, index: int, contiguous: bool):
        if num_shards < self.num_shards:
            return [child.shard_data_sources(num_shards, index, contiguous) for child in self.ex_iterables]
        if index < self.num_shards:
            return [child.shard_data_sources(self.num_shards, index, contiguous) for child in self.ex_iterables]
        return []

    def shard_data_sources(self, num_shards: int, index: int, contiguous: bool = True):
        return CyclingMultiSourcesExamplesIterable(
            self._sharded_children(num_shards, index, contiguous), self.stopping_strategy
        )


class RandomlyCyclingMultiSourcesExamplesIterable(CyclingMultiSourcesExamplesIterable):
    """Pick the source of each example at random (numpy Generator, `probabilities` or uniform), as the reference.

    Source indices are drawn in batches of 1000 from a copy of `generator`; the state keeps the generator state
    at the start of the current batch and the offset inside it.
    """

    RANDOM_BATCH_SIZE = 1000

    def __init__(self, ex_iterables, generator, probabilities=None, stopping_strategy: str = "first_exhausted"):
        super().__init__(ex_iterables, stopping_strategy)
        self.generator = copy.deepcopy(generator)
        self.probabilities = probabilities

    def shift_rngs(self, value: int):
        import numpy as np

        new_seed = copy.deepcopy(self.generator).integers(0, 1 << 63) - value
        return RandomlyCyclingMultiSourcesExamplesIterable(
            self.ex_iterables, np.random.default_rng(new_seed), self.probabilities, self.stopping_strategy
        )

    def _init_state_dict(self) -> dict:
        for child in self.ex_iterables:
            child._init_state_dict()
        self._state_dict = {
            "bit_generator_state": self.generator.bit_generator.state,
            "bit_generator_index_offset": 0,
            "previous_states": [None] * len(self.ex_iterables),
            "is_exhausted": [False] * len(self.ex_iterables),
            "type": type(self).__name__,
        }
        return self._state_dict

    def _source_indices(self):
        rng = copy.deepcopy(self.generator)
        state = self._state_dict
        offset = state["bit_generator_index_offset"] if state else 0
        if state:
            rng.bit_generator.state = state["bit_generator_state"]
        num_sources = len(self.ex_iterables)
        while True:
            if self.probabilities is None:
                draws = rng.integers(0, num_sources, size=self.RANDOM_BATCH_SIZE)
            else:
                draws = rng.choice(num_sources, size=self.RANDOM_BATCH_SIZE, p=self.probabilities)
            for i in islice(draws, offset, None):
                offset = (offset + 1) % self.RANDOM_BATCH_SIZE
                if state:
                    state["bit_generator_index_offset"] = offset
                    if offset == 0:
                        state["bit_generator_state"] = rng.bit_generator.state
                yield int(i)

    def shuffle_data_sources(self, generator):
        return RandomlyCyclingMultiSourcesExamplesIterable(
            [child.shuffle_data_sources(generator) for child in self.ex_iterables],
            generator, self.probabilities, self.stopping_strategy,
        )

    def shard_data_sources(self, num_shards: int, index: int, contiguous: bool = True):
        return RandomlyCyclingMultiSourcesExamplesIterable(
            self._sharded_children(num_shards, index, contiguous),
            self.generator, self.probabilities, self.stopping_strategy,
        )


class VerticallyConcatenatedMultiSourcesExamplesIterable(BaseExamplesIterable):
    """All examples of the first source, then of the second, ... Missing columns are filled later by features."""

    def __init__(self, ex_iterables: list[BaseExamplesIterable]):
        super().__init__()
        self.ex_iterables = ex_iterables

    @property
    def is_typed(self):
        return self.ex_iterables[0].is_typed if self.ex_iterables else False

    @property
    def features(self):
        return self.ex_iterables[0].features if self.ex_iterables else None

    @property
    def iter_arrow(self):
        if all(child.iter_arrow is not None for child in self.ex_iterables):
            return self._iter_arrow
        return None

    @property
    def num_shards(self) -> int:
        return sum(child.num_shards for child in self.ex_iterables)

    def _init_state_dict(self) -> dict:
        self._state_dict = {
            "ex_iterable_idx": 0,
            "ex_iterables": [child._init_state_dict() for child in self.ex_iterables],
            "type": type(self).__name__,
        }
        return self._state_dict

    def _chain(self, open_source):
        start = self._state_dict["ex_iterable_idx"] if self._state_dict else 0
        for child in islice(self.ex_iterables, start, None):
            yield from open_source(child)
            if self._state_dict:
                self._state_dict["ex_iterable_idx"] += 1

    def __iter__(self):
        return self._chain(iter)

    def _iter_arrow(self):
        return self._chain(lambda child: child.iter_arrow())

    def _single_shards(self) -> list[BaseExamplesIterable]:
        return [
            child.shard_data_sources(num_shards=child.num_shards, index=index)
            for child in self.ex_iterables
            for index in range(child.num_shards)
        ]

    def shuffle_data_sources(self, generator):
        shards = self._single_shards()
        copy.deepcopy(generator).shuffle(shards)
        return VerticallyConcatenatedMultiSourcesExamplesIterable(shards)

    def shard_data_sources(self, num_shards: int, index: int, contiguous: bool = True):
        shards = self._single_shards()
        kept = self.split_shard_indices_by_worker(num_shards, index, contiguous)
        return VerticallyConcatenatedMultiSourcesExamplesIterable([shards[i] for i in kept])


def check_column_names(column_names: list[str]) -> None:
    """Raise DataError naming the duplicated columns."""
    duplicated = [name for name, n in Counter(column_names).items() if n > 1]
    if duplicated:
        raise DataError(
            f"concatenating datasets along columns (axis=1): columns {duplicated} appear in more than one dataset; "
            "rename or remove them first"
        )


class HorizontallyConcatenatedMultiSourcesExamplesIterable(BaseExamplesIterable):
    """Merge the i-th example of every source into one example (axis=1). Not shardable: it would misalign rows."""

    def __init__(self, ex_iterables: list[BaseExamplesIterable]):
        super().__init__()
        self.ex_iterables = ex_iterables

    @property
    def iter_arrow(self):
        rebatched = all(
            isinstance(child, RebatchedArrowExamplesIterable) and child.ex_iterable.iter_arrow
            for child in self.ex_iterables
        )
        if rebatched or (len(self.ex_iterables) < 2 and all(c.iter_arrow for c in self.ex_iterables)):
            return self._iter_arrow
        return None

    @property
    def is_typed(self):
        return self.ex_iterables[0].is_typed

    @property
    def features(self):
        return self.ex_iterables[0].features

    @property
    def num_shards(self) -> int:
        return 1

    def _init_state_dict(self) -> dict:
        self._state_dict = {
            "ex_iterables": [child._init_state_dict() for child in self.ex_iterables],
            "type": type(self).__name__,
        }
        return self._state_dict

    def _zip(self, open_source):
        iterators = [open_source(child) for child in self.ex_iterables]
        for step in count():
            keys, items = [], []
            for iterator in list(iterators):
                item = next(iterator, _EXHAUSTED)
                if item is _EXHAUSTED:
                    iterators.remove(iterator)
                else:
                    keys.append(item[0])
                    items.append(item[1])
            if not iterators:
                return
            yield step, keys, items

    def __iter__(self):
        for step, keys, examples in self._zip(iter):
            if step == 0:
                check_column_names([column for example in examples for column in example])
            merged = {}
            for example in examples:
                merged.update(example)
            yield "_".join(str(k) for k in keys), merged

    def _iter_arrow(self):
        for step, keys, tables in self._zip(lambda child: child.iter_arrow()):
            if step == 0:
                check_column_names([column for table in tables for column in table.column_names])
            merged = tables[0]
            for table in tables[1:]:
                for name, column in zip(table.column_names, table.columns):
                    merged = merged.append_column(name, column)
            yield "_".join(str(k) for k in keys), merged

    def shuffle_data_sources(self, generator):
        return self

    def shard_data_sources(self, num_shards: int, index: int, contiguous: bool = True):
        return self
