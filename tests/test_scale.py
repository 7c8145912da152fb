"""What makes a large corpus fast must not change what it finds: similar cases from candidates equal
those from every pair; an incremental rebuild equals a fresh one; float16 or int8 vectors with float32
re-scoring find what float32 finds, and filters stay exact."""
import shutil
import sqlite3

import numpy as np
import pytest

from ingest import build as build_module
from ingest import cache as cache_module
from ingest import patch as patch_module
from ingest import similar as similar_module
from ingest.build import BuildFailed, build
from ingest.cache import cache_path
from ingest.similar import _raw_scores, _Similarity, _tag_matrix, _weighted_tags
from kb import ROOT
from kb.schema import similar_spec
from search.scan import OFFSET

from .conftest import real_tree

FILTERS = [{"council_types": ["district-council", "unitary-authority"]},
           {"services": ["adult-social-care", "whole-council"], "outcome": ["succeeded"]}]


def _all_pairs(vectors, tags, k=5, hub_k=5):
    """The similar-case lists by scoring every pair, as the formula says."""
    raw = _raw_scores(vectors, tags, np.arange(len(vectors)))
    hub = np.sort(raw, axis=1)[:, ::-1][:, :hub_k].mean(axis=1)
    csls = raw - 0.5 * (hub[:, None] + hub[None, :])
    return [list(np.argsort(-row, kind="stable")[:k]) for row in csls]


def test_raw_scores_are_the_formula_bit_for_bit():
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(300, 24)).astype(np.float32)
    tags = (rng.random((300, 9)) < 0.3).astype(np.float32)
    rows = np.arange(40, 140)
    v, t = vectors.astype(np.float64), tags.astype(np.float64)
    written_out = ((v[rows] @ v.T) + (t[rows] @ t.T)).astype(np.float32)
    written_out[np.arange(len(rows)), rows] = -np.inf
    assert np.array_equal(_raw_scores(vectors, tags, rows), written_out)


def test_tag_groups_count_at_their_declared_weights():
    # the approach (the kind of change) counts twice the service, and how it was made (its key
    # attributes) a little: the dot product of two cases' rows is 0.4 x the cosine of their approaches
    # + 0.2 x the cosine of their services + 0.1 x the cosine of their key attributes
    db = sqlite3.connect(":memory:")
    db.execute("create table cases (id text, services text, approaches text, key_attributes text)")
    db.executemany("insert into cases values (?, ?, ?, ?)", [
        ("a", '["housing"]', '["insourcing", "service-redesign"]', '["leadership"]'),
        ("b", '["housing"]', '["insourcing"]', None),
        ("c", '["libraries"]', '["insourcing", "service-redesign"]', None),
        ("d", '["housing"]', '["agile-working"]', '["leadership"]')])
    ids = ["a", "b", "c", "d"]
    assert similar_spec()["tags"] == {"approaches": 0.4, "services": 0.2, "key_attributes": 0.1}
    scores = _weighted_tags(db, ids) @ _weighted_tags(db, ids).T
    approaches, services, attributes = (_tag_matrix(db, ids, [c])[0] for c in ("approaches", "services", "key_attributes"))
    expected = 0.4 * (approaches @ approaches.T) + 0.2 * (services @ services.T) + 0.1 * (attributes @ attributes.T)
    assert np.allclose(scores, expected, atol=1e-6)
    # the same approaches in another service outrank the same service with another approach and a
    # shared key attribute
    assert scores[0, 2] == pytest.approx(0.4) and scores[0, 3] == pytest.approx(0.3)


def test_similar_in_blocks_equals_the_formula_over_every_pair(monkeypatch):
    rng = np.random.default_rng(3)
    # clustered vectors with a few hubs near everything, so CSLS reorders lists
    centres = rng.normal(size=(6, 32))
    vectors = centres[rng.integers(0, 6, 400)] + 0.7 * rng.normal(size=(400, 32))
    vectors[:10] = centres.mean(axis=0) + 0.1 * rng.normal(size=(10, 32))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    tags = (rng.random((400, 12)) < 0.2).astype(np.float32)
    tags /= np.maximum(np.linalg.norm(tags, axis=1, keepdims=True), 1e-9)
    expected = _all_pairs(vectors, tags)
    monkeypatch.setattr(similar_module, "BLOCK", 64)  # several blocks
    sim = _Similarity(vectors, tags)
    rows = np.arange(len(vectors))
    _, raw = sim.raw_top(rows)
    got = dict(sim.lists(rows, raw.mean(axis=1)))
    assert [[c for c, _ in got[r]] for r in rows] == [[int(c) for c in e] for e in expected]
    # a subset of rows gets the same lists as when every row is scored
    some = rows[::7]
    assert dict(sim.lists(some, raw.mean(axis=1))) == {int(r): got[r] for r in some}


def _similar(db):
    return sqlite3.connect(db).execute("select case_id, similar_id, rank, score, reason from similar_cases "
                                       "order by case_id, rank").fetchall()


def _edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_rebuild_with_nothing_changed_leaves_the_database_alone(tree, tmp_path):
    out = tmp_path / "kb.db"
    first = build(tree, out, model="hash:384", progress=False)
    before = (out.stat().st_mtime_ns, out.read_bytes())
    again = build(tree, out, model="hash:384", progress=False)
    assert again.unchanged and again.embedded == 0 and again.reused == first.chunks
    assert (again.cases, again.lessons, again.chunks) == (first.cases, first.lessons, first.chunks)
    assert (out.stat().st_mtime_ns, out.read_bytes()) == before
    # another model is another database
    other = build(tree, out, model="hash:128", progress=False)
    assert not other.unchanged and other.embedded == other.chunks


@pytest.fixture
def larger_tree(tmp_path):
    """The real sources and 30 real cases: among 12, one case's change may reach every list of five
    (it did once a case beside it was reworded), so "only the lists it can affect" showed nothing."""
    return real_tree(tmp_path / "larger", 30)


def test_one_changed_case_reembeds_its_chunks_and_equals_a_fresh_build(larger_tree, tmp_path):
    tree = larger_tree
    out = tmp_path / "kb.db"
    build(tree, out, model="hash:384", progress=False)
    case = sorted((tree / "cases").glob("*.md"))[4]
    _edit(case, "## Challenges\n\n", "## Challenges\n\n- A new challenge, written to test the rebuild.\n")
    changed = build(tree, out, model="hash:384", progress=False)
    assert changed.embedded == 1  # the Challenges section's chunk
    assert 0 < changed.similar_computed < changed.cases
    fresh = build(tree, tmp_path / "fresh.db", model="hash:384", progress=False)
    assert fresh.similar_computed == fresh.cases
    assert _similar(out) == _similar(tmp_path / "fresh.db")


def test_changed_tags_rescore_every_list_and_equal_a_fresh_build(tree, tmp_path):
    out = tmp_path / "kb.db"
    build(tree, out, model="hash:384", progress=False)
    case = sorted((tree / "cases").glob("*.md"))[2]
    text = case.read_text(encoding="utf-8")
    services = next(line for line in text.splitlines() if line.startswith("services: ["))
    assert "public-health" not in services
    _edit(case, services, services.replace("[", "[public-health, ", 1))
    changed = build(tree, out, model="hash:384", progress=False)
    assert changed.similar_computed == changed.cases  # a tag's rarity moved: every tag vector changed
    build(tree, tmp_path / "fresh.db", model="hash:384", progress=False)
    assert _similar(out) == _similar(tmp_path / "fresh.db")


@pytest.fixture(scope="module")
def engines(corpus_db):
    from search.engine import Engine

    return {v: Engine(corpus_db, vectors=v) for v in ("exact", "float16", "int8")}


@pytest.mark.parametrize("filters", [None, *FILTERS])
@pytest.mark.parametrize("mode", ["hybrid", "semantic"])
@pytest.mark.parametrize("vectors", ["float16", "int8"])
def test_float16_and_int8_find_what_float32_finds_and_filters_stay_exact(engines, filters, mode, vectors):
    exact, half = engines["exact"], engines[vectors]
    assert half.index("cases").precision == vectors and exact.index("cases").precision == "float32"
    allowed = exact.filter_mask(exact.index("cases"), filters)
    for query in ["reablement for older people", "shared back office services", "digital channel shift",
                  "libraries run by volunteers", "council tax support"]:
        a = exact.search(query, mode=mode, filters=filters, limit=20, with_facets=True)
        b = half.search(query, mode=mode, filters=filters, limit=20, with_facets=True)
        assert [r.id for r in b.results] == [r.id for r in a.results]
        assert [r.score for r in b.results] == pytest.approx([r.score for r in a.results], abs=1e-6)
        assert b.total == a.total and b.facet_counts == a.facet_counts
        position = exact.index("cases").position
        assert all(allowed[position[r.id]] for r in b.results)


@pytest.mark.parametrize("mode", ["hybrid", "semantic"])
def test_an_int8_search_s_total_is_what_its_facet_counts_add_up_to(engines, mode):
    """The result set shown (its total, its page) is the one re-scored in float32, as its facet counts
    are: a document that joined or left the 10 nearest when re-scored is counted in both or neither
    (a case's status is one value, so its counts add up to the total)."""
    half = engines["int8"]
    for query in ["shared back office services", "reablement for older people", "digital channel shift",
                  "libraries run by volunteers", "council tax support", "bin collections in a rural district"]:
        found = half.search(query, mode=mode, limit=20, with_facets=True)
        assert found.total == sum(found.facet_counts["status"].values()), query


def test_keyword_scores_are_fts5s_bm25_of_the_whole_query(engine):
    """The keyword side sums cached per-phrase BM25 terms; FTS5 scoring the OR of them gives the same."""
    col = engine.index("cases")
    phrases = ['"reablement"', '"older"', '"people"', '"older people"']
    ours = engine._bm25(col, phrases)
    rows = engine.conn.execute(f"select rowid, -bm25({col.fts}, {col.weights}) from {col.fts} where {col.fts} match ?",
                               [" OR ".join(phrases)]).fetchall()
    theirs = np.full(len(col.ids), np.nan)
    for rowid, score in rows:
        theirs[col.rowid_to_index[rowid]] = score
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    assert np.array_equal(ours[~np.isnan(ours)], theirs[~np.isnan(theirs)])  # bit for bit


# -- incremental rebuilds: cached records, patched databases ------------------------------------

def _contents(db) -> dict:
    """Everything a build writes that a reader or a later build reads, comparable between a patched
    database and a fresh one: every table's rows (in rowid order where search reads them in that
    order, else by primary key; chunks keyed by id, since a patched case's passages are stored
    again), vector_blocks with chunk rowids as chunk ids, and what FTS5 ranks and counts."""
    conn = sqlite3.connect(db)
    chunk_ids = dict(conn.execute("select rowid, id from chunks"))
    out = {}
    names = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table' and name not like '%_fts%' "
                                        "and name not in ('build_info', 'vector_blocks')")]
    for name in names:
        ordered = "rowid" if name in ("cases", "lessons", "sources", "terms") else "1"
        columns = "rowid, *" if ordered == "rowid" else "*"
        # every build has an id of its own (what search's saved arrays are keyed by)
        where = " where key != 'build_id'" if name == "kb_meta" else ""
        rows = conn.execute(f"select {columns} from {name}{where} order by {ordered}").fetchall()
        out[name] = rows if ordered == "rowid" else sorted(rows, key=repr)
    blocks = []
    for collection, block, docs, chunks, vectors in conn.execute(
            "select collection, block, docs, chunks, vectors from vector_blocks order by collection, block"):
        ids = np.frombuffer(chunks, dtype=np.int64).tolist()
        blocks.append((collection, block, docs, vectors, ids if ":" in collection else [chunk_ids[i] for i in ids]))
    out["vector_blocks"] = blocks
    for table in ("cases", "lessons"):
        out[f"{table}_fts"] = [conn.execute(f"select rowid, bm25({table}_fts) from {table}_fts where {table}_fts match ? "
                                            "order by rowid", [word]).fetchall() for word in ("council", "care", "digital")]
        out[f"{table}_fts_docsize"] = conn.execute(f"select * from {table}_fts_docsize order by id").fetchall()
    return out


def _search_results(db) -> list:
    from search.engine import Engine

    engine = Engine(db)
    found = []
    for target in ("cases", "lessons"):
        for query in ("", "reablement for older people", "shared back office services", "council tax"):
            for mode in ("hybrid", "keyword"):
                r = engine.search(query, mode=mode, target=target, limit=50, with_facets=True)
                found.append(([(x.id, x.score, x.passage) for x in r.results], r.total, r.facet_counts))
    return found


def _hashes(db) -> set[str]:
    return {r[0] for r in sqlite3.connect(db).execute("select content_hash from chunks")}


EDITS = {"text": ("## Challenges\n\n", "## Challenges\n\n- A new challenge, written to test the rebuild.\n"),
         # long enough to be a second passage of its section, so every later passage moves
         "new passage": ("## Challenges\n\n", "## Challenges\n\n- " + "A long new challenge sentence of words. " * 40 + "\n"),
         # the file changes, its record does not
         "comment": ("\n---\n", "\n# a comment in the front matter\n---\n"),
         # a lesson's questions are its passages too, though they have no case_id
         "question": ("    questions:\n", "    questions:\n      - Is this a question written to test the rebuild?\n")}


@pytest.mark.parametrize("edit", EDITS)
def test_one_changed_case_is_patched_into_a_copy_equal_to_a_fresh_build(tree, tmp_path, monkeypatch, edit):
    # small blocks of vectors, so that documents straddle blocks and a new passage moves them
    monkeypatch.setattr(build_module, "VECTOR_BLOCK", 14)
    out = tmp_path / "kb.db"
    assert build(tree, out, model="hash:384", progress=False).patched is None
    before = _hashes(out)
    _edit(sorted((tree / "cases").glob("*.md"))[4], *EDITS[edit])
    changed = build(tree, out, model="hash:384", progress=False)
    assert changed.patched == 1
    assert changed.embedded == len(_hashes(out) - before) == {"text": 1, "new passage": 2, "comment": 0, "question": 1}[edit]
    fresh = build(tree, tmp_path / "fresh.db", model="hash:384", progress=False)
    assert (changed.cases, changed.lessons, changed.chunks) == (fresh.cases, fresh.lessons, fresh.chunks)
    assert _contents(out) == _contents(tmp_path / "fresh.db")
    assert _search_results(out) == _search_results(tmp_path / "fresh.db")


def test_a_word_a_patch_takes_out_of_every_case_leaves_the_postings(tree, tmp_path):
    """A word that only the changed case held goes from term_postings and the spelling words, as a
    fresh build would not write it; a word it brings is added, and every document's length follows."""
    out = tmp_path / "kb.db"
    case = sorted((tree / "cases").glob("*.md"))[4]
    _edit(case, "## Challenges\n\n", "## Challenges\n\n- Quixotrophic zanderwick plans.\n")
    build(tree, out, model="hash:384", progress=False)
    terms = lambda db: {r[0] for r in sqlite3.connect(db).execute("select term from term_postings")}
    words = lambda db: {r[0] for r in sqlite3.connect(db).execute("select word from spelling_words")}
    assert {"quixotroph", "zanderwick"} <= terms(out)
    assert {"quixotrophic", "zanderwick"} <= words(out)
    _edit(case, "- Quixotrophic zanderwick plans.\n", "- Plainer plans.\n")
    assert build(tree, out, model="hash:384", progress=False).patched == 1
    assert not {"quixotroph", "zanderwick"} & terms(out)
    assert not {"quixotrophic", "zanderwick"} & words(out) and "plainer" in words(out)
    build(tree, tmp_path / "fresh.db", model="hash:384", progress=False)
    assert _contents(out) == _contents(tmp_path / "fresh.db")


def test_a_name_in_capitals_a_patch_brings_or_takes_out_follows_in_the_acronyms(tree, tmp_path):
    out = tmp_path / "kb.db"
    case = sorted((tree / "cases").glob("*.md"))[4]
    build(tree, out, model="hash:384", progress=False)
    names = lambda db: {r[0] for r in sqlite3.connect(db).execute("select phrase from acronym_phrases where acronym = 'zqb'")}
    assert names(out) == set()
    _edit(case, "## Challenges\n\n", "## Challenges\n\n- The Zanderwick Quixotic Board met twice.\n")
    assert build(tree, out, model="hash:384", progress=False).patched == 1
    assert names(out) == {"zanderwick quixotic board"}
    _edit(case, "- The Zanderwick Quixotic Board met twice.\n", "")
    assert build(tree, out, model="hash:384", progress=False).patched == 1
    assert names(out) == set()
    build(tree, tmp_path / "fresh.db", model="hash:384", progress=False)
    assert _contents(out) == _contents(tmp_path / "fresh.db")


def test_a_case_whose_lessons_change_in_number_is_written_afresh(tree, tmp_path):
    """A new lesson would take a rowid after every other: search would read it out of file order."""
    out = tmp_path / "kb.db"
    build(tree, out, model="hash:384", progress=False)
    _edit(sorted((tree / "cases").glob("*.md"))[4], "## Lessons\n\n", "## Lessons\n\n- A new lesson, first of all.\n")
    changed = build(tree, out, model="hash:384", progress=False)
    assert changed.patched is None and changed.embedded == 2  # the new lesson, with its case's title and alone
    build(tree, tmp_path / "fresh.db", model="hash:384", progress=False)
    assert _contents(out) == _contents(tmp_path / "fresh.db")


def test_a_changed_source_or_an_added_case_is_written_afresh(tree, tmp_path):
    out = tmp_path / "kb.db"
    build(tree, out, model="hash:384", progress=False)
    source = sorted((tree / "sources").glob("*.md"))[0]
    source.write_text(source.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert build(tree, out, model="hash:384", progress=False).patched is None
    shutil.copy(sorted((ROOT / "cases").glob("*.md"))[12], tree / "cases")
    assert build(tree, out, model="hash:384", progress=False).patched is None
    build(tree, tmp_path / "fresh.db", model="hash:384", progress=False)
    assert _contents(out) == _contents(tmp_path / "fresh.db")


def test_a_failed_patch_leaves_the_database_as_it_was(tree, tmp_path, monkeypatch):
    out = tmp_path / "kb.db"
    build(tree, out, model="hash:384", progress=False)
    before = out.read_bytes()
    _edit(sorted((tree / "cases").glob("*.md"))[4], *EDITS["text"])

    def boom(*args, **kwargs):
        raise sqlite3.OperationalError("no such table: boom")

    monkeypatch.setattr(patch_module, "patch_vector_blocks", boom)
    with pytest.raises(sqlite3.OperationalError):
        build(tree, out, model="hash:384", progress=False)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def _count_checks(monkeypatch) -> list:
    import kb.validate

    checked = []
    real = kb.validate.check_document

    def counting(doc, kind, known_sources=None):
        checked.append(doc.display)
        return real(doc, kind, known_sources)

    monkeypatch.setattr(kb.validate, "check_document", counting)
    return checked


def test_a_rebuild_checks_only_the_files_that_changed(tree, tmp_path, monkeypatch):
    out = tmp_path / "kb.db"
    build(tree, out, model="hash:384", progress=False)
    checked = _count_checks(monkeypatch)
    import kb.parse
    import kb.validate

    parsed, parse = [], kb.parse.parse_document
    for module in (kb.parse, kb.validate):
        monkeypatch.setattr(module, "parse_document", lambda raw, path, display: parsed.append(display) or parse(raw, path, display))
    case = sorted((tree / "cases").glob("*.md"))[4]
    _edit(case, *EDITS["text"])
    build(tree, out, model="hash:384", progress=False)
    assert checked == [f"cases/{case.name}"]
    # nor is an unchanged file read again, for a line number no problem needs (every title's had been:
    # 20 s of a one-case rebuild at 10,000 cases)
    assert parsed == [f"cases/{case.name}"]
    # the same bytes elsewhere are another file: checked (its id would not match its name)
    (tree / "cases" / "copy.md").write_bytes(case.read_bytes())
    checked.clear()
    with pytest.raises(BuildFailed) as failed:
        build(tree, out, model="hash:384", progress=False)
    assert checked == ["cases/copy.md"] and "does not match the file name" in str(failed.value.problems)


def test_a_cached_record_is_not_reused_for_other_bytes_or_another_code_basis(tree, tmp_path, monkeypatch):
    out = tmp_path / "kb.db"
    build(tree, out, model="hash:384", progress=False)
    assert cache_path(out).is_file()
    case = sorted((tree / "cases").glob("*.md"))[4]
    good = case.read_text(encoding="utf-8")
    _edit(case, "\nstatus: ", "\nstatus: not-a-status-")
    with pytest.raises(BuildFailed):  # the record kept for the old bytes is not taken for the new ones
        build(tree, out, model="hash:384", progress=False)
    case.write_text(good, encoding="utf-8")
    checked = _count_checks(monkeypatch)
    out.unlink()  # the cache beside it stays
    build(tree, out, model="hash:384", progress=False)
    assert checked == []  # every record from the cache
    for what, change in (("code", lambda: monkeypatch.setattr(build_module, "code_digest", lambda: "other code")),
                         ("library", lambda: monkeypatch.setattr(cache_module, "_version", lambda name: "0.0-other"))):
        change()
        checked.clear()
        out.unlink()
        build(tree, out, model="hash:384", progress=False)
        assert len(checked) == len(list(tree.glob("*/*.md"))), what


def test_a_problem_found_in_a_cached_record_names_its_line(tree, tmp_path):
    """A record from the cache keeps no YAML node tree: a cross-file problem reads the file again."""
    out = tmp_path / "kb.db"
    build(tree, out, model="hash:384", progress=False)
    cases = sorted((tree / "cases").glob("*.md"))
    kept, edited = cases[5], cases[2]
    title = next(line for line in kept.read_text(encoding="utf-8").splitlines() if line.startswith("title: "))
    old = next(line for line in edited.read_text(encoding="utf-8").splitlines() if line.startswith("title: "))
    _edit(edited, old, title)
    with pytest.raises(BuildFailed) as failed:
        build(tree, out, model="hash:384", progress=False)
    # reported on both files, each naming the other; the one on `kept` comes from its cached record
    assert sorted(p.path for p in failed.value.problems) == sorted([f"cases/{kept.name}", f"cases/{edited.name}"])
    [problem] = [p for p in failed.value.problems if p.path == f"cases/{kept.name}"]
    assert f"is also the title of cases/{edited.name}" in problem.message
    assert kept.read_text(encoding="utf-8").splitlines()[problem.line - 1] == title


def test_int8_codes_hold_every_vector_within_half_a_step(engines):
    """Each int8 code row times its scale is its vector to within half a step (the rounding), and an
    int8 scan gives the float32 cosines to within the error the re-scoring allows for."""
    exact, coded = engines["exact"], engines["int8"]
    for target in ("cases", "lessons"):
        a, b = exact.index(target), coded.index(target)
        assert np.array_equal(a.chunk_rowid, b.chunk_rowid) and np.array_equal(a.chunk_doc, b.chunk_doc)
        codes = (b.vectors ^ np.uint8(OFFSET)).view(np.int8)  # held plus 128 as unsigned bytes
        assert b.vectors.dtype == np.uint8 and codes.dtype == np.int8 and np.abs(codes).max() == 127
        restored = codes.astype(np.float32) * b.scales[:, None]
        assert np.all(np.abs(restored - a.vectors) <= b.scales[:, None] * 0.5 + 1e-3 * np.abs(a.vectors))
        qv = a.vectors[3] + a.vectors[7]
        qv /= np.linalg.norm(qv)
        approx = coded._scan(b.vectors, qv, b.scales)
        assert np.abs(approx - a.vectors @ qv).max() < 0.02
        assert np.abs(coded._scan(b.doc_vectors, qv, b.doc_scales) - a.doc_vectors @ qv).max() < 0.02


def test_the_best_few_found_from_a_sample_are_those_a_full_sort_gives():
    """best_first and kth_best partition only the values at least as good as a sample's k-th best:
    on arrays with ties, NaN and -inf, of every size around the sample's, the same as sorting all."""
    from search.scoring import SAMPLE_STRIDE, best_first, kth_best

    rng = np.random.default_rng(7)
    for _ in range(2000):
        n = int(rng.integers(0, 40 * SAMPLE_STRIDE))
        scores = rng.standard_normal(n).round(int(rng.integers(0, 3)))  # rounded: many ties
        scores[rng.random(n) < rng.random()] = np.nan
        if rng.random() < 0.2:
            scores[rng.random(n) < 0.5] = -np.inf
        valid = np.flatnonzero(~np.isnan(scores))
        everything = valid[np.argsort(-scores[valid], kind="stable")]
        assert np.array_equal(best_first(scores), everything)
        for k in (1, 5, 10, 100):
            assert np.array_equal(best_first(scores, k), everything[:k])
            if len(valid) >= k:
                assert kth_best(scores, k) == np.sort(scores[valid])[-k]


def test_several_query_vectors_scanned_in_one_pass_give_each_its_own_scan(engines):
    """A query's readings are scanned together, a row of the result each: every row is exactly the
    scan of that vector alone, in float32 and in int8 (scaled by the query's and each row's step)."""
    for name in ("exact", "int8"):
        engine = engines[name]
        col = engine.index("cases")
        queries = np.stack([engine.query_vector(q) for q in ("shared back office", "libraries run by volunteers",
                                                           "adult social care reablement")])
        together = engine._scan(col.vectors, queries, col.scales)
        assert together.shape == (3, len(col.vectors)) and together.flags["C_CONTIGUOUS"]
        for row, qv in zip(together, queries):
            assert np.array_equal(row, engine._scan(col.vectors, qv, col.scales))
            assert np.array_equal(row, engine._scan(col.vectors, qv[None, :], col.scales)[0])
        assert np.abs(together - queries @ engines["exact"].index("cases").vectors.T).max() < (0.02 if name == "int8" else 1e-5)


def test_rescoring_some_documents_equals_scoring_every_passage_again(engines):
    """The refining pass recomputes the best two passages of the re-scored documents only; the same
    numbers come from recomputing every document's from the patched cosines."""
    from search.scoring import CENTRING, MANY_PASSAGES, SECOND_PASSAGE, WHOLE_DOCUMENT

    coded = engines["int8"]
    col = coded.index("cases")
    share = CENTRING["cases"]
    assert share > 0  # so the centring is checked too
    qv = coded.query_vector("shared back office services")
    exact = coded._exact(col, np.arange(0, len(col.ids), 3))
    blended, best, sims = coded._semantic(col, qv, exact)
    at, chunks, vectors, means = exact
    plain, whole = coded._scan(col.vectors, qv, col.scales), coded._scan(col.doc_vectors, qv, col.doc_scales)
    passage_hub, doc_hub = col.passage_hub.copy(), col.doc_hub.copy()
    # the float32 products as the refining pass takes them (SimSIMD, as the scans; within 1e-7 of numpy's)
    plain[chunks], whole[at] = coded._scan(vectors, qv), coded._scan(means, qv)
    passage_hub[chunks], doc_hub[at] = coded._scan(vectors, col.centroid), coded._scan(means, col.centroid)
    np.testing.assert_allclose(plain[chunks], vectors @ qv, atol=1e-6)
    passages = plain - share * passage_hub
    # each document's best and its best once every passage equal to the best is set aside, as numpy has it
    top = np.maximum.reduceat(passages, col.chunk_start)
    second = np.maximum.reduceat(np.where(passages == np.repeat(top, col.chunk_count), -np.inf, passages), col.chunk_start)
    second = np.where(np.isinf(second), top, second)
    assert np.array_equal(sims, passages)
    assert np.array_equal(best[col.doc_with_chunks], np.maximum.reduceat(plain, col.chunk_start))
    assert MANY_PASSAGES > 0 and len(set(col.chunk_count)) > 1  # so the penalty for many passages is checked too
    assert np.array_equal(blended[col.doc_with_chunks], top + SECOND_PASSAGE["cases"] * second + WHOLE_DOCUMENT * (whole - share * doc_hub)
                          - MANY_PASSAGES * np.log(col.chunk_count))
    assert not np.array_equal(top, coded._prescan(col, [qv])[0][2])  # the re-scoring changed something


def test_the_record_cache_holds_only_the_last_build_s_records(tree, tmp_path, monkeypatch):
    out = tmp_path / "kb.db"
    build(tree, out, model="hash:384", progress=False)
    size = cache_path(out).stat().st_size
    count = lambda: sqlite3.connect(cache_path(out)).execute("select count(*) from records").fetchone()[0]
    assert count() == len(list(tree.glob("*/*.md")))
    monkeypatch.setattr(build_module, "code_digest", lambda: "other code")  # every record is checked again
    build(tree, out, model="hash:384", progress=False)
    assert count() == len(list(tree.glob("*/*.md")))
    assert cache_path(out).stat().st_size < 1.5 * size  # the old records' space given back


def test_a_document_without_passages_scores_nan_and_leaves_the_others_as_they_were(engines):
    """_semantic skips the scatter when every document has passages; with one that has none (a
    stand-in added to a copy of the index) the others' scores are the same and its own are NaN."""
    import copy

    for name in ("exact", "int8"):
        engine = engines[name]
        col = engine.index("cases")
        qv = engine.query_vector("shared back office services")
        blended, best, _ = engine._semantic(col, qv)
        ghost = copy.copy(col)
        ghost.ids = [*col.ids, "a-document-without-passages"]
        with_ghost, best_ghost, _ = engine._semantic(ghost, qv)
        assert len(col.doc_with_chunks) == len(col.ids) and np.isnan(with_ghost[-1]) and np.isnan(best_ghost[-1])
        assert np.array_equal(with_ghost[:-1], blended) and np.array_equal(best_ghost[:-1], best)


def test_a_synthetic_case_keeps_the_questions_of_the_lessons_it_keeps_once():
    """A synthetic case drops some of its real case's lessons and may take another case's (its own
    again among them): an entry of `lesson_questions` naming no kept lesson, or two, would not validate."""
    from bench.synthetic import _questions_kept

    front = ("---\nid: x\nlesson_questions:\n  - lesson: Pilot first\n    questions:\n      - Should we pilot it?\n"
             "  - lesson: Talk to staff\n    questions:\n      - How do we bring staff along?\n"
             "  - lesson: Expect the shift\n    questions:\n      - Why is culture so slow to change?\nreviewed: x\n---\n")
    kept = _questions_kept(front, ["- Pilot first, then scale.", "- Talk to staff early.", "- Talk to staff early."])
    assert "Pilot first" in kept and "Talk to staff" not in kept and "Expect the shift" not in kept
    assert kept.endswith("reviewed: x\n---\n")
    assert "lesson_questions" not in _questions_kept(front, ["- Something else."])
