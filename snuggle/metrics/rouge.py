"""ROUGE-N, ROUGE-L and summary-level ROUGE-Lsum, as Google's rouge_score (which evaluate wraps).

Tokens: lower case, every run of characters outside [a-z0-9] is a separator, optional Porter
stemming of tokens longer than 3 characters. rougeLsum splits texts on newlines and scores the
union LCS of each reference sentence against all predicted sentences.

use_aggregator=True (the default) reports, like evaluate, the median ("mid") F-measure of 1000
bootstrap resamples drawn from numpy's global random generator — the same draws rouge_score
makes, so seeding numpy gives identical numbers; it is close to the plain mean.
use_aggregator=False returns the per-example F-measures.

>>> from snuggle.metrics import load
>>> load("rouge").compute(predictions=["hello there", "general kenobi"], references=["hello there", "general kenobi"])
{'rouge1': 1.0, 'rouge2': 1.0, 'rougeL': 1.0, 'rougeLsum': 1.0}
"""

from __future__ import annotations

import re
from collections import Counter
from typing import NamedTuple

import numpy as np

from snuggle.errors import DataError
from snuggle.metrics.base import EvaluationModule

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_VALID = re.compile(r"^[a-z0-9]+$")


class Score(NamedTuple):
    precision: float
    recall: float
    fmeasure: float


def fmeasure(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def tokenize(text: str, use_stemmer: bool = False) -> list[str]:
    """rouge_score's default tokenizer.

    >>> tokenize("The quick-brown Fox's 2 jumps!")
    ['the', 'quick', 'brown', 'fox', 's', '2', 'jumps']
    """
    tokens = re.split(r"\s+", _NON_ALNUM.sub(" ", text.lower()))
    if use_stemmer:
        from snuggle.metrics.porter import stem

        tokens = [stem(t) if len(t) > 3 else t for t in tokens]
    return [t for t in tokens if _VALID.match(t)]


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def score_ngrams(target: list[str], prediction: list[str], n: int) -> Score:
    t, p = _ngrams(target, n), _ngrams(prediction, n)
    overlap = sum(min(c, p[g]) for g, c in t.items())
    precision = overlap / max(sum(p.values()), 1)
    recall = overlap / max(sum(t.values()), 1)
    return Score(precision, recall, fmeasure(precision, recall))


def _lcs_table(ref: list[str], can: list[str]) -> list[list[int]]:
    table = [[0] * (len(can) + 1) for _ in range(len(ref) + 1)]
    for i in range(1, len(ref) + 1):
        row, prev = table[i], table[i - 1]
        r = ref[i - 1]
        for j in range(1, len(can) + 1):
            row[j] = prev[j - 1] + 1 if r == can[j - 1] else max(prev[j], row[j - 1])
    return table


def score_lcs(target: list[str], prediction: list[str]) -> Score:
    if not target or not prediction:
        return Score(0, 0, 0)
    lcs = _lcs_table(target, prediction)[-1][-1]
    precision, recall = lcs / len(prediction), lcs / len(target)
    return Score(precision, recall, fmeasure(precision, recall))


def _lcs_indices(ref: list[str], can: list[str]) -> list[int]:
    """Positions in `ref` of one LCS, backtracking with rouge_score's tie-breaking."""
    table = _lcs_table(ref, can)
    i, j, out = len(ref), len(can), []
    while i > 0 and j > 0:
        if ref[i - 1] == can[j - 1]:
            out.append(i - 1)
            i, j = i - 1, j - 1
        elif table[i][j - 1] > table[i - 1][j]:
            j -= 1
        else:
            i -= 1
    return out[::-1]


def score_summary_lcs(ref_sents: list[list[str]], can_sents: list[list[str]]) -> Score:
    """Summary-level LCS (ROUGE-Lsum): union LCS per reference sentence, each token counted once."""
    if not ref_sents or not can_sents:
        return Score(0, 0, 0)
    m, n = sum(map(len, ref_sents)), sum(map(len, can_sents))
    if not m or not n:
        return Score(0, 0, 0)
    ref_counts = Counter(t for s in ref_sents for t in s)
    can_counts = Counter(t for s in can_sents for t in s)
    hits = 0
    for r in ref_sents:
        union = sorted(set().union(*(_lcs_indices(r, c) for c in can_sents)))
        for t in (r[i] for i in union):
            if can_counts[t] > 0 and ref_counts[t] > 0:
                hits += 1
                can_counts[t] -= 1
                ref_counts[t] -= 1
    recall, precision = hits / m, hits / n
    return Score(precision, recall, fmeasure(precision, recall))


class RougeScorer:
    """Scores one (target, prediction) pair for several rouge types (rouge_score.RougeScorer)."""

    def __init__(self, rouge_types, use_stemmer: bool = False, tokenizer=None):
        for t in rouge_types:
            if t not in ("rougeL", "rougeLsum") and not re.fullmatch(r"rouge[1-9]", t):
                raise DataError(f"rouge: invalid rouge type {t!r}; use rouge1..rouge9, rougeL or rougeLsum")
        self.rouge_types = list(rouge_types)
        if tokenizer is None:
            self._tokenize = lambda text: tokenize(text, use_stemmer)
        else:
            self._tokenize = getattr(tokenizer, "tokenize", tokenizer)

    def score(self, target: str, prediction: str) -> dict[str, Score]:
        target_tokens = self._tokenize(target)
        prediction_tokens = self._tokenize(prediction)
        result = {}
        for t in self.rouge_types:
            if t == "rougeL":
                result[t] = score_lcs(target_tokens, prediction_tokens)
            elif t == "rougeLsum":
                result[t] = score_summary_lcs(
                    [self._tokenize(s) for s in target.split("\n") if s],
                    [self._tokenize(s) for s in prediction.split("\n") if s],
                )
            else:
                result[t] = score_ngrams(target_tokens, prediction_tokens, int(t[5:]))
        return result

    def score_multi(self, targets: list[str], prediction: str) -> dict[str, Score]:
        """Best (highest F-measure, first on ties) score over several references, per rouge type."""
        scores = [self.score(t, prediction) for t in targets]
        return {k: scores[int(np.argmax([s[k].fmeasure for s in scores]))][k] for k in self.rouge_types}


def bootstrap_aggregate(scores: dict[str, list[Score]], n_samples: int = 1000, confidence_interval: float = 0.95):
    """{type: (low, mid, high) Score} from bootstrap resampling with numpy's global RNG (rouge_score's draws)."""
    out = {}
    delta = (1 - confidence_interval) / 2
    q = 100 * np.array([delta, 0.5, 1 - delta])
    for rouge_type, rows in scores.items():
        matrix = np.vstack([tuple(r) for r in rows])
        n = matrix.shape[0]
        sample_mean = np.zeros((n_samples, matrix.shape[1]))
        for i in range(n_samples):
            idx = np.random.choice(np.arange(n), size=n)
            sample_mean[i, :] = np.mean(matrix[idx, :], axis=0)
        pct = np.percentile(sample_mean, q, axis=0)
        out[rouge_type] = tuple(Score(*pct[j, :]) for j in range(3))
    return out


class Rouge(EvaluationModule):
    """{'rouge1', 'rouge2', 'rougeL', 'rougeLsum'}: F-measures (aggregated or per example)."""

    name = "rouge"
    description = "ROUGE-1/2/L/Lsum F-measures (Google rouge_score implementation)."

    def _compute(self, predictions, references, rouge_types=None, use_aggregator=True, use_stemmer=False,
                 tokenizer=None):
        rouge_types = rouge_types or ["rouge1", "rouge2", "rougeL", "rougeLsum"]
        scorer = RougeScorer(rouge_types, use_stemmer=use_stemmer, tokenizer=tokenizer)
        multi_ref = isinstance(references[0], (list, tuple))
        per_example = []
        for ref, pred in zip(references, predictions):
            if not isinstance(pred, str):
                raise DataError(f"rouge: predictions must be strings, got {type(pred).__name__}")
            per_example.append(scorer.score_multi(list(ref), pred) if multi_ref else scorer.score(ref, pred))
        if use_aggregator:
            collected = {t: [s[t] for s in per_example] for t in rouge_types}
            return {t: float(agg[1].fmeasure) for t, agg in bootstrap_aggregate(collected).items()}
        return {t: [s[t].fmeasure for s in per_example] for t in rouge_types}
