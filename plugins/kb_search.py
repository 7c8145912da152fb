"""The search page, /-/search, and the whole result set as /-/search.csv and /-/search.json.

One engine (search/engine.py) ranks for the command line and the site. The page shows what officers
compare on under each title, close matches first and the rest as "also related", every facet as a
filter with the count each value would give, chips for the filters in force, and an Apply button:
nothing reloads until the reader asks. With no query it browses every case."""
import asyncio
import contextlib
import os
import re
from html import unescape as html_unescape
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response
from jinja2 import Environment
from markupsafe import Markup

from kb.amounts import typed_pounds
from kb.site import plugin_module

from search.engine import EXPORT_LIMIT, MAX_QUERY_CHARS, MODES, SEMANTIC_NEIGHBOURS, SORTS, Engine, QueryError

PAGE_SIZE = 20
# what the search box takes: a pasted extract longer than the engine reads (MAX_QUERY_CHARS) reaches it,
# to be searched from its start and said so, rather than cut by the browser unsaid; four times as much
# keeps the address well inside the guard's limit on a query string (kb_guard.py)
PASTE_CHARS = 4 * MAX_QUERY_CHARS
# How many values of a facet show before "show all" (selected values always show).
TOP_VALUES = 5
SORT_LABELS = {"relevance": "relevance", "saving": "achieved yearly saving", "year": "newest first"}
MODE_LABELS = {"hybrid": "By meaning and by words", "keyword": "Only by your words", "semantic": "Only by meaning"}
TARGET_NOUNS = {"cases": ("case study", "case studies"), "lessons": ("lesson", "lessons")}
# What each mode puts in the result set, in a reader's words (the engine's own rule, with its
# thresholds, stays in the JSON as `rule`).
_WORDS_RULE = ("contain at least half of your words (leaving out words that nearly every {one} has%s) or two "
               "of them side by side; if none does, any of them")
_MEANING_RULE = "{n} {many} nearest in meaning to your search, and any other with a passage near it in meaning"
MODE_RULES = {"keyword": "The results are the {many} that " + _WORDS_RULE % ", unless nothing else matches" + ".",
              "semantic": "The results are the " + _MEANING_RULE + ".",
              "hybrid": "The results are the {many} that " + _WORDS_RULE % "" + ". To those are added the " + _MEANING_RULE + "."}
MARKED = re.compile(r"<mark>(.*?)</mark>", re.S)
EXPORT_COLUMNS = ["rank", "id", "title", "url", "close_match", "organisations", "council_types", "regions", "services",
                  "approaches", "period", "year_start", "year_end", "status", "outcome", "headline_saving",
                  "achieved_annual_saving_gbp", "source_title", "source_by", "passage"]
# a lesson search's rows also name the lesson's case or report and a finding's theme (see _export_rows);
# a case search's had a case_title column too, empty in every row (a reader's review)
LESSON_COLUMNS = (EXPORT_COLUMNS[:3] + ["case_id", "source_id", "theme"] + EXPORT_COLUMNS[3:-3] + ["case_title"]
                  + EXPORT_COLUMNS[-3:])




present = plugin_module(__file__, "kb_present")
mentions = plugin_module(__file__, "kb_mentions")
# Searches and the pages' main parts run on worker threads (KB_SEARCH_THREADS; asyncio's default
# number), so the event loop stays free to read requests and send pages.
SEARCH_THREADS = int(os.environ.get("KB_SEARCH_THREADS") or min(32, (os.cpu_count() or 1) + 4))
_WORKERS = ThreadPoolExecutor(max_workers=SEARCH_THREADS, thread_name_prefix="kb-search")
_BODY: dict = {}  # the main part's template, by Datasette instance
# One engine per served database, opened when the server starts and kept until it stops: the search
# page answers from the same build as every other page, and the model is loaded before "ready".
_ENGINES: dict[str, Engine] = {}  # by the served file's path


def _kb_database(datasette):
    for name, db in datasette.databases.items():
        if name != "_internal" and db.path:
            return db
    raise QueryError("no database is being served")


def _open(path: str) -> Engine:
    engine = Engine(path)
    engine.index("cases")
    engine.index("lessons")
    engine.embedder.load()
    engine.query_vector("ready")  # the first call into the model is the slow one
    return engine


@hookimpl
def startup(datasette):
    async def inner():
        db = _kb_database(datasette)
        if db.path not in _ENGINES:
            _ENGINES[db.path] = await asyncio.get_running_loop().run_in_executor(None, _open, db.path)
    return inner


def _engine(db) -> Engine:
    if db.path not in _ENGINES:
        _ENGINES[db.path] = _open(db.path)
    return _ENGINES[db.path]


# the range's boxes as the filters name them
BOUND_NAMES = {"min_savings": "\u201cAt least\u201d (achieved yearly saving)",
               "max_savings": "\u201cAt most\u201d (achieved yearly saving)"}


def _number_or_none(request, name):
    """_number, or None where it is the input at fault (the JSON's error says so)."""
    try:
        return _number(request, name)
    except QueryError:
        return None


def _number(request, name):
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    label = BOUND_NAMES.get(name) or name.replace("_", " ").capitalize()
    try:
        return typed_pounds(raw)
    except ValueError as err:
        raise QueryError(f"{label} {err}", param=name, value=raw)


def _params(request, facet_columns):
    mode = request.args.get("mode") or "hybrid"
    target = request.args.get("target") or "cases"
    try:
        page = max(1, int(request.args.get("page") or 1))
    except ValueError:
        page = 1
    filters = {c: request.args.getlist(c) for c in facet_columns if request.args.getlist(c)}
    return {"q": (request.args.get("q") or "").strip(), "mode": mode, "target": target, "page": page,
            "filters": filters, "sort": request.args.get("sort") or None,
            # "off": search the words as typed (the link under a corrected query)
            "spelling": "off" if request.args.get("spelling") == "off" else None}


def _url(base, params, **changes):
    merged = {k: v for k, v in params.items() if v not in (None, "", [])}
    merged.update(changes)
    pairs = []
    for k, v in merged.items():
        for item in (v if isinstance(v, list) else [v]):
            if item not in (None, ""):
                pairs.append((k, item))
    return base + ("?" + urlencode(pairs) if pairs else "")


def _without(state: dict, column: str, value: str | None = None) -> dict:
    """The state with one filter value (or a whole filter) taken away."""
    out = dict(state)
    if value is None or not isinstance(out.get(column), list):
        out.pop(column, None)
    else:
        out[column] = [v for v in out[column] if v != value]
    return out


async def _export_rows(datasette, db, found, request) -> list[dict]:
    """Every result with what an officer needs in a spreadsheet: the case's address, organisations,
    council types, services, headline saving, status and period (a lesson carries its case's)."""
    case_ids = sorted({(r.id if found.target == "cases" else r.case_id) for r in found.results} - {None})
    cases = {}
    if case_ids:
        rows = (await db.execute(f"""select id, services, approaches, status, achieved_annual_saving_gbp from cases
                                     where id in ({','.join('?' * len(case_ids))})""", case_ids)).rows
        cases = {r["id"]: dict(r) for r in rows}
    catalogue = {f["column"]: f for f in present.facet_catalogue(db.path)}
    label = lambda column, slug: present.label(db.path, catalogue.get(column, {}).get("vocabulary"), slug)
    origin = f"{request.scheme}://{request.host}"
    # a lesson's case or report, and a report finding's theme (its title is the report's): columns to
    # join and tell findings apart by, in every row, empty where they do not apply
    themes = {}
    if found.target == "lessons" and found.results:
        ids = [r.id for r in found.results]
        themes = dict((await db.execute(f"select id, theme from lessons where id in ({','.join('?' * len(ids))})", ids)).rows)
    # a case's reports, so that a spreadsheet of cases, or of a case's lessons, says what to cite (those
    # columns held only a finding's report, and were empty on every case's and case lesson's row)
    reports: dict = {}
    if case_ids:
        for row in (await db.execute(f"""select cs.case_id, s.id, s.title from case_sources cs join sources s on s.id = cs.source_id
                                        where cs.case_id in ({','.join('?' * len(case_ids))}) order by s.date, s.title""", case_ids)).rows:
            reports.setdefault(row[0], []).append((row[1], row[2]))
    out = []
    for rank, r in enumerate(found.results, 1):
        case_id = r.id if found.target == "cases" else r.case_id
        case = cases.get(case_id, {})
        card = r.card or {}
        lesson = {"case_id": r.case_id or "", "source_id": r.source_id or "", "theme": themes.get(r.id) or "",
                  "case_title": card.get("case_title") or ""} if found.target == "lessons" else {}
        out.append({
            "rank": rank, "id": r.id, "title": r.title, **lesson,
            "url": origin + _lesson_href(datasette, db.name, found.target, r),
            "close_match": "yes" if r.close else "no",
            "organisations": "; ".join(card.get("organisations", [])),
            "council_types": "; ".join(card.get("council_types", [])),
            "regions": "; ".join(card.get("regions", [])),
            "services": "; ".join(label("services", v) for v in present.as_list(case.get("services"))),
            "approaches": "; ".join(label("approaches", v) for v in present.as_list(case.get("approaches"))),
            "period": present.years(card.get("year_start"), card.get("year_end")) if case_id else "",
            "year_start": card.get("year_start"), "year_end": card.get("year_end"),
            "status": label("status", case.get("status")) if case else "",
            "outcome": card.get("outcome") or "",
            "headline_saving": card.get("headline_saving") or "",
            "achieved_annual_saving_gbp": case.get("achieved_annual_saving_gbp"),
            "source_title": card.get("source_title") or "; ".join(title for _, title in reports.get(case_id, [])),
            "source_by": present.source_by(db.path, r.source_id) if r.source_id and not case_id else
            "; ".join(present.source_by(db.path, source_id) for source_id, _ in reports.get(case_id, [])),
            "passage": mentions.name_cases(db.path, r.passage),
        })
    return out


def _facet_blocks(engine, found, filters: dict, state: dict, base: str) -> tuple[list, list]:
    """Each facet with its values (selected first, then by count), and a chip per selected value."""
    blocks, chips = [], []
    for f in engine.facets.values():
        counts = (found.facet_counts.get(f["column"]) if found else None) or {}
        selected = filters.get(f["column"], [])
        label_of = lambda v: f["values"].get(v, {}).get("label") or (engine_source_title(engine, v) if not f["vocabulary"] else v)
        values = [{"value": v, "label": label_of(v), "count": counts.get(v, 0), "selected": True} for v in selected]
        values += [{"value": v, "label": label_of(v), "count": n, "selected": False} for v, n in counts.items() if v not in selected]
        for v in selected:
            chips.append({"label": f"{f['label']}: {label_of(v)}", "href": _url(base, _without(state, f["column"], v))})
        if values:
            top = [v for v in values if v["selected"]]
            top += [v for v in values if not v["selected"]][:max(0, TOP_VALUES - len(top))]
            rest = [v for v in values if v not in top]
            blocks.append({"column": f["column"], "label": f["label"], "top": top, "rest": rest,
                           "selected": len(selected)})
    return blocks, chips


def _narrowing(engine, found, filters: dict, state: dict, base: str) -> list[dict]:
    """A one-click filter for each value of a facet of the organisation (council type, region: what
    makes another council comparable) that the query names ("we are a district council in the East
    of England"), where that facet has no filter yet and the filter would keep some of the results
    but not all."""
    offers = []
    for column, value in (found.named if found else []):
        f = engine.facets[column]
        count = found.facet_counts.get(column, {}).get(value, 0)
        if not f.get("organisation") or filters.get(column) or not 0 < count < found.total:
            continue
        name = f["values"].get(value, {}).get("label") or value
        offers.append({"name": name, "label": f"{f['label']}: {name}", "count": count, "column": column, "value": value,
                       "href": _url(base, {**state, column: [value]}, page=None)})
    return offers


def _savings_asked(found) -> dict | None:
    """The achieved yearly savings range the query asks for ("savings over £1m"), with the results it
    would leave, for JSON."""
    if not found or not found.savings_asked:
        return None
    least, most, count = found.savings_asked
    return {"min_savings": least, "max_savings": most, "count": count}


def _savings_offer(found, state: dict, base: str) -> dict | None:
    """The savings range the query asks for in words ("savings over a million"), offered as a
    one-click filter on the achieved yearly saving with the count it would leave, where it would keep
    some of the results but not all."""
    asked = _savings_asked(found)
    if not asked or not 0 < asked["count"] < found.total:
        return None
    least, most = asked["min_savings"], asked["max_savings"]
    money = lambda v: f"£{v:,.0f}" if v == int(v) else f"£{v:,.2f}"
    words = (f"between {money(least)} and {money(most)}" if least is not None and most is not None
             else f"at least {money(least)}" if least is not None else f"at most {money(most)}")
    bounds = {k: (f"{v:.0f}" if v == int(v) else f"{v}") for k, v in (("min_savings", least), ("max_savings", most)) if v is not None}
    return {"words": f"of {words}", "label": f"Achieved yearly saving {words}", "count": asked["count"],
            "href": _url(base, {**state, **bounds}, page=None)}


def _together(offers: list[dict], filters: dict, state: dict, base: str, count_with) -> dict | None:
    """One link applying every offered filter at once ("a district council in Kent": both), with the
    count it leaves; None for fewer than two, or when no result has them all."""
    if len(offers) < 2:
        return None
    combined = {column: list(values) for column, values in filters.items()}
    for o in offers:
        combined.setdefault(o["column"], []).append(o["value"])
    count = count_with(combined)
    if not count:
        return None
    # values of one facet are OR-ed when ticked together, values of different facets AND-ed: the link
    # says which ("Both: District council and Town or parish council" had shown the cases of either)
    groups: dict[str, list[str]] = {}
    for o in offers:
        groups.setdefault(o["column"], []).append(o["name"])
    parts = [" or ".join(names) for names in groups.values()]
    if len(parts) == 1:
        label = f"{'Either' if len(offers) == 2 else 'Any'}: {parts[0]}"
    else:
        label = f"{'Both' if len(parts) == 2 else 'All'}: " + ", ".join(parts[:-1]) + " and " + parts[-1]
    return {"label": label, "count": count,
            "href": _url(base, {**state, **{c: v for c, v in combined.items() if c not in filters}}, page=None)}


def engine_source_title(engine, source_id: str) -> str:
    return present.source_titles(engine.db_path).get(source_id, source_id)


# What each of the search's own settings is called when a link takes it away (filters go by their label).
SETTING_NAMES = {"mode": "way of matching your words", "sort": "order", "target": "kind of result",
                 "min_savings": "lowest saving", "max_savings": "highest saving"}


def _amount_words(raw: str) -> str:
    """An amount as typed into the savings range, as the page writes money (250000 -> £250,000)."""
    try:
        value = typed_pounds(raw)
    except ValueError:
        return raw  # not an amount (the page says so): as typed
    return f"£{value:,.0f}" if value == int(value) else f"£{value:,.2f}"


def _at_fault(error) -> bool:
    """Whether the error names an input a link can leave out (not the query itself)."""
    return isinstance(error, QueryError) and error.param not in (None, "q")


def _ways_out(engine, error: QueryError, state: dict, base: str) -> list[dict]:
    """Links that run the search again without the input at fault, or with the value it probably
    meant: a search from an old or hand-edited address is not a dead end (its filters are not shown
    to put right when the search cannot run)."""
    if not _at_fault(error):
        return []
    facet = (engine.facets.get(error.param) if engine else None) or {}
    name = facet.get("label", "").lower() or SETTING_NAMES.get(error.param, "setting")
    out = []
    if error.suggestion and facet:
        meant = facet["values"].get(error.suggestion, {}).get("label") or error.suggestion
        values = [error.suggestion if v == error.value else v for v in state.get(error.param) or []]
        out.append({"label": f"Search with the {name} {meant} instead",
                    "href": _url(base, {**state, error.param: values}, page=None)})
    out.append({"label": f"Search again without that {name}",
                "href": _url(base, _without(state, error.param, error.value), page=None)})
    return out


# A setting's choices as the page names them (the engine's message names its codes, for the JSON)
SETTING_CHOICES = {"mode": [label.lower() for label in MODE_LABELS.values()], "sort": list(SORT_LABELS.values()),
                   "target": [nouns[1] for nouns in TARGET_NOUNS.values()]}


def _error_words(engine, error) -> str:
    """What went wrong, for the page: a filter value by its filter's label, a setting by its choices
    as the page names them, without the engine's codes ("did you mean 'district-council'?": the link
    under it says that in words)."""
    param = getattr(error, "param", None)
    facet = (engine.facets.get(param) if engine else None) or {}
    if facet and error.value is not None:
        return f"There is no {facet['label'].lower()} \u201c{error.value}\u201d."
    if param in SETTING_CHOICES and error.value is not None:
        *most, last = SETTING_CHOICES[param]
        return f"There is no {SETTING_NAMES[param]} \u201c{error.value}\u201d: the choices are {', '.join(most)} and {last}."
    return str(error)[:1].upper() + str(error)[1:]


def _settled(p: dict, error) -> dict:
    """The search's settings with one the engine refused (an old or hand-edited address) at its
    default, so that the search box, its hidden fields and the page's links do not ask for it again."""
    default = {"mode": "hybrid", "sort": None, "target": "cases"}
    param = getattr(error, "param", None)
    return {**p, param: default[param]} if param in default else p


def _page(datasette, engine, found, error: QueryError | None, p: dict, request, database: str) -> dict:
    """The search page's context, and its main part rendered (see _body_template)."""
    p = _settled(p, error)
    state = {"q": p["q"], "target": p["target"] if p["target"] != "cases" else None,
             "mode": p["mode"] if p["mode"] != "hybrid" else None, "sort": p["sort"], "spelling": p["spelling"],
             **p["filters"],
             "min_savings": request.args.get("min_savings"), "max_savings": request.args.get("max_savings")}
    base = datasette.urls.path("/-/search")
    json_url = _url(datasette.urls.path("/-/search.json"), state)
    blocks, chips = _facet_blocks(engine, found, p["filters"], state, base) if engine else ([], [])
    for bound, words in (("min_savings", "at least"), ("max_savings", "at most")):
        if request.args.get(bound):
            chips.append({"label": f"Achieved yearly saving {words} {_amount_words(request.args.get(bound))}",
                          "href": _url(base, _without(state, bound))})
    total = found.total if found else 0
    narrowing = _narrowing(engine, found, p["filters"], state, base) if engine else []

    def count_with(filters: dict) -> int:
        """How many results the same search leaves with these filters."""
        return engine.search(p["q"], mode=p["mode"], target=p["target"], filters=filters,
                             min_savings=_number(request, "min_savings"), max_savings=_number(request, "max_savings"),
                             limit=1, with_facets=False, sort=p["sort"], spelling=p["spelling"] != "off").total
    results = []
    for n, r in enumerate(found.results if found else []):
        item = dict(r.as_dict(), rank=(p["page"] - 1) * PAGE_SIZE + n + 1)
        item["passage_html"] = mentions.name_cases_in_passage(engine.db_path, item.get("passage_html"))
        card = item.get("card") or {}
        item["years"] = present.years(card.get("year_start"), card.get("year_end")) if card else ""
        item["why"] = "" if found.browse else why_listed(r.matched_by, item["passage_html"])
        item["source_by"] = present.source_by(engine.db_path, r.source_id) if r.source_id and not r.case_id else ""
        item["href"] = _lesson_href(datasette, database, p["target"], r) or None
        # "lesson 2", "finding 19": which of its case's or report's, for the link's name
        item["place"] = r.id.split("#", 1)[1].replace("-", " ") if p["target"] != "cases" and "#" in r.id else ""
        results.append(item)
    sort = found.sort if found else (p["sort"] or "relevance")
    sorts = [s for s in SORTS if not (found and found.browse and s == "relevance")]
    noun = TARGET_NOUNS.get(p["target"], ("result", "results"))
    pages = max(1, -(-total // PAGE_SIZE))
    context = {
        "q": p["q"], "mode": p["mode"], "target": p["target"], "modes": MODES, "mode_labels": MODE_LABELS,
        "error": _error_words(engine, error) if error else None,
        "ways_out": _ways_out(engine, error, state, base) if error else [],
        "results": results, "total": total, "close_total": found.close_total if found else 0,
        "browse": found.browse if found else not p["q"], "rule": found.rule if found else "",
        "rule_words": MODE_RULES.get(p["mode"], "").format(one=noun[0], many=noun[1], n=SEMANTIC_NEIGHBOURS),
        "by_words": any("keyword" in r.matched_by for r in (found.results if found else [])),
        "noun": noun[0] if total == 1 else noun[1], "nouns": noun,
        "facets": blocks, "chips": chips,
        "narrowing": narrowing,
        "savings_offer": _savings_offer(found, state, base) if engine else None,
        "narrowing_together": _together(narrowing, p["filters"], state, base, count_with) if narrowing else None,
        "clear_url": _url(base, {"q": p["q"], "target": state["target"], "mode": state["mode"], "sort": p["sort"],
                                 "spelling": p["spelling"]}),
        "min_savings": request.args.get("min_savings") or "", "max_savings": request.args.get("max_savings") or "",
        "page": p["page"], "pages": pages, "start": (p["page"] - 1) * PAGE_SIZE + 1,
        # a page past the last (an old link, a typed address) says so and leads back to the last one
        "past_end": bool(total) and p["page"] > pages,
        "last_url": _url(base, state, page=pages if pages > 1 else None),
        "sort": sort, "sort_param": p["sort"] or "", "spelling_param": p["spelling"] or "",
        # the query searched, when misspelt words were corrected; and the links between the two
        "corrected_q": found.query if found and found.corrected_from else None,
        "corrections": found.corrections if found and found.corrected_from else [],
        # what the correction was: misspelt words, shorthand written out ("cllrs"), or both
        "spelling_fixed": bool(found and found.corrected_from and len(found.shorthand) < len(found.corrections)),
        "shorthand_fixed": bool(found and found.corrected_from and found.shorthand),
        "as_typed_url": _url(base, state, spelling="off", page=None) if found and found.corrected_from else None,
        "suggestion": found.suggestion if found else None,
        "excluded": found.excluded if found else [],
        "set_aside": found.set_aside if found else [],
        "shortened": _shortened(found),
        "unquoted": found.unquoted if found else [],
        "paste_chars": PASTE_CHARS,
        "suggestion_url": _url(base, {**state, "q": found.suggestion, "spelling": None}, page=None)
        if found and found.suggestion else None,
        "sorts": [{"key": s, "label": SORT_LABELS[s], "href": _url(base, state, sort=s)} for s in sorts],
        "sort_label": SORT_LABELS.get(sort, sort),
        # a search by words alone (or by meaning alone) that finds nothing is offered the two together
        "hybrid_url": _url(base, {**state, "mode": None}, page=None) if p["mode"] != "hybrid" and p["q"] else None,
        "other_target": {"label": "lessons" if p["target"] == "cases" else "case studies",
                         # lessons take their case's facets, so every filter and the range mean the same there;
                         # without the input a search could not run with (it would fail there too)
                         "href": _url(base, {**(_without(state, error.param, error.value) if _at_fault(error) else state),
                                             "target": "lessons" if p["target"] == "cases" else None, "sort": None})},
        "json_url": json_url,
        # the page's JSON named in its head, as Datasette's own pages name theirs (base.html)
        "alternate_url_json": json_url,
        "csv_url": _url(datasette.urls.path("/-/search.csv"), state),
        "next_url": _url(base, state, page=p["page"] + 1) if total > p["page"] * PAGE_SIZE else None,
        "prev_url": _url(base, state, page=p["page"] - 1 if p["page"] > 2 else None) if p["page"] > 1 else None,
        "compare_url": datasette.urls.path("/-/compare"),
        # the search itself, so that the comparison leads back to it, not to an empty search
        "compare_back": _url("", state, page=p["page"] if p["page"] > 1 else None).lstrip("?"),
        "database": database,
        "selected_count": sum(len(v) for v in p["filters"].values()) + bool(state["min_savings"]) + bool(state["max_savings"]),
    }
    context["body_html"] = Markup(_body_template(datasette).render(context))
    return context


def _shortened(found) -> dict | None:
    """What a search too long to read whole says of the part searched: its length as typed, the
    characters searched and the words it ends with."""
    if not found or not found.shortened_from:
        return None
    words = found.query.split()
    return {"typed": found.shortened_from, "searched": len(found.query),
            "ends": ("… " if len(words) > 8 else "") + " ".join(words[-8:])}


def why_listed(matched_by: list[str], passage_html: str) -> str:
    """Why a result is on the list, in words (highlighting alone is lost on a screen reader and says
    nothing of a result found by meaning): the words of the search in its passage, words of the search
    elsewhere in it, or its meaning alone. A result ranked by meaning may still show words of the
    search highlighted (words too common in the query to rank by): then it is not "not by your words"."""
    if not matched_by:
        return ""
    seen: dict[str, str] = {}
    for word in MARKED.findall(passage_html or ""):
        word = html_unescape(re.sub(r"<[^>]+>", "", word)).strip()
        if word and word.lower() not in seen:
            seen[word.lower()] = word
    words = list(seen.values())
    quoted = ", ".join(f"\u201c{w}\u201d" for w in words[:8]) + (" and more" if len(words) > 8 else "")
    if "keyword" not in matched_by:
        return f"Found by meaning; it also has words of your search: {quoted} (highlighted)." if words else \
            "Found by meaning, not by your words."
    if not words:
        return "Has words of your search outside the passage shown."
    return f"Has words of your search: {quoted} (highlighted)."


def _body_template(datasette):
    """The page's main part (results and filters, templates/_kb_search_body.html) as a template of
    an ordinary Jinja environment with Datasette's loader, filters and globals: rendered on a worker
    thread, in a third of the time Datasette's async environment takes, off the event loop."""
    if datasette not in _BODY:
        env = Environment(loader=datasette.jinja_env.loader, autoescape=True)
        env.filters.update(datasette.jinja_env.filters)
        env.globals.update(datasette.jinja_env.globals)
        _BODY[datasette] = env.get_template("_kb_search_body.html")
    return _BODY[datasette]


async def search_view(request, datasette):
    fmt = request.url_vars.get("format") or "html"
    error = None
    found = None
    database = ""
    engine = None
    db = None
    p = _params(request, [])
    loop = asyncio.get_running_loop()
    try:
        db = _kb_database(datasette)
        database = db.name
        engine = _engine(db)
        p = _params(request, list(engine.facets))
        # a filter value given by a name or label ("district", "London") is the term's code from here on:
        # its chip, its ticked box, the page's links and the JSON's echo all showed it as typed
        p["filters"] = engine.check_filters(p["filters"])
        min_savings, max_savings = _number(request, "min_savings"), _number(request, "max_savings")
        export = fmt in ("json", "csv")
        limit, offset = (EXPORT_LIMIT, 0) if export else (PAGE_SIZE, (p["page"] - 1) * PAGE_SIZE)
        found = await loop.run_in_executor(_WORKERS, lambda: engine.search(
            p["q"], mode=p["mode"], target=p["target"], filters=p["filters"], min_savings=min_savings,
            max_savings=max_savings, limit=limit, offset=offset, with_facets=not fmt == "csv", sort=p["sort"],
            spelling=p["spelling"] != "off"))
    except QueryError as err:
        error = err
    # the rest of the request counts as a search in flight, so a search beside it keeps to one core
    with engine.occupied() if engine else contextlib.nullcontext():
        return await _respond(datasette, request, fmt, db, database, engine, found, error, p)


async def _respond(datasette, request, fmt, db, database, engine, found, error, p) -> Response:
    """The search's answer as JSON, CSV or the page."""
    loop = asyncio.get_running_loop()
    if fmt in ("json", "csv"):
        rows = await _export_rows(datasette, db, found, request) if found else []
        if fmt == "json":
            tags = await _tags(db, engine, found) if found else {}
            # a value a result does not have is null, as in the tables' JSON (the CSV leaves it empty)
            results = [{**{k: (None if v == "" else v) for k, v in row.items()}, **r.as_dict(), "passage": row["passage"],
                        "passage_html": mentions.name_cases_in_passage(db.path, r.passage_html),
                        "tags": tags.get(r.id, {})}
                       for r, row in zip(found.results, rows)] if found else []
            error = str(error) if error else None
            body = {"query": p["q"], "corrected_query": found.query if found and found.corrected_from else None,
                    "corrections": [{"typed": a, "corrected": b, "shorthand": a in found.shorthand}
                                    for a, b in found.corrections] if found else [],
                    "suggested_query": found.suggestion if found else None,
                    "mentions": [{"facet": c, "value": v} for c, v in found.named] if found else [],
                    "excluded": found.excluded if found else [],
                    "set_aside": found.set_aside if found else [],
                    "shortened": _shortened(found),
                    "unquoted": found.unquoted if found else [],
                    "savings_asked": _savings_asked(found),
                    "mode": p["mode"], "target": p["target"], "filters": p["filters"],
                    # the range on the achieved yearly saving the request asked for (not a facet)
                    **{name: _number_or_none(request, name) for name in ("min_savings", "max_savings")},
                    "sort": found.sort if found else p["sort"], "browse": found.browse if found else not p["q"],
                    "total": found.total if found else 0, "close_total": found.close_total if found else 0,
                    "rule": found.rule if found else None, "results": results,
                    "facets": found.facet_counts if found else {}, "error": error}
            return Response.json(body, status=400 if error else 200)
        if error:
            return Response.text(f"error: {error}\n", status=400)
        return present.csv_response(rows, LESSON_COLUMNS if found and found.target == "lessons" else EXPORT_COLUMNS,
                                    "search-results.csv")
    context = await loop.run_in_executor(_WORKERS, _page, datasette, engine, found, error, p, request, database)
    html = await datasette.render_template("kb_search.html", context, request=request)
    return Response.html(html, status=400 if error else 200)


async def _tags(db, engine, found) -> dict[str, dict]:
    """Each result's codes for every facet, keyed by column as `facets` is, so that a program can tell
    which results a facet value counts (the words of the other columns are labels, for reading)."""
    table = "cases" if found.target == "cases" else "lessons"
    columns = [c for c in engine.facets if c in engine.index(found.target).masks]  # the facets the table holds
    ids = [r.id for r in found.results]
    if not columns or not ids:
        return {}
    out = {}
    for start in range(0, len(ids), 500):  # SQLite's limit on one statement's parameters
        part = ids[start:start + 500]
        rows = (await db.execute(f"select id, {', '.join(columns)} from {table} where id in ({','.join('?' * len(part))})",
                                 part)).rows
        for row in rows:
            out[row[0]] = {c: present.as_list(row[c]) for c in columns}
    return out


def _lesson_href(datasette, database: str, target: str, r) -> str:
    """A case's page; a lesson's place on its case's page (case#lesson-2) or a finding's on its
    report's (#finding-3), as its id names it, so that it can be followed and cited."""
    if target == "cases":
        return datasette.urls.row(database, "cases", r.id)
    anchor = "#" + r.id.split("#", 1)[1] if "#" in r.id else ""
    if r.case_id:
        return datasette.urls.row(database, "cases", r.case_id) + anchor
    return datasette.urls.row(database, "sources", r.source_id) + anchor if r.source_id else ""


@hookimpl
def register_routes():
    return [(r"^/-/search(\.(?P<format>json|csv))?$", search_view)]


@hookimpl
def menu_links(datasette):
    return [{"href": datasette.urls.path("/-/search"), "label": "Search cases and lessons"}]
