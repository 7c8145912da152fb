"""The documents of one kind (cases or lessons) held in memory for ranking: ids, a boolean mask per
facet value, the savings measure and the chunk vectors. Column lists come from kb/schema.yml."""
from __future__ import annotations

import json
import sqlite3

import numpy as np

from kb.schema import facets, tables

from .postings import Postings

# The saving that the savings range filters on: a lesson takes its case's.
SAVINGS_COLUMN = "achieved_annual_saving_gbp"
YEAR_COLUMN = "year_start"
READ_BATCH = 8192  # vectors read at a time: one array operation each, a few MB of blobs in memory at once


class DocumentIndex:
    """Documents of one table (cases or lessons) in memory: ids, facet masks, chunk vectors."""

    def __init__(self, conn: sqlite3.Connection, target: str, vectors: str = "float32"):
        table = tables()[target]
        self.target = target
        # the search filters: the facets declared on the case fields (a lesson has its case's); other
        # facet columns, such as review_due, are for the table pages
        searchable = {f.column for f in facets("case")}
        self.facet_columns = [c.name for c in table.facet_columns if c.name in searchable]
        many = {c.name for c in table.facet_columns if c.type == "list"}
        title = "title" if "title" in table.names else table.label_column or "id"
        wanted = ["id", title, *self.facet_columns]
        select = ", ".join(f"d.{c}" for c in wanted)
        # a lesson sorts and filters by its case's saving and year
        case = "d" if SAVINGS_COLUMN in table.names else "c"
        join = "" if case == "d" else "left join cases c on c.id = d.case_id"
        rows = conn.execute(f"select d.rowid, {select}, {case}.{YEAR_COLUMN}, {case}.{SAVINGS_COLUMN} "
                            f"from {target} d {join} order by d.rowid").fetchall()
        self.fts = f"{target}_fts"
        # BM25 weights line up by position with the FTS columns, both from the declaration
        self.weights = ", ".join(str(float(c.fts)) for c in table.fts)
        self.postings = Postings.load(conn, target, [float(c.fts) for c in table.fts])
        self.ids = [r[1] for r in rows]
        self.titles = [r[2] for r in rows]
        self.links = {c: [] for c in ("case_id", "source_id")}
        if "case_id" in table.names and target != "cases":
            for column in self.links:
                self.links[column] = [r[0] for r in conn.execute(f"select {column} from {target} order by rowid")]
        self.position = {doc_id: i for i, doc_id in enumerate(self.ids)}
        # rowid -> document index as an array, so FTS hits map to documents without a Python loop
        rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        self.rowid_to_index = np.full(int(rowids.max(initial=0)) + 1, -1, dtype=np.int64)
        self.rowid_to_index[rowids] = np.arange(len(rows))
        n = len(rows)
        self.masks: dict[str, dict[str, np.ndarray]] = {}
        self.value_matrix: dict[str, np.ndarray] = {}
        by_column = list(zip(*rows)) if rows else [()] * (len(self.facet_columns) + 5)
        for k, column in enumerate(self.facet_columns):
            # documents by stored value first: a corpus has few distinct tag lists, each parsed once
            # (numbered in order of first appearance, and no Python statement run per document)
            stored = by_column[3 + k]
            number = {raw: g for g, raw in enumerate(dict.fromkeys(stored))}
            codes = np.fromiter(map(number.__getitem__, stored), dtype=np.int64, count=n)
            order = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(len(number) + 1))
            groups = {raw: order[bounds[g]:bounds[g + 1]] for raw, g in number.items()}
            values: dict[str, np.ndarray] = {}
            for raw, members in groups.items():
                items = json.loads(raw) if column in many and isinstance(raw, str) else ([raw] if raw is not None else [])
                for v in items or []:
                    values.setdefault(v, np.zeros(n, dtype=bool))[members] = True
            # one matrix per facet (a row per value, each value's mask a view of its row), for
            # counting every value at once
            self.value_matrix[column] = np.vstack(list(values.values())) if values else np.zeros((0, n), dtype=bool)
            self.masks[column] = dict(zip(values, self.value_matrix[column]))
        self.value_bits = {column: np.packbits(matrix, axis=1) for column, matrix in self.value_matrix.items()}
        self.savings = np.array(by_column[-1], dtype=np.float64).reshape(-1)  # None -> NaN
        self.years = np.array(by_column[-2], dtype=np.float64).reshape(-1)
        self._load_chunks(conn, vectors)

    def _load_chunks(self, conn, vectors: str):
        """Which chunks belong to which document, and their vectors: float32 as stored (exact), or the
        float16 or int8 copy the build writes in blocks (vector_blocks, vector_codes), read in a few
        large reads and re-scored exactly where it matters (see search/engine.py, VECTORS)."""
        key = "case_id" if self.target == "cases" else "lesson_id"
        model = conn.execute("select model from chunks limit 1").fetchone()
        self.model = model[0] if model else None
        self.chunk_key = key
        self.precision = vectors if vectors in ("float16", "int8") else "float32"
        self.scales = self.doc_scales = None  # int8: each vector is its codes times its scale
        if self.precision != "float32":
            docs, self.chunk_rowid, self.vectors, self.scales = self._blocks(conn, self.target)
            self.dims = self.vectors.shape[1]
            self.chunk_doc = self.rowid_to_index[docs]
        else:
            rows = conn.execute(f"select {key}, rowid from chunks where {key} is not null order by rowid").fetchall()
            keep = sorted(((self.position[r[0]], r[1]) for r in rows if r[0] in self.position), key=lambda r: r[0])
            self.chunk_doc = np.array([k[0] for k in keep], dtype=np.int64)
            self.chunk_rowid = np.array([k[1] for k in keep], dtype=np.int64)
            self.vectors = self.read_vectors(conn, self.chunk_rowid, f"{key} is not null")
            self.dims = self.vectors.shape[1]
        # reduceat needs the first chunk of each document that has chunks
        self.doc_with_chunks, self.chunk_start, self.chunk_count = np.unique(self.chunk_doc, return_index=True,
                                                                             return_counts=True)
        if self.precision != "float32":
            # the build's copy of the documents' mean vectors (numpy's float16 sums are slow)
            _, _, self.doc_vectors, self.doc_scales = self._blocks(conn, f"{self.target}:documents")
            if len(self.doc_vectors) != len(self.doc_with_chunks):
                raise sqlite3.OperationalError("vector_blocks holds no mean vector for some documents")
        else:
            self.doc_vectors = self.mean_vectors(self.vectors, self.chunk_start)

    def _blocks(self, conn, collection: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Document rowids, chunk rowids, vectors (float16, or int8 codes) and int8 scales of one
        collection of vector_blocks, block by block."""
        total, size = conn.execute("select sum(length(chunks)) / 8, sum(length(vectors)) from vector_blocks "
                                   "where collection = ?", [collection]).fetchone()
        total = total or 0
        dims = size // 2 // total if total else 0
        docs, rowids = np.empty(total, dtype=np.int64), np.empty(total, dtype=np.int64)
        at = 0
        for doc_blob, chunk_blob in conn.execute("select docs, chunks from vector_blocks where collection = ? "
                                                 "order by block", [collection]):
            n = len(chunk_blob) // 8
            docs[at:at + n] = np.frombuffer(doc_blob, dtype=np.int64)
            rowids[at:at + n] = np.frombuffer(chunk_blob, dtype=np.int64)
            at += n
        int8 = self.precision == "int8"
        vectors = np.empty((total, dims), dtype=np.int8 if int8 else np.float16)
        scales = np.empty(total, dtype=np.float32) if int8 else None
        sql = ("select scales, codes from vector_codes" if int8 else "select null, vectors from vector_blocks")
        at = 0
        for scale_blob, blob in conn.execute(f"{sql} where collection = ? order by block", [collection]):
            part = np.frombuffer(blob, dtype=vectors.dtype).reshape(-1, dims)
            vectors[at:at + len(part)] = part
            if int8:
                scales[at:at + len(part)] = np.frombuffer(scale_blob, dtype=np.float32)
            at += len(part)
        if at != total:
            raise sqlite3.OperationalError(f"{'vector_codes' if int8 else 'vector_blocks'} does not match vector_blocks")
        return docs, rowids, vectors, scales

    @staticmethod
    def mean_vectors(vectors: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Each document's mean passage vector, normalised: what the document is about as a whole."""
        if not len(vectors):
            return np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0), dtype=np.float32)
        means = _segment_sums(vectors, starts)
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        return (means / np.where(norms == 0, 1, norms)).astype(vectors.dtype)

    @staticmethod
    def read_vectors(conn, rowids: np.ndarray, where: str | None = None) -> np.ndarray:
        """The stored float32 vectors of these chunks, in this order: looked up by rowid for a few,
        or in one pass over the chunks matching `where` for many (no list of every blob in memory)."""
        if not len(rowids):
            return np.zeros((0, 0), dtype=np.float32)
        slot = np.full(int(rowids.max()) + 1, -1, dtype=np.int64)
        slot[rowids] = np.arange(len(rowids))
        # a few: their rowids as one JSON parameter (three times faster than a list spelt out in the SQL)
        sql = (f"select rowid, vector from chunks where {where}" if where else
               "select rowid, vector from chunks where rowid in (select value from json_each(?))")
        out = None
        cursor = conn.execute(sql, [] if where else [json.dumps(rowids.tolist())])
        while batch := cursor.fetchmany(READ_BATCH):
            found = np.fromiter((r[0] for r in batch), dtype=np.int64, count=len(batch))
            block = np.frombuffer(b"".join(r[1] for r in batch), dtype=np.float32).reshape(len(batch), -1)
            at = slot[np.minimum(found, len(slot) - 1)]
            keep = (found < len(slot)) & (at >= 0)
            if out is None:
                out = np.empty((len(rowids), block.shape[1]), dtype=np.float32)
            out[at[keep]] = block[keep]
        return out

    def chunk_texts(self, conn, lo: int, hi: int) -> list[str]:
        """The text of chunks lo..hi-1 (read when a result is shown, not held in memory)."""
        rowids = [int(r) for r in self.chunk_rowid[lo:hi]]
        found = dict(conn.execute(f"select rowid, text from chunks where rowid in ({','.join('?' * len(rowids))})",
                                  rowids).fetchall()) if rowids else {}
        return [found[r] for r in rowids]

    def title(self, i: int) -> str:
        return self.titles[i]


def _segment_sums(vectors: np.ndarray, starts: np.ndarray, batch: int = 4096) -> np.ndarray:
    """np.add.reduceat(vectors, starts, axis=0, dtype=np.float32) to the bit, fast: reduceat along
    the first axis took a second at 10,000 cases. It adds a segment's first row to numpy's pairwise
    sum of the others; the same additions are made here for every document of one length at once."""
    counts = np.diff(np.r_[starts, len(vectors)])
    out = np.empty((len(starts), vectors.shape[1]), dtype=np.float32)
    for length in np.unique(counts):
        docs = np.flatnonzero(counts == length)
        for at in range(0, len(docs), batch):
            some = docs[at:at + batch]
            rows = vectors[starts[some][:, None] + np.arange(length)].astype(np.float32)
            out[some] = rows[:, 0] + _pairwise(rows[:, 1:]) if length > 1 else rows[:, 0]
    return out


def _pairwise(x: np.ndarray) -> np.ndarray:
    """numpy's pairwise summation (pairwise_sum in its loops_utils) along axis 1."""
    n = x.shape[1]
    if n < 8:
        total = np.zeros((x.shape[0], x.shape[2]), dtype=np.float32)
        for i in range(n):
            total += x[:, i]
        return total
    if n <= 128:
        r = [x[:, j].copy() for j in range(8)]
        i = 8
        while i < n - n % 8:
            for j in range(8):
                r[j] += x[:, i + j]
            i += 8
        total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for k in range(i, n):
            total += x[:, k]
        return total
    half = n // 2 - (n // 2) % 8
    return _pairwise(x[:, :half]) + _pairwise(x[:, half:])
