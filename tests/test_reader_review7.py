"""A seventh look at the site as its readers use it: a lesson found by search links to the lesson
itself, on its case's page or its report's, and can be cited by that address."""
import csv
import io
import re

import pytest

from ingest.build import lesson_anchors
from kb.site import make_datasette

from .pages import get


@pytest.fixture(scope="module")
def site(corpus_db):
    return make_datasette(corpus_db)


def test_a_lesson_result_links_to_the_lesson_on_its_page(site):
    """Lesson results linked to the top of their case's page, and the search's CSV gave the case's
    address as the lesson's: a researcher had no address to cite a lesson by."""
    page = get(site, "/-/search?q=reablement&target=lessons").text
    links = re.findall(r'From <a href="(/kb/(?:cases|sources)/[^"#]+)#((?:lesson|finding)-\d+)"', page)
    assert links
    for path, anchor in links:
        assert f'<li id="{anchor}"' in get(site, path).text, (path, anchor)
    rows = list(csv.DictReader(io.StringIO(get(site, "/-/search.csv?q=reablement&target=lessons").text.lstrip("\ufeff"))))
    assert rows and all(row["url"].endswith("#" + row["id"].split("#")[1]) for row in rows)


def test_only_the_top_level_bullets_are_named():
    html = "<ul>\n<li>one</li>\n<li>two<ul><li>under two</li></ul></li>\n</ul>\n<p>then</p>\n<ul>\n<li>three</li>\n</ul>"
    # numbered too, as their links name them ("lesson 2"); a list inside one stays bulleted
    assert lesson_anchors(html) == ('<ol>\n<li id="lesson-1">one</li>\n<li id="lesson-2">two<ul><li>under two</li></ul></li>\n'
                                    '</ol>\n<p>then</p>\n<ol start="3">\n<li id="lesson-3">three</li>\n</ol>')


def test_how_often_an_amount_applies_is_said_once():
    """"£2,065 ... not a yearly amount; recurs every year" and "one-off; not a yearly amount; one-off"."""
    from plugins.kb_pages import how_often

    assert how_often(False, "recurring") == "not a yearly amount; it recurs"
    assert how_often(True, "recurring") == "recurs every year"
    assert how_often(False, "one-off") == "one-off"
    assert how_often(True, "unknown") == "a yearly amount; whether it recurs is not stated"


def test_a_figure_printed_as_a_bare_number_is_headed_by_its_amount(site):
    """The figures table's cards were headed "12.54", "0.841": figures printed in a table in £ millions."""
    page = get(site, "/kb/figures?_size=max").text
    assert re.search(r"£841,000 \(printed as \u201c0\.841\u201d\)", page)
    assert not re.search(r'<h3[^>]*><a [^>]*>[\d.,]+</a>', page)


def test_a_report_recorded_by_its_publishers_home_page_is_not_called_the_report(site):
    """London Councils' draft is not online: its address is the publisher's home page, which 20 cases
    linked as "the report itself"."""
    case = get(site, "/kb/cases/london-council-a-teal-organisation").text
    assert "its publisher&rsquo;s website<span" in case and "the report itself<span" not in case
    source = get(site, "/kb/sources/london-councils-2020-transformation-savings").text
    assert "Not online at an address of its own; its publisher:" in source
    assert "the report itself<span" in get(site, "/kb/cases/brighton-hove-reablement").text


def test_a_lessons_own_page_links_to_it_in_its_place(site):
    page = get(site, "/kb/lessons/brighton-hove-reablement~23lesson-2").text
    assert '<a href="/kb/cases/brighton-hove-reablement#lesson-2">Read it in its place on the case\'s page</a>' in page
    page = get(site, "/kb/lessons/dclg-2014-good-practice-savings~23finding-3").text
    assert '<a href="/kb/sources/dclg-2014-good-practice-savings#finding-3">' in page


def test_no_two_columns_of_a_chart_table_share_a_heading(site):
    page = get(site, "/-/charts").text
    for head in re.findall(r"<thead>(.*?)</thead>", page, re.S):
        names = re.findall(r"<th[^>]*>(.*?)</th>", head)
        assert len(names) == len(set(names)), names


def test_what_a_data_user_met(site):
    """A data user's review: a HEAD of the feed was a 500 (its empty body was read as XML) and the feed
    was served as any XML; a lesson's JSON by its id written with %23, as any client encodes '#', was
    redirected to a 404; a lesson search's CSV named no case, report or theme; /kb/x.json said there is
    no table "x.json"."""
    import asyncio

    head = asyncio.run(site.client.request("HEAD", "/kb/recent_cases.atom"))
    assert head.status_code == 200 and head.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert get(site, "/kb/recent_cases.atom").headers["content-type"].startswith("application/atom+xml")
    row = asyncio.run(site.client.get("/kb/lessons/brighton-hove-reablement%23lesson-1.json", follow_redirects=True))
    assert row.status_code == 200 and "brighton-hove-reablement#lesson-1" in row.json()["rows"][0]
    rows = list(csv.DictReader(io.StringIO(get(site, "/-/search.csv?q=leadership&target=lessons").text.lstrip("\ufeff"))))
    assert rows and all(set(row) >= {"case_id", "source_id", "theme"} for row in rows)
    assert all(bool(row["case_id"]) != bool(row["source_id"]) for row in rows)
    assert all(row["theme"] for row in rows if row["source_id"])
    assert "There is no table called \u201cnosuchtable\u201d." in get(site, "/kb/nosuchtable.json").json()["error"]


def test_a_filter_given_by_its_name_is_its_code_everywhere(site):
    """A data user's review: council_types=district was applied as district-council but echoed in the
    JSON as "district", and the page's chip and ticked box showed "district" beside District council."""
    found = get(site, "/-/search.json?council_types=district&regions=London").json()
    assert found["filters"] == {"council_types": ["district-council"], "regions": ["london"]}
    page = get(site, "/-/search?council_types=district").text
    assert "Remove filter: </span>Council type: District council" in page
    assert 'value="district" ' not in page
