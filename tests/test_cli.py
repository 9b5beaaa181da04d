"""The `snuggle` command line."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snuggle.cli.main", *args], capture_output=True, text=True, input=input)


def test_help_lists_commands():
    p = _run("--help")
    assert p.returncode == 0
    for cmd in ("env", "tokenizer", "demo"):
        assert cmd in p.stdout


def test_env_prints_versions_and_paths():
    p = _run("env")
    assert p.returncode == 0, p.stderr
    assert "snuggle:" in p.stdout and "hub cache" in p.stdout and "cpu count" in p.stdout


def test_tokenizer_train_encode_decode(tmp_path, datasets_dir):
    corpus = tmp_path / "c.txt"
    corpus.write_text((datasets_dir / "tinyshakespeare" / "input.txt").read_text()[:50_000])
    out = tmp_path / "tok.json"
    p = _run("tokenizer", "train", "--files", str(corpus), "--vocab-size", "400", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert out.is_file()
    p = _run("tokenizer", "encode", "--tokenizer", str(out), "First Citizen:")
    assert p.returncode == 0, p.stderr
    ids = json.loads(p.stdout)["ids"]
    p = _run("tokenizer", "decode", "--tokenizer", str(out), *map(str, ids))
    assert p.returncode == 0 and p.stdout.strip() == "First Citizen:"


def test_bad_tokenizer_file_gives_clear_error(tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    p = _run("tokenizer", "encode", "--tokenizer", str(bad), "x")
    assert p.returncode == 2
    assert "tokenizer.json" in p.stderr and "invalid JSON" in p.stderr
    assert "Traceback" not in p.stderr
