"""The Datasette site over the real corpus database, through Datasette's own test client."""
import asyncio
import csv
import io

import pytest

from kb.site import make_datasette


@pytest.fixture(scope="module")
def site(corpus_db):
    return make_datasette(corpus_db)


def get(site, path):
    return asyncio.run(site.client.get(path))


def test_home_page_says_what_this_is_and_lists_sources_with_licences(site):
    page = get(site, "/")
    assert page.status_code == 200
    assert "Council transformation case studies" in page.text
    assert "Open Government Licence v3.0" in page.text
    assert "Good Practice in Local Government Savings" in page.text


def test_cases_table_has_the_derived_facets(site):
    data = get(site, "/kb/cases.json?_size=0&_extra=facet_results").json()
    facets = data["facet_results"]
    names = set(facets["results"]) if "results" in facets else set(facets)
    assert {"council_types", "regions", "services", "approaches", "key_attributes", "outcome", "evidence",
            "source_ids", "status"} <= names


def test_facet_question_answered_by_facets_alone(site):
    # "district councils that shared services with a neighbour"
    data = get(site, "/kb/cases.json?council_types__arraycontains=district-council"
                     "&approaches__arraycontains=shared-services-councils&_shape=array&_col=id").json()
    assert "west-suffolk-shared-staffing-structure" in {r["id"] for r in data}


def test_case_page_shows_text_figures_lessons_and_similar(site):
    page = get(site, "/kb/cases/brighton-hove-reablement")
    assert page.status_code == 200
    text = page.text
    assert "<h2>Summary</h2>" in text and "around £313,000" in text
    assert "Pilot first, then scale" in text and "Similar cases" in text
    assert text.count('href="/kb/cases/') >= 5


def test_case_page_json(site):
    data = get(site, "/kb/cases/brighton-hove-reablement.json?_shape=array").json()
    assert data[0]["id"] == "brighton-hove-reablement" and "body_html" in data[0]


def test_search_page_html_json_csv_agree(site):
    q = "/-/search{}?q=leisure+centres+run+by+the+community&council_types=district-council"
    html = get(site, q.format(""))
    assert html.status_code == 200 and "kb-result" in html.text and "Result set" in html.text
    data = get(site, q.format(".json")).json()
    assert data["results"] and data["results"][0]["id"] in html.text
    rows = list(csv.DictReader(io.StringIO(get(site, q.format(".csv")).text)))
    assert [r["id"] for r in rows] == [r["id"] for r in data["results"]]
    assert data["facets"]["council_types"]["district-council"] == data["total"]


@pytest.mark.parametrize("query", ["q=" + "x" * 20_000, "q=care&services=nonsense", "q=care&min_savings=9&max_savings=1",
                                   "q=care&min_savings=lots", "q=care&mode=psychic", 'q="NEAR(*'])
def test_bad_search_input_is_never_a_server_error(site, query):
    for fmt in ("", ".json", ".csv"):
        response = get(site, f"/-/search{fmt}?{query}")
        assert response.status_code in (200, 400), (query, fmt, response.status_code)
        assert "Traceback" not in response.text


def test_similarity_sql_function(site):
    sql = ("select c.id, kb_cosine(v.vector, (select vector from case_vectors where case_id = 'brighton-hove-reablement')) "
           "as score from case_vectors v join cases c on c.id = v.case_id order by score desc limit 2")
    rows = get(site, "/kb.json?_shape=array&sql=" + sql.replace(" ", "+").replace("=", "%3D")).json()
    assert rows[0]["id"] == "brighton-hove-reablement" and abs(rows[0]["score"] - 1.0) < 1e-5


def test_county_adult_social_care_with_achieved_savings_by_facets_alone(site):
    data = get(site, "/kb/cases.json?council_types__arraycontains=county-council&services__arraycontains=adult-social-care"
                     "&saving_statuses__arraycontains=achieved&_shape=array&_col=id").json()
    assert "hertfordshire-social-care-access-model" in {r["id"] for r in data}
