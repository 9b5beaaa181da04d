"""The packaged file builders: csv, json/jsonl, parquet, text and arrow files -> Arrow tables.

Each builder has a config dataclass holding the reference's options (same names, same
defaults) and a generator over Arrow tables. `iter_tables(builder_name, files, config)` is the
one entry point, shared by `load_dataset` (which writes the tables to the cache) and streaming
(which wraps it lazily):

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "a.csv")
>>> _ = open(path, "w").write("text,label\\nhi,1\\nyo,0\\n")
>>> config = make_config("csv")
>>> [t.to_pydict() for t in iter_tables("csv", [path], config)]
[{'text': ['hi', 'yo'], 'label': [1, 0]}]

Types follow the reference exactly: CSV goes through pandas (so strings are `large_string` with
pandas 3, as in datasets), JSON through pyarrow.json, text lines are `string`.
"""

from __future__ import annotations

import codecs
import dataclasses
import io
import json
from dataclasses import dataclass
from io import StringIO
from typing import Any, Callable, Iterator

from snuggle.data.remote_files import is_remote_url, open_data_file
from snuggle.errors import DataError


@dataclass
class BuilderConfig:
    """Options shared by every builder (`name` is the config name shown in the cache path)."""

    name: str = "default"
    features: Any = None  # snuggle.data.features.Features or None


@dataclass
class CsvConfig(BuilderConfig):
    """pandas.read_csv options, as the reference passes them (`delimiter` = `sep`, `column_names` = `names`)."""

    sep: str = ","
    delimiter: str | None = None
    header: Any = "infer"
    names: list | None = None
    column_names: list | None = None
    index_col: Any = None
    usecols: Any = None
    prefix: str | None = None
    mangle_dupe_cols: bool = True
    engine: str | None = None
    converters: dict | None = None
    true_values: list | None = None
    false_values: list | None = None
    skipinitialspace: bool = False
    skiprows: Any = None
    nrows: int | None = None
    na_values: Any = None
    keep_default_na: bool = True
    na_filter: bool = True
    verbose: bool = False
    skip_blank_lines: bool = True
    thousands: str | None = None
    decimal: str = "."
    lineterminator: str | None = None
    quotechar: str = '"'
    quoting: int = 0
    escapechar: str | None = None
    comment: str | None = None
    encoding: str | None = None
    dialect: str | None = None
    error_bad_lines: bool = True
    warn_bad_lines: bool = True
    skipfooter: int = 0
    doublequote: bool = True
    memory_map: bool = False
    float_precision: str | None = None
    chunksize: int = 10_000
    encoding_errors: str | None = "strict"
    on_bad_lines: str = "error"
    date_format: str | None = None

    def __post_init__(self):
        if self.delimiter is not None:
            self.sep = self.delimiter
        if self.column_names is not None:
            self.names = self.column_names

    # Options pandas has no default for, or has removed: passed only when the user set them.
    _ONLY_IF_SET = ("names", "prefix", "warn_bad_lines", "error_bad_lines", "mangle_dupe_cols", "verbose")

    def pandas_kwargs(self) -> dict:
        skip = {"name", "features", "delimiter", "column_names"}
        kwargs = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}
        defaults = CsvConfig()
        for option in self._ONLY_IF_SET:
            if kwargs[option] == getattr(defaults, option):
                del kwargs[option]
        return kwargs


@dataclass
class JsonConfig(BuilderConfig):
    """JSON Lines, or a JSON array, or the list under `field` of one JSON object."""

    encoding: str = "utf-8"
    encoding_errors: str | None = None
    field: str | None = None
    use_threads: bool = True  # accepted for compatibility; no effect (as in the reference)
    block_size: int | None = None  # deprecated alias of chunksize
    chunksize: int = 10 << 20
    newlines_in_values: bool | None = None
    on_mixed_types: str | None = "use_json"

    def __post_init__(self):
        if self.block_size is not None:
            self.chunksize = self.block_size
        if self.newlines_in_values is not None:
            raise DataError("The JSON loader parameter `newlines_in_values` is no longer supported")


@dataclass
class TextConfig(BuilderConfig):
    """One row per line (default), per paragraph (blank-line separated) or per file."""

    encoding: str = "utf-8"
    encoding_errors: str | None = None
    chunksize: int = 10 << 20
    keep_linebreaks: bool = False
    sample_by: str = "line"

    def __post_init__(self):
        if self.sample_by not in ("line", "paragraph", "document"):
            raise DataError(f"text: sample_by must be 'line', 'paragraph' or 'document', got {self.sample_by!r}")


@dataclass
class ParquetConfig(BuilderConfig):
    batch_size: int | None = None
    columns: list | None = None
    filters: Any = None
    fragment_scan_options: Any = None
    on_bad_files: str = "error"


@dataclass
class ArrowConfig(BuilderConfig):
    pass


CONFIG_CLASSES: dict[str, type[BuilderConfig]] = {
    "csv": CsvConfig,
    "json": JsonConfig,
    "text": TextConfig,
    "parquet": ParquetConfig,
    "arrow": ArrowConfig,
}
PACKAGED_BUILDERS = tuple(CONFIG_CLASSES)


def make_config(builder_name: str, **config_kwargs) -> BuilderConfig:
    """Build the config of `builder_name`; an unknown option -> DataError listing the valid ones.

    >>> make_config("csv", delimiter="\\t").sep
    '\\t'
    """
    if builder_name not in CONFIG_CLASSES:
        raise DataError(f"Unknown builder {builder_name!r}; expected one of {list(CONFIG_CLASSES)}")
    cls = CONFIG_CLASSES[builder_name]
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(config_kwargs) - valid)
    if unknown:
        raise DataError(
            f"{builder_name}: unknown option(s) {unknown}; valid options are {sorted(valid - {'name'})}"
        )
    return cls(**config_kwargs)


def config_signature(config: BuilderConfig) -> dict:
    """The config as plain data for the cache hash (features by their dict form, callables by name)."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name == "features" and value is not None:
            value = value.to_dict() if hasattr(value, "to_dict") else repr(value)
        elif callable(value) or isinstance(value, dict) and any(callable(v) for v in value.values()):
            value = repr(value)
        out[f.name] = value
    return out


# --------------------------------------------------------------------------------------------
# Entry points


def iter_tables(builder_name: str, files: list[str], config: BuilderConfig,
                schema_from=None) -> Iterator["pa.Table"]:  # noqa: F821
    """Yield the Arrow tables read from `files` in order (several per file for big files).

    Tables are cast to `config.features` when given, else to `schema_from` (a pa.Schema) when
    given, else to the schema of the first table: the reference fixes a split's schema from its
    first table (missing columns of later tables become nulls; extra ones are an error).
    """
    reader: Callable = _READERS[builder_name]
    target = _target_schema(config, schema_from)
    for path in files:
        for table in reader(path, config):
            if target is None:
                target = table.schema
                yield table
            else:
                yield _conform(table, target, config, path)


def generate_tables(files: list[str], builder_name: str, config: BuilderConfig, schema=None):
    """`(key, table)` pairs for streaming: `files` is the shardable list (one shard per file).

    Keys are "<file index>_<table index>" within this call, like the reference's Key(shard, batch).
    """
    reader: Callable = _READERS[builder_name]
    target = _target_schema(config, schema)
    for file_idx, path in enumerate(files):
        for batch_idx, table in enumerate(reader(path, config)):
            if target is None:
                target = table.schema
            else:
                table = _conform(table, target, config, path)
            yield f"{file_idx}_{batch_idx}", table


def upfront_schema(builder_name: str, data_files: dict[str, list[str]], config: BuilderConfig):
    """The schema the reference fixes before reading any split, or None (then each split's first table sets it).

    JSON Lines: the first table of the first split; parquet / arrow: the first file's schema.
    """
    if config.features is not None:
        return config.features.arrow_schema
    first_files = next(iter(data_files.values()), [])
    if not first_files:
        return None
    if builder_name == "json":
        if config.field is not None or _json_starts_with_array(first_files[0]):
            return None
        for table in _read_json(first_files[0], config):
            return table.schema
        return None
    if builder_name == "parquet":
        import pyarrow.parquet as pq

        schema = _open_or_fail(first_files[0], "Parquet", lambda f: pq.read_schema(f))
        if config.columns is not None:
            schema = _select_schema(schema, config.columns, first_files[0])
        return schema
    if builder_name == "arrow":
        return _open_arrow(first_files[0])[0]
    return None


def _target_schema(config, schema_from):
    if config.features is not None:
        return config.features
    return schema_from


def _conform(table, target, config, path):
    """Cast `table` to `target` (Features or pa.Schema): missing columns become nulls, extra ones fail."""
    import pyarrow as pa

    if target is None:
        return table
    features = target if not isinstance(target, pa.Schema) else None
    schema = target.arrow_schema if features is not None else target
    if table.schema.equals(schema, check_metadata=False):
        return table
    extra = [c for c in table.column_names if c not in schema.names]
    if extra:
        raise DataError(
            f"{path}: columns {extra} are not in the expected columns {schema.names} "
            "(set from the features or the first file); pass features= covering every column"
        )
    for name in schema.names:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(len(table), type=schema.field(name).type))
    table = table.select(schema.names)
    if features is not None:
        from snuggle.data.features import cast_table

        return cast_table(table, features)
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
        raise DataError(f"{path}: cannot cast the data {table.schema} to the schema {schema}: {e}") from None


def _open_or_fail(path, kind, fn):
    import pyarrow as pa

    try:
        return fn(open_data_file(path, "rb") if is_remote_url(path) else path)
    except (pa.ArrowInvalid, OSError) as e:
        raise DataError(f"{path}: not a readable {kind} file ({e})") from None


# --------------------------------------------------------------------------------------------
# CSV


def _read_csv(path: str, config: CsvConfig):
    import pandas as pd
    import pyarrow as pa

    dtype = None
    if config.features is not None:
        from snuggle.data.features import Value

        # A Value column is read with its dtype (so "007" stays a string); others need a storage cast.
        schema = config.features.arrow_schema
        dtype = {
            name: (schema.field(name).type.to_pandas_dtype() if isinstance(feature, Value) else object)
            for name, feature in config.features.items()
        }
    try:
        source = open_data_file(path, "rb") if is_remote_url(path) else path
        reader = pd.read_csv(source, iterator=True, dtype=dtype, **config.pandas_kwargs())
        with reader:
            for df in reader:
                yield pa.Table.from_pandas(df)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: malformed CSV: {e}. Check sep=/delimiter=, quoting= and the row named above.") from None


# --------------------------------------------------------------------------------------------
# JSON


def _json_starts_with_array(path: str) -> bool:
    with open_data_file(path, "rb") as f:
        head = f.read(1024)
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):]
    return head.lstrip().startswith(b"[")


def _read_json(path: str, config: JsonConfig):
    import pyarrow as pa
    import pyarrow.json as paj

    if config.field is not None:
        yield _read_json_field(path, config)
        return
    with open_data_file(path, "rb") as f:
        first = True
        line_offset = 0  # lines of the file before the current chunk, for error messages
        while True:
            chunk = f.read(config.chunksize)
            if not chunk:
                break
            if first and chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8):]
            if first and chunk.lstrip().startswith(b"["):
                yield _json_array_to_table(chunk + f.read(), path, config)
                return
            first = False
            chunk += f.readline()  # finish the current line
            if config.encoding != "utf-8":
                chunk = chunk.decode(config.encoding, errors=config.encoding_errors or "strict").encode("utf-8")
            try:
                table = paj.read_json(io.BytesIO(chunk), read_options=paj.ReadOptions(block_size=max(len(chunk), 1 << 14)))
                table.validate()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                whole = _try_whole_json_object(path, config, line_offset)
                if whole is not None:
                    yield whole
                    return
                raise _json_lines_error(path, chunk, line_offset, e) from None
            line_offset += chunk.count(b"\n")
            yield table


def _json_lines_error(path: str, chunk: bytes, line_offset: int, error: Exception) -> DataError:
    """Find the first line of `chunk` that is not a JSON object and name it."""
    for i, raw in enumerate(chunk.split(b"\n")):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except ValueError as e:
            return DataError(f"{path}: line {line_offset + i + 1} is not valid JSON ({e}): {raw[:80]!r}")
        if not isinstance(value, dict):
            return DataError(f"{path}: line {line_offset + i + 1} is a JSON {type(value).__name__}, expected an object")
    return DataError(
        f"{path}: cannot read as JSON Lines ({error}). If a field holds values of different types in different "
        "rows, pass features= to fix its type."
    )


def _try_whole_json_object(path: str, config: JsonConfig, line_offset: int):
    """A file that is one JSON object of columns ({"a": [...], "b": [...]}) reads as a table."""
    import pyarrow as pa

    if line_offset:
        return None
    try:
        with open_data_file(path, "r", encoding=config.encoding, errors=config.encoding_errors) as f:
            obj = json.load(f)
    except ValueError:
        return None
    if isinstance(obj, dict) and obj and all(isinstance(v, list) for v in obj.values()):
        lengths = {len(v) for v in obj.values()}
        if len(lengths) == 1:
            return pa.Table.from_pydict(obj)
    if isinstance(obj, dict):
        raise DataError(
            f"{path}: the file is one JSON object with keys {list(obj)[:10]}, not JSON Lines; "
            "pass field='<key>' to load the list of records under one key"
        )
    return None


def _records_to_table(records: list, path: str, where: str):
    import pyarrow as pa
    import pyarrow.json as paj

    if not records:
        return pa.table({})
    if all(isinstance(r, dict) for r in records):
        lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode("utf-8")
    else:
        lines = "\n".join(json.dumps({"text": r}, ensure_ascii=False) for r in records).encode("utf-8")
    try:
        return paj.read_json(io.BytesIO(lines), read_options=paj.ReadOptions(block_size=len(lines) + 1))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise DataError(f"{path}{where}: records of mixed types cannot form one table ({e}); pass features=") from None


def _json_array_to_table(data: bytes, path: str, config: JsonConfig):
    try:
        records = json.loads(data.decode(config.encoding, errors=config.encoding_errors or "strict"))
    except ValueError as e:
        raise DataError(f"{path}: invalid JSON ({e})") from None
    return _records_to_table(records, path, "")


def _read_json_field(path: str, config: JsonConfig):
    import pyarrow as pa

    try:
        with open_data_file(path, "r", encoding=config.encoding, errors=config.encoding_errors) as f:
            obj = json.load(f)
    except ValueError as e:
        raise DataError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(obj, dict) or config.field not in obj:
        keys = list(obj)[:20] if isinstance(obj, dict) else type(obj).__name__
        raise DataError(f"{path}: field {config.field!r} not found; the top-level keys are {keys}")
    value = obj[config.field]
    if isinstance(value, list):
        return _records_to_table(value, path, f" (field {config.field!r})")
    if isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
        return pa.Table.from_pydict(value)
    raise DataError(f"{path}: field {config.field!r} holds a {type(value).__name__}; expected a list of records")


# --------------------------------------------------------------------------------------------
# Text


def _text_table(rows: list[str], config: TextConfig):
    import pyarrow as pa

    names = list(config.features) if config.features is not None else ["text"]
    if len(names) != 1:
        raise DataError(f"text: features must have exactly one column, got {names}")
    return pa.Table.from_arrays([pa.array(rows, type=pa.string())], names=names)


def _read_text(path: str, config: TextConfig):
    # Text mode: universal newlines ("\r\n", "\r" -> "\n"), as the reference.
    try:
        with open_data_file(path, "r", encoding=config.encoding, errors=config.encoding_errors) as f:
            if config.sample_by == "document":
                yield _text_table([f.read()], config)
                return
            if config.sample_by == "line":
                while True:
                    chunk = f.read(config.chunksize)
                    if not chunk:
                        break
                    chunk += f.readline()
                    lines = StringIO(chunk).readlines()
                    if not config.keep_linebreaks:
                        lines = [line.rstrip("\n") for line in lines]
                    yield _text_table(lines, config)
                return
            # paragraphs: split on blank lines, carrying the unfinished paragraph to the next chunk
            pending = ""
            while True:
                chunk = f.read(config.chunksize)
                if not chunk:
                    break
                pending += chunk + f.readline()
                parts = pending.split("\n\n")
                yield _text_table([p for p in parts[:-1] if p], config)
                pending = parts[-1]
            if pending:
                yield _text_table([pending], config)
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not {config.encoding} text ({e}); pass encoding= or encoding_errors=") from None


# --------------------------------------------------------------------------------------------
# Parquet and Arrow


def _select_schema(schema, columns, path):
    import pyarrow as pa

    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise DataError(f"{path}: columns {missing} not found; the file has {schema.names}")
    return pa.schema([schema.field(c) for c in schema.names if c in columns])


def _read_parquet(path: str, config: ParquetConfig):
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet_file = _open_or_fail(path, "Parquet", pq.ParquetFile)
    filter_expr = None
    if config.filters is not None:
        filter_expr = pq.filters_to_expression(config.filters) if isinstance(config.filters, list) else config.filters
    with parquet_file:
        if parquet_file.metadata.num_row_groups == 0:
            return
        batch_size = config.batch_size or parquet_file.metadata.row_group(0).num_rows or 1
        for group in range(parquet_file.metadata.num_row_groups):
            for batch in parquet_file.iter_batches(batch_size=batch_size, row_groups=[group], columns=config.columns):
                table = pa.Table.from_batches([batch])
                if filter_expr is not None:
                    table = table.filter(filter_expr)
                yield table


def _open_arrow(path: str):
    """(schema, batch iterator) of an Arrow IPC stream or file (the reference writes streams)."""
    import pyarrow as pa

    source = pa.memory_map(path)
    try:
        reader = pa.ipc.open_stream(source)
        return reader.schema, iter(reader)
    except (pa.ArrowInvalid, OSError):
        try:
            file_reader = pa.ipc.open_file(source)
        except (pa.ArrowInvalid, OSError) as e:
            raise DataError(f"{path}: not an Arrow IPC stream or file ({e})") from None
        return file_reader.schema, (file_reader.get_batch(i) for i in range(file_reader.num_record_batches))


def _read_arrow(path: str, config: ArrowConfig):
    import pyarrow as pa

    _, batches = _open_arrow(path)
    for batch in batches:
        try:
            batch.validate(full=True)
        except pa.ArrowInvalid as e:
            raise DataError(f"{path}: corrupt Arrow record batch ({e})") from None
        yield pa.Table.from_batches([batch])


_READERS: dict[str, Callable] = {
    "csv": _read_csv,
    "json": _read_json,
    "text": _read_text,
    "parquet": _read_parquet,
    "arrow": _read_arrow,
}
