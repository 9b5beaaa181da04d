"""save_to_disk / load_from_disk: layout, round trips, sharding, replacement rules, errors."""

from __future__ import annotations

import itertools
import json
import os

import pyarrow as pa
import pytest

from snuggle.data.disk import (
    contiguous_shard_bounds,
    load_from_disk,
    parse_size,
    plan_num_shards,
    save_to_disk,
)
from snuggle.errors import DataError


def make_dataset(rows: int = 10):
    from snuggle.data import ClassLabel, Dataset, Features, Value

    features = Features({"id": Value("int64"), "text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    return Dataset.from_dict(
        {"id": list(range(rows)), "text": [f"row {i} é" for i in range(rows)], "label": [i % 2 for i in range(rows)]},
        features=features,
    )


def rows_of(ds) -> list[dict]:
    return [ds.with_format(None)[i] for i in range(len(ds))]


# ----------------------------------------------------------------------------- pure helpers


def test_parse_size_units():
    assert parse_size(123) == 123
    assert parse_size("500MB") == 500 * 10**6
    assert parse_size("1GiB") == 2**30
    assert parse_size("2kib") == 2048
    assert parse_size("8Mb") == 10**6  # lower-case b: bits
    assert parse_size("42") == 42
    with pytest.raises(DataError, match="max_shard_size='lots'"):
        parse_size("lots")


def test_contiguous_shard_bounds_cover_rows_in_order():
    for rows in (0, 1, 5, 10, 11):
        for shards in (1, 2, 3, 7):
            bounds = contiguous_shard_bounds(rows, shards)
            assert len(bounds) == shards
            assert bounds[0][0] == 0 and bounds[-1][1] == rows
            assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
            sizes = [end - start for start, end in bounds]
            assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_plan_num_shards():
    assert plan_num_shards(10, 100, None, None, None) == 1
    assert plan_num_shards(1000, 100, 300, None, None) == 4  # int(1000/300) + 1
    assert plan_num_shards(1000, 2, 300, None, None) == 2  # no more shards than rows
    assert plan_num_shards(10, 100, None, None, 4) == 4  # at least one per process
    assert plan_num_shards(0, 0, None, None, None) == 1
    assert plan_num_shards(10, 100, None, 5, None) == 5
    with pytest.raises(DataError, match="either max_shard_size or num_shards"):
        plan_num_shards(10, 100, "1MB", 2, None)
    with pytest.raises(DataError, match="num_shards"):
        plan_num_shards(10, 100, None, 0, None)


# ----------------------------------------------------------------------------- round trips


def test_layout_and_round_trip(tmp_path):
    ds = make_dataset(10)
    target = tmp_path / "ds"
    save_to_disk(ds, target)
    assert sorted(os.listdir(target)) == ["data-00000-of-00001.arrow", "dataset_info.json", "state.json"]
    state = json.loads((target / "state.json").read_text())
    assert list(state) == sorted(state)
    assert state["_data_files"] == [{"filename": "data-00000-of-00001.arrow"}]
    assert state["_fingerprint"] == ds._fingerprint
    assert state["_format_type"] is None and state["_split"] is None
    # the data file is an Arrow stream carrying the features in its schema metadata
    table = pa.ipc.open_stream(pa.memory_map(str(target / "data-00000-of-00001.arrow"))).read_all()
    meta = json.loads(table.schema.metadata[b"huggingface"])
    assert meta["info"]["features"]["label"] == {"names": ["neg", "pos"], "_type": "ClassLabel"}

    loaded = load_from_disk(target)
    assert len(loaded) == 10
    assert loaded.features == ds.features
    assert rows_of(loaded) == rows_of(ds)
    # as the reference, the loaded fingerprint derives (deterministically) from the saved one
    assert loaded._fingerprint == load_from_disk(target)._fingerprint
    assert [os.path.basename(c["filename"]) for c in loaded.cache_files] == ["data-00000-of-00001.arrow"]


def test_format_and_split_are_restored(tmp_path):
    from snuggle.data import Dataset

    ds = Dataset.from_dict({"a": [1, 2, 3], "b": ["x", "y", "z"]}, split="train").with_format("numpy", columns=["a"])
    save_to_disk(ds, tmp_path / "ds")
    loaded = load_from_disk(tmp_path / "ds")
    assert loaded.format["type"] == "numpy" and loaded.format["columns"] == ["a"]
    assert loaded.format["output_all_columns"] is False
    assert str(loaded.split) == "train"
    assert list(loaded[0]) == ["a"]
    assert loaded[0]["a"] == 1


def test_shuffled_dataset_is_saved_flattened(tmp_path):
    ds = make_dataset(50).shuffle(seed=3)
    expected = rows_of(ds)
    save_to_disk(ds, tmp_path / "ds", num_shards=3)
    loaded = load_from_disk(tmp_path / "ds")
    assert loaded._indices is None
    assert rows_of(loaded) == expected


def test_contiguous_selection_and_empty_dataset(tmp_path):
    ds = make_dataset(30).select(range(5, 25))
    save_to_disk(ds, tmp_path / "sel")
    assert rows_of(load_from_disk(tmp_path / "sel")) == rows_of(ds)
    empty = make_dataset(4).select([])
    save_to_disk(empty, tmp_path / "empty")
    loaded = load_from_disk(tmp_path / "empty")
    assert len(loaded) == 0 and loaded.features == empty.features


def test_num_shards_and_max_shard_size(tmp_path):
    ds = make_dataset(100)
    save_to_disk(ds, tmp_path / "three", num_shards=3)
    files = sorted(f for f in os.listdir(tmp_path / "three") if f.endswith(".arrow"))
    assert files == [f"data-0000{i}-of-00003.arrow" for i in range(3)]
    sizes = [pa.ipc.open_stream(pa.memory_map(str(tmp_path / "three" / f))).read_all().num_rows for f in files]
    assert sizes == [34, 33, 33]
    assert rows_of(load_from_disk(tmp_path / "three")) == rows_of(ds)

    nbytes = ds.data.nbytes
    save_to_disk(ds, tmp_path / "small", max_shard_size=nbytes // 4)
    state = json.loads((tmp_path / "small" / "state.json").read_text())
    assert len(state["_data_files"]) == int(nbytes / (nbytes // 4)) + 1
    with pytest.raises(DataError, match="either max_shard_size or num_shards"):
        save_to_disk(ds, tmp_path / "both", max_shard_size="1MB", num_shards=2)


def test_num_proc_writes_same_content(tmp_path):
    ds = make_dataset(40).shuffle(seed=1)
    save_to_disk(ds, tmp_path / "mp", num_proc=2)
    assert len(json.loads((tmp_path / "mp" / "state.json").read_text())["_data_files"]) == 2
    assert rows_of(load_from_disk(tmp_path / "mp")) == rows_of(ds)


def test_keep_in_memory(tmp_path):
    ds = make_dataset(5)
    save_to_disk(ds, tmp_path / "ds")
    loaded = load_from_disk(tmp_path / "ds", keep_in_memory=True)
    assert loaded.cache_files == []
    assert rows_of(loaded) == rows_of(ds)


def test_dataset_dict_round_trip(tmp_path):
    from snuggle.data import DatasetDict

    dd = DatasetDict({"train": make_dataset(8), "test": make_dataset(3)})
    save_to_disk(dd, tmp_path / "dd", num_shards={"train": 2})
    assert json.loads((tmp_path / "dd" / "dataset_dict.json").read_text()) == {"splits": ["train", "test"]}
    assert len(os.listdir(tmp_path / "dd" / "train")) == 4  # 2 shards + 2 json
    loaded = load_from_disk(tmp_path / "dd")
    assert isinstance(loaded, DatasetDict) and list(loaded) == ["train", "test"]
    assert rows_of(loaded["train"]) == rows_of(dd["train"])
    with pytest.raises(DataError, match="one int per split"):
        save_to_disk(dd, tmp_path / "bad", num_shards=2)


def test_methods_delegate_here(tmp_path):
    from snuggle.data import Dataset, DatasetDict

    ds = make_dataset(4)
    ds.save_to_disk(str(tmp_path / "m"))
    assert rows_of(Dataset.load_from_disk(str(tmp_path / "m"))) == rows_of(ds)
    DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "md"))
    assert list(DatasetDict.load_from_disk(str(tmp_path / "md"))) == ["train"]


def test_remote_filesystem_round_trip():
    import fsspec  # installed with the dev extra (the reference needs it); optional for snuggle
    ds = make_dataset(6)
    save_to_disk(ds, "memory://snuggle-test/ds")
    assert fsspec.filesystem("memory").isfile("/snuggle-test/ds/state.json")
    assert rows_of(load_from_disk("memory://snuggle-test/ds")) == rows_of(ds)


# ----------------------------------------------------------------------------- replacement and errors


def test_replaces_existing_dataset_and_leaves_no_temporaries(tmp_path):
    save_to_disk(make_dataset(10), tmp_path / "ds", num_shards=2)
    new = make_dataset(3)
    save_to_disk(new, tmp_path / "ds")
    assert sorted(os.listdir(tmp_path / "ds")) == ["data-00000-of-00001.arrow", "dataset_info.json", "state.json"]
    assert rows_of(load_from_disk(tmp_path / "ds")) == rows_of(new)
    assert os.listdir(tmp_path) == ["ds"]


def test_refuses_to_replace_foreign_folder_or_file(tmp_path):
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not a saved dataset"):
        save_to_disk(make_dataset(2), foreign)
    assert (foreign / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        save_to_disk(make_dataset(2), tmp_path / "file")
    (tmp_path / "empty").mkdir()
    save_to_disk(make_dataset(2), tmp_path / "empty")  # an empty folder is fine
    assert len(load_from_disk(tmp_path / "empty")) == 2


def test_dataset_cannot_overwrite_its_own_files(tmp_path):
    save_to_disk(make_dataset(4), tmp_path / "ds")
    loaded = load_from_disk(tmp_path / "ds")
    with pytest.raises(PermissionError, match="can't overwrite itself"):
        save_to_disk(loaded, tmp_path / "ds")
    assert len(load_from_disk(tmp_path / "ds")) == 4


def test_stale_temporary_of_dead_process_is_removed(tmp_path):
    stale = tmp_path / ".ds.saving-999999999-abcd1234"
    stale.mkdir()
    (stale / "data-00000-of-00001.arrow").write_bytes(b"half")
    save_to_disk(make_dataset(2), tmp_path / "ds")
    assert not stale.exists()


def test_non_json_format_kwargs_fail_before_writing(tmp_path):
    ds = make_dataset(3).with_format("numpy", dtype=object.__new__(object))
    with pytest.raises(DataError, match="not JSON serializable"):
        save_to_disk(ds, tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
    assert os.listdir(tmp_path) == []


def test_load_errors_name_the_problem(tmp_path):
    from snuggle.data import Dataset, DatasetDict

    with pytest.raises(FileNotFoundError, match="not found"):
        load_from_disk(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(FileNotFoundError, match="neither a `Dataset` directory"):
        load_from_disk(tmp_path / "plain")
    save_to_disk(DatasetDict({"train": make_dataset(2)}), tmp_path / "dd")
    with pytest.raises(FileNotFoundError, match="saved DatasetDict"):
        Dataset.load_from_disk(str(tmp_path / "dd"))
    save_to_disk(make_dataset(2), tmp_path / "ds")
    with pytest.raises(FileNotFoundError, match="saved Dataset"):
        DatasetDict.load_from_disk(str(tmp_path / "ds"))
    (tmp_path / "ds" / "state.json").write_text("{not json")
    with pytest.raises(DataError, match=r"state.json: invalid JSON at line 1"):
        load_from_disk(tmp_path / "ds")
