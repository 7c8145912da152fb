"""An int8 copy of the vectors search holds for a large collection (vector_codes): each vector
(vector_blocks' float16 rows, block by block in the same order) scaled so that its largest component
is 127 and rounded, with its scale. A quarter of float32's memory, scanned about three times faster
than float16 here (SimSIMD's int8 kernel); cosines from it are about 1e-3 off, so search re-scores
the candidates that decide a page from the float32 vectors (search/engine.py, VECTORS)."""
from __future__ import annotations

import numpy as np


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and float32 scales with vectors ~ codes * scales[:, None]."""
    vectors = np.asarray(vectors, dtype=np.float32)
    scales = np.abs(vectors).max(axis=1, initial=0.0) / 127
    scales[scales == 0] = 1.0
    codes = np.clip(np.rint(vectors / scales[:, None]), -127, 127).astype(np.int8)
    return codes, scales.astype(np.float32)


def write_codes(conn) -> None:
    """vector_codes rows for every block of vector_blocks."""
    conn.execute("drop table if exists vector_codes")
    conn.execute("create table vector_codes (collection text, block integer, scales blob, codes blob, "
                 "primary key (collection, block))")
    blocks = conn.execute("select collection, block from vector_blocks order by collection, block").fetchall()
    for collection, block in blocks:
        blob = conn.execute("select vectors from vector_blocks where collection = ? and block = ?",
                            [collection, block]).fetchone()[0]
        vectors = np.frombuffer(blob, dtype=np.float16)
        found = conn.execute("select length(chunks) / 8 from vector_blocks where collection = ? and block = ?",
                             [collection, block]).fetchone()[0]
        write_block_codes(conn, collection, block, vectors.reshape(found, -1))


def write_block_codes(conn, collection: str, block: int, vectors: np.ndarray) -> None:
    """One block's codes, from its float16 vectors (a patched build writes those of the blocks it rewrites)."""
    codes, scales = quantize(np.asarray(vectors, dtype=np.float16))
    conn.execute("insert or replace into vector_codes values (?, ?, ?, ?)",
                 [collection, block, scales.tobytes(), codes.tobytes()])
