"""load_dataset on local files: cache layout and reuse, features, errors, streaming seam."""

import json
import os

import pytest

from snuggle.data import builders
from snuggle.data.load import load_dataset, load_dataset_builder
from snuggle.errors import DataError


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "my_data"
    root.mkdir()
    (root / "train.csv").write_text("text,label\nhello,pos\nworld,neg\nfoo,pos\n")
    (root / "test.csv").write_text("text,label\nbar,neg\n")
    return root


def test_folder_splits_and_cache_layout(folder, tmp_path):
    cache = tmp_path / "cache"
    dd = load_dataset(str(folder), cache_dir=str(cache))
    assert list(dd) == ["train", "test"]
    assert dd["train"].num_rows == 3 and dd["test"]["text"] == ["bar"]
    path = dd["train"].cache_files[0]["filename"]
    rel = os.path.relpath(path, cache).split(os.sep)
    assert rel[0] == "my_data" and rel[1].startswith("default-") and rel[2] == "0.0.0"
    assert rel[4] == "my_data-train.arrow"
    info = json.loads(open(os.path.join(os.path.dirname(path), "dataset_info.json")).read())
    assert info["splits"]["train"]["num_examples"] == 3
    assert not [p for p in os.listdir(os.path.dirname(os.path.dirname(path))) if "incomplete" in p]


def test_second_call_reuses_cache_without_parsing(folder, tmp_path, monkeypatch):
    first = load_dataset(str(folder), cache_dir=str(tmp_path / "c"), split="train")

    def refuse(*args, **kwargs):
        raise AssertionError("the files were parsed again")

    monkeypatch.setitem(builders._READERS, "csv", refuse)
    again = load_dataset(str(folder), cache_dir=str(tmp_path / "c"), split="train")
    assert again.cache_files == first.cache_files and again.to_list() == first.to_list()
    with pytest.raises(AssertionError, match="parsed again"):
        load_dataset(str(folder), cache_dir=str(tmp_path / "c"), split="train", download_mode="force_redownload")


def test_changed_file_or_options_miss_the_cache(folder, tmp_path):
    a = load_dataset(str(folder), cache_dir=str(tmp_path / "c"), split="train")
    (folder / "train.csv").write_text("text,label\nonly,pos\n")
    b = load_dataset(str(folder), cache_dir=str(tmp_path / "c"), split="train")
    assert b.num_rows == 1 and a.cache_files != b.cache_files
    c = load_dataset(str(folder), cache_dir=str(tmp_path / "c"), split="train", skiprows=[1])
    assert c.num_rows == 0 and c.cache_files != b.cache_files


def test_failed_build_leaves_no_cache(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(DataError) as e:
        load_dataset("csv", data_files=str(bad), cache_dir=str(tmp_path / "c"))
    assert str(bad) in str(e.value) and "line 3" in str(e.value)
    leftovers = [f for _, _, files in os.walk(tmp_path / "c") for f in files]
    assert leftovers == []


def test_malformed_json_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{"a": 2}\n{"a": 3,,}\n')
    with pytest.raises(DataError) as e:
        load_dataset("json", data_files=str(bad), cache_dir=str(tmp_path / "c"))
    assert str(bad) in str(e.value) and "line 3" in str(e.value)


def test_missing_files_name_pattern_and_folder(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("csv", data_files="nothing_here.csv", data_dir=str(tmp_path), cache_dir=str(tmp_path / "c"))
    assert "nothing_here.csv" in str(e.value) and str(tmp_path) in str(e.value)
    with pytest.raises(DataError, match="doesn't contain any data files"):
        load_dataset(str(tmp_path), cache_dir=str(tmp_path / "c"))


def test_unknown_split_lists_available(folder, tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset(str(folder), cache_dir=str(tmp_path / "c"), split="validation[:10%]")
    assert "['train', 'test']" in str(e.value)


def test_hub_seam_and_bad_options(tmp_path, folder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a Hub id goes to snuggle.hub; offline and uncached -> DataError
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(DataError, match="Hub cache"):
        load_dataset("someone/some_dataset")
    with pytest.raises(DataError, match="unknown option"):
        load_dataset(str(folder), cache_dir=str(tmp_path / "c"), not_an_option=1)
    with pytest.raises(DataError, match="data_files"):
        load_dataset("csv")


def test_features_cast_classlabel_from_strings(folder, tmp_path):
    from snuggle.data.features import ClassLabel, Features, Value

    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    ds = load_dataset(str(folder), cache_dir=str(tmp_path / "c"), split="train", features=features)
    assert ds["label"] == [1, 0, 1]
    assert ds.features["label"].names == ["neg", "pos"]


def test_keep_in_memory_and_slices(folder, tmp_path):
    ds = load_dataset(str(folder), cache_dir=str(tmp_path / "c"), split="train[1:]+test", keep_in_memory=True)
    assert ds["text"] == ["world", "foo", "bar"] and ds.cache_files == [] and ds.split == "train[1:]+test"


def test_single_file_path_and_text_options(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text("a\nb\n\nc\n")
    assert load_dataset(str(path), cache_dir=str(tmp_path / "c"), split="train")["text"] == ["a", "b", "", "c"]
    paragraphs = load_dataset("text", data_files=str(path), sample_by="paragraph", cache_dir=str(tmp_path / "c"))
    assert paragraphs["train"]["text"] == ["a\nb", "c\n"]


def test_builder_without_reading(folder, tmp_path):
    builder = load_dataset_builder(str(folder), cache_dir=str(tmp_path / "c"))
    assert builder.builder_name == "csv" and list(builder.data_files) == ["train", "test"]
    assert not os.path.exists(builder.cache_dir)


def test_streaming_reads_lazily(folder, tmp_path):
    stream = load_dataset(str(folder), cache_dir=str(tmp_path / "c"), split="train", streaming=True)
    assert [row["text"] for row in stream] == ["hello", "world", "foo"]
    assert not os.path.exists(tmp_path / "c" / "my_data")
