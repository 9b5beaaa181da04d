"""The shared conformance script (../shared/conformance/hub_client_check.py) against our server.

It drives the real huggingface_hub, transformers and datasets clients against a running `snuggle hub serve`
and must pass in full: on SQLite with the default client (hf_xet installed) and with HF_HUB_DISABLE_XET=1 in
the environment, and once on PostgreSQL.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import SHARED

CHECK = SHARED / "conformance" / "hub_client_check.py"
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)


def run_conformance(server, env: dict | None = None) -> str:
    """Run the script against `server`; fail with its FAIL lines unless it reports '0 failed' and exits 0."""
    assert CHECK.is_file(), f"conformance script not found at {CHECK} (set SNUGGLE_SHARED)"
    child_env = dict(os.environ)
    # tests/conftest.py puts the session in offline mode; the script must reach our server
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN"):
        child_env.pop(key, None)
    child_env.update(env or {})
    cmd = [sys.executable, str(CHECK), "--endpoint", server.endpoint, "--token", server.token,
           "--token-b", server.token_b, "--token-read", server.token_read, "--total-timeout", "900"]
    proc = subprocess.run(cmd, env=child_env, capture_output=True, text=True, timeout=1200, check=False)
    out = proc.stdout
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    summary = SUMMARY.findall(out)
    message = (f"conformance exit {proc.returncode}, summary {summary[-1] if summary else 'missing'}; "
               f"{len(fails)} FAIL lines:\n" + "\n".join(fails[:60])
               + (f"\n--- stderr tail:\n{proc.stderr[-3000:]}" if proc.returncode not in (0, 1) or not summary else "")
               + f"\n--- server log tail:\n{server.log()[-2000:]}")
    assert proc.returncode == 0 and summary and summary[-1][1] == "0", message
    assert int(summary[-1][0]) >= 80, f"only {summary[-1][0]} checks passed (86 expected):\n{out[-3000:]}"
    print(f"conformance against {server.endpoint}: {summary[-1][0]} passed, {summary[-1][1]} failed")  # shown by -rA
    skipped = [line for line in out.splitlines() if line.startswith("SKIP")]
    assert not skipped, "checks were skipped (all three tokens were given):\n" + "\n".join(skipped)
    return out


def test_conformance_sqlite(hub_server):
    run_conformance(hub_server)


def test_conformance_sqlite_xet_disabled(hub_server):
    # The script forces both client modes internally as well; this run also starts it with the variable set,
    # which is how a user without hf_xet-capable uploads would run.
    run_conformance(hub_server, {"HF_HUB_DISABLE_XET": "1"})


def test_conformance_postgresql(pg_hub_server, postgres_server):
    run_conformance(pg_hub_server)
    # the server really used PostgreSQL: its tables are there, and no SQLite file was made
    import psycopg

    with psycopg.connect(postgres_server.dsn(pg_hub_server.pg_database)) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables, "the Hub server created no tables in the PostgreSQL database"
    assert not (pg_hub_server.data_dir / "hub.db").exists()
