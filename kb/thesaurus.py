"""Words the sector uses for one thing (kb/thesaurus.yml), for search: a query word finds the
documents that write any word of its group. Checked like every other declaration: a bad entry names
the file, the line and the fix."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from .declared import composed, shown
from .vocabulary import load_vocabularies

THESAURUS_FILE = Path(__file__).with_name("thesaurus.yml")
WORDS = re.compile(r"[a-z]+(?:[ '-][a-z]+)*")


class ThesaurusError(ValueError):
    """A bad entry in kb/thesaurus.yml, as file:line: what is wrong - how to fix it."""


def _vocabulary_names() -> dict[str, str]:
    """Every name of a vocabulary term, lower case, with the term's slug."""
    return {name.lower(): term.slug for vocab in load_vocabularies().values() for term in vocab.terms.values()
            for name in (term.label, *term.aliases, *term.synonyms)}


@lru_cache(maxsize=None)
def load_thesaurus(path: Path = THESAURUS_FILE) -> list[list[str]]:
    """The declared groups, checked: a ThesaurusError names the file, the line and the fix."""
    where = shown(path)
    root = composed(path, ThesaurusError, "write one group a line: - [word, another word]")
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise ThesaurusError(f"{where}:{root.start_mark.line + 1}: not a list of groups - "
                             "write one group a line: - [word, another word]")
    named = _vocabulary_names()
    first_line: dict[str, int] = {}
    groups = []
    for node in root.value:
        line = node.start_mark.line + 1
        words = [w.value for w in node.value if isinstance(w, yaml.ScalarNode)] \
            if isinstance(node, yaml.SequenceNode) and all(isinstance(w, yaml.ScalarNode) for w in node.value) else None
        if words is None or len(words) < 2:
            raise ThesaurusError(f"{where}:{line}: a group is two words or more - write - [word, another word]")
        for word in words:
            if not WORDS.fullmatch(word):
                raise ThesaurusError(f"{where}:{line}: {word!r} is not a word in lower case - "
                                     "write it in small letters, words apart by a space or a hyphen")
            if word in first_line:
                raise ThesaurusError(f"{where}:{line}: {word!r} is in two groups (first on line "
                                     f"{first_line[word]}) - keep it in one")
            if word in named:
                raise ThesaurusError(f"{where}:{line}: {word!r} is already a name of the term {named[word]} in "
                                     "kb/vocabulary.yml, which finds it - remove it here")
            first_line[word] = line
        groups.append(words)
    return groups
