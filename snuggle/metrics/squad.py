"""SQuAD metrics: exact match and token F1 as the official v1.1 and v2.0 evaluation scripts.

Inputs in evaluate's format:
predictions [{"id": ..., "prediction_text": ...}] (v2 adds "no_answer_probability"),
references [{"id": ..., "answers": {"text": [...], "answer_start": [...]}}].
Answers are normalised (lower case, punctuation and the articles a/an/the removed, whitespace
collapsed); a question scores the best match over its gold answers. Results are percentages.

>>> from snuggle.metrics import load
>>> load("squad").compute(predictions=[{"id": "q1", "prediction_text": "the Eiffel Tower"}],
...                       references=[{"id": "q1", "answers": {"text": ["Eiffel Tower"], "answer_start": [0]}}])
{'exact_match': 100.0, 'f1': 100.0}
"""

from __future__ import annotations

import collections
import re
import string

from snuggle.errors import DataError
from snuggle.metrics.base import EvaluationModule
from snuggle.utils.logging import get_logger

logger = get_logger(__name__)

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation and articles, collapse whitespace (the official normalisation)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _token_f1(prediction: str, ground_truth: str, empty_matches_empty: bool) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(ground_truth).split()
    if empty_matches_empty and (not pred_tokens or not gold_tokens):
        # v2: an empty answer only matches an empty answer
        return float(pred_tokens == gold_tokens)
    common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _field(row, key: str, index: int, side: str):
    if not isinstance(row, dict) or key not in row:
        raise DataError(f"squad: {side}[{index}] must be a dict with a {key!r} field, got {row!r:.120}")
    return row[key]


def _answers(ref, index: int) -> list[str]:
    answers = _field(ref, "answers", index, "references")
    texts = answers.get("text") if isinstance(answers, dict) else None
    if texts is None:
        raise DataError(f"squad: references[{index}]['answers'] must be {{'text': [...], 'answer_start': [...]}}")
    return list(texts)


def squad_v1(predictions, references) -> dict:
    """{'exact_match', 'f1'} in percent over every referenced question (missing predictions score 0)."""
    pred_text = {_field(p, "id", i, "predictions"): _field(p, "prediction_text", i, "predictions")
                 for i, p in enumerate(predictions)}
    em = f1 = 0.0
    missing = 0
    for i, ref in enumerate(references):
        qid = _field(ref, "id", i, "references")
        golds = _answers(ref, i)
        if qid not in pred_text:
            missing += 1
            continue
        pred = pred_text[qid]
        em += max(float(normalize_answer(pred) == normalize_answer(g)) for g in golds)
        f1 += max(_token_f1(pred, g, empty_matches_empty=False) for g in golds)
    if missing:
        logger.warning("squad: %d referenced question(s) have no prediction and score 0", missing)
    total = len(references)
    return {"exact_match": 100.0 * em / total, "f1": 100.0 * f1 / total}


def _best_threshold(preds, scores, na_probs, has_ans) -> tuple[float, float]:
    """Sweep the no-answer threshold over the sorted no-answer probabilities (official script)."""
    cur = best = sum(1 for q in has_ans if not has_ans[q])
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda q: na_probs[q]):
        if qid not in scores:
            continue
        if has_ans[qid]:
            diff = scores[qid]
        else:
            diff = -1 if preds[qid] else 0
        cur += diff
        if cur > best:
            best, best_thresh = cur, na_probs[qid]
    return 100.0 * best / len(scores), best_thresh


def squad_v2(predictions, references, no_answer_threshold: float = 1.0) -> dict:
    """The official SQuAD 2.0 summary: exact/f1/total, HasAns_*, NoAns_*, best_* with thresholds."""
    preds, na_probs = {}, {}
    for i, p in enumerate(predictions):
        qid = _field(p, "id", i, "predictions")
        preds[qid] = _field(p, "prediction_text", i, "predictions")
        na_probs[qid] = float(p.get("no_answer_probability", 0.0))
    has_ans, exact, f1 = {}, {}, {}
    for i, ref in enumerate(references):
        qid = _field(ref, "id", i, "references")
        golds = [a for a in _answers(ref, i) if normalize_answer(a)]
        has_ans[qid] = bool(golds)
        if qid not in preds:
            logger.warning("squad_v2: missing prediction for %s", qid)
            continue
        golds = golds or [""]
        pred = preds[qid]
        exact[qid] = max(int(normalize_answer(g) == normalize_answer(pred)) for g in golds)
        f1[qid] = max(_token_f1(pred, g, empty_matches_empty=True) for g in golds)

    def thresholded(scores):
        out = {}
        for qid, s in scores.items():
            out[qid] = float(not has_ans[qid]) if na_probs.get(qid, 0.0) > no_answer_threshold else s
        return out

    exact_t, f1_t = thresholded(exact), thresholded(f1)

    def summary(qids):
        total = len(qids)
        return {"exact": 100.0 * sum(exact_t[q] for q in qids) / total,
                "f1": 100.0 * sum(f1_t[q] for q in qids) / total, "total": total}

    qids = list(exact)  # the official script only counts questions that got a prediction
    if not qids:
        raise DataError("squad_v2: none of the referenced question ids has a prediction")
    result = summary(qids)
    has = [q for q in qids if has_ans[q]]
    no = [q for q in qids if not has_ans[q]]
    if has:
        result.update({f"HasAns_{k}": v for k, v in summary(has).items()})
    if no:
        result.update({f"NoAns_{k}": v for k, v in summary(no).items()})
    result["best_exact"], result["best_exact_thresh"] = _best_threshold(preds, exact, na_probs, has_ans)
    result["best_f1"], result["best_f1_thresh"] = _best_threshold(preds, f1, na_probs, has_ans)
    return result


class Squad(EvaluationModule):
    """SQuAD v1.1: {'exact_match', 'f1'} (percent)."""

    name = "squad"
    description = "SQuAD v1.1 exact match and token F1 (official evaluation script)."

    def _compute(self, predictions, references):
        return squad_v1(predictions, references)


class SquadV2(EvaluationModule):
    """SQuAD v2.0: exact/f1 with unanswerable questions and best no-answer thresholds."""

    name = "squad_v2"
    description = "SQuAD v2.0 exact match and token F1 with no-answer handling (official evaluation script)."

    def _compute(self, predictions, references, no_answer_threshold=1.0):
        return squad_v2(predictions, references, no_answer_threshold=no_answer_threshold)
