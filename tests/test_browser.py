"""A council officer's path through the site in headless Chromium, on a desk (1366 px) and on a
phone (390 px): search, tick filters and check each count against the results, clear filters, open
a case, compare three cases, export CSV, an error page. Every page is checked with axe-core (no
serious or critical violation) and for horizontal scrolling, and photographed into tests/output/.

Runs the real `kb serve` on 127.0.0.1 (stand-in-model corpus) and stops it afterwards; one server
and one browser for the module."""
import csv
import json
import re
import shutil
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.live_server import launch_chromium, require_chromium, running_server, tab_until

require_chromium()

from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

OUTPUT = Path(__file__).parent / "output"
WIDTHS = {"desk": 1366, "phone": 390}
SERIOUS = ("serious", "critical")
QUERY = "shared staffing structure between two district councils"


@pytest.fixture(scope="module")
def server(corpus_db):
    with running_server(corpus_db) as (base, _):
        yield base


@pytest.fixture(scope="module")
def browser():
    shutil.rmtree(OUTPUT, ignore_errors=True)  # only this run's pictures and results
    OUTPUT.mkdir()
    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


# A real browser costs seconds a test: the whole module runs in `./run test` (and CI), not in a
# bare `pytest`, which stays under a minute (`pytest -m slow` runs it alone).
slow = pytest.mark.slow
pytestmark = slow


@pytest.fixture(params=["desk", pytest.param("phone", marks=slow)])
def page(browser, request):
    context = browser.new_context(viewport={"width": WIDTHS[request.param], "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.kb_width = request.param
    yield page
    context.close()


_axe = Axe()


def check(page, name: str, full_page: bool = True):
    """Photograph the page, check it with axe-core and for horizontal scrolling; keep the axe results."""
    page.screenshot(path=str(OUTPUT / f"{name}-{page.kb_width}.png"), full_page=full_page)
    violations = _axe.run(page).response["violations"]
    (OUTPUT / f"axe-{name}-{page.kb_width}.json").write_text(json.dumps(
        [{"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"])} for v in violations], indent=1))
    serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"][:3]]) for v in violations if v["impact"] in SERIOUS]
    assert serious == [], f"{name} at {page.kb_width}: {serious}"
    wide = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert wide <= 0, f"{name} scrolls sideways by {wide} px at {page.kb_width}"


def total(page) -> int:
    return int(re.sub(r"\D", "", page.locator("#kb-count strong").inner_text()))


def open_filters(page):
    """On a phone the filters sit behind a button; on a desk they are beside the results."""
    if page.kb_width == "phone":
        toggle = page.locator(".kb-filters-toggle")
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true"
        page.locator("#kb-filters").wait_for(state="visible")


def test_search_from_the_home_page(server, page):
    page.goto(server + "/")
    check(page, "home")
    page.fill("#q", QUERY)
    page.press("#q", "Enter")
    page.wait_for_selector(".kb-result")
    assert total(page) > 0 and page.locator("h2.kb-group-head").first.inner_text() == "Close matches"
    first = page.locator(".kb-result").first
    assert " · " in first.locator(".kb-card").inner_text()  # organisations · council type · region · years ...
    assert "score" not in page.locator("#results").inner_text().lower()
    # the first result within ten tab stops of the search box
    page.focus("#q")
    for stops in range(1, 11):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('.kb-result') !== null"):
            break
    else:
        raise AssertionError("the first result is more than ten tab stops from the search box")
    assert page.evaluate("document.activeElement.textContent") == first.locator("h3 a").inner_text()
    # results get the width of the screen, and the filters do not run on for screens and screens
    assert first.bounding_box()["width"] >= (340 if page.kb_width == "phone" else 600)
    if page.kb_width == "desk":
        assert page.locator("#kb-filters").bounding_box()["height"] < 3000
    check(page, "search")


def test_home_page_sources_fit_the_screen(server, page):
    """The sources table is read without scrolling it sideways: on a phone each report is a card."""
    page.goto(server + "/")
    hidden = page.evaluate("""() => { const w = document.querySelector('.kb-sources-table').closest('.kb-table-wrap');
        return w.scrollWidth - w.clientWidth; }""")
    assert hidden <= 0, f"the sources table hides {hidden} px to the side at {page.kb_width}"


def _unticked_values(page) -> list[tuple[str, str, int]]:
    """Every value with a count in the facets that have nothing ticked yet."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('#kb-filters fieldset[data-facet]'))
        .filter(f => !f.querySelector('input:checked'))
        .flatMap(f => Array.from(f.querySelectorAll('input[type=checkbox]')).map(i =>
            [i.name, i.value, parseInt(i.closest('label').querySelector('[data-count]').dataset.count)]))""")


# Tick each box in turn as a reader would (a click), ask the search what Apply would show with the
# form as it then stands, and untick it again.
TICK_EACH = """async (values) => {
    const form = document.getElementById('kb-search');
    const totals = [];
    for (const [name, value] of values) {
        const box = document.querySelector(`#kb-filters input[name="${name}"][value="${value}"]`);
        box.click();
        const query = new URLSearchParams(new FormData(form)).toString();
        const response = await fetch(form.action.replace(/search$/, 'search.json') + '?' + query);
        totals.push((await response.json()).total);
        box.click();
    }
    return totals;
}"""


def _tick(page, name: str, value: str):
    box = page.locator(f'#kb-filters input[name="{name}"][value="{value}"]')
    if not box.is_visible():
        box.locator("xpath=ancestor::details").locator("summary").click()
    before = page.url
    box.check()
    assert page.url == before  # ticking does not reload
    return box


@pytest.mark.parametrize("start", [f"q={QUERY}&regions=east-of-england",
                                   pytest.param(f"q={QUERY}", marks=slow), pytest.param("q=shared services", marks=slow),
                                   pytest.param("q=commissioning&outcome=succeeded", marks=slow)])
def test_tick_each_filter_value_and_the_count_is_what_it_shows(server, page, start):
    """Disjunctive counts in the browser: tick every value that has a count, in each facet with nothing
    ticked yet, and what Apply would show is that count. The first values go all the way through
    Apply and the results page; the rest are asked of the search as the ticked form stands."""
    url = server + "/-/search?" + urlencode([tuple(kv.split("=", 1)) for kv in start.split("&")])
    page.goto(url)
    values = _unticked_values(page)
    assert len(values) > 10
    if page.kb_width == "desk":
        check(page, "search-with-filters" if "regions" in start else "search-" + re.sub(r"\W+", "-", start)[:30])
    for name, value, count in values[:2]:  # all the way through Apply
        page.goto(url)
        open_filters(page)
        _tick(page, name, value)
        page.locator(".kb-apply button").click()
        page.wait_for_url(re.compile(re.escape(urlencode({name: value}))))
        assert total(page) == count, (start, name, value)
        assert page.locator(f'#kb-filters input[name="{name}"][value="{value}"]').is_checked()
    page.goto(url)
    open_filters(page)
    # every other value: a real click on its box, then what Apply would ask for, then untick
    found = page.evaluate(TICK_EACH, [[name, value] for name, value, _ in values[2:]])
    assert found == [count for _, _, count in values[2:]], start
    if page.kb_width == "phone":
        check(page, "search-filters-open", full_page=False)  # the filters cover the screen


def test_keyboard_ticks_without_reloading_then_applies(server, page):
    page.goto(server + "/-/search?" + urlencode({"q": QUERY}))
    open_filters(page)
    box = page.locator('#kb-filters input[name="council_types"]').first
    box.focus()
    page.keyboard.press("Space")
    assert box.is_checked() and "council_types" not in page.url
    page.locator(".kb-apply button").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile("council_types="))
    assert page.locator(".kb-chip").count() == 1


def test_an_applied_search_has_an_address_without_empty_fields(server, page):
    """After Apply the address read "...&mode=hybrid&min_savings=&max_savings=", messy to cite."""
    page.goto(server + "/-/search?" + urlencode({"q": QUERY}))
    open_filters(page)
    page.locator('#kb-filters input[name="council_types"]').first.check()
    page.locator(".kb-apply button").click()
    page.wait_for_url(re.compile("council_types="))
    assert "min_savings" not in page.url and "max_savings" not in page.url and "mode=" not in page.url, page.url
    # a way of matching other than the default, and a saving typed, stay in it
    page.go_back()
    page.wait_for_load_state()
    assert page.locator('input[name="min_savings"]').is_enabled()  # the page kept by the browser works again
    page.goto(server + "/-/search?" + urlencode({"q": QUERY, "mode": "keyword"}))
    open_filters(page)
    page.fill('input[name="min_savings"]', "£250k")
    page.locator(".kb-apply button").click()
    page.wait_for_url(re.compile("min_savings="))
    assert "mode=keyword" in page.url and "max_savings" not in page.url, page.url


def test_a_source_page_reads_at_a_line_length_as_a_case_page_does(server, page):
    """A report's page ran about 180 characters a line on a desk; a case's is capped."""
    widths = []
    for path in ("/kb/sources/dclg-2014-good-practice-savings", "/kb/cases/brighton-hove-reablement"):
        page.goto(server + path)
        widths.append(page.locator("article").first.bounding_box()["width"])
    assert widths[0] <= widths[1] + 1, widths


@pytest.mark.parametrize("path, heading", [("/kb", ".page-header"), ("/kb?sql=select+1", "h1"),
                                           ("/kb/recent_cases", "h1")])
def test_the_data_pages_heading_bar_is_the_sites_colour_not_a_warning_red(server, page, path, heading):
    page.goto(server + path)
    colour = page.evaluate(f"getComputedStyle(document.querySelector('{heading}')).borderLeftColor")
    button = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--kb-button').trim()")
    resolved = page.evaluate("""(colour) => { const d = document.createElement('div'); d.style.color = colour;
        document.body.append(d); const c = getComputedStyle(d).color; d.remove(); return c; }""", button)
    assert colour != "rgb(255, 0, 0)" and colour == resolved, (path, colour, button)


def test_a_keyboard_skips_from_the_top_of_the_page_to_the_first_result(server, page):
    page.goto(server + "/-/search?" + urlencode({"q": QUERY, "council_types": "district-council"}))
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to results"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    first = page.locator("#kb-results-list li.kb-result h3 a").first
    assert page.evaluate("document.activeElement.textContent") == first.inner_text()


def test_clear_filters(server, page):
    page.goto(server + "/-/search?" + urlencode({"q": QUERY}))
    everything = total(page)
    page.goto(server + "/-/search?" + urlencode({"q": QUERY, "council_types": "district-council",
                                                 "regions": "east-of-england"}))
    assert page.locator(".kb-chip").count() == 2 and total(page) < everything
    page.locator(".kb-chip").first.click()
    page.wait_for_load_state()
    assert page.locator(".kb-chip").count() == 1
    page.locator("#results .kb-clear").click()
    page.wait_for_load_state()
    assert page.locator(".kb-chip").count() == 0 and total(page) == everything
    assert page.input_value("#q") == QUERY


def test_open_a_case(server, page):
    page.goto(server + "/-/search?" + urlencode({"q": "reablement for older people"}))
    link = page.locator(".kb-result h3 a").first
    title = link.inner_text()
    link.click()
    page.wait_for_selector("h2#similar")
    assert page.locator("h1").first.inner_text() == title
    assert page.locator("h2#figures").count() == 1 and page.locator("#cite").count() == 1
    assert page.locator('meta[property="og:title"]').get_attribute("content") == title
    check(page, "case")
    page.emulate_media(media="print")  # the print style: the case, without the site's furniture
    assert page.locator(".kb-actions").is_hidden() and page.locator("#cite").is_visible()
    # links print in black: the brand's link colour, set after the site's stylesheet, won on paper too
    colours = set(page.evaluate("Array.from(document.querySelectorAll('main a')).filter(a => a.checkVisibility()).map(a => getComputedStyle(a).color)"))
    assert colours == {"rgb(0, 0, 0)"}, colours
    # the paper says whose site it came from: the brand's name, dark on white, without the navigation
    brand = page.locator("a.kb-home")
    assert brand.is_visible() and page.locator("nav.kb-nav").is_hidden() and page.locator("nav.kb-crumbs").is_hidden()
    assert brand.evaluate("a => getComputedStyle(a).color") == "rgb(0, 0, 0)"
    assert page.locator("header").evaluate("h => getComputedStyle(h).backgroundColor") in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")
    page.screenshot(path=str(OUTPUT / f"case-print-{page.kb_width}.png"), full_page=True)


def test_enter_on_a_compare_box_ticks_it(server, page):
    """A keyboard reader pressing Enter on a case's Compare box was sent to the compare page with one
    case or none ("Choose at least two cases"): the browser submits a form on Enter in its checkbox."""
    page.goto(server + "/-/search?" + urlencode({"q": QUERY}))
    box = page.locator('.kb-result input[name="id"]').first
    box.focus()
    page.keyboard.press("Enter")
    assert box.is_checked() and "/-/search" in page.url
    assert "1 case ticked" in page.locator("[data-kb-compare-count]").inner_text()
    page.keyboard.press("Enter")
    assert not box.is_checked() and "/-/search" in page.url


def test_compare_three_cases(server, page):
    page.goto(server + "/-/search?" + urlencode({"q": QUERY}))
    boxes = page.locator('.kb-result input[name="id"]')
    ids = [boxes.nth(i).get_attribute("value") for i in range(3)]
    for i in range(3):
        boxes.nth(i).check()
    assert "3 cases ticked" in page.locator("[data-kb-compare-count]").inner_text()
    page.locator("[data-kb-compare-button]").click()
    page.wait_for_url(re.compile("/-/compare"))
    assert page.locator("table.kb-compare thead th").count() == 3
    for case_id in ids:
        assert page.locator(f'table.kb-compare thead a[href$="/kb/cases/{case_id}"]').count() == 1
    check(page, "compare")
    # tags are tags: no list bullet drawn over the tag before it or hanging in the cell's margin
    bullets = page.evaluate("""() => Array.from(document.querySelectorAll('table.kb-compare ul.kb-tag-list li'))
        .map(li => getComputedStyle(li).listStyleType).filter(t => t !== 'none')""")
    assert page.locator("table.kb-compare ul.kb-tag-list li").count() > 3 and bullets == []
    # also from a case page
    page.goto(server + "/kb/cases/brighton-hove-reablement")
    page.locator(".kb-actions a", has_text="Compare").click()
    page.wait_for_url(re.compile("/-/compare"))
    assert page.locator("table.kb-compare thead th").count() == 3


def test_cases_ticked_on_two_pages_are_compared_together(server, page):
    """A reader's review: a case ticked on the first page of results was lost on the second; with one
    tick the button led to an error page; and on a phone the bar, not sticky, was 10,000 px below."""
    page.goto(server + "/-/search?" + urlencode({"q": "shared services"}))
    first = page.locator('.kb-result input[name="id"]').first
    first_id = first.get_attribute("value")
    first.check()
    note = page.locator("[data-kb-compare-count]")
    bar = page.locator(".kb-compare-bar").bounding_box()
    assert 0 <= bar["y"] and bar["y"] + bar["height"] <= page.viewport_size["height"], bar  # in sight, on a phone too
    page.locator("[data-kb-compare-button]").click()  # one is too few: said here, not on an error page
    assert "/-/search" in page.url and "tick at least one more" in note.inner_text()
    assert page.evaluate("document.activeElement.hasAttribute('data-kb-compare-count')")
    page.locator("a[rel=next]").click()
    page.wait_for_load_state()
    assert "1 case ticked (1 on another page)" in note.inner_text()
    second = page.locator('.kb-result input[name="id"]').first
    second_id = second.get_attribute("value")
    second.check()
    assert "2 cases ticked (1 on another page)" in note.inner_text()
    page.locator("[data-kb-compare-button]").click()
    page.wait_for_url(re.compile("/-/compare"))
    for case_id in (first_id, second_id):
        assert page.locator(f'table.kb-compare thead a[href$="/kb/cases/{case_id}"]').count() == 1
    page.go_back()
    page.locator("button", has_text="Untick all").click()
    assert "Tick 2 to 4 cases" in note.inner_text() and not page.locator('.kb-result input[name="id"]:checked').count()


def test_the_search_box_shows_a_paragraph_whole(server, page):
    """It asks for a paragraph, but was one line: on a phone a reader saw "We are a county council and
    de" of the 59 words they had written (a reader's review). Enter still searches; Shift+Enter is a new line."""
    words = ("We are a county council and demand for home care keeps rising while our budget shrinks. "
             "We want to try reablement or prevention so that fewer older people need long-term care. "
             "What have other councils learned about doing that well?")
    page.goto(server + "/-/search?" + urlencode({"q": words}))
    box = page.locator("#q")
    assert box.input_value() == words
    assert box.evaluate("b => b.scrollHeight <= b.clientHeight + 1 && b.scrollWidth <= b.clientWidth + 1"), \
        "the paragraph does not show whole"
    box.evaluate("b => { b.focus(); b.setSelectionRange(b.value.length, b.value.length); }")
    page.keyboard.press("Shift+Enter")
    assert box.input_value().endswith("\n") and "/-/search" in page.url
    box.fill("reablement")
    box.press("Enter")
    page.wait_for_url(re.compile(r"q=reablement"))
    assert page.locator("#q").input_value() == "reablement"


def test_export_csv(server, page):
    page.goto(server + "/-/search?" + urlencode({"q": QUERY, "council_types": "district-council"}))
    shown = total(page)
    with page.expect_download() as download:
        page.locator(".kb-export a", has_text="CSV").click()
    rows = list(csv.DictReader(open(download.value.path(), encoding="utf-8")))
    assert len(rows) == shown
    assert all(r["url"].startswith(server + "/kb/cases/") and "District council" in r["council_types"] for r in rows)
    assert {"organisations", "services", "headline_saving", "status", "period"} <= set(rows[0])


def test_error_page(server, page):
    response = page.goto(server + "/kb/cases/brighton-hove-reablment")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    check(page, "404")
    page.locator("a", has_text="Brighton and Hove scales up").click()
    page.wait_for_selector("h2#similar")
    page.goto(server + "/kb/cases/brighton-hove-reablment")
    page.locator("a", has_text="Go to the home page").click()
    page.wait_for_selector("#q")


@slow
@pytest.mark.parametrize("name, path", [
    ("cases-table", "/kb/cases"), ("lessons", "/kb/lessons"), ("figures", "/kb/figures"),
    ("source", "/kb/sources/dclg-2014-good-practice-savings"), ("charts", "/-/charts"),
    ("browse", "/-/search"), ("misspelt-search", "/-/search?q=libary+closures"), ("misspelt-facet", "/kb/cases?services__arraycontains=adult-socail-care"),
    # abbreviations explained: <abbr> at their first use and the list after the text
    ("lesson", "/kb/lessons/stevenage-east-herts-shared-ict-partnership~23lesson-1"), ("figure", "/kb/figures/barnet-capita-outsourcing~231"),
    ("compare-abbreviations", "/-/compare?id=stevenage-east-herts-shared-ict-partnership&id=croydon-place-enforcement-integration"),
    ("lessons-search", "/-/search?q=TUPE&target=lessons"),
    # a citation's lines of a report's text
    ("text-lines", "/-/text/dclg-2014-good-practice-savings?lines=1674-1768,764-767"),
    # Datasette's own pages for data users
    ("all-tables", "/kb"), ("sql", "/kb?sql=select+id,+title+from+cases+limit+3"), ("internal-table", "/kb/similar_cases?case_id=brighton-hove-reablement")])
def test_reader_pages(server, page, name, path):
    page.goto(server + path)
    check(page, name)
    assert page.evaluate("document.documentElement.scrollHeight") < 20000  # one page of rows, not 200,000 px
    if page.kb_width == "phone" and page.locator(".kb-filters-toggle").count():
        open_filters(page)
        page.screenshot(path=str(OUTPUT / f"{name}-filters-open-{page.kb_width}.png"))
        page.keyboard.press("Escape")
        assert page.locator("#kb-filters").is_hidden()


# -- keyboard, targets and charts on particular screens ------------------------------------------------

def _screen(browser, width, height):
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.set_default_timeout(10_000)
    return page


# What the focused element shows: the centre of each of its boxes (a link wrapped over two lines has
# two) must be the element itself, not a sticky bar drawn over it.
FOCUS_HIDDEN_BY = """() => { const el = document.activeElement;
    for (const r of el.getClientRects()) {
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        if (!hit || !(hit === el || el.contains(hit)))
            return [el.outerHTML.slice(0, 100), hit ? hit.outerHTML.slice(0, 60) : 'off the screen'];
    }
    return null; }"""


def _tab_stops(page, limit=300):
    """Press Tab until focus reaches the footer (or leaves the page); yield after each press."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement === document.body || document.activeElement.closest('footer') !== null"):
            return
        yield


def _focus_out_of_sight(page) -> tuple[int, list]:
    """Tab through the page: how many stops, and where focus went behind something or out of sight."""
    hidden, stops = [], 0
    for _ in _tab_stops(page):
        stops += 1
        where = page.evaluate(FOCUS_HIDDEN_BY)
        if where:
            hidden.append(where)
    return stops, hidden


@pytest.mark.parametrize("width", [1280, 800, 390])  # 800: the compare bar's note wraps to a second line
def test_keyboard_focus_is_never_behind_the_sticky_bars(server, browser, width):
    page = _screen(browser, width, 800)
    page.goto(server + "/-/search?" + urlencode({"q": QUERY}))
    if width == 390:  # the filters over the screen, with their Apply bar
        page.locator(".kb-filters-toggle").click()
    stops, hidden = _focus_out_of_sight(page)
    assert stops > (20 if width == 390 else 60) and hidden == [], hidden
    page.context.close()


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("path", ["/kb/cases", "/kb/sources", "/kb/figures?status=achieved",
                                  "/-/compare?id=barnet-capita-outsourcing&id=brighton-hove-reablement&id=barnet-commissioning-council"])
def test_every_tab_stop_on_a_table_or_comparison_is_seen(server, browser, width, path):
    """On a phone the column headings are hidden (each row is a card), but their sort links, and the
    comparison's "Remove from comparison" links, still took the keyboard's focus, out of sight; a phone
    could neither sort a table nor remove a case from a comparison."""
    page = _screen(browser, width, 800)
    page.goto(server + path)
    stops, hidden = _focus_out_of_sight(page)
    assert stops > 5 and hidden == [], hidden
    if "compare" in path:  # each case can still be removed, and on a phone too
        assert page.locator("a:visible", has_text="Remove from comparison").count() == 3
    else:  # and the table can be sorted
        assert page.locator(".kb-table-sort a:visible, table.kb-table thead a:visible").count() >= 3
    page.context.close()


def test_a_keyboard_skips_from_the_results_to_the_filters_on_a_desk(server, browser):
    page = _screen(browser, 1280, 800)
    page.goto(server + "/-/search?" + urlencode({"q": QUERY}))
    skip = page.locator(".kb-skip-filters")
    assert skip.bounding_box()["x"] < 0  # out of sight until it has focus
    page.focus(".kb-search-bar button")
    if not tab_until(page, "document.activeElement.classList.contains('kb-skip-filters')", 5):
        raise AssertionError("no Skip to filters link within five tab stops of the Search button")
    box = skip.bounding_box()
    assert skip.inner_text() == "Skip to filters" and 0 <= box["x"] and box["y"] + box["height"] <= 800
    assert page.evaluate("document.activeElement.compareDocumentPosition(document.querySelector('.kb-result a')) & Node.DOCUMENT_POSITION_FOLLOWING")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "kb-filters-heading"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#kb-filters') !== null")
    assert page.evaluate("document.activeElement.name") == page.locator("#kb-filters input").first.get_attribute("name")
    page.context.close()
    phone = _screen(browser, 375, 812)  # a phone has its Filters button instead
    phone.goto(server + "/-/search?" + urlencode({"q": QUERY}))
    assert phone.locator(".kb-skip-filters").is_hidden()
    phone.context.close()


def test_the_open_filters_keep_the_keyboard_until_closed_on_a_phone(server, browser):
    page = _screen(browser, 375, 812)
    page.goto(server + "/-/search?" + urlencode({"q": QUERY}))
    toggle = page.locator(".kb-filters-toggle")
    toggle.click()
    assert page.evaluate("document.activeElement.id") == "kb-filters-heading"
    inside = "document.activeElement.closest('#kb-filters') !== null"
    # forwards past the panel's last control and round again, then backwards: never behind the panel
    seen = []
    for _ in range(80):
        page.keyboard.press("Tab")
        seen.append(page.evaluate(f"{inside} ? 'panel' : document.activeElement === document.body ? 'browser' : document.activeElement.outerHTML.slice(0, 80)"))
    assert set(seen) <= {"panel", "browser"} and "browser" in seen, [s for s in seen if s not in ("panel", "browser")]
    for _ in range(10):
        page.keyboard.press("Shift+Tab")
        assert page.evaluate(f"{inside} || document.activeElement === document.body")
    # a screen reader's virtual cursor: the page behind is inert
    assert page.evaluate("document.querySelector('footer').closest('[inert]') !== null")
    page.keyboard.press("Escape")
    assert page.locator("#kb-filters").is_hidden() and toggle.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.classList.contains('kb-filters-toggle')")
    assert page.evaluate("document.querySelectorAll('[inert]').length") == 0
    # Escape with focus past the panel (in the browser's own controls) closes it too
    toggle.click()
    tab_until(page, "document.activeElement === document.body", 80)
    page.keyboard.press("Escape")
    assert page.locator("#kb-filters").is_hidden()
    page.context.close()


# Every target a finger can press that is smaller than 24 by 24 px, save a link inside a sentence
# (WCAG 2.2 exempts those: the line of text sets its height).
SMALL_TARGETS = """() => {
    const inSentence = el => {
        if (el.tagName !== 'A' || getComputedStyle(el).display !== 'inline') return false;
        let block = el.parentElement;
        while (getComputedStyle(block).display === 'inline') block = block.parentElement;
        return block.textContent.trim().length > el.textContent.trim().length;
    };
    return Array.from(document.querySelectorAll('a[href], button, input[type=checkbox], input[type=radio], summary, label'))
        .filter(el => el.checkVisibility({visibilityProperty: true}) && !inSentence(el))
        .map(el => [el, el.getBoundingClientRect()])
        .filter(([el, r]) => r.right > 0 && r.bottom > 0 && r.width > 0 && (r.width < 24 || r.height < 24))
        .map(([el, r]) => `${el.outerHTML.slice(0, 70)} ${Math.round(r.width)}x${Math.round(r.height)}`);
}"""


def test_a_results_compare_box_is_named_for_its_case_as_a_screen_reader_reads_it(server, browser):
    """Its name was "Compare : <title>": the hidden part is laid out as a block, so browsers put a
    space before it."""
    page = _screen(browser, 375, 812)
    page.goto(server + "/-/search?" + urlencode({"q": QUERY}))
    title = page.locator(".kb-result h3, .kb-result h2").first.inner_text().strip()
    snapshot = page.locator(".kb-compare-pick").first.aria_snapshot()
    assert f'checkbox "Compare \u201c{title}\u201d"' in snapshot, snapshot
    page.context.close()


def test_every_target_on_a_phone_is_at_least_24_px(server, browser):
    page = _screen(browser, 375, 812)
    page.goto(server + "/-/search?" + urlencode({"q": QUERY}))
    page.locator(".kb-about summary").click()  # its choice of how to match
    assert page.evaluate(SMALL_TARGETS) == []
    assert page.locator(".kb-compare-pick input").first.bounding_box()["height"] >= 24
    page.locator(".kb-filters-toggle").click()
    page.locator("#kb-filters details.kb-more summary").first.click()
    assert page.evaluate(SMALL_TARGETS) == []
    page.goto(server + "/kb/cases/brighton-hove-reablement")
    assert page.locator("ul.kb-tag-list a").count() > 3 and page.evaluate(SMALL_TARGETS) == []
    page.context.close()


# Every chart label and figure: each line of its text inside the chart and the screen, none cut off.
CLIPPED_CHART_TEXT = """() => {
    const edge = Math.min(document.documentElement.clientWidth, document.querySelector('.kb-bars').getBoundingClientRect().right);
    const clipped = [];
    for (const el of document.querySelectorAll('.kb-bar-label, .kb-bar-value')) {
        const range = document.createRange();
        range.selectNodeContents(el);
        if (Array.from(range.getClientRects()).some(r => r.left < 0 || r.right > edge + 0.5)) clipped.push(el.textContent);
    }
    return clipped;
}"""


@pytest.mark.parametrize("width", [375, 188, 640])  # a phone, the phone at 200% zoom, a 1280 px desk at 200%
def test_chart_labels_are_never_cut_off(server, browser, width):
    page = _screen(browser, width, 800)
    page.goto(server + "/-/charts")
    labels = page.locator(".kb-bar-label").all_inner_texts()
    assert any(len(label) > 50 for label in labels)  # a long label, such as "Changes to organisational ..."
    assert page.evaluate(CLIPPED_CHART_TEXT) == []
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    page.context.close()


# Where each wrapped link of a numbered list has its first line, and the strip left of it where its
# number is drawn (a list's marker is not in the page's boxes: it is found by its pixels).
WRAPPED_LIST_LINKS = """() => Array.from(document.querySelectorAll('main ol > li > a:first-child')).flatMap(link => {
    const range = document.createRange();
    range.selectNodeContents(link);
    const lines = range.getClientRects();
    const li = link.parentElement.getBoundingClientRect();
    return lines.length < 2 ? [] : [{text: link.textContent.slice(0, 60), top: lines[0].top + scrollY, bottom: lines[0].bottom + scrollY,
                                      left: li.left - 24, right: li.left, last: li.bottom + scrollY}];
})"""


def test_a_numbered_list_on_a_phone_numbers_each_link_on_its_first_line(server, browser):
    """On a phone the similar cases' numbers sat beside the last line of each wrapped title (its link an
    inline block, a thumb's target, lined up by its last line), so "2." read as the end of case 1."""
    import io

    from PIL import Image

    page = _screen(browser, 375, 812)
    page.goto(server + "/kb/cases/croydon-place-enforcement-integration")
    links = page.evaluate(WRAPPED_LIST_LINKS)
    assert len(links) >= 2
    shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("L")
    off = []
    for link in links:
        strip = shot.crop((int(link["left"]), int(link["top"]) - 2, int(link["right"]), int(link["last"])))
        pixels = strip.tobytes()
        inked = [y for y in range(strip.height) if min(pixels[y * strip.width:(y + 1) * strip.width]) < 128]
        if not inked or inked[0] + int(link["top"]) - 2 > link["bottom"]:
            off.append(link["text"])
    assert off == []
    page.context.close()
