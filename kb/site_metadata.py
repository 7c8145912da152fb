"""What the site shows of the declarations: each table's facets, column notes and label column
(Datasette metadata), and the facet catalogue (every facet with its values' labels).

The build stores both in kb.db (table kb_meta), so the site serves each database with the
vocabulary it was built with; `kb schema` also writes them to schema/ so a change shows in review."""
from __future__ import annotations

from .schema import facets, tables
from .vocabulary import load_vocabularies


def site_metadata() -> dict:
    """Datasette's per-table metadata for every declared table."""
    out: dict = {}
    for table in tables().values():
        public = [c for c in table.columns if c.public]
        meta = {
            "description": table.description,
            "columns": {c.name: c.help for c in public if c.help},
            "facets": [{"array": c.name} if c.type == "list" else c.name for c in table.columns if c.facet],
            # the table page shows the columns a reader compares on; body text stays on the case page
            "kb_columns": [c.name for c in public],
            "kb_labels": {c.name: c.label for c in public},
            # so the site shows labels, tags, £ and yes/no for the stored slugs, arrays and numbers
            "kb_vocabularies": {c.name: c.vocabulary for c in public if c.vocabulary},
            "kb_vocabulary_keys": [c.name for c in public if c.vocabulary_key],
            "kb_types": {c.name: c.type for c in public},
            "kb_references": {c.name: c.references for c in public if c.references},
        }
        if table.label_column:
            meta["label_column"] = table.label_column
        out[table.name] = meta
    return out


def facet_catalogue() -> list[dict]:
    """Every facet of the cases, with its label and the label of each value, in declared order."""
    vocabularies = load_vocabularies()
    out = []
    for facet in facets("case"):
        vocab = vocabularies.get(facet.vocabulary) if facet.vocabulary else None
        # a facet of the organisation's own fields (council type, region) says what kind of council it is
        out.append({"column": facet.column, "label": facet.label, "vocabulary": facet.vocabulary, "many": facet.many,
                    "organisation": facet.path[0] == "organisations",
                    "values": {t.slug: {"label": t.label, "definition": t.definition} for t in vocab.terms.values()}
                    if vocab else {}})
    return out
