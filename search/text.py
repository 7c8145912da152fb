"""Query words: the content words and word pairs of a query, simple stems, and highlighting."""
from __future__ import annotations

import html
import re
import threading
import unicodedata
from decimal import Decimal
from functools import lru_cache

import snowballstemmer

from kb.amounts import printed_amount
from kb.vocabulary import STOPWORDS, acronyms_of  # declared in the core: the site explains the same acronyms

# Function words, left out of queries and of the evaluation set's no-shared-words check alike.
# A snowball stemmer keeps its word in the object while it works: one per thread (the site searches
# from several threads at once; a shared one raised IndexError under load).
_STEMMERS = threading.local()


# Marks a pasted query carries inside its words that the index never sees there: the soft hyphen
# (a line-break point from a web page or PDF: "re\u00adablement" is one word), the word joiner and
# byte-order mark, and the marks that set the direction of text. Left in, each split a word in two.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u2060\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def normalised(query: str) -> str:
    """The query in the characters the collection is written in: compatibility forms folded (NFKC: a
    ligature pasted from a PDF, "eﬃciency", is "efficiency"; full-width "ＡＳＣ" from a phone's
    keyboard is "ASC"; a no-break space is a space) and the invisible marks above left out."""
    return unicodedata.normalize("NFKC", query.translate(_INVISIBLE))


WORD_PATTERN = r"[\w£%]+(?:[.,]\d[\w%]*)*"  # a word, a figure ("£4.3m", "1,200") whole


def _is_term(word: str) -> bool:
    return word not in STOPWORDS and len(word) > 1 or word.isdigit()


# words joined by single hyphens, each word as _words reads it: a compound is found only among the
# query's own words, never inside a figure ("£1.2m-a-year" is the words £1.2m, a and year)
_HYPHENATED = re.compile(f"{WORD_PATTERN}(?:-{WORD_PATTERN})*")
# A sum of money in the short form a query gives it ("£2m", "£1.5bn", "£500k"); reports print the same
# sum as "£2 million", "£2million" or "£2m", and the index reads each as other words ("2m"; "2",
# "million"; "2million").
_AMOUNT = re.compile(r"£?(\d+(?:\.\d+)?)(m|mn|million|bn|billion|k)")
_UNITS = {"m": "m", "mn": "m", "million": "m", "bn": "bn", "billion": "bn", "k": "k"}
_LONG = {"m": "million", "bn": "billion"}


def _figure(value: Decimal) -> str:
    """A number as a report prints it: no trailing zeros after the point ("2.50" is "2.5", "2.0" is "2")."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _written(number: str, unit: str) -> list[str]:
    if unit == "k":
        return [f"£{number}k"] + ([f"£{int(number) * 1000:,}"] if number.isdigit() else [])
    return [f"£{number}{unit}", f"£{number} {_LONG[unit]}", f"£{number}{_LONG[unit]}"]


def amount_forms(term: str) -> list[str]:
    """The ways a report writes the sum of money a query term gives in short ("£2m": "£2m", "£2
    million", "£2million"; "£500k": "£500k", "£500,000"), or none when the term is no such sum. A
    sum below a million is written in thousands or as part of a million ("£750k", "£0.75 million"),
    and one below a billion in millions or as part of a billion: each finds the other."""
    match = _AMOUNT.fullmatch(term)
    if not match:
        return []
    number, unit = _figure(Decimal(match.group(1))), _UNITS[match.group(2)]
    value = Decimal(number)
    forms = _written(number, unit)
    if unit in ("m", "bn") and value < 1:
        forms += _written(_figure(value * 1000), "k" if unit == "m" else "m")
    elif unit == "k" and 100 <= value < 1000 and value % 10 == 0:  # £750k is £0.75m, not £0.756m
        forms += _written(_figure(value / 1000), "m")
    elif unit == "m" and value >= 1000 and value % 100 == 0:
        forms += _written(_figure(value / 1000), "bn")
    return forms


# A sum of money typed out ("£2 million", "2 million pounds", "half a million", "£500,000", "two
# billion") is read as its short form ("£2m", "£0.5m", "£500k", "£2bn"), one query word whose forms
# (amount_forms) are searched: as typed it would be the words "2", in any figure of any report, and
# "million". A figure before "thousand" or "k" is money only with "£" or "pounds" ("2,000 staff" is not).
_SPELT = {"a": "1", "an": "1", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
          "seven": "7", "eight": "8", "nine": "9", "ten": "10", "half a": "0.5", "a half": "0.5",
          "quarter of a": "0.25", "a quarter of a": "0.25", "three quarters of a": "0.75"}
_NUMBER = r"\d+(?:\.\d+)?|" + "|".join(sorted((w.replace(" ", r"\s+") for w in _SPELT), key=len, reverse=True))
_POUNDS = r"(?:\s+(?:pounds?|gbp|sterling)\b)"
_SPELT_SUM = re.compile(
    rf"(?<![\w.,£-])(£\s?)?({_NUMBER})(?:\s*(million|billion|thousand|mn|bn)|(m|k))\b({_POUNDS})?"
    rf"|(?<![\w.,£-])(£)?(\d{{1,3}}(?:,\d{{3}})+)\b(?!,\d|\.\d)({_POUNDS})?", re.I)
_SHORT = {"million": "m", "mn": "m", "m": "m", "billion": "bn", "bn": "bn", "thousand": "k", "k": "k"}


def _short_sum(match: re.Match) -> str:
    pound, number, long, short, pounds, pound2, grouped, pounds2 = match.groups()
    if grouped:  # "£500,000", "1,500,000 pounds"
        value = int(grouped.replace(",", ""))
        if not (pound2 or pounds2) or value % 1000:
            return match.group()
        return f"£{_figure(Decimal(value) / 1000000)}m" if value >= 1000000 else f"£{value // 1000}k"
    spelt = _SPELT.get(" ".join(number.lower().split()))
    if spelt and (long or "").lower() not in ("million", "billion", "thousand"):
        return match.group()  # "am" is no sum of money, nor "a bn"
    if (long or "").lower() == "thousand" and not (pound or pounds):
        return match.group()  # "2 thousand staff"
    number = spelt or number
    return f"£{_figure(Decimal(number))}{_SHORT[(long or short).lower()]}"


# A share written out ("20 per cent", "20 percent") is "20%", as most reports print it: the index reads
# each as the figure ("20"), and "per" and "cent" are no words of the query's subject.
_PER_CENT = re.compile(r"(?<![\w.,-])(\d+(?:\.\d+)?)\s*(?:per\s*cent|percent|pc)\b", re.I)


def figures_in_short(query: str) -> str:
    """The query with each sum of money typed out in the short form amount_forms reads (see _SPELT_SUM),
    and each share in per cent as "N%"."""
    if not re.search(r"\d|million|billion|thousand", query, re.I):
        return query
    return _PER_CENT.sub(r"\1%", _SPELT_SUM.sub(_short_sum, query))


# A sum of money given as a bound ("over £1m", "at least £500k", "£10m+", "under £100k", "between £1m
# and £5m"): the reader asks for any sum on that side of it, not for the sum as printed ("£1m" was
# found only where a report printed £1 million, and "least" was a query word).
_SUM = r"£\d+(?:\.\d+)?(?:m|bn|k)?"
_ABOVE = (r"over|above|more\s+than|at\s+least|in\s+excess\s+of|upwards\s+of|exceeding|greater\s+than|bigger\s+than"
          r"|no\s+less\s+than|not\s+less\s+than|(?:a\s+)?minimum\s+of")
_BELOW = r"under|below|less\s+than|at\s+most|up\s+to|no\s+more\s+than|not\s+more\s+than|smaller\s+than|(?:a\s+)?maximum\s+of"
_BOUND = re.compile(
    rf"\bbetween\s+({_SUM})\s+and\s+({_SUM})(?!\w)"
    rf"|\b(?P<above>{_ABOVE})\s+(?P<low>{_SUM})(?!\w)|(?<![\w£])(?P<low2>{_SUM})(?:\s*\+|\s+(?:or|and)\s+(?:more|over|above|upwards)\b)"
    rf"|\b(?P<below>{_BELOW})\s+(?P<high>{_SUM})(?!\w)|(?<![\w£])(?P<high2>{_SUM})\s+(?:or|and)\s+(?:less|under|below)\b", re.I)


def pounds(term: str) -> float | None:
    """The pounds a sum in its short form stands for ("£1.5m": 1,500,000), read as a figure's text is
    (kb/amounts.py), or None for no sum."""
    value = printed_amount(term)
    return float(value) if value is not None else None


def bounds_of(query: str) -> tuple[str, dict[str, tuple[float | None, float | None]]]:
    """The query (sums in their short form, see figures_in_short) with the words that make a sum a
    bound left out ("over", "at least", "or more"), and each such sum as terms_of reads it with the
    least and the most it allows ("savings over a million": "savings £1m", {"£1m": (1000000, None)};
    "between £1m and £5m": "£1m", {"£1m": (1000000, 5000000)}). A phrase in double quotes is to be
    found as written, bound or not."""
    short = figures_in_short(query)
    bounds: dict[str, tuple[float | None, float | None]] = {}
    quoted = [m.span() for m in QUOTED.finditer(short)]

    def bound(match: re.Match) -> str:
        if any(a < match.start() < b for a, b in quoted):
            return match.group()
        low, high = match.group(1), match.group(2)
        if low and high:
            least, most = pounds(low), pounds(high)
            if least > most:
                least, most = most, least
            bounds[low.lower()] = (least, most)  # one bound of the query, not two sums
            return low
        low = match.group("low") or match.group("low2")
        if low:
            bounds[low.lower()] = (pounds(low), None)
            return low
        high = match.group("high") or match.group("high2")
        bounds[high.lower()] = (None, pounds(high))
        return high

    return (_BOUND.sub(bound, short) if "£" in short else short), bounds


# A year given as a bound ("since 2015", "before 2010", "between 2010 and 2013", "2010 to 2013",
# "from 2019 onwards", "pre-2015"): a time, not a word to find. A financial year ("2015/16") is a word.
_YEAR = r"(?:19|20)\d\d"
_YEAR_BOUND = re.compile(
    rf"\b(?:between\s+(?P<first2>{_YEAR})\s+and\s+|(?:from\s+)?(?P<first>{_YEAR})\s*(?:-|\u2013|to|until)\s*)(?P<last>{_YEAR}|\d\d)(?![\w/])"
    rf"|\b(?P<after>since|after|post|from)[\s-]+(?P<from>{_YEAR})(?:\s+(?:on|onwards|onward))?(?![\w/])"
    rf"|(?<![\w/])(?P<from2>{_YEAR})\s+(?:onwards|onward|and\s+after|or\s+later)\b"
    rf"|\b(?P<before>before|pre|until|till|up\s+to|prior\s+to)[\s-]+(?P<to>{_YEAR})(?![\w/])", re.I)


def years_of(query: str) -> tuple[str, dict[str, tuple[int | None, int | None]]]:
    """The query with each year given as a bound as its year alone, and each such year with the first
    and the last year it allows ("lessons since 2015": "lessons 2015", {"2015": (2015, None)}; "before
    2015": (None, 2014); "from 2010 to 2013", "2010-13": {"2010": (2010, 2013)}). A report prints
    "2015/16" or "in 2013", which "since 2015" asks for no more than "2014/15". A phrase in double
    quotes is to be found as written."""
    years: dict[str, tuple[int | None, int | None]] = {}
    quoted = [m.span() for m in QUOTED.finditer(query)]

    def bound(match: re.Match) -> str:
        if any(a < match.start() < b for a, b in quoted):
            return match.group()
        if match.group("last"):
            first, last = match.group("first") or match.group("first2"), match.group("last")
            least, most = int(first), int(first[:2] + last if len(last) == 2 else last)
            if most < least:
                return match.group()  # "2019-13" is no span of years
            years[first] = (least, most)
            return first
        if match.group("from") or match.group("from2"):
            year = match.group("from") or match.group("from2")
            years[year] = (int(year) + (match.group("after") or "").lower().startswith("after"), None)
            return year
        year = match.group("to")
        years[year] = (None, int(year) - (match.group("before").lower() not in ("until", "till", "up to")))
        return year

    return _YEAR_BOUND.sub(bound, query), years


# A bound on a yearly sum ("over £1m a year") asks for a figure per year.
YEARLY = re.compile(r"\b(?:a|per|each|every)\s+(?:year|annum)\b|\bannual(?:ly)?\b|\byearly\b|\bp\.?a\.?(?!\w)", re.I)


# letters joined by single hyphens, as the collection's hyphenated words are read (ingest/spelling.py)
HYPHENATED_WORD = re.compile(r"(?<![\w-])[^\W\d_]+(?:-[^\W\d_]+)+(?![\w-])")
# a hyphen however typed or pasted (from a PDF: U+2010 hyphen, U+2011 non-breaking hyphen) is "-"
HYPHENS = str.maketrans({"\u2010": "-", "\u2011": "-"})


def _side_by_side(between: str) -> bool:
    """Whether two words with this between them stand together: nothing, spaces or a hyphen."""
    return between.translate(HYPHENS).strip() in ("", "-")


def capitals_of(query: str) -> frozenset[str]:
    """The words a query types in capitals ("IT", "SEND"; a plural "EHCPs" as "ehcp"), in lower case:
    a reader's sign of an acronym. None in a query of several words in capitals throughout, where
    capitals say nothing."""
    words = re.findall(r"\b([A-Z]{2,})(?:s)?\b", query)
    if not words or (query.upper() == query and len(query.split()) > 1):
        return frozenset()
    return frozenset(w.lower() for w in words)


# A contraction ("didn't", "doesn’t", "won't", "we're", "they've") is read as its words ("did not",
# "will not", "we are"): the index splits it at the apostrophe, so its parts were query words of their
# own that say nothing of a case ("didn", "doesn" and "re" were in no document and counted as the
# rarest words of the query; "won't" was the word "won"). A possessive "'s" is no contraction.
_CONTRACTION = re.compile(r"\b(?:(wo|ca|sha)|(\w+?))n['\u2019]t\b|\b(\w+)['\u2019](re|ve|ll|m|d)\b", re.I)
_NEGATED = {"wo": "will", "ca": "can", "sha": "shall"}
_CLITIC = {"re": "are", "ve": "have", "ll": "will", "m": "am", "d": "would"}


def _written_out(match: re.Match) -> str:
    irregular, stem_, word, clitic = match.groups()
    if clitic:
        return f"{word} {_CLITIC[clitic.lower()]}"
    return f"{_NEGATED[irregular.lower()] if irregular else stem_} not"


def contractions_written_out(query: str) -> str:
    """The query with each contraction written out as its words (see _CONTRACTION)."""
    return _CONTRACTION.sub(_written_out, query) if "'" in query or "\u2019" in query else query


def _units(query: str, capitals: frozenset[str] = frozenset()) -> list[tuple[str, bool]]:
    """The query's words in order, a hyphenated compound with a function word in it as one unit (its
    words joined by spaces) marked True: see terms_of. A word of `capitals` typed in capitals stays in
    capitals (see terms_of)."""
    typed = capitals_of(query) & capitals
    out: list[tuple[str, bool]] = []
    for match in _HYPHENATED.finditer(figures_in_short(contractions_written_out(query)).translate(HYPHENS)):
        parts = match.group().lower().split("-")
        if len(parts) > 1 and all(_WORDS.fullmatch(p) for p in parts) and any(p in STOPWORDS for p in parts):
            out.append((" ".join(parts), True))
        else:
            out.extend((w if w.isupper() and w.lower() in typed else w.lower(), False)
                       for w in re.findall(WORD_PATTERN, match.group()))
    return out


def terms_of(query: str, capitals: frozenset[str] = frozenset()) -> list[str]:
    """The query's distinct content words, in order; a hyphenated compound with a function word in
    it ("in-house", "face-to-face", "buy-or-build") is one term, its words as a phrase: its parts
    alone say something else ("house" is not "in-house"). `capitals`: acronyms that are also words
    ("it", "send"), read as the acronym only when typed in capitals ("IT", "SEND"), and then kept in
    capitals, even a function word ("IT" is information technology, "it" nothing)."""
    return list(dict.fromkeys(u for u, compound in _units(query, capitals) if compound or _is_term(u)))


# "-word", -"a phrase" or "NOT word" asks for documents without it, as search boxes everywhere read
# it: the minus sign stands first in the query or after a space ("in-house" and "cost-effective"
# hold none) before a letter ("-5%" is a figure), and NOT is in capitals ("what did not work" asks
# for nothing to be left out) in a query that is not in capitals throughout.
_EXCLUDED = re.compile(r'(?<!\S)(?:[-\u2212]|NOT\s+)(?:["\u201c]([^"\u201c\u201d]*)["\u201d]|([^\W\d_][\w\'\u2019-]*))')


def excluded_of(query: str) -> tuple[str, list[str]]:
    """The query without the words and phrases it asks to leave out (see _EXCLUDED), and those."""
    if query.upper() == query:  # in capitals throughout, "NOT" is a word like the others
        found = [m for m in _EXCLUDED.finditer(query) if not m.group().startswith("NOT")]
    else:
        found = list(_EXCLUDED.finditer(query))
    if not found:
        return query, []
    left, rest, at = [], [], 0
    for m in found:
        phrase = " ".join((m.group(1) if m.group(1) is not None else m.group(2)).split())
        if re.search(r"[^\W_]", phrase):
            left.append(phrase)
        rest.append(query[at:m.start()])
        at = m.end()
    rest.append(query[at:])
    return " ".join("".join(rest).split()), list(dict.fromkeys(left))


# A reader sets something aside in words, as "-word" does in symbols: "shared services between
# councils, not with police or fire", "pilots other than Tri-borough", "what did reablement teach
# that isn't about the savings". The model reads no negation (it finds what the clause names), so the
# clause is taken out of what both sides read, and the documents naming what it sets aside are listed
# after the rest, not left out. "without", "rather than" and "instead of" are not read so: what
# follows them is mostly the reader's own situation, which the cases they want describe too ("without
# compulsory redundancies", "local foster families instead of children's homes"); nor "not just".
_SET_ASIDE = re.compile(
    r"(?:^|(?<=[\s,;(]))(?:other than|apart from|except(?: for)?|excluding|but not|"
    r"not (?:with|about|from|by|through|involving|including|interested in|looking for)|did not involve|"
    r"(?:is|are|was|were|does|do|did)(?: not|n['\u2019]?t) (?:about|from|with|involve|involving))\b"
    r"(?P<what>[^.,;:?!()\n]*?)(?=\s+[-\u2013\u2014]\s|\s+but\s|[.,;:?!()\n]|$)", re.I)
# ...or names it first, in a sentence of its own: "Adult care and one-off efficiency examples are not
# what I'm after" (a fourteenth review's query, which the clause forms above did not read)
_SET_ASIDE_FIRST = re.compile(
    r"(?:^|(?<=[.;:!?]\s))(?P<what>[^.,;:?!()\n]+?)\s+(?:is|are)(?:\s+not|n['\u2019]?t)\s+what\s+(?:i|we)"
    r"(?:['\u2019]?m|['\u2019]?re|\s+am|\s+are)?\s+(?:after|looking\s+for|want|need)\b[^.;:?!\n]*[.;:?!]?", re.I)
_SET_ASIDE_PARTS = re.compile(r"\s*(?:/|&|\bor\b|\band\b|\bnor\b)\s*", re.I)
SET_ASIDE_MOST = 3  # things set aside, each of at most this many words: a longer clause is read as typed


def set_aside_of(query: str) -> tuple[str, list[str]]:
    """The query without its first clause setting something aside (see _SET_ASIDE), and the things
    it names ("police", "fire"), each as a phrase of its content words; the query unchanged and
    nothing when the clause names more than SET_ASIDE_MOST things, a thing of more words, or when
    nothing would be left to search for."""
    found = _SET_ASIDE.search(query) or _SET_ASIDE_FIRST.search(query)
    if not found or any(m.start() < found.start() < m.end() for m in QUOTED.finditer(query)):
        return query, []  # none, or inside a phrase in double quotes, which is searched as written
    things = []
    for part in _SET_ASIDE_PARTS.split(found.group("what")):
        words = [w for w in re.findall(r"[^\W_][\w'\u2019-]*", part) if w.lower() not in STOPWORDS]
        if words:
            things.append(" ".join(words))
    rest = " ".join((query[:found.start()] + query[found.end():]).split())
    if (not things or len(things) > SET_ASIDE_MOST or any(len(t.split()) > SET_ASIDE_MOST for t in things)
            or not terms_of(rest)):
        return query, []
    return rest, list(dict.fromkeys(things))


QUOTED = re.compile(r'["\u201c\u201d]([^"\u201c\u201d]*)["\u201c\u201d]')


def quoted_of(query: str) -> list[str]:
    """The phrases the query puts in double quotes (straight or curly), which a reader means to be
    found as written; an unpaired quote mark is only punctuation. The text is kept as typed, for the
    index's own tokenizer to split ("£4.3m" is the words 4 and 3m there, as in every document), and
    a phrase of punctuation alone is none."""
    return list(dict.fromkeys(" ".join(m.group(1).split()) for m in QUOTED.finditer(query)
                              if re.search(r"[^\W_]", m.group(1))))


def unquoted(query: str, phrases: list[str]) -> str:
    """The query with the double quotes around these phrases (as quoted_of gives them) taken off."""
    return QUOTED.sub(lambda m: m.group(1) if " ".join(m.group(1).split()) in phrases else m.group(), query)


def phrases_of(query: str, capitals: frozenset[str] = frozenset()) -> list[str]:
    """Pairs of content words that stand side by side in the query ("one council", "channel shift";
    with `capitals` as in terms_of, "IT system"): a document with the pair as a phrase matches the
    query more closely than one with both apart."""
    # a compound's words pair with nothing outside it: "in-house provider" is not "house provider"
    # (which "housing providers" holds); the compound is a phrase of its own (see terms_of)
    units = _units(query, capitals)
    pairs = (f"{a.lower()} {b.lower()}" for (a, x), (b, y) in zip(units, units[1:]) if not x and not y and _is_term(a) and _is_term(b))
    return list(dict.fromkeys(pairs))


# The opening of a question: a question word or auxiliary, perhaps a second auxiliary, perhaps who is
# asking about ("How have councils", "What is", "Should we", "Has anyone").
_QUESTION_LEAD = re.compile(
    r"^\s*(how|what|when|where|why|which|who|is|are|can|could|should|would|do|does|did|has|have|had|will)\b"
    r"(\s+(is|are|was|were|do|does|did|has|have|had|can|could|should|would|will|to))?"
    r"(\s+(councils?|we|our council|a council|anyone|others|authorities|other councils|you|it|they|there))?\s+", re.I)


# Where a question follows who is asking ("As s151 officer at a small district, how should ...",
# "I'm a public health commissioner - what have ..."): a comma, semicolon, colon or dash before its opening.
_ASKER_ENDS = re.compile(r"[,;:\u2013\u2014]\s+|\s-+\s+")


def statement_of(query: str) -> str | None:
    """A question without its opening ("How have councils cut repeat calls?" -> "cut repeat calls"),
    or None if the query is not a question or little would be left. A question is one that opens as
    one, with or without its mark: typed on a phone, "how much did service redesign save" has none.
    A sentence that says who asks before its question is read from the question's opening on: the
    model had read the asker's job as much as what they ask. A paragraph about one's own council
    that ends by asking ("... and what did they do instead?") has no opening to take off: it is read
    as a situation (its words matched one by one, see TOKEN_MATCH), not as a question again without
    its mark."""
    query = query.strip()
    if not _QUESTION_LEAD.match(query) and len(sentences_of(query)) <= 1:
        after = next((query[m.end():] for m in _ASKER_ENDS.finditer(query) if _QUESTION_LEAD.match(query[m.end():])), None)
        if after is not None:
            query = after
    if not _QUESTION_LEAD.match(query):
        return None
    left = _QUESTION_LEAD.sub("", query.rstrip("? ")).strip()
    return left if len(left.split()) >= 3 else None


def within(query: str, limit: int) -> str:
    """The query cut to at most `limit` characters: after the last sentence that fits, if that keeps
    at least half of them, else at the last space that fits (a word is never cut in two), else at the
    limit. A pasted extract of a report is read from its start, as far as the limit allows."""
    if len(query) <= limit:
        return query
    head = query[:limit + 1]  # one more: a cut just before a space keeps the word before it whole
    ends = [m.end() for m in re.finditer(r"[.?!;:](?=\s)|\n", head) if limit // 2 <= m.end() <= limit]
    spaces = [m.start() for m in re.finditer(r"\s", head)]
    return head[:ends[-1] if ends else spaces[-1] if spaces else limit].rstrip()


# An address pasted into a query ("https://www.gov.uk/government/publications/good-practice-in-local-
# government-savings"): its scheme and host were query words ("https", "www", "gov", "uk") in no
# document, the rarest of the query, and its path one hyphenated compound no text writes.
URL = re.compile(r"(?:\bhttps?://|\bwww\.)[^\s<>\"\u201c\u201d]+", re.I)


def address(url: str) -> str:
    """An address as compared with another: no scheme, no "www.", no slash at the end, in lower case."""
    return re.sub(r"^(?:https?://)?(?:www\.)?", "", url.strip().lower()).rstrip("/")


def url_words(url: str) -> str:
    """The words of an address's path ("good practice in local government savings"): its scheme, host
    and file endings are no words of its subject."""
    path = address(url).partition("/")[2]
    path = re.sub(r"\.(?:s?html?|aspx?|php|pdf|jsp|docx?)\b", " ", path)
    return " ".join(w for w in re.split(r"[/\-_.?=&#+%]+", path) if w)


def sentences_of(query: str, min_words: int = 4) -> list[str]:
    """The query's sentences of at least min_words words (a short fragment says too little to read
    on its own)."""
    return [s for s in re.split(r"(?<=[.?!;])\s+", query.strip()) if len(s.split()) >= min_words]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Porter2 (Snowball) stem of a lower-case word: "sharing", "shared" and "shares" -> "share"."""
    stemmer = getattr(_STEMMERS, "english", None)
    if stemmer is None:
        stemmer = _STEMMERS.english = snowballstemmer.stemmer("english")
    return stemmer.stemWord(word)


_WORD = re.compile(r"(\w+)")
_WORDS = re.compile(r"\w+")
# Porter2 stems whose word does not begin with the stem less its last letter (checked over the
# 82,834 words of symspellpy's English list: these are all; see _could_stem_to)
IRREGULAR_STEMS = {"die": "dying", "lie": "lying", "tie": "tying", "vie": "vying"}


def highlight(text: str, terms: list[str]) -> str:
    """HTML-escaped text with query words (and their simple inflections) in <mark>, and a
    compound's words (see terms_of) where they stand together."""
    stems = {stem(t) for t in terms if len(t) > 1 and " " not in t}
    compounds = [[stem(w) for w in t.split()] for t in terms if " " in t]
    lower = text.lower()
    if compounds:
        compounds = _could_stand_together(compounds, lower)
    if not compounds and len(lower) == len(text):
        # only the words that could have a query word's stem are stemmed (see _could_stem_to), and
        # only what lies between marks is escaped: three times faster, the same HTML
        out, at = [], 0
        for word in _could_stem_to(frozenset(stems)).finditer(lower) if stems else ():
            if stem(word.group()) in stems:
                out += [html.escape(text[at:word.start()]), "<mark>", text[word.start():word.end()], "</mark>"]
                at = word.end()
        return "".join(out) + html.escape(text[at:])
    # split on one group: the text between words at even places, words (nothing in them to escape) at odd
    parts = _WORD.split(text)
    marked = [stem(parts[k].lower()) in stems for k in range(1, len(parts), 2)] if stems else [False] * (len(parts) // 2)
    if compounds:
        words = [stem(parts[k].lower()) for k in range(1, len(parts), 2)]
        for compound in compounds:
            n = len(compound)
            for i in range(len(words) - n + 1):
                # side by side: only a hyphen or spaces between them
                if words[i:i + n] == compound and all(_side_by_side(parts[2 * j + 2]) for j in range(i, i + n - 1)):
                    marked[i:i + n] = [True] * n
    for k in range(0, len(parts), 2):
        parts[k] = html.escape(parts[k])
    for i, mark in enumerate(marked):
        if mark:
            parts[2 * i + 1] = f"<mark>{parts[2 * i + 1]}</mark>"
    return "".join(parts)


def query_stems(terms: list[str]) -> frozenset[str]:
    """The stems of the query's terms; a compound's (see terms_of) as its words' stems joined by spaces."""
    return frozenset(" ".join(map(stem, t.split())) if " " in t else stem(t) for t in terms)


def term_hits(text: str, stems: frozenset[str], kept: bool = False) -> int:
    """How many of the query's stems the text contains (a compound's words side by side, as
    highlight marks them). `kept`: every word of the text is stemmed once and kept (see
    PASSAGES_STEMMED), for a collection whose passages all fit; else only the words that could match."""
    if not stems:
        return 0
    compounds = [s for s in stems if " " in s]
    if kept:
        words, line = _stemmed(text)
        found = len(stems & words)
    else:
        # the words that could have a query stem, a compound's words among them: a passage is stemmed
        # whole only where every word of a compound is in it somewhere
        held = {stem(w) for w in _could_stem_to(stems | {w for c in compounds for w in c.split()}).findall(text.lower())}
        found = len(stems & held)
        line = _stem_line(text) if any(all(w in held for w in c.split()) for c in compounds) else ""
    return found + sum(f" {s} " in line for s in compounds)


def _could_stand_together(compounds: list[list[str]], lower: str) -> list[list[str]]:
    """The compounds (each a list of stems) whose every word a lower-case text holds, side by side
    or not: only these can be marked or counted, and finding the words that could have their stems
    costs less than stemming the whole text (a page of 20 results at 10,000 cases, 177 passages)."""
    held = {stem(w) for w in _could_stem_to(frozenset(s for c in compounds for s in c)).findall(lower)}
    return [c for c in compounds if all(s in held for s in c)]


# Passages whose stems are kept (see term_hits): each search weighs every passage of the 20 documents
# it shows, and in a collection of a few hundred cases the same passages come back query after query;
# kept, a passage costs a set intersection (about a microsecond) instead of 10 to 20 to stem it again.
# A few kilobytes each. Larger collections keep nothing: each new query would mostly stem passages
# not seen before, in full, which costs more than stemming only the words that could match.
PASSAGES_STEMMED = 8192


@lru_cache(maxsize=PASSAGES_STEMMED)
def _stemmed(text: str) -> tuple[frozenset[str], str]:
    """The stems of every word of the text, and the text as _stem_line gives it."""
    line = _stem_line.__wrapped__(text)
    return frozenset(line.split()) - {"|"}, line


@lru_cache(maxsize=256)
def _could_stem_to(stems: frozenset[str]) -> re.Pattern:
    """The words that could have one of these stems (a compound's words aside): those beginning with
    the stem less its last letter ("hope" from "hoping", "happi" from "happy"), and the few
    irregular ones. Choosing a passage stems only these, not every word of every passage shown
    (about 7 microseconds a passage instead of 25 to 90)."""
    words = [s for s in stems if " " not in s]
    heads = sorted({re.escape(s[:-1] if len(s) > 1 else s) for s in words} | {IRREGULAR_STEMS[s] for s in words if s in IRREGULAR_STEMS})
    return re.compile(r"\b(?:" + "|".join(heads) + r")\w*") if heads else re.compile(r"(?!)")


@lru_cache(maxsize=256)
def _stem_line(text: str) -> str:
    """The text's word stems in order, one space between words standing side by side (nothing or a
    hyphen or spaces between them) and " | " where anything else parts them."""
    parts = _WORD.split(text.lower())
    out = [" "]
    for k in range(1, len(parts), 2):
        out.append(stem(parts[k]))
        out.append(" " if _side_by_side(parts[k + 1]) else " | ")
    return "".join(out)


def _every_word(text: str) -> list[str]:
    return re.findall(r"[\w£%]+", text.lower())


def _words_of(text: str) -> list[str]:
    return [w for w in _every_word(text) if w not in STOPWORDS or w.isdigit()]


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


class TermMatcher:
    """Finds vocabulary terms named in a query by their label, aliases or everyday synonyms,
    compared as stemmed word sequences ("bin collections" names the waste and regulatory service)."""

    MAX_WORDS = 4

    def __init__(self, vocabularies: dict):
        """vocabularies: the ones whose terms a query may name (the engine passes the tag facets')."""
        self.phrases: dict[tuple[str, ...], set[tuple[str, str]]] = {}
        # names that leaving out stopwords would cut to one common word ("it services", "how we work",
        # "Other organisation"): they name their term only whole, compared with every word kept
        self.whole: dict[tuple[str, ...], set[tuple[str, str]]] = {}
        # a name that is one function word ("it", for IT) names its term when a query types it in capitals
        self.in_capitals: dict[str, set[tuple[str, str]]] = {}
        # what each acronym among the names stands for (see acronyms_of)
        self.expansions: dict[str, list[str]] = {}
        # a name of several words typed as one ("hotdesking", "homeworking", "selfservice"), as a phone
        # drops the space: no text writes them so, and they named nothing
        closed: dict[tuple[str, ...], set[tuple[str, str]]] = {}
        for key, vocab in vocabularies.items():
            for term in vocab.terms.values():
                names = (term.label, *term.aliases, *term.synonyms, term.slug.replace("-", " "))
                for acronym, expansions in acronyms_of(names).items():
                    self.expansions[acronym] = list(dict.fromkeys(self.expansions.get(acronym, []) + expansions))
                for name in names:
                    kept = _words_of(name)
                    every = _every_word(name)
                    if not kept and len(every) == 1:
                        self.in_capitals.setdefault(every[0], set()).add((key, term.slug))
                    if len(kept) == 1 and len(every) > 1:
                        if len(every) <= self.MAX_WORDS:
                            self.whole.setdefault(tuple(stem(w) for w in every), set()).add((key, term.slug))
                        continue
                    words = self._key(kept)
                    if words and len(words) <= self.MAX_WORDS:
                        self.phrases.setdefault(words, set()).add((key, term.slug))
                    if 1 < len(every) <= self.MAX_WORDS:
                        closed.setdefault(self._key(["".join(every)]), set()).add((key, term.slug))
        for words, terms in closed.items():  # a name of one word keeps its own meaning ("insourcing")
            self.phrases.setdefault(words, terms)

    @staticmethod
    def _key(words: list[str]) -> tuple[str, ...]:
        """Several words compare by stem; one word only as itself or its plural, since a stem alone
        joins words that mean different things ("plan" and "planning")."""
        return (_singular(words[0]),) if len(words) == 1 else tuple(stem(w) for w in words)

    def terms_in(self, query: str) -> list[tuple[str, str]]:
        """(vocabulary, slug) of every term the query names, in order of mention. The longest name
        wins where names overlap ("bin collections" is one name, so "collections" is not read again)."""
        return list(dict.fromkeys((vocabulary, slug) for vocabulary, slug, _ in self.names_in(query)))

    def names_in(self, query: str) -> list[tuple[str, str, tuple[str, ...]]]:
        """Each naming of a term in the query: (vocabulary, slug, the query's words that name it, in
        lower case), in order of mention (see terms_in)."""
        words = _words_of(query)
        found: list[tuple[str, str, tuple[str, ...]]] = []
        start = 0
        while start < len(words):
            for size in range(min(self.MAX_WORDS, len(words) - start), 0, -1):
                terms = self.phrases.get(self._key(words[start:start + size]))
                if size == 1 and start + 1 < len(words) and not terms:
                    # a name of one word typed as two ("tele care", "re ablement")
                    terms, size = self.phrases.get(self._key([words[start] + words[start + 1]])), 2
                if terms:
                    found += [(*t, tuple(words[start:start + size])) for t in sorted(terms)]
                    start += size
                    break
            else:
                start += 1
        typed = _every_word(query)
        every = [stem(w) for w in typed]
        for size in range(2, self.MAX_WORDS + 1):
            for start in range(len(every) - size + 1):
                found += [(*t, tuple(typed[start:start + size])) for t in sorted(self.whole.get(tuple(every[start:start + size]), ()))]
        for word in sorted(capitals_of(query) & self.in_capitals.keys()):
            found += [(*t, (word,)) for t in sorted(self.in_capitals[word])]
        return found
