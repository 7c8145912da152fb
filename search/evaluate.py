"""Ranking quality on judged sets: graded nDCG@10, recall@5 and MRR per mode, by query form and
voice, for case search (queries.yml), lesson search (lesson_queries.yml) and similar cases
(similar_judgments.yml)."""
from __future__ import annotations

import math
from pathlib import Path

import yaml

from .engine import MODES, engine_for

HERE = Path(__file__).resolve().parent
QUERIES_FILE = HERE / "queries.yml"
LESSON_QUERIES_FILE = HERE / "lesson_queries.yml"
SIMILAR_FILE = HERE / "similar_judgments.yml"
EXACT = 2  # the grade that means "exactly this"


def load_queries(path: Path | None = None) -> list[dict]:
    return yaml.safe_load(Path(path or QUERIES_FILE).read_text(encoding="utf-8"))["queries"]


def unknown_ids(db_path: Path, queries: list[dict], target: str, queries_file: Path, similar: bool) -> list[str]:
    """One line a judged set that names an id the database does not hold (a case withdrawn or renamed
    since it was judged): which file, which query or target, which ids, and what to do."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        known = {row[0] for row in conn.execute(f"select id from {'lessons' if target == 'lessons' else 'cases'}")}
        cases = {row[0] for row in conn.execute("select id from cases")}
    finally:
        conn.close()
    fix = "take each out of the judgments, or write the id it was renamed to"
    shown = lambda path: str(Path(path).relative_to(HERE.parent)) if Path(path).resolve().is_relative_to(HERE.parent) else str(path)
    out = [f"{shown(queries_file)}: query {q.get('id', '?')} judges {', '.join(sorted(set(q['relevant']) - known))}, which "
           f"the database does not hold - {fix}" for q in queries if set(q["relevant"]) - known]
    if similar:
        for t in yaml.safe_load(SIMILAR_FILE.read_text(encoding="utf-8"))["targets"]:
            missing = sorted(({t["case"]} | set(t["comparable"])) - cases)
            if missing:
                out.append(f"{shown(SIMILAR_FILE)}: target {t['case']} names {', '.join(missing)}, which the database does "
                           f"not hold - {fix}")
    return out


def recall_at(ranked: list[str], grades: dict[str, int], k: int) -> float:
    """Share of the exactly-relevant documents (grade 2; any grade if none is 2) found in the top k."""
    wanted = {d for d, g in grades.items() if g >= EXACT} or set(grades)
    return len(set(ranked[:k]) & wanted) / len(wanted) if wanted else 0.0


def reciprocal_rank(ranked: list[str], grades: dict[str, int]) -> float:
    """1 / rank of the first exactly-relevant document (grade 2; any grade if none is 2)."""
    best = max(grades.values(), default=0)
    return next((1.0 / (n + 1) for n, doc in enumerate(ranked) if best and grades.get(doc, 0) >= best), 0.0)


def ndcg_at(ranked: list[str], grades: dict[str, int], k: int) -> float:
    """Normalised discounted cumulative gain with gain 2^grade - 1 (a grade 2 counts three times a 1)."""
    dcg = sum((2 ** grades.get(doc, 0) - 1) / math.log2(n + 2) for n, doc in enumerate(ranked[:k]))
    ideal = sum((2 ** g - 1) / math.log2(n + 2) for n, g in enumerate(sorted(grades.values(), reverse=True)[:k]))
    return dcg / ideal if ideal else 0.0


def _summary(rows: list[tuple[float, float, float]]) -> dict:
    return {"queries": len(rows), "recall@5": sum(r[0] for r in rows) / len(rows),
            "mrr": sum(r[1] for r in rows) / len(rows), "ndcg@10": sum(r[2] for r in rows) / len(rows)}


def evaluate(db_path: Path, queries: list[dict], modes=MODES, target: str = "cases", engine=None) -> dict:
    """{mode: {group: metrics}} where a group is 'all', 'form:<form>' or 'voice:<voice>'."""
    engine = engine or engine_for(db_path)
    table: dict = {}
    for mode in modes:
        groups: dict[str, list[tuple[float, float, float]]] = {}
        for q in queries:
            ranked = [r.id for r in engine.search(q["query"], mode=mode, target=target, limit=10).results]
            grades = q["relevant"]
            scores = (recall_at(ranked, grades, 5), reciprocal_rank(ranked, grades), ndcg_at(ranked, grades, 10))
            for group in ("all", f"form:{q.get('form', '-')}", f"voice:{q.get('voice', '-')}"):
                groups.setdefault(group, []).append(scores)
        table[mode] = {group: _summary(rows) for group, rows in groups.items()}
    return table


def evaluate_close(db_path: Path, queries: list[dict], target: str = "cases", engine=None) -> dict:
    """How far the close-match flag can be trusted: the share of close matches judged useful (any
    grade), and the share of exactly-relevant documents (grade 2) flagged close."""
    engine = engine or engine_for(db_path)
    flagged = useful = exact = exact_close = 0
    for q in queries:
        results = engine.search(q["query"], target=target, limit=20).results
        close = [r.id for r in results if r.close]
        flagged += len(close)
        useful += sum(1 for d in close if q["relevant"].get(d, 0) >= 1)
        wanted = [d for d, g in q["relevant"].items() if g >= EXACT]
        exact += len(wanted)
        exact_close += sum(1 for d in wanted if d in close)
    return {"precision": useful / flagged if flagged else 0.0, "recall_exact": exact_close / exact if exact else 0.0,
            "close_per_query": flagged / len(queries)}


def evaluate_everyday(db_path: Path, engine=None, words: int = 4) -> dict:
    """How well the vocabulary's other names find what they name: each everyday word or alias of a
    term (at most `words` words) that no case writes, searched alone in hybrid mode, where some case
    is tagged with the term ("fly tipping", "potholes", "met borough"). Its first result should be
    such a case: no text matches the words themselves, so only the vocabulary can lead there."""
    from .text import terms_of

    engine = engine or engine_for(db_path)
    col = engine.index("cases")
    first = three = asked = 0
    for vocabulary, terms in engine.vocabularies.items():
        masks = col.masks.get(engine._facet_of.get(vocabulary), {})
        for slug, term in terms.terms.items():
            tagged = masks.get(slug)
            if tagged is None or not tagged.any():
                continue
            for name in dict.fromkeys((*term.aliases, *term.synonyms)):
                if len(terms_of(name)) > words or engine._holding(col, [name]).any():
                    continue
                found = [col.position[r.id] for r in engine.search(name, limit=3).results]
                if found:
                    asked += 1
                    first += bool(tagged[found[0]])
                    three += sum(bool(tagged[i]) for i in found) / len(found)
    return {"names": asked, "first_tagged": first / asked if asked else 0.0, "top3_tagged": three / asked if asked else 0.0}


def evaluate_similar(db_path: Path, path: Path | None = None, k: int = 5, engine=None) -> dict:
    """nDCG@k of each target's precomputed similar cases against the judged comparable cases."""
    engine = engine or engine_for(db_path)
    targets = yaml.safe_load(Path(path or SIMILAR_FILE).read_text(encoding="utf-8"))["targets"]
    per_target = {}
    for t in targets:
        ranked = [s["id"] for s in engine.similar(t["case"], k)]
        per_target[t["case"]] = ndcg_at(ranked, t["comparable"], k)
    return {"targets": len(per_target), f"ndcg@{k}": sum(per_target.values()) / len(per_target),
            "per_target": per_target}


def format_table(table: dict) -> str:
    """Modes as rows; nDCG@10 for every query and by form, then by voice."""
    first = next(iter(table.values()))
    lines = []
    for prefix in ("form:", "voice:"):
        groups = [g for g in first if g.startswith(prefix)]
        names = [f"{g[len(prefix):]} ({first[g]['queries']})" for g in groups]
        widths = [max(7, len(n)) for n in names]
        lines.append(f"{'mode':<10}{'recall@5':>9}{'MRR':>7}{'nDCG@10':>9}   nDCG@10 by {prefix[:-1]}: " +
                     "  ".join(n.rjust(w) for n, w in zip(names, widths)))
        for mode, rows in table.items():
            a = rows["all"]
            lines.append(f"{mode:<10}{a['recall@5']:>9.3f}{a['mrr']:>7.3f}{a['ndcg@10']:>9.3f}   " + " " * (len(prefix) + 12) +
                         "  ".join(f"{rows[g]['ndcg@10']:.3f}".rjust(w) for g, w in zip(groups, widths)))
        lines.append("")
    lines.append(f"({first['all']['queries']} queries; graded relevance: nDCG gain 2^grade-1, recall and MRR on grade 2)")
    return "\n".join(lines)
