"""Words the sector uses for one thing (kb/thesaurus.yml): a councillor types "councillors" where the
reports write "members"; a query word finds every word of its group. Checked like every declaration."""
import sqlite3

import pytest

from kb.thesaurus import ThesaurusError, load_thesaurus

from .declared import assert_refused


@pytest.mark.parametrize("entry, says", [
    ("- [councillors]", "a group is two words or more"),
    ("- councillors", "a group is two words or more"),
    ("- [Councillors, members]", "'Councillors' is not a word in lower case"),
    ("- [councillors, members]\n- [members, elected members]", "'members' is in two groups (first on line 2)"),
    ("- [bins, rubbish]", "'bins' is already a name of the term"),
    ("- [councillors, [members]]", "a group is two words or more"),
])
def test_a_bad_group_is_named_with_its_file_and_line(tmp_path, entry, says):
    assert_refused(tmp_path / "thesaurus.yml", entry, load_thesaurus, ThesaurusError, says)


def test_a_group_of_words_of_several_words_is_read_whole(engine):
    """"Town hall" is the council: read as its two words, "town" was held by every case a town council
    takes part in (by its council type) and "hall" by a sports hall, so "town hall teaming up with the
    local bobbies" put North Dorset's leisure centres second. A group of phrases only, refused while a
    query was read word by word, is read whole since typed phrases of the thesaurus are."""
    assert any(group[0] == "town hall" and all(" " in w for w in group) for group in load_thesaurus())
    terms = engine._grouped("town hall teaming up with the local bobbies", ["town", "hall", "teaming", "local", "bobbies"])
    assert "town" not in terms and "hall" not in terms and "town hall" in terms
    found = engine.search("town hall", mode="keyword", limit=20)
    assert "north-dorset-leisure-centres" not in [r.id for r in found.results]


def test_a_readers_word_for_what_stands_in_the_way_finds_the_reports_barriers(engine):
    """The DCLG report names "the main obstacles" and others "barriers"; a reader types "hurdles"."""
    found = [r.id for r in engine.search("hurdles to moving services online", mode="keyword", target="lessons", limit=30).results]
    assert "dclg-2014-good-practice-savings#finding-17" in found


def test_the_declared_groups_load_and_the_build_stores_them(corpus_db):
    """The engine reads the groups the database was built with (kb_meta), as it does the vocabulary."""
    import json

    groups = load_thesaurus()
    assert any(group[:2] == ["councillors", "members"] for group in groups)
    stored = sqlite3.connect(corpus_db).execute("select value from kb_meta where key = 'thesaurus'").fetchone()
    assert json.loads(stored[0]) == groups


def test_a_query_word_finds_the_reports_word_for_it(engine):
    """A finding about what becomes of members' role when a company runs a service never says
    "councillors", the word a councillor types: keyword search found it only by "role"."""
    finding = "lga-2016-transformational-models#finding-30"
    text = sqlite3.connect(engine.db_path).execute("select lower(title || theme || text) from lessons where id = ?",
                                                   (finding,)).fetchone()[0]
    assert "councillor" not in text and "members" in text
    found = {r.id: r for r in engine.search("councillors", target="lessons", mode="keyword", limit=100).results}
    assert finding in found
    assert "<mark>members</mark>" in found[finding].passage_html  # the page shows why it was found


def test_a_group_widens_only_its_own_words(engine):
    """"members" finds "councillors" too, but a word of no group is only itself and its own forms."""
    assert "councillors" in engine._variants(["members"])["members"]
    assert engine._variants(["reablement"])["reablement"] == ["reablement"]


@pytest.mark.parametrize("module, attribute, content, says", [
    ("thesaurus", "THESAURUS_FILE", "- [councillors, members]\n- [Residents, citizens]\n", "2: 'Residents' is not a word in lower case"),
    ("abbreviations", "ABBREVIATIONS_FILE", "LGA: Local Government Association\nlga: again\n",
     "2: 'lga' is not an abbreviation as the text writes it"),
    ("shorthand", "SHORTHAND_FILE", "cllr: councillor\nCx: chief executive\n", "2: 'Cx' is not one word in small letters"),
])
def test_a_bad_declared_list_stops_the_build_not_a_page(tmp_path, monkeypatch, small_root, module, attribute, content, says):
    """The site and search read the lists on every page and query: a bad entry stops the build,
    naming its file and line, and nothing is written."""
    import importlib

    from click.testing import CliRunner

    from kb.cli import cli
    bad = tmp_path / f"{module}.yml"
    bad.write_text(content, encoding="utf-8")
    monkeypatch.setattr(importlib.import_module(f"kb.{module}"), attribute, bad)
    out = tmp_path / "kb.db"
    result = CliRunner().invoke(cli, ["--root", str(small_root), "build", "--db", str(out), "--quiet"])
    assert result.exit_code == 1
    assert f"{bad}:{says}" in result.output
    assert not out.exists()
    # a contributor checks an edit with `kb validate` (or `kb schema`) before any build: the same words,
    # not a traceback from the reference the lists are written into
    for command in (["validate", "--no-duplicates"], ["schema", "--check"]):
        result = CliRunner().invoke(cli, ["--root", str(small_root), *command])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), command
        assert f"{bad}:{says}" in result.output, command


def test_childrens_centres_find_the_sure_start_centres_a_report_names(engine):
    """Manchester kept its "Sure Start centres" open while cutting the cost of early years; an officer
    types "children's centres", which no case writes: keyword search found the looked-after children
    case first, by "children", "commissioning" and "keep"."""
    text = sqlite3.connect(engine.db_path).execute(
        "select lower(title || ' ' || body_text) from cases where id = 'manchester-early-years-commissioning'").fetchone()[0]
    assert "sure start centres" in text and "children's centres" not in text
    found = [r.id for r in engine.search("early years commissioning keep childrens centres", mode="keyword", limit=5).results]
    assert found[0] == "manchester-early-years-commissioning"
