"""Known answers, worked by hand, for the metrics, the fusion, the highlighter and the chunker."""
import math

import numpy as np
import pytest

from ingest.chunks import cut_at_sentences
from search.engine import hybrid_scores
from search.evaluate import ndcg_at, recall_at, reciprocal_rank
from search.text import highlight, phrases_of, query_stems, term_hits, terms_of


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
    # under 40% coverage the words are left out
    assert hybrid_scores(semantic, keyword, 0.3, "cases") == pytest.approx([0, 0.5, 1, 0])
    # lessons: weight 1, coverage to the power 0.5, no floor
    assert hybrid_scores(semantic, keyword, 0.25, "lessons") == pytest.approx([0, 0.75, 1.5, 0.125])


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
    assert term_hits("Shared staff, and staff shared.", stems) == 2
    assert term_hits("Shared staff, and staff shared.", stems) == 2  # from the kept stems
    assert term_hits("Shared staff, and staff shared.", query_stems(["budgets"])) == 0
    assert term_hits("anything", frozenset()) == 0


def test_query_words_and_pairs():
    assert terms_of("How do councils share a back office?") == ["councils", "share", "back", "office"]
    assert phrases_of("How do councils share a back office?") == ["councils share", "back office"]


def test_cut_at_sentences():
    assert cut_at_sentences("One two three. Four five six seven. Eight.", limit=4) == \
        ["One two three.", "Four five six seven.", "Eight."]
    assert cut_at_sentences("a b c d e f", limit=4) == ["a b c d", "e f"]
    assert cut_at_sentences("a b. c d.", limit=4) == ["a b. c d."]
