"""Query words: the content words and word pairs of a query, simple stems, and highlighting."""
from __future__ import annotations

import html
import re
import threading
from functools import lru_cache

import snowballstemmer

# Function words, left out of queries and of the evaluation set's no-shared-words check alike.
STOPWORDS = frozenset("""a an and are as at be been being but by can could do does doing done for from had has have
how i in into is it its like me my of on onto or our ours so than that the their them then there these they this
those to was we were what when where which while who whom whose why will with would you your yours about any some
more most such all also after before during once other others over under only very just each should shall must
might without within between through""".split())
# A snowball stemmer keeps its word in the object while it works: one per thread (the site searches
# from several threads at once; a shared one raised IndexError under load).
_STEMMERS = threading.local()


def _words(query: str) -> list[str]:
    return re.findall(r"[\w£%]+(?:[.,]\d+)?", query.lower())


def _is_term(word: str) -> bool:
    return word not in STOPWORDS and len(word) > 1 or word.isdigit()


def terms_of(query: str) -> list[str]:
    """The query's distinct content words, in order."""
    return list(dict.fromkeys(w for w in _words(query) if _is_term(w)))


def phrases_of(query: str) -> list[str]:
    """Pairs of content words that stand side by side in the query ("one council", "channel shift"):
    a document with the pair as a phrase matches the query more closely than one with both apart."""
    words = _words(query)
    pairs = (f"{a} {b}" for a, b in zip(words, words[1:]) if _is_term(a) and _is_term(b))
    return list(dict.fromkeys(pairs))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Porter2 (Snowball) stem of a lower-case word: "sharing", "shared" and "shares" -> "share"."""
    stemmer = getattr(_STEMMERS, "english", None)
    if stemmer is None:
        stemmer = _STEMMERS.english = snowballstemmer.stemmer("english")
    return stemmer.stemWord(word)


def highlight(text: str, terms: list[str]) -> str:
    """HTML-escaped text with query words (and their simple inflections) in <mark>."""
    stems = {stem(t) for t in terms if len(t) > 1}
    out = []
    for piece in re.split(r"(\w+)", text):
        if piece and re.match(r"\w", piece) and stem(piece.lower()) in stems:
            out.append(f"<mark>{html.escape(piece)}</mark>")
        else:
            out.append(html.escape(piece))
    return "".join(out)


def query_stems(terms: list[str]) -> frozenset[str]:
    return frozenset(stem(t) for t in terms)


def term_hits(text: str, stems: frozenset[str]) -> int:
    """How many of the query's stems the text contains."""
    if not stems:
        return 0
    return len(stems & {stem(w) for w in re.findall(r"\w+", text.lower())})
