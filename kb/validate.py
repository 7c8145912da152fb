"""Checks case and source files against kb/schema.yml and kb/vocabulary.yml.

Every problem is reported as `file:line: what is wrong - how to fix it`, all of them in one run."""
from __future__ import annotations

import copy
import datetime
import difflib
import math
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import yaml
from jsonschema import Draft202012Validator, validators

from .amounts import SCALES, printed_amount, printed_bare_amounts, printed_percent
from .citations import backwards, ranges, where_ranges
from .parse import Document, Problem, Section, one_line, parse_document, read_bytes, shown, split_sections
from .questions import lessons_begun
from .schema import body_sections, field_spec, json_schema, lessons_section, load_schema, max_chars, summary_section
from .vocabulary import load_vocabularies

# SQLite stores whole numbers in 64 bits; a larger one would stop the build at the insert.
MAX_INTEGER = 2 ** 63 - 1
TODO = "TODO"  # `kb new` writes it wherever a person must write; each one is reported as "fill in"
ANONYMISED = re.compile(r"\banonymi[sz]ed\b", re.I)
TYPE_WORDS = {"string": "text", "integer": "a whole number", "number": "a number", "boolean": "true or false",
              "array": "a list", "object": "a set of `field: value` lines"}


@dataclass
class Record:
    """A file that passed validation: normalised front matter plus its body sections."""
    kind: str
    id: str
    document: Document
    data: dict
    sections: list[Section] = field(default_factory=list)


def _is_integer(checker, value) -> bool:
    # JSON Schema counts 2013.0 as an integer; a year or count written that way is a slip, not a year
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(checker, value) -> bool:
    # .nan and .inf (and 1e309, which YAML reads as inf) are floats but no amount: nan would drop the
    # case out of every savings filter and sort, inf would sort first
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (isinstance(value, int) or math.isfinite(value))


StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many({"integer": _is_integer, "number": _is_number}))


@lru_cache(maxsize=None)
def _validator(kind: str):
    return StrictValidator(json_schema(kind))


def _a(label: str) -> str:
    return f"{'an' if label[:1].lower() in 'aeiou' else 'a'} {label}"


def _terms(vocab) -> str:
    # a short list whole ("Dorset" for a region: the one meant, south-west, was cut off after eight)
    shown_terms = list(vocab.terms) if len(vocab.terms) <= 12 else list(vocab.terms)[:8]
    return f"{', '.join(shown_terms)}{', ...' if len(vocab.terms) > len(shown_terms) else ''}"


def vocabulary_of(kind: str, path: tuple) -> str | None:
    """The vocabulary of the field at path, or of its items."""
    spec = field_spec(kind, path) or {}
    return spec.get("vocabulary") or (spec.get("items") or {}).get("vocabulary")


def field_hint(kind: str, path: tuple) -> str:
    """What to write in a field: its vocabulary's terms, else its `fill`, else its description."""
    vocabulary = vocabulary_of(kind, path)
    if vocabulary:
        return f"one of {_terms(load_vocabularies()[vocabulary])}; definitions in docs/contributing.md"
    spec = field_spec(kind, path) or {}
    if spec.get("fill"):
        return spec["fill"].replace("{today}", datetime.date.today().isoformat())
    return spec.get("description") or "see docs/contributing.md"


# A note to self left inside a sentence ("... in 2013. TODO: check the year"), in any case: the
# scaffold's own markers open a value or a line and are reported as "fill in"; these the site would
# show to readers
LEFT_MARKER = re.compile(r"\b(?:TODO|TBD|FIXME)\b", re.I)


def _left_markers(node, path: tuple = ()) -> list[tuple[tuple, str]]:
    """(path, the marker as written) of front-matter text that holds a note to self past its start."""
    if isinstance(node, str):
        found = LEFT_MARKER.search(node)
        return [(path, found.group(0))] if found and not node.startswith(TODO) else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    return [found for key, value in items for found in _left_markers(value, path + (key,))]


def _todos(node, path: tuple = ()) -> list[tuple[tuple, str]]:
    """(path, what the marker says after "TODO:") of the front-matter values that are still TODO
    markers; a tool that guessed a value says so there, e.g. `kb source add` of a PDF's own title."""
    if isinstance(node, str):
        return [(path, node[len(TODO):].lstrip(" :").strip())] if node.startswith(TODO) else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    return [found for key, value in items for found in _todos(value, path + (key,))]


def _check_dates(doc: Document, kind: str, data: dict) -> list[Problem]:
    problems = []
    for name, spec in load_schema()[kind]["fields"].items():
        value = data.get(name)
        if spec.get("format") == "date" and isinstance(value, str) and re.fullmatch(spec["pattern"], value):
            parts = [int(x) for x in value.split("-")] + [1, 1]
            try:
                date = datetime.date(*parts[:3])
            except ValueError:
                # the forms this field takes, as its pattern allows them: `reviewed` takes only a whole day
                forms = [f for f, example in (("YYYY", "2020"), ("YYYY-MM", "2020-06"), ("YYYY-MM-DD", "2020-06-01"))
                         if re.fullmatch(spec["pattern"], example)]
                problems.append(Problem(doc.display, doc.line_of((name,)), f"{name} '{value}' is not a real date",
                                        f"write it as {' or '.join(forms) if len(forms) < 3 else 'YYYY, YYYY-MM or YYYY-MM-DD'} "
                                        "with a month from 01 to 12 and a day that month has"))
                continue
            # a day's grace: a contributor's "today" may be tomorrow here
            if date > datetime.date.today() + datetime.timedelta(days=1):
                problems.append(Problem(doc.display, doc.line_of((name,)), f"{name} '{value}' is in the future",
                                        "write the date it happened, today's or earlier, as YYYY-MM-DD"
                                        if len(parts) == 5 else "write the date it happened, this year or earlier"))
    return problems


def _path_text(path) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out or "front matter"


def _schema_problem(doc: Document, kind: str, error) -> Problem | list[Problem]:
    path = tuple(error.absolute_path)
    line = doc.line_of(path)
    where = _path_text(path)
    spec = field_spec(kind, path) or {}
    v = error.validator
    if v == "required":
        # one problem per absent field, found from the data rather than from the error's wording
        # (jsonschema raises one such error per absent field; check_document drops the repeats)
        problems = []
        for missing in (name for name in error.validator_value if name not in error.instance):
            problems.append(Problem(doc.display, line, f"missing field '{missing}'" + (f" in {where}" if path else ""),
                                    f"add `{missing}:` ({field_hint(kind, path + (missing,))})"))
        return problems
    if v == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})), key=str)
        allowed = list(error.schema.get("properties", {}))
        name = str(extra[0]) if extra else "?"
        line = doc.line_of(path + (name,))
        # close only: "licence" was offered "evidence"
        near = difflib.get_close_matches(name, allowed, n=1, cutoff=0.75)
        fix = (f"did you mean '{near[0]}'? If not, remove it" if near
               else f"remove it: this format has no such field (its fields are {', '.join(allowed)})")
        return Problem(doc.display, line, f"unknown field {shown(name)}" + (f" in {where}" if path else ""), fix)
    if v == "enum":
        vocab = load_vocabularies()[spec["vocabulary"]] if spec.get("vocabulary") else None
        if vocab:
            guess = vocab.suggest(str(error.instance)[:200])
            use = f"{_a(vocab.label.lower())} from kb/vocabulary.yml ({_terms(vocab)})"
            fix = f"did you mean '{guess}'? Use {use}" if guess else f"use {use}"
            return Problem(doc.display, line, f"{shown(error.instance)} is not a known {vocab.label.lower()} in {where}", fix)
    if v == "type":
        expected = TYPE_WORDS.get(error.validator_value, error.validator_value)
        got = shown(error.instance)
        fix = f"write {where} as {expected}"
        if isinstance(error.instance, float) and not math.isfinite(error.instance):
            return Problem(doc.display, line, f"{where} must be {expected}, not {error.instance} (YAML reads .nan, .inf "
                                              "and numbers too large to store that way)",
                           "write the figure in digits, e.g. 313000")
        if isinstance(error.instance, float) and error.validator_value == "integer":
            return Problem(doc.display, line, f"{where} must be {expected}, not {error.instance}",
                           f"write it without a decimal point: {int(error.instance) if error.instance.is_integer() else 'a whole number'}")
        if error.validator_value == "integer" and isinstance(error.instance, str):
            span = re.match(r"\s*(\d{4})\s*[/-]\s*\d{2,4}\s*$", error.instance)
            fix = (f"give only the first year of a financial year, e.g. {span.group(1)} for {error.instance.strip()}"
                   if span else f"take the quotes off: `{path[-1]}: {error.instance.strip()}`"
                   if error.instance.strip().isdigit() and path else f"write {where} as a whole number in digits")
        if error.validator_value == "number" and isinstance(error.instance, str):
            fix = "write the amount as digits only, without £, commas or words (e.g. 1500000 for £1.5 million)"
            if path and path[-1] == "percent":
                fix = "write the percentage as a number only, without % (e.g. 12.5)"
        if error.validator_value == "array" and isinstance(error.instance, str):
            fix = f"write it as a list: [{error.instance}]"
            item = (field_spec(kind, path + (0,)) or {})
            if item.get("fields"):  # a list of entries, each with fields of its own: [name] is no such list
                needed = [f for f, s in item["fields"].items() if s.get("required")]
                first = needed[0] if needed else next(iter(item["fields"]))
                fix = (f"write it as a list of entries, each starting '- ' on a line of its own with its fields under it: "
                       f"`- {first}: {error.instance}`" + (f", then {', '.join(needed[1:])}" if len(needed) > 1 else ""))
        if error.instance is None:  # `field:` with nothing after it, which YAML reads as null
            return Problem(doc.display, line, f"{where} is empty",
                           f"write {where} as {expected} after the colon ({field_hint(kind, path)})")
        meant = {"true": "true", "yes": "true", "false": "false", "no": "false"}
        if error.validator_value == "boolean" and isinstance(error.instance, str) and error.instance.strip().lower() in meant:
            fix = f"take the quotes off: `{path[-1] if path else where}: {meant[error.instance.strip().lower()]}`"
        return Problem(doc.display, line, f"{where} must be {expected}, not {got}", fix)
    if v in ("pattern", "minLength") and isinstance(error.instance, str) and not error.instance.strip():
        return Problem(doc.display, line, f"{where} is empty", field_hint(kind, path))
    if v == "pattern":
        fix = spec.get("description") or f"it must match {error.validator_value}"
        dash = re.search(r"[\u2012-\u2015\u2212]", error.instance)
        if dash and re.fullmatch(error.validator_value, re.sub(r"[\u2012-\u2015\u2212]", "-", error.instance)):
            fix = f"write each range with a plain hyphen (-), not the dash '{dash.group()}' a word processor puts in"
        if spec.get("format") == "date":
            fix = f"write the date as {_iso_hint(error.instance, error.validator_value)}"
        return Problem(doc.display, line, f"{where} {shown(error.instance)} is not in the expected form", fix)
    if v in ("minItems", "minLength"):
        return Problem(doc.display, line, f"{where} is too short or empty",
                       f"give at least {error.validator_value} {'item' if v == 'minItems' else 'characters'}")
    if v in ("maxItems", "maxLength"):
        return Problem(doc.display, line, f"{where} is too long",
                       f"keep it to at most {error.validator_value} {'items' if v == 'maxItems' else 'characters'}")
    if v in ("minimum", "maximum"):
        bound = "at least" if v == "minimum" else "at most"
        return Problem(doc.display, line, f"{where} is {error.instance}, out of range", f"it must be {bound} {error.validator_value}")
    return Problem(doc.display, line, f"{where}: {error.message}", "see docs/contributing.md")


def _iso_hint(value: str, pattern: str) -> str:
    """How to write a date the pattern refuses: "03/12/2026" (day first, as in Britain) -> 2026-12-03."""
    form = "YYYY-MM-DD" if pattern.count("[0-9]{2}") == 2 and "?" not in pattern else "YYYY, YYYY-MM or YYYY-MM-DD"
    found = re.fullmatch(r"\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*", value)
    if found:
        day, month, year = (int(x) for x in found.groups())
        try:
            return f"{form}: {datetime.date(year, month, day).isoformat()} for {value.strip()} read day first"
        except ValueError:
            pass
    return form


def _leaves(data) -> Iterator[tuple[tuple, object]]:
    """Every value of the front matter that is neither a mapping nor a list, with its path."""
    stack: list[tuple[tuple, object]] = [((), data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            stack += [(path + (k,), v) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(path + (i,), v) for i, v in enumerate(node)]
        else:
            yield path, node


def _too_large(doc: Document) -> list[Problem]:
    """Whole numbers SQLite cannot store (the schema sets no upper bound on amounts)."""
    problems = []
    for path, node in _leaves(doc.data):
        if isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_INTEGER:
            problems.append(Problem(doc.display, doc.line_of(path), f"{_path_text(path)} is too large a number to store",
                                    f"check the figure; whole numbers must stay below {MAX_INTEGER:,}"))
    return problems


# A word processor's quotes are not YAML's: a value typed “like this” keeps them as part of its text
CURLY_PAIRS = {"\u201c": "\u201d", "\u2018": "\u2019", "\u201e": "\u201d"}


def _curly_wrapped(doc: Document) -> list[Problem]:
    """Text values wrapped whole in curly quotes, which YAML keeps: a figure so quoted is then not the
    text the source prints, and a title shows its quotes on the site."""
    problems = []
    for path, node in _leaves(doc.data):
        if isinstance(node, str) and len(node) > 1 and CURLY_PAIRS.get(node[0]) == node[-1]:
            inner = node[1:-1]
            problems.append(Problem(doc.display, doc.line_of(path),
                                    f"{_path_text(path)} is wrapped in curly quotes ({one_line(node, 120)}), which YAML "
                                    "keeps as part of the text",
                                    f"use straight quotes: \"{one_line(inner, 120)}\""))
    return sorted(problems, key=lambda p: p.line)


# A spreadsheet runs a cell that starts with one of these as a formula (`=HYPERLINK(...)`, `-2+3+cmd|...`),
# and every CSV export (the search's, each table's) carries titles, names, figures and text as written.
FORMULA_STARTS = ("=", "+", "-", "@")
_BLOCK_START = re.compile(r"[ \t]*(?:(?:[-*+]|\d+[.)])[ \t]+)?(.*)")
_RULE_OR_UNDERLINE = re.compile(r"[ \t]*(?:[-=]+|[-*_][ \t]*(?:[-*_][ \t]*){2,})[ \t]*")


def _formula(text: str) -> str | None:
    start = text.lstrip()[:1]
    return start if start in FORMULA_STARTS else None


def _formulas(doc: Document) -> list[Problem]:
    """Text that would start a CSV cell with a formula: any value of the front matter, and the start of
    every paragraph and bullet of the body (a passage, a lesson)."""
    problems = []
    fix = "start it with a word: a sign or symbol goes after the first word, or in words"
    for path, node in _leaves(doc.data):
        if isinstance(node, str) and _formula(node):
            problems.append(Problem(doc.display, doc.line_of(path), f"{_path_text(path)} starts with '{_formula(node)}', "
                                    "which a spreadsheet opening the CSV export runs as a formula", fix))
    previous = ""
    for n, line in enumerate(doc.body.split("\n")):
        listed = re.match(r"[ \t]*(?:[-*+]|\d+[.)])[ \t]+", line)
        starts_block = listed or not previous.strip() or previous.lstrip().startswith("#")
        text = _BLOCK_START.fullmatch(line).group(1)
        if starts_block and _formula(text) and not _RULE_OR_UNDERLINE.fullmatch(line):
            what = "a bullet point" if listed else "a paragraph"
            problems.append(Problem(doc.display, doc.body_line + n, f"{what} starts with '{_formula(text)}', "
                                    "which a spreadsheet opening the CSV export runs as a formula", fix))
        previous = line
    return problems


# An abbreviation alone in brackets defines the words before it ("special educational needs and
# disabilities (SEND)"); after words it does not abbreviate it reads as what they stand for, though it
# was meant as whose account this is: "to achieve those results (LGA)". Checked in the text written in
# our own words (the body, notes, a report's findings), not in what quotes a source as printed.
_BRACKETED = re.compile(r"\(([A-Z][A-Za-z]*[A-Z])s?\)")


def _spelt_by(before: str, abbreviation: str) -> bool:
    """Whether the last words before the brackets have the abbreviation's letters, in order, as their
    initials (a function word may be passed over, and a word's own capitals count: SharePoint)."""
    words = re.findall(r"[A-Za-z][\w'&-]*", before)[-(2 * len(abbreviation) + 2):]
    initials = [c.lower() for w in words for c in [w[0], *re.findall(r"(?<=[a-z])[A-Z]", w)]]
    letters = list(abbreviation.lower())
    for initial in reversed(initials):
        if letters and initial == letters[-1]:
            letters.pop()
    return not letters


def _cut_by_comments(doc: Document) -> list[Problem]:
    """Unquoted values that YAML cut short at ' #' ("where: Case studies, Plymouth #3, line 122" keeps
    "Case studies, Plymouth"): a '#' straight after a space starts a comment, so the rest of the line
    was dropped without a word. A comment proper ("# like this", as `kb new` writes after its hints) is
    left alone."""
    problems = []

    def walk(node, name):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, key.value if isinstance(key, yaml.ScalarNode) else name)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item, name)
        elif isinstance(node, yaml.ScalarNode) and not node.style and not str(node.value).startswith(TODO) \
                and node.end_mark.line < len(lines):
            mark = node.end_mark
            cut = re.match(r"[ \t]+(#\S.*)", lines[mark.line][mark.column:])
            if cut and mark.column > 0:
                problems.append(Problem(doc.display, mark.line + 2,
                                        f"{name} stops before '{cut.group(1)[:40]}': YAML reads a ' #' as the start "
                                        "of a comment and drops the rest of the line",
                                        "put the whole value in double quotes"))

    lines = doc.front.split("\n")
    if doc.node is not None:
        walk(doc.node, "the value")
    return problems


def _bracketed_attributions(doc: Document) -> list[Problem]:
    texts = [(doc.line_of(path), node) for path, node in _leaves(doc.data) if isinstance(node, str)
             and (path[-1] == "note" or path[:1] == ("findings",) and path[-1] == "text")]
    texts.append((doc.body_line, doc.body))
    problems = []
    for line, text in texts:
        for m in _BRACKETED.finditer(text):
            before = text[:m.start()]
            if _spelt_by(before, m.group(1)):
                continue
            words = " ".join(before.split()[-4:])
            problems.append(Problem(doc.display, line + before.count("\n"),
                                    f"'{m.group(0)}' after '{words}' reads as what those words stand for",
                                    f"say whose account it is in words, such as '(as the {m.group(1)} report says)', "
                                    f"or write out what {m.group(1)} stands for before the brackets"))
    return problems


def _normalise(kind: str, data: dict) -> dict:
    """Replace aliases with their slugs, wherever a field is vocabulary-backed."""
    vocabularies = load_vocabularies()
    data = copy.deepcopy(data)

    def walk(node, spec):
        if spec.get("type") == "object" and isinstance(node, dict):
            for name, sub in spec.get("fields", {}).items():
                if name in node:
                    node[name] = walk(node[name], sub)
        elif spec.get("type") == "list" and isinstance(node, list):
            item = spec.get("items", {})
            out = []
            for value in node:
                value = walk(value, item)
                if value not in out:
                    out.append(value)
            return out
        elif spec.get("vocabulary") and isinstance(node, str):
            return vocabularies[spec["vocabulary"]].canonical(node) or node
        return node

    return walk(data, {"type": "object", "fields": load_schema()[kind]["fields"]})


def _check_body(doc: Document, kind: str) -> tuple[list[Section], list[Problem]]:
    problems = []
    wanted = body_sections(kind)
    sections, stray = split_sections(doc.body, doc.body_line)
    found = [s.heading for s in sections]
    # '### Lessons' for '## Lessons': say so, rather than that the section is missing
    misleveled: dict[str, int] = {}
    body_lines = doc.body.split("\n")
    for n, text in enumerate(body_lines):
        head = re.match(r"(#{1,6})[ \t]+(.+?)[ \t#]*$", text)
        if head and len(head.group(1)) != 2 and head.group(2) in wanted and head.group(2) not in found \
                and head.group(2) not in misleveled:
            misleveled[head.group(2)] = doc.body_line + n
            problems.append(Problem(doc.display, doc.body_line + n, f"'{head.group(1)} {head.group(2)}' is not a level-2 heading",
                                    f"write it as '## {head.group(2)}' (sections are level-2 headings: two #)"))
    stray = [(line, text) for line, text in stray if line not in misleveled.values()]
    guidance = load_schema()[kind]["body"].get("guidance", {})
    for n, text in enumerate(body_lines):
        if re.match(rf"\s*(?:[-*+]\s+)?{TODO}\b", text):
            line = doc.body_line + n
            section = next((s for s in reversed(sections) if s.line < line), None)
            name = section.heading if section else wanted[0]
            problems.append(Problem(doc.display, line, f"fill in section '## {name}'",
                                    guidance.get(name, "write it in your own words")))
        elif found_marker := LEFT_MARKER.search(text):
            line = doc.body_line + n
            section = next((s for s in reversed(sections) if s.line < line), None)
            problems.append(Problem(doc.display, line, f"a note to self ('{found_marker.group(0)}') is left in "
                                                       f"section '## {section.heading if section else wanted[0]}'",
                                    "finish the text and take the note out: the site would show it to readers"))
    for line, text in stray[:1]:
        problems.append(Problem(doc.display, line, f"text before the first section: '{text[:40]}'",
                                f"put it under '## {wanted[0]}' (the body is only `## ` sections)"))
    unknown = [s for s in sections if s.heading not in wanted]
    absent = [w for w in wanted if w not in found and w not in misleveled]
    for s in sections:
        if s.heading not in wanted:
            near = difflib.get_close_matches(s.heading, wanted, n=1)
            if not near and len(unknown) == len(absent):
                # as many unknown headings as missing sections ("## What was done" where "## What they did"
                # should be): each is the one missing in its place, renamed
                near = [absent[unknown.index(s)]]
            problems.append(Problem(doc.display, s.line, f"unknown section '## {s.heading}'",
                                    f"rename it to '## {near[0]}'" if near else f"use only the sections {', '.join(wanted)}"))
        elif found.count(s.heading) > 1 and s is not next(x for x in sections if x.heading == s.heading):
            problems.append(Problem(doc.display, s.line, f"section '## {s.heading}' appears twice", "merge the two into one"))
        elif not s.markdown:
            problems.append(Problem(doc.display, s.line, f"section '## {s.heading}' is empty",
                                    "write at least one sentence (say so if the source does not cover it)"))
    known = [h for h in found if h in wanted]
    # a misspelt heading is reported once, as unknown with the name to rename it to, not also as missing
    renamed = {near for s in sections if s.heading not in wanted
               for near in difflib.get_close_matches(s.heading, wanted, n=1)}
    if len(unknown) == len(absent):
        renamed |= set(absent)
    for n, name in enumerate(wanted):
        if name not in found and name not in misleveled and name not in renamed:
            following = next((s for s in sections if s.heading in wanted[n + 1:]), None)
            line = following.line if following else doc.body_line + doc.body.rstrip("\n").count("\n")
            problems.append(Problem(doc.display, line, f"missing section '## {name}'",
                                    f"add a '## {name}' section {'before this line' if following else 'at the end'} "
                                    f"(sections go in the order {', '.join(wanted)})"))
    ordered = [h for h in wanted if h in known]
    seen = list(dict.fromkeys(known))
    if seen != ordered:
        first_bad = next(s for s, o in zip(seen, ordered) if s != o)
        line = next(s.line for s in sections if s.heading == first_bad)
        problems.append(Problem(doc.display, line, f"section '## {first_bad}' is out of order",
                                f"put the sections in the order {', '.join(wanted)}"))
    if lessons_section(kind) in wanted:
        lessons = next((s for s in sections if s.heading == lessons_section(kind)), None)
        if lessons and lessons.markdown and not lessons.bullets:
            problems.append(Problem(doc.display, lessons.line, f"the {lessons.heading} section has no bullet points",
                                    "write each lesson as its own line starting with '- '"))
        for line, text in lessons.bullets if lessons else []:
            if not text:  # each bullet is a lesson record: a bare '-' would be an empty lesson
                problems.append(Problem(doc.display, line, f"empty bullet in the {lessons.heading} section",
                                        "write the lesson after the '- ', or delete the line"))
            elif len(text) > max_chars(kind).get("lesson", len(text)):
                problems.append(Problem(doc.display, line, f"this lesson is {len(text):,} characters, over the "
                                        f"{max_chars(kind)['lesson']:,} a lesson may have",
                                        "keep each lesson to a sentence or two; split several lessons into bullets of "
                                        "their own, and put the account under the other sections"))
    summary = next((s for s in sections if s.heading == summary_section(kind)), None)
    if summary and len(summary.markdown.strip()) > max_chars(kind).get("summary", len(summary.markdown)):
        problems.append(Problem(doc.display, summary.line, f"the {summary.heading} is {len(summary.markdown.strip()):,} "
                                f"characters, over the {max_chars(kind)['summary']:,} it may have",
                                "keep it to two or three sentences a reader takes in from a list of results; put the "
                                "detail under the other sections"))
    return sections, problems


def check_document(doc: Document, kind: str, known_sources: set[str] | None = None) -> tuple[Record | None, list[Problem]]:
    """Checks of one file on its own; cross-file checks are in check_collection."""
    validator = _validator(kind)
    todos = [path for path, _ in _todos(doc.data)]
    found: list[Problem] = [Problem(doc.display, doc.line_of(path), f"fill in {_path_text(path)}",
                                    said or field_hint(kind, path)) for path, said in _todos(doc.data)]
    for error in validator.iter_errors(doc.data):
        if any(tuple(error.absolute_path)[:len(path)] == path for path in todos):
            continue  # reported once, as "fill in"
        made = _schema_problem(doc, kind, error)
        found += [p for p in (made if isinstance(made, list) else [made]) if p not in found]
    found += [Problem(doc.display, doc.line_of(path), f"{_path_text(path)} holds a note to self ('{marker}')",
                      "finish it and take the note out: the site would show it to readers")
              for path, marker in _left_markers(doc.data)]
    found += [p for p in _too_large(doc) + _curly_wrapped(doc) + _formulas(doc) + _bracketed_attributions(doc)
              + _cut_by_comments(doc) if p not in found]
    problems = sorted(found, key=lambda p: p.line)
    data = _normalise(kind, doc.data)
    stem = doc.path.stem
    if isinstance(data.get("id"), str) and data["id"] != stem:
        # `id: Weird Name (copy)` would only be refused next: offered only where the name is an id
        pattern = (field_spec(kind, ("id",)) or {}).get("pattern")
        fix = f"rename the file to {data['id']}.md" if pattern and not re.search(pattern, stem) else \
            f"set `id: {stem}` or rename the file to {data['id']}.md"
        problems.append(Problem(doc.display, doc.line_of(("id",)), f"id '{data['id']}' does not match the file name '{doc.path.name}'",
                                fix))
    problems += _check_dates(doc, kind, data)
    if kind == "case":
        problems += _check_case(doc, data, known_sources)
    sections, body_problems = _check_body(doc, kind)
    problems += body_problems
    if kind == "case" and not problems:
        problems += _check_lesson_questions(doc, data, sections)
    if problems:
        return None, problems
    return Record(kind, data["id"], doc, data, sections), []


def _check_case(doc: Document, data: dict, known_sources: set[str] | None = None) -> list[Problem]:
    problems = []
    # ids only: a list or mapping written as an id is reported by the schema check, and is unhashable
    cited = [s.get("id") for s in data.get("sources") or [] if isinstance(s, dict) and isinstance(s.get("id"), str)]
    usable = [c for c in cited if known_sources is None or c in known_sources]
    for i, item in enumerate(data.get("savings") or []):
        if not isinstance(item, dict):
            continue
        source = item.get("source")
        if source and isinstance(source, str) and source not in cited and not source.startswith(TODO):
            if known_sources is not None and source in known_sources and len(usable) < len(cited):
                continue  # the id under `sources:` is the typo; the unknown-source-id problem there names the fix
            problems.append(Problem(doc.display, doc.line_of(("savings", i, "source")),
                                    f"savings[{i}] cites source '{source}', which is not among this case's sources",
                                    f"add it under `sources:` or use one of: {', '.join(map(str, usable)) or '(none listed)'}"))
        problems += _check_amount(doc, i, item) + _check_per_year(doc, i, item)
        if isinstance(item.get("where"), str):
            problems += _backwards(doc, ("savings", i, "where"), where_ranges(item["where"]))
            problems += _where_outside(doc, data, i, item)
        if "amount" not in item and "percent" not in item:
            problems.append(Problem(doc.display, doc.line_of(("savings", i)), f"savings[{i}] has neither amount nor percent",
                                    "give `amount:` in GBP as a number, or `percent:` for a percentage-only figure"))
    for i, org in enumerate(data.get("organisations") or []):
        # the schema's own convention names a hidden council "Anonymised London borough"; without the flag
        # the site shows it as a named council and near-duplicates take all such cases for one organisation
        if isinstance(org, dict) and isinstance(org.get("name"), str) and ANONYMISED.search(org["name"]) \
                and org.get("anonymised") is not True:
            problems.append(Problem(doc.display, doc.line_of(("organisations", i)),
                                    f"organisations[{i}] is named {shown(org['name'])} but has no `anonymised: true`",
                                    "add `anonymised: true` under it (the source hides which council it is)"))
    for i, src in enumerate(data.get("sources") or []):
        if isinstance(src, dict) and isinstance(src.get("lines"), str):
            problems += _backwards(doc, ("sources", i, "lines"), ranges(src["lines"]))
    years = data.get("years")
    if isinstance(years, dict) and isinstance(years.get("start"), int) and isinstance(years.get("end"), int) \
            and years["end"] < years["start"]:
        problems.append(Problem(doc.display, doc.line_of(("years", "end")), f"years.end {years['end']} is before years.start {years['start']}",
                                "swap them or correct the year"))
    return problems


def _check_lesson_questions(doc: Document, data: dict, sections: list[Section]) -> list[Problem]:
    """Each entry of `lesson_questions` begins one lesson, and no lesson has two entries."""
    section = next((s for s in sections if s.heading == lessons_section()), None)
    lessons = [text for _, text in section.bullets] if section else []
    openings = "; ".join(shown(" ".join(t.split()[:6]) + " ...") for t in lessons) or "(this case has none)"
    problems, taken = [], {}
    for i, entry in enumerate(data.get("lesson_questions") or []):
        begun = lessons_begun(entry["lesson"], lessons)
        where = doc.line_of(("lesson_questions", i, "lesson"))
        if not begun:
            problems.append(Problem(doc.display, where, f"lesson_questions[{i}].lesson {shown(entry['lesson'])} begins none of this case's lessons",
                                    f"copy the opening words of the lesson it is for, as written under `## {lessons_section()}`: {openings}"))
        elif len(begun) > 1:
            problems.append(Problem(doc.display, where, f"lesson_questions[{i}].lesson {shown(entry['lesson'])} begins {len(begun)} lessons",
                                    "copy more of the lesson's opening words, until they begin that lesson only"))
        elif begun[0] in taken:
            problems.append(Problem(doc.display, where, f"lesson_questions[{i}] is for the same lesson as lesson_questions[{taken[begun[0]]}]",
                                    f"put its questions under lesson_questions[{taken[begun[0]]}] and take this entry out"))
        else:
            taken[begun[0]] = i
    return problems


def _where_outside(doc: Document, data: dict, i: int, figure: dict) -> list[Problem]:
    """A figure's `where` naming lines outside those the case cites for its source: cited lines that
    point at another part of the report (another council's case study) would otherwise pass, the
    figure's own line counting as cited."""
    spans = [(k, src) for k, src in enumerate(data.get("sources") or [])
             if isinstance(src, dict) and src.get("id") == figure.get("source") and isinstance(src.get("lines"), str)]
    named = {n for first, last in where_ranges(figure["where"]) for n in range(first, last + 1)}
    if not spans or not named:
        return []
    cited = {n for _, src in spans for first, last in ranges(src["lines"]) for n in range(first, last + 1)}
    outside = sorted(named - cited)
    if not outside:
        return []
    k, src = spans[0]
    return [Problem(doc.display, doc.line_of(("savings", i, "where")),
                    f"savings[{i}].where names line {outside[0]}{' and more' if len(outside) > 1 else ''}, outside the lines "
                    f"this case cites for {figure['source']} (sources[{k}].lines \"{src['lines']}\")",
                    f"cite the lines the case draws on in sources[{k}].lines, the figure's among them, or correct `where`")]


def _backwards(doc: Document, path: tuple, cited: list[tuple[int, int]]) -> list[Problem]:
    found = backwards(cited)
    if found is None:
        return []
    first, last = found
    return [Problem(doc.display, doc.line_of(path), f"{_path_text(path)} cites lines {first}-{last}, which run backwards",
                    f"write the first line first: {last}-{first}")]


# What a figure's period or text says of how often it comes: per_year must agree. A period that says
# both ("a year over three years") is left to the reviewer.
YEARLY = re.compile(r"\b(?:per (?:year|annum)|a year|each year|every year|annual(?:ly)?|yearly)\b", re.I)
NOT_YEARLY = re.compile(r"\bover (?:the (?:next |last |first )?|a )?(?:\d+|two|three|four|five|six|seven|eight|nine|ten|"
                        r"several|many)[- ]years?\b|\bcumulative(?:ly)?\b|\bin total\b|\bone-off\b", re.I)


def _check_per_year(doc: Document, i: int, figure: dict) -> list[Problem]:
    said = " ".join(str(figure.get(k)) for k in ("period", "text") if isinstance(figure.get(k), str))
    yearly, several = YEARLY.search(said), NOT_YEARLY.search(said)
    if figure.get("per_year") is True and several and not yearly:
        return [Problem(doc.display, doc.line_of(("savings", i, "per_year")),
                        f"savings[{i}].per_year is true, but its period or text says '{several.group()}'",
                        "a total over several years, or a one-off, is per_year: false; if the source gives a yearly "
                        "figure, say so in the period")]
    if figure.get("per_year") is False and yearly and not several:
        return [Problem(doc.display, doc.line_of(("savings", i, "per_year")),
                        f"savings[{i}].per_year is false, but its period or text says '{yearly.group()}'",
                        "a yearly figure is per_year: true; if it is a total or a one-off, say so in the period")]
    return []


def _check_amount(doc: Document, i: int, figure: dict) -> list[Problem]:
    """The amount, or the percentage, against the one its text prints, where the text prints exactly
    one (see kb/amounts.py)."""
    text = figure.get("text")
    if not isinstance(text, str):
        return []
    problems = []
    for key, printed, shown_as in (("amount", printed_amount(text), "{:,}"), ("percent", printed_percent(text), "{:g}%")):
        value = figure.get(key)
        if printed is None or not _is_number(None, value) or abs(value - printed) < 0.005:
            continue
        problems.append(Problem(doc.display, doc.line_of(("savings", i, key)),
                                f"savings[{i}].{key} {value} does not match its text {shown(text)} ({shown_as.format(printed)})",
                                ("amounts are in pounds: " if key == "amount" else "")
                                + f"write `{key}: {int(printed) if float(printed).is_integer() else printed}`, or correct "
                                "the text to the figure as printed"))
    # a number printed without £ (a table's cell in £ millions, "27.7m"): the amount must be it in some unit
    bare = printed_bare_amounts(text)
    value = figure.get("amount")
    if bare and _is_number(None, value) and not any(abs(value - b) < 0.005 for b in bare):
        readings = " or ".join(f"{b:,}" for b in bare)
        problems.append(Problem(doc.display, doc.line_of(("savings", i, "amount")),
                                f"savings[{i}].amount {value:,} is not what its text {shown(text)} prints, read in "
                                f"{'the unit printed' if len(bare) == 1 else 'pounds, thousands, millions or billions'} ({readings})",
                                "amounts are in pounds: write the amount the text stands for (a table's cell in "
                                "£ millions: 0.577 is 577000), or correct the text to the figure as printed"))
    elif bare and len(bare) == len(SCALES) and _is_number(None, value):
        # read in thousands, millions or billions from a number that prints no unit: a slip of scale
        # ("201,230" in a column of pounds written 201230000) would pass unless the unit is said
        scale = next((s for s, b in zip(SCALES, bare) if abs(value - b) < 0.005), 1)
        said = " ".join(str(figure.get(k) or "") for k in ("period", "note"))
        if scale > 1 and not SCALE_WORDS[scale].search(said):
            unit = {1e3: "thousands", 1e6: "millions", 1e9: "billions"}[scale]
            problems.append(Problem(doc.display, doc.line_of(("savings", i, "amount")),
                                    f"savings[{i}].amount {value:,} reads its text {shown(text)} in {unit} of pounds, "
                                    f"but neither its period nor its note says the source prints it in £ {unit}",
                                    f"say where the source gives the unit in the note (\"Printed in £ {unit} in the "
                                    f"report's table\"), or, if it prints pounds, write `amount: {bare[0]}`"))
    return problems


# How a figure's period or note says that a number printed without a unit is in thousands, millions or billions
SCALE_WORDS = {1e3: re.compile(r"thousand|£\s*'?000|£\s*k\b|\b000s\b", re.I),
               1e6: re.compile(r"million|£\s*m\b|£m", re.I), 1e9: re.compile(r"billion|£\s*bn\b", re.I)}


def _published(root: Path, records: list[Record]) -> dict[str, str]:
    """Each source's date (YYYY, YYYY-MM or YYYY-MM-DD) by its id: from the records checked, else read
    from sources/ (a case checked on its own)."""
    dates = {r.id: r.data.get("date") for r in records if r.kind == "source"}
    for path in (root / "sources").glob("*.md"):
        if path.stem not in dates:
            doc, _ = parse_document(path.read_bytes(), path, str(path))  # its own problems are its own check's
            dates[path.stem] = doc.data.get("date") if doc is not None else None
    return {k: str(v) for k, v in dates.items() if v}


def _reviewed_too_early(record: Record, published: dict[str, str]) -> list[Problem]:
    """A review date before a cited report was published: no one read the case against it then."""
    reviewed = record.data.get("reviewed")
    if not isinstance(reviewed, str) or reviewed.startswith(TODO):
        return []
    later = [(published[src["id"]], src["id"]) for src in record.data["sources"]
             if src["id"] in published and reviewed[:len(published[src["id"]])] < published[src["id"]]]
    if not later:
        return []
    date, source = max(later)
    return [Problem(record.document.display, record.document.line_of(("reviewed",)),
                    f"reviewed {reviewed} is before {source} was published ({date})",
                    "write the day you read the case against its sources, as YYYY-MM-DD")]


def discover(root: Path) -> dict[str, list[Path]]:
    # by name as text: the order of Paths of one folder, a tenth of the time for 100,000 files
    return {"source": sorted((root / "sources").glob("*.md"), key=str), "case": sorted((root / "cases").glob("*.md"), key=str)}


SOURCE_TEXT_FOLDERS = ("text", "text-local")  # sources/ subfolders of report texts (kb/verify.py), not records


def strays(root: Path, only: list[Path] | None = None) -> list[Problem]:
    """Files in cases/ or sources/ that discover() does not find, so that no check and no build reads
    them: a case saved as x.MD or x.txt, or in a subfolder, was otherwise left out of the site
    without a word while `kb validate` said every file was OK (`only`: just these paths, where they
    are strays, or in these folders). Hidden files and editor backups (x.md~) are left alone."""
    found = []
    for kind, folder in (("case", root / "cases"), ("source", root / "sources")):
        for here, dirs, files in os.walk(folder):
            below = Path(here).relative_to(folder).parts
            dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                             and not (kind == "source" and not below and d in SOURCE_TEXT_FOLDERS))
            for name in sorted(files):
                if name.startswith(".") or name.endswith("~") or (not below and name.endswith(".md")):
                    continue
                if kind == "source" and below and not name.lower().endswith(".md"):
                    continue  # a source's own subfolder (a report's PDF) holds more than records
                found.append((kind, folder, Path(here) / name, below))
    wanted = None if only is None else [os.path.abspath(p) for p in only]
    under = str(root.resolve()).rstrip(os.sep) + os.sep
    problems = []
    for kind, folder, path, below in found:
        lexical = os.path.abspath(path)
        if wanted is not None and not any(lexical == w or lexical.startswith(w.rstrip(os.sep) + os.sep) for w in wanted):
            continue
        display = lexical[len(under):] if lexical.startswith(under) else str(path)
        stem = path.name.split(".")[0] if "." in path.name else path.name
        home = f"{folder.name}/{stem}.md"
        if below:
            problems.append(Problem(display, 1, f"not read as a {kind}: {kind} files sit directly in {folder.name}/, "
                                                "and no check or build looks in its subfolders",
                                    f"move it to {home}"))
        elif path.suffix.lower() in (".md", ".markdown", ".txt", ".yml", ".yaml") or not path.suffix:
            problems.append(Problem(display, 1, f"not read as a {kind}: only files named <id>.md (in small letters) are",
                                    f"rename it to {home} if it is a {kind}, else move it out of {folder.name}/"))
        else:
            problems.append(Problem(display, 1, f"not a {kind} file, and no check or build reads it",
                                    f"move it out of {folder.name}/ (keep a report's text in sources/text-local/)"
                                    if kind == "source" else f"move it out of {folder.name}/"))
    return problems


def title_key(title: str) -> str:
    return " ".join(title.casefold().split())


def case_titles(root: Path, skip: set[str] = frozenset()) -> dict[str, list[str]]:
    """The titles of the cases in root (but those at the absolute paths `skip`), each with its files,
    read from the `title:` line alone: quick enough to run on every check of a few files."""
    under = str(root.resolve()).rstrip(os.sep) + os.sep
    out: dict[str, list[str]] = {}
    for path in discover(root)["case"]:
        lexical = os.path.abspath(path)
        if lexical in skip:
            continue
        display = lexical[len(under):] if lexical.startswith(under) else str(path)
        raw, _ = read_bytes(path, display, root)  # a file it cannot read is reported when it is checked
        head = (raw or b"").decode("utf-8", errors="replace").split("\n---", 1)[0]
        found = re.search(r"^title:[ \t]*(.+?)[ \t]*$", head, re.M)
        try:
            title = yaml.safe_load(found.group(1)) if found else None
        except yaml.YAMLError:
            continue
        if isinstance(title, str) and not title.startswith(TODO):
            out.setdefault(title_key(title), []).append(display)
    return out


def kind_of(path: Path) -> str:
    return "source" if path.parent.name == "sources" else "case"


def check_collection(paths: list[Path], root: Path, known_sources: set[str] | None = None, cache=None
                     ) -> tuple[list[Record], list[Problem]]:
    """Validate files and the links between them. Source ids are checked against sources/. With a
    cache (ingest/cache.py), a file whose bytes passed the same checks before is not checked again."""
    records: list[Record] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, str], str] = {}
    # each checked case's title: (file, its document, title); the line is looked up only for a problem, since a
    # cached file's document reads the file again for it (10,000 cases: 20 s of a one-case rebuild)
    titles: dict[str, list[tuple[str, Document, str]]] = {}
    checked: set[str] = set()
    if known_sources is None:
        known_sources = {p.stem for p in (root / "sources").glob("*.md")}
    under = str(root.resolve()).rstrip(os.sep) + os.sep
    folders: dict = {}  # each folder resolved once in this check, not once per file
    for path in paths:
        # where the file sits, not where a link in the tree points
        lexical = os.path.abspath(path)
        display = lexical[len(under):] if lexical.startswith(under) else str(path)
        raw, read_problems = read_bytes(path, display, root, folders)
        problems += read_problems
        if raw is None:
            continue
        record = cache.get(path, display, kind_of(path), raw, known_sources) if cache is not None else None
        if record is not None:
            doc = record.document
        else:
            doc, read_problems = parse_document(raw, path, display)
            problems += read_problems
            if doc is None:
                continue
            record, found = check_document(doc, kind_of(path), known_sources)
            problems += found
            if record is not None and cache is not None:
                cache.put(path, display, kind_of(path), raw, known_sources, record)
        raw_id = doc.data.get("id")
        if isinstance(raw_id, str):
            key = (kind_of(path), raw_id)
            if key in seen:
                problems.append(Problem(display, doc.line_of(("id",)), f"duplicate id '{raw_id}', also used by {seen[key]}",
                                        "give each file its own id (and matching file name)"))
            else:
                seen[key] = display
        title = doc.data.get("title")
        if kind_of(path) == "case" and isinstance(title, str) and not title.startswith(TODO):
            titles.setdefault(title_key(title), []).append((display, doc, title))
            checked.add(os.path.abspath(path))
        if record:
            records.append(record)
    # checking one file (as `kb new` suggests) still compares its title with every other case's
    others = case_titles(root, checked) if titles else {}
    for key, holders in titles.items():
        # another file shown under the same name (a copy outside root given on the command line) by its full path
        everyone = [display for display, _, _ in holders] + [str(root / d) if d in {h[0] for h in holders} else d
                                                            for d in others.get(key, [])]
        for n, (display, doc, title) in enumerate(holders if len(everyone) > 1 else []):
            problems.append(Problem(display, doc.line_of(("title",)), f"title '{title}' is also the title of "
                                                   f"{', '.join(d for k, d in enumerate(everyone) if k != n)}",
                                    "give each case its own title, saying who did what"))
    published = _published(root, records)
    for record in records:
        if record.kind != "case":
            continue
        for i, src in enumerate(record.data["sources"]):
            if src["id"] not in known_sources and not src["id"].startswith(TODO):
                near = difflib.get_close_matches(src["id"], sorted(known_sources), n=1)
                problems.append(Problem(record.document.display, record.document.line_of(("sources", i, "id")),
                                        f"unknown source id '{src['id']}'",
                                        f"did you mean '{near[0]}'?" if near else "add a file sources/<id>.md first, or use an existing source id"))
        problems += _reviewed_too_early(record, published)
    problems.sort(key=lambda p: (p.path, p.line))
    broken = {p.path for p in problems}
    return [r for r in records if r.document.display not in broken], problems
