"""Lesson search as officers, councillors and researchers ask it (a fifth review, written blind
against every lesson and finding): filter-like questions, the sector's other words, negation."""
import numpy as np


def ids(found):
    return [r.id for r in found.results]


# -- a lesson is held by its case's council types and regions ------------------------------------------
def test_a_lesson_holds_its_case_s_council_type_and_region(engine):
    """"lessons from Yorkshire councils" found nothing, and "what have district councils learnt about
    shared services" only the lessons whose text said "district": a lesson's text seldom names what
    kind of council its case is or where, and lessons did not take their case's tags as cases do."""
    index = engine.index("lessons")
    yorkshire = set(np.array(index.ids, dtype=object)[index.masks["regions"]["yorkshire-and-the-humber"]])
    assert len(yorkshire) >= 8
    found = ids(engine.search("lessons from Yorkshire councils", target="lessons", mode="keyword", limit=len(yorkshire) + 1))
    assert len(yorkshire & set(found)) == len(yorkshire)
    # a report's finding has no case, so no tags
    held = engine._held_by_tags(index, ["district", "councils"], "district councils", ["district councils"])
    assert not any(index.links["source_id"][i] for i in np.flatnonzero(held["district"]))


def test_a_lesson_held_by_its_case_s_tags_outranks_one_whose_text_names_a_word_of_them(engine):
    """Held as if the word were once in the lesson's title (weight 1 of the text's 4), the South East's
    unitary authorities' lessons came after a Localis finding that mentions one council becoming a
    unitary: a lesson holds its case's tags as it would a word of its text."""
    index = engine.index("lessons")
    both = index.masks["council_types"]["unitary-authority"] & index.masks["regions"]["south-east"]
    found = ids(engine.search("unitary authorities in the south east", target="lessons", mode="keyword", limit=5))
    assert len(found) == 5 and all(both[index.position[i]] for i in found)


# -- the sector's other words -----------------------------------------------------------------------
def test_the_pandemic_is_found_by_any_of_its_names(engine):
    """"what did councils learn from lockdown" found nothing about the pandemic: the reports write
    "Covid-19" and "the pandemic", never "lockdown" (kb/thesaurus.yml)."""
    found = ids(engine.search("lessons from lockdown", target="lessons", mode="keyword", limit=10))
    assert "london-councils-2020-transformation-savings#finding-28" in found  # "The pandemic hit commercial income ..."
    assert "stevenage-covid-response-flexible-workforce#lesson-1" in found  # "... during the pandemic"
    assert "covid" in engine._variants(["lockdown"])["lockdown"]
