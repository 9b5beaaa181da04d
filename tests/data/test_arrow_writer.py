"""ArrowWriter: column types (tried, optimized, fixed by features), batching, errors, atomic files."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest

from snuggle.data.arrow_writer import ArrowWriter
from snuggle.data.features import ClassLabel, Features, List, Value
from snuggle.errors import DataError


def read(path):
    return pa.ipc.open_stream(pa.memory_map(path)).read_all()


def test_rows_and_batches_go_to_one_stream_file_in_record_batches(tmp_path):
    path = str(tmp_path / "x.arrow")
    writer = ArrowWriter(path, writer_batch_size=2, fingerprint="abc")
    for i in range(5):
        writer.write({"i": i, "s": str(i)})
    writer.write_batch({"i": [5, 6], "s": ["5", "6"]})
    assert writer.finalize()[0] == 7
    reader = pa.ipc.open_stream(pa.memory_map(path))
    batches = list(reader)
    assert [b.num_rows for b in batches] == [2, 2, 1, 2]
    table = pa.Table.from_batches(batches)
    assert table.to_pydict() == {"i": list(range(7)), "s": [str(i) for i in range(7)]}
    assert b'"fingerprint": "abc"' in reader.schema.metadata[b"huggingface"]


def test_try_features_keep_old_types_when_values_fit():
    old = Features({"x": Value("int32"), "label": ClassLabel(names=["a", "b"]), "s": Value("int64")})
    writer = ArrowWriter(None, try_features=old)
    writer.write_batch({"x": [1, 2], "label": [0, 1], "s": ["p", "q"]})
    writer.finalize()
    table = writer.to_table()
    assert table.schema.field("x").type == pa.int32()
    assert table.schema.field("s").type == pa.string()  # strings never squeezed into ints
    assert writer.features["label"] == ClassLabel(names=["a", "b"])


def test_tokenizer_columns_are_narrowed_unless_they_overflow():
    writer = ArrowWriter(None)
    writer.write_batch({"input_ids": [[1, 2]], "attention_mask": [[1, 1]], "other": [[1, 2]]})
    writer.finalize()
    schema = writer.to_table().schema
    assert schema.field("input_ids").type == pa.list_(pa.int32())
    assert schema.field("attention_mask").type == pa.list_(pa.int8())
    assert schema.field("other").type == pa.list_(pa.int64())
    big = ArrowWriter(None)
    big.write_batch({"input_ids": [[2**40]]})
    big.finalize()
    assert big.to_table().schema.field("input_ids").type == pa.list_(pa.int64())


def test_later_batches_are_cast_to_the_first_schema():
    writer = ArrowWriter(None)
    writer.write_batch({"f": [1.5], "n": [None]})
    writer.write_batch({"f": [2], "n": [None]})
    writer.finalize()
    assert writer.to_table().to_pydict() == {"f": [1.5, 2.0], "n": [None, None]}


def test_fixed_features_encode_and_cast():
    features = Features({"label": ClassLabel(names=["neg", "pos"]), "v": List(Value("float32"))})
    writer = ArrowWriter(None, features=features)
    writer.write({"label": "pos", "v": [1, 2]})
    writer.write_batch({"label": [0], "v": np.array([[3.0]])})
    writer.finalize()
    table = writer.to_table()
    assert table.to_pydict() == {"label": [1, 0], "v": [[1.0, 2.0], [3.0]]}
    assert table.schema.field("v").type == pa.list_(pa.float32())
    with pytest.raises(DataError, match=r"missing \['v'\]"):
        ArrowWriter(None, features=features).write_batch({"label": [0]})


def test_numpy_tensors_become_nested_lists():
    writer = ArrowWriter(None)
    writer.write_batch({"m": np.arange(12).reshape(2, 3, 2), "ragged": [np.arange(2), np.arange(3)]})
    writer.finalize()
    table = writer.to_table()
    assert table.column("m").to_pylist()[1] == [[6, 7], [8, 9], [10, 11]]
    assert table.column("ragged").to_pylist() == [[0, 1], [0, 1, 2]]


def test_bad_batches_name_the_problem():
    with pytest.raises(DataError, match=r"'a': 2, 'b': 1"):
        ArrowWriter(None).write_batch({"a": [1, 2], "b": [1]})
    with pytest.raises(DataError, match=r"column 'mixed'"):
        ArrowWriter(None).write_batch({"mixed": [1, "x"]})
    writer = ArrowWriter(None)
    writer.write_batch({"a": [1]})
    with pytest.raises(DataError, match=r"missing \['a'\], unexpected \['b'\]"):
        writer.write_batch({"b": [1]})


def test_previous_file_survives_until_finalize(tmp_path):
    path = str(tmp_path / "x.arrow")
    first = ArrowWriter(path)
    first.write_batch({"a": [1]})
    first.finalize()
    second = ArrowWriter(path)
    second.write_batch({"a": [2, 3]})
    assert read(path).to_pydict() == {"a": [1]}
    second.finalize()
    assert read(path).to_pydict() == {"a": [2, 3]}
    assert sorted(os.listdir(tmp_path)) == ["x.arrow"]
