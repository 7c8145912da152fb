"""A query's ranking is kept: a facet click, a page turn or another sort of the same query ranks
nothing again, and gives what a fresh engine gives; two requests for one query at once rank it once."""
import threading

import numpy as np
import pytest

import search.engine as engine_module
from search.engine import Engine

QUERY = "shared services between district councils"
FILTERS = {"council_types": ["district-council"]}


def answer(found):
    return ([(r.id, r.score, r.close, r.passage) for r in found.results], found.total, found.close_total,
            found.facet_counts)


@pytest.fixture
def counted(corpus_db, monkeypatch):
    engine = Engine(corpus_db)
    calls = []
    rank = Engine.rank

    def counting(self, *args, **kwargs):
        calls.append(args[1])
        return rank(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "rank", counting)
    yield engine, calls
    engine.conn.close()


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "semantic"])
def test_a_facet_click_a_page_turn_and_another_sort_rank_nothing_again(counted, corpus_db, mode):
    engine, calls = counted
    asks = [dict(), dict(filters=FILTERS), dict(offset=5, limit=5), dict(sort="saving"), dict(min_savings=100000),
            dict(filters=FILTERS, offset=2, limit=3)]
    found = [answer(engine.search(QUERY, mode=mode, with_facets=True, **ask)) for ask in asks]
    assert calls == [QUERY]
    fresh = Engine(corpus_db)
    try:
        assert found == [answer(fresh.search(QUERY, mode=mode, with_facets=True, **ask)) for ask in asks]
    finally:
        fresh.conn.close()


def test_each_query_mode_and_collection_is_ranked_on_its_own(counted):
    engine, calls = counted
    for query, mode, target in [(QUERY, "hybrid", "cases"), (QUERY, "keyword", "cases"), (QUERY, "hybrid", "lessons"),
                                ("leisure trust", "hybrid", "cases"), (QUERY, "hybrid", "cases")]:
        engine.search(query, mode=mode, target=target)
    assert len(calls) == 4  # the last is the first again


def test_a_kept_ranking_cannot_be_changed_by_a_request(counted):
    engine, _ = counted
    engine.search(QUERY)
    (ranking,) = engine._rankings.values()
    with pytest.raises(ValueError):
        ranking.scores[0] = 1.0
    with pytest.raises(ValueError):
        ranking.members[:] = True


def test_rankings_are_let_go_oldest_first_past_their_bytes(counted, monkeypatch):
    engine, calls = counted
    engine.search(QUERY)
    one = engine._ranking_bytes
    assert one > 0
    monkeypatch.setattr(engine_module, "RANKINGS_KEPT_BYTES", int(2.5 * one))
    for query in ("leisure trust", "reablement for older people", "channel shift to online forms"):
        engine.search(query)
    assert len(engine._rankings) == 2 and QUERY not in {key[2] for key in engine._rankings}
    assert engine._ranking_bytes == sum(a.nbytes for r in engine._rankings.values() for a in engine_module._arrays_of(r))
    engine.search(QUERY)
    assert calls.count(QUERY) == 2  # let go, so ranked again


def test_two_requests_for_one_query_at_once_rank_it_once(corpus_db, monkeypatch):
    """A facet click arriving while its page is being ranked (as under load) waits for that ranking."""
    engine = Engine(corpus_db)
    started, release = threading.Event(), threading.Event()
    calls = []
    rank = Engine.rank

    def slow(self, *args, **kwargs):
        calls.append(args[1])
        started.set()
        release.wait(10)
        return rank(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "rank", slow)
    out = {}
    first = threading.Thread(target=lambda: out.setdefault("page", answer(engine.search(QUERY, with_facets=True))))
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=lambda: out.setdefault(
        "click", answer(engine.search(QUERY, filters=FILTERS, with_facets=True))))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # waiting for the first, not ranking beside it
    release.set()
    first.join(10)
    second.join(10)
    assert calls == [QUERY]
    monkeypatch.setattr(Engine, "rank", rank)
    fresh = Engine(corpus_db)
    try:
        assert out["click"] == answer(fresh.search(QUERY, filters=FILTERS, with_facets=True))
    finally:
        fresh.conn.close()
        engine.conn.close()


def test_a_ranking_that_fails_is_not_kept_and_its_waiters_rank_it_themselves(corpus_db, monkeypatch):
    engine = Engine(corpus_db)
    rank = Engine.rank
    failures = [MemoryError("once")]

    def failing(self, *args, **kwargs):
        if failures:
            raise failures.pop()
        return rank(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "rank", failing)
    with pytest.raises(MemoryError):
        engine.search(QUERY)
    assert not engine._rankings and not engine._ranking_now
    assert engine.search(QUERY).total > 0
    assert np.isfinite(next(iter(engine._rankings.values())).scores).any()
    engine.conn.close()
