"""What a reader met on the published site and found wrong: each test a page as a council officer
reads it (a download that holds less than it says, a search that cannot be put right, a raw number or
code where words belong, a page that leads nowhere)."""
import asyncio
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from kb.site import make_datasette


@pytest.fixture(scope="module")
def site(corpus_db):
    return make_datasette(corpus_db)


def get(site, path):
    return asyncio.run(site.client.get(path))


def links(html: str) -> dict[str, str]:
    """Each link's text (tags stripped, spaces squeezed) and its address."""
    return {re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", unescape(text))).strip(): unescape(href)
            for href, text in re.findall(r'<a [^>]*href="([^"]*)"[^>]*>(.*?)</a>', html, re.S)}


# -- table pages: "Download all N" holds N --------------------------------------------------------------
@pytest.mark.parametrize("table, query", [("cases", ""), ("lessons", ""), ("figures", ""), ("figures", "?status=achieved"),
                                          ("lessons", "?services__arraycontains=adult-social-care")])
def test_a_tables_download_links_hold_every_row_they_promise(site, table, query):
    """"Download all 75: JSON" gave the first 25 (a page of Datasette's JSON)."""
    page = get(site, f"/kb/{table}{query}").text
    count = int(re.search(r"Download (?:all|these) ([\d,]+):", page).group(1).replace(",", ""))
    offered = links(page)
    # each named in full for a screen reader's list of links ("CSV of all 75 case studies")
    data = get(site, next(v for k, v in offered.items() if k.startswith(f"JSON of {'these' if query else 'all'} {count:,} "))).json()
    assert len(data["rows"]) == count and not data.get("next"), (table, query, len(data["rows"]), count)
    csv_rows = get(site, next(v for k, v in offered.items() if k.startswith("CSV of"))).text.strip().splitlines()
    assert len(csv_rows) >= count + 1


def test_a_table_longer_than_one_json_page_says_its_json_comes_in_pages(corpus_db, tmp_path):
    """Past Datasette's max_returned_rows the JSON cannot hold every row: the link says it is in pages."""
    small = make_datasette(corpus_db)
    small._settings["max_returned_rows"] = small.max_returned_rows = 100
    page = get(small, "/kb/lessons").text
    assert re.search(r"JSON<span[^>]*>[^<]*</span></a> \(in pages of 100, each linking the next\)", page)
    first = get(small, next(v for k, v in links(page).items() if k.startswith("JSON of"))).json()
    assert len(first["rows"]) == 100 and first["next_url"]


# -- a search that cannot run is not a dead end ---------------------------------------------------------
def _error_box(html: str) -> str:
    return re.search(r'<div class="kb-error-box" role="alert">(.*?)</div>', html, re.S).group(1)


@pytest.mark.parametrize("bad, kept", [
    ("min_savings=lots", {"q": ["care"], "council_types": ["district-council"]}),
    ("max_savings=1e9", {"q": ["care"], "council_types": ["district-council"]}),
    ("council_types=bogus", {"q": ["care"], "council_types": ["district-council"]}),
    ("regions=nowhere", {"q": ["care"], "council_types": ["district-council"]}),
    ("source_ids=no-such-report", {"q": ["care"], "council_types": ["district-council"]}),
    ("mode=psychic", {"q": ["care"], "council_types": ["district-council"]}),
    ("sort=sideways", {"q": ["care"], "council_types": ["district-council"]}),
    ("target=people", {"q": ["care"], "council_types": ["district-council"]}),
])
def test_a_search_that_cannot_run_offers_the_same_search_without_the_bad_input(site, bad, kept):
    """From an old or hand-edited address the page said only what was wrong ("unknown mode 'psychic'"),
    with no filters shown to put it right: a reader had to edit the address."""
    page = get(site, f"/-/search?q=care&council_types=district-council&{bad}")
    assert page.status_code == 400
    box = _error_box(page.text)
    way = links(box)
    assert len(way) >= 1, box
    label, href = next((k, v) for k, v in way.items() if k.startswith("Search again without"))
    assert "facet" not in box and "_" not in re.sub(r"<[^>]+>", "", box), box
    again = get(site, href)
    assert again.status_code == 200, (label, href)
    assert parse_qs(urlsplit(href).query) == kept, href


def test_a_misspelt_filter_value_is_offered_as_the_value_it_probably_means(site):
    page = get(site, "/-/search?q=care&council_types=distric")
    box = _error_box(page.text)
    assert "district-council" not in re.sub(r"<[^>]+>", "", box), box
    meant = links(box)["Search with the council type District council instead"]
    assert parse_qs(urlsplit(meant).query) == {"q": ["care"], "council_types": ["district-council"]}
    assert get(site, meant).status_code == 200


def test_an_amount_typed_in_digits_reads_as_money_in_the_filters_in_force(site):
    """The chip said "Achieved yearly saving at least 1000000"."""
    page = get(site, "/-/search?min_savings=1000000&max_savings=2500000.5").text
    chips = [re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in re.findall(r'class="kb-chip"[^>]*>(.*?)</a>', page, re.S)]
    assert any("at least £1,000,000" in c for c in chips) and any("at most £2,500,000.50" in c for c in chips), chips


# -- the headline saving says each thing once ---------------------------------------------------------
def _figure(**kw):
    return {"kind": "saving", "amount": 2_000_000, "status": "achieved", "per_year": True, "period": "per year", **kw}


@pytest.mark.parametrize("figure, headline", [
    (_figure(period="per year"), "£2 million a year, achieved"),
    (_figure(period="per annum"), "£2 million a year, achieved"),
    (_figure(period="annually"), "£2 million a year, achieved"),
    (_figure(period="2013/14 (£ millions, financial details table)"), "£2 million a year, achieved (2013/14)"),
    (_figure(period="per annum since 2011"), "£2 million a year, achieved (per annum since 2011)"),
    (_figure(period="not stated", per_year=False, amount=2_600_000), "£2.6 million, achieved (period not stated)"),
    (_figure(period="over ten years", per_year=False, status="planned"), "£2 million over ten years, planned"),
    # the word before the amount stays with it: the Tri-borough's "just under £10m" was headlined "£10 million"
    (_figure(text="just under £2m", period="first two years of operation", per_year=False),
     "just under £2 million first two years of operation, achieved"),
    (_figure(text="at least £2 million per annum", status="projected"), "at least £2 million a year, projected"),
    (_figure(text="£2 million over budget"), "£2 million a year, achieved"),  # "over" after the amount is no qualifier
    # every word before it: Stevenage's "approximately up to £2million" was headlined "up to £2 million"
    (_figure(text="approximately up to £2million", period="not stated", per_year=False, status="projected"),
     "approximately up to £2 million, projected (period not stated)"),
])
def test_the_headline_saving_says_its_period_once_and_in_words(figure, headline):
    """Headlines read "£2 million a year, achieved (per year)" and "£2.6 million not stated, achieved"."""
    from ingest.build import headline_saving
    assert headline_saving([figure]) == headline


def test_no_headline_in_the_corpus_repeats_a_year_or_calls_its_period_not_stated(corpus_db):
    import sqlite3
    headlines = [h for (h,) in sqlite3.connect(corpus_db).execute("select headline_saving from cases where headline_saving is not null")]
    assert headlines
    for h in headlines:
        assert not re.search(r"a year, \w+ \((?:a|per|each) (?:year|annum)\)", h) and " not stated," not in h, h


# -- row pages lead somewhere ---------------------------------------------------------------------------
@pytest.mark.parametrize("term, column", [("approaches,demand-management", "approaches"),
                                          ("services,adult-social-care", "services"),
                                          ("council_types,district-council", "council_types"),
                                          ("outcomes,failed", "outcome")])
def test_a_terms_page_leads_to_the_cases_and_lessons_it_tags(site, term, column):
    """The page of "Demand management" gave a definition and its everyday words, and nothing to follow."""
    page = get(site, f"/kb/terms/{term}")
    assert page.status_code == 200
    offered = links(page.text)
    cases = next(k for k in offered if re.fullmatch(r"[\d,]+ case stud(y|ies) with the .+", k))
    lessons = next(k for k in offered if re.fullmatch(r"[\d,]+ lessons? from case studies with the .+", k))
    for label in (cases, lessons):
        n = int(label.split()[0].replace(",", ""))
        data = get(site, offered[label].replace("/-/search?", "/-/search.json?")).json()
        assert data["total"] == n and list(data["filters"]) == [column], (label, data["total"])


def test_row_pages_name_what_they_show_not_a_row(site):
    for path, noun in (("/kb/lessons/brighton-hove-reablement~23lesson-1", "lesson or finding"),
                       ("/kb/figures/brighton-hove-reablement~231", "money figure"), ("/kb/terms/approaches,insourcing", "term")):
        page = get(site, path).text
        assert "This row as" not in page and f"This {noun} as <a" in page, path


# -- compare ---------------------------------------------------------------------------------------------
def test_a_misspelt_case_in_a_comparison_is_offered_by_title_as_the_comparison_put_right(site):
    """It offered the raw id ("brighton-hove-reablement"), linking away to that one case."""
    page = get(site, "/-/compare?id=brighton-hove-reablment&id=west-suffolk-shared-staffing-structure")
    assert page.status_code == 404
    offered = links(page.text)
    label = "Brighton and Hove scales up an open-door reablement service for older people"
    assert label in offered and "brighton-hove-reablement" not in offered
    fixed = offered[label]
    assert parse_qs(urlsplit(fixed).query) == {"id": ["brighton-hove-reablement", "west-suffolk-shared-staffing-structure"]}
    assert get(site, fixed).status_code == 200


def test_a_comparison_of_one_case_offers_it_with_its_most_similar(site):
    page = get(site, "/-/compare?id=brighton-hove-reablement")
    assert page.status_code == 400
    offer = next(v for k, v in links(page.text).items() if k.startswith("Compare \u201cBrighton and Hove"))
    ids = parse_qs(urlsplit(offer).query)["id"]
    assert ids[0] == "brighton-hove-reablement" and len(ids) == 3
    assert get(site, offer).status_code == 200


def test_a_source_page_writes_its_status_as_a_label(site):
    page = get(site, "/kb/sources/london-councils-2020-transformation-savings").text
    assert re.search(r"<dt>Status</dt><dd>Draft</dd>", page)


def test_a_table_filter_that_cannot_narrow_is_left_out(site):
    """The cases table offered "Review due: No (75)", a filter every case passes."""
    page = get(site, "/kb/cases").text
    total = int(re.search(r'<p class="kb-count"><strong>([\d,]+)</strong>', page).group(1).replace(",", ""))
    panel = page[page.index('id="kb-filters"'):]
    for section in re.findall(r'<section class="kb-facet".*?</section>', panel, re.S):
        counts = [int(n.replace(",", "")) for n in re.findall(r'<span class="kb-count-n">([\d,]+)</span>', section)]
        assert len(counts) > 1 or counts[0] < total, re.search(r"<h3[^>]*>(.*?)</h3>", section).group(1)
    assert "<h3" in panel
    # in force, it stays, so that it can be taken off
    assert "Review due" in get(site, "/kb/cases?review_due=0").text.split('id="kb-filters"')[1]


def test_on_a_phone_each_answer_of_a_comparison_names_its_case(site):
    """On a phone every answer sat under "Case 1" or "Case 2" alone, screens below the titles."""
    html = get(site, "/-/compare?id=brighton-hove-reablement&id=london-pilot-adult-social-care-turnaround"
                     "&id=west-suffolk-shared-staffing-structure").text
    labels = set(re.findall(r'<td data-label="([^"]*)"', html))
    assert labels == {"Case 1: Brighton and Hove City Council", "Case 2: Anonymised London pilot borough",
                      "Case 3: Forest Heath District Council and 1 more"}, labels


# -- a saving printed as a range reads as printed -------------------------------------------------------
def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


@pytest.mark.parametrize("text, printed", [("£2-3 million per year", "£2-3 million"), ("2-3% efficiency gain", "2-3%"),
                                           ("between £10 million and £15 million", "between £10 million and £15 million"),
                                           ("£3 million to £5 million", "£3 million to £5 million"),
                                           ("£2 million", None), ("0.841", None), ("£1m and £2m from two projects", None)])
def test_a_figures_printed_range_is_read_as_printed(text, printed):
    from kb.amounts import printed_range
    assert printed_range(text) == printed


def test_a_headline_saving_printed_as_a_range_reads_as_the_range():
    """Adur and Worthing's "£2-3 million per year" was headlined "£2 million a year, achieved"."""
    from ingest.build import headline_saving
    assert headline_saving([_figure(text="£2-3 million per year")]) == "£2-3 million a year, achieved"
    assert headline_saving([_figure(text="between £10 million and £15 million", per_year=False, status="projected",
                                    period="by 2015/16")]) == "between £10 million and £15 million by 2015/16, projected"


def _range_figures(corpus_db):
    import sqlite3
    from kb.amounts import printed_range
    rows = sqlite3.connect(corpus_db).execute("select id, case_id, text, amount_gbp from figures").fetchall()
    found = [(i, c, printed_range(t), a) for i, c, t, a in rows if printed_range(t)]
    assert found
    return found


def test_every_figure_printed_as_a_range_reads_as_the_range_wherever_its_amount_is_shown(site, corpus_db):
    from kb.amounts import printed_range
    for figure_id, case_id, printed, amount in _range_figures(corpus_db):
        page = get(site, f"/kb/cases/{case_id}").text
        listed = re.search(r'<ul class="kb-figures">(.*?)</ul>', page, re.S).group(1)
        assert f'<span class="kb-figure-amount">{printed}</span>' in unescape(listed), (case_id, printed)
        table = _text(get(site, f"/kb/figures?case_id={case_id}").text)
        if amount is not None:
            assert f"{printed} (counted as £{amount:,.0f})" in table, (figure_id, printed)
    # the headline, the search card and the compare view, for each case headlined by a range
    headlined = [(i, h) for i, h in __import__("sqlite3").connect(corpus_db).execute(
        "select id, headline_saving from cases where headline_saving is not null")]
    by_range = [(i, h) for i, h in headlined if printed_range(h)]
    assert any(i == "adur-worthing-shared-services-single-officer-structure" and h.startswith("£2-3 million a year")
               for i, h in by_range), by_range
    for case_id, headline in by_range:
        page = _text(get(site, f"/kb/cases/{case_id}").text)
        assert f"Headline saving: {headline}" in page
        title = re.search(r"<h1>(.*?)</h1>", get(site, f"/kb/cases/{case_id}").text).group(1)
        cards = _text(get(site, f"/-/search?q={title}").text)
        assert headline in cards, (case_id, headline)
        compare = _text(get(site, f"/-/compare?id={case_id}&id=brighton-hove-reablement").text)
        assert headline in compare


def test_an_achieved_yearly_saving_printed_as_a_range_says_so_and_the_lower_end_it_counts_as(site):
    page = _text(get(site, "/kb/cases/adur-worthing-shared-services-single-officer-structure").text)
    # one aside, not two in a row: "(counted as ...) (the largest yearly saving ...)"
    assert ("Achieved yearly saving £2-3 million a year (the largest yearly saving the sources report as achieved; "
            "counted as £2,000,000, the lower end)") in page, page[:3000]
    assert ") (" not in page
    compare = _text(get(site, "/-/compare?id=adur-worthing-shared-services-single-officer-structure"
                               "&id=brighton-hove-reablement").text)
    assert "£2-3 million a year (counted as £2,000,000, the lower end)" in compare
    table = _text(get(site, "/kb/cases?id=adur-worthing-shared-services-single-officer-structure").text)
    assert "£2-3 million (counted as £2,000,000)" in table


def test_the_savings_filter_says_a_range_counts_at_its_lower_end(site):
    page = _text(get(site, "/-/search?q=care").text)
    assert re.search(r"printed as a range [^.]* counts at its lower end", page)


# -- a figure that is not a saving is not labelled with a saving's status --------------------------------
def test_a_status_reads_in_the_words_of_its_figures_kind():
    from kb.vocabulary import load_vocabularies
    statuses = load_vocabularies()["figure_statuses"]
    assert statuses.status_label("achieved", "saving") == "Achieved"
    assert statuses.status_label("achieved", "cost") == "Actual"
    assert statuses.status_label("projected", "investment") == "Forecast"
    assert all(t.other_kinds_label for t in statuses.terms.values()), "every figure status says how it reads on a cost"


def test_no_cost_budget_investment_or_income_figure_is_labelled_achieved_or_projected(site, corpus_db):
    """Brighton and Hove's "£52,600,000 cost or budget a year, Achieved" read as if a cost were a success."""
    import sqlite3
    from kb.vocabulary import load_vocabularies
    statuses = load_vocabularies()["figure_statuses"]
    rows = sqlite3.connect(corpus_db).execute("select id, case_id, kind, status from figures where kind != 'saving'").fetchall()
    assert {k for _, _, k, _ in rows} >= {"cost", "investment", "income"}
    for case_id in {c for _, c, _, _ in rows}:
        ours = [(i, k, s) for i, c, k, s in rows if c == case_id]
        page = get(site, f"/kb/cases/{case_id}").text
        items = re.findall(r"<li class=\"[^\"]*\">\s*<span class=\"kb-figure-amount\">.*?</li>", page, re.S)
        for item in items:
            status = re.search(r'<span class="kb-status ([^"]+)">([^<]+)</span>', item)
            words = _text(item)
            if " saving" not in words.split(" Period:")[0]:
                assert status.group(1) == "kb-status-other", words
                assert status.group(2) in {t.other_kinds_label for t in statuses.terms.values()}, words
                assert 'class="kb-achieved"' not in item
        compare = get(site, f"/-/compare?id={case_id}&id=brighton-hove-reablement").text
        for kind in {k for _, k, _ in ours}:
            label = load_vocabularies()["figure_kinds"].label_of(kind).lower()
            for shown in re.findall(rf"{re.escape(label)}(?: a year)?, <span class=\"kb-status [^\"]+\">([^<]+)</span>", compare):
                assert shown in {"Actual", "Planned", "Forecast"}, (case_id, kind, shown)
    table = get(site, "/kb/figures?kind=cost&status=achieved").text
    cells = re.findall(r'<td data-label="Status">(.*?)</td>', table, re.S)
    assert cells and {c.strip() for c in cells} == {"Actual"}, cells
    assert "Actual" in _text(get(site, "/kb/figures/brighton-hove-reablement~235").text)


# -- no bracket inside a bracket --------------------------------------------------------------------------
def _nested_brackets(text: str) -> list[str]:
    """Each passage where a bracket opens inside another (a quotation as printed aside)."""
    text = re.sub(r"<(script|style)\b.*?</\1>", "", text, flags=re.S)
    text = _text(text)
    text = re.sub(r"\u201c[^\u201d]*\u201d", "\u201c\u201d", text)
    found, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
            if depth == 1:
                start = i
            elif depth == 2:
                found.append(text[max(0, start - 40):i + 60])
        elif ch == ")" and depth:
            depth -= 1
    return found


def test_no_figure_period_or_comparison_nests_a_bracket_in_a_bracket(site, corpus_db):
    """Compare read "(cumulative to 2013/14 (£ millions, financial details table))"."""
    import sqlite3
    ids = [i for (i,) in sqlite3.connect(corpus_db).execute("select id from cases order by id")]
    assert _nested_brackets("a (b (c)) d") and not _nested_brackets("a (b) (c) \u201c(x (y))\u201d")
    for case_id in ids:
        page = get(site, f"/kb/cases/{case_id}").text
        page = re.sub(r'<div class="kb-body">.*?</div>', "", page, flags=re.S)  # the case's own prose
        assert not _nested_brackets(page), (case_id, _nested_brackets(page))
    for i in range(0, len(ids), 3):
        query = "&".join(f"id={c}" for c in ids[i:i + 3])
        page = get(site, f"/-/compare?{query}")
        if page.status_code == 200:
            assert not _nested_brackets(page.text), (query, _nested_brackets(page.text))


# -- a report's finding says whose report it is --------------------------------------------------------
@pytest.mark.parametrize("source_id", ["stevenage-2021-transformation-report", "dclg-2014-good-practice-savings"])
def test_a_reports_finding_in_lesson_results_names_the_publisher_and_year(site, corpus_db, source_id):
    """A finding read "From Transformation": whose transformation, and when?"""
    import sqlite3
    title, publisher, date = sqlite3.connect(corpus_db).execute(
        "select title, publisher, date from sources where id = ?", [source_id]).fetchone()
    page = get(site, f"/-/search?q=transformation+savings&target=lessons&source_ids={source_id}").text
    # as the card shows (a screen reader also hears which finding the link leads to, hidden here)
    cards = [_text(re.sub(r'<span class="kb-visually-hidden">.*?</span>', "", c))
             for c in re.findall(r'<p class="kb-card">From (.*?)</p>', page, re.S) if f"/kb/sources/{source_id}" in c]
    assert cards, page[:2000]
    for card in cards:
        # and the section it comes from, which the passage no longer opens with (a later reader's review)
        assert re.match(rf"{re.escape(title)}, a report by {re.escape(publisher)}, {date[:4]}, under “[^”]+”$",
                        re.sub(r"\s+,", ",", card).strip()), card
    csv_text = get(site, f"/-/search.csv?q=transformation+savings&target=lessons&source_ids={source_id}").text
    assert f"{publisher}, {date[:4]}" in csv_text


# -- a query naming a council type and a region is offered both at once -------------------------------
def test_a_search_naming_a_council_type_and_a_region_offers_both_filters_in_one_link(site):
    """"district council in the South East" offered each filter on its own, never the two together."""
    q = "shared services for a district council in the South East"
    page = get(site, f"/-/search?q={q.replace(' ', '+')}").text
    line = re.search(r'<p class="kb-narrowing">(.*?)</p>', page, re.S).group(1)
    offered = links(line)
    both = next(k for k in offered if k.startswith("Both: District council and South East"))
    count = int(re.search(r"\(([\d,]+)\)$", both).group(1).replace(",", ""))
    query = parse_qs(urlsplit(offered[both]).query)
    assert query["council_types"] == ["district-council"] and query["regions"] == ["south-east"], query
    data = get(site, offered[both].replace("/-/search?", "/-/search.json?")).json()
    assert data["total"] == count > 0
    alone = [int(re.search(r"\(([\d,]+)\)$", k).group(1)) for k in offered if not k.startswith("Both")]
    assert len(alone) == 2 and count <= min(alone)


def test_two_values_of_one_facet_are_offered_together_as_either_not_both(site):
    """A paragraph naming two council types was offered "Both: District council and Town or parish
    council (15)": ticked together they show the cases of either, as the count said (a reader's review)."""
    q = "we are a district council working with a town council on shared services"
    page = get(site, f"/-/search?q={q.replace(' ', '+')}").text
    line = re.search(r'<p class="kb-narrowing">(.*?)</p>', page, re.S).group(1)
    offered = links(line)
    assert not [k for k in offered if k.startswith(("Both", "All"))], offered
    either = next(k for k in offered if k.startswith("Either: District council or Town or parish council"))
    query = parse_qs(urlsplit(offered[either]).query)
    assert sorted(query["council_types"]) == ["district-council", "town-or-parish-council"], query
    count = int(re.search(r"\(([\d,]+)\)$", either).group(1).replace(",", ""))
    alone = [int(re.search(r"\(([\d,]+)\)$", k).group(1)) for k in offered if not k.startswith("Either")]
    assert count >= max(alone)


@pytest.mark.parametrize("target", ["cases", "lessons"])
def test_no_column_of_a_search_s_csv_is_empty_in_every_row(site, target):
    """A case search's CSV had a case_title column, a lesson's case, empty in every row (a reader's review)."""
    import csv
    import io

    text = get(site, f"/-/search.csv?q=&target={target}" if target == "lessons" else "/-/search.csv").text
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) > 20
    assert [c for c in rows[0] if not any(r[c] for r in rows)] == []


def test_the_cases_table_offers_no_sort_by_the_headline_saving_in_words(site):
    """Sorted as letters, "£75 million 2019/20 to 2022/23" came between "£750,000" and "£6 million"
    (a reader's review); the achieved yearly saving beside it sorts by amount."""
    page = get(site, "/kb/cases").text
    offered = re.search(r'<p class="kb-table-sort">(.*?)</p>', page, re.S).group(1)
    assert "Headline saving" not in offered and "Achieved yearly saving" in offered


def test_a_finding_in_lesson_results_reads_without_its_section_heading(site):
    """"5. The role of technology - Do local authorities perceive technology as a force for change?: Fewer
    councils ..." read as one sentence glued to the heading before it (a reader's review)."""
    data = get(site, "/-/search.json?q=what+goes+wrong+when+change+is+led+by+the+IT+system&target=lessons").json()
    findings = [r for r in data["results"] if r["source_id"]]
    assert findings
    for r in findings:
        assert r["card"]["theme"] and not r["passage"].startswith(r["card"]["theme"]), r["passage"][:120]


def test_lessons_found_by_the_words_without_a_close_match_are_not_told_off(site):
    """A lesson is flagged close only on strong evidence, so "Nothing here is a close match ... try other
    words" stood above lessons that answered the question (a reader's review)."""
    page = get(site, "/-/search?q=getting+frontline+staff+to+take+ownership+of+the+savings&target=lessons").text
    notice = _text(re.search(r'<div class="kb-notice"><p>(.*?)</p>', page, re.S).group(1))
    assert notice.startswith("No lesson stands out as a close match") and "nearest first" in notice, notice
    assert "Nothing here" not in notice


# -- text written for contributors stays out of readers' pages ----------------------------------------
CONTRIBUTOR_WORDS = [r"`", r"\b(?:LC|LGA|DCLG) 20\d\d\b", r"\bseed text\b", r"\bnever link\b",
                     r"\b(?:amount|percent|per_year)\b (?:records|is the lower)", r"\b(?:LGA|DCLG) (?:approach|model|attribute)\)"]


def test_no_text_shown_to_readers_speaks_to_contributors(site, corpus_db):
    """A source's "Notes on the text" said "never link them"; definitions said "(LC 2020 savings category)",
    a contributor's shorthand for a report; figure notes named the field `percent`."""
    import sqlite3
    conn = sqlite3.connect(corpus_db)
    shown = [("source", i, n) for i, n in conn.execute("select id, note from sources where note is not null")]
    shown += [("figure", i, n) for i, n in conn.execute("select id, note from figures where note is not null")]
    shown += [("term", f"{v}/{s}", t) for v, s, d, fam in conn.execute("select vocabulary, slug, definition, family from terms")
              for t in (d, fam) if t]
    from kb.vocabulary import load_vocabularies
    shown += [("vocabulary", v.key, v.description) for v in load_vocabularies().values()]
    assert len(shown) > 300
    bad = [(kind, where, text) for kind, where, text in shown
           if any(re.search(p, text) for p in CONTRIBUTOR_WORDS)]
    assert not bad, bad
    page = _text(get(site, "/kb/sources/london-councils-2020-transformation-savings").text)
    assert "Notes on the text" in page and "never link" not in page


def test_a_database_built_before_statuses_had_labels_for_other_kinds_reads_as_before(corpus_db, tmp_path):
    import shutil
    import sqlite3
    from kb.vocabulary import stored_vocabularies
    old = tmp_path / "old.db"
    shutil.copy(corpus_db, old)
    conn = sqlite3.connect(old)
    conn.execute("alter table terms drop column other_kinds_label")
    statuses = stored_vocabularies(conn)["figure_statuses"]
    assert statuses.status_label("achieved", "cost") == "Achieved"
