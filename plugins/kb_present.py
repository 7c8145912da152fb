"""What every page of the site shares: money as £ with separators, labels for the slugs the build
stored (the terms table), the site's own CSS and script, and Jinja filters for the templates.

Everything comes from the database being served, never from kb/*.yml. The other plugins reach
this module by its path (plugin files are loaded by path, not as a package)."""
from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import re
import sqlite3
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from kb import abbreviations
from kb.site import stored_metadata
from kb.vocabulary import Vocabulary, stored_vocabularies

STATIC = Path(__file__).resolve().parent.parent / "static"
STATIC_FILES = {"site.css": "text/css; charset=utf-8", "site.js": "text/javascript; charset=utf-8"}


# -- money and words ---------------------------------------------------------------------------
def money(amount) -> str:
    """£1,234,567 (whole pounds); '' for no amount."""
    if amount is None or amount == "":
        return ""
    return f"£{float(amount):,.0f}"


def short_money(amount) -> str:
    """£2.6m, £313k: for chart axes and bar labels, where the table beside gives the exact figure."""
    amount = float(amount)
    if amount >= 1_000_000:
        return f"£{amount / 1_000_000:,.1f}m".replace(".0m", "m")
    if amount >= 1_000:
        return f"£{amount / 1_000:,.0f}k"
    return f"£{amount:,.0f}"


_BRACKETED = re.compile(r"\s*\(([^()]*)\)")


def unbracketed(text) -> str:
    """A phrase whose bracketed asides become dashed ones ("2013/14 (£ millions, table)" -> "2013/14 –
    £ millions, table"), so that a page may put it in brackets without nesting them."""
    text = str(text or "")
    while _BRACKETED.search(text):
        text = _BRACKETED.sub(lambda m: f" \u2013 {m.group(1).strip()}", text)
    return text.strip()


def years(start, end) -> str:
    if not start and not end:
        return "years not stated"
    if start and end and start != end:
        return f"{start}\u2013{end}"
    if start and not end:
        return f"from {start}"
    return str(start or end)


# -- what the build stored ---------------------------------------------------------------------
@lru_cache(maxsize=8)
def _stored_terms(path: str, mtime: float) -> tuple[dict[str, Vocabulary], dict[str, str], dict[str, str]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        vocabularies = stored_vocabularies(conn)
        rows = conn.execute("select id, title, publisher, date from sources").fetchall()
    except sqlite3.Error:
        return {}, {}, {}
    finally:
        conn.close()
    # whose report and when, as the source record gives them: "Stevenage Borough Council, 2021"
    by = {i: ", ".join(str(x) for x in (publisher, str(date or "")[:4]) if x) for i, _, publisher, date in rows}
    return vocabularies, {i: title for i, title, _, _ in rows}, by


def terms(db_path) -> dict[str, Vocabulary]:
    """The vocabularies the database was built with."""
    path = Path(db_path)
    return _stored_terms(str(path), path.stat().st_mtime)[0]


@lru_cache(maxsize=8)
def _glossary(path: str, mtime: float) -> dict[str, str]:
    return abbreviations.glossary(_stored_terms(path, mtime)[0], stored_metadata(path).get("abbreviations", {}))


def glossary(db_path) -> dict[str, str]:
    """What each abbreviation the served database's text may use stands for, worked out once per
    database (about 12 ms: every term's names are read for acronyms)."""
    path = Path(db_path)
    return _glossary(str(path), path.stat().st_mtime)


def fetched(path: str, sql: str, params=()) -> list[tuple]:
    """The rows of one query of the database, read only; none where it fails (a table it lacks)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()


@lru_cache(maxsize=16)
def _titles(path: str, mtime: float, table: str, column: str) -> dict[str, str]:
    return dict(fetched(path, f"select id, [{column}] from [{table}]"))


def row_titles(db_path, table: str) -> dict[str, str]:
    """Each row of a table by its label (a case by its title), by its id: what a filter naming the row shows."""
    column = table_meta(db_path, table).get("label_column")
    path = Path(db_path)
    return _titles(str(path), path.stat().st_mtime, table, column) if column else {}


@lru_cache(maxsize=16)
def _shared(path: str, mtime: float, table: str, column: str) -> frozenset:
    return frozenset(r[0] for r in fetched(path, f"select [{column}] from [{table}] group by 1 having count(*) > 1"))


def shared_labels(db_path, table: str, column: str) -> frozenset:
    """The values of a table's label column that more than one row has ("£1 million" of four figures)."""
    path = Path(db_path)
    return _shared(str(path), path.stat().st_mtime, table, column)


def source_titles(db_path) -> dict[str, str]:
    path = Path(db_path)
    return _stored_terms(str(path), path.stat().st_mtime)[1]


def source_by(db_path, source_id) -> str:
    """Whose report it is and its year ("Stevenage Borough Council, 2021"), so that a finding quoted
    away from its report is attributed; '' for an unknown report."""
    path = Path(db_path)
    return _stored_terms(str(path), path.stat().st_mtime)[2].get(source_id, "")


def label(db_path, vocabulary: str | None, slug) -> str:
    """The label of a slug in a vocabulary (the source's title for a source id); the slug itself if unknown."""
    if slug is None:
        return ""
    if vocabulary is None:
        return source_titles(db_path).get(slug, slug)
    vocab = terms(db_path).get(vocabulary)
    return vocab.label_of(slug) if vocab else slug


def figure_status(db_path, status, kind) -> str:
    """A figure's status as it reads on a figure of its kind: a cost is "Actual", a saving "Achieved"."""
    if status is None:
        return ""
    vocab = terms(db_path).get("figure_statuses")
    return vocab.status_label(status, kind) if vocab else status


def vocabulary_label(db_path, key) -> str:
    """The label of a vocabulary (e.g. "Approach" for approaches); the key itself if unknown."""
    vocab = terms(db_path).get(key)
    return vocab.label if vocab else key


def table_meta(db_path, table: str) -> dict:
    """The build's metadata for one table: description, column help, labels, vocabularies, types."""
    return stored_metadata(db_path).get("site_metadata", {}).get(table) or {}


def facet_catalogue(db_path) -> list[dict]:
    return stored_metadata(db_path).get("facets", [])


def kb_database(datasette):
    """The one database the site serves (the first with a file)."""
    for name, db in datasette.databases.items():
        if name != "_internal" and db.path:
            return db
    return None


def database_label(datasette, database: str) -> str:
    """What the site calls a database's page (its metadata's title: "All tables and SQL"), not its file's name."""
    return datasette.metadata("title", database=database, fallback=False) or database


def table_label(datasette, database: str, table: str) -> str:
    """A table as the site labels it ("Case studies", its metadata's title); one the site gives no label
    (the build's own tables) by the name SQL knows it by."""
    return datasette.metadata("title", database=database, table=table, fallback=False) or table


def as_list(raw) -> list:
    if raw in (None, ""):
        return []
    if isinstance(raw, list):
        return raw
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return [raw]
    return value if isinstance(value, list) else [value]


def tags(labels: list[str], css: str = "kb-tag-list") -> Markup:
    if not labels:
        return Markup("")
    return Markup(f'<ul class="{css}">' + "".join(f"<li>{escape(x)}</li>" for x in labels) + "</ul>")


# -- the site's own CSS and script, served from the site itself ----------------------------------
@lru_cache(maxsize=None)
def _static_version(name: str, mtime: float) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]


def static_url(datasette, name: str) -> str:
    path = STATIC / name
    return datasette.urls.path(f"/-/kb-static/{name}?v={_static_version(name, path.stat().st_mtime)}")


def csv_response(rows: list[dict], columns: list[str], filename: str) -> Response:
    """Rows as a CSV download: a byte-order mark first, since without it Excel reads UTF-8 as the
    system's code page ("\u00a3" as "\u00c2\u00a3")."""
    out = io.StringIO("\ufeff")
    out.seek(0, io.SEEK_END)
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return Response(out.getvalue(), content_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="{filename}"'})


async def static_view(request):
    name = request.url_vars["name"]
    if name not in STATIC_FILES:
        return Response.text("not found", status=404)
    return Response((STATIC / name).read_text(encoding="utf-8"), content_type=STATIC_FILES[name],
                    headers={"cache-control": "public, max-age=31536000, immutable"
                             if request.args.get("v") else "no-cache"})


@hookimpl
def register_routes():
    return [(r"^/-/kb-static/(?P<name>[a-z.]+)$", static_view)]


@hookimpl
def extra_css_urls(datasette):
    return [static_url(datasette, "site.css")]


@hookimpl
def extra_js_urls(datasette):
    return [{"url": static_url(datasette, "site.js"), "module": False}]


def date_words(value) -> str:
    """A date as a reader writes it ("December 2014", "11 August 2021") from the ISO forms the files and
    the build keep ("2014-12", "2021-08-11", a build's time); a year, or anything else, as it is."""
    text = str(value or "").strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}", text):
            return f"{datetime.date.fromisoformat(text + '-01'):%B %Y}"
        if re.match(r"\d{4}-\d{2}-\d{2}(?:[T ]|$)", text):
            day = datetime.date.fromisoformat(text[:10])
            return f"{day.day} {day:%B %Y}"
    except ValueError:
        pass
    return text


def plural(noun: str) -> str:
    """A noun of the site's own labels ("approach", "council type") in the plural, for a count of them."""
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
        return noun[:-1] + "ies"
    return noun + "s"


# Where a page's "Abbreviations on this page" goes: after its body of text (templates write
# {{ kb_abbreviations_here }}; the first one on the page is used, and base.html writes one at the end of
# the main part for pages that do not say); base.html passes the main part and the footer through
# `kb_explained` together, so the footer's abbreviations are listed too.
GLOSSARY_HERE = Markup("<!--kb:abbreviations-->")


def explained(datasette, html) -> Markup:
    """A page's main part with its abbreviations explained (kb/abbreviations.py's explain, from the
    served database's glossary) and their list where the page's template asks for it."""
    db = kb_database(datasette)
    html = str(html)
    if db is None:
        return Markup(html.replace(GLOSSARY_HERE, ""))
    marked, used = abbreviations.explain(html, glossary(db.path))
    return Markup(marked.replace(GLOSSARY_HERE, abbreviations.glossary_html(used), 1).replace(GLOSSARY_HERE, ""))


@hookimpl
def prepare_jinja2_environment(env, datasette):
    env.globals["kb_abbreviations_here"] = GLOSSARY_HERE
    env.filters["kb_explained"] = lambda html: explained(datasette, html)
    env.globals["kb_database_label"] = lambda database: database_label(datasette, database)
    env.globals["kb_table_label"] = lambda database, table: table_label(datasette, database, table)
    env.filters["plural"] = plural
    env.filters["date_words"] = date_words
    env.filters["money"] = money
    env.filters["short_money"] = short_money
    env.filters["unbracketed"] = unbracketed
    env.globals["kb_years"] = years
    env.filters["clean_url"] = clean_url
    env.filters["rebase"] = rebase
    env.filters["from_the_first"] = from_the_first
    env.filters["site_home"] = site_home


@lru_cache(maxsize=64)
def _types_of(path: str, mtime: float, table: str) -> dict[str, str]:
    return {r[1]: r[2] or "" for r in fetched(path, "select * from pragma_table_info(?)", [table])}


def column_types(db_path, table: str) -> dict[str, str]:
    """Each column of a table and the type it was declared with ('' for none)."""
    path = Path(db_path)
    return _types_of(str(path), path.stat().st_mtime, table)


@lru_cache(maxsize=64)
def _references_of(path: str, mtime: float, table: str) -> dict[str, tuple[str, str]]:
    return {r[3]: (r[2], r[4]) for r in fetched(path, "select * from pragma_foreign_key_list(?)", [table])}


def foreign_keys(db_path, table: str) -> dict[str, tuple[str, str]]:
    """Each column of a table that refers to another table's row: (that table, its column)."""
    path = Path(db_path)
    return _references_of(str(path), path.stat().st_mtime, table)


def table_columns(db_path, table: str) -> tuple[str, ...]:
    """Every column a table of the database has, in order."""
    return tuple(column_types(db_path, table))


def _without(url, name: str) -> str:
    """A link without its `name=` arguments."""
    out = re.sub(rf"(?<=[?&]){name}=[^&#]*(&|(?=#)|$)", "", str(url))
    return re.sub(r"[?&](?=#|$)", "", out).replace("?&", "?")


def clean_url(url) -> str:
    """A link without the `_nocol` arguments a table page adds for itself (see kb_tables.asgi_wrapper),
    so addresses people copy stay short; the page adds them again when followed."""
    return _without(url, "_nocol")


def site_home(url) -> bool:
    """Whether an address is a whole website's home page (a report recorded by its publisher's site,
    as a draft that is not online is), not a report's own page: no link may call it "the report itself"."""
    parts = urlsplit(str(url))
    return parts.path.strip("/") == "" and not parts.query


def from_the_first(url) -> str:
    """A link without the page it was made on (`_next`): a download of "all 76" from the second page
    began at the 51st (JSON) or was refused (a CSV streams from the first row only)."""
    return _without(url, "_next")


def rebase(url, path: str) -> str:
    """The query of a Datasette-made link on another path: links built from the request's path gain
    the base_url twice behind a proxy that passes the full path, so they are rebuilt on urls.table()."""
    query = str(url).partition("?")[2]
    return clean_url(path + ("?" + query if query else ""))
