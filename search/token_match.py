"""The best few lessons re-ranked word by word (late interaction, as ColBERT scores): each content
word of the query is matched with the lesson's word most like it in context, and the matches are
averaged, rarer words counting more. A sentence vector is the mean of its words' vectors, so a
lesson's one vector blurs the several things it says, and a paragraph's the several things it
asks; word by word, a lesson that says the query's things in other words still matches them one by
one (see TOKEN_MATCH in search/scoring.py).

The words' vectors are the model's own, before its mean: a lesson's written by the build
(ingest/tokens.py), the query's kept from the pass that embedded it (search/semantic.py query_words)."""
from __future__ import annotations

import math
import sqlite3

import numpy as np

from kb.embedding import TOKEN_VECTORS
from kb.vocabulary import STOPWORDS

from .kept import Kept
from .scan import scan

SAMPLE = 4096  # lessons whose words give each word's rarity: all of them up to this many, else evenly spaced
TOKEN_MATCH_KEPT_BYTES = 32 * 2**20  # lessons' word vectors kept, as stored (int8: about 25 KB a lesson)


def content(tokens: list[str]) -> list[int]:
    """The positions of the tokens that carry content: the word pieces of a word ("avoid", "##able")
    that is letters or digits and not a function word."""
    keep, word, start = [], "", 0
    for k, token in enumerate([*tokens, "[END]"]):
        if not token.startswith("##"):
            if word and word.isalnum() and word.lower() not in STOPWORDS:
                keep.extend(range(start, k))
            word, start = token, k
        else:
            word += token[2:]
    return keep


class TokenMatcher:
    """Scores the documents of one collection against a query, word by word, from the stored word
    vectors of each document's first passage."""

    @classmethod
    def of(cls, conn, model: str, first_chunks: np.ndarray) -> "TokenMatcher | None":
        """The matcher, or None where the database holds no word vectors for this model (built before
        them, by the stand-in model, or a synthetic corpus)."""
        try:
            rows = conn.execute(f"select count(*) from {TOKEN_VECTORS} where model = ?", [model]).fetchone()[0]
        except sqlite3.OperationalError:
            return None
        return cls(conn, model, first_chunks) if rows else None

    def __init__(self, conn, model: str, first_chunks: np.ndarray):
        """`first_chunks`: each document's first passage, by its chunks rowid."""
        self.conn, self.model = conn, model
        self.first_chunks = first_chunks
        self.kept = Kept(TOKEN_MATCH_KEPT_BYTES)
        n = len(first_chunks)
        sample = np.unique(np.linspace(0, n - 1, min(n, SAMPLE)).astype(np.int64)) if n else np.zeros(0, np.int64)
        counts: dict[str, int] = {}
        for tokens, _ in self._read(sample, vectors=False).values():
            for token in {tokens[k] for k in content(tokens)}:
                counts[token] = counts.get(token, 0) + 1
        self.documents = len(sample)
        self.counts = counts

    def rarity(self, tokens: list[str]) -> np.ndarray:
        """Each token's inverse document frequency in the sample (never below 0.1: a word in nearly
        every lesson still says something)."""
        return np.array([max(0.1, math.log((self.documents + 1) / (self.counts.get(t, 0) + 0.5))) for t in tokens])

    def scores(self, words: tuple[np.ndarray, list[str]], docs: np.ndarray) -> np.ndarray | None:
        """For each document, the rarity-weighted mean over the query's content tokens (`words`: its
        word vectors and tokens) of the best cosine with any token of the document's (NaN without
        stored vectors); None where the query has no content token."""
        vectors, tokens = words
        keep = content(tokens)
        if not keep:
            return None
        query_vectors, weights = vectors[keep], self.rarity([tokens[k] for k in keep])
        out = np.full(len(docs), np.nan)
        matrices = self._vectors(docs)
        held = [n for n, m in enumerate(matrices) if m is not None and len(m)]
        if not held:
            return out
        # one product for every document, by SimSIMD on this thread (scan): numpy's goes to OpenBLAS,
        # whose threads then spin on both cores and slowed every search in the process (paragraphs 46 -> 75 ms)
        cosines = scan(np.vstack([matrices[n] for n in held]), query_vectors)
        starts = np.cumsum([0] + [len(matrices[n]) for n in held[:-1]])
        best = np.maximum.reduceat(cosines, starts, axis=1)  # each query token's best in each document
        out[held] = (weights[:, None] * best).sum(axis=0) / weights.sum()
        return out

    def _vectors(self, docs: np.ndarray) -> list[np.ndarray | None]:
        """Each document's content tokens' vectors (float32), kept or read (those missing in one read)."""
        found = {int(d): self.kept.get(int(d)) for d in docs}
        missing = [d for d, matrix in found.items() if matrix is None]
        for d, (tokens, vectors) in (self._read(np.array(missing, dtype=np.int64)).items() if missing else ()):
            found[d] = np.ascontiguousarray(vectors[content(tokens)])
            self.kept.put(d, found[d], found[d].nbytes + 100)
        return [found[int(d)] for d in docs]

    def _read(self, docs: np.ndarray, vectors: bool = True) -> dict[int, tuple[list[str], np.ndarray | None]]:
        """The stored tokens of these documents' first passages, and their vectors unless `vectors` is False."""
        by_chunk = {int(self.first_chunks[d]): int(d) for d in docs}
        out = {}
        ids = list(by_chunk)
        columns = "t.tokens, t.scales, t.codes" if vectors else "t.tokens, null, null"
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            for rowid, tokens, scales, codes in self.conn.execute(
                    f"select k.rowid, {columns} from chunks k join {TOKEN_VECTORS} t "
                    f"on t.content_hash = k.content_hash and t.model = ? where k.rowid in ({','.join('?' * len(part))})",
                    [self.model, *part]):
                words = tokens.split(" ") if tokens else []
                matrix = None
                if vectors:
                    scale = np.frombuffer(scales, dtype=np.float32)
                    matrix = np.frombuffer(codes, dtype=np.int8).reshape(len(scale), -1).astype(np.float32) * scale[:, None]
                    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
                out[by_chunk[rowid]] = (words, matrix)
        return out
