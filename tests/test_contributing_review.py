"""What a reviewer of a pull request is told by `kb verify` and the workflow: what was not checked,
and every problem in one push."""
import json
import shutil

import yaml

from kb import ROOT

from .conftest import FIXTURES
from .test_contributing_verify import kb, seeds

GOOD = (FIXTURES / "good-case.md").read_text(encoding="utf-8")
NAME = "brighton-hove-reablement"


def test_results_not_checked_is_a_warning_for_the_reviewer(small_root):
    # without the source's text the figures were each a warning, but the numbers in Results were
    # skipped in silence: a reviewer could not tell that "£277,000" in the body went unchecked
    case = "suffolk-coastal-enabling-communities-budget"
    shutil.copy(ROOT / "cases" / f"{case}.md", small_root / "cases")
    result = kb(small_root, "verify", "--format", "github", str(small_root / "cases" / f"{case}.md"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.split("\n")
    assert (f"::warning file=cases/{case}.md,line=54,title=kb verify::the numbers in Summary, Context, Results and Lessons "
            "were not checked: "
            "there is no text here for lga-2016-transformational-models - the reviewer must check each by hand in the "
            "report at https://localis.org.uk/research/local-authority-transformational-models, lines 245-246, 250-256, 262") in lines
    assert ("::warning title=kb verify::2 figure(s) and the text of 1 case(s) NOT checked against their source, "
            "whose text is not here: a reviewer must check each by hand at the address and place its warning gives"
            ) in lines
    assert json.loads(kb(small_root, "verify", "--format", "json").stdout)["results_unchecked"] == 1
    # with the text the Results are checked, and no warning is given
    result = kb(small_root, "verify", "--texts", str(seeds()))
    assert result.exit_code == 0 and "NOT checked" not in result.stderr, result.output


def test_verify_runs_on_a_pull_request_even_when_validate_fails():
    # a step after a failing one is skipped: a contributor with one validate problem saw no verify
    # problems until the next push
    pr = yaml.safe_load((ROOT / ".github" / "workflows" / "pull-request.yml").read_text())
    steps = [s for job in pr["jobs"].values() for s in job["steps"]]
    validate = next(i for i, s in enumerate(steps) if "kb validate --format github" in s.get("run", ""))
    verify = next(i for i, s in enumerate(steps) if "kb verify --format github" in s.get("run", ""))
    assert validate < verify
    assert "!cancelled()" in steps[verify].get("if", "")


def test_verify_checks_the_valid_cases_when_another_fails_validation(small_root):
    # one broken file stopped verify before any figure was checked; on a pull request it now names the
    # file once (the validate step annotates its problems) and checks every other case
    (small_root / "cases" / f"{NAME}.md").write_text(
        GOOD.replace('amount: 313000\n    text: "around £313,000"', 'amount: 314000\n    text: "around £314,000"'),
        encoding="utf-8")
    broken = GOOD.replace("    council_type: unitary-authority\n", "\tcouncil_type: unitary-authority\n").replace(
        f"id: {NAME}", "id: broken-case").replace("Brighton and Hove scales", "Brighton and Hove grows")
    (small_root / "cases" / "broken-case.md").write_text(broken, encoding="utf-8")
    result = kb(small_root, "verify", "--format", "github")
    assert result.exit_code == 1
    lines = result.stdout.strip().split("\n")
    assert lines[0] == ("::error file=cases/broken-case.md,line=6,title=kb verify::not verified: `kb validate` finds "
                        "problems in this file - fix them, and its figures are checked on the next push")
    assert lines[1].startswith(f'::error file=cases/{NAME}.md,line=18,title=kb verify::savings[0] "around £314,000" '
                               "is not in lines")
    assert len(lines) == 2
    # in a terminal the problems themselves are given, as `kb validate` gives them
    result = kb(small_root, "verify")
    assert result.exit_code == 1
    assert "cases/broken-case.md:6: malformed YAML: found a tab character" in result.stdout
    assert f'cases/{NAME}.md:18: savings[0] "around £314,000"' in result.stdout
    assert "1 file(s) not verified: fix what `kb validate` finds in them first." in result.stderr
