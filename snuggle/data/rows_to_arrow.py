"""Python columns and rows -> Arrow: the conversions behind Dataset.from_dict and from_generator.

Errors name the column and the fix (pass features= to pin the types); no key a user
yields is ever dropped silently.

>>> column_to_arrow("a", [1, 2], None).to_pylist()
[1, 2]
>>> [t.num_rows for t in generate_tables(lambda: ({"i": i} for i in range(3)), {}, None, batch_size=2)]
[2, 1]
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from snuggle.data.features import Features
from snuggle.errors import DataError


def column_to_arrow(name: str, column, features: Features | None) -> pa.Array:
    """One from_dict column -> Arrow array, typed by `features` when given; errors name the column."""
    try:
        if isinstance(column, (pa.Array, pa.ChunkedArray)):
            if features is not None:
                target = features.arrow_schema.field(name).type
                if column.type != target:
                    column = column.cast(target)
            return column
        if features is not None:
            values = features.encode_column(column, name)
            return pa.array(values, type=features.arrow_schema.field(name).type)
        from snuggle.data.features import cast_to_python_objects

        if hasattr(column, "__array__") and getattr(column, "ndim", 1) == 1:
            return pa.array(column)
        return pa.array(cast_to_python_objects(list(column)))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, OverflowError) as error:
        expected = f" as {features[name]}" if features is not None else ""
        raise DataError(f"from_dict: column {name!r} could not be converted{expected}: {error}") from error


def generate_tables(generator: Callable, gen_kwargs: dict, features: Features | None, batch_size: int = 1000):
    """Tables of up to `batch_size` rows from a generator of row dicts; every table has the first one's schema."""
    schema = features.arrow_schema if features is not None else None
    rows: list[dict] = []

    def flush():
        nonlocal schema
        keys = list(features) if features is not None else (schema.names if schema is not None else list(rows[0]))
        extra = set().union(*rows) - set(keys)
        if extra:
            raise DataError(
                f"from_generator: rows have columns {sorted(extra)} that are not in {keys}; "
                "yield the same keys in every row (or list them in features=)"
            )
        columns = {key: [row.get(key) for row in rows] for key in keys}
        if features is not None:
            columns = features.encode_batch(columns)
        try:
            table = pa.Table.from_pydict(columns, schema=schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise DataError(
                f"from_generator: rows could not be stored with schema {schema}: {error}; pass features= to fix the types"
            ) from error
        if schema is None:
            schema = table.schema
        return table

    for row in generator(**gen_kwargs):
        if not isinstance(row, dict):
            raise DataError(f"from_generator: the generator must yield dicts (one per row), got {type(row).__name__}")
        rows.append(row)
        if len(rows) >= batch_size:
            yield flush()
            rows = []
    if rows:
        yield flush()
