"""from_pretrained("user/repo") through snuggle.hub against the Hub server: config, tokenizer, model and
generation config loaded from the Hub equal the same folder loaded from disk; revision=, subfolder=,
token= (private repo), cache_dir= and local_files_only= / HF_HUB_OFFLINE after a first download."""

from __future__ import annotations

import json
import os
import secrets
import shutil

import pytest

huggingface_hub = pytest.importorskip("huggingface_hub")
import huggingface_hub.constants  # noqa: E402

from tests.conftest import minilm_dir  # noqa: E402

TEXTS = ["Hello world, this is a test.", "Hub downloads should be byte-identical."]


@pytest.fixture(autouse=True)
def _online(monkeypatch, hub_server, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture(scope="module")
def tiny(hub_server, tmp_path_factory):
    """(public repo id, private repo id, local folder v1, local folder main): a tiny random BERT + MiniLM tokenizer."""
    import torch

    from snuggle import BertConfig, BertModel

    torch.manual_seed(0)
    v1 = tmp_path_factory.mktemp("tiny-v1")
    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertModel(config).save_pretrained(v1)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(minilm_dir() / name, v1 / name)
    (v1 / "generation_config.json").write_text(json.dumps({"max_new_tokens": 7, "do_sample": False}))
    main = tmp_path_factory.mktemp("tiny-main")
    shutil.copytree(v1, main, dirs_exist_ok=True)
    torch.manual_seed(1)
    BertModel(config).save_pretrained(main)  # new weights on main; v1 keeps the first ones

    mp = pytest.MonkeyPatch()
    mp.delenv("HF_HUB_OFFLINE", raising=False)
    mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    ref = huggingface_hub.HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    tag = secrets.token_hex(3)
    public, private = f"alice/h5-tiny-{tag}", f"alice/h5-tiny-private-{tag}"
    try:
        ref.create_repo(public)
        ref.upload_folder(repo_id=public, folder_path=str(v1), commit_message="v1")
        ref.upload_folder(repo_id=public, folder_path=str(v1), path_in_repo="sub", commit_message="sub")
        ref.create_tag(public, tag="v1")
        ref.upload_folder(repo_id=public, folder_path=str(main), commit_message="main weights")
        ref.create_repo(private, private=True)
        ref.upload_folder(repo_id=private, folder_path=str(main), commit_message="private")
        yield public, private, v1, main
    finally:
        ref.delete_repo(public, missing_ok=True)
        ref.delete_repo(private, missing_ok=True)
        mp.undo()


def _same_model(a, b) -> None:
    import torch

    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def _config_dict(config) -> dict:
    d = config.to_dict()
    d.pop("_name_or_path", None)
    d.pop("name_or_path", None)
    return d


def test_config_tokenizer_model_equal_local(tiny):
    from snuggle import AutoConfig, AutoModel, AutoTokenizer, GenerationConfig

    public, _, _, main = tiny
    assert _config_dict(AutoConfig.from_pretrained(public)) == _config_dict(AutoConfig.from_pretrained(main))
    hub_tok, local_tok = AutoTokenizer.from_pretrained(public), AutoTokenizer.from_pretrained(main)
    assert hub_tok(TEXTS)["input_ids"] == local_tok(TEXTS)["input_ids"]
    _same_model(AutoModel.from_pretrained(public), AutoModel.from_pretrained(main))
    assert GenerationConfig.from_pretrained(public).max_new_tokens == 7


def test_revision_subfolder_and_offline(tiny, monkeypatch):
    from snuggle import AutoModel, AutoTokenizer

    public, _, v1, main = tiny
    _same_model(AutoModel.from_pretrained(public, revision="v1"), AutoModel.from_pretrained(v1))
    sub = AutoModel.from_pretrained(public, subfolder="sub")
    _same_model(sub, AutoModel.from_pretrained(v1))
    assert AutoTokenizer.from_pretrained(public, subfolder="sub")(TEXTS)["input_ids"] == \
        AutoTokenizer.from_pretrained(v1)(TEXTS)["input_ids"]
    AutoModel.from_pretrained(public)
    AutoTokenizer.from_pretrained(public)
    # everything is cached now: local_files_only and HF_HUB_OFFLINE load it without the server
    _same_model(AutoModel.from_pretrained(public, local_files_only=True), AutoModel.from_pretrained(main))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _same_model(AutoModel.from_pretrained(public, revision="v1"), AutoModel.from_pretrained(v1))
    assert AutoTokenizer.from_pretrained(public)(TEXTS)["input_ids"] == \
        AutoTokenizer.from_pretrained(main)(TEXTS)["input_ids"]


def test_private_repo_needs_token_and_cache_dir(tiny, hub_server, tmp_path):
    from snuggle import AutoConfig, AutoModel
    from snuggle.errors import ModelError

    _, private, _, main = tiny
    with pytest.raises(ModelError, match="Repository Not Found"):
        AutoConfig.from_pretrained(private)
    cache = tmp_path / "own-cache"
    model = AutoModel.from_pretrained(private, token=hub_server.token, cache_dir=str(cache))
    _same_model(model, AutoModel.from_pretrained(main))
    assert (cache / f"models--{private.replace('/', '--')}" / "refs" / "main").is_file()
    assert not os.path.exists(os.environ["HF_HUB_CACHE"] + f"/models--{private.replace('/', '--')}")


def test_reference_transformers_reads_our_cache(tiny):
    """transformers (through huggingface_hub) loads offline from the cache snuggle filled."""
    transformers = pytest.importorskip("transformers")
    from snuggle import AutoConfig

    public, _, _, main = tiny
    AutoConfig.from_pretrained(public)
    cfg = transformers.AutoConfig.from_pretrained(public, local_files_only=True,
                                                  cache_dir=os.environ["HF_HUB_CACHE"])
    assert cfg.hidden_size == 16


def test_sharded_weights_from_the_hub(hub_server, tmp_path):
    """model.safetensors.index.json then each shard, fetched by name from the repo."""
    import torch

    from snuggle import AutoModel, BertConfig, BertModel

    torch.manual_seed(2)
    config = BertConfig(vocab_size=200, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    folder = tmp_path / "sharded"
    BertModel(config).save_pretrained(folder, max_shard_size="20KB")
    assert len(list(folder.glob("model-*.safetensors"))) > 1
    ref = huggingface_hub.HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    repo_id = f"alice/h5-sharded-{secrets.token_hex(3)}"
    ref.create_repo(repo_id)
    try:
        ref.upload_folder(repo_id=repo_id, folder_path=str(folder))
        _same_model(AutoModel.from_pretrained(repo_id), AutoModel.from_pretrained(folder))
    finally:
        ref.delete_repo(repo_id, missing_ok=True)
