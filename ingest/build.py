"""The whole build: validated case and source files -> one SQLite file, written aside and swapped in.

Read top to bottom: validate, turn records into rows, write tables, full-text indexes, embeddings
(reusing vectors whose text and model are unchanged), precomputed similar cases, then swap."""
from __future__ import annotations

import collections
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
import shutil
import signal
import sqlite3
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import sqlite_utils
from tqdm import tqdm

from kb import arrays
from kb.abbreviations import load_abbreviations
from kb.shorthand import load_shorthand
from kb.thesaurus import load_thesaurus
from kb.embedding import LABEL_VECTORS, Embedder
from kb.history import file_dates, review_due
from kb.parse import Problem, plain_text
from kb.questions import questions_by_lesson
from kb.schema import SQL_TYPES, Table, facets, lessons_section, summary_section, tables
from kb.site import is_project_database, ro_uri
from kb.site_metadata import facet_catalogue, site_metadata
from kb.validate import Record, check_collection, discover, strays
from kb.amounts import period_unstated, printed_period, printed_range
from kb.vocabulary import load_vocabularies

from . import patch
from .cache import RecordCache, cache_path, code_digest, record_basis
from .chunks import TAG_PASSAGES, Chunk, case_chunks, finding_chunks, label_chunks, tags_chunk
from .codes import write_codes
from .postings import patch_postings, rows_terms, write_postings
from .spelling import TABLE as SPELLING, patch_words, rows_words, write_spelling_words
from .acronyms import TABLE as ACRONYMS, patch_acronyms, rows_acronyms, write_acronyms
from .similar import write_similar as _write_similar
from .texts import write_source_lines
from .tokens import write_token_vectors

# chunks to a row of vector_blocks: a row is a page of the site too, so its vectors (float16, 384 of
# them a chunk: 786 KB) stay under the longest value the site reads (kb/site.py max_value_bytes)
VECTOR_BLOCK = 1024


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
    patched: int | None = None  # cases rewritten in a copy of the previous database (None: written afresh)


FREE_SHARE = 0.1  # see build(): the share of empty pages past which a patched copy is vacuumed


def _money(amount: float) -> str:
    if amount >= 1_000_000:
        return f"£{amount / 1_000_000:,.{0 if amount % 1_000_000 == 0 else 1}f} million"
    return f"£{amount:,.0f}"


# A printed period that only says "yearly", and one that says nothing: the headline words them itself.
YEARLY_WORDS = re.compile(r"(?:a|per|each|every) (?:year|annum)|annual(?:ly)?|yearly|p\.?a\.?", re.I)


# The words the text puts before its amount that the amount alone would drop ("just under £10m" is not
# £10m), every one of them ("approximately up to £2million")
QUALIFIER = re.compile(r"\b((?:(?:just under|just over|nearly|almost|around|about|approximately|roughly|up to|over|"
                       r"more than|less than|at least|in excess of|some|circa)\s+)+)£", re.I)


def uncontradicted(figures: list[dict]) -> list[dict]:
    """The figures no one contradicts (a report whose summary box says a target was met while its
    own table says a quarter of it was: the box's figure had headed the case, its sort and its charts),
    or all of them where every one is."""
    return [f for f in figures if not f.get("contradicted")] or figures


def headline_saving(figures: list[dict]) -> str | None:
    """The saving a reader should see first, in words: the largest achieved yearly saving, else the
    largest achieved one, else the largest planned or projected one, always with period and status;
    a figure its own report contradicts only where every one is."""
    savings = uncontradicted(_savings(figures))
    best = min(savings, key=lambda f: ({"achieved": 0}.get(f["status"], 1), not f["per_year"], -f["amount"]), default=None)
    if best is None:
        return None
    printed = printed_period(best["period"])
    status = load_vocabularies()["figure_statuses"].label_of(best["status"]).lower()
    # a range reads as printed ("£2-3 million"); its amount, the lower end, only ranks it
    amount = printed_range(best.get("text")) or _money(best["amount"])
    qualified = QUALIFIER.search(best.get("text") or "")
    if qualified:
        amount = f"{' '.join(qualified.group(1).lower().split())} {amount}"
    if best["per_year"]:
        # "a year" says it already: "£2 million a year, achieved (per year)" said it twice
        said = "" if YEARLY_WORDS.fullmatch(printed) else f" ({printed})"
        return f"{amount} a year, {status}{said}"
    if period_unstated(best["period"]):
        return f"{amount}, {status} (period not stated)"  # not "£2.6 million not stated"
    return f"{amount} {printed}, {status}"


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
    savings = uncontradicted(_savings(data["savings"]))
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
        "body_html": "\n".join(f"<h2>{html.escape(s.heading)}</h2>\n"
                               + (lesson_anchors(s.html) if s.heading == lessons_section() else s.html)
                               for s in record.sections),
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


def lesson_anchors(section_html: str) -> str:
    """The Lessons section's HTML with each top-level bullet named as its lesson's id names it
    (`id="lesson-2"` for case#lesson-2), so a lesson found by search, or cited, links to itself; and
    numbered, as "lesson 2" in a link or a citation says (the bullets bore no number)."""
    depth, n, out = 0, 0, []
    for piece in re.split(r"(</?(?:ul|ol|li)\b[^>]*>)", section_html):
        if re.match(r"<(?:ul|ol)\b", piece):
            depth += 1
            if depth == 1:  # a second list after a paragraph goes on counting
                piece = "<ol" + (f' start="{n + 1}"' if n else "") + piece[3:]
        elif re.match(r"</(?:ul|ol)>", piece):
            if depth == 1:
                piece = "</ol>"
            depth -= 1
        elif depth == 1 and re.match(r"<li\b", piece):
            n += 1
            piece = piece[:3] + f' id="lesson-{n}"' + piece[3:]
        out.append(piece)
    return "".join(out)


def _lesson_rows(table: Table, cases: list[Record], sources: list[Record], titles: dict[str, str] | None = None
                 ) -> list[dict]:
    """A case's lessons take the case's facets; a report's findings have only their own. `titles`:
    every report's title by id (by default those of `sources`; a patch rewrites no report's findings)."""
    rows = []
    titles = titles if titles is not None else {r.id: r.data["title"] for r in sources}
    for r in cases:
        section = next((s for s in r.sections if s.heading == lessons_section()), None)
        # a case's lesson is drawn from the case as its reports tell it: where they do (the file's own
        # line, "cases/x.md:146", told a reader nothing of where to look in a report)
        where = "; ".join(f"{titles.get(c['id'], c['id'])}, {c['section']}, lines {c['lines']}" for c in r.data["sources"])
        lessons = [text for _line, text in section.bullets] if section else []
        asked = questions_by_lesson(r.data.get("lesson_questions"), lessons)
        for i, text in enumerate(lessons):
            rows.append(_row(table, {}, {"id": f"{r.id}#lesson-{i + 1}", "case_id": r.id, "source_id": None,
                                         "title": r.data["title"], "theme": None, "text": text,
                                         "questions": asked[i], "where_in_source": where}, r.data))
    for r in sources:
        for i, f in enumerate(r.data["findings"]):
            own = {"key_attributes": f.get("key_attributes") or [], "sources": [{"id": r.id}]}
            rows.append(_row(table, {}, {"id": f"{r.id}#finding-{i + 1}", "case_id": None, "source_id": r.id,
                                         "title": r.data["title"], "theme": f["theme"], "text": f["text"],
                                         "questions": f.get("questions") or [], "where_in_source": f["where"]}, own))
    return rows


def _cited_by(cases: list[Record], sources: list[Record]) -> dict[str, int]:
    counts = collections.Counter(i for c in cases for i in {s["id"] for s in c.data["sources"]})
    return {r.id: counts[r.id] for r in sources}


def case_rows(cases: list[Record], history: dict[str, tuple[str, str]]) -> dict[str, Iterable[dict]]:
    """Every row these cases give, by table (lessons aside: see _lesson_rows), made as they are written."""
    declared = tables()
    out: dict[str, Iterable[dict]] = {"cases": (_case_row(r, declared["cases"], history) for r in cases)}
    # Tables of a case's list items: organisations, figures (the `savings` field) and case_sources
    for table in declared.values():
        kind, _, field = table.rows.partition(".")
        if kind == "case" and field:
            out[table.name] = _item_rows(table, field, cases)
    out["sections"] = ({"id": f"{r.id}/{i + 1}", "case_id": r.id, "position": i + 1, "heading": s.heading,
                        "markdown": s.markdown, "html": s.html, "line": s.line} for r in cases for i, s in enumerate(r.sections))
    return out


def _item_rows(table: Table, field: str, cases: list[Record]) -> Iterable[dict]:
    def computed(r: Record, i: int, item: dict) -> dict:
        # a figure counts towards its case's headline, achieved yearly saving and charts unless its own
        # report contradicts it while the case has a saving no one contradicts (see uncontradicted)
        counted = (not item.get("contradicted") or all(f.get("contradicted") for f in _savings(r.data[field]))
                   if field == "savings" else None)
        values = {"id": f"{r.id}#{i + 1}", "case_id": r.id, "position": i + 1, "counted": counted}
        return {k: v for k, v in values.items() if k in table.names and not table.column(k).field}
    return (_row(table, item, computed(r, i, item)) for r in cases for i, item in enumerate(r.data[field]))


def _savings(figures: list[dict]) -> list[dict]:
    """The savings given in pounds, which the headline and the achieved yearly saving are chosen from."""
    return [f for f in figures if f["kind"] == "saving" and f.get("amount") is not None]


def source_rows(sources: list[Record], cited_by: dict[str, int]) -> Iterable[dict]:
    table = tables()["sources"]
    return (_row(table, r.data, {"summary_html": "\n".join(s.html for s in r.sections), "cases_count": cited_by[r.id],
                                 "path": r.document.display}) for r in sources)


def term_rows() -> Iterable[dict]:
    table = tables()["terms"]
    return (_row(table, {}, {"vocabulary": v.key, "vocabulary_label": v.label, "slug": t.slug, "label": t.label,
                             "definition": t.definition, "aliases": list(t.aliases), "family": t.family,
                             "synonyms": list(t.synonyms), "other_kinds_label": t.other_kinds_label})
            for v in load_vocabularies().values() for t in v.terms.values())


def _write_tables(db: sqlite_utils.Database, records: list[Record], history: dict[str, tuple[str, str]]) -> dict[str, list]:
    sources = [r for r in records if r.kind == "source"]
    cases = [r for r in records if r.kind == "case"]
    declared = tables()
    # referenced tables first, so foreign keys resolve
    for table in sorted(declared.values(), key=lambda t: any(c.references for c in t.columns)):
        _create(db, table)
    db["terms"].insert_all(term_rows())
    db["sources"].insert_all(source_rows(sources, _cited_by(cases, sources)))
    for name, rows in case_rows(cases, history).items():
        if name == "sections":
            db["sections"].insert_all(rows, pk="id", foreign_keys=[("case_id", "cases", "id")])
        else:
            db[name].insert_all(rows)
    lessons = _lesson_rows(declared["lessons"], cases, sources)
    db["lessons"].insert_all(lessons)
    for table in declared.values():
        if table.fts:
            db[table.name].enable_fts([c.name for c in table.fts], tokenize="porter", create_triggers=False)
    write_term_documents(db)
    for table in declared.values():
        for column in table.columns:
            if column.references and column.name not in table.pk[:1]:
                db[table.name].create_index([column.name])
    db["sections"].create_index(["case_id"])
    _write_site_metadata(db)
    return {"cases": cases, "sources": sources, "lessons": lessons}


def write_term_documents(db: sqlite_utils.Database) -> None:
    """How many documents hold each (stemmed) term, so search can set aside words that are in most
    documents ("council") the way a stopword list would, but learnt from the corpus."""
    db.execute("drop table if exists term_documents")
    db["term_documents"].create({"collection": str, "term": str, "documents": int}, pk=("collection", "term"))
    for table in tables().values():
        if table.fts:
            db.execute(f"create virtual table temp.{table.name}_vocab using fts5vocab(main, {table.name}_fts, 'row')")
            db.execute(f"insert into term_documents select '{table.name}', term, doc from temp.{table.name}_vocab")
            db.execute(f"drop table temp.{table.name}_vocab")


def _write_site_metadata(db: sqlite_utils.Database) -> None:
    """What the site needs to know of the declarations, so it reads only the database it serves."""
    db["kb_meta"].insert_all([{"key": "site_metadata", "value": json.dumps(site_metadata())},
                              {"key": "facets", "value": json.dumps(facet_catalogue())},
                              {"key": "abbreviations", "value": json.dumps(load_abbreviations())},
                              {"key": "thesaurus", "value": json.dumps(load_thesaurus())},
                              {"key": "shorthand", "value": json.dumps(load_shorthand())}], pk="key")


def _old_vectors(path: Path, model: str) -> dict[str, bytes]:
    """Vectors of the previous build by content hash, for the same model only."""
    if not path.exists():
        return {}
    try:
        conn = sqlite3.connect(ro_uri(path), uri=True)
        rows = conn.execute("select content_hash, vector from chunks where model = ?", [model]).fetchall()
        for table in (TAG_PASSAGES, LABEL_VECTORS):
            with contextlib.suppress(sqlite3.OperationalError):  # a database from before the table
                rows += conn.execute(f"select content_hash, vector from {table} where model = ?", [model]).fetchall()
        conn.close()
        return dict(rows)
    except sqlite3.Error:
        return {}


def insert_tag_chunks(db, chunks: list[Chunk], vectors_by_hash: dict[str, bytes], model: str) -> None:
    db[TAG_PASSAGES].insert_all(({"case_id": c.case_id, "text": c.text, "content_hash": c.content_hash, "model": model,
                                  "vector": vectors_by_hash[c.content_hash]} for c in chunks), pk="case_id",
                                foreign_keys=[("case_id", "cases", "id")], columns={"vector": bytes})


def insert_label_vectors(db, labels: list[Chunk], vectors_by_hash: dict[str, bytes], model: str) -> None:
    db[LABEL_VECTORS].insert_all(({"term": c.id, "label": c.text, "content_hash": c.content_hash, "model": model,
                                   "vector": vectors_by_hash[c.content_hash]} for c in labels), pk="term",
                                 columns={"vector": bytes})


def chunks_of(cases: list[Record], lessons: list[dict]) -> list[Chunk]:
    """The passages these cases and lessons (a report's findings among them) are embedded as, in the
    order they are stored: a document's chunks in order, which is the order search reads them in."""
    by_case: dict[str, list[tuple[str, str]]] = {}
    for lesson in lessons:
        by_case.setdefault(lesson["case_id"], []).append((lesson["id"], lesson["text"], lesson["questions"]))
    chunks: list[Chunk] = []
    for r in cases:
        chunks += case_chunks(r.id, r.data["title"], r.sections, by_case.get(r.id, []))
    chunks += [c for l in lessons if l["source_id"] for c in finding_chunks(l["id"], l["theme"], l["text"], l["questions"])]
    return chunks


def embed_chunks(chunks: list[Chunk], old: dict[str, bytes], embedder: Embedder, progress: bool) -> tuple[dict[str, bytes], int]:
    """Each chunk's vector by content hash: the old one where the text is unchanged, else embedded
    now; and how many were embedded."""
    todo = [c for c in chunks if c.content_hash not in old]
    fresh: dict[str, bytes] = {}
    if todo:
        vectors = embedder.encode([c.text for c in todo], progress=progress)
        fresh = {c.content_hash: v.tobytes() for c, v in zip(todo, vectors)}
    return {**old, **fresh}, len(todo)


def insert_chunks(db, chunks: list[Chunk], vectors_by_hash: dict[str, bytes], model: str) -> None:
    dims = len(next(iter(vectors_by_hash.values()))) // 4 if vectors_by_hash else 0
    db["chunks"].insert_all(({"id": c.id, "case_id": c.case_id, "lesson_id": c.lesson_id, "kind": c.kind,
                              "position": c.position, "text": c.text, "content_hash": c.content_hash,
                              "model": model, "dimensions": dims, "vector": vectors_by_hash[c.content_hash]}
                             for c in chunks), pk="id",
                            foreign_keys=[("case_id", "cases", "id"), ("lesson_id", "lessons", "id")],
                            columns={"case_id": str, "lesson_id": str, "vector": bytes})


def _write_embeddings(db, parts, old_db: Path, embedder: Embedder, progress: bool) -> tuple[int, int, int]:
    chunks = chunks_of(parts["cases"], parts["lessons"])
    tags = [tags_chunk(r) for r in parts["cases"]]
    old = _old_vectors(old_db, embedder.name)
    vectors_by_hash, embedded = embed_chunks(chunks + tags, old, embedder, progress)
    insert_chunks(db, chunks, vectors_by_hash, embedder.name)
    insert_tag_chunks(db, tags, vectors_by_hash, embedder.name)
    labels = label_chunks()  # not passages: left out of the counts the build reports
    insert_label_vectors(db, labels, embed_chunks(labels, old, embedder, False)[0], embedder.name)
    # a document's passages by its id: a rebuild that patches a lesson reads its passages, and those
    # of any document cut across two rows of vector_blocks, by lesson_id (10.5 s of 14.6 at 10,000 cases)
    db["chunks"].create_index(["case_id"])
    db["chunks"].create_index(["lesson_id"])
    _write_vector_blocks(db)
    return len(chunks) + len(tags), embedded, len(chunks) + len(tags) - embedded


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


def _code_basis(model: str, code: str) -> str:
    """What every output row depends on besides the files: the builder's code and the declarations
    (ingest/cache.py, code_digest) and the model."""
    return hashlib.sha256(model.encode() + code.encode()).hexdigest()


def _under_root(path: Path) -> str:
    """A discovered file's path under the root: its folder and name (kb.validate.discover)."""
    return f"{path.parent.name}/{path.name}"


def _file_hashes(paths: list[Path]) -> dict[str, str]:
    """Each file's content hash by its path under the root."""
    return {_under_root(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


def _inputs(root: Path, hashes: dict[str, str], basis: str) -> str:
    """A hash of everything a build reads: the files (by content), their git dates, today's date
    (review_due) and the code basis. The same hash means the same database."""
    digest = hashlib.sha256(f"{basis}|{datetime.date.today().isoformat()}|".encode())
    digest.update(json.dumps(file_dates(root), sort_keys=True).encode())
    for path, content in hashes.items():
        digest.update(path.encode() + b"\0" + bytes.fromhex(content))
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


def _patch_tables(db, changed: list[Record], records: list[Record], history, embedder: Embedder,
                  progress: bool) -> tuple[int, int, int]:
    """On a copy of the previous database: replace the changed cases' rows and passages (see
    ingest/patch.py), then recompute what derives from every row."""
    cases = [r for r in records if r.kind == "case"]
    sources = [r for r in records if r.kind == "source"]
    patch.mark_changed(db, changed)
    mine = f"case_id in (select id from {patch.PATCHED})"
    old_chunks = patch.owned_chunk_ids(db)
    old: dict[str, bytes] = {}
    for start in range(0, len(old_chunks), 500):
        ids = old_chunks[start:start + 500]
        old.update(db.execute(f"select content_hash, vector from chunks where id in ({','.join('?' * len(ids))})", ids))
        db.execute(f"delete from chunks where id in ({','.join('?' * len(ids))})", ids)
    declared = tables()
    # the rows replaced (their passages, vectors and full-text postings change), and the terms they
    # hold before they are
    indexed = {"cases": f"id in (select id from {patch.PATCHED})", "lessons": mine}
    has = {r[0] for r in db.execute("select name from sqlite_master where name in (?, ?, ?, ?, ?)",
                                    ["term_postings", "pair_postings", "vector_codes", SPELLING, ACRONYMS])}
    postings = {"term_postings", "pair_postings"} <= has
    replaced = {c: [r[0] for r in db.execute(f"select rowid from {c} where {where}")] for c, where in indexed.items()}
    before = {c: rows_terms(db.conn, c, ids) for c, ids in replaced.items()} if postings else {}
    words_before = rows_words(db.conn, indexed) if SPELLING in has else None
    acronyms_before = rows_acronyms(db.conn, indexed) if ACRONYMS in has else None
    for name, rows in case_rows(changed, history).items():
        where = f"id in (select id from {patch.PATCHED})" if name == "cases" else mine
        pk = declared[name].pk if name in declared else ("id",)
        patch.replace_rows(db, name, where, rows, pk, patch.declared_fts(name) if name in declared else [])
    patch.replace_rows(db, "sources", "1", source_rows(sources, _cited_by(cases, sources)), declared["sources"].pk)
    lessons = _lesson_rows(declared["lessons"], changed, [], {r.id: r.data["title"] for r in sources})
    patch.replace_rows(db, "lessons", mine, lessons, declared["lessons"].pk, patch.declared_fts("lessons"))
    write_term_documents(db)
    if words_before is not None:
        patch_words(db.conn, words_before, rows_words(db.conn, indexed))
    else:
        write_spelling_words(db.conn)
    if acronyms_before is not None:
        patch_acronyms(db.conn, acronyms_before, rows_acronyms(db.conn, indexed))
    else:
        write_acronyms(db.conn)
    chunks = chunks_of(changed, lessons)
    tags = [tags_chunk(r) for r in changed]
    old.update(db.execute(f"select content_hash, vector from {TAG_PASSAGES} where {mine}").fetchall())
    db.execute(f"delete from {TAG_PASSAGES} where {mine}")
    vectors_by_hash, embedded = embed_chunks(chunks + tags, old, embedder, progress)
    insert_chunks(db, chunks, vectors_by_hash, embedder.name)
    insert_tag_chunks(db, tags, vectors_by_hash, embedder.name)
    for collection, key in (("cases", "case_id"), ("lessons", "lesson_id")):
        # a patch keeps the rows' rowids
        patch.patch_vector_blocks(db, collection, key, np.array(replaced[collection], dtype=np.int64), VECTOR_BLOCK)
    for collection, terms in before.items():
        patch_postings(db.conn, collection, replaced[collection], terms)
    # a database from before postings or codes were written gets them whole
    if not postings:
        write_postings(db.conn)
    if "vector_codes" not in has:
        write_codes(db.conn)
    total = db.execute(f"select (select count(*) from chunks) + (select count(*) from {TAG_PASSAGES})").fetchone()[0]
    db.execute("drop table build_info")
    return total, embedded, total - embedded


def _lesson_ids(cases: list[Record]) -> list[tuple[str, str]]:
    return [(row["case_id"], row["id"]) for row in _lesson_rows(tables()["lessons"], cases, [])]


def _write_build_files(db, hashes: dict[str, str]) -> None:
    """Each file's content hash, so the next build can tell which files changed (ingest/patch.py)."""
    db.execute("drop table if exists build_files")
    db["build_files"].create({"path": str, "content_hash": str}, pk="path")
    db["build_files"].insert_all({"path": p, "content_hash": h} for p, h in hashes.items())


def _record_cache(root: Path, output, force: bool, code: str) -> RecordCache | None:
    """The record cache beside the database, where the build may write the database at all."""
    try:
        return RecordCache(cache_path(check_output(root, output, force)), record_basis(code))
    except DatabaseNotChanged:
        return None


def build(root: Path, output: Path, model: str | None = None, progress: bool = True,
          embedder: Embedder | None = None, force: bool = False) -> BuildReport:
    """Validate everything under root and write output; on any problem raise BuildFailed (or
    DatabaseNotChanged) and leave output untouched. Unchanged files are not validated again (their
    records are cached, ingest/cache.py), and when only a few cases changed, the previous database
    is copied and patched (ingest/patch.py) instead of every table being written afresh."""
    started = time.perf_counter()
    found = discover(root)
    misplaced = strays(root)
    if misplaced:  # before the no-change check: a case saved as x.MD changes none of the files it hashes
        raise BuildFailed(misplaced)
    embedder = embedder or Embedder(model)
    code = code_digest()
    basis = _code_basis(embedder.name, code)
    hashes = _file_hashes(found["source"] + found["case"])
    inputs = _inputs(root, hashes, basis)
    same = _unchanged(Path(output).resolve(), inputs)
    if same is not None:
        output = check_output(root, output, force)
        with build_lock(output):
            remove_stale_temporaries(output)  # what killed builds left, even when nothing is rebuilt
        same.seconds = time.perf_counter() - started
        return same
    cache = _record_cache(root, output, force, code)
    try:
        return _build(root, output, force, found, cache, embedder, basis, hashes, inputs, progress, started)
    finally:
        if cache is not None:
            cache.close()


def _build(root: Path, output, force: bool, found, cache, embedder, basis: str, hashes: dict[str, str], inputs: str,
           progress: bool, started: float) -> BuildReport:
    """build() once it knows something changed: check, then patch a copy or write afresh, then swap."""
    records, problems = check_collection(found["source"] + found["case"], root, cache=cache)
    if cache is not None:
        cache.save(prune=not problems)
    if problems:
        raise BuildFailed(problems)
    output = check_output(root, output, force)
    history = file_dates(root)
    cases = [r for r in records if r.kind == "case"]
    with _stop_cleanly_on_signals(), build_lock(output):
        remove_stale_temporaries(output)
        temp = output.with_name(f"{output.name}.tmp-{os.getpid()}")
        try:
            keyed = {_under_root(r.document.path): r for r in records}
            changed = patch.changed_cases(output, keyed, hashes, history, basis, _lesson_ids)
            with tqdm(total=4, desc="patching" if changed is not None else "building", disable=not progress,
                      unit="step") as bar:
                if changed is not None:
                    shutil.copyfile(output, temp)
                    db = sqlite_utils.Database(temp)
                    db.conn.execute("pragma journal_mode = off")  # a scratch file: durability comes from the swap
                    bar.update(1)
                    # postings and int8 codes are patched with the rows and vector blocks they come from
                    n_chunks, embedded, reused = _patch_tables(db, changed, records, history, embedder, progress)
                else:
                    db = sqlite_utils.Database(temp)
                    db.conn.execute("pragma journal_mode = off")
                    parts = _write_tables(db, records, history)
                    write_postings(db.conn)
                    write_spelling_words(db.conn)
                    write_acronyms(db.conn)
                    bar.update(1)
                    n_chunks, embedded, reused = _write_embeddings(db, parts, output, embedder, progress)
                    write_codes(db.conn)
                write_token_vectors(db, output if changed is None else None, embedder)
                # written afresh either way: a few thousand rows (ingest/texts.py)
                write_source_lines(db, root, [r for r in records if r.kind == "source"])
                bar.update(1)
                similar = _write_similar(db, output, basis, None if changed is None else [r.id for r in changed])
                db["kb_meta"].insert({"key": "build_inputs", "value": json.dumps(inputs)}, pk="key", replace=True)
                # what the arrays search saves beside the file are keyed by (kb/arrays.py)
                db["kb_meta"].insert({"key": "build_id", "value": json.dumps(arrays.new_build_id())}, pk="key",
                                     replace=True)
                _write_build_files(db, hashes)
                bar.update(1)
                lessons = db.execute("select count(*) from lessons").fetchone()[0]
                db["build_info"].insert({"built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                         "model": embedder.name, "cases": len(cases),
                                         "sources": len(records) - len(cases), "lessons": lessons,
                                         "chunks": n_chunks, "chunks_embedded": embedded, "chunks_reused": reused})
                db.conn.commit()
                free, pages = (db.execute(f"pragma {p}").fetchone()[0] for p in ("freelist_count", "page_count"))
                # a patched copy keeps its layout (vacuuming would rewrite every page), unless a change
                # left a tenth of it empty (a huge case taken out again: 10.8 MB stayed 14.2 MB)
                if changed is None or free > pages * FREE_SHARE:
                    db.vacuum()
                db.close()
                bar.update(1)
            os.replace(temp, output)
            arrays.remove_stale(output)
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
    savings = sum(len(r.data["savings"]) for r in cases)
    return BuildReport(output, len(cases), len(records) - len(cases), lessons, savings, n_chunks, embedded, reused,
                       time.perf_counter() - started, similar_computed=similar,
                       patched=None if changed is None else len(changed))
