"""The charts page, /-/charts: achieved and planned savings by approach and by service (kept apart:
a plan is not a saving), and cases by start year. Each chart is drawn here, on the server (bars in
SVG, labels in HTML), with the same numbers in a table beside it; no script and nothing from another host.
The numbers are also /-/charts.json and /-/charts.csv (a row per bar)."""
from __future__ import annotations

from collections import defaultdict

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from kb.site import plugin_module




present = plugin_module(__file__, "kb_present")

# Which figure statuses each chart adds up: achieved apart from planned and projected.
GROUPS = {"achieved": ("achieved",), "planned": ("planned", "projected")}
# Drawing: each bar's label is HTML above it, so a long label wraps on a narrow or zoomed screen
# instead of running off the edge of a drawing.
BAR_H = 16
ROOM = 62  # the longest bar, in per cent of the width: the rest holds its figure
# the CSV: a row per bar of every chart; the years' chart's bars count the cases that started that year
CSV_COLUMNS = ["chart", "chart_title", "statuses", "code", "name", "yearly_savings_gbp", "cases_with_a_yearly_saving",
               "totals_gbp", "cases_with_a_total", "cases_with_such_a_saving", "cases_started", "url"]


def bar_chart(rows: list[dict], css: str, value_text) -> Markup:
    """Horizontal bars, longest first: rows are {'label', 'value', ...}; value_text(row) is the figure
    printed after the bar (on the next line when the screen is too narrow for both). Each bar is an SVG
    whose width is in per cent, so the chart fills a phone or a desk. Hidden from screen readers, who
    get the table."""
    top = max((r["value"] for r in rows), default=0) or 1
    parts = ['<div class="kb-bars" aria-hidden="true">']
    for r in rows:
        width = max(0.5, ROOM * r["value"] / top) if r["value"] else 0
        bar = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.1f}%" height="{BAR_H}" focusable="false">'
               f'<rect class="{css}" width="100%" height="100%"></rect></svg>') if width else ""
        parts.append(f'<div class="kb-bar-row"><p class="kb-bar-label">{escape(r["label"])}</p>'
                     f'<p class="kb-bar-line">{bar}<span class="kb-bar-value">{escape(value_text(r))}</span></p></div>')
    parts.append("</div>")
    return Markup("".join(parts))


async def _savings(db) -> dict:
    """Per case and status group, its largest yearly saving and its largest multi-year or one-off total."""
    rows = (await db.execute(
        """select c.id, c.approaches, c.services, f.status, f.per_year, max(f.amount_gbp) as amount
           from figures f join cases c on c.id = f.case_id
           where f.kind = 'saving' and f.amount_gbp is not null and f.counted  -- see figures.counted
           group by c.id, f.status, f.per_year""")).rows
    cases: dict = {}
    for r in rows:
        group = next((g for g, statuses in GROUPS.items() if r["status"] in statuses), None)
        if group is None:
            continue
        case = cases.setdefault(r["id"], {"approaches": present.as_list(r["approaches"]),
                                          "services": present.as_list(r["services"]), "achieved": {}, "planned": {}})
        kind = "yearly" if r["per_year"] else "total"
        case[group][kind] = max(case[group].get(kind, 0), r["amount"])
    return cases


async def _statuses(db) -> dict:
    """Per case, its tags and the statuses of its savings as the search filters on them (a saving
    given only as a percentage counts there too), so each row's link states what it opens."""
    rows = (await db.execute("select id, approaches, services, saving_statuses from cases")).rows
    return {r["id"]: {"approaches": present.as_list(r["approaches"]), "services": present.as_list(r["services"]),
                      "statuses": set(present.as_list(r["saving_statuses"]))} for r in rows}


def _by(cases: dict, column: str, group: str, label, statuses: dict) -> list[dict]:
    sums: dict = defaultdict(lambda: {"yearly": 0.0, "yearly_cases": 0, "total": 0.0, "total_cases": 0})
    for case in cases.values():
        for value in case[column]:
            for kind in ("yearly", "total"):
                if kind in case[group]:
                    sums[value][kind] += case[group][kind]
                    sums[value][f"{kind}_cases"] += 1
    rows = [{"slug": v, "label": label(v), "value": s["yearly"], **s,
             "cases": sum(1 for c in statuses.values() if v in c[column] and c["statuses"] & set(GROUPS[group]))}
            for v, s in sums.items()]
    return sorted(rows, key=lambda r: (-r["yearly"], -r["total"], r["label"]))


async def _provenance(db) -> dict:
    """When and where the charted savings come from: the years of their cases and the reports that
    print them (a sum of savings says neither by itself, and adds pounds of different years)."""
    counted = """from figures f join cases c on c.id = f.case_id
                 where f.kind = 'saving' and f.amount_gbp is not null and f.status in ({})""".format(
        ", ".join(f"'{s}'" for statuses in GROUPS.values() for s in statuses))
    first, last = (await db.execute(f"select min(c.year_start), max(coalesce(c.year_end, c.year_start)) {counted}")).rows[0]
    sources = (await db.execute(f"""select s.id, s.title, s.publisher, s.date from sources s
                                     where s.id in (select f.source_id {counted}) order by s.date, s.title""")).rows
    return {"first": first, "last": last, "sources": [dict(r) for r in sources]}


async def charts_view(request, datasette):
    db = present.kb_database(datasette)
    catalogue = {f["column"]: f for f in present.facet_catalogue(db.path)}
    cases = await _savings(db)
    statuses = await _statuses(db)
    charts = []
    words = {"achieved": "Achieved", "planned": "Planned or projected"}
    for column in ("approaches", "services"):
        vocabulary = catalogue.get(column, {}).get("vocabulary")
        facet = catalogue.get(column, {}).get("label", column).lower()
        for group in ("achieved", "planned"):
            rows = _by(cases, column, group, lambda v: present.label(db.path, vocabulary, v), statuses)
            drawn = [r for r in rows if r["yearly"]]
            title = f"{words[group]} yearly savings by {facet}"
            charts.append({
                "id": f"{group}-by-{column}", "title": title, "group": group, "facet": facet, "column": column,
                # every status the row adds up goes into its link, so the link opens the cases counted
                "query": "&".join(f"saving_statuses={s}" for s in GROUPS[group]),
                "svg": bar_chart(drawn, f"kb-bar-{group}",
                                 lambda r: f"{present.short_money(r['yearly'])} ({r['yearly_cases']} case{'s' if r['yearly_cases'] != 1 else ''})"),
                "rows": rows, "drawn": len(drawn),
            })
    years = (await db.execute("select year_start, count(*) as n from cases group by year_start order by year_start")).rows
    known = [r for r in years if r["year_start"] is not None]
    unknown = sum(r["n"] for r in years if r["year_start"] is None)
    counts = {r["year_start"]: r["n"] for r in known}
    span = range(min(counts), max(counts) + 1) if counts else range(0)
    year_rows = [{"label": str(y), "value": counts.get(y, 0)} for y in span]
    year_chart = {"id": "cases-by-year", "title": "Cases by the year they started",
                  "svg": bar_chart(year_rows, "kb-bar-count",
                                   lambda r: f"{r['value']} case{'s' if r['value'] != 1 else ''}"),
                  "rows": year_rows, "unknown": unknown}
    context = {"charts": charts, "years": year_chart, "database": db.name, "cases_with_savings": len(cases),
               "provenance": await _provenance(db),
               "cases_total": (await db.execute("select count(*) from cases")).rows[0][0],
               "json_url": datasette.urls.path("/-/charts.json"), "csv_url": datasette.urls.path("/-/charts.csv")}
    fmt = request.url_vars.get("format")
    if fmt:
        data = _exported(context, f"{request.scheme}://{request.host}", datasette)
        if fmt == "csv":
            return present.csv_response(_csv_rows(data), CSV_COLUMNS, "savings-charts.csv")
        return Response.json(data)
    html = await datasette.render_template("kb_charts.html", context, request=request)
    return Response.html(html)


def _exported(context: dict, origin: str, datasette) -> dict:
    """The charts' numbers as data: each bar's code, name, sums and counts, and the address of the cases
    it counts (the search the page's table links to)."""
    search = datasette.urls.path("/-/search")
    charts = [{"id": c["id"], "title": c["title"], "statuses": list(GROUPS[c["group"]]), "by": c["column"],
               "rows": [{"code": r["slug"], "name": r["label"],
                         "yearly_savings_gbp": r["yearly"] if r["yearly_cases"] else None,
                         "cases_with_a_yearly_saving": r["yearly_cases"],
                         "totals_gbp": r["total"] if r["total_cases"] else None, "cases_with_a_total": r["total_cases"],
                         "cases_with_such_a_saving": r["cases"], "url": f"{origin}{search}?{c['column']}={r['slug']}&{c['query']}"}
                        for r in c["rows"]]}
              for c in context["charts"]]
    years = context["years"]
    p = context["provenance"]
    return {"cases": context["cases_total"], "cases_with_savings_in_pounds": context["cases_with_savings"],
            "years_of_the_savings": {"first": p["first"], "last": p["last"]},
            "sources": [{"id": s["id"], "title": s["title"], "publisher": s["publisher"], "date": s["date"]}
                        for s in p["sources"]],
            "charts": charts,
            "cases_by_start_year": {"rows": [{"year": int(r["label"]), "cases": r["value"]} for r in years["rows"]],
                                    "not_stated": years["unknown"]}}


def _csv_rows(data: dict) -> list[dict]:
    rows = [{"chart": c["id"], "chart_title": c["title"], "statuses": "; ".join(c["statuses"]), **r}
            for c in data["charts"] for r in c["rows"]]
    years = data["cases_by_start_year"]
    rows += [{"chart": "cases-by-year", "chart_title": "Cases by the year they started", "code": r["year"],
              "name": str(r["year"]), "cases_started": r["cases"]} for r in years["rows"]]
    rows.append({"chart": "cases-by-year", "chart_title": "Cases by the year they started", "name": "Not stated",
                 "cases_started": years["not_stated"]})
    return rows


@hookimpl
def register_routes():
    return [(r"^/-/charts(\.(?P<format>json|csv))?$", charts_view)]


@hookimpl
def menu_links(datasette):
    return [{"href": datasette.urls.path("/-/charts"), "label": "Savings and cases in charts"}]
