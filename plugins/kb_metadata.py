"""Per-table facets, column notes and label columns, as the build stored them in the database."""
from datasette import hookimpl

from kb.site import stored_metadata


@hookimpl
def get_metadata(datasette, key, database, table):
    out = {}
    for name, db in datasette.databases.items():
        if db.path:
            tables = stored_metadata(db.path).get("site_metadata")
            if tables:
                out[name] = {"tables": {table: _copy(meta) for table, meta in tables.items()}}
    return {"databases": out}


def _copy(meta: dict) -> dict:
    """A table's stored metadata to hand Datasette: it merges the other plugins' metadata into the dicts it
    is given, and into the stored ones that put titles and "hidden" into what the build declared (a
    table the build does not declare read as declared). Copied two levels down, as deep as they go."""
    return {key: dict(value) if isinstance(value, dict) else value for key, value in meta.items()}
