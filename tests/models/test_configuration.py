"""PretrainedConfig: defaults, aliases, labels, unknown keys, JSON round trip, type errors."""

import json
import subprocess
import sys

import pytest

from snuggle.errors import ModelError
from snuggle.models.configuration import PretrainedConfig


class TinyConfig(PretrainedConfig):
    model_type = "tiny-config-test"
    attribute_map = {"hidden_size": "n_embd"}

    def __init__(self, vocab_size=50, n_embd=16, layer_norm_eps=1e-5, tie_word_embeddings=True,
                 pad_token_id=None, **kwargs):
        self.vocab_size = vocab_size
        self.n_embd = n_embd
        self.layer_norm_eps = layer_norm_eps
        self.tie_word_embeddings = tie_word_embeddings
        self.pad_token_id = pad_token_id
        super().__init__(**kwargs)


def test_defaults_and_labels():
    c = TinyConfig()
    assert c.num_labels == 2 and c.id2label == {0: "LABEL_0", 1: "LABEL_1"}
    assert c.label2id == {"LABEL_0": 0, "LABEL_1": 1}
    assert c.return_dict is True and c.output_hidden_states is False and c.output_attentions is False
    c.num_labels = 4
    assert c.id2label[3] == "LABEL_3" and c.label2id["LABEL_3"] == 3


def test_id2label_keys_become_ints():
    c = TinyConfig(id2label={"0": "neg", "1": "pos", "2": "neutral"})
    assert c.id2label == {0: "neg", 1: "pos", 2: "neutral"}
    assert c.num_labels == 3 and c.label2id is None  # not derived, as in the reference
    c = TinyConfig(id2label={"0": "neg", "1": "pos"}, label2id={"neg": 0, "pos": 1})
    assert c.label2id == {"neg": 0, "pos": 1}


def test_attribute_map_alias_reads_and_writes():
    c = TinyConfig(hidden_size=8)
    assert c.n_embd == 8 and c.hidden_size == 8
    c.hidden_size = 12
    assert c.n_embd == 12
    assert "hidden_size" not in c.to_dict()


def test_unknown_keys_kept_and_round_tripped(tmp_path):
    c = TinyConfig(my_custom_field={"a": [1, 2]}, another=3.5)
    c.save_pretrained(tmp_path)
    loaded = TinyConfig.from_pretrained(tmp_path)
    assert loaded.my_custom_field == {"a": [1, 2]} and loaded.another == 3.5
    assert loaded.to_json_string() == c.to_json_string()
    assert loaded == TinyConfig.from_pretrained(tmp_path)


def test_json_format_is_sorted_diff_with_version():
    text = TinyConfig(n_embd=8).to_json_string()
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data["model_type"] == "tiny-config-test" and "transformers_version" in data
    # base defaults are not written, class fields are
    assert "return_dict" not in data and "id2label" not in data and data["pad_token_id"] is None
    assert text.endswith("}\n")


def test_dtype_and_torch_dtype():
    import torch

    c = TinyConfig(torch_dtype="bfloat16")
    assert c.dtype is torch.bfloat16 and c.torch_dtype is torch.bfloat16
    assert json.loads(c.to_json_string())["dtype"] == "bfloat16"


def test_from_pretrained_overrides_and_unused_kwargs(tmp_path):
    TinyConfig(num_labels=3).save_pretrained(tmp_path)
    c, unused = TinyConfig.from_pretrained(tmp_path, n_embd=4, num_labels=5, not_a_field=1, return_unused_kwargs=True)
    assert c.n_embd == 4 and c.num_labels == 5 and unused == {"not_a_field": 1}


def test_mistyped_field_names_field_and_type(tmp_path):
    with pytest.raises(ModelError, match="'vocab_size' must be int, got str"):
        TinyConfig(vocab_size="abc")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "tiny-config-test", "n_embd": "abc"}))
    with pytest.raises(ModelError, match=r"config.json|n_embd") as info:
        TinyConfig.from_pretrained(tmp_path)
    assert "n_embd" in str(info.value) and "int" in str(info.value)
    with pytest.raises(ModelError, match="layer_norm_eps"):
        TinyConfig(layer_norm_eps="small")
    TinyConfig(layer_norm_eps=1)  # an int is a valid float


def test_bad_json_and_problem_type(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="config.json"):
        TinyConfig.from_pretrained(tmp_path)
    with pytest.raises(ModelError, match="problem_type"):
        TinyConfig(problem_type="ranking")
    with pytest.raises(ModelError, match="num_labels > 1"):
        TinyConfig(problem_type="single_label_classification", num_labels=1)


def test_generation_params_moved_out_of_config():
    c = TinyConfig(max_length=30, num_beams=4)
    assert "max_length" not in json.loads(c.to_json_string())
    assert c._generation_params == {"max_length": 30, "num_beams": 4}


def test_output_attentions_selects_eager():
    c = TinyConfig(output_attentions=True)
    assert c.output_attentions is True
    c2 = TinyConfig()
    c2.output_attentions = True
    assert c2._attn_implementation == "eager"


def test_import_snuggle_models_does_not_import_torch():
    code = (
        "import sys, snuggle, snuggle.models\n"
        "from snuggle.models import PretrainedConfig, AutoConfig\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
