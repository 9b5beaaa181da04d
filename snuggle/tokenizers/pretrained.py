"""PreTrainedTokenizerFast and AutoTokenizer: the transformers tokenizer API over our Tokenizer.

`AutoTokenizer.from_pretrained(folder)` reads tokenizer.json + tokenizer_config.json (+ the
legacy special_tokens_map.json / added_tokens.json, chat templates), or converts slow files.
The tokenizer then does what transformers 5's `PreTrainedTokenizerFast` does: `__call__`
with padding / truncation / overflowing windows / offsets / tensors, `encode`, `decode`,
special-token attributes (`pad_token`, `eos_token_id`, ...), `pad`, `apply_chat_template`
and `save_pretrained` (files the reference loads identically).

>>> tok = AutoTokenizer.from_pretrained("/work/shared/datasets/tokenizers/gpt2")   # doctest: +SKIP
>>> tok("Hello world")["input_ids"]                                               # doctest: +SKIP
[15496, 995]
"""

from __future__ import annotations

from snuggle.errors import TokenizerError
from snuggle.tokenizers.batch_encoding import BatchEncoding, CharSpan, TokenSpan
from snuggle.tokenizers.fast_tokenizer import PreTrainedTokenizerFast
from snuggle.tokenizers.padding_strategies import LARGE_INTEGER, VERY_LARGE_INTEGER, PaddingStrategy, TruncationStrategy
from snuggle.tokenizers.pretrained_base import PreTrainedTokenizerBase
from snuggle.tokenizers.pretrained_files import resolve_tokenizer_files

__all__ = [
    "AutoTokenizer",
    "PreTrainedTokenizerFast",
    "PreTrainedTokenizer",
    "PreTrainedTokenizerBase",
    "BatchEncoding",
    "CharSpan",
    "TokenSpan",
    "PaddingStrategy",
    "TruncationStrategy",
    "resolve_tokenizer_files",
    "VERY_LARGE_INTEGER",
    "LARGE_INTEGER",
]

PreTrainedTokenizer = PreTrainedTokenizerFast


class AutoTokenizer:
    """Load the tokenizer of a local folder (or file): `AutoTokenizer.from_pretrained(path)`.

    >>> tok = AutoTokenizer.from_pretrained("/work/shared/datasets/tokenizers/gpt2")   # doctest: +SKIP
    >>> tok.eos_token, tok.eos_token_id                                               # doctest: +SKIP
    ('<|endoftext|>', 50256)
    """

    def __init__(self):
        raise TokenizerError("use AutoTokenizer.from_pretrained(path) to create a tokenizer")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *inputs, **kwargs) -> PreTrainedTokenizerFast:
        for unused in ("use_fast", "trust_remote_code", "_from_auto", "_from_pipeline"):
            kwargs.pop(unused, None)
        return PreTrainedTokenizerFast.from_pretrained(pretrained_model_name_or_path, *inputs, **kwargs)
