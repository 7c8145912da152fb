"""Datasette's own pages for data users (all tables and SQL, a query's results, the tables readers are
not shown) made usable with a screen reader: headings that never skip a level, and a name for every
form control. The templates pass Datasette's markup through the `accessible` filter, rather than
keep a copy of each upstream template; a test checks every rule still finds its markup."""
from __future__ import annotations

import re

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


@hookimpl
def prepare_jinja2_environment(env, datasette):
    env.filters["accessible"] = accessible
    env.filters["kb_labelled_tables"] = lambda html, database: labelled_tables(
        html, lambda t: present.table_label(datasette, database, t), lambda t: datasette.urls.table(database, t))
