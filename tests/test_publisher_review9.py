"""A ninth look at the site as a publisher shares it: their own description on the home page and in
link previews, and a published image that takes the reader's address from the platform's proxy.
In-process, on the stand-in-model corpus."""
import asyncio
import html
import re

from kb.publish_image import from_image
from kb.site import METADATA, make_datasette


def get(site, path):
    return asyncio.run(site.client.get(path))


def test_a_publishers_description_introduces_their_home_page(corpus_db, tmp_path):
    """The README says to give your description in your copy of metadata.yml; it was shown nowhere but
    /-/metadata.json, the home page's introduction and its meta description being fixed words."""
    mine = tmp_path / "metadata.yml"
    mine.write_text(METADATA.read_text(encoding="utf-8").split("description_html:")[0]
                    + "description_html: |-\n  <p>NORTHSHIRE's <em>own</em> words about its collection.</p>\n",
                    encoding="utf-8")
    page = get(make_datasette(corpus_db, metadata=mine), "/").text
    lede = re.search(r'<div class="kb-lede">(.*?)</div>', page, re.S).group(1)
    assert "NORTHSHIRE" in lede and "<em>own</em>" in lede
    description = re.search(r'<meta name="description" content="([^"]*)">', page).group(1)
    assert html.unescape(description) == "NORTHSHIRE's own words about its collection."
    assert "Case studies of English councils" not in page.split("</h1>")[1].split("<form")[0]


def test_the_projects_own_description_is_its_home_page_introduction(corpus_db):
    page = get(make_datasette(corpus_db), "/").text
    assert re.search(r'<div class="kb-lede"><p>Case studies of English councils\' transformation projects', page)


def test_a_published_image_trusts_the_proxy_in_front_of_it():
    """Behind Cloud Run, Fly or a host's nginx the proxy is never on 127.0.0.1, so without this every
    reader had the proxy's address, and one client's errors slowed every reader by kb_guard's 1 s."""
    written = from_image("FROM python:3.11.0-slim-bullseye\nCOPY . /app\nCMD datasette serve\n", "python:3.11-slim-bookworm")
    lines = written.splitlines()
    assert lines[0] == "FROM python:3.11-slim-bookworm"
    assert lines[1] == 'ENV FORWARDED_ALLOW_IPS="*"'
    assert lines[2:] == ["COPY . /app", "CMD datasette serve"]


def test_a_later_pages_downloads_are_of_every_row(corpus_db):
    """From the second page, "Download all 76" kept `_next`: its CSV was refused (a stream starts at
    the first row) and its JSON began at the 51st. The CSV downloads as a file, as the search's does."""
    site = make_datasette(corpus_db)
    first = get(site, "/kb/cases?_size=5").text
    later = re.search(r'href="(/kb/cases\?[^"]*_next=[^"]+)"', first).group(1).replace("&amp;", "&")
    page = get(site, later).text
    export = re.search(r'<p class="kb-export">(.*?)</p>', page, re.S).group(1)
    csv_link, json_link = re.findall(r'href="(/kb/cases\.(?:csv|json)[^"]*)"', export)
    assert "_next" not in csv_link + json_link and "_dl=1" in csv_link
    answer = get(site, html.unescape(csv_link))
    assert answer.status_code == 200 and answer.headers["content-disposition"] == 'attachment; filename="cases.csv"'
    assert answer.text.count("\n") - 1 >= len(get(site, "/kb/cases.json?_size=max").json()["rows"])


def test_a_query_that_runs_too_long_is_said_in_words(corpus_db):
    """Datasette's time-out message is HTML (the SQL in a textarea, a script): the page printed it as text."""
    site = make_datasette(corpus_db)
    sql = "with recursive c(x) as (select 1 union all select x+1 from c) select count(*) from c"
    page = get(site, "/kb?" + __import__("urllib.parse").parse.urlencode({"sql": sql}))
    box = re.search(r'<div class="kb-error-box">(.*?)</div>', page.text, re.S).group(1)
    assert "&lt;" not in box and "script" not in box
    assert "The query took too long and was stopped: the limit is 1,000 ms." in box


def test_a_brand_without_a_contact_is_told_so(tmp_path):
    """A reader's review: the accessibility statement asks readers to report a problem, and no page said
    how. A brand without `contact` gets a note from `kb serve` and `kb publish`; one with it, none."""
    import shutil

    from kb.site import BRAND, load_brand

    d = tmp_path / "brand"
    shutil.copytree(BRAND, d)
    (d / "brand.yml").write_text((d / "brand.yml").read_text().replace(
        "name: Council transformation case studies", "name: Northshire's case studies"))
    assert any("gives no `contact`" in note for note in load_brand(d).notes)
    (d / "brand.yml").write_text((d / "brand.yml").read_text()
                                 + 'contact: {title: Report a problem, url: "mailto:team@example.org"}\n')
    assert not any("gives no `contact`" in note for note in load_brand(d).notes)


def test_only_the_brands_pictures_are_served(corpus_db):
    """The whole brand folder was public: brand.yml, the pages' Markdown and anything a publisher kept
    beside them. Its logo, icon and card are what pages ask for."""
    site = make_datasette(corpus_db)
    assert get(site, "/kb-brand/logo.svg").status_code == 200
    assert get(site, "/kb-brand/card.png").status_code == 200
    for name in ("brand.yml", "about.md", "privacy.md", "notes.txt"):
        assert get(site, f"/kb-brand/{name}").status_code == 404, name
