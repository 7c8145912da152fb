"""An adult social care commissioner's review, reading lessons on a phone and with a screen reader: a
lesson's and a finding's number shown where its link lands, a report's findings under their sections'
headings, and a case's lessons cited to the reports they come from."""
import asyncio
import csv
import io
import re
import sqlite3

import pytest

from kb.site import make_datasette


@pytest.fixture(scope="module")
def site(corpus_db):
    return make_datasette(corpus_db)


def get(site, path):
    return asyncio.run(site.client.get(path))


def test_a_reports_findings_sit_under_their_sections_each_numbered_as_its_address_says(site, corpus_db):
    html = get(site, "/kb/sources/localis-2013-changing-places").text
    findings = re.findall(r'<li id="finding-(\d+)" value="(\d+)">', html)
    themes = [t for t, in sqlite3.connect(corpus_db).execute(
        "select theme from lessons where source_id = 'localis-2013-changing-places' and case_id is null order by rowid")]
    assert len(findings) == len(themes) and all(a == b for a, b in findings)
    # a heading for each run of one section, not the section's name before each finding
    headings = re.findall(r'<h3 class="kb-finding-theme">([^<]+)</h3>', html)
    runs = [t for i, t in enumerate(themes) if i == 0 or themes[i - 1] != t]
    assert [h.replace("&#39;", "'") for h in headings] == runs and len(headings) < len(themes)
    assert "?." not in html


def test_a_cases_lessons_are_numbered_as_their_links_name_them(site):
    html = get(site, "/kb/cases/cheshire-west-chester-adult-social-care-mutual").text
    lessons = html[html.index('<h2>Lessons</h2>'):]
    assert re.search(r'<ol>\s*<li id="lesson-1">', lessons), lessons[:400]


def test_a_case_lesson_says_where_its_reports_tell_the_case(site, corpus_db):
    conn = sqlite3.connect(corpus_db)
    where, = conn.execute("select where_in_source from lessons where id = 'brighton-hove-reablement#lesson-3'").fetchone()
    assert where.startswith("Good Practice in Local Government Savings, Appendix D") and "lines 1674-1768" in where
    assert not conn.execute("select count(*) from lessons where where_in_source like 'cases/%'").fetchone()[0]
    # the search's CSV of lessons names each case lesson's reports, as it does a finding's
    text = get(site, "/-/search.csv?q=staff+mutual+spin+out+adult+social+care&target=lessons").text
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert rows and all(r["source_title"] and r["source_by"] for r in rows)


def test_one_page_of_results_has_no_empty_page_navigation(site):
    one = get(site, "/-/search?target=lessons&q=reablement").text
    assert 'aria-label="Result pages"' not in one
    many = get(site, "/-/search?q=council").text
    assert re.search(r'<nav class="kb-pager" aria-label="Result pages">\s*<span>Page 1 of \d+</span>', many)


def test_a_reports_page_title_says_it_is_a_report(site):
    html = get(site, "/kb/sources/localis-2013-changing-places").text
    assert re.search(r"<title>Source report: Changing Places - how innovation", html)
