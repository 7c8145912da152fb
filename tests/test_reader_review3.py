"""A third reading of the published site as a council officer, a screen-reader user, a keyboard-only
user and a phone user would meet it: a filter whose counts leave most rows out, a figure shown as less
than it prints, page titles a screen reader reads aloud, links that mean nothing read alone, dead ends."""
import asyncio
import re
import sqlite3
from html import unescape

import pytest

from kb.site import make_datasette


@pytest.fixture(scope="module")
def site(corpus_db):
    return make_datasette(corpus_db)


def get(site, path):
    return asyncio.run(site.client.get(path))


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


# -- a yes/no field a file leaves out reads as no -------------------------------------------------------
def test_every_organisation_is_counted_as_anonymised_or_not(site, corpus_db):
    """The organisations' Anonymised filter offered "Yes (18)" and "No (4)" of 126: the 104 whose files
    leave `anonymised` out (not anonymised) were in neither."""
    conn = sqlite3.connect(corpus_db)
    total, unknown = conn.execute("select count(*), sum(anonymised is null) from organisations").fetchone()
    assert unknown == 0
    page = get(site, "/kb/organisations").text
    facet = re.search(r'<h3 id="facet-anonymised[^"]*">.*?</section>', page, re.S).group(0)
    counts = {label: int(n) for label, n in re.findall(r'>\s*(?:<span aria-hidden="true">[^<]*</span>\s*)?(Yes|No) <span class="kb-count-n">(\d+)</span>', facet)}
    assert counts.get("Yes", 0) + counts.get("No", 0) == total, counts


# -- a figure printed as a range reads as printed wherever its number is shown --------------------------
def test_a_percentage_printed_as_a_range_reads_as_printed_on_its_page(site, corpus_db):
    """The 2020 Vision figure page read "Percent 2%" under the heading "2-3% efficiency gain"."""
    conn = sqlite3.connect(corpus_db)
    ranged = [(i, t) for i, t, p in conn.execute("select id, text, percent from figures where percent is not null")
              if re.search(r"\d\s*[-\u2013]\s*\d+(?:\.\d+)?\s*%", t)]
    assert ranged
    for figure_id, printed in ranged:
        page = text(get(site, "/kb/figures/" + figure_id.replace("#", "~23")).text)
        assert re.search(r"Percent \d+(?:\.\d+)?\s*[-\u2013]\s*\d+(?:\.\d+)?% \(counted as \d+(?:\.\d+)?%\)", page), (figure_id, page[:800])
