"""Nothing a tool writes for the contributor passes for a checked fact: `kb new` leaves `reviewed:` for
the person who reads the case against its source, and `kb source add` marks what it guessed from the
PDF for the contributor to confirm. `kb validate` lists each, saying what to write."""
import datetime

import yaml
from click.testing import CliRunner

from kb.cli import cli

from .test_contributing_new import ALL_OPTIONS, CASE, bare_root, root  # noqa: F401 (fixtures)


def kb(root, *args, input=None):
    return CliRunner().invoke(cli, ["--root", str(root), *args], input=input)


def front_matter(path):
    return yaml.safe_load(path.read_text(encoding="utf-8").split("---\n")[1])


def test_kb_new_leaves_the_review_date_to_the_reviewer(root):
    # it wrote today's date, so a case nobody had read against its source looked reviewed
    assert kb(root, "new", *ALL_OPTIONS).exit_code == 0
    path = root / "cases" / f"{CASE}.md"
    assert front_matter(path)["reviewed"] == "TODO"
    today = datetime.date.today().isoformat()
    lines = kb(root, "validate", str(path)).stdout.strip().split("\n")
    [line] = [line for line in lines if "reviewed" in line]
    assert line.endswith(": fill in reviewed - once you have read the case against its sources at the cited lines, "
                         f'write the date you did as YYYY-MM-DD, e.g. `reviewed: "{today}"` (not before)'), line
    # asked at a terminal, the same
    path.unlink()
    answers = "\n".join([CASE.replace("-", " "), "Testshire County Council", "county", "south-west", "1", "1", "",
                         "implemented", "succeeded", "council-reported", "testshire-2024-efficiency-report:1-8", ""])
    result = kb(root, "new", "--interactive", "--id", CASE, input=answers + "\n")
    assert result.exit_code == 0, result.output
    assert front_matter(path)["reviewed"] == "TODO"


def test_a_missing_review_date_is_answered_with_what_to_write(root):
    assert kb(root, "new", *ALL_OPTIONS).exit_code == 0
    path = root / "cases" / f"{CASE}.md"
    path.write_text("\n".join(line for line in path.read_text().split("\n") if not line.startswith("reviewed:")))
    [line] = [line for line in kb(root, "validate", str(path)).stdout.split("\n") if "reviewed" in line]
    assert "missing field 'reviewed' - add `reviewed:` (once you have read the case against its sources" in line


def test_what_source_add_read_from_the_pdf_is_marked_for_checking(bare_root, tmp_path):
    # the PDF's own title ("rep.html", the name of the file it was printed from) went into the record
    # as if it were the report's, and validate had nothing to say about it
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.cell(0, 8, "Testshire County Council: Efficiency report 2024")
    pdf.set_title("rep.html")
    pdf.set_author("jsmith")
    pdf.output(str(tmp_path / "report.pdf"))
    options = ["--url", "https://www.testshire.gov.uk/efficiency-2024.pdf", "--publisher", "Testshire County Council",
               "--date", "2024", "--licence", "Open Government Licence v3.0"]
    result = kb(bare_root, "source", "add", str(tmp_path / "report.pdf"), "--id", "testshire-2024", *options)
    assert result.exit_code == 0, result.output
    record = bare_root / "sources" / "testshire-2024.md"
    front = front_matter(record)
    assert front["title"].startswith("TODO") and front["authors"][0].startswith("TODO")
    lines = kb(bare_root, "validate", str(record)).stdout.strip().split("\n")
    assert [line.split(": ", 1)[1] for line in lines if "section" not in line] == [
        "fill in title - the PDF's own metadata says \"rep.html\"; write the title as the report prints it on its cover",
        "fill in authors[0] - the PDF's own metadata says \"jsmith\"; write each author as the report names them, "
        "or delete the authors line"]
    # what the contributor gives is theirs, and is not marked
    result = kb(bare_root, "source", "add", str(tmp_path / "report.pdf"), "--id", "testshire-2024", "--force",
                "--title", "Efficiency report 2024", *options)
    assert front_matter(record)["title"] == "Efficiency report 2024"
