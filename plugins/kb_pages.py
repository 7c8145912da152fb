"""Extra data for the home page (sources and licences) and for each case page (its text,
figures, lessons, sources and similar cases), read from the built database."""
import json

from datasette import hookimpl

from kb.site import stored_metadata


async def _labels(db) -> dict[tuple[str, str], str]:
    return {(r[0], r[1]): r[2] for r in (await db.execute("select vocabulary, slug, label from terms")).rows}


async def _case(db, case_id):
    rows = (await db.execute("select * from cases where id = ?", [case_id])).rows
    if not rows:
        return None
    case = dict(rows[0])
    labels = await _labels(db)
    label = lambda vocabulary, slug: labels.get((vocabulary, slug), slug)
    q = lambda sql: db.execute(sql, [case_id])
    case["organisations"] = [dict(r, council_type_label=label("council_types", r["council_type"]),
                                  region_label=label("regions", r["region"]))
                             for r in (await q("select * from organisations where case_id = ? order by position")).rows]
    case["figures"] = [dict(r) for r in (await q("select * from figures where case_id = ? order by position")).rows]
    case["lessons"] = [dict(r) for r in (await q("select * from lessons where case_id = ? order by rowid")).rows]
    case["sources"] = [dict(r) for r in (await q("""select cs.*, s.title, s.licence from case_sources cs
                                                    join sources s on s.id = cs.source_id where cs.case_id = ?""")).rows]
    case["similar"] = [dict(r) for r in (await q("""select s.similar_id, s.score, c.title from similar_cases s
                                                    join cases c on c.id = s.similar_id where s.case_id = ? order by s.rank""")).rows]
    # Every many-valued vocabulary facet, as (column, facet title, [(slug, label), ...])
    stored = stored_metadata(db.path)
    catalogue = stored.get("facets", [])
    case["figure_labels"] = stored.get("site_metadata", {}).get("figures", {}).get("kb_labels", {})
    case["labels"] = [(f["column"], f["label"], [(v, label(f["vocabulary"], v)) for v in json.loads(case.get(f["column"]) or "[]")])
                      for f in catalogue if f["many"] and f["vocabulary"]]
    return case


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    async def inner():
        if view_name == "index":
            for name, db in datasette.databases.items():
                if name != "_internal" and "sources" in await db.table_names():
                    rows = (await db.execute("select * from sources order by date")).rows
                    info = (await db.execute("select * from build_info")).rows
                    return {"kb_sources": [dict(r) for r in rows], "kb_database": name,
                            "kb_build": dict(info[0]) if info else {},
                            "kb_facets": stored_metadata(db.path).get("facets", [])}
            return {}
        if view_name == "row" and table == "cases" and request is not None:
            case_id = request.url_vars.get("pks")
            db = datasette.get_database(database)
            return {"kb_case": await _case(db, case_id) if case_id else None}
        return {}
    return inner
