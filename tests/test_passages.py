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
