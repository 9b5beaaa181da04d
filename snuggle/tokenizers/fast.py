"""The C fast path for byte-level BPE tokenizers (GPT-2, Llama 3, Qwen2 style).

`plan_fast_path(normalizer, pre_tokenizer, model)` recognises the configurations the C
extension `snuggle.tokenizers._fast` reproduces exactly and returns a `FastPath`
(or None: the pipeline then runs the pure-Python components). Recognised:

- model: snuggle's BPE without dropout, continuing-subword prefix or end-of-word suffix,
  whose vocabulary holds all 256 byte-level symbols and whose merges each make a
  distinct token (then "lowest rank first, leftmost on ties" is the whole semantics);
- pre-tokenizer: `ByteLevel(use_regex=True)` (GPT-2 regex, add_prefix_space either
  way), or `Sequence([Split(Regex(P), "isolated"), ByteLevel(use_regex=False)])`
  with P one of the GPT-2, Llama 3 or Qwen2 patterns (the C scanners emulate them);
- normalizer: None, or NFC when the text is already NFC (checked per call).

Components are recognised from their `to_dict()` (tokenizer.json layout), so this
module does not depend on the component classes.

`FastPath.encode(text)` returns `(ids, offsets, words)`: char offsets into `text`, and
for each token the index of its pre-token. `FastPath.encode_full(text, char_base,
word_base)` also returns the token strings (the model's own str objects) and the number
of pre-tokens, with offsets and word indices already shifted for a segment of a longer
text, so the Tokenizer does no per-token work in Python. A token covering part of a multi-byte char
covers that whole char, and the space that add_prefix_space prepends is aligned to the
first char, as in the pure-Python pipeline.

>>> from snuggle.tokenizers.models.bpe import BPE
>>> from snuggle.tokenizers.converters import bytes_to_unicode
>>> vocab = {ch: i for i, ch in enumerate(bytes_to_unicode().values())}
>>> vocab["hi"] = 256
>>> fast = plan_fast_path(None, {"type": "ByteLevel", "add_prefix_space": False,
...                              "trim_offsets": True, "use_regex": True}, BPE(vocab, [("h", "i")]))
>>> fast.encode("hi!")
([256, 33], [(0, 2), (2, 3)], [0, 1])
>>> fast.encode_full("hi!", char_base=10, word_base=3)
([256, 33], ['hi', '!'], [(10, 12), (12, 13)], [3, 4], 2)
"""

from __future__ import annotations

import array
import os
import unicodedata
from functools import lru_cache
from typing import Sequence

import regex

from snuggle.errors import TokenizerError

try:
    from snuggle.tokenizers import _fast
except ImportError:  # no C compiler at install time: the pure-Python path is used
    _fast = None

GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_PATTERN = LLAMA3_PATTERN.replace(r"\p{N}{1,3}", r"\p{N}")

# pattern string -> the scanner of the C extension that emulates it
PATTERN_KINDS = {GPT2_PATTERN: 0, LLAMA3_PATTERN: 1, QWEN2_PATTERN: 2}

# Char classes as the C scanners see them (one byte per code point).
CLASS_OTHER, CLASS_LETTER, CLASS_NUMBER, CLASS_SPACE = 0, 1, 2, 3

# encode_batch runs the C work on this many native threads (the GIL released); the result
# lists are then built once on the calling thread. Below PARALLEL_MIN_CHARS one thread is used
# (starting threads costs more). Measured on 2 cores: Python threads taking turns at the GIL,
# or worker processes pickling results back, were both slower (bench/fast_bpe.py).
BATCH_THREADS = min(2, os.cpu_count() or 1)
PARALLEL_MIN_CHARS = 1 << 15


@lru_cache(maxsize=1)
def char_classes() -> bytes:
    """0x110000 bytes: the class of every code point as the `regex` module sees it.

    \\p{L} -> 1, \\p{N} -> 2, \\s -> 3, anything else -> 0. Computed with `regex` itself
    (not `unicodedata`) so the scanners agree with the patterns the pure-Python path runs.

    >>> char_classes()[ord("a")], char_classes()[ord("7")], char_classes()[ord("\\u3000")]
    (1, 2, 3)
    """
    # every code point, surrogates included, as one str (much faster than joining chr())
    everything = array.array("I", range(0x110000)).tobytes().decode("utf-32-le", "surrogatepass")
    table = bytearray(0x110000)
    # \p{L}, \p{N} and \s are disjoint, so one pass with three groups classifies everything
    for match in regex.finditer(r"(\p{L}+)|(\p{N}+)|(\s+)", everything):
        start, end = match.span()
        table[start:end] = bytes([match.lastindex]) * (end - start)
    return bytes(table)


def _bytes_to_unicode() -> dict[int, str]:
    from snuggle.tokenizers.converters import bytes_to_unicode

    return bytes_to_unicode()


def _as_dict(component) -> dict | None:
    if component is None:
        return None
    if isinstance(component, dict):
        return component
    to_dict = getattr(component, "to_dict", None)
    return to_dict() if callable(to_dict) else None


def _pre_tokenizer_plan(d: dict | None) -> tuple[int, bool] | None:
    """(pattern kind, add_prefix_space) for a recognised pre-tokenizer dict."""
    if d is None:
        return None
    kind = d.get("type")
    if kind == "ByteLevel" and d.get("use_regex", True):
        return PATTERN_KINDS[GPT2_PATTERN], bool(d.get("add_prefix_space", True))
    if kind != "Sequence":
        return None
    steps = d.get("pretokenizers") or []
    if len(steps) == 1:
        return _pre_tokenizer_plan(steps[0])
    if len(steps) != 2:
        return None
    split, byte_level = steps
    if split.get("type") != "Split" or byte_level.get("type") != "ByteLevel":
        return None
    if byte_level.get("use_regex", True) or byte_level.get("add_prefix_space", True):
        return None
    pattern = split.get("pattern")
    if not isinstance(pattern, dict) or set(pattern) != {"Regex"} or pattern["Regex"] not in PATTERN_KINDS:
        return None
    if str(split.get("behavior", "")).lower() != "isolated" or split.get("invert", False):
        return None
    return PATTERN_KINDS[pattern["Regex"]], False


def _normalizer_plan(d: dict | None) -> bool | None:
    """True: texts must be NFC; False: no normalizer; None: not handled."""
    if d is None:
        return False
    if d.get("type") == "NFC":
        return True
    if d.get("type") == "Sequence":
        inner = d.get("normalizers") or []
        if not inner:
            return False
        if len(inner) == 1:
            return _normalizer_plan(inner[0])
    return None


def _model_tables(model) -> tuple[list[int], list[tuple[int, int, int]], dict[bytes, int] | None] | None:
    """(byte ids, merges in rank order, whole-word vocab or None) for a handled BPE model."""
    needed = ("vocab", "merge_ranks", "dropout", "continuing_subword_prefix", "end_of_word_suffix", "ignore_merges")
    if getattr(model, "model_type", type(model).__name__) != "BPE" or not all(hasattr(model, a) for a in needed):
        return None
    if model.dropout or model.continuing_subword_prefix or model.end_of_word_suffix:
        return None
    vocab: dict[str, int] = model.vocab
    spelling = _bytes_to_unicode()
    byte_ids = [vocab.get(spelling[b]) for b in range(256)]
    if None in byte_ids:
        return None  # unknown bytes go through unk / byte_fallback: the Python path handles those
    ranked = sorted(model.merge_ranks.items(), key=lambda item: item[1][0])
    merges = [(a, b, new_id) for (a, b), (_, new_id) in ranked]
    if len({new_id for _, _, new_id in merges}) != len(merges):
        # Two merges making one token: the reference's stale-entry check (by token, not by
        # rank) then has effects the C loop does not reproduce.
        return None
    whole_words = None
    if model.ignore_merges:
        byte_of = {ch: b for b, ch in spelling.items()}
        whole_words = {}
        for token, tid in vocab.items():
            try:
                whole_words[bytes(byte_of[ch] for ch in token)] = tid
            except KeyError:
                continue  # not spelled in the byte alphabet: no byte-level word can equal it
    return byte_ids, merges, whole_words


def _plan_byte_level(normalizer, pre_tokenizer, model) -> "FastPath | None":
    """A FastPath when the C extension handles this configuration exactly, else None.

    >>> plan_fast_path(None, None, None) is None
    True
    """
    if _fast is None:
        return None
    requires_nfc = _normalizer_plan(_as_dict(normalizer))
    if requires_nfc is None:
        return None
    pre = _pre_tokenizer_plan(_as_dict(pre_tokenizer))
    if pre is None:
        return None
    tables = _model_tables(model)
    if tables is None:
        return None
    byte_ids, merges, whole_words = tables
    pattern, add_prefix_space = pre
    encoder = _fast.ByteLevelBPE(byte_ids, merges, char_classes(), pattern, add_prefix_space, whole_words,
                                 token_strings=_token_strings(model.vocab_r))
    return FastPath(encoder, requires_nfc)


def plan_fast_path(normalizer, pre_tokenizer, model):
    """The byte-level BPE FastPath, else the WordPiece fast path, else the SentencePiece one, else None (generic path).

    >>> plan_fast_path(None, None, None) is None
    True
    """
    fast = _plan_byte_level(normalizer, pre_tokenizer, model)
    if fast is None:
        from snuggle.tokenizers.fast_wordpiece import plan_wordpiece_fast_path

        fast = plan_wordpiece_fast_path(normalizer, pre_tokenizer, model)
    if fast is None:  # SentencePiece-style Unigram / BPE (fast_unigram.py)
        from snuggle.tokenizers.fast_unigram import plan_unigram_fast_path

        fast = plan_unigram_fast_path(normalizer, pre_tokenizer, model)
    return fast


def _token_strings(vocab_r: dict[int, str]) -> list[str | None]:
    """strings[id] = vocab_r[id] (the same str objects), None for ids without a token."""
    strings: list[str | None] = [None] * (max(vocab_r, default=-1) + 1)
    for tid, token in vocab_r.items():
        strings[tid] = token
    return strings


class FastPath:
    """Encode text segments (no added tokens inside) with the C byte-level BPE."""

    def __init__(self, encoder, requires_nfc: bool):
        self.encoder = encoder
        self.requires_nfc = requires_nfc

    def __repr__(self) -> str:
        return f"FastPath(requires_nfc={self.requires_nfc})"

    def _handles(self, text: str) -> bool:
        return not self.requires_nfc or text.isascii() or unicodedata.is_normalized("NFC", text)

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]], list[int]] | None:
        """(ids, offsets, words) of one segment, or None when this text needs the Python path
        (an NFC normalizer and a text that is not NFC).

        Raises TokenizerError for a lone surrogate (it has no UTF-8 bytes).
        """
        if not self._handles(text):
            return None
        try:
            return self.encoder.encode(text)
        except ValueError as e:
            raise TokenizerError(str(e)) from None

    def encode_full(
        self, text: str, char_base: int = 0, word_base: int = 0
    ) -> tuple[list[int], list[str], list[tuple[int, int]], list[int], int] | None:
        """(ids, tokens, offsets, words, n_words) of one segment that starts at char `char_base`
        of a longer text and whose first pre-token is word `word_base`; None when this text
        needs the Python path (as encode).

        tokens are the model's vocab_r strings themselves; offsets are shifted by char_base,
        words by word_base; n_words is the segment's number of pre-tokens (so the next
        segment's word_base is word_base + n_words).

        >>> path.encode_full("a b", char_base=4, word_base=1)  # doctest: +SKIP
        ([64, 275], ['a', 'Ġb'], [(4, 5), (5, 7)], [1, 2], 2)
        """
        if not self._handles(text):
            return None
        try:
            return self.encoder.encode_full(text, char_base, word_base)
        except ValueError as e:
            raise TokenizerError(str(e)) from None

    def encode_full_batch(
        self, texts: Sequence[str], char_bases: Sequence[int] | None = None, word_bases: Sequence[int] | None = None
    ) -> list[tuple[list[int], list[str], list[tuple[int, int]], list[int], int] | None]:
        """encode_full() of each text (bases: one int per text, default 0); None for a text
        the path declines. Large batches run the C work on BATCH_THREADS native threads."""
        texts = list(texts)
        handled = [self._handles(t) for t in texts]
        if all(handled):
            todo, todo_chars, todo_words = texts, char_bases, word_bases
        else:
            def keep(values):
                return None if values is None else [v for v, ok in zip(values, handled) if ok]

            todo, todo_chars, todo_words = keep(texts), keep(char_bases), keep(word_bases)
        threads = BATCH_THREADS if sum(map(len, todo)) >= PARALLEL_MIN_CHARS else 1
        try:
            done = self.encoder.encode_full_many(todo, threads=threads, char_bases=todo_chars, word_bases=todo_words)
        except ValueError as e:
            raise TokenizerError(str(e)) from None
        if len(done) == len(texts):
            return done
        it = iter(done)
        return [next(it) if ok else None for ok in handled]

    def encode_packed(self, text: str, char_base: int = 0, word_base: int = 0) -> tuple[bytes, bytes, bytes, int] | None:
        """encode_full() with ids, offsets and words as native int32 bytes (no tokens): what
        `Encoding.from_packed` takes. None when the text needs the Python path."""
        if not self._handles(text):
            return None
        try:
            return self.encoder.encode_packed(text, char_base, word_base)
        except ValueError as e:
            raise TokenizerError(str(e)) from None

    def encode_packed_batch(self, texts: Sequence[str]) -> list[tuple[bytes, bytes, bytes, int] | None]:
        """encode_packed() of each text; large batches run the C work on BATCH_THREADS native threads."""
        texts = list(texts)
        handled = [self._handles(t) for t in texts]
        todo = texts if all(handled) else [t for t, ok in zip(texts, handled) if ok]
        threads = BATCH_THREADS if sum(map(len, todo)) >= PARALLEL_MIN_CHARS else 1
        try:
            done = self.encoder.encode_packed_many(todo, threads=threads)
        except ValueError as e:
            raise TokenizerError(str(e)) from None
        if len(done) == len(texts):
            return done
        it = iter(done)
        return [next(it) if ok else None for ok in handled]

    def encode_batch(self, texts: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]], list[int]] | None]:
        """encode() of each text; large batches run the C work on BATCH_THREADS native threads."""
        texts = list(texts)
        handled = [self._handles(t) for t in texts]
        todo = [t for t, ok in zip(texts, handled) if ok]
        threads = BATCH_THREADS if sum(map(len, todo)) >= PARALLEL_MIN_CHARS else 1
        try:
            done = self.encoder.encode_many(todo, threads=threads)
        except ValueError as e:
            raise TokenizerError(str(e)) from None
        it = iter(done)
        return [next(it) if ok else None for ok in handled]

    def split(self, text: str) -> list[tuple[int, int]]:
        """Pre-token (start, end) char spans of `text` (the scanner alone, no prefix space)."""
        return self.encoder.split(text)
