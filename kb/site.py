"""The site's configuration in one place, used by `kb serve`, the tests and publishing: the files
Datasette loads, its settings, and what the build stored in kb.db for the site to read."""
from __future__ import annotations

import json
import os
import sqlite3
from functools import lru_cache
from pathlib import Path

from . import ROOT

METADATA = ROOT / "metadata.yml"
PLUGINS = ROOT / "plugins"
TEMPLATES = ROOT / "templates"
SETTINGS = {
    "sql_time_limit_ms": 1000,
    "facet_time_limit_ms": 500,
    "default_page_size": 50,
    # Datasette would try every column of a table page as a facet (a query each) to suggest more;
    # the declared facets are shown anyway, and one request should not fan out into dozens of queries.
    "suggest_facets": False,
}
# The two decisions a publisher may want the other way (README, "Security decisions"): arbitrary SQL
# (on, within the limits below) and downloading the whole database file (on: it is open data, and one
# streamed file costs the server less than crawling every JSON page). Switched by `kb serve
# --no-sql/--no-download` or the environment variables KB_SQL and KB_DOWNLOAD (on/off).
SWITCHES = {"KB_SQL": "default_allow_sql", "KB_DOWNLOAD": "allow_download"}
# What one request may take (plugins/kb_guard.py applies these to every SQLite connection).
LIMITS = {
    "max_value_bytes": 1_000_000,      # longest string or blob a query may make or read
    "max_sql_chars": 20_000,           # longest SQL text
    "max_columns": 100,                # columns in a result
    "max_expression_depth": 200,
    "max_compound_selects": 20,        # SELECT ... UNION SELECT ...
    "max_like_pattern_chars": 1000,
    "max_function_args": 100,
    "max_result_bytes": 20_000_000,    # all values of one statement's rows together
    "max_printf_width": 1000,          # printf('%.*c', 1e9, 'x') runs one uninterruptible C loop
    "sqlite_heap_bytes": 256_000_000,  # SQLite's own memory, all connections of the process together
    "concurrent_sql_queries": 1,       # arbitrary SQL runs one query at a time; others wait
    "sql_queue": 4,                    # ... this many at most; more get 503 at once
    "sql_cooldown": 3,                 # after a query of t seconds the next waits 3t: SQL gets <= 1/4 of a thread
    "errors_per_window": 20,           # a client with this many 4xx/5xx answers ...
    "error_window_s": 10,              # ... within this many seconds ...
    "error_penalty_s": 1.0,            # ... waits this long before each further request
    "tracked_clients": 10_000,
    "max_query_string_bytes": 32_768,
}


def switch(name: str) -> bool:
    """A switch from the environment: on unless set to off/0/false/no."""
    return os.environ.get(name, "on").strip().lower() not in ("off", "0", "false", "no")


def settings() -> dict:
    """Datasette's settings, with the switches as set now."""
    return {**SETTINGS, **{setting: switch(name) for name, setting in SWITCHES.items()}}


def serve_args(db_path: Path, host: str, port: int, metadata: Path = METADATA) -> list[str]:
    """`datasette serve` arguments for one immutable database."""
    args = ["serve", "-i", str(db_path), "--host", host, "--port", str(port), "--metadata", str(metadata),
            "--plugins-dir", str(PLUGINS), "--template-dir", str(TEMPLATES)]
    for name, value in settings().items():
        args += ["--setting", name, ("on" if value else "off") if isinstance(value, bool) else str(value)]
    return args


def pin(db_path: Path) -> Path:
    """A hard link to the database as it is now, for a server to open instead of the file itself.

    A rebuild swaps a new file in under the same name; through the link the running server keeps
    reading the build it started with, every page and the search engine alike, until it restarts.
    Links left by servers that have stopped are removed. Where a link cannot be made (another
    file system, no permission) the file itself is served."""
    import os

    db_path = Path(db_path).resolve()
    folder = db_path.parent / ".kb-serving"
    for old in folder.glob("*/*") if folder.exists() else []:
        pid = old.parent.name
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            old.unlink(missing_ok=True)
            try:
                old.parent.rmdir()
            except OSError:
                pass
        except PermissionError:
            pass
    link = folder / str(os.getpid()) / db_path.name
    try:
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        os.link(db_path, link)
    except OSError:
        return db_path
    return link


def make_datasette(db_path: Path, metadata: Path = METADATA):
    """An in-process Datasette with the same configuration as `kb serve` (for tests)."""
    import yaml
    from datasette.app import Datasette

    return Datasette(immutables=[str(db_path)], metadata=yaml.safe_load(metadata.read_text(encoding="utf-8")),
                     plugins_dir=str(PLUGINS), template_dir=str(TEMPLATES), settings=settings())


@lru_cache(maxsize=8)
def _stored(path: str, mtime: float) -> dict:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {key: json.loads(value) for key, value in conn.execute("select key, value from kb_meta")}
    except sqlite3.Error:
        return {}
    finally:
        conn.close()


def stored_metadata(db_path: str | Path) -> dict:
    """What the build stored for the site: 'site_metadata' (per-table) and 'facets' (the catalogue)."""
    path = Path(db_path)
    try:
        return _stored(str(path), path.stat().st_mtime)
    except OSError:
        return {}
