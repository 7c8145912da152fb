"""The site's configuration in one place, used by `kb serve`, the tests and publishing: the files
Datasette loads, its settings, and what the build stored in kb.db for the site to read."""
from __future__ import annotations

import json
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
}


def serve_args(db_path: Path, host: str, port: int, metadata: Path = METADATA) -> list[str]:
    """`datasette serve` arguments for one immutable database."""
    args = ["serve", "-i", str(db_path), "--host", host, "--port", str(port), "--metadata", str(metadata),
            "--plugins-dir", str(PLUGINS), "--template-dir", str(TEMPLATES)]
    for name, value in SETTINGS.items():
        args += ["--setting", name, str(value)]
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
                     plugins_dir=str(PLUGINS), template_dir=str(TEMPLATES), settings=SETTINGS)


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
