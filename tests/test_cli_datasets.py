"""`snuggle datasets info PATH` on saved folders (ours and the reference's), Arrow files and data files."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from snuggle.cli import datasets as datasets_cli
from snuggle.data import ClassLabel, Dataset, DatasetDict, Features, Value
from snuggle.errors import DataError


def run_info(path) -> str:
    parser = argparse.ArgumentParser()
    datasets_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["datasets", "info", str(path)])
    assert args.func(args) == 0
    return "\n".join(datasets_cli.describe(str(path)))


def small_dict() -> DatasetDict:
    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    train = Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 1]}, features=features)
    test = Dataset.from_dict({"text": ["d"], "label": [0]}, features=features)
    return DatasetDict({"train": train, "test": test})


def test_info_on_saved_dataset_dict(tmp_path):
    small_dict().save_to_disk(str(tmp_path / "dd"))
    out = run_info(tmp_path / "dd")
    assert "DatasetDict saved by save_to_disk (2 splits)" in out
    assert "split train: 3 rows, 1 data file" in out and "split test: 1 rows" in out
    assert "label: ClassLabel(names=['neg', 'pos']" in out
    assert "text: Value('string')" in out


def test_info_on_reference_output_and_arrow_file(tmp_path):
    import datasets

    ref = datasets.Dataset.from_dict({"x": [1, 2, 3, 4]}).with_format("numpy")
    ref.save_to_disk(str(tmp_path / "ref"), num_shards=2)
    out = run_info(tmp_path / "ref")
    assert "Dataset saved by save_to_disk" in out
    assert "4 rows, 2 data files" in out and "format: numpy" in out
    arrow = run_info(tmp_path / "ref" / "data-00000-of-00002.arrow")
    assert "Arrow file, 2 rows" in arrow and "x: Value('int64')" in arrow


def test_info_on_loadable_data_file(tmp_path):
    csv = tmp_path / "train.csv"
    csv.write_text("a,b\n1,x\n2,y\n")
    out = run_info(csv)
    assert "split train: 2 rows" in out
    assert "a: Value('int64')" in out and "b: Value(" in out


def test_info_errors(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        datasets_cli.describe(str(tmp_path / "missing"))
    bad = tmp_path / "bad.arrow"
    bad.write_bytes(b"not arrow at all")
    with pytest.raises(DataError, match="not an Arrow IPC stream or file"):
        datasets_cli.describe(str(bad))


def test_human_size():
    assert datasets_cli.human_size(0) == "0 B"
    assert datasets_cli.human_size(2_500) == "2.5 kB"
    assert datasets_cli.human_size(3 * 10**9) == "3.0 GB"


def test_registered_in_main_cli(tmp_path):
    """`snuggle datasets info` through the real command line."""
    small_dict().save_to_disk(str(tmp_path / "dd"))
    done = subprocess.run([sys.executable, "-m", "snuggle.cli.main", "datasets", "info", str(tmp_path / "dd")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "split train: 3 rows" in done.stdout
