"""Memory: datasets on disk are memory-mapped, and a dataset far larger than the memory budget
maps (batched) and filters with a bounded peak RSS.

Each measurement runs in a fresh subprocess and reads `resource.getrusage(...).ru_maxrss`
(peak resident set, file-backed mapped pages included), so earlier tests cannot skew it.
The data is generated with pyarrow in batches, so generating it costs little memory either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Writes a saved-dataset folder (data-00000-of-00001.arrow + state.json + dataset_info.json)
# of about `target_mb` MB: an int64 id and a ~200-char text per row, in batches of 20k rows.
GENERATE = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np, pyarrow as pa
    folder, target_mb = sys.argv[1], int(sys.argv[2])
    os.makedirs(folder, exist_ok=True)
    rows_per_batch, text_len = 20_000, 200
    alphabet = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz     ", dtype=np.uint8)
    rng = np.random.default_rng(0)
    features = {"id": {"dtype": "int64", "_type": "Value"}, "text": {"dtype": "string", "_type": "Value"}}
    schema = pa.schema([("id", pa.int64()), ("text", pa.string())],
                       metadata={"huggingface": json.dumps({"info": {"features": features}})})
    batches = max(1, target_mb * 10**6 // (rows_per_batch * (text_len + 12)))
    with pa.OSFile(os.path.join(folder, "data-00000-of-00001.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, schema) as writer:
            for b in range(batches):
                chars = alphabet[rng.integers(0, len(alphabet), rows_per_batch * text_len)]
                offsets = pa.array(np.arange(0, rows_per_batch * text_len + 1, text_len, dtype=np.int32))
                text = pa.StringArray.from_buffers(rows_per_batch, offsets.buffers()[1], pa.py_buffer(chars.tobytes()))
                ids = pa.array(np.arange(b * rows_per_batch, (b + 1) * rows_per_batch, dtype=np.int64))
                writer.write_batch(pa.record_batch([ids, text], schema=schema))
    with open(os.path.join(folder, "state.json"), "w") as f:
        json.dump({"_data_files": [{"filename": "data-00000-of-00001.arrow"}], "_fingerprint": "memtest0000000000",
                   "_format_columns": None, "_format_kwargs": {}, "_format_type": None,
                   "_output_all_columns": False, "_split": None}, f)
    with open(os.path.join(folder, "dataset_info.json"), "w") as f:
        json.dump({"features": features}, f)
    print(batches * rows_per_batch)
    """
)

PROBE_HELPERS = textwrap.dedent(
    """
    import json, os, resource, sys
    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    def anon_mb():
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
        return -1.0
    """
)


def run_python(code: str, *args: str, timeout: float = 600) -> str:
    env = dict(os.environ, SNUGGLE_DISABLE_PROGRESS_BARS="1", PYTHONPATH=REPO)
    done = subprocess.run(
        [sys.executable, "-c", code, *args], check=False, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO
    )
    assert done.returncode == 0, f"subprocess failed:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout.strip().splitlines()[-1]


def generate(folder: str, target_mb: int) -> int:
    return int(run_python(GENERATE, folder, str(target_mb)))


def test_saved_dataset_is_memory_mapped(tmp_path):
    """~200 MB on disk: loading it and reading rows from both ends grows RSS by a few MB only."""
    folder = str(tmp_path / "ds")
    rows = generate(folder, 200)
    size_mb = os.path.getsize(os.path.join(folder, "data-00000-of-00001.arrow")) / 2**20
    probe = PROBE_HELPERS + textwrap.dedent(
        """
        from snuggle.data import Dataset, load_from_disk
        import pyarrow  # imported before the baseline: its own size is not the dataset's
        folder = sys.argv[1]
        before = peak_mb()
        ds = load_from_disk(folder)
        first, last = ds[0], ds[len(ds) - 1]
        direct = Dataset.from_file(os.path.join(folder, "data-00000-of-00001.arrow"))
        direct[len(direct) // 2]
        print(json.dumps({"rows": len(ds), "growth": peak_mb() - before, "last_id": last["id"],
                          "cache_files": len(ds.cache_files)}))
        """
    )
    result = json.loads(run_python(probe, folder))
    assert result["rows"] == rows and result["last_id"] == rows - 1
    assert result["cache_files"] == 1
    assert result["growth"] < min(40.0, size_mb / 5), f"RSS grew {result['growth']:.0f} MB for a {size_mb:.0f} MB file"


@pytest.mark.slow
def test_two_gigabyte_dataset_maps_and_filters_under_600_mb(tmp_path):
    """The issue's memory goal: a generated 2 GB dataset, batched map and filter, peak RSS < 600 MB."""
    folder = str(tmp_path / "big")
    rows = generate(folder, 2000)
    size_mb = os.path.getsize(os.path.join(folder, "data-00000-of-00001.arrow")) / 2**20
    assert size_mb > 1800
    probe = PROBE_HELPERS + textwrap.dedent(
        """
        import pyarrow.compute as pc
        from snuggle.data import load_from_disk
        ds = load_from_disk(sys.argv[1]).with_format("arrow")
        lengths = ds.map(lambda t: {"n_spaces": pc.count_substring(t["text"], " ")}, batched=True,
                         batch_size=10_000, remove_columns=["text"])
        kept = ds.filter(lambda t: pc.less(pc.bit_wise_and(t["id"], 7), 1), batched=True, batch_size=10_000)
        print(json.dumps({"peak": peak_mb(), "anon": anon_mb(), "mapped_rows": len(lengths), "kept": len(kept),
                          "columns": lengths.column_names}))
        """
    )
    result = json.loads(run_python(probe, folder, timeout=1800))
    assert result["mapped_rows"] == rows and result["columns"] == ["id", "n_spaces"]
    assert result["kept"] == rows // 8
    assert result["peak"] < 600, f"peak RSS {result['peak']:.0f} MB (anonymous now {result['anon']:.0f} MB)"
