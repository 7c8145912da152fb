"""Query words: the content words and word pairs of a query, simple stems, and highlighting."""
from __future__ import annotations

import html
import re

STOPWORDS = frozenset("""a an and are as at be been but by can do does for from had has have how i in into is it its
like me my of on or our so than that the their them then there these they this to was we were what when where which
who why will with you your about any some more most such all also after before during once while""".split())


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


def stem(word: str) -> str:
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


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


def term_pattern(terms: list[str]) -> re.Pattern | None:
    """One regex for the query's word stems, to count which of them a passage contains."""
    stems = sorted({stem(t) for t in terms}, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(map(re.escape, stems)) + r")\w*", re.I) if stems else None


def term_hits(text: str, pattern: re.Pattern | None) -> int:
    return len({m.group(1).lower() for m in pattern.finditer(text)}) if pattern else 0
