"""The published site's configuration, in-process: another publisher's brand and metadata, hosting
under a sub-path, sitemap, robots.txt, the feed, security headers and the switches in metadata."""
import asyncio
import re
import shutil
import sqlite3
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.site import BRAND, COLOUR_PAIRS, MIN_CONTRAST, SiteError, contrast, load_brand, load_metadata, make_datasette

from .conftest import altered_copy

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082")
DEFAULT_TEXT = ["Council transformation case studies", "Powered by Datasette", "searchable knowledge base of English"]


def get(site, path):
    return asyncio.run(site.client.get(path))


@pytest.fixture(scope="module")
def other_brand(tmp_path_factory):
    d = tmp_path_factory.mktemp("northshire")
    (d / "crest.png").write_bytes(PNG)
    (d / "brand.yml").write_text("""name: Northshire Evidence Library
logo: crest.png
logo_alt: Northshire County Council crest
colours:
  text: "#0b0c0c"
  background: "#fdfcf7"
  link: "#6a1b4d"
  header_text: "#fdfcf7"
  header_background: "#2f4f2f"
  focus: "#ffdd00"
pages:
  about: {title: About Northshire's library, file: about.md}
  privacy: {title: Northshire privacy notice, file: privacy.md}
  accessibility: {title: Northshire accessibility statement, file: accessibility.md}
contact: {title: Tell the improvement team, url: "mailto:evidence@northshire.example"}
repository: https://git.northshire.example/evidence
""")
    (d / "about.md").write_text("# About Northshire's library\n\nRun by the Northshire improvement team.\n")
    (d / "privacy.md").write_text("# Northshire privacy notice\n\nWe keep server logs for 30 days.\n")
    (d / "accessibility.md").write_text("# Northshire accessibility statement\n\nTested with NVDA in 2025.\n")
    metadata = d.parent / "northshire-metadata.yml"
    metadata.write_text("title: Northshire evidence\ndescription: What worked in Northshire and elsewhere.\n"
                        "license: OGL v3.0\nsource: Northshire County Council\n")
    return d, metadata


@pytest.fixture(scope="module")
def branded(corpus_db, other_brand):
    brand, metadata = other_brand
    return make_datasette(corpus_db, metadata=metadata, brand=brand, base_url="/evidence/")


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src", "action") and value is not None:
                self.urls.append((tag, name, value))


def site_paths(html):
    """Every link, asset and form target on this host, as a path."""
    parser = Links()
    parser.feed(html)
    paths = [(tag, name, re.sub(r"^http://localhost(?=/)", "", url)) for tag, name, url in parser.urls]
    return [(tag, name, url) for tag, name, url in paths if url.startswith("/") and not url.startswith("//")]


def outside(prefix, database, html):
    """Links that leave the prefix, or carry it twice (a page of `database` is prefix + database + ...)."""
    twice = prefix + prefix.strip("/") + "/"
    return [u for u in site_paths(html) if not u[2].startswith(prefix)
            or (u[2].startswith(twice) and not u[2][len(prefix):].startswith(database + "/") and u[2][len(prefix):] != database)
            or u[2].startswith(prefix + database + "/" + prefix.strip("/") + "/")]


# -- brand --------------------------------------------------------------------------------------------

def test_another_brand_names_the_site_everywhere_and_no_default_text_leaks(branded):
    pages = {path: get(branded, path) for path in ["/", "/kb/cases", "/kb/cases/brighton-hove-reablement",
                                                   "/kb/sources/dclg-2014-good-practice-savings", "/about", "/privacy", "/accessibility", "/kb"]}
    for path, page in pages.items():
        assert page.status_code == 200, path
        text = page.text
        assert re.search(r"<title>(.*?)</title>", text, re.S).group(1).endswith(" - Northshire Evidence Library"), path
        assert '<img src="/evidence/kb-brand/crest.png" alt="Northshire County Council crest">' in text, path
        assert "--kb-link: #6a1b4d;" in text and "--kb-header-background: #2f4f2f;" in text
        for leaked in DEFAULT_TEXT:
            assert leaked not in text, (path, leaked)
    assert "<title>Northshire evidence - Northshire Evidence Library</title>" in pages["/"].text
    assert "Run by the Northshire improvement team." in pages["/about"].text
    assert "We keep server logs for 30 days." in pages["/privacy"].text
    assert "Tested with NVDA in 2025." in pages["/accessibility"].text
    footer = pages["/kb/cases"].text.split('<footer class="ft kb-footer">')[1]
    for slug, title in [("about", "About Northshire&#39;s library"), ("privacy", "Northshire privacy notice"),
                        ("accessibility", "Northshire accessibility statement")]:
        assert f'<a href="/evidence/{slug}">{title}</a>' in footer
    # the publisher's contact and repository, in every footer; the default brand gives neither
    assert '<a href="mailto:evidence@northshire.example">Tell the improvement team</a>' in footer
    assert '<a href="https://git.northshire.example/evidence">Source and contributions</a>' in footer
    assert get(branded, "/kb-brand/crest.png").content == PNG


def test_the_default_brand_is_unchanged_and_every_text_colour_reaches_aa(corpus_db):
    brand = load_brand(BRAND)
    assert brand.name == "Council transformation case studies" and brand.logo == "logo.svg"
    for fg, bg in COLOUR_PAIRS:
        assert contrast(brand.colours[fg], brand.colours[bg]) >= MIN_CONTRAST, (fg, bg)
    page = get(make_datasette(corpus_db), "/kb/cases")
    assert '<html lang="en-GB">' in page.text
    assert '<a class="kb-skip" href="#main">Skip to main content</a>' in page.text and '<main id="main"' in page.text
    assert "Powered by Datasette" not in page.text and '<a href="/about">About this site</a>' in page.text
    assert brand.links == [] and "Report a problem</a>" not in page.text


def test_contrast_is_wcag_arithmetic():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast("#777777", "#ffffff") < MIN_CONTRAST


def _brand_copy(tmp_path, replace=None):
    d = tmp_path / "brand"
    shutil.copytree(BRAND, d)
    if replace:
        text = (d / "brand.yml").read_text()
        assert replace[0] in text
        (d / "brand.yml").write_text(text.replace(*replace))
    return d


@pytest.mark.parametrize("replace, message", [
    (('link: "#1d4f91"', 'link: "#8ab4f8"'), r"brand\.yml:12: colours\.link #8ab4f8 on background #ffffff has contrast 2\.\d:1 - choose colours with at least 4\.5:1"),
    (('header_text: "#ffffff"', 'header_text: "#3a5f9a"'), r"brand\.yml:13: colours\.header_text #3a5f9a on header_background #1d4f91 has contrast 1\.\d:1"),
    (("logo: logo.svg", "logo: crest.png"), r"brand\.yml:6: logo 'crest\.png' is not a file in .* - put the picture beside brand\.yml"),
    (("file: privacy.md", "file: privacy-notice.md"), r"brand\.yml:\d+: pages\.privacy\.file 'privacy-notice\.md' is not a file"),
    (('text: "#1f2328"', "text: dark grey"), r"brand\.yml:10: colours\.text is 'dark grey' - give it as #rrggbb"),
    (("#   contact: {title", "contact: {title: Report a problem, url: our website}\n#   contact: {title"),
     r"brand\.yml:\d+: contact needs a url \(https://\.\.\. or mailto:\.\.\.\)"),
])
def test_a_bad_brand_is_one_line_naming_file_line_and_fix(tmp_path, replace, message):
    d = _brand_copy(tmp_path, replace)
    with pytest.raises(SiteError) as err:
        load_brand(d)
    assert re.search(message, str(err.value)), str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("replace, line, message", [
    # a missing entry is reported where it goes: under its mapping's key
    (("  privacy: {title: Privacy, file: privacy.md}\n", ""), 21, "pages.privacy needs a title and a file"),
    (('  focus: "#ffbf47"\n', ""), 9, "colours.focus is None"),
    (("privacy: {title: Privacy, file: privacy.md}", "privacy: {file: privacy.md}"), 23, "pages.privacy needs a title"),
    (("file: privacy.md", "file: privacy-notice.md"), 23, "pages.privacy.file 'privacy-notice.md' is not a file"),
    # a mapping written on one line: its keys are on that line
    (('colours:\n  text: "#1f2328"\n  background: "#ffffff"\n  link: "#1d4f91"\n  header_text: "#ffffff"\n'
      '  header_background: "#1d4f91"\n  # the outline round whatever has keyboard focus\n  focus: "#ffbf47"\n',
      'colours: {text: "#1f2328", background: "#ffffff", link: "#8ab4f8",\n'
      '  header_text: "#ffffff", header_background: "#1d4f91", focus: "#ffbf47"}\n'), 9, "colours.link #8ab4f8"),
    # a key is found in its own mapping, not wherever its name first appears in the file
    (("#   contact: {title", "repository: {title: Our files, url: https://example.org/kb}\n"
                          "contact:\n  title: Report a problem\n  url: our website\n#   contact: {title"), 30,
     "contact needs a url"),
    (("name: Council transformation case studies\n", ""), 1, "name is missing"),
])
def test_a_brand_error_names_the_line_where_the_fix_goes(tmp_path, replace, line, message):
    d = _brand_copy(tmp_path, replace)
    with pytest.raises(SiteError) as err:
        load_brand(d)
    assert str(err.value).startswith(f"{d / 'brand.yml'}:{line}: {message}"), str(err.value)


def _without_markup(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_the_brand_pages_promise_a_contact_or_repository_link_only_where_the_brand_gives_one(corpus_db, tmp_path):
    """The accessibility statement spoke of a "Report a problem" link at the foot of each page, and
    About of a public repository, whether or not the brand gives either."""
    plain = make_datasette(corpus_db, brand=_brand_copy(tmp_path / "plain"))
    about, statement = get(plain, "/about").text, get(plain, "/accessibility").text
    assert "repository" not in _without_markup(about) and "pull request" not in about
    assert "Report a problem" not in statement and "foot of each page" not in statement
    assert "please tell the site&#39;s publisher" in statement or "please tell the site's publisher" in statement
    assert "{%" not in about + statement and "{{" not in about + statement
    given = _brand_copy(tmp_path / "given", ("#   contact: {title", 'contact: {title: Report a problem, url: "https://example.org/issues"}\n'
                                             'repository: https://example.org/kb\n#   contact: {title'))
    served = make_datasette(corpus_db, brand=given)
    about, statement = get(served, "/about").text, get(served, "/accessibility").text
    assert '<a href="https://example.org/kb">public repository</a>' in about
    assert '<a href="https://example.org/issues">Report a problem</a>' in about
    assert '<a href="https://example.org/issues">Report a problem</a> (also at the foot of each page)' in statement
    footer = statement.split('<footer class="ft kb-footer">')[1]
    assert '<a href="https://example.org/issues">Report a problem</a>' in footer
    assert '<a href="https://example.org/kb">Source and contributions</a>' in footer


def test_a_brand_page_that_is_not_a_valid_template_is_refused_naming_its_line(tmp_path):
    d = _brand_copy(tmp_path)
    (d / "about.md").write_text("# About\n\nWrite to us{% if contact %} at {{ contact.url }}.\n")
    with pytest.raises(SiteError, match=r"brand\.yml:\d+: pages\.about\.file about\.md:3: .*a literal"):
        load_brand(d)


def test_kb_serve_refuses_a_bad_brand_before_starting(corpus_db, tmp_path):
    """...and before it looks at the port: what was asked for is the reader's to mend first (the port
    here is busy, as 8001 was when another server ran, and the brand's fault was not said)."""
    import socket

    d = _brand_copy(tmp_path, ('link: "#1d4f91"', 'link: "#cccccc"'))
    with socket.create_server(("127.0.0.1", 0)) as busy:
        result = CliRunner().invoke(cli, ["serve", "--db", str(corpus_db), "--brand", str(d),
                                          "--port", str(busy.getsockname()[1])])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "colours.link #cccccc" in result.stderr and "Traceback" not in result.output


# -- metadata and its switches --------------------------------------------------------------------------

def test_metadata_switches_off_sql_and_the_download_and_keeps_the_time_limits(corpus_db, tmp_path):
    metadata = tmp_path / "strict.yml"
    metadata.write_text("title: Strict\nallow_sql: false\nsettings:\n  allow_download: false\n")
    strict = make_datasette(corpus_db, metadata=metadata)
    assert get(strict, "/kb.json?sql=select+1").status_code == 403
    assert get(strict, "/kb.db").status_code == 403
    assert get(strict, "/kb/cases.json?_shape=array&_size=1").status_code == 200
    settings = get(strict, "/-/settings.json").json()
    assert settings["sql_time_limit_ms"] == 1000 and settings["facet_time_limit_ms"] == 500
    assert settings["allow_download"] is False
    # the defaults stay as they were: both on
    default = make_datasette(corpus_db)
    assert get(default, "/kb.json?sql=select+1").status_code == 200 and get(default, "/kb.db").status_code == 200


def test_a_bad_setting_names_its_line(tmp_path):
    metadata = tmp_path / "m.yml"
    metadata.write_text("title: x\nsettings:\n  allow_downloads: false\n")
    with pytest.raises(SiteError, match=r"m\.yml:3: 'allow_downloads' is not a Datasette setting"):
        load_metadata(metadata)
    metadata.write_text("title: x\nsettings: {allow_downloads: false}\n")
    with pytest.raises(SiteError, match=r"m\.yml:2: 'allow_downloads' is not a Datasette setting"):
        load_metadata(metadata)


def test_internal_tables_are_hidden(corpus_db):
    page = get(make_datasette(corpus_db), "/kb").text
    for internal in ("chunks", "case_vectors", "kb_meta", "cases_fts"):
        assert f'href="/kb/{internal}"' not in page
    assert 'href="/kb/cases"' in page


def test_security_headers_on_pages_data_and_assets(corpus_db):
    site = make_datasette(corpus_db)
    for path in ["/", "/kb/cases.json", "/-/static/app.css", "/kb-brand/logo.svg", "/robots.txt"]:
        headers = get(site, path).headers
        csp = headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["script-src"].split() == ["'self'", "'unsafe-inline'"], csp
        assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert not re.search(r"https?:|\*", csp)
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        assert "set-cookie" not in headers


# -- sub-path hosting -----------------------------------------------------------------------------------

PAGES_UNDER_PREFIX = ["/kb/cases", "/kb/cases?_facet=outcome&outcome=succeeded&_sort=title", "/kb/lessons?_next=50",
                      "/kb/cases/brighton-hove-reablement", "/kb/sources/dclg-2014-good-practice-savings", "/kb",
                      "/about", "/kb/recent_cases", "/kb/cases.json?_facet=outcome"]


@pytest.mark.parametrize("path", PAGES_UNDER_PREFIX)
def test_every_link_asset_and_form_keeps_the_base_url_once(branded, path):
    page = get(branded, path)
    assert page.status_code == 200
    if path.startswith("/kb/cases.json"):
        data = page.json()
        urls = [v["toggle_url"] for f in data["facet_results"].values() for v in f["results"]]
        assert urls and all(u.startswith("http://localhost/evidence/kb/cases.json?") for u in urls)
        return
    assert outside("/evidence/", "kb", page.text) == []


@pytest.fixture(scope="module")
def under_kb(corpus_db):
    # the README's example: kb.db under /kb/, so pages are /kb/kb/cases and a double prefix is /kb/kb/kb/...
    return make_datasette(corpus_db, base_url="/kb/")


@pytest.mark.parametrize("path", PAGES_UNDER_PREFIX[:6])
def test_a_prefix_named_like_the_database_works_too(under_kb, path):
    page = get(under_kb, path)
    assert page.status_code == 200
    assert outside("/kb/", "kb", page.text) == []
    assert 'href="/kb/kb/cases' in page.text or path.startswith(("/kb/cases/", "/kb/sources/"))


@pytest.mark.parametrize("path", ["/", "/-/search?q=sharing+staff"])
def test_home_and_search_links_stay_under_the_base_url(branded, path):
    page = get(branded, path)
    assert page.status_code == 200
    assert outside("/evidence/", "kb", page.text) == []


# -- sitemap, robots.txt, feed ------------------------------------------------------------------------------

def test_sitemap_lists_every_case_and_source_page_under_the_base_url(branded, corpus_db):
    body = get(branded, "/sitemap.xml")
    assert body.status_code == 200 and body.headers["content-type"].startswith("application/xml")
    locs = [e.text for e in ET.fromstring(body.text).iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")]
    conn = sqlite3.connect(corpus_db)
    cases = [r[0] for r in conn.execute("select id from cases")]
    sources = [r[0] for r in conn.execute("select id from sources")]
    expected = {f"http://localhost/evidence/kb/cases/{c}" for c in cases} | {f"http://localhost/evidence/kb/sources/{s}" for s in sources}
    assert expected <= set(locs) and "http://localhost/evidence/about" in locs
    # the charts are a reader's page too, not one of the search's or Datasette's own under /-/
    assert "http://localhost/evidence/-/charts" in locs
    assert len(locs) == len(set(locs)) == len(expected) + 5


def test_robots_allows_pages_and_keeps_crawlers_off_sql_exports_and_facets(branded):
    robots = get(branded, "/robots.txt").text.splitlines()
    assert robots[0] == "User-agent: *"
    for line in ["Disallow: /evidence/kb?", "Disallow: /evidence/kb/*?", "Disallow: /evidence/*.json",
                 "Disallow: /evidence/*.csv", "Disallow: /evidence/kb.db", "Disallow: /evidence/-/",
                 "Allow: /evidence/-/static/", "Allow: /evidence/-/charts$", "Allow: /evidence/",
                 "Sitemap: http://localhost/evidence/sitemap.xml"]:
        assert line in robots
    # as RFC 9309 reads them: the longest matching rule wins ("Allow: /-/charts" let crawlers into its exports)
    import re
    rules = [(line.split(":", 1)[0] == "Allow", line.split(":", 1)[1].strip()) for line in robots
             if line.split(":", 1)[0] in ("Allow", "Disallow")]

    def allowed(path):
        found = [(len(rule), allow) for allow, rule in rules
                 if re.match(re.escape(rule).replace(r"\*", ".*").replace(r"\$", "$"), path)]
        return max(found, default=(0, True))[1]
    assert allowed("/evidence/-/charts") and allowed("/evidence/kb/cases/barnet-capita-outsourcing")
    # the site's own CSS and script, which a crawler needs to render a page (Datasette's were allowed, ours not)
    assert allowed("/evidence/-/kb-static/site.css") and allowed("/evidence/-/kb-static/site.js")
    for path in ("/evidence/-/charts.json", "/evidence/-/charts.csv", "/evidence/-/search?q=x", "/evidence/kb/cases.csv"):
        assert not allowed(path), path


ATOM = "{http://www.w3.org/2005/Atom}"


def _feed(site):
    response = get(site, "/kb/recent_cases.atom")
    assert response.status_code == 200
    return ET.fromstring(response.text)


def test_feed_falls_back_to_the_build_time_without_git_dates(corpus_db, tmp_path):
    # a build from a tarball has no git history, so no dates
    db = altered_copy(corpus_db, tmp_path, "update cases set first_added = null, last_changed = null")
    feed = _feed(make_datasette(db))
    built = sqlite3.connect(db).execute("select built_at from build_info").fetchone()[0]
    entries = feed.findall(f"{ATOM}entry")
    assert feed.find(f"{ATOM}title").text == "New and changed cases - Council transformation case studies"
    assert len(entries) == 50
    assert {e.find(f"{ATOM}updated").text[:19] for e in entries} == {built[:19]}
    assert all(e.find(f"{ATOM}id").text.startswith("urn:uuid:") for e in entries)
    assert entries[0].find(f"{ATOM}link").get("href").startswith("http://localhost/kb/cases/")


def test_feed_uses_first_added_and_last_changed_when_the_build_wrote_them(corpus_db, tmp_path):
    db = altered_copy(corpus_db, tmp_path,
                      "update cases set first_added = '2023-01-05', last_changed = '2023-01-05T10:00:00+00:00'",
                      "update cases set last_changed = '2025-06-01T09:30:00+01:00' where id = 'brighton-hove-reablement'",
                      "update cases set first_added = '2025-03-02', last_changed = '2025-03-02' where id = 'barnet-capita-outsourcing'")
    site = make_datasette(db)
    entries = _feed(site).findall(f"{ATOM}entry")
    first, second = entries[0], entries[1]
    assert first.find(f"{ATOM}link").get("href") == "http://localhost/kb/cases/brighton-hove-reablement"
    assert first.find(f"{ATOM}updated").text.startswith("2025-06-01T08:30:00")
    assert first.find(f"{ATOM}content").text.startswith("Added 5 January 2023; changed 1 June 2025. ")
    assert second.find(f"{ATOM}link").get("href") == "http://localhost/kb/cases/barnet-capita-outsourcing"
    assert second.find(f"{ATOM}content").text.startswith("Added 2 March 2025. ")
    # every page links the feed, and the home page's template gets the newest few as kb_recent
    home = get(site, "/").text
    assert '<link rel="alternate" type="application/atom+xml" title="New and changed cases" href="/kb/recent_cases.atom">' in home
    listing = site.jinja_env.from_string("{% for c in kb_recent.cases %}{{ c.url }} {{ c.updated }}|{% endfor %}{{ kb_recent.feed_url }}")
    rendered = asyncio.run(site.render_template(listing, {}, view_name="index"))
    assert rendered.startswith("/kb/cases/brighton-hove-reablement 2025-06-01|/kb/cases/barnet-capita-outsourcing 2025-03-02|")
    assert rendered.count("|") == 5 and rendered.endswith("|/kb/recent_cases.atom")


def test_kb_serve_passes_metadata_brand_settings_and_base_url_to_datasette(corpus_db, other_brand, tmp_path):
    from kb.site import Site

    brand, _ = other_brand
    metadata = tmp_path / "m.yml"
    metadata.write_text("title: x\nsettings:\n  allow_download: false\n  sql_time_limit_ms: 800\n")
    args = Site(corpus_db, metadata, brand, "evidence").serve_args("127.0.0.1", 9001)
    pairs = list(zip(args, args[1:]))
    assert ("--metadata", str(metadata)) in pairs and ("--static", f"kb-brand:{brand}") in pairs
    assert ("-i", str(corpus_db)) in pairs and ("--host", "127.0.0.1") in pairs
    settings = [tuple(args[i + 1:i + 3]) for i, a in enumerate(args) if a == "--setting"]
    assert ("allow_download", "off") in settings and ("sql_time_limit_ms", "800") in settings
    assert ("base_url", "/evidence/") in settings and ("facet_time_limit_ms", "500") in settings


def _link_header_urls(value):
    """The URIs of an RFC 8288 Link header, each of which must sit in <...>."""
    assert all(part.strip().startswith("<") for part in re.split(r",\s*(?=<|https?:)", value)), value
    return re.findall(r"<([^>]+)>", value)


@pytest.mark.parametrize("path", ["/", "/kb/cases", "/kb/cases/brighton-hove-reablement", "/kb/cases.json"])
def test_link_headers_keep_the_base_url_once_and_are_well_formed(branded, path):
    """Datasette 0.65 put the prefix twice into the Link headers (the JSON alternate of every page,
    the next page of JSON) under a sub-path, and wrote the HTML pages' one without the <...> that
    RFC 8288 requires, so a client or CDN following them got a 400 or could not parse them."""
    response = get(branded, path)
    assert response.status_code == 200
    urls = _link_header_urls(response.headers["link"])
    assert urls
    for url in urls:
        assert url.startswith("http://localhost/evidence/") and "/evidence/evidence/" not in url
        assert not url.startswith("http://localhost/evidence/kb/kb/"), url
        assert get(branded, url.removeprefix("http://localhost/evidence")).status_code == 200, url


def test_a_metadata_file_without_a_title_names_the_site_by_the_brand_not_the_default(corpus_db, other_brand, tmp_path):
    """README: `--metadata FILE` replaces metadata.yml; a publisher's file without `title:` put the
    project's own name into the home page's title and heading, og:title, og:site_name and how to cite a case."""
    brand, _ = other_brand
    metadata = tmp_path / "untitled.yml"
    metadata.write_text("license: OGL v3.0\nsource: Northshire County Council\n")
    site = make_datasette(corpus_db, metadata=metadata, brand=brand)
    home, case = get(site, "/").text, get(site, "/kb/cases/brighton-hove-reablement").text
    for page in (home, case):
        for leaked in DEFAULT_TEXT:
            assert leaked not in page, leaked
    assert "<title>Northshire Evidence Library</title>" in home
    assert '<meta property="og:title" content="Northshire Evidence Library">' in home
    assert re.search(r"<h1>\s*Northshire Evidence Library\s*</h1>", home)
    assert '<meta property="og:site_name" content="Northshire Evidence Library">' in case
    assert re.search(r"&rdquo;\. Northshire Evidence Library, (last changed|as published on) ", case)


def test_the_feed_names_its_publisher_and_links_every_entry_absolutely(branded, corpus_db):
    """A feed is read away from the site (feed readers, aggregators, e-mail digests): its entries
    linked bare paths (/evidence/kb/cases/...), it named no author (RFC 4287 requires one) and its
    title said nothing of whose feed it was."""
    response = get(branded, "/kb/recent_cases.atom")
    assert response.status_code == 200
    feed = ET.fromstring(response.text)
    assert feed.find(f"{ATOM}title").text == "New and changed cases - Northshire evidence"
    assert feed.find(f"{ATOM}author/{ATOM}name").text == "Northshire Evidence Library"
    alternate = [link.get("href") for link in feed.findall(f"{ATOM}link") if link.get("rel") == "alternate"]
    assert alternate == ["http://localhost/evidence/"]
    ids = {r[0] for r in sqlite3.connect(corpus_db).execute("select id from cases")}
    links = [e.find(f"{ATOM}link").get("href") for e in feed.findall(f"{ATOM}entry")]
    assert len(links) == 50
    for link in links:
        assert link.startswith("http://localhost/evidence/kb/cases/") and link.rsplit("/", 1)[1] in ids, link
    assert get(branded, links[0].removeprefix("http://localhost/evidence")).status_code == 200
    for leaked in DEFAULT_TEXT:
        assert leaked not in response.text


def test_responses_can_be_cached_by_a_cdn_even_for_readers_who_carry_cookies(branded):
    """Under a sub-path of a council's own site, readers send that site's cookies (consent, analytics);
    Datasette then marked every response `private, no-store`, so no CDN or browser kept any page. The
    search page, the home page, robots.txt, the sitemap and the brand's files said nothing at all, and
    Datasette's own pages were cacheable for 5 s. The site reads no cookie, so they are dropped, and
    every successful answer may be kept for the cache TTL; an error is never kept."""
    ttl = branded.setting("default_cache_ttl")
    assert ttl >= 300
    cookies = {"_ga": "GA1.2.3", "cookie_consent": "yes"}
    for path in ["/", "/kb/cases", "/kb/cases/brighton-hove-reablement", "/-/search?q=sharing+staff", "/kb/cases.json",
                 "/kb/recent_cases.atom", "/sitemap.xml", "/robots.txt", "/about", "/kb-brand/crest.png", "/-/static/app.css"]:
        response = asyncio.run(branded.client.get(path, cookies=cookies))
        assert response.status_code == 200, path
        assert response.headers.get("cache-control") == f"public, max-age={ttl}", (path, response.headers.get("cache-control"))
        assert "cookie" not in response.headers.get("vary", "").lower(), path
        assert "set-cookie" not in response.headers
    for path in ["/kb/cases/no-such-case", "/kb/cases?_sort=nope"]:
        response = asyncio.run(branded.client.get(path, cookies=cookies))
        assert response.status_code >= 400 and response.headers.get("cache-control") == "no-store", path
    # a versioned asset keeps its own year-long, immutable policy
    css = re.search(r'href="/evidence(/-/kb-static/site\.css\?v=[^"]+)"', get(branded, "/").text).group(1)
    assert get(branded, css).headers["cache-control"] == "public, max-age=31536000, immutable"


def test_a_brand_edited_under_a_running_site_shows_on_its_next_page(corpus_db, tmp_path):
    """The brand's template variables are worked out once per version of brand.yml, not once per site."""
    import os

    given = _brand_copy(tmp_path)
    site = make_datasette(corpus_db, brand=given)
    name = load_brand(given).name
    assert f">{name}<" in get(site, "/-/search?q=leisure").text
    text = (given / "brand.yml").read_text()
    (given / "brand.yml").write_text(text.replace(f"name: {name}", "name: Wessex Evidence Hub", 1))
    stat = os.stat(given / "brand.yml")
    os.utime(given / "brand.yml", ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))  # a later edit, whatever the clock
    again = get(site, "/-/search?q=leisure").text
    assert ">Wessex Evidence Hub<" in again and f">{name}<" not in again
