"""Unit tests for split_dataset_by_node (map-style and streaming datasets)."""

from __future__ import annotations

import pytest

from snuggle.data.distributed import split_dataset_by_node
from snuggle.data.iterable_dataset import IterableDataset
from snuggle.errors import DataError


def gen(shards):
    for shard in shards:
        for i in range(3):
            yield {"x": shard * 10 + i}


def xs(ds):
    return [e["x"] for e in ds]


def test_iterable_whole_shards_when_divisible():
    ds = IterableDataset.from_generator(gen, gen_kwargs={"shards": [0, 1, 2, 3]})
    parts = [split_dataset_by_node(ds, rank=r, world_size=2) for r in range(2)]
    assert [p.num_shards for p in parts] == [2, 2]
    assert xs(parts[0]) == [0, 1, 2, 20, 21, 22]  # every world_size-th shard
    assert xs(parts[1]) == [10, 11, 12, 30, 31, 32]


def test_iterable_every_nth_example_otherwise():
    ds = IterableDataset.from_generator(gen, gen_kwargs={"shards": [0, 1, 2]})
    parts = [xs(split_dataset_by_node(ds, rank=r, world_size=2)) for r in range(2)]
    assert parts == [[0, 2, 11, 20, 22], [1, 10, 12, 21]]
    forced = split_dataset_by_node(ds, rank=0, world_size=3, strategy="shards")
    assert xs(forced) == [0, 1, 2]


def test_nodes_cover_the_dataset_exactly_once_after_shuffle():
    ds = IterableDataset.from_dict({"x": list(range(100))}, num_shards=4).shuffle(seed=3, buffer_size=10)
    seen = [x for r in range(4) for x in xs(split_dataset_by_node(ds, rank=r, world_size=4))]
    assert sorted(seen) == list(range(100))


def test_split_twice_composes_ranks():
    ds = IterableDataset.from_generator(gen, gen_kwargs={"shards": [0, 1, 2, 3]})
    twice = split_dataset_by_node(split_dataset_by_node(ds, rank=1, world_size=2), rank=0, world_size=2)
    assert twice._distributed.rank == 2 and twice._distributed.world_size == 4
    assert xs(twice) == [20, 21, 22]


def test_map_style_contiguous_blocks():
    from snuggle.data.arrow_dataset import Dataset

    ds = Dataset.from_dict({"x": list(range(10))})
    assert [split_dataset_by_node(ds, rank=r, world_size=3)["x"] for r in range(3)] == [
        [0, 1, 2, 3], [4, 5, 6], [7, 8, 9]
    ]


def test_bad_arguments():
    ds = IterableDataset.from_generator(gen, gen_kwargs={"shards": [0]})
    with pytest.raises(DataError, match="strategy"):
        split_dataset_by_node(ds, rank=0, world_size=2, strategy="rows")
    with pytest.raises(DataError, match="rank"):
        split_dataset_by_node(ds, rank=2, world_size=2)
    with pytest.raises(DataError, match="num_shards=1"):
        split_dataset_by_node(ds, rank=0, world_size=2, strategy="shards")
