"""Shards of a streaming data source, described by the generator's keyword arguments.

A streaming source is a function called with `gen_kwargs`; every *list* value in `gen_kwargs` is a list of
data sources (files, URLs, sub-datasets), and all lists must have the same length: that length is the number
of shards. Splitting, merging and shuffling shards only rewrites these lists, exactly as the reference does, so
the same seed gives the same shard order.

>>> number_of_shards({"files": ["a", "b", "c"], "sep": ","})
3
>>> split_gen_kwargs({"files": ["a", "b", "c"], "sep": ","}, max_num_jobs=2)
[{'files': ['a', 'b'], 'sep': ','}, {'files': ['c'], 'sep': ','}]
"""

from __future__ import annotations

from snuggle.errors import DataError


def number_of_shards(gen_kwargs: dict) -> int:
    """How many shards `gen_kwargs` describes: the common length of its list values (at least 1)."""
    lengths = {key: len(value) for key, value in gen_kwargs.items() if isinstance(value, list)}
    if len(set(lengths.values())) > 1:
        listing = ", ".join(f"{key!r} has {length}" for key, length in lengths.items())
        raise DataError(
            f"gen_kwargs: sharding is ambiguous, the list values have different lengths ({listing}); "
            "use lists only for data sources (all of the same length) and tuples for anything else"
        )
    return max(1, max(lengths.values(), default=0))


def distribute_shards(num_shards: int, max_num_jobs: int) -> list[range]:
    """Contiguous, order-preserving ranges of shard indices, one per job, sizes differing by at most one.

    >>> distribute_shards(10, max_num_jobs=3)
    [range(0, 4), range(4, 7), range(7, 10)]
    """
    groups: list[range] = []
    start = 0
    for job in range(max_num_jobs):
        size = num_shards // max_num_jobs + (job < num_shards % max_num_jobs)
        if size == 0:
            break
        groups.append(range(start, start + size))
        start += size
    return groups


def split_gen_kwargs(gen_kwargs: dict, max_num_jobs: int) -> list[dict]:
    """Split `gen_kwargs` into at most `max_num_jobs` gen_kwargs, each with a contiguous part of every list."""
    num_shards = number_of_shards(gen_kwargs)
    if num_shards == 1:
        return [dict(gen_kwargs)]
    return [
        {key: [value[i] for i in group] if isinstance(value, list) else value for key, value in gen_kwargs.items()}
        for group in distribute_shards(num_shards, max_num_jobs)
    ]


def merge_gen_kwargs(gen_kwargs_list: list[dict]) -> dict:
    """Inverse of `split_gen_kwargs`: concatenate the list values, keep the other values of the first one."""
    first = gen_kwargs_list[0]
    return {
        key: [item for kwargs in gen_kwargs_list for item in kwargs[key]] if isinstance(value, list) else value
        for key, value in first.items()
    }


def shuffle_gen_kwargs(rng, gen_kwargs: dict) -> dict:
    """A copy of `gen_kwargs` whose lists are shuffled by `rng` (a numpy Generator, advanced in place).

    Lists of the same length get the same permutation, so parallel lists (files and their metadata) stay aligned.
    """
    permutations = {}
    # One permutation per list size, drawn in the iteration order of the set of sizes (as the reference does,
    # so that several list sizes still consume the generator identically).
    for size in {len(v) for v in gen_kwargs.values() if isinstance(v, list)}:
        order = list(range(size))
        rng.shuffle(order)
        permutations[size] = order
    return {
        key: [value[i] for i in permutations[len(value)]] if isinstance(value, list) else value
        for key, value in gen_kwargs.items()
    }


def split_shard_indices(total_shards: int, num_workers: int, index: int, contiguous: bool = True) -> list[int]:
    """The shard indices worker `index` of `num_workers` reads: a contiguous block, or every num_workers-th.

    >>> split_shard_indices(5, 2, 0), split_shard_indices(5, 2, 1, contiguous=False)
    ([0, 1, 2], [1, 3])
    """
    if contiguous:
        div, mod = divmod(total_shards, num_workers)
        start = div * index + min(index, mod)
        return list(range(start, start + div + (index < mod)))
    return list(range(index, total_shards, num_workers))
