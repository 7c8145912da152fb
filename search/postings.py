"""BM25 of a word or a phrase from the postings the build stores beside each full-text index
(ingest/postings.py), computed as SQLite FTS5's bm25() computes it for a query of one phrase:

    idf = log((N - n + 0.5) / (n + 0.5)), or 1e-6 where that is not positive
    bm25 = idf * (f * (k1 + 1)) / (f + k1 * (1 - b + b * D / avgdl))

with N the indexed rows, n those holding the phrase, f its occurrences weighted by column, D the row's
tokens and avgdl the mean of D; k1 = 1.2, b = 0.75 (FTS5's fts5_aux.c). The operations are done in
the same order on IEEE doubles (the logarithm by the C library, as SQLite does), so the numbers are
FTS5's to the last bit (tests/test_postings.py). A word or a pair of words costs one row read, where
FTS5 calls bm25() once per matching document; a longer phrase is where its words' offsets follow one
another in one column, looked for only in the documents holding each two neighbouring words side by
side (a pair's documents are one small read, and a common word's offsets everywhere millions)."""
from __future__ import annotations

import math
import sqlite3

import numpy as np

from .kept import Kept

K1 = 1.2
B = 0.75


def idf(rows: int, holding: int) -> float:
    """FTS5's inverse document frequency of a term `holding` of `rows` documents hold."""
    value = math.log((rows - holding + 0.5) / (holding + 0.5))
    return value if value > 0.0 else 1e-6


def saturated(freq, length, avgdl):
    """FTS5's weighted term frequency in a document of `length` tokens (`avgdl` on average)."""
    return (freq * (K1 + 1.0)) / (freq + K1 * (1 - B + B * length / avgdl))
# A phrase's candidate documents whose offsets are read one by one from the row (see _keys_within);
# beyond this many, the row is read whole
BLOB_READS = 512
# words' occurrence keys kept for phrases, in a database without pair postings, where every phrase of
# two words or more is found from them (a common word's are tens of MB at 100,000 cases)
KEYS_KEPT_BYTES = 128 * 2**20


def _occurrence_keys(rowids: np.ndarray, counts: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """One sortable key per occurrence: rowid, column (up to 16) and offset, from each row's counts per
    column and the offsets in the order they are stored."""
    cells = ((rowids[:, None] << 36) | (np.arange(counts.shape[1], dtype=np.int64) << 32)).reshape(-1)
    return np.repeat(cells, counts.reshape(-1)) | offsets


def _layout_bytes(layout: tuple) -> int:
    return sum(a.nbytes for a in layout[1:] if a is not None)  # the row's rowid first


class Postings:
    """One collection's postings, read a word at a time; `load` gives None for a database without them."""

    def __init__(self, conn: sqlite3.Connection, collection: str, weights: list[float], rows: int, tokens: int,
                 lengths: np.ndarray, pairs: bool = True):
        self.conn = conn
        self.collection = collection
        self.weights = np.asarray(weights, dtype=np.float64)
        self.rows = rows
        self.avgdl = float(tokens) / float(rows) if rows else 1.0
        self.lengths = lengths
        self.pairs = pairs  # whether pair_postings holds every two words side by side (a database from before does not)
        self._kept = Kept(KEYS_KEPT_BYTES)  # words' keys (see _keys) or layouts (see _layout)

    @classmethod
    def load(cls, conn: sqlite3.Connection, collection: str, weights: list[float]) -> "Postings | None":
        if not all(float(w).is_integer() for w in weights):
            return None  # FTS5 adds a column's weight once per occurrence: only whole numbers sum alike in any order
        try:
            found = conn.execute("select documents, tokens, lengths from document_lengths where collection = ?",
                                 [collection]).fetchone()
        except sqlite3.OperationalError:
            return None  # built before postings were written: search asks FTS5
        if found is None:
            return None
        pairs = conn.execute("select 1 from sqlite_master where name = 'pair_postings'").fetchone() is not None
        return cls(conn, collection, weights, found[0], found[1], np.frombuffer(found[2], dtype=np.int32), pairs)

    def _read(self, term: str, offsets: bool, pair: bool = False):
        """(rowids, per-column counts, offsets or None, the row's own rowid for blob I/O), or None."""
        table, key = ("pair_postings", "pair") if pair else ("term_postings", "term")
        found = self.conn.execute(f"select docs, counts, rowid{', offsets' if offsets else ''} from {table} "
                                  f"where collection = ? and {key} = ?", [self.collection, term]).fetchone()
        if found is None:
            return None
        rowids = np.frombuffer(found[0], dtype=np.int32).astype(np.int64)
        counts = np.frombuffer(found[1], dtype=np.uint16).reshape(len(rowids), len(self.weights))
        return rowids, counts, (np.frombuffer(found[3], dtype=np.int32) if offsets else None), found[2]

    def bm25(self, terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The rowids holding the stemmed terms as a phrase (ascending) and its BM25 in each."""
        if len(terms) == 1 or (len(terms) == 2 and self.pairs):
            found = self._read(" ".join(terms), offsets=False, pair=len(terms) == 2)
            if found is None:
                return np.zeros(0, dtype=np.int64), np.zeros(0)
            rowids, counts, _, _ = found
            freq = counts @ self.weights  # whole-number weights: exact in any order of summation
        else:
            rowids, freq = self._phrase(terms)
        length = self.lengths[rowids].astype(np.float64)
        return rowids, idf(self.rows, len(rowids)) * saturated(freq, length, self.avgdl)

    def rows_in(self, term: str, columns: list[int]) -> np.ndarray:
        """The rowids holding the stemmed term in any of these columns (by position)."""
        found = self._read(term, offsets=False)
        if found is None or not columns:
            return np.zeros(0, dtype=np.int64)
        rowids, counts, _, _ = found
        return rowids[counts[:, columns].any(axis=1)]

    def forget(self) -> None:
        """Drop the kept keys and layouts (the benchmark's cold passes start without them)."""
        self._kept.clear()

    def _keys(self, term: str) -> np.ndarray | None:
        """One sortable key per occurrence of the term: rowid, column (up to 16) and offset, ascending
        (the order they are stored in); the last few terms' kept, since a query's phrases share words
        (a database without pair postings: see _phrase)."""
        def read():
            found = self._read(term, offsets=True)
            if found is None:
                return None
            keys = _occurrence_keys(found[0], found[1], found[2])
            return keys, keys.nbytes
        return self._kept.get_or(("keys", term), read)

    def _within(self, terms: list[str]) -> np.ndarray | None:
        """The rowids holding every two neighbouring terms of the phrase side by side (ascending):
        only these can hold the phrase, and a pair's documents are one small read."""
        within = None
        for k in range(len(terms) - 1):
            found = self._read(f"{terms[k]} {terms[k + 1]}", offsets=False, pair=True)
            if found is None:
                return None
            within = found[0] if within is None else np.intersect1d(within, found[0], assume_unique=True)
            if not len(within):
                return None
        return within

    def _keys_within(self, term: str, within: np.ndarray) -> np.ndarray | None:
        """_keys of the term's occurrences in these rowids only (each holds it): a common word's
        occurrences everywhere are millions at 100,000 cases (6 MB of offsets), and a phrase's
        candidates mostly a few, whose offsets alone are read from the row (SQLite's incremental
        blob I/O); for many, the row's offsets are read whole and kept with the rest of its layout."""
        layout = self._layout(term)
        if layout is None:
            return None
        row, rowids, counts, starts, totals, every = layout
        at = np.searchsorted(rowids, within)
        first, chosen = starts[at], totals[at]
        # Python 3.10's sqlite3 has no blob I/O: there the row's offsets are read whole
        if every is None and (len(at) > BLOB_READS or not hasattr(self.conn, "blobopen")):
            found = self.conn.execute("select offsets from term_postings where rowid = ?", [row]).fetchone()
            every = np.frombuffer(found[0], dtype=np.int32)
            self._keep(term, (row, rowids, counts, starts, totals, every))
        if every is not None:
            offsets = every[np.arange(int(chosen.sum())) + np.repeat(first - (np.cumsum(chosen) - chosen), chosen)]
        else:
            with self.conn.blobopen("term_postings", "offsets", row, readonly=True) as blob:
                offsets = np.frombuffer(b"".join(blob[4 * a: 4 * (a + n)] for a, n in zip(first.tolist(), chosen.tolist())),
                                        dtype=np.int32)
        return _occurrence_keys(within, counts[at], offsets)

    def _layout(self, term: str) -> tuple | None:
        """The term's row, documents, counts, and where each document's offsets start and how many
        it has (and the offsets, once read whole), kept like the keys (KEYS_KEPT_BYTES)."""
        def read():
            found = self._read(term, offsets=False)
            if found is None:
                return None
            rowids, counts, _, row = found
            totals = np.zeros(len(rowids), dtype=np.int64)
            for column in range(counts.shape[1]):  # numpy's sum along a short axis is ten times slower
                totals += counts[:, column]
            layout = (row, rowids, counts, np.cumsum(totals) - totals, totals, None)
            return layout, _layout_bytes(layout)
        return self._kept.get_or(("layout", term), read)

    def _keep(self, term: str, layout: tuple) -> None:
        self._kept.put(("layout", term), layout, _layout_bytes(layout))

    def _phrase(self, terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Rowids where the terms stand side by side in one column, and the column-weighted count of
        such places in each."""
        if self.pairs:  # three words or more: looked for only where each two neighbours stand together
            within = self._within(terms)
            keys = [self._keys_within(term, within) for term in terms] if within is not None else [None]
        else:
            keys = [self._keys(term) for term in terms]
        if any(k is None for k in keys):
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        # from the rarest word's occurrences, look for each other word where it would stand (the
        # rarer words first, so the candidates shrink before the common words are searched)
        anchor = min(range(len(keys)), key=lambda k: len(keys[k]))
        starts = keys[anchor] - anchor
        for k in sorted(range(len(keys)), key=lambda k: len(keys[k])):
            key = keys[k]
            if k != anchor and len(starts):
                at = np.searchsorted(key, starts + k)
                starts = starts[(at < len(key)) & (key[np.minimum(at, len(key) - 1)] == starts + k)]
        rowids, first = np.unique(starts >> 36, return_index=True)
        weight = self.weights[(starts >> 32) & 0xF]
        return rowids, np.add.reduceat(weight, first) if len(first) else np.zeros(0)
