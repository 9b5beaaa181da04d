"""Parity: snuggle's AutoTokenizer / PreTrainedTokenizerFast against transformers' AutoTokenizer.

Both load the same folders (MiniLM BERT, GPT-2, Pegasus Unigram, and folders each side saved),
then every output field of `__call__`, `encode`, `decode`, `tokenize`, `pad` and the
BatchEncoding mappings is compared for many argument combinations on corpus lines and
hard strings. Expected values are computed by the reference in the same run.
"""

from __future__ import annotations

import json
import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest
import transformers

from snuggle.tokenizers.pretrained import AutoTokenizer
from tests.conftest import DATASETS, minilm_dir
from tests.corpus import HARD_STRINGS, corpus_lines

transformers.logging.set_verbosity_error()

TEXTS = corpus_lines(6) + HARD_STRINGS
PAIRS = list(zip(TEXTS[::2], TEXTS[1::2]))


def _copy(src, dst, names):
    os.makedirs(dst, exist_ok=True)
    for n in names:
        if os.path.exists(os.path.join(src, n)):
            shutil.copy(os.path.join(src, n), os.path.join(dst, n))
    return str(dst)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    return {
        "minilm": _copy(minilm_dir(), root / "minilm", ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"]),
        "gpt2": _copy(DATASETS / "tokenizers" / "gpt2", root / "gpt2", ["tokenizer.json", "tokenizer_config.json"]),
        "pegasus": _generic(_copy(DATASETS / "tokenizers" / "pegasus-unigram", root / "pegasus", ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"])),
    }


def _generic(folder):
    """Name the generic class: transformers' PegasusTokenizer rebuilds the pipeline instead of using tokenizer.json."""
    path = os.path.join(folder, "tokenizer_config.json")
    config = json.load(open(path, encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    json.dump(config, open(path, "w", encoding="utf-8"))
    return folder


_cache: dict = {}


def pair_of(folders, name, **kwargs):
    key = (name, tuple(sorted(kwargs.items())))
    if key not in _cache:
        ref = transformers.AutoTokenizer.from_pretrained(folders[name], **kwargs)
        ours = AutoTokenizer.from_pretrained(folders[name], **kwargs)
        _cache[key] = (ref, ours)
    return _cache[key]


def plain(x):
    """Tensors, arrays and tuples -> nested lists, for comparison."""
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    return x


def assert_same_batch(ref_out, our_out, where):
    assert list(ref_out.keys()) == list(our_out.keys()), where
    for k in ref_out:
        assert type(plain(ref_out[k])) is type(plain(our_out[k])), (where, k)
        assert plain(ref_out[k]) == plain(our_out[k]), (where, k)
    if ref_out.encodings is not None:
        assert our_out.encodings is not None and len(ref_out.encodings) == len(our_out.encodings), where
        for i in range(len(ref_out.encodings)):
            assert ref_out.tokens(i) == our_out.tokens(i), (where, i)
            assert ref_out.word_ids(i) == our_out.word_ids(i), (where, i)
            assert ref_out.sequence_ids(i) == our_out.sequence_ids(i), (where, i)


CALL_OPTIONS = [
    {},
    {"return_offsets_mapping": True, "return_special_tokens_mask": True, "return_length": True},
    {"add_special_tokens": False, "return_token_type_ids": True},
    {"padding": True},
    {"padding": "longest", "padding_side": "left", "return_attention_mask": False},
    {"padding": "max_length", "max_length": 24, "truncation": True},
    {"truncation": True, "max_length": 12},
    {"truncation": "only_first", "max_length": 20, "stride": 3, "return_overflowing_tokens": True, "return_offsets_mapping": True},
    {"truncation": "longest_first", "max_length": 10, "stride": 2, "return_overflowing_tokens": True, "padding": True},
    {"max_length": 9},
    {"padding": True, "pad_to_multiple_of": 8},
    {"padding": True, "return_tensors": "np"},
    {"padding": "max_length", "max_length": 16, "truncation": True, "return_tensors": "pt"},
    {"return_tensors": "pt", "truncation": True, "max_length": 7, "return_overflowing_tokens": True, "stride": 1, "padding": True},
]

TOKENIZERS = [
    pytest.param("minilm", {}, id="minilm"),
    pytest.param("gpt2", {"pad_token": "<|endoftext|>"}, id="gpt2"),
    # a 96k-piece Unigram: slow to load on both sides
    pytest.param("pegasus", {}, id="pegasus", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name,load_kwargs", TOKENIZERS)
@pytest.mark.parametrize("options", CALL_OPTIONS, ids=[str(i) for i in range(len(CALL_OPTIONS))])
def test_call_single_and_batch(folders, name, load_kwargs, options):
    ref, ours = pair_of(folders, name, **load_kwargs)
    batch = TEXTS[:12]
    assert_same_batch(ref(batch, **options), ours(batch, **options), f"{name} batch {options}")
    if options.get("return_tensors") or options.get("padding") == "max_length":
        return
    for text in TEXTS[12:]:
        assert_same_batch(ref(text, **options), ours(text, **options), f"{name} {text[:40]!r} {options}")


@pytest.mark.parametrize("name,load_kwargs", TOKENIZERS)
@pytest.mark.parametrize("options", [{}, {"truncation": "only_second", "max_length": 24}, {"truncation": True, "max_length": 16, "padding": True, "return_overflowing_tokens": True, "stride": 2}, {"truncation": "only_first", "max_length": 30, "return_offsets_mapping": True}], ids=["plain", "only_second", "longest_overflow", "only_first"])
def test_call_pairs(folders, name, load_kwargs, options):
    ref, ours = pair_of(folders, name, **load_kwargs)
    firsts = [a for a, b in PAIRS if a.strip() and b.strip()][:10]
    seconds = [b for a, b in PAIRS if a.strip() and b.strip()][:10]
    try:
        expected = ref(firsts, seconds, **options)
    except Exception as e:  # the reference refuses some truncations; we must refuse them too
        with pytest.raises(Exception):
            ours(firsts, seconds, **options)
        return
    assert_same_batch(expected, ours(firsts, seconds, **options), f"{name} pairs {options}")
    assert_same_batch(ref(firsts[0], seconds[0]), ours(firsts[0], seconds[0]), f"{name} one pair")


@pytest.mark.parametrize("name,load_kwargs", TOKENIZERS)
def test_split_into_words_and_mappings(folders, name, load_kwargs):
    ref, ours = pair_of(folders, name, **load_kwargs)
    words = [["Hello", "world", "it's", "me"], ["ünïcödé", "日本語", "x"], ["a"]]
    for opts in ({}, {"padding": True, "return_offsets_mapping": True}, {"truncation": True, "max_length": 5}):
        assert_same_batch(ref(words, is_split_into_words=True, **opts), ours(words, is_split_into_words=True, **opts), f"{name} words {opts}")
        assert_same_batch(ref(words[0], is_split_into_words=True, **opts), ours(words[0], is_split_into_words=True, **opts), f"{name} one words {opts}")
    text = "Hello world, how are you doing today?"
    r, o = ref(text), ours(text)
    for c in range(len(text)):
        assert r.char_to_token(c) == o.char_to_token(c), c
        assert r.char_to_word(c) == o.char_to_word(c), c
    for t in range(len(r["input_ids"])):
        assert r.token_to_chars(t) == o.token_to_chars(t), t
        assert r.token_to_word(t) == o.token_to_word(t), t
        assert r.token_to_sequence(t) == o.token_to_sequence(t), t
    for w in range(6):
        assert r.word_to_tokens(w) == o.word_to_tokens(w), w
        assert r.word_to_chars(w) == o.word_to_chars(w), w


@pytest.mark.parametrize("name,load_kwargs", TOKENIZERS)
def test_encode_decode_tokenize(folders, name, load_kwargs):
    ref, ours = pair_of(folders, name, **load_kwargs)
    for text in TEXTS:
        ids = ref.encode(text)
        assert ours.encode(text) == ids, text
        assert ours.encode(text, add_special_tokens=False) == ref.encode(text, add_special_tokens=False), text
        assert ours.tokenize(text) == ref.tokenize(text), text
        for skip in (False, True):
            for clean in (None, False, True):
                assert ours.decode(ids, skip_special_tokens=skip, clean_up_tokenization_spaces=clean) == ref.decode(
                    ids, skip_special_tokens=skip, clean_up_tokenization_spaces=clean
                ), (text, skip, clean)
        assert ours.convert_ids_to_tokens(ids) == ref.convert_ids_to_tokens(ids)
        assert ours.convert_ids_to_tokens(ids, skip_special_tokens=True) == ref.convert_ids_to_tokens(ids, skip_special_tokens=True)
        toks = ref.convert_ids_to_tokens(ids)
        assert ours.convert_tokens_to_ids(toks) == ref.convert_tokens_to_ids(toks)
        assert ours.convert_tokens_to_string(toks) == ref.convert_tokens_to_string(toks)
    batch = [ref.encode(t) for t in TEXTS[:8]]
    assert ours.batch_decode(batch, skip_special_tokens=True) == ref.batch_decode(batch, skip_special_tokens=True)
    assert ours.decode(batch) == ref.decode(batch)
    import torch

    assert ours.decode(torch.tensor(batch[0])) == ref.decode(torch.tensor(batch[0]))


@pytest.mark.parametrize("name,load_kwargs", TOKENIZERS)
def test_attributes(folders, name, load_kwargs):
    ref, ours = pair_of(folders, name, **load_kwargs)
    assert len(ours) == len(ref)
    assert ours.vocab_size == ref.vocab_size
    assert ours.get_vocab() == ref.get_vocab()
    assert ours.model_max_length == ref.model_max_length
    assert ours.padding_side == ref.padding_side and ours.truncation_side == ref.truncation_side
    assert ours.model_input_names == ref.model_input_names
    assert ours.special_tokens_map == ref.special_tokens_map
    assert ours.all_special_tokens == ref.all_special_tokens
    assert ours.all_special_ids == ref.all_special_ids
    assert ours.extra_special_tokens == ref.extra_special_tokens
    for attr in ("bos", "eos", "unk", "sep", "pad", "cls", "mask"):
        assert getattr(ours, f"{attr}_token") == getattr(ref, f"{attr}_token"), attr
        assert getattr(ours, f"{attr}_token_id") == getattr(ref, f"{attr}_token_id"), attr
    assert ours.num_special_tokens_to_add() == ref.num_special_tokens_to_add()
    assert ours.num_special_tokens_to_add(pair=True) == ref.num_special_tokens_to_add(pair=True)
    assert ours.max_len_single_sentence == ref.max_len_single_sentence
    assert {i: str(t) for i, t in ours.added_tokens_decoder.items()} == {i: str(t) for i, t in ref.added_tokens_decoder.items()}
    assert ours.added_tokens_encoder == ref.added_tokens_encoder
    assert ours.clean_up_tokenization_spaces == ref.clean_up_tokenization_spaces
    ids = ref.encode(TEXTS[0])
    assert ours.get_special_tokens_mask(ids, already_has_special_tokens=True) == ref.get_special_tokens_mask(ids, already_has_special_tokens=True)


def test_text_target_labels(folders):
    ref, ours = pair_of(folders, "minilm")
    sources, targets = TEXTS[:4], TEXTS[4:8]
    for opts in ({}, {"padding": True}, {"truncation": True, "max_length": 10}):
        assert_same_batch(ref(sources, text_target=targets, **opts), ours(sources, text_target=targets, **opts), f"target {opts}")
    assert_same_batch(ref(text_target=targets[0]), ours(text_target=targets[0]), "target only")


def test_pad_matches(folders):
    ref, ours = pair_of(folders, "minilm")
    rows = [ref(t) for t in TEXTS[:5]]
    as_dicts = [dict(r) for r in rows]
    for opts in ({}, {"padding": "max_length", "max_length": 64}, {"pad_to_multiple_of": 16}, {"padding_side": "left"}, {"return_tensors": "pt"}, {"return_attention_mask": False}):
        assert_same_batch(ref.pad(as_dicts, **opts), ours.pad(as_dicts, **opts), f"pad {opts}")
    batch = {"input_ids": [r["input_ids"] for r in rows]}
    assert_same_batch(ref.pad(batch), ours.pad(batch), "pad dict")
    single = {"input_ids": rows[0]["input_ids"]}
    assert_same_batch(ref.pad(single, padding="max_length", max_length=40), ours.pad(single, padding="max_length", max_length=40), "pad one")


def test_added_and_special_tokens_behave_alike(folders):
    ref = transformers.AutoTokenizer.from_pretrained(folders["gpt2"])
    ours = AutoTokenizer.from_pretrained(folders["gpt2"])
    for tok in (ref, ours):
        assert tok.add_special_tokens({"pad_token": "<pad>", "additional_special_tokens": ["<tool>", "<end_tool>"]}) == 3
        assert tok.add_tokens(["helloworld", "ÜBER"]) == 2
        assert tok.add_tokens(["helloworld"]) == 0
    text = "say helloworld<tool>ÜBER x<end_tool> <pad>"
    for opts in ({}, {"split_special_tokens": True}):
        assert ours(text, **opts)["input_ids"] == ref(text, **opts)["input_ids"], opts
    assert ours.pad_token_id == ref.pad_token_id
    assert ours.all_special_tokens == ref.all_special_tokens
    assert ours.extra_special_tokens_ids == ref.extra_special_tokens_ids
    ids = ref.encode(text)
    assert ours.decode(ids, skip_special_tokens=True) == ref.decode(ids, skip_special_tokens=True)
    assert len(ours) == len(ref)
    ours.pad_token = None
    ref.pad_token = None
    assert ours.pad_token_id is None and ref.pad_token_id is None
    ours.pad_token_id = 50256
    ref.pad_token_id = 50256
    assert ours.pad_token == ref.pad_token


def _ref_view(tok, texts):
    return [tok(t, return_offsets_mapping=True)["input_ids"] for t in texts] + [tok.decode(tok.encode(t)) for t in texts]


@pytest.mark.parametrize(
    "name,load_kwargs",
    [TOKENIZERS[0], pytest.param("gpt2", {"pad_token": "<|endoftext|>"}, id="gpt2", marks=pytest.mark.slow), TOKENIZERS[2]],
)
def test_save_roundtrips_with_reference(folders, name, load_kwargs, tmp_path):
    ref, ours = pair_of(folders, name, **load_kwargs)
    ours.save_pretrained(tmp_path / "ours")
    ref.save_pretrained(tmp_path / "ref")
    assert os.path.isfile(tmp_path / "ours" / "tokenizer.json")
    config = json.loads((tmp_path / "ours" / "tokenizer_config.json").read_text())
    assert "added_tokens_decoder" in config
    assert json.loads((tmp_path / "ours" / "special_tokens_map.json").read_text())
    ref_from_ours = transformers.AutoTokenizer.from_pretrained(tmp_path / "ours")
    ours_from_ref = AutoTokenizer.from_pretrained(tmp_path / "ref")
    ours_from_ours = AutoTokenizer.from_pretrained(tmp_path / "ours")
    texts = TEXTS[:10] + HARD_STRINGS
    expected = _ref_view(ref, texts)
    assert _ref_view(ref_from_ours, texts) == expected
    assert _ref_view(ours_from_ref, texts) == expected
    assert _ref_view(ours_from_ours, texts) == expected
    for loaded in (ref_from_ours, ours_from_ref, ours_from_ours):
        assert loaded.special_tokens_map == ref.special_tokens_map
        assert loaded.model_max_length == ref.model_max_length
        assert loaded.model_input_names == ref.model_input_names
        assert loaded.get_vocab() == ref.get_vocab()
    batch = TEXTS[:6]
    if ref.pad_token is not None:
        assert_same_batch(ref(batch, padding=True), ours_from_ref(batch, padding=True), "reloaded, padded")


def test_saved_with_added_tokens_and_template_loads_in_reference(folders, tmp_path):
    ours = AutoTokenizer.from_pretrained(folders["gpt2"])
    ours.add_special_tokens({"pad_token": "<pad>", "additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    ours.add_tokens(["newword"])
    ours.chat_template = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    ours.padding_side = "left"
    ours.save_pretrained(tmp_path)
    ref = transformers.AutoTokenizer.from_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    text = "<|im_start|>user\nnewword hi<|im_end|><pad>"
    assert ref(text)["input_ids"] == ours(text)["input_ids"] == again(text)["input_ids"]
    assert ref.padding_side == "left" == again.padding_side
    assert ref.pad_token == "<pad>" == again.pad_token
    assert ref.extra_special_tokens == again.extra_special_tokens == ["<|im_start|>", "<|im_end|>"]
    assert ref.chat_template == ours.chat_template == again.chat_template
    msgs = [{"role": "user", "content": "hi"}]
    assert ref.apply_chat_template(msgs, tokenize=False) == again.apply_chat_template(msgs, tokenize=False)


SLOW_FILE_FOLDERS = {
    "bert-vocab-txt": ({"vocab.txt": "bert-base-uncased/vocab.txt"}, {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512}),
    "gpt2-vocab-merges": ({"vocab.json": "gpt2/vocab.json", "merges.txt": "gpt2/merges.txt"}, None),
    "llama2-sentencepiece": ({"tokenizer.model": "llama2/tokenizer.model"}, {"tokenizer_class": "LlamaTokenizer", "add_bos_token": True}),
    "llama3-tiktoken": ({"tokenizer.model": "llama3/tokenizer.model"}, {"tokenizer_class": "PreTrainedTokenizerFast"}),
}


@pytest.mark.parametrize(
    "case",
    ["bert-vocab-txt", "gpt2-vocab-merges", pytest.param("llama2-sentencepiece", marks=pytest.mark.slow),
     pytest.param("llama3-tiktoken", marks=pytest.mark.slow)],
)
def test_slow_files_are_converted_like_the_reference(case, tmp_path):
    files, config = SLOW_FILE_FOLDERS[case]
    for name, src in files.items():
        shutil.copy(DATASETS / "tokenizers" / src, tmp_path / name)
    if config is None:
        shutil.copy(DATASETS / "tokenizers" / "gpt2" / "tokenizer_config.json", tmp_path / "tokenizer_config.json")
    else:
        (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    ref = transformers.AutoTokenizer.from_pretrained(tmp_path)
    ours = AutoTokenizer.from_pretrained(tmp_path)
    assert ours.special_tokens_map == ref.special_tokens_map
    assert len(ours) == len(ref)
    for text in TEXTS[:12] + HARD_STRINGS:
        r, o = ref(text), ours(text)
        assert o["input_ids"] == r["input_ids"], text
        assert o.tokens() == r.tokens(), text
        assert ours.decode(o["input_ids"], skip_special_tokens=True) == ref.decode(r["input_ids"], skip_special_tokens=True), text
