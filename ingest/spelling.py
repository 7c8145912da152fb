"""The words the collection is written in, as typed (not stemmed), with how many documents hold each:
what search corrects a misspelt query word to (search/spelling.py).

spelling_words: one row per word of letters only (or words of letters joined by hyphens), three or
more long, found in any full-text column the schema declares (cases and lessons); `documents` counts
the rows holding it. Words come from a scratch full-text index with FTS5's own tokenizer (unicode61,
without stemming), so they split where search's index splits them."""
from __future__ import annotations

from collections import Counter

from kb.schema import tables

TABLE = "spelling_words"


def _sources() -> list[tuple[str, str]]:
    """(table, SQL for the text of its full-text columns as one string) for every full-text table."""
    return [(t.name, " || ' ' || ".join(f"coalesce({c.name}, '')" for c in t.fts)) for t in tables().values() if t.fts]


# Two readings of the same text: the index's own words, and words joined by a hyphen
# ("co-production", "self-service"), so that a query's "coproduction" is one edit from a word the
# collection has (the index splits it into "co" and "production", which no single edit reaches).
_READINGS = (("unicode61 remove_diacritics 2", lambda w: w.isalpha()),
             ("unicode61 remove_diacritics 2 tokenchars '-'", lambda w: "-" in w and all(p.isalpha() for p in w.split("-"))))


def rows_words(conn, where: dict[str, str]) -> Counter:
    """Documents holding each word, over the rows of each table that `where` selects (all of them for
    a build; for a patch, the rows it replaces, then the rows it wrote: see patch_words)."""
    counts: Counter = Counter()
    for tokenize, keep in _READINGS:
        quoted = tokenize.replace("'", "''")
        conn.execute(f"create virtual table temp.spelling_scratch using fts5(t, content='', detail=none, tokenize='{quoted}')")
        conn.execute("create virtual table temp.spelling_vocab using fts5vocab(temp, spelling_scratch, 'row')")
        try:
            for table, text in _sources():
                if table in where:
                    conn.execute(f"insert into temp.spelling_scratch(t) select {text} from {table} where {where[table]}")
            counts.update({w: n for w, n in conn.execute("select term, doc from temp.spelling_vocab")
                           if len(w) >= 3 and keep(w)})
        finally:
            conn.execute("drop table temp.spelling_vocab")
            conn.execute("drop table temp.spelling_scratch")
    return counts


def write_spelling_words(conn) -> None:
    conn.execute(f"drop table if exists {TABLE}")
    conn.execute(f"create table {TABLE} (word text primary key, documents integer)")
    counts = rows_words(conn, {table: "1" for table, _ in _sources()})
    conn.executemany(f"insert into {TABLE} values (?, ?)", sorted(counts.items()))


def patch_words(conn, before: Counter, after: Counter) -> None:
    """What a fresh build would write, from the counts of the rows replaced before and after: each
    row is one document, so counts move by the difference, and a word no row holds any more goes."""
    change = Counter(after)
    change.subtract(before)
    for word, delta in change.items():
        if delta:
            conn.execute(f"insert into {TABLE} values (?, ?) on conflict(word) do update set documents = documents + ?",
                         [word, delta, delta])
    conn.execute(f"delete from {TABLE} where documents <= 0")
