"""squad, bleu, sacrebleu, rouge (and its Porter stemmer) against the reference implementations."""

from __future__ import annotations

import collections
import math
import random
import re
import string

import numpy as np
import pytest

from snuggle.errors import DataError
from snuggle.metrics import load


# --------------------------------------------------------------------------- SQuAD
def _official_v1(dataset_qas, predictions):
    """The official SQuAD v1.1 evaluate-v1.1.py computation, written out as the oracle."""
    def normalize(s):
        s = s.lower()
        s = "".join(ch for ch in s if ch not in set(string.punctuation))
        s = re.sub(r"\b(a|an|the)\b", " ", s)
        return " ".join(s.split())

    def f1(pred, gt):
        p, g = normalize(pred).split(), normalize(gt).split()
        common = collections.Counter(p) & collections.Counter(g)
        same = sum(common.values())
        if same == 0:
            return 0
        precision, recall = same / len(p), same / len(g)
        return 2 * precision * recall / (precision + recall)

    em = tot_f1 = 0.0
    for qa in dataset_qas:
        if qa["id"] not in predictions:
            continue
        em += max(float(normalize(predictions[qa["id"]]) == normalize(g)) for g in qa["answers"])
        tot_f1 += max(f1(predictions[qa["id"]], g) for g in qa["answers"])
    return {"exact_match": 100.0 * em / len(dataset_qas), "f1": 100.0 * tot_f1 / len(dataset_qas)}


def test_squad_on_the_dev_set(squad_questions):
    rng = random.Random(0)
    qs = squad_questions[::4]
    preds = {}
    for q in qs:
        gold = rng.choice(q["answers"])
        r = rng.random()
        if r < 0.4:
            preds[q["id"]] = gold
        elif r < 0.7:  # a window around the answer: partial overlap
            start = q["starts"][0]
            preds[q["id"]] = q["context"][max(0, start - rng.randint(0, 20)): start + len(gold) + rng.randint(-5, 15)]
        else:
            words = q["context"].split()
            i = rng.randrange(len(words))
            preds[q["id"]] = " ".join(words[i:i + rng.randint(1, 6)])
    ours = load("squad").compute(
        predictions=[{"id": k, "prediction_text": v} for k, v in preds.items()],
        references=[{"id": q["id"], "answers": {"text": q["answers"], "answer_start": q["starts"]}} for q in qs],
    )
    ref = _official_v1(qs, preds)
    assert ours["exact_match"] == pytest.approx(ref["exact_match"], abs=1e-9)
    assert ours["f1"] == pytest.approx(ref["f1"], abs=1e-9)
    assert 20 < ours["exact_match"] < 80


def test_squad_missing_prediction_scores_zero_and_bad_rows():
    refs = [{"id": "a", "answers": {"text": ["Paris"], "answer_start": [0]}},
            {"id": "b", "answers": {"text": ["the Seine river"], "answer_start": [0]}}]
    assert load("squad").compute(predictions=[{"id": "a", "prediction_text": "paris!"}], references=refs[:1]) == {
        "exact_match": 100.0, "f1": 100.0}
    m = load("squad")
    m.add(prediction={"id": "a", "prediction_text": "Paris"}, reference=refs[0])
    m.add(prediction={"id": "c", "prediction_text": "Seine"}, reference=refs[1])
    assert m.compute() == {"exact_match": 50.0, "f1": 50.0}
    with pytest.raises(DataError, match="prediction_text"):
        load("squad").compute(predictions=[{"id": "a", "text": "x"}], references=refs[:1])


def test_squad_v2_summary():
    preds = [{"id": "q1", "prediction_text": "Paris", "no_answer_probability": 0.1},
             {"id": "q2", "prediction_text": "", "no_answer_probability": 0.9},
             {"id": "q3", "prediction_text": "in 1990", "no_answer_probability": 0.3},
             {"id": "q4", "prediction_text": "blue", "no_answer_probability": 0.8}]
    refs = [{"id": "q1", "answers": {"text": ["Paris"], "answer_start": [0]}},
            {"id": "q2", "answers": {"text": [], "answer_start": []}},
            {"id": "q3", "answers": {"text": ["1990"], "answer_start": [3]}},
            {"id": "q4", "answers": {"text": [], "answer_start": []}}]
    res = load("squad_v2").compute(predictions=preds, references=refs)
    # exact per question: 1, 1 (empty == empty), 0 ("in 1990" vs "1990"), 0; f1: 1, 1, 2/3, 0
    assert res["exact"] == 50.0 and res["f1"] == pytest.approx(100 * (1 + 1 + 2 / 3) / 4)
    assert res["total"] == 4 and res["HasAns_total"] == 2 and res["NoAns_total"] == 2
    assert res["HasAns_exact"] == 50.0 and res["NoAns_exact"] == 50.0
    # thresholding at 0.5 marks q2 and q4 unanswered (correct for both) -> best exact 3/4 at threshold 0.1 (the official sweep)
    assert res["best_exact"] == 75.0 and res["best_exact_thresh"] == 0.1
    res = load("squad_v2").compute(predictions=preds, references=refs, no_answer_threshold=0.5)
    assert res["exact"] == 75.0


# --------------------------------------------------------------------------- BLEU
def _nmt_bleu(reference_corpus, translation_corpus, max_order=4, smooth=False):
    """tensorflow/nmt's compute_bleu, the oracle of evaluate's "bleu" metric."""
    def ngrams(seg):
        c = collections.Counter()
        for order in range(1, max_order + 1):
            for i in range(len(seg) - order + 1):
                c[tuple(seg[i:i + order])] += 1
        return c

    matches, possible = [0] * max_order, [0] * max_order
    rl = tl = 0
    for refs, tr in zip(reference_corpus, translation_corpus):
        rl += min(len(r) for r in refs)
        tl += len(tr)
        merged = collections.Counter()
        for r in refs:
            merged |= ngrams(r)
        for g, c in (ngrams(tr) & merged).items():
            matches[len(g) - 1] += c
        for o in range(1, max_order + 1):
            if len(tr) - o + 1 > 0:
                possible[o - 1] += len(tr) - o + 1
    prec = [((matches[i] + 1.0) / (possible[i] + 1.0)) if smooth else (matches[i] / possible[i] if possible[i] else 0.0)
            for i in range(max_order)]
    geo = math.exp(sum(math.log(p) / max_order for p in prec)) if min(prec) > 0 else 0
    ratio = tl / rl if rl and tl else 0.0
    bp = 0.0 if not (rl and tl) else (1.0 if ratio > 1.0 else math.exp(1 - 1.0 / ratio))
    return geo * bp, prec, bp, ratio, tl, rl


def _mt_pairs(lines, seed, n=80):
    rng = random.Random(seed)
    preds, refs = [], []
    for line in lines[:n]:
        words = line.split()[:40]
        line = " ".join(words)
        hyp = [w for w in words if rng.random() > 0.15]
        if rng.random() < 0.3 and len(hyp) > 3:
            i = rng.randrange(len(hyp) - 1)
            hyp[i], hyp[i + 1] = hyp[i + 1], hyp[i]
        preds.append(" ".join(hyp))
        refs.append([line, " ".join(w for w in words if rng.random() > 0.1)])
    return preds, refs


def test_bleu_matches_nmt_bleu_on_13a_tokens(wikitext_lines):
    sacrebleu = pytest.importorskip("sacrebleu")
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    tok = Tokenizer13a()
    preds, refs = _mt_pairs(wikitext_lines, 0)
    for kw in ({}, {"smooth": True}, {"max_order": 2}):
        ours = load("bleu").compute(predictions=preds, references=refs, **kw)
        ref = _nmt_bleu([[tok(r).split() for r in rs] for rs in refs], [tok(p).split() for p in preds], **kw)
        assert ours["bleu"] == pytest.approx(ref[0], rel=1e-12)
        assert ours["precisions"] == pytest.approx(ref[1], rel=1e-12)
        assert (ours["brevity_penalty"], ours["length_ratio"], ours["translation_length"], ours["reference_length"]) == \
            pytest.approx(ref[2:], rel=1e-12)
    single = load("bleu").compute(predictions=preds[:5], references=[r[0] for r in refs[:5]])
    assert 0 < single["bleu"] <= 1
    assert load("bleu").compute(predictions=["a"], references=["b c"])["bleu"] == 0.0


def test_13a_tokenizer_equals_sacrebleu(wikitext_lines):
    pytest.importorskip("sacrebleu")
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    from snuggle.metrics.bleu import tokenize_13a

    tok = Tokenizer13a()
    extra = ["a&amp;b &lt;x&gt; &quot;q&quot;", "3.5-4, 1,000.00 e-mail <skipped> line-\nbreak", "{[(`~^|\\)]}"]
    for line in wikitext_lines[:1500] + extra:
        assert tokenize_13a(line) == tok(line)


def test_sacrebleu_matches_sacrebleu(wikitext_lines):
    sacrebleu = pytest.importorskip("sacrebleu")
    preds, refs = _mt_pairs(wikitext_lines, 1, n=80)
    transposed = [[r[i] for r in refs] for i in range(2)]
    cases = [{}, {"lowercase": True}, {"smooth_method": "floor"}, {"smooth_method": "add-k"},
             {"smooth_method": "none"}, {"tokenize": "char"}, {"tokenize": "none"}, {"use_effective_order": True}]
    for kw in cases:
        ours = load("sacrebleu").compute(predictions=preds, references=refs, **kw)
        ref = sacrebleu.corpus_bleu(preds, transposed, **kw)
        assert ours["score"] == pytest.approx(ref.score, rel=1e-12), kw
        assert ours["counts"] == ref.counts and ours["totals"] == ref.totals
        assert ours["precisions"] == pytest.approx(ref.precisions, rel=1e-12)
        assert (ours["bp"], ours["sys_len"], ours["ref_len"]) == pytest.approx((ref.bp, ref.sys_len, ref.ref_len))
    # short segments: zero matches at high orders exercise the exp smoothing path
    p, r = ["the cat", "a dog ran"], [["the cat sat"], ["a dog ran away"]]
    ours = load("sacrebleu").compute(predictions=p, references=r)
    assert ours["score"] == pytest.approx(sacrebleu.corpus_bleu(p, [["the cat sat", "a dog ran away"]]).score, rel=1e-12)
    with pytest.raises(DataError, match="same number of references"):
        load("sacrebleu").compute(predictions=["a", "b"], references=[["a"], ["b", "c"]])


# --------------------------------------------------------------------------- ROUGE
def _summaries(lines, seed, n=50):
    rng = random.Random(seed)
    preds, refs = [], []
    for i in range(n):
        ref = "\n".join(" ".join(lines[(3 * i + k) % len(lines)].split()[:30]) for k in range(rng.randint(1, 3)))
        words = ref.replace("\n", " \n ").split(" ")
        pred = " ".join(w for w in words if rng.random() > 0.3)
        preds.append(pred)
        refs.append(ref)
    return preds, refs


def test_rouge_per_example_matches_rouge_score(wikitext_lines):
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    preds, refs = _summaries(wikitext_lines, 0)
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    for stem in (False, True):
        scorer = rouge_scorer.RougeScorer(types, use_stemmer=stem)
        ours = load("rouge").compute(predictions=preds, references=refs, use_aggregator=False, use_stemmer=stem)
        for t in types:
            expected = [scorer.score(r, p)[t].fmeasure for r, p in zip(refs, preds)]
            assert ours[t] == pytest.approx(expected, abs=1e-12), (t, stem)


def test_rouge_aggregated_equals_bootstrap_mid_with_same_seed(wikitext_lines):
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    from rouge_score import scoring

    preds, refs = _summaries(wikitext_lines, 1, n=40)
    multi = [[r, r.split("\n")[0]] for r in refs]
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(types)
    np.random.seed(123)
    agg = scoring.BootstrapAggregator()
    for r, p in zip(multi, preds):
        agg.add_scores(scorer.score_multi(r, p))
    expected = {k: v.mid.fmeasure for k, v in agg.aggregate().items()}
    np.random.seed(123)
    ours = load("rouge").compute(predictions=preds, references=multi)
    assert ours == pytest.approx(expected, abs=1e-12)
    per = load("rouge").compute(predictions=preds, references=multi, use_aggregator=False)
    assert abs(ours["rouge1"] - np.mean(per["rouge1"])) < 0.02  # the bootstrap median sits near the mean


def test_rouge_custom_tokenizer_and_types():
    ours = load("rouge").compute(predictions=["a b c"], references=["a c"], rouge_types=["rouge1", "rouge3"],
                                 tokenizer=str.split, use_aggregator=False)
    assert ours["rouge1"] == [pytest.approx(0.8)] and ours["rouge3"] == [0.0]
    with pytest.raises(DataError, match="invalid rouge type"):
        load("rouge").compute(predictions=["a"], references=["a"], rouge_types=["rougeX"])


def test_porter_stemmer_equals_nltk(wikitext_lines):
    porter = pytest.importorskip("nltk.stem.porter")
    from snuggle.metrics.porter import stem

    ref = porter.PorterStemmer()
    words = {w for line in wikitext_lines[:2500] for w in re.findall(r"[a-z0-9]+", line.lower())}
    words |= {"skies", "dying", "ties", "tied", "agreed", "hopping", "filing", "happy", "sayyy", "analogi",
              "generalli", "fulli", "conditional", "rational", "triplicate", "formaliti", "sensibiliti"}
    assert len(words) > 5000
    assert [w for w in sorted(words) if stem(w) != ref.stem(w)] == []
