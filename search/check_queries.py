"""Check the evaluation query set in queries.yml.

For every query whose form is `no-shared-words`, report any content word it shares with the full
text (front matter included, but for the questions its lessons answer, which case search does not
read) of any of its grade-2 cases, and exit 1 if there is one.

Words: lower-case, split on non-letters, drop words of 3 letters or fewer and the stopwords of
search/text.py. A word counts as shared if it matches a case word exactly or if both have the same
Snowball stem (so "sharing" is caught against "shared", "tenders" against "tender").

Also checks, for every query, that the form is known, that `relevant` maps case ids to grades 1 or
2, and that every relevant id exists in cases/.

Usage: python -m search.check_queries [path/to/queries.yml]
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import yaml

from kb.questions import WRITTEN
from search.text import STOPWORDS as TEXT_STOPWORDS
from search.text import stem

HERE = Path(__file__).resolve().parent
CASES = HERE.parent / "cases"
FORMS = {"keyword", "question", "situation", "no-shared-words", "paraphrase"}

# Function words (search/text.py) plus council/councils, as the brief allows.
STOPWORDS = TEXT_STOPWORDS | {"council", "councils"}


def words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z]+", text.lower()) if len(w) > 3 and w not in STOPWORDS}


def case_ids() -> set[str]:
    return {p.stem for p in CASES.glob("*.md")}


def main(path: Path) -> int:
    queries = yaml.safe_load(path.read_text(encoding="utf-8"))["queries"]
    ids = case_ids()
    case_words: dict[str, set[str]] = {}
    problems = 0

    for q in queries:
        text, form, graded = q.get("query", ""), q.get("form"), q.get("relevant") or {}
        label = f"[{q.get('id')}] {text[:70]!r}"
        if form not in FORMS:
            print(f"{label}: unknown form {form!r}")
            problems += 1
        if not isinstance(graded, dict) or not graded or set(graded.values()) - {1, 2}:
            print(f"{label}: relevant must map case ids to grades 1 or 2")
            problems += 1
            continue
        missing = [r for r in graded if r not in ids]
        if missing:
            print(f"{label}: unknown case ids {missing}")
            problems += 1
        if form != "no-shared-words":
            continue
        relevant = [cid for cid, grade in graded.items() if grade == 2 and cid in ids]
        qwords = words(text)
        overlaps: dict[str, list[str]] = {}
        for cid in relevant:
            if cid not in case_words:
                # a case's lesson_questions are lesson search's: case search does not read them
                case_words[cid] = words(WRITTEN.sub("", (CASES / f"{cid}.md").read_text(encoding="utf-8")))
            cw = case_words[cid]
            cstems = {stem(w): w for w in cw}
            for w in sorted(qwords):
                if w in cw:
                    overlaps.setdefault(cid, []).append(w)
                elif stem(w) in cstems:
                    overlaps.setdefault(cid, []).append(f"{w}~{cstems[stem(w)]}")
        if overlaps:
            problems += 1
            detail = "; ".join(f"{cid}: {', '.join(ws)}" for cid, ws in overlaps.items())
            print(f"{label}: shares {detail}")

    forms = Counter(q.get("form") for q in queries)
    voices = Counter(q.get("voice") for q in queries)
    print(f"{len(queries)} queries; forms: " + ", ".join(f"{s} {forms[s]}" for s in sorted(forms)) +
          "; voices: " + ", ".join(f"{s} {voices[s]}" for s in sorted(voices)))
    covered = {r for q in queries for r in q.get("relevant") or {}}
    print(f"cases judged relevant to some query: {len(covered & ids)} of {len(ids)}")
    if problems:
        print(f"{problems} problem(s)")
        return 1
    print("all checks pass")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "queries.yml"))
