"""snuggle.data.features vs datasets.features: JSON, repr, Arrow schemas, encoding, and Arrow files both ways."""

from __future__ import annotations

import json

import datasets
import pyarrow as pa
import pytest

from snuggle.data import features as ours
from snuggle.data.casting import cast_table
from snuggle.data.info import DatasetInfo

DTYPES = [
    "null", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
    "float64", "string", "large_string", "binary", "large_binary", "date32", "date64", "timestamp[s]",
    "timestamp[ms, tz=UTC]", "time32[s]", "time64[us]", "duration[ns]", "decimal128(10, 2)", "decimal256(40, 3)",
]


def build(mod) -> dict:
    """The same features, built with either library's classes."""
    return {
        "text": mod.Value("string"),
        "label": mod.ClassLabel(names=["neg", "pos"]),
        "ids": mod.Sequence(mod.Value("int32")),
        "fixed": mod.List(mod.Value("float32"), length=3),
        "big": mod.LargeList(mod.Value("int64")),
        "seq_of_dict": mod.Sequence({"x": mod.Value("int8"), "y": mod.Value("string")}),
        "list_of_dict": mod.List({"a": mod.Value("bool"), "tags": mod.List(mod.ClassLabel(names=["O", "B", "I"]))}),
        "nested": {"q": mod.Value("bool"), "deep": {"z": mod.Value("float64")}},
        "tr": mod.Translation(languages=["fr", "en"]),
        "trv": mod.TranslationVariableLanguages(languages=["en", "fr", "de"]),
        "a2": mod.Array2D(shape=(2, 3), dtype="float32"),
        "a3": mod.Array3D(shape=(None, 2, 2), dtype="int16"),
        "a4": mod.Array4D(shape=(1, 2, 1, 2), dtype="int64"),
        "a5": mod.Array5D(shape=(1, 1, 1, 1, 2), dtype="uint8"),
        "list_of_array": mod.List(mod.Array2D(shape=(1, 2), dtype="int32")),
        "ts": mod.Value("timestamp[us, tz=Europe/Paris]"),
    }


ROWS = [
    {"text": "good", "label": "pos", "ids": [1, 2], "fixed": [1.0, 2.0, 3.0], "big": [7],
     "seq_of_dict": {"x": [1, 2], "y": ["a", "b"]}, "list_of_dict": [{"a": True, "tags": ["B", "I"]}],
     "nested": {"q": False, "deep": {"z": 0.5}}, "tr": {"en": "cat", "fr": "chat"},
     "trv": {"en": "cat", "fr": ["chat", "chatte"]}, "a2": [[1, 2, 3], [4, 5, 6]], "a3": [[[1, 2], [3, 4]]],
     "a4": [[[[1, 2]], [[3, 4]]]], "a5": [[[[[1, 2]]]]], "list_of_array": [[[1, 2]], [[3, 4]]], "ts": None},
    {"text": None, "label": 0, "ids": None, "fixed": None, "big": [], "seq_of_dict": {"x": [], "y": []},
     "list_of_dict": [], "nested": None, "tr": {"en": "dog", "fr": "chien"}, "trv": {"de": "Hund"},
     "a2": [[0, 0, 0], [0, 0, 1]], "a3": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]], "a4": None, "a5": None,
     "list_of_array": None, "ts": None},
]


@pytest.mark.parametrize("dtype", DTYPES)
def test_value_dtypes(dtype):
    r, o = datasets.Features({"v": datasets.Value(dtype)}), ours.Features({"v": ours.Value(dtype)})
    assert o.to_dict() == r.to_dict()
    assert o.arrow_schema.equals(r.arrow_schema, check_metadata=True)
    assert repr(o) == repr(r)


def test_dict_json_repr_flatten():
    r, o = datasets.Features(build(datasets)), ours.Features(build(ours))
    assert json.dumps(o.to_dict()) == json.dumps(r.to_dict())
    assert repr(o) == repr(r)
    assert repr(o.flatten()) == repr(r.flatten())
    assert ours.Features.from_dict(r.to_dict()) == o
    assert datasets.Features.from_dict(o.to_dict()) == r
    assert o.arrow_schema.metadata == r.arrow_schema.metadata
    # Old-style JSON written by datasets < 4 ("Sequence") reads the same on both sides.
    old = {"s": {"feature": {"dtype": "int64", "_type": "Value"}, "_type": "Sequence"},
           "d": {"feature": {"x": {"dtype": "string", "_type": "Value"}}, "_type": "Sequence"}}
    assert repr(ours.Features.from_dict(old)) == repr(datasets.Features.from_dict(old))


def test_arrow_schema_matches_after_ipc():
    """Our schema, once through IPC (where the ArrayND field metadata becomes the reference's
    registered extension type), equals the reference's schema exactly."""
    r, o = datasets.Features(build(datasets)), ours.Features(build(ours))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, o.arrow_schema):
        pass
    schema = pa.ipc.open_stream(sink.getvalue()).schema
    assert schema.equals(r.arrow_schema, check_metadata=True)
    assert ours.Features.from_arrow_schema(r.arrow_schema) == o
    assert datasets.Features.from_arrow_schema(schema) == r


def test_type_without_arrays_equal():
    keep = [k for k in build(ours) if not k.startswith(("a2", "a3", "a4", "a5", "list_of_array"))]
    r = datasets.Features({k: v for k, v in build(datasets).items() if k in keep})
    o = ours.Features({k: v for k, v in build(ours).items() if k in keep})
    assert o.type == r.type


def test_encode_example_and_batch_equal():
    r, o = datasets.Features(build(datasets)), ours.Features(build(ours))
    for row in ROWS:
        assert o.encode_example(row) == r.encode_example(row)
    batch = {k: [row[k] for row in ROWS] for k in ROWS[0]}
    assert o.encode_batch(batch) == r.encode_batch(batch)
    assert o.encode_column(batch["label"], "label") == r.encode_column(batch["label"], "label")
    labels = ours.ClassLabel(names=["a", "b", "c"]), datasets.ClassLabel(names=["a", "b", "c"])
    for value in ["b", " c ", "2", ["a", "c"]]:
        assert labels[0].str2int(value) == labels[1].str2int(value)
    assert labels[0].int2str([0, 2]) == labels[1].int2str([0, 2])


def _write(table: pa.Table, path) -> None:
    with pa.OSFile(str(path), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)


def test_our_arrow_file_read_by_reference(tmp_path):
    o, r = ours.Features(build(ours)), datasets.Features(build(datasets))
    encoded = [o.encode_example(row) for row in ROWS]
    table = cast_table(pa.Table.from_pylist(encoded), o)
    _write(table, tmp_path / "ours.arrow")
    ref_ds = datasets.Dataset.from_file(str(tmp_path / "ours.arrow"))
    assert ref_ds.features == r
    expected = datasets.Dataset.from_list([r.encode_example(row) for row in ROWS], features=r)
    assert ref_ds.to_list() == expected.to_list()


def test_reference_arrow_file_read_by_us(tmp_path):
    o, r = ours.Features(build(ours)), datasets.Features(build(datasets))
    ref_ds = datasets.Dataset.from_list([r.encode_example(row) for row in ROWS], features=r)
    ref_ds.save_to_disk(str(tmp_path / "ref"))
    (arrow_file,) = (tmp_path / "ref").glob("data-*.arrow")
    table = pa.ipc.open_stream(pa.memory_map(str(arrow_file))).read_all()
    assert ours.Features.from_arrow_schema(table.schema) == o
    ours_table = cast_table(table, o)
    assert ours_table.to_pylist() == ref_ds.to_list()
    info = DatasetInfo.from_directory(str(tmp_path / "ref"))
    assert info.features == o


def test_cast_like_reference():
    """cast_table gives the values of datasets' Dataset.cast for conversions both support."""
    data = {"label": ["pos", "neg", "pos"], "n": [1, 2, 3], "f": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}
    o = ours.Features({"label": ours.ClassLabel(names=["neg", "pos"]), "n": ours.Value("float16"),
                       "f": ours.List(ours.Value("int8"), length=3)})
    r = datasets.Features({"label": datasets.ClassLabel(names=["neg", "pos"]), "n": datasets.Value("float16"),
                           "f": datasets.List(datasets.Value("int8"), length=3)})
    ref = datasets.Dataset.from_dict(data).cast(r)
    got = cast_table(pa.table(data), o)
    assert got.to_pylist() == ref.to_list()
    # (a Dataset's table metadata holds the whole DatasetInfo; the types and features must agree)
    assert got.schema.equals(ref.data.schema)
    assert ours.Features.from_arrow_schema(ref.data.schema) == o
