"""Each validator message the contributing issue found wrong, pinned exactly as it now reads.

Each broken file is the known-good fixture (tests/fixtures/good-case.md) with one change."""

import pytest

from kb import ROOT
from kb.validate import check_collection

from .conftest import FIXTURES
from .test_validate import run

GOOD = (FIXTURES / "good-case.md").read_text(encoding="utf-8")
NAME = "brighton-hove-reablement"
APPROACHES = ("organisational-restructuring, process-back-office-improvement, service-redesign, asset-rationalisation, "
              "shared-services-councils, shared-services-public-sector, private-sector-partnership, joint-commissioning, ...")


def edit(old, new):
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


FIXED = {
    # a year field like 2021/22 was given money advice ("write the amount as digits...")
    "financial year in a year field": (
        edit("years: {start: 2008}", "years: {start: 2021/22}"),
        ["cases/{name}.md:11: years.start must be a whole number, not '2021/22' - give only the first year of a "
         "financial year, e.g. 2021 for 2021/22"]),
    # a missing outcome did not list the allowed values
    "missing outcome": (
        edit("outcome: succeeded\n", ""),
        ["cases/{name}.md:2: missing field 'outcome' - add `outcome:` (one of succeeded, partial, failed, unknown; "
         "definitions in docs/contributing.md)"]),
    # a typo in a source id was answered by suggesting the typo be copied into each figure
    "typo in the case's source id": (
        edit("  - id: dclg-2014-good-practice-savings", "  - id: dclg-2014-good-practise-savings"),
        ["cases/{name}.md:65: unknown source id 'dclg-2014-good-practise-savings' - did you mean "
         "'dclg-2014-good-practice-savings'?"]),
    # '### Lessons' was reported as a missing section
    "level-3 heading for a section": (
        edit("## Lessons\n", "### Lessons\n"),
        ["cases/{name}.md:117: '### Lessons' is not a level-2 heading - write it as '## Lessons' (sections are "
         "level-2 headings: two #)"]),
    # a tab in YAML did not say "use spaces"
    "tab in the front matter": (
        edit("    council_type: unitary-authority\n", "\tcouncil_type: unitary-authority\n"),
        ["cases/{name}.md:6: malformed YAML: found a tab character that violates indentation - use spaces, not a "
         "tab: YAML indents with spaces only"]),
    # "Use a approach"
    "article before a vocabulary": (
        edit("approaches: [service-redesign,", "approaches: [service-redesgn,"),
        ["cases/{name}.md:9: 'service-redesgn' is not a known approach in approaches[0] - did you mean "
         f"'service-redesign'? Use an approach from kb/vocabulary.yml ({APPROACHES})"]),
}


@pytest.mark.parametrize("label", list(FIXED))
def test_fixed_message(small_root, label):
    text, expected = FIXED[label]
    records, problems = run(small_root, {NAME: text})
    assert [str(p) for p in problems] == [e.format(name=NAME) for e in expected]
    assert records == []


def test_impossible_source_date(small_root):
    source = small_root / "sources" / "dclg-2014-good-practice-savings.md"
    text = source.read_text(encoding="utf-8")
    assert 'date: "2014-12"\n' in text
    source.write_text(text.replace('date: "2014-12"\n', 'date: "2025-13-45"\n'), encoding="utf-8")
    _, problems = check_collection([source], small_root)
    assert [str(p) for p in problems] == [
        "sources/dclg-2014-good-practice-savings.md:8: date '2025-13-45' is not a real date - write it as YYYY, "
        "YYYY-MM or YYYY-MM-DD with a month from 01 to 12 and a day that month has"]
    source.write_text(text.replace('date: "2014-12"\n', 'date: "2024-02-29"\n'), encoding="utf-8")
    assert check_collection([source], small_root)[1] == []  # a leap day is a real date


def test_two_cases_with_one_title(small_root):
    # reported on both files, each naming the other (it was only on whichever sorted later)
    copy = GOOD.replace(f"id: {NAME}", "id: copy")
    records, problems = run(small_root, {NAME: GOOD, "copy": copy})
    title = "title 'Brighton and Hove scales up an open-door reablement service for older people' is also the title of "
    assert [str(p) for p in problems] == [
        f"cases/{NAME}.md:3: {title}cases/copy.md - give each case its own title, saying who did what",
        f"cases/copy.md:3: {title}cases/{NAME}.md - give each case its own title, saying who did what"]
    assert records == []


def test_a_typo_in_a_figure_source_still_names_the_case_sources(small_root):
    text = edit("    source: dclg-2014-good-practice-savings\n    where: \"Appendix D, 2. Brighton and Hove, Savings",
                "    source: dclg-2014-good-practise-savings\n    where: \"Appendix D, 2. Brighton and Hove, Savings")
    _, problems = run(small_root, {NAME: text})
    assert [str(p) for p in problems] == [
        f"cases/{NAME}.md:23: savings[0] cites source 'dclg-2014-good-practise-savings', which is not among this "
        "case's sources - add it under `sources:` or use one of: dclg-2014-good-practice-savings"]


def test_corpus_sources_pass_the_date_check():
    sources = sorted((ROOT / "sources").glob("*.md"))
    assert sources and check_collection(sources, ROOT)[1] == []
