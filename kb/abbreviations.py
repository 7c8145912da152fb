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

from .declared import composed, shown
from .vocabulary import Vocabulary, acronyms_of, load_vocabularies

ABBREVIATIONS_FILE = Path(__file__).with_name("abbreviations.yml")
# as the text writes it: letters only, a capital first and at least two in all ("DCLG", "LATCo")
WRITTEN = re.compile(r"[A-Z][A-Za-z]{1,9}")


class AbbreviationError(ValueError):
    """A bad entry in kb/abbreviations.yml, as file:line: what is wrong - how to fix it."""


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
    where = shown(path)
    root = composed(path, AbbreviationError, "write one 'ABBREVIATION: what it stands for' a line")
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
def _pattern(names: tuple[str, ...]) -> re.Pattern:
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    # as written, or its plural ("EHCPs"); a hyphen ends it ("RAG-rated"), a digit does not ("PRINCE2").
    # What comes before is checked apart: a look-behind here keeps the engine from skipping straight
    # to a letter a name can begin with, and made a page eight times slower to read.
    return re.compile(r"(" + alternatives + r")s?(?!\w)")


def _abbreviations_in(text: str, known: dict[str, str]):
    """(match, abbreviation) for each use of one of `known` in the text, as a whole word, in order."""
    if not known:
        return
    for m in _pattern(tuple(sorted(known))).finditer(text):
        before = text[m.start() - 1] if m.start() else " "
        if not (before.isalnum() or before == "_"):
            yield m, m.group(1)


def used_in(texts, known: dict[str, str]) -> list[tuple[str, str]]:
    """(abbreviation, what it stands for) for each of `known` the texts use, in alphabetical order."""
    found = {name for text in texts if text for _, name in _abbreviations_in(str(text), known)}
    return sorted(((a, known[a]) for a in found), key=lambda pair: pair[0].upper())


# Elements whose text is left unmarked: a link's, a control's or a group's name (an <abbr> there
# would be read, or not, as part of the name), code, pictures and an <abbr> already; a script's or a
# style's text is no text at all.
_UNMARKED = re.compile(r"<(/?)(a|button|label|summary|legend|select|textarea|code|pre|svg|abbr)\b[^>]*>")
_NOT_TEXT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.I | re.S)


def explain(html: str, known: dict[str, str]) -> tuple[str, list[tuple[str, str]]]:
    """A page's HTML with the first use of each abbreviation it writes put in <abbr title="what it
    stands for">, once for the whole page, in text a reader reads as running text (not in a tag, a
    link, a control's name, code, a picture, nor one already in an <abbr>); and every abbreviation
    its text uses, wherever, with what it stands for, in alphabetical order (used_in's list)."""
    uses = list(_abbreviations_in(html or "", known))
    if not uses:
        return html, []
    not_text = [m.span() for m in _NOT_TEXT.finditer(html)]
    outside = lambda at: not any(start <= at < end for start, end in not_text)
    # (where, +1 or -1, the element) for each opening and closing of an unmarked element, looked for
    # only between the scripts and styles rather than asked of each of a page's few hundred tags
    between = zip([0, *(end for _, end in not_text)], [*(start for start, _ in not_text), len(html)])
    edges = [(m.start(), -1 if m.group(1) else 1, m.group(2).lower())
             for lo, hi in between for m in _UNMARKED.finditer(html, lo, hi)]
    depth = {name: 0 for _, _, name in edges}
    seen, found, pieces, at, edge = set(), set(), [], 0, 0
    for m, name in uses:
        while edge < len(edges) and edges[edge][0] < m.start():
            _, step, element = edges[edge]
            depth[element] = max(0, depth[element] + step)
            edge += 1
        if not outside(m.start()) or html.rfind("<", 0, m.start()) > html.rfind(">", 0, m.start()):
            continue  # a script, or a tag's own attributes
        found.add(name)
        if depth.get("abbr"):
            seen.add(name)  # the page explains it there already
        if name in seen or any(depth.values()):
            continue
        seen.add(name)
        pieces += [html[at:m.start()], f'<abbr title="{escape(known[name])}">{m.group(0)}</abbr>']
        at = m.end()
    return "".join(pieces) + html[at:], sorted(((a, known[a]) for a in found), key=lambda pair: pair[0].upper())


def glossary_html(used: list[tuple[str, str]]) -> str:
    """What each abbreviation a page uses stands for, as a list after its text ("Abbreviations on this
    page"): a title on <abbr> alone reaches no keyboard or touch user."""
    if not used:
        return ""
    items = "".join(f"\n  <dt>{escape(name)}</dt><dd>{escape(words)}</dd>" for name, words in used)
    return ('<section class="kb-abbreviations-section" aria-labelledby="abbreviations">\n'
            '<h2 id="abbreviations">Abbreviations on this page</h2>\n'
            f'<dl class="kb-abbreviations">{items}\n</dl>\n</section>')
