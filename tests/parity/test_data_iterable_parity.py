"""Parity of snuggle's streaming IterableDataset with `datasets`: same examples in the same order.

Every expected value is computed by the reference in the same run. Shuffling uses the reference's numpy draws, so
shard order and buffer order must match for every seed; resuming from a state_dict must give what the reference
gives (exact, or with the shuffle buffer refilled exactly like the reference's).
"""

from __future__ import annotations

import datasets
import pytest
from datasets.distributed import split_dataset_by_node as ref_split_dataset_by_node
from datasets.iterable_dataset import _concatenate_iterable_datasets as ref_concatenate
from datasets.iterable_dataset import _interleave_iterable_datasets as ref_interleave

from snuggle.data.distributed import split_dataset_by_node
from snuggle.data.iterable_dataset import (
    IterableDataset,
    _concatenate_iterable_datasets,
    _interleave_iterable_datasets,
)

N = 2345
DATA = {"a": list(range(N)), "t": [f"row{i}" for i in range(N)]}


def gen(shards, n):
    for shard in shards:
        for i in range(n):
            yield {"a": shard * 1000 + i, "t": f"{shard}-{i}"}


GEN_KWARGS = {"shards": list(range(13)), "n": 37}


def make_pair(source: str, num_shards: int):
    if source == "dict":
        return (datasets.Dataset.from_dict(DATA).to_iterable_dataset(num_shards=num_shards),
                IterableDataset.from_dict(DATA, num_shards=num_shards))
    return (datasets.IterableDataset.from_generator(gen, gen_kwargs=GEN_KWARGS),
            IterableDataset.from_generator(gen, gen_kwargs=GEN_KWARGS))


def rows(ds):
    return [tuple(example.values()) for example in ds]


def _with_epoch(ds, epoch):
    ds.set_epoch(epoch)
    return ds


PIPELINES = {
    "plain": lambda d: d,
    "shuffle_default_buffer": lambda d: d.shuffle(seed=1),
    "shuffle_small_buffer": lambda d: d.shuffle(seed=42, buffer_size=50),
    "shuffle_then_epoch": lambda d: _with_epoch(d.shuffle(seed=5, buffer_size=10), 3),
    "take_then_shuffle": lambda d: d.take(100).shuffle(seed=3, buffer_size=20),
    "skip_take": lambda d: d.skip(30).take(20),
    "map": lambda d: d.map(lambda e: {"a": e["a"] + 1, "u": e["t"].upper()}),
    "map_batched_indices": lambda d: d.map(
        lambda b, idx: {"a": [x * 2 for x in b["a"]], "idx": idx}, batched=True, batch_size=7, with_indices=True
    ),
    "map_batched_drop_last": lambda d: d.map(lambda b: b, batched=True, batch_size=100, drop_last_batch=True),
    "filter": lambda d: d.filter(lambda e: e["a"] % 3 == 0),
    "filter_batched": lambda d: d.filter(lambda b: [x % 5 == 1 for x in b["a"]], batched=True, batch_size=33),
    "batch": lambda d: d.batch(8),
    "arrow_map": lambda d: d.with_format("arrow").map(lambda t: t, batched=True, batch_size=10).with_format(None),
    "columns": lambda d: d.select_columns(["t"]).rename_column("t", "u"),
    "remove_then_shuffle": lambda d: d.remove_columns(["t"]).shuffle(seed=7, buffer_size=100),
    "shard": lambda d: d.shard(num_shards=1, index=0) if d.num_shards == 1 else d.shard(num_shards=2, index=1),
    "repeat_shuffle": lambda d: d.take(40).repeat(2).shuffle(seed=11, buffer_size=30),
}


@pytest.mark.parametrize("source,num_shards", [("dict", 1), ("dict", 4), ("dict", 13), ("generator", 13)])
@pytest.mark.parametrize("pipeline", sorted(PIPELINES))
def test_same_examples_same_order(source, num_shards, pipeline):
    ref, ours = make_pair(source, num_shards)
    fn = PIPELINES[pipeline]
    assert rows(fn(ours)) == rows(fn(ref))


@pytest.mark.parametrize("probabilities", [None, [0.2, 0.5, 0.3]])
@pytest.mark.parametrize("stopping_strategy", ["first_exhausted", "all_exhausted", "all_exhausted_without_replacement"])
@pytest.mark.parametrize("seed", [0, 42])
def test_interleave(probabilities, stopping_strategy, seed):
    parts = [{"a": list(range(50))}, {"a": list(range(100, 130))}, {"a": list(range(200, 277))}]
    expected = ref_interleave([datasets.Dataset.from_dict(p).to_iterable_dataset(num_shards=2) for p in parts],
                              probabilities=probabilities, seed=seed, stopping_strategy=stopping_strategy)
    ours = _interleave_iterable_datasets([IterableDataset.from_dict(p, num_shards=2) for p in parts],
                                         probabilities=probabilities, seed=seed, stopping_strategy=stopping_strategy)
    assert rows(ours) == rows(expected)


def test_concatenate_then_shuffle_and_axis_1():
    parts = [{"a": list(range(50))}, {"a": list(range(100, 130))}]
    expected = ref_concatenate([datasets.Dataset.from_dict(p).to_iterable_dataset(num_shards=2) for p in parts])
    ours = _concatenate_iterable_datasets([IterableDataset.from_dict(p, num_shards=2) for p in parts])
    assert rows(ours.shuffle(seed=3, buffer_size=10)) == rows(expected.shuffle(seed=3, buffer_size=10))
    expected = ref_concatenate([datasets.Dataset.from_dict({"a": [1, 2]}).to_iterable_dataset(),
                                datasets.Dataset.from_dict({"b": [3, 4]}).to_iterable_dataset()], axis=1)
    ours = _concatenate_iterable_datasets([IterableDataset.from_dict({"a": [1, 2]}),
                                           IterableDataset.from_dict({"b": [3, 4]})], axis=1)
    assert list(ours) == list(expected)


@pytest.mark.parametrize("num_shards,world_size", [(1, 2), (4, 2), (4, 3), (6, 3)])
def test_split_dataset_by_node_iterable(num_shards, world_size):
    for rank in range(world_size):
        ref, ours = make_pair("dict", num_shards)
        expected = ref_split_dataset_by_node(ref.shuffle(seed=1, buffer_size=30), rank=rank, world_size=world_size)
        got = split_dataset_by_node(ours.shuffle(seed=1, buffer_size=30), rank=rank, world_size=world_size)
        assert got.num_shards == expected.num_shards
        assert rows(got) == rows(expected)


def _resume(ds, k):
    it = iter(ds)
    first = [tuple(next(it).values()) for _ in range(k)]
    ds.load_state_dict(ds.state_dict())
    return first + rows(ds)


@pytest.mark.parametrize("pipeline", ["plain", "map_batched_indices", "filter_batched", "shuffle_small_buffer",
                                      "batch", "arrow_map", "skip_take"])
@pytest.mark.parametrize("k", [1, 15])
def test_resume_from_state_dict_like_the_reference(pipeline, k):
    ref, ours = make_pair("dict", 4)
    fn = PIPELINES[pipeline]
    assert _resume(fn(ours), k) == _resume(fn(ref), k)


def test_streaming_csv_file_shuffle(datasets_dir):
    path = str(datasets_dir / "sst2" / "dev.tsv")
    kwargs = {"data_files": {"validation": path}, "delimiter": "\t", "quoting": 3, "streaming": True,
              "split": "validation"}
    import snuggle.data.load as snuggle_load

    expected = datasets.load_dataset("csv", **kwargs)
    ours = snuggle_load.load_dataset("csv", **kwargs)
    assert ours.column_names == expected.column_names
    assert rows(ours.take(5)) == rows(expected.take(5))
    assert rows(ours.shuffle(seed=0, buffer_size=100)) == rows(expected.shuffle(seed=0, buffer_size=100))
