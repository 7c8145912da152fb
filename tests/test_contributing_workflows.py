"""The review around a pull request: the workflow files pass actionlint (with shellcheck on their
scripts) and zizmor, and each linter fails on a workflow with known faults; the template and the guide
carry the same checklist."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kb import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent  # the linters install into the virtual environment with the test extras
BAD = """name: bad
on: pull_request_target
jobs:
  x:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo ${{ github.event.pull_request.title }} $UNQUOTED
"""


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        path = shutil.which(name)
        if path is None:
            raise RuntimeError(f"{name} is missing: it is in the test extras (`./run setup` installs them)")
    return str(path)


def lint(*command, cwd=ROOT):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # actionlint finds shellcheck
    return subprocess.run([*command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def workflows():
    found = sorted(WORKFLOWS.glob("*.yml"))
    assert found, "no workflow files"
    return [str(p) for p in found]


def test_actionlint_passes_the_workflows():
    result = lint(tool("actionlint"), *workflows())
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_passes_the_workflows():
    result = lint(tool("zizmor"), "--offline", "--no-progress", str(WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def bad_workflow(tmp_path):
    path = tmp_path / ".github" / "workflows" / "bad.yml"
    path.parent.mkdir(parents=True)
    path.write_text(BAD)
    return path


def test_the_linters_catch_a_faulty_workflow(bad_workflow):
    result = lint(tool("actionlint"), str(bad_workflow), cwd=bad_workflow.parents[2])
    assert result.returncode == 1
    assert "potentially untrusted" in result.stdout and "SC2086" in result.stdout  # shellcheck ran too
    result = lint(tool("zizmor"), "--offline", "--no-progress", str(bad_workflow.parent))
    assert result.returncode != 0
    assert "template-injection" in result.stdout and "dangerous-triggers" in result.stdout


def test_pull_requests_are_validated_verified_and_tested_and_main_is_published():
    pr = yaml.safe_load((WORKFLOWS / "pull-request.yml").read_text())
    main = yaml.safe_load((WORKFLOWS / "main.yml").read_text())
    assert "pull_request" in pr[True] and main[True]["push"]["branches"] == ["main"]  # `on` reads as True in YAML
    pr_runs = "\n".join(step.get("run", "") for job in pr["jobs"].values() for step in job["steps"])
    assert "kb validate --format github" in pr_runs and "kb verify --format github" in pr_runs
    assert "./run test" in pr_runs
    main_runs = "\n".join(step.get("run", "") for job in main["jobs"].values() for step in job["steps"])
    assert "kb build" in main_runs and "kb publish --help" in main_runs and 'kb publish "$KB_PUBLISH_TARGET"' in main_runs
    for workflow in (pr, main):  # the build reads each case's dates from the whole history
        checkout = next(s for job in workflow["jobs"].values() for s in job["steps"] if "checkout" in s.get("uses", ""))
        assert checkout["with"]["fetch-depth"] == 0


def test_the_template_carries_the_guides_review_checklist():
    template = (ROOT / ".github" / "pull_request_template.md").read_text()
    guide = (ROOT / "CONTRIBUTING.md").read_text()
    checklist = guide.split("## Review checklist")[1].split("\n## ")[0]
    items = re.findall(r"^\d+\. (.+?)(?:\n(?=\d+\.)|\n\n|\Z)", checklist, flags=re.S | re.M)
    assert len(items) >= 8
    boxes = re.findall(r"^- \[ \] ", template, flags=re.M)
    assert len(boxes) >= len(items)
    for words in ("kb validate", "kb verify", "own words", "anonymised", "reviewed:", "evidence level", "./run test"):
        assert words in template and words in guide, words
    for command in ("kb new", "kb validate", "kb verify", "kb source add"):
        assert command in guide, command
