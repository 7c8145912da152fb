"""An eighth look at the site as a publisher shares it: the picture a shared link shows, and the
all-tables page's offer of the whole database. In-process, on the stand-in-model corpus."""
import asyncio
import hashlib
import os
import re

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.site import BRAND, PROJECT_CARD, SiteError, load_brand, make_datasette
from tests.live_server import free_port
from tests.test_publisher_review7 import HUB, hub_brand

PREFIX = "/casestudies/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def get(site, path):
    return asyncio.run(site.client.get(path))


def card_brand(folder, card="hub-card.png", content=PNG, alt="The hub's case studies"):
    d = hub_brand(folder)
    if content is not None:
        (d / card).write_bytes(content)
    text = re.sub(r"(?m)^card: .*\n", f"card: {card}\n", (d / "brand.yml").read_text())
    (d / "brand.yml").write_text(re.sub(r"(?m)^card_alt: .*\n", f'card_alt: "{alt}"\n', text))
    return d


def test_the_projects_card_is_the_one_its_hash_names():
    """A renamed brand leaves out the project's card by its hash: a new card.png must be hashed again."""
    assert hashlib.sha256((BRAND / "card.png").read_bytes()).hexdigest() == PROJECT_CARD["sha256"]
    assert load_brand(BRAND).name == PROJECT_CARD["name"] and load_brand(BRAND).card == "card.png"


def test_a_shared_page_shows_the_brands_card_at_its_full_address(corpus_db, tmp_path):
    """A link pasted into an email, a chat or a post showed the title and description but no picture:
    no page named one (og:image), and previews need its full address, under the sub-path."""
    site = make_datasette(corpus_db, brand=card_brand(tmp_path), base_url=PREFIX)
    for path in ["/", "/kb/cases/barnet-capita-outsourcing", "/-/search?q=shared+ICT"]:
        page = get(site, path).text
        image = re.search(r'<meta property="og:image" content="([^"]+)">', page)
        assert image and re.fullmatch(rf"https?://[^/]+{PREFIX}kb-brand/hub-card\.png", image.group(1)), path
        assert '<meta property="og:image:alt" content="The hub&#39;s case studies">' in page, path
        assert '<meta name="twitter:card" content="summary_large_image">' in page, path
    assert get(site, "/kb-brand/hub-card.png").status_code == 200


def test_a_brand_without_a_card_shows_a_plain_preview(corpus_db, tmp_path):
    d = hub_brand(tmp_path)
    (d / "brand.yml").write_text(re.sub(r"(?m)^card(_alt)?: .*\n", "", (d / "brand.yml").read_text()))
    page = get(make_datasette(corpus_db, brand=d), "/").text
    assert "og:image" not in page and '<meta name="twitter:card" content="summary">' in page


def test_a_copied_brand_never_shares_the_projects_card(corpus_db, tmp_path, monkeypatch):
    """brand/ copied and renamed, as the README says, kept card.png, which prints the project's name:
    every link the hub shared would have shown it. It is left out, and `kb serve` says so."""
    d = hub_brand(tmp_path)
    brand = load_brand(d)
    assert brand.name == HUB and brand.card is None
    assert "og:image" not in get(make_datasette(corpus_db, brand=d), "/").text
    monkeypatch.setattr(os, "execv", lambda *args: None)  # `kb serve` becomes Datasette by exec once checked
    result = CliRunner().invoke(cli, ["serve", "--db", str(corpus_db), "--brand", str(d), "--port", str(free_port())])
    assert "card card.png is the project's own picture" in result.stderr and "make your own" in result.stderr


@pytest.mark.parametrize("card, content, said", [
    ("missing.png", None, r"card 'missing.png' is not a file in .* - put the picture \(PNG or JPEG, 1200 x 630"),
    # chat and social sites show no SVG: a publisher who gave its logo would have had no picture, silently
    ("hub-logo.svg", None, r"card 'hub-logo.svg' is not a PNG, JPEG or GIF - link previews show no other kind"),
    ("card.webp", b"RIFF\0\0\0\0WEBPVP8 ", r"card 'card.webp' is not a PNG, JPEG or GIF"),
])
def test_a_card_previews_cannot_show_is_refused_with_its_line(tmp_path, card, content, said):
    d = card_brand(tmp_path, card=card, content=content)
    line = next(n for n, text in enumerate((d / "brand.yml").read_text().splitlines(), 1) if text.startswith("card:"))
    with pytest.raises(SiteError, match=rf"brand\.yml:{line}: {said}"):
        load_brand(d)


@pytest.mark.parametrize("content", [b"\xff\xd8\xff\xe0" + b"\0" * 16, b"GIF89a" + b"\0" * 16])
def test_a_jpeg_or_gif_card_is_taken(tmp_path, content):
    assert load_brand(card_brand(tmp_path, card="hub-card.jpg", content=content)).card == "hub-card.jpg"


def test_the_whole_database_is_offered_in_words_not_by_its_file_name(corpus_db):
    """The all-tables page said "Download SQLite DB: kb.db", a link named by the file, which tells a
    reader nothing of what it holds."""
    page = get(make_datasette(corpus_db), "/kb").text
    assert "Download SQLite DB" not in page
    link = re.search(r'<a href="/kb\.db" download>([^<]+)</a> \(([^)]+)\)', page)
    assert link and link.group(1) == "Download all the data as one SQLite database file"
    assert re.fullmatch(r"[\d.]+ [KMG]?B", link.group(2)), link.group(2)
