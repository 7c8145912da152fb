"""Which lesson each entry of a case's `lesson_questions` is for: the one its opening words begin.

A lesson is a bullet of the case's body and has no name of its own, so an entry names it by its
first words, which survive lessons being reordered or added where a number would not."""
from __future__ import annotations

import re

# the field as a file writes it, with the lines indented under it: for a tool that reads a case's
# text but not this field (search/check_queries.py) or rewrites it (bench/synthetic.py)
WRITTEN = re.compile(r"(?m)^lesson_questions:.*\n(?:[ -].*\n)*")


def _words(text: str) -> str:
    return " ".join(str(text).split())


def lessons_begun(opening: str, lessons: list[str]) -> list[int]:
    """The positions of the lessons that begin with `opening` (spaces and line breaks as one space)."""
    opening = _words(opening)
    return [i for i, text in enumerate(lessons) if opening and _words(text).startswith(opening)]


def questions_by_lesson(entries: list[dict] | None, lessons: list[str]) -> list[list[str]]:
    """Each lesson's questions, in the lessons' order; a validated case's entries each begin one lesson."""
    out: list[list[str]] = [[] for _ in lessons]
    for entry in entries or []:
        for i in lessons_begun(entry["lesson"], lessons)[:1]:
            out[i] += entry["questions"]
    return out
