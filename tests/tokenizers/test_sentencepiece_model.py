"""The protobuf-free SentencePiece `.model` reader: real files, hand-built messages, broken input."""

from __future__ import annotations

import struct

import pytest

from snuggle.errors import TokenizerFileError
from snuggle.tokenizers.sentencepiece_model import load_sentencepiece_model, parse_sentencepiece_model
from tests.conftest import DATASETS

LLAMA2 = DATASETS / "tokenizers" / "llama2" / "tokenizer.model"
UNIGRAM = DATASETS / "sentencepiece" / "test_model.model"


# A tiny protobuf writer, so the tests can build messages the reader has never seen.
def varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, wire_type: int, payload: bytes | int) -> bytes:
    key = varint(number << 3 | wire_type)
    if wire_type == 0:
        return key + varint(payload)
    if wire_type == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def piece(text: str, score: float, type_id: int | None = None) -> bytes:
    body = field(1, 2, text.encode()) + field(2, 5, struct.pack("<f", score))
    if type_id is not None:
        body += field(3, 0, type_id)
    return field(1, 2, body)


def tiny_model() -> bytes:
    trainer = field(3, 0, 2) + field(35, 0, 1) + field(43, 0, -1) + field(40, 0, 0) + field(25, 0, 1)
    trainer += field(999, 2, b"future field")  # unknown fields are skipped
    normalizer = field(1, 2, b"identity") + field(3, 0, 0) + field(2, 2, b"\x01\x02")
    return (piece("<unk>", 0.0, 2) + piece("<s>", 0.0, 3) + piece("a", -1.5) + piece("<0x41>", 0.0, 6)
            + field(2, 2, trainer) + field(3, 2, normalizer))


def test_llama2_model_fields():
    model = load_sentencepiece_model(LLAMA2)
    assert len(model.pieces) == 32000
    assert model.trainer_spec.model_type == "BPE"
    assert model.trainer_spec.byte_fallback is True
    assert (model.trainer_spec.unk_id, model.trainer_spec.bos_id, model.trainer_spec.eos_id) == (0, 1, 2)
    assert model.trainer_spec.pad_id == -1  # written as a 10-byte negative varint
    assert [p.type for p in model.pieces[:4]] == ["UNKNOWN", "CONTROL", "CONTROL", "BYTE"]
    assert model.pieces[3].piece == "<0x00>"
    assert model.normalizer_spec.name == "identity"
    assert model.normalizer_spec.add_dummy_prefix is True
    assert model.normalizer_spec.remove_extra_whitespaces is False
    assert model.normalizer_spec.precompiled_charsmap == b""


def test_unigram_model_has_charsmap_and_defaults():
    model = load_sentencepiece_model(UNIGRAM)
    assert model.trainer_spec.model_type == "UNIGRAM"
    assert model.trainer_spec.byte_fallback is False
    assert model.normalizer_spec.name == "nfkc"
    assert len(model.normalizer_spec.precompiled_charsmap) > 1000
    assert model.normalizer_spec.remove_extra_whitespaces is True
    # Scores are float32 values widened to Python floats.
    assert all(struct.unpack("<f", struct.pack("<f", p.score))[0] == p.score for p in model.pieces)


def test_hand_built_message():
    model = parse_sentencepiece_model(tiny_model())
    assert [(p.piece, p.score, p.type) for p in model.pieces] == [
        ("<unk>", 0.0, "UNKNOWN"), ("<s>", 0.0, "CONTROL"), ("a", -1.5, "NORMAL"), ("<0x41>", 0.0, "BYTE")]
    spec = model.trainer_spec
    assert (spec.model_type, spec.byte_fallback, spec.pad_id, spec.split_digits) == ("BPE", True, -1, True)
    assert spec.bos_id == 1 and spec.eos_piece == "</s>"  # proto defaults when absent
    norm = model.normalizer_spec
    assert (norm.name, norm.add_dummy_prefix, norm.precompiled_charsmap) == ("identity", False, b"\x01\x02")
    assert norm.escape_whitespaces is True


def test_truncated_file_names_path_and_offset(tmp_path):
    data = LLAMA2.read_bytes()[:5000]
    path = tmp_path / "cut.model"
    path.write_bytes(data)
    with pytest.raises(TokenizerFileError) as info:
        load_sentencepiece_model(path)
    message = str(info.value)
    assert str(path) in message and "byte offset" in message and "remain" in message


@pytest.mark.parametrize(
    "data, needle",
    [
        (b"", "no pieces"),
        (b"\x0a\x05ab", "claims 5 bytes"),
        (b"\x0b", "wire type 3"),
        (b"\x08" + b"\xff" * 11, "varint longer"),
        (b"\x08\x80", "truncated varint"),
        (field(1, 2, field(3, 0, 9)), "unknown piece type 9"),
        (field(1, 2, field(2, 0, 5)), "wire type 0, expected 5"),
        (piece("a", 0.0) + field(2, 2, field(3, 0, 7)), "model_type 7"),
        (field(1, 2, field(1, 2, b"\xff\xfe")), "not valid UTF-8"),
    ],
)
def test_malformed_messages(data, needle):
    with pytest.raises(TokenizerFileError, match="byte offset") as info:
        parse_sentencepiece_model(data, "bad.model")
    assert needle in str(info.value) and "bad.model" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(TokenizerFileError, match="cannot read"):
        load_sentencepiece_model(tmp_path / "nope.model")


def test_text_file_is_rejected(tmp_path):
    path = tmp_path / "tokenizer.model"
    path.write_text("IQ== 0\nIg== 1\n")  # a tiktoken file, not a ModelProto
    with pytest.raises(TokenizerFileError, match="SentencePiece ModelProto"):
        load_sentencepiece_model(path)
