"""Stopping criteria: MaxTimeCriteria, StopStringCriteria's end-overlap rule (on a tiny str vocabulary), errors.

(Parity with transformers on GPT-2 / Llama-2 tokenizers is in tests/parity/test_stopping_criteria_parity.py.)
"""

import time

import pytest
import torch

from snuggle.errors import ConfigError
from snuggle.generation.stopping_criteria import (
    MaxLengthCriteria, MaxTimeCriteria, StoppingCriteriaList, StopStringCriteria,
)

PIECES = ["<pad>", "st", "op", "stop", "opera", "sto", "pper", "las", "topper", "s", "to", "pped", "at", "tion",
          "a", "b", "ab", "é", "x"]


class PieceTokenizer:
    """A vocabulary whose tokens decode to themselves (no byte-level decoder: str matching)."""

    def __init__(self):
        self.vocab = {piece: i for i, piece in enumerate(PIECES)}
        self.vocab["abcdef"] = len(self.vocab)

    def get_vocab(self):
        return dict(self.vocab)

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [self.vocab[text]]}

    def convert_ids_to_tokens(self, ids):
        inverse = {i: t for t, i in self.vocab.items()}
        return [inverse[i] for i in ids]

    def convert_tokens_to_string(self, tokens):
        return "".join(tokens)


def _ids(*pieces):
    return [PIECES.index(p) for p in pieces]


# The reference's documented examples for the stop string "stop" (StopStringCriteria docstring).
DOCUMENTED = [
    (("st", "op"), True), (("stop",), True), (("st", "opera"), True), (("sto", "pper"), True),
    (("las", "topper"), True), (("s", "to", "pped"), True),
    (("stop", "at"), False), (("st", "op", "at"), False), (("st", "opera", "tion"), False),
]


@pytest.mark.parametrize("pieces,expected", DOCUMENTED)
def test_documented_overlap_rule(pieces, expected):
    criteria = StopStringCriteria(tokenizer=PieceTokenizer(), stop_strings="stop")
    assert criteria(torch.tensor([_ids(*pieces)]), None).tolist() == [expected]


def test_batch_with_padding_and_several_strings():
    criteria = StopStringCriteria(tokenizer=PieceTokenizer(), stop_strings=["stop", "ab"])
    rows = [_ids("<pad>", "<pad>", "a", "b"), _ids("x", "x", "x", "ab"), _ids("st", "op", "x", "a"), _ids("s", "to", "pped", "a")]
    done = criteria(torch.tensor(rows), None)
    assert done.dtype == torch.bool and done.tolist() == [True, True, False, False]


def test_unknown_ids_break_a_match():
    criteria = StopStringCriteria(tokenizer=PieceTokenizer(), stop_strings="stop")
    assert criteria(torch.tensor([[_ids("st")[0], 999, _ids("op")[0]]]), None).tolist() == [False]
    assert criteria(torch.tensor([[999] + _ids("st", "op")]), None).tolist() == [True]


def test_stop_string_errors_name_the_argument():
    with pytest.raises(ConfigError, match="tokenizer"):
        StopStringCriteria(tokenizer=None, stop_strings="stop")
    for bad in ("", [], ["ok", ""], [3]):
        with pytest.raises(ConfigError, match="stop_strings"):
            StopStringCriteria(tokenizer=PieceTokenizer(), stop_strings=bad)


def test_max_time():
    ids = torch.tensor([[1, 2], [3, 4]])
    assert MaxTimeCriteria(0.5, initial_timestamp=time.time() - 1.0)(ids, None).tolist() == [True, True]
    assert MaxTimeCriteria(60.0)(ids, None).tolist() == [False, False]
    with pytest.raises(ConfigError, match="max_time"):
        MaxTimeCriteria(-1)


def test_list_ors_the_criteria():
    criteria = StoppingCriteriaList([MaxLengthCriteria(10), StopStringCriteria(PieceTokenizer(), "ab")])
    assert criteria(torch.tensor([_ids("x", "ab"), _ids("x", "x")]), None).tolist() == [True, False]
    assert criteria.max_length == 10
