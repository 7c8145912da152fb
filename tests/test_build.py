"""kb build: real files to a real SQLite file, swapped in only when complete."""
import sqlite3

import pytest
import sqlite_utils

from ingest import build as build_module
from ingest.build import BuildFailed, build
from kb import ROOT

from .conftest import HashEmbedder


def test_tables_fts_and_foreign_keys(small_root, tmp_path):
    out = tmp_path / "kb.db"
    report = build(small_root, out, progress=False, embedder=HashEmbedder())
    db = sqlite_utils.Database(out)
    for table in ["cases", "sources", "lessons", "figures", "sections", "organisations", "case_sources",
                  "chunks", "similar_cases", "terms", "build_info", "kb_meta"]:
        assert db[table].exists(), table
    assert report.cases == 1 and report.sources == len(list((small_root / "sources").glob("*.md")))
    case = db["cases"].get("brighton-hove-reablement")
    assert case["services"] == '["adult-social-care"]'
    # achieved yearly saving, not the larger three-year projection beside it
    assert case["achieved_annual_saving_gbp"] == 313000
    assert case["headline_saving"] == "around £313,000 a year, achieved (2013/14)"  # the word before the amount kept
    assert db.execute("select count(*) from figures where case_id = 'brighton-hove-reablement'").fetchone()[0] == 5
    assert db.execute("select id from cases_fts join cases on cases.rowid = cases_fts.rowid "
                      "where cases_fts match 'reablement'").fetchall() == [("brighton-hove-reablement",)]
    assert db.execute("select count(*) from lessons_fts where lessons_fts match 'pilot'").fetchone()[0] >= 1
    fks = {(fk.column, fk.other_table) for fk in db["figures"].foreign_keys}
    assert ("case_id", "cases") in fks and ("source_id", "sources") in fks
    assert db.execute("pragma foreign_key_check").fetchall() == []
    chunk = db.execute("select model, dimensions, length(vector), content_hash from chunks limit 1").fetchone()
    assert chunk[0] == "test/hash-embedder" and chunk[1] == 8 and chunk[2] == 32 and len(chunk[3]) == 64


def test_every_declared_table_is_written_as_kb_schema_yml_declares_it(small_root, tmp_path):
    """The terms table too: its columns, keys and labels on the site come from the one declaration."""
    from kb.schema import tables

    out = tmp_path / "kb.db"
    build(small_root, out, progress=False, embedder=HashEmbedder())
    db = sqlite_utils.Database(out)
    for table in tables().values():
        assert [c.name for c in db[table.name].columns] == table.names, table.name
        assert db[table.name].pks == list(table.pk), table.name
    assert db.execute("select count(*) from terms where vocabulary = 'approaches' and label = 'Agile working'").fetchone() == (1,)


def test_body_html_cannot_inject_script(small_root, tmp_path):
    case = small_root / "cases" / "brighton-hove-reablement.md"
    case.write_text(case.read_text().replace("## Context\n", "## Context\n\n<script>alert(1)</script> [x](javascript:alert(1))\n"))
    out = tmp_path / "kb.db"
    build(small_root, out, progress=False, embedder=HashEmbedder())
    html = sqlite_utils.Database(out)["cases"].get("brighton-hove-reablement")["body_html"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript:' not in html


def test_rebuild_reuses_vectors_and_reembeds_only_changes(small_root, tmp_path):
    out = tmp_path / "kb.db"
    first = build(small_root, out, progress=False, embedder=HashEmbedder())
    assert first.embedded == first.chunks and first.reused == 0
    again = build(small_root, out, progress=False, embedder=HashEmbedder())
    assert again.embedded == 0 and again.reused == first.chunks
    case = small_root / "cases" / "brighton-hove-reablement.md"
    case.write_text(case.read_text().replace("Pilot first, then scale", "Pilot first and then scale"))
    changed = build(small_root, out, progress=False, embedder=HashEmbedder())
    assert changed.embedded == 2  # the lesson read with its case title, and on its own



def test_a_case_s_tags_in_words_count_in_cases_like_mine_and_not_in_search(small_root, tmp_path):
    """Each case's services, approaches and key attributes, in words after its title, are one more
    passage of its mean vector for similar cases (ingest/chunks.py, tags_chunk), kept out of search's
    passages; a change of tags alone embeds that passage again and moves the similar-case scores."""
    good = (small_root / "cases" / "brighton-hove-reablement.md").read_text()
    text = good.replace("id: brighton-hove-reablement", "id: case-b").replace("title: Brighton and Hove", "title: Case B of Brighton and Hove")
    (small_root / "cases" / "case-b.md").write_text(text)
    (small_root / "cases" / "case-c.md").write_text(
        text.replace("id: case-b", "id: case-c").replace("Case B", "Case C").replace("services: [adult-social-care]", "services: [education]"))
    out = tmp_path / "kb.db"
    first = build(small_root, out, progress=False, embedder=HashEmbedder())
    db = sqlite_utils.Database(out)
    passages = dict(db.execute("select case_id, text from case_tag_passages").fetchall())
    assert set(passages) == {"brighton-hove-reablement", "case-b", "case-c"}
    assert passages["case-b"].startswith("Case B of Brighton and Hove") and "Service: Adult social care." in passages["case-b"]
    assert db.execute("select count(*) from chunks where kind = 'tags' or id like '%/tags'").fetchone()[0] == 0
    assert first.chunks == db.execute("select count(*) from chunks").fetchone()[0] + 3
    score = lambda: db.execute("select score from similar_cases where case_id = 'brighton-hove-reablement' "
                               "and similar_id = 'case-b'").fetchone()[0]
    before = score()
    vector = lambda: db.execute("select vector from case_vectors where case_id = 'case-b'").fetchone()[0]
    mean_before = vector()
    (small_root / "cases" / "case-b.md").write_text(text.replace("services: [adult-social-care]", "services: [housing]"))
    changed = build(small_root, out, progress=False, embedder=HashEmbedder())
    db = sqlite_utils.Database(out)
    assert changed.embedded == 1  # the tags in words; no search passage changed
    assert "Service: Housing." in db.execute("select text from case_tag_passages where case_id = 'case-b'").fetchone()[0]
    assert vector() != mean_before  # its mean vector holds its tags in words: no search passage changed
    assert score() < before

def test_changed_model_is_never_mixed_with_old_vectors(small_root, tmp_path):
    out = tmp_path / "kb.db"
    build(small_root, out, progress=False, embedder=HashEmbedder("model-a"))
    report = build(small_root, out, progress=False, embedder=HashEmbedder("model-b"))
    assert report.reused == 0 and report.embedded == report.chunks
    models = sqlite_utils.Database(out).execute("select distinct model from chunks").fetchall()
    assert models == [("model-b",)]


def test_failed_build_leaves_previous_database_untouched(small_root, tmp_path):
    out = tmp_path / "kb.db"
    build(small_root, out, progress=False, embedder=HashEmbedder())
    before = out.read_bytes()
    case = small_root / "cases" / "brighton-hove-reablement.md"
    case.write_text(case.read_text().replace("outcome: succeeded", "outcome: sucess"))
    with pytest.raises(BuildFailed) as failed:
        build(small_root, out, progress=False, embedder=HashEmbedder())
    assert "is not a known outcome" in str(failed.value.problems[0])
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("kb.db")) == ["kb.db"]


def test_interrupted_build_leaves_previous_database_untouched(small_root, tmp_path, monkeypatch):
    out = tmp_path / "kb.db"
    build(small_root, out, progress=False, embedder=HashEmbedder())
    before = out.read_bytes()

    def boom(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(build_module, "_write_similar", boom)
    case = small_root / "cases" / "brighton-hove-reablement.md"
    case.write_text(case.read_text().replace("Pilot first, then scale", "Pilot first and then scale"))
    with pytest.raises(KeyboardInterrupt):
        build(small_root, out, progress=False, embedder=HashEmbedder())
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("kb.db")) == ["kb.db"]
    assert sqlite3.connect(out).execute("select count(*) from cases").fetchone()[0] == 1


@pytest.mark.model
def test_real_corpus_with_packaged_model(model_corpus_db):
    db = sqlite_utils.Database(model_corpus_db)
    info = next(db["build_info"].rows)
    assert info["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert db.execute("select distinct dimensions from chunks").fetchall() == [(384,)]
    assert db["cases"].count == len(list((ROOT / "cases").glob("*.md")))
    # every case has similar cases, none of them itself
    assert db.execute("select count(distinct case_id) from similar_cases").fetchone()[0] == db["cases"].count
    assert db.execute("select count(*) from similar_cases where case_id = similar_id").fetchone()[0] == 0


def test_kb_build_cli_reports_problems_and_keeps_the_database(small_root, tmp_path):
    from click.testing import CliRunner

    from kb.cli import cli

    out = tmp_path / "kb.db"
    out.write_bytes(b"previous good database")
    case = small_root / "cases" / "brighton-hove-reablement.md"
    case.write_text(case.read_text().replace("    amount: 313000\n", "    amount: 313k\n"))
    result = CliRunner().invoke(cli, ["--root", str(small_root), "build", "--db", str(out), "--quiet"])
    assert result.exit_code == 1
    assert result.stdout.startswith("cases/brighton-hove-reablement.md:17: savings[0].amount must be a number")
    assert "was not changed" in result.stderr
    assert out.read_bytes() == b"previous good database"


def test_similar_cases_weigh_shared_tags_and_say_why(small_root, tmp_path):
    good = (small_root / "cases" / "brighton-hove-reablement.md").read_text()
    # three cases with the same text (so the same vectors) that differ only in their services
    for name, services in [("case-b", "[adult-social-care]"), ("case-c", "[housing]")]:
        text = good.replace("id: brighton-hove-reablement", f"id: {name}").replace("services: [adult-social-care]", f"services: {services}")
        text = text.replace("title: Brighton and Hove", f"title: {name} of Brighton and Hove")  # titles are unique
        (small_root / "cases" / f"{name}.md").write_text(text)
    out = tmp_path / "kb.db"
    build(small_root, out, progress=False, embedder=HashEmbedder())
    db = sqlite_utils.Database(out)
    similar = [(r["similar_id"], r["reason"]) for r in db.query(
        "select similar_id, reason from similar_cases where case_id = 'brighton-hove-reablement' order by rank")]
    assert [s for s, _ in similar] == ["case-b", "case-c"]
    assert similar[0][1] == ("shared approach: Prevention and early intervention, Service redesign, "
                             "Shared services with other public bodies; "
                             "shared service: Adult social care; "
                             "shared key attribute: Culture and ways of working, Part of a longer journey; "
                             "shared council type: Unitary authority")
    assert "shared service" not in similar[1][1]


def test_a_term_that_says_the_source_does_not_tell_is_nothing_two_cases_share(small_root, tmp_path):
    """Two cases whose reports both leave their services unnamed are not alike in them: "Services not
    specified" (kb/vocabulary.yml's unknown: true) is rare, so it had counted as a strong shared tag,
    and was named as the reason two cases were similar. Sharing it now scores as sharing no service."""
    good = (small_root / "cases" / "brighton-hove-reablement.md").read_text()
    good = good.replace("services: [adult-social-care]", "services: [not-specified]")

    def similar(case_b_services: str, out) -> dict:
        (small_root / "cases" / "brighton-hove-reablement.md").write_text(good)
        # the same text (so the same vectors) but for their names and services
        for name, services in [("case-b", case_b_services), ("case-c", "[education]")]:
            text = good.replace("id: brighton-hove-reablement", f"id: {name}").replace("services: [not-specified]", f"services: {services}")
            (small_root / "cases" / f"{name}.md").write_text(text.replace("title: Brighton and Hove", f"title: {name} of Brighton and Hove"))
        build(small_root, out, progress=False, embedder=HashEmbedder())
        return {r["similar_id"]: (r["score"], r["reason"]) for r in sqlite_utils.Database(out).query(
            "select similar_id, score, reason from similar_cases where case_id = 'brighton-hove-reablement'")}

    def shared_services(out) -> float:
        """The services' part of the tag score of Brighton and case-b (ingest/similar.py)."""
        from ingest.similar import _tag_matrix

        conn = sqlite3.connect(out)
        ids = [r[0] for r in conn.execute("select id from cases")]
        tags, _ = _tag_matrix(conn, ids, ["services"])
        tags = tags[[ids.index("brighton-hove-reablement"), ids.index("case-b")]]
        passage = conn.execute("select text from case_tag_passages where case_id = 'brighton-hove-reablement'").fetchone()[0]
        conn.close()
        assert "not specified" not in passage.lower() and "Service:" not in passage  # nor in its tags in words
        return float(tags[0] @ tags[1])

    unnamed = similar("[not-specified]", tmp_path / "unnamed.db")
    assert shared_services(tmp_path / "unnamed.db") == 0.0
    assert "shared service" not in unnamed["case-b"][1] and "not specified" not in unnamed["case-b"][1]
    # a service both name is shared (the check above can fail)
    good = good.replace("services: [not-specified]", "services: [housing]")
    named = similar("[housing]", tmp_path / "named.db")
    assert "shared service: Housing" in named["case-b"][1]

def test_a_figure_its_own_report_contradicts_is_not_the_headline_nor_the_achieved_saving():
    """Sheffield's report says in a summary box that its £1 million target was met and in its own table
    that only £242,000 was: the box's figure headed the case, its sort by saving and the charts (a
    reader's review). Where every figure is contradicted, they are all there is."""
    from ingest.build import headline_saving, uncontradicted

    box = {"kind": "saving", "amount": 1000000, "text": "£1 million", "period": "2013/14", "per_year": True,
           "status": "achieved", "contradicted": "The table says £242,000 (line 2750)."}
    table = {**box, "amount": 242000, "text": "£242,000", "contradicted": None}
    assert headline_saving([box, table]) == "£242,000 a year, achieved (2013/14)"
    assert headline_saving([box]) == "£1 million a year, achieved (2013/14)"
    assert uncontradicted([box, table]) == [table] and uncontradicted([box]) == [box]


def test_the_built_cases_headline_only_what_their_reports_do_not_contradict(corpus_db):
    conn = sqlite3.connect(corpus_db)
    rows = dict(conn.execute("select id, achieved_annual_saving_gbp from cases"))
    assert rows["sheffield-housing-benefit-channel-shift"] == 242000
    contradicted = conn.execute("select count(*) from figures where contradicted is not null").fetchone()[0]
    assert contradicted >= 3
    # the figures the headline, the achieved yearly saving and the charts leave out are those, and only those
    assert conn.execute("select count(*) from figures where not counted").fetchone()[0] == contradicted
