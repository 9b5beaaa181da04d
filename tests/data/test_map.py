"""map / filter: semantics, errors, cache files, num_proc, interruption."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pyarrow as pa
import pytest

from snuggle.data.arrow_dataset import Dataset
from snuggle.data.arrow_files import read_arrow_file, write_arrow_file
from snuggle.data.arrow_writer import ArrowWriter
from snuggle.data.features import ClassLabel, Features, Value
from snuggle.data.fingerprint import disable_caching, enable_caching
from snuggle.data.map import dataset_filter, dataset_map
from snuggle.data.map_kernels import reference_map_rows
from snuggle.errors import DataError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("SNUGGLE_DISABLE_PROGRESS_BARS", "1")


def small():
    return Dataset.from_dict({"text": ["a", "bb", "ccc", "dddd", "eeeee"], "label": [0, 1, 0, 1, 1]})


def on_disk(tmp_path, n=100):
    path = str(tmp_path / "data.arrow")
    write_arrow_file(path, [pa.table({"text": [f"t{i}" for i in range(n)], "label": [i % 3 for i in range(n)]})])
    return Dataset.from_file(path)


# ---------------------------------------------------------------------------------------- semantics


def test_identity_map_keeps_everything():
    ds = small()
    out = dataset_map(ds)
    assert out.to_dict() == ds.to_dict()
    assert out.data.schema.types == ds.data.schema.types


def test_unbatched_output_updates_the_example():
    ds = small()
    out = ds.map(lambda ex: {"n": len(ex["text"]), "text": ex["text"].upper()})
    assert out.column_names == ["text", "label", "n"]
    assert out["text"] == ["A", "BB", "CCC", "DDDD", "EEEEE"]
    assert out["n"] == [1, 2, 3, 4, 5]
    assert out["label"] == [0, 1, 0, 1, 1]


def test_in_place_updates_are_kept_even_when_a_new_dict_is_returned():
    def f(ex):
        ex["text"] = ex["text"] + "!"
        ex["extra"] = 1
        return {"n": 0}

    out = small().map(f)
    assert out["text"][0] == "a!"
    assert out.column_names == ["text", "label", "n"]  # keys the function added to its input are not columns


def test_returning_the_input_dict_with_mutations():
    def f(ex):
        ex["text"] = "x" + ex["text"]
        ex["new"] = len(ex["text"])
        return ex

    out = small().map(f, remove_columns=["label"])
    assert out.column_names == ["text", "new"]
    assert out["text"][:2] == ["xa", "xbb"]
    assert out["new"][:2] == [2, 3]


def test_nested_values_mutated_in_place_are_written_back():
    ds = Dataset.from_dict({"tokens": [["a"], ["b", "c"]], "id": [1, 2]})

    def f(ex):
        ex["tokens"].append("!")
        return {"n": len(ex["tokens"])}

    out = ds.map(f)
    assert out["tokens"] == [["a", "!"], ["b", "c", "!"]]
    assert out["n"] == [2, 3]


def test_fast_path_equals_the_reference_semantics_on_random_data():
    rng = random.Random(0)
    rows = {
        "s": ["".join(rng.choice("abc") for _ in range(rng.randint(0, 5))) for _ in range(2500)],
        "i": [rng.randint(-5, 5) for _ in range(2500)],
        "l": [[rng.random() for _ in range(rng.randint(0, 3))] for _ in range(2500)],
    }
    ds = Dataset.from_dict(rows)

    def f(ex, idx):
        out = {"len": len(ex["s"]) + ex["i"], "idx": idx}
        if idx % 2:
            out["s"] = ex["s"] * 2
        else:
            out["s"] = ex["s"]
        return out

    expected = reference_map_rows(ds.data, f, remove_columns=["i"], with_indices=True)
    out = ds.map(f, with_indices=True, remove_columns=["i"], writer_batch_size=300)
    assert out.to_list() == expected


def test_removed_columns_can_be_returned_again():
    out = small().map(lambda ex: {"label": ex["label"] * 10}, remove_columns=["label", "text"])
    assert out.column_names == ["label"]
    assert out["label"] == [0, 10, 0, 10, 10]


def test_input_columns_fn_kwargs_indices_rank():
    ds = small()
    out = ds.map(lambda t, lab, i, r, k: {"v": f"{t}{lab}{i}{r}{k}"}, input_columns=["text", "label"],
                 with_indices=True, with_rank=True, fn_kwargs={"k": "K"})
    assert out["v"][:2] == ["a00NoneK", "bb11NoneK"]
    out = ds.map(lambda t: {"v": t * 2}, input_columns="text")
    assert out["v"][1] == "bbbb"


def test_batched_map_batch_size_and_drop_last_batch():
    ds = small()
    sizes = []

    def f(batch):
        sizes.append(len(batch["text"]))
        return {"n": [len(t) for t in batch["text"]]}

    out = ds.map(f, batched=True, batch_size=2, load_from_cache_file=False)
    assert sizes == [2, 2, 1] and out["n"] == [1, 2, 3, 4, 5]
    out = ds.map(lambda b: {"n": [1] * len(b["text"])}, batched=True, batch_size=2, drop_last_batch=True)
    assert len(out) == 4
    out = ds.map(lambda b: {"n": [len(b["text"])] * len(b["text"])}, batched=True, batch_size=None)
    assert out["n"] == [5] * 5


def test_batched_map_can_change_the_number_of_rows():
    ds = small()
    out = ds.map(lambda b: {"char": [c for t in b["text"] for c in t]}, batched=True, remove_columns=ds.column_names)
    assert out["char"] == list("abbcccddddeeeee")


def test_batched_columns_of_unequal_length_name_the_columns():
    with pytest.raises(DataError, match=r"'a' has 2.*'b' has 1"):
        small().map(lambda b: {"a": [1, 2], "b": [1]}, batched=True)


def test_batched_output_length_mismatch_with_kept_inputs_names_them():
    with pytest.raises(DataError, match=r"input columns \['text', 'label'\].*remove_columns"):
        small().map(lambda b: {"x": [1]}, batched=True)


def test_non_dict_outputs_are_clear_errors():
    with pytest.raises(DataError, match="returned a int for example 0"):
        small().map(lambda ex: 1)
    with pytest.raises(DataError, match="must return a dict of lists"):
        small().map(lambda b: {"x": 1}, batched=True)
    with pytest.raises(DataError, match="returned a str"):
        small().map(lambda b: "oops", batched=True)
    with pytest.raises(DataError, match="same columns"):
        small().map(lambda ex: {"a": 1} if ex["label"] else {"b": 1})


def test_function_returning_none_leaves_the_dataset_unchanged():
    ds = small()
    seen = []
    out = ds.map(lambda ex: seen.append(ex["text"]))
    assert out is ds and seen == ["a", "bb", "ccc", "dddd", "eeeee"]


def test_unknown_columns_are_named():
    with pytest.raises(DataError, match=r"Column to remove \['nope'\].*\['text', 'label'\]"):
        small().map(remove_columns=["nope"])
    with pytest.raises(DataError, match=r"Input column \['nope'\]"):
        small().filter(lambda x: True, input_columns="nope")


def test_types_tried_kept_and_optimized():
    ds = Dataset.from_dict(
        {"x": [1, 2], "f": [0.5, 1.5], "label": [0, 1]},
        features=Features({"x": Value("int32"), "f": Value("float32"), "label": ClassLabel(names=["neg", "pos"])}),
    )
    out = ds.map(lambda ex: {"x": ex["x"] + 1, "f": ex["f"] * 2, "input_ids": [1, 2], "attention_mask": [1, 1]})
    assert out.features["x"] == Value("int32")
    assert out.features["f"] == Value("float32")
    assert out.features["label"] == ClassLabel(names=["neg", "pos"])
    assert out.data.schema.field("input_ids").type == pa.list_(pa.int32())
    assert out.data.schema.field("attention_mask").type == pa.list_(pa.int8())
    out = ds.map(lambda ex: {"x": "text"})  # does not fit int32: inferred instead
    assert out.features["x"] == Value("string")


def test_features_argument_encodes_and_casts():
    ds = Dataset.from_dict({"label": ["pos", "neg"]})
    feats = Features({"label": ClassLabel(names=["neg", "pos"])})
    out = ds.map(features=feats)
    assert out["label"] == [1, 0] and out.features == feats


def test_numpy_and_tensor_outputs():
    ds = small()
    out = ds.map(lambda b: {"v": np.ones((len(b["text"]), 2))}, batched=True)
    assert out["v"][0] == [1.0, 1.0]
    out = ds.map(lambda ex: {"v": np.arange(3)})
    assert out["v"][0] == [0, 1, 2]


def test_format_is_transmitted_and_used_for_inputs():
    ds = small().with_format("numpy")
    out = ds.map(lambda ex: {"double": ex["label"] * 2})
    assert out.format["type"] == "numpy"
    assert isinstance(out["double"], np.ndarray)
    assert out["double"].tolist() == [0, 2, 0, 2, 2]


def test_empty_dataset_map_removes_columns():
    ds = small().select([])
    out = ds.map(lambda ex: {"x": 1}, remove_columns=["label"])
    assert len(out) == 0 and out.column_names == ["text"]


# ---------------------------------------------------------------------------------------- filter


def test_filter_unbatched_batched_indices_and_input_columns():
    ds = small()
    assert ds.filter(lambda ex: ex["label"] == 1)["text"] == ["bb", "dddd", "eeeee"]
    assert ds.filter(lambda b: [x == 0 for x in b["label"]], batched=True, batch_size=2)["text"] == ["a", "ccc"]
    assert ds.filter(lambda ex, i: i % 2 == 0, with_indices=True)["text"] == ["a", "ccc", "eeeee"]
    assert ds.filter(lambda t: len(t) > 3, input_columns="text")["text"] == ["dddd", "eeeee"]
    assert ds.filter(lambda t, k: len(t) > k, input_columns="text", fn_kwargs={"k": 4})["text"] == ["eeeee"]
    assert len(ds.filter()) == 5


def test_filter_builds_an_indices_mapping_over_the_same_data():
    ds = small()
    out = ds.filter(lambda ex: ex["label"] == 1)
    assert out.data is ds.data or out.data.equals(ds.data)
    assert out._indices.column(0).to_pylist() == [1, 3, 4]
    again = out.filter(lambda ex: len(ex["text"]) > 2)  # composed with the first mapping
    assert again._indices.column(0).to_pylist() == [3, 4]
    assert again["text"] == ["dddd", "eeeee"]


def test_filter_batched_mask_length_is_checked():
    with pytest.raises(DataError, match="returned 1 booleans for a batch of 5"):
        small().filter(lambda b: [True], batched=True)


# ---------------------------------------------------------------------------------------- cache


def counting(fn):
    """Wrap fn so calls are counted on the wrapper (function attributes are not hashed)."""

    def wrapper(*args):
        wrapper.calls += 1
        return fn(*args)

    wrapper.calls = 0
    return wrapper


def test_cache_file_written_beside_the_source_and_reloaded(tmp_path):
    ds = on_disk(tmp_path)
    f = counting(lambda ex: {"n": len(ex["text"])})
    first = ds.map(f)
    assert f.calls == 100
    (cache,) = first.cache_files
    assert os.path.dirname(cache["filename"]) == str(tmp_path)
    assert os.path.basename(cache["filename"]) == f"cache-{first._fingerprint}.arrow"
    second = ds.map(f)
    assert f.calls == 100  # loaded from the cache
    assert second.cache_files == first.cache_files and second.to_dict() == first.to_dict()
    third = ds.map(f, load_from_cache_file=False)
    assert f.calls == 200 and third.to_dict() == first.to_dict()


def test_any_change_misses_the_cache(tmp_path):
    ds = on_disk(tmp_path)
    k = 1
    base = ds.map(lambda ex: {"n": len(ex["text"]) + k})
    fingerprints = {base._fingerprint}
    k = 2  # closure value changed
    fingerprints.add(ds.map(lambda ex: {"n": len(ex["text"]) + k})._fingerprint)
    fingerprints.add(ds.map(lambda ex: {"n": len(ex["text"]) - 1})._fingerprint)  # code changed
    fingerprints.add(ds.map(lambda ex: {"n": len(ex["text"]) + k}, remove_columns="label")._fingerprint)
    fingerprints.add(ds.map(lambda ex, k: {"n": k}, fn_kwargs={"k": 1})._fingerprint)
    fingerprints.add(ds.map(lambda ex, k: {"n": k}, fn_kwargs={"k": 2})._fingerprint)
    assert len(fingerprints) == 6
    files = {os.path.basename(c["filename"]) for c in base.cache_files}
    assert all(name.startswith("cache-") for name in files)


def test_filter_cache_holds_indices(tmp_path):
    ds = on_disk(tmp_path)
    f = counting(lambda ex: ex["label"] == 0)
    a = ds.filter(f)
    b = ds.filter(f)
    assert f.calls == 100 and a["text"] == b["text"] and len(a) == 34
    indices_file = [c["filename"] for c in a.cache_files if "cache-" in c["filename"]]
    assert read_arrow_file(indices_file[0]).schema.field("indices").type == pa.uint64()


def test_in_memory_and_keep_in_memory_write_no_cache(tmp_path):
    assert small().map(lambda ex: {"x": 1}).cache_files == []
    ds = on_disk(tmp_path)
    before = set(os.listdir(tmp_path))
    out = ds.map(lambda ex: {"x": 1}, keep_in_memory=True)
    assert out.cache_files == [] and set(os.listdir(tmp_path)) == before


def test_explicit_cache_file_name_and_conflicting_options(tmp_path):
    path = str(tmp_path / "mine.arrow")
    out = small().map(lambda ex: {"x": 1}, cache_file_name=path)
    assert out.cache_files == [{"filename": path}]
    with pytest.raises(DataError, match="keep_in_memory"):
        small().map(lambda ex: {"x": 1}, cache_file_name=path, keep_in_memory=True)


def test_disable_caching_recomputes_in_a_temporary_folder(tmp_path):
    ds = on_disk(tmp_path)
    f = counting(lambda ex: {"n": 1})
    disable_caching()
    try:
        a = ds.map(f)
        b = ds.map(f)
    finally:
        enable_caching()
    assert f.calls == 200 and a._fingerprint != b._fingerprint
    assert not a.cache_files[0]["filename"].startswith(str(tmp_path))


# ---------------------------------------------------------------------------------------- num_proc


def test_num_proc_equals_single_process_in_order(tmp_path):
    ds = on_disk(tmp_path, n=101)
    offset = 5

    def f(ex, i):
        return {"v": f"{ex['text']}-{i + offset}"}

    one = ds.map(f, with_indices=True, keep_in_memory=True)
    three = ds.map(f, with_indices=True, num_proc=3)
    assert three.to_dict() == one.to_dict()
    assert len(three.cache_files) == 3
    assert three.cache_files[0]["filename"].endswith("_00000_of_00003.arrow")
    kept = ds.filter(lambda ex, i: (i * 7) % 5 == 0, with_indices=True, num_proc=2)
    assert kept["text"] == ds.filter(lambda ex, i: (i * 7) % 5 == 0, with_indices=True)["text"]
    batched = ds.map(lambda b: {"n": [len(t) for t in b["text"]]}, batched=True, batch_size=7, num_proc=2)
    assert batched["n"] == [len(t) for t in ds["text"]]


def test_num_proc_in_memory_lambda_rank_and_reload_with_another_num_proc(tmp_path):
    ds = small()
    out = ds.map(lambda ex, r: {"rank": r}, with_rank=True, num_proc=2)
    assert out["rank"] == [0, 0, 0, 1, 1]
    assert ds.map(lambda ex: {"x": 1}, num_proc=10)["x"] == [1] * 5  # num_proc reduced to len
    disk = on_disk(tmp_path, n=20)
    f = counting(lambda ex: {"x": ex["label"]})
    written = disk.map(f, num_proc=2)
    stamps = [os.stat(c["filename"]).st_mtime_ns for c in written.cache_files]
    reloaded = disk.map(f, num_proc=3)  # finds the 2-shard cache, recomputes nothing
    assert [os.stat(c["filename"]).st_mtime_ns for c in reloaded.cache_files] == stamps
    assert f.calls == 0  # the work happened in the worker processes
    assert [os.path.basename(c["filename"])[-21:] for c in reloaded.cache_files] == [
        "_00000_of_00002.arrow", "_00001_of_00002.arrow"]


def test_worker_errors_are_raised_in_the_parent():
    def bad(ex):
        if ex["text"] == "dddd":
            raise KeyError("boom")
        return {"x": 1}

    with pytest.raises(KeyError, match="boom"):
        small().map(bad, num_proc=2)
    with pytest.raises(DataError, match="returned a int"):
        small().map(lambda ex: 3, num_proc=2)


def test_one_progress_bar_with_num_proc(tmp_path):
    code = textwrap.dedent(
        """
        from snuggle.data.arrow_dataset import Dataset
        ds = Dataset.from_dict({"a": list(range(50))})
        ds.map(lambda ex: {"b": ex["a"]}, num_proc=2, desc="Tokenizing")
        """
    )
    env = {k: v for k, v in os.environ.items() if "PROGRESS" not in k}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Tokenizing (num_proc=2)" in proc.stderr
    assert "50/50" in proc.stderr
    assert proc.stderr.count("Tokenizing (num_proc=2):   0%") <= 1


# ---------------------------------------------------------------------------------------- faults


def test_kill_9_during_map_leaves_the_previous_cache_intact(tmp_path):
    ds = on_disk(tmp_path, n=5000)
    target = str(tmp_path / "result.arrow")
    previous = ds.map(lambda ex: {"v": 1}, cache_file_name=target)
    expected = previous.to_dict()
    code = textwrap.dedent(
        f"""
        import time
        from snuggle.data.arrow_dataset import Dataset
        ds = Dataset.from_file({str(tmp_path / "data.arrow")!r})
        def slow(ex):
            time.sleep(0.001)
            return {{"v": 2}}
        print("started", flush=True)
        ds.map(slow, cache_file_name={target!r}, load_from_cache_file=False, writer_batch_size=100)
        """
    )
    env = dict(os.environ, SNUGGLE_DISABLE_PROGRESS_BARS="1")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=REPO, env=env)
    assert proc.stdout.readline().strip() == b"started"
    time.sleep(1.5)  # well inside the ~5 s map, with several batches written to the temporary file
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert Dataset.from_file(target).to_dict() == expected
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert all(n.startswith(".result.arrow.") for n in leftovers)


def test_arrow_writer_writes_atomically_and_aborts_cleanly(tmp_path):
    path = str(tmp_path / "out.arrow")
    writer = ArrowWriter(path, writer_batch_size=2)
    writer.write_batch({"a": [1, 2, 3]})
    assert not os.path.exists(path)  # only the temporary file exists until finalize
    writer.abort()
    assert os.listdir(tmp_path) == []
    with ArrowWriter(path) as writer:
        writer.write({"a": 1})
        writer.write({"a": 2})
        assert writer.finalize() == (2, writer.num_bytes)
    stream = pa.ipc.open_stream(pa.memory_map(path))
    assert stream.read_all().to_pydict() == {"a": [1, 2]}
    with pytest.raises(DataError, match="schema is unknown"):
        ArrowWriter(str(tmp_path / "empty.arrow")).finalize()


@pytest.mark.slow
def test_num_proc_with_spawned_workers_sends_closures_with_cloudpickle():
    code = textwrap.dedent(
        """
        from snuggle.data.arrow_dataset import Dataset
        if __name__ == "__main__":
            ds = Dataset.from_dict({"a": list(range(40))})
            k = 3
            out = ds.map(lambda ex: {"b": ex["a"] * k}, num_proc=2)
            kept = ds.filter(lambda ex: ex["a"] % k == 0, num_proc=2)
            print(out["b"] == [a * 3 for a in range(40)], kept["a"] == list(range(0, 40, 3)))
        """
    )
    env = dict(os.environ, SNUGGLE_MP_START_METHOD="spawn", SNUGGLE_DISABLE_PROGRESS_BARS="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True"]


def test_async_functions_and_tensor_values():
    import torch

    async def grow(ex):
        return {"n": len(ex["text"])}

    async def keep(batch):
        return [lab == 1 for lab in batch["label"]]

    assert small().map(grow)["n"] == [1, 2, 3, 4, 5]
    assert small().filter(keep, batched=True)["text"] == ["bb", "dddd", "eeeee"]
    out = small().map(lambda ex: {"t": torch.tensor([ex["label"], 2]), "s": torch.tensor(1.5)})
    assert out["t"][1] == [1, 2] and out["s"][0] == 1.5


def test_a_killed_worker_is_reported_by_rank():
    def die(ex):
        if ex["text"] == "eeeee":
            os.kill(os.getpid(), signal.SIGKILL)
        return {"x": 1}

    with pytest.raises(DataError, match=r"map worker 1 died with exit code -9"):
        small().map(die, num_proc=2)
