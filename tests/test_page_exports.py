"""Every page's data as JSON and CSV, as a finance officer preparing a budget paper and a data user
met them: the compare view and the charts page in both (the same numbers as the page, in a shape a
spreadsheet or a script can take), the search's CSV naming the reports to cite, the table downloads
asking for every row, the sitemap's dates and parts, and the ways back from a comparison."""
import asyncio
import csv
import io
import json
import re
import sqlite3
from urllib.parse import urlsplit

import pytest

from kb.site import make_datasette

PAIR = ["brighton-hove-reablement", "hertfordshire-social-care-access-model"]


@pytest.fixture(scope="module")
def site(corpus_db):
    return make_datasette(corpus_db)


def get(site, path):
    return asyncio.run(site.client.get(path))


def read_csv(response):
    assert response.text.startswith("\ufeff")  # so Excel reads the pound sign
    return list(csv.DictReader(io.StringIO(response.text[1:])))


def test_the_compare_page_links_its_own_json_and_csv(site):
    query = "&".join(f"id={i}" for i in PAIR)
    html = get(site, f"/-/compare?{query}").text
    assert f'href="/-/compare.csv?{query.replace("&", "&amp;")}"' in html
    assert f'href="/-/compare.json?{query.replace("&", "&amp;")}"' in html


def test_compare_json_gives_each_case_with_its_figures_lessons_and_codes(site, corpus_db):
    data = get(site, "/-/compare.json?" + "&".join(f"id={i}" for i in PAIR)).json()
    assert data["error"] is None and [c["id"] for c in data["cases"]] == PAIR
    conn = sqlite3.connect(corpus_db)
    for case in data["cases"]:
        figures = conn.execute("select count(*) from figures where case_id = ?", [case["id"]]).fetchone()[0]
        lessons = [r[0] for r in conn.execute("select text from lessons where case_id = ? order by rowid", [case["id"]])]
        assert len(case["figures"]) == figures and [lesson["text"] for lesson in case["lessons"]] == lessons
        services = conn.execute("select services from cases where id = ?", [case["id"]]).fetchone()[0]
        assert [s["code"] for s in case["services"]] == json.loads(services)
        assert all(s["name"] and s["name"] != s["code"] for s in case["services"])
        # each lesson's address is its place on the case's page
        page = get(site, urlsplit(case["url"]).path).text
        for lesson in case["lessons"]:
            anchor = urlsplit(lesson["url"]).fragment
            assert anchor and f'id="{anchor}"' in page
    brighton = data["cases"][0]
    assert any(f["amount_gbp"] == 313000 and f["yearly"] and f["status"] == {"code": "achieved", "name": "Achieved"}
               for f in brighton["figures"])
    # every term by its code beside its name, and each figure's period as the figures table holds it
    assert brighton["status"] == {"code": "implemented", "name": "Implemented"} and brighton["evidence"]["code"]
    stored = [p for p, in conn.execute("select period from figures where case_id = ? order by position", [brighton["id"]])]
    assert [f["period"] for f in brighton["figures"]] == stored
    assert all(f["kind"]["code"] in ("saving", "cost", "investment", "income", "turnover") for f in brighton["figures"])


def test_compare_csv_has_a_row_per_case_in_names(site):
    response = get(site, "/-/compare.csv?" + "&".join(f"id={i}" for i in PAIR))
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    rows = read_csv(response)
    assert [r["id"] for r in rows] == PAIR and [r["case"] for r in rows] == ["1", "2"]
    assert rows[0]["services"] == "Adult social care"
    assert "£313,000 saving a year, achieved (2013/14): \u201caround £313,000\u201d" in rows[0]["figures"].splitlines()
    assert rows[0]["lessons"].count("\n") >= 1 and rows[0]["url"].endswith("/kb/cases/brighton-hove-reablement")


@pytest.mark.parametrize("query, status", [("", 400),
                                           ("id=brighton-hove-reablement&id=hertfordshire-social-care-acces", 404)])
def test_a_comparison_that_cannot_be_made_says_why_in_its_format(site, query, status):
    data = get(site, f"/-/compare.json?{query}")
    assert data.status_code == status and data.json()["cases"] == [] and data.json()["error"]
    if status == 404:  # the case meant is offered, the comparison made with it
        offered = data.json()["suggestions"][0]
        assert offered["id"] == PAIR[1] and offered["url"].endswith("/-/compare?" + "&".join(f"id={i}" for i in PAIR))
    text = get(site, f"/-/compare.csv?{query}")
    assert text.status_code == status and text.text.startswith("error: ")


def test_charts_json_gives_the_numbers_the_page_shows(site):
    html = get(site, "/-/charts").text
    assert 'href="/-/charts.csv"' in html and 'href="/-/charts.json"' in html
    data = get(site, "/-/charts.json").json()
    assert [c["id"] for c in data["charts"]] + ["cases-by-year"] == re.findall(r'<section class="kb-chart" id="([a-z-]+)"', html)
    for chart in data["charts"]:
        section = html[html.index(f'id="{chart["id"]}"'):]
        table = section[section.index("<tbody>"):section.index("</tbody>")]
        stated = [int(n) for n in re.findall(r"\((\d+) cases?", table)]
        assert stated == [r["cases_with_such_a_saving"] for r in chart["rows"]]
        for row in chart["rows"]:
            assert (row["yearly_savings_gbp"] is None) == (row["cases_with_a_yearly_saving"] == 0)
    # each row's address opens as many cases as it counts
    row = data["charts"][0]["rows"][0]
    found = get(site, urlsplit(row["url"]).path + "." + "json?" + urlsplit(row["url"]).query).json()
    assert found["total"] == row["cases_with_such_a_saving"]
    years = data["cases_by_start_year"]
    assert sum(r["cases"] for r in years["rows"]) + years["not_stated"] == data["cases"]


def test_charts_csv_has_a_row_per_bar_and_per_year(site):
    data = get(site, "/-/charts.json").json()
    rows = read_csv(get(site, "/-/charts.csv"))
    bars = sum(len(c["rows"]) for c in data["charts"])
    assert len(rows) == bars + len(data["cases_by_start_year"]["rows"]) + 1
    first = data["charts"][0]["rows"][0]
    assert rows[0]["code"] == first["code"] and float(rows[0]["yearly_savings_gbp"]) == first["yearly_savings_gbp"]
    assert rows[-1]["name"] == "Not stated" and int(rows[-1]["cases_started"]) == data["cases_by_start_year"]["not_stated"]
    # every number a row has is in it: the years' rows had lost their counts to a renamed column
    years = [r for r in rows if r["chart"] == "cases-by-year"]
    assert sum(int(r["cases_started"]) for r in years) == data["cases"]
    assert all(r["cases_with_such_a_saving"] for r in rows if r["chart"] != "cases-by-year")


def test_the_sitemap_dates_every_page_by_its_last_change(site, corpus_db):
    """A crawler fetches again only what changed: a case is dated as the feed dates it, a report's page
    by its newest case, the other pages by the build."""
    import xml.etree.ElementTree as ET
    ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    root = ET.fromstring(get(site, "/sitemap.xml").content)
    dated = {u.find(f"{ns}loc").text: u.find(f"{ns}lastmod").text for u in root.iter(f"{ns}url")}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", day) for day in dated.values())
    conn = sqlite3.connect(corpus_db)
    built = conn.execute("select substr(built_at, 1, 10) from build_info").fetchone()[0]
    days = dict(conn.execute("select id, substr(coalesce(last_changed, first_added), 1, 10) from cases"))
    assert dated["http://localhost/"] == built and dated["http://localhost/-/charts"] == built
    for case_id, day in days.items():
        assert dated[f"http://localhost/kb/cases/{case_id}"] == (day or built)
    for source_id, in conn.execute("select id from sources"):
        newest = max((days[c] or built) for c, in conn.execute("select case_id from case_sources where source_id = ?", [source_id]))
        assert dated[f"http://localhost/kb/sources/{source_id}"] == newest


def test_a_spreadsheet_of_cases_says_which_reports_to_cite(site, corpus_db):
    """The search's CSV names each case's reports and their publishers: those columns were empty on
    every case's row, so a spreadsheet of cases said nothing to cite."""
    rows = read_csv(get(site, "/-/search.csv?q=shared+services"))
    conn = sqlite3.connect(corpus_db)
    assert rows
    for row in rows:
        titles = [t for t, in conn.execute("""select s.title from case_sources cs join sources s on s.id = cs.source_id
                                               where cs.case_id = ? order by s.date, s.title""", [row["id"]])]
        assert row["source_title"] == "; ".join(titles) and row["source_by"].count("; ") == len(titles) - 1
        assert row["source_by"]


def test_a_sort_by_saving_says_it_orders_each_group(site):
    """Close matches stay first: "Sorted by achieved yearly saving" alone read as one order, and a case
    with £3 million under three with none looked unsorted."""
    html = get(site, "/-/search?q=shared+services&sort=saving").text
    line = re.search(r'class="kb-sort">(.*?)<a ', html, re.S).group(1)
    assert line.strip() == "Sorted by achieved yearly saving within each group: the close matches first, then the rest."
    assert re.search(r'class="kb-sort">Sorted by relevance\.', get(site, "/-/search?q=shared+services").text)
    # browsing, the cases with no achieved yearly saving follow newest first, and the line says so
    line = re.search(r'class="kb-sort">(.*?)<a ', get(site, "/-/search").text, re.S).group(1)
    assert line.strip() == "Sorted by achieved yearly saving, then those with none reported, newest first."


def test_the_comparison_leads_back_to_the_search_it_was_made_from(site):
    """"Back to search" went to an empty search, losing the words and filters the cases were found by."""
    from html import unescape
    search = "/-/search?q=shared+management&council_types=district-council"
    html = get(site, search).text
    back = unescape(re.search(r'<input type="hidden" name="back" value="([^"]*)">', html).group(1))
    assert back == "q=shared+management&council_types=district-council"
    from urllib.parse import urlencode
    compared = get(site, "/-/compare?" + urlencode([("id", PAIR[0]), ("id", PAIR[1]), ("back", back)])).text
    assert f'<a href="{search.replace("&", "&amp;")}">Back to search</a>' in compared
    # a remove link keeps the way back; something that is not a query string is no way anywhere
    three = get(site, "/-/compare?" + urlencode([("id", PAIR[0]), ("id", PAIR[1]),
                                                 ("id", "west-suffolk-shared-staffing-structure"), ("back", back)])).text
    assert "back=q%3Dshared%2Bmanagement" in three
    odd = get(site, "/-/compare?" + urlencode([("id", PAIR[0]), ("id", PAIR[1]), ("back", "javascript:alert(1)")])).text
    assert '<a href="/-/search">Back to search</a>' in odd


def test_the_comparison_says_whose_each_figure_is_as_the_report_prints_it(site):
    """"£2,600,000 saving, Achieved (not stated)" beside "£1,400,000 saving" did not say that one is South
    Hams's and the other West Devon's, nor what was not stated."""
    query = "id=south-hams-west-devon-t18-case-management&id=west-suffolk-shared-staffing-structure"
    html = get(site, f"/-/compare?{query}").text
    assert "(period not stated)</span>: &ldquo;£2.6 million in South Hams&rdquo;" in html
    assert "(not stated)" not in html
    figures = get(site, f"/-/compare.json?{query}").json()["cases"][0]["figures"]
    assert figures[0]["as_printed"] == "£2.6 million in South Hams" and "yearly figure" in figures[0]["note"]


def test_a_sitemap_past_the_protocols_limit_is_an_index_of_parts(site, monkeypatch):
    """At 100,000 cases one sitemap would list more pages than a sitemap file may (50,000): crawlers
    reject it. Past the limit /sitemap.xml is an index of parts, each the same address with ?part=N."""
    import xml.etree.ElementTree as ET
    from datasette.plugins import pm
    # the plugin as Datasette loaded it, by path (one module for every site of the process)
    crawl = next(p for p in pm.get_plugins() if str(getattr(p, "__file__", "")).endswith("kb_crawl.py"))
    ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    whole = [u.find(f"{ns}loc").text for u in ET.fromstring(get(site, "/sitemap.xml").content).iter(f"{ns}url")]
    monkeypatch.setattr(crawl, "SITEMAP_MOST", 40)
    index = ET.fromstring(get(site, "/sitemap.xml").content)
    assert index.tag == f"{ns}sitemapindex"
    parts = [s.find(f"{ns}loc").text for s in index.iter(f"{ns}sitemap")]
    assert parts == [f"http://localhost/sitemap.xml?part={n}" for n in range(1, -(-len(whole) // 40) + 1)]
    listed = []
    for part in parts:
        urlset = ET.fromstring(get(site, part.replace("http://localhost", "")).content)
        assert urlset.tag == f"{ns}urlset" and len(urlset) <= 40
        listed += [u.find(f"{ns}loc").text for u in urlset.iter(f"{ns}url")]
    assert listed == whole


def test_the_build_tables_download_links_ask_for_every_row(site, corpus_db):
    """On Datasette's own table pages the JSON link gave one page (50 of 380 similar cases) and the CSV
    link stopped at max_returned_rows without a word."""
    total = sqlite3.connect(corpus_db).execute("select count(*) from similar_cases").fetchone()[0]
    html = get(site, "/kb/similar_cases").text
    json_link = re.search(r'<a href="(/kb/similar_cases\.json[^"]*)"', html).group(1).replace("&amp;", "&")
    csv_link = re.search(r'<a href="(/kb/similar_cases\.csv[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "_size=max" in json_link and "_stream=on" in csv_link
    assert len(get(site, json_link).json()["rows"]) == total > 50
    assert len(get(site, csv_link).text.strip().splitlines()) == total + 1


def test_a_sitemap_part_that_does_not_exist_and_a_host_that_is_no_host_are_refused(site):
    """A publisher's review: ?part=0, 99999 or abc gave the whole sitemap (duplicate addresses for a
    crawler to record), and a Host header of "x&y" made the sitemap's XML no XML: a 500 and a traceback."""
    assert get(site, "/sitemap.xml?part=1").status_code == 200
    for part in ("0", "2", "01", "abc", "-1"):
        response = get(site, f"/sitemap.xml?part={part}")
        assert response.status_code == 404 and response.text.startswith("Not found: there is no part"), part
    for host in ("evidence.example&x", "a<b>"):
        response = asyncio.run(site.client.get("/sitemap.xml", headers={"host": host}))
        assert response.status_code == 400 and "Traceback" not in response.text


def test_head_gives_the_length_get_would(site):
    """HEAD on Datasette's own pages said "content-length: 0", so a link checker or a cache saw an empty
    page; the site's own routes gave the right length."""
    for path in ("/kb/cases/brighton-hove-reablement", "/kb/cases", "/kb/cases.json", "/", "/-/charts"):
        whole = get(site, path)
        head = asyncio.run(site.client.head(path))
        assert head.status_code == whole.status_code == 200, path
        # (a table's page says how long its query took, so two answers may differ by a few bytes)
        assert head.content == b"" and abs(int(head.headers["content-length"]) - len(whole.content)) < 100, path


def test_the_search_json_gives_each_result_s_codes_and_the_range_asked(site):
    """A data user could not tell which results a facet value counts (the results named services in
    words, joined by "; ", which one organisation's name also holds), nor see the savings range asked."""
    found = get(site, "/-/search.json?q=shared+services&min_savings=1m").json()
    assert found["min_savings"] == 1_000_000 and found["max_savings"] is None
    for result in found["results"]:
        for column, counted in found["facets"].items():
            assert set(result["tags"][column]) <= set(counted), (result["id"], column)
        assert result["achieved_annual_saving_gbp"] >= 1_000_000
    ticked = next(v for v in found["facets"]["services"])
    assert sum(ticked in r["tags"]["services"] for r in found["results"]) == found["facets"]["services"][ticked]
    # a value a result does not have is null, as in the tables' JSON
    lessons = get(site, "/-/search.json?q=shared+services&target=lessons").json()["results"]
    assert any(r["case_id"] is None and r["source_id"] for r in lessons) or all(r["case_id"] for r in lessons)
    assert all(r["theme"] is None for r in lessons if r["case_id"])
    # ...and the page names its JSON in its head, as Datasette's own pages do
    page = get(site, "/-/search?q=shared+services").text
    assert '<link rel="alternate" type="application/json+datasette" href="/-/search.json?q=shared+services">' in page


def test_a_table_s_json_link_is_read_by_a_program_as_it_is(site):
    """A data user's review: the JSON links gave rows as arrays on one table and, on others, each
    reference as {"value": ..., "label": ...} (Datasette's _labels), and every list of tags as a
    string of JSON inside the JSON."""
    for table in ("cases", "lessons", "figures", "similar_cases"):
        html = get(site, f"/kb/{table}").text
        link = re.search(rf'<a href="(/kb/{table}\.json[^"]*)"', html).group(1).replace("&amp;", "&")
        assert "_labels" not in link, link
        rows = get(site, link).json()["rows"]
        assert rows and all(isinstance(r, dict) for r in rows), table
        assert all(not isinstance(v, dict) for r in rows for v in r.values()), table  # plain ids
        if table in ("cases", "lessons"):
            assert all(isinstance(r["services"], list) and isinstance(r["source_ids"], list) for r in rows)


def test_one_case_s_whole_record_is_one_json(site):
    """A data user's review: a case's own JSON is its row alone, and its figures, lessons and reports
    took four more requests; the comparison's JSON refused one case ("Choose at least two")."""
    html = get(site, "/kb/cases/brighton-hove-reablement").text
    assert 'href="/-/compare.json?id=brighton-hove-reablement">everything on this page as JSON</a>' in html
    one = get(site, "/-/compare.json?id=brighton-hove-reablement")
    assert one.status_code == 200 and [c["id"] for c in one.json()["cases"]] == ["brighton-hove-reablement"]
    case = one.json()["cases"][0]
    assert case["figures"] and case["lessons"] and case["sources"]
    assert get(site, "/-/compare.csv?id=brighton-hove-reablement").status_code == 200
    # the page itself still compares two or more
    assert get(site, "/-/compare?id=brighton-hove-reablement").status_code == 400


def test_every_column_a_table_exports_has_its_note_where_its_page_says(site):
    """A data user's review: a table page's notes covered the columns it shows (4 of the cases' 25 CSV
    columns), and the metadata that notes them all was linked from nowhere."""
    meta = get(site, "/-/metadata.json").json()["databases"]["kb"]["tables"]
    for table in ("cases", "lessons", "figures", "organisations", "sources"):
        html = get(site, f"/kb/{table}").text
        assert 'has its note in <a href="/-/metadata.json">' in html, table
        header = next(csv.reader(io.StringIO(get(site, f"/kb/{table}.csv?_size=1").text)))
        assert set(header) <= set(meta[table]["columns"]), (table, set(header) - set(meta[table]["columns"]))
