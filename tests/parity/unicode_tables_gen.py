"""Regenerate snuggle/tokenizers/unicode_tables.py by measuring the reference `tokenizers`.

Not a test (no test_ prefix): run `python tests/parity/unicode_tables_gen.py` (about a
minute). For every code point it compares our `unicodedata`-based rule (char_classes.base_*)
with what the reference library does, and writes the differences as range lists.
"""

from __future__ import annotations

import pprint
import sys
import unicodedata
from pathlib import Path

from tokenizers import normalizers as N
from tokenizers import pre_tokenizers as P

from snuggle.tokenizers import char_classes as cc
from snuggle.tokenizers import unicode_scripts as us

OUT = Path(__file__).resolve().parents[2] / "snuggle" / "tokenizers" / "unicode_tables.py"
CODEPOINTS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def to_ranges(cps):
    out = []
    for c in sorted(cps):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return [tuple(r) for r in out]


def split_diff(ref_pred, base_pred):
    extra, missing = [], []
    for c in CODEPOINTS:
        ch = chr(c)
        r, b = ref_pred(ch), base_pred(ch)
        if r and not b:
            extra.append(c)
        elif b and not r:
            missing.append(c)
    return (to_ranges(extra), to_ranges(missing))


def main():
    clean = N.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    chinese = N.BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    bert_strip = N.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    strip_acc = N.StripAccents()
    punct = P.Punctuation()
    digits = P.Digits(individual_digits=True)
    lower = N.Lowercase()
    nfd, nfkd = N.NFD(), N.NFKD()

    tables = {}
    tables["CONTROL_EXCEPTIONS"] = split_diff(
        # NUL and U+FFFD are removed by their own rule, so they say nothing about "control".
        lambda ch: clean.normalize_str(ch) == "" if ch not in "\x00\ufffd" else cc.base_is_control(ch),
        cc.base_is_control,
    )
    tables["PUNCTUATION_EXCEPTIONS"] = split_diff(
        lambda ch: len(punct.pre_tokenize_str("a" + ch + "a")) == 3, cc.base_is_punctuation
    )
    tables["NUMERIC_EXCEPTIONS"] = split_diff(
        lambda ch: len(digits.pre_tokenize_str("a" + ch + "a")) == 3, cc.base_is_numeric
    )
    tables["MARK_EXCEPTIONS"] = split_diff(lambda ch: strip_acc.normalize_str(ch) == "", cc.base_is_mark)
    # Only chars without a decomposition tell us about Mn directly.
    tables["NONSPACING_MARK_EXCEPTIONS"] = split_diff(
        lambda ch: bert_strip.normalize_str(ch) == "" if not unicodedata.decomposition(ch) else cc.base_is_nonspacing_mark(ch),
        cc.base_is_nonspacing_mark,
    )
    tables["LOWERCASE_EXCEPTIONS"] = {
        c: lower.normalize_str(chr(c)) for c in CODEPOINTS if lower.normalize_str(chr(c)) != chr(c).lower()
    }
    no_canon, no_compat = [], []
    for c in CODEPOINTS:
        ch = chr(c)
        for ref, form, bucket in ((nfd, "NFD", no_canon), (nfkd, "NFKD", no_compat)):
            r, p = ref.normalize_str(ch), unicodedata.normalize(form, ch)
            if r != p:
                if r != ch:
                    sys.exit(f"unexpected {form} difference at U+{c:04X}: ref {r!r} python {p!r}")
                bucket.append(c)
    tables["NO_CANONICAL_DECOMPOSITION"] = to_ranges(no_canon)
    tables["NO_COMPATIBILITY_DECOMPOSITION"] = to_ranges(no_compat)

    bad_chinese = [c for c in CODEPOINTS if (chinese.normalize_str(chr(c)) != chr(c)) != cc.is_chinese_char(chr(c))]
    if bad_chinese:
        sys.exit(f"is_chinese_char disagrees at {[hex(c) for c in bad_chinese[:10]]}")

    # Scripts: the reference only shows whether two chars share a script.
    scripts = P.UnicodeScripts()

    def same(a: str, b: str) -> bool:
        return len(scripts.pre_tokenize_str(a + b)) == 1

    def ref_is_any(ch: str) -> bool:
        return len(scripts.pre_tokenize_str("a" + ch + "a")) == 1 and len(scripts.pre_tokenize_str("\u03b1" + ch + "\u03b1")) == 1

    reps: dict[str, str] = {}
    exceptions = []
    for c in CODEPOINTS:
        ch = chr(c)
        if ch in (" ", "\u30fc"):
            continue
        ours = us._raw_runs(ch)[0][2]
        fixed = "Han" if ours in ("Hiragana", "Katakana") else ours
        if ref_is_any(ch):
            if fixed != "Any":
                exceptions.append((c, "Any"))
            continue
        if fixed == "Any":
            found = next((name for name, rep in reps.items() if same(rep, ch)), None)
            exceptions.append((c, found or f"Unknown{c:X}"))
            continue
        if fixed not in reps:
            reps[fixed] = ch
            continue
        if not same(reps[fixed], ch):
            found = next((name for name, rep in reps.items() if same(rep, ch)), None)
            exceptions.append((c, found or f"Unknown{c:X}"))
    merged = []
    for c, name in exceptions:
        if merged and merged[-1][1] == c - 1 and merged[-1][2] == name:
            merged[-1][1] = c
        else:
            merged.append([c, c, name])
    tables["SCRIPT_EXCEPTIONS"] = [tuple(m) for m in merged]

    lines = [
        '"""Unicode-version differences between Python\'s unicodedata/regex and the reference',
        "`tokenizers` library, measured per code point. GENERATED by",
        "tests/parity/unicode_tables_gen.py - do not edit by hand.",
        "",
        "Pairs are (extra, missing): ranges (first, last) where the reference says yes and our",
        'unicodedata rule says no, and the other way round."""',
        "",
    ]
    for name, value in tables.items():
        lines.append(f"{name} = " + pprint.pformat(value, width=100, compact=True))
        lines.append("")
    OUT.write_text("\n".join(lines))
    print({k: (len(v) if not isinstance(v, tuple) else (len(v[0]), len(v[1]))) for k, v in tables.items()})


if __name__ == "__main__":
    main()
