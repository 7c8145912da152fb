"""Cosines of query vectors with every passage or document vector: one scan by SimSIMD, or a scan
in blocks that two threads share (SharedScan)."""
from __future__ import annotations

import threading

import numpy as np

BLOCK = 32768  # rows a thread takes at a time in a shared scan (about 12 MB of int8 codes)


def scan(matrix: np.ndarray, qv: np.ndarray, scales: np.ndarray | None = None, threads: int = 1) -> np.ndarray:
    """matrix @ qv by SimSIMD on `threads` threads (more only for a search running alone, see
    CORES in search/engine.py; each product is the same on any number), for one query vector or
    several (rows of qv, a row of the result each): float32 within 1e-7 of numpy's product and twice
    as fast as it here, and several query vectors in one pass over memory; float16 (numpy has no
    fast float16 product) about 1e-4 off, from the inputs' rounding; int8 codes (times their
    `scales`) with the query coded the same way, about 1e-3 off."""
    import simsimd

    queries = np.asarray(qv, dtype=np.float32).reshape(-1, qv.shape[-1])
    if not len(matrix):
        return np.zeros((len(queries), 0) if qv.ndim == 2 else 0, dtype=np.float32)
    if matrix.dtype == np.int8:
        step = np.abs(queries).max(axis=1) / 127
        step[step == 0] = 1.0
        codes = np.clip(np.rint(queries / step[:, None]), -127, 127).astype(np.int8)
        found = np.asarray(simsimd.cdist(matrix, codes, metric="dot", threads=threads, out_dtype="float32"))
    else:
        queries = np.ascontiguousarray(queries, dtype=matrix.dtype)
        found = np.asarray(simsimd.cdist(matrix, queries, metric="dot", threads=threads, out_dtype="float32"))
    # a row a query vector: scaling the (passages x queries) product column by column was a loop
    # over rows of two or three numbers (3-5 ms a pass at 100,000 cases), and each query's cosines
    # are then contiguous; cdist(queries, matrix) would pass over the matrix once per query
    found = np.ascontiguousarray(found.T)
    if matrix.dtype == np.int8:
        found *= step[:, None]
        if scales is not None:
            found *= scales
    return found if qv.ndim == 2 else found[0]


class SharedScan:
    """The scans of a collection's passages and mean vectors for query vectors added one at a time
    (as each reading of a query is embedded), in blocks of rows that any thread takes in turn
    (`take`, then `scan`): SimSIMD lets go of Python's lock, so one thread can scan while another
    embeds or runs the keyword side. A block is scanned at once for every vector waiting for it,
    so that its rows are read from memory once for all of them. Each row's cosine is the same
    whichever block, thread or batch of query vectors computes it."""

    def __init__(self, passages: np.ndarray, passage_scales, documents: np.ndarray, document_scales):
        self._matrices = ((passages, passage_scales), (documents, document_scales))
        self.found: dict = {}  # a vector's key -> (its passages' cosines, its documents')
        # each block of rows (which matrix, first row) and the vectors (and outputs) waiting for it
        self._waiting = {(m, lo): [] for m, (matrix, _) in enumerate(self._matrices)
                         for lo in range(0, len(matrix), BLOCK)}
        self._lock = threading.Lock()

    def add(self, key, vector: np.ndarray) -> None:
        """Queues one query vector's scan."""
        out = tuple(np.empty(len(matrix), dtype=np.float32) for matrix, _ in self._matrices)
        with self._lock:
            self.found[key] = out
            for (m, _), waiting in self._waiting.items():
                waiting.append((vector, out[m]))

    def take(self):
        """The next block to scan, with every vector waiting for it, or None."""
        with self._lock:
            for block, waiting in self._waiting.items():
                if waiting:
                    self._waiting[block] = []
                    return block, waiting
        return None

    def scan(self, taken) -> None:
        (m, lo), waiting = taken
        matrix, scales = self._matrices[m]
        hi = lo + BLOCK
        found = scan(matrix[lo:hi], np.stack([vector for vector, _ in waiting]),
                     None if scales is None else scales[lo:hi], 1)
        for (_, into), row in zip(waiting, found):
            into[lo:hi] = row
