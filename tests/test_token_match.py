"""Lesson search re-ranks its best few word by word (search/token_match.py) from word vectors the
build writes (ingest/tokens.py): which words count, what the build keeps and works out again, and
what the re-ranking may change."""
import hashlib
import sqlite3

import numpy as np
import pytest

import search.engine as engine_module
from ingest.build import build
from ingest.tokens import quantised
from kb.embedding import TOKEN_VECTORS
from search.engine import Engine
from search.token_match import content
from search.text import sentences_of, statement_of
from tests.conftest import HashEmbedder


def test_a_word_s_pieces_count_together_and_function_words_not_at_all():
    tokens = ["how", "have", "councils", "cut", "avoid", "##able", "repeat", "calls", "?", "in", "-", "house", "3", "##m"]
    assert [tokens[k] for k in content(tokens)] == ["councils", "cut", "avoid", "##able", "repeat", "calls", "house", "3", "##m"]
    assert content([]) == [] and content(["the", "of", "."]) == []


def test_stored_codes_keep_each_cosine_within_a_hundredth():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(50, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scales, codes = quantised(vectors)
    back = np.frombuffer(codes, np.int8).reshape(50, 384) * np.frombuffer(scales, np.float32)[:, None]
    back /= np.linalg.norm(back, axis=1, keepdims=True)
    assert np.abs(back @ vectors.T - vectors @ vectors.T).max() < 0.01


class WordEmbedder(HashEmbedder):
    """The stand-in with word pieces: each word of the text a token, its vector from a hash of the word."""

    def __init__(self):
        super().__init__()
        self.worked_out = 0

    def token_vectors(self, texts):
        self.worked_out += len(texts)
        out = []
        for text in texts:
            tokens = text.lower().split()
            out.append((np.vstack([super(WordEmbedder, self).encode([t])[0] for t in tokens]), tokens))
        return out


def _rows(db):
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute(f"select content_hash, tokens from {TOKEN_VECTORS}").fetchall()), dict(
            conn.execute("select content_hash, kind from chunks").fetchall())
    finally:
        conn.close()


def test_the_build_writes_each_lesson_s_first_passage_and_works_out_only_what_changed(small_root, tmp_path):
    out = tmp_path / "kb.db"
    embedder = WordEmbedder()
    build(small_root, out, progress=False, embedder=embedder)
    rows, kinds = _rows(out)
    assert rows and {kinds[h] for h in rows} <= {"lesson", "finding"}
    assert len(rows) == sum(1 for k in kinds.values() if k in ("lesson", "finding")) == embedder.worked_out
    conn = sqlite3.connect(out)
    text = conn.execute("select text from chunks where kind = 'lesson' limit 1").fetchone()[0]
    conn.close()
    assert rows[hashlib.sha256(text.encode()).hexdigest()] == " ".join(text.lower().split())

    case = small_root / "cases" / "brighton-hove-reablement.md"
    case.write_text(case.read_text().replace("Pilot first, then scale", "Pilot first and then scale"))
    again = WordEmbedder()
    build(small_root, out, progress=False, embedder=again)
    changed, kinds = _rows(out)
    assert again.worked_out == 1  # the lesson read with its case's title; the other passages kept
    assert len(changed) == len(rows) and set(changed) - set(rows) and set(changed) <= set(kinds)


def test_a_model_without_word_pieces_writes_none_and_lesson_search_goes_without(small_root, tmp_path):
    out = tmp_path / "kb.db"
    build(small_root, out, progress=False, embedder=HashEmbedder())
    assert _rows(out)[0] == {}
    engine = Engine(out, embedder=HashEmbedder())
    found = engine.search("pilot first then scale up", target="lessons", limit=5)
    assert found.results and engine._token_matchers["lessons"] is None


QUESTION = "What did councils learn from handing libraries over to community groups?"
SITUATION = ("Our finance team hands each directorate a savings figure from the top down, and every year a "
             "large share slips into the following year. Heads of service say the targets were never theirs.")
KEYWORDS = "reablement staff culture"


@pytest.mark.model
def test_the_re_ranking_moves_only_the_best_few_and_leaves_questions_alone(model_corpus_db, monkeypatch):
    assert statement_of(QUESTION) is not None and statement_of(SITUATION) is None

    def ranking(query):
        engine = Engine(model_corpus_db)
        col = engine.index("lessons")
        return engine.rank(col, query, engine._grouped(query, engine_module.terms_of(query, engine._in_capitals)), "hybrid")

    with_words = {q: ranking(q) for q in (QUESTION, SITUATION, KEYWORDS)}
    monkeypatch.setattr(engine_module, "TOKEN_MATCH", {"cases": 0.0, "lessons": 0.0})
    without = {q: ranking(q) for q in (QUESTION, SITUATION, KEYWORDS)}
    np.testing.assert_array_equal(with_words[QUESTION].scores, without[QUESTION].scores)
    moved = 0
    for query in (SITUATION, KEYWORDS):
        a, b = with_words[query], without[query]
        np.testing.assert_array_equal(a.members, b.members)
        top = engine_module.best_first(b.scores, engine_module.TOKEN_MATCH_DOCS)
        rest = np.setdiff1d(np.flatnonzero(b.members), top)
        np.testing.assert_array_equal(a.scores[rest], b.scores[rest])
        moved += not np.array_equal(np.argsort(-a.scores[top]), np.argsort(-b.scores[top]))
    assert moved  # the re-ranking changed an order: it is not inert


def test_a_query_scores_each_lesson_by_its_words_best_matches_weighted_by_rarity():
    from search.kept import Kept
    from search.token_match import TokenMatcher

    rng = np.random.default_rng(3)
    unit = lambda n: (lambda v: v / np.linalg.norm(v, axis=1, keepdims=True))(rng.normal(size=(n, 16)).astype(np.float32))
    matcher = TokenMatcher.__new__(TokenMatcher)
    matcher.documents, matcher.counts, matcher.kept = 10, {"cut": 9, "calls": 1}, Kept(2**20)
    lessons = {0: unit(5), 1: unit(1), 2: unit(7)}
    for doc, matrix in lessons.items():
        matcher.kept.put(doc, matrix, matrix.nbytes)
    matcher.kept.put(3, np.zeros((0, 16), np.float32), 0)  # a lesson with no content word
    query = unit(4)
    tokens = ["the", "cut", "repeat", "calls"]  # "the" is a function word: left out
    found = matcher.scores((query, tokens), np.array([2, 0, 3, 1]))
    weights = matcher.rarity(["cut", "repeat", "calls"])
    assert weights[0] < weights[2] < weights[1]  # in 9 of the 10, in 1, in none
    expected = [float(weights @ (query[1:] @ lessons[d].T).max(axis=1) / weights.sum()) for d in (2, 0)]
    np.testing.assert_allclose(found[[0, 1]], expected, rtol=1e-5)
    assert np.isnan(found[2]) and found[3] == pytest.approx(float(weights @ (query[1:] @ lessons[1].T).max(axis=1) / weights.sum()), rel=1e-5)
    assert matcher.scores((query[:1], ["the"]), np.array([0])) is None


@pytest.mark.model
def test_a_paragraph_s_words_are_read_sentence_by_sentence_from_the_passes_that_embed_them(model_corpus_db):
    engine = Engine(model_corpus_db)
    engine.search(SITUATION, target="lessons", limit=5)
    calls = []
    real = engine.embedder.token_vectors
    engine.embedder.token_vectors = lambda texts: calls.append(texts) or real(texts)
    try:
        vectors, tokens = engine.query_words(SITUATION)
        alone = real(sentences_of(SITUATION))
    finally:
        engine.embedder.token_vectors = real
    assert tokens == [t for _, words in alone for t in words]
    np.testing.assert_allclose(vectors, np.vstack([v for v, _ in alone]), atol=1e-4)
    if engine.embedder.backend == "onnx":  # kept from the search's own passes: nothing embedded again
        assert calls == []


def test_lesson_search_re_ranks_with_a_model_that_has_word_vectors_and_goes_without_one_that_has_none(small_root, tmp_path):
    out = tmp_path / "kb.db"
    build(small_root, out, progress=False, embedder=WordEmbedder())
    query = "pilot first then scale up across the whole service"
    with_words = Engine(out, embedder=WordEmbedder())
    found = with_words.search(query, target="lessons", limit=5)
    assert found.results and with_words._token_matchers["lessons"] is not None
    without = Engine(out, embedder=HashEmbedder())  # the same vectors, but no word vectors for the query
    assert [r.id for r in without.search(query, target="lessons", limit=5).results]
