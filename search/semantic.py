"""The semantic side: the query's readings embedded (cached, and shared between two cores while the
keyword side runs), scanned against every passage and blended per document. Part of the Engine
(search/engine.py)."""
from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading

import numpy as np

from kb.embedding import LABEL_VECTORS

from .index import DocumentIndex
from .kernels import COMPILED_FROM
from .response import QueryError
from .scan import SharedScan, scan
from .scoring import (
    CASE_CONTEXT,
    CENTRING,
    LABEL_VECTOR,
    LABELLED_QUERY_SHARE,
    MANY_PASSAGES,
    NAMED_TAG,
    QUESTION_SHARE,
    SECOND_PASSAGE,
    SENTENCE_SHARE,
    WHOLE_DOCUMENT,
    _mixed,
    centred,
)
from .text import sentences_of, statement_of

# Embedding backends that may be called from two threads at once (ONNX Runtime's sessions are;
# the stand-in is numpy), so that a query's readings can be shared between two cores.
CONCURRENT_BACKENDS = ("onnx", "stand-in")
QUERY_CACHE = 1024  # query vectors kept, so a facet click or a page turn does not embed again
# scans kept once their search is done, for a repeated query (a few MB each at 100,000 cases); while a
# search runs, every scan it has made is kept too (see scans_pinned)
SCANS_KEPT = 8
# each named term's label's own scan, kept apart from the queries' (see _labelled): 3.4 MB a label at
# 100,000 cases, so about 75 of the vocabulary's 108 labels there, every one of them at 10,000
LABEL_SCANS_KEPT_BYTES = 256 * 2**20
QUERY_WORDS_KEPT_BYTES = 16 * 2**20  # queries' word vectors (see query_words): about 25 KB a sentence


class SemanticSide:
    """The Engine's semantic side (mixed into Engine, search/engine.py, whose connection, lock and caches it uses)."""

    @contextlib.contextmanager
    def scans_pinned(self):
        """Every scan a search makes is kept until it ends, whatever SCANS_KEPT says: a paragraph asked
        of the lessons is read a dozen ways, in the lessons and again in the cases (see _case_context),
        and its refining pass and its sentences' readings had scanned 1.1 million passages again for
        each reading the cases' scans had pushed out (at 100,000 cases the p95 of a lesson search was
        975 ms, now 333). Nested calls share the outer search's."""
        if getattr(self._search_state, "pins", None) is not None:
            yield
            return
        pins = self._search_state.pins = set()
        try:
            yield
        finally:
            self._search_state.pins = None
            with self._lock:
                for key in pins:
                    self._pinned[key] -= 1
                    if not self._pinned[key]:
                        del self._pinned[key]
                self._trim_scans()

    def _trim_scans(self) -> None:
        """With the lock held: the oldest scans no search in flight has made, beyond SCANS_KEPT, let go."""
        excess = len(self._scans) - SCANS_KEPT
        if excess > 0:
            for key in [key for key in self._scans if key not in self._pinned][:excess]:
                del self._scans[key]

    def query_vector(self, query: str) -> np.ndarray:
        return self.query_vectors([query])[0]

    def query_vectors(self, queries: list[str]) -> list[np.ndarray]:
        """Each text's vector, from the cache or embedded (those not cached in one batch)."""
        with self._lock:
            found = {q: self._cached_vector(q) for q in queries}
        missing = list(dict.fromkeys(q for q, v in found.items() if v is None))
        if missing:
            words: dict = {}  # each text's word vectors from the same pass, where the model gives them
            vectors = (self.embedder.encode(missing, tokens=words) if getattr(self.embedder, "backend", None) == "onnx"
                       else self.embedder.encode(missing))
            for text, (token_vectors, tokens) in words.items():
                self._query_words.put(text, (token_vectors, tokens), token_vectors.nbytes + 100)
            for q, vector in zip(missing, vectors):
                found[q] = vector
            with self._lock:
                for q in missing:
                    if self._label_vectors is not None and q in self._label_texts:
                        self._label_vectors[q] = found[q]  # kept for good, as the stored ones are
                        continue
                    if len(self._query_vectors) >= QUERY_CACHE:
                        self._query_vectors.pop(next(iter(self._query_vectors)))
                    self._query_vectors[q] = found[q]
        return [found[q] for q in queries]

    def query_words(self, query: str) -> tuple[np.ndarray, list[str]] | None:
        """The query's word vectors and tokens (see search/token_match.py), sentence by sentence (a
        sentence's words read in its own context), each kept from the pass that embedded it where
        there was one, else worked out; None where the model has no word pieces."""
        sentences = sentences_of(query)
        sentences = sentences if len(sentences) > 1 else [query]
        found = {s: self._query_words.get(s) for s in sentences}
        missing = [s for s, words in found.items() if words is None]
        if missing:
            work_out = getattr(self.embedder, "token_vectors", None)  # a stand-in may have none
            worked_out = work_out(missing) if work_out is not None else None
            if worked_out is None:
                return None
            for text, words in zip(missing, worked_out):
                found[text] = words
                self._query_words.put(text, words, words[0].nbytes + 100)
        return (np.vstack([found[s][0] for s in sentences]), [t for s in sentences for t in found[s][1]])

    def _cached_vector(self, text: str) -> np.ndarray | None:
        """With the lock held: a query's vector from the cache, or a term's label's."""
        found = self._query_vectors.get(text)
        if found is None and self._label_vectors is not None:
            found = self._label_vectors.get(text)
        return found

    @functools.cached_property
    def _label_texts(self) -> frozenset[str]:
        return frozenset(t.label for v in self.vocabularies.values() for t in v.terms.values())

    def load_label_vectors(self) -> None:
        """The vocabulary's labels' vectors as the build stored them (LABEL_VECTORS, kb/embedding.py),
        for the query model only, kept for good: a query naming a term is read with its label too
        (see LABEL_VECTOR), and a label kept among the query vectors would be embedded again by each
        new server and once QUERY_CACHE later queries had pushed it out. Labels the database lacks
        (built before they were stored) are embedded once when first named, and then kept alike."""
        with self._lock:
            if self._label_vectors is not None:
                return
        model = getattr(self.embedder, "name", None)
        stored: dict[str, np.ndarray] = {}
        try:
            rows = self.conn.execute(f"select label, vector from {LABEL_VECTORS} where model = ?", [model]).fetchall()
        except sqlite3.OperationalError:  # built before they were stored
            rows = []
        known = self._label_texts
        for label, blob in rows:
            if label in known:
                stored[label] = np.frombuffer(blob, dtype=np.float32)
        with self._lock:
            if self._label_vectors is None:
                self._label_vectors = stored

    @staticmethod
    def _pooled(sentences: list[str], vectors: list[np.ndarray]) -> np.ndarray:
        """A paragraph's vector worked out from its sentences' (see SENTENCE_SHARE)."""
        words = np.array([max(len(s.split()), 1) for s in sentences], dtype=np.float32)
        vector = (np.stack(vectors) * words[:, None]).sum(axis=0)
        return (vector / np.linalg.norm(vector)).astype(np.float32)

    def _labels(self, target: str, named) -> list[str]:
        """The labels whose vectors a query's labelled reading is worked out from (see LABEL_VECTOR),
        embedded and cached as queries are: none for a query that names no term, or in lesson search."""
        if LABEL_VECTOR[target] is None or not named:
            return []
        self.load_label_vectors()
        return list(dict.fromkeys(self.vocabularies[v].terms[slug].label for v, slug in named))

    def _with_labels(self, target: str, query_vector: np.ndarray, labels: list[np.ndarray]) -> np.ndarray:
        """The query's vector plus LABEL_VECTOR x the mean of its labels', normalised."""
        vector = query_vector + np.float32(LABEL_VECTOR[target]) * np.mean(labels, axis=0)
        return (vector / np.linalg.norm(vector)).astype(np.float32)

    _scan = staticmethod(scan)  # see search/scan.py

    def _prescan(self, col: DocumentIndex, vectors: list[np.ndarray], scanned: dict | None = None,
                 labelled: tuple | None = None) -> list[tuple[np.ndarray, ...]]:
        """Every passage's and every document's mean vector's cosine with each query vector, and each
        document's best two passages' (see centred): the last SCANS_KEPT are kept, the others scanned
        in one pass unless `scanned` (see _embed_aside) holds their cosines. `labelled` is the labelled
        reading of vectors[0] (its vector, its labels' texts and vectors: see LABEL_VECTOR), whose
        cosines are worked out from the query's and its labels' (see _labelled), not scanned; its
        best passages come last."""
        vectors = vectors + ([labelled[0]] if labelled is not None else [])
        keys = [self._scan_key(col, qv) for qv in vectors]
        with self._lock:
            found = {key: self._scans.pop(key) for key in keys if key in self._scans}
        todo = [k for k, key in enumerate(keys) if key not in found]
        scanned = dict(scanned or {})
        # from the query's scan as scanned now (a kept one is centred: the reading is then scanned)
        worked_out = labelled is not None and keys[-1] not in found and keys[-1] not in scanned and keys[0] not in found
        columns, fresh = {}, []  # each label's scan; those not kept yet
        if worked_out:
            for text in labelled[1]:
                columns[text] = self._label_scans.get(self._label_key(col, text))
                if columns[text] is None:
                    columns[text] = scanned.get(self._label_key(col, text))
                    fresh.append(text)
        missing = [(text, vector) for text, vector in zip(*labelled[1:]) if columns[text] is None] if worked_out else []
        rest = [k for k in todo if keys[k] not in scanned and not (worked_out and k == len(keys) - 1)]
        if rest or missing:
            queries = np.stack([vectors[k] for k in rest] + [vector for _, vector in missing])
            cores = self._cores_free()
            sims = self._scan(col.vectors, queries, col.scales, cores, col.sums)
            whole = self._scan(col.doc_vectors, queries, col.doc_scales, cores, col.doc_sums)
            scanned.update((keys[k], (sims[j], whole[j])) for j, k in enumerate(rest))
            # copies, to be kept: not rows of the batch's scan
            columns.update((text, (sims[j].copy(), whole[j].copy())) for j, (text, _) in enumerate(missing, start=len(rest)))
        if worked_out:
            for text in fresh:
                self._label_scans.put(self._label_key(col, text), columns[text], sum(part.nbytes for part in columns[text]))
            scanned[keys[-1]] = self._labelled(col, vectors[0], scanned[keys[0]], labelled[2],
                                               [columns[t] for t in labelled[1]])

        def best_two(some: list[int]) -> dict:
            return {keys[k]: centred(CENTRING[col.target], *scanned[keys[k]], col.passage_hub, col.doc_hub,
                                     col.chunk_start, col.chunk_count) for k in some}

        # several readings of a large collection: the helper finds every other one's best passages
        # (the compiled loop lets go of Python's lock), when this search runs alone; for a small one
        # handing work over costs more than it saves
        alone = self._helper is not None and self._cores_free() > 1
        aside = (self._helper.submit(best_two, todo[1::2])
                 if len(todo) > 1 and len(col.vectors) >= COMPILED_FROM and alone else None)
        found.update(best_two(todo[0::2] if aside is not None else todo))
        if aside is not None:
            found.update(aside.result())
        pins = getattr(self._search_state, "pins", None)
        with self._lock:
            self._scans.update(found)  # most recently used last
            for key in found.keys() - pins if pins is not None else ():
                pins.add(key)
                self._pinned[key] += 1
            self._trim_scans()
        return [found[key] for key in keys]

    @staticmethod
    def _scan_key(col: DocumentIndex, qv: np.ndarray) -> tuple[str, bytes]:
        """What a scan is kept under (SCANS_KEPT) and shared by (_embed_aside)."""
        return col.target, qv.tobytes()

    @staticmethod
    def _label_key(col: DocumentIndex, label: str) -> tuple[str, str, str]:
        """What a label's own scan is kept under (LABEL_SCANS_KEPT_BYTES) and shared by (_embed_aside)."""
        return col.target, "label", label

    @staticmethod
    def _labelled(col: DocumentIndex, query_vector: np.ndarray, plain: tuple, label_vectors: list[np.ndarray],
                  label_scans: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
        """The labelled reading's cosines (passages', documents'), worked out rather than scanned: its
        vector is a sum of the query's and the labels' (see _with_labels) and a cosine is a dot
        product, so each is the query's cosine plus LABEL_VECTOR x the mean of the labels', over the
        sum's length. A label's scan is kept (LABEL_SCANS_KEPT_BYTES), so a query naming a term costs
        one scan, not two (the labelled reading had been scanned as a vector of its own: at 100,000
        cases about a quarter of a search). Within float32 rounding of the scan of that vector; for
        int8 codes, within their own rounding, the documents that decide the page re-scored in
        float32 as before."""
        weight = np.float32(LABEL_VECTOR[col.target])
        length = np.float32(np.linalg.norm(query_vector + weight * np.mean(label_vectors, axis=0)))
        share = weight / np.float32(len(label_scans))
        out = []
        for m in range(2):  # in place: at 100,000 cases each temporary is 750,000 passages' worth
            cosines = label_scans[0][m] * share if len(label_scans) == 1 else label_scans[0][m] + label_scans[1][m]
            if len(label_scans) > 1:
                for scan in label_scans[2:]:
                    cosines += scan[m]
                cosines *= share
            cosines += plain[m]
            cosines /= length
            out.append(cosines)
        return out[0], out[1]

    def _exact(self, col: DocumentIndex, docs: np.ndarray) -> tuple:
        """For documents held in float16 or int8: their chunks' positions, float32 vectors and mean vectors,
        read from the copy saved beside the database (else from the chunks table), to re-score them exactly."""
        # those with passages (np.intersect1d, without sorting every document again)
        docs = np.unique(docs)
        at = np.minimum(np.searchsorted(col.doc_with_chunks, docs), max(len(col.doc_with_chunks) - 1, 0))
        keep = col.doc_with_chunks[at] == docs if len(col.doc_with_chunks) else np.zeros(len(docs), bool)
        docs, at = docs[keep], at[keep]
        starts, counts = col.chunk_start[at], col.chunk_count[at]
        chunks = np.concatenate([np.arange(a, a + c) for a, c in zip(starts, counts)]) if len(docs) else np.zeros(0, int)
        vectors = None
        if len(chunks):
            vectors = (col.exact.spans(starts, counts) if col.exact is not None
                       else col.read_vectors(self.conn, col.chunk_rowid[chunks]))
        means = col.mean_vectors(vectors, np.concatenate([[0], np.cumsum(counts)[:-1]])) if len(chunks) else None
        return at, chunks, vectors, means

    def _semantic(self, col: DocumentIndex, qv: np.ndarray, exact=None, passages: bool = True
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Per document: the blended score (see SECOND_PASSAGE), the best passage's plain cosine; and
        every passage's centred cosine (see CENTRING), unless `passages` is False (a reading only
        blended in: re-scored, its 750,000 passages' cosines were copied for nothing at 100,000
        cases). `exact` (from _exact) replaces float16 or int8 cosines by float32 ones."""
        if len(qv) != col.dims:
            raise QueryError(f"the query model gives {len(qv)} dimensions but the database holds {col.dims}; "
                             "rebuild with the same model")
        # kept for the refining pass (_refine) and a repeated query (a facet click, the next page)
        sims, whole, top, second, plain = self._prescan(col, [qv])[0]
        if exact is not None and exact[1] is not None and len(exact[1]):
            # only the re-scored documents' passages change: the others keep their best two
            at, chunks, vectors, means = exact
            whole, top, second, plain = whole.copy(), top.copy(), second.copy(), plain.copy()
            counts = col.chunk_count[at]
            # by SimSIMD on this thread, as the scans: numpy's product goes to OpenBLAS, whose threads
            # then spin on both cores while the next search embeds and scans
            both = np.stack([qv, col.centroid]).astype(np.float32)
            passage_dots, mean_dots = self._scan(vectors, both), self._scan(means, both)
            rescored, whole[at], top[at], second[at], plain[at] = centred(
                CENTRING[col.target], passage_dots[0], mean_dots[0], passage_dots[1], mean_dots[1],
                np.r_[0, np.cumsum(counts)[:-1]], counts)
            if passages:
                sims = sims.copy()
                sims[chunks] = rescored
        scored = top + SECOND_PASSAGE[col.target] * second
        scored += WHOLE_DOCUMENT * whole
        scored = scored.astype(np.float64)
        scored -= MANY_PASSAGES * col.log_passages
        if len(col.doc_with_chunks) == len(col.ids):  # every document has passages (no scatter needed)
            best, blended = plain.astype(np.float64), scored
        else:
            best = np.full(len(col.ids), np.nan)
            blended = np.full(len(col.ids), np.nan)
            best[col.doc_with_chunks] = plain
            blended[col.doc_with_chunks] = scored
        return blended, best, sims if passages else None

    def semantic_scores(self, col: DocumentIndex, query: str, named: list[tuple[str, str]] = (), exact=None,
                        scanned: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Blended semantic score per document (NaN without passages), best-passage plain cosine, and
        every passage's centred cosine; the query read as typed and with the labels of the terms it
        names (`scanned`: cosines already scanned, see _embed_aside)."""
        n = len(col.ids)
        if not len(col.vectors):
            return np.full(n, np.nan), np.full(n, np.nan), None
        readings, sentences, statement = self._readings(col.target, query, named)
        # every reading of the query embedded in one batch and scanned in one pass
        labels = self._labels(col.target, named)
        texts = readings[1:] + sentences + ([statement] if statement else [])
        vectors = self.query_vectors(([] if sentences else [query]) + texts + labels)
        if sentences:  # a paragraph: worked out from its sentences' vectors
            at = len(readings) - 1
            vectors.insert(0, self._pooled(sentences, vectors[at: at + len(sentences)]))
        texts = [query] + texts
        vectors, labelled = vectors[:len(texts)], vectors[len(texts):]
        worked_out = self._with_labels(col.target, vectors[0], labelled) if labels else None
        self._prescan(col, vectors, scanned, (worked_out, labels, labelled) if labels else None)
        blended, best, sims = self._semantic(col, vectors[0], exact)
        reading = worked_out if worked_out is not None else self.query_vector(readings[1]) if len(readings) > 1 else None
        if reading is not None:  # read again with the labels of the terms it names
            labelled, _, _ = self._semantic(col, reading, exact, passages=False)
            blended = (1 - LABELLED_QUERY_SHARE) * blended + LABELLED_QUERY_SHARE * labelled
        for vocabulary, slug in named:
            column = next((f["column"] for f in self.facets.values() if f["vocabulary"] == vocabulary), None)
            tagged = col.masks.get(column, {}).get(slug)
            if tagged is not None and tagged.any():
                blended = blended + NAMED_TAG[col.target] * np.log(n / tagged.sum()) * tagged
        if col.target != "cases" and col.links["case_id"]:
            blended = blended + CASE_CONTEXT * self._case_context(col, query, named) * np.nanstd(blended)
        if sentences:
            each = np.mean([self._semantic(col, self.query_vector(s), exact, passages=False)[0] for s in sentences],
                           axis=0)
            blended = _mixed(blended, each, SENTENCE_SHARE)
        if statement:
            blended = _mixed(blended, self._semantic(col, self.query_vector(statement), exact, passages=False)[0],
                             QUESTION_SHARE[col.target])
        return blended, best, sims

    def _readings(self, target: str, query: str, named) -> tuple[list[str], list[str], str | None]:
        """The texts a query is read as: as typed (and with the labels of the terms it names, unless
        that reading's vector is worked out: see LABEL_VECTOR), each of its sentences if it has
        several, and a lesson query's question without its opening."""
        labels = [self.vocabularies[v].terms[slug].label for v, slug in named] if LABEL_VECTOR[target] is None else []
        readings = [query] + ([f"{query} ({'; '.join(labels)})"] if labels else [])
        sentences = sentences_of(query)
        sentences = sentences if len(sentences) > 1 else []
        statement = statement_of(query) if QUESTION_SHARE[target] else None
        return readings, sentences, statement

    def _embed_aside(self, col: DocumentIndex, query: str, named):
        """Starts embedding the query's readings on the helper thread while this one runs the
        keyword side (the embedding model lets go of Python's lock), when this search runs alone;
        gives the function this thread calls when its own work is done, which embeds the readings
        the helper has not started and waits for the helper. Readings go longest first, one at a
        time, so that a paragraph's sentences are shared between both cores; a PyTorch model, not
        known to be safe to call from two threads at once, gets them all in one call, on whichever
        thread takes them first. Each reading's scan of the passages is queued in blocks as soon as
        its vector is there (SimSIMD lets go of the lock too), so that a thread with no reading left
        to embed scans while the other embeds; the function then gives those scans (see _prescan)."""
        if self._helper is None or self._cores_free() < 2:
            return None
        readings, sentences, statement = self._readings(col.target, query, named)
        labels = self._labels(col.target, named)
        texts = ([] if sentences else [query]) + readings[1:] + sentences + ([statement] if statement else []) + labels
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if self._cached_vector(t) is None))
        shareable = getattr(self.embedder, "backend", None) in CONCURRENT_BACKENDS
        work = ([[t] for t in sorted(missing, key=len, reverse=True)] if shareable else [missing]) if missing else []
        plan = (SharedScan(col.vectors, col.scales, col.doc_vectors, col.doc_scales, col.sums, col.doc_sums)
                if len(col.vectors) else None)
        state = {"embedding": 0, "queued": set(), "pooled": False}
        ready = threading.Condition(self._lock)

        def queue(some: list[str]):  # with the lock held: scans for the readings whose vectors are there
            for text in some:
                vector = self._cached_vector(text)
                if plan is None or vector is None or text in state["queued"]:
                    continue
                state["queued"].add(text)
                # a label's scan is kept under a key of its own (see _labelled), unless it is kept already
                key = self._label_key(col, text) if text in labels else self._scan_key(col, vector)
                if key not in self._scans and (text not in labels or self._label_scans.get(key) is None):
                    plan.add(key, vector)
            # a paragraph's vector (see SENTENCE_SHARE), worked out once its sentences' vectors are there
            found = [self._query_vectors.get(s) for s in sentences]
            if plan is not None and sentences and not state["pooled"] and all(v is not None for v in found):
                state["pooled"] = True
                vector = self._query_vectors.setdefault(query, self._pooled(sentences, found))
                key = self._scan_key(col, vector)
                if key not in self._scans:
                    plan.add(key, vector)

        def run():  # embed while there is a reading to embed, scan while there is a block; wait while one is embedded
            while True:
                with ready:
                    while True:
                        some = work.pop(0) if work else None
                        block = plan.take() if some is None and plan is not None else None
                        if some is not None or block is not None or not state["embedding"]:
                            break
                        ready.wait()
                    if some is None and block is None:
                        return
                    state["embedding"] += some is not None
                if some is not None:
                    try:
                        self.query_vectors(some)
                    finally:
                        with ready:
                            state["embedding"] -= 1
                            queue(some)
                            ready.notify_all()
                else:
                    plan.scan(block)

        with ready:
            queue(texts)  # those embedded before
        if not work and (plan is None or not plan.found):
            return None  # a facet click or the next page while its scans are kept: nothing to embed or scan
        # its vectors kept but not its scans (a query asked again after 8 others): scanned beside the
        # keyword side as a new query's are, not after it (at 100,000 cases 8% less time a query)
        helper = self._helper.submit(run)

        def finish():
            run()
            helper.result()  # every vector is in the cache now, and every block scanned
            return dict(plan.found) if plan is not None and plan.found else None
        return finish

    def _case_context(self, col: DocumentIndex, query: str, named) -> np.ndarray:
        """Each lesson's case's semantic score, standardised over the cases (0 for a report's finding)."""
        cases = self.index("cases")
        score, _, _ = self.semantic_scores(cases, query, named)
        score = np.nan_to_num((score - np.nanmean(score)) / (np.nanstd(score) or 1.0))
        with self._lock:
            if col.target not in self._case_rows:  # each document's case's place among the cases, or -1
                self._case_rows[col.target] = np.array([cases.position.get(c, -1) for c in col.links["case_id"]],
                                                       dtype=np.int64)
            at = self._case_rows[col.target]
        return np.where(at >= 0, score[at], 0.0) if len(score) else np.zeros(len(at))
