"""Ranking quality on a query set: recall@5, MRR and nDCG@10 per mode (binary relevance)."""
from __future__ import annotations

import math
from pathlib import Path

import yaml

from .engine import MODES, engine_for

QUERIES_FILE = Path(__file__).with_name("queries.yml")


def load_queries(path: Path | None = None) -> list[dict]:
    return yaml.safe_load(Path(path or QUERIES_FILE).read_text(encoding="utf-8"))["queries"]


def recall_at(ranked: list[str], relevant: set[str], k: int) -> float:
    return len(set(ranked[:k]) & relevant) / len(relevant)


def reciprocal_rank(ranked: list[str], relevant: set[str]) -> float:
    return next((1.0 / (n + 1) for n, doc in enumerate(ranked) if doc in relevant), 0.0)


def ndcg_at(ranked: list[str], relevant: set[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(n + 2) for n, doc in enumerate(ranked[:k]) if doc in relevant)
    ideal = sum(1.0 / math.log2(n + 2) for n in range(min(k, len(relevant))))
    return dcg / ideal


def evaluate(db_path: Path, queries: list[dict], modes=MODES) -> dict:
    engine = engine_for(db_path)
    table: dict = {}
    for mode in modes:
        per_style: dict[str, list[tuple[float, float, float]]] = {}
        for q in queries:
            ranked = [r.id for r in engine.search(q["query"], mode=mode, limit=10).results]
            relevant = set(q["relevant"])
            scores = (recall_at(ranked, relevant, 5), reciprocal_rank(ranked, relevant), ndcg_at(ranked, relevant, 10))
            per_style.setdefault("all", []).append(scores)
            per_style.setdefault(q.get("style", "unlabelled"), []).append(scores)
        table[mode] = {style: {"queries": len(rows),
                               "recall@5": sum(r[0] for r in rows) / len(rows),
                               "mrr": sum(r[1] for r in rows) / len(rows),
                               "ndcg@10": sum(r[2] for r in rows) / len(rows)} for style, rows in per_style.items()}
    return table


def format_table(table: dict) -> str:
    styles = list(next(iter(table.values())))
    lines = [f"{'style':<18}{'n':>4}  " + "  ".join(f"{m + ' ' + metric:>18}" for metric in ("R@5", "MRR", "nDCG@10")
                                                   for m in table)]
    for style in styles:
        n = table[next(iter(table))][style]["queries"]
        cells = [f"{table[m][style][metric]:>18.3f}" for metric in ("recall@5", "mrr", "ndcg@10") for m in table]
        lines.append(f"{style:<18}{n:>4}  " + "  ".join(cells))
    return "\n".join(lines)
