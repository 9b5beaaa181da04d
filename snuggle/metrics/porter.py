"""The Porter stemmer, as NLTK's PorterStemmer in its default NLTK_EXTENSIONS mode.

rouge_score stems with exactly that stemmer (use_stemmer=True), so ROUGE numbers only match if
every rule and quirk matches: the irregular-forms table, the 'ies'/'ied' shortcuts for 4-letter
words, the 2-letter cvc extension and the 'logi' condition. Steps follow Porter (1980).

>>> stem("running"), stem("ponies"), stem("generalizations")
('run', 'poni', 'gener')
"""

from __future__ import annotations

from functools import lru_cache

_VOWELS = frozenset("aeiou")
_IRREGULAR = {
    "sky": "sky", "skies": "sky", "dying": "die", "lying": "lie", "tying": "tie", "news": "news",
    "innings": "inning", "inning": "inning", "outings": "outing", "outing": "outing",
    "cannings": "canning", "canning": "canning", "howe": "howe", "proceed": "proceed",
    "exceed": "exceed", "succeed": "succeed",
}


def _is_consonant(word: str, i: int) -> bool:
    if word[i] in _VOWELS:
        return False
    if word[i] == "y":
        # a 'y' is a consonant after a vowel; runs of y's alternate
        negate = False
        while i > 0 and word[i] == "y":
            negate = not negate
            i -= 1
        return (word[i] not in _VOWELS) != negate
    return True


def _consonant_flags(word: str) -> list[bool]:
    flags: list[bool] = []
    for i, ch in enumerate(word):
        if ch in _VOWELS:
            flags.append(False)
        elif ch == "y":
            flags.append(True if i == 0 else not flags[i - 1])
        else:
            flags.append(True)
    return flags


def _measure(stem: str) -> int:
    """m in [C](VC)^m[V]: the number of vowel->consonant transitions."""
    seq = "".join("c" if c else "v" for c in _consonant_flags(stem))
    return seq.count("vc")


def _contains_vowel(stem: str) -> bool:
    return not all(_consonant_flags(stem))


def _ends_double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _is_consonant(word, len(word) - 1)


def _ends_cvc(word: str) -> bool:
    if (len(word) >= 3 and _is_consonant(word, len(word) - 3) and not _is_consonant(word, len(word) - 2)
            and _is_consonant(word, len(word) - 1) and word[-1] not in "wxy"):
        return True
    # NLTK extension: a two-letter vowel+consonant word counts as cvc
    return len(word) == 2 and not _is_consonant(word, 0) and _is_consonant(word, 1)


def _apply_rules(word: str, rules) -> str:
    """The first rule whose suffix matches decides: replace if its condition holds, else keep the word."""
    for suffix, replacement, condition in rules:
        if suffix == "*d" and _ends_double_consonant(word):
            stem = word[:-2]
            return stem + replacement if condition is None or condition(stem) else word
        if word.endswith(suffix):
            stem = word[: len(word) - len(suffix)]
            return stem + replacement if condition is None or condition(stem) else word
    return word


def _positive(stem: str) -> bool:
    return _measure(stem) > 0


def _step1a(word: str) -> str:
    if word.endswith("ies") and len(word) == 4:
        return word[:-3] + "ie"
    return _apply_rules(word, [("sses", "ss", None), ("ies", "i", None), ("ss", "ss", None), ("s", "", None)])


def _step1b(word: str) -> str:
    if word.endswith("ied"):
        return word[:-3] + ("ie" if len(word) == 4 else "i")
    if word.endswith("eed"):
        stem = word[:-3]
        return stem + "ee" if _measure(stem) > 0 else word
    for suffix in ("ed", "ing"):
        if word.endswith(suffix) and _contains_vowel(word[: -len(suffix)]):
            inter = word[: -len(suffix)]
            break
    else:
        return word
    return _apply_rules(inter, [
        ("at", "ate", None),
        ("bl", "ble", None),
        ("iz", "ize", None),
        ("*d", inter[-1], lambda stem: inter[-1] not in "lsz"),
        ("", "e", lambda stem: _measure(stem) == 1 and _ends_cvc(stem)),
    ])


def _step1c(word: str) -> str:
    return _apply_rules(word, [("y", "i", lambda stem: len(stem) > 1 and _is_consonant(stem, len(stem) - 1))])


def _step2(word: str) -> str:
    if word.endswith("alli") and _positive(word[:-4]):
        return _step2(word[:-4] + "al")
    rules = [
        ("ational", "ate", _positive), ("tional", "tion", _positive), ("enci", "ence", _positive),
        ("anci", "ance", _positive), ("izer", "ize", _positive), ("bli", "ble", _positive),
        ("alli", "al", _positive), ("entli", "ent", _positive), ("eli", "e", _positive),
        ("ousli", "ous", _positive), ("ization", "ize", _positive), ("ation", "ate", _positive),
        ("ator", "ate", _positive), ("alism", "al", _positive), ("iveness", "ive", _positive),
        ("fulness", "ful", _positive), ("ousness", "ous", _positive), ("aliti", "al", _positive),
        ("iviti", "ive", _positive), ("biliti", "ble", _positive), ("fulli", "ful", _positive),
        # NLTK tests the measure of the word minus its last three letters here
        ("logi", "log", lambda stem: _positive(word[:-3])),
    ]
    return _apply_rules(word, rules)


def _step3(word: str) -> str:
    return _apply_rules(word, [
        ("icate", "ic", _positive), ("ative", "", _positive), ("alize", "al", _positive),
        ("iciti", "ic", _positive), ("ical", "ic", _positive), ("ful", "", _positive), ("ness", "", _positive),
    ])


def _step4(word: str) -> str:
    def gt1(stem: str) -> bool:
        return _measure(stem) > 1

    return _apply_rules(word, [
        ("al", "", gt1), ("ance", "", gt1), ("ence", "", gt1), ("er", "", gt1), ("ic", "", gt1),
        ("able", "", gt1), ("ible", "", gt1), ("ant", "", gt1), ("ement", "", gt1), ("ment", "", gt1),
        ("ent", "", gt1), ("ion", "", lambda stem: _measure(stem) > 1 and stem[-1] in "st"),
        ("ou", "", gt1), ("ism", "", gt1), ("ate", "", gt1), ("iti", "", gt1), ("ous", "", gt1),
        ("ive", "", gt1), ("ize", "", gt1),
    ])


def _step5a(word: str) -> str:
    if word.endswith("e"):
        stem = word[:-1]
        m = _measure(stem)
        if m > 1 or (m == 1 and not _ends_cvc(stem)):
            return stem
    return word


def _step5b(word: str) -> str:
    return _apply_rules(word, [("ll", "l", lambda stem: _measure(word[:-1]) > 1)])


@lru_cache(maxsize=2**16)
def stem(word: str) -> str:
    """Porter stem of `word` (lower-cased first)."""
    w = word.lower()
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if len(word) <= 2:
        return w
    for step in (_step1a, _step1b, _step1c, _step2, _step3, _step4, _step5a, _step5b):
        w = step(w)
    return w
