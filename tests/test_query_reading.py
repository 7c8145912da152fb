"""Queries as officers, councillors and researchers really type them (a fourth review, written blind
against the cases): contractions, pasted text, sector shorthand, long pastes."""
import pytest

from search.text import phrases_of, terms_of


def ids(found):
    return [r.id for r in found.results]


# -- a contraction is its words ---------------------------------------------------------------------
@pytest.mark.parametrize("short, long", [
    ("digital savings that didn't show up", "digital savings that did not show up"),
    ("why it doesn\u2019t work", "why it does not work"),
    ("councils that won't outsource", "councils that will not outsource"),
    ("we're a district and we've shared services", "we are a district and we have shared services"),
])
def test_a_contraction_is_read_as_its_words(engine, short, long):
    """"didn't" was corrected to "did" ("Showing results with the spelling corrected: did for
    didn"), and its parts were query words: "doesn" and "re", in no document, counted as the query's
    rarest words, and "won't" was the word "won"."""
    assert terms_of(short) == terms_of(long) and phrases_of(short) == phrases_of(long)
    found = engine.search(short, mode="keyword")
    assert found.corrections == [] and found.corrected_from is None
    assert ids(found) == ids(engine.search(long, mode="keyword"))
