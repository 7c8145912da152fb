"""Rebuilding kb.db while the site serves it: every response comes from one build (the one the server
started with, until it is restarted), no search result links to a missing page, and removing the
file changes nothing either."""
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from ingest.build import build

from .conftest import STAND_IN
from .live_server import running_server

SECOND = " (second build)"


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


def make_corpus(root):
    """Three cases; the second build drops case-c, adds case-d and retitles every case."""
    good = (root / "cases" / "brighton-hove-reablement.md").read_text(encoding="utf-8")
    for name in ("case-b", "case-c"):
        (root / "cases" / f"{name}.md").write_text(copy_of(good, name), encoding="utf-8")
    return good


def copy_of(good, name):
    """The fixture as another case: its own id and title (titles must differ)."""
    return good.replace("id: brighton-hove-reablement", f"id: {name}").replace(
        "title: Brighton and Hove", f"title: Case {name[-1].upper()} - Brighton and Hove", 1)


def second_build(root, good):
    (root / "cases" / "case-c.md").unlink()
    (root / "cases" / "case-d.md").write_text(copy_of(good, "case-d"), encoding="utf-8")
    for path in (root / "cases").glob("*.md"):
        text = path.read_text(encoding="utf-8")
        title = next(line for line in text.splitlines() if line.startswith("title: "))
        path.write_text(text.replace(title, title + SECOND, 1), encoding="utf-8")


def wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.slow
def test_rebuild_while_serving_never_mixes_builds(small_root, tmp_path):
    good = make_corpus(small_root)
    db = tmp_path / "kb.db"
    build(small_root, db, model=STAND_IN, progress=False)
    seen, errors, broken = [], [], []
    stop = threading.Event()

    with running_server(db) as (base, _):
        def client(mode):
            while not stop.is_set():
                status, text = fetch(f"{base}/-/search.json?" + urllib.parse.urlencode({"q": "reablement older people", "mode": mode}))
                if status != 200:
                    errors.append(("search", status, text[:200]))
                    continue
                results = json.loads(text)["results"]
                seen.append(("search", tuple(sorted(r["title"] for r in results))))
                for r in results:
                    status, page = fetch(f"{base}/kb/cases/{r['id']}.json?_shape=array")
                    if status != 200:
                        broken.append((r["id"], status))
                        continue
                    seen.append(("page", json.loads(page)[0]["title"]))
                status, text = fetch(f"{base}/kb/cases.json?_shape=array&_col=title")
                seen.append(("table", tuple(sorted(r["title"] for r in json.loads(text)))))

        threads = [threading.Thread(target=client, args=(mode,)) for mode in ("keyword", "hybrid", "keyword")]
        for t in threads:
            t.start()
        # wait on the requests, not the clock: a first search warms the engine, slowly on a busy machine
        wait_for(lambda: len(seen) > 10)
        before = len(seen)
        second_build(small_root, good)
        build(small_root, db, model=STAND_IN, progress=False)  # swapped in under the running server
        wait_for(lambda: len(seen) > before + 10)
        stop.set()
        for t in threads:
            t.join(60)
        after = len(seen) - before
        # the server keeps the build it started with, even once the file is gone
        (tmp_path / "kb.db").rename(tmp_path / "moved.db")
        status, text = fetch(f"{base}/kb/cases.json?_shape=array&_col=id")
        served = sorted(r["id"] for r in json.loads(text))
        for path in ("/kb/cases/case-c.json", "/-/search.json?q=reablement&mode=keyword", "/"):
            status, page = fetch(base + path)
            assert status == 200 and str(tmp_path) not in page, (path, status, page[:300])
        (tmp_path / "moved.db").rename(tmp_path / "kb.db")

    assert errors == [] and broken == [], (errors[:5], broken[:5])
    assert before > 10 and after > 10, (before, after)  # requests really ran before and after the swap
    assert not any(SECOND in str(item) for item in seen), [item for item in seen if SECOND in str(item)][:5]
    assert served == ["brighton-hove-reablement", "case-b", "case-c"]
    # and a restart serves the new build whole
    with running_server(db) as (base, _):
        status, text = fetch(f"{base}/-/search.json?q=reablement&mode=keyword")
        titles = [r["title"] for r in json.loads(text)["results"]]
        assert titles and all(t.endswith(SECOND) for t in titles)
        assert fetch(f"{base}/kb/cases/case-d.json")[0] == 200 and fetch(f"{base}/kb/cases/case-c.json")[0] == 404


def test_a_patched_database_shrinks_again_when_a_change_left_much_of_it_empty(small_root, tmp_path):
    """A patched copy keeps its layout, so a huge case taken out again left the database 10.8 -> 14.2 MB."""
    case = small_root / "cases" / "brighton-hove-reablement.md"
    good = case.read_text(encoding="utf-8")
    db = tmp_path / "kb.db"
    build(small_root, db, model=STAND_IN, progress=False)
    first = db.stat().st_size
    huge = " ".join(f"In stage {n} the council extended the service to more of its residents." for n in range(1500))
    case.write_text(good.replace("## Context\n", f"## Context\n\n{huge}\n", 1), encoding="utf-8")
    build(small_root, db, model=STAND_IN, progress=False)
    assert db.stat().st_size > 1.3 * first
    case.write_text(good, encoding="utf-8")
    build(small_root, db, model=STAND_IN, progress=False)
    assert db.stat().st_size < 1.1 * first
