"""Datasette's own pages for data users (all tables and SQL, a query's results, the tables readers are
not shown) made usable with a screen reader: headings that never skip a level, and a name for every
form control. The templates pass Datasette's markup through the `accessible` filter, rather than
keep a copy of each upstream template; a test checks every rule still finds its markup."""
from __future__ import annotations

import re
from html import unescape

from datasette import hookimpl
from datasette.utils import path_from_row_pks
from markupsafe import Markup, escape

from kb.site import plugin_module

present = plugin_module(__file__, "kb_present")

_HEADING = re.compile(r"<(/?)h([1-6])\b", re.IGNORECASE)

# Datasette's controls with no label of their own: (the markup, what is added to it).
LABELS = [
    (re.compile(r'<select name="_filter_column(_\d+)?"'), 'aria-label="Filter on column"'),
    (re.compile(r'<select name="_filter_op(_\d+)?"'), 'aria-label="Filter condition"'),
    (re.compile(r'<input type="text" name="_filter_value(_\d+)?"'), 'aria-label="Filter value"'),
    # its visible label is hidden on a phone, and a hidden label names nothing
    (re.compile(r'<select name="_sort" id="sort_by"'), 'aria-label="Sort by"'),
    # CodeMirror hides the textarea Datasette labels and types into one of its own
    (re.compile(r"CodeMirror\.fromTextArea\(sqlInput, \{"), 'screenReaderLabel: "SQL query",'),
]


def level_headings(html: str) -> str:
    """Move each heading up until it is at most one level below the one before it (an h3 straight
    after the h1 becomes an h2); the closing tag moves with it."""
    out, previous, opened = [], 0, []
    pos = 0
    for m in _HEADING.finditer(html):
        closing, level = m.group(1) == "/", int(m.group(2))
        if closing:
            new = opened.pop() if opened else level
        else:
            new = min(level, previous + 1) if previous else level
            opened.append(new)
            previous = new
        out.append(html[pos:m.start()] + f"<{m.group(1)}h{new}")
        pos = m.end()
    out.append(html[pos:])
    return "".join(out)


# Datasette's column headings are links that sort by the column, named by it alone ("cases", as the
# site's menu names its link to the case studies): each says it sorts.
_SORT_LINK = re.compile(r'(<th\b[^>]*scope="col"[^>]*>\s*<a href="[^"]*[?&]_sort(?:_desc)?=[^"]*" rel="nofollow">)')


# Datasette's facets: a cross that takes a facet or a chosen value away was a link named "✖" (heavy
# multiplication x), and its "…" showed all the values; the count after a facet's name, its number of
# values, was a bare number.
_FACET_CROSS = re.compile(r'(<strong>([^<]*?)\s*<span class="facet-info-total">([^<]*)</span>\s*</strong>\s*)'
                          r'<a href="([^"]*)" class="cross">&#x2716;</a>')
_MORE_VALUES = re.compile(r'(<li class="facet-truncated"><a href="[^"]*">)…</a>')
_VALUE_CROSS = re.compile(r'<li>([^<]*?) &middot; ([\d,]+) <a href="([^"]*)" class="cross">&#x2716;</a></li>')


# A facet's values were links named by the value alone: the same words as a cell's link to that row, and
# as the same value's link in another facet (a case in "case_id" and in "similar_id").
_FACET = re.compile(r'(<div class="facet-info [^"]*" id="[^"]*" data-column="([^"]*)">)(.*?</ul>)', re.S)
_FACET_VALUE = re.compile(r'<li><a href="([^"]*)">(.*?)</a> ([\d,]+)</li>', re.S)


def _facet_values(m) -> str:
    name = m.group(2)
    return m.group(1) + _FACET_VALUE.sub(
        lambda v: f'<li><a href="{v.group(1)}">{v.group(2)}<span class="kb-visually-hidden">: only the rows with this '
                  f'{name}</span></a> {v.group(3)}</li>', m.group(3))


def _facet_cross(m) -> str:
    return (m.group(1).replace(f">{m.group(3)}</span>", f">{m.group(3)} values</span>", 1) +
            f'<a href="{m.group(4)}" class="cross"><span aria-hidden="true">&#x2716;</span>'
            f'<span class="kb-visually-hidden">Hide the counts of {m.group(2).strip()}</span></a>')


# "This data as json, CSV (advanced)": links named by a format alone, or "advanced", said nothing of what
# they download, read in a list of links; nor did the advanced export's "default", "array", "object".
_EXPORTS = re.compile(r"(This data as )(.*?)(</p>)", re.S)
_FORMAT = re.compile(r'<a href="([^"]*)">(\w+)</a>')
FORMATS = {"json": "JSON", "csv": "CSV", "atom": "Atom feed"}


_SHAPES = re.compile(r"(<p>JSON shape:)(.*?)(</p>)", re.S)
_SHAPE = re.compile(r'(<a href="[^"]*">)([\w-]+)</a>')


def _exports(m) -> str:
    links = _FORMAT.sub(lambda f: f'<a href="{f.group(1)}">{FORMATS.get(f.group(2).lower(), f.group(2))}'
                                  f'<span class="kb-visually-hidden"> of these rows</span></a>', m.group(2))
    links = links.replace('<a href="#export">advanced</a>',
                          '<a href="#export">advanced<span class="kb-visually-hidden"> download options</span></a>')
    return m.group(1) + links + m.group(3)


def add_labels(html: str) -> str:
    html = _SORT_LINK.sub(r'\1<span class="kb-visually-hidden">Sort by </span>', html)
    html = _EXPORTS.sub(_exports, html)
    html = _SHAPES.sub(lambda m: m.group(1) + _SHAPE.sub(r'\1\2<span class="kb-visually-hidden"> JSON shape</span></a>', m.group(2))
                       + m.group(3), html)
    html = _FACET.sub(_facet_values, html)
    html = _FACET_CROSS.sub(_facet_cross, html)
    html = _MORE_VALUES.sub(r'\1<span aria-hidden="true">…</span><span class="kb-visually-hidden">Show every value</span></a>', html)
    html = _VALUE_CROSS.sub(r'<li>\1 &middot; \2 <a href="\3" class="cross"><span aria-hidden="true">&#x2716;</span>'
                            r'<span class="kb-visually-hidden">Remove filter: \1</span></a></li>', html)
    for pattern, attribute in LABELS:
        html = pattern.sub(lambda m: f"{m.group(0)} {attribute}" if m.group(0).endswith('"') else f"{m.group(0)}{attribute}", html)
    return html


def accessible(html) -> Markup:
    return Markup(add_labels(level_headings(str(html))))


# the all-tables page heads each table with its SQL name, linked to its page
_TABLE_HEADING = re.compile(r'(<h3><a href="([^"]+)">)([^<]+)</a>')


def labelled_tables(html, table_label, table_url) -> Markup:
    """Each table's heading on the all-tables page by the site's label for it ("Case studies"), its
    SQL name after it for writing queries; a table with no label of its own keeps its name alone."""
    def label(m):
        name = m.group(3)
        if m.group(2) != table_url(name) or table_label(name) == name:
            return m.group(0)
        return f"{m.group(1)}{escape(table_label(name))}</a> <code>{name}</code>"
    return Markup(_TABLE_HEADING.sub(label, str(html)))


_DOWNLOAD = re.compile(r'<p class="download-sqlite">\s*Download SQLite DB:\s*<a href="([^"]+)">[^<]*</a>\s*<em>([^<]*)</em>\s*</p>')


def named_download(html) -> Markup:
    """The all-tables page's offer of the whole database, said as a reader would look for it: Datasette
    wrote "Download SQLite DB: kb.db", a link named by the file's name, which says nothing of what is in it."""
    return Markup(_DOWNLOAD.sub(lambda m: f'<p class="download-sqlite"><a href="{m.group(1)}" download>Download all '
                                          f'the data as one SQLite database file</a> ({m.group(2)})</p>', str(html)))


# A row keyed by rows of other tables (which reports tell each case, which cases are like which) is
# named by their names, joined so: its key ("barnet-capita-outsourcing,dclg-2014-good-practice-savings")
# headed each row and titled its page, and said nothing to a reader.
JOINED = " \u2014 "


_LINKED = re.compile(r'<a href="[^"]*">([^<]*)</a>')


def _label(cell) -> str | None:
    """The name a cell shows for the row its key points to: the label Datasette expanded it to, as it
    links it (its raw value is the label and key, or the key alone when Datasette drew the link)."""
    if isinstance(cell["raw"], dict):
        return cell["raw"].get("label") or None
    linked = _LINKED.match(str(cell["value"]))
    label = unescape(linked.group(1)) if linked else None
    return label if label and label != str(cell["raw"]) else None


def named_rows(html, rows, primary_keys) -> Markup:
    """Datasette's table page with each row's link named by the rows its key points to, as its own cells
    show them (Datasette expands a key to its row's label); a row whose key is not wholly such is left."""
    html = str(html)
    for row in rows or []:
        cells = list(row)
        link = cells[0] if cells and cells[0].get("is_special_link_column") else None
        labels = [_label(c) for c in cells if c["column"] in primary_keys]
        if link is None or not labels or len(labels) != len(primary_keys) or not all(labels):
            continue
        old = str(link["value"])
        html = html.replace(old, re.sub(r">[^<]*</a>$", f">{escape(JOINED.join(labels))}</a>", old), 1)
    return Markup(html)


# -- no link to a row its page cannot find ---------------------------------------------------------------
def _numeric(declared: str) -> bool:
    """Whether SQLite gives a column of this declared type a numeric affinity (its rules, in order)."""
    declared = declared.upper()
    if "INT" in declared:
        return True
    return bool(declared) and not any(word in declared for word in ("CHAR", "CLOB", "TEXT", "BLOB"))


def findable(value, declared: str) -> bool:
    """Whether a row's page finds it by this key value, which the row's address carries as text: SQLite
    finds no text equal to a blob (a search index's binary term), nor to a number in a column declared
    with no numeric type (the same index's segment number)."""
    if isinstance(value, dict):  # a key Datasette expanded to the label of the row it points to
        value = value.get("value")
    if isinstance(value, str):
        return True
    if isinstance(value, (int, float)):
        return _numeric(declared)
    return False


def _findable_row(row, pks, types: dict[str, str]) -> bool:
    keys = row.keys() if hasattr(row, "keys") else ()
    if not pks:  # SQLite's own rowid, an integer that is always found
        return "rowid" in keys
    return all(pk in keys and findable(row[pk], types.get(pk, "")) for pk in pks)


def unlinked_rows(datasette, html, rows, pks, database: str, table: str) -> Markup:
    """Datasette's table page with no link to a row its own page cannot find ("Page not found" for every
    row of the search indexes' tables): the row's key is shown as text, as the link showed it."""
    html = str(html)
    db = datasette.databases.get(database)
    if db is None or not db.path or not pks:
        return Markup(html)
    types = present.column_types(db.path, table)
    base = datasette.urls.table(database, table)
    for row in rows or []:
        if _findable_row(row, pks, types):
            continue
        shown = escape(path_from_row_pks(row, pks, False, False))
        html = html.replace(f'<a href="{base}/{path_from_row_pks(row, pks, False)}">{shown}</a>', str(shown), 1)
    return Markup(html)


def _binary(value: bytes) -> Markup:
    return Markup(f"&lt;Binary:&nbsp;{len(value):,}&nbsp;byte{'' if len(value) == 1 else 's'}&gt;")


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    """A binary value: Datasette's link to download it, named by the row and column it is the value of
    (every one was "<Binary: 1,536 bytes>"), or, in a row its page cannot find, no link (it led to
    "Page not found")."""
    if not isinstance(value, bytes) or table is None or database is None:
        return None
    db = datasette.databases.get(database)
    if db is None or not db.path:
        return None

    async def inner():
        pks = await db.primary_keys(table)
        if not _findable_row(row, pks, present.column_types(db.path, table)):
            return _binary(value)
        key = path_from_row_pks(row, pks, not pks, False)
        href = datasette.urls.row_blob(database, table, path_from_row_pks(row, pks, not pks), column)
        return Markup(f'<a class="blob-download" href="{escape(href)}">{_binary(value)}<span class="kb-visually-hidden">: '
                      f'download the {escape(column)} of {escape(table)} row {escape(key)}</span></a>')
    return inner()


async def row_name(datasette, database: str, table: str, key_values) -> str | None:
    """A row's name from the rows its key points to (named_rows' name, for its own page), if its key is
    wholly such."""
    db = datasette.databases.get(database)
    keys = await db.primary_keys(table) if db else []
    references = {fk["column"] for fk in await db.foreign_keys_for_table(table)} if db else set()
    if not keys or len(keys) != len(key_values or []) or not set(keys) <= references:
        return None
    names = []
    for column, value in zip(keys, key_values):
        label = (await datasette.expand_foreign_keys(database, table, column, [value])).get((column, value))
        if not label or label == value:
            return None
        names.append(str(label))
    return JOINED.join(names)


_H1 = re.compile(r"(<h1\b[^>]*>).*?(</h1>)", re.S)


def headed(html, words: str) -> Markup:
    """Datasette's page with its heading saying what the page is, as its title does: a row by its name
    ("similar_cases: <a case> \u2014 <another>", not its key), a query as an SQL query (not the database)."""
    return Markup(_H1.sub(lambda m: f"{m.group(1)}{escape(words)}{m.group(2)}", str(html), count=1))


@hookimpl
def prepare_jinja2_environment(env, datasette):
    env.filters["accessible"] = accessible
    # Datasette's markup, a piece of it put right: Jinja's replace escapes the piece of markup it looks for
    env.filters["kb_replace"] = lambda html, old, new: Markup(str(html).replace(str(old), str(new)))
    env.filters["kb_named_rows"] = named_rows
    env.filters["kb_named_download"] = named_download
    env.filters["kb_unlinked_rows"] = lambda html, rows, pks, database, table: unlinked_rows(
        datasette, html, rows, pks, database, table)
    env.filters["kb_headed"] = headed
    env.globals["kb_row_name"] = lambda database, table, key_values: row_name(datasette, database, table, key_values)
    env.filters["kb_labelled_tables"] = lambda html, database: labelled_tables(
        html, lambda t: present.table_label(datasette, database, t), lambda t: datasette.urls.table(database, t))
