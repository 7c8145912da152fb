"""What the abbreviations in the collection's text stand for, for a reader who does not know them:
the acronyms among the vocabulary terms' names (kb/vocabulary.yml) and a short declared list of the
others (kb/abbreviations.yml). An abbreviation counts only as a whole word in capitals ("IT", never
"it"; "SEND", never "send"), as the text writes it."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml
from markupsafe import escape

from . import ROOT
from .vocabulary import Vocabulary, acronyms_of, load_vocabularies

ABBREVIATIONS_FILE = Path(__file__).with_name("abbreviations.yml")
# as the text writes it: letters only, a capital first and at least two in all ("DCLG", "LATCo")
WRITTEN = re.compile(r"[A-Z][A-Za-z]{1,9}")


class AbbreviationError(ValueError):
    """A bad entry in kb/abbreviations.yml, as file:line: what is wrong - how to fix it."""


def _where(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def from_vocabularies(vocabularies: dict[str, Vocabulary]) -> dict[str, str]:
    """Each acronym among a term's names ("mtfp") in capitals, with the longer name it stands for
    ("Medium-term financial plan"); where terms read one acronym differently, each reading."""
    found: dict[str, list[str]] = {}
    for vocab in vocabularies.values():
        for term in vocab.terms.values():
            names = (term.label, *term.aliases, *term.synonyms, term.slug.replace("-", " "))
            for acronym, expansions in acronyms_of(names).items():
                # the first that is words, not another acronym ("it" is information technology before "ict")
                words = next((e for e in expansions if " " in e), None)
                if words and words not in found.setdefault(acronym.upper(), []):
                    found[acronym.upper()].append(words)
    return {a: " or ".join(e[:1].upper() + e[1:] for e in expansions) for a, expansions in found.items()}


@lru_cache(maxsize=None)
def load_abbreviations(path: Path = ABBREVIATIONS_FILE) -> dict[str, str]:
    """The declared list, checked: an AbbreviationError names the file, the line and the fix."""
    where = _where(path)
    text = Path(path).read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        line = e.problem_mark.line + 1 if getattr(e, "problem_mark", None) else 1
        raise AbbreviationError(f"{where}:{line}: not valid YAML ({getattr(e, 'problem', e)}) - "
                                "write one 'ABBREVIATION: what it stands for' a line") from None
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise AbbreviationError(f"{where}:{root.start_mark.line + 1}: not a list of abbreviations - "
                                "write one 'ABBREVIATION: what it stands for' a line")
    derived = from_vocabularies(load_vocabularies())
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for key_node, value_node in root.value:
        line = key_node.start_mark.line + 1
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not key or not WRITTEN.fullmatch(key) or sum(c.isupper() for c in key) < 2:
            raise AbbreviationError(f"{where}:{line}: {key!r} is not an abbreviation as the text writes it - "
                                    "write it in capitals, letters only (DCLG, LATCo)")
        value = value_node.value.strip() if isinstance(value_node, yaml.ScalarNode) else ""
        if not value or value_node.tag != "tag:yaml.org,2002:str" or value.upper() == key.upper():
            raise AbbreviationError(f"{where}:{line}: {key} says nothing of what it stands for - "
                                    f"write it in words after the colon ({key}: ...)")
        if key.upper() in first_line:
            raise AbbreviationError(f"{where}:{line}: {key} is declared twice (first on line "
                                    f"{first_line[key.upper()]}) - keep one")
        if key.upper() in derived:
            raise AbbreviationError(f"{where}:{line}: {key} is already a name of a term in kb/vocabulary.yml, "
                                    f"which explains it ({derived[key.upper()]}) - remove it here")
        first_line[key.upper()] = line
        out[key] = value
    return out


def glossary(vocabularies: dict[str, Vocabulary], declared: dict[str, str]) -> dict[str, str]:
    """Every abbreviation a page may explain, with what it stands for: the vocabularies' own and the
    declared list (for the site, both as the database being served was built with them)."""
    return {**from_vocabularies(vocabularies), **declared}


@lru_cache(maxsize=8)
def _pattern(names: tuple[str, ...]) -> re.Pattern | None:
    if not names:
        return None
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    # a whole word, as written, or its plural ("EHCPs"); a hyphen joins ("RAG-rated"), a digit does not
    return re.compile(r"(?<!\w)(" + alternatives + r")s?(?!\w)")


def used_in(texts, known: dict[str, str]) -> list[tuple[str, str]]:
    """(abbreviation, what it stands for) for each of `known` the texts use, in alphabetical order."""
    pattern = _pattern(tuple(sorted(known)))
    if pattern is None:
        return []
    found = {m.group(1) for text in texts if text for m in pattern.finditer(str(text))}
    return sorted(((a, known[a]) for a in found), key=lambda pair: pair[0].upper())


def mark_first(html: str | None, used: list[tuple[str, str]]) -> str | None:
    """HTML with the first use of each abbreviation in its text (not in a tag, nor already in an
    <abbr>) put in <abbr title="what it stands for">."""
    pattern = _pattern(tuple(sorted(a for a, _ in used)))
    if not html or pattern is None:
        return html
    titles, seen, out, inside = dict(used), set(), [], 0

    def first(m):
        name = m.group(1)
        if name in seen:
            return m.group(0)
        seen.add(name)
        return f'<abbr title="{escape(titles[name])}">{m.group(0)}</abbr>'

    for part in re.split(r"(<[^>]+>)", html):
        if part.startswith("<"):
            inside += 1 if re.match(r"<abbr[\s>]", part) else -1 if part.startswith("</abbr") else 0
        elif inside:  # the text explains it already
            seen.update(m.group(1) for m in pattern.finditer(part))
        else:
            part = pattern.sub(first, part)
        out.append(part)
    return "".join(out)
