"""Read a SentencePiece `.model` file (a serialized `ModelProto`) without protobuf.

A `.model` file is one protobuf message. We only need a handful of its fields, so instead of
depending on `protobuf`/`sentencepiece` we walk the wire format ourselves: every field is a
varint key `(field_number << 3) | wire_type` followed by a varint, a fixed 32/64-bit value or a
length-prefixed byte string (strings and nested messages). Unknown fields are skipped, so newer
SentencePiece versions that add fields still load.

>>> model = load_sentencepiece_model("tokenizer.model")        # doctest: +SKIP
>>> model.trainer_spec.model_type, len(model.pieces), model.pieces[3]  # doctest: +SKIP
('BPE', 32000, SentencePiece(piece='<0x00>', score=0.0, type='BYTE'))

Field numbers follow sentencepiece_model.proto (google/sentencepiece, src/).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from snuggle.errors import TokenizerFileError

# SentencePiece.Type enum values -> names used throughout snuggle.
PIECE_TYPES = {1: "NORMAL", 2: "UNKNOWN", 3: "CONTROL", 4: "USER_DEFINED", 5: "UNUSED", 6: "BYTE"}
# TrainerSpec.ModelType enum values -> names.
MODEL_TYPES = {1: "UNIGRAM", 2: "BPE", 3: "WORD", 4: "CHAR"}

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


@dataclass
class SentencePiece:
    """One vocabulary entry: its text, its score (log-prob for Unigram, rank for BPE) and type."""

    piece: str
    score: float = 0.0
    type: str = "NORMAL"


@dataclass
class TrainerSpec:
    """The training options that matter for encoding (defaults are the proto defaults)."""

    model_type: str = "UNIGRAM"
    vocab_size: int = 8000
    byte_fallback: bool = False
    split_digits: bool = False
    split_by_whitespace: bool = True
    split_by_number: bool = True
    split_by_unicode_script: bool = True
    treat_whitespace_as_suffix: bool = False
    allow_whitespace_only_pieces: bool = False
    max_sentencepiece_length: int = 16
    unk_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = -1
    unk_piece: str = "<unk>"
    bos_piece: str = "<s>"
    eos_piece: str = "</s>"
    pad_piece: str = "<pad>"
    unk_surface: str = " \u2047 "
    control_symbols: list[str] = field(default_factory=list)
    user_defined_symbols: list[str] = field(default_factory=list)


@dataclass
class NormalizerSpec:
    """How text is normalized before encoding (`precompiled_charsmap` is the compiled rule table)."""

    name: str = ""
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    escape_whitespaces: bool = True
    normalization_rule_tsv: str = ""


@dataclass
class SentencePieceModel:
    """The parsed `ModelProto`: pieces in id order plus the trainer and normalizer specs."""

    pieces: list[SentencePiece]
    trainer_spec: TrainerSpec
    normalizer_spec: NormalizerSpec
    denormalizer_spec: NormalizerSpec | None = None


# (field number) -> (attribute, kind). Kinds: int32 (signed varint), bool, str, bytes, float, list_str.
_TRAINER_FIELDS = {
    3: ("model_type", "enum_model"),
    4: ("vocab_size", "int32"),
    35: ("byte_fallback", "bool"),
    25: ("split_digits", "bool"),
    22: ("split_by_whitespace", "bool"),
    23: ("split_by_number", "bool"),
    21: ("split_by_unicode_script", "bool"),
    24: ("treat_whitespace_as_suffix", "bool"),
    26: ("allow_whitespace_only_pieces", "bool"),
    20: ("max_sentencepiece_length", "int32"),
    40: ("unk_id", "int32"),
    41: ("bos_id", "int32"),
    42: ("eos_id", "int32"),
    43: ("pad_id", "int32"),
    45: ("unk_piece", "str"),
    46: ("bos_piece", "str"),
    47: ("eos_piece", "str"),
    48: ("pad_piece", "str"),
    44: ("unk_surface", "str"),
    30: ("control_symbols", "list_str"),
    31: ("user_defined_symbols", "list_str"),
}
_NORMALIZER_FIELDS = {
    1: ("name", "str"),
    2: ("precompiled_charsmap", "bytes"),
    3: ("add_dummy_prefix", "bool"),
    4: ("remove_extra_whitespaces", "bool"),
    5: ("escape_whitespaces", "bool"),
    6: ("normalization_rule_tsv", "str"),
}


class _WireReader:
    """Iterates the fields of one message inside `data[start:end]`, reporting absolute offsets."""

    def __init__(self, data: bytes, path: str, start: int = 0, end: int | None = None):
        self.data = data
        self.path = path
        self.pos = start
        self.end = len(data) if end is None else end

    def fail(self, message: str, offset: int) -> TokenizerFileError:
        return TokenizerFileError(
            f"{message}; expected a SentencePiece ModelProto (is this really a sentencepiece .model file?)",
            path=self.path,
            where=f"byte offset {offset}",
        )

    def varint(self) -> int:
        start, result, shift = self.pos, 0, 0
        while True:
            if self.pos >= self.end:
                raise self.fail("truncated varint", start)
            byte = self.data[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift >= 70:
                raise self.fail("varint longer than 10 bytes", start)

    def fields(self):
        """Yield (field_number, wire_type, value, offset); value is int, or (start, end) for bytes."""
        while self.pos < self.end:
            offset = self.pos
            key = self.varint()
            number, wire_type = key >> 3, key & 7
            if number == 0:
                raise self.fail("field number 0", offset)
            if wire_type == _VARINT:
                value = self.varint()
            elif wire_type == _FIXED32:
                value = self._take(4, offset)
            elif wire_type == _FIXED64:
                value = self._take(8, offset)
            elif wire_type == _LENGTH_DELIMITED:
                length = self.varint()
                start = self.pos
                if start + length > self.end:
                    raise self.fail(
                        f"field {number} claims {length} bytes but only {self.end - start} remain", offset
                    )
                self.pos = start + length
                value = (start, start + length)
            else:
                raise self.fail(f"unsupported wire type {wire_type} for field {number}", offset)
            yield number, wire_type, value, offset

    def _take(self, size: int, offset: int) -> bytes:
        if self.pos + size > self.end:
            raise self.fail(f"truncated {size * 8}-bit value", offset)
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk


def _expect(reader: _WireReader, wire_type: int, wanted: int, number: int, offset: int) -> None:
    if wire_type != wanted:
        raise reader.fail(f"field {number} has wire type {wire_type}, expected {wanted}", offset)


def _as_int32(value: int) -> int:
    # Negative int32 values (pad_id = -1) are written as 64-bit two's complement varints.
    value &= 0xFFFFFFFFFFFFFFFF
    if value >= 1 << 63:
        value -= 1 << 64
    return value


def _text(reader: _WireReader, span: tuple[int, int], offset: int) -> str:
    try:
        return reader.data[span[0] : span[1]].decode("utf-8")
    except UnicodeDecodeError as error:
        raise reader.fail(f"string is not valid UTF-8 ({error.reason})", offset) from None


def _read_piece(reader: _WireReader, span: tuple[int, int]) -> SentencePiece:
    piece = SentencePiece(piece="")
    inner = _WireReader(reader.data, reader.path, *span)
    for number, wire_type, value, offset in inner.fields():
        if number == 1:
            _expect(inner, wire_type, _LENGTH_DELIMITED, number, offset)
            piece.piece = _text(inner, value, offset)
        elif number == 2:
            _expect(inner, wire_type, _FIXED32, number, offset)
            piece.score = struct.unpack("<f", value)[0]
        elif number == 3:
            _expect(inner, wire_type, _VARINT, number, offset)
            if value not in PIECE_TYPES:
                raise inner.fail(f"unknown piece type {value} (valid: {sorted(PIECE_TYPES)})", offset)
            piece.type = PIECE_TYPES[value]
    return piece


def _read_spec(reader: _WireReader, span: tuple[int, int], spec, table: dict) -> None:
    """Fill the dataclass `spec` from the message at `span` using the field `table`."""
    inner = _WireReader(reader.data, reader.path, *span)
    for number, wire_type, value, offset in inner.fields():
        if number not in table:
            continue
        name, kind = table[number]
        if kind in ("str", "bytes", "list_str"):
            _expect(inner, wire_type, _LENGTH_DELIMITED, number, offset)
            if kind == "bytes":
                setattr(spec, name, bytes(inner.data[value[0] : value[1]]))
            elif kind == "str":
                setattr(spec, name, _text(inner, value, offset))
            else:
                getattr(spec, name).append(_text(inner, value, offset))
            continue
        _expect(inner, wire_type, _VARINT, number, offset)
        if kind == "bool":
            setattr(spec, name, bool(value))
        elif kind == "int32":
            setattr(spec, name, _as_int32(value))
        elif kind == "enum_model":
            if value not in MODEL_TYPES:
                raise inner.fail(f"unknown trainer_spec.model_type {value} (valid: {sorted(MODEL_TYPES)})", offset)
            spec.model_type = MODEL_TYPES[value]


def parse_sentencepiece_model(data: bytes, path: str = "<bytes>") -> SentencePieceModel:
    """Parse the bytes of a `ModelProto`.

    >>> parse_sentencepiece_model(b"").pieces  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    snuggle.errors.TokenizerFileError: <bytes> (byte offset 0): no pieces found; expected a SentencePiece ModelProto ...
    """
    reader = _WireReader(data, path)
    pieces: list[SentencePiece] = []
    trainer = TrainerSpec()
    normalizer = NormalizerSpec()
    denormalizer = None
    for number, wire_type, value, offset in reader.fields():
        if number in (1, 2, 3, 5):
            _expect(reader, wire_type, _LENGTH_DELIMITED, number, offset)
        if number == 1:
            pieces.append(_read_piece(reader, value))
        elif number == 2:
            _read_spec(reader, value, trainer, _TRAINER_FIELDS)
        elif number == 3:
            _read_spec(reader, value, normalizer, _NORMALIZER_FIELDS)
        elif number == 5:
            denormalizer = NormalizerSpec()
            _read_spec(reader, value, denormalizer, _NORMALIZER_FIELDS)
    if not pieces:
        raise reader.fail("no pieces found", 0)
    return SentencePieceModel(pieces, trainer, normalizer, denormalizer)


def load_sentencepiece_model(path: str | os.PathLike) -> SentencePieceModel:
    """Read and parse a SentencePiece `.model` file.

    >>> model = load_sentencepiece_model("llama2/tokenizer.model")   # doctest: +SKIP
    >>> model.trainer_spec.byte_fallback  # doctest: +SKIP
    True
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise TokenizerFileError(
            f"cannot read the SentencePiece model ({error.strerror})", path=path
        ) from None
    return parse_sentencepiece_model(data, path)
