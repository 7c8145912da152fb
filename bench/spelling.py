"""How much misspelt queries lose, and how much correcting them wins back: hybrid nDCG@10 on the
judged query sets as written, then with one letter wrong in one word of each query (a letter dropped,
two swapped or one replaced, in a word of five or more letters, chosen at random with a fixed seed),
searched as typed and corrected; and how many of the queries as written are "corrected" (false
corrections) and what a correction costs.

    .venv/bin/python bench/spelling.py --db kb.db [--seeds 3]
"""
from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from search.engine import engine_for  # noqa: E402
from search.evaluate import LESSON_QUERIES_FILE, load_queries, ndcg_at  # noqa: E402


def misspell(query: str, rng: random.Random) -> str:
    words = list(re.finditer(r"[A-Za-z]{5,}", query))
    if not words:
        return query
    m = rng.choice(words)
    w, i = m.group(0), rng.randrange(1, len(m.group(0)) - 1)
    kind = rng.randrange(3)
    wrong = (w[:i] + w[i + 1:] if kind == 0 else w[:i] + w[i + 1] + w[i] + w[i + 2:] if kind == 1
             else w[:i] + rng.choice("aeioustrnl") + w[i + 1:])
    return query[:m.start()] + wrong + query[m.end():]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="kb.db", help="a database built with the real model (default kb.db)")
    parser.add_argument("--seeds", type=int, default=3, help="how many random slips of each query (default 3)")
    args = parser.parse_args()
    engine = engine_for(Path(args.db))
    for target, queries in (("cases", load_queries()), ("lessons", load_queries(LESSON_QUERIES_FILE))):
        ndcg = lambda text, q, spelling: ndcg_at([r.id for r in engine.search(
            text, target=target, limit=10, spelling=spelling).results], q["relevant"], 10)
        clean = statistics.mean(ndcg(q["query"], q, False) for q in queries)
        false = sum(bool(engine.speller.correct(q["query"]).words) for q in queries)
        print(f"{target} ({len(queries)} queries): as written {clean:.3f}; false corrections {false}")
        for seed in range(args.seeds):
            rng = random.Random(seed)
            typed = [(misspell(q["query"], rng), q) for q in queries]
            costs, fixed = [], 0
            for text, _ in typed:
                started = time.perf_counter()
                fixed += bool(engine.speller.correct(text).words)
                costs.append((time.perf_counter() - started) * 1000)
            as_typed = statistics.mean(ndcg(t, q, False) for t, q in typed)
            corrected = statistics.mean(ndcg(t, q, True) for t, q in typed)
            print(f"  seed {seed}: misspelt {as_typed:.3f} -> corrected {corrected:.3f} "
                  f"({fixed} of {len(typed)} queries corrected; correction p50 {statistics.median(costs):.2f} ms, "
                  f"max {max(costs):.1f} ms)")


if __name__ == "__main__":
    main()
