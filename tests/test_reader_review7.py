"""A seventh look at the site as its readers use it: a lesson found by search links to the lesson
itself, on its case's page or its report's, and can be cited by that address."""
import csv
import io
import re

import pytest

from ingest.build import lesson_anchors
from kb.site import make_datasette

from .pages import get


@pytest.fixture(scope="module")
def site(corpus_db):
    return make_datasette(corpus_db)


def test_a_lesson_result_links_to_the_lesson_on_its_page(site):
    """Lesson results linked to the top of their case's page, and the search's CSV gave the case's
    address as the lesson's: a researcher had no address to cite a lesson by."""
    page = get(site, "/-/search?q=reablement&target=lessons").text
    links = re.findall(r'From <a href="(/kb/(?:cases|sources)/[^"#]+)#((?:lesson|finding)-\d+)"', page)
    assert links
    for path, anchor in links:
        assert f'<li id="{anchor}"' in get(site, path).text, (path, anchor)
    rows = list(csv.DictReader(io.StringIO(get(site, "/-/search.csv?q=reablement&target=lessons").text.lstrip("\ufeff"))))
    assert rows and all(row["url"].endswith("#" + row["id"].split("#")[1]) for row in rows)


def test_only_the_top_level_bullets_are_named():
    html = "<ul>\n<li>one</li>\n<li>two<ul><li>under two</li></ul></li>\n</ul>\n<p>then</p>\n<ul>\n<li>three</li>\n</ul>"
    assert lesson_anchors(html) == ('<ul>\n<li id="lesson-1">one</li>\n<li id="lesson-2">two<ul><li>under two</li></ul></li>\n'
                                    '</ul>\n<p>then</p>\n<ul>\n<li id="lesson-3">three</li>\n</ul>')
