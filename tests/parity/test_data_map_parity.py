"""map / filter parity with `datasets` on SST-2, IMDB and CoNLL-2003: same rows, same Arrow schema.

Both libraries get the same Python columns (parsed here, independent of the loaders), run the
same function with the same options, and must produce equal `to_dict()` output, equal Arrow
column types and equal features JSON.
"""

from __future__ import annotations

import csv
import os
import re

import datasets as ref
import pytest

from snuggle.data.arrow_dataset import Dataset
from snuggle.data.features import Features

DATA = "/work/shared/datasets"
NER = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


@pytest.fixture(autouse=True, scope="module")
def _quiet():
    os.environ["SNUGGLE_DISABLE_PROGRESS_BARS"] = "1"
    ref.disable_progress_bars()
    yield


def read_sst2(limit=3000):
    with open(f"{DATA}/sst2/train.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:limit]
    return {"sentence": [r["sentence"] for r in rows], "label": [int(r["label"]) for r in rows]}


def read_imdb():
    with open(f"{DATA}/imdb/train.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return {"review": [r["review"] for r in rows], "sentiment": [int(r["sentiment"]) for r in rows]}


def read_conll(limit=2000):
    sentences, tokens, tags = [], [], []
    with open(f"{DATA}/conll2003/train.txt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                if tokens:
                    sentences.append((tokens, tags))
                    tokens, tags = [], []
                continue
            word, _, _, tag = line.split(" ")
            tokens.append(word)
            tags.append(NER.index(tag))
    if tokens:
        sentences.append((tokens, tags))
    sentences = sentences[:limit]
    return {"id": [str(i) for i in range(len(sentences))], "tokens": [s[0] for s in sentences],
            "ner_tags": [s[1] for s in sentences]}


def both(columns, features_json=None):
    """The same data in snuggle and in the reference (features given as datasets-5 JSON)."""
    if features_json is None:
        return Dataset.from_dict(columns), ref.Dataset.from_dict(columns)
    ours = Dataset.from_dict(columns, features=Features.from_dict(features_json))
    theirs = ref.Dataset.from_dict(columns, features=ref.Features.from_dict(features_json))
    return ours, theirs


def assert_same(ours, theirs):
    assert ours.column_names == theirs.column_names
    assert ours.num_rows == theirs.num_rows
    assert ours.data.schema.types == theirs.data.schema.types, (ours.data.schema, theirs.data.schema)
    assert ours.features.to_dict() == theirs.features.to_dict()
    assert ours.to_dict() == theirs.to_dict()


def run_both(ours, theirs, method, *args, **kwargs):
    a = getattr(ours, method)(*args, **kwargs)
    b = getattr(theirs, method)(*args, **kwargs)
    assert_same(a, b)
    return a, b


# ------------------------------------------------------------------------------------------ SST-2

SST2_FEATURES = {"sentence": {"dtype": "string", "_type": "Value"},
                 "label": {"names": ["negative", "positive"], "_type": "ClassLabel"}}


@pytest.fixture(scope="module")
def sst2():
    return both(read_sst2(), SST2_FEATURES)


def words(example):
    return {"n_words": len(example["sentence"].split()), "first": example["sentence"].split()[0]}


def prefix(example):
    example["sentence"] = "Review: " + example["sentence"]
    return example


def fake_tokenize(batch):
    ids = [[hash_word(w) for w in s.split()] for s in batch["sentence"]]
    return {"input_ids": ids, "attention_mask": [[1] * len(i) for i in ids], "token_type_ids": [[0] * len(i) for i in ids]}


def hash_word(word):
    return sum(map(ord, word)) % 30000


def test_sst2_unbatched_map(sst2):
    ours, theirs = sst2
    run_both(ours, theirs, "map", words)
    run_both(ours, theirs, "map", prefix)
    run_both(ours, theirs, "map", prefix, remove_columns=["label"])
    run_both(ours, theirs, "map", lambda ex, i: {"idx": i, "label": 1 - ex["label"]}, with_indices=True)
    run_both(ours, theirs, "map", lambda s, k: {"short": len(s) < k}, input_columns="sentence", fn_kwargs={"k": 40})
    run_both(ours, theirs, "map")  # identity


def test_sst2_batched_map(sst2):
    ours, theirs = sst2
    run_both(ours, theirs, "map", fake_tokenize, batched=True)
    run_both(ours, theirs, "map", fake_tokenize, batched=True, batch_size=7, remove_columns=["sentence"])
    run_both(ours, theirs, "map", lambda b: {"word": [w for s in b["sentence"] for w in s.split()]}, batched=True,
             remove_columns=["sentence", "label"])
    run_both(ours, theirs, "map", lambda b, idx: {"idx": idx}, batched=True, with_indices=True, batch_size=100,
             drop_last_batch=True)


def test_sst2_filter(sst2):
    ours, theirs = sst2
    a, b = run_both(ours, theirs, "filter", lambda ex: ex["label"] == 1)
    run_both(a, b, "filter", lambda ex, i: i % 3 == 0, with_indices=True)
    run_both(ours, theirs, "filter", lambda b: [len(s) > 60 for s in b["sentence"]], batched=True, batch_size=64)
    run_both(ours, theirs, "filter", lambda s: "good" in s, input_columns="sentence")
    a, b = run_both(ours, theirs, "filter", lambda ex: "bad" in ex["sentence"])
    run_both(a, b, "map", words)


def test_sst2_num_proc(sst2):
    ours, theirs = sst2
    run_both(ours, theirs, "map", words, num_proc=2)
    run_both(ours, theirs, "map", fake_tokenize, batched=True, num_proc=2)
    run_both(ours, theirs, "filter", lambda ex, i: ex["label"] == 0 and i % 2 == 0, with_indices=True, num_proc=2)
    run_both(ours, theirs, "map", lambda ex, rank: {"rank": rank}, with_rank=True, num_proc=2)


def test_sst2_features_argument():
    ours_plain, theirs_plain = both(read_sst2(200))
    as_names = {"sentence": {"dtype": "string", "_type": "Value"},
                "label": {"names": ["negative", "positive"], "_type": "ClassLabel"}}
    a = ours_plain.map(lambda ex: {"label": ["negative", "positive"][ex["label"]]})
    b = theirs_plain.map(lambda ex: {"label": ["negative", "positive"][ex["label"]]})
    ours = a.map(features=Features.from_dict(as_names))
    theirs = b.map(features=ref.Features.from_dict(as_names))
    assert_same(ours, theirs)


# ------------------------------------------------------------------------------------------- IMDB


@pytest.fixture(scope="module")
def imdb():
    return both(read_imdb())


def clean(example):
    return {"review": re.sub(r"<br\s*/?>", " ", example["review"]), "length": len(example["review"])}


def test_imdb_map_and_filter(imdb):
    ours, theirs = imdb
    run_both(ours, theirs, "map", clean)
    run_both(ours, theirs, "map", clean, remove_columns="sentiment", writer_batch_size=64)
    run_both(ours, theirs, "map", lambda b: {"chunks": [r[i:i + 200] for r in b["review"] for i in range(0, len(r), 200)]},
             batched=True, remove_columns=["review", "sentiment"])
    run_both(ours, theirs, "filter", lambda ex: len(ex["review"]) > 1000)
    run_both(ours, theirs, "filter", lambda b: [s == 1 for s in b["sentiment"]], batched=True, num_proc=2)
    run_both(ours, theirs, "map", lambda ex: {"avg": sum(map(len, ex["review"].split())) / 10.0})


# ---------------------------------------------------------------------------------------- CoNLL-2003

CONLL_FEATURES = {
    "id": {"dtype": "string", "_type": "Value"},
    "tokens": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"},
    "ner_tags": {"feature": {"names": NER, "_type": "ClassLabel"}, "_type": "List"},
}


@pytest.fixture(scope="module")
def conll():
    return both(read_conll(), CONLL_FEATURES)


def align_labels(batch):
    """A token-classification preprocessing step: split tokens into pieces, repeat labels, -100 after."""
    input_ids, labels = [], []
    for tokens, tags in zip(batch["tokens"], batch["ner_tags"]):
        ids, labs = [], []
        for token, tag in zip(tokens, tags):
            pieces = [token[i:i + 3] for i in range(0, len(token), 3)] or [""]
            ids.extend(hash_word(p) for p in pieces)
            labs.extend([tag] + [-100] * (len(pieces) - 1))
        input_ids.append(ids)
        labels.append(labs)
    return {"input_ids": input_ids, "labels": labels}


def test_conll_map_and_filter(conll):
    ours, theirs = conll
    run_both(ours, theirs, "map", align_labels, batched=True)
    run_both(ours, theirs, "map", align_labels, batched=True, remove_columns=["tokens", "ner_tags", "id"], num_proc=2)
    run_both(ours, theirs, "map", lambda ex: {"n": len(ex["tokens"]), "has_entity": any(ex["ner_tags"])})
    run_both(ours, theirs, "map", lambda ex: {"tokens": [t.lower() for t in ex["tokens"]]})
    run_both(ours, theirs, "filter", lambda ex: len(ex["tokens"]) > 10)
    run_both(ours, theirs, "filter", lambda tags: 1 in tags, input_columns="ner_tags")
