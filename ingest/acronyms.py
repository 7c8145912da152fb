"""Names the collection writes out in capitals ("Local Government Pension Scheme", "Dedicated Schools
Grant", "Jaguar Land Rover"), by the acronym of their words' initials ("lgps", "dsg", "jlr"): what
search reads a query's acronym as where the collection writes the name and never the acronym.

acronym_phrases: one row per acronym and name (in lower case), with how many documents hold the
name; a name of three to six words each beginning with a capital, one function word allowed between
two of them ("Customer and Support Group"), read from every full-text column the schema declares.
The acronym is the initials of its words without the function words ("csg"), and also with them
where that differs ("Cheshire West and Chester": "cwc" and "cwac"); and two capitalised words joined by
"and" by their initials joined by "&", as officers clip a council's name ("Brighton and Hove": "b&h")."""
from __future__ import annotations

import re
from collections import Counter

from kb.schema import tables
from kb.vocabulary import STOPWORDS

TABLE = "acronym_phrases"
_FUNCTION = ("of", "and", "for", "the", "to", "in", "on", "&")
_CAPITALISED = r"[A-Z][a-z]+"
_OF = ("of", "the")  # before a pair of names ("Borough of Kensington and Chelsea")
_COUNCIL = ("city", "council", "borough", "county", "district")  # after one ("Brighton and Hove City Council")
NAME = re.compile(rf"(?<![\w-]){_CAPITALISED}(?:\s+(?:(?:{'|'.join(_FUNCTION)})\s+)?{_CAPITALISED})+(?![\w-])")


def acronyms_in(text: str) -> set[tuple[str, str]]:
    """(acronym, name in lower case) of every name in capitals in the text (see the module's note)."""
    found = set()
    for match in NAME.finditer(text or ""):
        words = match.group().split()
        while words and words[0].lower() in STOPWORDS:  # a sentence's first word ("In the Dorset Councils Partnership")
            words = words[1:]
        while words and words[-1].lower() in STOPWORDS:
            words = words[:-1]
        # two names joined by "and" as officers clip them ("Hammersmith and Fulham": "h&f"), the pair the
        # whole name or its end ("Royal Borough of Kensington and Chelsea", "Brighton and Hove City
        # Council"), not part of a longer name ("Cheshire West and Chester" is no "w&c")
        for k in range(len(words) - 2):
            before, after = words[k - 1].lower() if k else None, words[k + 3].lower() if k + 3 < len(words) else None
            if (words[k + 1] in ("and", "&") and words[k][0].isupper() and words[k + 2][0].isupper()
                    and (before is None or before in _OF) and (after is None or after in _COUNCIL)):
                found.add((f"{words[k][0]}&{words[k + 2][0]}".lower(), f"{words[k]} and {words[k + 2]}".lower()))
        content = [w for w in words if w.lower() not in _FUNCTION]
        if not 3 <= len(content) <= 6:
            continue
        name = " ".join(words).lower()
        for initials in {"".join(w[0] for w in content), "".join(w[0] for w in words if w != "&")}:
            found.add((initials.lower(), name))
    return found


def rows_acronyms(conn, where: dict[str, str]) -> Counter:
    """Documents holding each (acronym, name), over the rows of each table that `where` selects (all
    of them for a build; for a patch, the rows it replaces, then the rows it wrote)."""
    counts: Counter = Counter()
    for table in tables().values():
        if table.fts and table.name in where:
            columns = ", ".join(c.name for c in table.fts)
            for row in conn.execute(f"select {columns} from {table.name} where {where[table.name]}"):
                # each column on its own: a title does not run on into a heading
                counts.update(set().union(*(acronyms_in(text) for text in row)))
    return counts


def write_acronyms(conn) -> None:
    conn.execute(f"drop table if exists {TABLE}")
    conn.execute(f"create table {TABLE} (acronym text, phrase text, documents integer, primary key (acronym, phrase))")
    counts = rows_acronyms(conn, {t.name: "1" for t in tables().values() if t.fts})
    conn.executemany(f"insert into {TABLE} values (?, ?, ?)", [(a, p, n) for (a, p), n in sorted(counts.items())])


def patch_acronyms(conn, before: Counter, after: Counter) -> None:
    """What a fresh build would write, from the counts of the rows replaced before and after (see
    ingest/spelling.py's patch_words)."""
    change = Counter(after)
    change.subtract(before)
    for (acronym, phrase), delta in change.items():
        if delta:
            conn.execute(f"insert into {TABLE} values (?, ?, ?) on conflict(acronym, phrase) "
                         "do update set documents = documents + ?", [acronym, phrase, delta, delta])
    conn.execute(f"delete from {TABLE} where documents <= 0")
