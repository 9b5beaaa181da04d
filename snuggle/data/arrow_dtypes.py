"""Feature dtype strings <-> pyarrow types, and the on-disk form of fixed-shape arrays.

`Value("int32")` names its Arrow type by a string (the `datasets` dtype vocabulary:
"int32", "float64", "string", "timestamp[us, tz=UTC]", "decimal128(10, 2)", ...).
`dtype_to_arrow` and `arrow_to_dtype` are exact inverses on that vocabulary.

Array2D..Array5D columns are stored like the reference: nested variable-size lists, with the
Arrow *extension* field metadata `ARROW:extension:name` = "datasets.features.features.ArrayNDExtensionType"
and `ARROW:extension:metadata` = JSON `[shape, dtype]`. We put that metadata on the pyarrow
*field* instead of registering an extension class: pyarrow keeps field metadata through
take/filter/concat/IPC, the reference library reads such a file back as its own ArrayND type,
and no global pyarrow registry is touched (so importing both libraries in one process works).

>>> import pyarrow as pa
>>> dtype_to_arrow("timestamp[ms, tz=UTC]")
TimestampType(timestamp[ms, tz=UTC])
>>> arrow_to_dtype(pa.decimal128(10, 2))
'decimal128(10, 2)'
"""

from __future__ import annotations

import json
import re

import pyarrow as pa

from snuggle.errors import DataError

EXTENSION_NAME_KEY = b"ARROW:extension:name"
EXTENSION_METADATA_KEY = b"ARROW:extension:metadata"
_ARRAY_EXTENSION_RE = re.compile(r"(?:^|\.)Array([2-5])DExtensionType$")

# Simple dtypes: string name -> pyarrow factory. Aliases resolve to the canonical name.
_SIMPLE = {
    "null": pa.null,
    "bool": pa.bool_,
    "int8": pa.int8,
    "int16": pa.int16,
    "int32": pa.int32,
    "int64": pa.int64,
    "uint8": pa.uint8,
    "uint16": pa.uint16,
    "uint32": pa.uint32,
    "uint64": pa.uint64,
    "float16": pa.float16,
    "float32": pa.float32,
    "float64": pa.float64,
    "date32": pa.date32,
    "date64": pa.date64,
    "binary": pa.binary,
    "large_binary": pa.large_binary,
    "string": pa.string,
    "large_string": pa.large_string,
    "binary_view": pa.binary_view,
    "string_view": pa.string_view,
}
# Also accepted on input, as pyarrow factory names (the reference resolves any pa.<name>()).
_ALIASES = {
    "float": "float32",
    "double": "float64",
    "halffloat": "float16",
    "boolean": "bool",
    "utf8": "string",
    "large_utf8": "large_string",
    "str": "string",
}
_UNITS = ("s", "ms", "us", "ns")
VALID_DTYPES_HINT = (
    "bool, int8..int64, uint8..uint64, float16/32/64, string, large_string, binary, large_binary, "
    "date32, date64, time32[s|ms], time64[us|ns], timestamp[unit] / timestamp[unit, tz=Zone], "
    "duration[unit], decimal128(p, s), decimal256(p, s), fixed_size_binary[n], null"
)


def canonical_dtype(dtype: str) -> str:
    """The canonical spelling of a dtype string ('float' -> 'float32', 'double' -> 'float64')."""
    return _ALIASES.get(dtype, dtype)


def dtype_to_arrow(dtype: str) -> pa.DataType:
    """The pyarrow type named by a `datasets` dtype string; DataError names the valid forms.

    >>> dtype_to_arrow("duration[s]")
    DurationType(duration[s])
    """
    if not isinstance(dtype, str):
        raise DataError(f"Value dtype must be a string such as 'int64'; got {dtype!r} ({type(dtype).__name__})")
    name = canonical_dtype(dtype.strip())
    if name in _SIMPLE:
        return _SIMPLE[name]()
    m = re.fullmatch(r"timestamp\[(s|ms|us|ns)(?:,\s*tz=([a-zA-Z0-9/_+\-:]*))?\]", name)
    if m:
        return pa.timestamp(m.group(1), m.group(2)) if m.group(2) else pa.timestamp(m.group(1))
    m = re.fullmatch(r"duration\[(s|ms|us|ns)\]", name)
    if m:
        return pa.duration(m.group(1))
    m = re.fullmatch(r"time(32|64)\[(s|ms|us|ns)\]", name)
    if m:
        bits, unit = m.groups()
        if bits == "32" and unit in ("s", "ms"):
            return pa.time32(unit)
        if bits == "64" and unit in ("us", "ns"):
            return pa.time64(unit)
        raise DataError(f"dtype {dtype!r}: time32 takes unit s or ms, time64 takes us or ns")
    m = re.fullmatch(r"decimal(128|256)\((\d+),\s*(-?\d+)\)", name)
    if m:
        factory = pa.decimal128 if m.group(1) == "128" else pa.decimal256
        return factory(int(m.group(2)), int(m.group(3)))
    m = re.fullmatch(r"fixed_size_binary\[(\d+)\]", name)
    if m:
        return pa.binary(int(m.group(1)))
    raise DataError(f"unknown Value dtype {dtype!r}; expected one of: {VALID_DTYPES_HINT}")


def arrow_to_dtype(arrow_type: pa.DataType) -> str:
    """The `datasets` dtype string of a primitive pyarrow type (inverse of `dtype_to_arrow`).

    >>> arrow_to_dtype(pa.timestamp("us", "Europe/Paris"))
    'timestamp[us, tz=Europe/Paris]'
    """
    t = pa.types
    if t.is_dictionary(arrow_type):
        return arrow_to_dtype(arrow_type.value_type)
    for name, factory in _SIMPLE.items():
        if arrow_type == factory():
            return name
    if t.is_timestamp(arrow_type):
        return f"timestamp[{arrow_type.unit}, tz={arrow_type.tz}]" if arrow_type.tz else f"timestamp[{arrow_type.unit}]"
    if t.is_time32(arrow_type):
        return f"time32[{arrow_type.unit}]"
    if t.is_time64(arrow_type):
        return f"time64[{arrow_type.unit}]"
    if t.is_duration(arrow_type):
        return f"duration[{arrow_type.unit}]"
    if t.is_decimal128(arrow_type):
        return f"decimal128({arrow_type.precision}, {arrow_type.scale})"
    if t.is_decimal256(arrow_type):
        return f"decimal256({arrow_type.precision}, {arrow_type.scale})"
    if t.is_fixed_size_binary(arrow_type):
        return f"fixed_size_binary[{arrow_type.byte_width}]"
    raise DataError(f"Arrow type {arrow_type} has no Value dtype equivalent; expected one of: {VALID_DTYPES_HINT}")


# --- fixed-shape arrays -----------------------------------------------------------------------


def array_storage_type(shape: tuple, dtype: str) -> pa.DataType:
    """Storage of an ArrayND: one variable-size list level per dimension, like the reference.

    >>> array_storage_type((2, 3), "int32")
    ListType(list<item: list<item: int32>>)
    """
    storage = dtype_to_arrow(dtype)
    for _ in shape:
        storage = pa.list_(storage)
    return storage


def array_extension_metadata(shape: tuple, dtype: str) -> dict[bytes, bytes]:
    """The field metadata that makes pyarrow (with the reference imported) see an ArrayND extension."""
    name = f"datasets.features.features.Array{len(shape)}DExtensionType"
    # json.dumps of a (list, str) tuple: the exact bytes the reference serializes.
    return {EXTENSION_NAME_KEY: name.encode(), EXTENSION_METADATA_KEY: json.dumps((list(shape), dtype)).encode()}


def array_spec_from_field(field: pa.Field) -> tuple[tuple, str] | None:
    """(shape, dtype) if the field is an ArrayND: by field metadata or by an extension type."""
    arrow_type = field.type
    if isinstance(arrow_type, pa.ExtensionType):
        name, payload = arrow_type.extension_name, arrow_type.__arrow_ext_serialize__()
    elif field.metadata and EXTENSION_NAME_KEY in field.metadata:
        name = field.metadata[EXTENSION_NAME_KEY].decode()
        payload = field.metadata.get(EXTENSION_METADATA_KEY, b"")
    else:
        return None
    if not _ARRAY_EXTENSION_RE.search(name):
        return None
    try:
        shape, dtype = json.loads(payload)
    except (ValueError, TypeError) as e:
        raise DataError(f"field {field.name!r}: ArrayND extension metadata {payload!r} is not JSON [shape, dtype]") from e
    return tuple(shape), dtype


def strip_extension(arrow_type: pa.DataType) -> pa.DataType:
    """The same type with every extension type replaced by its storage type (recursively)."""
    if isinstance(arrow_type, pa.ExtensionType):
        return strip_extension(arrow_type.storage_type)
    if pa.types.is_struct(arrow_type):
        return pa.struct([pa.field(f.name, strip_extension(f.type), f.nullable) for f in arrow_type])
    if pa.types.is_fixed_size_list(arrow_type):
        return pa.list_(strip_extension(arrow_type.value_type), arrow_type.list_size)
    if pa.types.is_large_list(arrow_type):
        return pa.large_list(strip_extension(arrow_type.value_type))
    if pa.types.is_list(arrow_type):
        return pa.list_(strip_extension(arrow_type.value_type))
    return arrow_type
