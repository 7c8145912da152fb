"""The documents of one kind (cases or lessons) held in memory for ranking: ids, a boolean mask per
facet value, the savings measure and the chunk vectors. Column lists come from kb/schema.yml."""
from __future__ import annotations

import json
import sqlite3

import numpy as np

from kb.schema import facets, tables

# The saving that the savings range filters on: a lesson takes its case's.
SAVINGS_COLUMN = "achieved_annual_saving_gbp"
YEAR_COLUMN = "year_start"


class DocumentIndex:
    """Documents of one table (cases or lessons) in memory: ids, facet masks, chunk vectors."""

    def __init__(self, conn: sqlite3.Connection, target: str):
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
        self.ids = [r[1] for r in rows]
        self.titles = [r[2] for r in rows]
        self.links = {c: [] for c in ("case_id", "source_id")}
        if "case_id" in table.names and target != "cases":
            for column in self.links:
                self.links[column] = [r[0] for r in conn.execute(f"select {column} from {target} order by rowid")]
        self.position = {doc_id: i for i, doc_id in enumerate(self.ids)}
        # rowid -> document index as an array, so FTS hits map to documents without a Python loop
        self.rowid_to_index = np.full(max((r[0] for r in rows), default=0) + 1, -1, dtype=np.int64)
        for i, r in enumerate(rows):
            self.rowid_to_index[r[0]] = i
        n = len(rows)
        self.masks: dict[str, dict[str, np.ndarray]] = {}
        for k, column in enumerate(self.facet_columns):
            values: dict[str, np.ndarray] = {}
            for i, r in enumerate(rows):
                raw = r[3 + k]
                items = json.loads(raw) if column in many and isinstance(raw, str) else ([raw] if raw is not None else [])
                for v in items or []:
                    values.setdefault(v, np.zeros(n, dtype=bool))[i] = True
            self.masks[column] = values
        self.savings = np.array([r[-1] if r[-1] is not None else np.nan for r in rows], dtype=np.float64)
        self.years = np.array([r[-2] if r[-2] is not None else np.nan for r in rows], dtype=np.float64)
        self._load_chunks(conn)

    def _load_chunks(self, conn):
        key = "case_id" if self.target == "cases" else "lesson_id"
        rows = conn.execute(f"select {key}, text, vector from chunks where {key} is not null").fetchall()
        pairs = sorted(((self.position[r[0]], r[1], r[2]) for r in rows if r[0] in self.position), key=lambda r: r[0])
        self.chunk_doc = np.array([p[0] for p in pairs], dtype=np.int64)
        self.chunk_text = [p[1] for p in pairs]
        self.dims = len(pairs[0][2]) // 4 if pairs else 0
        self.vectors = (np.frombuffer(b"".join(p[2] for p in pairs), dtype=np.float32).reshape(len(pairs), self.dims)
                        if pairs else np.zeros((0, 0), dtype=np.float32))
        # reduceat needs the first chunk of each document that has chunks
        self.doc_with_chunks, self.chunk_start, self.chunk_count = np.unique(self.chunk_doc, return_index=True,
                                                                             return_counts=True)
        # each document's mean passage vector, normalised: what the document is about as a whole
        means = np.add.reduceat(self.vectors, self.chunk_start, axis=0) if len(self.vectors) else self.vectors
        norms = np.linalg.norm(means, axis=1, keepdims=True) if len(means) else means
        self.doc_vectors = means / np.where(norms == 0, 1, norms) if len(means) else means
        model = conn.execute("select model from chunks limit 1").fetchone()
        self.model = model[0] if model else None

    def title(self, i: int) -> str:
        return self.titles[i]
