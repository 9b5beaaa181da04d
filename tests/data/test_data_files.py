"""data_files patterns, globs and split inference from file and folder names."""

import os

import pytest

from snuggle.data.data_files import (
    get_data_patterns,
    glob_to_regex,
    infer_builder,
    resolve_data_files,
    resolve_pattern,
    sanitize_patterns,
)
from snuggle.errors import DataError


def make(root, *names):
    for name in names:
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("a\n1\n")


def splits_of(root):
    patterns = get_data_patterns(str(root))
    files = resolve_data_files(patterns, str(root))
    return {split: sorted(os.path.relpath(f, root) for f in fs) for split, fs in files.items()}


def test_sanitize_patterns_forms():
    assert sanitize_patterns(["a.csv", "b.csv"]) == {"train": ["a.csv", "b.csv"]}
    assert sanitize_patterns([{"split": "test", "path": "t.csv"}]) == {"test": ["t.csv"]}
    with pytest.raises(DataError):
        sanitize_patterns([{"split": "a", "path": "x"}, {"split": "a", "path": "y"}])
    with pytest.raises(DataError):
        sanitize_patterns(3)


def test_glob_semantics():
    assert glob_to_regex("*.csv").match("a.csv")
    assert not glob_to_regex("*.csv").match("d/a.csv")
    assert glob_to_regex("**/*.csv").match("a.csv")
    assert glob_to_regex("**/*.csv").match("d/e/a.csv")
    assert glob_to_regex("data/**").match("data/x/y.txt")
    assert glob_to_regex("**/*[-._ 0-9]test[-._ 0-9]*").match("imdb_test.csv")
    assert not glob_to_regex("**/test[-._ 0-9]*").match("testing.csv")
    assert glob_to_regex("f?le[!x].txt").match("file1.txt")


def test_train_test_files(tmp_path):
    make(tmp_path, "train.csv", "test.csv", "README.md")
    assert splits_of(tmp_path) == {"train": ["train.csv"], "test": ["test.csv"]}


def test_keywords_and_separators(tmp_path):
    make(tmp_path, "my_train_0.jsonl", "my_train_1.jsonl", "dev.jsonl", "eval-set.jsonl", "training_notes.jsonl")
    # "training" is a train keyword; "dev" -> validation; "eval" -> test; order train, validation, test
    assert splits_of(tmp_path) == {
        "train": ["my_train_0.jsonl", "my_train_1.jsonl", "training_notes.jsonl"],
        "validation": ["dev.jsonl"],
        "test": ["eval-set.jsonl"],
    }


def test_split_folders_win_over_file_names(tmp_path):
    make(tmp_path, "data/train/a.csv", "data/train/b.csv", "data/test/c.csv", "test.csv")
    assert splits_of(tmp_path) == {"train": ["data/train/a.csv", "data/train/b.csv"], "test": ["data/test/c.csv"]}


def test_sharded_pattern(tmp_path):
    make(tmp_path, "data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet",
         "data/test-00000-of-00001.parquet", "data/random-00000-of-00001.parquet")
    assert list(get_data_patterns(str(tmp_path))) == ["train", "test", "random"]
    assert splits_of(tmp_path)["train"] == ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"]


def test_no_keyword_means_train(tmp_path):
    make(tmp_path, "a.txt", "sub/b.txt", ".hidden.txt", "__pycache__/c.txt")
    assert splits_of(tmp_path) == {"train": ["a.txt", "sub/b.txt"]}


def test_hidden_files_when_named(tmp_path):
    make(tmp_path, ".hidden.txt")
    assert [os.path.basename(p) for p in resolve_pattern(".*", str(tmp_path))] == [".hidden.txt"]


def test_empty_folder_and_missing_pattern(tmp_path):
    with pytest.raises(DataError, match="doesn't contain any data files"):
        get_data_patterns(str(tmp_path))
    with pytest.raises(DataError) as e:
        resolve_data_files({"train": ["nope*.csv"]}, str(tmp_path))
    assert "nope*.csv" in str(e.value) and str(tmp_path) in str(e.value)


def test_infer_builder():
    assert infer_builder({"train": ["a.tsv"], "test": ["b.tsv"]}) == ("csv", {"sep": "\t"})
    assert infer_builder({"train": ["a.parquet", "b.json"]}) == ("parquet", {})
    with pytest.raises(DataError, match="same data file format"):
        infer_builder({"train": ["a.csv"], "test": ["b.json"]})
    with pytest.raises(DataError, match="No supported data files"):
        infer_builder({"train": ["a.xyz"]})
