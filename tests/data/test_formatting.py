"""Unit tests for snuggle.data.formatting: query_table through indices, and each output format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from snuggle.data.arrow_dataset import Dataset
from snuggle.data.formatting import (
    canonical_format_type,
    format_table,
    key_kind,
    query_table,
)
from snuggle.errors import DataError


@pytest.fixture
def table():
    return pa.table({"i": pa.array([1, 2, 3], pa.int32()), "f": [0.5, 1.5, 2.5], "s": ["a", "bb", "c"],
                     "ragged": [[1], [2, 3], []], "square": [[1, 2], [3, 4], [5, 6]]})


def test_query_table_keys_and_indices(table):
    indices = pa.table({"indices": pa.array([2, 0, 1], pa.uint64())})
    assert query_table(table, -1).column("i").to_pylist() == [3]
    assert query_table(table, 0, indices).column("i").to_pylist() == [3]
    assert query_table(table, slice(1, None), indices).column("i").to_pylist() == [1, 2]
    assert query_table(table, [2, 2], indices).column("i").to_pylist() == [2, 2]
    assert query_table(table, range(2, -1, -1)).column("i").to_pylist() == [3, 2, 1]
    assert query_table(table, np.int64(1)).column("i").to_pylist() == [2]
    assert query_table(table, "s", indices).column(0).to_pylist() == ["c", "a", "bb"]
    with pytest.raises(IndexError):
        query_table(table, 3)
    with pytest.raises(IndexError):
        query_table(table, [0, -4])
    assert key_kind(3) == "row" and key_kind("s") == "column" and key_kind(slice(1)) == "batch"
    with pytest.raises(TypeError):
        key_kind(1.5)


def test_numpy_format(table):
    batch = format_table(table, slice(0, 3), "numpy")
    assert batch["i"].dtype == np.int64 and batch["f"].dtype == np.float32
    assert batch["s"].dtype.kind == "U"
    assert batch["ragged"].dtype == object and batch["ragged"][1].tolist() == [2, 3]
    assert batch["square"].shape == (3, 2)
    row = format_table(query_table(table, 1), 1, "np")
    assert isinstance(row["i"], np.int32) and isinstance(row["s"], np.str_) and row["square"].dtype == np.int64
    column = format_table(query_table(table, "f"), "f", "numpy")
    assert column.dtype == np.float32 and column.shape == (3,)


def test_torch_format(table):
    batch = format_table(table, slice(0, 3), "torch")
    assert batch["i"].dtype == torch.int64 and batch["f"].dtype == torch.float32
    assert batch["s"] == ["a", "bb", "c"]
    assert isinstance(batch["ragged"], list) and batch["ragged"][1].tolist() == [2, 3]
    assert batch["square"].shape == (3, 2)
    row = format_table(query_table(table, 0), 0, "pt")
    assert row["s"] == "a" and type(row["s"]) is str and row["i"].dtype == torch.int64
    half = format_table(table, slice(0, 3), "torch", format_kwargs={"dtype": torch.float16})
    assert half["i"].dtype == torch.float16


def test_pandas_arrow_and_custom_formats(table):
    assert isinstance(format_table(table, slice(0, 2), "pandas"), pd.DataFrame)
    assert isinstance(format_table(query_table(table, "s"), "s", "pandas"), pd.Series)
    assert format_table(table, slice(0, 3), "arrow") is table
    assert isinstance(format_table(query_table(table, "s"), "s", "arrow"), pa.ChunkedArray)

    def double(batch):
        return {"i": [2 * x for x in batch["i"]]}

    assert format_table(table, slice(0, 3), "custom", columns := ["i"], False, {"transform": double}) == {"i": [2, 4, 6]}
    assert format_table(query_table(table, 2), 2, "custom", columns, False, {"transform": double}) == {"i": 6}
    mixed = format_table(query_table(table, slice(0, 2)), slice(0, 2), "numpy", ["i"], True)
    assert mixed["s"] == ["a", "bb"] and mixed["i"].dtype == np.int64


def test_canonical_format_names():
    assert canonical_format_type("python") is None and canonical_format_type("pd") == "pandas"
    with pytest.raises(DataError, match="Unknown format type"):
        canonical_format_type("jaxx")


def test_dataset_formats_and_transforms():
    ds = Dataset.from_dict({"x": [1, 2, 3], "t": ["a", "b", "c"]})
    with ds.formatted_as("numpy"):
        assert isinstance(ds["x"], np.ndarray)
    assert ds["x"] == [1, 2, 3]
    shown = ds.with_transform(lambda b: {"x": [v * 10 for v in b["x"]]})
    assert shown[0] == {"x": 10} and shown[1:]["x"] == [20, 30]
    assert [row for row in shown] == [{"x": 10}, {"x": 20}, {"x": 30}]
    assert list(ds.with_format("torch").iter(batch_size=2))[1]["x"].tolist() == [3]
    ds.set_transform(None)
    assert ds[0] == {"x": 1, "t": "a"}
