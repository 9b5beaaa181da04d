"""Atomic writes, logging, progress bars."""

from __future__ import annotations

import os

import pytest

from snuggle.utils import atomic_write, atomic_write_json, atomic_write_text, progress_bar, progress_disabled
from snuggle.utils.logging import get_logger


def test_atomic_write_replaces_only_on_success(tmp_path):
    p = tmp_path / "f.txt"
    atomic_write_text(p, "old")
    with pytest.raises(RuntimeError):
        with atomic_write(p, "w") as f:
            f.write("half")
            raise RuntimeError("crash mid-write")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["f.txt"]  # no temp file left behind


def test_atomic_write_json(tmp_path):
    p = tmp_path / "d" / "x.json"
    atomic_write_json(p, {"é": 1}, trailing_newline=True)
    assert p.read_text(encoding="utf-8") == '{\n  "é": 1\n}\n'


def test_progress_respects_env(monkeypatch):
    monkeypatch.setenv("SNUGGLE_DISABLE_PROGRESS_BARS", "1")
    assert progress_disabled()
    bar = progress_bar(range(3))
    assert bar.disable
    monkeypatch.setenv("SNUGGLE_DISABLE_PROGRESS_BARS", "0")
    monkeypatch.delenv("HF_DATASETS_DISABLE_PROGRESS_BARS", raising=False)
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    assert not progress_disabled()


def test_logger_namespace():
    assert get_logger("x").name == "snuggle.x"
    assert os.environ.get("SNUGGLE_LOG_LEVEL", "WARNING")
