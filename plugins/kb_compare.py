"""The compare view, /-/compare?id=A&id=B: two to four cases side by side (council, services,
approaches, years, figures, outcome, lessons), reachable from search results and case pages."""
from __future__ import annotations

import difflib
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response

from kb.site import plugin_module




present = plugin_module(__file__, "kb_present")
pages = plugin_module(__file__, "kb_pages")

FEWEST, MOST = 2, 4


async def compare_view(request, datasette):
    db = present.kb_database(datasette)
    wanted = []
    for value in request.args.getlist("id"):
        for case_id in value.split(","):
            if case_id.strip() and case_id.strip() not in wanted:
                wanted.append(case_id.strip())
    problem, suggestions, offers = None, [], []
    cases = []
    compare = lambda ids: datasette.urls.path("/-/compare") + "?" + urlencode([("id", i) for i in ids])
    if len(wanted) < FEWEST:
        problem = "Choose at least two cases to compare: tick them in the search results, or use the link on a case page."
        # one case chosen (a link cut short, one box ticked): it can still be compared with its nearest
        one = await pages.case_data(datasette, db, wanted[0]) if wanted else None
        if one and one["similar"]:
            offers.append({"label": f"Compare \u201c{one['title']}\u201d with its {min(2, len(one['similar']))} most similar cases",
                           "href": compare([one["id"], *[s["similar_id"] for s in one["similar"][:2]]])})
    elif len(wanted) > MOST:
        problem = f"You chose {len(wanted)} cases; the comparison shows up to {MOST} side by side. Untick some and try again."
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
        case["remove_url"] = datasette.urls.path("/-/compare") + "?" + "&".join(f"id={i}" for i in others)
    context = {"cases": cases if problem is None else [], "problem": problem, "suggestions": suggestions, "offers": offers,
               "database": db.name, "search_url": datasette.urls.path("/-/search"),
               "tag_columns": [(column, title) for column, title, _ in (cases[0]["tags"] if cases else [])]}
    html = await datasette.render_template("kb_compare.html", context, request=request)
    status = 200 if problem is None else 404 if problem.startswith("There is no case") else 400
    return Response.html(html, status=status)


@hookimpl
def register_routes():
    return [(r"^/-/compare$", compare_view)]
