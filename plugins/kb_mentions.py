"""Other cases a case's text mentions by id ("told in the separate case barnet-capita-outsourcing"):
a reader sees the case's title, a link on the case page, never the id. The ids are those of the
database being served, so a case added or renamed needs no change here."""
from __future__ import annotations

import re
import sqlite3
from functools import lru_cache
from pathlib import Path

from markupsafe import escape

# Highlighting may split an id: "barnet-<mark>capita</mark>-outsourcing".
MARK = r"(?:</?mark>)*"


@lru_cache(maxsize=8)
def _cases(path: str, mtime: float) -> tuple[dict[str, str], re.Pattern | None, re.Pattern | None]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        titles = dict(conn.execute("select id, title from cases").fetchall())
    except sqlite3.Error:
        return {}, None, None
    finally:
        conn.close()
    if not titles:
        return {}, None, None
    ids = sorted(titles, key=len, reverse=True)  # the longest first: one id may begin another
    plain = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, ids)) + r")(?![\w-])")
    marked = re.compile(r"(?<![\w-])" + MARK + "(" + "|".join(
        MARK.join(re.escape(c) for c in i) for i in ids) + ")" + MARK + r"(?!" + MARK + r"[\w-])")
    return titles, plain, marked


def _known(db_path):
    path = Path(db_path)
    return _cases(str(path), path.stat().st_mtime)


def name_cases(db_path, text: str | None) -> str | None:
    """Plain text with each known case id put as that case's title."""
    titles, plain, _ = _known(db_path)
    if not text or plain is None:
        return text
    return plain.sub(lambda m: titles[m.group(1)], text)


def link_cases(db_path, html: str | None, url_of) -> str | None:
    """HTML with each known case id in its text (not in a tag, nor already in a link) made a link to
    that case, its title as the link's text; url_of(case_id) gives the address."""
    titles, plain, _ = _known(db_path)
    if not html or plain is None:
        return html
    out, in_link = [], 0
    for part in re.split(r"(<[^>]+>)", html):
        if part.startswith("<"):
            in_link += 1 if re.match(r"<a[\s>]", part) else -1 if part.startswith("</a") else 0
        elif not in_link:
            part = plain.sub(lambda m: f'<a href="{escape(url_of(m.group(1)))}">{escape(titles[m.group(1)])}</a>', part)
        out.append(part)
    return "".join(out)


def name_cases_in_passage(db_path, html: str | None) -> str | None:
    """A highlighted passage with each known case id put as the case's title; a highlight that began
    or ended inside the id is kept open or closed around the title, so the marks stay balanced."""
    titles, _, marked = _known(db_path)
    if not html or marked is None:
        return html

    def title(m):
        found = m.group(0)
        opened = found.count("<mark>") - found.count("</mark>")
        key = re.sub(r"</?mark>", "", m.group(1))
        return ("</mark>" if opened < 0 else "") + str(escape(titles[key])) + ("<mark>" if opened > 0 else "")

    return marked.sub(title, html)
