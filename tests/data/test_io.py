"""Dataset.from_csv / from_json / from_parquet / from_text and to_csv / to_json / to_parquet."""

import io
import json
import os

import pyarrow.parquet as pq
import pytest

from snuggle.data.arrow_dataset import Dataset
from snuggle.data.io import dataset_to_csv, dataset_to_json, read_csv
from snuggle.errors import DataError

COLUMNS = {"text": ["a", "b,c", "d"], "label": [1, 0, 1]}


def test_csv_round_trip_defaults(tmp_path):
    ds = Dataset.from_dict(COLUMNS)
    ds.to_csv(str(tmp_path / "a.csv"))
    assert (tmp_path / "a.csv").read_text() == 'text,label\na,1\n"b,c",0\nd,1\n'  # header once, no index
    back = Dataset.from_csv(str(tmp_path / "a.csv"), cache_dir=str(tmp_path / "c"))
    assert back.to_dict() == COLUMNS and back.split == "train"


def test_json_lines_by_default_and_records_array(tmp_path):
    ds = Dataset.from_dict(COLUMNS)
    ds.to_json(str(tmp_path / "a.jsonl"), batch_size=2)
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"text": t, "label": n} for t, n in zip(*COLUMNS.values())]
    ds.to_json(str(tmp_path / "b.json"), lines=False)
    assert json.loads((tmp_path / "b.json").read_text())[1] == {"text": "b,c", "label": 0}
    with pytest.raises(DataError, match="lines=False"):
        ds.to_json(str(tmp_path / "c.json"), lines=False, batch_size=1)
    back = Dataset.from_json(str(tmp_path / "b.json"), cache_dir=str(tmp_path / "c"), split="test")
    assert back.to_dict() == COLUMNS and back.split == "test"


def test_parquet_round_trip(tmp_path):
    ds = Dataset.from_dict(COLUMNS)
    ds.to_parquet(str(tmp_path / "a.parquet"))
    assert pq.read_table(tmp_path / "a.parquet").to_pydict() == COLUMNS
    back = Dataset.from_parquet(str(tmp_path / "a.parquet"), cache_dir=str(tmp_path / "c"), columns=["label"])
    assert back.column_names == ["label"]


def test_text_reader(tmp_path):
    (tmp_path / "t.txt").write_text("one\ntwo\n\nthree")
    ds = Dataset.from_text(str(tmp_path / "t.txt"), cache_dir=str(tmp_path / "c"), keep_linebreaks=True)
    assert ds["text"] == ["one\n", "two\n", "\n", "three"]


def test_dict_of_paths_gives_dataset_dict(tmp_path):
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "b.csv").write_text("x\n2\n")
    dd = read_csv({"train": str(tmp_path / "a.csv"), "test": str(tmp_path / "b.csv")}, cache_dir=str(tmp_path / "c"))
    assert {k: v["x"] for k, v in dd.items()} == {"train": [1], "test": [2]}


def test_writers_to_buffers_and_atomically(tmp_path):
    ds = Dataset.from_dict(COLUMNS)
    buffer = io.BytesIO()
    n = dataset_to_csv(ds, buffer, header=False)
    assert buffer.getvalue() == b'a,1\n"b,c",0\nd,1\n' and n == len(buffer.getvalue())
    target = tmp_path / "keep.jsonl"
    target.write_text("previous\n")
    with pytest.raises(TypeError):
        dataset_to_json(ds, str(target), not_a_pandas_option=1)
    assert target.read_text() == "previous\n"
    assert sorted(os.listdir(tmp_path)) == ["keep.jsonl"]
