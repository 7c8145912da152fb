"""One engine in a process of its own (so its memory is its own): load time, search latency by mode,
unfiltered and filtered, with facet counts, a facet click right after its query's page, the floors
beside them, RSS, and each query's top 10 for recall against another run. Run by
bench/benchmark.py; prints one JSON object.

    .venv/bin/python bench/measure_engine.py DB [--vectors auto|exact|int8|float16] [--lessons]"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FILTERS = {"council_types": ["district-council", "unitary-authority"],
           "services": ["adult-social-care", "whole-council", "central-services"]}
PAGE = 20  # the search page's page size


def rss_mb() -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db", type=Path, help="the database to search")
    parser.add_argument("--vectors", default="auto", help="auto, exact, int8 or float16 (as KB_VECTORS; default auto)")
    parser.add_argument("--lessons", action="store_true", help="search lessons instead of cases")
    parser.add_argument("--queries", type=int, default=0, help="use only the first N queries")
    args = parser.parse_args()
    from kb.embedding import Embedder
    from search.engine import Engine, _one_thread
    from search.evaluate import LESSON_QUERIES_FILE, load_queries
    from search.text import terms_of

    target = "lessons" if args.lessons else "cases"
    queries = [q["query"] for q in load_queries(LESSON_QUERIES_FILE if args.lessons else None)]
    queries = queries[:args.queries] if args.queries else queries
    out: dict = {"vectors": args.vectors, "target": target}
    embedder = Embedder()
    t = time.perf_counter()
    _one_thread(embedder)  # loads it on one thread, as a server's engine does (else ONNX Runtime takes every core)
    out["model_load_s"] = time.perf_counter() - t
    out["backend"] = embedder.backend  # torch, or onnx where KB_ONNX_DIR names an export (the published site's)
    rss_model = rss_mb()[0]
    t = time.perf_counter()
    engine = Engine(args.db, embedder, vectors=args.vectors)
    cases = engine.index("cases")
    lessons = engine.index("lessons")
    out["engine_load_s"] = time.perf_counter() - t
    out["precision"] = {"cases": cases.precision, "lessons": lessons.precision}
    out["chunks"] = {"cases": len(cases.chunk_doc), "lessons": len(lessons.chunk_doc)}
    out["rss_model_mb"] = rss_model
    out["rss_loaded_mb"] = rss_mb()[0]

    def clear():
        engine._query_vectors.clear()
        engine._phrases.clear()
        engine._rankings.clear()
        engine._ranking_bytes = 0
        engine._scans.clear()
        if hasattr(engine, "_query_words"):  # a query's word vectors (lesson search), kept with its vectors
            engine._query_words.clear()
        for col in (engine.index("cases"), engine.index("lessons")):
            if col.postings is not None:
                col.postings.forget()

    engine.search(queries[0], target=target)  # first call into the model
    clear()
    passes = {}
    tops: dict = {}
    for name, mode, filters, cold in [("hybrid", "hybrid", None, True), ("hybrid filtered", "hybrid", FILTERS, True),
                                      ("hybrid repeat", "hybrid", None, False), ("keyword", "keyword", None, True),
                                      ("semantic", "semantic", None, True)]:
        if cold:
            clear()
        times = []
        tops[name] = []
        for q in queries:
            t = time.perf_counter()
            found = engine.search(q, mode=mode, target=target, filters=filters, limit=PAGE, with_facets=True)
            times.append((time.perf_counter() - t) * 1000)
            tops[name].append([r.id for r in found.results[:10]])
        passes[name] = {"p50": statistics.median(times), "p95": pct(times, 95), "p99": pct(times, 99)}
    # a reader's facet click right after the query's page: the same query with a filter ticked
    clear()
    times = []
    tops["facet click"] = []
    for q in queries:
        engine.search(q, target=target, limit=PAGE, with_facets=True)
        t = time.perf_counter()
        found = engine.search(q, target=target, filters=FILTERS, limit=PAGE, with_facets=True)
        times.append((time.perf_counter() - t) * 1000)
        tops["facet click"].append([r.id for r in found.results[:10]])
    passes["facet click"] = {"p50": statistics.median(times), "p95": pct(times, 95), "p99": pct(times, 99)}
    out["latency_ms"] = passes
    out["top10"] = tops
    # the floors: one query embedding, a bare scan of the collection's vectors, one raw FTS5 query
    col = engine.index(target)
    floors = {"embed": [], "scan": [], "scan, every core": [], "fts": []}
    out["cores"] = engine.cores  # a search running alone scans on this many
    for q in queries[:60]:
        t = time.perf_counter()
        qv = embedder.encode([q])[0]
        floors["embed"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        engine._scan(col.vectors, qv, col.scales, 1, col.sums)
        floors["scan"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        engine._scan(col.vectors, qv, col.scales, engine.cores, col.sums)
        floors["scan, every core"].append((time.perf_counter() - t) * 1000)
        words = " OR ".join('"' + w.replace('"', "") + '"' for w in terms_of(q))
        if words:
            t = time.perf_counter()
            engine.conn.execute(f"select rowid, bm25({col.fts}) from {col.fts} where {col.fts} match ?", [words]).fetchall()
            floors["fts"].append((time.perf_counter() - t) * 1000)
    out["floors_p50_ms"] = {k: statistics.median(v) for k, v in floors.items() if v}
    out["rss_after_mb"], out["rss_peak_mb"] = rss_mb()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
