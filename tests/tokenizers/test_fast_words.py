"""The C word counter used for training equals the generic normalize + pre-tokenize path."""

from __future__ import annotations

from collections import Counter

import pytest

from snuggle.tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from snuggle.tokenizers.fast_words import plan_word_counter
from tests.corpus import all_inputs

LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def configs():
    yield "gpt2", None, pre_tokenizers.ByteLevel(add_prefix_space=False)
    yield "gpt2-prefix", None, pre_tokenizers.ByteLevel(add_prefix_space=True)
    yield "llama3-nfc", normalizers.NFC(), pre_tokenizers.Sequence(
        [pre_tokenizers.Split(pattern=_regex(LLAMA3), behavior="isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )


def _regex(p):
    from snuggle.tokenizers import Regex

    return Regex(p)


@pytest.mark.parametrize("name,normalizer,pre", list(configs()), ids=lambda x: x if isinstance(x, str) else "")
def test_counts_equal_generic_path(name, normalizer, pre):
    counter = plan_word_counter(normalizer, pre)
    assert counter is not None, name
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    texts = all_inputs(100) + [t + "\n" for t in all_inputs(20)] + ["e\u0301t\u00e9 cafe\u0301"]
    expected = Counter(w for t in texts for w in tok._words_for_training(t))
    assert counter.count(texts) == dict(expected)


def test_not_planned_for_other_pre_tokenizers():
    assert plan_word_counter(None, pre_tokenizers.Whitespace()) is None
    assert plan_word_counter(normalizers.Lowercase(), pre_tokenizers.ByteLevel()) is None
