"""Tokenizer: normalizer -> pre-tokenizer -> model -> post-processor, and back with the decoder.

Same Python API and tokenizer.json format as `tokenizers.Tokenizer`.

>>> from snuggle.tokenizers import Tokenizer, models, pre_tokenizers
>>> tok = Tokenizer(models.WordLevel({"hello": 0, "world": 1, "[UNK]": 2}, unk_token="[UNK]"))
>>> tok.pre_tokenizer = pre_tokenizers.Whitespace()
>>> enc = tok.encode("hello big world")
>>> enc.ids, enc.offsets
([0, 2, 1], [(0, 5), (6, 9), (10, 15)])
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Sequence

from snuggle.errors import TokenizerError, TokenizerFileError
from snuggle.tokenizers.added_vocabulary import AddedToken, AddedVocabulary, as_added_token, load_added_tokens
from snuggle.tokenizers.encoding import Encoding
from snuggle.tokenizers.normalized import NormalizedString, PreTokenizedString
from snuggle.utils.atomic import atomic_write_text

_TRUNCATION_STRATEGIES = {"longest_first": "LongestFirst", "only_first": "OnlyFirst", "only_second": "OnlySecond"}
_DIRECTIONS = {"left": "Left", "right": "Right"}


def _component(module: str, d: dict | None, where: str):
    """Build a component from its tokenizer.json object through the owning module's from_dict."""
    if d is None:
        return None
    import importlib

    mod = importlib.import_module(f"snuggle.tokenizers.{module}")
    try:
        return mod.from_dict(d)
    except TokenizerFileError as e:
        if e.where is None:
            raise TokenizerFileError(str(e), where=where) from e
        raise
    except TokenizerError as e:
        raise TokenizerFileError(str(e), where=where) from e
    except (KeyError, TypeError, ValueError) as e:
        raise TokenizerFileError(f"malformed {module[:-1] if module.endswith('s') else module} object: {e!r}", where=where) from e


class Tokenizer:
    """A full tokenization pipeline around a model."""

    def __init__(self, model):
        if model is None:
            raise TokenizerError("Tokenizer needs a model (e.g. models.BPE(), models.WordPiece(...))")
        self._model = model
        self._normalizer = None
        self._pre_tokenizer = None
        self._post_processor = None
        self._decoder = None
        self._added = AddedVocabulary()
        self._truncation: dict | None = None
        self._padding: dict | None = None
        self._fast = None
        self._fast_checked = False
        self._post_noop = True
        self._single_specials = None

    # ---- components ------------------------------------------------------------------
    def _invalidate(self) -> None:
        self._fast = None
        self._fast_checked = False

    @property
    def model(self):
        return self._model

    @model.setter
    def model(self, model) -> None:
        self._model = model
        self._added.refresh(model, self._normalizer)
        self._invalidate()

    @property
    def normalizer(self):
        return self._normalizer

    @normalizer.setter
    def normalizer(self, normalizer) -> None:
        self._normalizer = normalizer
        self._added.refresh(self._model, normalizer)
        self._invalidate()

    @property
    def pre_tokenizer(self):
        return self._pre_tokenizer

    @pre_tokenizer.setter
    def pre_tokenizer(self, pre_tokenizer) -> None:
        self._pre_tokenizer = pre_tokenizer
        self._invalidate()

    @property
    def post_processor(self):
        return self._post_processor

    @post_processor.setter
    def post_processor(self, processor) -> None:
        self._post_processor = processor
        self._post_noop = _single_noop(processor)
        single_specials = getattr(processor, "single_specials", None)
        self._single_specials = single_specials() if single_specials is not None else None

    @property
    def decoder(self):
        return self._decoder

    @decoder.setter
    def decoder(self, decoder) -> None:
        self._decoder = decoder

    @property
    def encode_special_tokens(self) -> bool:
        return self._added.encode_special_tokens

    @encode_special_tokens.setter
    def encode_special_tokens(self, value: bool) -> None:
        self._added.encode_special_tokens = bool(value)

    def _fast_path(self):
        """The compiled fast path for this configuration, or None (generic path)."""
        if not self._fast_checked:
            self._fast_checked = True
            try:
                from snuggle.tokenizers.fast import plan_fast_path
            except ImportError:
                plan_fast_path = None
            self._fast = plan_fast_path(self._normalizer, self._pre_tokenizer, self._model) if plan_fast_path else None
        return self._fast

    # ---- vocabulary ------------------------------------------------------------------
    def get_vocab(self, with_added_tokens: bool = True) -> dict[str, int]:
        vocab = dict(self._model.get_vocab())
        if with_added_tokens:
            vocab.update(self._added.get_vocab())
        return vocab

    def get_vocab_size(self, with_added_tokens: bool = True) -> int:
        if not with_added_tokens:
            return self._model.get_vocab_size()
        return len(self.get_vocab(True))

    def get_added_tokens_decoder(self) -> dict[int, AddedToken]:
        return self._added.get_added_tokens_decoder()

    def token_to_id(self, token: str) -> int | None:
        return self._added.token_to_id(token, self._model)

    def id_to_token(self, id: int) -> str | None:
        return self._added.id_to_token(id, self._model)

    def add_tokens(self, tokens: Sequence[str | AddedToken]) -> int:
        added = self._added.add_tokens([as_added_token(t, special=False) for t in tokens], self._model, self._normalizer)
        return added

    def add_special_tokens(self, tokens: Sequence[str | AddedToken]) -> int:
        return self._added.add_tokens([as_added_token(t, special=True) for t in tokens], self._model, self._normalizer)

    # ---- truncation and padding ------------------------------------------------------
    def enable_truncation(self, max_length: int, stride: int = 0, strategy: str = "longest_first", direction: str = "right") -> None:
        if strategy not in _TRUNCATION_STRATEGIES:
            raise TokenizerError(f"truncation strategy must be one of {list(_TRUNCATION_STRATEGIES)}, got {strategy!r}")
        if direction not in _DIRECTIONS:
            raise TokenizerError(f"truncation direction must be 'left' or 'right', got {direction!r}")
        if stride >= max_length and max_length > 0:
            raise TokenizerError(f"truncation stride ({stride}) must be smaller than max_length ({max_length})")
        self._truncation = {"max_length": int(max_length), "stride": int(stride), "strategy": strategy, "direction": direction}

    def no_truncation(self) -> None:
        self._truncation = None

    @property
    def truncation(self) -> dict | None:
        return dict(self._truncation) if self._truncation else None

    def enable_padding(
        self,
        direction: str = "right",
        pad_id: int = 0,
        pad_type_id: int = 0,
        pad_token: str = "[PAD]",
        length: int | None = None,
        pad_to_multiple_of: int | None = None,
    ) -> None:
        if direction not in _DIRECTIONS:
            raise TokenizerError(f"padding direction must be 'left' or 'right', got {direction!r}")
        self._padding = {
            "length": length,
            "pad_to_multiple_of": pad_to_multiple_of,
            "pad_id": int(pad_id),
            "pad_type_id": int(pad_type_id),
            "pad_token": pad_token,
            "direction": direction,
        }

    def no_padding(self) -> None:
        self._padding = None

    @property
    def padding(self) -> dict | None:
        return dict(self._padding) if self._padding else None

    # ---- encoding --------------------------------------------------------------------
    def _encode_raw(self, sequence: str, type_id: int, word_idx: int | None, allow_fast: bool = True) -> Encoding:
        """Added tokens, normalization, pre-tokenization and the model for one string."""
        fast = self._fast_path() if (word_idx is None and allow_fast) else None
        if fast is not None:
            enc = self._encode_fast(fast, sequence, type_id)
            if enc is not None:
                return enc
        pre = self._added.extract_and_normalize(self._normalizer, sequence)
        if self._pre_tokenizer is not None:
            self._pre_tokenizer.pre_tokenize(pre)
        pre.tokenize(lambda n: self._model.tokenize(n.normalized))
        return Encoding.from_items(pre.to_encoding_items(word_idx, type_id))

    def _fast_pieces(self, sequence: str) -> list[tuple[int | None, int, int]] | None:
        """Cut `sequence` at added tokens: (added id or None, start, end) pieces; None when the
        generic path is needed (normalized added tokens under a normalizer)."""
        added = self._added
        pieces = added.split_raw(sequence) if added.has_raw else [(None, 0, len(sequence))]
        if added.has_normalized:
            if self._normalizer is not None:
                return None
            refined = []
            for tid, s, e in pieces:
                if tid is not None:
                    refined.append((tid, s, e))
                else:
                    for tid2, s2, e2 in added._normalized.find(sequence[s:e], added.added_tokens_map_r, added.encode_special_tokens):
                        refined.append((tid2, s + s2, s + e2))
            pieces = refined
        return pieces

    def _encode_fast(self, fast, sequence: str, type_id: int) -> Encoding | None:
        """The fast path: added tokens found in Python, each text segment encoded in C."""
        pieces = self._fast_pieces(sequence)
        if pieces is None:
            return None
        if len(pieces) == 1 and pieces[0][0] is None:  # the common case: no added token in the text
            res = fast.encode_packed(sequence)
            if res is None:
                return None
            return Encoding.from_packed(res[0], res[1], res[2], type_id, fast.encoder)
        segments = [sequence[s:e] for tid, s, e in pieces if tid is None and s < e]
        results = [fast.encode_full(t) for t in segments]
        return self._assemble(sequence, pieces, results, type_id)

    @staticmethod
    def _assemble(sequence: str, pieces, results, type_id: int) -> Encoding | None:
        """Join added tokens and the fast path's per-segment results into one Encoding."""
        ids: list[int] = []
        tokens: list[str] = []
        offsets: list[tuple[int, int]] = []
        words: list[int | None] = []
        word = 0
        k = 0
        for tid, s, e in pieces:
            if s == e:
                continue
            if tid is not None:
                ids.append(tid)
                tokens.append(sequence[s:e])  # the matched text, stripped spaces included
                offsets.append((s, e))
                words.append(word)
                word += 1
                continue
            res = results[k]
            k += 1
            if res is None:
                return None
            seg_ids, seg_tokens, seg_offsets, seg_words, n_words = res
            ids.extend(seg_ids)
            tokens.extend(seg_tokens)
            offsets.extend([(a + s, b + s) for a, b in seg_offsets] if s else seg_offsets)
            words.extend([w + word for w in seg_words] if word else seg_words)
            word += n_words
        n = len(ids)
        return Encoding(ids, [type_id] * n, tokens, offsets, words, [0] * n, [1] * n)

    def _encode_batch_fast(self, fast, texts: list[str], add_special_tokens: bool) -> list[Encoding]:
        """encode_batch for single strings on the fast path: the texts without added tokens go
        to the C encoder in one call (both cores, GIL released); the others one by one."""
        out: list[Encoding | None] = [None] * len(texts)
        plain: list[int] = []
        for i, t in enumerate(texts):
            pieces = self._fast_pieces(t)
            if pieces is not None and len(pieces) == 1 and pieces[0][0] is None:
                plain.append(i)
            else:
                out[i] = self._encode_raw(t, 0, None)
        if plain:
            unpacker = fast.encoder
            for i, res in zip(plain, fast.encode_packed_batch([texts[i] for i in plain])):
                out[i] = self._encode_raw(texts[i], 0, None) if res is None else Encoding.from_packed(res[0], res[1], res[2], 0, unpacker)
        return [self.post_process(e, None, add_special_tokens) for e in out]

    def _encode_sequence(self, sequence, type_id: int, is_pretokenized: bool) -> Encoding:
        if is_pretokenized:
            if isinstance(sequence, str):
                raise TokenizerError("is_pretokenized=True expects a list of words, got a str")
            parts = [self._encode_raw(_as_text(w), type_id, i) for i, w in enumerate(sequence)]
            return Encoding.merge(parts, growing_offsets=False)
        return self._encode_raw(_as_text(sequence), type_id, None)

    def encode(
        self,
        sequence,
        pair=None,
        is_pretokenized: bool = False,
        add_special_tokens: bool = True,
    ) -> Encoding:
        """Encode one sequence (and optionally its pair) into an Encoding."""
        enc = self._encode_sequence(sequence, 0, is_pretokenized)
        pair_enc = self._encode_sequence(pair, 1, is_pretokenized) if pair is not None else None
        return self.post_process(enc, pair_enc, add_special_tokens)

    def encode_batch(self, input: Sequence, is_pretokenized: bool = False, add_special_tokens: bool = True) -> list[Encoding]:
        """Encode many inputs (str, or (first, pair) tuples); pads to the batch's longest when padding is on."""
        fast = self._fast_path() if not is_pretokenized else None
        if fast is not None and len(input) > 1 and all(type(x) is str for x in input):
            out = self._encode_batch_fast(fast, list(input), add_special_tokens)
            if self._padding is not None:
                self._pad_all(out)
            return out
        out = []
        for item in input:
            if isinstance(item, (tuple, list)) and not is_pretokenized:
                if len(item) != 2:
                    raise TokenizerError(f"a batch item must be a str or a (sequence, pair) of 2, got {len(item)} items")
                out.append(self.encode(item[0], item[1], False, add_special_tokens))
            elif is_pretokenized and isinstance(item, tuple) and len(item) == 2 and not isinstance(item[0], str):
                out.append(self.encode(item[0], item[1], True, add_special_tokens))
            else:
                out.append(self.encode(item, None, is_pretokenized, add_special_tokens))
        if self._padding is not None:
            self._pad_all(out)
        return out

    def encode_batch_fast(self, input: Sequence, is_pretokenized: bool = False, add_special_tokens: bool = True) -> list[Encoding]:
        return self.encode_batch(input, is_pretokenized, add_special_tokens)

    def num_special_tokens_to_add(self, is_pair: bool) -> int:
        if self._post_processor is None:
            return 0
        return self._post_processor.num_special_tokens_to_add(is_pair)

    def post_process(self, encoding: Encoding, pair: Encoding | None = None, add_special_tokens: bool = True) -> Encoding:
        """Truncate, add special tokens (post-processor), then pad, as the reference does."""
        if pair is None and self._truncation is None and self._padding is None:
            if self._post_noop:
                return encoding  # nothing would change: skip the copies
            specials = self._single_specials
            if specials is not None and encoding._packed is not None and encoding._packed[5] is None:
                if add_special_tokens:
                    return encoding.with_specials(specials)
                if specials.type_id == 0:
                    return encoding
        if self._truncation is not None:
            trunc = dict(self._truncation)
            n_added = self.num_special_tokens_to_add(pair is not None) if add_special_tokens else 0
            if n_added:
                if trunc["max_length"] < n_added:
                    raise TokenizerError(
                        f"truncation max_length ({trunc['max_length']}) is smaller than the {n_added} special tokens "
                        "the post-processor adds; raise max_length"
                    )
                trunc["max_length"] -= n_added
            truncate_encodings(encoding, pair, **trunc)
        if self._post_processor is not None:
            final = self._post_processor.process(encoding, pair, add_special_tokens)
        elif pair is None:
            final = encoding
        else:
            encoding.set_sequence_id(0)
            pair.set_sequence_id(1)
            final = Encoding.merge([encoding, pair], growing_offsets=False)
        if self._padding is not None:
            self._pad_all([final])
        return final

    def _pad_all(self, encodings: list[Encoding]) -> None:
        p = self._padding
        if not encodings:
            return
        length = p["length"] if p["length"] is not None else max(len(e) for e in encodings)
        m = p["pad_to_multiple_of"]
        if m and length % m:
            length += m - length % m
        for e in encodings:
            e.pad(length, p["direction"], p["pad_id"], p["pad_type_id"], p["pad_token"])

    # ---- decoding --------------------------------------------------------------------
    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        tokens = []
        for i in ids:
            tok = self._added.id_to_token(int(i), self._model)
            if tok is None:
                continue
            if skip_special_tokens and self._added.is_special_token(tok):
                continue
            tokens.append(tok)
        if self._decoder is not None:
            return self._decoder.decode(tokens)
        return " ".join(tokens)

    def decode_batch(self, sequences: Sequence[Sequence[int]], skip_special_tokens: bool = True) -> list[str]:
        return [self.decode(s, skip_special_tokens) for s in sequences]

    # ---- training --------------------------------------------------------------------
    def _words_for_training(self, sequence: str) -> list[str]:
        n = NormalizedString(sequence)
        if self._normalizer is not None:
            self._normalizer.normalize(n)
        pre = PreTokenizedString(n)
        if self._pre_tokenizer is not None:
            self._pre_tokenizer.pre_tokenize(pre)
        return [s for s, _, _ in pre.get_splits("original", "byte")]

    def train_from_iterator(self, iterator: Iterable, trainer=None, length: int | None = None) -> None:
        """Train the model on an iterator of strings (or of lists of strings)."""
        trainer = trainer if trainer is not None else self._model.get_trainer()

        def flatten():
            for item in iterator:
                if isinstance(item, str):
                    yield item
                else:
                    yield from item

        counter = None
        if hasattr(trainer, "feed_word_counts"):
            from snuggle.tokenizers.fast_words import plan_word_counter

            counter = plan_word_counter(self._normalizer, self._pre_tokenizer)
        if counter is not None:
            trainer.feed_word_counts(counter.count(flatten()))
        else:
            trainer.feed(flatten(), self._words_for_training)
        special = trainer.train(self._model)
        self._invalidate()
        if special:
            self.add_special_tokens(special)
        else:
            self._added.refresh(self._model, self._normalizer)

    def train(self, files: Sequence[str], trainer=None) -> None:
        """Train the model on text files, one sequence per line."""
        for f in files:
            if not os.path.isfile(f):
                raise TokenizerFileError("training file not found", path=str(f))

        def lines():
            for f in files:
                with open(f, encoding="utf-8", errors="strict") as fh:
                    try:
                        yield from fh
                    except UnicodeDecodeError as e:
                        raise TokenizerFileError(f"not valid UTF-8 ({e.reason} at byte {e.start})", path=str(f)) from e

        self.train_from_iterator(lines(), trainer)

    # ---- serialization ---------------------------------------------------------------
    def to_dict(self) -> dict:
        trunc = None
        if self._truncation is not None:
            t = self._truncation
            trunc = {
                "direction": _DIRECTIONS[t["direction"]],
                "max_length": t["max_length"],
                "strategy": _TRUNCATION_STRATEGIES[t["strategy"]],
                "stride": t["stride"],
            }
        pad = None
        if self._padding is not None:
            p = self._padding
            pad = {
                "strategy": {"Fixed": p["length"]} if p["length"] is not None else "BatchLongest",
                "direction": _DIRECTIONS[p["direction"]],
                "pad_to_multiple_of": p["pad_to_multiple_of"],
                "pad_id": p["pad_id"],
                "pad_type_id": p["pad_type_id"],
                "pad_token": p["pad_token"],
            }
        return {
            "version": "1.0",
            "truncation": trunc,
            "padding": pad,
            "added_tokens": self._added.to_list(),
            "normalizer": self._normalizer.to_dict() if self._normalizer is not None else None,
            "pre_tokenizer": self._pre_tokenizer.to_dict() if self._pre_tokenizer is not None else None,
            "post_processor": self._post_processor.to_dict() if self._post_processor is not None else None,
            "decoder": self._decoder.to_dict() if self._decoder is not None else None,
            "model": self._model.to_dict(),
        }

    def to_str(self, pretty: bool = False) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2 if pretty else None, separators=None if pretty else (",", ":"))

    def save(self, path: str, pretty: bool = True) -> None:
        atomic_write_text(path, self.to_str(pretty))

    @classmethod
    def from_dict(cls, d: dict, path: str | None = None) -> "Tokenizer":
        if not isinstance(d, dict):
            raise TokenizerFileError(f"expected a JSON object at the top level, got {type(d).__name__}", path=path)
        if "model" not in d or d["model"] is None:
            raise TokenizerFileError("no 'model' field; a tokenizer.json needs a model (BPE, WordPiece, Unigram, WordLevel)", path=path)
        try:
            model = _component("models", d["model"], "model")
            tok = cls(model)
            tok._normalizer = _component("normalizers", d.get("normalizer"), "normalizer")
            tok._pre_tokenizer = _component("pre_tokenizers", d.get("pre_tokenizer"), "pre_tokenizer")
            tok.post_processor = _component("processors", d.get("post_processor"), "post_processor")
            tok._decoder = _component("decoders", d.get("decoder"), "decoder")
            load_added_tokens(d.get("added_tokens") or [], model, tok._normalizer, tok._added, lambda i: f"added_tokens[{i}]")
            tok._truncation = _parse_truncation(d.get("truncation"))
            tok._padding = _parse_padding(d.get("padding"))
        except TokenizerFileError as e:
            if path is not None and e.path is None:
                raise TokenizerFileError(str(e), path=path) from e
            raise
        return tok

    @classmethod
    def from_str(cls, json_str: str) -> "Tokenizer":
        try:
            d = _loads(json_str)
        except json.JSONDecodeError as e:
            raise TokenizerFileError(f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
        return cls.from_dict(d)

    @classmethod
    def from_buffer(cls, buffer: bytes) -> "Tokenizer":
        try:
            text = bytes(buffer).decode("utf-8")
        except UnicodeDecodeError as e:
            raise TokenizerFileError(f"not valid UTF-8 at byte {e.start}") from e
        return cls.from_str(text)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "Tokenizer":
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise TokenizerFileError("file not found (expected a tokenizer.json)", path=path)
        with open(path, "rb") as f:
            raw = f.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TokenizerFileError(f"not valid UTF-8 at byte {e.start}", path=path) from e
        try:
            d = _loads(text)
        except json.JSONDecodeError as e:
            raise TokenizerFileError(f"invalid JSON: {e.msg}", path=path, where=f"line {e.lineno} column {e.colno}") from e
        return cls.from_dict(d, path=path)

    def __getstate__(self) -> dict:
        return {"json": self.to_str()}

    def __setstate__(self, state: dict) -> None:
        other = Tokenizer.from_str(state["json"])
        self.__dict__.update(other.__dict__)

    def __repr__(self) -> str:
        return f"Tokenizer(model={type(self._model).__name__}, vocab_size={self.get_vocab_size()})"


def _loads(text: str):
    """Parse tokenizer.json reading numbers as the reference does (its float parser is not
    correctly rounded; Unigram scores then match it to the bit, and so do its tie-breaks)."""
    from snuggle.tokenizers.models.base import serde_parse_float

    return json.loads(text, parse_float=serde_parse_float)


def _single_noop(processor) -> bool:
    """True when post-processing one sequence cannot change it (no processor, or a ByteLevel
    processor that does not trim offsets)."""
    if processor is None:
        return True
    from snuggle.tokenizers import processors

    return type(processor) is processors.ByteLevel and not processor.trim_offsets


def _as_text(x: Any) -> str:
    if isinstance(x, str):
        return x
    raise TokenizerError(f"expected a str to encode, got {type(x).__name__}: {x!r:.80}")


def truncate_encodings(encoding: Encoding, pair: Encoding | None, max_length: int, stride: int, strategy: str, direction: str) -> None:
    """Truncate a sequence (and its pair) in place to at most `max_length` tokens in total."""
    if max_length == 0:
        encoding.truncate(0, stride, direction)
        if pair is not None:
            pair.truncate(0, stride, direction)
        return
    total = len(encoding) + (len(pair) if pair is not None else 0)
    if total <= max_length:
        return
    to_remove = total - max_length
    if strategy == "longest_first":
        if pair is None:
            encoding.truncate(total - to_remove, stride, direction)
            return
        n1, n2 = len(encoding), len(pair)
        swap = n1 > n2
        if swap:
            n1, n2 = n2, n1
        if n1 > max_length:
            n2 = n1
        else:
            n2 = max(n1, max_length - n1)
        if n1 + n2 > max_length:
            n1 = max_length // 2
            n2 = n1 + max_length % 2
        if swap:
            n1, n2 = n2, n1
        encoding.truncate(n1, stride, direction)
        pair.truncate(n2, stride, direction)
        return
    if strategy == "only_second" and pair is None:
        raise TokenizerError("truncation strategy 'only_second' needs a pair of sequences, but only one was given")
    target = encoding if strategy == "only_first" else pair
    if len(target) > to_remove:
        target.truncate(len(target) - to_remove, stride, direction)
    else:
        raise TokenizerError(
            f"truncation: the {'first' if strategy == 'only_first' else 'second'} sequence ({len(target)} tokens) is too short "
            f"to remove {to_remove} tokens; use strategy 'longest_first' or a larger max_length"
        )


def _parse_truncation(d: dict | None) -> dict | None:
    if d is None:
        return None
    rev_s = {v: k for k, v in _TRUNCATION_STRATEGIES.items()}
    rev_d = {v: k for k, v in _DIRECTIONS.items()}
    try:
        return {
            "max_length": int(d["max_length"]),
            "stride": int(d.get("stride", 0)),
            "strategy": rev_s[d.get("strategy", "LongestFirst")],
            "direction": rev_d[d.get("direction", "Right")],
        }
    except KeyError as e:
        raise TokenizerFileError(f"bad truncation object {d!r}: missing or unknown {e}", where="truncation") from e


def _parse_padding(d: dict | None) -> dict | None:
    if d is None:
        return None
    rev_d = {v: k for k, v in _DIRECTIONS.items()}
    strategy = d.get("strategy", "BatchLongest")
    if isinstance(strategy, dict) and "Fixed" in strategy:
        length = int(strategy["Fixed"])
    elif strategy == "BatchLongest":
        length = None
    else:
        raise TokenizerFileError(f"padding.strategy must be 'BatchLongest' or {{'Fixed': n}}, got {strategy!r}", where="padding")
    try:
        return {
            "length": length,
            "pad_to_multiple_of": d.get("pad_to_multiple_of"),
            "pad_id": int(d.get("pad_id", 0)),
            "pad_type_id": int(d.get("pad_type_id", 0)),
            "pad_token": d.get("pad_token", "[PAD]"),
            "direction": rev_d[d.get("direction", "Right")],
        }
    except KeyError as e:
        raise TokenizerFileError(f"bad padding object {d!r}: unknown {e}", where="padding") from e
