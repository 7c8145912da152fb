"""Hosting under a sub-path, as a reader clicks through it in headless Chromium. The site runs with
base_url /evidence/ behind a stand-in for the publisher's proxy that answers only paths under
/evidence/ (anything else is a 404, as it would be on their host), on 127.0.0.1, stopped after."""
import asyncio
import contextlib
import shutil
import threading
import time

import pytest

from kb.site import BRAND, make_datasette
from tests.live_server import chromium, free_port, require_chromium

require_chromium()


# a real browser costs seconds a test: run by `./run test` and CI, not by a bare `pytest`
pytestmark = pytest.mark.slow

PREFIX = "/evidence/"


def only_under(prefix, app):
    """The publisher's proxy: it forwards only its prefix to the site."""
    async def proxy(scope, receive, send):
        if scope["type"] == "http" and not scope["path"].startswith(prefix):
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"Not under the site's prefix"})
            return
        await app(scope, receive, send)
    return proxy


@contextlib.contextmanager
def serving(site, prefix="/"):
    """The site on a free 127.0.0.1 port, behind the proxy of `prefix`; stopped on exit."""
    import uvicorn

    # as `datasette serve` does before it starts uvicorn; in a thread of its own, as Playwright may
    # already be running an event loop in this one
    startup = threading.Thread(target=asyncio.run, args=(site.invoke_startup(),))
    startup.start()
    startup.join()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(only_under(prefix, site.app()), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the site did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture(scope="module")
def server(corpus_db):
    with serving(make_datasette(corpus_db, base_url=PREFIX), PREFIX) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser):
    page = browser.new_page()
    page.set_default_timeout(10_000)
    # every failed request and every content-security-policy violation along the way
    page.kb_failures = []
    page.on("response", lambda r: r.status >= 400 and page.kb_failures.append(f"{r.status} {r.url}"))
    page.on("console", lambda m: "Content Security Policy" in m.text and page.kb_failures.append(m.text))
    yield page
    page.close()


def test_browse_a_case_a_similar_case_and_an_export_under_the_prefix(server, page):
    page.goto(server + PREFIX)
    assert page.locator("a.kb-home img").evaluate("img => img.naturalWidth") > 0  # the logo loaded
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.click("nav.kb-nav >> text=Cases")
    page.wait_for_url(f"**{PREFIX}kb/cases")
    # a facet value and a sort: Datasette's own links, which must keep the prefix once
    page.locator('a[href*="council_types__arraycontains="]').first.click()
    page.wait_for_url(f"**{PREFIX}kb/cases?council_types__arraycontains=**")
    page.locator('th a[href*="_sort=title"]').first.click()
    page.wait_for_url(f"**{PREFIX}kb/cases?*_sort=title*")
    with page.expect_response(lambda r: ".csv" in r.url) as export:
        page.locator('a[href*=".csv"]').first.click()
    assert export.value.status == 200 and export.value.url.startswith(server + PREFIX + "kb/cases.csv")
    page.goto(server + PREFIX + "kb/cases/brighton-hove-reablement")
    page.wait_for_selector("h2#similar")
    first_similar = page.locator("h2#similar + ol a").first
    title = first_similar.inner_text()
    first_similar.click()
    page.wait_for_selector("h2#similar")
    assert page.locator("h1").first.inner_text() == title
    with page.expect_response(lambda r: r.url.endswith(".json")) as export:
        page.click("text=json")
    assert export.value.status == 200 and export.value.json()["rows"]
    page.goto(server + PREFIX + "kb/cases")
    page.click("footer >> text=Accessibility statement")
    page.wait_for_url(f"**{PREFIX}accessibility")
    assert page.locator("h1").inner_text() == "Accessibility statement"
    assert page.kb_failures == []


def test_search_a_result_and_its_exports_under_the_prefix(server, page):
    page.goto(server + PREFIX)
    page.click("nav.kb-nav >> text=Search")
    page.wait_for_url(f"**{PREFIX}-/search")
    page.fill("[name=q]", "small councils sharing one management team")
    page.press("[name=q]", "Enter")
    page.wait_for_load_state()
    assert page.url.startswith(server + PREFIX + "-/search?") and page.kb_failures == []
    page.wait_for_selector(".kb-result")
    for name in ("JSON", "CSV"):  # the page's own address is its permalink
        assert page.locator(".kb-export a", has_text=name).get_attribute("href").startswith(PREFIX)
    page.locator(".kb-result a").first.click()
    page.wait_for_selector("h2#similar")
    assert page.kb_failures == []


def test_a_publishers_colours_reach_the_body_of_the_page(corpus_db, browser, tmp_path):
    """The brand's link and focus colours win over the site's own stylesheet, not only in the header."""
    brand = tmp_path / "brand"
    shutil.copytree(BRAND, brand)
    text = (brand / "brand.yml").read_text()
    (brand / "brand.yml").write_text(text.replace('link: "#1d4f91"', 'link: "#7a1f5c"').replace('focus: "#ffbf47"', 'focus: "#00ffaa"'))
    with serving(make_datasette(corpus_db, brand=brand)) as base:
        page = browser.new_page()
        page.goto(base + "/kb/cases/brighton-hove-reablement")
        link = page.locator("main ul.kb-tag-list a").first
        assert link.evaluate("a => getComputedStyle(a).color") == "rgb(122, 31, 92)"
        page.locator("main ol.kb-similar a").first.focus()
        for _ in range(3):  # from the keyboard, as :focus-visible wants
            page.keyboard.press("Tab")
        focused = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
            return [document.activeElement.closest('main') !== null, s.outlineStyle, s.outlineColor]; }""")
        assert focused == [True, "solid", "rgb(0, 255, 170)"]
        page.close()
