"""WordPiece (BERT): greedy longest-match-first over the vocab, "##" marking continuations.

From the start of the word, take the longest prefix that is in the vocab; then from its
end take the longest `continuing_subword_prefix + rest-prefix` in the vocab, and so on.
If any position has no match, or the word is longer than `max_input_chars_per_word`
characters, the whole word becomes one `unk_token` (as the reference does).

>>> wp = WordPiece({"un": 0, "##aff": 1, "##able": 2, "[UNK]": 3})
>>> [(t.value, t.offsets) for t in wp.tokenize("unaffable")]
[('un', (0, 2)), ('##aff', (2, 5)), ('##able', (5, 9))]
>>> wp.tokenize("xyz")
[Token(id=3, value='[UNK]', offsets=(0, 3))]
"""

from __future__ import annotations

import os
import warnings

from snuggle.errors import TokenizerError, TokenizerFileError
from snuggle.tokenizers.models.base import Model, check_vocab_dict, prefixed_name, reverse_vocab, vocab_ordered_by_id
from snuggle.tokenizers.normalized import Token
from snuggle.utils.atomic import atomic_write_text


class WordPiece(Model):
    """WordPiece model (same constructor as `tokenizers.models.WordPiece`)."""

    model_type = "WordPiece"
    trainer_name = "WordPieceTrainer"

    def __init__(
        self,
        vocab: dict[str, int] | str | None = None,
        unk_token: str = "[UNK]",
        max_input_chars_per_word: int = 100,
        continuing_subword_prefix: str = "##",
        **kwargs,
    ):
        if kwargs:
            warnings.warn(f"Ignored unknown kwargs option {', '.join(kwargs)}", stacklevel=2)
        if isinstance(vocab, (str, os.PathLike)):
            vocab = WordPiece.read_file(vocab)
        self.unk_token = unk_token
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        self.continuing_subword_prefix = continuing_subword_prefix
        self.set_vocab(vocab or {})

    def set_vocab(self, vocab: dict[str, int]) -> None:
        self.vocab = check_vocab_dict(vocab, "vocab")
        self.vocab_r = reverse_vocab(self.vocab)
        # No vocab entry is longer than this, so no longer candidate needs a lookup.
        self._max_token_chars = max(map(len, self.vocab), default=0)

    @classmethod
    def from_bpe(cls, bpe, **kwargs) -> "WordPiece":
        """A WordPiece over a BPE's vocab, keeping its continuing-subword prefix if it has one."""
        wp = cls(bpe.get_vocab(), **kwargs)
        if bpe.continuing_subword_prefix is not None:
            wp.continuing_subword_prefix = bpe.continuing_subword_prefix
        return wp

    def _unk(self, sequence: str) -> list[Token]:
        uid = self.vocab.get(self.unk_token)
        if uid is None:
            raise TokenizerError(f"WordPiece: unk_token {self.unk_token!r} is missing from the vocabulary")
        return [Token(uid, self.unk_token, (0, len(sequence)))]

    def tokenize(self, sequence: str) -> list[Token]:
        """Greedy longest-match-first split of one word; offsets are character offsets."""
        if len(sequence) > self.max_input_chars_per_word:
            return self._unk(sequence)
        vocab = self.vocab
        prefix = self.continuing_subword_prefix
        longest = self._max_token_chars
        n = len(sequence)
        tokens = []
        start = 0
        while start < n:
            if start > 0:
                end = min(n, start + max(longest - len(prefix), 0))
            else:
                end = min(n, longest)
            found = None
            while start < end:
                piece = sequence[start:end] if start == 0 else prefix + sequence[start:end]
                tid = vocab.get(piece)
                if tid is not None:
                    found = Token(tid, piece, (start, end))
                    break
                end -= 1
            if found is None:
                return self._unk(sequence)
            tokens.append(found)
            start = end
        return tokens

    # --- files and serialization --------------------------------------------------------
    @staticmethod
    def read_file(vocab: str) -> dict[str, int]:
        """Read vocab.txt: one token per line (trailing whitespace stripped), id = line number."""
        path = os.fspath(vocab)
        try:
            with open(path, encoding="utf-8", newline="") as f:
                text = f.read()
        except FileNotFoundError:
            raise TokenizerFileError("vocabulary file not found", path=path) from None
        except UnicodeDecodeError as e:
            raise TokenizerFileError(f"not valid UTF-8: {e}", path=path) from None
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        # Like the reference, a repeated token keeps the id of its last line.
        return {line.rstrip(): i for i, line in enumerate(lines)}

    @classmethod
    def from_file(cls, vocab: str, **kwargs) -> "WordPiece":
        return cls(cls.read_file(vocab), **kwargs)

    def _save_files(self, folder: str, prefix: str | None) -> list[str]:
        path = prefixed_name(folder, prefix, "vocab.txt")
        ordered = sorted(self.vocab.items(), key=lambda kv: kv[1])
        atomic_write_text(path, "".join(f"{t}\n" for t, _ in ordered))
        return [path]

    def to_dict(self) -> dict:
        return {
            "type": "WordPiece",
            "unk_token": self.unk_token,
            "continuing_subword_prefix": self.continuing_subword_prefix,
            "max_input_chars_per_word": self.max_input_chars_per_word,
            "vocab": vocab_ordered_by_id(self.vocab_r),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "WordPiece":
        where = "model"
        for key, kind in (("unk_token", str), ("continuing_subword_prefix", str), ("max_input_chars_per_word", int), ("vocab", dict)):
            if key not in d:
                raise TokenizerFileError(f"a WordPiece model needs '{key}'", where=where)
            value = d[key]
            if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
                raise TokenizerFileError(f"'{key}' must be a {kind.__name__}, found {value!r}", where=where)
        return cls(
            check_vocab_dict(d["vocab"], "model.vocab"),
            unk_token=d["unk_token"],
            max_input_chars_per_word=d["max_input_chars_per_word"],
            continuing_subword_prefix=d["continuing_subword_prefix"],
        )
