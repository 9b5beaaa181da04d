"""Streaming shuffle: the reference's buffer shuffle, shard interleaving for the buffer, and RNG re-seeding.

`IterableDataset.shuffle(seed, buffer_size)` shuffles the shard order (numpy `default_rng(seed)`), feeds the
buffer from up to `max_buffer_input_shards` shards at once, and draws the buffer order from the same generator,
exactly as `datasets` 5 does, so a seed gives the reference's order.

>>> import numpy as np
>>> from snuggle.data.examples_iterables import ExamplesIterable
>>> source = ExamplesIterable(lambda: ((i, {"x": i}) for i in range(6)), {})
>>> sorted(e["x"] for _, e in BufferShuffledExamplesIterable(source, 4, np.random.default_rng(0)))
[0, 1, 2, 3, 4, 5]
"""

from __future__ import annotations

import copy
import logging

from snuggle.data.examples_iterables import (
    BaseExamplesIterable,
    _WrappingExamplesIterable,
)

logger = logging.getLogger(__name__)



class BufferShuffledExamplesIterable(_WrappingExamplesIterable):
    """Approximate shuffling with a bounded buffer, with the reference's (datasets 5) draws.

    The buffer fills up to `buffer_size` rows; then a random permutation of the buffer is drawn, the first
    `len - buffer_size // 2` permuted rows are yielded and the rest is kept. At the end the remainder is permuted
    and yielded. On the Arrow path tables are appended whole, so the buffer may exceed `buffer_size` by less than
    one table before it is permuted. The random draws come from a copy of `generator`, so each new iteration
    repeats the same order. The buffer content is not part of the state: a resume refills it.
    """

    def __init__(self, ex_iterable, buffer_size: int, generator):
        super().__init__(ex_iterable)
        self.buffer_size = buffer_size
        self.generator = generator

    def shift_rngs(self, value: int) -> BufferShuffledExamplesIterable:
        import numpy as np

        new_seed = copy.deepcopy(self.generator).integers(0, 1 << 63) - value
        return BufferShuffledExamplesIterable(self.ex_iterable, self.buffer_size, np.random.default_rng(new_seed))

    @property
    def iter_arrow(self):
        return self._iter_arrow if self.ex_iterable.iter_arrow else None

    def _init_state_dict(self) -> dict:
        self._state_dict = self.ex_iterable._init_state_dict()
        self._original_state_dict = self.state_dict()
        return self._state_dict

    def load_state_dict(self, state_dict: dict) -> dict:
        if self._state_dict and state_dict != self._original_state_dict:
            logger.warning("Resuming a shuffled stream: the shuffle buffer is refilled with new examples first.")
        return super().load_state_dict(state_dict)

    def __iter__(self):
        rng = copy.deepcopy(self.generator)
        buffer: list = []
        for item in self.ex_iterable:
            buffer.append(item)
            if len(buffer) >= self.buffer_size:
                order = rng.permutation(len(buffer))
                num_out = len(buffer) - self.buffer_size // 2
                for i in order[:num_out]:
                    yield buffer[i]
                buffer = [buffer[i] for i in order[num_out:]]
        if buffer:
            for i in rng.permutation(len(buffer)):
                yield buffer[i]

    def _iter_arrow(self):
        import pyarrow as pa

        rng = copy.deepcopy(self.generator)
        tables: list = []
        buffered = 0
        last_key = None
        for key, pa_table in self.ex_iterable.iter_arrow():
            last_key = key
            tables.append(pa_table)
            buffered += len(pa_table)
            if buffered >= self.buffer_size:
                shuffled = pa.concat_tables(tables).take(rng.permutation(buffered))
                num_out = buffered - self.buffer_size // 2
                yield key, shuffled.slice(0, num_out)
                tables = [shuffled.slice(num_out)]
                buffered -= num_out
        if buffered > 0:
            yield last_key, pa.concat_tables(tables).take(rng.permutation(buffered))


class InterleavedShardsExamplesIterable(_WrappingExamplesIterable):
    """Feed a shuffle buffer from up to `max_input_shards` groups of shards at once, round-robin.

    Built lazily from the final (sharded, worker-split) input so each worker interleaves its own shards.
    """

    def __init__(self, ex_iterable, max_input_shards: int):
        super().__init__(ex_iterable)
        self.max_input_shards = max_input_shards
        self._interleaved = None

    @property
    def iter_arrow(self):
        return self._iter_arrow if self.ex_iterable.iter_arrow else None

    def _interleave(self):
        from snuggle.data.multi_source_iterables import (
            CyclingMultiSourcesExamplesIterable,
        )

        num_groups = min(self.ex_iterable.num_shards, self.max_input_shards)
        if num_groups == 0:
            return self.ex_iterable
        return CyclingMultiSourcesExamplesIterable(
            [self.ex_iterable.shard_data_sources(num_groups, index) for index in range(num_groups)],
            stopping_strategy="all_exhausted_without_replacement",
        )

    def _rewrap(self, ex_iterable):
        return InterleavedShardsExamplesIterable(ex_iterable, self.max_input_shards)

    def _init_state_dict(self) -> dict:
        self._interleaved = self._interleave()
        self._state_dict = self._interleaved._init_state_dict()
        return self._state_dict

    def __iter__(self):
        yield from (self._interleaved if self._state_dict is not None else self._interleave())

    def _iter_arrow(self):
        yield from (self._interleaved if self._state_dict is not None else self._interleave()).iter_arrow()


def shift_ex_examples_rngs(ex_iterable: BaseExamplesIterable, value: int) -> BaseExamplesIterable:
    """A copy of the chain whose random blocks are re-seeded from `value` (epoch or DataLoader worker id)."""

    def shift(block):
        block = copy.copy(block)
        if hasattr(block, "shift_rngs"):
            block = block.shift_rngs(value)
        if hasattr(block, "ex_iterable"):
            block.ex_iterable = shift(block.ex_iterable)
        if hasattr(block, "ex_iterables"):
            block.ex_iterables = [shift(child) for child in block.ex_iterables]
        return block

    return shift(ex_iterable)
