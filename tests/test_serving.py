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
