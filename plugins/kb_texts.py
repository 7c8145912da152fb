"""A report's text line by line, /-/text/<source id>?lines=1674-1768,764-767: the lines a case or a
figure cites, each numbered as the citation counts it, with a few lines around them; the whole text
without ?lines. Only the texts the build could publish (ingest/texts.py); for any other report the
page says where to find the passage instead."""
from __future__ import annotations

from datasette import hookimpl
from datasette.utils.asgi import Response

from functools import lru_cache
from pathlib import Path

from kb.citations import ranges, written
from kb.site import plugin_module

present = plugin_module(__file__, "kb_present")

AROUND = 3  # lines shown before and after each cited range, for its context
MOST_RANGES = 20  # a citation has a few; an address with hundreds is no reader's


def published(db_path) -> frozenset[str]:
    """The sources whose text the site shows (read once per version of the database, as kb_present reads)."""
    path = Path(db_path)
    return _published(str(path), path.stat().st_mtime)


@lru_cache(maxsize=8)
def _published(path: str, mtime: float) -> frozenset[str]:
    return frozenset(r[0] for r in present.fetched(path, "select distinct source_id from source_lines"))


def text_href(datasette, source_id: str, lines: str) -> str:
    """The address of a citation's lines: the page of those lines, at the first."""
    spans = ranges(lines)
    first = f"#L{spans[0][0]}" if spans else ""
    return datasette.urls.path(f"/-/text/{source_id}") + (f"?lines={lines.replace(' ', '')}" if spans else "") + first


async def text_view(request, datasette):
    db = present.kb_database(datasette)
    source_id = request.url_vars["source_id"]
    rows = (await db.execute("select * from sources where id = ?", [source_id])).rows if db else []
    if not rows:
        html = await datasette.render_template(
            "kb_text.html", {"problem": f"There is no report with the id \u201c{source_id}\u201d.", "source": None},
            request=request)
        return Response.html(html, status=404)
    source = dict(rows[0])
    spans = ranges(request.args.get("lines") or "")[:MOST_RANGES]
    # "Line 3", "Lines 1674-1768, 764-767": what the title and heading call the lines asked for
    cited = ("Line " if len(spans) == 1 and spans[0][0] == spans[0][1] else "Lines ") + written(spans) if spans else ""
    shown_here = source_id in published(db.path)
    context = {"source": source, "problem": None, "lines": [], "cited": cited, "around": AROUND, "published": shown_here,
               "whole_url": datasette.urls.path(f"/-/text/{source_id}"),
               "source_url": datasette.urls.row(db.name, "sources", source_id)}
    if not shown_here:
        context["problem"] = ("This report's text is not published here: its licence does not allow it. Find the "
                              "passage in the report itself, by the section the citation names or a figure as printed.")
        html = await datasette.render_template("kb_text.html", context, request=request)
        return Response.html(html, status=404)
    last = (await db.execute("select max(line) from source_lines where source_id = ?", [source_id])).rows[0][0]
    wanted = {n for first, end in spans for n in range(max(1, first), min(end, last) + 1)}
    if spans and not wanted:
        context["problem"] = f"The text has {last:,} lines: the lines asked for are past its end."
        html = await datasette.render_template("kb_text.html", context, request=request)
        return Response.html(html, status=404)
    shown = {m for n in wanted for m in range(n - AROUND, n + AROUND + 1) if 1 <= m <= last} if wanted else None
    sql = "select line, text from source_lines where source_id = ? order by line"
    previous = None
    for line, text in (await db.execute(sql, [source_id])).rows:
        if shown is not None and line not in shown:
            continue
        context["lines"].append({"n": line, "text": text, "cited": line in wanted,
                                 "gap": previous is not None and line != previous + 1})
        previous = line
    html = await datasette.render_template("kb_text.html", context, request=request)
    return Response.html(html, status=200 if context["lines"] else 404)


@hookimpl
def register_routes():
    return [(r"^/-/text/(?P<source_id>[\w-]+)$", text_view)]
