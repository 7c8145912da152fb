"""Abbreviations a reader may not know (DCLG, TUPE, LBC, ICT, MTFP ...) are explained on the page that
uses them: a list after the text, each with what it stands for, and the first use marked <abbr>. Only
whole words in capitals count ("IT", never "it"). The list is declared once: the vocabulary terms'
acronyms and kb/abbreviations.yml, checked like every other declaration."""
import asyncio
import re
from html import unescape

import pytest

from kb.abbreviations import AbbreviationError, explain, glossary, load_abbreviations, used_in
from kb.site import make_datasette
from kb.vocabulary import load_vocabularies

from .declared import assert_refused


@pytest.fixture(scope="module")
def site(corpus_db):
    return make_datasette(corpus_db)


def get(site, path):
    response = asyncio.run(site.client.get(path))
    assert response.status_code == 200, path
    return response.text


def listed(page: str) -> dict[str, str]:
    section = re.search(r'<section class="kb-abbreviations-section".*?</section>', page, re.S)
    if section is None:
        return {}
    return {unescape(a): unescape(b) for a, b in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", section.group(0))}


def words_outside_the_list(page: str) -> str:
    main = re.sub(r'<section class="kb-abbreviations-section".*?</section>', " ", page, flags=re.S)
    main = re.search(r"<article.*?</article>", main, re.S).group(0)
    return unescape(re.sub(r"<[^>]+>", " ", main))


def test_a_case_page_says_what_its_abbreviations_stand_for(site):
    """The Barnet case writes DCLG, LGA, TUPE, IT and HR and explained none of them."""
    page = get(site, "/kb/cases/barnet-capita-outsourcing")
    found = listed(page)
    assert found["TUPE"].startswith("Transfer of Undertakings (Protection of Employment)")
    assert found["DCLG"].startswith("Department for Communities and Local Government")
    assert found["LGA"] == "Local Government Association"
    assert found["IT"] == "Information technology" and found["HR"] == "Human resources"
    # each one listed is on the page, as a whole word in capitals
    shown = words_outside_the_list(page)
    assert all(re.search(rf"(?<!\w){name}s?(?!\w)", shown) for name in found), found
    # after the text, a heading in order (the page's h1, then h2s), its first use in the text marked
    body_end = page.index('<div class="kb-body">') + page[page.index('<div class="kb-body">'):].index("</div>")
    assert body_end < page.index('<h2 id="abbreviations">Abbreviations on this page</h2>') < page.index('<h2 id="figures">')
    assert '<abbr title="Transfer of Undertakings' in page
    assert page.count('">TUPE</abbr>') == 1


def test_a_source_page_says_what_its_abbreviations_stand_for(site):
    page = get(site, "/kb/sources/dclg-2014-good-practice-savings")
    assert listed(page)["DCLG"].startswith("Department for Communities and Local Government")


def test_a_word_in_lower_case_is_no_abbreviation(site):
    known = glossary(load_vocabularies(), load_abbreviations())
    assert {"IT", "SEND", "ASC", "MTFP", "EHCP", "LBC", "ICT", "ALMO", "DCLG", "TUPE", "LATCo"} <= known.keys()
    assert used_in(["We send it to the asc team; it will send word to Send and It."], known) == []
    assert [a for a, _ in used_in(["The IT team and SEND budgets; two EHCPs; a RAG-rated report; PRINCE2."], known)] \
        == ["EHCP", "IT", "RAG", "SEND"]
    # a case that writes "it" but never "IT" lists no IT
    conn_page = get(site, "/kb/cases/brighton-hove-reablement")
    text = words_outside_the_list(conn_page)
    assert re.search(r"\bit\b", text) and not re.search(r"(?<!\w)IT(?!\w)", text)
    assert "IT" not in listed(conn_page)


def test_only_the_first_use_is_marked_and_never_inside_a_tag_or_a_link():
    used = {"ICT": "Information and communications technology"}
    html = '<p><a href="/ICT">ICT</a> and ICT again</p>'
    assert explain(html, used)[0] == ('<p><a href="/ICT">ICT</a> and <abbr title="Information and communications technology">'
                                      'ICT</abbr> again</p>')


@pytest.mark.parametrize("entry, says", [
    ("dclg: Department for Communities and Local Government", "'dclg' is not an abbreviation as the text writes it"),
    ("NAO:", "NAO says nothing of what it stands for"),
    ("NAO: National Audit Office\nLGA: Local Government Association\nNAO: The audit office", "NAO is declared twice (first on line 2)"),
    ("ASC: Adult social care", "ASC is already a name of a term in kb/vocabulary.yml"),
    ("NAO: [National, Audit]", "NAO says nothing of what it stands for"),
])
def test_a_bad_declared_abbreviation_is_named_with_its_file_and_line(tmp_path, entry, says):
    assert_refused(tmp_path / "abbreviations.yml", entry, load_abbreviations, AbbreviationError, says)


def test_the_site_reads_the_declared_list_from_the_database_it_serves(corpus_db):
    """The build stores the list beside the vocabularies (kb_meta), so a published site explains what
    its database was built with, not what the installed package declares."""
    from kb.site import stored_metadata

    assert stored_metadata(corpus_db)["abbreviations"] == load_abbreviations()


def test_the_declared_list_loads():
    assert load_abbreviations()["TUPE"]


def test_a_lesson_page_says_what_its_abbreviations_stand_for(site, corpus_db):
    import sqlite3
    conn = sqlite3.connect(corpus_db)
    lesson_id, text = next((i, t) for i, t in conn.execute("select id, text from lessons order by id")
                           if re.search(r"(?<!\w)(LGA|MTFP|ICT)(?!\w)", t))
    from datasette.utils import tilde_encode
    page = get(site, f"/kb/lessons/{tilde_encode(lesson_id)}")
    found = listed(page)
    footer = page[page.index("<footer"):]  # the site's sources, on every page
    assert found and all(re.search(rf"(?<!\w){name}s?(?!\w)", text + footer) for name in found), (lesson_id, found)
    assert any(re.search(rf"(?<!\w){name}s?(?!\w)", text) for name in found)
