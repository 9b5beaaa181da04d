"""`Dataset.map` and `Dataset.filter`: arguments, fingerprints, cache files, shards, results.

The per-shard work lives in snuggle.data.map_kernels; worker processes in
snuggle.data.multiprocess. This module decides *what* to run:

1. validate the arguments (unknown columns are named with the dataset's columns);
2. compute the new fingerprint from the old one, the function (code, closures, globals it
   reads) and every argument that changes the result (not desc / num_proc / cache options);
3. for a dataset backed by files, pick `cache-<fingerprint>.arrow` beside them (a temporary
   folder when caching is disabled); with num_proc=N the shards write
   `cache-<fingerprint>_00000_of_0000N.arrow` ...; existing files are reloaded
   (load_from_cache_file), also when they were written with another num_proc;
4. run the missing shards (in this process, or one process per shard) behind one progress bar;
5. assemble the result: a memory-mapped dataset over the cache files, or an in-memory one.

Cache files are written to a temporary name and renamed when complete, so an interrupted
map (even kill -9) leaves earlier cache files intact and never a half file under the final name.

>>> from snuggle.data.arrow_dataset import Dataset
>>> ds = Dataset.from_dict({"text": ["a", "bb"]})
>>> dataset_map(ds, lambda ex: {"n": len(ex["text"])})["n"]
[1, 2]
>>> dataset_filter(ds, lambda ex: len(ex["text"]) > 1)["text"]
['bb']
"""

from __future__ import annotations

import glob
import os
import re
import string
from typing import Any, Callable

import pyarrow as pa

from snuggle.data.arrow_files import read_arrow_file
from snuggle.data.fingerprint import generate_random_fingerprint, is_caching_enabled, update_fingerprint
from snuggle.data.map_kernels import ShardResult, ShardTask, run_shard
from snuggle.data.multiprocess import run_jobs
from snuggle.errors import DataError
from snuggle.utils.logging import get_logger
from snuggle.utils.progress import progress_bar

logger = get_logger(__name__)

DEFAULT_SUFFIX_TEMPLATE = "_{rank:05d}_of_{num_proc:05d}"


def _identity(example):
    return example


def _keep_all(*args, **kwargs):
    return True


def dataset_map(
    ds,
    function: Callable | None = None,
    with_indices: bool = False,
    with_rank: bool = False,
    input_columns: str | list[str] | None = None,
    batched: bool = False,
    batch_size: int | None = 1000,
    drop_last_batch: bool = False,
    remove_columns: str | list[str] | None = None,
    keep_in_memory: bool = False,
    load_from_cache_file: bool | None = None,
    cache_file_name: str | None = None,
    writer_batch_size: int | None = 1000,
    features=None,
    disable_nullable: bool = False,
    fn_kwargs: dict | None = None,
    num_proc: int | None = None,
    suffix_template: str = DEFAULT_SUFFIX_TEMPLATE,
    new_fingerprint: str | None = None,
    desc: str | None = None,
    try_original_type: bool | None = True,
    on_mixed_types: str | None = "use_json",
):
    """Apply `function` to every example (or batch) and return the updated dataset.

    The returned dict updates the example: new keys add columns, existing keys replace
    them; `remove_columns` are dropped first. `function=None` is the identity. Returning
    None leaves the dataset unchanged (side effects only).

    >>> from snuggle.data.arrow_dataset import Dataset
    >>> ds = Dataset.from_dict({"a": [1, 2, 3]})
    >>> dataset_map(ds, lambda b: {"a2": [x * 2 for x in b["a"]]}, batched=True, batch_size=2)["a2"]
    [2, 4, 6]
    """
    plan = _Plan.make(
        "map", ds, function, with_indices, with_rank, input_columns, batched, batch_size, keep_in_memory,
        load_from_cache_file, cache_file_name, writer_batch_size, fn_kwargs, num_proc, suffix_template,
        new_fingerprint, desc,
        drop_last_batch=drop_last_batch, remove_columns=remove_columns, features=features,
        disable_nullable=disable_nullable, try_original_type=try_original_type,
    )
    if plan.empty_result is not None:
        return plan.empty_result
    results = plan.run()
    if not any(r.changed for r in results):
        return ds  # the function returned None everywhere: unchanged (as the reference)
    if not all(r.changed for r in results):
        raise DataError(
            "the map function returned None in some shards and dicts in others; return a dict for every "
            "example (or None for all of them)"
        )
    table, files = _concatenate([_result_table(r) for r in results], results)
    from snuggle.data.features import Features

    out_features = results[0].features
    if out_features is None or list(out_features) != table.column_names:
        out_features = Features.from_arrow_schema(table.schema)
    return ds._derive(
        data=table, indices=None, features=out_features, fingerprint=plan.fingerprint, data_files=files
    )


def dataset_filter(
    ds,
    function: Callable | None = None,
    with_indices: bool = False,
    with_rank: bool = False,
    input_columns: str | list[str] | None = None,
    batched: bool = False,
    batch_size: int | None = 1000,
    keep_in_memory: bool = False,
    load_from_cache_file: bool | None = None,
    cache_file_name: str | None = None,
    writer_batch_size: int | None = 1000,
    fn_kwargs: dict | None = None,
    num_proc: int | None = None,
    suffix_template: str = DEFAULT_SUFFIX_TEMPLATE,
    new_fingerprint: str | None = None,
    desc: str | None = None,
):
    """Keep the examples for which `function` returns True (a list of booleans when batched).

    The data is not copied: the result is an indices mapping over the same table (written
    to `cache-<fingerprint>.arrow` for datasets backed by files).

    >>> from snuggle.data.arrow_dataset import Dataset
    >>> ds = Dataset.from_dict({"a": [1, 2, 3, 4]})
    >>> dataset_filter(ds, lambda b: [x % 2 == 0 for x in b["a"]], batched=True)["a"]
    [2, 4]
    """
    plan = _Plan.make(
        "filter", ds, function, with_indices, with_rank, input_columns, batched, batch_size, keep_in_memory,
        load_from_cache_file, cache_file_name, writer_batch_size, fn_kwargs, num_proc, suffix_template,
        new_fingerprint, desc,
    )
    if plan.empty_result is not None:
        return plan.empty_result
    results = plan.run()
    indices, files = _concatenate([_result_table(r) for r in results], results)
    return ds._derive(indices=indices, fingerprint=plan.fingerprint, indices_files=files)


# ---------------------------------------------------------------------------------------
# The plan: arguments checked, fingerprint and cache files decided, shards described
# ---------------------------------------------------------------------------------------


class _Plan:
    def __init__(self):
        self.empty_result = None

    @classmethod
    def make(cls, kind, ds, function, with_indices, with_rank, input_columns, batched, batch_size, keep_in_memory,
             load_from_cache_file, cache_file_name, writer_batch_size, fn_kwargs, num_proc, suffix_template,
             new_fingerprint, desc, *, drop_last_batch=False, remove_columns=None, features=None,
             disable_nullable=False, try_original_type=True) -> "_Plan":
        plan = cls()
        plan.kind, plan.ds, plan.desc = kind, ds, desc
        if keep_in_memory and cache_file_name is not None:
            raise DataError("use either keep_in_memory=True or cache_file_name=..., not both")
        if num_proc == 0:
            num_proc = None
        if num_proc is not None and num_proc < 0:
            raise DataError(f"num_proc must be >= 0 or None, got {num_proc}")
        fields = {name for _, name, _, _ in string.Formatter().parse(suffix_template) if name}
        if fields != {"rank", "num_proc"}:
            raise DataError(
                f"suffix_template must contain exactly the fields 'rank' and 'num_proc', got {sorted(fields)}"
            )
        columns = ds.column_names
        input_columns = _column_list(input_columns, columns, "Input column")
        remove_columns = _column_list(remove_columns, columns, "Column to remove")
        n = len(ds)
        if n == 0:
            plan.empty_result = _empty_result(kind, ds, remove_columns)
            return plan
        if function is None:
            function = _identity if kind == "map" else _keep_all
        if fn_kwargs is None:
            fn_kwargs = {}
        if not callable(function):
            raise DataError(f"{kind} expects a callable function; got a {type(function).__name__}")
        if batched and (batch_size is None or batch_size <= 0):
            batch_size = n  # the whole dataset as one batch
        batch_size = batch_size or 1000
        writer_batch_size = writer_batch_size or 1000
        if load_from_cache_file is None:
            load_from_cache_file = is_caching_enabled()
        if num_proc is not None and num_proc > n:
            logger.warning("num_proc must be <= %d; reducing num_proc to %d for a dataset of %d rows", n, n, n)
            num_proc = n
        if features is not None and not hasattr(features, "arrow_schema"):
            from snuggle.data.features import Features

            features = Features(features)

        if new_fingerprint is None:
            if is_caching_enabled():
                args = {
                    "function": function, "with_indices": with_indices, "with_rank": with_rank,
                    "input_columns": input_columns, "batched": batched, "batch_size": batch_size,
                    "keep_in_memory": keep_in_memory, "writer_batch_size": writer_batch_size,
                    "fn_kwargs": fn_kwargs,
                }
                if kind == "map":
                    args.update(
                        drop_last_batch=drop_last_batch, remove_columns=remove_columns,
                        features=features.to_dict() if features is not None else None,
                        disable_nullable=disable_nullable, try_original_type=try_original_type,
                    )
                new_fingerprint = update_fingerprint(ds._fingerprint, f"dataset_{kind}", args)
            else:
                new_fingerprint = generate_random_fingerprint()
        elif not re.fullmatch(r"[\w.\-]{1,64}", new_fingerprint):
            raise DataError(
                f"new_fingerprint {new_fingerprint!r} is not valid: use 1 to 64 letters, digits, '_', '-' or '.'"
            )
        plan.fingerprint = new_fingerprint

        if not keep_in_memory and cache_file_name is None and ds.cache_files:
            cache_file_name = ds._get_cache_file_path(new_fingerprint)
        if cache_file_name is not None:
            cache_file_name = os.fspath(cache_file_name)
            if not os.path.splitext(cache_file_name)[1]:
                raise DataError(f"cache_file_name must have an extension (e.g. .arrow), got {cache_file_name!r}")
        plan.cache_file_name = cache_file_name
        plan.load_from_cache_file = load_from_cache_file
        plan.num_proc = num_proc
        plan.suffix_template = suffix_template

        num_shards = num_proc or 1
        if cache_file_name is not None and load_from_cache_file:
            num_shards = _num_shards_of_existing_cache(cache_file_name, suffix_template, num_shards)
        plan.num_shards = num_shards

        format_type = ds._format_type
        plan.tasks = []
        for rank, (start, stop) in enumerate(_contiguous_ranges(n, num_shards)):
            shard_fingerprint = new_fingerprint
            shard_file = cache_file_name
            if num_shards > 1:
                suffix = suffix_template.format(rank=rank, num_proc=num_shards)
                shard_fingerprint = new_fingerprint + suffix
                if cache_file_name is not None:
                    prefix, ext = os.path.splitext(cache_file_name)
                    shard_file = prefix + suffix + ext
            plan.tasks.append(
                ShardTask(
                    kind=kind, data=ds._data, indices=ds._indices, start=start, stop=stop, function=function,
                    rank=rank if num_shards > 1 else None, with_indices=with_indices, with_rank=with_rank,
                    input_columns=input_columns, batched=batched, batch_size=batch_size,
                    drop_last_batch=drop_last_batch, remove_columns=remove_columns or [], fn_kwargs=fn_kwargs,
                    writer_batch_size=writer_batch_size, features=features,
                    try_features=ds.features if try_original_type else None, disable_nullable=disable_nullable,
                    fingerprint=shard_fingerprint, cache_file=shard_file, format_type=format_type,
                    format_columns=ds._format_columns, output_all_columns=ds._output_all_columns,
                    format_kwargs=ds._format_kwargs,
                )
            )
        total = n
        if batched and drop_last_batch:
            total = sum((t.stop - t.start) // batch_size * batch_size for t in plan.tasks)
        plan.total = total
        return plan

    def run(self) -> list[ShardResult]:
        """Reload the cached shards, compute the others; results in shard order."""
        results: list[ShardResult | None] = [None] * len(self.tasks)
        todo = []
        for i, task in enumerate(self.tasks):
            if task.cache_file is not None and self.load_from_cache_file and os.path.exists(task.cache_file):
                logger.info("Loading cached %s result at %s", self.kind, task.cache_file)
                results[i] = ShardResult(rank=task.rank, changed=True, path=task.cache_file)
            else:
                todo.append(i)
        if not todo:
            return results
        done_rows = sum(self.tasks[i].stop - self.tasks[i].start for i in range(len(self.tasks)) if i not in todo)
        label = (self.desc or self.kind.capitalize()) + (f" (num_proc={self.num_proc})" if self.num_proc else "")
        jobs = [self.tasks[i] for i in todo]
        if self.num_proc and self.num_proc > 1 and len(jobs) > 1:
            outputs = run_jobs(run_shard, jobs, self.num_proc, total=self.total, initial=min(done_rows, self.total),
                               desc=label)
        else:
            bar = progress_bar(total=self.total, initial=min(done_rows, self.total), desc=label, unit=" examples")
            try:
                outputs = [run_shard(job, bar.update) for job in jobs]
            finally:
                bar.close()
        for i, output in zip(todo, outputs):
            results[i] = output
        return results


def _column_list(value, columns: list[str], what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    value = list(value)
    missing = [c for c in value if c not in columns]
    if missing:
        raise DataError(f"{what} {missing} not in the dataset. Current columns in the dataset: {columns}")
    return value


def _empty_result(kind: str, ds, remove_columns):
    """map/filter of an empty dataset: nothing to run (removed columns still go)."""
    if ds._indices is not None:
        ds = ds._derive(data=ds._data.slice(0, 0), indices=None, features=ds.features, fingerprint=ds._fingerprint,
                        data_files=[])
    if kind == "map" and remove_columns:
        return ds.remove_columns(remove_columns)
    return ds


def _contiguous_ranges(n: int, num_shards: int) -> list[tuple[int, int]]:
    """[start, stop) of each shard, as `shard(contiguous=True)`: the first n % k shards get one more row."""
    div, mod = divmod(n, num_shards)
    ranges = []
    start = 0
    for rank in range(num_shards):
        stop = start + div + (1 if rank < mod else 0)
        ranges.append((start, stop))
        start = stop
    return ranges


def _num_shards_of_existing_cache(cache_file_name: str, suffix_template: str, num_shards: int) -> int:
    """Reuse a cache written with another num_proc: the most complete set, then the closest count."""
    prefix, ext = os.path.splitext(cache_file_name)
    found: dict[int, set[int]] = {}
    if os.path.exists(cache_file_name):
        found[1] = {0}
    pattern = re.escape(prefix) + _suffix_regex(suffix_template) + re.escape(ext) + "$"
    for path in glob.iglob(glob.escape(prefix) + "*" + glob.escape(ext)):
        match = re.match(pattern, path)
        if match:
            found.setdefault(int(match.group("num_proc")), set()).add(int(match.group("rank")))
    if not found:
        return num_shards

    def preference(count: int):
        missing = (count - len(found[count])) / count
        return (missing, abs(count - num_shards), count)

    return min(found, key=preference)


def _suffix_regex(template: str) -> str:
    out = ""
    for literal, name, _, _ in string.Formatter().parse(template):
        out += re.escape(literal)
        if name:
            out += f"(?P<{name}>\\d+)"
    return out


def _result_table(result: ShardResult) -> pa.Table:
    if result.table is not None:
        return result.table
    return read_arrow_file(result.path)


def _concatenate(tables: list[pa.Table], results: list[ShardResult]) -> tuple[pa.Table, list[str]]:
    files = [r.path for r in results if r.path is not None]
    if len(tables) == 1:
        return tables[0], files
    try:
        return pa.concat_tables(tables), files
    except pa.ArrowInvalid:
        pass
    try:  # e.g. one shard saw only None values in a column (null type)
        return pa.concat_tables(tables, promote_options="default"), files
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        differing = {
            name: sorted({str(t.schema.field(name).type) for t in tables if name in t.column_names})
            for name in tables[0].column_names
        }
        differing = {k: v for k, v in differing.items() if len(v) > 1}
        raise DataError(
            f"the shards of the map produced different column types {differing}; pass features= to fix them "
            f"({error})"
        ) from None
