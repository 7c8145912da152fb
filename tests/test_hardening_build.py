"""`kb build` under bad luck and bad arguments: it replaces only a database it wrote, never anything
under cases/ or sources/, one build at a time, cleans up after killed builds, and says in one line
what went wrong, leaving the previous database as it was."""
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

from ingest.build import DatabaseNotChanged, build
from kb import ROOT
from kb.cli import cli

from .conftest import STAND_IN, HashEmbedder


def kb_build(root, *args):
    return CliRunner().invoke(cli, ["--root", str(root), "build", "--quiet", "--model", STAND_IN, *args])


def one_line_refusal(result, *words):
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith("Build stopped: ") and lines[0].endswith("the database was not changed."), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("target", ["an unrelated file", "a case file", "a source file", "a link to a database",
                                    "a named pipe", "a device", "a folder"])
def test_build_never_replaces_what_it_did_not_write(small_root, tmp_path, target):
    good = tmp_path / "good.db"
    if target == "a link to a database":
        build(small_root, good, progress=False, embedder=HashEmbedder())
    case = small_root / "cases" / "brighton-hove-reablement.md"
    path, expected = {
        "an unrelated file": (tmp_path / "notes.txt", "exists and is not a database `kb build` wrote - choose another --db, or add --force"),
        "a case file": (case, "is inside cases/, where the case files live"),
        "a source file": (small_root / "sources" / "dclg-2014-good-practice-savings.md", "is inside sources/, where the source files live"),
        "a link to a database": (tmp_path / "link.db", "is a symbolic link"),
        "a named pipe": (tmp_path / "pipe.db", "is not a regular file"),
        "a device": (tmp_path / "null.db", "is not a regular file"),
        "a folder": (tmp_path / "folder.db", "is a folder"),
    }[target]
    if target == "an unrelated file":
        path.write_text("my notes")
    elif target == "a link to a database":
        path.symlink_to(good)
    elif target == "a named pipe":
        os.mkfifo(path)
    elif target == "a device":
        path = __import__("pathlib").Path("/dev/null")
        expected = "is not a regular file"
    elif target == "a folder":
        path.mkdir()
    before = {p: p.read_bytes() for p in (case, good) if p.is_file()}
    if path.is_file() and not path.is_symlink():
        before[path] = path.read_bytes()
    line = one_line_refusal(kb_build(small_root, "--db", str(path)), expected)
    assert str(path) in line or target == "a case file"
    for p, content in before.items():
        assert p.read_bytes() == content
    if target in ("a case file", "a source file"):  # not even with --force
        one_line_refusal(kb_build(small_root, "--db", str(path), "--force"), "is inside")
        assert all(p.read_bytes() == c for p, c in before.items())


def test_force_replaces_an_unrelated_regular_file(small_root, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("my notes")
    result = kb_build(small_root, "--db", str(path), "--force")
    assert result.exit_code == 0, result.output
    assert sqlite3.connect(path).execute("select count(*) from cases").fetchone() == (1,)


def test_a_case_folder_reached_through_a_link_is_still_refused(small_root, tmp_path):
    (tmp_path / "alias").symlink_to(small_root / "cases")
    one_line_refusal(kb_build(small_root, "--db", str(tmp_path / "alias" / "kb.db"), "--force"), "is inside cases/")
    assert sorted(p.name for p in (small_root / "cases").iterdir()) == ["brighton-hove-reablement.md"]


@pytest.mark.parametrize("arg, expected", [
    ("", "--db: no file name given - give a file name such as kb.db"),
    ("newdir/", "newdir/: names a folder, not a file - give a file inside it, such as newdir/kb.db"),
    ("missing/kb.db", "does not exist - create it first, or choose another --db"),
    ("/sys/kb.db", "writable"),  # a folder even root cannot write in
])
def test_bad_db_paths_get_one_line(small_root, tmp_path_factory, monkeypatch, arg, expected):
    cwd = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(cwd)
    one_line_refusal(kb_build(small_root, "--db", arg), expected)
    assert sorted(os.listdir(cwd)) == []


@pytest.mark.slow
def test_full_disk_leaves_the_previous_database(small_root, tmp_path):
    """A real write failure: the child may write files of at most 64 KB (RLIMIT_FSIZE), as a full disk."""
    out = tmp_path / "kb.db"
    build(small_root, out, progress=False, embedder=HashEmbedder())
    before = out.read_bytes()
    code = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))
        from kb.cli import cli
        cli(["--root", {str(small_root)!r}, "build", "--quiet", "--model", "hash:16", "--db", {str(out)!r}])
    """)
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert child.returncode == 1, child.stderr
    assert child.stderr.strip().splitlines() == [child.stderr.strip()], child.stderr
    assert "could not write the new database" in child.stderr and "free some disk space" in child.stderr
    assert child.stderr.strip().endswith("the database was not changed.")
    assert out.read_bytes() == before
    assert temporaries(tmp_path) == []


SLOW_BUILD = textwrap.dedent("""
    import pathlib, sys, time
    from ingest import build as b
    root, out, started, go = sys.argv[1:5]
    similar = b._write_similar
    def slow(*args):
        pathlib.Path(started).write_text("writing")
        while not pathlib.Path(go).exists():
            time.sleep(0.02)
        return similar(*args)
    b._write_similar = slow
    from kb.cli import cli
    cli(["--root", root, "build", "--quiet", "--model", "hash:16", "--db", out])
""")


def slow_build(root, out, tmp_path):
    """A child `kb build` that stops half-way (inside the similar-cases step) until told to go on."""
    started, go = tmp_path / "started", tmp_path / "go"
    started.unlink(missing_ok=True)
    go.unlink(missing_ok=True)
    child = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, str(root), str(out), str(started), str(go)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 60
    while not started.exists():
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline, "the child build never reached its slow step"
        time.sleep(0.02)
    return child, go


def temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


@pytest.mark.slow
def test_one_build_at_a_time(small_root, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    out = work / "kb.db"
    child, go = slow_build(small_root, out, tmp_path)
    try:
        line = one_line_refusal(kb_build(small_root, "--db", str(out)),
                                f"another build of this database is running (process {child.pid}) - wait for it to finish")
        assert not out.exists()
    finally:
        go.write_text("go")
        _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert sqlite3.connect(out).execute("select count(*) from cases").fetchone() == (1,)
    assert kb_build(small_root, "--db", str(out)).exit_code == 0  # the lock is free again


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_cleans_up_and_keeps_the_old_database(small_root, tmp_path, sig):
    work = tmp_path / "work"
    work.mkdir()
    out = work / "kb.db"
    build(small_root, out, progress=False, embedder=HashEmbedder())
    before = out.read_bytes()
    child, go = slow_build(small_root, out, tmp_path)
    assert len(temporaries(work)) == 1
    child.send_signal(sig)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert err.strip() == f"Build stopped (stopped by {sig.name}); {out} was not changed."
    assert out.read_bytes() == before and temporaries(work) == []


@pytest.mark.slow
def test_a_killed_build_leaves_a_temporary_file_that_the_next_build_removes(small_root, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    out = work / "kb.db"
    build(small_root, out, progress=False, embedder=HashEmbedder())
    before = out.read_bytes()
    left = []
    for _ in range(3):
        child, _ = slow_build(small_root, out, tmp_path)
        child.kill()  # kill -9: no clean-up can run
        child.communicate(timeout=60)
        left.append(temporaries(work))
    # each build removed the file the previous killed one left, and left its own
    assert [len(names) for names in left] == [1, 1, 1] and len({n[0] for n in left}) == 3
    assert out.read_bytes() == before
    assert sqlite3.connect(out).execute("select count(*) from cases").fetchone() == (1,)
    build(small_root, out, progress=False, embedder=HashEmbedder())
    assert temporaries(work) == []


def test_build_api_raises_the_same_refusal(small_root, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("my notes")
    with pytest.raises(DatabaseNotChanged) as refused:
        build(small_root, path, progress=False, embedder=HashEmbedder())
    assert refused.value.fix == "choose another --db, or add --force to replace it"
    assert path.read_text() == "my notes"


@pytest.mark.parametrize("setup, expected", [
    ("missing", "does not exist - run `kb build` first, or give --db PATH"),
    ("unrelated", "is not a database `kb build` wrote"),
    ("port", "cannot listen there"),
])
def test_kb_serve_refuses_in_one_line(small_root, tmp_path, setup, expected):
    import socket

    db = tmp_path / "kb.db"
    args = ["serve", "--db", str(db)]
    if setup == "unrelated":
        db.write_text("not a database")
    if setup == "port":
        build(small_root, db, progress=False, embedder=HashEmbedder())
        busy = socket.create_server(("127.0.0.1", 0))
        args += ["--port", str(busy.getsockname()[1])]
    try:
        result = CliRunner().invoke(cli, args)
    finally:
        if setup == "port":
            busy.close()
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr, result.output


def test_a_model_that_cannot_be_loaded_gets_one_line(small_root, tmp_path):
    db = tmp_path / "kb.db"
    result = CliRunner().invoke(cli, ["--root", str(small_root), "build", "--quiet", "--db", str(db),
                                      "--model", str(tmp_path / "no-such-model")])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    line, = result.stderr.strip().splitlines()
    assert line.startswith(f"Build stopped: cannot load the embedding model '{tmp_path / 'no-such-model'}'"), line
    assert "leave out --model and KB_MODEL" in line and line.endswith("was not changed.")
    assert not db.exists()


def test_root_given_is_where_the_database_is_by_default(small_root, tmp_path_factory, monkeypatch):
    """`kb --root DIR build` run from another folder wrote ./kb.db there, and `kb --root DIR serve` or
    `search` looked for ./kb.db, while `kb validate` looked in DIR (a publisher's review)."""
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert kb_build(small_root).exit_code == 0
    assert (small_root / "kb.db").is_file() and os.listdir(".") == []
    result = CliRunner().invoke(cli, ["--root", str(small_root), "search", "reablement", "--json"])
    assert result.exit_code == 0, result.output
