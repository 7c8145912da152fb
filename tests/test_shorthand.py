"""Shorthand that readers type (kb/shorthand.yml): "cllrs", "cx", "govt" are read as the words they
stand for, by both sides of search, and the page says so. Checked like every declaration."""
import sqlite3

import pytest

from kb.shorthand import ShorthandError, load_shorthand
from search.spelling import Speller

from .declared import assert_refused


@pytest.mark.parametrize("entry, says", [
    ("Cllr: councillor", "'Cllr' is not one word in small letters"),
    ("cllr: ", "'cllr' needs the words it stands for"),
    ("cllr: [councillor]", "'cllr' needs the words it stands for"),
    ("cllr: cllr", "'cllr' needs the words it stands for"),
    ("cllr: councillor\ncllr: councillors", "'cllr' is declared twice"),
    ("asc: adult social care", "'asc' is already a name of the term"),
    ("- cllr", "not a list of shorthand"),
])
def test_a_bad_entry_is_named_with_its_file_and_line(tmp_path, entry, says):
    assert_refused(tmp_path / "shorthand.yml", entry, load_shorthand, ShorthandError, says)


def test_the_declared_shorthand_loads_and_the_build_stores_it(corpus_db):
    import json

    declared = load_shorthand()
    assert declared["cllrs"] == "councillors" and declared["cx"] == "chief executive"
    stored = sqlite3.connect(corpus_db).execute("select value from kb_meta where key = 'shorthand'").fetchone()
    assert json.loads(stored[0]) == declared


def test_shorthand_is_read_in_full_in_any_case_and_said(engine):
    """The model reads "cx" as two letters and no report writes it: "keeping momentum when cx leaves"
    found nothing by its words. Read in full, it finds the lesson on changes of chief executive."""
    found = engine.search("keeping momentum when CX leaves", target="lessons", limit=10)
    assert found.query == "keeping momentum when chief executive leaves"
    assert found.corrections == [("CX", "chief executive")] and found.shorthand == ["CX"]
    assert found.total > 0
    cased = engine.search("Cllrs and libary closures", mode="keyword")
    assert cased.query == "Councillors and library closures"
    assert cased.corrections == [("Cllrs", "Councillors"), ("libary", "library")] and cased.shorthand == ["Cllrs"]
    assert engine.search("keeping momentum when cx leaves", spelling=False).suggestion == \
        "keeping momentum when chief executive leaves"
    assert engine.search('"cx" leaves').shorthand == []  # in quotes: as written


def test_shorthand_the_collection_writes_is_left_as_typed(engine):
    """Where the reports themselves write a short form ("ict"), that is the word searched."""
    speller = Speller(engine.conn, engine._lock, engine._known_stem, shorthand={"ict": "information technology",
                                                                                "cllrs": "councillors"})
    assert "ict" in speller.collection_words()
    fixed = speller.correct("shared ict with cllrs")
    assert fixed.query == "shared ict with councillors" and fixed.shorthand == ["cllrs"]


def test_a_function_word_typed_short_is_read_in_full_not_corrected_to_a_word_of_the_reports(engine):
    """"shld" was "corrected" to "sold", the nearest word the reports write, and the page said it
    searched for "how sold councillors explain service changes"."""
    found = engine.search("how shld councillors explain service changes", target="lessons")
    assert found.query == "how should councillors explain service changes"
    assert found.shorthand == ["shld"]
    assert engine.search("what cld we do esp on adult care").query == "what could we do especially on adult care"


@pytest.mark.parametrize("typed, written", [
    ("revs and bens shared with a neighbour", "revenues and benefits shared with a neighbour"),
    ("SMT restructure", "senior management team restructure"),
    ("ctax collection", "council tax collection"),
])
def test_the_back_office_s_shorthand_finds_what_its_words_find(engine, typed, written):
    """"Revs and bens" is how councils write revenues and benefits, and no report does: read as a
    name of the back-office term only, it found the ICT and whole-place cases before those that
    moved revenues and benefits work (2020 Vision, Barnet, Sheffield)."""
    short, full = engine.search(typed, limit=5), engine.search(written, limit=5)
    assert short.query.lower() == written
    assert [r.id for r in short.results] == [r.id for r in full.results]


def test_shorthand_a_thesaurus_group_already_reads_is_refused(tmp_path, monkeypatch):
    """"cmt" was declared in both files: one home for each word, or an edit to one is undone by the other."""
    import kb.thesaurus

    groups = tmp_path / "thesaurus.yml"
    groups.write_text("- [corporate management team, cmt]\n", encoding="utf-8")
    monkeypatch.setattr(kb.thesaurus, "THESAURUS_FILE", groups)
    assert_refused(tmp_path / "shorthand.yml", "cllr: councillor\ncmt: corporate management team", load_shorthand,
                   ShorthandError, "'cmt' is already a word of the group [corporate management team, cmt]")
