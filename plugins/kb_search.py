"""The search page, /-/search, with .json and .csv versions of every result list.

One engine (search/engine.py) ranks for the command line and the site. The page keeps the facets:
every facet of kb/schema.yml is a filter, with counts over the result set."""
import asyncio
import csv
import io
import json
import re
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response

from search.engine import MODES, Engine, QueryError

PAGE_SIZE = 20
# One engine per served database, opened when the server starts and kept until it stops: the search
# page answers from the same build as every other page, and the model is loaded before "ready".
_ENGINES: dict[str, Engine] = {}  # by the served file's path
CSV_COLUMNS = ["rank", "id", "title", "score", "matched_by", "passage", "case_id", "source_id"]


def _kb_database(datasette):
    for name, db in datasette.databases.items():
        if name != "_internal" and db.path:
            return db
    raise QueryError("no database is being served")


def _open(path: str) -> Engine:
    engine = Engine(path)
    engine.index("cases")
    engine.index("lessons")
    engine.embedder.load()
    engine.query_vector("ready")  # the first call into the model is the slow one
    return engine


@hookimpl
def startup(datasette):
    async def inner():
        db = _kb_database(datasette)
        if db.path not in _ENGINES:
            _ENGINES[db.path] = await asyncio.get_running_loop().run_in_executor(None, _open, db.path)
    return inner


def _engine(db) -> Engine:
    if db.path not in _ENGINES:
        _ENGINES[db.path] = _open(db.path)
    return _ENGINES[db.path]


# An amount of pounds as people type it: 250000, 250,000, £250,000 or 1500000.50. Nothing else: no
# exponents (1e309 is inf), no nan or inf, no minus, no stray commas ("1,0,0").
AMOUNT = re.compile(r"£?\s*(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?", re.ASCII)
MAX_AMOUNT = 1e15


def _number(request, name):
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    label = name.replace("_", " ").capitalize()
    if len(raw) > 40 or not AMOUNT.fullmatch(raw):
        raise QueryError(f"{label} must be an amount in pounds written in digits, such as 250000 or £250,000")
    value = float(raw.replace(",", "").replace("£", "").strip())
    if value > MAX_AMOUNT:
        raise QueryError(f"{label} must be at most £{MAX_AMOUNT:,.0f}")
    return value


def _params(request, facet_columns):
    mode = request.args.get("mode") or "hybrid"
    target = request.args.get("target") or "cases"
    try:
        page = max(1, int(request.args.get("page") or 1))
    except ValueError:
        page = 1
    filters = {c: request.args.getlist(c) for c in facet_columns if request.args.getlist(c)}
    return {"q": (request.args.get("q") or "").strip(), "mode": mode, "target": target, "page": page, "filters": filters}


def _url(base, params, **changes):
    merged = {k: v for k, v in params.items() if v not in (None, "", [])}
    merged.update(changes)
    pairs = []
    for k, v in merged.items():
        for item in (v if isinstance(v, list) else [v]):
            if item not in (None, ""):
                pairs.append((k, item))
    return base + ("?" + urlencode(pairs) if pairs else "")


async def search_view(request, datasette):
    fmt = request.url_vars.get("format") or "html"
    error = None
    found = None
    database = ""
    engine = None
    p = _params(request, [])
    try:
        min_savings, max_savings = _number(request, "min_savings"), _number(request, "max_savings")
        db = _kb_database(datasette)
        database = db.name
        engine = _engine(db)
        p = _params(request, list(engine.facets))
        # The model call is CPU-bound: run it off the event loop so other requests keep flowing.
        found = await asyncio.get_running_loop().run_in_executor(None, lambda: engine.search(
            p["q"], mode=p["mode"], target=p["target"], filters=p["filters"], min_savings=min_savings,
            max_savings=max_savings, limit=PAGE_SIZE, offset=(p["page"] - 1) * PAGE_SIZE, with_facets=True))
    except QueryError as err:
        error = str(err)
    results = [dict(r.as_dict(), rank=(p["page"] - 1) * PAGE_SIZE + n + 1) for n, r in enumerate(found.results)] if found else []
    state = {"q": p["q"], "mode": p["mode"], "target": p["target"], **p["filters"],
             "min_savings": request.args.get("min_savings"), "max_savings": request.args.get("max_savings")}
    if fmt == "json":
        body = {"query": p["q"], "mode": p["mode"], "target": p["target"], "filters": p["filters"],
                "total": found.total if found else 0, "rule": found.rule if found else None,
                "results": results, "facets": found.facet_counts if found else {}, "error": error}
        return Response.json(body, status=400 if error else 200)
    if fmt == "csv":
        if error:
            return Response.text(f"error: {error}\n", status=400)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in results:
            writer.writerow({**r, "matched_by": " ".join(r["matched_by"])})
        return Response(out.getvalue(), content_type="text/csv; charset=utf-8",
                        headers={"content-disposition": 'inline; filename="search.csv"'})
    facet_blocks = []
    for f in (engine.facets.values() if engine else []):
        counts = (found.facet_counts.get(f["column"]) if found else None) or {}
        selected = p["filters"].get(f["column"], [])
        label_of = lambda v: f["values"].get(v, {}).get("label", v)
        values = [{"value": v, "label": label_of(v), "count": n, "selected": v in selected} for v, n in counts.items()]
        values += [{"value": v, "label": label_of(v), "count": 0, "selected": True} for v in selected if v not in counts]
        facet_blocks.append({"column": f["column"], "label": f["label"], "values": values})
    total = found.total if found else 0
    context = {
        "q": p["q"], "mode": p["mode"], "target": p["target"], "modes": MODES, "error": error,
        "results": results, "total": total, "rule": found.rule if found else "",
        "facets": facet_blocks, "min_savings": request.args.get("min_savings") or "",
        "max_savings": request.args.get("max_savings") or "", "page": p["page"],
        "start": (p["page"] - 1) * PAGE_SIZE + 1,
        "permalink": _url("/-/search", state, page=p["page"] if p["page"] > 1 else None),
        "json_url": _url("/-/search.json", state, page=p["page"]),
        "csv_url": _url("/-/search.csv", state, page=p["page"]),
        "next_url": _url("/-/search", state, page=p["page"] + 1) if total > p["page"] * PAGE_SIZE else None,
        "prev_url": _url("/-/search", state, page=p["page"] - 1) if p["page"] > 1 else None,
        "database": database,
    }
    html = await datasette.render_template("kb_search.html", context, request=request)
    return Response.html(html, status=400 if error else 200)


@hookimpl
def register_routes():
    return [(r"^/-/search(\.(?P<format>json|csv))?$", search_view)]


@hookimpl
def menu_links(datasette):
    return [{"href": datasette.urls.path("/-/search"), "label": "Search cases and lessons"}]
