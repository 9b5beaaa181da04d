"""Weights io: sizes, single/sharded safetensors, .bin weights_only, truncated and missing files."""

import json
import os

import pytest
import torch

from snuggle.errors import ModelError
from snuggle.models.weights import (
    CheckpointFiles,
    load_bin,
    parse_size,
    save_state_dict,
    shard_state_dict,
)


def _state(n=4):
    return {f"layer.{i}.weight": torch.full((16, 16), float(i)) for i in range(n)}


def test_parse_size_units():
    assert parse_size("5GB") == 5 * 10**9 and parse_size("200MB") == 200 * 10**6
    assert parse_size("1GiB") == 2**30 and parse_size("8Gb") == 10**9 and parse_size(123) == 123
    with pytest.raises(ModelError, match="max_shard_size"):
        parse_size("lots")


def test_shard_state_dict_keeps_order_and_limit():
    shards = shard_state_dict(_state(), 2048)  # each tensor is 1024 bytes
    assert [list(s) for s in shards] == [["layer.0.weight", "layer.1.weight"], ["layer.2.weight", "layer.3.weight"]]
    big = shard_state_dict(_state(2), 10)  # bigger than the limit: one tensor per shard
    assert len(big) == 2


def test_sharded_round_trip(tmp_path):
    names = save_state_dict(_state(), tmp_path, max_shard_size=2048)
    assert names == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                     "model.safetensors.index.json"]
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert index["metadata"] == {"total_parameters": 4 * 256, "total_size": 4 * 1024}
    checkpoint = CheckpointFiles.find(tmp_path)
    tensors = dict(checkpoint.iter_tensors())
    assert all(torch.equal(tensors[k], v) for k, v in _state().items())
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_shared_tensors_stored_once(tmp_path):
    w = torch.ones(3, 3)
    save_state_dict({"a": w, "b": w}, tmp_path)
    assert CheckpointFiles.find(tmp_path).keys() == ["a"]


def test_truncated_safetensors_names_file(tmp_path):
    save_state_dict(_state(), tmp_path)
    path = tmp_path / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ModelError, match="model.safetensors.*truncated"):
        CheckpointFiles.find(tmp_path)


def test_missing_shard_named(tmp_path):
    save_state_dict(_state(), tmp_path, max_shard_size=2048)
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ModelError, match="model-00002-of-00002.safetensors"):
        CheckpointFiles.find(tmp_path)


def test_no_weights_lists_expected_names(tmp_path):
    with pytest.raises(ModelError, match="model.safetensors"):
        CheckpointFiles.find(tmp_path)


def test_bin_weights_only(tmp_path):
    save_state_dict(_state(2), tmp_path, safe_serialization=False)
    assert (tmp_path / "pytorch_model.bin").exists()
    tensors = dict(CheckpointFiles.find(tmp_path).iter_tensors())
    assert torch.equal(tensors["layer.1.weight"], torch.ones(16, 16))


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_bin_with_pickled_code_is_refused(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    torch.save({"w": torch.ones(1), "x": _Evil()}, path)
    with pytest.raises(ModelError, match="weights_only"):
        load_bin(str(path))
