"""save_to_disk / load_from_disk parity with `datasets`: each library loads the other's output,
and the files (state.json, dataset_info.json, Arrow schema, shard layout) are the same."""

from __future__ import annotations

import json
import os

import datasets
import pandas as pd
import pyarrow as pa
import pytest

from snuggle.data import Dataset, DatasetDict
from snuggle.data.disk import load_from_disk, parse_size, save_to_disk


@pytest.fixture(scope="module")
def imdb_frame(datasets_dir) -> pd.DataFrame:
    return pd.read_csv(datasets_dir / "imdb" / "train.csv").head(120)


FEATURES_JSON = {
    "review": {"dtype": "string", "_type": "Value"},
    "sentiment": {"names": ["negative", "positive"], "_type": "ClassLabel"},
}


def build_pair(frame: pd.DataFrame, split: str | None = "train"):
    """The same dataset in both libraries: IMDB reviews with a ClassLabel, shuffled, numpy format."""
    ref = datasets.Dataset.from_pandas(
        frame, features=datasets.Features.from_dict(FEATURES_JSON), split=split, preserve_index=False
    )
    from snuggle.data.features import Features

    ours = Dataset.from_pandas(frame, features=Features.from_dict(FEATURES_JSON), split=split, preserve_index=False)
    ref = ref.shuffle(seed=7).with_format("numpy", columns=["sentiment"], output_all_columns=True)
    ours = ours.shuffle(seed=7).with_format("numpy", columns=["sentiment"], output_all_columns=True)
    return ours, ref


def plain_rows(ds) -> list[dict]:
    return list(ds.with_format(None).to_pandas().to_dict("records"))


def state_without_fingerprint(folder) -> dict:
    state = json.loads((folder / "state.json").read_text())
    state.pop("_fingerprint")
    return state


def read_schema(path) -> pa.Schema:
    return pa.ipc.open_stream(pa.memory_map(str(path))).schema


def test_parse_size_matches_reference():
    from datasets.utils.py_utils import convert_file_size_to_int

    for size in ("500MB", "1GB", "3GiB", "12KiB", "8Mb", "7kb", 1234):
        assert parse_size(size) == convert_file_size_to_int(size), size


def test_same_files_as_reference(tmp_path, imdb_frame):
    ours, ref = build_pair(imdb_frame)
    save_to_disk(ours, tmp_path / "ours", num_shards=3)
    ref.save_to_disk(str(tmp_path / "ref"), num_shards=3)
    assert sorted(os.listdir(tmp_path / "ours")) == sorted(os.listdir(tmp_path / "ref"))
    assert state_without_fingerprint(tmp_path / "ours") == state_without_fingerprint(tmp_path / "ref")
    # dataset_info.json byte for byte
    assert (tmp_path / "ours" / "dataset_info.json").read_text() == (tmp_path / "ref" / "dataset_info.json").read_text()
    for name in os.listdir(tmp_path / "ref"):
        if name.endswith(".arrow"):
            ours_schema, ref_schema = read_schema(tmp_path / "ours" / name), read_schema(tmp_path / "ref" / name)
            assert ours_schema.equals(ref_schema, check_metadata=True), name
            ours_table = pa.ipc.open_stream(pa.memory_map(str(tmp_path / "ours" / name))).read_all()
            ref_table = pa.ipc.open_stream(pa.memory_map(str(tmp_path / "ref" / name))).read_all()
            assert ours_table.equals(ref_table), name


def test_default_sharding_matches_reference(tmp_path, imdb_frame):
    ours, ref = build_pair(imdb_frame)
    limit = ref.data.nbytes // 3
    save_to_disk(ours, tmp_path / "ours", max_shard_size=limit)
    ref.save_to_disk(str(tmp_path / "ref"), max_shard_size=limit)
    assert sorted(os.listdir(tmp_path / "ours")) == sorted(os.listdir(tmp_path / "ref"))


def test_reference_loads_ours(tmp_path, imdb_frame):
    ours, ref = build_pair(imdb_frame)
    save_to_disk(ours, tmp_path / "ours", num_shards=2)
    loaded = datasets.load_from_disk(str(tmp_path / "ours"))
    assert loaded.features.to_dict() == ref.features.to_dict()
    assert loaded.format == ref.format
    assert str(loaded.split) == "train"
    assert plain_rows(loaded) == plain_rows(ref)
    assert loaded[0].keys() == ref[0].keys()


def test_we_load_reference(tmp_path, imdb_frame):
    _, ref = build_pair(imdb_frame)
    ref.save_to_disk(str(tmp_path / "ref"), num_shards=2)
    loaded = load_from_disk(tmp_path / "ref")
    assert loaded.features.to_dict() == ref.features.to_dict()
    assert loaded.format == ref.format
    assert str(loaded.split) == "train"
    assert plain_rows(loaded) == plain_rows(ref)
    assert loaded.data.schema.equals(datasets.load_from_disk(str(tmp_path / "ref")).data.schema)


def test_dataset_dict_both_ways(tmp_path, imdb_frame):
    ours_train, ref_train = build_pair(imdb_frame.head(60))
    ours_test, ref_test = build_pair(imdb_frame.tail(30), split="test")
    save_to_disk(DatasetDict({"train": ours_train, "test": ours_test}), tmp_path / "ours")
    datasets.DatasetDict({"train": ref_train, "test": ref_test}).save_to_disk(str(tmp_path / "ref"))
    assert (tmp_path / "ours" / "dataset_dict.json").read_text() == (tmp_path / "ref" / "dataset_dict.json").read_text()

    ref_loaded = datasets.load_from_disk(str(tmp_path / "ours"))
    ours_loaded = load_from_disk(tmp_path / "ref")
    assert list(ref_loaded) == list(ours_loaded) == ["train", "test"]
    for split, ref_ds in (("train", ref_train), ("test", ref_test)):
        assert plain_rows(ref_loaded[split]) == plain_rows(ref_ds)
        assert plain_rows(ours_loaded[split]) == plain_rows(ref_ds)
        assert ours_loaded[split].format == ref_ds.format


def test_nested_features_both_ways(tmp_path):
    features = {
        "tokens": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"},
        "tags": {"feature": {"names": ["O", "B", "I"], "_type": "ClassLabel"}, "_type": "List"},
        "answers": {"text": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"},
                    "answer_start": {"feature": {"dtype": "int32", "_type": "Value"}, "_type": "List"}},
    }
    data = {
        "tokens": [["EU", "rejects"], ["Peter"]],
        "tags": [[1, 0], [1]],
        "answers": [{"text": ["EU"], "answer_start": [0]}, {"text": [], "answer_start": []}],
    }
    from snuggle.data.features import Features

    ref = datasets.Dataset.from_dict(data, features=datasets.Features.from_dict(features))
    ours = Dataset.from_dict(data, features=Features.from_dict(features))
    save_to_disk(ours, tmp_path / "ours")
    ref.save_to_disk(str(tmp_path / "ref"))
    assert (tmp_path / "ours" / "dataset_info.json").read_text() == (tmp_path / "ref" / "dataset_info.json").read_text()
    assert datasets.load_from_disk(str(tmp_path / "ours")).to_list() == ref.to_list()
    assert load_from_disk(tmp_path / "ref").to_list() == ref.to_list()
