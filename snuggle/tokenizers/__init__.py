"""snuggle.tokenizers: the `tokenizers` library API, plus the transformers tokenizer layer.

>>> from snuggle.tokenizers import Tokenizer, models, pre_tokenizers, trainers   # doctest: +SKIP
>>> tok = Tokenizer(models.BPE(unk_token="[UNK]"))                               # doctest: +SKIP

Names resolve lazily, so `import snuggle.tokenizers` stays cheap.
"""

from __future__ import annotations

from snuggle.utils.lazy import lazy_exports

_SUBMODULES = {
    "models",
    "normalizers",
    "pre_tokenizers",
    "processors",
    "decoders",
    "trainers",
    "converters",
    "pretrained",
    "chat_template",
}

_NAMES = {
    "Tokenizer": "snuggle.tokenizers.tokenizer",
    "Encoding": "snuggle.tokenizers.encoding",
    "AddedToken": "snuggle.tokenizers.added_vocabulary",
    "Regex": "snuggle.tokenizers.normalized",
    "NormalizedString": "snuggle.tokenizers.normalized",
    "PreTokenizedString": "snuggle.tokenizers.normalized",
    "Token": "snuggle.tokenizers.normalized",
    "AutoTokenizer": "snuggle.tokenizers.pretrained",
    "PreTrainedTokenizerFast": "snuggle.tokenizers.pretrained",
    "PreTrainedTokenizer": "snuggle.tokenizers.pretrained",
    "PreTrainedTokenizerBase": "snuggle.tokenizers.pretrained",
    "BatchEncoding": "snuggle.tokenizers.pretrained",
}

__all__ = sorted(_SUBMODULES | set(_NAMES))


__getattr__, __dir__ = lazy_exports("snuggle.tokenizers", _NAMES, globals(), _SUBMODULES)
