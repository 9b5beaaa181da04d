"""The WordPiece fast path against snuggle's generic pipeline (normalizer, pre-tokenizer,
WordPiece model run one after the other), and the C encoder against the pure-Python one."""

from __future__ import annotations

import json
import random

import pytest

from snuggle.errors import TokenizerError
from snuggle.tokenizers import Tokenizer, fast_wordpiece, normalizers, pre_tokenizers
from snuggle.tokenizers.converters import from_wordpiece_vocab
from snuggle.tokenizers.encoding import Encoding
from snuggle.tokenizers.fast import plan_fast_path
from snuggle.tokenizers.fast_wordpiece import PyWordPieceEncoder, WordPieceFastPath, plan_wordpiece_fast_path
from snuggle.tokenizers.models.bpe import BPE
from snuggle.tokenizers.models.wordpiece import WordPiece
from snuggle.tokenizers.normalized import NormalizedString, PreTokenizedString
from tests.conftest import DATASETS
from tests.corpus import all_inputs

BERT_VOCAB = DATASETS / "tokenizers" / "bert-base-uncased" / "vocab.txt"
HAS_C = fast_wordpiece._fast_wordpiece is not None

# (normalizer, pre-tokenizer) pairs the planner accepts; with the bert-base-uncased vocab.
CONFIGS = {
    "bert-uncased": (normalizers.BertNormalizer(), pre_tokenizers.BertPreTokenizer()),
    "bert-cased": (normalizers.BertNormalizer(lowercase=False, clean_text=False), pre_tokenizers.BertPreTokenizer()),
    "lowercase-whitespace": (normalizers.Lowercase(), pre_tokenizers.Whitespace()),
    "none-whitespacesplit": (None, pre_tokenizers.WhitespaceSplit()),
    "sequence-bert": (
        normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()]),
        pre_tokenizers.Sequence([pre_tokenizers.BertPreTokenizer()]),
    ),
}


@pytest.fixture(scope="module")
def bert_model() -> WordPiece:
    return WordPiece.from_file(str(BERT_VOCAB), unk_token="[UNK]")


@pytest.fixture(scope="module")
def inputs() -> list[str]:
    return all_inputs(60) + [
        "Tokenization_with__underscores and CamelCase WORDS!!",
        "tabs\tand\nnew\r\nlines",
        "x" * 101 + " " + "y" * 100,  # longer than max_input_chars_per_word, and exactly that long
        "qzxqzxqzx unknownish wordsxq ##ab [CLS] [sep]",
        "del\x7fchar bell\x07 vt\x0b ff\x0c",  # control chars: the fast path declines
    ]


def generic(normalizer, pre_tokenizer, model, text: str):
    """(ids, tokens, offsets, words) from the components run one after the other."""
    n = NormalizedString(text)
    if normalizer is not None:
        normalizer.normalize(n)
    pre = PreTokenizedString(n)
    pre_tokenizer.pre_tokenize(pre)
    pre.tokenize(lambda s: model.tokenize(s.normalized))
    e = Encoding.from_items(pre.to_encoding_items(None, 0))
    return e.ids, e.tokens, e.offsets, e.words


def generic_word_count(normalizer, pre_tokenizer, text: str) -> int:
    n = NormalizedString(text)
    if normalizer is not None:
        normalizer.normalize(n)
    pre = PreTokenizedString(n)
    pre_tokenizer.pre_tokenize(pre)
    return len(pre.splits)


def encoders(model, normalizer, pre_tokenizer):
    """The planned path and, when the C encoder is built, the same path with the Python encoder."""
    path = plan_wordpiece_fast_path(normalizer, pre_tokenizer, model)
    assert path is not None
    out = [path]
    if HAS_C:
        assert type(path.encoder).__name__ == "WordPieceEncoder"
        py = PyWordPieceEncoder(model.vocab, fast_wordpiece._token_strings(model.vocab), model.vocab[model.unk_token],
                                model.continuing_subword_prefix, model.max_input_chars_per_word,
                                fast_wordpiece._pre_tokenizer_kind(pre_tokenizer.to_dict()),
                                fast_wordpiece._normalizer_lowercases(normalizer.to_dict() if normalizer else None))
        out.append(WordPieceFastPath(py, (normalizer, pre_tokenizer, model)))
    return out


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_fast_equals_generic(config, bert_model, inputs):
    normalizer, pre_tokenizer = CONFIGS[config]
    handled = 0
    for path in encoders(bert_model, normalizer, pre_tokenizer):
        for text in inputs:
            res = path.encode_full(text)
            assert res is not None  # declined chunks go through the generic components
            handled += 1
            ids, tokens, offsets, words, n_words = res
            assert (ids, tokens, offsets, words) == generic(normalizer, pre_tokenizer, bert_model, text), text
            assert n_words == generic_word_count(normalizer, pre_tokenizer, text)
    assert handled == len(inputs) * len(encoders(bert_model, normalizer, pre_tokenizer))


def test_shifted_segments(bert_model):
    path = plan_wordpiece_fast_path(*CONFIGS["bert-uncased"], bert_model)
    ids, tokens, offsets, words, n = path.encode_full("Hello, tokenizers", char_base=7, word_base=2)
    assert tokens == ["hello", ",", "token", "##izer", "##s"]
    assert offsets == [(7, 12), (12, 13), (14, 19), (19, 23), (23, 24)]
    assert words == [2, 3, 4, 4, 4] and n == 3


DECLINED = ["café", "naïve résumé", "中文", "a\x00b", "a\x1fb", "a\x7fb", "a\x0bb", "Ünïcode\u3000spaced", "x\u0301"]


def test_encoder_declines_non_ascii_and_control_chars(bert_model):
    path = plan_wordpiece_fast_path(*CONFIGS["bert-uncased"], bert_model)
    for text in DECLINED:
        assert path.encoder.encode_packed(text) is None
    assert path.encoder.encode_packed_many(["ok", "café", "fine"])[1] is None
    assert path.encode_full("") == ([], [], [], [], 0)
    # planned from dicts there are no generic components: the whole text goes back to the pipeline
    from_dicts = plan_wordpiece_fast_path({"type": "Lowercase"}, {"type": "BertPreTokenizer"}, bert_model)
    for text in DECLINED:
        assert from_dicts.encode_packed(text) is None and from_dicts.encode_full(text) is None
    assert from_dicts.encode_packed_batch(["ok", "café"])[1] is None


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_mixed_texts_cut_at_whitespace(config, bert_model):
    normalizer, pre_tokenizer = CONFIGS[config]
    path = plan_wordpiece_fast_path(normalizer, pre_tokenizer, bert_model)
    texts = [f"{a} The {b}, café.\tend {c}" for a in DECLINED for b in DECLINED[:3] for c in ("", "x", "ﬁn")]
    texts += [" ".join(DECLINED), "\n".join(DECLINED) + "\n", "éé" * 40 + " ok"]
    for text, batched in zip(texts, path.encode_packed_batch(texts * 20)):  # * 20: threads
        ids, tokens, offsets, words, n_words = path.encode_full(text)
        assert (ids, tokens, offsets, words) == generic(normalizer, pre_tokenizer, bert_model, text), text
        assert batched == path.encode_packed(text)
        shifted = path.encode_full(text, char_base=3, word_base=5)
        assert shifted[2] == [(s + 3, e + 3) for s, e in offsets] and shifted[3] == [w + 5 for w in words]
        assert shifted[4] == n_words


def test_tokenizer_falls_back_for_non_ascii():
    tok = Tokenizer.from_str(json.dumps(from_wordpiece_vocab(BERT_VOCAB)))
    assert isinstance(plan_fast_path(tok.normalizer, tok.pre_tokenizer, tok.model), WordPieceFastPath)
    for text in ["Crème brûlée, s'il vous plaît", "日本語 text", "zero\u200bwidth", "ctrl\x01char"]:
        enc = tok.encode(text, add_special_tokens=False)
        assert (enc.ids, enc.tokens, enc.offsets, enc.words) == generic(tok.normalizer, tok.pre_tokenizer, tok.model, text)


def test_tokenizer_encode_and_batch_use_the_fast_path(inputs):
    tok = Tokenizer.from_str(json.dumps(from_wordpiece_vocab(BERT_VOCAB)))
    texts = [t for t in inputs if "[" not in t]  # no added tokens inside: one segment each
    batch = tok.encode_batch(texts, add_special_tokens=False)
    for text, b in zip(texts, batch):
        single = tok.encode(text, add_special_tokens=False)
        expected = generic(tok.normalizer, tok.pre_tokenizer, tok.model, text)
        assert (single.ids, single.tokens, single.offsets, single.words) == expected
        assert (b.ids, b.tokens, b.offsets, b.words) == expected


def test_missing_unk_raises_like_the_generic_path():
    model = WordPiece({"a": 0, "##b": 1}, unk_token="[UNK]")
    path = plan_wordpiece_fast_path(None, pre_tokenizers.BertPreTokenizer(), model)
    assert path.encode_full("ab a") == ([0, 1, 0], ["a", "##b", "a"], [(0, 1), (1, 2), (3, 4)], [0, 0, 1], 2)
    assert path.encode_packed("ab c") is None  # 'c' needs the unk token, which is missing
    tok = Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    with pytest.raises(TokenizerError):
        tok.encode("ab c")


def test_other_prefix_and_word_length():
    model = WordPiece({"[UNK]": 0, "ab": 1, "@@c": 2, "a": 3, "@@b": 4}, max_input_chars_per_word=4,
                      continuing_subword_prefix="@@")
    for path in encoders(model, None, pre_tokenizers.WhitespaceSplit()):
        assert path.encode_full("abc abbb abbbb")[:2] == ([1, 2, 1, 4, 4, 0], ["ab", "@@c", "ab", "@@b", "@@b", "[UNK]"])


def test_planner_declines_other_configs(bert_model):
    bert_pre = pre_tokenizers.BertPreTokenizer()
    assert plan_wordpiece_fast_path(normalizers.BertNormalizer(), bert_pre, bert_model) is not None
    declined = [
        (normalizers.Replace("a", "b"), bert_pre, bert_model),
        (normalizers.Sequence([normalizers.Lowercase(), normalizers.Strip()]), bert_pre, bert_model),
        (None, pre_tokenizers.Metaspace(), bert_model),
        (None, pre_tokenizers.Sequence([bert_pre, pre_tokenizers.Digits()]), bert_model),
        (None, pre_tokenizers.ByteLevel(), bert_model),
        (None, None, bert_model),
        (None, bert_pre, BPE({"a": 0}, [])),
        (None, bert_pre, None),
    ]
    for normalizer, pre_tokenizer, model in declined:
        assert plan_wordpiece_fast_path(normalizer, pre_tokenizer, model) is None
        assert plan_fast_path(normalizer, pre_tokenizer, model) is None
    # two tokens sharing one id: the id -> token map would be ambiguous (the planner declines)
    assert fast_wordpiece._token_strings({"[UNK]": 0, "a": 1, "b": 1}) is None
    assert fast_wordpiece._token_strings({"[UNK]": 0, "b": 2}) == ["[UNK]", None, "b"]


def random_ascii(rng: random.Random, count: int) -> list[str]:
    alphabet = "aAbBeEsStT iInNgG##..,,''!_-  \t\n\r0123456789()[]xyzQZ"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(count)]


@pytest.mark.skipif(not HAS_C, reason="the C extension is not built (pure-Python path only)")
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_c_encoder_equals_python_encoder(config, bert_model):
    c_path, py_path = encoders(bert_model, *CONFIGS[config])
    texts = random_ascii(random.Random(config), 400) + all_inputs(30)
    for i, text in enumerate(texts):
        assert c_path.encoder.encode_packed(text, i, 2 * i) == py_path.encoder.encode_packed(text, i, 2 * i), text
    expected = [py_path.encoder.encode_packed(t) for t in texts]
    for threads in (1, 2, 3):
        assert c_path.encoder.encode_packed_many(texts, threads) == expected
    packed = c_path.encoder.encode_packed("Hello tokenizers_x, 42!")
    assert c_path.encoder.unpack(*packed[:3]) == py_path.encoder.unpack(*packed[:3])


@pytest.mark.skipif(not HAS_C, reason="the C extension is not built (pure-Python path only)")
def test_c_encoder_rejects_bad_input(bert_model):
    enc = plan_wordpiece_fast_path(*CONFIGS["bert-uncased"], bert_model).encoder
    with pytest.raises(TypeError):
        enc.encode_packed_many(["a", 3])
    with pytest.raises(ValueError):
        enc.unpack(b"\x01\x00\x00", b"", b"")
    with pytest.raises(ValueError):
        enc.unpack(b"\xff\xff\xff\x7f", b"\x00" * 8, b"\x00" * 4)


def test_pure_python_path_when_the_extension_is_missing(monkeypatch, inputs):
    monkeypatch.setattr(fast_wordpiece, "_fast_wordpiece", None)
    tok = Tokenizer.from_str(json.dumps(from_wordpiece_vocab(BERT_VOCAB)))
    path = tok._fast_path()
    assert isinstance(path, WordPieceFastPath) and isinstance(path.encoder, PyWordPieceEncoder)
    texts = [t for t in inputs[::3] if "[" not in t]  # no added tokens inside
    for text, b in zip(texts, tok.encode_batch(texts, add_special_tokens=False)):
        single = tok.encode(text, add_special_tokens=False)
        expected = generic(tok.normalizer, tok.pre_tokenizer, tok.model, text)
        assert (single.ids, single.tokens, single.offsets, single.words) == expected, text
        assert (b.ids, b.tokens, b.offsets, b.words) == expected, text
