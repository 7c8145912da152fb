"""A tenth look at the site as a publisher brands it: a brand's pages show no HTML of their own, a key
given twice is refused, the logo and icon are pictures the site serves, and a colour YAML read as a
comment is named so. Each problem is one line naming brand.yml (or the page), the line and the fix."""
import shutil

import pytest

from kb.site import BRAND, SiteError, load_brand, normal_base_url


@pytest.fixture
def brand(tmp_path):
    d = tmp_path / "brand"
    shutil.copytree(BRAND, d)
    yml = d / "brand.yml"
    yml.write_text(yml.read_text().replace("name: Council transformation case studies", "name: Northshire's case studies")
                   + 'contact: {title: Report a problem, url: "mailto:team@example.org"}\n')
    return d


def refused(d) -> str:
    with pytest.raises(SiteError) as err:
        load_brand(d)
    return str(err.value)


@pytest.mark.parametrize("html", ['<script>alert("about")</script>', '<img src=x onerror="alert(1)">',
                                  'Read <b onclick="x()">this</b>.'])
def test_a_brand_page_with_html_is_refused_and_never_shown_as_html(brand, html):
    """`<script>` in about.md ran in every reader's browser: a brand folder may come from anyone."""
    page = brand / "about.md"
    page.write_text(page.read_text() + "\n" + html + "\n")
    lines = page.read_text().count("\n")
    message = refused(brand)
    assert message.startswith(f"{brand / 'brand.yml'}:") and f"pages.about.file about.md:{lines}: HTML (" in message
    assert "write the page in Markdown only" in message
    # and were it ever loaded, it is shown as text
    loaded = load_brand(BRAND)
    loaded.directory = brand
    assert "<script>" not in loaded.page_html("about") and "onerror=" not in loaded.page_html("about").replace("&quot;", '"').split("&lt;")[0]


def test_a_key_given_twice_is_refused(brand):
    """A second `name:` put the project's own name back on every page, and skipped the no-contact note."""
    yml = brand / "brand.yml"
    yml.write_text(yml.read_text() + "name: Council transformation case studies\n")
    message = refused(brand)
    line = yml.read_text().count("\n")
    assert message == (f"{yml}:{line}: field 'name' appears twice (also on line 1) - keep one of the two: YAML would "
                       "silently use the last one") or (f"{yml}:{line}: field 'name' appears twice" in message), message


@pytest.mark.parametrize("name, content, said", [
    ("about.md", None, "is not a picture the site serves"),                      # served as 404
    ("logo.bmp", b"BM....", "is not a picture the site serves"),
    ("logo #1.png", b"\x89PNG\r\n", "has characters an address cannot carry"),    # the # cut the address short
    ("fake.png", b"GIF89a....", "is not a PNG file, whatever its name"),
])
def test_a_logo_the_site_would_not_show_is_refused(brand, name, content, said):
    if content is not None:
        (brand / name).write_bytes(content)
    yml = brand / "brand.yml"
    yml.write_text(yml.read_text().replace("logo: logo.svg", f'logo: "{name}"'))
    assert said in refused(brand)


def test_an_unquoted_colour_is_told_to_be_quoted(brand):
    yml = brand / "brand.yml"
    text = yml.read_text()
    import re
    quote, key, value = re.search(r"\n  ((\w+): (['\"]#[0-9a-fA-F]{6}['\"]))", text).groups()
    yml.write_text(text.replace(quote, f"{key}: {value.strip(chr(39) + chr(34))}", 1))
    assert f"colours.{key} is empty - a colour written #rrggbb must be in quotes" in refused(brand)


def test_a_page_without_a_title_is_refused(brand):
    """An empty title made a footer link with no name."""
    yml = brand / "brand.yml"
    import re
    yml.write_text(re.sub(r"(about: \{title: )[^,]+,", r'\1"",', yml.read_text()))
    assert "pages.about needs a title and a file" in refused(brand)


@pytest.mark.parametrize("base", ["/kb/../x/", "/./", "/kb/.."])
def test_a_base_url_with_dot_segments_is_refused(base):
    with pytest.raises(SiteError):
        normal_base_url(base)


def test_a_publisher_hears_of_a_missing_contact_once(brand, corpus_db, tmp_path):
    """`kb publish` said it twice, in two wordings: once with the brand's notes, once on its own."""
    from click.testing import CliRunner

    from kb.cli import cli

    yml = brand / "brand.yml"
    yml.write_text(yml.read_text().replace('contact: {title: Report a problem, url: "mailto:team@example.org"}\n', ""))
    result = CliRunner().invoke(cli, ["publish", "docker", "--db", str(corpus_db), "--brand", str(brand),
                                      "--out", str(tmp_path / "out"), "--dry-run"])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "contact" in line]
    assert len(notes) == 1, notes


def test_a_vercel_publisher_is_told_it_does_not_fit():
    from kb.cli import _hosting_notes

    assert any("Vercel does not fit" in note for note in _hosting_notes("vercel", []))
    assert _hosting_notes("fly", []) == [] and _hosting_notes("cloudrun", ["--memory", "2Gi"]) == []


# -- the address readers reach the site at ------------------------------------------------------------------
def _site_with(corpus_db, tmp_path, public, base="/"):
    import yaml

    from kb.site import METADATA, make_datasette

    data = yaml.safe_load(METADATA.read_text(encoding="utf-8"))
    data["public_url"] = public
    path = tmp_path / "metadata.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return make_datasette(corpus_db, metadata=path, base_url=base), path


# (Datasette's own client puts the base URL in front of each path)
@pytest.mark.parametrize("path", ["/", "/sitemap.xml", "/robots.txt", "/kb/cases/brighton-hove-reablement",
                                  "/kb/recent_cases.atom", "/-/search.csv?q=care", "/-/search.json?q=care"])
def test_every_full_address_names_the_public_url_whatever_host_a_request_names(corpus_db, tmp_path, path):
    """A request naming another host (a proxy's, the platform's, or anyone's) had the canonical links,
    sitemap, feed, citations and exports name it, in answers a cache keeps for five minutes."""
    import asyncio
    import re

    site, _ = _site_with(corpus_db, tmp_path, "https://www.northshire.example.org/kb/", "/kb/")
    page = asyncio.run(site.client.get(path, headers={"host": "evil.example", "x-forwarded-host": "evil.example"}))
    assert page.status_code == 200
    hosts = set(re.findall(r"https?://([a-z0-9.-]+)", page.text)) - {"www.sitemaps.org", "www.w3.org", "www.gov.uk"}
    assert "evil.example" not in page.text and hosts == {"www.northshire.example.org"}, hosts


@pytest.mark.parametrize("public, said", [
    ("www.northshire.example.org", "is not a web address"),
    ("https://www.northshire.example.org/cases/", "ends in /cases/, not the base URL /kb/"),
    ("https://www.northshire.example.org/kb/?x=1", "is not a web address"),
])
def test_a_public_url_that_cannot_be_the_sites_is_refused_with_its_line(corpus_db, tmp_path, public, said):
    from kb.site import Site

    _, path = _site_with(corpus_db, tmp_path, public, "/kb/")
    with pytest.raises(SiteError) as err:
        Site(corpus_db, path, BRAND, "/kb/").check()
    assert str(err.value).startswith(f"{path}:") and said in str(err.value), str(err.value)


def test_a_path_outside_the_base_url_is_not_a_second_copy_of_the_site(corpus_db):
    """A container reached at its platform's own address answered at '/' too: a second copy of the site."""
    import asyncio

    import httpx

    from kb.site import make_datasette

    app = make_datasette(corpus_db, base_url="/kb/").app()

    async def statuses():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            out = {}
            for path in ("/", "/-/search?q=care", "/kbx/", "/kb/", "/kb/-/search?q=care"):
                answer = await client.get(path)
                out[path] = (answer.status_code, 'href="/kb/"' in answer.text)
            return out

    found = asyncio.run(statuses())
    assert found["/"] == found["/-/search?q=care"] == found["/kbx/"] == (404, True)
    assert found["/kb/"][0] == found["/kb/-/search?q=care"][0] == 200


@pytest.mark.parametrize("size, kind, noted", [((100, 100), "PNG", True), ((1200, 630), "PNG", False),
                                               ((1200, 630), "JPEG", False), ((800, 800), "JPEG", True),
                                               ((600, 315), "GIF", False)])
def test_a_card_of_another_size_is_noted(brand, size, kind, noted):
    """A 100 x 100 card was taken without a word, though link previews show 1200 x 630 and crop others."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (40, 60, 120)).save(out, format=kind)
    name = f"card.{kind.lower()}"
    (brand / name).write_bytes(out.getvalue())
    yml = brand / "brand.yml"
    import re
    yml.write_text(re.sub(r"(?m)^card: .*$", f"card: {name}", yml.read_text()))
    notes = [n for n in load_brand(brand).notes if "link previews show 1200 x 630" in n]
    assert bool(notes) == noted, (size, kind, load_brand(brand).notes)
    if noted:
        assert f"is {size[0]} x {size[1]} pixels" in notes[0]
