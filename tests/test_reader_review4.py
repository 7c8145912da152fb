"""A fourth reading of the site and the command line as a council officer, a screen-reader user and a
phone user would meet them: a citation to paste into a report, abbreviations explained wherever the
site writes them, Datasette's own pages named as the site names them, help text whose terms can be
copied whole."""
import re
from html import unescape

import click
import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.site import make_datasette

from .pages import get, text


@pytest.fixture(scope="module")
def site(corpus_db):
    return make_datasette(corpus_db)




# -- help text: a term is copied whole ----------------------------------------------------------------
def every_command(group=cli, path=()):
    yield path, group
    for name, command in group.commands.items() if isinstance(group, click.Group) else ():
        yield from every_command(command, path + (name,))


def words_kept_whole(narrow: str, wide: str, width: int) -> None:
    """The same words in the same order, however the lines fall, and wrapped at the width."""
    # a group's list of commands gives each one's first words, as many as fit, ending "..." at a whole word
    narrow_text, _, narrow_list = narrow.partition("\nCommands:\n")
    wide_text, _, wide_list = wide.partition("\nCommands:\n")
    assert narrow_text.split() == wide_text.split()
    assert {w.removesuffix("...") for w in narrow_list.split()} <= set(wide_list.split())
    lines = narrow.splitlines()
    assert max(map(len, lines)) > width - 20  # wrapped at the terminal's width, not left wide
    # a line longer than the terminal is one word too long for its column, or an example kept as written
    overlong = [line for line in lines if len(line) > width and len(line.split()) > 1 and line not in wide.splitlines()]
    assert overlong == [], overlong


@pytest.mark.parametrize("path", [p for p, _ in every_command()], ids=lambda p: " ".join(("kb", *p)))
def test_help_at_a_narrow_terminal_never_breaks_a_word(path):
    """`kb search --help` at 60 columns split "environmental-and-regulatory" after a hyphen, and a
    term longer than its column mid-word: a reader copying the term from the help got half of it."""
    # 58: the width Click gives help in a terminal of 60 columns (CliRunner ignores COLUMNS)
    narrow = CliRunner().invoke(cli, [*path, "--help"], terminal_width=58)
    wide = CliRunner().invoke(cli, [*path, "--help"], terminal_width=400)
    assert narrow.exit_code == 0 and wide.exit_code == 0, narrow.output
    words_kept_whole(narrow.output, wide.output, 58)


def test_help_in_a_terminal_of_60_columns_keeps_terms_whole():
    import os
    import subprocess
    import sys

    run = lambda columns: subprocess.run([sys.executable, "-m", "kb", "search", "--help"], capture_output=True, text=True,
                                         env={**os.environ, "COLUMNS": columns}, timeout=120).stdout
    narrow, wide = run("60"), run("400")
    longest = max((w.strip(",.") for w in wide.split() if re.fullmatch(r"[a-z]+(-[a-z]+)+,?", w)), key=len)
    assert longest in narrow.replace(",", " ").split(), longest  # environmental-and-regulatory
    words_kept_whole(narrow, wide, 58)


# -- a case's citation reads as a reader pastes it into a report ----------------------------------------
def citation(page: str) -> str:
    return text(re.search(r'<h2 id="cite">.*?</div>', page, re.S).group(0)).removeprefix("Cite this case ")


def test_a_case_is_cited_by_its_title_the_sites_name_its_address_and_date_not_its_id(corpus_db, tmp_path):
    """The citation read "..., case london-pilot-highways-workflow-redesign. ...": a slug a report's reader
    cannot use, and no date to say which version was read."""
    import sqlite3

    from kb.site import METADATA, load_metadata
    from tests.conftest import altered_copy

    import yaml
    metadata = load_metadata(METADATA)[0] | {"title": "Anytown Council's library of what worked"}
    (tmp_path / "metadata.yml").write_text(yaml.safe_dump(metadata), encoding="utf-8")
    site = make_datasette(corpus_db, metadata=tmp_path / "metadata.yml")
    conn = sqlite3.connect(corpus_db)
    cases = conn.execute("select id, title, coalesce(last_changed, first_added) from cases").fetchall()
    built = conn.execute("select built_at from build_info").fetchone()[0]
    from plugins.kb_present import date_words
    for case_id, title, changed in cases:
        address = f"http://localhost/kb/cases/{case_id}"
        cited = citation(get(site, f"/kb/cases/{case_id}").text)
        assert cited.startswith(f"\u201c{title}\u201d"), cited
        assert "Anytown Council's library of what worked" in cited
        today = date_words(__import__("datetime").date.today().isoformat())
        assert cited.endswith(f"Available at: {address} (Accessed: {today})."), cited
        if changed:
            assert f"last changed {date_words(changed)}" in cited, cited
        assert case_id not in cited.replace(address, ""), cited  # the id only where it is of use: the address

    # a database whose cases carry no dates from git (built from a tarball) cites the build's date
    undated = altered_copy(corpus_db, tmp_path, "update cases set last_changed = null, first_added = null")
    cited = citation(get(make_datasette(undated), f"/kb/cases/{cases[0][0]}").text)
    assert f"as published on {date_words(built)}" in cited, cited


# -- Datasette's own pages read as the site does: its name and the tables' labels, never the file's ------
CITED_ROW = "/kb/case_sources/brighton-hove-reablement,dclg-2014-good-practice-savings"


def crumbs(page: str) -> list[str]:
    nav = re.search(r'<nav class="kb-crumbs"[^>]*>(.*?)</nav>', page, re.S).group(1)
    return [text(item) for item in re.findall(r"<li[^>]*>(.*?)</li>", nav, re.S)] or [text(nav)]


@pytest.mark.parametrize("path, trail", [
    ("/kb", ["Home", "All tables and SQL"]),
    ("/kb?_show_hidden=1", ["Home", "All tables and SQL"]),
    ("/kb?sql=select+id,+title+from+cases+limit+3", ["Home", "All tables and SQL", "SQL query"]),
    ("/kb?sql=select+*+from+nothing", ["Home", "All tables and SQL", "SQL query"]),
    ("/kb/recent_cases", ["Home", "All tables and SQL", "New and changed cases"]),
    ("/kb/build_info", ["Home", "All tables and SQL", "build_info"]),
    ("/kb/build_info/1", ["Home", "All tables and SQL", "build_info", "1"]),
    ("/kb/similar_cases?case_id=brighton-hove-reablement", ["Home", "All tables and SQL", "Similar cases"]),
    # a row of a join table by the rows it joins (reader5), not "brighton-hove-reablement, dclg-2014-..."
    (CITED_ROW, ["Home", "All tables and SQL", "Cases and their reports",
                 "Brighton and Hove scales up an open-door reablement service for older people \u2014\u2026"]),
])
def test_datasettes_own_pages_are_titled_by_the_site_not_the_database_file(site, path, trail):
    """The SQL page was titled "kb: select ..." and its breadcrumbs read "home / kb"; the feed's page
    was titled with its whole SQL, read aloud first by a screen reader; an internal table was "kb: build_info"."""
    page = get(site, path).text
    title = unescape(re.search(r"<title>(.*?)</title>", page, re.S).group(1))
    headings = [text(h) for h in re.findall(r"<h[1-6][^>]*>(.*?)</h[1-6]>", page, re.S)]
    for said in [title, *crumbs(page), *headings]:
        assert not re.search(r"(?<![\w/.])kb(?![\w/.])", said), (path, said)
    assert crumbs(page) == trail
    assert title.endswith(" - Council transformation case studies") and len(title) < 160, title
    if "recent_cases" in path:
        assert title.startswith("New and changed cases - ")


def test_the_all_tables_page_lists_the_readers_tables_by_their_labels(site):
    """Its table headings were the SQL names ("cases", "lessons") where every other page says "Case studies"."""
    page = get(site, "/kb").text
    for table, label in (("cases", "Case studies"), ("lessons", "Lessons and findings"), ("figures", "Money figures")):
        assert re.search(rf'<h3><a href="/kb/{table}">{label}</a> <code>{table}</code>', page), table


@pytest.mark.parametrize("path, offered", [("/kbb", "All tables and SQL"), ("/kbb/cases", "Case studies"),
                                           ("/kb/casess", "Case studies")])
def test_an_address_put_right_is_offered_by_the_name_of_its_page(site, path, offered):
    """"Did you mean /kb" and "the cases table": the database's file name and a table's SQL name."""
    page = get(site, path).text
    box = page[page.index("Did you mean"):page.index("Where next")]
    assert [text(a) for a in re.findall(r"<a [^>]*>(.*?)</a>", box, re.S)] == [offered]


def test_a_row_address_put_right_is_offered_by_the_rows_title(site):
    page = get(site, "/kbb/cases/brighton-hove-reablement").text
    box = page[page.index("Did you mean"):page.index("Where next")]
    assert re.findall(r'<a href="([^"]+)">(.*?)</a>', box) == [
        ("/kb/cases/brighton-hove-reablement", "Brighton and Hove scales up an open-door reablement service for older people")]


# -- abbreviations: explained wherever the site writes them ----------------------------------------------
SKIPPED = ("a", "button", "label", "summary", "legend", "select", "textarea", "script", "style", "svg", "code", "pre")


def main_of(page: str) -> str:
    """The page's main part and its footer, as read (without the list of abbreviations)."""
    main = page[page.index("<main"):page.index("</main>")] + page[page.index("<footer"):page.index("</footer>")]
    return re.sub(r'<section class="kb-abbreviations-section".*?</section>', " ", main, flags=re.S)


def outside(html: str, tags=SKIPPED) -> str:
    """The HTML without the elements named (their text is a control's name, code or a picture)."""
    for tag in tags:
        html = re.sub(rf"<{tag}\b[^>]*>.*?</{tag}>", " ", html, flags=re.S)
    return html


def listed(page: str) -> dict[str, str]:
    section = re.search(r'<section class="kb-abbreviations-section".*?</section>', page, re.S)
    return {unescape(a): unescape(b) for a, b in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", section.group(0))} if section else {}


@pytest.fixture(scope="module")
def known(corpus_db):
    from plugins.kb_present import glossary
    return glossary(corpus_db)


READ_PAGES = ["/kb/cases/barnet-capita-outsourcing", "/kb/sources/dclg-2014-good-practice-savings",
              "/kb/lessons/stevenage-east-herts-shared-ict-partnership~23lesson-1", "/kb/figures/barnet-capita-outsourcing~231",
              "/-/compare?id=stevenage-east-herts-shared-ict-partnership&id=croydon-place-enforcement-integration",
              "/-/search?q=shared+ICT+service", "/-/search?q=TUPE&target=lessons", "/kb/cases", "/kb/terms", "/"]


@pytest.mark.parametrize("path", READ_PAGES)
def test_every_abbreviation_a_page_writes_is_explained_once_and_listed(site, known, path):
    """The compare view, search results, lesson pages and the money figures' pages wrote "ICT", "TUPE",
    "DCLG" and "LGA" unexplained (no <abbr title>; the compare view and search no list either), and a
    case page marked its text's first use, not the page's (its title came first)."""
    from kb.abbreviations import used_in

    page = get(site, path)
    assert page.status_code == 200
    main = main_of(page.text)
    shown = used_in([text(main)], known)
    assert shown, "the page was chosen for its abbreviations"
    # all of them listed after the text, with what they stand for
    assert listed(page.text) == dict(shown)
    marks = re.findall(r'<abbr title="([^"]*)">([^<]*)</abbr>', main)
    # each used outside a link or a control marked once, at its first use there, with its words
    unmarked = outside(re.sub(r"<abbr title=\"[^\"]*\">([^<]*)</abbr>", r"\1", main))
    first_uses = [a for a, _ in used_in([text(unmarked)], known)]
    assert sorted(re.sub(r"s$", "", name) if re.sub(r"s$", "", name) in known else name for _, name in marks) == sorted(first_uses)
    for title, name in marks:
        name = name if name in known else name[:-1]
        assert unescape(title) == known[name]
        before = text(outside(main[:main.index(f">{name}")]))
        assert not re.search(rf"(?<!\w){name}s?(?!\w)", before), (name, "marked after its first use")
    # never inside a link, a control's name or a picture
    for tag in SKIPPED:
        for inner in re.findall(rf"<{tag}\b[^>]*>(.*?)</{tag}>", main, re.S):
            assert "<abbr" not in inner, (tag, inner[:200])


def test_explain_marks_the_first_use_outside_links_and_lists_every_use():
    from kb.abbreviations import explain

    known = {"ICT": "Information and communications technology", "LGA": "Local Government Association"}
    html = ('<h1><a href="/ICT">Shared ICT</a></h1><p>An ICT team and ICT again; <abbr title="x">LGA</abbr> and LGA.</p>'
            '<svg><text>ICT</text></svg><script>var ICT = 1;</script><label>ICT <input></label>')
    marked, used = explain(html, known)
    assert marked == ('<h1><a href="/ICT">Shared ICT</a></h1><p>An <abbr title="Information and communications technology">'
                      'ICT</abbr> team and ICT again; <abbr title="x">LGA</abbr> and LGA.</p>'
                      '<svg><text>ICT</text></svg><script>var ICT = 1;</script><label>ICT <input></label>')
    assert used == [("ICT", known["ICT"]), ("LGA", known["LGA"])]
    assert explain("<p>Nothing to explain</p>", known) == ("<p>Nothing to explain</p>", [])


# -- a filter in force names the case it is for, not the case's id ----------------------------------------
@pytest.mark.parametrize("table", ["lessons", "figures", "organisations"])
def test_a_table_filtered_to_one_case_names_the_case_in_its_filter(site, table):
    """A case page's "its lessons as a table" led to a page whose filter read "Case: barnet-capita-outsourcing"."""
    page = get(site, f"/kb/{table}?case_id=barnet-capita-outsourcing").text
    chips = text(re.search(r'<ul class="kb-chips".*?</ul>', page, re.S).group(0))
    assert "Case: Barnet outsources its back office and customer services to Capita for guaranteed savings" in chips, chips
    assert "barnet-capita-outsourcing" not in chips
