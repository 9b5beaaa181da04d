"""The Tokenizer pipeline: construction, added tokens, truncation/padding, serialization, bad input."""

from __future__ import annotations

import json
import pickle

import pytest

from snuggle.errors import SnuggleError, TokenizerError, TokenizerFileError
from snuggle.tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, processors
from tests.conftest import DATASETS

GPT2 = DATASETS / "tokenizers" / "gpt2" / "tokenizer.json"


def word_level() -> Tokenizer:
    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "hello": 3, "world": 4, "big": 5}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok


def test_docstring_example():
    tok = word_level()
    enc = tok.encode("hello big world")
    assert enc.ids == [3, 5, 4] and enc.offsets == [(0, 5), (6, 9), (10, 15)]


def test_post_processor_pair_and_type_ids():
    tok = word_level()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    enc = tok.encode("hello", "world")
    assert enc.ids == [1, 3, 2, 4, 2]
    assert enc.type_ids == [0, 0, 0, 1, 1]
    assert enc.sequence_ids == [None, 0, None, 1, None]
    assert tok.num_special_tokens_to_add(True) == 3


def test_truncation_accounts_for_special_tokens():
    tok = word_level()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    tok.enable_truncation(4)
    enc = tok.encode("hello big world hello")
    assert enc.ids == [1, 3, 5, 2]
    assert enc.overflowing[0].ids == [1, 4, 3, 2]
    tok.enable_truncation(1)
    with pytest.raises(TokenizerError, match="max_length"):
        tok.encode("hello")


def test_added_tokens_get_ids_after_the_vocab():
    tok = word_level()
    assert tok.add_tokens(["newword", AddedToken("hello")]) == 2  # 'hello' already in vocab: keeps its id
    assert tok.token_to_id("newword") == 6 and tok.token_to_id("hello") == 3
    assert tok.add_special_tokens(["<s>"]) == 1
    assert tok.get_vocab_size() == 8
    enc = tok.encode("<s>newword big")
    assert enc.ids == [7, 6, 5] and enc.tokens == ["<s>", "newword", "big"]
    assert tok.decode(enc.ids) == "newword big"
    assert tok.decode(enc.ids, skip_special_tokens=False) == "<s> newword big"


def test_padding_batch_longest_and_fixed():
    tok = word_level()
    tok.enable_padding(pad_id=0, pad_token="[UNK]", pad_to_multiple_of=4)
    a, b = tok.encode_batch(["hello", "hello big world big world"])
    assert len(a) == len(b) == 8
    assert a.attention_mask == [1] + [0] * 7
    tok.enable_padding(length=3, direction="left")
    assert tok.encode("hello").ids == [0, 0, 3]
    assert tok.padding["length"] == 3


def test_json_round_trip_and_pickle(tmp_path):
    tok = Tokenizer.from_file(str(GPT2))
    path = tmp_path / "tok.json"
    tok.enable_truncation(10, stride=2)
    tok.enable_padding(length=12)
    tok.save(str(path))
    again = Tokenizer.from_file(str(path))
    assert json.loads(again.to_str()) == json.loads(tok.to_str())
    assert again.truncation == tok.truncation and again.padding == tok.padding
    clone = pickle.loads(pickle.dumps(tok))
    assert clone.encode("Hello there").ids == tok.encode("Hello there").ids


def test_train_from_iterator_bpe():
    from snuggle.tokenizers import trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=60, special_tokens=["[UNK]"], show_progress=False)
    tok.train_from_iterator(["low lower lowest", "new newer newest"] * 10, trainer)
    assert tok.token_to_id("[UNK]") == 0
    assert "low" in tok.get_vocab()
    assert tok.encode("lowest").tokens == ["lowest"]


# ---- bad input: clear errors naming the file and the field --------------------------------------


def test_missing_file():
    with pytest.raises(TokenizerFileError, match="nope.json"):
        Tokenizer.from_file("/definitely/nope.json")


def test_malformed_json(tmp_path):
    p = tmp_path / "tokenizer.json"
    p.write_text('{"model": ')
    with pytest.raises(TokenizerFileError) as e:
        Tokenizer.from_file(str(p))
    assert "tokenizer.json" in str(e.value) and "line 1" in str(e.value)


def test_invalid_utf8(tmp_path):
    p = tmp_path / "tokenizer.json"
    p.write_bytes(b'{"model": "\xff\xfe"}')
    with pytest.raises(TokenizerFileError, match="UTF-8"):
        Tokenizer.from_file(str(p))


def test_unknown_component_type_names_the_json_path(tmp_path):
    d = json.loads(GPT2.read_text())
    d["pre_tokenizer"] = {"type": "FancySplit"}
    p = tmp_path / "tokenizer.json"
    p.write_text(json.dumps(d))
    with pytest.raises(TokenizerFileError) as e:
        Tokenizer.from_file(str(p))
    msg = str(e.value)
    assert "pre_tokenizer" in msg and "FancySplit" in msg and str(p) in msg


def test_missing_model():
    with pytest.raises(TokenizerFileError, match="model"):
        Tokenizer.from_str('{"version": "1.0"}')


def test_bad_added_token_entry():
    d = json.loads(GPT2.read_text())
    d["added_tokens"] = [{"id": 5}]
    with pytest.raises(TokenizerFileError, match=r"added_tokens\[0\]"):
        Tokenizer.from_str(json.dumps(d))


def test_encode_non_string_is_clear():
    with pytest.raises(TokenizerError, match="expected a str"):
        word_level().encode(123)


def test_errors_share_one_base():
    assert issubclass(TokenizerFileError, SnuggleError)


def test_long_single_string_encodes():
    tok = Tokenizer.from_file(str(GPT2))
    text = ("The quick brown fox jumps over the lazy dog. " * 25_000)[:1_000_000]
    enc = tok.encode(text)
    assert enc.offsets[-1][1] == len(text)
    assert tok.decode(enc.ids) == text
