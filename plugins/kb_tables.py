"""Table and row pages made for readers: labels instead of slugs, lists as tags, money as £, the
body columns left out, a plain title per table, chips for the filters in force, and a message
naming the nearest term when a facet value in the URL is misspelt.

Column labels, help, vocabularies and types are what the build stored in kb.db (kb/site_metadata.py)."""
from __future__ import annotations

import os
import re
import sqlite3
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from datasette.utils import tilde_encode, urlsafe_components
from markupsafe import Markup, escape

from kb.amounts import printed_range
from kb.schema import facets
from kb.site import for_datasette, plugin_module, under_base_url




present = plugin_module(__file__, "kb_present")
mentions = plugin_module(__file__, "kb_mentions")

# What each public table is called on the site, how it sorts and how many rows a page shows.
TITLES = {"cases": "Case studies", "lessons": "Lessons and findings", "figures": "Money figures",
          "sources": "Source reports", "organisations": "Organisations", "terms": "Vocabulary terms"}
NOUNS = {"cases": ("case study", "case studies"), "lessons": ("lesson or finding", "lessons and findings"),
         "figures": ("money figure", "money figures"), "sources": ("source report", "source reports"),
         "organisations": ("organisation in a case", "organisations in cases"), "terms": ("term", "terms")}
# cases: by id, which reads as the title; organisations by name, so that one council's cases sit together
DEFAULT_SORT = {"sources": "date", "terms": "vocabulary", "organisations": "name"}
# The build's join tables, for data users (off the public index, with the build's own tables): named in
# words, and the similar cases, which the schema does not declare, with what their columns hold. A page
# of "similar_cases" with a "score" of -0.0168 told a data user nothing.
JOINS = {"case_sources": {"title": "Cases and their reports"},
         "similar_cases": {
             "title": "Similar cases",
             "description": "For each case, the five cases most like it, in the order its page lists them.",
             "columns": {"case_id": "The case.", "similar_id": "A case like it.",
                         "rank": "Its place in the case's list: 1 is the most alike.",
                         "score": "How alike the two cases are, by what their texts mean and the approaches, services "
                                  "and key attributes they share, less how alike each is to every case (so that a case "
                                  "near every other does not top every list): higher is more alike, and it may be below 0.",
                         "reason": "What the two share, as the case's page says it."}}}
PAGE_SIZE = 25
# The columns a table page lists, in order (the rest are in JSON and CSV, and on each row's page).
# "title" is the row's link; "years" is year_start and year_end in words; "from" the case or report.
LISTED = {
    "cases": ["title", "council_types", "services", "approaches", "years", "outcome", "headline_saving",
              "achieved_annual_saving_gbp"],
    "lessons": ["title", "from", "theme", "council_types", "services", "approaches"],
    "figures": ["title", "case_id", "kind", "amount_gbp", "period", "per_year", "status", "source_id"],
    "sources": ["title", "publisher", "date", "licence", "cases_count"],
    "organisations": ["title", "case_id", "council_type", "region", "role"],
    "terms": ["title", "vocabulary_label", "definition"],
}
# Columns of words a sort would order as letters: "£75 million ..." came between "£750,000" and "£6 million"
# (a reader's review); the amount beside it sorts
UNSORTED = {"cases": {"headline_saving"}}
# The line under a row's title, where a table has one.
SUBTITLE = {"cases": "organisation_names"}
# A title other rows share ("£1 million", "Planned") names its row in words a screen reader reads after
# it, from the row's own cells: a list of links held several of one name leading to different rows.
SHARED_TITLE = {"figures": ", figure {position} of {case_id}", "terms": " ({vocabulary_label})",
                "organisations": ", in {case_id}", "lessons": ", from {from}"}
# A table whose rows are one thing's part in each case (an organisation in each of its cases): its title
# is one link, to all its rows, wherever it is, unless the row's name is no one's (anonymised).
ONE_THING = {"organisations": "anonymised"}
SORT_BY = {"years": "year_start", "title": None}
LOOKUPS = ("exact", "arraycontains")
# Every other condition Datasette reads from an address ("year_start__gt=2015"), in words for its chip
CONDITIONS = {"not": "not {v}", "arraynotcontains": "not {v}", "contains": "contains \u201c{v}\u201d",
              "startswith": "starts with \u201c{v}\u201d", "endswith": "ends with \u201c{v}\u201d",
              "gt": "more than {v}", "gte": "at least {v}", "lt": "less than {v}", "lte": "at most {v}",
              "like": "like \u201c{v}\u201d", "notlike": "not like \u201c{v}\u201d", "glob": "matches \u201c{v}\u201d",
              "in": "one of {v}", "notin": "none of {v}", "date": "on {v}", "isnull": "empty", "notnull": "not empty",
              "isblank": "blank", "notblank": "not blank"}
# The table's CSV is the stored data (codes, lists as JSON) for programs; the search's CSV names
# everything in words, for a spreadsheet. Offered where the table's filters are all ones the
# search has (a word search of the table ranks differently, so it is not passed on).
SPREADSHEET = {"cases": [], "lessons": [("target", "lessons")]}
PAGING = ("_sort", "_sort_desc", "_next", "_size", "_nocol", "_col", "_stream", "_facet")
# A place in a case file of the repository ("cases/<id>.md:93"), as the build records a case's lesson
CASE_FILE = re.compile(r"cases/([\w-]+)\.md:\d+")


@hookimpl
def get_metadata(datasette, key, database, table):
    out = {}
    db = present.kb_database(datasette)
    if db is None:
        return {}
    tables = {name: {"title": title, "size": PAGE_SIZE} for name, title in TITLES.items()}
    for name, column in DEFAULT_SORT.items():
        tables[name]["sort"] = column
    # every other table is the build's or the site's own (vectors, postings, similar cases...): off
    # the public index, whatever a later build adds
    for name in _table_names(db.path):
        if name not in TITLES:
            tables[name] = {"hidden": True, **for_datasette(JOINS.get(name, {}))}
    out[db.name] = {"title": "All tables and SQL", "tables": tables}
    return {"databases": out}


_NAMES: dict[tuple[str, float], tuple[str, ...]] = {}


def _table_names(path: str) -> tuple[str, ...]:
    """The database file's tables, read once per version of the file (get_metadata is synchronous
    and called on every page)."""
    key = (path, os.stat(path).st_mtime)
    if key not in _NAMES:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            _NAMES.clear()
            _NAMES[key] = tuple(r[0] for r in conn.execute("select name from sqlite_master where type = 'table'"))
        finally:
            conn.close()
    return _NAMES[key]


# -- cells -----------------------------------------------------------------------------------------
@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if table is None or database is None:
        return None
    db = datasette.databases.get(database)
    if db is None or not db.path:
        return None
    meta = present.table_meta(db.path, table)
    if not meta:
        return _referred(datasette, db, database, table, column, value)
    kind = meta.get("kb_types", {}).get(column)
    vocabulary = meta.get("kb_vocabularies", {}).get(column)
    reference = meta.get("kb_references", {}).get(column)
    if reference and value not in (None, ""):
        # a foreign key: the row it points to, by its title (table pages expand it; row pages do not)
        key, title = (value["value"], value["label"]) if isinstance(value, dict) else (value, None)
        href = datasette.urls.row(database, reference, tilde_encode(str(key)))

        async def linked():
            shown = title
            if shown is None:
                rows = (await db.execute(f"select title from [{reference}] where id = ?", [key])).rows
                shown = rows[0][0] if rows else key
            return Markup(f'<a href="{escape(href)}">{escape(shown or key)}</a>')
        return linked()
    if value in (None, ""):
        return Markup("")
    in_case_file = CASE_FILE.fullmatch(value) if isinstance(value, str) else None
    if in_case_file:
        # a case's own lesson points at its line in the case file: to a reader, the case's text
        case_id = in_case_file.group(1)
        href = datasette.urls.row(database, "cases", tilde_encode(case_id))

        async def in_its_case():
            # by the case's title: "its case" said nothing in a screen reader's list of links
            rows = (await db.execute("select title from cases where id = ?", [case_id])).rows
            return Markup(f'From the lessons of <a href="{escape(href)}">{escape(rows[0][0] if rows else case_id)}</a>')
        return in_its_case()
    if kind == "list":
        items = present.as_list(value)
        if vocabulary or column == "source_ids":
            items = [present.label(db.path, vocabulary, v) for v in items]
        return present.tags(items)
    if vocabulary == "figure_statuses":
        return _status_cell(db, row, value)
    if vocabulary:
        return escape(present.label(db.path, vocabulary, value))
    if kind == "boolean":
        return "Yes" if value else "No"
    if column.endswith("_gbp") or column == "percent":
        return _amount_cell(db, table, row, column, value)
    if column == "date":  # a report's date, stored as the file writes it ("2014-12")
        return escape(present.date_words(value))
    if isinstance(value, str) and " " in value:
        # prose (a figure's note) may name another case by its id; a key or an address has no space
        named = mentions.name_cases(db.path, value)
        return escape(named) if named != value else None
    return None


def _referred(datasette, db, database: str, table: str, column: str, value):
    """A key of a table the schema does not declare (the similar cases) that names a row of one it does:
    that row, linked by its label, as Datasette's table page shows it (its row page showed the raw key)."""
    reference = present.foreign_keys(db.path, table).get(column)
    if reference is None or not isinstance(value, (str, int)) or value == "":
        return None
    other, key = reference
    label = present.table_meta(db.path, other).get("label_column")
    if not label:
        return None

    async def linked():
        rows = (await db.execute(f"select [{label}] from [{other}] where [{key}] = ?", [value])).rows
        if not rows or not rows[0][0]:
            return None
        href = datasette.urls.row(database, other, tilde_encode(str(value)))
        return Markup(f'<a href="{escape(href)}">{escape(rows[0][0])}</a>')
    return linked()


# The figure texts behind an amount column, for a row: a range's amount is only its lower end.
BEHIND = {("figures", "amount_gbp"): "select text from figures where id = :id",
          ("figures", "percent"): "select text from figures where id = :id",
          ("cases", "achieved_annual_saving_gbp"): """select text from figures where case_id = :id and kind = 'saving'
              and status = 'achieved' and per_year and amount_gbp = :amount"""}


def _amount_cell(db, table: str, row, column: str, value):
    """£ with separators, or a percentage; a figure printed as a range as printed ("2-3%"), with the
    lower end it counts as."""
    counted = f"{value:g}%" if column == "percent" else present.money(value)
    sql = BEHIND.get((table, column))
    keys = row.keys() if hasattr(row, "keys") else ()
    if sql is None or "id" not in keys:
        return counted

    async def as_printed():
        texts = [t for (t,) in (await db.execute(sql, {"id": row["id"], "amount": value})).rows]
        printed = next((r for r in map(printed_range, texts) if r), None)
        return escape(f"{printed} (counted as {counted})") if printed else counted
    return as_printed()


def _status_cell(db, row, status):
    """A figure's status in the words of its kind (a cost is "Actual", not "Achieved")."""
    keys = row.keys() if hasattr(row, "keys") else ()
    if "kind" in keys:
        return escape(present.figure_status(db.path, status, row["kind"]))
    if "id" not in keys:
        return escape(present.label(db.path, "figure_statuses", status))

    async def of_its_kind():
        rows = (await db.execute("select kind from figures where id = ?", [row["id"]])).rows
        return escape(present.figure_status(db.path, status, rows[0][0] if rows else None))
    return of_its_kind()


# -- the table page --------------------------------------------------------------------------------
def _query_without(pairs: list[tuple[str, str]], drop: tuple[str, str] | None = None, keep_only=None) -> str:
    kept = [(k, v) for k, v in pairs if (k, v) != drop and (keep_only is None or k in keep_only)]
    return ("?" + urlencode(kept)) if kept else ""


def _filters(db_path, table: str, meta: dict, pairs: list[tuple[str, str]], base: str):
    """The filters in force as chips, and a message for each facet value that names no term."""
    labels = meta.get("kb_labels", {})
    vocabularies = present.terms(db_path)
    sources = present.source_titles(db_path)
    chips, misspelt = [], []
    for key, value in pairs:
        if key == "_search":
            chips.append({"label": f"Words: \u201c{value}\u201d", "href": base + _query_without(pairs, (key, value))})
            continue
        if key == "_where":  # a data user's own SQL: shown as written, so that it can be taken off too
            chips.append({"label": f"SQL condition: {value}", "href": base + _query_without(pairs, (key, value))})
            continue
        if key.startswith("_"):
            continue
        column, _, lookup = key.partition("__")
        if lookup and lookup not in LOOKUPS + tuple(CONDITIONS) or column not in labels:
            continue
        # a chip names the value as its facet does ("Review due: Yes", not "Review due: 1"), and any
        # other condition in words ("From: more than 2015"): a filter not shown was a table cut short unseen
        shown = _value_label(db_path, meta, column, value)
        if column.endswith("_gbp") and re.fullmatch(r"\d+(?:\.\d+)?", str(value)):
            shown = present.money(float(value))
        if lookup in CONDITIONS:
            shown = CONDITIONS[lookup].format(v=shown)
        chips.append({"label": f"{labels[column]}: {shown}", "href": base + _query_without(pairs, (key, value))})
        if lookup in CONDITIONS:
            continue
        vocabulary = meta.get("kb_vocabularies", {}).get(column)
        is_source = column in ("source_ids", "source_id")
        # a value that names nothing known: (the column in words, what it should name, the nearest
        # known value, that value in words)
        unknown = None
        if vocabulary and vocabulary in vocabularies and value not in vocabularies[vocabulary].terms:
            vocab = vocabularies[vocabulary]
            guess = vocab.suggest(value)
            unknown = (labels[column].lower(), vocab.label.lower(), guess, vocab.label_of(guess) if guess else None)
        elif column in meta.get("kb_vocabulary_keys", ()) and vocabularies and value not in vocabularies:
            guess = next(iter(_close(value, list(vocabularies))), None)
            unknown = (labels[column].lower(), "vocabulary", guess, vocabularies[guess].label if guess else None)
        elif is_source and value not in sources:
            guess = next(iter(_close(value, list(sources))), None)
            unknown = ("source", "source", guess, sources.get(guess))
        if unknown:
            name, kind, guess, guess_label = unknown
            fixed = [(k, guess if (k, v) == (key, value) else v) for k, v in pairs] if guess else None
            misspelt.append({"column": name, "value": value, "kind": kind, "guess": guess_label,
                             "href": base + _query_without(fixed) if fixed else None})
    return chips, misspelt


def _close(value: str, options: list[str]) -> list[str]:
    import difflib

    return difflib.get_close_matches(value, options, n=3, cutoff=0.5)


def _row_view(datasette, db, database: str, table: str, meta: dict):
    """A function the template calls for each row: its link, title, the line under it and its cells."""
    label_column = meta.get("label_column")
    labels = meta.get("kb_labels", {})
    subtitle = SUBTITLE.get(table)
    shared = present.shared_labels(db.path, table, label_column) if label_column else frozenset()
    base = datasette.urls.table(database, table)

    def words(cell) -> str:
        raw = (cell or {}).get("raw")
        return str(raw.get("label") or raw.get("value")) if isinstance(raw, dict) else ("" if raw is None else str(raw))

    def view(row):
        cells = {c["column"]: c for c in row.cells}
        link = next((c for c in row.cells if c.get("value_type") == "pk"), None)
        href = None
        if link is not None:
            found = re.search(r'href="([^"]+)"', str(link["value"]))
            href = found.group(1) if found else None
        title = cells[label_column]["raw"] if label_column in cells else (link["raw"] if link else "")
        amount = (cells.get("amount_gbp") or {}).get("raw")
        if table == "figures" and amount is not None and re.fullmatch(r"[\d.,\s]+", str(title or "")):
            # a figure printed in a table in £ millions ("12.54") read as a bare number: its amount first
            title = f"{present.money(amount)} (printed as \u201c{title}\u201d)"
        out = {"href": href, "title": title, "sub": None, "cells": [], "context": ""}
        if table in ONE_THING and not (cells.get(ONE_THING[table]) or {}).get("raw"):
            out["href"] = base + "?" + urlencode([(label_column, title)])
        elif title in shared and table in SHARED_TITLE:
            out["context"] = _shared_title(table, {c: words(cells.get(c)) for c in present.table_columns(db.path, table)})
        if subtitle in cells:
            out["sub"] = ", ".join(present.as_list(cells[subtitle]["raw"]))
        for name in LISTED.get(table, [c for c in cells if c != label_column]):
            if name == "title":
                continue
            if name == "years":
                start, end = cells.get("year_start", {}).get("raw"), cells.get("year_end", {}).get("raw")
                out["cells"].append(("Years", present.years(start, end)))
            elif name == "from":
                which = "case_id" if cells.get("case_id", {}).get("raw") else "source_id"
                out["cells"].append(("From", cells[which]["value"] if which in cells else ""))
            elif name in cells:
                empty = cells[name]["raw"] in (None, "", "[]")
                out["cells"].append((labels.get(name, name.replace("_", " ").capitalize()),
                                     "" if empty else cells[name]["value"]))
        return out

    return view


def _value_label(db_path, meta: dict, column: str, value) -> str:
    """A facet value in words: a term's label, a case's or a report's title, yes or no, a vocabulary's name."""
    reference = meta.get("kb_references", {}).get(column)
    if reference and reference != "sources":
        return present.row_titles(db_path, reference).get(value, value)
    if column in meta.get("kb_vocabulary_keys", ()):
        return present.vocabulary_label(db_path, value)
    vocabulary = meta.get("kb_vocabularies", {}).get(column)
    if vocabulary or column == "source_ids" or meta.get("kb_references", {}).get(column) == "sources":
        return present.label(db_path, vocabulary, value)
    if meta.get("kb_types", {}).get(column) == "boolean":
        # a chip's value is whatever the address says: "review_due=yes" matches no row, so it is not "No"
        if value in (1, "1", True):
            return "Yes"
        if value in (0, "0", False, None):
            return "No"
    return value


def _position(names: list[str], name: str) -> int:
    return names.index(name) if name in names else len(names)


def _columns(table: str, meta: dict, label_column: str | None) -> list[dict]:
    labels = meta.get("kb_labels", {})
    help_ = meta.get("columns", {})
    out = []
    for name in LISTED.get(table, []):
        if name == "title":
            out.append({"label": labels.get(label_column, "Title"), "sort": label_column, "help": help_.get(label_column)})
        elif name == "years":
            out.append({"label": "Years", "sort": "year_start", "help": "When the initiative ran.", "desc_first": True})
        elif name == "from":
            out.append({"label": "From", "sort": None, "help": "The case, or the report for a cross-cutting finding."})
        else:
            out.append({"label": labels.get(name, name.replace("_", " ").capitalize()),
                        "sort": None if meta.get("kb_types", {}).get(name) == "list" or name in UNSORTED.get(table, ()) else name,
                        "help": help_.get(name),
                        # amounts, counts and dates read best largest or newest first
                        "desc_first": meta.get("kb_types", {}).get(name) in ("float", "integer") or name == "date"})
    for column in out:  # help that only says the label again ("Title: Title.") tells a reader nothing
        if (column["help"] or "").strip().rstrip(".").lower() == column["label"].lower():
            column["help"] = None
    return out


def _spreadsheet(datasette, table: str, pairs: list[tuple[str, str]]) -> str | None:
    """The search's CSV of the same rows (see SPREADSHEET), or None."""
    if table not in SPREADSHEET:
        return None
    searchable = {f.column for f in facets("case")}
    params = list(SPREADSHEET[table])
    for key, value in pairs:
        column, _, lookup = key.partition("__")
        if key.startswith(PAGING):
            continue
        if column not in searchable or lookup not in ("", *LOOKUPS):
            return None
        params.append((column, value))
    return datasette.urls.path("/-/search.csv") + (f"?{urlencode(params)}" if params else "")


def _matched(pairs: list[tuple[str, str]]) -> str:
    """What the rows shown match, in words: "your words", "your filters" or both."""
    words = any(k == "_search" and v.strip() for k, v in pairs)
    filters = any(k == "_where" or not k.startswith("_") for k, _ in pairs)
    return " and ".join(part for part, there in (("your words", words), ("your filters", filters)) if there)


def _search_instead(datasette, table: str, pairs: list[tuple[str, str]]) -> dict | None:
    """The site's search for the words of a table's own word search, with the filters in force that
    the search has: it corrects spelling and searches by meaning, where the table's search matches
    words as typed (offered when that finds nothing, rather than a dead end)."""
    words = next((v for k, v in pairs if k == "_search" and v.strip()), None)
    if table not in SPREADSHEET or words is None:
        return None
    searchable = {f.column for f in facets("case")}
    params = list(SPREADSHEET[table]) + [("q", words)]
    for key, value in pairs:
        column, _, lookup = key.partition("__")
        if column in searchable and lookup in ("", *LOOKUPS):
            params.append((column, value))
    return {"label": f"Search {TITLES[table].lower()} for \u201c{words}\u201d",
            "href": datasette.urls.path("/-/search") + "?" + urlencode(params)}


async def _table_vars(datasette, database: str, table: str, request) -> dict:
    db = datasette.get_database(database)
    meta = present.table_meta(db.path, table)
    pairs = parse_qsl(request.query_string, keep_blank_values=False)
    base = datasette.urls.table(database, table)
    chips, misspelt = _filters(db.path, table, meta, pairs, base)
    label_column = meta.get("label_column")
    facet_labels = {**meta.get("kb_labels", {})}
    catalogue = [f["column"] for f in present.facet_catalogue(db.path)]
    return {"kb_table": {
        "title": TITLES.get(table, table.replace("_", " ").capitalize()),
        "noun": lambda n: NOUNS.get(table, ("row", "rows"))[0 if n == 1 else 1],
        "description": meta.get("description"),
        "columns": _columns(table, meta, label_column),
        "row": _row_view(datasette, db, database, table, meta),
        "chips": chips,
        # what the count says the rows match: a word search alone is no filter the reader set
        "matched": _matched(pairs),
        "spreadsheet": _spreadsheet(datasette, table, pairs),
        "for_programs": lambda url: _for_programs(url, meta),
        "search_instead": _search_instead(datasette, table, pairs),
        # what a new search keeps: the filters and sort in force
        "hidden": [(k, v) for k, v in pairs if k not in ("_search", "_next", "_nocol", "_col")],
        "clear_url": base + _query_without(pairs, keep_only=("_sort", "_sort_desc")),
        "misspelt": misspelt,
        "facet_label": lambda name: facet_labels.get(name, name.replace("_", " ").capitalize()),
        "value_label": lambda name, value: _value_label(db.path, meta, name, value),
        "listed": table in LISTED,
        # facets in the order the schema declares them
        # the facets a search offers first, in their order, then the table's own
        "ordered": lambda facets: sorted(_once(facets), key=lambda f: (_position(catalogue, f["name"]),
                                                                        _position(meta.get("kb_columns") or [], f["name"]))),
    }}


def _for_programs(url: str, meta: dict) -> str:
    """The table's JSON link as a program reads it best: each row an object, each list of tags a JSON
    list rather than a string of JSON (`_json=`), and every reference as its plain id, where Datasette's
    own link (`_labels=on`) made the references of some tables {"value": ..., "label": ...}."""
    base, _, query = url.partition("?")
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "_labels"]
    if not any(k == "_shape" for k, _ in pairs):
        pairs.append(("_shape", "objects"))
    pairs += [("_json", name) for name, kind in meta.get("kb_types", {}).items()
              if kind == "list" and ("_json", name) not in pairs]
    return base + "?" + urlencode(pairs)


def _once(facets) -> list:
    """Each facet once, where it first comes: an address may ask again for one the table offers
    ("_facet=kind"), which Datasette then lists twice."""
    first: dict = {}
    for f in facets:
        first.setdefault(f["name"], f)
    return list(first.values())


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    async def inner():
        if database is None or table is None or request is None:
            return {}
        db = datasette.databases.get(database)
        if db is None or not db.path:
            return {}
        if view_name == "table":
            return await _table_vars(datasette, database, table, request)
        if view_name == "row":
            meta = present.table_meta(db.path, table)
            references = meta.get("kb_references", {})
            # what a reader's row page leaves to the JSON: the row's own key (it is the address) and
            # its order within its case; and, where the row links to its case or report, that one's
            # title again under another name
            skip = [c for c in await db.primary_keys(table) if c not in references] + ["position"]
            if references and meta.get("label_column") != "title":
                skip.append("title")
            return {"kb_row_meta": {"title": TITLES.get(table, table), "listed": table in LISTED,
                                    "labels": meta.get("kb_labels", {}),
                                    "label_column": meta.get("label_column"), "public": meta.get("kb_columns"),
                                    "skip": skip, "noun": NOUNS.get(table, ("row", "rows"))[0],
                                    "tagged": await _tagged(datasette, db, table, request),
                                    "context": await _row_context(db, table, meta, request)}}
        return {}
    return inner


async def _row_context(db, table: str, meta: dict, request) -> str:
    """What names a row whose title other rows share, as its table page says it (SHARED_TITLE): the four
    "£1 million" figures' pages were all titled "Money figures: £1 million"."""
    label = meta.get("label_column")
    pks = await db.primary_keys(table)
    keys = urlsafe_components(request.url_vars.get("pks", ""))
    if table not in SHARED_TITLE or not label or not pks or len(keys) != len(pks):
        return ""
    where = " and ".join(f"[{pk}] = ?" for pk in pks)
    rows = (await db.execute(f"select * from [{table}] where {where}", keys)).rows
    if not rows or rows[0][label] not in present.shared_labels(db.path, table, label):
        return ""
    said = {column: "" if value is None else str(value) for column, value in dict(rows[0]).items()}
    for column, other in meta.get("kb_references", {}).items():
        if said.get(column):
            said[column] = present.row_titles(db.path, other).get(said[column], said[column])
    return _shared_title(table, said)


def _shared_title(table: str, said: dict[str, str]) -> str:
    """SHARED_TITLE's words for a row, from its cells' words by column."""
    return SHARED_TITLE[table].format_map({**said, "from": said.get("case_id") or said.get("source_id", "")})  # a case's lesson, or a report's finding


async def _tagged(datasette, db, table: str, request) -> list[dict]:
    """A term's page leads to what it tags: the case studies and the lessons a search with that filter
    finds, with how many (the page of "Demand management" was a definition and nothing to follow)."""
    if table != "terms":
        return []
    keys = urlsafe_components(request.url_vars.get("pks", ""))
    if len(keys) != 2:
        return []
    vocabulary, slug = keys
    facet = next((f for f in present.facet_catalogue(db.path) if f.get("vocabulary") == vocabulary), None)
    if facet is None:
        return []
    column = facet["column"]
    if column not in present.table_columns(db.path, "cases"):
        return []
    holds = (f"exists (select 1 from json_each({column}) where value = :slug)" if facet.get("many")
             else f"{column} = :slug")
    term = facet.get("values", {}).get(slug, {}).get("label") or slug
    out = []
    for target, noun in (("cases", ("case study", "case studies")),
                         ("lessons", ("lesson from case studies", "lessons from case studies"))):
        if column not in present.table_columns(db.path, target):
            continue
        n = (await db.execute(f"select count(*) from [{target}] where {holds}", {"slug": slug})).rows[0][0]
        if n:
            query = urlencode([("target", "lessons")] * (target == "lessons") + [(column, slug)])
            # the link says all it leads to, read alone from a screen reader's list of links
            out.append({"label": f"{n:,} {noun[0] if n == 1 else noun[1]} with the {facet['label'].lower()} {term}",
                        "href": datasette.urls.path("/-/search") + "?" + query})
    return out


# -- body columns stay off table pages ---------------------------------------------------------------
def _hidden_columns(datasette, path: str) -> tuple[str, list[str]] | None:
    parts = under_base_url(path, datasette.setting("base_url")).strip("/").split("/")
    if len(parts) != 2:
        return None
    database, table = parts[0], re.sub(r"\.(json|csv)$", "", parts[1])
    db = datasette.databases.get(database)
    if db is None or not db.path:
        return None
    meta = present.table_meta(db.path, table)
    public = meta.get("kb_columns")
    if not public:
        return None
    every = present.table_columns(db.path, table)
    return table, [c for c in every if c not in public]


@hookimpl
def asgi_wrapper(datasette):
    """A table page without `_col` or `_nocol` leaves out the columns the schema keeps off the site
    (body_text, body_html, path): a case's text is on its own page, not in every row of a list."""
    def wrap(app):
        async def add_nocol(scope, receive, send):
            if scope.get("type") == "http" and scope.get("method") in ("GET", "HEAD"):  # HEAD is answered as the GET
                query = scope.get("query_string", b"").decode("latin-1")
                if "_col=" not in query and "_nocol=" not in query:
                    found = _hidden_columns(datasette, scope.get("path", ""))
                    if found and found[1]:
                        extra = urlencode([("_nocol", c) for c in found[1]])
                        query = f"{query}&{extra}" if query else extra
                        scope = dict(scope, query_string=query.encode("latin-1"))
            await app(scope, receive, send)
        return add_nocol
    return wrap
