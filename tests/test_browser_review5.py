"""A fifth reading of the site in headless Chromium: a council officer on a phone (375 and 320 px, and
200% and 400% zoom, which lay a 1280 px screen out at 640 and 320), a keyboard-only user, Windows high
contrast, a reader who asks for no motion, a printed case, and axe-core with no violation at all on every
kind of page at 1280 and 375 px. Runs the real `kb serve` (stand-in-model corpus)."""
import pytest

from tests.live_server import chromium, require_chromium, tab_until

require_chromium()

from axe_playwright_python.sync_playwright import Axe  # noqa: E402

from tests.test_browser import _focus_out_of_sight, server  # noqa: E402,F401 (server: the same served corpus)

pytestmark = pytest.mark.slow

CASE = "/kb/cases/barnet-capita-outsourcing"
PAGES = [
    "/", "/-/search", "/-/search?q=shared+ICT+service", "/-/search?q=shared+ICT+service&council_types=district-council",
    "/-/search?target=lessons", "/-/search?q=TUPE&target=lessons", "/-/search?q=libary+closures",
    CASE, "/kb/cases/london-council-a-teal-organisation", "/kb/cases/manchester-looked-after-children-fostering",
    "/-/compare?id=stevenage-east-herts-shared-ict-partnership&id=croydon-place-enforcement-integration&id=barnet-capita-outsourcing",
    "/kb/lessons/stevenage-east-herts-shared-ict-partnership~23lesson-1", "/kb/figures/barnet-capita-outsourcing~231",
    "/kb/sources/dclg-2014-good-practice-savings", "/kb/terms/approaches,agile-delivery",
    "/kb/organisations/barnet-capita-outsourcing,1", "/-/charts", "/kb", "/kb?sql=select+id,+title+from+cases+limit+5",
    "/no/such/page", "/about", "/privacy", "/accessibility",
    "/kb/cases", "/kb/lessons", "/kb/figures", "/kb/organisations", "/kb/sources", "/kb/terms",
    "/kb/cases?council_types__arraycontains=district-council",
    "/kb/case_sources", "/kb/case_sources/barnet-capita-outsourcing,dclg-2014-good-practice-savings",
    "/kb/similar_cases", "/kb/build_info", "/kb/build_info/1"]


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def screen(browser, width, height=800, **media):
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.set_default_timeout(10_000)
    if media:
        page.emulate_media(**media)
    return page


_axe = Axe()
SIDEWAYS = "document.documentElement.scrollWidth - document.documentElement.clientWidth"  # > 0: it scrolls sideways


def violations(page) -> list:
    """axe's violations on the page, each as its rule, its impact and the first two places."""
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"][:2]]) for v in _axe.run(page).response["violations"]]


def read_pages(page, base: str, paths, axe: bool = True, each=None) -> tuple[dict, dict]:
    """Each page's axe violations and how far it scrolls sideways, for the pages with any; `each(path)`
    checks something more on every page."""
    found, wide = {}, {}
    for path in paths:
        page.goto(base + path)
        if each is not None:
            each(path)
        if axe and (seen := violations(page)):
            found[path] = seen
        if (over := page.evaluate(SIDEWAYS)) > 0:
            wide[path] = over
    return found, wide


@pytest.mark.parametrize("width", [1280, 375])
def test_no_page_has_any_axe_violation(server, browser, width):
    """The bar is none at all, of any impact, on every kind of page."""
    page = screen(browser, width)
    found, _ = read_pages(page, server, PAGES)
    page.context.close()
    assert found == {}


@pytest.mark.parametrize("width, height", [(375, 800), (320, 700), (640, 450), (320, 225)])
def test_no_page_scrolls_sideways_on_a_phone_or_zoomed(server, browser, width, height):
    """320 by 225 is a 1280 by 900 screen at 400%, 640 by 450 the same at 200%."""
    page = screen(browser, width, height)
    _, wide = read_pages(page, server, PAGES, axe=False)
    page.context.close()
    assert wide == {}


# On a phone each row of a table is a card whose cells put their label (the cell's ::before) at the left
# and the value beside it; every piece of the value must start right of the label, none under it.
UNDER_THE_LABEL = """() => Array.from(document.querySelectorAll('table.kb-table td[data-label], table.kb-sources-table td[data-label]'))
    .filter(td => td.offsetParent !== null && td.textContent.trim()).flatMap(td => {
        const label = parseFloat(getComputedStyle(td, '::before').width);
        const left = td.getBoundingClientRect().left + label;
        const range = document.createRange(); range.selectNodeContents(td);
        return Array.from(range.getClientRects()).filter(r => r.width > 1 && r.left < left - 1)
            .map(() => td.dataset.label + ': ' + td.textContent.trim().slice(0, 60));
    })"""


@pytest.mark.parametrize("path", ["/", "/kb/sources", "/kb/cases", "/kb/figures?status=achieved"])
def test_a_cards_words_all_sit_beside_its_label_on_a_phone(server, browser, path):
    """The home page's licence of the LGA report read "LGA" beside "Licence" and "publication; licence
    not stated" under it: the card's cell was a grid of two columns, and the marked abbreviation took the
    second, so the words after it wrapped into the first."""
    page = screen(browser, 375)
    page.goto(server + path)
    assert page.locator("td[data-label]").count() > 3
    assert page.evaluate(UNDER_THE_LABEL) == []
    page.context.close()


@pytest.mark.parametrize("path", ["/kb/case_sources", "/kb/similar_cases", "/kb/build_files"])
def test_every_tab_stop_on_datasettes_own_tables_is_seen_on_a_phone(server, browser, path):
    """Datasette moves its table's headings off a phone's screen, and their sort links kept the keyboard's
    focus there, out of sight (its "Sort..." menu sorts on a phone)."""
    page = screen(browser, 375)
    page.goto(server + path)
    stops, hidden = _focus_out_of_sight(page)
    assert stops > 5 and hidden == [], hidden
    assert page.locator("select#sort_by").is_visible()
    page.context.close()


def test_the_sql_editor_shows_where_the_keyboard_is(server, browser):
    """The SQL editor types into a hidden textarea: focused, the editor showed only a caret."""
    page = screen(browser, 1280)
    page.goto(server + "/kb")
    if not tab_until(page, "document.activeElement.closest('.CodeMirror') !== null", 40):
        pytest.fail("the editor was never focused")
    style = page.evaluate("(() => { const s = getComputedStyle(document.querySelector('.CodeMirror')); "
                          "return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()")
    assert style[0] != "none" and style[1] >= 2, style
    page.context.close()


def test_a_column_menu_opens_and_closes_from_the_keyboard(server, browser):
    """Each column heading of Datasette's own tables has a menu (sort, facet by it, hide it) behind an
    icon only a mouse could open."""
    page = screen(browser, 1280)
    page.goto(server + "/kb/case_sources")
    if not tab_until(page, "document.activeElement.getAttribute('role') === 'button' && document.activeElement.closest('th') !== null", 60):
        pytest.fail("no column menu button took the focus")
    icon = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert icon == "Column options: case_id"
    page.keyboard.press("Enter")
    menu = page.locator(".dropdown-menu")
    assert menu.is_visible()
    assert page.evaluate("document.activeElement.textContent") == "Sort ascending"
    assert page.evaluate("document.querySelector('[aria-expanded=true]').getAttribute('aria-label')") == icon
    assert page.evaluate("document.activeElement.closest('main') !== null")  # in a landmark
    page.keyboard.press("Escape")
    assert menu.is_hidden() and page.evaluate("document.activeElement.getAttribute('aria-label')") == icon
    assert page.evaluate("document.activeElement.getAttribute('aria-expanded')") == "false"
    # Tab past the menu's last item closes it and goes on from its button
    page.keyboard.press(" ")
    items = page.evaluate("Array.from(document.querySelectorAll('.dropdown-menu a')).filter(a => a.offsetParent).length")
    for _ in range(items):
        page.keyboard.press("Tab")
    assert menu.is_hidden()
    assert page.evaluate("document.activeElement.textContent.trim()") == "Sort by source_id"
    # and an item does what it says
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "_sort_desc=case_id" in page.url
    page.context.close()


def test_chart_bars_take_the_high_contrast_themes_colours(server, browser):
    """Forced colours left the bars' own fills: the planned bars' dark olive was near invisible on a black
    high-contrast page."""
    page = screen(browser, 1280, forced_colors="active", color_scheme="dark")
    page.goto(server + "/-/charts")
    text_colour = page.evaluate("getComputedStyle(document.body).color")
    fills = page.evaluate("Array.from(document.querySelectorAll('.kb-chart svg rect'), r => getComputedStyle(r).fill)")
    assert fills and set(fills) == {text_colour}, (set(fills), text_colour)
    page.context.close()


def test_nothing_moves_for_a_reader_who_asks_for_no_motion(server, browser):
    """Datasette's column menus scale in."""
    page = screen(browser, 1280, reduced_motion="reduce")
    page.goto(server + "/kb/case_sources")
    page.locator("th svg.dropdown-menu-icon").first.click()
    durations = page.evaluate("getComputedStyle(document.querySelector('.dropdown-menu')).animationDuration")
    assert all(float(d.rstrip("s")) <= 0.001 for d in durations.split(",")), durations
    page.context.close()


def test_a_printed_case_keeps_its_text_figures_and_sources_without_the_sites_controls(server, browser):
    page = screen(browser, 900, media="print")
    page.goto(server + "/kb/cases/manchester-looked-after-children-fostering")
    for kept in ("h1", ".kb-body", "#figures", "ul.kb-figures", "#sources", ".kb-cite", "header.kb-header .kb-home"):
        assert page.locator(kept).first.is_visible(), kept
    for dropped in (".kb-nav", ".kb-crumbs", "footer", ".kb-actions", ".kb-export", ".kb-skip"):
        assert page.locator(dropped).first.is_hidden(), dropped
    # a link that only works on a screen is not printed as though it were text
    compare = page.get_by_text("Compare this case with the first two side by side")
    assert compare.count() == 1 and compare.is_hidden()
    # a report's address is printed after its link, for a reader of the paper
    after = page.evaluate("getComputedStyle(document.querySelector('#sources + ul a[href^=http]'), '::after').content")
    assert "(https://" in after or after.startswith('" ("'), after
    page.context.close()
