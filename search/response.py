"""What a search gives back: a page of results with what the reader needs to read them, or a
QueryError fit to show the user."""
from __future__ import annotations

from dataclasses import dataclass, field


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
    shorthand: list[str] = field(default_factory=list)  # of the corrections' typed words, those that were shorthand ("cllrs")
    # what the query sets aside in words ("not with police or fire"): searched without the clause, and the
    # documents naming it come after the rest
    set_aside: list[str] = field(default_factory=list)
