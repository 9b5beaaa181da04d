"""Fast path for SentencePiece-style tokenizers (pure Python, exact).

Recognised pipelines (from the components' `to_dict()`, plus the Precompiled charsmap object):

- normalizer: None, or a Sequence of
  `Precompiled` (applied only when it leaves the text unchanged: `might_change` is False),
  `Replace` of one char by one char (e.g. " " -> "▁"), `Prepend` of one char, and
  `Replace` of a run of spaces by whitespace when the pre-tokenizer drops whitespace anyway
  (Pegasus' `Replace(" {2,}", " ")` before `WhitespaceSplit`);
- pre-tokenizer: None, `Metaspace` (any prepend scheme, split or not), `WhitespaceSplit`,
  or `Sequence([WhitespaceSplit, Metaspace])`;
- model: `Unigram` (not sampling), or `BPE` without dropout, continuing-subword prefix or
  end-of-word suffix.

Exactness. All supported normalizations keep a simple frame: the normalized text is
`pn` prepended chars (aligned with original char 0) followed by chars that map 1:1 onto the
original. Metaspace's own prepend adds one char aligned with its word's first char. So a token
covering chars [a, b) of a word piece maps back by a shift and a clamp (`_offsets`), and the
per-piece result (ids, relative offsets) is cached: most words of a text were seen before.
A text outside the frame (the charsmap would change it, a Replace pattern that is not 1:1
matches, a Unigram unknown run whose token is the text itself) makes `encode_packed` return
None and the generic pipeline runs, so results are always the generic ones.

BPE without a Metaspace split sees the whole text as one word. When no vocabulary token
holds the replacement char after another char, no merge can join across "x|▁", so the word
is cut there into chunks that are encoded (and cached) on their own: same merges, same
result. (Unigram is not cut that way: Viterbi sums floats along the whole text, and a cut
would change rounding, so ties could break differently.)

>>> from snuggle.tokenizers.models.unigram import Unigram
>>> from snuggle.tokenizers.pre_tokenizers import Metaspace
>>> model = Unigram([("<unk>", 0.0), ("\u2581a", -1.0), ("b", -2.0), ("\u2581", -3.0)], unk_id=0)
>>> fast = plan_unigram_fast_path(None, Metaspace(), model)
>>> fast.encode("a b")
([1, 3, 2], [(0, 1), (1, 2), (2, 3)], [0, 1, 1])
"""

from __future__ import annotations

import re
from array import array
from itertools import accumulate, chain, repeat
from operator import add, itemgetter
from typing import Sequence

from snuggle.errors import TokenizerError

# Rust char::is_whitespace, as WhitespaceSplit uses it (Python's str.isspace also has U+001C..U+001F)
_WS_CLASS = "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
_NON_WS_RE = re.compile(f"[^{_WS_CLASS}]+")
# Replace patterns that only ever match runs of spaces: " ", "  ", " +", " {2,}", " {2,5}"
_SPACE_RUN_RE = re.compile(r"^ +(?:\+|\*|\{\d+,?\d*\})?$")
# chars Python's str.split() takes as whitespace but Rust's char::is_whitespace does not
_PY_ONLY_SPACE = frozenset("\x1c\x1d\x1e\x1f")
_FIRST, _SECOND, _THIRD, _FOURTH = itemgetter(0), itemgetter(1), itemgetter(2), itemgetter(3)
CACHE_CAPACITY = 200_000
CACHE_MAX_PIECE = 256  # longer pieces are encoded every time (whole lines under split=False)


def _as_dict(component) -> dict | None:
    if component is None or isinstance(component, dict):
        return component
    to_dict = getattr(component, "to_dict", None)
    return to_dict() if callable(to_dict) else None


def _flatten_normalizers(normalizer) -> list | None:
    """The leaf normalizer objects of a (nested) Sequence, in order; None if not objects."""
    if normalizer is None:
        return []
    if type(normalizer).__name__ == "Sequence" and hasattr(normalizer, "normalizers"):
        out: list = []
        for inner in normalizer.normalizers:
            flat = _flatten_normalizers(inner)
            if flat is None:
                return None
            out.extend(flat)
        return out
    if isinstance(normalizer, dict):
        return None
    return [normalizer]


def _pattern_text(pattern: dict) -> tuple[str, str] | None:
    if not isinstance(pattern, dict) or len(pattern) != 1:
        return None
    kind, text = next(iter(pattern.items()))
    return (kind, text) if kind in ("String", "Regex") and isinstance(text, str) else None


def _plan_pre_tokenizer(d: dict | None) -> tuple[bool, tuple[str, str, bool] | None] | None:
    """(whitespace_split, (replacement, prepend_scheme, split) or None)."""
    if d is None:
        return False, None
    kind = d.get("type")
    if kind == "WhitespaceSplit":
        return True, None
    if kind == "Metaspace":
        repl = d.get("replacement", "\u2581")
        scheme = d.get("prepend_scheme")
        if scheme is None:  # legacy files: add_prefix_space
            scheme = "always" if d.get("add_prefix_space", True) else "never"
        if not isinstance(repl, str) or len(repl) != 1 or repl.isspace() or scheme not in ("always", "first", "never"):
            return None
        return False, (repl, scheme, bool(d.get("split", True)))
    if kind == "Sequence":
        steps = d.get("pretokenizers") or []
        if len(steps) == 1:
            return _plan_pre_tokenizer(steps[0])
        if len(steps) == 2 and steps[0].get("type") == "WhitespaceSplit" and steps[1].get("type") == "Metaspace":
            inner = _plan_pre_tokenizer(steps[1])
            return None if inner is None else (True, inner[1])
    return None


def _plan_normalizer(normalizer, whitespace_split: bool) -> list[tuple] | None:
    """Steps: ("precompiled", charsmap) | ("char", old, new) | ("prepend", ch) | ("absent", regex)."""
    leaves = _flatten_normalizers(normalizer)
    if leaves is None:
        return None
    steps: list[tuple] = []
    for leaf in leaves:
        d = _as_dict(leaf)
        kind = d.get("type") if d else None
        if kind == "Precompiled" and hasattr(leaf, "charsmap"):
            steps.append(("precompiled", leaf.charsmap))
        elif kind == "Prepend":
            if not isinstance(d.get("prepend"), str) or len(d["prepend"]) != 1:
                return None
            steps.append(("prepend", d["prepend"]))
        elif kind == "Replace":
            pat = _pattern_text(d.get("pattern"))
            content = d.get("content")
            if pat is None or not isinstance(content, str):
                return None
            kind_p, text = pat
            if kind_p == "String" and len(text) == 1 and len(content) == 1:
                steps.append(("char", text, content))
            elif whitespace_split and _SPACE_RUN_RE.match(text) and content and not _NON_WS_RE.search(content):
                # spaces become whitespace, which WhitespaceSplit drops: words and offsets stay
                continue
            else:
                # other replacements are handled only on texts where the pattern does not match
                regex = re.compile(re.escape(text)) if kind_p == "String" else _compile_plain(text)
                if regex is None or not text:
                    return None
                steps.append(("absent", regex))
        else:
            return None
    return steps


def _compile_plain(pattern: str):
    """`pattern` under Python's `re` when it means the same there (plain literals, classes of
    literals, quantifiers); None for anything Oniguruma might read differently."""
    if re.search(r"\\[pPhHRXKgkQEGAZzbB]|\(\?|\[\[|&&|\$|\^", pattern):
        return None
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _plan_model(model, pre: tuple[bool, tuple | None]) -> tuple[str, bool] | None:
    """(kind, chunk_on_replacement) for a handled model."""
    kind = getattr(model, "model_type", type(model).__name__)
    if kind == "Unigram":
        if model.alpha and model.alpha > 0 and model.nbest_size != 1:
            return None  # sampling: every call draws again
        return "Unigram", False
    if kind == "BPE":
        if model.dropout or model.continuing_subword_prefix or model.end_of_word_suffix:
            return None
        whitespace_split, meta = pre
        chunk = False
        if meta is not None and not meta[2] and not whitespace_split:
            chunk = _no_merge_across(model, meta[0])
        return "BPE", chunk
    return None


def _no_merge_across(model, repl: str) -> bool:
    """True when no token (so no merge result) holds `repl` right after another char."""
    bad = re.compile(f"[^{re.escape(repl)}]{re.escape(repl)}")
    return not any(bad.search(tok) for tok in model.vocab)


def plan_unigram_fast_path(normalizer, pre_tokenizer, model) -> "SentencePieceFastPath | None":
    """A SentencePieceFastPath when this configuration is handled exactly, else None.

    >>> plan_unigram_fast_path(None, None, None) is None
    True
    """
    if model is None:
        return None
    pre = _plan_pre_tokenizer(_as_dict(pre_tokenizer))
    if pre is None:
        return None
    steps = _plan_normalizer(normalizer, pre[0])
    if steps is None:
        return None
    planned = _plan_model(model, pre)
    if planned is None:
        return None
    kind, chunk = planned
    return SentencePieceFastPath(SentencePieceEncoder(model, steps, pre[0], pre[1], chunk))


class SentencePieceEncoder:
    """Normalize, pre-tokenize and encode in the 1:1 frame; per-piece results are cached."""

    def __init__(self, model, steps: list[tuple], whitespace_split: bool, meta: tuple | None, chunk: bool):
        self.model = model
        self.steps = steps
        self.whitespace_split = whitespace_split
        self.meta = meta
        self.chunk = chunk
        vocab_r = model.vocab_r
        self.strings = [vocab_r.get(i) for i in range(max(vocab_r, default=-1) + 1)]
        repl = meta[0] if meta else "\u2581"
        self.repl = repl
        self._sub_re = re.compile(f"[^{re.escape(repl)}]+|{re.escape(repl)}[^{re.escape(repl)}]*")
        self._chunk_re = re.compile(f"{re.escape(repl)}*[^{re.escape(repl)}]+|{re.escape(repl)}+")
        # piece -> (ids, offsets as flat [start, end, ...] relative to the piece, the same
        # with the first char counted as a prepended one) or False (the generic path is needed)
        self._cache: dict[str, tuple[list[int], list[int], list[int]] | bool] = {}
        # the common Pegasus case, keyed on the whitespace word itself: word -> (ids, offsets
        # after the prepended replacement); only when Metaspace always prepends and splits
        self._word_cache: dict[str, tuple[list[int], list[int]] | bool] = {}
        self._fast_words = bool(
            whitespace_split and meta is not None and meta[1] == "always" and meta[2]
            and all(s[0] == "precompiled" for s in steps)
        )
        self._precompiled = [s[1] for s in steps if s[0] == "precompiled"]

    # ---- the model on one piece --------------------------------------------------------
    def _piece(self, piece: str):
        """(ids, flat relative offsets, the same with char 0 a prepended char aligned with
        char 1, 2 * number of tokens) for one piece, or False (generic path needed)."""
        hit = self._cache.get(piece)
        if hit is not None:
            return hit
        ids: list[int] = []
        rel: list[int] = []
        strings = self.strings
        for tok in self.model.tokenize(piece):
            if tok.id >= len(strings) or strings[tok.id] != tok.value:
                self._remember(piece, False)  # e.g. a Unigram unk token spells the text itself
                return False
            ids.append(tok.id)
            rel += tok.offsets
        shifted = [max(x - 1, 0) for x in rel]
        for k in range(1, len(shifted), 2):
            if shifted[k] == 0:
                shifted[k] = 1
        entry = (ids, rel, shifted, len(rel))
        self._remember(piece, entry)
        return entry

    def _chunked(self, piece: str, shift: int, base: int):
        """(ids iterable, offsets iterable, number of tokens) of a piece cut into chunks at
        "x|▁" (BPE merges never cross those); shift: where char 0 of the piece falls relative
        to `base` (-1: it is a prepended char). None when the generic path is needed."""
        chunks = self._chunk_re.findall(piece)
        entries = list(map(self._cache.get, chunks))
        if None in entries:
            for i, entry in enumerate(entries):
                if entry is None:
                    entries[i] = self._piece(chunks[i])
        if False in entries:
            return None
        starts = accumulate(map(len, chunks), initial=base + shift)
        first = entries[0]
        if shift < -1:
            return None
        if shift == -1:  # the first chunk holds the prepended char: its own offset table
            next(starts)
            offs = chain(map(base.__add__, first[2]), map(add, chain.from_iterable(map(_SECOND, entries[1:])),
                                                         chain.from_iterable(map(repeat, starts, map(_FOURTH, entries[1:])))))
        else:
            offs = map(add, chain.from_iterable(map(_SECOND, entries)), chain.from_iterable(map(repeat, starts, map(_FOURTH, entries))))
        ids = list(chain.from_iterable(map(_FIRST, entries)))
        return ids, offs, len(ids)

    def _remember(self, piece: str, entry) -> None:
        if len(piece) <= CACHE_MAX_PIECE and len(self._cache) < CACHE_CAPACITY:
            self._cache[piece] = entry

    # ---- normalization -----------------------------------------------------------------
    def _normalize(self, text: str) -> tuple[str, int] | None:
        """(normalized text, number of prepended chars) or None when outside the 1:1 frame."""
        pn = 0
        for step in self.steps:
            kind = step[0]
            if kind == "precompiled":
                text = step[1].normalize_ascii_1to1(text)
                if text is None:
                    return None
            elif kind == "char":
                if step[1] in text:
                    text = text.replace(step[1], step[2])
            elif kind == "prepend":
                if text:
                    text = step[1] + text
                    pn += 1
            elif step[1].search(text):  # "absent"
                return None
        return text, pn

    # ---- encoding ----------------------------------------------------------------------
    def encode_packed(self, text: str, char_base: int | None = 0, word_base: int = 0) -> tuple[bytes, bytes, bytes, int] | None:
        """(ids, offsets, words as native int32 bytes, number of words) or None (generic path).

        char_base: where this text starts in the whole input (None: unknown, then texts whose
        result depends on it, Metaspace prepend_scheme "first", are declined)."""
        if self._fast_words:
            normalized = text
            for cmap in self._precompiled:
                normalized = cmap.normalize_ascii_1to1(normalized)
                if normalized is None:
                    return None  # the charsmap really changes the text: generic path
            res = self._encode_words(normalized, char_base or 0, word_base)
            if res is not None:
                return res
        return self._encode_general(text, char_base, word_base)

    def _encode_words(self, text: str, char_base: int, word_base: int):
        """WhitespaceSplit + Metaspace(always, split): every word is "▁" + word, so the cache
        is keyed on the word itself and the whole result is assembled by C-level iterators."""
        if self.repl in text:
            return None  # a "▁" inside a word makes Metaspace split it: the general loop
        if _PY_ONLY_SPACE.isdisjoint(text):
            words = text.split()  # str.split() == Rust whitespace split without U+001C..U+001F
            if " ".join(words) == text:  # single spaces: word starts are running sums
                starts = accumulate(map((1).__add__, map(len, words)), initial=char_base)
            else:
                starts = [m.start() + char_base for m in _NON_WS_RE.finditer(text)]
        else:
            found = list(_NON_WS_RE.finditer(text))
            words = [m.group() for m in found]
            starts = [m.start() + char_base for m in found]
        cache = self._word_cache
        entries = list(map(cache.get, words))
        if None in entries:
            for i, entry in enumerate(entries):
                if entry is None:
                    entries[i] = self._word_entry(words[i])
        if False in entries:
            return None
        n_words = len(entries)
        ids = array("i", chain.from_iterable(map(_FIRST, entries)))
        # offsets: each word's relative (start, end) pairs plus its start, repeated per value
        offs = array("i", map(add, chain.from_iterable(map(_SECOND, entries)), chain.from_iterable(map(repeat, starts, map(_FOURTH, entries)))))
        word_ids = array("i", chain.from_iterable(map(repeat, range(word_base, word_base + n_words), map(_THIRD, entries))))
        return ids.tobytes(), offs.tobytes(), word_ids.tobytes(), n_words

    def _word_entry(self, word: str):
        """(ids, offsets of "▁" + word with the ▁ prepended, n tokens, 2n) or False."""
        piece = self._piece(self.repl + word)
        entry = (piece[0], piece[2], len(piece[0]), 2 * len(piece[0])) if piece else False
        if len(word) <= CACHE_MAX_PIECE and len(self._word_cache) < CACHE_CAPACITY:
            self._word_cache[word] = entry
        return entry

    def _encode_general(self, text: str, char_base: int | None, word_base: int):
        normalized = self._normalize(text)
        if normalized is None:
            return None
        norm, pn = normalized
        if pn > 1:
            return None
        if self.whitespace_split:
            spans = [m.span() for m in _NON_WS_RE.finditer(norm)]
        else:
            spans = [(0, len(norm))] if norm else []
        meta = self.meta
        repl = self.repl
        ids: list[int] = []
        offs: list[int] = []
        words: list[int] = []
        w = word_base
        for ws, we in spans:
            piece = norm[ws:we]
            pw = 0
            subs = [(0, piece)]
            if meta is not None:
                if " " in piece:
                    piece = piece.replace(" ", repl)
                scheme = meta[1]
                if scheme != "never" and not piece.startswith(repl):
                    if scheme == "always" or (ws - pn <= 0 and char_base == 0):
                        piece = repl + piece
                        pw = 1
                    elif char_base is None:
                        return None  # "first": depends on where this text starts
                subs = [(piece_m.start(), piece_m.group()) for piece_m in self._sub_re.finditer(piece)] if meta[2] else [(0, piece)]
            # original start of the word's first char (prepended chars map to original char 0)
            base = max(ws - pn, 0) + (char_base or 0)
            for c0, sub in subs:
                sh = c0 - pw - (pn if ws < pn else 0)
                if self.chunk:
                    res = self._chunked(sub, sh, base)
                    if res is None:
                        return None
                    ids += res[0]
                    offs += res[1]
                    words += [w] * res[2]
                    w += 1
                    continue
                entry = self._piece(sub)
                if entry is False:
                    return None
                if sh >= 0:
                    offs += map((base + sh).__add__, entry[1])
                elif sh == -1:
                    offs += map(base.__add__, entry[2])
                else:
                    return None
                ids += entry[0]
                words += [w] * len(entry[0])
                w += 1
        return array("i", ids).tobytes(), array("i", offs).tobytes(), array("i", words).tobytes(), w - word_base

    def encode_packed_many(self, texts: Sequence[str], threads: int = 1) -> list[tuple[bytes, bytes, bytes, int] | None]:
        encode = self.encode_packed
        return [encode(t) for t in texts]

    def unpack(self, ids: bytes, offsets: bytes, words: bytes) -> tuple[list[int], list[str], list[tuple[int, int]], list[int]]:
        """(ids, tokens, offsets, words) lists from the packed int32 bytes."""
        id_list = array("i", ids).tolist()
        flat = array("i", offsets).tolist()
        strings = self.strings
        return id_list, [strings[i] for i in id_list], list(zip(flat[0::2], flat[1::2])), array("i", words).tolist()


class SentencePieceFastPath:
    """The interface the Tokenizer pipeline calls (as fast.FastPath)."""

    def __init__(self, encoder: SentencePieceEncoder):
        self.encoder = encoder

    def __repr__(self) -> str:
        return f"SentencePieceFastPath({type(self.encoder.model).__name__})"

    def encode_packed(self, text: str, char_base: int = 0, word_base: int = 0) -> tuple[bytes, bytes, bytes, int] | None:
        """Packed (ids, offsets, words, n_words) of a whole text, or None (generic path)."""
        try:
            return self.encoder.encode_packed(text, char_base, word_base)
        except TokenizerError:
            return None  # let the generic path raise its own error

    def encode_packed_batch(self, texts: Sequence[str]) -> list[tuple[bytes, bytes, bytes, int] | None]:
        return [self.encode_packed(t) for t in texts]

    def encode_full(
        self, text: str, char_base: int | None = None, word_base: int = 0
    ) -> tuple[list[int], list[str], list[tuple[int, int]], list[int], int] | None:
        """(ids, tokens, offsets, words, n_words) of one segment. Offsets are relative to the
        segment (shifted by char_base when given); char_base None means "somewhere in a longer
        text": results that depend on the position (Metaspace "first") are then declined."""
        try:
            res = self.encoder.encode_packed(text, char_base, word_base)
        except TokenizerError:
            return None
        if res is None:
            return None
        ids, tokens, offsets, words = self.encoder.unpack(res[0], res[1], res[2])
        return ids, tokens, offsets, words, res[3]

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]], list[int]] | None:
        """(ids, offsets, words) of a whole text, or None (generic path needed)."""
        res = self.encode_full(text, 0)
        return None if res is None else (res[0], res[2], res[3])
