"""A fifth reading of the site as a council officer on a phone, a keyboard-only user and a screen-reader
user would meet it: the footer's abbreviations explained, counts in the page's title, links named for
what they lead to, the build's join tables named by what they join, and a case's own text that says
whose account it gives. (What needs a browser is in test_browser_review5.py.)"""
import re
from html import unescape

import pytest

from kb.site import make_datasette

from .pages import get, text
from .test_reader_review4 import listed, main_of


@pytest.fixture(scope="module")
def site(corpus_db):
    return make_datasette(corpus_db)


@pytest.fixture(scope="module")
def known(corpus_db):
    from plugins.kb_present import glossary
    return glossary(corpus_db)


# -- the footer's abbreviations are the page's too --------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/kb", "/kb?sql=select+id+from+cases+limit+1", "/no/such/page", "/about",
                                  "/-/charts", "/kb/cases/barnet-capita-outsourcing", "/kb/case_sources"])
def test_the_footers_abbreviations_are_listed_and_explained(site, known, path):
    """Every page's footer names the sources "(DCLG, LGA, ...)", and no page listed them: the SQL and
    all-tables pages, 404s and the about pages had no list at all."""
    from kb.abbreviations import used_in

    page = get(site, path).text
    footer = page[page.index("<footer"):page.index("</footer>")]
    in_footer = dict(used_in([text(footer)], known))
    assert {"DCLG", "LGA"} <= set(in_footer)
    assert listed(page) == dict(used_in([text(main_of(page))], known))
    # the list is the main part's, where a screen reader's heading list finds it
    main = page[page.index("<main"):page.index("</main>")]
    assert 'id="abbreviations"' in main
    # each marked once, on its first use anywhere on the page, the footer's included
    marked = re.findall(r'<abbr title="[^"]*">([^<]*)</abbr>', main + footer)
    assert sorted(marked) == sorted(set(marked)) and {"DCLG", "LGA"} <= set(marked)


# -- a search or a filter says how many it found in the page's title -------------------------------------
def title(html: str) -> str:
    return unescape(re.search(r"<title>(.*?)</title>", html, re.S).group(1)).strip()


def count_shown(html: str) -> int:
    return int(re.sub(r"\D", "", re.search(r'<p class="kb-count"[^>]*><strong>([\d,]+)', html).group(1)))


@pytest.mark.parametrize("path, says", [
    ("/-/search?q=shared+ICT+service", "shared ICT service - search case studies: {n} found"),
    ("/-/search?q=shared+ICT+service&council_types=district-council", "shared ICT service - search case studies: {n} found with your filters"),
    ("/-/search?q=TUPE&target=lessons", "TUPE - search lessons: {n} found"),
    ("/-/search", "Browse case studies: {n}"),
    ("/-/search?council_types=district-council&services=central-services", "Browse case studies: {n} with your filters"),
    # ...and which filters: "30 match your filters" alone said nothing of which (a commissioner's review)
    ("/kb/cases?council_types__arraycontains=district-council", "Case studies: {n} match your filters (Council type: District council)"),
    ("/kb/lessons?_search=leadership", "Lessons and findings: {n} match your words (Words: \u201cleadership\u201d)"),
    ("/kb/figures?status=achieved", "Money figures: {n} match your filters (Status: Achieved)")])
def test_a_search_or_a_filter_is_titled_with_how_many_it_found(site, path, says):
    """Each search and each Apply of the filters opens a new page, and a screen reader reads its title
    first: "shared ICT service - search case studies" and "Case studies (filtered)" said nothing of how
    many were found, which was heard only by reading on to the count."""
    page = get(site, path).text
    n = count_shown(page)
    assert n > 1
    # a search none of whose results is a close match says so too (see the next test)
    none_close = ", none a close match" if "none is a close match" in page else ""
    assert title(page) == f"{says.format(n=f'{n:,}')}{none_close} - Council transformation case studies"


def test_a_search_that_finds_nothing_says_none(site):
    page = get(site, "/-/search?q=care&council_types=district-council&council_types=county-council&regions=london&mode=keyword").text
    assert count_shown(page) == 0
    assert title(page).startswith("care - search case studies: none found with your filters - ")


# -- a link's name says where it leads, read alone in a screen reader's list of links ----------------------
def links(html: str) -> dict[str, set[str]]:
    """Each link's name as a screen reader gives it (its words, hidden ones too) and the addresses so named."""
    main = html[html.index("<main"):html.index("</main>")]
    out: dict[str, set[str]] = {}
    for href, inner in re.findall(r'<a\b[^>]*?href="([^"]*)"[^>]*>(.*?)</a>', main, re.S):
        label = re.search(r'aria-label="([^"]*)"', inner)
        name = text(inner) if not label else unescape(label.group(1))
        out.setdefault(name, set()).add(unescape(href))
    return out


@pytest.mark.parametrize("path", ["/", "/-/charts", "/kb/cases/barnet-capita-outsourcing", "/kb/sources/dclg-2014-good-practice-savings",
                                  "/-/search?q=shared+ICT+service", "/-/search?q=TUPE&target=lessons",
                                  "/-/compare?id=stevenage-east-herts-shared-ict-partnership&id=croydon-place-enforcement-integration"])
def test_no_two_links_of_one_name_lead_to_different_places(site, path):
    """The home page's counts of cases were "20 cases from this report" for two reports, and each chart's
    table named its approaches' links "Service redesign (6 cases)" whether they led to achieved savings or
    to planned ones: in a list of links, read without the row, no one could tell them apart."""
    named = links(get(site, path).text)
    assert named
    assert {name: hrefs for name, hrefs in named.items() if len(hrefs) > 1} == {}


# -- the build's join tables name each row by the rows it joins ------------------------------------------
def titles(corpus_db) -> dict[str, str]:
    import sqlite3
    conn = sqlite3.connect(corpus_db)
    return dict(conn.execute("select id, title from cases union all select id, title from sources"))


@pytest.mark.parametrize("table, keys", [("case_sources", ("case_id", "source_id")), ("similar_cases", ("case_id", "similar_id"))])
def test_a_join_tables_rows_are_headed_by_what_they_join(site, corpus_db, table, keys):
    """Which reports tell each case, and which cases are like which: each row was headed (and its page
    titled and headed) by its key, "barnet-capita-outsourcing,dclg-2014-good-practice-savings"."""
    import sqlite3

    named = titles(corpus_db)
    rows = sqlite3.connect(corpus_db).execute(f"select {', '.join(keys)} from {table} order by {', '.join(keys)} limit 3").fetchall()
    page = get(site, f"/kb/{table}?_size=3").text
    heads = [unescape(h) for h in re.findall(r'<td class="col-Link type-pk"><a href="[^"]+">(.*?)</a>', page)]
    assert heads == [" \u2014 ".join(named[k] for k in row) for row in rows]
    one = get(site, f"/kb/{table}/{','.join(rows[0])}").text
    name = " \u2014 ".join(named[k] for k in rows[0])
    h1 = text(re.search(r"<h1\b.*?</h1>", one, re.S).group(0))
    assert name in h1 and rows[0][0] not in h1, h1
    said = title(one)
    assert named[rows[0][0]][:40] in said and rows[0][0] not in said, said
    current = text(re.search(r'<li aria-current="page">(.*?)</li>', one, re.S).group(1))
    assert current.startswith(named[rows[0][0]][:40]), current


def test_a_table_keyed_by_no_other_table_keeps_its_key(site):
    page = get(site, "/kb/term_documents/cases,0").text
    assert "term_documents: cases, 0</h1>" in page


def test_a_table_with_no_key_of_its_own_keeps_its_row_numbers(site):
    """A table keyed by SQLite's rowid has no key columns: its rows were left with links of no name."""
    page = get(site, "/kb/build_info").text
    assert '<td class="col-Link type-pk"><a href="/kb/build_info/1">1</a></td>' in page


# -- a case says whose account it gives in words, not as "(LGA)" ------------------------------------------
def test_an_abbreviation_in_brackets_after_words_it_does_not_stand_for_is_refused(small_root):
    """Barnet's case read "... to achieve those results (LGA)": the site explained LGA there, and the
    brackets read as what "those results" stand for, though they said whose account it was."""
    from .conftest import FIXTURES
    from .test_validate import run

    good = (FIXTURES / "good-case.md").read_text(encoding="utf-8")
    told = "of them need long-term home care, and the council counts the hours of care avoided as savings."
    defined = "Demand for adult social care in the city is rising and needs are getting more complex."
    note = 'note: "The council assumes each person\'s benefit lasts one year (line 1745)."'
    assert good.count(told) == good.count(defined) == good.count(note) == 1
    broken = (good.replace(told, told[:-1] + " (DCLG).")
              .replace(defined, "Demand for Adult Social Care (ASC) in the city is rising.")  # a definition: kept
              .replace(note, 'note: "The council assumes a year (LGA)."'))
    line = 1 + good[:good.index(told)].count("\n")
    note_line = 1 + good[:good.index(note)].count("\n")
    records, problems = run(small_root, {"brighton-hove-reablement": broken})
    assert records == []
    assert [str(p) for p in problems] == [
        f"cases/brighton-hove-reablement.md:{note_line}: '(LGA)' after 'council assumes a year' reads as what "
        "those words stand for - say whose account it is in words, such as '(as the LGA report says)', or write out "
        "what LGA stands for before the brackets",
        f"cases/brighton-hove-reablement.md:{line}: '(DCLG)' after 'care avoided as savings' reads as what those "
        "words stand for - say whose account it is in words, such as '(as the DCLG report says)', or write out "
        "what DCLG stands for before the brackets"]


@pytest.mark.parametrize("words, ok", [("special educational needs and disabilities (SEND)", True),
                                       ("Voluntary and community sector (VCS)", True),
                                       ("paid to Her Majesty's Revenue and Customs (HMRC)", True),
                                       ("the Department for Education (DfE)", True),
                                       ("to achieve those results (LGA)", False),
                                       ("adults with learning disabilities (LGA)", False)])
def test_what_an_abbreviation_in_brackets_defines(words, ok):
    from kb.validate import _BRACKETED, _spelt_by

    m = _BRACKETED.search(words)
    assert _spelt_by(words[:m.start()], m.group(1)) is ok


@pytest.mark.parametrize("path, heading", [("/kb?sql=select+id+from+cases+limit+1", "SQL query"),
                                           ("/kb/recent_cases", "New and changed cases")])
def test_a_query_page_is_headed_as_it_is_titled(site, path, heading):
    """An SQL query's page was titled "SQL query: ..." but headed "All tables and SQL", the page the
    query was written on: a screen reader's list of headings said the wrong page."""
    page = get(site, path).text
    assert text(re.search(r"<h1\b.*?</h1>", page, re.S).group(0)) == heading


def test_a_search_with_no_close_match_says_so_in_its_title(site):
    """A reader's review: "zzqxyv" was titled "10 found", and the page then said none matched; a screen
    reader hears the title first."""
    page = get(site, "/-/search?q=zzqxyv").text
    assert title(page) == "zzqxyv - search case studies: 10 found, none a close match - Council transformation case studies"
