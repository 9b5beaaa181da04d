"""Every public name of snuggle.models (and its re-exports at snuggle) resolves to a real object."""

from __future__ import annotations

import importlib

import snuggle
import snuggle.models as models


def test_every_models_name_resolves():
    missing = []
    for name, module in models._NAMES.items():
        try:
            getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            missing.append(f"{name} ({module}): {e}")
    assert not missing, missing


def test_every_top_level_name_resolves():
    missing = [name for name in snuggle.__all__ if getattr(snuggle, name, None) is None]
    assert not missing, missing
