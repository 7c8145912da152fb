"""Each lesson's word vectors: the model's vector for every word piece of the lesson's first passage
(with its case's title or its report's theme), before the model averages them into one. Lesson
search re-ranks its best few word by word with them (search/token_match.py). Written after the
passages, by content hash: a passage whose text is unchanged keeps its row, so a rebuild works out
only the lessons that changed."""
from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import numpy as np

from kb.embedding import TOKEN_KINDS, TOKEN_VECTORS, Embedder
from kb.site import ro_uri

COLUMNS = {"content_hash": str, "model": str, "tokens": str, "scales": bytes, "codes": bytes}
# Past this many lessons none are written (about 20 KB each: 500 MB here) and lesson search goes
# without the re-ranking, as for a database built before it.
UP_TO = 25_000


def quantised(vectors: np.ndarray) -> tuple[bytes, bytes]:
    """Each vector as int8 codes scaled so that its largest component is 127, and the scales: a
    quarter of float32's bytes, each cosine within about 0.01 (a re-ranking signal, not the ranking)."""
    scales = np.maximum(np.abs(vectors).max(axis=1), 1e-12) / 127
    codes = np.round(vectors / scales[:, None]).astype(np.int8)
    return scales.astype(np.float32).tobytes(), codes.tobytes()


def write_token_vectors(db, old_db: Path | None, embedder: Embedder) -> int:
    """The table for the passages of TOKEN_KINDS now in `db`'s chunks: rows already in `db` (a patched
    copy) or in `old_db` (the previous build) for the same model and text are kept, the rest worked
    out. None for a model without word pieces (the stand-in, the benchmark's perturbed vectors) or
    past UP_TO lessons. Returns how many were worked out."""
    wanted = dict(db.execute(f"select content_hash, text from chunks where kind in ({','.join('?' * len(TOKEN_KINDS))})",
                             list(TOKEN_KINDS)).fetchall())
    def rows(conn) -> dict[str, tuple]:
        return {r[0]: r for r in conn.execute(f"select {', '.join(COLUMNS)} from {TOKEN_VECTORS} where model = ?",
                                              [embedder.name])}

    kept: dict[str, tuple] = {}
    if TOKEN_VECTORS in db.table_names():
        kept = rows(db.conn)
    elif old_db is not None and old_db.exists():
        with contextlib.suppress(sqlite3.Error):  # a database from before the table, or none
            conn = sqlite3.connect(ro_uri(old_db), uri=True)
            try:
                kept = rows(conn)
            finally:
                conn.close()
    db.execute(f"drop table if exists {TOKEN_VECTORS}")
    db[TOKEN_VECTORS].create(COLUMNS, pk="content_hash")
    work_out = getattr(embedder, "token_vectors", None)
    if work_out is None or len(wanted) > UP_TO:
        return 0
    todo = [h for h in wanted if h not in kept]
    found = work_out([wanted[h] for h in todo]) if todo else []
    if found is None:
        return 0
    fresh = {h: (h, embedder.name, " ".join(tokens), *quantised(vectors)) for h, (vectors, tokens) in zip(todo, found)}
    rows = [kept.get(h) or fresh[h] for h in wanted]
    db[TOKEN_VECTORS].insert_all((dict(zip(COLUMNS, row)) for row in rows), batch_size=200)
    return len(todo)
