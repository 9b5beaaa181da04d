"""The SentencePiece fast path against the reference `tokenizers` library.

Pegasus (Precompiled + Replace, WhitespaceSplit + Metaspace, Unigram) and Llama 2 (the dict
our converter makes from tokenizer.model: Metaspace + byte-fallback BPE) are loaded in both
libraries from the same JSON; ids, tokens, offsets and word ids must be equal, and the fast
path must be the one that produced most of our encodings.
"""

from __future__ import annotations

import json
from functools import lru_cache

import pytest
import tokenizers as hf

from snuggle.tokenizers import Tokenizer
from snuggle.tokenizers.converters import from_sentencepiece
from snuggle.tokenizers.fast_unigram import SentencePieceFastPath
from tests.conftest import DATASETS
from tests.corpus import all_inputs

PEGASUS = DATASETS / "tokenizers" / "pegasus-unigram" / "tokenizer.json"
LLAMA2 = DATASETS / "tokenizers" / "llama2" / "tokenizer.model"

EXTRA = [
    "a\u2581b \u2581\u2581x y\u2581",
    "two  spaces   three\ttab\nnewline",
    "<s>Hello</s> world <unk>x </s>",
    "\x1cfile\x1dsep",
    "A\u0301 \uff21 fullwidth",
]


@lru_cache(maxsize=None)
def tokenizer_json(name: str) -> str:
    if name == "pegasus":
        return PEGASUS.read_text(encoding="utf-8")
    return json.dumps(from_sentencepiece(str(LLAMA2), legacy=(name == "llama2_legacy") or None))


@pytest.mark.parametrize("name", ["pegasus", "llama2", "llama2_legacy"])
def test_fast_path_matches_reference(name):
    s = tokenizer_json(name)
    ours, ref = Tokenizer.from_str(s), hf.Tokenizer.from_str(s)
    path = ours._fast_path()
    assert isinstance(path, SentencePieceFastPath)
    texts = all_inputs(30) + EXTRA
    assert sum(path.encode_packed(t) is not None for t in texts) > 0.8 * len(texts)
    for t in texts:
        a, b = ours.encode(t), ref.encode(t)
        assert a.ids == b.ids, t
        assert a.tokens == b.tokens, t
        assert a.offsets == b.offsets, t
        assert a.word_ids == b.word_ids, t
    batch_ours = ours.encode_batch(texts[:20])
    batch_ref = ref.encode_batch(texts[:20])
    assert [e.ids for e in batch_ours] == [e.ids for e in batch_ref]
    assert [e.offsets for e in batch_ours] == [e.offsets for e in batch_ref]
