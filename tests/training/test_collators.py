"""Unit tests of the data collators: shapes, padding, label handling, masking invariants, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from snuggle.errors import TrainingError
from snuggle.tokenizers.pretrained import AutoTokenizer
from snuggle.training.collators import (
    DataCollatorForLanguageModeling,
    DataCollatorForSeq2Seq,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    DefaultDataCollator,
    default_data_collator,
)
from tests.conftest import minilm_dir


@pytest.fixture(scope="module")
def tok():
    return AutoTokenizer.from_pretrained(minilm_dir())


def _rows(tok, texts):
    return [{k: list(v) for k, v in tok(t).items()} for t in texts]


def test_import_is_light():
    code = "import sys, snuggle.training, snuggle.training.collators; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_default_collator_labels_and_dtypes():
    batch = default_data_collator([{"x": [1, 2], "label": 1, "name": "a"}, {"x": [3, 4], "label": 0, "name": "b"}])
    assert batch["labels"].dtype == torch.long and batch["labels"].tolist() == [1, 0]
    assert "name" not in batch and "label" not in batch
    batch = DefaultDataCollator("np")([{"label_ids": [0.5, 1.0]}, {"label_ids": [1.5, 2.0]}])
    assert batch["labels"].dtype == np.float32
    with pytest.raises(TrainingError, match="DataCollatorWithPadding"):
        default_data_collator([{"x": [1, 2]}, {"x": [3]}])
    with pytest.raises(TrainingError, match="return_tensors"):
        default_data_collator([{"x": [1]}], return_tensors="tf")


def test_padding_collator(tok):
    rows = _rows(tok, ["a b c d e", "a"])
    for r in rows:
        r["label"] = 1
    batch = DataCollatorWithPadding(tok, pad_to_multiple_of=8)(rows)
    assert batch["input_ids"].shape == (2, 8)
    assert batch["attention_mask"][1].tolist() == [1, 1, 1] + [0] * 5
    assert batch["input_ids"][1, 3:].tolist() == [tok.pad_token_id] * 5
    assert batch["labels"].tolist() == [1, 1] and "label" not in batch


def test_token_classification_pads_labels(tok):
    rows = _rows(tok, ["hello there world", "hi"])
    rows[0]["labels"] = [0, 1, 2, 3, 0]
    rows[1]["labels"] = [0, 1, 0]
    batch = DataCollatorForTokenClassification(tok)(rows)
    assert batch["labels"].tolist() == [[0, 1, 2, 3, 0], [0, 1, 0, -100, -100]]
    assert batch["labels"].shape == batch["input_ids"].shape


def test_seq2seq_labels_padding(tok):
    rows = _rows(tok, ["one two", "three"])
    rows[0]["labels"] = [5, 6, 7]
    rows[1]["labels"] = [8]
    batch = DataCollatorForSeq2Seq(tok, pad_to_multiple_of=4)(rows)
    assert batch["labels"].tolist() == [[5, 6, 7, -100], [8, -100, -100, -100]]
    batch = DataCollatorForSeq2Seq(tok, padding="max_length", max_length=6, label_pad_token_id=0)(rows)
    assert batch["labels"].shape == (2, 6) and batch["labels"][1].tolist() == [8, 0, 0, 0, 0, 0]


def test_causal_lm_labels(tok):
    batch = DataCollatorForLanguageModeling(tok, mlm=False)([[5, 6, 7], [8]])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, tok.pad_token_id, tok.pad_token_id]]
    assert batch["labels"].tolist() == [[5, 6, 7], [8, -100, -100]]


def test_mlm_invariants(tok):
    rows = _rows(tok, ["the quick brown fox jumps over the lazy dog " * 6] * 16)
    original = torch.tensor([r["input_ids"] for r in rows])
    batch = DataCollatorForLanguageModeling(tok, seed=0)(rows)
    ids, labels = batch["input_ids"], batch["labels"]
    masked = labels != -100
    # Labels hold the original id exactly where a token was picked; unpicked tokens are unchanged.
    assert torch.equal(labels[masked], original[masked])
    assert torch.equal(ids[~masked], original[~masked])
    # Special tokens ([CLS], [SEP]) are never picked.
    assert not masked[:, 0].any() and not masked[:, -1].any()
    rate = masked.float().mean().item()
    assert 0.10 < rate < 0.20
    mask_id = tok.convert_tokens_to_ids(tok.mask_token)
    as_mask = (ids[masked] == mask_id).float().mean().item()
    kept = (ids[masked] == original[masked]).float().mean().item()
    assert 0.7 < as_mask < 0.9 and 0.03 < kept < 0.2
    # Same seed -> same batch; different seed -> different batch.
    again = DataCollatorForLanguageModeling(tok, seed=0)(_rows(tok, ["the quick brown fox jumps over the lazy dog " * 6] * 16))
    assert torch.equal(again["labels"], labels)
    other = DataCollatorForLanguageModeling(tok, seed=1)(_rows(tok, ["the quick brown fox jumps over the lazy dog " * 6] * 16))
    assert not torch.equal(other["labels"], labels)


def test_mlm_only_mask_replacement(tok):
    rows = _rows(tok, ["a b c d e f g h i j k l m n o p"] * 8)
    batch = DataCollatorForLanguageModeling(tok, mlm_probability=0.5, mask_replace_prob=1.0, random_replace_prob=0.0,
                                            seed=5)(rows)
    masked = batch["labels"] != -100
    assert (batch["input_ids"][masked] == tok.mask_token_id).all()


def test_mlm_argument_errors(tok):
    with pytest.raises(TrainingError, match="mlm_probability"):
        DataCollatorForLanguageModeling(tok, mlm_probability=1.5)
    with pytest.raises(TrainingError, match="should not exceed 1"):
        DataCollatorForLanguageModeling(tok, mask_replace_prob=0.8, random_replace_prob=0.5)
    with pytest.raises(TrainingError, match="whole_word_mask"):
        DataCollatorForLanguageModeling(tok, whole_word_mask=True)
