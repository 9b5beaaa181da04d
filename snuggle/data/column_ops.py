"""Column operations of `Dataset`: select / remove / rename / add columns, add_item, unique,
flatten, cast, cast_column, class_encode_column, align_labels_with_mapping.

Renaming, selecting and removing columns only rewrite the schema (zero copy). Operations
that change values (cast, class encoding, label alignment) work batch by batch in pyarrow
and, for a file-backed dataset, write the result to `cache-<fingerprint>.arrow` beside the
source files, like `map` does. Missing or clashing column names raise `DataError` listing the
dataset's columns; no user column is ever dropped without being asked for.

>>> from snuggle.data.arrow_dataset import Dataset
>>> ds = Dataset.from_dict({"text": ["a", "b"], "label": ["neg", "pos"]})
>>> ds.class_encode_column("label").features["label"]
ClassLabel(names=['neg', 'pos'])
>>> ds.rename_column("text", "sentence").column_names
['sentence', 'label']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from snuggle.data.features import ClassLabel, Features, List, Value
from snuggle.errors import DataError

if TYPE_CHECKING:
    from snuggle.data.arrow_dataset import Dataset


def _fingerprint(ds, transform: str, args: dict) -> str:
    from snuggle.data.fingerprint import update_fingerprint

    return update_fingerprint(ds._fingerprint, transform, args)


def _check_columns_exist(ds, names, what: str = "Column name") -> None:
    missing = [n for n in names if n not in ds._data.column_names]
    if missing:
        raise DataError(f"{what} {missing} not in the dataset. Current columns in the dataset: {ds._data.column_names}")


def _replace_column(table: pa.Table, name: str, array) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, array)


class ColumnOpsMixin:
    """Methods of `Dataset` that work on columns (see the module docstring)."""

    def select_columns(self, column_names, new_fingerprint: str | None = None) -> Dataset:
        """Keep only `column_names`, in that order."""
        if isinstance(column_names, str):
            column_names = [column_names]
        column_names = list(column_names)
        _check_columns_exist(self, column_names)
        fingerprint = new_fingerprint or _fingerprint(self, "select_columns", {"column_names": column_names})
        return self._derive(data=self._data.select(column_names), fingerprint=fingerprint)

    def remove_columns(self, column_names, new_fingerprint: str | None = None) -> Dataset:
        """Drop `column_names` (a name or a list)."""
        if isinstance(column_names, str):
            column_names = [column_names]
        column_names = list(column_names)
        _check_columns_exist(self, column_names)
        fingerprint = new_fingerprint or _fingerprint(self, "remove_columns", {"column_names": column_names})
        return self._derive(data=self._data.drop_columns(column_names), fingerprint=fingerprint)

    def rename_column(self, original_column_name: str, new_column_name: str,
                      new_fingerprint: str | None = None) -> Dataset:
        """Rename one column (features and format follow)."""
        if original_column_name not in self._data.column_names:
            raise DataError(
                f"Original column name {original_column_name} not in the dataset. Current columns in the dataset: "
                f"{self._data.column_names}"
            )
        if new_column_name in self._data.column_names:
            raise DataError(
                f"New column name {new_column_name} already in the dataset. Please choose a column name which is not "
                f"already in the dataset. Current columns in the dataset: {self._data.column_names}"
            )
        if not new_column_name:
            raise DataError("New column name is empty.")
        fingerprint = new_fingerprint or _fingerprint(
            self, "rename_column", {"original_column_name": original_column_name, "new_column_name": new_column_name})
        return self._renamed({original_column_name: new_column_name}, fingerprint)

    def rename_columns(self, column_mapping: dict[str, str], new_fingerprint: str | None = None) -> Dataset:
        """Rename several columns at once: {old: new}."""
        extra = [c for c in column_mapping if c not in self._data.column_names]
        if extra:
            raise DataError(
                f"Original column names {extra} not in the dataset. Current columns in the dataset: "
                f"{self._data.column_names}"
            )
        targets = list(column_mapping.values())
        duplicates = len(targets) - len(set(targets))
        if duplicates:
            raise DataError(f"New column names must all be different, but this column mapping has {duplicates} duplicates")
        empty = [t for t in targets if not t]
        if empty:
            raise DataError(f"New column names {empty} are empty.")
        kept = [c for c in self._data.column_names if c not in column_mapping]
        clash = [t for t in targets if t in kept]
        if clash:
            raise DataError(f"New column names {clash} already exist in the dataset; rename or remove those first")
        fingerprint = new_fingerprint or _fingerprint(self, "rename_columns", {"column_mapping": column_mapping})
        return self._renamed(dict(column_mapping), fingerprint)

    def _renamed(self, mapping: dict[str, str], fingerprint: str) -> Dataset:
        def rename(names):
            return [mapping.get(n, n) for n in names]

        features = Features({mapping.get(k, k): v for k, v in self.features.items()})
        new = self._derive(data=self._data.rename_columns(rename(self._data.column_names)), features=features,
                           fingerprint=fingerprint)
        new._format_columns = rename(self._format_columns) if self._format_columns is not None else None
        return new

    def add_column(self, name: str, column, new_fingerprint: str | None = None, feature=None) -> Dataset:
        """Append a column (list, numpy array or Arrow array) with one value per row.

        >>> from snuggle.data.arrow_dataset import Dataset
        >>> Dataset.from_dict({"a": [1, 2]}).add_column("b", ["x", "y"])[0]
        {'a': 1, 'b': 'x'}
        """
        if name in self._data.column_names:
            raise DataError(f"Column {name!r} already exists in the dataset {self._data.column_names}; choose another name")
        try:
            if feature is not None:
                target = Features({name: feature}).arrow_schema.field(name).type
                values = Features({name: feature}).encode_column(column, name) if not isinstance(
                    column, (pa.Array, pa.ChunkedArray)) else column
                array = pa.array(values, type=target) if not isinstance(values, (pa.Array, pa.ChunkedArray)) \
                    else values.cast(target)
            elif isinstance(column, (pa.Array, pa.ChunkedArray)):
                array = column
            else:
                from snuggle.data.features import cast_to_python_objects

                array = pa.array(column if getattr(column, "ndim", 0) == 1 else cast_to_python_objects(list(column)))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as error:
            raise DataError(f"add_column: column {name!r} could not be converted to Arrow: {error}") from error
        if len(array) != len(self):
            raise DataError(f"add_column: column {name!r} has {len(array)} values but the dataset has {len(self)} rows")
        fingerprint = new_fingerprint or _fingerprint(self, "add_column", {"name": name, "column": array,
                                                                           "feature": feature})
        base = self.flatten_indices() if self._indices is not None else self
        table = base._data.append_column(pa.field(name, array.type), array)
        features = Features(dict(base.features))
        features[name] = feature if feature is not None else Features.from_arrow_schema(
            pa.schema([pa.field(name, array.type)]))[name]
        return base._derive(data=table, features=features, fingerprint=fingerprint)

    def add_item(self, item: dict, new_fingerprint: str | None = None) -> Dataset:
        """Append one row (a dict with exactly the dataset's columns)."""
        missing = [c for c in self._data.column_names if c not in item]
        extra = [c for c in item if c not in self._data.column_names]
        if missing or extra:
            raise DataError(
                f"add_item: the item must have exactly the columns {self._data.column_names}; "
                f"missing {missing}, unexpected {extra}"
            )
        fingerprint = new_fingerprint or _fingerprint(self, "add_item", {"item": item})
        try:
            item_table = pa.Table.from_pydict({c: [item[c]] for c in self._data.column_names})
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise DataError(f"add_item: the item could not be converted to Arrow: {error}") from error
        data = self._data
        features = Features(dict(self.features))
        columns = []
        for field in data.schema:
            value = item_table.column(field.name)
            if pa.types.is_null(field.type) and not pa.types.is_null(value.type):
                # the dataset column only held nulls so far: it takes the item's type (as `datasets`)
                data = data.set_column(data.column_names.index(field.name), field.name,
                                       pa.nulls(len(data), type=value.type))
                features[field.name] = Features.from_arrow_schema(pa.schema([pa.field(field.name, value.type)]))[
                    field.name]
                columns.append(value)
                continue
            try:
                columns.append(value.cast(field.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
                raise DataError(
                    f"add_item: value {item[field.name]!r} of column {field.name!r} does not fit its type "
                    f"{self.features[field.name]} ({error})"
                ) from error
        item_table = pa.Table.from_arrays(columns, schema=data.schema)
        table = pa.concat_tables([data, item_table])
        indices = self._indices
        if indices is not None:
            extra_row = pa.table({"indices": pa.array([self._data.num_rows], type=pa.uint64())})
            indices = pa.concat_tables([indices, extra_row.cast(indices.schema)])
        return self._derive(data=table, indices=indices, features=features, fingerprint=fingerprint,
                            indices_files=[] if indices is not None else None)

    def unique(self, column: str) -> list:
        """The distinct values of `column`, in order of first appearance.

        >>> from snuggle.data.arrow_dataset import Dataset
        >>> Dataset.from_dict({"a": [2, 1, 2]}).unique("a")
        [2, 1]
        """
        from snuggle.data.formatting import query_table

        if column not in self._data.column_names:
            raise DataError(f"Column ({column}) not in table columns ({self._data.column_names}).")
        if self._indices is not None and self._indices.num_rows != self._data.num_rows:
            values = query_table(self._data, column, indices=self._indices).column(0)
        else:
            values = self._data.column(column)  # same rows (maybe reordered): order of the data, as `datasets`
        try:
            return values.unique().to_pylist()
        except pa.ArrowNotImplementedError as error:
            raise DataError(
                f"unique: column {column!r} has type {self.features[column]}, which has no distinct-value kernel; "
                "flatten() struct columns first or pick a column of scalars or lists"
            ) from error

    def flatten(self, new_fingerprint: str | None = None, max_depth: int = 16) -> Dataset:
        """Struct columns become one column per field, named "<column>.<field>" (recursively)."""
        table = self._data
        for _ in range(max_depth):
            if not any(pa.types.is_struct(field.type) for field in table.schema):
                break
            table = table.flatten()
        flat = self.features.flatten(max_depth=max_depth)
        features = Features({c: flat[c] for c in table.column_names}) if all(c in flat for c in table.column_names) \
            else Features.from_arrow_schema(table.schema)
        fingerprint = new_fingerprint or _fingerprint(self, "flatten", {"max_depth": max_depth})
        return self._derive(data=table, features=features, fingerprint=fingerprint)

    def cast(self, features: Features, batch_size: int | None = 1000, keep_in_memory: bool = False,
             load_from_cache_file: bool | None = None, cache_file_name: str | None = None,
             writer_batch_size: int | None = 1000, num_proc: int | None = None) -> Dataset:
        """Cast every column to `features` (same column names; e.g. int -> float, str -> ClassLabel)."""
        from snuggle.data.features import cast_table

        features = Features(features)
        if sorted(features) != sorted(self._data.column_names):
            raise DataError(
                f"The columns in features ({list(features)}) must be identical as the columns in the dataset: "
                f"{self._data.column_names}"
            )
        fingerprint = _fingerprint(self, "cast", {"features": features.to_dict()})
        return self._rewrite_rows(lambda table: cast_table(table, features), features, fingerprint,
                                  keep_in_memory=keep_in_memory, cache_file_name=cache_file_name,
                                  load_from_cache_file=load_from_cache_file, batch_size=batch_size or 1000)

    def cast_column(self, column: str, feature, new_fingerprint: str | None = None) -> Dataset:
        """Cast one column to `feature`."""
        _check_columns_exist(self, [column], "Column")
        features = Features(dict(self.features))
        features[column] = feature
        return self.cast(features)

    def class_encode_column(self, column: str, include_nulls: bool = False) -> Dataset:
        """Turn a Value column into a ClassLabel; names are the sorted distinct values (as strings)."""
        import pyarrow.compute as pc

        _check_columns_exist(self, [column], "Column")
        source = self.features[column]
        if not isinstance(source, Value):
            raise DataError(
                f"Class encoding is only supported for Value columns, and column {column} is {type(source).__name__}."
            )
        values = self.unique(column)
        present = [v for v in values if v is not None]
        has_null = len(present) != len(values)
        name_of = {v: str(v) for v in present}
        names = sorted(set(name_of.values()) | ({"None"} if include_nulls and has_null else set()))
        label = ClassLabel(names=names)
        code_of_value = [label.str2int(name_of[v]) for v in present]
        null_code = label.str2int("None") if include_nulls and has_null else None
        features = Features(dict(self.features))
        features[column] = label
        value_set = pa.array(present, type=self._data.schema.field(column).type)
        codes = pa.array(code_of_value, type=pa.int64())

        def encode(table: pa.Table) -> pa.Table:
            positions = pc.index_in(table.column(column), value_set=value_set)
            encoded = pc.take(codes, positions)
            if null_code is not None:
                encoded = pc.fill_null(encoded, null_code)
            return _replace_column(table, column, encoded)

        fingerprint = _fingerprint(self, "class_encode_column", {"column": column, "include_nulls": include_nulls})
        return self._rewrite_rows(encode, features, fingerprint)

    def align_labels_with_mapping(self, label2id: dict, label_column: str) -> Dataset:
        """Renumber a ClassLabel (or list of ClassLabel) column to `label2id` (names matched case-insensitively)."""
        import pyarrow.compute as pc

        _check_columns_exist(self, [label_column], "Column")
        feature = self.features[label_column]
        inner = feature.feature if isinstance(feature, List) else feature
        if not isinstance(inner, ClassLabel):
            raise DataError(
                f"Aligning labels with a mapping is only supported for ClassLabel columns or lists of ClassLabel, "
                f"and column {label_column} is {feature}."
            )
        ordered = dict(sorted(label2id.items(), key=lambda item: item[1]))
        label_names = list(ordered)
        lowered = {k.lower(): v for k, v in ordered.items()}
        lookup = []
        for old_id, name in enumerate(inner.names):
            if name.lower() not in lowered:
                raise DataError(
                    f"align_labels_with_mapping: label {name!r} of column {label_column!r} is not in label2id "
                    f"{sorted(label2id)}; add it to the mapping"
                )
            lookup.append(lowered[name.lower()])
        lookup_array = pa.array(lookup, type=pa.int64())
        new_label = ClassLabel(num_classes=len(label_names), names=label_names)
        features = Features(dict(self.features))
        features[label_column] = List(new_label) if isinstance(feature, List) else new_label

        def align(table: pa.Table) -> pa.Table:
            column = table.column(label_column).combine_chunks()
            if isinstance(feature, List):
                aligned_values = pc.take(lookup_array, column.values)
                aligned = type(column).from_arrays(column.offsets, aligned_values, mask=column.is_null())
            else:
                aligned = pc.take(lookup_array, column)
            return _replace_column(table, label_column, aligned)

        fingerprint = _fingerprint(self, "align_labels_with_mapping", {"label2id": label2id, "column": label_column})
        return self._rewrite_rows(align, features, fingerprint)
