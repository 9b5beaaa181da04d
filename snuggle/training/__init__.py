"""Training utilities (the transformers Trainer side). Importing this package is cheap: no torch.

Names are loaded on first access (PEP 562), e.g. `from snuggle.training import DataCollatorWithPadding`.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "DataCollatorWithPadding": "snuggle.training.collators",
    "DataCollatorForLanguageModeling": "snuggle.training.collators",
    "DataCollatorForSeq2Seq": "snuggle.training.collators",
    "DataCollatorForTokenClassification": "snuggle.training.collators",
    "DefaultDataCollator": "snuggle.training.collators",
    "default_data_collator": "snuggle.training.collators",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'snuggle.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
