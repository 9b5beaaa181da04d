"""Streaming blocks that change examples: map, filter, and features + output formatting.

`MappedExamplesIterable` applies a user function per example or per batch (`batched=True`), on Python dicts,
or on Arrow tables / DataFrames when the dataset is formatted as "arrow" / "pandas". Its state is the input's
state before the current batch plus the number of outputs already yielded from it, so resuming mid-batch
recomputes the batch and drops what was already seen. `FilteredExamplesIterable` is a map that adds a mask
column and keeps the rows where it is true. `FormattedExamplesIterable` applies the dataset's features (fills
missing columns, encodes e.g. ClassLabel strings, casts Arrow tables) and the output format.

>>> from snuggle.data.examples_iterables import ExamplesIterable
>>> source = ExamplesIterable(lambda: ((i, {"x": i}) for i in range(4)), {})
>>> [e for _, e in MappedExamplesIterable(source, lambda e: {"y": e["x"] * 10})]
[{'x': 0, 'y': 0}, {'x': 1, 'y': 10}, {'x': 2, 'y': 20}, {'x': 3, 'y': 30}]
>>> [e["x"] for _, e in FilteredExamplesIterable(source, lambda e: e["x"] % 2 == 1)]
[1, 3]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import islice

from snuggle.data.examples_iterables import (
    RebatchedArrowExamplesIterable,
    _WrappingExamplesIterable,
    batch_to_examples,
    examples_to_batch,
    examples_to_tables,
    table_to_examples,
)
from snuggle.errors import DataError

TABLE_FORMATS = ("arrow", "pandas")
TENSOR_FORMATS = ("numpy", "torch")


@dataclass
class FormattingConfig:
    """The output format of an IterableDataset (None = Python objects)."""

    format_type: str | None

    @property
    def is_table(self) -> bool:
        return self.format_type in TABLE_FORMATS

    @property
    def is_tensor(self) -> bool:
        return self.format_type in TENSOR_FORMATS


def format_arrow_row(pa_table, format_type: str | None):
    """Format a 1-row Arrow table as one example of `format_type`."""
    from snuggle.data.formatting import format_table

    if format_type is None:
        return pa_table.to_pylist()[0]
    return format_table(pa_table, 0, format_type)


def format_arrow_batch(pa_table, format_type: str | None):
    """Format an Arrow table as one batch of `format_type` (dict of columns, DataFrame or table)."""
    from snuggle.data.formatting import format_table

    if format_type is None:
        return pa_table.to_pydict()
    return format_table(pa_table, slice(0, len(pa_table)), format_type)


def tensorize_python(value: dict, format_type: str, is_batch: bool):
    """numpy / torch version of a Python example or batch (through Arrow, as the map-style formatter does)."""
    import pyarrow as pa

    if is_batch:
        return format_arrow_batch(pa.Table.from_pydict(value), format_type)
    return format_arrow_row(pa.Table.from_pylist([value]), format_type)


def output_to_arrow(output):
    """A function's Arrow-path output as a pa.Table (DataFrames are converted)."""
    import pyarrow as pa

    if isinstance(output, pa.Table):
        return output
    try:
        import pandas as pd

        if isinstance(output, (pd.DataFrame, pd.Series)):
            return pa.Table.from_pandas(output, preserve_index=False)
    except ImportError:  # pragma: no cover - pandas is a dependency of pyarrow conversions here
        pass
    return output


class MappedExamplesIterable(_WrappingExamplesIterable):
    """Apply `function` to each example (or batch of `batch_size` examples when `batched`)."""

    def __init__(self, ex_iterable, function: Callable, with_indices: bool = False, input_columns=None,
                 batched: bool = False, batch_size: int | None = 1000, drop_last_batch: bool = False,
                 remove_columns=None, fn_kwargs: dict | None = None, formatting: FormattingConfig | None = None,
                 features=None):
        super().__init__(ex_iterable)
        self.function = function
        self.with_indices = with_indices
        self.input_columns = input_columns
        self.batched = batched
        self.batch_size = batch_size
        self.drop_last_batch = drop_last_batch
        self.remove_columns = remove_columns
        self.fn_kwargs = fn_kwargs or {}
        self.formatting = formatting
        self._features = features
        if formatting is not None and formatting.is_table and not (
            isinstance(ex_iterable, RebatchedArrowExamplesIterable) and ex_iterable.iter_arrow
        ):
            raise DataError(
                f"a {formatting.format_type}-formatted map needs an Arrow input re-batched to the map's batch size"
            )

    @property
    def iter_arrow(self):
        if self.formatting is not None and self.formatting.is_table:
            return self._iter_arrow
        return None

    @property
    def is_typed(self) -> bool:
        return self._features is not None

    @property
    def features(self):
        return self._features

    def _init_state_dict(self) -> dict:
        self._state_dict = {
            "examples_iterable": self.ex_iterable._init_state_dict(),
            "previous_state": None,
            "num_examples_since_previous_state": 0,
            "previous_state_example_idx": 0,
            "type": type(self).__name__,
        }
        return self._state_dict

    def __iter__(self):
        if self.formatting is not None and self.formatting.is_table:
            for key, pa_table in self._iter_arrow(max_chunksize=1):
                yield key, pa_table.to_pylist()[0]
        else:
            yield from self._iter()

    # ---- Python path

    def _call(self, inputs: dict, indices):
        args = [inputs] if self.input_columns is None else [inputs[c] for c in self.input_columns]
        if self.with_indices:
            args.append(indices)
        return self.function(*args, **self.fn_kwargs)

    def _merge(self, inputs: dict, output):
        if output is None:
            output = {}
        if not isinstance(output, dict):
            kind = "a batch dict" if self.batched else "a dict"
            raise DataError(f"map: the function must return {kind} or None, but it returned {type(output).__name__}")
        if self.batched and output:
            lengths = {column: len(values) for column, values in output.items()}
            if len(set(lengths.values())) > 1:
                raise DataError(f"map: the function returned columns of unequal lengths {lengths}")
        merged = dict(inputs)
        for column in self.remove_columns or ():
            merged.pop(column, None)
            if output is inputs:
                output = {k: v for k, v in output.items() if k != column}
        if self.batched and output:
            expected = len(next(iter(output.values())))
            kept = {c: len(v) for c, v in merged.items() if c not in output and len(v) != expected}
            if kept:
                raise DataError(
                    f"map: the function returned {expected} rows, but the input columns {kept} were kept with "
                    "other lengths; return them too or drop them with remove_columns"
                )
        merged.update(output)
        return merged

    def _iter(self):
        state = self._state_dict
        current_idx = state["previous_state_example_idx"] if state else 0
        to_skip = 0
        if state and state["previous_state"] is not None:
            self.ex_iterable.load_state_dict(state["previous_state"])
            to_skip = state["num_examples_since_previous_state"]
        iterator = iter(self.ex_iterable)
        format_type = self.formatting.format_type if self.formatting else None
        tensorize = self.formatting is not None and self.formatting.is_tensor

        if not self.batched:
            for key, example in iterator:
                if state:
                    state["previous_state_example_idx"] = current_idx + 1
                inputs = dict(example)
                result = self._merge(inputs, self._call(inputs, current_idx))
                current_idx += 1
                yield key, result
            return

        if state:
            state["previous_state"] = self.ex_iterable.state_dict()
            state["num_examples_since_previous_state"] = 0
            state["previous_state_example_idx"] = current_idx
        whole = self.batch_size is None or self.batch_size <= 0
        for key, example in iterator:
            pairs = [(key, example)] + list(iterator if whole else islice(iterator, self.batch_size - 1))
            if self.drop_last_batch and not whole and len(pairs) < self.batch_size:
                return
            batch = examples_to_batch([e for _, e in pairs])
            if tensorize:
                batch = tensorize_python(batch, format_type, is_batch=True)
            indices = list(range(current_idx, current_idx + len(pairs)))
            current_idx += len(pairs)
            output = self._merge(batch, self._call(batch, indices))
            batch_key = "_".join(str(k) for k, _ in pairs)
            for example in batch_to_examples(output):
                if state:
                    state["num_examples_since_previous_state"] += 1
                if to_skip > 0:
                    to_skip -= 1
                    continue
                yield batch_key, example
            if state:
                state["previous_state"] = self.ex_iterable.state_dict()
                state["num_examples_since_previous_state"] = 0
                state["previous_state_example_idx"] = current_idx

    # ---- Arrow path ("arrow" / "pandas" formatted datasets)

    def _iter_arrow(self, max_chunksize: int | None = None):
        state = self._state_dict
        if self.ex_iterable.iter_arrow:
            tables = self.ex_iterable.iter_arrow()
        else:
            tables = examples_to_tables(
                self.ex_iterable, self.batch_size if self.batched else 1, self.drop_last_batch
            )
        to_skip = 0
        if state and state["previous_state"] is not None:
            self.ex_iterable.load_state_dict(state["previous_state"])
            to_skip = state["num_examples_since_previous_state"]
        if state and max_chunksize is not None:
            state["previous_state"] = self.ex_iterable.state_dict()
            state["num_examples_since_previous_state"] = 0
        current_idx = state["previous_state_example_idx"] if state else 0
        format_type = self.formatting.format_type if self.formatting else "arrow"
        for key, pa_table in tables:
            if self.batched and self.batch_size is not None and self.drop_last_batch \
                    and len(pa_table) < self.batch_size:
                return
            if self.input_columns is None:
                args = [format_arrow_batch(pa_table, format_type)]
            else:
                args = [pa_table[column] for column in self.input_columns]
            if self.with_indices:
                args.append(list(range(current_idx, current_idx + len(pa_table))) if self.batched else current_idx)
            output = output_to_arrow(self.function(*args, **self.fn_kwargs))
            import pyarrow as pa

            if not isinstance(output, pa.Table):
                raise DataError(
                    f"map on a {format_type}-formatted dataset: the function must return a pa.Table or DataFrame, "
                    f"but it returned {type(output).__name__}"
                )
            for column in self.remove_columns or ():
                if column in output.column_names:
                    output = output.drop_columns([column])
            if max_chunksize is None:
                current_idx += len(pa_table)
                if state:
                    state["previous_state_example_idx"] += len(pa_table)
                yield key, output
                continue
            for i, chunk in enumerate(output.to_batches(max_chunksize=max_chunksize)):
                current_idx += 1
                if state:
                    state["num_examples_since_previous_state"] += 1
                if to_skip > 0:
                    to_skip -= 1
                    continue
                yield f"{key}_{i}", pa.Table.from_batches([chunk])
            if state:
                state["previous_state"] = self.ex_iterable.state_dict()
                state["num_examples_since_previous_state"] = 0
                state["previous_state_example_idx"] = current_idx


MASK_COLUMN = "===MASK==="


def _add_mask(mask_function: Callable, inputs, *args, **kwargs):
    import pyarrow as pa

    mask = mask_function(inputs, *args, **kwargs)
    inputs = output_to_arrow(inputs)
    if not isinstance(inputs, pa.Table):
        return {MASK_COLUMN: mask}
    if isinstance(mask, bool):
        mask = [mask]
    if not isinstance(mask, (pa.Array, pa.ChunkedArray)):
        mask = pa.array(list(mask), type=pa.bool_())
    return inputs.append_column(MASK_COLUMN, mask)


class FilteredExamplesIterable(MappedExamplesIterable):
    """Keep the examples for which `function` is true (per example, or a list of bools per batch)."""

    def __init__(self, ex_iterable, function: Callable, with_indices: bool = False, input_columns=None,
                 batched: bool = False, batch_size: int | None = 1000, fn_kwargs: dict | None = None,
                 formatting: FormattingConfig | None = None):
        self.mask_function = function
        features = None
        if ex_iterable.is_typed:
            from snuggle.data.features import Features, Value

            features = Features({**ex_iterable.features, MASK_COLUMN: Value("bool")})
        super().__init__(
            ex_iterable, partial(_add_mask, function), with_indices=with_indices, input_columns=input_columns,
            batched=batched, batch_size=batch_size, fn_kwargs=fn_kwargs, formatting=formatting, features=features,
        )

    @property
    def features(self):
        return self.ex_iterable.features

    def _iter(self):
        for key, example in super()._iter():
            example = dict(example)
            if example.pop(MASK_COLUMN):
                yield key, example

    def _iter_arrow(self, max_chunksize: int | None = None):
        for key, pa_table in super()._iter_arrow(max_chunksize=max_chunksize):
            mask = pa_table[MASK_COLUMN]
            yield key, pa_table.drop_columns([MASK_COLUMN]).filter(mask)


def apply_features_to_example(example: dict, features) -> dict:
    """Fill missing columns with None, then encode (e.g. ClassLabel names -> ids) and decode with `features`."""
    example = dict(example)
    for column in features:
        example.setdefault(column, None)
    return features.decode_example(features.encode_example(example))


class FormattedExamplesIterable(_WrappingExamplesIterable):
    """Apply `features` (when the input is not already typed) and the output `formatting`."""

    def __init__(self, ex_iterable, formatting: FormattingConfig | None, features,
                 force_convert_to_python: bool = False):
        super().__init__(ex_iterable)
        self.formatting = formatting
        self._features = features
        self.force_convert_to_python = force_convert_to_python

    @property
    def iter_arrow(self):
        if self.ex_iterable.iter_arrow and not self.force_convert_to_python:
            return self._iter_arrow
        return None

    @property
    def is_typed(self) -> bool:
        return self.ex_iterable.is_typed or self._features is not None

    @property
    def features(self):
        return self._features

    def _init_state_dict(self) -> dict:
        self._state_dict = self.ex_iterable._init_state_dict()
        return self._state_dict

    def __iter__(self):
        format_type = None
        if self.formatting is not None and not self.formatting.is_table:
            format_type = self.formatting.format_type
        if self.ex_iterable.iter_arrow:
            for key, pa_table in self._iter_arrow():
                if format_type is None:
                    for example in table_to_examples(pa_table):
                        yield key, example
                else:
                    for example in batch_to_examples(format_arrow_batch(pa_table, format_type)):
                        yield key, example
            return
        apply_features = self._features is not None and not self.ex_iterable.is_typed
        for key, example in self.ex_iterable:
            if apply_features:
                example = apply_features_to_example(example, self._features)
            if format_type is not None:
                example = tensorize_python(example, format_type, is_batch=False)
            yield key, example

    def _iter_arrow(self):
        import pyarrow as pa

        if not self._features:
            yield from self.ex_iterable.iter_arrow()
            return
        from snuggle.data.features import cast_table

        schema = self._features.arrow_schema
        for key, pa_table in self.ex_iterable.iter_arrow():
            for column in self._features:
                if column not in pa_table.column_names:
                    pa_table = pa_table.append_column(column, pa.nulls(len(pa_table)))
            if pa_table.schema != schema:
                pa_table = cast_table(pa_table, self._features)
            yield key, pa_table
