"""`split_dataset_by_node`: the part of a dataset one node (rank) of a distributed job reads.

- map-style `Dataset`: the rank-th contiguous block of rows (`dataset.shard(world_size, rank, contiguous=True)`);
- `IterableDataset`, strategy "auto" (default): whole shards per node when `num_shards % world_size == 0`
  (every world_size-th shard), else every world_size-th example; "shards" / "examples" force one of the two.

>>> from snuggle.data.iterable_dataset import IterableDataset
>>> ds = IterableDataset.from_generator(lambda: ({"x": i} for i in range(6)))
>>> [e["x"] for e in split_dataset_by_node(ds, rank=1, world_size=2)]
[1, 3, 5]
"""

from __future__ import annotations

from snuggle.errors import DataError

STRATEGIES = ("auto", "shards", "examples")


def split_dataset_by_node(dataset, rank: int, world_size: int, strategy: str = "auto"):
    """The dataset node `rank` of `world_size` should read (see the module docstring).

    With a shuffled IterableDataset, pass the same `seed` on every node so all nodes agree on the shard order.
    """
    from snuggle.data.iterable_dataset import IterableDataset

    if strategy not in STRATEGIES:
        raise DataError(f"split_dataset_by_node: strategy is {strategy!r}; expected one of {list(STRATEGIES)}")
    if not isinstance(world_size, int) or world_size < 1:
        raise DataError(f"split_dataset_by_node: world_size must be a positive int, got {world_size!r}")
    if not isinstance(rank, int) or not 0 <= rank < world_size:
        raise DataError(f"split_dataset_by_node: rank must be in [0, {world_size}), got {rank!r}")
    if isinstance(dataset, IterableDataset):
        return _split_iterable_dataset(dataset, rank, world_size, strategy)
    if strategy != "auto":
        raise DataError(f"split_dataset_by_node: map-style datasets only support strategy='auto', got {strategy!r}")
    return dataset.shard(num_shards=world_size, index=rank, contiguous=True)


def _split_iterable_dataset(dataset, rank: int, world_size: int, strategy: str):
    from snuggle.data.iterable_dataset import DistributedConfig, IterableDataset

    if dataset._distributed:
        # Splitting again divides each node's part further: compose the ranks.
        previous = dataset._distributed
        if strategy not in ("auto", previous.strategy):
            raise DataError(
                f"split_dataset_by_node: the dataset is already split with strategy={previous.strategy!r}; "
                f"cannot split it again with strategy={strategy!r}"
            )
        strategy = previous.strategy
        rank = world_size * previous.rank + rank
        world_size = world_size * previous.world_size
    num_shards = dataset._ex_iterable.num_shards
    if strategy == "shards" and num_shards < world_size:
        raise DataError(
            f"split_dataset_by_node(strategy='shards'): the dataset has num_shards={num_shards} < "
            f"world_size={world_size}, so some nodes would get no shard; use strategy='examples' or more shards"
        )
    return IterableDataset(
        dataset._ex_iterable,
        info=dataset.info,
        split=dataset.split,
        formatting=dataset._formatting,
        distributed=DistributedConfig(rank=rank, world_size=world_size, strategy=strategy),
    )
