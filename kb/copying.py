"""Runs of words copied from a source's text into what must be in our own words: a case's body (checked
against the texts of the reports it cites) and a report's findings (against that report's text).
Figures are quoted exactly in `savings[].text`, which is not checked here."""
from __future__ import annotations

import re

from .parse import Problem
from .validate import Record
from .verify import SourceText, plain

# A run this many words long, the same as the source word for word (case, punctuation and line breaks
# aside), is copied: shorter runs are set phrases ("as part of the council's wider transformation").
COPIED_WORDS = 12
# ...unless most of it is names and numbers, which a case repeats as printed: a list of the councils of a
# partnership ("Cheltenham Borough Council and Cotswold, Forest of Dean and West Oxfordshire District
# Councils") is the same in any words. Everyday words are those written in lower case, not numbers.
EVERYDAY_WORDS = 8
WORD = re.compile(r"[^\W_]+(?:['\u2019.,/-][^\W_]+)*")


def _words(text: str) -> list[str]:
    return WORD.findall(plain(text))


class _Shingles:
    """A source text's runs of COPIED_WORDS words, each with the line it starts on."""

    def __init__(self, text: SourceText):
        self.text = text
        self.words: list[str] = []
        self.lines: list[int] = []
        for n, line in enumerate(text.normalised, 1):
            found = _words(line)
            self.words += found
            self.lines += [n] * len(found)
        self.starts: dict[tuple[str, ...], int] = {}
        for i in range(len(self.words) - COPIED_WORDS + 1):
            self.starts.setdefault(tuple(self.words[i:i + COPIED_WORDS]), i)


def _runs(written: list[tuple[str, int]], shingles: _Shingles) -> list[tuple[int, int, int]]:
    """Each longest run of `written` (word, line) that the source has word for word: (first word, word
    after the last, where the source's run starts)."""
    keys = [w.casefold() for w, _ in written]
    runs, i = [], 0
    while i <= len(keys) - COPIED_WORDS:
        at = shingles.starts.get(tuple(keys[i:i + COPIED_WORDS]))
        if at is None:
            i += 1
            continue
        end = i + COPIED_WORDS
        while end < len(keys) and at + end - i < len(shingles.words) and keys[end] == shingles.words[at + end - i]:
            end += 1
        runs.append((i, end, at))
        i = end
    return runs


def _copied(record: Record, written: list[tuple[str, int]], shingles: _Shingles, what: str) -> list[Problem]:
    problems = []
    for first, end, at in _runs(written, shingles):
        words = [w for w, _ in written[first:end]]
        if sum(1 for w in words if w[0].islower()) < EVERYDAY_WORDS:
            continue
        text = shingles.text
        problems.append(Problem(
            record.document.display, written[first][1],
            f"{what} copies {len(words)} words in a row from {text.id} ({text.place(shingles.lines[at])}): "
            f"\"{' '.join(words)}\"",
            "write it in your own words (a figure is quoted exactly only in savings[].text, names and numbers "
            "may stay as printed)"))
    return problems


def _body_words(record: Record) -> list[tuple[str, int]]:
    doc = record.document
    return [(word, doc.body_line + n) for n, line in enumerate(doc.body.split("\n")) for word in _words(line)]


def copied(records: list[Record], texts: dict[str, SourceText]) -> list[Problem]:
    """A problem for each run of COPIED_WORDS or more words (EVERYDAY_WORDS of them in lower case) that a
    case's body or a report's finding has word for word from a source's text here."""
    shingles: dict[str, _Shingles] = {}

    def of(source_id: str) -> _Shingles:
        if source_id not in shingles:
            shingles[source_id] = _Shingles(texts[source_id])
        return shingles[source_id]

    problems = []
    for record in records:
        if record.kind == "case":
            body = _body_words(record)
            for source_id in dict.fromkeys(src["id"] for src in record.data["sources"]):
                if source_id in texts:
                    problems += _copied(record, body, of(source_id), "the body")
        elif record.kind == "source" and record.id in texts:
            for i, finding in enumerate(record.data.get("findings") or []):
                line = record.document.line_of(("findings", i, "text"))
                written = [(word, line) for word in _words(str(finding.get("text") or ""))]
                problems += _copied(record, written, of(record.id), f"findings[{i}].text")
    return problems
