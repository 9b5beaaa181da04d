"""exact_match: the fraction of predictions equal to their reference string, after optional clean-up.

Options as evaluate's: regexes_to_ignore (removed from both sides first), ignore_case,
ignore_punctuation (string.punctuation), ignore_numbers (digits). An empty prediction only
matches when the original strings were already equal.

>>> from snuggle.metrics import load
>>> load("exact_match").compute(predictions=["The cat.", "dog"], references=["the cat", "dog"],
...                             ignore_case=True, ignore_punctuation=True)
{'exact_match': 1.0}
"""

from __future__ import annotations

import re
import string

from snuggle.metrics.base import EvaluationModule

_PUNCT = str.maketrans("", "", string.punctuation)
_DIGITS = str.maketrans("", "", string.digits)


def _clean(text: str, regexes, ignore_case: bool, ignore_punctuation: bool, ignore_numbers: bool) -> str:
    for pattern in regexes or ():
        text = re.sub(pattern, "", text)
    if ignore_case:
        text = text.lower()
    if ignore_punctuation:
        text = text.translate(_PUNCT)
    if ignore_numbers:
        text = text.translate(_DIGITS)
    return text


class ExactMatch(EvaluationModule):
    """{'exact_match': fraction in [0, 1]}."""

    name = "exact_match"
    description = "Fraction of predictions that exactly match their reference string."

    def _compute(self, predictions, references, regexes_to_ignore=None, ignore_case=False, ignore_punctuation=False,
                 ignore_numbers=False):
        hits = 0
        for pred, ref in zip(predictions, references):
            p = _clean(str(pred), regexes_to_ignore, ignore_case, ignore_punctuation, ignore_numbers)
            r = _clean(str(ref), regexes_to_ignore, ignore_case, ignore_punctuation, ignore_numbers)
            hits += p == r and (p != "" or pred == ref)
        return {"exact_match": hits / len(predictions)}
