"""`DatasetDict`: a dict of split name -> Dataset whose methods apply to every split.

>>> from snuggle.data.arrow_dataset import Dataset
>>> dd = DatasetDict({"train": Dataset.from_dict({"a": [1, 2]}), "test": Dataset.from_dict({"a": [3]})})
>>> dd.num_rows
{'train': 2, 'test': 1}
>>> dd.rename_column("a", "b").column_names
{'train': ['b'], 'test': ['b']}
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable

from snuggle.errors import DataError


class DatasetDict(dict):
    """Splits of a dataset; every Dataset method of the same name runs on each split."""

    def _check_values_type(self) -> None:
        from snuggle.data.arrow_dataset import Dataset

        for split, dataset in self.items():
            if not isinstance(dataset, Dataset):
                raise DataError(f"DatasetDict values must be Dataset objects, but split {split!r} is {type(dataset).__name__}")

    def _each(self, method: str, *args, per_split: dict | None = None, **kwargs) -> DatasetDict:
        """DatasetDict of `dataset.method(*args, **kwargs, **per_split[split])` for every split."""
        self._check_values_type()
        out = {}
        for split, dataset in self.items():
            extra = {name: values[split] for name, values in (per_split or {}).items()}
            out[split] = getattr(dataset, method)(*args, **kwargs, **extra)
        return DatasetDict(out)

    def __getitem__(self, key):
        if isinstance(key, str) or len(self) == 0:
            return super().__getitem__(key)
        preferred = [s for s in ("train", "test", "validation") if s in self]
        example = preferred[0] if preferred else next(iter(self))
        raise KeyError(
            f"Invalid key: {key}. Please first select a split. For example: `my_dataset_dictionary['{example}'][{key}]`. "
            f"Available splits: {sorted(self)}"
        )

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        return None

    def __repr__(self) -> str:
        body = "\n".join(f"{split}: {dataset}" for split, dataset in self.items())
        body = re.sub("^", " " * 4, body, flags=re.MULTILINE)
        return f"DatasetDict({{\n{body}\n}})"

    # ------------------------------------------------------------------ properties

    def _collect(self, attribute: str) -> dict:
        self._check_values_type()
        return {split: getattr(dataset, attribute) for split, dataset in self.items()}

    @property
    def data(self) -> dict:
        return self._collect("data")

    @property
    def cache_files(self) -> dict:
        return self._collect("cache_files")

    @property
    def num_columns(self) -> dict:
        return self._collect("num_columns")

    @property
    def num_rows(self) -> dict:
        return self._collect("num_rows")

    @property
    def column_names(self) -> dict:
        return self._collect("column_names")

    @property
    def shape(self) -> dict:
        return self._collect("shape")

    def unique(self, column: str) -> dict:
        self._check_values_type()
        return {split: dataset.unique(column) for split, dataset in self.items()}

    def cleanup_cache_files(self) -> dict:
        self._check_values_type()
        return {split: dataset.cleanup_cache_files() for split, dataset in self.items()}

    # ------------------------------------------------------------------ column operations

    def flatten(self, max_depth: int = 16) -> DatasetDict:
        return self._each("flatten", max_depth=max_depth)

    def cast(self, features) -> DatasetDict:
        return self._each("cast", features)

    def cast_column(self, column: str, feature) -> DatasetDict:
        return self._each("cast_column", column, feature)

    def remove_columns(self, column_names) -> DatasetDict:
        return self._each("remove_columns", column_names)

    def rename_column(self, original_column_name: str, new_column_name: str) -> DatasetDict:
        return self._each("rename_column", original_column_name, new_column_name)

    def rename_columns(self, column_mapping: dict) -> DatasetDict:
        return self._each("rename_columns", column_mapping)

    def select_columns(self, column_names) -> DatasetDict:
        return self._each("select_columns", column_names)

    def class_encode_column(self, column: str, include_nulls: bool = False) -> DatasetDict:
        return self._each("class_encode_column", column, include_nulls=include_nulls)

    def align_labels_with_mapping(self, label2id: dict, label_column: str) -> DatasetDict:
        return self._each("align_labels_with_mapping", label2id, label_column)

    # ------------------------------------------------------------------ formats (in place or copies)

    @contextlib.contextmanager
    def formatted_as(self, type: str | None = None, columns: list | None = None, output_all_columns: bool = False,
                     **format_kwargs):
        self._check_values_type()
        with contextlib.ExitStack() as stack:
            for dataset in self.values():
                stack.enter_context(dataset.formatted_as(type, columns, output_all_columns, **format_kwargs))
            yield

    def set_format(self, type: str | None = None, columns: list | None = None, output_all_columns: bool = False,
                   **format_kwargs) -> None:
        self._check_values_type()
        for dataset in self.values():
            dataset.set_format(type=type, columns=columns, output_all_columns=output_all_columns, **format_kwargs)

    def reset_format(self) -> None:
        self._check_values_type()
        for dataset in self.values():
            dataset.set_format()

    def set_transform(self, transform: Callable | None, columns: list | None = None,
                      output_all_columns: bool = False) -> None:
        self._check_values_type()
        for dataset in self.values():
            dataset.set_transform(transform, columns=columns, output_all_columns=output_all_columns)

    def with_format(self, type: str | None = None, columns: list | None = None, output_all_columns: bool = False,
                    **format_kwargs) -> DatasetDict:
        return self._each("with_format", type=type, columns=columns, output_all_columns=output_all_columns,
                          **format_kwargs)

    def with_transform(self, transform: Callable | None, columns: list | None = None,
                       output_all_columns: bool = False) -> DatasetDict:
        return self._each("with_transform", transform, columns=columns, output_all_columns=output_all_columns)

    # ------------------------------------------------------------------ row operations

    def map(self, function: Callable | None = None, with_indices: bool = False, with_rank: bool = False,
            with_split: bool = False, input_columns=None, batched: bool = False, batch_size: int | None = 1000,
            drop_last_batch: bool = False, remove_columns=None, keep_in_memory: bool = False,
            load_from_cache_file: bool | None = None, cache_file_names: dict | None = None,
            writer_batch_size: int | None = 1000, features=None, disable_nullable: bool = False,
            fn_kwargs: dict | None = None, num_proc: int | None = None, desc: str | None = None,
            **kwargs) -> DatasetDict:
        """`Dataset.map` on every split; `with_split` passes the split name after the other arguments."""
        self._check_values_type()
        cache_file_names = cache_file_names or dict.fromkeys(self)
        out = {}
        for split, dataset in self.items():
            fn = function
            if with_split and function is not None:
                fn = _bind_split(function, split)
            out[split] = dataset.map(
                fn, with_indices=with_indices, with_rank=with_rank, input_columns=input_columns, batched=batched,
                batch_size=batch_size, drop_last_batch=drop_last_batch, remove_columns=remove_columns,
                keep_in_memory=keep_in_memory, load_from_cache_file=load_from_cache_file,
                cache_file_name=cache_file_names.get(split), writer_batch_size=writer_batch_size, features=features,
                disable_nullable=disable_nullable, fn_kwargs=fn_kwargs, num_proc=num_proc, desc=desc, **kwargs)
        return DatasetDict(out)

    def filter(self, function: Callable | None = None, with_indices: bool = False, with_rank: bool = False,
               input_columns=None, batched: bool = False, batch_size: int | None = 1000,
               keep_in_memory: bool = False, load_from_cache_file: bool | None = None,
               cache_file_names: dict | None = None, writer_batch_size: int | None = 1000,
               fn_kwargs: dict | None = None, num_proc: int | None = None, desc: str | None = None,
               **kwargs) -> DatasetDict:
        """`Dataset.filter` on every split."""
        self._check_values_type()
        cache_file_names = cache_file_names or dict.fromkeys(self)
        return DatasetDict({
            split: dataset.filter(
                function, with_indices=with_indices, with_rank=with_rank, input_columns=input_columns,
                batched=batched, batch_size=batch_size, keep_in_memory=keep_in_memory,
                load_from_cache_file=load_from_cache_file, cache_file_name=cache_file_names.get(split),
                writer_batch_size=writer_batch_size, fn_kwargs=fn_kwargs, num_proc=num_proc, desc=desc, **kwargs)
            for split, dataset in self.items()
        })

    def flatten_indices(self, keep_in_memory: bool = False, cache_file_names: dict | None = None,
                        writer_batch_size: int | None = 1000, features=None, disable_nullable: bool = False,
                        num_proc: int | None = None, new_fingerprint: str | None = None) -> DatasetDict:
        cache_file_names = cache_file_names or dict.fromkeys(self)
        return self._each("flatten_indices", keep_in_memory=keep_in_memory, writer_batch_size=writer_batch_size,
                          features=features, disable_nullable=disable_nullable, num_proc=num_proc,
                          per_split={"cache_file_name": cache_file_names})

    def sort(self, column_names, reverse=False, null_placement: str = "at_end", keep_in_memory: bool = False,
             load_from_cache_file: bool | None = None, indices_cache_file_names: dict | None = None,
             writer_batch_size: int | None = 1000) -> DatasetDict:
        names = indices_cache_file_names or dict.fromkeys(self)
        return self._each("sort", column_names, reverse=reverse, null_placement=null_placement,
                          keep_in_memory=keep_in_memory, load_from_cache_file=load_from_cache_file,
                          writer_batch_size=writer_batch_size, per_split={"indices_cache_file_name": names})

    def shuffle(self, seeds: int | dict | None = None, seed: int | None = None, generators: dict | None = None,
                keep_in_memory: bool = False, load_from_cache_file: bool | None = None,
                indices_cache_file_names: dict | None = None, writer_batch_size: int | None = 1000) -> DatasetDict:
        """Shuffle every split: `seed` (or `seeds`, one int or {split: seed}) or `generators` {split: Generator}."""
        if seed is not None and seeds is not None:
            raise DataError("Please specify seed or seeds, but not both")
        seeds = seed if seed is not None else seeds
        if seeds is None:
            seeds = dict.fromkeys(self)
        elif not isinstance(seeds, dict):
            seeds = dict.fromkeys(self, seeds)
        generators = generators or dict.fromkeys(self)
        names = indices_cache_file_names or dict.fromkeys(self)
        return self._each("shuffle", keep_in_memory=keep_in_memory, load_from_cache_file=load_from_cache_file,
                          writer_batch_size=writer_batch_size,
                          per_split={"seed": seeds, "generator": generators, "indices_cache_file_name": names})

    # ------------------------------------------------------------------ disk

    def save_to_disk(self, dataset_dict_path: str, max_shard_size: int | str | None = None,
                     num_shards: dict | None = None, num_proc: int | None = None,
                     storage_options: dict | None = None) -> None:
        """Save every split in the `datasets` layout (dataset_dict.json + one folder per split)."""
        from snuggle.data.disk import save_to_disk

        self._check_values_type()
        save_to_disk(self, dataset_dict_path, max_shard_size=max_shard_size, num_shards=num_shards,
                     num_proc=num_proc, storage_options=storage_options)

    def push_to_hub(self, repo_id: str, config_name: str = "default", **kwargs):
        """Upload every split as parquet shards + README.md to the Hub dataset repo `repo_id` (see
        snuggle.hub.dataset_push.push_dataset_dict_to_hub for the keyword arguments)."""
        from snuggle.hub.dataset_push import push_dataset_dict_to_hub

        self._check_values_type()
        return push_dataset_dict_to_hub(self, repo_id, config_name=config_name, **kwargs)

    @staticmethod
    def load_from_disk(dataset_dict_path: str, keep_in_memory: bool | None = None,
                       storage_options: dict | None = None) -> DatasetDict:
        from snuggle.data.disk import load_dataset_dict_from_disk

        return load_dataset_dict_from_disk(dataset_dict_path, keep_in_memory=keep_in_memory)


def _bind_split(function: Callable, split: str) -> Callable:
    """`function` with the split name appended to its positional arguments (for map(with_split=True))."""

    def with_split(*args, **kwargs):
        return function(*args, split, **kwargs)

    return with_split
