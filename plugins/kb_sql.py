"""SQL functions for custom queries over the stored vectors, e.g.

    select c.id, kb_cosine(v.vector, (select vector from case_vectors where case_id = :id)) as score
    from case_vectors v join cases c on c.id = v.case_id order by score desc limit 10
"""
import numpy as np
from datasette import hookimpl

# 16,384 dimensions: far above any sentence model's, and small enough that one call (which SQLite
# cannot interrupt) stays in microseconds.
MAX_VECTOR_BYTES = 4 * 16_384


def kb_cosine(a, b):
    """Cosine similarity of two float32 vectors stored as BLOBs; NULL if either is missing, they differ
    in size, or they are longer than any embedding."""
    if not isinstance(a, bytes) or not isinstance(b, bytes) or not a or len(a) != len(b) or len(a) % 4 \
            or len(a) > MAX_VECTOR_BYTES:
        return None
    x = np.frombuffer(a, dtype=np.float32)
    y = np.frombuffer(b, dtype=np.float32)
    norm = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y) / norm if norm else None


@hookimpl
def prepare_connection(conn):
    conn.create_function("kb_cosine", 2, kb_cosine, deterministic=True)
