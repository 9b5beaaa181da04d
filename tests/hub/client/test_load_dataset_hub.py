"""load_dataset("user/name") against the Hub server: a dataset repo with Parquet shards (split by file name)
and a CSV config declared in README YAML, loaded streaming and non-streaming, equals the same files loaded
from a local folder; a private dataset needs the token."""

from __future__ import annotations

import io
import secrets

import pytest

huggingface_hub = pytest.importorskip("huggingface_hub")
import huggingface_hub.constants  # noqa: E402

README = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
  - split: test
    path: data/test-*
  default: true
- config_name: raw
  data_files:
  - split: train
    path: csv/train.csv
  - split: validation
    path: csv/dev.csv
---
# tiny dataset
"""


def _parquet(rows: dict) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table(rows), buf, row_group_size=50)
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _online(monkeypatch, hub_server, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("SNUGGLE_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture(scope="module")
def dataset_repo(hub_server, tmp_path_factory):
    """(public id, private id, local folder) with data/train-0000{0,1}-of-00002.parquet, data/test-..., csv/."""
    folder = tmp_path_factory.mktemp("ds")
    (folder / "data").mkdir()
    (folder / "csv").mkdir()
    for i in range(2):
        rows = {"idx": list(range(i * 120, (i + 1) * 120)), "text": [f"row {j}" for j in range(120)]}
        (folder / "data" / f"train-0000{i}-of-00002.parquet").write_bytes(_parquet(rows))
    (folder / "data" / "test-00000-of-00001.parquet").write_bytes(_parquet({"idx": [1, 2], "text": ["a", "b"]}))
    (folder / "csv" / "train.csv").write_text("label,sentence\n1,good\n0,bad\n1,fine\n")
    (folder / "csv" / "dev.csv").write_text("label,sentence\n0,meh\n")
    (folder / "README.md").write_text(README)
    mp = pytest.MonkeyPatch()
    mp.delenv("HF_HUB_OFFLINE", raising=False)
    mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    ref = huggingface_hub.HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    tag = secrets.token_hex(3)
    public, private = f"alice/h5-ds-{tag}", f"alice/h5-ds-private-{tag}"
    try:
        ref.create_repo(public, repo_type="dataset")
        ref.upload_folder(repo_id=public, repo_type="dataset", folder_path=str(folder))
        ref.create_repo(private, repo_type="dataset", private=True)
        ref.upload_folder(repo_id=private, repo_type="dataset", folder_path=str(folder / "data"),
                          path_in_repo="data")
        yield public, private, folder
    finally:
        ref.delete_repo(public, repo_type="dataset", missing_ok=True)
        ref.delete_repo(private, repo_type="dataset", missing_ok=True)
        mp.undo()


def test_parquet_splits_streaming_and_not(dataset_repo, tmp_path):
    from snuggle.data import load_dataset

    public, _, folder = dataset_repo
    local = load_dataset("parquet", data_files={"train": str(folder / "data" / "train-*.parquet"),
                                                "test": str(folder / "data" / "test-*.parquet")},
                         cache_dir=str(tmp_path / "local"))
    hub = load_dataset(public, cache_dir=str(tmp_path / "c"))
    assert list(hub) == ["train", "test"]
    for split in ("train", "test"):
        assert hub[split].to_dict() == local[split].to_dict()
    streamed = load_dataset(public, streaming=True)
    assert [dict(r) for r in streamed["train"]] == [dict(r) for r in local["train"]]
    assert [dict(r) for r in streamed["test"].take(1)] == [{"idx": 1, "text": "a"}]


def test_csv_config_from_readme(dataset_repo, tmp_path):
    from snuggle.data import load_dataset

    public, _, folder = dataset_repo
    local = load_dataset("csv", data_files={"train": str(folder / "csv" / "train.csv"),
                                            "validation": str(folder / "csv" / "dev.csv")},
                         cache_dir=str(tmp_path / "local"))
    hub = load_dataset(public, "raw", cache_dir=str(tmp_path / "c"))
    assert {s: hub[s].to_dict() for s in hub} == {s: local[s].to_dict() for s in local}
    streamed = load_dataset(public, "raw", split="validation", streaming=True)
    assert [dict(r) for r in streamed] == [{"label": 0, "sentence": "meh"}]
    one = load_dataset(public, data_files="csv/dev.csv", split="train", cache_dir=str(tmp_path / "c"))
    assert one["sentence"] == ["meh"]


def test_private_dataset_and_offline(dataset_repo, hub_server, tmp_path, monkeypatch):
    from snuggle.data import load_dataset
    from snuggle.errors import DataError

    _, private, folder = dataset_repo
    with pytest.raises(DataError, match="doesn't exist on the Hub"):
        load_dataset(private, cache_dir=str(tmp_path / "c"))
    train = load_dataset(private, split="train", token=hub_server.token, cache_dir=str(tmp_path / "c"))
    assert train.num_rows == 240
    streamed = load_dataset(private, split="test", streaming=True, token=hub_server.token)
    assert [r["idx"] for r in streamed] == [1, 2]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = load_dataset(private, split="train", cache_dir=str(tmp_path / "other-arrow-cache"))
    assert again.to_dict() == train.to_dict()
