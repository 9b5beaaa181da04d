"""Unigram language-model tokenization (SentencePiece style): the best-scoring segmentation.

Every vocab piece has a score (a log probability). `tokenize` finds the segmentation of
the word whose pieces' scores add up highest (Viterbi over character positions), exactly
as the reference `encode_optimized` does:
- candidates at each position are the vocab pieces that start there (found by walking a
  dict of all piece prefixes, which stops as soon as no piece can continue: the same
  as a trie walk); a later candidate replaces an earlier one only with a strictly
  higher score, so ties keep the earliest start;
- a character with no single-character piece gets the unk piece with score
  `min_score - 10` (kUnkPenalty), and consecutive unk pieces are fused into one token
  whose value is the original text;
- with `byte_fallback`, a token whose text is not in the vocab becomes one `<0xXX>`
  token per UTF-8 byte (all with the offsets of the whole text) when those all exist.

Cost is O(length x longest piece). Offsets are character offsets into the word.

>>> u = Unigram([("<unk>", 0.0), ("a", -1.0), ("b", -1.0), ("ab", -1.5)], unk_id=0)
>>> [(t.value, t.offsets) for t in u.tokenize("abxyb")]
[('ab', (0, 2)), ('xy', (2, 4)), ('b', (4, 5))]
"""

from __future__ import annotations

import json
import math
import random

from snuggle.errors import TokenizerError, TokenizerFileError
from snuggle.tokenizers.models.base import (
    CACHE_MAX_WORD_LENGTH,
    DEFAULT_CACHE_CAPACITY,
    Model,
    prefixed_name,
    serde_format_float,
)
from snuggle.tokenizers.models.unigram_sampling import lattice_edges, sample_nbest_path, sample_path
from snuggle.tokenizers.normalized import Token
from snuggle.utils.atomic import atomic_write_text

K_UNK_PENALTY = 10.0
BYTE_PIECES = tuple(f"<0x{b:02X}>" for b in range(256))
_NOT_A_PIECE = -1  # value in the prefix table for a proper prefix that is not itself a piece


class Unigram(Model):
    """Unigram model (same constructor as `tokenizers.models.Unigram`).

    With `alpha` > 0 encoding samples a segmentation (subword regularization, see
    `unigram_sampling`): from the `nbest_size` best ones, or from all of them when
    `nbest_size` is None or 0. `set_sampling_seed` makes the draws reproducible.
    """

    model_type = "Unigram"
    trainer_name = "UnigramTrainer"

    def __init__(
        self,
        vocab: list[tuple[str, float]] | None = None,
        unk_id: int | None = None,
        byte_fallback: bool | None = None,
        alpha: float | None = None,
        nbest_size: int | None = None,
    ):
        if vocab is None:
            if unk_id is not None:
                raise TokenizerError("Unigram: `vocab` and `unk_id` must be both specified")
            vocab, unk_id = [("<unk>", 0.0)], 0
        if nbest_size is not None and (isinstance(nbest_size, bool) or not isinstance(nbest_size, int) or nbest_size < 0):
            raise TokenizerError(f"Unigram: nbest_size must be None or a non-negative integer, found {nbest_size!r}")
        self.alpha = alpha
        self.nbest_size = nbest_size
        self._rng = random.Random()
        self.cache_capacity = DEFAULT_CACHE_CAPACITY
        self._cache: dict[str, tuple[str, ...]] = {}
        self._set_vocab(vocab, unk_id, bool(byte_fallback))

    def _set_vocab(self, vocab, unk_id: int | None, byte_fallback: bool, where: str = "vocab") -> None:
        try:
            pieces = [(piece, float(score)) for piece, score in vocab]
            valid = all(type(p) is str for p, _ in pieces) and all(type(item[1]) in (int, float) for item in vocab)
        except (TypeError, ValueError):
            valid = False
        if not valid:  # find the culprit for the message
            for i, item in enumerate(vocab):
                if not isinstance(item, (tuple, list)) or len(item) != 2 or not isinstance(item[0], str):
                    raise TokenizerFileError(f"expected a [piece, score] pair, found {item!r}", where=f"{where}[{i}]")
                if type(item[1]) not in (int, float):
                    raise TokenizerFileError(f"score of {item[0]!r} must be a number, found {item[1]!r}", where=f"{where}[{i}]")
        if unk_id is not None:
            if isinstance(unk_id, bool) or not isinstance(unk_id, int) or unk_id < 0:
                raise TokenizerFileError(f"unk_id must be null or a non-negative integer, found {unk_id!r}", where="unk_id")
            if not pieces:
                raise TokenizerError("Unigram: the vocabulary is empty but at least <unk> is needed")
            if unk_id >= len(pieces):
                raise TokenizerError(f"Unigram: unk_id {unk_id} is not in the vocabulary of {len(pieces)} pieces")
        self.vocab = pieces
        self.unk_id = unk_id
        self.byte_fallback = byte_fallback
        # A repeated piece maps to its last id, as in the reference.
        self.token_to_ids = {piece: i for i, (piece, _) in enumerate(pieces)}
        self._scores = [score for _, score in pieces]
        self.min_score = min(self._scores, default=math.inf)
        # Every proper prefix of a piece -> _NOT_A_PIECE, every piece -> its id: walking
        # text[i:i+1], text[i:i+2], ... through this dict visits exactly the trie's matches.
        prefixes = dict.fromkeys({piece[:end] for piece in self.token_to_ids for end in range(1, len(piece))}, _NOT_A_PIECE)
        prefixes.update(self.token_to_ids)
        self._prefixes = prefixes
        self._vocab_r = None
        self._cache.clear()

    # --- the Model interface ------------------------------------------------------------
    def get_vocab(self) -> dict[str, int]:
        return dict(self.token_to_ids)

    def get_vocab_size(self) -> int:
        return len(self.vocab)

    def token_to_id(self, token: str) -> int | None:
        return self.token_to_ids.get(token)

    def id_to_token(self, id: int) -> str | None:
        return self.vocab[id][0] if 0 <= id < len(self.vocab) else None

    @property
    def vocab_r(self) -> dict[int, str]:
        """id -> piece (built on first use; the fast path reads it on every call)."""
        if self._vocab_r is None:
            self._vocab_r = {i: piece for i, (piece, _) in enumerate(self.vocab)}
        return self._vocab_r

    def _clear_cache(self) -> None:
        self._cache.clear()

    def _resize_cache(self, capacity: int) -> None:
        self.cache_capacity = int(capacity)
        self._cache.clear()

    def tokenize(self, sequence: str) -> list[Token]:
        """Best segmentation of one word; offsets are character offsets into it."""
        tokens = []
        offset = 0
        token_to_ids = self.token_to_ids
        for piece in self.encode(sequence):
            end = offset + len(piece)
            tid = token_to_ids.get(piece)
            if tid is None:
                if self.byte_fallback:
                    names = [BYTE_PIECES[b] for b in piece.encode("utf-8")]
                    byte_ids = [token_to_ids.get(name) for name in names]
                    if None not in byte_ids:
                        tokens.extend(Token(i, name, (offset, end)) for i, name in zip(byte_ids, names))
                        offset = end
                        continue
                if self.unk_id is None:
                    raise TokenizerError("Unigram: encountered an unknown piece but the model has no unk_id")
                tid = self.unk_id
            tokens.append(Token(tid, piece, (offset, end)))
            offset = end
        return tokens

    def set_sampling_seed(self, seed: int | None) -> None:
        """Seed the random generator used when `alpha` makes encoding sample."""
        self._rng = random.Random(seed)

    def encode(self, sequence: str) -> list[str]:
        """The pieces (as strings) of the best segmentation; unknown runs come back fused."""
        if not sequence:
            return []
        if self.alpha and self.alpha > 0 and self.nbest_size != 1:
            return self._sample(sequence)
        hit = self._cache.get(sequence)
        if hit is not None:
            return list(hit)
        pieces = self._viterbi(sequence)
        if len(self._cache) < self.cache_capacity and len(sequence) < CACHE_MAX_WORD_LENGTH:
            self._cache[sequence] = tuple(pieces)
        return pieces

    def _sample(self, text: str) -> list[str]:
        """A sampled segmentation (never cached: every call draws again)."""
        edges = lattice_edges(self, text)
        if self.nbest_size:
            path = sample_nbest_path(edges, self.nbest_size, self.alpha, self._rng)
        else:
            path = sample_path(edges, self.alpha, self._rng)
        out: list[str] = []
        unk_start = -1  # start of the unk run being collected, -1 when none
        for start, end, pid in path:
            if pid == self.unk_id:
                if unk_start < 0:
                    unk_start = start
                continue
            if unk_start >= 0:
                out.append(text[unk_start:start])
                unk_start = -1
            out.append(text[start:end])
        if unk_start >= 0:
            out.append(text[unk_start:])
        return out

    def _viterbi(self, text: str) -> list[str]:
        n = len(text)
        prefixes, scores = self._prefixes, self._scores
        unk_id = self.unk_id
        unk_score = self.min_score - K_UNK_PENALTY
        best = [0.0] * (n + 1)  # best[j]: score of the best path covering text[:j]
        start = [-1] * (n + 1)  # start[j]: where the last piece of that path starts (-1: none yet)
        piece_id = [0] * (n + 1)
        for i in range(n):
            base = best[i]
            has_single = False
            j = i + 1
            while j <= n:
                pid = prefixes.get(text[i:j])
                if pid is None:
                    break
                if pid >= 0:
                    candidate = scores[pid] + base
                    if start[j] < 0 or candidate > best[j]:
                        best[j] = candidate
                        start[j] = i
                        piece_id[j] = pid
                    if j == i + 1:
                        has_single = True
                j += 1
            if not has_single:
                candidate = unk_score + base
                if start[i + 1] < 0 or candidate > best[i + 1]:
                    if unk_id is None:
                        raise TokenizerError(
                            f"Unigram: character {text[i]!r} is not in the vocabulary and the model has no unk_id"
                        )
                    best[i + 1] = candidate
                    start[i + 1] = i
                    piece_id[i + 1] = unk_id
        # Walk back from the end, fusing runs of unk pieces into one string.
        out: list[str] = []
        end = n
        unk_end = -1  # end of the unk run being collected, -1 when none
        while end > 0:
            s = start[end]
            if unk_id is not None and piece_id[end] == unk_id:
                if unk_end < 0:
                    unk_end = end
            else:
                if unk_end >= 0:
                    out.append(text[end:unk_end])
                    unk_end = -1
                out.append(text[s:end])
            end = s
        if unk_end >= 0:
            out.append(text[0:unk_end])
        out.reverse()
        return out

    # --- files and serialization --------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "type": "Unigram",
            "unk_id": self.unk_id,
            "vocab": [[piece, score] for piece, score in self.vocab],
            "byte_fallback": self.byte_fallback,
        }

    def _extra_state(self) -> dict:
        return {"alpha": self.alpha, "nbest_size": self.nbest_size}

    def _save_files(self, folder: str, prefix: str | None) -> list[str]:
        path = prefixed_name(folder, prefix, "unigram.json")
        atomic_write_text(path, pretty_unigram_json(self.to_dict()))
        return [path]

    @classmethod
    def from_dict(cls, d: dict) -> "Unigram":
        where = "model"
        vocab = d.get("vocab")
        if not isinstance(vocab, list):
            raise TokenizerFileError(f"a Unigram model needs 'vocab' as a list of [piece, score], found {vocab!r:.60}", where=where)
        byte_fallback = d.get("byte_fallback", False)
        if not isinstance(byte_fallback, bool):
            raise TokenizerFileError(f"'byte_fallback' must be true or false, found {byte_fallback!r}", where=where)
        unk_id = d.get("unk_id")
        try:
            model = cls.__new__(cls)
            model.alpha = None
            model.nbest_size = None
            model._rng = random.Random()
            model.cache_capacity = DEFAULT_CACHE_CAPACITY
            model._cache = {}
            model._set_vocab(vocab, unk_id, byte_fallback, where="model.vocab")
        except TokenizerFileError:
            raise
        except TokenizerError as e:
            raise TokenizerFileError(str(e), where=where) from None
        return model


def pretty_unigram_json(d: dict) -> str:
    """The reference's pretty-printed unigram.json (2-space indent, one value per line)."""
    dump = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731
    lines = ["{", '  "type": "Unigram",', f'  "unk_id": {dump(d["unk_id"])},']
    if d["vocab"]:
        lines.append('  "vocab": [')
        items = [f"    [\n      {dump(p)},\n      {serde_format_float(s)}\n    ]" for p, s in d["vocab"]]
        lines.append(",\n".join(items))
        lines.append("  ],")
    else:
        lines.append('  "vocab": [],')
    lines.append(f'  "byte_fallback": {dump(d["byte_fallback"])}')
    lines.append("}")
    return "\n".join(lines)
