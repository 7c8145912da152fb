"""How documents are scored: the weights of the ranking, each with what it does and how it was chosen
(by cross-validation over search/queries.yml and search/lesson_queries.yml; README, "Search"), and
the functions that combine the keyword and semantic sides, find the best and flag close matches."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels import centred_best

TARGETS = ("cases", "lessons")  # the collections searched, by which every weight given per collection is keyed
# Who belongs to the result set (decided before any filter, so facet counts are exact): in keyword
# mode, documents with at least half the query's informative words (a "minimum should match") or
# one of its adjacent word pairs as a phrase, or any word when none has that many; in semantic
# mode, the SEMANTIC_NEIGHBOURS nearest plus any passage at least SEMANTIC_THRESHOLD similar
# (all-MiniLM-L6-v2 cosine); hybrid takes both.
SEMANTIC_THRESHOLD = 0.35
SEMANTIC_NEIGHBOURS = 10
# Query words found in more than this share of the documents are set aside (see informative in search/keyword.py).
COMMON_TERM_SHARE = 0.5
# The weights below were chosen by 5-fold cross-validation over search/queries.yml (README, "Search").
# Semantic: a document's best passage, plus SECOND_PASSAGE x its second best (a case that matches in
# two places beats one lucky sentence), plus WHOLE_DOCUMENT x the cosine of its mean vector. A lesson's
# two passages are one text, with and without its case's title or its report's theme, so its second
# best says the first again: lessons go by their best alone. Chosen over seven sets (the judged lessons
# and six blind reviews, 409 queries), each left out in turn, from 0, 0.1 and 0.3: 0 in every fold.
# The reviews 0.6771 -> 0.6800 (the sixteenth 0.7035 -> 0.7128, its questions 0.624 -> 0.633), the
# judged lessons 0.7166 -> 0.7176 (keyword 0.780 -> 0.777, question 0.674 -> 0.677, situation 0.695 -> 0.699).
SECOND_PASSAGE = {"cases": 0.3, "lessons": 0.0}
WHOLE_DOCUMENT = 0.5
# A document of many passages (a case with many sections and lessons) has more chances of one of
# them matching a query by luck, so its score loses MANY_PASSAGES x log(its passages) (cases 0.851
# -> 0.857; 5-fold cross-validation 0.855; flat from 0.04 to 0.12; lessons, two passages each, move
# only through their cases' scores (see CASE_CONTEXT): 0.702 unchanged). Chosen again over seven sets
# (the judged cases and six blind reviews, 560 queries), each left out in turn, from 0.02 to 0.12:
# 0.06 to 0.08 in every fold, 0.07 in four and over all seven (0.04 before: held-out mean 0.8829 -> 0.8837).
MANY_PASSAGES = 0.07
# Every cosine that scores a document has CENTRING x the passage's (or mean vector's) dot product
# with the collection's centre (the mean of its documents' mean vectors) taken off, as if the query
# were moved away from the centre: text that would match any query on councils' savings (a
# programme-wide overview) no longer outscores the case about what was asked. Both sides gain
# (cases 0.844 -> 0.851, lessons 0.699 -> 0.702; chosen by 5-fold cross-validation, flat from 0.15
# to 0.3). The result set's passage threshold (SEMANTIC_THRESHOLD) and the close-match evidence
# (CLOSE_MIN_COSINE) keep the plain cosine; its SEMANTIC_NEIGHBOURS nearest go by the centred score.
CENTRING = {"cases": 0.25, "lessons": 0.25}
# The query is also read with the labels of the vocabulary terms it names in everyday words
# ("bins" -> Environmental and regulatory) and the two readings averaged; documents tagged with a
# named term gain NAMED_TAG x the term's rarity (log N / documents tagged).
LABELLED_QUERY_SHARE = 0.5
# In case search that second reading is not embedded: its vector is the query's plus LABEL_VECTOR x
# the mean of the named terms' labels' vectors (stored by the build, see load_label_vectors), normalised. One
# embedding fewer for most queries (a quarter to a half of a short query's embedding and scanning
# at 100,000 cases), and the same ranking: cases 0.860 -> 0.862 (no-shared-words 0.697 -> 0.703,
# semantic alone 0.818 -> 0.817); flat from 0.3 to 0.7 (0.860 to 0.862). Lessons keep the embedded
# reading: with the summed vector they lost 0.002 to 0.006 (their keyword form 0.761 -> 0.749-0.756).
# Nor is that reading scanned: its cosines are worked out from the query's and each label's own
# scan, which is kept (see SemanticSide._labelled in search/semantic.py).
LABEL_VECTOR = {"cases": 0.5, "lessons": None}
# A query of several sentences (a situation described in a paragraph) is also read one sentence at a
# time, since one vector of the whole paragraph blurs the several things it says: the mean of the
# sentences' scores is mixed in at SENTENCE_SHARE (both standardised over the documents). The
# paragraph itself is not embedded: its vector is the mean of its sentences' vectors, each weighted
# by its words (as the model's own mean over tokens weighs them), normalised. That spares the
# longest embedding of a search (a 60-word paragraph's is about half of its readings'), and a paste
# longer than the model reads (256 tokens) is read to its end. Cases 0.862 -> 0.861 (situation
# 0.908 -> 0.904), lessons 0.703 -> 0.706 (situation 0.689 -> 0.698).
SENTENCE_SHARE = 0.5
# Lessons state findings; a question's opening ("How have councils...", "What holds ... back") is
# form, not content. In lesson search a question is also read without it, mixed in at this share.
QUESTION_SHARE = {"cases": 0.0, "lessons": 0.5}
NAMED_TAG = {"cases": 0.04, "lessons": 0.0}  # a lesson's tags are its case's: too broad to lift it
# Keyword: BM25 of the query, plus EXPANSION x BM25 of the named terms' labels and everyday words.
EXPANSION = 0.3
# The query's words that name a vocabulary term together ("councils that share a chief executive" names
# the sharing council) count at INCIDENTAL of their BM25 in a case not tagged with the term: there they
# are said in passing ("a chief-executive-chaired commercial group" had put Warrington first). Judged
# cases 0.860 -> 0.862 (question 0.891 -> 0.899; "early years ... without closing children's centres"
# 0.66 -> 0.96), the blind reviews unchanged within 0.001 (0.895, 0.864, 0.913); 0.25 and 0.75 gave
# 0.862 too. Not in lesson search: a lesson's tags are its case's and a report's findings have none
# (lessons 0.717 -> 0.716, questions 0.673 -> 0.665).
INCIDENTAL = {"cases": 0.5, "lessons": 1.0}
# Hybrid: semantic (scaled 0-1 over the documents) + KEYWORD_WEIGHT x confidence x BM25 (scaled to
# the best). Confidence is the share of the query's informative words (weighted by rarity) that the
# best keyword match holds, to the power COVERAGE_POWER: a query whose words a document holds is
# answered by the words; one that shares only a word or two is answered by meaning.
KEYWORD_WEIGHT = {"cases": 1.25, "lessons": 1.0}
COVERAGE_POWER = {"cases": 1.0, "lessons": 0.5}
# Below this coverage the words are taken to be incidental (a query in other words than the
# documents' that shares only a common word or two) and the keyword side is left out. No one
# document can hold most of a paragraph's words, so past SHORT_QUERY informative words the floor
# falls with the square of their number (FLOOR_FALL; a 20-word question, 0.5 -> 0.125). It fell with
# the square root, chosen on search/queries.yml alone, where any power from 0.25 to 3 does the same
# (its long queries' best matches hold most of their words); on five sets of queries written blind
# (390, kept outside the repository) a long question or paragraph whose case it names in a few rare
# words ("Worthing", "fly-tipping") had lost them: their mean 0.8876 -> 0.8910 (0.8896 with a power
# of 1, 0.8910 to 0.8911 from 1.5 to 3), the judged set unchanged to the fourth digit; a sixth set,
# written after the change in the four forms, 0.8628 -> 0.8637.
# The floor is 0.5 (it was 0.4): 5-fold cross-validation over 0.35-0.7 chose 0.5 in four folds and
# 0.45 in one (cases 0.861 -> 0.862, no-shared-words 0.702 -> 0.706, questions 0.885 -> 0.887); from
# 0.55 up questions fall (0.867), since a question names its subject in one or two of its words.
MIN_COVERAGE = {"cases": 0.5, "lessons": 0.0}
# Just under the floor the words are not left out at once: their weight falls in a straight line from
# full at the floor to nothing at COVERAGE_RAMP x the floor. A cliff had thrown away the words of a
# question whose asker says who they are first ("Head of customer services here - which councils
# merged ..."): the words the case holds were 46% of the query's. Cases 0.8586 -> 0.8602 (question
# 0.884 -> 0.891, no-shared-words 0.696 -> 0.698); 75 case queries written blind for this round (kept
# outside the repository) 0.884 -> 0.895 (their questions 0.830 -> 0.874); 0.9 / 0.7 / 0.6 gave
# 0.8590 / 0.8581 / 0.8575 and 0.888 / 0.896 / 0.896.
COVERAGE_RAMP = 0.8
SHORT_QUERY = 10
FLOOR_FALL = 2.0
# A case's lesson is read with its case: its semantic score gains CASE_CONTEXT x the case's semantic
# score (standardised over the cases, in units of the lessons' spread), since a lesson of a case
# about the question is more likely to answer it than one that only shares its words.
CASE_CONTEXT = 0.5
# The best TOKEN_MATCH_DOCS results are re-ranked word by word (search/token_match.py): each gains
# TOKEN_MATCH x its word-by-word score, standardised over them, in units of their scores' spread.
# A lesson is a sentence or two whose one vector blurs the several things it says, and a situation
# told in a paragraph asks several things in other words than the lessons'. Lessons, over seven sets
# (the judged and six blind reviews, 409 queries): 0.2 / 0.35 / 0.5 / 0.7 gave 0.6847 / 0.6858 /
# 0.6865 / 0.6853 on the six reviews (0.6794 without) and 0.720 / 0.725 / 0.727 / 0.730 on the
# judged (0.718); each set left out in turn chose 0.5 in six folds of seven, held-out mean 0.6849 ->
# 0.6914; 10 / 20 / 40 documents: 0.6835 / 0.6858 / 0.6861. That was with a paragraph's words read
# in one more pass of the model; read sentence by sentence from the passes that embed its sentences
# anyway (see SemanticSide.query_words): reviews 0.6864, judged 0.723 (situations 0.699 -> 0.722,
# keyword queries 0.775 -> 0.769). Questions are left as they are (TOKEN_MATCH_QUESTIONS): over
# the 144 questions of the seven sets 43 rose and 60 fell (mean -0.001), where 55 situations of 116
# rose and 38 fell (+0.012) and 80 keyword queries of 147 rose and 29 fell (+0.017); a question's
# asking words ("what went wrong", "what did ... learn") are content words a lesson rarely says.
# Not in case search: a case is pages of passages, and keeping each passage's word vectors (about
# 20 KB a passage) was not tried.
TOKEN_MATCH = {"cases": 0.0, "lessons": 0.5}
TOKEN_MATCH_DOCS = 20
TOKEN_MATCH_QUESTIONS = False
# Close matches: among the first CLOSE_RANKS, those that stand out from the result set, their hybrid
# score at least CLOSE_STANDOUT standard deviations above the mean of the result set's scores, and
# with the evidence below. Chosen first by 5-fold cross-validation over search/queries.yml for at least
# 80% judged useful; then again over five sets (the judged cases or lessons and the four blind
# reviews kept outside the repository, 290 case and 289 lesson queries), leaving each set out in turn:
# the most exactly-relevant flagged where at least 80% of close matches are useful on the other four.
# Lessons: useful 74.4% -> 80.7% on the sets left out, exactly-relevant flagged 45.9% -> 35.0%, and
# 20 close matches on queries with no relevant lesson -> 5; cases 79.2% -> 81.0%, 80.4% -> 78.9%
# (docs/search-quality.md). A label that is wrong one time in four tells a reader little. Chosen a
# third time, the same way, over seven sets (two more blind reviews: 560 case and 409 lesson queries):
# on the sets left out, cases 77.7% -> 81.4% useful (exactly-relevant flagged 79.9% -> 77.2%), since
# the two new reviews' close matches were 69% and 70% useful; lessons 80.6% -> 82.1% and 35.9% -> 37.7%
# (chosen again once a lesson went by its best passage alone, see SECOND_PASSAGE: the same in five folds of seven).
CLOSE_STANDOUT = {"cases": 2.0, "lessons": 2.75}
CLOSE_RANKS = 5
# ...and only with real evidence: a passage at least CLOSE_MIN_COSINE similar to the query, or the
# document holds at least CLOSE_MIN_COVERAGE of the query's informative words. Every query of the
# judged set has an exactly relevant case; queries from outside the field ("banana bread recipe",
# best cosine 0.15) get no close match, and the page says so.
# A lesson is a sentence or two on a subject every lesson shares (councils changing how they work), so
# nearly any lesson is 0.3 similar to any query of the field, and a lesson holding one rare word of
# the query stood out: "what did councils learn from running a council tax referendum campaign?", on
# nothing the collection holds, flagged five lessons close. For lessons the evidence is set higher,
# chosen on search/lesson_queries.yml for at least 80% of close matches judged useful: useful 78.6%
# -> 82.2%, exactly-relevant flagged 48.9% -> 46.7%; on the eleventh review's 70 lesson queries
# (written blind, kept outside the repository) 72.8% -> 76.7%, and its 7 queries with no relevant
# lesson 29 close matches -> 11. (0.45 and 0.4: 80.5%, 47.8%, and 24 close matches there.) Both
# were raised with CLOSE_STANDOUT, chosen with it (cases 0.3 -> 0.4, lessons 0.5 -> 0.55), and chosen
# with it again over seven sets (cases 0.35, lessons 0.5): a higher bar to stand out lets the passage's bar fall.
CLOSE_MIN_COSINE = {"cases": 0.35, "lessons": 0.5}
CLOSE_MIN_COVERAGE = {"cases": 0.6, "lessons": 0.5}
# A question a lesson answers (ingest/chunks.py question_chunks) shares its asking with any question
# on the field ("What went wrong when councils ...?"), so as evidence it must be nearer the query than
# the lesson's own text: a question alone is evidence at CLOSE_MIN_ASKED. At CLOSE_MIN_COSINE, three
# queries on things no lesson covers (bus franchising, a four-day week) flagged eight lessons close.
CLOSE_MIN_ASKED = 0.7
# A short query whose every informative word is in a document's name (its title or its organisations,
# "Barnet", "Essex county council") asks for that document: among the first CLOSE_RANKS it is a close
# match, though several such documents together never stand out from the rest (no judged query moved).
NAME_COLUMNS = ("title", "organisation_names")
NAME_WORDS = 4  # "short": at most this many informative words
# A short query (at most SAID_OTHERWISE_WORDS words) whose words name a vocabulary term in everyday
# words ("fly tipping", "potholes") is covered, for the keyword side's weight, by a document writing
# one of the term's names ("street cleansing", "highways"): see Holds._said_and_unsaid. In a longer
# query such words are a few among many, and its other words name terms too in passing ("employees",
# "job", "cut"): credited there, they made a noisy keyword side count in full.
SAID_OTHERWISE_WORDS = 4
# A word a case holds by its tags (a region's, a council type's; not a year's, a sum's or a report's name,
# which a text writes as the fact itself) is as common as the documents holding it either way: a case's text
# that writes it (Greenwich Leisure's centres in the "South East") scores it at that rarity, not at the
# rarity of the few texts that write it, which put it above every case of the region ("unitary
# authorities in the south east" 0.42 -> 0.82; 41 case queries written blind 0.807 -> 0.818; the judged
# sets unchanged). Not in lesson search: a lesson's tags are its case's, second-hand, and a lesson that
# writes the word ("company", of the council company type) is the better evidence (lessons 0.719 -> 0.718, blind 0.579 -> 0.578).
TAG_RARITY = {"cases": True, "lessons": False}
SAMPLE_STRIDE = 64  # see kth_best


def zero_nan(scores: np.ndarray) -> np.ndarray:
    """NaN (no match) as 0: np.nan_to_num's passes for infinities, which no score has, took half a
    millisecond at 100,000 documents."""
    return np.where(np.isnan(scores), 0.0, scores)


def hybrid_scores(semantic: np.ndarray, keyword: np.ndarray, coverage: float, target: str, query_words: int = 1) -> np.ndarray:
    """Semantic scaled to 0-1 over the documents, plus KEYWORD_WEIGHT x coverage^COVERAGE_POWER x
    the keyword score scaled to the best (see KEYWORD_WEIGHT), less as coverage falls below the floor
    for a query of that many informative words (`query_words`, see MIN_COVERAGE and COVERAGE_RAMP)."""
    # np.where, not np.nan_to_num (see zero_nan)
    sem = np.where(np.isnan(semantic), np.nanmin(semantic) if np.isfinite(semantic).any() else 0.0, semantic)
    low, high = sem.min(), sem.max()
    sem = (sem - low) / (high - low) if high > low else np.zeros_like(sem)
    floor = MIN_COVERAGE[target] * min(1.0, (SHORT_QUERY / max(query_words, 1)) ** FLOOR_FALL)
    trust = 1.0 if coverage >= floor else max(0.0, (coverage - COVERAGE_RAMP * floor) / ((1 - COVERAGE_RAMP) * floor))
    if trust == 0.0:
        return sem
    words = zero_nan(keyword)
    top = words.max()
    words = words / top if top > 0 else words
    return sem + trust * KEYWORD_WEIGHT[target] * coverage ** COVERAGE_POWER[target] * words


def centred(share: float, passages: np.ndarray, whole: np.ndarray, passage_hub: np.ndarray, doc_hub: np.ndarray,
            starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Passages' and mean vectors' cosines less `share` x their hub values (see CENTRING), each
    document's best two of the former (the second: the best once the document's best is set aside,
    or the best again for a document of one passage), and its best plain cosine (what the result
    set and the close-match evidence go by)."""
    sims, top, second, plain = centred_best(np.asarray(passages, dtype=np.float32), np.asarray(passage_hub, dtype=np.float32),
                                            np.float32(share), np.asarray(starts, dtype=np.int64),
                                            np.asarray(counts, dtype=np.int64))
    return sims, whole - np.float32(share) * doc_hub, top, second, plain


def _mixed(a: np.ndarray, b: np.ndarray, share: float) -> np.ndarray:
    """(1 - share) x a + share x b, each standardised over the documents, on a's scale."""
    mean, spread = np.nanmean(a), np.nanstd(a) or 1.0
    z = lambda x: (x - np.nanmean(x)) / (np.nanstd(x) or 1.0)
    return ((1 - share) * z(a) + share * z(b)) * spread + mean


def kth_best(values: np.ndarray, k: int) -> float:
    """The k-th largest of the non-NaN values (there must be at least k), exactly. Only the values
    at least as large as the k-th largest of every SAMPLE_STRIDE-th value are partitioned: the true
    k-th largest is among them, and at 100,000 documents a search asks this about ten times, each
    time partitioning all of them took about a millisecond."""
    sample = values[::SAMPLE_STRIDE]
    sample = sample[~np.isnan(sample)]
    if len(sample) >= k:
        values = values[values >= np.partition(sample, len(sample) - k)[len(sample) - k]]
    else:
        values = values[~np.isnan(values)]
    return np.partition(values, len(values) - k)[len(values) - k]


def best_first(scores: np.ndarray, first: int | None = None) -> np.ndarray:
    """Indexes of the non-NaN scores, best first (ties in index order); only the `first` few if
    given, found without sorting every score."""
    if first is not None and np.count_nonzero(~np.isnan(scores)) > first:
        # every score as good as the first-th best, ties included, in index order
        valid = np.flatnonzero(scores >= kth_best(scores, first))
    else:
        valid = np.flatnonzero(~np.isnan(scores))
    return valid[np.argsort(-scores[valid], kind="stable")][:first]


def close_matches(scores: np.ndarray, members: np.ndarray, target: str, population: np.ndarray | None = None) -> np.ndarray:
    """Members among the first CLOSE_RANKS whose score is at least CLOSE_STANDOUT[target] standard
    deviations above the mean of the population (default: the members' scores)."""
    close = np.zeros(len(scores), dtype=bool)
    valid = members & ~np.isnan(scores)
    population = scores[valid] if population is None else population
    spread = population.std() if len(population) > 1 else 0.0
    if valid.any() and spread > 0:
        ranked = best_first(np.where(valid, scores, np.nan), CLOSE_RANKS)
        close[ranked[scores[ranked] - population.mean() >= CLOSE_STANDOUT[target] * spread]] = True
    return close


def never_overtaken(scores: np.ndarray, members: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Close matches come first, so a result scoring higher than one of them is close too: otherwise
    a close match with weaker evidence of relevance would be put above a better-scored result."""
    if not close.any():
        return close
    order = best_first(np.where(members, scores, np.nan), CLOSE_RANKS)
    flagged = np.flatnonzero(close[order])
    out = close.copy()
    out[order[:flagged.max() + 1]] = True
    return out


@dataclass
class Ranking:
    """Every document's place for one query, before any filter."""
    scores: np.ndarray          # higher is better; NaN outside the result set
    members: np.ndarray         # in the result set
    close: np.ndarray           # close matches (a subset of members)
    keyword: np.ndarray         # keyword score, NaN where no query word matched
    semantic: np.ndarray        # best-passage cosine, NaN without passages
    sims: np.ndarray | None = None  # every passage's cosine
    approximate: bool = False  # cosines from float16 or int8 vectors (see VECTORS)
    keyword_side: tuple | None = None  # keyword_scores' answer, which the refining pass (_refine) reuses

    @classmethod
    def everything(cls, n: int) -> "Ranking":
        nothing = np.full(n, np.nan)
        return cls(np.zeros(n), np.ones(n, bool), np.zeros(n, bool), nothing, nothing)

    @classmethod
    def nothing(cls, n: int) -> "Ranking":
        nothing = np.full(n, np.nan)
        return cls(nothing, np.zeros(n, bool), np.zeros(n, bool), nothing, nothing)
