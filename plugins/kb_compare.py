"""The compare view, /-/compare?id=A&id=B: two to four cases side by side (council, services,
approaches, years, figures, outcome, lessons), reachable from search results and case pages; the
same comparison as /-/compare.json and /-/compare.csv (a row per case)."""
from __future__ import annotations

import difflib
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response

from kb.site import plugin_module




present = plugin_module(__file__, "kb_present")
pages = plugin_module(__file__, "kb_pages")

FEWEST, MOST = 2, 4
# the CSV's columns, a row per case: what the page's rows show, in names rather than codes, as the
# search's CSV gives them; lists joined by "; ", figures and lessons a line each within their cell
CSV_COLUMNS = ["case", "id", "title", "url", "organisations", "council_types", "regions", "services", "approaches",
               "key_attributes", "period", "year_start", "year_end", "status", "outcome", "evidence", "headline_saving",
               "achieved_annual_saving_gbp", "figures", "lessons", "sources"]


def _exported(case: dict, n: int, origin: str, datasette, database: str) -> dict:
    """One compared case as data: the codes of its terms beside their names, each figure as stored and
    in words, each lesson with the address of its place on the case's page."""
    tags = {column: [{"code": slug, "name": name} for slug, name in pairs] for column, _, pairs in case["tags"]}
    return {
        "case": n, "id": case["id"], "title": case["title"], "url": origin + case["url"],
        "organisations": [{"name": o["name"], "council_type": o["council_type"], "council_type_name": o["council_type_label"],
                           "region": o["region"], "region_name": o["region_label"]} for o in case["organisations"]],
        **tags,
        "period": case["years_words"], "year_start": case.get("year_start"), "year_end": case.get("year_end"),
        **{column: {"code": case.get(column), "name": case.get(f"{column}_label")} for column in ("status", "outcome", "evidence")},
        "headline_saving": case.get("headline_saving"),
        "achieved_annual_saving_gbp": case.get("achieved_annual_saving_gbp"),
        "figures": [{"amount": f["amount"] or f["text"], "amount_gbp": f["amount_gbp"], "percent": f["percent"],
                     "kind": {"code": f["kind_slug"], "name": f["kind"]}, "status": {"code": f["status_slug"], "name": f["status"]},
                     "yearly": f["yearly"], "period": f["period_stored"],
                     "as_printed": f["text"], "note": f["note"] or None, "contradicted": f["contradicted"] or None, "source_id": f["source_id"], "period_in_words": f["period_aside"]}
                    for f in case["figures"]],
        "lessons": [{"id": lesson["id"], "text": lesson["text"], "url": origin + case["url"] + "#" + lesson["id"].split("#", 1)[-1]}
                    for lesson in case["lesson_rows"]],
        "sources": [{"id": s["source_id"], "title": s["title"], "date": s["date"],
                     "url": origin + datasette.urls.row(database, "sources", s["source_id"])} for s in case["sources"]],
    }


def _csv_row(case: dict) -> dict:
    names = lambda items: "; ".join(i["name"] for i in items)
    return {**case, "organisations": names(case["organisations"]),
            **{column: case[column]["name"] for column in ("status", "outcome", "evidence")},
            **{column: names(case.get(column, [])) for column in ("council_types", "regions", "services", "approaches", "key_attributes")},
            "figures": "\n".join(f"{f['amount']} {f['kind']['name'].lower()}{' a year' if f['yearly'] else ''}, "
                                 f"{f['status']['name'].lower()} ({f['period_in_words']})"
                                 + (f": \u201c{f['as_printed']}\u201d" if f["as_printed"] and f["as_printed"] != f["amount"] else "")
                                 for f in case["figures"]),
            "lessons": "\n".join(lesson["text"] for lesson in case["lessons"]),
            "sources": "; ".join(s["title"] for s in case["sources"])}


async def compare_view(request, datasette):
    db = present.kb_database(datasette)
    # the search the cases were ticked in (its query string): "Back to search" returns to it
    back = urlencode(parse_qsl(request.args.get("back") or "")[:40])
    search_url = datasette.urls.path("/-/search") + (f"?{back}" if back else "")
    with_back = [("back", request.args.get("back"))] if back else []
    wanted = []
    for value in request.args.getlist("id"):
        for case_id in value.split(","):
            if case_id.strip() and case_id.strip() not in wanted:
                wanted.append(case_id.strip())
    problem, suggestions, offers = None, [], []
    cases = []
    compare = lambda ids: datasette.urls.path("/-/compare") + "?" + urlencode([("id", i) for i in ids] + with_back)
    # as data, one case is a comparison too: its whole record (facts, figures, lessons, reports) in one answer
    fewest = 1 if request.url_vars.get("format") else FEWEST
    if len(wanted) < fewest:
        problem = ("Choose at least two cases to compare: tick them in the search results, or use the link on a case page."
                   if fewest > 1 else "Choose a case: /-/compare.json?id=CASE (or several, id=A&id=B).")
        # one case chosen (a link cut short, one box ticked): it can still be compared with its nearest
        one = await pages.case_data(datasette, db, wanted[0]) if wanted else None
        if one and one["similar"]:
            offers.append({"label": f"Compare \u201c{one['title']}\u201d with its {min(2, len(one['similar']))} most similar cases",
                           "href": compare([one["id"], *[s["similar_id"] for s in one["similar"][:2]]])})
    elif len(wanted) > MOST:
        problem = f"You chose {len(wanted)} cases; the comparison shows up to {MOST} side by side. Untick some and try again."
        # the way back to the search loses the ticks: the first four can be compared from here
        offers.append({"label": f"Compare the first {MOST} you chose", "href": compare(wanted[:MOST])})
    for case_id in wanted if problem is None else []:
        case = await pages.case_data(datasette, db, case_id)
        if case is None:
            known = dict((await db.execute("select id, title from cases")).rows)
            # each offered by its title, as the comparison asked for with the id put right (not the
            # raw id, linking away to that one case)
            suggestions = [{"id": c, "title": known[c], "href": compare([c if i == case_id else i for i in wanted])}
                           for c in difflib.get_close_matches(case_id, [k for k in known if k not in wanted], n=3, cutoff=0.5)]
            problem = f"There is no case with the id \u201c{case_id}\u201d."
            break
        case["lesson_rows"] = case["lessons"]
        case["lessons"] = [lesson["text"] for lesson in case["lessons"]]
        cases.append(case)
    for n, case in enumerate(cases, 1):
        # on a phone each answer sits under its case's label, far from the titles at the top: "Case 2"
        # alone leaves the reader scrolling back to find which case that was
        names = [o["name"] for o in case["organisations"]]
        case["label"] = f"Case {n}: " + (names[0] + (f" and {len(names) - 1} more" if len(names) > 1 else "")
                                         if names else case["title"])
    for case in cases:
        others = [c["id"] for c in cases if c["id"] != case["id"]]
        case["remove_url"] = compare(others)
    context = {"cases": cases if problem is None else [], "problem": problem, "suggestions": suggestions, "offers": offers,
               "database": db.name, "search_url": search_url,
               "tag_columns": [(column, title) for column, title, _ in (cases[0]["tags"] if cases else [])]}
    status = 200 if problem is None else 404 if problem.startswith("There is no case") else 400
    fmt = request.url_vars.get("format")
    if fmt:
        origin = f"{request.scheme}://{request.host}"
        exported = [_exported(c, n, origin, datasette, db.name) for n, c in enumerate(cases, 1)] if problem is None else []
        if fmt == "csv":
            if problem:
                return Response.text(f"error: {problem}\n", status=status)
            return present.csv_response([_csv_row(c) for c in exported], CSV_COLUMNS,
                                        "compare-" + "-and-".join(c["id"] for c in cases)[:150] + ".csv")
        return Response.json({"cases": exported, "error": problem,
                              "suggestions": [{"id": s["id"], "title": s["title"], "url": origin + s["href"]}
                                              for s in suggestions]}, status=status)
    query = request.query_string
    context["json_url"] = datasette.urls.path("/-/compare.json") + (f"?{query}" if query else "")
    context["csv_url"] = datasette.urls.path("/-/compare.csv") + (f"?{query}" if query else "")
    html = await datasette.render_template("kb_compare.html", context, request=request)
    return Response.html(html, status=status)


@hookimpl
def register_routes():
    return [(r"^/-/compare(\.(?P<format>json|csv))?$", compare_view)]
