"""Combining streamed datasets: concatenate (rows or columns), interleave, and `IterableDatasetDict`.

`snuggle.data.combine.concatenate_datasets` / `interleave_datasets` call the two functions below when they are
given IterableDatasets, with the reference's arguments.

>>> from snuggle.data.iterable_dataset import IterableDataset
>>> a = IterableDataset.from_generator(lambda: ({"x": i} for i in range(3)))
>>> b = IterableDataset.from_generator(lambda: ({"x": i} for i in range(10, 12)))
>>> [e["x"] for e in _interleave_iterable_datasets([a, b])]
[0, 10, 1, 11]
"""

from __future__ import annotations

import copy

from snuggle.data.examples_iterables import RebatchedArrowExamplesIterable
from snuggle.data.multi_source_iterables import (
    STOPPING_STRATEGIES,
    CyclingMultiSourcesExamplesIterable,
    HorizontallyConcatenatedMultiSourcesExamplesIterable,
    RandomlyCyclingMultiSourcesExamplesIterable,
    VerticallyConcatenatedMultiSourcesExamplesIterable,
    check_column_names,
)
from snuggle.errors import DataError


def _is_null_feature(feature) -> bool:
    from snuggle.data.features import Value

    if isinstance(feature, Value):
        return feature.dtype == "null"
    inner = getattr(feature, "feature", None)
    return inner is not None and not isinstance(feature, dict) and _is_null_feature(inner)


def _merged_feature_types(features_list) -> dict:
    """Column -> the first non-null feature seen for it."""
    merged = {}
    for features in features_list:
        for name, feature in features.items():
            if name not in merged or _is_null_feature(merged[name]):
                merged[name] = feature
    return merged


def check_features_can_be_aligned(features_list) -> None:
    """Shared columns must have the same feature (or a null one); raise DataError naming the column otherwise."""
    merged = _merged_feature_types(features_list)
    for features in features_list:
        for name, feature in features.items():
            if isinstance(feature, dict) and isinstance(merged[name], dict):
                check_features_can_be_aligned([merged[name], feature])
            elif not _is_null_feature(feature) and merged[name] != feature:
                raise DataError(
                    f"cannot combine datasets: column {name!r} has type {feature} in one dataset and "
                    f"{merged[name]} in another; cast them to the same features first"
                )


def align_features(features_list) -> list:
    """Give every shared column the same (first non-null) feature."""
    from snuggle.data.features import Features

    merged = {}
    for features in features_list:
        for name, feature in features.items():
            if name in merged and isinstance(feature, dict):
                merged[name] = align_features([merged[name], feature])[0]
            elif name not in merged or _is_null_feature(merged[name]):
                merged[name] = feature
    return [Features({name: merged[name] for name in features}) for features in features_list]


def _merge_infos(datasets):
    info = copy.deepcopy(datasets[0].info)
    return info


def _combined_features(datasets):
    from snuggle.data.features import Features

    return Features({k: v for features in align_features([d.features for d in datasets]) for k, v in features.items()})


def _check_same_distribution(datasets, action: str) -> None:
    for i, dataset in enumerate(datasets):
        if dataset._distributed != datasets[0]._distributed:
            raise DataError(
                f"datasets must be split_dataset_by_node identically before {action}, but dataset 0 has "
                f"{datasets[0]._distributed} and dataset {i} has {dataset._distributed}"
            )


def _concatenate_iterable_datasets(dsets: list, info=None, split=None, axis: int = 0):
    """Rows of each dataset in turn (axis=0), or their columns side by side (axis=1). Missing columns -> None."""
    from snuggle.data.iterable_dataset import IterableDataset
    from snuggle.data.mapped_iterables import FormattingConfig

    if not dsets:
        raise DataError("concatenate_datasets: the list of datasets is empty")
    dsets = [d._resolve_features() for d in dsets]
    if axis == 0:
        check_features_can_be_aligned([d.features for d in dsets])
    else:
        check_column_names([column for d in dsets for column in d.features])
    _check_same_distribution(dsets, "concatenating")
    format_types = {d._formatting.format_type if d._formatting else "<none>" for d in dsets}
    formatting = None
    if len(format_types) == 1 and "<none>" not in format_types:
        formatting = FormattingConfig(format_types.pop())
    features = _combined_features(dsets)
    ex_iterables = [copy.deepcopy(d._ex_iterable) for d in dsets]
    if axis == 0:
        ex_iterable = VerticallyConcatenatedMultiSourcesExamplesIterable(ex_iterables)
    else:
        if all(child.iter_arrow for child in ex_iterables):
            ex_iterables = [RebatchedArrowExamplesIterable(child, batch_size=1000) for child in ex_iterables]
        ex_iterable = HorizontallyConcatenatedMultiSourcesExamplesIterable(ex_iterables)
    info = _merge_infos(dsets) if info is None else copy.deepcopy(info)
    info.features = features
    return IterableDataset(ex_iterable, info=info, split=split, formatting=formatting,
                           distributed=dsets[0]._distributed)


def _interleave_iterable_datasets(datasets: list, probabilities=None, seed=None, info=None, split=None,
                                  stopping_strategy: str = "first_exhausted"):
    """Alternate between the sources (in turn, or at random with `probabilities` and `seed`, as the reference).

    stopping_strategy: "first_exhausted", "all_exhausted" or "all_exhausted_without_replacement".
    """
    import numpy as np

    from snuggle.data.iterable_dataset import IterableDataset

    if not datasets:
        raise DataError("interleave_datasets: the list of datasets is empty")
    if stopping_strategy not in STOPPING_STRATEGIES:
        raise DataError(f"interleave_datasets: stopping_strategy is {stopping_strategy!r}; "
                        f"expected one of {list(STOPPING_STRATEGIES)}")
    if probabilities is not None and len(probabilities) != len(datasets):
        raise DataError(f"interleave_datasets: {len(probabilities)} probabilities for {len(datasets)} datasets")
    datasets = [d._resolve_features() for d in datasets]
    check_features_can_be_aligned([d.features for d in datasets])
    _check_same_distribution(datasets, "interleaving")
    features = _combined_features(datasets)
    ex_iterables = [copy.deepcopy(d._ex_iterable) for d in datasets]
    if all(child.iter_arrow for child in ex_iterables):
        ex_iterables = [RebatchedArrowExamplesIterable(child, batch_size=1) for child in ex_iterables]
    if probabilities is None:
        ex_iterable = CyclingMultiSourcesExamplesIterable(ex_iterables, stopping_strategy=stopping_strategy)
    else:
        ex_iterable = RandomlyCyclingMultiSourcesExamplesIterable(
            ex_iterables, generator=np.random.default_rng(seed), probabilities=probabilities,
            stopping_strategy=stopping_strategy,
        )
    info = _merge_infos(datasets) if info is None else copy.deepcopy(info)
    info.features = features
    return IterableDataset(ex_iterable, info=info, split=split, distributed=datasets[0]._distributed)


class IterableDatasetDict(dict):
    """A dict of split name -> IterableDataset whose methods apply to every split.

    >>> from snuggle.data.iterable_dataset import IterableDataset
    >>> d = IterableDatasetDict(train=IterableDataset.from_generator(lambda: ({"x": i} for i in range(3))))
    >>> [e["x"] for e in d.map(lambda e: {"x": e["x"] + 1})["train"]]
    [1, 2, 3]
    """

    def _apply(self, method: str, *args, **kwargs) -> IterableDatasetDict:
        return IterableDatasetDict({split: getattr(ds, method)(*args, **kwargs) for split, ds in self.items()})

    def __repr__(self) -> str:
        body = ",\n".join(f"    {split}: " + repr(ds).replace("\n", "\n    ") for split, ds in self.items())
        return f"IterableDatasetDict({{\n{body}\n}})"

    @property
    def num_columns(self) -> dict:
        return {split: ds.num_columns for split, ds in self.items()}

    @property
    def column_names(self) -> dict:
        return {split: ds.column_names for split, ds in self.items()}

    @property
    def features(self):
        return next(iter(self.values())).features if self else None

    def with_format(self, type=None):
        return self._apply("with_format", type)

    def map(self, function=None, with_indices=False, input_columns=None, batched=False, batch_size=1000,
            drop_last_batch=False, remove_columns=None, features=None, fn_kwargs=None):
        return self._apply("map", function, with_indices=with_indices, input_columns=input_columns,
                           batched=batched, batch_size=batch_size, drop_last_batch=drop_last_batch,
                           remove_columns=remove_columns, features=features, fn_kwargs=fn_kwargs)

    def filter(self, function=None, with_indices=False, input_columns=None, batched=False, batch_size=1000,
               fn_kwargs=None):
        return self._apply("filter", function, with_indices=with_indices, input_columns=input_columns,
                           batched=batched, batch_size=batch_size, fn_kwargs=fn_kwargs)

    def shuffle(self, seed=None, generator=None, buffer_size: int = 1000):
        return self._apply("shuffle", seed=seed, generator=generator, buffer_size=buffer_size)

    def take(self, n: int):
        return self._apply("take", n)

    def skip(self, n: int):
        return self._apply("skip", n)

    def rename_column(self, original_column_name: str, new_column_name: str):
        return self._apply("rename_column", original_column_name, new_column_name)

    def rename_columns(self, column_mapping: dict):
        return self._apply("rename_columns", column_mapping)

    def remove_columns(self, column_names):
        return self._apply("remove_columns", column_names)

    def select_columns(self, column_names):
        return self._apply("select_columns", column_names)

    def cast_column(self, column: str, feature):
        return self._apply("cast_column", column, feature)

    def cast(self, features):
        return self._apply("cast", features)

    def set_epoch(self, epoch: int) -> None:
        for ds in self.values():
            ds.set_epoch(epoch)
