"""Each full-text index's postings, written beside it so that search can score BM25 from memory the
way FTS5's bm25() does (search/postings.py reads them) instead of asking FTS5, which at 100,000
documents spends most of a query calling bm25() on tens of thousands of rows.

term_postings: one row per (collection, stemmed term): `docs`, the rowids holding the term (int32,
ascending); `counts`, how often it occurs in each full-text column of each of those rows (uint16, one
row of columns per document); `offsets`, where (int32 token offsets, by document, column and offset),
for phrases of three words or more. pair_postings: the same `docs` and `counts` for every two terms
that stand side by side in one column (`pair`, the two stems with a space between; FTS5's tokens
hold no space), so that a two-word phrase, which is what most queries' phrases are, costs one row
read like a word (the offsets of a word found in most documents are tens of MB at 100,000 cases;
Elasticsearch's index_phrases does the same). document_lengths: per collection, the number of
indexed rows, their total tokens and each row's tokens (int32, indexed by rowid), BM25's document
length.

All of it is read off the index itself (fts5vocab 'instance'), so it holds exactly FTS5's tokens."""
from __future__ import annotations

import json

import numpy as np

from kb.schema import tables

BATCH = 2_000_000  # token instances read at a time; the pairs (see _pairs) then hold every occurrence's key at once,
# about 45 bytes an occurrence (3.5 GB at 100,000 cases)


def write_postings(conn) -> None:
    """term_postings and document_lengths for every full-text index the schema declares, written
    afresh (a patched build rewrites them from its patched indexes)."""
    conn.execute("drop table if exists term_postings")
    conn.execute("drop table if exists pair_postings")
    conn.execute("drop table if exists document_lengths")
    conn.execute("create table if not exists term_postings (collection text, term text, docs blob, counts blob, "
                 "offsets blob, primary key (collection, term))")
    conn.execute("create table if not exists pair_postings (collection text, pair text, docs blob, counts blob, "
                 "primary key (collection, pair))")
    conn.execute("create table if not exists document_lengths (collection text primary key, documents integer, "
                 "tokens integer, lengths blob)")
    for table in tables().values():
        if table.fts:
            _write(conn, table.name, f"{table.name}_fts", [c.name for c in table.fts])


def _write(conn, collection: str, fts: str, columns: list[str]) -> None:
    last = max((r[0] for r in conn.execute(f"select max(id) from {fts}_docsize")), default=None) or 0
    lengths = np.zeros(last + 1, dtype=np.int64)
    rows = []
    every = []
    for term, docs, counts, offsets in _postings(conn, "main", fts, columns):
        lengths[docs] += counts.sum(axis=1, dtype=np.int64)
        rows.append((collection, term, docs.astype(np.int32).tobytes(), counts.tobytes(), offsets.tobytes()))
        every.append((term, docs, counts, offsets))
        if len(rows) >= 1000:
            conn.executemany("insert into term_postings values (?, ?, ?, ?, ?)", rows)
            rows.clear()
    conn.executemany("insert into term_postings values (?, ?, ?, ?, ?)", rows)
    rows = []
    for pair, docs, counts in _pairs(every, len(columns)):
        rows.append((collection, pair, docs.astype(np.int32).tobytes(), counts.tobytes()))
        if len(rows) >= 10000:
            conn.executemany("insert into pair_postings values (?, ?, ?, ?)", rows)
            rows.clear()
    conn.executemany("insert into pair_postings values (?, ?, ?, ?)", rows)
    documents = conn.execute(f"select count(*) from {fts}_docsize").fetchone()[0]
    conn.execute("insert into document_lengths values (?, ?, ?, ?)",
                 [collection, documents, int(lengths.sum()), lengths.astype(np.int32).tobytes()])


def _postings(conn, schema: str, fts: str, columns: list[str]):
    """(term, rowids, per-column counts, offsets) of every term of a full-text index, in term order."""
    conn.execute(f"create virtual table temp.{fts}_terms using fts5vocab({schema}, {fts}, 'row')")
    conn.execute(f"create virtual table temp.{fts}_instances using fts5vocab({schema}, {fts}, 'instance')")
    try:
        terms = conn.execute(f"select term, cnt from temp.{fts}_terms").fetchall()
        which = " ".join(f"when '{c}' then {i}" for i, c in enumerate(columns))
        # the instances come term by term (in the order of the 'row' table), then by rowid
        cursor = conn.execute(f"select doc, case col {which} end, offset from temp.{fts}_instances")
        at = 0
        while at < len(terms):
            group = [terms[at]]
            size = terms[at][1]
            while at + len(group) < len(terms) and size + terms[at + len(group)][1] <= BATCH:
                size += terms[at + len(group)][1]
                group.append(terms[at + len(group)])
            found = np.array(cursor.fetchmany(size), dtype=np.int64).reshape(-1, 3)
            if len(found) != size:
                raise RuntimeError(f"{fts}: fts5vocab gave {len(found)} instances for {size} counted")
            docs, cols, offsets = found[:, 0], found[:, 1], found[:, 2].astype(np.int32)
            ends = np.cumsum([cnt for _, cnt in group])
            # a posting starts at a new term or a new document within a term
            term_start = np.zeros(len(docs), dtype=bool)
            term_start[np.r_[0, ends[:-1]]] = True
            start = term_start | np.r_[True, docs[1:] != docs[:-1]]
            posting = np.cumsum(start) - 1
            counts = np.bincount(posting * len(columns) + cols, minlength=int(posting[-1] + 1) * len(columns))
            if counts.max(initial=0) > np.iinfo(np.uint16).max:
                raise RuntimeError(f"{fts}: a word occurs more than 65,535 times in one field of one document")
            counts = counts.astype(np.uint16).reshape(-1, len(columns))
            starts = np.flatnonzero(start)
            first = np.searchsorted(starts, np.r_[0, ends[:-1]])
            last_posting = np.r_[first[1:], len(starts)]
            bounds = np.r_[0, ends]
            for k, ((term, _), a, b) in enumerate(zip(group, first, last_posting)):
                yield term, docs[starts[a:b]], counts[a:b], offsets[bounds[k]:bounds[k + 1]]
            at += len(group)
        if cursor.fetchone() is not None:
            raise RuntimeError(f"{fts}: fts5vocab gave more instances than counted")
    finally:
        conn.execute(f"drop table temp.{fts}_terms")
        conn.execute(f"drop table temp.{fts}_instances")


def _pairs(postings: list[tuple], width: int):
    """(pair, rowids, per-column counts) of every two terms standing side by side in one column of
    one row, in pair order, from every term's (term, rowids, counts, offsets) in term order: each
    occurrence gets a key of rowid, column and offset, and an occurrence whose key is one more than
    the one before it follows that one."""
    if not postings:
        return
    terms = [p[0] for p in postings]
    columns = np.arange(width, dtype=np.int64)
    keys = np.concatenate([np.repeat((docs.astype(np.int64)[:, None] << 36 | columns << 32).reshape(-1),
                                     counts.reshape(-1)) | offsets for _, docs, counts, offsets in postings])
    ids = np.repeat(np.arange(len(terms), dtype=np.int32), [len(p[3]) for p in postings])
    order = np.argsort(keys, kind="stable")
    keys, ids = keys[order], ids[order]
    del order
    follows = np.flatnonzero(keys[1:] == keys[:-1] + 1)
    if not len(follows):
        return  # no two words side by side anywhere (every column of one word)
    code = ids[follows].astype(np.int64) * len(terms) + ids[follows + 1]
    docs, cols = keys[follows] >> 36, (keys[follows] >> 32) & 0xF
    del keys, ids, follows
    order = np.lexsort((docs, code))
    code, docs, cols = code[order], docs[order], cols[order]
    del order
    start = np.r_[True, (code[1:] != code[:-1]) | (docs[1:] != docs[:-1])]
    posting = np.cumsum(start) - 1
    counts = np.bincount(posting * width + cols, minlength=(int(posting[-1]) + 1) * width if len(posting) else 0)
    counts = counts.astype(np.uint16).reshape(-1, width)  # no more than a word's own counts
    starts = np.flatnonzero(start)
    pair_code, pair_docs = code[starts], docs[starts]
    bounds = np.r_[np.flatnonzero(np.r_[True, pair_code[1:] != pair_code[:-1]]), len(starts)]
    for a, b in zip(bounds[:-1], bounds[1:]):
        first, second = divmod(int(pair_code[a]), len(terms))
        yield f"{terms[first]} {terms[second]}", pair_docs[a:b], counts[a:b]


def rows_terms(conn, collection: str, rowids: list[int]) -> tuple[set[str], set[str]]:
    """The index's terms, and pairs of terms (see _pairs), of these rows as they stand (before a
    patch replaces them)."""
    found = _scratch_postings(conn, collection, rowids)
    return {term for term, *_ in found}, {pair for pair, *_ in _pairs(found, len(tables()[collection].fts))}


def patch_postings(conn, collection: str, rowids: list[int], before: tuple[set[str], set[str]]) -> None:
    """term_postings, pair_postings and document_lengths of one collection as write_postings would
    write them, after these rows (kept rowids, new text) were replaced: only the terms and pairs they
    held (`before`, from rows_terms) or hold now are rewritten, each with the rows' old postings taken
    out and their new ones put in, in rowid order."""
    changed = np.array(sorted(rowids), dtype=np.int64)
    width = len(tables()[collection].fts)  # counts per document: one per full-text column
    fresh = {term: rest for term, *rest in _scratch_postings(conn, collection, rowids)}
    found = conn.execute("select lengths from document_lengths where collection = ?", [collection]).fetchone()
    lengths = np.frombuffer(found[0], dtype=np.int32).astype(np.int64)
    lengths[changed] = 0
    for docs, counts, _ in fresh.values():
        lengths[docs] += counts.sum(axis=1, dtype=np.int64)
    pairs = {pair: (docs, counts, None) for pair, docs, counts in _pairs([(t, *rest) for t, rest in fresh.items()], width)}
    for table, key, before_keys, now in (("term_postings", "term", before[0], fresh), ("pair_postings", "pair", before[1], pairs)):
        offsets = table == "term_postings"
        for term in sorted(before_keys | now.keys()):
            row = conn.execute(f"select docs, counts{', offsets' if offsets else ''} from {table} "
                               f"where collection = ? and {key} = ?", [collection, term]).fetchone()
            merged = _merged(row, now.get(term), changed, width)
            if merged is None:
                conn.execute(f"delete from {table} where collection = ? and {key} = ?", [collection, term])
            else:
                values = [collection, term, *(m.tobytes() for m in merged[:3 if offsets else 2])]
                conn.execute(f"insert or replace into {table} values ({', '.join('?' * len(values))})", values)
    conn.execute("update document_lengths set tokens = ?, lengths = ? where collection = ?",
                 [int(lengths.sum()), lengths.astype(np.int32).tobytes(), collection])


def _merged(row, new, changed: np.ndarray, width: int):
    """A stored posting row (docs, counts and maybe offsets) without the changed rows' postings and
    with their new ones (`new`), in rowid order: (int32 docs, counts, offsets or None), or None when
    nothing is left."""
    parts = []
    if row is not None:
        docs = np.frombuffer(row[0], dtype=np.int32).astype(np.int64)
        counts = np.frombuffer(row[1], dtype=np.uint16).reshape(len(docs), width)
        keep = ~np.isin(docs, changed)
        offsets = (np.frombuffer(row[2], dtype=np.int32)[np.repeat(keep, counts.sum(axis=1, dtype=np.int64))]
                   if len(row) > 2 else None)
        parts.append((docs[keep], counts[keep], offsets))
    if new is not None:
        parts.append(new)
    docs = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    if not len(docs):
        return None
    counts = np.concatenate([p[1] for p in parts]).reshape(len(docs), width)
    order = np.argsort(docs, kind="stable")
    offsets = None
    if parts[0][2] is not None:
        offsets = np.concatenate([p[2] for p in parts])
        # each document's run of offsets moves with it
        totals = counts.sum(axis=1, dtype=np.int64)
        begins = np.cumsum(totals) - totals
        at = np.repeat(begins[order] - np.cumsum(totals[order]) + totals[order], totals[order]) + np.arange(totals.sum())
        offsets = offsets[at]
    return docs[order].astype(np.int32), counts[order], offsets


def _scratch_postings(conn, collection: str, rowids: list[int]) -> list[tuple]:
    """The postings of these rows alone: indexed again in a scratch full-text table with the
    index's columns and tokenizer, so the terms, counts and offsets are the index's own."""
    columns = [c.name for c in tables()[collection].fts]
    names = ", ".join(columns)
    conn.execute(f"create virtual table temp.kb_scratch using fts5({names}, tokenize='porter')")
    try:
        conn.execute(f"insert into temp.kb_scratch(rowid, {names}) select rowid, {names} from {collection} "
                     "where rowid in (select value from json_each(?))", [json.dumps([int(r) for r in rowids])])
        return list(_postings(conn, "temp", "kb_scratch", columns))
    finally:
        conn.execute("drop table temp.kb_scratch")
