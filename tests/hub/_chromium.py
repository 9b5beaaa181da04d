"""Headless Chromium for the Hub web-page tests: find it (or install Debian's `chromium`), dump DOMs, screenshot.

CI is a fresh Debian machine, so the test set-up itself installs the browser with apt-get when it runs as
root; otherwise it fails with a message saying what to install. Every run gets a fresh profile directory
and exactly the flags the issue asks for, so no state leaks between runs and Chromium phones nowhere:

    browser = ensure_chromium()                          # Path to the binary
    html = dump_dom(browser, "http://127.0.0.1:8080/")   # the DOM after scripts (if any) ran
    png = screenshot(browser, url, artifacts_dir() / "home.png")
    html = dump_dom_and_screenshot(browser, url, artifacts_dir() / "home.png")   # both in one run

`--dump-dom` prints the serialised DOM *after* the page loaded, so a `<script>` that a page let through
would have had its chance to rewrite the document: the tests look for its marker in that output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
# The flags, verbatim; each run adds a fresh --user-data-dir and its action flags.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync")
RUN_TIMEOUT = 90  # seconds; a cold start on a loaded 2-core machine takes several seconds
_LOCK = Path(tempfile.gettempdir()) / "snuggle-chromium-install.lock"


def find_chromium() -> Path | None:
    """The Chromium binary: $SNUGGLE_CHROMIUM, then the Debian paths, then `chromium` on PATH."""
    override = os.environ.get("SNUGGLE_CHROMIUM")
    if override:
        return Path(override) if os.access(override, os.X_OK) else None
    for path in CANDIDATES:
        if os.access(path, os.X_OK):
            return Path(path)
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found else None


def ensure_chromium() -> Path:
    """find_chromium(), installing Debian's `chromium` package first when it is missing (root only)."""
    browser = find_chromium()
    if browser is not None:
        return browser
    if os.geteuid() != 0:
        pytest.fail("Chromium not found (/usr/bin/chromium, or set SNUGGLE_CHROMIUM) and the tests are not running "
                    "as root, so they cannot install it: run `apt-get install -y chromium` (Debian) and re-run")
    if shutil.which("apt-get") is None:
        pytest.fail("Chromium not found and apt-get is not available: install Chromium and point SNUGGLE_CHROMIUM "
                    "at its binary")
    import filelock  # a runtime dependency of snuggle; serialises installs of parallel test processes

    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Other test set-ups (PostgreSQL) may hold the dpkg lock at the same moment: wait for it, don't fail.
    wait = ["-o", "DPkg::Lock::Timeout=600"]
    with filelock.FileLock(str(_LOCK)):
        if find_chromium() is None:
            subprocess.run(["apt-get", *wait, "update"], env=env, capture_output=True, text=True, check=False)
            done = subprocess.run(["apt-get", *wait, "install", "-y", "chromium"], env=env, capture_output=True,
                                  text=True, check=False)
            if done.returncode != 0:
                pytest.fail(f"`apt-get install -y chromium` failed (exit {done.returncode}); headless Chromium is "
                            f"needed for the Hub web-page tests:\n{done.stderr[-2000:]}")
    browser = find_chromium()
    if browser is None:
        pytest.fail("apt-get installed `chromium` but no binary was found at " + ", ".join(CANDIDATES))
    return browser


def real_binary(browser: Path) -> Path:
    """The browser executable itself: Debian's /usr/bin/chromium is a shell launcher that adds flags of its
    own (--enable-remote-extensions, --load-extension=..., Google API keys in the environment), so the
    tests run /usr/lib/chromium/chromium behind it to start Chromium with exactly FLAGS."""
    try:
        with open(browser, "rb") as f:
            head = f.read(2)
    except OSError:
        return browser
    inner = Path("/usr/lib/chromium/chromium")
    if head == b"#!" and os.access(inner, os.X_OK):
        return inner
    return browser


def artifacts_dir() -> Path:
    """Where screenshots go: $SNUGGLE_TEST_ARTIFACTS/hub, else build/test-artifacts/hub/ of the checkout."""
    root = os.environ.get("SNUGGLE_TEST_ARTIFACTS")
    folder = Path(root) / "hub" if root else Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "hub"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_chromium(browser: Path, *args: str) -> subprocess.CompletedProcess:
    """Run one headless Chromium with a fresh profile; raise with its stderr when it fails or hangs."""
    with tempfile.TemporaryDirectory(prefix="snuggle-chromium-") as profile:
        cmd = [str(real_binary(browser)), *FLAGS, f"--user-data-dir={profile}", *args]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
                                  env=dict(os.environ, HOME=profile))
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"chromium did not finish within {RUN_TIMEOUT}s: {' '.join(cmd)}") from exc
    if done.returncode != 0:
        raise AssertionError(f"chromium exited {done.returncode}: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return done


def dump_dom(browser: Path, url: str) -> str:
    """The page's DOM after load, as Chromium serialises it."""
    return run_chromium(browser, "--dump-dom", url).stdout


def screenshot(browser: Path, url: str, path: Path, *, size: tuple[int, int] = (1280, 900)) -> Path:
    """Save a PNG of `url` at `size` to `path` and return it (asserts a non-empty PNG was written)."""
    dump_dom_and_screenshot(browser, url, path, size=size)
    return path


def dump_dom_and_screenshot(browser: Path, url: str, path: Path, *, size: tuple[int, int] = (1280, 900)) -> str:
    """One Chromium run that saves a PNG of `url` to `path` and returns the DOM (a cold start saved)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    done = run_chromium(browser, "--dump-dom", f"--screenshot={path}", f"--window-size={size[0]},{size[1]}", url)
    data = path.read_bytes() if path.exists() else b""
    assert data.startswith(b"\x89PNG"), f"chromium wrote no PNG to {path}:\n{done.stderr[-2000:]}"
    return done.stdout
