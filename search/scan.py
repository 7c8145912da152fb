"""Cosines of query vectors with every passage or document vector: one scan by SimSIMD, or a scan
in blocks that two threads share (SharedScan)."""
from __future__ import annotations

import base64
import functools
import threading

import numpy as np

BLOCK = 32768  # rows a thread takes at a time in a shared scan (about 12 MB of int8 codes)
# int8 codes are held as unsigned bytes, each code plus OFFSET (search/index.py), since ONNX Runtime's
# integer matrix product (MLAS: VNNI where the CPU has it) takes unsigned rows and signed columns.
# Its cost hardly grows with the number of query vectors, where SimSIMD's grows with each: at
# 100,000 cases a block scanned for five or six of a paragraph's readings took 3.5 ms instead of
# 5 to 6, with both threads scanning. For one vector SimSIMD is faster (2.6 ms against 3.0), on the
# same bytes read as unsigned and corrected by each row's sum. Both give the exact integer dot
# products of the codes, so the cosines are the same to the bit whichever computes them (where
# ONNX Runtime's would not be exact, see _dots_exact, SimSIMD computes them all).
OFFSET = 128
# MatMulInteger(rows: uint8 [n, d], queries: int8 [d, k]) -> int32 [n, k], one node, serialised
# here rather than built with the onnx package (not a runtime dependency; tests/test_scan.py builds
# it again and compares)
DOTS_MODEL = base64.b64decode(
    "CAgSAmtiOoQBCiQKBHJvd3MKB3F1ZXJpZXMSBGRvdHMiDU1hdE11bEludGVnZXISC29mZnNldF9kb3RzWhgKBHJvd3MSEAoOCAISCgoDEgFuCgMS"
    "AWRaGwoHcXVlcmllcxIQCg4IAxIKCgMSAWQKAxIBa2IYCgRkb3RzEhAKDggGEgoKAxIBbgoDEgFrQgQKABAN")


@functools.cache
def _dots(threads: int):
    """The integer product as an ONNX Runtime session on `threads` threads (safe to call from several
    threads at once; it lets go of Python's lock while it computes)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no core kept busy waiting
    options.log_severity_level = 3
    options.enable_cpu_mem_arena = False  # its arena held about 90 MB more at 100,000 cases
    return onnxruntime.InferenceSession(DOTS_MODEL, options, providers=["CPUExecutionProvider"])


@functools.cache
def _dots_exact() -> bool:
    """Whether ONNX Runtime's product is exact on this CPU, tried on the largest products there are:
    on x86 without VNNI its unsigned-by-signed kernel adds pairs of products in saturating 16-bit
    arithmetic (vpmaddubsw, as ONNX Runtime's quantisation notes warn), which codes plus 128 would
    overflow. Where it is not, SimSIMD scans for any number of vectors, as before."""
    rows = np.full((4, 384), 255, dtype=np.uint8)
    rows[1], rows[2, ::2] = 1, 1
    queries = np.full((3, 384), 127, dtype=np.int8)
    queries[1], queries[2, 1::2] = -127, -127
    try:
        found = _dots(1).run(None, {"rows": rows, "queries": np.ascontiguousarray(queries.T)})[0]
    except Exception:  # noqa: BLE001 - any failure of the product means: do without it
        return False
    return bool(np.array_equal(found, rows.astype(np.int64) @ queries.astype(np.int64).T))


def code_query(queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Query vectors as int8 codes, each scaled to its largest component, and their steps."""
    step = np.abs(queries).max(axis=1) / 127
    step[step == 0] = 1.0
    return np.clip(np.rint(queries / step[:, None]), -127, 127).astype(np.int8), step


def offset_dots(matrix: np.ndarray, codes: np.ndarray, threads: int = 1, sums: np.ndarray | None = None) -> np.ndarray:
    """The dot products of int8 codes held plus OFFSET as unsigned bytes (`sums`: each row's sum,
    as held) with int8 query codes, exactly, as float32, a row per query."""
    import simsimd

    if (len(codes) == 1 and sums is not None) or not _dots_exact():
        if sums is None:
            sums = matrix.sum(axis=1, dtype=np.int32)
        # (c + o).(q + o) = c.q + o * (row's sum as held) + o * sum(q): exact in float64
        raw = np.asarray(simsimd.cdist(matrix, codes.view(np.uint8) ^ np.uint8(OFFSET), metric="dot",
                                       threads=threads, out_dtype="float64"))
        raw -= OFFSET * sums[:, None].astype(np.float64)
        raw -= OFFSET * codes.sum(axis=1, dtype=np.int64).astype(np.float64)
        return np.ascontiguousarray(raw.T).astype(np.float32)
    # (c + o).q = c.q + o * sum(q)
    found = _dots(threads).run(None, {"rows": matrix, "queries": np.ascontiguousarray(codes.T)})[0]
    found -= (OFFSET * codes.sum(axis=1, dtype=np.int32)).astype(np.int32)
    return np.ascontiguousarray(found.T).astype(np.float32)


def scan(matrix: np.ndarray, qv: np.ndarray, scales: np.ndarray | None = None, threads: int = 1,
         sums: np.ndarray | None = None) -> np.ndarray:
    """matrix @ qv on `threads` threads (more only for a search running alone, see CORES in
    search/engine.py; each product is the same on any number), for one query vector or several
    (rows of qv, a row of the result each): float32 by SimSIMD, within 1e-7 of numpy's product, and
    several query vectors in one pass over memory; float16 (numpy has no fast float16 product) about
    1e-4 off, from the inputs' rounding; int8 codes held as unsigned bytes (see OFFSET; times their
    `scales`, `sums` each row's sum) with the query coded the same way, about 1e-3 off."""
    import simsimd

    queries = np.asarray(qv, dtype=np.float32).reshape(-1, qv.shape[-1])
    if not len(matrix):
        return np.zeros((len(queries), 0) if qv.ndim == 2 else 0, dtype=np.float32)
    if matrix.dtype == np.uint8:
        codes, step = code_query(queries)
        found = offset_dots(matrix, codes, threads, sums)
        found *= step[:, None]
        if scales is not None:
            found *= scales
        return found if qv.ndim == 2 else found[0]
    else:
        queries = np.ascontiguousarray(queries, dtype=matrix.dtype)
        found = np.asarray(simsimd.cdist(matrix, queries, metric="dot", threads=threads, out_dtype="float32"))
    # a row a query vector: each query's cosines are then contiguous; cdist(queries, matrix) would
    # pass over the matrix once per query
    found = np.ascontiguousarray(found.T)
    return found if qv.ndim == 2 else found[0]


class SharedScan:
    """The scans of a collection's passages and mean vectors for query vectors added one at a time
    (as each reading of a query is embedded), in blocks of rows that any thread takes in turn
    (`take`, then `scan`): SimSIMD lets go of Python's lock, so one thread can scan while another
    embeds or runs the keyword side. A block is scanned at once for every vector waiting for it,
    so that its rows are read from memory once for all of them. Each row's cosine is the same
    whichever block, thread or batch of query vectors computes it."""

    def __init__(self, passages: np.ndarray, passage_scales, documents: np.ndarray, document_scales,
                 passage_sums=None, document_sums=None):
        self._matrices = ((passages, passage_scales, passage_sums), (documents, document_scales, document_sums))
        self.found: dict = {}  # a vector's key -> (its passages' cosines, its documents')
        # each block of rows (which matrix, first row) and the vectors (and outputs) waiting for it
        self._waiting = {(m, lo): [] for m, (matrix, _, _) in enumerate(self._matrices)
                         for lo in range(0, len(matrix), BLOCK)}
        self._lock = threading.Lock()

    def add(self, key, vector: np.ndarray) -> None:
        """Queues one query vector's scan."""
        out = tuple(np.empty(len(matrix), dtype=np.float32) for matrix, _, _ in self._matrices)
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
        matrix, scales, sums = self._matrices[m]
        hi = lo + BLOCK
        found = scan(matrix[lo:hi], np.stack([vector for vector, _ in waiting]),
                     None if scales is None else scales[lo:hi], 1, None if sums is None else sums[lo:hi])
        for (_, into), row in zip(waiting, found):
            into[lo:hi] = row
