"""Known answers, worked by hand, for the metrics, the fusion, the highlighter and the chunker."""
import math

import numpy as np
import pytest

from ingest.chunks import cut_at_sentences
from search.scoring import _mixed, centred, close_matches, hybrid_scores
from search.evaluate import ndcg_at, recall_at, reciprocal_rank
from search.text import highlight, phrases_of, query_stems, sentences_of, statement_of, term_hits, terms_of


def test_query_terms_keep_a_compound_with_a_function_word_whole():
    assert terms_of("charging for our in-house lawyers") == ["charging", "in house", "lawyers"]
    assert terms_of("a buy-or-build appraisal, face-to-face") == ["buy or build", "appraisal", "face to face"]
    assert terms_of("back-office and long-term plans") == ["back", "office", "long", "term", "plans"]  # parts kept
    assert terms_of("in\u2010house lawyers") == terms_of("in\u2011house lawyers") == ["in house", "lawyers"]  # pasted from a PDF
    assert highlight("an in\u2010house team", ["in house"]) == "an <mark>in</mark>\u2010<mark>house</mark> team"
    assert term_hits("an in\u2010house team", query_stems(["in house"])) == 1
    # highlighted where its words stand together, not word by word
    assert (highlight("An in-house team, housing in the house; in house.", ["in house"])
            == "An <mark>in</mark>-<mark>house</mark> team, housing in the house; <mark>in</mark> <mark>house</mark>.")


def test_a_compound_is_found_among_the_query_s_words_only():
    # a figure joined to a function word by a hyphen keeps its words as before: no compound is cut
    # out of the middle of "£1.2m"
    assert terms_of("£1.2m-a-year savings") == ["£1.2m", "year", "savings"]
    assert terms_of("saving 1,200-a-year") == ["saving", "1,200", "year"]
    assert terms_of("-in-house, in--house") == ["in house", "house"]
    # a compound's words do not pair with its neighbours: "house provider" is what "housing
    # providers" holds
    assert phrases_of("in-house provider") == [] and phrases_of("bring services in-house") == ["bring services"]
    assert phrases_of("back-office and long-term plans") == ["back office", "long term", "term plans"]


def test_term_hits_count_a_compound_where_its_words_stand_together():
    """The passage shown with a result leans towards those holding the query's words; a compound
    counts where highlight marks it."""
    stems = query_stems(terms_of("in-house lawyers"))
    for kept in (False, True):  # the words that could match stemmed, or every word stemmed and kept
        assert term_hits("We built an In-House legal team of lawyers.", stems, kept) == 2
        assert term_hits("Lawyers at the house; in. House", stems, kept) == 1  # its words apart
        assert term_hits("Housing lawyers", stems, kept) == 1


def test_ndcg_with_grades():
    # gains 2^g - 1: a (2) -> 3 at rank 1, c (1) -> 1 at rank 3; ideal: 3 at rank 1, 1 at rank 2
    expected = (3 / 1 + 1 / math.log2(4)) / (3 / 1 + 1 / math.log2(3))
    assert ndcg_at(["a", "b", "c"], {"a": 2, "c": 1}, 10) == pytest.approx(expected)
    assert ndcg_at(["a", "c"], {"a": 2, "c": 1}, 10) == pytest.approx(1.0)
    assert ndcg_at(["x", "y"], {"a": 2}, 10) == 0.0
    # only the top k count
    assert ndcg_at(["x", "a"], {"a": 2}, 1) == 0.0


def test_recall_counts_exact_matches_only_when_there_are_any():
    assert recall_at(["x", "a"], {"a": 2, "b": 2, "c": 1}, 5) == 0.5
    assert recall_at(["c"], {"c": 1}, 5) == 1.0  # no grade 2: any grade counts
    assert recall_at(["x", "x", "x", "x", "x", "a"], {"a": 2}, 5) == 0.0


def test_reciprocal_rank_of_the_first_exact_match():
    assert reciprocal_rank(["x", "c", "a"], {"a": 2, "c": 1}) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x", "c"], {"c": 1}) == pytest.approx(1 / 2)
    assert reciprocal_rank(["x"], {"a": 2}) == 0.0


def test_hybrid_fusion():
    semantic = np.array([0.2, 0.4, 0.6, np.nan])   # scaled to 0, 0.5, 1 (no passage: the lowest)
    keyword = np.array([np.nan, 2.0, 4.0, 1.0])    # scaled to the best: 0, 0.5, 1, 0.25
    # cases: semantic + 1.25 x coverage x keyword
    assert hybrid_scores(semantic, keyword, 1.0, "cases") == pytest.approx([0, 0.5 + 0.625, 1 + 1.25, 0.3125])
    assert hybrid_scores(semantic, keyword, 0.5, "cases") == pytest.approx([0, 0.5 + 0.3125, 1 + 0.625, 0.15625])
    # under 50% coverage the words count for less, in a straight line to nothing at 40%
    assert hybrid_scores(semantic, keyword, 0.45, "cases") == pytest.approx([0, 0.5 + 0.140625, 1 + 0.28125, 0.0703125])
    assert hybrid_scores(semantic, keyword, 0.4, "cases") == pytest.approx([0, 0.5, 1, 0])
    assert hybrid_scores(semantic, keyword, 0.3, "cases") == pytest.approx([0, 0.5, 1, 0])
    assert hybrid_scores(semantic, keyword, 0.3, "cases", query_words=10) == pytest.approx([0, 0.5, 1, 0])
    # ...but past 10 informative words the floor falls with the square of their number: a question
    # of 20 needs 12.5% (10% to count at all), a paragraph of 40 about 3%. No one document holds most
    # of them, and a long question names its case in a few rare words ("Worthing", "fly-tipping")
    assert hybrid_scores(semantic, keyword, 0.2, "cases", query_words=20) == pytest.approx([0, 0.5 + 0.125, 1 + 0.25, 0.0625])
    assert hybrid_scores(semantic, keyword, 0.11, "cases", query_words=20) == pytest.approx([0, 0.5 + 0.0275, 1 + 0.055, 0.01375])
    assert hybrid_scores(semantic, keyword, 0.09, "cases", query_words=20) == pytest.approx([0, 0.5, 1, 0])
    assert hybrid_scores(semantic, keyword, 0.19, "cases", query_words=40) == pytest.approx([0, 0.5 + 0.11875, 1 + 0.2375, 0.059375])
    # lessons: weight 1, coverage to the power 0.5, no floor
    assert hybrid_scores(semantic, keyword, 0.25, "lessons") == pytest.approx([0, 0.75, 1.5, 0.125])


def test_centring_demotes_what_matches_any_query_and_keeps_the_plain_cosine_for_membership():
    # document 0: one passage, cosine 0.6 with the query but 0.8 with the collection's centre (an
    # overview); document 1: two passages, 0.55 (centre 0.2) and 0.5 (centre 0.1)
    passages, hub = np.array([0.6, 0.55, 0.5], dtype=np.float32), np.array([0.8, 0.2, 0.1], dtype=np.float32)
    whole, doc_hub = np.array([0.6, 0.5], dtype=np.float32), np.array([0.8, 0.2], dtype=np.float32)
    starts, counts = np.array([0, 1]), np.array([1, 2])
    sims, centred_whole, top, second, plain = centred(0.25, passages, whole, hub, doc_hub, starts, counts)
    assert sims == pytest.approx([0.4, 0.5, 0.475])
    assert centred_whole == pytest.approx([0.4, 0.45])
    assert top == pytest.approx([0.4, 0.5]) and second == pytest.approx([0.4, 0.475])  # the overview falls behind
    assert plain == pytest.approx([0.6, 0.55])  # the result set goes by the cosines as they are
    sims, _, top, second, plain = centred(0.0, passages, whole, hub, doc_hub, starts, counts)
    assert np.array_equal(sims, passages) and top == pytest.approx([0.6, 0.55]) and plain == pytest.approx([0.6, 0.55])


@pytest.mark.parametrize("way", ["numpy", "compiled"])
def test_each_document_s_best_two_are_numpy_s_numbers_ties_included(way):
    """centred (search/kernels.py, as numpy computes it for a small collection and as the compiled
    loop does for a large one) against the same steps spelt out, on cosines rounded so that a
    document's best passage is often tied: the second best is the best below the best."""
    import search.kernels as kernels

    rng = np.random.default_rng(7)
    counts = rng.integers(1, 6, size=400)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    passages = np.round(rng.uniform(-0.2, 0.8, size=counts.sum()), 1).astype(np.float32)
    hub = np.round(rng.uniform(0, 0.8, size=counts.sum()), 1).astype(np.float32)
    run = kernels.in_numpy if way == "numpy" else kernels.compiled()
    sims, top, second, plain = run(passages, hub, np.float32(0.25), starts, counts)
    moved = passages - np.float32(0.25) * hub
    best = np.array([moved[a:a + c].max() for a, c in zip(starts, counts)])
    below = [moved[a:a + c][moved[a:a + c] < b] for a, c, b in zip(starts, counts, best)]
    assert np.array_equal(sims, moved) and np.array_equal(top, best)
    assert np.array_equal(second, [x.max() if len(x) else b for x, b in zip(below, best)])
    assert np.array_equal(plain, [passages[a:a + c].max() for a, c in zip(starts, counts)])
    assert (second == top).sum() > 50 and (second < top).sum() > 50  # ties and no ties both met
    assert all(a.dtype == np.float32 for a in (sims, top, second, plain))


def test_close_matches_stand_out_from_the_result_set():
    members = np.ones(10, dtype=bool)
    scores = np.array([10.0, 2, 1, 1, 1, 1, 1, 1, 1, 1])   # mean 2, spread 2.68: the first is 2.98 above
    assert close_matches(scores, members, "cases").tolist() == [True] + [False] * 9
    level = np.array([3.0, 2.9, 2.8, 2.7, 2.6, 2.5, 2.4, 2.3, 2.2, 2.1])   # nothing stands out
    assert not close_matches(level, members, "cases").any()
    # a lesson must stand out further than a case: nearly every lesson is near any query of the field
    some = np.array([3.0, 2, 2, 1, 1, 1, 1, 1, 1, 1])   # the first 2.41 spreads above the mean
    assert close_matches(some, members, "cases").tolist() == [True] + [False] * 9
    assert not close_matches(some, members, "lessons").any()
    assert close_matches(scores, members, "lessons").tolist() == [True] + [False] * 9
    # a lone result stands out from a population where the others score 0 (keyword mode), not from itself
    lone = np.array([4.0] + [np.nan] * 9)
    assert not close_matches(lone, ~np.isnan(lone), "cases").any()
    assert close_matches(lone, ~np.isnan(lone), "cases", np.nan_to_num(lone)).tolist() == [True] + [False] * 9


def test_questions_read_as_statements():
    assert statement_of("How have councils cut down on avoidable repeat calls?") == "cut down on avoidable repeat calls"
    assert statement_of("What holds councils back from getting services online?") == "holds councils back from getting services online"
    assert statement_of("Should we adopt another council's model?") == "adopt another council's model"
    assert statement_of("shared legal services") is None          # not a question
    assert statement_of("Who is it?") is None                     # nothing left to read
    # typed without its question mark, as on a phone: still a question
    assert statement_of("how much did service redesign save") == statement_of("how much did service redesign save?")
    assert statement_of("what do cllrs do differently as commissioners") == "cllrs do differently as commissioners"
    # a question after who asks is read from its opening on; a paragraph's clauses are not questions
    assert statement_of("As s151 officer at a small district, how should finance work with services?") == "finance work with services"
    assert statement_of("I'm a public health commissioner - what have councils learned about joint posts") == "learned about joint posts"
    paragraph = "We pool budgets with the NHS. Partners now ask us, how long did it take to settle?"
    assert statement_of(paragraph) is None
    # ending by asking, with no opening to take off, is no question: a situation, read as it is
    assert statement_of("Our contact centre is split by service and callers ring back. Have any councils merged theirs?") is None
    assert statement_of("councils that merged their contact centres?") is None
    assert statement_of("how we work") is None and statement_of("shared services in the north") is None


def test_long_queries_read_sentence_by_sentence():
    query = "Our contact centre has a team per service. Calls bounce between them! Help? We want one front door."
    assert sentences_of(query) == ["Our contact centre has a team per service.", "Calls bounce between them!",
                                   "We want one front door."]
    assert sentences_of("bin collections") == []
    # each side standardised (mean 0, spread 1), mixed half and half, put back on the first's scale
    a, b = np.array([1.0, 2.0, 3.0]), np.array([30.0, 10.0, 20.0])   # z: [-1.22, 0, 1.22], [1.22, -1.22, 0]
    assert _mixed(a, b, 0.5) == pytest.approx([2.0, 1.5, 2.5])
    assert _mixed(a, b, 0.0) == pytest.approx(a)


def test_highlight_marks_inflections_and_escapes_html():
    assert highlight("Sharing services, shared staff & <b>", ["share"]) == \
        "<mark>Sharing</mark> services, <mark>shared</mark> staff &amp; &lt;b&gt;"
    assert highlight("communities and community", ["communities"]) == \
        "<mark>communities</mark> and <mark>community</mark>"
    assert highlight("nothing here", ["share"]) == "nothing here"
    # what escaping writes is not read as words: "amp" marks no "&"
    assert highlight("AMP & amp's", ["amp"]) == "<mark>AMP</mark> &amp; <mark>amp</mark>&#x27;s"


def test_term_hits_counts_the_query_stems_a_passage_holds_each_time_it_is_asked():
    stems = query_stems(["sharing", "staff", "budget"])
    for kept in (False, True):
        assert term_hits("Shared staff, and staff shared.", stems, kept) == 2
        assert term_hits("Shared staff, and staff shared.", stems, kept) == 2  # from the kept stems
        assert term_hits("Shared staff, and staff shared.", query_stems(["budgets"]), kept) == 0
        assert term_hits("anything", frozenset(), kept) == 0


def test_query_words_and_pairs():
    assert terms_of("How do councils share a back office?") == ["councils", "share", "back", "office"]
    assert phrases_of("How do councils share a back office?") == ["councils share", "back office"]


def test_cut_at_sentences():
    assert cut_at_sentences("One two three. Four five six seven. Eight.", limit=4) == \
        ["One two three.", "Four five six seven.", "Eight."]
    assert cut_at_sentences("a b c d e f", limit=4) == ["a b c d", "e f"]
    assert cut_at_sentences("a b. c d.", limit=4) == ["a b. c d."]


def test_the_compiled_loop_still_runs_where_nothing_can_be_written(monkeypatch):
    """A host without a writable place for Numba's cache (a read-only file system) compiles the loop
    in the process instead of failing to search."""
    import numba

    import search.kernels as kernels

    plain = numba.njit

    def njit(*args, **kwargs):
        if kwargs.get("cache"):
            raise RuntimeError("cannot cache function: no locator available")
        return plain(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", njit)
    kernels.compiled.cache_clear()
    try:
        _, top, second, _ = kernels.compiled()(np.array([0.5, 0.7, 0.1], dtype=np.float32), np.zeros(3, np.float32),
                                               np.float32(0.25), np.array([0, 2]), np.array([2, 1]))
        assert top.tolist() == pytest.approx([0.7, 0.1]) and second.tolist() == pytest.approx([0.5, 0.1])
    finally:
        kernels.compiled.cache_clear()


def test_without_numba_a_large_collection_takes_numpy_s_passes_and_says_how_to_speed_it_up(monkeypatch, caplog):
    import sys

    import search.kernels as kernels

    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    kernels.compiled.cache_clear()
    try:
        assert kernels.compiled() is kernels.in_numpy
        assert "pip install '.[scale]'" in caplog.text
    finally:
        kernels.compiled.cache_clear()
