"""A rebuild that patches a copy of the previous database when only a few cases changed: their rows
are replaced, their changed passages embedded, the derived tables (vector blocks, term counts)
recomputed, and the rest of the database kept as it was.

Patching is chosen only when it gives what a fresh build gives: the previous database was built by
the same code, declarations and model, from the same files, with the sources unchanged, and every
changed case keeps its lessons' ids. A replaced case or lesson keeps its rowid, so search reads the
documents in the order a fresh build stores them (ties and browse order stay the same); a changed
case's passages are stored again in their order. Anything else, or more than PATCH_SHARE of the
cases changed, is a fresh build."""
from __future__ import annotations

import datetime
import json
import sqlite3
from pathlib import Path

from kb.history import review_due
from kb.schema import tables
from kb.site import ro_uri
from kb.validate import Record

from .chunks import lesson_text_chunk

# Above this share of changed cases, writing every table afresh is about as quick as patching.
PATCH_SHARE = 0.1
PATCHED = "temp.patched_cases"


def changed_cases(old: Path, records: dict[str, Record], hashes: dict[str, str], history: dict[str, tuple[str, str]],
                  basis: str, lesson_ids) -> list[Record] | None:
    """The cases whose rows differ from the previous database's, when patching it gives what a
    fresh build gives (see the module's note); else None. `records` and `hashes` (the files'
    content hashes) are by path under the root; lesson_ids(cases) gives their lessons' (case id,
    lesson id) as a build stores them."""
    if not old.is_file() or set(records) != set(hashes):
        return None
    try:
        conn = sqlite3.connect(ro_uri(old), uri=True)
        try:
            stored = conn.execute("select value from kb_meta where key = 'similar_basis'").fetchone()
            if not stored or stored[0] != json.dumps(basis):
                return None
            files = dict(conn.execute("select path, content_hash from build_files"))
            if set(files) != set(hashes):
                return None
            edited = {path for path, digest in hashes.items() if files[path] != digest}
            if any(records[path].kind != "case" for path in edited):
                return None
            # a case's row also holds its git dates and whether it is due a review (by today's date)
            today = datetime.date.today()
            rows = {r[0]: r[1:] for r in conn.execute("select id, first_added, last_changed, review_due from cases")}
            changed = []
            for path, record in records.items():
                if record.kind != "case":
                    continue
                first, last = history.get(record.document.display, (None, None))
                due = int(review_due(record.data["reviewed"], today))
                if path in edited or rows.get(record.id) != (first, last, due):
                    changed.append(record)
            if len(changed) > max(1, PATCH_SHARE * len(rows)):
                return None
            if changed:
                conn.execute("create temp table patched_cases (id text primary key)")
                conn.executemany("insert into temp.patched_cases values (?)", ((r.id,) for r in changed))
                before: dict[str, list[str]] = {}
                for case_id, lesson in conn.execute(f"select case_id, id from lessons where case_id in "
                                                    f"(select id from {PATCHED}) order by rowid"):
                    before.setdefault(case_id, []).append(lesson)
                after: dict[str, list[str]] = {}
                for case_id, lesson in lesson_ids(changed):
                    after.setdefault(case_id, []).append(lesson)
                if before != after:
                    return None
            return changed
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def mark_changed(db, changed: list[Record]) -> None:
    db.execute(f"create temp table if not exists patched_cases (id text primary key)")
    db.execute(f"delete from {PATCHED}")
    db.conn.executemany(f"insert into {PATCHED} values (?)", ((r.id,) for r in changed))


def replace_rows(db, table: str, where: str, rows, pk: tuple[str, ...], fts: list[str] = ()) -> None:
    """Replace the rows matching `where` with `rows`: a row whose primary key was there keeps its
    rowid; the table's full-text index (external content, so it is told what is removed) follows."""
    key = ", ".join(pk)
    keep = {tuple(r[:-1]): r[-1] for r in db.execute(f"select {key}, rowid from {table} where {where}").fetchall()}
    columns = ", ".join(fts)
    if fts:
        db.execute(f"insert into {table}_fts({table}_fts, rowid, {columns}) "
                   f"select 'delete', rowid, {columns} from {table} where {where}")
    db.execute(f"delete from {table} where {where}")
    placed = []
    for row in rows:
        rowid = keep.get(tuple(row[c] for c in pk))
        placed.append({"rowid": rowid, **row} if rowid is not None else row)
    if placed:
        db[table].insert_all(placed)
    if fts:
        db.execute(f"insert into {table}_fts(rowid, {columns}) select rowid, {columns} from {table} where {where}")


def owned_chunk_ids(db) -> list[str]:
    """The stored passages of the changed cases: theirs, and their lessons' read on their own."""
    ids = [r[0] for r in db.execute(f"select id from chunks where case_id in (select id from {PATCHED})")]
    lessons = [r[0] for r in db.execute(f"select id from lessons where case_id in (select id from {PATCHED})")]
    return ids + [lesson_text_chunk(lesson, "").id for lesson in lessons]


def declared_fts(table: str) -> list[str]:
    return [c.name for c in tables()[table].fts]
