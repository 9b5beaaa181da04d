"""Test inputs shared by parity tests: lines of the shared corpora and a set of hard strings."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from tests.conftest import DATASETS

HARD_STRINGS = [
    "",
    " ",
    "   ",
    "\n",
    "\n\n\n",
    "\t",
    " \t \n ",
    "a",
    "Hello world",
    " Hello world",
    "Hello  world  ",
    "hello\nworld\r\nagain\rend",
    "I'm don't you'll we've they're she'd it's I'M DON'T",
    "ünïcödé çàfé naïve résumé",
    "e\u0301 a\u0300 combining: n\u0303o",
    "日本語のテキストです。中文文本。한국어 텍스트",
    "emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵",
    "control\u0000chars\u0001\u0002\u007f and zero\u200bwidth\u200d joiners",
    "numbers 1234567 3.14159 1,000,000 ١٢٣ ½",
    "punctuation!!! ??? ... --- (brackets) [x] {y} <z> @#$%^&*",
    "https://example.com/path?query=1&b=2 user@mail.org",
    "a" * 300,
    "supercalifragilisticexpialidocious" * 10,
    "    leading spaces and trailing spaces    ",
    "mixed\u00a0no-break\u2003em\u3000ideographic spaces",
    "Ελληνικά Русский עברית العربية हिन्दी ไทย",
    "tab\tseparated\tvalues\t",
    "<|endoftext|> special <s> </s> [CLS] [SEP] [MASK] <unk>",
    "x" + " " * 50 + "y",
    "line1\n\n  line2 \n",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 ﬁ ligature Ⅻ ㍻",
    "A\u0308\u0304 Z\u0336\u0336",
    "\ufeffBOM at start",
    "don''t 's 'S 're 'RE",
]


def _lines(path: Path, n: int, min_len: int = 1) -> list[str]:
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if len(line) >= min_len:
                out.append(line)
            if len(out) >= n:
                break
    return out


def corpus_lines(n_per_source: int = 200, seed: int = 0) -> list[str]:
    """Lines from SST-2, wikitext-2, tinyshakespeare and TinyStories (deterministic sample)."""
    lines: list[str] = []
    with open(DATASETS / "sst2" / "train.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    rng = random.Random(seed)
    lines += [r[0] for r in rng.sample(rows, n_per_source)]
    wiki = (DATASETS / "wikitext2" / "wiki.test.raw").read_text(encoding="utf-8").split("\n")
    lines += wiki[:n_per_source]
    shakes = (DATASETS / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8").split("\n\n")
    lines += shakes[:n_per_source]
    stories = (DATASETS / "tinystories" / "tinystories_train_head_2MiB.txt").read_text(encoding="utf-8").split("<|endoftext|>")
    lines += [s.strip("\n") for s in stories[:n_per_source]]
    return lines


def all_inputs(n_per_source: int = 200) -> list[str]:
    return corpus_lines(n_per_source) + HARD_STRINGS
