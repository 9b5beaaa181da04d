"""BLEU two ways, as evaluate ships them.

- "bleu": Google's NMT `compute_bleu` on mteval-13a tokens: keys bleu (0-1), precisions,
  brevity_penalty, length_ratio, translation_length, reference_length; the reference length is
  the shortest reference per example, no smoothing unless smooth=True.
- "sacrebleu": sacreBLEU's corpus BLEU (0-100): closest reference length, smoothing
  (exp by default, floor, add-k, none), tokenizers 13a (default), none, char; lowercase.

>>> round(compute_bleu([[["a", "cat", "sat", "here"]]], [["a", "cat", "sat", "here"]])[0], 6)
1.0
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache

from snuggle.errors import DataError
from snuggle.metrics.base import EvaluationModule

# mteval-v13a rules: punctuation and symbols become tokens; '.' and ',' split unless between digits;
# '-' splits after a digit.
_13A_RULES = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
]


@lru_cache(maxsize=2**16)
def tokenize_13a(line: str) -> str:
    """mteval-v13a tokenization (WMT's standard), returned as a space-joined string.

    >>> tokenize_13a("Hello, world! It's 3.5-4 km.")
    "Hello , world ! It's 3.5 - 4 km ."
    """
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, repl in _13A_RULES:
        line = pattern.sub(repl, line)
    return " ".join(line.split())


def _tokenize_char(line: str) -> str:
    return " ".join(ch for ch in line)


TOKENIZERS = {"13a": tokenize_13a, "none": lambda s: s, "char": _tokenize_char}


def _ngrams(tokens: list[str], max_order: int) -> Counter:
    counts: Counter = Counter()
    for order in range(1, max_order + 1):
        for i in range(len(tokens) - order + 1):
            counts[tuple(tokens[i:i + order])] += 1
    return counts


def compute_bleu(reference_corpus, translation_corpus, max_order: int = 4, smooth: bool = False):
    """(bleu, precisions, bp, ratio, translation_length, reference_length) as tensorflow/nmt's bleu.py."""
    matches = [0] * max_order
    possible = [0] * max_order
    ref_length = trans_length = 0
    for references, translation in zip(reference_corpus, translation_corpus):
        ref_length += min(len(r) for r in references)
        trans_length += len(translation)
        merged: Counter = Counter()
        for reference in references:
            merged |= _ngrams(reference, max_order)
        overlap = _ngrams(translation, max_order) & merged
        for ngram, count in overlap.items():
            matches[len(ngram) - 1] += count
        for order in range(1, max_order + 1):
            if len(translation) - order + 1 > 0:
                possible[order - 1] += len(translation) - order + 1
    if smooth:
        precisions = [(matches[i] + 1.0) / (possible[i] + 1.0) for i in range(max_order)]
    else:
        precisions = [matches[i] / possible[i] if possible[i] > 0 else 0.0 for i in range(max_order)]
    geo_mean = math.exp(sum(math.log(p) / max_order for p in precisions)) if min(precisions) > 0 else 0
    if ref_length == 0 or trans_length == 0:
        ratio, bp = 0.0, 0.0
    else:
        ratio = trans_length / ref_length
        bp = 1.0 if ratio > 1.0 else math.exp(1 - 1.0 / ratio)
    return geo_mean * bp, precisions, bp, ratio, trans_length, ref_length


def _references_per_prediction(predictions, references, metric: str) -> list[list[str]]:
    if not predictions:
        raise DataError(f"{metric}: no predictions given")
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    for i, p in enumerate(predictions):
        if not isinstance(p, str):
            raise DataError(f"{metric}: predictions[{i}] must be a string, got {type(p).__name__}")
    for i, r in enumerate(refs):
        if not r or not all(isinstance(x, str) for x in r):
            raise DataError(f"{metric}: references[{i}] must be a string or a non-empty list of strings")
    return refs


SMOOTH_DEFAULTS = {"none": None, "floor": 0.1, "add-k": 1, "exp": None}


def _log_floor(x: float) -> float:
    return -9999999999 if x == 0.0 else math.log(x)


def corpus_sacrebleu(predictions, references, smooth_method="exp", smooth_value=None, lowercase=False,
                     tokenize="13a", use_effective_order=False, max_ngram_order=4) -> dict:
    """sacreBLEU corpus score; references[i] is the list of references of predictions[i]."""
    if smooth_method not in SMOOTH_DEFAULTS:
        raise DataError(f"sacrebleu: smooth_method={smooth_method!r}; expected one of {list(SMOOTH_DEFAULTS)}")
    if tokenize not in TOKENIZERS:
        raise DataError(f"sacrebleu: tokenize={tokenize!r} is not built in; available: {sorted(TOKENIZERS)}")
    if smooth_value is None:
        smooth_value = SMOOTH_DEFAULTS[smooth_method]
    tok = TOKENIZERS[tokenize]

    def prep(s: str) -> list[str]:
        if lowercase:
            s = s.lower()
        return tok(s.rstrip()).split()

    sys_len = ref_len = 0
    correct = [0] * max_ngram_order
    total = [0] * max_ngram_order
    for hyp, refs in zip(predictions, references):
        hyp_tokens = prep(hyp)
        ref_ngrams: Counter = Counter()
        lens = []
        for ref in refs:
            tokens = prep(ref)
            lens.append(len(tokens))
            for ngram, count in _ngrams(tokens, max_ngram_order).items():
                ref_ngrams[ngram] = max(ref_ngrams[ngram], count)
        hyp_len = len(hyp_tokens)
        # closest reference length; ties go to the shorter reference
        closest = min(lens, key=lambda n: (abs(hyp_len - n), n))
        sys_len += hyp_len
        ref_len += closest
        for ngram, count in _ngrams(hyp_tokens, max_ngram_order).items():
            n = len(ngram) - 1
            total[n] += count
            if ngram in ref_ngrams:
                correct[n] += min(count, ref_ngrams[ngram])

    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    precisions = [0.0] * max_ngram_order
    score = 0.0
    if any(correct):
        smooth_mteval = 1.0
        eff_order = max_ngram_order
        for n in range(1, max_ngram_order + 1):
            if smooth_method == "add-k" and n > 1:
                correct[n - 1] += smooth_value
                total[n - 1] += smooth_value
            if total[n - 1] == 0:
                break
            if use_effective_order:
                eff_order = n
            if correct[n - 1] == 0:
                if smooth_method == "exp":
                    smooth_mteval *= 2
                    precisions[n - 1] = 100.0 / (smooth_mteval * total[n - 1])
                elif smooth_method == "floor":
                    precisions[n - 1] = 100.0 * smooth_value / total[n - 1]
            else:
                precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1]
        score = bp * math.exp(sum(_log_floor(p) for p in precisions[:eff_order]) / eff_order)
    return {"score": score, "counts": correct, "totals": total, "precisions": precisions, "bp": bp,
            "sys_len": sys_len, "ref_len": ref_len}


class Bleu(EvaluationModule):
    """evaluate's "bleu": {'bleu', 'precisions', 'brevity_penalty', 'length_ratio', ...} with 13a tokens."""

    name = "bleu"
    description = "BLEU (tensorflow/nmt implementation) on mteval-13a tokens; score in [0, 1]."

    def _compute(self, predictions, references, tokenizer=None, max_order=4, smooth=False):
        refs = _references_per_prediction(predictions, references, "bleu")
        tok = tokenizer or (lambda s: tokenize_13a(s).split())
        score = compute_bleu([[tok(r) for r in rs] for rs in refs], [tok(p) for p in predictions],
                             max_order=max_order, smooth=smooth)
        bleu, precisions, bp, ratio, trans_len, ref_len = score
        return {"bleu": bleu, "precisions": precisions, "brevity_penalty": bp, "length_ratio": ratio,
                "translation_length": trans_len, "reference_length": ref_len}


class Sacrebleu(EvaluationModule):
    """evaluate's "sacrebleu": {'score', 'counts', 'totals', 'precisions', 'bp', 'sys_len', 'ref_len'}."""

    name = "sacrebleu"
    description = "sacreBLEU corpus BLEU in [0, 100] (13a tokenization, exp smoothing by default)."

    def _compute(self, predictions, references, smooth_method="exp", smooth_value=None, force=False,
                 lowercase=False, tokenize=None, use_effective_order=False):
        refs = _references_per_prediction(predictions, references, "sacrebleu")
        per = len(refs[0])
        if any(len(r) != per for r in refs):
            raise DataError("sacrebleu requires the same number of references for each prediction")
        # `force` only silences sacreBLEU's "looks tokenized" warning; it does not change the score
        return corpus_sacrebleu(predictions, refs, smooth_method=smooth_method, smooth_value=smooth_value,
                                lowercase=lowercase, tokenize=tokenize or "13a",
                                use_effective_order=use_effective_order)
