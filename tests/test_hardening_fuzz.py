"""Property-based fuzzing (Hypothesis) of case files and of requests to the site.

Case files are the known-good fixture with random mutations (lines deleted, doubled, swapped or
re-indented, characters inserted, values replaced by hostile YAML); the properties: no exception, every
rejection one printable located line, and nothing accepted that holds a repeated or non-word field
name, a non-finite number, a fractional year or a hidden character. Requests are random parameters for
the search page and table pages, and random calls of SQL functions; the properties: never a 5xx, never
a traceback.

The default run tries a few dozen examples per test. A longer run, by hand:

    KB_FUZZ_EXAMPLES=3000 .venv/bin/python -m pytest tests/test_hardening_fuzz.py -s

prints the counts (files and requests tried, tracebacks, 5xx, silent accepts) at the end.
"""
import asyncio
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb import ROOT
from kb.parse import HIDDEN
from kb.validate import check_collection

from .conftest import FIXTURES

EXAMPLES = int(os.environ.get("KB_FUZZ_EXAMPLES", "50"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="KB_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
COUNTS = {"files": 0, "files rejected": 0, "files accepted": 0, "requests": 0, "sql requests": 0,
          "tracebacks": 0, "5xx": 0, "silent accepts": 0}
GOOD = (FIXTURES / "good-case.md").read_text(encoding="utf-8")
NAME = "brighton-hove-reablement"
FRONT_LINES = GOOD.split("\n---\n", 1)[0].count("\n") + 1


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    line = "fuzz counts: " + ", ".join(f"{k} {v}" for k, v in COUNTS.items())
    print("\n" + line)
    if os.environ.get("KB_FUZZ_REPORT"):
        Path(os.environ["KB_FUZZ_REPORT"]).write_text(json.dumps(COUNTS) + "\n")


# -- case files -------------------------------------------------------------------------------------
HOSTILE_SCALARS = [".nan", ".NaN", ".inf", "-.inf", "1.0e+309", "-1.0e+309", "~", "null", "true", "no", "2013.0",
                   "2013.5", "1e3", "0x1F", "0o17", "1_000", "12:30:00", "2013-01-01", "''", '""', "[]", "{}",
                   "[a, [b, [c, [d, [e, [f, [g, [h, [i]]]]]]]]]", "{a: 1, a: 2}", "&x a", "*x", "!!str x",
                   "!!python/object/apply:os.system [echo]", "|\n  block\n  text", ">-\n  folded", "? a\n: b",
                   "9" * 25, "-" + "9" * 25, "'\u202eevil'", "'a\u2066b'", "\"\\x07\"", "\"\\u202e\"", "\"\\0\"",
                   "\"\\N\"", "\"\\L\"", "%TAG", "@x", "`x`", "'", "\"", "[", "{", "- - -", ": :", "#", "<<: {a: 1}"]
CHARS = list("\x00\x07\x08\x0b\x0c\x1b\x7f\x85\u00a0\u061c\u200b\u200e\u200f\u202a\u202e\u2028\u2029\u2066\u2069\ufeff"
             "\t\r\n :-#&*!|>'\"%@`{}[],?\\~") + ["é", "ß", "£", "日", "😀", "\U0010ffff"]
KEYS = ["id", "title", "outcome", "status", "years", "start", "end", "amount", "percent", "per_year", "savings",
        "services", "1", "~", "true", "1.5", "null", "<<", "x" * 300, "? [a]"]

values = st.one_of(
    st.sampled_from(HOSTILE_SCALARS),
    st.integers(min_value=-(10 ** 30), max_value=10 ** 30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: yaml.safe_dump(f).split("\n")[0]),
    st.text(alphabet=st.sampled_from(CHARS + list("abcxyz019")), max_size=30),
    st.recursive(st.one_of(st.integers(), st.floats(), st.text(max_size=8), st.booleans(), st.none()),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                 max_leaves=12).map(lambda v: yaml.safe_dump(v, default_flow_style=True, width=10_000).strip()),
)


@st.composite
def mutated_files(draw):
    lines = GOOD.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        # mostly the front matter, where the parser and validator meet hostile YAML
        i = draw(st.integers(1, FRONT_LINES - 1) | st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "value", "insert", "delete", "double", "swap", "indent", "char", "char"]))
        line = lines[i] if i < len(lines) else ""
        if op == "value" and ":" in line:
            key, _, _ = line.partition(":")
            lines[i] = f"{key}: {draw(values)}"
        elif op == "insert":
            indent = draw(st.sampled_from(["", "  ", "    "]))
            lines.insert(i, f"{indent}{draw(st.sampled_from(KEYS))}: {draw(values)}")
        elif op == "delete" and len(lines) > 2:
            del lines[i]
        elif op == "double":
            lines.insert(i, line)
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            lines[i] = draw(st.sampled_from(["", " ", "  ", "\t"])) + line.lstrip()
        else:
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.sampled_from(CHARS)) + line[at:]
    return "\n".join(lines)


def _duplicate_or_odd_keys(node) -> bool:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            keys = []
            for key, value in current.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag != "tag:yaml.org,2002:str":
                    return True
                keys.append(key.value)
                stack.append(value)
            if len(keys) != len(set(keys)):
                return True
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return False


def _bad_values(data, path=()):
    """Values nothing accepted may hold, found independently of the validator."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _bad_values(v, path + (k,))
    elif isinstance(data, list):
        for n, v in enumerate(data):
            yield from _bad_values(v, path + (n,))
    elif isinstance(data, float) and not math.isfinite(data):
        yield path, data
    elif isinstance(data, float) and path[:1] == ("years",):
        yield path, data
    elif isinstance(data, int) and not isinstance(data, bool) and abs(data) >= 2 ** 63:
        yield path, data
    elif isinstance(data, str) and HIDDEN.search(data):
        yield path, data


def silently_accepted(text: str, record) -> list:
    """Why an accepted file should not have been accepted (empty when it is fine)."""
    why = []
    front = text.split("\n")
    end = next(i for i in range(1, len(front)) if front[i].strip() == "---")
    # the loader the project reads with (libyaml when installed, which allows a tab before ':')
    node = yaml.compose("\n".join(front[1:end]), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if _duplicate_or_odd_keys(node):
        why.append("repeated or non-word field name")
    why += [f"{path}: {value!r}" for path, value in _bad_values(record.data)]
    if HIDDEN.search(text.replace("\r\n", "\n")):  # Windows line endings are fine
        why.append("hidden character")
    return why


@pytest.fixture(scope="module")
def fuzz_root():
    root = Path(tempfile.mkdtemp(prefix="kb-fuzz-"))
    (root / "cases").mkdir()
    shutil.copytree(ROOT / "sources", root / "sources")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def check_one(root: Path, text: str):
    path = root / "cases" / f"{NAME}.md"
    path.write_text(text, encoding="utf-8", newline="")
    COUNTS["files"] += 1
    try:
        records, problems = check_collection([path], root)
    except Exception:
        COUNTS["tracebacks"] += 1
        raise
    n_lines = text.count("\n") + 1
    for problem in problems:
        line = str(problem)
        assert line.startswith(f"cases/{NAME}.md:") and "\n" not in line and line.isprintable(), line
        assert 1 <= problem.line <= n_lines + 1, (problem.line, n_lines, line)
        assert " - " in line, line  # what, then the fix
    if problems:
        COUNTS["files rejected"] += 1
        assert records == []
        return
    COUNTS["files accepted"] += 1
    why = silently_accepted(text, records[0])
    if why:
        COUNTS["silent accepts"] += 1
    assert why == [], why
    # an accepted file must also go into the database without a traceback
    import sqlite_utils

    from ingest.build import _write_tables
    try:
        _write_tables(sqlite_utils.Database(memory=True), records, {})
    except Exception:
        COUNTS["tracebacks"] += 1
        raise


@FUZZ
@given(text=mutated_files())
def test_fuzzed_case_files(fuzz_root, text):
    check_one(fuzz_root, text)


TARGETS = ["title", "outcome", "status", "services", "years", "savings", "evidence", "key_attributes",
           "organisations", "years.start", "years.end", "savings.amount", "savings.percent", "savings.per_year",
           "savings.text", "savings.status", "organisations.region", "sources.id"]


@FUZZ
@given(target=st.sampled_from(TARGETS), value=values)
def test_fuzzed_front_matter_values(fuzz_root, target, value):
    lines = GOOD.split("\n")
    field, _, sub = target.partition(".")
    if field == "years" and sub:
        i = lines.index("years: {start: 2008}")
        lines[i] = "years: {start: " + (value if sub == "start" else "2008") + (f", end: {value}" if sub == "end" else "") + "}"
    elif sub:
        start = next(i for i, l in enumerate(lines) if l.startswith(f"{field}:"))
        i = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip("- ").startswith(f"{sub}:")), None)
        if i is None:  # a field the fixture's first item leaves out: add it
            lines.insert(start + 2, f"    {sub}: {value}")
        else:
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip("- "))]
            lines[i] = f"{indent}{sub}: {value}"
    else:
        i = next(i for i, l in enumerate(lines) if l.startswith(f"{field}:"))
        lines[i] = f"{field}: {value}"
    check_one(fuzz_root, "\n".join(lines))


# -- requests ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(corpus_db):
    """The site, without the penalty for clients that keep failing (here, on purpose, all of them)."""
    from kb.site import LIMITS, make_datasette

    saved = LIMITS["error_penalty_s"]
    LIMITS["error_penalty_s"] = 0
    yield make_datasette(corpus_db)
    LIMITS["error_penalty_s"] = saved


PATHS = ["/-/search", "/-/search.json", "/-/search.csv", "/kb/cases", "/kb/cases.json", "/kb/lessons.json",
         "/kb/figures.csv", "/kb/organisations.json", "/kb/cases/brighton-hove-reablement",
         "/kb/cases/brighton-hove-reablement.json", "/kb", "/kb.json", "/", "/kb/chunks.json", "/kb/terms"]
PARAMS = ["q", "mode", "target", "page", "min_savings", "max_savings", "services", "council_types", "regions",
          "outcome", "_sort", "_sort_desc", "_facet", "_facet_array", "_facet_date", "_size", "_next", "_col",
          "_nocol", "_search", "_search_title", "_labels", "_shape", "_where", "title__contains",
          "year_start__gt", "council_types__arraycontains", "id__in", "_through", "_json", "_trace", "_context",
          "_nl", "_stream", "_dl", "_fts_table", "_facet_size", "_hash", "_nofacet", "_nocount", "x"]
PARAM_VALUES = st.one_of(
    st.sampled_from(["", "0", "-1", "1e309", "nan", "inf", "£1,000", "9" * 40, "id", "title", "rowid", "body_html",
                     "services", "{", "{\"x\":1}", "{\"array\":\"services\"}", "[]", "*", "\"", "'", "NEAR(*",
                     "1 or 1=1", "x\x00y", "\x00", "%", "_", "\\", "max", "objects", "array", "hybrid", "keyword",
                     "semantic", "lessons", "psychic", "district-council", "on", "off", "1", "50000",
                     "{\"through\":1}", "{\"table\":\"x\",\"column\":\"y\",\"value\":1}", "a" * 3000]),
    st.text(alphabet=st.sampled_from(CHARS + list("abc123_-.,")), max_size=40),
)


def _body_ok(response, capfd) -> None:
    if response.status_code >= 500:
        COUNTS["5xx"] += 1
    out, err = capfd.readouterr()
    if "Traceback (most recent call last)" in response.text + out + err:
        COUNTS["tracebacks"] += 1
    assert response.status_code < 500, (response.status_code, response.url, response.text[:500])
    assert "Traceback (most recent call last)" not in response.text + out + err, (response.text + out + err)[-3000:]


@FUZZ
@given(path=st.sampled_from(PATHS), params=st.lists(st.tuples(st.sampled_from(PARAMS), PARAM_VALUES), max_size=6))
def test_fuzzed_requests(site, capfd, path, params):
    url = path + ("?" + urlencode(params) if params else "")
    COUNTS["requests"] += 1
    response = asyncio.run(site.client.get(url))
    _body_ok(response, capfd)
    if path.endswith(".json") and response.status_code in (200, 400):
        json.loads(response.text)


FUNCTIONS = ["printf", "format", "ltrim", "rtrim", "trim", "replace", "instr", "substr", "randomblob", "zeroblob",
             "hex", "quote", "char", "kb_cosine", "fts3_tokenizer", "like", "glob", "json", "json_array", "upper",
             "length", "unicode", "soundex", "round", "abs", "group_concat", "total", "coalesce", "typeof",
             "highlight", "snippet", "bm25", "matchinfo", "load_extension", "sqlite_compileoption_get"]
SQL_ARGS = st.one_of(
    st.sampled_from(["1e9", "1e18", "-1", "0", "null", "'%.*c'", "'%*d'", "'x'", "'%s%s%s'", "x'00'",
                     "(select vector from chunks limit 1)", "(select body_html from cases limit 1)",
                     "zeroblob(900000)", "printf('%.*c', 900000, 'a')", "'simple'", "cases_fts", "'a%'", "'*'"]),
    st.integers(min_value=-(10 ** 12), max_value=10 ** 12).map(str),
    st.text(alphabet=st.sampled_from(list("abc%_*'\\ ,()")), max_size=10).map(lambda s: "'" + s.replace("'", "''") + "'"),
)


@FUZZ
@given(function=st.sampled_from(FUNCTIONS), args=st.lists(SQL_ARGS, max_size=4),
       wrap=st.sampled_from(["select {}", "select length({})", "select {} from cases limit 5",
                             "select * from cases_fts where cases_fts match 'care' and {} is not null",
                             "with recursive r(n) as (select 1 union all select n + 1 from r where n < 100) select {} from r"]),
       fmt=st.sampled_from([".json", ".csv", ""]))
def test_fuzzed_sql_functions(site, capfd, function, args, wrap, fmt):
    sql = wrap.format(f"{function}({', '.join(args)})")
    COUNTS["requests"] += 1
    COUNTS["sql requests"] += 1
    response = asyncio.run(site.client.get(f"/kb{fmt}?sql=" + quote(sql)))
    _body_ok(response, capfd)
    assert len(response.content) < 60_000_000
