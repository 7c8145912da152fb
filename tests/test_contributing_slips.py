"""Slips a contributor makes that the checks once let through or named in a programmer's words:
each gets one line naming the file, the line and the fix. Every file is the known-good fixture with
one change (see test_validate.py)."""
import datetime

import pytest

from kb.validate import check_collection

from .conftest import FIXTURES

GOOD = (FIXTURES / "good-case.md").read_text(encoding="utf-8")
NAME = "brighton-hove-reablement"
WHERE = '    where: "Appendix D, 2. Brighton and Hove, Savings, line 1710; financial details table, line 1763"\n'
NOTE = '(line 1745)."\n'


def edit(old, new):
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def summary(added):
    """The fixture with `added` at the end of the Summary's first line."""
    at = GOOD.index("## Summary\n\n") + len("## Summary\n\n")
    return GOOD[:at] + GOOD[at:].replace("\n", f" {added}\n", 1)


TOMORROW_PLUS = (datetime.date.today() + datetime.timedelta(days=3)).isoformat()
SLIPS = {
    # a note to self anywhere, not only where `kb new` put its markers
    "TODO inside a sentence": (summary("TODO: confirm the year."),
                               "a note to self ('TODO') is left in section '## Summary' - finish the text and take the "
                               "note out: the site would show it to readers"),
    "tbd in a Results bullet": (edit("## Results\n\n- ", "## Results\n\n- (tbd) "), "a note to self ('tbd') is left in section '## Results'"),
    "todo in a figure's note": (edit(NOTE, '(line 1745). todo ask maintainers"\n'),
                                "25: savings[0].note holds a note to self ('todo')"),
    "TODO in a where": (edit(WHERE, '    where: "Appendix D, line 1710 (TODO check page)"\n'),
                        "24: savings[0].where holds a note to self ('TODO')"),
    # a date that has not happened yet
    "reviewed in the future": (edit('reviewed: "2026-11-22"', f'reviewed: "{TOMORROW_PLUS}"'),
                               f"reviewed '{TOMORROW_PLUS}' is in the future - write the date it happened, today's or "
                               "earlier, as YYYY-MM-DD"),
    # an impossible date is told the form its field takes: `reviewed` takes only a whole day
    "reviewed in the thirteenth month": (edit('reviewed: "2026-11-22"', 'reviewed: "2025-13-01"'),
                                         "reviewed '2025-13-01' is not a real date - write it as YYYY-MM-DD with a month"),
    # `field:` with nothing after it, which YAML reads as null: no "not None"
    "empty period": (edit('    period: "2013/14"\n', "    period:\n"),
                     "19: savings[0].period is empty - write savings[0].period as text after the colon (The period"),
    # a quoted true or false is text
    "quoted false": (edit("    per_year: true\n", '    per_year: "false"\n'),
                     "20: savings[0].per_year must be true or false, not 'false' - take the quotes off: `per_year: false`"),
    # YAML reads on past an unclosed quote and fails lines later: the line where it opened
    "unclosed quote": (edit('    text: "around £313,000"\n', '    text: "around £313,000\n'),
                       "18: malformed YAML: the quote opened on line 18 is not closed on that line - add the closing quote"),
    # " #" starts a comment: the rest of the line was dropped without a word
    "a value cut at ' #'": (edit(WHERE, "    where: Appendix D, 2. Brighton #2, line 1710\n"),
                            "24: where stops before '#2, line 1710': YAML reads a ' #' as the start of a comment and "
                            "drops the rest of the line - put the whole value in double quotes"),
    # a figure's place must name its line, which `kb verify` checks
    "a where without a line": (edit(WHERE, '    where: "page 21"\n'),
                               "24: savings[0].where 'page 21' is not in the expected form - Where in that source, with "
                               "the line it is printed on"),
    # a figure printed without £ (a table's cell in £ millions) was never checked: a tenfold slip was published
    "a tenfold amount beside a table's number": (edit("    amount: 841000\n", "    amount: 8410000\n"),
                                                 "36: savings[2].amount 8,410,000 is not what its text '0.841' prints, "
                                                 "read in pounds, thousands, millions or billions (0.84 or 841 or 841,000 or "
                                                 "841,000,000) - amounts are in pounds"),
    "an amount beside '27.7m'": (edit('    amount: 841000\n    text: "0.841"\n', '    amount: 2770000\n    text: "27.7m by end 2012/13"\n'),
                                 "36: savings[2].amount 2,770,000 is not what its text '27.7m by end 2012/13' prints, read "
                                 "in the unit printed (27,700,000)"),
}


@pytest.mark.parametrize("label", list(SLIPS))
def test_a_slip_gets_one_located_line(small_root, label):
    text, expected = SLIPS[label]
    (small_root / "cases" / f"{NAME}.md").write_text(text, encoding="utf-8")
    records, problems = check_collection(sorted((small_root / "cases").glob("*.md")), small_root)
    lines = [str(p) for p in problems]
    assert records == [], lines
    assert any(line.startswith(f"cases/{NAME}.md:") and expected in line for line in lines), lines


@pytest.mark.parametrize("text", [
    edit("status: implemented\n", "status: implemented  # a comment of its own\n"),  # a comment proper is no slip
    edit('reviewed: "2026-11-22"', f'reviewed: "{datetime.date.today().isoformat()}"'),
    edit(WHERE, '    where: "Appendix D, Lines 1710-1712"\n'),
    edit('    amount: 841000\n    text: "0.841"\n', '    amount: 27700000\n    text: "27.7m by end 2012/13"\n'),
])
def test_what_is_no_slip(small_root, text):
    (small_root / "cases" / f"{NAME}.md").write_text(text, encoding="utf-8")
    records, problems = check_collection(sorted((small_root / "cases").glob("*.md")), small_root)
    assert problems == [] and len(records) == 1
