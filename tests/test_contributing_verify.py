"""`kb verify`: every figure, and every number in Results, against the cited lines of its source's text."""
import hashlib
import json
import shutil

from click.testing import CliRunner

from kb import ROOT
from kb.cli import cli
from kb.validate import check_collection, discover
from kb.verify import find_texts, verify

from .conftest import FIXTURES, shared

GOOD = (FIXTURES / "good-case.md").read_text(encoding="utf-8")
NAME = "brighton-hove-reablement"


def seeds():
    return shared("seeds")


def kb(root, *args):
    return CliRunner().invoke(cli, ["--root", str(root), *args])


def write_case(root, text, name=NAME):
    (root / "cases" / f"{name}.md").write_text(text, encoding="utf-8")


def test_the_whole_corpus_verifies_with_the_seed_texts():
    found = discover(ROOT)
    records, problems = check_collection(found["source"] + found["case"], ROOT)
    assert problems == []
    texts, text_problems, notes = find_texts(ROOT, [r for r in records if r.kind == "source"], [seeds()])
    assert text_problems == [] and notes == [] and len(texts) == len(found["source"])
    cases = [r for r in records if r.kind == "case"]
    report = verify(cases, texts)
    assert [str(p) for p in report.problems] == []
    # every figure of every case was checked, and so was every case's Results section
    assert report.figures == sum(len(r.data["savings"]) for r in cases) and report.figures_skipped == 0
    assert report.cases_skipped == 0 and report.numbers > len(cases)
    result = kb(ROOT, "verify", "--texts", str(seeds()))
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"Verified {report.figures} figure(s) against {len(texts)} source text(s)")


def test_a_made_up_figure_fails(small_root):
    write_case(small_root, GOOD.replace('text: "around £313,000"', 'text: "around £314,000"'))
    result = kb(small_root, "verify")
    assert result.exit_code == 1
    assert result.stdout == (
        f'cases/{NAME}.md:18: savings[0] "around £314,000" is not in lines 764-767, 1674-1768 of '
        'dclg-2014-good-practice-savings - the text does not print it; the nearest is at line 765: "...saving the '
        'council around £313,000...." - quote the figure exactly as printed\n')
    write_case(small_root, GOOD)
    assert kb(small_root, "verify").exit_code == 0


def test_a_figure_outside_its_cited_lines_names_where_it_is(small_root):
    # the figure is printed at line 1680, outside the lines cited after this change
    text = GOOD.replace('lines: "1674-1768, 764-767"', 'lines: "1690-1768, 764-767"').replace(
        "The context, line 1680", "The context")
    write_case(small_root, text)
    result = kb(small_root, "verify")
    assert result.exit_code == 1
    assert result.stdout == (
        f'cases/{NAME}.md:56: savings[4] "£105.4 million" is not in lines 764-767, 1690-1768 of '
        "dclg-2014-good-practice-savings - it is at line 1680 of 003_5ee2102b45daad8d.txt: cite that line, or "
        "correct the figure\n")


def test_a_worked_out_number_in_results_fails(small_root):
    write_case(small_root, GOOD.replace("values at around £313,000.", "values at around £313,000 (£1,565 a person)."))
    result = kb(small_root, "verify")
    assert result.exit_code == 1
    assert result.stdout.split("\n")[0] == (
        f"cases/{NAME}.md:105: Results gives 1565, which is not in the cited lines of dclg-2014-good-practice-savings "
        "- no cited source prints it: quote figures as the source prints them, not worked out")


def test_a_source_without_its_text_is_noted_once_and_does_not_fail(small_root):
    # a case citing the LGA report, whose text is not in the repository
    shutil.copy(ROOT / "cases" / "suffolk-coastal-enabling-communities-budget.md", small_root / "cases")
    result = kb(small_root, "verify")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.split("\n") if "lga-2016-transformational-models" in line]
    assert notes == ["note: no text for source lga-2016-transformational-models (004_eddb96ce043ce060.txt is not in "
                     "sources/text, sources/text-local): its figures are not checked"]
    assert "figure(s) not checked for want of a text" in result.stderr


def test_another_version_of_a_text_fails(small_root, tmp_path):
    # line numbers only mean something for the text the record was made from
    texts = tmp_path / "texts"
    texts.mkdir()
    original = (ROOT / "sources" / "text" / "003_5ee2102b45daad8d.txt").read_bytes()
    (small_root / "sources" / "text" / "003_5ee2102b45daad8d.txt").write_bytes(b"\n" + original)
    result = kb(small_root, "verify")
    assert result.exit_code == 1
    digest = hashlib.sha256(b"\n" + original).hexdigest()
    assert "sources/dclg-2014-good-practice-savings.md:13: sources/text/003_5ee2102b45daad8d.txt has " \
           f"sha256 {digest[:12]}..., not the db3aa7308f0f... this record gives" in result.stdout


def test_github_annotations_and_json(small_root):
    write_case(small_root, GOOD.replace('text: "around £313,000"', 'text: "around £314,000"'))
    line = kb(small_root, "verify", "--format", "github").stdout.split("\n")[0]
    assert line.startswith(f"::error file=cases/{NAME}.md,line=18,title=kb verify::savings[0] \"around £314,000\" is not in")
    data = json.loads(kb(small_root, "verify", "--format", "json").stdout)
    assert data["problems"][0]["file"] == f"cases/{NAME}.md" and data["problems"][0]["line"] == 18
    assert data["figures_verified"] == 4
