"""Tokenization models: turn one pre-tokenized word into tokens (`tokenizers.models` API).

- `BPE`: byte-pair encoding (GPT-2, Llama, Qwen, RoBERTa ...)
- `WordPiece`: greedy longest match (BERT)
- `Unigram`: best-scoring segmentation (SentencePiece, T5, Pegasus ...)
- `WordLevel`: one token per word

`from_dict` builds any of them from a tokenizer.json "model" object.

>>> from snuggle.tokenizers import models
>>> m = models.from_dict({"type": "WordLevel", "vocab": {"hi": 0, "<unk>": 1}, "unk_token": "<unk>"})
>>> m.tokenize("hi")
[Token(id=0, value='hi', offsets=(0, 2))]
"""

from __future__ import annotations

from snuggle.errors import TokenizerFileError
from snuggle.tokenizers.models.base import Model
from snuggle.tokenizers.models.bpe import BPE
from snuggle.tokenizers.models.unigram import Unigram
from snuggle.tokenizers.models.wordlevel import WordLevel
from snuggle.tokenizers.models.wordpiece import WordPiece

__all__ = ["Model", "BPE", "WordPiece", "Unigram", "WordLevel", "from_dict"]

MODEL_TYPES = {"BPE": BPE, "WordPiece": WordPiece, "WordLevel": WordLevel, "Unigram": Unigram}


def _guess_type(d: dict) -> str:
    """tokenizer.json written by old versions has no "type": pick the model its fields fit,
    in the order the reference tries them (BPE, WordPiece, WordLevel, Unigram)."""
    vocab = d.get("vocab")
    if isinstance(vocab, list):
        return "Unigram"
    if "merges" in d:
        return "BPE"
    if all(k in d for k in ("unk_token", "continuing_subword_prefix", "max_input_chars_per_word")):
        return "WordPiece"
    if "unk_token" in d:
        return "WordLevel"
    raise TokenizerFileError(
        "the model has no 'type' and its fields fit none of BPE, WordPiece, WordLevel, Unigram", where="model"
    )


def from_dict(d: dict | None) -> Model | None:
    """Build a model from its tokenizer.json object (None -> None)."""
    if d is None:
        return None
    if not isinstance(d, dict):
        raise TokenizerFileError(f"expected a JSON object, found {type(d).__name__}", where="model")
    kind = d.get("type")
    if kind is None:
        kind = _guess_type(d)
    cls = MODEL_TYPES.get(kind)
    if cls is None:
        raise TokenizerFileError(f"unknown model type {kind!r}; expected one of {', '.join(MODEL_TYPES)}", where="model.type")
    return cls.from_dict(d)
