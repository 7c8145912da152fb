"""The charts' tables on a phone, in headless Chromium: each name a card of its numbers, read beside their
headings, not five columns scrolled sideways inside the page."""
import pytest

from tests.live_server import require_chromium

require_chromium()

from tests.test_browser import server  # noqa: E402,F401 (the same served corpus)
from tests.test_browser_review5 import browser, screen, violations  # noqa: E402,F401

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("width", [320, 375])
def test_a_charts_table_fits_a_phone_each_number_beside_its_heading(server, browser, width):
    page = screen(browser, width)
    page.goto(server + "/-/charts")
    for summary in page.locator("section.kb-chart details summary").all():
        summary.click()
    tables = page.locator("table.kb-chart-table")
    assert tables.count() == 4
    # no table scrolls within its box
    assert page.evaluate("[...document.querySelectorAll('.kb-table-wrap')].filter(e => e.scrollWidth > e.clientWidth).length") == 0
    cell = tables.first.locator("tbody td").first
    label = cell.evaluate("e => getComputedStyle(e, '::before').content")
    assert label == '"Yearly savings"'
    # the number sits on the heading's line, at the card's right
    box, row = cell.bounding_box(), tables.first.locator("tbody tr").first.bounding_box()
    assert box["height"] < 40 and abs((box["x"] + box["width"]) - (row["x"] + row["width"])) < 16
    assert violations(page) == []
    page.context.close()
