"""Build a tokenizer.json dict from the vocabulary a GGUF file stores as metadata.

GGUF files (llama.cpp) carry no tokenizer.json; the tokenizer lives in `tokenizer.ggml.*` keys:
`model` (which algorithm), `pre` (which pre-tokenizer regex), `tokens`, `scores`, `token_type`
(1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), `merges` and special ids.
Four models are supported:

- ``llama``: SentencePiece BPE with byte fallback, merges recovered from the scores when the file
  has none. The dummy prefix is a Prepend normalizer, as in Llama 2's / Phi-3's own tokenizer.json
  and in llama.cpp (transformers 5 uses Metaspace(prepend_scheme="first") except for Phi-3, which
  differs on text that starts with a space);
- ``gpt2``: byte-level BPE with the file's merges, split regex chosen from `tokenizer.ggml.pre`;
- ``bert``: WordPiece; llama.cpp writes word-initial pieces as "▁word" and continuations bare,
  so we turn them back into "word" / "##piece";
- ``t5``: SentencePiece Unigram (tokens, scores, precompiled charsmap), rebuilt as a SentencePiece
  model and converted with the generic SentencePiece layout (see `converters.from_sentencepiece`).

>>> d = tokenizer_dict_from_gguf("ggml-vocab-gpt-2.gguf")      # doctest: +SKIP
>>> d["model"]["type"]  # doctest: +SKIP
'BPE'

Only the metadata header is read (by a small reader here), never tensors.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Mapping

from snuggle.errors import TokenizerFileError
from snuggle.tokenizers.sentencepiece_model import (
    PIECE_TYPES,
    NormalizerSpec,
    SentencePiece,
    SentencePieceModel,
    TrainerSpec,
)
from snuggle.tokenizers.converters import (
    LLAMA3_PATTERN,
    SPIECE_UNDERLINE,
    added_token,
    bos_eos_template,
    bpe_model,
    byte_level,
    bytes_to_unicode,
    from_sentencepiece_model,
    merges_by_vocab_order,
    replace,
    template_processing,
    tokenizer_dict,
    wordpiece_model,
)

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# tokenizer.ggml.pre -> split regex (pre types not listed use GPT-2's ByteLevel regex).
PRE_TOKENIZER_PATTERNS = {
    "llama3": LLAMA3_PATTERN,
    "llama-v3": LLAMA3_PATTERN,
    "llama-bpe": LLAMA3_PATTERN,
    "smaug-bpe": LLAMA3_PATTERN,
    "dbrx": LLAMA3_PATTERN,
    "falcon3": LLAMA3_PATTERN,
    "qwen2": QWEN2_PATTERN,
    "deepseek-r1-qwen": QWEN2_PATTERN,
    "megrez": QWEN2_PATTERN,
}

_DIGITS_THEN_BYTE_LEVEL = [
    {"type": "Digits", "individual_digits": True},
    byte_level(False, trim_offsets=True, use_regex=True),
]
# tokenizer.ggml.pre -> a whole pre-tokenizer sequence, for vocabularies whose HF tokenizer.json
# is not "one regex then ByteLevel". StarCoder and Refact split every digit first; Falcon isolates
# punctuation and three-digit groups. The DeepSeek entries are a simplification of their longer
# Split sequences that agrees with all 46 llama.cpp test strings, not a copy of the original.
PRE_TOKENIZER_SEQUENCES = {
    "starcoder": _DIGITS_THEN_BYTE_LEVEL,
    "refact": _DIGITS_THEN_BYTE_LEVEL,
    "deepseek-coder": _DIGITS_THEN_BYTE_LEVEL,
    "deepseek-llm": _DIGITS_THEN_BYTE_LEVEL,
    "falcon": [
        {"type": "Punctuation", "behavior": "Contiguous"},
        byte_level(False, trim_offsets=True, use_regex=True),
        {"type": "Digits", "individual_digits": False},
        {"type": "Split", "pattern": {"Regex": "[0-9][0-9][0-9]"}, "behavior": "Isolated", "invert": False},
    ],
}

SUPPORTED_MODELS = ("llama", "gpt2", "bert", "t5")


# GGUF value types: id -> struct format for scalars (8 = string, 9 = array are handled apart).
_SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


class _GGUFMetadataReader:
    """Reads the key/value header of a GGUF v2/v3 file (little-endian), stopping before tensor infos.

    The `gguf` package's GGUFReader also maps every tensor and builds one numpy view per string,
    which takes tens of seconds on a 100k-token vocabulary; this reads the same header in well
    under a second.
    """

    def __init__(self, data: bytes, path: str):
        self.data, self.path, self.pos = data, path, 0

    def fail(self, message: str, offset: int | None = None) -> TokenizerFileError:
        where = f"byte offset {self.pos if offset is None else offset}"
        return TokenizerFileError(f"{message}; expected a GGUF file", path=self.path, where=where)

    def unpack(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise self.fail(f"truncated (needs {size} more bytes)")
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return values[0] if len(values) == 1 else values

    def string(self) -> str:
        length = self.unpack("Q")
        start = self.pos
        if start + length > len(self.data):
            raise self.fail(f"string of {length} bytes runs past the end of the file")
        self.pos += length
        try:
            return self.data[start : self.pos].decode("utf-8")
        except UnicodeDecodeError:
            # llama.cpp writes some byte tokens that are not valid UTF-8; keep them losslessly.
            return self.data[start : self.pos].decode("utf-8", errors="surrogateescape")

    def value(self, value_type: int):
        if value_type in _SCALAR_FORMATS:
            return self.unpack(_SCALAR_FORMATS[value_type])
        if value_type == _STRING:
            return self.string()
        if value_type == _ARRAY:
            item_type, count = self.unpack("I"), self.unpack("Q")
            if item_type in _SCALAR_FORMATS:
                fmt = _SCALAR_FORMATS[item_type]
                if self.pos + count * struct.calcsize(fmt) > len(self.data):
                    raise self.fail(f"array of {count} values runs past the end of the file")
                values = list(struct.unpack_from(f"<{count}{fmt}", self.data, self.pos))
                self.pos += count * struct.calcsize(fmt)
                return values
            return [self.value(item_type) for _ in range(count)]
        raise self.fail(f"unknown value type {value_type}")

    def read(self) -> dict:
        if self.data[:4] != b"GGUF":
            raise self.fail(f"magic is {bytes(self.data[:4])!r}, not b'GGUF'", 0)
        self.pos = 4
        version = self.unpack("I")
        if version not in (2, 3):
            raise self.fail(f"GGUF version {version} is not supported (2 and 3 are)", 4)
        _tensor_count, kv_count = self.unpack("Q"), self.unpack("Q")
        meta = {}
        for _ in range(kv_count):
            key = self.string()
            meta[key] = self.value(self.unpack("I"))
        return meta


def read_gguf_tokenizer_metadata(path: str | os.PathLike) -> dict:
    """The `general.architecture` and `tokenizer.*` metadata of a GGUF file, as plain Python values."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise TokenizerFileError("GGUF file not found (expected a file at this path)", path=path)
    if os.path.getsize(path) < 24:
        raise TokenizerFileError("file is too short to hold a GGUF header", path=path)
    with open(path, "rb") as handle:
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            meta = _GGUFMetadataReader(data, path).read()
    return {key: value for key, value in meta.items()
            if key == "general.architecture" or key.startswith("tokenizer.")}


def tokenizer_dict_from_gguf(path: str | os.PathLike, *, do_lower_case: bool = True) -> dict:
    """Dispatch on `tokenizer.ggml.model` ("llama", "gpt2" or "bert")."""
    path = os.fspath(path)
    meta = read_gguf_tokenizer_metadata(path)
    model = meta.get("tokenizer.ggml.model")
    if model is None:
        raise TokenizerFileError("no tokenizer.ggml.model key: this GGUF file stores no tokenizer", path=path)
    if "tokenizer.ggml.tokens" not in meta:
        raise TokenizerFileError("no tokenizer.ggml.tokens key", path=path)
    tokens = list(meta["tokenizer.ggml.tokens"])
    types = list(meta.get("tokenizer.ggml.token_type") or [NORMAL] * len(tokens))
    if len(types) != len(tokens):
        raise TokenizerFileError(
            f"tokenizer.ggml.token_type has {len(types)} entries for {len(tokens)} tokens", path=path
        )
    if model == "llama":
        return _sentencepiece_bpe(meta, tokens, types, path)
    if model == "gpt2":
        return _byte_level_bpe(meta, tokens, types)
    if model == "bert":
        return _wordpiece(meta, tokens, types, path, do_lower_case)
    if model == "t5":
        return _unigram(meta, tokens, types, path)
    raise TokenizerFileError(
        f"tokenizer.ggml.model is {model!r}; supported: {', '.join(SUPPORTED_MODELS)}", path=path
    )


def _special(meta: Mapping, tokens: list[str], name: str) -> tuple[str, int] | None:
    token_id = meta.get(f"tokenizer.ggml.{name}_token_id")
    if token_id is None or not 0 <= token_id < len(tokens):
        return None
    return tokens[token_id], int(token_id)


def _added_tokens(meta, tokens, types, names, control_ok=lambda token: True) -> list[dict]:
    """Named special tokens, then CONTROL tokens (special), then USER_DEFINED ones (not special).

    Later entries override earlier ones for the same id, as transformers' add_tokens does.
    """
    chosen: dict[int, dict] = {}
    for name in names:
        special = _special(meta, tokens, name)
        if special is not None:
            chosen[special[1]] = added_token(special[1], special[0], special=True)
    for index, (token, token_type) in enumerate(zip(tokens, types)):
        if token_type == CONTROL and control_ok(token):
            chosen[index] = added_token(index, token, special=True)
    for index, (token, token_type) in enumerate(zip(tokens, types)):
        if token_type == USER_DEFINED:
            chosen[index] = added_token(index, token, special=False)
    return list(chosen.values())


def _file_merges(meta: Mapping, path: str) -> list[tuple[str, str]] | None:
    if "tokenizer.ggml.merges" not in meta:
        return None
    merges = []
    for index, merge in enumerate(meta["tokenizer.ggml.merges"]):
        parts = merge.split(" ")
        if len(parts) != 2:
            raise TokenizerFileError(f"expected 'left right', found {merge[:60]!r}", path=path,
                                     where=f"tokenizer.ggml.merges[{index}]")
        merges.append((parts[0], parts[1]))
    return merges


def _template(meta: Mapping, tokens: list[str], default_bos: bool) -> dict:
    add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", default_bos))
    add_eos = bool(meta.get("tokenizer.ggml.add_eos_token", False))
    bos = _special(meta, tokens, "bos") if add_bos else None
    eos = _special(meta, tokens, "eos") if add_eos else None
    return bos_eos_template(bos, eos)


def _sentencepiece_bpe(meta: Mapping, tokens: list[str], types: list[int], path: str) -> dict:
    architecture = meta.get("general.architecture", "")
    if architecture.startswith("gemma"):
        raise TokenizerFileError(
            f"GGUF sentencepiece vocabularies of architecture {architecture!r} are not supported yet "
            "(Gemma respells space tokens and orders merges by position)", path=path,
        )
    vocab = {token: index for index, token in enumerate(tokens)}
    merges = _file_merges(meta, path)
    if merges is None:
        scores = meta.get("tokenizer.ggml.scores")
        if scores is None or len(scores) != len(tokens):
            raise TokenizerFileError("no merges and no per-token scores to recover them from", path=path)
        merges = merges_by_vocab_order(vocab, dict(zip(tokens, scores)))
    decoders = [replace(SPIECE_UNDERLINE, " "), {"type": "ByteFallback"}, {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0}]
    # The dummy prefix comes from a normalizer (the layout of Llama 2's and Phi-3's own tokenizer.json),
    # not from Metaspace: text starting with a space then gets "▁▁", as llama.cpp and SentencePiece do.
    normalizer = {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": SPIECE_UNDERLINE},
                                                      replace(" ", SPIECE_UNDERLINE)]}
    pre_tokenizer = None
    return tokenizer_dict(
        bpe_model(vocab, merges, fuse_unk=True, byte_fallback=True),
        added_tokens=_added_tokens(meta, tokens, types, ("unknown", "bos", "eos")),
        normalizer=normalizer,
        pre_tokenizer=pre_tokenizer,
        post_processor=_template(meta, tokens, default_bos=True),
        decoder={"type": "Sequence", "decoders": decoders},
    )


def _byte_level_bpe(meta: Mapping, tokens: list[str], types: list[int]) -> dict:
    spelling = bytes_to_unicode()
    alphabet = set(spelling.values())

    def spelled(token: str, token_type: int) -> str:
        # llama.cpp stores some tokens as raw text; normal tokens need the byte alphabet in the model
        # vocabulary. Control and user-defined tokens (like MPT's "  " runs) stay raw: they are
        # matched as added tokens, and respelling "  " as "ĠĠ" would steal the id of the real "ĠĠ".
        if set(token) <= alphabet or token_type in (CONTROL, USER_DEFINED):
            return token
        return "".join(spelling[byte] for byte in token.encode("utf-8"))

    vocab = {spelled(token, token_type): index for index, (token, token_type) in enumerate(zip(tokens, types))}
    merges = _file_merges(meta, "") or []
    pre_type = meta.get("tokenizer.ggml.pre", "")
    pattern = PRE_TOKENIZER_PATTERNS.get(pre_type)
    if pre_type in PRE_TOKENIZER_SEQUENCES:
        pre_tokenizer = {"type": "Sequence", "pretokenizers": PRE_TOKENIZER_SEQUENCES[pre_type]}
    elif pattern is None:
        pre_tokenizer = byte_level(False, trim_offsets=True, use_regex=True)
    else:
        pre_tokenizer = {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
                byte_level(False, trim_offsets=True, use_regex=False),
            ],
        }
    return tokenizer_dict(
        bpe_model(vocab, merges, continuing_subword_prefix="", end_of_word_suffix=""),
        added_tokens=_added_tokens(meta, tokens, types, ("unknown", "bos", "eos", "padding")),
        pre_tokenizer=pre_tokenizer,
        post_processor=_template(meta, tokens, default_bos=False),
        decoder=byte_level(True, trim_offsets=True, use_regex=True),
    )


def _wordpiece(meta: Mapping, tokens: list[str], types: list[int], path: str, do_lower_case: bool) -> dict:
    def unphantom(token: str, token_type: int) -> str:
        # Inverse of llama.cpp's conversion: "[X]" kept, "▁word" -> "word", "piece" -> "##piece".
        if token_type == CONTROL or (token.startswith("[") and token.endswith("]")):
            return token
        if token.startswith(SPIECE_UNDERLINE):
            return token[1:]
        return "##" + token

    words = [unphantom(token, token_type) for token, token_type in zip(tokens, types)]
    vocab = {word: index for index, word in enumerate(words)}
    names = {"unknown": "[UNK]", "seperator": "[SEP]", "cls": "[CLS]", "padding": "[PAD]", "mask": "[MASK]"}
    found = {name: _special(meta, words, name) for name in names}
    unk, cls, sep = found["unknown"], found["cls"], found["seperator"]
    if unk is None or cls is None or sep is None:
        raise TokenizerFileError("a BERT vocabulary needs unknown, cls and seperator token ids", path=path)
    added = [added_token(token_id, word) for word, token_id in (value for value in found.values() if value)]
    return tokenizer_dict(
        wordpiece_model(vocab, unk_token=unk[0]),
        added_tokens=added,
        normalizer={"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                    "strip_accents": None, "lowercase": do_lower_case},
        pre_tokenizer={"type": "BertPreTokenizer"},
        post_processor=template_processing(
            [f"{cls[0]}:0", "$A:0", f"{sep[0]}:0"],
            [f"{cls[0]}:0", "$A:0", f"{sep[0]}:0", "$B:1", f"{sep[0]}:1"],
            {cls[0]: cls[1], sep[0]: sep[1]},
        ),
        decoder={"type": "WordPiece", "prefix": "##", "cleanup": True},
    )


def _unigram(meta: Mapping, tokens: list[str], types: list[int], path: str) -> dict:
    """A SentencePiece Unigram vocabulary (llama.cpp's "t5" model), via the SentencePiece converter."""
    scores = meta.get("tokenizer.ggml.scores")
    if scores is None or len(scores) != len(tokens):
        raise TokenizerFileError("a Unigram vocabulary needs one tokenizer.ggml.scores entry per token", path=path)
    unknown = [t for t in types if t not in PIECE_TYPES]
    if unknown:
        raise TokenizerFileError(f"token type {unknown[0]} is not one of {sorted(PIECE_TYPES)}", path=path,
                                 where="tokenizer.ggml.token_type")
    pieces = [SentencePiece(token, float(score), PIECE_TYPES[token_type])
              for token, score, token_type in zip(tokens, scores, types)]

    def special_id(name: str) -> int:
        value = meta.get(f"tokenizer.ggml.{name}_token_id")
        return -1 if value is None else int(value)

    trainer = TrainerSpec(
        model_type="UNIGRAM",
        vocab_size=len(tokens),
        byte_fallback=any(piece.type == "BYTE" for piece in pieces),
        unk_id=special_id("unknown"),
        bos_id=special_id("bos"),
        eos_id=special_id("eos"),
        pad_id=special_id("padding"),
    )
    charsmap = meta.get("tokenizer.ggml.precompiled_charsmap") or []
    normalizer = NormalizerSpec(
        precompiled_charsmap=bytes(value & 0xFF for value in charsmap),
        add_dummy_prefix=bool(meta.get("tokenizer.ggml.add_space_prefix", True)),
        remove_extra_whitespaces=bool(meta.get("tokenizer.ggml.remove_extra_whitespaces", True)),
    )
    return from_sentencepiece_model(
        SentencePieceModel(pieces, trainer, normalizer), path, layout="sentencepiece",
        add_bos_token=bool(meta.get("tokenizer.ggml.add_bos_token", False)),
        add_eos_token=bool(meta.get("tokenizer.ggml.add_eos_token", False)),
    )
