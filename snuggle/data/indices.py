"""Row selection and order for `Dataset`: select, shuffle, sort, train_test_split, shard, flatten_indices.

None of these copies rows. A contiguous selection becomes a zero-copy slice of the Arrow
table; anything else becomes an *indices mapping*: a one-column uint64 table "indices" whose
i-th value is the row of `_data` that the dataset shows at position i. Selecting from a
dataset that already has a mapping composes the two. `flatten_indices` materializes the rows.

Random choices use the same NumPy calls as `datasets`, so a given seed gives the same order:
`shuffle(seed)` is `np.random.default_rng(seed).permutation(n)`; `train_test_split` takes the
test rows from the front of that permutation; the stratified split follows scikit-learn's
StratifiedShuffleSplit draw order.

>>> from snuggle.data.arrow_dataset import Dataset
>>> ds = Dataset.from_dict({"x": list(range(10))})
>>> ds.select([3, 1])["x"]
[3, 1]
>>> ds.shard(num_shards=3, index=0)["x"]
[0, 1, 2, 3]
"""

from __future__ import annotations

import os
from math import ceil, floor
from typing import TYPE_CHECKING

import pyarrow as pa

from snuggle.data.arrow_files import read_arrow_file, write_arrow_file
from snuggle.errors import DataError

if TYPE_CHECKING:
    from snuggle.data.arrow_dataset import Dataset


def _fingerprint(ds, transform: str, args: dict) -> str:
    from snuggle.data.fingerprint import update_fingerprint

    return update_fingerprint(ds._fingerprint, transform, args)


def _as_int_array(indices):
    """Any iterable of ints (list, range, numpy, pandas, Arrow) -> an int64 numpy array."""
    import numpy as np

    if isinstance(indices, (pa.Array, pa.ChunkedArray)):
        return indices.to_numpy().astype(np.int64)
    if isinstance(indices, range):
        return np.arange(indices.start, indices.stop, indices.step, dtype=np.int64)
    if not hasattr(indices, "__len__"):
        indices = list(indices)
    array = np.asarray(indices)
    if array.size == 0:
        return array.astype(np.int64)
    if array.ndim != 1 or array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"select: indices must be a 1-D sequence of integers, got dtype {array.dtype} shape {array.shape}")
    return array.astype(np.int64, copy=False)


def _random_seed_from_numpy_global_state() -> int:
    """The seed `datasets` draws when neither seed nor generator is given (and one step of the global RNG)."""
    import numpy as np

    _, keys, pos, *_ = np.random.get_state()
    seed = keys[pos] if pos < 624 else keys[0]
    np.random.random()
    return int(seed)


class RowSelectionMixin:
    """Methods of `Dataset` that choose and order rows (see the module docstring)."""

    # ------------------------------------------------------------------ select

    def select(self, indices, keep_in_memory: bool = False, indices_cache_file_name: str | None = None,
               writer_batch_size: int | None = 1000, new_fingerprint: str | None = None) -> Dataset:
        """Rows at `indices` (range, list, numpy array, ...), in that order.

        Contiguous increasing indices slice the table; others create an indices mapping.
        """
        if keep_in_memory and indices_cache_file_name is not None:
            raise DataError("Please use either `keep_in_memory` or `indices_cache_file_name` but not both.")
        if len(self) == 0:
            return self
        import numpy as np

        if isinstance(indices, range) and indices.step == 1 and indices.start >= 0 and indices.stop >= indices.start:
            fingerprint = new_fingerprint or _fingerprint(self, "select", {"indices": indices})
            return self._select_contiguous(indices.start, len(indices), new_fingerprint=fingerprint)
        array = _as_int_array(indices)
        fingerprint = new_fingerprint or _fingerprint(self, "select", {"indices": array})
        if len(array) == 0:
            return self._select_contiguous(0, 0, new_fingerprint=fingerprint)
        if array[0] >= 0 and (len(array) == 1 or bool(np.all(np.diff(array) == 1))):
            return self._select_contiguous(int(array[0]), len(array), new_fingerprint=fingerprint)
        return self._select_with_indices_mapping(array, keep_in_memory=keep_in_memory,
                                                 indices_cache_file_name=indices_cache_file_name,
                                                 new_fingerprint=fingerprint)

    def _select_contiguous(self, start: int, length: int, new_fingerprint: str | None = None) -> Dataset:
        size = len(self)
        if length > 0 and (start >= size or start + length > size):
            raise IndexError(f"Index {start + length - 1} out of range for dataset of size {size}.")
        fingerprint = new_fingerprint or _fingerprint(self, "select", {"start": start, "length": length})
        if self._indices is None or length == 0:
            return self._derive(data=self._data.slice(start, length), indices=None, fingerprint=fingerprint,
                                indices_files=[])
        return self._derive(indices=self._indices.slice(start, length), fingerprint=fingerprint)

    def _select_with_indices_mapping(self, indices, keep_in_memory: bool = False,
                                     indices_cache_file_name: str | None = None,
                                     new_fingerprint: str | None = None) -> Dataset:
        import numpy as np

        array = _as_int_array(indices)
        size = len(self)
        fingerprint = new_fingerprint or _fingerprint(self, "select", {"indices": array})
        if len(array) == 0:
            return self._select_contiguous(0, 0, new_fingerprint=fingerprint)
        low, high = int(array.min()), int(array.max())
        if high >= size or low < -size:
            bad = high if high >= size else low
            raise IndexError(f"Index {bad} out of range for dataset of size {size}.")
        if low < 0:
            array = np.where(array < 0, array + size, array)
        positions = pa.array(array.astype(np.uint64), type=pa.uint64())
        if self._indices is not None:
            positions = self._indices.column(0).take(positions)
        table = pa.table({"indices": positions})
        if indices_cache_file_name is not None and not keep_in_memory:
            write_arrow_file(indices_cache_file_name, [table])
            table = read_arrow_file(indices_cache_file_name)
            return self._derive(indices=table, fingerprint=fingerprint, indices_files=[indices_cache_file_name])
        return self._derive(indices=table, fingerprint=fingerprint, indices_files=[])

    def _with_cached_indices(self, path: str, fingerprint: str) -> Dataset:
        return self._derive(indices=read_arrow_file(path), fingerprint=fingerprint, indices_files=[path])

    def _indices_cache_path(self, given: str | None, fingerprint: str, keep_in_memory: bool) -> str | None:
        """Where an indices mapping goes: the given path, else beside the data files (file-backed only)."""
        if given is not None or keep_in_memory or not self._data_files:
            return given
        return self._get_cache_file_path(fingerprint)

    def skip(self, n: int) -> Dataset:
        """All rows but the first `n`."""
        return self.select(range(min(n, len(self)), len(self)))

    def take(self, n: int) -> Dataset:
        """The first `n` rows."""
        return self.select(range(min(n, len(self))))

    # ------------------------------------------------------------------ shuffle / sort

    def shuffle(self, seed: int | None = None, generator=None, keep_in_memory: bool = False,
                load_from_cache_file: bool | None = None, indices_cache_file_name: str | None = None,
                writer_batch_size: int | None = 1000, new_fingerprint: str | None = None) -> Dataset:
        """Rows in a random order: `np.random.default_rng(seed).permutation(len(self))`, as `datasets`.

        >>> from snuggle.data.arrow_dataset import Dataset
        >>> Dataset.from_dict({"x": [0, 1, 2, 3]}).shuffle(seed=0)["x"]
        [2, 0, 1, 3]
        """
        import numpy as np

        from snuggle.data.fingerprint import is_caching_enabled

        if len(self) == 0:
            return self
        if keep_in_memory and indices_cache_file_name is not None:
            raise DataError("Please use either `keep_in_memory` or `indices_cache_file_name` but not both.")
        if seed is not None and generator is not None:
            raise DataError("Both `seed` and `generator` were provided. Please specify just one of them.")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise DataError("The provided generator must be an instance of numpy.random.Generator")
        load_from_cache_file = is_caching_enabled() if load_from_cache_file is None else load_from_cache_file
        if generator is None:
            if seed is None:
                seed = _random_seed_from_numpy_global_state()
            generator = np.random.default_rng(seed)
        fingerprint = new_fingerprint or _fingerprint(
            self, "shuffle", {"generator_state": generator.bit_generator.state, "keep_in_memory": keep_in_memory})
        path = self._indices_cache_path(indices_cache_file_name, fingerprint, keep_in_memory)
        if path is not None and load_from_cache_file and os.path.exists(path):
            return self._with_cached_indices(path, fingerprint)
        permutation = generator.permutation(len(self))
        return self._select_with_indices_mapping(permutation, keep_in_memory=keep_in_memory,
                                                 indices_cache_file_name=path, new_fingerprint=fingerprint)

    def sort(self, column_names, reverse=False, null_placement: str = "at_end", keep_in_memory: bool = False,
             load_from_cache_file: bool | None = None, indices_cache_file_name: str | None = None,
             writer_batch_size: int | None = 1000, new_fingerprint: str | None = None, kind: str | None = None
             ) -> Dataset:
        """Rows sorted by one or more columns (stable; `reverse` per column; nulls at_end / at_start).

        `kind` is accepted for compatibility with older `datasets`; Arrow's sort is always stable.

        >>> from snuggle.data.arrow_dataset import Dataset
        >>> Dataset.from_dict({"x": [2, 0, 1]}).sort("x")["x"]
        [0, 1, 2]
        """
        import pyarrow.compute as pc

        from snuggle.data.fingerprint import is_caching_enabled
        from snuggle.data.formatting import query_table

        if len(self) == 0:
            return self
        if isinstance(column_names, str):
            column_names = [column_names]
        column_names = list(column_names)
        if isinstance(reverse, bool):
            reverse = [reverse] * len(column_names)
        elif len(reverse) != len(column_names):
            raise DataError(
                f"sort: reverse has {len(reverse)} values for {len(column_names)} columns {column_names}; "
                "pass one bool or one per column"
            )
        for column in column_names:
            if not isinstance(column, str) or column not in self._data.column_names:
                raise DataError(
                    f"Column '{column}' not found in the dataset. Please provide a column selected in: "
                    f"{self._data.column_names}"
                )
        null_placement = {"first": "at_start", "last": "at_end"}.get(null_placement, null_placement)
        if null_placement not in ("at_start", "at_end"):
            raise DataError(f"null_placement {null_placement!r} is invalid; use 'last', 'at_end', 'first' or 'at_start'")
        load_from_cache_file = is_caching_enabled() if load_from_cache_file is None else load_from_cache_file
        fingerprint = new_fingerprint or _fingerprint(
            self, "sort", {"column_names": column_names, "reverse": list(reverse), "null_placement": null_placement})
        path = self._indices_cache_path(indices_cache_file_name, fingerprint, keep_in_memory)
        if path is not None and load_from_cache_file and os.path.exists(path):
            return self._with_cached_indices(path, fingerprint)
        keys_table = query_table(self._data.select(column_names), slice(0, len(self)), indices=self._indices)
        sort_keys = [(c, "descending" if r else "ascending", null_placement) for c, r in zip(column_names, reverse)]
        order = pc.sort_indices(keys_table, sort_keys=sort_keys)
        return self._select_with_indices_mapping(order.to_numpy(), keep_in_memory=keep_in_memory,
                                                 indices_cache_file_name=path, new_fingerprint=fingerprint)

    # ------------------------------------------------------------------ splits

    def train_test_split(self, test_size: float | None = None, train_size: float | None = None,
                         shuffle: bool = True, stratify_by_column: str | None = None, seed: int | None = None,
                         generator=None, keep_in_memory: bool = False, load_from_cache_file: bool | None = None,
                         train_indices_cache_file_name: str | None = None,
                         test_indices_cache_file_name: str | None = None, writer_batch_size: int | None = 1000,
                         train_new_fingerprint: str | None = None, test_new_fingerprint: str | None = None):
        """A DatasetDict {"train", "test"} with the same rows as `datasets` gives for the same seed.

        >>> from snuggle.data.arrow_dataset import Dataset
        >>> parts = Dataset.from_dict({"x": list(range(8))}).train_test_split(test_size=0.25, seed=0)
        >>> parts["test"]["x"]
        [2, 4]
        """
        import numpy as np

        from snuggle.data.dataset_dict import DatasetDict
        from snuggle.data.features import ClassLabel
        from snuggle.data.fingerprint import is_caching_enabled

        if len(self) == 0:
            return DatasetDict({"train": self, "test": self})
        n_train, n_test = _split_sizes(len(self), test_size, train_size)
        load_from_cache_file = is_caching_enabled() if load_from_cache_file is None else load_from_cache_file
        if generator is None and shuffle:
            if seed is None:
                seed = _random_seed_from_numpy_global_state()
            generator = np.random.default_rng(seed)
        args = {
            "test_size": test_size, "train_size": train_size, "shuffle": shuffle,
            "stratify_by_column": stratify_by_column,
            "generator_state": generator.bit_generator.state if generator is not None else None,
        }
        train_fp = train_new_fingerprint or _fingerprint(self, "train_test_split", {**args, "part": "train"})
        test_fp = test_new_fingerprint or _fingerprint(self, "train_test_split", {**args, "part": "test"})
        train_path = self._indices_cache_path(train_indices_cache_file_name, train_fp, keep_in_memory)
        test_path = self._indices_cache_path(test_indices_cache_file_name, test_fp, keep_in_memory)
        if (train_path and test_path and load_from_cache_file and os.path.exists(train_path)
                and os.path.exists(test_path)):
            return DatasetDict({"train": self._with_cached_indices(train_path, train_fp),
                                "test": self._with_cached_indices(test_path, test_fp)})
        if not shuffle:
            if stratify_by_column is not None:
                raise DataError("Stratified train/test split is not implemented for `shuffle=False`")
            train_indices = np.arange(n_train)
            test_indices = np.arange(n_train, n_train + n_test)
        elif stratify_by_column is not None:
            if stratify_by_column not in self.features:
                raise DataError(f"stratify_by_column: column {stratify_by_column!r} not in {list(self.features)}")
            if not isinstance(self.features[stratify_by_column], ClassLabel):
                raise DataError(
                    f"Stratifying by column is only supported for ClassLabel columns, and column "
                    f"{stratify_by_column} is {type(self.features[stratify_by_column]).__name__}; "
                    f"convert it first with class_encode_column({stratify_by_column!r})"
                )
            labels = np.asarray(self.with_format("numpy")[stratify_by_column])
            train_indices, test_indices = stratified_split_indices(labels, n_train, n_test, generator,
                                                                   column=stratify_by_column)
        else:
            permutation = generator.permutation(len(self))
            test_indices = permutation[:n_test]
            train_indices = permutation[n_test:n_test + n_train]
        train = self.select(train_indices, keep_in_memory=keep_in_memory, indices_cache_file_name=train_path,
                            new_fingerprint=train_fp)
        test = self.select(test_indices, keep_in_memory=keep_in_memory, indices_cache_file_name=test_path,
                           new_fingerprint=test_fp)
        return DatasetDict({"train": train, "test": test})

    def shard(self, num_shards: int, index: int, contiguous: bool = True, keep_in_memory: bool = False,
              indices_cache_file_name: str | None = None, writer_batch_size: int | None = 1000) -> Dataset:
        """The `index`-th of `num_shards` pieces: contiguous blocks (sizes differ by at most one) or every n-th row."""
        import numpy as np

        if not 0 <= index < num_shards:
            raise DataError(f"shard: index={index} must be in [0, num_shards-1] = [0, {num_shards - 1}]")
        if contiguous:
            div, mod = divmod(len(self), num_shards)
            start = div * index + min(index, mod)
            end = start + div + (1 if index < mod else 0)
            indices = range(start, end)
        else:
            indices = np.arange(index, len(self), num_shards)
        return self.select(indices, keep_in_memory=keep_in_memory, indices_cache_file_name=indices_cache_file_name)

    # ------------------------------------------------------------------ materialize

    def flatten_indices(self, keep_in_memory: bool = False, cache_file_name: str | None = None,
                        writer_batch_size: int | None = 1000, features=None, disable_nullable: bool = False,
                        num_proc: int | None = None, new_fingerprint: str | None = None) -> Dataset:
        """The rows of the indices mapping copied into a new table (so reads are contiguous again)."""
        fingerprint = new_fingerprint or _fingerprint(self, "flatten_indices", {"features": features})
        return self._rewrite_rows(lambda table: table, features or self.features, fingerprint,
                                  keep_in_memory=keep_in_memory, cache_file_name=cache_file_name,
                                  batch_size=writer_batch_size or 1000)

    def _rewrite_rows(self, transform, features, fingerprint: str, keep_in_memory: bool = False,
                      cache_file_name: str | None = None, load_from_cache_file: bool | None = None,
                      batch_size: int = 1000) -> Dataset:
        """A new dataset whose table is `transform(batch)` for every batch of rows (indices resolved).

        File-backed datasets write the result to `cache-<fingerprint>.arrow` beside their files
        (reused when present); in-memory ones keep it in memory.
        """
        from snuggle.data.arrow_dataset import with_features_metadata
        from snuggle.data.fingerprint import is_caching_enabled
        from snuggle.data.formatting import query_table

        load_from_cache_file = is_caching_enabled() if load_from_cache_file is None else load_from_cache_file
        n = len(self)

        def batches():
            if n == 0:
                yield transform(self._data.slice(0, 0))
            for start in range(0, n, batch_size):
                yield transform(query_table(self._data, slice(start, start + batch_size), indices=self._indices))

        path = cache_file_name
        if path is None and self._data_files and not keep_in_memory:
            path = self._get_cache_file_path(fingerprint)
        if path is not None and not keep_in_memory:
            if not (load_from_cache_file and os.path.exists(path)):
                schema = with_features_metadata(pa.table({c: pa.array([], type=features.arrow_schema.field(c).type)
                                                          for c in features}), features).schema
                write_arrow_file(path, batches(), schema=schema)
            table = read_arrow_file(path)
            return self._derive(data=table, indices=None, features=features, fingerprint=fingerprint,
                                data_files=[path])
        whole = query_table(self._data, slice(0, n), indices=self._indices) if n else self._data.slice(0, 0)
        table = transform(whole)
        return self._derive(data=table, indices=None, features=features, fingerprint=fingerprint, data_files=[])


def _split_sizes(n_samples: int, test_size, train_size) -> tuple[int, int]:
    """(n_train, n_test) from float fractions or int counts, validated as in `datasets`."""
    if test_size is None and train_size is None:
        test_size = 0.25
    for name, size in (("test_size", test_size), ("train_size", train_size)):
        if size is None:
            continue
        if isinstance(size, bool) or not isinstance(size, (int, float)):
            raise DataError(f"Invalid value for {name}: {size!r} of type {type(size).__name__}")
        if isinstance(size, int) and not 0 < size < n_samples or isinstance(size, float) and not 0 < size < 1:
            raise DataError(
                f"{name}={size} should be either positive and smaller than the number of samples {n_samples} "
                "or a float in the (0, 1) range"
            )
    if isinstance(train_size, float) and isinstance(test_size, float) and train_size + test_size > 1:
        raise DataError(
            f"The sum of test_size and train_size = {train_size + test_size}, should be in the (0, 1) range. "
            "Reduce test_size and/or train_size."
        )
    n_test = ceil(test_size * n_samples) if isinstance(test_size, float) else test_size
    n_train = floor(train_size * n_samples) if isinstance(train_size, float) else train_size
    if train_size is None:
        n_train = n_samples - n_test
    elif test_size is None:
        n_test = n_samples - n_train
    if n_train + n_test > n_samples:
        raise DataError(
            f"The sum of train_size and test_size = {n_train + n_test}, should be smaller than the number of samples "
            f"{n_samples}. Reduce test_size and/or train_size."
        )
    if n_train == 0:
        raise DataError(
            f"With n_samples={n_samples}, test_size={test_size} and train_size={train_size}, the resulting train set "
            "will be empty. Adjust any of the aforementioned parameters."
        )
    return int(n_train), int(n_test)


def _allocate_draws(class_counts, n_draws: int, rng):
    """Split `n_draws` over classes proportionally; leftover draws go to the largest remainders,
    ties broken at random (scikit-learn's `_approximate_mode`, which `datasets` uses)."""
    import numpy as np

    exact = n_draws * class_counts / class_counts.sum()
    allocated = np.floor(exact)
    left = int(n_draws - allocated.sum())
    if left > 0:
        remainder = exact - allocated
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            chosen = rng.choice(tied, size=min(len(tied), left), replace=False)
            allocated[chosen] += 1
            left -= len(chosen)
            if left == 0:
                break
    return allocated.astype(np.int64)


def stratified_split_indices(labels, n_train: int, n_test: int, rng, column: str = "label"):
    """(train, test) row indices keeping each class's share, with the RNG draws of `datasets`."""
    import numpy as np

    classes, label_ids = np.unique(labels, return_inverse=True)
    class_counts = np.bincount(label_ids)
    if class_counts.min() < 2:
        raise DataError(
            f"The least populated class in {column} column has only 1 member, which is too few. The minimum number "
            "of groups for any class cannot be less than 2."
        )
    for name, size in (("train_size", n_train), ("test_size", n_test)):
        if size < len(classes):
            raise DataError(f"The {name} = {size} should be greater or equal to the number of classes = {len(classes)}")
    # rows of each class, in row order
    rows_by_class = np.split(np.argsort(label_ids, kind="mergesort"), np.cumsum(class_counts)[:-1])
    train_per_class = _allocate_draws(class_counts, n_train, rng)
    test_per_class = _allocate_draws(class_counts - train_per_class, n_test, rng)
    train: list = []
    test: list = []
    for rows, n_tr, n_te, count in zip(rows_by_class, train_per_class, test_per_class, class_counts):
        shuffled = rows.take(rng.permutation(count), mode="clip")
        train.extend(shuffled[:n_tr])
        test.extend(shuffled[n_tr:n_tr + n_te])
    return rng.permutation(train), rng.permutation(test)
