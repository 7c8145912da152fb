"""Hostile and unlucky case files: each is refused with one located line, never a traceback, a hang
or a silent acceptance. Every file is the known-good fixture with one change (see test_validate.py)."""
import os
import shutil
import threading

import pytest

from kb.validate import check_collection

from .conftest import FIXTURES

GOOD = (FIXTURES / "good-case.md").read_text(encoding="utf-8")
NAME = "brighton-hove-reablement"


def edit(old, new):
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def check(root, timeout=20):
    """check_collection over cases/, failing (not hanging) if reading a file blocks: the check runs in
    a daemon thread, which a hung read cannot keep alive past the test run."""
    out = {}

    def run():
        try:
            out["result"] = check_collection(sorted((root / "cases").glob("*.md")), root)
        except BaseException as err:  # handed to the test below
            out["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"validation still running after {timeout}s (a read blocked)"
    if "error" in out:
        raise out["error"]
    return out["result"]


HOSTILE = {
    "integer field name": (edit("status: implemented\n", "status: implemented\n1: one\n"),
                           "13: field name '1' is not a word - field names are words such as `title:`; remove this line or fix its name"),
    "null field name": (edit("status: implemented\n", "status: implemented\n~: x\n"), "13: field name '~' is not a word"),
    "boolean field name": (edit("status: implemented\n", "status: implemented\ntrue: x\n"), "13: field name 'true' is not a word"),
    "float key inside years": (edit("years: {start: 2008}", "years:\n  start: 2008\n  1.5: x"), "13: field name '1.5' is not a word"),
    "list as a field name": (edit("status: implemented\n", "status: implemented\n? [a, b]\n: x\n"),
                             "13: field name 'a list or mapping' is not a word"),
    "flow nesting 500 deep": (edit("status: implemented\n", "status: implemented\nx: " + "[" * 500 + "]" * 500 + "\n"),
                              "13: front matter is nested more than 8 levels deep - a case needs at most three levels"),
    "block nesting 250 deep": (edit("status: implemented\n", "status: implemented\nx:\n" + "".join(
        "  " * i + f"k{i}:\n" for i in range(1, 250)) + "  " * 250 + "k: v\n"), "front matter is nested more than 8 levels deep"),
    "duplicate field": (edit("outcome: succeeded\n", "outcome: succeeded\noutcome: failed\n"),
                        "14: field 'outcome' appears twice (also on line 13) - keep one of the two: YAML would silently use the last one"),
    "duplicate field inside a figure": (edit("    per_year: true\n", "    per_year: true\n    per_year: false\n"),
                                        "21: field 'per_year' appears twice (also on line 20)"),
    "amount .nan": (edit("    amount: 313000\n", "    amount: .nan\n"),
                    "17: savings[0].amount must be a number, not nan (YAML reads .nan, .inf and numbers too large to store "
                    "that way) - write the figure in digits, e.g. 313000"),
    "amount .inf": (edit("    amount: 313000\n", "    amount: .inf\n"), "17: savings[0].amount must be a number, not inf"),
    "amount -.inf": (edit("    amount: 313000\n", "    amount: -.inf\n"), "17: savings[0].amount must be a number, not -inf"),
    "amount 1.0e+309 (inf)": (edit("    amount: 313000\n", "    amount: 1.0e+309\n"), "17: savings[0].amount must be a number, not inf"),
    "percent .nan": (edit("    amount: 313000\n", "    percent: .NaN\n"), "17: savings[0].percent must be a number, not nan"),
    "amount beyond 64 bits": (edit("    amount: 313000\n", "    amount: " + "9" * 30 + "\n"),
                              "17: savings[0].amount is too large a number to store"),
    "float year": (edit("years: {start: 2008}", "years: {start: 2008.0}"),
                   "11: years.start must be a whole number, not 2008.0 - write it without a decimal point: 2008"),
    "control character in the title": (edit("title: Brighton", "title: Bri\x07ghton"),
                                       "3: line 3 column 11 holds an invisible control character (U+0007) - delete it"),
    "escape sequence in the title": (edit("title: Brighton", "title: \x1b[31mBrighton"), "3: line 3 column 8 holds an invisible control character (U+001B)"),
    "bidi override in the title": (edit("title: Brighton", "title: Brighton\u202e"),
                                   "3: line 3 column 16 holds a text-direction control (U+202E RIGHT-TO-LEFT OVERRIDE)"),
    "bidi isolate in the body": (edit("## Context\n", "## Context\n\nA \u2066hidden\u2069 word.\n"),
                                 "holds a text-direction control (U+2066 LEFT-TO-RIGHT ISOLATE)"),
    "control character as a YAML escape": (edit('    text: "around £313,000"', '    text: "around \\x07£313,000"'),
                                           "18: a quoted value holds an invisible control character (U+0007, written as an escape"),
    "bidi override as a YAML escape": (edit("title: Brighton and Hove scales up an open-door reablement service for older people",
                                            'title: "Brighton\\u202e and Hove"'),
                                       "3: a quoted value holds a text-direction control (U+202E, written as an escape"),
    "C1 control (NEL) in YAML": (edit("title: Brighton", "title: Brigh\x85ton"), "3: line 3 column 13 holds an invisible control character (U+0085)"),
    "line separator in YAML": (edit("title: Brighton", "title: Brigh\u2028ton"), "3: line 3 column 13 holds an invisible control character (U+2028 LINE SEPARATOR)"),
    "lone carriage return": (edit("status: implemented\n", "status: implemented\rx: 1\n"), "12: line 12 column 20 holds an invisible control character (U+000D)"),
    "tab indentation": (edit("    council_type: unitary-authority\n", "\tcouncil_type: unitary-authority\n"), "6: malformed YAML: found a tab character that violates indentation"),
    "a list as a source id": (edit("  - id: dclg-2014-good-practice-savings\n", "  - id: []\n"),
                              "sources[0].id must be text, not []"),
    "a formula as the title": (edit("title: Brighton", "title: =HYPERLINK(\"http://x.example\") Brighton"),
                               "3: title starts with '=', which a spreadsheet opening the CSV export runs as a formula"),
    "a formula in an organisation's name": (edit("  - name: Brighton and Hove City Council", "  - name: \"@SUM(1+1)*cmd|' /C calc'!A0\""),
                                            "starts with '@', which a spreadsheet opening the CSV export runs as a formula"),
    "a formula as a lesson": (edit("## Lessons\n\n- ", "## Lessons\n\n- +cmd|' /C calc'!A0 "),
                              "a bullet point starts with '+', which a spreadsheet opening the CSV export runs as a formula"),
    "a formula starting a paragraph": (edit("## Context\n\n", "## Context\n\n-2+3+cmd|' /C calc'!A0\n\n"),
                                       "a paragraph starts with '-', which a spreadsheet opening the CSV export runs as a formula"),
    "a 1,000-character field name": (edit("status: implemented\n", "status: implemented\n" + "x" * 1000 + ": 1\n"),
                                     "13: unknown field 'xxxxxxxx"),
    "a 10,000-character field name": (edit("status: implemented\n", "status: implemented\n" + "x" * 10_000 + ": 1\n"),
                                      "13: malformed YAML: could not find expected ':'"),
}


@pytest.mark.parametrize("label", list(HOSTILE))
def test_hostile_file_gets_one_located_line(small_root, label):
    text, expected = HOSTILE[label]
    (small_root / "cases" / f"{NAME}.md").write_text(text, encoding="utf-8")
    records, problems = check(small_root)
    assert records == []
    lines = [str(p) for p in problems]
    assert any(line.startswith(f"cases/{NAME}.md:") and expected in line for line in lines), lines
    for line in lines:
        assert "\n" not in line and "\r" not in line and len(line) < 1200 and line.isprintable(), line


def test_the_silently_accepted_values_were_really_accepted_before(small_root):
    """The oracle of the tests above: without the checks, YAML gives these values to the validator."""
    import yaml

    assert yaml.safe_load("outcome: succeeded\noutcome: failed\n") == {"outcome": "failed"}
    assert str(yaml.safe_load("a: .nan\nb: 1.0e+309\n")) == "{'a': nan, 'b': inf}"


@pytest.mark.parametrize("kind", ["folder", "named pipe", "link to /dev/zero", "link outside the tree",
                                  "dangling link", "oversized sparse file"])
def test_only_regular_files_inside_the_tree_are_read(small_root, tmp_path_factory, kind):
    path = small_root / "cases" / "x.md"
    outside = tmp_path_factory.mktemp("outside") / "x.md"
    outside.write_text(GOOD.replace(f"id: {NAME}", "id: x"), encoding="utf-8")
    expected = {"folder": "cases/x.md:1: is a folder, not a file - remove it, or replace it with a Markdown file of the same name",
                "named pipe": "cases/x.md:1: is a named pipe, not a file",
                "link to /dev/zero": "cases/x.md:1: is a link to '/dev/zero', outside the project folder - replace the link with the file itself",
                "link outside the tree": f"cases/x.md:1: is a link to '{outside}', outside the project folder",
                "dangling link": "cases/x.md:1: is a link to ",
                "oversized sparse file": "cases/x.md:1: file is 1000000 KB, over the 200 KB limit"}[kind]
    if kind == "folder":
        path.mkdir()
    elif kind == "named pipe":
        os.mkfifo(path)
    elif kind == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "link outside the tree":
        path.symlink_to(outside)
    elif kind == "dangling link":
        path.symlink_to(small_root.parent / "no-such-file.md")
    else:
        with open(path, "wb") as f:
            f.truncate(1_000_000_000)  # sparse: a gigabyte that takes no disk
    records, problems = check(small_root)
    assert any(str(p).startswith(expected) for p in problems), [str(p) for p in problems]
    assert "x" not in [r.id for r in records]


def test_reads_at_most_the_limit_plus_one_byte(tmp_path):
    """A file that grows while it is read (here a pipe with a writer that never stops) is cut off
    after MAX_BYTES + 1 bytes, not read whole."""
    from kb.parse import MAX_BYTES, read_bytes

    pipe = tmp_path / "x.md"
    os.mkfifo(pipe)
    stop = threading.Event()

    def writer():
        with open(pipe, "wb") as f:
            while not stop.is_set():
                try:
                    f.write(b"x" * 65536)
                except BrokenPipeError:
                    return

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        raw, problems = read_bytes(pipe, "x.md")
    finally:
        stop.set()
    assert raw is None and problems[0].message == "is a named pipe, not a file"
    regular = tmp_path / "big.md"
    regular.write_bytes(b"x" * (MAX_BYTES + 10))
    raw, problems = read_bytes(regular, "big.md")
    assert raw is None and "over the 200 KB limit" in problems[0].message


def test_unreadable_file(tmp_path):
    """Permission denied is a located line. Root reads anything, so then the read runs as `nobody`."""
    import subprocess
    import sys

    folder = tmp_path / "open"
    folder.mkdir(mode=0o755)
    tmp_path.chmod(0o755)
    path = folder / "x.md"
    path.write_text(GOOD, encoding="utf-8")
    path.chmod(0)
    code = ("import os\nfrom pathlib import Path\nfrom kb.parse import read_bytes\n"
            "if os.geteuid() == 0:\n    os.setgid(65534); os.setuid(65534)\n"
            f"print(read_bytes(Path({str(path)!r}), 'cases/x.md')[1][0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=str(FIXTURES.parent.parent))
    assert out.stdout.strip() == "cases/x.md:1: file cannot be read (permission denied) - make the file readable", out.stderr[-2000:]


def test_a_link_inside_the_tree_is_read(small_root):
    """A link whose target is inside the project is a file of the project, and reads as one."""
    target = small_root / "cases" / f"{NAME}.md"
    shutil.move(target, small_root / "elsewhere.md")
    target.symlink_to(small_root / "elsewhere.md")
    records, problems = check(small_root)
    assert problems == [] and [r.id for r in records] == [NAME]


def test_a_problem_is_always_one_printable_line():
    from kb.parse import Problem

    line = str(Problem("cases/a\nb.md", 3, "unknown field 'a\u202eb\nc'" + "x" * 5000, "fix\r\nit"))
    assert "\n" not in line and "\r" not in line and "\u202e" not in line and len(line) < 1200
    assert line.startswith("cases/a\\nb.md:3: unknown field 'a\\u202eb\\nc'")


# -- the declared files every command reads ---------------------------------------------------------------
def _broken_kb(tmp_path, name: str, edit) -> tuple[int, str]:
    """`kb validate` run from a copy of the kb package whose `name` file is edited."""
    import subprocess
    import sys

    from kb import ROOT

    shutil.copytree(ROOT / "kb", tmp_path / "kb", ignore=shutil.ignore_patterns("model", "__pycache__"))
    path = tmp_path / "kb" / name
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "kb", "validate"], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)}, timeout=120)
    return run.returncode, run.stderr


@pytest.mark.parametrize("name, edit, said", [
    ("vocabulary.yml", lambda text: text + "\n  bad: [\n",
     "kb/vocabulary.yml:{n}: not valid YAML (expected the node content, but found '<stream end>') - fix the indentation "
     "or quoting there (each term: slug, then label and definition indented under it)"),
    ("vocabulary.yml", lambda text: text.replace("    definition:", "    definitio:", 1),
     "kb/vocabulary.yml:{n}: the term council_types/county-council has no `label:` and `definition:` - give it both, "
     "indented under it"),
    ("schema.yml", lambda text: text + "\nbad: [\n",
     "kb/schema.yml:{n}: not valid YAML (expected the node content, but found '<stream end>') - fix the indentation or "
     "quoting there"),
])
def test_a_broken_vocabulary_or_schema_is_one_located_line_not_a_traceback(tmp_path, name, edit, said):
    """Every `kb` command read kb/vocabulary.yml as it started: a slip there was a traceback from YAML's
    parser, naming neither the file nor what to do."""
    code, err = _broken_kb(tmp_path, name, edit)
    assert code == 1 and "Traceback" not in err, err
    assert len(err.strip().split("\n")) == 1 and err.startswith(said.split("{n}")[0]) and said.split("{n}")[1] in err, err
