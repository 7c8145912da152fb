"""Benchmarks (not tests): build, rebuild, embedding throughput, search latency and server
throughput, for the real corpus and for synthetic corpora.

    .venv/bin/python bench/benchmark.py                 # real corpus + 10,000 synthetic cases
    .venv/bin/python bench/benchmark.py --sizes 10000 100000

Synthetic corpora repeat the real cases' text with numbered names and carry generated unit vectors
(the "hash:384" stand-in model) instead of model output: the model's cost per chunk does not depend on corpus size,
and real embedding throughput is measured on the real corpus. Prints medians and p95s."""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.build import build  # noqa: E402
from kb.embedding import DEFAULT_MODEL, Embedder  # noqa: E402
from search.engine import Engine  # noqa: E402
from search.evaluate import load_queries  # noqa: E402
from tests.live_server import running_server  # noqa: E402

FILTERS = {"council_types": ["district-council", "unitary-authority"], "services": ["adult-social-care", "whole-council",
                                                                                    "central-services"]}


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def latency(engine: Engine, queries: list[str], mode: str, filters=None, repeat=1) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        for q in queries:
            t = time.perf_counter()
            engine.search(q, mode=mode, filters=filters, limit=10, with_facets=True)
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), pct(times, 95)


def report_latency(engine, queries, label):
    for mode in ("keyword", "semantic", "hybrid"):
        engine.search(queries[0], mode=mode)  # warm caches and the model
        p50, p95 = latency(engine, queries, mode)
        f50, f95 = latency(engine, queries, mode, FILTERS)
        print(f"  {label} {mode:<8} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms   | filtered p50 {f50:7.1f} ms  p95 {f95:7.1f} ms")


def make_synthetic(size: int, into: Path) -> None:
    """size case files made from the real ones, with unique ids, titles and numbers."""
    (into / "cases").mkdir(parents=True)
    shutil.copytree(ROOT / "sources", into / "sources")
    real = sorted((ROOT / "cases").glob("*.md"))
    texts = [p.read_text(encoding="utf-8") for p in real]
    rng = random.Random(7)
    for n in range(size):
        k = n % len(texts)
        case_id = f"synthetic-{n:06d}"
        text = re.sub(r"^id: .*$", f"id: {case_id}", texts[k], count=1, flags=re.M)
        text = re.sub(r"^title: (.*)$", lambda m: f"title: {m.group(1)} (variant {n})", text, count=1, flags=re.M)
        # vary every section so chunks differ from each other
        text = text.replace("\n## Summary\n\n", f"\n## Summary\n\nVariant {n} of the case, number {rng.randint(1, 10**6)}. ", 1)
        (into / "cases" / f"{case_id}.md").write_text(text, encoding="utf-8")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def server_throughput(db: Path, queries: list[str], requests=200, concurrency=4) -> None:
    """Bounded load on 127.0.0.1: `requests` search-page requests from `concurrency` threads."""
    with running_server(db) as (base, proc):
        urls = [f"{base}/-/search?" + urllib.parse.urlencode({"q": q}) for q in queries]
        urllib.request.urlopen(urls[0], timeout=120).read()  # loads the model
        times, errors, lock = [], [0], threading.Lock()
        todo = iter(range(requests))

        def worker():
            while True:
                with lock:
                    n = next(todo, None)
                if n is None:
                    return
                t = time.perf_counter()
                try:
                    urllib.request.urlopen(urls[n % len(urls)], timeout=60).read()
                except OSError:
                    with lock:
                        errors[0] += 1
                with lock:
                    times.append((time.perf_counter() - t) * 1000)

        start = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        wall = time.perf_counter() - start
        print(f"  server: {requests} hybrid search pages, {concurrency} concurrent: {requests / wall:.1f} req/s, "
              f"p50 {statistics.median(times):.0f} ms, p95 {pct(times, 95):.0f} ms, errors {errors[0]}, "
              f"server RSS {rss_mb(proc.pid):.0f} MB (model loaded)")


def real_corpus(queries: list[str], workdir: Path) -> None:
    print("Real corpus")
    db = workdir / "real.db"
    t = time.perf_counter()
    r = build(ROOT, db, progress=False)
    print(f"  build (fresh, with model): {time.perf_counter() - t:.1f} s; {r.cases} cases, {r.chunks} chunks embedded")
    rebuilds = []
    for _ in range(3):
        t = time.perf_counter()
        again = build(ROOT, db, progress=False)
        rebuilds.append(time.perf_counter() - t)
    print(f"  rebuild, nothing changed: median {statistics.median(rebuilds):.2f} s over 3; "
          f"chunks re-embedded {again.embedded}, reused {again.reused}")
    print(f"  kb.db size: {db.stat().st_size / 1e6:.1f} MB")
    embedder = Embedder()
    texts = [row[0] for row in __import__("sqlite3").connect(db).execute("select text from chunks")]
    embedder.encode(texts[:32])
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        embedder.encode(texts)
        runs.append(len(texts) / (time.perf_counter() - t))
    print(f"  embedding throughput ({DEFAULT_MODEL}, CPU): median {statistics.median(runs):.0f} chunks/s over 3 runs of {len(texts)}")
    one = []
    for q in queries[:30]:
        t = time.perf_counter()
        embedder.encode([q])
        one.append((time.perf_counter() - t) * 1000)
    print(f"  one query embedding: p50 {statistics.median(one):.1f} ms")
    report_latency(Engine(db, embedder), queries, "real")
    server_throughput(db, queries)


def synthetic(size: int, queries: list[str], workdir: Path) -> None:
    print(f"Synthetic corpus: {size:,} cases (generated unit vectors)")
    root = workdir / f"synthetic-{size}"
    make_synthetic(size, root)
    db = root / "kb.db"
    t = time.perf_counter()
    r = build(root, db, progress=False, embedder=Embedder("hash:384"))
    print(f"  build: {time.perf_counter() - t:.1f} s; {r.cases:,} cases, {r.chunks:,} chunks; kb.db {db.stat().st_size / 1e6:.0f} MB")
    t = time.perf_counter()
    again = build(root, db, progress=False, embedder=Embedder("hash:384"))
    print(f"  rebuild, nothing changed: {time.perf_counter() - t:.1f} s; chunks re-embedded {again.embedded}")
    # The real model embeds each query (its vectors have the same 384 dimensions), so latency includes it.
    engine = Engine(db, Embedder())
    t = time.perf_counter()
    engine.index("cases")
    print(f"  engine load: {time.perf_counter() - t:.1f} s")
    report_latency(engine, queries, f"{size // 1000}k")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000])
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    queries = [q["query"] for q in load_queries()]
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        if not args.skip_real:
            real_corpus(queries, Path(tmp))
        for size in args.sizes:
            synthetic(size, queries, Path(tmp))


if __name__ == "__main__":
    main()
