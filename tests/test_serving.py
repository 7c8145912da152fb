"""A server reads the build it started with until it restarts (kb.site.pin)."""
import os
import sqlite3

from kb.site import pin


def test_pinned_database_survives_a_rebuild_and_stale_links_are_removed(tmp_path):
    db = tmp_path / "kb.db"
    sqlite3.connect(db).execute("create table t (v)").connection.commit()
    link = pin(db)
    assert link != db and link.name == "kb.db" and os.path.samefile(link, db)
    # a rebuild swaps a new file in under the same name
    new = tmp_path / "kb.db.tmp"
    conn = sqlite3.connect(new)
    conn.execute("create table t2 (v)")
    conn.commit()
    conn.close()
    os.replace(new, db)
    assert [r[0] for r in sqlite3.connect(link).execute("select name from sqlite_master")] == ["t"]
    # a link whose server is gone is removed by the next pin
    dead = tmp_path / ".kb-serving" / "999999999" / "kb.db"
    dead.parent.mkdir()
    os.link(db, dead)
    pin(db)
    assert not dead.exists() and link.exists()


def test_several_workers_serve_the_same_site_and_stop_together(corpus_db):
    """`kb serve --workers 2`: two processes share the port, each answers the search page as the
    single server does (its engine loaded before it takes a request), and terminating the server
    stops them all."""
    import json
    import time
    import urllib.request

    from tests.live_server import alive, processes, running_server

    with running_server(corpus_db, workers=2) as (base, proc):
        children = [p for p in processes(proc.pid) if p != proc.pid]
        assert len(children) >= 2, children  # uvicorn's supervisor and its two workers
        answers = []
        for _ in range(12):  # each a new connection: the kernel hands them to either worker
            with urllib.request.urlopen(base + "/-/search.json?q=bin+collections", timeout=30) as response:
                answers.append(json.load(response))
        assert {a["results"][0]["id"] for a in answers} == {answers[0]["results"][0]["id"]}
        with urllib.request.urlopen(base + "/-/search?q=bin+collections", timeout=30) as response:
            assert response.status == 200 and b"<mark>" in response.read()
        proc.terminate()
        proc.wait(timeout=30)
        # they end on their own (the server's teardown would kill any left)
        deadline = time.monotonic() + 10
        while alive(children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(children)


def test_each_worker_spreads_a_search_over_its_share_of_the_cores(corpus_db, monkeypatch):
    """With N workers, a search running alone in one of them spreads over the cores divided among
    them (a worker that took both cores slowed the other's searches), unless KB_SEARCH_CORES says."""
    from click.testing import CliRunner

    import kb.cli
    from kb.cli import cli
    from tests.live_server import free_port

    for name in ("KB_SERVE_ARGS", "DATASETTE_SECRET"):  # what kb serve sets for its workers, unset again after
        monkeypatch.delenv(name, raising=False)
    started = []
    monkeypatch.setattr(os, "execv", lambda path, args: started.append((args, dict(os.environ))))
    monkeypatch.setattr(kb.cli, "usable_cores", lambda: 4)
    for asked, cores in ((None, "2"), ("3", "3")):
        if asked:
            monkeypatch.setenv("KB_SEARCH_CORES", asked)
        else:
            monkeypatch.delenv("KB_SEARCH_CORES", raising=False)
        result = CliRunner().invoke(cli, ["serve", "--db", str(corpus_db), "--port", str(free_port()), "--workers", "2"])
        assert result.exit_code == 0, result.output
        args, env = started[-1]
        assert args[1:4] == ["-m", "uvicorn", "kb.served:app"] and args[args.index("--workers") + 1] == "2"
        assert env["KB_SEARCH_CORES"] == cores
    monkeypatch.delenv("KB_SEARCH_CORES", raising=False)
    CliRunner().invoke(cli, ["serve", "--db", str(corpus_db), "--port", str(free_port())])
    assert started[-1][0][1:3] == ["-m", "datasette"] and "KB_SEARCH_CORES" not in started[-1][1]
