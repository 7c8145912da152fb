"""How a query's words are read before they are searched: hyphenated and closed forms, acronyms and
abbreviations with what they stand for, the sector's other words for a word (kb/thesaurus.yml), a
report's address as its title, and the names the collection writes. Part of the Engine (search/engine.py)."""
from __future__ import annotations

import functools
import re
import sqlite3
from dataclasses import dataclass

import numpy as np

from kb.schema import tables

from .index import DocumentIndex
from .scoring import NAME_COLUMNS, TARGETS
from .spelling import english_words
from .text import (
    HYPHENATED_WORD,
    STOPWORDS,
    URL,
    WORD_PATTERN,
    address,
    amount_forms,
    bounds_of,
    capitals_of,
    phrases_of,
    stem,
    url_words,
    years_of,
)

SPLIT_LETTERS = 3  # the shortest part of a word typed as two read apart ("hotdesking": "hot desking")
# A small number as a word and in figures: reports write "three years" and "3-year", "two councils" and
# "2 councils", and a query found only the way it was typed. Not one (a word of most documents: "one
# council", "One Barnet") nor any number past ten (written in figures throughout).
_WORDS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
NUMBERS = {**{w: str(k) for k, w in enumerate(_WORDS, 2)}, **{str(k): w for k, w in enumerate(_WORDS, 2)}}
WRITTEN_OUT = 5  # the names an acronym is read as, the commonest first (see _variants)
SECTION = re.compile(r"s\.?(\d{1,3}[a-z]?)")  # "s151 officer", "a s.114 notice": a section of an Act
# The words that ask for lessons, no query word in lesson search, where every document is one: "lessons
# from Yorkshire councils" put first a finding whose theme is "lessons from Covid-19", and "what did
# councils learn from lockdown" the findings on learning from failure. Not "learning", a subject of its
# own ("learning disabilities", "learning and development").
ASKING_FOR_LESSONS = frozenset({"lesson", "lessons", "learn", "learnt", "learned"})

AMPERSAND = re.compile(r"(?<![\w&])([^\W\d_])\s*&\s*([^\W\d_])(?![\w&])")  # "h&f", "B & H"



@dataclass(frozen=True)
class Worded:
    """A query as its words are searched (see QueryReading._worded): its text with the sums and years it
    gives as bounds taken out, those bounds, and its adjacent word pairs."""
    text: str
    bounds: dict
    years: dict
    pairs: list[str]


class QueryReading:
    """How the Engine reads a query's words (mixed into Engine, search/engine.py, whose connection, lock and caches it uses)."""

    @functools.cached_property
    def _written_apart(self) -> dict[str, str]:
        """Words the collection writes both closed and hyphenated ("cooperative" and "co-operative",
        "frontline" and "front-line"): the closed form and the other's words as a phrase. A query's
        word in either form finds both (see _variants)."""
        with self._lock:
            try:
                rows = self.conn.execute("select a.word from spelling_words a join spelling_words b "
                                         "on b.word = replace(a.word, '-', '') where a.word like '%-%'").fetchall()
            except sqlite3.OperationalError:  # built before spelling_words
                rows = []
        return {w.replace("-", ""): w.replace("-", " ") for (w,) in rows}

    @functools.cached_property
    def _hyphenated_by_stem(self) -> dict[str, list[str]]:
        """The collection's hyphenated words by the stem of their closed form ("in-sourced" under
        "insourc"), each as its words: a query's closed word of that stem ("insourcing", "insourced")
        finds them too, as it finds its other forms written closed."""
        with self._lock:
            try:
                rows = self.conn.execute("select word from spelling_words where word like '%-%'").fetchall()
            except sqlite3.OperationalError:  # built before spelling_words
                rows = []
        out: dict[str, list[str]] = {}
        for (word,) in rows:
            out.setdefault(stem(word.replace("-", "")), []).append(word.replace("-", " "))
        return out

    @functools.cached_property
    def _compounds_apart(self) -> re.Pattern | None:
        """The collection's hyphenated words of one word and function words ("in-house", "buy-in",
        "at-risk") as a query may type them, with spaces for the hyphens."""
        with self._lock:
            try:
                rows = self.conn.execute("select word from spelling_words where word like '%-%'").fetchall()
            except sqlite3.OperationalError:  # built before spelling_words
                rows = []
        words = [w.split("-") for (w,) in rows if len(w.split("-")) <= 4]
        # one word of a subject with function words: its word alone says something else ("house" finds
        # housing), where "end to end" read as its words says what "end-to-end" does
        apart = sorted((r"\s+".join(map(re.escape, parts)) for parts in words
                        if sum(p not in STOPWORDS for p in parts) == 1 and all(p.isalpha() for p in parts)),
                       key=len, reverse=True)
        return re.compile(r"(?<![\w-])(?:" + "|".join(apart) + r")(?![\w-])", re.I) if apart else None

    def _closed(self, query: str) -> str:
        """The query with each hyphenated word the collection also writes closed in its closed form,
        so that it is one query word (with both forms: see _variants), not its parts; and each one the
        collection writes only closed ("re-ablement", "well-being": its parts are in no document as a
        word of their own) in the collection's form. A hyphenated word of the collection with a function
        word in it typed with spaces ("in house", "buy in") is read hyphenated, as one word (see terms_of):
        "keeping services in house" was the word "house", which finds housing."""
        if self._compounds_apart is not None:
            query = self._compounds_apart.sub(lambda m: "-".join(m.group().split()), query)
        query = self._joined(query)
        if "-" not in query:
            return query
        apart, words = self._written_apart, self.speller.collection_words()

        def closed(match: re.Match) -> str:
            typed = match.group()
            joined = typed.replace("-", "")
            both = joined.lower() in apart
            return joined if both or (joined.lower() in words and typed.lower() not in words) else typed

        return HYPHENATED_WORD.sub(closed, query)

    def _joined(self, query: str) -> str:
        """The query with two words typed apart that the collection writes only as one ("well being",
        "work force", "on line", "short fall") as that word: apart, "being" and "on" were function words
        searched for nothing, "well" and "line" found what they say alone, and "work" and "force" every
        text on work. Only where no document has the two words side by side, and not after a function
        word ("any one council" is no "anyone", "in come" no "income")."""
        words = list(re.finditer(r"[^\W\d_]+", query))
        if len(words) < 2:
            return query
        known = self.speller.collection_words()
        out, at = [], 0
        for first, second in zip(words, words[1:]):
            if first.start() < at or query[first.end():second.start()] != " ":
                continue
            joined = (first.group() + second.group()).lower()
            if (joined in known and first.group().lower() not in STOPWORDS
                    and not self._known_pair(first.group().lower(), second.group().lower())):
                out += [query[at:first.start()], first.group() + second.group().lower()]
                at = second.end()
        return "".join(out) + query[at:] if out else query

    @functools.cached_property
    def _in_capitals(self) -> frozenset[str]:
        """The vocabulary's acronyms that are also words ("it", "send", "tom"): read as the acronym only
        when typed in capitals (see terms_of)."""
        return frozenset(a for a in (*self.term_matcher.expansions, *self.abbreviated) if a in STOPWORDS or a in english_words())

    def _variants(self, terms: list[str], pairs: list[str] = (), bounds=()) -> dict[str, list[str]]:
        """Each query term as the phrases that count as it: itself, its hyphenated form where the
        collection writes it both ways, a sum of money in each way reports write it, and an acronym
        with what it stands for ("MTFP", "medium-term financial plan"; an acronym that is a function
        word, "IT", only what it stands for and the query's word pairs holding it, "IT project": as a
        word the index holds it in every document), as a name the collection writes out in capitals
        does ("lgps", "Local Government Pension Scheme"; an English word only typed in capitals, since
        "pay" is no acronym), as an abbreviation the site explains does (kb/abbreviations.yml: "FTE",
        "full-time equivalent"; "TUPE"), a section of an Act as officers write it ("s151", "s.114": "section
        151"), and a word as the sector's other words for it (kb/thesaurus.yml: "councillors", "members"). A sum given as a bound (`bounds`, see bounds_of)
        is no phrase: the documents with a figure on its side of it hold it (see _held_by_sums). A word
        no document holds that is two of the collection's words typed together ("agileworking",
        "workstream") is also those words as a phrase (see _typed_together)."""
        apart, expansions = self._written_apart, self.term_matcher.expansions
        out = {}
        for t in terms:
            word = t.lower()
            if word in bounds:
                out[t] = []
                continue
            # a name the collection writes out in capitals too ("SROs": "SRO" found "senior responsible owners",
            # its plural nothing, though the model's reading, _spelt_out, already took it for the acronym)
            acronyms = (expansions, self.abbreviated, self.written_out)
            known = any(word in names for names in acronyms)
            if not known and any(word[:-1] in names for names in acronyms) and word.endswith("s") and len(word) > 3:
                word = word[:-1]  # "EHCPs", "ccgs", "FTEs": a plural of an acronym ("hrs" is hours)
            if t in apart:
                out[t] = [t, apart[t]]
            elif (meaning := self._meaning_of(word, t.isupper())) is not None:
                names, of_term = meaning
                if of_term:
                    own = [t.lower()] if word not in STOPWORDS else [p for p in pairs if word in p.split()]
                    out[t] = list(dict.fromkeys(own + names))
                else:
                    out[t] = [t.lower(), *names]
            else:
                hyphenated = self._hyphenated_by_stem.get(stem(word), []) if word.isalpha() else []
                section = [f"section {m.group(1)}"] if (m := SECTION.fullmatch(word)) else []
                together = self._typed_together(word)
                same = (self.equivalents.get(stem(word), []) if word.isalpha() else
                        self.equivalent_phrases.get(tuple(stem(w) for w in word.split()), ("", []))[1])
                out[t] = list(dict.fromkeys([t, *amount_forms(t), *hyphenated, *section, *same, *together]))
        return out

    def _typed_together(self, word: str) -> list[str]:
        """A word no document holds, in any of its forms, as two of the collection's words that some
        document has side by side ("agileworking": "agile working"; "costsavings", "workstream"), neither
        a function word nor shorter than SPLIT_LETTERS; of several splits, the most even. A phone drops a
        space as easily as it slips a letter, and the word, no two edits from any other, found nothing."""
        words = self.speller.collection_words()
        # a word the collection writes is known without asking the index (every query word of six letters
        # or more comes here, in each of a search's three readings of its words)
        if not word.isalpha() or len(word) < 2 * SPLIT_LETTERS or word in words or self._known_stem(word):
            return []
        found = [(word[:k], word[k:]) for k in range(SPLIT_LETTERS, len(word) - SPLIT_LETTERS + 1)]
        found = [(a, b) for a, b in found if a in words and b in words and a not in STOPWORDS
                 and b not in STOPWORDS and self._known_pair(a, b)]
        return [" ".join(max(found, key=lambda pair: min(map(len, pair))))] if found else []

    def _grouped(self, query: str, terms: list[str]) -> list[str]:
        """The terms with the words of each thesaurus word of several words that the query types
        ("funding gap", "young people", "out of work", in any of their forms) as that one word, which
        finds its group ("shortfall", "youth"): the group was found only by a single word of it, so
        "closing the funding gap" never found a "shortfall"."""
        if not self.equivalent_phrases:
            return terms
        typed = [w.lower() for w in re.findall(WORD_PATTERN, query)]
        stems = [stem(w) for w in typed]
        out = list(terms)
        for key, (phrase, _) in sorted(self.equivalent_phrases.items(), key=lambda kv: -len(kv[0])):
            at = next((k for k in range(len(stems) - len(key) + 1) if tuple(stems[k:k + len(key)]) == key), None)
            if at is None:
                continue
            words = set(typed[at:at + len(key)])
            place = min((k for k, t in enumerate(out) if t in words), default=len(out))
            out = [t for t in out if t not in words]
            out.insert(min(place, len(out)), phrase)
        return list(dict.fromkeys(out))

    def _meaning_of(self, word: str, capitals: bool) -> tuple[list[str], bool] | None:
        """What an acronym the query names stands for, and whether it is a vocabulary term's: a term's
        acronym, else a name the collection writes out in capitals (its WRITTEN_OUT commonest), else an
        abbreviation the site explains; one that is also a word only when typed in capitals (`capitals`)."""
        expansions = self.term_matcher.expansions
        if word in expansions and (capitals or word not in self._in_capitals):
            return expansions[word], True
        for names in (self.written_out, self.abbreviated):
            if word in names and (capitals or word not in english_words()):
                return names[word][:WRITTEN_OUT], False
        return None

    def _spelt_out(self, query: str) -> str:
        """The query as the model reads it: each acronym it names followed by what it stands for ("LATCo
        (local authority trading company)", "FTE (full-time equivalent) reductions"), the acronyms and
        their readings those of _variants. The model knows few of the sector's acronyms: "LATCo" alone
        found the cases of any company, "FTE reductions" none about fewer posts."""
        typed = capitals_of(query)
        expansions, out, at, done = self.term_matcher.expansions, [], 0, set()
        for match in re.finditer(WORD_PATTERN, query):
            word = match.group().lower()
            if word not in expansions and word not in self.written_out and word not in self.abbreviated and len(word) > 3:
                word = word[:-1] if word.endswith("s") else word  # "EHCPs"
            meaning = self._meaning_of(word, word in typed)
            words = ([e for e in meaning[0] if " " in e][:1] if meaning[1] else meaning[0][:1]) if meaning else []
            if words and word not in done and words[0] not in query.lower():
                done.add(word)
                out += [query[at:match.end()], f" ({words[0]})"]
                at = match.end()
        return "".join(out) + query[at:] if out else query

    @functools.cached_property
    def _source_addresses(self) -> list[tuple[str, str]]:
        """Each source's address (see text.address) and its title."""
        with self._lock:
            try:
                rows = self.conn.execute("select url, title from sources where url is not null").fetchall()
            except sqlite3.OperationalError:
                rows = []
        return [(address(url), title) for url, title in rows]

    def _worded(self, query: str) -> Worded:
        """The query as its words are searched (see Worded): read once a search, for the result set
        and the keyword side alike."""
        worded, bounds = bounds_of(self._closed(query))
        worded, years = years_of(worded)
        pairs = phrases_of(worded, self._in_capitals)
        # a pair holding a small number is also the pair with the number written the other way
        # ("3 councils", "three councils"; "three-year", "3-year")
        other = [" ".join(NUMBERS.get(w, w) for w in p.split()) for p in pairs]
        return Worded(worded, bounds, years, list(dict.fromkeys(pairs + other)))

    def _ampersands_read(self, query: str) -> str:
        """The query with each pair of initials joined by "&" that the collection writes out as two
        names ("h&f", "B & H": "Hammersmith and Fulham", "Brighton and Hove"; see ingest/acronyms.py)
        read as those names: the index holds no "&", so "h&f" was two single letters, no query words."""
        if "&" not in query:
            return query

        def read(match: re.Match) -> str:
            names = self.written_out.get(f"{match.group(1)}&{match.group(2)}".lower())
            return names[0] if names else match.group()

        return AMPERSAND.sub(read, query)

    def _addresses_read(self, query: str) -> str:
        """The query with each address in it read as words: a source's own address as its title (the
        address of the DCLG's savings report as "Good Practice in Local Government Savings"), any other
        as the words of its path (see text.url_words)."""
        if "http" not in query.lower() and "www." not in query.lower():
            return query

        def read(match: re.Match) -> str:
            url = match.group().rstrip(".,;:!?)")
            at = address(url)
            # a report's page (an address with a path), or its address exactly: a site's home is no report
            title = next((t for a, t in self._source_addresses if at == a or ("/" in a and at.startswith(a + "/"))), None)
            return (title or url_words(url)) + match.group()[len(url):]

        return URL.sub(read, query)

    def _known_pair(self, first: str, second: str) -> bool:
        """Whether any full-text index holds the two words side by side, in any of their forms."""
        tokens = self._tokens(f'"{first} {second}"')
        if len(tokens) != 2:
            return False
        with self._lock:
            try:
                return any(self.conn.execute("select 1 from pair_postings where collection = ? and pair = ?",
                                             [target, " ".join(tokens)]).fetchone() for target in TARGETS)
            except sqlite3.OperationalError:  # built before the pairs: FTS5 finds the phrase
                return any(self.conn.execute(f"select 1 from {target}_fts where {target}_fts match ? limit 1",
                                             [f'"{first} {second}"']).fetchone() for target in TARGETS)

    @functools.cached_property
    def _name_words(self) -> frozenset[str]:
        """The words of the names the collection writes in capitals (see written_out)."""
        return frozenset(w for phrases in self.written_out.values() for p in phrases for w in p.split())

    @functools.cached_property
    def _capitalised(self) -> frozenset[str]:
        """The words a case's name (NAME_COLUMNS: its title, then its organisations) writes with a capital:
        those of its title past the first, and every word of the others ("Barnet", "Capita", "Toxteth";
        not "own" or "staff")."""
        with self._lock:
            try:
                rows = self.conn.execute(f"select {', '.join(NAME_COLUMNS)} from cases").fetchall()
            except sqlite3.OperationalError:
                return frozenset()
        words = set()
        for title, *others in rows:
            words.update(w.lower() for w in re.findall(r"[^\W\d_][\w'\u2019-]*", title or "")[1:] if w[0].isupper())
            words.update(w.lower() for text in others for w in re.findall(r"[^\W\d_]+", text or ""))
        return frozenset(words)

    def _a_name(self, word: str) -> bool:
        """Whether a case's name (its title or its organisations, NAME_COLUMNS) or a name the collection
        writes in capitals ("London Borough of Harrow") holds the word as a name, with a capital: "Owen"
        signing off an email is no slip for "own", which a title holds in lower case."""
        if word in self._name_words:
            return True
        return word in self._capitalised and len(self._tokens(f'"{word}"')) == 1  # one word of the index

    def _rows_named(self, col: DocumentIndex, word: str) -> np.ndarray:
        """The rowids of the documents whose name (NAME_COLUMNS) holds the word."""
        columns = [k for k, c in enumerate(c.name for c in tables()[col.target].fts) if c in NAME_COLUMNS]
        if not columns:
            return np.zeros(0, dtype=np.int64)
        if col.postings is not None and len(tokens := self._tokens(f'"{word}"')) == 1:
            return col.postings.rows_in(tokens[0], columns)
        # a compound, or a database built before the postings: FTS5's column filter
        names = " ".join(tables()[col.target].fts[k].name for k in columns)
        with self._lock:
            return np.array([r[0] for r in self.conn.execute(
                f"select rowid from {col.fts} where {col.fts} match ?", [f'{{{names}}} : "{word}"'])], dtype=np.int64)

    def _known_stem(self, word: str) -> bool:
        """Whether any full-text index holds the word's stem (its other forms are in the collection)."""
        tokens = self._tokens(word)[:1]
        with self._lock:
            return any(self.conn.execute("select 1 from term_documents where collection = ? and term = ?",
                                         [target, token]).fetchone() for target in TARGETS for token in tokens)
