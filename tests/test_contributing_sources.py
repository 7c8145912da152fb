"""`kb source add`: a report's line-numbered text from its PDF, and its record, with the text kept in
the repository only where the licence allows."""
import hashlib
import re
import subprocess

import yaml
from click.testing import CliRunner

from kb import ROOT
from kb.cli import cli
from kb.source_text import open_licence

from .test_contributing_new import PAGES, make_pdf

URL = "https://www.testshire.gov.uk/efficiency-2024.pdf"


def kb(root, *args):
    return CliRunner().invoke(cli, ["--root", str(root), *args])


def confirm_title(text):
    """What the contributor writes once they have checked the PDF's own title against its cover."""
    return re.sub(r"(?m)^title: .*$", 'title: "Efficiency report 2024"', text)


def front_matter(path):
    return yaml.safe_load(path.read_text(encoding="utf-8").split("---\n")[1])


def test_an_open_licence_keeps_the_text_in_the_repository(small_root, tmp_path):
    pdf = make_pdf(tmp_path / "report.pdf")
    result = kb(small_root, "source", "add", str(pdf), "--id", "testshire-2024", "--url", URL,
                "--licence", "Open Government Licence v3.0")
    assert result.exit_code == 0, result.output
    text_path = small_root / "sources" / "text" / "testshire-2024.txt"
    lines = text_path.read_text(encoding="utf-8").split("\n")
    assert lines[:len(PAGES[0]) + len(PAGES[1])] == PAGES[0] + PAGES[1]  # one line per line of the PDF
    record = front_matter(small_root / "sources" / "testshire-2024.md")
    assert record["url"] == URL and record["text_file"] == "testshire-2024.txt"
    assert record["text_sha256"] == hashlib.sha256(text_path.read_bytes()).hexdigest()
    assert record["page_lines"] == [1, len(PAGES[0]) + 1]
    # the PDF's own title, to be confirmed
    assert record["title"] == 'TODO: the PDF\'s own metadata says "Efficiency report 2024"; write the title as the ' \
        "report prints it on its cover"
    # what is left to write is listed, and nothing else
    result = kb(small_root, "validate", str(small_root / "sources" / "testshire-2024.md"))
    assert sorted(line.split(": ", 1)[1].split(" - ")[0] for line in result.stdout.strip().split("\n")) == [
        "fill in date", "fill in publisher", "fill in section '## Summary'", "fill in title"]


def test_no_licence_keeps_the_text_out_of_git(small_root, tmp_path):
    pdf = make_pdf(tmp_path / "report.pdf")
    result = kb(small_root, "source", "add", str(pdf), "--id", "testshire-2024", "--url", URL,
                "--licence", "Not stated", "--publisher", "Testshire County Council", "--date", "2024")
    assert result.exit_code == 0, result.output
    assert (small_root / "sources" / "text-local" / "testshire-2024.txt").is_file()
    assert not (small_root / "sources" / "text" / "testshire-2024.txt").exists()
    ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "sources/text-local/testshire-2024.txt"])
    assert ignored.returncode == 0, "sources/text-local/ must be in .gitignore"


def test_verify_names_the_page_of_a_text_with_page_boundaries(small_root, tmp_path):
    pdf = make_pdf(tmp_path / "report.pdf")
    kb(small_root, "source", "add", str(pdf), "--id", "testshire-2024", "--url", URL, "--licence", "OGL v3.0 (Open Government Licence)")
    case = (small_root / "cases" / "brighton-hove-reablement.md").read_text(encoding="utf-8")
    case = case.replace('lines: "1674-1768, 764-767"', 'lines: "1674-1768, 764-767"\n  - id: testshire-2024\n'
                        '    section: "2. What it cost"\n    lines: "1-3"')
    case = case.replace('''    source: dclg-2014-good-practice-savings
    where: "Appendix D, 2. Brighton and Hove, The context, line 1680"''', '''    source: testshire-2024
    where: "2. What it cost, line 2"''').replace(
        'amount: 105400000\n    text: "£105.4 million"', 'amount: 120000\n    text: "£120,000"')
    (small_root / "cases" / "brighton-hove-reablement.md").write_text(case, encoding="utf-8")
    record = small_root / "sources" / "testshire-2024.md"
    record.write_text(confirm_title(record.read_text()).replace("publisher: TODO", "publisher: Testshire").replace(
        "date: TODO", 'date: "2024"').replace("TODO: What the report", "What the report"))
    result = kb(small_root, "verify")
    assert result.exit_code == 1
    assert 'savings[4] "£120,000" is not in lines 1-3 of testshire-2024 - it is at line 7 (page 2) of testshire-2024.txt' \
        in result.stdout


def test_what_cannot_be_added_is_said_plainly(small_root, tmp_path):
    not_pdf = tmp_path / "report.pdf"
    not_pdf.write_text("not a PDF")
    result = kb(small_root, "source", "add", str(not_pdf), "--id", "testshire-2024", "--url", URL)
    assert result.exit_code == 2 and "cannot read it as a PDF" in result.output and "Traceback" not in result.output
    result = kb(small_root, "source", "add", str(make_pdf(tmp_path / "ok.pdf")), "--id", "Testshire 2024", "--url", URL)
    assert result.exit_code == 2 and "must be lower-case words joined by hyphens" in result.output
    result = kb(small_root, "source", "add", str(tmp_path / "ok.pdf"), "--id", "dclg-2014-good-practice-savings",
                "--url", URL)
    assert result.exit_code == 2 and "exists already" in result.output


def test_which_licences_allow_keeping_the_text():
    assert open_licence("Open Government Licence v3.0") and open_licence("CC BY 4.0")
    assert not open_licence("LGA publication; licence not stated") and not open_licence(None)


def test_a_sixth_source_report_breaks_no_test_of_the_corpus(tmp_path):
    import shutil

    from .test_corpus import corpus_validates

    root = tmp_path / "kb"
    shutil.copytree(ROOT / "sources", root / "sources")
    shutil.copytree(ROOT / "cases", root / "cases")
    before = len(list((root / "sources").glob("*.md")))
    kb(root, "source", "add", str(make_pdf(tmp_path / "report.pdf")), "--id", "testshire-2024", "--url", URL,
       "--licence", "Open Government Licence v3.0", "--publisher", "Testshire County Council", "--date", "2024")
    record = root / "sources" / "testshire-2024.md"
    record.write_text(confirm_title(record.read_text()).replace("TODO: What the report", "What the report"))
    assert len(list((root / "sources").glob("*.md"))) == before + 1
    corpus_validates(root)
