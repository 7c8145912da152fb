"""Queries in the styles a seventh blind review tried (written against the cases and findings before any
ranking was seen): two topics at once, numbers that are no money, risks and failure, time-scales,
people and roles, a committee report or an email pasted whole, a resident's plain question, and the
sector's words misspelt or typed together."""
import pytest

from search.text import terms_of


def ids(found):
    return [r.id for r in found.results]


# -- two words typed as one -----------------------------------------------------------------------------------
@pytest.mark.parametrize("typed, meant", [
    ("agileworking", "agile working"),
    ("costsavings", "cost savings"),
    ("demandmanagement", "demand management"),
    ("earlyintervention", "early intervention"),
])
def test_two_words_typed_as_one_are_read_as_the_collection_writes_them(engine, typed, meant):
    """A phone drops a space as easily as it slips a letter: "agileworking" was in no document and no
    two edits from any word, so it was searched as typed and found nothing."""
    assert engine.speller.correct(f"{typed} lessons").words == []  # a reading, not a slip
    assert engine._variants([typed])[typed] == [typed, meant]


def test_a_run_together_word_finds_what_its_words_find(engine):
    found = engine.search("agileworking", mode="keyword", limit=3)
    assert "wokingham-agile-working-desk-ratio" in ids(found)


@pytest.mark.parametrize("typed", ["councilowned", "xyzzyplugh", "theservices", "andsavings", "reablement"])
def test_a_word_whose_parts_never_stand_together_is_not_split(engine, typed):
    """Only parts the collection writes side by side, neither of them a function word ("theservices"
    is no "the services": "the" is searched for nothing), and only a word no document holds."""
    assert engine._variants([typed])[typed] == [typed]
