"""Each document's best passages for one reading of a query (see centred in search/scoring.py): numpy
needs eight passes over the passages for what one loop does, which at 100,000 cases (773,000
passages, for every reading of a query) was a fifth of a search. The loop is compiled by Numba for
large collections only: Numba costs about 125 MB of memory once loaded (and 208 MB on disk, so it is
the `scale` extra, which `kb publish` installs only for such a collection), and below COMPILED_FROM
passages numpy's passes take a few milliseconds at most."""
from __future__ import annotations

import functools
import logging
import sqlite3
from pathlib import Path

import numpy as np

COMPILED_FROM = 50_000  # passages in a collection (about 6,500 cases)


def centred_best(passages: np.ndarray, hub: np.ndarray, share: np.float32, starts: np.ndarray, counts: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each document (its passages from starts[d], counts[d] of them): every passage's cosine
    less share x its hub value; the best of those, the second best (the best of those below the
    best, or the best again when there are none) and the best cosine as it is."""
    if len(passages) >= COMPILED_FROM:
        return compiled()(passages, hub, share, starts, counts)
    return in_numpy(passages, hub, share, starts, counts)


def uses_compiled_loop(db_path: Path) -> bool:
    """Whether a collection in kb.db (cases' passages or lessons') is large enough for the compiled
    loop, so that its site needs Numba (the `scale` extra). A database that cannot be read says no:
    publishing reports that itself."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            cases, lessons = conn.execute("select count(case_id), count(lesson_id) from chunks").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return max(cases, lessons) >= COMPILED_FROM


def in_numpy(passages, hub, share, starts, counts):
    if not len(starts):
        empty = np.zeros(0, dtype=np.float32)
        return passages - share * hub, empty, empty, empty
    plain = np.maximum.reduceat(passages, starts)
    centred = passages - share * hub
    top = np.maximum.reduceat(centred, starts)
    below = np.maximum.reduceat(np.where(centred == np.repeat(top, counts), -np.inf, centred), starts)
    return centred, top, np.where(np.isinf(below), top, below).astype(np.float32), plain


def _loop(passages, hub, share, starts, counts):
    centred = np.empty(len(passages), dtype=np.float32)
    top = np.empty(len(starts), dtype=np.float32)
    second = np.empty(len(starts), dtype=np.float32)
    plain = np.empty(len(starts), dtype=np.float32)
    # float32 like the values, so that no comparison converts (7.0 -> 4.6 ms for 751,612 passages)
    nothing = np.float32(-np.inf)
    for d in range(len(starts)):
        best, below, highest = nothing, nothing, nothing
        first = starts[d]
        for c in range(first, first + counts[d]):
            value = passages[c]
            if value > highest:
                highest = value
            moved = value - share * hub[c]
            centred[c] = moved
            if moved > best:
                below = best
                best = moved
            elif moved > below and moved < best:
                below = moved
        top[d] = best
        plain[d] = highest
        second[d] = best if below == nothing else below
    return centred, top, second, plain


@functools.cache
def compiled():
    """_loop compiled, and kept on disk (beside this file, or in the user's cache) for the next
    process; where neither can be written (a read-only host such as a serverless function),
    compiled in each process instead (about half a second, at its first search). Without Numba
    (installed without the `scale` extra, or a platform it has no build for), numpy's passes."""
    try:
        import numba
    except ImportError:
        logging.getLogger(__name__).warning(
            "a collection of %d passages or more searches faster with Numba: pip install '.[scale]'", COMPILED_FROM)
        return in_numpy

    try:
        return numba.njit(cache=True, nogil=True)(_loop)
    except RuntimeError:  # Numba found nowhere to keep it
        return numba.njit(nogil=True)(_loop)
