"""group_by_length: the reference's mega-batch order, and a Trainer whose batches hold rows of similar length."""

from __future__ import annotations

import pytest
import torch

from snuggle.errors import DataError
from snuggle.training.trainer import Trainer
from snuggle.training.trainer_data import EpochBatchSampler, length_grouped_order, row_lengths
from tests.training.test_trainer import args_for, tiny_classifier


@pytest.mark.parametrize("n,batch", [(7, 2), (40, 3), (500, 4), (1000, 1)])
def test_order_equals_reference(n, batch):
    from transformers.trainer_pt_utils import get_length_grouped_indices

    lengths = torch.randint(1, 60, (n,), generator=torch.Generator().manual_seed(n)).tolist()
    expected = get_length_grouped_indices(lengths, batch, generator=torch.Generator().manual_seed(3))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(3)).tolist()
    assert length_grouped_order(order, lengths, batch) == expected


def test_sampler_batches_are_grouped_and_cover_every_row():
    lengths = [(i * 37) % 50 + 1 for i in range(400)]
    sampler = EpochBatchSampler(400, 8, seed=1, lengths=lengths)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(400))
    assert max(lengths[i] for i in batches[0]) == max(lengths)  # longest row first
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    random_spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b)
                        for b in EpochBatchSampler(400, 8, seed=1)) / len(batches)
    assert spread < random_spread / 4


def test_row_lengths_prefers_length_column_and_names_the_fix():
    from snuggle.data import Dataset

    ds = Dataset.from_dict({"input_ids": [[1, 2], [3]], "length": [5, 6]})
    assert row_lengths(ds, "length") == [5, 6]
    assert row_lengths(ds, "n_tokens") == [2, 1]
    with pytest.raises(DataError, match="length_column_name"):
        row_lengths(Dataset.from_dict({"text": ["a", "b"]}), "length")


def test_trainer_group_by_length_pads_less(tmp_path):
    g = torch.Generator().manual_seed(0)
    rows = []
    for i in range(32):
        n = 2 + (i * 7) % 14
        rows.append({"input_ids": torch.randint(1, 50, (n,), generator=g).tolist(), "attention_mask": [1] * n,
                     "label": i % 2})
    widths = {}
    for grouped in (False, True):
        class Pad:
            pad_token_id = 0
            padding_side = "right"
            model_input_names = ["input_ids", "attention_mask"]

            def pad(self, features, **kw):
                width = max(len(f["input_ids"]) for f in features)
                return {
                    "input_ids": torch.tensor([f["input_ids"] + [0] * (width - len(f["input_ids"])) for f in features]),
                    "attention_mask": torch.tensor([f["attention_mask"] + [0] * (width - len(f["input_ids"]))
                                                    for f in features]),
                    "labels": torch.tensor([f["label"] for f in features]),
                }

        seen = []

        def collate(features, pad=Pad()):
            batch = pad.pad(features)
            seen.append(batch["input_ids"].shape[1])
            return batch

        trainer = Trainer(tiny_classifier(), args_for(tmp_path, max_steps=8, group_by_length=grouped),
                          train_dataset=rows, data_collator=collate)
        trainer.train()
        widths[grouped] = sum(seen)
    assert widths[True] < widths[False]
