"""One search engine for the command line and the site: keyword (FTS5 BM25), semantic (cosine
over chunk vectors, best chunk per document) and hybrid (reciprocal rank fusion of the two).

Filters are applied before ranking as boolean masks over the documents: several values of one
facet are OR-ed, different facets AND-ed, plus a savings range on the largest saving."""
from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kb.embedding import Embedder
from kb.vocabulary import vocabularies_from_rows

from .index import DocumentIndex
from .text import highlight, phrases_of, query_stems, term_hits, terms_of

MODES = ("hybrid", "keyword", "semantic")
TARGETS = ("cases", "lessons")
MAX_QUERY_CHARS = 1000
MAX_LIMIT = 200
EXPORT_LIMIT = 100_000  # an export returns every result
SORTS = ("relevance", "saving", "year")
RRF_K = 60
QUERY_CACHE = 1024  # query vectors kept, so a facet click or a page turn does not embed again
# Who belongs to the result set (which the facet counts cover): in keyword mode, documents with at
# least half the query's informative words (a "minimum should match") or one of its adjacent word
# pairs as a phrase; in semantic mode, the nearest
# SEMANTIC_NEIGHBOURS plus any passage at least SEMANTIC_THRESHOLD similar (all-MiniLM-L6-v2 cosine).
SEMANTIC_THRESHOLD = 0.35
SEMANTIC_NEIGHBOURS = 10
# Query words found in more than this share of the documents are set aside (see Engine.informative).
COMMON_TERM_SHARE = 0.5
# A result is a close match when its score is at least this share of the best one's.
CLOSE_SHARE = 0.8


def reciprocal_rank_fusion(orders: list[np.ndarray], n: int, k: int = RRF_K) -> np.ndarray:
    """Each document scores the sum over rankings of 1 / (k + its rank there), ranks from 1."""
    scores = np.zeros(n)
    for order in orders:
        scores[order] += 1.0 / (k + np.arange(1, len(order) + 1))
    return scores


def close_matches(scores: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Which members are close matches (see CLOSE_SHARE): those scoring near the best."""
    close = np.zeros(len(scores), dtype=bool)
    if members.any():
        best = np.nanmax(np.where(members, scores, np.nan))
        close = members & (np.nan_to_num(scores, nan=-np.inf) >= CLOSE_SHARE * best)
    return close


@dataclass
class Ranking:
    """Every document's place for one query, before any filter."""
    scores: np.ndarray          # higher is better; NaN outside the result set
    members: np.ndarray         # in the result set
    close: np.ndarray           # close matches (a subset of members)
    keyword: np.ndarray         # keyword score, NaN where no query word matched
    semantic: np.ndarray        # best-passage cosine, NaN without passages
    sims: np.ndarray | None = None  # every passage's cosine

    @classmethod
    def everything(cls, n: int) -> "Ranking":
        nothing = np.full(n, np.nan)
        return cls(np.zeros(n), np.ones(n, bool), np.zeros(n, bool), nothing, nothing)

    @classmethod
    def nothing(cls, n: int) -> "Ranking":
        nothing = np.full(n, np.nan)
        return cls(nothing, np.zeros(n, bool), np.zeros(n, bool), nothing, nothing)


class QueryError(ValueError):
    """Bad input, with a message fit to show the user."""


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


class Engine:
    def __init__(self, db_path: Path, embedder=None):
        self.db_path = Path(db_path)
        self.conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, check_same_thread=False)
        self._embedder = embedder
        self._indexes: dict[str, DocumentIndex] = {}
        self._query_vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        # An empty FTS5 table with the corpus's tokenizer: it stems query words the way the index did.
        self._stemmer = sqlite3.connect(":memory:", check_same_thread=False)
        self._stemmer.execute("create virtual table q using fts5(t, tokenize='porter')")
        self._stemmer.execute("create virtual table qv using fts5vocab(q, 'instance')")
        self.sources = {r[0] for r in self.conn.execute("select id from sources")}
        self.case_ids = {r[0] for r in self.conn.execute("select id from cases")}
        # the vocabulary the database was built with, not the one in kb/vocabulary.yml today
        self.vocabularies = vocabularies_from_rows(self.conn.execute(
            "select vocabulary, vocabulary_label, slug, label, definition, aliases from terms").fetchall())
        facets = dict(self.conn.execute("select key, value from kb_meta where key = 'facets'").fetchall())
        self.facets = {f["column"]: f for f in json.loads(facets.get("facets", "[]"))}

    def index(self, target: str) -> DocumentIndex:
        with self._lock:
            if target not in self._indexes:
                try:
                    self._indexes[target] = DocumentIndex(self.conn, target)
                except sqlite3.OperationalError as err:
                    raise QueryError(f"{self.db_path.name} does not match this version of the schema ({err}); "
                                     "run `kb build` again") from err
            return self._indexes[target]

    @property
    def embedder(self):
        if self._embedder is None:
            self._embedder = Embedder(self.index("cases").model)
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
                raise QueryError(f"unknown filter '{column}'; filters are {', '.join(known)}")
            facet = known[column]
            out = []
            for value in values:
                if facet["vocabulary"]:
                    vocab = vocabularies[facet["vocabulary"]]
                    slug = vocab.canonical(value)
                    if slug is None:
                        guess = vocab.suggest(value)
                        raise QueryError(f"unknown {vocab.label.lower()} '{value}'" +
                                         (f"; did you mean '{guess}'?" if guess else f"; see the {column} facet for valid values"))
                    out.append(slug)
                elif value not in self.sources:
                    raise QueryError(f"unknown source '{value}'; sources are {', '.join(sorted(self.sources))}")
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
            raise QueryError(f"minimum savings £{min_savings:,.0f} is above the maximum £{max_savings:,.0f}; swap them")
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
    def informative(self, col: DocumentIndex, terms: list[str]) -> list[str]:
        """The query words that are in at most half of the documents (all of them if none is).

        Words in most documents barely move BM25 but make every query scan nearly every row."""
        if len(terms) < 2:
            return terms
        with self._lock:
            self._stemmer.execute("delete from q")
            self._stemmer.executemany("insert into q(rowid, t) values (?, ?)", enumerate(terms))
            stems = self._stemmer.execute("select doc, term from qv").fetchall()
        by_term: dict[int, list[str]] = {}
        for doc, stem in stems:
            by_term.setdefault(doc, []).append(stem)
        wanted = sorted({stem for values in by_term.values() for stem in values})
        counts = dict(self.conn.execute(
            f"select term, documents from term_documents where collection = ? and term in ({','.join('?' * len(wanted))})",
            [col.target, *wanted]).fetchall()) if wanted else {}
        limit = len(col.ids) * COMMON_TERM_SHARE
        kept = [t for k, t in enumerate(terms) if max((counts.get(s, 0) for s in by_term.get(k, [])), default=0) <= limit]
        return kept or terms

    def keyword_scores(self, col: DocumentIndex, terms: list[str], phrases: list[str] = ()) -> tuple[np.ndarray, np.ndarray]:
        """BM25 over an OR of the informative terms and the query's word pairs as phrases (NaN where
        nothing matches), and which documents match at least half of the terms or one of the pairs."""
        n = len(col.ids)
        scores = np.full(n, np.nan)
        terms = self.informative(col, terms)
        if not terms:
            return scores, np.zeros(n, dtype=bool)
        quoted = ['"' + t.replace('"', "") + '"' for t in terms]
        paired = ['"' + p.replace('"', "") + '"' for p in phrases]
        sql = f"select rowid, -bm25({col.fts}, {col.weights}) from {col.fts} where {col.fts} match ?"
        rows = np.array(self.conn.execute(sql, [" OR ".join(quoted + paired)]).fetchall(), dtype=np.float64).reshape(-1, 2)
        docs = col.rowid_to_index[rows[:, 0].astype(np.int64)]
        scores[docs] = rows[:, 1]
        matched = ~np.isnan(scores)
        need = max(1, len(terms) // 2)
        if need == 1:
            return scores, matched
        hits = np.zeros(n, dtype=np.int32)
        for term in quoted:
            hits[self._matching(col, term)] += 1
        phrase_match = np.zeros(n, dtype=bool)
        if paired:
            phrase_match[self._matching(col, " OR ".join(paired))] = True
        return scores, matched & ((hits >= need) | phrase_match)

    def _matching(self, col: DocumentIndex, match: str) -> np.ndarray:
        rowids = np.array(self.conn.execute(f"select rowid from {col.fts} where {col.fts} match ?", [match]).fetchall(),
                          dtype=np.int64).reshape(-1)
        return col.rowid_to_index[rowids]

    def query_vector(self, query: str) -> np.ndarray:
        with self._lock:
            cached = self._query_vectors.get(query)
        if cached is None:
            cached = self.embedder.encode([query])[0]
            with self._lock:
                if len(self._query_vectors) >= QUERY_CACHE:
                    self._query_vectors.pop(next(iter(self._query_vectors)))
                self._query_vectors[query] = cached
        return cached

    def semantic_scores(self, col: DocumentIndex, query: str) -> tuple[np.ndarray, np.ndarray | None]:
        """Best-chunk cosine per document (NaN without chunks), and every chunk's."""
        scores = np.full(len(col.ids), np.nan)
        if not len(col.vectors):
            return scores, None
        qv = self.query_vector(query)
        if len(qv) != col.dims:
            raise QueryError(f"the query model gives {len(qv)} dimensions but the database holds {col.dims}; "
                             "rebuild with the same model")
        sims = col.vectors @ qv
        scores[col.doc_with_chunks] = np.maximum.reduceat(sims, col.chunk_start)
        return scores, sims

    @staticmethod
    def _order(scores: np.ndarray) -> np.ndarray:
        """Indexes of the non-NaN scores, best first."""
        valid = np.flatnonzero(~np.isnan(scores))
        return valid[np.argsort(-scores[valid], kind="stable")]

    # -- the one entry point --------------------------------------------------------------------
    def search(self, query: str, mode: str = "hybrid", target: str = "cases", filters=None,
               min_savings: float | None = None, max_savings: float | None = None, limit: int = 10,
               offset: int = 0, with_facets: bool = False, sort: str | None = None) -> SearchResponse:
        """Documents matching the query (every document when there is none), filtered, sorted, one page.

        Who is in the result set does not depend on the filters: a filter only keeps some of them, so
        the count beside a facet value is exactly what ticking it shows (see _facet_counts)."""
        query = (query or "").strip()
        if mode not in MODES:
            raise QueryError(f"unknown mode '{mode}'; use one of {', '.join(MODES)}")
        if target not in TARGETS:
            raise QueryError(f"unknown target '{target}'; use cases or lessons")
        if len(query) > MAX_QUERY_CHARS:
            raise QueryError(f"query is {len(query):,} characters; the limit is {MAX_QUERY_CHARS:,} - shorten it to the key words")
        if not 1 <= limit <= EXPORT_LIMIT:
            raise QueryError(f"limit must be between 1 and {MAX_LIMIT}")
        browse = not query
        sort = sort or ("saving" if browse and target == "cases" else "relevance" if not browse else "year")
        if sort not in SORTS:
            raise QueryError(f"unknown sort '{sort}'; use one of {', '.join(SORTS)}")
        col = self.index(target)
        filters = self.check_filters(filters)
        by_facet = {column: self._any_of(col, column, values) for column, values in filters.items()}
        in_range = self.savings_mask(col, min_savings, max_savings)
        n = len(col.ids)
        terms = terms_of(query)
        if browse:
            ranking = Ranking.everything(n)
        elif mode == "keyword" and not terms:
            ranking = Ranking.nothing(n)
        else:
            ranking = self.rank(col, query, terms, mode)
        shown = ranking.members & in_range
        for mask in by_facet.values():
            shown &= mask
        ranked = self._sorted(col, np.flatnonzero(shown), ranking, sort)
        stems = query_stems(terms)
        results = [self._result(col, int(i), ranking, terms, stems) for i in ranked[offset: offset + limit]]
        self._add_cards(col, results)
        counts = self._facet_counts(col, ranking.members & in_range, by_facet) if with_facets else {}
        return SearchResponse(query, mode, target, results, int(shown.sum()), counts, self._rule(mode, browse),
                              int((shown & ranking.close).sum()), browse, sort)

    @staticmethod
    def _rule(mode: str, browse: bool) -> str:
        if browse:
            return "Every document that passes the filters (values of one facet OR-ed, facets AND-ed)."
        near = f"the {SEMANTIC_NEIGHBOURS} nearest in meaning plus any with a passage at least {SEMANTIC_THRESHOLD} similar"
        words = ("at least half of the query's words (leaving out words found in most documents) "
                 "or two of its words side by side")
        rule = {"keyword": f"documents containing {words}", "semantic": near,
                "hybrid": f"documents containing {words}, and {near}"}[mode]
        return f"Result set: {rule}; then the filters keep those passing every one (values of one facet OR-ed, facets AND-ed)."

    def _sorted(self, col: DocumentIndex, ranked: np.ndarray, ranking: "Ranking", sort: str) -> np.ndarray:
        """Close matches first, then by the sort: relevance, achieved yearly saving or start year
        (missing values last), ties by relevance then document order."""
        score = np.nan_to_num(ranking.scores[ranked], nan=-np.inf)
        keys = [ranked, -score]
        if sort == "saving":
            keys.append(-np.nan_to_num(col.savings[ranked], nan=-np.inf))
        elif sort == "year":
            keys.append(-np.nan_to_num(col.years[ranked], nan=-np.inf))
        keys.append(~ranking.close[ranked])
        return ranked[np.lexsort(keys)]

    def rank(self, col: DocumentIndex, query: str, terms: list[str], mode: str) -> "Ranking":
        """Scores, result-set membership and close matches for every document, before any filter."""
        n = len(col.ids)
        keyword, keyword_members = (self.keyword_scores(col, terms, phrases_of(query)) if mode != "semantic"
                                    else (np.full(n, np.nan), np.zeros(n, bool)))
        semantic, sims = self.semantic_scores(col, query) if mode != "keyword" else (np.full(n, np.nan), None)
        semantic_order = self._order(semantic)
        semantic_members = np.nan_to_num(semantic, nan=-1.0) >= SEMANTIC_THRESHOLD
        semantic_members[semantic_order[:SEMANTIC_NEIGHBOURS]] = True
        if mode == "keyword":
            scores, members = keyword, keyword_members
        elif mode == "semantic":
            scores, members = semantic, semantic_members
        else:
            # A document enters the keyword ranking only if it is a keyword member (half the words, or a
            # word pair): single incidental matches would otherwise outvote meaning.
            scores = reciprocal_rank_fusion([self._order(np.where(keyword_members, keyword, np.nan)), semantic_order], n)
            members = keyword_members | semantic_members
        scores = np.where(members, scores, np.nan)
        return Ranking(scores, members, close_matches(scores, members), keyword, semantic, sims)

    def _result(self, col: DocumentIndex, i: int, ranking: "Ranking", terms, stems) -> Result:
        """The document with its best passage: most similar to the query, nudged towards passages
        that contain its words."""
        lo, hi = np.searchsorted(col.chunk_doc, [i, i + 1])
        best_text, best_value = "", -np.inf
        for c in range(lo, hi):
            value = (float(ranking.sims[c]) if ranking.sims is not None else 0.0) + 0.15 * term_hits(col.chunk_text[c], stems)
            if value > best_value:
                best_text, best_value = col.chunk_text[c], value
            if ranking.sims is None and not stems:
                break  # browsing: the first passage (the summary) will do
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
        rows = {}
        if wanted:
            found = self.conn.execute(
                f"""select id, title, organisation_names, council_types, regions, year_start, year_end, outcome,
                    headline_saving from cases where id in ({','.join('?' * len(wanted))})""", wanted).fetchall()
            rows = {r[0]: r for r in found}
        label = lambda column, value: self.facets.get(column, {}).get("values", {}).get(value, {}).get("label", value)
        source_titles = dict(self.conn.execute("select id, title from sources").fetchall())
        for result, case_id in zip(results, case_ids):
            row = rows.get(case_id)
            card: dict = {}
            if row:
                card = {"organisations": json.loads(row[2] or "[]"),
                        "council_types": [label("council_types", v) for v in json.loads(row[3] or "[]")],
                        "regions": [label("regions", v) for v in json.loads(row[4] or "[]")],
                        "year_start": row[5], "year_end": row[6], "outcome": label("outcome", row[7]),
                        "headline_saving": row[8]}
                if col.target != "cases":
                    card["case_title"] = row[1]
            if result.source_id:
                card["source_title"] = source_titles.get(result.source_id)
            result.card = card

    def _facet_counts(self, col: DocumentIndex, members: np.ndarray, by_facet: dict[str, np.ndarray]) -> dict[str, dict[str, int]]:
        """Disjunctive counts: beside each value of a facet, how many results there are with that value
        under the other facets' filters only, which is what ticking it shows when none of the facet's
        values is ticked (and what it adds to the others' when some are)."""
        counts = {}
        for column, values in col.masks.items():
            others = members.copy()
            for other, mask in by_facet.items():
                if other != column:
                    others &= mask
            c = {v: int((m & others).sum()) for v, m in values.items()}
            counts[column] = dict(sorted(((v, k) for v, k in c.items() if k), key=lambda kv: (-kv[1], kv[0])))
        return counts

    def similar(self, case_id: str, limit: int = 5) -> list[dict]:
        if case_id not in self.case_ids:
            raise QueryError(f"unknown case id '{case_id}'")
        rows = self.conn.execute("""select s.similar_id, c.title, s.score from similar_cases s join cases c on c.id = s.similar_id
                                    where s.case_id = ? order by s.rank limit ?""", [case_id, limit]).fetchall()
        return [{"id": r[0], "title": r[1], "score": r[2]} for r in rows]


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
