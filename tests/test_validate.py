"""The validator against a collection of broken files, each with the exact message expected.

Each broken file is the known-good fixture with one change, so every line number below can be
checked by eye against tests/fixtures/good-case.md."""

import pytest

from kb.validate import check_collection

from .conftest import FIXTURES

GOOD = (FIXTURES / "good-case.md").read_text(encoding="utf-8")
NAME = "brighton-hove-reablement"


def edit(old, new, count=1):
    assert old in GOOD, old
    return GOOD.replace(old, new, count)


BROKEN = {
    "malformed YAML": (
        edit("    council_type: unitary-authority\n", "   council_type: unitary-authority\n"),
        ["cases/{name}.md:6: malformed YAML: did not find expected '-' indicator - check the "
         "indentation and quoting on this line and the one before (quote text containing ': ' or '#')"]),
    "missing field": (
        edit("status: implemented\n", ""),
        ["cases/{name}.md:2: missing field 'status' - add `status:` (one of planned, in-progress, implemented, stopped; definitions in "
         "docs/contributing.md)"]),
    "unknown field": (
        edit("services: [adult-social-care]", "servces: [adult-social-care]"),
        ["cases/{name}.md:2: missing field 'services' - add `services:` (one of adult-social-care, childrens-social-care, "
         "education, central-services, customer-services, cultural-and-related, environmental-and-regulatory, "
         "highways-and-transport, ...; definitions in docs/contributing.md)",
         "cases/{name}.md:8: unknown field 'servces' - did you mean 'services'? If not, remove it"]),
    "term outside the vocabulary": (
        edit("services: [adult-social-care]", "services: [adult-social-cares]"),
        ["cases/{name}.md:8: 'adult-social-cares' is not a known service in services[0] - did you mean "
         "'adult-social-care'? Use a service from kb/vocabulary.yml (adult-social-care, childrens-social-care, "
         "education, central-services, customer-services, cultural-and-related, environmental-and-regulatory, "
         "highways-and-transport, ...)"]),
    "id not matching the file name": (
        edit("id: brighton-hove-reablement", "id: brighton-reablement"),
        ["cases/{name}.md:2: id 'brighton-reablement' does not match the file name 'brighton-hove-reablement.md' - "
         "set `id: brighton-hove-reablement` or rename the file to brighton-reablement.md"]),
    "amount that is not a number": (
        edit("    amount: 313000\n", "    amount: £313,000\n"),
        ["cases/{name}.md:17: savings[0].amount must be a number, not '£313,000' - write the amount as digits only, "
         "without £, commas or words (e.g. 1500000 for £1.5 million)"]),
    "savings source not among the case's sources": (
        edit("    source: dclg-2014-good-practice-savings\n", "    source: lga-2016-transformational-models\n"),
        ["cases/{name}.md:23: savings[0] cites source 'lga-2016-transformational-models', which is not among this "
         "case's sources - add it under `sources:` or use one of: dclg-2014-good-practice-savings"]),
    "unknown source id": (
        GOOD.replace("dclg-2014-good-practice-savings", "dclg-2014-good-practise-savings"),
        ["cases/{name}.md:65: unknown source id 'dclg-2014-good-practise-savings' - did you mean "
         "'dclg-2014-good-practice-savings'?"]),
    "missing body section": (
        edit("## Challenges\n", "## Problems\n"),
        # the one unknown heading where the one missing section should be: the section renamed
        ["cases/{name}.md:109: unknown section '## Problems' - rename it to '## Challenges'"]),
    "two sections renamed": (
        edit("## Challenges\n", "## Problems\n").replace("## Lessons\n", "## Learnt\n"),
        ["cases/{name}.md:109: unknown section '## Problems' - rename it to '## Challenges'",
         "cases/{name}.md:117: unknown section '## Learnt' - rename it to '## Lessons'"]),
    "an unknown section and none missing": (
        edit("## Lessons\n", "## Further reading\n\nA report.\n\n## Lessons\n"),
        ["cases/{name}.md:117: unknown section '## Further reading' - use only the sections Summary, Context, What they "
         "did, Results, Challenges, Lessons"]),
    "an empty file": (b"", ["cases/{name}.md:1: file is empty - start from `kb new`, which writes the front matter and "
                            "every section, with TODO wherever you must write"]),
    "a field no case has": (
        edit("evidence: validated-cashable", "evidence: validated-cashable\nlicence: OGL"),
        ["cases/{name}.md:15: unknown field 'licence' - remove it: this format has no such field (its fields are id, "
         "title, organisations, services, approaches, key_attributes, years, status, outcome, evidence, savings, "
         "sources, lesson_questions, reviewed)"]),
    "a quoted year": (
        edit("years: {start: 2008}", 'years: {start: "2008"}'),
        ["cases/{name}.md:11: years.start must be a whole number, not '2008' - take the quotes off: `start: 2008`"]),
    "a dash in a line range": (
        edit('lines: "1674-1768, 764-767"', 'lines: "1674\u20131768, 764-767"'),
        ["cases/{name}.md:67: sources[0].lines '1674\u20131768, 764-767' is not in the expected form - write each range "
         "with a plain hyphen (-), not the dash '\u2013' a word processor puts in"]),
    "sections out of order": (
        edit("## Context\n", "## Results-tmp\n").replace("## Results\n", "## Context\n").replace("## Results-tmp\n", "## Results\n"),
        ["cases/{name}.md:77: section '## Results' is out of order - put the sections in the order Summary, Context, "
         "What they did, Results, Challenges, Lessons"]),
    "empty section": (
        GOOD[:GOOD.index("## Challenges")] + "## Challenges\n\n" + GOOD[GOOD.index("## Lessons"):],
        ["cases/{name}.md:109: section '## Challenges' is empty - write at least one sentence (say so if the "
         "source does not cover it)"]),
    "duplicated section": (
        edit("## Lessons\n", "## Results\n\nMore.\n\n## Lessons\n"),
        ["cases/{name}.md:117: section '## Results' appears twice - merge the two into one"]),
    "text before the first section": (
        edit("\n## Summary\n", "\nStray intro line.\n\n## Summary\n"),
        ["cases/{name}.md:71: text before the first section: 'Stray intro line.' - put it under '## Summary' "
         "(the body is only `## ` sections)"]),
    "lessons without bullets": (
        GOOD[:GOOD.index("## Lessons")] + "## Lessons\n\nJust a paragraph.\n",
        ["cases/{name}.md:117: the Lessons section has no bullet points - write each lesson as its own line "
         "starting with '- '"]),
    "years backwards": (
        edit("years: {start: 2008}", "years: {start: 2012, end: 2008}"),
        ["cases/{name}.md:11: years.end 2008 is before years.start 2012 - swap them or correct the year"]),
    "a list written as text": (
        edit("services: [adult-social-care]", "services: adult-social-care"),
        ["cases/{name}.md:8: services must be a list, not 'adult-social-care' - write it as a list: [adult-social-care]"]),
    "figure with neither amount nor percent": (
        edit("    amount: 313000\n", ""),
        ["cases/{name}.md:16: savings[0] has neither amount nor percent - give `amount:` in GBP as a number, or "
         "`percent:` for a percentage-only figure"]),
    "amount not the one its text prints": (
        edit('    amount: 313000\n    text: "around £313,000"', '    amount: 2491000\n    text: "£2.419Million"'),
        ["cases/{name}.md:17: savings[0].amount 2491000 does not match its text '£2.419Million' (2,419,000) - amounts "
         "are in pounds: write `amount: 2419000`, or correct the text to the figure as printed"]),
    "amount in thousands for a text in K": (
        edit('    amount: 313000\n    text: "around £313,000"', '    amount: 949\n    text: "£949K"'),
        ["cases/{name}.md:17: savings[0].amount 949 does not match its text '£949K' (949,000) - amounts are in "
         "pounds: write `amount: 949000`, or correct the text to the figure as printed"]),
    "percentage not the one its text prints": (
        edit('    amount: 313000\n    text: "around £313,000"', '    percent: 12\n    text: "a 21% cut"'),
        ["cases/{name}.md:17: savings[0].percent 12 does not match its text 'a 21% cut' (21%) - write `percent: "
         "21`, or correct the text to the figure as printed"]),
    "a line range that runs backwards": (
        edit('lines: "1674-1768, 764-767"', 'lines: "1674-1768, 767-764"'),
        ["cases/{name}.md:67: sources[0].lines cites lines 767-764, which run backwards - write the first line first: "
         "764-767"]),
    "a where whose lines run backwards": (
        edit("financial details table, line 1759", "financial details table, lines 1759-1757"),
        ["cases/{name}.md:34: savings[1].where cites lines 1759-1757, which run backwards - write the first line "
         "first: 1757-1759"]),
    "an empty figure text": (
        edit('    text: "around £313,000"', '    text: ""'),
        ['cases/{name}.md:18: savings[0].text is empty - The figure exactly as the source prints it, e.g. "£125.4 '
         'million over ten years".']),
    "a blank period": (
        edit('    period: "2013/14"', '    period: "  "'),
        ['cases/{name}.md:19: savings[0].period is empty - The period the figure covers as the source puts it, e.g. '
         '"2013/14", "over ten years", "per year".']),
    "an empty where": (
        edit("    where: \"Appendix D, 2. Brighton and Hove, financial details table, line 1759\"", '    where: ""'),
        ['cases/{name}.md:34: savings[1].where is empty - Where in that source, with the line it is printed on, e.g. "Appendix D, Barnet, line 1530". '
         '`kb verify` checks that the figure is printed within one line of a line named here, and that the line is in '
         'the text.']),
    "an empty section": (
        edit('    section: "Appendix D - Case studies annex, 2. Brighton and Hove; summary box in section 4.10"',
             '    section: ""'),
        ["cases/{name}.md:66: sources[0].section is empty - Section or heading in the report."]),
    "a misspelt section heading": (
        edit("## Challenges\n", "## Challenge\n"),
        ["cases/{name}.md:109: unknown section '## Challenge' - rename it to '## Challenges'"]),
    "an empty lesson bullet": (
        edit("\n- Build reablement", "\n-\n- Build reablement"),
        ["cases/{name}.md:" + str(GOOD[:GOOD.index("\n- Build reablement")].count("\n") + 2) + ": empty bullet in the Lessons section - write "
         "the lesson after the '- ', or delete the line"]),
    "no front matter": (
        GOOD.split("---\n", 2)[2],
        ["cases/{name}.md:1: file does not start with front matter - make the first line `---`, then the YAML "
         "fields, then a line `---` before the text"]),
    "YAML alias bomb": (
        edit("title: Brighton", "x: &a [lol, lol]\ny: [*a, *a]\ntitle: Brighton"),
        ["cases/{name}.md:3: YAML anchor '&a' is not allowed - remove the anchor and write each value out in full"]),
    "custom YAML tag": (
        edit("status: implemented", "status: !!python/object/apply:os.system [echo hi]"),
        ["cases/{name}.md:12: YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed - remove "
         "the tag; plain strings, numbers, lists and mappings are all a case file needs"]),
}


def _asked(*entries):
    """The fixture with a `lesson_questions` block of (opening words, questions) before `reviewed:` (line 68)."""
    block = "lesson_questions:\n" + "".join(f"  - lesson: \"{lesson}\"\n    questions:\n" + "".join(f"      - {q}\n" for q in qs)
                                           for lesson, qs in entries)
    return edit('reviewed: "2026-11-22"', block + 'reviewed: "2026-11-22"')


ASK = "Should we trial a new care service on a small scale first?"
BROKEN.update({
    "lesson questions for no lesson": (
        _asked(("Pilot first, then grow", [ASK])),
        ["cases/{name}.md:69: lesson_questions[0].lesson 'Pilot first, then grow' begins none of this case's lessons - "
         "copy the opening words of the lesson it is for, as written under `## Lessons`: 'Pilot first, then scale: the "
         "decision ...'; 'Expect the cultural shift to take ...'; 'Build reablement into a wider prevention ...'"]),
    "lesson questions for two lessons": (
        _asked(("Pilot first, then scale", [ASK])).replace("- Pilot first, then scale: the decision",
                                                          "- Pilot first, then scale up slowly.\n- Pilot first, then scale: the decision"),
        ["cases/{name}.md:69: lesson_questions[0].lesson 'Pilot first, then scale' begins 2 lessons - copy more of the "
         "lesson's opening words, until they begin that lesson only"]),
    "two entries of lesson questions for one lesson": (
        _asked(("Pilot first, then scale", [ASK]), ("Pilot first, then scale: the decision", [ASK])),
        ["cases/{name}.md:72: lesson_questions[1] is for the same lesson as lesson_questions[0] - put its questions "
         "under lesson_questions[0] and take this entry out"]),
    "a lesson question without its question mark": (
        _asked(("Pilot first, then scale", [ASK[:-1]])),
        ["cases/{name}.md:71: lesson_questions[0].questions[0] 'Should we trial a new care service on a small scale first' "
         "is not in the expected form - write it as a question ending with \"?\", e.g. \"What do we do when there's "
         "nothing easy left to cut?\""]),
    "more than five questions for a lesson": (
        _asked(("Pilot first, then scale", [ASK] * 6)),
        ["cases/{name}.md:71: lesson_questions[0].questions is too long - keep it to at most 5 items"]),
})


def test_lesson_questions_that_begin_one_lesson_each_pass(small_root):
    records, problems = run(small_root, {NAME: _asked(("Pilot first, then scale", [ASK]),
                                                       ("Expect the cultural   shift", [ASK, "Why does culture take so long to change?"]))})
    assert problems == [] and records[0].data["lesson_questions"][1]["questions"][1].startswith("Why")


def run(tmp_root, files):
    for name, content in files.items():
        path = tmp_root / "cases" / f"{name}.md"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    paths = sorted((tmp_root / "cases").glob("*.md"))
    return check_collection(paths, tmp_root)


@pytest.mark.parametrize("label", list(BROKEN))
def test_broken_file_gets_exact_message(small_root, label):
    text, expected = BROKEN[label]
    records, problems = run(small_root, {NAME: text})
    assert [str(p) for p in problems] == [e.format(name=NAME) for e in expected]
    assert records == []


def test_good_fixture_passes(small_root):
    records, problems = run(small_root, {NAME: GOOD})
    assert problems == [] and [r.id for r in records] == [NAME]


def test_aliases_and_labels_are_accepted_and_normalised(small_root):
    text = edit("services: [adult-social-care]", "services: [adult care]").replace(
        "region: south-east", "region: South East")
    records, problems = run(small_root, {NAME: text})
    assert problems == []
    assert records[0].data["services"] == ["adult-social-care"]
    assert records[0].data["organisations"][0]["region"] == "south-east"


def test_duplicate_ids(small_root):
    _, problems = run(small_root, {NAME: GOOD, "copy": GOOD})
    messages = [str(p) for p in problems]
    assert "cases/copy.md:2: id 'brighton-hove-reablement' does not match the file name 'copy.md' - set `id: copy` or rename the file to brighton-hove-reablement.md" in messages
    assert "cases/copy.md:2: duplicate id 'brighton-hove-reablement', also used by cases/brighton-hove-reablement.md - give each file its own id (and matching file name)" in messages


def test_a_file_name_that_is_no_id_is_not_offered_as_one(small_root):
    """`Weird Name (copy).md` with the id of another: setting the id to the file's name would only be
    refused next (ids are lower-case words joined by hyphens), so the fix is the rename alone."""
    _, problems = run(small_root, {NAME: GOOD, "Weird Name (copy)": GOOD})
    messages = [str(p) for p in problems]
    assert "cases/Weird Name (copy).md:2: id 'brighton-hove-reablement' does not match the file name 'Weird Name (copy).md' - rename the file to brighton-hove-reablement.md" in messages, messages


TITLE = "title 'Brighton and Hove scales up an open-door reablement service for older people' is also the title of "


def test_checking_one_file_compares_its_title_with_every_case(small_root):
    # `kb new` suggests `kb validate cases/<id>.md`: a duplicate title passed when checked alone
    (small_root / "cases" / "copy.md").write_text(edit(f"id: {NAME}", "id: copy"), encoding="utf-8")
    records, problems = check_collection([small_root / "cases" / "copy.md"], small_root)
    assert [str(p) for p in problems] == [
        f"cases/copy.md:3: {TITLE}cases/{NAME}.md - give each case its own title, saying who did what"]
    records, problems = check_collection([small_root / "cases" / f"{NAME}.md"], small_root)
    assert [str(p) for p in problems] == [
        f"cases/{NAME}.md:3: {TITLE}cases/copy.md - give each case its own title, saying who did what"]


def test_not_utf8(small_root):
    raw = GOOD.encode("utf-8").replace("Brighton and Hove turned".encode(), "Brighton and Hove turn\xe9d".encode("latin-1"))
    _, problems = run(small_root, {NAME: raw})
    assert [str(p) for p in problems] == [f"cases/{NAME}.md:73: file is not valid UTF-8 (byte 0xe9) - save the file with UTF-8 encoding"]


def test_oversized_file(small_root):
    _, problems = run(small_root, {NAME: GOOD + ("x" * 210_000)})
    assert [str(p) for p in problems] == [f"cases/{NAME}.md:1: file is 215 KB, over the 200 KB limit - shorten the case or split it into separate cases"]


def test_every_problem_in_one_run(small_root):
    text = edit("status: implemented\n", "status: kinda-done\n").replace("    amount: 313000\n", "    amount: lots\n").replace("## Lessons\n", "## Learning\n")
    _, problems = run(small_root, {NAME: text})
    lines = [p.line for p in problems]
    # the renamed heading once, as the section to rename it to (not also as a missing "## Lessons")
    assert len(problems) == 3, [str(p) for p in problems]
    assert str(problems[-1]).endswith("unknown section '## Learning' - rename it to '## Lessons'")
    assert lines == sorted(lines)


def test_kb_validate_cli_exit_codes(small_root):
    bad = small_root / "cases" / f"{NAME}.md"
    bad.write_text(edit("outcome: succeeded", "outcome: sucess"), encoding="utf-8")
    from click.testing import CliRunner

    from kb.cli import cli

    result = CliRunner().invoke(cli, ["--root", str(small_root), "validate"])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"cases/{NAME}.md:13: 'sucess' is not a known outcome in outcome - did you mean 'succeeded'?")
    bad.write_text(GOOD, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--root", str(small_root), "validate"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("amount, text", [
    (2000000, "£2-3 million per year"),                   # a range: the amount may be either end
    (10000000, "between £10 million and £15 million"),    # several figures
    (3000000, "£3 million to £5 million"),
    (2419000, "£2.419Million"), (949000, "£949K"), (2065, "£2,065 a week"),
])
def test_amounts_the_text_does_not_contradict_pass(small_root, amount, text):
    records, problems = run(small_root, {NAME: edit('    amount: 313000\n    text: "around £313,000"',
                                                    f'    amount: {amount}\n    text: "{text}"')})
    assert [str(p) for p in problems] == []


@pytest.mark.parametrize("amount, text, note, problem", [
    # a table's cell printed without a unit, read in £ millions: the note must say the source prints millions
    (841000, "0.841", "The council assumes each person's benefit lasts one year (line 1745).",
     "cases/brighton-hove-reablement.md:17: savings[0].amount 841,000 reads its text '0.841' in millions of pounds, but "
     "neither its period nor its note says the source prints it in £ millions - say where the source gives the unit in "
     "the note (\"Printed in £ millions in the report's table\"), or, if it prints pounds, write `amount: 0.84`"),
    (841000, "0.841", "Printed in £ millions in the report's financial details table.", None),
    # a cell in a column of pounds written a thousand times too big became the collection's largest saving
    (201230000, "201,230", "Blandford annual savings.",
     "cases/brighton-hove-reablement.md:17: savings[0].amount 201,230,000 reads its text '201,230' in thousands of pounds, "
     "but neither its period nor its note says the source prints it in £ thousands - say where the source gives the unit "
     "in the note (\"Printed in £ thousands in the report's table\"), or, if it prints pounds, write `amount: 201230`"),
    (201230, "201,230", "Blandford annual savings.", None),
    (201230000, "201,230", "Printed in a table in £ thousands.", None),
    # the unit the note names must be the one the amount is read in
    (201230000, "201,230", "Printed in a table in £ millions.", "in thousands of pounds"),
])
def test_a_number_printed_without_a_unit_read_in_thousands_or_more_must_say_so(small_root, amount, text, note, problem):
    records, problems = run(small_root, {NAME: edit(
        '    amount: 313000\n    text: "around £313,000"', f'    amount: {amount}\n    text: "{text}"').replace(
        "The council assumes each person's benefit lasts one year (line 1745).", note)})
    found = [str(p) for p in problems if "reads its text" in str(p)]
    assert found == ([] if problem is None else [problem]) or (problem and len(found) == 1 and problem in found[0]), found


def test_kb_new_and_validate_read_amounts_alike():
    from kb import amounts, scaffold

    assert scaffold.amount_of is amounts.amount_of
    assert amounts.amount_of("£2.419Million") == {"amount": 2419000} and amounts.printed_amount("£949K") == 949000


def test_the_json_schema_also_refuses_empty_texts():
    # editors validate with schema/case.schema.json: it must refuse what kb validate refuses
    from jsonschema import Draft202012Validator

    from kb.schema import json_schema

    figure = json_schema("case")["properties"]["savings"]["items"]
    for value, ok in (("", False), ("   ", False), ("£1 million", True)):
        assert Draft202012Validator(figure["properties"]["text"]).is_valid(value) is ok, value


@pytest.mark.parametrize("text, read", [
    ("2-3% efficiency gain", {"percent": 2}), ("20 to 30 per cent", {"percent": 20}), ("2.5\u20133.5%", {"percent": 2.5}),
    ("a 15% cut", {"percent": 15}), ("£2-3 million per year", {"amount": 2000000}),
])
def test_a_range_of_percentages_is_read_by_its_lower_end_as_a_range_of_money_is(text, read):
    from kb import amounts

    assert amounts.amount_of(text) == read


def test_a_summary_or_a_lesson_past_its_length_fails(small_root):
    """A 184 KB Summary and a 90 KB lesson validated: one became 216 passages, the other a lesson no list shows."""
    long_summary = edit("Brighton and Hove turned a small reablement pilot", "Brighton and Hove turned " + "a very " * 230
                        + "small reablement pilot")
    _, problems = run(small_root, {NAME: long_summary})
    assert [str(p) for p in problems] == [
        f"cases/{NAME}.md:71: the Summary is 1,902 characters, over the 1,500 it may have - keep it to two or three "
        "sentences a reader takes in from a list of results; put the detail under the other sections"]
    long_lesson = edit("- Pilot first, then scale:", "- Pilot first, then scale" + ", and again" * 100 + ":")
    _, problems = run(small_root, {NAME: long_lesson})
    assert [str(p) for p in problems] == [
        f"cases/{NAME}.md:119: this lesson is 1,225 characters, over the 1,000 a lesson may have - keep each lesson to a "
        "sentence or two; split several lessons into bullets of their own, and put the account under the other sections"]


def test_a_review_date_before_the_report_was_published_fails(small_root):
    """`reviewed: "2001-01-01"` passed, for a case drawn from a report of December 2014."""
    import re

    _, problems = run(small_root, {NAME: re.sub(r'(?m)^reviewed: .*$', 'reviewed: "2014-11-30"', GOOD)})
    assert [str(p) for p in problems] == [
        f"cases/{NAME}.md:68: reviewed 2014-11-30 is before dclg-2014-good-practice-savings "
        "was published (2014-12) - write the day you read the case against its sources, as YYYY-MM-DD"]
    _, problems = run(small_root, {NAME: re.sub(r'(?m)^reviewed: .*$', 'reviewed: "2014-12-01"', GOOD)})
    assert problems == []
