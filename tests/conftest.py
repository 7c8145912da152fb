import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from kb import ROOT

os.environ.setdefault("HF_HUB_OFFLINE", "1")
FIXTURES = Path(__file__).parent / "fixtures"
# CI clones the project with shared/ beside it; KB_SHARED points elsewhere (e.g. from a git worktree)
SHARED = Path(os.environ.get("KB_SHARED") or ROOT.parent / "shared")


def shared(name: str) -> Path:
    """A file or folder of shared/: missing, it fails the run in the project's CI and skips the test
    elsewhere, GitHub's workflows included: the reports' texts and the case register are not the
    project's to publish, so a pull request's checkout has no shared/ (its figures are verified
    against the texts the repository keeps, and the rest by the reviewer, see CONTRIBUTING.md)."""
    path = SHARED / name
    if not path.exists():
        if os.environ.get("CI") and not os.environ.get("GITHUB_ACTIONS"):
            raise RuntimeError(f"{path} is missing: CI clones the project with shared/ beside it")
        pytest.skip(f"shared/{name} is not beside the project (KB_SHARED=/path/to/shared points at it)")
    return path
# SQLite's heap limit (kb/site.py, LIMITS["sqlite_heap_bytes"]) is the whole process's, and a site made
# by a test keeps its connections until it is closed: every site a test module made is closed when the
# module ends, or the pages, facets and caches of earlier modules' sites counted against later ones
# (the full suite's last modules failed with SQLite's MemoryError).
import kb.site  # noqa: E402

_SITES: list = []
_make_datasette = kb.site.make_datasette


def _tracked_make_datasette(*args, **kwargs):
    site = _make_datasette(*args, **kwargs)
    _SITES.append(site)
    return site


kb.site.make_datasette = _tracked_make_datasette


@pytest.fixture(autouse=True, scope="module")
def _close_sites():
    yield
    while _SITES:
        for database in _SITES.pop().databases.values():
            database.close()


# The stand-in model: vectors from a hash of the text, so builds and searches run without torch.
STAND_IN = "hash:384"


class HashEmbedder:
    """A stand-in model for build mechanics tests that counts what it embeds."""

    def __init__(self, name="test/hash-embedder", dims=8):
        self.name, self.dims, self.calls = name, dims, 0

    def encode(self, texts, progress=False):
        self.calls += len(texts)
        out = []
        for t in texts:
            rng = np.random.default_rng(int(hashlib.sha256(f"{self.name}|{t}".encode()).hexdigest()[:8], 16))
            v = rng.normal(size=self.dims).astype(np.float32)
            out.append(v / np.linalg.norm(v))
        return np.vstack(out) if out else np.zeros((0, self.dims), np.float32)


@pytest.fixture
def small_root(tmp_path):
    """A project folder with the real sources and one known case file."""
    (tmp_path / "cases").mkdir()
    shutil.copytree(ROOT / "sources", tmp_path / "sources")
    shutil.copy(FIXTURES / "good-case.md", tmp_path / "cases" / "brighton-hove-reablement.md")
    return tmp_path


def real_tree(root: Path, cases: int) -> Path:
    """A project folder at root with the real sources and the first `cases` real cases."""
    shutil.copytree(ROOT / "sources", root / "sources")
    (root / "cases").mkdir()
    for path in sorted((ROOT / "cases").glob("*.md"))[:cases]:
        shutil.copy(path, root / "cases" / path.name)
    return root


@pytest.fixture
def tree(tmp_path):
    """A project folder with the real sources and 12 real cases."""
    return real_tree(tmp_path / "tree", 12)



def altered_copy(db: Path, folder: Path, *statements: str) -> Path:
    """A copy of a built database (folder/kb.db) with the SQL statements run on it: an older build,
    a build from a tarball, a hand-edited one."""
    copy = folder / "kb.db"
    shutil.copy(db, copy)
    conn = sqlite3.connect(copy)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()
    return copy

@pytest.fixture(scope="session")
def corpus_db(tmp_path_factory):
    """The real corpus built with the stand-in model, once per test session."""
    from ingest.build import build

    path = tmp_path_factory.mktemp("corpus") / "kb.db"
    build(ROOT, path, model=STAND_IN, progress=False)
    return path


@pytest.fixture(scope="session")
def engine(corpus_db):
    from search.engine import Engine

    return Engine(corpus_db)


@pytest.fixture(scope="session")
def model_corpus_db(tmp_path_factory):
    """The real corpus built with the real packaged model (tests marked `model`)."""
    from ingest.build import build

    path = tmp_path_factory.mktemp("model-corpus") / "kb.db"
    build(ROOT, path, progress=False)
    return path


@pytest.fixture(scope="session")
def model_engine(model_corpus_db):
    from search.engine import Engine

    return Engine(model_corpus_db)
