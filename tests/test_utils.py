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


def test_gc_paused_restores_the_collector_also_on_error():
    import gc

    from snuggle.utils.lazy import gc_paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with gc_paused():
            assert not gc.isenabled()
            with gc_paused():  # nested: the inner block must not turn it back on
                pass
            assert not gc.isenabled()
            raise RuntimeError("load failed")
    assert gc.isenabled()

    gc.disable()  # a caller who turned it off keeps it off
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()

    @gc_paused()
    def load(x):
        """doc"""
        return x, gc.isenabled()

    assert load(3) == (3, False) and load.__name__ == "load" and load.__doc__ == "doc"
    assert gc.isenabled()


def test_loaders_run_with_the_collector_paused(monkeypatch):
    """pipeline(), from_pretrained and lazy imports run without full collections (one-shot start-up time)."""
    import gc

    from snuggle.models.modeling import PreTrainedModel
    from snuggle.pipelines import pipeline
    from snuggle.tokenizers.fast_tokenizer import PreTrainedTokenizerFast

    for function in (pipeline, PreTrainedModel.from_pretrained, PreTrainedTokenizerFast.from_pretrained):
        assert getattr(function, "__wrapped__", None) is not None, function
    from snuggle.utils import lazy

    seen = []
    monkeypatch.setattr(lazy.importlib, "import_module", lambda name: seen.append(gc.isenabled()) or gc)
    lazy.lazy_exports("pkg", {"isenabled": "gc"}, {})[0]("isenabled")
    assert seen == [False] and gc.isenabled()


def test_fast_exit_still_finalizes_garbage_and_can_be_turned_off(tmp_path):
    """The exit hook collects cycles before freezing: a cycle that is garbage at exit is still finalized."""
    import subprocess
    import sys

    script = f"""
import gc, snuggle
from snuggle.utils import lazy
class Node:
    def __del__(self):
        open({str(tmp_path / 'finalized')!r}, "w").write("yes")
a = Node(); a.self = a   # a reference cycle with a finalizer
del a
gc.disable()             # nothing collects it before exit but the hook
print(len(lazy._FAST_EXIT), lazy.register_fast_exit())
"""
    env = {k: v for k, v in os.environ.items() if k != "SNUGGLE_FAST_EXIT"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["1", "False"]  # registered once, at import
    assert (tmp_path / "finalized").read_text() == "yes"
    out = subprocess.run([sys.executable, "-c", "import snuggle; from snuggle.utils import lazy; print(lazy._FAST_EXIT)"],
                         capture_output=True, text=True, env={**env, "SNUGGLE_FAST_EXIT": "0"}, check=True)
    assert out.stdout.strip() == "[]"


def test_env_flag_reads_switches_the_same_way(monkeypatch):
    from snuggle.utils.env import env_flag

    monkeypatch.delenv("SNUGGLE_TEST_SWITCH", raising=False)
    assert env_flag("SNUGGLE_TEST_SWITCH", None) is None and env_flag("SNUGGLE_TEST_SWITCH", True) is True
    for value, expected in [("", False), ("0", False), (" OFF ", False), ("no", False), ("False", False),
                            ("1", True), ("true", True), ("yes", True), ("on", True)]:
        monkeypatch.setenv("SNUGGLE_TEST_SWITCH", value)
        assert env_flag("SNUGGLE_TEST_SWITCH", False) is expected, value
    monkeypatch.setenv("SNUGGLE_TORCH_MULTINOMIAL", "off")  # "off" used to count as on here
    from snuggle.generation.fast_sampling import _ext, fast_sampling_available

    assert fast_sampling_available() == (_ext is not None)


def test_huge_page_tensors_share_mappings_that_go_with_their_last_tensor(monkeypatch):
    import gc
    import weakref

    import torch

    from snuggle.utils import hugepages

    small = hugepages.empty((10,))  # under half a huge page: plain torch.empty
    assert small.shape == (10,) and small.dtype == torch.float32
    if not hugepages.available():
        pytest.skip("no transparent huge pages here")
    monkeypatch.setattr(hugepages, "_current", [None, 0, 0])  # the next tensor starts a new mapping
    a = hugepages.empty((1024, 1024))  # 4 MB
    b = hugepages.empty((300, 1000), dtype=torch.float64)
    assert a.is_contiguous() and b.is_contiguous() and b.dtype == torch.float64 and a.data_ptr() % 64 == 0
    assert b.data_ptr() == a.data_ptr() + (4 << 20)  # cut one after the other from the same mapping
    a.fill_(1.0)
    b.fill_(2.0)
    assert float(a.sum()) == 1024 * 1024 and float(b.sum()) == 600000  # no overlap
    mapping = hugepages._current[0]()
    assert mapping is not None and a.data_ptr() % hugepages.HUGE_PAGE == 0  # the mapping's first 2 MB boundary
    gone = weakref.ref(mapping)
    del mapping, a, b
    gc.collect()
    assert gone() is None  # unmapped with the last tensor cut from it
    monkeypatch.setenv("SNUGGLE_HUGE_PAGES", "0")
    assert not hugepages.available()
    assert hugepages.empty((1024, 1024)).untyped_storage().nbytes() == 4 << 20  # torch's own allocation
