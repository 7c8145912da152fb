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
    """Modes as rows: the three metrics over all queries, then nDCG@10 per query style."""
    styles = [s for s in next(iter(table.values())) if s != "all"]
    head = f"{'mode':<10}{'recall@5':>10}{'MRR':>8}{'nDCG@10':>9}   nDCG@10 by style: " + "  ".join(
        f"{s} ({table[next(iter(table))][s]['queries']})" for s in styles)
    lines = [head]
    for mode, rows in table.items():
        a = rows["all"]
        lines.append(f"{mode:<10}{a['recall@5']:>10.3f}{a['mrr']:>8.3f}{a['ndcg@10']:>9.3f}   " + "  ".join(
            f"{rows[s]['ndcg@10']:>{len(s) + len(str(rows[s]['queries'])) + 3}.3f}" for s in styles))
    lines.append(f"({table[next(iter(table))]['all']['queries']} queries; binary relevance)")
    return "\n".join(lines)
