"""A file in cases/ or sources/ that no check reads (a case saved as x.MD or x.txt, or put in a
subfolder) is named, with the fix, by `kb validate`, `kb verify` and `kb build`: before, every file
was "OK" and the build left the case out of the site without a word."""
import hashlib
import shutil

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.validate import strays

from .conftest import STAND_IN

CASE = "brighton-hove-reablement"


def kb(root, *args):
    return CliRunner().invoke(cli, ["--root", str(root), *args])


@pytest.mark.parametrize("place, expected", [
    ("cases/new-case.MD", "cases/new-case.MD:1: not read as a case: only files named <id>.md (in small letters) are "
                          "- rename it to cases/new-case.md if it is a case, else move it out of cases/"),
    ("cases/new-case.txt", "cases/new-case.txt:1: not read as a case"),
    ("cases/new-case", "cases/new-case:1: not read as a case"),
    ("cases/lga/new-case.md", "cases/lga/new-case.md:1: not read as a case: case files sit directly in cases/, and no "
                              "check or build looks in its subfolders - move it to cases/new-case.md"),
    ("cases/report.pdf", "cases/report.pdf:1: not a case file, and no check or build reads it - move it out of cases/"),
    ("sources/new-report.markdown", "sources/new-report.markdown:1: not read as a source"),
    ("sources/old/new-report.md", "sources/old/new-report.md:1: not read as a source: source files sit directly in sources/"),
])
def test_validate_names_a_file_nothing_reads(small_root, place, expected):
    (small_root / place).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(small_root / "cases" / f"{CASE}.md", small_root / place)
    result = kb(small_root, "validate", "--no-duplicates")
    assert result.exit_code == 1
    assert expected in result.output, result.output
    assert "1 problem(s) in 1 of" in result.stderr


def test_what_is_left_alone(small_root):
    """Hidden files, editor backups and the report texts under sources/text*/ are no strays."""
    for place in ("cases/.DS_Store", f"cases/{CASE}.md~", "cases/.git-notes/x.md", "sources/text-local/report.txt",
                  "sources/text/notes.md", "sources/pdfs/report.pdf"):
        (small_root / place).parent.mkdir(parents=True, exist_ok=True)
        (small_root / place).write_text("x")
    assert strays(small_root) == []
    assert kb(small_root, "validate", "--no-duplicates").exit_code == 0


def test_a_stray_given_by_name_or_folder(small_root):
    stray = small_root / "cases" / "new-case.MD"
    shutil.copy(small_root / "cases" / f"{CASE}.md", stray)
    for args in (["validate", "--no-duplicates", str(stray)], ["validate", "--no-duplicates", str(small_root / "cases")]):
        result = kb(small_root, *args)
        assert result.exit_code == 1 and "cases/new-case.MD:1: not read as a case" in result.output, result.output
    # verify would read it as a case, though nothing else ever does
    result = kb(small_root, "verify", str(stray))
    assert result.exit_code == 1
    assert "cases/new-case.MD:1: not read as a case" in result.output
    assert "1 file(s) no check or build reads: fix them first." in result.stderr
    # one it was not given is not its business
    assert kb(small_root, "validate", "--no-duplicates", str(small_root / "cases" / f"{CASE}.md")).exit_code == 0


def test_build_stops_and_keeps_the_database(small_root, tmp_path):
    db = tmp_path / "kb.db"
    assert kb(small_root, "build", "--quiet", "--model", STAND_IN, "--db", str(db)).exit_code == 0
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    shutil.copy(small_root / "cases" / f"{CASE}.md", small_root / "cases" / "new-case.txt")
    # nothing it hashes changed, so without the check this build said "nothing changed"
    result = kb(small_root, "build", "--quiet", "--model", STAND_IN, "--db", str(db))
    assert result.exit_code == 1
    assert "cases/new-case.txt:1: not read as a case" in result.output
    assert "was not changed" in result.stderr
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_validate_notes_the_generated_reference_is_out_of_date(monkeypatch):
    """An editor renamed a term: validate and build passed, and the reference contributors read went on
    naming the old term until a test failed on it."""
    from click.testing import CliRunner

    import kb.docs
    from kb import ROOT
    from kb.cli import cli

    real = kb.docs.generated_files()
    monkeypatch.setattr(kb.docs, "generated_files", lambda: {**real, "docs/contributing.md": "another text"})
    result = CliRunner().invoke(cli, ["--root", str(ROOT), "validate", "--no-duplicates"])
    assert "note: docs/contributing.md out of date with kb/*.yml - run `kb schema`" in result.output
    monkeypatch.setattr(kb.docs, "generated_files", lambda: real)
    assert "out of date" not in CliRunner().invoke(cli, ["--root", str(ROOT), "validate", "--no-duplicates"]).output
