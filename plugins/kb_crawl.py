"""Found and followed: /sitemap.xml of the home page, the brand's pages, the charts and every case and source page
(served by the kept datasette-sitemap plugin, which asks this one for its paths, each finished here
with the date it last changed, so a crawler need not fetch every page again); /robots.txt that
lets crawlers read pages but keeps them off SQL, exports, downloads and facet combinations; and an
Atom feed of new and changed cases (the kept datasette-atom plugin renders the canned query
`recent_cases`, declared here as metadata, as <database>/recent_cases.atom), whose newest few the home page may list as
`kb_recent`. The feed leaves the site (feed readers, aggregators), so each response is finished here
with what datasette-atom cannot know: absolute links, the site's name in its title and as its author.

A case's date is its `last_changed` (else `first_added`) column, from git history, where the build
wrote them; otherwise the build's own time, so the feed still lists every case once."""
import sqlite3
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from datasette import hookimpl
from datasette.utils.asgi import Request, Response

from kb.site import FEED_QUERY, PAGES, plugin_module

FEED_SIZE = 50
CHARTS = "-/charts"
RECENT_SIZE = 5
DATE_COLUMNS = ("last_changed", "first_added")
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "council-transformation-kb/cases")
ATOM = "http://www.w3.org/2005/Atom"
SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
SITEMAP_MOST = 50_000  # pages a sitemap file may list (sitemaps.org); past it, an index of files
present = plugin_module(__file__, "kb_present")


def kb_rfc3339(value):
    """A date or date-time as an RFC 3339 UTC time (Atom needs a time zone); None if it is neither."""
    if not value:
        return None
    text = str(value).strip().replace("Z", "+00:00").replace(" ", "T", 1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def kb_feed_id(case_id):
    """A permanent Atom id for a case: it must not change when the site moves host or path."""
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, str(case_id))}"


@hookimpl
def prepare_connection(conn):
    conn.create_function("kb_rfc3339", 1, kb_rfc3339, deterministic=True)
    conn.create_function("kb_feed_id", 1, kb_feed_id, deterministic=True)
    conn.create_function("kb_date_words", 1, present.date_words, deterministic=True)


def _kb_database(datasette):
    for name, db in datasette.databases.items():
        if name != "_internal" and db.path:
            return db
    return None


def _typed(headers: list[tuple[bytes, bytes]], content_type: bytes) -> list[tuple[bytes, bytes]]:
    """The response's headers with this content type instead of the one it had."""
    return [(k, v) for k, v in headers if k.lower() != b"content-type"] + [(b"content-type", content_type)]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@lru_cache(maxsize=8)
def _dated_columns(path: str, mtime: float) -> tuple[str, ...]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        columns = {row[1] for row in conn.execute("pragma table_info(cases)")}
    finally:
        conn.close()
    return tuple(c for c in DATE_COLUMNS if c in columns)


def case_updated_sql(db_path: str) -> str:
    """SQL for a case's date (RFC 3339): the dated columns the build wrote, else the build's time."""
    dated = list(_dated_columns(db_path, Path(db_path).stat().st_mtime))
    choices = [f"kb_rfc3339({c})" for c in dated + ["(select built_at from build_info)"]]
    return f"coalesce({', '.join(choices)})" if len(choices) > 1 else choices[0]


def feed_sql(datasette, db, limit: int) -> str:
    """The feed's query: the dated columns the build wrote, else the build's time."""
    return _feed_sql(db.path, Path(db.path).stat().st_mtime, datasette.urls.row(db.name, "cases", ""), limit)


@lru_cache(maxsize=8)
def _feed_sql(path: str, mtime: float, link: str, limit: int) -> str:
    """feed_sql's answer, once per version of the file (get_metadata asks for it several times a page)."""
    dated = list(_dated_columns(path, mtime))
    updated = case_updated_sql(path)
    note = ""
    if "first_added" in dated:
        day = "kb_date_words(substr(kb_rfc3339({}), 1, 10))"  # "Added 5 January 2023", as the pages write dates
        changed = "last_changed" if "last_changed" in dated else "first_added"
        note = (f"'Added ' || {day.format('first_added')} || case when {day.format(changed)} != "
                f"{day.format('first_added')} then '; changed ' || {day.format(changed)} else '' end || '. ' || ")
    link = _literal(link)
    return (f"select kb_feed_id(id) as atom_id, title as atom_title, {updated} as atom_updated,\n"
            f"  {note}coalesce(summary, '') as atom_content, {link} || id as atom_link\n"
            f"from cases order by atom_updated desc, title limit {int(limit)}")


@hookimpl
def get_metadata(datasette, key, database, table):
    # A canned query declared as metadata, so datasette-atom titles the feed with its title.
    db = _kb_database(datasette)
    if db is None:
        return {}
    try:
        sql = feed_sql(datasette, db, FEED_SIZE)
    except (OSError, sqlite3.Error):
        return {}
    return {"databases": {db.name: {"queries": {FEED_QUERY: {
        "title": "New and changed cases", "sql": sql,
        # its SQL (the feed's date arithmetic) is a screenful a reader of the list need not read first
        "hide_sql": True,
        "description": "The most recently added or changed case studies, newest first; "
                       "add .atom to the address for the feed."}}}}}


@hookimpl
def extra_template_vars(datasette, view_name):
    async def inner():
        if view_name != "index":
            return {}
        db = _kb_database(datasette)
        if db is None or not await db.table_exists("cases"):
            return {}
        rows = (await db.execute(feed_sql(datasette, db, RECENT_SIZE))).rows
        return {"kb_recent": {"feed_url": datasette.urls.query(db.name, FEED_QUERY, format="atom"),
                              "cases": [{"title": r["atom_title"], "url": r["atom_link"], "updated": r["atom_updated"][:10]}
                                        for r in rows]}}
    return inner


@hookimpl
def sitemap_extra_paths(datasette):
    async def inner():
        urls = datasette.urls
        paths = [urls.instance(), *(urls.path(page) for page in PAGES), urls.path(CHARTS)]
        db = _kb_database(datasette)
        if db is not None:
            for table in ("cases", "sources"):
                if await db.table_exists(table):
                    paths += [urls.row(db.name, table, r[0]) for r in (await db.execute(f"select id from {table} order by id")).rows]
        return paths
    return inner


def robots_lines(datasette, sitemap_url: str) -> list[str]:
    base = datasette.urls.path("")
    db = _kb_database(datasette)
    # the charts are a reader's page (the rest of /-/ is the search's results and Datasette's own)
    # the charts page, not its exports: "Allow: /-/charts" is the longer rule, so it let crawlers into
    # /-/charts.json and .csv past "Disallow: /*.json" ("$" ends a rule, RFC 9309)
    # ...and the site's own CSS and script, which a crawler needs to render a page as a reader sees it
    lines = ["User-agent: *", f"Allow: {base}-/static/", f"Allow: {base}-/kb-static/", f"Allow: {base}{CHARTS}$",
             f"Disallow: {base}-/"]
    if db is not None:
        database = datasette.urls.database(db.name)
        # arbitrary SQL, sorting, paging, filters and facet combinations all arrive as a query string
        lines += [f"Disallow: {database}?", f"Disallow: {database}/*?", f"Disallow: {database}.db"]
    lines += [f"Disallow: {base}*.json", f"Disallow: {base}*.csv", f"Allow: {base}", f"Sitemap: {sitemap_url}"]
    return lines


async def robots_txt(request, datasette):
    sitemap = datasette.absolute_url(request, datasette.urls.path("sitemap.xml"))
    return Response.text("\n".join(robots_lines(datasette, sitemap)) + "\n")


@hookimpl
def register_routes():
    return [(r"^/robots\.txt$", robots_txt)]


def finished_feed(datasette, request, body: bytes) -> bytes:
    """datasette-atom's feed with every link absolute (entries link paths under the base URL), the
    site's title after the feed's own, the brand as its author (RFC 4287 wants one), the home page
    as its alternate link, and no generator naming the tool."""
    ET.register_namespace("", ATOM)
    root = ET.fromstring(body)
    brand_plugin = plugin_module(__file__, "kb_brand")
    name, brand = brand_plugin.site_title(datasette), brand_plugin._brand(datasette)
    home = datasette.absolute_url(request, datasette.urls.instance())
    title = root.find(f"{{{ATOM}}}title")
    if name and title is not None and name not in (title.text or ""):
        title.text = f"{title.text} - {name}"
    if brand is not None and root.find(f"{{{ATOM}}}author") is None:
        author = ET.Element(f"{{{ATOM}}}author")
        ET.SubElement(author, f"{{{ATOM}}}name").text = brand.name
        ET.SubElement(author, f"{{{ATOM}}}uri").text = home
        root.insert(list(root).index(title) + 1 if title is not None else 0, author)
    ET.SubElement(root, f"{{{ATOM}}}link", {"rel": "alternate", "href": home})
    # datasette-atom names itself the feed's generator; the feed is the publisher's, not the tool's
    for generator in root.findall(f"{{{ATOM}}}generator"):
        root.remove(generator)
    for link in root.iter(f"{{{ATOM}}}link"):
        href = link.get("href") or ""
        if href.startswith("/") and not href.startswith("//"):
            link.set("href", datasette.absolute_url(request, href))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


async def page_dates(datasette, db) -> dict[str, str]:
    """Each page's path and the day it last changed: a case's as the feed dates it, a report's page
    its newest case's (it lists them), any other page the build's day."""
    if not await db.table_exists("build_info"):  # no build's time to date a page by
        return {"": ""}
    rows = (await db.execute("select built_at from build_info")).rows
    built = (kb_rfc3339(rows[0][0]) or "")[:10] if rows else ""
    day = f"substr({case_updated_sql(db.path)}, 1, 10)"  # as the feed dates a case
    cases = dict((await db.execute(f"select id, {day} from cases")).rows)
    dates = {datasette.urls.row(db.name, "cases", i): d for i, d in cases.items() if d}
    for source_id, newest in (await db.execute(f"""select cs.source_id, max({day}) from case_sources cs
                                                 join cases on cases.id = cs.case_id group by cs.source_id""")).rows:
        if newest:
            dates[datasette.urls.row(db.name, "sources", source_id)] = newest
    return {"": built} | dates


async def finished_sitemap(datasette, request, body: bytes) -> bytes:
    """datasette-sitemap's sitemap with each page's <lastmod>; past SITEMAP_MOST pages (the protocol's
    limit a file) an index of files of at most that many, each the same address with ?part=N."""
    db = _kb_database(datasette)
    dates = await page_dates(datasette, db)
    dated = {datasette.absolute_url(request, path): day for path, day in dates.items() if path}
    ET.register_namespace("", SITEMAP)
    root = ET.fromstring(body)
    entries = root.findall(f"{{{SITEMAP}}}url")
    for entry in entries:
        loc = entry.find(f"{{{SITEMAP}}}loc")
        day = dated.get(loc.text if loc is not None else "", dates[""])
        if day and entry.find(f"{{{SITEMAP}}}lastmod") is None:
            ET.SubElement(entry, f"{{{SITEMAP}}}lastmod").text = day
    parts = [entries[i:i + SITEMAP_MOST] for i in range(0, len(entries), SITEMAP_MOST)] or [[]]
    part = request.args.get("part")
    if part is not None and part not in {str(n) for n in range(1, len(parts) + 1)}:
        raise LookupError(f"there is no part {part!r} of the sitemap: it has {len(parts)}")
    if len(parts) > 1:
        if part:
            root = ET.Element(f"{{{SITEMAP}}}urlset")
            root.extend(parts[int(part) - 1])
        else:
            here = datasette.absolute_url(request, datasette.urls.path("sitemap.xml"))
            root = ET.Element(f"{{{SITEMAP}}}sitemapindex")
            for n, chunk in enumerate(parts, 1):
                newest = max((e.findtext(f"{{{SITEMAP}}}lastmod") or "" for e in chunk), default="")
                entry = ET.SubElement(root, f"{{{SITEMAP}}}sitemap")
                ET.SubElement(entry, f"{{{SITEMAP}}}loc").text = f"{here}?part={n}"
                if newest:
                    ET.SubElement(entry, f"{{{SITEMAP}}}lastmod").text = newest
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def feed(scope, receive, send):
            db = _kb_database(datasette) if scope["type"] == "http" else None
            raw = scope.get("raw_path") or scope.get("path", "").encode("latin-1")
            path = raw.partition(b"?")[0].decode("latin-1")
            sitemap = db is not None and path == datasette.urls.path("sitemap.xml")
            if db is None or (path != datasette.urls.query(db.name, FEED_QUERY, format="atom") and not sitemap):
                return await app(scope, receive, send)
            held = {"body": []}

            async def finish(event):
                if event["type"] == "http.response.start":
                    held["start"] = event
                    return
                if event["type"] != "http.response.body":
                    return await send(event)
                held["body"].append(event.get("body", b""))
                if event.get("more_body"):
                    return
                start, body = held["start"], b"".join(held["body"])
                headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                if start["status"] == 200 and sitemap:
                    try:
                        body = await finished_sitemap(datasette, Request(scope, receive), body)
                    except LookupError as err:  # a part the sitemap does not have: no page to record
                        start, body = dict(start, status=404), f"Not found: {err}.\n".encode()
                        headers = _typed(headers, b"text/plain; charset=utf-8")
                    except ET.ParseError:
                        # datasette-sitemap writes the Host header into each <loc> as it is: a Host of
                        # "x&y" or "a<b>" made XML that is no XML (a 500 and a traceback in the log)
                        start, body = dict(start, status=400), b"Bad request: the Host header is not a host name.\n"
                        headers = _typed(headers, b"text/plain; charset=utf-8")
                elif start["status"] == 200:
                    body = finished_feed(datasette, Request(scope, receive), body)
                    # an Atom feed as feed readers look for it, not any XML
                    headers = _typed(headers, b"application/atom+xml; charset=utf-8")
                await send(dict(start, headers=headers + [(b"content-length", str(len(body)).encode())]))
                await send({"type": "http.response.body", "body": b"" if head else body})

            # HEAD (a feed reader's or a link checker's look) is made as GET and sent without its body:
            # the feed's body was empty, which the finishing could not read, so a 500
            head = scope.get("method") == "HEAD"
            await app(dict(scope, method="GET") if head else scope, receive, finish)
        return feed
    return wrap
