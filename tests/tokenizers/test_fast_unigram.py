"""The SentencePiece fast path (fast_unigram.py) against snuggle's generic pipeline.

Every configuration is encoded twice: by a Tokenizer whose fast path is on, and by one whose
fast path is switched off, and ids, tokens, offsets and word ids must be equal. Each test
also checks that the fast path really handled most inputs (a path that declines everything
would pass the equality checks trivially).
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache

import pytest

from snuggle.tokenizers import Tokenizer
from snuggle.tokenizers.converters import from_sentencepiece
from snuggle.tokenizers.fast_unigram import SentencePieceFastPath, plan_unigram_fast_path
from snuggle.tokenizers.models.bpe import BPE
from snuggle.tokenizers.models.unigram import Unigram
from snuggle.tokenizers.normalizers import Lowercase, Precompiled
from snuggle.tokenizers.pre_tokenizers import ByteLevel, Metaspace, WhitespaceSplit
from tests.conftest import DATASETS
from tests.corpus import HARD_STRINGS, all_inputs

PEGASUS = DATASETS / "tokenizers" / "pegasus-unigram" / "tokenizer.json"
LLAMA2 = DATASETS / "tokenizers" / "llama2" / "tokenizer.model"

EXTRA = [
    "a\u2581b \u2581\u2581x y\u2581",  # the Metaspace replacement inside words
    "\u2581lead and trail\u2581",
    "two  spaces   three",
    " leading",
    "trailing ",
    "<s>Hello</s> world <unk>x",  # added tokens: segments encoded one by one
    "</s>",
    "x</s> y",
    "\x1cfile\x1dsep\x1erec\x1funit",  # str.split() whitespace that Rust's is not
    "tab\tand\u00a0nbsp and \u3000 ideographic",
    "A\u0301 combining after a letter",
    "\u4e00\u9fa5 rare CJK \U00020000",
]


@lru_cache(maxsize=None)
def pegasus_dict() -> dict:
    return json.loads(PEGASUS.read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def llama_dict(legacy: bool | None = None) -> dict:
    return from_sentencepiece(str(LLAMA2), legacy=legacy)


def llama_normalizer_layout() -> dict:
    """The older Llama tokenizer.json layout: Prepend + Replace normalizer, no pre-tokenizer."""
    d = copy.deepcopy(llama_dict())
    d["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
    ]}
    d["pre_tokenizer"] = None
    return d


def pegasus_variant(**metaspace) -> dict:
    d = copy.deepcopy(pegasus_dict())
    meta = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    meta.update(metaspace)
    d["pre_tokenizer"] = meta
    return d


CONFIGS = {
    "pegasus": pegasus_dict,
    "pegasus_metaspace_first": lambda: pegasus_variant(prepend_scheme="first"),
    "pegasus_metaspace_nosplit": lambda: pegasus_variant(split=False),
    "llama2": llama_dict,
    "llama2_legacy": lambda: llama_dict(True),
    "llama2_normalizer_layout": llama_normalizer_layout,
}


def pair(d: dict) -> tuple[Tokenizer, Tokenizer]:
    """(fast, generic) tokenizers for one tokenizer.json dict."""
    s = json.dumps(d)
    fast, generic = Tokenizer.from_str(s), Tokenizer.from_str(s)
    generic._fast_checked, generic._fast = True, None  # force the pure-Python pipeline
    return fast, generic


def inputs(n: int = 40) -> list[str]:
    return all_inputs(n) + EXTRA


def assert_same(fast_enc, generic_enc, text: str) -> None:
    assert fast_enc.ids == generic_enc.ids, text
    assert fast_enc.tokens == generic_enc.tokens, text
    assert fast_enc.offsets == generic_enc.offsets, text
    assert fast_enc.word_ids == generic_enc.word_ids, text


SLOW_CONFIGS = {"pegasus_metaspace_first", "pegasus_metaspace_nosplit", "llama2_legacy"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CONFIGS else n for n in sorted(CONFIGS)]
)
def test_fast_equals_generic(name):
    fast, generic = pair(CONFIGS[name]())
    path = fast._fast_path()
    assert isinstance(path, SentencePieceFastPath)
    texts = inputs()
    handled = sum(path.encode_packed(t) is not None for t in texts)
    assert handled > 0.8 * len(texts), f"{name}: the fast path handled only {handled} of {len(texts)} texts"
    for t in texts:
        assert_same(fast.encode(t), generic.encode(t), t)


@pytest.mark.parametrize("name", ["pegasus", "llama2"])
def test_batch_and_pairs_equal_generic(name):
    fast, generic = pair(CONFIGS[name]())
    texts = inputs(10)
    for f, g, t in zip(fast.encode_batch(texts), generic.encode_batch(texts), texts):
        assert_same(f, g, t)
    f = fast.encode(texts[0], texts[1])
    g = generic.encode(texts[0], texts[1])
    assert_same(f, g, texts[0])
    assert f.type_ids == g.type_ids


def test_segments_after_added_tokens():
    """encode_full of a segment: "first" prepends only at the start of the whole input."""
    fast, _ = pair(CONFIGS["llama2"]())
    path = fast._fast_path()
    assert path.encode_full("world", None) is None  # position unknown: declined
    at_start = path.encode_full("world", 0)
    later = path.encode_full("world", 5)
    assert at_start[1][0].startswith("\u2581") and not later[1][0].startswith("\u2581")
    assert later[2][0][0] == 5


def test_unknown_words_go_generic():
    """A Unigram unk token spells the text itself: the packed ids cannot say it, so decline."""
    model = Unigram([("<unk>", 0.0), ("\u2581a", -1.0), ("b", -2.0), ("\u2581", -3.0)], unk_id=0)
    path = plan_unigram_fast_path(None, Metaspace(), model)
    assert path.encode("a b") == ([1, 3, 2], [(0, 1), (1, 2), (2, 3)], [0, 1, 1])
    assert path.encode("a z") is None


def test_unhandled_configurations_are_declined():
    model = Unigram([("<unk>", 0.0), ("a", -1.0)], unk_id=0)
    assert plan_unigram_fast_path(Lowercase(), Metaspace(), model) is None
    assert plan_unigram_fast_path(None, ByteLevel(), model) is None
    sampling = Unigram([("<unk>", 0.0), ("a", -1.0)], unk_id=0, alpha=0.1)
    assert plan_unigram_fast_path(None, Metaspace(), sampling) is None
    bpe = BPE({"a": 0, "b": 1, "ab": 2}, [("a", "b")], dropout=0.5)
    assert plan_unigram_fast_path(None, Metaspace(), bpe) is None
    assert plan_unigram_fast_path(None, WhitespaceSplit(), BPE({"a": 0}, [])) is not None


def test_bpe_chunking_needs_a_vocab_without_inner_replacement():
    """A token with "▁" after another char could be merged across "x|▁": no chunking then."""
    vocab = {"\u2581": 0, "a": 1, "b": 2, "a\u2581": 3, "\u2581b": 4}
    merges = [("a", "\u2581"), ("\u2581", "b")]
    path = plan_unigram_fast_path(None, Metaspace(prepend_scheme="never", split=False), BPE(vocab, merges))
    assert path is not None and not path.encoder.chunk
    fast_tok = Tokenizer(BPE(vocab, merges))
    fast_tok.pre_tokenizer = Metaspace(prepend_scheme="never", split=False)
    generic = Tokenizer(BPE(vocab, merges))
    generic.pre_tokenizer = Metaspace(prepend_scheme="never", split=False)
    generic._fast_checked, generic._fast = True, None
    for text in ["a b", "ab ab", "a  b a"]:
        assert_same(fast_tok.encode(text), generic.encode(text), text)


def test_precompiled_might_change_is_exact_on_hard_strings():
    """might_change False must mean the charsmap leaves the text as it is."""
    normalizer = Precompiled(pegasus_dict()["normalizer"]["normalizers"][0]["precompiled_charsmap"])
    cmap = normalizer.charsmap
    texts = HARD_STRINGS + EXTRA + [chr(c) for c in range(0x3000)] + ["A\u0301", "<\u0338", "e\u0301x"]
    for t in texts:
        if not cmap.might_change(t):
            assert cmap.changes(t) is None, repr(t)
    assert not cmap.might_change("Hello world")
    assert cmap.might_change("tab\there")
