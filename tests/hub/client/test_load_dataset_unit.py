"""load_dataset("user/name") over an in-memory Hub: split inference from file names, README `configs:`,
streaming (Range reads, nothing downloaded) and non-streaming (files in the Hub cache) give the same rows
as loading the same files from a local folder; offline loads come from the cache."""

from __future__ import annotations

import io

import pytest

from tests.hub.client._fake_hub import FakeHub, install


def _parquet_bytes(rows: dict) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table(rows), buf, row_group_size=2)
    return buf.getvalue()


@pytest.fixture
def hub(monkeypatch, tmp_path):
    fake = FakeHub(lfs_threshold=400)
    install(monkeypatch, fake)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("SNUGGLE_DISABLE_PROGRESS_BARS", "1")
    return fake


def _rows(ds):
    return [dict(r) for r in ds]


def test_split_inference_streaming_and_cached(hub, tmp_path):
    from snuggle.data import load_dataset

    files = {
        "README.md": b"# data\n",
        "data/train-00000-of-00001.parquet": _parquet_bytes({"x": list(range(7)), "t": list("abcdefg")}),
        "data/test-00000-of-00001.parquet": _parquet_bytes({"x": [10, 11], "t": ["y", "z"]}),
    }
    hub.add_repo("alice/pq", files, repo_type="dataset")
    local = tmp_path / "local"
    for name, data in files.items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
    expected = load_dataset(str(local), cache_dir=str(tmp_path / "c1"))
    got = load_dataset("alice/pq", cache_dir=str(tmp_path / "c2"))
    assert list(got) == ["train", "test"]
    assert got["train"].to_dict() == expected["train"].to_dict()
    before = len(hub.requests)
    streamed = load_dataset("alice/pq", split="train", streaming=True)
    assert _rows(streamed) == _rows(expected["train"])
    ranges = [h.get("range") for m, u, h in hub.requests[before:] if m == "GET" and "/resolve/" in u]
    assert ranges and all(r and r.startswith("bytes=") for r in ranges)


def test_readme_configs_and_csv(hub, tmp_path, monkeypatch):
    from snuggle.data import load_dataset
    from snuggle.errors import DataError

    readme = b"""---
configs:
- config_name: default
  data_files:
  - split: train
    path: "raw/tr*.csv"
  - split: validation
    path: raw/dev.csv
  default: true
- config_name: tabbed
  data_files: other/*.tsv
---
# x
"""
    files = {"README.md": readme, "raw/tr1.csv": b"a,b\n1,x\n2,y\n", "raw/tr2.csv": b"a,b\n3,z\n",
             "raw/dev.csv": b"a,b\n9,q\n", "other/one.tsv": b"a\tb\n5\tw\n"}
    hub.add_repo("alice/csv", files, repo_type="dataset")
    dd = load_dataset("alice/csv", cache_dir=str(tmp_path / "c"))
    assert list(dd) == ["train", "validation"]
    assert dd["train"]["a"] == [1, 2, 3] and dd["validation"]["b"] == ["q"]
    tabbed = load_dataset("alice/csv", "tabbed", split="train", cache_dir=str(tmp_path / "c"))
    assert tabbed.to_dict() == {"a": [5], "b": ["w"]}
    with pytest.raises(DataError, match="not found"):
        load_dataset("alice/csv", "nope", cache_dir=str(tmp_path / "c"))
    streamed = load_dataset("alice/csv", split="validation", streaming=True)
    assert _rows(streamed) == [{"a": 9, "b": "q"}]
    # offline: the prepared Arrow cache and the Hub cache answer, no request is made
    n = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = load_dataset("alice/csv", split="train", cache_dir=str(tmp_path / "c"))
    assert again["a"] == [1, 2, 3]
    assert len(hub.requests) == n


def test_missing_dataset_is_a_data_error(hub, tmp_path):
    from snuggle.data import load_dataset
    from snuggle.errors import DataError

    with pytest.raises(DataError, match="doesn't exist on the Hub"):
        load_dataset("alice/none", cache_dir=str(tmp_path / "c"))


@pytest.mark.parametrize("files,builder", [
    ({"train.jsonl": b'{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n', "test.jsonl": b'{"a": 3, "b": "z"}\n'}, "json"),
    ({"data/train.json": b'[{"a": 1}, {"a": 2}]', "data/validation.json": b'[{"a": 5}]'}, "json"),
    ({"train/part1.txt": b"line one\nline two\n", "test/part1.txt": b"only line\n"}, "text"),
])
def test_json_jsonl_text_repos(hub, tmp_path, files, builder):
    from snuggle.data import load_dataset

    repo = f"alice/{builder}-{len(hub.repos)}"
    hub.add_repo(repo, files, repo_type="dataset")
    local = tmp_path / "local"
    for name, data in files.items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
    expected = load_dataset(str(local), cache_dir=str(tmp_path / "c1"))
    got = load_dataset(repo, cache_dir=str(tmp_path / "c2"))
    assert list(got) == list(expected)
    streamed = load_dataset(repo, streaming=True)
    for split in expected:
        assert got[split].to_dict() == expected[split].to_dict()
        assert _rows(streamed[split]) == _rows(expected[split])
