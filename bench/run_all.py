"""Run every benchmark in bench/ (what `make bench` calls)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHES = ["tokenizers_bench.py", "datasets_bench.py", "models_bench.py", "generation.py", "pipelines.py", "trainer.py", "hub.py"]

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    rc = 0
    for b in BENCHES:
        print(f"## {b}", flush=True)
        rc |= subprocess.call([sys.executable, str(here / b), *sys.argv[1:]])
    sys.exit(rc)
