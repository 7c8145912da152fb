"""Check the evaluation query set in queries.yml.

For every query whose style is `no-shared-words`, report any content word it shares with the full
text (front matter included) of any of its relevant cases, and exit 1 if there is one.

Words: lower-case, split on non-letters, drop words of 3 letters or fewer and the stopwords below.
A word counts as shared if it matches a case word exactly or if both reduce to the same crude stem
(so "sharing" is caught against "shared", "tenders" against "tender").

Also checks, for every query, that the style is known, that `relevant` is a non-empty list without
duplicates, and that every relevant id exists in cases/.

Usage: python search/check_queries.py [path/to/queries.yml]
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
CASES = HERE.parent / "cases"
STYLES = {"keyword", "paraphrase", "no-shared-words"}

# Function words only (plus council/councils, as the brief allows). Kept short on purpose: a longer
# list would let content words through.
STOPWORDS = set("""
the a of our we to and in for with how can council councils
that this these those from into onto have has had been being were what which when where while
who whom whose why their them they there then than some such more most other others also about
after before over under only very just your yours ours each does doing done would could should
will shall must might without within between through
""".split())

# Short words too common to be worth a note (articles, prepositions, pronouns, auxiliaries, numbers).
SHORT_COMMON = set("""
a an the of to in on at by for and or but so no not it its we our us you my me he she his her they
is be are was has had do did can may via per as up out off one two new put get let go all any own
id how who why few
""".split())

SUFFIXES = ("ational", "ations", "ation", "ings", "ing", "edly", "ied", "ies", "ed", "es", "ers", "er", "ly", "s")


def words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z]+", text.lower()) if len(w) > 3 and w not in STOPWORDS}


def stem(w: str) -> str:
    for suf in SUFFIXES:
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            w = w[: -len(suf)] + ("y" if suf in ("ies", "ied") else "")
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouylsz":
        w = w[:-1]  # running -> runn -> run
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]  # share / shared / sharing -> shar
    return w


def case_ids() -> set[str]:
    return {p.stem for p in CASES.glob("*.md")}


def main(path: Path) -> int:
    queries = yaml.safe_load(path.read_text(encoding="utf-8"))["queries"]
    ids = case_ids()
    case_words: dict[str, set[str]] = {}
    problems = 0

    for n, q in enumerate(queries, 1):
        text, style, relevant = q.get("query", ""), q.get("style"), q.get("relevant") or []
        label = f"[{n}] {text!r}"
        if style not in STYLES:
            print(f"{label}: unknown style {style!r}")
            problems += 1
        if not relevant or len(set(relevant)) != len(relevant):
            print(f"{label}: relevant must be a non-empty list without duplicates")
            problems += 1
        missing = [r for r in relevant if r not in ids]
        if missing:
            print(f"{label}: unknown case ids {missing}")
            problems += 1
        if style != "no-shared-words":
            continue
        qwords = words(text)
        overlaps: dict[str, list[str]] = {}
        for cid in relevant:
            if cid not in ids:
                continue
            if cid not in case_words:
                case_words[cid] = words((CASES / f"{cid}.md").read_text(encoding="utf-8"))
            cw = case_words[cid]
            cstems = {stem(w): w for w in cw}
            for w in sorted(qwords):
                if w in cw:
                    overlaps.setdefault(cid, []).append(w)
                elif stem(w) in cstems:
                    overlaps.setdefault(cid, []).append(f"{w}~{cstems[stem(w)]}")
        # Advisory only (the rule ignores words of 3 letters or fewer): a short content word that the
        # case also uses, or uses in the plural ("bin" / "bins"), is worth rewording.
        short = {w for w in re.split(r"[^a-z]+", text.lower()) if 0 < len(w) <= 3 and w not in SHORT_COMMON}
        for cid in relevant:
            if cid in ids:
                raw = set(re.split(r"[^a-z]+", (CASES / f"{cid}.md").read_text(encoding="utf-8").lower()))
                for w in sorted(short):
                    if w in raw or w + "s" in raw:
                        print(f"{label}: note, short word {w!r} also in {cid}")
        if overlaps:
            problems += 1
            detail = "; ".join(f"{cid}: {', '.join(ws)}" for cid, ws in overlaps.items())
            print(f"{label}: shares {detail}")
        else:
            print(f"{label}: ok")

    counts = Counter(q.get("style") for q in queries)
    print(f"\n{len(queries)} queries: " + ", ".join(f"{s} {counts[s]}" for s in sorted(counts)))
    covered = {r for q in queries for r in q.get("relevant") or []}
    print(f"cases covered: {len(covered & ids)} of {len(ids)}")
    if ids - covered:
        print("not covered: " + ", ".join(sorted(ids - covered)))
    if problems:
        print(f"{problems} problem(s)")
        return 1
    print("all checks pass")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "queries.yml"))
