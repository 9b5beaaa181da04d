"""Unit tests for snuggle.data.combine: concatenate_datasets and interleave_datasets."""

from __future__ import annotations

import pytest

from snuggle.data.arrow_dataset import Dataset
from snuggle.data.arrow_files import write_arrow_file
from snuggle.data.combine import (
    concatenate_datasets,
    interleave_datasets,
    interleaved_rows,
)
from snuggle.data.features import Features, Value
from snuggle.errors import DataError


def test_concatenate_rows_with_indices_and_nulls():
    a = Dataset.from_dict({"x": [0, 1, 2], "y": ["a", "b", "c"]}).select([2, 0])
    b = Dataset.from_dict({"y": ["d"], "x": [3]})
    both = concatenate_datasets([a, b])
    assert both["x"] == [2, 0, 3] and both["y"] == ["c", "a", "d"]
    nulls = Dataset.from_dict({"x": [4], "y": [None]})
    assert concatenate_datasets([nulls, b]).features["y"] == Value("string")


def test_concatenate_schema_mismatch_names_columns_and_types():
    a = Dataset.from_dict({"x": [1], "y": ["a"]})
    b = Dataset.from_dict({"x": ["one"], "y": ["b"]})
    with pytest.raises(DataError, match=r"column 'x' has type Value\('int64'\) in dataset 0 but Value\('string'\)"):
        concatenate_datasets([a, b])
    with pytest.raises(DataError, match=r"missing \['y'\]"):
        concatenate_datasets([a, Dataset.from_dict({"x": [2]})])


def test_concatenate_columns():
    a = Dataset.from_dict({"x": [1, 2]})
    b = Dataset.from_dict({"y": ["a", "b"]}).select([1, 0])
    side = concatenate_datasets([a, b], axis=1)
    assert side[:] == {"x": [1, 2], "y": ["b", "a"]}
    with pytest.raises(DataError, match="number of rows must match"):
        concatenate_datasets([a, Dataset.from_dict({"y": [1]})], axis=1)
    with pytest.raises(DataError, match="duplicated"):
        concatenate_datasets([a, a], axis=1)


def test_concatenate_file_backed_keeps_cache_files_and_format(tmp_path):
    import pyarrow as pa

    paths = []
    for i in range(2):
        path = str(tmp_path / f"part{i}.arrow")
        write_arrow_file(path, [pa.table({"x": [i, i + 10]})])
        paths.append(path)
    parts = [Dataset.from_file(p).with_format("numpy") for p in paths]
    both = concatenate_datasets(parts)
    assert [f["filename"] for f in both.cache_files] == paths
    assert both._format_type == "numpy" and both["x"].tolist() == [0, 10, 1, 11]


def test_interleave_round_robin_and_seeded():
    a = Dataset.from_dict({"x": [0, 1, 2]})
    b = Dataset.from_dict({"x": [10, 11]})
    assert interleave_datasets([a, b])["x"] == [0, 10, 1, 11]
    assert interleave_datasets([a, b], stopping_strategy="all_exhausted")["x"] == [0, 10, 1, 11, 2, 10]
    assert interleave_datasets([a, b], stopping_strategy="all_exhausted_without_replacement")["x"] == [0, 10, 1, 11, 2]
    seeded = interleave_datasets([a, b], probabilities=[0.5, 0.5], seed=1)["x"]
    assert seeded == interleave_datasets([a, b], probabilities=[0.5, 0.5], seed=1)["x"]
    rows = interleaved_rows([3, 2], [0.9, 0.1], 0, "all_exhausted")
    assert set(rows) == {0, 1, 2, 3, 4}
    with pytest.raises(DataError, match="stopping_strategy"):
        interleave_datasets([a, b], stopping_strategy="never")
    with pytest.raises(DataError, match="probability 0"):
        interleave_datasets([a, b], probabilities=[1.0, 0.0], stopping_strategy="all_exhausted")


def test_concatenate_empty_inputs():
    with pytest.raises(DataError, match="empty list"):
        concatenate_datasets([])
    empty = Dataset.from_dict({"x": []}, features=Features({"x": Value("int64")}))
    full = Dataset.from_dict({"x": [1]})
    assert concatenate_datasets([empty, full])["x"] == [1]
