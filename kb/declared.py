"""Reading a declared file (kb/schema.yml, kb/vocabulary.yml, and the lists kb/abbreviations.yml, kb/thesaurus.yml,
kb/shorthand.yml) so that its errors name the file, as the repository shows it, and the line."""
from __future__ import annotations

from pathlib import Path

import yaml

from . import ROOT
from .parse import Problem


def shown(path: Path) -> str:
    """The path as a contributor sees it: under the repository's root where it is inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _read(path: Path, read, error: type[ValueError], fix: str):
    """`read` (yaml.compose or yaml.safe_load) of the file's text, or `error` naming the file, the line and `fix`."""
    try:
        return read(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        line = e.problem_mark.line + 1 if getattr(e, "problem_mark", None) else 1
        raise error(f"{shown(path)}:{line}: not valid YAML ({getattr(e, 'problem', e)}) - {fix}") from None


def composed(path: Path, error: type[ValueError], fix: str) -> yaml.Node | None:
    """The file's YAML as nodes (they know their lines), or `error` naming the file, the line and `fix`."""
    return _read(path, yaml.compose, error, fix)


class DeclarationError(ValueError):
    """kb/schema.yml or kb/vocabulary.yml cannot be read: "file:line: what is wrong - the fix"."""


def loaded(path: Path, fix: str):
    """The file's YAML as data, or DeclarationError naming the file, the line and `fix` (every `kb` command
    reads both files, and a traceback from YAML's parser named neither)."""
    return _read(path, yaml.safe_load, DeclarationError, fix)


def line_of(path: Path, *keys: str) -> int:
    """The line where a fix to the mapping key at `keys` (e.g. "pages", "privacy") goes: the key's own
    line, or, where it is missing, the line of the nearest mapping above it that is there (a missing
    pages.privacy goes under `pages:`); 1 for a missing top-level key or a file YAML cannot read."""
    try:
        node = yaml.compose(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return 1
    line = 1
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            break
        found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
        if found is None:
            break
        line, node = found[0].start_mark.line + 1, found[1]
    return line


def problem_of(error: ValueError) -> Problem:
    """A declared list's error (worded "file:line: what is wrong - the fix", as `composed` and each
    list's loader word it) as a Problem, for `kb validate`'s formats."""
    where, _, rest = str(error).partition(": ")
    file, _, line = where.rpartition(":")
    message, _, fix = rest.rpartition(" - ")
    return Problem(file, int(line) if line.isdigit() else 1, message or rest, fix or "see the file's own notes")
