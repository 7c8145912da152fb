"""A new case file with every field and section of kb/schema.yml, filled from what the contributor
gave and marked TODO wherever a person must still write (`kb validate` lists each TODO as "fill in")."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .amounts import amount_of
from .schema import body_sections, lessons_section, load_schema
from .validate import TODO, field_hint, vocabulary_of
from .vocabulary import load_vocabularies


@dataclass
class Answers:
    id: str | None = None
    title: str | None = None
    organisations: list[dict] = field(default_factory=list)   # name, council_type, region
    services: list[str] = field(default_factory=list)
    approaches: list[str] = field(default_factory=list)
    key_attributes: list[str] | None = None                    # None: not asked yet; [] is an answer
    start: int | None = None
    end: int | None = None
    status: str | None = None
    outcome: str | None = None
    evidence: str | None = None
    figures: list[str] = field(default_factory=list)           # each figure's text exactly as printed
    sources: list[dict] = field(default_factory=list)          # id, lines


ID_LENGTH = 80  # characters of a title an id keeps: a file name a reader can still type


def slug(title: str) -> str:
    """The title's words in small letters joined by hyphens, as many whole words as fit ID_LENGTH
    (a word cut short, "-neighbo", reads as a typo)."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    kept: list[str] = []
    for word in words:
        if kept and len("-".join([*kept, word])) > ID_LENGTH:
            break
        kept.append(word)
    return "-".join(kept)[:ID_LENGTH]


def choose(path: tuple, value: str) -> str:
    """The slug for a term, alias or label of the field's vocabulary; ValueError naming the nearest."""
    vocab = load_vocabularies()[vocabulary_of("case", path)]
    found = vocab.canonical(value)
    if found:
        return found
    near = vocab.suggest(value)
    raise ValueError(f"'{value}' is not a known {vocab.label.lower()}" + (f" - did you mean '{near}'?" if near else
                     f" - use one of {', '.join(vocab.terms)}"))


def _value(value) -> str:
    if value is None:
        return TODO
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if re.fullmatch(r"[a-z][a-z0-9-]*", value) and value not in ("yes", "no", "true", "false", "null", "on", "off"):
        return value  # a vocabulary slug or an id, written plain as in every other case file
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


def _line(indent: str, name: str, value, path: tuple) -> str:
    """`name: value`, with what the field holds as a comment when the value is still to write (the
    same words `kb validate` prints for it)."""
    return f"{indent}{name}: {_value(value)}" + (f"  # {field_hint('case', path)}" if value is None else "")


def _list(values: list[str] | None) -> str:
    return f"[{TODO}]" if values is None else f"[{', '.join(values)}]"


def render(a: Answers) -> str:
    case_id = a.id or slug(a.title or "")
    out = ["---", f"id: {case_id}", _line("", "title", a.title, ("title",)), "organisations:"]
    for org in a.organisations or [{}]:
        out.append(_line("  - ", "name", org.get("name"), ("organisations", 0, "name")))
        for name in ("council_type", "region"):
            out.append(_line("    ", name, org.get(name), ("organisations", 0, name)))
    for name in ("services", "approaches"):
        out.append(f"{name}: {_list(getattr(a, name) or None)}")
    out.append(f"key_attributes: {_list(a.key_attributes)}")
    years = {k: v for k, v in (("start", a.start), ("end", a.end)) if v is not None}
    out.append(f"years: {{{', '.join(f'{k}: {v}' for k, v in years.items())}}}" if years else
               f"years: {{start: {TODO}}}  # {field_hint('case', ('years', 'start'))}")
    for name in ("status", "outcome", "evidence"):
        out.append(_line("", name, getattr(a, name), (name,)))
    out.append("savings:" if a.figures else "savings: []  # one entry per money figure: `kb new --figure TEXT` writes them")
    source_ids = [s["id"] for s in a.sources]
    for text in a.figures:
        figure = {"kind": None, **amount_of(text), "text": text, "period": None, "per_year": None, "status": None,
                  "recurrence": None, "source": source_ids[0] if len(source_ids) == 1 else None, "where": None}
        if "amount" not in figure and "percent" not in figure:
            figure = {**figure, "amount": None}
        for n, (name, value) in enumerate(figure.items()):
            out.append(_line("  - " if n == 0 else "    ", name, value, ("savings", 0, name)))
    out.append("sources:")
    for src in a.sources or [{}]:
        out.append(_line("  - ", "id", src.get("id"), ("sources", 0, "id")))
        out.append(_line("    ", "section", None, ("sources", 0, "section")))
        out.append(_line("    ", "lines", src.get("lines"), ("sources", 0, "lines")))
    out.append("lesson_questions: []  # once Lessons are written: for each, its opening words and the questions "
               "a reader might type that it answers (CONTRIBUTING.md)")
    # a date only once someone has read the case against its sources: the scaffold is not that
    out += [_line("", "reviewed", None, ("reviewed",)), "---", ""]
    guidance = load_schema()["case"]["body"].get("guidance", {})
    for heading in body_sections("case"):
        bullet = "- " if heading == lessons_section("case") else ""
        out += [f"## {heading}", "", f"{bullet}{TODO}: {guidance.get(heading, 'write it in your own words')}", ""]
    return "\n".join(out)
