"""A reader's review of the site on a desk, a phone and a keyboard: the way of matching said where the
results are, money typed as finance officers write it, error pages whose links run, a table's word
search named apart from the site's search, and the compare view's way on from too many ticks."""
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


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def links(html: str) -> dict[str, str]:
    return {text(name): unescape(href) for href, name in re.findall(r'<a [^>]*href="([^"]+)"[^>]*>(.*?)</a>', html, re.S)}


@pytest.mark.parametrize("mode, said", [("keyword", "Matching only by your words."), ("semantic", "Matching only by meaning.")])
def test_a_search_matched_another_way_than_the_default_says_so_beside_the_count(site, mode, said):
    """A shared link with mode=keyword gave word-only results, and only a closed box at the foot of the
    page, 44 tabs down, said so."""
    html = get(site, f"/-/search?q=shared+services+savings&mode={mode}").text
    summary = html[html.index('class="kb-summary-line"'):html.index('class="kb-summary-line"') + 2000]
    line = re.search(r'<p class="kb-mode-line">(.*?)</p>', summary, re.S)
    assert line and text(line.group(1)).startswith(said), summary[:600]
    href = links(line.group(1))["Match by meaning and by words"]
    assert parse_qs(urlsplit(href).query) == {"q": ["shared services savings"]}
    assert get(site, href).status_code == 200
    default = get(site, "/-/search?q=shared+services+savings").text
    assert 'class="kb-mode-line"' not in default
    # the choice itself is named as the line names it
    assert "Only by your words" in default and "Only pages containing the words" not in default


@pytest.mark.parametrize("typed, pounds", [("1m", "£1,000,000"), ("£1.5m", "£1,500,000"), ("1 million", "£1,000,000"),
                                           ("£250k", "£250,000"), ("£2.5 million", "£2,500,000")])
def test_money_typed_as_finance_officers_write_it_filters(site, typed, pounds):
    """"1m" in "At least" gave an error page with the filters gone."""
    from urllib.parse import quote

    page = get(site, f"/-/search?q=care&min_savings={quote(typed)}")
    assert page.status_code == 200, page.text[:300]
    chips = [text(c) for c in re.findall(r'class="kb-chip"[^>]*>(.*?)</a>', page.text, re.S)]
    assert any(f"at least {pounds}" in c for c in chips), chips
    digits = pounds.replace("£", "").replace(",", "")
    assert (get(site, f"/-/search.json?q=care&min_savings={quote(typed)}").json()["total"]
            == get(site, f"/-/search.json?q=care&min_savings={digits}").json()["total"])


@pytest.mark.parametrize("bad", ["mode=zzz", "sort=bogus", "target=people", "services=bogus", "min_savings=lots",
                                 "page=abc&mode=zzz"])
def test_every_link_of_a_search_that_could_not_run_runs(site, bad):
    """On /-/search?page=abc&mode=zzz, "Search lessons instead" led to /-/search?target=lessons&mode=zzz,
    another error."""
    page = get(site, f"/-/search?q=care&{bad}")
    assert page.status_code == 400
    main = page.text[page.text.index("<main"):page.text.index("</main>")]
    for name, href in links(main).items():
        if href.startswith("/-/search"):
            assert get(site, href).status_code == 200, (bad, name, href)
    # the search box searches again without the setting at fault
    form = main[main.index('id="kb-search"'):main.index("</form>")]
    assert "bogus" not in form and "zzz" not in form and "people" not in form, form


@pytest.mark.parametrize("bad, words", [
    ("mode=zzz", "There is no way of matching your words \u201czzz\u201d: the choices are by meaning and by words, "
                 "only by your words and only by meaning."),
    ("sort=bogus", "There is no order \u201cbogus\u201d: the choices are relevance, achieved yearly saving and newest first."),
    ("target=people", "There is no kind of result \u201cpeople\u201d: the choices are case studies and lessons."),
])
def test_a_setting_the_page_cannot_take_is_named_in_the_pages_words(site, bad, words):
    """"Unknown mode 'zzz'; use one of hybrid, keyword, semantic": the codes of the address, not the page."""
    page = get(site, f"/-/search?{bad}")
    box = re.search(r'<div class="kb-error-box" role="alert">(.*?)</div>', page.text, re.S).group(1)
    assert words in text(box), text(box)
    assert re.search(r"<title>Error: Search (case studies|lessons)", page.text), page.text[:300]
    # the JSON keeps the engine's own words, with its codes, for a program
    assert "use one of" in get(site, f"/-/search.json?{bad}").json()["error"] or "use cases or lessons" in \
        get(site, f"/-/search.json?{bad}").json()["error"]


def test_a_tables_word_search_is_named_apart_from_the_sites_search(site):
    """Two boxes were both "Search case studies"; the table's, which finds words as typed, said "0 case
    studies match your filters" for a question though the reader had set no filter."""
    html = get(site, "/kb/cases?_search=how+do+I+get+older+people+home+from+hospital+quicker").text
    assert re.search(r'<label for="kb-table-q">Find case studies with these words</label>', html)
    count = text(re.search(r'<p class="kb-count">(.*?)</p>', html, re.S).group(1))
    assert count == "0 case studies match your words", count
    both = get(site, "/kb/cases?_search=care&council_types__arraycontains=district-council").text
    assert text(re.search(r'<p class="kb-count">(.*?)</p>', both, re.S).group(1)).endswith("match your words and your filters")


def test_too_many_cases_ticked_can_still_be_compared(site):
    ids = ["brighton-hove-reablement", "barnet-capita-outsourcing", "sheffield-housing-benefit-channel-shift",
           "kent-traded-legal-services", "plymouth-cooperative-council"]
    page = get(site, "/-/compare?" + "&".join(f"id={i}" for i in ids))
    assert page.status_code == 400
    href = links(page.text)["Compare the first 4 you chose"]
    assert parse_qs(urlsplit(href).query)["id"] == ids[:4]
    compared = get(site, href)
    assert compared.status_code == 200 and all(f'/kb/cases/{i}"' in compared.text for i in ids[:4])


def test_the_home_pages_case_counts_are_links_a_thumb_can_hit_and_a_reader_can_name(site):
    html = get(site, "/").text
    table = html[html.index('class="kb-sources-table"'):]
    counts = re.findall(r'<td data-label="Cases"><a [^>]*>(.*?)</a>', table, re.S)
    assert counts and all(re.fullmatch(r"\d+ cases? from .+", text(c)) for c in counts), counts
    # what a sighted reader taps: "22" alone was 9 pixels wide on a phone
    shown = [text(re.sub(r'<span class="kb-visually-hidden">.*?</span>', "", c)) for c in counts]
    assert all(re.fullmatch(r"\d+ cases?", c) for c in shown), shown


def test_a_councils_borough_abbreviation_is_explained(site):
    html = get(site, "/kb/cases/essex-library-services-for-slough").text
    assert '<abbr title="Borough Council' in html
    assert "footer" in html and "Licence: MIT for the code; each case under the licence of its source report" in text(html)


# -- a citation's lines, readable on the site where the report's licence allows -----------------------------
def test_a_figures_place_links_to_the_line_that_prints_it(site, corpus_db):
    """"lines 300-306 of the report's text": the text was nowhere on the site, though the DCLG report's
    licence (OGL) allows it, so no reader could check a figure against its source."""
    import sqlite3

    html = get(site, "/kb/cases/brighton-hove-reablement").text
    figures = re.findall(r'As printed: &ldquo;(.*?)&rdquo;.*?<span class="kb-figure-where">Source: .*?, <a href="([^"]+)">',
                         html, re.S)
    assert len(figures) >= 4, figures
    conn = sqlite3.connect(corpus_db)
    for printed, href in figures:
        href = unescape(href)
        page = get(site, href)
        assert page.status_code == 200, href
        cited = [text(t) for t in re.findall(r'<li id="L\d+" value="\d+" class="kb-cited"><mark>(.*?)</mark></li>',
                                               page.text, re.S)]
        # the figure, as printed, is on one of the lines its place names, marked
        first = int(urlsplit(href).fragment[1:])
        assert any(unescape(printed) in line for line in cited + [conn.execute(
            "select text from source_lines where source_id = 'dclg-2014-good-practice-savings' and line in (?, ?)",
            [first, first + 1]).fetchone()[0]]), (printed, href, cited)
        assert f'id="L{first}"' in page.text


def test_a_cases_citation_shows_its_lines_marked_with_their_context(site):
    html = get(site, "/kb/cases/brighton-hove-reablement").text
    href = unescape(links(html)["lines 1674-1768, 764-767 of the report's text (Good Practice in Local Government Savings)"])
    page = get(site, href)
    assert page.status_code == 200
    numbers = [int(n) for n in re.findall(r'<li id="L(\d+)"', page.text)]
    marked = [int(n) for n in re.findall(r'<li id="L(\d+)" value="\d+" class="kb-cited"', page.text)]
    assert marked == list(range(764, 768)) + list(range(1674, 1769))
    assert numbers == list(range(761, 771)) + list(range(1671, 1772))  # three lines around each range
    assert "<title>Lines 1674-1768, 764-767 of the text of Good Practice in Local Government Savings" in page.text
    # a blank line keeps its number but is no empty item to a screen reader (a reader's review)
    blank = re.findall(r'<li id="L\d+"([^>]*)>(?:\s*|<mark>\s*</mark>)</li>', page.text)
    assert blank and all('aria-hidden="true"' in attributes for attributes in blank)
    whole = get(site, links(page.text)["The whole text"])
    assert whole.status_code == 200 and whole.text.count('<li id="L') > 2700


def test_a_report_whose_text_is_not_published_has_no_text_links_and_says_why(site):
    html = get(site, "/kb/cases/plymouth-cooperative-council").text
    assert "/-/text/" not in html
    page = get(site, "/-/text/lga-2016-transformational-models?lines=120-126")
    assert page.status_code == 404 and "its licence does not allow it" in page.text
    assert "Its whole text" not in page.text  # it would be the same page again
    past = get(site, "/-/text/dclg-2014-good-practice-savings?lines=99999").text
    assert get(site, links(past)["Its whole text"]).status_code == 200
    assert get(site, "/-/text/dclg-2014-good-practice-savings?lines=99999").status_code == 404
    assert get(site, "/-/text/no-such-report").status_code == 404
    source = get(site, "/kb/sources/dclg-2014-good-practice-savings").text
    assert links(source)["the report's text, line by line"] == "/-/text/dclg-2014-good-practice-savings"


@pytest.mark.parametrize("path, offered", [
    ("/kb/sources/dclg", "/kb/sources/dclg-2014-good-practice-savings"),   # the start of an id
    ("/kb/cases/brighton", "/kb/cases/brighton-hove-reablement"),
    ("/-/chart", "/-/charts"),                                              # one of the site's own pages
])
def test_a_page_not_found_offers_the_page_meant(site, path, offered):
    page = get(site, path)
    assert page.status_code == 404
    main = page.text[page.text.index("<main"):page.text.index("</main>")]
    assert offered in links(main).values(), links(main)


def test_a_word_that_names_nothing_is_offered_no_database_page(site):
    """"/nope-not-here" was offered "All tables and SQL", a page for data users, as if meant."""
    page = get(site, "/nope-not-here")
    main = page.text[page.text.index("<main"):page.text.index("</main>")]
    assert "All tables and SQL" not in links(main)
    assert "All tables and SQL" in links(get(site, "/kbb").text[get(site, "/kbb").text.index("<main"):])


def test_one_line_of_a_text_is_called_a_line(site):
    page = get(site, "/-/text/dclg-2014-good-practice-savings?lines=1710").text
    assert "<title>Line 1710 of the text of Good Practice in Local Government Savings" in page
    assert "Lines 1710" not in page
