"""A sixth reading of the site, as a data user meets Datasette's pages: no link that leads to "Page not
found", one link for one organisation, and every link named for where it goes, read alone in a screen
reader's list of links with the site's menu beside it. (What needs a browser is in test_browser_review6.py.)"""
import re
import sqlite3
from html import unescape
from urllib.parse import urlsplit

import pytest

from kb.site import make_datasette

from .pages import get, text


@pytest.fixture(scope="module")
def site(corpus_db):
    return make_datasette(corpus_db)


def body_links(html: str) -> list[tuple[str, str]]:
    """Every link of the page (its menu and footer too) as (name, address): the name as a screen reader
    gives it, hidden words included, aria-hidden ones not."""
    body = html[html.index("<body"):] if "<body" in html else html
    out = []
    for attrs, inner in re.findall(r"<a\b([^>]*)>(.*?)</a>", body, re.S):
        href = re.search(r'href="([^"]*)"', attrs)
        if href is None:
            continue
        label = re.search(r'aria-label="([^"]*)"', attrs)
        inner = re.sub(r'<(\w+)[^>]*aria-hidden="true"[^>]*>.*?</\1>', "", inner, flags=re.S)
        inner = re.sub(r"</?span\b[^>]*>", "", inner)  # inline: its words run on, as a screen reader reads them
        out.append((unescape(label.group(1)) if label else text(inner), unescape(href.group(1))))
    return out


def same_name_elsewhere(html: str) -> dict[str, set[str]]:
    named: dict[str, set[str]] = {}
    for name, href in body_links(html):
        named.setdefault(name.lower(), set()).add(href.split("#")[0])
    return {name: hrefs for name, hrefs in named.items() if len(hrefs) > 1}


def tables(corpus_db) -> list[str]:
    conn = sqlite3.connect(corpus_db)
    return [r[0] for r in conn.execute("select name from sqlite_master where type = 'table' order by name")]


# -- no link leads to "Page not found" ---------------------------------------------------------------------
def test_no_table_page_links_a_row_or_a_download_that_is_not_found(site, corpus_db):
    """The search indexes' own tables (cases_fts_idx, lessons_fts_idx) linked each row, and each row's
    term, by a key SQLite keeps as binary: every one of those links led to "Page not found". Each table's
    page is checked, and the first rows and downloads it links."""
    dead = {}
    for table in tables(corpus_db):
        page = get(site, f"/kb/{table}")
        assert page.status_code == 200, table
        hrefs = {h for _, h in body_links(page.text)}
        rows = sorted(h for h in hrefs if urlsplit(h).path.startswith(f"/kb/{table}/"))
        downloads = sorted(h for h in rows if ".blob" in h)
        for href in [h for h in rows if ".blob" not in h][:4] + downloads[:4]:
            status = get(site, href).status_code
            if status >= 400:
                dead.setdefault(table, []).append((status, href))
    assert dead == {}


def test_a_row_whose_key_is_binary_is_shown_not_linked(site):
    """What such a row's link said (its key) is still there to read, as text."""
    page = get(site, "/kb/cases_fts_idx").text
    cells = re.findall(r'<td class="col-Link type-pk">(.*?)</td>', page, re.S)
    assert cells and not any("<a " in c for c in cells)
    assert re.search(r"&lt;Binary:&nbsp;\d+&nbsp;bytes?&gt;", page)


def test_the_accessibility_statement_lists_no_problem_that_is_fixed(site):
    page = text(get(site, "/accessibility").text)
    assert "Page not found" not in page and "cases_fts_idx" not in page


# -- one organisation, one link ----------------------------------------------------------------------------
def test_an_organisation_is_one_link_to_all_its_cases(site, corpus_db):
    """A council in several cases was as many links of its name, each to a page of its part in one case:
    "Croydon LBC" led to two places, "Cheshire West and Chester Council" to three."""
    conn = sqlite3.connect(corpus_db)
    several = conn.execute("""select name, count(*) from organisations where not anonymised group by name
                              having count(*) > 1 order by count(*) desc, name""").fetchall()
    assert len(several) > 3
    page = get(site, "/kb/organisations?_size=max").text
    assert same_name_elsewhere(page) == {}
    links = dict(body_links(page))
    for name, n in several[:3] + [("Adur District Council", 1)]:
        # its link lists every case it is in, and nothing else, and says how many
        listed = get(site, links[name]).text
        assert row_names(listed) == [name] * n
        assert text(re.search(r'<p class="kb-count".*?</p>', listed, re.S).group(0)).startswith(f"{n} ")


def test_an_anonymised_organisation_says_which_case_it_is_in(site, corpus_db):
    """An anonymised name is no one's: "Anonymised London pilot borough" of fifteen cases is fifteen
    organisations, each its own link, named by its case."""
    cases = dict(sqlite3.connect(corpus_db).execute(
        "select o.case_id, c.title from organisations o join cases c on c.id = o.case_id where o.name = ?",
        ["Anonymised London pilot borough"]))
    assert len(cases) > 1
    page = get(site, "/kb/organisations?_size=max").text
    named = {n for n, _ in body_links(page) if n.startswith("Anonymised London pilot borough")}
    assert named == {f"Anonymised London pilot borough, in {title}" for title in cases.values()}


def row_names(html: str) -> list[str]:
    return [text(re.sub(r"</?span\b[^>]*>", "", n)) for n in re.findall(r'<th scope="row"><a href="[^"]*">(.*?)</a>', html)]


def test_one_organisations_cases_sit_together(site):
    """Sorted by name, a council's cases are side by side, where a reader comparing councils looks."""
    names = [n.split(", in ")[0] for n in row_names(get(site, "/kb/organisations?_size=max").text)]
    assert names == sorted(names)


# -- every link's name says where it goes, the site's menu included ------------------------------------------
PAGES = ["/kb/cases?_size=max", "/kb/lessons?_size=max", "/kb/figures?_size=max", "/kb/sources",
         "/kb/organisations?_size=max", "/kb/terms?_size=max", "/kb", "/kb/case_sources?_size=max",
         "/kb/similar_cases?_size=max", "/kb/build_info", "/kb/chunks", "/kb/cases_fts_idx", "/kb/cases_fts_data",
         "/kb?sql=select+*+from+cases+limit+3", "/kb/figures/barnet-capita-outsourcing~231",
         "/kb/cases?council_types__arraycontains=district-council", "/kb/figures?kind=saving&_sort=amount_gbp",
         "/kb/case_sources?_facet=source_id", "/kb/similar_cases?_facet=case_id&_facet=similar_id", "/kb/recent_cases"]


@pytest.mark.parametrize("path", PAGES)
def test_no_two_links_of_one_name_lead_to_different_places_menu_included(site, path):
    """On the reports' table, the sort link "Cases" shared its name with the menu's "Cases"; figures of
    one amount ("£1 million") and terms of one label ("Planned") in two vocabularies were links of one
    name to different rows; every binary value of a table was a download named "<Binary: 1,536 bytes>";
    a facet's value was named as a cell's link to its row, and as its link in another facet."""
    page = get(site, path)
    assert page.status_code == 200
    assert same_name_elsewhere(page.text) == {}


DATA_PAGES = PAGES + ["/kb/case_sources?_facet=source_id&source_id=dclg-2014-good-practice-savings",
                      "/kb/similar_cases?_facet=case_id", "/kb/chunks?_facet=case_id&_facet=kind", "/kb/case_sources?source_id=nope",
                      "/kb/similar_cases/barnet-capita-outsourcing,sheffield-housing-benefit-channel-shift",
                      "/kb/chunks/barnet-capita-outsourcing~2Fsummary~2F0", "/kb?sql=select+id+from+cases+where+0"]


@pytest.mark.parametrize("path", DATA_PAGES)
def test_every_link_has_a_name_in_words(site, path):
    """Datasette's facets took a facet or a chosen value away with a link named "\u2716" (read as "heavy
    multiplication x"), and showed more values with one named "\u2026"."""
    page = get(site, path)
    assert page.status_code == 200
    assert [(name, href) for name, href in body_links(page.text) if not re.search(r"\w", name)] == []


@pytest.mark.parametrize("path", ["/kb", "/kb/case_sources", "/kb/similar_cases", "/kb?sql=select+id+from+cases+limit+1",
                                  "/kb/similar_cases/barnet-capita-outsourcing,sheffield-housing-benefit-channel-shift"])
def test_the_sites_licence_is_said_once_in_the_footer(site, path):
    """Every data user's page opened with the footer's licence and sources ("Data license: Code: MIT ...")."""
    page = get(site, path).text
    main = page[page.index("<main"):page.index("</main>")]
    footer = page[page.index("<footer"):page.index("</footer>")]
    assert "MIT for the code" not in main and "MIT for the code" in footer


def test_a_table_page_that_finds_no_rows_says_why_and_where_to_go(site):
    """Datasette said "0 records", under a heading that already said so."""
    page = get(site, "/kb/case_sources?source_id=nope").text
    said = re.search(r'<p class="zero-results">(.*?)</p>', page, re.S).group(1)
    assert text(said).startswith('No rows where source_id = "nope".')
    assert ("Show every row of Cases and their reports", "/kb/case_sources") in body_links(said)


def test_a_page_past_a_tables_last_row_says_so_not_that_the_table_is_empty(site):
    page = get(site, "/kb/similar_cases?_next=zzzz,zzzz").text
    said = re.search(r'<p class="zero-results">(.*?)</p>', page, re.S).group(1)
    assert text(said).startswith("There are no more rows after this point.")
    assert body_links(said) == [("Back to the first page of Similar cases", "/kb/similar_cases")]


def test_a_query_that_finds_no_rows_says_it_ran(site):
    page = get(site, "/kb?sql=select+id+from+cases+where+0").text
    assert text(re.search(r'<p class="zero-results">(.*?)</p>', page, re.S).group(1)) == "The query ran and returned no rows."


# -- the build's join tables, in words -----------------------------------------------------------------------
def test_the_similar_cases_table_is_named_and_its_columns_explained(site):
    """"similar_cases", with a "score" of -0.0168 and no word of what any column held."""
    page = get(site, "/kb/similar_cases").text
    assert text(re.search(r"<h1\b.*?</h1>", page, re.S).group(0)) == "Similar cases"
    notes = dict((text(dt), text(dd)) for dt, dd in re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", page, re.S))
    assert {"case_id", "similar_id", "rank", "score", "reason"} <= set(notes)
    assert "below 0" in notes["score"]
    assert "Cases and their reports" in text(get(site, "/kb/case_sources").text)


def test_a_similar_cases_row_links_the_cases_it_joins_by_their_titles(site, corpus_db):
    """Its page showed the two cases' keys, unlinked."""
    conn = sqlite3.connect(corpus_db)
    case_id, similar_id = conn.execute("select case_id, similar_id from similar_cases order by case_id, rank limit 1").fetchone()
    titles = dict(conn.execute("select id, title from cases where id in (?, ?)", [case_id, similar_id]))
    page = get(site, f"/kb/similar_cases/{case_id},{similar_id}").text
    cells = dict(re.findall(r'<td class="col-(case_id|similar_id) [^"]*">(.*?)</td>', page, re.S))
    assert body_links(cells["case_id"]) == [(titles[case_id], f"/kb/cases/{case_id}")]
    assert body_links(cells["similar_id"]) == [(titles[similar_id], f"/kb/cases/{similar_id}")]


def test_serving_pages_leaves_what_the_build_declared_as_it_was(site, corpus_db):
    """Datasette merged the site's titles and "hidden" into the build's stored metadata, so a table the
    build does not declare (the similar cases) read as declared, with no column of its own."""
    from kb.site import stored_metadata

    for path in ("/kb", "/kb/similar_cases", "/kb/cases"):
        get(site, path)
    declared = stored_metadata(corpus_db)["site_metadata"]
    assert "similar_cases" not in declared
    assert not {"hidden", "title", "size"} & set(declared["cases"])


@pytest.mark.parametrize("path", ["/kb/case_sources", "/kb/similar_cases/barnet-capita-outsourcing,sheffield-housing-benefit-channel-shift",
                                  "/kb?sql=select+id+from+cases+limit+2", "/kb/recent_cases"])
def test_a_download_link_says_what_it_downloads(site, path):
    """"This data as json, CSV (advanced)" and the advanced export's "default", "array", "object": each a
    link named by a word that, read alone, said nothing of what it downloads."""
    names = [name for name, href in body_links(get(site, path).text) if ".json" in href or ".csv" in href or href == "#export"]
    assert names and all(len(name.split()) > 2 for name in names), names
    assert "JSON of these rows" in names  # every row, not "this page's data": the links ask for all of them


def test_the_new_and_changed_cases_list_opens_on_the_list_not_its_sql(site):
    """The list of new and changed cases, linked from the all-tables page, opened on a screenful of the
    feed's SQL."""
    page = get(site, "/kb/recent_cases").text
    assert "kb_rfc3339" not in text(page[page.index("<main"):page.index("</main>")])
    assert '<td class="col-atom_title' in page


@pytest.mark.parametrize("table, sql", [
    ("figures", "select id from figures where text in (select text from figures group by text having count(*) > 1)"),
    ("organisations", "select case_id || ',' || position from organisations where name = 'Anonymised London pilot borough'"),
    ("terms", "select vocabulary || ',' || slug from terms where label in (select label from terms group by label having count(*) > 1)")])
def test_rows_that_share_a_title_have_pages_of_their_own_titles(site, corpus_db, table, sql):
    """The four "£1 million" figures' pages were each titled "Money figures: £1 million", the fifteen
    anonymised boroughs' "Organisations: Anonymised London pilot borough": in a browser's tabs and
    history, and the first thing a screen reader says, they were one page."""
    from datasette.utils import tilde_encode

    keys = [r[0] for r in sqlite3.connect(corpus_db).execute(sql)]
    assert len(keys) > 1
    said = [title(get(site, f"/kb/{table}/{tilde_encode(key) if table == 'figures' else key}").text) for key in keys]
    assert len(set(said)) == len(said), said


def title(html: str) -> str:
    return unescape(re.search(r"<title>(.*?)</title>", html, re.S).group(1)).strip()


@pytest.mark.parametrize("address", ["/kb/figures?_facet=kind", "/kb/cases?_facet=status&_facet=status"])
def test_a_facet_asked_for_again_is_listed_once(site, address):
    """An address that asks again for a filter the table already offers ("_facet=kind") listed it twice:
    two regions of one name (axe: landmark-unique) and two headings of one id."""
    page = get(site, address).text
    ids = re.findall(r'<h3 id="(facet-[^"]*)"', page)
    assert ids and len(ids) == len(set(ids)), ids
