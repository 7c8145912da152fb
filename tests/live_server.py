"""Start `kb serve` in a child process on a free 127.0.0.1 port, and stop it: for tests and benchmarks."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes(pid: int) -> list[int]:
    """The process and its descendants (a server of several workers is a supervisor and its children)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # a process that has just ended
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += [child for child, parent in parents.items() if parent == found[-1]]
    return found


@contextlib.contextmanager
def running_server(db_path: Path, timeout: float = 60, log: Path | None = None, workers: int = 1):
    """Yields (base URL, process); the server (`workers` processes) is terminated on exit, whatever
    happens. Its output goes to `log` when one is given (and is quoted if it fails to start), else nowhere."""
    port = free_port()
    out = open(log, "w") if log else subprocess.DEVNULL
    try:
        proc = subprocess.Popen([sys.executable, "-m", "kb", "serve", "--db", str(db_path), "--port", str(port),
                                 "--workers", str(workers)],
                                stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL)
    finally:
        if log:
            out.close()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(base + "/-/versions.json", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    said = f": {log.read_text()[-2000:]}" if log else ""
                    raise RuntimeError(f"kb serve did not start on {base}{said}")
                time.sleep(0.2)
        yield base, proc
    finally:
        family = processes(proc.pid)[1:] if proc.poll() is None else []
        proc.terminate()
        proc.wait(timeout=30)
        stop_all(family)


def alive(pids: list[int]) -> list[int]:
    """Those of the processes still running (not ended, nor ended and waiting to be reaped)."""
    found = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if "zombie" not in status.lower():
            found.append(pid)
    return found


def stop_all(pids: list[int], wait: float = 10.0) -> None:
    """A supervisor's workers end with it (and multiprocessing's resource tracker once its pipe
    closes, which on a busy machine takes a moment): any still running after `wait` seconds are killed."""
    deadline = time.monotonic() + wait
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in alive(pids):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


# -- headless Chromium for browser tests: Debian's, never one a tool downloads ----------------------
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def require_chromium() -> None:
    """Called at the top of a browser test module: skip it where Chromium is missing, but fail in CI,
    whose `./run test` installs it."""
    import os

    import pytest

    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            raise RuntimeError("Chromium is missing: `./run test` installs Debian's chromium package (apt-get)")
        pytest.skip("Debian's chromium is not installed (./run test installs it)", allow_module_level=True)


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@contextlib.contextmanager
def chromium():
    """Debian's Chromium under Playwright, closed on the way out (a module's `browser` fixture)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


def tab_until(page, condition: str, limit: int) -> bool:
    """Press Tab until the script `condition` holds on the page, at most `limit` times: whether it did."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(condition):
            return True
    return False
