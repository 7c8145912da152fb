"""A search running alone uses the machine's other cores; searches running together keep to one
each; either way the answers are the same."""
import threading
import time

import numpy as np
import pytest

import search.engine as engine_module
import search.scan as scan_module
import search.semantic as semantic_module
from search.engine import Engine
from search.text import sentences_of

QUERIES = ["shared services with a neighbouring district", "bin collections", "How did councils keep "
           "libraries open? We have two branches to run. Our budget is cut by a third next year."]


def answers(engine, query, mode="hybrid", target="cases"):
    found = engine.search(query, mode=mode, target=target, limit=20, with_facets=True)
    return ([(r.id, r.score, r.close, r.passage) for r in found.results], found.total, found.facet_counts)


@pytest.fixture
def engines(corpus_db, monkeypatch):
    """An engine that may use two cores and one that keeps to one."""
    monkeypatch.setattr(engine_module, "CORES", 2)
    spread = Engine(corpus_db)
    monkeypatch.setattr(engine_module, "CORES", 1)
    single = Engine(corpus_db)
    monkeypatch.setattr(engine_module, "CORES", 2)
    return spread, single


def scans(monkeypatch) -> list[int]:
    """The number of threads each passage scan was given."""
    given: list[int] = []
    scan = Engine._scan

    def recorded(matrix, qv, scales=None, threads=1, sums=None):
        given.append(threads)
        return scan(matrix, qv, scales, threads, sums)

    monkeypatch.setattr(Engine, "_scan", staticmethod(recorded))
    return given


def embedding_threads(engine) -> list[str]:
    """The name of the thread each embedding call ran on."""
    names: list[str] = []
    encode = engine.embedder.encode

    def recorded(texts, *args, **kwargs):
        names.append(threading.current_thread().name)
        return encode(texts, *args, **kwargs)

    engine.embedder.encode = recorded
    return names


@pytest.mark.parametrize("target", ["cases", "lessons"])
@pytest.mark.parametrize("mode", ["hybrid", "semantic", "keyword"])
def test_the_answers_do_not_depend_on_the_cores(engines, mode, target):
    spread, single = engines
    for query in QUERIES:
        assert answers(spread, query, mode, target) == answers(single, query, mode, target), query


def shared_blocks(monkeypatch, block: int = 64, helper_pause: float = 0.0) -> list[str]:
    """The thread each block of a shared scan ran on (blocks of `block` rows, so that the small
    corpus has several; the helper pauses after each, so that this thread can join in)."""
    names: list[str] = []
    scan = scan_module.scan

    def recorded(*args, **kwargs):
        name = threading.current_thread().name
        names.append(name)
        if helper_pause and name.startswith("kb-embed"):
            threading.Event().wait(helper_pause)
        return scan(*args, **kwargs)

    monkeypatch.setattr(scan_module, "BLOCK", block)
    monkeypatch.setattr(scan_module, "scan", recorded)
    return names


def test_a_search_alone_embeds_beside_the_keyword_side_and_scans_on_every_core(engines, monkeypatch):
    spread, _ = engines
    given = scans(monkeypatch)
    blocks = shared_blocks(monkeypatch)
    threads = embedding_threads(spread)
    spread.search("councils sharing a chief executive", mode="hybrid")
    assert threads and threads[0].startswith("kb-embed")  # the helper starts at once
    # both cores: one scan on two threads once the keyword side is done, or blocks both threads take
    assert (given or blocks) and set(given) <= {2}


@pytest.mark.parametrize("target", ["cases", "lessons"])
def test_the_helper_scans_beside_a_slow_keyword_side_and_this_thread_joins_it(engines, monkeypatch, target):
    """A helper that has the query's vectors while the keyword side still runs scans the passages
    in blocks; this thread takes the blocks left once it is done. The answers are the same."""
    spread, single = engines
    blocks = shared_blocks(monkeypatch, helper_pause=0.02)
    keyword_scores = Engine.keyword_scores

    def slow(self, *args, **kwargs):
        deadline = threading.Event()
        for _ in range(250):  # until the helper has scanned a block (5 s at most)
            if any(name.startswith("kb-embed") for name in blocks):
                break
            deadline.wait(0.02)
        return keyword_scores(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "keyword_scores", slow)
    query = "councils sharing a chief executive and a management team"
    found = answers(spread, query, "hybrid", target)
    assert blocks and blocks[0].startswith("kb-embed")
    assert any(not name.startswith("kb-embed") for name in blocks)  # this thread took some
    assert found == answers(single, query, "hybrid", target)


@pytest.mark.parametrize("mode", ["hybrid", "semantic"])
def test_a_paragraph_s_readings_are_shared_between_both_cores(engines, mode, monkeypatch):
    """The helper takes the longest reading first; this thread, its own work done, takes the next
    ones while the helper is busy, one reading a call."""
    spread, _ = engines
    calls: list[tuple[str, list[str]]] = []
    encode = spread.embedder.encode
    started, here_took_two = threading.Event(), threading.Event()

    def slow(texts, *args, **kwargs):
        name = threading.current_thread().name
        calls.append((name, list(texts)))
        if not name.startswith("kb-embed") and sum(not n.startswith("kb-embed") for n, _ in calls) >= 2:
            here_took_two.set()
        if name.startswith("kb-embed") and not started.is_set():
            started.set()
            # the helper stays busy with its first reading until this thread has taken two (not for a
            # fixed time: a loaded machine's first keyword search can outlast any pause), 10 s at most
            here_took_two.wait(10)
        return encode(texts, *args, **kwargs)

    monkeypatch.setattr(spread.embedder, "encode", slow)
    query = ("Our contact centre has separate teams for every service. Callers are passed between them "
             "and wait too long. We want one front door for residents without losing specialist advice.")
    spread.search(query, mode=mode)
    helper = [texts for name, texts in calls if name.startswith("kb-embed")]
    here = [texts for name, texts in calls if not name.startswith("kb-embed")]
    assert all(len(texts) == 1 for _, texts in calls)
    every = [t for _, texts in calls for t in texts]
    # each reading embedded once: its sentences (the paragraph's vector is worked out from theirs, and
    # the labels of the terms it names were embedded by the build)
    assert len(every) == len(set(every)) and set(every) == set(sentences_of(query))
    assert helper[0] == [max(every, key=len)] and len(here) >= 2  # the longest there, the sentences here


def test_a_search_alone_finds_every_other_reading_s_best_passages_on_the_helper(engines, monkeypatch):
    """A paragraph is read several times (as typed, each sentence): in a large collection the helper
    finds the best passages for every other reading, this thread for the rest, and the answers are
    those of one core; in a small one this thread finds them all."""
    spread, single = engines
    names: list[str] = []
    centred = semantic_module.centred

    def recorded(*args, **kwargs):
        names.append(threading.current_thread().name)
        return centred(*args, **kwargs)

    monkeypatch.setattr(semantic_module, "centred", recorded)
    monkeypatch.setattr(semantic_module, "COMPILED_FROM", 0)  # the small corpus counts as a large one
    query = QUERIES[2]
    found = answers(spread, query)
    assert any(n.startswith("kb-embed") for n in names) and any(not n.startswith("kb-embed") for n in names)
    names.clear()
    assert found == answers(single, query)
    assert names and not any(n.startswith("kb-embed") for n in names)  # one core: no helper
    monkeypatch.setattr(semantic_module, "COMPILED_FROM", len(spread.index("cases").vectors) + 1)
    names.clear()
    spread._scans.clear()
    spread._rankings.clear()  # ranked again, not answered from the last ranking
    assert answers(spread, query) == found
    assert names and not any(n.startswith("kb-embed") for n in names)  # too small to hand over


def test_searches_in_flight_together_keep_to_one_core(engines, monkeypatch):
    spread, _ = engines
    given = scans(monkeypatch)
    threads = embedding_threads(spread)
    spread._in_flight = 1  # another search is running
    try:
        spread.search("councils sharing a finance director", mode="hybrid")
    finally:
        spread._in_flight = 0
    assert threads and not any(name.startswith("kb-embed") for name in threads)
    assert given and set(given) == {1}


def test_the_count_of_searches_in_flight_comes_back_after_an_error(engines):
    spread, _ = engines
    with pytest.raises(engine_module.QueryError):
        spread.search("x", mode="no-such-mode")
    assert spread._in_flight == 0
    spread.search("shared services")
    assert spread._in_flight == 0


def test_one_core_means_no_helper_thread(engines):
    _, single = engines
    assert single._helper is None and single._cores_free() == 1
    assert np.isfinite(single.search("shared services").results[0].score)


def test_a_request_s_other_work_counts_as_a_search_in_flight(engines, monkeypatch):
    spread, _ = engines
    given = scans(monkeypatch)
    with spread.occupied():  # a server rendering another request's page
        spread.search("councils sharing a head of legal services", mode="hybrid")
    assert given and set(given) == {1}
    assert spread._in_flight == 0


def test_a_repeated_query_embeds_nothing_aside(engines, monkeypatch):
    """Nothing is handed to the helper thread (the cache would answer it there too, so the embedder
    alone cannot tell)."""
    spread, _ = engines
    spread.search("councils sharing a monitoring officer", mode="hybrid")
    threads = embedding_threads(spread)
    handed: list = []
    submit = spread._helper.submit
    monkeypatch.setattr(spread._helper, "submit", lambda *args, **kwargs: handed.append(args) or submit(*args, **kwargs))
    spread.search("councils sharing a monitoring officer", mode="hybrid", filters={"regions": ["london"]})
    assert threads == [] and handed == []
    spread.search("councils sharing a head of paid service", mode="hybrid")
    assert len(handed) == 1  # a new query is handed over


def test_a_query_asked_again_after_its_scans_went_is_scanned_beside_the_keyword_side(engines, monkeypatch):
    """Its vectors are kept but not its scans (the last few are kept): they are handed to the helper
    as a new query's are, not made after the keyword side, and nothing is embedded again. The
    answers are those of one core."""
    spread, single = engines
    query = "councils sharing a monitoring officer"
    expected = answers(single, query)
    assert answers(spread, query) == expected
    spread._scans.clear()
    spread._rankings.clear()
    spread._ranking_bytes = 0
    threads = embedding_threads(spread)
    handed: list = []
    submit = spread._helper.submit
    monkeypatch.setattr(spread._helper, "submit", lambda *args, **kwargs: handed.append(args) or submit(*args, **kwargs))
    assert answers(spread, query) == expected
    assert threads == [] and len(handed) == 1


@pytest.mark.parametrize("target", ["cases", "lessons"])
def test_a_search_scans_each_reading_once_however_few_scans_are_kept(engines, monkeypatch, target):
    """A paragraph is read many ways (and a lesson search reads it in the cases too): each reading is
    scanned once in its search, its refining pass included, even with one scan kept between searches;
    after the search, no more than that is kept. The answers are those with every scan kept."""
    _, single = engines
    query = QUERIES[2]
    monkeypatch.setattr(semantic_module, "SCANS_KEPT", 1000)
    expected = answers(single, query, "hybrid", target)
    single._scans.clear()
    single._rankings.clear()
    monkeypatch.setattr(semantic_module, "SCANS_KEPT", 1)
    scanned: list[tuple[int, bytes]] = []
    scan = Engine._scan

    def recorded(matrix, qv, scales=None, threads=1, sums=None):
        for row in np.asarray(qv).reshape(-1, np.asarray(qv).shape[-1]):
            scanned.append((id(matrix), row.tobytes()))
        return scan(matrix, qv, scales, threads, sums)

    monkeypatch.setattr(Engine, "_scan", staticmethod(recorded))
    assert answers(single, query, "hybrid", target) == expected
    assert len(scanned) > 4 and len(scanned) == len(set(scanned))  # nothing scanned twice
    assert len(single._scans) <= 1 and not single._pinned


@pytest.mark.parametrize("cpu_max, expected", [("50000 100000\n", 1), ("150000 100000\n", 2), ("max 100000\n", None),
                                               ("garbled\n", None)])
def test_a_container_s_cpu_quota_caps_the_cores(tmp_path, monkeypatch, cpu_max, expected):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    quota = tmp_path / "cpu.max"
    quota.write_text(cpu_max)
    monkeypatch.setattr(engine_module, "CPU_MAX", quota)
    assert engine_module.usable_cores() == (expected or 4)
    monkeypatch.setattr(engine_module, "CPU_MAX", tmp_path / "none")  # no cgroup v2: the cores it may run on
    assert engine_module.usable_cores() == 4


def test_a_reading_s_scan_starts_while_another_reading_is_embedded(engines, monkeypatch):
    """Each reading's blocks are queued as soon as its vector is there: while one thread embeds a
    slow reading, the other scans the readings already embedded. The answers are those of one core."""
    spread, single = engines
    blocks = shared_blocks(monkeypatch)
    query = QUERIES[2]
    shortest = min(spread._readings("cases", query, spread.term_matcher.terms_in(query))[1], key=len)
    events: list[str] = []
    encode = spread.embedder.encode

    def slow(texts, *args, **kwargs):
        if texts == [shortest]:
            events.append("slow reading starts")
            # held until the other thread has scanned a block (or 5 s: on a busy machine a fixed half
            # second could pass before that thread was given a core)
            deadline = time.monotonic() + 5
            while not blocks and time.monotonic() < deadline:
                threading.Event().wait(0.01)
            events.append(f"slow reading done, {len(blocks)} blocks scanned")
        return encode(texts, *args, **kwargs)

    monkeypatch.setattr(spread.embedder, "encode", slow)
    found = answers(spread, query)
    assert events[0] == "slow reading starts" and not events[1].startswith("slow reading done, 0 ")
    assert found == answers(single, query)


def test_a_shared_scan_reads_each_block_once_for_every_vector_waiting_for_it(corpus_db, monkeypatch):
    engine = Engine(corpus_db, vectors="int8")
    col = engine.index("cases")
    monkeypatch.setattr(scan_module, "BLOCK", 64)
    plan = scan_module.SharedScan(col.vectors, col.scales, col.doc_vectors, col.doc_scales)
    queries = [engine.query_vector(t) for t in ("shared services", "libraries run by volunteers", "reablement")]
    plan.add("a", queries[0])
    plan.add("b", queries[1])
    first = plan.take()
    plan.scan(first)
    assert len(first[1]) == 2  # both vectors from one read of the block
    plan.add("c", queries[2])
    taken = []
    while (block := plan.take()) is not None:
        taken.append(len(block[1]))
        plan.scan(block)
    assert taken[0] == 1 and taken[1:] and all(n == 3 for n in taken[1:])  # the first block again for c alone
    for key, qv in zip("abc", queries):
        assert np.array_equal(plan.found[key][0], engine._scan(col.vectors, qv, col.scales))
        assert np.array_equal(plan.found[key][1], engine._scan(col.doc_vectors, qv, col.doc_scales))


def test_a_search_alone_scans_each_named_term_s_label_once_and_never_its_labelled_reading(engines, monkeypatch):
    """The helper's shared scan takes the query's readings and each named term's label, under a key of
    its own (kept for the next query naming the term); the labelled reading is worked out from them
    (see SemanticSide._labelled), so its vector is never queued, and the answers are one core's."""
    spread, single = engines
    added: list = []
    add = scan_module.SharedScan.add
    monkeypatch.setattr(scan_module.SharedScan, "add", lambda plan, key, vector: added.append(key) or add(plan, key, vector))
    query = "kerbside bin collections and street cleansing in a rural district"
    labels = spread._labels("cases", spread.term_matcher.terms_in(query))
    assert labels
    found = answers(spread, query)
    assert sorted(k[2] for k in added if len(k) == 3) == sorted(labels)  # each label, as a label
    assert [k for k in added if len(k) == 2] == [spread._scan_key(spread.index("cases"), spread._query_vectors[query])]
    assert found == answers(single, query)
    added.clear()
    spread._scans.clear(), spread._rankings.clear(), spread._query_vectors.clear()
    assert answers(spread, query) == found
    assert len(added) == 1  # the query alone: its labels' scans are kept
