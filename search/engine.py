"""One search engine for the command line and the site: keyword (FTS5 BM25), semantic (cosine
over passage vectors, blended per document) and hybrid (semantic plus keyword, weighted by how much
of the query the words cover; see hybrid_scores).

Who is in the result set is decided before any filter; filters are boolean masks over the documents
(several values of one facet OR-ed, different facets AND-ed, plus a range on the achieved yearly
saving), so facet counts are exactly what ticking a value shows."""
from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kb.arrays import Sidecar
from kb.embedding import Embedder
from kb.schema import Column, tables
from kb.vocabulary import SAVING, spelt_out, stored_vocabularies

from .index import DocumentIndex
from .postings import idf, saturated
from .kernels import COMPILED_FROM, centred_best
from .scan import SharedScan, scan
from .spelling import Speller, english_words
from .text import (HYPHENATED_WORD, URL, WORD_PATTERN, address, capitals_of, url_words, PASSAGES_STEMMED, STOPWORDS, YEARLY, TermMatcher, amount_forms, bounds_of, years_of, excluded_of, highlight, normalised, phrases_of,
                   query_stems, quoted_of, sentences_of, statement_of, stem, term_hits, terms_of, unquoted, within)

MODES = ("hybrid", "keyword", "semantic")
TARGETS = ("cases", "lessons")
MAX_QUERY_CHARS = 1000  # the most of a query searched: a longer one is searched from its start this far (see text.within)
EXPORT_LIMIT = 100_000  # the most results one call returns: an export returns every result
SORTS = ("relevance", "saving", "year")
# Embedding backends that may be called from two threads at once (ONNX Runtime's sessions are;
# the stand-in is numpy), so that a query's readings can be shared between two cores.
CONCURRENT_BACKENDS = ("onnx", "stand-in")
QUERY_CACHE = 1024  # query vectors kept, so a facet click or a page turn does not embed again
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


CORES = max(1, min(usable_cores(), int(os.environ.get("KB_SEARCH_CORES") or 64)))
TOKENS_KEPT = 65536  # phrases whose stemmed tokens are kept (see _tokens)
PHRASE_CACHE_BYTES = 64 * 2**20  # each query word's matches and BM25 terms, kept until this is full
# How cosines are computed: "exact" (float32), "float16" (half the memory, about 1e-4 off) or "int8"
# (a quarter of the memory and a scan three times faster than float16's, about 1e-3 off; see
# ingest/codes.py), the page, the RESCORE best and the RESCORE nearest then re-scored in float32;
# or "auto": exact for a collection of at most EXACT_CHUNKS chunks, else int8 where the build wrote
# its codes (else float16). The environment variable KB_VECTORS chooses.
VECTORS = ("auto", "exact", "float16", "int8")
EXACT_CHUNKS = 250_000
RESCORE = 100
SAMPLE_STRIDE = 64  # see kth_best
SCANS_KEPT = 8  # scans kept, for the refining pass and a repeated query (a few MB each at 100,000 cases)
RESCORE_PAGES = 2000  # an export beyond this many results is ordered by float16 or int8 cosines after them
# What a result's card shows of its case (a lesson's, of the case it comes from): columns of the cases
# table, read as kb/schema.yml declares them, under the keys the templates, the search CSV and
# `kb search --json` know them by.
CARD_COLUMNS = {"organisations": "organisation_names", "council_types": "council_types", "regions": "regions",
                "year_start": "year_start", "year_end": "year_end", "outcome": "outcome",
                "headline_saving": "headline_saving"}
# Who belongs to the result set (decided before any filter, so facet counts are exact): in keyword
# mode, documents with at least half the query's informative words (a "minimum should match") or
# one of its adjacent word pairs as a phrase, or any word when none has that many; in semantic
# mode, the SEMANTIC_NEIGHBOURS nearest plus any passage at least SEMANTIC_THRESHOLD similar
# (all-MiniLM-L6-v2 cosine); hybrid takes both.
SEMANTIC_THRESHOLD = 0.35
SEMANTIC_NEIGHBOURS = 10
# Query words found in more than this share of the documents are set aside (see Engine.informative).
COMMON_TERM_SHARE = 0.5
# The weights below were chosen by 5-fold cross-validation over search/queries.yml (README, "Search").
# Semantic: a document's best passage, plus SECOND_PASSAGE x its second best (a case that matches in
# two places beats one lucky sentence), plus WHOLE_DOCUMENT x the cosine of its mean vector.
SECOND_PASSAGE = 0.3
WHOLE_DOCUMENT = 0.5
# A document of many passages (a case with many sections and lessons) has more chances of one of
# them matching a query by luck, so its score loses MANY_PASSAGES x log(its passages) (cases 0.851
# -> 0.857; 5-fold cross-validation 0.855; flat from 0.04 to 0.12; lessons, two passages each, move
# only through their cases' scores (see CASE_CONTEXT): 0.702 unchanged).
MANY_PASSAGES = 0.04
# Every cosine that scores a document has CENTRING x the passage's (or mean vector's) dot product
# with the collection's centre (the mean of its documents' mean vectors) taken off, as if the query
# were moved away from the centre: text that would match any query on councils' savings (a
# programme-wide overview) no longer outscores the case about what was asked. Both sides gain
# (cases 0.844 -> 0.851, lessons 0.699 -> 0.702; chosen by 5-fold cross-validation, flat from 0.15
# to 0.3). The result set's passage threshold (SEMANTIC_THRESHOLD) and the close-match evidence
# (CLOSE_MIN_COSINE) keep the plain cosine; its SEMANTIC_NEIGHBOURS nearest go by the centred score.
CENTRING = {"cases": 0.25, "lessons": 0.25}
# The query is also read with the labels of the vocabulary terms it names in everyday words
# ("bins" -> Environmental and regulatory) and the two readings averaged; documents tagged with a
# named term gain NAMED_TAG x the term's rarity (log N / documents tagged).
LABELLED_QUERY_SHARE = 0.5
# In case search that second reading is not embedded: its vector is the query's plus LABEL_VECTOR x
# the mean of the named terms' labels' vectors (each label embedded once and kept), normalised. One
# embedding fewer for most queries (a quarter to a half of a short query's embedding and scanning
# at 100,000 cases), and the same ranking: cases 0.860 -> 0.862 (no-shared-words 0.697 -> 0.703,
# semantic alone 0.818 -> 0.817); flat from 0.3 to 0.7 (0.860 to 0.862). Lessons keep the embedded
# reading: with the summed vector they lost 0.002 to 0.006 (their keyword form 0.761 -> 0.749-0.756).
LABEL_VECTOR = {"cases": 0.5, "lessons": None}
# A query of several sentences (a situation described in a paragraph) is also read one sentence at a
# time, since one vector of the whole paragraph blurs the several things it says: the mean of the
# sentences' scores is mixed in at SENTENCE_SHARE (both standardised over the documents). The
# paragraph itself is not embedded: its vector is the mean of its sentences' vectors, each weighted
# by its words (as the model's own mean over tokens weighs them), normalised. That spares the
# longest embedding of a search (a 60-word paragraph's is about half of its readings'), and a paste
# longer than the model reads (256 tokens) is read to its end. Cases 0.862 -> 0.861 (situation
# 0.908 -> 0.904), lessons 0.703 -> 0.706 (situation 0.689 -> 0.698).
SENTENCE_SHARE = 0.5
# Lessons state findings; a question's opening ("How have councils...", "What holds ... back") is
# form, not content. In lesson search a question is also read without it, mixed in at this share.
QUESTION_SHARE = {"cases": 0.0, "lessons": 0.5}
NAMED_TAG = {"cases": 0.04, "lessons": 0.0}  # a lesson's tags are its case's: too broad to lift it
# Keyword: BM25 of the query, plus EXPANSION x BM25 of the named terms' labels and everyday words.
EXPANSION = 0.3
# Hybrid: semantic (scaled 0-1 over the documents) + KEYWORD_WEIGHT x confidence x BM25 (scaled to
# the best). Confidence is the share of the query's informative words (weighted by rarity) that the
# best keyword match holds, to the power COVERAGE_POWER: a query whose words a document holds is
# answered by the words; one that shares only a word or two is answered by meaning.
KEYWORD_WEIGHT = {"cases": 1.25, "lessons": 1.0}
COVERAGE_POWER = {"cases": 1.0, "lessons": 0.5}
# Below this coverage the words are taken to be incidental (a query in other words than the
# documents' that shares only a common word or two) and the keyword side is left out. No one
# document can hold most of a paragraph's words, so past SHORT_QUERY informative words the floor
# falls with the square root of their number (a 40-word situation paragraph, 0.5 -> 0.25); chosen
# on search/queries.yml, where any power from 0.25 to 1 and any length from 10 to 20 did the same.
# The floor is 0.5 (it was 0.4): 5-fold cross-validation over 0.35-0.7 chose 0.5 in four folds and
# 0.45 in one (cases 0.861 -> 0.862, no-shared-words 0.702 -> 0.706, questions 0.885 -> 0.887); from
# 0.55 up questions fall (0.867), since a question names its subject in one or two of its words.
MIN_COVERAGE = {"cases": 0.5, "lessons": 0.0}
SHORT_QUERY = 10
# A case's lesson is read with its case: its semantic score gains CASE_CONTEXT x the case's semantic
# score (standardised over the cases, in units of the lessons' spread), since a lesson of a case
# about the question is more likely to answer it than one that only shares its words.
CASE_CONTEXT = 0.5
# Close matches: among the first CLOSE_RANKS, those that stand out from the result set, their hybrid
# score at least CLOSE_STANDOUT standard deviations above the mean of the result set's scores
# (chosen by 5-fold cross-validation over search/queries.yml for at least 80% judged useful; see README).
CLOSE_STANDOUT = 1.875
CLOSE_RANKS = 5
# ...and only with real evidence: a passage at least CLOSE_MIN_COSINE similar to the query, or the
# document holds at least CLOSE_MIN_COVERAGE of the query's informative words. Every query of the
# judged set has an exactly relevant case; queries from outside the field ("banana bread recipe",
# best cosine 0.15) get no close match, and the page says so.
CLOSE_MIN_COSINE = 0.3
CLOSE_MIN_COVERAGE = 0.6
# A short query whose every informative word is in a document's name (its title or its organisations,
# "Barnet", "Essex county council") asks for that document: among the first CLOSE_RANKS it is a close
# match, though several such documents together never stand out from the rest (no judged query moved).
NAME_COLUMNS = ("title", "organisation_names")
WRITTEN_OUT = 5  # the names an acronym is read as, the commonest first (see Engine._variants)
SECTION = re.compile(r"s\.?(\d{1,3}[a-z]?)")  # "s151 officer", "a s.114 notice": a section of an Act
# A query word naming a council type or a region is held by the cases whose organisations are of it, and their lessons
# (see Engine._held_by_tags), with the BM25 of a word once in this column.
TAG_COLUMN = "organisation_names"
# A word a case holds by its tags (a region's, a council type's; not a year's, a sum's or a report's name,
# which a text writes as the fact itself) is as common as the documents holding it either way: a case's text
# that writes it (Greenwich Leisure's centres in the "South East") scores it at that rarity, not at the
# rarity of the few texts that write it, which put it above every case of the region ("unitary
# authorities in the south east" 0.42 -> 0.82; 41 case queries written blind 0.807 -> 0.818; the judged
# sets unchanged). Not in lesson search: a lesson's tags are its case's, second-hand, and a lesson that
# writes the word ("company", of the council company type) is the better evidence (lessons 0.719 -> 0.718, blind 0.579 -> 0.578).
TAG_RARITY = {"cases": True, "lessons": False}
NAME_WORDS = 4
# The words that ask for lessons, no query word in lesson search, where every document is one: "lessons
# from Yorkshire councils" put first a finding whose theme is "lessons from Covid-19", and "what did
# councils learn from lockdown" the findings on learning from failure. Not "learning", a subject of its
# own ("learning disabilities", "learning and development").
ASKING_FOR_LESSONS = frozenset({"lesson", "lessons", "learn", "learnt", "learned"})


def card_columns() -> dict[str, Column]:
    """CARD_COLUMNS as kb/schema.yml declares them (a KeyError names a card column it does not declare)."""
    declared = {c.name: c for c in tables()["cases"].columns}
    return {key: declared[name] for key, name in CARD_COLUMNS.items()}


def hybrid_scores(semantic: np.ndarray, keyword: np.ndarray, coverage: float, target: str, query_words: int = 1) -> np.ndarray:
    """Semantic scaled to 0-1 over the documents, plus KEYWORD_WEIGHT x coverage^COVERAGE_POWER x
    the keyword score scaled to the best (see KEYWORD_WEIGHT), unless coverage is below the floor
    for a query of that many informative words (`query_words`, see MIN_COVERAGE)."""
    sem = np.nan_to_num(semantic, nan=np.nanmin(semantic) if np.isfinite(semantic).any() else 0.0)
    low, high = sem.min(), sem.max()
    sem = (sem - low) / (high - low) if high > low else np.zeros_like(sem)
    words = np.nan_to_num(keyword, nan=0.0)
    top = words.max()
    words = words / top if top > 0 else words
    if coverage < MIN_COVERAGE[target] * min(1.0, (SHORT_QUERY / max(query_words, 1)) ** 0.5):
        return sem
    return sem + KEYWORD_WEIGHT[target] * coverage ** COVERAGE_POWER[target] * words


def centred(share: float, passages: np.ndarray, whole: np.ndarray, passage_hub: np.ndarray, doc_hub: np.ndarray,
            starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Passages' and mean vectors' cosines less `share` x their hub values (see CENTRING), each
    document's best two of the former (the second: the best once the document's best is set aside,
    or the best again for a document of one passage), and its best plain cosine (what the result
    set and the close-match evidence go by)."""
    sims, top, second, plain = centred_best(np.asarray(passages, dtype=np.float32), np.asarray(passage_hub, dtype=np.float32),
                                            np.float32(share), np.asarray(starts, dtype=np.int64),
                                            np.asarray(counts, dtype=np.int64))
    return sims, whole - np.float32(share) * doc_hub, top, second, plain


def _mixed(a: np.ndarray, b: np.ndarray, share: float) -> np.ndarray:
    """(1 - share) x a + share x b, each standardised over the documents, on a's scale."""
    mean, spread = np.nanmean(a), np.nanstd(a) or 1.0
    z = lambda x: (x - np.nanmean(x)) / (np.nanstd(x) or 1.0)
    return ((1 - share) * z(a) + share * z(b)) * spread + mean


def kth_best(values: np.ndarray, k: int) -> float:
    """The k-th largest of the non-NaN values (there must be at least k), exactly. Only the values
    at least as large as the k-th largest of every SAMPLE_STRIDE-th value are partitioned: the true
    k-th largest is among them, and at 100,000 documents a search asks this about ten times, each
    time partitioning all of them took about a millisecond."""
    sample = values[::SAMPLE_STRIDE]
    sample = sample[~np.isnan(sample)]
    if len(sample) >= k:
        values = values[values >= np.partition(sample, len(sample) - k)[len(sample) - k]]
    else:
        values = values[~np.isnan(values)]
    return np.partition(values, len(values) - k)[len(values) - k]


def best_first(scores: np.ndarray, first: int | None = None) -> np.ndarray:
    """Indexes of the non-NaN scores, best first (ties in index order); only the `first` few if
    given, found without sorting every score."""
    if first is not None and np.count_nonzero(~np.isnan(scores)) > first:
        # every score as good as the first-th best, ties included, in index order
        valid = np.flatnonzero(scores >= kth_best(scores, first))
    else:
        valid = np.flatnonzero(~np.isnan(scores))
    return valid[np.argsort(-scores[valid], kind="stable")][:first]


def close_matches(scores: np.ndarray, members: np.ndarray, population: np.ndarray | None = None) -> np.ndarray:
    """Members among the first CLOSE_RANKS whose score is at least CLOSE_STANDOUT standard
    deviations above the mean of the population (default: the members' scores)."""
    close = np.zeros(len(scores), dtype=bool)
    valid = members & ~np.isnan(scores)
    population = scores[valid] if population is None else population
    if valid.any() and len(population) > 1 and population.std() > 0:
        ranked = best_first(np.where(valid, scores, np.nan), CLOSE_RANKS)
        close[ranked[scores[ranked] - population.mean() >= CLOSE_STANDOUT * population.std()]] = True
    return close


def never_overtaken(scores: np.ndarray, members: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Close matches come first, so a result scoring higher than one of them is close too: otherwise
    a close match with weaker evidence of relevance would be put above a better-scored result."""
    if not close.any():
        return close
    order = best_first(np.where(members, scores, np.nan), CLOSE_RANKS)
    flagged = np.flatnonzero(close[order])
    out = close.copy()
    out[order[:flagged.max() + 1]] = True
    return out


@dataclass
class Ranking:
    """Every document's place for one query, before any filter."""
    scores: np.ndarray          # higher is better; NaN outside the result set
    members: np.ndarray         # in the result set
    close: np.ndarray           # close matches (a subset of members)
    keyword: np.ndarray         # keyword score, NaN where no query word matched
    semantic: np.ndarray        # best-passage cosine, NaN without passages
    sims: np.ndarray | None = None  # every passage's cosine
    approximate: bool = False  # cosines from float16 or int8 vectors (see VECTORS)
    keyword_side: tuple | None = None  # keyword_scores' answer, which the refining pass (_refine) reuses

    @classmethod
    def everything(cls, n: int) -> "Ranking":
        nothing = np.full(n, np.nan)
        return cls(np.zeros(n), np.ones(n, bool), np.zeros(n, bool), nothing, nothing)

    @classmethod
    def nothing(cls, n: int) -> "Ranking":
        nothing = np.full(n, np.nan)
        return cls(nothing, np.zeros(n, bool), np.zeros(n, bool), nothing, nothing)


class QueryError(ValueError):
    """Bad input, with a message fit to show the user; `param` names the input at fault (a filter's
    column, "mode", "sort", "min_savings") and `value` the value given (and `suggestion` the one
    probably meant), so that a page can offer the same search without it, or with the suggestion."""

    def __init__(self, message: str, param: str | None = None, value: str | None = None,
                 suggestion: str | None = None):
        super().__init__(message)
        self.param, self.value, self.suggestion = param, value, suggestion


@dataclass
class Result:
    id: str
    title: str
    score: float
    passage: str
    passage_html: str
    matched_by: list[str]
    case_id: str | None = None
    source_id: str | None = None
    close: bool = False
    card: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "score": round(self.score, 6), "close": self.close,
                "passage": self.passage, "passage_html": self.passage_html, "matched_by": self.matched_by,
                **({"case_id": self.case_id} if self.case_id else {}),
                **({"source_id": self.source_id} if self.source_id else {}), "card": self.card}


@dataclass
class SearchResponse:
    query: str
    mode: str
    target: str
    results: list[Result]
    total: int
    facet_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    rule: str = ""
    close_total: int = 0
    browse: bool = False
    sort: str = "relevance"
    corrected_from: str | None = None     # the query as typed, when misspelt words were corrected
    corrections: list[tuple[str, str]] = field(default_factory=list)  # (as typed, as corrected)
    suggestion: str | None = None         # the corrected query, when asked to search as typed
    named: list[tuple[str, str]] = field(default_factory=list)  # (facet column, value) the query names
    excluded: list[str] = field(default_factory=list)  # words and phrases asked to be left out ("-Barnet")
    # the achieved yearly savings the query asks for ("savings over £1m"): (at least, at most, results left),
    # for the site to offer as the savings range; None when it asks for none or the range is already set
    savings_asked: tuple[float | None, float | None, int] | None = None
    # the query's length as typed, when it was longer than MAX_QUERY_CHARS and only its start was searched
    shortened_from: int | None = None
    unquoted: list[str] = field(default_factory=list)  # phrases in double quotes no document has, searched as words


def _counted(method):
    """Keeps the engine's count of searches in flight (see CORES)."""
    @functools.wraps(method)
    def counted(self, *args, **kwargs):
        with self.occupied():
            return method(self, *args, **kwargs)
    return counted


class Engine:
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
        self._phrases: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._scans: dict[tuple[str, bytes], tuple[np.ndarray, ...]] = {}
        self._phrase_bytes = 0
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
                "select key, value from kb_meta where key in ('facets', 'abbreviations', 'thesaurus')").fetchall())
        except sqlite3.DatabaseError as err:
            raise QueryError(f"{self.db_path.name} is not a knowledge base built by this version ({err}); "
                             "run `kb build` again") from err
        self.facets = {f["column"]: f for f in json.loads(facets.get("facets", "[]"))}
        # vocabulary terms a query may name in everyday words: those of the tag facets
        self.term_matcher = TermMatcher({f["vocabulary"]: self.vocabularies[f["vocabulary"]]
                                         for f in self.facets.values() if f["many"] and f["vocabulary"]})
        self._facet_of = {f["vocabulary"]: column for column, f in self.facets.items() if f["vocabulary"]}
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
            self._known_pair, self._a_name)

    @functools.cached_property
    def _written_apart(self) -> dict[str, str]:
        """Words the collection writes both closed and hyphenated ("cooperative" and "co-operative",
        "frontline" and "front-line"): the closed form and the other's words as a phrase. A query's
        word in either form finds both (see _variants)."""
        with self._lock:
            try:
                rows = self.conn.execute("select a.word from spelling_words a join spelling_words b "
                                         "on b.word = replace(a.word, '-', '') where a.word like '%-%'").fetchall()
            except sqlite3.OperationalError:  # built before spelling_words
                rows = []
        return {w.replace("-", ""): w.replace("-", " ") for (w,) in rows}

    @functools.cached_property
    def _hyphenated_by_stem(self) -> dict[str, list[str]]:
        """The collection's hyphenated words by the stem of their closed form ("in-sourced" under
        "insourc"), each as its words: a query's closed word of that stem ("insourcing", "insourced")
        finds them too, as it finds its other forms written closed."""
        with self._lock:
            try:
                rows = self.conn.execute("select word from spelling_words where word like '%-%'").fetchall()
            except sqlite3.OperationalError:  # built before spelling_words
                rows = []
        out: dict[str, list[str]] = {}
        for (word,) in rows:
            out.setdefault(stem(word.replace("-", "")), []).append(word.replace("-", " "))
        return out

    @functools.cached_property
    def _compounds_apart(self) -> re.Pattern | None:
        """The collection's hyphenated words of one word and function words ("in-house", "buy-in",
        "at-risk") as a query may type them, with spaces for the hyphens."""
        with self._lock:
            try:
                rows = self.conn.execute("select word from spelling_words where word like '%-%'").fetchall()
            except sqlite3.OperationalError:  # built before spelling_words
                rows = []
        words = [w.split("-") for (w,) in rows if len(w.split("-")) <= 4]
        # one word of a subject with function words: its word alone says something else ("house" finds
        # housing), where "end to end" read as its words says what "end-to-end" does
        apart = sorted((r"\s+".join(map(re.escape, parts)) for parts in words
                        if sum(p not in STOPWORDS for p in parts) == 1 and all(p.isalpha() for p in parts)),
                       key=len, reverse=True)
        return re.compile(r"(?<![\w-])(?:" + "|".join(apart) + r")(?![\w-])", re.I) if apart else None

    def _closed(self, query: str) -> str:
        """The query with each hyphenated word the collection also writes closed in its closed form,
        so that it is one query word (with both forms: see _variants), not its parts; and each one the
        collection writes only closed ("re-ablement", "well-being": its parts are in no document as a
        word of their own) in the collection's form. A hyphenated word of the collection with a function
        word in it typed with spaces ("in house", "buy in") is read hyphenated, as one word (see terms_of):
        "keeping services in house" was the word "house", which finds housing."""
        if self._compounds_apart is not None:
            query = self._compounds_apart.sub(lambda m: "-".join(m.group().split()), query)
        if "-" not in query:
            return query
        apart, words = self._written_apart, self.speller.collection_words()

        def closed(match: re.Match) -> str:
            typed = match.group()
            joined = typed.replace("-", "")
            both = joined.lower() in apart
            return joined if both or (joined.lower() in words and typed.lower() not in words) else typed

        return HYPHENATED_WORD.sub(closed, query)

    @functools.cached_property
    def _in_capitals(self) -> frozenset[str]:
        """The vocabulary's acronyms that are also words ("it", "send", "tom"): read as the acronym only
        when typed in capitals (see terms_of)."""
        return frozenset(a for a in (*self.term_matcher.expansions, *self.abbreviated) if a in STOPWORDS or a in english_words())

    def _variants(self, terms: list[str], pairs: list[str] = (), bounds=()) -> dict[str, list[str]]:
        """Each query term as the phrases that count as it: itself, its hyphenated form where the
        collection writes it both ways, a sum of money in each way reports write it, and an acronym
        with what it stands for ("MTFP", "medium-term financial plan"; an acronym that is a function
        word, "IT", only what it stands for and the query's word pairs holding it, "IT project": as a
        word the index holds it in every document), as a name the collection writes out in capitals
        does ("lgps", "Local Government Pension Scheme"; an English word only typed in capitals, since
        "pay" is no acronym), as an abbreviation the site explains does (kb/abbreviations.yml: "FTE",
        "full-time equivalent"; "TUPE"), a section of an Act as officers write it ("s151", "s.114": "section
        151"), and a word as the sector's other words for it (kb/thesaurus.yml: "councillors", "members"). A sum given as a bound (`bounds`, see bounds_of)
        is no phrase: the documents with a figure on its side of it hold it (see _held_by_sums)."""
        apart, expansions = self._written_apart, self.term_matcher.expansions
        out = {}
        for t in terms:
            word = t.lower()
            if word in bounds:
                out[t] = []
                continue
            known = word in expansions or word in self.abbreviated
            if not known and (word[:-1] in expansions or word[:-1] in self.abbreviated) and word.endswith("s") and len(word) > 3:
                word = word[:-1]  # "EHCPs", "ccgs", "FTEs": a plural of an acronym ("hrs" is hours)
            if t in apart:
                out[t] = [t, apart[t]]
            elif (meaning := self._meaning_of(word, t.isupper())) is not None:
                names, of_term = meaning
                if of_term:
                    own = [t.lower()] if word not in STOPWORDS else [p for p in pairs if word in p.split()]
                    out[t] = list(dict.fromkeys(own + names))
                else:
                    out[t] = [t.lower(), *names]
            else:
                hyphenated = self._hyphenated_by_stem.get(stem(word), []) if word.isalpha() else []
                section = [f"section {m.group(1)}"] if (m := SECTION.fullmatch(word)) else []
                same = (self.equivalents.get(stem(word), []) if word.isalpha() else
                        self.equivalent_phrases.get(tuple(stem(w) for w in word.split()), ("", []))[1])
                out[t] = list(dict.fromkeys([t, *amount_forms(t), *hyphenated, *section, *same]))
        return out

    def _grouped(self, query: str, terms: list[str]) -> list[str]:
        """The terms with the words of each thesaurus word of several words that the query types
        ("funding gap", "young people", "out of work", in any of their forms) as that one word, which
        finds its group ("shortfall", "youth"): the group was found only by a single word of it, so
        "closing the funding gap" never found a "shortfall"."""
        if not self.equivalent_phrases:
            return terms
        typed = [w.lower() for w in re.findall(WORD_PATTERN, query)]
        stems = [stem(w) for w in typed]
        out = list(terms)
        for key, (phrase, _) in sorted(self.equivalent_phrases.items(), key=lambda kv: -len(kv[0])):
            at = next((k for k in range(len(stems) - len(key) + 1) if tuple(stems[k:k + len(key)]) == key), None)
            if at is None:
                continue
            words = set(typed[at:at + len(key)])
            place = min((k for k, t in enumerate(out) if t in words), default=len(out))
            out = [t for t in out if t not in words]
            out.insert(min(place, len(out)), phrase)
        return list(dict.fromkeys(out))

    def _meaning_of(self, word: str, capitals: bool) -> tuple[list[str], bool] | None:
        """What an acronym the query names stands for, and whether it is a vocabulary term's: a term's
        acronym, else a name the collection writes out in capitals (its WRITTEN_OUT commonest), else an
        abbreviation the site explains; one that is also a word only when typed in capitals (`capitals`)."""
        expansions = self.term_matcher.expansions
        if word in expansions and (capitals or word not in self._in_capitals):
            return expansions[word], True
        for names in (self.written_out, self.abbreviated):
            if word in names and (capitals or word not in english_words()):
                return names[word][:WRITTEN_OUT], False
        return None

    def _spelt_out(self, query: str) -> str:
        """The query as the model reads it: each acronym it names followed by what it stands for ("LATCo
        (local authority trading company)", "FTE (full-time equivalent) reductions"), the acronyms and
        their readings those of _variants. The model knows few of the sector's acronyms: "LATCo" alone
        found the cases of any company, "FTE reductions" none about fewer posts."""
        typed = capitals_of(query)
        expansions, out, at, done = self.term_matcher.expansions, [], 0, set()
        for match in re.finditer(WORD_PATTERN, query):
            word = match.group().lower()
            if word not in expansions and word not in self.written_out and word not in self.abbreviated and len(word) > 3:
                word = word[:-1] if word.endswith("s") else word  # "EHCPs"
            meaning = self._meaning_of(word, word in typed)
            words = ([e for e in meaning[0] if " " in e][:1] if meaning[1] else meaning[0][:1]) if meaning else []
            if words and word not in done and words[0] not in query.lower():
                done.add(word)
                out += [query[at:match.end()], f" ({words[0]})"]
                at = match.end()
        return "".join(out) + query[at:] if out else query

    @functools.cached_property
    def _source_addresses(self) -> list[tuple[str, str]]:
        """Each source's address (see text.address) and its title."""
        with self._lock:
            try:
                rows = self.conn.execute("select url, title from sources where url is not null").fetchall()
            except sqlite3.OperationalError:
                rows = []
        return [(address(url), title) for url, title in rows]

    def _addresses_read(self, query: str) -> str:
        """The query with each address in it read as words: a source's own address as its title (the
        address of the DCLG's savings report as "Good Practice in Local Government Savings"), any other
        as the words of its path (see text.url_words)."""
        if "http" not in query.lower() and "www." not in query.lower():
            return query

        def read(match: re.Match) -> str:
            url = match.group().rstrip(".,;:!?)")
            at = address(url)
            # a report's page (an address with a path), or its address exactly: a site's home is no report
            title = next((t for a, t in self._source_addresses if at == a or ("/" in a and at.startswith(a + "/"))), None)
            return (title or url_words(url)) + match.group()[len(url):]

        return URL.sub(read, query)

    def _known_pair(self, first: str, second: str) -> bool:
        """Whether any full-text index holds the two words side by side, in any of their forms."""
        tokens = self._tokens(f'"{first} {second}"')
        if len(tokens) != 2:
            return False
        with self._lock:
            try:
                return any(self.conn.execute("select 1 from pair_postings where collection = ? and pair = ?",
                                             [target, " ".join(tokens)]).fetchone() for target in TARGETS)
            except sqlite3.OperationalError:  # built before the pairs: FTS5 finds the phrase
                return any(self.conn.execute(f"select 1 from {target}_fts where {target}_fts match ? limit 1",
                                             [f'"{first} {second}"']).fetchone() for target in TARGETS)

    @functools.cached_property
    def _name_words(self) -> frozenset[str]:
        """The words of the names the collection writes in capitals (see written_out)."""
        return frozenset(w for phrases in self.written_out.values() for p in phrases for w in p.split())

    def _a_name(self, word: str) -> bool:
        """Whether a case's name (its title or its organisations, NAME_COLUMNS) or a name the collection
        writes in capitals ("London Borough of Harrow") holds the word."""
        if word in self._name_words:
            return True
        return len(self._tokens(f'"{word}"')) == 1 and len(self._rows_named(self.index("cases"), word)) > 0

    def _rows_named(self, col: DocumentIndex, word: str) -> np.ndarray:
        """The rowids of the documents whose name (NAME_COLUMNS) holds the word."""
        columns = [k for k, c in enumerate(c.name for c in tables()[col.target].fts) if c in NAME_COLUMNS]
        if not columns:
            return np.zeros(0, dtype=np.int64)
        if col.postings is not None and len(tokens := self._tokens(f'"{word}"')) == 1:
            return col.postings.rows_in(tokens[0], columns)
        # a compound, or a database built before the postings: FTS5's column filter
        names = " ".join(tables()[col.target].fts[k].name for k in columns)
        with self._lock:
            return np.array([r[0] for r in self.conn.execute(
                f"select rowid from {col.fts} where {col.fts} match ?", [f'{{{names}}} : "{word}"'])], dtype=np.int64)

    def _known_stem(self, word: str) -> bool:
        """Whether any full-text index holds the word's stem (its other forms are in the collection)."""
        tokens = self._tokens(word)[:1]
        with self._lock:
            return any(self.conn.execute("select 1 from term_documents where collection = ? and term = ?",
                                         [target, token]).fetchone() for target in TARGETS for token in tokens)

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

    # -- input checks -------------------------------------------------------------------------
    def check_filters(self, filters: dict[str, list[str]] | None) -> dict[str, list[str]]:
        known = self.facets
        vocabularies = self.vocabularies
        clean: dict[str, list[str]] = {}
        for column, values in (filters or {}).items():
            values = [v for v in values if v not in (None, "")]
            if not values:
                continue
            if column not in known:
                raise QueryError(f"unknown filter '{column}'; filters are {', '.join(known)}", param=column)
            facet = known[column]
            out = []
            for value in values:
                if facet["vocabulary"]:
                    vocab = vocabularies[facet["vocabulary"]]
                    slug = vocab.canonical(value)
                    if slug is None:
                        guess = vocab.suggest(value)
                        raise QueryError(f"unknown {vocab.label.lower()} '{value}'" +
                                         (f"; did you mean '{guess}'?" if guess else f"; choose one of {', '.join(vocab.terms)}"),
                                         param=column, value=value, suggestion=guess)
                    out.append(slug)
                elif value not in self.sources:
                    raise QueryError(f"unknown source '{value}'; sources are {', '.join(sorted(self.sources))}",
                                     param=column, value=value)
                else:
                    out.append(value)
            clean[column] = out
        return clean

    @staticmethod
    def _any_of(col: DocumentIndex, column: str, values: list[str]) -> np.ndarray:
        found = np.zeros(len(col.ids), dtype=bool)
        for value in values:
            mask = col.masks[column].get(value)
            if mask is not None:
                found |= mask
        return found

    @staticmethod
    def savings_mask(col: DocumentIndex, min_savings: float | None, max_savings: float | None) -> np.ndarray:
        mask = np.ones(len(col.ids), dtype=bool)
        for bound in (min_savings, max_savings):
            if bound is not None and not np.isfinite(bound):
                raise QueryError(f"a savings bound must be a finite number of pounds, not {bound}")
        if min_savings is not None and max_savings is not None and min_savings > max_savings:
            raise QueryError(f"minimum savings £{min_savings:,.0f} is above the maximum £{max_savings:,.0f}; swap them",
                             param="max_savings")
        with np.errstate(invalid="ignore"):
            if min_savings is not None:
                mask &= col.savings >= min_savings
            if max_savings is not None:
                mask &= col.savings <= max_savings
        return mask

    def filter_mask(self, col: DocumentIndex, filters, min_savings=None, max_savings=None) -> np.ndarray:
        """The documents passing every filter (values of one facet OR-ed, facets AND-ed)."""
        mask = self.savings_mask(col, min_savings, max_savings)
        for column, values in self.check_filters(filters).items():
            mask &= self._any_of(col, column, values)
        return mask

    # -- rankers ------------------------------------------------------------------------------
    def informative(self, col: DocumentIndex, terms: list[str], pairs: list[str] = (), bounds=()) -> tuple[list[str], dict[str, int]]:
        """The query words that are in at most half of the documents (all of them if none is), and
        how many documents hold each query word (the query's word pairs, for _variants).

        Words in most documents barely move BM25 but make every query scan nearly every row."""
        if not terms:
            return terms, {}
        with self._lock:
            self._stemmer.execute("delete from q")
            self._stemmer.executemany("insert into q(rowid, t) values (?, ?)", enumerate(terms))
            stems = self._stemmer.execute("select doc, term from qv").fetchall()
        by_term: dict[int, list[str]] = {}
        for doc, token in stems:
            by_term.setdefault(doc, []).append(token)
        wanted = sorted({token for values in by_term.values() for token in values})
        counts = dict(self.conn.execute(
            f"select term, documents from term_documents where collection = ? and term in ({','.join('?' * len(wanted))})",
            [col.target, *wanted]).fetchall()) if wanted else {}
        documents = {t: max((counts.get(s, 0) for s in by_term.get(k, [])), default=0) for k, t in enumerate(terms)}
        for t, forms in self._variants(terms, pairs, bounds).items():
            if " " in t:  # a compound's words as a phrase (see terms_of)
                documents[t] = len(self._phrase(col, '"' + t + '"')[0])
            if forms != [t]:  # written in several ways: the documents holding any (a bound: see keyword_scores)
                documents[t] = len(np.unique(np.concatenate([self._phrase(col, f'"{f}"')[0] for f in forms]))) if forms else 0
        if len(terms) < 2:
            return terms, documents
        kept = [t for t in terms if documents[t] <= len(col.ids) * COMMON_TERM_SHARE]
        return kept or terms, documents

    def _phrase(self, col: DocumentIndex, phrase: str) -> tuple[np.ndarray, np.ndarray]:
        """The documents holding one quoted phrase and the phrase's BM25 term for each.

        FTS5's bm25() of an OR of phrases is the sum, phrase by phrase in query order, of each
        phrase's term (its IDF and frequency do not depend on the others), so summing these in the
        same order gives the same numbers bit for bit; each phrase is asked once and kept
        (PHRASE_CACHE_BYTES), so the words a query shares with earlier queries cost nothing."""
        key = (col.target, phrase)
        with self._lock:
            found = self._phrases.pop(key, None)
            if found is not None:
                self._phrases[key] = found  # most recently used last
                return found
        tokens = self._tokens(phrase) if col.postings is not None else []
        if tokens:
            rowids, values = col.postings.bm25(tokens)  # FTS5's numbers, without a bm25() call per document
        else:
            sql = f"select rowid, -bm25({col.fts}, {col.weights}) from {col.fts} where {col.fts} match ?"
            rows = np.array(self.conn.execute(sql, [phrase]).fetchall(), dtype=np.float64).reshape(-1, 2)
            rowids, values = rows[:, 0].astype(np.int64), rows[:, 1].copy()
        found = (col.rowid_to_index[rowids], values)
        size = found[0].nbytes + found[1].nbytes
        with self._lock:
            self._phrases[key] = found
            self._phrase_bytes += size
            while self._phrase_bytes > PHRASE_CACHE_BYTES and len(self._phrases) > 1:
                old = self._phrases.pop(next(iter(self._phrases)))
                self._phrase_bytes -= old[0].nbytes + old[1].nbytes
        return found

    def _tokens(self, phrase: str) -> list[str]:
        """The stemmed tokens of a quoted phrase as the index's tokenizer reads it, in order (kept:
        a new query mostly repeats words earlier queries had)."""
        with self._lock:
            found = self._phrase_tokens.get(phrase)
            if found is None:
                self._stemmer.execute("delete from q")
                self._stemmer.execute("insert into q(rowid, t) values (0, ?)", [phrase.strip('"')])
                found = [r[0] for r in self._stemmer.execute("select term from qv order by offset")]
                if len(self._phrase_tokens) >= TOKENS_KEPT:
                    self._phrase_tokens.pop(next(iter(self._phrase_tokens)))
                self._phrase_tokens[phrase] = found
            return list(found)

    def _bm25(self, col: DocumentIndex, phrases: list[str]) -> np.ndarray:
        """BM25 of an OR of the phrases (NaN where none matches), as FTS5 computes it."""
        total = np.zeros(len(col.ids))
        matched = np.zeros(len(col.ids), dtype=bool)
        for phrase in phrases:
            docs, values = self._phrase(col, phrase)
            total[docs] += values
            matched[docs] = True
        return np.where(matched, total, np.nan)

    def keyword_scores(self, col: DocumentIndex, terms: list[str], phrases: list[str] = (),
                       expansion: list[str] = (), held_by: dict[str, np.ndarray] | None = None,
                       bounds=(), tagged_words=frozenset()) -> tuple[np.ndarray, np.ndarray, float, int]:
        """BM25 over an OR of the informative terms and the query's word pairs as phrases, plus
        EXPANSION x BM25 of the expansion phrases (NaN where nothing matches); which documents are
        members (at least half of the terms or one of the pairs; else any term; else any expansion
        phrase); the rarity-weighted share of the terms held by the best-covered document; and how
        many informative terms there are. `held_by`: query words that documents hold by their tags
        or figures though their text may not (see _held_by_tags, _held_by_sums), `tagged_words` those of
        them held by tags (see TAG_RARITY); `bounds`: the sums given as bounds (see bounds_of), held only so."""
        n = len(col.ids)
        terms, documents = self.informative(col, terms, phrases, bounds)
        if not terms:
            return np.full(n, np.nan), np.zeros(n, dtype=bool), 0.0, 0
        variants = self._variants(terms, phrases, bounds)
        quoted = [['"' + f.replace('"', "") + '"' for f in variants[t]] for t in terms]
        paired = ['"' + p.replace('"', "") + '"' for p in phrases]
        # a pair may also be a form of a term ("it project" of IT): counted once, as FTS5 would
        scores = self._bm25(col, list(dict.fromkeys([f for forms in quoted for f in forms] + paired)))
        pairs_held = {p: m for p, m in (held_by or {}).items() if p in phrases and p not in terms and m.any()}
        held_by = {t: m for t, m in (held_by or {}).items() if t in terms and m.any()}
        for t, tagged in [*held_by.items(), *pairs_held.items()]:
            # the tagged documents hold the word (or the pair) at least as if their organisations were named by it once
            own = np.nan_to_num(self._bm25(col, quoted[terms.index(t)] if t in held_by else ['"' + t + '"']), nan=0.0)
            holding = int(np.count_nonzero(tagged | (own > 0)))
            written = int(np.count_nonzero(own > 0))
            if written and TAG_RARITY.get(col.target) and t in tagged_words:
                ratio = idf(n, holding) / idf(n, written)
                scores = np.where(own > 0, scores - own * (1.0 - ratio), scores)
                own = own * ratio
            lift = np.where(tagged, np.maximum(0.0, self._tag_bm25(col, holding) - own), 0.0)
            scores = np.where(tagged, np.nan_to_num(scores, nan=0.0) + lift, scores)
        matched = ~np.isnan(scores)
        if expansion:
            extra = self._bm25(col, ['"' + e.replace('"', "") + '"' for e in expansion])
            scores = np.where(np.isnan(scores), 0, scores) + EXPANSION * np.nan_to_num(extra, nan=0)
            scores[~matched & np.isnan(extra)] = np.nan
        for t, tagged in held_by.items():
            documents[t] = int(np.count_nonzero(tagged | ~np.isnan(self._bm25(col, quoted[terms.index(t)]))))
        rarity = np.array([np.log((n + 1) / (documents.get(t, 0) + 1)) for t in terms])
        held = np.zeros(n)
        hits = np.zeros(n, dtype=np.int32)
        for t, forms, weight in zip(terms, quoted, rarity):
            docs = np.unique(np.concatenate([self._phrase(col, f)[0] for f in forms])) if forms else np.zeros(0, dtype=np.int64)
            if t in held_by:
                docs = np.union1d(docs, np.flatnonzero(held_by[t]))
            hits[docs] += 1
            held[docs] += weight
        coverage = float(held.max() / rarity.sum()) if rarity.sum() > 0 else 0.0
        need = max(1, len(terms) // 2)
        phrase_match = np.zeros(n, dtype=bool)
        for pair in paired:
            phrase_match[self._phrase(col, pair)[0]] = True
        for tagged in pairs_held.values():
            phrase_match |= tagged
        members = matched & ((hits >= need) | phrase_match)
        if not members.any():
            members = matched  # a plain OR of the words rather than nothing
        if not members.any():
            members = ~np.isnan(scores)  # then the everyday words of the terms the query names
        return scores, members, coverage, len(terms)

    def query_vector(self, query: str) -> np.ndarray:
        return self.query_vectors([query])[0]

    def query_vectors(self, queries: list[str]) -> list[np.ndarray]:
        """Each text's vector, from the cache or embedded (those not cached in one batch)."""
        with self._lock:
            found = {q: self._query_vectors.get(q) for q in queries}
        missing = list(dict.fromkeys(q for q, v in found.items() if v is None))
        if missing:
            for q, vector in zip(missing, self.embedder.encode(missing)):
                found[q] = vector
            with self._lock:
                for q in missing:
                    if len(self._query_vectors) >= QUERY_CACHE:
                        self._query_vectors.pop(next(iter(self._query_vectors)))
                    self._query_vectors[q] = found[q]
        return [found[q] for q in queries]

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
        return list(dict.fromkeys(self.vocabularies[v].terms[slug].label for v, slug in named))

    def _with_labels(self, target: str, query_vector: np.ndarray, labels: list[np.ndarray]) -> np.ndarray:
        """The query's vector plus LABEL_VECTOR x the mean of its labels', normalised."""
        vector = query_vector + np.float32(LABEL_VECTOR[target]) * np.mean(labels, axis=0)
        return (vector / np.linalg.norm(vector)).astype(np.float32)

    _scan = staticmethod(scan)  # see search/scan.py

    def _prescan(self, col: DocumentIndex, vectors: list[np.ndarray], scanned: dict | None = None
                 ) -> list[tuple[np.ndarray, ...]]:
        """Every passage's and every document's mean vector's cosine with each query vector, and each
        document's best two passages' (see centred): the last SCANS_KEPT are kept, the others scanned
        in one pass (a query that names a vocabulary term is read twice, see LABELLED_QUERY_SHARE)
        unless `scanned` (see _embed_aside) holds their cosines."""
        keys = [self._scan_key(col, qv) for qv in vectors]
        with self._lock:
            found = {key: self._scans.pop(key) for key in keys if key in self._scans}
        todo = [k for k, key in enumerate(keys) if key not in found]
        scanned = dict(scanned or {})
        rest = [k for k in todo if keys[k] not in scanned]
        if rest:
            queries = np.stack([vectors[k] for k in rest])
            cores = self._cores_free()
            sims = self._scan(col.vectors, queries, col.scales, cores, col.sums)
            whole = self._scan(col.doc_vectors, queries, col.doc_scales, cores, col.doc_sums)
            scanned.update((keys[k], (sims[j], whole[j])) for j, k in enumerate(rest))

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
        with self._lock:
            self._scans.update(found)  # most recently used last
            while len(self._scans) > SCANS_KEPT:
                self._scans.pop(next(iter(self._scans)))
        return [found[key] for key in keys]

    @staticmethod
    def _scan_key(col: DocumentIndex, qv: np.ndarray) -> tuple[str, bytes]:
        """What a scan is kept under (SCANS_KEPT) and shared by (_embed_aside)."""
        return col.target, qv.tobytes()

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
            rescored, whole[at], top[at], second[at], plain[at] = centred(
                CENTRING[col.target], vectors @ qv, means @ qv, vectors @ col.centroid, means @ col.centroid,
                np.r_[0, np.cumsum(counts)[:-1]], counts)
            if passages:
                sims = sims.copy()
                sims[chunks] = rescored
        scored = top + SECOND_PASSAGE * second + WHOLE_DOCUMENT * whole - MANY_PASSAGES * col.log_passages
        if len(col.doc_with_chunks) == len(col.ids):  # every document has passages (no scatter needed)
            best, blended = plain.astype(np.float64), scored.astype(np.float64)
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
        self._prescan(col, vectors + ([worked_out] if worked_out is not None else []), scanned)
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
            missing = list(dict.fromkeys(t for t in texts if t not in self._query_vectors))
        if not missing:
            return None  # a facet click or the next page: nothing to embed
        shareable = getattr(self.embedder, "backend", None) in CONCURRENT_BACKENDS
        work = [[t] for t in sorted(missing, key=len, reverse=True)] if shareable else [missing]
        plan = (SharedScan(col.vectors, col.scales, col.doc_vectors, col.doc_scales, col.sums, col.doc_sums)
                if len(col.vectors) else None)
        state = {"embedding": 0, "queued": set(), "labelled": False, "pooled": False}
        ready = threading.Condition(self._lock)

        def queue(some: list[str]):  # with the lock held: scans for the readings whose vectors are there
            for text in some:
                vector = self._query_vectors.get(text)
                if plan is None or vector is None or text in state["queued"]:
                    continue
                state["queued"].add(text)
                key = self._scan_key(col, vector)
                if key not in self._scans:
                    plan.add(key, vector)
            # a paragraph's vector (see SENTENCE_SHARE), worked out once its sentences' vectors are there
            found = [self._query_vectors.get(s) for s in sentences]
            if plan is not None and sentences and not state["pooled"] and all(v is not None for v in found):
                state["pooled"] = True
                vector = self._query_vectors.setdefault(query, self._pooled(sentences, found))
                key = self._scan_key(col, vector)
                if key not in self._scans:
                    plan.add(key, vector)
            # the labelled reading (see LABEL_VECTOR), worked out once the query's and its labels' vectors are there
            found = [self._query_vectors.get(x) for x in (query, *labels)]
            if plan is not None and labels and not state["labelled"] and all(v is not None for v in found):
                state["labelled"] = True
                vector = self._with_labels(col.target, found[0], found[1:])
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
        helper = self._helper.submit(run)

        def finish():
            run()
            helper.result()  # every vector is in the cache now, and every block scanned
            return dict(plan.found) if plan is not None and plan.found else None
        return finish

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

    def _expansion(self, named: list[tuple[str, str]]) -> list[str]:
        words: list[str] = []
        for vocabulary, slug in named:
            term = self.vocabularies[vocabulary].terms[slug]
            # a name that is a function word ("it", for IT) would match every document as a phrase
            words += [w for w in (term.label, *term.aliases, *term.synonyms) if w not in words and w.lower() not in STOPWORDS]
        return words

    def _held_by_tags(self, col: DocumentIndex, terms: list[str], query: str, pairs: list[str] = ()) -> dict[str, np.ndarray]:
        """The query words naming a council type or a region by a word of its label ("councils in
        Yorkshire", "a met borough", "shire districts"), each with the cases whose organisations are
        of it: a case holds those words by its tags, since its text seldom says what kind of council
        it is or where ("Kirklees" never says Yorkshire). Only the label's words: another name may
        be one kind within the type ("charity" of Other organisation, "mutual" of Council company),
        which not every case of the type is. A case's lesson holds them by its case's tags too ("what
        have district councils learnt about shared services"): a lesson's text names neither."""
        held: dict[str, np.ndarray] = {}
        for vocabulary, slug, words in self.term_matcher.names_in(query):
            column = self._facet_of.get(vocabulary)
            tagged = col.masks.get(column, {}).get(slug) if self.facets.get(column, {}).get("organisation") else None
            if tagged is None:
                continue
            label = {stem(w) for w in re.findall(r"\w+", self.vocabularies[vocabulary].terms[slug].label.lower())}
            naming = {stem(w) for w in words} & label
            for t in terms:
                if " " not in t and stem(t.lower()) in naming:
                    held[t] = held.get(t, np.zeros(len(col.ids), dtype=bool)) | tagged
            # and the query's word pairs of the label's words ("south east", "unitary authorities"): a text
            # that wrote the pair (the "South East" of a national leisure mutual's centres) outranked
            # every case tagged with it, which held the words one by one
            for pair in pairs:
                if all(stem(w) in naming for w in pair.split()):
                    held[pair] = held.get(pair, np.zeros(len(col.ids), dtype=bool)) | tagged
        return held

    @functools.cached_property
    def _source_names(self) -> list[tuple[str, tuple[str, ...]]]:
        """Each source's id with each name a query may give it, as stems: its publisher ("Localis",
        without "(with the support of Civica)"), each author by the first two words of the name
        ("Grant Thornton"), and its title up to a dash or a bracket where that has two words of a
        subject or more ("Changing Places"; "Transformation" alone is no name)."""
        with self._lock:
            try:
                rows = self.conn.execute("select id, title, publisher, authors from sources").fetchall()
            except sqlite3.OperationalError:
                rows = []
        out = []
        for sid, title, publisher, authors in rows:
            names = [re.sub(r"\s*\(.*?\)", "", publisher or "")]
            names += [" ".join(re.findall(r"\w+", a)[:2]) for a in (json.loads(authors) if authors else [])]
            main = re.split(r"\s+[-\u2013\u2014]\s+|\s*\(", title or "")[0]
            if len([w for w in re.findall(r"\w+", main.lower()) if w not in STOPWORDS]) >= 2:
                names.append(main)
            for name in names:
                words = tuple(stem(w) for w in re.findall(r"\w+", name.lower()))
                if words:
                    out.append((sid, words))
        return out

    def _sources_in(self, query: str) -> dict[str, set[str]]:
        """The sources a query names (see _source_names), each with the query's words that name it; an
        abbreviation names a source by what it stands for ("DCLG", the Department for Communities and
        Local Government)."""
        typed = capitals_of(query)
        read: list[tuple[str, str]] = []  # (stem, the query's word)
        for word in re.findall(r"\w+", query.lower()):
            meaning = self.abbreviated.get(word) if word in typed or word not in english_words() else None
            read += [(stem(w), word) for w in re.findall(r"\w+", meaning[0])] if meaning else [(stem(word), word)]
        stems = [s for s, _ in read]
        found: dict[str, set[str]] = {}
        for sid, name in self._source_names:
            for at in range(len(stems) - len(name) + 1):
                if tuple(stems[at:at + len(name)]) == name:
                    found.setdefault(sid, set()).update(w for _, w in read[at:at + len(name)])
        return found

    def _findings_of(self, col: DocumentIndex) -> np.ndarray:
        """Each lesson's report, for a report's own findings (None for a case's lesson), kept."""
        with self._lock:
            if col.target not in self._findings:
                self._findings[col.target] = np.array(col.links.get("source_id") or [None] * len(col.ids), dtype=object)
            return self._findings[col.target]

    def _held_by_sources(self, col: DocumentIndex, terms: list[str], query: str) -> dict[str, np.ndarray]:
        """The query words naming a source report ("the DCLG report", "Grant Thornton's validated
        savings", "Localis changing places"), each with the documents of that report: the cases citing
        it, or its own findings among the lessons. A case seldom names its report in full (none wrote
        "Grant Thornton"), and its sources are no words of its text."""
        named = self._sources_in(query)
        if not named:
            return {}
        held: dict[str, np.ndarray] = {}
        for sid, words in named.items():
            mask = (col.masks.get("source_ids", {}).get(sid) if col.target == "cases"
                    else self._findings_of(col) == sid)
            if mask is None or len(mask) != len(col.ids) or not mask.any():
                continue
            for t in terms:
                if " " not in t and t.lower() in words:
                    held[t] = held.get(t, np.zeros(len(col.ids), dtype=bool)) | mask
        return held

    def _held_by_sums(self, col: DocumentIndex, bounds: dict, query: str) -> dict[str, np.ndarray]:
        """Each sum the query gives as a bound ("savings over £1m a year"), with the cases that have a
        figure on its side of it: of the kinds of figure the query names ("income", "budget"), else
        savings, the subject of the collection; per year if the query says so ("a year",
        "annual"). A report prints "£2.5 million a year", which no form of "£1m" is."""
        figures = self._figures(col)
        if not bounds or figures is None:
            return {}
        doc, kind, amount, per_year = figures
        fits = np.isin(kind, self._kinds(query)) & (per_year if YEARLY.search(query) else True)
        held = {}
        for term, (least, most) in bounds.items():
            ok = fits & (amount >= least if least is not None else True) & (amount <= most if most is not None else True)
            held[term] = np.zeros(len(col.ids), dtype=bool)
            held[term][doc[ok]] = True
        return held

    def _held_by_years(self, col: DocumentIndex, years: dict) -> dict[str, np.ndarray]:
        """Each year the query gives as a bound ("since 2015", "between 2010 and 2013"), with the
        documents whose time meets it (see _spans): a report prints "2015/16" or "in 2013", and most
        cases no year at all, so the year as a word found the few texts that happened to print it."""
        if not years:
            return {}
        first, last = self._spans(col)
        held = {}
        for term, (least, most) in years.items():
            held[term] = ((last >= least) if least is not None else ~np.isnan(last)) & \
                         ((first <= most) if most is not None else ~np.isnan(first))
        return held

    def _spans(self, col: DocumentIndex) -> tuple[np.ndarray, np.ndarray]:
        """Each document's first and last year (NaN where unknown), kept: a case's from its start to its
        end, or to the year of the last report describing it (so far, it was under way); with no start,
        from the year of its first report (it had begun by then). A case's lesson has its case's, and a
        report's finding the report's year."""
        with self._lock:
            if col.target in self._year_spans:
                return self._year_spans[col.target]
        try:
            published = {sid: int(date[:4]) for sid, date in self.conn.execute("select id, date from sources")
                         if date and date[:4].isdigit()}
            cases = {cid: (start, end, [published[s] for s in json.loads(ids or "[]") if s in published])
                     for cid, start, end, ids in self.conn.execute("select id, year_start, year_end, source_ids from cases")}
        except sqlite3.OperationalError:
            published, cases = {}, {}
        spans = {}
        for cid, (start, end, reported) in cases.items():
            first = start if start is not None else min(reported, default=None)
            last = end if end is not None else max([*reported, *([start] if start is not None else [])], default=None)
            spans[cid] = (first, last)
        case_of = col.ids if col.target == "cases" else col.links.get("case_id") or [None] * len(col.ids)
        source_of = [None] * len(col.ids) if col.target == "cases" else col.links.get("source_id") or [None] * len(col.ids)
        pairs = [spans.get(c, (None, None)) if c else (published.get(s),) * 2 for c, s in zip(case_of, source_of)]
        found = tuple(np.array([np.nan if p[k] is None else p[k] for p in pairs], dtype=np.float64) for k in (0, 1))
        with self._lock:
            self._year_spans[col.target] = found
        return found

    def _kinds(self, query: str) -> list[str]:
        """The kinds of money figure the query names ("income", "budget"), else savings."""
        return [slug for _, slug in self.kind_matcher.terms_in(query)] or [SAVING]

    def _figures(self, col: DocumentIndex):
        """The cases' money figures as arrays: the case's place, kind, amount in pounds and whether per
        year; None for lessons (their case's figures are not theirs) or a database without them."""
        if col.target != "cases":
            return None
        with self._lock:
            if col.target not in self._figure_rows:
                try:
                    rows = self.conn.execute("select case_id, kind, amount_gbp, per_year from figures "
                                             "where amount_gbp is not null").fetchall()
                except sqlite3.OperationalError:
                    rows = []
                rows = [r for r in rows if r[0] in col.position]
                self._figure_rows[col.target] = (
                    np.array([col.position[r[0]] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=object),
                    np.array([r[2] for r in rows], dtype=np.float64), np.array([bool(r[3]) for r in rows], dtype=bool))
            return self._figure_rows[col.target]

    @staticmethod
    def _tag_bm25(col: DocumentIndex, holding: int) -> float:
        """FTS5's BM25 for a word once in the organisations' names of a document of average length (in
        the text of a lesson: held once in its title, weight 1 of the text's 4, a case's lessons came
        after a finding that wrote one of the words in passing), held by `holding` documents (see
        search/postings.py)."""
        columns = {c.name: c.fts for c in tables()[col.target].fts}
        weight = float(columns.get(TAG_COLUMN, columns.get("text")))
        return idf(len(col.ids), holding) * saturated(weight, 1.0, 1.0)

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
        query = self._addresses_read(within(query, MAX_QUERY_CHARS))
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
        worded, bounds = bounds_of(self._closed(query))
        worded, years = years_of(worded)
        terms = self._grouped(worded, terms_of(worded, self._in_capitals))
        if target == "lessons":  # "what have councils learnt about ..." asks for lessons: every one is one
            terms = [t for t in terms if t.lower() not in ASKING_FOR_LESSONS] or terms
        if browse:
            ranking = Ranking.everything(n)
        elif mode == "keyword" and not terms:
            ranking = Ranking.nothing(n)
        else:
            ranking = self.rank(col, query, terms, mode)
        if excluded:
            in_range = in_range & ~self._holding(col, excluded)
        shown = ranking.members & in_range
        for mask in by_facet.values():
            shown &= mask
        ranked = self._sorted(col, np.flatnonzero(shown), ranking, sort, offset + limit)
        if ranking.approximate:
            ranking = self._refine(col, query, terms, mode, ranking, ranked[:min(offset + limit, RESCORE_PAGES)])
            ranked = self._sorted(col, np.flatnonzero(shown), ranking, sort, offset + limit)
        # the facet values the query names ("a district council in Kent"), for the site to offer as filters
        named = [(self._facet_of[v], slug) for v, slug in self.term_matcher.terms_in(query) if v in self._facet_of] if query else []
        pairs = phrases_of(worded, self._in_capitals) if query else []
        terms_shown = list(dict.fromkeys(f for forms in self._variants(terms, pairs, bounds).values() for f in forms))
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
        if bounds and target == "cases" and min_savings is None and max_savings is None and SAVING in self._kinds(query):
            least, most = next(iter(bounds.values()))
            if least or most is not None:  # "£0+" asks for nothing
                savings_asked = (least, most, int((shown & self.savings_mask(col, least, most)).sum()))
        return SearchResponse(asked, mode, target, results, int(shown.sum()), counts, self._rule(mode, browse, excluded),
                              int((shown & ranking.close).sum()), browse, sort, corrected_from,
                              correction.words if correction else [], suggestion, named, excluded, savings_asked,
                              shortened_from, unfound)

    def _holding(self, col: DocumentIndex, phrases: list[str]) -> np.ndarray:
        """The documents holding any of the phrases (each word in any of its forms, as everywhere)."""
        holding = np.zeros(len(col.ids), dtype=bool)
        for phrase in phrases:
            holding[self._phrase(col, '"' + phrase.replace('"', "") + '"')[0]] = True
        return holding

    @staticmethod
    def _rule(mode: str, browse: bool, excluded: list[str] = ()) -> str:
        without = (f"; those holding {' or '.join(repr(e) for e in excluded)} (asked for with - or NOT) are left out"
                   if excluded else "")
        if browse:
            return f"Every document that passes the filters (values of one facet OR-ed, facets AND-ed){without}."
        near = f"the {SEMANTIC_NEIGHBOURS} nearest in meaning plus any with a passage at least {SEMANTIC_THRESHOLD} similar"
        words = ("at least half of the query's words (leaving out words found in most documents) "
                 "or two of its words side by side (if none does, any of its words; if none, the everyday "
                 "words of the vocabulary terms it names)")
        rule = {"keyword": f"documents containing {words}", "semantic": near,
                "hybrid": f"documents containing {words}, and {near}"}[mode]
        if mode != "semantic":
            rule += "; a phrase in double quotes must be in the document as written"
        return f"Result set: {rule}{without}; then the filters keep those passing every one (values of one facet OR-ed, facets AND-ed)."

    def _sorted(self, col: DocumentIndex, ranked: np.ndarray, ranking: "Ranking", sort: str,
                first: int | None = None) -> np.ndarray:
        """Close matches first, then by the sort: relevance, achieved yearly saving or start year
        (missing values last), ties by relevance then document order; only the `first` few if given
        (found without sorting every result: the close ones and those at least as good as the
        first-th by the sort's own key, ties included, hold them)."""
        if first is not None and len(ranked) > 4 * first:
            key = {"saving": col.savings, "year": col.years}.get(sort, ranking.scores)
            key = np.nan_to_num(key[ranked], nan=-np.inf)
            ranked = ranked[(key >= kth_best(key, first)) | ranking.close[ranked]]
        score = np.nan_to_num(ranking.scores[ranked], nan=-np.inf)
        keys = [ranked, -score]
        if sort == "saving":
            keys.append(-np.nan_to_num(col.savings[ranked], nan=-np.inf))
        elif sort == "year":
            keys.append(-np.nan_to_num(col.years[ranked], nan=-np.inf))
        keys.append(~ranking.close[ranked])
        return ranked[np.lexsort(keys)][:first]

    def rank(self, col: DocumentIndex, query: str, terms: list[str], mode: str, exact=None, keyword_side=None) -> "Ranking":
        """Scores, result-set membership and close matches for every document, before any filter
        (`exact`: documents whose float16 or int8 cosines are replaced by float32 ones, and
        `keyword_side` the keyword side's answer for the same query, see _refine)."""
        n = len(col.ids)
        named = self.term_matcher.terms_in(query)
        nothing = np.full(n, np.nan)
        meaning = self._spelt_out(query)  # what the model reads (see _spelt_out)
        aside = self._embed_aside(col, meaning, named) if mode != "keyword" and exact is None else None
        if keyword_side is None:
            worded, bounds = bounds_of(self._closed(query))
            worded, years = years_of(worded)
            pairs = phrases_of(worded, self._in_capitals)
            tagged = self._held_by_tags(col, terms, query, pairs)
            keyword_side = (self.keyword_scores(col, terms, pairs, self._expansion(named),
                                                _either(tagged, self._held_by_sources(col, terms, query),
                                                        self._held_by_sums(col, bounds, query), self._held_by_years(col, years)),
                                                bounds, frozenset(tagged))
                            if mode != "semantic" else (nothing, np.zeros(n, bool), 0.0, 0))
        keyword, keyword_members, coverage, words = keyword_side
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
                holding = np.zeros(n, dtype=bool)
                holding[self._phrase(col, '"' + phrase.replace('"', "") + '"')[0]] = True
                members = members & holding
        scores = np.where(members, scores, np.nan)
        evidence = best >= CLOSE_MIN_COSINE
        if coverage >= CLOSE_MIN_COVERAGE:
            evidence |= keyword_members
        # in keyword mode the result set can be a single case: stand out from every document, those
        # holding none of the words scoring 0
        population = np.nan_to_num(keyword, nan=0.0) if mode == "keyword" else None
        close = close_matches(scores, members, population) & evidence
        if mode != "semantic":
            first = np.zeros(n, dtype=bool)
            first[best_first(scores, CLOSE_RANKS)] = True
            close |= first & self._named_in(col, terms)
        return Ranking(scores, members, never_overtaken(scores, members, close), keyword, semantic, sims,
                       col.precision != "float32" and mode != "keyword", keyword_side)

    def _named_in(self, col: DocumentIndex, terms: list[str]) -> np.ndarray:
        """The documents whose name (NAME_COLUMNS) holds every informative word of a short query."""
        named = np.zeros(len(col.ids), dtype=bool)
        words = self.informative(col, terms)[0] if terms else []
        columns = [k for k, c in enumerate(c.name for c in tables()[col.target].fts) if c in NAME_COLUMNS]
        if not words or len(words) > NAME_WORDS or not columns:
            return named
        named[:] = True
        for word in words:
            holding = np.zeros(len(col.ids), dtype=bool)
            holding[col.rowid_to_index[self._rows_named(col, word)]] = True
            named &= holding
            if not named.any():
                break
        return named

    def _refine(self, col: DocumentIndex, query: str, terms, mode: str, ranking: "Ranking", page: np.ndarray) -> "Ranking":
        """Rank again with float32 cosines for the documents that decide what is shown: the page,
        the RESCORE best results and the RESCORE best by meaning (the 10 nearest join the result set,
        and the best sets the scale of hybrid scores). The rest keep float16 or int8 cosines."""
        best = best_first(ranking.scores, RESCORE)
        nearest = best_first(ranking.semantic, RESCORE)
        docs = np.unique(np.concatenate([page, best, nearest]).astype(np.int64))
        return self.rank(col, query, terms, mode, exact=self._exact(col, docs), keyword_side=ranking.keyword_side)

    def _result(self, col: DocumentIndex, i: int, ranking: "Ranking", terms, stems, lo: int, texts: list[str]) -> Result:
        """The document with its best passage (`texts`, its passages from chunk `lo` on): most similar
        to the query, nudged towards passages that contain its words."""
        best_text, best_value = "", -np.inf
        kept = len(col.chunk_doc) <= PASSAGES_STEMMED // 2  # room for both collections' passages
        for c, text in zip(range(lo, lo + len(texts)), texts):
            value = (float(ranking.sims[c]) if ranking.sims is not None else 0.0) + 0.15 * term_hits(text, stems, kept)
            if value > best_value:
                best_text, best_value = text, value
        title = col.title(i)
        passage = best_text[len(title) + 2:] if best_text.startswith(title + ". ") else best_text
        matched = [m for m, arr in (("keyword", ranking.keyword), ("semantic", ranking.semantic)) if not np.isnan(arr[i])]
        score = ranking.scores[i]
        return Result(col.ids[i], title, 0.0 if np.isnan(score) else float(score), passage, highlight(passage, terms),
                      matched, case_id=col.links["case_id"][i] if col.links["case_id"] else None,
                      source_id=col.links["source_id"][i] if col.links["source_id"] else None,
                      close=bool(ranking.close[i]))

    def _add_cards(self, col: DocumentIndex, results: list[Result]) -> None:
        """What a reader compares on, for one line under each title: the case's organisations, council
        types, regions, years, outcome and headline saving (a lesson shows its case's)."""
        case_ids = [r.id if col.target == "cases" else r.case_id for r in results]
        wanted = sorted({c for c in case_ids if c})
        columns = card_columns()
        rows = {}
        if wanted:
            names = ["id", "title", *(c.name for c in columns.values())]
            found = self.conn.execute(f"select {', '.join(names)} from cases where id in ({','.join('?' * len(wanted))})",
                                      wanted).fetchall()
            rows = {r[0]: dict(zip(names, r)) for r in found}
        source_titles = dict(self.conn.execute("select id, title from sources").fetchall())
        for result, case_id in zip(results, case_ids):
            row = rows.get(case_id)
            card: dict = {}
            if row:
                card = {key: self._card_value(column, row[column.name]) for key, column in columns.items()}
                if col.target != "cases":
                    card["case_title"] = row["title"]
            if result.source_id:
                card["source_title"] = source_titles.get(result.source_id)
            result.card = card

    def _card_value(self, column: Column, stored):
        """A stored value as a card shows it: a list as a list, a vocabulary's slugs as their labels."""
        values = json.loads(stored or "[]") if column.type == "list" else [stored]
        if column.vocabulary:
            labels = self.facets.get(column.name, {}).get("values", {})
            values = [labels.get(v, {}).get("label", v) for v in values]
        return values if column.type == "list" else values[0]

    def _facet_counts(self, col: DocumentIndex, members: np.ndarray, by_facet: dict[str, np.ndarray]) -> dict[str, dict[str, int]]:
        """Disjunctive counts: beside each value of a facet, how many results there are with that value
        under the other facets' filters only, which is what ticking it shows when none of the facet's
        values is ticked. When some are, ticking it shows the results with any of them (a case can
        have several), so the page says what the number is rather than what ticking gives."""
        counts = {}
        for column, values in col.masks.items():
            others = members.copy()
            for other, mask in by_facet.items():
                if other != column:
                    others &= mask
            # each value's documents as bits: AND and count eight documents a byte
            found = np.bitwise_count(col.value_bits[column] & np.packbits(others)).sum(axis=1, dtype=np.int64)
            c = dict(zip(values, found.tolist()))
            counts[column] = dict(sorted(((v, k) for v, k in c.items() if k), key=lambda kv: (-kv[1], kv[0])))
        return counts

    def similar(self, case_id: str, limit: int = 5) -> list[dict]:
        if case_id not in self.case_ids:
            raise QueryError(f"unknown case id '{case_id}'")
        rows = self.conn.execute("""select s.similar_id, c.title, s.score, s.reason from similar_cases s
                                    join cases c on c.id = s.similar_id where s.case_id = ? order by s.rank limit ?""",
                                 [case_id, limit]).fetchall()
        return [{"id": r[0], "title": r[1], "score": r[2], "why": r[3]} for r in rows]


def _either(*held: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The documents holding each word by any of its ways (tags, sources, figures)."""
    out: dict[str, np.ndarray] = {}
    for one in held:
        for word, mask in one.items():
            out[word] = out[word] | mask if word in out else mask
    return out


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
