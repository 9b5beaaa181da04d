"""Shared inputs for the metric tests: real labels and tags from ../shared/datasets."""

from __future__ import annotations

import csv
import json

import pytest

from tests.conftest import DATASETS


@pytest.fixture(scope="session")
def sst2_labels() -> list[int]:
    with open(DATASETS / "sst2" / "dev.tsv", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [int(r[1]) for r in rows[1:]]


@pytest.fixture(scope="session")
def conll_tags() -> list[list[str]]:
    """NER tag sequences of the CoNLL-2003 validation file (IOB2)."""
    sentences, current = [], []
    for line in (DATASETS / "conll2003" / "valid.txt").read_text().splitlines():
        if not line.strip() or line.startswith("-DOCSTART-"):
            if current:
                sentences.append(current)
                current = []
            continue
        current.append(line.split()[-1])
    if current:
        sentences.append(current)
    return sentences


@pytest.fixture(scope="session")
def squad_questions() -> list[dict]:
    data = json.loads((DATASETS / "squad" / "dev-v1.1.json").read_text())["data"]
    out = []
    for article in data:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                out.append({"id": qa["id"], "context": para["context"],
                            "answers": [a["text"] for a in qa["answers"]],
                            "starts": [a["answer_start"] for a in qa["answers"]]})
    return out


@pytest.fixture(scope="session")
def wikitext_lines() -> list[str]:
    lines = (DATASETS / "wikitext2" / "wiki.test.raw").read_text().splitlines()
    return [line.strip() for line in lines if len(line.strip()) > 20]
