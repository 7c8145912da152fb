"""A source report's line-numbered text, made from its PDF with pypdf, and its record in sources/.

The text is what every `lines:` and `where:` citation counts lines in, so its sha256 and the line on
which each printed page starts go into the record. It is kept in the repository (sources/text/) only
when the report's licence allows republishing it; otherwise in sources/text-local/, which git ignores."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .validate import TODO

KEPT, LOCAL = "sources/text", "sources/text-local"
# Licences that allow the whole text to be republished beside the records
OPEN_LICENCE = re.compile(r"open government licence|creative commons attribution|\bcc[ -]by\b|\bcc0\b|public domain", re.I)


class SourceError(Exception):
    """A report that cannot be added, with the reason a person can act on."""


@dataclass
class ExtractedText:
    lines: list[str]
    page_lines: list[int]   # the line on which each page starts

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def extract(pdf: Path) -> tuple[ExtractedText, dict]:
    """The PDF's text, page by page, and its document information (title, author)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(pdf)
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata or {}
    except (PdfReadError, OSError, ValueError) as err:
        raise SourceError(f"{pdf}: cannot read it as a PDF ({err})") from err
    lines: list[str] = []
    starts: list[int] = []
    for page in pages:
        starts.append(len(lines) + 1)
        lines += [line.rstrip() for line in page.replace("\r\n", "\n").replace("\r", "\n").split("\n")] or [""]
    if not any(line.strip() for line in lines):
        raise SourceError(f"{pdf}: no text could be extracted (a scanned report needs OCR first)")
    # not its creation date: a PDF is often made long after the report was published
    meta = {"title": info.get("/Title"), "author": info.get("/Author")}
    return ExtractedText(lines, starts), {k: str(v).strip() for k, v in meta.items() if v and str(v).strip()}


def open_licence(licence: str | None) -> bool:
    return bool(licence and OPEN_LICENCE.search(licence))


def _field(name: str, value) -> str:
    return f"{name}: {json.dumps(value, ensure_ascii=False) if value else TODO}"


def _guessed(value: str, what: str) -> str:
    """A value read from the PDF's own metadata (often a file name, or the template's), kept as a TODO
    that `kb validate` lists with it, until the contributor has confirmed it against the report."""
    return json.dumps(f"{TODO}: the PDF's own metadata says {json.dumps(value, ensure_ascii=False)}; {what}",
                      ensure_ascii=False)


def record_text(source_id: str, url: str, text: ExtractedText, text_file: str, meta: dict, title: str | None,
                publisher: str | None, date: str | None, licence: str | None) -> str:
    out = ["---", f"id: {source_id}",
           _field("title", title) if title or not meta.get("title") else
           f"title: {_guessed(meta['title'], 'write the title as the report prints it on its cover')}",
           _field("publisher", publisher)]
    if meta.get("author"):
        out.append(f"authors: [{_guessed(meta['author'], 'write each author as the report names them, or delete the authors line')}]")
    out += [_field("date", date), _field("licence", licence), f"url: {json.dumps(url)}",
            f"text_file: {text_file}", f"text_sha256: {text.sha256}",
            f"page_lines: [{', '.join(map(str, text.page_lines))}]",
            "findings: []  # one entry per cross-cutting finding: theme, text (in your own words), where",
            "---", "", "## Summary", "",
            f"{TODO}: What the report is, who wrote it and how, and what it covers - in your own words.", ""]
    return "\n".join(out)


def add_source(root: Path, pdf: Path, source_id: str, url: str, title: str | None = None, publisher: str | None = None,
               date: str | None = None, licence: str | None = None, keep: bool | None = None,
               force: bool = False) -> tuple[Path, Path, ExtractedText]:
    """Write the text and sources/<id>.md; (record path, text path, text)."""
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", source_id):
        raise SourceError(f"--id '{source_id}' must be lower-case words joined by hyphens, e.g. lga-2016-transformational-models")
    if not re.fullmatch(r"https?://\S+", url):
        raise SourceError(f"--url '{url}' must be the report's public address, starting with https://")
    record = root / "sources" / f"{source_id}.md"
    if record.exists() and not force:
        raise SourceError(f"{record} exists already - choose another --id, or give --force to replace it")
    text, meta = extract(pdf)
    keep = open_licence(licence) if keep is None else keep
    folder = root / (KEPT if keep else LOCAL)
    folder.mkdir(parents=True, exist_ok=True)
    text_path = folder / f"{source_id}.txt"
    text_path.write_bytes(text.text.encode("utf-8"))  # exactly the bytes the sha256 is of
    record.write_text(record_text(source_id, url, text, text_path.name, meta, title, publisher, date, licence),
                      encoding="utf-8")
    return record, text_path, text
