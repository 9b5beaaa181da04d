"""Unit tests for snuggle.data.arrow_dataset.Dataset: construction, access, file-backed caching, errors."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest

from snuggle.data import fingerprint
from snuggle.data.arrow_dataset import Dataset
from snuggle.data.arrow_files import write_arrow_file
from snuggle.data.features import ClassLabel, Features, List, Value
from snuggle.errors import DataError


@pytest.fixture
def arrow_file(tmp_path):
    path = str(tmp_path / "data.arrow")
    table = pa.table({"id": list(range(100)), "text": [f"row {i}" for i in range(100)], "label": [i % 3 for i in range(100)]})
    write_arrow_file(path, [table.slice(0, 60), table.slice(60)])
    return path


def test_from_dict_list_pandas_and_repr():
    ds = Dataset.from_dict({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert repr(ds) == "Dataset({\n    features: ['a', 'b'],\n    num_rows: 3\n})"
    assert ds.shape == (3, 2) and len(ds) == 3 and ds.num_columns == 2
    assert Dataset.from_list([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])[:] == {"a": [1, 2], "b": ["x", "y"]}
    import pandas as pd

    assert Dataset.from_pandas(pd.DataFrame({"a": [1.5, 2.5]}))["a"] == [1.5, 2.5]
    labelled = Dataset.from_dict({"l": ["pos", "neg"]}, features=Features({"l": ClassLabel(names=["neg", "pos"])}))
    assert labelled["l"] == [1, 0]
    assert labelled.data.schema.field("l").type == pa.int64()


def test_construction_errors_name_the_columns():
    with pytest.raises(DataError, match="different lengths.*'a': 2.*'b': 1"):
        Dataset.from_dict({"a": [1, 2], "b": [1]})
    with pytest.raises(DataError, match="column a"):
        Dataset.from_dict({"a": [1, "x"]}, features=Features({"a": Value("int32")}))
    with pytest.raises(DataError, match=r"columns \['b'\] have no entry"):
        Dataset.from_dict({"a": [1], "b": [2]}, features=Features({"a": Value("int64")}))
    with pytest.raises(DataError, match="duplicated"):
        Dataset(pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"]))


def test_access_through_indices_mapping():
    ds = Dataset.from_dict({"x": list(range(10)), "y": [[i] * (i % 3) for i in range(10)]})
    shuffled = ds.select([9, 0, 5, 5])
    assert shuffled._indices is not None
    assert shuffled[0] == {"x": 9, "y": []} and shuffled[-1] == {"x": 5, "y": [5, 5]}
    assert shuffled[1:3]["x"] == [0, 5] and shuffled[[3, 0]]["x"] == [5, 9] and shuffled["x"] == [9, 0, 5, 5]
    assert [row["x"] for row in shuffled] == [9, 0, 5, 5]
    assert [b["x"] for b in shuffled.iter(batch_size=3)] == [[9, 0, 5], [5]]
    assert [b["x"] for b in shuffled.iter(batch_size=3, drop_last_batch=True)] == [[9, 0, 5]]
    assert shuffled.__getitems__([0, 2]) == [{"x": 9, "y": []}, {"x": 5, "y": [5, 5]}]
    contiguous = ds.select(range(2, 5))
    assert contiguous._indices is None and contiguous["x"] == [2, 3, 4]
    with pytest.raises(IndexError):
        ds[10]
    with pytest.raises(IndexError):
        ds.select([0, 10])
    with pytest.raises(TypeError):
        ds[True]
    with pytest.raises(KeyError, match="Column z not in the dataset"):
        ds["z"]


def test_from_file_is_memory_mapped_and_zero_copy(arrow_file):
    before = pa.total_allocated_bytes()
    ds = Dataset.from_file(arrow_file)
    assert pa.total_allocated_bytes() - before < 10_000  # the rows are not copied into Arrow memory
    assert ds.cache_files == [{"filename": arrow_file}]
    assert len(ds) == 100 and ds[61]["text"] == "row 61"
    in_memory = Dataset.from_file(arrow_file, in_memory=True)
    assert in_memory.cache_files == [] and in_memory[:] == ds[:]
    assert Dataset.from_file(arrow_file)._fingerprint == ds._fingerprint  # stable for the same file


def test_file_backed_shuffle_and_sort_cache_beside_the_file(arrow_file):
    ds = Dataset.from_file(arrow_file)
    shuffled = ds.shuffle(seed=3)
    cache = os.path.join(os.path.dirname(arrow_file), f"cache-{shuffled._fingerprint}.arrow")
    assert os.path.exists(cache) and {"filename": cache} in shuffled.cache_files
    mtime = os.stat(cache).st_mtime_ns
    again = Dataset.from_file(arrow_file).shuffle(seed=3)
    assert again._fingerprint == shuffled._fingerprint and os.stat(cache).st_mtime_ns == mtime
    assert again["id"] == shuffled["id"] == [int(i) for i in np.random.default_rng(3).permutation(100)]
    assert ds.shuffle(seed=4)._fingerprint != shuffled._fingerprint
    ordered = shuffled.sort("id")
    assert ordered["id"] == list(range(100)) and len(ordered.cache_files) == 2
    flat = shuffled.flatten_indices()
    assert flat._indices is None and flat["id"] == shuffled["id"]
    assert flat.cache_files[0]["filename"].endswith(f"cache-{flat._fingerprint}.arrow")
    assert ds.cleanup_cache_files() >= 3


def test_caching_disabled_uses_a_temporary_folder(arrow_file):
    fingerprint.disable_caching()
    try:
        shuffled = Dataset.from_file(arrow_file).shuffle(seed=1)
        assert not shuffled.cache_files[-1]["filename"].startswith(os.path.dirname(arrow_file))
    finally:
        fingerprint.enable_caching()


def test_fingerprints_are_deterministic_and_change_with_arguments():
    ds = Dataset.from_dict({"a": [3, 1, 2]})
    assert ds.sort("a")._fingerprint == ds.sort("a")._fingerprint
    assert ds.sort("a")._fingerprint != ds.sort("a", reverse=True)._fingerprint
    assert ds.select([2, 0])._fingerprint != ds.select([0, 2])._fingerprint
    assert ds.remove_columns("a")._fingerprint != ds._fingerprint


def test_format_is_transmitted_and_follows_renames():
    ds = Dataset.from_dict({"a": [1, 2], "b": [3.0, 4.0], "c": ["x", "y"]}).with_format("numpy", columns=["a", "b"])
    assert ds.shuffle(seed=0)._format_type == "numpy"
    renamed = ds.rename_column("a", "A")
    assert renamed._format_columns == ["A", "b"] and renamed["A"].dtype == np.int64
    removed = ds.remove_columns("b")
    assert removed._format_columns == ["a"]
    assert set(ds[0]) == {"a", "b"}
    ds.reset_format()
    assert ds[0] == {"a": 1, "b": 3.0, "c": "x"}
    with pytest.raises(DataError, match="Unknown format type"):
        ds.set_format("tensorflowish")
    with pytest.raises(DataError, match=r"Columns \['zz'\] not in the dataset"):
        ds.set_format("numpy", columns=["zz"])


def test_column_operation_errors_name_the_fix():
    ds = Dataset.from_dict({"a": [1, 2], "b": ["x", "y"]})
    with pytest.raises(DataError, match=r"\['z'\] not in the dataset.*\['a', 'b'\]"):
        ds.remove_columns(["z"])
    with pytest.raises(DataError, match="already in the dataset"):
        ds.rename_column("a", "b")
    with pytest.raises(DataError, match="has 3 values but the dataset has 2 rows"):
        ds.add_column("c", [1, 2, 3])
    with pytest.raises(DataError, match=r"missing \['b'\]"):
        ds.add_item({"a": 3})
    with pytest.raises(DataError, match="must be identical"):
        ds.cast(Features({"a": Value("int32")}))
    with pytest.raises(DataError, match="only supported for Value columns"):
        Dataset.from_dict({"l": [[1]]}).class_encode_column("l")
    with pytest.raises(DataError, match="not in label2id"):
        Dataset.from_dict({"l": [0]}, features=Features({"l": ClassLabel(names=["neg", "pos"])})) \
            .align_labels_with_mapping({"neg": 0}, "l")


def test_add_item_to_null_column_and_with_indices():
    ds = Dataset.from_dict({"a": [None, None]})
    grown = ds.add_item({"a": "x"})
    assert grown["a"] == [None, None, "x"] and grown.features["a"] == Value("string")
    shuffled = Dataset.from_dict({"a": [1, 2, 3]}).select([2, 0])
    assert shuffled.add_item({"a": 9})["a"] == [3, 1, 9]


def _squares(n):
    for i in range(n):
        yield {"i": i, "sq": [i] * i}


def test_from_generator_caches_by_generator_hash(tmp_path):
    first = Dataset.from_generator(_squares, gen_kwargs={"n": 5}, cache_dir=str(tmp_path))
    path = first.cache_files[0]["filename"]
    mtime = os.stat(path).st_mtime_ns
    second = Dataset.from_generator(_squares, gen_kwargs={"n": 5}, cache_dir=str(tmp_path))
    assert first["sq"] == second["sq"] == [[i] * i for i in range(5)]
    assert second.cache_files == first.cache_files and os.stat(path).st_mtime_ns == mtime
    assert first.split == "train"
    other = Dataset.from_generator(_squares, gen_kwargs={"n": 3}, cache_dir=str(tmp_path))
    assert other.cache_files != first.cache_files and len(other) == 3
    assert Dataset.from_generator(_squares, gen_kwargs={"n": 2}, keep_in_memory=True)["i"] == [0, 1]

    def bad():
        yield {"a": 1}
        yield {"a": 2, "b": 3}

    with pytest.raises(DataError, match=r"columns \['b'\]"):
        Dataset.from_generator(bad, keep_in_memory=True)


def test_class_encode_and_cast_on_file_backed_data_write_cache(arrow_file):
    ds = Dataset.from_file(arrow_file).shuffle(seed=0)
    encoded = ds.class_encode_column("label")
    assert encoded.features["label"] == ClassLabel(names=["0", "1", "2"])
    assert encoded["label"] == ds["label"]
    assert encoded.cache_files[0]["filename"].endswith(f"cache-{encoded._fingerprint}.arrow")
    cast = ds.cast_column("id", Value("float32"))
    assert cast["id"] == [float(i) for i in ds["id"]] and cast._indices is None


def test_flatten_and_list_features():
    ds = Dataset.from_dict({"a": [{"b": 1, "c": {"d": "x"}}], "e": [[1, 2]]})
    flat = ds.flatten()
    assert flat.column_names == ["e", "a.b", "a.c.d"] or flat.column_names == ["a.b", "a.c.d", "e"]
    assert flat[0]["a.c.d"] == "x"
    assert ds.features["e"] == List(Value("int64"))


def test_info_attributes_are_read_through():
    ds = Dataset.from_dict({"a": [1]})
    assert ds.description == ds.info.description
    with pytest.raises(AttributeError):
        _ = ds.no_such_attribute
