"""Query words a document holds by what it is rather than by what its text writes: its council types' and
regions' names, its source report's, the sums of its figures and the years of its work. Part of the
Engine (search/engine.py)."""
from __future__ import annotations

import functools
import json
import re
import sqlite3

import numpy as np

from kb.vocabulary import SAVING

from .index import DocumentIndex
from .scoring import SAID_OTHERWISE_WORDS
from .spelling import english_words
from .text import STOPWORDS, YEARLY, capitals_of, stem


def _either(*held: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The documents holding each word by any of its ways (tags, sources, figures)."""
    out: dict[str, np.ndarray] = {}
    for one in held:
        for word, mask in one.items():
            out[word] = out[word] | mask if word in out else mask
    return out


class Holds:
    """The query words the Engine finds held by documents' tags, reports, figures and years (mixed into Engine, search/engine.py, whose connection, lock and caches it uses)."""

    def _naming_together(self, col: DocumentIndex, terms: list[str], query: str, pairs: list[str] = ()) -> dict[str, np.ndarray]:
        """The query's words and word pairs that name a vocabulary term with others ("share a chief
        executive" names the sharing council), each with the documents tagged with that term (see
        INCIDENTAL in search/scoring.py)."""
        found: dict[str, np.ndarray] = {}
        for vocabulary, slug, words in self.term_matcher.names_in(query):
            tagged = col.masks.get(self._facet_of.get(vocabulary), {}).get(slug)
            if len(words) < 2 or tagged is None or not tagged.any():
                continue
            naming = {stem(w) for w in words}
            for t in [*(t for t in terms if " " not in t), *pairs]:
                if all(stem(w) in naming for w in t.lower().split()):
                    found[t] = found[t] | tagged if t in found else tagged
        return found

    def _said_and_unsaid(self, col: DocumentIndex, terms: list[str], query: str
                         ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The query words that name a vocabulary term ("fly tipping", "bin collections", "potholes"),
        each with the documents that write one of the term's own names (its label, aliases or
        everyday words: "street cleansing", "waste", "refuse"). Such a document says what the query
        asks for in other words: no case writes "fly-tipping", and the keyword side, which had found
        the cases about street cleansing and enforcement by the term's names, was then left out of
        the hybrid ranking as if the query shared no word with any document (see MIN_COVERAGE).
        The second answer has those of them where no document writes the query's naming words as
        typed ("bin collections", not "bins" or "IT"), whose documents are in the result set too (see
        keyword_scores): a name some documents write asks for them, and a term's names can be far
        broader than one of them ("IT", of the central services, would have taken in finance and HR)."""
        found: dict[str, np.ndarray] = {}
        unsaid: dict[str, np.ndarray] = {}
        if len(terms) > SAID_OTHERWISE_WORDS:
            return found, unsaid
        for vocabulary, slug, words in self.term_matcher.names_in(query):
            naming = {stem(w) for w in words}
            asked = [t for t in terms if " " not in t and stem(t.lower()) in naming]
            if not asked:
                continue
            holding = self._holding(col, self._expansion([(vocabulary, slug)]))
            written = self._holding(col, [" ".join(words)]).any()
            for t in asked:
                found[t] = found[t] | holding if t in found else holding
                if not written:
                    unsaid[t] = unsaid[t] | holding if t in unsaid else holding
        return found, unsaid

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
            naming = self._label_words_held(held, vocabulary, slug, words, terms, tagged)
            # and the query's word pairs of the label's words ("south east", "unitary authorities"): a text
            # that wrote the pair (the "South East" of a national leisure mutual's centres) outranked
            # every case tagged with it, which held the words one by one
            for pair in pairs:
                if all(stem(w) in naming for w in pair.split()):
                    held[pair] = held.get(pair, np.zeros(len(col.ids), dtype=bool)) | tagged
        # a word naming where a case stands ("failed", "abandoned", "validated", "in progress") is held by the
        # cases tagged so, and by their lessons: a case says it failed in its own words ("the savings were not
        # achieved"), so "transformation projects that failed" found neither failure by its words. Only the
        # label's words, as above: another name is also a word of the figures ("savings targets", "budgeted"
        # name the planned evidence), and held so it lifted every case whose figures are only a plan
        for vocabulary, slug, words in self.state_matcher.names_in(query):
            tagged = col.masks.get(self._facet_of.get(vocabulary), {}).get(slug)
            if tagged is not None:
                self._label_words_held(held, vocabulary, slug, words, terms, tagged)
        return held

    def _label_words_held(self, held: dict[str, np.ndarray], vocabulary: str, slug: str, words, terms: list[str],
                          tagged: np.ndarray) -> set[str]:
        """Each single query word that is a word of the term's label held (in `held`) by the `tagged`
        documents; the stems of the label's words the query names."""
        label = {stem(w) for w in re.findall(r"\w+", self.vocabularies[vocabulary].terms[slug].label.lower())}
        naming = {stem(w) for w in words} & label
        for t in terms:
            if " " not in t and stem(t.lower()) in naming:
                held[t] = held.get(t, np.zeros(len(tagged), dtype=bool)) | tagged
        return naming

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
