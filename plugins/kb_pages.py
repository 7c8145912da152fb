"""The pages a reader lands on: the home page (search, browse, sources), each case page (its facts,
text, figures in words, sources, similar cases, how to cite it) and each source page (the report,
its public address, what its line numbers refer to, the cases drawn from it). Read from kb.db."""
from __future__ import annotations

import datetime

from datasette import hookimpl

from kb.amounts import period_unstated, printed_range
from kb.citations import where_ranges, written
from kb.site import plugin_module




present = plugin_module(__file__, "kb_present")
mentions = plugin_module(__file__, "kb_mentions")
texts = plugin_module(__file__, "kb_texts")


def _lines_of(where: str | None) -> str:
    """The lines a `where` names ("..., line 1710; table, lines 1743-1744" -> "1710,1743-1744")."""
    return written(where_ranges(where or ""), ",")

# The facts shown at the top of a case page and in the compare view, in this order.
CASE_TAGS = ("council_types", "regions", "services", "approaches", "key_attributes")


def _columns(db_path, table: str) -> set[str]:
    return set(present.table_columns(db_path, table))


def how_often(yearly: bool, recurrence: str | None) -> str:
    """Whether an amount is yearly and whether it recurs, in one phrase: "not a yearly amount; recurs
    every year" (a weekly saving that goes on) and "not a yearly amount; one-off" read as slips."""
    if recurrence == "one-off":
        return "a year's amount, once" if yearly else "one-off"
    if recurrence == "recurring":
        return "recurs every year" if yearly else "not a yearly amount; it recurs"
    return ("a yearly amount" if yearly else "not a yearly amount") + "; whether it recurs is not stated"


def figure_words(db_path, f: dict) -> dict:
    """One money figure in words: amount, what it is, its status and period, and where it is printed."""
    label = lambda vocabulary, slug: present.label(db_path, vocabulary, slug)
    printed = printed_range(f.get("text"))
    period = (present.unbracketed(f.get("period")) or "").strip() or "not stated"
    if printed:
        amount = printed  # as printed: the stored amount is only the range's lower end
    elif f.get("amount_gbp") is not None:
        amount = present.money(f["amount_gbp"])
    elif f.get("percent") is not None:
        amount = f"{f['percent']:g}%"
    else:
        amount = ""
    return {
        "amount": amount,
        "kind": label("figure_kinds", f.get("kind")),
        "status": present.figure_status(db_path, f.get("status"), f.get("kind")),
        # only a saving is coloured as a success or a target: a cost is neither
        "status_class": f"kb-status-{f.get('status')}" if f.get("kind") == "saving" else "kb-status-other",
        "status_slug": f.get("status"),
        "kind_slug": f.get("kind"),
        "amount_gbp": f.get("amount_gbp"),
        "percent": f.get("percent"),
        "range": bool(printed),
        "how_often": how_often(bool(f.get("per_year")), f.get("recurrence")),
        # shown in brackets in the compare view: its own asides must not nest in them
        "period": period,  # after "Period:" on a case page
        # in brackets after its status (the compare view): "(not stated)" alone said not what was not stated
        "period_aside": "period not stated" if period.lower() == "not stated" else period,
        "period_stored": f.get("period"),  # as the figures table holds it, for data that joins on it
        "yearly": bool(f.get("per_year")),
        "text": f.get("text"),
        "note": mentions.name_cases(db_path, f.get("note")),
        "contradicted": f.get("contradicted"),
        "counted": bool(f.get("counted")),
        "source_id": f.get("source_id"),
        "source_title": present.source_titles(db_path).get(f.get("source_id"), f.get("source_id")),
        "where": f.get("where_in_source"),
    }


def achieved_not_yearly(case: dict) -> str | None:
    """Why a case with a saving achieved has no achieved yearly saving: the sources give it only as a
    total, or not in pounds. None when it has a yearly one, or none was achieved ("None reported as
    achieved" would be untrue beside "£3.8 million total since 2013, achieved")."""
    if case.get("achieved_annual_saving_gbp") is not None:
        return None
    achieved = [f for f in case["figures"] if f["kind_slug"] == "saving" and f["status_slug"] == "achieved"]
    if not achieved:
        return None
    in_pounds = [f for f in achieved if f["amount_gbp"] is not None]
    if in_pounds and all(period_unstated(f["period_stored"]) for f in in_pounds):
        # "reported as a total" would say more than a source that gives no period at all
        return "No yearly figure: the source does not say over what period the saving achieved was made"
    if in_pounds:
        return "No yearly figure: the saving achieved is reported as a total"
    if any(f["percent"] is not None for f in achieved):
        return "No yearly figure in pounds: the saving achieved is reported as a percentage"
    return "No yearly figure in pounds: the saving achieved is reported without an amount"


def achieved_yearly_aside(case: dict, why: str) -> str | None:
    """The achieved yearly saving with `why` it is the one shown, in one pair of brackets with a range's
    note: "(counted as £2,000,000, the lower end) (the largest yearly saving ...)" read as two asides."""
    words = achieved_yearly_words(case)
    if words is None:
        return None
    if words.endswith(")") and " (" in words:
        head, aside = words[:-1].split(" (", 1)
        return f"{head} ({why}; {aside})"
    return f"{words} ({why})"


def achieved_yearly_words(case: dict) -> str | None:
    """The achieved yearly saving as the figure behind it prints it: "£2-3 million a year (counted as
    £2,000,000)" for a range, whose lower end is what sorting and the savings filter use."""
    amount = case.get("achieved_annual_saving_gbp")
    if amount is None:
        return None
    counted = present.money(amount)
    behind = next((f for f in case["figures"] if f["kind_slug"] == "saving" and f["status_slug"] == "achieved"
                   and f["yearly"] and f["amount_gbp"] == amount and f["range"]), None)
    if behind is None:
        return f"{counted} a year"
    return f"{behind['amount']} a year (counted as {counted}, the lower end)"


async def case_data(datasette, db, case_id: str) -> dict | None:
    """Everything a case page or the compare view shows about one case."""
    rows = (await db.execute("select * from cases where id = ?", [case_id])).rows
    if not rows:
        return None
    case = dict(rows[0])
    label = lambda vocabulary, slug: present.label(db.path, vocabulary, slug)
    q = lambda sql: db.execute(sql, [case_id])
    case["organisations"] = [dict(r, council_type_label=label("council_types", r["council_type"]),
                                  region_label=label("regions", r["region"]))
                             for r in (await q("select * from organisations where case_id = ? order by position")).rows]
    case["figures"] = [figure_words(db.path, dict(r))
                       for r in (await q("select * from figures where case_id = ? order by position")).rows]
    case["lessons"] = [dict(r) for r in (await q("select * from lessons where case_id = ? order by rowid")).rows]
    has_url = "url" in _columns(db.path, "sources")
    case["sources"] = [dict(r) for r in (await q(f"""select cs.*, s.title, s.publisher, s.date, s.licence
                                                      {', s.url' if has_url else ''}
                                                      from case_sources cs join sources s on s.id = cs.source_id
                                                      where cs.case_id = ?""")).rows]
    # the lines each citation names, where the site shows the report's text (ingest/texts.py)
    published = texts.published(db.path)
    for s in case["sources"]:
        s["text_href"] = texts.text_href(datasette, s["source_id"], s["lines"]) if s["source_id"] in published else None
    for f in case["figures"]:
        lines = _lines_of(f["where"]) if f["source_id"] in published else ""
        f["where_href"] = texts.text_href(datasette, f["source_id"], lines) if lines else None
    # why each is similar, as the build recorded it (older builds have no reason column)
    reason = "s.reason" if "reason" in _columns(db.path, "similar_cases") else "null"
    case["similar"] = [dict(r) for r in (await q(f"""select s.similar_id, s.score, {reason} as why, c.title from similar_cases s
                                                     join cases c on c.id = s.similar_id where s.case_id = ? order by s.rank""")).rows]
    catalogue = {f["column"]: f for f in present.facet_catalogue(db.path)}
    case["tags"] = [(column, catalogue[column]["label"],
                     [(v, label(catalogue[column]["vocabulary"], v)) for v in present.as_list(case.get(column))])
                    for column in CASE_TAGS if column in catalogue]
    for column in ("status", "outcome", "evidence"):
        case[f"{column}_label"] = label(catalogue.get(column, {}).get("vocabulary"), case.get(column))
    case["achieved_not_yearly"] = achieved_not_yearly(case)
    case["achieved_yearly_words"] = achieved_yearly_words(case)
    case["achieved_yearly_said"] = achieved_yearly_aside(case, "the largest yearly saving the sources report as achieved")
    case["years_words"] = present.years(case.get("year_start"), case.get("year_end"))
    case["url"] = datasette.urls.row(db.name, "cases", case_id)
    case["body_html"] = mentions.link_cases(db.path, case.get("body_html"), lambda i: datasette.urls.row(db.name, "cases", i))
    case["summary"] = mentions.name_cases(db.path, case.get("summary"))
    return case


async def _cited_when(db, case: dict) -> str:
    """Which version of a case a citation is of: when its file last changed, as the build read it from
    git, else when the site was built (a build from a tarball has no history)."""
    changed = case.get("last_changed") or case.get("first_added")
    if changed:
        return f"last changed {present.date_words(changed)}"
    info = (await db.execute("select built_at from build_info")).rows if "build_info" in await db.table_names() else []
    return f"as published on {present.date_words(info[0][0])}" if info and info[0][0] else ""


async def _case_page(datasette, db, case_id: str, request) -> dict | None:
    case = await case_data(datasette, db, case_id)
    if case is None:
        return None
    ids = [s["similar_id"] for s in case["similar"]]
    case["compare_url"] = datasette.urls.path("/-/compare") + "?" + "&".join(
        f"id={i}" for i in [case_id, *ids[:2]])
    case["absolute_url"] = request.url.split("?")[0] if request else case["url"]
    summary = (case.get("summary") or "").strip()
    case["description"] = summary if len(summary) <= 200 else summary[:197].rsplit(" ", 1)[0] + "\u2026"
    case["cited_when"] = await _cited_when(db, case)
    # a web page is cited with the day it was read (Harvard's "Accessed"): the case may change after it
    case["accessed"] = present.date_words(datetime.date.today().isoformat())
    return case


async def _source_page(datasette, db, source_id: str) -> dict | None:
    rows = (await db.execute("select * from sources where id = ?", [source_id])).rows
    if not rows:
        return None
    source = dict(rows[0])
    source["authors"] = present.as_list(source.get("authors"))
    source["url"] = source.get("url")  # the report's public address, where the build has one
    source["cases"] = [dict(r) for r in (await db.execute(
        """select c.id, c.title, c.organisation_names, cs.section, cs.lines, cs.pages from case_sources cs
           join cases c on c.id = cs.case_id where cs.source_id = ? order by c.title""", [source_id])).rows]
    shown = source_id in texts.published(db.path)
    source["text_url"] = datasette.urls.path(f"/-/text/{source_id}") if shown else None
    for c in source["cases"]:
        c["organisations"] = ", ".join(present.as_list(c["organisation_names"]))
        c["text_href"] = texts.text_href(datasette, source_id, c["lines"]) if shown else None
    source["findings"] = [dict(r) for r in (await db.execute(
        "select id, theme, text, where_in_source from lessons where source_id = ? and case_id is null order by rowid",
        [source_id])).rows]
    # under a heading for each run of one theme (the report's section), each numbered as its address
    # names it (#finding-15 is "15."): a theme said before each of 7 findings in a row, and the numbers
    # the links give shown nowhere, left a screen reader arrowing through 52 items
    groups: list[dict] = []
    for finding in source["findings"]:
        lines = _lines_of(finding["where_in_source"]) if shown else ""
        finding["where_href"] = texts.text_href(datasette, source_id, lines) if lines else None
        finding["anchor"] = finding["id"].split("#", 1)[-1]
        number = finding["anchor"].rsplit("-", 1)[-1]
        finding["number"] = int(number) if number.isdigit() else None
        if not groups or groups[-1]["theme"] != finding["theme"]:
            groups.append({"theme": finding["theme"], "findings": []})
        groups[-1]["findings"].append(finding)
    source["finding_groups"] = groups
    return source


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    async def inner():
        if view_name == "index":
            db = present.kb_database(datasette)
            if db is None or "sources" not in await db.table_names():
                return {}
            rows = (await db.execute("select * from sources order by date")).rows
            info = (await db.execute("select * from build_info")).rows
            build = dict(info[0]) if info else {}
            build["built_on"] = present.date_words(build.get("built_at"))
            build["model_name"] = str(build.get("model") or "").rsplit("/", 1)[-1]
            return {"kb_sources": [dict(r) for r in rows], "kb_database": db.name, "kb_build": build,
                    "kb_facets": present.facet_catalogue(db.path)}
        if view_name == "row" and request is not None and table in ("cases", "sources"):
            key = request.url_vars.get("pks")
            db = datasette.get_database(database)
            if not key:
                return {}
            if table == "cases":
                return {"kb_case": await _case_page(datasette, db, key, request)}
            return {"kb_source": await _source_page(datasette, db, key)}
        return {}
    return inner
