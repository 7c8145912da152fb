"""Per-document loops over every passage's cosine, compiled by Numba: numpy needs eight passes over
the passages for what one loop does here (773,000 passages at 100,000 cases, for every reading of a
query), which made these steps a fifth of a search at that size."""
from __future__ import annotations

import numba
import numpy as np


def _compiled(function):
    """Compiled once and kept on disk (beside this file, or in the user's cache) for the next
    process; where neither can be written (a read-only host such as a serverless function), compiled
    in each process instead (about half a second, at its first search)."""
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:  # Numba found nowhere to keep it
        return numba.njit(nogil=True)(function)


@_compiled
def centred_best(passages, hub, share, starts, counts):
    """For each document (its passages from starts[d], counts[d] of them): every passage's cosine
    less share x its hub value; the best of those, the second best (the best of those below the
    best, or the best again when there are none) and the best cosine as it is."""
    centred = np.empty(len(passages), dtype=np.float32)
    top = np.empty(len(starts), dtype=np.float32)
    second = np.empty(len(starts), dtype=np.float32)
    plain = np.empty(len(starts), dtype=np.float32)
    for d in range(len(starts)):
        best, below, highest = -np.inf, -np.inf, -np.inf
        for c in range(starts[d], starts[d] + counts[d]):
            value = passages[c]
            highest = max(highest, value)
            moved = value - share * hub[c]
            centred[c] = moved
            if moved > best:
                best, below = moved, best
            elif best > moved > below:
                below = moved
        top[d], plain[d] = best, highest
        second[d] = best if below == -np.inf else below
    return centred, top, second, plain
