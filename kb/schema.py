"""The file formats declared in kb/schema.yml, and what derives from them: the JSON Schema
used to validate (and published for editors) and the list of facets."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


from .vocabulary import load_vocabularies

SCHEMA_FILE = Path(__file__).with_name("schema.yml")
KINDS = ("case", "source")
NOT_BLANK = r"\S"  # JSON Schema patterns search: somewhere in the text, a character that is not a space
JSON_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
              "list": "array", "object": "object"}


@lru_cache(maxsize=None)
def load_schema(path: Path = SCHEMA_FILE) -> dict:
    """The declared formats, or DeclarationError naming the file's line and the fix (see kb/declared.py)."""
    from .declared import loaded

    return loaded(path, "fix the indentation or quoting there")


def body_sections(kind: str) -> list[str]:
    return list(load_schema()[kind]["body"]["sections"])


def summary_section(kind: str = "case") -> str | None:
    return load_schema()[kind]["body"].get("summary")


def max_chars(kind: str = "case") -> dict:
    """The most characters the Summary and each lesson may have (kb/schema.yml, body.max_chars)."""
    return load_schema()[kind]["body"].get("max_chars") or {}


def lessons_section(kind: str = "case") -> str | None:
    """The heading whose top-level bullets are lesson records, if the kind has one."""
    return load_schema()[kind]["body"].get("lessons")


def field_spec(kind: str, path: tuple) -> dict | None:
    """The declaration of the field at a JSON path such as ('savings', 0, 'amount')."""
    spec: dict | None = {"type": "object", "fields": load_schema()[kind]["fields"]}
    for step in path:
        if spec is None:
            return None
        if isinstance(step, int):
            spec = spec.get("items")
        else:
            spec = (spec.get("fields") or {}).get(step)
    return spec


def _json_schema(spec: dict) -> dict:
    vocabularies = load_vocabularies()
    out: dict = {"type": JSON_TYPES[spec.get("type", "string")]}
    if spec.get("description"):
        out["description"] = spec["description"]
    if spec.get("vocabulary"):
        vocab = vocabularies[spec["vocabulary"]]
        out["enum"] = vocab.accepted()
        out["description"] = (spec.get("description", "") + f" One of the {vocab.label.lower()} terms in kb/vocabulary.yml.").strip()
    if "pattern" in spec:
        out["pattern"] = spec["pattern"]
    bounds = {"string": ("minLength", "maxLength"), "list": ("minItems", "maxItems"),
              "integer": ("minimum", "maximum"), "number": ("minimum", "maximum")}
    low, high = bounds.get(spec.get("type", "string"), (None, None))
    if low and "min" in spec:
        out[low] = spec["min"]
    if high and "max" in spec:
        out[high] = spec["max"]
    if spec.get("required") and spec.get("type", "string") == "string":
        # a required text may not be empty or blank ("" would even pass `kb verify`: every text contains it)
        out.setdefault("minLength", 1)
        if "pattern" not in out and "enum" not in out:
            out["pattern"] = NOT_BLANK
    if spec.get("type") == "list":
        out["items"] = _json_schema(spec.get("items", {"type": "string"}))
    if spec.get("type") == "object":
        fields = spec.get("fields", {})
        out["properties"] = {name: _json_schema(sub) for name, sub in fields.items()}
        out["required"] = [name for name, sub in fields.items() if sub.get("required")]
        out["additionalProperties"] = False
    return out


@lru_cache(maxsize=None)
def json_schema(kind: str) -> dict:
    """JSON Schema (draft 2020-12) for the front matter of a case or source file."""
    declared = load_schema()[kind]
    schema = _json_schema({"type": "object", "fields": declared["fields"]})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Front matter of a {kind} file",
        "description": declared.get("description", ""),
        **schema,
    }


@dataclass(frozen=True)
class Facet:
    """A facet of the cases table: `column` holds the values of the field at `path`."""
    column: str
    path: tuple[str, ...]
    vocabulary: str | None
    many: bool
    title: str | None = None
    when: tuple[tuple[str, object], ...] = ()  # only values whose object has these field values

    @property
    def label(self) -> str:
        if self.title:
            return self.title
        if self.vocabulary:
            return load_vocabularies()[self.vocabulary].label
        return self.column.replace("_", " ").capitalize()

    def values(self, front_matter: dict) -> list:
        """Every value of this facet in one case's (normalised) front matter, deduplicated."""
        found: list = []

        def walk(node, steps):
            if node is None:
                return
            if not steps:
                for value in node if isinstance(node, list) else [node]:
                    if value not in found:
                        found.append(value)
                return
            if isinstance(node, list):
                for item in node:
                    walk(item, steps)
            elif isinstance(node, dict):
                if len(steps) == 1 and any(node.get(k) != v for k, v in self.when):
                    return
                walk(node.get(steps[0]), steps[1:])

        walk(front_matter, list(self.path))
        return found


@lru_cache(maxsize=None)
def facets(kind: str = "case") -> tuple[Facet, ...]:
    found = []

    def walk(fields: dict, prefix: tuple, many: bool):
        for name, spec in fields.items():
            path = prefix + (name,)
            is_list = spec.get("type") == "list"
            item = spec.get("items", {}) if is_list else spec
            if spec.get("facet"):
                found.append(Facet(spec["facet"], path, item.get("vocabulary") or spec.get("vocabulary"), many or is_list,
                                   spec.get("facet_label"), tuple((spec.get("facet_when") or {}).items())))
            if item.get("type") == "object":
                walk(item.get("fields", {}), path, many or is_list)
            elif item.get("facet") and not spec.get("facet"):
                found.append(Facet(item["facet"], path, item.get("vocabulary"), True))

    walk(load_schema()[kind]["fields"], (), False)
    return tuple(found)


# -- the tables the build writes (the `tables:` section of kb/schema.yml) ----------------------------
SQL_TYPES = {"text": str, "integer": int, "float": float, "boolean": int, "list": str}


@dataclass(frozen=True)
class Column:
    table: str
    name: str
    type: str                       # text, integer, float, boolean or list (stored as a JSON array)
    help: str
    field: str | None = None        # dotted front-matter path within the row's object; None: computed
    fts: float | None = None        # weight in the table's full-text index
    facet: bool = False             # a facet on the site
    public: bool = True             # shown on the site's table pages
    vocabulary: str | None = None
    references: str | None = None   # foreign key to that table's primary key
    label: str = ""
    vocabulary_key: bool = False    # holds a vocabulary's own key (kb/vocabulary.yml), not a term's slug

    def value(self, obj: dict):
        node = obj
        for step in (self.field or "").split("."):
            node = node.get(step) if isinstance(node, dict) else None
        if node is None and self.type == "boolean":
            # a file writes a yes/no field only when it is yes (`anonymised: true`): left out, it is no,
            # and a filter that read it as unknown counted most rows in neither Yes nor No
            return False
        return node


@dataclass(frozen=True)
class Table:
    name: str
    rows: str
    pk: tuple[str, ...]
    label_column: str | None
    description: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def fts(self) -> list[Column]:
        """The full-text columns, in index order (BM25 weights line up with this order)."""
        return [c for c in self.columns if c.fts]

    @property
    def facet_columns(self) -> list[Column]:
        return [c for c in self.columns if c.facet]


def _facet_column(table: str, facet: Facet) -> Column:
    spec = field_spec("case", facet.path) or {}
    return Column(table, facet.column, "list" if facet.many else "text",
                  spec.get("description") or f"{facet.label}.", facet=True, vocabulary=facet.vocabulary,
                  label=facet.label)


@lru_cache(maxsize=None)
def tables() -> dict[str, Table]:
    out = {}
    for name, spec in load_schema()["tables"].items():
        declared = [Column(name, col, c.get("type", "text"), c.get("help", ""), c.get("field"), c.get("fts"),
                           bool(c.get("facet")), c.get("public", True), c.get("vocabulary"), c.get("references"),
                           c.get("label") or col.replace("_", " ").capitalize(), bool(c.get("vocabulary_key")))
                    for col, c in spec["columns"].items()]
        mode = spec.get("facets")
        if mode:
            own = {c.name for c in declared}
            extra = [_facet_column(name, f) for f in facets("case") if f.column not in own]
            # facet columns go before the columns kept off the site
            at = next((i for i, c in enumerate(declared) if not c.public), len(declared))
            declared[at:at] = extra
        pk = spec["pk"]
        out[name] = Table(name, spec["rows"], tuple(pk if isinstance(pk, list) else [pk]), spec.get("label_column"),
                          spec.get("description", ""), tuple(declared))
    return out


def table_for(rows: str) -> Table:
    """The table whose rows are `rows` (e.g. 'case', 'case.savings')."""
    return next(t for t in tables().values() if t.rows == rows)


def similar_spec() -> dict:
    """Which case tags "cases like mine" compare, and which it names as reasons."""
    return load_schema()["similar_cases"]
