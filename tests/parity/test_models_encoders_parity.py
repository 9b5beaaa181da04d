"""Parity of snuggle's BERT, RoBERTa and DistilBERT (every head) with transformers.

Each test builds a tiny random model in the reference (2 layers, hidden 32, 4 heads,
intermediate 37, vocab 99), saves it with `save_pretrained`, loads the folder into both
libraries and compares, on a padded batch: logits, every hidden state, every attention
map, the loss with labels and the gradient of every parameter (fp32, atol 1e-4). Then the
checkpoints travel the other way (our save_pretrained -> reference) and sharded. The real
model test runs all-MiniLM-L6-v2 on SST-2 sentences tokenized by snuggle's AutoTokenizer
and compares mean-pooled embeddings with the reference's BertModel.
"""

from __future__ import annotations

import csv
import importlib
import json

import pytest
import torch
import transformers

from snuggle.models import auto as snuggle_auto

ATOL = 1e-4
VOCAB = 99

# (family, transformers config kwargs)
CONFIGS = {
    "bert": {
        "vocab_size": VOCAB, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37,
        "max_position_embeddings": 64, "type_vocab_size": 2,
    },
    "roberta": {
        "vocab_size": VOCAB, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37,
        "max_position_embeddings": 64, "type_vocab_size": 1, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
    },
    "distilbert": {"vocab_size": VOCAB, "dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 37, "max_position_embeddings": 64},
}
CONFIG_CLASSES = {"bert": "BertConfig", "roberta": "RobertaConfig", "distilbert": "DistilBertConfig"}
PREFIX = {"bert": "Bert", "roberta": "Roberta", "distilbert": "DistilBert"}

HEADS = {
    "bert": ["Model", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering",
             "ForMaskedLM", "ForMultipleChoice", "ForPreTraining", "ForNextSentencePrediction"],
    "roberta": ["Model", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering",
                "ForMaskedLM", "ForMultipleChoice"],
    "distilbert": ["Model", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering",
                   "ForMaskedLM", "ForMultipleChoice"],
}
CASES = [(family, head) for family, heads in HEADS.items() for head in heads]

BATCH, SEQ, CHOICES = 3, 7, 2


def ours_module(family):
    return importlib.import_module(f"snuggle.models.{family}")


def build_reference(family, head, tmp_path, **config_overrides):
    """A seeded random reference model saved to tmp_path/ref; returns (folder, pad id)."""
    torch.manual_seed(0)
    config = getattr(transformers, CONFIG_CLASSES[family])(**{**CONFIGS[family], **config_overrides})
    model = getattr(transformers, PREFIX[family] + head)(config)
    folder = tmp_path / "ref"
    model.save_pretrained(folder)
    return folder, config.pad_token_id


def make_inputs(family, head, pad_id, num_labels=2, label_kind="int"):
    """A padded batch (row 1 loses 3 tokens, row 2 loses 1) and the labels the head takes."""
    generator = torch.Generator().manual_seed(1)
    shape = (BATCH, CHOICES, SEQ) if head == "ForMultipleChoice" else (BATCH, SEQ)
    input_ids = torch.randint(3, VOCAB, shape, generator=generator)
    attention_mask = torch.ones(shape, dtype=torch.long)
    attention_mask[1, ..., -3:] = 0
    attention_mask[2, ..., -1:] = 0
    input_ids = input_ids.masked_fill(attention_mask == 0, pad_id)  # RoBERTa positions skip the pad id
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if family == "bert":
        token_type_ids = torch.zeros(shape, dtype=torch.long)
        token_type_ids[..., SEQ // 2 :] = 1
        inputs["token_type_ids"] = token_type_ids
    if head == "ForSequenceClassification":
        if label_kind == "int":
            inputs["labels"] = torch.randint(0, num_labels, (BATCH,), generator=generator)
        elif label_kind == "float":
            inputs["labels"] = torch.randn((BATCH, num_labels), generator=generator).squeeze(-1)
        else:  # multi-hot
            inputs["labels"] = torch.randint(0, 2, (BATCH, num_labels), generator=generator).float()
    elif head == "ForTokenClassification":
        labels = torch.randint(0, num_labels, (BATCH, SEQ), generator=generator)
        inputs["labels"] = labels.masked_fill(attention_mask == 0, -100)
    elif head == "ForMaskedLM":
        labels = torch.full((BATCH, SEQ), -100)
        labels[:, 1:3] = input_ids[:, 1:3]
        inputs["labels"] = labels
    elif head == "ForPreTraining":
        labels = torch.full((BATCH, SEQ), -100)
        labels[:, 2] = input_ids[:, 2]
        inputs["labels"] = labels
        inputs["next_sentence_label"] = torch.tensor([0, 1, 0])
    elif head == "ForNextSentencePrediction":
        inputs["labels"] = torch.tensor([1, 0, 1])
    elif head == "ForQuestionAnswering":
        # one position past the end: both libraries clamp it and ignore it
        inputs["start_positions"] = torch.tensor([1, 2, 40])
        inputs["end_positions"] = torch.tensor([3, 2, 5])
    elif head == "ForMultipleChoice":
        inputs["labels"] = torch.tensor([0, 1, 1])
    return inputs


def output_tensors(output):
    """Every tensor of an output keyed by name (hidden_states.0, attentions.1, ...)."""
    tensors = {}
    for key in output:
        value = output[key]
        if isinstance(value, torch.Tensor):
            tensors[key] = value
        elif isinstance(value, tuple):
            for index, item in enumerate(value):
                if isinstance(item, torch.Tensor):
                    tensors[f"{key}.{index}"] = item
    return tensors


def loss_of(output):
    if output.get("loss") is not None:
        return output["loss"]
    return sum(t.float().pow(2).mean() for t in output_tensors(output).values())  # base models: any scalar


def gradients(model):
    return {
        name: param.grad
        for name, param in model.named_parameters(remove_duplicate=False)
        if param.grad is not None
    }


def assert_close_outputs(ours, ref, check_keys=None):
    ours_t, ref_t = output_tensors(ours), output_tensors(ref)
    keys = check_keys if check_keys is not None else ref_t.keys()
    assert set(keys) <= set(ours_t), f"missing outputs: {set(keys) - set(ours_t)}"
    for key in keys:
        torch.testing.assert_close(ours_t[key], ref_t[key], atol=ATOL, rtol=1e-4, msg=lambda m, key=key: f"{key}: {m}")


@pytest.mark.parametrize("family,head", CASES)
def test_head_matches_reference_outputs_loss_and_gradients(family, head, tmp_path):
    folder, pad_id = build_reference(family, head, tmp_path)
    ref = getattr(transformers, PREFIX[family] + head).from_pretrained(folder, attn_implementation="eager").eval()
    ours = getattr(ours_module(family), PREFIX[family] + head).from_pretrained(folder).eval()
    inputs = make_inputs(family, head, pad_id)
    flags = {"output_hidden_states": True, "output_attentions": True}

    ref_out = ref(**inputs, **flags)
    ours_out = ours(**inputs, **flags)
    n_layers = 2
    assert len(ours_out["hidden_states"]) == n_layers + 1 and len(ours_out["attentions"]) == n_layers
    assert_close_outputs(ours_out, ref_out)

    loss_of(ref_out).backward()
    loss_of(ours_out).backward()
    ref_grads, ours_grads = gradients(ref), gradients(ours)
    assert set(ours_grads) == set(ref_grads)
    for name, grad in ref_grads.items():
        torch.testing.assert_close(ours_grads[name], grad, atol=ATOL, rtol=1e-4, msg=lambda m, name=name: f"grad {name}: {m}")

    # the other direction: the reference loads our save_pretrained output to the same weights
    ours.save_pretrained(tmp_path / "ours")
    assert json.loads((tmp_path / "ours" / "config.json").read_text())["model_type"] == family
    back = getattr(transformers, PREFIX[family] + head).from_pretrained(tmp_path / "ours")
    back_state = back.state_dict()
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(back_state[key], value, msg=lambda m, key=key: f"{key}: {m}")


@pytest.mark.parametrize("family,head", [(f, "Model") for f in HEADS] + [("bert", "ForSequenceClassification")])
def test_sdpa_path_matches_reference_sdpa(family, head, tmp_path):
    folder, pad_id = build_reference(family, head, tmp_path)
    ref = getattr(transformers, PREFIX[family] + head).from_pretrained(folder, attn_implementation="sdpa").eval()
    ours = getattr(ours_module(family), PREFIX[family] + head).from_pretrained(folder, attn_implementation="sdpa")
    ours.eval()
    inputs = make_inputs(family, head, pad_id)
    with torch.no_grad():
        assert_close_outputs(ours(**inputs, output_hidden_states=True), ref(**inputs, output_hidden_states=True))
        # no padding at all: our SDPA path runs without a mask
        plain = {k: v for k, v in inputs.items() if k != "attention_mask"}
        assert_close_outputs(ours(**plain), ref(**plain))


@pytest.mark.parametrize("family", list(HEADS))
@pytest.mark.parametrize(
    "num_labels,label_kind,problem_type",
    [(1, "float", "regression"), (3, "int", "single_label_classification"),
     (3, "multi", "multi_label_classification")],
)
def test_sequence_classification_problem_types(family, num_labels, label_kind, problem_type, tmp_path):
    head = "ForSequenceClassification"
    folder, pad_id = build_reference(family, head, tmp_path, num_labels=num_labels)
    ref = getattr(transformers, PREFIX[family] + head).from_pretrained(folder, attn_implementation="eager").eval()
    ours = getattr(ours_module(family), PREFIX[family] + head).from_pretrained(folder).eval()
    inputs = make_inputs(family, head, pad_id, num_labels=num_labels, label_kind=label_kind)
    ref_out, ours_out = ref(**inputs), ours(**inputs)
    assert ref.config.problem_type == ours.config.problem_type == problem_type
    torch.testing.assert_close(ours_out.loss, ref_out.loss, atol=ATOL, rtol=1e-4)
    torch.testing.assert_close(ours_out.logits, ref_out.logits, atol=ATOL, rtol=1e-4)


@pytest.mark.parametrize("family", list(HEADS))
def test_sharded_checkpoints_load_both_ways(family, tmp_path):
    head = "ForMaskedLM"
    folder, pad_id = build_reference(family, head, tmp_path)
    ref_class = getattr(transformers, PREFIX[family] + head)
    ours_class = getattr(ours_module(family), PREFIX[family] + head)
    original = ref_class.from_pretrained(folder).eval()
    inputs = make_inputs(family, head, pad_id)
    inputs = {k: v for k, v in inputs.items() if k != "labels"}
    with torch.no_grad():
        expected = original(**inputs).logits

    original.save_pretrained(tmp_path / "ref_sharded", max_shard_size="20KB")
    assert (tmp_path / "ref_sharded" / "model.safetensors.index.json").exists()
    ours = ours_class.from_pretrained(tmp_path / "ref_sharded").eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(**inputs).logits, expected, atol=ATOL, rtol=1e-4)

    ours.save_pretrained(tmp_path / "ours_sharded", max_shard_size="20KB")
    index = json.loads((tmp_path / "ours_sharded" / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    back = ref_class.from_pretrained(tmp_path / "ours_sharded").eval()
    with torch.no_grad():
        torch.testing.assert_close(back(**inputs).logits, expected, atol=ATOL, rtol=1e-4)


@pytest.mark.parametrize("family", list(HEADS))
def test_auto_classes_pick_our_architecture(family, tmp_path):
    folder, _ = build_reference(family, "ForSequenceClassification", tmp_path)
    model = snuggle_auto.AutoModelForSequenceClassification.from_pretrained(folder)
    assert type(model).__name__ == PREFIX[family] + "ForSequenceClassification"
    base = snuggle_auto.AutoModel.from_pretrained(folder)
    assert type(base).__name__ == PREFIX[family] + "Model"


def sst2_sentences(datasets_dir, count):
    with open(datasets_dir / "sst2" / "dev.tsv", newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [row["sentence"] for _, row in zip(range(count), rows)]


def mean_pool(last_hidden_state, attention_mask):
    mask = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    return (last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


@pytest.mark.slow
def test_minilm_mean_pooled_embeddings_match_reference(minilm_path, datasets_dir):
    from snuggle.tokenizers.pretrained import AutoTokenizer

    sentences = sst2_sentences(datasets_dir, 48)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    batch = tokenizer(sentences, padding=True, truncation=True, max_length=128, return_tensors="pt")
    ref_ids = transformers.AutoTokenizer.from_pretrained(minilm_path)(
        sentences, padding=True, truncation=True, max_length=128, return_tensors="pt"
    )["input_ids"]
    assert torch.equal(batch["input_ids"], ref_ids)

    ours = snuggle_auto.AutoModel.from_pretrained(minilm_path).eval()
    assert type(ours).__name__ == "BertModel"
    ref = transformers.BertModel.from_pretrained(minilm_path).eval()
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        ours_out, ref_out = ours(**inputs), ref(**inputs)
    ours_embeddings = mean_pool(ours_out.last_hidden_state, inputs["attention_mask"])
    ref_embeddings = mean_pool(ref_out.last_hidden_state, inputs["attention_mask"])
    torch.testing.assert_close(ours_embeddings, ref_embeddings, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours_out.pooler_output, ref_out.pooler_output, atol=1e-5, rtol=1e-5)
