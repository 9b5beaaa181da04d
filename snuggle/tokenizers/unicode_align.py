"""Unicode normalization (NFD, NFKD, NFC, NFKC) that reports how each output char aligns.

`NormalizedString.transform` consumes a stream of (char, change) pairs: change 0 means
"this char replaces the next input char", 1 means "this char is inserted (aligned like
the previous one)", -N means "this char replaces the next input char and the N after it
are removed". The reference produces that stream with the unicode-normalization-alignments
crate, and we reproduce its bookkeeping exactly so offsets map back the same way:

* decomposition: each input char becomes its full decomposition; the first char of it
  has change 0 and the others 1. Runs of combining marks (ccc > 0) are then stably sorted
  by combining class, and each (char, change) pair moves as a unit.
* composition (NFC/NFKC) runs on that decomposed stream with the standard algorithm
  (a mark composes with the last starter unless blocked); when starter S (change s)
  absorbs char C (change c), the composite carries change s + c - 1.

>>> nfd_changes("é")
[('e', 0), ('́', 1)]
>>> nfc_changes("e\\u0301")
[('é', -1)]
"""

from __future__ import annotations

import unicodedata
from typing import Iterable

from snuggle.tokenizers.unicode_tables import NO_CANONICAL_DECOMPOSITION, NO_COMPATIBILITY_DECOMPOSITION

Change = tuple[str, int]

# Chars the reference's (older) Unicode tables do not decompose.
_KEEP_CANONICAL = frozenset(chr(c) for a, b in NO_CANONICAL_DECOMPOSITION for c in range(a, b + 1))
_KEEP_COMPAT = frozenset(chr(c) for a, b in NO_COMPATIBILITY_DECOMPOSITION for c in range(a, b + 1))

# Hangul syllable arithmetic (Unicode ch. 3.12).
_S_BASE, _L_BASE, _V_BASE, _T_BASE = 0xAC00, 0x1100, 0x1161, 0x11A7
_L_COUNT, _V_COUNT, _T_COUNT = 19, 21, 28
_N_COUNT = _V_COUNT * _T_COUNT
_S_COUNT = _L_COUNT * _N_COUNT

_combining = unicodedata.combining
_COMPOSITIONS: dict[tuple[str, str], str] | None = None


def _composition_table() -> dict[tuple[str, str], str]:
    """(first, second) -> primary composite, built once from unicodedata (excludes
    singletons and composition exclusions: a pair whose NFC is not the composite)."""
    global _COMPOSITIONS
    if _COMPOSITIONS is None:
        table: dict[tuple[str, str], str] = {}
        for cp in range(0xC0, 0x30000):
            decomp = unicodedata.decomposition(chr(cp))
            if not decomp or decomp.startswith("<"):
                continue
            parts = decomp.split()
            if len(parts) != 2:
                continue
            ch = chr(cp)
            if ch in _KEEP_CANONICAL:
                continue
            a, b = chr(int(parts[0], 16)), chr(int(parts[1], 16))
            if unicodedata.normalize("NFC", a + b) == ch:
                table[(a, b)] = ch
        _COMPOSITIONS = table
    return _COMPOSITIONS


def compose_pair(a: str, b: str) -> str | None:
    """The primary composite of a + b, or None."""
    la, lb = ord(a), ord(b)
    if _L_BASE <= la < _L_BASE + _L_COUNT and _V_BASE <= lb < _V_BASE + _V_COUNT:
        return chr(_S_BASE + ((la - _L_BASE) * _V_COUNT + (lb - _V_BASE)) * _T_COUNT)
    if (
        _S_BASE <= la < _S_BASE + _S_COUNT
        and (la - _S_BASE) % _T_COUNT == 0
        and _T_BASE < lb < _T_BASE + _T_COUNT
    ):
        return chr(la + lb - _T_BASE)
    return _composition_table().get((a, b))


def _decompose_char(ch: str, compat: bool) -> str:
    if ch < "\u00c0":
        # Nothing below U+00A0 decomposes; A0..BF only under compatibility.
        if not compat or ch < "\u00a0":
            return ch
    if compat:
        return ch if ch in _KEEP_COMPAT else unicodedata.normalize("NFKD", ch)
    return ch if ch in _KEEP_CANONICAL else unicodedata.normalize("NFD", ch)


def decompose_changes(text: str, compat: bool) -> list[Change]:
    """NFD (compat=False) or NFKD (compat=True) of `text` as (char, change) pairs."""
    out: list[Change] = []
    pending_start = 0  # start of the current run of combining marks in `out`
    for ch in text:
        decomp = _decompose_char(ch, compat)
        for i, d in enumerate(decomp):
            if _combining(d) == 0:
                _sort_marks(out, pending_start)
                out.append((d, 0 if i == 0 else 1))
                pending_start = len(out)
            else:
                out.append((d, 0 if i == 0 else 1))
    _sort_marks(out, pending_start)
    return out


def _sort_marks(out: list[Change], start: int) -> None:
    if len(out) - start > 1:
        out[start:] = sorted(out[start:], key=lambda item: _combining(item[0]))


def compose_changes(decomposed: Iterable[Change]) -> list[Change]:
    """Canonical composition of a decomposed (char, change) stream."""
    out: list[list] = []
    starter: int | None = None  # index in `out` of the last starter
    last_ccc: int | None = None  # ccc of the last uncomposed char after the starter
    for ch, change in decomposed:
        ccc = _combining(ch)
        if starter is None:
            out.append([ch, change])
            if ccc == 0:
                starter = len(out) - 1
            continue
        if last_ccc is None or last_ccc < ccc:
            composite = compose_pair(out[starter][0], ch)
            if composite is not None:
                out[starter] = [composite, out[starter][1] + change - 1]
                continue
        if ccc == 0:
            starter = len(out)
            last_ccc = None
        else:
            last_ccc = ccc
        out.append([ch, change])
    return [(c, n) for c, n in out]


def nfd_changes(text: str) -> list[Change]:
    return decompose_changes(text, compat=False)


def nfkd_changes(text: str) -> list[Change]:
    return decompose_changes(text, compat=True)


def nfc_changes(text: str) -> list[Change]:
    return compose_changes(decompose_changes(text, compat=False))


def nfkc_changes(text: str) -> list[Change]:
    return compose_changes(decompose_changes(text, compat=True))


_CHANGES = {"NFD": nfd_changes, "NFKD": nfkd_changes, "NFC": nfc_changes, "NFKC": nfkc_changes}


def needs_normalization(text: str, form: str) -> bool:
    """False when `form` would leave `text` unchanged (so alignments stay as they are)."""
    if text.isascii():
        return False
    if not unicodedata.is_normalized(form, text):
        return True
    # unicodedata says normalized; the reference's older tables can only decompose less,
    # so a normalized text is normalized for it too.
    return False


def normalization_changes(text: str, form: str) -> list[Change]:
    """(char, change) stream turning `text` into its `form` normalization."""
    return _CHANGES[form](text)
