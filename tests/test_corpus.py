"""The corpus itself: every register case is present and cited, everything validates, and the
files derived from the schema and vocabularies are up to date."""
import re

from kb import ROOT
from kb.docs import generated_files
from kb.validate import check_collection, discover
from kb.vocabulary import load_vocabularies

from .conftest import shared


def register_ids():
    rows = re.findall(r"^\| (\d+) \| `([a-z0-9-]+)` \|", shared("case-register.md").read_text(encoding="utf-8"),
                      flags=re.M)
    # counted from the register itself: every numbered row was read, none twice
    assert rows and [int(n) for n, _ in rows] == list(range(1, len(rows) + 1))
    return [case_id for _, case_id in rows]


def test_every_register_case_has_a_file_with_a_citation():
    ids = register_ids()
    assert len(set(ids)) == len(ids)
    missing = [i for i in ids if not (ROOT / "cases" / f"{i}.md").exists()]
    assert missing == []
    records, problems = check_collection([ROOT / "cases" / f"{i}.md" for i in ids], ROOT)
    assert problems == []
    for record in records:
        assert record.data["sources"], record.id
        assert all(s["lines"] for s in record.data["sources"]), record.id


def test_whole_corpus_validates():
    corpus_validates(ROOT)


def corpus_validates(root):
    """Everything validates, and every file is a record: counted from the files, so a new case or
    source report changes no number here."""
    found = discover(root)
    records, problems = check_collection(found["source"] + found["case"], root)
    assert [str(p) for p in problems] == []
    assert len([r for r in records if r.kind == "source"]) == len(found["source"])
    assert len([r for r in records if r.kind == "case"]) == len(found["case"])


def test_anonymised_cases_name_no_borough():
    boroughs = ["Camden", "Haringey", "Sutton", "Westminster"]
    found = discover(ROOT)
    records, _ = check_collection(found["case"], ROOT)
    for record in records:
        if any(o.get("anonymised") for o in record.data["organisations"]):
            text = record.document.path.read_text(encoding="utf-8")
            assert not [b for b in boroughs if b in text], record.id


def test_generated_files_are_up_to_date():
    for path, text in generated_files().items():
        assert (ROOT / path).read_text(encoding="utf-8") == text, f"{path} is stale: run `kb schema`"


def test_vocabulary_spellings_are_unambiguous():
    for vocab in load_vocabularies().values():
        seen = {}
        for term in vocab.terms.values():
            for spelling in {term.slug, term.label.lower(), *(a.lower() for a in term.aliases)}:
                assert seen.setdefault(spelling, term.slug) == term.slug, (vocab.key, spelling)


def test_evaluation_sets_are_sound(corpus_db):
    """Every relevant id exists and no-shared-words queries really share no content word."""
    from search.check_queries import main
    from search.evaluate import LESSON_QUERIES_FILE, QUERIES_FILE, SIMILAR_FILE, load_queries

    assert main(QUERIES_FILE) == 0
    import sqlite3

    lessons = {r[0] for r in sqlite3.connect(corpus_db).execute("select id from lessons")}
    cases = {p.stem for p in (ROOT / "cases").glob("*.md")}
    for q in load_queries(LESSON_QUERIES_FILE):
        assert q["relevant"] and set(q["relevant"].values()) <= {1, 2}, q["id"]
        assert set(q["relevant"]) <= lessons, q["id"]
    # the blind reviews kept beside them (search/reviews/): cases-*.yml checked as queries.yml is (its
    # no-shared-words queries against every grade-2 case), lessons-*.yml judged against the lessons
    case_reviews = sorted((ROOT / "search" / "reviews").glob("cases-*.yml"))
    assert case_reviews and all(main(path) == 0 for path in case_reviews)
    reviews = sorted((ROOT / "search" / "reviews").glob("lessons-*.yml"))
    assert reviews
    for path in reviews:
        queries = load_queries(path)
        assert len({q["id"] for q in queries}) == len(queries) >= 30, path.name
        for q in queries:
            assert q["form"] in {"keyword", "question", "situation"} and q["query"].strip(), (path.name, q["id"])
            assert q["relevant"] and set(q["relevant"].values()) <= {1, 2}, (path.name, q["id"])
            assert set(q["relevant"]) <= lessons, (path.name, q["id"])
    import yaml

    for target in yaml.safe_load(SIMILAR_FILE.read_text())["targets"]:
        assert target["case"] in cases and target["case"] not in target["comparable"]
        assert set(target["comparable"]) <= cases and set(target["comparable"].values()) <= {1, 2}
