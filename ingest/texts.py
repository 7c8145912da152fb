"""The report texts the repository may republish (sources/text/, kept there because their licence
allows it), line by line, so that the site can show the lines a case cites. A text whose sha256 is not
its record's is left out: its line numbers may not be the ones the cases count."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

import sqlite_utils

from kb.validate import Record

TABLE = "source_lines"
PUBLISHED = Path("sources") / "text"  # under the root: never sources/text-local, which is no one's to publish


def line_rows(root: Path, sources: list[Record]) -> Iterable[dict]:
    for record in sources:
        path = root / PUBLISHED / record.data["text_file"]
        if not path.is_file():
            continue
        raw = path.read_bytes()
        if hashlib.sha256(raw).hexdigest() != record.data["text_sha256"]:
            continue
        lines = raw.decode("utf-8", errors="replace").split("\n")
        if len(lines) > 1 and lines[-1] == "":
            lines.pop()  # a text ending in a line break has no line after it
        for n, text in enumerate(lines, 1):
            yield {"source_id": record.id, "line": n, "text": text.rstrip("\r")}


def write_source_lines(db: sqlite_utils.Database, root: Path, sources: list[Record]) -> None:
    """The table written afresh (a rebuild that patches a copy does so too: it is a few thousand rows)."""
    db[TABLE].drop(ignore=True)
    db[TABLE].create({"source_id": str, "line": int, "text": str}, pk=("source_id", "line"))
    db[TABLE].insert_all(line_rows(root, sources), batch_size=2000)
