"""What a reviewer reads on a pull request: the workflow's steps run as the runner runs them, in a copy
of the project with one changed case. Each step says only what is true of what it did, and the job
summary lists every problem, however many there are past the annotations GitHub shows."""
import os
import re
import subprocess
import sys

import yaml
from click.testing import CliRunner

from kb import ROOT
from kb.annotations import SHOWN
from kb.cli import cli

from .conftest import FIXTURES, STAND_IN

GOOD = (FIXTURES / "good-case.md").read_text(encoding="utf-8")
NAME = "brighton-hove-reablement"
# the same organisation and a title 0.9 alike: a near-duplicate by title
TWIN = GOOD.replace(f"id: {NAME}", "id: twin").replace("older people", "older residents")


def steps():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pull-request.yml").read_text())
    return {s["name"]: s for job in workflow["jobs"].values() for s in job["steps"] if "name" in s}


def step(words: str) -> dict:
    [found] = [s for name, s in steps().items() if name.startswith(words)]
    return found


def run_step(root, summary, words: str) -> subprocess.CompletedProcess:
    """The step's script under bash in root, with `.venv/bin/kb` this checkout's `kb` (and the stand-in
    model, so the build takes seconds)."""
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary), "KB_MODEL": STAND_IN, "PYTHONPATH": str(ROOT)}
    return subprocess.run(["bash", "-e", "-c", step(words)["run"]], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


def shim(root):
    kb = root / ".venv" / "bin" / "kb"
    kb.parent.mkdir(parents=True)
    kb.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m kb "$@"\n')
    kb.chmod(0o755)


def test_each_step_says_only_what_it_checked(small_root, tmp_path):
    # the validate step said near-duplicates "were not checked (run `kb build` first)" while a later
    # step of the same run checked them; and a title twin was annotated twice, once by each step
    shim(small_root)
    (small_root / "cases" / "twin.md").write_text(TWIN, encoding="utf-8")
    (small_root / "changed.txt").write_text("cases/twin.md\n")
    summary = tmp_path / "summary.md"
    out = {}
    for words in ("Validate", "Verify", "Build", "Near-duplicates"):
        result = run_step(small_root, summary, words)
        assert result.returncode == 0, (words, result.stdout, result.stderr)
        out[words] = result.stdout
    assert "not checked" not in out["Validate"] and "very like" not in out["Validate"]
    [warning] = [line for text in out.values() for line in text.split("\n") if "very like" in line]
    assert warning.startswith("::warning file=cases/twin.md,line=3,title=kb validate::very like cases/"
                              f"{NAME}.md (same organisation, titles 0.9")
    assert ("::notice title=kb validate::near-duplicates checked: 1 case(s) compared by title and by meaning with "
            "every case in kb.db; 1 found") in out["Near-duplicates"].split("\n")
    # a reviewer finds the same in the job summary
    text = summary.read_text()
    assert "### kb validate: 7 file(s) OK." in text and "### kb validate: 1 file(s) OK, 1 warning(s)." in text
    assert f"| warning | `cases/twin.md:3` | very like cases/{NAME}.md" in text


def test_near_duplicates_are_checked_only_where_the_database_was_built():
    near = step("Near-duplicates")
    assert "--db kb.db" in near["run"] and "steps.build.outcome == 'success'" in near["if"]
    assert "--no-duplicates" in step("Validate")["run"]
    # the build runs when only verification failed, so one push still shows near-duplicates
    assert "steps.validate.outcome == 'success'" in step("Build")["if"] and "!cancelled()" in step("Build")["if"]


def kb(root, *args):
    return CliRunner().invoke(cli, ["--root", str(root), *args])


def test_the_job_summary_lists_every_problem_past_the_annotations_shown(small_root, tmp_path):
    # a fresh scaffold has some thirty TODOs: GitHub showed ten of them, and the rest only in the log
    assert kb(small_root, "new", "--no-interactive", "--title", "Testshire shares its back office").exit_code == 0
    case = small_root / "cases" / "testshire-shares-its-back-office.md"
    text = kb(small_root, "validate", str(case))
    problems = text.stdout.strip().split("\n")
    assert len(problems) > SHOWN
    summary = tmp_path / "summary.md"
    github = kb(small_root, "validate", "--format", "github", "--summary", str(summary), str(case))
    lines = github.stdout.strip().split("\n")
    assert lines[0] == (f"::notice title=kb validate::{len(problems)} error(s) and 0 warning(s): GitHub shows only the "
                        f"first {SHOWN} of each as annotations - the job summary lists every one")
    table = summary.read_text()
    assert table.startswith(f"### kb validate: {len(problems)} problem(s) in 1 of 1 file(s).\n")
    rows = [line for line in table.split("\n") if line.startswith("| error |")]
    assert len(rows) == len(problems)
    for problem, row in zip(problems, rows):
        where, message = problem.split(": ", 1)
        assert row.startswith(f"| error | `{where}` | {message.split(' - ')[0]} | ")
    # without a summary file the notice sends the reviewer to the log instead
    github = kb(small_root, "validate", "--format", "github", str(case))
    assert github.stdout.startswith("::notice title=kb validate::") and "the log of this step lists every one" in github.stdout


def test_verify_adds_its_problems_and_what_it_could_not_check_to_the_summary(small_root, tmp_path):
    case = small_root / "cases" / f"{NAME}.md"
    case.write_text(GOOD.replace('amount: 313000\n    text: "around £313,000"', 'amount: 314000\n    text: "around £314,000"'),
                    encoding="utf-8")
    summary = tmp_path / "summary.md"
    result = kb(small_root, "verify", "--format", "github", "--summary", str(summary), str(case))
    assert result.exit_code == 1
    table = summary.read_text()
    assert table.startswith("### kb verify: Verified ")
    assert re.search(rf'^\| error \| `cases/{NAME}.md:18` \| savings\[0\] "around £314,000" is not in lines', table, re.M)


def test_a_files_own_words_are_shown_as_written_in_the_summary():
    from kb.annotations import markdown
    from kb.parse import Problem

    text = markdown("kb validate", [Problem("cases/a|b.md", 3, "title 'A | B <b>& C</b> \\o/' is odd", "write it\nplainly")])
    [row] = [line for line in text.split("\n") if line.startswith("| error")]
    assert row == r"| error | `cases/a\|b.md:3` | title 'A \| B &lt;b&gt;&amp; C&lt;/b&gt; \\o/' is odd | write it plainly |"


def test_what_verify_could_not_check_is_among_the_warnings_github_shows(small_root):
    # one warning for each figure whose source's text is absent came first, and the one that says how
    # many went unchecked came last, past the ten GitHub shows
    cases = sorted(path for path in (ROOT / "cases").glob("*.md")
                   if "lga-2016-transformational-models" in path.read_text(encoding="utf-8"))
    for path in cases:
        (small_root / "cases" / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    result = kb(small_root, "verify", "--format", "github", *(str(small_root / "cases" / p.name) for p in cases))
    warnings = [line for line in result.stdout.split("\n") if line.startswith("::warning")]
    assert len(warnings) > SHOWN
    assert warnings[0].startswith("::warning title=kb verify::") and "NOT checked against their source" in warnings[0]


def test_a_summary_without_the_github_format_is_refused(small_root, tmp_path):
    result = kb(small_root, "validate", "--summary", str(tmp_path / "summary.md"))
    assert result.exit_code == 2 and "--summary is for --format github" in result.output
    assert not (tmp_path / "summary.md").exists()
