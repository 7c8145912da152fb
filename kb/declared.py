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


def composed(path: Path, error: type[ValueError], fix: str) -> yaml.Node | None:
    """The file's YAML as nodes (they know their lines), or `error` naming the file, the line and `fix`."""
    try:
        return yaml.compose(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        line = e.problem_mark.line + 1 if getattr(e, "problem_mark", None) else 1
        raise error(f"{shown(path)}:{line}: not valid YAML ({getattr(e, 'problem', e)}) - {fix}") from None


class DeclarationError(ValueError):
    """kb/schema.yml or kb/vocabulary.yml cannot be read: "file:line: what is wrong - the fix"."""


def loaded(path: Path, fix: str):
    """The file's YAML as data, or DeclarationError naming the file, the line and `fix` (every `kb` command
    reads both files, and a traceback from YAML's parser named neither)."""
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) if composed(path, DeclarationError, fix) is not None else None


def line_of(path: Path, *keys: str) -> int:
    """The line of the deepest of `keys` (a mapping's keys, one under the other) the file has, else 1."""
    node, line = composed(path, DeclarationError, "fix the YAML"), 1
    for key in keys:
        found = next((v for k, v in getattr(node, "value", []) if isinstance(node, yaml.MappingNode)
                      and getattr(k, "value", None) == key), None) if node is not None else None
        if found is None:
            break
        node, line = found, found.start_mark.line + 1
    return line


def problem_of(error: ValueError) -> Problem:
    """A declared list's error (worded "file:line: what is wrong - the fix", as `composed` and each
    list's loader word it) as a Problem, for `kb validate`'s formats."""
    where, _, rest = str(error).partition(": ")
    file, _, line = where.rpartition(":")
    message, _, fix = rest.rpartition(" - ")
    return Problem(file, int(line) if line.isdigit() else 1, message or rest, fix or "see the file's own notes")
