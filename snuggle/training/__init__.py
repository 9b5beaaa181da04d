"""Training utilities (the transformers Trainer side). Importing this package is cheap: no torch.

Names are loaded on first access (PEP 562), e.g. `from snuggle.training import DataCollatorWithPadding`.
"""

from __future__ import annotations

from snuggle.utils.lazy import lazy_exports

_LAZY = {
    "DataCollatorWithPadding": "snuggle.training.collators",
    "DataCollatorForLanguageModeling": "snuggle.training.collators",
    "DataCollatorForSeq2Seq": "snuggle.training.collators",
    "DataCollatorForTokenClassification": "snuggle.training.collators",
    "DefaultDataCollator": "snuggle.training.collators",
    "default_data_collator": "snuggle.training.collators",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports("snuggle.training", _LAZY, globals())
