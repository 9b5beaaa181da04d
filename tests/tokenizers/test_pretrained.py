"""Unit tests of the pretrained-tokenizer layer on a tiny word-level tokenizer built in the test."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import pytest

from snuggle.errors import TokenizerError, TokenizerFileError
from snuggle.tokenizers.batch_encoding import BatchEncoding
from snuggle.tokenizers.pretrained import AutoTokenizer, PreTrainedTokenizerFast, resolve_tokenizer_files

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "the", "cat", "sat", ",", "!", "'s", "it"]
ID = {w: i for i, w in enumerate(WORDS)}


def tiny_tokenizer_json() -> dict:
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": ID[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
            for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [
                {"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": "[SEP]", "type_id": 1}},
            ],
            "special_tokens": {t: {"id": t, "ids": [ID[t]], "tokens": [t]} for t in ("[CLS]", "[SEP]")},
        },
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": ID, "unk_token": "[UNK]"},
    }


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "tokenizer.json").write_text(json.dumps(tiny_tokenizer_json()))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "BertTokenizer", "model_max_length": 8, "pad_token": "[PAD]", "unk_token": "[UNK]",
        "cls_token": "[CLS]", "sep_token": "[SEP]", "clean_up_tokenization_spaces": True,
    }))
    return tmp_path


@pytest.fixture
def tok(folder):
    return AutoTokenizer.from_pretrained(folder)


def test_single_and_batch_shapes(tok):
    one = tok("hello world")
    assert one["input_ids"] == [ID["[CLS]"], ID["hello"], ID["world"], ID["[SEP]"]]
    assert one.input_ids == one["input_ids"]
    assert one["token_type_ids"] == [0, 0, 0, 0]  # BertTokenizer inputs include token_type_ids
    batch = tok(["hello", "the cat sat"])
    assert [len(r) for r in batch["input_ids"]] == [3, 5]
    assert batch.word_ids(1) == [None, 0, 1, 2, None]
    assert batch.sequence_ids(0) == [None, 0, None]
    assert tok.encode("cat dog") == [ID["[CLS]"], ID["cat"], ID["[UNK]"], ID["[SEP]"]]
    assert tok.tokenize("the cat") == ["the", "cat"]


def test_padding_truncation_and_overflow(tok):
    out = tok(["hello", "the cat sat"], padding=True)
    assert out["input_ids"][0] == [ID["[CLS]"], ID["hello"], ID["[SEP]"], 0, 0]
    assert out["attention_mask"][0] == [1, 1, 1, 0, 0]
    left = tok(["hello", "the cat sat"], padding=True, padding_side="left")
    assert left["input_ids"][0][:2] == [0, 0] and left["attention_mask"][0] == [0, 0, 1, 1, 1]
    assert tok.padding_side == "right"  # a per-call side does not stick
    cut = tok("the cat sat it", truncation=True, max_length=4)
    assert cut["input_ids"] == [ID["[CLS]"], ID["the"], ID["cat"], ID["[SEP]"]]
    windows = tok(["the cat sat it", "hello"], truncation=True, max_length=4, stride=1, return_overflowing_tokens=True)
    assert windows["overflow_to_sample_mapping"] == [0, 0, 0, 1]
    assert windows["input_ids"][1] == [ID["[CLS]"], ID["cat"], ID["sat"], ID["[SEP]"]]
    # model_max_length (8) applies when truncation=True without max_length
    assert len(tok("hello " * 20, truncation=True)["input_ids"]) == 8
    fixed = tok("hello", padding="max_length", max_length=6, pad_to_multiple_of=3)
    assert len(fixed["input_ids"]) == 6
    assert tok.backend_tokenizer.padding is None and tok.backend_tokenizer.truncation is None


def test_tensors_and_batch_encoding(tok):
    import torch
    out = tok(["hello", "the cat sat"], padding=True, return_tensors="pt")
    assert out["input_ids"].shape == (2, 5) and out["input_ids"].dtype == torch.int64
    assert out.to("cpu") is out
    single = tok("hello", return_tensors="np")
    assert single["input_ids"].shape == (1, 3)
    with pytest.raises(TokenizerError, match="padding=True"):
        tok(["hello", "the cat sat"], return_tensors="pt")
    ragged = BatchEncoding({"input_ids": [[1, 2], [3]]}, tensor_type="np")
    assert ragged["input_ids"].dtype == object and ragged["input_ids"].shape == (2,)
    assert isinstance(out, dict) and out[0].ids == out["input_ids"][0].tolist()
    with pytest.raises(AttributeError):
        out.no_such_field
    copy = pickle.loads(pickle.dumps(tok(["hello"])))
    assert copy["input_ids"] == [[2, 4, 3]] and copy.encodings is not None


def test_import_is_lazy():
    code = "import sys, snuggle.tokenizers.pretrained; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_special_tokens_attributes(tok):
    assert tok.pad_token == "[PAD]" and tok.pad_token_id == 0
    assert tok.bos_token is None and tok.bos_token_id is None
    # BertTokenizer's default mask_token is set and, missing from the vocabulary, added after it
    assert tok.all_special_tokens == ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]
    assert tok.mask_token_id == len(WORDS)
    tok.pad_token_id = ID["[SEP]"]
    assert tok.pad_token == "[SEP]"
    assert tok.add_special_tokens({"mask_token": "[MASK]", "additional_special_tokens": ["<x>"]}) == 1
    assert tok.convert_tokens_to_ids("<x>") == len(WORDS) + 1
    assert tok.additional_special_tokens == ["<x>"] == tok.extra_special_tokens
    assert tok.tokenize("hello<x>world") == ["hello", "<x>", "world"]
    assert tok.add_tokens(["newword"]) == 1 and tok.add_tokens("newword") == 0
    assert len(tok) == len(WORDS) + 3 and tok.vocab_size == len(WORDS)
    with pytest.raises(TokenizerError, match="not a special-token key"):
        tok.add_special_tokens({"nonsense": "x"})


def test_decode_and_cleanup(tok):
    ids = tok("hello , it 's the cat !")["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == "hello, it's the cat!"  # WordLevel: clean-up applies
    assert tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False) == "hello , it 's the cat !"
    assert tok.decode(ids).startswith("[CLS] hello")
    assert tok.batch_decode([ids, ids[:2]], skip_special_tokens=True) == ["hello, it's the cat!", "hello"]
    assert tok.convert_ids_to_tokens(ids[:2]) == ["[CLS]", "hello"]
    assert tok.convert_tokens_to_ids(["cat", "zebra"]) == [ID["cat"], ID["[UNK]"]]


def test_errors_name_the_problem(tok, tmp_path):
    tok.pad_token = None
    with pytest.raises(TokenizerError, match="no pad token"):
        tok(["a", "b"], padding=True)
    with pytest.raises(TokenizerError, match="padding="):
        tok("a", padding="sideways")
    with pytest.raises(TokenizerError, match="text must be"):
        tok(123)
    with pytest.raises(TokenizerFileError, match="no such local folder"):
        AutoTokenizer.from_pretrained(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TokenizerFileError, match="no tokenizer files"):
        AutoTokenizer.from_pretrained(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(TokenizerFileError, match="tokenizer_config.json"):
        AutoTokenizer.from_pretrained(tmp_path / "broken")


def test_save_and_reload(tok, tmp_path):
    tok.add_special_tokens({"additional_special_tokens": ["<x>"]})
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    tok.padding_side = "left"
    paths = tok.save_pretrained(tmp_path / "saved")
    names = sorted(os.listdir(tmp_path / "saved"))
    assert names == ["chat_template.jinja", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    assert all(os.path.isfile(p) for p in paths)
    config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    assert list(config) == sorted(config)
    assert config["added_tokens_decoder"][str(len(WORDS) + 1)]["content"] == "<x>"
    assert config["tokenizer_class"] == "BertTokenizer" and config["padding_side"] == "left"
    again = AutoTokenizer.from_pretrained(tmp_path / "saved")
    assert again("hello <x> cat")["input_ids"] == tok("hello <x> cat")["input_ids"]
    assert again.extra_special_tokens == ["<x>"] and again.padding_side == "left"
    assert again.chat_template == tok.chat_template and again.model_max_length == 8


def test_pad_lists_of_dicts(tok):
    rows = [{"input_ids": [2, 4, 3]}, {"input_ids": [2, 3]}]
    out = tok.pad(rows)
    assert out["input_ids"] == [[2, 4, 3], [2, 3, 0]] and out["attention_mask"] == [[1, 1, 1], [1, 1, 0]]
    assert tok.pad(rows, return_tensors="pt")["input_ids"].shape == (2, 3)


def test_resolve_files_and_direct_construction(folder):
    files = resolve_tokenizer_files(folder)
    assert files["tokenizer_file"].endswith("tokenizer.json") and files["special_tokens_map_file"] is None
    direct = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), pad_token="[PAD]")
    assert direct("hello")["input_ids"] == [2, 4, 3] and "token_type_ids" not in direct("hello")
    single_file = AutoTokenizer.from_pretrained(folder / "tokenizer.json")
    assert single_file.encode("the cat") == [2, 6, 7, 3]
    with pytest.raises(TokenizerError, match="needs a backend"):
        PreTrainedTokenizerFast()
