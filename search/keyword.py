"""The keyword side: BM25 over the full-text indexes, as FTS5 computes it (from the postings kept
beside them, search/postings.py), with which documents belong to the result set and how much of the
query the best of them covers. Part of the Engine (search/engine.py)."""
from __future__ import annotations

import functools
import re

import numpy as np

from kb.schema import tables

from .index import DocumentIndex
from .postings import idf, saturated
from .scoring import COMMON_TERM_SHARE, EXPANSION, INCIDENTAL, NAME_COLUMNS, NAME_WORDS, TAG_RARITY, zero_nan
from .text import STOPWORDS

TOKENS_KEPT = 65536  # phrases whose stemmed tokens are kept (see _tokens)
PHRASE_CACHE_BYTES = 64 * 2**20  # each query word's matches and BM25 terms, kept until this is full
# The vocabulary's names (every term's label, aliases and everyday words) are searched for every query
# naming the term (its expansion, see keyword_scores): kept apart from the queries' own words, which would
# push them out, as the labels' scans are (search/semantic.py). All 1,322 names take 47 MB at 100,000
# cases and 29 MB at their 229,190 lessons; searched cold, a new query's expansion cost 26 ms there (the
# phrases of three words or more read common words' offsets), more than the rest of the keyword side.
NAME_PHRASES_KEPT_BYTES = 128 * 2**20
# A query word naming a council type or a region is held by the cases whose organisations are of it, and their lessons
# (see _held_by_tags in search/holds.py), with the BM25 of a word once in this column.
TAG_COLUMN = "organisation_names"


# Where more documents than this hold a sum's words, all are kept (see _printed_whole): reading each one's
# text costs about 0.2 ms a case, so a sum at 10,000 cases took 100 to 350 ms (the search without it 10 to
# 20 ms), and at 100,000 one statement would pass the 32,766 variables SQLite takes; at 250, a new sum's
# first search took 12 to 78 ms at 10,000 cases
PRINTED_MOST = 250


class KeywordSide:
    """The Engine's keyword side (mixed into Engine, search/engine.py, whose connection, lock and caches it uses)."""

    def informative(self, col: DocumentIndex, terms: list[str], pairs: list[str] = (), bounds=(),
                    common: bool = False) -> tuple[list[str], dict[str, int]]:
        """The query words that are in at most half of the documents (all of them if none is, or with
        `common`), and how many documents hold each query word (the query's word pairs, for _variants).

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
                documents[t] = int(np.count_nonzero(self._holding(col, forms)))
        if len(terms) < 2 or common:
            return terms, documents
        kept = [t for t in terms if documents[t] <= len(col.ids) * COMMON_TERM_SHARE]
        return kept or terms, documents

    def _phrase(self, col: DocumentIndex, phrase: str) -> tuple[np.ndarray, np.ndarray]:
        """The documents holding one quoted phrase and the phrase's BM25 term for each.

        FTS5's bm25() of an OR of phrases is the sum, phrase by phrase in query order, of each
        phrase's term (its IDF and frequency do not depend on the others), so summing these in the
        same order gives the same numbers bit for bit; each phrase is asked once and kept
        (PHRASE_CACHE_BYTES), so the words a query shares with earlier queries cost nothing, and the
        vocabulary's names apart from them (NAME_PHRASES_KEPT_BYTES)."""
        key = (col.target, phrase)
        kept = self._name_phrases if phrase in self._vocabulary_names else self._phrases
        return kept.get_or(key, lambda: _with_size(self._phrase_read(col, phrase)))

    @functools.cached_property
    def _vocabulary_names(self) -> frozenset[str]:
        """Every vocabulary term's names as _expansion gives them, quoted as _phrase is asked for them."""
        return frozenset('"' + name.replace('"', "") + '"' for vocabulary, terms in self.vocabularies.items()
                         for slug in terms.terms for name in self._expansion([(vocabulary, slug)]))

    def _phrase_read(self, col: DocumentIndex, phrase: str) -> tuple[np.ndarray, np.ndarray]:
        """_phrase's answer, worked out."""
        tokens = self._tokens(phrase) if col.postings is not None else []
        if tokens:
            rowids, values = col.postings.bm25(tokens)  # FTS5's numbers, without a bm25() call per document
        else:
            sql = f"select rowid, -bm25({col.fts}, {col.weights}) from {col.fts} where {col.fts} match ?"
            rows = np.array(self.conn.execute(sql, [phrase]).fetchall(), dtype=np.float64).reshape(-1, 2)
            rowids, values = rows[:, 0].astype(np.int64), rows[:, 1].copy()
        if phrase.strip('"').startswith("£") and 0 < len(rowids) <= PRINTED_MOST:
            rowids, values = self._printed_whole(col, phrase.strip('"'), rowids, values)
        return col.rowid_to_index[rowids], values

    def _printed_whole(self, col: DocumentIndex, form: str, rowids: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The documents matching a sum's form ("£3 million") that print it as a figure of its own: the
        index drops the point of a decimal, so "£10.3 million" and "£4.3m" held "£3m" as the words "3
        million", and "£0.2 million" and "£3.2 million" held "£2m"; "£1,500,000" held "£500,000"."""
        parts = [re.escape(p) for p in re.findall(r"[^\W_]+", form)]
        if not parts:
            return rowids, values
        printed = re.compile(r"(?<!\d[.,])(?<![\w])" + r"\W{0,3}".join(parts) + r"(?![\w])", re.I)
        sql = f"select rowid, * from {col.fts} where rowid in ({','.join('?' * len(rowids))})"
        with self._lock:
            rows = self.conn.execute(sql, [int(r) for r in rowids]).fetchall()
        whole = [row[0] for row in rows if any(isinstance(v, str) and printed.search(v) for v in row[1:])]
        keep = np.isin(rowids, np.array(whole, dtype=np.int64))
        return rowids[keep], values[keep]

    def _tokens(self, phrase: str) -> list[str]:
        """The stemmed tokens of a quoted phrase as the index's tokenizer reads it, in order."""
        return list(self._tokens_of([phrase])[phrase])

    def _tokens_of(self, phrases: list[str]) -> dict[str, list[str]]:
        """Each quoted phrase's stemmed tokens (see _tokens), those not kept read in one pass of the
        tokenizer: a query's words, their forms and the everyday words of the terms it names are
        20 to 30 phrases, and three statements a phrase cost a new query 3 ms (kept: a new query
        mostly repeats words earlier queries had)."""
        with self._lock:
            out = {p: self._phrase_tokens.get(p) for p in dict.fromkeys(phrases)}
            todo = [p for p, found in out.items() if found is None]
            if todo:
                self._stemmer.execute("delete from q")
                self._stemmer.executemany("insert into q(rowid, t) values (?, ?)",
                                          [(k, p.strip('"')) for k, p in enumerate(todo)])
                read: dict[int, list[str]] = {k: [] for k in range(len(todo))}
                for doc, term in self._stemmer.execute("select doc, term from qv order by doc, offset"):
                    read[doc].append(term)
                for k, p in enumerate(todo):
                    while len(self._phrase_tokens) >= TOKENS_KEPT:
                        self._phrase_tokens.pop(next(iter(self._phrase_tokens)))
                    self._phrase_tokens[p] = out[p] = read[k]
            return out

    def _holding_quoted(self, col: DocumentIndex, quoted: list[str]) -> np.ndarray:
        """The documents holding any of the phrases, quoted for FTS5, as a mask: at 100,000 documents
        np.unique of a common word's documents took milliseconds a query word, a mask a tenth of one."""
        holding = np.zeros(len(col.ids), dtype=bool)
        if col.postings is not None:
            self._tokens_of(quoted)
        for phrase in quoted:
            holding[self._phrase(col, phrase)[0]] = True
        return holding

    def _bm25(self, col: DocumentIndex, phrases: list[str]) -> np.ndarray:
        """BM25 of an OR of the phrases (NaN where none matches), as FTS5 computes it."""
        total = np.zeros(len(col.ids))
        matched = np.zeros(len(col.ids), dtype=bool)
        if col.postings is not None:
            self._tokens_of(phrases)
        for phrase in phrases:
            docs, values = self._phrase(col, phrase)
            total[docs] += values
            matched[docs] = True
        return np.where(matched, total, np.nan)

    def keyword_scores(self, col: DocumentIndex, terms: list[str], phrases: list[str] = (),
                       expansion: list[str] = (), held_by: dict[str, np.ndarray] | None = None,
                       bounds=(), tagged_words=frozenset(), naming: dict[str, np.ndarray] | None = None,
                       said: dict[str, np.ndarray] | None = None, every_word: bool = False,
                       common: bool = False, unsaid: dict[str, np.ndarray] | None = None
                       ) -> tuple[np.ndarray, np.ndarray, float, int]:
        """BM25 over an OR of the informative terms and the query's word pairs as phrases, plus
        EXPANSION x BM25 of the expansion phrases (NaN where nothing matches); which documents are
        members (at least half of the terms or one of the pairs; else any term; else any expansion
        phrase); the rarity-weighted share of the terms held by the best-covered document; and how
        many informative terms there are. `held_by`: query words that documents hold by their tags
        or figures though their text may not (see _held_by_tags, _held_by_sums), `tagged_words` those of
        them held by tags (see TAG_RARITY); `bounds`: the sums given as bounds (see bounds_of), held only so;
        `naming`: query words and pairs that name a term together, with the documents tagged with it (see INCIDENTAL);
        `said`: query words naming a term, with the documents writing another of its names, which
        hold them for the coverage alone (see Holds._said_and_unsaid), and `unsaid` those of them no
        document writes as typed ("bin collections"), which those documents hold for the result set
        too, scored by the expansion; `every_word` (keyword mode):
        when nothing matches, not even the everyday words of the terms the query names, the words
        found in most documents are searched after all (`common`), as a plain OR of the words would
        be ("services zebra": the documents saying "services", not nothing)."""
        if every_word:
            found = self.keyword_scores(col, terms, phrases, expansion, held_by, bounds, tagged_words, naming, said,
                                        unsaid=unsaid)
            # again only if some words were left out as common: else the same words would find nothing again
            return found if found[1].any() or found[3] == len(terms) else self.keyword_scores(
                col, terms, phrases, expansion, held_by, bounds, tagged_words, naming, said, common=True, unsaid=unsaid)
        n = len(col.ids)
        terms, documents = self.informative(col, terms, phrases, bounds, common)
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
            own = zero_nan(self._bm25(col, quoted[terms.index(t)] if t in held_by else ['"' + t + '"']))
            holding = int(np.count_nonzero(tagged | (own > 0)))
            written = int(np.count_nonzero(own > 0))
            if written and TAG_RARITY.get(col.target) and t in tagged_words:
                ratio = idf(n, holding) / idf(n, written)
                scores = np.where(own > 0, scores - own * (1.0 - ratio), scores)
                own = own * ratio
            lift = np.where(tagged, np.maximum(0.0, self._tag_bm25(col, holding) - own), 0.0)
            scores = np.where(tagged, zero_nan(scores) + lift, scores)
        for t, tagged in (naming or {}).items() if INCIDENTAL[col.target] != 1.0 else ():
            if t not in terms and t not in phrases:  # a word too common to search by
                continue
            # only the documents holding it (at 100,000 cases a dense pass per word cost a millisecond)
            for form in quoted[terms.index(t)] if t in terms else ['"' + t.replace('"', "") + '"']:
                docs, values = self._phrase(col, form)
                untagged = ~tagged[docs]
                scores[docs[untagged]] -= (1.0 - INCIDENTAL[col.target]) * values[untagged]
        matched = ~np.isnan(scores)
        if expansion:
            extra = self._bm25(col, ['"' + e.replace('"', "") + '"' for e in expansion])
            scores = zero_nan(scores) + EXPANSION * zero_nan(extra)
            scores[~matched & np.isnan(extra)] = np.nan
        for t, tagged in held_by.items():
            documents[t] = int(np.count_nonzero(tagged | ~np.isnan(self._bm25(col, quoted[terms.index(t)]))))
        rarity = np.array([np.log((n + 1) / (documents.get(t, 0) + 1)) for t in terms])
        held = np.zeros(n)
        hits = np.zeros(n, dtype=np.int32)
        for t, forms, weight in zip(terms, quoted, rarity):
            holding = self._holding_quoted(col, forms)
            if t in held_by:
                holding |= held_by[t]
            hits += holding | unsaid[t] if unsaid and t in unsaid else holding
            # times the mask (adding 0.0 elsewhere): a boolean index cost a millisecond a word at 100,000 documents
            held += weight * (holding | said[t] if said and t in said else holding)
        coverage = float(held.max() / rarity.sum()) if rarity.sum() > 0 else 0.0
        need = max(1, len(terms) // 2)
        phrase_match = np.zeros(n, dtype=bool)
        for pair in paired:
            phrase_match[self._phrase(col, pair)[0]] = True
        for tagged in pairs_held.values():
            phrase_match |= tagged
        # with `unsaid`, a document writing another name of the term is in the result set by the expansion:
        # "bin collections" had left out Adur and Worthing's "shared refuse plan"
        members = (~np.isnan(scores) if unsaid else matched) & ((hits >= need) | phrase_match)
        if not members.any():
            members = matched  # a plain OR of the words rather than nothing
        if not members.any():
            members = ~np.isnan(scores)  # then the everyday words of the terms the query names
        return scores, members, coverage, len(terms)

    @staticmethod
    def _tag_bm25(col: DocumentIndex, holding: int) -> float:
        """FTS5's BM25 for a word once in the organisations' names of a document of average length (in
        the text of a lesson: held once in its title, weight 1 of the text's 4, a case's lessons came
        after a finding that wrote one of the words in passing), held by `holding` documents (see
        search/postings.py)."""
        columns = {c.name: c.fts for c in tables()[col.target].fts}
        weight = float(columns.get(TAG_COLUMN, columns.get("text")))
        return idf(len(col.ids), holding) * saturated(weight, 1.0, 1.0)

    def _expansion(self, named: list[tuple[str, str]]) -> list[str]:
        words: list[str] = []
        for vocabulary, slug in named:
            term = self.vocabularies[vocabulary].terms[slug]
            # a name that is a function word ("it", for IT) would match every document as a phrase
            words += [w for w in (term.label, *term.aliases, *term.synonyms) if w not in words and w.lower() not in STOPWORDS]
        return words

    def _holding(self, col: DocumentIndex, phrases: list[str]) -> np.ndarray:
        """The documents holding any of the phrases (each word in any of its forms, as everywhere)."""
        return self._holding_quoted(col, ['"' + phrase.replace('"', "") + '"' for phrase in phrases])

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


def _with_size(found: tuple[np.ndarray, np.ndarray]) -> tuple[tuple[np.ndarray, np.ndarray], int]:
    return found, found[0].nbytes + found[1].nbytes
