"""Hardening of the site against hostile requests (README, "Security decisions"); the numbers are
LIMITS in kb/site.py.

- Every SQLite connection gets SQLite's own limits (value length, SQL length, columns, ...), a cap on
  the bytes one statement may return, an authorizer that refuses functions leaking process internals,
  and bounded replacements for built-ins whose single call SQLite cannot interrupt.
- Arbitrary SQL runs one query at a time with a cool-down after each, so a client looping slow
  queries holds one of Datasette's SQL threads a quarter of the time at most; a short queue, then 503.
  Datasette's time limit is checked less often, so a runaway query stops taking the GIL.
- Streamed CSV (`_stream=`), many queries and a row of Python work per row under one request, shares
  that gate.
- Bad parameters (NUL, oversized query strings, malformed or deeply nested `_facet`/`_through` JSON,
  unknown `_sort` columns, a facet of a column of vectors, an unknown `_shape` or page format, a Host
  that is no host name, misused SQL) get a 4xx, never a 500, and the CSV of a failed query is no empty
  file; errors are logged without `rich`'s locals; a client whose requests keep failing is slowed down.
- The site is read-only: any method but GET and HEAD gets 405. A parameter repeated with the same
  value counts once. Datasette's pages that show the server's file paths (/-/databases, /-/threads)
  and its debugging pages are not served.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import re
import sqlite3
import sys
import threading
import time
import weakref
from urllib.parse import parse_qsl, unquote_to_bytes

import datasette.database as datasette_database
import datasette.handle_exception as default_errors
from datasette import hookimpl
from datasette.plugins import pm
from datasette.utils.asgi import NotFound
from datasette.views.base import DatasetteError

from kb.site import BRAND_IMAGES, BRAND_MOUNT, LIMITS, under_base_url

# Datasette prints every 4xx and 5xx through `rich` with all local variables when rich is installed
# (the model stack pulls it in): ~250 ms and ~18 KB of log per error, and a 404 flood then starves
# everyone. Errors are still answered and real 500s still logged, as plain tracebacks.
default_errors.rich = None


@contextlib.contextmanager
def _sqlite_timelimit(conn, ms):
    """Datasette's time limit, checked every 100,000 SQLite steps (about 8 ms) instead of every 1,000:
    the check is a Python function, so each one takes the GIL, and a long query checked 12,500 times a
    second keeps taking the GIL from the thread that answers every other request."""
    deadline = time.perf_counter() + ms / 1000
    conn.set_progress_handler(lambda: 1 if time.perf_counter() >= deadline else 0, 1 if ms <= 20 else 100_000)
    try:
        yield
    finally:
        conn.set_progress_handler(None, 0)


datasette_database.sqlite_timelimit = _sqlite_timelimit

SQLITE_LIMITS = {
    sqlite3.SQLITE_LIMIT_LENGTH: LIMITS["max_value_bytes"],
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: LIMITS["max_sql_chars"],
    sqlite3.SQLITE_LIMIT_COLUMN: LIMITS["max_columns"],
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: LIMITS["max_expression_depth"],
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: LIMITS["max_compound_selects"],
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: LIMITS["max_like_pattern_chars"],
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: LIMITS["max_function_args"],
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
}
# fts3_tokenizer('simple') returns a pointer into the process (and with two arguments installs one);
# pragma_database_list's `file` column shows where the database lives on the server's disk (Datasette
# itself runs `PRAGMA database_list`, which users cannot: only the table-valued form is refused).
DENIED_FUNCTIONS = {"fts3_tokenizer", "load_extension"}
DENIED_COLUMNS = {("pragma_database_list", "file")}


class ResultTooLarge(sqlite3.OperationalError):
    pass


def _authorizer(action, arg1, arg2, database, source):
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_READ and ((arg1 or "").lower(), (arg2 or "").lower()) in DENIED_COLUMNS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


# printf width and precision: `%`, flags, then width and precision as digits or `*` (an argument)
_PRINTF_SPEC = re.compile(r"%([-+ #0,!]*)(\*|\d*)(?:\.(\*|\d*))?([a-zA-Z%])")
_printf_helpers = threading.local()


def _printf(*args):
    """printf with widths and precisions capped (see _capped_printf); NULL where SQLite's gives an error,
    since an exception in a function would print a traceback per call."""
    if not args:
        return None
    try:
        return _capped_printf(*args)
    except (sqlite3.Error, ValueError, OverflowError):
        return None


def _capped_printf(fmt, *args):
    """SQLite's own printf, run on a private connection after checking that no width or precision is
    over the limit: with `%.*c` and 1e9, SQLite's single call runs for seconds and cannot be stopped
    (and then returns NULL, as this does at once)."""
    if fmt is None:
        return None
    position = 0
    for flags, width, precision, conversion in _PRINTF_SPEC.findall(str(fmt)):
        for part in (width, precision):
            if part == "*":
                value = args[position] if position < len(args) else 0
                position += 1
                try:
                    part = abs(int(float(value)))
                except (TypeError, ValueError):
                    part = 0
            if part and int(part) > LIMITS["max_printf_width"]:
                return None  # what SQLite itself returns for a result over its length limit, minus the wait
        if conversion != "%":
            position += 1
    helper = getattr(_printf_helpers, "conn", None)
    if helper is None:
        helper = _printf_helpers.conn = sqlite3.connect(":memory:", check_same_thread=False)
        helper.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, LIMITS["max_value_bytes"])
    marks = ", ".join("?" * (len(args) + 1))
    return helper.execute(f"select printf({marks})", (fmt, *args)).fetchone()[0]


def _trim(left: bool, right: bool):
    """trim/ltrim/rtrim with a set of characters, in linear time: SQLite compares every character with
    every character of the set (as does Python's str.strip), so two 1 MB arguments take hours in one
    uninterruptible call. Here the set is a set."""
    def trim(value, characters=" "):
        if value is None or characters is None:
            return None
        if isinstance(value, bytes):
            characters = characters if isinstance(characters, bytes) else str(characters).encode()
        else:
            value, characters = str(value), str(characters)
        strip = set(characters)
        start, end = 0, len(value)
        while left and start < end and value[start] in strip:
            start += 1
        while right and end > start and value[end - 1] in strip:
            end -= 1
        return value[start:end]
    return trim


def _row_factory(limit: int):
    """sqlite3.Row, counting the bytes of one statement's rows: past `limit` the statement fails, so
    a query cannot fill memory with rows of large values (SQLite's limits bound each value, not all)."""
    state = {"cursor": None, "bytes": 0}

    def factory(cursor, row):
        if state["cursor"] is not cursor:
            state["cursor"], state["bytes"] = cursor, 0
        state["bytes"] += sum(len(v) if isinstance(v, (str, bytes)) else 8 for v in row)
        if state["bytes"] > limit:
            raise ResultTooLarge(f"the result is over {limit // 1_000_000} MB; select fewer rows or columns")
        return sqlite3.Row(cursor, row)
    return factory


@hookimpl
def prepare_connection(conn, database, datasette):
    for category, value in SQLITE_LIMITS.items():
        conn.setlimit(category, value)
    conn.set_authorizer(_authorizer)
    conn.create_function("printf", -1, _printf)
    conn.create_function("format", -1, _printf)
    for name, left, right in (("trim", True, True), ("ltrim", True, False), ("rtrim", False, True)):
        conn.create_function(name, 2, _trim(left, right), deterministic=True)
    conn.row_factory = _row_factory(LIMITS["max_result_bytes"])
    # Sorts and temporary tables in memory, under SQLite's process-wide hard heap limit, rather than
    # in temporary files a slow query could grow on disk.
    conn.execute("pragma temp_store = memory")
    conn.execute(f"pragma hard_heap_limit = {int(LIMITS['sqlite_heap_bytes'])}")


# Per Datasette instance: each database's tables' BLOB columns (vectors, index blocks), and the
# formats a page may be asked in (filled at startup, read before Datasette sees a request)
_SERVED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@hookimpl
def startup(datasette):
    # `python -m datasette` installs rich as the handler of uncaught exceptions, with locals
    sys.excepthook = sys.__excepthook__

    async def binary_columns():
        found = {}
        for name, db in datasette.databases.items():
            if name.startswith("_"):
                continue
            rows = await db.execute("select m.name, p.name from sqlite_master m join pragma_table_info(m.name) p "
                                    "where m.type = 'table' and upper(p.type) = 'BLOB'")
            tables: dict[str, set[str]] = {}
            for table, column in rows:
                tables.setdefault(table, set()).add(column)
            found[name] = tables
        _SERVED[datasette] = {"binary": found, "formats": {"csv", "db", *datasette.renderers},
                              "base_url": datasette.setting("base_url") or "/"}
    return binary_columns


# -- errors ----------------------------------------------------------------------------------------
# Datasette awaits every handle_exception hook, its own default too, which prints a traceback for any
# exception it does not know, even one answered here as a 400: so this hook replaces the default and
# hands it what it should render (and, for real 500s, log).
if pm.get_plugin("datasette.handle_exception") is default_errors:
    pm.unregister(default_errors)


@hookimpl
def handle_exception(datasette, request, exception):
    """Datasette raises DatasetteError with status 500 for bad parameters (`_sort` on an unknown
    column, `_sort` with `_sort_desc`, a bad `_through`) and lets sqlite3's errors for misused SQL
    through as 500s: the client's mistakes, so 400s."""
    if isinstance(exception, DatasetteError) and exception.status == 500:
        bad_request = DatasetteError(exception.message, title=exception.title or "Bad request", status=400,
                                     error_dict=exception.error_dict, message_is_html=exception.message_is_html)
        return default_errors.handle_exception(datasette, request, bad_request)
    if isinstance(exception, (ResultTooLarge, sqlite3.ProgrammingError, sqlite3.DataError)):
        # the user's SQL misused: a parameter without a value (`_where=:x`), two statements, a value
        # over a limit
        return default_errors.handle_exception(datasette, request, DatasetteError(str(exception), status=400,
                                                                                  title="Invalid SQL"))
    return default_errors.handle_exception(datasette, request, exception)


# -- requests, before Datasette sees them ---------------------------------------------------------
FACET_TYPES = {"column", "simple", "array", "date"}
FACET_PARAMETERS = {"_facet", "_facet_array", "_facet_date"}
READ_METHODS = ("GET", "HEAD")


# What the brand folder is served for: its logo, icon and card (kb/site.py BRAND_IMAGES). brand.yml and
# the pages' Markdown are read by the site, not sent, nor anything else a publisher keeps beside them.
BRAND_ASSETS = tuple(BRAND_IMAGES)


SHAPES = {"objects", "arrays", "array", "arrayfirst", "object"}
# a Host header as RFC 9110 allows it: a name or an address, and a port
_HOST = re.compile(rb"^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")
MAX_JSON_PARAMETER = 1000  # characters of a JSON parameter (_through, a facet's settings): a real one is short


def _json_object(value: str):
    """A parameter's JSON, or None where it is not JSON or nests too deep for Python's parser (a
    RecursionError, which had been a 500)."""
    if len(value) > MAX_JSON_PARAMETER:
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


def _page_of(path: str, served: dict | None) -> tuple[str | None, str | None, str | None]:
    """(database, table, format) of a database, table or row address (format: what follows a last
    dot, which Datasette writes ~2E inside an id); Nones elsewhere (a /-/ page, a static file)."""
    if not served:
        return None, None, None
    path = under_base_url(path, served.get("base_url", "/"))
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None, None, None
    last, dot, ext = parts[-1].rpartition(".")
    # a path ending in a slash is redirected to the same without it, whatever its last dot
    fmt = ext if dot and ext.isascii() and ext.isalnum() and not ext.isdigit() and not path.endswith("/") else None
    if fmt is None:
        last = parts[-1]
    if len(parts) == 1:
        return (last, None, fmt) if last in served["binary"] else (None, None, None)
    if parts[0] not in served["binary"]:
        return None, None, None
    return parts[0], (last if len(parts) == 2 else parts[1]), fmt


def _problem(scope, served: dict | None = None) -> tuple[int, str] | None:
    path = scope.get("path", "")
    if f"/{BRAND_MOUNT}/" in path and not path.lower().endswith(BRAND_ASSETS):
        return 404, "not found"
    if scope.get("method", "GET") not in READ_METHODS:
        # nothing here writes; Datasette answered a POST to a table with a 500 (an assertion)
        return 405, "this site is read-only: use GET"
    raw = scope.get("query_string", b"")
    if len(raw) > LIMITS["max_query_string_bytes"]:
        return 414, f"the query string is over {LIMITS['max_query_string_bytes'] // 1024} KB"
    if b"\x00" in unquote_to_bytes(raw) or "\x00" in scope.get("path", "") or b"%00" in scope.get("raw_path", b""):
        return 400, "the request contains a NUL character"
    host = dict(scope.get("headers") or []).get(b"host")
    if host is not None and not _HOST.match(host):
        # it becomes the address in canonical links, the feed and the sitemap (where public_url is
        # not set), in pages a cache keeps for minutes: "example.org@evil.example" sent readers away
        return 400, "the Host header is not a host name"
    pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    database, table, fmt = _page_of(path, served)
    if fmt and served and fmt not in served["formats"]:
        # /kb/cases/x.exe answered the case page, naming itself as the page's address
        return 404, f"there is no .{fmt} form of this page"
    params = dict(pairs)
    if database and table is None and "sql" not in params and (fmt == "csv" or "_shape" in params):
        # a database's own page has no rows: its CSV and its JSON shapes had been 500s
        return 400, "a database's page has no rows: ask a table, or a query with sql=, for CSV or a _shape"
    # every facet of every column at _facet_size=max took 6.6 s and made an 11 MB page
    if len({(key, value) for key, value in pairs if key in FACET_PARAMETERS}) > LIMITS["max_facets"]:  # repeats count once
        return 400, f"at most {LIMITS['max_facets']} facets a page: ask for fewer _facet parameters"
    binary = (served or {}).get("binary", {}).get(database, {}).get(table, set()) if table else set()
    for key, value in pairs:
        # parameters Datasette parses without catching the error (json.loads, int), so a 500
        if key == "_facet_size" and not (value == "max" or (value.isascii() and value.isdigit() and len(value) <= 6)):
            return 400, "_facet_size must be a whole number or max"
        if key == "_shape" and value not in SHAPES:
            return 400, f"_shape must be one of {', '.join(sorted(SHAPES))}"
        if key == "_shape" and value == "object" and table is None:
            return 400, "_shape=object needs a table's rows, keyed by their primary key"
        if key in FACET_PARAMETERS and value in binary:
            # the distinct values of a column of vectors: a 9 MB page that took seconds to draw
            return 400, f"{value} holds binary data (vectors or index blocks), which cannot be counted as a facet"
        if key == "_through":
            through = _json_object(value)
            if not (isinstance(through, dict) and isinstance(through.get("table"), str)
                    and isinstance(through.get("column"), str) and "value" in through):
                return 400, '_through must be JSON: {"table": ..., "column": ..., "value": ...}'
        if key == "_timelimit" and not (value.isascii() and value.isdigit() and len(value) < 10):
            return 400, "_timelimit must be a whole number of milliseconds"
        if key.startswith("_facet") and value.startswith(("{", "[")):
            config = _json_object(value)
            if not (isinstance(config, dict) and config and set(config) <= FACET_TYPES
                    and all(isinstance(v, str) for v in config.values())):
                return 400, f"{key}={value[:40]} is not a facet; use {key}=COLUMN"
            if set(config.values()) & binary:
                return 400, f"{key}: a column of binary data (vectors or index blocks) cannot be counted as a facet"
    return None


def _without_repeats(raw: bytes) -> bytes:
    """The query string with each repeat of a parameter and value taken out (as written, the first
    kept): Datasette computes and draws `_facet=x` once per repeat, and no parameter means more for
    being given twice."""
    seen, kept = set(), []
    for part in raw.split(b"&"):
        key = tuple(parse_qsl(part.decode("utf-8", "replace"), keep_blank_values=True)) or part
        if key not in seen:
            seen.add(key)
            kept.append(part)
    return b"&".join(kept)


def _runs_long(scope) -> bool:
    """Arbitrary SQL, and a streamed CSV: pages of queries and Python work for every row of a table,
    22 s of CPU for the largest (Datasette's `_stream` takes any non-empty value)."""
    raw = scope.get("query_string", b"")
    return any(key in ("sql", "_where") or (key == "_stream" and value)
               for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


async def _send_text(send, status: int, text: str, path: str, headers=()):
    if path.endswith(".json"):
        body = json.dumps({"ok": False, "error": text, "status": status}).encode()
        content_type = b"application/json; charset=utf-8"
    else:
        body = f"Error {status}: {text}\n".encode()
        content_type = b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


class _SqlGate:
    """At most LIMITS['concurrent_sql_queries'] arbitrary-SQL requests at once, LIMITS['sql_queue']
    more waiting, and after each a pause of LIMITS['sql_cooldown'] times its duration, so that SQL
    takes at most about a quarter of one thread's time however hard it is pushed. One gate per event
    loop (tests run several loops in one process)."""

    def __init__(self):
        self._gates = weakref.WeakKeyDictionary()

    def get(self, loop):
        if loop not in self._gates:
            self._gates[loop] = [asyncio.Semaphore(LIMITS["concurrent_sql_queries"]), 0]
        return self._gates[loop]


_gate = _SqlGate()


class _ErrorBudget:
    """Clients (by address; uvicorn puts a local proxy's X-Forwarded-For there) whose requests keep
    failing, say a scan of missing pages or a loop of refused SQL, wait LIMITS['error_penalty_s']
    before each further request: a cheap 404 is still work, and a tight loop of them from one client
    would otherwise take a third of the server from everyone else."""

    def __init__(self):
        self._errors: collections.OrderedDict[str, collections.deque] = collections.OrderedDict()

    def _recent(self, client: str, now: float) -> collections.deque:
        times = self._errors.get(client)
        if times is None:
            times = self._errors[client] = collections.deque()
            if len(self._errors) > LIMITS["tracked_clients"]:
                self._errors.popitem(last=False)
        while times and now - times[0] > LIMITS["error_window_s"]:
            times.popleft()
        return times

    def over(self, client: str) -> bool:
        return len(self._recent(client, time.monotonic())) >= LIMITS["errors_per_window"]

    def record(self, client: str) -> None:
        now = time.monotonic()
        self._recent(client, now).append(now)
        self._errors.move_to_end(client)


@hookimpl
def asgi_wrapper(datasette):
    errors = _ErrorBudget()

    def wrap(app):
        async def guarded(scope, receive, send):
            if scope.get("type") != "http":
                return await app(scope, receive, send)
            client = (scope.get("client") or ("unknown",))[0]
            if errors.over(client):
                await asyncio.sleep(LIMITS["error_penalty_s"])
            status = {}

            async def watched(message):
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            try:
                await _answer(app, scope, receive, watched, _SERVED.get(datasette))
            finally:
                if status.get("code", 500) >= 400:
                    errors.record(client)
        return guarded
    return wrap


def _tilde_hash(scope):
    """A row address with its id's '#' written as %23 (every lesson's and figure's id has one), as any
    client encodes it, in Datasette's own form (~23): Datasette redirected .../x%23lesson-1.json to
    .../x~23lesson-1~2Ejson, a 404."""
    raw = scope.get("raw_path") or b""
    path, mark, query = raw.partition(b"?")
    if b"%23" not in path.lower():
        return scope
    return dict(scope, raw_path=re.sub(rb"%23", b"~23", path, flags=re.I) + mark + query,
                path=scope.get("path", "").replace("#", "~23"))


def _failed_csv(send, path: str):
    """`send` for the CSV of a query, which answers a query SQLite refused with an empty file and 200
    (the page and the JSON say why, with a 400): a query has at least one column, so a CSV whose
    first line is empty is that failure, answered as one."""
    state: dict = {"mode": None, "body": b""}

    async def sending(message):
        if state["mode"] == "pass":
            return await send(message)
        if state["mode"] == "drop":
            return None
        if message["type"] == "http.response.start":
            state["start"] = message
            return None
        state["body"] += message.get("body", b"")
        if not state["body"] and message.get("more_body"):
            return None
        if state["body"].startswith(b"\r\n") or not state["body"]:
            state["mode"] = "drop"  # the rest of the empty file, if any, goes with it
            return await _send_text(send, 400, "the query failed: open it as a page, without .csv, to see why", path)
        state["mode"] = "pass"
        await send(state["start"])
        return await send(dict(message, body=state["body"]))
    return sending


async def _answer(app, scope, receive, send, served=None):
    scope = _tilde_hash(scope)
    problem = _problem(scope, served)
    if problem:
        allow = [(b"allow", ", ".join(READ_METHODS).encode())] if problem[0] == 405 else []
        return await _send_text(send, *problem, scope.get("path", ""), allow)
    if scope.get("path", "").endswith(".csv") and "sql" in dict(parse_qsl(scope.get("query_string", b"").decode("utf-8", "replace"))):
        send = _failed_csv(send, scope.get("path", ""))
    if scope.get("query_string"):
        scope = dict(scope, query_string=_without_repeats(scope["query_string"]))
    if not _runs_long(scope):
        return await app(scope, receive, send)
    gate = _gate.get(asyncio.get_running_loop())
    if gate[1] >= LIMITS["sql_queue"]:
        return await _send_text(send, 503, "the server is busy with other SQL queries; try again in a few seconds",
                                scope.get("path", ""), [(b"retry-after", b"5")])
    gate[1] += 1
    try:
        await gate[0].acquire()
    finally:
        gate[1] -= 1
    started = time.monotonic()
    try:
        return await app(scope, receive, send)
    finally:
        # the answer is sent at once; the next query waits (see _SqlGate)
        cooldown = min(LIMITS["sql_cooldown"] * (time.monotonic() - started), 10)
        asyncio.get_running_loop().call_later(cooldown, gate[0].release)


# -- Datasette's pages that show where the server keeps its files -----------------------------------
async def _not_served(request):
    raise NotFound("Not found")


@hookimpl
def register_routes():
    # /-/databases gives the served file's path, /-/threads the Python installation's (in its tasks'
    # descriptions): what pragma_database_list's `file` column is refused for above. Plugins' routes
    # come before Datasette's own.
    # /-/patterns, /-/messages and /-/allow-debug are Datasette's pages for its own developers; the last
    # parsed any JSON it was sent (a RecursionError, a 500, at a thousand levels)
    return [(r"^/-/(databases|threads|patterns|messages|allow-debug)(\.json)?$", _not_served)]
