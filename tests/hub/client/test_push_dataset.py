"""Dataset / DatasetDict push_to_hub against the test Hub, side by side with the reference: the same data
pushed by `datasets` (in a subprocess pointed at our server) gives the same files and README.md, and
`datasets.load_dataset` reads snuggle's repos back equal."""

from __future__ import annotations

import pytest

from snuggle.data import ClassLabel, Dataset, DatasetDict, Features, List, Value
from snuggle.hub.client import HfApi
from snuggle.hub.dataset_push import features_to_yaml_list, updated_dataset_card
from tests.hub.client._push_helpers import hub_env, run_reference, unique  # noqa: F401 (fixture)

ROWS = {"text": ["good film", "bad plot", "great ünïcode", "meh"], "label": [1, 0, 1, 0],
        "tokens": [[1, 2], [3], [], [4, 5, 6]], "meta": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"},
                                                       {"a": 3, "b": None}, {"a": 4, "b": "z"}]}
TEST_ROWS = {k: v[:2] for k, v in ROWS.items()}


def _features(F=None):
    import snuggle.data as F_  # same names in both libraries

    F = F or F_
    return F.Features({"text": F.Value("string"), "label": F.ClassLabel(names=["neg", "pos"]),
                       "tokens": F.List(F.Value("int32")), "meta": {"a": F.Value("int64"), "b": F.Value("string")}})


def test_features_yaml_like_reference():
    import datasets as hd

    ours = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"]), "ids": List(Value("int32")),
                     "nested": {"a": Value("int64"), "b": [Value("string")]}, "ll": List(List(Value("float32")))})
    ref = hd.Features({"text": hd.Value("string"), "label": hd.ClassLabel(names=["neg", "pos"]),
                       "ids": hd.List(hd.Value("int32")), "nested": {"a": hd.Value("int64"), "b": [hd.Value("string")]},
                       "ll": hd.List(hd.List(hd.Value("float32")))})
    assert features_to_yaml_list(ours.to_dict()) == ref._to_yaml_list()
    assert hd.Features._from_yaml_list(features_to_yaml_list(ours.to_dict())) == ref


def test_card_update_keeps_other_metadata_and_merges_configs():
    card = "---\nlicense: mit\nconfigs:\n- config_name: fr\n  data_files: fr/*.csv\n---\n# Reviews\n"
    text = updated_dataset_card(card, config_name="default", splits_info=[{"name": "train", "num_bytes": 10,
                                "num_examples": 2}], features_yaml=[{"name": "x", "dtype": "int64"}], data_dir="data",
                                set_default=None, uploaded_sizes=[100], deleted_sizes=[0], remove_other_splits=False,
                                repo_files=[])
    from snuggle.hub.cards import DatasetCard

    data = DatasetCard(text).data
    assert data.license == "mit" and DatasetCard(text).text == "# Reviews\n"
    assert [c["config_name"] for c in data.configs] == ["default", "fr"]
    assert data.dataset_info == {"features": [{"name": "x", "dtype": "int64"}], "splits": [
        {"name": "train", "num_bytes": 10, "num_examples": 2}], "download_size": 100, "dataset_size": 10}


def test_dataset_push_matches_reference_and_loads_in_datasets(hub_env, tmp_path):
    api = HfApi()
    ours_single, ours_dict = f"alice/{unique('ds-single')}", f"alice/{unique('ds-dict')}"
    ref_single, ref_dict = f"alice/{unique('ref-single')}", f"alice/{unique('ref-dict')}"
    features = _features()
    ds = Dataset.from_dict(ROWS, features=features)
    # one split, then a second split into the same repo, then the first split again (old shards replaced)
    ds.push_to_hub(ours_single)
    Dataset.from_dict(TEST_ROWS, features=features).push_to_hub(ours_single, split="test")
    ds.push_to_hub(ours_single, num_shards=2)
    Dataset.from_dict(TEST_ROWS, features=features).push_to_hub(ours_single, "fr")
    DatasetDict({"train": ds, "test": Dataset.from_dict(TEST_ROWS, features=features)}).push_to_hub(
        ours_dict, private=True, commit_message="dict upload")

    got = run_reference(f"""
        import json, datasets as hd, huggingface_hub
        # datasets deletes each shard's temp file right after preupload, expecting the Hub to have taken it as
        # LFS; our server answers "regular" below its inline limit (spec 8.3), so keep the bytes in memory.
        _preupload = huggingface_hub.HfApi.preupload_lfs_files
        def preupload(self, repo_id, additions, **kwargs):
            additions = list(additions)
            for a in additions:
                if isinstance(a.path_or_fileobj, str):
                    with open(a.path_or_fileobj, "rb") as f:
                        a.path_or_fileobj = f.read()
            return _preupload(self, repo_id, additions, **kwargs)
        huggingface_hub.HfApi.preupload_lfs_files = preupload
        rows, test_rows = {ROWS!r}, {TEST_ROWS!r}
        f = hd.Features({{"text": hd.Value("string"), "label": hd.ClassLabel(names=["neg", "pos"]),
                         "tokens": hd.List(hd.Value("int32")), "meta": {{"a": hd.Value("int64"), "b": hd.Value("string")}}}})
        ds = hd.Dataset.from_dict(rows, features=f)
        ds.push_to_hub({ref_single!r})
        hd.Dataset.from_dict(test_rows, features=f).push_to_hub({ref_single!r}, split="test")
        ds.push_to_hub({ref_single!r}, num_shards=2)
        hd.Dataset.from_dict(test_rows, features=f).push_to_hub({ref_single!r}, "fr")
        hd.DatasetDict({{"train": ds, "test": hd.Dataset.from_dict(test_rows, features=f)}}).push_to_hub(
            {ref_dict!r}, private=True)
        out = {{}}
        for name in ({ours_single!r}, {ours_dict!r}):
            loaded = hd.load_dataset(name, "default")
            out[name] = {{split: {{"rows": d.to_dict(), "features": d.features.to_dict()}} for split, d in loaded.items()}}
        print(json.dumps(out))
    """, hub_env, tmp_path)

    for ours, ref in ((ours_single, ref_single), (ours_dict, ref_dict)):
        files = sorted(api.list_repo_files(ours, repo_type="dataset"))
        assert files == sorted(api.list_repo_files(ref, repo_type="dataset")), ours
        readme = [open(api.hf_hub_download(r, "README.md", repo_type="dataset"), encoding="utf-8").read()
                  for r in (ours, ref)]
        assert readme[0] == readme[1], ours
        loaded = got[ours]
        assert set(loaded) == {"train", "test"}
        assert loaded["train"]["rows"] == Dataset.from_dict(ROWS, features=features).to_dict()
        assert loaded["test"]["rows"] == Dataset.from_dict(TEST_ROWS, features=features).to_dict()
        assert loaded["train"]["features"] == features.to_dict()
    assert "data/train-00000-of-00002.parquet" in api.list_repo_files(ours_single, repo_type="dataset")
    assert "fr/train-00000-of-00001.parquet" in api.list_repo_files(ours_single, repo_type="dataset")

    # snuggle's own loader reads the pushed repos back
    from snuggle.data import load_dataset

    mine = load_dataset(ours_single, "default")
    assert mine["train"].to_dict() == ds.to_dict() and mine["train"].features == features
    assert load_dataset(ours_single, "fr", split="train").to_dict() == Dataset.from_dict(TEST_ROWS,
                                                                                          features=features).to_dict()
    assert load_dataset(ours_dict, split="test").to_dict() == Dataset.from_dict(TEST_ROWS, features=features).to_dict()
    assert api.dataset_info(ours_dict).private is True
    assert api.list_repo_commits(ours_dict, repo_type="dataset")[0].title == "dict upload"


def test_push_argument_errors(hub_env):
    ds = Dataset.from_dict({"x": [1]})
    with pytest.raises(ValueError, match="config_name cannot be 'data'"):
        ds.push_to_hub("alice/never", config_name="data")
    with pytest.raises(ValueError, match="not both"):
        ds.push_to_hub("alice/never", max_shard_size="1MB", num_shards=2)
    with pytest.raises(ValueError, match="split name"):
        ds.push_to_hub("alice/never", split="bad split")
