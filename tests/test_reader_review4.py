"""A fourth reading of the site and the command line as a council officer, a screen-reader user and a
phone user would meet them: a citation to paste into a report, abbreviations explained wherever the
site writes them, Datasette's own pages named as the site names them, help text whose terms can be
copied whole."""
import asyncio
import re
from html import unescape

import click
import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.site import make_datasette


@pytest.fixture(scope="module")
def site(corpus_db):
    return make_datasette(corpus_db)


def get(site, path):
    return asyncio.run(site.client.get(path))


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


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
        assert cited.endswith(f"Available at: {address}"), cited
        if changed:
            assert f"last changed {date_words(changed)}" in cited, cited
        assert case_id not in cited.replace(address, ""), cited  # the id only where it is of use: the address

    # a database whose cases carry no dates from git (built from a tarball) cites the build's date
    undated = altered_copy(corpus_db, tmp_path, "update cases set last_changed = null, first_added = null")
    cited = citation(get(make_datasette(undated), f"/kb/cases/{cases[0][0]}").text)
    assert f"as published on {date_words(built)}" in cited, cited
