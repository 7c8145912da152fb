"""Problems printed three ways: `file:line: what - fix` for a person, workflow commands that the
code host shows as file:line annotations on a pull request (`--format github`), or JSON records."""
from __future__ import annotations

import html
import json

from .parse import Problem

FORMATS = ("text", "github", "json")
# GitHub shows at most this many annotations of each level from one step; the rest are only in its log
SHOWN = 10


def _escape(value: str, property_: bool = False) -> str:
    # GitHub's workflow-command escaping: %, CR and LF everywhere; also : and , inside properties
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if property_ else value


def github(problem: Problem, level: str = "error", title: str = "kb") -> str:
    return (f"::{level} file={_escape(problem.path, True)},line={problem.line},title={_escape(title, True)}::"
            f"{_escape(f'{problem.message} - {problem.fix}')}")


def summary(message: str, title: str = "kb") -> str:
    """A warning about the whole run, shown at the top of the pull request's checks."""
    return f"::warning title={_escape(title, True)}::{_escape(message)}"


def text(problem: Problem, level: str = "error") -> str:
    return str(problem) if level == "error" else f"{problem.path}:{problem.line}: {level}: {problem.message} - {problem.fix}"


def record(problem: Problem, level: str = "error") -> dict:
    return {"level": level, "file": problem.path, "line": problem.line, "message": problem.message, "fix": problem.fix}


def _cell(value, code: bool = False) -> str:
    # a file's own words (a title, a value) are shown as written, not read as HTML or as the table's edges
    text = str(value) if code else html.escape(str(value), quote=False).replace("\\", "\\\\")
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown(headline: str, errors: list[Problem], warnings: list[Problem] = (), notes: list[str] = ()) -> str:
    """Every problem as a Markdown table, for the job summary of a workflow run: there a reviewer sees
    them all, however many there are past the annotations GitHub shows."""
    out = [f"### {_cell(headline)}", ""]
    found = [(p, "error") for p in errors] + [(p, "warning") for p in warnings]
    if found:
        out += ["| | where | problem | how to fix it |", "|---|---|---|---|"]
        out += [f"| {level} | `{_cell(p.path, code=True)}:{p.line}` | {_cell(p.message)} | {_cell(p.fix)} |"
                for p, level in found]
        out.append("")
    out += [f"- {_cell(n)}" for n in notes]
    return "\n".join(out).rstrip("\n") + "\n\n"


def render(fmt: str, title: str, errors: list[Problem], warnings: list[Problem] = (), notes: list[str] = (),
           extra: dict | None = None, summarised: bool = False) -> tuple[list[str], list[str]]:
    """(lines for stdout, lines for stderr). In text form notes go to stderr; in the other forms every
    message is on stdout, where the code host or a script reads it. `summarised`: the github form's
    problems are also in the job summary."""
    found = [(p, "error") for p in errors] + [(p, "warning") for p in warnings]
    if fmt == "json":
        return [json.dumps({**(extra or {}), "problems": [record(p, level) for p, level in found],
                            "notes": list(notes)}, indent=2, ensure_ascii=False)], []
    if fmt == "github":
        notice = f"::notice title={_escape(title, True)}::"
        count = []
        if len(errors) > SHOWN or len(warnings) > SHOWN:
            # first, so that it is among the annotations GitHub shows
            count = [notice + _escape(f"{len(errors)} error(s) and {len(warnings)} warning(s): GitHub shows only the "
                                      f"first {SHOWN} of each as annotations - the "
                                      f"{'job summary' if summarised else 'log of this step'} lists every one")]
        return count + [github(p, level, title) for p, level in found] + [notice + _escape(n) for n in notes], []
    return [text(p, level) for p, level in found], [f"note: {n}" for n in notes]
