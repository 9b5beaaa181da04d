"""snuggle/ must never import the reference libraries: they are test oracles only."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = [
    "transformers",
    "tokenizers",
    "datasets",
    "accelerate",
    "peft",
    "trl",
    "huggingface_hub",
    "evaluate",
    "tiktoken",
    "optimum",
    "sentence_transformers",
    "sentencepiece",
]

_CHECK = r"""
import importlib, importlib.abc, pkgutil, sys
FORBIDDEN = set(sys.argv[1].split(","))

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            raise ImportError(f"forbidden import of reference library {name!r}")
        return None

sys.meta_path.insert(0, Block())
import snuggle
failed = []
names = ["snuggle"]
for info in pkgutil.walk_packages(snuggle.__path__, "snuggle."):
    names.append(info.name)
for name in names:
    try:
        importlib.import_module(name)
    except ImportError as e:
        if "forbidden import" in str(e):
            failed.append(f"{name}: {e}")
        elif "MissingDependencyError" in type(e).__name__:
            pass
        else:
            failed.append(f"{name}: {type(e).__name__}: {e}")
leaked = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
if leaked:
    failed.append(f"reference modules loaded: {leaked}")
print("\n".join(failed))
print(f"checked {len(names)} modules")
sys.exit(1 if failed else 0)
"""


def test_no_module_imports_a_reference_library():
    proc = subprocess.run(
        [sys.executable, "-c", _CHECK, ",".join(FORBIDDEN)], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    n = int(proc.stdout.strip().splitlines()[-1].split()[1])
    assert n >= 10, proc.stdout


def test_the_check_itself_catches_a_forbidden_import(tmp_path):
    """The meta-path blocker must really block (guards against a check that cannot fail)."""
    code = _CHECK.replace("import snuggle\n", "import snuggle\nimport tokenizers\n", 1)
    proc = subprocess.run([sys.executable, "-c", code, ",".join(FORBIDDEN)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode != 0
    assert "forbidden import" in proc.stderr + proc.stdout


def test_runtime_dependencies_exclude_reference_libraries():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    deps = meta["project"]["dependencies"]
    names = {d.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].split("~")[0].strip().lower().replace("-", "_") for d in deps}
    assert not names & set(FORBIDDEN), names & set(FORBIDDEN)
    dev = {d.split(">")[0].split("=")[0].strip().lower().replace("-", "_") for d in meta["project"]["optional-dependencies"]["dev"]}
    assert {"transformers", "tokenizers", "tiktoken"} <= dev


def test_torch_is_pinned():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "torch==2.13.0" in meta["project"]["dependencies"]


def test_no_forbidden_import_statement_in_source():
    import re

    pattern = re.compile(r"^\s*(import|from)\s+(" + "|".join(FORBIDDEN) + r")(\s|\.|$)", re.M)
    bad = []
    for path in (REPO / "snuggle").rglob("*.py"):
        for m in pattern.finditer(path.read_text(encoding="utf-8")):
            bad.append(f"{path.relative_to(REPO)}: {m.group(0).strip()}")
    assert not bad, bad
