"""Search's arrays saved beside the database (kb/arrays.py) rank exactly as the database read afresh,
and are used only for the very file they came from: a stale, damaged or unwritable copy is passed
over, and the engine reads the database instead."""
import json
import os
import shutil
import sqlite3

import numpy as np
import pytest

from ingest.build import build
from kb import arrays
from kb.site import pin
from search.engine import Engine, save_arrays

QUERIES = ["", "reablement for older people", "shared back office services", "council tax"]
FILTERS = [None, {"council_types": ["district-council", "unitary-authority"]}]


@pytest.fixture
def db(tree, tmp_path):
    out = tmp_path / "site" / "kb.db"
    out.parent.mkdir()
    build(tree, out, model="hash:384", progress=False)
    return out


def _results(engine: Engine, targets=("cases", "lessons")) -> list:
    found = []
    for target in targets:
        for query in QUERIES:
            for mode in ("hybrid", "keyword", "semantic"):
                for filters in FILTERS:
                    for sort in ("relevance", "saving", "year"):
                        r = engine.search(query, mode=mode, target=target, filters=filters, limit=30, sort=sort,
                                          with_facets=True)
                        found.append(([(x.id, x.score, x.close, x.passage, x.case_id, x.source_id) for x in r.results],
                                      r.total, r.close_total, r.facet_counts))
    return found


def _mapped(array: np.ndarray) -> bool:
    while array is not None:
        if isinstance(array, np.memmap):
            return True
        array = array.base if isinstance(array.base, np.ndarray) else None
    return False


def _loaded(engine: Engine) -> list:
    return [engine.index(t) for t in ("cases", "lessons")]


def _parts(db) -> list[str]:
    root = arrays.folder(db)
    return sorted(f"{k.name}/{p.name}" for k in root.iterdir() for p in k.iterdir()) if root.is_dir() else []


def _same_index(a, b) -> None:
    assert (a.ids, a.titles, a.links, a.model, a.precision, a.dims) == (b.ids, b.titles, b.links, b.model,
                                                                         b.precision, b.dims)
    for name in ("rowid_to_index", "savings", "years", "chunk_doc", "chunk_rowid", "vectors", "scales", "doc_vectors",
                 "doc_scales", "doc_with_chunks", "chunk_start", "chunk_count"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
    assert list(a.masks) == list(b.masks)
    for column in a.masks:
        assert list(a.masks[column]) == list(b.masks[column])
        assert np.array_equal(a.value_matrix[column], b.value_matrix[column])
        assert np.array_equal(a.value_bits[column], b.value_bits[column])


@pytest.mark.parametrize("vectors", ["exact", "int8"])
def test_an_engine_from_saved_arrays_ranks_as_one_reading_the_database(db, vectors):
    fresh = Engine(db, vectors=vectors, arrays=False)
    assert not any(_mapped(col.vectors) for col in _loaded(fresh)) and _parts(db) == []
    writer = Engine(db, vectors=vectors)  # reads the database and saves the arrays
    _loaded(writer)
    precision = "float32" if vectors == "exact" else "int8"
    assert [p.split("/")[1] for p in _parts(db)] == [f"cases-{precision}", f"lessons-{precision}"]
    saved = Engine(db, vectors=vectors)
    for a, b in zip(_loaded(fresh), _loaded(saved)):
        assert _mapped(b.vectors) and _mapped(b.chunk_doc) and _mapped(b.value_matrix["services"])
        assert b.precision == precision
        _same_index(a, b)
        # nothing may write into the arrays, mapped from the files or read afresh
        assert not b.vectors.flags.writeable and not a.vectors.flags.writeable
    expected = _results(fresh)
    assert _results(saved) == expected
    assert _results(writer) == expected


def test_saved_arrays_of_another_build_are_passed_over_and_a_rebuild_removes_them(db, tree):
    _loaded(Engine(db))
    before = _parts(db)
    assert len(before) == 2
    old = arrays.folder(db).with_name("kept")
    shutil.copytree(arrays.folder(db), old)
    case = sorted((tree / "cases").glob("*.md"))[0]
    case.write_text(case.read_text(encoding="utf-8").replace("## Challenges\n\n", "## Challenges\n\n- A new one.\n", 1),
                    encoding="utf-8")
    report = build(tree, db, model="hash:384", progress=False)
    assert not report.unchanged and _parts(db) == []  # the rebuild removed the previous file's arrays
    # the previous build's arrays put back, and even renamed to the new file's key: never used
    shutil.rmtree(arrays.folder(db))
    shutil.copytree(old, arrays.folder(db))
    key = arrays.file_key(db, arrays.build_id(sqlite3.connect(db)))
    (arrays.folder(db) / before[0].split("/")[0]).rename(arrays.folder(db) / key)
    expected = _results(Engine(db, arrays=False))
    assert _results(Engine(db)) == expected
    saved = Engine(db)
    assert all(_mapped(col.vectors) for col in _loaded(saved))  # saved again, for this build
    assert _results(saved) == expected
    assert {p.split("/")[0] for p in _parts(db)} == {key}


def test_an_engine_left_on_a_replaced_file_keeps_to_it_and_leaves_the_new_file_s_arrays(db, tree):
    expected = _results(Engine(db, arrays=False), ["lessons"])
    old = Engine(db)
    old.index("cases")
    for case in sorted((tree / "cases").glob("*.md"))[:2]:  # more than a patch takes: written afresh
        case.write_text(case.read_text(encoding="utf-8").replace("## Lessons\n\n", "## Lessons\n\n- A new lesson.\n", 1),
                        encoding="utf-8")
    build(tree, db, model="hash:384", progress=False)
    _loaded(Engine(db))
    new = _parts(db)
    assert _results(old, ["lessons"]) == expected  # its own file's lessons, read from it
    assert _parts(db) == new


def test_a_patched_rebuild_gets_arrays_of_its_own(db, tree):
    _loaded(Engine(db))
    case = sorted((tree / "cases").glob("*.md"))[4]
    case.write_text(case.read_text(encoding="utf-8").replace("## Challenges\n\n", "## Challenges\n\n- A new one.\n", 1),
                    encoding="utf-8")
    assert build(tree, db, model="hash:384", progress=False).patched == 1
    assert _parts(db) == []
    expected = _results(Engine(db, arrays=False))
    _loaded(Engine(db))
    assert _results(Engine(db)) == expected


def test_a_database_changed_in_place_is_not_served_its_old_arrays(db):
    _loaded(Engine(db))
    conn = sqlite3.connect(db)
    conn.execute("update cases set achieved_annual_saving_gbp = 1 where rowid = 1")
    conn.commit()
    conn.close()
    fresh = Engine(db, arrays=False)
    assert _results(Engine(db), ["cases"]) == _results(fresh, ["cases"])
    assert Engine(db).index("cases").savings[0] == 1


@pytest.mark.parametrize("damage", ["truncated", "header", "shape", "manifest", "missing"])
def test_damaged_arrays_are_passed_over_and_saved_again(db, damage):
    _loaded(Engine(db))
    part = arrays.folder(db) / _parts(db)[0]  # cases
    vectors = part / "vectors.npy"
    if damage == "truncated":
        os.truncate(vectors, vectors.stat().st_size // 2)
    elif damage == "header":
        with open(vectors, "r+b") as f:
            f.write(b"\x00" * 16)
    elif damage == "shape":  # the right file name with an array of another size
        np.save(part / "chunk_doc.npy", np.zeros(3, dtype=np.int64))
    elif damage == "manifest":
        (part / "manifest.json").write_text('{"key": ', encoding="utf-8")
    else:
        (part / "chunk_start.npy").unlink()
    expected = _results(Engine(db, arrays=False))
    assert _results(Engine(db)) == expected
    again = Engine(db)
    assert all(_mapped(col.vectors) for col in _loaded(again))
    assert _results(again) == expected


def test_arrays_that_cannot_be_written_leave_search_as_it_was(db, monkeypatch):
    expected = _results(Engine(db, arrays=False))
    arrays.folder(db).write_text("in the way")  # root may write anywhere: a file where the folder would be
    assert _results(Engine(db)) == expected
    assert arrays.folder(db).read_text() == "in the way"
    arrays.folder(db).unlink()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", full)
    assert _results(Engine(db)) == expected
    assert _parts(db) == [] and [p.name for p in arrays.folder(db).iterdir()] == []  # no part left half written


def test_kb_arrays_off_neither_reads_nor_writes_them(db, monkeypatch):
    monkeypatch.setenv("KB_ARRAYS", "off")
    assert not any(_mapped(col.vectors) for col in _loaded(Engine(db))) and _parts(db) == []
    monkeypatch.delenv("KB_ARRAYS")
    _loaded(Engine(db))
    monkeypatch.setenv("KB_ARRAYS", "off")
    assert not any(_mapped(col.vectors) for col in _loaded(Engine(db)))
    shutil.rmtree(arrays.folder(db))
    save_arrays(db)
    assert _parts(db) == []


def test_kb_build_saves_the_arrays_for_the_file_it_built(tree, tmp_path):
    from click.testing import CliRunner

    from kb.cli import cli

    out = tmp_path / "kb.db"
    result = CliRunner().invoke(cli, ["--root", str(tree), "build", "--db", str(out), "--model", "hash:384", "--quiet"])
    assert result.exit_code == 0, result.output
    key = arrays.file_key(out, arrays.build_id(sqlite3.connect(out)))
    assert _parts(out) == [f"{key}/cases-float32", f"{key}/lessons-float32"]
    saved = Engine(out)
    assert all(_mapped(col.vectors) for col in _loaded(saved))
    assert _results(saved, ["cases"]) == _results(Engine(out, arrays=False), ["cases"])


def test_a_folder_it_may_not_write_leaves_search_as_it_was(db, monkeypatch):
    """A read-only folder (a published site's): writing is refused with a permission error, which
    root would not get from chmod, so the refusal is made by hand."""
    expected = _results(Engine(db, arrays=False))

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(arrays.Path, "mkdir", refused)
    assert _results(Engine(db)) == expected
    assert not arrays.folder(db).exists()


def test_a_database_from_before_build_ids_is_keyed_by_the_file(db):
    conn = sqlite3.connect(db)
    conn.execute("delete from kb_meta where key = 'build_id'")
    conn.commit()
    conn.close()
    expected = _results(Engine(db, arrays=False))
    _loaded(Engine(db))
    assert _parts(db)[0].startswith("unversioned-")
    saved = Engine(db)
    assert all(_mapped(col.vectors) for col in _loaded(saved))
    assert _results(saved) == expected


def test_a_pinned_server_maps_the_arrays_linked_beside_it(db):
    _loaded(Engine(db))
    link = pin(db)
    assert link != db and _parts(link) == _parts(db)
    served = Engine(link)
    assert all(_mapped(col.vectors) for col in _loaded(served))
    assert _results(served, ["cases"]) == _results(Engine(db, arrays=False), ["cases"])
    # a stopped server's folder goes, arrays and all
    dead = db.parent / ".kb-serving" / "999999999"
    shutil.copytree(link.parent, dead)
    pin(db)
    assert not dead.exists() and link.exists()


def test_the_manifest_records_the_file_it_came_from(db):
    _loaded(Engine(db))
    manifest = json.loads((arrays.folder(db) / _parts(db)[0] / "manifest.json").read_text())
    build_id = json.loads(sqlite3.connect(db).execute("select value from kb_meta where key = 'build_id'").fetchone()[0])
    assert manifest["key"] == f"{build_id}-{db.stat().st_size}-{db.stat().st_mtime_ns}"


def test_int8_search_re_scores_from_the_saved_float32_vectors_read_a_few_rows_at_a_time(db):
    """The float32 vectors that an int8 collection re-scores from are saved beside it and read with
    pread (never mapped): the same rows as the database holds. A truncated copy is passed over."""
    fresh = Engine(db, vectors="int8", arrays=False)
    assert all(col.exact is None for col in _loaded(fresh))
    _loaded(Engine(db, vectors="int8"))
    saved = Engine(db, vectors="int8")
    for col in _loaded(saved):
        assert isinstance(col.exact, arrays.RowFile) and len(col.exact) == len(col.vectors)
        docs = np.arange(0, len(col.doc_with_chunks), 3)
        starts, counts = col.chunk_start[docs], col.chunk_count[docs]
        rows = np.concatenate([np.arange(a, a + c) for a, c in zip(starts, counts)])
        assert np.array_equal(col.exact.spans(starts, counts), col.read_vectors(saved.conn, col.chunk_rowid[rows]))
    expected = _results(fresh)
    assert _results(saved) == expected
    exact = arrays.folder(db) / [p for p in _parts(db) if p.endswith("cases-int8")][0] / "exact.npy"
    os.truncate(exact, exact.stat().st_size - 4)
    assert _results(Engine(db, vectors="int8")) == expected  # read afresh, and saved again
    assert isinstance(Engine(db, vectors="int8").index("cases").exact, arrays.RowFile)


def test_rows_written_block_by_block_are_read_back_as_saved(tmp_path):
    db = tmp_path / "x.db"
    sqlite3.connect(db).close()
    side = arrays.Sidecar(db, "k" + arrays._stamp(db))
    matrix = np.arange(60, dtype=np.float32).reshape(20, 3)
    def fill(out):
        for i in range(0, 20, 7):
            out[i:i + 7] = matrix[i:i + 7]

    assert side.save("p", {"small": np.arange(4), "rows": arrays.Rows((20, 3), np.float32, fill)}, {})
    loaded, _ = side.load("p")
    assert isinstance(loaded["rows"], arrays.RowFile) and np.array_equal(loaded["small"], np.arange(4))
    assert np.array_equal(loaded["rows"].spans(np.array([0, 5, 19]), np.array([2, 3, 1])), matrix[[0, 1, 5, 6, 7, 19]])
    def fails(out):
        out[:10] = matrix[:10]
        raise ValueError("10 of 20 chunks' vectors found")

    assert not side.save("q", {"rows": arrays.Rows((20, 3), np.float32, fails)}, {})  # nothing saved
    assert side.load("q") is None


def test_rows_assigned_out_of_order_are_written_where_they_go(tmp_path):
    """read_vectors assigns a batch's rows by position, in the database's order: each lands in its
    row, whatever the order, and a position past the end saves nothing."""
    db = tmp_path / "x.db"
    sqlite3.connect(db).close()
    side = arrays.Sidecar(db, "k" + arrays._stamp(db))
    matrix = np.arange(60, dtype=np.float32).reshape(20, 3)
    order = np.random.default_rng(1).permutation(20)

    def fill(out):
        out[order[:12]] = matrix[order[:12]]
        out[12:] = matrix[12:]  # some rows again, and the rest
        out[order[12:]] = matrix[order[12:]]

    assert side.save("p", {"rows": arrays.Rows((20, 3), np.float32, fill)}, {})
    loaded, _ = side.load("p")
    assert np.array_equal(loaded["rows"].spans(np.array([0]), np.array([20])), matrix)

    def past_the_end(out):
        out[np.array([3, 20])] = matrix[:2]

    assert not side.save("q", {"rows": arrays.Rows((20, 3), np.float32, past_the_end)}, {})
    assert side.load("q") is None
