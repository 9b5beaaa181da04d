"""What every pipeline component (normalizer, pre-tokenizer, post-processor, decoder) shares:
equality, hashing, repr and pickling, all through its tokenizer.json object (`to_dict`).

>>> from snuggle.tokenizers.normalizers import Lowercase
>>> Lowercase() == Lowercase(), Lowercase().to_str()
(True, '{"type":"Lowercase"}')
"""

from __future__ import annotations

import importlib
import json


def _rebuild(module: str, d: dict):
    """Unpickle: the owning module's from_dict."""
    return importlib.import_module(module).from_dict(d)


class Component:
    """Base of the component families; each family base sets `_family_module` to the module
    whose `from_dict` rebuilds its members."""

    _family_module = ""

    def to_dict(self) -> dict:
        return {"type": type(self).__name__}

    def to_str(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    def _same_family(self, other: object) -> bool:
        return isinstance(other, Component) and other._family_module == self._family_module

    def __eq__(self, other: object) -> bool:
        if not self._same_family(other):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.to_str())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"{type(self).__name__}({args})"

    def __reduce__(self):
        return (_rebuild, (self._family_module, self.to_dict()))
