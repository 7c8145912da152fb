"""The whole build: validated case and source files -> one SQLite file, written aside and swapped in.

Read top to bottom: validate, turn records into rows, write tables, full-text indexes, embeddings
(reusing vectors whose text and model are unchanged), precomputed similar cases, then swap."""
from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import glob
import hashlib
import html
import json
import os
import re
import signal
import sqlite3
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlite_utils
from tqdm import tqdm

from kb.embedding import Embedder
from kb.history import file_dates, review_due
from kb.parse import Problem, plain_text
from kb.schema import SQL_TYPES, Table, facets, lessons_section, similar_spec, summary_section, tables
from kb.site import is_project_database, ro_uri
from kb.site_metadata import facet_catalogue, site_metadata
from kb.validate import Record, check_collection, discover
from kb.vocabulary import load_vocabularies

from .chunks import Chunk, case_chunks, finding_chunks
from .codes import write_codes
from .postings import write_postings

SIMILAR_PER_CASE = 5
# Cases like mine: (1 - SIMILAR_TAG_WEIGHT) x cosine of the cases' mean passage vectors +
# SIMILAR_TAG_WEIGHT x cosine of their tags (kb/schema.yml similar_cases; each tag weighted by its
# rarity), less half the mean of each case's SIMILAR_HUB best scores (CSLS), so a case that is near
# everything (a programme-wide overview) does not top every list. Chosen on
# search/similar_judgments.yml (README, "Search").
SIMILAR_TAG_WEIGHT = 0.4
SIMILAR_HUB = 5
VECTOR_BLOCK = 8192  # chunks to a row of vector_blocks
BLOCK = 1024  # rows at a time: the full case-by-case matrix would not fit in memory at 100,000 cases


class BuildFailed(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass
class BuildReport:
    path: Path
    cases: int
    sources: int
    lessons: int
    savings: int
    chunks: int
    embedded: int
    reused: int
    seconds: float
    similar_computed: int = 0  # similar-case lists computed (the rest copied from the previous build)
    unchanged: bool = False  # nothing the build reads had changed: the database was left as it was


def _money(amount: float) -> str:
    if amount >= 1_000_000:
        return f"£{amount / 1_000_000:,.{0 if amount % 1_000_000 == 0 else 1}f} million"
    return f"£{amount:,.0f}"


def headline_saving(figures: list[dict]) -> str | None:
    """The saving a reader should see first, in words: the largest achieved yearly saving, else the
    largest achieved one, else the largest planned or projected one, always with period and status."""
    savings = [f for f in figures if f["kind"] == "saving" and f.get("amount") is not None]
    best = min(savings, key=lambda f: ({"achieved": 0}.get(f["status"], 1), not f["per_year"], -f["amount"]), default=None)
    if best is None:
        return None
    # the period as printed, without the notes some carry in brackets ("2013/14 (£ millions, table)")
    printed = re.sub(r"\s*\(.*\)\s*$", "", best["period"]).strip() or best["period"]
    period = "a year" if best["per_year"] else printed
    status = load_vocabularies()["figure_statuses"].label_of(best["status"]).lower()
    return f"{_money(best['amount'])} {period}, {status}" + (f" ({printed})" if best["per_year"] else "")


def _row(table: Table, obj: dict, computed: dict, facet_source: dict | None = None) -> dict:
    """One row of a declared table: front-matter fields, facets of the row's case, computed columns.
    Fails loudly when the build and the declaration disagree."""
    row = {}
    for column in table.columns:
        if column.field:
            row[column.name] = column.value(obj)
        elif column.name in computed:
            row[column.name] = computed[column.name]
        elif column.facet and facet_source is not None:
            facet = next(f for f in facets("case") if f.column == column.name)
            values = facet.values(facet_source)
            row[column.name] = values if facet.many else (values[0] if values else None)
        else:
            raise KeyError(f"the build computes no value for {table.name}.{column.name} (declared in kb/schema.yml)")
    extra = set(computed) - set(row)
    if extra:
        raise KeyError(f"the build computes {sorted(extra)} for {table.name}, which kb/schema.yml does not declare")
    return row


def _case_row(record: Record, table: Table, history: dict[str, tuple[str, str]]) -> dict:
    data = record.data
    first_added, last_changed = history.get(record.document.display, (None, None))
    sections = {s.heading: s for s in record.sections}
    savings = [s for s in data["savings"] if s["kind"] == "saving" and s.get("amount") is not None]
    return _row(table, data, {
        "summary": plain_text(sections[summary_section()].markdown),
        "organisation_names": [o["name"] for o in data["organisations"]],
        "anonymised": any(o.get("anonymised") for o in data["organisations"]),
        "achieved_annual_saving_gbp": max((s["amount"] for s in savings if s["per_year"] and s["status"] == "achieved"),
                                          default=None),
        "headline_saving": headline_saving(data["savings"]),
        "figures_count": len(data["savings"]),
        "lessons_count": len(sections[lessons_section()].bullets) if lessons_section() in sections else 0,
        "body_text": "\n".join(f"{s.heading}. {plain_text(s.markdown)}" for s in record.sections),
        "body_html": "\n".join(f"<h2>{html.escape(s.heading)}</h2>\n{s.html}" for s in record.sections),
        "path": record.document.display,
        "review_due": review_due(data["reviewed"]),
        "first_added": first_added,
        "last_changed": last_changed,
    }, data)


def _create(db: sqlite_utils.Database, table: Table) -> None:
    db[table.name].create({c.name: SQL_TYPES[c.type] for c in table.columns},
                          pk=table.pk[0] if len(table.pk) == 1 else table.pk,
                          foreign_keys=[(c.name, c.references, tables()[c.references].pk[0])
                                        for c in table.columns if c.references])


def _lesson_rows(table: Table, cases: list[Record], sources: list[Record]) -> list[dict]:
    """A case's lessons take the case's facets; a report's findings have only their own."""
    rows = []
    for r in cases:
        section = next((s for s in r.sections if s.heading == lessons_section()), None)
        for i, (line, text) in enumerate(section.bullets if section else []):
            rows.append(_row(table, {}, {"id": f"{r.id}#lesson-{i + 1}", "case_id": r.id, "source_id": None,
                                         "title": r.data["title"], "theme": None, "text": text,
                                         "where_in_source": f"{r.document.display}:{line}"}, r.data))
    for r in sources:
        for i, f in enumerate(r.data["findings"]):
            own = {"key_attributes": f.get("key_attributes") or [], "sources": [{"id": r.id}]}
            rows.append(_row(table, {}, {"id": f"{r.id}#finding-{i + 1}", "case_id": None, "source_id": r.id,
                                         "title": r.data["title"], "theme": f["theme"], "text": f["text"],
                                         "where_in_source": f["where"]}, own))
    return rows


def _write_tables(db: sqlite_utils.Database, records: list[Record], history: dict[str, tuple[str, str]]) -> dict[str, list]:
    sources = [r for r in records if r.kind == "source"]
    cases = [r for r in records if r.kind == "case"]
    declared = tables()
    # referenced tables first, so foreign keys resolve
    for table in sorted(declared.values(), key=lambda t: any(c.references for c in t.columns)):
        _create(db, table)
    vocabularies = load_vocabularies()
    db["terms"].insert_all(
        ({"vocabulary": v.key, "vocabulary_label": v.label, "slug": t.slug, "label": t.label, "definition": t.definition,
          "aliases": list(t.aliases), "family": t.family,
          "synonyms": list(t.synonyms)} for v in vocabularies.values() for t in v.terms.values()),
        pk=("vocabulary", "slug"))
    cited_by = {r.id: sum(1 for c in cases if r.id in {s["id"] for s in c.data["sources"]}) for r in sources}
    db["sources"].insert_all(_row(declared["sources"], r.data, {
        "summary_html": "\n".join(s.html for s in r.sections), "cases_count": cited_by[r.id],
        "path": r.document.display}) for r in sources)
    db["cases"].insert_all(_case_row(r, declared["cases"], history) for r in cases)
    # Tables of a case's list items: organisations, figures (the `savings` field) and case_sources
    for table in declared.values():
        kind, _, field = table.rows.partition(".")
        if kind != "case" or not field:
            continue
        db[table.name].insert_all(
            _row(table, item, {k: v for k, v in {"id": f"{r.id}#{i + 1}", "case_id": r.id, "position": i + 1}.items()
                               if k in table.names and not table.column(k).field})
            for r in cases for i, item in enumerate(r.data[field]))
    db["sections"].insert_all(({"id": f"{r.id}/{i + 1}", "case_id": r.id, "position": i + 1, "heading": s.heading,
                                "markdown": s.markdown, "html": s.html, "line": s.line}
                               for r in cases for i, s in enumerate(r.sections)),
                              pk="id", foreign_keys=[("case_id", "cases", "id")])
    lessons = _lesson_rows(declared["lessons"], cases, sources)
    db["lessons"].insert_all(lessons)
    for table in declared.values():
        if table.fts:
            db[table.name].enable_fts([c.name for c in table.fts], tokenize="porter", create_triggers=False)
    # How many documents hold each (stemmed) term, so search can set aside words that are in most
    # documents ("council") the way a stopword list would, but learnt from the corpus.
    db["term_documents"].create({"collection": str, "term": str, "documents": int}, pk=("collection", "term"))
    for table in declared.values():
        if table.fts:
            db.execute(f"create virtual table temp.{table.name}_vocab using fts5vocab(main, {table.name}_fts, 'row')")
            db.execute(f"insert into term_documents select '{table.name}', term, doc from temp.{table.name}_vocab")
    for table in declared.values():
        for column in table.columns:
            if column.references and column.name not in table.pk[:1]:
                db[table.name].create_index([column.name])
    db["sections"].create_index(["case_id"])
    _write_site_metadata(db)
    return {"cases": cases, "sources": sources, "lessons": lessons}


def _write_site_metadata(db: sqlite_utils.Database) -> None:
    """What the site needs to know of the declarations, so it reads only the database it serves."""
    db["kb_meta"].insert_all([{"key": "site_metadata", "value": json.dumps(site_metadata())},
                              {"key": "facets", "value": json.dumps(facet_catalogue())}], pk="key")


def _old_vectors(path: Path, model: str) -> dict[str, bytes]:
    """Vectors of the previous build by content hash, for the same model only."""
    if not path.exists():
        return {}
    try:
        conn = sqlite3.connect(ro_uri(path), uri=True)
        rows = conn.execute("select content_hash, vector from chunks where model = ?", [model]).fetchall()
        conn.close()
        return dict(rows)
    except sqlite3.Error:
        return {}


def _write_embeddings(db, parts, old_db: Path, embedder: Embedder, progress: bool) -> tuple[int, int, int]:
    by_case: dict[str, list[tuple[str, str]]] = {}
    for lesson in parts["lessons"]:
        by_case.setdefault(lesson["case_id"], []).append((lesson["id"], lesson["text"]))
    chunks: list[Chunk] = []
    for r in parts["cases"]:
        chunks += case_chunks(r.id, r.data["title"], r.sections, by_case.get(r.id, []))
    chunks += [c for l in parts["lessons"] if l["source_id"] for c in finding_chunks(l["id"], l["theme"], l["text"])]
    old = _old_vectors(old_db, embedder.name)
    todo = [c for c in chunks if c.content_hash not in old]
    fresh: dict[str, bytes] = {}
    if todo:
        vectors = embedder.encode([c.text for c in todo], progress=progress)
        fresh = {c.content_hash: v.tobytes() for c, v in zip(todo, vectors)}
    vectors_by_hash = {**old, **fresh}
    dims = len(next(iter(vectors_by_hash.values()))) // 4 if vectors_by_hash else 0
    db["chunks"].insert_all(({"id": c.id, "case_id": c.case_id, "lesson_id": c.lesson_id, "kind": c.kind,
                              "position": c.position, "text": c.text, "content_hash": c.content_hash,
                              "model": embedder.name, "dimensions": dims, "vector": vectors_by_hash[c.content_hash]}
                             for c in chunks), pk="id",
                            foreign_keys=[("case_id", "cases", "id"), ("lesson_id", "lessons", "id")],
                            columns={"case_id": str, "lesson_id": str, "vector": bytes})
    db["chunks"].create_index(["case_id"])
    _write_vector_blocks(db)
    return len(chunks), len(todo), len(chunks) - len(todo)


def _write_vector_blocks(db) -> None:
    """A float16 copy of each collection's chunk vectors in the order search holds them (documents by
    rowid, a document's chunks by rowid), VECTOR_BLOCK chunks to a row, and of each document's
    normalised mean vector (collection '<name>:documents'): a large corpus opens in a few large
    reads at half the memory; search re-scores its candidates from the float32 vectors."""
    db.execute("drop table if exists vector_blocks")
    db["vector_blocks"].create({"collection": str, "block": int, "docs": bytes, "chunks": bytes, "vectors": bytes},
                               pk=("collection", "block"))

    def write(collection: str, block: int, docs: np.ndarray, chunks: np.ndarray, vectors: np.ndarray) -> None:
        db["vector_blocks"].insert({"collection": collection, "block": block, "docs": docs.astype(np.int64).tobytes(),
                                    "chunks": chunks.astype(np.int64).tobytes(),
                                    "vectors": vectors.astype(np.float16).tobytes()})

    for collection, key in (("cases", "case_id"), ("lessons", "lesson_id")):
        rows = db.execute(f"select d.rowid, k.rowid, k.vector from chunks k join {collection} d on d.id = k.{key} "
                          "order by d.rowid, k.rowid").fetchall()
        doc_ids: list[np.ndarray] = []
        sums: list[np.ndarray] = []
        for block, start in enumerate(range(0, len(rows), VECTOR_BLOCK)):
            part = rows[start:start + VECTOR_BLOCK]
            docs = np.array([r[0] for r in part], dtype=np.int64)
            vectors = np.frombuffer(b"".join(r[2] for r in part), dtype=np.float32).reshape(len(part), -1)
            write(collection, block, docs, np.array([r[1] for r in part], dtype=np.int64), vectors)
            firsts = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
            part_sums = np.add.reduceat(vectors, firsts, axis=0)
            if doc_ids and doc_ids[-1][-1] == docs[0]:  # a document split between two blocks
                sums[-1][-1] += part_sums[0]
                firsts, part_sums = firsts[1:], part_sums[1:]
            doc_ids.append(docs[firsts])
            sums.append(part_sums)
        if sums:
            docs, means = np.concatenate(doc_ids), np.vstack(sums)
            means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
            for block, start in enumerate(range(0, len(docs), VECTOR_BLOCK)):
                write(f"{collection}:documents", block, docs[start:start + VECTOR_BLOCK], docs[start:start + VECTOR_BLOCK],
                      means[start:start + VECTOR_BLOCK])


def _tag_matrix(db, ids: list[str], columns: list[str]) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """One row per case, one column per (facet, value): the value's rarity, log(N / cases with it),
    where the case has it; rows scaled to length 1."""
    found: dict[tuple[str, str], int] = {}
    cells = []
    position = {case_id: i for i, case_id in enumerate(ids)}
    for row in db.execute(f"select id, {', '.join(columns)} from cases").fetchall():
        for facet, raw in zip(columns, row[1:]):
            for value in json.loads(raw or "[]"):
                cells.append((position[row[0]], found.setdefault((facet, value), len(found))))
    tags = np.zeros((len(ids), max(1, len(found))), dtype=np.float32)
    for r, c in cells:
        tags[r, c] = 1.0
    rarity = np.log((len(ids) + 1) / (tags.sum(axis=0) + 1)) + 1
    tags *= rarity
    tags /= np.maximum(np.linalg.norm(tags, axis=1, keepdims=True), 1e-9)
    return tags, list(found)


def _raw_scores(vectors: np.ndarray, tags: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(1 - SIMILAR_TAG_WEIGHT) x cosine of mean vectors + SIMILAR_TAG_WEIGHT x cosine of tags, of
    these rows against every case (a case against itself: -inf)."""
    scores = (1 - SIMILAR_TAG_WEIGHT) * (vectors[rows] @ vectors.T) + SIMILAR_TAG_WEIGHT * (tags[rows] @ tags.T)
    scores[np.arange(len(rows)), rows] = -np.inf
    return scores


def _top(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k best columns and their scores, best first."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(values, order, axis=1)


class _Similarity:
    """Cases like mine over the cases' mean vectors and tag vectors (see SIMILAR_TAG_WEIGHT), for any
    subset of rows, in blocks of BLOCK rows against every case: the raw scores' SIMILAR_HUB best (a
    case's hub term, kept so a later build can tell whether a change moved it), then each row's
    SIMILAR_PER_CASE best after CSLS. Scoring every pair is exact; on near-duplicate corpora a
    bound from a few candidates saves little (tried: most rows fall back to every pair), so the
    saving is in scoring only the rows a change can affect (_affected)."""

    def __init__(self, vectors: np.ndarray, tags: np.ndarray):
        self.vectors, self.tags = vectors, tags
        self.n = len(vectors)
        self.hub_k = min(SIMILAR_HUB, self.n - 1)
        self.k = min(SIMILAR_PER_CASE, self.n - 1)

    def raw_top(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's SIMILAR_HUB best raw scores (columns and scores, best first)."""
        ids, values = [np.zeros((0, self.hub_k), np.int64)], [np.zeros((0, self.hub_k), np.float32)]
        for start in range(0, len(rows), BLOCK):
            top, value = _top(_raw_scores(self.vectors, self.tags, rows[start:start + BLOCK]), self.hub_k)
            ids.append(top)
            values.append(value)
        return np.vstack(ids), np.vstack(values)

    def lists(self, rows: np.ndarray, hub: np.ndarray):
        """Each row's best SIMILAR_PER_CASE by CSLS: (row, [(column, score)])."""
        for start in range(0, len(rows), BLOCK):
            block = rows[start:start + BLOCK]
            scores = _raw_scores(self.vectors, self.tags, block)
            scores -= 0.5 * (hub[block, None] + hub[None, :])
            top, value = _top(scores, self.k)
            for row, cand, csls in zip(block, top, value):
                yield int(row), [(int(c), float(v)) for c, v in zip(cand, csls)]


def _case_matrices(db) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every case with chunks: ids, normalised mean chunk vector, tag vector (rarity-weighted)."""
    rows = db.execute("select case_id, vector from chunks where case_id is not null order by case_id").fetchall()
    ids: list[str] = []
    sums: list[np.ndarray] = []
    for case_id, blob in rows:
        vec = np.frombuffer(blob, dtype=np.float32)
        if ids and ids[-1] == case_id:
            sums[-1] = sums[-1] + vec
        else:
            ids.append(case_id)
            sums.append(vec.copy())
    if not ids:
        return ids, np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32)
    matrix = np.vstack(sums)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    tags, _ = _tag_matrix(db, ids, similar_spec()["tags"])
    return ids, matrix, tags


def _old_similarity(old_db: Path, basis: str):
    """The previous build's case matrices, hubs and lists, if it was built on the same basis (code,
    declarations and model), for recomputing only the lists a change can affect."""
    if not old_db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{old_db}?mode=ro", uri=True)
        try:
            stored = dict(conn.execute("select key, value from kb_meta where key = 'similar_basis'").fetchall())
            if stored.get("similar_basis") != json.dumps(basis):
                return None
            ids, vectors, tags = _case_matrices(conn)
            state = {r[0]: (r[1], json.loads(r[2])) for r in conn.execute("select case_id, hub, raw_top from similar_state")}
            lists: dict[str, list] = {}
            for r in conn.execute("select case_id, similar_id, rank, score, reason from similar_cases order by case_id, rank"):
                lists.setdefault(r[0], []).append({"case_id": r[0], "similar_id": r[1], "rank": r[2], "score": r[3],
                                                   "reason": r[4]})
            return ids, vectors, tags, state, lists
        finally:
            conn.close()
    except (sqlite3.Error, json.JSONDecodeError, KeyError):
        return None


def _affected(ids, vectors, tags, old, sim: _Similarity) -> tuple[np.ndarray, dict] | None:
    """The rows whose similar-case list (or hub) a change can affect, with the new hubs, when the
    previous build's cases are the same ones with the same tag rarities; else None (score all)."""
    old_ids, old_vectors, old_tags, state, _ = old
    if old_ids != ids or old_tags.shape != tags.shape or set(state) != set(ids):
        return None
    changed = np.flatnonzero((old_vectors != vectors).any(axis=1) | (old_tags != tags).any(axis=1))
    if len(changed) and not np.array_equal(np.count_nonzero(old_tags, axis=0), np.count_nonzero(tags, axis=0)):
        return None  # a tag's rarity moved: every tag vector changed
    if not np.array_equal(old_tags[np.setdiff1d(np.arange(len(ids)), changed)],
                          tags[np.setdiff1d(np.arange(len(ids)), changed)]):
        return None
    hub = np.array([state[i][0] for i in ids])
    position = {case_id: n for n, case_id in enumerate(ids)}
    if not len(changed):
        return changed, hub
    # a row's hub moves if a changed case was among its hub_k best or now beats its hub_k-th best
    to_changed = _raw_scores(vectors, tags, changed).T  # every case against each changed one
    hub_rows = set(changed.tolist())
    for n, case_id in enumerate(ids):
        best = state[case_id][1]
        if any(position.get(b[0]) in hub_rows for b in best) or (len(best) and to_changed[n].max() > best[-1][1]):
            hub_rows.add(n)
    moved = np.array(sorted(hub_rows))
    _, raw = sim.raw_top(moved)
    hub[moved] = raw.mean(axis=1)
    # lists that can change: those holding a moved case, and those a moved case now enters
    lists = old[4]
    fifth = np.array([lists[i][-1]["score"] if lists.get(i) else -np.inf for i in ids])
    to_moved = (_raw_scores(vectors, tags, moved).T - 0.5 * (hub[:, None] + hub[moved][None, :])).max(axis=1)
    rows = set(moved.tolist())
    moved_ids = {ids[m] for m in moved}
    for n, case_id in enumerate(ids):
        # stored scores are rounded to 4 places: a margin of 1e-4 keeps the test on the safe side
        if any(s["similar_id"] in moved_ids for s in lists.get(case_id, [])) or to_moved[n] >= fifth[n] - 1e-4:
            rows.add(n)
    return np.array(sorted(rows)), hub


def _write_similar(db, old_db: Path, basis: str) -> int:
    """Cases like this one, precomputed so the site needs no model (see SIMILAR_TAG_WEIGHT). Lists
    the change cannot affect are copied from the previous build; returns how many were computed."""
    ids, matrix, tags = _case_matrices(db)
    db["case_vectors"].create({"case_id": str, "vector": bytes}, pk="case_id", foreign_keys=[("case_id", "cases", "id")])
    db["similar_cases"].create({"case_id": str, "similar_id": str, "rank": int, "score": float, "reason": str},
                               pk=("case_id", "similar_id"),
                               foreign_keys=[("case_id", "cases", "id"), ("similar_id", "cases", "id")])
    db["similar_state"].create({"case_id": str, "hub": float, "raw_top": str}, pk="case_id")
    db["kb_meta"].insert({"key": "similar_basis", "value": json.dumps(basis)}, pk="key", replace=True)
    if not ids:
        return 0
    db["case_vectors"].insert_all({"case_id": i, "vector": v.astype(np.float32).tobytes()} for i, v in zip(ids, matrix))
    if len(ids) < 2:
        return 0
    sim = _Similarity(matrix, tags)
    old = _old_similarity(old_db, basis)
    found = _affected(ids, matrix, tags, old, sim) if old else None
    if found is None:
        rows = np.arange(len(ids))
        candidates, raw = sim.raw_top(rows)
        hub = raw.mean(axis=1)
    else:
        rows, hub = found
        candidates, raw = sim.raw_top(rows)
    reasons = _reasons(db, ids)
    labels = {f["column"]: f for f in facet_catalogue()}
    out, state = [], []
    computed = set()
    for row, best in sim.lists(rows, hub):
        mine = ids[row]
        computed.add(mine)
        out.extend({"case_id": mine, "similar_id": ids[b], "rank": n + 1, "score": round(score, 4),
                    "reason": _reason(reasons[mine], reasons[ids[b]], labels)} for n, (b, score) in enumerate(best))
    for n, row in enumerate(rows):
        state.append({"case_id": ids[row], "hub": float(hub[row]),
                      "raw_top": json.dumps([[ids[c], float(v)] for c, v in zip(candidates[n], raw[n])])})
    if found is not None:
        old_state = old[3]
        for n, case_id in enumerate(ids):
            if case_id not in computed:
                out.extend(old[4].get(case_id, []))
                state.append({"case_id": case_id, "hub": float(hub[n]), "raw_top": json.dumps(old_state[case_id][1])})
    db["similar_cases"].insert_all(out)
    db["similar_state"].insert_all(state)
    return len(computed)


def _reasons(db, ids: list[str]) -> dict[str, dict[str, set[str]]]:
    columns = similar_spec()["reasons"]
    rows = db.execute(f"select id, {', '.join(columns)} from cases").fetchall()
    return {r[0]: {c: set(json.loads(v or "[]")) for c, v in zip(columns, r[1:])} for r in rows}


def _reason(mine: dict[str, set[str]], theirs: dict[str, set[str]], labels: dict) -> str:
    """In a few words why two cases are alike: the tags they share, e.g. 'shared approach: Sharing
    council; shared service: Whole council'."""
    parts = []
    for column, values in mine.items():
        shared = sorted(values & theirs.get(column, set()))
        if shared:
            facet = labels[column]
            names = ", ".join(facet["values"].get(v, {}).get("label", v) for v in shared)
            parts.append(f"shared {facet['label'].lower()}: {names}")
    return "; ".join(parts) or "alike in what they did"


def _code_basis(model: str) -> str:
    """What every output row depends on besides the files: the builder's code and the declarations
    (every .py and .yml of kb/ and ingest/) and the model."""
    digest = hashlib.sha256(model.encode())
    here = Path(__file__).resolve().parent
    for path in sorted([*here.glob("*.py"), *(here.parent / "kb").glob("*.py"), *(here.parent / "kb").glob("*.yml")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _inputs(root: Path, paths: list[Path], basis: str) -> str:
    """A hash of everything a build reads: the files (by content), their git dates, today's date
    (review_due) and the code basis. The same hash means the same database."""
    digest = hashlib.sha256(f"{basis}|{datetime.date.today().isoformat()}|".encode())
    digest.update(json.dumps(file_dates(root), sort_keys=True).encode())
    for path in paths:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _unchanged(output: Path, inputs: str) -> BuildReport | None:
    """The report of the previous build if it was made from exactly these inputs."""
    if not output.is_file():  # nothing, or something no build wrote (a folder, a pipe): build
        return None
    try:
        conn = sqlite3.connect(f"file:{output}?mode=ro", uri=True)
        try:
            stored = conn.execute("select value from kb_meta where key = 'build_inputs'").fetchone()
            if not stored or json.loads(stored[0]) != inputs:
                return None
            info = conn.execute("select cases, sources, lessons, chunks from build_info").fetchone()
            savings = conn.execute("select count(*) from figures").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return BuildReport(output, info[0], info[1], info[2], savings, info[3], 0, info[3], 0.0, unchanged=True)


# sqlite3 errors that mean the disk or the folder, not the build, is at fault
DISK_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO}
WRITE_FAILURES = ("disk is full", "disk i/o error", "unable to open database", "readonly database", "read-only")


class DatabaseNotChanged(Exception):
    """A build refused or stopped before the swap, as one line: where, what, the fix."""

    def __init__(self, path, what: str, fix: str):
        super().__init__(f"{path}: {what} - {fix}; the database was not changed")
        self.path, self.what, self.fix = path, what, fix


class BuildStopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP during a build: raised so every clean-up runs, as for Ctrl-C."""


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output(root: Path, output, force: bool = False) -> Path:
    """The path `kb build` may write, or DatabaseNotChanged saying why not. It replaces only a regular
    file that a previous build wrote (any regular file with force), never anything under cases/ or
    sources/, a link, a folder, a pipe or a device."""
    text = str(output)
    if not text.strip():
        raise DatabaseNotChanged("--db", "no file name given", "give a file name such as kb.db")
    if text.endswith(("/", os.sep)) or text in (".", ".."):
        raise DatabaseNotChanged(text, "names a folder, not a file", f"give a file inside it, such as {text.rstrip('/')}/kb.db")
    path = Path(os.path.abspath(text))  # lexical: a link is judged as a link, not by its target
    root = Path(root).resolve()
    for folder in ("cases", "sources"):
        protected = root / folder
        if _inside(path, protected) or _inside(path.parent.resolve(), protected.resolve()):
            raise DatabaseNotChanged(text, f"is inside {folder}/, where the {folder[:-1]} files live",
                                     "write the database outside cases/ and sources/, e.g. --db kb.db")
    if not path.parent.exists():
        raise DatabaseNotChanged(text, f"folder {path.parent} does not exist", "create it first, or choose another --db")
    if not path.parent.is_dir():
        raise DatabaseNotChanged(text, f"{path.parent} is not a folder", "choose another --db")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise DatabaseNotChanged(text, "is a symbolic link (the build would replace what it points to)",
                                     "give the path of the file itself")
        if stat.S_ISDIR(info.st_mode):
            raise DatabaseNotChanged(text, "is a folder", f"give a file inside it, such as {text}/kb.db")
        if not stat.S_ISREG(info.st_mode):
            raise DatabaseNotChanged(text, "is not a regular file (a pipe, device or socket)", "choose another --db")
        if not force and not is_project_database(path):
            raise DatabaseNotChanged(text, "exists and is not a database `kb build` wrote",
                                     "choose another --db, or add --force to replace it")
    if not os.access(path.parent, os.W_OK):
        raise DatabaseNotChanged(text, f"folder {path.parent} is not writable", "check its permissions, or choose another --db")
    return path


@contextlib.contextmanager
def build_lock(output: Path):
    """One build at a time per database: an advisory lock on a hidden file beside it. The file stays
    (removing a lock file another process may be opening would let two builds hold 'the' lock)."""
    lock_path = output.with_name(f".{output.name}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as err:
        raise _write_failure(output, err) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise DatabaseNotChanged(output, f"another build of this database is running (process {holder})",
                                 "wait for it to finish, then build again") from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_stale_temporaries(output: Path) -> list[Path]:
    """Temporary files of builds that were killed (kill -9, power cut) before their clean-up ran.
    Called with the lock held, so no live build of this database owns any of them."""
    removed = []
    for stale in output.parent.glob(f"{glob.escape(output.name)}.tmp-*"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
            removed.append(stale)
    return removed


def _write_failure(output: Path, err: BaseException) -> DatabaseNotChanged:
    reason = getattr(err, "strerror", None) or str(err)
    number = getattr(err, "errno", None)
    if number in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) or "full" in reason.lower():
        fix = "free some disk space, then build again"
    elif number == errno.EIO or "i/o" in reason.lower():  # how SQLite reports a write the disk refused
        fix = "free some disk space and check the disk, then build again"
    else:
        fix = "check that the folder is writable, or choose another --db"
    return DatabaseNotChanged(output, f"could not write the new database ({' '.join(reason.split())})", fix)


@contextlib.contextmanager
def _stop_cleanly_on_signals():
    """SIGTERM and SIGHUP raise BuildStopped, so the temporary file is removed as on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise BuildStopped(f"stopped by {signal.Signals(signum).name}")

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def build(root: Path, output: Path, model: str | None = None, progress: bool = True,
          embedder: Embedder | None = None, force: bool = False) -> BuildReport:
    """Validate everything under root and write output; on any problem raise BuildFailed (or
    DatabaseNotChanged) and leave output untouched."""
    started = time.perf_counter()
    found = discover(root)
    embedder = embedder or Embedder(model)
    basis = _code_basis(embedder.name)
    inputs = _inputs(root, found["source"] + found["case"], basis)
    same = _unchanged(Path(output).resolve(), inputs)
    if same is not None:
        output = check_output(root, output, force)
        with build_lock(output):
            remove_stale_temporaries(output)  # what killed builds left, even when nothing is rebuilt
        same.seconds = time.perf_counter() - started
        return same
    records, problems = check_collection(found["source"] + found["case"], root)
    if problems:
        raise BuildFailed(problems)
    output = check_output(root, output, force)
    with _stop_cleanly_on_signals(), build_lock(output):
        remove_stale_temporaries(output)
        temp = output.with_name(f"{output.name}.tmp-{os.getpid()}")
        try:
            db = sqlite_utils.Database(temp)
            db.conn.execute("pragma journal_mode = off")  # a scratch file: durability comes from the swap
            with tqdm(total=4, desc="building", disable=not progress, unit="step") as bar:
                parts = _write_tables(db, records, file_dates(root))
                write_postings(db.conn)
                bar.update(1)
                n_chunks, embedded, reused = _write_embeddings(db, parts, output, embedder, progress)
                write_codes(db.conn)
                bar.update(1)
                similar = _write_similar(db, output, basis)
                db["kb_meta"].insert({"key": "build_inputs", "value": json.dumps(inputs)}, pk="key", replace=True)
                bar.update(1)
                db["build_info"].insert({"built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                         "model": embedder.name, "cases": len(parts["cases"]),
                                         "sources": len(parts["sources"]), "lessons": len(parts["lessons"]),
                                         "chunks": n_chunks, "chunks_embedded": embedded, "chunks_reused": reused})
                db.conn.commit()
                db.vacuum()
                db.close()
                bar.update(1)
            os.replace(temp, output)
        except OSError as err:
            if err.errno not in DISK_ERRNOS:
                raise
            raise _write_failure(output, err) from None
        except sqlite3.Error as err:
            if not any(words in str(err).lower() for words in WRITE_FAILURES):
                raise
            raise _write_failure(output, err) from None
        finally:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
    savings = sum(len(r.data["savings"]) for r in parts["cases"])
    return BuildReport(output, len(parts["cases"]), len(parts["sources"]), len(parts["lessons"]), savings,
                       n_chunks, embedded, reused, time.perf_counter() - started, similar_computed=similar)
