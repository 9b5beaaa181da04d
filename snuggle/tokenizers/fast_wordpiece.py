"""The fast path for BERT-style WordPiece tokenizers (BERT, MiniLM, DistilBERT style).

`plan_wordpiece_fast_path(normalizer, pre_tokenizer, model)` recognises the configurations
this module reproduces exactly and returns a `WordPieceFastPath` (or None: the pipeline then
runs the generic components). Recognised, from the components' `to_dict()`:

- normalizer: None, `Lowercase`, `BertNormalizer` (any flags), or a `Sequence` of those and
  of NFC / NFD / NFKC / NFKD / StripAccents;
- pre-tokenizer: `BertPreTokenizer`, `Whitespace` or `WhitespaceSplit` (or a one-step Sequence);
- model: `WordPiece` whose vocabulary gives each id one token.

The encoders handle ASCII text. In a text with other chars, only the whitespace-delimited
chunks holding them go through the generic components (normalizer, pre-tokenizer, model on
that chunk alone), the ASCII stretches between them through the encoder: every recognised
normalizer acts char by char (NFD's reordering only moves combining marks, which never
cross whitespace) and every recognised pre-tokenizer splits at whitespace, so a text cut at
ASCII whitespace encodes as its pieces do. (When the planner got plain dicts rather than
component objects it has no generic components, and such texts return None: the pipeline
then runs the generic path for the whole text.) On ASCII every recognised normalizer is exact
as a whole-string operation: the Unicode forms and accent stripping change nothing, CJK
isolation finds nothing, `clean_text` turns \\t \\n \\r into spaces (whitespace to every
pre-tokenizer here anyway) and would *remove* the other control chars, which shifts
offsets, so a text holding one of those is declined. Lowercasing ASCII is char for char,
so the offsets of the (lowercased) text are the offsets of the original.

The work per text segment is: one regex scan over the whole string (match spans are the
pre-token offsets), WordPiece's greedy longest-match per distinct word (cached), and the
result packed as native int32 bytes, which `Encoding.from_packed` unpacks lazily through
`unpack`. The C extension `snuggle.tokenizers._fast_wordpiece` does the same in one pass
(and encodes batches on native threads); `PyWordPieceEncoder` below is the readable
reference it is tested against, and the fallback when the extension is not built.

>>> from snuggle.tokenizers.models.wordpiece import WordPiece
>>> wp = WordPiece({"[UNK]": 0, "hug": 1, "##s": 2, "!": 3}, unk_token="[UNK]")
>>> fast = plan_wordpiece_fast_path({"type": "Lowercase"}, {"type": "BertPreTokenizer"}, wp)
>>> fast.encode_full("Hugs! x")
([1, 2, 3, 0], ['hug', '##s', '!', '[UNK]'], [(0, 3), (3, 4), (4, 5), (6, 7)], [0, 0, 1, 2], 3)
"""

from __future__ import annotations

import os
import re
from array import array
from typing import Sequence

from snuggle.tokenizers.normalized import NormalizedString, PreTokenizedString

try:
    from snuggle.tokenizers import _fast_wordpiece
except ImportError:  # no C compiler at install time: the pure-Python encoder is used
    _fast_wordpiece = None

# Pre-tokenizer kinds (the C extension uses the same numbers).
BERT, WHITESPACE, WHITESPACE_SPLIT = 0, 1, 2
PRE_TOKENIZER_KINDS = {"BertPreTokenizer": BERT, "Whitespace": WHITESPACE, "WhitespaceSplit": WHITESPACE_SPLIT}

# The pre-token patterns restricted to printable ASCII with every whitespace char already a
# space: BERT keeps runs of letters/digits and each punctuation char alone (every printable
# ASCII char that is not alphanumeric or space is BERT punctuation); Whitespace is
# `\w+|[^\w\s]+`; WhitespaceSplit keeps runs of non-spaces.
ASCII_PATTERNS = {
    BERT: re.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9 ]"),
    WHITESPACE: re.compile(r"[A-Za-z0-9_]+|[^A-Za-z0-9_ ]+"),
    WHITESPACE_SPLIT: re.compile(r"[^ ]+"),
}

# Normalizers that are the identity on ASCII (lowercasing aside).
_ASCII_IDENTITY_NORMALIZERS = {"NFC", "NFD", "NFKC", "NFKD", "StripAccents"}
_TAB_NL_CR_TO_SPACE = str.maketrans("\t\n\r", "   ")

# A char the encoders decline (not printable ASCII, not \t \n \r), and the whitespace that
# delimits the chunk around it.
_DECLINED_CHAR = re.compile(r"[^\x20-\x7e\t\n\r]")
_ASCII_WHITESPACE = re.compile(r"[ \t\n\r]")

# Word cache bound of the pure-Python encoder (cleared when full).
WORD_CACHE_SIZE = 1 << 16

# encode_packed_batch runs the C work on this many native threads (GIL released) once the
# batch holds PARALLEL_MIN_CHARS chars; below that one thread is faster.
BATCH_THREADS = min(2, os.cpu_count() or 1)
PARALLEL_MIN_CHARS = 1 << 15

_NATIVE_INT32 = array("i").itemsize == 4


def _as_dict(component) -> dict | None:
    if component is None or isinstance(component, dict):
        return component
    to_dict = getattr(component, "to_dict", None)
    return to_dict() if callable(to_dict) else None


def _normalizer_lowercases(d: dict | None) -> bool | None:
    """Whether the normalizer lowercases (ASCII view), or None when it is not handled."""
    if d is None:
        return False
    kind = d.get("type")
    if kind == "Lowercase":
        return True
    if kind == "BertNormalizer":
        return bool(d.get("lowercase", True))
    if kind in _ASCII_IDENTITY_NORMALIZERS:
        return False
    if kind == "Sequence":
        lowers = [_normalizer_lowercases(inner) for inner in d.get("normalizers") or []]
        if any(x is None for x in lowers):
            return None
        return any(lowers)
    return None


def _pre_tokenizer_kind(d: dict | None) -> int | None:
    if d is None:
        return None
    kind = d.get("type")
    if kind == "Sequence":
        steps = d.get("pretokenizers") or []
        return _pre_tokenizer_kind(steps[0]) if len(steps) == 1 else None
    return PRE_TOKENIZER_KINDS.get(kind)


def _token_strings(vocab: dict[str, int]) -> list[str | None] | None:
    """strings[id] = the token with that id; None when some id has two tokens."""
    strings: list[str | None] = [None] * (max(vocab.values(), default=-1) + 1)
    for token, tid in vocab.items():
        if tid < 0 or strings[tid] is not None:
            return None
        strings[tid] = token
    return strings


def plan_wordpiece_fast_path(normalizer, pre_tokenizer, model) -> "WordPieceFastPath | None":
    """A WordPieceFastPath when this module reproduces the configuration exactly, else None.

    >>> plan_wordpiece_fast_path(None, {"type": "Metaspace"}, None) is None
    True
    """
    if not _NATIVE_INT32 or model is None:
        return None
    lowercase = _normalizer_lowercases(_as_dict(normalizer))
    kind = _pre_tokenizer_kind(_as_dict(pre_tokenizer))
    if lowercase is None or kind is None:
        return None
    if getattr(model, "model_type", None) != "WordPiece":
        return None
    d = model.to_dict()
    if d.get("type") != "WordPiece":
        return None
    vocab = d["vocab"]
    strings = _token_strings(vocab)
    if strings is None:
        return None
    prefix = d["continuing_subword_prefix"]
    unk_id = vocab.get(d["unk_token"], -1)
    max_chars = int(d["max_input_chars_per_word"])
    if _fast_wordpiece is not None:
        encoder = _fast_wordpiece.WordPieceEncoder(vocab, strings, unk_id, prefix, max_chars, kind, lowercase)
    else:
        encoder = PyWordPieceEncoder(vocab, strings, unk_id, prefix, max_chars, kind, lowercase)
    components = (normalizer, pre_tokenizer, model)
    if (normalizer is not None and not hasattr(normalizer, "normalize")) or not hasattr(pre_tokenizer, "pre_tokenize"):
        components = None  # dicts: no generic components for the chunks the encoder declines
    return WordPieceFastPath(encoder, components)


def encode_chunk_generic(components, chunk: str, char_base: int, word_base: int) -> tuple[list[int], list[int], list[int], int]:
    """(ids, flat offsets, words, n_words) of `chunk` through the generic components, shifted
    by char_base / word_base."""
    normalizer, pre_tokenizer, model = components
    n = NormalizedString(chunk)
    if normalizer is not None:
        normalizer.normalize(n)
    pre = PreTokenizedString(n)
    pre_tokenizer.pre_tokenize(pre)
    pre.tokenize(lambda split: model.tokenize(split.normalized))
    ids: list[int] = []
    offsets: list[int] = []
    words: list[int] = []
    for tid, _, (s, e), word, _ in pre.to_encoding_items(None, 0):
        ids.append(tid)
        offsets += (s + char_base, e + char_base)
        words.append(word + word_base)
    return ids, offsets, words, len(pre.splits)


class PyWordPieceEncoder:
    """The pure-Python reference of the C `WordPieceEncoder` (same constructor and methods).

    >>> enc = PyWordPieceEncoder({"a": 0, "##b": 1}, ["a", "##b"], -1, "##", 100, BERT, True)
    >>> ids, offsets, words, n_words = enc.encode_packed("AB a")
    >>> enc.unpack(ids, offsets, words)
    ([0, 1, 0], ['a', '##b', 'a'], [(0, 1), (1, 2), (3, 4)], [0, 0, 1])
    """

    def __init__(self, vocab: dict[str, int], strings: list, unk_id: int, prefix: str, max_chars: int,
                 kind: int, lowercase: bool):
        self.vocab = vocab
        self.strings = strings
        self.unk_id = unk_id
        self.prefix = prefix
        self.max_chars = max_chars
        self.kind = kind
        self.lowercase = lowercase
        self.finditer = ASCII_PATTERNS[kind].finditer
        self.longest = max(map(len, vocab), default=0)
        # word -> (ids, start offsets, end offsets) relative to the word, or None: needs unk
        self.cache: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None] = {}

    def _split_word(self, word: str):
        """Greedy longest-match-first WordPiece of one word; None when it is unknown."""
        n = len(word)
        if n > self.max_chars:
            return None
        vocab, prefix, longest = self.vocab, self.prefix, self.longest
        ids, starts, ends = [], [], []
        start = 0
        while start < n:
            end = min(n, start + max(longest - (len(prefix) if start else 0), 0))
            while end > start:
                tid = vocab.get(word[start:end] if start == 0 else prefix + word[start:end])
                if tid is not None:
                    break
                end -= 1
            else:
                return None
            ids.append(tid)
            starts.append(start)
            ends.append(end)
            start = end
        return tuple(ids), tuple(starts), tuple(ends)

    def prepare(self, text: str) -> str | None:
        """The text the pre-token scan runs on (same length as `text`), None when declined."""
        if not text.isascii():
            return None
        if not text.isprintable():
            text = text.translate(_TAB_NL_CR_TO_SPACE)
            if not text.isprintable():
                return None  # other control chars: clean_text would remove them (offsets shift)
        return text.lower() if self.lowercase else text

    def encode_packed(self, text: str, char_base: int = 0, word_base: int = 0) -> tuple[bytes, bytes, bytes, int] | None:
        """(ids, offsets as start/end pairs, words) as int32 bytes and the number of words;
        None when the text is not handled (non-ASCII, control chars, unknown word without an unk)."""
        text = self.prepare(text)
        if text is None:
            return None
        cache = self.cache
        split_word = self._split_word
        ids: list[int] = []
        offsets: list[int] = []
        words: list[int] = []
        word = word_base - 1
        for word, match in enumerate(self.finditer(text), word_base):
            piece = match.group()
            entry = cache.get(piece, False)
            if entry is False:
                if len(cache) >= WORD_CACHE_SIZE:
                    cache.clear()
                entry = cache[piece] = split_word(piece)
            start = match.start() + char_base
            if entry is None:
                if self.unk_id < 0:
                    return None  # the generic path raises the missing-unk error
                ids.append(self.unk_id)
                offsets += (start, match.end() + char_base)
                words.append(word)
                continue
            tids, starts, ends = entry
            ids += tids
            if len(tids) == 1:
                offsets += (start, start + ends[0])
                words.append(word)
            else:
                for s, e in zip(starts, ends):
                    offsets += (start + s, start + e)
                words += [word] * len(tids)
        return (array("i", ids).tobytes(), array("i", offsets).tobytes(), array("i", words).tobytes(),
                word + 1 - word_base)

    def encode_packed_many(self, texts: Sequence[str], threads: int = 1) -> list[tuple[bytes, bytes, bytes, int] | None]:
        return [self.encode_packed(t) for t in texts]

    def unpack(self, ids: bytes, offsets: bytes, words: bytes) -> tuple[list[int], list[str], list[tuple[int, int]], list[int]]:
        """(ids, tokens, offsets, words) lists from the packed int32 bytes."""
        id_list = array("i", ids).tolist()
        flat = array("i", offsets).tolist()
        strings = self.strings
        return id_list, [strings[i] for i in id_list], list(zip(flat[0::2], flat[1::2])), array("i", words).tolist()


class WordPieceFastPath:
    """Encode text segments (no added tokens inside) with a WordPiece encoder; the object the
    Tokenizer pipeline uses (same methods as `snuggle.tokenizers.fast.FastPath`)."""

    def __init__(self, encoder, components=None):
        self.encoder = encoder  # also the unpacker handed to Encoding.from_packed
        # (normalizer, pre_tokenizer, model) objects for the chunks the encoder declines
        self.components = components

    def __repr__(self) -> str:
        return f"WordPieceFastPath({type(self.encoder).__name__})"

    def encode_packed(self, text: str, char_base: int = 0, word_base: int = 0) -> tuple[bytes, bytes, bytes, int] | None:
        """(ids, offsets, words) as native int32 bytes and the number of words; None when the
        text needs the generic path (see the module docstring)."""
        res = self.encoder.encode_packed(text, char_base, word_base)
        if res is None and self.components is not None:
            return self._encode_mixed(text, char_base, word_base)
        return res

    def _encode_mixed(self, text: str, char_base: int, word_base: int) -> tuple[bytes, bytes, bytes, int] | None:
        """encode_packed of a text the encoder declined: the whitespace-delimited chunks with
        non-ASCII or control chars through the generic components, the rest through the encoder."""
        ids, offsets, words = array("i"), array("i"), array("i")
        word = word_base
        pos = 0
        n = len(text)

        def encoded_stretch(end: int) -> bool:
            nonlocal word
            if pos == end:
                return True
            res = self.encoder.encode_packed(text[pos:end], char_base + pos, word)
            if res is None:
                return False  # e.g. an unknown word and no unk token: the generic path raises
            ids.frombytes(res[0])
            offsets.frombytes(res[1])
            words.frombytes(res[2])
            word += res[3]
            return True

        for match in _DECLINED_CHAR.finditer(text):
            i = match.start()
            if i < pos:
                continue  # inside the chunk just encoded
            start = max(pos, max(text.rfind(c, pos, i) for c in " \t\n\r") + 1)
            space = _ASCII_WHITESPACE.search(text, i)
            end = space.start() if space else n
            if not encoded_stretch(start):
                return None
            chunk = encode_chunk_generic(self.components, text[start:end], char_base + start, word)
            ids.extend(chunk[0])
            offsets.extend(chunk[1])
            words.extend(chunk[2])
            word += chunk[3]
            pos = end
        if not encoded_stretch(n):
            return None
        return ids.tobytes(), offsets.tobytes(), words.tobytes(), word - word_base

    def encode_packed_batch(self, texts: Sequence[str]) -> list[tuple[bytes, bytes, bytes, int] | None]:
        """encode_packed() of each text; large batches run the C work on BATCH_THREADS threads."""
        texts = list(texts)
        threads = BATCH_THREADS if sum(map(len, texts)) >= PARALLEL_MIN_CHARS else 1
        done = self.encoder.encode_packed_many(texts, threads)
        if self.components is not None:
            for i, res in enumerate(done):
                if res is None:
                    done[i] = self._encode_mixed(texts[i], 0, 0)
        return done

    def encode_full(
        self, text: str, char_base: int = 0, word_base: int = 0
    ) -> tuple[list[int], list[str], list[tuple[int, int]], list[int], int] | None:
        """(ids, tokens, offsets, words, n_words) of one segment starting at char `char_base`
        whose first pre-token is word `word_base`; None when the text needs the generic path."""
        res = self.encode_packed(text, char_base, word_base)
        if res is None:
            return None
        ids, tokens, offsets, words = self.encoder.unpack(res[0], res[1], res[2])
        return ids, tokens, offsets, words, res[3]

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]], list[int]] | None:
        """(ids, offsets, words) of one segment, or None (generic path needed)."""
        res = self.encode_full(text)
        return None if res is None else (res[0], res[2], res[3])
