"""Figures checked against the texts of their sources.

Every figure's printed text must appear within the lines its case cites for that source (the case's
`sources[].lines` plus any lines its `where` names), and every number in the Results section must
appear within the cited lines of the case's sources. A source's text is looked for in sources/text/
(kept in the repository when the licence allows), sources/text-local/ (never committed) and any
folders given; its sha256 must match the one its record gives, so line numbers mean the same thing."""
from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .citations import line_set, ranges, where_lines, where_ranges
from .parse import Problem
from .validate import Record

TEXT_FOLDERS = ("sources/text", "sources/text-local")
# Typographic variants a conversion may print either way, and Markdown escapes and emphasis.
_SAME = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
                       "\u00a0": " ", "*": None})
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
# Numbers after these words point into the report ("line 1710", "section 5.3", "phase 1"): references,
# not figures, so the Results check leaves them out (with any list of further numbers that follows).
REFERENCE = re.compile(r"\b(?:lines?|sections?|paras?|paragraphs?|phases?|figures?|tables?|appendix|annex|pages?|"
                       r"chapters?|questions?|footnotes?)\s+\d[\d.]*(?:\s*[-\u2013]\s*\d+)?"
                       r"(?:(?:\s*,\s*|\s+and\s+)\d[\d.]*(?:\s*[-\u2013]\s*\d+)?)*", re.I)


def plain(text: str) -> str:
    """The text with typographic variants, Markdown escapes and emphasis made plain, and its spaces single."""
    text = unicodedata.normalize("NFKC", text).translate(_SAME)
    text = re.sub(r"\\(.)", r"\1", text)
    return " ".join(text.split())


def normalise(text: str) -> str:
    return plain(text).casefold()


def numbers(text: str) -> set[str]:
    """The numbers a text prints, without thousands commas ("£2,065" -> "2065")."""
    return {m.group().replace(",", "") for m in NUMBER.finditer(normalise(text))}


def without_references(text: str) -> str:
    """The text with references ("lines 227, 231 and 256-257") blanked out, line breaks kept."""
    return REFERENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)


@dataclass
class SourceText:
    id: str
    path: Path
    lines: list[str]
    page_lines: list[int] = field(default_factory=list)

    def __post_init__(self):
        self.normalised = [normalise(line) for line in self.lines]
        # a text ending in a line break has no line after it, though split() gives an empty one
        self.last = len(self.lines) - (len(self.lines) > 1 and self.lines[-1] == "")

    def place(self, line: int) -> str:
        page = sum(1 for start in self.page_lines if start <= line)
        return f"line {line}" + (f" (page {page})" if page else "")

    def blocks(self, wanted: set[int]) -> list[tuple[int, str]]:
        """Runs of consecutive wanted lines, each joined into one string: (first line, text)."""
        runs: list[tuple[int, int, str]] = []  # (first line, line after the last, text)
        for n in sorted(x for x in wanted if 1 <= x <= len(self.lines)):
            if runs and n == runs[-1][1]:
                runs[-1] = (runs[-1][0], n + 1, runs[-1][2] + " " + self.normalised[n - 1])
            else:
                runs.append((n, n + 1, self.normalised[n - 1]))
        return [(first, text) for first, _, text in runs]

    def contains(self, needle: str, wanted: set[int]) -> bool:
        return any(needle in text for _, text in self.blocks(wanted))

    def occurrences(self, needle: str) -> list[int]:
        """Lines where the text occurs (also when it runs on to the next line)."""
        found = []
        for n, line in enumerate(self.normalised, 1):
            if needle in line or (n < len(self.normalised) and needle in f"{line} {self.normalised[n]}"
                                  and needle not in self.normalised[n]):
                found.append(n)
        return found

    def nearest(self, needle: str, cited: set[int]) -> tuple[int, str] | None:
        """Where the passage most like the text is, as (line, the passage with a few words around it):
        among the cited lines and any line that shares one of its numbers, the most alike run of words."""
        wanted = numbers(needle)
        pool = {n for n in cited if 1 <= n <= len(self.lines)}
        pool |= {n for n, line in enumerate(self.normalised, 1) if wanted & numbers(line)}
        size = len(needle.split())
        best = (0.0, None, "")
        for n in sorted(pool):
            words = self.lines[n - 1].split()
            for i in range(max(1, len(words) - size + 1)):
                ratio = difflib.SequenceMatcher(None, needle, normalise(" ".join(words[i:i + size]))).ratio()
                if ratio > best[0]:
                    best = (ratio, n, " ".join(words[max(0, i - 3):i + size + 3]))
        return (best[1], best[2]) if best[1] else None


def finding_lines(sources: list[Record], texts: dict[str, "SourceText"]) -> list[Problem]:
    """A report's finding whose `where` names a line past the end of its text, as a case's citation
    is checked (see _beyond): a finding's lines were never read."""
    return [problem for record in sources for i, finding in enumerate(record.data.get("findings") or [])
            for problem in _beyond(record, ("findings", i, "where"), where_ranges(str(finding.get("where") or "")),
                                   texts[record.id], "give the line of the text the finding is drawn from")]


def find_texts(root: Path, sources: list[Record], folders: list[Path] = ()) -> tuple[dict[str, SourceText], list[Problem], list[str]]:
    """Each source's text where one is found: (texts, problems, notes). A text whose sha256 differs from
    its record is a problem (its line numbers may differ); a source with no text is a note."""
    texts: dict[str, SourceText] = {}
    problems: list[Problem] = []
    notes: list[str] = []
    places = [root / folder for folder in TEXT_FOLDERS] + list(folders)

    def shown(path: Path) -> str:
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    for record in sources:
        name = record.data["text_file"]
        path = next((p / name for p in places if (p / name).is_file()), None)
        if path is None:
            notes.append(f"no text for source {record.id} ({name} is not in {', '.join(map(shown, places))}): "
                         "its figures are not checked; put the text in sources/text-local/ or name its folder "
                         "with --texts")
            continue
        raw = path.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != record.data["text_sha256"]:
            problems.append(Problem(record.document.display, record.document.line_of(("text_sha256",)),
                                    f"{shown(path)} has sha256 {digest[:12]}..., not the {record.data['text_sha256'][:12]}... "
                                    "this record gives",
                                    "it is another version of the text, so line numbers may differ: use the text the "
                                    "record was made from (see CONTRIBUTING.md), or, if this is the text the citations "
                                    "count lines in, record its sha256 (`sha256sum FILE`) as text_sha256"))
            continue
        texts[record.id] = SourceText(record.id, path, raw.decode("utf-8", errors="replace").split("\n"),
                                      list(record.data.get("page_lines") or []))
    return texts, problems, notes


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    unchecked: list[Problem] = field(default_factory=list)  # figures whose source has no text here: a warning each
    results_unchecked: list[Problem] = field(default_factory=list)  # Results sections not checked, likewise
    figures: int = 0           # figures whose text was found in their cited lines
    numbers: int = 0           # numbers in Results found in the cited lines
    cases_skipped: int = 0     # cases whose Results could not be checked (a source without text)

    @property
    def figures_skipped(self) -> int:
        return len(self.unchecked)


def _figure_problem(record: Record, i: int, figure: dict, text: SourceText, cited: set[int]) -> Problem:
    needle = normalise(figure["text"])
    spec = ", ".join(_ranges(cited))
    found = text.occurrences(needle)
    if found:
        near = min(found, key=lambda n: min(abs(n - c) for c in cited) if cited else n)
        fix = f"it is at {text.place(near)} of {text.path.name}: cite that line, or correct the figure"
    else:
        near = text.nearest(needle, cited)
        fix = (f"the text does not print it; the nearest is at {text.place(near[0])}: \"...{near[1]}...\" - quote the "
               "figure exactly as printed" if near else "the text does not print it: quote the figure exactly as printed")
    return Problem(record.document.display, record.document.line_of(("savings", i, "text")),
                   f"savings[{i}] \"{figure['text']}\" is not in lines {spec} of {figure['source']}", fix)


def _ranges(lines: set[int]) -> list[str]:
    out: list[list[int]] = []
    for n in sorted(lines):
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return [f"{a}-{b}" if a != b else str(a) for a, b in out]


def _beyond(record: Record, path: tuple, cited: list[tuple[int, int]], text: SourceText, fix: str) -> list[Problem]:
    """A problem when a citation names a line past the end of the source's text."""
    past = max((last for _, last in cited), default=0)
    if past <= text.last:
        return []
    return [Problem(record.document.display, record.document.line_of(path),
                    f"{path[0]}[{path[1]}].{path[2]} cites line {past}, but {text.path.name} "
                    f"({text.id}) ends at line {text.last}", fix)]


def _off_where(record: Record, i: int, figure: dict, text: SourceText, cited: set[int]) -> Problem | None:
    """A problem when the figure is in the cited lines but not within one line of those its `where` names."""
    named = where_lines(figure["where"])
    near = {n + d for n in named for d in (-1, 0, 1)}
    needle = normalise(figure["text"])
    if not named or text.contains(needle, near):
        return None
    found = [n for n in text.occurrences(needle) if n in cited] or text.occurrences(needle)
    at = min(found, key=lambda n: min(abs(n - w) for w in named)) if found else None
    return Problem(record.document.display, record.document.line_of(("savings", i, "where")),
                   f"savings[{i}] \"{figure['text']}\" is not at line {', '.join(_ranges(named))} of {figure['source']}, "
                   "where its `where` says it is",
                   f"it is at {text.place(at)}: give that line in `where`" if at else "give the line the figure is printed on")


def _address(source: str, addresses: dict[str, str]) -> str:
    return addresses.get(source) or f"the address in sources/{source}.md"


def _unchecked(record: Record, i: int, figure: dict, addresses: dict[str, str]) -> Problem:
    address = _address(figure["source"], addresses)
    return Problem(record.document.display, record.document.line_of(("savings", i, "text")),
                   f"savings[{i}] \"{figure['text']}\" was not checked against {figure['source']}: its text is not here",
                   f"the reviewer must check it by hand in the report at {address}, at {figure['where']}")


def verify(cases: list[Record], texts: dict[str, SourceText], results_section: str = "Results",
           addresses: dict[str, str] | None = None) -> Report:
    """Check the cases' figures and Results numbers against the texts; `addresses` (source id -> url)
    tells a reviewer where to check by hand the figures whose source has no text here."""
    report = Report()
    for record in cases:
        cited = {}
        for k, src in enumerate(record.data["sources"]):
            cited.setdefault(src["id"], set()).update(line_set(src["lines"]))
            if src["id"] in texts:
                report.problems += _beyond(record, ("sources", k, "lines"), ranges(src["lines"]), texts[src["id"]],
                                           "check the line numbers against the source's text")
        allowed: set[str] = set()
        for src_id, lines in cited.items():
            if src_id in texts:
                allowed |= {n for _, block in texts[src_id].blocks(lines) for n in numbers(block)}
        for i, figure in enumerate(record.data["savings"]):
            text = texts.get(figure["source"])
            if text is None:
                report.unchecked.append(_unchecked(record, i, figure, addresses or {}))
                continue
            lines = cited.get(figure["source"], set()) | where_lines(figure["where"])
            allowed |= {n for _, block in text.blocks(lines) for n in numbers(block)}
            beyond = _beyond(record, ("savings", i, "where"), where_ranges(figure["where"]), text,
                             "give the line of the text the figure is printed on")
            off = None if beyond else _off_where(record, i, figure, text, lines)
            if not text.contains(normalise(figure["text"]), lines):
                report.problems.append(_figure_problem(record, i, figure, text, lines))
            elif beyond or off:
                report.problems += beyond or [off]
            else:
                report.figures += 1
        if not all(src_id in texts for src_id in cited):
            report.cases_skipped += 1
            report.results_unchecked += _results_unchecked(record, texts, results_section, addresses or {})
            continue
        report.problems += _check_results(record, texts, cited, allowed, results_section, report)
    report.problems.sort(key=lambda p: (p.path, p.line))  # in file order, as `kb validate` gives them
    return report


def _results(record: Record, heading: str) -> tuple[int, list[str]] | None:
    """The Results section as (its first line after the heading, its lines with references blanked)."""
    section = next((s for s in record.sections if s.heading == heading), None)
    if section is None:
        return None
    later = [s.line for s in record.sections if s.line > section.line]
    doc = record.document
    body = doc.body.split("\n")
    first, stop = section.line + 1, min(later, default=doc.body_line + len(body))
    return first, without_references("\n".join(body[first - doc.body_line:stop - doc.body_line])).split("\n")


def _results_unchecked(record: Record, texts: dict[str, SourceText], heading: str, addresses: dict[str, str]
                       ) -> list[Problem]:
    """A warning at the Results heading when it prints numbers that no text here can confirm."""
    found = _results(record, heading)
    if found is None or not any(numbers(line) for line in found[1]):
        return []
    missing = [src for src in record.data["sources"] if src["id"] not in texts]
    ids = list(dict.fromkeys(src["id"] for src in missing))
    places = "; and ".join(f"{_address(src['id'], addresses)}, lines {src['lines']}" for src in missing)
    return [Problem(record.document.display, found[0] - 1,
                    f"the numbers in {heading} were not checked: there is no text here for {', '.join(ids)}",
                    f"the reviewer must check each by hand in the report at {places}")]


def _check_results(record: Record, texts: dict[str, SourceText], cited: dict[str, set[int]], allowed: set[str],
                   heading: str, report: Report) -> list[Problem]:
    problems = []
    found = _results(record, heading)
    if found is None:
        return problems
    first, text = found
    doc = record.document
    for line in range(first, first + len(text)):
        for number in sorted(numbers(text[line - first])):
            if number in allowed:
                report.numbers += 1
                continue
            elsewhere = [(src_id, n) for src_id in cited for n in texts[src_id].occurrences(number)
                         if number in numbers(texts[src_id].lines[n - 1])]
            fix = (f"it appears in {elsewhere[0][0]} at {texts[elsewhere[0][0]].place(elsewhere[0][1])}: if that is where "
                   "the source gives it, cite those lines; otherwise quote only what the cited lines print" if elsewhere else
                   "no cited source prints it: quote figures as the source prints them, not worked out")
            problems.append(Problem(doc.display, line, f"{heading} gives {number}, which is not in the cited lines of "
                                    f"{', '.join(cited)}", fix))
    return problems
