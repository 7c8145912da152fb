"""Keyword scores from the stored postings (search/postings.py) are FTS5's bm25() to the last bit,
word by word and for whole queries, so ranking does not depend on which of the two computed them."""
import copy
import re

import numpy as np
import pytest

import search.postings as postings_module
from search.engine import Engine
from search.response import QueryError
from search.scoring import best_first
from search.evaluate import LESSON_QUERIES_FILE, load_queries
from search.text import phrases_of, terms_of

from .conftest import altered_copy

QUERIES = [q["query"] for q in load_queries()] + [q["query"] for q in load_queries(LESSON_QUERIES_FILE)]
ODD = ["3.5", "£5m", "e_mail", "50%", "council's", "naïve", "x", "2014", "café"]


def _phrases(engine, target):
    """Words and word pairs of the queries and titles, the vocabulary's names, and odd tokens."""
    titles = [r[0] for r in engine.conn.execute(f"select title from {target}")]
    texts = QUERIES + titles
    words = {w for text in texts for w in re.findall(r"[\w£%]+(?:[.,]\d+)?", text.lower())}
    pairs = {p for text in texts for p in phrases_of(text)}
    names = set(engine._expansion([(v, slug) for v, vocab in engine.vocabularies.items() for slug in vocab.terms]))
    return sorted(words) + sorted(pairs) + sorted(names) + ODD


@pytest.mark.parametrize("target", ["cases", "lessons"])
def test_postings_give_fts5_bm25_for_words_and_phrases(engine, target):
    col = engine.index(target)
    assert col.postings is not None
    compared = {1: 0, 2: 0, 3: 0}
    for text in _phrases(engine, target):
        phrase = '"' + text.replace('"', "") + '"'
        rows = np.array(engine.conn.execute(f"select rowid, -bm25({col.fts}, {col.weights}) from {col.fts} "
                                            f"where {col.fts} match ? order by rowid", [phrase]).fetchall()).reshape(-1, 2)
        tokens = engine._tokens(phrase)
        rowids, values = col.postings.bm25(tokens)
        assert rowids.tolist() == rows[:, 0].astype(int).tolist(), text
        assert values.tolist() == rows[:, 1].tolist(), text  # equal, not close
        compared[min(len(tokens), 3)] += len(rowids)
    # many documents matched by single words, by pairs and by longer phrases ("3.5" is two tokens)
    assert compared[1] > 2000 and compared[2] > 100 and compared[3] > 10, compared


class _WithoutBlobs:
    """A connection as Python 3.10's sqlite3 gives it: no incremental blob I/O."""

    def __init__(self, conn):
        self.execute = conn.execute


# every row read whole; each candidate's offsets read alone; without blob I/O (Python 3.10)
@pytest.mark.parametrize("reads", [0, 10**6, None])
@pytest.mark.parametrize("target", ["cases", "lessons"])
def test_a_longer_phrase_is_looked_for_where_its_pairs_meet_and_found_as_fts5_finds_it(engine, target, reads,
                                                                                     monkeypatch):
    """A phrase of three words or more is looked for only in the documents holding each two
    neighbouring words side by side, reading only their offsets: the same rows and numbers as
    FTS5's, and as its words' offsets everywhere give."""
    col = engine.index(target)
    col.postings.forget()  # each way of reading starts with nothing kept
    if reads is None:
        monkeypatch.setattr(col.postings, "conn", _WithoutBlobs(col.postings.conn))
    else:
        monkeypatch.setattr(postings_module, "BLOB_READS", reads)
    by_offsets = copy.copy(col.postings)
    by_offsets.pairs = False
    column = "title" if target == "cases" else "text"
    texts = [r[0] for r in engine.conn.execute(f"select {column} from {target} order by rowid limit 300")]
    runs = {" ".join(words[i:i + n]) for words in (re.findall(r"[a-z]+", t.lower()) for t in texts)
            for n in (3, 4, 6) for i in range(0, max(len(words) - n, 0), 5)}
    found = 0
    for text in sorted(runs) + ["adult social care", "outcome based budgeting", "value for money"]:
        phrase = '"' + text + '"'
        rows = np.array(engine.conn.execute(f"select rowid, -bm25({col.fts}, {col.weights}) from {col.fts} "
                                            f"where {col.fts} match ? order by rowid", [phrase]).fetchall()).reshape(-1, 2)
        tokens = engine._tokens(phrase)
        assert len(tokens) >= 3
        rowids, values = col.postings.bm25(tokens)
        assert rowids.tolist() == rows[:, 0].astype(int).tolist(), text
        assert values.tolist() == rows[:, 1].tolist(), text
        again = by_offsets.bm25(tokens)
        assert again[0].tolist() == rowids.tolist() and again[1].tolist() == values.tolist(), text
        found += len(rowids) > 0
    assert found > 100, found


def test_phrases_tokenized_together_are_each_tokenized_alone(engine):
    """A query's phrases go through the tokenizer in one pass (KeywordSide._tokens_of); each comes
    back with its own tokens in order, as if it had been tokenized alone."""
    phrases = ['"' + t.replace('"', "") + '"' for t in _phrases(engine, "cases")]
    engine._phrase_tokens.clear()
    together = engine._tokens_of(phrases + phrases[:5])  # a phrase twice is read once
    alone = {}
    for phrase in phrases:
        engine._phrase_tokens.clear()
        alone[phrase] = engine._tokens(phrase)
    assert together == alone
    assert sum(len(t) > 1 for t in alone.values()) > 100  # pairs and longer phrases among them


@pytest.mark.parametrize("target", ["cases", "lessons"])
def test_keyword_scores_are_the_same_with_or_without_postings(corpus_db, target):
    with_postings, without = Engine(corpus_db), Engine(corpus_db)
    without.index(target).postings = None
    for query in QUERIES:
        named = with_postings.term_matcher.terms_in(query)
        args = (terms_of(query), phrases_of(query), with_postings._expansion(named))
        a = with_postings.keyword_scores(with_postings.index(target), *args)
        b = without.keyword_scores(without.index(target), *args)
        assert np.array_equal(a[0], b[0], equal_nan=True) and np.array_equal(a[1], b[1]) and a[2:] == b[2:], query


@pytest.mark.parametrize("target", ["cases", "lessons"])
def test_a_pair_read_whole_is_what_its_words_offsets_give(engine, target):
    """pair_postings (a two-word phrase read as one row) against the phrase found from its words'
    offsets, as for a longer phrase: the same rows and the same numbers."""
    col = engine.index(target)
    assert col.postings.pairs
    by_offsets = copy.copy(col.postings)
    by_offsets.pairs = False
    compared = 0
    for text in _phrases(engine, target):
        tokens = engine._tokens('"' + text.replace('"', "") + '"')
        if len(tokens) == 2:
            a, b = col.postings.bm25(tokens), by_offsets.bm25(tokens)
            assert a[0].tolist() == b[0].tolist() and a[1].tolist() == b[1].tolist(), text
            compared += len(a[0])
    assert compared > 100


def test_a_database_without_pair_postings_finds_pairs_from_offsets(corpus_db, tmp_path):
    engine, current = Engine(altered_copy(corpus_db, tmp_path, "drop table pair_postings")), Engine(corpus_db)
    assert not engine.index("cases").postings.pairs and current.index("cases").postings.pairs
    for query in QUERIES[:40]:
        a, b = engine.search(query, mode="keyword", limit=20), current.search(query, mode="keyword", limit=20)
        assert [(r.id, r.score) for r in a.results] == [(r.id, r.score) for r in b.results] and a.total == b.total, query


def test_a_database_without_postings_is_searched_through_fts5(corpus_db, tmp_path):
    old = altered_copy(corpus_db, tmp_path, "drop table term_postings", "drop table document_lengths")
    engine, current = Engine(old), Engine(corpus_db)
    assert engine.index("cases").postings is None
    a = engine.search("shared back office services", mode="keyword", limit=20)
    b = current.search("shared back office services", mode="keyword", limit=20)
    assert [r.id for r in a.results] == [r.id for r in b.results] and a.total == b.total
    assert [r.score for r in a.results] == [r.score for r in b.results]


def test_a_database_without_the_float16_copy_centres_on_the_mean_vectors_it_holds(corpus_db, tmp_path):
    engine, current = Engine(altered_copy(corpus_db, tmp_path, "drop table vector_blocks")), Engine(corpus_db)
    old, new = engine.index("cases"), current.index("cases")
    assert np.allclose(old.centroid, new.doc_vectors.astype(np.float64).mean(axis=0), atol=1e-6)
    assert np.allclose(old.centroid, new.centroid, atol=1e-3)  # the build's float16 copy, rounded
    assert old.passage_hub.shape == new.passage_hub.shape and np.abs(old.passage_hub).max() > 0
    a = engine.search("shared back office services", limit=10)
    b = current.search("shared back office services", limit=10)
    assert [r.id for r in a.results][:5] == [r.id for r in b.results][:5]


def test_vectors_and_mean_vectors_load_as_stored(corpus_db):
    """The engine's vectors are the stored float32 ones, and its mean vectors are np.add.reduceat's to
    the bit (it computes them another, faster way)."""
    import sqlite3

    from search.index import _segment_sums

    engine = Engine(corpus_db)
    stored = dict(sqlite3.connect(corpus_db).execute("select rowid, vector from chunks"))
    for target in ("cases", "lessons"):
        col = engine.index(target)
        assert len(col.vectors) == len(col.chunk_rowid) > 100
        for row, rowid in zip(col.vectors, col.chunk_rowid):
            assert row.tobytes() == stored[int(rowid)]
        reduced = np.add.reduceat(col.vectors, col.chunk_start, axis=0, dtype=np.float32)
        assert np.array_equal(_segment_sums(col.vectors, col.chunk_start), reduced)
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((46000, 4)).astype(np.float32)
    # segments of every length up to past numpy's pairwise block (128) and its recursion
    starts = np.r_[0, np.cumsum(np.arange(1, 300))][:-1]
    starts = starts[starts < 46000]
    assert np.array_equal(_segment_sums(vectors, starts), np.add.reduceat(vectors, starts, axis=0, dtype=np.float32))
    half = vectors.astype(np.float16)
    assert np.array_equal(_segment_sums(half, starts), np.add.reduceat(half, starts, axis=0, dtype=np.float32))


def test_the_first_few_are_the_first_few_of_the_full_order():
    rng = np.random.default_rng(9)
    for n in (0, 1, 5, 50, 400):
        scores = rng.integers(0, 6, n).astype(float)  # many ties
        scores[rng.random(n) < 0.2] = np.nan
        full = best_first(scores)
        assert full.tolist() == [int(i) for i in sorted(np.flatnonzero(~np.isnan(scores)), key=lambda i: (-scores[i], i))]
        for first in (1, 3, 10, 100, 1000):
            assert best_first(scores, first).tolist() == full[:first].tolist()


def test_the_first_page_is_the_first_page_of_the_full_sort(engine):
    """_sorted finds the first few without sorting every result: the same as sorting all of them."""
    from types import SimpleNamespace

    from search.scoring import Ranking

    rng = np.random.default_rng(4)
    n = 3000
    col = SimpleNamespace(savings=rng.choice([np.nan, 1e5, 2e5, 5e5], n), years=rng.choice([np.nan, 2010, 2015], n))
    scores = rng.integers(0, 40, n).astype(float)
    scores[rng.random(n) < 0.3] = np.nan
    close = np.zeros(n, bool)
    close[rng.choice(n, 4, replace=False)] = True
    ranking = Ranking(scores, np.ones(n, bool), close, scores, scores)
    shown = np.flatnonzero(rng.random(n) < 0.7)
    for sort in ("relevance", "saving", "year"):
        full = engine._sorted(col, shown, ranking, sort)
        for first in (1, 10, 20, 60):
            assert engine._sorted(col, shown, ranking, sort, first).tolist() == full[:first].tolist()


def test_a_large_collection_s_compiled_loop_ranks_as_numpy_does(corpus_db, monkeypatch):
    """The compiled loop a large collection's passages go through (search/kernels.py) gives the
    rankings the numpy steps give, scores to the bit."""
    import search.kernels as kernels

    queries = QUERIES[::6]
    small = Engine(corpus_db)
    expected = [small.search(q, limit=20) for q in queries]
    monkeypatch.setattr(kernels, "COMPILED_FROM", 0)
    large = Engine(corpus_db)
    for query, before in zip(queries, expected):
        after = large.search(query, limit=20)
        assert [(r.id, r.score, r.close) for r in after.results] == [(r.id, r.score, r.close) for r in before.results], query
        assert after.total == before.total


def test_an_index_where_no_two_words_stand_side_by_side_has_no_pairs():
    """Rows of one word a column (a lesson of one-word fields, a patched row's scratch index) hold
    words but no pairs: the pairs are none, not an error."""
    import sqlite3

    from ingest.postings import _write

    conn = sqlite3.connect(":memory:")
    conn.execute("create virtual table t_fts using fts5(a, b, tokenize='porter')")
    conn.executemany("insert into t_fts(rowid, a, b) values (?, ?, ?)", [(1, "care", "homes"), (2, "council", ""), (3, "", "care")])
    conn.execute("create table term_postings (collection text, term text, docs blob, counts blob, offsets blob)")
    conn.execute("create table pair_postings (collection text, pair text, docs blob, counts blob)")
    conn.execute("create table document_lengths (collection text, documents integer, tokens integer, lengths blob)")
    _write(conn, "t", "t_fts", ["a", "b"])
    assert [r[0] for r in conn.execute("select term from term_postings order by term")] == ["care", "council", "home"]
    assert conn.execute("select count(*) from pair_postings").fetchone()[0] == 0


def test_the_vocabularys_names_are_kept_apart_from_the_queries_words(engine, monkeypatch):
    """A query naming a term searches the term's every name (its expansion): those are kept apart, so
    that the next query naming it reads none of them again, however many words other queries
    searched in between; and what they are kept as is what reading them gives."""
    from search import keyword
    from search.kept import Kept

    monkeypatch.setattr(engine, "_phrases", Kept(1))  # the queries' own words pushed out at once
    monkeypatch.setattr(engine, "_name_phrases", Kept(keyword.NAME_PHRASES_KEPT_BYTES))
    monkeypatch.setattr(engine, "_rankings", {})
    read: list[str] = []
    reading = Engine._phrase_read

    def recorded(self, col, phrase):
        read.append(phrase)
        return reading(self, col, phrase)
    monkeypatch.setattr(Engine, "_phrase_read", recorded)
    col = engine.index("cases")
    named = engine.term_matcher.terms_in("bin collections")
    names = {'"' + n.replace('"', "") + '"' for n in engine._expansion(named)}
    assert len(names) >= 5
    first = engine.search("bin collections", mode="keyword")
    assert names <= set(read)
    for query in QUERIES[:20]:  # other queries' words in between
        engine.search(query, mode="keyword")
    read.clear(), engine._rankings.clear()
    again = engine.search("bin collections", mode="keyword")
    assert not names & set(read) and read  # the query's own words read again, none of the names
    assert [r.id for r in again.results] == [r.id for r in first.results]
    for name in names:
        kept, fresh = engine._phrase(col, name), reading(engine, col, name)
        assert kept[0].tolist() == fresh[0].tolist() and kept[1].tolist() == fresh[1].tolist()


def test_a_database_indexing_other_columns_is_refused_with_what_to_do(corpus_db, tmp_path):
    """A kb.db an older version built, whose lessons' full-text index has a column fewer than this
    version declares: search says to build again, rather than reading it column for wrong column
    (or failing inside its postings, whose counts are read a declared column each)."""
    old = altered_copy(corpus_db, tmp_path, "drop table lessons_fts",
                       "create virtual table lessons_fts using fts5(title, theme, text, tokenize='porter')")
    engine = Engine(old)
    assert engine.search("shared services", target="cases").results  # cases are as declared
    with pytest.raises(QueryError, match=r"lessons_fts indexes title, theme, text; this version indexes "
                                         r"title, theme, text, questions.*run `kb build` again"):
        engine.search("shared services", target="lessons")
