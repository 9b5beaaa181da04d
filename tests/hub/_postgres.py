"""A throw-away PostgreSQL server on loopback for the Hub tests.

CI is a fresh Debian machine, so the test set-up itself finds (or installs, with apt-get) the PostgreSQL
server binaries, creates a cluster in a temporary directory, starts it on 127.0.0.1 at a free port and
removes everything at the end. PostgreSQL refuses to run as root: as root the cluster belongs to the
`postgres` system user and every server command runs through `runuser -u postgres`.

    server = PostgresServer.start()
    url = server.create_database("hub")     # "postgresql+psycopg://postgres@127.0.0.1:PORT/hub"
    ...
    server.stop()

Trust authentication on loopback only (the server listens nowhere else; its unix socket lives in the
temporary directory), fsync off: these clusters hold nothing that must survive a crash of the machine.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

SERVER_TOOLS = ("initdb", "pg_ctl")
_VERSION_DIR = re.compile(r"/usr/lib/postgresql/(\d+)/bin")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_server_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: PATH first, then the newest /usr/lib/postgresql/*/bin."""
    found = [shutil.which(tool) for tool in SERVER_TOOLS]
    if all(found):
        # Debian links pg_ctl into PATH through pg_wrapper for some versions; use the real folder of initdb
        return Path(os.path.realpath(found[0])).parent
    candidates = []
    for folder in glob.glob("/usr/lib/postgresql/*/bin"):
        m = _VERSION_DIR.match(folder)
        if m and all(os.access(os.path.join(folder, t), os.X_OK) for t in SERVER_TOOLS):
            candidates.append((int(m.group(1)), folder))
    return Path(max(candidates)[1]) if candidates else None


def ensure_server_bin() -> Path:
    """find_server_bin(), installing Debian's `postgresql` package first when it is missing."""
    folder = find_server_bin()
    if folder is not None:
        return folder
    if os.geteuid() != 0:
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found in PATH or /usr/lib/postgresql/*/bin, "
                    "and the tests are not running as root so they cannot apt-get install it: "
                    "install the `postgresql` package (Debian) and re-run")
    if shutil.which("apt-get") is None:
        pytest.fail("PostgreSQL server binaries not found and apt-get is not available: install PostgreSQL "
                    "(initdb and pg_ctl must be in PATH or /usr/lib/postgresql/<version>/bin)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Debian's package would create and start a default cluster on port 5432; the tests bring their own
    conf = Path("/etc/postgresql-common/createcluster.conf")
    if not conf.exists():
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text("# written by snuggle's test set-up: no default cluster\ncreate_main_cluster = false\n")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0 and cmd[1] == "install":
            pytest.fail(f"`{' '.join(cmd)}` failed (exit {done.returncode}); PostgreSQL is needed for the "
                        f"Hub's PostgreSQL tests:\n{done.stderr[-2000:]}")
    folder = find_server_bin()
    if folder is None:
        pytest.fail("apt-get installed `postgresql` but initdb/pg_ctl are still not found in PATH or "
                    "/usr/lib/postgresql/*/bin")
    return folder


class PostgresServer:
    """One running cluster; `start()` builds it, `stop()` stops it and deletes its directory."""

    def __init__(self, bin_dir: Path, root: Path, port: int, run_as: str | None):
        self.bin_dir, self.root, self.port, self.run_as = bin_dir, root, port, run_as
        self.host = "127.0.0.1"
        self._databases: set[str] = set()

    # -- life cycle ----------------------------------------------------------------------------------
    @classmethod
    def start(cls, *, timeout: float = 60.0) -> "PostgresServer":
        bin_dir = ensure_server_bin()
        run_as = "postgres" if os.geteuid() == 0 else None
        if run_as is not None:
            try:
                import pwd

                pw = pwd.getpwnam(run_as)
            except KeyError:
                pytest.fail("running as root but there is no `postgres` system user to run PostgreSQL as "
                            "(the Debian `postgresql` package creates it)")
        root = Path(tempfile.mkdtemp(prefix="snuggle-pg-"))
        if run_as is not None:
            os.chown(root, pw.pw_uid, pw.pw_gid)
        os.chmod(root, 0o700)
        last_error = ""
        for _ in range(3):  # a free port can be taken between probing and binding: retry on a new one
            server = cls(bin_dir, root, _free_port(), run_as)
            try:
                server._init_and_start(timeout)
                return server
            except RuntimeError as e:
                last_error = str(e)
                server._stop_quietly()
                shutil.rmtree(root / "data", ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start a PostgreSQL test server from {bin_dir}: {last_error}")

    def _run(self, tool: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        cmd = [str(self.bin_dir / tool), *args]
        if self.run_as is not None:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        # cwd inside the cluster folder: the postgres user may not be allowed into the caller's cwd
        return subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, timeout=timeout, check=False)

    def _init_and_start(self, timeout: float) -> None:
        data = self.root / "data"
        if not (data / "PG_VERSION").exists():
            done = self._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                             "--locale=C", "--no-sync", timeout=timeout)
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
        options = (f"-c listen_addresses={self.host} -p {self.port} -k {self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        done = self._run("pg_ctl", "-D", str(data), "-l", str(self.root / "server.log"), "-o", options,
                         "-w", "-t", str(int(timeout)), "start", timeout=timeout + 10)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr[-1000:]}\n{self.log_tail()}")
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=5):
                    return
            except psycopg.OperationalError as e:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not accept connections: {e}\n{self.log_tail()}") from e
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server (immediate mode: nothing to keep) and delete the cluster folder."""
        self._stop_quietly()
        shutil.rmtree(self.root, ignore_errors=True)

    def _stop_quietly(self) -> None:
        if (self.root / "data" / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop", timeout=60)

    def log_tail(self, n: int = 2000) -> str:
        try:
            return (self.root / "server.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    # -- databases -----------------------------------------------------------------------------------
    def dsn(self, database: str) -> str:
        """libpq connection string (for psycopg.connect)."""
        return f"host={self.host} port={self.port} user=postgres dbname={database}"

    def url(self, database: str) -> str:
        """SQLAlchemy URL (what `snuggle hub serve --database-url` takes)."""
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database `name` (dropped first if it exists) and return its SQLAlchemy URL."""
        import psycopg

        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"database name {name!r}: use lowercase letters, digits and underscores")
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        self._databases.add(name)
        return self.url(name)
