"""Benchmarks (not tests): build, rebuilds, engine load, search latency, memory and server throughput,
for the real corpus and for synthetic corpora made from it. Prints medians, percentiles and ratios.

    .venv/bin/python bench/benchmark.py                          # real corpus + 10,000 synthetic cases
    .venv/bin/python bench/benchmark.py --sizes 10000 100000 --real-db kb.db

Synthetic corpora (bench/synthetic.py) perturb the real cases' texts and the real model's chunk
vectors, so keyword statistics and nearest-neighbour structure resemble the real corpus; queries are
embedded by the real model. Each engine is measured in a process of its own (bench/measure_engine.py):
every pass starts with empty query-vector and phrase caches, so each query is embedded once per
pass, and every pass starts with no scans kept but those of the terms' labels and no phrases kept but
the vocabulary's names, which a server keeps too (search/semantic.py, LABEL_SCANS_KEPT_BYTES;
search/keyword.py, NAME_PHRASES_KEPT_BYTES: both filled in the first pass); "repeat" is the same queries again (a facet click or
a page turn: query vector and scans kept). Where a collection is held in int8 or float16 (more than
EXACT_CHUNKS chunks), the exact engine is measured too and recall@10 of the approximate one against
it is printed. The server is loaded on 127.0.0.1 only, for a bounded number of requests."""
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

from bench.synthetic import PerturbedEmbedder, make_corpus  # noqa: E402
from ingest.build import build  # noqa: E402
from search.engine import save_arrays  # noqa: E402
from search.evaluate import load_queries  # noqa: E402
from tests.live_server import processes, running_server  # noqa: E402

ONE_CASE_EDIT = ("## Challenges\n\n", "## Challenges\n\n- A sentence added to time a one-case rebuild.\n")


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def rss_mb(pid: int) -> float:
    """Resident memory of the process and its descendants."""
    total = 0.0
    for one in processes(pid):
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def cpu_seconds(pid: int) -> float:
    """CPU time the process and its descendants have used (user + system, every thread): per
    request, a figure that the machine's other work does not move much, unlike throughput."""
    total = 0
    for one in processes(pid):
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def timed_build(root: Path, db: Path, **kwargs):
    """A build as `kb build` makes one: the search indexes' arrays saved beside the database after
    it, so the engines measured open from them as a server's does."""
    t = time.perf_counter()
    report = build(root, db, progress=False, **kwargs)
    save_arrays(report.path)
    return time.perf_counter() - t, report


def rebuilds(root: Path, db: Path, label: str, **kwargs) -> None:
    """A rebuild with nothing changed, then with one case changed (three cases one after another),
    medians of 3."""
    times = [timed_build(root, db, **kwargs)[0] for _ in range(3)]
    print(f"  {label} rebuild, nothing changed: median {statistics.median(times):.2f} s over 3")
    cases = sorted((root / "cases").glob("*.md"))
    edits = []
    for case in (cases[len(cases) // 2], cases[len(cases) // 3], cases[-1]):
        text = case.read_text(encoding="utf-8")
        case.write_text(text.replace(*ONE_CASE_EDIT, 1) if ONE_CASE_EDIT[0] in text else text + "\n", encoding="utf-8")
        edits.append(timed_build(root, db, **kwargs))
    (seconds, r) = sorted(edits, key=lambda e: e[0])[1]
    how = "patched into a copy" if r.patched else "written afresh"
    print(f"  {label} rebuild, one case changed: median {seconds:.1f} s over 3 ({', '.join(f'{e[0]:.1f}' for e in edits)}); "
          f"{how}; chunks embedded {r.embedded} of {r.chunks}; similar-case lists computed {r.similar_computed} of {r.cases}")


def measure(db: Path, vectors: str = "auto", lessons: bool = False) -> dict:
    args = [sys.executable, str(ROOT / "bench" / "measure_engine.py"), str(db), "--vectors", vectors]
    found = subprocess.run(args + (["--lessons"] if lessons else []), capture_output=True, text=True, check=True)
    return json.loads(found.stdout.strip().splitlines()[-1])


def report(m: dict, label: str) -> None:
    print(f"  {label}: queries embedded by {m.get('backend')}; engine load {m['engine_load_s']:.2f} s (vectors {m['precision']['cases']}/{m['precision']['lessons']}, "
          f"{m['chunks']['cases']:,} case chunks); RSS {m['rss_model_mb']:.0f} MB with the model, "
          f"{m['rss_loaded_mb']:.0f} MB loaded, {m['rss_after_mb']:.0f} MB after the queries (peak {m['rss_peak_mb']:.0f} MB)")
    for name, v in m["latency_ms"].items():
        print(f"    {m['target']} {name:<16} p50 {v['p50']:7.1f} ms   p95 {v['p95']:7.1f} ms   p99 {v['p99']:7.1f} ms")
    f = m["floors_p50_ms"]
    floors = f.get("embed", 0) + f.get("scan", 0) + f.get("fts", 0)
    print(f"    floors p50: embed {f.get('embed', 0):.1f} ms, bare scan {f.get('scan', 0):.1f} ms "
          f"({f.get('scan, every core', 0):.1f} ms on {m.get('cores', 1)} cores, as a search running alone scans), "
          f"one FTS5 query {f.get('fts', 0):.1f} ms; hybrid p50 / their sum {m['latency_ms']['hybrid']['p50'] / floors:.2f}")


def recall_at_10(exact: dict, approx: dict) -> dict:
    out = {}
    for name in ("hybrid", "hybrid filtered", "semantic"):
        shares = [len(set(a) & set(b)) / len(a) for a, b in zip(exact["top10"][name], approx["top10"][name]) if a]
        out[name] = sum(shares) / len(shares)
    return out


def engines(db: Path, label: str) -> None:
    auto = measure(db)
    report(auto, f"{label} engine (auto)")
    if set(auto["precision"].values()) - {"float32"}:
        exact = measure(db, "exact")
        report(exact, f"{label} engine (exact float32, for comparison)")
        r = recall_at_10(exact, auto)
        print(f"  {label} {auto['precision']['cases']} recall@10 against exact: " + ", ".join(f"{k} {v:.3f}" for k, v in r.items()))
        print(f"  {label} {auto['precision']['cases']} / exact: hybrid p50 {auto['latency_ms']['hybrid']['p50'] / exact['latency_ms']['hybrid']['p50']:.2f}, "
              f"RSS {auto['rss_after_mb'] / exact['rss_after_mb']:.2f}, load {auto['engine_load_s'] / exact['engine_load_s']:.2f}")


def load(urls: list[str], clients: int, requests: int) -> tuple[float, list[float], int]:
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
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return requests / (time.perf_counter() - start), times, errors[0]


def server(db: Path, queries: list[str], clients: list[int], requests: int, workers: list[int] = (1,)) -> None:
    """The search page under load from `clients` threads, a fresh server for each number of clients
    and of worker processes (`kb serve --workers`). Two workloads: every query once, none seen before
    (each is embedded, its words looked up), then readers' sessions (a query, a facet click and the
    second page, the last two with its vector cached), `requests` requests. CPU time and memory are
    the server's processes' together."""
    for w, c in [(w, c) for w in workers for c in clients]:
        with running_server(db, workers=w) as (base, proc):
            page = lambda **p: f"{base}/-/search?" + urllib.parse.urlencode(p)
            urllib.request.urlopen(page(q="ready"), timeout=120).read()  # each worker answers one itself (kb/served.py)
            sessions = [u for q in queries for u in (page(q=q), page(q=q, council_types="district-council"),
                                                       page(q=q, page=2))]
            for label, urls, n in (("new queries", [page(q=q) for q in queries], len(queries)),
                                   ("reader sessions", sessions, requests)):
                cpu = cpu_seconds(proc.pid)
                rate, times, errors = load(urls, c, n)
                cpu = (cpu_seconds(proc.pid) - cpu) / n * 1000
                print(f"  server, {w} worker{'s' if w > 1 else ' '}, {label:<15} {c:>2} clients: {rate:5.1f} req/s, p50 {statistics.median(times):4.0f} ms, "
                      f"p95 {pct(times, 95):4.0f} ms, p99 {pct(times, 99):4.0f} ms, errors {errors}; "
                      f"server CPU {cpu:4.1f} ms a request, RSS {rss_mb(proc.pid):.0f} MB")


def real_corpus(workdir: Path, real_db: Path | None, args) -> Path:
    print(f"Real corpus (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    tree = workdir / "real"
    shutil.copytree(ROOT / "cases", tree / "cases")
    shutil.copytree(ROOT / "sources", tree / "sources")
    db = workdir / "real.db"
    if real_db:
        shutil.copy(real_db, db)  # its vectors are reused by content hash: the build then embeds nothing
    seconds, r = timed_build(tree, db)
    print(f"  build{' (vectors reused from --real-db)' if real_db else ' (fresh, with the model)'}: {seconds:.1f} s; "
          f"{r.cases} cases, {r.chunks} chunks, {r.embedded} embedded; kb.db {db.stat().st_size / 1e6:.1f} MB")
    rebuilds(tree, db, "real")
    engines(db, "real")
    report(measure(db, lessons=True), "real lessons engine (auto)")
    if args.clients:
        server(db, [q["query"] for q in load_queries()], args.clients, args.requests, args.workers)
    return db


def synthetic(size: int, workdir: Path, real_db: Path) -> None:
    print(f"Synthetic corpus: {size:,} cases (load average {os.getloadavg()[0]:.1f})")
    root = workdir / f"synthetic-{size}"
    make_corpus(size, root, ROOT)
    db = root / "kb.db"
    embedder = PerturbedEmbedder(real_db)
    seconds, r = timed_build(root, db, embedder=embedder)
    print(f"  {size // 1000}k build: {seconds:.1f} s; {r.cases:,} cases, {r.lessons:,} lessons, {r.chunks:,} chunks; "
          f"kb.db {db.stat().st_size / 1e6:.0f} MB")
    rebuilds(root, db, f"{size // 1000}k", embedder=embedder)
    engines(db, f"{size // 1000}k")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000],
                        help="synthetic corpora, in cases (default 10000)")
    parser.add_argument("--real-db", type=Path, help="a kb.db built with the real model, to reuse its vectors")
    parser.add_argument("--clients", type=int, nargs="*", default=[4, 8, 16],
                        help="concurrent clients of each server run (default 4 8 16)")
    parser.add_argument("--requests", type=int, default=240, help="requests per server run (default 240)")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2],
                        help="server processes of each server run, as kb serve --workers (default 1 2)")
    parser.add_argument("--workdir", type=Path, help="keep the corpora here (default: a temporary folder)")
    parser.add_argument("--server-only", action="store_true", help="only the server figures, on --real-db")
    args = parser.parse_args()
    if args.server_only:
        print(f"Server on {args.real_db} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        server(args.real_db, [q["query"] for q in load_queries()], args.clients, args.requests, args.workers)
        return
    tmp = None
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        work = args.workdir
    else:
        tmp = tempfile.TemporaryDirectory(prefix="kb-bench-")
        work = Path(tmp.name)
    try:
        real = real_corpus(work, args.real_db, args)
        for size in args.sizes:
            synthetic(size, work, real)
    finally:
        if tmp:
            tmp.cleanup()


if __name__ == "__main__":
    main()
