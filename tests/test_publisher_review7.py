"""A seventh review, as a sector body that publishes the site under its own name (README "Publishing"):
it copies brand/ and metadata.yml as the README says, edits the brand, and serves it under a sub-path.
In-process, on the stand-in-model corpus; the browser's side is tests/test_browser_review7.py."""
import asyncio
import os
import re
import shutil
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.site import BRAND, METADATA, SiteError, contrast, load_brand, make_datasette, site_colours
from tests.live_server import free_port

PREFIX = "/casestudies/"
HUB = "South West Councils Improvement Hub"
DEFAULT_NAME = "Council transformation case studies"


def get(site, path):
    return asyncio.run(site.client.get(path))


def hub_brand(folder, **colours):
    """The project's brand/ copied and edited as a publisher would: its name, logo, colours and contact."""
    d = folder / "hub-brand"
    shutil.copytree(BRAND, d)
    (d / "logo.svg").rename(d / "hub-logo.svg")
    text = (d / "brand.yml").read_text()
    text = text.replace(f"name: {DEFAULT_NAME}", f"name: {HUB}").replace("logo: logo.svg", "logo: hub-logo.svg")
    mine = {"text": "#1b1b1b", "background": "#fffdf7", "link": "#005a5b", "header_text": "#ffffff",
            "header_background": "#005a5b", "focus": "#f2c811"} | colours
    text = re.sub(r'(?m)^  (\w+): "#[0-9a-f]{6}"$', lambda m: f'  {m.group(1)}: "{mine[m.group(1)]}"', text)
    text += 'contact: {title: Contact the Hub, url: "mailto:casestudies@hub.example.org"}\n'
    (d / "brand.yml").write_text(text)
    return d


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    return hub_brand(tmp_path_factory.mktemp("hub"))


@pytest.fixture(scope="module")
def copied_metadata(tmp_path_factory):
    """`cp metadata.yml my-metadata.yml`, as the README's first steps say, left as it is."""
    path = tmp_path_factory.mktemp("meta") / "my-metadata.yml"
    shutil.copy(METADATA, path)
    return path


@pytest.fixture(scope="module")
def site(corpus_db, hub, copied_metadata):
    return make_datasette(corpus_db, metadata=copied_metadata, brand=hub, base_url=PREFIX)


# -- the hub's name everywhere, the project's nowhere ---------------------------------------------------

def test_a_publisher_who_copies_metadata_yml_as_told_is_never_named_as_the_project(site):
    """The README says `cp metadata.yml my-metadata.yml`; its `title:` was the project's name, and it won
    over the brand's in the home page's heading and title, og:site_name, how to cite a case and the
    feed's title, while the header said the hub's."""
    pages = {path: get(site, "/" + path).text for path in
             ["", "kb/cases/barnet-capita-outsourcing", "-/search?q=shared+ICT", "-/charts", "about", "kb/recent_cases.atom", "nope"]}
    for path, text in pages.items():
        assert DEFAULT_NAME not in text, path
    assert re.search(rf"<h1>\s*{HUB}\s*</h1>", pages[""])
    assert f'<meta property="og:site_name" content="{HUB}">' in pages["kb/cases/barnet-capita-outsourcing"]
    assert re.search(rf"&rdquo;\. {HUB}, (last changed|as published on) ", pages["kb/cases/barnet-capita-outsourcing"])
    assert f"<title>New and changed cases - {HUB}</title>" in pages["kb/recent_cases.atom"]


def test_the_feed_does_not_name_the_tool_that_made_it(site):
    """datasette-atom wrote <generator>Datasette</generator> into the hub's feed."""
    feed = get(site, "/kb/recent_cases.atom")
    assert feed.status_code == 200 and "atom" in feed.headers["content-type"] or "xml" in feed.headers["content-type"]
    assert "Datasette" not in feed.text and "datasette" not in feed.text
    ET.fromstring(feed.text)


def test_the_browser_tab_shows_the_hubs_icon_not_datasettes(site):
    """Every tab showed Datasette's own favicon (its /favicon.ico), and no page named an icon, so under a
    sub-path a browser asked the host's root for one instead."""
    home = get(site, "/").text
    assert f'<link rel="icon" href="{PREFIX}kb-brand/hub-logo.svg">' in home
    assert get(site, "/kb-brand/hub-logo.svg").status_code == 200
    answer = get(site, "/favicon.ico")
    assert answer.status_code == 302 and answer.headers["location"] == f"{PREFIX}kb-brand/hub-logo.svg"


def test_a_brand_names_its_own_favicon_and_a_missing_one_is_refused(tmp_path):
    d = hub_brand(tmp_path)
    (d / "tab.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    text = (d / "brand.yml").read_text()
    (d / "brand.yml").write_text(text.replace('logo_alt: ""', 'logo_alt: ""\nfavicon: tab.png'))
    assert load_brand(d).favicon == "tab.png"
    (d / "tab.png").unlink()
    with pytest.raises(SiteError, match=r"brand\.yml:\d+: favicon 'tab.png' is not a file"):
        load_brand(d)


# -- the brand's mistakes, told before anything is served ---------------------------------------------------

@pytest.mark.parametrize("replace, key, meant", [
    ("\ncontact:", "\ncontacts:", "contact"),
    ("logo_alt:", "logo-alt:", "logo_alt"),
    ("  focus:", "  focus_colour:", "focus"),
    ("  about: {title:", "  abuot: {title:", "about"),
    ("about: {title: About this site, file: about.md}", "about: {title: About this site, file: about.md, titel: x}", "title"),
])
def test_a_mistyped_brand_key_is_refused_with_its_line_and_the_key_meant(tmp_path, replace, key, meant):
    """`contacts:` for `contact:` was read as no contact at all: the footer lost its link without a word."""
    d = hub_brand(tmp_path)
    path = d / "brand.yml"
    text = path.read_text()
    assert replace in text
    text = text.replace(replace, key, 1)
    path.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if key.strip() in row and not row.startswith("#"))
    with pytest.raises(SiteError) as err:
        load_brand(d)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert f"did you mean `{meant}`?" in message, message


def test_kb_serve_refuses_a_mistyped_key_before_starting(corpus_db, tmp_path, monkeypatch):
    def started(*args):
        raise AssertionError("kb serve started the site with a mistyped brand")

    monkeypatch.setattr(os, "execv", started)  # `kb serve` becomes Datasette by exec once its checks pass
    d = hub_brand(tmp_path)
    (d / "brand.yml").write_text((d / "brand.yml").read_text().replace("contact:", "contacts:"))
    # a free port, though the brand is checked first: 8001 may be another server's
    result = CliRunner().invoke(cli, ["serve", "--db", str(corpus_db), "--brand", str(d), "--port", str(free_port())])
    assert result.exit_code == 1 and "did you mean `contact`?" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("colours, refused", [
    # a dark theme passed the three pairs checked (text, links and header on their backgrounds), but the
    # site's panels, tables, tags and highlights stay white or pale: light text on them could not be read
    ({"text": "#f0f0f0", "background": "#1b1b1b", "link": "#9fd3ff"}, "colours.text #f0f0f0"),
    # a focused link is the text colour on the focus colour
    ({"focus": "#3d3d3d"}, "against colours.focus #3d3d3d - choose colours.focus"),
    # the header's focus outline was the focus colour alone on the header's background
    ({"header_background": "#e8e8e8", "header_text": "#1b1b1b"}, "colours.focus #f2c811 as the focus outline in the header"),
    # the site's grey notes sit on the brand's background
    ({"background": "#c8c8c8", "text": "#000000", "link": "#00363a"}, "the site's secondary colour"),
])
def test_a_brand_colour_unreadable_on_the_sites_own_colours_is_refused(tmp_path, colours, refused):
    d = hub_brand(tmp_path, **colours)
    with pytest.raises(SiteError) as err:
        load_brand(d)
    message = str(err.value)
    assert re.match(rf"{re.escape(str(d / 'brand.yml'))}:\d+: ", message) and refused in message, message
    assert "static/site.css" in message or "focus" in message, message


def test_the_sites_own_colours_are_read_from_its_stylesheet_and_the_defaults_pass():
    colours = site_colours()
    assert {"surface", "pale", "mark", "notice", "secondary"} <= set(colours)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", value) for value in colours.values())
    default = load_brand(BRAND)
    assert contrast(default.colours["text"], colours["surface"]) >= 4.5


def test_the_buttons_take_the_brands_colour(site):
    """The search button stayed the site's default blue (#1d70b8) beside the hub's teal."""
    home = get(site, "/").text
    assert "--kb-button: #005a5b;" in home


def test_a_name_with_an_ampersand_or_apostrophe_is_in_each_title_once(corpus_db, tmp_path):
    """"Devon & Cornwall Councils' Hub" was compared, unescaped, with the escaped title of the page, so the
    home page's title read the name twice."""
    d = hub_brand(tmp_path)
    (d / "brand.yml").write_text((d / "brand.yml").read_text().replace(f"name: {HUB}", "name: \"Devon & Cornwall Councils' Hub\""))
    untitled = tmp_path / "untitled.yml"  # the site named by the brand alone
    untitled.write_text("license: OGL v3.0\n")
    served = make_datasette(corpus_db, metadata=untitled, brand=d)
    escaped = "Devon &amp; Cornwall Councils&#39; Hub"
    titles = {path: re.search(r"<title>(.*?)</title>", get(served, path).text, re.S).group(1)
              for path in ["/", "/about", "/kb/cases/barnet-capita-outsourcing", "/-/search?q=ict"]}
    assert titles["/"] == escaped
    for path, title in titles.items():
        assert title.count(escaped) == 1 and title.endswith(escaped), (path, title)


@pytest.mark.parametrize("page, line, said", [
    # a misspelt field made an empty link, and an unknown name nothing at all
    ("# About\n\nHello.\n\nWrite to [us]({{ contact.ulr }}).\n", 5, "ulr"),
    ("# About\n\nRun by {{ organisation }}.\n", 3, "organisation"),
    # the repository's link outside `{% if repository %}`, in a brand that gives none
    ("# About\n\nThe files: {{ repository.url }}\n", 3, "repository"),
    # the sandbox's refusal, and an error of the page's own, came only when a reader asked: a 500 for each
    ("# About\n\nHello {{ ''.__class__.__mro__ }}.\n", 3, "unsafe"),
    ("# About\n\n{{ 1 // 0 }}\n", 3, "division"),
])
def test_a_brand_page_that_would_fail_or_write_nothing_is_refused_with_its_line(corpus_db, tmp_path, page, line, said):
    d = hub_brand(tmp_path)
    (d / "about.md").write_text(page)
    with pytest.raises(SiteError) as err:
        load_brand(d)
    message = str(err.value)
    assert re.match(rf"{re.escape(str(d / 'brand.yml'))}:\d+: pages\.about\.file about\.md:{line}: ", message), message
    assert said in message, message


def test_a_brand_page_may_use_its_links_inside_their_ifs_whether_or_not_the_brand_gives_them(tmp_path):
    d = hub_brand(tmp_path)  # gives a contact, no repository, with the project's own pages
    assert "mailto:casestudies@hub.example.org" in load_brand(d).page_html("accessibility")
    assert "repository" not in load_brand(d).page_html("about")


def test_a_brand_page_written_without_a_heading_is_headed_by_its_title(corpus_db, tmp_path):
    """A publisher's privacy.md of two paragraphs, no `# heading`, made a page without a main heading (a
    screen reader's first way round a page; axe: page-has-heading-one)."""
    d = hub_brand(tmp_path)
    (d / "privacy.md").write_text("We keep the host's logs for 30 days.\n\nWe set no cookies.\n")
    served = make_datasette(corpus_db, brand=d)
    page = get(served, "/privacy").text
    assert re.findall(r"<h1[^>]*>(.*?)</h1>", page, re.S) == ["Privacy"]
    about = get(served, "/about").text  # one written with its own heading keeps it, once
    assert len(re.findall(r"<h1[^>]*>", about)) == 1
