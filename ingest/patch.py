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

import numpy as np

from kb.history import review_due
from kb.schema import tables
from kb.site import ro_uri
from kb.validate import Record

from .chunks import lesson_chunk_ids
from .codes import write_block_codes

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


def id_table(db, name: str, ids) -> str:
    """A temporary table of ids, for `where x in (select id from ...)` however many there are."""
    db.execute(f"create temp table if not exists {name} (id text primary key)")
    db.execute(f"delete from temp.{name}")
    db.conn.executemany(f"insert into temp.{name} values (?)", ((i,) for i in ids))
    return f"temp.{name}"


def mark_changed(db, changed: list[Record]) -> None:
    id_table(db, "patched_cases", (r.id for r in changed))


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
    """The stored passages of the changed cases: theirs, and their lessons' read on their own and as
    each question they answer (which have no case_id: found by their ids, as a scan of every passage
    for their lesson_id would take seconds at 100,000 cases)."""
    ids = [r[0] for r in db.execute(f"select id from chunks where case_id in (select id from {PATCHED})")]
    lessons = [r[0] for r in db.execute(f"select id from lessons where case_id in (select id from {PATCHED})")]
    return ids + [c for lesson in lessons for c in lesson_chunk_ids(lesson)]


def declared_fts(table: str) -> list[str]:
    return [c.name for c in tables()[table].fts]


def _blocks(db, collection: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A collection's rows of vector_blocks run together: docs, chunks and vectors."""
    rows = db.execute("select docs, chunks, vectors from vector_blocks where collection = ? order by block",
                      [collection]).fetchall()
    docs = np.concatenate([np.frombuffer(r[0], dtype=np.int64) for r in rows] or [np.zeros(0, np.int64)])
    chunks = np.concatenate([np.frombuffer(r[1], dtype=np.int64) for r in rows] or [np.zeros(0, np.int64)])
    size = sum(len(r[2]) for r in rows)
    vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float16).reshape(len(chunks), -1 if size else 0)
    return docs, chunks, vectors


def _rewrite_blocks(db, collection: str, before: tuple, after: tuple, size: int) -> None:
    """Write the rows of vector_blocks whose (docs, chunks, vectors) differ from `before`, and their
    int8 codes, and drop any past the new end."""
    count = -(-len(after[0]) // size)
    codes = db.execute("select 1 from sqlite_master where name = 'vector_codes'").fetchone() is not None
    for block in range(count):
        part = slice(block * size, (block + 1) * size)
        if all(len(old[part]) == len(new[part]) and np.array_equal(old[part], new[part]) for old, new in zip(before, after)):
            continue
        docs, chunks, vectors = (a[part] for a in after)
        db["vector_blocks"].insert({"collection": collection, "block": block, "docs": docs.astype(np.int64).tobytes(),
                                    "chunks": chunks.astype(np.int64).tobytes(),
                                    "vectors": vectors.astype(np.float16).tobytes()}, replace=True)
        if codes:
            write_block_codes(db.conn, collection, block, vectors)
    db.execute("delete from vector_blocks where collection = ? and block >= ?", [collection, count])
    if codes:
        db.execute("delete from vector_codes where collection = ? and block >= ?", [collection, count])


def _split_sums(vectors: np.ndarray, start: int, size: int) -> np.ndarray:
    """A document's chunk vectors (that start at chunk `start` of its collection) summed as the build
    sums them: within each row of vector_blocks in order, then the rows' sums one after another."""
    total = None
    at = 0
    while at < len(vectors):
        stop = min(len(vectors), at + size - (start + at) % size)
        part = np.add.reduceat(vectors[at:stop], [0], axis=0)[0]
        if total is None:
            total = part
        else:
            total += part
        at = stop
    return total


def _runs(docs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted document ids as runs: each document, where its run starts and how long it is."""
    starts = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]]) if len(docs) else np.zeros(0, np.int64)
    return docs[starts], starts, np.diff(np.r_[starts, len(docs)])


def _cut(docs: np.ndarray, size: int) -> np.ndarray:
    """The documents whose chunks two rows of vector_blocks share."""
    listed, starts, counts = _runs(docs)
    return listed[starts // size != (starts + counts - 1) // size]


def patch_vector_blocks(db, collection: str, key: str, changed: np.ndarray, size: int) -> None:
    """vector_blocks of one collection as a fresh build writes them (ingest/build.py,
    _write_vector_blocks), from the previous rows and the chunks of the `changed` documents (rowids):
    their entries replaced, the mean vectors of the changed documents and of any document cut
    across two rows (before or after) summed again, and only the rows that differ written."""
    before = docs, chunks, vectors = _blocks(db, collection)
    keep = ~np.isin(docs, changed)
    rows = db.execute(f"select d.rowid, k.rowid, k.vector from chunks k join {collection} d on d.id = k.{key} "
                      f"where d.rowid in (select value from json_each(?)) order by d.rowid, k.rowid",
                      [json.dumps(changed.tolist())]).fetchall()
    dims = vectors.shape[1] if len(vectors) else (len(rows[0][2]) // 4 if rows else 0)
    fresh = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), dims)
    old_cut = _cut(docs, size)
    docs = np.concatenate([docs[keep], np.array([r[0] for r in rows], dtype=np.int64)])
    order = np.argsort(docs, kind="stable")  # documents are disjoint: each keeps its chunks' order
    docs = docs[order]
    chunks = np.concatenate([chunks[keep], np.array([r[1] for r in rows], dtype=np.int64)])[order]
    vectors = np.concatenate([vectors[keep], fresh.astype(np.float16)])[order]
    _rewrite_blocks(db, collection, before, (docs, chunks, vectors), size)
    # the documents' mean vectors
    listed, starts, _ = _runs(docs)
    redo = np.intersect1d(np.union1d(np.union1d(changed, _cut(docs, size)), old_cut), listed)
    if not len(redo):
        return
    more = np.setdiff1d(redo, changed)
    extra = db.execute(f"select d.rowid, k.vector from chunks k join {collection} d on d.id = k.{key} "
                       f"where d.rowid in (select value from json_each(?)) order by d.rowid, k.rowid",
                       [json.dumps(more.tolist())]).fetchall()
    f32: dict[int, list[bytes]] = {}
    for doc, _, blob in rows:
        f32.setdefault(doc, []).append(blob)
    for doc, blob in extra:
        f32.setdefault(doc, []).append(blob)
    mean_before = mean_docs, _, means = _blocks(db, f"{collection}:documents")
    index = np.searchsorted(listed, redo)
    sums = np.vstack([_split_sums(np.frombuffer(b"".join(f32[d]), dtype=np.float32).reshape(-1, dims), int(at), size)
                      for d, at in zip(redo.tolist(), starts[index])])
    sums /= np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    out = np.empty((len(listed), dims), dtype=np.float16)
    kept = np.setdiff1d(listed, redo)  # each had a mean vector before: the same one
    out[np.searchsorted(listed, kept)] = means[np.searchsorted(mean_docs, kept)]
    out[index] = sums.astype(np.float16)
    _rewrite_blocks(db, f"{collection}:documents", mean_before, (listed, listed, out), size)
