"""One search engine for the command line and the site: keyword (FTS5 BM25), semantic (cosine
over passage vectors, blended per document) and hybrid (semantic plus keyword, weighted by how much
of the query the words cover; see hybrid_scores in search/scoring.py).

The Engine is the one object callers hold: it opens the database, reads a query (search) and ranks
it (rank). Its parts are modules of their own, mixed into it and sharing its connection, lock and
caches: how a query's words are read (search/reading.py), the keyword side (search/keyword.py), the
words a document holds by what it is (search/holds.py), the semantic side (search/semantic.py), the
page of results (search/results.py) and the filters (search/filters.py); the weights and the
functions that combine the sides are in search/scoring.py, what a search returns in
search/response.py.

Who is in the result set is decided before any filter; filters are boolean masks over the documents
(several values of one facet OR-ed, different facets AND-ed, plus a range on the achieved yearly
saving), so facet counts are exactly what ticking a value shows."""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import json
import math
import os
import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from kb.arrays import Sidecar
from kb.embedding import QUESTION_KIND, Embedder
from kb.schema import tables
from kb.vocabulary import SAVING, spelt_out, stored_vocabularies

from .filters import Filters
from .holds import Holds, _either
from .index import DocumentIndex
from .kept import Kept
from .keyword import NAME_PHRASES_KEPT_BYTES, PHRASE_CACHE_BYTES, KeywordSide
from .reading import ASKING_FOR_LESSONS, QueryReading, Worded
from .response import QueryError, SearchResponse
from .results import Results
from .scoring import (
    CENTRING,
    CLOSE_MIN_ASKED,
    CLOSE_MIN_COSINE,
    CLOSE_MIN_COVERAGE,
    CLOSE_RANKS,
    SEMANTIC_NEIGHBOURS,
    SEMANTIC_THRESHOLD,
    TARGETS,
    TOKEN_MATCH,
    TOKEN_MATCH_DOCS,
    TOKEN_MATCH_QUESTIONS,
    Ranking,
    best_first,
    close_matches,
    hybrid_scores,
    never_overtaken,
)
from .semantic import LABEL_SCANS_KEPT_BYTES, QUERY_WORDS_KEPT_BYTES, SemanticSide
from .spelling import Speller
from .token_match import TokenMatcher
from .text import (
    TermMatcher,
    excluded_of,
    set_aside_of,
    normalised,
    query_stems,
    quoted_of,
    statement_of,
    stem,
    terms_of,
    unquoted,
    within,
)

MODES = ("hybrid", "keyword", "semantic")
MAX_QUERY_CHARS = 1000  # the most of a query searched: a longer one is searched from its start this far (see text.within)
EXPORT_LIMIT = 100_000  # the most results one call returns: an export returns every result
SORTS = ("relevance", "saving", "year")
QUERY_THREADS = 1
# A search that runs alone uses the machine's other cores: its passages are scanned on every core and
# its query embedded while the keyword side runs. With searches in flight together each keeps to one
# core, since they already fill them (see Engine._cores_free).
CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # a container's CPU quota (cgroup v2): "quota period" or "max period"


def usable_cores() -> int:
    """The cores this process may run on, fewer under a container's CPU quota (Cloud Run, Fly and
    Docker's --cpus set one; os.cpu_count() gives the host's cores, which would oversubscribe it)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = CPU_MAX.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


CORES_ENV = "KB_SEARCH_CORES"  # the cores a search running alone may spread over (kb serve sets it per worker)
CORES = max(1, min(usable_cores(), int(os.environ.get(CORES_ENV) or 64)))
# How cosines are computed: "exact" (float32), "float16" (half the memory, about 1e-4 off) or "int8"
# (a quarter of the memory and a scan three times faster than float16's, about 1e-3 off; see
# ingest/codes.py), the page, the RESCORE best and the RESCORE nearest then re-scored in float32;
# or "auto": exact for a collection of at most EXACT_CHUNKS chunks, else int8 where the build wrote
# its codes (else float16). The environment variable KB_VECTORS chooses.
VECTORS = ("auto", "exact", "float16", "int8")
EXACT_CHUNKS = 250_000
RESCORE = 100
RESCORE_PAGES = 2000  # an export beyond this many results is ordered by float16 or int8 cosines after them
# Each query's ranking (scores, result set, close matches, passages' cosines) is kept until this is
# full, most recently used last: a facet click, a page turn or an export of the same query ranks
# nothing again, since who is in the result set does not depend on the filters, the page or the sort
# (about 0.1 MB a query at 76 cases, 0.7 MB at 10,000, 7 MB at 100,000)
RANKINGS_KEPT_BYTES = 64 * 2**20


def _counted(method):
    """Keeps the engine's count of searches in flight (see CORES), and every scan the search makes
    until it ends (see SemanticSide.scans_pinned)."""
    @functools.wraps(method)
    def counted(self, *args, **kwargs):
        with self.occupied(), self.scans_pinned():
            return method(self, *args, **kwargs)
    return counted


class Engine(QueryReading, KeywordSide, Holds, SemanticSide, Results, Filters):
    """Search over one kb.db, opened read-only; one per database file (see engine_for)."""

    def __init__(self, db_path: Path, embedder=None, vectors: str | None = None, arrays: bool | None = None):
        self.db_path = Path(db_path)
        self.vectors = vectors or os.environ.get("KB_VECTORS") or "auto"
        if self.vectors not in VECTORS:
            raise QueryError(f"unknown vectors '{self.vectors}'; use one of {', '.join(VECTORS)}")
        if embedder is not None:
            _one_thread(embedder)
        self.conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, check_same_thread=False)
        self._embedder = embedder
        # the indexes' arrays saved beside the database (kb/arrays.py); arrays=False or KB_ARRAYS=off reads
        # the database alone and writes nothing beside it (a host whose disk is memory, such as Cloud Run)
        if arrays is None:
            arrays = os.environ.get("KB_ARRAYS", "on").strip().lower() not in ("off", "0", "false", "no")
        self._sidecar = Sidecar.of(self.db_path, self.conn) if arrays else None
        self._indexes: dict[str, DocumentIndex] = {}
        self._query_vectors: dict[str, np.ndarray] = {}
        self._label_vectors: dict[str, np.ndarray] | None = None  # see SemanticSide.load_label_vectors
        self._phrases = Kept(PHRASE_CACHE_BYTES)  # see KeywordSide._phrase
        self._name_phrases = Kept(NAME_PHRASES_KEPT_BYTES)
        self._scans: dict[tuple[str, bytes], tuple[np.ndarray, ...]] = {}
        self._pinned: collections.Counter = collections.Counter()  # scans searches in flight have made (see scans_pinned)
        self._search_state = threading.local()
        self._label_scans = Kept(LABEL_SCANS_KEPT_BYTES)  # see SemanticSide._labelled
        self._query_words = Kept(QUERY_WORDS_KEPT_BYTES)  # see SemanticSide.query_words
        self._token_matchers: dict[str, TokenMatcher | None] = {}  # by target, made at its first search (see _token_matched)
        self._rankings: dict[tuple[str, str, str], Ranking] = {}
        self._ranking_bytes = 0
        self._ranking_now: dict[tuple[str, str, str], threading.Event] = {}
        self._phrase_tokens: dict[str, list[str]] = {}
        self._case_rows: dict[str, np.ndarray] = {}
        self._findings: dict[str, np.ndarray] = {}
        self._figure_rows: dict[str, tuple] = {}
        self._year_spans: dict[str, tuple] = {}
        self._lock = threading.Lock()
        self.cores = CORES
        self._in_flight = 0  # searches running now (see CORES)
        self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-embed") if self.cores > 1 else None
        # An empty FTS5 table with the corpus's tokenizer: it stems query words the way the index did.
        self._stemmer = sqlite3.connect(":memory:", check_same_thread=False)
        self._stemmer.execute("create virtual table q using fts5(t, tokenize='porter')")
        self._stemmer.execute("create virtual table qv using fts5vocab(q, 'instance')")
        try:
            self.sources = {r[0] for r in self.conn.execute("select id from sources")}
            self.case_ids = {r[0] for r in self.conn.execute("select id from cases")}
            # the vocabulary the database was built with, not the one in kb/vocabulary.yml today
            self.vocabularies = stored_vocabularies(self.conn)
            facets = dict(self.conn.execute(
                "select key, value from kb_meta where key in ('facets', 'abbreviations', 'thesaurus', 'shorthand')").fetchall())
        except sqlite3.DatabaseError as err:
            raise QueryError(f"{self.db_path.name} is not a knowledge base built by this version ({err}); "
                             "run `kb build` again") from err
        self.facets = {f["column"]: f for f in json.loads(facets.get("facets", "[]"))}
        # vocabulary terms a query may name in everyday words: those of the tag facets
        self.term_matcher = TermMatcher({f["vocabulary"]: self.vocabularies[f["vocabulary"]]
                                         for f in self.facets.values() if f["many"] and f["vocabulary"]})
        self._facet_of = {f["vocabulary"]: column for column, f in self.facets.items() if f["vocabulary"]}
        # and the terms of the one-value facets saying where a case stands (status, outcome, evidence), which
        # a query names by the words of its question ("projects that failed", "independently validated")
        self.state_matcher = TermMatcher({f["vocabulary"]: self.vocabularies[f["vocabulary"]]
                                          for f in self.facets.values() if not f["many"] and f["vocabulary"]})
        # the kinds of money figure a query names ("income", "budget"), for a sum given as a bound
        kinds = next(c.vocabulary for c in tables()["figures"].columns if c.name == "kind")
        self.kind_matcher = TermMatcher({kinds: self.vocabularies[kinds]})
        # names the collection writes out in capitals, by their acronym ("lgps": "local government pension scheme")
        try:
            rows = self.conn.execute("select acronym, phrase from acronym_phrases order by documents desc, phrase").fetchall()
        except sqlite3.OperationalError:  # built before they were written
            rows = []
        self.written_out: dict[str, list[str]] = {}
        for acronym, phrase in rows:
            self.written_out.setdefault(acronym, []).append(phrase)
        # the abbreviations the site explains that are no term's name (kb/abbreviations.yml, as built),
        # by the words they are made of ("fte": "full-time equivalent", "latco": "local authority trading company")
        self.abbreviated: dict[str, list[str]] = {
            a.lower(): [words] for a, meaning in json.loads(facets.get("abbreviations") or "{}").items()
            if (words := spelt_out(a, meaning))}
        # words the sector uses for one thing (kb/thesaurus.yml, as built), by the stem of each single word:
        # a query's "councillors" also finds the reports' "members"
        self.equivalents: dict[str, list[str]] = {}
        # and a word of several words by the stems of its words, for a query that types it ("funding
        # gap", "young people", "out of work": as one query word, see _grouped)
        self.equivalent_phrases: dict[tuple[str, ...], tuple[str, list[str]]] = {}
        for group in json.loads(facets.get("thesaurus") or "[]"):
            for word in group:
                if " " not in word:
                    self.equivalents.setdefault(stem(word), []).extend(w for w in group if w != word)
                else:
                    self.equivalent_phrases[tuple(stem(w) for w in word.split())] = (word, [w for w in group if w != word])
        self.speller = Speller(self.conn, self._lock, self._known_stem, frozenset(
            w for vocabulary in self.vocabularies.values() for term in vocabulary.terms.values()
            for name in (term.label, *term.aliases, *term.synonyms) for w in re.findall(r"[^\W_]+", name.lower()))
            | frozenset(self.written_out) | frozenset(self.abbreviated)
            | frozenset(w for same in self.equivalents.values() for name in same for w in name.split()),
            self._known_pair, self._a_name, json.loads(facets.get("shorthand") or "{}"))

    def index(self, target: str) -> DocumentIndex:
        with self._lock:
            if target not in self._indexes:
                try:
                    self._indexes[target] = DocumentIndex(self.conn, target, self._precision(target), self._sidecar)
                except sqlite3.OperationalError as err:
                    raise QueryError(f"{self.db_path.name} does not match this version of the schema ({err}); "
                                     "run `kb build` again") from err
            return self._indexes[target]

    def _precision(self, target: str) -> str:
        """float32 (exact) unless asked for float16 or int8, or 'auto' and the collection has more than
        EXACT_CHUNKS chunks (int8 where the build wrote codes, else float16)."""
        if self.vectors != "auto":
            return "float32" if self.vectors == "exact" else self.vectors
        try:
            chunks = self.conn.execute("select sum(length(chunks)) / 8 from vector_blocks where collection = ?",
                                       [target]).fetchone()[0] or 0
        except sqlite3.OperationalError:
            return "float32"
        if chunks <= EXACT_CHUNKS:
            return "float32"
        try:
            self.conn.execute("select 1 from vector_codes limit 1").fetchall()
        except sqlite3.OperationalError:
            return "float16"  # built before int8 codes were written
        return "int8"

    @property
    def embedder(self):
        if self._embedder is None:
            self._embedder = _one_thread(Embedder(self.index("cases").model))
        return self._embedder

    @contextlib.contextmanager
    def occupied(self):
        """Counts as a search in flight while it lasts: a server wraps the rest of a request's work
        (the page around the results) in it, so a search beside it keeps to one core."""
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def _cores_free(self) -> int:
        """The cores this search may use: all of them when it is the only one running."""
        with self._lock:
            return self.cores if self._in_flight <= 1 else 1

    # -- the one entry point --------------------------------------------------------------------
    @_counted
    def search(self, query: str, mode: str = "hybrid", target: str = "cases", filters=None,
               min_savings: float | None = None, max_savings: float | None = None, limit: int = 10,
               offset: int = 0, with_facets: bool = False, sort: str | None = None,
               spelling: bool = True) -> SearchResponse:
        """Documents matching the query (every document when there is none), filtered, sorted, one page;
        misspelt words corrected first (see search/spelling.py), or with `spelling` False only suggested.

        Who is in the result set does not depend on the filters: a filter only keeps some of them, so
        the count beside a facet value is exactly what ticking it shows (see _facet_counts)."""
        query = normalised(query or "").strip()
        if mode not in MODES:
            raise QueryError(f"unknown mode '{mode}'; use one of {', '.join(MODES)}", param="mode", value=mode)
        if target not in TARGETS:
            raise QueryError(f"unknown target '{target}'; use cases or lessons", param="target", value=target)
        # a longer query (an extract of a report pasted whole) is searched as far as the limit allows,
        # and the answer says so: an error left the reader nothing, and the search box cut it unsaid
        shortened_from = len(query) if len(query) > MAX_QUERY_CHARS else None
        query = self._ampersands_read(self._addresses_read(within(query, MAX_QUERY_CHARS)))
        if not 1 <= limit <= EXPORT_LIMIT:
            raise QueryError(f"limit must be between 1 and {EXPORT_LIMIT:,}")
        correction = self.speller.correct(query) if query else None
        corrected_from = suggestion = None
        if correction and correction.words:
            if spelling:
                corrected_from, query = query, correction.query
            else:
                suggestion = correction.query
        # "-Barnet" or "NOT Barnet": searched without it, and no document holding it is shown
        asked, (query, excluded) = query, excluded_of(query)
        # "not with police or fire": searched without the clause, and what it names is listed last
        query, set_aside = set_aside_of(query)
        browse = not query
        sort = sort or ("saving" if browse and target == "cases" else "relevance" if not browse else "year")
        if sort not in SORTS:
            raise QueryError(f"unknown sort '{sort}'; use one of {', '.join(SORTS)}", param="sort", value=sort)
        col = self.index(target)
        # a phrase in double quotes that no document has as written is searched as words, and the answer
        # says so: a quotation pasted from a report or a title typed from memory ("Tell us once") left
        # nothing to show, however many documents had its words
        unfound = [p for p in quoted_of(query) if not self._holding(col, [p]).any()] if mode != "semantic" else []
        query = unquoted(query, unfound) if unfound else query
        filters = self.check_filters(filters)
        by_facet = {column: self._any_of(col, column, values) for column, values in filters.items()}
        in_range = self.savings_mask(col, min_savings, max_savings)
        n = len(col.ids)
        worded = self._worded(query)
        terms = self._grouped(worded.text, terms_of(worded.text, self._in_capitals))
        if target == "lessons":  # "what have councils learnt about ..." asks for lessons: every one is one
            terms = [t for t in terms if t.lower() not in ASKING_FOR_LESSONS] or terms
        if browse:
            ranking = Ranking.everything(n)
        elif mode == "keyword" and not terms:
            ranking = Ranking.nothing(n)
        else:
            ranking = self._ranked(col, query, terms, mode, worded)
        last = self._naming(col, set_aside) if set_aside and not browse else None
        ranking = self._not_close(ranking, last)
        if excluded:
            in_range = in_range & ~self._holding(col, excluded)

        def showing(ranking: Ranking) -> np.ndarray:
            shown = ranking.members & in_range
            for mask in by_facet.values():
                shown &= mask
            return shown

        shown = showing(ranking)
        ranked = self._sorted(col, np.flatnonzero(shown), ranking, sort, offset + limit, last)
        if ranking.approximate:
            ranking = self._refine(col, query, terms, mode, ranking, ranked[:min(offset + limit, RESCORE_PAGES)])
            ranking = self._not_close(ranking, last)
            # who is shown as re-scored too (its 10 nearest are among the re-scored), as its facet counts are
            shown = showing(ranking)
            ranked = self._sorted(col, np.flatnonzero(shown), ranking, sort, offset + limit, last)
        # the facet values the query names ("a district council in Kent"), for the site to offer as filters
        named = [(self._facet_of[v], slug) for v, slug in self.term_matcher.terms_in(query) if v in self._facet_of] if query else []
        pairs = worded.pairs if query else []
        terms_shown = list(dict.fromkeys(f for forms in self._variants(terms, pairs, worded.bounds).values() for f in forms))
        stems = query_stems(terms_shown)
        page = [int(i) for i in ranked[offset: offset + limit]]
        # browsing shows each document's first passage (its summary); a query weighs them all
        spans = [tuple(np.searchsorted(col.chunk_doc, [i, i + 1])) for i in page]
        spans = [(lo, hi if ranking.sims is not None or stems else min(hi, lo + 1)) for lo, hi in spans]
        results = [self._result(col, i, ranking, terms_shown, stems, lo, texts)
                   for i, (lo, _), texts in zip(page, spans, col.chunk_texts(self.conn, spans))]
        self._add_cards(col, results)
        counts = self._facet_counts(col, ranking.members & in_range, by_facet) if with_facets else {}
        savings_asked = None
        if worded.bounds and target == "cases" and min_savings is None and max_savings is None and SAVING in self._kinds(query):
            least, most = next(iter(worded.bounds.values()))
            if least or most is not None:  # "£0+" asks for nothing
                savings_asked = (least, most, int((shown & self.savings_mask(col, least, most)).sum()))
        return SearchResponse(asked, mode, target, results, int(shown.sum()), counts, self._rule(mode, browse, excluded),
                              int((shown & ranking.close).sum()), browse, sort, corrected_from,
                              correction.words if correction else [], suggestion, named, excluded, savings_asked,
                              shortened_from, unfound, correction.shorthand if correction else [],
                              set_aside if last is not None else [])

    def _naming(self, col: DocumentIndex, things: list[str]) -> np.ndarray:
        """The documents naming any of the things a query sets aside in words (see set_aside_of): a
        case by its title or organisations (its text may name the police in passing), a lesson
        anywhere (a sentence or two, about what it names)."""
        if col.target != "cases":
            return self._holding(col, things)
        naming = np.zeros(len(col.ids), dtype=bool)
        for thing in things:
            naming[col.rowid_to_index[self._rows_named(col, thing)]] = True
        return naming

    @staticmethod
    def _not_close(ranking: "Ranking", last: np.ndarray | None) -> "Ranking":
        """The ranking with none of the documents listed last a close match (the kept ranking is shared,
        so a copy)."""
        if last is None or not (ranking.close & last).any():
            return ranking
        return dataclasses.replace(ranking, close=ranking.close & ~last)

    def rank(self, col: DocumentIndex, query: str, terms: list[str], mode: str, exact=None, keyword_side=None,
             worded: Worded | None = None) -> "Ranking":
        """Scores, result-set membership and close matches for every document, before any filter
        (`exact`: documents whose float16 or int8 cosines are replaced by float32 ones, and
        `keyword_side` the keyword side's answer for the same query, see _refine)."""
        n = len(col.ids)
        named = self.term_matcher.terms_in(query)
        nothing = np.full(n, np.nan)
        meaning = self._spelt_out(query)  # what the model reads (see _spelt_out)
        aside = self._embed_aside(col, meaning, named) if mode != "keyword" and exact is None else None
        if keyword_side is None:
            worded = worded or self._worded(query)
            tagged = self._held_by_tags(col, terms, query, worded.pairs)
            said, unsaid = self._said_and_unsaid(col, terms, query) if mode != "semantic" else ({}, {})
            keyword_side = (self.keyword_scores(col, terms, worded.pairs, self._expansion(named),
                                                _either(tagged, self._held_by_sources(col, terms, query),
                                                        self._held_by_sums(col, worded.bounds, query),
                                                        self._held_by_years(col, worded.years)),
                                                worded.bounds, frozenset(tagged),
                                                self._naming_together(col, terms, query, worded.pairs),
                                                said, every_word=mode == "keyword", unsaid=unsaid)
                            + (self._named_in(col, terms),)
                            if mode != "semantic" else (nothing, np.zeros(n, bool), 0.0, 0, None))
        # the documents a short query names (see NAME_WORDS): kept with the keyword side, which the refining pass reuses
        keyword, keyword_members, coverage, words, named_by_query = keyword_side
        scanned = aside() if aside is not None else None
        semantic, best, sims = (self.semantic_scores(col, meaning, named, exact, scanned) if mode != "keyword"
                                else (nothing, nothing, None))
        semantic_members = best >= SEMANTIC_THRESHOLD  # NaN (no passages) is never
        semantic_members[best_first(semantic, SEMANTIC_NEIGHBOURS)] = True
        if mode == "keyword":
            scores, members = keyword, keyword_members
        elif mode == "semantic":
            scores, members = semantic, semantic_members
        else:
            scores = hybrid_scores(semantic, keyword, coverage, col.target, words)
            members = keyword_members | semantic_members
        if mode != "semantic":
            for phrase in quoted_of(query):  # "whole place": only documents with the words as written
                members = members & self._holding(col, [phrase])
        scores = np.where(members, scores, np.nan)
        if TOKEN_MATCH[col.target] and mode != "keyword" and (TOKEN_MATCH_QUESTIONS or statement_of(meaning) is None):
            scores = self._token_matched(col, meaning, scores)
        evidence = best >= CLOSE_MIN_COSINE[col.target]
        worded_evidence = keyword_members if coverage >= CLOSE_MIN_COVERAGE[col.target] else np.zeros(n, dtype=bool)
        # in keyword mode the result set can be a single case: stand out from every document, those
        # holding none of the words scoring 0
        population = np.nan_to_num(keyword, nan=0.0) if mode == "keyword" else None
        close = close_matches(scores, members, col.target, population) & (evidence | worded_evidence)
        if sims is not None:
            close &= ~self._asked_only(col, sims, close & evidence & ~worded_evidence)
        if mode != "semantic":
            first = np.zeros(n, dtype=bool)
            first[best_first(scores, CLOSE_RANKS)] = True
            close |= first & named_by_query
        return Ranking(scores, members, never_overtaken(scores, members, close), keyword, semantic, sims,
                       col.precision != "float32" and mode != "keyword", keyword_side)

    def _asked_only(self, col: DocumentIndex, sims: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """Of `docs` (a few close matches), those whose passage near enough the query to be evidence is a
        question they answer, not nearer than CLOSE_MIN_ASKED (see it), while their own text is not."""
        out = np.zeros(len(col.ids), dtype=bool)
        spans = {int(d): np.searchsorted(col.chunk_doc, [d, d + 1]) for d in np.flatnonzero(docs)}
        rowids = [int(r) for lo, hi in spans.values() for r in col.chunk_rowid[lo:hi]]
        if not rowids:
            return out
        asked = {r[0] for r in self.conn.execute("select rowid from chunks where rowid in (select value from json_each(?)) "
                                                 "and kind = ?", [json.dumps(rowids), QUESTION_KIND])}
        for d, (lo, hi) in spans.items():
            mine = np.isin(col.chunk_rowid[lo:hi], list(asked))
            if mine.any():
                plain = sims[lo:hi] + CENTRING[col.target] * col.passage_hub[lo:hi]  # the cosines as they are
                text = plain[~mine].max(initial=-np.inf)
                out[d] = text < CLOSE_MIN_COSINE[col.target] and plain[mine].max() < CLOSE_MIN_ASKED
        return out

    def _token_matched(self, col: DocumentIndex, query: str, scores: np.ndarray) -> np.ndarray:
        """The scores with the best TOKEN_MATCH_DOCS re-ranked word by word (see TOKEN_MATCH)."""
        top = best_first(scores, TOKEN_MATCH_DOCS)
        if len(top) < 2:
            return scores
        if col.target not in self._token_matchers:  # two requests may both make one: the same, and one is kept
            first = np.asarray(col.chunk_rowid)[np.searchsorted(col.chunk_doc, np.arange(len(col.ids)))]
            made = TokenMatcher.of(self.conn, col.model, first)
            with self._lock:
                self._token_matchers.setdefault(col.target, made)
        matcher = self._token_matchers[col.target]
        words = self.query_words(query) if matcher is not None else None
        values = matcher.scores(words, top) if words is not None else None
        if values is None:
            return scores
        values = np.where(np.isnan(values), np.nanmean(values) if np.isfinite(values).any() else 0.0, values)
        if values.std() == 0:
            return scores
        out = scores.copy()
        out[top] += TOKEN_MATCH[col.target] * (values - values.mean()) / values.std() * np.std(scores[top])
        return out

    def _ranked(self, col: DocumentIndex, query: str, terms: list[str], mode: str, worded: Worded) -> "Ranking":
        """rank()'s answer, kept (RANKINGS_KEPT_BYTES): a request for a query another request is
        ranking now (a facet click beside its page, under load) waits for that answer instead of
        ranking it a second time."""
        key = (col.target, mode, query)
        with self._lock:
            found = self._rankings.pop(key, None)
            if found is not None:
                self._rankings[key] = found  # most recently used last
                return found
            running = self._ranking_now.get(key)
            if running is None:
                self._ranking_now[key] = threading.Event()
        if running is not None:
            running.wait()
            with self._lock:
                found = self._rankings.get(key)
            # else it failed, or was let go at once: rank it here
            return found if found is not None else self.rank(col, query, terms, mode, worded=worded)
        try:
            ranking = self.rank(col, query, terms, mode, worded=worded)
            arrays = _arrays_of(ranking)
            for array in arrays:
                array.flags.writeable = False  # shared by every request for the query
            size = sum(array.nbytes for array in arrays)
            with self._lock:
                self._rankings[key] = ranking
                self._ranking_bytes += size
                while self._ranking_bytes > RANKINGS_KEPT_BYTES and len(self._rankings) > 1:
                    self._ranking_bytes -= sum(a.nbytes for a in _arrays_of(self._rankings.pop(next(iter(self._rankings)))))
            return ranking
        finally:
            with self._lock:
                self._ranking_now.pop(key).set()

    def _refine(self, col: DocumentIndex, query: str, terms, mode: str, ranking: "Ranking", page: np.ndarray) -> "Ranking":
        """Rank again with float32 cosines for the documents that decide what is shown: the page,
        the RESCORE best results and the RESCORE best by meaning (the 10 nearest join the result set,
        and the best sets the scale of hybrid scores). The rest keep float16 or int8 cosines."""
        best = best_first(ranking.scores, RESCORE)
        nearest = best_first(ranking.semantic, RESCORE)
        docs = np.unique(np.concatenate([page, best, nearest]).astype(np.int64))
        return self.rank(col, query, terms, mode, exact=self._exact(col, docs), keyword_side=ranking.keyword_side)

    def similar(self, case_id: str, limit: int = 5) -> list[dict]:
        if case_id not in self.case_ids:
            raise QueryError(f"unknown case id '{case_id}'")
        rows = self.conn.execute("""select s.similar_id, c.title, s.score, s.reason from similar_cases s
                                    join cases c on c.id = s.similar_id where s.case_id = ? order by s.rank limit ?""",
                                 [case_id, limit]).fetchall()
        return [{"id": r[0], "title": r[1], "score": r[2], "why": r[3]} for r in rows]


def _arrays_of(ranking: "Ranking") -> list[np.ndarray]:
    """The arrays a ranking holds (its keyword side's among them)."""
    side = [a for a in (ranking.keyword_side or ()) if isinstance(a, np.ndarray)]
    return list({id(a): a for a in (ranking.scores, ranking.members, ranking.close, ranking.keyword, ranking.semantic,
                                    ranking.sims, *side) if a is not None}.values())


def _one_thread(embedder):
    """Embed queries on QUERY_THREADS torch threads: a query is too short to gain from more, and a
    server runs several at once on few cores (where all threads made each query several times
    slower). Loads the model."""
    if not getattr(embedder, "is_stand_in", True):
        embedder.threads = QUERY_THREADS  # an ONNX model's, read when it loads
        embedder.load()
        if getattr(embedder, "backend", None) == "torch":
            import torch

            torch.set_num_threads(QUERY_THREADS)
    return embedder


_engines: dict[tuple[str, float], Engine] = {}


def engine_for(db_path: Path, embedder=None) -> Engine:
    """One engine per database file version, so a rebuilt file is picked up."""
    path = Path(db_path).resolve()
    key = (str(path), path.stat().st_mtime)
    if key not in _engines:
        shared = embedder or next((e._embedder for e in _engines.values() if e._embedder is not None), None)
        _engines.clear()
        _engines[key] = Engine(path, shared)
    return _engines[key]


def save_arrays(db_path: Path) -> None:
    """Both indexes loaded once, so that their arrays are saved beside the database (kb/arrays.py)
    and the next engine, a server's, opens from them; a file search cannot read is left alone."""
    try:
        engine = Engine(db_path)
        for target in TARGETS if engine._sidecar is not None else ():  # not with KB_ARRAYS=off
            engine.index(target)
        engine.conn.close()
    except (QueryError, sqlite3.Error, OSError):
        pass
