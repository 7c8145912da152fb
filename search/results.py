"""The page of results: sorted (close matches first), each result with its best passage and its
case's card, and the facet counts beside it. Part of the Engine (search/engine.py)."""
from __future__ import annotations

import json

import numpy as np

from kb.schema import Column, tables

from .index import DocumentIndex
from .response import Result
from .scoring import SEMANTIC_NEIGHBOURS, SEMANTIC_THRESHOLD, Ranking, kth_best
from .text import PASSAGES_STEMMED, highlight, term_hits

# What a result's card shows of its case (a lesson's, of the case it comes from): columns of the cases
# table, read as kb/schema.yml declares them, under the keys the templates, the search CSV and
# `kb search --json` know them by.
CARD_COLUMNS = {"organisations": "organisation_names", "council_types": "council_types", "regions": "regions",
                "year_start": "year_start", "year_end": "year_end", "outcome": "outcome",
                "headline_saving": "headline_saving"}


def card_columns() -> dict[str, Column]:
    """CARD_COLUMNS as kb/schema.yml declares them (a KeyError names a card column it does not declare)."""
    declared = {c.name: c for c in tables()["cases"].columns}
    return {key: declared[name] for key, name in CARD_COLUMNS.items()}


class Results:
    """How the Engine makes a page of results (mixed into Engine, search/engine.py, whose connection, lock and caches it uses)."""

    @staticmethod
    def _rule(mode: str, browse: bool, excluded: list[str] = ()) -> str:
        without = (f"; those holding {' or '.join(repr(e) for e in excluded)} (asked for with - or NOT) are left out"
                   if excluded else "")
        if browse:
            return f"Every document that passes the filters (values of one facet OR-ed, facets AND-ed){without}."
        near = f"the {SEMANTIC_NEIGHBOURS} nearest in meaning plus any with a passage at least {SEMANTIC_THRESHOLD} similar"
        common = ("leaving out words found in most documents"
                  + (", unless nothing else matches" if mode == "keyword" else ""))
        words = (f"at least half of the query's words ({common}) "
                 "or two of its words side by side (if none does, any of its words; if none, the everyday "
                 "words of the vocabulary terms it names)")
        rule = {"keyword": f"documents containing {words}", "semantic": near,
                "hybrid": f"documents containing {words}, and {near}"}[mode]
        if mode != "semantic":
            rule += "; a phrase in double quotes must be in the document as written"
        return f"Result set: {rule}{without}; then the filters keep those passing every one (values of one facet OR-ed, facets AND-ed)."

    def _sorted(self, col: DocumentIndex, ranked: np.ndarray, ranking: "Ranking", sort: str,
                first: int | None = None, last: np.ndarray | None = None) -> np.ndarray:
        """Close matches first, then by the sort: relevance, achieved yearly saving or start year
        (missing values last), ties by relevance, then by the start year (newest first) when sorted by
        saving or by the saving when sorted by year, then document order; only the `first` few if given
        (found without sorting every result: the close ones and those at least as good as the
        first-th by the sort's own key, ties included, hold them)."""
        if last is not None:  # what the query sets aside (see set_aside_of) after the rest, each sorted alike
            head = self._sorted(col, ranked[~last[ranked]], ranking, sort, first)
            if first is not None and len(head) >= first:
                return head
            return np.concatenate([head, self._sorted(col, ranked[last[ranked]], ranking, sort,
                                                      None if first is None else first - len(head))])
        if first is not None and len(ranked) > 4 * first:
            key = {"saving": col.savings, "year": col.years}.get(sort, ranking.scores)
            key = np.nan_to_num(key[ranked], nan=-np.inf)
            ranked = ranked[(key >= kth_best(key, first)) | ranking.close[ranked]]
        score = np.nan_to_num(ranking.scores[ranked], nan=-np.inf)
        keys = [ranked]
        # ties the query cannot break (browsing scores every case alike) go by the other sort's
        # key: the many cases with no achieved yearly saving newest first, not in the order of their ids
        if sort in ("saving", "year"):
            keys.append(-np.nan_to_num((col.years if sort == "saving" else col.savings)[ranked], nan=-np.inf))
        keys.append(-score)
        if sort == "saving":
            keys.append(-np.nan_to_num(col.savings[ranked], nan=-np.inf))
        elif sort == "year":
            keys.append(-np.nan_to_num(col.years[ranked], nan=-np.inf))
        keys.append(~ranking.close[ranked])
        return ranked[np.lexsort(keys)][:first]

    def _result(self, col: DocumentIndex, i: int, ranking: "Ranking", terms, stems, lo: int, texts: list[str]) -> Result:
        """The document with its best passage (`texts`, its passages from chunk `lo` on): most similar
        to the query, nudged towards passages that contain its words."""
        best_text, best_value = "", -np.inf
        kept = len(col.chunk_doc) <= PASSAGES_STEMMED // 2  # room for both collections' passages
        for c, text in zip(range(lo, lo + len(texts)), texts):
            if text is None:
                continue
            value = (float(ranking.sims[c]) if ranking.sims is not None else 0.0) + 0.15 * term_hits(text, stems, kept)
            if value > best_value:
                best_text, best_value = text, value
        for other in texts:
            if other is not None and len(other) < len(best_text) and best_text.endswith(": " + other):
                # a report's finding read with its section's heading ("5. The role of technology - ...: Fewer
                # councils ..."): shown without it, which the card names (a reader's review)
                best_text = other
                break
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
        findings = [r.id for r in results if r.source_id and not r.case_id]
        themes = dict(self.conn.execute(f"select id, theme from lessons where id in ({','.join('?' * len(findings))})",
                                        findings).fetchall()) if findings and col.target != "cases" else {}
        for result, case_id in zip(results, case_ids):
            row = rows.get(case_id)
            card: dict = {}
            if row:
                card = {key: self._card_value(column, row[column.name]) for key, column in columns.items()}
                if col.target != "cases":
                    card["case_title"] = row["title"]
            if result.source_id:
                card["source_title"] = source_titles.get(result.source_id)
            if themes.get(result.id):
                card["theme"] = themes[result.id]  # the report's section the finding comes from
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
