"""Slips a newcomer makes when writing a first case (found by adding two cases as one would), each
reported with the file, the line and the fix."""
from kb import ROOT

from .conftest import FIXTURES
from .test_validate import run

GOOD = (FIXTURES / "good-case.md").read_text(encoding="utf-8")
NAME = "brighton-hove-reablement"
ANON = "london-pilot-property-commercial-income"


def edit(old, new, text=GOOD):
    assert text.count(old) == 1, old
    return text.replace(old, new)


def messages(root, text, name=NAME):
    _, problems = run(root, {name: text})
    return [str(p) for p in problems]


def test_curly_quotes_around_a_value_are_reported(small_root):
    # a word processor's quotes are not YAML's: “around £313,000” was stored with its quotes, so the
    # figure passed validate and then failed verify as "not printed", with nothing saying why
    text = edit('text: "around £313,000"', "text: “around £313,000”")
    assert messages(small_root, text) == [
        f"cases/{NAME}.md:18: savings[0].text is wrapped in curly quotes (“around £313,000”), which YAML keeps as "
        "part of the text - use straight quotes: \"around £313,000\""]
    title = edit("title: Brighton and Hove scales up an open-door reablement service for older people",
                 "title: ‘Brighton and Hove scales up an open-door reablement service for older people’")
    assert messages(small_root, title) == [
        f"cases/{NAME}.md:3: title is wrapped in curly quotes (‘Brighton and Hove scales up an open-door reablement "
        "service for older people’), which YAML keeps as part of the text - use straight quotes: \"Brighton and Hove "
        "scales up an open-door reablement service for older people\""]
    # quotes inside a text, as a report prints them, are the text's own
    inner = edit('text: "around £313,000"', "text: \"around £313,000 ‘cashable’\"")
    assert not [m for m in messages(small_root, inner) if "curly" in m]


def test_curly_quotes_used_to_quote_a_colon_say_so(small_root):
    # the message told a contributor who had quoted the text to quote it
    text = edit('where: "Appendix D, 2. Brighton and Hove, Savings, line 1710; financial details table, line 1763"',
                "where: “Appendix D: 2. Brighton and Hove, Savings, line 1710”")
    assert messages(small_root, text) == [
        f"cases/{NAME}.md:24: malformed YAML: mapping values are not allowed in this context - curly quotes “ ” ‘ ’ "
        "do not quote text in YAML: retype them as straight quotes \" or '"]


def test_an_organisation_named_anonymised_must_say_so(small_root):
    # left out, the site showed "Anonymised London pilot borough" as a named council, the anonymised
    # facet missed the case, and near-duplicates took every such case for the same organisation
    case = (ROOT / "cases" / f"{ANON}.md").read_text(encoding="utf-8")
    assert messages(small_root, case, ANON) == []
    assert messages(small_root, edit("    anonymised: true\n", "", case), ANON) == [
        f"cases/{ANON}.md:5: organisations[0] is named 'Anonymised London pilot borough' but has no `anonymised: "
        "true` - add `anonymised: true` under it (the source hides which council it is)"]
    assert messages(small_root, edit("    anonymised: true\n", "    anonymised: false\n", case), ANON)[0].startswith(
        f"cases/{ANON}.md:5: organisations[0] is named 'Anonymised London pilot borough' but has no")


def test_per_year_that_contradicts_the_period_is_reported(small_root):
    # a total over several years marked per_year: true counted as a yearly saving in the savings filter
    text = edit('    period: "2013/14"\n    per_year: true', '    period: "over three years"\n    per_year: true')
    assert messages(small_root, text) == [
        f"cases/{NAME}.md:20: savings[0].per_year is true, but its period or text says 'over three years' - a total "
        "over several years, or a one-off, is per_year: false; if the source gives a yearly figure, say so in the period"]
    text = edit('    period: "2013/14"\n    per_year: true', '    period: "per year"\n    per_year: false')
    assert messages(small_root, text) == [
        f"cases/{NAME}.md:20: savings[0].per_year is false, but its period or text says 'per year' - a yearly figure "
        "is per_year: true; if it is a total or a one-off, say so in the period"]
    # a yearly figure over several years says both: left to the reviewer
    both = edit('    period: "2013/14"\n    per_year: true', '    period: "a year over three years"\n    per_year: true')
    assert messages(small_root, both) == []


def test_an_amount_in_thousands_names_the_amount_to_write(small_root):
    text = edit("amount: 313000", "amount: 313")
    assert messages(small_root, text) == [
        f"cases/{NAME}.md:17: savings[0].amount 313 does not match its text 'around £313,000' (313,000) - amounts "
        "are in pounds: write `amount: 313000`, or correct the text to the figure as printed"]


def test_a_date_written_day_first_is_given_back_in_the_right_form(small_root):
    # the message repeated the field's description instead of saying what to write
    text = edit('reviewed: "2026-11-22"', "reviewed: 03/12/2026")
    assert messages(small_root, text) == [
        f"cases/{NAME}.md:68: reviewed '03/12/2026' is not in the expected form - write the date as YYYY-MM-DD: "
        "2026-12-03 for 03/12/2026 read day first"]
    text = edit('reviewed: "2026-11-22"', 'reviewed: "22 Nov 2026"')
    assert messages(small_root, text) == [
        f"cases/{NAME}.md:68: reviewed '22 Nov 2026' is not in the expected form - write the date as YYYY-MM-DD"]
