"""Misspelt query words corrected to the collection's own words ("libary" -> "library"), the way a
reader expects a search box to: the search runs on the corrected query and says so, with the query as
typed one click away.

A word is left alone when it is in the collection (spelling_words, written by ingest/spelling.py),
when its stem is in the full-text index, when it is an English word or an inflection of one (the
frequency dictionary that ships with symspellpy), when it is typed in capitals (an acronym such as
MTFS), when it is shorter than MIN_LETTERS, when it holds a digit, when it is in double quotes (a
phrase to be found as written), or when it is the first part of a contraction ("didn" of "didn't"). Otherwise it becomes the collection's word fewest edits away
(deletions, insertions, substitutions, swaps of two letters: one edit for a word of fewer than LONG
letters, two from LONG on) with the same first letter, the most common one on a tie; a function
word, which search leaves out, only for a word of FUNCTION_SLIP letters or more ("thier": their,
but "wyre" is not "were"); with none that near, it stays. A word typed without its vowels ("bdgt")
is the commonest word with its consonants and first letter. A word of a vocabulary term's
names, aliases or everyday words (kb/vocabulary.yml: "mtfs") is a word of its own that a query may use
though no document does (a slip with no collection word near enough becomes the nearest such word:
"preventitive", preventative), and becomes only the collection's hyphenated form of itself ("coproduction":
"co-production"), never another word ("mtfs" is not "mtfp"; nor, without its ending, "worcs" "work"). A capitalised word inside a
sentence is taken for a name: it becomes only a name the collection has one edit away (a case's
title or organisations, or a name it writes in capitals: "what did Barnett do" is Barnet's), never
a word ("savings in Arun" is not "run").
An American spelling ("organization", "center", "behavior") becomes the British one the collection
uses, when the collection has that, or only its inflections ("neighbor": "neighbouring"), and not the
word as typed. Shorthand that readers type
(kb/shorthand.yml: "cllrs", "cx", "govt") becomes the words it stands for, in any case, unless the
collection writes it so itself.

A slip in an inflected word with no correction of its own is looked for, one edit at most, in the
word without its ending ("libarys": "libary" is one edit from "library", "libarys" two). A slip that
makes another English word ("chanel shift", "pubic health") is corrected only where the word is in no
document, the correction stands in the collection beside the query's word next to it ("channel
shift": the words around it say which word was meant, where an English word alone says nothing), is
COMMONER times as common in English, and is no other form of the word ("complain" is not a slip for
"complaint", nor "learnt" for "learn")."""
from __future__ import annotations

import importlib.resources
import re
import sqlite3
import threading
from dataclasses import dataclass, field
from functools import lru_cache

from .text import HYPHENATED_WORD, QUOTED, STOPWORDS

MIN_LETTERS = 4
FUNCTION_SLIP = 5  # letters a misspelt word needs before it may be corrected to a function word
LONG = 9
# An English word is taken for a slip for another (see Speller.correct) only if that one is this many
# times as common in English: "chanel" for "channel" (23 times), not "causal" for "casual" (7)
COMMONER = 10
# a run of letters and digits, as the index's tokenizer reads one word: a part of "c0uncil" or
# "123libary" is no word to correct
_WORD = re.compile(r"[^\W_]+")
# the "n't" of a contraction after a word: "didn" of "didn't" is no slip for "did" (see search/text.py)
_NOT = re.compile(r"['\u2019]t\b", re.I)
# endings taken off an unknown word before looking it up again ("hived" -> "hive", "hiving" -> "hiv"+"e")
_ENDINGS = ("ing", "ed", "es", "s", "d", "er", "ers", "ly")


def _inflected(word: str, base: str) -> bool:
    """Whether the word is the base word with one of _ENDINGS ("chatbots", "chatbot")."""
    return word.startswith(base) and word[len(base):] in _ENDINGS


# a word typed without its vowels, as on a phone ("bdgt", "hsng", "shld"): its letters are the
# skeleton of the word meant (doubled letters once), which edits find only far off or as another
# word ("shld" was one edit from "sold")
_VOWELS = re.compile(r"[aeiou]")


def skeleton(word: str) -> str:
    """A word's consonants in order, a doubled letter once ("commissioning" -> "cmsnng")."""
    return re.sub(r"(.)\1+", r"\1", _VOWELS.sub("", word.lower()))


# American endings and their British forms, tried in order on a word the collection lacks
_BRITISH = [(re.compile(a + "$"), b) for a, b in (
    ("iz(e|es|ed|ing|er|ers|ation|ations|ational)", r"is\1"), ("yz(e|es|ed|ing)", r"ys\1"),
    ("or(s|ed|ing|al|hood|hoods|ly|ful|ite|ites)?", r"our\1"), ("(cent|theat|fib|lit|calib)er(s)?", r"\1re\2"),
    ("gram(s)?", r"gramme\1"), ("ense(s|d)?", r"ence\1"), ("og(s)?", r"ogue\1"),
    ("(?<=[aeiou])l(ed|ing|er|ers)", r"ll\1"), ("(?<=^a)g(ing)", r"ge\1"), ("dgment(s)?", r"dgement\1"),
    ("(?<=[aeiou])llment(s)?", r"lment\1"), (r"(?<=^)pedi(atric\w*)", r"paedi\1"))]


@lru_cache(maxsize=1)
def english_frequencies() -> dict[str, int]:
    """How often each English word is used (the frequency dictionary that ships with symspellpy)."""
    path = importlib.resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    with path.open(encoding="utf-8") as f:
        return {word: int(count) for word, count in (line.split()[:2] for line in f)}


# A word among this many of the commonest in English is meant as typed, even opening a query: "Dear"
# greeting a pasted email is no slip for the Forest of Dean (the 3,408th), where "Barnett" (the
# 15,349th) is one for Barnet
EVERYDAY_WORDS = 5000


@lru_cache(maxsize=1)
def everyday_words() -> frozenset[str]:
    """The EVERYDAY_WORDS commonest English words."""
    used = english_frequencies()
    return frozenset(sorted(used, key=used.get, reverse=True)[:EVERYDAY_WORDS])


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    return frozenset(english_frequencies())


def _english(word: str) -> bool:
    words = english_words()
    if word in words:
        return True
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            base = word[:-len(ending)]
            if base in words or base + "e" in words or (len(base) > 3 and base[-1] == base[-2] and base[:-1] in words):
                return True
    return False


@dataclass
class Correction:
    query: str                            # the query with each misspelt word replaced
    words: list[tuple[str, str]]          # (as typed, as corrected)
    shorthand: list[str] = field(default_factory=list)  # of those typed, the ones that were shorthand ("cllrs")


class Speller:
    """Corrects a query against one database's words; the words and the lookup are read on first use."""

    def __init__(self, conn, lock: threading.Lock, known_stem, names: frozenset[str] = frozenset(), known_pair=None,
                 a_name=None, shorthand: dict[str, str] | None = None):
        """known_stem(word): whether the full-text index holds the word's stem; names: the words of the
        vocabulary's names, aliases and everyday words, which a query may use though no document does
        ("mtfs" is no slip for the collection's "mtfp"); known_pair(a, b): whether the collection has
        the two words side by side (in any of their forms); a_name(word): whether a document's name (its
        title or its organisations) holds the word; shorthand: words readers type short, with the words
        they stand for (kb/shorthand.yml, as built)."""
        self._conn, self._lock, self._known_stem, self._names = conn, lock, known_stem, names
        self._shorthand = shorthand or {}
        self._known_pair, self._a_name = known_pair, a_name
        self._organisation_words: frozenset[str] = frozenset()  # "barnet", "sheffield": read with the words
        self._symspell = None
        self._words: set[str] = set()

    def _load(self):
        if self._symspell is None:
            from symspellpy import SymSpell

            symspell = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
            with self._lock:
                try:
                    rows = self._conn.execute("select word, documents from spelling_words").fetchall()
                except sqlite3.OperationalError:  # built before spelling_words: nothing to correct to
                    rows = []
                try:
                    names = self._conn.execute("select distinct name from organisations").fetchall()
                except sqlite3.OperationalError:  # no organisations table: no names to correct to
                    names = []
            self._organisation_words = frozenset(w for (name,) in names for w in re.findall(r"[^\W_]+", (name or "").lower()))
            for word, documents in rows:
                symspell.create_dictionary_entry(word, documents)
            self._words = {w for w, _ in rows}
            # a vocabulary term's own words, which a query may mean though no document writes them
            # ("preventitive": preventative, an everyday word of prevention): looked up only when the
            # collection has no word near enough (see correct)
            self._name_spell = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
            for word in sorted(self._names - self._words):
                if word.isalpha() and len(word) >= MIN_LETTERS:
                    self._name_spell.create_dictionary_entry(word, 1)
            # the collection's words by their skeletons, the commonest first (see skeleton)
            self._skeletons: dict[str, list[str]] = {}
            for word, _ in sorted(rows, key=lambda r: -r[1]):
                if word.isalpha():
                    self._skeletons.setdefault(skeleton(word), []).append(word)
            self._symspell = symspell
        return self._symspell

    def collection_words(self) -> set[str]:
        """Every word of the collection, as FTS5 splits them, and its hyphenated words."""
        self._load()
        return self._words

    def _british(self, word: str) -> str | None:
        if word in self._words:
            return None
        for pattern, british in _BRITISH:
            variant = pattern.sub(british, word)
            # or the British word's stem, where the collection has it only inflected ("neighbouring",
            # "neighbourhood" for "neighbor"), unless the word as typed is the collection's own
            if variant != word and (variant in self._words or (self._known_stem(variant) and not self._known_stem(word))):
                return variant
        return None

    def _misspelt(self, typed: str) -> bool:
        word = typed.lower()
        if len(word) < MIN_LETTERS or (typed.isupper() and len(typed) > 1) or any(c.isupper() for c in typed[1:]):
            return False
        return not (word in self._words or _english(word) or self._known_stem(word))

    def _beside(self, word: str, near: list[tuple[str, str]]) -> int:
        """How many of `near` ((word, "before" or "after")) the collection writes the word beside."""
        return 0 if self._known_pair is None else sum(
            self._known_pair(w, word) if side == "before" else self._known_pair(word, w) for w, side in near)

    def _most_beside(self, found: list[str], near: list[tuple[str, str]]) -> str | None:
        """Of words as near a slip as each other (commonest first), the one the collection writes beside
        the most of the query's words either side of it ("cross-pary backing": "party" stands beside
        both, "pay" only before "back"), else the commonest."""
        counts = [self._beside(t, near) for t in found]
        return found[counts.index(max(counts))] if found else None

    def _slip_of_a_stem(self, typed: str) -> bool:
        """A word in no document and no dictionary, whose stem the index holds ("procurment")."""
        word = typed.lower()
        return (len(word) >= MIN_LETTERS and not (typed.isupper() and len(typed) > 1) and not any(c.isupper() for c in typed[1:])
                and word not in self._words and word not in self._names and not _english(word) and self._known_stem(word))

    def _absent_word(self, typed: str) -> bool:
        """An English word in no document, whose stem no index holds either ("chanel"): a slip for
        another word, if the words beside it say so."""
        word = typed.lower()
        return (len(word) >= MIN_LETTERS and not (typed.isupper() and len(typed) > 1) and not any(c.isupper() for c in typed[1:])
                and word not in self._words and word not in self._names and not self._known_stem(word))

    def _nearest(self, word: str, edits: int | None = None, function_words: bool = False, among=None) -> list[str]:
        """The collection's words nearest the word (see the module's note), best first; at most `edits`
        edits away if given; function words among them only if `function_words`; `among` another
        dictionary to look in (the vocabulary's own words, see _load)."""
        from symspellpy import Verbosity

        found = (among or self._symspell).lookup(word, Verbosity.CLOSEST,
                                                 max_edit_distance=edits or (1 if len(word) < LONG else 2))
        # search leaves function words out, so a word corrected to one ("Wyre" -> "were") is lost;
        # and a slip seldom changes a word's first letter, while turning a name or a compound
        # into another word would ("Arun" -> "run"; "coproduction" is one edit from the
        # collection's "co-production", two from "production")
        found = [s.term for s in found if (function_words or s.term not in STOPWORDS) and s.term[0] == word[0]]
        if word in self._names:  # a term's own word ("mtfs") becomes only the collection's way of writing it
            found = [t for t in found if t.replace("-", "") == word]
        return found

    def correct(self, query: str) -> Correction:
        self._load()
        fixes: list[tuple[str, str]] = []
        short: list[str] = []
        # a phrase in double quotes is to be found as written, so its words are not changed
        quoted = [m.span() for m in QUOTED.finditer(query)]
        # a part of a hyphenated word the collection writes, hyphenated or closed ("tele-care" for
        # "telecare"), is no word of its own: "tele" is not a slip for "tell"
        written = [m.span() for m in HYPHENATED_WORD.finditer(query)
                   if m.group().lower() in self._words or m.group().replace("-", "").lower() in self._words]

        words = list(_WORD.finditer(query))
        corrected: dict[int, str] = {}  # each word corrected so far, by its place

        def beside(k: int) -> list[tuple[str, str]]:
            """The query's content words either side of its k-th word, as corrected so far, each with its side ("before")."""
            out = []
            for at in (k - 1, k + 1):
                if 0 <= at < len(words):
                    w = corrected.get(at, words[at].group()).lower()
                    if w not in STOPWORDS and not any(c.isdigit() for c in w):
                        out.append((w, "before" if at < k else "after"))
            return out

        def fix(k: int, match: re.Match) -> str:
            typed = match.group(0)
            word = typed.lower()
            if (any(c.isdigit() for c in typed) or any(a < match.start() < b for a, b in quoted)
                    # a function word as typed ("weve", a contraction without its apostrophe) is one: "wave" it is not
                    or word in STOPWORDS
                    or any(a <= match.start() < b for a, b in written)
                    or (word.endswith("n") and _NOT.match(query, match.end()))):
                return typed
            full = self._shorthand.get(word)
            if full is not None and word not in self._words:
                # shorthand in any case ("Cllr", "CEO"), unless the collection writes it so itself
                full = full.capitalize() if typed[0].isupper() and not typed.isupper() else full
                fixes.append((typed, full))
                short.append(typed)
                return full
            before = query[:match.start()].rstrip(" \t\n\"'\u201c\u2018(")
            if (typed[0].isupper() and not (before and before[-1] not in ".!?:;") and self._absent_word(typed)
                    and word not in everyday_words()):
                # a capital opening the query may be a name too ("Barnett", "Barnett outsourcing"): an
                # English word no document holds is the organisation's name near it, if there is one (a
                # word of a case's title will not do: "John" is no slip for "join")
                better = next((t for t in self._nearest(word) if t in self._organisation_words), None)
                if better is not None:
                    fixes.append((typed, better.capitalize()))
                    return better.capitalize()
            if typed[0].isupper() and before and before[-1] not in ".!?:;":
                # a capital inside a sentence marks a name ("savings in Arun"): corrected only to a name
                # the collection has ("what did Barnett do": Barnet), never to a word ("Arun": "run")
                if self._a_name is None or not self._absent_word(typed):
                    return typed
                better = next((t for t in self._nearest(word) if self._a_name(t)), None)
                if better is None:
                    return typed
                fixes.append((typed, better.capitalize()))
                return better.capitalize()
            better = self._british(word) if len(word) >= MIN_LETTERS else None
            misspelt = better is None and self._misspelt(typed)
            if misspelt and not _VOWELS.search(word) and word not in self._names:
                # "bdgt": budget; its first letter kept, as a slip's is ("nndr" is no "under")
                better = next((w for w in self._skeletons.get(skeleton(word), []) if w[0] == word[0]), None)
            if misspelt and better is None:
                # a slip of a function word ("thier", "becuase") is the function word, read so by the
                # model and left out by the keyword side; a shorter word is too near too many ("wyre")
                found = self._nearest(word, function_words=len(word) >= FUNCTION_SLIP)
                # "libarys": "libary" is one edit from "library"; but a declared word is a word of its own
                # with its ending ("worcs", "hants": not "work" and "hand" for "worc" and "hant")
                for ending in _ENDINGS if not found and word not in self._names else ():
                    if word.endswith(ending) and len(word) - len(ending) >= MIN_LETTERS:
                        found = self._nearest(word[:-len(ending)], edits=1)
                        if found:
                            break
                if not found and word not in self._names:
                    found = self._nearest(word, function_words=len(word) >= FUNCTION_SLIP, among=self._name_spell)
                # of the words as near as each other ("pper": per, paper, peer), the one that stands
                # beside the query's next or last word in the collection ("paper forms"), else the commonest
                better = self._most_beside(found, beside(k) if len(found) > 1 else [])
            elif better is None and self._slip_of_a_stem(typed):
                # "procurment", "familis": a slip whose stem the index holds, so the keyword side found
                # procurement all along, but the model read the slip and the page never said it; "cente"
                # (centre) found every cent. Corrected as any slip, one edit at most; but a word the
                # collection writes hyphenated is no slip ("insourced", "in-sourced": see text.py).
                found = self._nearest(word, edits=1)
                if not any(t.replace("-", "") == word for t in found):
                    better = self._most_beside(found, beside(k))
            elif better is None and self._known_pair is not None and (near := beside(k)) and self._absent_word(typed):
                # an English word no document holds: the correction the words beside it stand with
                # ("chanel shift"), far commoner in English and no other form of the word ("complain"
                # and "complaint", "learnt" and "learn": either may be meant)
                used = english_frequencies()
                better = next((t for t in self._nearest(word)
                               if not (t.startswith(word) or word.startswith(t)) and used.get(t, 0) >= COMMONER * used.get(word, 0)
                               and self._beside(t, near)),
                              None)
            if better is None or _inflected(word, better.lower()):
                # "chatbots" is no slip for "chatbot" (a vocabulary term's word): search reads the two
                # alike, and the page said it searched for what the reader had typed
                return typed
            better = better.capitalize() if typed[0].isupper() else better
            fixes.append((typed, better))
            return better

        fixed = []
        for k, match in enumerate(words):
            fixed.append(fix(k, match))
            if fixed[-1] != match.group(0):
                corrected[k] = fixed[-1]
        # a word left as typed is read again beside its neighbours as corrected: "shered servises" had
        # kept "shered", an English word no document holds, since no document writes "shared servises"
        for k, match in enumerate(words) if corrected else ():
            if k not in corrected and any(at in corrected for at in (k - 1, k + 1)):
                fixed[k] = fix(k, match)
        fixes.sort(key=lambda f: query.find(f[0]))  # as the query has them, whichever pass made them
        out, at = [], 0
        for match, word in zip(words, fixed):
            out += [query[at:match.start()], word]
            at = match.end()
        return Correction("".join(out) + query[at:], fixes, short)
