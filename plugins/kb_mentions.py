"""Other cases a case's text mentions by id ("told in the separate case barnet-capita-outsourcing"):
a reader sees the case's title, a link on the case page, never the id. The ids are those of the
database being served, so a case added or renamed needs no change here."""
from __future__ import annotations

import re
import sqlite3
from functools import lru_cache
from pathlib import Path

from markupsafe import escape

# A case id is a run of word characters and hyphens; a run found in text is looked up, so the cost
# of a passage does not grow with the number of cases (one alternation of every id did: 9 s to
# compile and 3.7 ms a passage at 10,000 cases). When every id has a hyphen, as slugs of titles do,
# only runs with one are looked up, which halves the cost of an ordinary passage.
# Highlighting may split an id: "barnet-<mark>capita</mark>-outsourcing".
MARK = r"(?:</?mark>)*"


def _patterns(hyphen: bool) -> tuple[re.Pattern, re.Pattern]:
    word = r"[\w-]*-[\w-]*" if hyphen else r"[\w-]+"
    plain = re.compile(r"(?<![\w-])" + word + r"(?![\w-])")
    # the run may be cut by marks anywhere, and the hyphen may be in any piece
    pieces = r"[\w-]+(?:(?:</?mark>)+[\w-]+)*"
    marked = re.compile(r"(?<![\w-])" + MARK + pieces + MARK + r"(?!" + MARK + r"[\w-])")
    return plain, marked


@lru_cache(maxsize=8)
def _cases(path: str, mtime: float) -> tuple[dict[str, str], re.Pattern, re.Pattern]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        titles = dict(conn.execute("select id, title from cases").fetchall())
    except sqlite3.Error:
        titles = {}
    finally:
        conn.close()
    return (titles, *_patterns(all("-" in i for i in titles)))


def _known(db_path):
    path = Path(db_path)
    return _cases(str(path), path.stat().st_mtime)


def name_cases(db_path, text: str | None) -> str | None:
    """Plain text with each known case id put as that case's title."""
    titles, plain, _ = _known(db_path)
    if not text or not titles:
        return text
    return plain.sub(lambda m: titles.get(m.group(0), m.group(0)), text)


def link_cases(db_path, html: str | None, url_of) -> str | None:
    """HTML with each known case id in its text (not in a tag, nor already in a link) made a link to
    that case, its title as the link's text; url_of(case_id) gives the address."""
    titles, plain, _ = _known(db_path)
    if not html or not titles:
        return html
    out, in_link = [], 0
    for part in re.split(r"(<[^>]+>)", html):
        if part.startswith("<"):
            in_link += 1 if re.match(r"<a[\s>]", part) else -1 if part.startswith("</a") else 0
        elif not in_link:
            part = plain.sub(lambda m: f'<a href="{escape(url_of(m.group(0)))}">{escape(titles[m.group(0)])}</a>'
                             if m.group(0) in titles else m.group(0), part)
        out.append(part)
    return "".join(out)


def name_cases_in_passage(db_path, html: str | None) -> str | None:
    """A highlighted passage with each known case id put as the case's title; a highlight that began
    or ended inside the id is kept open or closed around the title, so the marks stay balanced."""
    titles, plain, marked = _known(db_path)
    # most passages name no case: finding that on the text without marks is five times cheaper
    if not html or not any(m.group(0) in titles for m in plain.finditer(re.sub(r"</?mark>", "", html))):
        return html

    def title(m):
        found = m.group(0)
        key = re.sub(r"</?mark>", "", found)
        if key not in titles:
            return found
        opened = found.count("<mark>") - found.count("</mark>")
        return ("</mark>" if opened < 0 else "") + str(escape(titles[key])) + ("<mark>" if opened > 0 else "")

    return marked.sub(title, html)
