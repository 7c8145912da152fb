"""Line numbers a case cites: its sources' `lines` ("1674-1768, 764-767") and the lines each figure's
`where` names ("..., line 1710; table, lines 1743-1744")."""
from __future__ import annotations

import re

RANGE = re.compile(r"(\d+)(?:\s*[-\u2013]\s*(\d+))?")
WHERE = re.compile(r"\blines?\s+(\d+(?:\s*[-\u2013]\s*\d+)?(?:\s*(?:,|and)\s*\d+(?:\s*[-\u2013]\s*\d+)?)*)")


def ranges(spec: str) -> list[tuple[int, int]]:
    """(first, last) of each range of a list such as "1674-1768, 764-767"; a single line is (n, n)."""
    return [(int(first), int(last or first)) for first, last in RANGE.findall(spec)]


def written(spans: list[tuple[int, int]], join: str = ", ") -> str:
    """Ranges written as a citation writes them: [(1674, 1768), (764, 764)] -> "1674-1768, 764"."""
    return join.join(f"{first}-{last}" if first != last else str(first) for first, last in spans)


def where_ranges(where: str) -> list[tuple[int, int]]:
    """The ranges a figure's `where` names after "line" or "lines"."""
    return [r for m in WHERE.finditer(where) for r in ranges(m.group(1))]


def line_set(spec: str) -> set[int]:
    """Line numbers of a range list such as "1674-1768, 764-767"."""
    return {n for first, last in ranges(spec) for n in range(first, last + 1)}


def where_lines(where: str) -> set[int]:
    """The lines a figure's `where` names: "..., line 1710; table, lines 1743-1744"."""
    return {n for first, last in where_ranges(where) for n in range(first, last + 1)}


def backwards(spec: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The first range that runs backwards ("225-211"), if any."""
    return next(((first, last) for first, last in spec if last < first), None)
