"""`import snuggle` is cheap: no torch, no pyarrow, no fastapi at import time."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ["torch", "pyarrow", "fastapi", "numpy", "jinja2", "sqlalchemy", "httpx"]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_import_snuggle_is_light():
    mods = _modules_after("import snuggle")
    assert not [m for m in HEAVY if m in mods]


def test_import_snuggle_tokenizers_is_light():
    mods = _modules_after("import snuggle.tokenizers")
    assert not [m for m in HEAVY if m in mods]


def test_lazy_names_resolve():
    code = "import snuggle\nfrom snuggle import Tokenizer, AddedToken, SnuggleError\nprint(Tokenizer.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "Tokenizer"


def test_unknown_name_raises_attribute_error():
    import snuggle

    try:
        snuggle.DefinitelyNotAName
    except AttributeError as e:
        assert "DefinitelyNotAName" in str(e)
    else:
        raise AssertionError("expected AttributeError")


def test_import_snuggle_data_and_training_are_light():
    mods = _modules_after("import snuggle.data, snuggle.training")
    assert not [m for m in HEAVY if m in mods]
