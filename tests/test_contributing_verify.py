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


def made_up():
    """The fixture with its first figure not the one the source prints (its amount changed with it)."""
    return GOOD.replace('amount: 313000\n    text: "around £313,000"', 'amount: 314000\n    text: "around £314,000"')


def test_a_made_up_figure_fails(small_root):
    write_case(small_root, made_up())
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
        "The context, line 1680", "The context, line 1700")
    write_case(small_root, text)
    result = kb(small_root, "verify")
    assert result.exit_code == 1
    # (the Context's years, printed in the lines no longer cited, are problems too: the first is the figure's)
    assert result.stdout.split("\n")[0] + "\n" == (
        f'cases/{NAME}.md:56: savings[4] "£105.4 million" is not in lines 764-767, 1690-1768 of '
        "dclg-2014-good-practice-savings - it is at line 1680 of 003_5ee2102b45daad8d.txt: cite that line, or "
        "correct the figure\n")


def test_a_worked_out_number_in_results_fails(small_root):
    write_case(small_root, GOOD.replace("values at around £313,000.", "values at around £313,000 (£1,565 a person)."))
    result = kb(small_root, "verify")
    assert result.exit_code == 1
    assert result.stdout.split("\n")[0] == (
        f"cases/{NAME}.md:105: Results gives £1,565, which the cited lines of dclg-2014-good-practice-savings do not "
        "print - no cited source prints it: quote figures as the source prints them, not worked out")


def test_a_source_without_its_text_is_noted_once_and_does_not_fail(small_root):
    # a case citing the LGA report, whose text is not in the repository
    shutil.copy(ROOT / "cases" / "suffolk-coastal-enabling-communities-budget.md", small_root / "cases")
    result = kb(small_root, "verify")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.split("\n") if "lga-2016-transformational-models" in line]
    assert notes == ["note: no text for source lga-2016-transformational-models (004_eddb96ce043ce060.txt is not in "
                     "sources/text, sources/text-local): its figures are not checked; put the text in sources/text-local/ or name "
                     "its folder with --texts"]
    assert "Warning: 2 figure(s) and the text of 1 case(s) NOT checked against their source" in result.stderr


def test_each_figure_not_checked_is_a_warning_on_its_line_for_the_reviewer(small_root):
    # on a pull request a wrong figure of a report whose text is not in the repository went green
    # with one notice; now each figure is a warning on its line, saying where to check it by hand
    case = "suffolk-coastal-enabling-communities-budget"
    shutil.copy(ROOT / "cases" / f"{case}.md", small_root / "cases")
    result = kb(small_root, "verify", "--format", "github", str(small_root / "cases" / f"{case}.md"))
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.split("\n") if line.startswith("::warning file=")]
    assert lines[0] == (
        f'::warning file=cases/{case}.md,line=18,title=kb verify::savings[0] "£277,000" was not checked against '
        "lga-2016-transformational-models: its text is not here - the reviewer must check it by hand in the report at "
        "https://localis.org.uk/research/local-authority-transformational-models, at 5.4 Case studies, Suffolk Coastal "
        "District Council, line 254")
    assert lines[1].startswith(f"::warning file=cases/{case}.md,line=28,")
    assert "::warning title=kb verify::2 figure(s) and the text of 1 case(s) NOT checked against their source" \
        in result.stdout
    assert json.loads(kb(small_root, "verify", "--format", "json").stdout)["figures_unchecked"] == 2


def test_only_the_sources_the_cases_cite_are_noted_and_counted(small_root):
    # the fixture cites only the DCLG report: the other four sources' texts are neither noted nor counted
    result = kb(small_root, "verify")
    assert result.exit_code == 0, result.output
    assert "no text" not in result.stderr and "NOT checked" not in result.stderr
    assert result.stderr.startswith("Verified 5 figure(s) against 1 source text(s)")
    result = kb(small_root, "verify", "--texts", str(seeds()))
    assert result.stderr.startswith("Verified 5 figure(s) against 1 source text(s)")


def test_a_citation_past_the_end_of_the_text_fails(small_root):
    write_case(small_root, GOOD.replace('lines: "1674-1768, 764-767"', 'lines: "1674-27680, 764-767"').replace(
        "financial details table, line 1759", "financial details table, line 17590"))
    result = kb(small_root, "verify")
    assert result.exit_code == 1
    assert result.stdout == (
        f"cases/{NAME}.md:34: savings[1].where cites line 17590, but 003_5ee2102b45daad8d.txt "
        "(dclg-2014-good-practice-savings) ends at line 2756 - give the line of the text the figure is printed on\n"
        f"cases/{NAME}.md:67: sources[0].lines cites line 27680, but 003_5ee2102b45daad8d.txt "
        "(dclg-2014-good-practice-savings) ends at line 2756 - check the line numbers against the source's text\n")


def test_a_figure_not_at_the_line_its_where_names_fails(small_root):
    # the figure is printed at line 1759, inside the cited lines, but not where `where` says
    write_case(small_root, GOOD.replace("financial details table, line 1759", "financial details table, line 1700"))
    result = kb(small_root, "verify")
    assert result.exit_code == 1
    assert result.stdout == (
        f'cases/{NAME}.md:34: savings[1] "£264,000 over the year" is not at line 1700 of '
        "dclg-2014-good-practice-savings, where its `where` says it is - it is at line 1759: give that line in "
        "`where`\n")
    # within one line of it is enough (a figure may run on from the line before)
    write_case(small_root, GOOD.replace("financial details table, line 1759", "financial details table, line 1760"))
    assert kb(small_root, "verify").exit_code == 0


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
    write_case(small_root, made_up())
    line = kb(small_root, "verify", "--format", "github").stdout.split("\n")[0]
    assert line.startswith(f"::error file=cases/{NAME}.md,line=18,title=kb verify::savings[0] \"around £314,000\" is not in")
    data = json.loads(kb(small_root, "verify", "--format", "json").stdout)
    assert data["problems"][0]["file"] == f"cases/{NAME}.md" and data["problems"][0]["line"] == 18
    assert data["figures_verified"] == 4


def test_over_the_whole_collection_figures_not_checked_are_counted_not_listed(small_root):
    # 65 lines about other people's figures buried what a contributor needed; a case given still lists its own
    case = "suffolk-coastal-enabling-communities-budget"
    shutil.copy(ROOT / "cases" / f"{case}.md", small_root / "cases")
    whole = kb(small_root, "verify")
    assert whole.exit_code == 0 and "was not checked" not in whole.output
    assert ("Warning: 2 figure(s) and the text of 1 case(s) NOT checked against their source, whose text is not here: `kb verify FILE` lists a "
            "case's, each with the report's address and the place to check it by hand.") in whole.stderr
    one = kb(small_root, "verify", str(small_root / "cases" / f"{case}.md"))
    assert one.output.count("was not checked against lga-2016-transformational-models") == 2


def test_a_source_no_case_cites_yet_is_still_checked_for_its_text(small_root):
    """The docs say to add a report before its cases: a wrong text of it passed `kb verify` until a case
    cited it (only `kb verify sources/<file>.md` looked)."""
    import re
    lga = (small_root / "sources" / "lga-2016-transformational-models.md").read_text()
    name = re.search(r"text_file: *\"?([^\"\n]+)", lga).group(1).strip()
    local = small_root / "sources" / "text-local"
    local.mkdir(exist_ok=True)
    (local / name).write_text("another version of the report\n" * 400, encoding="utf-8")
    result = kb(small_root, "verify")
    assert result.exit_code == 1
    assert "sources/lga-2016-transformational-models.md:" in result.stdout and "this record gives" in result.stdout
    assert "record its sha256 (`sha256sum FILE`) as text_sha256" in result.stdout


def test_a_findings_line_past_the_end_of_its_text_fails(small_root):
    path = small_root / "sources" / "dclg-2014-good-practice-savings.md"
    text = path.read_text()
    first = text.index('    where: "')
    end = text.index('"\n', first)
    path.write_text(text[:first] + '    where: "Appendix D, line 8900' + text[end:])
    result = kb(small_root, "verify")
    assert result.exit_code == 1
    line = text[:first].count("\n") + 1
    # in the words a case's citation past the end of its text gets (test_a_citation_past_the_end_of_the_text_fails)
    assert f"sources/dclg-2014-good-practice-savings.md:{line}: findings[0].where cites line 8900, but " \
           "003_5ee2102b45daad8d.txt (dclg-2014-good-practice-savings) ends at line 2756 - give the line of the text " \
           "the finding is drawn from" in result.stdout


# the source prints, at line 765: "In 2013/14, 202 people completed a reablement service course and of these,
# 70 per cent were able to live at home with no or less support after receiving the service."
COPIED = ("- In 2013/14, 202 people completed a reablement service course and of these, 70 per cent were able\n"
          "  to live at home with no or less support after receiving the service.\n")


def test_a_run_of_words_copied_from_the_source_fails_with_its_place(small_root):
    start = GOOD.index("- In 2013/14, 202 people completed it")
    end = GOOD.index("\n- The council treats each person's saving")
    write_case(small_root, GOOD[:start] + COPIED + GOOD[end + 1:])
    line = GOOD[:start].count("\n") + 1
    result = kb(small_root, "verify")
    assert result.exit_code == 1
    assert result.stdout == (
        f'cases/{NAME}.md:{line}: the body copies 30 words in a row from dclg-2014-good-practice-savings (line 765): '
        '"In 2013/14 202 people completed a reablement service course and of these 70 per cent were able to live at '
        'home with no or less support after receiving the service" - write it in your own words (a figure is quoted '
        'exactly only in savings[].text, names and numbers may stay as printed)\n')
    # in our own words, with the same figures, it passes
    write_case(small_root, GOOD)
    assert kb(small_root, "verify").exit_code == 0


def test_names_and_numbers_as_printed_are_no_copying(small_root):
    # 12 words as the source prints them, but only 4 everyday ones: a case may name things as printed
    names = "- Brighton and Hove City Council, in 2013/14, 202 people, 70 per cent at home.\n"
    from kb.copying import COPIED_WORDS, EVERYDAY_WORDS, _Shingles, _runs
    from kb.verify import SourceText
    text = SourceText("s", small_root / "t.txt", ["In Brighton and Hove City Council in 2013/14 202 people 70 per cent at home."])
    written = [(w, 1) for w in ("Brighton and Hove City Council in 2013/14 202 people 70 per cent".split())]
    assert len(written) == COPIED_WORDS and _runs(written, _Shingles(text)) == [(0, COPIED_WORDS, 1)]
    assert sum(w[0].islower() for w, _ in written) < EVERYDAY_WORDS
    start = GOOD.index("## Lessons")
    write_case(small_root, GOOD[:start] + names + "\n" + GOOD[start:])
    assert kb(small_root, "verify").exit_code == 0


def test_a_finding_copied_from_its_report_fails(small_root):
    path = small_root / "sources" / "dclg-2014-good-practice-savings.md"
    record = path.read_text(encoding="utf-8")
    ours = ("What helped most was firm leadership from senior officers and councillors, a track record of\n"
            "      making savings before, and an organisation used to looking for efficiencies and change;")
    assert ours in record
    # the report's words at line 505 (3.33)
    path.write_text(record.replace(ours, "The enablers relate to corporate and strategic leadership, including political "
                                         "mandate, and previous experience of delivering savings;"), encoding="utf-8")
    result = kb(small_root, "verify", str(path))
    assert result.exit_code == 1
    line = record[:record.index(ours)].count("\n")  # the line of `text: >-`, above the finding's words
    assert result.stdout == (
        f"sources/dclg-2014-good-practice-savings.md:{line}: findings[15].text copies 16 words in a row from "
        'dclg-2014-good-practice-savings (line 505): "enablers relate to corporate and strategic leadership including '
        'political mandate and previous experience of delivering savings" - write it in your own words (a figure is '
        'quoted exactly only in savings[].text, names and numbers may stay as printed)\n')


# -- the whole text's numbers and sums, and a figure's period ----------------------------------------------
def first_line(root):
    result = kb(root, "verify")
    return result.exit_code, result.stdout.split("\n")[0]


NOT_PRINTED = " - no cited source prints it: quote figures as the source prints them, not worked out"


def fails_first_with(root, line: int, problem: str) -> None:
    assert first_line(root) == (1, f"cases/{NAME}.md:{line}: {problem}")


def test_a_wrong_number_in_the_summary_fails_as_in_results(small_root):
    """Only Results was checked: the Summary, which a reader sees first, could give any figure."""
    write_case(small_root, GOOD.replace("fewer\nof them need long-term home care",
                                        "fewer\nof them need long-term home care (57.5 per cent fewer)"))
    fails_first_with(small_root, 75, "Summary gives 57.5, which is not in the cited lines of dclg-2014-good-practice-savings"
                     + NOT_PRINTED)


def test_a_sum_of_money_is_checked_as_money_not_as_a_bare_number(small_root):
    """"£10 million over the contract" passed, its 10 being in "a further 10 years" of the cited lines."""
    for written, in_lines in (("£6.25 million", "6 per cent lower"), ("£2,065", None)):
        changed = GOOD.replace("values at around £313,000.", f"values at around £313,000 ({written} in all).")
        write_case(small_root, changed)
        code, line = first_line(small_root)
        if in_lines is None:  # the same sum the cited lines print, elsewhere in the text: no problem
            assert code == 0, line
        else:
            fails_first_with(small_root, 105, f"Results gives {written}, which the cited lines of "
                             "dclg-2014-good-practice-savings do not print" + NOT_PRINTED)
    # a sum printed as a table's bare number in £ millions is one of the case's figures: "£0.841 million" passes
    write_case(small_root, GOOD)
    assert first_line(small_root)[0] == 0


def test_a_financial_year_is_one_figure_however_printed(small_root):
    """"2016/17" for "2015/16" gave two problems, "Results gives 17" and "Results gives 2016"; and
    "2015/2016" in the source did not match "2015/16" in the case."""
    write_case(small_root, GOOD.replace("In 2012/13, 242 people", "In 2031/32, 242 people"))
    fails_first_with(small_root, 102, "Results gives 2031/32, which is not in the cited lines of "
                     "dclg-2014-good-practice-savings" + NOT_PRINTED)
    from kb.verify import numbers
    assert numbers("in 2015/2016, then 2016-17.") == numbers("in 2015/16, then 2016/17") == {"2015/16", "2016/17"}
    assert numbers("between 2010-2015") == {"2010", "2015"}  # a span of years is no financial year
    assert numbers("accessed 12/09/13 at https://x.org/a/56/10180") == set()  # a date, an address: no figures


def test_a_figures_period_must_be_printed_in_its_cited_lines(small_root):
    write_case(small_root, GOOD.replace('text: "around £313,000"\n    period: "2013/14"',
                                        'text: "around £313,000"\n    period: "2016/17"'))
    fails_first_with(small_root, 19, "savings[0].period gives 2016/17, which the cited lines of "
                     "dclg-2014-good-practice-savings do not print - give the period the source gives the figure for, "
                     "or cite the line that gives it")


def test_a_figures_line_outside_the_cases_cited_lines_fails_validation(small_root):
    """Lines pointing at another council's case study passed: each figure's own line counted as cited."""
    write_case(small_root, GOOD.replace('lines: "1674-1768, 764-767"', 'lines: "1574-1668, 764-767"'))
    result = kb(small_root, "validate")
    assert result.exit_code == 1
    assert (f"cases/{NAME}.md:24: savings[0].where names line 1710 and more, outside the lines this case cites for "
            "dclg-2014-good-practice-savings (sources[0].lines \"1574-1668, 764-767\") - cite the lines the case draws "
            "on in sources[0].lines, the figure's among them, or correct `where`") in result.stdout.split("\n")
