"""kill -9 in the middle of save_to_disk or of a map writing its cache file: the previous data
and cache stay intact and readable, and no half-written file sits under a final name.

The child process is stopped at a known point (a patched hook prints READY and sleeps), then
killed with SIGKILL: no `finally`, no atexit, exactly like a crash or an OOM kill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_dataset(rows: int, offset: int = 0):
    from snuggle.data import Dataset

    return Dataset.from_dict({"id": list(range(offset, offset + rows)), "text": [f"t{i}" for i in range(offset, offset + rows)]})


def kill_when_ready(code: str, *args: str, timeout: float = 60) -> None:
    """Run `code` in a child; when it prints READY, SIGKILL it."""
    env = dict(os.environ, SNUGGLE_DISABLE_PROGRESS_BARS="1", PYTHONPATH=REPO)
    child = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        line = child.stdout.readline()
        if line.strip() != "READY":
            child.kill()
            _, err = child.communicate(timeout=timeout)
            pytest.fail(f"child did not reach the kill point: {line!r}\n{err[-3000:]}")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=timeout)
        assert child.returncode == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()


# Saves 6 shards of a new dataset over `target`; `when` picks the kill point:
#   "shard" - after the first new shard is complete (others not written yet)
#   "swap"  - when every file of the new folder is written, just before it is swapped in
SAVE_CHILD = textwrap.dedent(
    """
    import sys, time
    import snuggle.data.disk as disk
    from snuggle.data import Dataset
    target, when = sys.argv[1], sys.argv[2]

    def stop_here(*args, **kwargs):
        print("READY", flush=True)
        time.sleep(600)

    if when == "shard":
        real_fsync = disk.fsync_path
        def fsync_then_stop(path):
            real_fsync(path)
            if path.endswith(".arrow"):
                stop_here()
        disk.fsync_path = fsync_then_stop
    else:
        disk._swap_in = stop_here
    ds = Dataset.from_dict({"id": list(range(1000, 1600)), "text": ["new"] * 600})
    disk.save_to_disk(ds, target, num_shards=6)
    """
)


@pytest.mark.parametrize("when", ["shard", "swap"])
def test_kill_during_save_keeps_previous_dataset(tmp_path, when):
    from snuggle.data.disk import load_from_disk, save_to_disk

    target = tmp_path / "ds"
    old = make_dataset(50)
    save_to_disk(old, target, num_shards=2)
    before = {name: (target / name).read_bytes() for name in os.listdir(target)}

    kill_when_ready(SAVE_CHILD, str(target), when)

    # the previous dataset is untouched, file for file, and loads
    assert {name: (target / name).read_bytes() for name in os.listdir(target)} == before
    assert load_from_disk(target)["id"] == list(range(50))
    # the half-written new dataset lives only in a hidden temporary folder...
    leftovers = [name for name in os.listdir(tmp_path) if name != "ds"]
    assert leftovers and all(name.startswith(".ds.saving-") for name in leftovers)
    # ...which the next save removes (its process is dead)
    save_to_disk(make_dataset(5, offset=7), target)
    assert os.listdir(tmp_path) == ["ds"]
    assert load_from_disk(target)["id"] == list(range(7, 12))


def test_kill_during_save_of_dataset_dict_keeps_previous(tmp_path):
    from snuggle.data import DatasetDict
    from snuggle.data.disk import load_from_disk, save_to_disk

    target = tmp_path / "dd"
    save_to_disk(DatasetDict({"train": make_dataset(20), "test": make_dataset(5)}), target)
    child = SAVE_CHILD.replace(
        "disk.save_to_disk(ds, target, num_shards=6)",
        "from snuggle.data import DatasetDict\n"
        "disk.save_to_disk(DatasetDict({'train': ds, 'validation': ds}), target, num_shards={'train': 6})",
    )
    kill_when_ready(child, str(target), "shard")
    loaded = load_from_disk(target)
    assert list(loaded) == ["train", "test"]
    assert loaded["train"]["id"] == list(range(20))


# Loads the saved dataset, maps it once to completion (cache A), then starts a different map
# (cache B) whose function stops the process midway, after some batches were written.
MAP_CHILD = textwrap.dedent(
    """
    import sys, time
    from snuggle.data import load_from_disk
    ds = load_from_disk(sys.argv[1])

    def double(batch):
        return {"twice": [i * 2 for i in batch["id"]]}

    def triple_then_stop(batch):
        if batch["id"][0] >= 300:
            print("READY", flush=True)
            time.sleep(600)
        return {"thrice": [i * 3 for i in batch["id"]]}

    ds.map(double, batched=True, batch_size=100, writer_batch_size=100)
    ds.map(triple_then_stop, batched=True, batch_size=100, writer_batch_size=100)
    """
)


# Reruns the finished map in a fresh process (same function source, so same fingerprint).
VERIFY_CHILD = textwrap.dedent(
    """
    import json, os, sys
    from snuggle.data import load_from_disk
    ds = load_from_disk(sys.argv[1])

    def double(batch):
        return {"twice": [i * 2 for i in batch["id"]]}

    mapped = ds.map(double, batched=True, batch_size=100, writer_batch_size=100)
    print(json.dumps({"files": [os.path.basename(c["filename"]) for c in mapped.cache_files],
                      "ok": mapped["twice"] == [i * 2 for i in range(len(ds))]}))
    """
)


def test_kill_during_map_keeps_data_and_cache(tmp_path):
    from snuggle.data.disk import load_from_disk, save_to_disk

    target = tmp_path / "ds"
    save_to_disk(make_dataset(1000), target)
    data_before = (target / "data-00000-of-00001.arrow").read_bytes()

    kill_when_ready(MAP_CHILD, str(target))

    # the source data is intact
    assert (target / "data-00000-of-00001.arrow").read_bytes() == data_before
    ds = load_from_disk(target)
    assert ds["id"] == list(range(1000))
    # exactly one complete cache file (the finished map) sits under a final cache-*.arrow name
    caches = sorted(name for name in os.listdir(target) if name.startswith("cache-") and name.endswith(".arrow"))
    assert len(caches) == 1, os.listdir(target)
    import pyarrow as pa

    table = pa.ipc.open_stream(pa.memory_map(str(target / caches[0]))).read_all()
    assert table.column("twice").to_pylist() == [i * 2 for i in range(1000)]
    # a rerun of the finished map in a new process reuses its cache file
    env = dict(os.environ, SNUGGLE_DISABLE_PROGRESS_BARS="1", PYTHONPATH=REPO)
    rerun = subprocess.run([sys.executable, "-c", VERIFY_CHILD, str(target)], capture_output=True, text=True, env=env, check=False)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert json.loads(rerun.stdout.strip().splitlines()[-1]) == {"files": [caches[0]], "ok": True}

