"""snuggle.data: the `datasets` library API on memory-mapped Arrow tables.

>>> from snuggle.data import Dataset        # doctest: +SKIP
>>> ds = Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]})   # doctest: +SKIP

Names resolve lazily, so `import snuggle.data` does not import pyarrow until used.
"""

from __future__ import annotations

from snuggle.utils.lazy import lazy_exports

_NAMES = {
    "Dataset": "snuggle.data.arrow_dataset",
    "DatasetDict": "snuggle.data.dataset_dict",
    "IterableDataset": "snuggle.data.iterable_dataset",
    "IterableDatasetDict": "snuggle.data.iterable_dataset",
    "concatenate_datasets": "snuggle.data.combine",
    "interleave_datasets": "snuggle.data.combine",
    "load_dataset": "snuggle.data.load",
    "load_from_disk": "snuggle.data.disk",
    "split_dataset_by_node": "snuggle.data.distributed",
    "disable_caching": "snuggle.data.fingerprint",
    "enable_caching": "snuggle.data.fingerprint",
    "is_caching_enabled": "snuggle.data.fingerprint",
    "Features": "snuggle.data.features",
    "Value": "snuggle.data.features",
    "ClassLabel": "snuggle.data.features",
    "Sequence": "snuggle.data.features",
    "List": "snuggle.data.features",
    "LargeList": "snuggle.data.features",
    "Array2D": "snuggle.data.features",
    "Array3D": "snuggle.data.features",
    "Array4D": "snuggle.data.features",
    "Array5D": "snuggle.data.features",
    "Translation": "snuggle.data.features",
    "TranslationVariableLanguages": "snuggle.data.features",
    "DatasetInfo": "snuggle.data.info",
    "load_dataset_builder": "snuggle.data.load",
    "ReadInstruction": "snuggle.data.splits",
    "Split": "snuggle.data.splits",
    "NamedSplit": "snuggle.data.splits",
}

__all__ = sorted(_NAMES)


__getattr__, __dir__ = lazy_exports("snuggle.data", _NAMES, globals())
