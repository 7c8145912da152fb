"""Near-duplicate cases: a case very like another by meaning, or by organisation and title.

By meaning: the cosine of two cases' mean vectors (their passages' and their tags' in words, as the
build stores them in case_vectors),
with the model the database was built with. A case's chunks already in the database reuse their
stored vectors (by content hash); only new or changed chunks are embedded.

The thresholds were chosen on the corpus (README, "Near-duplicates"): with all-MiniLM-L6-v2 the most
alike pair of distinct cases scores 0.879 (two community-budget pilots; 0.883 before the tags joined), while a copy of a case with
a few words changed scores 0.96 and above; the most alike titles of distinct cases match 0.79.

Compared with the last build, too: a case the database holds but cases/ no longer does (withdrawn, or
renamed) is no near-duplicate of anything, and another case that still names it by its id is told."""
from __future__ import annotations

import difflib
import re
import sqlite3
from pathlib import Path

import numpy as np

from kb.citations import line_set, where_lines
from kb.embedding import Embedder
from kb.parse import Problem
from kb.schema import lessons_section
from kb.validate import Record

from .chunks import TAG_PASSAGES, case_chunks, tags_chunk

COSINE_WARN = 0.92
TITLE_WARN = 0.9


def _organisations(record: Record) -> set[str]:
    # anonymised names ("Anonymised London borough") say nothing about which council it is
    return {" ".join(o["name"].casefold().split()) for o in record.data["organisations"] if not o.get("anonymised")}


def _warning(record: Record, other: str, why: str) -> Problem:
    return Problem(record.document.display, record.document.line_of(("title",)), f"very like {other} ({why})",
                   "if it is the same initiative, add what is new to that file instead; if not, make the title "
                   "and summary say what differs")


def once(warnings: list[Problem], kept: list[Problem]) -> list[Problem]:
    """The warnings of pairs `kept` does not warn of (a copy, alike in every way, is warned of once):
    a pair is a case and the other case its _warning names."""
    pair = lambda w: (w.path, w.message.split(" (", 1)[0])
    said = {pair(w) for w in kept}
    return [w for w in warnings if pair(w) not in said]


def by_organisation(checked: list[Record], corpus: list[Record]) -> list[Problem]:
    """Same (named) organisation and a near-identical title, or the same passage of the same report
    (see by_citation)."""
    out = []
    for n, record in enumerate(checked):
        mine = _organisations(record)
        earlier = {r.id for r in checked[:n + 1]}  # a pair of checked cases is reported once
        for other in corpus:
            if other.id in earlier or not mine & _organisations(other):
                continue
            ratio = difflib.SequenceMatcher(None, record.data["title"].casefold(), other.data["title"].casefold()).ratio()
            if ratio >= TITLE_WARN:
                out.append(_warning(record, other.document.display,
                                    f"same organisation, titles {ratio:.2f} alike; warned from {TITLE_WARN}"))
            elif why := by_citation(record, other):
                out.append(_warning(record, other.document.display, why))
    return out


# A case re-recording part of another under a new title scored 0.84 by meaning and 0.51 by title: the
# same organisation citing mostly the same lines of the same report tells it (the corpus's most
# overlapping pair of distinct initiatives of one council shares 50% and 33% of its lines)
LINES_WARN = 0.6


def by_citation(record: Record, other: Record) -> str | None:
    """Why two cases of one organisation look like one initiative by what they cite: each citing mostly
    the same lines of a report, or one figure (the same text at the same line); else None."""
    def cited(r: Record) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for src in r.data["sources"]:
            out.setdefault(src["id"], set()).update(line_set(src["lines"]))
        return out

    def figures(r: Record) -> list[tuple]:
        return [(f["source"], " ".join(f["text"].casefold().split()), tuple(sorted(where_lines(f["where"]))))
                for f in r.data["savings"]]

    theirs_figures = set(figures(other))
    same = [f for f in figures(record) if f in theirs_figures]
    if same:
        source, text, lines = same[0]
        return f"same organisation, and the figure \"{text}\" of {source} at line {lines[0] if lines else '?'} in both"
    mine, theirs = cited(record), cited(other)
    for source in sorted(set(mine) & set(theirs)):
        shared = len(mine[source] & theirs[source])
        if mine[source] and theirs[source] and min(shared / len(mine[source]), shared / len(theirs[source])) >= LINES_WARN:
            return (f"same organisation, citing mostly the same lines of {source} ({shared} shared); warned from "
                    f"{LINES_WARN:.0%} of each")
    return None


def _stored(db_path: Path) -> tuple[str, dict[str, tuple[str, np.ndarray]], dict[str, bytes]]:
    """The database's model, its case vectors (id -> (path, vector)) and chunk vectors by content hash."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        model = conn.execute("select model from build_info").fetchone()[0]
        cases = {case_id: (path, np.frombuffer(vector, dtype=np.float32)) for case_id, path, vector in conn.execute(
            "select v.case_id, c.path, v.vector from case_vectors v join cases c on c.id = v.case_id")}
        chunks = dict(conn.execute("select content_hash, vector from chunks where model = ?", [model]))
        chunks.update(conn.execute(f"select content_hash, vector from {TAG_PASSAGES} where model = ?", [model]))
    finally:
        conn.close()
    return model, cases, chunks


def case_vector(record: Record, chunks: dict[str, bytes], embedder: Embedder) -> np.ndarray:
    """The normalised sum of the case's chunk vectors and its tags' in words, as the build computes it."""
    section = next((s for s in record.sections if s.heading == lessons_section()), None)
    lessons = [(f"{record.id}#lesson-{i + 1}", text, []) for i, (_, text) in enumerate(section.bullets if section else [])]
    # the passages that belong to the case (a lesson's text-alone passage and questions are lesson search's)
    mine = [c for c in case_chunks(record.id, record.data["title"], record.sections, lessons) if c.case_id]
    mine.append(tags_chunk(record))
    todo = [c for c in mine if c.content_hash not in chunks]
    fresh = dict(zip((c.content_hash for c in todo), embedder.encode([c.text for c in todo]))) if todo else {}
    total = sum(fresh[c.content_hash] if c.content_hash in fresh else np.frombuffer(chunks[c.content_hash], dtype=np.float32)
                for c in mine)
    return total / np.linalg.norm(total)


def by_meaning(checked: list[Record], db_path: Path, embedder: Embedder | None = None,
               current: set[str] | None = None) -> list[Problem]:
    """Cases whose meaning is within COSINE_WARN of another case in the database (or of each other);
    only those of the database still in cases/ (`current`, their ids), when it is given."""
    model, stored, chunks = _stored(db_path)
    if current is not None:  # a renamed case was "very like" its own old file, no longer there
        stored = {case_id: v for case_id, v in stored.items() if case_id in current}
    embedder = embedder or Embedder(model)
    if embedder.name != model:
        raise ValueError(f"{db_path} was built with {model}, not {embedder.name}")
    vectors = {r.id: (r.document.display, case_vector(r, chunks, embedder)) for r in checked}
    pool = {**stored, **vectors}
    out = []
    for n, record in enumerate(checked):
        mine = vectors[record.id][1]
        earlier = {r.id for r in checked[:n + 1]}  # a pair of checked cases is reported once
        for other_id, (path, vector) in pool.items():
            if other_id in earlier:
                continue
            score = float(mine @ vector)
            if score >= COSINE_WARN:
                out.append(_warning(record, path, f"similarity {score:.2f} by meaning; warned from {COSINE_WARN}"))
    return out


def gone_mentions(checked: list[Record], db_path: Path, current: set[str]) -> list[Problem]:
    """Each line of a checked case that names by its id a case the database holds but cases/ no longer
    does: the site links a case's id where it is written, and prints one no longer there as it is."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        gone = sorted({case_id for case_id, in conn.execute("select id from cases")} - current)
    finally:
        conn.close()
    if not gone:
        return []
    named = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, gone)) + r")(?![\w-])")
    out = []
    for record in checked:
        for n, line in enumerate(record.document.path.read_text(encoding="utf-8").splitlines(), 1):
            for case_id in dict.fromkeys(named.findall(line)):
                out.append(Problem(record.document.display, n,
                                   f"names the case '{case_id}', which is no longer in cases/ (withdrawn or renamed "
                                   "since the last build)",
                                   "write the id it was renamed to, or name it in words: the site would print the "
                                   "id as it is, linked to nothing"))
    return out
