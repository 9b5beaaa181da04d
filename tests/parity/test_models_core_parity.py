"""Core model files vs transformers: config.json round trips, checkpoints loading in both directions
(single and sharded safetensors), tied weights stored once, weight files readable by the reference."""

import json

import pytest
import torch
import transformers
from safetensors.torch import load_file

from snuggle.models.auto import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
)
from snuggle.models.weights import save_state_dict

TINY = {
    "bert": dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37),
    "distilbert": dict(vocab_size=99, dim=32, n_layers=2, n_heads=2, hidden_dim=37),
    "roberta": dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37),
    "gpt2": dict(vocab_size=99, n_embd=32, n_layer=2, n_head=2),
    "llama": dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=48),
    "mistral": dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                    sliding_window=16),
    "qwen2": dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
    "t5": dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4),
}


@pytest.mark.parametrize("model_type", sorted(TINY))
def test_config_json_round_trip_matches_reference(tmp_path, model_type):
    extra = dict(id2label={0: "neg", 1: "pos", 2: "neutral"}, my_custom_key={"kept": [1, 2]},
                 problem_type="single_label_classification")
    reference = transformers.AutoConfig.for_model(model_type, **TINY[model_type], **extra)
    reference.save_pretrained(tmp_path / "ref")
    ours = AutoConfig.from_pretrained(tmp_path / "ref")
    assert ours.num_labels == 3 and ours.id2label[2] == "neutral" and ours.my_custom_key == {"kept": [1, 2]}
    ours.save_pretrained(tmp_path / "ours")
    # Byte-identical file: same keys, values, order, indentation, version metadata kept.
    assert (tmp_path / "ours" / "config.json").read_text() == (tmp_path / "ref" / "config.json").read_text()
    # and the reference reads our file back to an equal config
    again = transformers.AutoConfig.from_pretrained(tmp_path / "ours").to_dict()
    expected = transformers.AutoConfig.from_pretrained(tmp_path / "ref").to_dict()
    again.pop("_name_or_path"), expected.pop("_name_or_path")
    assert again == expected


def test_fresh_config_written_like_reference(tmp_path):
    ours = AutoConfig.for_model("bert", **TINY["bert"], num_labels=4)
    ours.save_pretrained(tmp_path / "ours")
    transformers.AutoConfig.for_model("bert", **TINY["bert"], num_labels=4).save_pretrained(tmp_path / "ref")
    mine = json.loads((tmp_path / "ours" / "config.json").read_text())
    theirs = json.loads((tmp_path / "ref" / "config.json").read_text())
    assert mine.pop("transformers_version") and theirs.pop("transformers_version")
    assert mine == theirs


def _reference_bert(cls, **kw):
    torch.manual_seed(0)
    return getattr(transformers, cls)(transformers.BertConfig(**TINY["bert"], **kw)).eval()


IDS = torch.tensor([[5, 6, 7, 8, 9], [1, 2, 3, 0, 0]])
MASK = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])


@pytest.mark.parametrize("max_shard_size", [None, "20KB"])
def test_reference_checkpoint_loads_in_ours(tmp_path, max_shard_size):
    reference = _reference_bert("BertModel")
    kwargs = {"max_shard_size": max_shard_size} if max_shard_size else {}
    reference.save_pretrained(tmp_path, **kwargs)
    if max_shard_size:
        assert (tmp_path / "model.safetensors.index.json").exists()
    ours = AutoModel.from_pretrained(tmp_path)
    with torch.no_grad():
        expected = reference(IDS, attention_mask=MASK).last_hidden_state
        got = ours(IDS, attention_mask=MASK).last_hidden_state
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_base_checkpoint_into_head_matches_reference_report(tmp_path):
    _reference_bert("BertModel").save_pretrained(tmp_path)
    _, ref_info = transformers.BertForSequenceClassification.from_pretrained(
        tmp_path, num_labels=3, output_loading_info=True)
    ours, info = AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=3, output_loading_info=True)
    assert sorted(info["missing_keys"]) == sorted(ref_info["missing_keys"])
    assert sorted(info["unexpected_keys"]) == sorted(ref_info["unexpected_keys"])
    assert ours.classifier.weight.shape == (3, 32)


@pytest.mark.parametrize("max_shard_size", ["50GB", "20KB"])
def test_our_save_loads_in_reference_with_tied_weights(tmp_path, max_shard_size):
    reference = _reference_bert("BertForMaskedLM")
    reference.save_pretrained(tmp_path / "ref")
    ours = AutoModelForMaskedLM.from_pretrained(tmp_path / "ref")
    assert ours.get_output_embeddings().weight is ours.get_input_embeddings().weight
    ours.save_pretrained(tmp_path / "ours", max_shard_size=max_shard_size)
    reloaded, info = transformers.BertForMaskedLM.from_pretrained(tmp_path / "ours", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    with torch.no_grad():
        torch.testing.assert_close(reloaded.eval()(IDS, attention_mask=MASK).logits,
                                   reference(IDS, attention_mask=MASK).logits, atol=1e-5, rtol=1e-5)
    # Same tensor names as the reference's own save (tied decoder stored once).
    def names(folder):
        files = sorted(folder.glob("*.safetensors"))
        return sorted(k for f in files for k in load_file(f))

    assert names(tmp_path / "ours") == names(tmp_path / "ref")


def test_weight_files_load_with_reference_loader(tmp_path):
    reference = _reference_bert("BertForSequenceClassification", num_labels=2)
    state = {k: v.clone() for k, v in reference.state_dict().items()}
    save_state_dict(state, tmp_path, max_shard_size="30KB")
    reference.config.save_pretrained(tmp_path)
    loaded, info = transformers.BertForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(value, state[key])
