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
    data = get(site, offered["JSON"]).json()
    assert len(data["rows"]) == count and not data.get("next"), (table, query, len(data["rows"]), count)
    csv_rows = get(site, offered["CSV"]).text.strip().splitlines()
    assert len(csv_rows) >= count + 1


def test_a_table_longer_than_one_json_page_says_its_json_comes_in_pages(corpus_db, tmp_path):
    """Past Datasette's max_returned_rows the JSON cannot hold every row: the link says it is in pages."""
    small = make_datasette(corpus_db)
    small._settings["max_returned_rows"] = small.max_returned_rows = 100
    page = get(small, "/kb/lessons").text
    assert re.search(r"JSON</a> \(in pages of 100, each linking the next\)", page)
    first = get(small, links(page)["JSON"]).json()
    assert len(first["rows"]) == 100 and first["next_url"]
