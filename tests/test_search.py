"""The search engine on the real corpus and the real packaged model."""
import json
import re
import subprocess
import sys

import pytest

from search.engine import MAX_QUERY_CHARS, QueryError


def ids(search):
    return [r.id for r in search.results]


def test_keyword_is_exact_on_names(engine):
    found = ids(engine.search("Sheffield", mode="keyword"))
    assert found[0] == "sheffield-housing-benefit-channel-shift"


def test_semantic_finds_a_case_with_no_shared_words(engine):
    from kb import ROOT
    from search.text import stem, terms_of

    query = "pensioners regaining self-sufficiency after a spell on a ward"
    case_words = {stem(w) for w in re.findall(r"\w+", (ROOT / "cases" / "brighton-hove-reablement.md").read_text().lower())}
    assert [t for t in terms_of(query) if stem(t) in case_words] == []
    assert "brighton-hove-reablement" in ids(engine.search(query, mode="semantic", limit=5))
    assert "brighton-hove-reablement" in ids(engine.search(query, mode="hybrid", limit=5))
    assert ids(engine.search(query, mode="keyword", limit=5)) == [] or "brighton-hove-reablement" not in ids(
        engine.search(query, mode="keyword", limit=5))


def test_results_carry_a_highlighted_passage(engine):
    result = engine.search("reablement older people", mode="hybrid").results[0]
    assert result.passage and "<mark>" in result.passage_html
    assert set(result.matched_by) <= {"keyword", "semantic"}


def test_filters_or_within_a_facet_and_across_facets(engine):
    # keyword membership does not depend on the other candidates, so OR is exactly the union
    search = lambda filters: set(ids(engine.search("shared services", mode="keyword", filters=filters, limit=200)))
    districts = search({"council_types": ["district-council"]})
    counties = search({"council_types": ["county-council"]})
    assert districts and counties
    assert districts | counties == search({"council_types": ["district-council", "county-council"]})
    both = search({"council_types": ["district-council"], "regions": ["south-west"]})
    assert both and both < districts
    col = engine.collection("cases")
    for mode in ("hybrid", "semantic", "keyword"):
        found = engine.search("shared services", mode=mode, limit=200,
                              filters={"council_types": ["district-council", "county-council"], "regions": ["south-west"]})
        assert found.results
        for r in found.results:
            i = col.position[r.id]
            assert col.masks["council_types"]["district-council"][i] or col.masks["council_types"]["county-council"][i]
            assert col.masks["regions"]["south-west"][i]


def test_facet_counts_cover_the_result_set(engine):
    found = engine.search("adult social care", with_facets=True, limit=200)
    assert sum(found.facet_counts["outcome"].values()) == found.total
    assert "Result set" in found.rule


def test_savings_range(engine):
    found = engine.search("savings", min_savings=1_000_000, max_savings=5_000_000, limit=100)
    col = engine.collection("cases")
    assert found.results
    assert all(1_000_000 <= col.savings[col.position[r.id]] <= 5_000_000 for r in found.results)


def test_lessons_are_searchable(engine):
    found = engine.search("leadership", target="lessons", limit=5)
    assert found.results and all(r.case_id or r.source_id for r in found.results)


@pytest.mark.parametrize("query", ['"unbalanced', "NEAR(", "adult*", "a OR", "-", "title:barnet", "\"\"\"", "AND AND"])
def test_fts_syntax_is_harmless(engine, query):
    for mode in ("keyword", "hybrid"):
        engine.search(query, mode=mode)


def test_bad_input_gets_clear_messages(engine):
    assert engine.search("", mode="hybrid").results == []
    with pytest.raises(QueryError, match="limit is 1,000"):
        engine.search("x" * 100_000)
    assert len("x" * MAX_QUERY_CHARS) == MAX_QUERY_CHARS
    with pytest.raises(QueryError, match="unknown service 'adult care services'; did you mean 'adult-social-care'"):
        engine.search("care", filters={"services": ["adult care services"]})
    with pytest.raises(QueryError, match="above the maximum"):
        engine.search("care", min_savings=10, max_savings=5)
    with pytest.raises(QueryError, match="unknown case id 'nope'"):
        engine.similar("nope")
    with pytest.raises(QueryError, match="unknown filter"):
        engine.search("care", filters={"colour": ["red"]})


def test_similar_cases(engine):
    similar = engine.similar("west-suffolk-shared-staffing-structure")
    assert len(similar) == 5 and "west-suffolk-shared-staffing-structure" not in [s["id"] for s in similar]


def test_cli_json_and_stdin(corpus_db):
    run = lambda *args, **kw: subprocess.run([sys.executable, "-m", "kb", *args], capture_output=True, text=True, **kw)
    out = run("search", "Barnet outsourcing", "--db", str(corpus_db), "--json", "--limit", "3")
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)
    assert len(results) == 3 and {"id", "title", "score", "passage"} <= set(results[0])
    out = run("search", "-", "--db", str(corpus_db), "--mode", "keyword", "--council-types", "district-council",
              input="shared services\nleisure centres\n")
    lines = out.stdout.strip().split("\n")
    assert len(lines) == 2 and all(isinstance(json.loads(l), list) for l in lines)
    out = run("search", "care", "--db", str(corpus_db), "--min-savings", "9", "--max-savings", "1")
    assert out.returncode == 2 and "above the maximum" in out.stderr and "Traceback" not in out.stderr
    out = run("similar", "no-such-case", "--db", str(corpus_db))
    assert out.returncode == 2 and "unknown case id" in out.stderr


def test_evaluation_hybrid_beats_keyword_and_reaches_a_floor(corpus_db):
    from search.evaluate import evaluate, load_queries

    table = evaluate(corpus_db, load_queries())
    assert table["hybrid"]["all"]["queries"] >= 40
    assert table["hybrid"]["all"]["ndcg@10"] > table["keyword"]["all"]["ndcg@10"]
    assert table["hybrid"]["all"]["ndcg@10"] >= 0.7
