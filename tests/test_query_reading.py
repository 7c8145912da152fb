"""Queries as officers, councillors and researchers really type them (a fourth review, written blind
against the cases): contractions, pasted text, sector shorthand, long pastes."""
import numpy as np
import pytest

from search.text import phrases_of, terms_of


def ids(found):
    return [r.id for r in found.results]


# -- a contraction is its words ---------------------------------------------------------------------
@pytest.mark.parametrize("short, long", [
    ("digital savings that didn't show up", "digital savings that did not show up"),
    ("why it doesn\u2019t work", "why it does not work"),
    ("councils that won't outsource", "councils that will not outsource"),
    ("we're a district and we've shared services", "we are a district and we have shared services"),
])
def test_a_contraction_is_read_as_its_words(engine, short, long):
    """"didn't" was corrected to "did" ("Showing results with the spelling corrected: did for
    didn"), and its parts were query words: "doesn" and "re", in no document, counted as the query's
    rarest words, and "won't" was the word "won"."""
    assert terms_of(short) == terms_of(long) and phrases_of(short) == phrases_of(long)
    found = engine.search(short, mode="keyword")
    assert found.corrections == [] and found.corrected_from is None
    assert ids(found) == ids(engine.search(long, mode="keyword"))


# -- a long paste is searched from its start, and the answer says so ----------------------------------
EXTRACT = ("Report to Full Council: proposal for a shared management team with our neighbouring district. "
           "Both councils face a combined funding gap over the next three years. Having already reduced "
           "management costs separately, the two authorities believe the next step is a single chief executive "
           "and one senior leadership team serving both councils, followed by joint service teams. ") * 5
EXTRACT = EXTRACT.strip()


def test_a_paste_longer_than_the_limit_is_searched_from_its_start(engine):
    """A 300-word extract of a committee report (about 1,800 characters) was refused ("query is 1,509
    characters; the limit is 1,000"), and the search box cut it at 1,000 without a word."""
    from search.engine import MAX_QUERY_CHARS

    assert len(EXTRACT) > 1.5 * MAX_QUERY_CHARS
    found = engine.search(EXTRACT)
    assert found.shortened_from == len(EXTRACT) and found.results
    assert len(found.query) <= MAX_QUERY_CHARS and EXTRACT.startswith(found.query)
    assert found.query.endswith("over the next three years.")  # after the last whole sentence that fits
    assert engine.search(EXTRACT[:MAX_QUERY_CHARS]).shortened_from is None


def test_the_site_says_how_much_of_a_long_paste_it_searched(corpus_db):
    from urllib.parse import quote

    from kb.site import make_datasette

    from .pages import get, text

    site = make_datasette(corpus_db)
    body = get(site, "/-/search.json?q=" + quote(EXTRACT)).json()
    assert body["error"] is None and body["results"]
    searched = body["shortened"]["searched"]
    assert body["shortened"]["typed"] == len(EXTRACT) and searched <= 1000
    page = get(site, "/-/search?q=" + quote(EXTRACT))
    assert page.status_code == 200
    assert (f"Your search is {len(EXTRACT):,} characters long: its first {searched:,}, up to \u201c\u2026 combined "
            "funding gap over the next three years.\u201d, were searched") in text(page.text)
    assert 'maxlength="4000"' in page.text and '<textarea id="q"' in page.text  # a paste reaches the engine, to be said so, not cut unsaid


# -- an acronym is read with what it stands for ---------------------------------------------------------
@pytest.mark.parametrize("acronym, meaning, words", [
    ("FTE", "Full-time equivalent (staff counted as full-time posts)", "full-time equivalent"),
    ("LATCo", "Local authority trading company", "local authority trading company"),
    ("TUPE", "Transfer of Undertakings (Protection of Employment) Regulations, which move staff",
     "transfer of undertakings protection of employment"),
    ("SOLACE", "Society of Local Authority Chief Executives and Senior Managers", "society of local authority chief executives"),
    ("DCLG", "Department for Communities and Local Government (so named until 2018)",
     "department for communities and local government"),
    ("NAO", "Local Government Association", None),
])
def test_an_abbreviation_is_spelt_out_by_the_words_it_is_made_of(acronym, meaning, words):
    from kb.vocabulary import spelt_out

    assert spelt_out(acronym, meaning) == words


def test_an_acronym_of_a_hyphenated_name_stands_for_it():
    """"bpr" was no acronym of "business process re-engineering": its initials were read as b-p-r-e."""
    from kb.vocabulary import acronyms_of

    assert acronyms_of(["business process re-engineering", "bpr"]) == {"bpr": ["business process re-engineering"]}
    assert acronyms_of(["medium-term financial plan", "mtfp"]) == {"mtfp": ["medium-term financial plan"]}


def test_an_abbreviation_the_site_explains_finds_what_it_stands_for(engine):
    """The site explains FTE, LATCo and TUPE (kb/abbreviations.yml); a query read them as letters alone."""
    forms = engine._variants(["fte", "latcos", "RAG", "rag"])
    assert forms["fte"] == ["fte", "full-time equivalent"] and forms["latcos"] == ["latcos", "local authority trading company"]
    assert forms["RAG"] == ["rag", "red amber green"] and forms["rag"] == ["rag"]  # an English word only in capitals


def test_the_model_reads_an_acronym_with_what_it_stands_for(engine, monkeypatch):
    """The model knows few of the sector's acronyms: it read "LATCo" and "FTE" as letters."""
    from .test_search import _recorded

    embedded, _ = _recorded(engine, monkeypatch)
    engine.search("LATCo", mode="semantic")
    engine.search("FTE reductions and EHCPs", mode="semantic")
    engine.search("send a letter", mode="semantic")
    assert "LATCo (local authority trading company)" in embedded
    assert "FTE (full-time equivalent) reductions and EHCPs (education health and care plan)" in embedded
    assert "send a letter" in embedded  # "send" is an acronym only in capitals


@pytest.mark.model
def test_an_acronym_finds_the_cases_of_what_it_stands_for(model_engine):
    assert "oldham-care-and-support-trading-company" in ids(model_engine.search("LATCo", limit=3))
    assert "kirklees-one-council-back-office" in ids(model_engine.search("FTE reductions", mode="semantic", limit=3))


# -- a council type's or a region's words side by side are held by the cases tagged with it ----------------
def test_a_region_named_in_two_words_is_held_as_a_pair_by_the_cases_tagged_with_it(engine):
    """"South West" was held by each tagged case word by word, while a text that wrote the pair ("South
    Worcestershire ... West Midlands", a national leisure mutual's centres) also had the pair: two cases
    from other regions were in the first five for "councils in the south west"."""
    index = engine.index("cases")
    found = ids(engine.search("councils in the south west", mode="keyword", limit=5))
    assert len(found) == 5 and all(index.masks["regions"]["south-west"][index.position[i]] for i in found)
    held = engine._held_by_tags(index, ["councils", "south", "west"], "councils in the south west", ["south west"])
    assert held["south west"].sum() == index.masks["regions"]["south-west"].sum()


# -- a phrase in quotation marks that no document has is searched as words -----------------------------------
def test_a_quoted_phrase_no_document_has_is_searched_as_words_and_said(engine, corpus_db):
    """A quotation pasted with its marks ("Tell us once", the name of a national scheme) left nothing:
    no case writes it, though Croydon's joins up the services it names."""
    from urllib.parse import quote

    from kb.site import make_datasette

    from .pages import get, text

    query = "\u201cTell us once\u201d \u2013 joined-up services"
    found = engine.search(query, mode="keyword")
    assert found.unquoted == ["Tell us once"] and found.total and found.query == query
    assert ids(found) == ids(engine.search("Tell us once \u2013 joined-up services", mode="keyword"))
    held = engine.search('"whole place" community budgets', mode="keyword", limit=50)  # one has it: still required
    index = engine.index("cases")
    having = {index.ids[i] for i in engine._holding(index, ["whole place"]).nonzero()[0]}
    assert held.unquoted == [] and 1 <= held.total and set(ids(held)) <= having
    site = make_datasette(corpus_db)
    assert ("No case study has \u201cTell us once\u201d as written, so its words were searched without the quotation marks"
            in text(get(site, "/-/search?q=" + quote(query)).text))
    assert get(site, "/-/search.json?q=" + quote(query)).json()["unquoted"] == ["Tell us once"]


# -- a query that names a report, or pastes its address ----------------------------------------------------
def _citing(engine, source_id):
    index = engine.index("cases")
    return {index.ids[i] for i in index.masks["source_ids"][source_id].nonzero()[0]}


def test_an_address_is_read_as_its_words_and_a_report_s_address_as_its_title(engine):
    """A pasted address was the words "https", "www", "gov" and "uk", in no document and so the rarest of
    the query, and its path one hyphenated compound no text writes."""
    from search.text import url_words

    assert url_words("https://www.lgcplus.com/politics/shared-services-save-millions/5012.article") == \
        "politics shared services save millions 5012 article"
    dclg = "https://www.gov.uk/government/publications/good-practice-in-local-government-savings"
    assert engine._addresses_read(f"see {dclg}.") == "see Good Practice in Local Government Savings."
    assert engine._addresses_read("www.londoncouncils.gov.uk/our-work") == "our work"  # a site's home is no report
    found = ids(engine.search(dclg, mode="keyword", limit=5))
    assert len(set(found) & _citing(engine, "dclg-2014-good-practice-savings")) >= 4


@pytest.mark.parametrize("query, source", [
    ("Grant Thornton validated savings", "dclg-2014-good-practice-savings"),   # an author
    ("DCLG good practice", "dclg-2014-good-practice-savings"),                 # the publisher, by its acronym
    ("31ten report", "london-councils-2020-transformation-savings"),
])
def test_a_report_named_by_its_publisher_or_authors_finds_the_cases_citing_it(engine, query, source):
    """No case writes "Grant Thornton" or "31ten", and few the report's publisher in full: the cases
    citing it held none of the words that name it."""
    assert len(set(ids(engine.search(query, mode="keyword", limit=5))) & _citing(engine, source)) >= 4


def test_a_report_named_in_lesson_search_holds_its_own_findings(engine):
    index = engine.index("lessons")
    held = engine._held_by_sources(index, ["localis", "recommendations", "technology"], "Localis recommendations on technology")
    findings = {i for i, s in enumerate(index.links["source_id"]) if s in ("localis-2013-changing-places", "lga-2016-transformational-models")}
    assert set(held["localis"].nonzero()[0]) == findings and "technology" not in held


# -- a compound typed with a space ----------------------------------------------------------------------
def test_a_compound_of_one_word_and_function_words_typed_with_spaces_is_read_whole(engine):
    """"bringing services back in house" was the word "house", which finds housing: Croydon's
    homelessness gateway and Sheffield's housing benefit were among the first five."""
    assert engine._closed("bringing services back in house") == "bringing services back in-house"
    assert engine._closed("handled end to end") == "handled end to end"  # its words say what it does
    index = engine.index("cases")
    holding = engine._holding(index, ["in house"])
    found = ids(engine.search("bringing services back in house", mode="keyword", limit=5))
    assert holding[index.position[found[0]]]
    assert not {"croydon-people-gateway", "sheffield-housing-benefit-channel-shift"} & set(found)


# -- the sector's shorthand and American words name their terms ------------------------------------------
@pytest.mark.parametrize("query, vocabulary, term", [
    ("CYP services redesign", "services", "childrens-social-care"),
    ("CHC funding disputes", "services", "adult-social-care"),
    ("OBB", "approaches", "outcomes-based-commissioning"),
    ("labor unions and layoffs", "approaches", "organisational-restructuring"),
    ("commercial real estate", "approaches", "asset-rationalisation"),
    ("leisure run by a nonprofit", "approaches", "not-for-profit-delivery"),
])
def test_sector_shorthand_and_american_words_name_their_terms(engine, query, vocabulary, term):
    """"CYP", "CHC" and "OBB" were letters to the model and in no case; "layoffs" and "real estate" are
    what an American-trained reader types for redundancies and property."""
    assert (vocabulary, term) in engine.term_matcher.terms_in(query)


def test_the_new_acronyms_stand_for_their_names(engine):
    assert engine._variants(["cyp", "OBB", "chc"]) == {
        "cyp": ["cyp", "children and young people"], "OBB": ["obb", "outcomes based budgeting", "outcome-based budgeting"],
        "chc": ["chc", "continuing health care"]}


# -- a term's name typed without its space, or with one too many ------------------------------------------
@pytest.mark.parametrize("query, vocabulary, term", [
    ("hotdesking cut office costs", "approaches", "agile-working"),
    ("homeworking after covid", "approaches", "agile-working"),
    ("flytipping enforcement", "services", "environmental-and-regulatory"),
    ("tele care for older people", "approaches", "prevention-early-intervention"),
])
def test_a_name_typed_closed_or_apart_names_its_term(engine, query, vocabulary, term):
    """A phone drops a space ("hotdesking": the vocabulary's name is "hot desking") or adds one ("tele
    care" for telecare): the query named no term, so neither the term's everyday words nor its tag
    lifted the cases that are about it."""
    assert (vocabulary, term) in engine.term_matcher.terms_in(query)


def test_a_one_word_name_keeps_its_own_term_over_a_closed_name(engine):
    """"insourcing" is a name of its own term; "in-sourcing" closed up is the same word and must not
    name anything else."""
    assert engine.term_matcher.terms_in("insourcing") == [("approaches", "insourcing")]
    assert engine.term_matcher.terms_in("sourcing") == []


def test_i_am_and_a_contraction_typed_without_its_apostrophe_are_no_query_words(engine):
    """"I am" opens many a situation, and a phone types "dont", "weve", "im": in no text, each was the
    rarest word of the query, so it took the largest share of the words the best case must hold
    before the keyword side counts."""
    query = "I am a district finance officer and im worried we dont have a plan, weve not costed it, it's a mess"
    assert not {"am", "im", "dont", "weve", "don", "s"} & set(terms_of(query))
    col = engine.index("cases")
    plain = engine.keyword_scores(col, terms_of("district finance officer worried plan costed mess"))[2]
    assert engine.keyword_scores(col, terms_of(query))[2] == plain  # the coverage: the same words count


def test_a_spoken_querys_fillers_and_an_emails_courtesies_are_no_query_words(engine):
    """Speech-to-text on a phone writes "um" and "er"; an email says "hi" and "thanks": in no text, each
    was the rarest word of the query, as a contraction without its apostrophe was (above)."""
    query = "um hi so er can you find me councils that share a chief executive please thanks"
    assert not {"um", "hi", "er", "please", "thanks"} & set(terms_of(query))
    col = engine.index("cases")
    plain = engine.keyword_scores(col, terms_of("find councils share chief executive"))[2]
    assert engine.keyword_scores(col, terms_of(query))[2] == plain


def test_a_function_word_as_typed_is_never_corrected(engine):
    """"weve done 10 yrs of efficiencies" was shown as searched for "wave done 10 years ...": a
    contraction typed without its apostrophe is a function word (see above), in no dictionary, so the
    speller took it for a slip."""
    assert engine.speller.correct("weve done 10 yrs of efficiencies").words == [("yrs", "years")]
    assert engine.speller.correct("thier plans").words == [("thier", "their")]  # a slip of one still is


# -- what a query sets aside in words -----------------------------------------------------------------------
@pytest.mark.parametrize("query, searched, aside", [
    ("shared services between councils, not with police or fire", "shared services between councils,", ["police", "fire"]),
    ("Community budget pilots other than Tri-borough - what did the rest do?",
     "Community budget pilots - what did the rest do?", ["Tri-borough"]),
    ("What did reablement teach that isn't about the savings?", "What did reablement teach that ?", ["savings"]),
    ("downsides of sharing services apart from the money", "downsides of sharing services", ["money"]),
    # what follows these is mostly the reader's own situation, which the cases they want describe too
    ("cutting headcount without compulsory redundancies", None, []),
    ("foster families instead of children's homes", None, []),
    ("culture rather than a restructure", None, []),
    ("budget reductions, not just salami slicing", None, []),
    ("what did not work", None, []),
    # a long clause, or nothing left to search for: read as typed
    ("councils except London boroughs sharing back office services", None, []),
    ("not with police", None, []),
    ('"not with police" shared services', None, []),  # in double quotes: searched as written
    # a sentence of its own that says what the reader is not after (a fourteenth review)
    ("London boroughs redesigning children's services. Adult care and one-off efficiency examples are not what "
     "I'm after; I need a figure.", "London boroughs redesigning children's services. I need a figure.",
     ["Adult care", "one-off efficiency examples"]),
    ("Outsourcing isn't what we want: which councils brought services back in house?",
     "which councils brought services back in house?", ["Outsourcing"]),
    ("agencies that cut hospital visits together, not interested in savings figures",
     "agencies that cut hospital visits together,", ["savings figures"]),
    ("what is not what", None, []),
])
def test_a_clause_setting_something_aside_is_read_apart(query, searched, aside):
    from search.text import set_aside_of
    assert set_aside_of(query) == (searched or query, aside)


@pytest.mark.model
def test_what_a_query_sets_aside_comes_after_the_rest(model_engine, monkeypatch):
    """"other than Tri-borough": the Tri-borough pilot, which the words name, had come first."""
    query = "Community budget pilots other than Tri-borough - what did the rest of them actually do?"
    with monkeypatch.context() as patched:  # read whole, as before
        patched.setattr("search.engine.set_aside_of", lambda q: (q, []))
        assert model_engine.search(query, limit=3).results[0].id == "tri-borough-community-budget-pilot"
    found = model_engine.search(query, limit=100)
    ids = [r.id for r in found.results]
    assert found.set_aside == ["Tri-borough"] and len(ids) == found.total
    naming = [i for i in ids if i.startswith("tri-borough-")]  # set aside, not left out: after every other
    assert "tri-borough-community-budget-pilot" in naming and ids[-len(naming):] == naming
    assert ids[0] in ("essex-community-budget-pilot", "greater-manchester-community-budget-pilot")
    lessons = model_engine.search("What did reablement teach councils that isn't about the savings?", target="lessons", limit=400)
    col = model_engine.index("lessons")
    holding = {col.ids[i] for i in np.flatnonzero(model_engine._holding(col, ["savings"]))}  # any form of the word
    shown = [r.id for r in lessons.results]
    assert lessons.set_aside == ["savings"] and len(shown) == lessons.total
    assert holding & set(shown) and all(i in holding for i in shown[len(shown) - len(holding & set(shown)):])
