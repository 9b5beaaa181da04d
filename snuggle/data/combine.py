"""Combining datasets: `concatenate_datasets` (rows or columns) and `interleave_datasets`.

Concatenation shares the Arrow data of its inputs (the result's table is made of their
chunks; indices mappings are offset and joined). Interleaving is a concatenation plus an
indices mapping that alternates between the sources, round robin or at random with
`probabilities`; the random draws are those of `datasets` (`np.random.default_rng(seed).choice`
in blocks of 1000), so a seed gives the same row order.

Streaming datasets (snuggle.data.iterable_dataset) are delegated to that module.

>>> from snuggle.data.arrow_dataset import Dataset
>>> a = Dataset.from_dict({"x": [0, 1, 2]})
>>> b = Dataset.from_dict({"x": [10, 11]})
>>> concatenate_datasets([a, b])["x"]
[0, 1, 2, 10, 11]
>>> interleave_datasets([a, b])["x"]
[0, 10, 1, 11]
"""

from __future__ import annotations

import pyarrow as pa

from snuggle.errors import DataError


def _is_null_feature(feature) -> bool:
    from snuggle.data.features import Value

    return isinstance(feature, Value) and feature.dtype == "null"


def _aligned_features(all_features: list):
    """Column -> feature shared by every dataset (null columns adopt the others' type); mismatch -> DataError."""
    from snuggle.data.features import Features

    merged: dict = {}
    where: dict = {}
    for position, features in enumerate(all_features):
        for name, feature in features.items():
            if name not in merged or _is_null_feature(merged[name]):
                merged[name], where[name] = feature, position
            elif not _is_null_feature(feature) and feature != merged[name]:
                raise DataError(
                    f"concatenate_datasets: column {name!r} has type {merged[name]} in dataset {where[name]} but "
                    f"{feature} in dataset {position}; cast one of them first (e.g. ds.cast_column({name!r}, ...))"
                )
    return Features(merged)


def _concatenate_rows(dsets: list, info, split):
    from snuggle.data.arrow_dataset import Dataset

    features = _aligned_features([d.features for d in dsets])
    names = list(features)
    for position, d in enumerate(dsets):
        missing = [n for n in names if n not in d.column_names]
        if missing:
            raise DataError(
                f"concatenate_datasets: dataset {position} has columns {d.column_names} but is missing {missing} "
                f"that other datasets have; add or remove columns so all datasets have {names}"
            )
    schema = features.arrow_schema
    tables = []
    for d in dsets:
        table = d._data.select(names)
        if not all(a.type == b.type for a, b in zip(table.schema, schema)):
            table = table.cast(schema)  # only null columns differ here (checked above)
        tables.append(table.replace_schema_metadata(schema.metadata))
    indices = None
    if any(d._indices is not None for d in dsets):
        parts, offset = [], 0
        for d in dsets:
            column = d._indices.column(0) if d._indices is not None else pa.array(range(len(d)), type=pa.uint64())
            import pyarrow.compute as pc

            parts.append(pc.add(column, pa.scalar(offset, pa.uint64())) if offset else column)
            offset += d._data.num_rows
        chunks = [c for part in parts for c in (part.chunks if isinstance(part, pa.ChunkedArray) else [part])]
        indices = pa.table({"indices": pa.chunked_array(chunks, type=pa.uint64())})
    table = pa.concat_tables(tables)
    data_files = [f for d in dsets for f in d._data_files]
    indices_files = [f for d in dsets for f in d._indices_files] if indices is not None else []
    return Dataset(table, info=_merged_info(dsets, info, features), split=split, indices_table=indices,
                   fingerprint=_combined_fingerprint(dsets, "concatenate", {"axis": 0, "split": split}),
                   data_files=data_files, indices_files=indices_files)


def _concatenate_columns(dsets: list, info, split):
    from snuggle.data.arrow_dataset import Dataset, _check_unique_columns
    from snuggle.data.features import Features

    lengths = [len(d) for d in dsets]
    if len(set(lengths)) > 1:
        raise DataError(f"concatenate_datasets(axis=1): number of rows must match for all datasets, got {lengths}")
    _check_unique_columns([c for d in dsets for c in d.column_names])
    if len(dsets) > 1:
        dsets = [d.flatten_indices() if d._indices is not None else d for d in dsets]
    table = dsets[0]._data
    for d in dsets[1:]:
        for name in d.column_names:
            table = table.append_column(d._data.schema.field(name), d._data.column(name))
    features = Features({k: v for d in dsets for k, v in d.features.items()})
    return Dataset(table, info=_merged_info(dsets, info, features), split=split, indices_table=dsets[0]._indices,
                   fingerprint=_combined_fingerprint(dsets, "concatenate", {"axis": 1, "split": split}),
                   data_files=[f for d in dsets for f in d._data_files],
                   indices_files=list(dsets[0]._indices_files))


def _merged_info(dsets: list, info, features):
    import copy

    if info is not None:
        info = copy.deepcopy(info)
    else:
        from snuggle.data.info import DatasetInfo

        infos = [d.info for d in dsets]
        merge = getattr(DatasetInfo, "from_merge", None)
        info = merge(infos) if merge is not None else copy.deepcopy(infos[0])
    info.features = features
    return info


def _combined_fingerprint(dsets: list, transform: str, args: dict) -> str:
    from snuggle.data.fingerprint import update_fingerprint

    return update_fingerprint("".join(d._fingerprint for d in dsets), transform, args)


def concatenate_datasets(dsets: list, info=None, split: str | None = None, axis: int = 0):
    """Datasets one after another (axis=0, same columns and types) or side by side (axis=1, same length).

    Format is kept when all inputs share it, else reset (as `datasets`).
    """
    if not dsets:
        raise DataError("concatenate_datasets: unable to concatenate an empty list of datasets")
    from snuggle.data.arrow_dataset import Dataset

    if not all(isinstance(d, Dataset) for d in dsets):
        from snuggle.data.iterable_combine import _concatenate_iterable_datasets

        return _concatenate_iterable_datasets(dsets, info=info, split=split, axis=axis)
    if axis not in (0, 1):
        raise DataError(f"concatenate_datasets: axis must be 0 (rows) or 1 (columns), got {axis}")
    if any(len(d) > 0 for d in dsets):
        dsets = [d for d in dsets if len(d) > 0]
    else:
        return dsets[0]
    dsets = list(dsets)
    result = _concatenate_rows(dsets, info, split) if axis == 0 else _concatenate_columns(dsets, info, split)
    first = dsets[0]
    same_format = all(
        (d._format_type, d._format_kwargs, d._format_columns, d._output_all_columns)
        == (first._format_type, first._format_kwargs, first._format_columns, first._output_all_columns)
        for d in dsets
    )
    if same_format and (first._format_type is not None or first._format_columns is not None):
        fingerprint = result._fingerprint
        result.set_format(first._format_type, first._format_columns, first._output_all_columns,
                          **first._format_kwargs)
        result._fingerprint = fingerprint
    return result


def interleave_datasets(datasets: list, probabilities: list[float] | None = None, seed: int | None = None,
                        info=None, split: str | None = None, stopping_strategy: str = "first_exhausted"):
    """Rows alternating between datasets: round robin, or drawn with `probabilities` (seeded).

    stopping_strategy: "first_exhausted" stops when one source runs out; "all_exhausted"
    restarts exhausted sources until every one has been seen whole; "all_exhausted_without_replacement"
    skips exhausted sources so each row appears exactly once.
    """
    if not datasets:
        raise DataError("interleave_datasets: unable to interleave an empty list of datasets")
    from snuggle.data.arrow_dataset import Dataset

    if not all(isinstance(d, Dataset) for d in datasets):
        from snuggle.data.iterable_combine import _interleave_iterable_datasets

        return _interleave_iterable_datasets(
            datasets, probabilities=probabilities, seed=seed, info=info, split=split,
            stopping_strategy=stopping_strategy)
    strategies = ("first_exhausted", "all_exhausted", "all_exhausted_without_replacement")
    if stopping_strategy not in strategies:
        raise DataError(f"interleave_datasets: stopping_strategy {stopping_strategy!r} is not one of {list(strategies)}")
    if probabilities is not None and len(probabilities) != len(datasets):
        raise DataError(
            f"interleave_datasets: {len(probabilities)} probabilities for {len(datasets)} datasets; give one each")
    lengths = [len(d) for d in datasets]
    rows = interleaved_rows(lengths, probabilities, seed, stopping_strategy)
    combined = concatenate_datasets(list(datasets), info=info, split=split)
    if len(combined) == 0:
        return combined
    return combined.select(rows)


def interleaved_rows(lengths: list[int], probabilities, seed, stopping_strategy: str) -> list[int]:
    """Row positions in the concatenation of datasets of `lengths`, in interleaved order."""
    import numpy as np

    offsets = np.cumsum([0] + lengths[:-1])
    if probabilities is None:
        if stopping_strategy == "first_exhausted":
            # row i of every source, for i below the shortest length
            return (offsets[None, :] + np.arange(min(lengths))[:, None]).ravel().tolist()
        if stopping_strategy == "all_exhausted":
            # shorter sources wrap around until the longest is done
            wrapped = np.arange(max(lengths))[:, None] % np.asarray(lengths)[None, :]
            return (wrapped + offsets[None, :]).ravel().tolist()
        order = []  # without replacement: each round takes row i of every source still running
        for i in range(max(lengths)):
            order.extend(int(offsets[s]) + i for s in range(len(lengths)) if i < lengths[s])
        return order
    p = np.asarray(probabilities, dtype=np.float64)
    drawable = p > 0
    empty = [s for s in range(len(lengths)) if lengths[s] == 0 and drawable[s]]
    if empty:
        raise DataError(
            f"interleave_datasets with probabilities needs every dataset with probability > 0 to be non-empty; "
            f"datasets at indices {empty} are empty"
        )
    rng = np.random.default_rng(seed)
    if stopping_strategy == "all_exhausted_without_replacement":
        return _draw_without_replacement(lengths, offsets, probabilities, rng)
    oversampling = stopping_strategy == "all_exhausted"
    if oversampling and not drawable.all():
        never = [s for s in range(len(lengths)) if not drawable[s]]
        raise DataError(
            f'interleave_datasets with stopping_strategy="all_exhausted" cannot exhaust datasets {never} '
            "that have probability 0"
        )
    n_sources = len(lengths)
    length_array = np.asarray(lengths, dtype=np.int64)
    # Draw sources in blocks of 1000 until the stopping condition is reachable.
    blocks, counts = [], np.zeros(n_sources, dtype=np.int64)
    while True:
        done = counts >= length_array
        if (done[drawable].all() if oversampling else done[drawable].any()):
            break
        block = rng.choice(n_sources, size=1000, p=probabilities)
        blocks.append(block)
        counts += np.bincount(block, minlength=n_sources)
    draws = np.concatenate(blocks)
    # Position in `draws` where each source hands out its last row.
    last_row_at = []
    for s in range(n_sources):
        if drawable[s]:
            positions = np.flatnonzero(draws == s)
            if len(positions) >= lengths[s]:
                last_row_at.append(positions[lengths[s] - 1])
    stop = max(last_row_at) if oversampling else min(last_row_at)
    used = draws[: stop + 1]
    rows = np.empty(len(used), dtype=np.int64)
    for s in range(n_sources):
        positions = np.flatnonzero(used == s)
        rows[positions] = np.arange(len(positions)) % max(lengths[s], 1) + offsets[s]
    return rows.tolist()


def _draw_without_replacement(lengths, offsets, probabilities, rng) -> list[int]:
    """Random source per step; an exhausted source's draws are skipped; ends when all are exhausted."""
    exhausted = [length == 0 for length in lengths]
    taken = [0] * len(lengths)
    order: list[int] = []
    while not all(exhausted):
        for source in rng.choice(len(lengths), size=1000, p=probabilities):
            if all(exhausted):
                break
            source = int(source)
            if not exhausted[source]:
                order.append(int(offsets[source]) + taken[source])
                taken[source] += 1
            if taken[source] >= lengths[source]:
                exhausted[source] = True
    return order
