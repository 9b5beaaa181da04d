"""Fingerprints: stable across processes, sensitive to code, closures, globals and arguments."""

from __future__ import annotations

import functools
import logging
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pyarrow as pa

from snuggle.data import fingerprint as fp
from snuggle.data.fingerprint import (
    disable_caching,
    enable_caching,
    generate_random_fingerprint,
    hash_object,
    is_caching_enabled,
    update_fingerprint,
)

OFFSET = 1


def add_offset(x):
    return x + OFFSET


def make_scaler(k):
    return lambda x: x * k


def test_same_code_same_hash_different_code_different_hash():
    assert hash_object(lambda x: x + 1) == hash_object(lambda x: x + 1)
    assert hash_object(lambda x: x + 1) != hash_object(lambda x: x + 2)
    assert hash_object(lambda x: x + 1) != hash_object(lambda x: x - 1)
    assert hash_object(lambda x: {"a": x}) != hash_object(lambda x: {"b": x})


def test_closure_contents_change_the_hash():
    assert hash_object(make_scaler(2)) == hash_object(make_scaler(2))
    assert hash_object(make_scaler(2)) != hash_object(make_scaler(3))
    assert hash_object(make_scaler([1, 2])) != hash_object(make_scaler([1, 2, 3]))


def test_globals_read_by_the_function_change_the_hash():
    global OFFSET
    before = hash_object(add_offset)
    OFFSET = 2
    try:
        assert hash_object(add_offset) != before
    finally:
        OFFSET = 1
    assert hash_object(add_offset) == before


def test_default_arguments_and_partials_change_the_hash():
    def f(x, k=1):
        return x * k

    def g(x, k=2):
        return x * k

    assert hash_object(f) != hash_object(g)
    assert hash_object(functools.partial(f, k=3)) != hash_object(functools.partial(f, k=4))
    assert hash_object(functools.partial(f, k=3)) == hash_object(functools.partial(f, k=3))


def test_recursive_functions_and_cycles_terminate():
    def fact(n):
        return 1 if n <= 1 else n * fact(n - 1)

    cyclic: list = [1]
    cyclic.append(cyclic)
    assert len(hash_object(fact)) == 16
    assert hash_object(cyclic) == hash_object(cyclic)


def test_bound_methods_hash_their_instance_state():
    class Adder:
        def __init__(self, k):
            self.k = k

        def __call__(self, x):
            return x + self.k

        def add(self, x):
            return x + self.k

    assert hash_object(Adder(1).add) == hash_object(Adder(1).add)
    assert hash_object(Adder(1).add) != hash_object(Adder(2).add)
    assert hash_object(Adder(1)) != hash_object(Adder(2))


def test_scalars_keep_their_type():
    assert len({hash_object(1), hash_object(1.0), hash_object(True), hash_object("1"), hash_object(b"1")}) == 5


def test_numpy_arrays_hash_by_dtype_shape_and_bytes():
    a = np.arange(6)
    assert hash_object(a) == hash_object(np.arange(6))
    assert hash_object(a) != hash_object(a.reshape(2, 3))
    assert hash_object(a) != hash_object(a.astype(np.int32))
    assert hash_object(a[::2]) == hash_object(np.array([0, 2, 4]))


def test_arrow_tables_hash_by_content():
    t = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert hash_object(t) == hash_object(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}))
    assert hash_object(t) != hash_object(pa.table({"a": [1, 2, 4], "b": ["x", "y", "z"]}))
    assert hash_object(t.slice(1)) != hash_object(t)


def test_update_fingerprint_depends_on_everything_and_not_on_argument_order():
    base = update_fingerprint("abc", "map", {"function": add_offset, "batched": True})
    assert base == update_fingerprint("abc", "map", {"batched": True, "function": add_offset})
    assert base != update_fingerprint("abd", "map", {"function": add_offset, "batched": True})
    assert base != update_fingerprint("abc", "filter", {"function": add_offset, "batched": True})
    assert base != update_fingerprint("abc", "map", {"function": add_offset, "batched": False})
    assert base != update_fingerprint("abc", "map", {"function": make_scaler(2), "batched": True})


def test_unhashable_arguments_give_a_random_fingerprint_with_a_warning():
    lock = threading.Lock()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("snuggle.data.fingerprint")
    logger.addHandler(handler)
    try:
        a = update_fingerprint("abc", "map", {"function": lambda x: lock})
        b = update_fingerprint("abc", "map", {"function": lambda x: lock})
    finally:
        logger.removeHandler(handler)
    assert a != b and len(a) == 16
    assert any("could not be hashed" in r.getMessage() for r in records)


def test_random_fingerprints_and_the_caching_switch():
    assert generate_random_fingerprint() != generate_random_fingerprint()
    assert is_caching_enabled()
    disable_caching()
    try:
        assert not is_caching_enabled()
    finally:
        enable_caching()
    assert is_caching_enabled()


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SNUGGLE_DATASETS_CACHE", str(tmp_path / "c"))
    assert fp.get_datasets_cache_dir() == str(tmp_path / "c")
    monkeypatch.delenv("SNUGGLE_DATASETS_CACHE")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    assert fp.get_datasets_cache_dir() == str(tmp_path / "hf")


_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from snuggle.data.fingerprint import hash_object
    import usermod
    K = 7
    def local(ex):
        return {"y": ex["x"] * K}
    print(hash_object(usermod.tokenize), hash_object(usermod.make(3)), hash_object(lambda e: e["x"] + 1),
          hash_object({"b", "a", "c", "d"}), hash_object(local))
    """
)

_USERMOD = textwrap.dedent(
    """
    import re
    PATTERN = re.compile(r"\\w+")
    def tokenize(example):
        return {"tokens": PATTERN.findall(example["text"])}
    def make(n):
        def inner(example):
            return {"n": n}
        return inner
    """
)


def test_hashes_are_stable_across_processes_and_hash_seeds(tmp_path):
    (tmp_path / "usermod.py").write_text(_USERMOD)
    outputs = []
    for seed in ("1", "2"):
        proc = subprocess.run(
            [sys.executable, "-c", _SCRIPT, str(tmp_path)], capture_output=True, text=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin", "PYTHONPATH": sys.path[0] or "."},
            cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]),
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout.split())
    assert outputs[0] == outputs[1]
    assert len(set(outputs[0])) == 5  # and they are all different things
