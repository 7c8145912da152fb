"""A sixth reading in headless Chromium, of the pages a data user reaches: Datasette's own tables with
facets and filters, its row and SQL pages, the build's tables, at 1280 and 375 px, with axe-core and the
keyboard alone. Runs the real `kb serve` (stand-in-model corpus), with the fifth review's fixtures."""
import pytest

from tests.live_server import require_chromium

require_chromium()

from tests.test_browser import _focus_out_of_sight  # noqa: E402
from tests.test_browser_review5 import browser, read_pages, screen, server  # noqa: E402,F401 (the same fixtures)

pytestmark = pytest.mark.slow

FACETED = "/kb/case_sources?_facet=source_id&_facet=case_id"
CHOSEN = "/kb/case_sources?_facet=source_id&source_id=dclg-2014-good-practice-savings"
PAGES = [FACETED, CHOSEN, "/kb/case_sources?source_id=nope", "/kb/similar_cases?_facet=case_id",
         "/kb/similar_cases/barnet-capita-outsourcing,sheffield-housing-benefit-channel-shift", "/kb?_show_hidden=1",
         "/kb/chunks", "/kb/vector_blocks", "/kb/cases_fts_idx", "/kb/cases_fts_data/1", "/kb?sql=select+id+from+cases+where+0",
         "/kb/organisations", "/kb/organisations?name=Croydon+LBC", "/kb/sources", "/kb/figures"]


@pytest.mark.parametrize("width", [1280, 375])
def test_no_data_users_page_has_any_axe_violation_or_scrolls_sideways(server, browser, width):
    """A facet's cross, a link in a line of text, was not underlined (axe: link-in-text-block); the
    build's wide tables (chunks) must scroll in their own box, never the page."""
    page = screen(browser, width)
    found, wide = read_pages(page, server, PAGES)
    page.context.close()
    assert (found, wide) == ({}, {})


# Where a facet value's link breaks between lines, the letter before the break and the one after it:
# both letters means a word was cut in two.
BROKEN_WORDS = """() => Array.from(document.querySelectorAll('.facet-info li a')).flatMap(a => {
    const node = a.firstChild; if (!node || node.nodeType !== 3) return [];
    const text = node.textContent, out = []; let top = null;
    for (let i = 0; i < text.length; i++) {
        const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 1);
        const rect = r.getBoundingClientRect(); if (!rect.width) continue;
        if (top !== null && rect.top > top + 2 && /\\w/.test(text[i]) && /\\w/.test(text[i - 1]))
            out.push(text.slice(Math.max(0, i - 8), i) + '|' + text.slice(i, i + 8));
        top = rect.top;
    }
    return out; })"""


@pytest.mark.parametrize("width", [1280, 375])
def test_a_facets_values_wrap_between_words(server, browser, width):
    """The reports' titles in a facet read "innovati / on", "approac / hes": Datasette breaks a facet's
    values at any letter."""
    page = screen(browser, width)
    page.goto(server + FACETED)
    assert page.locator(".facet-info li a").count() > 5
    assert page.evaluate(BROKEN_WORDS) == []
    page.context.close()


@pytest.mark.parametrize("width", [1280, 375])
def test_a_facets_crosses_are_reached_seen_and_named_from_the_keyboard(server, browser, width):
    """Each tab stop of a faceted table is on the screen, and the crosses that take a facet or a chosen
    value away say so to a screen reader."""
    page = screen(browser, width)
    page.goto(server + CHOSEN)
    stops, hidden = _focus_out_of_sight(page)
    assert stops > 10 and hidden == [], hidden
    names = page.evaluate("""Array.from(document.querySelectorAll('.facet-info a.cross'), a => a.textContent.trim())""")
    assert names == ["\u2716Hide the counts of source_id",
                     "\u2716Remove filter: Good Practice in Local Government Savings"], names
    page.context.close()


def test_a_sort_link_says_it_sorts_but_shows_its_columns_name(server, browser):
    """The reports' "Cases" sort link and the menu's "Cases" were one name in a list of links. As the
    browser names them now: the menu's alone is "Cases"; the words that say a link sorts are not shown."""
    page = screen(browser, 1280)
    page.goto(server + "/kb/sources")
    menu = page.get_by_role("link", name="Cases", exact=True)
    assert menu.count() == 1 and menu.get_attribute("href") == "/kb/cases"
    sorts = page.get_by_role("link", name="Sort by Cases", exact=True)
    assert sorts.count() == 1  # the column's heading (the sort links above the table are a phone's)
    assert "_sort_desc=cases_count" in sorts.get_attribute("href")
    heading = page.locator("table.kb-table thead a", has_text="Cases")
    hidden = heading.locator(".kb-visually-hidden").bounding_box()
    assert heading.bounding_box()["width"] > 20 and hidden["width"] <= 1
    page.context.close()
