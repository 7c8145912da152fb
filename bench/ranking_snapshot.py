"""Every ranking the engine gives on a built database, as JSON, so that a change meant to make
search faster (not different) can be checked: same ids, same order, same scores, same counts.

    .venv/bin/python bench/ranking_snapshot.py --db kb.db --out after.json
    .venv/bin/python bench/ranking_snapshot.py --compare before.json after.json

A snapshot holds, for every query of search/queries.yml (cases) and search/lesson_queries.yml
(lessons), in every mode, unfiltered and with filters and a savings range: the first 50 ids with
scores and close flags, the total, the close total and every facet count; browse pages in each
sort; and every case's similar cases. Run it from the code that made the database (the script puts
its own checkout first on the import path)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FILTERS = [None, {"council_types": ["district-council", "unitary-authority"]},
           {"services": ["adult-social-care", "whole-council", "central-services"], "outcome": ["succeeded"]}]
# Scores may move in the last float32 places when queries are embedded on another number of threads
# (about 3e-7 on the real corpus); ids, order, totals, close flags and facet counts may not move.
SCORE_TOLERANCE = 1e-6


def snapshot(db: Path) -> dict:
    from search.engine import MODES, Engine
    from search.evaluate import LESSON_QUERIES_FILE, QUERIES_FILE, load_queries

    from kb.embedding import Embedder

    # the synthetic corpora's vectors are the packaged model's, perturbed (bench/synthetic.py): their
    # queries are embedded by that model, as bench/measure_engine.py embeds them
    engine = Engine(db, Embedder() if _synthetic(db) else None)
    out: dict = {"search": {}, "similar": {}}
    sets = {"cases": load_queries(QUERIES_FILE), "lessons": load_queries(LESSON_QUERIES_FILE)}
    for target, queries in sets.items():
        for q in queries:
            for mode in MODES:
                for n, filters in enumerate(FILTERS):
                    ranges = [(None, None)] + ([(100_000, None)] if n == 0 else [])
                    for low, high in ranges:
                        r = engine.search(q["query"], mode=mode, target=target, filters=filters, limit=50,
                                          with_facets=True, min_savings=low, max_savings=high)
                        key = f"{target}|{mode}|{n}|{low}|{q['query']}"
                        out["search"][key] = {"ids": [x.id for x in r.results], "scores": [x.score for x in r.results],
                                              "close": [x.close for x in r.results], "total": r.total,
                                              "close_total": r.close_total, "facets": r.facet_counts,
                                              "passages": [x.passage for x in r.results[:10]]}
    for target in ("cases", "lessons"):
        for sort in ("saving", "year"):
            r = engine.search("", target=target, sort=sort, limit=50, with_facets=True, filters=FILTERS[1])
            out["search"][f"browse|{target}|{sort}"] = {"ids": [x.id for x in r.results], "total": r.total,
                                                       "facets": r.facet_counts}
    for case_id in sorted(engine.case_ids):
        out["similar"][case_id] = [[s["id"], s["score"], s["why"]] for s in engine.similar(case_id, 10)]
    return out


def _synthetic(db: Path) -> bool:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("select 1 from chunks where model like 'perturbed:%' limit 1").fetchone() is not None
    finally:
        conn.close()


def compare(before: dict, after: dict) -> int:
    problems = 0
    largest = 0.0
    for part in ("search", "similar"):
        missing = set(before[part]) ^ set(after[part])
        if missing:
            print(f"{part}: {len(missing)} keys differ, e.g. {sorted(missing)[:3]}")
            problems += len(missing)
        for key in sorted(set(before[part]) & set(after[part])):
            a, b = before[part][key], after[part][key]
            if part == "similar":
                if [x[0] for x in a] != [x[0] for x in b] or any(abs(x[1] - y[1]) > 1e-4 or x[2] != y[2] for x, y in zip(a, b)):
                    print(f"similar {key}: {a} != {b}")
                    problems += 1
                continue
            for field in a:
                if field == "scores":
                    worst = max((abs(x - y) for x, y in zip(a[field], b[field])), default=0)
                    largest = max(largest, worst)
                    if len(a[field]) != len(b[field]) or worst > SCORE_TOLERANCE:
                        print(f"{key}: scores differ (largest {worst:.2e})")
                        problems += 1
                elif a[field] != b.get(field):
                    print(f"{key}: {field} differs")
                    problems += 1
    searches = len(before["search"])
    print(f"{searches} searches and {len(before['similar'])} similar-case lists compared: "
          f"{'identical' if not problems else f'{problems} difference(s)'} (ids, order, totals, close flags, facet "
          f"counts, passages; largest score difference {largest:.1e}, allowed {SCORE_TOLERANCE:.0e})")
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="the database to snapshot")
    parser.add_argument("--out", type=Path, help="the JSON file to write")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"),
                        help="compare two snapshots; exit 1 if they differ")
    args = parser.parse_args()
    if args.compare:
        sys.exit(compare(*(json.loads(p.read_text()) for p in args.compare)))
    args.out.write_text(json.dumps(snapshot(args.db)))


if __name__ == "__main__":
    main()
