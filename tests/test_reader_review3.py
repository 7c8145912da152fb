"""A third reading of the published site as a council officer, a screen-reader user, a keyboard-only
user and a phone user would meet it: a filter whose counts leave most rows out, a figure shown as less
than it prints, page titles a screen reader reads aloud, links that mean nothing read alone, dead ends."""
import re
import sqlite3
from html import unescape

import pytest

from kb.site import make_datasette

from .pages import get, text


@pytest.fixture(scope="module")
def site(corpus_db):
    return make_datasette(corpus_db)




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


# -- a page's title, the first thing a screen reader says, says what and where ------------------------
def title(html: str) -> str:
    return unescape(re.search(r"<title>(.*?)</title>", html, re.S).group(1)).strip()


def own_title(html: str) -> str:
    """The title without the site's name after it."""
    return re.sub(r" - [^-]+$", "", title(html))


@pytest.mark.parametrize("path", ["/-/search?q=care&min_savings=lots", "/-/search?q=care&mode=psychic",
                                  "/-/compare?id=brighton-hove-reablement",
                                  "/-/compare?id=brighton-hove-reablment&id=west-suffolk-shared-staffing-structure"])
def test_a_page_that_could_not_do_what_was_asked_says_so_in_its_title(site, path):
    """A search that could not run was titled "care - search case studies", as if it had: a screen reader
    reads the title when the page opens, and the alert under it is not read on a page's first load."""
    page = get(site, path)
    assert page.status_code >= 400
    assert title(page.text).startswith("Error: "), title(page.text)


def test_a_working_search_is_not_titled_as_an_error(site):
    assert not title(get(site, "/-/search?q=care").text).startswith("Error")


def test_a_long_query_or_lesson_gives_a_title_that_can_be_read_out(site, corpus_db):
    """A pasted paragraph made the whole paragraph the title, before the words that say which page this is;
    a lesson's page was titled with the whole lesson."""
    paragraph = ("We are a small district council in the East of England facing a budget gap of three million "
                 "pounds over the next three years and are considering sharing a chief executive with a neighbour")
    for path in (f"/-/search?q={paragraph.replace(' ', '+')}", f"/-/search?q={'care+' * 400}"):
        said = own_title(get(site, path).text)
        assert len(said) <= 120 and re.search(r" - search case studies(: [\d,]+ found(, none a close match)?)?$", said), said
    lesson_id, lesson = max(sqlite3.connect(corpus_db).execute("select id, text from lessons"), key=lambda r: len(r[1]))
    assert len(lesson) > 200
    page = get(site, "/kb/lessons/" + lesson_id.replace("#", "~23")).text
    said = own_title(page)
    assert len(said) <= 110 and said.startswith("Lessons and findings: "), said
    assert lesson in text(re.search(r"<h1>(.*?)</h1>", page, re.S).group(1)), "the heading keeps the whole lesson"


# -- every page of the site is reachable from the site's navigation ---------------------------------------
@pytest.mark.parametrize("path", ["/", "/-/search?q=care", "/kb/cases", "/kb/cases/brighton-hove-reablement", "/-/charts",
                                  "/about", "/kb", "/no/such/page"])
def test_the_site_navigation_leads_everywhere_and_the_breadcrumbs_hold_only_the_trail(site, path):
    """The charts were reachable only from an unlabelled icon (Datasette's menu, "☰"), and that menu sat
    inside the Breadcrumbs landmark, so a screen reader announced it as part of where the page sits."""
    page = get(site, path).text
    nav = re.search(r'<nav class="kb-nav" aria-label="Site">(.*?)</nav>', page, re.S).group(1)
    hrefs = re.findall(r'href="([^"]+)"', nav)
    assert {"/-/search", "/kb/cases", "/kb/lessons", "/-/charts", "/about"} <= set(hrefs), hrefs
    assert len(hrefs) == len(set(hrefs)), hrefs
    crumbs = re.search(r'<nav class="kb-crumbs" aria-label="Breadcrumbs">(.*?)</nav>', page, re.S).group(1)
    assert re.fullmatch(r'\s*(<ol class="kb-trail">.*?</ol>)?\s*', crumbs, re.S), crumbs
    assert 'class="nav-menu"' not in page


# -- each link says where it goes when read alone, as in a screen reader's list of links -----------------
def link_names(html: str) -> list[tuple[str, str]]:
    """Each link's accessible name (its aria-label, else its text with visually hidden words) and address."""
    html = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)
    main = re.search(r"<main\b.*?</main>", html, re.S).group(0)
    out = []
    for attrs, inner in re.findall(r"<a ([^>]*)>(.*?)</a>", main, re.S):
        href = re.search(r'href="([^"]*)"', attrs)
        label = re.search(r'aria-label="([^"]*)"', attrs)
        name = unescape(label.group(1)) if label else text(inner)
        out.append((name, unescape(href.group(1)) if href else ""))
    return out


VAGUE = {"json", "csv", "its case", "the report itself", "here", "more", "link", "this"}


@pytest.mark.parametrize("path", ["/-/search?q=shared+services", "/-/search?q=digital&target=lessons", "/kb/cases",
                                  "/kb/lessons?council_types__arraycontains=district-council", "/kb/figures",
                                  "/kb/sources/lga-2016-transformational-models",
                                  "/kb/lessons/barnet-capita-outsourcing~23lesson-1",
                                  "/kb/figures/barnet-capita-outsourcing~231", "/kb/terms/approaches,insourcing"])
def test_no_link_is_named_only_json_csv_or_its_case(site, path):
    """"JSON", "CSV", "its case" and "the report itself" say nothing in a list of a page's links."""
    names = [n for n, _ in link_names(get(site, path).text)]
    assert names
    vague = [n for n in names if n.lower() in VAGUE]
    assert not vague, vague


def test_no_two_links_on_a_case_page_share_a_name_but_lead_apart(site, corpus_db):
    """Barnet's page had two links called "the report itself", to two reports."""
    ids = [i for (i,) in sqlite3.connect(corpus_db).execute("select id from cases order by id")]
    for case_id in ids:
        names = link_names(get(site, f"/kb/cases/{case_id}").text)
        vague = [n for n, _ in names if n.lower() in VAGUE]
        assert not vague, (case_id, vague)
        targets: dict = {}
        for name, href in names:
            targets.setdefault(name.lower(), set()).add(href)
        clash = {n: t for n, t in targets.items() if len(t) > 1}
        assert not clash, (case_id, clash)


# -- a table's word search that finds nothing is not a dead end -----------------------------------------
@pytest.mark.parametrize("path, target", [("/kb/lessons?_search=digtal", "lessons"),
                                          ("/kb/cases?_search=outsorcing&council_types__arraycontains=london-borough", "cases")])
def test_a_table_search_that_finds_nothing_offers_the_site_search_for_the_same_words(site, path, target):
    """The lessons table's search box found nothing for "digtal" and said only "Nothing matches these
    filters": the site's search, which corrects the spelling and searches by meaning, was not offered."""
    from urllib.parse import parse_qs, urlsplit
    page = get(site, path).text
    empty = re.search(r'<p class="kb-empty">(.*?)</p>', page, re.S).group(1)
    offer = next((href for name, href in link_names(f"<main>{empty}</main>") if name.startswith("Search ")), None)
    assert offer, empty
    asked = parse_qs(urlsplit(offer).query)
    words = parse_qs(urlsplit(path).query)["_search"]
    assert asked["q"] == words and asked.get("target", ["cases"]) == [target], offer
    found = get(site, offer.replace("/-/search?", "/-/search.json?")).json()
    assert found["total"] > 0 and found.get("corrected_query"), found.get("corrected_query")
    if "council_types__arraycontains" in path:
        assert asked["council_types"] == ["london-borough"]


# -- a reader's words, not the database's ------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/-/charts", "/kb/cases", "/kb/terms", "/kb/organisations", "/kb/lessons"])
def test_counts_are_of_things_a_reader_knows_not_rows_or_values(site, path):
    """The charts said "20 approach values with an achieved yearly saving"; every table's filters said
    "Each number is how many rows you will see"."""
    page = text(re.search(r"<main\b.*?</main>", get(site, path).text, re.S).group(0))
    assert not re.search(r"\b\d+ [a-z ]+ values with\b|how many rows\b", page), re.findall(r".{40}(?:values|rows)\b.{20}", page)


# -- summed figures say when and where they come from -------------------------------------------------------
def test_the_charts_say_which_years_and_reports_their_savings_come_from(site, corpus_db):
    """The charts added up savings from cases of different years and five reports, and said neither when
    they were made nor where they were printed, nor that pounds of 2008 and of 2020 are added as printed."""
    conn = sqlite3.connect(corpus_db)
    counted = """from figures f join cases c on c.id = f.case_id
                 where f.kind = 'saving' and f.amount_gbp is not null and f.status in ('achieved', 'planned', 'projected')"""
    first, last = conn.execute(f"select min(c.year_start), max(coalesce(c.year_end, c.year_start)) {counted}").fetchone()
    sources = [r for r in conn.execute(f"select distinct f.source_id {counted}")]
    page = get(site, "/-/charts").text
    lede = text(re.search(r'<p class="kb-lede">.*?<ul class="kb-charts-nav">', page, re.S).group(0))
    assert f"{first} to {last}" in lede and "not adjusted for inflation" in lede, lede
    for (source_id,) in sources:
        assert f'href="/kb/sources/{source_id}"' in page, source_id
    from tests.test_reader_review import _nested_brackets
    assert not _nested_brackets(page), _nested_brackets(page)  # "(Localis (with the support of Civica), 2013)"


# -- dates as a reader writes them ------------------------------------------------------------------------
def test_date_words():
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("kb_present_t", Path(__file__).parent.parent / "plugins" / "kb_present.py")
    present = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(present)
    assert present.date_words("2014-12") == "December 2014"
    assert present.date_words("2021-08-11") == "11 August 2021"
    assert present.date_words("2026-12-02T03:48:24Z") == "2 December 2026"
    assert present.date_words("2016") == "2016"
    assert present.date_words("spring 2016") == "spring 2016" and present.date_words(None) == ""


@pytest.mark.parametrize("path", ["/", "/kb/sources", "/kb/sources/dclg-2014-good-practice-savings",
                                  "/kb/cases/barnet-capita-outsourcing",
                                  "/-/compare?id=barnet-capita-outsourcing&id=brighton-hove-reablement"])
def test_a_reports_date_reads_in_words(site, path):
    """Reports were dated "2014-12" and "2021-08-11", as a database stores them."""
    page = text(re.search(r"<main\b.*?</main>", get(site, path).text, re.S).group(0))
    assert "December 2014" in page and not re.search(r"\b(?:19|20)\d\d-(?:0[1-9]|1[0-2])\b", page), re.findall(r".{30}\b20\d\d-\d\d.{10}", page)


# -- a page shared in an email, a chat or a post shows what it is ------------------------------------------
def head_meta(html: str) -> dict:
    head = re.search(r"<head>(.*?)</head>", html, re.S).group(1)
    out = {}
    for tag in re.findall(r"<(?:meta|link) [^>]*>", head):
        key = re.search(r'(?:name|property|rel)="([^"]+)"', tag)
        value = re.search(r'(?:content|href)="([^"]*)"', tag)
        if key and value:
            out.setdefault(key.group(1), []).append(unescape(value.group(1)))
    return out


@pytest.mark.parametrize("path", ["/", "/kb/cases/barnet-capita-outsourcing", "/kb/sources/dclg-2014-good-practice-savings",
                                  "/-/charts", "/about", "/accessibility", "/kb/lessons/barnet-capita-outsourcing~23lesson-1"])
def test_a_page_people_share_says_its_title_description_and_one_address(site, path):
    """Only case pages had a canonical address and sharing title; a source page, the charts and the about
    page shared as the bare address (and a source page's address with ?anything was a second page)."""
    page = get(site, path + "?utm_source=newsletter").text
    meta = head_meta(page)
    here = "http://localhost" + path
    assert meta.get("canonical") == [here] and meta.get("og:url") == [here], (meta.get("canonical"), meta.get("og:url"))
    assert meta.get("og:title") == [own_title(page) if path != "/" else title(page)], meta.get("og:title")
    assert meta.get("og:site_name") and meta.get("og:type")
    assert len(meta.get("description", [])) == 1 and len(meta["description"][0]) > 40, meta.get("description")
    assert meta.get("og:description") == meta["description"]


@pytest.mark.parametrize("path", ["/-/search?q=care", "/kb/cases?council_types__arraycontains=district-council",
                                  "/-/compare?id=barnet-capita-outsourcing&id=brighton-hove-reablement"])
def test_a_page_made_by_its_query_names_itself_but_claims_no_single_address(site, path):
    meta = head_meta(get(site, path).text)
    assert "canonical" not in meta and meta.get("og:title"), meta


def test_nothing_is_written_between_the_head_and_the_body(site):
    for path in ("/", "/kb/cases/barnet-capita-outsourcing", "/about", "/-/charts", "/-/search?q=care", "/kb/cases"):
        page = get(site, path).text
        assert re.search(r"</head>\s*<body\b", page), (path, page[page.index("</head>"):page.index("</head>") + 120])


def test_no_filter_is_named_by_a_list_of_its_own_values(site):
    """The savings filter was called "Savings (planned, achieved, projected)", so a chip read
    "Savings (planned, achieved, projected): Achieved" and the home page offered filters by "savings
    (planned, achieved, projected)"."""
    page = get(site, "/-/search?q=care&saving_statuses=achieved").text
    chip = text(re.search(r'class="kb-chip"[^>]*>(.*?)</a>', page, re.S).group(1))
    assert chip.count("chieved") == 1 and "(" not in chip, chip
    home = text(get(site, "/").text)
    assert "(planned, achieved, projected)" not in home


def test_a_words_only_search_that_finds_nothing_offers_the_search_by_meaning(site):
    """Searching only for pages containing the words found nothing and said only
    "try other words"; the way to search by meaning too was behind "About this search"."""
    from urllib.parse import parse_qs, urlsplit
    page = get(site, "/-/search?q=zzqxv&mode=keyword&council_types=district-council").text
    empty = re.search(r'<div class="kb-empty">(.*?)</div>', page, re.S).group(1)
    offer = next((href for name, href in link_names(f"<main>{empty}</main>") if "by meaning" in name), None)
    assert offer, empty
    asked = parse_qs(urlsplit(offer).query)
    assert "mode" not in asked and asked["q"] == ["zzqxv"] and asked["council_types"] == ["district-council"], asked
    assert get(site, offer.replace("/-/search?", "/-/search.json?")).json()["total"] > 0


# -- an address a reader cannot use says why in words, and offers the page it can ------------------------
@pytest.mark.parametrize("path, setting", [("/kb/cases?council_types__arraycontains=district-council&_size=abc", "_size"),
                                           ("/kb/cases?_size=100000", "_size"),
                                           ("/kb/cases?_sort=title&_sort_desc=title", "_sort_desc"),
                                           ("/kb/lessons?_search_nonsense=care", "_search_nonsense")])
def test_a_table_address_with_a_setting_it_cannot_use_says_so_in_words_and_offers_the_page_without(site, path, setting):
    """The page said "_size must be a positive integer" or "Cannot use _sort and _sort_desc at the same
    time", Datasette's words for its own parameters, and offered only the home page."""
    from urllib.parse import parse_qsl, urlsplit
    page = get(site, path)
    assert page.status_code == 400
    box = text(re.search(r'<div class="kb-error-box">(.*?)</div>', page.text, re.S).group(1))
    assert not re.search(r"\b_\w+ must\b|Cannot use _|Cannot search by that column", box), box
    assert f"\u201c{setting}\u201d" in box, box
    offer = next((href for name, href in link_names(page.text) if name.startswith("The same page without")), None)
    assert offer, link_names(page.text)
    kept = parse_qsl(urlsplit(offer).query)
    assert setting not in dict(kept) and ("council_types__arraycontains" in dict(kept)) == ("council_types" in path), kept
    assert get(site, offer).status_code == 200


def test_a_table_page_past_its_last_row_says_so_rather_than_that_nothing_matches(site):
    """An old or edited "next page" address read "75 case studies" and then "Nothing matches these filters"."""
    page = get(site, "/kb/cases?council_types__arraycontains=district-council&_next=zzz").text
    empty = re.search(r'<p class="kb-empty">(.*?)</p>', page, re.S).group(1)
    assert "Nothing matches" not in empty, empty
    back = next((href for name, href in link_names(f"<main>{empty}</main>") if name == "Back to the first page"), None)
    assert back == "/kb/cases?council_types__arraycontains=district-council", back


# -- every filter in force is shown, and can be taken off ---------------------------------------------------
@pytest.mark.parametrize("path, chip", [("/kb/cases?year_start__gt=2015", "From: more than 2015"),
                                        ("/kb/cases?title__contains=Barnet", "Title: contains \u201cBarnet\u201d"),
                                        ("/kb/figures?amount_gbp__gte=1000000", "Amount (£): at least £1,000,000"),
                                        ("/kb/cases?year_end__isnull=1", "To: empty"),
                                        ("/kb/cases?status__not=implemented", "Status: not Implemented"),
                                        ("/kb/cases?_where=year_start>2015", "SQL condition: year_start>2015")])
def test_a_table_filtered_by_any_condition_shows_it_as_a_filter_in_force(site, path, chip):
    """A shared address such as /kb/cases?year_start__gt=2015 showed "6 case studies", titled as the whole
    table, with no filter in force to see or remove: only "=" and "contains in a list" were shown."""
    page = get(site, path).text
    assert re.search(r": [\d,]+ match(es)? your filters", title(page)), title(page)
    chips = [text(c).removeprefix("Remove filter: ").rstrip(" ×") for c in
             re.findall(r'class="kb-chip"[^>]*>(.*?)</a>', page, re.S)]
    assert chips == [chip], chips
    everything = re.search(r'<p class="kb-count"><strong>([\d,]+)</strong>', get(site, path.split("?")[0]).text).group(1)
    removed = re.search(r'class="kb-chip" href="([^"]*)"', page).group(1)
    again = get(site, unescape(removed)).text
    assert re.search(r'<p class="kb-count"><strong>([\d,]+)</strong>', again).group(1) == everything


def test_every_page_footer_gives_the_licence_and_sources(site):
    """The licence and the sources were at the foot of the home and table pages only: the search, the
    charts, the compare view, the about pages and error pages had none."""
    def footer(path):
        return text(re.search(r"<footer\b.*?</footer>", get(site, path).text, re.S).group(0))
    home = footer("/")
    assert "Licence:" in home and "Sources:" in home
    line = home[home.index("Licence:"):]
    for path in ("/-/search?q=care", "/-/charts", "/about", "/-/compare?id=barnet-capita-outsourcing&id=brighton-hove-reablement",
                 "/no/such/page", "/kb/cases", "/kb/cases/barnet-capita-outsourcing"):
        assert line in footer(path), (path, footer(path))
