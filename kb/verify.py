"""Figures checked against the texts of their sources.

Every figure's printed text must appear within the lines its case cites for that source (the case's
`sources[].lines` plus any lines its `where` names), with any year its period names; every sum of money
in the body must be one the cited lines print (or one of the case's figures), and every other number
must appear within the cited lines of the case's sources (a financial year read as one, however
printed). A source's text is looked for in sources/text/
(kept in the repository when the licence allows), sources/text-local/ (never committed) and any
folders given; its sha256 must match the one its record gives, so line numbers mean the same thing."""
from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .amounts import MONEY, in_pounds, money_value
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


# A financial year however it is printed ("2015/16", "2015-16", "2015/2016"): one figure, as "2015/16".
FINANCIAL_YEAR = re.compile(r"(?<![\w.,/])((?:19|20)\d\d)\s*[/\u2013-]\s*((?:19|20)?\d{1,2})(?![\w/]|[.,]\d)")
# Numbers that are no figure: a date ("accessed 12/09/13") and a web address ("/journal_content/56/10180")
NOT_FIGURES = re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b|(?:https?://|www\.)\S+", re.I)


def numbers(text: str, parts: bool = False) -> set[str]:
    """The numbers a text prints, without thousands commas ("£2,065" -> "2065"), a financial year as one
    ("2015/2016" -> "2015/16"; with `parts`, its two years too, as a source's text is read, so that a
    case may write "from 2015 to 2016"), leaving out dates and web addresses."""
    text = NOT_FIGURES.sub(" ", normalise(text))
    found = set()

    def year(m: re.Match) -> str:
        first, second = int(m.group(1)), int(m.group(2))
        if second != (first + 1) % (10 ** len(m.group(2))):
            return m.group()  # a span of years ("2010-2015"): two years, each a number
        found.add(f"{first}/{(first + 1) % 100:02d}")
        if parts:
            found.update({str(first), str(first + 1)})
        return " "
    rest = FINANCIAL_YEAR.sub(year, text)
    return found | {m.group().replace(",", "") for m in NUMBER.finditer(rest)}


def sums(text: str, after: str = "") -> list[tuple[str, set[float]]]:
    """Each sum of money a text prints, as printed, with the amounts it stands for ("£2-3 million": both
    ends), so that "£10 million" is checked as money, not as the 10 of "a further 10 years" (`after`:
    the text that follows, which a sum starting in this one may run on to)."""
    out = []
    text = NOT_FIGURES.sub(" ", plain(text))
    for m in MONEY.finditer(text + " " + NOT_FIGURES.sub(" ", plain(after)) if after else text):
        if m.start() >= len(text):
            break
        values = {float(money_value(m))}
        if m.group(2):
            values.add(in_pounds(re.search(r"\d[\d,]*(?:\.\d+)?", m.group(2)).group(), m.group(3)))
        out.append((m.group().strip(), values))
    return out


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


def _period_problem(record: Record, i: int, figure: dict, text: SourceText, cited: set[int]) -> Problem | None:
    """A problem when the figure's period names a year its source does not print within its cited lines
    ("2013/14" for a figure the source gives for 2010/11)."""
    printed = {n for _, block in text.blocks(cited) for n in numbers(block, parts=True)}
    years = sorted(n for n in numbers(str(figure.get("period") or "")) if re.fullmatch(r"(?:19|20)\d\d(?:/\d\d)?", n))
    missing = [year for year in years if year not in printed]
    if not missing:
        return None
    return Problem(record.document.display, record.document.line_of(("savings", i, "period")),
                   f"savings[{i}].period gives {', '.join(missing)}, which the cited lines of {figure['source']} do not print",
                   "give the period the source gives the figure for, or cite the line that gives it")


def _address(source: str, addresses: dict[str, str]) -> str:
    return addresses.get(source) or f"the address in sources/{source}.md"


def _unchecked(record: Record, i: int, figure: dict, addresses: dict[str, str]) -> Problem:
    address = _address(figure["source"], addresses)
    return Problem(record.document.display, record.document.line_of(("savings", i, "text")),
                   f"savings[{i}] \"{figure['text']}\" was not checked against {figure['source']}: its text is not here",
                   f"the reviewer must check it by hand in the report at {address}, at {figure['where']}")


def verify(cases: list[Record], texts: dict[str, SourceText], addresses: dict[str, str] | None = None) -> Report:
    """Check the cases' figures, and the numbers and sums of their text, against the texts; `addresses`
    (source id -> url) tells a reviewer where to check by hand what no text here can confirm."""
    report = Report()
    for record in cases:
        cited = {}
        for k, src in enumerate(record.data["sources"]):
            cited.setdefault(src["id"], set()).update(line_set(src["lines"]))
            if src["id"] in texts:
                report.problems += _beyond(record, ("sources", k, "lines"), ranges(src["lines"]), texts[src["id"]],
                                           "check the line numbers against the source's text")
        blocks = [block for src_id, lines in cited.items() if src_id in texts for _, block in texts[src_id].blocks(lines)]
        for i, figure in enumerate(record.data["savings"]):
            text = texts.get(figure["source"])
            if text is None:
                report.unchecked.append(_unchecked(record, i, figure, addresses or {}))
                continue
            lines = cited.get(figure["source"], set()) | where_lines(figure["where"])
            blocks += [block for _, block in text.blocks(lines)]
            beyond = _beyond(record, ("savings", i, "where"), where_ranges(figure["where"]), text,
                             "give the line of the text the figure is printed on")
            off = None if beyond else _off_where(record, i, figure, text, lines)
            period = _period_problem(record, i, figure, text, lines)
            if not text.contains(normalise(figure["text"]), lines):
                report.problems.append(_figure_problem(record, i, figure, text, lines))
            elif beyond or off or period:
                report.problems += beyond or [off or period]
            else:
                report.figures += 1
        if not all(src_id in texts for src_id in cited):
            report.cases_skipped += 1
            report.results_unchecked += _numbers_unchecked(record, texts, addresses or {})
            continue
        blocks = list(dict.fromkeys(blocks))  # each figure's lines again, mostly
        allowed = {n for block in blocks for n in numbers(block, parts=True)}
        # a sum the cited lines print, or one of the case's own figures (a table's 0.577 in £ millions,
        # which the text may write as £577,000)
        money = {v for block in blocks for _, values in sums(block) for v in values}
        money |= {float(f["amount"]) for f in record.data["savings"] if f.get("amount") is not None}
        report.problems += _check_numbers(record, texts, cited, allowed, money, report)
    report.problems.sort(key=lambda p: (p.path, p.line))  # in file order, as `kb validate` gives them
    return report


def _sections(record: Record) -> list[tuple[str, int, list[str]]]:
    """Each section of the body as (its heading, its first line after the heading, its lines with
    references blanked)."""
    doc = record.document
    body = doc.body.split("\n")
    out = []
    for k, section in enumerate(record.sections):
        first = section.line + 1
        stop = record.sections[k + 1].line if k + 1 < len(record.sections) else doc.body_line + len(body)
        out.append((section.heading, first,
                    without_references("\n".join(body[first - doc.body_line:stop - doc.body_line])).split("\n")))
    return out


def _numbers_unchecked(record: Record, texts: dict[str, SourceText], addresses: dict[str, str]) -> list[Problem]:
    """A warning at the first section that prints numbers when no text here can confirm them."""
    with_numbers = [(heading, first) for heading, first, lines in _sections(record) if any(numbers(x) for x in lines)]
    if not with_numbers:
        return []
    missing = [src for src in record.data["sources"] if src["id"] not in texts]
    ids = list(dict.fromkeys(src["id"] for src in missing))
    places = "; and ".join(f"{_address(src['id'], addresses)}, lines {src['lines']}" for src in missing)
    *most, last = [heading for heading, _ in with_numbers]
    where = f"{', '.join(most)} and {last}" if most else last
    return [Problem(record.document.display, with_numbers[0][1] - 1,
                    f"the numbers in {where} were not checked: there is no text here for {', '.join(ids)}",
                    f"the reviewer must check each by hand in the report at {places}")]


def _check_numbers(record: Record, texts: dict[str, SourceText], cited: dict[str, set[int]], allowed: set[str],
                   money: set[float], report: Report) -> list[Problem]:
    """Every sum of money and every number in the body, against the cited lines."""
    problems = []
    doc = record.document
    sources = ", ".join(cited)
    for heading, first, lines in _sections(record):
        for line, written in enumerate(lines, first):
            # a sum may run on to the next line ("£2.419" / "million"): read with it, each sum where it starts
            after = lines[line - first + 1] if line - first + 1 < len(lines) else ""
            for sum_, values in sums(written, after):
                if values & money:
                    report.numbers += 1
                    continue
                problems.append(Problem(doc.display, line, f"{heading} gives {sum_}, which the cited lines of {sources} "
                                        "do not print", _elsewhere(texts, cited, values=values)))
            for number in sorted(numbers(MONEY.sub(" ", plain(written)))):
                if number in allowed:
                    report.numbers += 1
                    continue
                problems.append(Problem(doc.display, line, f"{heading} gives {number}, which is not in the cited lines of "
                                        f"{sources}", _elsewhere(texts, cited, number=number)))
    return problems


def _elsewhere(texts: dict[str, SourceText], cited: dict[str, set[int]], number: str | None = None,
               values: set[float] | None = None) -> str:
    """Where else a cited source prints the number (or the sum), as the fix of a problem."""
    for src_id in cited:
        text = texts[src_id]
        for n, line in enumerate(text.lines, 1):
            if (number in numbers(line, parts=True)) if number else any(values & v for _, v in sums(line)):
                return (f"it appears in {src_id} at {text.place(n)}: if that is where the source gives it, cite that "
                        "line; otherwise quote only what the cited lines print")
    return "no cited source prints it: quote figures as the source prints them, not worked out"
