"""WordLevel: every word is one token, looked up whole; unknown words become `unk_token`.

>>> wl = WordLevel({"hello": 0, "world": 1, "<unk>": 2}, unk_token="<unk>")
>>> wl.tokenize("hello"), wl.tokenize("there")
([Token(id=0, value='hello', offsets=(0, 5))], [Token(id=2, value='<unk>', offsets=(0, 5))])
"""

from __future__ import annotations

import os

from snuggle.errors import TokenizerError, TokenizerFileError
from snuggle.tokenizers.models.base import (
    Model,
    check_vocab_dict,
    dumps_compact,
    prefixed_name,
    read_vocab_json,
    reverse_vocab,
    vocab_ordered_by_id,
)
from snuggle.tokenizers.normalized import Token
from snuggle.utils.atomic import atomic_write_text


class WordLevel(Model):
    """WordLevel model (same constructor as `tokenizers.models.WordLevel`; unk defaults to "<unk>")."""

    model_type = "WordLevel"
    trainer_name = "WordLevelTrainer"

    def __init__(self, vocab: dict[str, int] | str | None = None, unk_token: str | None = None):
        if isinstance(vocab, (str, os.PathLike)):
            vocab = WordLevel.read_file(vocab)
        self.unk_token = "<unk>" if unk_token is None else unk_token
        self.set_vocab(vocab or {})

    def set_vocab(self, vocab: dict[str, int]) -> None:
        self.vocab = check_vocab_dict(vocab, "vocab")
        self.vocab_r = reverse_vocab(self.vocab)

    def tokenize(self, sequence: str) -> list[Token]:
        """The whole word as one token (even the empty string: it is looked up like any other)."""
        tid = self.vocab.get(sequence)
        if tid is not None:
            return [Token(tid, sequence, (0, len(sequence)))]
        uid = self.vocab.get(self.unk_token)
        if uid is None:
            raise TokenizerError(f"WordLevel: unk_token {self.unk_token!r} is missing from the vocabulary")
        return [Token(uid, self.unk_token, (0, len(sequence)))]

    @staticmethod
    def read_file(vocab: str) -> dict[str, int]:
        """Read a vocab.json ({token: id})."""
        return read_vocab_json(vocab)

    @classmethod
    def from_file(cls, vocab: str, unk_token: str | None = None) -> "WordLevel":
        return cls(cls.read_file(vocab), unk_token=unk_token)

    def _save_files(self, folder: str, prefix: str | None) -> list[str]:
        path = prefixed_name(folder, prefix, "vocab.json")
        atomic_write_text(path, dumps_compact(vocab_ordered_by_id(self.vocab_r)))
        return [path]

    def to_dict(self) -> dict:
        return {"type": "WordLevel", "vocab": vocab_ordered_by_id(self.vocab_r), "unk_token": self.unk_token}

    @classmethod
    def from_dict(cls, d: dict) -> "WordLevel":
        where = "model"
        if "vocab" not in d:
            raise TokenizerFileError("a WordLevel model needs 'vocab'", where=where)
        unk = d.get("unk_token")
        if not isinstance(unk, str):
            raise TokenizerFileError(f"a WordLevel model needs 'unk_token' (a string), found {unk!r}", where=where)
        return cls(check_vocab_dict(d["vocab"], "model.vocab"), unk_token=unk)
