"""Facets and column help for the cases and lessons tables, derived from kb/schema.yml so the
site never lists a facet of its own."""
from datasette import hookimpl

from kb.schema import facets, field_spec


def _item_facets(list_field: str) -> list[str]:
    """The vocabulary-backed and true/false fields of a case's list items (savings, organisations):
    the build writes each to a column of the same name."""
    fields = (field_spec("case", (list_field, 0)) or {}).get("fields", {})
    return [name for name, spec in fields.items() if spec.get("vocabulary") or spec.get("type") == "boolean"]


def _table_metadata():
    case_facets = [{"array": f.column} if f.many else f.column for f in facets("case")]
    columns = {}
    for f in facets("case"):
        spec = field_spec("case", f.path) or {}
        columns[f.column] = spec.get("description") or f"{f.label} ({'list' if f.many else 'one value'})"
    columns.update({
        "largest_saving_gbp": "Largest single saving figure recorded for the case, in GBP (see the savings table for all figures and their periods).",
        "annual_saving_gbp": "Largest saving figure that is a yearly amount, in GBP.",
        "year_start": "First year of the initiative.",
    })
    return {
        "cases": {"facets": case_facets, "columns": columns, "label_column": "title",
                  "sort_desc": "largest_saving_gbp", "size": 50},
        "lessons": {"facets": ["source_id", {"array": "key_attributes"}], "label_column": "text"},
        "savings": {"facets": _item_facets("savings") + ["source_id"]},
        "organisations": {"facets": _item_facets("organisations"), "label_column": "name"},
        "sources": {"label_column": "title"},
        "terms": {"facets": ["vocabulary"], "label_column": "label"},
    }


@hookimpl
def get_metadata(datasette, key, database, table):
    return {"databases": {name: {"tables": _table_metadata()} for name in datasette.databases if name != "_internal"}}
