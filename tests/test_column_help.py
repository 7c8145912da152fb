"""Every column a reader or a data user meets on a table page says what it holds: declared once, in
kb/schema.yml, and shown on the page under "What the columns mean"."""
import asyncio
import re
from html import unescape

from kb.site import make_datasette
from kb.site_metadata import site_metadata
from kb.schema import tables


def test_every_public_column_of_every_table_has_help():
    bare = {f"{t.name}.{c.name}" for t in tables().values() for c in t.columns if c.public and not c.help}
    assert bare == set()


def test_the_vocabulary_terms_page_says_what_each_column_holds(corpus_db):
    html = unescape(asyncio.run(make_datasette(corpus_db).client.get("/kb/terms")).text)
    helps = site_metadata()["terms"]["columns"]
    shown = html[html.index("What the columns mean"):]
    for column in ("label", "vocabulary_label", "definition"):  # the columns the page lists
        assert helps[column].split(":")[0] in re.sub(r"<[^>]+>", "", shown), column
