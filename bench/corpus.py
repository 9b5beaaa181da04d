"""Benchmark text: the shared corpora concatenated (deterministic), cut to a size in bytes."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("SNUGGLE_SHARED", REPO.parent / "shared")) / "datasets"

SOURCES = [
    "tinystories/tinystories_train_head_2MiB.txt",
    "tinyshakespeare/input.txt",
    "wikitext2/wiki.test.raw",
    "wikitext2/wiki.valid.tokens",
    "sst2/train.tsv",
    "imdb/train.csv",
    "llamafactory/wiki_demo.txt",
    "sentencepiece/botchan.txt",
    "conll2003/train.txt",
]


def corpus_text(n_bytes: int) -> str:
    """At least `n_bytes` of UTF-8 text (sources repeated if needed), cut at a line end."""
    parts: list[str] = []
    total = 0
    while total < n_bytes:
        for src in SOURCES:
            t = (DATASETS / src).read_text(encoding="utf-8")
            parts.append(t)
            total += len(t.encode("utf-8"))
            if total >= n_bytes:
                break
    text = "".join(parts)
    data = text.encode("utf-8")[:n_bytes]
    text = data.decode("utf-8", errors="ignore")
    return text[: text.rfind("\n") + 1] if "\n" in text else text


def corpus_lines(n_bytes: int) -> list[str]:
    return [line for line in corpus_text(n_bytes).split("\n") if line]
