"""seqeval: entity-level precision / recall / F1 for sequence labelling (NER, chunking).

Default mode is conlleval-compatible: chunks are read leniently from IOB1/IOB2/IOE/IOBES tags
(an I- after O starts a chunk). mode="strict" with a scheme (IOB1, IOB2, IOE1, IOE2, IOBES,
BILOU; auto-detected when omitted) only counts chunks well-formed under that scheme. Same
numbers as the seqeval library that evaluate's metric wraps, including its per-type F1 computed
from precision and recall and its zero_division handling.

>>> from snuggle.metrics import load
>>> r = load("seqeval").compute(predictions=[["B-PER", "I-PER", "O"]], references=[["B-PER", "I-PER", "O"]])
>>> r["overall_f1"], r["PER"]["number"]
(1.0, 1)
"""

from __future__ import annotations

import warnings
from collections import defaultdict

import numpy as np

from snuggle.errors import DataError
from snuggle.metrics.base import EvaluationModule
from snuggle.metrics.classification import UndefinedMetricWarning

# ------------------------------------------------------------------ default (conlleval) chunking
_END_AFTER = {("B", "B"), ("B", "S"), ("B", "O"), ("I", "B"), ("I", "S"), ("I", "O")}
_START_AT = {("E", "E"), ("E", "I"), ("S", "E"), ("S", "I"), ("O", "E"), ("O", "I")}


def _chunk_end(prev_tag, tag, prev_type, type_) -> bool:
    return (prev_tag in ("E", "S") or (prev_tag, tag) in _END_AFTER
            or (prev_tag not in ("O", ".") and prev_type != type_))


def _chunk_start(prev_tag, tag, prev_type, type_) -> bool:
    return tag in ("B", "S") or (prev_tag, tag) in _START_AT or (tag not in ("O", ".") and prev_type != type_)


def get_entities(seq, suffix: bool = False) -> list[tuple[str, int, int]]:
    """(type, start, end-inclusive) chunks; a list of sentences is joined with 'O' separators.

    >>> get_entities(["B-PER", "I-PER", "O", "B-LOC"])
    [('PER', 0, 1), ('LOC', 3, 3)]
    """
    if any(isinstance(s, list) for s in seq):
        seq = [tag for sentence in seq for tag in list(sentence) + ["O"]]
    prev_tag, prev_type, begin = "O", "", 0
    chunks = []
    for i, chunk in enumerate(list(seq) + ["O"]):
        if chunk not in ("O", "B", "I", "E", "S"):
            ok = chunk.endswith(("-B", "-I", "-E", "-S")) if suffix else chunk.startswith(("B-", "I-", "E-", "S-"))
            if not ok:
                warnings.warn(f"{chunk} seems not to be NE tag.", UserWarning, stacklevel=2)
        if suffix:
            tag, type_ = chunk[-1], chunk[:-1].rsplit("-", maxsplit=1)[0] or "_"
        else:
            tag, type_ = chunk[0], chunk[1:].split("-", maxsplit=1)[-1] or "_"
        if _chunk_end(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _chunk_start(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


# ------------------------------------------------------------------ strict schemes
# Each scheme: allowed prefixes and (prev prefixes, current prefixes, tag condition) patterns
# saying when a token starts a chunk, continues it, or (as "prev") ends it.
_ANY = "IOBESUL"
SCHEMES: dict[str, dict] = {
    "IOB1": {"allowed": "IOB",
             "start": [("O", "I", "any"), ("I", "I", "diff"), ("B", "I", "any"), ("I", "B", "same"), ("B", "B", "same")],
             "inside": [("B", "I", "same"), ("I", "I", "same")],
             "end": [("I", "I", "diff"), ("I", "O", "any"), ("I", "B", "any"), ("B", "O", "any"), ("B", "I", "diff"),
                     ("B", "B", "same")]},
    "IOE1": {"allowed": "IOE",
             "start": [("O", "I", "any"), ("I", "I", "diff"), ("E", "I", "any"), ("E", "E", "same")],
             "inside": [("I", "I", "same"), ("I", "E", "same")],
             "end": [("I", "I", "diff"), ("I", "O", "any"), ("I", "E", "diff"), ("E", "I", "same"), ("E", "E", "same")]},
    "IOB2": {"allowed": "IOB",
             "start": [(_ANY, "B", "any")],
             "inside": [("B", "I", "same"), ("I", "I", "same")],
             "end": [("I", "O", "any"), ("I", "I", "diff"), ("I", "B", "any"), ("B", "O", "any"), ("B", "I", "diff"),
                     ("B", "B", "any")]},
    "IOE2": {"allowed": "IOE",
             "start": [("O", "I", "any"), ("O", "E", "any"), ("E", "I", "any"), ("E", "E", "any"), ("I", "I", "diff"),
                       ("I", "E", "diff")],
             "inside": [("I", "E", "same"), ("I", "I", "same")],
             "end": [("E", _ANY, "any")]},
    "IOBES": {"allowed": "IOBES",
              "start": [(_ANY, "B", "any"), (_ANY, "S", "any")],
              "inside": [("B", "I", "same"), ("B", "E", "same"), ("I", "I", "same"), ("I", "E", "same")],
              "end": [("S", _ANY, "any"), ("E", _ANY, "any")]},
    "BILOU": {"allowed": "BILOU",
              "start": [(_ANY, "B", "any"), (_ANY, "U", "any")],
              "inside": [("B", "I", "same"), ("B", "L", "same"), ("I", "I", "same"), ("I", "L", "same")],
              "end": [("U", _ANY, "any"), ("L", _ANY, "any")]},
}


def _parse(token: str, suffix: bool, delimiter: str = "-") -> tuple[str, str]:
    prefix = token[-1] if suffix else token[0]
    if prefix not in _ANY:
        raise DataError(f"seqeval: invalid tag {token!r}: the prefix must be one of {list(_ANY)}")
    tag = (token[:-1] if suffix else token[1:]).strip(delimiter) or "_"
    return prefix, tag


def _matches(patterns, prev, cur) -> bool:
    for prev_prefixes, cur_prefixes, cond in patterns:
        if prev[0] in prev_prefixes and cur[0] in cur_prefixes:
            if cond == "any" or (cond == "same") == (prev[1] == cur[1]):
                return True
    return False


def strict_entities(sentence: list[str], scheme: str, suffix: bool, sent_id: int) -> list[tuple]:
    """(sent_id, type, start, end-exclusive) chunks that are well-formed under `scheme`."""
    rules = SCHEMES[scheme]
    tokens = [_parse(t, suffix) for t in sentence]
    for tok, raw in zip(tokens, sentence):
        if tok[0] not in rules["allowed"]:
            raise DataError(f"seqeval: invalid token {raw!r} for scheme {scheme}; allowed prefixes: {list(rules['allowed'])}")
    outside = ("O", "_")
    ext = tokens + [outside]
    entities, prev, i = [], outside, 0
    while i < len(ext):
        token = ext[i]
        if _matches(rules["start"], prev, token):
            # walk forward while tokens continue the chunk
            end, cur = len(tokens) - 1, token
            for j in range(i + 1, len(ext)):
                if _matches(rules["inside"], cur, ext[j]):
                    cur = ext[j]
                else:
                    end = j
                    break
            if _matches(rules["end"], ext[end - 1], ext[end]):
                entities.append((sent_id, token[1], i, end))
            i = end
        else:
            i += 1
        prev = ext[i - 1]
    return entities


def auto_detect_scheme(sequences, suffix: bool = False) -> str:
    """IOB2, IOE2, IOBES or BILOU from the set of prefixes used (as seqeval.scheme.auto_detect)."""
    prefixes = {_parse(t, suffix)[0] for seq in sequences for t in seq}
    for name in ("IOB2", "IOE2", "IOBES", "BILOU"):
        if _allowed(name, prefixes):
            return name
    raise DataError(f"seqeval: cannot detect the tagging scheme from prefixes {sorted(prefixes)}; pass scheme=...")


def _allowed(name: str, prefixes: set[str]) -> bool:
    # the prefix sets seqeval accepts for each scheme (a chunk-marking prefix must be present)
    table = {
        "IOB2": [set("IOB"), set("IB"), set("BO"), set("B")],
        "IOE2": [set("IOE"), set("IE"), set("EO"), set("E")],
        "IOBES": [set("IOBES"), set("IBES"), set("IOBE"), set("OBES"), set("IBE"), set("BES"), set("OBE"), set("BE"),
                  set("S")],
        "BILOU": [set("IOBLU"), set("IBLU"), set("IOBL"), set("OBLU"), set("IBL"), set("BLU"), set("OBL"), set("BL"),
                  set("U")],
    }
    return prefixes in table[name]


# ------------------------------------------------------------------ scores
def _divide(num, den, metric, modifier, average, zero_division):
    den = den.astype(np.float64)
    mask = den == 0.0
    result = num / np.where(mask, 1.0, den)
    if not mask.any():
        return result
    result[mask] = 0.0 if zero_division in ("warn", 0) else 1.0
    if zero_division == "warn":
        where = "due to" if len(result) == 1 else "in labels with"
        warnings.warn(f"{metric.title()} and F-score are ill-defined and being set to 0.0 {where} no {modifier} samples. "
                      "Use `zero_division` parameter to control this behavior.", UndefinedMetricWarning, stacklevel=4)
    return result


def _prf(tp, pred, true, average, zero_division):
    if average == "micro":
        tp, pred, true = np.array([tp.sum()]), np.array([pred.sum()]), np.array([true.sum()])
    precision = _divide(tp, pred, "precision", "predicted", average, zero_division)
    recall = _divide(tp, true, "recall", "true", average, zero_division)
    denom = precision + recall
    f1 = 2 * precision * recall / np.where(denom == 0.0, 1.0, denom)
    if average is None:
        return precision, recall, f1, true
    if average == "weighted":
        if true.sum() == 0:
            z = 0.0 if zero_division in ("warn", 0) else 1.0
            return (z if pred.sum() == 0 else 0.0), z, (z if pred.sum() == 0 else 0.0), int(true.sum())
        return (float(np.average(precision, weights=true)), float(np.average(recall, weights=true)),
                float(np.average(f1, weights=true)), int(true.sum()))
    return float(np.average(precision)), float(np.average(recall)), float(np.average(f1)), int(true.sum())


def _check(references, predictions):
    if len(references) != len(predictions):
        raise DataError(f"seqeval: got {len(predictions)} predicted and {len(references)} reference sentences")
    for i, (r, p) in enumerate(zip(references, predictions)):
        if isinstance(r, str) or isinstance(p, str):
            raise DataError(f"seqeval: predictions/references must be lists of tag lists; entry {i} is a string")
        if len(r) != len(p):
            raise DataError(f"seqeval: sentence {i} has {len(p)} predicted tags and {len(r)} reference tags")


def classification_report(references, predictions, *, suffix=False, mode=None, scheme=None, zero_division="warn"):
    """{type: {precision, recall, f1-score, support}, 'micro avg', 'macro avg', 'weighted avg'}."""
    _check(references, predictions)
    references = [list(s) for s in references]
    predictions = [list(s) for s in predictions]
    true_sets: dict[str, set] = defaultdict(set)
    pred_sets: dict[str, set] = defaultdict(set)
    if mode == "strict":
        if scheme is None:
            scheme = auto_detect_scheme(references, suffix)
        for side, sets in ((references, true_sets), (predictions, pred_sets)):
            for sid, sentence in enumerate(side):
                for sent_id, type_, start, end in strict_entities(sentence, scheme, suffix, sid):
                    sets[type_].add((sent_id, start, end))
    elif mode is None or mode == "default":
        for type_, start, end in get_entities(references, suffix):
            true_sets[type_].add((start, end))
        for type_, start, end in get_entities(predictions, suffix):
            pred_sets[type_].add((start, end))
    else:
        raise DataError(f"seqeval: mode={mode!r}; expected None (conlleval-compatible) or 'strict'")
    names = sorted(set(true_sets) | set(pred_sets))
    tp = np.array([len(true_sets[n] & pred_sets[n]) for n in names], dtype=np.int64)
    pred = np.array([len(pred_sets[n]) for n in names], dtype=np.int64)
    true = np.array([len(true_sets[n]) for n in names], dtype=np.int64)
    report = {}
    p, r, f, s = _prf(tp, pred, true, None, zero_division)
    for i, n in enumerate(names):
        report[n] = {"precision": float(p[i]), "recall": float(r[i]), "f1-score": float(f[i]), "support": int(s[i])}
    for average in ("micro", "macro", "weighted"):
        p, r, f, s = _prf(tp, pred, true, average, zero_division)
        report[f"{average} avg"] = {"precision": float(p), "recall": float(r), "f1-score": float(f), "support": s}
    return report


def token_accuracy(references, predictions) -> float:
    """Fraction of tokens whose tag is right (all sentences flattened)."""
    flat_true = [t for s in references for t in s]
    flat_pred = [t for s in predictions for t in s]
    if not flat_true:
        raise DataError("seqeval: no tags to score (all sentences are empty)")
    return sum(a == b for a, b in zip(flat_true, flat_pred)) / len(flat_true)


class Seqeval(EvaluationModule):
    """{type: {precision, recall, f1, number}, overall_precision/recall/f1/accuracy}."""

    name = "seqeval"
    description = "Entity-level precision, recall and F1 for sequence labelling (conlleval-compatible)."

    def _compute(self, predictions, references, suffix=False, scheme=None, mode=None, sample_weight=None,
                 zero_division="warn"):
        if scheme is not None:
            scheme = getattr(scheme, "__name__", scheme)
            if scheme not in SCHEMES:
                raise DataError(f"seqeval: scheme should be one of {list(SCHEMES)}, got {scheme!r}")
        # sample_weight is accepted for evaluate compatibility; seqeval ignores it for these averages
        report = classification_report(references, predictions, suffix=suffix, mode=mode, scheme=scheme,
                                       zero_division=zero_division)
        report.pop("macro avg")
        report.pop("weighted avg")
        overall = report.pop("micro avg")
        scores = {name: {"precision": s["precision"], "recall": s["recall"], "f1": s["f1-score"], "number": s["support"]}
                  for name, s in report.items()}
        scores["overall_precision"] = overall["precision"]
        scores["overall_recall"] = overall["recall"]
        scores["overall_f1"] = overall["f1-score"]
        scores["overall_accuracy"] = token_accuracy(references, predictions)
        return scores


class Poseval(EvaluationModule):
    """Token-level classification report over flattened tags (evaluate's poseval)."""

    name = "poseval"
    description = "Per-tag precision, recall and F1 over all tokens (part-of-speech tagging)."

    def _compute(self, predictions, references, zero_division="warn"):
        from snuggle.metrics.classification import precision_recall_fscore

        _check(references, predictions)
        y_true = [t for s in references for t in s]
        y_pred = [t for s in predictions for t in s]
        labels = sorted(set(y_true) | set(y_pred))
        p, r, f = precision_recall_fscore(y_true, y_pred, labels=labels, average=None, zero_division=zero_division)
        support = [sum(1 for t in y_true if t == lab) for lab in labels]
        report = {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1-score": float(f[i]),
                        "support": support[i]} for i, lab in enumerate(labels)}
        report["accuracy"] = sum(a == b for a, b in zip(y_true, y_pred)) / len(y_true)
        for average in ("macro", "weighted"):
            ap, ar, af = precision_recall_fscore(y_true, y_pred, labels=labels, average=average,
                                                 zero_division=zero_division)
            report[f"{average} avg"] = {"precision": ap, "recall": ar, "f1-score": af, "support": len(y_true)}
        return report
