"""Cast Arrow data to features, column by column, in pyarrow (no per-row Python).

`cast_table(table, features)` returns a table whose schema is exactly `features.arrow_schema`
(feature order, "huggingface" metadata, ArrayND field metadata). Each column is cast by
`cast_array_to_feature`, which walks the feature tree once per *array*: structs get missing
fields as nulls, lists keep their offsets and null masks, ClassLabel columns of strings are
mapped to ids with one `index_in`, and scalars go through `pyarrow.compute.cast`. A failure
raises DataError naming the column path, the expected feature and the Arrow type found.

>>> import pyarrow as pa
>>> from snuggle.data.features import Features, Value, ClassLabel
>>> t = pa.table({"label": ["pos", "neg"], "n": [1, 2]})
>>> cast_table(t, Features({"n": Value("float32"), "label": ClassLabel(names=["neg", "pos"])})).to_pydict()
{'n': [1.0, 2.0], 'label': [1, 0]}
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from snuggle.data.features import (
    ClassLabel,
    Features,
    LargeList,
    List,
    Translation,
    TranslationVariableLanguages,
    Value,
    _ArrayXD,
    feature_arrow_field,
    get_nested_type,
)
from snuggle.errors import DataError


def _short(arrow_type: pa.DataType) -> str:
    text = str(arrow_type)
    return text if len(text) <= 120 else text[:117] + "..."


def _fail(path: str, feature, array_type: pa.DataType, reason: str = "") -> DataError:
    why = f": {reason}" if reason else ""
    return DataError(f"column {path!r}: cannot cast Arrow type {_short(array_type)} to {feature!r}{why}")


def class_label_cast_storage(label: ClassLabel, storage: pa.Array, path: str = "") -> pa.Array:
    """Label names or integer ids -> int64 ids; unknown names / out-of-range ids raise DataError."""
    t = storage.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        names = pa.array(label._int2str, pa.string())
        ids = pc.index_in(storage.cast(pa.string()), value_set=names)
        unmatched = pc.and_(pc.is_null(ids), pc.is_valid(storage))
        if pc.any(unmatched).as_py():
            # Rare path: names with stray whitespace or digit strings; resolve each distinct value once.
            bad_values = pc.unique(pc.filter(storage, unmatched)).to_pylist()
            resolved = {}
            unknown = []
            for value in bad_values:
                try:
                    resolved[value] = label._strval2int(value)
                except DataError:
                    unknown.append(value)
            if unknown:
                shown = ", ".join(repr(v) for v in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
                raise DataError(
                    f"column {path!r}: unknown class label(s) {shown}; expected one of {label._int2str}"
                )
            extra = pc.index_in(storage, value_set=pa.array(list(resolved), storage.type))
            mapped = pc.take(pa.array(list(resolved.values()), pa.int64()), extra)
            ids = pc.coalesce(ids.cast(pa.int64()), mapped)
        return ids.cast(pa.int64())
    if pa.types.is_integer(t) or pa.types.is_null(t):
        if len(storage) and not pa.types.is_null(t):
            bounds = pc.min_max(storage).as_py()
            if bounds["max"] is not None and (bounds["max"] >= label.num_classes or bounds["min"] < -1):
                bad = bounds["max"] if bounds["max"] >= label.num_classes else bounds["min"]
                raise DataError(
                    f"column {path!r}: class label {bad} out of range; expected -1..{label.num_classes - 1} "
                    f"(names {label._int2str})"
                )
        return storage.cast(pa.int64())
    raise _fail(path, label, t, "ClassLabel columns hold label names (string) or ids (integers)")


def _struct_children(array: pa.StructArray) -> dict[str, pa.Array]:
    # flatten() applies the struct's own null mask to its children.
    return {array.type.field(i).name: child for i, child in enumerate(array.flatten())}


def _list_offsets(array) -> pa.Array:
    if pa.types.is_fixed_size_list(array.type):
        size = array.type.list_size
        return pa.array((np.arange(len(array) + 1, dtype=np.int64) + array.offset) * size)
    return array.offsets


def cast_array_to_feature(array, feature, path: str = "") -> pa.Array:
    """Cast one Arrow array (or ChunkedArray) to the type of `feature`.

    >>> cast_array_to_feature(pa.array([[1, 2]]), List(Value("int8"))).type
    ListType(list<item: int8>)
    """
    if isinstance(array, pa.ChunkedArray):
        target = get_nested_type(feature)
        chunks = [cast_array_to_feature(chunk, feature, path) for chunk in array.chunks]
        return pa.chunked_array(chunks, type=chunks[0].type if chunks else target)
    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    t = array.type
    if pa.types.is_dictionary(t):
        array = array.dictionary_decode()
        t = array.type
    if isinstance(feature, ClassLabel):
        return class_label_cast_storage(feature, array, path)
    if isinstance(feature, (Translation, TranslationVariableLanguages)):
        return cast_array_to_feature(array, feature.flatten(), path)
    target = get_nested_type(feature)
    if pa.types.is_null(t):
        return pa.nulls(len(array), target)
    if isinstance(feature, dict):
        if not pa.types.is_struct(t):
            raise _fail(path, feature, t, "expected a struct")
        children = _struct_children(array)
        extra = sorted(set(children) - set(feature))
        if extra:
            raise _fail(path, feature, t, f"fields {extra} are not in the features (expected {list(feature)})")
        arrays = [
            cast_array_to_feature(children[name], sub, f"{path}.{name}") if name in children else pa.nulls(len(array), get_nested_type(sub))
            for name, sub in feature.items()
        ]
        fields = [feature_arrow_field(name, sub) for name, sub in feature.items()]
        mask = array.is_null() if array.null_count else None
        return pa.StructArray.from_arrays(arrays, fields=fields, mask=mask)
    if isinstance(feature, _ArrayXD):
        if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)):
            raise _fail(path, feature, t, "expected nested lists")
        try:
            return array.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
            raise _fail(path, feature, t, str(e)) from None
    if isinstance(feature, (List, LargeList)):
        if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)):
            raise _fail(path, feature, t, "expected a list")
        values = cast_array_to_feature(array.values, feature.feature, f"{path}.<list>")
        item = feature_arrow_field("item", feature.feature)
        mask = array.is_null() if array.null_count else None
        if isinstance(feature, LargeList):
            offsets = _list_offsets(array).cast(pa.int64())
            return pa.LargeListArray.from_arrays(offsets, values, type=pa.large_list(item), mask=mask)
        if feature.length >= 0:
            return _to_fixed_size(array, values, feature, item, path)
        offsets = _list_offsets(array).cast(pa.int32())
        return pa.ListArray.from_arrays(offsets, values, type=pa.list_(item), mask=mask)
    if pa.types.is_struct(t) or pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        raise _fail(path, feature, t, "nested data cannot become a scalar Value")
    try:
        return pc.cast(array, target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
        raise _fail(path, feature, t, str(e)) from None


def _to_fixed_size(array, values: pa.Array, feature: List, item: pa.Field, path: str) -> pa.Array:
    size = feature.length
    if pa.types.is_fixed_size_list(array.type):
        if array.type.list_size != size:
            raise _fail(path, feature, array.type, f"lists have length {array.type.list_size}, expected {size}")
        start = array.offset * size
        return pa.FixedSizeListArray.from_arrays(values[start:start + len(array) * size], type=pa.list_(item, size),
                                                 mask=array.is_null() if array.null_count else None)
    lengths = pc.list_value_length(array)
    wrong = pc.and_(pc.is_valid(lengths), pc.not_equal(lengths, size))
    if pc.any(wrong).as_py():
        first_bad = pc.index(wrong, True).as_py()
        raise _fail(path, feature, array.type, f"row {first_bad} has a list of length {lengths[first_bad].as_py()}, expected {size}")
    # Null rows own no values: give them `size` null placeholders so every slot is `size` wide.
    if array.null_count:
        sliced = pc.list_slice(array, 0, size, return_fixed_size_list=True)
        flat = cast_array_to_feature(sliced.values, feature.feature, f"{path}.<list>")
        return pa.FixedSizeListArray.from_arrays(flat, type=pa.list_(item, size), mask=array.is_null())
    offsets = _list_offsets(array)
    start = offsets[0].as_py() if len(offsets) else 0
    return pa.FixedSizeListArray.from_arrays(values[start:start + len(array) * size], type=pa.list_(item, size))


def _has_class_label(feature) -> bool:
    """ClassLabel columns are range-checked even when their Arrow type already matches."""
    if isinstance(feature, ClassLabel):
        return True
    if isinstance(feature, dict):
        return any(_has_class_label(f) for f in feature.values())
    if isinstance(feature, (List, LargeList)):
        return _has_class_label(feature.feature)
    return False


def cast_table(table: pa.Table, features: Features) -> pa.Table:
    """Cast a table to `features`: same column set required; result in feature order with its schema.

    Missing or extra columns raise DataError naming them (columns are never dropped silently).
    """
    if not isinstance(features, Features):
        features = Features(features)
    have, want = list(table.column_names), list(features)
    if sorted(have) != sorted(want):
        missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        raise DataError(
            f"cannot cast the table to the features: columns differ (missing {missing}, unexpected {extra}); "
            f"table has {have}, features have {want}"
        )
    if len(set(have)) != len(have):
        raise DataError(f"the table has duplicate column names: {have}")
    schema = features.arrow_schema
    arrays = []
    for arrow_field, (name, feature) in zip(schema, features.items()):
        column = table.column(name)
        if (column.type.equals(arrow_field.type) and not isinstance(column.type, pa.ExtensionType)
                and not _has_class_label(feature)):
            arrays.append(column)
        else:
            arrays.append(cast_array_to_feature(column, feature, name))
    return pa.Table.from_arrays(arrays, schema=schema)


def cast_table_to_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast a table to a pyarrow schema through its features (ClassLabel / ArrayND aware)."""
    return cast_table(table, Features.from_arrow_schema(schema))


__all__ = ["cast_table", "cast_table_to_schema", "cast_array_to_feature", "class_label_cast_storage", "Value"]
