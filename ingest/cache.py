"""Validated records kept between builds, so a rebuild parses and checks only the files that changed.

A record is reused only for the same bytes at the same path, checked by the same code, declarations
and parsing libraries, against the same set of source ids: anything else is a miss and the file is
checked as if for the first time. Only files that passed are kept. The cache is a SQLite file beside
the database (`.kb.db.records`), not inside it, so the published database does not carry it; it
holds the records of the last build, and deleting it costs only time. A cache that cannot be opened
or written is no cache: the build goes on without it."""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import sqlite3
from pathlib import Path

import yaml

from kb.parse import Document, Section, read_document
from kb.validate import Record

# What turns a file's bytes into a record besides the project's own code (see code_digest)
LIBRARIES = ("PyYAML", "markdown-it-py", "mdurl", "jsonschema")
FORMAT = 2  # of the cache file: another format is emptied and started again


def code_digest() -> str:
    """Every .py and .yml of kb/ and every .py of ingest/: the code and declarations a build runs."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for path in sorted([*here.glob("*.py"), *(here.parent / "kb").glob("*.py"), *(here.parent / "kb").glob("*.yml")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def record_basis(code: str) -> str:
    versions = [f"{name}=={_version(name)}" for name in LIBRARIES]
    return hashlib.sha256("|".join([code, platform.python_version(), *versions]).encode()).hexdigest()


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def cache_path(output: Path) -> Path:
    return output.with_name(f".{output.name}.records")


class _KeptDocument(Document):
    """A cached file's Document. Its YAML node tree and body are not kept: they are read from the
    file again if ever asked for (a cross-file problem's line number)."""

    def __init__(self, path: Path, display: str, data: dict, body_line: int):
        self.path, self.display, self.data, self.body_line = path, display, data, body_line
        self._again: Document | None = None

    def _read_again(self) -> Document | None:
        if self._again is None:
            self._again = read_document(self.path, self.display)[0]
        return self._again

    @property
    def node(self):
        again = self._read_again()
        if again is None:  # the file changed under the build: line numbers point at its front matter
            return yaml.MappingNode("tag:yaml.org,2002:map", [], start_mark=yaml.Mark(self.display, 0, 0, 0, None, None))
        return again.node

    @property
    def body(self) -> str:
        again = self._read_again()
        return again.body if again else ""


class _KeptRecord(Record):
    """A cached Record whose sections (most of its size) are decoded when first read: a build that
    patches its database reads the sections of the changed cases only."""

    def __init__(self, kind: str, id: str, document: Document, data: dict, sections):
        self.kind, self.id, self.document, self.data = kind, id, document, data
        self._sections: list[Section] | None = None
        self._read_sections = sections  # gives their JSON

    @property
    def sections(self) -> list[Section]:
        if self._sections is None:
            self._sections = [Section(s[0], s[1], s[2], [tuple(b) for b in s[3]], s[4])
                              for s in json.loads(self._read_sections())]
        return self._sections

    @sections.setter
    def sections(self, value: list[Section]) -> None:
        self._sections = value


class RecordCache:
    """get() and put() as check_collection calls them; save() keeps what this build used. Open
    until close(): a kept record's sections are read when first wanted."""

    def __init__(self, path: Path, basis: str):
        self.path, self.basis = path, basis
        self.used: set[str] = set()
        self.hits = 0
        self._sources: tuple = (None, b"")
        try:
            self.conn = sqlite3.connect(path)
            if self.conn.execute("pragma user_version").fetchone()[0] != FORMAT:
                with self.conn:
                    self.conn.execute("drop table if exists records")
                    self.conn.execute("create table records (key text primary key, head text not null, sections text not null)")
                    self.conn.execute(f"pragma user_version = {FORMAT}")
            # every record's head in one read (a query a file costs more at 100,000 files)
            self.heads = dict(self.conn.execute("select key, head from records"))
        except sqlite3.Error:
            self.conn = None

    def _key(self, display: str, kind: str, raw: bytes, known_sources: set[str] | None) -> str:
        digest = hashlib.sha256(f"{self.basis}\0{kind}\0{display}\0".encode())
        digest.update(hashlib.sha256(raw).digest())
        if kind == "case":  # a case's checks read the set of source ids
            if self._sources[0] is not known_sources:
                self._sources = (known_sources, json.dumps(sorted(known_sources) if known_sources is not None else None).encode())
            digest.update(self._sources[1])
        return digest.hexdigest()

    def _sections_of(self, key: str) -> str:
        return self.conn.execute("select sections from records where key = ?", [key]).fetchone()[0]

    def get(self, path: Path, display: str, kind: str, raw: bytes, known_sources: set[str] | None) -> Record | None:
        if self.conn is None:
            return None
        key = self._key(display, kind, raw, known_sources)
        if key not in self.heads:
            return None
        try:
            head = json.loads(self.heads[key])
            front = head["data"] if head["front"] is None else head["front"]
            record = _KeptRecord(kind, head["id"], _KeptDocument(path, display, front, head["body_line"]),
                                 head["data"], lambda: self._sections_of(key))
        except (ValueError, KeyError, TypeError):
            return None
        self.used.add(key)
        self.hits += 1
        return record

    def put(self, path: Path, display: str, kind: str, raw: bytes, known_sources: set[str] | None, record: Record) -> None:
        if self.conn is None:
            return
        # most files use no alias, so their front matter is their record's data: kept once (and
        # shared once read back: neither is changed after validation)
        front = None if record.document.data == record.data else record.document.data
        head = {"id": record.id, "front": front, "data": record.data, "body_line": record.document.body_line}
        sections = [[s.heading, s.line, s.markdown, [list(b) for b in s.bullets], s.html] for s in record.sections]
        try:
            texts = json.dumps(head, ensure_ascii=False, allow_nan=False), json.dumps(sections, ensure_ascii=False)
        except (TypeError, ValueError):
            return
        # JSON has no tuples or non-text keys: a record it would change is not kept
        if json.loads(texts[0]) != head or json.loads(texts[1]) != sections:
            return
        key = self._key(display, kind, raw, known_sources)
        try:  # written now, in the transaction save() commits: 100,000 records would fill memory
            self.conn.execute("insert or replace into records values (?, ?, ?)", (key, *texts))
        except sqlite3.Error:
            return
        self.used.add(key)

    def save(self, prune: bool) -> None:
        """Write the new records and, with prune, drop those this build did not use (not after a
        failed check: the file put right again is most likely the one kept)."""
        if self.conn is None:
            return
        try:
            with self.conn:
                if not prune:
                    return
                self.conn.execute("create temp table used (key text primary key)")
                self.conn.executemany("insert into temp.used values (?)", ((k,) for k in self.used))
                self.conn.execute("delete from records where key not in (select key from temp.used)")
                self.conn.execute("drop table temp.used")
            free, pages = (self.conn.execute(f"pragma {p}").fetchone()[0] for p in ("freelist_count", "page_count"))
            if free * 3 > pages:  # the records of another code (after any change to it): give the space back
                self.conn.execute("vacuum")
        except sqlite3.Error:
            pass

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
