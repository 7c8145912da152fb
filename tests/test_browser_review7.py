"""A seventh reading in headless Chromium, as the readers of a sector body that publishes the site under
its own brand at a sub-path (/casestudies/), behind the stand-in proxy that answers only under it: axe-core
and no sideways scrolling at 1280 and 375 px, the keyboard alone, and the brand's colours and icon as the
browser shows them. The hub's brand and metadata are made as tests/test_publisher_review7.py makes them."""
import pytest

from tests.live_server import require_chromium, tab_until

require_chromium()

from kb.site import make_datasette  # noqa: E402
from tests.test_browser_review5 import SIDEWAYS, browser, read_pages, screen  # noqa: E402,F401 (the same fixtures)
from tests.test_publish_browser import serving  # noqa: E402
from tests.test_publisher_review7 import HUB, PREFIX, copied_metadata, hub, hub_brand  # noqa: E402,F401

pytestmark = pytest.mark.slow

PAGES = ["", "-/search", "-/search?q=shared+ICT+service", "-/search?target=lessons&q=TUPE",
         "kb/cases/barnet-capita-outsourcing",
         "-/compare?id=stevenage-east-herts-shared-ict-partnership&id=barnet-capita-outsourcing",
         "-/charts", "about", "privacy", "accessibility", "no/such/page"]


@pytest.fixture(scope="module")
def server(corpus_db, hub, copied_metadata):
    with serving(make_datasette(corpus_db, metadata=copied_metadata, brand=hub, base_url=PREFIX), PREFIX) as base:
        yield base + PREFIX


def _rgb(hex_colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)))


@pytest.mark.parametrize("width", [1280, 375])
def test_the_hubs_pages_under_its_path_have_no_axe_violation_no_failed_request_and_no_sideways_scroll(server, browser, width):
    page = screen(browser, width)
    failed = []
    page.on("response", lambda r: r.status >= 400 and "no/such/page" not in r.url and failed.append(f"{r.status} {r.url}"))
    page.on("console", lambda m: "Content Security Policy" in m.text and failed.append(m.text))

    def named_by_the_hub(path):
        assert HUB in page.title(), path

    found, wide = read_pages(page, server, PAGES, each=named_by_the_hub)
    page.context.close()
    assert (found, wide, failed) == ({}, {}, [])


@pytest.mark.parametrize("width", [1280, 375])
def test_a_keyboard_reader_searches_from_the_hubs_home_page_and_stays_under_its_path(server, browser, width):
    page = screen(browser, width)
    page.goto(server)
    assert tab_until(page, "document.activeElement.type === 'search' || document.activeElement.name === 'q'", 40)
    page.keyboard.type("shared ICT service")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.startswith(server + "-/search?"), page.url
    assert page.locator(".kb-results a, ol a").count() > 0
    page.context.close()


def test_the_hubs_colours_reach_its_buttons_and_focus_outline(server, browser, hub):
    """The search button stayed the site's default blue beside the hub's teal, and so did a ticked box."""
    page = screen(browser, 1280)
    page.goto(server)
    button = page.locator("form button[type=submit], form input[type=submit]").first
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == _rgb("#005a5b")
    assert tab_until(page, "document.activeElement.closest('.kb-nav') !== null", 10)
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineColor")
    assert outline == _rgb("#f2c811")
    # the search's compare boxes were the browser's own blue when ticked
    page.goto(server + "-/search?q=shared+ICT+service")
    box = page.locator("input[type=checkbox]").first
    assert box.evaluate("b => getComputedStyle(b).accentColor") == _rgb("#005a5b")
    page.context.close()


def test_the_tab_shows_the_hubs_icon_from_under_its_path(server, browser):
    """No page named an icon: the browser asked the host's root /favicon.ico (outside the hub's path),
    and the site's own /favicon.ico was Datasette's."""
    page = screen(browser, 1280)
    page.goto(server)
    icon = page.evaluate("document.querySelector('link[rel=icon]') && document.querySelector('link[rel=icon]').href")
    assert icon == server + "kb-brand/hub-logo.svg"
    answer = page.request.get(icon)
    assert answer.status == 200 and answer.headers["content-type"].startswith("image/svg")
    page.context.close()


# a sector body's logo is often a wordmark, many times wider than it is high
WORDMARK = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 60" width="600" height="60" aria-hidden="true">'
            '<rect width="600" height="60" fill="#ffffff"/><rect x="10" y="15" width="580" height="30" fill="#005a5b"/></svg>')
NAME_SEEN = """() => { const s = document.querySelector('a.kb-home span'), r = s.getBoundingClientRect();
    return {width: Math.round(r.width), clipped: s.scrollWidth > s.clientWidth + 1 || r.right > document.documentElement.clientWidth + 1}; }"""


@pytest.mark.parametrize("width", [320, 375, 1280])
def test_a_wide_logo_leaves_the_hubs_name_whole_on_a_phone(corpus_db, copied_metadata, tmp_path, browser, width):
    """With a wordmark 10 times wider than high, the name beside it was squeezed to a column one letter
    wide at 320 and 375 px: "S", "C", "I", "H" and the rest of each word cut off."""
    brand = hub_brand(tmp_path)
    (brand / "hub-logo.svg").write_text(WORDMARK)
    with serving(make_datasette(corpus_db, metadata=copied_metadata, brand=brand, base_url=PREFIX), PREFIX) as base:
        page = screen(browser, width)
        page.goto(base + PREFIX)
        seen = page.evaluate(NAME_SEEN)
        over = page.evaluate(SIDEWAYS)
        logo = page.evaluate("document.querySelector('a.kb-home img').getBoundingClientRect().right")
        page.context.close()
    assert seen["width"] >= min(width - 40, 200) and not seen["clipped"], seen
    assert over <= 0 and logo <= width, (over, logo)
