"""Per-table facets, column notes and label columns, as the build stored them in the database."""
from datasette import hookimpl

from kb.site import for_datasette, stored_metadata


@hookimpl
def get_metadata(datasette, key, database, table):
    out = {}
    for name, db in datasette.databases.items():
        if db.path:
            tables = stored_metadata(db.path).get("site_metadata")
            if tables:
                out[name] = {"tables": {table: for_datasette(meta) for table, meta in tables.items()}}
    return {"databases": out}
