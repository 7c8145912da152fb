"""The cost of choosing and marking each result's passage (search/text.py: term_hits for every
passage of the documents shown, highlight for the one shown), alone: the judged case queries are
searched once on DB to record those calls, which are then timed on their own, several times.

    .venv/bin/python bench/passages.py DB [--repeats 5]"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db", type=Path, help="a built kb.db (the real corpus or a synthetic one)")
    parser.add_argument("--repeats", type=int, default=5, help="how many times the calls are timed (default 5)")
    args = parser.parse_args()
    from search import results, text
    from kb.embedding import Embedder
    from search.engine import Engine
    from search.evaluate import load_queries

    queries = [q["query"] for q in load_queries()]
    calls: list[tuple] = []
    term_hits, highlight = results.term_hits, results.highlight
    results.term_hits = lambda t, stems, kept=False: (calls.append((term_hits, t, stems, kept)), term_hits(t, stems, kept))[1]
    results.highlight = lambda t, terms: (calls.append((highlight, t, terms)), highlight(t, terms))[1]
    engine = Engine(args.db, Embedder())  # the real model, as a synthetic corpus's queries are embedded
    for q in queries:
        engine.search(q, limit=20, with_facets=True)
    results.term_hits, results.highlight = term_hits, highlight
    runs = []
    for _ in range(args.repeats):
        text._stem_line.cache_clear()
        text._stemmed.cache_clear()
        t = time.perf_counter()
        for f, *a in calls:
            f(*a)
        runs.append((time.perf_counter() - t) * 1000 / len(queries))
    print(f"{args.db}: {len(calls) / len(queries):.0f} passages a query; choosing and marking them "
          f"{statistics.median(runs):.2f} ms a query (median of {args.repeats}; runs {', '.join(f'{r:.2f}' for r in runs)})")


if __name__ == "__main__":
    main()
