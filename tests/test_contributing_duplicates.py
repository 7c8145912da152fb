"""Near-duplicate cases: `kb validate` warns (never fails) when a case is very like another."""
import re

import numpy as np
import pytest
from click.testing import CliRunner

from ingest.build import build
from ingest.duplicates import COSINE_WARN, TITLE_WARN, by_meaning, by_organisation
from kb import ROOT
from kb.cli import cli
from kb.embedding import hash_vectors
from kb.validate import check_collection, discover

from .conftest import FIXTURES

GOOD = (FIXTURES / "good-case.md").read_text(encoding="utf-8")
NAME = "brighton-hove-reablement"
# a copy with a few words changed: new id and title, two sentences reworded
COPY = GOOD.replace(f"id: {NAME}", "id: brighton-reablement-copy").replace(
    "title: Brighton and Hove scales up an open-door reablement service for older people",
    "title: An open-door reablement service for older people in Brighton").replace(
    "Pilot first, then scale", "Trial first, then grow").replace("Short, intensive support", "Short, focused help")


def kb(root, *args):
    return CliRunner().invoke(cli, ["--root", str(root), *args])


class WordsEmbedder:
    """A stand-in model under which texts that share most of their words are close (the hash stand-in
    makes any changed text unrelated): each text is the sum of its words' hash vectors."""
    name = "test/words"

    def encode(self, texts, progress=False):
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for n, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            out[n] = hash_vectors(words, 256).sum(axis=0)
            out[n] /= np.linalg.norm(out[n])
        return out


@pytest.fixture
def words_model(monkeypatch):
    """`kb validate` embeds a new case with the database's model: here, the words stand-in."""
    import ingest.duplicates

    monkeypatch.setattr(ingest.duplicates, "Embedder", lambda name: WordsEmbedder())
    return WordsEmbedder()


def test_a_copy_with_a_few_words_changed_warns_but_does_not_fail(small_root, words_model):
    build(small_root, small_root / "kb.db", progress=False, embedder=words_model)
    (small_root / "cases" / "brighton-reablement-copy.md").write_text(COPY, encoding="utf-8")
    result = kb(small_root, "validate", str(small_root / "cases" / "brighton-reablement-copy.md"))
    assert result.exit_code == 0, result.output
    [warning] = result.stdout.strip().split("\n")
    assert warning.startswith(f"cases/brighton-reablement-copy.md:3: warning: very like cases/{NAME}.md (similarity 0.")
    assert warning.endswith(f" by meaning; warned from {COSINE_WARN}) - if it is the same initiative, add what is new "
                            "to that file instead; if not, make the title and summary say what differs")
    github = kb(small_root, "validate", "--format", "github", str(small_root / "cases" / "brighton-reablement-copy.md"))
    assert github.stdout.startswith("::warning file=cases/brighton-reablement-copy.md,line=3,title=kb validate::very like")


def test_without_a_database_it_says_meaning_was_not_checked(small_root):
    result = kb(small_root, "validate")
    assert result.exit_code == 0
    assert f"note: no database at {small_root / 'kb.db'}, so near-duplicates by meaning were not checked" in result.stderr


def test_same_organisation_and_a_near_identical_title(small_root):
    text = GOOD.replace(f"id: {NAME}", "id: copy").replace("older people", "older residents").replace(
        "Pilot first, then scale", "Start small")
    (small_root / "cases" / "copy.md").write_text(text, encoding="utf-8")
    records, problems = check_collection(sorted((small_root / "cases").glob("*.md")), small_root)
    assert problems == []
    [warning] = by_organisation([r for r in records if r.id == "copy"], records)
    assert str(warning).startswith(f"cases/copy.md:3: very like cases/{NAME}.md (same organisation, titles 0.9")
    # an anonymised council's placeholder name says nothing about which council it is
    for r in records:
        r.data["organisations"][0]["anonymised"] = True
    assert by_organisation([r for r in records if r.id == "copy"], records) == []


def test_no_two_cases_of_the_corpus_warn(corpus_db):
    """With the stand-in model; the threshold itself is chosen on the real model (below)."""
    records, _ = check_collection(discover(ROOT)["case"], ROOT)
    assert by_organisation(records, records) == []
    assert by_meaning(records, corpus_db) == []


@pytest.mark.model
def test_the_threshold_sits_between_the_corpus_and_a_copy(model_corpus_db, tmp_path):
    import sqlite3

    conn = sqlite3.connect(model_corpus_db)
    vectors = np.vstack([np.frombuffer(v, dtype=np.float32) for (v,) in conn.execute("select vector from case_vectors")])
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -1)
    assert scores.max() < COSINE_WARN - 0.02  # the most alike distinct cases (0.883 when chosen)
    records, _ = check_collection(discover(ROOT)["case"], ROOT)
    assert by_meaning(records, model_corpus_db) == []
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "brighton-reablement-copy.md").write_text(COPY, encoding="utf-8")
    copy, problems = check_collection([tmp_path / "cases" / "brighton-reablement-copy.md"], ROOT)
    [warning] = by_meaning(copy, model_corpus_db)
    assert f"very like cases/{NAME}.md (similarity 0.9" in str(warning)
    assert float(str(warning).split("similarity ")[1][:4]) >= COSINE_WARN + 0.02
    titles = [r.data["title"].casefold() for r in records]
    import difflib

    assert max(difflib.SequenceMatcher(None, a, b).ratio() for i, a in enumerate(titles) for b in titles[i + 1:]) < TITLE_WARN


def _whole_tree(tmp_path):
    import shutil
    root = tmp_path / "tree"
    shutil.copytree(ROOT / "sources", root / "sources")
    shutil.copytree(ROOT / "cases", root / "cases")
    return root


def test_a_withdrawn_case_still_named_by_another_is_told_at_its_line(tmp_path, corpus_db):
    """An editor withdrew a case that another names by its id: validate said every file was OK, and the
    site printed "barnet-capita-outsourcing" as plain text where a link had been."""
    root = _whole_tree(tmp_path)
    (root / "cases" / "barnet-capita-outsourcing.md").unlink()
    result = kb(root, "validate", "--db", str(corpus_db))
    assert result.exit_code == 0  # a warning: the database may be older than the files
    told = [line for line in result.output.splitlines() if "names the case 'barnet-capita-outsourcing'" in line]
    lines = [n for n, line in enumerate((ROOT / "cases" / "barnet-commissioning-council.md").read_text().splitlines(), 1)
             if "barnet-capita-outsourcing" in line]
    assert lines and [line.split(": warning")[0] for line in told if "barnet-commissioning-council" in line] == [
        f"cases/barnet-commissioning-council.md:{n}" for n in lines]
    assert all("write the id it was renamed to, or name it in words" in line for line in told)


def test_a_renamed_case_is_not_very_like_its_own_old_file(tmp_path, corpus_db):
    root = _whole_tree(tmp_path)
    old = root / "cases" / "tri-borough-shared-services.md"
    new = root / "cases" / "tri-borough-shared-services-2011.md"
    new.write_text(old.read_text().replace("id: tri-borough-shared-services\n", "id: tri-borough-shared-services-2011\n"))
    old.unlink()
    result = kb(root, "validate", "--db", str(corpus_db), str(new))
    assert "very like cases/tri-borough-shared-services.md" not in result.output, result.output
    assert result.exit_code == 0


def test_kb_evaluate_names_the_judged_sets_lines_of_a_withdrawn_case(tmp_path, corpus_db):
    """`kb evaluate` stopped in a traceback ("unknown case id") naming no file, when a withdrawn case
    was still judged in search/queries.yml and search/similar_judgments.yml."""
    import shutil
    import sqlite3
    db = tmp_path / "kb.db"
    shutil.copy(corpus_db, db)
    with sqlite3.connect(db) as conn:
        conn.execute("delete from cases where id = 'barnet-capita-outsourcing'")
    result = CliRunner().invoke(cli, ["evaluate", "--db", str(db)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Error: search/queries.yml: query q")
    assert all("judges barnet-capita-outsourcing, which the database does not hold" in line
               for line in lines if "queries.yml" in line)
    assert any(line.startswith("search/similar_judgments.yml: target ") and "barnet-capita-outsourcing" in line for line in lines)


def test_same_organisation_citing_the_same_passage_under_another_title(small_root):
    """A case re-recording part of another (the same council, the same lines of the report, one figure
    the same) under a new title scored 0.84 by meaning and 0.51 by title: no warning."""
    import re

    title = re.search(r"^title: (.*)$", GOOD, re.M).group(1)
    text = GOOD.replace(f"id: {NAME}", "id: part").replace(f"title: {title}", "title: A city's hospital discharge team")
    (small_root / "cases" / "part.md").write_text(text, encoding="utf-8")
    records, problems = check_collection(sorted((small_root / "cases").glob("*.md")), small_root)
    assert problems == []
    [warning] = by_organisation([r for r in records if r.id == "part"], records)
    assert str(warning).startswith(f"cases/part.md:3: very like cases/{NAME}.md (same organisation, and the figure "
                                   "\"around £313,000\" of dclg-2014-good-practice-savings at line 1710 in both")
    # without the shared figures, the lines alone tell it
    for r in records:
        if r.id == "part":
            r.data["savings"] = []
    [warning] = by_organisation([r for r in records if r.id == "part"], records)
    assert "same organisation, citing mostly the same lines of dclg-2014-good-practice-savings (" in str(warning)
    # another council citing the same passage is another case (a report may compare two councils at once)
    for r in records:
        if r.id == "part":
            r.data["organisations"] = [{**r.data["organisations"][0], "name": "Another council"}]
    assert by_organisation([r for r in records if r.id == "part"], records) == []
