"""The documents of one kind (cases or lessons) held in memory for ranking: ids, a boolean mask per
facet value, the savings column and the chunk vectors."""
from __future__ import annotations

import json
import sqlite3

import numpy as np

from kb.schema import facets


class Collection:
    """Documents of one kind (cases or lessons) in memory: ids, facet masks, chunk vectors."""

    def __init__(self, conn: sqlite3.Connection, target: str):
        self.target = target
        if target == "cases":
            cols = ["rowid", "id", "title", "largest_saving_gbp"] + [f.column for f in facets()]
            rows = conn.execute(f"select {', '.join(cols)} from cases order by rowid").fetchall()
            docs = [dict(zip(cols, r)) for r in rows]
            self.fts, self.weights = "cases_fts", "10.0, 4.0, 1.0, 5.0"
        else:
            # a lesson takes its case's facets, except key attributes and sources, which it has itself
            inherited = [f.column for f in facets() if f.column not in ("key_attributes", "source_ids")]
            cols = ["rowid", "id", "title", "text", "theme", "case_id", "source_id", "key_attributes",
                    "case_source_ids", "largest_saving_gbp", *inherited]
            rows = conn.execute(f"""select l.rowid, l.id, l.title, l.text, l.theme, l.case_id, l.source_id,
                                  l.key_attributes, c.source_ids, c.largest_saving_gbp{''.join(f', c.{c}' for c in inherited)}
                                  from lessons l left join cases c on c.id = l.case_id order by l.rowid""").fetchall()
            docs = [dict(zip(cols, r)) for r in rows]
            for d in docs:
                d["source_ids"] = json.dumps([d["source_id"]]) if d["source_id"] else d["case_source_ids"]
            self.fts, self.weights = "lessons_fts", "4.0, 2.0, 1.0"
        self.ids = [d["id"] for d in docs]
        self.docs = docs
        self.position = {d["id"]: i for i, d in enumerate(docs)}
        # rowid -> document index as an array, so FTS hits map to documents without a Python loop
        self.rowid_to_index = np.full(max((d["rowid"] for d in docs), default=0) + 1, -1, dtype=np.int64)
        for i, d in enumerate(docs):
            self.rowid_to_index[d["rowid"]] = i
        n = len(docs)
        self.masks: dict[str, dict[str, np.ndarray]] = {}
        for facet in facets():
            values: dict[str, np.ndarray] = {}
            for i, d in enumerate(docs):
                raw = d.get(facet.column)
                items = json.loads(raw) if facet.many and isinstance(raw, str) else ([raw] if raw is not None else [])
                for v in items or []:
                    values.setdefault(v, np.zeros(n, dtype=bool))[i] = True
            self.masks[facet.column] = values
        self.savings = np.array([d.get("largest_saving_gbp") if d.get("largest_saving_gbp") is not None else np.nan
                                 for d in docs], dtype=np.float64)
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
        self.doc_with_chunks, self.chunk_start = np.unique(self.chunk_doc, return_index=True)
        model = conn.execute("select model from chunks limit 1").fetchone()
        self.model = model[0] if model else None

    def title(self, i: int) -> str:
        return self.docs[i]["title"]
