"""`snuggle env`: versions, cache paths and thread counts, for bug reports."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("env", help="print versions, cache paths and thread counts")
    p.set_defaults(func=run)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cache_dirs() -> dict[str, str]:
    """Where snuggle keeps its caches (HF-compatible layout and env vars)."""
    hf_home = os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface"))
    return {
        "HF_HOME": hf_home,
        "hub cache": os.environ.get("HF_HUB_CACHE", os.path.join(hf_home, "hub")),
        "datasets cache": os.environ.get("HF_DATASETS_CACHE", os.path.join(hf_home, "datasets")),
        "snuggle cache": os.environ.get("SNUGGLE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "snuggle")),
    }


def run(args) -> int:
    from snuggle import __version__

    print(f"snuggle: {__version__}")
    print(f"python: {sys.version.split()[0]} ({platform.platform()})")
    for dist in ("torch", "numpy", "pyarrow", "safetensors", "regex", "jinja2", "tokenizers", "transformers"):
        print(f"{dist}: {_version(dist)}")
    try:
        from snuggle.tokenizers import fast  # noqa: F401

        fast_ok = fast.available() if hasattr(fast, "available") else True
    except ImportError:
        fast_ok = False
    print(f"tokenizers C fast path: {'available' if fast_ok else 'not built (pure-Python fallback)'}")
    print(f"cpu count: {os.cpu_count()}")
    print(f"OMP_NUM_THREADS: {os.environ.get('OMP_NUM_THREADS', 'unset')}")
    if "torch" in sys.modules or _version("torch") != "not installed":
        import torch

        print(f"torch threads: {torch.get_num_threads()}")
    for name, path in cache_dirs().items():
        print(f"{name}: {path}")
    return 0
