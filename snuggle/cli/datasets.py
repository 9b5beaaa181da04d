"""`snuggle datasets info PATH`: splits, row counts, features and sizes on disk of a dataset.

PATH is a folder written by save_to_disk (Dataset or DatasetDict), an Arrow file (IPC stream
or file format, as datasets writes them), or anything `load_dataset(PATH)` reads (a data file
or a folder of data files).

    $ snuggle datasets info out/sst2
    out/sst2: DatasetDict saved by save_to_disk (2 splits)
    split train: 67,349 rows, 1 data file, 3.1 MB on disk
      sentence: Value('string')
      label: ClassLabel(names=['negative', 'positive'])
    ...
"""

from __future__ import annotations

import json
import os

from snuggle.errors import DataError


def add_parser(sub) -> None:
    p = sub.add_parser("datasets", help="inspect datasets (saved folders, Arrow files, data files)")
    datasets_sub = p.add_subparsers(dest="datasets_command", metavar="<datasets command>")
    info = datasets_sub.add_parser("info", help="print splits, row counts, features and sizes on disk")
    info.add_argument("path", help="save_to_disk folder, Arrow file, or a data file/folder load_dataset reads")
    info.set_defaults(func=run_info)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


def human_size(num_bytes: int) -> str:
    """Bytes in the largest unit that keeps the number >= 1 (decimal units, as `du --si`).

    >>> human_size(999), human_size(1_500_000)
    ('999 B', '1.5 MB')
    """
    value = float(num_bytes)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def run_info(args) -> int:
    for line in describe(args.path):
        print(line)
    return 0


def describe(path: str) -> list[str]:
    """The lines `snuggle datasets info` prints for `path`."""
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file or folder")
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "dataset_dict.json")):
        return _describe_saved_dict(path)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "state.json")):
        return [f"{path}: Dataset saved by save_to_disk", *_describe_saved_split(path, None)]
    if os.path.isfile(path) and path.endswith(".arrow"):
        return _describe_arrow_file(path)
    return _describe_loadable(path)


def _describe_saved_dict(path: str) -> list[str]:
    with open(os.path.join(path, "dataset_dict.json"), encoding="utf-8") as f:
        splits = json.load(f).get("splits") or []
    lines = [f"{path}: DatasetDict saved by save_to_disk ({len(splits)} split{'s' if len(splits) != 1 else ''})"]
    for split in splits:
        lines += _describe_saved_split(os.path.join(path, split), split)
    return lines


def _describe_saved_split(folder: str, split: str | None) -> list[str]:
    with open(os.path.join(folder, "state.json"), encoding="utf-8") as f:
        state = json.load(f)
    info_path = os.path.join(folder, "dataset_info.json")
    info = {}
    if os.path.isfile(info_path):
        with open(info_path, encoding="utf-8") as f:
            info = json.load(f)
    files = [os.path.join(folder, d["filename"]) for d in state.get("_data_files", [])]
    rows, schema = 0, None
    for file in files:
        file_rows, schema = _count_arrow_rows(file)
        rows += file_rows
    size = sum(os.path.getsize(f) for f in files)
    name = split if split is not None else (state.get("_split") or "(no split)")
    head = f"split {name}: {rows:,} rows, {len(files)} data file{'s' if len(files) != 1 else ''}, {human_size(size)} on disk"
    lines = [head]
    if state.get("_format_type") or state.get("_format_columns"):
        lines.append(f"  format: {state.get('_format_type')} columns={state.get('_format_columns')}")
    lines += _feature_lines(info.get("features"), schema)
    return lines


def _describe_arrow_file(path: str) -> list[str]:
    rows, schema = _count_arrow_rows(path)
    features = None
    meta = (schema.metadata or {}).get(b"huggingface") if schema is not None else None
    if meta:
        features = json.loads(meta).get("info", {}).get("features")
    return [f"{path}: Arrow file, {rows:,} rows, {human_size(os.path.getsize(path))} on disk", *_feature_lines(features, schema)]


def _describe_loadable(path: str) -> list[str]:
    from snuggle.data.load import load_dataset

    dataset_dict = load_dataset(path)
    splits = dataset_dict if isinstance(dataset_dict, dict) else {"train": dataset_dict}
    lines = [f"{path}: loaded with load_dataset ({len(splits)} split{'s' if len(splits) != 1 else ''})"]
    for name, ds in splits.items():
        files = [c["filename"] for c in getattr(ds, "cache_files", None) or []]
        size = sum(os.path.getsize(f) for f in files if os.path.exists(f))
        where = f", {human_size(size)} in the Arrow cache" if files else ""
        lines.append(f"split {name}: {ds.num_rows:,} rows{where}")
        lines += [f"  {column}: {feature!r}" for column, feature in ds.features.items()]
    return lines


def _count_arrow_rows(path: str):
    """(rows, schema) of an Arrow IPC stream or file, reading only batch headers of a memory map."""
    import pyarrow as pa

    source = pa.memory_map(path)
    try:
        reader = pa.ipc.open_stream(source)
        rows = sum(batch.num_rows for batch in reader)
        return rows, reader.schema
    except pa.ArrowInvalid:
        source.seek(0)
    try:
        file_reader = pa.ipc.open_file(source)
    except pa.ArrowInvalid as e:
        raise DataError(f"{path}: not an Arrow IPC stream or file ({e})") from None
    rows = sum(file_reader.get_batch(i).num_rows for i in range(file_reader.num_record_batches))
    return rows, file_reader.schema


def _feature_lines(features_json: dict | None, schema) -> list[str]:
    """One line per column: the datasets feature when known, else the Arrow type."""
    if features_json:
        try:
            from snuggle.data.features import Features

            return [f"  {column}: {feature!r}" for column, feature in Features.from_dict(features_json).items()]
        except (ValueError, KeyError, TypeError):  # an unknown feature type must not hide the rest
            return [f"  {column}: {json.dumps(value)}" for column, value in features_json.items()]
    if schema is not None:
        return [f"  {field.name}: {field.type}" for field in schema]
    return []
