"""Error pages in the site's own layout: what went wrong in plain words, the nearest case, table or
facet to what was asked for, and a way back. JSON requests keep Datasette's JSON errors."""
from __future__ import annotations

import difflib
import html
import re
import sqlite3
import traceback
from urllib.parse import parse_qsl, unquote, urlencode

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.utils import tilde_decode, tilde_encode
from datasette.utils.asgi import Base400, Response
from datasette.views.base import DatasetteError

from kb.site import PAGES, plugin_module, under_base_url




present = plugin_module(__file__, "kb_present")
# Datasette's words for a setting of its own in the address ("_size must be a positive integer"), in a
# reader's, each with the settings to leave out of the page offered instead (its last one, where two clash)
SETTINGS = [
    (re.compile(r"_size must be a positive integer"),
     lambda m: ("How many rows a page shows (\u201c_size\u201d in the address) must be a whole number above 0.", ["_size"])),
    (re.compile(r"_size must be <= (\d+)"),
     lambda m: (f"A page shows at most {int(m.group(1)):,} rows (\u201c_size\u201d in the address asks for more).", ["_size"])),
    (re.compile(r"Cannot use _sort and _sort_desc at the same time"),
     lambda m: ("The address asks to sort two ways at once (\u201c_sort\u201d and \u201c_sort_desc\u201d).", ["_sort_desc"])),
]


def _setting_words(message: str, request) -> tuple[str, list[str]] | None:
    """A message about the address's own settings in words, and the settings to leave out; None if it is not one."""
    for pattern, words in SETTINGS:
        found = pattern.fullmatch(message)
        if found:
            return words(found)
    if message == "Cannot search by that column":
        asked = [k for k, _ in parse_qsl(request.query_string) if k.startswith("_search_")]
        named = ", ".join(f"\u201c{k}\u201d" for k in asked) or "the address"
        return f"This table has no word search for the column that {named} names.", asked
    return None


TITLES = {404: "Page not found", 400: "That address asks for something we cannot show", 403: "Not allowed",
          500: "Something went wrong on our side"}


def _words_of_html(message: str) -> str:
    """The text of an HTML message, without its scripts, its textareas and its tags."""
    text = re.sub(r"<(script|textarea)\b.*?</\1>", " ", message, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def _route_path(datasette, request) -> list[str]:
    path = under_base_url(request.scope.get("route_path") or request.path, datasette.setting("base_url"))
    return [tilde_decode(unquote(p)) for p in path.strip("/").split("/") if p]


def _table_asked(name: str) -> tuple[str, str | None]:
    """The table an address names and the format it asks for: "cases.csv" is the cases table as CSV."""
    found = re.fullmatch(r"(.+?)\.(json|csv)", name)
    return (found.group(1), found.group(2)) if found else (name, None)


async def _page_name(datasette, db, parts: list[str]) -> str:
    """A page of the database as the site names it, not by its address (which holds the database file's
    name): all tables and SQL, a table's label, a row's title where its table has one."""
    if not parts:
        return present.database_label(datasette, db.name)
    table = present.table_label(datasette, db.name, parts[0])
    if len(parts) == 1:
        return table
    label_column = present.table_meta(db.path, parts[0]).get("label_column")
    if label_column and len(parts) == 2 and await db.primary_keys(parts[0]) == ["id"]:
        rows = (await db.execute(f"select [{label_column}] from [{parts[0]}] where id = ?", [parts[1]])).rows
        if rows and rows[0][0]:
            return str(rows[0][0])
    return f"{table}: {'/'.join(parts[1:])}"


async def _suggestions(datasette, request, message: str) -> list[dict]:
    """Nearest things to what the address asked for: a case, a source, a table or a facet."""
    db = present.kb_database(datasette)
    if db is None:
        return []
    parts = _route_path(datasette, request)
    out = []
    tables = set(await db.table_names())
    # ("/kbb", "/db/cases"; not any word: "/nope-not-here" was offered "All tables and SQL")
    near_name = bool(parts) and difflib.SequenceMatcher(None, parts[0].lower(), db.name.lower()).ratio() >= 0.5
    if parts and parts[0] != db.name and "Database not found" in message and (
            (len(parts) == 1 and near_name) or (len(parts) > 1 and parts[1] in tables)):
        # the address with the database's name put right, offered only where that page is a table's
        rest = "/".join(parts[1:])
        href = datasette.urls.database(db.name) + (f"/{rest}" if rest else "")
        out.append({"label": await _page_name(datasette, db, parts[1:]), "href": href})
    if len(parts) == 1 and "Database not found" in message or len(parts) == 2 and parts[0] == "-":
        # a mistyped page of the site's own ("/serach", "/abut") before the database's tables
        pages = {"search": ("Search", datasette.urls.path("-/search")), "charts": ("Charts", datasette.urls.path("-/charts")),
                 "compare": ("Compare cases", datasette.urls.path("-/compare"))}
        brand = plugin_module(__file__, "kb_brand")._brand(datasette)
        for page in PAGES:
            if brand and page in brand.pages:
                pages[page] = (brand.pages[page]["title"], datasette.urls.path(page))
        for name in difflib.get_close_matches(parts[-1].lower(), list(pages), n=2, cutoff=0.6):
            out.insert(0, {"label": pages[name][0], "href": pages[name][1]})
    hidden = set(await db.hidden_table_names())
    public = [t for t in await db.table_names() if t not in hidden and present.table_meta(db.path, t).get("kb_columns")]
    asked, form = _table_asked(parts[1]) if len(parts) >= 2 else (None, None)
    if len(parts) >= 2 and parts[0] == db.name and asked not in public:
        for table in difflib.get_close_matches(asked, public, n=2, cutoff=0.5):
            out.append({"label": present.table_label(datasette, db.name, table), "href": datasette.urls.table(db.name, table)})
    if len(parts) >= 3 and parts[0] == db.name and parts[1] in ("cases", "sources"):
        wanted = parts[2].removesuffix(".json")
        ids = [r[0] for r in (await db.execute(f"select id from {parts[1]}")).rows]
        titles = dict((await db.execute(f"select id, title from {parts[1]}")).rows)
        # the start of an id ("/kb/sources/dclg") as well as a slip in one
        started = [i for i in ids if i.startswith(wanted.lower())] if len(wanted) >= 3 else []
        for found in (started[:3] if len(started) <= 3 else []) or difflib.get_close_matches(wanted, ids, n=3, cutoff=0.55):
            out.append({"label": titles.get(found, found), "href": datasette.urls.row(db.name, parts[1], found)})
    if len(parts) == 3 and parts[0] == db.name and asked in public:
        # a row of a table keyed by two columns (a term: its vocabulary and its slug) asked for by one
        # of them: the rows that value names, to the three
        keys = await db.primary_keys(asked)
        label_column = present.table_meta(db.path, asked).get("label_column")
        wanted = parts[2]
        for column in keys if len(keys) > 1 else []:
            shown = f"[{label_column}]" if label_column else "null"
            found = (await db.execute(f"select {', '.join(f'[{k}]' for k in keys)}, {shown} from [{asked}] "
                                      f"where [{column}] = ? limit 3", [wanted])).rows
            for row in found:
                values = [str(v) for v in row[:len(keys)]]
                label = row[len(keys)] or ", ".join(values)
                out.append({"label": f"{present.table_label(datasette, db.name, asked)}: {label}",
                            "href": datasette.urls.row(db.name, asked, ",".join(tilde_encode(v) for v in values))})
            if found:
                break
    missing = re.search(r"(?:no such column:|Cannot sort table by) (\w+)", message or "")
    if len(parts) >= 2 and parts[0] == db.name and missing:
        meta = present.table_meta(db.path, asked)
        columns = meta.get("kb_columns") or []
        labels = meta.get("kb_labels") or {}
        offered = set()
        for column in difflib.get_close_matches(missing.group(1), columns, n=2, cutoff=0.5):
            # the column as its table page heads it ("Year end"), not its name in the database; two
            # columns a reader knows by one name (a term's vocabulary) are offered once, the nearer
            label = labels.get(column) or column.replace("_", " ").capitalize()
            if label in offered:
                continue
            offered.add(label)
            fixed = [(k, column if v == missing.group(1) else v) for k, v in parse_qsl(request.query_string) if k != "_nocol"]
            out.append({"label": f"the \u201c{label}\u201d column",
                        "href": datasette.urls.table(db.name, asked, format=form) + "?" + urlencode(fixed)})
    return out


async def _no_such_table(datasette, request) -> bool:
    """Whether the address names a table the served database does not have."""
    db = present.kb_database(datasette)
    parts = _route_path(datasette, request)
    if db is None or len(parts) < 2 or parts[0] != db.name:
        return False
    return _table_asked(parts[1])[0] not in await db.table_names()


@hookimpl(hookwrapper=True)
def handle_exception(datasette, request, exception):
    """Answers every error, page or JSON, whichever other handlers there are: it wraps them and puts
    its answer in place of theirs, which are then never awaited (nor is Datasette's `rich` printout)."""
    outcome = yield
    outcome.force_result([_answer(datasette, request, exception)])


def _too_slow(datasette) -> str:
    return (f"The query took too long and was stopped: the limit is {datasette.setting('sql_time_limit_ms'):,} ms. "
            "Ask for less, or narrow it with filters.")


def _answer(datasette, request, exception):
    as_json = request.path.split("?")[0].endswith(".json")

    async def inner():
        if isinstance(exception, Base400):
            status, message = exception.status, str(exception.args[0]) if exception.args else ""
        elif isinstance(exception, DatasetteError):
            # Datasette raises its 500 for the client's parameter mistakes too (`_sort` with
            # `_sort_desc`, a bad `_through`): see kb_guard
            status, message = (400 if exception.status == 500 else exception.status), exception.message
            if getattr(exception, "message_is_html", False):
                # Datasette's own HTML (a time-out's message, the SQL in a textarea, a script), which the
                # error page would print as text: its words only
                message = _words_of_html(message)
                if message.startswith("SQL query took too long"):
                    message = _too_slow(datasette)
        elif isinstance(exception, (sqlite3.OperationalError, sqlite3.ProgrammingError, sqlite3.DataError)) or (
                isinstance(exception, sqlite3.DatabaseError) and ("sql" in request.args or "_where" in request.args)):
            # the request's parameters or SQL made SQLite refuse it, or the result passed kb_guard's cap;
            # a column kb_guard's authorizer refuses in `_where=` too (which had been a 500)
            status, message = 400, str(exception)
        elif isinstance(exception, QueryInterrupted):
            # the time limit, met while writing a CSV (the page and the JSON say so with a 400)
            status, message = 400, _too_slow(datasette)
        else:
            traceback.print_exception(exception)
            status, message = 500, "The page could not be built. Please try again, or go back and try another way."
        if status == 400 and not request.args.get("sql") and message.startswith("You did not supply a value for binding"):
            # a row address with fewer parts than its table's key (/kb/terms/sharing-council for
            # /kb/terms/approaches,sharing-council): SQLite's complaint is not the reader's
            status, message = 404, "Record not found"
        if status == 400 and not request.args.get("sql") and await _no_such_table(datasette, request):
            # a row address under a table that does not exist (/kb/such/page): SQLite's complaint
            # ("no such table", or a syntax error where the name is an SQL word) is not the reader's
            status, message = 404, "Not found"
        raw = message
        if status == 404 and message in ("Page not found", "Not found", ""):
            message = "There is no page at this address. It may have been mistyped, or the page may have moved."
        elif status == 404 and message.startswith("Record not found"):
            message = "There is no record at this address: the id may be mistyped."
        elif status == 404 and message.startswith("Database not found"):
            # a mistyped address to a reader, whichever part of it Datasette reads as a database
            message = "There is no page at this address. It may have been mistyped, or the page may have moved."
        elif status == 404 and message.startswith("Table not found"):
            asked = _route_path(datasette, request)
            message = f"There is no table called \u201c{_table_asked(asked[1])[0] if len(asked) > 1 else ''}\u201d."
        if message.startswith("Cannot sort table by"):
            status = 400
        setting = _setting_words(message, request) if status == 400 else None
        without = []
        if setting:
            message, settings = setting
            kept = [(k, v) for k, v in parse_qsl(request.query_string, keep_blank_values=True) if k not in settings]
            dropped = "; ".join(f"\u201c{k}={v}\u201d" for k, v in parse_qsl(request.query_string, keep_blank_values=True)
                                if k in settings)
            without = [{"label": f"The same page without {dropped}",
                        "href": request.path + ("?" + urlencode(kept) if kept else "")}]
        if status == 400 and message.startswith(("no such column", "Cannot sort table by")):
            asked = message.split(":", 1)[-1].strip() if ":" in message else message.rsplit(" ", 1)[-1]
            message = f"This table has no column called \u201c{asked}\u201d to filter, sort or count by."
        if as_json:  # Datasette's JSON error shape, with the status and words fixed as above
            return Response.json({"ok": False, "error": message, "status": status, "title": TITLES.get(status)},
                                 status=status)
        context = {"status": status, "title": TITLES.get(status, f"Error {status}"), "error": message,
                   "suggestions": without + (await _suggestions(datasette, request, raw) if status in (400, 404) else []),
                   "kb_database": getattr(present.kb_database(datasette), "name", None)}
        html = await datasette.render_template("error.html", context, request=request)
        return Response.html(html, status=status)
    return inner
