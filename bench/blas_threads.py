"""Which searches wake OpenBLAS's threads? numpy hands a large float matrix product to OpenBLAS, whose
threads then spin on every core for a while after it, slowing the next search's embedding, SQLite
and scans (docs/performance.md, "Lessons word by word, and OpenBLAS's spinning threads"). Search
avoids such products (its scans go through search/scan.py); this checks it stays so, by reading the
CPU time of the threads numpy started before and after each search. Prints how many searches woke
them and which.

    .venv/bin/python bench/blas_threads.py DB [--lessons]"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy  # noqa: E402,F401  (first, so that the only threads besides this one are OpenBLAS's)

SETTLE = 0.15  # seconds after a search for spinning threads to show their CPU time


def cpu_ticks(threads: list[str]) -> int:
    total = 0
    for tid in threads:
        fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db", type=Path, help="the database to search (kb.db, or a synthetic corpus's)")
    parser.add_argument("--lessons", action="store_true", help="search lessons instead of cases")
    args = parser.parse_args()
    time.sleep(0.5)  # OpenBLAS's threads spin for a moment after they start
    blas = [t for t in os.listdir("/proc/self/task") if int(t) != os.getpid()]
    from kb.embedding import Embedder
    from search.engine import Engine, _one_thread
    from search.evaluate import LESSON_QUERIES_FILE, load_queries

    embedder = Embedder()
    _one_thread(embedder)
    engine = Engine(args.db, embedder)
    target = "lessons" if args.lessons else "cases"
    queries = [q["query"] for q in load_queries(LESSON_QUERIES_FILE if args.lessons else None)]
    engine.search(queries[0], target=target)
    time.sleep(0.5)  # opening the engine takes a product or two (the collection's centre)
    woke = []
    for mode in ("hybrid", "keyword", "semantic"):
        for query in queries:
            before = cpu_ticks(blas)
            engine.search(query, mode=mode, target=target, limit=20, with_facets=True)
            time.sleep(SETTLE)
            if cpu_ticks(blas) > before:
                woke.append((mode, query))
    print(f"{len(blas)} OpenBLAS thread(s); {len(woke)} of {3 * len(queries)} {target} searches woke them")
    for mode, query in woke:
        print(f"  {mode}: {query[:100]}")
    sys.exit(1 if woke else 0)


if __name__ == "__main__":
    main()
