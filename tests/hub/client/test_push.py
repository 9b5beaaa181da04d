"""push_to_hub for models and tokenizers against the test Hub: what lands in the repo, and that both
snuggle and transformers load it back (transformers in a subprocess pointed at our server)."""

from __future__ import annotations

import json

import pytest
import torch

from snuggle.hub.client import HfApi
from snuggle.models.bert import BertConfig, BertForSequenceClassification
from snuggle.tokenizers.pretrained import AutoTokenizer
from tests.hub.client._push_helpers import hub_env, run_reference, unique  # noqa: F401 (fixture)
from tests.tokenizers.test_pretrained import tiny_tokenizer_json

torch.set_num_threads(1)

SENTENCE = "hello world the cat sat"


def tiny_bert(seed: int = 0) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=13, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=24, max_position_embeddings=32, num_labels=2)
    return BertForSequenceClassification(config).eval()


def tiny_tokenizer(tmp_path):
    folder = tmp_path / "tok-src"
    folder.mkdir()
    (folder / "tokenizer.json").write_text(json.dumps(tiny_tokenizer_json()))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertTokenizer", "model_max_length": 32, "pad_token": "[PAD]", "unk_token": "[UNK]",
        "cls_token": "[CLS]", "sep_token": "[SEP]"}))
    return AutoTokenizer.from_pretrained(folder)


def _logits(model, tok) -> list:
    enc = tok(SENTENCE, return_tensors="pt")
    with torch.no_grad():
        return model(**enc).logits[0].tolist()


def test_model_and_tokenizer_push_load_in_snuggle_and_transformers(hub_env, tmp_path):
    repo_id = f"alice/{unique('tiny-bert')}"
    model, tok = tiny_bert(), tiny_tokenizer(tmp_path)
    info = model.push_to_hub(repo_id, private=True, tags=["snuggle-test"])
    tok.push_to_hub(repo_id)
    api = HfApi()
    commits = api.list_repo_commits(repo_id)
    assert [c.title for c in commits[:2]] == ["Upload tokenizer", "Upload model"]
    assert info.oid == commits[1].commit_id
    files = set(api.list_repo_files(repo_id))
    assert {"config.json", "model.safetensors", "README.md", "tokenizer.json", "tokenizer_config.json"} <= files
    assert api.model_info(repo_id).private is True
    card = api.model_info(repo_id).card_data
    assert card["library_name"] == "transformers" and "snuggle-test" in card["tags"]

    # snuggle reads it back from the Hub (through its cache)
    again = BertForSequenceClassification.from_pretrained(repo_id).eval()
    tok_again = AutoTokenizer.from_pretrained(repo_id)
    expected = _logits(model, tok)
    assert _logits(again, tok_again) == pytest.approx(expected, abs=1e-6)

    # transformers reads it from our server in its own process
    got = run_reference(f"""
        import json, torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        torch.set_num_threads(1)
        model = AutoModelForSequenceClassification.from_pretrained({repo_id!r}).eval()
        tok = AutoTokenizer.from_pretrained({repo_id!r})
        enc = tok({SENTENCE!r}, return_tensors="pt")
        with torch.no_grad():
            logits = model(**enc).logits[0].tolist()
        print(json.dumps({{"logits": logits, "ids": enc["input_ids"][0].tolist()}}))
    """, hub_env, tmp_path)
    assert got["ids"] == tok(SENTENCE)["input_ids"]
    assert got["logits"] == pytest.approx(expected, abs=1e-5)


def test_save_pretrained_push_to_hub_and_branches(hub_env, tmp_path):
    repo_name = unique("saved-bert")
    model = tiny_bert(seed=1)
    out = tmp_path / repo_name
    model.save_pretrained(out, push_to_hub=True, commit_message="first upload")
    api = HfApi()
    repo_id = f"alice/{repo_name}"  # default repo: the folder's name in the caller's namespace
    assert api.list_repo_commits(repo_id)[0].title == "first upload"
    assert set(api.list_repo_files(repo_id)) >= {"config.json", "model.safetensors"}

    # sharded push to a new branch, then a pull request
    model.push_to_hub(repo_id, revision="dev", max_shard_size="2KB")
    dev_files = api.list_repo_files(repo_id, revision="dev")
    assert "model.safetensors.index.json" in dev_files
    assert any(f.startswith("model-00001-of-") for f in dev_files)
    assert "model.safetensors.index.json" not in api.list_repo_files(repo_id)
    pr = model.push_to_hub(repo_id, create_pr=True, commit_message="proposal")
    assert pr.pr_num is not None
    assert api.list_repo_commits(repo_id)[0].title == "first upload"  # main untouched by the PR
    loaded = BertForSequenceClassification.from_pretrained(repo_id, revision="dev")
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
