"""Dates from history: first-added and last-changed from git at build time (nothing fails without
history), the `reviewed` date, and the cases due a review."""
import datetime
import os
import subprocess

import sqlite_utils
from click.testing import CliRunner

from ingest.build import build
from kb import ROOT
from kb.cli import cli
from kb.history import file_dates, review_due

from .conftest import HashEmbedder

NAME = "brighton-hove-reablement"


def git(root, *args, date=None):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org"}
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    subprocess.run(["git", "-C", str(root), *args], env=env, check=True, capture_output=True)


def case_row(root, tmp_path):
    out = tmp_path / "kb.db"
    build(root, out, progress=False, embedder=HashEmbedder())
    return sqlite_utils.Database(out)["cases"].get(NAME)


def test_first_added_and_last_changed_come_from_git(small_root, tmp_path):
    git(small_root, "init", "-q")
    git(small_root, "add", ".")
    git(small_root, "commit", "-qm", "add", date="2020-01-02T10:00:00+00:00")
    case = small_root / "cases" / f"{NAME}.md"
    case.write_text(case.read_text().replace("Pilot first, then scale", "Pilot first and then scale"))
    git(small_root, "commit", "-qam", "edit", date="2021-03-04T23:30:00-02:00")  # 2021-03-05 in UTC
    assert file_dates(small_root) == {f"cases/{NAME}.md": ("2020-01-02", "2021-03-05")}
    row = case_row(small_root, tmp_path)
    assert (row["first_added"], row["last_changed"], row["reviewed"]) == ("2020-01-02", "2021-03-05", "2026-11-22")


def test_a_renamed_case_keeps_the_day_it_was_first_added(small_root, tmp_path):
    """An editor renamed a case (its file and id): the feed announced it as "Added" that day, git's own
    history of the file (--follow) going back years."""
    git(small_root, "init", "-q")
    git(small_root, "add", ".")
    git(small_root, "commit", "-qm", "add", date="2020-01-02T10:00:00+00:00")
    old, new = small_root / "cases" / f"{NAME}.md", small_root / "cases" / "brighton-hove-reablement-2008.md"
    new.write_text(old.read_text().replace(f"id: {NAME}\n", "id: brighton-hove-reablement-2008\n"))
    git(small_root, "rm", "-q", str(old))
    git(small_root, "add", str(new))
    git(small_root, "commit", "-qm", "rename", date="2022-06-07T10:00:00+00:00")
    assert file_dates(small_root)["cases/brighton-hove-reablement-2008.md"] == ("2020-01-02", "2022-06-07")


def test_without_history_the_dates_are_unknown_and_nothing_fails(small_root, tmp_path):
    # a folder git does not track, as from a tarball
    assert file_dates(small_root) == {}
    row = case_row(small_root, tmp_path)
    assert row["first_added"] is None and row["last_changed"] is None


def test_cases_not_reviewed_for_two_years(small_root, tmp_path):
    today = datetime.date.today()
    assert review_due((today.replace(year=today.year - 2) - datetime.timedelta(days=1)).isoformat())
    assert not review_due((today.replace(year=today.year - 2) + datetime.timedelta(days=1)).isoformat())
    assert review_due("2022-02-28", datetime.date(2024, 2, 29)) and not review_due("2022-03-01", datetime.date(2024, 2, 29))
    case = small_root / "cases" / f"{NAME}.md"
    case.write_text(case.read_text().replace('reviewed: "2026-11-22"', 'reviewed: "2019-06-30"'))
    assert case_row(small_root, tmp_path)["review_due"] == 1
    result = CliRunner().invoke(cli, ["--root", str(small_root), "validate", "--stale"])
    assert result.exit_code == 0
    assert f"cases/{NAME}.md:68: warning: last reviewed 2019-06-30, 2 or more years ago - check it against its " \
           "sources, then set `reviewed:` to the date you did" in result.stdout.split("\n")
    assert "last reviewed" not in CliRunner().invoke(cli, ["--root", str(small_root), "validate"]).stdout


def test_the_site_lists_cases_due_a_review_and_every_case_has_its_dates(corpus_db):
    import asyncio

    from kb.site import make_datasette

    site = make_datasette(corpus_db)
    data = asyncio.run(site.client.get("/kb/cases.json?_size=0&_extra=facet_results")).json()
    facets = data["facet_results"]
    assert "review_due" in (facets["results"] if "results" in facets else facets)
    due = asyncio.run(site.client.get("/kb/cases.json?review_due=1&_shape=array&_col=reviewed")).json()
    assert all(review_due(row["reviewed"]) for row in due)
    rows = sqlite_utils.Database(corpus_db).execute("select first_added, last_changed from cases").fetchall()
    if file_dates(ROOT):  # a clone with history (a tarball has none, and then the dates are empty)
        assert all(first and last and first <= last for first, last in rows)
