"""Highlighting and the count of query words a passage holds give what their plain definitions give,
on every chunk of the corpus for every query (they were rewritten for speed, not to differ)."""
import html
import re

from search.evaluate import LESSON_QUERIES_FILE, load_queries
from search.text import highlight, query_stems, stem, term_hits, terms_of


def plain_highlight(text, terms):
    stems = {stem(t) for t in terms if len(t) > 1}
    out = []
    for piece in re.split(r"(\w+)", text):
        if piece and re.match(r"\w", piece) and stem(piece.lower()) in stems:
            out.append(f"<mark>{html.escape(piece)}</mark>")
        else:
            out.append(html.escape(piece))
    return "".join(out)


def plain_term_hits(text, stems):
    return len(stems & {stem(w) for w in re.findall(r"\w+", text.lower())}) if stems else 0


def test_highlight_and_term_hits_match_their_definitions(corpus_db):
    import sqlite3

    texts = [r[0] for r in sqlite3.connect(corpus_db).execute("select text from chunks")]
    texts += ['Tom & Jerry <b>"quoted"</b> it\'s £5m', "", "café naïve  words_with_underscores 3.5%",
              "Dying, lying, tying and vying happily; hoping for hopeful hopes",
              "\u0130stanbul sharing & shared"]  # lower() lengthens \u0130: highlight takes its other path
    queries = [q["query"] for q in load_queries()] + [q["query"] for q in load_queries(LESSON_QUERIES_FILE)]
    marked = hits = 0
    for query in queries[::8] + ["quot amp", "tom jerry", "die lie tie vie", "happy hope", "sharing istanbul"]:
        terms = terms_of(query)
        stems = query_stems(terms)
        for text in texts[::5] + texts[-4:]:
            got = highlight(text, terms)
            assert got == plain_highlight(text, terms), (query, text)
            assert term_hits(text, stems) == plain_term_hits(text, stems)
            assert term_hits(text, stems, kept=True) == plain_term_hits(text, stems)  # stemmed whole, and again kept
            assert term_hits(text, stems, kept=True) == plain_term_hits(text, stems)
            marked += "<mark>" in got
            hits += term_hits(text, stems)
    assert marked > 100 and hits > 100


def test_a_word_begins_with_its_stem_less_its_last_letter_but_for_the_listed_few():
    """What lets term_hits stem only the words that could match (search/text.py, IRREGULAR_STEMS),
    checked on an English word list of 82,834 words."""
    import importlib.resources

    from search.text import IRREGULAR_STEMS

    listed = importlib.resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    words = [line.split()[0] for line in listed.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(words) > 80_000
    odd = {w for w in words if not w.startswith(stem(w)[:-1] if len(stem(w)) > 1 else stem(w))}
    assert odd <= set(IRREGULAR_STEMS.values()), odd - set(IRREGULAR_STEMS.values())
    assert all(stem(w) == s for s, w in IRREGULAR_STEMS.items())


def plain_compound_highlight(text, terms):
    """highlight's definition with compounds ("in-house" as "in house"): a compound's words marked
    where they stand side by side, joined by nothing but spaces or a hyphen."""
    stems = {stem(t) for t in terms if len(t) > 1 and " " not in t}
    compounds = [[stem(w) for w in t.split()] for t in terms if " " in t]
    parts = re.split(r"(\w+)", text)
    words = [stem(parts[k].lower()) for k in range(1, len(parts), 2)]
    marked = [w in stems for w in words]
    for compound in compounds:
        for i in range(len(words) - len(compound) + 1):
            if words[i:i + len(compound)] == compound and all(
                    parts[2 * j + 2].strip() in ("", "-") for j in range(i, i + len(compound) - 1)):
                marked[i:i + len(compound)] = [True] * len(compound)
    return "".join(f"<mark>{p}</mark>" if k % 2 and marked[k // 2] else (p if k % 2 else html.escape(p))
                   for k, p in enumerate(parts))


def plain_compound_hits(text, terms):
    stems = query_stems(terms)
    words = re.findall(r"\w+", text.lower())
    found = len({s for s in stems if " " not in s} & {stem(w) for w in words})
    marked = plain_compound_highlight(text, [t for t in terms if " " in t])
    pieces = re.findall(r"((?:<mark>\w+</mark>(?:\s*-?\s*))+)", marked)
    runs = {" ".join(stem(w.lower()) for w in re.findall(r"<mark>(\w+)</mark>", p)) for p in pieces}
    return found + sum(any(f" {s} " in f" {r} " for r in runs) for s in stems if " " in s)


def test_compounds_are_marked_and_counted_only_where_their_words_stand_together(corpus_db):
    """A passage is stemmed whole for a compound only where it holds every word of one (search/text.py,
    _could_stand_together): the answers are those of the definition, with and without the words."""
    import sqlite3

    texts = [r[0] for r in sqlite3.connect(corpus_db).execute("select text from chunks")]
    texts += ["An in-house team, in house and in the house", "Drop-in centres; a drop in numbers; drop - in",
              "out of hours, out-of-hours and out of the hours", "housing providers in-house"]
    marked = counted = 0
    for query in ("in-house lawyers", "drop-in centres", "out-of-hours service", "buy-in from members"):
        terms = terms_of(query)
        assert any(" " in t for t in terms)
        for text in texts[::3] + texts[-4:]:
            assert highlight(text, terms) == plain_compound_highlight(text, terms), (query, text)
            for kept in (False, True):
                assert term_hits(text, query_stems(terms), kept) == plain_compound_hits(text, terms), (query, text)
            marked += "<mark>" in highlight(text, [t for t in terms if " " in t])
            counted += term_hits(text, query_stems([t for t in terms if " " in t]))
    assert marked > 10 and counted > 10


def test_a_wrapped_line_that_starts_with_a_number_keeps_it():
    """A bullet wrapped before a year ("has run since\\n  2007. They ...") reads as the page shows it:
    the year was taken for a list's number and dropped from the passage, the search snippet and the
    full text ("has run since They operate")."""
    from kb.parse import plain_text

    assert plain_text("- Three councils have shared services since\n  2007. They share one structure.") == \
        "Three councils have shared services since 2007. They share one structure."
    assert plain_text("1. *First* [step](https://example.org)\n2. second > third, # kept") == \
        "First step second > third, # kept"
