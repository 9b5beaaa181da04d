"""DatasetInfo / SplitDict: dataset_info.json round trips, layout parity with datasets, errors."""

from __future__ import annotations

import json

import datasets
import pytest
from datasets.utils.py_utils import asdict as ref_asdict

from snuggle.data.features import ClassLabel, Features, Value
from snuggle.data.info import DatasetInfo, SplitDict, SplitInfo, Version
from snuggle.errors import DataError


def _reference_info():
    splits = datasets.SplitDict(dataset_name="toy")
    splits.add(datasets.SplitInfo(name="train", num_bytes=10, num_examples=2))
    splits.add(datasets.SplitInfo(name="test", num_bytes=3, num_examples=1, shard_lengths=[1]))
    return datasets.DatasetInfo(
        description="d", citation="c", license="MIT", version="1.2.3", splits=splits, builder_name="csv",
        dataset_name="toy", config_name="default", download_size=5, dataset_size=13, size_in_bytes=18,
        features=datasets.Features({"x": datasets.Value("int32"), "y": datasets.ClassLabel(names=["a", "b"])}),
        supervised_keys=("x", "y"), download_checksums={"u": {"num_bytes": 1, "checksum": None}},
    )


@pytest.mark.parametrize("make", [datasets.DatasetInfo, _reference_info])
def test_json_layout_equals_reference(make):
    ref = make()
    ours = DatasetInfo.from_dict(json.loads(json.dumps(ref_asdict(ref))))
    assert json.dumps(ours.to_dict()) == json.dumps(ref_asdict(ref))
    assert repr(ours) == repr(ref)


def test_directory_round_trip_both_ways(tmp_path):
    ours = DatasetInfo(description="toy", license="CC0", features=Features({"x": Value("int8"), "l": ClassLabel(names=["n", "p"])}),
                       splits={"train": SplitInfo(name="train", num_bytes=1, num_examples=1)}, version="0.1.0")
    ours.write_to_directory(tmp_path / "ours")
    assert (tmp_path / "ours" / "LICENSE").read_text() == "CC0"
    assert DatasetInfo.from_directory(tmp_path / "ours") == ours
    ref = datasets.DatasetInfo.from_directory(str(tmp_path / "ours"))
    assert json.dumps(ref_asdict(ref)) == json.dumps(ours.to_dict())
    (tmp_path / "ref").mkdir()
    _reference_info().write_to_directory(str(tmp_path / "ref"))
    back = DatasetInfo.from_directory(tmp_path / "ref")
    assert back.splits["test"].shard_lengths == [1] and back.version == "1.2.3"
    assert back.features == Features({"x": Value("int32"), "y": ClassLabel(names=["a", "b"])})


def test_split_dict():
    s = SplitDict(dataset_name="toy")
    s.add(SplitInfo(name="train", num_examples=3))
    assert s["train"].dataset_name == "toy" and s.total_num_examples == 3
    with pytest.raises(DataError, match="already present"):
        s.add(SplitInfo(name="train"))
    with pytest.raises(KeyError, match="available splits: \\['train'\\]"):
        s["validation"]
    assert SplitDict.from_split_dict(s.to_split_dict()) == s
    assert repr(SplitInfo(name="x", num_examples=2)) == "SplitInfo(name='x', num_examples=2)"


def test_version_and_errors(tmp_path):
    assert Version("1.10.0") > "1.9.9" and str(Version("2.0.0")) == "2.0.0"
    with pytest.raises(DataError, match="MAJOR.MINOR.PATCH"):
        Version("1.0")
    with pytest.raises(DataError, match="no dataset_info.json"):
        DatasetInfo.from_directory(tmp_path)
    (tmp_path / "dataset_info.json").write_text("{bad")
    with pytest.raises(DataError, match="invalid JSON at line 1"):
        DatasetInfo.from_directory(tmp_path)


def test_merge_and_copy():
    a, b = DatasetInfo(description="a"), DatasetInfo(description="b", features=Features({"x": Value("int8")}))
    merged = DatasetInfo.from_merge([a, b])
    assert merged.description == "a\n\nb" and merged.features is None
    assert DatasetInfo.from_merge([b, b.copy()]) == b
