"""Benchmark (not a test) of the published site, so a publisher can size a replica: the Docker build
context `kb publish docker` writes is installed into a fresh virtual environment exactly as its
Dockerfile says (no Docker needed) and started on 127.0.0.1, then measured:

- installed runtime size (the environment plus the app folder: kb.db, plugins, the ONNX model);
- start to first search answered (process start to a semantic search's response), median of --starts;
- server RSS after the load below (and its peak);
- one replica's throughput at --clients concurrent clients for the search page and a case page.

    .venv/bin/python bench/publish_bench.py                    # builds kb.db with the real model first
    .venv/bin/python bench/publish_bench.py --db kb.db --seconds 30 --compare-torch

--compare-torch also starts today's development server (`kb serve`, PyTorch) for the ratios.
Every request goes to 127.0.0.1, each load run stops after --seconds; prints medians and ratios."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from search.evaluate import load_queries  # noqa: E402
from tests.container import ContainerEquivalent  # noqa: E402
from tests.live_server import running_server  # noqa: E402

def rss_kib(pid: int) -> tuple[int, int]:
    """(current, peak) resident set size of a process, in KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status}")
    return time.perf_counter() - started


def load(urls: list[str], clients: int, seconds: float) -> dict:
    """clients threads request urls round-robin until seconds pass; each request's latency kept."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(offset: int):
        n = offset
        while time.monotonic() < stop_at:
            try:
                took = get(urls[n % len(urls)])
                with lock:
                    latencies.append(took)
            except Exception as err:  # a failed request is counted and named, not fatal
                with lock:
                    errors.append(f"{type(err).__name__}: {err}")
            n += clients

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "n": len(latencies), "errors": len(errors), "error_kinds": sorted(set(errors))[:3],
            "p50": 1000 * statistics.median(latencies) if latencies else float("nan"),
            "p95": 1000 * latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")}


def first_search(start, base_of, query_url) -> float:
    """Seconds from starting the server to the first search's answer."""
    started = time.monotonic()
    with start() as handle:
        base = base_of(handle)
        get(base + query_url)
        return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="kb.db built with the real model (default: build one now)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of each load run (default 8)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each load run")
    parser.add_argument("--starts", type=int, default=5, help="cold starts timed for start-to-first-search")
    parser.add_argument("--base-url", default="/", help="serve under this base URL, e.g. /kb/")
    parser.add_argument("--compare-torch", action="store_true", help="also measure `kb serve` with PyTorch")
    parser.add_argument("--keep", type=Path, help="keep the context and environment in this folder")
    args = parser.parse_args()

    work = Path(args.keep or tempfile.mkdtemp(prefix="kb-publish-bench-"))
    if args.keep and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        db = args.db
        if db is None:
            from ingest.build import build

            db = work / "kb.db"
            t = time.monotonic()
            build(ROOT, db, progress=False)
            print(f"built {db} with the real model in {time.monotonic() - t:.0f}s")
        context = work / "context"
        t = time.monotonic()
        subprocess.run([sys.executable, "-m", "kb", "publish", "docker", "--db", str(db), "--out", str(context),
                        "--base-url", args.base_url, "--dry-run"], check=True, stdout=subprocess.DEVNULL)
        print(f"kb publish docker: context written in {time.monotonic() - t:.1f}s")
        image = ContainerEquivalent(context, work / "image")
        print(f"installed as its Dockerfile says (fresh venv, pip) in {image.install():.0f}s; "
              f"torch present: {image.has_module('torch')}")

        runtime = image.installed_bytes()
        venv = sum(f.stat().st_size for f in image.venv.rglob("*") if f.is_file() and not f.is_symlink())
        model = sum(f.stat().st_size for f in (image.app / "plugins" / "kb-model").glob("*"))
        dev = sum(f.stat().st_size for f in (ROOT / ".venv").rglob("*") if f.is_file() and not f.is_symlink())
        print(f"\ninstalled runtime: {runtime / 1e6:.0f} MB (environment {venv / 1e6:.0f} MB, app {(runtime - venv) / 1e6:.0f} MB "
              f"of which the ONNX model {model / 1e6:.0f} MB); the development environment is {dev / 1e6:.0f} MB "
              f"({dev / runtime:.1f}x)")

        prefix = args.base_url.rstrip("/") + "/"
        database = db.stem
        queries = [q["query"] for q in load_queries()]
        search_url = prefix + "-/search?" + urllib.parse.urlencode({"q": queries[0], "mode": "semantic"})
        ready = prefix + "-/versions.json"

        starts = [first_search(lambda: image.running(ready_path=ready), lambda h: h[0], search_url) for _ in range(args.starts)]
        print(f"start to first search answered: median {statistics.median(starts):.2f}s "
              f"(min {min(starts):.2f}s, max {max(starts):.2f}s, {len(starts)} cold starts)")

        with image.running(ready_path=ready) as (base, proc, _):
            get(base + search_url)
            rss_idle = rss_kib(proc.pid)[0]
            search_urls = [base + prefix + "-/search?" + urllib.parse.urlencode({"q": q}) for q in queries]
            listing = urllib.request.urlopen(base + prefix + f"{database}/cases.json?_shape=array&_col=id&_size=max")
            case_urls = [base + prefix + f"{database}/cases/{row['id']}" for row in json.loads(listing.read())]
            print(f"\none replica, {args.clients} clients, {args.seconds:.0f}s each (load average now "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
            for label, urls in [("search page (hybrid, 182 queries)", search_urls), (f"case page ({len(case_urls)} cases)", case_urls)]:
                r = load(urls, args.clients, args.seconds)
                print(f"  {label:<34} {r['rps']:6.1f} req/s   p50 {r['p50']:6.0f} ms   p95 {r['p95']:6.0f} ms   "
                      f"({r['n']} requests, {r['errors']} errors)")
                for kind in r["error_kinds"]:
                    print(f"    error: {kind}")
            rss, peak = rss_kib(proc.pid)
        print(f"\nserver RSS: {rss_idle / 1024:.0f} MB after the first search, {rss / 1024:.0f} MB after the load "
              f"(peak {peak / 1024:.0f} MB)")

        if args.compare_torch:
            os.environ["KB_EMBEDDING_BACKEND"] = "torch"  # `kb serve` inherits it
            torch_starts = [first_search(lambda: running_server(db), lambda h: h[0], "/-/search?" +
                                         urllib.parse.urlencode({"q": queries[0], "mode": "semantic"}))
                            for _ in range(min(args.starts, 3))]
            with running_server(db) as (base, proc):
                get(base + "/-/search?" + urllib.parse.urlencode({"q": queries[0], "mode": "semantic"}))
                torch_rss = rss_kib(proc.pid)[0]
            print(f"\nPyTorch (`kb serve`): start to first search {statistics.median(torch_starts):.2f}s "
                  f"({statistics.median(torch_starts) / statistics.median(starts):.1f}x the lean runtime), "
                  f"RSS after it {torch_rss / 1024:.0f} MB ({torch_rss / rss_idle:.1f}x)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
