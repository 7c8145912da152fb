"""How readers shorten words when they type (kb/shorthand.yml), for search: a query's "cllrs" is read
as "councillors". Checked like every other declaration: a bad entry names the file, the line and the fix."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from .declared import composed, shown
from . import thesaurus
from .thesaurus import _vocabulary_names

SHORTHAND_FILE = Path(__file__).with_name("shorthand.yml")
SHORT = re.compile(r"[a-z]+")
WORDS = re.compile(r"[a-z]+(?:[ '-][a-z]+)*")


class ShorthandError(ValueError):
    """A bad entry in kb/shorthand.yml, as file:line: what is wrong - how to fix it."""


@lru_cache(maxsize=None)
def load_shorthand(path: Path = SHORTHAND_FILE) -> dict[str, str]:
    """The declared shorthand and the words it stands for, checked: a ShorthandError names the file,
    the line and the fix."""
    where = shown(path)
    fix = "write one a line: shorthand: the words in full"
    root = composed(path, ShorthandError, fix)
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise ShorthandError(f"{where}:{root.start_mark.line + 1}: not a list of shorthand - {fix}")
    named = _vocabulary_names()
    try:
        grouped = {word: group for group in thesaurus.load_thesaurus(thesaurus.THESAURUS_FILE) for word in group}
    except thesaurus.ThesaurusError:  # reported as the thesaurus's own problem
        grouped = {}
    out: dict[str, str] = {}
    for key, value in root.value:
        line = key.start_mark.line + 1
        short, full = key.value, value.value if isinstance(value, yaml.ScalarNode) else None
        if not isinstance(key, yaml.ScalarNode) or not SHORT.fullmatch(str(short)):
            raise ShorthandError(f"{where}:{line}: {short!r} is not one word in small letters - {fix}")
        if not isinstance(full, str) or not WORDS.fullmatch(full) or full == short:
            raise ShorthandError(f"{where}:{line}: {short!r} needs the words it stands for, in small letters - "
                                 f"write {short}: the words in full")
        if short in out:
            raise ShorthandError(f"{where}:{line}: {short!r} is declared twice - keep one")
        if short in named:
            raise ShorthandError(f"{where}:{line}: {short!r} is already a name of the term {named[short]} in "
                                 "kb/vocabulary.yml, which reads it - remove it here")
        if short in grouped:
            raise ShorthandError(f"{where}:{line}: {short!r} is already a word of the group [{', '.join(grouped[short])}] "
                                 "in kb/thesaurus.yml, which reads it - remove it here or there")
        out[short] = full
    return out
