"""Hub benchmark over loopback: the reference huggingface_hub client and snuggle.hub against our server.

Starts `snuggle hub serve` on 127.0.0.1 (SQLite, a temporary data dir) and prints
`name: snuggle/huggingface_hub = ratio` lines (MB/s, ours / theirs; goal >= 1x):

- upload of a folder (default 500 MB: 20 files of 25 MB random bytes) with `upload_folder` into a fresh repo;
  every upload gets fresh bytes (the first 16 bytes of each file change), so no run is deduplicated by
  the server's blob store;
- download of that folder with `snapshot_download` into an empty cache;
- `HEAD /resolve` requests per second with 32 concurrent clients (asyncio + httpx, one connection each; a
  server figure, no ratio), and from one client.

Both clients run in this process, alternately (reference first on odd repeats, ours first on even ones), so
they see the same machine load and page cache.

    .venv/bin/python bench/hub.py [--size 500] [--files 20] [--repeat 2] [--only upload|download|head]
                                  [--clients 32] [--server-workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The reference client reads its configuration at import time: set it up before anything imports it.
for _k in ("HF_HUB_OFFLINE", "HF_TOKEN", "HF_HUB_DISABLE_XET", "HF_ENDPOINT"):
    os.environ.pop(_k, None)
os.environ.update({"HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                   "SNUGGLE_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1"})

MB = 1024 * 1024


# -- server --------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "snuggle.cli.main", "hub", *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), check=False)
    if done.returncode != 0:
        sys.exit(f"bench/hub.py: `snuggle hub {' '.join(args)}` failed:\n{done.stderr[-3000:]}")
    return done.stdout


class Server:
    """`snuggle hub serve` in a subprocess with user `bench` (its write token in .token)."""

    def __init__(self, data_dir: Path, workers: int = 1):
        self.data_dir, self.port, self.workers = data_dir, _free_port(), workers
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.token = _cli("user", "add", "bench", "--data", str(data_dir)).split()[-1]
        self.log = open(data_dir.parent / "server.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "snuggle.cli.main", "hub", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--data", str(data_dir), "--workers", str(workers)], stdout=self.log, stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)))
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.endpoint}/api/whoami-v2", headers=self.auth, timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit(f"bench/hub.py: the server did not start; see {self.log.name}")
            time.sleep(0.2)

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# -- data ----------------------------------------------------------------------------------------------
def make_folder(folder: Path, total_mb: int, n_files: int) -> int:
    """n_files files of random bytes adding up to total_mb MiB; returns the byte count."""
    folder.mkdir(parents=True)
    size = max(1, total_mb * MB // n_files)
    for i in range(n_files):
        with open(folder / f"shard-{i:03d}.bin", "wb") as f:
            for start in range(0, size, 4 * MB):
                f.write(os.urandom(min(4 * MB, size - start)))
    return size * n_files


def refresh(folder: Path) -> None:
    """New bytes at the start of every file: a fresh upload that the blob store cannot deduplicate."""
    for path in sorted(folder.iterdir()):
        with open(path, "r+b") as f:
            f.write(os.urandom(16))


def folder_digest(folder: Path, names=None) -> dict[str, str]:
    """sha256 of each file (only `names` if given: a snapshot also holds the repo's .gitattributes)."""
    names = sorted(names) if names is not None else sorted(p.name for p in folder.iterdir())
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in names}


# -- the two clients -----------------------------------------------------------------------------------
def client(lib: str, server: Server):
    if lib == "snuggle":
        from snuggle.hub import HfApi
    else:
        from huggingface_hub import HfApi
    return HfApi(endpoint=server.endpoint, token=server.token)


def upload(lib: str, server: Server, repo_id: str, folder: Path) -> float:
    api = client(lib, server)
    api.create_repo(repo_id)
    start = time.perf_counter()
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message="bench upload")
    return time.perf_counter() - start


def download(lib: str, server: Server, repo_id: str, cache_dir: Path) -> tuple[float, Path]:
    if lib == "snuggle":
        from snuggle.hub import snapshot_download
    else:
        from huggingface_hub import snapshot_download
    start = time.perf_counter()
    path = snapshot_download(repo_id, cache_dir=str(cache_dir), endpoint=server.endpoint, token=server.token)
    return time.perf_counter() - start, Path(path)


def head_requests_per_second(url: str, headers: dict, clients: int = 32, per_client: int = 100) -> float:
    """HEAD `url` from `clients` concurrent clients, each an httpx.AsyncClient with its own keep-alive
    connection. (One shared AsyncClient with 32 connections would measure the client: httpcore's pool
    walks all of its connections, some steps quadratically, on every request, which doubles the
    client's CPU per request and, with client and server on two cores, halves the figure.)"""
    import httpx

    async def worker(http: httpx.AsyncClient) -> None:
        for _ in range(per_client):
            r = await http.head(url, headers=headers)
            if r.status_code != 200:
                raise SystemExit(f"bench/hub.py: HEAD {url} answered {r.status_code}")

    async def run() -> float:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        https = [httpx.AsyncClient(limits=limits, timeout=60) for _ in range(clients)]
        try:
            await asyncio.gather(*(http.head(url, headers=headers) for http in https))  # warm connections
            start = time.perf_counter()
            await asyncio.gather(*(worker(http) for http in https))
            return clients * per_client / (time.perf_counter() - start)
        finally:
            for http in https:
                await http.aclose()

    return asyncio.run(run())


# -- main ----------------------------------------------------------------------------------------------
def ratio_line(name: str, rates: dict[str, float], unit: str, extra: str = "") -> None:
    ours, theirs = rates["snuggle"], rates["huggingface_hub"]
    print(f"{name}: snuggle/huggingface_hub = {ours / theirs:.2f}x   (snuggle {ours:.1f} {unit}, "
          f"huggingface_hub {theirs:.1f} {unit}{extra})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=500, help="folder size in MiB (default 500)")
    parser.add_argument("--files", type=int, default=20, help="number of files (default 20)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per client; the best one counts (default 2)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent HEAD clients (default 32)")
    parser.add_argument("--only", choices=["upload", "download", "head"])
    parser.add_argument("--server-workers", type=int, default=1, help="`snuggle hub serve --workers` (default 1)")
    args = parser.parse_args()
    print(f"load average before the run: {os.getloadavg()[0]:.1f} (the figures need an idle machine); "
          f"cores={os.cpu_count()}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="snuggle-bench-hub-"))
    os.environ["HF_HOME"] = str(work / "hf_home")
    server = None
    try:
        (work / "data").mkdir()
        server = Server(work / "data", workers=args.server_workers)
        folder = work / "folder"
        nbytes = make_folder(folder, args.size, args.files)
        label = f"{nbytes / MB:.0f} MB folder ({args.files} files)"
        libs = ("huggingface_hub", "snuggle")
        seconds = {"upload": {lib: float("inf") for lib in libs}, "download": {lib: float("inf") for lib in libs}}
        uploaded: dict[str, tuple[str, dict]] = {}
        for run in range(args.repeat):
            for lib in (libs if run % 2 == 0 else libs[::-1]):
                refresh(folder)
                repo_id = f"bench/up-{lib.replace('_', '-')}-{run}"
                seconds["upload"][lib] = min(seconds["upload"][lib], upload(lib, server, repo_id, folder))
                uploaded[lib] = (repo_id, folder_digest(folder))
        if args.only in (None, "upload"):
            ratio_line(f"upload_folder {label}", {lib: nbytes / MB / s for lib, s in seconds["upload"].items()},
                       "MB/s")
        if args.only in (None, "download"):
            # both download the repo the reference client uploaded: same server-side bytes for both
            repo_id, digest = uploaded["huggingface_hub"]
            for run in range(args.repeat):
                for lib in (libs if run % 2 == 0 else libs[::-1]):
                    cache = work / f"cache-{lib}-{run}"
                    wall, path = download(lib, server, repo_id, cache)
                    if folder_digest(path, digest) != digest:
                        sys.exit(f"bench/hub.py: {lib} snapshot_download returned different bytes")
                    seconds["download"][lib] = min(seconds["download"][lib], wall)
                    shutil.rmtree(cache)
            ratio_line(f"snapshot_download {label}",
                       {lib: nbytes / MB / s for lib, s in seconds["download"].items()}, "MB/s")
        if args.only in (None, "head"):
            repo_id, _ = uploaded["huggingface_hub"]
            url = f"{server.endpoint}/{repo_id}/resolve/main/shard-000.bin"
            rps = head_requests_per_second(url, server.auth, clients=args.clients)
            single = head_requests_per_second(url, server.auth, clients=1, per_client=400)
            print(f"HEAD /resolve, {args.clients} concurrent clients (asyncio httpx, one process): {rps:.0f} "
                  f"requests/s   (one client: {single:.0f} requests/s; server: `snuggle hub serve --workers "
                  f"{args.server_workers}`, SQLite)", flush=True)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
