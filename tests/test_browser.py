"""A person's path through the site in headless Chromium: search, narrow by a facet, open a case.

Runs the real `kb serve` on 127.0.0.1 and stops it afterwards."""
import os
from pathlib import Path

import pytest

from tests.live_server import running_server

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    if os.environ.get("CI"):
        raise RuntimeError("Chromium is missing: `./run test` installs Debian's chromium package (apt-get)")
    pytest.skip("Debian's chromium is not installed (./run test installs it)", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def server(corpus_db):
    with running_server(corpus_db) as (base, _):
        yield base


@pytest.fixture(scope="module")
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        yield browser.new_page()
        browser.close()


def test_search_narrow_by_facet_and_open_a_case(server, page):
    page.goto(server + "/")
    page.fill("input[name=q]", "small councils sharing one management team")
    page.press("input[name=q]", "Enter")
    page.wait_for_selector(".kb-result")
    before = page.locator(".kb-result").count()
    assert before > 0
    page.locator("fieldset[data-facet=council_types] input[value=district-council]").check()
    page.wait_for_url("**council_types=district-council**")
    results = page.locator(".kb-result")
    assert 0 < results.count() <= before
    # The permalink reproduces the state
    permalink = page.get_attribute("text=Permalink", "href")
    assert "council_types=district-council" in permalink and "q=small" in permalink
    first = results.first.locator("a").first
    title = first.inner_text()
    first.click()
    page.wait_for_selector("h2#similar")
    assert page.locator("h1").first.inner_text() == title
    assert page.locator("h2#figures").count() == 1
