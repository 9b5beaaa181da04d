"""PreTrainedModel core on a tiny local architecture: init, tying, load/save, missing/unexpected/mismatched
keys, dtype, resize_token_embeddings, num_parameters, gradient checkpointing."""

import json
import logging

import pytest
import torch
from torch import nn

from snuggle.errors import ModelError
from snuggle.models.configuration import PretrainedConfig
from snuggle.models.modeling import PreTrainedModel
from snuggle.models.outputs import CausalLMOutputWithPast, SequenceClassifierOutput


class TinyConfig(PretrainedConfig):
    model_type = "tiny-modeling-test"

    def __init__(self, vocab_size=20, hidden_size=8, num_hidden_layers=2, initializer_range=0.02,
                 tie_word_embeddings=True, **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.initializer_range = initializer_range
        self.tie_word_embeddings = tie_word_embeddings
        super().__init__(**kwargs)


class TinyPreTrained(PreTrainedModel):
    config_class = TinyConfig
    base_model_prefix = "tiny"
    supports_gradient_checkpointing = True


class TinyLayerNorm(nn.LayerNorm):
    pass


class TinyModel(TinyPreTrained):
    def __init__(self, config):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(nn.Linear(config.hidden_size, config.hidden_size)
                                    for _ in range(config.num_hidden_layers))
        self.norm = TinyLayerNorm(config.hidden_size)
        self.register_buffer("position_ids", torch.arange(5), persistent=False)
        self.gradient_checkpointing = False
        self.post_init()

    def forward(self, input_ids):
        h = self.embed_tokens(input_ids)
        for layer in self.layers:
            if self.gradient_checkpointing and self.training:
                h = self._gradient_checkpointing_func(layer.__call__, h)
            else:
                h = torch.tanh(layer(h))
        return self.norm(h)


class TinyForCausalLM(TinyPreTrained):
    _tied_weights_keys = {"lm_head.weight": "tiny.embed_tokens.weight"}

    def __init__(self, config):
        super().__init__(config)
        self.tiny = TinyModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def forward(self, input_ids):
        return CausalLMOutputWithPast(logits=self.lm_head(self.tiny(input_ids)))


class TinyForSequenceClassification(TinyPreTrained):
    def __init__(self, config):
        super().__init__(config)
        self.tiny = TinyModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids):
        return SequenceClassifierOutput(logits=self.classifier(self.tiny(input_ids)[:, 0]))


IDS = torch.tensor([[1, 2, 3, 4]])


def test_init_weights_and_tying():
    torch.manual_seed(0)
    model = TinyForCausalLM(TinyConfig())
    assert model.lm_head.weight is model.tiny.embed_tokens.weight
    assert torch.equal(model.tiny.norm.weight, torch.ones(8))
    assert abs(model.tiny.layers[0].weight.std().item() - 0.02) < 0.01
    assert torch.all(model.tiny.layers[0].bias == 0)
    untied = TinyForCausalLM(TinyConfig(tie_word_embeddings=False))
    assert untied.lm_head.weight is not untied.tiny.embed_tokens.weight


def test_num_parameters_counts_tied_once():
    model = TinyForCausalLM(TinyConfig())
    embed = 20 * 8
    layers = 2 * (8 * 8 + 8)
    norm = 16
    assert model.num_parameters() == embed + layers + norm
    assert model.num_parameters(exclude_embeddings=True) == layers + norm
    model.tiny.layers.requires_grad_(False)
    assert model.num_parameters(only_trainable=True) == embed + norm


def test_save_load_round_trip_tied_stored_once(tmp_path):
    model = TinyForCausalLM(TinyConfig()).eval()
    model.save_pretrained(tmp_path)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        assert f.metadata() == {"format": "pt"}
    assert "lm_head.weight" not in keys and "tiny.embed_tokens.weight" in keys
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == ["TinyForCausalLM"] and config["dtype"] == "float32"
    loaded = TinyForCausalLM.from_pretrained(tmp_path)
    assert loaded.lm_head.weight is loaded.tiny.embed_tokens.weight
    assert not loaded.training
    assert torch.equal(loaded(IDS).logits, model(IDS).logits)
    assert torch.equal(loaded.tiny.position_ids, torch.arange(5))  # non-persistent buffer rebuilt


def test_sharded_save_and_load(tmp_path):
    model = TinyForCausalLM(TinyConfig(hidden_size=16)).eval()
    model.save_pretrained(tmp_path, max_shard_size="1KB")
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    shards = sorted(p.name for p in tmp_path.glob("model-*.safetensors"))
    assert len(shards) > 2 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    assert set(index["weight_map"].values()) == set(shards)
    assert index["metadata"]["total_size"] == sum(t.numel() * 4 for k, t in model.state_dict().items()
                                                   if k != "lm_head.weight")
    loaded = TinyForCausalLM.from_pretrained(tmp_path)
    assert torch.equal(loaded(IDS).logits, model(IDS).logits)
    # a smaller re-save removes the old shards
    model.save_pretrained(tmp_path)
    assert not list(tmp_path.glob("model-*.safetensors")) and not (tmp_path / "model.safetensors.index.json").exists()


def test_base_checkpoint_into_head_and_back(tmp_path, caplog):
    torch.manual_seed(0)
    base = TinyModel(TinyConfig()).eval()
    base.save_pretrained(tmp_path / "base")
    with caplog.at_level(logging.WARNING, logger="snuggle"):
        clf, info = TinyForSequenceClassification.from_pretrained(tmp_path / "base", num_labels=3,
                                                                   output_loading_info=True)
    assert info["missing_keys"] == ["classifier.bias", "classifier.weight"] and info["unexpected_keys"] == []
    assert torch.equal(clf.tiny.embed_tokens.weight, base.embed_tokens.weight)
    assert clf.config.num_labels == 3 and clf.classifier.weight.shape == (3, 8)
    assert torch.all(clf.classifier.bias == 0) and clf.classifier.weight.std() > 0  # initialised, not empty
    clf.save_pretrained(tmp_path / "clf")
    back, info = TinyModel.from_pretrained(tmp_path / "clf", output_loading_info=True)
    assert info["unexpected_keys"] == ["classifier.bias", "classifier.weight"] and info["missing_keys"] == []
    assert torch.equal(back.embed_tokens.weight, base.embed_tokens.weight)


def test_mismatched_sizes_error_and_ignore(tmp_path):
    TinyForSequenceClassification(TinyConfig(num_labels=2)).save_pretrained(tmp_path)
    with pytest.raises(ModelError) as err:
        TinyForSequenceClassification.from_pretrained(tmp_path, num_labels=5)
    message = str(err.value)
    assert "classifier.weight" in message and "[2, 8]" in message and "[5, 8]" in message
    assert "ignore_mismatched_sizes" in message
    model, info = TinyForSequenceClassification.from_pretrained(
        tmp_path, num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
    assert model.classifier.weight.shape == (5, 8)
    assert {k for k, _, _ in info["mismatched_keys"]} == {"classifier.weight", "classifier.bias"}


@pytest.mark.parametrize("dtype", [torch.bfloat16, "float16", "auto"])
def test_dtype_argument(tmp_path, dtype):
    TinyForCausalLM(TinyConfig()).to(torch.bfloat16).save_pretrained(tmp_path)
    model = TinyForCausalLM.from_pretrained(tmp_path, dtype=dtype)
    expected = torch.float16 if dtype == "float16" else torch.bfloat16
    assert model.dtype == expected and model.tiny.norm.weight.dtype == expected
    assert model.config.dtype == expected
    assert TinyForCausalLM.from_pretrained(tmp_path, torch_dtype=torch.float32).dtype == torch.float32


def test_device_map(tmp_path):
    TinyForCausalLM(TinyConfig()).save_pretrained(tmp_path)
    for device_map in ("cpu", "auto", {"": "cpu"}):
        model = TinyForCausalLM.from_pretrained(tmp_path, device_map=device_map)
        assert model.device.type in ("cpu", "cuda")
    with pytest.raises(ModelError, match="different devices"):
        TinyForCausalLM.from_pretrained(tmp_path, device_map={"tiny": "cpu", "lm_head": "cuda:0"})


def test_generation_config_passthrough(tmp_path):
    model = TinyForCausalLM(TinyConfig())
    model.generation_config = {"bos_token_id": 1, "max_new_tokens": 7}
    model.save_pretrained(tmp_path)
    loaded = TinyForCausalLM.from_pretrained(tmp_path)
    assert loaded.generation_config == {"bos_token_id": 1, "max_new_tokens": 7}


def test_resize_token_embeddings_mean_and_tied():
    torch.manual_seed(0)
    model = TinyForCausalLM(TinyConfig())
    old = model.get_input_embeddings().weight.detach().clone()
    emb = model.resize_token_embeddings(23, pad_to_multiple_of=8)
    assert emb.weight.shape == (24, 8) and model.config.vocab_size == 24
    assert torch.equal(emb.weight[:20], old)
    assert torch.allclose(emb.weight[20:], old.mean(0).expand(4, 8), atol=1e-3)
    assert model.lm_head.weight is emb.weight and model(IDS).logits.shape[-1] == 24
    model.resize_token_embeddings(10)
    assert model.get_input_embeddings().weight.shape == (10, 8)


def test_resize_untied_lm_head():
    model = TinyForCausalLM(TinyConfig(tie_word_embeddings=False))
    old_head = model.lm_head.weight.detach().clone()
    model.resize_token_embeddings(25)
    assert model.lm_head.weight.shape == (25, 8) and torch.equal(model.lm_head.weight[:20], old_head)
    assert model.lm_head.weight is not model.get_input_embeddings().weight


def test_gradient_checkpointing_same_grads():
    torch.manual_seed(0)
    model = TinyForCausalLM(TinyConfig())
    model.train()
    model(IDS).logits.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.gradient_checkpointing_enable()
    assert model.is_gradient_checkpointing and model.tiny.gradient_checkpointing
    model(IDS).logits.sum().backward()
    for before, p in zip(grads, model.parameters()):
        assert torch.allclose(before, p.grad, atol=1e-6)
    model.gradient_checkpointing_disable()
    assert not model.is_gradient_checkpointing


def test_constructor_rejects_non_config():
    with pytest.raises(ModelError, match="PretrainedConfig"):
        TinyModel({"vocab_size": 3})


def test_attn_implementation_checked(tmp_path):
    TinyModel(TinyConfig()).save_pretrained(tmp_path)
    assert TinyModel.from_pretrained(tmp_path, attn_implementation="eager").config._attn_implementation == "eager"
    with pytest.raises(ModelError, match="flash"):
        TinyModel.from_pretrained(tmp_path, attn_implementation="flash_attention_9")


def test_outputs_index_like_tuple_and_dict():
    out = CausalLMOutputWithPast(loss=torch.tensor(1.0), logits=torch.zeros(1, 2), past_key_values=("kv",))
    loss, logits = out[:2]
    assert loss is out.loss and logits is out["logits"] and out[2] == ("kv",)
    assert out.cache == ("kv",) and out["cache"] == ("kv",) and "past_key_values" in out
    assert list(out.keys()) == ["loss", "logits", "past_key_values"]
    short = SequenceClassifierOutput(logits=torch.ones(1))
    assert short.to_tuple() == (short.logits,) and short[0] is short.logits
