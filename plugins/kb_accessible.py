"""Datasette's own pages for data users (all tables and SQL, a query's results, the tables readers are
not shown) made usable with a screen reader: headings that never skip a level, and a name for every
form control. The templates pass Datasette's markup through the `accessible` filter, rather than
keep a copy of each upstream template; a test checks every rule still finds its markup."""
from __future__ import annotations

import re
from html import unescape

from datasette import hookimpl
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


def add_labels(html: str) -> str:
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
    env.filters["kb_named_rows"] = named_rows
    env.filters["kb_headed"] = headed
    env.globals["kb_row_name"] = lambda database, table, key_values: row_name(datasette, database, table, key_values)
    env.filters["kb_labelled_tables"] = lambda html, database: labelled_tables(
        html, lambda t: present.table_label(datasette, database, t), lambda t: datasette.urls.table(database, t))
