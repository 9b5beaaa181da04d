"""Unit tests for snuggle.data.dataset_dict.DatasetDict."""

from __future__ import annotations

import datasets as hf
import numpy as np
import pytest

from snuggle.data.arrow_dataset import Dataset
from snuggle.data.dataset_dict import DatasetDict
from snuggle.data.features import ClassLabel
from snuggle.errors import DataError


@pytest.fixture
def dd():
    return DatasetDict({
        "train": Dataset.from_dict({"text": ["a", "b", "c", "d"], "label": ["x", "y", "x", "y"]}),
        "test": Dataset.from_dict({"text": ["e", "f"], "label": ["y", "x"]}),
    })


def test_properties_and_repr_match_reference(dd):
    ref = hf.DatasetDict({split: hf.Dataset.from_dict(ds.to_dict()) for split, ds in dd.items()})
    assert repr(dd) == repr(ref)
    assert dd.num_rows == ref.num_rows and dd.column_names == ref.column_names and dd.shape == ref.shape
    assert dd.num_columns == ref.num_columns and dd.cache_files == ref.cache_files
    assert dd.unique("label") == ref.unique("label")
    with pytest.raises(KeyError, match="Please first select a split"):
        dd[0]


def test_operations_apply_to_every_split(dd):
    assert dd.rename_column("text", "t").column_names == {"train": ["t", "label"], "test": ["t", "label"]}
    assert dd.rename_columns({"text": "t"}).column_names["test"] == ["t", "label"]
    assert dd.select_columns("label").column_names["train"] == ["label"]
    assert dd.remove_columns(["label"]).column_names["test"] == ["text"]
    encoded = dd.class_encode_column("label")
    assert encoded["train"].features["label"] == ClassLabel(names=["x", "y"])
    assert dd.sort("text", reverse=True)["train"]["text"] == ["d", "c", "b", "a"]
    shuffled = dd.shuffle(seeds={"train": 0, "test": 1})
    assert shuffled["train"]["text"] == [dd["train"]["text"][i] for i in np.random.default_rng(0).permutation(4)]
    assert dd.shuffle(seed=5)["test"]["text"] == [dd["test"]["text"][i] for i in np.random.default_rng(5).permutation(2)]
    with pytest.raises(DataError, match="seed or seeds"):
        dd.shuffle(seed=1, seeds=2)
    assert dd.flatten_indices()["train"]["text"] == dd["train"]["text"]


def test_formats(dd):
    numpy_dd = dd.with_format("numpy")
    assert isinstance(numpy_dd["train"]["text"], np.ndarray) and dd["train"]["text"] == ["a", "b", "c", "d"]
    dd.set_format("numpy", columns=["text"])
    assert set(dd["test"][0]) == {"text"}
    dd.reset_format()
    assert dd["test"][0] == {"text": "e", "label": "y"}
    with dd.formatted_as("pandas"):
        assert dd["train"][:2].shape == (2, 2)
    upper = dd.with_transform(lambda b: {"text": [t.upper() for t in b["text"]]}, columns=["text"])
    assert upper["train"][0] == {"text": "A"}
    with pytest.raises(DataError, match="must be Dataset objects"):
        _ = DatasetDict({"train": [1, 2]}).num_rows
