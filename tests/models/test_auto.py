"""Auto classes: model_type registry, unknown types, and the custom-model tutorial pattern."""

import json

import pytest
import torch
from torch import nn

from snuggle.errors import ModelError
from snuggle.models.auto import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    supported_model_types,
)
from snuggle.models.configuration import PretrainedConfig
from snuggle.models.modeling import PreTrainedModel
from snuggle.models.outputs import SequenceClassifierOutput


class ResnetLikeConfig(PretrainedConfig):
    model_type = "resnet-like-test"

    def __init__(self, layers=(2, 2), hidden_size=8, num_classes=3, **kwargs):
        self.layers = list(layers)
        self.hidden_size = hidden_size
        self.num_classes = num_classes
        super().__init__(**kwargs)


class ResnetLikeModel(PreTrainedModel):
    config_class = ResnetLikeConfig
    base_model_prefix = "resnet"

    def __init__(self, config):
        super().__init__(config)
        self.body = nn.Sequential(*[nn.Linear(config.hidden_size, config.hidden_size) for _ in config.layers])
        self.post_init()

    def forward(self, x):
        return self.body(x)


class ResnetLikeForClassification(PreTrainedModel):
    config_class = ResnetLikeConfig
    base_model_prefix = "resnet"

    def __init__(self, config):
        super().__init__(config)
        self.resnet = ResnetLikeModel(config)
        self.head = nn.Linear(config.hidden_size, config.num_classes)
        self.post_init()

    def forward(self, x):
        return SequenceClassifierOutput(logits=self.head(self.resnet(x)))


def test_tutorial_pattern_register_save_load(tmp_path):
    AutoConfig.register("resnet-like-test", ResnetLikeConfig, exist_ok=True)
    AutoModel.register(ResnetLikeConfig, ResnetLikeModel, exist_ok=True)
    AutoModelForSequenceClassification.register(ResnetLikeConfig, ResnetLikeForClassification, exist_ok=True)
    config = ResnetLikeConfig(layers=[1, 2, 3])
    model = AutoModelForSequenceClassification.from_config(config).eval()
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "resnet-like-test"
    loaded_config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded_config, ResnetLikeConfig) and loaded_config.layers == [1, 2, 3]
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    x = torch.randn(2, 8)
    assert type(loaded) is ResnetLikeForClassification
    assert torch.equal(loaded(x).logits, model(x).logits)
    base = AutoModel.from_pretrained(tmp_path)  # the head's checkpoint into the base model
    assert torch.equal(base(x), model.resnet(x))


def test_register_checks_consistency():
    class OtherConfig(PretrainedConfig):
        model_type = "other-test"

    with pytest.raises(ModelError, match="must be the same"):
        AutoConfig.register("not-other-test", OtherConfig)
    with pytest.raises(ModelError, match="config_class"):
        AutoModel.register(OtherConfig, ResnetLikeModel)


def test_unknown_model_type_lists_supported(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "fancy-new-arch"}))
    with pytest.raises(ModelError) as err:
        AutoConfig.from_pretrained(tmp_path)
    message = str(err.value)
    assert "fancy-new-arch" in message and "bert" in message and "llama" in message and "config.json" in message
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 3}))
    with pytest.raises(ModelError, match="model_type"):
        AutoConfig.from_pretrained(tmp_path)


def test_builtin_types_listed():
    for model_type in ("bert", "distilbert", "roberta", "gpt2", "llama", "mistral", "qwen2", "qwen3", "t5"):
        assert model_type in supported_model_types()


def test_no_model_for_head_is_clear():
    class HeadlessConfig(PretrainedConfig):
        model_type = "headless-test"

    AutoConfig.register("headless-test", HeadlessConfig, exist_ok=True)
    with pytest.raises(ModelError, match="no model for HeadlessConfig"):
        AutoModelForSequenceClassification.from_config(HeadlessConfig())
