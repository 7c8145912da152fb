"""The documents of one kind (cases or lessons) held in memory for ranking: ids, a boolean mask per
facet value, the savings measure and the chunk vectors. Column lists come from kb/schema.yml."""
from __future__ import annotations

import json
import sqlite3

import numpy as np

from kb.arrays import RowFile, Rows, Sidecar
from kb.embedding import QUESTION_KIND
from kb.schema import facets, tables

from .postings import Postings
from .scan import OFFSET

# The saving that the savings range filters on: a lesson takes its case's.
SAVINGS_COLUMN = "achieved_annual_saving_gbp"
YEAR_COLUMN = "year_start"
# Bump when what DocumentIndex saves beside a database (kb/arrays.py) changes, so older copies are read again.
SAVED_FORMAT = 4
READ_BATCH = 8192  # vectors read at a time: one array operation each, a few MB of blobs in memory at once


class DocumentIndex:
    """Documents of one table (cases or lessons) in memory: ids, facet masks, chunk vectors."""

    def __init__(self, conn: sqlite3.Connection, target: str, vectors: str = "float32", sidecar: Sidecar | None = None):
        table = tables()[target]
        self.target = target
        self.chunk_key = "case_id" if target == "cases" else "lesson_id"  # the chunks' column naming a document
        # the search filters: the facets declared on the case fields (a lesson has its case's); other
        # facet columns, such as review_due, are for the table pages
        searchable = {f.column for f in facets("case")}
        self.facet_columns = [c.name for c in table.facet_columns if c.name in searchable]
        self.fts = f"{target}_fts"
        # a database an older version built (its full-text index of other columns, whose postings
        # count each word column by column) is refused whole, not read column for wrong column
        held = [r[1] for r in conn.execute(f"pragma table_info({self.fts})")]
        if held != [c.name for c in table.fts]:
            raise sqlite3.OperationalError(f"{self.fts} indexes {', '.join(held) or 'nothing'}; this version indexes "
                                           f"{', '.join(c.name for c in table.fts)}")
        # BM25 weights line up by position with the FTS columns, both from the declaration
        self.weights = ", ".join(str(float(c.fts)) for c in table.fts)
        self.postings = Postings.load(conn, target, [float(c.fts) for c in table.fts])
        self.precision = vectors if vectors in ("float16", "int8") else "float32"
        many = sorted(c.name for c in table.facet_columns if c.type == "list")
        title = "title" if "title" in table.names else table.label_column or "id"
        # saved arrays are used only if read by this code from the same declarations
        layout = {"format": SAVED_FORMAT, "facets": self.facet_columns, "many": many, "title": title,
                  "case": "d" if SAVINGS_COLUMN in table.names else "c", "links": "case_id" in table.names}
        part = f"{target}-{self.precision}"
        saved = sidecar.load(part) if sidecar is not None else None
        if saved is None or saved[1].get("layout") != layout:
            saved = self._read(conn, set(many), title, layout["case"], layout["links"])
            if sidecar is not None and sidecar.save(part, saved[0], {**saved[1], "layout": layout}):
                saved = sidecar.load(part) or saved  # the float32 vectors are read from the saved file (RowFile)
        self._adopt(*saved)

    def _read(self, conn, many: set[str], title: str, case: str, links: bool) -> tuple[dict[str, np.ndarray], dict]:
        """Everything held in memory, read from the database: arrays by name, and the rest (lists
        of strings) as JSON would hold it."""
        target = self.target
        wanted = ["id", title, *self.facet_columns]
        select = ", ".join(f"d.{c}" for c in wanted)
        # a lesson sorts and filters by its case's saving and year
        join = "" if case == "d" else "left join cases c on c.id = d.case_id"
        rows = conn.execute(f"select d.rowid, {select}, {case}.{YEAR_COLUMN}, {case}.{SAVINGS_COLUMN} "
                            f"from {target} d {join} order by d.rowid").fetchall()
        info: dict = {"ids": [r[1] for r in rows], "titles": [r[2] for r in rows],
                      "links": {c: [] for c in ("case_id", "source_id")}, "values": {}}
        if links and target != "cases":
            for column in info["links"]:
                info["links"][column] = [r[0] for r in conn.execute(f"select {column} from {target} order by rowid")]
        arrays: dict[str, np.ndarray] = {}
        # rowid -> document index as an array, so FTS hits map to documents without a Python loop
        rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        arrays["rowid_to_index"] = np.full(int(rowids.max(initial=0)) + 1, -1, dtype=np.int64)
        arrays["rowid_to_index"][rowids] = np.arange(len(rows))
        n = len(rows)
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
            matrix = np.vstack(list(values.values())) if values else np.zeros((0, n), dtype=bool)
            arrays[f"facet.{column}.matrix"] = matrix
            arrays[f"facet.{column}.bits"] = np.packbits(matrix, axis=1)
            info["values"][column] = list(values)
        arrays["savings"] = np.array(by_column[-1], dtype=np.float64).reshape(-1)  # None -> NaN
        arrays["years"] = np.array(by_column[-2], dtype=np.float64).reshape(-1)
        position = {doc_id: i for i, doc_id in enumerate(info["ids"])}
        info["model"] = self._read_chunks(conn, arrays, position)
        return arrays, info

    def _adopt(self, arrays: dict[str, np.ndarray], info: dict) -> None:
        for array in arrays.values():
            if isinstance(array, np.ndarray):
                array.flags.writeable = False  # as the saved ones are mapped: nothing may write into either
        # int8 or float16 collections: the float32 vectors, to re-score a few documents exactly
        # (search/semantic.py, _exact); read from the database where no saved copy could be written
        self.exact = arrays.get("exact") if isinstance(arrays.get("exact"), RowFile) else None
        self.ids = info["ids"]
        self.titles = info["titles"]
        self.links = info["links"]
        self.model = info["model"]
        self.position = dict(zip(self.ids, range(len(self.ids))))
        self.rowid_to_index = arrays["rowid_to_index"]
        self.value_matrix = {c: arrays[f"facet.{c}.matrix"] for c in self.facet_columns}
        self.value_bits = {c: arrays[f"facet.{c}.bits"] for c in self.facet_columns}
        self.masks = {c: dict(zip(info["values"][c], self.value_matrix[c])) for c in self.facet_columns}
        self.savings, self.years = arrays["savings"], arrays["years"]
        for name in ("chunk_doc", "chunk_rowid", "vectors", "doc_with_chunks", "chunk_start", "chunk_count",
                     "doc_vectors"):
            setattr(self, name, arrays[name])
        # int8: each vector is its codes times its scale; the codes held plus OFFSET as unsigned bytes,
        # with each row's sum as held (see search/scan.py)
        self.scales, self.doc_scales = arrays.get("scales"), arrays.get("doc_scales")
        self.sums, self.doc_sums = arrays.get("sums"), arrays.get("doc_sums")
        self.dims = self.vectors.shape[1]
        self.centroid, self.passage_hub, self.doc_hub = arrays["centroid"], arrays["passage_hub"], arrays["doc_hub"]
        self.log_passages = np.log(np.maximum(self.chunk_count, 1))  # see MANY_PASSAGES in search/scoring.py

    def _read_chunks(self, conn, arrays: dict[str, np.ndarray], position: dict[str, int]) -> str | None:
        """Which chunks belong to which document, and their vectors: float32 as stored (exact), or the
        float16 or int8 copy the build writes in blocks (vector_blocks, vector_codes), read in a few
        large reads and re-scored exactly where it matters (see search/engine.py, VECTORS). Gives
        the model's name."""
        key = self.chunk_key
        model = conn.execute("select model from chunks limit 1").fetchone()
        if self.precision != "float32":
            docs, arrays["chunk_rowid"], arrays["vectors"], scales = self._blocks(conn, self.target)
            arrays["chunk_doc"] = arrays["rowid_to_index"][docs]
            rowids = arrays["chunk_rowid"]
            # read only to be saved beside the database (kb/arrays.py): 1.2 GB at 100,000 cases, in one
            # pass over the chunks (2 s there; looked up by rowid, 8 s)
            arrays["exact"] = Rows((len(rowids), arrays["vectors"].shape[1]), np.float32,
                                   lambda out: self.read_vectors(conn, rowids, f"{key} is not null", out))
        else:
            rows = conn.execute(f"select {key}, rowid from chunks where {key} is not null order by rowid").fetchall()
            keep = sorted(((position[r[0]], r[1]) for r in rows if r[0] in position), key=lambda r: r[0])
            arrays["chunk_doc"] = np.array([k[0] for k in keep], dtype=np.int64)
            arrays["chunk_rowid"] = np.array([k[1] for k in keep], dtype=np.int64)
            arrays["vectors"] = self.read_vectors(conn, arrays["chunk_rowid"], f"{key} is not null")
            scales = None
        # reduceat needs the first chunk of each document that has chunks
        arrays["doc_with_chunks"], arrays["chunk_start"], arrays["chunk_count"] = np.unique(
            arrays["chunk_doc"], return_index=True, return_counts=True)
        if self.precision != "float32":
            # the build's copy of the documents' mean vectors (numpy's float16 sums are slow)
            _, _, arrays["doc_vectors"], doc_scales = self._blocks(conn, f"{self.target}:documents")
            if len(arrays["doc_vectors"]) != len(arrays["doc_with_chunks"]):
                raise sqlite3.OperationalError("vector_blocks holds no mean vector for some documents")
            if scales is not None:
                arrays["scales"], arrays["doc_scales"] = scales, doc_scales
                arrays["sums"] = arrays["vectors"].sum(axis=1, dtype=np.int32)  # see search/scan.py, OFFSET
                arrays["doc_sums"] = arrays["doc_vectors"].sum(axis=1, dtype=np.int32)
        else:
            arrays["doc_vectors"] = self.mean_vectors(arrays["vectors"], arrays["chunk_start"])
        arrays["centroid"], arrays["passage_hub"], arrays["doc_hub"] = self._hubs(conn, arrays)
        return model[0] if model else None

    def _hubs(self, conn, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where the collection as a whole sits (the mean of its documents' mean vectors, from the
        build's float16 copy, so that every precision centres on the same vector), and each
        passage's and each document's mean vector's dot product with it: how far it would match any
        query on the collection's subject, whatever the query asks (see CENTRING in
        search/scoring.py)."""
        vectors, scales = arrays["vectors"], arrays.get("scales")
        dims = vectors.shape[1] if vectors.ndim == 2 else 0
        total, count = np.zeros(dims, dtype=np.float64), 0
        try:
            for (blob,) in conn.execute("select vectors from vector_blocks where collection = ? order by block",
                                        [f"{self.target}:documents"]):
                part = np.frombuffer(blob, dtype=np.float16).reshape(-1, dims)
                total += part.astype(np.float64).sum(axis=0)
                count += len(part)
        except sqlite3.OperationalError:  # an older build, without the float16 copy: the mean vectors held
            pass
        if not count and len(arrays["doc_vectors"]):
            held = arrays["doc_vectors"].astype(np.float64)
            total = (held * arrays["doc_scales"][:, None] if "doc_scales" in arrays else held).sum(axis=0)
            count = len(held)
        centroid = (total / max(count, 1)).astype(np.float32)

        def dots(matrix: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
            out = np.empty(len(matrix), dtype=np.float32)
            for at in range(0, len(matrix), READ_BATCH):  # in blocks: a float copy of int8 codes is 4x their size
                part = matrix[at:at + READ_BATCH].astype(np.float32)
                if matrix.dtype == np.uint8:
                    part -= OFFSET  # the codes themselves, exactly
                out[at:at + READ_BATCH] = part @ centroid
            return out * scale if scale is not None else out

        return centroid, dots(vectors, scales), dots(arrays["doc_vectors"], arrays.get("doc_scales"))

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
        vectors = np.empty((total, dims), dtype=np.uint8 if int8 else np.float16)
        scales = np.empty(total, dtype=np.float32) if int8 else None
        sql = ("select scales, codes from vector_codes" if int8 else "select null, vectors from vector_blocks")
        at = 0
        for scale_blob, blob in conn.execute(f"{sql} where collection = ? order by block", [collection]):
            part = np.frombuffer(blob, dtype=np.int8 if int8 else np.float16).reshape(-1, dims)
            vectors[at:at + len(part)] = part.view(np.uint8) ^ np.uint8(OFFSET) if int8 else part
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
    def read_vectors(conn, rowids: np.ndarray, where: str | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """The stored float32 vectors of these chunks, in this order: looked up by rowid for a few,
        or in one pass over the chunks matching `where` for many (no list of every blob in memory),
        into `out` if given."""
        if not len(rowids):
            return np.zeros((0, 0), dtype=np.float32)
        slot = np.full(int(rowids.max()) + 1, -1, dtype=np.int64)
        slot[rowids] = np.arange(len(rowids))
        # a few: their rowids as one JSON parameter (three times faster than a list spelt out in the SQL)
        sql = (f"select rowid, vector from chunks where {where}" if where else
               "select rowid, vector from chunks where rowid in (select value from json_each(?))")
        given, filled = out is not None, 0
        cursor = conn.execute(sql, [] if where else [json.dumps(rowids.tolist())])
        while batch := cursor.fetchmany(READ_BATCH):
            found = np.fromiter((r[0] for r in batch), dtype=np.int64, count=len(batch))
            block = np.frombuffer(b"".join(r[1] for r in batch), dtype=np.float32).reshape(len(batch), -1)
            at = slot[np.minimum(found, len(slot) - 1)]
            keep = (found < len(slot)) & (at >= 0)
            if out is None:
                out = np.empty((len(rowids), block.shape[1]), dtype=np.float32)
            out[at[keep]] = block[keep]
            filled += int(keep.sum())
        if given and filled != len(rowids):  # a copy to save must hold every row
            raise ValueError(f"{filled} of {len(rowids)} chunks' vectors found")
        return out

    def chunk_texts(self, conn, spans: list[tuple[int, int]]) -> list[list[str]]:
        """The texts of chunks lo..hi-1 for each (lo, hi), read in one query when a page is shown
        (passages are not held in memory); None for a question a lesson answers, which is not shown."""
        rowids = [int(r) for lo, hi in spans for r in self.chunk_rowid[lo:hi]]
        found = dict(conn.execute("select rowid, iif(kind = ?, null, text) from chunks where rowid in (select value from json_each(?))",
                                  [QUESTION_KIND, json.dumps(rowids)]).fetchall()) if rowids else {}
        return [[found[int(r)] for r in self.chunk_rowid[lo:hi]] for lo, hi in spans]

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
