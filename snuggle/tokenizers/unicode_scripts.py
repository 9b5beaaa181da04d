"""Unicode script of each character, as the UnicodeScripts pre-tokenizer sees it.

The reference splits text where the Unicode script changes, with a script table generated
long ago from an old Unicode version (SentencePiece's `gen_unicode_scripts_code.pl`): it
knows about 140 scripts; any character it does not list is script "Any" (never causes a
split). We derive the table at run time from the `regex` module's `\\p{Script=...}`
restricted to those 140 scripts, then apply `SCRIPT_EXCEPTIONS` (characters that an older
Unicode did not have or filed differently), which were measured against the reference.

>>> script_runs("どこ Where")
[(0, 2, 'Han'), (2, 3, 'Any'), (3, 8, 'Latin')]
"""

from __future__ import annotations

import bisect
from functools import lru_cache

import regex

from snuggle.tokenizers.unicode_tables import SCRIPT_EXCEPTIONS

# The scripts the reference table knows (Unicode 9 era). Newer scripts are "Any" there.
KNOWN_SCRIPTS = (
    "Adlam Ahom AnatolianHieroglyphs Arabic Armenian Avestan Balinese Bamum BassaVah Batak "
    "Bengali Bhaiksuki Bopomofo Brahmi Braille Buginese Buhid CanadianAboriginal Carian "
    "CaucasianAlbanian Chakma Cham Cherokee Common Coptic Cuneiform Cypriot Cyrillic Deseret "
    "Devanagari Duployan EgyptianHieroglyphs Elbasan Ethiopic Georgian Glagolitic Gothic Grantha "
    "Greek Gujarati Gurmukhi Han Hangul Hanunoo Hatran Hebrew Hiragana ImperialAramaic Inherited "
    "InscriptionalPahlavi InscriptionalParthian Javanese Kaithi Kannada Katakana KayahLi "
    "Kharoshthi Khmer Khojki Khudawadi Lao Latin Lepcha Limbu LinearA LinearB Lisu Lycian Lydian "
    "Mahajani Malayalam Mandaic Manichaean Marchen MeeteiMayek MendeKikakui MeroiticCursive "
    "MeroiticHieroglyphs Miao Modi Mongolian Mro Multani Myanmar Nabataean NewTaiLue Newa Nko "
    "Ogham OlChiki OldHungarian OldItalic OldNorthArabian OldPermic OldPersian OldSouthArabian "
    "OldTurkic Oriya Osage Osmanya PahawhHmong Palmyrene PauCinHau PhagsPa Phoenician "
    "PsalterPahlavi Rejang Runic Samaritan Saurashtra Sharada Shavian Siddham SignWriting Sinhala "
    "SoraSompeng Sundanese SylotiNagri Syriac Tagalog Tagbanwa TaiLe TaiTham TaiViet Takri Tamil "
    "Tangut Telugu Thaana Thai Tibetan Tifinagh Tirhuta Ugaritic Vai WarangCiti Yi"
).split()

_RUNS = regex.compile("|".join(rf"(\p{{Script={name}}}+)" for name in KNOWN_SCRIPTS))
_EXC_STARTS = [start for start, _end, _name in SCRIPT_EXCEPTIONS]


def _raw_runs(text: str) -> list[tuple[int, int, str]]:
    """(start, end, script) runs from the regex module alone (unknown chars -> 'Any')."""
    out: list[tuple[int, int, str]] = []
    prev = 0
    for m in _RUNS.finditer(text):
        s, e = m.span()
        if s > prev:
            out.append((prev, s, "Any"))
        out.append((s, e, KNOWN_SCRIPTS[m.lastindex - 1]))
        prev = e
    if prev < len(text):
        out.append((prev, len(text), "Any"))
    return out


def _exception_for(cp: int) -> str | None:
    i = bisect.bisect_right(_EXC_STARTS, cp) - 1
    if i >= 0:
        start, end, name = SCRIPT_EXCEPTIONS[i]
        if start <= cp <= end:
            return name
    return None


@lru_cache(maxsize=65536)
def raw_script(ch: str) -> str:
    """The reference table's script for one char ('Any' if the table does not list it).

    >>> raw_script("a"), raw_script("か"), raw_script("1")
    ('Latin', 'Hiragana', 'Common')
    """
    exc = _exception_for(ord(ch))
    if exc is not None:
        return exc
    return _raw_runs(ch)[0][2]


def fixed_script(ch: str) -> str:
    """Script used for splitting: kana count as Han (as SentencePiece does), the
    prolonged sound mark U+30FC is Han, and the plain space is 'Any'.

    >>> fixed_script("カ"), fixed_script(" ")
    ('Han', 'Any')
    """
    if ch == "\u30fc":
        return "Han"
    if ch == " ":
        return "Any"
    script = raw_script(ch)
    if script in ("Hiragana", "Katakana"):
        return "Han"
    return script


def script_runs(text: str) -> list[tuple[int, int, str]]:
    """Cut `text` into maximal (start, end, fixed script) runs."""
    out: list[tuple[int, int, str]] = []
    for i, ch in enumerate(text):
        script = fixed_script(ch)
        if out and out[-1][2] == script:
            out[-1] = (out[-1][0], i + 1, script)
        else:
            out.append((i, i + 1, script))
    return out
