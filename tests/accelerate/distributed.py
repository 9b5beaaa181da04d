"""Run a script under torchrun (2 CPU processes, gloo) from the accelerate tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "scripts"


def free_port() -> int:
    """A TCP port nobody listens on right now (bind to port 0 and read what the OS picked)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    for key in [k for k in env if k.startswith(("SNUGGLE_MIXED", "ACCELERATE_", "SNUGGLE_USE"))]:
        del env[key]
    env.update(extra)
    return env


def run_torchrun(script: str, *args: str, nproc: int = 2, timeout: float = 120, **env: str):
    """Run tests/accelerate/scripts/<script> with `nproc` processes; returns CompletedProcess."""
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--nnodes=1",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(SCRIPTS / script), *args]
    return run(cmd, timeout=timeout, **env)


def run_python(script: str, *args: str, timeout: float = 120, **env: str):
    return run([sys.executable, str(SCRIPTS / script), *args], timeout=timeout, **env)


def run(cmd: list[str], timeout: float = 120, **env: str):
    proc = subprocess.run(cmd, cwd=REPO, env=child_env(**env), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited with {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
            f"--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc
