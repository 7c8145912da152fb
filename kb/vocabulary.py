"""The controlled vocabularies declared in kb/vocabulary.yml."""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


VOCABULARY_FILE = Path(__file__).with_name("vocabulary.yml")
SAVING = "saving"  # the one figure kind whose statuses read as a saving's (kb/vocabulary.yml, figure_kinds)
# function words: search leaves them out of a query, and an acronym may skip them ("ehcp")
STOPWORDS = frozenset("""a an and are as at be been being but by can could do does doing done for from had has have
how i in into is it its like me my of on onto or our ours so than that the their them then there these they this
those to was we were what when where which while who whom whose why will with would you your yours about any some
more most such all also after before during once other others over under only very just each should shall must
might without within between through""".split()) | frozenset(
    # "I am", and a contraction's parts ("don't": don, t) or the whole typed without its apostrophe on a
    # phone ("dont", "weve"): in no text, they were each the rarest word of the query
    """am don doesn didn isn aren wasn weren wouldn couldn shouldn haven hasn hadn ve re ll dont doesnt didnt isnt
    arent wasnt werent wouldnt couldnt shouldnt havent hasnt hadnt im ive weve youve theyve youre theyre theres
    thats whats""".split()) | frozenset(
    # a spoken query's fillers and an email's courtesies ("um so can you find me ...", "hi ... thanks"):
    # in no text either, they too were the rarest words of the query
    """um umm er erm uh uhh hmm ah oh ok okay hi hello hey please thanks cheers""".split())
FILLER = {"and", "the", "of", "services", "service", "council", "with", "a"}


@dataclass(frozen=True)
class Term:
    slug: str
    label: str
    definition: str
    aliases: tuple[str, ...] = ()
    family: str | None = None
    synonyms: tuple[str, ...] = ()  # everyday words for the term, used to read queries only
    other_kinds_label: str | None = None  # a figure status's label on a figure that is not a saving
    unknown: bool = False  # says only that the source does not tell: nothing two cases can share


@dataclass
class Vocabulary:
    key: str
    label: str
    description: str
    terms: dict[str, Term] = field(default_factory=dict)

    def accepted(self) -> list[str]:
        """Every spelling the files may use: slugs first, then labels and aliases."""
        names = list(self.terms)
        for term in self.terms.values():
            names.extend(a for a in (term.label, *term.aliases) if a not in names)
        return names

    def canonical(self, value: str) -> str | None:
        """The slug for a slug, alias or label (case-insensitive), or None."""
        wanted = value.strip().lower()
        for term in self.terms.values():
            if wanted == term.slug or wanted == term.label.lower() or wanted in (a.lower() for a in term.aliases):
                return term.slug
        return None

    def suggest(self, value: str) -> str | None:
        """The nearest slug to a misspelt value, for 'did you mean'."""
        exact = self.canonical(value)
        if exact:
            return exact
        spellings: dict[str, str] = {}
        for term in self.terms.values():
            for name in (term.slug, term.label.lower(), *(a.lower() for a in term.aliases)):
                spellings.setdefault(name, term.slug)
        wanted = value.strip().lower()
        words = set(wanted.replace("-", " ").split()) - FILLER

        def closeness(name: str) -> float:
            # Shared words first ("adult care services" is nearer "adult care" than "cultural services"),
            # then spelling similarity for typos.
            shared = len(words & (set(name.replace("-", " ").split()) - FILLER))
            return shared + difflib.SequenceMatcher(None, wanted, name).ratio()

        best = max(spellings, key=closeness)
        return spellings[best] if closeness(best) >= 0.6 else None

    def label_of(self, slug: str) -> str:
        term = self.terms.get(slug)
        return term.label if term else slug

    def status_label(self, slug: str, kind: str | None) -> str:
        """A figure status as it reads on a figure of this kind: a cost is "Actual", not "Achieved"."""
        term = self.terms.get(slug)
        if term is None:
            return slug
        return term.other_kinds_label if kind != SAVING and term.other_kinds_label else term.label


@lru_cache(maxsize=None)
def load_vocabularies(path: Path = VOCABULARY_FILE) -> dict[str, Vocabulary]:
    """The vocabularies, or DeclarationError naming the file's line and the fix (see kb/declared.py)."""
    from .declared import DeclarationError, line_of, loaded, shown

    raw = loaded(path, "fix the indentation or quoting there (each term: slug, then label and definition indented under it)")
    if not isinstance(raw, dict):
        raise DeclarationError(f"{shown(path)}:1: holds no vocabularies - each is a key with `label:` and `terms:` under it")
    vocabularies = {}
    for key, spec in raw.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("label"), str) or not isinstance(spec.get("terms"), dict):
            raise DeclarationError(f"{shown(path)}:{line_of(path, key)}: the vocabulary {key} has no `label:` and "
                                   "`terms:` - give it both, the terms one under the other")
        vocab = Vocabulary(key=key, label=spec["label"], description=spec.get("description", ""))
        for slug, term in spec["terms"].items():
            if not isinstance(term, dict) or not all(isinstance(term.get(k), str) for k in ("label", "definition")):
                raise DeclarationError(f"{shown(path)}:{line_of(path, key, 'terms', slug)}: the term {key}/{slug} has "
                                       "no `label:` and `definition:` - give it both, indented under it")
            vocab.terms[slug] = Term(
                slug=slug,
                label=term["label"],
                definition=term["definition"],
                aliases=tuple(term.get("aliases") or ()),
                family=term.get("family"),
                synonyms=tuple(term.get("synonyms") or ()),
                other_kinds_label=term.get("other_kinds_label"),
                unknown=bool(term.get("unknown")),
            )
        vocabularies[key] = vocab
    return vocabularies


# The terms table's columns (declared in kb/schema.yml) that a database's vocabularies are read back from
STORED_COLUMNS = ("vocabulary", "vocabulary_label", "slug", "label", "definition", "aliases", "synonyms")
OPTIONAL_COLUMNS = ("other_kinds_label",)  # read where the database has them (older builds do not)


def vocabularies_from_rows(rows) -> dict[str, Vocabulary]:
    """Vocabularies as a database stores them: rows of the terms table as dicts by column name, with
    aliases and synonyms as JSON."""
    out: dict[str, Vocabulary] = {}
    for row in rows:
        vocab = out.setdefault(row["vocabulary"], Vocabulary(key=row["vocabulary"], label=row["vocabulary_label"],
                                                             description=""))
        vocab.terms[row["slug"]] = Term(row["slug"], row["label"], row["definition"],
                                        tuple(json.loads(row["aliases"] or "[]")),
                                        synonyms=tuple(json.loads(row["synonyms"] or "[]")),
                                        other_kinds_label=row.get("other_kinds_label"))
    return out


def stored_vocabularies(conn) -> dict[str, Vocabulary]:
    """The vocabularies a database was built with, from its terms table. A KeyError names a column
    kb/schema.yml does not declare; a database built without one of them raises sqlite3.OperationalError,
    and each caller decides what an older database gets."""
    from .schema import tables  # not at the top: kb.schema imports this module

    declared = tables()["terms"].names
    missing = [name for name in STORED_COLUMNS if name not in declared]
    if missing:
        raise KeyError(f"kb/schema.yml declares no {', '.join(missing)} in the terms table")
    present = {r[1] for r in conn.execute("select * from pragma_table_info('terms')")}
    columns = STORED_COLUMNS + tuple(c for c in OPTIONAL_COLUMNS if c in present and c in declared)
    cursor = conn.execute(f"select {', '.join(columns)} from terms")
    return vocabularies_from_rows(dict(zip(columns, row)) for row in cursor)


_NAME_WORDS = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)?")  # "children's" is one word
# a word with its hyphenated parts together ("re-engineering"), whose initial an acronym may take once
_WHOLE_WORDS = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")


def _initials(words: list[str]) -> tuple[str, str]:
    """The initials of every word, and of every word but the function words."""
    return "".join(w[0] for w in words), "".join(w[0] for w in words if w not in STOPWORDS)


def spelt_out(acronym: str, meaning: str) -> str | None:
    """The words at the start of `meaning` that the acronym is made of, in lower case, or None: each
    word gives its first letter or its first few ("Co" of company in "LATCo", "So" of society in
    "SOLACE"), a function word may give none, a hyphenated word gives one letter or one for each part
    ("FTE", "Full-time equivalent"), and what the acronym is not made of is left out ("TUPE", "Transfer
    of Undertakings (Protection of Employment) Regulations, which move staff ...": "transfer of
    undertakings protection of employment")."""
    letters = acronym.lower()
    words = _WHOLE_WORDS.findall(meaning.lower())

    def spell(k: int, j: int, parts: list[str]) -> int | None:
        """How many of the words spell letters[j:], from words[k] (parts: the rest of a hyphenated word)."""
        if j == len(letters):
            return k
        if not parts and k == len(words):
            return None
        word, rest = (parts[0], parts[1:]) if parts else (words[k], [])
        nxt = k if rest else k + 1
        if not parts and "-" in word:  # its parts one at a time
            split = word.split("-")
            found = spell(k, j, split)
            if found is not None:
                return found
        if word in STOPWORDS and (found := spell(nxt, j, rest)) is not None:
            return found
        for size in range(1, len(word) + 1):
            if letters[j:j + size] != word[:size]:
                break
            if (found := spell(nxt, j + size, rest)) is not None:
                return found
        return None

    used = spell(0, 0, []) if len(letters) >= 2 and words else None
    return " ".join(words[:used]) if used else None


def acronyms_of(names) -> dict[str, list[str]]:
    """The acronyms among one term's names and the names they stand for: a one-word name of two to six
    letters that is the initials of a longer name, of all its words or of all but its function words
    ("mtfp": "medium-term financial plan"; "ehcp": "education health and care plan"; a hyphenated word
    gives one initial or one for each part: "bpr", "business process re-engineering"). An acronym also
    stands for a longer acronym whose name holds every word of its own ("it", information technology,
    for "ict", information and communications technology): a document that writes the longer one is
    about the shorter one's thing. Declared once, as names of the term in kb/vocabulary.yml."""
    names = [n.lower() for n in names]
    found: dict[str, list[str]] = {}
    for acronym in names:
        if not re.fullmatch(r"[^\W\d_]{2,6}", acronym):
            continue
        for name in names:
            words = _NAME_WORDS.findall(name)
            # a hyphenated word gives one initial or one for each part ("bpr", "business process
            # re-engineering"; "mtfp", "medium-term financial plan")
            if len(words) > 1 and acronym in (*_initials(words), *_initials(_WHOLE_WORDS.findall(name))):
                found.setdefault(acronym, []).append(name)
    content = {a: [set(_NAME_WORDS.findall(n)) - STOPWORDS for n in ns] for a, ns in found.items()}
    for a in found:
        for b in found:
            if a != b and any(x < y for x in content[a] for y in content[b]):
                found[a] = list(dict.fromkeys(found[a] + [b] + found[b]))
    return found
