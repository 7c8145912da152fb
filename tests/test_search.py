"""The search engine on the real corpus: mechanics with the stand-in model, meaning with the real one."""
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from kb.cli import cli
from search.engine import MAX_QUERY_CHARS, QueryError
from search.text import terms_of


def ids(found):
    return [r.id for r in found.results]


def test_keyword_is_exact_on_names(engine):
    assert ids(engine.search("Sheffield", mode="keyword"))[0] == "sheffield-housing-benefit-channel-shift"


def test_results_carry_a_highlighted_passage(engine):
    result = engine.search("reablement older people", mode="keyword").results[0]
    assert result.id == "brighton-hove-reablement"
    assert "<mark>reablement</mark>" in result.passage_html.lower()
    assert result.matched_by == ["keyword"]


def test_filters_or_within_a_facet_and_across_facets(engine):
    # keyword membership does not depend on the other candidates, so OR is exactly the union
    search = lambda filters: set(ids(engine.search("shared services", mode="keyword", filters=filters, limit=200)))
    districts = search({"council_types": ["district-council"]})
    counties = search({"council_types": ["county-council"]})
    assert districts and counties
    assert districts | counties == search({"council_types": ["district-council", "county-council"]})
    both = search({"council_types": ["district-council"], "regions": ["south-west"]})
    assert both and both < districts
    index = engine.index("cases")
    for mode in ("hybrid", "semantic", "keyword"):
        found = engine.search("shared services", mode=mode, limit=200,
                              filters={"council_types": ["district-council", "county-council"], "regions": ["south-west"]})
        # membership is decided before the filters, so only modes with word matches are sure to keep some
        assert found.results or mode == "semantic"
        for r in found.results:
            i = index.position[r.id]
            assert index.masks["council_types"]["district-council"][i] or index.masks["council_types"]["county-council"][i]
            assert index.masks["regions"]["south-west"][i]


def test_facet_counts_are_what_ticking_shows(engine):
    """Disjunctive counts: each value's count equals the results after ticking it, with or without
    other facets ticked, in every mode and when browsing."""
    for query, mode in [("shared services", "keyword"), ("adult social care", "hybrid"), ("", "hybrid"),
                        ("leisure", "semantic")]:
        for base in [{}, {"regions": ["south-west", "london"]}, {"services": ["housing"], "outcome": ["succeeded"]}]:
            found = engine.search(query, mode=mode, filters=base, with_facets=True)
            for column, counts in found.facet_counts.items():
                if column in base:
                    continue
                for value, count in counts.items():
                    ticked = engine.search(query, mode=mode, filters={**base, column: [value]}, limit=1)
                    assert ticked.total == count, (query, base, column, value)


def test_browse_lists_every_case_sorted_by_achieved_saving(engine):
    index = engine.index("cases")
    found = engine.search("", limit=200)
    assert found.browse and found.total == len(index.ids) and found.sort == "saving"
    savings = [index.savings[index.position[r.id]] for r in found.results]
    known = [v for v in savings if v == v]
    assert known == sorted(known, reverse=True) and savings[:len(known)] == known  # unknown last
    # the cases with no achieved yearly saving, which browsing cannot rank, newest first
    unranked = [index.years[index.position[r.id]] for r in found.results[len(known):]]
    started = [v for v in unranked if v == v]
    assert len(started) > 10 and started == sorted(started, reverse=True) and unranked[:len(started)] == started
    years = [index.years[index.position[r.id]] for r in engine.search("", sort="year", limit=200).results]
    known = [v for v in years if v == v]
    assert known == sorted(known, reverse=True)
    with pytest.raises(QueryError, match="unknown sort"):
        engine.search("", sort="colour")


def test_results_carry_a_card_and_close_matches_come_first(engine):
    found = engine.search("Brighton reablement", mode="keyword", limit=20)
    top = found.results[0]
    assert top.id == "brighton-hove-reablement" and top.close
    assert top.card["organisations"] == ["Brighton and Hove City Council"]
    assert top.card["council_types"] == ["Unitary authority"] and top.card["headline_saving"] == "£577,000 a year, achieved (2013/14)"
    flags = [r.close for r in found.results]
    assert flags == sorted(flags, reverse=True) and found.close_total == sum(flags)
    lesson = engine.search("reablement", target="lessons", mode="keyword").results[0]
    assert lesson.card["case_title"] and lesson.card["organisations"]


def test_a_card_is_its_cases_columns_read_as_kb_schema_yml_declares_them(engine, corpus_db):
    """Keys, order and values: a list column as a list, a vocabulary's slugs as their labels (from
    kb/vocabulary.yml here, from the database in the engine), a lesson's card with its case's title."""
    import sqlite3

    from kb.schema import tables
    from kb.vocabulary import load_vocabularies
    from search.results import CARD_COLUMNS

    declared = {c.name: c for c in tables()["cases"].columns}
    assert set(CARD_COLUMNS.values()) <= set(declared)
    vocabularies = load_vocabularies()
    conn = sqlite3.connect(corpus_db)
    conn.row_factory = sqlite3.Row
    checked = 0
    for target in ("cases", "lessons"):
        for result in engine.search("", target=target, limit=1000).results:
            case_id = result.id if target == "cases" else result.case_id
            if case_id is None:
                continue
            row = conn.execute("select * from cases where id = ?", [case_id]).fetchone()
            expected = {}
            for key, name in CARD_COLUMNS.items():
                column = declared[name]
                values = json.loads(row[name] or "[]") if column.type == "list" else [row[name]]
                if column.vocabulary:
                    values = [vocabularies[column.vocabulary].label_of(v) for v in values]
                expected[key] = values if column.type == "list" else values[0]
            if target == "lessons":
                expected["case_title"] = row["title"]
            assert list(result.card.items()) == list(expected.items()), result.id
            checked += 1
    every = "select (select count(*) from cases) + (select count(*) from lessons where case_id is not null)"
    assert checked == conn.execute(every).fetchone()[0]


def test_a_cases_card_in_full(engine):
    card = engine.search("Brighton reablement", mode="keyword").results[0].card
    assert card == {"organisations": ["Brighton and Hove City Council"], "council_types": ["Unitary authority"],
                    "regions": ["South East"], "year_start": 2008, "year_end": None, "outcome": "Succeeded",
                    "headline_saving": "£577,000 a year, achieved (2013/14)"}


def test_a_query_from_outside_the_field_has_no_close_match(engine):
    found = engine.search("banana bread recipe")
    assert found.close_total == 0 and not any(r.close for r in found.results)


@pytest.mark.parametrize("name", ["Barnet", "Stevenage", "Essex county council"])
def test_a_search_for_a_council_by_name_finds_its_cases_as_close_matches(corpus_db, name):
    """Several cases of one council score alike, so none stands out from the rest; the query's words
    all in their name (title or organisations) make them close matches, with postings or, in a
    database built before them, FTS5's column filter."""
    import sqlite3

    from search.engine import Engine

    word = name.split()[0]
    named = {r[0] for r in sqlite3.connect(corpus_db).execute(
        "select id from cases where title like ? or organisation_names like ?", [f"%{word}%", f"%{word}%"])}
    assert len(named) >= 3
    with_postings, without = Engine(corpus_db), Engine(corpus_db)
    without.index("cases").postings = None
    for engine in (with_postings, without):
        for mode in ("hybrid", "keyword"):
            found = engine.search(name, mode=mode)
            close = {r.id for r in found.results if r.close}
            assert named & set(ids(found)[:5]) <= close and close & named, (mode, close)


def test_a_repeated_query_is_not_embedded_again(engine):
    engine.search("a query about bins", mode="semantic")
    vector = engine._query_vectors["a query about bins"]
    engine.search("a query about bins", mode="semantic", filters={"regions": ["london"]}, offset=10)
    assert engine._query_vectors["a query about bins"] is vector


def _recorded(engine, monkeypatch) -> tuple[list[str], list]:
    """The texts the engine embeds and the vectors it scans from now on, its caches emptied (the
    engine is shared between tests)."""
    monkeypatch.setattr(engine, "_query_vectors", {})
    monkeypatch.setattr(engine, "_scans", {})
    embedded: list[str] = []
    encode = engine.embedder.encode
    monkeypatch.setattr(engine.embedder, "encode", lambda texts, *a, **k: embedded.extend(texts) or encode(texts, *a, **k))
    scanned: list = []
    prescan = engine._prescan

    def recorded(col, vectors, found=None, labelled=None):  # the labelled reading's vector too
        scanned.extend(vectors + ([labelled[0]] if labelled is not None else []))
        return prescan(col, vectors, found, labelled)
    monkeypatch.setattr(engine, "_prescan", recorded)
    return embedded, scanned


def test_a_case_query_s_labelled_reading_is_worked_out_from_kept_label_vectors(engine, corpus_db, monkeypatch):
    """Case search does not embed the query again with its terms' labels: that reading's vector is
    the query's plus LABEL_VECTOR x the mean of the labels' vectors, read as the build stored them."""
    import sqlite3

    import numpy as np
    from search import scoring

    embedded, scanned = _recorded(engine, monkeypatch)
    query = "kerbside bin collections in a rural district"
    named = engine.term_matcher.terms_in(query)
    label = engine.vocabularies["services"].terms["environmental-and-regulatory"].label
    assert ("services", "environmental-and-regulatory") in named
    engine.search(query, mode="semantic")
    assert not any(text.startswith(query + " (") for text in embedded)  # no labelled text embedded
    assert label not in embedded  # the build's vector, not embedded again
    conn = sqlite3.connect(corpus_db)
    stored = {label: np.frombuffer(blob, dtype=np.float32)
              for label, blob in conn.execute("select label, vector from term_label_vectors")}
    conn.close()
    q, labels = engine._query_vectors[query], [stored[x] for x in engine._labels("cases", named)]
    expected = q + scoring.LABEL_VECTOR["cases"] * np.mean(labels, axis=0)
    assert any(np.allclose(v, expected / np.linalg.norm(expected), atol=1e-6) for v in scanned)
    embedded.clear()
    engine.search("bin collections for flats", mode="semantic")
    assert label not in embedded
    # lessons still embed the labelled reading as text
    engine.search(query, mode="semantic", target="lessons")
    assert any(text.startswith(query + " (") for text in embedded)


def test_a_labelled_reading_is_worked_out_from_kept_label_scans_as_its_vector_scans(engine, monkeypatch):
    """The labelled reading's cosines are the query's and its labels' own, not a scan of its vector;
    each label's scan is kept, so the next query naming the term scans only its own vector. The
    cosines and every answer are those of scanning the reading's vector."""
    from search import scoring, semantic
    from search.engine import Engine
    from search.kept import Kept
    from search.scoring import centred

    vectors_scanned: list[int] = []
    scan = Engine._scan

    def recorded(matrix, qv, scales=None, threads=1, sums=None):
        if matrix is engine.index("cases").vectors:
            vectors_scanned.append(1 if qv.ndim == 1 else len(qv))
        return scan(matrix, qv, scales, threads, sums)
    monkeypatch.setattr(Engine, "_scan", staticmethod(recorded))
    monkeypatch.setattr(engine, "_query_vectors", {})
    monkeypatch.setattr(engine, "_scans", {})
    monkeypatch.setattr(engine, "_rankings", {})
    monkeypatch.setattr(engine, "_label_scans", Kept(semantic.LABEL_SCANS_KEPT_BYTES))
    monkeypatch.setattr(engine, "cores", 1)  # every scan through _scan (see test_search_cores.py for the shared one)
    col = engine.index("cases")
    query = "kerbside bin collections and street cleansing in a rural district"
    labels = engine._labels("cases", engine.term_matcher.terms_in(query))
    assert len(labels) >= 2
    first = engine.search(query, mode="semantic")
    assert sum(vectors_scanned) == 1 + len(labels)  # the query and each label; not the labelled reading
    q = engine._query_vectors[query]
    reading = engine._with_labels("cases", q, [engine._label_vectors[x] for x in labels])
    kept = engine._scans[engine._scan_key(col, reading)]
    share = scoring.CENTRING["cases"]
    expected = centred(share, scan(col.vectors, reading, col.scales), scan(col.doc_vectors, reading, col.doc_scales),
                       col.passage_hub, col.doc_hub, col.chunk_start, col.chunk_count)
    for got, want in zip(kept, expected):
        assert np.allclose(got, want, atol=2e-6)
    vectors_scanned.clear()
    engine._scans.clear(), engine._rankings.clear()
    again = engine.search(query, mode="semantic")
    assert sum(vectors_scanned) == 1 and ids(again) == ids(first)


def test_the_build_stores_every_vocabulary_label_s_vector_as_the_query_model_embeds_it(engine, corpus_db):
    import sqlite3

    conn = sqlite3.connect(corpus_db)
    rows = conn.execute("select term, label, model, vector from term_label_vectors").fetchall()
    conn.close()
    terms = {f"{v.key}/{t.slug}": t.label for v in engine.vocabularies.values() for t in v.terms.values()}
    assert {term: label for term, label, _, _ in rows} == terms
    assert {model for _, _, model, _ in rows} == {engine.embedder.name}
    for term, label, _, blob in rows[:20]:
        assert np.allclose(np.frombuffer(blob, dtype=np.float32), engine.embedder.encode([label])[0], atol=1e-6)


def test_a_label_the_database_lacks_is_embedded_once_and_outlasts_the_query_cache(corpus_db, tmp_path, monkeypatch):
    """A database built before labels' vectors were stored still searches: a label is embedded when
    first named and kept for good, however many queries pass through the query cache after it."""
    from tests.conftest import altered_copy
    from search import semantic
    from search.engine import Engine

    engine = Engine(altered_copy(corpus_db, tmp_path, "drop table term_label_vectors"))
    monkeypatch.setattr(semantic, "QUERY_CACHE", 4)
    embedded: list[str] = []
    encode = engine.embedder.encode
    monkeypatch.setattr(engine.embedder, "encode", lambda texts, *a, **k: embedded.extend(texts) or encode(texts, *a, **k))
    label = engine.vocabularies["services"].terms["environmental-and-regulatory"].label
    first = engine.search("kerbside bin collections in a rural district", mode="semantic")
    assert embedded.count(label) == 1
    for n in range(6):  # more queries than the cache holds
        engine.search(f"a query about parks number {n}", mode="semantic")
    again = engine.search("bin collections for flats", mode="semantic")
    assert embedded.count(label) == 1 and again.results
    assert ids(first) == ids(Engine(corpus_db).search("kerbside bin collections in a rural district", mode="semantic"))


@pytest.mark.parametrize("target", ["cases", "lessons"])
def test_a_paragraph_is_read_from_its_sentences_vectors_not_embedded_whole(engine, monkeypatch, target):
    """A query of several sentences is not embedded whole: its vector is the mean of its sentences'
    (embedded anyway), weighted by their words, so its end is read however long it is."""
    import numpy as np
    from search.text import sentences_of

    embedded, scanned = _recorded(engine, monkeypatch)
    query = ("Our district council has shared a chief executive with a neighbour for two years. "
             "Members now want to merge the two management teams as well. What savings came from that elsewhere?")
    sentences = sentences_of(query)
    assert len(sentences) == 3
    found = engine.search(query, target=target)
    assert query not in embedded and set(sentences) <= set(embedded)
    words = np.array([len(s.split()) for s in sentences], dtype=np.float32)
    pooled = (np.stack([engine._query_vectors[s] for s in sentences]) * words[:, None]).sum(axis=0)
    assert np.allclose(scanned[0], pooled / np.linalg.norm(pooled), atol=1e-6)
    assert found.results


def test_facet_counts_cover_the_result_set(engine):
    found = engine.search("adult social care", with_facets=True, limit=200)
    assert sum(found.facet_counts["outcome"].values()) == found.total
    assert "Result set" in found.rule


def test_savings_range_is_on_achieved_yearly_savings(engine):
    found = engine.search("savings", min_savings=100_000, max_savings=5_000_000, limit=100)
    index = engine.index("cases")
    assert found.results
    assert all(100_000 <= index.savings[index.position[r.id]] <= 5_000_000 for r in found.results)


def test_lessons_are_searchable_and_filter_by_their_case(engine):
    found = engine.search("leadership", target="lessons", mode="keyword", limit=20)
    assert found.results and all(r.case_id or r.source_id for r in found.results)
    districts = engine.search("leadership", target="lessons", mode="keyword", limit=50,
                              filters={"council_types": ["district-council"]})
    index = engine.index("cases")
    assert districts.results
    assert all(r.case_id and index.masks["council_types"]["district-council"][index.position[r.case_id]]
               for r in districts.results)


@pytest.mark.parametrize("query", ['"unbalanced', "NEAR(", "adult*", "a OR", "title:barnet", '"""', "AND AND"])
def test_fts_syntax_is_read_as_plain_words(engine, query):
    plain = re.sub(r"[^\w ]", " ", query).strip()
    assert ids(engine.search(query, mode="keyword")) == (ids(engine.search(plain, mode="keyword")) if plain else [])
    assert engine.search(query, mode="hybrid").total >= engine.search(query, mode="keyword").total


def test_bad_input_gets_clear_messages(engine):
    assert engine.search("", mode="hybrid").browse
    assert engine.search('"""', mode="keyword").results == []
    engine.search("x" * MAX_QUERY_CHARS)
    assert engine.search("x" * (MAX_QUERY_CHARS + 1)).shortened_from == MAX_QUERY_CHARS + 1  # see test_query_reading
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


def test_cli_json_stdin_and_errors(corpus_db):
    runner = CliRunner()
    out = runner.invoke(cli, ["search", "Barnet outsourcing", "--db", str(corpus_db), "--json", "--limit", "3"])
    assert out.exit_code == 0, out.output
    results = json.loads(out.output)
    assert len(results) == 3 and {"id", "title", "score", "passage"} <= set(results[0])
    out = runner.invoke(cli, ["search", "-", "--db", str(corpus_db), "--mode", "keyword", "--council-types",
                              "district-council"], input="shared services\nleisure centres\n")
    lines = out.output.strip().split("\n")
    assert len(lines) == 2 and all(isinstance(json.loads(line), list) for line in lines)
    out = runner.invoke(cli, ["search", "care", "--db", str(corpus_db), "--min-savings", "9", "--max-savings", "1"])
    assert out.exit_code == 2 and "above the maximum" in out.output
    out = runner.invoke(cli, ["similar", "no-such-case", "--db", str(corpus_db)])
    assert out.exit_code == 2 and "unknown case id" in out.output


def test_kb_search_takes_savings_bounds_as_the_search_page_does(corpus_db):
    """The command line reads "£250,000" as the site's savings boxes do, and refuses what they refuse."""
    runner = CliRunner()

    def ids(*bounds):
        out = runner.invoke(cli, ["search", "savings", "--db", str(corpus_db), "--json", "--limit", "50", *bounds])
        assert out.exit_code == 0, out.output
        return [r["id"] for r in json.loads(out.output)]

    assert ids("--min-savings", "£250,000") == ids("--min-savings", "250000") == ids("--min-savings", "£250k") != ids()
    assert ids("--min-savings", "£1.5m") == ids("--min-savings", "1.5 million") == ids("--min-savings", "1500000")
    for typed in ("nan", "1e309", "-5", "1,0,0", "m", "1.5.5m"):
        out = runner.invoke(cli, ["search", "savings", "--db", str(corpus_db), "--max-savings", typed])
        assert out.exit_code == 2 and "such as 250000, £250,000, £250k or £1.5m" in out.output, (typed, out.output)


# -- with the real model -------------------------------------------------------------------------
@pytest.mark.model
def test_semantic_finds_a_case_with_no_shared_words(model_engine):
    from kb import ROOT
    from search.text import stem

    query = "pensioners regaining self-sufficiency after a spell on a ward"
    case_words = {stem(w) for w in re.findall(r"\w+", (ROOT / "cases" / "brighton-hove-reablement.md").read_text().lower())}
    assert [t for t in terms_of(query) if stem(t) in case_words] == []
    assert "brighton-hove-reablement" in ids(model_engine.search(query, mode="semantic", limit=5))
    assert "brighton-hove-reablement" in ids(model_engine.search(query, mode="hybrid", limit=5))
    assert "brighton-hove-reablement" not in ids(model_engine.search(query, mode="keyword", limit=5))


@pytest.mark.model
def test_everyday_words_no_case_writes_find_the_terms_cases(model_engine):
    """The model reads "fly tipping" as neither waste nor enforcement (it put commercial rents
    first): the cases writing the service's names answer it."""
    cases = model_engine.index("cases")
    tagged = cases.masks["services"]["environmental-and-regulatory"]
    for query in ("fly tipping", "fly-tipping"):
        found = ids(model_engine.search(query, limit=3))
        assert all(tagged[cases.position[i]] for i in found), (query, found)


def test_everyday_words_name_vocabulary_terms(engine):
    assert ("services", "environmental-and-regulatory") in engine.term_matcher.terms_in("bin collections")
    assert engine.term_matcher.terms_in("our medium-term plan") == []  # "plan" is not "planning"
    assert "cheshire-west-chester-online-refuse-channel-shift" in ids(engine.search("bin collections", mode="keyword", limit=3))
    # the expansion finds a case by a synonym it does not contain: "rubbish" is an everyday word for the service
    found = ids(engine.search("rubbish", mode="keyword", limit=20))
    assert "cheshire-west-chester-online-refuse-channel-shift" in found


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_a_short_query_in_a_terms_everyday_words_finds_the_cases_writing_its_names(engine, mode):
    """"bin collections" names the environmental services: a case whose text says "refuse" and never
    "bin" or "collections" (Adur and Worthing's "shared refuse plan") is in its result set, as it
    counts for the keyword side's weight."""
    assert "adur-worthing-shared-services-single-officer-structure" in ids(engine.search("bin collections", mode=mode, limit=100))


def test_a_short_query_in_a_terms_everyday_words_is_covered_by_its_names(engine):
    """No case writes "fly tipping", an everyday word for the environmental services: the cases
    writing one of the service's names ("street cleansing", "waste") hold its words for the keyword
    side's weight, which had been left out of the ranking as if the query shared no word with any case."""
    query = "fly tipping"
    cases = engine.index("cases")
    terms = terms_of(query)
    assert not engine._holding(cases, ["fly"]).any() and not engine._holding(cases, ["tipping"]).any()
    expansion = engine._expansion(engine.term_matcher.terms_in(query))
    said = engine._said_and_unsaid(cases, terms, query)[0]
    assert set(said) == {"fly", "tipping"} and said["fly"].any()
    assert engine.keyword_scores(cases, terms, expansion=expansion)[2] == 0.0
    assert engine.keyword_scores(cases, terms, expansion=expansion, said=said)[2] == 1.0
    tagged = cases.masks["services"]["environmental-and-regulatory"]
    assert all(tagged[cases.position[i]] for i in ids(engine.search(query, limit=3)))
    # in a longer query such words are a few among many, some naming terms in passing ("employees", "cut")
    longer = "Roads department mapped each job step, let employees spot faults and cut posts"
    assert engine.term_matcher.terms_in(longer) and engine._said_and_unsaid(cases, terms_of(longer), longer)[0] == {}


def test_words_naming_a_term_together_count_less_in_a_case_not_tagged_with_it(engine):
    """"councils that share a chief executive" names the sharing council; Warrington, whose one
    "chief-executive-chaired" group says the words in passing, came first by them."""
    query = "councils that share a chief executive"
    assert ("approaches", "sharing-council") in engine.term_matcher.terms_in(query)
    cases = engine.index("cases")
    tagged = cases.masks["approaches"]["sharing-council"]
    found = ids(engine.search(query, mode="keyword", limit=5))
    assert tagged[cases.position[found[0]]]
    assert found.index("warrington-entrepreneurial-council") > found.index("dorset-councils-partnership-single-workforce")
    # lessons are not tagged by what they teach (a lesson's tags are its case's): their words count whole
    lessons = engine.index("lessons")
    naming = engine._naming_together(lessons, terms_of(query), query)
    assert naming and np.array_equal(engine.keyword_scores(lessons, terms_of(query), naming=naming)[0],
                                     engine.keyword_scores(lessons, terms_of(query))[0], equal_nan=True)


def test_a_hyphenated_compound_with_a_function_word_is_matched_whole(engine):
    """"in-house" is not "house": a case about housing holds the one, not the other."""
    conn = engine.conn
    holding = lambda phrase: {r[0] for r in conn.execute(
        "select c.id from cases_fts f join cases c on c.rowid = f.rowid where cases_fts match ?", [phrase])}
    in_house, housing = holding('"in house"'), holding('"housing"') - holding('"in house"')
    assert in_house and housing
    found = set(ids(engine.search("in-house", mode="keyword", limit=200)))
    assert found == in_house
    # its rarity is the phrase's, not that of its commonest word ("in", in every case)
    assert engine.informative(engine.index("cases"), ["in house", "lawyers"])[1]["in house"] == len(in_house)
    found = set(ids(engine.search("in-house lawyers", mode="keyword", limit=200)))
    assert found and not found & housing - holding('"lawyers"')


def test_keyword_mode_falls_back_to_any_word(engine):
    # no lesson holds half of these words, but some hold one: keyword mode must not return nothing
    query = "leadership zebra quokka narwhal"
    found = engine.search(query, target="lessons", mode="keyword")
    assert found.results and all("leadership" in r.passage.lower() or "lead" in r.passage.lower() for r in found.results[:5])


@pytest.mark.parametrize("target", ["cases", "lessons"])
def test_keyword_mode_searches_the_common_words_when_no_document_holds_the_others(engine, target):
    # "services zebra": the common word is left out as too common to search by, and no document
    # holds the other, so keyword mode had found nothing where an OR of the words finds every
    # document saying "services"
    col = engine.index(target)
    words = ["council", "councils", "services", "service", "savings"]
    documents = engine.informative(col, words)[1]
    common = max(words, key=lambda w: documents[w])
    assert documents[common] > len(col.ids) / 2  # else the word would be searched anyway
    holding = set(ids(engine.search(common, mode="keyword", target=target, limit=1000, spelling=False)))
    found = engine.search(f"{common} quokka", mode="keyword", target=target, limit=1000, spelling=False)
    assert holding and set(ids(found)) == holding
    assert "unless nothing else matches" in found.rule
    # a word some document holds is still searched alone, and hybrid search keeps its result set
    rare = engine.search(f"{common} quokka leadership", mode="keyword", target=target, limit=1000, spelling=False)
    alone = engine.search("quokka leadership", mode="keyword", target=target, limit=1000, spelling=False)
    assert set(ids(alone)) and set(ids(rare)) == set(ids(alone)) != holding
    assert engine.search(f"{common} quokka", target=target, limit=1000, spelling=False).total < len(holding)


def test_keyword_mode_never_finds_nothing_where_an_or_of_the_words_finds_something(engine, corpus_db):
    """The issue's rule, over many queries: a few of the collection's own words (common and rare)
    mixed with words it never writes; where an OR of the query's content words finds a document in
    the FTS5 index, keyword mode finds one too."""
    import random
    import sqlite3

    from search.text import STOPWORDS

    rng = random.Random(7)
    conn = sqlite3.connect(corpus_db)
    unknown = ["quokka", "chatbot", "blockchain", "zeppelin", "narwhal"]
    for target in ("cases", "lessons"):
        text = " ".join(t for (t,) in conn.execute(f"select text from chunks where {target[:-1]}_id is not null"))
        written = sorted(set(re.findall(r"[a-z]{3,}", text.lower())) - STOPWORDS)
        for _ in range(60):
            words = [rng.choice(written) if rng.random() < 0.5 else rng.choice(unknown) for _ in range(rng.randint(1, 5))]
            query = " ".join(words)
            either = " OR ".join(f'"{w}"' for w in words)
            held = conn.execute(f"select count(*) from {target}_fts where {target}_fts match ?", [either]).fetchone()[0]
            if held:
                assert engine.search(query, mode="keyword", target=target, spelling=False).results, query


@pytest.mark.model
def test_evaluation_meets_its_floors(model_engine, model_corpus_db):
    """Floors a little under today's figures (README), so a change that loses ground fails."""
    from search.evaluate import LESSON_QUERIES_FILE, evaluate, evaluate_everyday, evaluate_similar, load_queries

    cases = evaluate(None, load_queries(), engine=model_engine)
    assert cases["hybrid"]["all"]["queries"] >= 150
    assert cases["hybrid"]["all"]["ndcg@10"] >= 0.845
    for form in ("keyword", "question", "situation", "paraphrase"):
        best_single = max(cases[m][f"form:{form}"]["ndcg@10"] for m in ("keyword", "semantic"))
        assert cases["hybrid"][f"form:{form}"]["ndcg@10"] >= best_single, form
    lessons = evaluate(None, load_queries(LESSON_QUERIES_FILE), target="lessons", engine=model_engine)
    # 0.722 (questions 0.677) before each lesson carried the questions it answers; 0.778 (0.741) with them
    assert lessons["hybrid"]["all"]["ndcg@10"] >= 0.76
    assert min(lessons["hybrid"][f"form:{form}"]["ndcg@10"] for form in ("keyword", "question", "situation")) >= 0.72
    for form in ("keyword", "question", "situation"):
        best_single = max(lessons[m][f"form:{form}"]["ndcg@10"] for m in ("keyword", "semantic"))
        assert lessons["hybrid"][f"form:{form}"]["ndcg@10"] >= best_single, form
    assert evaluate_similar(None, engine=model_engine)["ndcg@5"] >= 0.78
    # the vocabulary's other names that no case writes ("fly tipping"): 0.857 before the cases writing
    # the term's names covered them (Holds._said_and_unsaid), 0.916 with it
    everyday = evaluate_everyday(None, engine=model_engine)
    assert everyday["names"] >= 500 and everyday["first_tagged"] >= 0.9
    # the blind reviews kept beside the judged sets (search/reviews/), which no weight was chosen on
    from kb import ROOT

    reviews = ROOT / "search" / "reviews"
    review_cases = evaluate(None, load_queries(reviews / "cases-17.yml"), engine=model_engine)
    assert review_cases["hybrid"]["all"]["ndcg@10"] >= 0.85
    review_lessons = evaluate(None, load_queries(reviews / "lessons-17.yml"), target="lessons", engine=model_engine)
    assert review_lessons["hybrid"]["all"]["ndcg@10"] >= 0.69  # 0.649 before the questions, 0.712 with them
    assert review_lessons["hybrid"]["form:situation"]["ndcg@10"] >= 0.65  # paragraphs that end by asking
    for form in ("keyword", "question", "situation"):
        best_single = max(review_lessons[m][f"form:{form}"]["ndcg@10"] for m in ("keyword", "semantic"))
        assert review_lessons["hybrid"][f"form:{form}"]["ndcg@10"] >= best_single, form
    # the eighteenth review, written after every weight was chosen: cases 0.901, lessons 0.739 (0.783
    # with the questions each lesson answers)
    review_cases = evaluate(None, load_queries(reviews / "cases-18.yml"), engine=model_engine)
    assert review_cases["hybrid"]["all"]["ndcg@10"] >= 0.88
    for form in ("keyword", "question", "situation", "no-shared-words"):
        best_single = max(review_cases[m][f"form:{form}"]["ndcg@10"] for m in ("keyword", "semantic"))
        assert review_cases["hybrid"][f"form:{form}"]["ndcg@10"] >= best_single, form
    review_lessons = evaluate(None, load_queries(reviews / "lessons-18.yml"), target="lessons", engine=model_engine)
    assert review_lessons["hybrid"]["all"]["ndcg@10"] >= 0.76
    for form in ("keyword", "question", "situation"):
        best_single = max(review_lessons[m][f"form:{form}"]["ndcg@10"] for m in ("keyword", "semantic"))
        assert review_lessons["hybrid"][f"form:{form}"]["ndcg@10"] >= best_single, form



@pytest.mark.model
def test_close_matches_are_judged_useful_well_above_four_times_in_five(model_engine):
    """The bars a result must clear to be flagged close were chosen over seven judged sets, each left
    out in turn (two kept outside the repository had found the flag useful only 69% and 70% of the
    time): on the judged sets the case flag is now right 86% of the time, where it was 83%; the lesson
    flag 90%, as it was (with the bars before and each lesson's second passage counted, 89.5%). With the
    questions each lesson answers read as its passages, the lesson flag is right 92% of the time and
    flags 49% of the exactly relevant lessons, where it flagged 39%."""
    from search.evaluate import LESSON_QUERIES_FILE, evaluate_close, load_queries

    cases = evaluate_close(None, load_queries(), engine=model_engine)
    lessons = evaluate_close(None, load_queries(LESSON_QUERIES_FILE), target="lessons", engine=model_engine)
    assert cases["precision"] >= 0.85 and cases["recall_exact"] >= 0.75, cases
    assert lessons["precision"] >= 0.9 and lessons["recall_exact"] >= 0.45, lessons


@pytest.mark.model
def test_a_lesson_is_a_close_match_only_on_real_evidence(model_engine):
    """Nearly every lesson is 0.3 similar to any query of the field, so a lesson holding one rare word
    of a question on something no lesson covers had stood out as close (three and four of them here);
    and a question a lesson answers shares its asking with any question ("What went wrong when
    councils ..."), so alone it is evidence only much nearer the query (CLOSE_MIN_ASKED)."""
    from search.evaluate import LESSON_QUERIES_FILE, evaluate_close, load_queries

    for query in ("what went wrong when councils ran a bus franchising scheme",
                  "how did councils handle a section 114 notice",
                  # lessons on flexible and remote working are 0.5 similar to it: five had stood out
                  "has any council tried a four-day working week for its staff, or is it a gimmick?"):
        found = model_engine.search(query, target="lessons")
        assert found.close_total == 0, (query, [r.id for r in found.results if r.close])
    # ...while most close matches of the judged lesson queries are still judged useful
    assert evaluate_close(None, load_queries(LESSON_QUERIES_FILE), target="lessons", engine=model_engine)["precision"] >= 0.8

# -- misspelt words -------------------------------------------------------------------------------
def test_a_misspelt_word_is_corrected_to_the_collection_s_word_and_said(engine):
    found = engine.search("libary services for Slough", mode="keyword")
    assert found.corrected_from == "libary services for Slough" and found.query == "library services for Slough"
    assert found.corrections == [("libary", "library")]
    assert ids(found)[0] == "essex-library-services-for-slough"
    # asked to search as typed, it suggests the correction instead
    as_typed = engine.search("libary services for Slough", mode="keyword", spelling=False)
    assert as_typed.corrected_from is None and as_typed.suggestion == "library services for Slough"
    assert ids(as_typed) != ids(found)


@pytest.mark.parametrize("typed, searched", [
    ("reablment", "reablement"),              # the collection's word, in no English dictionary
    ("Homelesness prevention", "Homelessness prevention"),
    ("trasnfer leisure centres", "transfer leisure centres"),  # two letters swapped: one edit
    ("shared sevices", "shared services"),    # "devices" is as near, "services" far more common here
    # American spellings, where the collection has the British one and not the American
    ("neighborhood program for behavior change", "neighbourhood programme for behaviour change"),
    ("customer center", "customer centre"),
    ("aging population", "ageing population"),
    # ...or only its inflections ("neighbouring", "neighbourhood"): "neighbor" stayed, and Adur and
    # Worthing's sharing fell from first to seventh
    ("shared services with neighbor council", "shared services with neighbour council"),
    ("labor costs", "labour costs"),
    # a slip of a vocabulary term's own word that no document writes ("preventative", an everyday word
    # of prevention): it stayed, a word in no text, and the search found nothing of prevention
    ("preventitive services", "preventative services"),
    # a compound the collection writes with a hyphen (not "production": a slip seldom changes the first letter)
    ("coproduction with residents", "co-production with residents"),
    ("selfservice portal", "self-service portal"),
])
def test_corrections(engine, typed, searched):
    assert engine.speller.correct(typed).query == searched


@pytest.mark.parametrize("typed, searched", [
    ("bdgt gap in hsng", "budget gap in housing"),
    ("chldrn srvcs rdsgn", "children services redesign"),
    ("cmssnng model", "commissioning model"),  # a doubled letter typed once: its skeleton is the same
    ("how shld we start", "how should we start"),  # "shld" was one edit from "sold"
    ("ndr income", "ndr income"),  # an acronym (non-domestic rates): "under" has its skeleton but not its first letter
    ("crm system", "crm system"),  # a name of a term ("crime" has its skeleton)
])
def test_a_word_typed_without_its_vowels_is_the_word_of_its_letters(engine, typed, searched):
    """A phone drops vowels ("bdgt", "hsng"): edits found such a word only far off, or another word
    ("shld" was "sold"); its consonants in order are the word meant, the commonest that has them."""
    assert engine.speller.correct(typed).query == searched


@pytest.mark.parametrize("typed, searched", [
    ("procurment savings", "procurement savings"),
    ("troubled familis", "troubled families"),
    ("grounds maintenence", "grounds maintenance"),
    ("fire station and youth cente", "fire station and youth centre"),  # not "cent", whose stem "cente" shares
])
def test_a_slip_whose_stem_the_index_holds_is_corrected_too(engine, typed, searched):
    """A slip that stems as a word of the collection ("procurment", as procurement) was no misspelling to
    the corrector: the keyword side found its stem, but the model read the slip, the page never said
    "Showing results for", and "cente" found every mention of a cent."""
    assert engine.speller.correct(typed).query == searched


def test_a_closed_form_of_a_word_the_collection_hyphenates_is_no_slip(engine):
    assert engine.speller.correct("councils that insourced waste").words == []


@pytest.mark.parametrize("typed, searched", [
    ("spot heavy usrs early", "spot heavy users early"),   # "uses" is as near and commoner; "heavy users" is written
    ("cross-pary backing", "cross-party backing"),         # "part" and "pay" as near
    ("pper forms", "paper forms"),                         # "per" as near
])
def test_of_corrections_as_near_the_one_beside_the_next_word_is_taken(engine, typed, searched):
    """Of the collection's words as near a slip as each other, the commonest was taken whatever stood
    beside it; a word the collection writes beside the query's next or last word is the likelier."""
    assert engine.speller.correct(typed).query == searched


@pytest.mark.parametrize("query", [
    "MTFS gap over three years",              # an acronym
    "hiving off our grant team",              # an inflection of an English word the collection lacks
    "bobbies on the beat",                    # English, though not in the collection
    "careline alarms",                        # eight letters: one edit at most, and none is that near
    "Wokingham and Sevenoaks",                # names
    "smart meter installation",               # not "metre": a meter is a thing of its own
    "savings in Arun",                        # a capital inside a sentence: a name, not "run"
    "chatbots and webchats",                  # a term's words with an ending: not "chatbot" and "webchat"
])
def test_what_is_not_misspelt_is_left_alone(engine, query):
    assert engine.speller.correct(query).words == []


def test_words_in_double_quotes_are_searched_as_written(engine):
    assert engine.speller.correct('"libary" services').words == []
    assert engine.speller.correct('\u201clibary services\u201d').words == []
    found = engine.speller.correct('"libary services" near the libary')
    assert found.query == '"libary services" near the library' and found.words == [("libary", "library")]


@pytest.mark.parametrize("query", ["c0uncil tax", "123libary", "l0ndon boroughs"])
def test_a_word_with_digits_is_not_corrected_in_part(engine, query):
    """The index reads "c0uncil" as one word: correcting its letters after the digit makes "c0until"."""
    assert engine.speller.correct(query).words == []


def test_a_name_or_a_short_word_is_not_corrected_to_a_function_word(engine):
    """Search leaves out "were": Wyre (a council the collection does not name) corrected to it is lost,
    typed with its capital or not: a word of four letters is near too many function words."""
    assert engine.speller.correct("Wyre council").words == []
    assert engine.speller.correct("wyre council").words == []


@pytest.mark.parametrize("typed, searched", [
    ("what did thier councils do", "what did their councils do"),  # not "tier"
    ("ohter councils nearby", "other councils nearby"),  # not "outer"
    ("becuase of cuts", "because of cuts"),
    ("wothout closing libraries", "without closing libraries"),
])
def test_a_slip_of_a_function_word_is_the_function_word(engine, typed, searched):
    """A slip of "their" or "without" was left as typed, a word in no text that the model misread and
    that took the largest share of what the best case had to hold; or it became the nearest content
    word ("thier": tier, "ohter": outer)."""
    assert engine.speller.correct(typed).query == searched


def test_no_query_of_the_judged_sets_is_corrected(engine):
    """The 242 judged queries are spelt right (some in officers' slang and acronyms): a correction of
    any of them is a false one."""
    from search.evaluate import LESSON_QUERIES_FILE, load_queries

    wrong = [(q["query"], engine.speller.correct(q["query"]).words)
             for q in load_queries() + load_queries(LESSON_QUERIES_FILE)]
    assert [w for w in wrong if w[1]] == []


def test_a_phrase_in_double_quotes_must_be_found_as_written(engine):
    loose = set(ids(engine.search("whole place", mode="keyword", limit=100)))
    for quoted in ('"whole place"', "\u201cwhole place\u201d"):
        for mode in ("keyword", "hybrid"):
            found = engine.search(quoted, mode=mode, limit=100)
            assert ids(found) == ["cheshire-west-chester-whole-place-community-budget"], (quoted, mode)
    assert len(loose) > 1  # without quotes, the words need not stand together
    # with other words beside it, every result still holds the phrase (its words' other forms count,
    # as they do for every word: "Communities Budget")
    found = engine.search('"community budget" Cheshire', mode="hybrid", limit=100)
    assert found.total and all(re.search(r"communit(y|ies) budgets?", engine.conn.execute(
        "select title || ' ' || summary || ' ' || body_text from cases where id = ?", [r.id]).fetchone()[0].lower())
        for r in found.results)
    # meaning alone does not read quotes; a phrase no case holds is searched as words, and said so
    # (test_query_reading), so a phrase from outside the field finds no close match
    assert engine.search('"whole place"', mode="semantic").total > 1
    outside = engine.search('"zanzibar lemur conservation"', mode="hybrid")
    assert outside.unquoted == ["zanzibar lemur conservation"] and outside.close_total == 0


def test_a_quoted_phrase_is_split_as_the_index_splits_it(engine):
    """ "£4.3m" is the words 4 and 3m to the index; quotes around punctuation alone ask for nothing."""
    for mode in ("keyword", "hybrid"):
        assert ids(engine.search('"£4.3m of the planned"', mode=mode)) == ["london-pilot-learning-disability-partnership"]
    assert engine.search('council "%"', mode="keyword").total == engine.search("council", mode="keyword").total > 0
    assert engine.search('council "%"', mode="hybrid").total > 0


def test_no_result_scoring_higher_than_a_close_match_is_put_below_it():
    import numpy as np

    from search.scoring import never_overtaken

    scores = np.array([0.9, 1.0, 0.5, np.nan, 0.8])
    members = np.array([True, True, True, False, True])
    # the evidence rule flagged the 0.9 but not the better-scored 1.0
    close = np.array([True, False, False, False, False])
    assert never_overtaken(scores, members, close).tolist() == [True, True, False, False, False]
    assert not never_overtaken(scores, members, np.zeros(5, bool)).any()


def test_close_matches_head_the_list_in_score_order(engine):
    for query in ("shared staffing structure between two district councils", "in lockdown we redeployed librarians",
                  "reablement for older people", "charging other councils for our lawyers"):
        for mode in ("hybrid", "semantic", "keyword"):
            results = engine.search(query, mode=mode, limit=20).results
            close = [r.score for r in results if r.close]
            assert not close or all(r.score < min(close) or r.close for r in results), (query, mode)


def test_a_name_cut_to_one_common_word_by_its_stopwords_names_its_term_only_whole(engine):
    """"Other organisation", "IT services", "how we work": without their stopwords they would be
    "organisation", "services", "work", which most queries hold."""
    matcher = engine.term_matcher
    assert matcher.terms_in("which organisation ran the service and how did staff work") == []
    assert ("services", "central-services") in matcher.terms_in("moving IT services to a shared team")
    assert ("council_types", "other-organisation") in matcher.terms_in("an other organisation")
    assert ("key_attributes", "culture-ways-of-working") in matcher.terms_in("changing how we work")


def test_an_amount_with_a_decimal_point_is_one_word_as_the_index_reads_it(engine):
    """"£4.3m" is split by the index into "4" and "3m": read as "£4.3" and "m" it matched nothing."""
    found = engine.search("£4.3m savings", mode="keyword", limit=20)
    assert found.total and all("4.3m" in engine.conn.execute(
        "select title || ' ' || summary || ' ' || body_text from cases where id = ?", [r.id]).fetchone()[0]
        for r in found.results[:1])


@pytest.mark.parametrize("pasted, plain", [
    ("e\ufb03ciency savings", "efficiency savings"),  # a ligature pasted from a PDF
    ("\uff21\uff33\uff23", "ASC"),  # full-width letters from a phone's keyboard
    ("re\u00adablement", "reablement"),  # a soft hyphen from a web page
    ("adult\u00a0social\u00a0care", "adult social care"),
    ("\u202eshared services\u202c", "shared services"),
])
def test_a_pasted_query_is_read_in_the_collection_s_characters(engine, pasted, plain):
    for mode in ("keyword", "hybrid"):
        found = engine.search(pasted, mode=mode, limit=20)
        assert found.total and ids(found) == ids(engine.search(plain, mode=mode, limit=20)), (pasted, mode)


@pytest.mark.parametrize("query", ["outsourcing -Barnet", "outsourcing NOT Barnet", "outsourcing -barnet"])
def test_a_word_after_minus_or_not_leaves_out_the_documents_holding_it(engine, query):
    barnet = {r[0] for r in engine.conn.execute(
        "select c.id from cases_fts f join cases c on c.rowid = f.rowid where cases_fts match 'barnet'")}
    assert barnet & set(ids(engine.search("outsourcing", mode="keyword", limit=100)))
    for mode in ("keyword", "hybrid", "semantic"):
        found = engine.search(query, mode=mode, limit=100, with_facets=True)
        assert found.total and not set(ids(found)) & barnet, (query, mode)
        assert found.excluded == ["Barnet" if "Barnet" in query else "barnet"] and found.query == query
        # the facet counts are what ticking shows, with the word still left out
        kind, value = next((k, v) for k, counts in found.facet_counts.items() for v, c in counts.items() if c)
        assert found.facet_counts[kind][value] == engine.search(query, mode=mode, limit=100, filters={kind: [value]}).total
    # the rest of the query is searched as if typed alone
    plain = [i for i in ids(engine.search("outsourcing", mode="keyword", limit=100)) if i not in barnet]
    assert ids(engine.search(query, mode="keyword", limit=100)) == plain
    # with nothing else asked, every case but those
    assert engine.search("-Barnet", mode="hybrid").total == len(engine.index("cases").ids) - len(barnet)


@pytest.mark.parametrize("query", ["what did not work", "in-house lawyers", "savings -5%", "cost - benefit",
                                   "WHAT DID NOT WORK"])
def test_a_hyphen_or_not_that_is_no_operator_leaves_nothing_out(engine, query):
    found = engine.search(query, mode="keyword")
    assert found.excluded == []


@pytest.mark.parametrize("query, term", [
    ("ICS", ("council_types", "health-body")), ("working with the integrated care system", ("council_types", "health-body")),
    ("PCN", ("council_types", "health-body")), ("DToC", ("services", "adult-social-care")),
    ("delayed discharge from hospital", ("services", "adult-social-care")), ("LD day services", ("services", "adult-social-care")),
    ("EHC plans", ("services", "education")),
])
def test_the_sector_s_shorthand_names_its_term(engine, query, term):
    """Acronyms every council officer uses for one term (and only that term) read as that term."""
    assert term in engine.term_matcher.terms_in(query)


@pytest.mark.parametrize("closed, hyphenated", [("cooperative", "co-operative"), ("frontline", "front-line")])
def test_a_word_the_collection_writes_closed_and_hyphenated_finds_both(engine, closed, hyphenated):
    holding = lambda phrase: {r[0] for r in engine.conn.execute(
        "select c.id from cases_fts f join cases c on c.rowid = f.rowid where cases_fts match ?", [phrase])}
    both = holding(f'"{closed}"') | holding('"' + hyphenated.replace("-", " ") + '"')
    assert holding(f'"{closed}"') != both  # the collection has each form in cases the other misses
    for typed in (closed, hyphenated, closed.capitalize()):
        found = engine.search(typed, mode="keyword", limit=100)
        assert set(ids(found)) == both, typed
    marked = {r.id for r in engine.search(closed, mode="keyword", limit=100).results if "<mark>" in r.passage_html}
    assert marked & holding('"' + hyphenated.replace("-", " ") + '"') - holding(f'"{closed}"')
    # a query word keeps the weight of one word: the documents holding either form, as one
    n = engine.informative(engine.index("cases"), [closed, "council"])[1][closed]
    assert n == len(both)


def test_a_sum_of_figures_in_short_finds_it_however_a_report_writes_it(engine):
    """"£2m" is "£2 million" or "£2million" in most reports; the index reads them as other words."""
    from search.text import amount_forms

    assert amount_forms("£1.5bn") == ["£1.5bn", "£1.5 billion", "£1.5billion"]
    assert amount_forms("£500k") == ["£500k", "£500,000", "£0.5m", "£0.5 million", "£0.5million"]
    assert amount_forms("2015") == []
    holding = lambda phrase: {r[0] for r in engine.conn.execute(
        "select c.id from cases_fts f join cases c on c.rowid = f.rowid where cases_fts match ?", [phrase])}
    written = holding('"2m"') | holding('"2 million"') | holding('"2million"')
    assert written - holding('"2m"')
    # printed whole, not as the end of a decimal ("£0.2 million" and "£3.2 million" hold the words "2 million")
    printed = re.compile(r"(?<!\d[.,])(?<!\w)2\W{0,3}(m|million)(?!\w)", re.I)
    whole = {row[0] for row in engine.conn.execute(
        "select c.id, f.* from cases_fts f join cases c on c.rowid = f.rowid")
        if any(isinstance(v, str) and printed.search(v) for v in row[1:])}
    assert written - whole  # the test would prove nothing if no case held it only inside a decimal
    written &= whole
    for mode in ("keyword", "hybrid"):
        found = set(ids(engine.search("£2m", mode=mode, limit=100)))
        assert written <= found, mode


def test_a_sum_below_a_million_finds_it_in_thousands_or_as_part_of_a_million():
    """Reports print £200k as "£200,000" or "£0.2 million"; a query may give either."""
    from search.text import amount_forms

    assert {"£0.2 million", "£200,000"} <= set(amount_forms("£200k"))
    assert {"£750k", "£750,000"} <= set(amount_forms("£0.75m"))
    assert "£500 million" in amount_forms("£0.5bn")
    assert amount_forms("£556k") == ["£556k", "£556,000"]  # never "£0.556m": no report writes a sum so
    assert amount_forms("£2.50m") == ["£2.5m", "£2.5 million", "£2.5million"]


@pytest.mark.parametrize("typed, short", [
    ("£2 million savings", "£2m savings"), ("2 million pounds", "£2m"), ("£2million", "£2m"),
    ("half a million saved", "£0.5m saved"), ("quarter of a million", "£0.25m"), ("two million", "£2m"),
    ("£500,000 a year", "£500k a year"), ("500,000 pounds", "£500k"), ("£1,500,000", "£1.5m"),
    ("£1.2 billion budget", "£1.2bn budget"), ("£3 thousand", "£3k"), ("£2 bn", "£2bn"),
    # not sums of money, or not to be read as one
    ("2,000 staff", "2,000 staff"), ("3 thousand staff", "3 thousand staff"), ("I am here", "I am here"),
    ("£2-3 million", "£2-3 million"), ("2015", "2015"), ("£4.3m", "£4.3m")])
def test_a_sum_of_money_typed_out_is_read_as_its_short_form(typed, short):
    from search.text import figures_in_short, terms_of

    assert figures_in_short(typed) == short
    assert terms_of(typed) == terms_of(short)


def test_a_sum_typed_in_words_finds_what_its_short_form_finds(engine):
    """"£2 million" as words is "2", in any figure of any report, and "million"."""
    for typed in ("£2 million", "2 million pounds", "£2million"):
        found = engine.search(typed, mode="keyword", limit=100)
        assert ids(found) == ids(engine.search("£2m", mode="keyword", limit=100)), typed


def test_an_acronym_among_a_terms_names_stands_for_the_name_it_abbreviates():
    """Declared once, as names of one term in kb/vocabulary.yml: no list of acronyms of its own."""
    from search.text import acronyms_of

    found = acronyms_of(["Central services", "it", "information technology", "ict",
                         "information and communications technology", "hr", "human resources", "finance"])
    assert found["hr"] == ["human resources"]
    assert found["ict"] == ["information and communications technology"]
    # IT is part of ICT: a document that writes ICT is about IT, not the other way round
    assert found["it"] == ["information technology", "ict", "information and communications technology"]
    assert acronyms_of(["ehcp", "education health and care plan"]) == {"ehcp": ["education health and care plan"]}
    assert acronyms_of(["csc", "Children's social care"]) == {"csc": ["children's social care"]}
    assert acronyms_of(["mtfp", "medium-term financial plan"]) == {"mtfp": ["medium-term financial plan"]}
    assert acronyms_of(["finance", "human resources"]) == {}


def test_an_acronym_that_is_also_a_word_is_read_as_one_only_in_capitals():
    from search.text import phrases_of, terms_of

    acronyms = frozenset({"it", "send"})
    assert terms_of("Who shares their IT service?", acronyms) == ["shares", "IT", "service"]
    assert phrases_of("new IT system", acronyms) == ["new it", "it system"]
    assert terms_of("was it worth it", acronyms) == ["worth"]
    assert terms_of("SEND transport", acronyms) == ["SEND", "transport"]
    assert terms_of("send reminders", acronyms) == ["send", "reminders"]
    # in a query in capitals throughout, capitals say nothing
    assert terms_of("HOW DID IT GO", acronyms) == ["did", "go"]
    assert terms_of("IT", acronyms) == ["IT"]
    assert terms_of("IT", frozenset()) == []  # not declared: a function word as before


def test_it_in_capitals_finds_information_technology_and_ict(engine):
    """"IT" was the function word "it", left out of every query: "IT" alone found nothing by its words."""
    holding = lambda phrase: {r[0] for r in engine.conn.execute(
        "select c.id from cases_fts f join cases c on c.rowid = f.rowid where cases_fts match ?", [phrase])}
    ict = holding('"ict"') | holding('"information technology"')
    assert ict
    assert set(ids(engine.search("IT", mode="keyword", limit=100))) == ict
    assert ids(engine.search("it", mode="keyword", limit=100)) == []
    # a case writing "IT project" holds IT, through the query's pair
    project = holding('"it project"')
    assert project and project <= set(ids(engine.search("IT project", mode="keyword", limit=100)))
    assert "it" not in engine._expansion(engine.term_matcher.terms_in("IT"))
    # the pronoun is not marked in the passages shown
    assert not any("<mark>it</mark>" in r.passage_html for r in engine.search("IT shared service", mode="keyword").results)


def test_an_acronym_finds_what_it_stands_for(engine):
    """Reports write "Medium Term Financial Strategy" where an officer types MTFS."""
    holding = lambda phrase: {r[0] for r in engine.conn.execute(
        "select c.id from cases_fts f join cases c on c.rowid = f.rowid where cases_fts match ?", [phrase])}
    written = holding('"medium term financial strategy"')
    assert written and not holding('"mtfs"')
    for typed in ("MTFS", "mtfs", "MTFS savings"):
        assert written <= set(ids(engine.search(typed, mode="keyword", limit=100))), typed
    # one query word: its documents are those holding any of its forms
    assert engine.informative(engine.index("cases"), ["mtfs", "council"])[1]["mtfs"] == len(written)
    spelt = holding('"special educational needs and disabilities"') | holding('"send"')
    assert set(ids(engine.search("SEND", mode="keyword", limit=100))) == spelt


def test_a_word_the_vocabulary_declares_is_no_misspelling(engine):
    """"mtfs" (a medium term financial strategy, declared beside its term) was "corrected" to the
    collection's "mtfp", a plan; a name of a term is a word a query may use though no case does."""
    assert engine.search("mtfs", mode="keyword").corrections == []
    assert engine.search("latco", mode="keyword").corrections == []
    assert engine.search("libary", mode="keyword").corrections == [("libary", "library")]


@pytest.mark.parametrize("typed, written", [("re-ablement", "reablement"), ("tele-care", "telecare"),
                                            ("well-being", "wellbeing"), ("on-line", "online")])
def test_a_hyphenated_word_the_collection_writes_only_closed_finds_it(engine, typed, written):
    """"re-ablement" was the words "re" and "ablement", in no case; "tele-care" was "corrected" to "tell care"."""
    words = {w for (w,) in engine.conn.execute("select word from spelling_words")}
    assert written in words and typed not in words
    found = engine.search(typed, mode="keyword", limit=100)
    assert found.corrections == []
    assert ids(found) == ids(engine.search(written, mode="keyword", limit=100)) != []


@pytest.mark.parametrize("typed, short", [("cut by 38 per cent", "cut by 38%"), ("99 percent online", "99% online"),
                                          ("a 20pc saving", "a 20% saving"), ("a few percent", "a few percent")])
def test_a_share_written_in_per_cent_is_read_as_a_figure(typed, short):
    """Reports print "38%", "38 per cent" or "38 percent"; the index reads each as "38", so "per" and
    "cent" were two more query words that only some of the cases hold."""
    from search.text import figures_in_short, terms_of

    assert figures_in_short(typed) == short
    assert terms_of(typed) == terms_of(short)


def test_a_plural_acronym_finds_what_it_stands_for(engine):
    found = engine._variants(["ehcps", "ccgs", "hrs"])
    assert "education health and care plan" in found["ehcps"]
    assert "clinical commissioning group" in found["ccgs"]
    assert found["hrs"] == ["hrs"]  # hours, not human resources


def test_a_council_type_or_region_named_by_its_label_finds_the_cases_tagged_with_it(engine):
    """Kirklees's and Sheffield's text never says Yorkshire, nor Stevenage's that it is a district:
    their organisations' tags do, and a query naming the region or the type finds them by its words."""
    conn = engine.conn
    tagged = lambda column, slug: {r[0] for r in conn.execute(
        f"select c.id from cases c, json_each(c.{column}) j where j.value = ?", [slug])}
    yorkshire = tagged("regions", "yorkshire-and-the-humber")
    assert yorkshire and not {r[0] for r in conn.execute(
        "select c.id from cases_fts f join cases c on c.rowid = f.rowid where cases_fts match 'yorkshire'")}
    assert set(ids(engine.search("councils in Yorkshire", mode="keyword", limit=20))) == yorkshire
    assert set(ids(engine.search("councils in Yorkshire", limit=len(yorkshire)))) == yorkshire
    # "shire districts": the word of the label it shares ("district") is held by every district council's case
    found = set(ids(engine.search("shire districts", mode="keyword", limit=100)))
    assert tagged("council_types", "district-council") <= found
    # another name of a type may be one kind within it: "charity" is Other organisation's, yet a case
    # with a private partner (Capita) does not hold it
    assert "barnet-capita-outsourcing" not in ids(engine.search("charity", mode="keyword", limit=100))
    # a case's lessons hold them by their case's tags too (see tests/test_lesson_reading.py)
    lessons = engine.index("lessons")
    found = ids(engine.search("councils in Yorkshire", target="lessons", mode="keyword", limit=100))
    assert {lessons.links["case_id"][lessons.position[i]] for i in found} == yorkshire


@pytest.mark.parametrize("typed, worded, bounds", [
    ("savings over a million a year", "savings £1m a year", {"£1m": (1e6, None)}),
    ("at least £500,000 saved", "£500k saved", {"£500k": (5e5, None)}),
    ("£10m+ savings", "£10m savings", {"£10m": (1e7, None)}),
    ("£2m or more", "£2m", {"£2m": (2e6, None)}),
    ("under £100k", "£100k", {"£100k": (None, 1e5)}),
    ("up to half a million", "£0.5m", {"£0.5m": (None, 5e5)}),
    ("between £5m and £1m", "£5m", {"£5m": (1e6, 5e6)}),
    ("savings of £2m", "savings of £2m", {}),      # a sum, no bound
    ("over 200 staff", "over 200 staff", {}),      # a bound, no sum
    ('"over £1m"', '"over £1m"', {}),              # in double quotes: to be found as written
])
def test_a_sum_given_as_a_bound_is_read_as_one(typed, worded, bounds):
    from search.text import bounds_of

    assert bounds_of(typed) == (worded, bounds)


def test_a_sum_given_as_a_bound_is_held_by_the_cases_with_a_figure_past_it(engine):
    """"savings over a million a year" asks for any saving of a million or more a year, which no form
    of "£1m" is: a report prints "£2.5 million a year"."""
    conn = engine.conn
    past = {r[0] for r in conn.execute("select case_id from figures where kind = 'saving' and per_year and amount_gbp >= 1000000")}
    assert {"croydon-people-gateway", "adur-worthing-shared-services-single-officer-structure"} <= past
    found = ids(engine.search("savings over a million a year", mode="keyword", limit=100))
    assert set(found[:len(past)]) == past
    # the sum as printed is no longer what is asked for, nor "least" a word of the query
    assert "least" not in engine.search("at least £1m", mode="keyword").results[0].passage_html
    # income named: the income figures count, not the savings
    income = {r[0] for r in conn.execute("select case_id from figures where kind = 'income' and amount_gbp >= 1000000")}
    assert set(ids(engine.search("income over £1m", mode="keyword", limit=100))) >= income
    # the savings range the query asks for, with the count that setting it leaves
    asked = engine.search("savings over a million a year", with_facets=True).savings_asked
    assert asked[:2] == (1000000, None)
    assert asked[2] == engine.search("savings over a million a year", min_savings=1000000).total
    assert engine.search("savings over a million a year", min_savings=1).savings_asked is None
    assert engine.search("savings of £0k or more").savings_asked is None  # asks for nothing


def test_a_closed_word_finds_the_collection_s_hyphenated_form_of_its_stem(engine):
    """Barnet "in-sourced" its waste service; a reader types "insourced" or "insourcing", which only
    Stevenage's case writes closed."""
    conn = engine.conn
    holding = lambda phrase: {r[0] for r in conn.execute(
        "select c.id from cases_fts f join cases c on c.rowid = f.rowid where cases_fts match ?", [phrase])}
    in_sourced, insourcing = holding('"in sourced"'), holding("insourcing")
    assert in_sourced and insourcing and not in_sourced & holding("insourced")
    for typed in ("insourced", "insourcing"):
        assert set(ids(engine.search(typed, mode="keyword", limit=100))) == in_sourced | insourcing


@pytest.mark.parametrize("typed, searched", [
    ("libarys", "library"),                   # two edits as typed; one without its ending
    ("chanel shift", "channel shift"),        # an English word no case holds, where the collection has
    ("pubic health", "public health"),        # the correction beside the query's next word
    ("shered servises", "shared services"),   # beside its neighbour as corrected (a reader's review:
    ("pubic helth", "public health"),         # "shered" had stayed, and no shared-services case was found)
])
def test_slips_in_an_inflected_word_and_slips_that_make_another_word(engine, typed, searched):
    assert engine.speller.correct(typed).query == searched


@pytest.mark.parametrize("query", [
    "chanel",                                 # nothing beside it to say which word was meant
    "contactless ID token",                   # without its ending, still two edits from "contacts"
    "residents complain about bins",          # "complaint" is another form of the word, not a slip
    "what have councils learnt",              # nor "learn"
])
def test_an_english_word_or_a_far_slip_is_left_alone(engine, query):
    assert engine.speller.correct(query).words == []


def test_names_in_capitals_are_found_by_their_acronyms():
    from ingest.acronyms import acronyms_in

    text = ("Staff no longer join the Local Government Pension Scheme. In the Dorset Councils Partnership, "
            "Cheshire West and Chester shares a Joint Committee with Forest of Dean District Council.")
    found = acronyms_in(text)
    assert ("lgps", "local government pension scheme") in found
    assert ("dcp", "dorset councils partnership") in found  # not "In the ...": a sentence's first word
    assert {("cwc", "cheshire west and chester"), ("cwac", "cheshire west and chester")} <= found
    assert ("fdddc", "forest of dean district council") not in found and ("fddc", "forest of dean district council") in found
    assert not any(a == "jc" for a, _ in found)  # two words: too short an acronym to tell apart


def test_an_acronym_the_collection_writes_out_finds_the_name(engine):
    """Buckinghamshire's staff lose the Local Government Pension Scheme and its trust the Dedicated
    Schools Grant: no case writes LGPS or DSG, which an officer types."""
    assert engine.speller.correct("lgps").words == []
    for typed in ("lgps", "LGPS", "dsg"):
        assert ids(engine.search(typed, mode="keyword"))[:1] == ["buckinghamshire-learning-trust-commissioning"]
    # an English word is no acronym unless typed in capitals
    assert engine._variants(["pay"]) == {"pay": ["pay"]}


@pytest.mark.parametrize("typed", ["s151 officer", "S151 officer", "the s.151 officer"])
def test_a_section_of_an_act_as_officers_write_it_finds_it_written_out(engine, typed):
    """The case writes "section 151 officer"; an officer types "s151"."""
    assert ids(engine.search(typed, mode="keyword"))[:1] == ["london-pilot-adult-social-care-turnaround"]


def test_a_region_in_everyday_words_names_it(engine):
    """"the Midlands" is both Midlands regions, "the West Country" the South West, "the home
    counties" the South East and the East: each is offered, and "Midlands", a word of both labels,
    is held by their cases."""
    assert {("regions", "east-midlands"), ("regions", "west-midlands")} <= set(engine.term_matcher.terms_in("councils in the Midlands"))
    assert ("regions", "south-west") in engine.term_matcher.terms_in("West Country leisure")
    assert {("regions", "south-east"), ("regions", "east-of-england")} <= set(engine.term_matcher.terms_in("home counties districts"))
    midlands = {r[0] for r in engine.conn.execute(
        "select c.id from cases c, json_each(c.regions) j where j.value in ('east-midlands', 'west-midlands')")}
    assert midlands and set(ids(engine.search("councils in the Midlands", mode="keyword", limit=100))) == midlands
    assert engine.term_matcher.terms_in("North Tyneside") == []  # "north" alone names no region


@pytest.mark.parametrize("typed, searched", [
    ("what did Barnett do", "what did Barnet do"),        # a name inside a sentence, one edit from a council's
    ("shared legal services with Harow", "shared legal services with Harrow"),  # a name the text writes in capitals
    ("outsourcing in Barnett", "outsourcing in Barnet"),
])
def test_a_misspelt_name_is_corrected_to_a_name_the_collection_has(engine, typed, searched):
    assert engine.speller.correct(typed).query == searched


def test_a_word_held_by_tags_is_as_common_in_a_text_that_writes_it(engine):
    """"unitary authorities in the south east": Greenwich Leisure's text writes "South East" (its
    centres there), a pair only two texts write, so its BM25 put it above all five unitary
    authorities tagged with the region, which hold the pair by their tags at the rarity of the
    fourteen cases holding it either way. A text that writes a word its tags would hold now scores
    it at that rarity too."""
    found = ids(engine.search("unitary authorities in the south east", mode="keyword", limit=10))
    tagged = {i for i in ids(engine.search("", mode="keyword", filters={"regions": ["south-east"], "council_types": ["unitary-authority"]}, limit=100))}
    assert len(tagged) >= 4 and "greenwich-leisure-mutual-leisure-centres" not in tagged
    assert set(found[:len(tagged)]) == tagged, found


def test_a_misspelt_name_opening_a_query_is_corrected_to_the_organisation(engine):
    """A reader's review: "Barnett" alone found no Barnet case and offered no correction, while
    "what did Barnett do" was corrected: a capital opening the query was taken for a sentence's, and
    "barnett" is an English word (a surname). A name near no organisation's is left alone."""
    assert engine.speller.correct("Barnett").words == [("Barnett", "Barnet")]
    assert engine.speller.correct("Barnett outsourcing").words == [("Barnett", "Barnet")]
    assert engine.speller.correct("John Lewis-style spin-off").words == []  # "join" is in a title, not a name
    found = engine.search("Barnett", limit=3)
    assert all(r.id.startswith("barnet-") for r in found.results)


@pytest.mark.parametrize("typed", [
    "Dear Officer, how have other councils kept leisure centres open?",  # not the Forest of Dean
    "Hi all, which councils share a chief executive?\n\nThanks,\nOwen",  # not "own", a title's word
    "Thanks Owen",
])
def test_a_pasted_email_s_greeting_and_sign_off_are_left_as_typed(engine, typed):
    """Twelfth review: an email pasted whole had its greeting "corrected" to an organisation's name
    ("Dear": Dean, the 3,408th commonest English word) and its sign-off to a word a title writes in
    lower case ("Owen": own), and the page said it had searched for them."""
    assert engine.speller.correct(typed).words == []


def test_a_query_the_engine_refuses_is_one_line_on_the_command_line(corpus_db):
    """A data user's review: `kb similar no-such-case` printed Click's usage lines before the error,
    and `kb similar -` exited 0 when a line's case was unknown."""
    from click.testing import CliRunner

    from kb.cli import cli

    result = CliRunner().invoke(cli, ["similar", "no-such-case", "--db", str(corpus_db)])
    assert result.exit_code == 2 and result.output.strip() == "Error: unknown case id 'no-such-case'"
    result = CliRunner().invoke(cli, ["similar", "-", "--db", str(corpus_db)], input="nope\nbrighton-hove-reablement\n")
    assert result.exit_code == 1 and '"error": "unknown case id \'nope\'"' in result.output
    assert result.output.count("\n") == 2  # the second line answered all the same
