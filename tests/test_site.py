"""The Datasette site over the real corpus database, through Datasette's own test client."""
import asyncio
import csv
import io
import json
import re
import shutil
import sqlite3
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from kb.site import METADATA, make_datasette

from .conftest import altered_copy


@pytest.fixture(scope="module")
def site(corpus_db):
    return make_datasette(corpus_db)


def get(site, path):
    return asyncio.run(site.client.get(path))


class Links(HTMLParser):
    """Every href, src and form action of a page, and the text of its <title> and <h1>."""

    def __init__(self):
        super().__init__()
        self.urls, self.title, self._in = [], "", None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src", "action"):
            if attrs.get(key) is not None:
                self.urls.append(attrs[key])
        if tag in ("title",):
            self._in = tag

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "title":
            self.title += data


def parsed(html: str) -> Links:
    p = Links()
    p.feed(html)
    return p


# -- home ---------------------------------------------------------------------------------------------
def test_home_page_says_what_this_is_and_lists_sources_with_licences(site):
    page = get(site, "/")
    assert page.status_code == 200
    assert "Council transformation case studies" in page.text
    assert "Open Government Licence v3.0" in page.text
    assert "Good Practice in Local Government Savings" in page.text
    assert '<label for="q">' in page.text and "/-/charts" in page.text


def test_home_page_sources_keep_licence_and_status_apart_and_say_when_built_in_words(corpus_db, site):
    html = get(site, "/").text
    table = html[html.index('<table class="kb-sources-table">'):html.index("</table>")]
    licences = re.findall(r'<td data-label="Licence">(.*?)</td>', table)
    assert len(licences) == sqlite3.connect(corpus_db).execute("select count(*) from sources").fetchone()[0]
    assert not any(l.endswith(")") and "(published" in l or "(draft)" in l for l in licences), licences
    assert '<span class="kb-sub">Published</span>' in table and '<span class="kb-sub">Draft</span>' in table
    assert re.search(r"Last built on \d{1,2} [A-Z][a-z]+ \d{4};", html)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", html) and "sentence-transformers/" not in html


# -- table pages made for readers -----------------------------------------------------------------------
def test_cases_table_has_the_derived_facets(site):
    data = get(site, "/kb/cases.json?_size=0&_extra=facet_results").json()
    facets = data["facet_results"]
    names = set(facets["results"]) if "results" in facets else set(facets)
    assert {"council_types", "regions", "services", "approaches", "key_attributes", "outcome", "evidence",
            "source_ids", "status"} <= names


def test_facet_question_answered_by_facets_alone(site):
    # "district councils that shared services with a neighbour"
    data = get(site, "/kb/cases.json?council_types__arraycontains=district-council"
                     "&approaches__arraycontains=shared-services-councils&_shape=array&_col=id").json()
    assert "west-suffolk-shared-staffing-structure" in {r["id"] for r in data}


def test_cases_table_page_reads_like_a_list_not_a_database(site):
    page = get(site, "/kb/cases")
    html = page.text
    assert page.status_code == 200
    assert parsed(html).title.strip().startswith("Case studies") and "kb" not in parsed(html).title.split()
    # labels and tags, not slugs and JSON arrays
    assert "District council" in html and '<ul class="kb-tag-list">' in html
    assert '["' not in html and "district-council</" not in html
    # no body columns, no CREATE TABLE, no wall of column help
    assert "body_html" not in html.replace("_nocol=body_html", "") and "CREATE TABLE" not in html
    assert '<details class="kb-column-help">' in html and 'class="column-descriptions"' not in html
    # money with £ and separators, never a raw float
    sorted_page = get(site, "/kb/cases?_sort_desc=achieved_annual_saving_gbp").text
    assert re.search(r"£\d{1,3}(,\d{3})+<", sorted_page) and not re.search(r">\d+\.0<", sorted_page)
    # at most one page of rows, so a phone is not 200,000 px tall
    assert html.count('<th scope="row">') <= 25


def test_largest_saving_means_achieved_and_yearly(corpus_db, site):
    """The cases table's saving column, its sort and the search's range are the largest saving
    reported as achieved a year: no planned or multi-year total ranks above a saving made."""
    top = get(site, "/kb/cases.json?_sort_desc=achieved_annual_saving_gbp&_shape=array&_size=8"
                    "&_col=achieved_annual_saving_gbp").json()
    conn = sqlite3.connect(corpus_db)
    for row in top:
        assert conn.execute("""select count(*) from figures where case_id = ? and kind = 'saving' and status = 'achieved'
                               and per_year = 1 and amount_gbp = ?""", [row["id"], row["achieved_annual_saving_gbp"]]).fetchone()[0]
    ranged = get(site, "/-/search.json?min_savings=1000000").json()["results"]
    assert ranged and all(r["achieved_annual_saving_gbp"] >= 1_000_000 for r in ranged)
    html = get(site, "/kb/figures?_facet=per_year").text
    assert "Yearly amount" in html and re.search(r">\s*Yes <span", html) and not re.search(r">\s*1 <span", html)


def test_body_columns_are_left_out_of_table_json_but_not_row_json(site):
    rows = get(site, "/kb/cases.json?_shape=array&_size=2").json()
    assert rows and "body_html" not in rows[0] and "title" in rows[0]
    row = get(site, "/kb/cases/brighton-hove-reablement.json?_shape=array").json()
    assert "body_html" in row[0]


def test_figures_table_shows_money_period_and_status_in_words(site):
    html = get(site, "/kb/figures?case_id=brighton-hove-reablement").text
    assert "£313,000" in html and "Achieved" in html and "Saving" in html
    assert "313000.0" not in html and ">achieved<" not in html


def test_lessons_filter_by_their_cases_council_type_service_and_approach(site):
    page = get(site, "/kb/lessons?council_types__arraycontains=district-council&services__arraycontains=environmental-and-regulatory"
                     "&approaches__arraycontains=shared-services-councils").text
    assert "Council type: District council" in page and "Service:" in page and "Approach:" in page
    count = int(re.search(r'<p class="kb-count"><strong>([\d,]+)</strong>', page).group(1).replace(",", ""))
    assert count > 0
    data = get(site, "/kb/lessons.json?council_types__arraycontains=district-council&services__arraycontains=environmental-and-regulatory"
                     "&approaches__arraycontains=shared-services-councils&_shape=array&_size=max").json()
    assert len(data) == count


def test_internal_tables_are_not_on_the_public_index(site):
    tables = {t["name"]: t for t in get(site, "/kb.json").json()["tables"]}
    for name in ("chunks", "case_vectors", "term_documents", "kb_meta", "sections", "similar_cases", "build_info"):
        assert tables[name]["hidden"], name
    shown = {name for name, t in tables.items() if not t["hidden"]}
    assert shown == {"cases", "lessons", "figures", "sources", "organisations", "terms"}


def test_a_misspelt_facet_value_names_the_nearest_term(site):
    html = get(site, "/kb/cases?services__arraycontains=adult-socail-care").text
    assert "There is no service called" in html and "adult-socail-care" in html
    link = re.search(r'Did you mean <a href="([^"]+)">Adult social care</a>', html)
    assert link and "services__arraycontains=adult-social-care" in link.group(1)
    fixed = get(site, link.group(1).replace("&amp;", "&")).text
    assert "There is no service called" not in fixed and "Service: Adult social care" in fixed


def test_chips_remove_one_filter_and_clear_all_removes_every_one(site):
    html = get(site, "/kb/cases?council_types__arraycontains=district-council&outcome=succeeded").text
    chips = re.findall(r'<a class="kb-chip" href="([^"]+)">', html)
    assert len(chips) == 2
    assert all(("district-council" in c) != ("succeeded" in c) for c in chips)
    clear = re.search(r'<a class="kb-clear" href="([^"]+)">Clear all filters', html).group(1)
    assert "district-council" not in clear and "succeeded" not in clear


# -- case, source and row pages --------------------------------------------------------------------------
def test_case_page_shows_text_figures_lessons_and_similar(site):
    page = get(site, "/kb/cases/brighton-hove-reablement")
    assert page.status_code == 200
    text = page.text
    assert "<h2>Summary</h2>" in text and "around £313,000" in text
    assert "Pilot first, then scale" in text and "Similar cases" in text
    assert re.search(r'<span class="kb-why">Shared (approach|service|council type)', text)
    assert text.count('href="/kb/cases/') >= 5


def test_case_page_is_made_to_be_found_cited_compared_and_printed(site):
    text = get(site, "/kb/cases/brighton-hove-reablement").text
    assert '<meta name="description" content="Brighton and Hove' in text
    assert '<meta property="og:title" content="Brighton and Hove' in text and 'property="og:url"' in text
    assert 'id="cite"' in text and "Council transformation case studies, last changed " in text
    assert re.search(r"Available at: http://localhost/kb/cases/brighton-hove-reablement \(Accessed: \d+ \w+ \d{4}\)\.</p>", text)
    # where the report itself is: a reader may cite it too
    assert "(December 2014), https://www.gov.uk/government/publications/good-practice-in-local-government-savings." in text
    assert 'href="/-/compare?id=brighton-hove-reablement&amp;id=' in text
    # figures in words: £ with separators, status and period; never the figures table's column names
    assert "£313,000</span>" in text and "Period: 2013/14" in text and "Achieved" in text
    assert "id: saving" not in text and "rows-and-columns" not in text
    # the print style is part of the site's CSS
    css = get(site, re.search(r'href="(/-/kb-static/site\.css[^"]*)"', text).group(1)).text
    assert "@media print" in css


def test_a_figure_that_is_not_yearly_is_not_called_a_total(corpus_db, site):
    """A figure that is not a yearly amount may be weekly, monthly or for one year only: the page says
    only what per_year says, never "a total or one-off" (untrue of "£2,065 a week")."""
    conn = sqlite3.connect(corpus_db)
    case_id, period = conn.execute("select case_id, period from figures where per_year = 0 and period like 'per week%'").fetchone()
    html = get(site, f"/kb/cases/{case_id}").text
    assert "a total or one-off" not in html
    assert f"Period: {period}; not a yearly amount" in html  # not bracketed: a period may hold brackets of its own


def test_a_saving_achieved_only_as_a_total_is_not_said_to_be_none(corpus_db, site):
    """"Headline saving: £3.8 million total since 2013, achieved" is not followed by "None reported as
    achieved": the yearly line says the saving achieved is a total, on the case page and the compare view."""
    conn = sqlite3.connect(corpus_db)
    achieved = lambda amount: {r[0] for r in conn.execute(
        f"""select c.id from cases c join figures f on f.case_id = c.id where c.achieved_annual_saving_gbp is null
            and f.kind = 'saving' and f.status = 'achieved' and f.amount_gbp is {amount}""")}
    totals, others = achieved("not null"), achieved("null")
    none = {r[0] for r in conn.execute("""select id from cases where id not in (select case_id from figures
                                          where kind = 'saving' and status = 'achieved')""")}
    assert "west-suffolk-shared-staffing-structure" in totals and len(totals) >= 4 and others - totals and none
    line = lambda html: re.search(r"<dt>Achieved yearly saving</dt><dd>(.*?)</dd>", html).group(1)
    # a source that gives no period at all is not said to give a total (South Hams and West Devon's)
    unstated = {r[0] for r in conn.execute("""select case_id from figures where kind = 'saving' and status = 'achieved'
                                              and amount_gbp is not null group by case_id
                                              having min(period like '%not stated%' and period not like '%total%') = 1""")} & totals
    assert "south-hams-west-devon-t18-case-management" in unstated and unstated < totals
    for case_id in totals:
        assert line(get(site, f"/kb/cases/{case_id}").text) == (
            'No yearly figure: the source does not say over what period the saving achieved was made (see <a href="#figures">Figures</a>)'
            if case_id in unstated else
            'No yearly figure: the saving achieved is reported as a total (see <a href="#figures">Figures</a>)')
    for case_id in others - totals:
        assert line(get(site, f"/kb/cases/{case_id}").text).startswith("No yearly figure in pounds: the saving achieved is reported")
    assert line(get(site, f"/kb/cases/{sorted(none)[0]}").text) == "None reported as achieved"
    compared = get(site, f"/-/compare?id=west-suffolk-shared-staffing-structure&id={sorted(none)[0]}").text
    row = re.search(r'<th scope="row">Achieved yearly saving</th>(.*?)</tr>', compared).group(1)
    assert re.findall(r'<td data-label="Case \d[^"]*">([^<]*)</td>', row) == [
        "No yearly figure: the saving achieved is reported as a total (see Figures, below)", "None reported as achieved"]


def _case_titles(db) -> dict[str, str]:
    return dict(sqlite3.connect(db).execute("select id, title from cases"))


def _case_id_pattern(titles) -> re.Pattern:
    return re.compile(r"(?<![\w/-])(" + "|".join(map(re.escape, sorted(titles, key=len, reverse=True))) + r")(?![\w-])")


def _mentions(db, titles) -> dict[str, set[str]]:
    """Each case whose text or figure notes name another case by its id, and the ids named."""
    pattern, conn, out = _case_id_pattern(titles), sqlite3.connect(db), {}
    for case_id, text in conn.execute("""select id, body_html || ' ' || summary from cases union all
                                         select case_id, note from figures where note is not null"""):
        named = {m for m in pattern.findall(text) if m != case_id}
        if named:
            out.setdefault(case_id, set()).update(named)
    return out


def test_a_case_named_by_its_id_reads_as_its_title_linked_from_the_case_text(corpus_db, site):
    """"told in detail in the separate case barnet-capita-outsourcing": a reader sees the title."""
    from markupsafe import escape

    titles = _case_titles(corpus_db)
    mentions = _mentions(corpus_db, titles)
    assert {"barnet-commissioning-council", "oldham-cooperative-council-model", "tri-borough-community-budget-pilot",
            "suffolk-coastal-enabling-communities-budget"} <= set(mentions)
    pattern = _case_id_pattern(titles)
    body_links = 0
    for case_id, named in mentions.items():
        html = get(site, f"/kb/cases/{case_id}").text
        main = html[html.index("<main"):html.index("</main>")]
        shown = re.sub(r"<[^>]+>", " ", main.replace(f"case {case_id}.", ""))  # the citation names the case itself
        assert not pattern.findall(shown), (case_id, pattern.findall(shown))
        assert escape(case_id) not in html.split('<meta name="description" content="')[1].split('"')[0]
        for other in named:
            assert escape(titles[other]) in main, (case_id, other)
        body_links += sum(f'<a href="/kb/cases/{other}">{escape(titles[other])}</a>' in main for other in named)
    assert body_links >= 5
    # a figure's note, on its own page too
    conn = sqlite3.connect(corpus_db)
    figure = conn.execute("select id from figures where note like '%barnet-capita-outsourcing%'").fetchone()[0]
    from datasette.utils import tilde_encode
    page = get(site, f"/kb/figures/{tilde_encode(figure)}").text
    assert "barnet-capita-outsourcing" not in re.sub(r"<[^>]+>", " ", page) and escape(titles["barnet-capita-outsourcing"]) in page


@pytest.mark.parametrize("query", ["q=separate+case&mode=keyword", "q=told+in+its+own+case&mode=keyword",
                                   "q=separate+case+capita+outsourcing&mode=keyword", "q=shared+services+tri-borough"])
def test_search_passages_name_a_case_by_its_title_not_its_id(corpus_db, site, query):
    titles = _case_titles(corpus_db)
    pattern = _case_id_pattern(titles)
    html = get(site, f"/-/search?{query}").text
    passages = re.findall(r'<p class="kb-passage">(.*?)</p>', html, re.S)
    data = get(site, f"/-/search.json?{query}").json()["results"]
    assert passages and data
    for passage in passages + [r["passage_html"] for r in data] + [r["passage"] for r in data]:
        assert not pattern.findall(re.sub(r"</?mark>", "", passage)), passage
        assert passage.count("<mark>") == passage.count("</mark>")
    assert any(titles[other] in r["passage"] for r in data for other in ("barnet-capita-outsourcing", "tri-borough-shared-services",
                                                                          "suffolk-coastal-lowestoft-multi-agency-working"))


def test_no_case_speaks_of_the_reports_conversion_to_text(corpus_db, site):
    """Notes written while reading a report's plain-text version ("The diagram did not survive the
    text conversion") say what the reader is missing instead."""
    conn = sqlite3.connect(corpus_db)
    wording = re.compile(r"conversion|did not survive|garbled|text version", re.I)
    texts = conn.execute("""select id, body_html || ' ' || summary from cases union all
                            select case_id, note from figures where note is not null union all
                            select id, text from lessons union all select id, text from chunks""").fetchall()
    assert not [(key, wording.search(text).group(0)) for key, text in texts if text and wording.search(text)]
    assert "diagram is not reproduced here" in " ".join(get(site, "/kb/cases/barnet-commissioning-council").text.split())
    data = get(site, "/-/search.json?q=diagram+did+not+survive+the+text+conversion&mode=keyword").json()["results"]
    assert data and not any(wording.search(r["passage"]) for r in data)


def test_case_page_json(site):
    data = get(site, "/kb/cases/brighton-hove-reablement.json?_shape=array").json()
    assert data[0]["id"] == "brighton-hove-reablement" and "body_html" in data[0]


def test_source_page_explains_line_numbers_and_lists_its_cases(corpus_db, site):
    html = get(site, "/kb/sources/dclg-2014-good-practice-savings").text
    assert "&lt;p&gt;" not in html and "<p>" in html
    assert "003_5ee2102b45daad8d" not in html  # the internal text file's name
    assert "What the line numbers refer to" in html and "plain-text version" in html
    assert 'href="/kb/cases/brighton-hove-reablement"' in html and "Cases drawn from this report" in html
    url = sqlite3.connect(corpus_db).execute("select url from sources where id = 'dclg-2014-good-practice-savings'").fetchone()[0]
    assert url.startswith("https://") and f'<a href="{url}">' in html
    assert "the report itself" in get(site, "/kb/cases/brighton-hove-reablement").text


@pytest.mark.parametrize("change", ["update sources set url = null", "alter table sources drop column url"])
def test_source_page_without_the_reports_address(corpus_db, tmp_path, change):
    served = make_datasette(altered_copy(corpus_db, tmp_path, change))
    assert "No public address is recorded" in get(served, "/kb/sources/dclg-2014-good-practice-savings").text
    case = get(served, "/kb/cases/brighton-hove-reablement")
    assert case.status_code == 200 and "the report itself" not in case.text


def test_other_row_pages_are_labelled_fields(site):
    html = get(site, "/kb/figures/brighton-hove-reablement~231").text
    assert "<h1>around £313,000</h1>" in html and "<dt>Amount (£)</dt><dd>£313,000</dd>" in html
    assert '<dt>Case</dt><dd><a href="/kb/cases/brighton-hove-reablement">Brighton and Hove' in html


def _fields(html: str) -> dict[str, str]:
    main = html[html.index("<main"):html.index("</main>")]
    main = re.sub(r'<section class="kb-abbreviations-section".*?</section>', "", main, flags=re.S)  # not the row's
    return {dt: dd for dt, dd in re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", main, re.S)}


@pytest.mark.parametrize("path", ["/kb/lessons/2020-vision-partnership-joint-commissioning-shared-services~23lesson-1",
                                  "/kb/figures/brighton-hove-reablement~231", "/kb/organisations/brighton-hove-reablement,1",
                                  "/kb/terms/approaches,agile-working"])
def test_row_pages_show_no_keys_positions_file_paths_or_raw_arrays(site, path):
    """A reader's row page: its key is its address and its order within the case means nothing alone
    (both stay in the JSON); a case's lesson is not sent to a file of the repository; the title of
    the case it links to is not repeated under another name; lists are lists, never JSON."""
    html = get(site, path).text
    fields = _fields(html)
    assert fields and "Id" not in fields and "Position" not in fields and "Title" not in fields, list(fields)
    main = html[html.index("<main"):html.index("</main>")]
    assert ".md:" not in main and '["' not in main and "This data as json" not in main
    assert "_" not in "".join(fields)  # labels, not column names
    if "figures" in path:  # the JSON keeps every column
        assert {"id", "position"} <= set(get(site, path + ".json?_shape=array").json()[0])


def test_a_case_lesson_row_links_to_its_case_text(site):
    """...and says where its case's report tells the case: the file's own line ("cases/x.md:146") had
    told a reader nothing, and its CSV and JSON disagreed with the page."""
    html = get(site, "/kb/lessons/brighton-hove-reablement~23lesson-1").text
    assert ('<a href="/kb/cases/brighton-hove-reablement">Brighton and Hove scales up an '
            'open-door reablement service for older people</a>') in html
    assert "Good Practice in Local Government Savings, Appendix D" in html and "lines 1674-1768" in html


# -- the vocabulary terms: declared in kb/schema.yml like every other table -----------------------------------
def _with_stored_terms(corpus_db, tmp_path, change) -> Path:
    """A copy of the corpus database whose stored site metadata for the terms table is `change`d
    (None: a database with no site metadata at all)."""
    db = tmp_path / "kb.db"
    shutil.copy(corpus_db, db)
    conn = sqlite3.connect(db)
    if change is None:
        conn.execute("delete from kb_meta where key in ('site_metadata', 'facets')")
    else:
        stored = json.loads(conn.execute("select value from kb_meta where key = 'site_metadata'").fetchone()[0])
        stored["terms"] = change(stored["terms"])
        conn.execute("update kb_meta set value = ? where key = 'site_metadata'", [json.dumps(stored)])
    conn.commit()
    conn.close()
    return db


def test_terms_pages_show_the_declared_labels(site):
    from kb.schema import tables

    terms = tables()["terms"]
    shown = [c for c in terms.columns if c.name not in terms.pk and c.name != terms.label_column]
    for term in ("approaches,agile-working", "figure_statuses,achieved"):
        row = get(site, f"/kb/terms/{term}.json?_shape=objects").json()["rows"][0]
        fields = _fields(get(site, f"/kb/terms/{term}").text)
        # a field the term leaves empty (an approach has no label for other kinds of figure) is left out
        assert list(fields) == [c.label for c in shown if row[c.name] not in (None, "", "[]")], term
    html = get(site, "/kb/terms").text
    heads = dict(re.findall(r'<a href="/kb/terms\?_sort=(\w+)" rel="nofollow"><span class="kb-visually-hidden">Sort by </span>([^<]+?)\s*<', html))
    assert heads == {"label": terms.column("label").label, "vocabulary_label": terms.column("vocabulary_label").label,
                     "definition": terms.column("definition").label}
    assert f'<p class="kb-lede">{terms.description}</p>' in html


def test_terms_pages_take_their_labels_from_the_database_they_serve(corpus_db, tmp_path):
    db = _with_stored_terms(corpus_db, tmp_path, lambda t: {**t, "kb_labels": {**t["kb_labels"], "definition": "Meaning"}})
    served = make_datasette(db)
    assert "<dt>Meaning</dt>" in get(served, "/kb/terms/approaches,agile-working").text
    assert 'rel="nofollow"><span class="kb-visually-hidden">Sort by </span>Meaning</a>' in get(served, "/kb/terms").text


def test_terms_json_and_csv_keep_every_column(site):
    from kb.schema import tables

    names = tables()["terms"].names
    assert list(get(site, "/kb/terms.json?_shape=array").json()[0]) == names
    assert next(csv.reader(io.StringIO(get(site, "/kb/terms.csv").text))) == names


def _chips(html: str) -> list[str]:
    return [c.strip() for c in re.findall(r'class="kb-chip"[^>]*><span class="kb-visually-hidden">[^<]*</span>([^<]*)<', html)]


def _facet_values(html: str, column: str) -> list[str]:
    """The values a table page's facet offers, as a reader reads them (ticked ones too)."""
    section = re.search(rf'aria-labelledby="facet-{column}">.*?</section>', html, re.S).group(0)
    return [v.strip() for v in re.findall(r'>([^<>]*)<span class="kb-count-n">', section)]


def _vocabulary_labels(db) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("select distinct vocabulary, vocabulary_label from terms"))
    finally:
        conn.close()


def test_terms_filtered_by_vocabulary_name_it_by_its_label(site, corpus_db):
    """The vocabulary column holds keys (kb/schema.yml says so, `vocabulary_key`): a reader reads the
    vocabulary's label in the facet and in the filter's chip."""
    labels = _vocabulary_labels(corpus_db)
    assert labels["approaches"] != "approaches"
    assert sorted(_facet_values(get(site, "/kb/terms").text, "vocabulary")) == sorted(labels.values())
    html = get(site, "/kb/terms?vocabulary=approaches").text
    assert _chips(html) == [f"Vocabulary: {labels['approaches']}"]
    assert _facet_values(html, "vocabulary") == [labels["approaches"]]
    misspelt = get(site, "/kb/terms?vocabulary=aproaches").text
    assert _chips(misspelt) == ["Vocabulary: aproaches"]
    # as a misspelt term is: the nearest vocabulary offered, with the filter put right
    assert "There is no vocabulary called &ldquo;aproaches&rdquo;" in misspelt
    assert re.search(rf'Did you mean <a href="[^"]*vocabulary=approaches[^"]*">{labels["approaches"]}</a>\?', misspelt)


def test_a_column_reads_as_vocabulary_labels_only_where_the_database_declares_it(corpus_db, tmp_path):
    """No table or column is special-cased: without the stored declaration the keys show as stored."""
    served = make_datasette(_with_stored_terms(corpus_db, tmp_path, lambda t: {**t, "kb_vocabulary_keys": []}))
    assert "approaches" in _facet_values(get(served, "/kb/terms").text, "vocabulary")
    assert _chips(get(served, "/kb/terms?vocabulary=approaches").text) == ["Vocabulary: approaches"]


def test_terms_json_and_csv_keep_the_vocabulary_key(site):
    rows = get(site, "/kb/terms.json?vocabulary=approaches&_shape=array&_size=max").json()
    assert rows and {r["vocabulary"] for r in rows} == {"approaches"}
    facet = get(site, "/kb/terms.json?_extra=facet_results").json()["facet_results"]
    facet = (facet.get("results") or facet)["vocabulary"]["results"]
    assert "approaches" in {v["value"] for v in facet} and "approaches" in {v["label"] for v in facet}
    csv_rows = list(csv.DictReader(io.StringIO(get(site, "/kb/terms.csv?vocabulary=approaches").text)))
    assert csv_rows and {r["vocabulary"] for r in csv_rows} == {"approaches"}


def _vocabularies_read_by_position(db) -> dict:
    """The vocabularies as the site and the engine read them before they read the terms by name."""
    from kb.vocabulary import Term, Vocabulary

    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("select vocabulary, vocabulary_label, slug, label, definition, aliases, synonyms "
                            "from terms").fetchall()
    finally:
        conn.close()
    out: dict = {}
    for key, vocabulary_label, slug, label, definition, aliases, synonyms in rows:
        vocab = out.setdefault(key, Vocabulary(key=key, label=vocabulary_label, description=""))
        vocab.terms[slug] = Term(slug, label, definition, tuple(json.loads(aliases or "[]")),
                                 synonyms=tuple(json.loads(synonyms or "[]")))
    return out


def _present():
    from kb.site import PLUGINS, plugin_module

    return plugin_module(str(PLUGINS / "kb_present.py"), "kb_present")


def test_the_engine_and_the_site_read_the_vocabularies_the_build_wrote(corpus_db, engine):
    import dataclasses

    from kb.vocabulary import load_vocabularies

    before, declared = _vocabularies_read_by_position(corpus_db), load_vocabularies()
    for read in (engine.vocabularies, _present().terms(corpus_db)):
        assert list(read) == list(before) == list(declared)
        for key, vocab in read.items():
            assert (vocab.key, vocab.label, vocab.description) == (before[key].key, before[key].label, "")
            # the reading by position knew no figure status's label for other kinds: all else as it read
            assert [(slug, dataclasses.replace(t, other_kinds_label=None)) for slug, t in vocab.terms.items()] \
                == list(before[key].terms.items()), key
            # what kb/vocabulary.yml says, all but each term's family and whether it is unknown (read by
            # the build, not read back from the database)
            assert list(vocab.terms.values()) == [dataclasses.replace(t, family=None, unknown=False)
                                                  for t in declared[key].terms.values()], key


def test_a_database_built_before_a_terms_column_loads_as_it_did(corpus_db, tmp_path):
    """The site's labels fall back to the stored slugs and the engine asks for `kb build` again."""
    from search.engine import Engine, QueryError

    db = altered_copy(corpus_db, tmp_path, "alter table terms drop column synonyms")
    assert _present().terms(db) == {} and _present().source_titles(db) == {}
    with pytest.raises(QueryError, match=r"no such column: synonyms.*run `kb build` again"):
        Engine(db)


def test_the_vocabularies_are_read_by_the_names_kb_schema_declares(corpus_db, monkeypatch):
    import dataclasses

    import kb.schema
    from kb.vocabulary import stored_vocabularies

    terms = kb.schema.tables()["terms"]
    renamed = dataclasses.replace(terms, columns=tuple(dataclasses.replace(c, name="everyday_words")
                                                       if c.name == "synonyms" else c for c in terms.columns))
    monkeypatch.setattr(kb.schema, "tables", lambda: {"terms": renamed})
    conn = sqlite3.connect(corpus_db)
    try:
        with pytest.raises(KeyError, match="declares no synonyms"):
            stored_vocabularies(conn)
    finally:
        conn.close()


@pytest.mark.parametrize("older", [lambda t: {k: t[k] for k in ("label_column", "facets", "description")}, None],
                         ids=["terms-undeclared", "no-site-metadata"])
def test_terms_pages_of_a_database_built_before_the_terms_were_declared_still_render(corpus_db, tmp_path, older):
    """Without the labels a newer build stores, the terms show as any table the database does not
    describe does (Datasette's names for its columns) until `kb build` writes the database again."""
    served = make_datasette(_with_stored_terms(corpus_db, tmp_path, older))
    for path, status in [("/kb/terms", 200), ("/kb/terms?vocabulary=approaches", 200), ("/kb/terms.json", 200),
                         ("/kb/terms.csv", 200), ("/kb/terms/approaches,agile-working", 200),
                         ("/kb/terms?_sort=defintion", 400)]:
        page = get(served, path)
        assert page.status_code == status, path
        assert status != 200 or "agile-working" in page.text, path
    if older is not None:  # the label column was stored before the labels were
        assert ">Agile working</a>" in get(served, "/kb/terms").text


def test_column_help_never_only_repeats_the_label(site):
    for table in ("cases", "lessons", "figures", "sources", "organisations", "terms"):
        html = get(site, f"/kb/{table}").text
        if 'class="kb-column-help"' not in html:
            continue
        helped = html[html.index('class="kb-column-help"'):]
        for dt, dd in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", helped[:helped.index("</details>")]):
            assert dd.strip().rstrip(".").lower() != dt.lower(), (table, dt, dd)


# -- search -------------------------------------------------------------------------------------------------
def test_search_page_html_json_csv_agree(site):
    q = "/-/search{}?q=leisure+centres+run+by+the+community&council_types=district-council"
    html = get(site, q.format(""))
    assert html.status_code == 200 and "kb-result" in html.text
    data = get(site, q.format(".json")).json()
    assert data["results"] and data["results"][0]["id"] in html.text
    rows = list(csv.DictReader(io.StringIO(get(site, q.format(".csv")).text)))
    assert [r["id"] for r in rows] == [r["id"] for r in data["results"]]
    assert data["facets"]["council_types"]["district-council"] == data["total"] == len(rows)


def test_a_word_asked_to_be_left_out_is_left_out_and_the_page_says_so(site):
    data = get(site, "/-/search.json?q=outsourcing+-Barnet").json()
    assert data["excluded"] == ["Barnet"] and data["total"] and data["query"] == "outsourcing -Barnet"
    assert not [r for r in data["results"] if r["id"].startswith("barnet-")]
    html = get(site, "/-/search?q=outsourcing+NOT+Barnet").text
    assert "Leaving out every case study that mentions &ldquo;Barnet&rdquo;" in html
    assert 'data-id="barnet-' not in html


def test_what_a_search_sets_aside_in_words_comes_last_and_the_page_says_so(site):
    """"not with police or fire": the model reads no negation, so the police and fire partnerships
    had come first; now the councils' own shared services do, and the page says why."""
    data = get(site, "/-/search.json?q=shared+services+between+councils,+not+with+police+or+fire").json()
    assert data["set_aside"] == ["police", "fire"]
    ids = [r["id"] for r in data["results"]]
    naming = [i for i in ids if any(w in i for w in ("police", "fire"))]
    assert naming and ids[-len(naming):] == naming  # every one after the rest
    assert not [r for r in data["results"] if r["id"] in naming and r["close"]]
    html = get(site, "/-/search?q=shared+services+between+councils,+not+with+police+or+fire").text
    assert "Your search sets aside &ldquo;police&rdquo; and &ldquo;fire&rdquo;: case studies whose title or organisations name them come after" in html


def test_results_show_what_officers_compare_on_and_scores_stay_in_json(site):
    html = get(site, "/-/search?q=reablement+for+older+people").text
    first = html[html.index('class="kb-result" data-id="brighton-hove-reablement"'):]
    first = first[:first.index("</li>")]
    assert "Brighton and Hove City Council" in first and "Unitary authority" in first and "South East" in first
    assert "from 2008" in first and "outcome: succeeded" in first and "a year, achieved" in first
    assert "score" not in html.lower().replace("scores near", "")
    assert "score" in get(site, "/-/search.json?q=reablement").json()["results"][0]


def test_close_matches_come_first_and_the_rest_are_also_related(site):
    data = get(site, "/-/search.json?q=shared+staffing+structure+between+two+district+councils").json()
    flags = [r["close"] for r in data["results"]]
    assert flags == sorted(flags, reverse=True) and 0 < data["close_total"] < data["total"]
    html = get(site, "/-/search?q=shared+staffing+structure+between+two+district+councils").text
    assert html.index("Close matches") < html.index("Also related")
    assert f"{data['close_total']} close match" in html


def _results(html: str) -> list[str]:
    return re.findall(r'<li class="kb-result".*?</li>', html, re.S)


@pytest.mark.parametrize("query", ["q=shared+chief+executive+between+two+districts", "q=bin+collections",
                                   "q=leadership&target=lessons", "q=reablment"])
def test_every_result_says_why_it_is_listed(site, query):
    """Highlighting alone says nothing to a screen reader, nor of a result found by meaning: each
    result says in words whether its passage has the search's words (naming them), has them
    elsewhere, or was found by meaning alone, as the JSON's matched_by says."""
    html = get(site, f"/-/search?{query}").text
    data = get(site, f"/-/search.json?{query}").json()["results"]
    shown = _results(html)
    assert shown and len(shown) == min(20, len(data))
    for li, r in zip(shown, data):
        why = re.search(r'<p class="kb-why-match">([^<]+)</p>', li)
        assert why, li[:200]
        marked = re.findall(r"<mark>([^<]+)</mark>", r["passage_html"])
        if "keyword" not in r["matched_by"] and not marked:
            assert why.group(1) == "Found by meaning, not by your words."
        elif "keyword" not in r["matched_by"]:
            assert why.group(1).startswith("Found by meaning; it also has words of your search: ")
        elif marked:
            assert why.group(1).startswith("Has words of your search: ")
            named = {w.lower() for w in re.findall(r"\u201c([^\u201d]+)\u201d", why.group(1))}
            assert named and named <= {m.lower() for m in marked}
        else:
            assert why.group(1) == "Has words of your search outside the passage shown."


def test_a_result_ranked_by_meaning_with_words_of_the_search_in_its_passage_is_not_said_to_lack_them(site):
    """Ranked by meaning (here the reader asked for meaning only), a passage may still hold words of
    the search, highlighted: its note names them instead of saying "not by your words" above them."""
    _meaning_notes_name_the_words_shown(site, "q=shared+services&mode=semantic")


@pytest.mark.model
def test_a_result_whose_words_were_left_out_as_incidental_names_the_words_its_passage_shows(model_corpus_db):
    """With the real model, page 2 of this search lists cases ranked by meaning alone (their few
    shared words, "council" and "services", too common to rank by) whose passages show those words."""
    _meaning_notes_name_the_words_shown(make_datasette(model_corpus_db), "q=shared+services+between+district+councils&page=2")


def _meaning_notes_name_the_words_shown(site, query):
    html = get(site, f"/-/search?{query}").text
    data = get(site, f"/-/search.json?{query.replace('&page=2', '')}").json()["results"]
    shown = _results(html)
    meaning = [li for li in shown if "<mark>" in li.split('class="kb-passage"')[-1]
               and re.search(r'kb-why-match">Found by meaning', li)]
    assert meaning, "no result ranked by meaning shows words of the search"
    assert any("<mark>" in r["passage_html"] and "keyword" not in r["matched_by"] for r in data)
    for li in meaning:
        why = re.search(r'<p class="kb-why-match">([^<]+)</p>', li).group(1)
        assert "not by your words" not in why
        named = {w.lower() for w in re.findall(r"\u201c([^\u201d]+)\u201d", why)}
        marked = {m.lower() for m in re.findall(r"<mark>([^<]+)</mark>", li.split('class="kb-passage"')[-1])}
        assert named and named <= marked


def test_results_found_by_meaning_alone_are_not_said_to_share_words(site):
    """A misspelt or unknown word finds nothing by its words: the notice says so and suggests checking
    the spelling, instead of claiming the results share the search's words."""
    # (a misspelt word is corrected unless the reader asks for the words as typed)
    for q, spelling in (("reablment", "off"), ("xyzzy quantum blockchain", None)):
        args = urlencode({"q": q, **({"spelling": spelling} if spelling else {})})
        data = get(site, "/-/search.json?" + args).json()
        assert data["total"] and not any("keyword" in r["matched_by"] for r in data["results"])
        html = get(site, "/-/search?" + args).text
        assert "share some of its words" not in html
        assert "was found by your words" in html and "Check the spelling" in html
    html = get(site, "/-/search?q=bin+collections+in+a+rural+district").text
    if "none is a close match" in html:
        assert "share some of its words" in html


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "semantic"])
def test_about_this_search_is_in_a_readers_words(site, mode):
    """The engine's rule, with its thresholds and "OR-ed" facets, is for the JSON; the page says
    what the results are in plain words."""
    html = get(site, f"/-/search?q=shared+services&mode={mode}").text
    about = html[html.index('<details class="kb-about">'):]
    about = about[:about.index("</details>")]
    assert "The results are the" in about
    for jargon in ("Result set", "OR-ed", "AND-ed", "facet", "documents", "0.35"):
        assert jargon not in about, jargon
    assert get(site, f"/-/search.json?q=shared+services&mode={mode}").json()["rule"].startswith("Result set")


def test_the_number_beside_a_filter_value_is_what_the_page_says_it_is(site):
    """With a value of a facet ticked, another value's number is the results with that value (what
    ticking it alone shows), not what ticking it too would show (the results with either): the page
    says which."""
    base = "/-/search.json?q=shared+services"
    ticked = get(site, base + "&council_types=district-council").json()
    others = {v: n for v, n in ticked["facets"]["council_types"].items() if v != "district-council"}
    assert others
    for value, number in others.items():
        assert get(site, f"{base}&council_types={value}").json()["total"] == number
        both = get(site, f"{base}&council_types=district-council&council_types={value}").json()["total"]
        assert both >= max(number, ticked["total"])
    about = get(site, "/-/search?q=shared+services&council_types=district-council").text
    assert "how many results have that value" in about and "results with any of them" in about
    assert "how many results you will have after ticking it" not in about


@pytest.mark.parametrize("query, title", [("q=care", "care - search case studies"),
                                          ("q=care&page=2", "care - search case studies, page 2"),
                                          ("q=leadership&target=lessons", "leadership - search lessons"),
                                          ("page=3", "Browse case studies, page 3")])
def test_search_page_titles_name_what_is_searched_and_the_page(site, query, title):
    """Tabs, history and a screen reader's first words tell page 2 from page 1, lessons from cases."""
    assert parsed(get(site, f"/-/search?{query}").text).title.strip().startswith(title + ": ")


@pytest.mark.parametrize("query", ["q=care&council_types=county-council&mode=keyword", "q=shared+services&council_types=district-council",
                                   "q=care&target=lessons", ""])
def test_a_page_past_the_last_says_so_and_links_to_the_last(site, query):
    """Not a count of results over an empty page with no way back."""
    total = get(site, f"/-/search.json?{query}").json()["total"]
    pages = -(-total // 20)
    html = get(site, f"/-/search?{query}&page=99").text
    only = f"there are only {pages} pages" if pages > 1 else "there is only 1 page"
    assert f"There is no page 99: {only} of results." in html
    last = re.search(r'<a href="([^"]+)">Go to the last page \(page (\d+)\)</a>', html)
    assert last and int(last.group(2)) == pages
    href = last.group(1).replace("&amp;", "&")
    assert sorted(parse_qsl(href.split("?")[1])) == sorted(parse_qsl(query) + [("page", str(pages))] * (pages > 1))
    followed = get(site, href).text
    assert (pages == 1 or f"Page {pages} of {pages}" in followed) and _results(followed) and "There is no page" not in followed
    assert "There is no page" not in get(site, f"/-/search?{query}&page={pages}").text


def test_browse_with_no_query_lists_every_case_sorted_by_achieved_saving(site):
    data = get(site, "/-/search.json").json()
    cases = get(site, "/kb/cases.json?_size=0").json()["filtered_table_rows_count"]
    assert data["browse"] and data["total"] == cases == len(data["results"])
    savings = [r["achieved_annual_saving_gbp"] for r in data["results"] if r["achieved_annual_saving_gbp"] is not None]
    assert savings == sorted(savings, reverse=True) and len(savings) > 5
    html = get(site, "/-/search").text
    assert "Browse case studies" in html and f"{cases} case studies" in html and "(0)" not in html
    # the same facets, with real counts
    assert re.search(r'data-count="([1-9]\d*)"', html)


def test_sort_by_year_newest_first(site):
    data = get(site, "/-/search.json?q=shared+services&sort=year").json()
    for group in (True, False):
        years = [r["card"]["year_start"] for r in data["results"] if r["close"] is group and r["card"]["year_start"]]
        assert years == sorted(years, reverse=True)


def _facet_counts(html: str) -> dict[tuple[str, str], int]:
    found = re.findall(r'<input type="checkbox" name="(\w+)" value="([^"]+)" form="kb-search"( checked)?>\s*'
                       r'<span>[^<]*<span class="kb-count-n" data-count="(\d+)"', html)
    return {(column, value): int(count) for column, value, checked, count in found if not checked}


@pytest.mark.parametrize("query", ["q=waste+collection+shared+between+districts",
                                   "q=shared+services&council_types=district-council",
                                   "q=commissioning&outcome=succeeded&regions=london", "target=lessons&q=leadership"])
def test_every_facet_count_is_what_ticking_it_shows(site, query):
    """Disjunctive counts: tick each value with a count (in a facet with nothing ticked yet), and the
    page shows exactly that many results."""
    html = get(site, f"/-/search?{query}").text
    ticked = {k for k, _ in parse_qsl(query) if k not in ("q", "target")}
    counts = {k: n for k, n in _facet_counts(html).items() if k[0] not in ticked}
    assert counts
    for (column, value), count in counts.items():
        data = get(site, f"/-/search.json?{query}&{urlencode({column: value})}").json()
        assert data["total"] == count, (query, column, value)


def test_ticking_a_second_value_of_one_facet_widens_the_results(site):
    one = get(site, "/-/search.json?q=shared+services&council_types=district-council").json()["total"]
    two = get(site, "/-/search.json?q=shared+services&council_types=district-council&council_types=unitary-authority").json()
    assert two["total"] > one
    # a ticked facet's other values are still offered
    html = get(site, "/-/search?q=shared+services&council_types=district-council").text
    assert 'name="council_types" value="unitary-authority"' in html


def test_search_filters_never_reload_by_themselves_and_every_control_is_labelled(site):
    html = get(site, "/-/search?q=care&council_types=district-council").text
    assert "onchange" not in html and "Apply filters" in html
    assert '<label for="q">' in html and "<legend>Council type" in html
    assert "Clear all filters" in html and 'class="kb-chip"' in html
    for name in ("min_savings", "max_savings"):
        assert re.search(rf'<label>At (least|most) <input[^>]+name="{name}"', html)


def test_export_is_the_whole_result_set_with_what_a_spreadsheet_needs(site):
    data = get(site, "/-/search.json?q=care").json()
    assert data["total"] > 20 and len(data["results"]) == data["total"]
    exported = get(site, "/-/search.csv?q=care").content
    assert exported.startswith("\ufeff".encode())  # so that Excel reads it as UTF-8, "£" and all
    rows = list(csv.DictReader(io.StringIO(exported.decode("utf-8-sig"))))
    assert len(rows) == data["total"]
    for column in ("url", "organisations", "council_types", "services", "headline_saving", "status", "period"):
        assert column in rows[0], column
    assert rows[0]["url"].endswith("/kb/cases/" + rows[0]["id"]) and rows[0]["organisations"]
    lessons = list(csv.DictReader(io.StringIO(get(site, "/-/search.csv?q=leadership&target=lessons").content.decode("utf-8-sig"))))
    assert lessons and all(r["url"] for r in lessons)


@pytest.mark.parametrize("table, query, offered", [
    ("cases", "", True), ("cases", "?council_types__arraycontains=district-council&_sort=title", True),
    ("lessons", "?services__arraycontains=adult-social-care", True), ("cases", "?_search=care", False),
    ("cases", "?figures_count__gt=2", False), ("figures", "", False)])
def test_a_table_offers_the_same_rows_as_a_csv_for_a_spreadsheet(site, table, query, offered):
    """The table's own CSV holds codes and JSON lists (for programs); the search's names them in
    words. Offered only where it holds the very rows the table lists."""
    page = get(site, f"/kb/{table}{query}").text
    link = re.search(r'<a href="([^"]+)">CSV for a spreadsheet</a>', page)
    assert bool(link) == offered
    if offered:
        rows = list(csv.DictReader(io.StringIO(get(site, unescape(link.group(1))).content.decode("utf-8-sig"))))
        expected = get(site, f"/kb/{table}.json{query}{'&' if query else '?'}_size=max&_shape=objects").json()["rows"]
        assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in expected)
        assert all(not r["council_types"].startswith("[") for r in rows)


@pytest.mark.parametrize("query", ["q=" + "x" * 20_000, "q=care&services=nonsense", "q=care&min_savings=9&max_savings=1",
                                   "q=care&min_savings=lots", "q=care&mode=psychic", 'q="NEAR(*', "q=care&sort=sideways"])
def test_bad_search_input_is_never_a_server_error(site, query):
    for fmt in ("", ".json", ".csv"):
        response = get(site, f"/-/search{fmt}?{query}")
        assert response.status_code in (200, 400), (query, fmt, response.status_code)
        assert "Traceback" not in response.text


# -- compare, charts, errors ---------------------------------------------------------------------------------
def test_compare_three_cases_side_by_side(site):
    ids = ["brighton-hove-reablement", "hertfordshire-social-care-access-model", "west-suffolk-shared-staffing-structure"]
    page = get(site, "/-/compare?" + "&".join(f"id={i}" for i in ids))
    assert page.status_code == 200
    html = page.text
    for i in ids:
        assert f'href="/kb/cases/{i}"' in html
    for row in ("Council", "Service", "Approach", "Years", "Outcome", "Figures", "Lessons", "Achieved yearly saving"):
        assert f'<th scope="row">{row}</th>' in html, row
    assert html.count('data-label="Case 3: ') >= 8 and "£313,000" in html


@pytest.mark.parametrize("query, status", [("id=brighton-hove-reablement", 400), ("", 400),
                                           ("id=a&id=b&id=c&id=d&id=e", 400),
                                           ("id=brighton-hove-reablement&id=brighton-hove-reablment", 404)])
def test_compare_explains_what_is_wrong(site, query, status):
    page = get(site, f"/-/compare?{query}")
    assert page.status_code == status and "kb-error-box" in page.text and "/-/search" in page.text
    if status == 404:  # the case meant is chosen already: not offered again, and never by its raw id
        assert ">brighton-hove-reablement</a>" not in page.text


def test_charts_keep_achieved_and_planned_apart_each_with_a_table(corpus_db, site):
    html = get(site, "/-/charts").text
    assert html.count('<div class="kb-bars" aria-hidden="true">') == 5
    assert html.count("The numbers as a table") == 5
    for title in ("Achieved yearly savings by approach", "Planned or projected yearly savings by approach",
                  "Achieved yearly savings by service", "Planned or projected yearly savings by service",
                  "Cases by the year they started"):
        assert title in html
    # the achieved-by-service table adds each case's largest achieved yearly saving, and nothing planned
    conn = sqlite3.connect(corpus_db)
    expected = conn.execute("""select sum(m) from (select c.id, max(f.amount_gbp) m from figures f join cases c on c.id = f.case_id
                               where f.kind = 'saving' and f.status = 'achieved' and f.per_year = 1
                               and exists (select 1 from json_each(c.services) where value = 'adult-social-care')
                               group by c.id)""").fetchone()[0]
    section = html[html.index('id="achieved-by-services"'):html.index('id="planned-by-services"')]
    row = re.search(r'services=adult-social-care&amp;saving_statuses=achieved">Adult social care \(\d+ cases?(<span[^>]*>[^<]*</span>)?\)</a></th>\s*'
                    r'<td class="kb-num"[^>]*>([^<]+)</td>', section)
    assert row and row.group(2) == f"£{expected:,.0f}"


def test_every_chart_link_opens_as_many_cases_as_it_states(site):
    """A planned row adds up planned and projected savings: its link asks for both, so "1 case" opens
    that case (it opened none when the case's saving was projected)."""
    html = get(site, "/-/charts").text
    # the words after the count are for a screen reader (" with an achieved saving")
    links = re.findall(r'<a href="(/-/search\?[^"]+)">[^<]*\((\d+) cases?(?:<span class="kb-visually-hidden">[^<]*</span>)?\)</a>', html)
    assert len(links) == html.count('href="/-/search?') and links
    assert any("saving_statuses=planned&amp;saving_statuses=projected" in href for href, _ in links)
    for href, stated in links:
        total = get(site, href.replace("&amp;", "&").replace("/-/search?", "/-/search.json?")).json()["total"]
        assert total == int(stated), (href, stated, total)


def test_chart_captions_read_as_english(site):
    html = get(site, "/-/charts").text
    captions = re.findall(r'<figcaption class="kb-note">(.*?)</figcaption>', html, re.S)
    assert captions and all(" a n " not in c and "  " not in c for c in captions), captions
    assert "with an achieved yearly saving" in html and "with a planned or projected yearly saving" in html


@pytest.mark.parametrize("path, status, hint", [
    ("/kb/cases/brighton-hove-reablment", 404, 'href="/kb/cases/brighton-hove-reablement"'),
    ("/kb/casess", 404, 'href="/kb/cases"'),
    ("/kbb/cases", 404, 'href="/kb/cases"'),
    ("/no/such/page", 404, None),
    ("/kb/cases?_facet=servicess", 400, "_facet=services"),
    ("/kb/cases?_sort=yeer_start", 400, "_sort=year_start"),
    ("/kb/terms?_sort=defintion", 400, 'href="/kb/terms?_sort=definition">the \u201cDefinition\u201d column'),
    ("/kb/term", 404, 'href="/kb/terms"'),
])
def test_error_pages_are_in_the_sites_layout_with_a_way_back(site, path, status, hint):
    page = get(site, path)
    assert page.status_code == status
    html = page.text
    assert "kb-error-box" in html and "/-/kb-static/site.css" in html and "Go to the home page" in html
    assert 'action="/-/search"' in html and "Traceback" not in html
    if hint:
        assert "Did you mean" in html and hint in html
    assert "_start column" not in html  # a column is named as its table heads it, not by its name in SQLite
    assert get(site, path.split("?")[0] + ".json" + ("?" + path.split("?")[1] if "?" in path else "")).status_code == status


def test_a_misspelt_column_is_offered_once_under_each_name(site):
    """The terms' vocabulary key and label are both "Vocabulary" to a reader: one suggestion, the nearer."""
    html = get(site, "/kb/terms?_sort=vocabluary").text
    offered = re.findall(r'<a href="([^"]+)">the \u201c([^<]+)\u201d column</a>', html)
    assert offered == [("/kb/terms?_sort=vocabulary", "Vocabulary")]


@pytest.mark.parametrize("path, offered", [("/kb/terms.csv?_sort=labl", "/kb/terms.csv?_sort=label"),
                                           ("/kb/cases.csv?_sort=titel&_size=max", "/kb/cases.csv?_sort=title&amp;_size=max")])
def test_a_misspelt_column_of_an_export_is_offered_as_that_export(site, path, offered):
    """Not "the cases table" for /kb/cases.csv: the same CSV with the column put right."""
    page = get(site, path)
    assert page.status_code == 400
    suggestions = page.text[page.text.index("Did you mean"):page.text.index("Where next")]
    assert re.findall(r'href="([^"]+)"', suggestions) == [offered]
    assert get(site, offered.replace("&amp;", "&")).status_code == 200


@pytest.mark.parametrize("path", ["/no/such/page", "/kbb", "/kbb/cases", "/kbb/nothing/here", "/kb/nothing/here",
                                  "/kb/casess/brighton-hove-reablement", "/kb/terms/sharing-council", "/kb/terms/x",
                                  "/kb/organisations/brighton-hove-reablement", "/serach"])
def test_a_mistyped_address_is_page_not_found_in_plain_words_and_every_suggestion_works(site, path):
    """A reader who mistypes an address hears of no "database" or SQLite message, gets a 404 (not
    a 400), and is never offered a "did you mean" page that is itself missing."""
    page = get(site, path)
    assert page.status_code == 404 and get(site, path + ".json").status_code == 404
    box = re.search(r'<div class="kb-error-box"><p>(.*?)</p>', page.text, re.S).group(1)
    assert "database" not in box and "no such table" not in box
    if "Did you mean" in page.text:
        offered = page.text[page.text.index("Did you mean"):page.text.index("Where next")]
        for href in re.findall(r'href="([^"]+)"', offered):
            assert get(site, href.replace("&amp;", "&")).status_code == 200, (path, href)


@pytest.mark.parametrize("path, offered", [
    # a row of a table keyed by two columns, asked for by one: SQLite's "binding parameter" complaint
    # was shown as a 400
    ("/kb/terms/sharing-council", ["/kb/terms/approaches,sharing-council"]),
    ("/kb/organisations/brighton-hove-reablement", ["/kb/organisations/brighton-hove-reablement,1"]),
    # a mistyped page of the site's own (and not the database's tables, offered only for a name near
    # the database's: "/kbb")
    ("/serach", ["/-/search"]),
    ("/abuot", ["/about"]),
    ("/privcy", ["/privacy"]),
    ("/kbb", ["/kb"]),
])
def test_a_near_miss_is_offered_the_page_it_meant(site, path, offered):
    page = get(site, path)
    assert page.status_code == 404
    suggestions = page.text[page.text.index("Did you mean"):page.text.index("Where next")]
    assert re.findall(r'href="([^"]+)"', suggestions) == offered


@pytest.mark.parametrize("path, trail", [
    ("/", []),
    ("/-/search?q=care&page=2", ["Search"]),
    ("/kb/cases", ["Case studies"]),
    ("/kb/cases/brighton-hove-reablement", ["Case studies", "Brighton and Hove scales up an open-door reablement service for older people"]),
    ("/kb/sources/dclg-2014-good-practice-savings", ["Source reports", "Good Practice in Local Government Savings"]),
    ("/kb/figures/brighton-hove-reablement~231", ["Money figures", "around £313,000"]),
    ("/kb/terms/approaches,agile-working", ["Vocabulary terms", "Agile working"]),
    ("/-/compare?id=brighton-hove-reablement&id=hertfordshire-social-care-access-model", ["Compare cases"]),
    ("/-/charts", ["Savings and cases in charts"]),
    ("/about", ["About this site"]),
    ("/kb/cases/nothing", ["Page not found"]),
])
def test_breadcrumbs_say_where_the_page_sits(site, path, trail):
    """Home, the list the page belongs to (a link), then the page itself (not a link); on the home
    page no trail at all. Never Datasette's lone lowercase "home" on a reader's page."""
    html = get(site, path).text
    nav = html[html.index('<nav class="kb-crumbs"'):]
    nav = nav[:nav.index("</nav>")]
    assert ">home<" not in nav
    ol = re.search(r'<ol class="kb-trail">.*?</ol>', nav, re.S)
    items = re.findall(r"<li( aria-current=\"page\")?>(?:<a href=\"([^\"]+)\">)?([^<]+)", ol.group(0) if ol else "")
    if not trail:
        assert items == []
        return
    assert [label for _, _, label in items] == ["Home"] + trail
    assert [bool(current) for current, _, _ in items] == [False] * len(trail) + [True]
    assert all(href for current, href, _ in items if not current) and not items[-1][1]
    if len(trail) == 2:
        assert get(site, items[1][1]).status_code == 200


# -- the whole site under a sub-path, and from the database alone -----------------------------------------------
PAGES = ["/", "/-/search?q=care&council_types=district-council", "/-/search", "/kb/cases", "/kb/lessons",
         "/kb/figures", "/kb/sources", "/kb/cases/brighton-hove-reablement", "/kb/sources/dclg-2014-good-practice-savings",
         "/-/compare?id=brighton-hove-reablement&id=hertfordshire-social-care-access-model", "/-/charts",
         "/kb/cases?services__arraycontains=adult-socail-care", "/kb/cases/nothing"]


def test_every_link_works_under_a_base_url(corpus_db):
    from datasette.utils import PrefixedUrlString

    prefixed = make_datasette(corpus_db, base_url="/sub/")
    checked = set()
    for path in PAGES:
        html = get(prefixed, PrefixedUrlString("/sub" + path)).text
        for url in parsed(html).urls:
            parts = urlsplit(url)
            if parts.scheme or url.startswith("#") or not url:
                continue
            assert url.startswith("/sub/"), (path, url)
            # the compare form's action needs the ticked cases; static files are Datasette's own
            if url not in checked and len(checked) < 60 and not url.startswith("/sub/-/static") and url != "/sub/-/compare":
                checked.add(url)
                assert get(prefixed, PrefixedUrlString(url.replace("&amp;", "&"))).status_code in (200, 302), (path, url)


def test_the_site_reads_only_the_database(corpus_db, monkeypatch):
    """Pages render with every kb/*.yml unreadable: names, labels, help and the facet catalogue come
    from what the build stored in kb.db."""
    served = make_datasette(corpus_db)
    get(served, "/")  # start-up: plugins and the engine open now
    import builtins

    real_open, real_read = builtins.open, Path.read_text
    kb_folder = str(Path(METADATA).parent / "kb")

    def check(path):
        if str(path).startswith(kb_folder) and str(path).endswith(".yml"):
            raise AssertionError(f"read {path} at request time")

    monkeypatch.setattr(builtins, "open", lambda file, *a, **k: (check(file), real_open(file, *a, **k))[1])
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: (check(self), real_read(self, *a, **k))[1])
    for path in PAGES:
        assert get(served, path).status_code in (200, 404), path


def test_similarity_sql_function(site):
    sql = ("select c.id, kb_cosine(v.vector, (select vector from case_vectors where case_id = 'brighton-hove-reablement')) "
           "as score from case_vectors v join cases c on c.id = v.case_id order by score desc limit 2")
    rows = get(site, "/kb.json?_shape=array&sql=" + sql.replace(" ", "+").replace("=", "%3D")).json()
    assert rows[0]["id"] == "brighton-hove-reablement" and abs(rows[0]["score"] - 1.0) < 1e-5


def test_county_adult_social_care_with_achieved_savings_by_facets_alone(site):
    data = get(site, "/kb/cases.json?council_types__arraycontains=county-council&services__arraycontains=adult-social-care"
                     "&saving_statuses__arraycontains=achieved&_shape=array&_col=id").json()
    assert "hertfordshire-social-care-access-model" in {r["id"] for r in data}


DATA_USER_PAGES = ["/kb", "/kb?sql=select+id,+title+from+cases+limit+3", "/kb/similar_cases",
                   "/kb/chunks?case_id__exact=x"]


@pytest.mark.parametrize("path", DATA_USER_PAGES)
def test_datasette_own_pages_never_skip_a_heading_level_and_name_every_control(site, path):
    """Datasette's pages for data users pass through plugins/kb_accessible.py; if an upgrade changes
    the markup a rule looks for, the control goes back to having no name and this fails."""
    html = get(site, path).text
    main = html[html.index('<main'):html.index('</main>')]
    levels = [int(n) for n in re.findall(r"<h([1-6])\b", main)]
    assert levels and levels[0] == 1
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:])), levels
    for tag in re.findall(r'<(?:select|input type="text")\b[^>]*>', main):
        own_id = re.search(r'id="([^"]+)"', tag)
        assert "aria-label=" in tag or (own_id and f'for="{own_id.group(1)}"' in main), tag
    if "sql-editor" in main:
        assert 'screenReaderLabel: "SQL query"' in main


def test_level_headings_moves_a_skipped_level_up_with_its_closing_tag():
    import importlib.util

    spec = importlib.util.spec_from_file_location("kb_accessible", Path(__file__).parent.parent / "plugins" / "kb_accessible.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    html = "<h1>A</h1><h3 class='x'>B\n</h3><h4>C</h4><h2>D</h2><h3>E</h3><h5>F</h5>"
    assert module.level_headings(html) == "<h1>A</h1><h2 class='x'>B\n</h2><h3>C</h3><h2>D</h2><h3>E</h3><h4>F</h4>"


def test_a_misspelt_search_says_what_it_searched_and_links_to_the_words_as_typed(site):
    page = get(site, "/-/search?q=libary+services&council_types=county-council").text
    assert re.search(r"spelling corrected:\s*<strong>library</strong> for &ldquo;libary&rdquo;\.", page)
    assert "for &ldquo;library services&rdquo;" in page  # the count says what was searched
    typed = re.search(r'<a href="([^"]+)">Search for your words as typed</a>', page)
    assert typed and "spelling=off" in typed.group(1) and "council_types=county-council" in typed.group(1)
    as_typed = get(site, typed.group(1).replace("&amp;", "&")).text
    assert "spelling corrected" not in as_typed and "Did you mean" in as_typed
    assert 'name="spelling" value="off"' in as_typed  # a filter applied next keeps searching as typed
    body = get(site, "/-/search.json?q=libary+services").json()
    assert (body["query"], body["corrected_query"]) == ("libary services", "library services")
    assert body["corrections"] == [{"typed": "libary", "corrected": "library", "shorthand": False}]
    assert get(site, "/-/search.json?q=library+services").json()["corrected_query"] is None


def test_the_search_page_says_shorthand_was_written_out(site):
    page = get(site, "/-/search?q=what+do+cllrs+do+once+services+are+commissioned&target=lessons").text
    assert re.search(r"your shorthand written out:\s*<strong>councillors</strong> for &ldquo;cllrs&rdquo;\.", page)
    assert "spelling corrected" not in page
    both = get(site, "/-/search?q=cllrs+and+libary+closures").text
    assert "the spelling corrected and your shorthand written out:" in both
    body = get(site, "/-/search.json?q=cllrs+and+libary+closures").json()
    assert body["corrections"] == [{"typed": "cllrs", "corrected": "councillors", "shorthand": True},
                                   {"typed": "libary", "corrected": "library", "shorthand": False}]


def test_searching_as_typed_is_kept_by_every_link_that_keeps_the_query(site):
    """Clearing the filters or switching to lessons keeps the words: it keeps searching them as typed."""
    page = get(site, "/-/search?q=libary+services&spelling=off&council_types=county-council").text
    links = [u.replace("&amp;", "&") for u in parsed(page).urls if "/-/search" in u and "q=" in u]
    kept = [u for u in links if "q=libary" in u]
    assert any("target=lessons" in u for u in kept) and any("council_types" not in u for u in kept)
    assert all("spelling=off" in u for u in kept), [u for u in kept if "spelling=off" not in u]
    # and the way of matching the words goes with them to lessons
    lessons = parsed(get(site, "/-/search?q=reablement&mode=keyword").text).urls
    assert any("target=lessons" in u and "mode=keyword" in u for u in lessons)


@pytest.mark.parametrize("query", ["q=shared+services&council_types=district-council&services=environmental-and-regulatory"
                                   "&min_savings=1000&max_savings=90000000&mode=keyword",
                                   "q=leadership&target=lessons&council_types=district-council&regions=east-of-england&mode=semantic"])
def test_switching_between_cases_and_lessons_keeps_every_filter_the_range_and_the_mode(site, query):
    html = get(site, f"/-/search?{query}").text
    switch = re.search(r'<a href="([^"]+)">Search (?:lessons|case studies) instead</a>', html).group(1).replace("&amp;", "&")
    kept = sorted(parse_qsl(urlsplit(switch).query))
    to_lessons = "target=lessons" not in query
    assert kept == sorted([(k, v) for k, v in parse_qsl(query) if k != "target"] + [("target", "lessons")] * to_lessons)
    back = get(site, switch).text
    assert 'name="council_types" value="district-council" form="kb-search" checked' in back
    assert get(site, "/-/search.json?" + urlsplit(switch).query).json()["filters"]["council_types"] == ["district-council"]


def test_a_search_naming_a_council_type_or_region_offers_it_as_a_filter(site):
    # a query whose results mix council types and regions (with the stand-in model, ranking is by words)
    query = "We are a district council in the East of England looking at shared services"
    page = get(site, "/-/search?" + urlencode({"q": query})).text
    offers = dict(re.findall(r'<a href="([^"]+)">((?:Council type|Region): [^<]+)</a>', page.split('class="kb-narrowing"')[1].split("</p>")[0]))
    assert any(v.startswith("Council type: District council (") for v in offers.values())
    assert any(v.startswith("Region: East of England (") for v in offers.values())
    for href, label in offers.items():
        followed = get(site, href.replace("&amp;", "&")).text
        # the count offered is the count the filter gives
        assert re.search(r'<strong>([\d,]+) case stud', followed).group(1) == re.search(r"\((\d+)\)$", label).group(1)
    # once a council type is chosen, it is not offered again; a query naming none gets no offer
    chosen = get(site, "/-/search?" + urlencode({"q": query, "council_types": "london-borough"})).text
    assert "Council type: District council (" not in chosen.split("kb-filters")[0]
    assert 'class="kb-narrowing"' not in get(site, "/-/search?q=reablement").text


def test_a_paragraph_query_is_not_repeated_whole_in_the_count(site):
    query = ("Our contact centre has separate teams for every service and residents are passed from one to "
             "another; we want one front door that resolves most calls first time and moves simple requests online")
    page = get(site, "/-/search?" + urlencode({"q": query})).text
    count = re.search(r'<p class="kb-count" id="kb-count">(.*?)</p>', page, re.S).group(1)
    assert "\u2026&rdquo;" in count and len(re.sub(r"<[^>]+>", "", count)) < 160
    assert f'>{query}</textarea>' in page.replace("&#39;", "'")  # the search box keeps it whole


def test_a_yes_or_no_filter_s_chip_says_yes_or_no_as_its_facet_does(site):
    assert _chips(get(site, "/kb/cases?review_due=1").text) == ["Review due: Yes"]
    assert _chips(get(site, "/kb/cases?review_due=0").text) == ["Review due: No"]
    assert _chips(get(site, "/kb/cases?anonymised=1").text) == ["Anonymised: Yes"]
    # a value that is neither (typed into the address) matches nothing: shown as typed, not as "No"
    assert _chips(get(site, "/kb/cases?review_due=yes").text) == ["Review due: yes"]


@pytest.mark.parametrize("ids", [("shire-hall-hub", "hub", "hub-x-y"), ("shire-hall-hub", "hub-x-y")])
def test_naming_cases_looks_up_each_word_run_whatever_the_ids_look_like(tmp_path, ids):
    """The id lookup works word run by word run (its cost does not grow with the number of cases), both
    when every id has a hyphen and when one has none; a run that only begins with an id is left alone."""
    from kb.site import PLUGINS, plugin_module
    mentions = plugin_module(str(PLUGINS / "kb_mentions.py"), "kb_mentions")
    db = tmp_path / "kb.db"
    conn = sqlite3.connect(db)
    conn.execute("create table cases (id text primary key, title text)")
    conn.executemany("insert into cases values (?, ?)", [(i, f"Title of {i} & co") for i in ids])
    conn.commit()
    conn.close()
    assert mentions.name_cases(db, "see shire-hall-hub, not shire-hall-hub-2 or xshire-hall-hub") == \
        "see Title of shire-hall-hub & co, not shire-hall-hub-2 or xshire-hall-hub"
    assert mentions.name_cases(db, "the hub (hub)") == ("the Title of hub & co (Title of hub & co)" if "hub" in ids else "the hub (hub)")
    split = mentions.name_cases_in_passage(db, "a shire-<mark>hall</mark>-hub and <mark>shire</mark>-hall-hub-2 and <mark>shire-hall</mark>-hub")
    assert split == "a Title of shire-hall-hub &amp; co and <mark>shire</mark>-hall-hub-2 and Title of shire-hall-hub &amp; co"
    # a highlight that opens inside the id and closes after it stays balanced
    assert mentions.name_cases_in_passage(db, "x shire-<mark>hall-hub y</mark>") == "x Title of shire-hall-hub &amp; co<mark> y</mark>"
    linked = mentions.link_cases(db, '<p>hub-x-y and <a href="/a">hub-x-y</a></p>', lambda i: f"/c/{i}")
    assert linked == '<p><a href="/c/hub-x-y">Title of hub-x-y &amp; co</a> and <a href="/a">hub-x-y</a></p>'


def test_a_search_asking_for_savings_over_a_sum_offers_the_savings_range(site):
    query = "savings over a million a year"
    page = get(site, "/-/search?" + urlencode({"q": query})).text
    offer = page.split("Your search asks for savings of at least £1,000,000.")[1].split("</p>")[0]
    href, count = re.search(r'<a href="([^"]+)">Achieved yearly saving at least £1,000,000 \((\d+)\)</a>', offer).groups()
    followed = get(site, href.replace("&amp;", "&")).text
    # the count offered is the count the range gives, and once it is set it is not offered again
    assert re.search(r'<strong>([\d,]+) case stud', followed).group(1) == count
    assert "Your search asks for savings" not in followed
    found = get(site, "/-/search.json?" + urlencode({"q": query})).json()["savings_asked"]
    assert found == {"min_savings": 1000000, "max_savings": None, "count": int(count)}
    # a sum that is no bound, or a bound on income, offers no savings range
    assert "Your search asks for savings" not in get(site, "/-/search?" + urlencode({"q": "savings of £1m"})).text
    assert get(site, "/-/search.json?" + urlencode({"q": "income over £1m"})).json()["savings_asked"] is None
