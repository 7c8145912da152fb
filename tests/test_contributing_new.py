"""`kb new` and the contributor's whole path: scaffold, fill in, validate, verify, build, and find the
new case on the site."""
import asyncio
import re
import shutil

import pytest
import yaml
from click.testing import CliRunner

from kb import ROOT
from kb.cli import cli
from kb.schema import body_sections, load_schema
from kb.site import make_datasette

from .conftest import FIXTURES, STAND_IN

TITLE = "Testshire merges its mobile library routes into four community hubs"
CASE = "testshire-merges-its-mobile-library-routes-into-four-community-hubs"
SOURCE = "testshire-2024-efficiency-report"
PAGES = [["Testshire County Council", "Efficiency report 2024", "1. Library service redesign",
          "The council merged its twelve mobile library routes into four community hubs in 2022.",
          "The redesign saved £450,000 a year from 2023/24."],
         ["2. What it cost", "The council invested £120,000 in two new vans.", "Volunteers now run two of the four hubs."]]
ALL_OPTIONS = ["--title", TITLE, "--organisation", "Testshire County Council", "--council-type", "county",
               "--region", "south-west", "--service", "cultural-and-related", "--approach", "service-redesign",
               "--approach", "voluntary-community-collaboration", "--key-attribute", "community-responsiveness",
               "--start", "2022", "--status", "implemented", "--outcome", "succeeded", "--evidence", "council-reported",
               "--figure", "£450,000 a year", "--figure", "£120,000", "--source", f"{SOURCE}:1-8"]


def make_pdf(path, pages=PAGES):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for page in pages:
        pdf.add_page()
        for line in page:
            pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.set_title("Efficiency report 2024")
    pdf.output(str(path))
    return path


def kb(root, *args, input=None):
    return CliRunner().invoke(cli, ["--root", str(root), *args], input=input)


def todo_markers(text: str) -> int:
    """TODO markers outside YAML comments."""
    return sum(len(re.findall(r"\bTODO\b", line.split("  #")[0])) for line in text.split("\n"))


@pytest.fixture
def bare_root(tmp_path):
    """A project folder with the real sources (and their kept texts) and one known case."""
    root = tmp_path / "kb"
    (root / "cases").mkdir(parents=True)
    shutil.copytree(ROOT / "sources", root / "sources")
    shutil.copy(FIXTURES / "good-case.md", root / "cases" / "brighton-hove-reablement.md")
    return root


def add_source(root, pdf):
    """`kb source add` for the test report, then what a contributor fills in by hand."""
    result = kb(root, "source", "add", str(pdf), "--id", SOURCE, "--url", "https://www.testshire.gov.uk/efficiency-2024.pdf",
                "--licence", "Open Government Licence v3.0", "--date", "2024", "--publisher", "Testshire County Council")
    assert result.exit_code == 0, result.output
    record = root / "sources" / f"{SOURCE}.md"
    text = record.read_text().replace("TODO: What the report is", "Testshire's own account of its savings.")
    record.write_text(re.sub(r"(?m)^title: .*$", 'title: "Efficiency report 2024"', text))  # confirmed on the cover
    return record


@pytest.fixture
def root(bare_root, tmp_path):
    """The same, with the test report added as a source."""
    add_source(bare_root, make_pdf(tmp_path / "report.pdf"))
    return bare_root


def test_kb_new_without_a_terminal_writes_every_field_and_section(root):
    result = kb(root, "new", *ALL_OPTIONS)  # CliRunner's stdin is not a terminal: nothing is asked
    assert result.exit_code == 0, result.output
    text = (root / "cases" / f"{CASE}.md").read_text(encoding="utf-8")
    front = yaml.safe_load(text.split("---\n")[1])
    assert list(front) == list(load_schema()["case"]["fields"])
    assert front["organisations"] == [{"name": "Testshire County Council", "council_type": "county-council",
                                       "region": "south-west"}]  # an alias ("county") becomes its slug
    assert front["savings"][0]["amount"] == 450000 and front["savings"][1]["amount"] == 120000
    assert front["savings"][0]["source"] == SOURCE and front["sources"][0]["lines"] == "1-8"
    assert re.findall(r"^## (.+)$", text, flags=re.M) == body_sections("case")


@pytest.mark.parametrize("options", [ALL_OPTIONS, ["--title", TITLE]], ids=["all options", "title only"])
def test_validate_on_a_fresh_scaffold_reports_exactly_the_todos(root, options):
    assert kb(root, "new", *options).exit_code == 0
    path = f"cases/{CASE}.md"
    result = kb(root, "validate", str(root / path))
    assert result.exit_code == 1
    lines = result.stdout.strip().split("\n")
    assert all(re.match(rf"{re.escape(path)}:\d+: fill in ", line) for line in lines), lines
    assert len(lines) == todo_markers((root / path).read_text(encoding="utf-8"))


def test_kb_new_says_which_term_was_meant(root):
    result = kb(root, "new", "--title", TITLE, "--service", "libary")
    assert result.exit_code == 2
    assert "'libary' is not a known service - did you mean 'cultural-and-related'?" in result.output
    assert not (root / "cases" / f"{CASE}.md").exists()


def test_kb_new_says_how_it_read_an_everyday_name_for_a_term(root):
    """"--service leisure" became cultural-and-related without a word: right, but a surprise in the file."""
    result = kb(root, "new", "--title", TITLE, "--service", "leisure", "--region", "South West", "--service", "housing")
    assert result.exit_code == 0, result.output
    assert "note: --service 'leisure' read as cultural-and-related" in result.stderr
    assert "note: --region 'South West' read as south-west" in result.stderr
    assert "'housing' read as" not in result.stderr  # a term's own name needs no note
    assert "services: [cultural-and-related, housing]" in (root / "cases" / f"{CASE}.md").read_text(encoding="utf-8")


def test_kb_new_keeps_an_existing_file(root):
    result = kb(root, "new", "--title", "Another title", "--id", "brighton-hove-reablement")
    assert result.exit_code == 2 and "exists already" in result.output
    assert (root / "cases" / "brighton-hove-reablement.md").read_text() == (FIXTURES / "good-case.md").read_text()


def test_kb_new_asks_with_the_vocabularies_definitions(root):
    answers = "\n".join([TITLE, "Testshire County Council", "1", "south-west", "cultural-and-related",
                         "3, voluntary-community-collaboration", "", "implemented", "2", "council-reported",
                         "testshire-2024:1-8", f"{SOURCE}:1-8", "£450,000 a year", ""]) + "\n"
    result = kb(root, "new", "--interactive", input=answers)
    assert result.exit_code == 0, result.output
    assert "county-council - Upper-tier council in a two-tier shire area" in result.output
    assert f"'testshire-2024' is not a source in sources/ - did you mean '{SOURCE}'?" in result.output  # asked again
    front = yaml.safe_load((root / "cases" / f"{CASE}.md").read_text(encoding="utf-8").split("---\n")[1])
    assert front["organisations"][0]["council_type"] == "county-council"
    assert front["approaches"] == ["service-redesign", "voluntary-community-collaboration"]
    assert front["key_attributes"] == [] and front["outcome"] == "partial"
    assert front["savings"][0]["text"] == "£450,000 a year"


FILLED = {
    "kind": ["saving", "investment"], "period": ["per year from 2023/24", "one-off"], "per_year": ["true", "false"],
    "status": ["achieved", "achieved"], "recurrence": ["recurring", "one-off"],
    "where": ['"1. Library service redesign, line 5"', '"2. What it cost, line 7"'],
    "section": ['"1. Library service redesign; 2. What it cost"'], "reviewed": ['"2026-11-22"'],
}
SECTIONS = {
    "Summary": "Testshire replaced twelve mobile library routes with four community hubs.",
    "Context": "The mobile library routes were costly to run and reached few people.",
    "What they did": "The council merged the routes into community hubs in 2022; volunteers run two of them.",
    "Results": "The redesign saved £450,000 a year from 2023/24, after £120,000 was spent on two new vans.",
    "Challenges": "The report says nothing of what got in the way.",
    "Lessons": "Volunteers can run community hubs that replace a mobile service.",
}


def fill_in(text: str) -> str:
    """What a contributor writes in place of each TODO."""
    values = {k: list(v) for k, v in FILLED.items()}
    out, heading = [], None
    for line in text.split("\n"):
        field = re.match(r"(\s*(?:- )?)(\w+): TODO", line)
        if line.startswith("## "):
            heading = line[3:]
        if field:
            line = f"{field.group(1)}{field.group(2)}: {values[field.group(2)].pop(0)}"
        elif re.match(r"(- )?TODO", line):
            line = ("- " if line.startswith("- ") else "") + SECTIONS[heading]
        out.append(line)
    return "\n".join(out)


def test_from_kb_new_to_the_case_page_and_a_search_hit(bare_root, tmp_path):
    root = bare_root
    # a new report first: its line-numbered text, kept in the repository (the OGL allows it)
    record = add_source(root, make_pdf(tmp_path / "report.pdf"))
    assert (root / "sources" / "text" / f"{SOURCE}.txt").is_file()
    assert kb(root, "validate", str(record)).exit_code == 0

    # the case: scaffold, fill in, validate, verify
    assert kb(root, "new", *ALL_OPTIONS).exit_code == 0
    case = root / "cases" / f"{CASE}.md"
    case.write_text(fill_in(case.read_text(encoding="utf-8")), encoding="utf-8")
    result = kb(root, "validate", str(case))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    result = kb(root, "verify", str(case))
    assert result.exit_code == 0, result.output
    # the one text the case cites (the DCLG text beside it is not counted)
    assert "Verified 2 figure(s) against 1 source text(s), and 4 number(s) and sum(s) in the text of 1 case(s)" in result.stderr

    # build with the stand-in model; the case's page and a search find it
    db = root / "kb.db"
    result = kb(root, "build", "--db", str(db), "--model", STAND_IN, "--quiet")
    assert result.exit_code == 0, result.output
    site = make_datasette(db)
    page = asyncio.run(site.client.get(f"/kb/cases/{CASE}"))
    assert page.status_code == 200 and TITLE in page.text and "£450,000 a year" in page.text
    hits = asyncio.run(site.client.get("/-/search.json?q=mobile+library+community+hubs&mode=keyword")).json()
    assert hits["results"][0]["id"] == CASE

    # with the database built, the new case is compared by meaning too, and is like no other
    result = kb(root, "validate", str(case))
    assert result.exit_code == 0 and "warning" not in result.output


def test_kb_new_checks_the_source_id(root):
    result = kb(root, "new", "--title", TITLE, "--source", "dclg-2014-good-practise-savings:1-10")
    assert result.exit_code == 2
    assert "'dclg-2014-good-practise-savings' is not a source in sources/ - did you mean " \
           "'dclg-2014-good-practice-savings'?" in result.output


def test_kb_new_warns_of_an_existing_cases_title(bare_root):
    result = kb(bare_root, "new", "--no-interactive", "--title",
                "Brighton and Hove scales up an open-door reablement service for older people")
    assert result.exit_code == 0, result.output
    assert ("Warning: the title is also the title of cases/brighton-hove-reablement.md: if it is the same initiative, "
            "add to that case instead; if not, give this one a title saying what differs.") in result.stderr
    assert "Warning" not in kb(bare_root, "new", "--no-interactive", "--title", TITLE).stderr


def test_the_guides_worked_example_is_true_when_run(tmp_path):
    # the guide said `kb new` wrote cases/brighton-hove-reablement.md; as written it wrote a file named
    # after the whole title, a duplicate of that case
    import shlex

    guide = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    example = guide.split("## A worked example")[1].split("\n## ")[0]
    command = re.search(r"```sh\n(kb new .+?)\n```", example, re.S).group(1).replace("\\\n", " ")
    written = re.search(r"It writes `(cases/[^`]+)`", example).group(1)
    listed = re.search(r"```\n(cases/.+?)\n```", example, re.S).group(1).split("\n")
    root = tmp_path / "kb"
    shutil.copytree(ROOT / "sources", root / "sources")
    shutil.copytree(ROOT / "cases", root / "cases")
    (root / written).unlink()  # as the guide says to, first
    result = kb(root, *shlex.split(command)[1:], "--no-interactive")
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.stderr and (root / written).is_file()
    found = kb(root, "validate", str(root / written)).stdout.split("\n")
    assert [line for line in listed if line != "..."] == [line for line in found if line in listed]


def test_an_id_from_a_long_title_keeps_whole_words():
    from kb.scaffold import ID_LENGTH, slug

    title = "Plymouth Energy Community raises share capital for solar panels on schools and homes with two neighbours"
    made = slug(title)
    assert made == "plymouth-energy-community-raises-share-capital-for-solar-panels-on-schools-and"
    assert len(made) <= ID_LENGTH and title.lower().replace(" ", "-").startswith(made + "-")
    assert slug("x" * 100) == "x" * ID_LENGTH  # one word longer than the limit is still cut
