"""Filters: facet values checked against the vocabularies (a wrong one gets a suggestion) and
boolean masks over the documents. Part of the Engine (search/engine.py)."""
from __future__ import annotations

import numpy as np

from .index import DocumentIndex
from .response import QueryError


class Filters:
    """How the Engine checks and applies filters (mixed into Engine, search/engine.py, whose connection, lock and caches it uses)."""

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
