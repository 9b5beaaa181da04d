"""Shared helpers of the push_to_hub tests: a client environment pointed at the test Hub, unique repo
names, and a runner for reference-library scripts (transformers / datasets / huggingface_hub) that must
talk to our server from their own process (their endpoint is read at import time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def hub_env(hub_server, tmp_path, monkeypatch):
    """snuggle's client talks to the test server as alice, with a fresh HF_HOME."""
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets-cache"))
    return hub_server


def run_reference(script: str, hub_server, tmp_path, timeout: int = 240) -> dict:
    """Run `script` with the reference libraries against the test server; it prints one JSON line last."""
    env = dict(os.environ)
    env.update(HF_ENDPOINT=hub_server.endpoint, HF_TOKEN=hub_server.token, HF_HOME=str(tmp_path / "ref-home"),
               HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0", TRANSFORMERS_OFFLINE="0", HF_HUB_DISABLE_TELEMETRY="1", HF_UPDATE_DOWNLOAD_COUNTS="0",
               DISABLE_SAFETENSORS_CONVERSION="1", HF_DATASETS_CACHE=str(tmp_path / "ref-datasets"),
               OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_DISABLE_PROGRESS_BARS="1",
               HF_DATASETS_DISABLE_PROGRESS_BARS="1", TRANSFORMERS_VERBOSITY="error")
    env.pop("HF_HUB_CACHE", None)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"reference script failed:\n{proc.stderr[-4000:]}\n{proc.stdout[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])
